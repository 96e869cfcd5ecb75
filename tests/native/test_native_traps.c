/* SPDX-License-Identifier: MIT */
/*
 * How many host traps an EDMM step costs (docs/exec.md "One trap per
 * fault").  An EACCEPT whose page is missing faults; the driver EAUGs the
 * page, and the ENCLU runs again in the same signal rather than after
 * ERESUME returned to it and it trapped a second time.  Traps are counted
 * by exec (exec_get_stats): an ECALL EACCEPTing N pages the driver adds on
 * the fault costs N traps more than one EACCEPTing N pages AUGMENT_PAGES
 * added beforehand.  With SGXEMU_EXEC_NO_SHORT_PATH it costs 2N, which is
 * what the count would be without the short path.
 *
 * The host's EENTER does not trap at all (direct.S): an ECALL costs one
 * trap, its EEXIT; with SGXEMU_EXEC_NO_DIRECT, two.  The entry without the
 * trap leaves the caller's signal mask as it was.
 */
#include <signal.h>
#include <stdlib.h>

#include "exec.h"
#include "native.h"

#define N 16

/* Host traps of one ECALL that EACCEPTs n pages from page, all PENDING RW. */
static uint64_t traps_of_eaccepts(uint64_t page, uint64_t n)
{
	struct exec_stats a, b;
	exec_get_stats(&a);
	native_op(0, OP_EACCEPT_N, page, n, SI_PENDING_RW);
	exec_get_stats(&b);
	cr_assert_eq(nout[0][0], n, "every EACCEPT succeeded (%llu of %llu, SGX code %llu)",
		     (unsigned long long)nout[0][0], (unsigned long long)n, (unsigned long long)nout[0][1]);
	return b.traps - a.traps;
}

/* Host traps of one ECALL that does nothing. */
static uint64_t traps_of_echo(void)
{
	struct exec_stats a, b;
	exec_get_stats(&a);
	native_op(0, OP_ECHO, 1, 2, 3);
	exec_get_stats(&b);
	return b.traps - a.traps;
}

/*
 * The traps of N EACCEPTs of pages the driver adds on the fault, besides
 * the ECALL's own.  (AUGMENT_PAGES inserts no PTE either, so its pages
 * fault the same way: the page that is absent altogether is the case.)
 */
static uint64_t traps_per_eaccepts(void)
{
	/* Warm up: the thread's state exists and the code and data pages are in. */
	native_accept_rw(0, devos_dyn(0));
	uint64_t echo = traps_of_echo();
	uint64_t faulted = traps_of_eaccepts(devos_dyn(8), N);
	cr_assert_geq(faulted, echo, "an ECALL with EACCEPTs traps more (%llu, %llu)", (unsigned long long)faulted,
		      (unsigned long long)echo);
	return faulted - echo;
}

TestSuite(traps, .init = native_setup, .fini = native_teardown, .timeout = 60);

Test(traps, an_eaccept_the_driver_fixes_costs_one_trap)
{
	struct exec_stats before, after;
	exec_get_stats(&before);
	uint64_t extra = traps_per_eaccepts();
	exec_get_stats(&after);
	cr_assert_eq(extra, N, "one trap per EACCEPT whose page is added on its fault (%llu for %d)",
		     (unsigned long long)extra, N);
	cr_assert_geq(after.short_paths - before.short_paths, N, "each fixed EACCEPT ran again in its signal");
	/* The pages hold what the enclave writes: the short path resumed the right context. */
	for (unsigned i = 0; i < N; i++) {
		native_write(0, devos_dyn(8 + i) + 8 * i, 0x5150 + i);
		cr_assert_eq(native_read(0, devos_dyn(8 + i) + 8 * i), 0x5150 + i);
	}
}

static void setup_no_short_path(void)
{
	setenv("SGXEMU_EXEC_NO_SHORT_PATH", "1", 1);
	native_setup();
}

TestSuite(traps_no_short_path, .init = setup_no_short_path, .fini = native_teardown, .timeout = 60);

Test(traps_no_short_path, a_fixed_eaccept_traps_twice)
{
	uint64_t extra = traps_per_eaccepts();
	cr_assert_eq(extra, 2 * N, "each EACCEPT traps, faults, and traps again after ERESUME (%llu for %d)",
		     (unsigned long long)extra, N);
}

Test(traps, an_ecall_traps_once_at_its_eexit)
{
	native_op(0, OP_ECHO, 1, 2, 3); /* the thread's first entry traps: exec learns the host's frames */
	struct exec_stats a, b;
	exec_get_stats(&a);
	uint64_t t = traps_of_echo();
	exec_get_stats(&b);
	cr_assert_eq(t, 1, "EENTER without a trap, EEXIT with one (%llu traps)", (unsigned long long)t);
	cr_assert_eq(b.direct_entries - a.direct_entries, 1, "the entry went the direct way");
}

Test(traps, the_direct_entry_keeps_the_callers_signal_mask)
{
	native_op(0, OP_ECHO, 1, 2, 3);
	sigset_t set, before, after;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGWINCH);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &set, &before), 0);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);
	for (unsigned i = 0; i < 100; i++)
		native_op(0, OP_ECHO, i, 2, 3);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
	for (int sig = 1; sig < NSIG; sig++)
		cr_assert_eq(sigismember(&after, sig), sigismember(&before, sig), "signal %d", sig);
	cr_assert(sigismember(&after, SIGUSR2) && !sigismember(&after, SIGUSR1));
}

static void setup_no_direct(void)
{
	setenv("SGXEMU_EXEC_NO_DIRECT", "1", 1);
	native_setup();
}

TestSuite(traps_no_direct, .init = setup_no_direct, .fini = native_teardown, .timeout = 60);

/* Without direct entries: EENTER traps as EEXIT does, and nothing goes the direct way. */
static void assert_ecall_traps_twice(void)
{
	native_op(0, OP_ECHO, 1, 2, 3);
	struct exec_stats a, b;
	exec_get_stats(&a);
	uint64_t t = traps_of_echo();
	exec_get_stats(&b);
	cr_assert_eq(t, 2, "EENTER and EEXIT trap (%llu traps)", (unsigned long long)t);
	cr_assert_eq(b.direct_entries, a.direct_entries);
	cr_assert_eq(b.direct_loads, a.direct_loads);
}

Test(traps_no_direct, an_ecall_traps_at_eenter_and_eexit)
{
	assert_ecall_traps_twice();
}

/* A thread with a user shadow stack (CET): no frame is built by hand, every entry traps. */
static void setup_shadow_stack(void)
{
	setenv("SGXEMU_EXEC_SHADOW_STACK", "1", 1);
	native_setup();
}

TestSuite(traps_shadow_stack, .init = setup_shadow_stack, .fini = native_teardown, .timeout = 60);

Test(traps_shadow_stack, an_ecall_traps_at_eenter_and_eexit)
{
	assert_ecall_traps_twice();
}
