/* SPDX-License-Identifier: MIT */
/*
 * The host side of an entry without a trap (direct.S): the signal frame the
 * kernel would have built for sgxemu_enter_enclave's ENCLU, built by hand
 * on the thread's signal stack, so that exec's trampoline performs the leaf
 * and the context continues in the enclave exactly as after the trap; and
 * the signals that arrive meanwhile, put off until the enclave runs
 * (docs/exec.md, "Signals during an entry").
 *
 * The frame's parts that depend on the host (uc_flags, the segment word,
 * the XSAVE features and size the kernel puts in its frames) are copied
 * from the first real frame exec sees for an ENCLU of host code
 * (exec_direct_learn); until then, and when the path is off, every entry
 * traps.  Off: SGXEMU_EXEC_NO_DIRECT set at install, under valgrind (its
 * signal frames are its own), or a frame without an XSAVE image.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"
#include "exec_int.h"

/* The software bytes of an XSAVE image in a signal frame (the kernel's struct _fpx_sw_bytes). */
#define SW_MAGIC1	 464
#define SW_EXTENDED_SIZE 468
#define SW_XFEATURES	 472
#define SW_XSTATE_SIZE	 480
#define FP_XSTATE_MAGIC1 0x46505853U
#define FP_XSTATE_MAGIC2 0x46505845U
#define MAGIC2_SIZE	 4
#define SI_KERNEL_CODE	 0x80
#define FX_SW_BYTES	 464
#define TRAP_GP		 13
#define RFLAGS_RF	 (1ULL << 16)

/* What direct.S pushed, lowest address first; ret is the ENCLU's address, the caller's RSP right above it. */
struct exec_direct_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax, rflags, ret;
};

/* The kernel's x86-64 rt_sigframe: the restorer's address, the ucontext (8-byte mask), the siginfo. */
struct direct_frame {
	uint64_t pretcode;
	struct {
		uint64_t uc_flags;
		uint64_t uc_link;
		stack_t uc_stack;
		mcontext_t uc_mcontext;
		uint64_t uc_sigmask;
	} uc;
	siginfo_t info;
};
_Static_assert(offsetof(struct direct_frame, info) == EXEC_DIRECT_INFO, "EXEC_DIRECT_INFO");
_Static_assert(offsetof(struct direct_frame, uc) == 8, "the ucontext follows the restorer");
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) == EXEC_UC_GREGS, "EXEC_UC_GREGS");
_Static_assert(offsetof(ucontext_t, uc_mcontext.fpregs) == EXEC_UC_FPREGS, "EXEC_UC_FPREGS");
_Static_assert(offsetof(ucontext_t, uc_sigmask) == EXEC_UC_SIGMASK, "EXEC_UC_SIGMASK");
_Static_assert(REG_R8 == 0 && REG_R12 == 4 && REG_RDI == 8 && REG_RAX == 13 && REG_RSP == 15 && REG_RIP == 16 &&
		   REG_EFL == 17,
	       "direct.S loads gregs[] in this order");

EXEC_HIDDEN void exec_direct_restorer(void);

uint8_t exec_direct_on, exec_entry_armed;
/*
 * The callers' masks of entries whose ENCLU traps, by the caller's RSP at
 * the ENCLU, most recent last (exec_direct_place keeps them,
 * exec_direct_trap_mask takes them): a handler that runs between the
 * mask's change and the trap may make such an entry of its own.
 */
struct trap_mask {
	uint64_t rsp, mask;
};
static __thread struct trap_mask trap_masks[EXEC_TRAP_MASKS] __attribute__((tls_model("initial-exec")));
static __thread unsigned trap_mask_n __attribute__((tls_model("initial-exec")));
uint64_t exec_direct_xsize, exec_direct_xfeatures, exec_direct_own;
bool exec_direct_allowed, exec_direct_no_load, exec_bare_allowed;
_Atomic uint64_t exec_stat_direct_rolled, exec_stat_direct_deferred, exec_stat_direct_lost;
static uint64_t frame_flags, frame_segments;

void exec_direct_learn(const ucontext_t *uc)
{
	if (!exec_direct_allowed || __atomic_load_n(&exec_direct_on, __ATOMIC_ACQUIRE))
		return;
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t magic, size;
	uint64_t features;
	memcpy(&magic, fp + SW_MAGIC1, sizeof(magic));
	if (magic != FP_XSTATE_MAGIC1)
		return;
	memcpy(&size, fp + SW_XSTATE_SIZE, sizeof(size));
	memcpy(&features, fp + SW_XFEATURES, sizeof(features));
	if (size < EXEC_XSAVE_LEGACY + 64 || size > EXEC_BLOCK_SIZE / 4)
		return;
	frame_flags = uc->uc_flags;
	frame_segments = (uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS];
	exec_direct_xsize = size;
	exec_direct_xfeatures = features;
	__atomic_store_n(&exec_direct_on, 1, __ATOMIC_RELEASE);
}

/* The frame below the XSAVE image at fp: its restorer slot 8 bytes below a 16-byte boundary, as the kernel's. */
EXEC_GENERAL_REGS static inline struct direct_frame *frame_below(const uint8_t *fp)
{
	return (struct direct_frame *)(uintptr_t)((((uint64_t)(uintptr_t)fp - sizeof(struct direct_frame)) & ~15ULL) -
						  8);
}

/*
 * The entry's ENCLU is going to trap (no frame by hand): exec's own signals
 * are opened for it, since a thread that blocks them would be killed by
 * that trap (the kernel forces a blocked fault), and the caller's mask is
 * kept for exec_host_enclu.  Return NULL.
 */
EXEC_GENERAL_REGS static uint8_t *to_trap(uint64_t rsp)
{
	uint64_t old;
	if (exec_sud_sigprocmask(SIG_UNBLOCK, &exec_direct_own, &old) == 0)
		exec_direct_trap_keep(rsp, old);
	return NULL;
}

void exec_direct_trap_keep(uint64_t rsp, uint64_t old)
{
	/* An earlier entry at this very RSP that never trapped is done, and so is any after it. */
	unsigned n = trap_mask_n;
	for (unsigned i = 0; i < n; i++)
		if (trap_masks[i].rsp == rsp)
			n = i;
	if (n == EXEC_TRAP_MASKS) {
		for (unsigned i = 1; i < EXEC_TRAP_MASKS; i++) {
			trap_masks[i - 1].rsp = trap_masks[i].rsp;
			trap_masks[i - 1].mask = trap_masks[i].mask;
		}
		n--;
	}
	trap_masks[n].rsp = rsp;
	trap_masks[n].mask = old;
	trap_mask_n = n + 1;
}

bool exec_direct_trap_mask(uint64_t rsp, uint64_t *mask)
{
	for (unsigned n = trap_mask_n; n; n--) {
		if (trap_masks[n - 1].rsp == rsp) {
			*mask = trap_masks[n - 1].mask;
			trap_mask_n = n - 1;
			return true;
		}
	}
	return false;
}

/* The registers at sgxemu_enter_enclave's ENCLU (RIP the ENCLU, RSP the caller's), from what direct.S pushed. */
EXEC_GENERAL_REGS static void regs_at_enclu(const struct exec_direct_regs *r, struct hw_regs *g)
{
	g->rax = r->rax;
	g->rcx = r->rcx;
	g->rdx = r->rdx;
	g->rbx = r->rbx;
	g->rsp = (uint64_t)(uintptr_t)&r->ret + 8;
	g->rbp = r->rbp;
	g->rsi = r->rsi;
	g->rdi = r->rdi;
	g->r8 = r->r8;
	g->r9 = r->r9;
	g->r10 = r->r10;
	g->r11 = r->r11;
	g->r12 = r->r12;
	g->r13 = r->r13;
	g->r14 = r->r14;
	g->r15 = r->r15;
	g->rflags = r->rflags;
	g->rip = r->ret;
}

/* One more event of kind i on the thread's own block (exec_count, for general-purpose registers only). */
EXEC_GENERAL_REGS static void bare_count(struct exec_thread *self, unsigned i)
{
	__atomic_store_n(&self->counts[i], __atomic_load_n(&self->counts[i], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/*
 * A bare entry (docs/exec.md, "Bare entries"): the EENTER performed right
 * here, by code that uses general-purpose registers only (this file's
 * EXEC_GENERAL_REGS functions and hw_enclu_eenter_tlb), so that the
 * caller's vector, x87 and mask registers are still in the CPU when
 * exec_direct_load jumps into the enclave, which receives them from EENTER:
 * no XSAVE into the frame, no XRSTOR from it, no trampoline.  The frame
 * holds what the load and a signal in its window read: the registers,
 * RFLAGS and the enclave's mask, and no XSAVE image (fpregs NULL).  Where
 * the leaf declines (its pages not in the thread's TLB, another enclave
 * than the thread's last in this install of exec, the leaf would fault ...) or where exec needs more
 * (protection keys, chaos mode, the checker), NULL: nothing changed, and
 * the entry goes the usual way, which gives every outcome exactly.
 */
EXEC_GENERAL_REGS static struct direct_frame *bare_entry(struct exec_thread *self, const struct exec_direct_regs *r,
							 uint8_t *fp, uint64_t host_mask)
{
	struct hw_thread *t = &self->t;
	if (!exec_bare_allowed || r->rax != ENCLU_EENTER || exec_chaos_on || exec_chaos_step || exec_check_on ||
	    exec_pkey_mask() || !self->elr_eid || self->elr_gen != exec_install_gen || t->m != exec_os_cur.m ||
	    t->mmu != exec_os_cur.mmu)
		return NULL;
	uint64_t fs, gs;
	__asm__ volatile("rdfsbase %0" : "=r"(fs));
	__asm__ volatile("rdgsbase %0" : "=r"(gs));
	struct hw_regs *g = &t->regs;
	regs_at_enclu(r, g);
	g->fsbase = fs;
	g->gsbase = gs;
	if (!hw_enclu_eenter_tlb(t, self->elr_eid))
		return NULL;
	/* What exec_host_enclu and exec_resume_enclave record after an EENTER. */
	g->rflags &= ~RFLAGS_RF;
	self->host_fs = fs;
	self->host_gs = gs;
	unsigned long *words = (unsigned long *)(void *)&self->host_mask;
	words[0] = host_mask;
	for (size_t i = 1; i < sizeof(self->host_mask) / sizeof(words[0]); i++) {
		words[i] = 0;
		__asm__ volatile("" ::: "memory"); /* a loop, not a call of memset, which may use vector registers */
	}
	self->pkru_saved = false;
	self->encl_fs = g->fsbase;
	self->encl_gs = g->gsbase;
	self->load_enclave = 0;
	self->cur_valid = 0;

	struct direct_frame *f = frame_below(fp);
	ucontext_t *uc = (ucontext_t *)(void *)&f->uc;
	exec_regs_to_uc(uc, g);
	f->uc.uc_mcontext.fpregs = NULL;
	/* The enclave's mask, which exec_direct_place gave the thread (the load sets it if a signal was put off). */
	f->uc.uc_sigmask = host_mask & ~exec_direct_own;
	self->direct_uc = uc;
	self->direct_host = false;
	self->load_mask = 0;
	bare_count(self, EXEC_COUNT_DIRECT);
	bare_count(self, EXEC_COUNT_DIRECT_LOAD);
	bare_count(self, EXEC_COUNT_BARE);
	return f;
}

uint8_t *exec_direct_place(const struct exec_direct_regs *r, uint64_t *host_mask)
{
	struct exec_thread *self = exec_thread_lookup();
	uint64_t rsp = (uint64_t)(uintptr_t)&r->ret + 8;
	if (!__atomic_load_n(&exec_direct_on, __ATOMIC_ACQUIRE) || !self)
		return to_trap(rsp);
	uint64_t lo = (uint64_t)(uintptr_t)self + EXEC_BLOCK_STACK, hi = (uint64_t)(uintptr_t)self + EXEC_BLOCK_SIZE;
	/*
	 * Already on the block's stack (an entry from a handler that runs on
	 * it): below the caller's red zone.  EXEC_DIRECT_RESERVE lower still,
	 * where a signal that arrives before RSP is on the frame does not
	 * reach it, nor does the stack of direct.S and its C halves when the
	 * caller was on the block's stack.
	 */
	uint64_t top = (rsp > lo && rsp <= hi ? rsp - EXEC_REDZONE : hi) - EXEC_DIRECT_RESERVE;
	uint8_t *fp = (uint8_t *)(uintptr_t)((top - exec_direct_xsize - MAGIC2_SIZE) & ~63ULL);
	/* Too deep in the signal stack for the frame and the handler below it: the ENCLU traps instead. */
	if (top > hi || (uint64_t)(uintptr_t)frame_below(fp) < lo + EXEC_DIRECT_RESERVE)
		return to_trap(rsp);
	/*
	 * Where exec_direct_load ends the entry, signals stay open: exec's own
	 * are unblocked (the enclave's mask, one system call that also reads the
	 * host's), and any signal that arrives from here to the load is put off
	 * (exec_direct_defer).  Otherwise every signal is blocked while the
	 * trampoline runs, as for a handler of exec's.  Nothing is written at
	 * fp before: until then a handler of the program may run on this stack
	 * (and make an entry of its own: the caller's mask goes to direct.S's
	 * stack, not to the block).
	 */
	static const uint64_t every_signal = ~0ULL;
	bool open = exec_have_fsgsbase && !exec_direct_no_load;
	/* No local's address is taken: a sanitizer's runtime would place it, with its own code. */
	if (exec_sud_sigprocmask(open ? SIG_UNBLOCK : SIG_SETMASK, open ? &exec_direct_own : &every_signal,
				 host_mask) != 0)
		return NULL;
	if (open) {
		/* A signal from here on is put off; one that arrives before RSP is on the frame lands above it. */
		atomic_signal_fence(memory_order_seq_cst);
		self->entering = EXEC_ENTER_MASKED;
		atomic_signal_fence(memory_order_seq_cst);
		/* Bit 0 set: a bare entry's frame, ready for exec_direct_load (direct.S). */
		struct direct_frame *f = bare_entry(self, r, fp, *host_mask);
		if (f)
			return (uint8_t *)f + 1;
	}
	return fp;
}

void *exec_direct_frame(const struct exec_direct_regs *r, uint8_t *fp, uint64_t host_mask)
{
	struct exec_thread *self = exec_thread_lookup();
	uint64_t size = exec_direct_xsize;
	struct direct_frame *f = frame_below(fp);
	uint32_t magic1 = FP_XSTATE_MAGIC1, magic2 = FP_XSTATE_MAGIC2, ext = (uint32_t)size + MAGIC2_SIZE,
		 xsize = (uint32_t)size;
	memset(fp + SW_MAGIC1, 0, EXEC_XSAVE_LEGACY - SW_MAGIC1);
	memcpy(fp + SW_MAGIC1, &magic1, sizeof(magic1));
	memcpy(fp + SW_EXTENDED_SIZE, &ext, sizeof(ext));
	memcpy(fp + SW_XFEATURES, &exec_direct_xfeatures, sizeof(exec_direct_xfeatures));
	memcpy(fp + SW_XSTATE_SIZE, &xsize, sizeof(xsize));
	memcpy(fp + size, &magic2, sizeof(magic2));

	memset(f, 0, sizeof(*f));
	f->pretcode = (uint64_t)(uintptr_t)exec_direct_restorer;
	f->uc.uc_flags = frame_flags;
	/* uc_stack: only a frame that ends in rt_sigreturn needs it (exec_direct_finish). */
	/* The trampoline and exec see f->uc as the ucontext_t it begins like. */
	ucontext_t *uc = (ucontext_t *)(void *)&f->uc;
	struct hw_regs regs;
	regs_at_enclu(r, &regs);
	exec_regs_to_uc(uc, &regs);
	greg_t *g = uc->uc_mcontext.gregs;
	g[REG_CSGSFS] = (greg_t)frame_segments;
	g[REG_TRAPNO] = TRAP_GP;
	f->uc.uc_mcontext.fpregs = (fpregset_t)fp;
	f->uc.uc_sigmask = host_mask;
	f->info.si_signo = SIGSEGV;
	f->info.si_code = SI_KERNEL_CODE;
	self->entry_uc = uc;
	atomic_signal_fence(memory_order_seq_cst);
	self->direct = EXEC_DIRECT_FRAME;
	exec_count(self, EXEC_COUNT_DIRECT);
	return f;
}

void exec_direct_finish(struct exec_thread *self, ucontext_t *uc)
{
	if (self->load_enclave && exec_have_fsgsbase && !exec_direct_no_load) {
		/* The mask: by `entering` (the thread has the enclave's already unless a signal was put off). */
		self->load_mask = 0;
		self->direct = EXEC_DIRECT_LOAD;
		self->direct_uc = uc;
		self->direct_host = false;
		exec_count(self, EXEC_COUNT_DIRECT_LOAD);
		return;
	}
	exec_direct_abandon(self);
	/* rt_sigreturn sets the alternate stack from the frame: the current one (the block's stack). */
	stack_t ss;
	if (syscall(SYS_sigaltstack, NULL, &ss) != 0)
		exec_die("sgxemu: sigaltstack failed in an entry\n");
	uc->uc_stack = ss;
	self->direct = EXEC_DIRECT_NONE;
}

void exec_direct_take(struct exec_thread *self, ucontext_t *uc, bool host, bool open, uint64_t entry_mask)
{
	/* exec_direct_on: the XSAVE features of the kernel's frames are known (and the path allowed). */
	if (!exec_direct_on || (!host && !exec_have_fsgsbase) || exec_direct_no_load)
		return;
	/*
	 * An open handler ran with the interrupted context's mask, entry_mask:
	 * the load sets the frame's only if exec changed it (an exit to host
	 * code whose mask blocked some of exec's own signals, say).
	 */
	uint64_t mask;
	memcpy(&mask, &uc->uc_sigmask, sizeof(mask));
	self->load_mask = !open || mask != entry_mask;
	self->direct = host ? EXEC_DIRECT_LOAD_HOST : EXEC_DIRECT_LOAD;
	self->direct_uc = uc;
	self->direct_host = host;
	exec_count(self, host ? EXEC_COUNT_HOST_LOAD : EXEC_COUNT_TRAP_LOAD);
}

/* Async-signal-safe: the one way a signal put off can be lost. */
static void report_lost(int sig)
{
	char msg[] = "sgxemu: signal 00 arrived during an enclave entry and could not be queued again "
		     "(RLIMIT_SIGPENDING): it is lost\n";
	msg[15] = (char)('0' + sig / 10);
	msg[16] = (char)('0' + sig % 10);
	ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)n;
}

void exec_direct_abandon(struct exec_thread *self)
{
	if (self->entering == EXEC_ENTER_NONE)
		return;
	/* Signals put off meanwhile stay pending until the frame's mask is loaded. */
	uint64_t all = ~0ULL;
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(all)) != 0)
		exec_die("sgxemu: rt_sigprocmask failed in an entry\n");
	atomic_signal_fence(memory_order_seq_cst);
	self->entering = EXEC_ENTER_NONE;
}

bool exec_direct_defer(struct exec_thread *self, int sig, const siginfo_t *si, ucontext_t *uc)
{
	if (self->entering == EXEC_ENTER_NONE || (self->direct == EXEC_DIRECT_FRAME && uc == self->entry_uc))
		return false;
	/* Nothing exec runs during an entry faults: such a fault is a defect, never the program's. */
	if (exec_sync_signal(sig, si))
		exec_die("sgxemu: a fault in exec's own code while it performed an EENTER/ERESUME\n");
	uint64_t mask;
	memcpy(&mask, &uc->uc_sigmask, sizeof(mask));
	mask |= 1ULL << (sig - 1);
	memcpy(&uc->uc_sigmask, &mask, sizeof(mask));
	/* An open handler blocks it now too: queued again, it must wait, not come back at once. */
	uint64_t one = 1ULL << (sig - 1);
	if (exec_signal_open(sig))
		syscall(SYS_rt_sigprocmask, SIG_BLOCK, &one, NULL, sizeof(one));
	siginfo_t again = *si;
	/* To its own thread group the kernel queues any siginfo; only a full queue of real-time signals refuses. */
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), self->tid, sig, &again) != 0) {
		atomic_fetch_add_explicit(&exec_stat_direct_lost, 1, memory_order_relaxed);
		report_lost(sig);
	}
	self->entering = EXEC_ENTER_DEFERRED;
	atomic_fetch_add_explicit(&exec_stat_direct_deferred, 1, memory_order_relaxed);
	return true;
}

/* A signal moved forward: no entry is under way; into the enclave, FS/GS were its own from before (saved by the
 * trampoline). */
static void rolled(struct exec_thread *self)
{
	self->entering = EXEC_ENTER_NONE;
	if (!self->direct_host) {
		self->cur_fs = self->encl_fs;
		self->cur_gs = self->encl_gs;
		self->cur_valid = 1;
	}
	atomic_fetch_add_explicit(&exec_stat_direct_rolled, 1, memory_order_relaxed);
}

bool exec_direct_roll_forward(struct exec_thread *self, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = (uint64_t)g[REG_RIP];
	uint64_t pad = (uint64_t)(uintptr_t)self + EXEC_BLOCK_PAD;
	if (self->jump_pad && (rip == pad || rip == pad + EXEC_PAD_JMP)) {
		/*
		 * In the jump pad everything else is loaded: the registers,
		 * RFLAGS, the XSAVE image, the mask, FS/GS.  The frame being
		 * loaded may be gone (at the jump RSP is the context's, and
		 * this signal's frame went to the top of the signal stack).
		 */
		g[REG_RSP] = (greg_t)self->jmp_rsp;
		g[REG_RIP] = (greg_t)self->jmp_rip;
		rolled(self);
		return true;
	}
	if (rip < (uint64_t)(uintptr_t)exec_direct_window_start || rip >= (uint64_t)(uintptr_t)exec_direct_window_end)
		return false;
	const ucontext_t *from = self->direct_uc;
	for (int i = REG_R8; i <= REG_EFL; i++)
		g[i] = from->uc_mcontext.gregs[i];
	/* The mask the load sets or set (signals an entry put off are open in it). */
	memcpy(&uc->uc_sigmask, &from->uc_sigmask, EXEC_KERNEL_SIGSET_SIZE);
	/*
	 * The XSAVE image (PKRU included) the load's XRSTOR loads or loaded;
	 * the software bytes stay this frame's.  A bare entry's frame has none:
	 * the registers hold the enclave's state already, and this frame has them.
	 */
	if (!from->uc_mcontext.fpregs) {
		rolled(self);
		return true;
	}
	uint32_t fsize, tsize;
	uint64_t fpresent, tpresent;
	const uint8_t *src = exec_frame_xsave(from, &fsize, &fpresent);
	uint8_t *dst = exec_frame_xsave(uc, &tsize, &tpresent);
	uint32_t n = fsize < tsize ? fsize : tsize;
	memcpy(dst, src, FX_SW_BYTES);
	if (n > EXEC_XSAVE_LEGACY)
		memcpy(dst + EXEC_XSAVE_LEGACY, src + EXEC_XSAVE_LEGACY, n - EXEC_XSAVE_LEGACY);
	rolled(self);
	return true;
}
