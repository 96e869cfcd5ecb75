/* SPDX-License-Identifier: MIT */
/*
 * threads-demo: threads added to an enclave at run time (threads_enclave.c).
 *
 * The enclave is signed with one TCS and room for N more.  The demo asks
 * the enclave for N new threads (rt_mm_thread_add: the thread areas are
 * committed, each TCS page made a TCS with EMODT + EACCEPT), gives each new
 * TCS to the loader (sdk_enclave_add_tcs), runs N host threads at once,
 * each in the enclave through its own new TCS counting primes in its part
 * of a range, checks every count against the host's own, and removes the
 * threads again (rt_mm_thread_remove, sdk_enclave_remove_tcs).
 *
 * Exit status: 0 when every thread ran on its own TCS and stack and every
 * count was right; 1 otherwise; 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ex.h"
#include "sgxemu/loader.h"
#include "sgxemu/sgxemu.h"
#include "threads_abi.h"

#define MAX_THREADS 16

static bool quiet;

struct worker {
	struct sdk_enclave *e;
	int tcs; /* the loader's TCS number */
	uint64_t tcs_offset;
	struct th_work w; /* in and out */
	int rc;
	int64_t ret;
	char message[256];
	double ms;
};

static void *work(void *p)
{
	struct worker *k = p;
	struct sdk_ecall_info info;
	double t0 = ex_now_ms();
	k->rc = sdk_enclave_ecall(k->e, k->tcs, TH_EC_WORK, &k->w, sizeof(k->w), &k->ret, &info);
	k->ms = ex_now_ms() - t0;
	if (k->rc)
		snprintf(k->message, sizeof(k->message), "%s", info.message);
	return NULL;
}

/* The host's own count, to check the enclave's. */
static uint64_t host_primes(uint64_t lo, uint64_t hi)
{
	uint64_t count = 0;
	for (uint64_t n = lo < 2 ? 2 : lo; n < hi; n++) {
		bool prime = true;
		for (uint64_t d = 2; d * d <= n && prime; d++)
			prime = n % d != 0;
		count += prime;
	}
	return count;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: threads-demo [--quiet] [--threads N] [--range N] [--key KEY.pem] [--enclave ELF]\n"
		   "\n"
		   "Adds N threads (TCSs) to an enclave at run time with EDMM, runs N host threads in the\n"
		   "enclave at once, one on each new TCS, and removes the threads again.\n"
		   "\n"
		   "  --quiet         steps and results only\n"
		   "  --threads N     threads to add (default 4, 1..16)\n"
		   "  --range N       count the primes below N, split between the threads (default 200000)\n"
		   "  --key KEY.pem   sign with this RSA-3072 e=3 key (default: a fresh key)\n"
		   "  --enclave ELF   the enclave (default: threads_enclave.elf next to this program)\n"
		   "\n"
		   "Exit status: 0 every check passed, 1 error or failed check, 2 usage.\n");
}

/* --threads N, --range N. */
struct counts {
	uint64_t threads, range;
};

static int count_option(int c, const char *arg, void *ctx)
{
	struct counts *n = ctx;
	return c == 't' ? ex_number_arg("threads", arg, false, &n->threads)
			: ex_number_arg("range", arg, false, &n->range);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"threads", required_argument, NULL, 't'},
	    {"range", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	struct counts n = {.threads = 4, .range = 200000};
	struct ex_args args;
	int status = ex_parse_args("threads-demo", argc, argv, longopts, count_option, &n, usage, &args);
	if (status >= 0)
		return status;
	quiet = args.quiet;
	uint64_t n_threads = n.threads, range = n.range;
	if (n_threads < 1 || n_threads > MAX_THREADS) {
		fprintf(stderr, "threads-demo: --threads: %llu is not between 1 and %d\n",
			(unsigned long long)n_threads, MAX_THREADS);
		return 2;
	}
	if (range < n_threads || range > (1u << 24)) {
		fprintf(stderr, "threads-demo: --range: %llu is not between the thread count and %u\n",
			(unsigned long long)range, 1u << 24);
		return 2;
	}

	struct sdk_config cfg;
	sdk_config_default(&cfg);
	cfg.edmm = true;
	cfg.n_tcs = 1;
	cfg.n_dyn_threads = (uint32_t)n_threads;
	cfg.dyn_size = 64 * 1024;
	cfg.heap_size = 1024 * 1024;
	struct ex_image x;
	struct sdk_enclave *e = NULL;
	struct worker workers[MAX_THREADS];
	memset(workers, 0, sizeof(workers));
	unsigned added = 0;
	if (ex_prepare(&args, NULL, "threads_enclave.elf", THREADS_ENCLAVE_PATH, &cfg, &x) < 0 ||
	    !(e = ex_load(&x, &quiet)))
		goto out;
	printf("threads-demo: an enclave signed with %u TCS and room for %llu more\n", sdk_enclave_tcs_count(e),
	       (unsigned long long)n_threads);

	/* 1. New threads: the enclave makes the TCSs, the loader learns them. */
	for (unsigned i = 0; i < n_threads; i++) {
		printf("[add thread %u] rt_mm_thread_add in the enclave, then sdk_enclave_add_tcs\n", i + 1);
		fflush(stdout);
		struct th_add a = {0};
		double t0 = ex_now_ms();
		if (ex_ecall(e, TH_EC_ADD, &a, sizeof(a), "rt_mm_thread_add") < 0)
			goto out;
		int idx = sdk_enclave_add_tcs(e, a.tcs);
		double ms = ex_now_ms() - t0;
		if (idx < 0) {
			ex_fail("sdk_enclave_add_tcs(+%#llx): %s", (unsigned long long)a.tcs_offset,
				ex_errno_name(-idx));
			goto out;
		}
		workers[i].e = e;
		workers[i].tcs = idx;
		workers[i].tcs_offset = a.tcs_offset;
		added++;
		printf("  TCS +%#llx is the loader's TCS %d\n", (unsigned long long)a.tcs_offset, idx);
		if (!quiet)
			printf("  time: %.3f ms\n", ms);
	}

	/* 2. N host threads in the enclave at once, each through its own new TCS. */
	printf("[run] %llu host threads, each in the enclave through its own new TCS\n", (unsigned long long)n_threads);
	fflush(stdout);
	pthread_t tids[MAX_THREADS];
	uint64_t part = range / n_threads;
	double t0 = ex_now_ms();
	unsigned started = 0;
	for (unsigned i = 0; i < n_threads; i++) {
		workers[i].w.lo = i * part;
		workers[i].w.hi = i + 1 == n_threads ? range : (i + 1) * part;
		int rc = pthread_create(&tids[i], NULL, work, &workers[i]);
		if (rc) {
			ex_fail("pthread_create: %s", strerror(rc));
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	double ms = ex_now_ms() - t0;
	uint64_t total = 0;
	for (unsigned i = 0; i < started; i++) {
		struct worker *k = &workers[i];
		if (k->rc || k->ret) {
			ex_fail("thread %u: %s", i + 1, k->rc ? k->message : ex_errno_name((int)-k->ret));
			continue;
		}
		uint64_t expect = host_primes(k->w.lo, k->w.hi);
		bool own_tcs = k->w.tcs_offset == k->tcs_offset;
		const struct sgxemu_layout *l = sdk_enclave_layout(e);
		uint64_t area = l->tcs_dyn_offset + (k->w.thread_index - l->n_tcs) * l->thread_stride;
		bool own_stack = k->w.thread_index >= l->n_tcs && k->w.stack_offset >= area &&
				 k->w.stack_offset < area + l->thread_stride;
		printf("  thread %u: TCS +%#llx, thread index %llu: %llu primes in [%llu, %llu) - host: %llu%s\n",
		       i + 1, (unsigned long long)k->w.tcs_offset, (unsigned long long)k->w.thread_index,
		       (unsigned long long)k->w.primes, (unsigned long long)k->w.lo, (unsigned long long)k->w.hi,
		       (unsigned long long)expect, k->w.primes == expect && own_tcs && own_stack ? "" : " (WRONG)");
		if (k->w.primes != expect)
			ex_fail("thread %u counted %llu primes, the host %llu", i + 1, (unsigned long long)k->w.primes,
				(unsigned long long)expect);
		if (!own_tcs || !own_stack)
			ex_fail("thread %u did not run on its own TCS and stack", i + 1);
		total += k->w.primes;
	}
	printf("  %llu primes below %llu\n", (unsigned long long)total, (unsigned long long)range);
	if (!quiet)
		printf("  time: %.3f ms\n", ms);

out:
	/* 3. Remove the threads again. */
	for (unsigned i = 0; e && i < added; i++) {
		printf("[remove thread %u] sdk_enclave_remove_tcs, then rt_mm_thread_remove in the enclave\n", i + 1);
		fflush(stdout);
		double t1 = ex_now_ms();
		struct th_remove r = {.tcs = sdk_enclave_base(e) + workers[i].tcs_offset};
		int rc = sdk_enclave_remove_tcs(e, r.tcs);
		if (rc < 0) {
			ex_fail("sdk_enclave_remove_tcs(+%#llx): %s", (unsigned long long)workers[i].tcs_offset,
				ex_errno_name(-rc));
			continue;
		}
		if (ex_ecall(e, TH_EC_REMOVE, &r, sizeof(r), "rt_mm_thread_remove") < 0)
			continue;
		printf("  TCS +%#llx removed\n", (unsigned long long)workers[i].tcs_offset);
		if (!quiet)
			printf("  time: %.3f ms\n", ex_now_ms() - t1);
	}
	/* 4. The loader no longer offers a removed TCS. */
	if (e && added && !ex_failed) {
		struct th_work w = {.lo = 0, .hi = 10};
		struct sdk_ecall_info info;
		int64_t ret = 0;
		int rc = sdk_enclave_ecall(e, workers[0].tcs, TH_EC_WORK, &w, sizeof(w), &ret, &info);
		printf("[check] an ECALL on the removed TCS %d: %s\n", workers[0].tcs,
		       rc == -EINVAL ? "EINVAL, it is no longer in the pool" : "it was accepted (WRONG)");
		if (rc != -EINVAL)
			ex_fail("an ECALL on the removed TCS %d returned %d", workers[0].tcs, rc);
	}
	if (e && !ex_failed)
		printf("threads-demo: %llu threads added, run at once and removed; every count was right\n",
		       (unsigned long long)n_threads);
	ex_finish(e, &x);
	return ex_failed || !e ? 1 : 0;
}
