/* SPDX-License-Identifier: MIT */
/*
 * Protection keys: whether this host could isolate enclave pages from host
 * code (docs/exec.md).  PKU needs the CPU feature (CPUID.(7,0).ECX[3]), the
 * kernel enabling it (OSPKE, ECX[4]) and a free key.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exec_int.h"

#define CPUID7_ECX_PKU	 (1U << 3)
#define CPUID7_ECX_OSPKE (1U << 4)

bool exec_pkey_probe(char *why, size_t len)
{
	unsigned a, b, c, d;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		snprintf(why, len, "CPUID leaf 7 is not available");
		return false;
	}
	if (!(c & CPUID7_ECX_PKU)) {
		snprintf(why, len, "the CPU has no protection keys (CPUID.(7,0).ECX[3] PKU clear)");
		return false;
	}
	if (!(c & CPUID7_ECX_OSPKE)) {
		snprintf(why, len, "the kernel did not enable protection keys (CPUID.(7,0).ECX[4] OSPKE clear)");
		return false;
	}
	long key = syscall(SYS_pkey_alloc, 0UL, 0UL);
	if (key < 0) {
		snprintf(why, len, "pkey_alloc failed: %s", strerror(errno));
		return false;
	}
	syscall(SYS_pkey_free, (unsigned long)key);
	snprintf(why, len, "protection keys available");
	return true;
}
