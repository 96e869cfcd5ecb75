/* SPDX-License-Identifier: MIT */
/*
 * The vDSO image's __vdso_sgx_enter_enclave: a jump to exec's
 * sgxemu_enter_enclave, which implements the contract exactly (registers,
 * stack, user_handler).  A jump keeps every register and the stack as the
 * caller left them.  In a process forked from the one that built the
 * enclaves, the parent's enclaves are not mapped: preload_child_enter
 * reports the fault the entry meets there.
 */
	.text
	.globl	preload_vdso_enter
	.hidden	preload_vdso_enter
	.type	preload_vdso_enter, @function
	.p2align 4
preload_vdso_enter:
	.cfi_startproc
	cmpl	$0, preload_detached(%rip)
	jne	1f
	jmp	sgxemu_enter_enclave
1:	jmp	preload_child_enter
	.cfi_endproc
.Lend:
	.size	preload_vdso_enter, . - preload_vdso_enter

	/* Its size, for the image's symbol table (parsers take [value, value + size) as the function). */
	.section .rodata
	.globl	preload_vdso_enter_size
	.hidden	preload_vdso_enter_size
	.p2align 3
preload_vdso_enter_size:
	.quad	.Lend - preload_vdso_enter

	.section .note.GNU-stack, "", @progbits
