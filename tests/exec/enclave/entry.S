/* SPDX-License-Identifier: MIT */
/*
 * The test enclave's entry point (TCS.OENTRY).  EENTER leaves RAX = CSSA,
 * RBX = TCS, RCX = the address after the host's ENCLU; FS and GS point at
 * the thread data (abi.h).  Keep the untrusted RSP/RBP and the exit address
 * per CSSA, switch to the stack of this CSSA, run enclave_main, and EEXIT
 * with RDI = its result and the untrusted RSP/RBP back.
 */
#include "abi.h"

	.section .text.entry, "ax"
	.globl	enclave_entry
	.type	enclave_entry, @function
enclave_entry:
	cmp	$ENCL_NSSA, %rax
	jae	.Lno_stack
	mov	%rsp, %fs:TD_URSP(, %rax, 8)
	mov	%rbp, %fs:TD_URBP(, %rax, 8)
	mov	%rcx, %fs:TD_EXIT(, %rax, 8)
	mov	%fs:TD_STACK(, %rax, 8), %rsp
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
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	mov	$4, %eax		/* EEXIT */
	.byte	0x0f, 0x01, 0xd7
	ud2
.Lno_stack:
	ud2
	.size	enclave_entry, . - enclave_entry

/* Accesses and faults of fixed lengths, for the handler's SKIP mode. */
	.text
	.globl	encl_load
encl_load:
	mov	(%rdi), %rax		/* 48 8b 07 */
	ret
	.globl	encl_store
encl_store:
	mov	%rsi, (%rdi)		/* 48 89 37 */
	ret
	.globl	encl_ud2
encl_ud2:
	ud2
	ret
	.globl	encl_int3
encl_int3:
	int3
	ret
	.globl	encl_div0
encl_div0:
	xor	%ecx, %ecx
	xor	%edx, %edx
	mov	$1, %eax
	div	%rcx			/* 48 f7 f1 */
	ret
	.globl	encl_xmm
encl_xmm:
	movq	%rdi, %xmm0
	ud2
	movq	%xmm0, %rax
	ret

	.section .note.GNU-stack, "", @progbits
