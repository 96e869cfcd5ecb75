/* SPDX-License-Identifier: MIT */
/*
 * exec_direct_enclu: sgxemu_enter_enclave's ENCLU without the host's trap.
 *
 * Called by sgxemu_enter_enclave right before its ENCLU (the call's return
 * address is that ENCLU, the AEP), with RAX = leaf, RBX = TCS, RCX = AEP
 * and every other register as the enclave is to receive it.  It saves the
 * registers and RFLAGS and XSAVEs the extended state exactly as they are at
 * the ENCLU, and has exec_direct_frame (direct.c) build on the thread's
 * signal stack the frame the kernel would have built for the ENCLU's trap,
 * with every signal blocked.  Then it enters exec's signal trampoline with
 * that frame, as the kernel enters a handler: the trampoline performs the
 * leaf (EENTER or ERESUME) and ends with rt_sigreturn, which loads the
 * enclave's context and unblocks signals in one step, as after a trap.
 * Nothing is different for exec after that point; only the trap (the CPU's
 * exception and the kernel's signal delivery) is gone.
 *
 * When exec_direct_frame declines (the thread has no state yet, the frame
 * layout of this host is not known yet, the path is off), everything is
 * put back and it returns: the ENCLU then traps as before.
 */
#include "exec_int.h"

#define SYS_RT_SIGRETURN 15
#define SIGSEGV_NR	 11
#define XSAVE_HEADER	 512

	.text
	.globl	exec_direct_enclu
	.hidden	exec_direct_enclu
	.type	exec_direct_enclu, @function
	.p2align 4
exec_direct_enclu:
	.cfi_startproc
	pushfq
	.cfi_adjust_cfa_offset 8
	push	%rax
	.cfi_adjust_cfa_offset 8
	push	%rbx
	.cfi_adjust_cfa_offset 8
	push	%rcx
	.cfi_adjust_cfa_offset 8
	push	%rdx
	.cfi_adjust_cfa_offset 8
	push	%rsi
	.cfi_adjust_cfa_offset 8
	push	%rdi
	.cfi_adjust_cfa_offset 8
	push	%rbp
	.cfi_adjust_cfa_offset 8
	push	%r8
	.cfi_adjust_cfa_offset 8
	push	%r9
	.cfi_adjust_cfa_offset 8
	push	%r10
	.cfi_adjust_cfa_offset 8
	push	%r11
	.cfi_adjust_cfa_offset 8
	push	%r12
	.cfi_adjust_cfa_offset 8
	push	%r13
	.cfi_adjust_cfa_offset 8
	push	%r14
	.cfi_adjust_cfa_offset 8
	push	%r15
	.cfi_adjust_cfa_offset 8
	/* RBP = the saved registers (struct exec_direct_regs); the XSAVE image below them, 64-byte aligned. */
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	sub	exec_direct_xsize(%rip), %rsp
	and	$-64, %rsp
	/* XSAVE writes XSTATE_BV only: the rest of the header must be zero for the image to be valid. */
	xor	%eax, %eax
	mov	$8, %ecx
	lea	XSAVE_HEADER(%rsp), %rdi
	rep stosq
	mov	exec_direct_xfeatures(%rip), %eax
	mov	exec_direct_xfeatures+4(%rip), %edx
	xsave64	(%rsp)
	mov	%rbp, %rdi
	mov	%rsp, %rsi
	call	exec_direct_frame
	test	%rax, %rax
	jz	.Ldecline
	/* RAX = the frame's start (its restorer address); enter the trampoline as a handler is entered. */
	mov	%rax, %rsp
	mov	$SIGSEGV_NR, %edi
	lea	EXEC_DIRECT_INFO(%rax), %rsi
	lea	8(%rax), %rdx
	jmp	exec_trap_entry

.Ldecline:
	/* Put the extended state back (the C code may have used vector registers), then the rest. */
	mov	exec_direct_xfeatures(%rip), %eax
	mov	exec_direct_xfeatures+4(%rip), %edx
	xrstor64 (%rsp)
	mov	%rbp, %rsp
	.cfi_def_cfa_register %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	popfq
	ret
	.cfi_endproc
	.size	exec_direct_enclu, . - exec_direct_enclu

/* The restorer of the frames exec_direct_frame builds: what glibc's does. */
	.globl	exec_direct_restorer
	.hidden	exec_direct_restorer
	.type	exec_direct_restorer, @function
	.p2align 4
exec_direct_restorer:
	mov	$SYS_RT_SIGRETURN, %eax
	syscall
	ud2
	.size	exec_direct_restorer, . - exec_direct_restorer

	.section .note.GNU-stack, "", @progbits
