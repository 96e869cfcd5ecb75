/* SPDX-License-Identifier: MIT */
/*
 * Deferred opening of accepted pages (docs/exec.md): an EACCEPT of the page
 * right after the thread's previous EACCEPT leaves the host protection that
 * makes the page usable for later, and the run of such pages is opened with
 * one refresh: at the first touch of one of them, at the return to host
 * code, or when another run starts.  Counted by exec_get_stats; what the
 * enclave and the host find in and at the pages is the same as with every
 * page opened at its EACCEPT (SGXEMU_EXEC_NO_DEFERRED_OPEN=1, the second
 * suite, runs the same flows).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "exec.h"
#include "native.h"

#define N 32

/* The protection /proc/self/maps shows for the host page at addr (PROT_*), -1 if unmapped. */
static int maps_prot(uint64_t addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	cr_assert(f, "/proc/self/maps");
	char line[512];
	int prot = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perm[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perm) != 3 || addr < lo || addr >= hi)
			continue;
		prot = (perm[0] == 'r' ? PROT_READ : 0) | (perm[1] == 'w' ? PROT_WRITE : 0) |
		       (perm[2] == 'x' ? PROT_EXEC : 0);
		break;
	}
	fclose(f);
	return prot;
}

static struct exec_stats stats_now(void)
{
	struct exec_stats s;
	exec_get_stats(&s);
	return s;
}

/* Host code finds the n accepted pages from dynamic page first open, and enclave code reads i + 1 in page i. */
static void assert_pages(uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t page = devos_dyn(first + i);
		cr_assert_eq(maps_prot(page), PROT_READ | PROT_WRITE, "page %u of the run is open at the host", i);
		cr_assert_eq(native_read(0, page), i + 1, "page %u holds what the enclave wrote", i);
	}
}

/* An ECALL that EACCEPTs n absent pages from dynamic page first and writes them (use_after: after all). */
static void accept_use(unsigned slot, uint64_t first, unsigned n, bool use_after)
{
	native_op(slot, OP_EACCEPT_USE, devos_dyn(first) | (use_after ? 1 : 0), n, SI_PENDING_RW);
	cr_assert_eq(nout[slot][0], n, "every EACCEPT succeeded (%llu, SGX code %llu)",
		     (unsigned long long)nout[slot][0], (unsigned long long)nout[slot][1]);
	cr_assert_eq(nout[slot][2], (uint64_t)n * (n + 1) / 2, "the enclave read back what it wrote");
	cr_assert_eq(nout[slot][3], 0, "%llu accepted pages were not zero", (unsigned long long)nout[slot][3]);
}

static void setup_warm(void)
{
	native_setup();
	native_op(0, OP_ECHO, 1, 2, 3); /* the thread's first entry */
}

TestSuite(deferred, .init = setup_warm, .fini = native_teardown, .timeout = 60);

Test(deferred, a_range_accepted_in_one_ecall_is_opened_with_one_refresh_at_its_eexit)
{
	struct exec_stats a = stats_now();
	native_op(0, OP_EACCEPT_N, devos_dyn(0), N, SI_PENDING_RW);
	struct exec_stats b = stats_now();
	cr_assert_eq(nout[0][0], N, "every EACCEPT succeeded");
	cr_assert_eq(b.deferred_opens - a.deferred_opens, N - 1, "all but the first page waited (%llu)",
		     (unsigned long long)(b.deferred_opens - a.deferred_opens));
	cr_assert_eq(b.deferred_runs - a.deferred_runs, 1, "one refresh opened them");
	cr_assert_eq(b.deferred_touched - a.deferred_touched, 0, "at the EEXIT, before any touch");
	for (unsigned i = 0; i < N; i++)
		native_write(0, devos_dyn(i), i + 1);
	assert_pages(0, N);
}

Test(deferred, a_range_used_after_its_eaccepts_is_opened_at_the_first_touch)
{
	struct exec_stats a = stats_now();
	accept_use(0, 0, N, true);
	struct exec_stats b = stats_now();
	cr_assert_eq(b.deferred_opens - a.deferred_opens, N - 1);
	cr_assert_eq(b.deferred_runs - a.deferred_runs, 1);
	cr_assert_eq(b.deferred_touched - a.deferred_touched, 1, "the write to the second page found it closed");
	/* N EACCEPTs (each one trap with its EAUG), the one touch, the EEXIT. */
	cr_assert_eq(b.traps - a.traps, N + 2, "%llu traps", (unsigned long long)(b.traps - a.traps));
	assert_pages(0, N);
}

Test(deferred, pages_used_right_after_their_eaccept_are_opened_at_once_after_the_first_touch)
{
	struct exec_stats a = stats_now();
	accept_use(0, 0, N, false);
	struct exec_stats b = stats_now();
	/* The second page waits and its touch faults; from then on each EACCEPT opens its page at once. */
	cr_assert_eq(b.deferred_opens - a.deferred_opens, 1);
	cr_assert_eq(b.deferred_touched - a.deferred_touched, 1);
	cr_assert_eq(b.traps - a.traps, N + 2, "%llu traps", (unsigned long long)(b.traps - a.traps));
	assert_pages(0, N);
	/* The next range, right after, in another ECALL: still at once (64 EACCEPTs), no touch faults. */
	a = stats_now();
	accept_use(0, N, N, false);
	b = stats_now();
	cr_assert_eq(b.deferred_opens - a.deferred_opens, 0);
	cr_assert_eq(b.traps - a.traps, N + 1);
	assert_pages(N, N);
}

Test(deferred, a_trimmed_and_removed_range_comes_back_pending_and_closed)
{
	accept_use(0, 0, N, true);
	struct sgx_enclave_modify_types m;
	native_assert_ok(native_modify(native_off(devos_dyn(0)), N * SGX_PAGE_SIZE, SGX_PT_TRIM, &m));
	native_op(1, OP_EACCEPT_N, devos_dyn(0), N, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED);
	cr_assert_eq(nout[1][0], N, "every EACCEPT(TRIM) succeeded");
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(maps_prot(devos_dyn(i)), PROT_NONE, "trimmed page %u is closed", i);
	struct sgx_enclave_remove_pages r;
	native_assert_ok(native_remove(native_off(devos_dyn(0)), N * SGX_PAGE_SIZE, &r));
	/* Pending again on the next fault: an access before EACCEPT is the SGX #PF, not the old page. */
	struct sgx_enclave_run run;
	native_fault(2, OP_READ, devos_dyn(3), 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, devos_dyn(3));
	accept_use(0, 0, N, true);
	assert_pages(0, N);
}

/*
 * Three threads, each with its own TCS, take turns over three blocks of
 * adjacent pages (round r: thread i has block (i + r) % 3, so each block's
 * pages were last opened by another thread's run): accept and use the
 * block (the two ways alternating), check it, trim and remove it.  Runs
 * of neighbouring blocks are opened at the same time on other threads.
 */
#define MT_THREADS 3
#define MT_BLOCK   48
#define MT_ROUNDS  12

static pthread_barrier_t mt_barrier;

struct mt_arg {
	unsigned idx;
	char why[160];
};

static bool mt_call(struct mt_arg *w, uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
	struct sgx_enclave_run run;
	int r = devos_call(devos_tcs(w->idx), op, a, b, c, out, &run);
	if (r == 0 && run.function == ENCLU_EEXIT)
		return true;
	snprintf(w->why, sizeof(w->why), "op %llu: entry returned %d, function %u, vector %u, address %#llx",
		 (unsigned long long)op, r, run.function, run.exception_vector, (unsigned long long)run.exception_addr);
	return false;
}

/*
 * MODIFY_TYPES to TRIM (trim) or REMOVE_PAGES of [base, base + len), as a
 * runtime does it: another thread's ioctl on the enclave makes it EBUSY,
 * a busy page EAGAIN with the count done; both are tried again.
 */
static int mt_ioctl(bool trim, uint64_t base, uint64_t len)
{
	uint64_t done = 0;
	for (unsigned tries = 0; done < len && tries < 1000000; tries++) {
		struct sgx_enclave_modify_types m;
		struct sgx_enclave_remove_pages rm;
		int r = trim ? native_modify(native_off(base) + done, len - done, SGX_PT_TRIM, &m)
			     : native_remove(native_off(base) + done, len - done, &rm);
		done += trim ? m.count : rm.count;
		if (r == 0 && done == len)
			return 0;
		if (r != 0 && errno != EBUSY && errno != EAGAIN)
			return -errno;
		sched_yield();
	}
	return done == len ? 0 : -ETIMEDOUT;
}

static bool mt_round(struct mt_arg *w, unsigned round)
{
	uint64_t first = (uint64_t)((w->idx + round) % MT_THREADS) * MT_BLOCK, out[ENCL_OUT_WORDS];
	uint64_t base = devos_dyn(first);
	if (!mt_call(w, OP_EACCEPT_USE, base | (round & 1), MT_BLOCK, SI_PENDING_RW, out))
		return false;
	if (out[0] != MT_BLOCK || out[2] != (uint64_t)MT_BLOCK * (MT_BLOCK + 1) / 2 || out[3]) {
		snprintf(w->why, sizeof(w->why), "round %u: %llu pages accepted (code %llu), sum %llu, %llu not zero",
			 round, (unsigned long long)out[0], (unsigned long long)out[1], (unsigned long long)out[2],
			 (unsigned long long)out[3]);
		return false;
	}
	for (unsigned i = 0; i < MT_BLOCK; i++) {
		if (!mt_call(w, OP_READ, base + i * SGX_PAGE_SIZE, 0, 0, out))
			return false;
		if (out[0] != i + 1) {
			snprintf(w->why, sizeof(w->why), "round %u page %u reads %llu", round, i,
				 (unsigned long long)out[0]);
			return false;
		}
	}
	uint64_t len = MT_BLOCK * SGX_PAGE_SIZE;
	int r = mt_ioctl(true, base, len);
	if (r) {
		snprintf(w->why, sizeof(w->why), "round %u: MODIFY_TYPES: %s", round, strerror(-r));
		return false;
	}
	if (!mt_call(w, OP_EACCEPT_N, base, MT_BLOCK, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED, out))
		return false;
	if (out[0] != MT_BLOCK) {
		snprintf(w->why, sizeof(w->why), "round %u: %llu EACCEPT(TRIM)s (code %llu)", round,
			 (unsigned long long)out[0], (unsigned long long)out[1]);
		return false;
	}
	r = mt_ioctl(false, base, len);
	if (r) {
		snprintf(w->why, sizeof(w->why), "round %u: REMOVE_PAGES: %s", round, strerror(-r));
		return false;
	}
	return true;
}

static void *mt_main(void *p)
{
	struct mt_arg *w = p;
	bool ok = true;
	for (unsigned r = 0; r < MT_ROUNDS; r++) {
		if (ok)
			ok = mt_round(w, r);
		pthread_barrier_wait(&mt_barrier);
	}
	return NULL;
}

/* Run the three threads; return the pages that waited to be opened meanwhile. */
static uint64_t run_threads(void)
{
	struct exec_stats a = stats_now();
	pthread_barrier_init(&mt_barrier, NULL, MT_THREADS);
	pthread_t th[MT_THREADS];
	struct mt_arg w[MT_THREADS] = {0};
	for (unsigned i = 0; i < MT_THREADS; i++) {
		w[i].idx = i;
		cr_assert_eq(pthread_create(&th[i], NULL, mt_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < MT_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&mt_barrier);
	for (unsigned i = 0; i < MT_THREADS; i++)
		cr_assert_eq(w[i].why[0], 0, "thread %u: %s", i, w[i].why);
	struct exec_stats b = stats_now();
	return b.deferred_opens - a.deferred_opens;
}

Test(deferred, threads_taking_turns_over_adjacent_blocks)
{
	cr_assert_gt(run_threads(), 0, "pages waited to be opened");
}

static void setup_off(void)
{
	setenv("SGXEMU_EXEC_NO_DEFERRED_OPEN", "1", 1);
	setup_warm();
}

static void teardown_off(void)
{
	native_teardown();
	unsetenv("SGXEMU_EXEC_NO_DEFERRED_OPEN");
}

TestSuite(deferred_off, .init = setup_off, .fini = teardown_off, .timeout = 60);

Test(deferred_off, every_page_is_opened_at_its_eaccept)
{
	struct exec_stats a = stats_now();
	accept_use(0, 0, N, true);
	accept_use(0, N, N, false);
	struct exec_stats b = stats_now();
	cr_assert_eq(b.deferred_opens - a.deferred_opens, 0);
	cr_assert_eq(b.deferred_runs - a.deferred_runs, 0);
	cr_assert_eq(b.traps - a.traps, 2 * (N + 1), "no touch faults (%llu traps)",
		     (unsigned long long)(b.traps - a.traps));
	assert_pages(0, N);
	assert_pages(N, N);
}

Test(deferred_off, threads_taking_turns_over_adjacent_blocks)
{
	cr_assert_eq(run_threads(), 0);
}
