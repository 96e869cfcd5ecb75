/* SPDX-License-Identifier: MIT */
/*
 * The program's own handlers for the signals exec takes (SIGILL, SIGSEGV,
 * SIGBUS, SIGFPE, SIGTRAP, exec's kick signal, SIGSYS); every other
 * signal's action goes through exec_sigaction, which keeps exec in front of
 * the program's handlers so that signals interrupt enclave code as on Linux.
 *
 * exec chains every signal that is not about enclave code to the handler
 * it replaced.  Right before the emulator starts, this library installs
 * its dispatcher for those signals and keeps the program's actions in a
 * table, so the handler exec replaces (and chains to) is the dispatcher.
 * From then on sigaction()/signal() of the program read and write the
 * table, never the real action: exec stays in front, the program's faults
 * still reach the program's handler, with its sa_mask, SA_NODEFER,
 * SA_RESETHAND and SA_SIGINFO applied (exec_run_action), and the
 * emulator's never do.  Before
 * the start (and in a program that never opens the device) nothing is
 * intercepted.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "exec_int.h"
#include "preload.h"

#define NSIGS 65

/* The signals exec may take (SIGRTMAX is not a constant in glibc). */
#define N_CANDIDATES 7
static int candidate(size_t i)
{
	static const int fixed[N_CANDIDATES - 1] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP, SIGSYS};
	return i < N_CANDIDATES - 1 ? fixed[i] : EXEC_KICK_SIGNAL;
}

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction prog[NSIGS]; /* the program's view of the action */
static volatile bool owned[NSIGS];   /* prog[sig] is the program's action, not the real one */

static void dispatch(int sig, siginfo_t *si, void *ucv);

void preload_signals_after_fork(void)
{
	pthread_mutex_init(&sig_lock, NULL);
}

static bool is_fault_code(const siginfo_t *si)
{
	return si->si_code > 0;
}

/* A host access to an enclave page faults here; hardware would give the abort page. */
static void note_host_access(int sig, const siginfo_t *si, const ucontext_t *uc)
{
	static int once;
	if ((sig != SIGSEGV && sig != SIGBUS) || !is_fault_code(si) || preload_detached)
		return;
	if (!preload_mm_enclave((uintptr_t)si->si_addr, 1))
		return;
	preload_msg_once(&once,
			 "host code at %p accessed enclave memory at %p: on hardware a read gives all ones and a "
			 "write is dropped (the abort page), here the access faults (not modelled)",
			 (void *)(uintptr_t)uc->uc_mcontext.gregs[REG_RIP], si->si_addr);
}

static void dispatch(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int saved_errno = errno;
	if (sig == SIGSEGV && preload_cpuid_faulting && preload_cpuid_trap(uc)) {
		errno = saved_errno;
		return;
	}
	note_host_access(sig, si, uc);
	if (exec_run_action(sig, si, uc, &prog[sig]) == EXEC_RAN_DEFAULT)
		owned[sig] = false; /* SIG_DFL is the real action now */
	errno = saved_errno;
}

void preload_signals_take(void)
{
	pthread_mutex_lock(&sig_lock);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = dispatch;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < N_CANDIDATES; i++) {
		int sig = candidate(i);
		if (owned[sig])
			continue;
		if (REAL(sigaction)(sig, NULL, &prog[sig]) != 0)
			continue;
		if (REAL(sigaction)(sig, &sa, NULL) == 0)
			owned[sig] = true;
	}
	pthread_mutex_unlock(&sig_lock);
}

void preload_signals_settle(void)
{
	pthread_mutex_lock(&sig_lock);
	for (size_t i = 0; i < N_CANDIDATES; i++) {
		int sig = candidate(i);
		struct sigaction cur;
		if (!owned[sig] || REAL(sigaction)(sig, NULL, &cur) != 0)
			continue;
		bool ours = (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == dispatch;
		if (!ours || (sig == SIGSEGV && preload_cpuid_faulting))
			continue;
		/* exec did not take it: the program's action goes back in place. */
		REAL(sigaction)(sig, &prog[sig], NULL);
		owned[sig] = false;
	}
	pthread_mutex_unlock(&sig_lock);
}

static int sigaction_common(int sig, const struct sigaction *act, struct sigaction *old, bool self)
{
	if (self || sig <= 0 || sig >= NSIGS)
		return REAL(sigaction)(sig, act, old);
	pthread_mutex_lock(&sig_lock);
	if (!owned[sig]) {
		pthread_mutex_unlock(&sig_lock);
		/* Once exec runs it stands in front of every handled signal (interrupts of enclave code). */
		int r = exec_sigaction(sig, act, old);
		if (r < 0) {
			errno = -r;
			return -1;
		}
		return 0;
	}
	if (old)
		*old = prog[sig];
	if (act)
		prog[sig] = *act;
	pthread_mutex_unlock(&sig_lock);
	return 0;
}

int sigaction(int sig, const struct sigaction *restrict act, struct sigaction *restrict old)
{
	return sigaction_common(sig, act, old, SELF_CALL());
}

int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return sigaction_common(sig, act, old, SELF_CALL());
}

/* signal() and its variants, through sigaction_common with glibc's flags. */
static sighandler_t signal_common(int sig, sighandler_t h, int flags, bool mask_self)
{
	if (h == SIG_ERR || sig <= 0 || sig >= NSIGS) {
		errno = EINVAL;
		return SIG_ERR;
	}
	struct sigaction a, old;
	memset(&a, 0, sizeof(a));
	a.sa_handler = h;
	a.sa_flags = flags;
	sigemptyset(&a.sa_mask);
	if (mask_self)
		sigaddset(&a.sa_mask, sig);
	if (sigaction_common(sig, &a, &old, false) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

sighandler_t signal(int sig, sighandler_t h)
{
	return signal_common(sig, h, SA_RESTART, true);
}

sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return signal_common(sig, h, SA_RESTART, true);
}

sighandler_t sysv_signal(int sig, sighandler_t h)
{
	return signal_common(sig, h, SA_RESETHAND | SA_NODEFER, false);
}

sighandler_t __sysv_signal(int sig, sighandler_t h);
sighandler_t __sysv_signal(int sig, sighandler_t h)
{
	return signal_common(sig, h, SA_RESETHAND | SA_NODEFER, false);
}
