/* SPDX-License-Identifier: MIT */
/*
 * The raw enclave's bootstrap (TCS.OENTRY).  EENTER leaves RAX = CSSA,
 * RBX = the TCS, RCX = the address after the host's ENCLU, FS = GS = the
 * thread data.  Keep the untrusted RSP/RBP and the exit address for this
 * CSSA, switch to this CSSA's stack, run enclave_main(RDI, RSI, RDX, CSSA)
 * and EEXIT to the host with RDI = its result and the untrusted RSP/RBP.
 */
#include "../abi.h"

	.section .text.entry, "ax"
	.globl	enclave_entry
	.hidden	enclave_entry
	.type	enclave_entry, @function
enclave_entry:
	cmp	$NSSA, %rax
	jae	.Lbad
	mov	%rsp, %fs:TD_URSP(, %rax, 8)
	mov	%rbp, %fs:TD_URBP(, %rax, 8)
	mov	%rcx, %fs:TD_EXIT(, %rax, 8)
	lea	__enclave_base(%rip), %r11
	mov	%fs:TD_STACK(, %rax, 8), %rsp
	add	%r11, %rsp
	xor	%ebp, %ebp
	push	%rax
	push	%rax
	mov	%rax, %rcx
	call	enclave_main
	pop	%rcx
	pop	%rcx
	mov	%rax, %rdi
	mov	%fs:TD_URBP(, %rcx, 8), %rbp
	mov	%fs:TD_EXIT(, %rcx, 8), %rbx
	mov	%fs:TD_URSP(, %rcx, 8), %rsp
	xor	%ecx, %ecx
	xor	%esi, %esi
	xor	%edx, %edx
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	mov	$4, %eax		/* EEXIT */
	.byte	0x0f, 0x01, 0xd7	/* enclu */
.Lbad:
	ud2
	.size	enclave_entry, . - enclave_entry

	/* A ud2 of known length for OP_UD2 (the handler skips 2 bytes). */
	.text
	.globl	encl_ud2
	.hidden	encl_ud2
encl_ud2:
	ud2
	ret

	/* encl_cpuid(leaf, subleaf): EAX after one cpuid (0f a2, the handler skips 2 bytes). */
	.globl	encl_cpuid
	.hidden	encl_cpuid
encl_cpuid:
	push	%rbx
	mov	%edi, %eax
	mov	%esi, %ecx
	cpuid
	pop	%rbx
	ret

	/* A store of known length for OP_STORE (the handler skips 3 bytes). */
	.globl	encl_store
	.hidden	encl_store
encl_store:
	mov	%rsi, (%rdi)		/* 48 89 37 */
	ret

	.section .note.GNU-stack, "", @progbits
