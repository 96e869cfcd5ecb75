/* SPDX-License-Identifier: MIT */
/*
 * The cost of entering and leaving an enclave natively, per round trip:
 *
 *  (1) EENTER + EEXIT through sgxemu_call_enclave: the test enclave
 *      (tests/exec/enclave) loaded by the test OS (tests/exec/testos.c)
 *      runs OP_ECHO (three stores to an untrusted buffer) and EEXITs; the
 *      result is checked every time.  Both ENCLUs trap (SIGILL), so the
 *      floor is two signal round trips plus the model's leaves;
 *  (2) baseline in the same process: a bare SIGILL round trip, `ud2` with a
 *      SA_SIGINFO handler that moves RIP past it (installed only around
 *      this measurement, exec's handler put back afterwards);
 *  (3) for scale: a bare system call, syscall(SYS_getppid);
 *  (4) and a bare SIGTRAP round trip (int3, same kind of handler): what a
 *      signal costs when the trapping instruction is not a #UD.
 *
 * Each is repeated 5 times, the four interleaved; the medians of wall-clock
 * and process CPU time per round trip are printed with the ratios.
 *
 * Usage: bench_enter [iterations]   (default 10000)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "elfimg.h"
#include "testos.h"

#define REPS 5

/* Wall-clock and process CPU time: the CPU figure is what the work costs when other jobs share the cores. */
struct span {
	double wall, cpu;
};

static struct span now(void)
{
	struct timespec w, c;
	clock_gettime(CLOCK_MONOTONIC, &w);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
	return (struct span){(double)w.tv_sec + (double)w.tv_nsec / 1e9, (double)c.tv_sec + (double)c.tv_nsec / 1e9};
}

static struct span since(struct span t0)
{
	struct span t = now();
	return (struct span){t.wall - t0.wall, t.cpu - t0.cpu};
}

/* One OP_ECHO on TCS 0 with a = i; dies with a message unless the enclave answered and EEXITed. */
static void echo(uint64_t i)
{
	uint64_t out[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	memset(&run, 0, sizeof(run));
	run.tcs = tos_tcs(0);
	int r = sgxemu_call_enclave(OP_ECHO, i, 42, ENCLU_EENTER, 0xC0FFEE, (unsigned long)out, &run);
	if (r != 0 || run.function != ENCLU_EEXIT || out[0] != i + 42 || out[1] != 0 || out[2] != 0xC0FFEE) {
		fprintf(stderr,
			"bench_enter: OP_ECHO %llu: return %d, function %u, vector %u, out {%#llx, %llu, %#llx}, "
			"expected EEXIT with {%#llx, 0, 0xc0ffee}\n",
			(unsigned long long)i, r, run.function, run.exception_vector, (unsigned long long)out[0],
			(unsigned long long)out[1], (unsigned long long)out[2], (unsigned long long)(i + 42));
		exit(1);
	}
}

/* (1): n enclave round trips. */
static struct span run_enter(uint64_t n)
{
	struct span t0 = now();
	for (uint64_t i = 0; i < n; i++)
		echo(i);
	return since(t0);
}

static volatile sig_atomic_t traps;
static int trap_skip; /* bytes to move RIP by: ud2 leaves it at the instruction, int3 after it */

static void on_trap(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	ucontext_t *uc = ctx;
	uc->uc_mcontext.gregs[REG_RIP] += trap_skip;
	traps++;
}

/*
 * n traps (sig SIGILL: ud2, 0F 0B; SIGTRAP: int3) under a handler of our
 * own; exec's handler for sig is back in place on return.
 */
static struct span run_trap(int sig, uint64_t n)
{
	struct sigaction sa, exec_sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &exec_sa) != 0) {
		perror("bench_enter: sigaction");
		exit(1);
	}
	traps = 0;
	trap_skip = sig == SIGILL ? 2 : 0;
	struct span t0 = now();
	if (sig == SIGILL)
		for (uint64_t i = 0; i < n; i++)
			__asm__ volatile("ud2" ::: "memory");
	else
		for (uint64_t i = 0; i < n; i++)
			__asm__ volatile("int3" ::: "memory");
	struct span t = since(t0);
	if (sigaction(sig, &exec_sa, NULL) != 0) {
		perror("bench_enter: restoring exec's handler");
		exit(1);
	}
	if ((uint64_t)traps != n) {
		fprintf(stderr, "bench_enter: %d signals for %llu traps\n", (int)traps, (unsigned long long)n);
		exit(1);
	}
	return t;
}

/* (3): n system calls. */
static struct span run_syscall(uint64_t n)
{
	long ppid = getppid();
	struct span t0 = now();
	for (uint64_t i = 0; i < n; i++) {
		if (syscall(SYS_getppid) != ppid) {
			fprintf(stderr, "bench_enter: getppid changed during the run\n");
			exit(1);
		}
	}
	return since(t0);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Medians over the repetitions, in microseconds per round trip. */
struct fig {
	double wall, cpu, wall_lo, wall_hi;
};

static struct fig median(const struct span *s, uint64_t n)
{
	double w[REPS], c[REPS];
	for (int i = 0; i < REPS; i++) {
		w[i] = s[i].wall / (double)n * 1e6;
		c[i] = s[i].cpu / (double)n * 1e6;
	}
	qsort(w, REPS, sizeof(*w), cmp);
	qsort(c, REPS, sizeof(*c), cmp);
	return (struct fig){w[REPS / 2], c[REPS / 2], w[0], w[REPS - 1]};
}

static void show(const char *what, struct fig f)
{
	printf("  %-52s %7.3f us (%.3f-%.3f), CPU %7.3f us\n", what, f.wall, f.wall_lo, f.wall_hi, f.cpu);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 10000;
	if (n < 1 || n > 10000000) {
		fprintf(stderr, "usage: bench_enter [iterations 1..10000000]\n");
		return 2;
	}
	/* The test OS aborts without naming the file if the image is missing or bad: check it here first. */
	struct elfimg img;
	char err[256];
	if (elfimg_load(TEST_ENCLAVE_PATH, &img, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_enter: test enclave: %s\n", err);
		return 1;
	}
	elfimg_free(&img);
	char why[256] = "";
	bool sud = exec_sud_probe(why, sizeof(why));

	tos_setup();
	echo(0); /* the thread's first entry creates its exec state and signal stack: not timed */

	struct span e[REPS], s[REPS], c[REPS], b[REPS];
	for (int r = 0; r < REPS; r++) {
		e[r] = run_enter(n);
		s[r] = run_trap(SIGILL, n);
		c[r] = run_syscall(n);
		b[r] = run_trap(SIGTRAP, n);
	}
	echo(n); /* exec's SIGILL handler is in place again */
	tos_teardown();

	struct fig me = median(e, n), ms = median(s, n), mc = median(c, n), mb = median(b, n);
	printf("enclave round trip, %llu iterations, median of %d repetitions: wall (min-max), process CPU\n",
	       (unsigned long long)n, REPS);
	show("(1) EENTER + OP_ECHO + EEXIT (sgxemu_call_enclave)", me);
	show("(2) baseline: bare SIGILL round trip (ud2, handler)", ms);
	show("(3) bare system call (syscall(SYS_getppid))", mc);
	show("(4) bare SIGTRAP round trip (int3, handler)", mb);
	if (sud)
		printf("  Syscall User Dispatch: exec enables it for entering threads (their system calls take the "
		       "kernel's slow path)\n");
	else
		printf("  Syscall User Dispatch is off: %s\n", why);
	printf("  ratios, wall: (1)/(2) %.2fx  (2)/(3) %.1fx  (2)/(4) %.2fx\n", me.wall / ms.wall, ms.wall / mc.wall,
	       ms.wall / mb.wall);
	printf("  ratios, CPU:  (1)/(2) %.2fx  (2)/(3) %.1fx  (2)/(4) %.2fx\n", me.cpu / ms.cpu, ms.cpu / mc.cpu,
	       ms.cpu / mb.cpu);
	printf(
	    "  one round trip costs %.2f bare SIGILL round trips of CPU (floor 2: EENTER and EEXIT trap once each);\n"
	    "  beyond those two: %.3f us of CPU per round trip\n",
	    me.cpu / ms.cpu, me.cpu - 2 * ms.cpu);
	return 0;
}
