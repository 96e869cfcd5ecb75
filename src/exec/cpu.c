/* SPDX-License-Identifier: MIT */
#include <asm/prctl.h>
#include <cpuid.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>
/* <elf.h> (from <sys/auxv.h>) names segment flags PF_*, as hw.h names #PF error bits; nothing here uses them. */
#undef PF_R
#undef PF_W
#undef PF_X

#include "cpu.h"
#include "hw.h"

#ifndef ARCH_GET_XCOMP_PERM
#define ARCH_GET_XCOMP_PERM 0x1022
#endif

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1UL << 1)
#endif

#define CPUID1_ECX_OSXSAVE (1U << 27)

struct exec_xlayout exec_xlayout;

bool exec_cpu_fsgsbase(void)
{
	/* The kernel sets CR4.FSGSBASE and reports it here; the CPUID bit alone is not enough. */
	return (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
}

static void xlayout_probe(void)
{
	struct exec_xlayout l;
	memset(&l, 0, sizeof(l));
	l.xcr0 = 3;
	unsigned a, b, c, d;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & CPUID1_ECX_OSXSAVE) && __get_cpuid_max(0, NULL) >= 0xD) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		l.xcr0 = ((uint64_t)hi << 32) | lo;
		for (unsigned i = 2; i < 64; i++) {
			if (!(l.xcr0 & (1ULL << i)))
				continue;
			__cpuid_count(0xD, i, a, b, c, d);
			/* ECX[0]: a supervisor component, never in a user image. */
			if (c & 1)
				continue;
			l.off[i] = b;
			l.size[i] = a;
		}
	}
	exec_xlayout = l;
}

void exec_cpu_init(void)
{
	/* Once: the signal handler reads the layout without a lock. */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, xlayout_probe);
}

uint64_t exec_cpu_xfeatures(void)
{
	exec_cpu_init();
	uint64_t x = exec_xlayout.xcr0, perm;
	/*
	 * Linux enables AMX in XCR0 but traps its first use (XFD) until the
	 * process asks for it; an enclave could not use a component the kernel
	 * refuses, and the signal frames lack it.  Without the call (before
	 * Linux 5.16) no feature is dynamic.
	 */
	if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) == 0)
		x &= perm;
	return x;
}

void exec_cpu_hw_config(struct hw_config *c)
{
	uint64_t x = hw_xfrm_allowed_for(exec_cpu_xfeatures());
	c->xcr0 = x;
	c->xfrm_allowed = x;
	for (unsigned i = 2; i < HW_XFEATURES; i++) {
		if (!(x & (1ULL << i)))
			continue;
		c->xstate_offset[i] = exec_xlayout.off[i];
		c->xstate_size[i] = exec_xlayout.size[i];
	}
}

static uint64_t get_bv(const uint8_t *img)
{
	uint64_t bv;
	memcpy(&bv, img + EXEC_XSAVE_BV, sizeof(bv));
	return bv;
}

static void put_bv(uint8_t *img, uint64_t bv)
{
	memcpy(img + EXEC_XSAVE_BV, &bv, sizeof(bv));
}

void exec_xstate_init_except(const struct exec_xlayout *l, uint8_t *img, uint32_t size, uint64_t keep)
{
	if (size < EXEC_XSAVE_HEADER)
		return;
	keep |= 3;
	uint64_t bv = get_bv(img);
	put_bv(img, bv & keep);
	/* A component whose XSTATE_BV bit is clear is in its initial state whatever the bytes (XRSTOR). */
	for (uint64_t left = bv & ~keep; left; left &= left - 1) {
		unsigned i = (unsigned)__builtin_ctzll(left);
		if (!l->size[i] || l->off[i] < EXEC_XSAVE_HEADER || l->off[i] >= size)
			continue;
		uint32_t n = l->size[i] < size - l->off[i] ? l->size[i] : size - l->off[i];
		memset(img + l->off[i], 0, n);
	}
}

/* Can the image hold PKRU? */
static bool pkru_fits(const struct exec_xlayout *l, uint32_t size, uint64_t present)
{
	uint32_t off = l->off[EXEC_XFEATURE_PKRU];
	return (present & (1ULL << EXEC_XFEATURE_PKRU)) && l->size[EXEC_XFEATURE_PKRU] >= sizeof(uint32_t) &&
	       off >= EXEC_XSAVE_HEADER && off <= size && size - off >= sizeof(uint32_t);
}

bool exec_xstate_get_pkru(const struct exec_xlayout *l, const uint8_t *img, uint32_t size, uint64_t present,
			  uint32_t *pkru)
{
	if (!pkru_fits(l, size, present))
		return false;
	*pkru = 0;
	if (get_bv(img) & (1ULL << EXEC_XFEATURE_PKRU))
		memcpy(pkru, img + l->off[EXEC_XFEATURE_PKRU], sizeof(*pkru));
	return true;
}

bool exec_xstate_set_pkru(const struct exec_xlayout *l, uint8_t *img, uint32_t size, uint64_t present, uint32_t pkru)
{
	if (!pkru_fits(l, size, present))
		return false;
	/* The component may be INIT (bit clear) in the frame: XRSTOR would load 0, so set the bit. */
	memcpy(img + l->off[EXEC_XFEATURE_PKRU], &pkru, sizeof(pkru));
	put_bv(img, get_bv(img) | (1ULL << EXEC_XFEATURE_PKRU));
	return true;
}
