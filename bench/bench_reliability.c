/* SPDX-License-Identifier: MIT */
/*
 * Reliability of paging under threads: T threads, each with an enclave of
 * its own on one machine (one EPC, one EPCM, one machine lock), evict and
 * reload their pages in a random order (EBLOCK, ETRACK, EWB into a VA slot;
 * ELDU back), rewrite resident pages with a new pattern now and then, and
 * check every byte of a page after each reload.  Any lost or altered byte,
 * or any leaf that fails, stops the run with the seed that replays the
 * threads' sequences.  Printed: round trips per second and per thread,
 * and the total checked.  Run by hand (docs/bench.md), not in CI.
 *
 * Usage: bench_reliability [round_trips (default 1000000)] [threads (4)] [pages per thread (256)] [seed]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hw.h"

struct worker {
	unsigned idx;
	uint64_t seed, trips, writes;
	unsigned pages;
	struct hw_machine *m;
	uint64_t win, secs_pa, va;
	uint64_t base;
	uint8_t *blobs;	       /* EWB's encrypted pages */
	struct sgx_pcmd *pcmd; /* their metadata */
	uint32_t *version;     /* the pattern each page holds */
	bool *out;	       /* evicted */
	char failed[200];
};

static struct hw_machine *machine;
static uint64_t trips_each;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* The 4 KiB pattern of page i, version v, of worker w. */
static void fill(const struct worker *w, unsigned i, uint32_t v, uint64_t *p)
{
	uint64_t s = w->seed ^ ((uint64_t)w->idx << 56) ^ ((uint64_t)i << 32) ^ v;
	for (unsigned k = 0; k < 512; k++)
		p[k] = next(&s);
}

static bool leaf(struct worker *w, const char *what, unsigned i, struct hw_result r)
{
	if (hw_is_ok(r))
		return true;
	char b[96];
	hw_result_format(r, b, sizeof(b));
	snprintf(w->failed, sizeof(w->failed), "%s of page %u: %s", what, i, b);
	return false;
}

static bool build(struct worker *w)
{
	uint64_t size = 0x2000;
	while (size < (uint64_t)w->pages * 4096)
		size <<= 1;
	w->base = 0x100000000000ULL + (uint64_t)w->idx * 0x10000000000ULL;
	w->win = hw_epc_window_alloc(w->m, size);
	w->secs_pa = hw_epc_window_alloc(w->m, 4096);
	w->va = hw_epc_window_alloc(w->m, 0x1000ULL << (64 - __builtin_clzll((w->pages + 511) / 512)));
	w->blobs = aligned_alloc(4096, (size_t)w->pages * 4096);
	w->pcmd = aligned_alloc(128, w->pages * sizeof(*w->pcmd));
	w->version = calloc(w->pages, sizeof(*w->version));
	w->out = calloc(w->pages, sizeof(*w->out));
	if (!w->win || !w->secs_pa || !w->va || !w->blobs || !w->pcmd || !w->version || !w->out) {
		snprintf(w->failed, sizeof(w->failed), "out of memory or EPC space");
		return false;
	}
	static _Thread_local struct sgx_secs secs __attribute__((aligned(4096)));
	static _Thread_local uint64_t page[512] __attribute__((aligned(4096)));
	static _Thread_local struct sgx_secinfo si __attribute__((aligned(64)));
	static _Thread_local struct sgx_pageinfo pi __attribute__((aligned(32)));
	memset(&secs, 0, sizeof(secs));
	secs.size = size;
	secs.base = w->base;
	secs.ssa_frame_size = 1;
	secs.attributes = SGX_ATTR_MODE64BIT;
	secs.xfrm = 3;
	si = (struct sgx_secinfo){.flags = SGX_SECINFO_PT(SGX_PT_SECS)};
	pi = (struct sgx_pageinfo){.srcpge = (uint64_t)(uintptr_t)&secs, .secinfo = (uint64_t)(uintptr_t)&si};
	if (!leaf(w, "ECREATE", 0, encls_ecreate(w->m, NULL, (uint64_t)(uintptr_t)&pi, w->secs_pa)))
		return false;
	si = (struct sgx_secinfo){.flags = SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W};
	for (unsigned i = 0; i < w->pages; i++) {
		fill(w, i, 0, page);
		pi = (struct sgx_pageinfo){.linaddr = w->base + (uint64_t)i * 4096,
					   .srcpge = (uint64_t)(uintptr_t)page,
					   .secinfo = (uint64_t)(uintptr_t)&si,
					   .secs = w->secs_pa};
		if (!leaf(w, "EADD", i, encls_eadd(w->m, NULL, (uint64_t)(uintptr_t)&pi, w->win + (uint64_t)i * 4096)))
			return false;
	}
	for (unsigned v = 0; v < (w->pages + 511) / 512; v++)
		if (!leaf(w, "EPA", v, encls_epa(w->m, SGX_PT_VA, w->va + (uint64_t)v * 4096)))
			return false;
	return true;
}

static bool check(struct worker *w, unsigned i)
{
	static _Thread_local uint64_t want[512];
	fill(w, i, w->version[i], want);
	const uint64_t *got = (const uint64_t *)(uintptr_t)(w->win + (uint64_t)i * 4096);
	for (unsigned k = 0; k < 512; k++)
		if (got[k] != want[k]) {
			snprintf(w->failed, sizeof(w->failed),
				 "page %u version %u: word %u is %#" PRIx64 ", expected %#" PRIx64, i, w->version[i], k,
				 got[k], want[k]);
			return false;
		}
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (!build(w))
		return NULL;
	static _Thread_local struct sgx_pageinfo pi __attribute__((aligned(32)));
	uint64_t rng = w->seed * 31 + w->idx;
	while (w->trips < trips_each) {
		unsigned i = (unsigned)(next(&rng) % w->pages);
		uint64_t pa = w->win + (uint64_t)i * 4096, slot = w->va + (uint64_t)i * 8;
		if (!w->out[i]) {
			/* Now and then a new pattern first (the CPU writing the page through the EPC). */
			if ((next(&rng) & 3) == 0) {
				fill(w, i, ++w->version[i], (uint64_t *)(uintptr_t)pa);
				w->writes++;
			}
			if (!leaf(w, "EBLOCK", i, encls_eblock(w->m, pa)) ||
			    !leaf(w, "ETRACK", i, encls_etrack(w->m, w->secs_pa)))
				return NULL;
			pi = (struct sgx_pageinfo){.srcpge = (uint64_t)(uintptr_t)(w->blobs + (uint64_t)i * 4096),
						   .secinfo = (uint64_t)(uintptr_t)&w->pcmd[i]};
			if (!leaf(w, "EWB", i, encls_ewb(w->m, NULL, (uint64_t)(uintptr_t)&pi, pa, slot)))
				return NULL;
			w->out[i] = true;
		} else {
			pi = (struct sgx_pageinfo){.linaddr = w->base + (uint64_t)i * 4096,
						   .srcpge = (uint64_t)(uintptr_t)(w->blobs + (uint64_t)i * 4096),
						   .secinfo = (uint64_t)(uintptr_t)&w->pcmd[i],
						   .secs = w->secs_pa};
			if (!leaf(w, "ELDU", i, encls_eldu(w->m, NULL, (uint64_t)(uintptr_t)&pi, pa, slot)))
				return NULL;
			w->out[i] = false;
			w->trips++;
			if (!check(w, i))
				return NULL;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t trips = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
	unsigned pages = argc > 3 ? (unsigned)atoi(argv[3]) : 256;
	uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : (uint64_t)time(NULL);
	if (!trips || threads < 1 || threads > 64 || pages < 1 || pages > 65536) {
		fprintf(stderr, "usage: bench_reliability [round_trips] [threads 1..64] [pages 1..65536] [seed]\n");
		return 2;
	}
	struct hw_config c;
	hw_config_default(&c);
	c.epc_size = ((uint64_t)threads * (pages + 64) + 64) * 4096;
	char err[256];
	if (hw_machine_create(&c, &machine, err, sizeof(err))) {
		fprintf(stderr, "bench_reliability: %s\n", err);
		return 1;
	}
	trips_each = (trips + threads - 1) / threads;
	struct worker *w = calloc(threads, sizeof(*w));
	pthread_t *th = calloc(threads, sizeof(*th));
	if (!w || !th)
		return 1;
	printf("bench_reliability: %" PRIu64 " EWB/ELDU round trips, %u threads x %u pages, seed %" PRIu64 "\n",
	       trips_each * threads, threads, pages, seed);
	double t0 = now();
	for (unsigned i = 0; i < threads; i++) {
		w[i] = (struct worker){.idx = i, .seed = seed, .pages = pages, .m = machine};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	uint64_t done = 0, writes = 0;
	int status = 0;
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		done += w[i].trips;
		writes += w[i].writes;
		if (w[i].failed[0]) {
			fprintf(stderr, "bench_reliability: thread %u (seed %" PRIu64 "): %s\n", i, seed, w[i].failed);
			status = 1;
		}
	}
	double t = now() - t0;
	printf("  %" PRIu64 " round trips, every reloaded page checked (4096 bytes each), %" PRIu64 " rewrites: %s\n",
	       done, writes, status ? "FAILED" : "nothing lost");
	printf("  %.0f round trips/s in all, %.0f per thread; %.2f us per round trip per thread\n", (double)done / t,
	       (double)done / t / threads, t / ((double)done / threads) * 1e6);
	return status;
}
