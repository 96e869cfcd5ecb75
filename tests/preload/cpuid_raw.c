/* SPDX-License-Identifier: MIT */
/*
 * An unmodified binary that executes CPUID itself (no <cpuid.h>, no
 * sgxemu header): under `sgxemu run` it sees the emulated leaves only
 * where the CPU offers CPUID faulting.  Prints what it sees.
 */
#include <stdio.h>

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

int main(void)
{
	unsigned l7[4], l12[4];
	cpuid(7, 0, l7);
	cpuid(0x12, 0, l12);
	printf("sgx %u sgx_lc %u leaf12 %#x\n", (l7[1] >> 2) & 1, (l7[2] >> 30) & 1, l12[0]);
	return 0;
}
