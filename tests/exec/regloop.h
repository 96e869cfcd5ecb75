/* SPDX-License-Identifier: MIT */
/*
 * What the test enclave's encl_regloop(n, seed) returns (tests/exec/enclave/entry.S):
 * n rounds mixing every general-purpose register but RSP (RAX, RBX, RCX, RDX, RSI,
 * RBP, R8..R15 start at seed + 1..6 and seed + 8..15), CF carried into RDX, XMM0 +=
 * seed; the XOR of them all.  Tests compare it with the enclave's to see that every
 * register survived the interrupts in between.
 */
#ifndef SGXEMU_TEST_REGLOOP_H
#define SGXEMU_TEST_REGLOOP_H

#include <stdint.h>

static inline uint64_t regloop_rol(uint64_t v, unsigned n)
{
	return (v << n) | (v >> (64 - n));
}

static inline uint64_t regloop(uint64_t n, uint64_t seed)
{
	uint64_t rax = seed + 1, rbx = seed + 2, rcx = seed + 3, rdx = seed + 4, rsi = seed + 5, rbp = seed + 6;
	uint64_t r8 = seed + 8, r9 = seed + 9, r10 = seed + 10, r11 = seed + 11, r12 = seed + 12, r13 = seed + 13;
	uint64_t r14 = seed + 14, r15 = seed + 15, x0 = seed;
	for (uint64_t i = 0; i < n; i++) {
		rax += rbx;
		rbx = regloop_rol(rbx ^ rcx, 13);
		rcx += rdx;
		rdx ^= rsi;
		rsi += rbp;
		rbp = regloop_rol(rbp ^ r8, 7);
		r8 += r9;
		r9 ^= r10;
		r10 += r11;
		r11 ^= r12;
		r12 += r13;
		r13 = regloop_rol(r13 ^ r14, 17);
		r14 += r15;
		r15 ^= rax;
		uint64_t old = rcx;
		rcx += r14;
		rdx += rcx < old;
		x0 += seed;
	}
	return rax ^ rbx ^ rcx ^ rdx ^ rsi ^ rbp ^ r8 ^ r9 ^ r10 ^ r11 ^ r12 ^ r13 ^ r14 ^ r15 ^ x0;
}

#endif
