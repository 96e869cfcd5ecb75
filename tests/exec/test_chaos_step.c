/* SPDX-License-Identifier: MIT */
/*
 * Chaos mode's step kind: enclave code runs single-stepped (RFLAGS.TF, set
 * by exec), and one stepped instruction in N is interrupted (AEX, ERESUME
 * at the AEP), drawn from the seed.  The test enclave's register loop
 * (OP_NOTIFY_LOOP) shows that every interrupt resumes exactly; with its
 * AEX-Notify handler on, interrupts land inside the handler too, whose POPF
 * must not end the stepping; PUSHF must not show exec's TF; and the same
 * seed interrupts the same instructions (two processes compared).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include "exec_int.h"
#include "regloop.h"
#include "testos.h"

#define ROUNDS	  1500ULL
#define SEED	  0x5EED0123456789ULL
#define MAX_NOTES 4096
#define RFLAGS_TF 0x100ULL
#define ENV_OUT	  "SGXEMU_TEST_STEP_OUT"
#define ENV_SEED  "SGXEMU_TEST_STEP_SEED"

/* Where the step kind interrupted, in order (chaos mode's note callback). */
static uint64_t notes[MAX_NOTES];
static _Atomic unsigned nnotes;

static void note(const char *what, uint64_t rip, uint64_t page, int result)
{
	(void)page, (void)result;
	if (!strcmp(what, "step")) {
		unsigned i = nnotes++;
		if (i < MAX_NOTES)
			notes[i] = rip - ENCL_BASE;
	}
}

static void start(uint64_t seed, unsigned every, unsigned opts)
{
	tos_setup_with(opts);
	struct exec_chaos c = {.seed = seed, .step_every = every, .quiet = true, .note = note};
	cr_assert_eq(exec_chaos_set(&c), 0);
}

static void loop(bool opt_in, uint64_t out[ENCL_OUT_WORDS])
{
	struct sgx_enclave_run run;
	memset(out, 0, ENCL_OUT_WORDS * sizeof(uint64_t));
	cr_assert_eq(tos_ecall(0, OP_NOTIFY_LOOP, ROUNDS, opt_in, SEED, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT, "left with leaf %u, vector %u, error %#x at %#llx", run.function,
		     run.exception_vector, run.exception_error_code, (unsigned long long)run.exception_addr);
	cr_assert_eq(tos_cssa(0), 0);
}

static uint64_t step_interrupts(void)
{
	struct exec_stats s;
	exec_get_stats(&s);
	return s.chaos_steps;
}

static void setup_plain(void)
{
	start(7, 101, 0);
}

static void setup_notify(void)
{
	start(7, 101, TOS_AEXNOTIFY);
}

TestSuite(chaos_step, .fini = tos_teardown, .timeout = 60);

Test(chaos_step, every_interrupt_resumes_exactly, .init = setup_plain)
{
	uint64_t out[ENCL_OUT_WORDS];
	loop(false, out);
	uint64_t n = step_interrupts();
	/* 1500 rounds of 22 instructions, 1 in 101 interrupted: hundreds. */
	cr_assert_gt(n, 100, "%llu step interrupts", (unsigned long long)n);
	cr_assert_eq(nnotes, n, "every interrupt is noted");
	cr_assert_eq(out[0], regloop(ROUNDS, SEED));
}

Test(chaos_step, interrupts_land_in_the_aexnotify_handler_and_its_popf_keeps_stepping, .init = setup_notify)
{
	uint64_t out[ENCL_OUT_WORDS];
	loop(true, out);
	uint64_t n = step_interrupts();
	cr_assert_eq(out[0], regloop(ROUNDS, SEED), "registers after %llu interrupts", (unsigned long long)n);
	/* Each notification's handler ends in POPF; stepping goes on after it, so interrupts keep coming. */
	cr_assert_gt(out[1], 10, "%llu notifications", (unsigned long long)out[1]);
	cr_assert_gt(n, out[1], "interrupts after the first notification, some inside the handler");
	/* Notifications are interrupts outside the handler's window: never more than the interrupts. */
	cr_assert_leq(out[1], n);
}

Test(chaos_step, pushf_does_not_see_the_steppings_tf, .init = setup_plain)
{
	uint64_t out[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	for (unsigned i = 0; i < 50; i++) {
		cr_assert_eq(tos_ecall(0, OP_PUSHF, 0, 0, 0, out, &run), 0);
		cr_assert_eq(run.function, ENCLU_EEXIT);
		cr_assert_eq(out[0] & RFLAGS_TF, 0, "PUSHF stored TF");
	}
	cr_assert_gt(step_interrupts() + nnotes, 0);
}

/* ---- the same seed, the same interrupts: this binary run twice in a child process ---- */

TestSuite(chaos_step_child, .timeout = 60);

/* Run only as a child of reproducible_from_the_seed: the noted offsets to the file $ENV_OUT. */
Test(chaos_step_child, run)
{
	const char *path = getenv(ENV_OUT), *seed = getenv(ENV_SEED);
	if (!path || !seed)
		return;
	start(strtoull(seed, NULL, 0), 101, TOS_AEXNOTIFY);
	uint64_t out[ENCL_OUT_WORDS];
	loop(true, out);
	cr_assert_eq(out[0], regloop(ROUNDS, SEED));
	FILE *f = fopen(path, "w");
	cr_assert(f);
	unsigned n = nnotes < MAX_NOTES ? nnotes : MAX_NOTES;
	fprintf(f, "%llu %u\n", (unsigned long long)out[1], n);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%llx\n", (unsigned long long)notes[i]);
	cr_assert_eq(fclose(f), 0);
	tos_teardown();
}

/* The child's notes as one string. */
static char *child_run(const char *seed, const char *path)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		setenv(ENV_OUT, path, 1);
		setenv(ENV_SEED, seed, 1);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		/* A test runner of its own, not a worker of this one (Criterion's workers find their map here). */
		unsetenv("BXFI_MAP");
		execl("/proc/self/exe", "test_exec_chaos_step", "--filter", "chaos_step_child/*", "--jobs=1",
		      (char *)NULL);
		_exit(127);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child run failed (status %#x)", status);
	FILE *f = fopen(path, "r");
	cr_assert(f, "the child wrote no notes");
	static char buf[MAX_NOTES * 20];
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = 0;
	fclose(f);
	unlink(path);
	char *copy = strdup(buf);
	cr_assert(copy);
	return copy;
}

TestSuite(chaos_step_seed, .timeout = 120);

Test(chaos_step_seed, reproducible_from_the_seed)
{
	char a[64], b[64];
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(a, sizeof(a), "%s/step-a.%d", dir, (int)getpid());
	snprintf(b, sizeof(b), "%s/step-b.%d", dir, (int)getpid());
	char *x = child_run("7", a);
	char *y = child_run("7", b);
	cr_assert(strlen(x) > 100, "too few interrupts noted: %s", x);
	cr_assert_str_eq(x, y, "seed 7 twice, different interrupts");
	char *z = child_run("8", a);
	cr_assert_str_neq(x, z, "seeds 7 and 8 interrupted the same instructions");
	free(x);
	free(y);
	free(z);
}

/* ---- the step's #DB as the host reports it ---- */

TestSuite(chaos_step_trap, .timeout = 30);

/* A SIGTRAP of enclave code with si_code code, vector trapno, RFLAGS efl. */
static bool classify(int code, long long trapno, unsigned long long efl)
{
	siginfo_t si;
	ucontext_t uc;
	memset(&si, 0, sizeof(si));
	memset(&uc, 0, sizeof(uc));
	si.si_signo = SIGTRAP;
	si.si_code = code;
	uc.uc_mcontext.gregs[REG_TRAPNO] = (greg_t)trapno;
	uc.uc_mcontext.gregs[REG_EFL] = (greg_t)efl;
	return exec_step_trap(&si, &uc);
}

Test(chaos_step_trap, tf_debug_traps_are_steps_whatever_dr6_said)
{
	cr_assert(classify(TRAP_TRACE, X86_DB, 0x302), "DR6.BS");
	/* Seen in a KVM guest with several threads stepping: the TF #DB reported as TRAP_BRKPT. */
	cr_assert(classify(TRAP_BRKPT, X86_DB, 0x346));
	cr_assert(!classify(TRAP_BRKPT, X86_DB, 0x246), "no TF: not the step's");
	cr_assert(!classify(SI_KERNEL, X86_BP, 0x346), "INT3 is #BP");
	cr_assert(!classify(TRAP_HWBKPT, X86_DB, 0x346), "a hardware breakpoint is a debugger's");
}

/* Both TCSs stepped at once from two host threads: every interrupt of either resumes exactly. */
struct stepper {
	unsigned tcs;
	uint64_t out[ENCL_OUT_WORDS];
	struct sgx_enclave_run run;
	int ret;
};

static void *step_thread(void *arg)
{
	struct stepper *s = arg;
	s->ret = tos_ecall(s->tcs, OP_NOTIFY_LOOP, ROUNDS, 0, SEED + s->tcs, s->out, &s->run);
	return NULL;
}

Test(chaos_step, two_threads_stepped_at_once, .init = setup_plain, .timeout = 120)
{
	struct stepper st[2] = {{.tcs = 0}, {.tcs = 1}};
	pthread_t th[2];
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, step_thread, &st[i]), 0);
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_eq(pthread_join(th[i], NULL), 0);
		cr_assert_eq(st[i].ret, 0);
		cr_assert_eq(st[i].run.function, ENCLU_EEXIT, "thread %u left with leaf %u, vector %u", i,
			     st[i].run.function, st[i].run.exception_vector);
		cr_assert_eq(st[i].out[0], regloop(ROUNDS, SEED + i), "thread %u's registers", i);
	}
	cr_assert_gt(step_interrupts(), 100);
}
