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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED 0x4000000
#endif
/* include/linux/mman.h: the flags MAP_SHARED_VALIDATE accepts from a file that adds none (the driver). */
#define KMAP_LEGACY_MASK                                                                                               \
	(MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_UNINITIALIZED |   \
	 MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB |          \
	 MAP_32BIT | (21 << MAP_HUGE_SHIFT) | (30 << MAP_HUGE_SHIFT))

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
	/* The checker sees the first access under a restriction the enclave did not accept yet. */
	if (v.pr && e->k->cfg.check && !p->pr_seen)
		return PROT_NONE;
	return (v.r ? PROT_READ : 0) | (v.w ? PROT_WRITE : 0) | (v.x ? PROT_EXEC : 0);
}

/* Apply prot to p's host page if it changed (k->pt_lock held). */
/* Give e's pages [a, b) the host protection prot, in one call (k->pt_lock held). */
static void host_protect(struct sgx_encl *e, uint64_t a, uint64_t b, int prot)
{
	/* Every protection change carries the enclave's key (a plain PROT_EXEC mprotect would pick Linux's own). */
	int r = e->pkey >= 0 ? pkey_mprotect((void *)(uintptr_t)a, b - a, prot, e->pkey)
			     : mprotect((void *)(uintptr_t)a, b - a, prot);
	if (r < 0) {
		fprintf(stderr, "sgxemu: mprotect of enclave pages %#llx-%#llx: %s\n", (unsigned long long)a,
			(unsigned long long)b, strerror(errno));
		abort();
	}
	atomic_fetch_add_explicit(&e->k->host_protects, 1, memory_order_relaxed);
}

static void host_set(struct sgx_encl *e, struct encl_page *p, int prot)
{
	if (p->host_prot == prot)
		return;
	host_protect(e, p->addr, p->addr + KPAGE, prot);
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
	pt_changed(e->k);
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
	pt_changed(e->k);
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

/*
 * Map [addr, addr + len) at the host, inaccessible: the EPC memfd at off (fd >= 0), else an
 * anonymous reservation.  Return: 0 or -errno (nothing mapped over).
 */
static int host_mmap(uint64_t addr, uint64_t len, int fd, off_t off)
{
	int flags = fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	void *r = mmap((void *)(uintptr_t)addr, len, PROT_NONE, flags | MAP_FIXED, fd, off);
	if (r == MAP_FAILED)
		return -errno;
	/* A forked child must not share the enclave (Linux gives it none either). */
	madvise(r, len, MADV_DONTFORK);
	return 0;
}

/* A host mapping the kernel's records already describe could not be made: there is no state to go back to. */
static __attribute__((noreturn)) void host_fail(const char *what, uint64_t a, uint64_t b, int err)
{
	fprintf(stderr, "sgxemu: %s %#llx+%#llx: %s\n", what, (unsigned long long)a, (unsigned long long)(b - a),
		strerror(-err));
	abort();
}

/* Make [a, b) of an enclave VMA real on the host, all PROT_NONE (k->pt_lock held). Return: 0 or -errno. */
static int host_map(struct sgx_encl *e, uint64_t a, uint64_t b, bool only_elrange)
{
	uint64_t lo = a, hi = b;
	int ret = 0;
	if (e->flags & ENCL_CREATED) {
		lo = a > e->base ? a : e->base;
		hi = b < e->base + e->size ? b : e->base + e->size;
	}
	if ((e->flags & ENCL_CREATED) && lo < hi) {
		off_t off = (off_t)(hw_epc_offset(e->k->m, e->window) + (lo - e->base));
		ret = host_mmap(lo, hi - lo, hw_epc_fd(e->k->m), off);
		if (ret)
			return ret;
		ptes_reset(e, lo, hi);
	} else {
		lo = hi = b;
	}
	if (only_elrange)
		return 0;
	if (a < lo)
		ret = host_mmap(a, (lo < b ? lo : b) - a, -1, 0);
	if (!ret && hi < b && hi >= a)
		ret = host_mmap(hi, b - hi, -1, 0);
	return ret;
}

void vma_attach_encl(struct sgx_encl *e)
{
	pthread_mutex_lock(&e->k->pt_lock);
	e->next_pt = e->k->pt_encls;
	e->k->pt_encls = e;
	for (struct sgx_vma *v = e->k->vmas; v; v = v->next) {
		int r = v->encl == e ? host_map(e, v->start, v->end, true) : 0;
		if (r)
			host_fail("mapping enclave range", v->start, v->end, r);
	}
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
	pt_changed(k);
}

/* Take v out of the list (k->pt_lock held). */
static void vma_unlink(struct sgxk *k, struct sgx_vma *v)
{
	for (struct sgx_vma **pp = &k->vmas; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			pt_changed(k);
			return;
		}
	}
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
	pt_changed(n->encl->k);
	return n;
}

/* Cut the VMAs so that [a, b) starts and ends on VMA boundaries (k->pt_lock held); any VMA there? */
static bool vma_isolate_locked(struct sgxk *k, uint64_t a, uint64_t b)
{
	bool any = false;
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
	return any;
}

static bool vma_isolate(struct sgxk *k, uint64_t a, uint64_t b)
{
	pthread_mutex_lock(&k->pt_lock);
	bool any = vma_isolate_locked(k, a, b);
	pthread_mutex_unlock(&k->pt_lock);
	return any;
}

/* The first VMA that ends above addr (find_vma), or NULL; it stays valid while k->mm_lock is held. */
static struct sgx_vma *vma_after(struct sgxk *k, uint64_t addr)
{
	pthread_mutex_lock(&k->pt_lock);
	struct sgx_vma *v = k->vmas;
	while (v && v->end <= addr)
		v = v->next;
	pthread_mutex_unlock(&k->pt_lock);
	return v;
}

/*
 * Remove the VMAs that lie in [a, b) (cut there by vma_isolate) and forget their PTEs.  The host
 * range of each is unmapped (unmap), or else replaced by an inaccessible reservation that a new
 * mapping will take over, in the same hold of k->pt_lock that records its pages as PROT_NONE: a page
 * recorded PROT_NONE must never be accessible at the host, or a reclaimer, which only revokes the
 * access it knows of, would let enclave code write the page while EWB copies it.
 */
static void vma_remove_range(struct sgxk *k, uint64_t a, uint64_t b, bool unmap)
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
		pthread_mutex_lock(&e->lock);
		pthread_mutex_lock(&k->pt_lock);
		ptes_reset(e, v->start, v->end);
		vma_unlink(k, v);
		int r = 0;
		if (unmap)
			munmap((void *)(uintptr_t)v->start, v->end - v->start);
		else
			r = host_mmap(v->start, v->end - v->start, -1, 0);
		if (r)
			host_fail("making a replaced enclave range inaccessible", v->start, v->end, r);
		pthread_mutex_unlock(&k->pt_lock);
		pthread_mutex_unlock(&e->lock);
		free(v);
		encl_put(e);
	}
}

/* The file's access mode (FMODE_READ, FMODE_WRITE). */
static bool fmode_read(const struct sgx_file *f)
{
	return f->accmode == O_RDONLY || f->accmode == O_RDWR;
}

static bool fmode_write(const struct sgx_file *f)
{
	return f->accmode == O_WRONLY || f->accmode == O_RDWR;
}

/* An inaccessible anonymous reservation of [addr, addr + len): where, and whether, as the host's mmap decides. */
static void *host_reserve(uint64_t addr, uint64_t len, int flags)
{
	return mmap((void *)(uintptr_t)addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | flags, -1,
		    0);
}

long sgx_file_mmap(struct sgx_file *f, uint64_t addr, size_t len, int prot, int flags, off_t off)
{
	struct sgxk *k = f->k;
	int type = flags & MAP_TYPE, vprot = prot & KPROT_RWX;
	bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	bool shared = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
	uint64_t pgoff = (uint64_t)off >> 12;
	/* sys_mmap: the offset must be page aligned; ksys_mmap_pgoff: MAP_HUGETLB needs a hugetlbfs file. */
	if ((uint64_t)off & (KPAGE - 1))
		return -EINVAL;
	if (flags & MAP_HUGETLB)
		return -EINVAL;
	/* do_mmap; protection bits beyond R/W/X are ignored (calc_vm_prot_bits). */
	if (!len)
		return -EINVAL;
	uint64_t rlen = (len + KPAGE - 1) & ~(KPAGE - 1);
	if (!rlen)
		return -ENOMEM;
	/* get_unmapped_area, with sgx_get_unmapped_area for the enclave file. */
	if (rlen > k->task_size)
		return -ENOMEM;
	if (f->dev == SGX_DEV_ENCLAVE && type == MAP_PRIVATE)
		return -EINVAL;

	pthread_mutex_lock(&k->mm_lock);
	uint64_t start = addr;
	bool held = false; /* a reservation of ours holds [start, start + rlen): dropped if the call fails */
	bool maywrite = fmode_write(f);
	struct sgx_encl *e = f->encl;
	struct sgx_vma *v = NULL;
	long ret;
	int err;
	if (!fixed) {
		/* The host places it as it would place the mapping: the hint if free, below 2 GiB with MAP_32BIT. */
		void *r = host_reserve(addr, rlen, flags & MAP_32BIT);
		ret = -ENOMEM;
		if (r == MAP_FAILED)
			goto out;
		start = (uint64_t)(uintptr_t)r;
		held = true;
	}
	ret = -ENOMEM;
	if (start > k->task_size - rlen)
		goto out;
	ret = -EINVAL;
	if (start & (KPAGE - 1))
		goto out;
	ret = -EPERM; /* security_mmap_addr */
	if (start < k->mmap_min_addr && !k->low_mmap_ok)
		goto out;
	if (flags & MAP_FIXED_NOREPLACE) {
		/*
		 * Anything mapped there refuses it: an enclave mapping, or any mapping of the process,
		 * for which the host's own MAP_FIXED_NOREPLACE answers and whose reservation then holds
		 * the range.
		 */
		ret = -EEXIST;
		v = vma_after(k, start);
		if (v && v->start < start + rlen)
			goto out;
		void *r = host_reserve(start, rlen, MAP_FIXED_NOREPLACE);
		if (r != (void *)(uintptr_t)start) {
			ret = r == MAP_FAILED ? -errno : -EEXIST;
			if (r != MAP_FAILED) /* a kernel before 4.17 took the flag for a hint */
				munmap(r, rlen);
			goto out;
		}
		held = true;
	}
	/* file_mmap_ok: a character device maps offsets up to 2^64. */
	ret = -EOVERFLOW;
	if (pgoff > (~0ULL - rlen) >> 12)
		goto out;
	ret = -EOPNOTSUPP; /* the driver supports no flag beyond the legacy ones */
	if (type == MAP_SHARED_VALIDATE && ((unsigned)flags & ~(unsigned)KMAP_LEGACY_MASK))
		goto out;
	ret = -EINVAL;
	if (!shared && type != MAP_PRIVATE)
		goto out;
	ret = -EACCES;
	if ((shared && (prot & PROT_WRITE) && !fmode_write(f)) || !fmode_read(f))
		goto out;
	ret = -EPERM; /* path_noexec */
	if ((prot & PROT_EXEC) && k->cfg.noexec_dev)
		goto out;
	ret = -ENODEV; /* /dev/sgx_provision has no mmap */
	if (f->dev != SGX_DEV_ENCLAVE)
		goto out;
	ret = -EINVAL; /* VM_GROWSDOWN */
	if (flags & MAP_GROWSDOWN)
		goto out;

	/* mmap_region: MAP_FIXED unmaps what was there, then sgx_mmap may still refuse. */
	ret = encl_may_map(e, start, start + rlen, vprot);
	if (!held && vma_isolate(k, start, start + rlen))
		vma_remove_range(k, start, start + rlen, ret != 0);
	/* From here a failure leaves the range unmapped, the host mappings that were in it included. */
	held = true;
	if (ret)
		goto out;
	ret = -ENOMEM;
	v = calloc(1, sizeof(*v));
	if (!v)
		goto out;
	*v = (struct sgx_vma){.start = start, .end = start + rlen, .prot = vprot, .maywrite = maywrite, .encl = e};
	encl_get(e);
	pthread_mutex_lock(&e->lock);
	pthread_mutex_lock(&k->pt_lock);
	vma_link(k, v);
	err = host_map(e, v->start, v->end, false);
	if (err) {
		/* No room at the host (its map count): the VMA goes again, and so do its PTE records. */
		vma_unlink(k, v);
		munmap((void *)(uintptr_t)start, rlen);
		ptes_reset(e, start, start + rlen);
	}
	pthread_mutex_unlock(&k->pt_lock);
	pthread_mutex_unlock(&e->lock);
	if (err) {
		free(v);
		encl_put(e);
		goto out;
	}
	ret = (long)start;
	held = false;
out:
	if (held)
		munmap((void *)(uintptr_t)start, rlen);
	pthread_mutex_unlock(&k->mm_lock);
	return ret;
}

long sgxk_mmap_other(struct sgxk *k, uint64_t addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *want = (void *)(uintptr_t)addr;
	if (!(flags & MAP_FIXED)) {
		/* The host picks a free range (or refuses one in use): no enclave VMA is in it. */
		void *r = mmap(want, len, prot, flags, fd, off);
		return r == MAP_FAILED ? -errno : (long)(uintptr_t)r;
	}
	pthread_mutex_lock(&k->mm_lock);
	/*
	 * Under k->pt_lock from the host's mmap until the VMAs it replaced are gone: nothing may set the
	 * protection of an enclave page there meanwhile, which would now be the new mapping's.
	 */
	pthread_mutex_lock(&k->pt_lock);
	void *r = mmap(want, len, prot, flags, fd, off);
	if (r == MAP_FAILED) {
		int err = errno;
		pthread_mutex_unlock(&k->pt_lock);
		pthread_mutex_unlock(&k->mm_lock);
		return -err;
	}
	uint64_t a = (uint64_t)(uintptr_t)r, b = a + ((len + KPAGE - 1) & ~(KPAGE - 1));
	struct sgx_vma *gone = NULL;
	vma_isolate_locked(k, a, b);
	for (struct sgx_vma **pp = &k->vmas; *pp;) {
		struct sgx_vma *v = *pp;
		if (v->start >= a && v->end <= b) {
			*pp = v->next;
			v->next = gone;
			gone = v;
		} else {
			pp = &v->next;
		}
	}
	pthread_mutex_unlock(&k->pt_lock);
	/* Until their records are reset the pages look mapped, which is harmless: no VMA leads to them. */
	while (gone) {
		struct sgx_vma *v = gone;
		struct sgx_encl *e = v->encl;
		gone = v->next;
		pthread_mutex_lock(&e->lock);
		pthread_mutex_lock(&k->pt_lock);
		ptes_reset(e, v->start, v->end);
		pthread_mutex_unlock(&k->pt_lock);
		pthread_mutex_unlock(&e->lock);
		free(v);
		encl_put(e);
	}
	pthread_mutex_unlock(&k->mm_lock);
	return (long)a;
}

/* Does the host map anything in [a, b)?  (/proc/self/maps: only a PROT_GROWSDOWN mprotect asks.) */
static bool host_maps_some(uint64_t a, uint64_t b)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return false;
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (!found && getline(&line, &cap, f) > 0) {
		unsigned long long lo, hi;
		found = sscanf(line, "%llx-%llx", &lo, &hi) == 2 && lo < b && a < hi;
	}
	free(line);
	fclose(f);
	return found;
}

/* mprotect_fixup's checks on one enclave VMA for [a, b), then sgx_vma_mprotect's. Return: 0 or -EACCES. */
static int vma_may_protect(struct sgxk *k, const struct sgx_vma *v, uint64_t a, uint64_t b, int prot)
{
	if ((prot & PROT_WRITE) && !v->maywrite)
		return -EACCES;
	if ((prot & PROT_EXEC) && k->cfg.noexec_dev)
		return -EACCES; /* no VM_MAYEXEC */
	return encl_may_map(v->encl, a, b, prot & KPROT_RWX);
}

int sgxk_mprotect(struct sgxk *k, uint64_t addr, size_t len, int prot)
{
	int grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
	prot &= ~grows;
	if (grows == (PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if (addr & (KPAGE - 1))
		return -EINVAL;
	if (!len)
		return 0;
	uint64_t end = addr + ((len + KPAGE - 1) & ~(KPAGE - 1));
	if (end <= addr)
		return -ENOMEM;
	if (prot & ~(KPROT_RWX | PROT_SEM))
		return -EINVAL;

	pthread_mutex_lock(&k->mm_lock);
	struct sgx_vma *v = vma_after(k, addr);
	int ret = -ENOENT;
	if (!v || v->start >= end)
		goto out;
	uint64_t nstart = addr;
	if (grows & PROT_GROWSUP) {
		/* x86 has no VM_GROWSUP: EINVAL where a mapping contains addr, else ENOMEM. */
		unsigned char vec;
		bool mapped = v->start <= addr || mincore((void *)(uintptr_t)addr, KPAGE, &vec) == 0;
		ret = mapped ? -EINVAL : -ENOMEM;
		goto out;
	}
	if (grows & PROT_GROWSDOWN) {
		/*
		 * The first mapping that ends above addr must grow down.  An enclave mapping never does;
		 * a host mapping before it is the host's to judge, and a growing one it changes from its
		 * start on: the walk then goes on at the enclave mapping.
		 */
		ret = -EINVAL;
		if (v->start <= addr || !host_maps_some(addr, v->start))
			goto out;
		if (mprotect((void *)(uintptr_t)addr, v->start - addr, prot | PROT_GROWSDOWN) != 0) {
			ret = -errno;
			goto out;
		}
		nstart = v->start;
	}
	/* do_mprotect_pkey's walk: a VMA must begin where the previous one ended. */
	ret = 0;
	while (nstart < end) {
		v = vma_after(k, nstart);
		if (!v || v->start > nstart) {
			/* Not an enclave mapping up to the next one: the host walks that part by the same rules. */
			uint64_t to = v && v->start < end ? v->start : end;
			if (mprotect((void *)(uintptr_t)nstart, to - nstart, prot) != 0) {
				ret = -errno;
				goto out;
			}
			nstart = to;
			continue;
		}
		uint64_t to = v->end < end ? v->end : end;
		ret = vma_may_protect(k, v, nstart, to, prot);
		if (ret)
			goto out;
		vma_isolate(k, nstart, to);
		v = vma_after(k, nstart);
		pthread_mutex_lock(&k->pt_lock);
		v->prot = prot & KPROT_RWX;
		pt_changed(k);
		pthread_mutex_unlock(&k->pt_lock);
		for_each_page(v->encl, v->start, v->end, refresh_page, NULL);
		nstart = to;
	}
out:
	pthread_mutex_unlock(&k->mm_lock);
	return ret;
}

int sgxk_munmap(struct sgxk *k, uint64_t addr, size_t len)
{
	/* do_mas_munmap refuses before it unmaps anything. */
	if ((addr & (KPAGE - 1)) || addr > k->task_size || len > k->task_size - addr)
		return -EINVAL;
	uint64_t end = addr + ((len + KPAGE - 1) & ~(KPAGE - 1));
	if (end == addr)
		return -EINVAL;
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

/* A run of e's pages [a, b) that all change to prot (k->pt_lock held). */
static void host_set_run(struct sgx_encl *e, uint64_t a, uint64_t b, int prot)
{
	if (a == b)
		return;
	host_protect(e, a, b, prot);
	for (uint64_t x = a; x < b; x += KPAGE)
		encl_page_at(e, x)->host_prot = (uint8_t)prot;
}

uint64_t sgxk_host_protects(struct sgxk *k)
{
	return atomic_load_explicit(&k->host_protects, memory_order_relaxed);
}

#define REFRESH_BATCH 64

void vma_refresh_range(struct sgx_encl *e, uint64_t lo, uint64_t hi)
{
	struct sgxk *k = e->k;
	for (uint64_t a = lo; a < hi;) {
		/* The EPCM first, without pt_lock (its lookups take the machine's lock). */
		struct encl_page *pages[REFRESH_BATCH];
		int epcm[REFRESH_BATCH], n = 0;
		for (uint64_t x = a; x < hi && n < REFRESH_BATCH; x += KPAGE, n++) {
			pages[n] = encl_in_range(e, x) ? encl_page_at(e, x) : NULL;
			epcm[n] = pages[n] ? epcm_prot(e, pages[n]) : PROT_NONE;
		}
		pthread_mutex_lock(&k->pt_lock);
		uint64_t run = a, run_end = a;
		int run_prot = PROT_NONE;
		for (int i = 0; i < n; i++) {
			uint64_t x = a + (uint64_t)i * KPAGE;
			struct encl_page *p = pages[i];
			struct sgx_vma *v = p ? vma_find(k, x) : NULL;
			int want = v && v->encl == e ? (p->pte ? (v->prot & epcm[i]) : PROT_NONE) : -1;
			if (want >= 0 && want != p->host_prot && x == run_end && (run == run_end || want == run_prot)) {
				run_end += KPAGE;
				run_prot = want;
				continue;
			}
			host_set_run(e, run, run_end, run_prot);
			run = run_end = x;
			if (want >= 0 && want != p->host_prot) {
				run_end = x + KPAGE;
				run_prot = want;
			}
		}
		host_set_run(e, run, run_end, run_prot);
		pthread_mutex_unlock(&k->pt_lock);
		a += (uint64_t)n * KPAGE;
	}
}

/*
 * Pages of one enclave VMA at a time, each enclave locked once, adjacent
 * pages that change alike in one mprotect (an enclave's accepted run).
 */
static int refresh(struct sgxk *k, uint64_t addr, size_t len, bool wait)
{
	uint64_t end = addr + len;
	for (uint64_t a = addr & ~(KPAGE - 1); a < end;) {
		pthread_mutex_lock(&k->pt_lock);
		struct sgx_vma *v = k->vmas;
		while (v && v->end <= a)
			v = v->next;
		if (!v || v->start >= end) {
			pthread_mutex_unlock(&k->pt_lock);
			break;
		}
		if (v->start > a) {
			a = v->start;
			pthread_mutex_unlock(&k->pt_lock);
			continue;
		}
		struct sgx_encl *e = v->encl;
		uint64_t seg_end = v->end < end ? v->end : end;
		encl_get(e);
		pthread_mutex_unlock(&k->pt_lock);
		if (wait) {
			pthread_mutex_lock(&e->lock);
		} else if (pthread_mutex_trylock(&e->lock) != 0) {
			encl_put(e);
			return -EAGAIN;
		}
		vma_refresh_range(e, a, (seg_end + KPAGE - 1) & ~(KPAGE - 1));
		pthread_mutex_unlock(&e->lock);
		encl_put(e);
		a = (seg_end + KPAGE - 1) & ~(KPAGE - 1);
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

static const char *prot_name(int prot)
{
	static const char *const names[] = {"none", "R", "W", "RW", "X", "RX", "WX", "RWX"};
	return names[prot & 7];
}

/*
 * The enclave of addr, referenced and locked, and the protection of its
 * mapping there; NULL when there is none or a lock is busy (never waits).
 * Done with it: check_done.
 */
static struct sgx_encl *check_encl(struct sgxk *k, uint64_t addr, int *vprot)
{
	if (pthread_mutex_trylock(&k->pt_lock) != 0)
		return NULL;
	struct sgx_vma *vm = vma_find(k, addr & ~(uint64_t)(KPAGE - 1));
	struct sgx_encl *e = vm ? vm->encl : NULL;
	if (vprot)
		*vprot = vm ? vm->prot : PROT_NONE;
	if (e)
		encl_get(e);
	pthread_mutex_unlock(&k->pt_lock);
	if (e && pthread_mutex_trylock(&e->lock) != 0) {
		encl_put(e);
		return NULL;
	}
	return e;
}

static void check_done(struct sgx_encl *e)
{
	pthread_mutex_unlock(&e->lock);
	encl_put(e);
}

int sgxk_check_access(struct sgxk *k, uint64_t addr, uint32_t errcode, char *msg, size_t len)
{
	uint64_t a = addr & ~(uint64_t)(KPAGE - 1);
	int vprot;
	struct sgx_encl *e = check_encl(k, a, &vprot);
	if (!e)
		return 0;
	int found = 0;
	struct encl_page *p = encl_in_range(e, a) ? encl_page_at(e, a) : NULL;
	struct hw_epcm_view v;
	if (p && p->resident && hw_epcm_get(k->m, encl_frame(e, a), &v) && v.valid) {
		int acc = errcode == SGXK_CHECK_HOST ? 0
			  : (errcode & PF_W)	     ? PROT_WRITE
			  : (errcode & PF_I)	     ? PROT_EXEC
						     : PROT_READ;
		int epcm = (v.r ? PROT_READ : 0) | (v.w ? PROT_WRITE : 0) | (v.x ? PROT_EXEC : 0);
		if (v.pt == SGX_PT_TRIM) {
			snprintf(msg, len,
				 v.modified ? "access to a page being trimmed (MODIFY_TYPES to TRIM, not EACCEPTed yet)"
					    : "access to a trimmed page after its EACCEPT (it is being removed)");
			found = 1;
		} else if (v.pt == SGX_PT_REG && v.modified) {
			snprintf(msg, len, "access to a page whose type change was never EACCEPTed");
			found = 1;
		} else if (v.pt == SGX_PT_REG && v.pr && !p->pr_seen &&
			   (errcode == SGXK_CHECK_HOST || !(errcode & PF_SGX))) {
			snprintf(msg, len,
				 "access to a page whose restriction to %s was never EACCEPTed: until EACCEPT(PR) the "
				 "enclave cannot know that no stale TLB entry still grants the old permissions",
				 prot_name(epcm));
			p->pr_seen = true;
			vma_refresh_page(e, p);
			found = 1;
		} else if (v.pt == SGX_PT_REG && !v.pending && acc && errcode != SGXK_CHECK_HOST &&
			   !(errcode & PF_SGX) && (errcode & PF_P) && (epcm & acc) && !(vprot & acc)) {
			snprintf(
			    msg, len,
			    "the EPCM allows %s (EMODPE) but the mapping is %s: the mprotect that makes the extended "
			    "permissions usable is missing",
			    prot_name(acc), prot_name(vprot));
			found = 1;
		}
	}
	check_done(e);
	return found;
}

/* ---- the checker: EDMM changes and the threads that asked for them ---- */

static const char *req_name(uint8_t op)
{
	switch (op) {
	case REQ_RESTRICT:
		return "RESTRICT_PERMISSIONS";
	case REQ_MODIFY:
		return "MODIFY_TYPES";
	case REQ_AUGMENT:
		return "AUGMENT_PAGES";
	case REQ_FAULT:
		return "an EAUG on a fault";
	default:
		return "?";
	}
}

static bool req_open(struct sgx_encl *e, const struct encl_page *p, uint8_t op);

/* Entries whose change was accepted meanwhile, or made again since, go (threads that never leave keep none). */
static void req_prune(struct sgx_encl *e)
{
	size_t keep = 0;
	for (size_t i = 0; i < e->nreqs; i++) {
		struct encl_req r = e->reqs[i];
		struct encl_page *p = encl_in_range(e, r.addr) ? encl_page_at(e, r.addr) : NULL;
		if (p && p->req_op == r.op && p->req_tid == r.tid && req_open(e, p, r.op))
			e->reqs[keep++] = r;
	}
	e->nreqs = keep;
}

void encl_req_note(struct sgx_encl *e, struct encl_page *p, enum encl_req_op op)
{
	if (!e->k->cfg.check || !p)
		return;
	int tid = (int)syscall(SYS_gettid);
	p->req_op = (uint8_t)op;
	p->req_tid = tid;
	/* Changes an access made (EAUG on a fault) are accepted by the enclave's handler of that fault. */
	if (op == REQ_FAULT)
		return;
	if (e->nreqs == e->cap_reqs)
		req_prune(e);
	if (e->nreqs == e->cap_reqs) {
		size_t cap = e->cap_reqs ? e->cap_reqs * 2 : 64;
		struct encl_req *r = realloc(e->reqs, cap * sizeof(*r));
		if (!r)
			return; /* the exit check then misses this one: the checker is best effort, the driver is not */
		e->reqs = r;
		e->cap_reqs = cap;
	}
	e->reqs[e->nreqs++] = (struct encl_req){.addr = p->addr, .tid = tid, .op = (uint8_t)op};
}

/* Is page p, changed by op, still in the state the enclave must EACCEPT? */
static bool req_open(struct sgx_encl *e, const struct encl_page *p, uint8_t op)
{
	struct hw_epcm_view v;
	if (!p->resident || !hw_epcm_get(e->k->m, encl_frame(e, p->addr), &v) || !v.valid)
		return false;
	switch (op) {
	case REQ_RESTRICT:
		return v.pr;
	case REQ_MODIFY:
		return v.modified;
	case REQ_AUGMENT:
		return v.pending;
	default:
		return false;
	}
}

int sgxk_check_accept(struct sgxk *k, uint64_t addr, int tid, char *msg, size_t len)
{
	struct sgx_encl *e = check_encl(k, addr, NULL);
	if (!e)
		return 0;
	int found = 0;
	uint64_t a = addr & ~(uint64_t)(KPAGE - 1);
	struct encl_page *p = encl_in_range(e, a) ? encl_page_at(e, a) : NULL;
	if (p && p->req_op != REQ_NONE) {
		if (p->req_tid != tid) {
			snprintf(
			    msg, len,
			    "EACCEPT of a change this thread did not ask for: %s of thread %d made it; the enclave "
			    "must check that the OS changed what it asked for before accepting",
			    req_name(p->req_op), p->req_tid);
			found = 1;
		}
		p->req_op = REQ_NONE;
	}
	check_done(e);
	return found;
}

int sgxk_check_exit(struct sgxk *k, uint64_t tcs, int tid, char *msg, size_t len, uint64_t *page)
{
	struct sgx_encl *e = check_encl(k, tcs, NULL);
	if (!e)
		return 0;
	/* The thread's entries go: each is reported once, or found accepted. */
	size_t keep = 0, open = 0;
	struct encl_req first = {0};
	for (size_t i = 0; i < e->nreqs; i++) {
		struct encl_req r = e->reqs[i];
		if (r.tid != tid) {
			e->reqs[keep++] = r;
			continue;
		}
		struct encl_page *p = encl_in_range(e, r.addr) ? encl_page_at(e, r.addr) : NULL;
		if (p && p->req_op == r.op && p->req_tid == tid && req_open(e, p, r.op) && open++ == 0)
			first = r;
	}
	e->nreqs = keep;
	if (open) {
		const char *state = first.op == REQ_RESTRICT ? "PR" : first.op == REQ_MODIFY ? "MODIFIED" : "PENDING";
		if (open > 1)
			snprintf(
			    msg, len,
			    "left the enclave with a change its own %s made still not EACCEPTed (EPCM.%s), and %zu "
			    "more pages",
			    req_name(first.op), state, open - 1);
		else
			snprintf(msg, len,
				 "left the enclave with a change its own %s made still not EACCEPTed (EPCM.%s)",
				 req_name(first.op), state);
		*page = first.addr;
	}
	check_done(e);
	return open != 0;
}
