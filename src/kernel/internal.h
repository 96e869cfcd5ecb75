/* SPDX-License-Identifier: MIT */
/*
 * Private to src/kernel: the kernel, enclave, page, VMA and file objects.
 *
 * Locks, in the order they nest (never take one to the left while holding
 * one to its right):
 *
 *   k->mm_lock -> k->files_lock -> encl->lock  ->  k->lru_lock (-> k->ws_lock), k->threads_lock
 *                                             \->  m->lock (any hw call)  ->  k->pt_lock
 *
 * (files_lock comes after mm_lock: the last reference of an enclave may be
 * dropped under mm_lock, by munmap or by a reclaim a fault ran, and the
 * teardown takes files_lock; nothing takes mm_lock under files_lock.)
 *
 * - k->mm_lock (the mmap lock): VMA list changes, mmap/mprotect/munmap and
 *   the fault handler.
 * - encl->lock (the enclave mutex): held per page of every operation; it
 *   guards the enclave's page records and state.  Held across ENCLS calls.
 * - k->lru_lock: the reclaimer's LRU and each page's lru/reclaiming fields.
 * - k->pt_lock (the page-table lock): the VMA list and each page's PTE and
 *   host protection, and insertion/removal in the page index.  It is what
 *   the mmu callback takes, from inside hw (under m->lock), so nothing is
 *   ever called into hw while it is held.
 * - k->ws_lock: the threads' fault working sets (k->ws).  A leaf: taken
 *   under any of the others (the reclaimer takes it under k->lru_lock),
 *   never the other way round.
 */
#ifndef SGXEMU_KERNEL_INTERNAL_H
#define SGXEMU_KERNEL_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <asm/sgx.h>

#include "kernel.h"

#define KPAGE	  4096ULL
#define KPROT_RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

/* Page records per index chunk; also the pages one VA page can hold. */
#define ENCL_CHUNK 512U

/* Reclaim watermarks (spec/linux-driver.md §3, §7). */
#define SGX_NR_LOW_PAGES  32
#define SGX_NR_HIGH_PAGES 64
#define SGX_NR_TO_SCAN	  16

/*
 * Rounds of "reclaim, then try again" an allocation makes when the frames
 * each round freed were taken by others before it could have one (Linux
 * loops until a signal arrives).  Every round evicted a page at least, so
 * the EPC is not stuck, only contended: after this many the caller gives
 * up as if nothing were reclaimable (ENOMEM) or, for a fault, lets the
 * access fault again (VM_FAULT_NOPAGE).
 */
#define SGX_RECLAIM_ROUNDS 64

/* One enclave page as the driver knows it (struct sgx_encl_page). */
struct encl_page {
	struct sgx_encl *encl;
	uint64_t addr;	  /* linear address */
	uint8_t type;	  /* SGX_PT_REG / SGX_PT_TCS / SGX_PT_TRIM: what the driver believes */
	uint8_t max_prot; /* vm_max_prot_bits (PROT_*) */
	bool dynamic;	  /* EAUG'd (the policy's W^X rule applies) */
	bool resident;	  /* in the EPC (else in the backing store) */
	/* SGX_ENCL_PAGE_BEING_RECLAIMED: marked and blocked by the reclaimer, EWB to come (encl->lock) */
	bool being_reclaimed;
	/* The checker reported an access under its last restriction (encl->lock); the host may map it now. */
	bool pr_seen;
	/* The checker: the last change of the EPCM made for this page and the thread that asked (encl->lock). */
	uint8_t req_op; /* enum encl_req_op */
	int req_tid;
	/* guarded by k->pt_lock */
	bool pte;	   /* the PTE is present */
	uint8_t host_prot; /* protection of the host mapping now */
	/* guarded by k->lru_lock */
	bool on_lru;
	bool reclaiming;  /* isolated: taken off the LRU by the reclaimer (not yet or already marked) */
	uint32_t va_slot; /* evicted: VA page index * 512 + slot */
	struct encl_page *lru_prev, *lru_next;
};

struct va_page {
	uint64_t pa;
	uint64_t used[SGX_VA_SLOTS / 64];
	unsigned nused;
};

/* What made a page's EPCM change that the enclave must EACCEPT (the checker, docs/chaos.md). */
enum encl_req_op { REQ_NONE, REQ_RESTRICT, REQ_MODIFY, REQ_AUGMENT, REQ_FAULT };

/* A change an ioctl made, not yet seen accepted by the checker at its thread's exit. */
struct encl_req {
	uint64_t addr;
	int tid;
	uint8_t op;
};

/* Enclave flags (encl->flags, under encl->lock; CREATED/INITIALIZED are read racily only as hints). */
#define ENCL_CREATED	 0x1U
#define ENCL_INITIALIZED 0x2U
#define ENCL_DEBUG	 0x4U

struct sgx_encl {
	struct sgxk *k;
	pthread_mutex_t lock;
	atomic_uint refs;	/* the file, each VMA, the reclaimer while it holds pages */
	atomic_bool ioctl_busy; /* SGX_ENCL_IOCTL */
	bool chaos_busied;	/* chaos mode answered its last ioctl EBUSY: the next one runs (k->chaos_lock) */
	unsigned flags;
	uint64_t base, size;
	uint64_t attributes, xfrm;
	uint32_t miscselect;
	uint64_t attributes_mask;
	uint64_t window; /* frames of the ELRANGE: frame of addr = window + (addr - base) */
	uint64_t window_size;
	uint64_t secs_pa; /* the SECS frame (its own window) */
	int pkey;	  /* protection key of the enclave's host mappings, -1: none */
	bool secs_resident;
	uint32_t secs_va_slot;
	uint32_t ssa_pages;	    /* SECS.SSAFRAMESIZE: pages of one SSA frame */
	uint64_t children;	    /* resident child pages */
	struct encl_page ***chunks; /* page index: chunks[i][j] = page of index i*512+j */
	size_t nchunks;
	uint64_t page_cnt; /* pages incl. the SECS, for VA growth */
	struct va_page *va;
	size_t nva, cap_va;
	uint8_t *backing; /* data at idx*4096, PCMD at (size+4096) + idx*128 */
	size_t backing_size;
	uint8_t dyn_max_prot;  /* ceiling of dynamic pages (policy) */
	bool dyn_wx_exclusive; /* dynamic pages never mapped W and X at once */
	struct encl_req *reqs; /* the checker: changes the ioctls made, by thread (encl->lock) */
	size_t nreqs, cap_reqs;
	struct sgx_encl *next;	  /* k->encls */
	struct sgx_encl *next_pt; /* k->pt_encls (k->pt_lock) */
};

/* An enclave mapping (struct vm_area_struct of an SGX file). */
struct sgx_vma {
	uint64_t start, end;
	int prot;
	bool maywrite; /* VM_MAYWRITE: mapped shared from a file opened for writing */
	struct sgx_encl *encl;
	struct sgx_vma *next; /* sorted by address */
};

struct sgx_file {
	struct sgxk *k;
	enum sgx_dev dev;
	int fd;		       /* a real descriptor: unique number in the process */
	int accmode;	       /* open flags & O_ACCMODE: FMODE_READ / FMODE_WRITE */
	struct sgx_encl *encl; /* SGX_DEV_ENCLAVE */
	struct sgx_file *next;
};

struct sgxk_thread {
	struct hw_thread *t;
	struct sgxk_thread *next;
};

/*
 * A thread's fault working set (docs/kernel.md "EPC too small"): the
 * distinct pages its latest faults brought in, latest first.  The first
 * `span` of them are what its current instruction may still need besides
 * the page it faults on: TCS, SSA frame, code page and up to three ENCLU
 * operand pages, so span = 4 + SSAFRAMESIZE.  A reclaim run by a fault
 * never evicts the faulting thread's own, and other threads' only when
 * nothing else can go, one page at a time: so an instruction whose pages
 * fit in the EPC gets them all resident within as many faults as it has
 * pages, instead of one fault evicting what the previous one loaded.
 * Pages are named by value (enclave, address), never dereferenced: an entry
 * may outlive its page, and then protects nothing.
 */
#define FAULT_WS_PAGES	 16 /* entries per thread; bounds span (SSAFRAMESIZE up to 12 fully covered) */
#define FAULT_WS_THREADS 64 /* threads tracked at once; the one that faulted least recently gives way */

struct ws_page {
	const struct sgx_encl *encl;
	uint64_t addr;
};

struct fault_ws {
	uint64_t owner; /* the thread's token, 0: free slot */
	uint64_t last;	/* k->fault_seq at the owner's latest fault */
	unsigned n;	/* entries in pages[] */
	unsigned span;	/* entries protected: the first span of pages[] */
	struct ws_page pages[FAULT_WS_PAGES];
};

/* What a reclaim run on behalf of one operation must leave in the EPC. */
enum reclaim_ws {
	KEEP_NO_WS,  /* an ioctl's or an explicit reclaim: working sets may go */
	KEEP_ALL_WS, /* a fault's first choice: every thread's working set stays */
	KEEP_OWN_WS, /* a fault's last resort: only the faulting thread's stays */
};
struct reclaim_keep {
	const struct sgx_encl *encl; /* the enclave it works on: its SECS stays */
	enum reclaim_ws ws;
	uint64_t owner; /* KEEP_OWN_WS: the faulting thread's token */
};

/*
 * Hooks for tests/kernel only (all zero otherwise): they stop the reclaimer
 * between the steps of a batch, so that a test can act on pages exactly
 * while they are isolated or blocked, deterministically.
 */
enum sgxk_test_reclaim_step {
	SGXK_TEST_RECLAIM_ISOLATED, /* the batch is off the LRU (lru_del fails), nothing marked or blocked yet */
	SGXK_TEST_RECLAIM_BLOCKED,  /* every page marked being reclaimed, PTE zapped, EBLOCKed; no EWB yet */
	SGXK_TEST_RECLAIM_DONE,	    /* the batch is finished (written back or returned to the LRU) */
};
struct sgxk_test_hooks {
	/* Called by the reclaimer after each step, with no lock held. */
	void (*reclaim)(struct sgxk *k, enum sgxk_test_reclaim_step step, void *arg);
	void *reclaim_arg;
	/* Times sgxk_access found its page being reclaimed and waited for the reclaimer. */
	atomic_uint reclaim_waits;
};

struct sgxk {
	struct hw_mmu mmu; /* first: sgxk_mmu() hands out &k->mmu */
	struct hw_machine *m;
	struct sgxk_config cfg;
	_Atomic uint64_t host_protects; /* host protection changes made (mprotect calls), sgxk_host_protects */
	pthread_mutex_t chaos_lock;	/* chaos_rng, the counts, chaos_last, chaos_sigbus_last, encl->chaos_busied */
	uint64_t chaos_rng, chaos_count;
	uint64_t chaos_last; /* where the last ioctl chaos stopped started (base + offset) */
	uint64_t chaos_busy_count, chaos_sigbus_count, chaos_tlb_count;
	uint64_t chaos_sigbus_last; /* the page of the last fault chaos answered SIGBUS (0: none) */
	bool sgx2;
	uint64_t misc_reserved, attr_reserved, xfrm_reserved;
	/* The host's address-space limits mmap checks against (TASK_SIZE, mmap_min_addr, CAP_SYS_RAWIO). */
	uint64_t task_size, mmap_min_addr;
	bool low_mmap_ok;

	pthread_mutex_t mm_lock;
	pthread_mutex_t pt_lock;
	/* Moves whenever a translation could change (pt_changed, pt_lock held): the threads' TLBs (hw_mmu.gen). */
	_Atomic uint64_t pt_gen;
	pthread_mutex_t lru_lock;
	pthread_mutex_t files_lock;   /* the files and encls lists */
	pthread_mutex_t threads_lock; /* threads list and kick (taken under encl->lock) */
	pthread_mutex_t ws_lock;      /* ws[] and fault_seq (a leaf) */

	struct sgx_vma *vmas;
	struct sgx_file *files;
	struct sgx_encl *encls;
	struct sgx_encl *pt_encls; /* created enclaves, for the page walk (k->pt_lock) */
	struct sgxk_thread *threads;
	sgxk_kick_fn kick;
	void *kick_arg;
	struct sgxk_pkey_ops pkeys; /* protection keys of enclave mappings (alloc NULL: none) */

	struct encl_page *lru_head, *lru_tail;
	unsigned nr_isolated; /* pages reclaimers hold off the LRU now (k->lru_lock) */

	struct fault_ws ws[FAULT_WS_THREADS];
	uint64_t fault_seq;

	struct sgxk_test_hooks test;
};

/* ---- user memory (file.c) ---- */
int copy_from_user(void *dst, uint64_t src, size_t len);
int copy_to_user(uint64_t dst, const void *src, size_t len);

/* ---- enclave object (encl.c) ---- */
struct sgx_encl *encl_new(struct sgxk *k);
void encl_get(struct sgx_encl *e);
/*
 * A reference for someone who found e through one of its pages (the
 * reclaimer, under k->lru_lock) rather than through a reference it holds.
 * Return: false once the count reached zero: e is being released.
 */
bool encl_get_unless_zero(struct sgx_encl *e);
/* Drop a reference; the last one tears the enclave down (spec §8). */
void encl_put(struct sgx_encl *e);

/* Frame of the page at linear addr (no check). */
static inline uint64_t encl_frame(const struct sgx_encl *e, uint64_t addr)
{
	return e->window + (addr - e->base);
}

static inline bool encl_in_range(const struct sgx_encl *e, uint64_t addr)
{
	return (e->flags & ENCL_CREATED) && addr >= e->base && addr - e->base < e->size;
}

/* Page record at addr or NULL (encl->lock or k->pt_lock held). */
struct encl_page *encl_page_at(struct sgx_encl *e, uint64_t addr);
/* Insert a new record (encl->lock held). Return: 0, -EBUSY if present, -ENOMEM. */
int encl_page_insert(struct sgx_encl *e, struct encl_page *p);
/* Remove and free a record (encl->lock held; not on the LRU, not being reclaimed). */
void encl_page_remove(struct sgx_encl *e, struct encl_page *p);

/*
 * Reserve one EPC frame (sgx_alloc_epc_page). reclaim: may run the reclaimer (no enclave lock held).
 * Return: 0, -ENOMEM (nothing reclaimable, or SGX_RECLAIM_ROUNDS rounds lost to other allocators),
 * -EBUSY (none free and !reclaim), -ERESTARTSYS (a signal is pending while it would reclaim).
 */
int sgx_epc_get(struct sgxk *k, bool reclaim);
void sgx_epc_put(struct sgxk *k);

/* VA capacity for one more page (sgx_encl_grow; encl->lock held). Return: 0, -ENOMEM, -EBUSY. */
int encl_grow(struct sgx_encl *e);
/* Undo one encl_grow (the page was not added). */
void encl_shrink(struct sgx_encl *e);
/* Take / give back a free VA slot (encl->lock held). Return: false when none is free. */
bool encl_va_slot_alloc(struct sgx_encl *e, uint32_t *slot);
void encl_va_slot_free(struct sgx_encl *e, uint32_t slot);
uint64_t encl_va_slot_pa(const struct sgx_encl *e, uint32_t slot);

/*
 * Page lookup for ioctls and faults (sgx_encl_load_page; encl->lock held):
 * swapped-out pages are reloaded (SECS first).
 * Return: the page, or NULL with *err = -EFAULT (none, or ELDU failed), -EAGAIN (being reclaimed),
 * -EBUSY (no free EPC frame, reclaiming may help), -ENOMEM (no free frame and nothing reclaimable).
 */
struct encl_page *encl_load_page(struct sgx_encl *e, uint64_t addr, int *err);

/* Make p reclaimable / not (LRU membership). */
void lru_add(struct sgxk *k, struct encl_page *p);
/* Return: false while the reclaimer holds p. */
bool lru_del(struct sgxk *k, struct encl_page *p);
/* Unlink p from the LRU list, which it is on (k->lru_lock held). */
void lru_unlink(struct sgxk *k, struct encl_page *p);

/* Kick every registered thread inside e out (encl->lock held). */
void encl_kick_threads(struct sgx_encl *e);
/* ETRACK, forcing threads out and retrying once when the previous cycle is open. Return: 0 or -EFAULT. */
int encl_track(struct sgx_encl *e);

/* ---- mappings (vma.c) ---- */
struct sgx_vma *vma_find(struct sgxk *k, uint64_t addr); /* k->pt_lock held */
/*
 * The enclave of the VMA at addr and the VMA's protection (NULL and
 * PROT_NONE where there is none), looked up under k->pt_lock; they stay
 * valid while the caller holds k->mm_lock.
 */
struct sgx_encl *vma_encl_at(struct sgxk *k, uint64_t addr, int *prot);
/* Recompute the host protection of page p (encl->lock held). */
void vma_refresh_page(struct sgx_encl *e, struct encl_page *p);
/* The same for e's pages in [lo, hi): one mprotect per run of adjacent pages that change alike (e->lock held). */
void vma_refresh_range(struct sgx_encl *e, uint64_t lo, uint64_t hi);
/* Drop the PTE of p: host PROT_NONE (encl->lock held). */
void vma_zap_page(struct sgx_encl *e, struct encl_page *p);
/* After ECREATE: map the ELRANGE parts of e's existing VMAs onto its frames. */
void vma_attach_encl(struct sgx_encl *e);
/* May [start,end) be mapped with prot (sgx_encl_may_map)? Return: 0 or -EACCES. */
int encl_may_map(struct sgx_encl *e, uint64_t start, uint64_t end, int prot);

/* ---- policy (policy.c) ---- */
/* Set e's dynamic-page ceiling and W^X rule once its identity is known (at INIT; encl->lock held). */
void policy_apply(struct sgx_encl *e, const uint8_t mrsigner[32], const uint8_t mrenclave[32]);
/* The policy's extra rule on mapping a page with prot (W^X for dynamic pages). */
bool policy_prot_allowed(const struct sgx_encl *e, const struct encl_page *p, int prot);

/* ---- reclaimer (reclaim.c) ---- */
/*
 * Evict up to `pages` pages from the LRU, skipping what keep says stays (NULL: nothing).
 * Return: pages evicted (0: nothing could go).
 */
unsigned reclaim_pages(struct sgxk *k, unsigned pages, const struct reclaim_keep *keep);
/* Does some reclaimer hold pages off the LRU right now (they are about to free frames)? */
bool reclaim_in_progress(struct sgxk *k);
/* Swap in p (encl->lock held). Return: 0, -EBUSY / -ENOMEM (no free frame, see sgx_epc_get), -EFAULT (ELDU failed). */
int encl_eldu(struct sgx_encl *e, struct encl_page *p);
/* Swap in the SECS if it was evicted (encl->lock held). */
int encl_eldu_secs(struct sgx_encl *e);

/* ---- faults (fault.c) ---- */
/* Is p in the fault working set of thread owner, or of any thread if owner is 0 (k->ws_lock held)? */
bool fault_ws_holds(struct sgxk *k, const struct encl_page *p, uint64_t owner);
/* Forget the calling thread's working set (it stops running enclave code). */
void fault_ws_drop(struct sgxk *k);
/*
 * EAUG a page at addr with ceiling max_prot (encl->lock held, enclave
 * initialised).  pte: insert the PTE when a VMA within the ceiling covers
 * addr.  Return: 0, -EBUSY (no free EPC frame: reclaim and retry), -EEXIST
 * (a page is there), -ENOMEM, -EFAULT (EAUG failed).
 */
int encl_augment(struct sgx_encl *e, uint64_t addr, uint8_t max_prot, bool pte);
/* The checker is on: page p's EPCM was changed by op for the calling thread (encl->lock held). */
void encl_req_note(struct sgx_encl *e, struct encl_page *p, enum encl_req_op op);

/* ---- signals (signal.c) ---- */
/* The kernel's "restart the system call" (never returned to user space: becomes EINTR or a restart). */
#define ERESTARTSYS 512
/*
 * Run fn(ctx) as a system call with respect to signals: the signals the
 * caller has not blocked are held while it runs (signal_pending() sees
 * them) and delivered when it returns.  -ERESTARTSYS from fn restarts it
 * when no handler that ran lacks SA_RESTART, else becomes -EINTR.
 */
long sys_call(long (*fn)(void *ctx), void *ctx);
/* signal_pending(current): a signal the caller of the running sys_call has not blocked nor ignored is pending. */
bool signal_pending(void);

/* ---- observation (sgxk_obs) ---- */
/* Start of an observed operation: its time, 0 when nobody observes. */
static inline uint64_t sgxk_obs_begin(void)
{
	const struct sgxk_obs *o = __atomic_load_n(&sgxk_obs, __ATOMIC_RELAXED);
	return __builtin_expect(o != NULL, 0) ? o->now() : 0;
}

/* ---- chaos mode (ioctl.c; docs/chaos.md) ---- */
/* The next number of the kernel's chaos stream (splitmix64; k->chaos_lock held). */
uint64_t chaos_next(struct sgxk *k);
/* Does chaos mode answer this ioctl of e EBUSY (the "busy" kind)?  Logs the injection. */
bool chaos_busy(struct sgx_encl *e, unsigned int cmd);
/* Does chaos mode make the EAUG of a fault at addr find no EPC (the "sigbus" kind)?  Logs the injection. */
bool chaos_sigbus(struct sgx_encl *e, uint64_t addr);

/* ---- ioctls (ioctl.c) ---- */
/* The enclave file's ioctls (sgx_file_ioctl's work, the file's ioctl flag held). */
long sgx_ioctl(struct sgx_encl *e, unsigned int cmd, unsigned long arg);

/* A PTE, a VMA or its protection changed (k->pt_lock held): translations made before are stale. */
static inline void pt_changed(struct sgxk *k)
{
	atomic_fetch_add_explicit(&k->pt_gen, 1, memory_order_release);
}

#endif /* SGXEMU_KERNEL_INTERNAL_H */
