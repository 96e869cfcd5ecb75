/* SPDX-License-Identifier: MIT */
/*
 * Entries without any rt_sigreturn (docs/exec.md "Entries without the
 * host's trap", "Open handlers"): sgxemu_enter_enclave's EENTER runs in the model with every
 * signal blocked, and exec_direct_load takes the thread into the enclave
 * with one rt_sigprocmask and a jump (the thread's jump pad, or IRETQ).  A
 * signal that becomes deliverable at that rt_sigprocmask, or arrives before
 * the jump, must find the
 * enclave at its first instruction, exactly as with rt_sigreturn: the
 * thread AEXes, the program's handler runs at the AEP with the host's FS,
 * and ERESUME continues the call.
 *
 * The signal is made pending deterministically: the test OS's translation
 * hook sends it to the thread while exec performs the EENTER (signals are
 * blocked then), so the kernel delivers it the moment exec_direct_load
 * unblocks them.  A trap of enclave code whose context goes back into the
 * enclave (an EMODPE) ends the same way.  SGXEMU_EXEC_NO_DIRECT_LOAD runs the same cases through
 * rt_sigreturn, the path the window must behave like.  exec_direct_load
 * needs the FSGSBASE instructions; where the host lacks them, entries take
 * the rt_sigreturn path and the counts below say so.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "cpu.h"
#include "exec_int.h"
#include "testos.h"

static __thread uint64_t tls_word = 0xD1EC7;
/* Set by a test: the handler calls it (an ECALL from a handler that runs at the AEP, on exec's signal stack). */
static void (*nested_call)(void);

struct seen {
	_Atomic unsigned count;
	uint64_t rip, rax, rbx, rcx, tls;
	int code, pid;
	void *value;
};
static struct seen seen;
static _Atomic int armed_tid;

static void handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	const greg_t *g = ((const ucontext_t *)ucv)->uc_mcontext.gregs;
	seen.rip = (uint64_t)g[REG_RIP];
	seen.rax = (uint64_t)g[REG_RAX];
	seen.rbx = (uint64_t)g[REG_RBX];
	seen.rcx = (uint64_t)g[REG_RCX];
	seen.tls = tls_word;
	seen.code = si->si_code;
	seen.pid = si->si_pid;
	seen.value = si->si_value.sival_ptr;
	seen.count++;
	if (nested_call)
		nested_call();
}

/*
 * The test OS's hook: counts translations of enclave addresses; the one
 * numbered fire_at after arming (1: the first) sends SIGUSR1 to the armed
 * thread, which is the thread translating.
 */
static _Atomic unsigned translations, fire_at = 1;
/* Non-zero: the hook queues SIGUSR1 with this value (rt_tgsigqueueinfo, SI_QUEUE) instead of tgkill. */
static void *queue_value;

static void send_once(void)
{
	unsigned n = ++translations;
	if (n < fire_at)
		return;
	int tid = atomic_exchange(&armed_tid, 0);
	if (!tid)
		return;
	if (!queue_value) {
		syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
		return;
	}
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	info.si_signo = SIGUSR1;
	info.si_code = SI_QUEUE;
	info.si_pid = getpid();
	info.si_uid = getuid();
	info.si_value.sival_ptr = queue_value;
	syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGUSR1, &info);
}

static void setup(void)
{
	/* Before exec is installed: exec takes the program's actions over and runs them at the AEP. */
	tos_sigaction(SIGUSR1, handler);
	memset(&seen, 0, sizeof(seen));
	tos_setup();
	tos_hook_translations(send_once);
}

static void setup_no_load(void)
{
	setenv("SGXEMU_EXEC_NO_DIRECT_LOAD", "1", 1);
	setup();
}

static void setup_no_pad(void)
{
	setenv("SGXEMU_EXEC_NO_JUMP_PAD", "1", 1);
	setup();
}

static void teardown(void)
{
	tos_hook_translations(NULL);
	queue_value = NULL;
	nested_call = NULL;
	tos_teardown();
	signal(SIGUSR1, SIG_DFL);
}

static void echo(unsigned i, uint64_t a)
{
	uint64_t out[4] = {0};
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(i, OP_ECHO, a, 2, 0xC0FFEE, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT, "the call ended with leaf %u (vector %u, error %#x, address %#llx)",
		     run.function, run.exception_vector, run.exception_error_code,
		     (unsigned long long)run.exception_addr);
	cr_assert_eq(out[0], a + 2);
	cr_assert_eq(out[1], 0, "entered with CSSA 0");
	cr_assert_eq(out[2], 0xC0FFEE, "R8 reached the enclave");
}

/* An ECALL whose EENTER makes SIGUSR1 pending; the handler must see it from the enclave, at the AEP. */
static void ecall_with_pending_signal(void)
{
	echo(0, 1); /* the thread's first entry traps: exec learns the host's frames */
	seen.count = 0;
	atomic_store(&armed_tid, (int)syscall(SYS_gettid));
	echo(0, 40);
	cr_assert_eq(atomic_load(&armed_tid), 0, "the EENTER translated an enclave address and sent the signal");
	cr_assert_eq(seen.count, 1, "the handler ran once (%u)", seen.count);
	/* At the AEP after an AEX: RAX = ERESUME, RBX = TCS, RCX = RIP = AEP; FS the host's. */
	cr_assert_eq(seen.rax, ENCLU_ERESUME, "RAX %#llx", (unsigned long long)seen.rax);
	cr_assert_eq(seen.rbx, tos_tcs(0));
	cr_assert_eq(seen.rcx, seen.rip, "RCX = RIP = the AEP");
	cr_assert_eq(seen.tls, 0xD1EC7, "the handler ran on the host's FS");
	cr_assert_eq(tos_cssa(0), 0, "ERESUME took the frame back");
}

TestSuite(direct, .init = setup, .fini = teardown, .timeout = 15);

/*
 * The last translation of an ECALL is in its EEXIT (the ENCLU's bytes read
 * through the page tables): a signal sent there is delivered when the
 * context goes back to host code, and the handler must find it just after
 * EEXIT: RIP = RBX = the target, RAX = EEXIT, the host's FS.
 */
/* An ECALL with SIGUSR1 sent at its last translation, in the EEXIT; the handler must find the host after it. */
static void exit_with_pending_signal(void)
{
	echo(0, 1);
	translations = 0;
	fire_at = 1000000;
	echo(0, 2);
	unsigned per_call = translations;
	cr_assert_gt(per_call, 1);
	seen.count = 0;
	translations = 0;
	fire_at = per_call;
	atomic_store(&armed_tid, (int)syscall(SYS_gettid));
	echo(0, 3);
	fire_at = 1;
	cr_assert_eq(atomic_load(&armed_tid), 0, "sent");
	cr_assert_eq(seen.count, 1);
	cr_assert_eq(seen.rax, ENCLU_EEXIT, "RAX %#llx", (unsigned long long)seen.rax);
	cr_assert_eq(seen.rip, seen.rbx, "RIP %#llx = RBX %#llx, EEXIT's target", (unsigned long long)seen.rip,
		     (unsigned long long)seen.rbx);
	cr_assert_eq(seen.tls, 0xD1EC7);
}

Test(direct, a_signal_pending_at_the_exit_finds_the_host_after_eexit)
{
	struct exec_stats a, b;
	exec_get_stats(&a);
	exit_with_pending_signal();
	exec_get_stats(&b);
	/* Two ECALLs before it, each with an exit that way (FS/GS stay the host's: no FSGSBASE needed). */
	cr_assert_eq(b.host_loads - a.host_loads, 3, "the exits went by exec_direct_load_host");
	cr_assert_eq(b.direct_rolled - a.direct_rolled, 1, "the signal came in its window");
}

Test(direct, an_ecall_enters_without_rt_sigreturn)
{
	echo(0, 1);
	struct exec_stats a, b;
	exec_get_stats(&a);
	for (unsigned i = 0; i < 10; i++)
		echo(0, i);
	exec_get_stats(&b);
	cr_assert_eq(b.direct_entries - a.direct_entries, 10);
	cr_assert_eq(b.direct_loads - a.direct_loads, exec_have_fsgsbase ? 10 : 0,
		     "every entry ended in exec_direct_load where the host has FSGSBASE");
	cr_assert_eq(b.direct_rolled, a.direct_rolled, "no signal arrived");
}

/*
 * state_call(xmm, ctl, c, out, run): OP_ENTRY_STATE on run->tcs with
 * XMM0..15 = xmm[0..31], MXCSR = ctl[0] and the x87 control word = ctl[1]
 * loaded right before sgxemu_call_enclave (no C code in between), the
 * caller's MXCSR and control word back after it.  The enclave stores what
 * its entry found to c[34].
 */
int state_call(const uint64_t *xmm, const uint32_t *ctl, uint64_t *c, uint64_t *out, struct sgx_enclave_run *run);
_Static_assert(ENCLU_EENTER == 2 && OP_ENTRY_STATE == 30, "state_call's leaf and operation");
__asm__(".text\n"
	".globl state_call\n"
	".type state_call, @function\n"
	"state_call:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	sub $16, %rsp\n"
	"	stmxcsr -4(%rbp)\n"
	"	fnstcw -8(%rbp)\n"
	"	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15\n"
	"	movdqu 16 * \\n(%rdi), %xmm\\n\n"
	"	.endr\n"
	"	ldmxcsr 0(%rsi)\n"
	"	fldcw 4(%rsi)\n"
	"	mov %rdx, %rax\n"
	"	mov %rcx, %r9\n"
	"	sub $8, %rsp\n"
	"	push %r8\n"
	"	mov %rax, %r8\n"
	"	mov $30, %edi\n" /* OP_ENTRY_STATE */
	"	xor %esi, %esi\n"
	"	xor %edx, %edx\n"
	"	mov $2, %ecx\n" /* ENCLU_EENTER */
	"	call sgxemu_call_enclave\n"
	"	ldmxcsr -4(%rbp)\n"
	"	fldcw -8(%rbp)\n"
	"	leave\n"
	"	ret\n"
	".size state_call, . - state_call\n");

/*
 * Bare entries (docs/exec.md): EENTER without XSAVE, the caller's extended
 * state kept in the registers across exec's code.  Every XMM register,
 * MXCSR (rounding and exception masks) and the x87 control word reach the
 * enclave as the caller set them, call after call with other values; and
 * the entries were bare wherever they can be (FSGSBASE, no protection
 * keys, SGXEMU_EXEC_NO_BARE unset).
 */
Test(direct, bare_entries_give_the_enclave_the_callers_extended_state)
{
	/* The suite's translation hook turns the test OS's TLB counter off, and with it bare entries. */
	tos_hook_translations(NULL);
	echo(0, 1); /* the first entry of the thread and of this enclave takes the usual way */
	struct exec_stats a, b;
	exec_get_stats(&a);
	const unsigned n = 40;
	for (unsigned i = 0; i < n; i++) {
		uint64_t xmm[32], c[34], out[ENCL_OUT_WORDS] = {0};
		for (unsigned q = 0; q < 32; q++)
			xmm[q] = 0x5A00000000000000ULL ^ ((uint64_t)i << 40) ^ ((uint64_t)q * 0x0101010101ULL);
		/* Rounding control cycles through its four values in both, with a few exceptions unmasked in MXCSR. */
		uint32_t ctl[2] = {0x1F80u ^ ((i & 3u) << 13) ^ ((i & 4u) ? 0x0200u : 0), 0x037Fu ^ ((i & 3u) << 10)};
		memset(c, 0, sizeof(c));
		struct sgx_enclave_run run;
		memset(&run, 0, sizeof(run));
		run.tcs = tos_tcs(0);
		cr_assert_eq(state_call(xmm, ctl, c, out, &run), 0);
		cr_assert_eq(run.function, ENCLU_EEXIT, "call %u ended with leaf %u", i, run.function);
		cr_assert_eq(out[0], 1);
		for (unsigned q = 0; q < 32; q++)
			cr_assert_eq(c[q], xmm[q], "call %u: XMM%u quadword %u: %#llx, the caller's %#llx", i, q / 2,
				     q % 2, (unsigned long long)c[q], (unsigned long long)xmm[q]);
		cr_assert_eq((uint32_t)c[32], ctl[0], "call %u: MXCSR %#x, the caller's %#x", i, (unsigned)c[32],
			     ctl[0]);
		cr_assert_eq((uint16_t)c[33], (uint16_t)ctl[1], "call %u: FCW %#x, the caller's %#x", i,
			     (unsigned)(uint16_t)c[33], ctl[1]);
	}
	exec_get_stats(&b);
	bool can = exec_have_fsgsbase && exec_bare_allowed && !exec_pkey_mask() && !exec_direct_no_load;
	cr_assert_eq(b.direct_entries - a.direct_entries, n);
	cr_assert_eq(b.bare_entries - a.bare_entries, can ? n : 0, "%llu of %u entries bare (they can be: %d)",
		     (unsigned long long)(b.bare_entries - a.bare_entries), n, can);
	cr_assert_eq(b.direct_loads - a.direct_loads, exec_have_fsgsbase ? n : 0);
}

static void *echo_on_tcs_1(void *arg)
{
	(void)arg;
	echo(1, 7);
	return NULL;
}

/*
 * A thread's ELRANGE cache, and with it its bare entries, holds for the
 * install of exec it was made in: EIDs are unique within one machine only,
 * and another install may bring another machine at the same address.  After
 * exec_uninstall and exec_install (the same OS here), another thread's entry
 * lets exec learn the host's frames again; this thread's first entry then
 * goes the direct way but not bare, and the next ones are bare again.
 */
Test(direct, a_new_install_takes_the_usual_way_first)
{
	tos_hook_translations(NULL);
	echo(0, 1);
	echo(0, 2);
	bool can = exec_have_fsgsbase && exec_bare_allowed && !exec_pkey_mask() && !exec_direct_no_load;
	cr_assert_eq(exec_uninstall(), 0);
	cr_assert_eq(exec_install(&tos.os), 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, echo_on_tcs_1, NULL), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	struct exec_stats a, b, c;
	exec_get_stats(&a);
	echo(0, 3);
	exec_get_stats(&b);
	echo(0, 4);
	echo(0, 5);
	exec_get_stats(&c);
	cr_assert_eq(b.direct_entries - a.direct_entries, 1);
	cr_assert_eq(b.bare_entries - a.bare_entries, 0, "the first entry after the install was bare");
	cr_assert_eq(c.bare_entries - b.bare_entries, can ? 2 : 0);
}

Test(direct, the_enclave_gets_its_fs_and_gs)
{
	echo(1, 1);
	uint64_t out[4] = {0};
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(1, OP_SEGMENTS, 0, 0, 0, out, &run), 0);
	uint64_t td = tos_lin(ENCL_SLOT(1) + ENCL_SLOT_TD);
	cr_assert_eq(out[0], td, "%%fs:0 = %#llx", (unsigned long long)out[0]);
	cr_assert_eq(out[1], td, "%%gs:0 = %#llx", (unsigned long long)out[1]);
	cr_assert_eq(tls_word, 0xD1EC7, "the host's FS is back after EEXIT");
}

Test(direct, a_signal_pending_at_the_load_interrupts_the_enclave_at_its_entry)
{
	struct exec_stats a, b;
	exec_get_stats(&a);
	ecall_with_pending_signal();
	exec_get_stats(&b);
	cr_assert_eq(b.direct_rolled - a.direct_rolled, exec_have_fsgsbase ? 1 : 0,
		     "the signal arrived in the load's window");
}

/*
 * The same with the caller blocking the signals an ENCLU can raise: the
 * handler runs at the AEP with the caller's mask, and the AEP's
 * ENCLU[ERESUME] must not trap with them blocked (the kernel would kill the
 * process); hardware just executes it.
 */
Test(direct, the_aeps_eresume_works_when_the_caller_blocks_the_trap_signals)
{
	sigset_t traps, before, after;
	sigemptyset(&traps);
	sigaddset(&traps, SIGSEGV);
	sigaddset(&traps, SIGILL);
	sigaddset(&traps, SIGBUS);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &traps, NULL), 0);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);
	struct exec_stats a, b;
	exec_get_stats(&a);
	ecall_with_pending_signal();
	exec_get_stats(&b);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
	cr_assert_eq(pthread_sigmask(SIG_UNBLOCK, &traps, NULL), 0);
	for (int sig = 1; sig < NSIG; sig++)
		cr_assert_eq(sigismember(&after, sig), sigismember(&before, sig), "signal %d", sig);
	/* The first ECALL traps (the thread's first); the second and the ERESUME after the handler go the direct way.
	 */
	cr_assert_eq(b.direct_entries - a.direct_entries, 2, "%llu direct entries",
		     (unsigned long long)(b.direct_entries - a.direct_entries));
}

/* 0 if the calling thread's mask is before, else 100 + the first signal it differs in. */
static uintptr_t mask_differs(const sigset_t *before)
{
	sigset_t now;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&now, sig) != sigismember(before, sig))
			return (uintptr_t)(100 + sig);
	return 0;
}

/* Run fn on a thread of its own: it returns NULL, 1 (a call failed) or mask_differs's value. */
static void expect_thread_ok(void *(*fn)(void *))
{
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, fn, NULL), 0);
	void *r;
	pthread_join(th, &r);
	cr_assert_null(r, "%s %d", (uintptr_t)r == 1 ? "a call failed" : "the mask changed: signal",
		       (int)((uintptr_t)r > 100 ? (uintptr_t)r - 100 : 0));
}

/*
 * A thread that blocks every signal (a worker whose signals another thread
 * takes with sigwait) makes its first ECALLs: the first traps (the thread
 * has no block yet), with the trap's signal blocked by the caller; the
 * kernel would kill the process unless exec opens its own signals for that
 * trap.  The caller's mask is the same after each call.
 */
static void *all_blocked_caller(void *arg)
{
	(void)arg;
	sigset_t all, before;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_sigmask(SIG_BLOCK, NULL, &before);
	for (uint64_t n = 0; n < 5; n++) {
		uint64_t out[4] = {0};
		struct sgx_enclave_run run;
		if (tos_ecall(1, OP_ECHO, n, 2, 0xC0FFEE, out, &run) != 0 || run.function != ENCLU_EEXIT ||
		    out[0] != n + 2)
			return (void *)1;
		uintptr_t d = mask_differs(&before);
		if (d)
			return (void *)d;
	}
	return NULL;
}

Test(direct, a_thread_that_blocks_every_signal_makes_its_first_ecalls)
{
	tos_hook_translations(NULL);
	expect_thread_ok(all_blocked_caller);
}

/*
 * Where exec_direct_load ends the entry, the EENTER runs with signals open
 * and one that arrives meanwhile is put off: blocked and queued again, so
 * the kernel delivers it once the load opens the mask.  The program's
 * handler gets the signal as it was sent (code, sender, value) and only
 * once; the rt_sigreturn path blocks everything instead and puts nothing
 * off.
 */
Test(direct, a_signal_during_the_eenter_waits_and_keeps_its_siginfo)
{
	queue_value = (void *)(uintptr_t)0x5EED5;
	struct exec_stats a, b;
	exec_get_stats(&a);
	ecall_with_pending_signal();
	exec_get_stats(&b);
	bool open = exec_have_fsgsbase;
	cr_assert_eq(b.direct_deferred - a.direct_deferred, open ? 1 : 0, "put off once where the load is used (%llu)",
		     (unsigned long long)(b.direct_deferred - a.direct_deferred));
	cr_assert_eq(b.direct_lost, 0);
	cr_assert_eq(seen.code, SI_QUEUE, "si_code %d", seen.code);
	cr_assert_eq(seen.pid, getpid());
	cr_assert_eq(seen.value, (void *)(uintptr_t)0x5EED5, "the value sent");
}

/* The host's mask after a call in which a signal was put off: the put-off signal open again, the rest kept. */
Test(direct, the_callers_mask_is_kept_when_a_signal_was_put_off)
{
	echo(0, 1);
	sigset_t set, before, after;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);
	seen.count = 0;
	atomic_store(&armed_tid, (int)syscall(SYS_gettid));
	echo(0, 7);
	cr_assert_eq(atomic_load(&armed_tid), 0, "the signal was sent during the call");
	cr_assert_eq(seen.count, 1);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
	for (int sig = 1; sig < NSIG; sig++)
		cr_assert_eq(sigismember(&after, sig), sigismember(&before, sig), "signal %d", sig);
	cr_assert_eq(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
}

/*
 * An EENTER that fails (the TCS operand is a regular page: an SGX #PF,
 * reported at the exception path) after a signal was put off: the entry continues as a
 * handler with every signal blocked and the signal is delivered to host
 * code once the frame's mask is back, once, on the host's FS.
 */
Test(direct, a_signal_put_off_by_an_eenter_that_fails_reaches_the_host)
{
	echo(0, 1);
	sigset_t before, after;
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);
	seen.count = 0;
	struct exec_stats a, b;
	exec_get_stats(&a);
	atomic_store(&armed_tid, (int)syscall(SYS_gettid));
	uint64_t out[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	memset(&run, 0, sizeof(run));
	run.tcs = tos_lin(ENCL_SLOT(0) + ENCL_SLOT_TD);
	cr_assert_eq(sgxemu_call_enclave(OP_ECHO, 1, 2, ENCLU_EENTER, 0, (unsigned long)out, &run), 0);
	exec_get_stats(&b);
	cr_assert_eq(run.function, ENCLU_EENTER);
	cr_assert_eq(run.exception_vector, X86_PF, "vector %u", run.exception_vector);
	cr_assert_eq(out[0], 0, "the enclave never ran");
	cr_assert_eq(atomic_load(&armed_tid), 0, "the EENTER translated its TCS operand and sent the signal");
	cr_assert_eq(b.direct_deferred - a.direct_deferred, exec_have_fsgsbase ? 1 : 0);
	cr_assert_eq(seen.count, 1, "the handler ran once (%u)", seen.count);
	cr_assert_eq(seen.tls, 0xD1EC7, "on the host's FS");
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
	for (int sig = 1; sig < NSIG; sig++)
		cr_assert_eq(sigismember(&after, sig), sigismember(&before, sig), "signal %d", sig);
	echo(0, 3);
}

/*
 * A program handler that runs at the AEP runs on exec's signal stack, and
 * an ECALL from it (as Intel's SDK makes for an enclave's exception) enters
 * directly from that stack: its frame goes below everything the entry
 * saved there.
 */
static _Atomic unsigned nested_ok, nested_runs;

static void nested_echo(void)
{
	uint64_t out[4] = {0};
	struct sgx_enclave_run run;
	nested_runs++;
	if (tos_ecall(1, OP_ECHO, 77, 2, 0xC0FFEE, out, &run) == 0 && run.function == ENCLU_EEXIT && out[0] == 79 &&
	    out[2] == 0xC0FFEE)
		nested_ok++;
}

static void ecall_from_a_handler(void)
{
	echo(1, 1); /* TCS 1's thread state: this thread's, entered once */
	nested_call = nested_echo;
	nested_ok = nested_runs = 0;
	ecall_with_pending_signal();
	cr_assert_eq(nested_runs, 1);
	cr_assert_eq(nested_ok, 1, "the ECALL from the handler returned its result");
	echo(0, 5);
	echo(1, 6);
}

Test(direct, an_ecall_from_a_handler_at_the_aep_enters_from_the_signal_stack)
{
	struct exec_stats a, b;
	exec_get_stats(&a);
	ecall_from_a_handler();
	exec_get_stats(&b);
	cr_assert_geq(b.direct_entries - a.direct_entries, 4, "the calls entered directly (%llu)",
		      (unsigned long long)(b.direct_entries - a.direct_entries));
}

Test(direct, the_callers_signal_mask_is_kept)
{
	echo(0, 1);
	sigset_t set, before, after;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &set, &before), 0);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);
	for (unsigned i = 0; i < 50; i++)
		echo(0, i);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
	for (int sig = 1; sig < NSIG; sig++)
		cr_assert_eq(sigismember(&after, sig), sigismember(&before, sig), "signal %d", sig);
	cr_assert_eq(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
}

/*
 * A signal the entry's own rt_sigprocmask unblocks is delivered right
 * after it, before the entry's frame exists; its handler may make an
 * ECALL of its own, with the handler's mask.  The first entry must still
 * give its caller back the caller's mask, not the handler's.  SIGBUS: one
 * of exec's own signals, not the one ENCLU raises here (where entries
 * block every signal, the rt_sigreturn path, it arrives in the enclave and
 * its handler runs at the AEP instead; the caller's mask must come back
 * all the same).
 */
static _Atomic unsigned inner_calls;
static void ecall_in_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	uint64_t out[4] = {0};
	struct sgx_enclave_run run;
	if (tos_ecall(1, OP_ECHO, 5, 2, 0xC0FFEE, out, &run) == 0 && run.function == ENCLU_EEXIT && out[0] == 7)
		atomic_fetch_add(&inner_calls, 1);
}

/* SIGBUS's handler: ecall_in_handler, with SIGUSR2 in its sa_mask; the program's action before in *old. */
static void take_sigbus_with_an_ecall(struct sigaction *old)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = ecall_in_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	cr_assert_eq(exec_sigaction(SIGBUS, &sa, old), 0);
}

Test(direct, an_ecall_in_a_handler_the_entry_unblocked_leaves_the_callers_mask)
{
	echo(0, 1);
	echo(1, 1);
	struct sigaction old;
	take_sigbus_with_an_ecall(&old);
	/* SIGBUS pending and blocked: the entry's SIG_UNBLOCK of exec's own signals lets it in. */
	sigset_t bus, before, after;
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &bus, &before), 0);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);
	atomic_store(&inner_calls, 0);
	cr_assert_eq(syscall(SYS_tgkill, getpid(), (int)syscall(SYS_gettid), SIGBUS), 0);
	echo(0, 9);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
	cr_assert_eq(pthread_sigmask(SIG_UNBLOCK, &bus, NULL), 0);
	cr_assert_eq(exec_sigaction(SIGBUS, &old, NULL), 0);
	cr_assert_eq(atomic_load(&inner_calls), 1, "the handler ran once and its ECALL worked");
	for (int sig = 1; sig < NSIG; sig++)
		cr_assert_eq(sigismember(&after, sig), sigismember(&before, sig),
			     "signal %d: %d after the ECALL, %d before", sig, sigismember(&after, sig),
			     sigismember(&before, sig));
}

/*
 * The same window in a thread's first ECALL, whose ENCLU traps: the
 * signal the entry lets in runs a handler whose ECALL is that handler's
 * first too (it traps as well).  Each trap must give its own caller back
 * its own mask: the handler's ECALL the handler's, the first ECALL the
 * thread's (SIGBUS blocked).
 */
static void *first_ecall_with_a_signal(void *arg)
{
	(void)arg;
	/*
	 * A thread without a signal stack of its own (a sanitizer gives each
	 * thread one: a handler on another stack cannot make the thread's
	 * first ECALL, docs/exec.md "Limitations").
	 */
	stack_t none = {.ss_flags = SS_DISABLE};
	sigaltstack(&none, NULL);
	sigset_t bus, before;
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &bus, NULL);
	pthread_sigmask(SIG_BLOCK, NULL, &before);
	syscall(SYS_tgkill, getpid(), (int)syscall(SYS_gettid), SIGBUS);
	uint64_t out[4] = {0};
	struct sgx_enclave_run run;
	if (tos_ecall(0, OP_ECHO, 3, 2, 0xC0FFEE, out, &run) != 0 || run.function != ENCLU_EEXIT || out[0] != 5)
		return (void *)1;
	return (void *)mask_differs(&before);
}

Test(direct, a_handler_in_a_first_ecalls_window_makes_its_own_first_ecall)
{
	tos_hook_translations(NULL);
	struct sigaction old;
	take_sigbus_with_an_ecall(&old);
	atomic_store(&inner_calls, 0);
	expect_thread_ok(first_ecall_with_a_signal);
	cr_assert_eq(exec_sigaction(SIGBUS, &old, NULL), 0);
	cr_assert_eq(atomic_load(&inner_calls), 1, "the handler ran once and its ECALL worked");
}

/* n EMODPEs (no new permission) on TCS i's stack page: each traps and goes back into the enclave. */
static bool emodpe_n(unsigned i, uint64_t n)
{
	uint64_t out[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	uint64_t page = tos_lin(ENCL_SLOT(i) + ENCL_SLOT_STACK0);
	uint64_t flags = SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W;
	return tos_ecall(i, OP_EMODPE_N, page, flags, n, out, &run) == 0 && run.function == ENCLU_EEXIT && out[0] == n;
}

/*
 * After one ECALL, `ecalls` more and one ECALL of `emodpes` EMODPEs, the
 * stats around them in a and b; return: the loads of every kind among them
 * (direct entries, traps back into the enclave, exits to the host).
 */
static uint64_t loads_of(unsigned ecalls, unsigned emodpes, struct exec_stats *a, struct exec_stats *b)
{
	echo(0, 1);
	exec_get_stats(a);
	for (unsigned i = 0; i < ecalls; i++)
		echo(0, i);
	cr_assert(emodpe_n(0, emodpes));
	exec_get_stats(b);
	return (b->direct_loads - a->direct_loads) + (b->trap_loads - a->trap_loads) + (b->host_loads - a->host_loads);
}

/*
 * Open handlers (docs/exec.md "Open handlers"): the handler of an ENCLU's
 * trap keeps the interrupted context's mask, so that the load that ends it
 * sets none when the context goes back with that mask: an ECALL's EEXIT,
 * and with it the whole ECALL, makes one rt_sigprocmask (the entry's).  A
 * caller whose mask blocks one of exec's own signals gets it back at the
 * EEXIT, by the load's rt_sigprocmask.
 */
Test(direct, loads_set_no_mask_unless_it_changes)
{
	struct exec_stats a, b;
	uint64_t loads = loads_of(10, 5, &a, &b);
	cr_assert(exec_signal_open(SIGSEGV), "open handlers wherever loads end traps");
	/* 11 exits; where the host has FSGSBASE 11 entries and 5 EMODPEs too. */
	cr_assert_eq(loads, exec_have_fsgsbase ? 11 + 11 + 5 : 11);
	cr_assert_eq(b.mask_loads - a.mask_loads, 0, "%llu of %llu loads set the mask",
		     (unsigned long long)(b.mask_loads - a.mask_loads), (unsigned long long)loads);

	/* SIGSEGV blocked by the caller: the enclave runs with it open, the EEXIT's load blocks it again. */
	sigset_t segv, before, after;
	sigemptyset(&segv);
	sigaddset(&segv, SIGSEGV);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &segv, &before), 0);
	exec_get_stats(&a);
	for (unsigned i = 0; i < 3; i++)
		echo(0, i);
	exec_get_stats(&b);
	cr_assert_eq(pthread_sigmask(SIG_SETMASK, &before, &after), 0);
	cr_assert(sigismember(&after, SIGSEGV), "the caller's SIGSEGV is blocked again after the ECALLs");
	cr_assert_eq(b.mask_loads - a.mask_loads, 3, "each EEXIT's load set the caller's mask");
}

/*
 * A fault in exec's own handler (here in the test OS's translation hook,
 * which runs inside it) is a defect of exec's: the process ends with that
 * signal's default action from the faulting instruction, after a message,
 * instead of the fault being put off and raised again forever.
 */
static volatile int fault_armed;
static volatile int *volatile fault_at; /* a PROT_NONE page of the test's */

static void fault_in_hook(void)
{
	if (fault_armed) {
		fault_armed = 0;
		*fault_at = 1;
	}
}

Test(direct, a_fault_in_execs_handler_ends_the_process_with_its_signal)
{
	echo(0, 1);
	fault_at = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq((void *)fault_at, MAP_FAILED);
	int fd[2];
	cr_assert_eq(pipe(fd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fd[1], STDERR_FILENO);
		tos_hook_translations(fault_in_hook);
		fault_armed = 1;
		uint64_t out[4] = {0};
		struct sgx_enclave_run run;
		tos_ecall(0, OP_ECHO, 2, 2, 0, out, &run);
		_exit(0);
	}
	close(fd[1]);
	char text[512] = "";
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(text) - 1 && (n = read(fd[0], text + got, sizeof(text) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "the child ended with status %#x; stderr: %s",
		  status, text);
	/* The line where the fault finds signals open (the entry blocks them all without FSGSBASE: the kernel's
	 * default). */
	if (exec_have_fsgsbase && exec_signal_open(SIGSEGV))
		cr_assert(strstr(text, "a fault in exec's own signal handler"), "stderr: %s", text);
}

/*
 * A signal that arrives while the handler of an ENCLU's trap runs (sent by
 * the test OS's translation hook, from inside exec's handler) is put off by
 * the trampoline and reaches the program's handler where the handler's
 * context goes: after an EEXIT, the host code right after it.
 */
Test(direct, a_signal_during_the_eexit_handler_waits_for_the_host)
{
	struct exec_stats a, b;
	exec_get_stats(&a);
	exit_with_pending_signal();
	exec_get_stats(&b);
	if (exec_signal_open(SIGSEGV) || exec_signal_open(SIGILL))
		cr_assert_geq(b.direct_deferred - a.direct_deferred, 1, "put off while exec's handler ran");
}

Test(direct, a_trap_goes_back_into_the_enclave_without_rt_sigreturn)
{
	cr_assert(emodpe_n(0, 1));
	struct exec_stats a, b;
	exec_get_stats(&a);
	cr_assert(emodpe_n(0, 20), "20 EMODPEs and EEXIT");
	exec_get_stats(&b);
	cr_assert_eq(b.trap_loads - a.trap_loads, exec_have_fsgsbase ? 20 : 0,
		     "each EMODPE's trap went back by exec_direct_load where the host has FSGSBASE (%llu)",
		     (unsigned long long)(b.trap_loads - a.trap_loads));
}

/*
 * Every load ends in the thread's jump pad (POPFQ, RET to the pad, which
 * loads RSP and jumps) where the pad could be made: the entry into the
 * enclave, each trap's way back into it (an EMODPE completes: RF, which the
 * trap's frame has, is clear again) and the EEXIT's way to the host.
 */
static void loads_go_through_the_pad(bool pad_expected)
{
	struct exec_stats a, b;
	uint64_t loads = loads_of(5, 10, &a, &b);
	struct exec_thread *self = exec_thread_lookup();
	cr_assert_not_null(self);
	/* 6 exits, and where the host has FSGSBASE 6 entries and 10 EMODPEs (into the enclave: FS/GS to load). */
	cr_assert_eq(loads, exec_have_fsgsbase ? 22 : 6, "loads %llu", (unsigned long long)loads);
	if (pad_expected && !self->jump_pad)
		cr_log_warn("this system refused the executable pad page (W^X): loads use IRETQ");
	cr_assert_eq(b.jump_loads - a.jump_loads, self->jump_pad ? loads : 0, "%llu of %llu loads through the pad",
		     (unsigned long long)(b.jump_loads - a.jump_loads), (unsigned long long)loads);
	if (!pad_expected)
		cr_assert_eq(self->jump_pad, 0, "SGXEMU_EXEC_NO_JUMP_PAD leaves the pad out");
}

Test(direct, every_load_ends_in_the_jump_pad)
{
	loads_go_through_the_pad(true);
}

/*
 * A signal at one of the pad's two instructions: the registers, RFLAGS,
 * the XSAVE image, the mask and FS/GS are the context's already; only RSP
 * (at the first) and RIP remain, from the block.  Any other address in
 * the pad's page is not the pad's.
 */
Test(direct, a_signal_in_the_jump_pad_finds_the_context_loaded)
{
	echo(0, 1);
	struct exec_thread *self = exec_thread_lookup();
	cr_assert_not_null(self);
	if (!self->jump_pad) {
		cr_log_warn("no pad on this system (W^X): nothing to roll forward");
		return;
	}
	uint64_t pad = (uint64_t)(uintptr_t)self + EXEC_BLOCK_PAD;
	bool host = self->direct_host;
	self->direct_host = true;
	self->jmp_rsp = 0x7000DEAD0000;
	self->jmp_rip = 0x7000BEEF0000;
	uint64_t offsets[] = {0, EXEC_PAD_JMP, 3, 13};
	bool rolls[] = {true, true, false, false};
	for (unsigned i = 0; i < 4; i++) {
		ucontext_t uc;
		memset(&uc, 0, sizeof(uc));
		greg_t *g = uc.uc_mcontext.gregs;
		g[REG_RIP] = (greg_t)(pad + offsets[i]);
		g[REG_RSP] = offsets[i] == EXEC_PAD_JMP ? (greg_t)self->jmp_rsp : 0x1234;
		g[REG_RAX] = 0xAAAA;
		g[REG_EFL] = 0x203;
		cr_assert_eq(exec_direct_roll_forward(self, &uc), rolls[i], "pad + %llu",
			     (unsigned long long)offsets[i]);
		if (!rolls[i])
			continue;
		cr_assert_eq((uint64_t)g[REG_RIP], self->jmp_rip);
		cr_assert_eq((uint64_t)g[REG_RSP], self->jmp_rsp);
		cr_assert_eq(g[REG_RAX], 0xAAAA, "the other registers are the context's already");
		cr_assert_eq(g[REG_EFL], 0x203);
	}
	self->direct_host = host;
	/* The pad page is read-and-execute and holds the pad. */
	size_t n = (size_t)(exec_direct_pad_end - exec_direct_pad);
	cr_assert_eq(memcmp((const void *)(uintptr_t)pad, exec_direct_pad, n), 0);
}

/*
 * A burst of queued kicks (real-time signals queue, as the reclaimer's
 * repeated exec_kick does) at a thread spinning in the enclave: each kick
 * is an interrupt, ERESUMEd at once, and the next one is delivered in that
 * ERESUME's load window.  Those frames must not pile up on the signal
 * stack: 600 of them would need far more than its 248 KiB.
 */
#define KICKS 600
static volatile uint64_t kick_stop, kick_entered;

static void *kick_burst(void *arg)
{
	int tid = *(int *)arg;
	while (!kick_entered)
		sched_yield();
	siginfo_t info;
	exec_kick_info(&info);
	for (unsigned i = 0; i < KICKS; i++)
		syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, EXEC_KICK_SIGNAL, &info);
	usleep(100000);
	kick_stop = 1;
	return NULL;
}

Test(direct, a_burst_of_queued_kicks_does_not_exhaust_the_signal_stack)
{
	echo(0, 1);
	int tid = (int)syscall(SYS_gettid);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, kick_burst, &tid), 0);
	uint64_t out[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	cr_assert_eq(
	    tos_ecall(0, OP_SPIN, (uint64_t)(uintptr_t)&kick_stop, (uint64_t)(uintptr_t)&kick_entered, 0, out, &run),
	    0);
	pthread_join(th, NULL);
	cr_assert_eq(run.function, ENCLU_EEXIT, "the spin ended with EEXIT after the kicks");
	cr_assert_eq(tos_cssa(0), 0);
}

/* Threads enter and leave over and over while another thread sends them signals. */
#define STORM_CALLS 3000
static _Atomic int storm_tids[ENCL_THREADS];
static _Atomic bool storm_done;

static void *storm_caller(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	storm_tids[i] = (int)syscall(SYS_gettid);
	for (uint64_t n = 0; n < STORM_CALLS; n++) {
		uint64_t out[4] = {0};
		struct sgx_enclave_run run;
		if (tos_ecall(i, OP_ECHO, n, 2, 0xC0FFEE + i, out, &run) != 0 || run.function != ENCLU_EEXIT ||
		    out[0] != n + 2 || out[1] != 0 || out[2] != 0xC0FFEE + i)
			return (void *)1;
		/* Traps that go back into the enclave, under the same storm. */
		if (n % 10 == 0 && !emodpe_n(i, 10))
			return (void *)2;
	}
	return NULL;
}

static void *storm_sender(void *arg)
{
	(void)arg;
	while (!atomic_load(&storm_done))
		for (unsigned i = 0; i < ENCL_THREADS; i++) {
			int tid = atomic_load(&storm_tids[i]);
			if (tid)
				syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
			usleep(20);
		}
	return NULL;
}

Test(direct, threads_entering_under_a_storm_of_signals_get_every_result)
{
	tos_hook_translations(NULL);
	pthread_t callers[ENCL_THREADS], sender;
	cr_assert_eq(pthread_create(&sender, NULL, storm_sender, NULL), 0);
	for (unsigned i = 0; i < ENCL_THREADS; i++)
		cr_assert_eq(pthread_create(&callers[i], NULL, storm_caller, (void *)(uintptr_t)i), 0);
	unsigned bad = 0;
	for (unsigned i = 0; i < ENCL_THREADS; i++) {
		void *r;
		pthread_join(callers[i], &r);
		bad += r != NULL;
	}
	atomic_store(&storm_done, true);
	pthread_join(sender, NULL);
	cr_assert_eq(bad, 0, "%u threads got a wrong result", bad);
	cr_assert_gt(seen.count, 0, "signals were handled");
	for (unsigned i = 0; i < ENCL_THREADS; i++)
		cr_assert_eq(tos_cssa(i), 0);
}

/*
 * Each thread counts its own events (no locked instruction on the way in
 * and out): the statistics must add those of threads that still run and of
 * threads that ended.
 */
#define COUNTED_CALLS 25
static pthread_barrier_t counted_done, counted_end;

static void *counted_caller(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	void *bad = NULL;
	for (uint64_t n = 0; n <= COUNTED_CALLS && !bad; n++) {
		uint64_t out[4] = {0};
		struct sgx_enclave_run run;
		if (tos_ecall(i, OP_ECHO, n, 2, 0xC0FFEE, out, &run) != 0 || run.function != ENCLU_EEXIT ||
		    out[0] != n + 2)
			bad = (void *)1;
	}
	pthread_barrier_wait(&counted_done);
	pthread_barrier_wait(&counted_end);
	return bad;
}

Test(direct, the_counts_of_live_and_ended_threads_add_up)
{
	tos_hook_translations(NULL);
	echo(0, 1);
	struct exec_stats a, live, ended;
	exec_get_stats(&a);
	pthread_t th;
	cr_assert_eq(pthread_barrier_init(&counted_done, NULL, 2), 0);
	cr_assert_eq(pthread_barrier_init(&counted_end, NULL, 2), 0);
	cr_assert_eq(pthread_create(&th, NULL, counted_caller, (void *)(uintptr_t)1), 0);
	pthread_barrier_wait(&counted_done);
	exec_get_stats(&live);
	pthread_barrier_wait(&counted_end);
	void *r;
	pthread_join(th, &r);
	exec_get_stats(&ended);
	pthread_barrier_destroy(&counted_done);
	pthread_barrier_destroy(&counted_end);
	cr_assert_null(r, "the thread's calls returned their results");
	/* Its first ECALL traps (the thread had no block yet), every other one enters the direct way. */
	cr_assert_eq(live.direct_entries - a.direct_entries, COUNTED_CALLS, "live: %llu direct entries",
		     (unsigned long long)(live.direct_entries - a.direct_entries));
	cr_assert_eq(live.host_loads - a.host_loads, COUNTED_CALLS + 1,
		     "live: every EEXIT went to host code by a load");
	cr_assert_geq(live.traps - a.traps, COUNTED_CALLS + 2, "live: the EEXITs and the first EENTER trapped");
	cr_assert_eq(ended.direct_entries, live.direct_entries, "the ended thread's entries are still counted");
	cr_assert_eq(ended.host_loads, live.host_loads);
	cr_assert_eq(ended.traps, live.traps);
	cr_assert_eq(ended.jump_loads, live.jump_loads);
}

static _Atomic uint64_t busy_stop, busy_entered;

static void *busy_caller(void *arg)
{
	(void)arg;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	int r =
	    tos_ecall(1, OP_SPIN, (uint64_t)(uintptr_t)&busy_stop, (uint64_t)(uintptr_t)&busy_entered, 0, out, &run);
	return (void *)(uintptr_t)(r != 0 || run.function != ENCLU_EEXIT);
}

Test(direct, exec_stays_installed_while_a_thread_is_in_enclave_mode)
{
	tos_hook_translations(NULL);
	atomic_store(&busy_stop, 0);
	atomic_store(&busy_entered, 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, busy_caller, NULL), 0);
	while (!atomic_load(&busy_entered))
		sched_yield();
	int busy = exec_uninstall();
	atomic_store(&busy_stop, 1);
	void *r;
	pthread_join(th, &r);
	cr_assert_eq(busy, -EBUSY, "exec_uninstall with a thread spinning in the enclave: %d", busy);
	cr_assert_null(r, "the spinning call ended with EEXIT");
	/* Out of enclave mode: nothing holds exec any more (the teardown uninstalls it). */
	cr_assert_eq(exec_threads_inside(), 0);
}

/*
 * The callers' masks of entries whose ENCLU traps, kept by the RSP at the
 * ENCLU: a handler that runs after one was kept and before its trap may
 * keep its own entry's, and each trap must find its own.
 */
TestSuite(trap_masks, .timeout = 15);

Test(trap_masks, each_trap_finds_the_mask_kept_at_its_rsp)
{
	uint64_t m;
	exec_direct_trap_keep(0x7000, 0x40);
	exec_direct_trap_keep(0x6000, 0x840); /* a handler's entry, before the first one's trap */
	cr_assert(exec_direct_trap_mask(0x6000, &m));
	cr_assert_eq(m, 0x840);
	cr_assert(exec_direct_trap_mask(0x7000, &m));
	cr_assert_eq(m, 0x40);
	cr_assert_not(exec_direct_trap_mask(0x7000, &m), "taken once");
	cr_assert_not(exec_direct_trap_mask(0x5000, &m), "nothing kept at another RSP");
}

Test(trap_masks, an_entry_at_the_same_rsp_replaces_one_that_never_trapped)
{
	uint64_t m;
	exec_direct_trap_keep(0x7000, 1);
	exec_direct_trap_keep(0x6000, 2);
	exec_direct_trap_keep(0x7000, 3);
	cr_assert(exec_direct_trap_mask(0x7000, &m));
	cr_assert_eq(m, 3);
	cr_assert_not(exec_direct_trap_mask(0x6000, &m), "kept after the replaced one: done with it");
}

Test(trap_masks, beyond_capacity_the_oldest_goes)
{
	uint64_t m;
	for (uint64_t i = 0; i <= EXEC_TRAP_MASKS; i++)
		exec_direct_trap_keep(0x10000 - i * 0x1000, i);
	cr_assert_not(exec_direct_trap_mask(0x10000, &m), "the oldest was dropped");
	for (uint64_t i = EXEC_TRAP_MASKS; i >= 1; i--) {
		cr_assert(exec_direct_trap_mask(0x10000 - i * 0x1000, &m), "entry %llu", (unsigned long long)i);
		cr_assert_eq(m, i);
	}
}

TestSuite(direct_no_load, .init = setup_no_load, .fini = teardown, .timeout = 15);

Test(direct_no_load, an_ecall_enters_through_rt_sigreturn)
{
	echo(0, 1);
	struct exec_stats a, b;
	exec_get_stats(&a);
	echo(0, 2);
	cr_assert(emodpe_n(0, 5));
	exec_get_stats(&b);
	cr_assert_eq(b.direct_entries - a.direct_entries, 2);
	cr_assert_eq(b.direct_loads, a.direct_loads);
	cr_assert_eq(b.trap_loads, a.trap_loads);
}

Test(direct_no_load, a_signal_pending_at_the_exit_finds_the_host_after_eexit)
{
	exit_with_pending_signal();
}

Test(direct_no_load, an_ecall_from_a_handler_at_the_aep_enters_from_the_signal_stack)
{
	ecall_from_a_handler();
}

Test(direct_no_load, a_pending_signal_is_handled_the_same_way)
{
	struct exec_stats a, b;
	exec_get_stats(&a);
	ecall_with_pending_signal();
	exec_get_stats(&b);
	cr_assert_eq(b.direct_rolled, a.direct_rolled, "rt_sigreturn delivers it in the enclave itself");
}

/* SGXEMU_EXEC_NO_JUMP_PAD: the same loads end in IRETQ, as where the system refuses the pad's page. */
TestSuite(direct_no_pad, .init = setup_no_pad, .fini = teardown, .timeout = 15);

Test(direct_no_pad, every_load_ends_in_iretq)
{
	loads_go_through_the_pad(false);
}

Test(direct_no_pad, a_signal_pending_at_the_exit_finds_the_host_after_eexit)
{
	exit_with_pending_signal();
}

Test(direct_no_pad, a_pending_signal_at_the_load_interrupts_the_enclave_at_its_entry)
{
	ecall_with_pending_signal();
}
