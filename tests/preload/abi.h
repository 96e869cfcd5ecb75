/* SPDX-License-Identifier: MIT */
/*
 * The contract between the preload tests' host program (host.c) and their
 * raw enclave (enclave/): the enclave layout the host builds, the thread
 * data the enclave's bootstrap reads through FS, and the operations.  Only
 * plain C: no sgxemu header, the enclave has no runtime.
 *
 * Layout (offsets from the enclave base; ENCL_SIZE is SECS.SIZE):
 *   0x000000  the ELF image (text R-X, rodata R, data R-W)
 *   0x100000  thread slot i at SLOT_BASE + i * SLOT_SIZE:
 *               +0x0000 TCS, +0x1000 SSA frames 0 and 1, +0x3000 thread data,
 *               +0x4000..0x8000 stack of CSSA 0, +0x8000..0xA000 stack of CSSA 1
 *             slots 0..3 have a TCS from the start; slot 4's TCS page is made
 *             at run time (EAUG, EMODT to TCS)
 *   0x200000  dynamic area (EAUG'd on demand)
 */
#ifndef PRELOAD_TEST_ABI_H
#define PRELOAD_TEST_ABI_H

#define ENCL_SIZE    0x400000
#define SLOT_BASE    0x100000
#define SLOT_SIZE    0x10000
#define N_SLOTS	     5
#define N_STATIC_TCS 4
#define SLOT_TCS     0x0000
#define SLOT_SSA     0x1000
#define SLOT_TD	     0x3000
#define SLOT_STACK0  0x8000 /* top of the CSSA 0 stack */
#define SLOT_STACK1  0xA000 /* top of the CSSA 1 stack */
#define SLOT_PAGES   10	    /* pages from SLOT_TCS to SLOT_STACK1 */
#define DYN_BASE     0x200000
#define DYN_SIZE     0x200000
#define NSSA	     2

/* Thread data at the FS base (offsets used by entry.S). */
#define TD_STACK 8  /* u64[2]: stack top offsets per CSSA */
#define TD_URSP	 24 /* u64[2]: untrusted RSP per CSSA */
#define TD_URBP	 40 /* u64[2]: untrusted RBP per CSSA */
#define TD_EXIT	 56 /* u64[2]: exit address per CSSA */
#define TD_SSA	 72 /* u64: offset of SSA frame 0 */
#define TD_SIZE	 80

/* EENTER: RDI = operation, RSI = address of a struct call in host memory.  EEXIT: RDI = 0x600d or 0xbad. */
#define ENCL_OK	 0x600d
#define ENCL_BAD 0xbad

#ifndef __ASSEMBLER__
enum op {
	OP_ECHO = 1,	      /* out[0] = a + b, out[1] = the enclave base */
	OP_LOAD = 2,	      /* out[0] = *(u64 *)a */
	OP_STORE = 3,	      /* *(u64 *)a = b, one 3-byte instruction */
	OP_UD2 = 4,	      /* ud2 (2 bytes), then out[0] = 1 */
	OP_EACCEPT = 5,	      /* out[0] = EACCEPT(SECINFO.FLAGS = b, page a) */
	OP_EACCEPTCOPY = 6,   /* out[0] = EACCEPTCOPY(SECINFO.FLAGS = b, page a, source c) */
	OP_EMODPE = 7,	      /* out[0] = EMODPE(SECINFO.FLAGS = b, page a) */
	OP_CALL = 8,	      /* out[0] = ((u64 (*)(void))a)() */
	OP_FILL = 9,	      /* b pages from a: EACCEPT each if c & 1, then fill with pattern(c >> 8, page) */
	OP_CHECK = 10,	      /* out[0] = pages from a (b of them) not holding pattern(c >> 8, page), out[1] = first */
	OP_INC = 11,	      /* b atomic increments of a counter; out[0] = its value after */
	OP_TCS_INIT = 12,     /* page a: a TCS with OSSA = b, OFSBASE = OGSBASE = c (offsets), NSSA 2 */
	OP_ACCEPT_RANGE = 13, /* EACCEPT(b) of c pages from a: out[0] = first non-zero result, out[1] = accepted */
	OP_WRITE_CODE = 14,   /* page a: "mov $b, %eax; ret" */
	OP_SPIN = 15,	      /* out[0] = 1, then spin until a != 0 (the untrusted struct call's word) */
	OP_CPUID = 16,	      /* cpuid (2 bytes) with EAX = a, ECX = b: out[0] = EAX after it, out[1] = 1 */
	/* With CSSA = 1 (the exception handler), about SSA frame 0: */
	H_ACCEPT = 32, /* EACCEPT(REG|PENDING|R|W) the faulting page; out[] = result, MADDR, EXITINFO */
	H_SKIP = 33,   /* RIP += a; out[] = EXITINFO, MADDR, ERRCD */
};

struct call {
	unsigned long long a, b, c;
	unsigned long long out[3];
};

#endif /* __ASSEMBLER__ */

/* SECINFO.FLAGS values. */
#define SI_R	    0x1ULL
#define SI_W	    0x2ULL
#define SI_X	    0x4ULL
#define SI_PENDING  0x8ULL
#define SI_MODIFIED 0x10ULL
#define SI_PR	    0x20ULL
#define SI_TCS	    0x100ULL
#define SI_REG	    0x200ULL
#define SI_TRIM	    0x400ULL

/* The words OP_FILL writes. */
#define PATTERN(seed, page, word) (((unsigned long long)(seed) << 40) ^ ((unsigned long long)(page) << 12) ^ (word))

#endif /* PRELOAD_TEST_ABI_H */
