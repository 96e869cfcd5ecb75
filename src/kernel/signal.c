/* SPDX-License-Identifier: MIT */
/*
 * Signals during a system call (spec/linux-driver.md: -ERESTARTSYS shows as
 * EINTR, or the call is restarted when the handler has SA_RESTART).
 *
 * In Linux a signal that arrives while an ioctl runs only marks the task
 * (signal_pending()); the long loops look at the mark and stop early, and
 * the handler runs on the way back to user space, after which the call
 * fails with EINTR or is restarted.  In user space a signal the thread has
 * not blocked runs its handler at once, in the middle of the model's ioctl.
 * So sys_call() blocks, while the call runs, the signals the caller has not
 * blocked; signal_pending() finds them with sigpending(); restoring the
 * caller's mask at the end delivers them, as the return to user space does.
 *
 * A signal the caller has blocked is not "pending" for Linux (it cannot
 * interrupt a call), nor is one the kernel discards on arrival (SIG_IGN,
 * or SIG_DFL of a signal whose default is to ignore).  The synchronous
 * signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) stay unblocked:
 * the model raises none of them, and blocked they would kill the process.
 */
#include <signal.h>
#include <stdbool.h>

#include "internal.h"

static _Thread_local struct {
	bool active;	 /* inside sys_call */
	sigset_t caller; /* the caller's signal mask */
} sys;

static const int sync_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};

/* Does the kernel drop sig on arrival (sig_ignored): never queued, never interrupting? */
static bool sig_discarded(int sig, const struct sigaction *sa)
{
	if (sa->sa_handler == SIG_IGN)
		return true;
	if (sa->sa_handler != SIG_DFL)
		return false;
	return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

/*
 * Scan the signals pending for the caller.  Return: whether one would
 * interrupt a call; *restart (if non-NULL): false when one of them has a
 * handler without SA_RESTART (the call then fails with EINTR).
 */
static bool scan_pending(bool *restart)
{
	if (restart)
		*restart = true;
	sigset_t p;
	if (sigpending(&p) != 0)
		return false;
	bool any = false;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sigismember(&p, sig) != 1 || sigismember(&sys.caller, sig) == 1)
			continue;
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) != 0 || sig_discarded(sig, &sa))
			continue;
		any = true;
		if (!restart)
			break;
		if (sa.sa_handler != SIG_DFL && !(sa.sa_flags & SA_RESTART))
			*restart = false;
	}
	return any;
}

bool signal_pending(void)
{
	return sys.active && scan_pending(NULL);
}

long sys_call(long (*fn)(void *ctx), void *ctx)
{
	sigset_t hold;
	sigfillset(&hold);
	for (size_t i = 0; i < sizeof(sync_signals) / sizeof(sync_signals[0]); i++)
		sigdelset(&hold, sync_signals[i]);
	/* A call made from inside a call (a kick callback's ioctl) sees the outer caller's mask. */
	bool outer_active = sys.active;
	sigset_t outer_caller = sys.caller;
	for (;;) {
		sigset_t caller;
		pthread_sigmask(SIG_BLOCK, &hold, &caller);
		if (!outer_active)
			sys.caller = caller;
		sys.active = true;
		long ret = fn(ctx);
		bool restart = true;
		if (ret == -ERESTARTSYS)
			scan_pending(&restart);
		sys.active = outer_active;
		sys.caller = outer_caller;
		/* The return to user space: the held signals are delivered now. */
		pthread_sigmask(SIG_SETMASK, &caller, NULL);
		if (ret != -ERESTARTSYS)
			return ret;
		/* Inside an outer call the signal stays held: restarting would only stop again. */
		if (!restart || outer_active)
			return -EINTR;
	}
}
