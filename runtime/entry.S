/* SPDX-License-Identifier: MIT */
/*
 * The enclave's entry point (every TCS's OENTRY) and its exits.
 *
 * EENTER leaves RAX = CSSA, RBX = the TCS's linear address, RCX = the
 * address after the host's ENCLU (where EEXIT returns to), FS = GS = the
 * thread data page; RDI/RSI/RDX carry the entry ABI
 * (include/sgxemu/enclave.h).  RSP and RBP are the host's and are never
 * written through: nothing is pushed before the switch to an enclave stack.
 *
 * Stacks (docs/runtime.md):
 *   CSSA = 0, no OCALL pending     the thread's stack, from its top
 *   CSSA = 0, an OCALL pending     ORET: back into the OCALL's context;
 *                                  anything else (a nested ECALL) below
 *                                  the OCALL's saved context
 *   CSSA > 0 (an exception)        below the interrupted RSP of SSA frame
 *                                  CSSA-1 minus the red zone, which must
 *                                  lie inside the thread's stack
 * Each entry puts a struct rt_frame at the top of its stack holding the
 * untrusted RSP, RBP and exit address; the exit reloads them from there.
 *
 * Before any C code: DF and AC cleared, the host's MXCSR and x87 control
 * word kept in the frame, x87 and MXCSR reset (FNINIT, MXCSR = 0x1F80).
 * Before every EEXIT: extended state reset to its init values for the
 * enclave's XFRM (XRSTOR of an all-init image), the host's MXCSR and x87
 * control word given back (the C ABI has them callee-saved), every GPR
 * cleared except RDI, RSI, RDX, R8 (the exit values) and the untrusted
 * RSP/RBP.
 */
#include "rt_asm.h"

	.section .text.rt_entry, "ax", @progbits
	.globl	rt_entry
	.type	rt_entry, @function
	.p2align 4
rt_entry:
	cld
	/* The enclave base: RBX is the TCS that EENTER used, the thread data holds its offset. */
	mov	%rbx, %r10
	sub	%fs:TD_TCS_OFFSET, %r10
	mov	%r10, %fs:RT_BASE
	mov	%fs:TD_SELF_OFFSET, %r11
	lea	TD_RUNTIME(%r10, %r11), %r11
	mov	%r11, %fs:RT_SELF
	test	%rax, %rax
	jnz	.Lexception

	mov	%fs:RT_OCALL, %r11
	test	%r11, %r11
	jz	.Lidle
	mov	$ASM_ECALL_ORET, %r9d
	cmp	%r9, %rdi
	je	.Loret
	/* A nested ECALL while an OCALL is pending: below the OCALL's saved context. */
	mov	OC_RSP(%r11), %r11
	sub	$RT_NEST_GAP, %r11
	and	$-16, %r11
	jmp	.Lswitch

.Lidle:
	mov	%fs:TD_STACK_TOP_OFFSET, %r11
	add	%r10, %r11

	/* R11 = the top of the stack this entry runs on, RAX = CSSA. */
.Lswitch:
	sub	$FR_SIZE, %r11
	mov	%rsp, FR_URSP(%r11)
	mov	%rbp, FR_URBP(%r11)
	mov	%rcx, FR_EXIT(%r11)
	mov	%rax, FR_CSSA(%r11)
	mov	%r11, %rsp
	xor	%ebp, %ebp
	stmxcsr	FR_MXCSR(%rsp)
	fnstcw	FR_FCW(%rsp)
	pushfq
	andq	$~RT_RFLAGS_AC, (%rsp)
	popfq
	fninit
	ldmxcsr	rt_mxcsr_init(%rip)

	/* rt_dispatch(frame, cssa, rdi, rsi, rdx) fills the frame's exit values. */
	mov	%rdx, %r8
	mov	%rsi, %rcx
	mov	%rdi, %rdx
	mov	%rax, %rsi
	mov	%rsp, %rdi
	call	rt_dispatch

	mov	%rsp, %rax
	jmp	rt_exit_frame_rax

	/* ORET: R11 = the pending OCALL, RSI = its return value. */
.Loret:
	mov	OC_PREV(%r11), %r9
	mov	%r9, %fs:RT_OCALL
	mov	%rsi, OC_RET(%r11)
	mov	OC_RSP(%r11), %rsp
	pushfq
	andq	$~RT_RFLAGS_AC, (%rsp)
	popfq
	fninit
	mov	OC_RET(%r11), %rax
	jmp	.Locall_resume

	/* CSSA > 0: the exception of SSA frame CSSA-1.  R10 = base. */
.Lexception:
	mov	rt_ssa_frame_bytes(%rip), %r11
	test	%r11, %r11
	jz	.Labort_not_init
	cmp	rt_ssa_frames(%rip), %rax
	ja	.Labort_layout
	lea	-1(%rax), %r9
	imul	%r9, %r11
	add	%fs:TD_SSA_OFFSET, %r11
	add	%r10, %r11
	add	rt_ssa_frame_bytes(%rip), %r11
	mov	(GPRSGX_RSP - GPRSGX_SIZE)(%r11), %r9
	/* The interrupted RSP must be inside this thread's stack, with room below. */
	mov	%fs:TD_STACK_TOP_OFFSET, %r11
	add	%r10, %r11
	cmp	%r11, %r9
	ja	.Labort_stack
	mov	%fs:TD_STACK_LIMIT_OFFSET, %r11
	lea	(RT_EXC_MIN_STACK + RT_RED_ZONE)(%r10, %r11), %r11
	cmp	%r11, %r9
	jb	.Labort_stack
	lea	-RT_RED_ZONE(%r9), %r11
	and	$-16, %r11
	jmp	.Lswitch

.Labort_not_init:
	mov	$ASM_ABORT_NOT_INIT, %esi
	jmp	.Labort_here
.Labort_layout:
	mov	$ASM_ABORT_BAD_LAYOUT, %esi
	jmp	.Labort_here
.Labort_stack:
	mov	$ASM_ABORT_STACK, %esi
	/* No enclave stack was taken: exit straight back with the registers of the entry. */
.Labort_here:
	mov	$ASM_EXIT_ABORT, %edi
	xor	%edx, %edx
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	mov	%rcx, %rbx
	mov	%rsp, %r11
	jmp	rt_eexit
	.size	rt_entry, . - rt_entry

/*
 * rt_exit_frame(frame): leave with the exit values and the untrusted
 * context of frame (never returns).  Also the tail of every entry.
 */
	.text
	.globl	rt_exit_frame
	.hidden	rt_exit_frame
	.type	rt_exit_frame, @function
	.p2align 4
rt_exit_frame:
	mov	%rdi, %rax
rt_exit_frame_rax:
	mov	%rax, %r9
	mov	FR_OUT_RDI(%rax), %rdi
	mov	FR_OUT_RSI(%rax), %rsi
	mov	FR_OUT_RDX(%rax), %rdx
	mov	FR_OUT_R8(%rax), %r8
	mov	FR_URBP(%rax), %rbp
	mov	FR_EXIT(%rax), %rbx
	mov	FR_URSP(%rax), %r11
	jmp	rt_eexit
	.size	rt_exit_frame, . - rt_exit_frame

/*
 * rt_eexit: RDI, RSI, RDX, R8 = exit values, RBX = exit address,
 * RBP = untrusted RBP, R11 = untrusted RSP, R9 = the entry's frame (its
 * extended state is reset and the host's MXCSR and x87 control word come
 * back), or 0 when no enclave code ran.  Uses no stack.
 */
	.type	rt_eexit, @function
	.p2align 4
rt_eexit:
	test	%r9, %r9
	jz	1f
	mov	%rdx, %r10
	mov	rt_xfrm_mask(%rip), %eax
	mov	rt_xfrm_mask+4(%rip), %edx
	xrstor64 rt_xstate_init(%rip)
	ldmxcsr	FR_MXCSR(%r9)
	fldcw	FR_FCW(%r9)
	mov	%r10, %rdx
1:
	xor	%ecx, %ecx
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r12d, %r12d
	xor	%r13d, %r13d
	xor	%r14d, %r14d
	xor	%r15d, %r15d
	mov	%r11, %rsp
	xor	%r11d, %r11d
	mov	$ASM_ENCLU_EEXIT, %eax
	enclu
	ud2
	.size	rt_eexit, . - rt_eexit

/*
 * int64_t rt_ocall_exit(struct rt_ocall_ctx *ctx, uint64_t exit_rsp,
 *                       uint64_t index, uint64_t data, uint64_t len)
 *
 * Save the callee-saved registers, MXCSR and the x87 control word on this
 * stack, record the context as the thread's pending OCALL, and EEXIT with
 * SGXEMU_EXIT_OCALL (RSI = index, RDX = data, R8 = len) on the untrusted
 * stack at exit_rsp.  Returns, through the ORET entry, the OCALL's result.
 */
	.globl	rt_ocall_exit
	.hidden	rt_ocall_exit
	.type	rt_ocall_exit, @function
	.p2align 4
rt_ocall_exit:
	push	%rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	sub	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	mov	%rsp, OC_RSP(%rdi)
	mov	%rdi, %fs:RT_OCALL
	mov	%fs:RT_TOP, %rax
	mov	%rax, %r9
	mov	FR_URBP(%rax), %rbp
	mov	FR_EXIT(%rax), %rbx
	mov	%rsi, %r11
	mov	%rdx, %rsi
	mov	%rcx, %rdx
	mov	$ASM_EXIT_OCALL, %edi
	jmp	rt_eexit
.Locall_resume:
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	add	$8, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	ret
	.size	rt_ocall_exit, . - rt_ocall_exit

	.section .rodata, "a", @progbits
	.p2align 2
rt_mxcsr_init:
	.long	RT_MXCSR_INIT
	/* XRSTOR image with XSTATE_BV = 0: every component to its init state, MXCSR = 0x1F80. */
	.p2align 6
rt_xstate_init:
	.fill	24, 1, 0
	.long	RT_MXCSR_INIT
	.long	0
	.fill	576 - 32, 1, 0
	.size	rt_xstate_init, 576

	.section .note.GNU-stack, "", @progbits
