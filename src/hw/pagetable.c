/* SPDX-License-Identifier: MIT */
/* Open-addressing hash of page mappings; O(1) per page. */
#include "pagetable.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(uint64_t lin, size_t cap)
{
	uint64_t h = (lin >> 12) * 0x9E3779B97F4A7C15ULL;
	return (size_t)(h >> 20) & (cap - 1);
}

static bool pt_translate(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, uint32_t *err)
{
	const struct pagetable *pt = (const struct pagetable *)mmu;
	const struct pt_entry *e = pagetable_lookup(pt, lin);
	if (!e) {
		if (pt->identity_fallback) {
			*pa = lin;
			return true;
		}
		*err = 0;
		return false;
	}
	unsigned need = acc & (HW_ACC_R | HW_ACC_W | HW_ACC_X);
	if ((need & ~e->prot) != 0) {
		*err = PF_P;
		return false;
	}
	*pa = e->pa | (lin & 0xFFF);
	return true;
}

int pagetable_init(struct pagetable *pt, bool identity_fallback)
{
	memset(pt, 0, sizeof(*pt));
	pt->mmu.translate = pt_translate;
	pt->mmu.gen = &pt->gen;
	pt->identity_fallback = identity_fallback;
	pt->cap = 64;
	pt->slots = calloc(pt->cap, sizeof(*pt->slots));
	return pt->slots ? 0 : -1;
}

void pagetable_fini(struct pagetable *pt)
{
	free(pt->slots);
	pt->slots = NULL;
}

static int grow(struct pagetable *pt)
{
	size_t ncap = pt->cap * 2;
	struct pt_entry *n = calloc(ncap, sizeof(*n));
	if (!n)
		return -1;
	for (size_t i = 0; i < pt->cap; i++) {
		if (!pt->slots[i].lin)
			continue;
		size_t j = slot_of(pt->slots[i].lin, ncap);
		while (n[j].lin)
			j = (j + 1) & (ncap - 1);
		n[j] = pt->slots[i];
	}
	free(pt->slots);
	pt->slots = n;
	pt->cap = ncap;
	return 0;
}

int pagetable_map(struct pagetable *pt, uint64_t lin, uint64_t pa, unsigned prot)
{
	lin &= ~0xFFFULL;
	if ((pt->used + 1) * 2 > pt->cap && grow(pt) < 0)
		return -1;
	size_t j = slot_of(lin, pt->cap);
	while (pt->slots[j].lin && pt->slots[j].lin != lin)
		j = (j + 1) & (pt->cap - 1);
	if (!pt->slots[j].lin)
		pt->used++;
	pt->slots[j] = (struct pt_entry){.lin = lin, .pa = pa & ~0xFFFULL, .prot = prot};
	atomic_fetch_add_explicit(&pt->gen, 1, memory_order_release);
	return 0;
}

void pagetable_unmap(struct pagetable *pt, uint64_t lin)
{
	lin &= ~0xFFFULL;
	size_t j = slot_of(lin, pt->cap);
	while (pt->slots[j].lin && pt->slots[j].lin != lin)
		j = (j + 1) & (pt->cap - 1);
	if (!pt->slots[j].lin)
		return;
	pt->slots[j].lin = 0;
	pt->used--;
	atomic_fetch_add_explicit(&pt->gen, 1, memory_order_release);
	/* Re-insert the rest of the probe run so lookups still find them. */
	for (size_t k = (j + 1) & (pt->cap - 1); pt->slots[k].lin; k = (k + 1) & (pt->cap - 1)) {
		struct pt_entry e = pt->slots[k];
		pt->slots[k].lin = 0;
		size_t h = slot_of(e.lin, pt->cap);
		while (pt->slots[h].lin)
			h = (h + 1) & (pt->cap - 1);
		pt->slots[h] = e;
	}
}

const struct pt_entry *pagetable_lookup(const struct pagetable *pt, uint64_t lin)
{
	lin &= ~0xFFFULL;
	if (!lin)
		return NULL;
	size_t j = slot_of(lin, pt->cap);
	while (pt->slots[j].lin) {
		if (pt->slots[j].lin == lin)
			return &pt->slots[j];
		j = (j + 1) & (pt->cap - 1);
	}
	return NULL;
}
