/* SPDX-License-Identifier: MIT */
/* The memory-manager test enclave's ECALLs, shared by the enclave and tests/emm/test_emm.c. */
#ifndef SGXEMU_TEST_EMM_ABI_H
#define SGXEMU_TEST_EMM_ABI_H

#include <stdint.h>

/* ECALL indices (RT_ECALLS order in enclave.c). */
enum {
	EC_MM,	   /* struct mm_call: one call of the memory manager's API; returns 0 */
	EC_ACCESS, /* struct mm_access: a read, write or call at an address; returns 0 */
	EC_FILL,   /* struct mm_fill: every 8-byte word of the range = its address ^ seed; returns 0 */
	EC_CHECK,  /* struct mm_fill: returns the number of words that differ from EC_FILL's pattern */
	EC_THREAD, /* returns this thread's index after using 16 KiB of its stack and printing a line */
	EC_STRESS, /* struct mm_stress: alloc, fill, check, dealloc in a loop; returns 0 or the failed step */
	EC_COUNT
};

/* struct mm_call.op */
enum {
	OP_DEFAULT,	  /* ret = rt_mm_default() != NULL */
	OP_ALLOC,	  /* rt_mm_alloc(addr, len, flags, no handler): out = the start */
	OP_ALLOC_HANDLER, /* the same with the counting handler (aux: HANDLER_*) */
	OP_COMMIT,	  /* rt_mm_commit(addr, len) */
	OP_COMMIT_DATA,	  /* rt_mm_commit_data(addr, len, source (SRC_*), flags = prot), the source holding data[] */
	OP_UNCOMMIT,	  /* rt_mm_uncommit(addr, len) */
	OP_DEALLOC,	  /* rt_mm_dealloc(addr, len) */
	OP_PERMS,	  /* rt_mm_modify_permissions(addr, len, flags) */
	OP_TYPE,	  /* rt_mm_modify_type(addr, len, flags) */
	OP_QUERY,	  /* rt_mm_query(addr): out = prot */
	OP_THREAD_ADD,	  /* rt_mm_thread_add: out = the TCS (flags 1: a NULL output pointer) */
	OP_THREAD_REMOVE, /* rt_mm_thread_remove(addr) */
	OP_STATS,	  /* rt_mm_get_stats into stats */
	OP_WRITE_TCS,	  /* write TCS content into the page at addr (aux: its NSSA) */
	OP_HANDLED,	  /* ret = calls of the counting handler so far; probe[] = what HANDLER_PROBE saw */
};

/* What the counting handler does besides counting (struct mm_call.aux of OP_ALLOC_HANDLER). */
enum {
	HANDLER_DECLINE, /* nothing: the fault goes on to the next handler */
	HANDLER_COMMIT,	 /* rt_mm_commit of the faulting page */
	HANDLER_PROBE,	 /* calls that need the host (results in probe[], PROBE_*), then HANDLER_COMMIT */
};

/* probe[] of HANDLER_PROBE: the page after the faulting one must be committed RW. */
enum {
	PROBE_ALLOC_READ_ONLY, /* rt_mm_alloc(COMMIT_NOW, R) */
	PROBE_ALLOC_RW,	       /* rt_mm_alloc(COMMIT_NOW, RW) of one page: works without the host */
	PROBE_COMMIT_DATA,     /* rt_mm_commit_data of the faulting page */
	PROBE_UNCOMMIT,	       /* rt_mm_uncommit of the next page */
	PROBE_PERMS,	       /* rt_mm_modify_permissions of the next page to R */
	PROBE_TYPE,	       /* rt_mm_modify_type of the next page to TCS */
	PROBE_THREAD_ADD,      /* rt_mm_thread_add */
	PROBE_COUNT
};

/* struct mm_call.source for OP_COMMIT_DATA */
enum {
	SRC_ALIGNED,   /* a page-aligned buffer of the enclave */
	SRC_UNALIGNED, /* the same buffer + 8 */
	SRC_NULL,      /* NULL */
	SRC_RANGE,     /* the destination range itself */
	SRC_ARG,       /* the untrusted ECALL argument (outside the enclave) */
};

/* The same layout as struct rt_mm_stats (the enclave checks it). */
struct mm_stats {
	uint64_t reserved_bytes, committed_bytes;
	uint64_t eaccepts, eacceptcopies, emodpes;
	uint64_t ocalls_augment, ocalls_restrict, ocalls_modify_type, ocalls_remove, ocalls_mprotect;
	uint64_t demand_faults;
};

#define MM_DATA_MAX  64
#define MM_SRC_PAGES 4 /* the most OP_COMMIT_DATA copies */

struct mm_call {
	uint32_t op;
	uint32_t flags;	  /* alloc flags, prot or type */
	uint32_t source;  /* SRC_* */
	uint32_t null_mm; /* call with mm = NULL */
	uint64_t addr, len, aux;
	uint8_t data[MM_DATA_MAX]; /* OP_COMMIT_DATA: the first bytes of the source (the rest is zero) */
	int64_t ret;		   /* the API's result */
	uint64_t out;
	struct mm_stats stats;
	int64_t probe[PROBE_COUNT];
};

/* struct mm_access.kind */
enum { ACC_READ, ACC_WRITE, ACC_CALL };

struct mm_access {
	uint32_t kind;
	uint64_t addr;
	uint64_t value; /* ACC_WRITE: the 8 bytes stored; else what was read or returned */
};

struct mm_fill {
	uint64_t addr, len, seed;
};

struct mm_stress {
	uint32_t rounds;
	uint32_t pages;
};

#endif
