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
 */
#include "exec_int.h"

#define SYS_ARCH_PRCTL 158
#define ARCH_SET_GS    0x1001
#define ARCH_SET_FS    0x1002
#define ARCH_GET_FS    0x1003
#define ARCH_GET_GS    0x1004
#define SYS_RT_SIGRETURN 15

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

	.text
	.globl	exec_trap_entry
	.hidden	exec_trap_entry
	.type	exec_trap_entry, @function
	.p2align 4
exec_trap_entry:
	.cfi_startproc
	/* RDI = signal, RSI = siginfo, RDX = ucontext; RSP is 8 mod 16. */
	mov	%rsp, %rax
	sub	exec_region_base(%rip), %rax
	cmp	exec_region_size(%rip), %rax
	jae	.Lforeign
	mov	%rsp, %r8
	and	$-EXEC_BLOCK_SIZE, %r8
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
	jz	.Lret
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
	.globl	exec_sud_allow_start
	.hidden	exec_sud_allow_start
exec_sud_allow_start:
	syscall
	ud2
	.globl	exec_sud_allow_end
	.hidden	exec_sud_allow_end
exec_sud_allow_end:
	.cfi_restore_state
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
	.cfi_endproc
	.size	exec_trap_entry, . - exec_trap_entry

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
