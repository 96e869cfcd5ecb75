/* SPDX-License-Identifier: MIT */
/*
 * The kernel layer: the Linux SGX driver model (arch/x86/kernel/cpu/sgx) on
 * top of the hw CPU model.  One `struct sgxk` is one running kernel with one
 * process address space (the host process): its EPC allocator and
 * reclaimer, the enclave files opened on it, their VMAs and page tables.
 *
 * Errors are negative errno values, exactly those Linux returns
 * (spec/linux-driver.md); this is the only layer that speaks errno.
 *
 * Mappings are real: an enclave VMA is a MAP_SHARED|MAP_FIXED mapping of
 * the EPC memfd at the enclave's own addresses (frame of enclave offset o =
 * the enclave's window + o), whose host protection per page is
 * PTE prot ∩ EPCM perms, and PROT_NONE while the page has no PTE or is
 * PENDING, MODIFIED, BLOCKED, TRIM, a TCS or evicted.  The kernel updates it
 * whenever either side changes, so native enclave code traps exactly where
 * hardware would fault.
 */
#ifndef SGXEMU_KERNEL_H
#define SGXEMU_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hw.h"

struct sgxk;
struct sgx_file;

/* Dynamic page permission policy (docs/policy.md). */
enum sgxk_dyn_policy {
	SGXK_DYN_RWX,	       /* Linux 6.0: EAUG'd pages get ceiling R+W+X */
	SGXK_DYN_WX_EXCLUSIVE, /* X allowed, never W and X together in one mapping */
	SGXK_DYN_RW,	       /* no executable dynamic memory */
};

/* Most MRSIGNER / MRENCLAVE values an allowlist holds. */
#define SGXK_ALLOW_MAX 16

struct sgxk_config {
	struct hw_config hw;
	enum sgxk_dyn_policy dyn_policy;
	/* MRSIGNER / MRENCLAVE values whose enclaves get executable dynamic pages
	 * (ceiling R+W+X) although the policy is RW; checked at INIT. */
	uint8_t exec_allow_mrsigner[SGXK_ALLOW_MAX][32];
	size_t n_exec_allow_mrsigner;
	uint8_t exec_allow_mrenclave[SGXK_ALLOW_MAX][32];
	size_t n_exec_allow_mrenclave;
	bool noexec_dev; /* /dev mounted noexec: PROT_EXEC refused (EPERM/EACCES) */
	/* AUGMENT_PAGES and ADD_PAGES leave their frames to fault in one by one
	 * (SGXEMU_EPC_POPULATE=0; docs/kernel.md "Frames in batches"). */
	bool no_populate;
	/*
	 * Chaos mode's driver results (docs/chaos.md), drawn from one stream seeded with chaos_seed: one range
	 * ioctl in chaos_ioctl_every stops early ("ioctl"); one enclave ioctl in chaos_busy_every answers EBUSY
	 * as while another ioctl of the enclave runs ("busy"); one EAUG on a fault in chaos_sigbus_every finds no
	 * EPC and the fault is a SIGBUS ("sigbus"); every RESTRICT_PERMISSIONS and MODIFY_TYPES leaves the host
	 * mapping of its pages as it was for chaos_tlb_usec microseconds after EMODPR/EMODT, the stale-TLB
	 * window before the shootdown ("tlb").
	 */
	uint64_t chaos_seed;
	unsigned chaos_ioctl_every;  /* 0: never */
	unsigned chaos_busy_every;   /* 0: never */
	unsigned chaos_sigbus_every; /* 0: never */
	unsigned chaos_tlb_usec;     /* 0: no window */
	bool chaos_quiet;	     /* no line per injection */
	/* The EDMM protocol checker (SGXEMU_CHECK=1, read by sgxk_config_from_env; docs/chaos.md): a page
	 * whose restriction was not EACCEPTed yet is not mapped at the host, so that an access to it shows. */
	bool check;
};

/*
 * The smallest EPC the kernel runs on (docs/kernel.md "EPC too small"):
 * what one enclave thread needs resident at once.  Its enclave's SECS and
 * a VA page (pinned while the enclave has pages in the EPC), its TCS and
 * one SSA frame (one page at least), and what one instruction touches: the
 * code page and up to three ENCLU operand pages (EACCEPTCOPY's SECINFO,
 * target and source; EREPORT's TARGETINFO, REPORTDATA and OUTPUTDATA).
 */
#define SGXK_EPC_MIN_PAGES 8

/*
 * Check an EPC size against SGXK_EPC_MIN_PAGES.
 * Return: 0, or -1 with the reason (naming the minimum) in err.
 */
int sgxk_epc_size_check(uint64_t bytes, char *err, size_t errlen);

void sgxk_config_default(struct sgxk_config *c);
/* Read SGXEMU_* environment settings over c (docs/policy.md). Return: 0, or -1 with a message. */
int sgxk_config_from_env(struct sgxk_config *c, char *err, size_t errlen);

int sgxk_create(const struct sgxk_config *c, struct sgxk **out, char *err, size_t errlen);
void sgxk_destroy(struct sgxk *k);
struct hw_machine *sgxk_machine(struct sgxk *k);

enum sgx_dev {
	SGX_DEV_ENCLAVE,   /* /dev/sgx_enclave */
	SGX_DEV_PROVISION, /* /dev/sgx_provision */
};

/* open(2) of a device node. Return: 0 and *out, or -ENODEV (no SGX / no FLC), -ENOMEM. */
int sgxk_open(struct sgxk *k, enum sgx_dev dev, struct sgx_file **out);
/*
 * The same with open(2)'s flags: their access mode is the file's (FMODE_READ / FMODE_WRITE), which
 * mmap and mprotect check; sgxk_open opens O_RDWR.
 */
int sgxk_open_flags(struct sgxk *k, enum sgx_dev dev, int flags, struct sgx_file **out);
/*
 * ioctl(2): cmd from <asm/sgx.h> or include/sgxemu/ext.h (an unsigned int, as the system call
 * takes it: callers holding an unsigned long drop its upper half); arg is the user pointer.
 * Signals the caller has not blocked are held while it runs and delivered when it returns; a
 * call one of them stops before any progress is restarted (SA_RESTART) or fails with -EINTR.
 */
long sgx_file_ioctl(struct sgx_file *f, unsigned int cmd, unsigned long arg);
/*
 * mmap(2) of the file, with the checks of sys_mmap, do_mmap and get_unmapped_area in Linux's
 * order before the driver's: a MAP_FIXED mapping the driver refuses (EACCES) has unmapped the range
 * first, as mmap_region does.  Return: the address, or -errno.
 */
long sgx_file_mmap(struct sgx_file *f, uint64_t addr, size_t len, int prot, int flags, off_t off);
/*
 * mmap(2) of anything but an enclave file (anonymous memory, another descriptor): the host maps it;
 * with MAP_FIXED, the enclave VMAs it replaced go with their references, as Linux's VMAs would.
 * Return: the address, or -errno (from the host; nothing changed then).
 */
long sgxk_mmap_other(struct sgxk *k, uint64_t addr, size_t len, int prot, int flags, int fd, off_t off);
/* close(2): the enclave dies when the file and every VMA are gone. */
void sgx_file_close(struct sgx_file *f);

/*
 * mprotect(2) as do_mprotect_pkey: the checks that need no VMA first (EINVAL, 0 for len 0, ENOMEM
 * for an end that wraps); then -ENOENT if no enclave VMA intersects the range (the host's call then);
 * else VMA by VMA from addr: enclave VMAs here (EACCES: no VM_MAYWRITE / VM_MAYEXEC,
 * sgx_encl_may_map), the parts between them by the host's mprotect; a hole is ENOMEM.  The VMAs
 * before a failure keep their new protection.
 */
int sgxk_mprotect(struct sgxk *k, uint64_t addr, size_t len, int prot);
/*
 * munmap(2) of the enclave VMAs in the range: -EINVAL (nothing unmapped) for what do_mas_munmap
 * refuses, -ENOENT if no enclave VMA intersects it; the caller unmaps the rest at the host.
 */
int sgxk_munmap(struct sgxk *k, uint64_t addr, size_t len);

/*
 * A debugger's access to enclave memory (vm_ops->access: what ptrace PEEKDATA/POKEDATA and
 * /proc/pid/mem reach): len bytes at addr, which must lie in an enclave VMA, read into or written
 * from buf with EDBGRD/EDBGWR, one aligned 8-byte word at a time; evicted pages are loaded.
 * Return: len, or -EFAULT (no enclave VMA at addr, enclave without DEBUG, no page at an address
 * of the range, the VMA's protection above a page's ceiling, reload failed), -EIO (EDBGRD/EDBGWR
 * failed: PENDING, MODIFIED or TRIM page, TCS field), -ENOMEM (an evicted page and no EPC frame
 * can be freed).  As in Linux, the words before a failure were transferred (written) already.
 */
long sgxk_access(struct sgxk *k, uint64_t addr, void *buf, size_t len, bool write);

/* Is addr inside an enclave VMA? */
bool sgxk_owns(struct sgxk *k, uint64_t addr);

/* The process page tables for ENCLU operands and enclave accesses (hw_thread.mmu). */
const struct hw_mmu *sgxk_mmu(struct sgxk *k);

enum sgxk_fault {
	SGXK_FAULT_FIXED,  /* PTE inserted (EAUG / ELDU / access bit): retry the access */
	SGXK_FAULT_SIGBUS, /* the driver's VM_FAULT_SIGBUS */
	SGXK_FAULT_SIGSEGV /* not an enclave page the driver can fix (bad access) */
};
/* The #PF handler for an access to addr (error code bits P/W/U/I, SGX bit clear). */
enum sgxk_fault sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode);

/*
 * Thread bookkeeping for "IPIs": exec registers each hw_thread that may run
 * enclave code.  When tracking needs the threads inside an enclave to leave
 * (ETRACK cycle still open, EWB SGX_NOT_TRACKED), the kernel calls
 * kick(k, t, arg) for every registered thread in enclave mode in that
 * enclave; kick must return only after t left enclave mode (an AEX, as an
 * IPI causes).  It is called with the enclave's mutex held and must not call
 * back into the kernel.  Without a kick function the threads are left alone
 * (and the operation that needed them out fails as documented).
 */
typedef void (*sgxk_kick_fn)(struct sgxk *k, struct hw_thread *t, void *arg);

/*
 * Protection keys for enclave mappings (docs/exec.md "Protection keys"):
 * alloc gives the enclave whose SECS is at secs_pa a key right after
 * ECREATE (negative: none, the mappings use plain mprotect); every host
 * protection change of its pages then uses pkey_mprotect with it; free
 * releases it at teardown, when no VMA is left.  Set before any CREATE.
 */
struct sgxk_pkey_ops {
	int (*alloc)(void *ctx, uint64_t secs_pa);
	void (*free)(void *ctx, uint64_t secs_pa);
	void *ctx;
};
void sgxk_set_pkeys(struct sgxk *k, const struct sgxk_pkey_ops *ops);
/* The protection key of the enclave mapped at addr, or -1 (none, or no enclave VMA there). */
int sgxk_pkey_at(struct sgxk *k, uint64_t addr);
void sgxk_set_kick(struct sgxk *k, sgxk_kick_fn kick, void *arg);
void sgxk_thread_register(struct sgxk *k, struct hw_thread *t);
void sgxk_thread_unregister(struct sgxk *k, struct hw_thread *t);

/* ---- introspection (tests, tools, exec) ---- */

/* The process-unique file descriptor number of an open file (what SGX_IOC_ENCLAVE_PROVISION takes). */
int sgx_file_fd(const struct sgx_file *f);

/*
 * Host protection (PROT_*) currently applied to the page at addr, or -1 if
 * addr is not in an enclave VMA.  exec uses it to tell a stale host
 * protection (refreshed by sgxk_fault) from an EPCM violation.
 */
int sgxk_host_prot(struct sgxk *k, uint64_t addr);

/* Recompute the host protection of the pages of [addr, addr+len) after the
 * enclave changed its EPCM itself (EACCEPT, EACCEPTCOPY, EMODPE). */
void sgxk_refresh(struct sgxk *k, uint64_t addr, size_t len);
/*
 * The same without waiting for an enclave's mutex, for a thread in enclave
 * mode (whose holder may be waiting for that thread to leave, see kick).
 * Return: 0, or -EAGAIN when a mutex was busy (pages before it are done).
 */
int sgxk_refresh_try(struct sgxk *k, uint64_t addr, size_t len);

/* Physical address of the enclave's SECS frame, and of the frame of the page at addr (0 before CREATE). */
uint64_t sgx_file_secs_pa(const struct sgx_file *f);
uint64_t sgx_file_frame(const struct sgx_file *f, uint64_t addr);

/* Run the reclaimer once: evict up to `pages` pages. Return: pages evicted. */
unsigned sgxk_reclaim(struct sgxk *k, unsigned pages);
/*
 * Evict the enclave page at addr now, as the reclaimer would (EBLOCK, the
 * ETRACK cycle, EWB), whatever its place in the LRU: chaos mode's EPC
 * pressure on the very page an instruction is about to touch.  No thread
 * may be in enclave mode on the calling thread.
 * Return: 0, -ENOENT (no enclave page there, or not in the EPC), -EBUSY (being
 * reclaimed already, pinned, or the write-back failed).
 */
int sgxk_evict(struct sgxk *k, uint64_t addr);
/*
 * The EDMM protocol checker: enclave code's access to addr faulted with the
 * #PF error code errcode, or (errcode SGXK_CHECK_HOST) the host refused an
 * access the page tables and the EPCM allow.  Does the page's state show
 * a protocol mistake hardware does not reliably punish?  A restriction
 * never EACCEPTed is reported once per restriction, and the page is then
 * mapped at the host as the EPCM says.  Never waits for a lock (the
 * thread may be in enclave mode): a busy enclave is not checked.
 * Return: 1 with the message in msg, else 0.
 */
#define SGXK_CHECK_HOST 0xFFFFFFFFU
int sgxk_check_access(struct sgxk *k, uint64_t addr, uint32_t errcode, char *msg, size_t len);
/*
 * The checker, after thread tid's EACCEPT or EACCEPTCOPY of addr succeeded:
 * was the change it accepted asked for by another thread (an ioctl of
 * another thread, an EAUG on another thread's fault)?  The change counts
 * as accepted from then on.  Never waits for a lock.
 * Return: 1 with the message in msg, else 0.
 */
int sgxk_check_accept(struct sgxk *k, uint64_t addr, int tid, char *msg, size_t len);
/*
 * The checker, when thread tid leaves the enclave of TCS tcs (EEXIT): does
 * a change its own ioctls made (RESTRICT_PERMISSIONS, MODIFY_TYPES,
 * AUGMENT_PAGES) still wait for the EACCEPT?  Each change is looked at
 * once, at the thread's first exit after it.  Never waits for a lock.
 * Return: 1 with the message in msg and the first such page in *page, else 0.
 */
int sgxk_check_exit(struct sgxk *k, uint64_t tcs, int tid, char *msg, size_t len, uint64_t *page);

/* Calls that changed the host protection of enclave pages so far (tests: a run of pages takes one). */
uint64_t sgxk_host_protects(struct sgxk *k);
/* Enclave pages resident / evicted, summed over every enclave (tests, stats). */
void sgxk_page_counts(struct sgxk *k, uint64_t *resident, uint64_t *evicted);

/* One enclave page as sgxk_page_walk shows it. */
struct sgxk_page_state {
	uint64_t addr;		  /* linear address */
	uint8_t type;		  /* SGX_PT_REG / SGX_PT_TCS / SGX_PT_TRIM, as the driver knows it */
	bool resident;		  /* in the EPC (else evicted to the backing store) */
	struct hw_epcm_view epcm; /* resident: its EPCM entry (pending, modified, pr, permissions) */
};
/*
 * Walk the enclaves and their pages: enclave(ctx, base, size) for each
 * created enclave, then page(ctx, &state) for each page it has, in address
 * order.  Callbacks run with the enclave's locks held: they must not call
 * into the kernel.  wait false: never wait for a lock (for a caller in a
 * signal handler that may have interrupted one): -EBUSY as soon as one is
 * held, after the enclaves walked so far.  Return: 0 or -EBUSY.
 */
int sgxk_page_walk(struct sgxk *k, bool wait, void (*enclave)(void *ctx, uint64_t base, uint64_t size),
		   void (*page)(void *ctx, const struct sgxk_page_state *s), void *ctx);

/* ---- observation (tracing and statistics, src/emu/obs.c) ---- */

/* What the #PF handler did for a fault it fixed. */
enum sgxk_fault_how {
	SGXK_FAULT_HOW_NONE, /* nothing (not fixed) */
	SGXK_FAULT_HOW_EAUG, /* a dynamic page added (EAUG on fault) */
	SGXK_FAULT_HOW_ELDU, /* an evicted page loaded back */
	SGXK_FAULT_HOW_PTE,  /* the page was resident: only its PTE */
};

/*
 * An observer of the driver, like hw_obs (hw.h): NULL unless installed,
 * one predictable branch per hook then; calls may come from exec's signal
 * handler (async-signal-safe) and must not call into the kernel.
 */
struct sgxk_obs {
	uint64_t (*now)(void); /* monotonic ns, never 0 */
	/* A #PF sgxk_fault handled, started at t0: outcome and what fixed it. */
	void (*fault)(struct sgxk *k, uint64_t addr, uint32_t errcode, enum sgxk_fault f, enum sgxk_fault_how how,
		      uint64_t t0);
	/* One reclaim batch, started at t0: pages taken off the LRU, pages written back. */
	void (*reclaim)(struct sgxk *k, unsigned isolated, unsigned evicted, uint64_t t0);
	/* Chaos mode stopped a range ioctl (name) at enclave address addr after done of pages pages, answering answer.
	 */
	void (*chaos_ioctl)(struct sgxk *k, const char *name, uint64_t addr, uint64_t done, uint64_t pages,
			    const char *answer);
	/* Chaos mode answered an enclave ioctl (name: "CREATE", "ADD_PAGES", ...) EBUSY without running it. */
	void (*chaos_busy)(struct sgxk *k, const char *name);
	/* Chaos mode made the EAUG of a fault at addr find no EPC: the fault is a SIGBUS (exec's signal handler). */
	void (*chaos_sigbus)(struct sgxk *k, uint64_t addr);
	/*
	 * Chaos mode opens the stale-TLB window of an ioctl (name): the pages pages from addr, whose EPCM
	 * EMODPR/EMODT just changed, keep their old host mapping for usec microseconds (called as it opens).
	 */
	void (*chaos_tlb)(struct sgxk *k, const char *name, uint64_t addr, uint64_t pages, unsigned usec);
};
extern const struct sgxk_obs *sgxk_obs;
void sgxk_obs_set(const struct sgxk_obs *o);

#endif /* SGXEMU_KERNEL_H */
