/* SPDX-License-Identifier: MIT */
/*
 * The enclave ioctls (spec/linux-driver.md §3), with the structs and
 * numbers of <asm/sgx.h>, plus SGX_IOC_ENCLAVE_AUGMENT_PAGES
 * (include/sgxemu/ext.h).  sgx_ioc_* copy in, validate and copy out;
 * encl_* do the work, one page at a time under the enclave mutex.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "internal.h"
#include "sgxemu/ext.h"

/* Flags bits a SECINFO given to ADD_PAGES may have: R, W, X and the page type. */
#define SECINFO_ADD_ALLOWED (SGX_SECINFO_PERM_MASK | SGX_SECINFO_PT_MASK)

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static uint8_t secinfo_pt(uint64_t flags)
{
	return (uint8_t)((flags & SGX_SECINFO_PT_MASK) >> SGX_SECINFO_PT_SHIFT);
}

/* The common offset/length check of ADD_PAGES and the SGX2 ioctls. */
static int check_range(const struct sgx_encl *e, uint64_t offset, uint64_t length)
{
	if ((offset & (KPAGE - 1)) || !length || (length & (KPAGE - 1)))
		return -EINVAL;
	if (offset + length < offset)
		return -EINVAL;
	if (offset + length - KPAGE >= e->size)
		return -EINVAL;
	return 0;
}

/* Reclaim directly while the EPC is nearly full (before each page of an SGX2 ioctl on e; its SECS stays). */
static void reclaim_direct(struct sgx_encl *e)
{
	const struct reclaim_keep keep = {.encl = e};
	if (hw_epc_frames_free(e->k->m) < SGX_NR_LOW_PAGES)
		reclaim_pages(e->k, SGX_NR_TO_SCAN, &keep);
}

/*
 * Make n frames free, reclaiming as needed.  Return: 0, -ENOMEM (nothing reclaimable, or
 * SGX_RECLAIM_ROUNDS rounds whose frames others took), or -ERESTARTSYS (signal pending).
 */
static int epc_headroom(struct sgxk *k, uint64_t n)
{
	for (unsigned round = 0; hw_epc_frames_free(k->m) < n; round++) {
		if (signal_pending())
			return -ERESTARTSYS;
		if (round == SGX_RECLAIM_ROUNDS || sgxk_reclaim(k, SGX_NR_TO_SCAN) == 0)
			return -ENOMEM;
	}
	return 0;
}

/* ---- CREATE ---- */

static int encl_create(struct sgx_encl *e, struct sgx_secs *secs)
{
	struct sgxk *k = e->k;
	if (!secs->size || (secs->size & (secs->size - 1)))
		return -EINVAL;
	/*
	 * Linux's backing file is SIZE plus a page for the SECS plus 1/32 for
	 * PCMDs, and shmem refuses a file past LLONG_MAX: EINVAL, from 2^63 on.
	 */
	uint64_t encl_size = secs->size + KPAGE;
	if (encl_size < secs->size || encl_size + (encl_size >> 5) > (uint64_t)INT64_MAX)
		return -EINVAL;
	/*
	 * Beyond the largest enclave this CPU's ECREATE accepts
	 * (CPUID.(0x12,0).EDX), ECREATE would #GP, which is EIO; found before
	 * reserving a window and page tables of that size.
	 */
	struct hw_cpuid leaf = hw_cpuid12(k->m, 0);
	unsigned max_log2 = (secs->attributes & SGX_ATTR_MODE64BIT) ? (leaf.edx >> 8) & 0xFF : leaf.edx & 0xFF;
	if (max_log2 < 64 && secs->size >= (1ULL << max_log2))
		return -EIO;
	/* A VA page and the SECS; the reclaimer may run for them. */
	int ret = epc_headroom(k, 2);
	if (ret)
		return ret;
	uint64_t wsize = secs->size < KPAGE ? KPAGE : secs->size;
	uint64_t window = hw_epc_window_alloc(k->m, wsize);
	uint64_t secs_pa = hw_epc_window_alloc(k->m, KPAGE);
	size_t backing_size = 0;
	void *backing = MAP_FAILED;
	if (window && secs_pa) {
		uint64_t pages = secs->size / KPAGE + 1;
		backing_size =
		    (size_t)((secs->size + KPAGE + pages * sizeof(struct sgx_pcmd) + KPAGE - 1) & ~(KPAGE - 1));
		backing = mmap(NULL, backing_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);
	}
	size_t nchunks = (size_t)((secs->size / KPAGE + ENCL_CHUNK - 1) / ENCL_CHUNK);
	struct encl_page ***chunks = calloc(nchunks ? nchunks : 1, sizeof(*chunks));
	if (!window || !secs_pa || backing == MAP_FAILED || !chunks) {
		ret = -ENOMEM;
		goto err_mem;
	}
	madvise(backing, backing_size, MADV_DONTFORK);

	pthread_mutex_lock(&e->lock);
	ret = encl_grow(e);
	if (ret) {
		ret = -ENOMEM;
		goto err_unlock;
	}
	ret = sgx_epc_get(k, false);
	if (ret) {
		ret = -ENOMEM;
		goto err_shrink;
	}
	struct sgx_secinfo si = {0};
	struct sgx_pageinfo pi = {.srcpge = (uint64_t)(uintptr_t)secs, .secinfo = (uint64_t)(uintptr_t)&si};
	struct hw_result r = encls_ecreate(k->m, NULL, (uint64_t)(uintptr_t)&pi, secs_pa);
	if (!hw_is_ok(r)) {
		ret = -EIO;
		goto err_epc;
	}
	e->base = secs->base;
	e->size = secs->size;
	e->attributes = secs->attributes;
	e->xfrm = secs->xfrm;
	e->miscselect = secs->miscselect;
	e->ssa_pages = secs->ssa_frame_size;
	e->window = window;
	e->window_size = wsize;
	e->secs_pa = secs_pa;
	e->pkey = k->pkeys.alloc ? k->pkeys.alloc(k->pkeys.ctx, secs_pa) : -1;
	if (e->pkey < 0)
		e->pkey = -1;
	e->secs_resident = true;
	e->backing = backing;
	e->backing_size = backing_size;
	e->chunks = chunks;
	e->nchunks = nchunks;
	if (secs->attributes & SGX_ATTR_DEBUG)
		e->flags |= ENCL_DEBUG;
	e->flags |= ENCL_CREATED;
	vma_attach_encl(e);
	pthread_mutex_unlock(&e->lock);

	pthread_mutex_lock(&k->files_lock);
	e->next = k->encls;
	k->encls = e;
	pthread_mutex_unlock(&k->files_lock);
	return 0;

err_epc:
	sgx_epc_put(k);
err_shrink:
	encl_shrink(e);
err_unlock:
	pthread_mutex_unlock(&e->lock);
err_mem:
	free(chunks);
	if (backing != MAP_FAILED)
		munmap(backing, backing_size);
	if (secs_pa)
		hw_epc_window_free(k->m, secs_pa, KPAGE);
	if (window)
		hw_epc_window_free(k->m, window, wsize);
	return ret;
}

static long sgx_ioc_enclave_create(struct sgx_encl *e, unsigned long arg)
{
	if (e->flags & ENCL_CREATED)
		return -EINVAL;
	struct sgx_enclave_create c;
	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	static _Thread_local struct sgx_secs secs __attribute__((aligned(4096)));
	if (copy_from_user(&secs, c.src, sizeof(secs)))
		return -EFAULT;
	return encl_create(e, &secs);
}

/* ---- Chaos mode's driver results (docs/chaos.md) ---- */

uint64_t chaos_next(struct sgxk *k)
{
	uint64_t z = (k->chaos_rng += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/*
 * Does chaos mode stop this range ioctl of npages early?  One call in
 * chaos_ioctl_every draws where (a page index below npages, at least
 * min_page); the stream is the kernel's, so one thread's ioctls repeat.
 * A call that starts where the last stopped one started runs whole, so a
 * caller that resumes from the count always gets on.
 * Return: the byte offset in the range to stop at, or UINT64_MAX.
 */
static uint64_t chaos_stop(struct sgx_encl *e, const char *name, uint64_t offset, uint64_t npages, uint64_t min_page,
			   const char *answer)
{
	struct sgxk *k = e->k;
	if (!k->cfg.chaos_ioctl_every || npages <= min_page)
		return UINT64_MAX;
	uint64_t key = e->base + offset;
	pthread_mutex_lock(&k->chaos_lock);
	if (k->chaos_last == key) {
		k->chaos_last = 0;
		pthread_mutex_unlock(&k->chaos_lock);
		return UINT64_MAX;
	}
	uint64_t z = chaos_next(k);
	bool stop = z % k->cfg.chaos_ioctl_every == 0;
	uint64_t n = stop ? k->chaos_count++ : 0;
	if (stop)
		k->chaos_last = key;
	pthread_mutex_unlock(&k->chaos_lock);
	if (!stop)
		return UINT64_MAX;
	uint64_t at = min_page + (z >> 24) % (npages - min_page);
	const struct sgxk_obs *o = __atomic_load_n(&sgxk_obs, __ATOMIC_RELAXED);
	if (o && o->chaos_ioctl)
		o->chaos_ioctl(k, name, e->base + offset, at, npages, answer);
	if (!k->cfg.chaos_quiet)
		fprintf(stderr,
			"sgxemu: chaos: ioctl #%llu: %s at enclave+%#llx: stopped after %llu of %llu pages, %s\n",
			(unsigned long long)n, name, (unsigned long long)offset, (unsigned long long)at,
			(unsigned long long)npages, answer);
	return at * KPAGE;
}

/* The enclave ioctls by name, as chaos mode's lines give them; NULL for any other command. */
static const char *ioctl_name(unsigned int cmd)
{
	switch (cmd) {
	case SGX_IOC_ENCLAVE_CREATE:
		return "CREATE";
	case SGX_IOC_ENCLAVE_ADD_PAGES:
		return "ADD_PAGES";
	case SGX_IOC_ENCLAVE_INIT:
		return "INIT";
	case SGX_IOC_ENCLAVE_PROVISION:
		return "PROVISION";
	case SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS:
		return "RESTRICT_PERMISSIONS";
	case SGX_IOC_ENCLAVE_MODIFY_TYPES:
		return "MODIFY_TYPES";
	case SGX_IOC_ENCLAVE_REMOVE_PAGES:
		return "REMOVE_PAGES";
	case SGX_IOC_ENCLAVE_AUGMENT_PAGES:
		return "AUGMENT_PAGES";
	default:
		return NULL;
	}
}

/*
 * The busy kind: one EDMM ioctl in chaos_busy_every draws EBUSY, what
 * Linux answers while another thread's ioctl of the same enclave runs (the
 * SGX_ENCL_IOCTL bit, tested before anything else).  Only the ioctls of an
 * initialised enclave (RESTRICT_PERMISSIONS, MODIFY_TYPES, REMOVE_PAGES,
 * AUGMENT_PAGES), which runtimes issue from many threads at once: a loader
 * builds its enclave on one thread and meets no EBUSY on Linux.  The
 * enclave's next ioctl after an injected EBUSY is never injected, so a
 * caller that retries always gets on.
 */
bool chaos_busy(struct sgx_encl *e, unsigned int cmd)
{
	struct sgxk *k = e->k;
	const char *name = ioctl_name(cmd);
	if (!k->cfg.chaos_busy_every || !name)
		return false;
	if (cmd != SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS && cmd != SGX_IOC_ENCLAVE_MODIFY_TYPES &&
	    cmd != SGX_IOC_ENCLAVE_REMOVE_PAGES && cmd != SGX_IOC_ENCLAVE_AUGMENT_PAGES)
		return false;
	if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENCL_INITIALIZED))
		return false;
	bool busy = false;
	uint64_t n = 0;
	pthread_mutex_lock(&k->chaos_lock);
	if (e->chaos_busied) {
		e->chaos_busied = false;
	} else if (chaos_next(k) % k->cfg.chaos_busy_every == 0) {
		busy = e->chaos_busied = true;
		n = k->chaos_busy_count++;
	}
	pthread_mutex_unlock(&k->chaos_lock);
	if (!busy)
		return false;
	const struct sgxk_obs *o = __atomic_load_n(&sgxk_obs, __ATOMIC_RELAXED);
	if (o && o->chaos_busy)
		o->chaos_busy(k, name);
	if (!k->cfg.chaos_quiet)
		fprintf(stderr, "sgxemu: chaos: busy #%llu: %s: EBUSY, as while another ioctl of the enclave runs\n",
			(unsigned long long)n, name);
	return true;
}

/* Sleep usec microseconds of CLOCK_MONOTONIC, whatever signal arrives meanwhile. */
static void sleep_usec(unsigned usec)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += usec / 1000000;
	end.tv_nsec += (long)(usec % 1000000) * 1000;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
		;
}

/*
 * The tlb kind: the pages pages from offset just had their EPCM narrowed
 * (EMODPR, EMODT) by one ioctl call, and their host mapping, the TLB
 * entries other CPUs may still hold, stays as it was for chaos_tlb_usec
 * microseconds, with no lock held: enclave threads go on accessing them
 * under the old permissions, as SGX lets them until the ETRACK cycle and
 * its IPIs end.  Then the shootdown: every page's host mapping follows its
 * EPCM, and ETRACK with the kicks.  Return: 0, or -EFAULT (ETRACK failed).
 */
static int chaos_tlb_window(struct sgx_encl *e, const char *name, uint64_t offset, uint64_t pages)
{
	struct sgxk *k = e->k;
	unsigned usec = k->cfg.chaos_tlb_usec;
	pthread_mutex_lock(&k->chaos_lock);
	uint64_t n = k->chaos_tlb_count++;
	pthread_mutex_unlock(&k->chaos_lock);
	const struct sgxk_obs *o = __atomic_load_n(&sgxk_obs, __ATOMIC_RELAXED);
	if (o && o->chaos_tlb)
		o->chaos_tlb(k, name, e->base + offset, pages, usec);
	if (!k->cfg.chaos_quiet)
		fprintf(
		    stderr,
		    "sgxemu: chaos: tlb #%llu: %s at enclave+%#llx, %llu page%s: the old permissions stay for %u us "
		    "before the TLB shootdown\n",
		    (unsigned long long)n, name, (unsigned long long)offset, (unsigned long long)pages,
		    pages == 1 ? "" : "s", usec);
	sleep_usec(usec);
	pthread_mutex_lock(&e->lock);
	for (uint64_t i = 0; i < pages; i++) {
		struct encl_page *p = encl_page_at(e, e->base + offset + i * KPAGE);
		if (p)
			vma_refresh_page(e, p);
	}
	int ret = encl_track(e);
	pthread_mutex_unlock(&e->lock);
	return ret;
}

/* ---- Frames in batches (docs/kernel.md) ---- */

/* Frames AUGMENT_PAGES and ADD_PAGES give host memory at once: 256 KiB, bounded whatever the range. */
#define POPULATE_PAGES 64
#define POPULATE_BYTES ((uint64_t)POPULATE_PAGES * KPAGE)

/* The page at c of the range [off, off + len) starts a batch: populate the frames of the batch. */
static void populate_batch(struct sgx_encl *e, uint64_t off, uint64_t c, uint64_t len)
{
	if (e->k->cfg.no_populate || c % POPULATE_BYTES || len - c < 2 * KPAGE)
		return;
	uint64_t n = len - c < POPULATE_BYTES ? len - c : POPULATE_BYTES;
	/* A refusal (ENOMEM, say) only means the frames fault in one by one. */
	(void)hw_epc_populate(e->k->m, encl_frame(e, e->base + off + c), n);
}

/*
 * AUGMENT_PAGES: EAUG does not write its frame, so the whole range goes to
 * the machine's populator at once and the ioctl does not wait for it, when
 * the range fits in the free EPC (else its own pages would be evicted while
 * the populator gives their frames memory behind it).  False: the ioctl
 * populates batch by batch itself.
 */
static bool populate_ahead(struct sgx_encl *e, uint64_t off, uint64_t len)
{
	if (e->k->cfg.no_populate || len < 2 * KPAGE || len / KPAGE > hw_epc_frames_free(e->k->m))
		return false;
	return hw_epc_populate_async(e->k->m, encl_frame(e, e->base + off), len);
}

/*
 * The range stopped at c: the frames populated for the rest of c's batch
 * (of the whole range, if it went to the populator), and not used, go back.
 */
static void populate_unwind(struct sgx_encl *e, uint64_t off, uint64_t c, uint64_t len, bool ahead)
{
	if (e->k->cfg.no_populate || c >= len)
		return;
	uint64_t end = ahead ? len : (c / POPULATE_BYTES + 1) * POPULATE_BYTES;
	end = end < len ? end : len;
	hw_epc_release_unused(e->k->m, encl_frame(e, e->base + off + c), end - c);
}

/* ---- ADD_PAGES ---- */

static int validate_secinfo(const struct sgx_secinfo *si)
{
	uint64_t perm = si->flags & SGX_SECINFO_PERM_MASK;
	uint8_t pt = secinfo_pt(si->flags);
	if (pt != SGX_PT_REG && pt != SGX_PT_TCS)
		return -EINVAL;
	if ((perm & SGX_SECINFO_W) && !(perm & SGX_SECINFO_R))
		return -EINVAL;
	if (pt == SGX_PT_TCS && perm)
		return -EINVAL;
	if (si->flags & ~SECINFO_ADD_ALLOWED)
		return -EINVAL;
	if (!all_zero(si->reserved, sizeof(si->reserved)))
		return -EINVAL;
	return 0;
}

/* Is the source page of an add in a mapping without VM_MAYEXEC (our own device on a noexec /dev)? */
static bool src_noexec(struct sgxk *k, uint64_t src)
{
	if (!k->cfg.noexec_dev)
		return false;
	return sgxk_owns(k, src);
}

static int encl_add_page(struct sgx_encl *e, uint64_t src, uint64_t offset, const struct sgx_secinfo *si,
			 uint64_t flags)
{
	struct sgxk *k = e->k;
	static _Thread_local uint8_t page[KPAGE] __attribute__((aligned(4096)));
	struct encl_page *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	uint8_t pt = secinfo_pt(si->flags);
	*p = (struct encl_page){.encl = e,
				.addr = e->base + offset,
				.type = pt,
				.max_prot = pt == SGX_PT_TCS ? (PROT_READ | PROT_WRITE) : (uint8_t)(si->flags & 7),
				.resident = true};
	int ret = sgx_epc_get(k, true);
	if (ret)
		goto err_free;
	/* A new VA page may be due: make room for it while reclaiming is allowed. */
	if (e->page_cnt % ENCL_CHUNK == 0) {
		ret = epc_headroom(k, 1);
		if (ret)
			goto err_epc;
	}
	pthread_mutex_lock(&e->lock);
	ret = encl_grow(e);
	if (ret) {
		ret = ret == -EBUSY ? -ENOMEM : ret;
		goto err_unlock;
	}
	ret = encl_page_insert(e, p);
	if (ret)
		goto err_shrink;
	if (src_noexec(k, src)) {
		ret = -EACCES;
		goto err_remove;
	}
	if (copy_from_user(page, src, KPAGE)) {
		ret = -EFAULT;
		goto err_remove;
	}
	uint64_t frame = encl_frame(e, p->addr);
	struct sgx_pageinfo pi = {.linaddr = p->addr,
				  .srcpge = (uint64_t)(uintptr_t)page,
				  .secinfo = (uint64_t)(uintptr_t)si,
				  .secs = e->secs_pa};
	struct hw_result r = encls_eadd(k->m, NULL, (uint64_t)(uintptr_t)&pi, frame);
	if (!hw_is_ok(r)) {
		ret = -EIO;
		goto err_remove;
	}
	if (flags & SGX_PAGE_MEASURE) {
		for (unsigned i = 0; i < 16; i++) {
			r = encls_eextend(k->m, NULL, e->secs_pa, frame + 256 * i);
			if (!hw_is_ok(r)) {
				/* The measurement already changed; the page is dropped again. */
				encls_eremove(k->m, frame);
				ret = -EIO;
				goto err_remove;
			}
		}
	}
	e->children++;
	lru_add(k, p);
	pthread_mutex_unlock(&e->lock);
	return 0;

err_remove:
	encl_page_remove(e, p);
	p = NULL;
err_shrink:
	encl_shrink(e);
err_unlock:
	pthread_mutex_unlock(&e->lock);
err_epc:
	sgx_epc_put(k);
err_free:
	free(p);
	return ret;
}

static long sgx_ioc_enclave_add_pages(struct sgx_encl *e, unsigned long arg)
{
	if (!(e->flags & ENCL_CREATED) || (e->flags & ENCL_INITIALIZED))
		return -EINVAL;
	struct sgx_enclave_add_pages a;
	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.src & (KPAGE - 1))
		return -EINVAL;
	if (check_range(e, a.offset, a.length))
		return -EINVAL;
	struct sgx_secinfo si;
	if (copy_from_user(&si, a.secinfo, sizeof(si)))
		return -EFAULT;
	if (validate_secinfo(&si))
		return -EINVAL;
	uint64_t c;
	long ret = 0;
	/* As a signal after the first page: the partial count, and 0. */
	uint64_t stop = chaos_stop(e, "ADD_PAGES", a.offset, a.length / KPAGE, 1, "a partial count");
	for (c = 0; c < a.length; c += KPAGE) {
		/* A signal stops the loop: EINTR (or a restart) before the first page, else the partial count. */
		if (c == stop || signal_pending()) {
			if (!c)
				ret = -ERESTARTSYS;
			break;
		}
		populate_batch(e, a.offset, c, a.length);
		ret = encl_add_page(e, a.src + c, a.offset + c, &si, a.flags);
		if (ret)
			break;
	}
	populate_unwind(e, a.offset, c, a.length, false);
	/* The whole struct goes back, as Linux copies it: a struct count alone can be written to is EFAULT. */
	a.count = c;
	if (copy_to_user(arg, &a, sizeof(a)))
		return -EFAULT;
	return ret;
}

/* ---- INIT ---- */

#define EINIT_TRIES  20
#define EINIT_ROUNDS 50

static int encl_init(struct sgx_encl *e, const struct sgx_sigstruct *sig, const void *token)
{
	struct sgxk *k = e->k;
	uint8_t mrsigner[32];
	crypto_sha256(sig->modulus, sizeof(sig->modulus), mrsigner);
	pthread_mutex_lock(&e->lock);
	struct hw_result r = hw_ok();
	for (unsigned round = 0; round < EINIT_ROUNDS; round++) {
		for (unsigned i = 0; i < EINIT_TRIES; i++) {
			/* Flexible launch control: the signer itself is the allowed launcher. */
			for (unsigned n = 0; n < 4; n++) {
				uint64_t v;
				memcpy(&v, mrsigner + 8 * n, 8);
				hw_wrmsr_lehash(k->m, n, v);
			}
			r = encls_einit(k->m, NULL, (uint64_t)(uintptr_t)sig, e->secs_pa, (uint64_t)(uintptr_t)token);
			if (!hw_is_code(r, SGX_UNMASKED_EVENT))
				break;
		}
		if (!hw_is_code(r, SGX_UNMASKED_EVENT))
			break;
		nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	}
	int ret = 0;
	if (r.kind == HW_FAULT) {
		ret = -EIO;
	} else if (r.kind == HW_CODE) {
		ret = -EPERM;
	} else {
		struct hw_secs_view v;
		uint8_t mrenclave[32] = {0};
		if (hw_secs_get(k->m, e->secs_pa, &v))
			memcpy(mrenclave, v.secs.mrenclave, 32);
		e->flags |= ENCL_INITIALIZED;
		policy_apply(e, mrsigner, mrenclave);
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

static long sgx_ioc_enclave_init(struct sgx_encl *e, unsigned long arg)
{
	struct sgxk *k = e->k;
	if (!(e->flags & ENCL_CREATED) || (e->flags & ENCL_INITIALIZED))
		return -EINVAL;
	struct sgx_enclave_init in;
	if (copy_from_user(&in, arg, sizeof(in)))
		return -EFAULT;
	/* SIGSTRUCT at the start of a page, a zeroed EINITTOKEN at offset 2048 (flexible launch control). */
	static _Thread_local uint8_t buf[KPAGE] __attribute__((aligned(4096)));
	memset(buf, 0, sizeof(buf));
	struct sgx_sigstruct *sig = (struct sgx_sigstruct *)buf;
	if (copy_from_user(sig, in.sigstruct, sizeof(*sig)))
		return -EFAULT;
	if (sig->vendor != 0 && sig->vendor != SGX_SIGSTRUCT_VENDOR_INTEL)
		return -EINVAL;
	if (e->attributes & ~e->attributes_mask)
		return -EACCES;
	if ((sig->attributes & sig->attributes_mask & k->attr_reserved) ||
	    ((uint64_t)sig->miscselect & sig->miscmask & k->misc_reserved) ||
	    (sig->xfrm & sig->xfrm_mask & k->xfrm_reserved))
		return -EINVAL;
	return encl_init(e, sig, buf + 2048);
}

/* ---- PROVISION ---- */

/* Is descriptor fd an open /dev/sgx_provision file? */
static bool fd_is_provision(struct sgxk *k, unsigned int fd)
{
	bool ok = false;
	pthread_mutex_lock(&k->files_lock);
	for (const struct sgx_file *f = k->files; f && !ok; f = f->next)
		ok = f->dev == SGX_DEV_PROVISION && (unsigned int)f->fd == fd;
	pthread_mutex_unlock(&k->files_lock);
	return ok;
}

/* PROVISIONKEY becomes allowed (no state check, as in Linux). */
static long sgx_ioc_enclave_provision(struct sgx_encl *e, unsigned long arg)
{
	struct sgx_enclave_provision p;
	if (copy_from_user(&p, arg, sizeof(p)))
		return -EFAULT;
	/* Linux looks the descriptor up as an unsigned int: the upper half of the u64 plays no part. */
	if (!fd_is_provision(e->k, (unsigned int)p.fd))
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	e->attributes_mask |= SGX_ATTR_PROVISIONKEY;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

/* ---- SGX2: common parts ---- */

static int sgx2_ready(const struct sgx_encl *e)
{
	if (!e->k->sgx2)
		return -ENODEV;
	if (!(e->flags & ENCL_INITIALIZED))
		return -EINVAL;
	return 0;
}

/* sgx_encl_load_page's errors as the SGX2 ioctls report them. */
static int load_err(int err)
{
	return err == -EAGAIN || err == -EBUSY ? -EAGAIN : -EFAULT;
}

/* ---- RESTRICT_PERMISSIONS ---- */

/* defer: the host mapping and ETRACK wait for the call's stale-TLB window (chaos_tlb_window). */
static int restrict_page(struct sgx_encl *e, uint64_t addr, uint64_t perms, __u64 *result, bool defer)
{
	int err = 0;
	struct encl_page *p = encl_load_page(e, addr, &err);
	if (!p)
		return load_err(err);
	if (p->type != SGX_PT_REG)
		return -EINVAL;
	struct sgx_secinfo si = {.flags = perms};
	struct hw_result r = encls_emodpr(e->k->m, NULL, (uint64_t)(uintptr_t)&si, encl_frame(e, addr));
	if (r.kind == HW_FAULT)
		return -EFAULT;
	if (r.kind == HW_CODE) {
		*result = r.rax;
		return -EFAULT;
	}
	/* vm_max_prot_bits and the PTE stay; the host page follows the narrower EPCM. */
	p->pr_seen = false;
	encl_req_note(e, p, REQ_RESTRICT);
	if (defer)
		return 0;
	vma_refresh_page(e, p);
	return encl_track(e);
}

/*
 * The per-page loop the SGX2 range ioctls share: reclaim when the EPC runs
 * low, then one page under the enclave lock, dropped between pages.  tlb:
 * the pages' host mappings and ETRACK were deferred to the call's
 * stale-TLB window, which follows the loop.
 * Return: bytes done before the first failure; *ret is that failure or 0.
 */
static uint64_t sgx2_range(struct sgx_encl *e, const char *name, uint64_t offset, uint64_t length,
			   int (*page)(struct sgx_encl *e, uint64_t addr, void *ctx), void *ctx, bool tlb, long *ret)
{
	uint64_t c;
	*ret = 0;
	/* As when a page of the range is being reclaimed: EAGAIN with the count done (sgx_encl_load_page's EBUSY). */
	uint64_t stop = chaos_stop(e, name, offset, length / KPAGE, 0, "EAGAIN");
	for (c = 0; c < length; c += KPAGE) {
		if (c == stop) {
			*ret = -EAGAIN;
			break;
		}
		reclaim_direct(e);
		pthread_mutex_lock(&e->lock);
		*ret = page(e, e->base + offset + c, ctx);
		pthread_mutex_unlock(&e->lock);
		if (*ret)
			break;
	}
	if (tlb && c) {
		int err = chaos_tlb_window(e, name, offset, c / KPAGE);
		if (err && !*ret)
			*ret = err;
	}
	return c;
}

struct restrict_ctx {
	uint64_t perms;
	__u64 *result;
	bool defer;
};

static int restrict_one(struct sgx_encl *e, uint64_t addr, void *ctx)
{
	struct restrict_ctx *r = ctx;
	return restrict_page(e, addr, r->perms, r->result, r->defer);
}

static long sgx_ioc_enclave_restrict_permissions(struct sgx_encl *e, unsigned long arg)
{
	int ret = sgx2_ready(e);
	if (ret)
		return ret;
	struct sgx_enclave_restrict_permissions a;
	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (check_range(e, a.offset, a.length))
		return -EINVAL;
	if (a.permissions & ~SGX_SECINFO_PERM_MASK)
		return -EINVAL;
	if ((a.permissions & SGX_SECINFO_W) && !(a.permissions & SGX_SECINFO_R))
		return -EINVAL;
	if (a.result || a.count)
		return -EINVAL;
	bool tlb = e->k->cfg.chaos_tlb_usec != 0;
	struct restrict_ctx rc = {.perms = a.permissions, .result = &a.result, .defer = tlb};
	long err;
	a.count = sgx2_range(e, "RESTRICT_PERMISSIONS", a.offset, a.length, restrict_one, &rc, tlb, &err);
	ret = (int)err;
	if (copy_to_user(arg, &a, sizeof(a)))
		return -EFAULT;
	return ret;
}

/* ---- MODIFY_TYPES ---- */

/* defer: the host mapping and ETRACK wait for the call's stale-TLB window (chaos_tlb_window). */
static int modify_type_page(struct sgx_encl *e, uint64_t addr, uint8_t type, __u64 *result, bool defer)
{
	struct sgxk *k = e->k;
	int err = 0;
	struct encl_page *p = encl_load_page(e, addr, &err);
	if (!p)
		return load_err(err);
	if (!(p->type == SGX_PT_REG || (p->type == SGX_PT_TCS && type == SGX_PT_TRIM)))
		return -EINVAL;
	uint8_t max_restore = p->max_prot;
	bool to_tcs = type == SGX_PT_TCS;
	if (to_tcs) {
		if ((p->max_prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE))
			return -EPERM;
		p->max_prot = PROT_READ | PROT_WRITE;
		/* A TCS stays in the EPC. */
		if (!lru_del(k, p)) {
			p->max_prot = max_restore;
			return -EAGAIN;
		}
		vma_zap_page(e, p);
	}
	struct sgx_secinfo si = {.flags = SGX_SECINFO_PT(type)};
	struct hw_result r = encls_emodt(k->m, NULL, (uint64_t)(uintptr_t)&si, encl_frame(e, addr));
	if (r.kind != HW_OK) {
		if (r.kind == HW_CODE)
			*result = r.rax;
		if (to_tcs) {
			p->max_prot = max_restore;
			lru_add(k, p);
		}
		return -EFAULT;
	}
	encl_req_note(e, p, REQ_MODIFY);
	if (defer) {
		p->type = type;
		return 0;
	}
	vma_refresh_page(e, p);
	if (encl_track(e))
		return -EFAULT;
	p->type = type;
	return 0;
}

struct modify_ctx {
	uint8_t type;
	__u64 *result;
	bool defer;
};

static int modify_one(struct sgx_encl *e, uint64_t addr, void *ctx)
{
	struct modify_ctx *mc = ctx;
	return modify_type_page(e, addr, mc->type, mc->result, mc->defer);
}

/*
 * The work of MODIFY_TYPES on a validated struct: the new type, then the
 * pages; a->count and a->result say how far it got.  Return: 0, -EINVAL
 * (a type EMODT cannot give, or a page that cannot take it), or a page's
 * error.
 */
static long encl_modify_types(struct sgx_encl *e, struct sgx_enclave_modify_types *a)
{
	/* EMODT gives a regular page only these types. */
	if (a->page_type != SGX_PT_TCS && a->page_type != SGX_PT_TRIM)
		return -EINVAL;
	bool tlb = e->k->cfg.chaos_tlb_usec != 0;
	struct modify_ctx mc = {.type = (uint8_t)a->page_type, .result = &a->result, .defer = tlb};
	long err;
	a->count = sgx2_range(e, "MODIFY_TYPES", a->offset, a->length, modify_one, &mc, tlb, &err);
	return err;
}

static long sgx_ioc_enclave_modify_types(struct sgx_encl *e, unsigned long arg)
{
	int ret = sgx2_ready(e);
	if (ret)
		return ret;
	struct sgx_enclave_modify_types a;
	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (check_range(e, a.offset, a.length))
		return -EINVAL;
	if (a.page_type & ~0xFFULL)
		return -EINVAL;
	if (a.result || a.count)
		return -EINVAL;
	/* Whatever the work gives, the struct goes back (a read-only one: EFAULT, even for a bad type). */
	long err = encl_modify_types(e, &a);
	if (copy_to_user(arg, &a, sizeof(a)))
		return -EFAULT;
	return err;
}

/* ---- REMOVE_PAGES ---- */

static int remove_page(struct sgx_encl *e, uint64_t addr)
{
	struct sgxk *k = e->k;
	int err = 0;
	struct encl_page *p = encl_load_page(e, addr, &err);
	if (!p)
		return load_err(err);
	if (p->type != SGX_PT_TRIM)
		return -EPERM;
	/* Only a #PF proves the enclave accepted the trim (an accepted TRIM is no longer PT_REG). */
	struct sgx_secinfo si = {.flags = SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_X};
	uint64_t frame = encl_frame(e, addr);
	struct hw_result r = encls_emodpr(k->m, NULL, (uint64_t)(uintptr_t)&si, frame);
	if (!hw_is_fault(r, X86_PF))
		return -EPERM;
	if (!lru_del(k, p))
		return -EBUSY;
	vma_zap_page(e, p);
	r = encls_eremove(k->m, frame);
	if (hw_is_ok(r)) {
		sgx_epc_put(k);
		e->children--;
	} else {
		fprintf(stderr, "sgxemu: EREMOVE of trimmed page %#llx failed (page leaked)\n",
			(unsigned long long)addr);
	}
	encl_page_remove(e, p);
	return 0;
}

static int remove_one(struct sgx_encl *e, uint64_t addr, void *ctx)
{
	(void)ctx;
	return remove_page(e, addr);
}

static long sgx_ioc_enclave_remove_pages(struct sgx_encl *e, unsigned long arg)
{
	int ret = sgx2_ready(e);
	if (ret)
		return ret;
	struct sgx_enclave_remove_pages a;
	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (check_range(e, a.offset, a.length))
		return -EINVAL;
	if (a.count)
		return -EINVAL;
	long err;
	/* The range's frames give their memory back in one step at the end, not one EREMOVE at a time. */
	uint64_t frames = encl_frame(e, e->base + a.offset);
	hw_epc_retire(e->k->m, frames, a.length);
	a.count = sgx2_range(e, "REMOVE_PAGES", a.offset, a.length, remove_one, NULL, false, &err);
	hw_epc_retire_end(e->k->m, frames, a.length);
	ret = (int)err;
	if (copy_to_user(arg, &a, sizeof(a)))
		return -EFAULT;
	return ret;
}

/* ---- AUGMENT_PAGES (ours) ---- */

static long sgx_ioc_enclave_augment_pages(struct sgx_encl *e, unsigned long arg)
{
	int ret = sgx2_ready(e);
	if (ret)
		return ret;
	struct sgx_enclave_augment_pages a;
	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (check_range(e, a.offset, a.length))
		return -EINVAL;
	if (a.count)
		return -EINVAL;
	struct sgx_secinfo si;
	if (copy_from_user(&si, a.secinfo, sizeof(si)))
		return -EFAULT;
	uint64_t perms = si.flags & SGX_SECINFO_PERM_MASK;
	if (secinfo_pt(si.flags) != SGX_PT_REG || (si.flags & ~SECINFO_ADD_ALLOWED) ||
	    !all_zero(si.reserved, sizeof(si.reserved)) || ((perms & SGX_SECINFO_W) && !(perms & SGX_SECINFO_R)))
		return -EINVAL;
	if (perms & ~(uint64_t)e->dyn_max_prot)
		return -EPERM;
	const struct reclaim_keep keep = {.encl = e};
	/* As when no EPC frame can be freed: ENOMEM with the count done. */
	uint64_t stop = chaos_stop(e, "AUGMENT_PAGES", a.offset, a.length / KPAGE, 0, "ENOMEM");
	bool ahead = populate_ahead(e, a.offset, a.length);
	uint64_t c;
	for (c = 0; c < a.length; c += KPAGE) {
		if (c == stop) {
			ret = -ENOMEM;
			break;
		}
		if (!ahead)
			populate_batch(e, a.offset, c, a.length);
		reclaim_direct(e);
		/* Bounded: a round either adds the page or evicts a page at least, whose frame others may take. */
		for (unsigned round = 0;; round++) {
			pthread_mutex_lock(&e->lock);
			ret = encl_augment(e, e->base + a.offset + c, (uint8_t)perms, true);
			if (!ret)
				encl_req_note(e, encl_page_at(e, e->base + a.offset + c), REQ_AUGMENT);
			pthread_mutex_unlock(&e->lock);
			if (ret != -EBUSY)
				break;
			/* The enclave's own SECS stays: reloading it would take the frame just freed. */
			if (round == SGX_RECLAIM_ROUNDS || reclaim_pages(e->k, SGX_NR_TO_SCAN, &keep) == 0) {
				ret = -ENOMEM;
				break;
			}
		}
		if (ret == -EEXIST)
			ret = -EBUSY;
		if (ret)
			break;
	}
	populate_unwind(e, a.offset, c, a.length, ahead);
	a.count = c;
	if (copy_to_user(arg + offsetof(struct sgx_enclave_augment_pages, count), &a.count, sizeof(a.count)))
		return -EFAULT;
	return ret;
}

long sgx_ioctl(struct sgx_encl *e, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case SGX_IOC_ENCLAVE_CREATE:
		return sgx_ioc_enclave_create(e, arg);
	case SGX_IOC_ENCLAVE_ADD_PAGES:
		return sgx_ioc_enclave_add_pages(e, arg);
	case SGX_IOC_ENCLAVE_INIT:
		return sgx_ioc_enclave_init(e, arg);
	case SGX_IOC_ENCLAVE_PROVISION:
		return sgx_ioc_enclave_provision(e, arg);
	case SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS:
		return sgx_ioc_enclave_restrict_permissions(e, arg);
	case SGX_IOC_ENCLAVE_MODIFY_TYPES:
		return sgx_ioc_enclave_modify_types(e, arg);
	case SGX_IOC_ENCLAVE_REMOVE_PAGES:
		return sgx_ioc_enclave_remove_pages(e, arg);
	case SGX_IOC_ENCLAVE_AUGMENT_PAGES:
		return sgx_ioc_enclave_augment_pages(e, arg);
	default:
		return -ENOTTY;
	}
}
