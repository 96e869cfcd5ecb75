/* SPDX-License-Identifier: MIT */
/*
 * Instructions that enter the kernel.  Inside an enclave SYSCALL, SYSENTER
 * and INT n raise #UD; on the host they are system calls.  Syscall User
 * Dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH, Linux >= 5.11) makes the
 * kernel refuse them: with the thread's selector byte at
 * SYSCALL_DISPATCH_FILTER_BLOCK a system call is not executed (RAX gets its
 * number back) and SIGSYS is raised instead, at the instruction after it.
 *
 * The selector is in the thread's block (exec_int.h).  The signal
 * trampoline sets it to ALLOW before any C code runs (handlers run with the
 * selector as it is, and exec's handler makes system calls) and to BLOCK
 * right before it returns into enclave code, issuing that rt_sigreturn
 * itself from the one region whose system calls are always allowed
 * (glibc's restorer is outside it).  Host code therefore always runs with
 * ALLOW, enclave code with BLOCK.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "exec_int.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#ifndef PR_SYS_DISPATCH_OFF
#define PR_SYS_DISPATCH_OFF 0
#endif
#ifndef PR_SYS_DISPATCH_ON
#define PR_SYS_DISPATCH_ON 1
#endif

static pthread_mutex_t sud_lock = PTHREAD_MUTEX_INITIALIZER;
static int kernel_state = -1; /* the kernel's answer, probed once: 1 usable, 0 not */
static char kernel_why[160];
static bool enabled; /* chosen at install: threads turn it on at their first entry */

static long sud_on(volatile uint8_t *selector)
{
	uintptr_t start = (uintptr_t)exec_sud_allow_start;
	return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, start, (uintptr_t)exec_sud_allow_end - start,
		     selector);
}

/* Can this thread use Syscall User Dispatch?  Turned on and off again (the kernel checks everything at ON). */
static void kernel_probe(void)
{
	static volatile uint8_t selector = EXEC_SUD_ALLOW;
	if (sud_on(&selector) != 0) {
		int e = errno;
		if (e == EINVAL)
			snprintf(kernel_why, sizeof(kernel_why),
				 "the kernel has no Syscall User Dispatch (Linux >= 5.11): prctl: %s", strerror(e));
		else
			snprintf(kernel_why, sizeof(kernel_why), "prctl(PR_SET_SYSCALL_USER_DISPATCH) refused: %s",
				 strerror(e));
		kernel_state = 0;
		return;
	}
	prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0UL, 0UL, 0UL);
	/* The probing thread may be one that uses it already (a later install): turn it on again. */
	struct exec_thread *self = exec_thread_lookup();
	if (self && self->sud_on)
		sud_on(&self->sud_selector);
	snprintf(kernel_why, sizeof(kernel_why), "Syscall User Dispatch available");
	kernel_state = 1;
}

bool exec_sud_probe(char *why, size_t len)
{
	if (getenv("SGXEMU_EXEC_NO_SUD")) {
		snprintf(why, len, "Syscall User Dispatch disabled by SGXEMU_EXEC_NO_SUD");
		return false;
	}
	if (exec_under_valgrind()) {
		/* Valgrind's own system calls come from its code, outside the allowed region: SIGSYS would kill it. */
		snprintf(why, len, "Syscall User Dispatch disabled under valgrind");
		return false;
	}
	pthread_mutex_lock(&sud_lock);
	if (kernel_state < 0)
		kernel_probe();
	bool ok = kernel_state == 1;
	snprintf(why, len, "%s", kernel_why);
	pthread_mutex_unlock(&sud_lock);
	return ok;
}

bool exec_sud_setup(char *why, size_t len)
{
	enabled = exec_sud_probe(why, len);
	return enabled;
}

void exec_sud_thread_start(struct exec_thread *self)
{
	self->sud_selector = EXEC_SUD_ALLOW;
	self->sud_on = enabled && sud_on(&self->sud_selector) == 0;
}

void exec_sud_thread_stop(struct exec_thread *self)
{
	/* Before the block goes: the kernel reads the selector at every system call. */
	if (self->sud_on)
		prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0UL, 0UL, 0UL);
	self->sud_on = false;
}

/* Enclave code's bytes at [a, a + n), read through the page tables as fetched. */
static bool fetch(struct hw_thread *t, uint64_t a, uint8_t *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t pa;
		if (!hw_is_ok(hw_access_check(t, a + i, HW_ACC_X, &pa)))
			return false;
		b[i] = *(const volatile uint8_t *)(uintptr_t)pa;
	}
	return true;
}

struct hw_event exec_sud_event(struct exec_thread *self, const siginfo_t *si)
{
	(void)si;
	struct hw_thread *t = &self->t;
	/*
	 * The context is after the instruction (SYSCALL 0F 05, SYSENTER 0F 34
	 * and INT 0x80 CD 80 are two bytes); the #UD is at the instruction.
	 * SYSENTER's return address is not known to the kernel (RIP is its
	 * landing pad then): the event keeps the context's RIP.
	 */
	uint8_t b[2];
	if (t->regs.rip >= 2 && fetch(t, t->regs.rip - 2, b, 2) &&
	    ((b[0] == 0x0F && (b[1] == 0x05 || b[1] == 0x34)) || (b[0] == 0xCD && b[1] == 0x80)))
		t->regs.rip -= 2;
	return (struct hw_event){.vector = X86_UD};
}

bool exec_int_n_at(struct hw_thread *t, uint64_t rip)
{
	uint8_t b[2];
	return fetch(t, rip, b, 2) && b[0] == 0xCD && b[1] != 3;
}

/* Legacy prefixes CPUID may carry (segment overrides, operand and address size, REP): LOCK makes it #UD. */
static bool legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0x26:
	case 0x2E:
	case 0x36:
	case 0x3E:
	case 0x64:
	case 0x65:
	case 0x66:
	case 0x67:
	case 0xF2:
	case 0xF3:
		return true;
	default:
		return false;
	}
}

#define INSN_MAX 15 /* the longest x86 instruction */

bool exec_cpuid_at(struct hw_thread *t, uint64_t rip)
{
	uint8_t b;
	unsigned n = 0;
	/* Prefixes, then at most one REX right before the opcode. */
	while (n < INSN_MAX - 2 && fetch(t, rip + n, &b, 1) && legacy_prefix(b))
		n++;
	if (n < INSN_MAX - 2 && fetch(t, rip + n, &b, 1) && (b & 0xF0) == 0x40)
		n++;
	uint8_t op[2];
	return n <= INSN_MAX - 2 && fetch(t, rip + n, op, 2) && op[0] == 0x0F && op[1] == 0xA2;
}
