/* SPDX-License-Identifier: MIT */
/*
 * The program's signal actions, kept behind exec's handler.
 *
 * On Linux a signal that arrives while a thread runs enclave code causes an
 * AEX; the kernel then delivers it to the host context at the AEP, where the
 * program's handler runs (or the default action applies) and the AEP's
 * ERESUME continues the enclave.  Here enclave code runs natively, so a
 * program handler invoked directly would run on the enclave's stack with the
 * enclave's FS/GS.  Therefore exec's handler stands in front of every signal
 * the program handles, and enclave code runs with only the signals the host
 * code had blocked (plus none of exec's own):
 *   - a signal whose action is SIG_DFL or SIG_IGN is the kernel's business
 *     wherever the thread is (terminate, stop, ignore), as on Linux;
 *   - a signal the program handles reaches exec_trap_entry, which AEXes the
 *     thread and runs the program's action on the host context at the AEP.
 *
 * exec takes the signals it needs (the synchronous faults, its kick signal,
 * SIGSYS for Syscall User Dispatch) at exec_install, and every other signal
 * that has a handler then; exec_sigaction() keeps it so for handlers
 * installed later (the preload library routes the program's sigaction()
 * there, embedding programs call sgxemu_sigaction()).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "exec_int.h"

static const int fault_signals[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP};

/* The program's action of every signal exec took (taken[sig]); the real action is exec_trap_entry. */
static struct sigaction prog_action[NSIG];
static bool taken[NSIG];
static bool always[NSIG]; /* exec needs the signal itself: never given back while installed */
static bool installed;
/* Guards prog_action/taken; held with every signal blocked, so a handler never waits for its own thread. */
static pthread_mutex_t action_lock = PTHREAD_MUTEX_INITIALIZER;

static void lock(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
	pthread_mutex_lock(&action_lock);
}

static void unlock(const sigset_t *old)
{
	pthread_mutex_unlock(&action_lock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static bool is_handler(const struct sigaction *a)
{
	return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

bool exec_sync_signal(int sig, const siginfo_t *si)
{
	if (si->si_code <= 0)
		return false; /* sent by a process: kill, tgkill, sigqueue, timers */
	switch (sig) {
	case SIGILL:
	case SIGSEGV:
	case SIGFPE:
	case SIGTRAP:
	case SIGSYS:
		return true;
	case SIGBUS:
		return si->si_code != BUS_MCEERR_AO; /* a memory error found in the background is not this code's */
	default:
		return false;
	}
}

/* Make exec_trap_entry the real action of sig; the caller holds the lock. */
static int take(int sig, const struct sigaction *prog)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = exec_trap_entry;
	/* System calls the program's action lets the kernel restart are restarted; the others fail with EINTR. */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | (always[sig] ? SA_RESTART : (prog->sa_flags & SA_RESTART));
	/* Open handlers keep the interrupted context's mask; the trampoline puts off what arrives meanwhile. */
	if (exec_signal_open(sig)) {
		sigemptyset(&sa.sa_mask);
		sa.sa_flags |= SA_NODEFER;
	} else {
		sigfillset(&sa.sa_mask);
	}
	if (sigaction(sig, &sa, NULL) != 0)
		return -errno;
	prog_action[sig] = *prog;
	taken[sig] = true;
	return 0;
}

/* Give sig back to the kernel with the program's action a (SIG_DFL or SIG_IGN); the caller holds the lock. */
static int give_back(int sig, const struct sigaction *a)
{
	if (sigaction(sig, a, NULL) != 0)
		return -errno;
	taken[sig] = false;
	return 0;
}

void exec_signals_take(bool sigsys)
{
	sigset_t old;
	lock(&old);
	memset(always, 0, sizeof(always));
	for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
		always[fault_signals[i]] = true;
	always[EXEC_KICK_SIGNAL] = true;
	always[SIGSYS] = sigsys;
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction cur;
		if (sig == SIGKILL || sig == SIGSTOP || taken[sig])
			continue;
		/* The C library's own signals (thread cancellation, set*id) refuse: skipped. */
		if (sigaction(sig, NULL, &cur) != 0)
			continue;
		if (always[sig] || is_handler(&cur))
			take(sig, &cur);
	}
	installed = true;
	unlock(&old);
}

void exec_signals_give_back(void)
{
	sigset_t old;
	lock(&old);
	for (int sig = 1; sig < NSIG; sig++)
		if (taken[sig] && sigaction(sig, &prog_action[sig], NULL) == 0)
			taken[sig] = false;
	installed = false;
	unlock(&old);
}

int exec_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig <= 0 || sig >= NSIG)
		return -EINVAL;
	sigset_t mask;
	lock(&mask);
	int r = 0;
	if (!installed || (!taken[sig] && !(act && is_handler(act)))) {
		/* Not exec's, and not to become exec's: the kernel's action as it is. */
		if (sigaction(sig, act, old) != 0)
			r = -errno;
		goto out;
	}
	if ((sig == SIGKILL || sig == SIGSTOP) && act) {
		r = -EINVAL;
		goto out;
	}
	struct sigaction was;
	if (taken[sig])
		was = prog_action[sig];
	else if (sigaction(sig, NULL, &was) != 0) {
		r = -errno;
		goto out;
	}
	if (act) {
		if (always[sig] || is_handler(act))
			r = take(sig, act);
		else
			r = give_back(sig, act);
		if (r == 0)
			prog_action[sig] = *act;
	}
	if (r == 0 && old)
		*old = was;
out:
	unlock(&mask);
	return r;
}

enum exec_ran exec_run_action(int sig, siginfo_t *si, ucontext_t *uc, struct sigaction *a)
{
	if (a->sa_handler == SIG_IGN && !exec_sync_signal(sig, si))
		return EXEC_RAN_NOTHING; /* the kernel would have dropped it */
	if (!is_handler(a)) {
		/*
		 * The default action (a fault cannot be ignored).  Raised again
		 * while blocked here, it is delivered as the handler returns,
		 * in the context the handler leaves.
		 */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(sig, &dfl, NULL);
		raise(sig);
		return EXEC_RAN_DEFAULT;
	}
	/* What the kernel does around a handler: its sa_mask and the signal itself held while it runs. */
	struct sigaction run = *a;
	sigset_t mask;
	exec_uc_mask_get(uc, &mask);
	sigorset(&mask, &mask, &run.sa_mask);
	if (!(run.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	if (run.sa_flags & SA_RESETHAND) {
		a->sa_handler = SIG_DFL;
		a->sa_flags &= ~(SA_SIGINFO | SA_RESETHAND);
	}
	/*
	 * While the program's handler runs, exec's handler is not running on
	 * this thread: signals reach it (and exec) as they come.
	 */
	struct exec_thread *self = exec_thread_lookup();
	bool in_trap = self && self->in_trap;
	if (in_trap)
		__atomic_store_n(&self->in_trap, 0, __ATOMIC_RELAXED);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	exec_handlers_ran++;
	if (run.sa_flags & SA_SIGINFO)
		run.sa_sigaction(sig, si, uc);
	else
		run.sa_handler(sig);
	if (in_trap)
		__atomic_store_n(&self->in_trap, 1, __ATOMIC_RELAXED);
	return EXEC_RAN_HANDLER;
}

__thread unsigned long exec_handlers_ran;

void exec_chain(int sig, siginfo_t *si, ucontext_t *uc)
{
	sigset_t mask;
	lock(&mask);
	struct sigaction a = prog_action[sig];
	bool mine = taken[sig];
	unlock(&mask);
	if (!mine) {
		/* Given back meanwhile (another thread set SIG_DFL/SIG_IGN): the kernel's action applies. */
		memset(&a, 0, sizeof(a));
		sigaction(sig, NULL, &a);
	}
	struct sigaction after = a;
	enum exec_ran ran = exec_run_action(sig, si, uc, &after);
	if (!mine)
		return;
	lock(&mask);
	if (ran == EXEC_RAN_DEFAULT)
		taken[sig] = false; /* exec_run_action put SIG_DFL in place */
	else if (ran == EXEC_RAN_HANDLER && (a.sa_flags & SA_RESETHAND) && taken[sig]) {
		/* SA_RESETHAND: the program's action is SIG_DFL from now on. */
		prog_action[sig] = after;
		if (!always[sig])
			give_back(sig, &after);
	}
	unlock(&mask);
}

uint64_t exec_own_bits(void)
{
	/* Signals 1..64 are the bits of the set's first word (glibc's layout, the kernel's sigset). */
	static _Atomic uint64_t own;
	uint64_t bits = atomic_load_explicit(&own, memory_order_relaxed);
	if (!bits) {
		for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
			bits |= 1ULL << (fault_signals[i] - 1);
		bits |= 1ULL << (EXEC_KICK_SIGNAL - 1);
		/* A blocked SIGSYS of Syscall User Dispatch would kill the process (the kernel forces it). */
		bits |= 1ULL << (SIGSYS - 1);
		atomic_store_explicit(&own, bits, memory_order_relaxed);
	}
	return bits;
}

void exec_unblock_own(sigset_t *set)
{
	unsigned long *w = (unsigned long *)(void *)set;
	w[0] &= ~(unsigned long)exec_own_bits();
}

void exec_uc_mask_get(const ucontext_t *uc, sigset_t *set)
{
	/* sigemptyset, without the call: the words past the kernel's are zero. */
	memset(set, 0, sizeof(*set));
	memcpy(set, &uc->uc_sigmask, EXEC_KERNEL_SIGSET_SIZE);
}

void exec_uc_mask_set(ucontext_t *uc, const sigset_t *set)
{
	memcpy(&uc->uc_sigmask, set, EXEC_KERNEL_SIGSET_SIZE);
}
