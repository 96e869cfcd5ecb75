/* SPDX-License-Identifier: MIT */
/*
 * The exec layer: enclave code runs natively on the host CPU at its enclave
 * addresses.  ENCLU (0F 01 D7) is #UD on the host, so it raises SIGILL; the
 * handler performs the leaf in the hw model on the thread's struct hw_thread
 * (registers from the signal context) and edits the saved context, so that
 * sigreturn continues in or out of the enclave.  Faults of enclave code
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP) become SGX events: a #PF the OS
 * can fix is fixed transparently, everything else is an AEX delivered at the
 * AEP, where sgxemu_enter_enclave reports it in struct sgx_enclave_run.
 *
 * exec needs little from the OS (the kernel layer, or a test's own OS): the
 * machine, the page tables the enclave runs under, a #PF handler, and a way
 * to bring the host protection of enclave pages up to date after the enclave
 * changed its EPCM itself (struct exec_os).  See docs/exec.md.
 */
#ifndef SGXEMU_EXEC_H
#define SGXEMU_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <signal.h>

#include <asm/sgx.h>

#include "hw.h"

/* What the OS's #PF handler did with a fault (the driver's VM_FAULT_* outcomes). */
enum exec_fault {
	EXEC_FAULT_FIXED,  /* the page is there now: the access is retried */
	EXEC_FAULT_SIGBUS, /* the driver's VM_FAULT_SIGBUS: reported as #PF */
	EXEC_FAULT_SIGSEGV /* not an address the OS can fix: reported as #PF */
};

/*
 * The OS under the enclaves of this process.  The callbacks run in the
 * faulting thread's signal handler, outside the machine lock, on the
 * thread's alternate signal stack, with every signal blocked; the
 * interrupted code is enclave code, which holds no host lock.
 */
struct exec_os {
	struct hw_machine *m;
	/* The process page tables: ENCLU operands and the classification of enclave faults. */
	const struct hw_mmu *mmu;
	void *ctx;
	/*
	 * An enclave access (or an ENCLU operand) found no page-table entry
	 * for addr: error code PF_U plus PF_W / PF_I as the access was.
	 * Called after the AEX, as hardware delivers the #PF.
	 */
	enum exec_fault (*fault)(void *ctx, uint64_t addr, uint32_t errcode);
	/*
	 * The EPCM of [addr, addr + len) changed by the enclave's own leaf
	 * (EACCEPT, EACCEPTCOPY, EMODPE), or the host refused an access the
	 * page tables and the EPCM both allow: recompute the host protection.
	 * The thread is in enclave mode here, so refresh must not wait for a
	 * lock whose holder may be waiting for this thread to leave the
	 * enclave (exec_kick): return -EAGAIN instead, and exec retries after
	 * taking any pending kick.  Return: 0 done, -EAGAIN busy.
	 * May be NULL when the OS never lets host protection go stale.
	 */
	int (*refresh)(void *ctx, uint64_t addr, size_t len);
	/* A thread got its enclave thread model / is exiting (e.g. for IPIs). May be NULL. */
	void (*thread_start)(void *ctx, struct hw_thread *t);
	void (*thread_stop)(void *ctx, struct hw_thread *t);
	/*
	 * Chaos mode: evict the enclave page at addr now (the calling thread
	 * is out of enclave mode).  Return: 0, or -errno (nothing evicted).
	 * May be NULL: chaos mode then only interrupts.
	 */
	int (*evict)(void *ctx, uint64_t addr);
	/*
	 * The EDMM protocol checker (exec_check_set): enclave code's access to
	 * addr faulted with errcode (a #PF after its AEX), or the host refused
	 * one the page tables and the EPCM allow (errcode 0xFFFFFFFF, the
	 * thread still in enclave mode: never wait for a lock).  Return: 1
	 * with a message in msg when the page's state shows a protocol
	 * mistake, else 0.  May be NULL.
	 */
	int (*check)(void *ctx, uint64_t addr, uint32_t errcode, char *msg, size_t len);
	/*
	 * The checker, after thread tid's EACCEPT/EACCEPTCOPY of addr succeeded:
	 * 1 and msg if the change it accepted was not asked for by this thread.
	 * May be NULL.
	 */
	int (*check_accept)(void *ctx, uint64_t addr, int tid, char *msg, size_t len);
	/*
	 * The checker, at thread tid's EEXIT from the enclave of TCS tcs: 1, msg
	 * and *page if a change its own requests made still waits for EACCEPT.
	 * May be NULL.
	 */
	int (*check_exit)(void *ctx, uint64_t tcs, int tid, char *msg, size_t len, uint64_t *page);
};

/*
 * Install the signal handlers for SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP,
 * the kick signal, and every signal the program has a handler for (the
 * actions they replace get every signal that is not about enclave code:
 * exec_sigaction) and remember os.  One OS per process.
 * Return: 0; -EBUSY if already installed; -ENOMEM if the region for the
 * threads' signal stacks could not be reserved; -EINVAL for a NULL machine,
 * mmu or fault handler.
 */
int exec_install(const struct exec_os *os);

/*
 * sigaction() for a program whose enclaves run under exec.  exec's handler
 * stands in front of every signal the program handles (those with a handler
 * at exec_install, and those given one here), so that a signal arriving
 * while a thread runs enclave code makes it AEX and the program's action
 * runs on the host context at the AEP, as on Linux.  A handler installed
 * with plain sigaction() after exec_install would run on the enclave's
 * stack instead.  SIG_DFL and SIG_IGN go to the kernel as they are.
 * Return: 0, or -errno as sigaction() gives it (-EINVAL: bad signal number,
 * SIGKILL/SIGSTOP).
 */
int exec_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/*
 * Restore the previous handlers.  Return: 0, or -EBUSY while a thread is
 * in enclave mode.  Per-thread state of live threads stays until they exit.
 */
int exec_uninstall(void);

/*
 * __vdso_sgx_enter_enclave, exactly (spec/linux-driver.md §9): function 2
 * (EENTER) or 3 (ERESUME), else -EINVAL; non-zero run->reserved -> -EINVAL;
 * RBX = run->tcs, RCX = AEP = the address of its own ENCLU, RAX = function;
 * EEXIT -> run->function = 4; an exception at the AEP or on the ENCLU itself
 * -> run->function/exception_vector/exception_error_code/exception_addr;
 * then run->user_handler (if set) is called, > 0 re-enters with that leaf.
 * Returns 0 in both cases.  Like the vDSO it preserves only RBX, RBP and RSP:
 * RDI, RSI, RDX, R8-R15 are the enclave's (zero after an AEX).
 */
int sgxemu_enter_enclave(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
			 unsigned long r8, unsigned long r9, struct sgx_enclave_run *run);

/*
 * The same call for C callers: also saves and restores R12-R15 around it
 * (an AEX zeroes them).  Register arguments still reach the enclave.
 */
int sgxemu_call_enclave(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
			unsigned long r8, unsigned long r9, struct sgx_enclave_run *run);

/*
 * Force thread t (an enclave thread model exec created) out of enclave
 * mode, as an IPI does on hardware: if it is in enclave mode, a real-time
 * signal (EXEC_KICK_SIGNAL) makes it AEX (an interrupt: nothing is
 * reported; at sgxemu_enter_enclave's AEP the ERESUME follows at once).
 * Returns once t left enclave mode at least once since the call, or was
 * outside.  Must not be called by t itself.  Safe to call with OS locks
 * held: t never waits for an OS lock while in enclave mode (see refresh).
 */
void exec_kick(struct hw_thread *t);
/* The signal exec_kick uses; exec installs a handler for it and never blocks it in enclave mode. */
#define EXEC_KICK_SIGNAL (SIGRTMAX - 1)

/* Counters since exec_install, for benchmarks and tests. */
struct exec_stats {
	uint64_t traps;		  /* signals exec's handler took (ENCLU traps, faults, interrupts, chained signals) */
	uint64_t short_paths;	  /* ENCLUs that ran again in the signal of their fixed fault (docs/exec.md) */
	uint64_t direct_entries;  /* EENTER/ERESUME of sgxemu_enter_enclave performed without a trap */
	uint64_t direct_loads;	  /* of those, into the enclave without rt_sigreturn (exec_direct_load) */
	uint64_t bare_entries;	  /* of those, with no XSAVE: the caller's extended state stayed in the registers */
	uint64_t direct_rolled;	  /* signals that arrived during such a load, moved to the enclave's entry */
	uint64_t direct_deferred; /* signals that arrived during a direct entry, put off until the enclave runs */
	uint64_t direct_lost;	  /* of those, lost: the kernel would not queue them again (RLIMIT_SIGPENDING) */
	uint64_t trap_loads;	  /* traps whose context went back into the enclave without rt_sigreturn */
	uint64_t host_loads;	  /* traps that left the enclave (EEXIT, AEX) to host code without rt_sigreturn */
	uint64_t jump_loads;	  /* of all those loads, the ones that ended in the thread's jump pad, not IRETQ */
	uint64_t mask_loads;	  /* ... and the ones that set the signal mask (rt_sigprocmask) */
	uint64_t deferred_opens; /* EACCEPTed pages whose host protection was opened later, with a run (docs/exec.md) */
	uint64_t deferred_runs;	 /* runs of such pages opened, each with one refresh */
	uint64_t deferred_touched; /* of those, runs opened because enclave code touched a page of theirs first */
	uint64_t chaos_interrupts; /* ENCLUs chaos mode interrupted (AEX, then ERESUME) */
	uint64_t chaos_evictions;  /* pages chaos mode evicted during those interrupts */
	uint64_t chaos_timer;	   /* interrupts of the timer kind (at any instruction of enclave code) */
	uint64_t chaos_steps;	   /* interrupts of the step kind (after a stepped instruction) */
	uint64_t check_reports;	   /* protocol mistakes the checker reported */
};
void exec_get_stats(struct exec_stats *s);

/*
 * Chaos mode (docs/chaos.md): at an ENCLU of enclave code, before the leaf
 * runs, an interrupt (AEX, and ERESUME from the AEP) and, during it, the
 * eviction of a page the ENCLU needs (one of its memory operands in the
 * ELRANGE, or its own code page).  Each thread draws from its own stream,
 * seeded with seed and the thread's number (the order threads first
 * entered an enclave), so one thread's injections repeat exactly with the
 * same seed; the ENCLU that runs again after an injection is not
 * interrupted again.  Every injection is a line on stderr unless quiet.
 */
struct exec_chaos {
	uint64_t seed;
	unsigned interrupt_every; /* 1 in N ENCLUs is interrupted; 0: none */
	unsigned evict_every;	  /* 1 in N is interrupted and a page it needs evicted; 0: none */
	unsigned timer_usec;	  /* an interrupt every USEC of a thread's CPU time, wherever it is in enclave code
				     (not reproducible); 0: none */
	unsigned step_every; /* enclave code single-stepped, 1 instruction in N interrupted (reproducible); 0: none */
	bool quiet;
	/*
	 * Told of every injection (in the thread's signal handler): what
	 * ("interrupt", "timer"), where (rip), the page evicted (0: none) and
	 * the eviction's result (0 or -errno).  May be NULL.
	 */
	void (*note)(const char *what, uint64_t rip, uint64_t page, int result);
};
/* Set chaos mode (before the first entry; a zero struct turns it off). Return: 0, or -EBUSY once threads entered. */
int exec_chaos_set(const struct exec_chaos *c);

/*
 * Turn the EDMM protocol checker's reports (exec_os.check) on or off: a line
 * on stderr per mistake, and note (may be NULL) told of each: the message,
 * the page (or TCS) it is about and the instruction, in the thread's signal
 * handler.
 */
void exec_check_set(bool on, void (*note)(const char *msg, uint64_t page, uint64_t rip));

/* The calling thread's enclave thread model (created at its first entry), or NULL. */
struct hw_thread *exec_thread_self(void);

/* ---- protection keys ---------------------------------------------------- */

/*
 * Can enclave pages be isolated from host code with protection keys on this
 * CPU and kernel?  CPUID.(7,0).ECX[3] PKU and [4] OSPKE, and pkey_alloc()
 * succeeding.  Return: true, or false with the reason in why.
 */
bool exec_pkey_probe(char *why, size_t len);

/*
 * A protection key for the enclave whose SECS is at secs_pa: the OS maps
 * every page of that enclave's ELRANGE with it (pkey_mprotect), so that
 * host code, which exec keeps running with every enclave key
 * access-disabled, faults (SIGSEGV, SEGV_PKUERR) on enclave memory, and
 * enclave code, whose PKRU exec opens for its own key at EENTER/ERESUME,
 * does not.  One key per enclave while the process has free keys, then
 * enclaves share the key with the fewest users.  Asking again for the same
 * SECS returns its key.
 * Return: the key (1..15); -EOPNOTSUPP without usable protection keys
 * (exec_pkey_probe says why); -ENOSPC if the program holds every key;
 * -ENOMEM if 4096 enclaves have keys; -EINVAL for an unaligned secs_pa.
 */
int exec_pkey_alloc(uint64_t secs_pa);
/* The key of the enclave at secs_pa, or -ENOENT if it has none. */
int exec_pkey_of(uint64_t secs_pa);
/*
 * The enclave at secs_pa is gone: release its key (pkey_free when no other
 * enclave shares it).  Call after its pages are unmapped: Linux lets a
 * freed key be allocated again with pages still carrying it.
 */
void exec_pkey_free(uint64_t secs_pa);

/* ---- system calls from enclave code ------------------------------------ */

/*
 * Do SYSCALL and INT 0x80 executed by enclave code raise #UD, as on
 * hardware, instead of entering the kernel?  exec_install enables Syscall
 * User Dispatch (Linux >= 5.11) per thread when this holds; it may fail
 * (an older kernel, a seccomp filter refusing prctl, SGXEMU_EXEC_NO_SUD
 * set).  Return: true, or false with the reason in why.
 */
bool exec_sud_probe(char *why, size_t len);

#endif /* SGXEMU_EXEC_H */
