/* SPDX-License-Identifier: MIT */
/*
 * Private to src/exec: the per-thread block (state + alternate signal
 * stack), the assembly glue's symbols, and the functions trap.c, aex.c and
 * thread.c share.
 *
 * Every thread that entered an enclave owns one block of EXEC_BLOCK_SIZE
 * bytes, aligned to its size, inside one reserved region:
 *
 *   block + 0              struct exec_thread (the first page)
 *   block + 4 KiB          the jump pad (read and execute: the guard page of
 *                          the stack below it too), or PROT_NONE
 *   block + 8 KiB .. end   the thread's sigaltstack
 *
 * The signal trampoline (trap_entry.S) finds the block from RSP alone (RSP
 * inside the region -> RSP & ~(EXEC_BLOCK_SIZE - 1)), so it can switch FS
 * and GS back to the host's before any C code runs.
 */
#ifndef SGXEMU_EXEC_INT_H
#define SGXEMU_EXEC_INT_H

/* Plain integers: trap_entry.S uses them too. */
#define EXEC_BLOCK_SIZE	  0x40000    /* 256 KiB */
#define EXEC_BLOCK_HEADER 0x1000     /* struct exec_thread */
#define EXEC_BLOCK_STACK  0x2000     /* offset of the signal stack (a guard page before it) */
#define EXEC_REGION_SIZE  0x40000000 /* room for 4096 threads */
#define EXEC_REDZONE	  128	     /* the x86-64 ABI's red zone below RSP */

/* Offsets in struct exec_thread used by trap_entry.S (checked below). */
#define ET_HOST_FS    0
#define ET_HOST_GS    8
#define ET_CUR_FS     16
#define ET_CUR_GS     24
#define ET_ENCL_FS    32
#define ET_ENCL_GS    40
#define ET_FS_ENCLAVE 48
#define ET_LOAD_ENCL  52
#define ET_CUR_VALID  56
#define ET_SUD_SEL    60 /* the Syscall User Dispatch selector byte of the thread */
#define ET_DIRECT     61 /* the frame being handled is direct.c's (EXEC_DIRECT_*) */
#define ET_ENTERING   62 /* a direct entry is under way with signals open (EXEC_ENTER_*) */
#define ET_PAD	      63 /* the block's jump pad is in place (exec_direct_pad) */
#define ET_JMP_RSP    64 /* where the pad takes RSP and RIP from */
#define ET_JMP_RIP    72
#define ET_IN_TRAP    80 /* a handler of exec's runs on this thread (with exec_open_set) */
#define ET_TRAP_DEFER 81 /* ... and it put a signal off: the load sets the mask */
#define ET_LOAD_MASK  82 /* the load sets the frame's mask: it is not the thread's (set by C) */
#define ET_TRAP_SIG   83 /* the signal of the handler that marked the block */
#define ET_COUNTS     88 /* the thread's event counts (EXEC_COUNT_*) */

/*
 * exec_thread.counts: events of one thread, counted by that thread alone
 * (no shared line, no locked instruction on the way into and out of the
 * enclave); exec_get_stats adds every live thread's and those of threads
 * that ended (exec_counts_sum).
 */
#define EXEC_COUNT_TRAPS	    0  /* exec_trap calls */
#define EXEC_COUNT_DIRECT	    1  /* entries the direct way */
#define EXEC_COUNT_DIRECT_LOAD	    2  /* ... of which exec_direct_load finished */
#define EXEC_COUNT_TRAP_LOAD	    3  /* traps of enclave code whose context went back by a load */
#define EXEC_COUNT_HOST_LOAD	    4  /* exits to host code by a load */
#define EXEC_COUNT_JUMP_LOAD	    5  /* loads that ended in the jump pad */
#define EXEC_COUNT_MASK_LOAD	    6  /* loads that set the signal mask */
#define EXEC_COUNT_SHORT	    7  /* faulting ENCLUs run again in the signal that took the fault */
#define EXEC_COUNT_DEFERRED	    8  /* EACCEPTed pages whose host protection was left for later */
#define EXEC_COUNT_DEFERRED_RUNS    9  /* runs of those opened */
#define EXEC_COUNT_DEFERRED_TOUCHED 10 /* ... because enclave code reached one first */
#define EXEC_COUNT_BARE		    11 /* direct entries that kept the caller's extended state in the registers */
#define EXEC_COUNTS		    12
/* The pad's page (block + EXEC_BLOCK_PAD) and the offset of its second instruction, the jump. */
#define EXEC_BLOCK_PAD 0x1000
#define EXEC_PAD_JMP   7

/* Offset of the siginfo in the frames direct.c builds (the kernel's rt_sigframe: restorer, ucontext). */
#define EXEC_DIRECT_INFO 312

/* Offsets in ucontext_t (x86-64 glibc) used by direct.S (checked in direct.c). */
#define EXEC_UC_GREGS	40  /* uc_mcontext.gregs[], REG_* order */
#define EXEC_UC_FPREGS	224 /* uc_mcontext.fpregs */
#define EXEC_UC_SIGMASK 296 /* uc_sigmask, the kernel's 8 bytes first */

/* Values of exec_thread.direct. */
#define EXEC_DIRECT_NONE      0 /* a frame the kernel built */
#define EXEC_DIRECT_FRAME     1 /* direct.c's frame, being handled */
#define EXEC_DIRECT_LOAD      2 /* direct.c's frame, into the enclave without rt_sigreturn (exec_direct_load) */
#define EXEC_DIRECT_LOAD_HOST 3 /* to host code without rt_sigreturn (exec_direct_load_host) */
/* exec_thread.entering (direct.c, "signals during an entry"). */
#define EXEC_ENTER_NONE	    0 /* no direct entry under way, or one with every signal blocked */
#define EXEC_ENTER_MASKED   1 /* the thread's mask is already the enclave's: exec_direct_load leaves it */
#define EXEC_ENTER_DEFERRED 2 /* a signal was put off (blocked, queued again): exec_direct_load sets the mask */
/* Room left at the top of the signal stack for signals put off before RSP reaches the direct frame. */
#define EXEC_DIRECT_RESERVE 0x8000

/* Values of the selector (<linux/prctl.h> SYSCALL_DISPATCH_FILTER_*). */
#define EXEC_SUD_ALLOW 0
#define EXEC_SUD_BLOCK 1

#ifndef __ASSEMBLER__

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <ucontext.h>

#include "exec.h"

struct exec_thread {
	/* Read and written by trap_entry.S: keep first, offsets above. */
	uint64_t host_fs, host_gs; /* the host's FS/GS base of this thread */
	uint64_t cur_fs, cur_gs;   /* FS/GS base found at signal entry when they were the enclave's */
	uint64_t encl_fs, encl_gs; /* FS/GS base to load when the handler returns into the enclave */
	uint32_t fs_enclave;	   /* FS/GS currently hold encl_fs/encl_gs */
	uint32_t load_enclave;	   /* set by C: load encl_fs/encl_gs on return */
	uint32_t cur_valid;	   /* cur_fs/cur_gs were saved by this signal's prologue */
	uint8_t sud_selector;	   /* EXEC_SUD_BLOCK while enclave code runs (the trampoline sets it) */
	uint8_t direct;		   /* EXEC_DIRECT_*: set by direct.c and exec_trap, cleared by the trampoline */
	uint8_t entering;	   /* EXEC_ENTER_*: set by direct.c, cleared by exec_direct_load or direct.c */
	uint8_t jump_pad;	   /* the jump pad is in place (thread.c) */
	uint64_t jmp_rsp, jmp_rip; /* the context's RSP and RIP, for the pad (exec_direct_load) */
	uint8_t in_trap;	   /* set and cleared by the trampoline, cleared around a program's handler */
	uint8_t trap_defer;	   /* set by the trampoline when it put a signal off, cleared by it and the load */
	uint8_t load_mask;	   /* set by exec_direct_take, cleared by the load */
	uint8_t trap_sig;	   /* set with in_trap */
	uint8_t spare[4];
	uint64_t counts[EXEC_COUNTS]; /* written by this thread only (direct.S too); read by exec_counts_sum */

	struct hw_thread t; /* the logical processor */
	int tid;	    /* host thread id (for signals sent to it) */
	sigset_t host_mask; /* signal mask of the host code that entered */
	/* The enclave the ELRANGE cache below belongs to: its EID (a SECS frame is used again by later enclaves) ... */
	uint64_t elr_eid;
	uint64_t elr_gen; /* ... in the machine of this exec_install (exec_install_gen) */
	uint64_t elr_base, elr_size;
	uint64_t retry_rip, retry_addr; /* last transparent retry (loop guard) */
	unsigned retries;
	_Atomic unsigned long exits; /* EEXITs and AEXs so far */
	_Atomic int kick_pending;    /* exec_kick waits for this thread to leave enclave mode */
	stack_t altstack;	     /* for exec_altstack_switch */
	struct exec_thread *next_free;
	uint64_t elr_xfrm;	 /* XFRM of the enclave elr_eid */
	uint32_t host_pkru;	 /* PKRU of the host code that entered (valid if pkru_saved) */
	bool pkru_saved;	 /* the context's PKRU was switched to the enclave's at entry */
	bool sud_on;		 /* Syscall User Dispatch is enabled for this thread */
	unsigned ordinal;	 /* threads numbered in the order they first entered */
	uint64_t chaos_rng;	 /* chaos mode's stream of this thread */
	uint64_t chaos_last_rip; /* the ENCLU just interrupted: it runs again without another */
	uint64_t chaos_count;	 /* injections on this thread so far */
	int chaos_timer;	 /* the timer kind's timer of this thread */
	bool chaos_timer_on;
	uint64_t step_rip;	     /* the step kind: the enclave instruction the thread runs next, stepped */
	uint64_t steps;		     /* the step kind: enclave instructions stepped on this thread */
	const ucontext_t *direct_uc; /* the context exec_direct_load is loading (EXEC_DIRECT_LOAD) */
	const ucontext_t *entry_uc;  /* the direct frame's context while entering (EXEC_DIRECT_FRAME) */
	bool direct_host;	     /* ... and it goes to host code (exec_direct_load_host) */
	/* Accepted pages whose host protection is not opened yet (aex.c, "deferred opening"). */
	uint64_t lag_lo, lag_hi; /* the run [lag_lo, lag_hi), empty when equal */
	uint64_t lag_next;	 /* the page after the last one EACCEPTed */
	unsigned lag_eager;	 /* EACCEPTs still to open at once */
	unsigned lag_backoff;	 /* lag_eager's next value after a short run was touched */
};

_Static_assert(offsetof(struct exec_thread, host_fs) == ET_HOST_FS, "ET_HOST_FS");
_Static_assert(offsetof(struct exec_thread, host_gs) == ET_HOST_GS, "ET_HOST_GS");
_Static_assert(offsetof(struct exec_thread, cur_fs) == ET_CUR_FS, "ET_CUR_FS");
_Static_assert(offsetof(struct exec_thread, cur_gs) == ET_CUR_GS, "ET_CUR_GS");
_Static_assert(offsetof(struct exec_thread, encl_fs) == ET_ENCL_FS, "ET_ENCL_FS");
_Static_assert(offsetof(struct exec_thread, encl_gs) == ET_ENCL_GS, "ET_ENCL_GS");
_Static_assert(offsetof(struct exec_thread, fs_enclave) == ET_FS_ENCLAVE, "ET_FS_ENCLAVE");
_Static_assert(offsetof(struct exec_thread, load_enclave) == ET_LOAD_ENCL, "ET_LOAD_ENCL");
_Static_assert(offsetof(struct exec_thread, cur_valid) == ET_CUR_VALID, "ET_CUR_VALID");
_Static_assert(offsetof(struct exec_thread, sud_selector) == ET_SUD_SEL, "ET_SUD_SEL");
_Static_assert(offsetof(struct exec_thread, direct) == ET_DIRECT, "ET_DIRECT");
_Static_assert(offsetof(struct exec_thread, entering) == ET_ENTERING, "ET_ENTERING");
_Static_assert(offsetof(struct exec_thread, jump_pad) == ET_PAD, "ET_PAD");
_Static_assert(offsetof(struct exec_thread, jmp_rsp) == ET_JMP_RSP, "ET_JMP_RSP");
_Static_assert(offsetof(struct exec_thread, jmp_rip) == ET_JMP_RIP, "ET_JMP_RIP");
_Static_assert(offsetof(struct exec_thread, in_trap) == ET_IN_TRAP, "ET_IN_TRAP");
_Static_assert(offsetof(struct exec_thread, trap_defer) == ET_TRAP_DEFER, "ET_TRAP_DEFER");
_Static_assert(offsetof(struct exec_thread, load_mask) == ET_LOAD_MASK, "ET_LOAD_MASK");
_Static_assert(offsetof(struct exec_thread, trap_sig) == ET_TRAP_SIG, "ET_TRAP_SIG");
_Static_assert(offsetof(struct exec_thread, counts) == ET_COUNTS, "ET_COUNTS");
_Static_assert(sizeof(struct exec_thread) <= EXEC_BLOCK_HEADER, "exec_thread fits its page");

#define EXEC_HIDDEN __attribute__((visibility("hidden")))
/*
 * Code that runs between an ENCLU of sgxemu_enter_enclave and the XSAVE of
 * the state the enclave receives: general-purpose registers only, so the
 * vector and x87 registers stay as the caller left them.
 */
#define EXEC_GENERAL_REGS __attribute__((target("general-regs-only")))

/* ---- assembly glue ------------------------------------------------------- */

/* trap_entry.S: the SA_SIGINFO handler of every signal exec installs. */
EXEC_HIDDEN void exec_trap_entry(int sig, siginfo_t *si, void *uc);
/* trap_entry.S data: the region of blocks and the FS/GS method. */
extern EXEC_HIDDEN uint64_t exec_region_base, exec_region_size;
extern EXEC_HIDDEN uint8_t exec_have_fsgsbase;
/*
 * trap_entry.S: non-zero while Syscall User Dispatch is in use: the
 * trampoline sets the selector to EXEC_SUD_BLOCK right before it returns
 * into enclave code, with rt_sigreturn issued from [exec_sud_allow_start,
 * exec_sud_allow_end), the one region whose syscalls are always allowed.
 */
extern EXEC_HIDDEN uint8_t exec_sud_active;
/*
 * trap_entry.S: the signals (bit = number) whose handler runs open: with
 * the interrupted context's mask (SA_NODEFER, empty sa_mask), so that a
 * load that goes back to a context with that same mask sets none.  Set at
 * install where contexts end in loads (exec_direct_allowed, not
 * SGXEMU_EXEC_NO_DIRECT_LOAD) to the signals an ENCLU raises (SIGSEGV,
 * SIGILL, SIGBUS), which never queue up; 0 otherwise.  Every other handler
 * of exec's blocks every signal, so that queued real-time signals cannot
 * pile frames up.  A signal that arrives while any handler of exec's runs
 * on the thread is put off by the trampoline itself (blocked, queued
 * again, ET_TRAP_DEFER), and an open handler that ends in rt_sigreturn
 * blocks every signal first (docs/exec.md "Open handlers").
 */
extern EXEC_HIDDEN uint64_t exec_open_set;
/* Does sig's handler run open (exec_open_set)? */
static inline bool exec_signal_open(int sig)
{
	return sig > 0 && sig < 64 && (exec_open_set >> sig) & 1;
}
extern EXEC_HIDDEN const char exec_sud_allow_start[], exec_sud_allow_end[];
/*
 * rt_sigprocmask(how, set, old) with 8-byte sets, made from the allowed
 * region (Syscall User Dispatch then skips the selector), using general
 * registers only: 0 or -errno.
 */
EXEC_HIDDEN long exec_sud_sigprocmask(long how, const uint64_t *set, uint64_t *old);
/*
 * trap_entry.S: entered with RSP = RSP of the interrupted code - EXEC_REDZONE
 * - 16, [RSP] = a stack_t, [RSP + 8] = where to continue: sigaltstack(stack_t)
 * with every register and RFLAGS kept, then continue there.
 */
EXEC_HIDDEN void exec_altstack_switch(void);
/*
 * enter.S: the ENCLU of sgxemu_enter_enclave (its AEP), its exception path,
 * and the call of exec_direct_enclu right before the ENCLU.
 */
extern EXEC_HIDDEN const char exec_vdso_enclu[], exec_vdso_exception[], exec_vdso_resume[];
/*
 * A context that goes back to host code at sgxemu_enter_enclave's AEP
 * after an AEX whose signal the program's handler took there continues at
 * exec_vdso_resume instead: the AEP's ENCLU then goes the direct way
 * (no trap, exec's own signals unblocked by the entry) rather than
 * trapping with the caller's mask, which may block the trap's signal.
 */
EXEC_HIDDEN void exec_aep_resume(ucontext_t *uc);

/* si_value of the kick signal sent by exec_kick (other senders' signals are chained). */
#define EXEC_KICK_MAGIC 0x6b69636bUL /* "kick" */
/* The siginfo exec_kick queues (rt_tgsigqueueinfo) at a thread: EXEC_KICK_SIGNAL, SI_QUEUE, the magic. */
EXEC_HIDDEN void exec_kick_info(siginfo_t *info);
/* The value of chaos mode's timer signals (the timer kind; EXEC_KICK_SIGNAL, SI_TIMER). */
#define EXEC_CHAOS_TIMER_MAGIC 0x63686173UL /* "chas" */

/* ---- trap.c ---------------------------------------------------------------- */

/*
 * Called by exec_trap_entry with host FS/GS loaded; self = the block when on
 * its stack.  Return: the thread's block (its load_enclave tells the
 * trampoline to load the enclave's FS/GS), or NULL.
 */
EXEC_HIDDEN struct exec_thread *exec_trap(int sig, siginfo_t *si, ucontext_t *uc, struct exec_thread *self);
/* The installed OS. */
extern EXEC_HIDDEN struct exec_os exec_os_cur;
/* ---- signal.c ----------------------------------------------------------- */

/*
 * Run the program's action of sig (which exec's handler took) for the event
 * si/uc, as the kernel would have: its handler with its sa_mask (and sig
 * unless SA_NODEFER) held, SA_RESETHAND, SA_SIGINFO; SIG_DFL: the default
 * action (the signal raised again, delivered as exec's handler returns);
 * SIG_IGN: dropped unless it is a fault.  si/uc describe the event as the
 * program must see it.
 */
EXEC_HIDDEN void exec_chain(int sig, siginfo_t *si, ucontext_t *uc);

/* What exec_run_action did. */
enum exec_ran {
	EXEC_RAN_NOTHING, /* ignored */
	EXEC_RAN_DEFAULT, /* SIG_DFL is the real action now and the signal is pending */
	EXEC_RAN_HANDLER  /* the handler ran (and returned) */
};
/* The work of exec_chain for any action a (SA_RESETHAND turns *a into SIG_DFL); the preload library's too. */
EXEC_HIDDEN enum exec_ran exec_run_action(int sig, siginfo_t *si, ucontext_t *uc, struct sigaction *a);
/* Program handlers exec_run_action ran on this thread (each opens the mask to the handler's). */
extern EXEC_HIDDEN __thread unsigned long exec_handlers_ran;

/* Was this signal raised by the instruction the context points at (a fault), not sent? */
EXEC_HIDDEN bool exec_sync_signal(int sig, const siginfo_t *si);

/*
 * exec_install / exec_uninstall: take the fault signals, the kick signal,
 * SIGSYS when sigsys, and every signal the program has a handler for; give
 * them all back.
 */
EXEC_HIDDEN void exec_signals_take(bool sigsys);
EXEC_HIDDEN void exec_signals_give_back(void);

/*
 * The signal mask of a signal frame.  The kernel's frame holds 8 bytes of
 * mask, and the siginfo follows right after them; glibc's ucontext_t
 * declares 128 (its sigset_t), so a plain assignment would overwrite the
 * siginfo.  Only the kernel's bytes are read and written.
 */
#define EXEC_KERNEL_SIGSET_SIZE 8
EXEC_HIDDEN void exec_uc_mask_get(const ucontext_t *uc, sigset_t *set);
EXEC_HIDDEN void exec_uc_mask_set(ucontext_t *uc, const sigset_t *set);

/* Remove from set the signals exec itself needs in enclave mode. */
EXEC_HIDDEN void exec_unblock_own(sigset_t *set);
/* Those signals as the first word of a kernel sigset (bit sig - 1). */
EXEC_HIDDEN uint64_t exec_own_bits(void);

/*
 * Could this signal be the trap of an ENCLU at the context's RIP?  How the
 * host CPU refuses ENCLU depends on it: #UD (SIGILL) where it has no SGX or
 * the firmware left SGX off; where SGX is enabled (also in guests of such
 * hosts, whose CPUID hides it) the real leaf runs and raises #GP(0)
 * (SIGSEGV, SI_KERNEL) or a #PF on an operand (SIGSEGV/SIGBUS with the
 * operand's address).  A fault fetching the instruction itself (PF_I, or an
 * address among its three bytes) is not: it stays an ordinary fault.  The
 * caller still checks that the bytes at RIP are ENCLU.
 */
EXEC_HIDDEN bool exec_enclu_trap_kind(int sig, const siginfo_t *si, const ucontext_t *uc);

/* Registers of a signal context <-> the thread model. */
EXEC_HIDDEN void exec_regs_from_uc(struct hw_regs *r, const ucontext_t *uc);
/* General-purpose registers only: a bare entry (direct.c) calls it. */
EXEC_HIDDEN EXEC_GENERAL_REGS void exec_regs_to_uc(ucontext_t *uc, const struct hw_regs *r);
/* XSAVE image of a signal context <-> the thread model. */
EXEC_HIDDEN void exec_xsave_from_uc(struct hw_thread *t, const ucontext_t *uc);
EXEC_HIDDEN void exec_xsave_to_uc(ucontext_t *uc, const struct hw_thread *t);

/*
 * The context returns into the enclave with the thread model's registers
 * and FS/GS; from_host: after EENTER/ERESUME, enclave code runs with the
 * host code's signal mask, exec's own signals open.
 */
EXEC_HIDDEN void exec_resume_enclave(struct exec_thread *self, ucontext_t *uc, bool from_host);
/* The context returns to host code with the thread model's registers and the host signal mask. */
EXEC_HIDDEN void exec_return_host(struct exec_thread *self, ucontext_t *uc);

/* Write a message to stderr and abort (async-signal-safe). */
EXEC_HIDDEN _Noreturn void exec_die(const char *msg);

/* ---- direct.c, direct.S: entries without the host's trap ------------------ */

/*
 * direct.S: called by sgxemu_enter_enclave right before its ENCLU while
 * exec_direct_on; performs the leaf through exec's trampoline with a frame
 * built by hand, or returns (the ENCLU then traps).
 */
EXEC_HIDDEN void exec_direct_enclu(void);
/* Non-zero once the frame layout is known and the path allowed (read by enter.S and direct.S). */
extern EXEC_HIDDEN uint8_t exec_direct_on;
/* XSAVE image size and features of the host's signal frames (read by direct.S). */
extern EXEC_HIDDEN uint64_t exec_direct_xsize, exec_direct_xfeatures;
/* Set at install: hw_eenter_tlb_built, SGXEMU_EXEC_NO_BARE unset (direct.c's bare entries). */
extern EXEC_HIDDEN bool exec_bare_allowed;
/*
 * Counts exec_install calls: a thread's ELRANGE cache (elr_*) holds for the
 * install it was made in, since EIDs are unique only within one machine.
 */
extern EXEC_HIDDEN uint64_t exec_install_gen;
/* Set at install: SGXEMU_EXEC_NO_DIRECT unset, not under valgrind. */
extern EXEC_HIDDEN bool exec_direct_allowed;
/* Set at install from SGXEMU_EXEC_NO_DIRECT_LOAD: direct entries end in rt_sigreturn, as before exec_direct_load. */
extern EXEC_HIDDEN bool exec_direct_no_load;
/* Signals exec_direct_roll_forward moved. */
extern EXEC_HIDDEN _Atomic uint64_t exec_stat_direct_rolled;
/* Signals put off during direct entries; of those, lost because the kernel would not queue them again. */
extern EXEC_HIDDEN _Atomic uint64_t exec_stat_direct_deferred, exec_stat_direct_lost;
/*
 * A signal that arrived on a thread while it performs a direct entry with
 * signals open (EXEC_ENTER_MASKED/DEFERRED), other than the direct frame's
 * own trap: blocked in uc's mask, queued again to the thread and the entry
 * marked EXEC_ENTER_DEFERRED, so that it is delivered once the thread is in
 * the enclave.  True if so (the handler then returns at once).
 */
EXEC_HIDDEN bool exec_direct_defer(struct exec_thread *self, int sig, const siginfo_t *si, ucontext_t *uc);
/* A direct entry that does not enter (EENTER/ERESUME failed): every signal blocked from here, as a handler. */
EXEC_HIDDEN void exec_direct_abandon(struct exec_thread *self);
/* A real frame of an ENCLU trap of host code: learn the layout from it and turn the path on. */
EXEC_HIDDEN void exec_direct_learn(const ucontext_t *uc);
struct exec_direct_regs;
/*
 * direct.S's first C half, before the XSAVE: where the frame's XSAVE image
 * goes on the thread's signal stack, with the mask set for the entry (the
 * caller's in *host_mask); NULL to let the ENCLU trap.
 */
EXEC_HIDDEN EXEC_GENERAL_REGS uint8_t *exec_direct_place(const struct exec_direct_regs *r, uint64_t *host_mask);
/*
 * Its second half, after direct.S XSAVEd into fp: the rest of the frame,
 * host_mask its mask; returns its start (the restorer slot).
 */
EXEC_HIDDEN void *exec_direct_frame(const struct exec_direct_regs *r, uint8_t *fp, uint64_t host_mask);
/* exec_own_bits() as of exec_install, for exec_direct_place. */
extern EXEC_HIDDEN uint64_t exec_direct_own;
/* Set while exec is installed: sgxemu_enter_enclave calls exec_direct_enclu before its ENCLU (enter.S). */
extern EXEC_HIDDEN uint8_t exec_entry_armed;
/*
 * The mask of the caller of sgxemu_enter_enclave whose ENCLU traps (the
 * entry could not go the direct way: the thread's first, say), as it was
 * before exec_direct_place opened exec's own signals for the trap, found
 * by the RSP of the trap's context: true and *mask once; false otherwise.
 */
EXEC_HIDDEN bool exec_direct_trap_mask(uint64_t rsp, uint64_t *mask);
/*
 * Keep old as that mask for the trap at rsp (exec_direct_place; general
 * registers only).  EXEC_TRAP_MASKS of them, the oldest dropped beyond.
 */
#define EXEC_TRAP_MASKS 4
EXEC_HIDDEN EXEC_GENERAL_REGS void exec_direct_trap_keep(uint64_t rsp, uint64_t old);
/*
 * The end of exec_trap for a frame the kernel built whose context goes
 * into the enclave, or (host) to host code because the thread left enclave
 * mode in this trap: EXEC_DIRECT_LOAD(_HOST) where exec_direct_load(_host)
 * can take it there (every signal still blocked: no program handler ran).
 */
EXEC_HIDDEN void exec_direct_take(struct exec_thread *self, ucontext_t *uc, bool host, bool open, uint64_t entry_mask);
/*
 * The end of exec_trap for direct.c's frame: EXEC_DIRECT_LOAD when the
 * context goes into the enclave and exec_direct_load can take it there,
 * else the frame completed for rt_sigreturn (its alternate stack).
 */
EXEC_HIDDEN void exec_direct_finish(struct exec_thread *self, ucontext_t *uc);
/*
 * direct.S: the end of an entry without any rt_sigreturn.  Jumped to by
 * the trampoline with RSP = the direct frame, R8 = the block, every signal
 * blocked: loads the enclave's FS/GS, unblocks the enclave's signal mask,
 * restores the XSAVE image and the registers and goes to the enclave
 * through the block's jump pad (IRETQ where the pad is missing or the
 * context's RFLAGS has TF or RF, which only IRETQ sets exactly).
 */
EXEC_HIDDEN void exec_direct_load(void);
EXEC_HIDDEN void exec_direct_load_host(void);
/*
 * A signal arrived between exec_direct_load's unblocking and the moment
 * the context is loaded (RIP in [exec_direct_window_start,
 * exec_direct_window_end), or in the block's jump pad): make uc the
 * context being loaded, at its first instruction, as if the signal had
 * arrived just after the load.  True if it was such a signal.
 */
EXEC_HIDDEN bool exec_direct_roll_forward(struct exec_thread *self, ucontext_t *uc);
extern EXEC_HIDDEN const char exec_direct_window_start[], exec_direct_window_end[];
/*
 * direct.S: the jump pad's code, copied to block + EXEC_BLOCK_PAD
 * (thread.c): RSP from jmp_rsp, then a jump to jmp_rip, both addressed
 * relative to the copy.  The last step of a load, with every other
 * register and RFLAGS the context's already.
 */
extern EXEC_HIDDEN const char exec_direct_pad[], exec_direct_pad_end[];

/* ---- aex.c --------------------------------------------------------------- */

/* A signal raised by native code while the thread is in enclave mode. */
EXEC_HIDDEN void exec_enclave_signal(struct exec_thread *self, int sig, siginfo_t *si, ucontext_t *uc);
/* The kick signal of exec_kick arrived while the thread was in enclave mode: interrupt AEX. */
EXEC_HIDDEN void exec_kick_signal(struct exec_thread *self, siginfo_t *si, ucontext_t *uc);
/* ENCLU executed by host code (EENTER / ERESUME, or a leaf that faults outside enclave mode). */
EXEC_HIDDEN void exec_host_enclu(struct exec_thread *self, int sig, siginfo_t *si, ucontext_t *uc);

/* ---- thread.c -------------------------------------------------------------- */

/* Reserve the region, probe FS/GS access. Return: 0 or -ENOMEM. */
EXEC_HIDDEN int exec_threads_init(void);
/* The calling thread's block (TLS; valid only while FS is the host's), or NULL. */
EXEC_HIDDEN EXEC_GENERAL_REGS struct exec_thread *exec_thread_lookup(void);
/* The thread's signal stack in its block, as sigaltstack takes it. */
static inline stack_t exec_block_stack(const struct exec_thread *self)
{
	return (stack_t){.ss_sp = (uint8_t *)self + EXEC_BLOCK_STACK, .ss_size = EXEC_BLOCK_SIZE - EXEC_BLOCK_STACK};
}
/*
 * Create the calling thread's block; the caller makes its stack the
 * thread's sigaltstack (through uc_stack).  Return: it, or NULL (no memory,
 * region full).
 */
EXEC_HIDDEN struct exec_thread *exec_thread_create(void);
/* Does this process run under valgrind (which lacks FSGSBASE and must not meet Syscall User Dispatch)? */
EXEC_HIDDEN bool exec_under_valgrind(void);
/*
 * The calling thread runs with a user shadow stack (CET, Linux 6.6+).  Its
 * kernel pushes a token on the shadow stack for each signal frame and
 * rt_sigreturn takes it off: a frame built by hand has none, and IRETQ
 * checks the shadow stack too, so direct entries are off (docs/exec.md).
 */
EXEC_HIDDEN bool exec_shadow_stack_on(void);
/* EXEC_KICK_SIGNAL as of exec_install (SIGRTMAX is a call into libc). */
extern EXEC_HIDDEN int exec_kick_sig;
/* Threads in enclave mode right now. */
EXEC_HIDDEN unsigned exec_threads_inside(void);
/* One more event of kind i (EXEC_COUNT_*) on the thread self, or on no thread's block (self NULL). */
EXEC_HIDDEN void exec_count_slow(unsigned i);
static inline void exec_count(struct exec_thread *self, unsigned i)
{
	if (!self) {
		exec_count_slow(i);
		return;
	}
	/* Its own thread writes it; a reader elsewhere sees the old value or the new one. */
	__atomic_store_n(&self->counts[i], __atomic_load_n(&self->counts[i], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}
/* The thread left enclave mode once more (exec_kick waits for it); only the thread itself counts its exits. */
static inline void exec_note_exit(struct exec_thread *self)
{
	atomic_store_explicit(&self->exits, atomic_load_explicit(&self->exits, memory_order_relaxed) + 1,
			      memory_order_release);
}
/* Every count so far: the live threads', the ended threads' and those of no thread. */
EXEC_HIDDEN void exec_counts_sum(uint64_t sum[EXEC_COUNTS]);

/*
 * Whether a faulting ENCLU runs again in the signal that took its fault
 * once the OS fixed it (aex.c, enclave_enclu); on unless
 * SGXEMU_EXEC_NO_SHORT_PATH is set at exec_install.  The counters feed
 * exec_get_stats.
 */
extern EXEC_HIDDEN bool exec_short_path;
/*
 * Whether an EACCEPT that follows the thread's previous one page by page
 * leaves opening the page's host protection for later (aex.c); on unless
 * SGXEMU_EXEC_NO_DEFERRED_OPEN is set at exec_install.
 */
extern EXEC_HIDDEN bool exec_deferred_open;
/* Open the host protection of the thread's deferred pages (out of enclave mode: waits for busy locks). */
EXEC_HIDDEN void exec_deferred_open_now(struct exec_thread *self);
/* Chaos mode (aex.c); exec_chaos_on is set once before threads enter. */
extern EXEC_HIDDEN struct exec_chaos exec_chaos_cfg;
extern EXEC_HIDDEN bool exec_chaos_on;
extern EXEC_HIDDEN _Atomic uint64_t exec_stat_chaos_intr, exec_stat_chaos_evict, exec_stat_chaos_timer,
    exec_stat_chaos_step;
/* Chaos mode's step kind: enclave code runs with RFLAGS.TF (exec_step_arm), exec_chaos_step is set once. */
extern EXEC_HIDDEN bool exec_chaos_step;
/* Resuming enclave code in uc with the step kind on: TF in the context, POPF/PUSHF kept from seeing it. */
EXEC_HIDDEN void exec_step_arm(struct exec_thread *self, ucontext_t *uc);
/* Is this SIGTRAP of enclave code the #DB of the step kind's TF? */
EXEC_HIDDEN bool exec_step_trap(const siginfo_t *si, const ucontext_t *uc);
extern EXEC_HIDDEN _Atomic unsigned exec_thread_count;
extern EXEC_HIDDEN bool exec_check_on;
extern EXEC_HIDDEN _Atomic uint64_t exec_stat_check;
EXEC_HIDDEN void exec_chaos_thread_start(struct exec_thread *self);
EXEC_HIDDEN void exec_chaos_thread_stop(struct exec_thread *self);
/* Every thread's timer of the timer kind deleted, the calling thread's queued signal taken (exec_uninstall). */
EXEC_HIDDEN void exec_chaos_timers_stop(void);
/* A signal of the timer kind's timer arrived while the thread ran enclave code: an interrupt there. */
EXEC_HIDDEN void exec_chaos_timer_signal(struct exec_thread *self, siginfo_t *si, ucontext_t *uc);
/* FS/GS base of the calling thread, through FSGSBASE or arch_prctl. */
EXEC_HIDDEN uint64_t exec_get_fs(void);
EXEC_HIDDEN uint64_t exec_get_gs(void);
/*
 * The context goes back to host code right after an EEXIT or AEX (before it
 * is reported or a signal is delivered): every XSAVE component outside the
 * enclave's XFRM (elr_xfrm) goes to its INIT state in the thread model and
 * in the context, PKRU excepted, which gets the host's value with every
 * enclave key access-disabled.
 */
EXEC_HIDDEN void exec_state_leave(struct exec_thread *self, ucontext_t *uc);
/* The context returns into the enclave after EENTER/ERESUME: PKRU opens the enclave's key. */
EXEC_HIDDEN void exec_state_enter(struct exec_thread *self, ucontext_t *uc);
/*
 * The signal frame's XSAVE image: its address, size and the components it
 * holds (the kernel's software bytes; x87 and SSE only without them).
 */
EXEC_HIDDEN uint8_t *exec_frame_xsave(const ucontext_t *uc, uint32_t *size, uint64_t *present);

/* ---- sud.c: instructions that enter the kernel --------------------------- */

/*
 * Syscall User Dispatch for this process: probe it (once) and decide.
 * Return: true if enclave code's SYSCALL and INT 0x80 become SIGSYS, else
 * false with the reason in why.
 */
EXEC_HIDDEN bool exec_sud_setup(char *why, size_t len);
/* Enable Syscall User Dispatch for the calling thread (its block's selector) / disable it. */
EXEC_HIDDEN void exec_sud_thread_start(struct exec_thread *self);
EXEC_HIDDEN void exec_sud_thread_stop(struct exec_thread *self);
/*
 * SIGSYS raised by enclave code (the kernel did not execute the system
 * call): the #UD of SYSCALL/INT 0x80/SYSENTER; t->regs.rip moves back to
 * the instruction when it can be identified.
 */
EXEC_HIDDEN struct hw_event exec_sud_event(struct exec_thread *self, const siginfo_t *si);
/*
 * Is the #GP of enclave code at rip raised by an instruction that is
 * illegal in an enclave, for which hardware raises #UD there?  Those that
 * raise #GP in host user mode: I/O (IN, OUT, INS, OUTS), RDPMC, SGDT, SIDT,
 * SLDT and STR (with UMIP), CPUID (with CPUID faulting), INT n (n != 3),
 * IRET, far RET, far CALL and JMP through memory, MOV to a segment
 * register, POP FS/GS, LSS/LFS/LGS (a selector the host refuses), after
 * any legacy or REX prefixes.  Those the host executes when its checks
 * pass (a valid selector, RDPMC where the kernel allows it) run natively.
 */
EXEC_HIDDEN bool exec_enclave_ud_at(struct hw_thread *t, uint64_t rip);

/* ---- pkey.c ---------------------------------------------------------------- */

/* Keys exec allocated for enclaves (bit k = key k). */
EXEC_HIDDEN EXEC_GENERAL_REGS uint32_t exec_pkey_mask(void);
/* PKRU of host code: pkru with AD and WD set for every key in mask. */
EXEC_HIDDEN uint32_t exec_pkru_host(uint32_t pkru, uint32_t mask);
/* PKRU of enclave code: the host's, with key (if >= 0) allowed. */
EXEC_HIDDEN uint32_t exec_pkru_enclave(uint32_t pkru, uint32_t mask, int key);

#endif /* __ASSEMBLER__ */
#endif /* SGXEMU_EXEC_INT_H */
