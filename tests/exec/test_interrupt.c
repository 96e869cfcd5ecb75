/* SPDX-License-Identifier: MIT */
/*
 * Signals interrupt enclave code as on Linux: the thread AEXes, the
 * program's action runs on the host context at the AEP (its handler on the
 * host's FS, never on the enclave's stack; a default action such as
 * terminate applies), and when the handler returns the AEP's ERESUME
 * continues the enclave.  The enclave spins in OP_SPIN on a host word, so
 * only the signal can end the call.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#include "testos.h"

/* What a handler saw. */
struct seen {
	_Atomic unsigned count;
	int signo, tid;
	uint64_t rip, rax, rbx, rcx, sp;
	uint64_t tls; /* a __thread variable read in the handler: FS is the host's */
};

static __thread uint64_t tls_word = 0x7E57AB1E;
static struct seen seen;
static volatile uint64_t stop[ENCL_THREADS], entered[ENCL_THREADS];

static int gettid_(void)
{
	return (int)syscall(SYS_gettid);
}

static void record(int sig, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	seen.signo = sig;
	seen.tid = gettid_();
	seen.rip = (uint64_t)g[REG_RIP];
	seen.rax = (uint64_t)g[REG_RAX];
	seen.rbx = (uint64_t)g[REG_RBX];
	seen.rcx = (uint64_t)g[REG_RCX];
	uint64_t local;
	seen.sp = (uint64_t)(uintptr_t)&local;
	seen.tls = tls_word;
	seen.count++;
}

/* Stops the spin of the thread whose TCS the AEX left in RBX. */
static void stopping_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)si;
	const ucontext_t *uc = ucv;
	record(sig, uc);
	for (unsigned i = 0; i < ENCL_THREADS; i++)
		if ((uint64_t)uc->uc_mcontext.gregs[REG_RBX] == tos_tcs(i))
			stop[i] = 1;
}

static void reset(void)
{
	memset(&seen, 0, sizeof(seen));
	for (unsigned i = 0; i < ENCL_THREADS; i++)
		stop[i] = entered[i] = 0;
}

static void setup(void)
{
	reset();
	tos_setup();
}

static void setup_sigalrm_handler(void)
{
	reset();
	tos_sigaction(SIGALRM, stopping_handler);
	tos_setup();
}

static void teardown(void)
{
	tos_teardown();
}

static int spin(unsigned i, struct sgx_enclave_run *run)
{
	uint64_t out[ENCL_OUT_WORDS] = {0};
	return tos_ecall(i, OP_SPIN, (uint64_t)(uintptr_t)&stop[i], (uint64_t)(uintptr_t)&entered[i], 0, out, run);
}

/* The handler ran once, in this thread, at the AEP of TCS i with the AEX's synthetic registers. */
static void assert_at_aep(int sig, unsigned i)
{
	cr_assert_eq(seen.count, 1, "handler ran %u times", seen.count);
	cr_assert_eq(seen.signo, sig);
	cr_assert_eq(seen.rax, ENCLU_ERESUME, "RAX = ERESUME at the AEP");
	cr_assert_eq(seen.rbx, tos_tcs(i), "RBX = the TCS");
	cr_assert_eq(seen.rip, seen.rcx, "RIP = RCX = the AEP");
	cr_assert_eq(seen.tls, 0x7E57AB1E, "the handler runs with the host's FS");
	cr_assert(seen.sp - ENCL_BASE >= ENCL_SIZE, "the handler's stack %#llx is not the enclave's",
		  (unsigned long long)seen.sp);
}

static void arm_alarm_ms(unsigned ms)
{
	struct itimerval it = {.it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

/* ---- default actions: the kernel's, wherever the thread is ---- */

TestSuite(interrupt_default, .init = setup, .fini = teardown, .timeout = 20);

static void *send_after_entry(void *arg)
{
	int sig = (int)(intptr_t)arg;
	while (!entered[0])
		sched_yield();
	kill(getpid(), sig);
	return NULL;
}

static void spin_until_signal(int sig)
{
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, send_after_entry, (void *)(intptr_t)sig), 0);
	struct sgx_enclave_run run;
	spin(0, &run);
	cr_assert_fail("the enclave returned although nothing stops its spin");
}

Test(interrupt_default, sigterm_ends_a_spinning_enclave, .signal = SIGTERM)
{
	spin_until_signal(SIGTERM);
}

Test(interrupt_default, sigint_ends_a_spinning_enclave, .signal = SIGINT)
{
	spin_until_signal(SIGINT);
}

Test(interrupt_default, sigalrm_of_a_timer_ends_a_spinning_enclave, .signal = SIGALRM)
{
	arm_alarm_ms(100);
	struct sgx_enclave_run run;
	spin(0, &run);
	cr_assert_fail("the enclave returned although nothing stops its spin");
}

/* SIG_IGN: the kernel drops it; the enclave never notices. */
static void *ignored_then_stop(void *arg)
{
	(void)arg;
	while (!entered[0])
		sched_yield();
	kill(getpid(), SIGUSR2);
	usleep(20000);
	stop[0] = 1;
	return NULL;
}

Test(interrupt_default, an_ignored_signal_leaves_the_enclave_alone)
{
	signal(SIGUSR2, SIG_IGN);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, ignored_then_stop, NULL), 0);
	struct sgx_enclave_run run;
	cr_assert_eq(spin(0, &run), 0);
	pthread_join(th, NULL);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(seen.count, 0);
	cr_assert_eq(tos_cssa(0), 0);
}

/* ---- a program handler: at the AEP, then ERESUME ---- */

TestSuite(interrupt_handler, .fini = teardown, .timeout = 20);

Test(interrupt_handler, timer_signal_runs_the_handler_at_the_aep_then_the_enclave_continues,
     .init = setup_sigalrm_handler)
{
	arm_alarm_ms(50);
	struct sgx_enclave_run run;
	cr_assert_eq(spin(0, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT, "the enclave finished its call after ERESUME");
	assert_at_aep(SIGALRM, 0);
	cr_assert_eq(seen.tid, gettid_(), "delivered to the thread that ran the enclave");
	cr_assert_eq(tos_cssa(0), 0, "ERESUME took the SSA frame back");
}

/* A handler installed after exec started, through exec_sigaction. */
static void *kill_after_entry(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	while (!entered[0])
		sched_yield();
	pthread_kill(target, SIGUSR1);
	return NULL;
}

Test(interrupt_handler, handler_installed_later_through_exec_sigaction, .init = setup)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = stopping_handler;
	sa.sa_flags = SA_SIGINFO;
	cr_assert_eq(exec_sigaction(SIGUSR1, &sa, &old), 0);
	cr_assert_eq(old.sa_handler, SIG_DFL);
	struct sigaction now;
	cr_assert_eq(exec_sigaction(SIGUSR1, NULL, &now), 0);
	cr_assert_eq((void *)now.sa_sigaction, (void *)stopping_handler, "the program sees its own action");
	pthread_t self = pthread_self(), th;
	cr_assert_eq(pthread_create(&th, NULL, kill_after_entry, &self), 0);
	struct sgx_enclave_run run;
	cr_assert_eq(spin(0, &run), 0);
	pthread_join(th, NULL);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	assert_at_aep(SIGUSR1, 0);
	cr_assert_eq(exec_sigaction(SIGKILL, &sa, NULL), -EINVAL);
	cr_assert_eq(exec_sigaction(0, NULL, &now), -EINVAL);
	cr_assert_eq(exec_sigaction(NSIG, NULL, &now), -EINVAL);
}

/* The handler's sa_mask and SA_RESETHAND apply as the kernel applies them. */
static sigset_t mask_in_handler;
static void masking_handler(int sig, siginfo_t *si, void *ucv)
{
	pthread_sigmask(SIG_SETMASK, NULL, &mask_in_handler);
	stopping_handler(sig, si, ucv);
}

Test(interrupt_handler, sa_mask_and_sa_resethand_apply, .init = setup)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = masking_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	cr_assert_eq(exec_sigaction(SIGUSR1, &sa, NULL), 0);
	pthread_t self = pthread_self(), th;
	cr_assert_eq(pthread_create(&th, NULL, kill_after_entry, &self), 0);
	struct sgx_enclave_run run;
	cr_assert_eq(spin(0, &run), 0);
	pthread_join(th, NULL);
	assert_at_aep(SIGUSR1, 0);
	cr_assert(sigismember(&mask_in_handler, SIGUSR2), "sa_mask held in the handler");
	cr_assert(sigismember(&mask_in_handler, SIGUSR1), "the signal itself held in the handler");
	struct sigaction now;
	cr_assert_eq(exec_sigaction(SIGUSR1, NULL, &now), 0);
	cr_assert_eq(now.sa_handler, SIG_DFL, "SA_RESETHAND: the action is SIG_DFL after one delivery");
	struct sigaction real;
	sigaction(SIGUSR1, NULL, &real);
	cr_assert_eq(real.sa_handler, SIG_DFL, "and the kernel has it back");
}

/* ---- a handler that leaves with siglongjmp ---- */

static sigjmp_buf jump;
static void jumping_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)si;
	record(sig, ucv);
	siglongjmp(jump, 1);
}

Test(interrupt_handler, handler_that_longjmps_out_leaves_the_enclave_interrupted, .init = setup)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = jumping_handler;
	sa.sa_flags = SA_SIGINFO;
	cr_assert_eq(exec_sigaction(SIGALRM, &sa, NULL), 0);
	uint64_t rec[HREC_WORDS] = {0};
	tos_set_handler(0, 0, 0, rec); /* mode 0: only record */
	if (sigsetjmp(jump, 1) == 0) {
		arm_alarm_ms(50);
		struct sgx_enclave_run run;
		spin(0, &run);
		cr_assert_fail("the spin ended without the signal");
	}
	assert_at_aep(SIGALRM, 0);
	/* The thread is back in host code; the enclave thread is interrupted (SSA frame in use). */
	cr_assert_eq(tos_cssa(0), 1);
	/*
	 * The program abandoned that call (its host frame is gone, so no
	 * ERESUME: the enclave would EEXIT to it).  The TCS is free: a new
	 * EENTER runs with the next SSA frame, as on hardware; the other TCS
	 * is untouched.
	 */
	uint64_t out[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_ECHO, 40, 2, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(rec[HREC_CSSA], 1, "the enclave's handler ran, entered with CSSA 1");
	cr_assert_eq(rec[HREC_EXITINFO] & SGX_EXITINFO_VALID, 0, "an interrupt: EXITINFO not valid");
	cr_assert_eq(rec[HREC_RIP] - ENCL_BASE < ENCL_SIZE, 1, "SSA[0] holds the interrupted enclave RIP");
	cr_assert_eq(tos_cssa(0), 1);
	cr_assert_eq(tos_ecall(1, OP_ECHO, 40, 2, 0, out, &run), 0);
	cr_assert_eq(out[1], 0);
	/* Signals keep working after the jump. */
	cr_assert_eq(tos_ecall(1, OP_ECHO, 1, 1, 0, out, &run), 0);
	memset(&seen, 0, sizeof(seen));
	if (sigsetjmp(jump, 1) == 0) {
		arm_alarm_ms(50);
		spin(1, &run);
		cr_assert_fail("the spin ended without the signal");
	}
	assert_at_aep(SIGALRM, 1);
}

/* ---- a signal to one thread of a multi-threaded enclave ---- */

struct spinner {
	unsigned i;
	int tid;
	int ret;
	struct sgx_enclave_run run;
	_Atomic int done;
};

static void *spinner_main(void *arg)
{
	struct spinner *s = arg;
	s->tid = gettid_();
	s->ret = spin(s->i, &s->run);
	s->done = 1;
	return NULL;
}

Test(interrupt_handler, a_signal_to_one_thread_interrupts_only_that_thread, .init = setup)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = stopping_handler;
	sa.sa_flags = SA_SIGINFO;
	cr_assert_eq(exec_sigaction(SIGUSR1, &sa, NULL), 0);
	struct spinner s[ENCL_THREADS];
	pthread_t th[ENCL_THREADS];
	memset(s, 0, sizeof(s));
	for (unsigned i = 0; i < ENCL_THREADS; i++) {
		s[i].i = i;
		cr_assert_eq(pthread_create(&th[i], NULL, spinner_main, &s[i]), 0);
	}
	for (unsigned i = 0; i < ENCL_THREADS; i++)
		while (!entered[i])
			sched_yield();
	pthread_kill(th[1], SIGUSR1);
	pthread_join(th[1], NULL);
	cr_assert_eq(s[1].ret, 0);
	cr_assert_eq(s[1].run.function, ENCLU_EEXIT);
	assert_at_aep(SIGUSR1, 1);
	cr_assert_eq(seen.tid, s[1].tid, "the handler ran in the thread the signal was sent to");
	/* The other thread is still spinning inside its enclave. */
	usleep(20000);
	cr_assert_eq(s[0].done, 0);
	cr_assert_eq(stop[0], 0);
	stop[0] = 1;
	pthread_join(th[0], NULL);
	cr_assert_eq(s[0].ret, 0);
	cr_assert_eq(s[0].run.function, ENCLU_EEXIT);
	cr_assert_eq(seen.count, 1);
}

/* Host code of a thread that never entered still gets the program's handler through exec. */
Test(interrupt_handler, signals_outside_enclaves_reach_the_program_handler, .init = setup_sigalrm_handler)
{
	raise(SIGALRM);
	cr_assert_eq(seen.count, 1);
	cr_assert_eq(seen.signo, SIGALRM);
	cr_assert_eq(seen.tid, gettid_());
}
