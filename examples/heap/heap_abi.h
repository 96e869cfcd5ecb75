/* SPDX-License-Identifier: MIT */
/*
 * The heap enclave's ECALLs (heap_enclave.c), shared with heap-demo
 * (heap_host.c).  The enclave keeps one heap: a region of its dynamic area
 * reserved with RT_MM_COMMIT_ON_DEMAND, of which the first `size` bytes are
 * in use and filled with a pattern derived from each word's offset, so any
 * lost, stale or misplaced page shows when the heap is checked.
 */
#ifndef SGXEMU_HEAP_ABI_H
#define SGXEMU_HEAP_ABI_H

#include <stdint.h>

enum {
	HEAP_EC_RESERVE, /* struct heap_step: in bytes = the region's size */
	HEAP_EC_GROW,	 /* struct heap_step: in bytes more (page multiple), mode HEAP_COMMIT_* */
	HEAP_EC_SHRINK,	 /* struct heap_step: in bytes less (page multiple): uncommitted */
	HEAP_EC_CHECK,	 /* struct heap_step: verifies every word of the heap */
	HEAP_EC_RELEASE, /* struct heap_step: rt_mm_dealloc of the region */
	HEAP_EC_COUNT
};

enum {
	HEAP_COMMIT_NOW = 1,	   /* rt_mm_commit of the new pages, then write them */
	HEAP_COMMIT_ON_DEMAND = 2, /* just write them: each page is committed at its first access */
};

/* Every ECALL returns 0 or the memory manager's -errno. */
struct heap_step {
	/* in */
	uint64_t bytes;
	uint32_t mode;
	uint32_t reserved;
	/* out */
	uint64_t region_offset;	  /* enclave offset of the region */
	uint64_t region_bytes;	  /* its size */
	uint64_t size;		  /* bytes in use */
	uint64_t committed_bytes; /* the memory manager's committed bytes (all regions) */
	uint64_t demand_faults;	  /* pages committed from the #PF handler, in total */
	uint64_t eaccepts;	  /* in total */
	uint64_t fresh_nonzero;	  /* GROW: words of newly committed pages that were not zero */
	uint64_t bad_words;	  /* CHECK: words that do not hold their pattern */
	uint64_t first_bad;	  /* CHECK: offset of the first of them */
};

#endif /* SGXEMU_HEAP_ABI_H */
