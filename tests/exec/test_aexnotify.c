/* SPDX-License-Identifier: MIT */
/*
 * AEX-Notify natively: an enclave signed with AEXNOTIFY whose TCSs have the
 * flag opts SSA frame 0 in (its GPRSGX.AEXNOTIFY byte) and runs a loop that
 * keeps every general-purpose register, CF, ZF and XMM0 live
 * (OP_NOTIFY_LOOP).  Interrupts land at arbitrary instructions of the loop:
 * chaos mode's timer kind, and a program's own timer signal.  After each
 * AEX the AEP's ERESUME enters the enclave's handler at OENTRY with CSSA =
 * 1 (entry.S, encl_notify), which pops the frame with EDECCSSA and restores
 * the interrupted state itself.  The loop's result shows whether every
 * register came back; the handler's count, that the notifications came.
 * Without the opt-in, or without the TCS's flag, the same interrupts
 * resume the frame plainly and nothing is notified.
 */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "regloop.h"
#include "testos.h"

#define ROUNDS 20000000ULL
#define SEED   0x5EED0123456789ULL

static uint64_t timer_interrupts(void)
{
	struct exec_stats s;
	exec_get_stats(&s);
	return s.chaos_timer;
}

/* OP_NOTIFY_LOOP on TCS 0: out[0] the loop's result, out[1] the notifications. */
static void notify_loop(bool opt_in, uint64_t out[ENCL_OUT_WORDS])
{
	struct sgx_enclave_run run;
	memset(out, 0, ENCL_OUT_WORDS * sizeof(uint64_t));
	cr_assert_eq(tos_ecall(0, OP_NOTIFY_LOOP, ROUNDS, opt_in, SEED, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT, "left with leaf %u, vector %u, error code %#x, address %#llx",
		     run.function, run.exception_vector, run.exception_error_code,
		     (unsigned long long)run.exception_addr);
	cr_assert_eq(tos_cssa(0), 0, "every frame popped");
}

static void chaos_timer(void)
{
	/* A CPU-time timer per thread: interrupts at whatever instruction the loop is at. */
	struct exec_chaos c = {.seed = 1, .timer_usec = 200, .quiet = true};
	cr_assert_eq(exec_chaos_set(&c), 0);
}

static void setup_notify_chaos(void)
{
	tos_setup_with(TOS_AEXNOTIFY);
	chaos_timer();
}

static void setup_plain_chaos(void)
{
	tos_setup();
	chaos_timer();
}

/* Each test runs in a process of its own: chaos mode ends with it. */
TestSuite(aexnotify, .fini = tos_teardown, .timeout = 60);

Test(aexnotify, handler_restores_every_register_at_timer_interrupts, .init = setup_notify_chaos)
{
	uint64_t out[ENCL_OUT_WORDS], want = regloop(ROUNDS, SEED);
	uint64_t t0 = timer_interrupts();
	notify_loop(true, out);
	uint64_t n = timer_interrupts() - t0;
	cr_assert_gt(n, 0, "no timer interrupt in the loop");
	cr_assert_eq(out[0], want, "the loop's registers after %llu interrupts: %#llx, expected %#llx",
		     (unsigned long long)n, (unsigned long long)out[0], (unsigned long long)want);
	cr_assert_gt(out[1], 0, "%llu interrupts, no notification", (unsigned long long)n);
	/* Interrupts inside the handler, or between its EDECCSSA and the re-opt-in, resume plainly. */
	cr_assert_leq(out[1], n, "%llu notifications for %llu interrupts", (unsigned long long)out[1],
		      (unsigned long long)n);
}

Test(aexnotify, without_the_frames_opt_in_nothing_is_notified, .init = setup_notify_chaos)
{
	uint64_t out[ENCL_OUT_WORDS];
	uint64_t t0 = timer_interrupts();
	notify_loop(false, out);
	cr_assert_gt(timer_interrupts() - t0, 0, "no timer interrupt in the loop");
	cr_assert_eq(out[0], regloop(ROUNDS, SEED));
	cr_assert_eq(out[1], 0);
}

Test(aexnotify, without_the_tcs_flag_the_opt_in_does_nothing, .init = setup_plain_chaos)
{
	uint64_t out[ENCL_OUT_WORDS];
	uint64_t t0 = timer_interrupts();
	notify_loop(true, out);
	cr_assert_gt(timer_interrupts() - t0, 0, "no timer interrupt in the loop");
	cr_assert_eq(out[0], regloop(ROUNDS, SEED));
	cr_assert_eq(out[1], 0);
}

/* ---- the program's own signals ---- */

static _Atomic unsigned program_signals;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si, (void)uc;
	program_signals++;
}

/* The program's handler is in place before exec is installed, which takes it over (docs/exec.md). */
static void setup_notify_signal(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	tos_setup_with(TOS_AEXNOTIFY);
}

Test(aexnotify, program_signals_notify_after_the_handler_returns, .init = setup_notify_signal)
{
	/* This thread's CPU-time timer: the signal arrives wherever the loop is. */
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR2;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	timer_t id;
	cr_assert_eq(timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &id), 0);
	struct itimerspec its = {.it_interval = {0, 500000}, .it_value = {0, 500000}};
	cr_assert_eq(timer_settime(id, 0, &its, NULL), 0);
	uint64_t out[ENCL_OUT_WORDS];
	notify_loop(true, out);
	timer_delete(id);
	unsigned n = program_signals;
	cr_assert_gt(n, 0, "no signal in the loop");
	cr_assert_eq(out[0], regloop(ROUNDS, SEED));
	cr_assert_gt(out[1], 0, "%u signals, no notification", n);
	cr_assert_leq(out[1], n);
}

/* ---- exec_uninstall and the timer kind ---- */

TestSuite(chaos_uninstall, .timeout = 30);

Test(chaos_uninstall, timers_stop_with_exec, .init = setup_notify_chaos)
{
	uint64_t out[ENCL_OUT_WORDS];
	notify_loop(false, out);
	tos_teardown();
	/* CPU time well past the timer's period: its signal would now terminate the process. */
	struct timespec t0, t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 20000000L);
}
