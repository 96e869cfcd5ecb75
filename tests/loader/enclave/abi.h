/* SPDX-License-Identifier: MIT */
/* The loader test enclave's ECALLs and OCALLs, shared by the enclave and tests/loader/test_loader.c. */
#ifndef SGXEMU_TEST_LOADER_ABI_H
#define SGXEMU_TEST_LOADER_ABI_H

#include <stdint.h>

/* ECALL indices (RT_ECALLS order in enclave.c). */
enum {
	EC_ADD,	     /* struct ec_add: returns a + b */
	EC_REVERSE,  /* reverses the untrusted bytes in place: returns len */
	EC_OCALL,    /* struct ec_ocall: OCALL OC_TRIPLE round trip, see enclave.c */
	EC_NEST,     /* OCALL OC_NEST, whose host handler makes the nested ECALL (uint64_t)arg (0: EC_DEPTH) */
	EC_DEPTH,    /* logs "depth=<d> ocall=<pending>" through OC_LOG: returns d * 10 + pending */
	EC_PRINT,    /* rt_print of every format: returns its result */
	EC_HANDLERS, /* install the exception handlers in mode (uint64_t)arg (HM_*): returns 0 */
	EC_UD2,	     /* ud2 at encl_ud2_site: returns 1 after it */
	EC_DIV0,     /* div by zero at encl_div0_site: returns 1 after it */
	EC_LOAD,     /* 8-byte load from enclave offset (uint64_t)arg at encl_load_site: returns the value */
	EC_LAST_EXC, /* copies struct ec_exception (the last exception the handler saw) to arg */
	EC_SITES,    /* copies struct ec_sites to arg */
	EC_RELOC,  /* copies the relocated pointer tables' strings to arg (struct ec_reloc): returns 0 if all resolve */
	EC_HEAP,   /* runs the heap patterns: returns 0 or the number of the failed step */
	EC_THREAD, /* returns thread_index * 1000000 + this thread's completed ECALLs; a heap round trip */
	EC_REPORT, /* struct ec_report: EREPORT for its target info and data */
	EC_GETKEY, /* struct ec_getkey: EGETKEY, returns the SGX code */
	EC_RAW_EXIT,	 /* EEXITs directly with RETURN 0x5eed, leaving its ECALL open */
	EC_OCALL_ERRORS, /* struct ec_ocall_errors: rt_ocall's own error returns */
	EC_ABORT,	 /* rt_abort(SGXEMU_ABORT_ASSERT) */
	EC_STATE,	 /* struct ec_state: MXCSR, FCW, RFLAGS, RSP seen at entry */
	EC_EDMM,	 /* struct ec_edmm: the memory manager's OCALLs with EACCEPT, step by step */
	EC_ALT_STACK,	 /* ud2 while RSP points outside the thread's stack (into enclave data) */
	EC_BAD_FREE,	 /* free() of a pointer twice */
	EC_SPIN,	 /* struct ec_spin (untrusted): entered = 1, then spin until stop != 0: returns the polls */
	EC_COUNT
};

/* OCALL indices of the host's table. */
enum {
	OC_TRIPLE, /* struct oc_triple: out = in * 3, text upper-cased: returns 77 */
	OC_NEST,   /* uint64_t index: the nested ECALL index: returns its result + 1000, or its error - 1000 */
	OC_LOG,	   /* appends the NUL-terminated text to the host's log: returns the log's entry count */
	OC_COUNT
};

/* Exception handler modes. */
enum {
	HM_NONE,   /* no handler registered */
	HM_SKIP,   /* #UD: skip the 2-byte ud2; #PF: skip the 3-byte load, RAX = 0xfa17 */
	HM_SEARCH, /* only a handler that records and declines */
	HM_LOOP,   /* #UD: "handled" without moving RIP, so it happens again */
};

struct ec_spin {
	volatile uint64_t entered, stop;
};

struct ec_add {
	int64_t a, b;
};

struct oc_triple {
	uint64_t in, out;
	char text[32];
};

struct ec_ocall {
	uint64_t in;   /* sent as oc_triple.in */
	uint64_t out;  /* oc_triple.out after the round trip */
	int64_t ret;   /* OCALL result */
	char text[32]; /* oc_triple.text after the round trip ("hello" sent) */
};

struct ec_exception {
	uint64_t count;	   /* exceptions the recording handler saw */
	uint64_t declined; /* calls of the declining handler */
	uint32_t vector, type, error_code, exinfo;
	uint64_t address;    /* EXINFO.MADDR */
	uint64_t rip_offset; /* RIP - base */
	uint64_t ssa;
	int64_t ocall_result; /* rt_print inside the handler */
};

struct ec_sites {
	uint64_t ud2, div0, load; /* enclave offsets of the faulting instructions */
	uint64_t base;
	uint64_t guard; /* enclave offset of thread 0's guard page */
};

struct ec_reloc {
	char names[3][16];     /* strings reached through a static pointer table */
	int64_t fn_results[3]; /* results of a static function pointer table */
	uint64_t ctor_ran;     /* a constructor (.init_array) ran once */
};

struct ec_report {
	uint8_t target[512]; /* TARGETINFO (all zero: this enclave) */
	uint8_t data[64];    /* REPORTDATA */
	uint8_t report[432]; /* REPORT */
};

struct ec_getkey {
	uint8_t request[512]; /* KEYREQUEST */
	uint8_t key[16];
	uint64_t code;
};

struct ec_ocall_errors {
	int64_t too_big;      /* rt_ocall with RT_OCALL_MAX + 1 bytes */
	int64_t bad_ptr;      /* rt_ocall_ptr with the field outside the data */
	int64_t null_data;    /* rt_ocall(…, NULL, 8) */
	int64_t unknown;      /* an index the host does not have */
	int64_t write_result; /* rt_write(2, "err\n", 4) */
};

struct ec_state {
	uint32_t mxcsr;
	uint16_t fcw;
	uint64_t rflags;
	uint64_t rsp_offset;  /* RSP - base */
	uint64_t stack_top;   /* this thread's stack top - base */
	uint64_t stack_limit; /* and its limit - base */
};

/* Results of EC_EDMM's steps (the dynamic area's first two pages, A and B). */
struct ec_edmm {
	int64_t augment; /* AUGMENT A+B RW */
	uint64_t augment_count;
	uint64_t accept[2];   /* EACCEPT of A, B as pending RW pages */
	uint64_t readback;    /* a value written to A and B and read back */
	int64_t restrict_;    /* RESTRICT A to R */
	uint64_t accept_pr;   /* EACCEPT of A's restriction */
	int64_t mprotect;     /* MPROTECT A to PROT_READ */
	int64_t modify_type;  /* MODIFY_TYPE B to TRIM */
	uint64_t accept_trim; /* EACCEPT of B as TRIM */
	int64_t remove;	      /* REMOVE B */
	uint64_t remove_count;
	int64_t outside;   /* AUGMENT of a range outside the enclave */
	int64_t unaligned; /* RESTRICT of an unaligned address */
	/* Code in dynamic pages: C by EACCEPTCOPY as R-X, D accepted RW, written, EMODPE'd to RWX. */
	int64_t augment_code;	  /* AUGMENT C+D with R|W|X */
	uint64_t acceptcopy;	  /* EACCEPTCOPY of C */
	int64_t mprotect_code[2]; /* MPROTECT C to r-x, D to rwx */
	uint64_t accept_d;	  /* EACCEPT of D as RW */
	int64_t ran[2];		  /* what the code in C and D returned */
};

#define EC_RAW_EXIT_VALUE 0x5eed

#endif
