/* SPDX-License-Identifier: MIT */
/*
 * The cost of entering and leaving an enclave natively, per round trip:
 *
 *  (1) EENTER + EEXIT through sgxemu_call_enclave: the test enclave
 *      (tests/exec/enclave) loaded by the test OS (tests/exec/testos.c)
 *      runs OP_ECHO (three stores to an untrusted buffer) and EEXITs; the
 *      result is checked every time.  Both ENCLUs trap, so the floor is two
 *      signal round trips plus the model's leaves;
 *  (2) that floor, measured in the same process: a bare ENCLU round trip
 *      of each leaf, executed by host code under a handler that only moves
 *      RIP past it (src/exec/hostprobe.c; exec's handlers are put back
 *      afterwards), with the kind of trap this host raises for it:
 *      (2a) EENTER with RBX on a PROT_NONE page, as the TCS is mapped (#UD
 *      where the CPU has no SGX or firmware left it off; #PF on the TCS
 *      where firmware enabled it), and (2b) EEXIT (#UD, or #GP(0));
 *  (3) for scale: a bare system call, syscall(SYS_getppid);
 *  (4) a bare SIGTRAP round trip (int3, same kind of handler): a signal
 *      whose trap is neither #UD nor #GP;
 *  (5) a bare SIGILL round trip (ud2): #UD, what ENCLU raises on a host
 *      without SGX.
 *
 * Each is repeated 5 times; within a repetition all of them run in turns of
 * a tenth of the iterations (CHUNKS), so that a slow spell of a shared host
 * weighs on a figure and its floor alike.  The medians of wall-clock and
 * process CPU time per round trip are printed with the ratios, those
 * against the ENCLU floor first.
 *
 * The last line is the `ecall` target's `result` line (docs/bench.md): (1)
 * against (2b), one bare trap.
 *
 * Usage: bench_enter [iterations]   (default 10000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "elfimg.h"
#include "hostprobe.h"
#include "testos.h"

#define REPS   5
#define CHUNKS 10

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

static void add(struct span *sum, struct span s)
{
	sum->wall += s.wall;
	sum->cpu += s.cpu;
}

/* (1): n enclave round trips. */
static struct span run_enter(uint64_t n)
{
	struct span t0 = now();
	for (uint64_t i = 0; i < n; i++)
		echo(i);
	return since(t0);
}

/* n bare round trips of the trap of spec (hostprobe.c's handlers, exec's put back on return). */
static struct span run_trap(const struct exec_trap_spec *spec, uint64_t n)
{
	struct exec_trap_cost c;
	int rc = exec_trap_time(spec, n, &c);
	if (rc != 0) {
		fprintf(stderr, "bench_enter: timing a bare trap: %s\n", strerror(-rc));
		exit(1);
	}
	return (struct span){c.wall_ns / 1e9, c.cpu_ns / 1e9};
}

/* What spec raises here, e.g. "#PF (SIGSEGV, SEGV_ACCERR)"; dies unless exec would take it as the leaf. */
static void trap_kind(const struct exec_trap_spec *spec, char *out, size_t len)
{
	struct exec_trap_probe p;
	int rc = exec_trap_probe(spec, &p);
	if (rc != 0) {
		fprintf(stderr, "bench_enter: probing a bare trap: %s\n", strerror(-rc));
		exit(1);
	}
	exec_trap_describe(&p, false, out, len);
	if (spec->insn == EXEC_TRAP_ENCLU && !p.exec_takes) {
		fprintf(stderr, "bench_enter: ENCLU raises %s here, which exec does not take as the leaf\n", out);
		exit(1);
	}
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
	printf("  %-60s %7.3f us (%.3f-%.3f), CPU %7.3f us\n", what, f.wall, f.wall_lo, f.wall_hi, f.cpu);
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

	struct exec_trap_spec eenter = {.insn = EXEC_TRAP_ENCLU, .leaf = ENCLU_EENTER, .page = EXEC_TRAP_PAGE_NONE},
			      eexit = {.insn = EXEC_TRAP_ENCLU, .leaf = ENCLU_EEXIT, .page = EXEC_TRAP_PAGE_RW},
			      int3 = {.insn = EXEC_TRAP_INT3}, ud2 = {.insn = EXEC_TRAP_UD2};

	tos_setup();
	echo(0); /* the thread's first entry creates its exec state and signal stack: not timed */
	char kind_enter[96], kind_exit[96];
	trap_kind(&eenter, kind_enter, sizeof(kind_enter));
	trap_kind(&eexit, kind_exit, sizeof(kind_exit));

	struct span e[REPS] = {0}, fe[REPS] = {0}, fx[REPS] = {0}, f[REPS], c[REPS] = {0}, b[REPS] = {0}, s[REPS] = {0};
	for (int r = 0; r < REPS; r++) {
		for (uint64_t k = 0; k < CHUNKS; k++) {
			uint64_t m = n / CHUNKS + (k < n % CHUNKS);
			if (!m)
				continue;
			add(&e[r], run_enter(m));
			add(&fe[r], run_trap(&eenter, m));
			add(&fx[r], run_trap(&eexit, m));
			add(&c[r], run_syscall(m));
			add(&b[r], run_trap(&int3, m));
			add(&s[r], run_trap(&ud2, m));
		}
		f[r] = (struct span){fe[r].wall + fx[r].wall, fe[r].cpu + fx[r].cpu};
	}
	echo(n); /* exec's handlers are in place again */
	tos_teardown();

	struct fig me = median(e, n), mf = median(f, n), mfe = median(fe, n), mfx = median(fx, n), mc = median(c, n),
		   mb = median(b, n), ms = median(s, n);
	char what_enter[160], what_exit[160];
	snprintf(what_enter, sizeof(what_enter), "(2a) ENCLU[EENTER], TCS PROT_NONE: %s", kind_enter);
	snprintf(what_exit, sizeof(what_exit), "(2b) ENCLU[EEXIT]: %s", kind_exit);
	printf("enclave round trip, %llu iterations, median of %d repetitions: wall (min-max), process CPU\n",
	       (unsigned long long)n, REPS);
	show("(1) EENTER + OP_ECHO + EEXIT (sgxemu_call_enclave)", me);
	show("(2) floor: bare ENCLU round trips (2a) + (2b)", mf);
	show(what_enter, mfe);
	show(what_exit, mfx);
	show("(3) bare system call (syscall(SYS_getppid))", mc);
	show("(4) bare SIGTRAP round trip (int3, handler)", mb);
	show("(5) bare SIGILL round trip (ud2, handler)", ms);
	if (sud)
		printf("  Syscall User Dispatch: exec enables it for entering threads (their system calls take the "
		       "kernel's slow path)\n");
	else
		printf("  Syscall User Dispatch is off: %s\n", why);
	printf("  ratios, wall: (1)/(2) %.2fx  (2b)/(5) %.2fx  (2b)/(4) %.2fx  (1)/(5) %.2fx  (5)/(3) %.1fx  (5)/(4) "
	       "%.2fx\n",
	       me.wall / mf.wall, mfx.wall / ms.wall, mfx.wall / mb.wall, me.wall / ms.wall, ms.wall / mc.wall,
	       ms.wall / mb.wall);
	printf("  ratios, CPU:  (1)/(2) %.2fx  (2b)/(5) %.2fx  (2b)/(4) %.2fx  (1)/(5) %.2fx  (5)/(3) %.1fx  (5)/(4) "
	       "%.2fx\n",
	       me.cpu / mf.cpu, mfx.cpu / ms.cpu, mfx.cpu / mb.cpu, me.cpu / ms.cpu, ms.cpu / mc.cpu, ms.cpu / mb.cpu);
	printf("  one round trip costs %.2fx its two bare ENCLU traps of CPU (floor 1: EENTER and EEXIT trap once "
	       "each);\n"
	       "  beyond them: %.3f us of CPU per round trip\n",
	       me.cpu / mf.cpu, me.cpu - mf.cpu);
	/* The target: one ECALL round trip against one bare trap of the kind ENCLU raises here (EEXIT's). */
	bench_result("ecall", me.wall, mfx.wall);
	return 0;
}
