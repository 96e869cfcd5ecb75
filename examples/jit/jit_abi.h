/* SPDX-License-Identifier: MIT */
/*
 * The JIT enclave's ECALLs, shared by the enclave (jit_enclave.c) and the
 * host (jit_host.c).  Every argument is one struct in untrusted memory that
 * the enclave copies in, checks and copies back with its outputs filled in.
 *
 * The flow of one run: COMPILE each program (parse, compile to x86-64 into
 * an enclave buffer, run the interpreter), RESERVE a region of the dynamic
 * area for all of them, INSTALL the code (rt_mm_commit_data, R|X), RUN each
 * program from its installed code and compare with the interpreter, FREE
 * the region (rt_mm_dealloc: TRIM, EACCEPT, REMOVE).
 */
#ifndef SGXEMU_JIT_ABI_H
#define SGXEMU_JIT_ABI_H

#include <stdint.h>

/* ECALL indices (RT_ECALLS order in jit_enclave.c). */
enum {
	JIT_EC_COMPILE, /* struct jit_compile followed by src_len bytes of source */
	JIT_EC_RESERVE, /* struct jit_region */
	JIT_EC_INSTALL, /* struct jit_region */
	JIT_EC_RUN,	/* struct jit_run */
	JIT_EC_FREE,	/* struct jit_region */
	JIT_EC_COUNT
};

#define JIT_MAX_PROGRAMS 16
#define JIT_MAX_SOURCE	 (32 * 1024)
#define JIT_NAME_MAX	 32

/* The memory manager's counters, as the enclave sees them after a step. */
struct jit_mm_counts {
	uint64_t committed_bytes;
	uint64_t eaccepts, eacceptcopies, emodpes, demand_faults;
	uint64_t ocalls_augment, ocalls_restrict, ocalls_modify_type, ocalls_remove, ocalls_mprotect;
};

/* JIT_EC_COMPILE.  Returns 0 (outputs valid; status tells whether the program compiled) or -errno. */
struct jit_compile {
	/* in */
	char name[JIT_NAME_MAX]; /* NUL-terminated */
	uint64_t src_len;	 /* bytes of source following this struct (no NUL needed) */
	int64_t args[3];	 /* a, b, c for the interpreter run */
	uint32_t disasm;	 /* print the generated code instruction by instruction */
	uint32_t reserved;
	/* out */
	int32_t status; /* LANG_OK, or LANG_ESYNTAX (error_*) / LANG_ENOSPC from parsing and compiling */
	int32_t error_line, error_column;
	char error_msg[96];
	uint32_t slot;	       /* the program's number for JIT_EC_RUN */
	uint32_t bytecode;     /* bytecode instructions */
	uint64_t code_size;    /* bytes of machine code */
	uint32_t code_insns;   /* machine instructions */
	uint32_t code_jumps;   /* of which jumps */
	int32_t interp_status; /* lang_interp's status */
	uint32_t reserved2;
	int64_t interp_result; /* and result (valid for LANG_OK) */
};

/* JIT_EC_RESERVE, JIT_EC_INSTALL, JIT_EC_FREE.  Returns 0 or the memory manager's -errno. */
struct jit_region {
	/* out */
	uint64_t offset;	 /* enclave offset of the region */
	uint64_t pages;		 /* pages of the region (each program's code starts on its own page) */
	struct jit_mm_counts mm; /* after the step */
};

/* JIT_EC_RUN.  Returns 0 (outputs valid) or -errno (no such slot, code not installed). */
struct jit_run {
	/* in */
	uint32_t slot;
	uint32_t reserved;
	int64_t args[3];
	/* out */
	uint64_t code_offset;  /* enclave offset of the function that ran */
	int32_t status;	       /* the compiled code's status */
	int32_t interp_status; /* lang_interp's for the same arguments */
	int64_t result;	       /* valid for LANG_OK */
	int64_t interp_result;
	uint32_t match; /* same status, and same result if LANG_OK */
	uint32_t reserved2;
};

#endif /* SGXEMU_JIT_ABI_H */
