/* SPDX-License-Identifier: MIT */
/*
 * No write of enclave code to an accepted page is ever lost, whatever the
 * driver does to other pages meanwhile.
 *
 * The run-time thread flow of Intel's SDK, as its EDMM tests drive it:
 *   1. EACCEPT a PENDING page T (EAUG'd on the fault) as RW;
 *   2. copy a TCS template into T from enclave code;
 *   3. meanwhile another thread restricts T's neighbour (RESTRICT_PERMISSIONS
 *      to R|X, then mprotect R|X);
 *   4. MODIFY_TYPES T to PT_TCS, EACCEPT(PT_TCS | MODIFIED) from enclave code.
 * EACCEPT checks the TCS's contents (an all-zero frame has NSSA = 0: #GP),
 * so a copy that did not reach T's EPC frame shows.  Before step 4 every
 * byte of T and of a page of data P written in the same round is read back
 * by enclave code through the mappings, and P also by the CPU through the
 * EPC (EACCEPTCOPY of P into a fresh page).
 * Several workers, each on its own TCS and pages, with one neighbour
 * thread each.
 *
 * The SDK's untrusted runtime commits every range the enclave's memory
 * manager allocates with mmap(range, RW, MAP_SHARED | MAP_FIXED) of the
 * enclave fd, so while one worker copies into T the others remap their
 * own ranges over the same enclave mapping; the suite sdk_commit does
 * that before each round, with and without reclaim.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "native.h"

#define WORKERS	   4
#define ROUNDS	   32
#define PAGE_GROUP 4 /* T, its neighbour, a page of data P, the EACCEPTCOPY target */

struct worker {
	unsigned slot;
	uint64_t first; /* first dynamic page number */
	pthread_t neighbour;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t todo; /* a neighbour page to restrict, 0 when done */
	int restrict_rc, mprotect_rc;
	const char *failed;
	unsigned round;
	bool stop;
};

/* Commit each round's pages as the SDK's enclave_alloc does: MAP_FIXED over the enclave mapping. */
static bool commit_with_map_fixed;

static struct sgx_tcs tcs_template;
static uint64_t td_template[SGX_PAGE_SIZE / 8];

/*
 * One ioctl on the enclave, retried as runtimes do: Linux runs one ioctl
 * per enclave at a time (EBUSY for a concurrent one) and gives EAGAIN for
 * a page being reclaimed; the range ioctls resume at offset + count.
 * Return: the last result.
 */
static int ioctl_retry(unsigned long cmd, void *arg, const __u64 *count)
{
	for (;;) {
		int r = sgxemu_ioctl(dv.fd, cmd, arg);
		if (r == 0 || (errno != EBUSY && errno != EAGAIN) || (count && *count))
			return r;
		sched_yield();
	}
}

/* The neighbour thread: RESTRICT_PERMISSIONS(R|X) and mprotect(R|X) of the page it is given. */
static void *neighbour_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->todo && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		uint64_t n = w->todo;
		pthread_mutex_unlock(&w->lock);
		struct sgx_enclave_restrict_permissions r = {
		    .offset = native_off(n), .length = SGX_PAGE_SIZE, .permissions = SI_RX};
		int rc = ioctl_retry(SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &r, &r.count);
		int mc = sgxemu_mprotect((void *)(uintptr_t)n, SGX_PAGE_SIZE, PROT_READ | PROT_EXEC);
		pthread_mutex_lock(&w->lock);
		w->restrict_rc = rc;
		w->mprotect_rc = mc;
		w->todo = 0;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static uint64_t op(unsigned slot, uint64_t o, uint64_t a, uint64_t b, uint64_t c, struct sgx_enclave_run *run)
{
	uint64_t out[ENCL_OUT_WORDS] = {0};
	devos_call(devos_tcs(slot), o, a, b, c, out, run);
	return out[0];
}

/* EACCEPT from enclave code; the run must end with EEXIT.  Return: RAX, or ~0 after an exception. */
static uint64_t eaccept(unsigned slot, uint64_t page, uint64_t flags)
{
	struct sgx_enclave_run run;
	uint64_t rax = op(slot, OP_EACCEPT, page, flags, 0, &run);
	if (run.function != ENCLU_EEXIT || rax) /* the failure's details, for the report */
		fprintf(stderr, "EACCEPT %#llx flags %#llx: function %u vector %u err %#x addr %#llx rax %llu\n",
			(unsigned long long)page, (unsigned long long)flags, run.function, run.exception_vector,
			run.exception_error_code, (unsigned long long)run.exception_addr, (unsigned long long)rax);
	return run.function == ENCLU_EEXIT ? rax : ~0ULL;
}

#define CHECK(w, cond, what)                                                                                           \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			(w)->failed = (what);                                                                          \
			return NULL;                                                                                   \
		}                                                                                                      \
	} while (0)

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	static _Thread_local uint8_t tcs[SGX_PAGE_SIZE], data[SGX_PAGE_SIZE], back[SGX_PAGE_SIZE];
	struct sgx_enclave_run run;
	for (w->round = 0; w->round < ROUNDS; w->round++) {
		uint64_t t = devos_dyn(w->first + (uint64_t)w->round * PAGE_GROUP), n = t + SGX_PAGE_SIZE,
			 p = t + 2 * SGX_PAGE_SIZE, copy = t + 3 * SGX_PAGE_SIZE;
		if (commit_with_map_fixed) {
			void *m = sgxemu_mmap((void *)(uintptr_t)t, PAGE_GROUP * SGX_PAGE_SIZE, PROT_READ | PROT_WRITE,
					      MAP_SHARED | MAP_FIXED, dv.fd, 0);
			CHECK(w, m == (void *)(uintptr_t)t, "the SDK-style MAP_FIXED commit of the round's pages");
		}
		/* 1. T, its neighbour and P, EAUG'd on the fault and accepted RW. */
		CHECK(w, eaccept(w->slot, t, SI_PENDING_RW) == 0, "EACCEPT of T");
		CHECK(w, eaccept(w->slot, n, SI_PENDING_RW) == 0, "EACCEPT of the neighbour");
		CHECK(w, eaccept(w->slot, p, SI_PENDING_RW) == 0, "EACCEPT of P");
		/* 2. The TCS template into T, a pattern of this round into P, from enclave code. */
		memset(tcs, 0, sizeof(tcs));
		memcpy(tcs, &tcs_template, sizeof(tcs_template));
		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)(i * 7 + w->round * 13 + w->slot + 1);
		/* 3. The neighbour restricted and mprotected by another thread: after the copies, or during them. */
		bool during = w->round % 2;
		if (during) {
			pthread_mutex_lock(&w->lock);
			w->todo = n;
			pthread_cond_broadcast(&w->cond);
			pthread_mutex_unlock(&w->lock);
		}
		op(w->slot, OP_COPY, t, (uint64_t)(uintptr_t)tcs, 0, &run);
		CHECK(w, run.function == ENCLU_EEXIT, "the copy into T");
		op(w->slot, OP_COPY, p, (uint64_t)(uintptr_t)data, 0, &run);
		CHECK(w, run.function == ENCLU_EEXIT, "the copy into P");
		pthread_mutex_lock(&w->lock);
		if (!during) {
			w->todo = n;
			pthread_cond_broadcast(&w->cond);
		}
		while (w->todo)
			pthread_cond_wait(&w->cond, &w->lock);
		int rc = w->restrict_rc, mc = w->mprotect_rc;
		pthread_mutex_unlock(&w->lock);
		CHECK(w, rc == 0 && mc == 0, "RESTRICT_PERMISSIONS / mprotect of the neighbour");
		/* Every byte of T and P, through their mappings and (P) through the EPC. */
		memset(back, 0, sizeof(back));
		op(w->slot, OP_COPY_OUT, t, (uint64_t)(uintptr_t)back, 0, &run);
		CHECK(w, run.function == ENCLU_EEXIT && !memcmp(tcs, back, sizeof(tcs)),
		      "T read back by enclave code differs");
		memset(back, 0, sizeof(back));
		op(w->slot, OP_COPY_OUT, p, (uint64_t)(uintptr_t)back, 0, &run);
		CHECK(w, run.function == ENCLU_EEXIT && !memcmp(data, back, sizeof(data)),
		      "P read back by enclave code differs");
		static const struct sgx_secinfo rw __attribute__((aligned(64))) = {.flags = SECINFO_REG(SI_RW)};
		struct sgx_enclave_augment_pages aug = {
		    .offset = native_off(copy), .length = SGX_PAGE_SIZE, .secinfo = (uint64_t)(uintptr_t)&rw};
		CHECK(w, ioctl_retry(SGX_IOC_ENCLAVE_AUGMENT_PAGES, &aug, &aug.count) == 0,
		      "AUGMENT of the copy target");
		uint64_t rax = op(w->slot, OP_EACCEPTCOPY, copy, p, SECINFO_REG(SI_RW), &run);
		CHECK(w, run.function == ENCLU_EEXIT && rax == 0, "EACCEPTCOPY of P");
		memset(back, 0, sizeof(back));
		op(w->slot, OP_COPY_OUT, copy, (uint64_t)(uintptr_t)back, 0, &run);
		CHECK(w, run.function == ENCLU_EEXIT && !memcmp(data, back, sizeof(data)),
		      "P's EPC frame (copied by EACCEPTCOPY) differs from what enclave code wrote");
		/* 4. MODIFY_TYPES to TCS, EACCEPT(TCS | MODIFIED): the CPU checks the template. */
		struct sgx_enclave_modify_types m = {
		    .offset = native_off(t), .length = SGX_PAGE_SIZE, .page_type = SGX_PT_TCS};
		CHECK(w, ioctl_retry(SGX_IOC_ENCLAVE_MODIFY_TYPES, &m, &m.count) == 0 && m.count == SGX_PAGE_SIZE,
		      "MODIFY_TYPES");
		CHECK(w, eaccept(w->slot, t, SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_MODIFIED) == 0,
		      "EACCEPT(TCS|MODIFIED) of T: its contents were lost");
	}
	return NULL;
}

TestSuite(lost_write, .fini = native_teardown, .timeout = 120);

static void run_workers(void)
{
	devos_slot_contents(4, dv.entry, &tcs_template, td_template);
	struct worker w[WORKERS];
	pthread_t th[WORKERS];
	memset(w, 0, sizeof(w));
	for (unsigned i = 0; i < WORKERS; i++) {
		w[i].slot = i;
		w[i].first = (uint64_t)i * ROUNDS * PAGE_GROUP;
		pthread_mutex_init(&w[i].lock, NULL);
		pthread_cond_init(&w[i].cond, NULL);
		cr_assert_eq(pthread_create(&w[i].neighbour, NULL, neighbour_main, &w[i]), 0);
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < WORKERS; i++) {
		pthread_join(th[i], NULL);
		pthread_mutex_lock(&w[i].lock);
		w[i].stop = true;
		pthread_cond_broadcast(&w[i].cond);
		pthread_mutex_unlock(&w[i].lock);
		pthread_join(w[i].neighbour, NULL);
	}
	for (unsigned i = 0; i < WORKERS; i++)
		cr_assert_null(w[i].failed, "worker %u, round %u: %s", i, w[i].round, w[i].failed);
}

Test(lost_write, tcs_template_survives_a_neighbours_restriction_under_several_threads, .init = native_setup)
{
	run_workers();
}

/* The same with an EPC of 1 MiB: the pages of the workers (512) and their threads are evicted and reloaded. */
static void setup_small_epc(void)
{
	struct sgxemu_options o = {.epc_size = 1 << 20};
	native_setup_with(&o);
}

Test(lost_write, tcs_template_survives_under_reclaim, .init = setup_small_epc)
{
	run_workers();
	cr_assert_gt(devos_stats().pages_evicted + 0, 0, "the reclaimer ran");
}

/* The SDK's commit: every round's range mapped again with MAP_FIXED while the other workers copy and restrict. */
static void setup_map_fixed(void)
{
	commit_with_map_fixed = true;
	native_setup();
}

static void setup_map_fixed_small_epc(void)
{
	commit_with_map_fixed = true;
	setup_small_epc();
}

Test(lost_write, tcs_template_survives_map_fixed_commits_of_other_ranges, .init = setup_map_fixed)
{
	run_workers();
}

Test(lost_write, tcs_template_survives_map_fixed_commits_under_reclaim, .init = setup_map_fixed_small_epc)
{
	run_workers();
	cr_assert_gt(devos_stats().pages_evicted + 0, 0, "the reclaimer ran");
}
