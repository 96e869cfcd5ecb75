/* SPDX-License-Identifier: MIT */
/*
 * The test enclave's interface, shared by the enclave (tests/exec/enclave)
 * and the test OS that loads it (tests/exec/testos.c).
 *
 * Entry: RDI = operation, RSI = a, RDX = b, R8 = c, R9 = an untrusted
 * uint64_t[ENCL_OUT_WORDS] for results (0: none).  At EEXIT, RDI = the
 * operation's return value.  Entered with CSSA = 1 the enclave runs its
 * exception handler whatever RDI says (the registers are then arbitrary).
 */
#ifndef SGXEMU_TEST_ENCLAVE_ABI_H
#define SGXEMU_TEST_ENCLAVE_ABI_H

/* ELRANGE (the linker script places the image at ENCL_BASE). */
#define ENCL_BASE 0x500000000000
#define ENCL_SIZE 0x200000

/* Per-thread slots: TCS, two SSA frames, thread data (FS/GS base), one stack per CSSA. */
#define ENCL_THREADS	     2
#define ENCL_SLOT(i)	     (0x40000 + (i)*0x20000)
#define ENCL_SLOT_TCS	     0x0000
#define ENCL_SLOT_SSA	     0x1000 /* NSSA = 2 frames of one page */
#define ENCL_NSSA	     2
#define ENCL_SLOT_TD	     0x3000
#define ENCL_SLOT_STACK0     0x4000 /* 8 pages, top at 0xC000 */
#define ENCL_SLOT_STACK0_TOP 0xC000
#define ENCL_SLOT_STACK1     0xD000 /* 4 pages after a guard page, top at 0x11000 */
#define ENCL_SLOT_STACK1_TOP 0x11000

/* Pages the test OS adds after EINIT (EAUG). */
#define ENCL_DYN     0x100000
#define ENCL_DYN_END 0x200000

/* Thread data, at the TCS's OFSBASE = OGSBASE. */
#define TD_SELF		0
#define TD_STACK	8  /* [2]: stack tops for CSSA 0 and 1 */
#define TD_URSP		24 /* [2]: untrusted RSP per CSSA */
#define TD_URBP		40 /* [2] */
#define TD_EXIT		56 /* [2]: exit address (RCX at EENTER) */
#define TD_SSA		72 /* SSA frame 0 */
#define TD_TCS		80
#define TD_HANDLER_MODE 88
#define TD_HANDLER_SKIP 96
#define TD_HANDLER_OUT	104
#define TD_HANDLED	112
#define TD_NOTIFY_ARMED 120 /* AEX-Notify: the CSSA 1 entry is a notification (OP_NOTIFY_LOOP) */
#define TD_NOTIFIED	128 /* notifications handled */
#define TD_SIZE		136
/* Where the notification handler keeps SSA frame 0 while it pops it (the rest of the thread data page). */
#define TD_NSAVE_X 1024 /* the XSAVE image: legacy region and header (576 bytes, 64-aligned) */
#define TD_NSAVE_G 1600 /* GPRSGX from RAX to RIP (144 bytes) */

/* SSA frame layout (one-page frames): GPRSGX is the last 184 bytes; its AEXNOTIFY byte is at 167. */
#define SSA_GPR	      (4096 - 184)
#define GPR_AEXNOTIFY 167
/* SSA frame 0's AEXNOTIFY byte, %fs-relative (FS base = the thread data). */
#define TD_FRAME0_NOTIFY (ENCL_SLOT_SSA - ENCL_SLOT_TD + SSA_GPR + GPR_AEXNOTIFY)

/* Operations. */
#define OP_ECHO	       1  /* out[0] = a + b, out[1] = CSSA, out[2] = c; returns a ^ b */
#define OP_READ	       2  /* out[0] = *(u64 *)a (a 3-byte load: mov (%rdi),%rax) */
#define OP_WRITE       3  /* *(u64 *)a = b (a 3-byte store: mov %rsi,(%rdi)); out[0] = 1 after it */
#define OP_EXEC	       4  /* out[0] = ((u64 (*)(u64))a)(b) */
#define OP_EACCEPT     5  /* EACCEPT page a with SECINFO flags b: out[0] = RAX, out[1] = ZF */
#define OP_EACCEPTCOPY 6  /* EACCEPTCOPY dest a, source b, flags c: out[0] = RAX, out[1] = ZF */
#define OP_EMODPE      7  /* EMODPE page a with SECINFO flags b: out[0] = 1 after it */
#define OP_EREPORT     8  /* TARGETINFO from untrusted a (0: zeros), REPORTDATA from b, REPORT to untrusted c */
#define OP_EGETKEY     9  /* KEYREQUEST from untrusted a, key to untrusted b: out[0] = RAX, out[1] = ZF */
#define OP_UD2	       10 /* ud2 (2 bytes); out[0] = 1 after it */
#define OP_INT3	       11 /* int3; out[0] = 1 after it */
#define OP_DIV0	       12 /* div %rcx with RCX = 0 (3 bytes); out[0] = 1 after it */
#define OP_SET_HANDLER 13 /* handler mode a, skip length b, record to untrusted c */
#define OP_XMM	       14 /* XMM0 = a, then ud2, then out[0] = XMM0 (low quadword) */
#define OP_HANDLED     15 /* out[0] = exceptions handled in this thread */
#define OP_SEGMENTS    16 /* out[0] = %fs:0, out[1] = %gs:0 (the thread data's self pointer) */
#define OP_COPY	       17 /* copy 4096 bytes from untrusted b to enclave page a */
#define OP_COPY_OUT    18 /* copy 4096 bytes from enclave page a to untrusted b */
#define OP_SPIN	       19 /* *(u64 *)b = 1 (untrusted), then spin until *(u64 *)a != 0 (untrusted); returns the polls */
#define OP_SYSCALL     20 /* syscall {nr, a1, a2, a3} (untrusted a) by insn b (SC_*): out = RAX, 1, insn address */
#define OP_YMM	       21 /* every quadword of YMM0..15 = a, then ud2 if b != 0; out[0] = 1 after it */
#define OP_EACCEPT_N   22 /* EACCEPT b pages from page a on, flags c, until one fails: out = {accepted, its RAX} */
#define OP_EMODPE_N    23 /* EMODPE page a with SECINFO flags b, c times: out[0] = c after them */
#define OP_YMM_AEX     24 /* YMM0..15 = quadwords a, a+1, ... a+63; ud2; then them to untrusted c[64]; out[0] = 1 */
#define OP_ZMM_AEX     25 /* ZMM0..31, k0..7 = quadwords a .. a+263; ud2; then them to untrusted c[264]; out[0] = 1 */
/*
 * AEX-Notify (the enclave signed with AEXNOTIFY, its TCSs with the flag):
 * with frame 0 opted in if b != 0, encl_regloop(a, c); out[0] = its result,
 * out[1] = the notifications handled meanwhile.  Each notification enters
 * at OENTRY with CSSA = 1; the handler counts it, copies frame 0 aside,
 * EDECCSSA, and restores the interrupted state itself (entry.S).
 */
#define OP_NOTIFY_LOOP 26
#define OP_PUSHF       27 /* out[0] = RFLAGS as PUSHF stores them */
/*
 * EACCEPT b pages from page a on with flags c, then use page i: read it
 * whole, then write its first quadword with i + 1; each right after its
 * EACCEPT when a's bit 0 is clear, all after the last EACCEPT when it is
 * set (a is page-aligned otherwise); then read them all back.  Stops at an
 * EACCEPT that fails: out = {pages accepted, its RAX, sum of the quadwords
 * read back, pages that were not all zeros when used}.
 */
#define OP_EACCEPT_USE 28
#define OP_XMM15       29 /* out[0] = XMM15's low quadword as the entry found it (the host's at EENTER) */
/*
 * XMM0..15, MXCSR and the x87 control word as the entry found them (the
 * host's at EENTER), stored by entry.S before any other instruction to
 * untrusted c[34]: c[2n], c[2n + 1] = XMMn, c[32] = MXCSR, c[33] = FCW.
 */
#define OP_ENTRY_STATE 30

/* Quadwords OP_YMM_AEX and OP_ZMM_AEX move: YMM0..15; ZMM0..31 then k0..7. */
#define YMM_AEX_WORDS 64
#define ZMM_AEX_WORDS (32 * 8 + 8)

/* OP_SYSCALL instructions (registers: SYSCALL RAX, RDI, RSI, RDX; INT n EAX, EBX, ECX, EDX). */
#define SC_SYSCALL 0 /* syscall (0F 05) */
#define SC_INT80   1 /* int $0x80 (CD 80) */
#define SC_INT81   2 /* int $0x81 (CD 81): no system call on Linux, #GP on the host */
#define SC_CPUID   3 /* cpuid (0F A2), leaf EAX, subleaf ECX: #UD on hardware; #GP on the host with CPUID faulting */

/* Exception handler modes (entered with CSSA = 1). */
#define HANDLER_SKIP	1 /* SSA RIP += skip */
#define HANDLER_ACCEPT	2 /* EACCEPT the faulting page (EXINFO.MADDR) as PT_REG RW PENDING */
#define HANDLER_RET	3 /* the called function faulted: RIP = [RSP], RSP += 8, RAX = HANDLER_RET_RAX */
#define HANDLER_RET_RAX 0xDEADC0DEULL

/* Record the handler writes to its untrusted buffer. */
#define HREC_EXITINFO 0
#define HREC_RIP      1
#define HREC_MADDR    2
#define HREC_ERRCD    3
#define HREC_CSSA     4
#define HREC_WORDS    5

#define ENCL_OUT_WORDS 8

#endif
