/* SPDX-License-Identifier: MIT */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

struct bench_span bench_now(void)
{
	struct timespec w, c;
	clock_gettime(CLOCK_MONOTONIC, &w);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
	return (struct bench_span){(double)w.tv_sec + (double)w.tv_nsec / 1e9,
				   (double)c.tv_sec + (double)c.tv_nsec / 1e9};
}

struct bench_span bench_since(struct bench_span t0)
{
	return bench_minus(bench_now(), t0);
}

struct bench_span bench_minus(struct bench_span a, struct bench_span b)
{
	return (struct bench_span){a.wall - b.wall, a.cpu - b.cpu};
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct bench_fig bench_median(const struct bench_span *s, uint64_t units)
{
	double w[BENCH_REPS], c[BENCH_REPS];
	for (int i = 0; i < BENCH_REPS; i++) {
		w[i] = s[i].wall / (double)units * 1e6;
		c[i] = s[i].cpu / (double)units * 1e6;
	}
	qsort(w, BENCH_REPS, sizeof(*w), cmp);
	qsort(c, BENCH_REPS, sizeof(*c), cmp);
	return (struct bench_fig){w[BENCH_REPS / 2], c[BENCH_REPS / 2], w[0], w[BENCH_REPS - 1]};
}

static uintptr_t region_lo, region_hi;
static volatile sig_atomic_t segvs;

static void on_segv(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	uintptr_t p = (uintptr_t)info->si_addr & ~(uintptr_t)4095;
	if (p < region_lo || p >= region_hi ||
	    mmap((void *)p, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		MAP_FAILED) {
		signal(SIGSEGV, SIG_DFL); /* the access faults again and the process dies */
		return;
	}
	segvs++;
}

struct bench_span bench_segv_baseline(const char *prog, uint64_t pages)
{
	uint8_t *r = mmap(NULL, pages * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) {
		fprintf(stderr, "%s: mmap: %s\n", prog, strerror(errno));
		exit(1);
	}
	region_lo = (uintptr_t)r;
	region_hi = region_lo + pages * 4096;
	segvs = 0;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old) != 0) {
		fprintf(stderr, "%s: sigaction: %s\n", prog, strerror(errno));
		exit(1);
	}
	struct bench_span t0 = bench_now();
	for (uint64_t i = 0; i < pages; i++)
		((volatile uint8_t *)r)[i * 4096] = 1;
	struct bench_span t = bench_since(t0);
	if (sigaction(SIGSEGV, &old, NULL) != 0) {
		fprintf(stderr, "%s: restoring the SIGSEGV handler: %s\n", prog, strerror(errno));
		exit(1);
	}
	if ((uint64_t)segvs != pages) {
		fprintf(stderr, "%s: %d SIGSEGVs for %llu pages\n", prog, (int)segvs, (unsigned long long)pages);
		exit(1);
	}
	munmap(r, pages * 4096);
	return t;
}

void bench_result(const char *name, double value, double floor)
{
	printf("result %s value=%.4g floor=%.4g ratio=%.3f\n", name, value, floor, floor > 0 ? value / floor : 0.0);
}
