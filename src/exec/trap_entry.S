/* SPDX-License-Identifier: MIT */
/*
 * The signal handler of every signal exec installs.  The signal may have
 * interrupted enclave code, which runs with the enclave's FS/GS base (from
 * its TCS): glibc's TLS, errno and the stack protector all read %fs, so no C
 * may run before the host's FS/GS base is back.  The handler always runs on
 * the thread's own signal stack (SA_ONSTACK); RSP inside the region of
 * blocks gives the thread's block (exec_int.h) without touching TLS.
 *
 * Entry: if the block says FS/GS hold the enclave's values, save them
 * (cur_fs/cur_gs, cur_valid = 1) and load the host's.  Exit: if the C code
 * asked for it (load_enclave), load encl_fs/encl_gs right before returning
 * to the restorer, whose rt_sigreturn does not touch FS/GS: the FS base is
 * not part of the signal frame.  exec_trap returns the block, which is new
 * when the signal was a thread's first ENCLU.  Without the FSGSBASE instructions the same
 * is done with arch_prctl.
 *
 * Syscall User Dispatch (sud.c): the block's selector byte goes to ALLOW
 * first thing (the C code makes system calls), and to BLOCK only on the way
 * back into enclave code; that return then issues rt_sigreturn itself from
 * [exec_sud_allow_start, exec_sud_allow_end), whose system calls the kernel
 * always allows, instead of returning to glibc's restorer.
 *
 * Open handlers (exec_open_set, docs/exec.md "Open handlers"): before
 * anything else, a signal that finds the block marked (ET_IN_TRAP: a
 * handler of exec's runs on the thread) or that interrupted this prologue
 * before the mark is put off (.Lnested); otherwise the block is marked.
 * Every end unmarks it: the loads (direct.S) inside their window, the
 * others after blocking every signal if this handler ran open
 * (CLOSE_HANDLER), since rt_sigreturn sets the frame's mask.
 */
#include "exec_int.h"

#define SYS_ARCH_PRCTL 158
#define ARCH_SET_GS    0x1001
#define ARCH_SET_FS    0x1002
#define ARCH_GET_FS    0x1003
#define ARCH_GET_GS    0x1004
#define SYS_RT_SIGRETURN 15
#define SYS_RT_SIGACTION 13
#define SYS_RT_SIGPROCMASK 14
#define SYS_WRITE	   1
#define SYS_GETPID	   39
#define SYS_GETTID	   186
#define SYS_RT_TGSIGQUEUEINFO 297
#define SIG_BLOCK_NR	   0
#define SIG_SETMASK_NR	   2
#define SI_CODE		   8 /* offset of si_code in siginfo_t */
/* Signals a fault raises: SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS (bit = number). */
#define FAULT_SIGNALS	   ((1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 11) | (1 << 31))
#define SIGBUS_NR	   7
#define BUS_MCEERR_AO_CODE 5

/* reg = the block whose stack RSP is on; to `off` if RSP is on none (scratch is clobbered). */
.macro	BLOCK_OF reg, scratch, off
	mov	%rsp, \scratch
	sub	exec_region_base(%rip), \scratch
	cmp	exec_region_size(%rip), \scratch
	jae	\off
	mov	%rsp, \reg
	and	$-EXEC_BLOCK_SIZE, \reg
.endm

/* rt_sigprocmask(SIG_SETMASK, all, NULL, 8): clobbers RAX, RCX, RDX, RSI, RDI, R10, R11. */
.macro	BLOCK_ALL
	mov	$SYS_RT_SIGPROCMASK, %eax
	mov	$SIG_SETMASK_NR, %edi
	lea	all_signals(%rip), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
.endm

/*
 * The end of a handler that returns through rt_sigreturn, with open
 * handlers (exec_open_set): every signal blocked if this one ran open
 * (rt_sigreturn sets the frame's mask), then the block no longer marked.
 * Off the block's stack (no block yet) every signal is blocked already.
 * R8 and RAX are kept.
 */
.macro	CLOSE_HANDLER
	cmpq	$0, exec_open_set(%rip)
	je	9f
	push	%rax
	push	%r8
	BLOCK_OF %r8, %rcx, 7f
	/* Register operands: BT takes the bit number modulo 64 (bit 0, no signal, for signal 64). */
	movzbl	ET_TRAP_SIG(%r8), %eax
	mov	exec_open_set(%rip), %rcx
	bt	%rax, %rcx
	jnc	8f
	BLOCK_ALL
8:	/* rt_sigreturn loads the frame's mask: a signal put off is open again after it. */
	movb	$0, ET_TRAP_DEFER(%r8)
	movb	$0, ET_IN_TRAP(%r8)
7:	pop	%r8
	pop	%rax
9:
.endm

	.data
	.globl	exec_region_base
	.hidden	exec_region_base
	.globl	exec_region_size
	.hidden	exec_region_size
	.globl	exec_have_fsgsbase
	.hidden	exec_have_fsgsbase
	.p2align 3
exec_region_base:
	.quad	0
exec_region_size:
	.quad	0
exec_have_fsgsbase:
	.byte	0
	.globl	exec_sud_active
	.hidden	exec_sud_active
exec_sud_active:
	.byte	0
	.p2align 3
	.globl	exec_open_set
	.hidden	exec_open_set
exec_open_set:
	.quad	0

	.section .rodata
	.p2align 3
/* A kernel sigset with every signal: rt_sigprocmask's argument where the trampoline blocks them all. */
all_signals:
	.quad	-1
/* rt_sigaction's struct: SIG_DFL, no flags, no restorer, empty mask. */
default_action:
	.quad	0, 0, 0, 0
nested_lost_msg:
	.ascii	"sgxemu: a signal that arrived during exec's handler could not be queued again (RLIMIT_SIGPENDING): it is lost\n"
nested_lost_end:
nested_fault_msg:
	.ascii	"sgxemu: a fault in exec's own signal handler (a defect of sgxemu): the signal's default action follows\n"
nested_fault_end:

	.text
	.globl	exec_trap_entry
	.hidden	exec_trap_entry
	.type	exec_trap_entry, @function
	.p2align 4
exec_trap_entry:
	.cfi_startproc
	/* RDI = signal, RSI = siginfo, RDX = ucontext; RSP is 8 mod 16. */
	cmpq	$0, exec_open_set(%rip)
	je	.Lunguarded
	/*
	 * Open handlers: a signal that interrupted this very prologue, before
	 * it marked the block, or a handler of exec's that marked it, is put
	 * off (.Lnested) without touching anything else.
	 */
	mov	EXEC_UC_GREGS + 8 * 16(%rdx), %rax
	lea	exec_trap_entry(%rip), %rcx
	sub	%rcx, %rax
	cmp	$(.Lguarded_end - exec_trap_entry), %rax
	jb	.Lnested
	BLOCK_OF %r8, %rax, .Lforeign_open
	cmpb	$0, ET_IN_TRAP(%r8)
	jne	.Lnested
	/* ET_TRAP_DEFER stays: a signal put off while this prologue ran set it. */
	movb	$1, ET_IN_TRAP(%r8)
	mov	%dil, ET_TRAP_SIG(%r8)
	jmp	.Lmarked
.Lforeign_open:
	/* No block yet (or not on its stack): an open handler blocks every signal first. */
	mov	exec_open_set(%rip), %rax
	bt	%rdi, %rax
	jnc	.Lforeign
	push	%rdi
	push	%rsi
	push	%rdx
	BLOCK_ALL
	pop	%rdx
	pop	%rsi
	pop	%rdi
	jmp	.Lforeign
.Lguarded_end:

.Lunguarded:
	BLOCK_OF %r8, %rax, .Lforeign
.Lmarked:
	movb	$EXEC_SUD_ALLOW, ET_SUD_SEL(%r8)
	movl	$0, ET_CUR_VALID(%r8)
	cmpl	$0, ET_FS_ENCLAVE(%r8)
	je	.Lcall
	cmpb	$0, exec_have_fsgsbase(%rip)
	je	.Lslow_in
	rdfsbase %rax
	mov	%rax, ET_CUR_FS(%r8)
	rdgsbase %rax
	mov	%rax, ET_CUR_GS(%r8)
	mov	ET_HOST_FS(%r8), %rax
	wrfsbase %rax
	mov	ET_HOST_GS(%r8), %rax
	wrgsbase %rax
	jmp	.Lswitched

.Lslow_in:
	/* syscall keeps every register but RAX, RCX and R11. */
	push	%rdi
	push	%rsi
	mov	$ARCH_GET_FS, %edi
	lea	ET_CUR_FS(%r8), %rsi
	mov	$SYS_ARCH_PRCTL, %eax
	syscall
	mov	$ARCH_GET_GS, %edi
	lea	ET_CUR_GS(%r8), %rsi
	mov	$SYS_ARCH_PRCTL, %eax
	syscall
	mov	$ARCH_SET_FS, %edi
	mov	ET_HOST_FS(%r8), %rsi
	mov	$SYS_ARCH_PRCTL, %eax
	syscall
	mov	$ARCH_SET_GS, %edi
	mov	ET_HOST_GS(%r8), %rsi
	mov	$SYS_ARCH_PRCTL, %eax
	syscall
	pop	%rsi
	pop	%rdi

.Lswitched:
	movl	$1, ET_CUR_VALID(%r8)
	movl	$0, ET_FS_ENCLAVE(%r8)

.Lcall:
	mov	%r8, %rcx
	sub	$8, %rsp
	.cfi_adjust_cfa_offset 8
	call	exec_trap
	add	$8, %rsp
	.cfi_adjust_cfa_offset -8
	/* RAX = the thread's block (NULL: nothing to load). */
	test	%rax, %rax
	jz	.Lclose_ret
	mov	%rax, %r8
	/*
	 * A frame exec_direct_load takes into the enclave, or exec_direct_load_host
	 * to host code, without rt_sigreturn (each does what follows here itself).
	 */
	cmpb	$EXEC_DIRECT_LOAD, ET_DIRECT(%r8)
	jne	1f
	movb	$EXEC_DIRECT_NONE, ET_DIRECT(%r8)
	movl	$0, ET_LOAD_ENCL(%r8)
	jmp	exec_direct_load
1:	cmpb	$EXEC_DIRECT_LOAD_HOST, ET_DIRECT(%r8)
	jne	.Lkernel_frame
	movb	$EXEC_DIRECT_NONE, ET_DIRECT(%r8)
	jmp	exec_direct_load_host
.Lkernel_frame:
	CLOSE_HANDLER
	cmpl	$0, ET_LOAD_ENCL(%r8)
	je	.Lret
	movl	$0, ET_LOAD_ENCL(%r8)
	cmpb	$0, exec_have_fsgsbase(%rip)
	je	.Lslow_out
	mov	ET_ENCL_FS(%r8), %rax
	wrfsbase %rax
	mov	ET_ENCL_GS(%r8), %rax
	wrgsbase %rax
	movl	$1, ET_FS_ENCLAVE(%r8)

.Lto_enclave:
	/* Into enclave code: its system calls are refused from here on. */
	cmpb	$0, exec_sud_active(%rip)
	je	.Lret
	movb	$EXEC_SUD_BLOCK, ET_SUD_SEL(%r8)
	/* What the restorer would do, from the allowed region: pop its address, rt_sigreturn. */
	.cfi_remember_state
	add	$8, %rsp
	.cfi_adjust_cfa_offset -8
	mov	$SYS_RT_SIGRETURN, %eax
	jmp	exec_sud_allow_start
	.cfi_restore_state
.Lclose_ret:
	CLOSE_HANDLER
.Lret:
	ret

.Lslow_out:
	mov	$ARCH_SET_FS, %edi
	mov	ET_ENCL_FS(%r8), %rsi
	mov	$SYS_ARCH_PRCTL, %eax
	syscall
	mov	$ARCH_SET_GS, %edi
	mov	ET_ENCL_GS(%r8), %rsi
	mov	$SYS_ARCH_PRCTL, %eax
	syscall
	movl	$1, ET_FS_ENCLAVE(%r8)
	jmp	.Lto_enclave

.Lforeign:
	/*
	 * Not on a block's stack: the thread has no block yet (its first
	 * ENCLU creates one), so FS/GS are the host's.
	 */
	xor	%r8d, %r8d
	jmp	.Lcall

.Lnested:
	/*
	 * A signal while exec's handler runs on this thread (open handlers):
	 * put off, as during an entry (exec_direct_defer), without C, FS/GS or
	 * the handler's state: blocked in this frame's mask, so that it stays
	 * blocked when rt_sigreturn gives the handler back its context, queued
	 * again to the thread with its siginfo, and the block marked
	 * (ET_TRAP_DEFER), so that the handler's load sets the mask it ends
	 * with: the signal is then delivered where the handler's context goes.
	 * A fault here is a defect of exec's: a message, then the signal's
	 * default action, from the faulting instruction.  R13 = the block or
	 * 0, R12 = its selector, R14 = signal, R15 = siginfo, RBX = ucontext.
	 */
	mov	%edi, %r14d
	mov	%rsi, %r15
	mov	%rdx, %rbx
	xor	%r13d, %r13d
	BLOCK_OF %r13, %rax, 1f
	/* System calls from here, whatever the interrupted handler had the selector at. */
	movzbl	ET_SUD_SEL(%r13), %r12d
	movb	$EXEC_SUD_ALLOW, ET_SUD_SEL(%r13)
	movb	$1, ET_TRAP_DEFER(%r13)
1:	cmpl	$0, SI_CODE(%r15)
	jle	.Lput_off
	movabs	$FAULT_SIGNALS, %rax
	bt	%r14, %rax
	jnc	.Lput_off
	cmp	$SIGBUS_NR, %r14d
	jne	.Lnested_fault
	cmpl	$BUS_MCEERR_AO_CODE, SI_CODE(%r15)
	jne	.Lnested_fault
.Lput_off:
	lea	-1(%r14), %ecx
	bts	%rcx, EXEC_UC_SIGMASK(%rbx)
	/* Blocked here too (this handler runs open): queued again, it must wait, not come back at once. */
	xor	%eax, %eax
	bts	%rcx, %rax
	push	%rax
	mov	$SYS_RT_SIGPROCMASK, %eax
	mov	$SIG_BLOCK_NR, %edi
	mov	%rsp, %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
	pop	%rax
	mov	$SYS_GETPID, %eax
	syscall
	mov	%rax, %rbp
	mov	$SYS_GETTID, %eax
	syscall
	mov	%rax, %rsi
	mov	%rbp, %rdi
	mov	%r14, %rdx
	mov	%r15, %r10
	mov	$SYS_RT_TGSIGQUEUEINFO, %eax
	syscall
	test	%rax, %rax
	js	.Lnested_lost
	lock incq exec_stat_direct_deferred(%rip)
.Lnested_out:
	test	%r13, %r13
	jz	2f
	movb	%r12b, ET_SUD_SEL(%r13)
2:	/* rt_sigreturn from the allowed region: the selector may be BLOCK again. */
	add	$8, %rsp
	mov	$SYS_RT_SIGRETURN, %eax
	jmp	exec_sud_allow_start
.Lnested_lost:
	lock incq exec_stat_direct_lost(%rip)
	mov	$SYS_WRITE, %eax
	mov	$2, %edi
	lea	nested_lost_msg(%rip), %rsi
	mov	$(nested_lost_end - nested_lost_msg), %edx
	syscall
	jmp	.Lnested_out
.Lnested_fault:
	mov	$SYS_WRITE, %eax
	mov	$2, %edi
	lea	nested_fault_msg(%rip), %rsi
	mov	$(nested_fault_end - nested_fault_msg), %edx
	syscall
	mov	$SYS_RT_SIGACTION, %eax
	mov	%r14d, %edi
	lea	default_action(%rip), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
	jmp	.Lnested_out
	.cfi_endproc
	.size	exec_trap_entry, . - exec_trap_entry

/*
 * [exec_sud_allow_start, exec_sud_allow_end): the region whose system
 * calls Syscall User Dispatch always allows (sud.c), and the kernel then
 * allows without reading the selector byte: the trampoline's rt_sigreturn
 * into enclave code (entered with RAX set and RSP on the frame), and the
 * rt_sigprocmask of direct entries (exec_sud_sigprocmask).
 */
	.globl	exec_sud_allow_start
	.hidden	exec_sud_allow_start
	.p2align 4
exec_sud_allow_start:
	syscall
	ud2

/* long exec_sud_sigprocmask(long how, const uint64_t *set, uint64_t *old): the raw system call, 8-byte sets. */
	.globl	exec_sud_sigprocmask
	.hidden	exec_sud_sigprocmask
	.type	exec_sud_sigprocmask, @function
exec_sud_sigprocmask:
	.cfi_startproc
	mov	$SYS_RT_SIGPROCMASK, %eax
	mov	$8, %r10d
	syscall
	ret
	.cfi_endproc
	.size	exec_sud_sigprocmask, . - exec_sud_sigprocmask
	.globl	exec_sud_allow_end
	.hidden	exec_sud_allow_end
exec_sud_allow_end:

/*
 * exec_altstack_switch: see exec_int.h.  Runs in the interrupted thread,
 * outside any signal handler, so sigaltstack may replace the current one.
 */
#define SYS_SIGALTSTACK 131
	.globl	exec_altstack_switch
	.hidden	exec_altstack_switch
	.type	exec_altstack_switch, @function
	.p2align 4
exec_altstack_switch:
	xchg	%rdi, (%rsp)
	push	%rax
	push	%rsi
	push	%rcx
	push	%r11
	pushfq
	mov	$SYS_SIGALTSTACK, %eax
	xor	%esi, %esi
	syscall
	popfq
	pop	%r11
	pop	%rcx
	pop	%rsi
	pop	%rax
	pop	%rdi
	/* Pop the continuation address, then the red zone skipped on the way in. */
	ret	$EXEC_REDZONE
	.size	exec_altstack_switch, . - exec_altstack_switch

	.section .note.GNU-stack, "", @progbits
