/* SPDX-License-Identifier: MIT */
/* CPUID leaf 0x12 of the emulated CPU, and XSAVE geometry of XFRM values. */
#include "internal.h"

/* Standard-format XSAVE component offsets and sizes of Intel parts (CPUID.(0xD,i)): the default layout. */
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

#define XSAVE_LEGACY_AND_HEADER 576

#define XFRM_MPX     0x18ULL
#define XFRM_AVX     0x4ULL
#define XFRM_AVX512  0xE0ULL
#define XFRM_AMX     0x60000ULL
#define XFRM_X87_SSE 0x3ULL

void hw_xsave_layout_default(struct hw_config *c)
{
	memset(c->xstate_offset, 0, sizeof(c->xstate_offset));
	memset(c->xstate_size, 0, sizeof(c->xstate_size));
	for (size_t i = 0; i < sizeof(xsave_components) / sizeof(xsave_components[0]); i++) {
		c->xstate_offset[xsave_components[i].bit] = xsave_components[i].offset;
		c->xstate_size[xsave_components[i].bit] = xsave_components[i].size;
	}
}

uint32_t hw_xsave_size_in(const struct hw_config *c, uint64_t xfrm)
{
	uint32_t size = XSAVE_LEGACY_AND_HEADER;
	for (unsigned i = 2; i < HW_XFEATURES; i++) {
		if (!(xfrm & (1ULL << i)))
			continue;
		uint32_t end = c->xstate_offset[i] + c->xstate_size[i];
		if (end > size)
			size = end;
	}
	return size;
}

uint32_t hw_xsave_size(uint64_t xfrm)
{
	struct hw_config c;
	hw_xsave_layout_default(&c);
	return hw_xsave_size_in(&c, xfrm);
}

bool hw_xfrm_legal(uint64_t xfrm)
{
	if ((xfrm & XFRM_X87_SSE) != XFRM_X87_SSE || (xfrm & ~HW_XFRM_KNOWN))
		return false;
	/* XSETBV's rules: AVX-512 needs AVX and all three of its components; MPX both or none; AMX both or none. */
	if ((xfrm & XFRM_AVX512) && ((xfrm & XFRM_AVX512) != XFRM_AVX512 || !(xfrm & XFRM_AVX)))
		return false;
	if ((xfrm & XFRM_MPX) && (xfrm & XFRM_MPX) != XFRM_MPX)
		return false;
	if ((xfrm & XFRM_AMX) && (xfrm & XFRM_AMX) != XFRM_AMX)
		return false;
	return true;
}

uint64_t hw_xfrm_allowed_for(uint64_t xcr0)
{
	/* x87 and SSE are always there (FXSAVE state); an XCR0 without them is no CPU's. */
	uint64_t x = (xcr0 & HW_XFRM_KNOWN) | XFRM_X87_SSE;
	if ((x & XFRM_MPX) != XFRM_MPX)
		x &= ~XFRM_MPX;
	if ((x & XFRM_AVX512) != XFRM_AVX512 || !(x & XFRM_AVX))
		x &= ~XFRM_AVX512;
	if ((x & XFRM_AMX) != XFRM_AMX)
		x &= ~XFRM_AMX;
	return x;
}

/* The EPC as CPUID describes it: sections at a fixed fake physical base. */
#define CPUID_EPC_BASE 0x80000000ULL

struct hw_cpuid hw_cpuid12(const struct hw_machine *m, uint32_t subleaf)
{
	const struct hw_config *c = &m->cfg;
	struct hw_cpuid r = {0};
	if (subleaf == 0) {
		/* SGX1, SGX2, and EDECCSSA (bit 11) where the machine offers AEX-Notify. */
		r.eax = 1u | (c->sgx1_only ? 0 : 2u) | ((c->attr_allowed & SGX_ATTR_AEXNOTIFY) ? 1u << 11 : 0);
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
