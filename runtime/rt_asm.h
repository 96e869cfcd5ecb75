/* SPDX-License-Identifier: MIT */
/*
 * Offsets shared by entry.S and the C runtime, as plain numbers so the
 * assembler can use them.  rt.c checks every one against the C structures
 * (include/sgxemu/enclave.h, include/sgxemu/rt.h) at compile time.
 */
#ifndef SGXEMU_RT_ASM_H
#define SGXEMU_RT_ASM_H

/* struct sgxemu_thread_data, reached through %fs (the TCS's OFSBASE). */
#define TD_SELF_OFFSET	      0
#define TD_TCS_OFFSET	      16
#define TD_SSA_OFFSET	      24
#define TD_STACK_TOP_OFFSET   32
#define TD_STACK_LIMIT_OFFSET 40
#define TD_RUNTIME	      128

/* struct rt_thread, at TD_RUNTIME in the thread data page. */
#define RT_SELF	 (TD_RUNTIME + 0)  /* linear address of the struct rt_thread */
#define RT_BASE	 (TD_RUNTIME + 8)  /* enclave base, written at every entry */
#define RT_OCALL (TD_RUNTIME + 16) /* innermost pending OCALL (struct rt_ocall_ctx *) or 0 */
#define RT_TOP	 (TD_RUNTIME + 24) /* innermost active entry (struct rt_frame *) */

/* struct rt_frame: one per entry, at the top of the stack the entry runs on. */
#define FR_URSP	   0
#define FR_URBP	   8
#define FR_EXIT	   16
#define FR_CSSA	   24
#define FR_OUT_RDI 32
#define FR_OUT_RSI 40
#define FR_OUT_RDX 48
#define FR_OUT_R8  56
#define FR_PREV	   64
#define FR_MXCSR   72 /* the host's MXCSR at entry, restored at every exit of this entry */
#define FR_FCW	   76 /* the host's x87 control word at entry, likewise */
#define FR_SIZE	   80

/* struct rt_ocall_ctx: an OCALL in progress, on the stack of the ECALL that made it. */
#define OC_RSP	0
#define OC_RET	8
#define OC_PREV 16

/* struct sgx_gprsgx: the last 184 bytes of an SSA frame. */
#define GPRSGX_SIZE 184
#define GPRSGX_RSP  32

/* The entry ABI's numbers (include/sgxemu/enclave.h). */
#define ASM_ECALL_ORET	     0xffff0002
#define ASM_EXIT_OCALL	     2
#define ASM_EXIT_ABORT	     5
#define ASM_ABORT_BAD_LAYOUT 2
#define ASM_ABORT_NOT_INIT   3
#define ASM_ABORT_STACK	     4
#define ASM_ENCLU_EEXIT	     4

/* Bytes below an interrupted RSP that the exception handler leaves alone (the ABI's red zone). */
#define RT_RED_ZONE 128
/* Least stack an exception handler must have left above the stack limit. */
#define RT_EXC_MIN_STACK 4096
/* Gap between a pending OCALL's saved context and a nested ECALL's frame. */
#define RT_NEST_GAP 64

/* Reset values of the control registers (SDM: FNINIT, and MXCSR at power-up). */
#define RT_MXCSR_INIT 0x1f80
#define RT_RFLAGS_AC  (1 << 18)

#endif /* SGXEMU_RT_ASM_H */
