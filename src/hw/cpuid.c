/* SPDX-License-Identifier: MIT */
/* CPUID leaf 0x12 of the emulated CPU, and XSAVE geometry of XFRM values. */
#include "internal.h"

/* Standard-format XSAVE component offsets and sizes (CPUID.(0xD,i) on Intel parts). */
static const struct {
	uint8_t bit;
	uint32_t offset, size;
} xsave_components[] = {
    {2, 576, 256},    /* AVX (YMM_Hi128) */
    {3, 960, 64},     /* MPX BNDREGS */
    {4, 1024, 64},    /* MPX BNDCSR */
    {5, 1088, 64},    /* AVX-512 opmask */
    {6, 1152, 512},   /* AVX-512 ZMM_Hi256 */
    {7, 1664, 1024},  /* AVX-512 Hi16_ZMM */
    {9, 2688, 8},     /* PKRU */
    {17, 2752, 64},   /* AMX TILECFG */
    {18, 2816, 8192}, /* AMX TILEDATA */
};

uint32_t hw_xsave_size(uint64_t xfrm)
{
	uint32_t size = 512 + 64; /* legacy region + XSAVE header */
	for (size_t i = 0; i < sizeof(xsave_components) / sizeof(xsave_components[0]); i++) {
		if (xfrm & (1ULL << xsave_components[i].bit)) {
			uint32_t end = xsave_components[i].offset + xsave_components[i].size;
			if (end > size)
				size = end;
		}
	}
	return size;
}

bool hw_xfrm_legal(uint64_t xfrm)
{
	const uint64_t known = 0x3 | 0x4 | 0x18 | 0xE0 | 0x200 | 0x60000;
	if ((xfrm & 3) != 3 || (xfrm & ~known))
		return false;
	/* AVX-512 needs AVX and all three of its components; MPX both or none; AMX both or none. */
	if ((xfrm & 0xE0) && ((xfrm & 0xE0) != 0xE0 || !(xfrm & 0x4)))
		return false;
	if ((xfrm & 0x18) && (xfrm & 0x18) != 0x18)
		return false;
	if ((xfrm & 0x60000) && (xfrm & 0x60000) != 0x60000)
		return false;
	return true;
}

/* The EPC as CPUID describes it: sections at a fixed fake physical base. */
#define CPUID_EPC_BASE 0x80000000ULL

struct hw_cpuid hw_cpuid12(const struct hw_machine *m, uint32_t subleaf)
{
	const struct hw_config *c = &m->cfg;
	struct hw_cpuid r = {0};
	if (subleaf == 0) {
		r.eax = 1u | (c->sgx1_only ? 0 : 2u);
		r.ebx = c->misc_supported;
		r.edx = (uint32_t)c->max_size_log2_32 | ((uint32_t)c->max_size_log2_64 << 8);
	} else if (subleaf == 1) {
		uint64_t attr = c->attr_allowed; /* never INIT: ECREATE must #GP on it */
		r.eax = (uint32_t)attr;
		r.ebx = (uint32_t)(attr >> 32);
		r.ecx = (uint32_t)c->xfrm_allowed;
		r.edx = (uint32_t)(c->xfrm_allowed >> 32);
	} else if (subleaf - 2 < c->epc_sections) {
		/* Split the capacity into equal 4 KiB-multiple sections; the last takes the rest. */
		uint64_t n = c->epc_sections, each = (c->epc_size / n) & ~0xFFFULL;
		uint64_t i = subleaf - 2;
		uint64_t base = CPUID_EPC_BASE + i * each;
		uint64_t size = (i == n - 1) ? c->epc_size - each * (n - 1) : each;
		r.eax = (uint32_t)(base & 0xFFFFF000u) | 1u;
		r.ebx = (uint32_t)(base >> 32) & 0xFFFFFu;
		r.ecx = (uint32_t)(size & 0xFFFFF000u) | 1u;
		r.edx = (uint32_t)(size >> 32) & 0xFFFFFu;
	}
	return r;
}
