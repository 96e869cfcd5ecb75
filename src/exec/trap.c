/* SPDX-License-Identifier: MIT */
/*
 * Signal handling: installation, dispatch of a signal to the enclave paths
 * (aex.c) or to the handler exec replaced, and the conversions between a
 * signal context and the thread model (GPRs, RFLAGS, RIP, XSAVE image).
 *
 * Everything here runs in a signal handler with every signal blocked.  The
 * signals that reach aex.c are synchronous: they were raised by enclave
 * code or by host code executing ENCLU, neither of which holds a host lock,
 * so the handler may take the machine lock and call the OS.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"
#include "exec_int.h"

struct exec_os exec_os_cur;
uint64_t exec_install_gen;
static bool installed;
bool exec_short_path = true;

void exec_get_stats(struct exec_stats *s)
{
	uint64_t c[EXEC_COUNTS];
	exec_counts_sum(c);
	s->direct_entries = c[EXEC_COUNT_DIRECT];
	s->direct_loads = c[EXEC_COUNT_DIRECT_LOAD];
	s->bare_entries = c[EXEC_COUNT_BARE];
	s->direct_rolled = atomic_load_explicit(&exec_stat_direct_rolled, memory_order_relaxed);
	s->trap_loads = c[EXEC_COUNT_TRAP_LOAD];
	s->host_loads = c[EXEC_COUNT_HOST_LOAD];
	s->jump_loads = c[EXEC_COUNT_JUMP_LOAD];
	s->mask_loads = c[EXEC_COUNT_MASK_LOAD];
	/* A direct entry's frame goes through exec_trap unless the entry was bare. */
	s->traps = c[EXEC_COUNT_TRAPS] - (s->direct_entries - s->bare_entries);
	s->short_paths = c[EXEC_COUNT_SHORT];
	s->direct_deferred = atomic_load_explicit(&exec_stat_direct_deferred, memory_order_relaxed);
	s->direct_lost = atomic_load_explicit(&exec_stat_direct_lost, memory_order_relaxed);
	s->deferred_opens = c[EXEC_COUNT_DEFERRED];
	s->deferred_runs = c[EXEC_COUNT_DEFERRED_RUNS];
	s->deferred_touched = c[EXEC_COUNT_DEFERRED_TOUCHED];
	s->chaos_interrupts = atomic_load_explicit(&exec_stat_chaos_intr, memory_order_relaxed);
	s->chaos_evictions = atomic_load_explicit(&exec_stat_chaos_evict, memory_order_relaxed);
	s->chaos_timer = atomic_load_explicit(&exec_stat_chaos_timer, memory_order_relaxed);
	s->chaos_steps = atomic_load_explicit(&exec_stat_chaos_step, memory_order_relaxed);
	s->check_reports = atomic_load_explicit(&exec_stat_check, memory_order_relaxed);
}

_Noreturn void exec_die(const char *msg)
{
	ssize_t n = write(STDERR_FILENO, msg, strlen(msg));
	(void)n;
	abort();
}

int exec_install(const struct exec_os *os)
{
	if (!os || !os->m || !os->mmu || !os->fault)
		return -EINVAL;
	if (installed)
		return -EBUSY;
	int r = exec_threads_init();
	if (r)
		return r;
	exec_os_cur = *os;
	exec_install_gen++;
	exec_kick_sig = EXEC_KICK_SIGNAL;
	exec_short_path = !getenv("SGXEMU_EXEC_NO_SHORT_PATH");
	exec_deferred_open = !getenv("SGXEMU_EXEC_NO_DEFERRED_OPEN");
	exec_direct_allowed = !getenv("SGXEMU_EXEC_NO_DIRECT") && !exec_under_valgrind() && !exec_shadow_stack_on();
	exec_direct_no_load = getenv("SGXEMU_EXEC_NO_DIRECT_LOAD") != NULL;
	exec_bare_allowed = hw_eenter_tlb_built && !getenv("SGXEMU_EXEC_NO_BARE");
	exec_open_set = 0;
	if (exec_direct_allowed && !exec_direct_no_load)
		exec_open_set = 1ULL << SIGSEGV | 1ULL << SIGILL | 1ULL << SIGBUS;
	exec_direct_on = 0;
	exec_direct_own = exec_own_bits();
	char why[160];
	bool sud = exec_sud_setup(why, sizeof(why));
	exec_signals_take(sud);
	exec_sud_active = sud;
	installed = true;
	__atomic_store_n(&exec_entry_armed, 1, __ATOMIC_RELEASE);
	return 0;
}

int exec_uninstall(void)
{
	if (!installed)
		return 0;
	if (exec_threads_inside())
		return -EBUSY;
	exec_sud_active = 0;
	exec_direct_on = 0;
	exec_entry_armed = 0;
	/* The timer kind's signals would find the kernel's action (termination) once exec gives it back. */
	exec_chaos_timers_stop();
	exec_signals_give_back();
	installed = false;
	return 0;
}

bool exec_enclu_trap_kind(int sig, const siginfo_t *si, const ucontext_t *uc)
{
	/* Sent by a process (kill, sigqueue): no instruction raised it. */
	if (si->si_code <= 0)
		return false;
	if (sig == SIGILL)
		return true; /* #UD: the whole instruction was fetched */
	if (sig != SIGSEGV && sig != SIGBUS)
		return false;
	const greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = (uint64_t)g[REG_RIP], addr = (uint64_t)(uintptr_t)si->si_addr;
	if (g[REG_TRAPNO] == X86_PF && (g[REG_ERR] & PF_I))
		return false; /* fetching the instruction faulted */
	/* A fault at one of the instruction's own bytes is its fetch (#GP and operand #PFs report elsewhere). */
	if (sig == SIGBUS || si->si_code != SI_KERNEL)
		return addr - rip >= 3;
	return true;
}

/* Does host code at rip hold ENCLU?  Only asked once the instruction at rip was fetched: its bytes are mapped. */
static bool host_enclu_at(uint64_t rip)
{
	const volatile uint8_t *p = (const volatile uint8_t *)(uintptr_t)rip;
	return p[0] == 0x0F && p[1] == 0x01 && p[2] == 0xD7;
}

static bool is_kick(const siginfo_t *si)
{
	return si->si_code == SI_QUEUE && si->si_pid == getpid() &&
	       (uintptr_t)si->si_value.sival_ptr == (uintptr_t)EXEC_KICK_MAGIC;
}

void exec_kick_info(siginfo_t *info)
{
	memset(info, 0, sizeof(*info));
	info->si_signo = EXEC_KICK_SIGNAL;
	info->si_code = SI_QUEUE;
	info->si_pid = getpid();
	info->si_uid = getuid();
	info->si_value.sival_ptr = (void *)(uintptr_t)EXEC_KICK_MAGIC;
}

void exec_kick(struct hw_thread *t)
{
	struct exec_thread *et = (struct exec_thread *)((char *)t - offsetof(struct exec_thread, t));
	unsigned long exits = atomic_load(&et->exits);
	if (!__atomic_load_n(&t->in_enclave, __ATOMIC_ACQUIRE))
		return;
	atomic_store(&et->kick_pending, 1);
	siginfo_t info;
	exec_kick_info(&info);
	/* Real-time signals queue: send again only now and then, in case the first found the thread outside. */
	for (unsigned i = 0; __atomic_load_n(&t->in_enclave, __ATOMIC_ACQUIRE) && atomic_load(&et->exits) == exits;
	     i++) {
		if (i % 256 == 0)
			syscall(SYS_rt_tgsigqueueinfo, getpid(), et->tid, EXEC_KICK_SIGNAL, &info);
		sched_yield();
	}
	atomic_store(&et->kick_pending, 0);
}

int exec_kick_sig;

/*
 * The program's handler of a signal that found the thread without a block
 * made the thread's first entry (a block and its signal stack now): the
 * rt_sigreturn that ends this signal would put back the frame's record of
 * the stack before (none, or another), and the thread's later traps would
 * find no signal stack of exec's.  Record exec's, as exec_host_enclu does
 * for a first entry's own trap.
 */
static void keep_new_stack(ucontext_t *uc)
{
	struct exec_thread *now = exec_thread_lookup();
	if (!now)
		return;
	uc->uc_stack = exec_block_stack(now);
}

struct exec_thread *exec_trap(int sig, siginfo_t *si, ucontext_t *uc, struct exec_thread *self)
{
	int saved_errno = errno;
	/* The thread's mask while this handler runs, if it runs open (nothing added at delivery). */
	uint64_t entry_mask;
	memcpy(&entry_mask, &uc->uc_sigmask, sizeof(entry_mask));
	/* Off the block's stack FS is the host's (the thread never entered): TLS is usable. */
	if (!self)
		self = exec_thread_lookup();
	unsigned long handlers = exec_handlers_ran;
	/*
	 * A signal in exec_direct_load's last instructions: it found the
	 * context where the load goes.  Its frame lies below the one being
	 * loaded on the signal stack, so it ends in rt_sigreturn, which leaves
	 * the stack: ending it with exec_direct_load as well would let queued
	 * signals (the reclaimer's kicks) nest frame upon frame until the
	 * stack ran out.
	 */
	bool rolled = self && exec_direct_roll_forward(self, uc);
	/* During a direct entry with signals open, any other signal waits until the thread is in the enclave. */
	if (!rolled && self && exec_direct_defer(self, sig, si, uc)) {
		errno = saved_errno;
		return NULL;
	}
	exec_count(self, EXEC_COUNT_TRAPS);
	bool was_inside = self && self->t.in_enclave;
	/* SIGRTMAX is a call into libc: its value as of exec_install. */
	int kick_signal = exec_kick_sig;
	if (sig == kick_signal && is_kick(si)) {
		/* Outside enclave mode the kick has nothing to do: the thread left already. */
		if (self && self->t.in_enclave)
			exec_kick_signal(self, si, uc);
	} else if (sig == kick_signal && si->si_code == SI_TIMER &&
		   (uintptr_t)si->si_value.sival_ptr == (uintptr_t)EXEC_CHAOS_TIMER_MAGIC) {
		/* Chaos mode's timer: an interrupt if it found enclave code running, else nothing. */
		if (self && self->t.in_enclave)
			exec_chaos_timer_signal(self, si, uc);
	} else if (self && self->t.in_enclave)
		exec_enclave_signal(self, sig, si, uc);
	else if (exec_enclu_trap_kind(sig, si, uc) && host_enclu_at((uint64_t)uc->uc_mcontext.gregs[REG_RIP]))
		exec_host_enclu(self, sig, si, uc);
	else {
		exec_chain(sig, si, uc);
		if (!self)
			keep_new_stack(uc);
	}
	if (self && self->direct == EXEC_DIRECT_FRAME)
		exec_direct_finish(self, uc);
	else if (self && !rolled && self->load_enclave && exec_handlers_ran == handlers)
		exec_direct_take(self, uc, false, exec_signal_open(sig), entry_mask);
	else if (was_inside && !rolled && !self->t.in_enclave && exec_handlers_ran == handlers)
		exec_direct_take(self, uc, true, exec_signal_open(sig), entry_mask);
	errno = saved_errno;
	/* A thread's first ENCLU made its block just now. */
	return self ? self : exec_thread_lookup();
}

/* ---- context conversions ----------------------------------------------- */

void exec_regs_from_uc(struct hw_regs *r, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	r->rax = (uint64_t)g[REG_RAX];
	r->rcx = (uint64_t)g[REG_RCX];
	r->rdx = (uint64_t)g[REG_RDX];
	r->rbx = (uint64_t)g[REG_RBX];
	r->rsp = (uint64_t)g[REG_RSP];
	r->rbp = (uint64_t)g[REG_RBP];
	r->rsi = (uint64_t)g[REG_RSI];
	r->rdi = (uint64_t)g[REG_RDI];
	r->r8 = (uint64_t)g[REG_R8];
	r->r9 = (uint64_t)g[REG_R9];
	r->r10 = (uint64_t)g[REG_R10];
	r->r11 = (uint64_t)g[REG_R11];
	r->r12 = (uint64_t)g[REG_R12];
	r->r13 = (uint64_t)g[REG_R13];
	r->r14 = (uint64_t)g[REG_R14];
	r->r15 = (uint64_t)g[REG_R15];
	r->rflags = (uint64_t)g[REG_EFL];
	r->rip = (uint64_t)g[REG_RIP];
}

EXEC_GENERAL_REGS void exec_regs_to_uc(ucontext_t *uc, const struct hw_regs *r)
{
	greg_t *g = uc->uc_mcontext.gregs;
	g[REG_RAX] = (greg_t)r->rax;
	g[REG_RCX] = (greg_t)r->rcx;
	g[REG_RDX] = (greg_t)r->rdx;
	g[REG_RBX] = (greg_t)r->rbx;
	g[REG_RSP] = (greg_t)r->rsp;
	g[REG_RBP] = (greg_t)r->rbp;
	g[REG_RSI] = (greg_t)r->rsi;
	g[REG_RDI] = (greg_t)r->rdi;
	g[REG_R8] = (greg_t)r->r8;
	g[REG_R9] = (greg_t)r->r9;
	g[REG_R10] = (greg_t)r->r10;
	g[REG_R11] = (greg_t)r->r11;
	g[REG_R12] = (greg_t)r->r12;
	g[REG_R13] = (greg_t)r->r13;
	g[REG_R14] = (greg_t)r->r14;
	g[REG_R15] = (greg_t)r->r15;
	g[REG_EFL] = (greg_t)r->rflags;
	g[REG_RIP] = (greg_t)r->rip;
}

/*
 * The signal frame's FPU state is an XSAVE image in standard format; the
 * kernel's software bytes (legacy area bytes 464..511) say whether it has
 * the XSAVE header and how large it is.  Without them it is a 512-byte
 * FXSAVE image.
 */
#define FX_SW_BYTES	  464
#define FX_SW_SIZE	  48
#define FX_SW_XSTATE_SIZE 16 /* offset of xstate_size in the software bytes */
#define FP_XSTATE_MAGIC1  0x46505853U
#define XSAVE_LEGACY	  512
#define XSAVE_HEADER_END  576

static uint32_t frame_xsave_size(const ucontext_t *uc)
{
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t magic, size;
	memcpy(&magic, fp + FX_SW_BYTES, sizeof(magic));
	if (magic != FP_XSTATE_MAGIC1)
		return XSAVE_LEGACY;
	memcpy(&size, fp + FX_SW_BYTES + FX_SW_XSTATE_SIZE, sizeof(size));
	return size;
}

void exec_xsave_from_uc(struct hw_thread *t, const ucontext_t *uc)
{
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t fsize = frame_xsave_size(uc);
	uint32_t n = fsize < t->xsave_size ? fsize : t->xsave_size;
	memcpy(t->xsave, fp, n);
	if (n < t->xsave_size)
		memset(t->xsave + n, 0, t->xsave_size - n);
	/* The software bytes are the kernel's, not register state. */
	memset(t->xsave + FX_SW_BYTES, 0, FX_SW_SIZE);
	if (fsize == XSAVE_LEGACY) {
		uint64_t bv = 3; /* x87 and SSE, as FXSAVE holds them */
		memcpy(t->xsave + XSAVE_LEGACY, &bv, sizeof(bv));
	}
}

void exec_xsave_to_uc(ucontext_t *uc, const struct hw_thread *t)
{
	uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t fsize = frame_xsave_size(uc);
	uint32_t n = fsize < t->xsave_size ? fsize : t->xsave_size;
	memcpy(fp, t->xsave, FX_SW_BYTES);
	if (n <= XSAVE_LEGACY)
		return;
	/* PKRU is the host's or exec's (exec_state_enter/leave), never the model's: keep the frame's. */
	uint64_t present;
	uint32_t psize, pkru;
	exec_frame_xsave(uc, &psize, &present);
	bool has_pkru = exec_xstate_get_pkru(&exec_xlayout, fp, psize, present, &pkru);
	/* XSTATE_BV; XCOMP_BV and the reserved header bytes stay zero (standard format). */
	memcpy(fp + XSAVE_LEGACY, t->xsave + XSAVE_LEGACY, sizeof(uint64_t));
	memset(fp + XSAVE_LEGACY + 8, 0, XSAVE_HEADER_END - XSAVE_LEGACY - 8);
	if (n > XSAVE_HEADER_END)
		memcpy(fp + XSAVE_HEADER_END, t->xsave + XSAVE_HEADER_END, n - XSAVE_HEADER_END);
	if (has_pkru)
		exec_xstate_set_pkru(&exec_xlayout, fp, psize, present, pkru);
}

/* ---- leaving the handler ------------------------------------------------- */

void exec_resume_enclave(struct exec_thread *self, ucontext_t *uc, bool from_host)
{
	exec_regs_to_uc(uc, &self->t.regs);
	if (from_host) {
		/* Enclave code runs with the host code's mask (as on Linux), exec's own signals open. */
		sigset_t mask;
		exec_uc_mask_get(uc, &mask);
		exec_unblock_own(&mask);
		exec_uc_mask_set(uc, &mask);
		exec_state_enter(self, uc);
	}
	self->encl_fs = self->t.regs.fsbase;
	self->encl_gs = self->t.regs.gsbase;
	self->load_enclave = 1;
	if (exec_chaos_step)
		exec_step_arm(self, uc);
}

void exec_return_host(struct exec_thread *self, ucontext_t *uc)
{
	/* Host code finds every accepted page as the EPCM has it. */
	exec_deferred_open_now(self);
	exec_regs_to_uc(uc, &self->t.regs);
	exec_uc_mask_set(uc, &self->host_mask);
	self->load_enclave = 0;
}
