/* SPDX-License-Identifier: MIT */
/*
 * The memory manager's internals shared by emm.c (regions, the flows,
 * the #PF handler) and emm_thread.c (threads created at run time).
 * docs/emm.md describes the flows.
 */
#ifndef SGXEMU_EMM_INT_H
#define SGXEMU_EMM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "rt_int.h"
#include "sgxemu/emm.h"
#include "sgxemu/rt.h"

#pragma GCC visibility push(hidden)

#define MM_PAGE SGXEMU_PAGE

/* Errno values the host's OCALLs return (negated) that the flows tell apart. */
#define MM_HOST_EPERM  1
#define MM_HOST_EACCES 13
#define MM_HOST_EBUSY  16
#define MM_HOST_ENOTTY 25

/* What the manager knows of one page of the dynamic area (one byte each). */
#define MM_P_PERM      0x07 /* EPCM R/W/X (SGX_SECINFO_R/W/X) of a committed page */
#define MM_P_COMMITTED 0x08 /* EACCEPTed (or EACCEPTCOPYed) and not trimmed since */
#define MM_P_TCS       0x10 /* turned into a TCS (no permissions) */
#define MM_P_MAPX      0x20 /* the host was asked to map the page executable */
#define MM_P_NEW       0x40 /* committed by the operation in progress (undone if it fails) */

#define MM_RW ((uint8_t)(SGX_SECINFO_R | SGX_SECINFO_W))

/* States of a dynamic thread slot. */
enum mm_slot { MM_SLOT_FREE, MM_SLOT_USED, MM_SLOT_LOST };

struct mm_region {
	uint64_t start, end; /* linear, page-aligned */
	uint32_t flags;	     /* rt_mm_alloc's flags without RT_MM_FIXED */
	rt_mm_fault_handler handler;
	void *priv;
};

enum mm_state { MM_NEW, MM_CREATING, MM_READY, MM_NONE };

struct rt_mm {
	uint32_t state; /* enum mm_state (the default manager's creation) */
	rt_spinlock_t lock;
	struct rt_thread *owner; /* the thread holding lock, or NULL */
	uint64_t dyn_start, dyn_end;
	uint8_t *page; /* MM_P_* of every page of the dynamic area */
	uint32_t n_regions;
	struct mm_region regions[RT_MM_MAX_REGIONS]; /* sorted, disjoint */
	uint64_t thr_start, thr_stride;		     /* the dynamic thread areas */
	uint32_t n_thr;
	uint8_t *slot;		   /* enum mm_slot of each dynamic thread area */
	bool augment;		   /* the host offers SGXEMU_OCALL_AUGMENT */
	bool augment_exec_refused; /* the host refused an executable ceiling once (the policy never changes) */
	struct rt_mm_stats stats;
	rt_mm_trace trace; /* rt_mm_set_trace */
	void *trace_priv;
};

void mm_lock(struct rt_mm *mm);
void mm_unlock(struct rt_mm *mm);

/* Can this thread make OCALLs now (inside an ECALL, not in an exception handler)? */
bool mm_can_ocall(void);

/*
 * One of the memory manager's OCALLs (SGXEMU_OCALL_*), counted.  *count (if
 * not NULL) = the bytes the host says it processed, at most len.
 * Return: the host's result (0 or -errno), or rt_ocall's own error.
 */
int64_t mm_host(struct rt_mm *mm, uint32_t index, uint64_t addr, uint64_t len, uint64_t prot, uint64_t type,
		uint64_t *count);

/*
 * Ask the host to EAUG [addr, addr + len) now, with an executable ceiling
 * where the policy allows it.  Anything else the host answers leaves the
 * pages to EAUG on fault (EACCEPT tells whether they came).
 * Return: 0, or -RT_EACCES (need_exec and the host refuses executable pages).
 */
int mm_augment(struct rt_mm *mm, uint64_t addr, uint64_t len, bool need_exec);

/* EACCEPT n pages from addr with SECINFO flags.  Return: how many succeeded before the first failure. */
uint64_t mm_accept(struct rt_mm *mm, uint64_t addr, uint64_t n, uint64_t flags);

/*
 * Uncommit n committed pages from addr: MODIFY_TYPE to TRIM, EACCEPT each,
 * REMOVE.  *gone = the pages EACCEPTed as TRIM (unusable from then on).
 * Return: 0, -RT_EPERM (no OCALL possible), -RT_EFAULT (*gone < n).
 */
int mm_trim(struct rt_mm *mm, uint64_t addr, uint64_t n, uint64_t *gone);

/*
 * ENCLU with RBX, RCX, RDX at a site the #PF handler recognises: a leaf
 * that faults returns MM_ENCLU_FAULT | vector instead of ending the thread.
 * Return: SGX_SUCCESS, the leaf's SGX error code, or MM_ENCLU_FAULT | vector.
 */
uint64_t rt_mm_enclu(uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx);
/* rt_mm_enclu with a SECINFO of flags on page, then the trace observer.  Return: RAX. */
uint64_t mm_leaf(struct rt_mm *mm, uint64_t leaf, uint64_t flags, uint64_t page, uint64_t src);
#define MM_ENCLU_FAULT 0xfa17000000000000ULL

#pragma GCC visibility pop

#endif /* SGXEMU_EMM_INT_H */
