/* SPDX-License-Identifier: MIT */
/* The threads enclave's ECALLs (threads_enclave.c), shared with threads-demo (threads_host.c). */
#ifndef SGXEMU_THREADS_ABI_H
#define SGXEMU_THREADS_ABI_H

#include <stdint.h>

enum {
	TH_EC_ADD,    /* struct th_add: rt_mm_thread_add */
	TH_EC_WORK,   /* struct th_work: count primes in [lo, hi) on the calling thread */
	TH_EC_REMOVE, /* struct th_remove: rt_mm_thread_remove */
	TH_EC_COUNT
};

/* Every ECALL returns 0 or -errno. */
struct th_add {
	/* out */
	uint64_t tcs;	       /* linear address of the new TCS */
	uint64_t tcs_offset;   /* its enclave offset */
	uint64_t eaccepts;     /* EACCEPTs the memory manager made for it */
	uint64_t modify_types; /* MODIFY_TYPE OCALLs (the TCS page's EMODT) */
};

struct th_work {
	/* in */
	uint64_t lo, hi;
	/* out */
	uint64_t primes;       /* primes p with lo <= p < hi */
	uint64_t thread_index; /* the thread data's index: 0 static, >= n_tcs dynamic */
	uint64_t tcs_offset;   /* the TCS this ECALL entered through */
	uint64_t stack_offset; /* enclave offset of a local variable: on this thread's own stack */
};

struct th_remove {
	/* in */
	uint64_t tcs;
	/* out */
	uint64_t eaccepts; /* EACCEPTs of the trimmed pages */
};

#endif /* SGXEMU_THREADS_ABI_H */
