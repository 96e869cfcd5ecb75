/* SPDX-License-Identifier: MIT */
/* Faulting instructions of known lengths and addresses, for the exception tests. */
	.text
	.globl	encl_ud2, encl_ud2_site
	.hidden	encl_ud2, encl_ud2_site
encl_ud2:
encl_ud2_site:
	ud2				/* 0f 0b */
	ret

	.globl	encl_div0, encl_div0_site
	.hidden	encl_div0, encl_div0_site
encl_div0:
	xor	%ecx, %ecx
	xor	%edx, %edx
	mov	$1, %eax
encl_div0_site:
	div	%rcx			/* 48 f7 f1 */
	ret

	.globl	encl_load, encl_load_site
	.hidden	encl_load, encl_load_site
encl_load:
encl_load_site:
	mov	(%rdi), %rax		/* 48 8b 07 */
	ret

	.section .note.GNU-stack, "", @progbits
