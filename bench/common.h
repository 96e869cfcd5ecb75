/* SPDX-License-Identifier: MIT */
/*
 * What the benchmarks share: wall-clock and process CPU time, medians over
 * repetitions, and the bare host SIGSEGV round trip the EDMM benchmarks
 * compare against.
 */
#ifndef SGXEMU_BENCH_COMMON_H
#define SGXEMU_BENCH_COMMON_H

#include <stdint.h>

#define BENCH_REPS 5 /* repetitions of every figure; the median is printed */

/* Wall-clock and process CPU time: the CPU figure is what the work costs when other jobs share the cores. */
struct bench_span {
	double wall, cpu;
};

/* Both clocks now, in seconds. */
struct bench_span bench_now(void);
/* Both clocks elapsed since t0. */
struct bench_span bench_since(struct bench_span t0);
/* a - b, clock by clock. */
struct bench_span bench_minus(struct bench_span a, struct bench_span b);

/* Medians over BENCH_REPS repetitions, in microseconds per unit; wall_lo/wall_hi the fastest and slowest. */
struct bench_fig {
	double wall, cpu, wall_lo, wall_hi;
};

/* The medians of s[0..BENCH_REPS) divided by units. */
struct bench_fig bench_median(const struct bench_span *s, uint64_t units);

/*
 * The baseline: write to each of `pages` pages of a fresh PROT_NONE region;
 * every write raises SIGSEGV, whose SA_SIGINFO handler mmaps a fresh
 * anonymous RW page over the faulting one (MAP_FIXED), and the retried write
 * faults a zeroed page in.  The handler is installed only around the timed
 * loop (the previous one is put back).  Exits with a message prefixed by
 * prog if the region cannot be made or a write did not raise exactly one
 * SIGSEGV.  Return: the time of the loop.
 */
struct bench_span bench_segv_baseline(const char *prog, uint64_t pages);

/*
 * The machine-readable line of one target (docs/bench.md), exactly
 * `result NAME value=V floor=F ratio=R` with R = V / F; V and F in the unit
 * the target's text line gives (microseconds or seconds).
 */
void bench_result(const char *name, double value, double floor);

#endif
