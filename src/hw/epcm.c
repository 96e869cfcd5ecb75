/* SPDX-License-Identifier: MIT */
/* The EPCM, per-enclave hardware state, and operand access for all leaves. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

struct epcm_entry *epcm_peek(struct hw_machine *m, uint64_t pa)
{
	uint64_t f = hw_frame_index(m, pa);
	struct epcm_entry *chunk = m->epcm[f >> EPCM_CHUNK_SHIFT];
	return chunk ? &chunk[f & (EPCM_CHUNK_FRAMES - 1)] : NULL;
}

struct epcm_entry *epcm_entry(struct hw_machine *m, uint64_t pa)
{
	uint64_t f = hw_frame_index(m, pa);
	struct epcm_entry **chunk = &m->epcm[f >> EPCM_CHUNK_SHIFT];
	if (!*chunk) {
		*chunk = calloc(EPCM_CHUNK_FRAMES, sizeof(**chunk));
		if (!*chunk) {
			/* The EPCM is the CPU's own memory: without it there is no machine. */
			fprintf(stderr, "sgxemu: out of memory for the EPCM\n");
			abort();
		}
	}
	return &(*chunk)[f & (EPCM_CHUNK_FRAMES - 1)];
}

static bool kept_find(const struct hw_machine *m, uint64_t pa, size_t *slot);
static void kept_remove_at(struct hw_machine *m, size_t i);

void epcm_set_valid(struct hw_machine *m, uint64_t pa, struct epcm_entry *e)
{
	size_t slot;
	/* A kept frame in use again: its memory is the page's now. */
	if (atomic_load(&m->kept_count) && kept_find(m, HW_PAGE_DOWN(pa), &slot))
		kept_remove_at(m, slot);
	e->valid = 1;
	if (e->pt != SGX_PT_SECS && e->pt != SGX_PT_VA) {
		struct secs_priv *p = secs_priv_of(m, e->enclave_secs);
		p->child_count++;
	}
}

static void invalidate(struct hw_machine *m, struct epcm_entry *e)
{
	if (e->pt != SGX_PT_SECS && e->pt != SGX_PT_VA) {
		struct secs_priv *p = secs_priv_of(m, e->enclave_secs);
		if (p->child_count == 0) {
			fprintf(stderr, "sgxemu: EPCM child count underflow\n");
			abort();
		}
		p->child_count--;
	}
	*e = (struct epcm_entry){0};
}

/* Is pa in a window being torn down, whose memory goes in one step when it is freed (m->lock held)? */
static bool retiring(const struct hw_machine *m, uint64_t pa)
{
	for (unsigned i = 0; i < m->nretiring; i++)
		if (pa - m->retiring[i].pa < m->retiring[i].size)
			return true;
	return false;
}

bool epcm_frame_may_hold_data(const struct hw_machine *m, uint64_t pa)
{
	return retiring(m, pa);
}

void epcm_invalidate(struct hw_machine *m, uint64_t pa, struct epcm_entry *e)
{
	invalidate(m, e);
	if (retiring(m, pa))
		return;
	/* The frame's memory goes back to the system; a later user sees zeros. */
	fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)hw_epc_offset(m, HW_PAGE_DOWN(pa)),
		  SGX_PAGE_SIZE);
}

/* ---- frames kept by EWB: a set of physical addresses (linear probing) ---- */

static size_t kept_home(const struct hw_machine *m, uint64_t pa)
{
	return (size_t)(((pa >> 12) * 0x9E3779B97F4A7C15ULL) >> 17) & m->kept_mask;
}

static bool kept_find(const struct hw_machine *m, uint64_t pa, size_t *slot)
{
	for (size_t i = kept_home(m, pa);; i = (i + 1) & m->kept_mask) {
		if (m->kept[i] == pa) {
			*slot = i;
			return true;
		}
		if (!m->kept[i])
			return false;
	}
}

/* Empty slot i, moving back the entries after it that probed past it. */
static void kept_remove_at(struct hw_machine *m, size_t i)
{
	for (size_t j = i;;) {
		j = (j + 1) & m->kept_mask;
		if (!m->kept[j])
			break;
		size_t k = kept_home(m, m->kept[j]);
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays)
			continue;
		m->kept[i] = m->kept[j];
		i = j;
	}
	m->kept[i] = 0;
	atomic_fetch_sub(&m->kept_count, 1);
}

static void kept_insert(struct hw_machine *m, uint64_t pa)
{
	size_t i = kept_home(m, pa);
	while (m->kept[i])
		i = (i + 1) & m->kept_mask;
	m->kept[i] = pa;
	atomic_fetch_add(&m->kept_count, 1);
}

static void punch(struct hw_machine *m, uint64_t pa)
{
	fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)hw_epc_offset(m, pa), SGX_PAGE_SIZE);
}

void epcm_invalidate_keep(struct hw_machine *m, uint64_t pa, struct epcm_entry *e)
{
	invalidate(m, e);
	pa = HW_PAGE_DOWN(pa);
	size_t kept = atomic_load(&m->kept_count);
	/* Kept within the capacity the frames in use leave free, and the cap; else as epcm_invalidate. */
	if (kept >= m->kept_limit || atomic_load(&m->frames_used) + kept + 1 > m->frames_total) {
		punch(m, pa);
		return;
	}
	/* Zeros as after epcm_invalidate, the memory kept. */
	memset(hw_pa_ptr(m, pa), 0, SGX_PAGE_SIZE);
	kept_insert(m, pa);
}

void epcm_kept_trim(struct hw_machine *m, uint64_t used)
{
	while (atomic_load(&m->kept_count) && used + atomic_load(&m->kept_count) > m->frames_total) {
		while (!m->kept[m->kept_cursor])
			m->kept_cursor = (m->kept_cursor + 1) & m->kept_mask;
		punch(m, m->kept[m->kept_cursor]);
		kept_remove_at(m, m->kept_cursor);
	}
}

void epcm_kept_forget(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	if (!atomic_load(&m->kept_count))
		return;
	size_t slot;
	if (len <= 64 * SGX_PAGE_SIZE) {
		for (uint64_t a = HW_PAGE_DOWN(pa); a < pa + len; a += SGX_PAGE_SIZE)
			if (kept_find(m, a, &slot))
				kept_remove_at(m, slot);
		return;
	}
	/* A whole window: every entry in it (removal moves entries back: look at the same slot again). */
	for (size_t i = 0; i <= m->kept_mask;) {
		uint64_t a = m->kept[i];
		if (a && a >= pa && a - pa < len)
			kept_remove_at(m, i);
		else
			i++;
	}
}

bool hw_secs_valid(struct hw_machine *m, uint64_t secs_pa)
{
	if (!hw_is_epc(m, secs_pa) || !HW_ALIGNED(secs_pa, SGX_PAGE_SIZE))
		return false;
	struct epcm_entry *e = epcm_peek(m, secs_pa);
	return e && e->valid && e->pt == SGX_PT_SECS;
}

struct secs_priv *secs_priv_of(struct hw_machine *m, uint64_t secs_pa)
{
	struct secs_priv *p;
	memcpy(&p, (uint8_t *)hw_pa_ptr(m, secs_pa) + SECS_PRIV_OFFSET, sizeof(p));
	return p;
}

struct secs_priv *secs_priv_new(struct hw_machine *m, uint64_t secs_pa)
{
	struct secs_priv *p = calloc(1, sizeof(*p));
	if (!p) {
		fprintf(stderr, "sgxemu: out of memory for enclave state\n");
		abort();
	}
	p->eid = m->next_eid++;
	p->mr = crypto_sha256_new();
	p->next_all = m->all_secs;
	if (m->all_secs)
		m->all_secs->prev_all = &p->next_all;
	p->prev_all = &m->all_secs;
	m->all_secs = p;
	memcpy((uint8_t *)hw_pa_ptr(m, secs_pa) + SECS_PRIV_OFFSET, &p, sizeof(p));
	return p;
}

void secs_priv_free(struct hw_machine *m, struct secs_priv *p)
{
	(void)m;
	*p->prev_all = p->next_all;
	if (p->next_all)
		p->next_all->prev_all = p->prev_all;
	crypto_sha256_free(p->mr);
	free(p);
}

/* The view of the entry of pa (m->lock held). */
static struct hw_epcm_view epcm_view(struct hw_machine *m, uint64_t pa)
{
	struct epcm_entry *e = epcm_peek(m, pa);
	if (!e)
		return (struct hw_epcm_view){0};
	return (struct hw_epcm_view){.valid = e->valid,
				     .r = e->r,
				     .w = e->w,
				     .x = e->x,
				     .blocked = e->blocked,
				     .pending = e->pending,
				     .modified = e->modified,
				     .pr = e->pr,
				     .pt = e->pt,
				     .enclave_address = e->enclave_address,
				     .enclave_secs = e->enclave_secs};
}

bool hw_epcm_get(struct hw_machine *m, uint64_t pa, struct hw_epcm_view *out)
{
	if (!hw_is_epc(m, pa))
		return false;
	hw_mutex_lock(&m->lock);
	*out = epcm_view(m, pa);
	hw_mutex_unlock(&m->lock);
	return true;
}

int hw_epcm_get_try(struct hw_machine *m, uint64_t pa, struct hw_epcm_view *out)
{
	if (!hw_is_epc(m, pa))
		return 0;
	if (!hw_mutex_trylock(&m->lock))
		return -EBUSY;
	*out = epcm_view(m, pa);
	hw_mutex_unlock(&m->lock);
	return 1;
}

bool hw_secs_get(struct hw_machine *m, uint64_t secs_pa, struct hw_secs_view *out)
{
	hw_mutex_lock(&m->lock);
	bool ok = hw_secs_valid(m, secs_pa);
	if (ok) {
		struct secs_priv *p = secs_priv_of(m, secs_pa);
		memset(out, 0, sizeof(*out));
		memcpy(&out->secs, secs_of(m, secs_pa), sizeof(out->secs));
		memset(out->secs.reserved4, 0, sizeof(out->secs.reserved4));
		out->eid = p->eid;
		out->initialized = (out->secs.attributes & SGX_ATTR_INIT) != 0;
		out->child_count = p->child_count;
		out->epoch = p->epoch;
		if (out->initialized)
			memcpy(out->mrenclave_now, out->secs.mrenclave, 32);
		else
			crypto_sha256_peek(p->mr, out->mrenclave_now);
		for (struct hw_thread *t = p->inside; t; t = t->next_inside)
			out->threads_inside++;
	}
	hw_mutex_unlock(&m->lock);
	return ok;
}

bool hw_translate(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, struct hw_result *fault)
{
	if (!mmu) {
		*pa = lin;
		return true;
	}
	uint32_t err = 0;
	if (mmu->translate(mmu, lin, acc, pa, &err))
		return true;
	if (acc & HW_ACC_USER)
		err |= PF_U;
	if (acc & HW_ACC_W)
		err |= PF_W;
	if (acc & HW_ACC_X)
		err |= PF_I;
	*fault = hw_pf(lin, err);
	return false;
}

bool hw_thread_translate(struct hw_thread *t, uint64_t lin, unsigned acc, uint64_t *pa, struct hw_result *fault)
{
	const struct hw_mmu *mmu = t->mmu;
	if (!mmu || !mmu->gen) {
		if (t->tlb_only) {
			*fault = hw_gp();
			return false;
		}
		return hw_translate(mmu, lin, acc, pa, fault);
	}
	uint64_t page = HW_PAGE_DOWN(lin);
	uint64_t gen = atomic_load_explicit(mmu->gen, memory_order_acquire);
	for (unsigned i = 0; i < HW_TLB_ENTRIES; i++) {
		const struct hw_tlb_entry *e = &t->tlb[i];
		if (e->page == page && e->acc == acc && e->gen == gen && e->mmu == mmu) {
			*pa = e->pa | (lin & 0xFFF);
			return true;
		}
	}
	if (t->tlb_only) {
		*fault = hw_gp();
		return false;
	}
	if (!hw_translate(mmu, lin, acc, pa, fault))
		return false;
	/* Only EPC: the OS's counter says nothing of ordinary process memory, which the host maps as it likes. */
	if (hw_is_epc(t->m, *pa)) {
		t->tlb[t->tlb_next] =
		    (struct hw_tlb_entry){.mmu = mmu, .page = page, .pa = HW_PAGE_DOWN(*pa), .gen = gen, .acc = acc};
		t->tlb_next = (t->tlb_next + 1) % HW_TLB_ENTRIES;
	}
	return true;
}

/* Copy between a buffer and linear memory; EPC seen from outside reads all-ones, drops writes. */
static bool hw_copy_mem(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t lin, void *buf, size_t len,
			unsigned acc, bool write, struct hw_result *fault)
{
	uint8_t *b = buf;
	while (len) {
		size_t n = SGX_PAGE_SIZE - (lin & 0xFFF);
		if (n > len)
			n = len;
		uint64_t pa;
		if (!hw_translate(mmu, lin, acc | (write ? HW_ACC_W : HW_ACC_R), &pa, fault))
			return false;
		if (hw_is_epc(m, pa)) {
			if (!write)
				memset(b, 0xFF, n);
		} else if (write) {
			memcpy((void *)(uintptr_t)pa, b, n);
		} else {
			memcpy(b, (const void *)(uintptr_t)pa, n);
		}
		b += n;
		lin += n;
		len -= n;
	}
	return true;
}

bool hw_read_mem(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t lin, void *buf, size_t len, unsigned acc,
		 struct hw_result *fault)
{
	return hw_copy_mem(m, mmu, lin, buf, len, acc & ~HW_ACC_W, false, fault);
}

bool hw_write_mem(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t lin, const void *buf, size_t len,
		  unsigned acc, struct hw_result *fault)
{
	return hw_copy_mem(m, mmu, lin, (void *)buf, len, acc, true, fault);
}

bool hw_tcs_ssa(struct hw_machine *m, uint64_t pa, uint32_t *cssa, uint32_t *nssa)
{
	if (!hw_is_epc(m, pa))
		return false;
	hw_mutex_lock(&m->lock);
	const struct epcm_entry *e = epcm_peek(m, HW_PAGE_DOWN(pa));
	bool ok = e && e->valid && e->pt == SGX_PT_TCS;
	if (ok) {
		const struct sgx_tcs *tcs = hw_pa_ptr(m, HW_PAGE_DOWN(pa));
		*cssa = tcs->cssa;
		*nssa = tcs->nssa;
	}
	hw_mutex_unlock(&m->lock);
	return ok;
}
