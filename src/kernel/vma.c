/* SPDX-License-Identifier: MIT */
/*
 * Enclave mappings (spec/linux-driver.md §4): mmap/mprotect/munmap of the
 * enclave file, the per-page PTEs, and the host mappings that make them
 * real.
 *
 * A VMA is backed by a real host mapping over the same addresses: inside
 * the enclave's ELRANGE a MAP_SHARED|MAP_FIXED mapping of the EPC memfd
 * (frame of address a = window + (a - BASE)), elsewhere (and before
 * ECREATE) an inaccessible anonymous reservation.  The host protection of
 * each enclave page is PTE ∩ VMA prot ∩ EPCM permissions, and PROT_NONE
 * without a PTE or while the page is evicted, PENDING, MODIFIED, BLOCKED,
 * TRIM or a TCS.  Adjacent pages with equal protection have adjacent
 * offsets in the memfd, so the host merges them into one mapping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>

#include "internal.h"

struct sgx_vma *vma_find(struct sgxk *k, uint64_t addr)
{
	for (struct sgx_vma *v = k->vmas; v && v->start <= addr; v = v->next)
		if (addr < v->end)
			return v;
	return NULL;
}

struct sgx_encl *vma_encl_at(struct sgxk *k, uint64_t addr, int *prot)
{
	pthread_mutex_lock(&k->pt_lock);
	struct sgx_vma *v = vma_find(k, addr);
	struct sgx_encl *e = v ? v->encl : NULL;
	*prot = v ? v->prot : PROT_NONE;
	pthread_mutex_unlock(&k->pt_lock);
	return e;
}

bool sgxk_owns(struct sgxk *k, uint64_t addr)
{
	pthread_mutex_lock(&k->pt_lock);
	bool r = vma_find(k, addr) != NULL;
	pthread_mutex_unlock(&k->pt_lock);
	return r;
}

/* EPCM permissions a native access may use now (PROT_*), 0 when the EPCM forbids every access. */
static int epcm_prot(struct sgx_encl *e, const struct encl_page *p)
{
	struct hw_epcm_view v;
	if (!p->resident || !hw_epcm_get(e->k->m, encl_frame(e, p->addr), &v))
		return PROT_NONE;
	if (!v.valid || v.pt != SGX_PT_REG || v.pending || v.modified || v.blocked)
		return PROT_NONE;
	return (v.r ? PROT_READ : 0) | (v.w ? PROT_WRITE : 0) | (v.x ? PROT_EXEC : 0);
}

/* Apply prot to p's host page if it changed (k->pt_lock held). */
static void host_set(struct sgx_encl *e, struct encl_page *p, int prot)
{
	if (p->host_prot == prot)
		return;
	/* Every protection change carries the enclave's key (a plain PROT_EXEC mprotect would pick Linux's own). */
	int r = e->pkey >= 0 ? pkey_mprotect((void *)(uintptr_t)p->addr, KPAGE, prot, e->pkey)
			     : mprotect((void *)(uintptr_t)p->addr, KPAGE, prot);
	if (r < 0) {
		fprintf(stderr, "sgxemu: mprotect of enclave page %#llx: %s\n", (unsigned long long)p->addr,
			strerror(errno));
		abort();
	}
	p->host_prot = (uint8_t)prot;
}

void vma_refresh_page(struct sgx_encl *e, struct encl_page *p)
{
	int epcm = epcm_prot(e, p);
	pthread_mutex_lock(&e->k->pt_lock);
	struct sgx_vma *v = vma_find(e->k, p->addr);
	if (v && v->encl == e)
		host_set(e, p, p->pte ? (v->prot & epcm) : PROT_NONE);
	pthread_mutex_unlock(&e->k->pt_lock);
}

void vma_zap_page(struct sgx_encl *e, struct encl_page *p)
{
	pthread_mutex_lock(&e->k->pt_lock);
	p->pte = false;
	struct sgx_vma *v = vma_find(e->k, p->addr);
	if (v && v->encl == e)
		host_set(e, p, PROT_NONE);
	else
		p->host_prot = PROT_NONE;
	pthread_mutex_unlock(&e->k->pt_lock);
}

/* Forget the PTEs of e's pages in [a, b) after their host mapping was replaced (k->pt_lock held). */
static void ptes_reset(struct sgx_encl *e, uint64_t a, uint64_t b)
{
	if (!(e->flags & ENCL_CREATED))
		return;
	uint64_t lo = a > e->base ? a : e->base, hi = b < e->base + e->size ? b : e->base + e->size;
	for (uint64_t addr = lo; addr < hi; addr += KPAGE) {
		uint64_t idx = (addr - e->base) >> 12;
		struct encl_page **c = e->chunks[idx / ENCL_CHUNK];
		if (!c) {
			/* Skip the rest of an empty chunk. */
			addr = e->base + ((idx / ENCL_CHUNK + 1) * ENCL_CHUNK << 12) - KPAGE;
			continue;
		}
		struct encl_page *p = c[idx % ENCL_CHUNK];
		if (p) {
			p->pte = false;
			p->host_prot = PROT_NONE;
		}
	}
}

static void host_mmap(void *addr, size_t len, int flags, int fd, off_t off)
{
	void *r = mmap(addr, len, PROT_NONE, flags | MAP_FIXED, fd, off);
	if (r == MAP_FAILED) {
		fprintf(stderr, "sgxemu: mapping enclave range %p+%#zx: %s\n", addr, len, strerror(errno));
		abort();
	}
	/* A forked child must not share the enclave (Linux gives it none either). */
	madvise(addr, len, MADV_DONTFORK);
}

/* Make [a, b) of an enclave VMA real on the host, all PROT_NONE (k->pt_lock held). */
static void host_map(struct sgx_encl *e, uint64_t a, uint64_t b, bool only_elrange)
{
	uint64_t lo = a, hi = b;
	if (e->flags & ENCL_CREATED) {
		lo = a > e->base ? a : e->base;
		hi = b < e->base + e->size ? b : e->base + e->size;
	}
	if ((e->flags & ENCL_CREATED) && lo < hi) {
		off_t off = (off_t)(hw_epc_offset(e->k->m, e->window) + (lo - e->base));
		host_mmap((void *)(uintptr_t)lo, hi - lo, MAP_SHARED, hw_epc_fd(e->k->m), off);
		ptes_reset(e, lo, hi);
	} else {
		lo = hi = b;
	}
	if (only_elrange)
		return;
	int anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	if (a < lo)
		host_mmap((void *)(uintptr_t)a, (lo < b ? lo : b) - a, anon, -1, 0);
	if (hi < b && hi >= a)
		host_mmap((void *)(uintptr_t)hi, b - hi, anon, -1, 0);
}

void vma_attach_encl(struct sgx_encl *e)
{
	pthread_mutex_lock(&e->k->pt_lock);
	e->next_pt = e->k->pt_encls;
	e->k->pt_encls = e;
	for (struct sgx_vma *v = e->k->vmas; v; v = v->next)
		if (v->encl == e)
			host_map(e, v->start, v->end, true);
	pthread_mutex_unlock(&e->k->pt_lock);
}

/* Call fn on every page record of e in [a, b), taking encl->lock per page. */
static int for_each_page(struct sgx_encl *e, uint64_t a, uint64_t b,
			 int (*fn)(struct sgx_encl *, struct encl_page *, void *), void *arg)
{
	if (!(e->flags & ENCL_CREATED))
		return 0;
	uint64_t lo = a > e->base ? a : e->base, hi = b < e->base + e->size ? b : e->base + e->size;
	for (uint64_t addr = lo; addr < hi; addr += KPAGE) {
		uint64_t idx = (addr - e->base) >> 12;
		if (!e->chunks[idx / ENCL_CHUNK]) {
			addr = e->base + ((idx / ENCL_CHUNK + 1) * ENCL_CHUNK << 12) - KPAGE;
			continue;
		}
		pthread_mutex_lock(&e->lock);
		struct encl_page *p = encl_page_at(e, addr);
		int ret = p ? fn(e, p, arg) : 0;
		pthread_mutex_unlock(&e->lock);
		if (ret)
			return ret;
	}
	return 0;
}

static int may_map_page(struct sgx_encl *e, struct encl_page *p, void *arg)
{
	int prot = *(int *)arg;
	if (prot & ~p->max_prot)
		return -EACCES;
	if (!policy_prot_allowed(e, p, prot))
		return -EACCES;
	return 0;
}

int encl_may_map(struct sgx_encl *e, uint64_t start, uint64_t end, int prot)
{
	int pers = personality(0xffffffff);
	if (pers != -1 && (pers & READ_IMPLIES_EXEC))
		return -EACCES;
	pthread_mutex_lock(&e->lock);
	bool init = e->flags & ENCL_INITIALIZED;
	uint64_t base = e->base, size = e->size;
	pthread_mutex_unlock(&e->lock);
	if (init && (start < base || end > base + size))
		return -EACCES;
	return for_each_page(e, start, end, may_map_page, &prot);
}

static int refresh_page(struct sgx_encl *e, struct encl_page *p, void *arg)
{
	(void)arg;
	vma_refresh_page(e, p);
	return 0;
}

/* Insert v in the sorted list (k->pt_lock held). */
static void vma_link(struct sgxk *k, struct sgx_vma *v)
{
	struct sgx_vma **pp = &k->vmas;
	while (*pp && (*pp)->start < v->start)
		pp = &(*pp)->next;
	v->next = *pp;
	*pp = v;
}

/* Split v at addr (inside it): v keeps [start, addr), the new VMA gets [addr, end) (k->pt_lock held). */
static struct sgx_vma *vma_split(struct sgx_vma *v, uint64_t addr)
{
	struct sgx_vma *n = malloc(sizeof(*n));
	if (!n) {
		fprintf(stderr, "sgxemu: out of memory splitting an enclave mapping\n");
		abort();
	}
	*n = *v;
	n->start = addr;
	v->end = addr;
	v->next = n;
	encl_get(n->encl);
	return n;
}

/* Cut the VMAs so that [a, b) starts and ends on VMA boundaries; return whether any VMA intersects. */
static bool vma_isolate(struct sgxk *k, uint64_t a, uint64_t b)
{
	bool any = false;
	pthread_mutex_lock(&k->pt_lock);
	for (struct sgx_vma *v = k->vmas; v && v->start < b; v = v->next) {
		if (v->end <= a)
			continue;
		any = true;
		if (v->start < a) {
			vma_split(v, a);
			continue; /* the next iteration sees the part at a */
		}
		if (v->end > b)
			vma_split(v, b);
	}
	pthread_mutex_unlock(&k->pt_lock);
	return any;
}

/* Remove our VMAs in [a, b) (already isolated); host_unmap: also unmap the host range. */
static void vma_remove_range(struct sgxk *k, uint64_t a, uint64_t b, bool host_unmap)
{
	for (;;) {
		pthread_mutex_lock(&k->pt_lock);
		struct sgx_vma *v = k->vmas;
		while (v && !(v->start >= a && v->end <= b))
			v = v->next;
		pthread_mutex_unlock(&k->pt_lock);
		if (!v)
			return;
		struct sgx_encl *e = v->encl;
		/* Zap the PTEs (host PROT_NONE), then the mapping goes. */
		pthread_mutex_lock(&e->lock);
		pthread_mutex_lock(&k->pt_lock);
		ptes_reset(e, v->start, v->end);
		for (struct sgx_vma **pp = &k->vmas; *pp; pp = &(*pp)->next) {
			if (*pp == v) {
				*pp = v->next;
				break;
			}
		}
		if (host_unmap)
			munmap((void *)(uintptr_t)v->start, v->end - v->start);
		pthread_mutex_unlock(&k->pt_lock);
		pthread_mutex_unlock(&e->lock);
		free(v);
		encl_put(e);
	}
}

long sgx_file_mmap(struct sgx_file *f, uint64_t addr, size_t len, int prot, int flags, off_t off)
{
	(void)off; /* pages are found by address; the offset is ignored */
	struct sgxk *k = f->k;
	if (f->dev != SGX_DEV_ENCLAVE)
		return -ENODEV;
	if (!len || (prot & ~KPROT_RWX))
		return -EINVAL;
	uint64_t rlen = (len + KPAGE - 1) & ~(KPAGE - 1);
	if (rlen < len)
		return -ENOMEM;
	int type = flags & MAP_TYPE;
	if (type == MAP_PRIVATE)
		return -EINVAL;
	if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
		return -EINVAL;
	bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	if (fixed && (addr & (KPAGE - 1)))
		return -EINVAL;
	if ((prot & PROT_EXEC) && k->cfg.noexec_dev)
		return -EPERM;

	struct sgx_encl *e = f->encl;
	pthread_mutex_lock(&k->mm_lock);
	uint64_t start = addr;
	if (!fixed) {
		void *r =
		    mmap((void *)(uintptr_t)addr, rlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (r == MAP_FAILED) {
			pthread_mutex_unlock(&k->mm_lock);
			return -ENOMEM;
		}
		start = (uint64_t)(uintptr_t)r;
	} else if (flags & MAP_FIXED_NOREPLACE) {
		/*
		 * Linux refuses before the driver sees the call if anything is
		 * mapped there: an enclave mapping, or any mapping of the
		 * process.  The host's own MAP_FIXED_NOREPLACE answers for the
		 * latter and holds the range until the enclave mapping
		 * replaces it.
		 */
		if (vma_isolate(k, start, start + rlen)) {
			pthread_mutex_unlock(&k->mm_lock);
			return -EEXIST;
		}
		void *r = mmap((void *)(uintptr_t)start, rlen, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (r != (void *)(uintptr_t)start) {
			int err = r == MAP_FAILED ? errno : EEXIST;
			if (r != MAP_FAILED) /* a kernel before 4.17 took the flag for a hint */
				munmap(r, rlen);
			pthread_mutex_unlock(&k->mm_lock);
			return -err;
		}
	}
	bool placeholder = !fixed || (flags & MAP_FIXED_NOREPLACE);
	int ret = encl_may_map(e, start, start + rlen, prot);
	if (ret) {
		if (placeholder)
			munmap((void *)(uintptr_t)start, rlen);
		pthread_mutex_unlock(&k->mm_lock);
		return ret;
	}
	/* MAP_FIXED replaces what was there, our mappings included. */
	if (vma_isolate(k, start, start + rlen))
		vma_remove_range(k, start, start + rlen, false);

	struct sgx_vma *v = calloc(1, sizeof(*v));
	if (!v) {
		if (placeholder)
			munmap((void *)(uintptr_t)start, rlen);
		pthread_mutex_unlock(&k->mm_lock);
		return -ENOMEM;
	}
	*v = (struct sgx_vma){.start = start, .end = start + rlen, .prot = prot, .encl = e};
	encl_get(e);
	pthread_mutex_lock(&e->lock);
	pthread_mutex_lock(&k->pt_lock);
	vma_link(k, v);
	host_map(e, v->start, v->end, false);
	pthread_mutex_unlock(&k->pt_lock);
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_unlock(&k->mm_lock);
	return (long)start;
}

int sgxk_mprotect(struct sgxk *k, uint64_t addr, size_t len, int prot)
{
	if (addr & (KPAGE - 1))
		return -EINVAL;
	if (prot & ~KPROT_RWX)
		return -EINVAL;
	uint64_t end = addr + ((len + KPAGE - 1) & ~(KPAGE - 1));
	pthread_mutex_lock(&k->mm_lock);
	/* Check every enclave VMA in the range before changing any. */
	bool any = false;
	int ret = 0;
	pthread_mutex_lock(&k->pt_lock);
	struct sgx_vma *first = k->vmas;
	pthread_mutex_unlock(&k->pt_lock);
	for (struct sgx_vma *v = first; v && v->start < end && !ret; v = v->next) {
		if (v->end <= addr)
			continue;
		any = true;
		uint64_t a = v->start > addr ? v->start : addr, b = v->end < end ? v->end : end;
		if ((prot & PROT_EXEC) && k->cfg.noexec_dev)
			ret = -EACCES;
		else
			ret = encl_may_map(v->encl, a, b, prot);
	}
	if (!any || ret) {
		pthread_mutex_unlock(&k->mm_lock);
		return any ? ret : -ENOENT;
	}
	vma_isolate(k, addr, end);
	for (struct sgx_vma *v = k->vmas; v && v->start < end; v = v->next) {
		if (v->start < addr)
			continue;
		pthread_mutex_lock(&k->pt_lock);
		v->prot = prot;
		pthread_mutex_unlock(&k->pt_lock);
		for_each_page(v->encl, v->start, v->end, refresh_page, NULL);
	}
	pthread_mutex_unlock(&k->mm_lock);
	return 0;
}

int sgxk_munmap(struct sgxk *k, uint64_t addr, size_t len)
{
	if (addr & (KPAGE - 1))
		return -EINVAL;
	uint64_t end = addr + ((len + KPAGE - 1) & ~(KPAGE - 1));
	pthread_mutex_lock(&k->mm_lock);
	if (!vma_isolate(k, addr, end)) {
		pthread_mutex_unlock(&k->mm_lock);
		return -ENOENT;
	}
	vma_remove_range(k, addr, end, true);
	pthread_mutex_unlock(&k->mm_lock);
	return 0;
}

int sgxk_pkey_at(struct sgxk *k, uint64_t addr)
{
	pthread_mutex_lock(&k->pt_lock);
	struct sgx_vma *v = vma_find(k, addr);
	int key = v ? v->encl->pkey : -1;
	pthread_mutex_unlock(&k->pt_lock);
	return key;
}

int sgxk_host_prot(struct sgxk *k, uint64_t addr)
{
	pthread_mutex_lock(&k->pt_lock);
	struct sgx_vma *v = vma_find(k, addr);
	int prot = -1;
	if (v) {
		struct encl_page *p = encl_page_at(v->encl, addr & ~(KPAGE - 1));
		prot = p ? p->host_prot : PROT_NONE;
	}
	pthread_mutex_unlock(&k->pt_lock);
	return prot;
}

static int refresh(struct sgxk *k, uint64_t addr, size_t len, bool wait)
{
	for (uint64_t a = addr & ~(KPAGE - 1); a < addr + len; a += KPAGE) {
		pthread_mutex_lock(&k->pt_lock);
		struct sgx_vma *v = vma_find(k, a);
		struct sgx_encl *e = v ? v->encl : NULL;
		if (e)
			encl_get(e);
		pthread_mutex_unlock(&k->pt_lock);
		if (!e)
			continue;
		if (wait) {
			pthread_mutex_lock(&e->lock);
		} else if (pthread_mutex_trylock(&e->lock) != 0) {
			encl_put(e);
			return -EAGAIN;
		}
		struct encl_page *p = encl_page_at(e, a);
		if (p)
			vma_refresh_page(e, p);
		pthread_mutex_unlock(&e->lock);
		encl_put(e);
	}
	return 0;
}

void sgxk_refresh(struct sgxk *k, uint64_t addr, size_t len)
{
	refresh(k, addr, len, true);
}

int sgxk_refresh_try(struct sgxk *k, uint64_t addr, size_t len)
{
	return refresh(k, addr, len, false);
}
