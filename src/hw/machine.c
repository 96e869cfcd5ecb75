/* SPDX-License-Identifier: MIT */
/* The machine: configuration, the physical space (EPC memfd), windows, capacity, MSRs. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* A free range of the physical space, [start, start+len) as memfd offsets. */
struct window {
	uint64_t start, len;
	struct window *next;
};

void hw_config_default(struct hw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->epc_size = 128ULL << 20;
	cfg->epc_sections = 1;
	cfg->space_size = 1ULL << 40;
	cfg->misc_supported = SGX_MISC_EXINFO;
	cfg->attr_allowed = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT | SGX_ATTR_PROVISIONKEY | SGX_ATTR_EINITTOKENKEY |
			    SGX_ATTR_KSS | SGX_ATTR_AEXNOTIFY;
	/* x87 | SSE: deterministic; a host widens both with hw_xfrm_allowed_for(its XCR0) and its layout. */
	cfg->xfrm_allowed = 0x3;
	cfg->xcr0 = 0x3;
	hw_xsave_layout_default(cfg);
	cfg->max_size_log2_64 = 36;
	cfg->max_size_log2_32 = 31;
	for (unsigned i = 0; i < 16; i++)
		cfg->cpusvn[i] = 0x01;
}

/* The smallest physical space a host that refuses the configured one gets (1 GiB). */
#define SPACE_FLOOR (1ULL << 30)

/* The end of the largest standard-format image accepted: far beyond AMX's 11008 bytes. */
#define XSTATE_END_MAX (1U << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int hw_machine_create(const struct hw_config *cfg, struct hw_machine **out, char *err, size_t errlen)
{
	struct hw_config c = *cfg;
	if (c.epc_size < 2 * SGX_PAGE_SIZE || (c.epc_size & 0xFFF))
		return fail(err, errlen, "EPC size %#llx: must be a multiple of 4096 and at least 8 KiB",
			    (unsigned long long)c.epc_size);
	if (c.epc_sections < 1 || c.epc_sections > 8)
		return fail(err, errlen, "EPC sections %u: must be 1..8", c.epc_sections);
	if (c.space_size < c.epc_size || (c.space_size & (c.space_size - 1)))
		return fail(err, errlen, "physical space %#llx: must be a power of two >= the EPC size",
			    (unsigned long long)c.space_size);
	if ((c.xcr0 & 3) != 3 || !hw_xfrm_legal(c.xcr0))
		return fail(err, errlen, "XCR0 %#llx is not a legal XCR0 value", (unsigned long long)c.xcr0);
	if ((c.xfrm_allowed & 3) != 3 || (c.xfrm_allowed & ~HW_XFRM_KNOWN))
		return fail(err, errlen, "XFRM allowed %#llx: must have x87 and SSE and only the components of %#llx",
			    (unsigned long long)c.xfrm_allowed, (unsigned long long)HW_XFRM_KNOWN);
	/* Every component a thread image may hold needs a place after the header, in no other's. */
	uint64_t comps = (c.xcr0 | c.xfrm_allowed) & ~3ULL;
	for (unsigned i = 2; i < HW_XFEATURES; i++) {
		if (!(comps & (1ULL << i)))
			continue;
		uint64_t off = c.xstate_offset[i], end = off + c.xstate_size[i];
		if (!c.xstate_size[i] || off < 576 || end > XSTATE_END_MAX)
			return fail(err, errlen, "XSAVE component %u: offset %u size %u is outside 576..%u", i,
				    c.xstate_offset[i], c.xstate_size[i], XSTATE_END_MAX);
		for (unsigned j = 2; j < i; j++)
			if ((comps & (1ULL << j)) && off < (uint64_t)c.xstate_offset[j] + c.xstate_size[j] &&
			    c.xstate_offset[j] < end)
				return fail(err, errlen, "XSAVE components %u and %u overlap", j, i);
	}

	struct hw_machine *m = calloc(1, sizeof(*m));
	if (!m)
		return fail(err, errlen, "out of memory");
	m->cfg = c;
	m->memfd = memfd_create("sgxemu-epc", MFD_CLOEXEC);
	if (m->memfd < 0) {
		fail(err, errlen, "memfd_create: %s", strerror(errno));
		goto err_free;
	}
	if (ftruncate(m->memfd, (off_t)c.space_size) < 0) {
		fail(err, errlen, "ftruncate EPC memfd to %#llx: %s", (unsigned long long)c.space_size,
		     strerror(errno));
		goto err_fd;
	}
	/*
	 * The physical space is address space only (MAP_NORESERVE, sparse
	 * memfd), but some hosts refuse a reservation that large: valgrind's
	 * address-space manager, a ulimit -v.  Halve it down to a floor then;
	 * each enclave's window is as large as its ELRANGE, so the space only
	 * bounds the sum of the live enclaves' sizes (CREATE fails with ENOMEM
	 * past it).
	 */
	uint64_t floor = SPACE_FLOOR > c.epc_size ? SPACE_FLOOR : c.epc_size;
	for (;;) {
		m->alias = mmap(NULL, c.space_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->memfd, 0);
		if (m->alias != MAP_FAILED || c.space_size / 2 < floor || (errno != ENOMEM && errno != EINVAL))
			break;
		c.space_size /= 2;
	}
	if (m->alias == MAP_FAILED) {
		fail(err, errlen, "mmap of the EPC alias (%#llx bytes): %s", (unsigned long long)c.space_size,
		     strerror(errno));
		goto err_fd;
	}
	if (c.space_size != cfg->space_size && ftruncate(m->memfd, (off_t)c.space_size) < 0) {
		fail(err, errlen, "ftruncate EPC memfd to %#llx: %s", (unsigned long long)c.space_size,
		     strerror(errno));
		munmap(m->alias, c.space_size);
		goto err_fd;
	}
	m->cfg.space_size = c.space_size;
	/* A forked child must not see (and change) the parent's EPC. */
	madvise(m->alias, c.space_size, MADV_DONTFORK);
	m->space = c.space_size;
	m->epcm_chunks = (c.space_size >> 12) >> EPCM_CHUNK_SHIFT;
	if (m->epcm_chunks == 0)
		m->epcm_chunks = 1;
	m->epcm = calloc(m->epcm_chunks, sizeof(*m->epcm));
	m->windows = malloc(sizeof(*m->windows));
	if (!m->epcm || !m->windows) {
		fail(err, errlen, "out of memory");
		goto err_map;
	}
	*m->windows = (struct window){.start = 0, .len = c.space_size, .next = NULL};
	m->frames_total = c.epc_size >> 12;
	/* Up to 256 MiB of EWB'd frames keep their memory (fewer when the EPC is smaller); none without the set. */
	m->kept_limit = m->frames_total < 65536 ? m->frames_total : 65536;
	size_t slots = 1;
	while (slots < 2 * m->kept_limit)
		slots <<= 1;
	m->kept = calloc(slots, sizeof(*m->kept));
	m->kept_mask = slots - 1;
	if (!m->kept)
		m->kept_limit = 0;
	atomic_init(&m->lock.word, 0);
	hw_lock_init(&m->alloc_lock);
	for (unsigned i = 0; i < 4; i++)
		memcpy(&m->lehash[i], c.lehash + 8 * i, 8);
	if (c.root_secret_set)
		memcpy(m->key_root, c.root_secret, 32);
	else
		crypto_random(m->key_root, 32);
	/* The paging key is derived from the root, so a fixed root gives reproducible blobs. */
	static const char label[] = "sgxemu paging key";
	uint8_t buf[32 + sizeof(label)];
	memcpy(buf, m->key_root, 32);
	memcpy(buf + 32, label, sizeof(label));
	crypto_sha256(buf, sizeof(buf), m->paging_key);
	m->next_eid = 1;
	/* Without it the readahead gives memory in the leaves' own threads. */
	if (!populator_init(m))
		m->cfg.sync_readahead = true;
	*out = m;
	return 0;

err_map:
	free(m->epcm);
	free(m->windows);
	munmap(m->alias, c.space_size);
err_fd:
	close(m->memfd);
err_free:
	free(m);
	return -1;
}

void hw_machine_destroy(struct hw_machine *m)
{
	if (!m)
		return;
	/* The helper thread stops before the memory it works on goes. */
	populator_fini(m);
	while (m->all_secs)
		secs_priv_free(m, m->all_secs);
	for (uint64_t i = 0; i < m->epcm_chunks; i++)
		free(m->epcm[i]);
	free(m->epcm);
	while (m->windows) {
		struct window *w = m->windows;
		m->windows = w->next;
		free(w);
	}
	munmap(m->alias, m->space);
	close(m->memfd);
	free(m->kept);
	pthread_mutex_destroy(&m->alloc_lock);
	free(m);
}

const struct hw_config *hw_machine_config(const struct hw_machine *m)
{
	return &m->cfg;
}

int hw_epc_fd(const struct hw_machine *m)
{
	return m->memfd;
}

uint64_t hw_epc_offset(const struct hw_machine *m, uint64_t pa)
{
	return pa - (uint64_t)(uintptr_t)m->alias;
}

uint64_t hw_epc_pa(const struct hw_machine *m, uint64_t off)
{
	return (uint64_t)(uintptr_t)m->alias + off;
}

bool hw_is_epc(const struct hw_machine *m, uint64_t pa)
{
	uint64_t base = (uint64_t)(uintptr_t)m->alias;
	return pa >= base && pa - base < m->space;
}

uint64_t hw_epc_window_alloc(struct hw_machine *m, uint64_t size)
{
	if (size < SGX_PAGE_SIZE || (size & (size - 1)))
		return 0;
	uint64_t pa = 0;
	pthread_mutex_lock(&m->alloc_lock);
	for (struct window **pw = &m->windows; *pw; pw = &(*pw)->next) {
		struct window *w = *pw;
		uint64_t start = (w->start + size - 1) & ~(size - 1);
		if (start < w->start || start + size > w->start + w->len)
			continue;
		uint64_t tail = w->start + w->len - (start + size);
		if (start > w->start) {
			/* Keep the head; put the tail after it. */
			uint64_t head = start - w->start;
			if (tail) {
				struct window *t = malloc(sizeof(*t));
				if (!t)
					break;
				*t = (struct window){.start = start + size, .len = tail, .next = w->next};
				w->next = t;
			}
			w->len = head;
		} else if (tail) {
			w->start += size;
			w->len = tail;
		} else {
			*pw = w->next;
			free(w);
		}
		pa = hw_epc_pa(m, start);
		break;
	}
	pthread_mutex_unlock(&m->alloc_lock);
	return pa;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* 1: MADV_POPULATE_WRITE works, 0: not known yet, -1: the host kernel refused it (use fallocate). */
static _Atomic int populate_madvise;

/* Is [pa, pa + len) a non-empty range of the machine's physical space? */
static bool epc_range_ok(const struct hw_machine *m, uint64_t pa, uint64_t len)
{
	return hw_is_epc(m, pa) && len && len <= m->space && pa - (uint64_t)(uintptr_t)m->alias <= m->space - len;
}

int epc_populate(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	if (!epc_range_ok(m, pa, len))
		return -EINVAL;
	if (populate_madvise >= 0) {
		if (madvise(hw_pa_ptr(m, pa), len, MADV_POPULATE_WRITE) == 0) {
			populate_madvise = 1;
			return 0;
		}
		/* EINVAL from a kernel that does not know the advice; anything else is this call's. */
		if (errno != EINVAL || populate_madvise == 1)
			return -errno;
		populate_madvise = -1;
	}
	if (fallocate(m->memfd, FALLOC_FL_KEEP_SIZE, (off_t)hw_epc_offset(m, pa), (off_t)len) < 0)
		return -errno;
	return 0;
}

/*
 * Readahead follows each thread's own leaves: threads filling enclaves (or
 * parts of one) at once each write their frames in order, interleaved with
 * the others'.  last: the frame this thread's last such leaf wrote;
 * [start, end): frames given memory for it already; [pa, pa + len): frames
 * its last leaf asked memory for, given it once the machine's lock is
 * released (epc_readahead_run), or when the OS lets go of its own locks
 * (hw_epc_readahead_hold): the host kernel's allocation of 256 KiB takes
 * long enough (over 100 us on a busy guest) to stall every other thread's
 * leaf if done under a lock.  m: the machine all this is about.
 */
static __thread struct {
	struct hw_machine *m;
	uint64_t last, start, end;
	uint64_t pa, len;
	unsigned hold;
	bool ahead;   /* [start, end) is the populator's: it grows a chunk at a time */
	bool batch;   /* [start, end) is an OS's batch (hw_epc_populate): the OS gives the frames after it */
	uint64_t run; /* frames taken in order, one after the other, so far */
} ra;

/* The thread's readahead state, for machine m. */
static void ra_for(struct hw_machine *m)
{
	if (ra.m != m) {
		ra.m = m;
		ra.last = ra.start = ra.end = 0;
	}
}

/* An OS gave [pa, pa + len) memory or asked for it: this thread's next leaves take those frames, no readahead. */
static void ra_batch(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	ra_for(m);
	ra.start = pa;
	ra.end = pa + len;
	ra.ahead = false;
	ra.batch = true;
}

int hw_epc_populate(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	int r = epc_populate(m, pa, len);
	if (r == 0)
		ra_batch(m, pa, len);
	return r;
}

bool hw_epc_populate_async(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	if (!epc_range_ok(m, pa, len) || m->cfg.sync_readahead ||
	    populator_request(m, pa, len, true) != POPULATOR_QUEUED)
		return false;
	ra_batch(m, pa, len);
	return true;
}

/* Frames given memory ahead of a leaf that takes frames in order: up to the end of 256 KiB chunks. */
#define RA_BYTES (64ULL * SGX_PAGE_SIZE)
/* Frames in order after which the populator gives the memory ahead (1 MiB). */
#define RA_ASYNC_AFTER 256

/* Rounds a thread spins on a held machine lock before it sleeps (glibc's adaptive mutexes spin up to 100). */
#define MUTEX_SPINS 100

/*
 * futex(word, op, val) without errno: the lock is taken on the way into and
 * out of enclaves, where a program's errno must come back as it went in
 * (its failures, EAGAIN and EINTR, only mean "look at the word again").
 */
__attribute__((target("general-regs-only"))) static void futex_raw(_Atomic uint32_t *word, int op, uint32_t val)
{
	long ret;
	register void *timeout __asm__("r10") = NULL;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_futex), "D"(word), "S"((long)op), "d"((long)val), "r"(timeout)
			 : "rcx", "r11", "memory");
	(void)ret;
}

__attribute__((target("general-regs-only"))) void hw_mutex_wait(struct hw_mutex *l)
{
	for (unsigned i = 0; i < MUTEX_SPINS; i++) {
		__builtin_ia32_pause();
		uint32_t free_word = 0;
		if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->word, &free_word, 1, memory_order_acquire,
							  memory_order_relaxed))
			return;
	}
	/* Marked 2 whoever holds it, so that its unlock wakes a sleeper; whoever takes it by the exchange keeps 2. */
	while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
		futex_raw(&l->word, FUTEX_WAIT_PRIVATE, 2);
}

__attribute__((target("general-regs-only"))) void hw_mutex_wake(struct hw_mutex *l)
{
	futex_raw(&l->word, FUTEX_WAKE_PRIVATE, 1);
}

void hw_lock_init(pthread_mutex_t *lock)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(lock, &a);
	pthread_mutexattr_destroy(&a);
}

void epc_readahead(struct hw_machine *m, uint64_t pa)
{
	ra_for(m);
	bool in_order = pa == ra.last + SGX_PAGE_SIZE;
	ra.run = in_order ? ra.run + 1 : 0;
	ra.last = pa;
	/* The populator takes over once a run is long enough to be worth a thread (small enclaves never start it). */
	uint64_t after = m->cfg.populator_after ? m->cfg.populator_after : RA_ASYNC_AFTER;
	bool async = !m->cfg.sync_readahead && ra.run >= after;
	if (pa >= ra.start && pa < ra.end) {
		/* The populator keeps a chunk ahead: entering the last chunk given memory asks for the next one. */
		if (async && !ra.batch && !ra.len && ra.end - pa <= RA_BYTES && epc_range_ok(m, ra.end, RA_BYTES)) {
			ra.ahead = true;
			ra.pa = ra.end;
			ra.len = RA_BYTES;
			ra.end += RA_BYTES;
		}
		return;
	}
	if (!in_order || m->cfg.no_readahead || ra.len)
		return;
	/* The rest of pa's aligned chunk: an enclave's window of 256 KiB or more holds whole chunks. */
	uint64_t len = RA_BYTES - hw_epc_offset(m, pa) % RA_BYTES;
	ra.start = pa;
	ra.end = pa + len;
	ra.ahead = async;
	ra.batch = false;
	/* With the populator, the next chunk too, so that it stays ahead of the leaves. */
	if (async && epc_range_ok(m, ra.end, RA_BYTES))
		ra.end += RA_BYTES;
	/* The leaf writes pa itself now; the frames after it get their memory after the lock. */
	if (ra.end - pa > SGX_PAGE_SIZE) {
		ra.pa = pa + SGX_PAGE_SIZE;
		ra.len = ra.end - ra.pa;
	}
}

void epc_readahead_run(void)
{
	if (!ra.len)
		return;
	uint64_t pa = ra.pa, len = ra.len;
	if (ra.ahead) {
		/* Dropped (the thread is behind): these frames fault in at their first write. */
		if (populator_request(ra.m, pa, len, false) != POPULATOR_ABSENT) {
			ra.len = 0;
			return;
		}
	}
	if (ra.hold)
		return;
	ra.len = 0;
	/* A failure only means the faults happen one by one, as without readahead. */
	(void)epc_populate(ra.m, pa, len);
}

void hw_epc_readahead_hold(bool hold)
{
	if (hold) {
		ra.hold++;
		return;
	}
	if (ra.hold && --ra.hold == 0)
		epc_readahead_run();
}

/* Give back the memory of the frames in [pa, pa + len) that hold no valid page, one call per run (m->lock held). */
static void release_invalid(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	uint64_t run = 0, end = HW_PAGE_DOWN(pa) + len;
	for (uint64_t a = HW_PAGE_DOWN(pa); a <= end; a += SGX_PAGE_SIZE) {
		const struct epcm_entry *e = a < end ? epcm_peek(m, a) : NULL;
		bool invalid = a < end && (!e || !e->valid);
		if (invalid && !run)
			run = a;
		if (!invalid && run) {
			fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)hw_epc_offset(m, run),
				  (off_t)(a - run));
			epcm_kept_forget(m, run, a - run);
			run = 0;
		}
	}
}

void hw_epc_release_unused(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	/* Nothing the populator was asked for lands in the range after this. */
	populator_forget(m, pa, len);
	hw_mutex_lock(&m->lock);
	release_invalid(m, pa, len);
	hw_mutex_unlock(&m->lock);
}

void hw_epc_retire_end(struct hw_machine *m, uint64_t pa, uint64_t size)
{
	hw_mutex_lock(&m->lock);
	for (unsigned i = 0; i < m->nretiring; i++) {
		if (m->retiring[i].pa == pa && m->retiring[i].size == size) {
			m->retiring[i] = m->retiring[--m->nretiring];
			break;
		}
	}
	release_invalid(m, pa, size);
	hw_mutex_unlock(&m->lock);
}

void hw_epc_retire(struct hw_machine *m, uint64_t pa, uint64_t size)
{
	hw_mutex_lock(&m->lock);
	if (m->nretiring < HW_RETIRING_MAX)
		m->retiring[m->nretiring++] = (typeof(m->retiring[0])){.pa = pa, .size = size};
	hw_mutex_unlock(&m->lock);
}

void hw_epc_window_free(struct hw_machine *m, uint64_t pa, uint64_t size)
{
	uint64_t start = hw_epc_offset(m, pa);
	/* No request of the populator gives the window memory again after this. */
	populator_forget(m, pa, size);
	/* Whatever is left in the window goes back to the system, kept frames and a retiring window's too. */
	fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)start, (off_t)size);
	if (atomic_load(&m->kept_count) || atomic_load_explicit(&m->nretiring, memory_order_relaxed)) {
		hw_mutex_lock(&m->lock);
		epcm_kept_forget(m, pa, size);
		for (unsigned i = 0; i < m->nretiring; i++) {
			if (m->retiring[i].pa == pa) {
				m->retiring[i] = m->retiring[--m->nretiring];
				break;
			}
		}
		hw_mutex_unlock(&m->lock);
	}
	pthread_mutex_lock(&m->alloc_lock);
	struct window *prev = NULL, *next = m->windows;
	while (next && next->start < start) {
		prev = next;
		next = next->next;
	}
	if (prev && prev->start + prev->len == start) {
		prev->len += size;
		if (next && prev->start + prev->len == next->start) {
			prev->len += next->len;
			prev->next = next->next;
			free(next);
		}
	} else if (next && start + size == next->start) {
		next->start = start;
		next->len += size;
	} else {
		struct window *w = malloc(sizeof(*w));
		if (!w) {
			/* Losing a window only shrinks the physical space; nothing stored is affected. */
			pthread_mutex_unlock(&m->alloc_lock);
			return;
		}
		*w = (struct window){.start = start, .len = size, .next = next};
		if (prev)
			prev->next = w;
		else
			m->windows = w;
	}
	pthread_mutex_unlock(&m->alloc_lock);
}

bool hw_epc_reserve(struct hw_machine *m)
{
	uint64_t used = atomic_load(&m->frames_used);
	do {
		if (used >= m->frames_total)
			return false;
	} while (!atomic_compare_exchange_weak(&m->frames_used, &used, used + 1));
	/* Frames EWB kept with their memory make room: resident frames stay within the capacity. */
	size_t kept = atomic_load(&m->kept_count);
	if (kept && used + 1 + kept > m->frames_total) {
		hw_mutex_lock(&m->lock);
		epcm_kept_trim(m, used + 1);
		hw_mutex_unlock(&m->lock);
	}
	const struct hw_obs *o = hw_obs_get();
	if (__builtin_expect(o != NULL, 0))
		o->epc(m, used + 1, m->frames_total);
	return true;
}

void hw_epc_release(struct hw_machine *m)
{
	uint64_t prev = atomic_fetch_sub(&m->frames_used, 1);
	if (prev == 0) {
		fprintf(stderr, "sgxemu: EPC capacity released more often than reserved\n");
		abort();
	}
	const struct hw_obs *o = hw_obs_get();
	if (__builtin_expect(o != NULL, 0))
		o->epc(m, prev - 1, m->frames_total);
}

uint64_t hw_epc_frames_total(const struct hw_machine *m)
{
	return m->frames_total;
}

uint64_t hw_epc_frames_free(const struct hw_machine *m)
{
	return m->frames_total - atomic_load(&((struct hw_machine *)m)->frames_used);
}

bool hw_wrmsr_lehash(struct hw_machine *m, unsigned n, uint64_t value)
{
	if (n > 3 || m->cfg.lehash_locked)
		return false;
	hw_mutex_lock(&m->lock);
	m->lehash[n] = value;
	hw_mutex_unlock(&m->lock);
	return true;
}

uint64_t hw_rdmsr_lehash(struct hw_machine *m, unsigned n)
{
	if (n > 3)
		return 0;
	hw_mutex_lock(&m->lock);
	uint64_t v = m->lehash[n];
	hw_mutex_unlock(&m->lock);
	return v;
}

static const char *const error_names[] = {
    [SGX_SUCCESS] = "SGX_SUCCESS",
    [SGX_INVALID_SIG_STRUCT] = "SGX_INVALID_SIG_STRUCT",
    [SGX_INVALID_ATTRIBUTE] = "SGX_INVALID_ATTRIBUTE",
    [SGX_BLKSTATE] = "SGX_BLKSTATE",
    [SGX_INVALID_MEASUREMENT] = "SGX_INVALID_MEASUREMENT",
    [SGX_NOTBLOCKABLE] = "SGX_NOTBLOCKABLE",
    [SGX_PG_INVLD] = "SGX_PG_INVLD",
    [SGX_EPC_PAGE_CONFLICT] = "SGX_EPC_PAGE_CONFLICT",
    [SGX_INVALID_SIGNATURE] = "SGX_INVALID_SIGNATURE",
    [SGX_MAC_COMPARE_FAIL] = "SGX_MAC_COMPARE_FAIL",
    [SGX_PAGE_NOT_BLOCKED] = "SGX_PAGE_NOT_BLOCKED",
    [SGX_NOT_TRACKED] = "SGX_NOT_TRACKED",
    [SGX_VA_SLOT_OCCUPIED] = "SGX_VA_SLOT_OCCUPIED",
    [SGX_CHILD_PRESENT] = "SGX_CHILD_PRESENT",
    [SGX_ENCLAVE_ACT] = "SGX_ENCLAVE_ACT",
    [SGX_ENTRYEPOCH_LOCKED] = "SGX_ENTRYEPOCH_LOCKED",
    [SGX_INVALID_EINITTOKEN] = "SGX_INVALID_EINITTOKEN",
    [SGX_PREV_TRK_INCMPL] = "SGX_PREV_TRK_INCMPL",
    [SGX_PG_IS_SECS] = "SGX_PG_IS_SECS",
    [SGX_PAGE_ATTRIBUTES_MISMATCH] = "SGX_PAGE_ATTRIBUTES_MISMATCH",
    [SGX_PAGE_NOT_MODIFIABLE] = "SGX_PAGE_NOT_MODIFIABLE",
    [SGX_PAGE_NOT_DEBUGGABLE] = "SGX_PAGE_NOT_DEBUGGABLE",
    [SGX_TRACK_NOT_REQUIRED] = "SGX_TRACK_NOT_REQUIRED",
};

const char *hw_error_name(uint64_t code)
{
	switch (code) {
	case SGX_INVALID_CPUSVN:
		return "SGX_INVALID_CPUSVN";
	case SGX_INVALID_ISVSVN:
		return "SGX_INVALID_ISVSVN";
	case SGX_UNMASKED_EVENT:
		return "SGX_UNMASKED_EVENT";
	case SGX_INVALID_KEYNAME:
		return "SGX_INVALID_KEYNAME";
	}
	if (code < sizeof(error_names) / sizeof(error_names[0]) && error_names[code])
		return error_names[code];
	return "SGX_UNKNOWN_ERROR";
}

int hw_result_format(struct hw_result r, char *buf, size_t len)
{
	switch (r.kind) {
	case HW_OK:
		if (r.rax)
			return snprintf(buf, len, "OK %s (%llu)%s", hw_error_name(r.rax), (unsigned long long)r.rax,
					r.cf ? " CF" : "");
		return snprintf(buf, len, "OK");
	case HW_CODE:
		return snprintf(buf, len, "%s (%llu)%s", hw_error_name(r.rax), (unsigned long long)r.rax,
				r.cf ? " CF" : " ZF");
	case HW_FAULT:
		if (r.vector == X86_PF)
			return snprintf(buf, len, "#PF(%#llx, err=%#x)", (unsigned long long)r.addr, r.errcode);
		if (r.vector == X86_GP)
			return snprintf(buf, len, "#GP(0)");
		if (r.vector == X86_UD)
			return snprintf(buf, len, "#UD");
		return snprintf(buf, len, "#%u", r.vector);
	}
	return snprintf(buf, len, "?");
}
