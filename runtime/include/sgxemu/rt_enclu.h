/* SPDX-License-Identifier: MIT */
/*
 * ENCLU leaves an enclave executes itself, one wrapper per leaf, each the
 * real `enclu` instruction (on sgxemu it traps to the CPU model; on
 * hardware it is the leaf).  EENTER/ERESUME are the host's and EEXIT is
 * the runtime's (entry.S).
 *
 * Leaves that report an SGX error code return it (RAX when ZF = 1, else
 * SGX_SUCCESS = 0); leaves that only fault return nothing.  Operand
 * alignment is the caller's job, as the leaf faults (#GP) otherwise:
 * SECINFO 64, TARGETINFO 512, REPORTDATA 128, REPORT 512, KEYREQUEST 512,
 * key 16 bytes.  struct sgx_secinfo carries its alignment; use
 * RT_ALIGNED(n) for the others.
 */
#ifndef SGXEMU_RT_ENCLU_H
#define SGXEMU_RT_ENCLU_H

#include <stdint.h>

#include "sgxemu/arch.h"

#define RT_ALIGNED(n) __attribute__((aligned(n)))

/* One ENCLU with RBX, RCX, RDX operands.  Return: RAX if the leaf set ZF, else SGX_SUCCESS. */
static inline uint64_t rt_enclu(uint32_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	uint64_t rax = leaf;
	uint8_t zf;
	__asm__ volatile("enclu\n\tsetz %4" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "=r"(zf) : : "memory", "cc");
	return zf ? rax : SGX_SUCCESS;
}

/* EACCEPT: accept page (EAUG'd, EMODPR'd, EMODT'd) as secinfo says.  Return: SGX code. */
static inline uint64_t rt_eaccept(const struct sgx_secinfo *secinfo, void *page)
{
	return rt_enclu(ENCLU_EACCEPT, (uint64_t)(uintptr_t)secinfo, (uint64_t)(uintptr_t)page, 0);
}

/* EACCEPTCOPY: fill the pending page dest with the 4096 bytes at src and give it secinfo's permissions.  Return: SGX
 * code. */
static inline uint64_t rt_eacceptcopy(const struct sgx_secinfo *secinfo, void *dest, const void *src)
{
	return rt_enclu(ENCLU_EACCEPTCOPY, (uint64_t)(uintptr_t)secinfo, (uint64_t)(uintptr_t)dest,
			(uint64_t)(uintptr_t)src);
}

/* EMODPE: extend the EPCM permissions of page with secinfo's R/W/X (faults only). */
static inline void rt_emodpe(const struct sgx_secinfo *secinfo, void *page)
{
	rt_enclu(ENCLU_EMODPE, (uint64_t)(uintptr_t)secinfo, (uint64_t)(uintptr_t)page, 0);
}

/* EREPORT: a REPORT of this enclave for target, with reportdata (faults only). */
static inline void rt_ereport(const struct sgx_targetinfo *target, const uint8_t reportdata[64],
			      struct sgx_report *report)
{
	rt_enclu(ENCLU_EREPORT, (uint64_t)(uintptr_t)target, (uint64_t)(uintptr_t)reportdata,
		 (uint64_t)(uintptr_t)report);
}

/* EGETKEY: the 16-byte key request asks for.  Return: SGX code (e.g. SGX_INVALID_KEYNAME). */
static inline uint64_t rt_egetkey(const struct sgx_keyrequest *request, uint8_t key[16])
{
	return rt_enclu(ENCLU_EGETKEY, (uint64_t)(uintptr_t)request, (uint64_t)(uintptr_t)key, 0);
}

#endif /* SGXEMU_RT_ENCLU_H */
