/* SPDX-License-Identifier: MIT */
/*
 * A plain page table implementing struct hw_mmu: linear page -> physical
 * address and protection.  Used by the scenario runner and the hw tests to
 * play the OS's page tables; the kernel layer keeps its own.  Addresses
 * with no entry translate to themselves when `identity_fallback` is set
 * (ordinary process memory), otherwise they are not present.
 */
#ifndef SGXEMU_PAGETABLE_H
#define SGXEMU_PAGETABLE_H

#include "hw.h"

struct pt_entry {
	uint64_t lin;  /* page-aligned key; 0 = empty slot */
	uint64_t pa;   /* physical page */
	unsigned prot; /* HW_ACC_R/W/X allowed */
};

struct pagetable {
	struct hw_mmu mmu; /* first: &pt->mmu is what leaves receive */
	struct pt_entry *slots;
	size_t cap, used;
	bool identity_fallback;
	_Atomic uint64_t gen; /* hw_mmu.gen: moves at every map and unmap */
};

int pagetable_init(struct pagetable *pt, bool identity_fallback);
void pagetable_fini(struct pagetable *pt);
/*
 * Map (or remap) one page. Return: 0, or -1 when out of memory.  Map and
 * unmap are the only ways to change an entry: they move gen, which tells
 * threads' TLBs (hw_mmu.gen) that translations changed.
 */
int pagetable_map(struct pagetable *pt, uint64_t lin, uint64_t pa, unsigned prot);
void pagetable_unmap(struct pagetable *pt, uint64_t lin);
/* Current entry for lin's page, or NULL. */
const struct pt_entry *pagetable_lookup(const struct pagetable *pt, uint64_t lin);

#endif /* SGXEMU_PAGETABLE_H */
