/* SPDX-License-Identifier: MIT */
/*
 * exec_direct_enclu: sgxemu_enter_enclave's ENCLU without the host's trap.
 *
 * Called by sgxemu_enter_enclave right before its ENCLU (the call's return
 * address is that ENCLU, the AEP), with RAX = leaf, RBX = TCS, RCX = AEP
 * and every other register as the enclave is to receive it.  It saves the
 * registers and RFLAGS; exec_direct_place (direct.c, general registers
 * only) finds where on the thread's signal stack the frame the kernel would
 * have built for the ENCLU's trap goes, and sets the mask: every signal
 * blocked, or signals open and any that arrives put off until the enclave
 * runs (exec_direct_defer).  The extended state is XSAVEd straight into the
 * frame, exactly as it is at the ENCLU, and exec_direct_frame builds the
 * rest of the frame.  Then it enters exec's
 * signal trampoline with that frame, as the kernel enters a handler: the
 * trampoline performs the leaf (EENTER or ERESUME) and ends in
 * exec_direct_load, or in rt_sigreturn, which loads the enclave's context
 * and the enclave's mask in one step, as after a trap.
 * Nothing is different for exec after that point; only the trap (the CPU's
 * exception and the kernel's signal delivery) is gone.
 *
 * When exec_direct_place declines (the thread has no state yet, the frame
 * layout of this host is not known yet, the path is off), the registers are
 * put back (nothing else was touched) and it returns: the ENCLU then traps
 * as before.
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
	/* RBP = the saved registers (struct exec_direct_regs); -8(%rbp): the caller's signal mask. */
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	sub	$8, %rsp
	and	$-16, %rsp
	cld	/* the C ABI's DF = 0 (the saved RFLAGS keep the caller's) */
	mov	%rbp, %rdi
	lea	-8(%rbp), %rsi
	call	exec_direct_place
	test	%rax, %rax
	jz	.Ldecline
	test	$1, %al
	jnz	.Lbare
	/*
	 * RBX = the frame's XSAVE image.  XSAVE writes XSTATE_BV only: the rest
	 * of the header must be zero (eight stores; REP STOSQ costs more to start).
	 */
	mov	%rax, %rbx
	xor	%eax, %eax
	.set	.Lh, XSAVE_HEADER
	.rept	8
	mov	%rax, .Lh(%rbx)
	.set	.Lh, .Lh + 8
	.endr
	mov	exec_direct_xfeatures(%rip), %eax
	mov	exec_direct_xfeatures+4(%rip), %edx
	xsave64	(%rbx)
	mov	%rbp, %rdi
	mov	%rbx, %rsi
	mov	-8(%rbp), %rdx
	call	exec_direct_frame
	/* RAX = the frame's start (its restorer address); enter the trampoline as a handler is entered. */
	mov	%rax, %rsp
	mov	$SIGSEGV_NR, %edi
	lea	EXEC_DIRECT_INFO(%rax), %rsi
	lea	8(%rax), %rdx
	jmp	exec_trap_entry

.Lbare:
	/* The EENTER is done (exec_direct_place): RAX + 1 = the frame; load it, the block's in R8. */
	and	$-2, %rax
	mov	%rax, %rsp
	mov	%rax, %r8
	and	$-EXEC_BLOCK_SIZE, %r8
	jmp	exec_direct_load

.Ldecline:
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

/*
 * exec_direct_load: the end of a handler whose context goes into the
 * enclave (a direct entry, or a trap of enclave code), instead of
 * rt_sigreturn; exec_direct_load_host: the same for a context that goes to
 * host code after the enclave left (EEXIT, an AEX reported at the AEP).
 * The trampoline jumps here with RSP = the frame (its restorer slot), R8 =
 * the block, every signal blocked (or, for a direct entry with signals
 * open, the enclave's mask and any signal put off blocked) and FS/GS the
 * host's.  The frame's
 * ucontext holds what rt_sigreturn would load: the registers, RFLAGS, the
 * XSAVE image (PKRU in it) and the signal mask.
 *
 * Signals are unblocked by the rt_sigprocmask below (skipped when the
 * entry's mask is the enclave's already); one that arrives after it, or
 * anywhere here during such an entry, up to the jump to the context (the
 * IRETQ, or the block's jump pad, whose two instructions count too), finds
 * RIP in [exec_direct_window_start,
 * exec_direct_window_end) and exec_trap moves its context forward to where
 * the load goes (exec_direct_roll_forward), so to the program and the
 * enclave it arrived just after, as with rt_sigreturn.  (The enclave path's
 * instructions before its own rt_sigprocmask lie inside that range too.)
 * Into the enclave, FS/GS become the enclave's
 * first thing in the window (fs_enclave, set before them, tells the
 * trampoline to save what it finds), and the Syscall User Dispatch
 * selector blocks system calls once the last one, if any, is done.
 */
#define SYS_RT_SIGPROCMASK 14
#define SIG_SETMASK_NR	   2
/* The RFLAGS bits a context may set (those rt_sigreturn takes from a frame). */
#define FIX_EFLAGS	   0x50dd5
#define RFLAGS_TF	   0x100
#define RFLAGS_RF	   0x10000
/* The jump pad's size: its operands are addressed from its end. */
#define PAD_SIZE	   13

/* rt_sigprocmask(SIG_SETMASK, &uc->uc_sigmask, NULL, 8); R12 = the ucontext. */
.macro	SET_FRAME_MASK
	incq	ET_COUNTS + 8 * EXEC_COUNT_MASK_LOAD(%r8)
	mov	$SYS_RT_SIGPROCMASK, %eax
	mov	$SIG_SETMASK_NR, %edi
	lea	EXEC_UC_SIGMASK(%r12), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
.endm

/*
 * The frame's mask where the thread does not have it: exec changed it
 * (ET_LOAD_MASK, from exec_direct_take), or the trampoline put a signal
 * off, which it blocked (ET_TRAP_DEFER).  In an open handler
 * (exec_open_set) the thread kept the interrupted context's mask, which is nearly
 * always the one the load goes back with.  R12 = the ucontext, R8 = the
 * block (kept: the syscall keeps every register but RAX, RCX, R11).
 */
.macro	LOAD_MASK
	movzbl	ET_LOAD_MASK(%r8), %eax
	or	ET_TRAP_DEFER(%r8), %al
	movb	$0, ET_LOAD_MASK(%r8)
	movb	$0, ET_TRAP_DEFER(%r8)
	test	%al, %al
	jz	8f
	SET_FRAME_MASK
8:
.endm

/* Every general-purpose register but RSP from the context, R12 (the ucontext) last. */
.macro	LOAD_GPRS
	mov	EXEC_UC_GREGS + 8 * 0(%r12), %r8
	mov	EXEC_UC_GREGS + 8 * 1(%r12), %r9
	mov	EXEC_UC_GREGS + 8 * 2(%r12), %r10
	mov	EXEC_UC_GREGS + 8 * 3(%r12), %r11
	mov	EXEC_UC_GREGS + 8 * 5(%r12), %r13
	mov	EXEC_UC_GREGS + 8 * 6(%r12), %r14
	mov	EXEC_UC_GREGS + 8 * 7(%r12), %r15
	mov	EXEC_UC_GREGS + 8 * 8(%r12), %rdi
	mov	EXEC_UC_GREGS + 8 * 9(%r12), %rsi
	mov	EXEC_UC_GREGS + 8 * 10(%r12), %rbp
	mov	EXEC_UC_GREGS + 8 * 11(%r12), %rbx
	mov	EXEC_UC_GREGS + 8 * 12(%r12), %rdx
	mov	EXEC_UC_GREGS + 8 * 13(%r12), %rax
	mov	EXEC_UC_GREGS + 8 * 14(%r12), %rcx
	mov	EXEC_UC_GREGS + 8 * 4(%r12), %r12
.endm

	.globl	exec_direct_load_host
	.hidden	exec_direct_load_host
	.type	exec_direct_load_host, @function
	.p2align 4
exec_direct_load_host:
	.globl	exec_direct_window_start
	.hidden	exec_direct_window_start
exec_direct_window_start:
	/* From here a signal is moved forward, not put off: the handler is done. */
	movb	$0, ET_IN_TRAP(%r8)
	lea	8(%rsp), %r12
	LOAD_MASK
	jmp	.Lload_state

	.globl	exec_direct_load
	.hidden	exec_direct_load
exec_direct_load:
	movb	$0, ET_IN_TRAP(%r8)
	lea	8(%rsp), %r12
	/*
	 * The flag before the bases: a signal of an entry with signals open
	 * may arrive between any two of these, and the trampoline must then
	 * put the host's FS/GS back (it saves what it finds; the roll forward
	 * sets the enclave's).
	 */
	movl	$1, ET_FS_ENCLAVE(%r8)
	mov	ET_ENCL_FS(%r8), %rax
	wrfsbase %rax
	mov	ET_ENCL_GS(%r8), %rax
	wrgsbase %rax
	/* A direct entry whose thread has the enclave's mask already (nothing was put off) leaves it. */
	movzbl	ET_ENTERING(%r8), %eax
	movb	$EXEC_ENTER_NONE, ET_ENTERING(%r8)
	cmp	$EXEC_ENTER_DEFERRED, %eax
	je	2f
	cmp	$EXEC_ENTER_MASKED, %eax
	je	3f
	LOAD_MASK
	jmp	1f
3:	/* A signal the trampoline put off during the entry: the mask too. */
	cmpb	$0, ET_TRAP_DEFER(%r8)
	je	1f
2:	movb	$0, ET_TRAP_DEFER(%r8)
	SET_FRAME_MASK
1:	cmpb	$0, exec_sud_active(%rip)
	je	.Lload_state
	movb	$EXEC_SUD_BLOCK, ET_SUD_SEL(%r8)
.Lload_state:
	mov	exec_direct_xfeatures(%rip), %eax
	mov	exec_direct_xfeatures+4(%rip), %edx
	mov	EXEC_UC_FPREGS(%r12), %rbx
	/* A bare entry's frame has no image: the registers hold the enclave's extended state already. */
	test	%rbx, %rbx
	jz	1f
	xrstor64 (%rbx)
1:
	/* RFLAGS: the context's where a context may set them, the current ones elsewhere. */
	pushfq
	pop	%rax
	and	$~FIX_EFLAGS, %rax
	mov	EXEC_UC_GREGS + 8 * 17(%r12), %rdx
	and	$FIX_EFLAGS, %rdx
	or	%rdx, %rax
	/*
	 * Through the block's jump pad: POPFQ and a RET to the pad, which
	 * loads RSP and jumps; IRETQ (about ten times slower here) only where
	 * the pad is missing, or for TF (POPFQ would trap one instruction
	 * early) and RF (POPFQ clears it).
	 */
	test	$(RFLAGS_TF | RFLAGS_RF), %eax
	jnz	.Liretq
	cmpb	$0, ET_PAD(%r8)
	je	.Liretq
	incq	ET_COUNTS + 8 * EXEC_COUNT_JUMP_LOAD(%r8)
	mov	EXEC_UC_GREGS + 8 * 15(%r12), %rdx
	mov	%rdx, ET_JMP_RSP(%r8)
	mov	EXEC_UC_GREGS + 8 * 16(%r12), %rdx
	mov	%rdx, ET_JMP_RIP(%r8)
	lea	EXEC_BLOCK_PAD(%r8), %rdx
	push	%rdx
	push	%rax
	LOAD_GPRS
	popfq
	ret

.Liretq:
	/* IRETQ's frame: SS, RSP, RFLAGS, CS, RIP. */
	mov	%ss, %edx
	push	%rdx
	pushq	EXEC_UC_GREGS + 8 * 15(%r12)
	push	%rax
	mov	%cs, %eax
	push	%rax
	pushq	EXEC_UC_GREGS + 8 * 16(%r12)
	LOAD_GPRS
	iretq
	.globl	exec_direct_window_end
	.hidden	exec_direct_window_end
exec_direct_window_end:
	.size	exec_direct_load_host, . - exec_direct_load_host

/*
 * The jump pad, copied to each block's page at EXEC_BLOCK_PAD (thread.c);
 * never run here.  Its operands are addressed relative to the copy: the
 * block's jmp_rsp and jmp_rip.  A signal that arrives at either
 * instruction finds every other register loaded (exec_direct_roll_forward).
 */
	.section .rodata
	.globl	exec_direct_pad
	.hidden	exec_direct_pad
	.globl	exec_direct_pad_end
	.hidden	exec_direct_pad_end
exec_direct_pad:
	mov	(ET_JMP_RSP - EXEC_BLOCK_PAD - EXEC_PAD_JMP)(%rip), %rsp
1:	jmp	*(ET_JMP_RIP - EXEC_BLOCK_PAD - PAD_SIZE)(%rip)
exec_direct_pad_end:
	.if	(1b - exec_direct_pad - EXEC_PAD_JMP) | (exec_direct_pad_end - exec_direct_pad - PAD_SIZE)
	.error	"the pad's layout is not EXEC_PAD_JMP and PAD_SIZE"
	.endif

	.section .note.GNU-stack, "", @progbits
