/* SPDX-License-Identifier: MIT */
/*
 * The enclave object (struct sgx_encl): page records indexed by address,
 * VA pages, the EPC allocator's bookkeeping, tracking and teardown
 * (spec/linux-driver.md §2, §7, §8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct sgx_encl *encl_new(struct sgxk *k)
{
	struct sgx_encl *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->k = k;
	hw_lock_init(&e->lock);
	atomic_init(&e->refs, 1);
	atomic_init(&e->ioctl_busy, false);
	e->attributes_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT | SGX_ATTR_KSS | SGX_ATTR_AEXNOTIFY;
	e->dyn_max_prot = KPROT_RWX;
	e->pkey = -1;
	return e;
}

void encl_get(struct sgx_encl *e)
{
	atomic_fetch_add(&e->refs, 1);
}

bool encl_get_unless_zero(struct sgx_encl *e)
{
	unsigned n = atomic_load(&e->refs);
	while (n)
		if (atomic_compare_exchange_weak(&e->refs, &n, n + 1))
			return true;
	return false;
}

/* ---- EPC frames ---- */

static bool lru_empty(struct sgxk *k)
{
	pthread_mutex_lock(&k->lru_lock);
	bool empty = !k->lru_head;
	pthread_mutex_unlock(&k->lru_lock);
	return empty;
}

int sgx_epc_get(struct sgxk *k, bool reclaim)
{
	/* Bounded: every round but the last evicted a page, which others took (SGX_RECLAIM_ROUNDS). */
	for (unsigned round = 0;; round++) {
		if (hw_epc_reserve(k->m))
			return 0;
		if (lru_empty(k))
			return -ENOMEM;
		if (!reclaim)
			return -EBUSY;
		if (signal_pending())
			return -ERESTARTSYS;
		if (round == SGX_RECLAIM_ROUNDS)
			return -ENOMEM;
		/* Linux waits for ksgxd here; with nothing evictable now it would wait forever. */
		if (sgxk_reclaim(k, SGX_NR_TO_SCAN) == 0)
			return -ENOMEM;
	}
}

void sgx_epc_put(struct sgxk *k)
{
	hw_epc_release(k->m);
}

/* EREMOVE a frame we own; a failure leaks it (it stays counted as used), as Linux does. */
static void epc_remove(struct sgxk *k, uint64_t pa)
{
	struct hw_result r = encls_eremove(k->m, pa);
	if (!hw_is_ok(r)) {
		char buf[64];
		hw_result_format(r, buf, sizeof(buf));
		fprintf(stderr, "sgxemu: EREMOVE of EPC page %#llx failed: %s (page leaked)\n",
			(unsigned long long)hw_epc_offset(k->m, pa), buf);
		return;
	}
	sgx_epc_put(k);
}

/* ---- page index ---- */

struct encl_page *encl_page_at(struct sgx_encl *e, uint64_t addr)
{
	if (!encl_in_range(e, addr))
		return NULL;
	uint64_t idx = (addr - e->base) >> 12;
	struct encl_page **c = e->chunks[idx / ENCL_CHUNK];
	return c ? c[idx % ENCL_CHUNK] : NULL;
}

int encl_page_insert(struct sgx_encl *e, struct encl_page *p)
{
	uint64_t idx = (p->addr - e->base) >> 12;
	struct encl_page ***c = &e->chunks[idx / ENCL_CHUNK];
	int ret = 0;
	pthread_mutex_lock(&e->k->pt_lock);
	if (!*c)
		*c = calloc(ENCL_CHUNK, sizeof(**c));
	if (!*c)
		ret = -ENOMEM;
	else if ((*c)[idx % ENCL_CHUNK])
		ret = -EBUSY;
	else
		(*c)[idx % ENCL_CHUNK] = p;
	pthread_mutex_unlock(&e->k->pt_lock);
	return ret;
}

void encl_page_remove(struct sgx_encl *e, struct encl_page *p)
{
	uint64_t idx = (p->addr - e->base) >> 12;
	vma_zap_page(e, p);
	pthread_mutex_lock(&e->k->pt_lock);
	e->chunks[idx / ENCL_CHUNK][idx % ENCL_CHUNK] = NULL;
	pthread_mutex_unlock(&e->k->pt_lock);
	free(p);
}

/* ---- VA pages ---- */

/* A new VA page: EPA into a frame of its own (the frame is already reserved). */
static int va_page_add(struct sgx_encl *e)
{
	struct sgxk *k = e->k;
	if (e->nva == e->cap_va) {
		size_t n = e->cap_va ? 2 * e->cap_va : 4;
		struct va_page *v = realloc(e->va, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		e->va = v;
		e->cap_va = n;
	}
	uint64_t pa = hw_epc_window_alloc(k->m, KPAGE);
	if (!pa)
		return -ENOMEM;
	struct hw_result r = encls_epa(k->m, SGX_PT_VA, pa);
	if (!hw_is_ok(r)) {
		hw_epc_window_free(k->m, pa, KPAGE);
		return -EFAULT;
	}
	memset(&e->va[e->nva], 0, sizeof(e->va[0]));
	e->va[e->nva++].pa = pa;
	return 0;
}

int encl_grow(struct sgx_encl *e)
{
	if (e->page_cnt % ENCL_CHUNK == 0) {
		int ret = sgx_epc_get(e->k, false);
		if (ret)
			return ret;
		ret = va_page_add(e);
		if (ret) {
			sgx_epc_put(e->k);
			return ret;
		}
	}
	e->page_cnt++;
	return 0;
}

void encl_shrink(struct sgx_encl *e)
{
	e->page_cnt--;
	if (e->page_cnt % ENCL_CHUNK == 0 && e->nva && e->va[e->nva - 1].nused == 0) {
		struct va_page *v = &e->va[--e->nva];
		epc_remove(e->k, v->pa);
		hw_epc_window_free(e->k->m, v->pa, KPAGE);
	}
}

bool encl_va_slot_alloc(struct sgx_encl *e, uint32_t *slot)
{
	for (size_t i = 0; i < e->nva; i++) {
		struct va_page *v = &e->va[i];
		if (v->nused == SGX_VA_SLOTS)
			continue;
		for (unsigned w = 0; w < SGX_VA_SLOTS / 64; w++) {
			if (v->used[w] == ~0ULL)
				continue;
			unsigned b = (unsigned)__builtin_ctzll(~v->used[w]);
			v->used[w] |= 1ULL << b;
			v->nused++;
			*slot = (uint32_t)(i * SGX_VA_SLOTS + w * 64 + b);
			return true;
		}
	}
	return false;
}

void encl_va_slot_free(struct sgx_encl *e, uint32_t slot)
{
	struct va_page *v = &e->va[slot / SGX_VA_SLOTS];
	unsigned s = slot % SGX_VA_SLOTS;
	v->used[s / 64] &= ~(1ULL << (s % 64));
	v->nused--;
}

uint64_t encl_va_slot_pa(const struct sgx_encl *e, uint32_t slot)
{
	return e->va[slot / SGX_VA_SLOTS].pa + (slot % SGX_VA_SLOTS) * 8;
}

/* ---- LRU ---- */

void lru_add(struct sgxk *k, struct encl_page *p)
{
	pthread_mutex_lock(&k->lru_lock);
	if (!p->on_lru) {
		p->lru_next = NULL;
		p->lru_prev = k->lru_tail;
		if (k->lru_tail)
			k->lru_tail->lru_next = p;
		else
			k->lru_head = p;
		k->lru_tail = p;
		p->on_lru = true;
	}
	pthread_mutex_unlock(&k->lru_lock);
}

void lru_unlink(struct sgxk *k, struct encl_page *p)
{
	if (p->lru_prev)
		p->lru_prev->lru_next = p->lru_next;
	else
		k->lru_head = p->lru_next;
	if (p->lru_next)
		p->lru_next->lru_prev = p->lru_prev;
	else
		k->lru_tail = p->lru_prev;
	p->on_lru = false;
	p->lru_prev = p->lru_next = NULL;
}

bool lru_del(struct sgxk *k, struct encl_page *p)
{
	pthread_mutex_lock(&k->lru_lock);
	bool ok = !p->reclaiming;
	if (ok && p->on_lru)
		lru_unlink(k, p);
	pthread_mutex_unlock(&k->lru_lock);
	return ok;
}

struct encl_page *encl_load_page(struct sgx_encl *e, uint64_t addr, int *err)
{
	struct encl_page *p = encl_page_at(e, addr);
	if (!p) {
		*err = -EFAULT;
		return NULL;
	}
	if (p->being_reclaimed) {
		*err = -EAGAIN;
		return NULL;
	}
	if (!p->resident) {
		int ret = encl_eldu(e, p);
		if (ret) {
			*err = ret;
			return NULL;
		}
	}
	return p;
}

/* ---- tracking ---- */

void encl_kick_threads(struct sgx_encl *e)
{
	struct sgxk *k = e->k;
	pthread_mutex_lock(&k->threads_lock);
	if (k->kick) {
		for (struct sgxk_thread *t = k->threads; t; t = t->next)
			if (t->t->in_enclave && t->t->secs_pa == e->secs_pa)
				k->kick(k, t->t, k->kick_arg);
	}
	pthread_mutex_unlock(&k->threads_lock);
}

int encl_track(struct sgx_encl *e)
{
	struct hw_result r = encls_etrack(e->k->m, e->secs_pa);
	if (!hw_is_ok(r)) {
		encl_kick_threads(e);
		r = encls_etrack(e->k->m, e->secs_pa);
		if (!hw_is_ok(r))
			return -EFAULT;
	}
	/* The IPIs after a successful ETRACK: every thread inside leaves and re-enters in the new epoch. */
	encl_kick_threads(e);
	return 0;
}

/* ---- teardown ---- */

static void encl_release(struct sgx_encl *e)
{
	struct sgxk *k = e->k;
	pthread_mutex_lock(&k->files_lock);
	for (struct sgx_encl **pe = &k->encls; *pe; pe = &(*pe)->next) {
		if (*pe == e) {
			*pe = e->next;
			break;
		}
	}
	pthread_mutex_unlock(&k->files_lock);
	pthread_mutex_lock(&k->pt_lock);
	for (struct sgx_encl **pe = &k->pt_encls; *pe; pe = &(*pe)->next_pt) {
		if (*pe == e) {
			*pe = e->next_pt;
			break;
		}
	}
	pthread_mutex_unlock(&k->pt_lock);

	pthread_mutex_lock(&e->lock);
	if (e->flags & ENCL_CREATED) {
		/*
		 * A thread may still be inside: on Linux the mm it runs in keeps
		 * the enclave, here the last file or VMA reference can go while
		 * it runs.  Force it out first (an AEX, while its SSA and SECS
		 * are still there), so that EREMOVE finds no thread inside; with
		 * no VMA left it cannot enter again.
		 */
		encl_kick_threads(e);
		/* The window goes at the end: its memory in one step then, not one EREMOVE at a time. */
		hw_epc_retire(k->m, e->window, e->window_size);
		/*
		 * Every child, ascending.  No reclaimer holds one: it takes a
		 * reference on the enclave for the pages it isolates, and none
		 * once the count reached zero (encl_get_unless_zero).
		 */
		for (size_t c = 0; c < e->nchunks; c++) {
			if (!e->chunks[c])
				continue;
			for (unsigned j = 0; j < ENCL_CHUNK; j++) {
				struct encl_page *p = e->chunks[c][j];
				if (!p)
					continue;
				if (!lru_del(k, p)) {
					fprintf(stderr,
						"sgxemu: enclave page %#llx held by the reclaimer at teardown\n",
						(unsigned long long)p->addr);
					abort();
				}
				if (p->resident) {
					epc_remove(k, encl_frame(e, p->addr));
					e->children--;
				}
				encl_page_remove(e, p);
			}
			free(e->chunks[c]);
		}
		/* No VMA is left: the key can go before the SECS frame is reused. */
		if (e->pkey >= 0 && k->pkeys.free)
			k->pkeys.free(k->pkeys.ctx, e->secs_pa);
		if (e->secs_resident && e->children == 0)
			epc_remove(k, e->secs_pa);
		for (size_t i = 0; i < e->nva; i++) {
			epc_remove(k, e->va[i].pa);
			hw_epc_window_free(k->m, e->va[i].pa, KPAGE);
		}
		hw_epc_window_free(k->m, e->secs_pa, KPAGE);
		hw_epc_window_free(k->m, e->window, e->window_size);
		munmap(e->backing, e->backing_size);
	}
	pthread_mutex_unlock(&e->lock);
	free(e->chunks);
	free(e->va);
	free(e->reqs);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void encl_put(struct sgx_encl *e)
{
	if (atomic_fetch_sub(&e->refs, 1) == 1)
		encl_release(e);
}

void sgxk_page_counts(struct sgxk *k, uint64_t *resident, uint64_t *evicted)
{
	*resident = *evicted = 0;
	pthread_mutex_lock(&k->files_lock);
	for (struct sgx_encl *e = k->encls; e; e = e->next) {
		pthread_mutex_lock(&e->lock);
		for (size_t c = 0; c < e->nchunks; c++) {
			if (!e->chunks[c])
				continue;
			for (unsigned j = 0; j < ENCL_CHUNK; j++) {
				struct encl_page *p = e->chunks[c][j];
				if (p && p->resident)
					(*resident)++;
				else if (p)
					(*evicted)++;
			}
		}
		pthread_mutex_unlock(&e->lock);
	}
	pthread_mutex_unlock(&k->files_lock);
}

static int lock_maybe(pthread_mutex_t *l, bool wait)
{
	if (wait) {
		pthread_mutex_lock(l);
		return 0;
	}
	return pthread_mutex_trylock(l) == 0 ? 0 : -EBUSY;
}

/* The pages of e to page() (e->lock held). */
static int walk_encl(struct sgx_encl *e, bool wait, void (*page)(void *ctx, const struct sgxk_page_state *s), void *ctx)
{
	for (size_t c = 0; c < e->nchunks; c++) {
		if (!e->chunks[c])
			continue;
		for (unsigned j = 0; j < ENCL_CHUNK; j++) {
			const struct encl_page *p = e->chunks[c][j];
			if (!p)
				continue;
			struct sgxk_page_state s = {.addr = p->addr, .type = p->type, .resident = p->resident};
			if (p->resident) {
				if (wait)
					hw_epcm_get(e->k->m, encl_frame(e, p->addr), &s.epcm);
				else if (hw_epcm_get_try(e->k->m, encl_frame(e, p->addr), &s.epcm) < 0)
					return -EBUSY;
			}
			page(ctx, &s);
		}
	}
	return 0;
}

int sgxk_page_walk(struct sgxk *k, bool wait, void (*enclave)(void *ctx, uint64_t base, uint64_t size),
		   void (*page)(void *ctx, const struct sgxk_page_state *s), void *ctx)
{
	if (lock_maybe(&k->files_lock, wait))
		return -EBUSY;
	int ret = 0;
	for (struct sgx_encl *e = k->encls; e && !ret; e = e->next) {
		if ((ret = lock_maybe(&e->lock, wait)) != 0)
			break;
		if (e->flags & ENCL_CREATED) {
			enclave(ctx, e->base, e->size);
			ret = walk_encl(e, wait, page, ctx);
		}
		pthread_mutex_unlock(&e->lock);
	}
	pthread_mutex_unlock(&k->files_lock);
	return ret;
}
