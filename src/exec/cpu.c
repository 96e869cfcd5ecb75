/* SPDX-License-Identifier: MIT */
#include <sys/auxv.h>

#include "cpu.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1UL << 1)
#endif

bool exec_cpu_fsgsbase(void)
{
	/* The kernel sets CR4.FSGSBASE and reports it here; the CPUID bit alone is not enough. */
	return (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
}
