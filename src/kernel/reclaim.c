/* SPDX-License-Identifier: MIT */
/*
 * The EPC reclaimer and swap-in (spec/linux-driver.md §7).
 *
 * Reclaim is direct: an allocation that finds no free frame runs a batch
 * itself (there is no background ksgxd thread, so what is evicted when is
 * deterministic).  A batch takes up to 16 pages from the head of the LRU,
 * zaps their PTEs and EBLOCKs them, then EWBs each into the enclave's
 * backing store (data at index*4096, PCMD at SIZE+4096 + index*128, the
 * SECS at index SIZE/4096) with a free VA slot, doing ETRACK and forcing
 * the threads inside out when EWB reports SGX_NOT_TRACKED.  An initialised
 * enclave whose last resident child went also has its SECS written back.
 *
 * A reclaim run for one operation leaves what that operation needs
 * (struct reclaim_keep): the SECS of its enclave, and for a fault the
 * threads' fault working sets (docs/kernel.md "EPC too small").  Otherwise
 * the batch could evict the very pages the operation is loading, and the
 * next fault would load them again by evicting the first: no progress,
 * forever.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static uint64_t backing_page(const struct sgx_encl *e, uint64_t idx)
{
	return (uint64_t)(uintptr_t)e->backing + idx * KPAGE;
}

static uint64_t backing_pcmd(const struct sgx_encl *e, uint64_t idx)
{
	return (uint64_t)(uintptr_t)e->backing + e->size + KPAGE + idx * sizeof(struct sgx_pcmd);
}

static uint64_t page_index(const struct sgx_encl *e, const struct encl_page *p)
{
	return (p->addr - e->base) >> 12;
}

static uint64_t secs_index(const struct sgx_encl *e)
{
	return e->size >> 12;
}

static struct hw_result ewb(struct sgx_encl *e, uint64_t pa, uint64_t idx, uint32_t slot)
{
	struct sgx_pageinfo pi = {.srcpge = backing_page(e, idx), .secinfo = backing_pcmd(e, idx)};
	return encls_ewb(e->k->m, NULL, (uint64_t)(uintptr_t)&pi, pa, encl_va_slot_pa(e, slot));
}

/* After a load: the VA slot, PCMD and blob are no longer needed ("backing truncated"). */
static void backing_drop(struct sgx_encl *e, uint64_t idx, uint32_t slot)
{
	encl_va_slot_free(e, slot);
	memset((void *)(uintptr_t)backing_pcmd(e, idx), 0, sizeof(struct sgx_pcmd));
	madvise((void *)(uintptr_t)backing_page(e, idx), KPAGE, MADV_DONTNEED);
}

static int eldu(struct sgx_encl *e, uint64_t pa, uint64_t linaddr, uint64_t secs, uint64_t idx, uint32_t slot)
{
	struct sgx_pageinfo pi = {
	    .linaddr = linaddr, .srcpge = backing_page(e, idx), .secinfo = backing_pcmd(e, idx), .secs = secs};
	struct hw_result r = encls_eldu(e->k->m, NULL, (uint64_t)(uintptr_t)&pi, pa, encl_va_slot_pa(e, slot));
	if (!hw_is_ok(r)) {
		char buf[64];
		hw_result_format(r, buf, sizeof(buf));
		fprintf(stderr, "sgxemu: ELDU of enclave page %#llx failed: %s\n", (unsigned long long)linaddr, buf);
		return -EFAULT;
	}
	backing_drop(e, idx, slot);
	return 0;
}

int encl_eldu_secs(struct sgx_encl *e)
{
	if (e->secs_resident)
		return 0;
	int ret = sgx_epc_get(e->k, false);
	if (ret)
		return ret;
	ret = eldu(e, e->secs_pa, 0, 0, secs_index(e), e->secs_va_slot);
	if (ret) {
		sgx_epc_put(e->k);
		return ret;
	}
	e->secs_resident = true;
	return 0;
}

int encl_eldu(struct sgx_encl *e, struct encl_page *p)
{
	int ret = encl_eldu_secs(e);
	if (ret)
		return ret;
	ret = sgx_epc_get(e->k, false);
	if (ret)
		return ret;
	ret = eldu(e, encl_frame(e, p->addr), p->addr, e->secs_pa, page_index(e, p), p->va_slot);
	if (ret) {
		sgx_epc_put(e->k);
		return ret;
	}
	p->resident = true;
	e->children++;
	lru_add(e->k, p);
	return 0;
}

/* EWB with the driver's retries: ETRACK on SGX_NOT_TRACKED, then force the threads out. */
static struct hw_result ewb_tracked(struct sgx_encl *e, uint64_t pa, uint64_t idx, uint32_t slot)
{
	struct hw_result r = ewb(e, pa, idx, slot);
	if (hw_is_code(r, SGX_NOT_TRACKED)) {
		encls_etrack(e->k->m, e->secs_pa);
		r = ewb(e, pa, idx, slot);
		if (hw_is_code(r, SGX_NOT_TRACKED)) {
			encl_kick_threads(e);
			r = ewb(e, pa, idx, slot);
		}
	}
	return r;
}

/* The SECS goes too once an initialised enclave has no resident child, unless the operation reclaiming needs it. */
static void evict_secs(struct sgx_encl *e, const struct reclaim_keep *keep)
{
	if (e->children || !e->secs_resident || !(e->flags & ENCL_INITIALIZED))
		return;
	if (keep && keep->encl == e)
		return;
	uint32_t slot;
	if (!encl_va_slot_alloc(e, &slot))
		return;
	struct hw_result r = ewb(e, e->secs_pa, secs_index(e), slot);
	if (!hw_is_ok(r)) {
		encl_va_slot_free(e, slot);
		return;
	}
	e->secs_resident = false;
	e->secs_va_slot = slot;
	sgx_epc_put(e->k);
}

/* Write one blocked page back. Return: true if it left the EPC. */
static bool evict_page(struct sgx_encl *e, struct encl_page *p, const struct reclaim_keep *keep)
{
	uint32_t slot;
	if (!encl_va_slot_alloc(e, &slot))
		return false;
	struct hw_result r = ewb_tracked(e, encl_frame(e, p->addr), page_index(e, p), slot);
	if (!hw_is_ok(r)) {
		char buf[64];
		hw_result_format(r, buf, sizeof(buf));
		fprintf(stderr, "sgxemu: EWB of enclave page %#llx failed: %s (page kept)\n",
			(unsigned long long)p->addr, buf);
		encl_va_slot_free(e, slot);
		return false;
	}
	p->resident = false;
	p->va_slot = slot;
	e->children--;
	sgx_epc_put(e->k);
	evict_secs(e, keep);
	return true;
}

static void test_step(struct sgxk *k, enum sgxk_test_reclaim_step step)
{
	if (k->test.reclaim)
		k->test.reclaim(k, step, k->test.reclaim_arg);
}

/*
 * Take p off the LRU for a batch, with a reference on its enclave
 * (k->lru_lock held).  Return: false if the enclave is being released: p
 * leaves the LRU for good, the teardown frees it.
 */
static bool isolate(struct sgxk *k, struct encl_page *p)
{
	lru_unlink(k, p);
	if (!encl_get_unless_zero(p->encl))
		return false;
	p->reclaiming = true;
	k->nr_isolated++;
	return true;
}

/*
 * Isolate up to max pages from the head of the LRU, passing over the pages
 * of the fault working sets keep names.  The scan is bounded by the LRU's
 * length; the pages passed over keep their place.
 */
static unsigned isolate_batch(struct sgxk *k, struct encl_page **batch, unsigned max, const struct reclaim_keep *keep)
{
	enum reclaim_ws ws = keep ? keep->ws : KEEP_NO_WS;
	uint64_t owner = ws == KEEP_OWN_WS ? keep->owner : 0;
	unsigned n = 0;
	pthread_mutex_lock(&k->lru_lock);
	if (ws != KEEP_NO_WS)
		pthread_mutex_lock(&k->ws_lock);
	for (struct encl_page *p = k->lru_head, *next; p && n < max; p = next) {
		next = p->lru_next;
		if (ws != KEEP_NO_WS && fault_ws_holds(k, p, owner))
			continue;
		if (isolate(k, p))
			batch[n++] = p;
	}
	if (ws != KEEP_NO_WS)
		pthread_mutex_unlock(&k->ws_lock);
	pthread_mutex_unlock(&k->lru_lock);
	return n;
}

bool reclaim_in_progress(struct sgxk *k)
{
	pthread_mutex_lock(&k->lru_lock);
	bool busy = k->nr_isolated != 0;
	pthread_mutex_unlock(&k->lru_lock);
	return busy;
}

/* Block, track and write back the n isolated pages of batch. Return: how many left the EPC. */
static unsigned reclaim_batch(struct sgxk *k, struct encl_page **batch, unsigned n, const struct reclaim_keep *keep)
{
	unsigned done = 0;
	test_step(k, SGXK_TEST_RECLAIM_ISOLATED);

	/* Mark and block every page of the batch: no new TLB entries from here on. */
	for (unsigned i = 0; i < n; i++) {
		struct encl_page *p = batch[i];
		struct sgx_encl *e = p->encl;
		pthread_mutex_lock(&e->lock);
		p->being_reclaimed = true;
		vma_zap_page(e, p);
		encls_eblock(k->m, encl_frame(e, p->addr));
		pthread_mutex_unlock(&e->lock);
	}
	test_step(k, SGXK_TEST_RECLAIM_BLOCKED);
	for (unsigned i = 0; i < n; i++) {
		struct encl_page *p = batch[i];
		struct sgx_encl *e = p->encl;
		pthread_mutex_lock(&e->lock);
		bool gone = evict_page(e, p, keep);
		p->being_reclaimed = false;
		pthread_mutex_lock(&k->lru_lock);
		p->reclaiming = false;
		k->nr_isolated--;
		pthread_mutex_unlock(&k->lru_lock);
		if (!gone)
			lru_add(k, p);
		pthread_mutex_unlock(&e->lock);
		encl_put(e);
		done += gone;
	}
	test_step(k, SGXK_TEST_RECLAIM_DONE);
	return done;
}

unsigned reclaim_pages(struct sgxk *k, unsigned pages, const struct reclaim_keep *keep)
{
	unsigned done = 0;
	/* Bounded: every round evicts a page at least (else it stops), and at most `pages` go. */
	while (done < pages) {
		struct encl_page *batch[SGX_NR_TO_SCAN];
		uint64_t t0 = sgxk_obs_begin();
		unsigned max = pages - done < SGX_NR_TO_SCAN ? pages - done : SGX_NR_TO_SCAN;
		unsigned n = isolate_batch(k, batch, max, keep);
		if (!n)
			break;
		unsigned before = done;
		done += reclaim_batch(k, batch, n, keep);
		if (__builtin_expect(t0 != 0, 0)) {
			const struct sgxk_obs *o = __atomic_load_n(&sgxk_obs, __ATOMIC_RELAXED);
			if (o)
				o->reclaim(k, n, done - before, t0);
		}
		/* Nothing of a whole batch could go: stop instead of cycling through the same pages. */
		if (done == before)
			break;
	}
	return done;
}

int sgxk_evict(struct sgxk *k, uint64_t addr)
{
	addr &= ~(uint64_t)(KPAGE - 1);
	/* The VMA's enclave, kept alive: an enclave is freed only after its last VMA and file are gone. */
	pthread_mutex_lock(&k->pt_lock);
	struct sgx_vma *v = vma_find(k, addr);
	struct sgx_encl *e = v ? v->encl : NULL;
	bool got = e && encl_get_unless_zero(e);
	pthread_mutex_unlock(&k->pt_lock);
	if (!got)
		return -ENOENT;
	int ret = -ENOENT;
	struct encl_page *batch[1];
	pthread_mutex_lock(&e->lock);
	struct encl_page *p = encl_in_range(e, addr) ? encl_page_at(e, addr) : NULL;
	if (p && p->resident) {
		pthread_mutex_lock(&k->lru_lock);
		if (!p->on_lru)
			ret = -EBUSY; /* isolated by the reclaimer, or pinned (a SECS, a TCS in use) */
		else if (isolate(k, p))
			ret = 0;
		pthread_mutex_unlock(&k->lru_lock);
	}
	pthread_mutex_unlock(&e->lock);
	encl_put(e);
	if (ret)
		return ret;
	uint64_t t0 = sgxk_obs_begin();
	batch[0] = p;
	unsigned done = reclaim_batch(k, batch, 1, NULL);
	if (__builtin_expect(t0 != 0, 0)) {
		const struct sgxk_obs *o = __atomic_load_n(&sgxk_obs, __ATOMIC_RELAXED);
		if (o)
			o->reclaim(k, 1, done, t0);
	}
	return done ? 0 : -EBUSY;
}

unsigned sgxk_reclaim(struct sgxk *k, unsigned pages)
{
	return reclaim_pages(k, pages, NULL);
}
