/* SPDX-License-Identifier: MIT */
/*
 * From host signals to SGX semantics.
 *
 * Host code executing ENCLU (exec_host_enclu): EENTER/ERESUME in the hw
 * model with the context's registers; on success the context continues at
 * the enclave's entry point (or the resumed RIP) with the enclave's FS/GS.
 * A fault of the leaf itself is no AEX (the thread is not in enclave mode):
 * an ordinary not-present #PF goes to the OS and the leaf is retried when
 * fixed; anything else is reported at the ENCLU, as the kernel's vDSO fixup
 * does (RDI/RSI/RDX, EAX = the leaf), or delivered as a signal when the
 * ENCLU is not sgxemu_enter_enclave's.
 *
 * Enclave code raising a signal (exec_enclave_signal): ENCLU runs in the hw
 * model; a fault becomes an event (vector, error code, address), classified
 * for #PF by the model's access check so that an EPCM violation carries the
 * SGX bit.  Then AEX: the OS may fix an ordinary not-present #PF, after
 * which the AEP's ERESUME follows at once; otherwise the event is reported
 * at the AEP, except #DB/#BP, which are delivered as signals.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "exec_int.h"

#define RFLAGS_TF (1ULL << 8)
/*
 * Set in the RFLAGS of a fault's signal frame (the CPU's image, so that the
 * faulting instruction's breakpoint does not fire again); an instruction
 * that completes clears it, so a leaf exec completes does too.
 */
#define RFLAGS_RF (1ULL << 16)

/* Transparent retries of one fault in a row before exec gives up loudly. */
#define RETRY_MAX 1000

static bool vdso_aep(uint64_t ip)
{
	return ip == (uint64_t)(uintptr_t)exec_vdso_enclu;
}

void exec_aep_resume(ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	if (exec_entry_armed && vdso_aep((uint64_t)g[REG_RIP]))
		g[REG_RIP] = (greg_t)(uintptr_t)exec_vdso_resume;
}

static uint64_t page_of(uint64_t a)
{
	return a & ~(uint64_t)0xFFF;
}

/* "0x" and 16 hex digits of v at p (async-signal-safe formatting). */
static char *hex64(char *p, uint64_t v)
{
	*p++ = '0';
	*p++ = 'x';
	for (int i = 60; i >= 0; i -= 4)
		*p++ = "0123456789abcdef"[(v >> i) & 0xF];
	return p;
}

/* Decimal digits of v at p (async-signal-safe). */
static char *dec64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* "0x" and the hex digits of v without leading zeros at p. */
static char *hexs(char *p, uint64_t v)
{
	*p++ = '0';
	*p++ = 'x';
	int i = 60;
	while (i > 0 && !((v >> i) & 0xF))
		i -= 4;
	for (; i >= 0; i -= 4)
		*p++ = "0123456789abcdef"[(v >> i) & 0xF];
	return p;
}

static char *str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

/* Count a transparent retry of (rip, addr); die when the OS keeps "fixing" the same fault. */
static void retry_check(struct exec_thread *self, uint64_t rip, uint64_t addr, const char *what)
{
	if (self->retry_rip == rip && self->retry_addr == addr) {
		if (++self->retries > RETRY_MAX) {
			char msg[256], *p = msg;
			static const char a[] = "sgxemu: the same enclave fault was retried 1000 times (",
					  b[] = ") at RIP ", c[] = ", address ", d[] = "; the OS does not fix it\n";
			memcpy(p, a, sizeof(a) - 1);
			p += sizeof(a) - 1;
			size_t n = strlen(what);
			memcpy(p, what, n);
			p += n;
			memcpy(p, b, sizeof(b) - 1);
			p = hex64(p + sizeof(b) - 1, rip);
			memcpy(p, c, sizeof(c) - 1);
			p = hex64(p + sizeof(c) - 1, addr);
			memcpy(p, d, sizeof(d));
			exec_die(msg);
		}
		return;
	}
	self->retry_rip = rip;
	self->retry_addr = addr;
	self->retries = 0;
}

/* Remember the current enclave's ELRANGE (a stale host protection is possible only inside it). */
static void elrange_cache(struct exec_thread *self)
{
	if (self->elr_eid == self->t.eid && self->elr_gen == exec_install_gen)
		return;
	struct hw_secs_view v;
	if (!hw_secs_get(self->t.m, self->t.secs_pa, &v))
		exec_die("sgxemu: the SECS of the current enclave is gone\n");
	self->elr_eid = v.eid;
	self->elr_gen = exec_install_gen;
	self->elr_base = v.secs.base;
	self->elr_size = v.secs.size;
	self->elr_xfrm = v.secs.xfrm;
}

static bool in_elrange(const struct exec_thread *self, uint64_t a)
{
	return a >= self->elr_base && a - self->elr_base < self->elr_size;
}

/* Which signal a program sees for an exception it gets as a signal. */
static int signal_for(uint8_t vector, enum exec_fault f)
{
	switch (vector) {
	case X86_DE:
	case X86_MF:
	case X86_XM:
		return SIGFPE;
	case X86_DB:
	case X86_BP:
		return SIGTRAP;
	case X86_UD:
		return SIGILL;
	case X86_AC:
		return SIGBUS;
	case X86_PF:
		return f == EXEC_FAULT_SIGBUS ? SIGBUS : SIGSEGV;
	default:
		return SIGSEGV;
	}
}

static bool vector_has_errcode(uint8_t v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == X86_AC || v == X86_CP;
}

/*
 * Deliver an exception as a signal to the program's handler, with the
 * context as it is now (at the AEP after an AEX, at the ENCLU otherwise).
 * orig is reused when it is the same signal (its si_code stays).
 */
static void deliver(const struct hw_event *ev, enum exec_fault f, const siginfo_t *orig, ucontext_t *uc)
{
	int sig = signal_for(ev->vector, f);
	siginfo_t info;
	if (orig && orig->si_signo == sig) {
		info = *orig;
	} else {
		memset(&info, 0, sizeof(info));
		info.si_signo = sig;
		info.si_code = SI_KERNEL;
		if (ev->vector == X86_PF)
			info.si_code = (ev->errcode & PF_P) ? SEGV_ACCERR : SEGV_MAPERR;
	}
	greg_t *g = uc->uc_mcontext.gregs;
	g[REG_TRAPNO] = ev->vector;
	g[REG_ERR] = ev->errcode;
	if (ev->vector == X86_PF) {
		info.si_addr = (void *)(uintptr_t)ev->addr;
		g[REG_CR2] = (greg_t)ev->addr;
	}
	exec_chain(sig, &info, uc);
}

/*
 * Report an exception at sgxemu_enter_enclave's ENCLU: continue at its
 * exception path with the trap information; EAX holds the leaf already.
 */
static void report_vdso(ucontext_t *uc, const struct hw_event *ev)
{
	greg_t *g = uc->uc_mcontext.gregs;
	g[REG_RIP] = (greg_t)(uintptr_t)exec_vdso_exception;
	g[REG_RDI] = ev->vector;
	g[REG_RSI] = ev->errcode;
	g[REG_RDX] = ev->vector == X86_PF ? (greg_t)ev->addr : 0;
}

static struct hw_event event_of(struct hw_result r)
{
	struct hw_event ev = {.vector = r.vector, .errcode = r.errcode, .addr = r.addr};
	ev.has_errcode = vector_has_errcode(r.vector);
	return ev;
}

/* An ordinary #PF on a page-table entry that is not there: the OS's #PF handler may fix it. */
static bool os_fixable(const struct hw_event *ev)
{
	return !ev->interrupt && ev->vector == X86_PF && !(ev->errcode & (PF_P | PF_SGX));
}

/*
 * ENCLU by code outside enclave mode; t->regs and t->xsave hold its state
 * (RIP at the ENCLU).  Loops while the OS fixes faults of the leaf.
 */
static void enclu_outside(struct exec_thread *self, const siginfo_t *si, ucontext_t *uc)
{
	struct hw_thread *t = &self->t;
	/* EENTER leaves the extended state as the host had it: the context's image is already what the enclave gets. */
	bool eenter = t->regs.rax == ENCLU_EENTER;
	for (;;) {
		uint64_t rip = t->regs.rip;
		struct hw_result r = hw_enclu(t);
		if (r.kind != HW_FAULT) {
			/* Outside enclave mode only EENTER/ERESUME complete, and they enter. */
			if (!t->in_enclave)
				exec_die("sgxemu: an ENCLU leaf completed outside enclave mode\n");
			/* ERESUME's RFLAGS are the SSA's (RF as the AEX saved it). */
			if (eenter)
				t->regs.rflags &= ~RFLAGS_RF;
			elrange_cache(self);
			if (!eenter)
				exec_xsave_to_uc(uc, t);
			exec_resume_enclave(self, uc, true);
			return;
		}
		struct hw_event ev = event_of(r);
		enum exec_fault f = EXEC_FAULT_SIGSEGV;
		if (os_fixable(&ev)) {
			f = exec_os_cur.fault(exec_os_cur.ctx, ev.addr, ev.errcode);
			if (f == EXEC_FAULT_FIXED) {
				retry_check(self, rip, ev.addr, "a #PF of EENTER/ERESUME the OS fixed");
				continue;
			}
		}
		/* Not entering after all: the rest runs as a handler does, every signal blocked. */
		exec_direct_abandon(self);
		exec_return_host(self, uc);
		if (!eenter)
			exec_xsave_to_uc(uc, t);
		if (vdso_aep(rip))
			report_vdso(uc, &ev);
		else
			deliver(&ev, f, si, uc);
		return;
	}
}

void exec_host_enclu(struct exec_thread *self, int sig, siginfo_t *si, ucontext_t *uc)
{
	(void)sig;
	if (!self) {
		self = exec_thread_create();
		if (!self)
			exec_die("sgxemu: cannot create the state of an enclave thread (memory)\n");
		stack_t ss = exec_block_stack(self);
		if (sigaltstack(&ss, NULL) != 0) {
			/*
			 * This handler runs on another alternate stack (the
			 * program's or a sanitizer's), which cannot be replaced
			 * now, nor by sigreturn.  Run exec_altstack_switch first:
			 * it installs ours and executes the ENCLU again.
			 */
			greg_t *g = uc->uc_mcontext.gregs;
			uint64_t *sp = (uint64_t *)(uintptr_t)((uint64_t)g[REG_RSP] - EXEC_REDZONE - 16);
			self->altstack = ss;
			sp[0] = (uint64_t)(uintptr_t)&self->altstack;
			sp[1] = (uint64_t)g[REG_RIP];
			g[REG_RSP] = (greg_t)(uintptr_t)sp;
			g[REG_RIP] = (greg_t)(uintptr_t)exec_altstack_switch;
			return;
		}
		/* rt_sigreturn restores the alternate stack recorded in the frame: record ours. */
		uc->uc_stack = ss;
	}
	struct hw_thread *t = &self->t;
	if (t->m != exec_os_cur.m || t->mmu != exec_os_cur.mmu) {
		/* Another OS was installed since this thread last entered. */
		hw_thread_fini(t);
		if (hw_thread_init(t, exec_os_cur.m, exec_os_cur.mmu) != 0)
			exec_die("sgxemu: cannot create the state of an enclave thread (memory)\n");
	}
	if (vdso_aep((uint64_t)uc->uc_mcontext.gregs[REG_RIP]))
		exec_direct_learn(uc);
	exec_regs_from_uc(&t->regs, uc);
	self->host_fs = exec_get_fs();
	self->host_gs = exec_get_gs();
	t->regs.fsbase = self->host_fs;
	t->regs.gsbase = self->host_gs;
	exec_uc_mask_get(uc, &self->host_mask);
	/* The trap's mask has exec's own signals open for it (exec_direct_place); the caller's is this. */
	uint64_t caller_mask;
	if (vdso_aep((uint64_t)uc->uc_mcontext.gregs[REG_RIP]) &&
	    exec_direct_trap_mask((uint64_t)uc->uc_mcontext.gregs[REG_RSP], &caller_mask))
		memcpy(&self->host_mask, &caller_mask, sizeof(caller_mask));
	/* ERESUME keeps the components outside XFRM as the host had them: the model needs the host's image. */
	if (t->regs.rax != ENCLU_EENTER)
		exec_xsave_from_uc(t, uc);
	enclu_outside(self, si, uc);
}

/* The leaves that change the EPCM of the page at RCX, whose host protection follows the EPCM. */
static bool changes_epcm(uint64_t leaf)
{
	return leaf == ENCLU_EACCEPT || leaf == ENCLU_EACCEPTCOPY || leaf == ENCLU_EMODPE;
}

/* The AEX of an interrupt: nothing is reported; the thread is out of enclave mode after it. */
static void interrupt_leave(struct exec_thread *self, ucontext_t *uc)
{
	struct hw_thread *t = &self->t;
	exec_xsave_from_uc(t, uc);
	hw_aex(t, &(struct hw_event){.interrupt = true});
	exec_state_leave(self, uc);
	exec_note_exit(self);
}

/*
 * After an interrupt's AEX: at sgxemu_enter_enclave's AEP the ERESUME
 * follows at once (the vDSO's AEP would execute it next), at a foreign AEP
 * the context continues there.
 */
static void interrupt_resume(struct exec_thread *self, const siginfo_t *si, ucontext_t *uc)
{
	struct hw_thread *t = &self->t;
	if (vdso_aep(t->aep)) {
		enclu_outside(self, si, uc);
		return;
	}
	exec_return_host(self, uc);
	exec_xsave_to_uc(uc, t);
}

/* The AEX of an interrupt sent by exec_kick. */
static void kick_aex(struct exec_thread *self, const siginfo_t *si, ucontext_t *uc)
{
	interrupt_leave(self, uc);
	atomic_store(&self->kick_pending, 0);
	interrupt_resume(self, si, uc);
}

/*
 * Bring the host protection of the page at addr up to date (t->regs hold
 * the state to resume with).  The OS refuses to wait for a busy lock while
 * the thread is in enclave mode; if the lock's holder is kicking this
 * thread, leave first.  Return: true, or false if the thread AEXed (the
 * context is set up already).
 */
static bool os_refresh_range(struct exec_thread *self, uint64_t addr, uint64_t len, const siginfo_t *si, ucontext_t *uc)
{
	if (!exec_os_cur.refresh)
		return true;
	while (exec_os_cur.refresh(exec_os_cur.ctx, addr, len) == -EAGAIN) {
		if (atomic_load(&self->kick_pending)) {
			kick_aex(self, si, uc);
			return false;
		}
		sched_yield();
	}
	return true;
}

static bool os_refresh(struct exec_thread *self, uint64_t addr, const siginfo_t *si, ucontext_t *uc)
{
	return os_refresh_range(self, page_of(addr), SGX_PAGE_SIZE, si, uc);
}

/*
 * ---- deferred opening of accepted pages ----
 *
 * An EACCEPT makes a pending page usable; the host protection that lets
 * enclave code at it is an mprotect, as costly as the leaf's own model.
 * Runtimes accept ranges page by page (a heap or stack committed ahead):
 * an EACCEPT of the page right after the thread's previous EACCEPT joins
 * the thread's run of deferred pages instead, and the run is opened with
 * one refresh (one mprotect) when enclave code first touches one of its
 * pages (the fault on a stale host protection below), when the thread
 * returns to host code (exec_return_host), or when an EACCEPT elsewhere
 * starts another run.  A deferred page is only ever less accessible at the
 * host than the EPCM allows, which the stale-protection path fixes on any
 * thread's access, so nothing enclave code can observe changes; host code
 * never runs while a run is open.  Where the pattern is accept then touch
 * at once (a short run touched), the next EACCEPTs open at once again,
 * for 64 of them, doubling up to 4096 while the pattern holds.
 */
#define LAG_LONG_RUN	8
#define LAG_BACKOFF_MIN 64
#define LAG_BACKOFF_MAX 4096

bool exec_deferred_open = true;

/* Whether the EACCEPTed page at addr joins the thread's run (nothing to refresh now). */
static bool lag_take(struct exec_thread *self, uint64_t addr)
{
	uint64_t page = page_of(addr);
	bool follows = page == self->lag_next;
	self->lag_next = page + SGX_PAGE_SIZE;
	if (!exec_deferred_open || !follows)
		return false;
	if (self->lag_eager) {
		self->lag_eager--;
		return false;
	}
	if (self->lag_lo == self->lag_hi)
		self->lag_lo = page;
	else if (self->lag_hi != page)
		return false;
	self->lag_hi = page + SGX_PAGE_SIZE;
	exec_count(self, EXEC_COUNT_DEFERRED);
	return true;
}

/* The run was opened; touched: because enclave code reached one of its pages first. */
static void lag_opened(struct exec_thread *self, bool touched)
{
	uint64_t pages = (self->lag_hi - self->lag_lo) / SGX_PAGE_SIZE;
	self->lag_lo = self->lag_hi = 0;
	exec_count(self, EXEC_COUNT_DEFERRED_RUNS);
	if (touched)
		exec_count(self, EXEC_COUNT_DEFERRED_TOUCHED);
	if (!self->lag_backoff)
		self->lag_backoff = LAG_BACKOFF_MIN;
	if (pages >= LAG_LONG_RUN) {
		self->lag_backoff = LAG_BACKOFF_MIN;
	} else if (touched) {
		/* Accepted, then used at once: deferring only adds a fault. */
		self->lag_eager = self->lag_backoff;
		if (self->lag_backoff < LAG_BACKOFF_MAX)
			self->lag_backoff *= 2;
	}
}

/* Open the thread's run in enclave mode. Return: true, or false if the thread AEXed (see os_refresh). */
static bool lag_open(struct exec_thread *self, bool touched, const siginfo_t *si, ucontext_t *uc)
{
	if (self->lag_lo == self->lag_hi)
		return true;
	if (!os_refresh_range(self, self->lag_lo, self->lag_hi - self->lag_lo, si, uc))
		return false; /* the thread AEXed; the run stays, opened later */
	lag_opened(self, touched);
	return true;
}

void exec_deferred_open_now(struct exec_thread *self)
{
	if (self->lag_lo == self->lag_hi)
		return;
	if (exec_os_cur.refresh)
		while (exec_os_cur.refresh(exec_os_cur.ctx, self->lag_lo, self->lag_hi - self->lag_lo) == -EAGAIN)
			sched_yield();
	lag_opened(self, false);
}

/* After enclave code's EACCEPT, EACCEPTCOPY or EMODPE of the page at addr changed its EPCM entry. */
static bool leaf_refresh(struct exec_thread *self, uint64_t leaf, uint64_t addr, const siginfo_t *si, ucontext_t *uc)
{
	if (leaf == ENCLU_EACCEPT && lag_take(self, addr))
		return true;
	return lag_open(self, false, si, uc) && os_refresh(self, addr, si, uc);
}

/* ---- the EDMM protocol checker ---- */

bool exec_check_on;
_Atomic uint64_t exec_stat_check;

static void (*check_note)(const char *msg, uint64_t page, uint64_t rip);

void exec_check_set(bool on, void (*note)(const char *msg, uint64_t page, uint64_t rip))
{
	exec_check_on = on;
	check_note = note;
}

/* A checker report: "sgxemu: check: MSG; PLACE enclave+OFF, code at enclave+OFF, thread N" on stderr. */
static void check_report(struct exec_thread *self, const char *msg, const char *place, uint64_t at, uint64_t rip)
{
	atomic_fetch_add_explicit(&exec_stat_check, 1, memory_order_relaxed);
	if (check_note)
		check_note(msg, at, rip);
	elrange_cache(self);
	char line[640], *p = line;
	size_t n = strnlen(msg, 320);
	p = str(p, "sgxemu: check: ");
	memcpy(p, msg, n);
	p += n;
	p = str(p, "; ");
	p = str(p, place);
	p = str(p, " enclave+");
	p = hexs(p, at - self->elr_base);
	p = str(p, ", code at enclave+");
	p = hexs(p, rip - self->elr_base);
	p = str(p, ", thread ");
	p = dec64(p, self->ordinal);
	*p++ = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)(p - line));
	(void)w;
}

/* Ask the OS whether enclave code's access to addr at rip (fault errcode) was a protocol mistake; report it. */
static void check_access(struct exec_thread *self, uint64_t rip, uint64_t addr, uint32_t errcode)
{
	if (!exec_os_cur.check)
		return;
	char msg[320];
	if (!exec_os_cur.check(exec_os_cur.ctx, addr, errcode, msg, sizeof(msg)))
		return;
	check_report(self, msg, "page", page_of(addr), rip);
}

/*
 * The checker, after enclave code's leaf completed: an EACCEPT or
 * EACCEPTCOPY that took a change this thread did not ask for; an EEXIT
 * that leaves a change its own requests made unaccepted.
 */
static void check_leaf(struct exec_thread *self, uint64_t leaf, struct hw_result r, uint64_t rcx, uint64_t tcs,
		       uint64_t rip)
{
	char msg[320];
	uint64_t page = 0;
	if ((leaf == ENCLU_EACCEPT || leaf == ENCLU_EACCEPTCOPY) && hw_is_ok(r) && exec_os_cur.check_accept) {
		if (exec_os_cur.check_accept(exec_os_cur.ctx, rcx, self->tid, msg, sizeof(msg)))
			check_report(self, msg, "page", page_of(rcx), rip);
	} else if (leaf == ENCLU_EEXIT && !self->t.in_enclave && exec_os_cur.check_exit) {
		if (exec_os_cur.check_exit(exec_os_cur.ctx, tcs, self->tid, msg, sizeof(msg), &page))
			check_report(self, msg, "page", page, rip);
	}
}

/*
 * The checker, after the AEX of an exception nobody fixed: when it took the
 * last SSA frame (CSSA = NSSA now) of a TCS with frames for a handler
 * (NSSA >= 2; with one frame there is no handler by design), the enclave
 * cannot be entered to handle it.
 */
static void check_ssa(struct exec_thread *self, uint64_t rip, const struct hw_event *ev)
{
	uint32_t cssa, nssa;
	if (!hw_tcs_ssa(self->t.m, self->t.tcs_pa, &cssa, &nssa) || cssa < nssa || nssa < 2)
		return;
	char msg[256], *p = msg;
	p = str(p, "SSA frames exhausted: the exception (vector ");
	p = dec64(p, ev->vector);
	p = str(p, ") took the last one, CSSA = NSSA = ");
	p = dec64(p, nssa);
	p = str(p, ", so the enclave cannot be entered to handle it (an exception inside its exception handler?)");
	*p = 0;
	check_report(self, msg, "TCS", self->t.tcs_lin, rip);
}

/*
 * The AEX for ev, then: the OS's #PF handler (and the AEP's ERESUME at once
 * when it fixed the page), a signal for #DB/#BP, interrupts and foreign
 * AEPs, or the report at sgxemu_enter_enclave's AEP.
 * Return: true when that ERESUME ran here and the thread is back in enclave
 * mode (the context resumes it), false otherwise.
 */
static bool aex(struct exec_thread *self, const struct hw_event *ev, const siginfo_t *si, ucontext_t *uc)
{
	struct hw_thread *t = &self->t;
	uint64_t rip = t->regs.rip;
	exec_xsave_from_uc(t, uc);
	struct hw_event os = hw_aex(t, ev);
	/* A page the OS adds or loads on the fault is no mistake; a fault on a page that is there may be. */
	if (exec_check_on && ev->vector == X86_PF && !os_fixable(ev))
		check_access(self, rip, ev->addr, ev->errcode);
	exec_state_leave(self, uc);
	exec_note_exit(self);

	enum exec_fault f = EXEC_FAULT_SIGSEGV;
	if (os_fixable(ev)) {
		f = exec_os_cur.fault(exec_os_cur.ctx, ev->addr, ev->errcode);
		if (f == EXEC_FAULT_FIXED) {
			retry_check(self, rip, ev->addr, "a #PF the OS fixed");
			if (vdso_aep(t->aep)) {
				/* The AEP is ENCLU with RAX = ERESUME: execute it now. */
				enclu_outside(self, si, uc);
				return t->in_enclave;
			}
			exec_return_host(self, uc);
			exec_xsave_to_uc(uc, t);
			return false;
		}
	}
	if (exec_check_on && !ev->interrupt)
		check_ssa(self, rip, ev);
	exec_return_host(self, uc);
	exec_xsave_to_uc(uc, t);
	/*
	 * The program's handler runs at the AEP; the context goes on from there
	 * (exec_aep_resume).  A default action (a core dump, a debugger's stop)
	 * finds the context at the AEP itself.
	 */
	unsigned long handlers = exec_handlers_ran;
	if (ev->interrupt) {
		exec_chain(si->si_signo, (siginfo_t *)si, uc);
		if (exec_handlers_ran != handlers)
			exec_aep_resume(uc);
		return false;
	}
	if (ev->vector == X86_DB || ev->vector == X86_BP || !vdso_aep(t->aep)) {
		deliver(&os, f, si, uc);
		if (exec_handlers_ran != handlers)
			exec_aep_resume(uc);
		return false;
	}
	report_vdso(uc, &os);
	return false;
}

/* ---- chaos mode ---- */

struct exec_chaos exec_chaos_cfg;
bool exec_chaos_on, exec_chaos_step;
_Atomic uint64_t exec_stat_chaos_intr, exec_stat_chaos_evict, exec_stat_chaos_timer, exec_stat_chaos_step;
_Atomic unsigned exec_thread_count;

int exec_chaos_set(const struct exec_chaos *c)
{
	if (atomic_load(&exec_thread_count))
		return -EBUSY;
	exec_chaos_cfg = *c;
	exec_chaos_on = c->interrupt_every || c->evict_every;
	exec_chaos_step = c->step_every != 0;
	/* The timer kind needs no decision at ENCLUs: its threads get their timer at their first entry. */
	return 0;
}

/* The thread's CPU-time timer of the timer kind: EXEC_KICK_SIGNAL every timer_usec, told apart by its value. */
static void chaos_timer_start(struct exec_thread *self)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = EXEC_KICK_SIGNAL;
	sev.sigev_value.sival_ptr = (void *)(uintptr_t)EXEC_CHAOS_TIMER_MAGIC;
	sev._sigev_un._tid = self->tid;
	int id;
	if (syscall(SYS_timer_create, CLOCK_THREAD_CPUTIME_ID, &sev, &id) != 0)
		exec_die("sgxemu: chaos mode: timer_create for the timer kind failed\n");
	uint64_t ns = (uint64_t)exec_chaos_cfg.timer_usec * 1000;
	struct itimerspec its = {
	    .it_interval = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)}};
	its.it_value = its.it_interval;
	if (syscall(SYS_timer_settime, id, 0, &its, NULL) != 0)
		exec_die("sgxemu: chaos mode: timer_settime for the timer kind failed\n");
	self->chaos_timer = id;
	self->chaos_timer_on = true;
}

void exec_chaos_thread_stop(struct exec_thread *self)
{
	if (self->chaos_timer_on)
		syscall(SYS_timer_delete, self->chaos_timer);
	self->chaos_timer_on = false;
}

/* splitmix64: the next value of a stream. */
static uint64_t chaos_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void exec_chaos_thread_start(struct exec_thread *self)
{
	self->ordinal = atomic_fetch_add(&exec_thread_count, 1);
	uint64_t s = exec_chaos_cfg.seed ^ ((uint64_t)self->ordinal << 32);
	self->chaos_rng = chaos_next(&s);
	self->chaos_last_rip = 0;
	self->chaos_count = 0;
	self->chaos_timer_on = false;
	self->step_rip = 0;
	self->steps = 0;
	if (exec_chaos_cfg.timer_usec)
		chaos_timer_start(self);
}

static const char *leaf_name(uint64_t leaf)
{
	static const char *const names[] = {"EREPORT", "EGETKEY", "EENTER",	 "ERESUME",	   "EEXIT",
					    "EACCEPT", "EMODPE",  "EACCEPTCOPY", "EVERIFYREPORT2", "EDECCSSA"};
	return leaf < sizeof(names) / sizeof(names[0]) ? names[leaf] : "unknown leaf";
}

/* "sgxemu: chaos: thread N #K: " at p, the start of every line of an injection on a thread. */
static char *chaos_prefix(char *p, const struct exec_thread *self, uint64_t count)
{
	p = str(p, "sgxemu: chaos: thread ");
	p = dec64(p, self->ordinal);
	p = str(p, " #");
	p = dec64(p, count);
	return str(p, ": ");
}

/* The pages the ENCLU at rip may touch: its memory operands in the ELRANGE and its code page. Return: how many. */
static unsigned chaos_targets(struct exec_thread *self, uint64_t out[4])
{
	const struct hw_regs *r = &self->t.regs;
	unsigned n = 0;
	uint64_t ops[3] = {0};
	switch (r->rax) {
	case ENCLU_EACCEPTCOPY:
	case ENCLU_EREPORT:
		ops[2] = r->rdx;
		/* fall through */
	case ENCLU_EACCEPT:
	case ENCLU_EMODPE:
	case ENCLU_EGETKEY:
		ops[0] = r->rbx;
		ops[1] = r->rcx;
		break;
	default:
		break;
	}
	for (unsigned i = 0; i < 3; i++)
		if (ops[i] && in_elrange(self, ops[i]))
			out[n++] = page_of(ops[i]);
	out[n++] = page_of(r->rip);
	return n;
}

/* Evict page target (0: none) for chaos mode, counted.  Return: 0 or the OS's -errno. */
static int chaos_evict(uint64_t target)
{
	if (!target)
		return 0;
	int er = exec_os_cur.evict ? exec_os_cur.evict(exec_os_cur.ctx, target) : -ENOSYS;
	if (!er)
		atomic_fetch_add_explicit(&exec_stat_chaos_evict, 1, memory_order_relaxed);
	return er;
}

/* "; evicted enclave+OFF" (or why not) at p for an injection's line; nothing without a target. */
static char *chaos_evict_text(char *p, const struct exec_thread *self, uint64_t target, int er)
{
	if (!target)
		return p;
	p = str(p, er ? "; eviction of enclave+" : "; evicted enclave+");
	p = hexs(p, target - self->elr_base);
	if (er == -EBUSY)
		p = str(p, " refused (busy)");
	else if (er)
		p = str(p, " refused (not in the EPC)");
	return p;
}

/*
 * Chaos mode at an ENCLU of enclave code (the thread model holds its
 * registers): draw whether an interrupt arrives right before it, and
 * whether a page it needs is evicted meanwhile; if so, the AEX, the
 * eviction, a line on stderr, and the ERESUME at sgxemu_enter_enclave's
 * AEP (a foreign AEP gets the context and executes its own).
 * Return: true when it interrupted (the context is set up).
 */
static bool chaos_inject(struct exec_thread *self, const siginfo_t *si, ucontext_t *uc)
{
	struct hw_thread *t = &self->t;
	uint64_t rip = t->regs.rip, leaf = t->regs.rax;
	if (self->chaos_last_rip == rip) {
		self->chaos_last_rip = 0;
		return false;
	}
	uint64_t r = chaos_next(&self->chaos_rng);
	const struct exec_chaos *c = &exec_chaos_cfg;
	bool intr = c->interrupt_every && r % c->interrupt_every == 0;
	bool evict = c->evict_every && (r >> 21) % c->evict_every == 0;
	if (!intr && !evict)
		return false;
	elrange_cache(self);
	uint64_t targets[4], target = 0;
	if (evict) {
		unsigned n = chaos_targets(self, targets);
		target = targets[(r >> 42) % n];
	}
	self->chaos_last_rip = rip;
	uint64_t count = self->chaos_count++;
	interrupt_leave(self, uc);
	atomic_fetch_add_explicit(&exec_stat_chaos_intr, 1, memory_order_relaxed);
	int er = chaos_evict(target);
	if (exec_chaos_cfg.note)
		exec_chaos_cfg.note("interrupt", rip, target, er);
	if (!exec_chaos_cfg.quiet) {
		char line[256], *p = line;
		p = chaos_prefix(p, self, count);
		p = str(p, "interrupt at ENCLU[");
		p = str(p, leaf_name(leaf));
		p = str(p, "], enclave+");
		p = hexs(p, rip - self->elr_base);
		p = chaos_evict_text(p, self, target, er);
		*p++ = '\n';
		ssize_t w = write(STDERR_FILENO, line, (size_t)(p - line));
		(void)w;
	}
	interrupt_resume(self, si, uc);
	return true;
}

/*
 * Enclave code executes the instruction at t->regs.rip: if it is ENCLU,
 * the leaf in the model, then EEXIT's return to the host, the next
 * instruction, or the leaf's exception.  Its bytes are read through the
 * page tables, as fetched (hw_enclu_at).  The host did fetch them, but the
 * OS may have taken the page away since (the reclaimer blocks the pages of
 * running threads before it kicks them out): then *fetch is that fetch's
 * fault, which the thread takes as if the page had gone just before the
 * fetch.  The fetch and the leaf take the machine's lock once
 * (hw_enclu_fetched), except in chaos mode, which may interrupt the thread
 * between the two.  Return false, with *fetch, when the instruction is not
 * ENCLU or its fetch faulted: nothing was done.
 *
 * When the leaf faulted on a page the OS then brought in, the AEX and the
 * AEP's ERESUME already ran here (aex() at sgxemu_enter_enclave's AEP) and
 * the enclave would execute the same ENCLU again as its next instruction:
 * it runs again here, in the same signal, instead of after a return to the
 * enclave and a second trap.  Nothing could tell the difference: no signal
 * handler of the program and no user_handler runs between the AEX and the
 * ERESUME at that AEP, and the context the ENCLU runs with is exactly the
 * one ERESUME restored.
 */
static bool enclave_enclu(struct exec_thread *self, const siginfo_t *si, ucontext_t *uc, struct hw_result *fetch)
{
	struct hw_thread *t = &self->t;
	for (unsigned round = 0;; round++) {
		uint64_t rip = t->regs.rip, leaf = t->regs.rax, rcx = t->regs.rcx, tcs = t->tcs_lin;
		struct hw_result r;
		if (exec_chaos_on) {
			if (!hw_enclu_at(t, fetch))
				return round > 0;
			if (!round && chaos_inject(self, si, uc))
				return true;
			r = hw_enclu(t);
		} else if (!hw_enclu_fetched(t, fetch, &r)) {
			return round > 0;
		}
		if (round)
			exec_count(self, EXEC_COUNT_SHORT);
		if (r.kind != HW_FAULT) {
			t->regs.rflags &= ~RFLAGS_RF;
			if (exec_check_on)
				check_leaf(self, leaf, r, rcx, tcs, rip);
			if (!t->in_enclave) {
				/* EEXIT: the registers are the target's, FS/GS the host's. */
				exec_state_leave(self, uc);
				exec_note_exit(self);
				self->retries = 0;
				exec_return_host(self, uc);
				return true;
			}
			t->regs.rip = rip + 3;
			if (hw_is_ok(r) && changes_epcm(leaf) && !leaf_refresh(self, leaf, rcx, si, uc))
				return true;
			exec_resume_enclave(self, uc, false);
			return true;
		}
		struct hw_event ev = event_of(r);
		if (!aex(self, &ev, si, uc))
			return true;
		/* Resumed: the context continues at the ENCLU unless it runs again here. */
		if (!exec_short_path || t->regs.rip != rip)
			return true;
	}
}

/*
 * The vector and error code of a fault of enclave code, from its signal.
 * The kernel's frames carry both (REG_TRAPNO, REG_ERR).  A frame built by
 * something else may not: valgrind's, for a fault its own CPU found (a
 * jump to a page the host maps PROT_NONE), carries neither.  A SIGSEGV
 * with SEGV_MAPERR, SEGV_ACCERR or SEGV_PKUERR is a #PF whatever the frame
 * says; when the frame's vector is not #PF, the error code is rebuilt
 * from what the signal tells: present for ACCERR/PKUERR, PK for PKUERR,
 * I when the address is the instruction's own, user mode always.
 */
static uint8_t host_vector(int sig, const siginfo_t *si, const ucontext_t *uc, uint32_t *err)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	uint8_t vector = (uint8_t)g[REG_TRAPNO];
	*err = (uint32_t)g[REG_ERR];
	bool page_fault =
	    sig == SIGSEGV && (si->si_code == SEGV_MAPERR || si->si_code == SEGV_ACCERR || si->si_code == SEGV_PKUERR);
	if (!page_fault || vector == X86_PF)
		return vector;
	uint64_t addr = (uint64_t)(uintptr_t)si->si_addr, rip = (uint64_t)g[REG_RIP];
	*err = PF_U | (si->si_code != SEGV_MAPERR ? PF_P : 0) | (si->si_code == SEGV_PKUERR ? PF_PK : 0) |
	       (addr - rip < 16 ? PF_I : 0);
	return X86_PF;
}

/* The thread model's registers from the context of enclave code (FS/GS: the enclave's). */
static void enclave_regs(struct exec_thread *self, const ucontext_t *uc)
{
	struct hw_thread *t = &self->t;
	exec_regs_from_uc(&t->regs, uc);
	/* The step kind's TF is exec's, not the enclave's (an opt-out entry runs with TF clear). */
	if (exec_chaos_step)
		t->regs.rflags &= ~RFLAGS_TF;
	if (self->cur_valid) {
		t->regs.fsbase = self->cur_fs;
		t->regs.gsbase = self->cur_gs;
	} else {
		t->regs.fsbase = self->encl_fs;
		t->regs.gsbase = self->encl_gs;
	}
}

void exec_kick_signal(struct exec_thread *self, siginfo_t *si, ucontext_t *uc)
{
	enclave_regs(self, uc);
	kick_aex(self, si, uc);
}

void exec_chaos_timer_signal(struct exec_thread *self, siginfo_t *si, ucontext_t *uc)
{
	enclave_regs(self, uc);
	uint64_t rip = self->t.regs.rip, count = self->chaos_count++;
	interrupt_leave(self, uc);
	atomic_fetch_add_explicit(&exec_stat_chaos_timer, 1, memory_order_relaxed);
	if (exec_chaos_cfg.note)
		exec_chaos_cfg.note("timer", rip, 0, 0);
	if (!exec_chaos_cfg.quiet) {
		elrange_cache(self);
		char line[160], *p = line;
		p = chaos_prefix(p, self, count);
		p = str(p, "timer interrupt at enclave+");
		p = hexs(p, rip - self->elr_base);
		*p++ = '\n';
		ssize_t w = write(STDERR_FILENO, line, (size_t)(p - line));
		(void)w;
	}
	interrupt_resume(self, si, uc);
}

/* ---- the step kind ---- */

/*
 * The byte of enclave memory at lin, through the page tables (the EPC
 * alias), for an access of kind acc; NULL if the access would fault.
 */
static volatile uint8_t *step_byte(struct hw_thread *t, uint64_t lin, unsigned acc)
{
	uint64_t pa;
	struct hw_result r = hw_access_check(t, lin, acc, &pa);
	return hw_is_ok(r) ? (volatile uint8_t *)(uintptr_t)pa : NULL;
}

/* Is the enclave instruction at rip PUSHF (0x9C) or POPF (0x9D), after operand-size and REX prefixes? */
static uint8_t step_flags_insn(struct exec_thread *self, uint64_t rip)
{
	if (!in_elrange(self, rip))
		return 0;
	for (unsigned i = 0; i < 4; i++) {
		volatile uint8_t *b = step_byte(&self->t, rip + i, HW_ACC_X);
		if (!b)
			return 0;
		uint8_t op = *b;
		if (op == 0x66 || (op & 0xF0) == 0x40)
			continue;
		return op == 0x9C || op == 0x9D ? op : 0;
	}
	return 0;
}

/* Set or clear TF (bit 8: bit 0 of the second byte) in the RFLAGS image at lin on the enclave's stack. */
static void step_stack_tf(struct exec_thread *self, uint64_t lin, bool set)
{
	if (!in_elrange(self, lin + 1))
		return;
	volatile uint8_t *b = step_byte(&self->t, lin + 1, HW_ACC_W);
	if (b)
		*b = set ? (uint8_t)(*b | 1) : (uint8_t)(*b & ~1);
}

/* The PUSHF just stepped, if the instruction before rip was one, stored exec's TF: clear it in its image. */
static void step_fix_pushf(struct exec_thread *self, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = (uint64_t)g[REG_RIP];
	if (self->step_rip && self->step_rip != rip && step_flags_insn(self, self->step_rip) == 0x9C)
		step_stack_tf(self, (uint64_t)g[REG_RSP], false);
}

void exec_step_arm(struct exec_thread *self, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = (uint64_t)g[REG_RIP];
	elrange_cache(self);
	step_fix_pushf(self, uc);
	/* A POPF about to run would load the enclave's RFLAGS without TF and end the stepping. */
	if (step_flags_insn(self, rip) == 0x9D)
		step_stack_tf(self, (uint64_t)g[REG_RSP], true);
	self->step_rip = rip;
	g[REG_EFL] |= (greg_t)RFLAGS_TF;
}

/*
 * Is this SIGTRAP the #DB of exec's TF?  TRAP_TRACE says so (DR6.BS); the
 * host also reports some of them as TRAP_BRKPT (seen in a KVM guest with
 * several threads stepping: DR6 without BS), so a #DB with TF set in the
 * context counts too.  An INT1 of enclave code while stepping would count
 * as well; nothing else raises #DB there (no debugger runs with chaos).
 */
bool exec_step_trap(const siginfo_t *si, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	if (si->si_code == TRAP_TRACE)
		return true;
	return si->si_code == TRAP_BRKPT && g[REG_TRAPNO] == X86_DB && ((uint64_t)g[REG_EFL] & RFLAGS_TF);
}

/*
 * The step kind, after one instruction of enclave code (#DB of TF): one
 * in step_every is interrupted there (AEX, ERESUME at the AEP), drawn from
 * the thread's stream, so the same instructions get the same interrupts.
 * The others go on: back to enclave code with its FS/GS, TF set again.
 */
static void chaos_step(struct exec_thread *self, const siginfo_t *si, ucontext_t *uc)
{
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP], rsp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
	uint64_t n = ++self->steps, r = chaos_next(&self->chaos_rng);
	if (r % exec_chaos_cfg.step_every != 0) {
		if (self->cur_valid) {
			self->encl_fs = self->cur_fs;
			self->encl_gs = self->cur_gs;
		}
		self->load_enclave = 1;
		exec_step_arm(self, uc);
		return;
	}
	elrange_cache(self);
	step_fix_pushf(self, uc);
	self->step_rip = 0;
	enclave_regs(self, uc);
	/*
	 * With the evict kind too, one interrupt in evict_every also evicts the
	 * page the next instruction is fetched from or its stack page: the
	 * access after the ERESUME faults, in a handler too.
	 */
	uint64_t target = 0;
	if (exec_chaos_cfg.evict_every && (r >> 21) % exec_chaos_cfg.evict_every == 0) {
		target = page_of((r >> 42) & 1 ? rsp : rip);
		if (!in_elrange(self, target))
			target = 0;
	}
	uint64_t count = self->chaos_count++;
	interrupt_leave(self, uc);
	atomic_fetch_add_explicit(&exec_stat_chaos_step, 1, memory_order_relaxed);
	int er = chaos_evict(target);
	if (exec_chaos_cfg.note)
		exec_chaos_cfg.note("step", rip, target, er);
	if (!exec_chaos_cfg.quiet) {
		char line[256], *p = line;
		p = chaos_prefix(p, self, count);
		p = str(p, "interrupt after instruction ");
		p = dec64(p, n);
		p = str(p, ", at enclave+");
		p = hexs(p, rip - self->elr_base);
		p = chaos_evict_text(p, self, target, er);
		*p++ = '\n';
		ssize_t w = write(STDERR_FILENO, line, (size_t)(p - line));
		(void)w;
	}
	interrupt_resume(self, si, uc);
}

void exec_enclave_signal(struct exec_thread *self, int sig, siginfo_t *si, ucontext_t *uc)
{
	struct hw_thread *t = &self->t;
	enclave_regs(self, uc);
	uint64_t rip = t->regs.rip;
	struct hw_event ev;

	if (sig == SIGTRAP && exec_chaos_step && exec_step_trap(si, uc)) {
		chaos_step(self, si, uc);
		return;
	}
	if (!exec_sync_signal(sig, si)) {
		/* Sent by a process, a timer or the terminal: an interrupt, not an exception of this code. */
		ev = (struct hw_event){.interrupt = true};
		aex(self, &ev, si, uc);
		return;
	}

	if (sig == SIGSYS) {
		/* Syscall User Dispatch refused a system call of enclave code: the instruction's #UD. */
		ev = exec_sud_event(self, si);
		aex(self, &ev, si, uc);
		return;
	}

	struct hw_result fetch = hw_ok();
	if (exec_enclu_trap_kind(sig, si, uc) && enclave_enclu(self, si, uc, &fetch))
		return;
	if (!hw_is_ok(fetch)) {
		ev = event_of(fetch);
		aex(self, &ev, si, uc);
		return;
	}

	uint32_t herr;
	uint8_t vector = host_vector(sig, si, uc, &herr);
	ev = (struct hw_event){.vector = vector, .errcode = herr};
	ev.has_errcode = vector_has_errcode(vector);
	ev.software = vector == X86_BP;
	if (vector == X86_GP && exec_enclave_ud_at(t, rip)) {
		/* Illegal in an enclave, refused by the host with #GP (INT n, IN, CPUID faulting ...). */
		ev = (struct hw_event){.vector = X86_UD};
	}
	if (vector == X86_PF) {
		uint64_t addr = (uint64_t)(uintptr_t)si->si_addr, pa;
		unsigned acc = (herr & PF_I) ? HW_ACC_X : (herr & PF_W) ? HW_ACC_W : HW_ACC_R;
		struct hw_result r = hw_access_check(t, addr, acc, &pa);
		if (hw_is_ok(r)) {
			if (in_elrange(self, addr)) {
				if (herr & PF_PK)
					exec_die(
					    "sgxemu: a protection-key fault on an enclave page the enclave may access: "
					    "the OS did not map it with the enclave's key (exec_pkey_of)\n");
				/* Page tables and EPCM allow it: the host protection is stale. */
				if (exec_check_on)
					check_access(self, rip, addr, 0xFFFFFFFFU);
				retry_check(self, rip, addr, "a stale host protection refreshed");
				if (page_of(addr) >= self->lag_lo && page_of(addr) < self->lag_hi) {
					if (!lag_open(self, true, si, uc))
						return;
				} else if (!os_refresh(self, addr, si, uc)) {
					return;
				}
				exec_resume_enclave(self, uc, false);
				return;
			}
			/* Host memory the host refuses: the host's #PF as it is. */
			ev.errcode = (herr & (PF_P | PF_W | PF_RSVD | PF_I | PF_PK)) | PF_U;
			ev.addr = addr;
		} else {
			ev = event_of(r);
		}
	}
	aex(self, &ev, si, uc);
}
