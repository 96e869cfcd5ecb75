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
	cmp	$OP_ENTRY_STATE, %rdi
	jne	2f
	test	%rax, %rax
	jne	2f
	.irp	n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	movdqu	%xmm\n, 16 * \n(%r8)
	.endr
	stmxcsr	256(%r8)
	fnstcw	264(%r8)
2:
	cmp	$ENCL_NSSA, %rax
	jae	.Lno_stack
	cmp	$1, %rax
	jne	1f
	cmpq	$0, %fs:TD_NOTIFY_ARMED
	jne	encl_notify
1:
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

/*
 * The AEX-Notify handler: ERESUME entered here instead of resuming SSA
 * frame 0 (RAX = CSSA = 1, RSP the untrusted one: no stack is used).  Count
 * the notification, copy frame 0 to the thread data (an AEX after EDECCSSA
 * writes frame 0 again), clear frame 0's AEXNOTIFY (such an AEX resumes
 * plainly), EDECCSSA, then restore the interrupted state from the copy:
 * XSAVE image (XFRM = x87|SSE), RFLAGS and RIP below the red zone of the
 * interrupted stack, the GPRs, POPF.  Frame 0 opts in again only when every
 * register is back: a notification between that store and the RET resumes
 * at the RET, which is all that is left.
 */
	.globl	encl_notify
	.type	encl_notify, @function
encl_notify:
	cld
	incq	%fs:TD_NOTIFIED
	mov	%fs:TD_SELF, %r8
	lea	TD_NSAVE_X(%r8), %rdi
	mov	%fs:TD_SSA, %rsi
	mov	$(576 / 8), %ecx
	rep movsq
	lea	TD_NSAVE_G(%r8), %rdi
	mov	%fs:TD_SSA, %rsi
	add	$SSA_GPR, %rsi
	mov	$(144 / 8), %ecx
	rep movsq
	movb	$0, %fs:TD_FRAME0_NOTIFY
	mov	$9, %eax		/* EDECCSSA */
	.byte	0x0f, 0x01, 0xd7
	mov	$3, %eax
	xor	%edx, %edx
	xrstor	TD_NSAVE_X(%r8)
	lea	TD_NSAVE_G(%r8), %rsi
	mov	32(%rsi), %rdi		/* RSP */
	sub	$144, %rdi
	mov	128(%rsi), %rax		/* RFLAGS */
	mov	%rax, (%rdi)
	mov	136(%rsi), %rax		/* RIP */
	mov	%rax, 8(%rdi)
	mov	%rdi, %rsp
	mov	8(%rsi), %rcx
	mov	16(%rsi), %rdx
	mov	24(%rsi), %rbx
	mov	40(%rsi), %rbp
	mov	56(%rsi), %rdi
	mov	64(%rsi), %r8
	mov	72(%rsi), %r9
	mov	80(%rsi), %r10
	mov	88(%rsi), %r11
	mov	96(%rsi), %r12
	mov	104(%rsi), %r13
	mov	112(%rsi), %r14
	mov	120(%rsi), %r15
	mov	(%rsi), %rax
	mov	48(%rsi), %rsi
	popfq
	movb	$1, %fs:TD_FRAME0_NOTIFY
	ret	$128
	.size	encl_notify, . - encl_notify

/*
 * encl_regloop(n, seed): n rounds mixing every general-purpose register but
 * RSP (and CF across two instructions, ZF of the loop's DEC) and XMM0 by
 * XMM1; returns the XOR of them all.  Any register an AEX and its resume
 * get wrong shows in the result (the host computes the same).
 */
	.globl	encl_regloop
	.type	encl_regloop, @function
encl_regloop:
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	lea	1(%rsi), %rax
	lea	2(%rsi), %rbx
	lea	3(%rsi), %rcx
	lea	4(%rsi), %rdx
	lea	6(%rsi), %rbp
	lea	8(%rsi), %r8
	lea	9(%rsi), %r9
	lea	10(%rsi), %r10
	lea	11(%rsi), %r11
	lea	12(%rsi), %r12
	lea	13(%rsi), %r13
	lea	14(%rsi), %r14
	lea	15(%rsi), %r15
	movq	%rsi, %xmm0
	movq	%rsi, %xmm1
	lea	5(%rsi), %rsi
2:	add	%rbx, %rax
	xor	%rcx, %rbx
	rol	$13, %rbx
	add	%rdx, %rcx
	xor	%rsi, %rdx
	add	%rbp, %rsi
	xor	%r8, %rbp
	rol	$7, %rbp
	add	%r9, %r8
	xor	%r10, %r9
	add	%r11, %r10
	xor	%r12, %r11
	add	%r13, %r12
	xor	%r14, %r13
	rol	$17, %r13
	add	%r15, %r14
	xor	%rax, %r15
	add	%r14, %rcx
	adc	$0, %rdx
	paddq	%xmm1, %xmm0
	dec	%rdi
	jnz	2b
	xor	%rbx, %rax
	xor	%rcx, %rax
	xor	%rdx, %rax
	xor	%rsi, %rax
	xor	%rbp, %rax
	xor	%r8, %rax
	xor	%r9, %rax
	xor	%r10, %rax
	xor	%r11, %rax
	xor	%r12, %rax
	xor	%r13, %rax
	xor	%r14, %rax
	xor	%r15, %rax
	movq	%xmm0, %rcx
	xor	%rcx, %rax
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	ret
	.size	encl_regloop, . - encl_regloop

/* encl_pushf(): RFLAGS as PUSHF stores them (TF must read 0 in an enclave entered opt-out). */
	.globl	encl_pushf
	.type	encl_pushf, @function
encl_pushf:
	pushfq
	pop	%rax
	ret
	.size	encl_pushf, . - encl_pushf

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

/*
 * encl_syscall(args[4], kind, &insn): the instruction's address to *insn,
 * then the call (or CPUID); RAX after it.
 */
	.globl	encl_syscall
encl_syscall:
	push	%rbx
	mov	%rdi, %r9
	lea	.Lsc_syscall(%rip), %r8
	cmp	$SC_INT80, %rsi
	jb	1f
	lea	.Lsc_int80(%rip), %r8
	je	1f
	lea	.Lsc_int81(%rip), %r8
	cmp	$SC_INT81, %rsi
	je	1f
	lea	.Lsc_cpuid(%rip), %r8
1:	mov	%r8, (%rdx)
	mov	8(%r9), %rdi
	mov	16(%r9), %rsi
	mov	24(%r9), %rdx
	mov	8(%r9), %rbx
	mov	16(%r9), %rcx
	mov	(%r9), %rax
	jmp	*%r8
.Lsc_syscall:
	syscall
	jmp	2f
.Lsc_int80:
	int	$0x80
	jmp	2f
.Lsc_int81:
	int	$0x81
	jmp	2f
.Lsc_cpuid:
	cpuid				/* 0f a2: leaf in EAX, subleaf in ECX */
2:	pop	%rbx
	ret

/* encl_ymm(value, fault): every quadword of YMM0..15 = value (AVX: outside XFRM = 3), then ud2 if fault. */
	.globl	encl_ymm
encl_ymm:
	vmovq	%rdi, %xmm0
	vpunpcklqdq %xmm0, %xmm0, %xmm0
	vinsertf128 $1, %xmm0, %ymm0, %ymm0
	vmovdqa	%ymm0, %ymm1
	vmovdqa	%ymm0, %ymm2
	vmovdqa	%ymm0, %ymm3
	vmovdqa	%ymm0, %ymm4
	vmovdqa	%ymm0, %ymm5
	vmovdqa	%ymm0, %ymm6
	vmovdqa	%ymm0, %ymm7
	vmovdqa	%ymm0, %ymm8
	vmovdqa	%ymm0, %ymm9
	vmovdqa	%ymm0, %ymm10
	vmovdqa	%ymm0, %ymm11
	vmovdqa	%ymm0, %ymm12
	vmovdqa	%ymm0, %ymm13
	vmovdqa	%ymm0, %ymm14
	vmovdqa	%ymm0, %ymm15
	test	%rsi, %rsi
	jz	3f
	ud2
3:	ret

/*
 * encl_ymm_aex(values, dump): YMM0..15 from values[64], ud2 (the handler
 * skips it after an AEX), then YMM0..15 to dump[64]: what ERESUME brought
 * back from the SSA.
 */
	.globl	encl_ymm_aex
encl_ymm_aex:
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	vmovdqu	32*\n(%rdi), %ymm\n
	.endr
	ud2
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	vmovdqu	%ymm\n, 32*\n(%rsi)
	.endr
	vzeroupper
	ret

/* encl_zmm_aex(values, dump): the same with ZMM0..31 (values[0..255]) and k0..7 (values[256..263]). */
	.globl	encl_zmm_aex
encl_zmm_aex:
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
	vmovdqu64 64*\n(%rdi), %zmm\n
	.endr
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7
	kmovq	2048+8*\n(%rdi), %k\n
	.endr
	ud2
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
	vmovdqu64 %zmm\n, 64*\n(%rsi)
	.endr
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7
	kmovq	%k\n, 2048+8*\n(%rsi)
	.endr
	vzeroupper
	ret

	.section .note.GNU-stack, "", @progbits
