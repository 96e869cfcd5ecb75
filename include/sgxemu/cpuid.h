/* SPDX-License-Identifier: MIT */
/*
 * CPUID for programs that run under `sgxemu run` on CPUs without CPUID
 * faulting (docs/preload.md).
 *
 * Build the program with `-include sgxemu/cpuid.h` (or include it before
 * <cpuid.h>): the <cpuid.h> macros __cpuid and __cpuid_count and the
 * functions __get_cpuid, __get_cpuid_count and __get_cpuid_max then answer
 * as the emulated SGX2 machine does (leaf 0x12, SGX and SGX_LC in leaf 7,
 * the highest basic leaf at least 0x12) when the program runs with
 * libsgxemu-preload.so, and as the host CPU does otherwise.  The header
 * finds the library's sgxemu_cpuid() with dlsym, so the program needs no
 * sgxemu library to link (glibc >= 2.34 has dlsym in libc; older ones need
 * -ldl).  A `cpuid` written in inline assembly is not covered.
 *
 * Where the CPU offers CPUID faulting, the preload library traps every
 * CPUID instruction instead, and this header is not needed.
 */
#ifndef SGXEMU_CPUID_H
#define SGXEMU_CPUID_H

#include <cpuid.h>

/*
 * <dlfcn.h>'s dlsym, declared here: a header given with -include comes
 * before the program's own feature macros (_GNU_SOURCE ...), so it must not
 * include any C library header itself.  <cpuid.h> is the compiler's own.
 */
extern void *dlsym(void *__restrict handle, const char *__restrict name);

/*
 * CPUID.(leaf, subleaf) into regs[0..3] = EAX, EBX, ECX, EDX: the emulated
 * machine's under the preload library (return 1), the host CPU's
 * otherwise (return 0).
 */
static inline int sgxemu_host_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int regs[4])
{
	typedef int (*sgxemu_cpuid_fn)(unsigned int, unsigned int, unsigned int *);
	static sgxemu_cpuid_fn fn;
	static int looked;
	if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
		/* RTLD_DEFAULT (a null handle): the library is preloaded into the global scope. */
		void *sym = dlsym((void *)0, "sgxemu_cpuid");
		__builtin_memcpy(&fn, &sym, sizeof(fn));
		__atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
	}
	if (fn)
		return fn(leaf, subleaf, regs);
	__cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
	return 0;
}

static inline void sgxemu_cpuid_regs_(unsigned int leaf, unsigned int subleaf, unsigned int *a, unsigned int *b,
				      unsigned int *c, unsigned int *d)
{
	unsigned int r[4];
	sgxemu_host_cpuid(leaf, subleaf, r);
	*a = r[0];
	*b = r[1];
	*c = r[2];
	*d = r[3];
}

static inline unsigned int sgxemu_get_cpuid_max_(unsigned int ext, unsigned int *sig)
{
	unsigned int a, b, c, d;
	sgxemu_cpuid_regs_(ext & 0x80000000u, 0, &a, &b, &c, &d);
	if (sig)
		*sig = b;
	return a;
}

static inline int sgxemu_get_cpuid_count_(unsigned int leaf, unsigned int subleaf, unsigned int *a, unsigned int *b,
					  unsigned int *c, unsigned int *d)
{
	unsigned int max = sgxemu_get_cpuid_max_(leaf & 0x80000000u, 0);
	if (max == 0 || max < leaf)
		return 0;
	sgxemu_cpuid_regs_(leaf, subleaf, a, b, c, d);
	return 1;
}

/* From here on, <cpuid.h>'s interface answers through sgxemu_host_cpuid. */
#undef __cpuid
#undef __cpuid_count
#define __cpuid(level, a, b, c, d)                                                                                     \
	do {                                                                                                           \
		unsigned int sgxemu_r_[4];                                                                             \
		sgxemu_host_cpuid((level), 0, sgxemu_r_);                                                              \
		(a) = sgxemu_r_[0];                                                                                    \
		(b) = sgxemu_r_[1];                                                                                    \
		(c) = sgxemu_r_[2];                                                                                    \
		(d) = sgxemu_r_[3];                                                                                    \
	} while (0)
#define __cpuid_count(level, count, a, b, c, d)                                                                        \
	do {                                                                                                           \
		unsigned int sgxemu_r_[4];                                                                             \
		sgxemu_host_cpuid((level), (count), sgxemu_r_);                                                        \
		(a) = sgxemu_r_[0];                                                                                    \
		(b) = sgxemu_r_[1];                                                                                    \
		(c) = sgxemu_r_[2];                                                                                    \
		(d) = sgxemu_r_[3];                                                                                    \
	} while (0)
#define __get_cpuid_max(ext, sig)		     sgxemu_get_cpuid_max_((ext), (sig))
#define __get_cpuid(leaf, a, b, c, d)		     sgxemu_get_cpuid_count_((leaf), 0, (a), (b), (c), (d))
#define __get_cpuid_count(leaf, subleaf, a, b, c, d) sgxemu_get_cpuid_count_((leaf), (subleaf), (a), (b), (c), (d))

#endif /* SGXEMU_CPUID_H */
