/* SPDX-License-Identifier: MIT */
/*
 * sgxemu_enter_enclave: the __vdso_sgx_enter_enclave contract
 * (spec/linux-driver.md §9), and sgxemu_call_enclave, the same for C callers.
 *
 * The ENCLU below traps on the host (SIGILL or SIGSEGV, docs/exec.md); the
 * handler (trap.c) performs EENTER/ERESUME and sigreturn continues at the
 * enclave's entry point.  Once exec knows this host's signal frames, the
 * call to exec_direct_enclu right before it does the same without the trap
 * (direct.S).  The
 * enclave's EEXIT to the RCX it received lands right after the ENCLU.  An
 * exception is delivered at the AEP, which is this very ENCLU: the handler
 * then redirects the context to exec_vdso_exception with RDI = vector,
 * RSI = error code, RDX = address and EAX = the leaf (3 after an AEX, the
 * caller's leaf when EENTER/ERESUME itself faulted), as the kernel's vDSO
 * fixup does.  Frame: RBP anchors it; run (the 7th argument) is at 16(%rbp);
 * the caller's RBX is at -8(%rbp).
 */

#define RUN_TCS		 0
#define RUN_FUNCTION	 8
#define RUN_VECTOR	 12
#define RUN_ERROR_CODE	 14
#define RUN_ADDR	 16
#define RUN_USER_HANDLER 24
#define RUN_RESERVED	 40
#define RUN_SIZE	 256

#define LEAF_EENTER  2
#define LEAF_ERESUME 3
#define LEAF_EEXIT   4
#define EINVAL	     22

	.text

	.globl	sgxemu_enter_enclave
	.type	sgxemu_enter_enclave, @function
	.globl	exec_vdso_enclu
	.hidden	exec_vdso_enclu
	.globl	exec_vdso_exception
	.hidden	exec_vdso_exception
	.globl	exec_vdso_resume
	.hidden	exec_vdso_resume
	.p2align 4
sgxemu_enter_enclave:
	.cfi_startproc
	push	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	push	%rbx
	.cfi_rel_offset %rbx, -8
	mov	%ecx, %eax

.Lenter:
	/* 1. Only EENTER and ERESUME. */
	cmp	$LEAF_EENTER, %eax
	jb	.Linvalid
	cmp	$LEAF_ERESUME, %eax
	ja	.Linvalid

	/*
	 * 2. run->reserved must be all zero (only RBX and RCX are used: the
	 * rest goes to the enclave): its quadwords ORed together, no loop.
	 */
	mov	16(%rbp), %rcx
	mov	RUN_RESERVED(%rcx), %rbx
	.set	.Lq, RUN_RESERVED + 8
	.rept	(RUN_SIZE - RUN_RESERVED) / 8 - 1
	or	.Lq(%rcx), %rbx
	.set	.Lq, .Lq + 8
	.endr
	jnz	.Linvalid

	/* 3. RBX = TCS, RCX = AEP = this ENCLU, RAX = leaf. */
	mov	RUN_TCS(%rcx), %rbx
	lea	exec_vdso_enclu(%rip), %rcx
	/*
	 * The leaf without the host's trap when exec can (direct.S); it returns
	 * only if not, with exec's own signals open for the trap.
	 */
	cmpb	$0, exec_entry_armed(%rip)
	je	exec_vdso_enclu
	/*
	 * Where exec sends a context that goes back to the AEP after a handler
	 * ran there (aex.c, exec_aep_resume): the AEP's ENCLU the same way.
	 */
exec_vdso_resume:
	call	exec_direct_enclu
exec_vdso_enclu:
	.byte	0x0f, 0x01, 0xd7	/* enclu */

	/* 4. EEXIT to the address after ENCLU. */
	mov	16(%rbp), %rbx
	movl	$LEAF_EEXIT, RUN_FUNCTION(%rbx)

.Lexit:
	/* 6. The user handler, if any, after both kinds of exit. */
	cmpq	$0, RUN_USER_HANDLER(%rbx)
	jne	.Lhandler
	/* 7. Without one: 0 after EEXIT and after an exception alike. */
	xor	%eax, %eax

.Lout:
	mov	-8(%rbp), %rbx
	leave
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_def_cfa %rbp, 16

.Linvalid:
	mov	$-EINVAL, %eax
	jmp	.Lout

	/* 5. An exception: vector in DI, error code in SI, address in RDX, leaf in EAX. */
exec_vdso_exception:
	mov	16(%rbp), %rbx
	mov	%eax, RUN_FUNCTION(%rbx)
	mov	%di, RUN_VECTOR(%rbx)
	mov	%si, RUN_ERROR_CODE(%rbx)
	mov	%rdx, RUN_ADDR(%rbx)
	jmp	.Lexit

.Lhandler:
	/*
	 * handler(rdi, rsi, rdx, rsp_at_exit, r8, r9, run): RDI..R9 are still
	 * what the enclave left (the trap information after an exception).
	 * RBX keeps RSP's misalignment across the call.
	 */
	mov	%rsp, %rcx
	mov	%rbx, %rax
	mov	%rsp, %rbx
	and	$0xf, %rbx
	and	$-0x10, %rsp
	push	%rax
	push	%rax
	cld
	call	*RUN_USER_HANDLER(%rax)
	lea	0x10(%rsp, %rbx), %rsp
	/* <= 0: returned to the caller; > 0: the next leaf. */
	cmp	$0, %eax
	jle	.Lout
	jmp	.Lenter
	.cfi_endproc
	.size	sgxemu_enter_enclave, . - sgxemu_enter_enclave

/*
 * sgxemu_call_enclave: saves RBX, RBP and R12-R15 (everything the C ABI
 * needs back) and calls sgxemu_enter_enclave with the same arguments.
 */
	.globl	sgxemu_call_enclave
	.type	sgxemu_call_enclave, @function
	.p2align 4
sgxemu_call_enclave:
	.cfi_startproc
	push	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	push	%rbx
	.cfi_rel_offset %rbx, -8
	push	%r12
	.cfi_rel_offset %r12, -16
	push	%r13
	.cfi_rel_offset %r13, -24
	push	%r14
	.cfi_rel_offset %r14, -32
	push	%r15
	.cfi_rel_offset %r15, -40
	/* RSP = RBP - 40 is 8 mod 16: pushing the 7th argument aligns it for the call. */
	push	16(%rbp)
	call	sgxemu_enter_enclave
	lea	-40(%rbp), %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	sgxemu_call_enclave, . - sgxemu_call_enclave

	.section .note.GNU-stack, "", @progbits
