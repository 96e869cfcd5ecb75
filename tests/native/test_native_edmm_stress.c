/* SPDX-License-Identifier: MIT */
/*
 * Concurrent EDMM on one enclave, with enclave code running natively:
 * eight host threads (more than cores, more than the enclave's four TCSs,
 * which they take from a pool as an SDK's urts does) each own sixteen
 * dynamic pages, interleaved with the other threads' pages, and apply
 * random EDMM flows to them:
 *   commit    EACCEPT of an absent page (EAUG on the fault), or AUGMENT of it (alone, or
 *             with its two neighbours) + EACCEPT, then a write;
 *   write     a new pattern into an RW page, from enclave code;
 *   restrict  RESTRICT_PERMISSIONS to R, EACCEPT(PR | R) from the enclave, mprotect R;
 *   extend    EMODPE to RW from the enclave, mprotect RW;
 *   trim      MODIFY_TYPES to TRIM, EACCEPT(TRIM | MODIFIED), REMOVE_PAGES;
 *   check     read the page back from enclave code;
 *   remap     mmap(MAP_FIXED) of the device over the page and its two
 *             neighbours (which other threads own and use), RW, as a
 *             runtime's allocator maps a region it reserves.
 * The EPC (512 KiB) holds a fraction of the working set, so the reclaimer
 * evicts pages while their owners and neighbours use them.  After every
 * check and at the end, every page holds exactly what its owner last
 * wrote.  The seed is printed; SGXEMU_STRESS_SEED=N replays a run (one
 * thread's sequence of operations is a function of the seed; their
 * interleaving is the scheduler's).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <criterion/logging.h>

#include "native.h"

#define THREADS	   8
#define PAGES_PER  16
#define OPS_PER	   220
#define EPC_SIZE   (512ULL << 10)
#define FIRST_PAGE 64 /* dynamic page number of the first owned page */

enum state { ABSENT, RW, RO };

struct page {
	enum state st;
	uint32_t version; /* of the pattern it holds */
};

struct owner {
	unsigned idx;
	uint64_t rng;
	struct page pages[PAGES_PER];
	unsigned ops[8];
	char why[256];
};

static uint64_t seed;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static bool tcs_busy[DEVOS_THREADS];

static uint64_t next(uint64_t *s)
{
	/* splitmix64: a good sequence from any seed, zero included. */
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Page i of owner o: owners interleave, so every page's neighbours belong to other threads. */
static uint64_t page_addr(unsigned o, unsigned i)
{
	return devos_dyn(FIRST_PAGE + (uint64_t)i * THREADS + o);
}

static void pattern(unsigned o, unsigned i, uint32_t version, uint64_t *buf)
{
	uint64_t s = seed ^ ((uint64_t)o << 48) ^ ((uint64_t)i << 32) ^ version;
	for (size_t k = 0; k < SGX_PAGE_SIZE / 8; k++)
		buf[k] = next(&s);
}

static unsigned tcs_get(void)
{
	pthread_mutex_lock(&pool_lock);
	for (;;) {
		for (unsigned i = 0; i < DEVOS_THREADS; i++)
			if (!tcs_busy[i]) {
				tcs_busy[i] = true;
				pthread_mutex_unlock(&pool_lock);
				return i;
			}
		pthread_cond_wait(&pool_cond, &pool_lock);
	}
}

static void tcs_put(unsigned i)
{
	pthread_mutex_lock(&pool_lock);
	tcs_busy[i] = false;
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
}

/* One operation of the test enclave on a TCS of the pool; false (and why) unless it ended with EEXIT. */
static bool ecall(struct owner *w, uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t *out, const char *what)
{
	unsigned t = tcs_get();
	struct sgx_enclave_run run;
	uint64_t o[ENCL_OUT_WORDS] = {0};
	int r = devos_call(devos_tcs(t), op, a, b, c, o, &run);
	tcs_put(t);
	if (out)
		memcpy(out, o, sizeof(o));
	if (r == 0 && run.function == ENCLU_EEXIT)
		return true;
	snprintf(w->why, sizeof(w->why), "%s %#llx: r %d function %u vector %u error %#x address %#llx", what,
		 (unsigned long long)a, r, run.function, run.exception_vector, run.exception_error_code,
		 (unsigned long long)run.exception_addr);
	return false;
}

/* An SGX2 ioctl on one page, retried as runtimes do (EBUSY: another ioctl runs; EAGAIN: page being reclaimed). */
static bool ioctl_page(struct owner *w, unsigned long cmd, void *arg, const __u64 *count, const char *what)
{
	for (;;) {
		if (sgxemu_ioctl(dv.fd, cmd, arg) == 0)
			return true;
		if ((errno != EBUSY && errno != EAGAIN) || *count) {
			snprintf(w->why, sizeof(w->why), "%s: %s (count %llu)", what, strerror(errno),
				 (unsigned long long)*count);
			return false;
		}
		sched_yield();
	}
}

static bool eaccept(struct owner *w, uint64_t a, uint64_t flags, const char *what)
{
	uint64_t out[ENCL_OUT_WORDS];
	if (!ecall(w, OP_EACCEPT, a, flags, 0, out, what))
		return false;
	if (out[0] == 0)
		return true;
	snprintf(w->why, sizeof(w->why), "%s %#llx: SGX code %llu", what, (unsigned long long)a,
		 (unsigned long long)out[0]);
	return false;
}

static bool write_page(struct owner *w, unsigned i)
{
	static _Thread_local uint64_t buf[SGX_PAGE_SIZE / 8];
	struct page *p = &w->pages[i];
	pattern(w->idx, i, p->version + 1, buf);
	if (!ecall(w, OP_COPY, page_addr(w->idx, i), (uint64_t)(uintptr_t)buf, 0, NULL, "write"))
		return false;
	p->version++;
	return true;
}

static bool check_page(struct owner *w, unsigned i)
{
	static _Thread_local uint64_t want[SGX_PAGE_SIZE / 8], got[SGX_PAGE_SIZE / 8];
	struct page *p = &w->pages[i];
	if (p->st == ABSENT)
		return true;
	pattern(w->idx, i, p->version, want);
	memset(got, 0, sizeof(got));
	if (!ecall(w, OP_COPY_OUT, page_addr(w->idx, i), (uint64_t)(uintptr_t)got, 0, NULL, "read"))
		return false;
	for (size_t k = 0; k < SGX_PAGE_SIZE / 8; k++)
		if (got[k] != want[k]) {
			snprintf(w->why, sizeof(w->why),
				 "page %#llx (owner %u, page %u, version %u, %s): word %zu is %#llx, expected %#llx",
				 (unsigned long long)page_addr(w->idx, i), w->idx, i, p->version,
				 p->st == RW ? "RW" : "R", k, (unsigned long long)got[k], (unsigned long long)want[k]);
			return false;
		}
	return true;
}

/* AUGMENT_PAGES of n pages from a, retried while busy; false (with why) on an error Linux would not give here. */
static bool augment(struct owner *w, uint64_t a, unsigned n)
{
	static const struct sgx_secinfo rw __attribute__((aligned(64))) = {.flags = SECINFO_REG(SI_RW)};
	for (unsigned tries = 0; tries < 64; tries++) {
		struct sgx_enclave_augment_pages aug = {.offset = native_off(a),
							.length = n * (uint64_t)SGX_PAGE_SIZE,
							.secinfo = (uint64_t)(uintptr_t)&rw};
		if (sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &aug) == 0 || aug.count)
			return true;
		/* EBUSY: another ioctl, or a page of the range exists; EAGAIN, ENOMEM: the reclaimer's. */
		if (errno != EBUSY && errno != EAGAIN && errno != ENOMEM) {
			snprintf(w->why, sizeof(w->why), "AUGMENT of %u pages at %#llx: %s", n, (unsigned long long)a,
				 strerror(errno));
			return false;
		}
		sched_yield();
	}
	return true;
}

static bool commit(struct owner *w, unsigned i)
{
	uint64_t a = page_addr(w->idx, i);
	unsigned how = (unsigned)(next(&w->rng) % 4);
	/*
	 * AUGMENT of the page alone (how 1, 2), or of the page with its two
	 * neighbours, which other owners use (how 3): the kernel populates
	 * the frames of the range at once and stops with EBUSY at the first
	 * page that exists, giving back the frames it did not use while the
	 * neighbours' owners write theirs.  An absent neighbour is EAUGed (its
	 * owner's EACCEPT takes it as it is), so this page too may exist
	 * already; where the AUGMENT did not add it, the EACCEPT does.
	 */
	if (how && !augment(w, how == 3 ? a - SGX_PAGE_SIZE : a, how == 3 ? 3 : 1))
		return false;
	if (!eaccept(w, a, SI_PENDING_RW, "EACCEPT(PENDING)"))
		return false;
	/* The mapping may still say R from the page's previous life (restricted, then trimmed). */
	if (sgxemu_mprotect((void *)(uintptr_t)a, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE) != 0) {
		snprintf(w->why, sizeof(w->why), "mprotect RW: %s", strerror(errno));
		return false;
	}
	w->pages[i] = (struct page){.st = RW, .version = 0};
	/* A fresh page is all zero until written: its version 0 pattern is written at once. */
	w->pages[i].version = (uint32_t)-1;
	return write_page(w, i);
}

static bool restrict_ro(struct owner *w, unsigned i)
{
	uint64_t a = page_addr(w->idx, i);
	struct sgx_enclave_restrict_permissions r = {
	    .offset = native_off(a), .length = SGX_PAGE_SIZE, .permissions = SI_R};
	if (!ioctl_page(w, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &r, &r.count, "RESTRICT_PERMISSIONS"))
		return false;
	if (!eaccept(w, a, SECINFO_REG(SGX_SECINFO_PR | SI_R), "EACCEPT(PR)"))
		return false;
	if (sgxemu_mprotect((void *)(uintptr_t)a, SGX_PAGE_SIZE, PROT_READ) != 0) {
		snprintf(w->why, sizeof(w->why), "mprotect R: %s", strerror(errno));
		return false;
	}
	w->pages[i].st = RO;
	return true;
}

static bool extend_rw(struct owner *w, unsigned i)
{
	uint64_t a = page_addr(w->idx, i);
	if (!ecall(w, OP_EMODPE, a, SECINFO_REG(SI_RW), 0, NULL, "EMODPE"))
		return false;
	if (sgxemu_mprotect((void *)(uintptr_t)a, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE) != 0) {
		snprintf(w->why, sizeof(w->why), "mprotect RW: %s", strerror(errno));
		return false;
	}
	w->pages[i].st = RW;
	return true;
}

static bool trim(struct owner *w, unsigned i)
{
	uint64_t a = page_addr(w->idx, i);
	struct sgx_enclave_modify_types m = {
	    .offset = native_off(a), .length = SGX_PAGE_SIZE, .page_type = SGX_PT_TRIM};
	if (!ioctl_page(w, SGX_IOC_ENCLAVE_MODIFY_TYPES, &m, &m.count, "MODIFY_TYPES(TRIM)"))
		return false;
	if (!eaccept(w, a, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED, "EACCEPT(TRIM)"))
		return false;
	struct sgx_enclave_remove_pages rm = {.offset = native_off(a), .length = SGX_PAGE_SIZE};
	if (!ioctl_page(w, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rm, &rm.count, "REMOVE_PAGES"))
		return false;
	w->pages[i].st = ABSENT;
	return true;
}

static bool remap(struct owner *w, unsigned i)
{
	uint64_t a = page_addr(w->idx, i) - SGX_PAGE_SIZE;
	void *r = sgxemu_mmap((void *)(uintptr_t)a, 3 * SGX_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			      dv.fd, 0);
	if (r != (void *)(uintptr_t)a) {
		snprintf(w->why, sizeof(w->why), "mmap(MAP_FIXED) over %#llx: %s", (unsigned long long)a,
			 strerror(errno));
		return false;
	}
	/* The owner's page keeps the protection its state needs (the neighbours' own next steps set theirs). */
	if (w->pages[i].st == RO && sgxemu_mprotect((void *)(uintptr_t)(a + SGX_PAGE_SIZE), SGX_PAGE_SIZE, PROT_READ)) {
		snprintf(w->why, sizeof(w->why), "mprotect R after remap: %s", strerror(errno));
		return false;
	}
	return true;
}

static void *owner_main(void *arg)
{
	struct owner *w = arg;
	for (unsigned n = 0; n < OPS_PER; n++) {
		unsigned i = (unsigned)(next(&w->rng) % PAGES_PER), kind = (unsigned)(next(&w->rng) % 7);
		struct page *p = &w->pages[i];
		bool ok = true;
		if (p->st == ABSENT) {
			ok = commit(w, i);
			kind = 0;
		} else if (kind == 1 && p->st == RW) {
			ok = write_page(w, i);
		} else if (kind == 2 && p->st == RW) {
			ok = restrict_ro(w, i);
		} else if (kind == 3 && p->st == RO) {
			ok = extend_rw(w, i);
		} else if (kind == 4) {
			ok = check_page(w, i) && trim(w, i);
		} else if (kind == 6) {
			ok = remap(w, i) && check_page(w, i);
		} else {
			kind = 5;
			ok = check_page(w, i);
		}
		w->ops[kind]++;
		if (!ok)
			return NULL;
	}
	for (unsigned i = 0; i < PAGES_PER && !w->why[0]; i++)
		check_page(w, i);
	return NULL;
}

static void setup(void)
{
	native_setup_with(&(struct sgxemu_options){.epc_size = EPC_SIZE});
}

TestSuite(edmm_stress, .init = setup, .fini = native_teardown, .timeout = 240);

Test(edmm_stress, eight_threads_every_flow_small_epc_every_byte_kept)
{
	const char *s = getenv("SGXEMU_STRESS_SEED");
	seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	fprintf(stderr, "edmm_stress: seed %llu (SGXEMU_STRESS_SEED=%llu replays it)\n", (unsigned long long)seed,
		(unsigned long long)seed);
	static struct owner w[THREADS];
	pthread_t th[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i;
		w[i].rng = seed * 0x100000001B3ULL + i;
		cr_assert_eq(pthread_create(&th[i], NULL, owner_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	struct sgxemu_stats st = devos_stats();
	unsigned total[8] = {0};
	for (unsigned i = 0; i < THREADS; i++)
		for (unsigned k = 0; k < 7; k++)
			total[k] += w[i].ops[k];
	cr_log_info("edmm_stress seed %llu: commit %u write %u restrict %u extend %u trim %u check %u remap %u; "
		    "evicted now %llu",
		    (unsigned long long)seed, total[0], total[1], total[2], total[3], total[4], total[5], total[6],
		    (unsigned long long)st.pages_evicted);
	for (unsigned i = 0; i < THREADS; i++)
		cr_assert(!w[i].why[0], "seed %llu, thread %u: %s", (unsigned long long)seed, i, w[i].why);
	for (unsigned k = 0; k < 7; k++)
		cr_assert_gt(total[k], 0, "every kind of operation ran (kind %u)", k);
}
