/* SPDX-License-Identifier: MIT */
/*
 * The hw layer's interface: an SGX1+SGX2 CPU in user space.
 *
 * Every leaf takes the register operands hardware takes and returns a typed
 * outcome: success, an SGX error code (RAX with ZF or CF), or a fault
 * (vector, error code, linear address).  No leaf ever mixes the kinds.
 *
 * "Physical" addresses: EPC frames live in one memfd, mapped once at
 * m->alias.  The physical address of a frame is its address in that alias
 * mapping, so an ENCLS operand naming an EPC page is simply an alias
 * pointer, and "not EPC" means "outside the alias".
 *
 * Locking: all leaves of a machine are serialised by m->lock (the SDM's
 * concurrency conflicts therefore never occur; see docs/hw.md).  The mmu
 * callbacks are called with m->lock held: they must not call back into hw
 * and must not take a lock that is held across calls into hw.
 */
#ifndef SGXEMU_HW_H
#define SGXEMU_HW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sgxemu/arch.h"

/* ---- outcomes ---------------------------------------------------------- */

enum hw_kind {
	HW_OK = 0,   /* leaf completed; rax holds the value left in RAX (0, or a CF warning) */
	HW_CODE = 1, /* leaf failed with an SGX error code in rax (ZF or CF set) */
	HW_FAULT = 2 /* leaf raised an exception; nothing changed */
};

struct hw_result {
	enum hw_kind kind;
	uint64_t rax;	  /* SGX code (HW_CODE) or the completed leaf's RAX */
	bool zf, cf;	  /* RFLAGS.ZF / RFLAGS.CF as the leaf leaves them */
	uint8_t vector;	  /* HW_FAULT: X86_GP, X86_PF or X86_UD */
	uint32_t errcode; /* HW_FAULT: #PF error code (PF_* bits); 0 for #GP(0) */
	uint64_t addr;	  /* HW_FAULT #PF: the faulting linear address (full) */
};

static inline struct hw_result hw_ok(void)
{
	return (struct hw_result){.kind = HW_OK};
}

/* Failure with an error code and ZF=1. */
static inline struct hw_result hw_code(uint64_t code)
{
	return (struct hw_result){.kind = HW_CODE, .rax = code, .zf = true};
}

/* Failure reported through CF=1 (EBLOCK's BLKSTATE/NOTBLOCKABLE/PG_IS_SECS). */
static inline struct hw_result hw_code_cf(uint64_t code)
{
	return (struct hw_result){.kind = HW_CODE, .rax = code, .cf = true};
}

static inline struct hw_result hw_gp(void)
{
	return (struct hw_result){.kind = HW_FAULT, .vector = X86_GP};
}

static inline struct hw_result hw_ud(void)
{
	return (struct hw_result){.kind = HW_FAULT, .vector = X86_UD};
}

static inline struct hw_result hw_pf(uint64_t addr, uint32_t errcode)
{
	return (struct hw_result){.kind = HW_FAULT, .vector = X86_PF, .errcode = errcode, .addr = addr};
}

static inline bool hw_is_ok(struct hw_result r)
{
	return r.kind == HW_OK;
}

static inline bool hw_is_code(struct hw_result r, uint64_t code)
{
	return r.kind == HW_CODE && r.rax == code;
}

static inline bool hw_is_fault(struct hw_result r, uint8_t vector)
{
	return r.kind == HW_FAULT && r.vector == vector;
}

/* Print an outcome as "OK", "SGX_NOT_TRACKED (11)", "#GP(0)", "#PF(0x..., err=0x8007)". */
int hw_result_format(struct hw_result r, char *buf, size_t len);
const char *hw_error_name(uint64_t code);

/* ---- address translation ----------------------------------------------- */

/* Access kinds for translation and EPCM checks. */
#define HW_ACC_R    0x1U
#define HW_ACC_W    0x2U
#define HW_ACC_X    0x4U
#define HW_ACC_USER 0x8U /* CPL 3 access (ENCLU operands, enclave code) */

/*
 * The page tables.  translate() maps linear address `lin` for an access of
 * kind `acc` to a physical address (a host address: an alias address for
 * EPC, an ordinary pointer otherwise) and returns true, or returns false
 * with *err = PF_P when a present entry forbids the access and 0 when
 * nothing is mapped; the leaf adds W/U/I and the address.  A NULL mmu is
 * the identity (ENCLS operands are kernel pointers).
 */
struct hw_mmu {
	bool (*translate)(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, uint32_t *err);
	/*
	 * Optional: a counter the OS increments whenever a translation to an
	 * EPC frame could change (a page table entry set or cleared, a
	 * mapping made, split, removed or its protection changed), after the
	 * change and while it still holds whatever its translate takes.  With
	 * it, the translations an ENCLU leaf makes for a thread are kept in
	 * the thread's TLB (hw_thread.tlb) and used again while the counter
	 * has not moved; NULL: every access walks (docs/hw.md "Address
	 * translation").
	 */
	_Atomic uint64_t *gen;
};

/* ---- machine ------------------------------------------------------------ */

/* XSAVE state components the model knows: XCR0 bits 0 (x87) .. 18 (AMX TILEDATA). */
#define HW_XFEATURES 19
/* The user components among them an XFRM may name: x87 SSE AVX, MPX, AVX-512, PKRU, AMX. */
#define HW_XFRM_KNOWN 0x602FFULL

struct hw_config {
	uint64_t epc_size;	 /* EPC capacity in bytes (CPUID sections), default 128 MiB */
	unsigned epc_sections;	 /* sections the capacity is split into (1..8), default 1 */
	uint64_t space_size;	 /* sparse physical space (memfd size), default 1 TiB */
	bool sgx1_only;		 /* hide SGX2: its leaves are unknown leaves (#GP) */
	uint32_t misc_supported; /* CPUID.(0x12,0).EBX, default EXINFO */
	uint64_t attr_allowed;	 /* CPUID.(0x12,1).EAX/EBX */
	uint64_t xfrm_allowed;	 /* CPUID.(0x12,1).ECX/EDX, default x87 | SSE (hw_xfrm_allowed_for) */
	uint64_t xcr0;		 /* XCR0 the enclave threads run with, default x87 | SSE */
	/* Standard-format XSAVE layout of component i >= 2 (CPUID.(0xD,i).EBX/EAX), default Intel's. */
	uint32_t xstate_offset[HW_XFEATURES], xstate_size[HW_XFEATURES];
	uint8_t max_size_log2_64; /* CPUID.(0x12,0).EDX[15:8] */
	uint8_t max_size_log2_32; /* CPUID.(0x12,0).EDX[7:0] */
	uint8_t cpusvn[16];	  /* the CPU's security version */
	bool lehash_locked;	  /* IA32_SGXLEPUBKEYHASH fixed (no flexible LC) */
	uint8_t lehash[32];	  /* initial IA32_SGXLEPUBKEYHASH0..3 */
	bool root_secret_set;	  /* use root_secret instead of a random one */
	uint8_t root_secret[32];  /* derives report/seal/paging keys */
	bool no_readahead;	  /* frames taken in order get memory one host fault each (docs/hw.md) */
	bool sync_readahead;	  /* frames ahead get memory in the leaf's thread, not the populator's */
	uint32_t populator_after; /* frames a thread takes in order before the populator serves it (0: 256) */
};

/* Defaults as documented in docs/hw.md. */
void hw_config_default(struct hw_config *cfg);

struct hw_machine;

/* Create a machine. Return: 0, or -1 with a message in err (memfd/mmap failed, bad config). */
int hw_machine_create(const struct hw_config *cfg, struct hw_machine **out, char *err, size_t errlen);
void hw_machine_destroy(struct hw_machine *m);
const struct hw_config *hw_machine_config(const struct hw_machine *m);

/* ---- EPC: physical frames ------------------------------------------------ */

/* The memfd holding every frame (the kernel layer maps enclave ranges from it). */
int hw_epc_fd(const struct hw_machine *m);
/* Offset in the memfd of the frame at physical address pa. */
uint64_t hw_epc_offset(const struct hw_machine *m, uint64_t pa);
/* Physical address of the frame at memfd offset off. */
uint64_t hw_epc_pa(const struct hw_machine *m, uint64_t off);
/* Is pa inside the EPC (any frame of the physical space)? */
bool hw_is_epc(const struct hw_machine *m, uint64_t pa);

/*
 * Windows: a contiguous, size-aligned run of frames reserved for one
 * enclave (size = its ELRANGE), so that adjacent enclave pages get adjacent
 * frames.  Return: the physical address of the window, or 0 when the
 * physical space is exhausted.
 */
uint64_t hw_epc_window_alloc(struct hw_machine *m, uint64_t size);
void hw_epc_window_free(struct hw_machine *m, uint64_t pa, uint64_t size);
/*
 * The frames [pa, pa + size) are about to be invalidated in a batch: the
 * window of an enclave being torn down, or the range of a REMOVE_PAGES.
 * Until hw_epc_window_free (a window) or hw_epc_retire_end (any range),
 * invalidating a frame there keeps the frame's memory, which then goes
 * back in one call per run of invalid frames instead of one per page
 * (each of which also unmaps the page and flushes the TLBs of the
 * process's threads).  A frame made valid meanwhile keeps its memory, as
 * any valid frame does.  Past 16 ranges retiring at once it does nothing
 * (frames are then given back one by one).
 */
void hw_epc_retire(struct hw_machine *m, uint64_t pa, uint64_t size);
/* The batch of hw_epc_retire(m, pa, size) is done: the frames in it that hold no valid page give their memory
 * back. */
void hw_epc_retire_end(struct hw_machine *m, uint64_t pa, uint64_t size);

/*
 * Give the frames [pa, pa + len) host memory now, in one call, so that the
 * leaves that fill them (EAUG, EADD, ELDU) do not fault them in one page at
 * a time: MADV_POPULATE_WRITE on the physical space, or where the host
 * kernel lacks it (before 5.14) fallocate of the memfd range.  Contents do
 * not change; the machine's readahead leaves the range alone.  Takes the
 * machine lock briefly: not from inside a leaf.
 * Return: 0, or -errno (the frames then fault in as before).
 */
int hw_epc_populate(struct hw_machine *m, uint64_t pa, uint64_t len);
/*
 * The same, done by the machine's populator (docs/hw.md "Frame
 * readahead") while the caller goes on: for leaves that do not write their
 * frames (EAUG), whose pages' first use then finds memory there.  A frame
 * used before the populator reaches it faults in as without it.
 * hw_epc_release_unused over the range takes back what is not done yet.
 * Return: true if the populator took the range; false if there is none
 * (sync_readahead, a child of fork, its thread could not start), its
 * queue is full, or the range is not the machine's: the caller may then
 * populate itself.
 */
bool hw_epc_populate_async(struct hw_machine *m, uint64_t pa, uint64_t len);
/*
 * Initialise a lock of the machine or of an OS built on it: one that spins
 * briefly before it sleeps (glibc's adaptive mutex), for the short critical
 * sections of leaves and faults, which threads on other CPUs would
 * otherwise wait for in the kernel, each wait and wake-up a system call.
 */
void hw_lock_init(pthread_mutex_t *lock);

/*
 * The machine's own lock (m->lock, every leaf): a futex word, 0 free, 1
 * held, 2 held with a thread asleep on it.  Taken and released inline, one
 * locked instruction each way and no call, since a leaf of enclave code
 * takes it in every transition; held elsewhere, it spins briefly before it
 * sleeps, as hw_lock_init's locks do.  Not recursive, and like those not to
 * be taken in a signal handler that may have interrupted its holder.
 */
struct hw_mutex {
	_Atomic uint32_t word;
};
/*
 * The slow halves: wait until the lock is free and take it; wake one
 * sleeper.  General-purpose registers only, as the leaves of a bare entry
 * that take the lock (hw_enclu_eenter_tlb).
 */
__attribute__((target("general-regs-only"))) void hw_mutex_wait(struct hw_mutex *l);
__attribute__((target("general-regs-only"))) void hw_mutex_wake(struct hw_mutex *l);
static inline void hw_mutex_lock(struct hw_mutex *l)
{
	uint32_t free_word = 0;
	if (!atomic_compare_exchange_strong_explicit(&l->word, &free_word, 1, memory_order_acquire,
						     memory_order_relaxed))
		hw_mutex_wait(l);
}
static inline bool hw_mutex_trylock(struct hw_mutex *l)
{
	uint32_t free_word = 0;
	return atomic_compare_exchange_strong_explicit(&l->word, &free_word, 1, memory_order_acquire,
						       memory_order_relaxed);
}
static inline void hw_mutex_unlock(struct hw_mutex *l)
{
	if (atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2)
		hw_mutex_wake(l);
}
/*
 * While held (nesting counts), frames the machine's readahead gives memory
 * ahead of this thread's leaves get it when the thread lets go, not when
 * the leaf returns: an OS calling leaves under locks of its own (a fault
 * handler) releases those first, so that other threads do not wait for the
 * host kernel's page allocation (docs/hw.md "Frame readahead").
 */
void hw_epc_readahead_hold(bool hold);
/* Wait until every frame the readahead asked the populator for has its memory (tests, benchmarks). */
void hw_epc_populate_wait(struct hw_machine *m);
/* Bytes of [pa, pa + len) the populator's queue still asks memory for, the step in flight not counted (tests). */
uint64_t hw_epc_populate_queued(struct hw_machine *m, uint64_t pa, uint64_t len);
/* Give back the memory of the frames in [pa, pa + len) that hold no valid EPC page. */
void hw_epc_release_unused(struct hw_machine *m, uint64_t pa, uint64_t len);

/*
 * Capacity accounting: the configured EPC size is a number of frames that
 * may be valid at once.  The OS reserves one before the leaf that makes a
 * frame valid and releases it after the leaf that invalidates one (or when
 * the leaf failed).  Return: true if a frame was free.
 */
bool hw_epc_reserve(struct hw_machine *m);
void hw_epc_release(struct hw_machine *m);
uint64_t hw_epc_frames_total(const struct hw_machine *m);
uint64_t hw_epc_frames_free(const struct hw_machine *m);

/* ---- EPCM (read-only view, for the OS model's assertions and scripts) ---- */

struct hw_epcm_view {
	bool valid, r, w, x, blocked, pending, modified, pr;
	uint8_t pt;
	uint64_t enclave_address;
	uint64_t enclave_secs; /* physical address of the owner's SECS */
};
bool hw_epcm_get(struct hw_machine *m, uint64_t pa, struct hw_epcm_view *out);
/* CSSA and NSSA of the valid TCS at pa (m->lock taken). Return: false when pa holds no TCS. */
bool hw_tcs_ssa(struct hw_machine *m, uint64_t pa, uint32_t *cssa, uint32_t *nssa);

/* Enclave identity and state as hardware keeps it (for tests/scripts). */
struct hw_secs_view {
	uint64_t eid;
	bool initialized;
	uint64_t child_count;
	uint64_t epoch;
	unsigned threads_inside;
	uint8_t mrenclave_now[32]; /* before EINIT: what EINIT would finalise now; after: MRENCLAVE */
	struct sgx_secs secs;	   /* architectural fields, copy of the page */
};
bool hw_secs_get(struct hw_machine *m, uint64_t secs_pa, struct hw_secs_view *out);

/* ---- MSRs ---------------------------------------------------------------- */

/* Write IA32_SGXLEPUBKEYHASHn (n 0..3). Return: false (#GP) when locked. */
bool hw_wrmsr_lehash(struct hw_machine *m, unsigned n, uint64_t value);
uint64_t hw_rdmsr_lehash(struct hw_machine *m, unsigned n);

/* ---- CPUID leaf 0x12 --------------------------------------------------- */

struct hw_cpuid {
	uint32_t eax, ebx, ecx, edx;
};
/* CPUID.(0x12, subleaf); also leaf 7 SGX bits via hw_cpuid7. */
struct hw_cpuid hw_cpuid12(const struct hw_machine *m, uint32_t subleaf);
/*
 * Size of the standard-format XSAVE image for the features in xfrm: the end
 * of the last component, at least the legacy region and header (576).
 * hw_xsave_size uses the default (Intel) layout, as a signer that knows no
 * machine does; hw_xsave_size_in the layout of configuration c.
 */
uint32_t hw_xsave_size(uint64_t xfrm);
uint32_t hw_xsave_size_in(const struct hw_config *c, uint64_t xfrm);
/*
 * Is xfrm a legal XFRM: x87 and SSE set, only components of HW_XFRM_KNOWN,
 * and what XSETBV accepts in XCR0 (MPX's two bits together, AVX-512's three
 * together and with AVX, AMX's two together)?
 */
bool hw_xfrm_legal(uint64_t xfrm);
/*
 * The XFRM bits a CPU whose XCR0 is xcr0 offers in CPUID.(0x12,1).ECX/EDX
 * (and the XCR0 its enclave threads run with): xcr0 restricted to the
 * components of HW_XFRM_KNOWN, with a group XSETBV needs whole (MPX,
 * AVX-512 with AVX, AMX) dropped unless complete; x87 and SSE always.
 * The result is itself a legal XFRM.
 */
uint64_t hw_xfrm_allowed_for(uint64_t xcr0);

/* ---- ENCLS ------------------------------------------------------------- */

/* Registers in and out of ENCLS/ENCLU. */
struct hw_regs {
	uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rflags, rip;
	uint64_t fsbase, gsbase;
};

/*
 * ENCLS[rax] with operands rbx/rcx/rdx, as the kernel executes it (CPL 0).
 * Operands are host pointers through `mmu` (NULL = identity).  On return
 * regs->rax and RFLAGS.ZF/CF are updated as hardware does, and EDBGRD's
 * RBX output is stored.  Unknown leaves -> #GP.
 */
struct hw_result hw_encls(struct hw_machine *m, const struct hw_mmu *mmu, struct hw_regs *regs);

/* One entry point per leaf (take m->lock, run the SDM's checks in order). */
struct hw_result encls_ecreate(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc);
struct hw_result encls_eadd(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc);
struct hw_result encls_eextend(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t secs, uint64_t chunk);
struct hw_result encls_einit(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t sigstruct, uint64_t secs,
			     uint64_t token);
struct hw_result encls_eremove(struct hw_machine *m, uint64_t epc);
struct hw_result encls_edbgrd(struct hw_machine *m, uint64_t epc, uint64_t *data);
struct hw_result encls_edbgwr(struct hw_machine *m, uint64_t epc, uint64_t data);
struct hw_result encls_epa(struct hw_machine *m, uint64_t rbx, uint64_t epc);
struct hw_result encls_eblock(struct hw_machine *m, uint64_t epc);
struct hw_result encls_etrack(struct hw_machine *m, uint64_t secs);
struct hw_result encls_ewb(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc,
			   uint64_t va_slot);
struct hw_result encls_eldb(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc,
			    uint64_t va_slot);
struct hw_result encls_eldu(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc,
			    uint64_t va_slot);
struct hw_result encls_eaug(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc);
struct hw_result encls_emodpr(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t secinfo, uint64_t epc);
struct hw_result encls_emodt(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t secinfo, uint64_t epc);

/* ---- enclave threads (ENCLU) ---------------------------------------------- */

/* An exception or interrupt that causes an AEX. */
struct hw_event {
	uint8_t vector;	  /* X86_* vector */
	bool software;	  /* INT3/INTO: EXITINFO type 6, else 3 */
	bool has_errcode; /* vector pushes an error code */
	uint32_t errcode; /* #PF/#GP error code */
	uint64_t addr;	  /* #PF: CR2 (full address) */
	bool interrupt;	  /* external interrupt/NMI/VM exit: not reported in EXITINFO */
};

/*
 * A logical processor running CPL-3 code.  The exec layer keeps one per host
 * thread; tests and scripts create them directly.  `regs` and `xsave` are
 * the live register state: ENCLU reads its operands from regs and writes its
 * results back; AEX saves them to the SSA and loads the synthetic state.
 */
/* SSA frame pages whose physical address a thread keeps from its entry; larger frames are walked again. */
#define HW_SSA_PAGES_MAX 16

/* Entries of a thread's TLB (fully associative, replaced in turn). */
#define HW_TLB_ENTRIES 8

struct hw_thread {
	struct hw_machine *m;
	const struct hw_mmu *mmu; /* the process page tables (user accesses) */
	struct hw_regs regs;
	uint8_t *xsave;	     /* standard-format XSAVE image, 64-byte aligned */
	uint32_t xsave_size; /* bytes valid in xsave (>= hw_xsave_size_in(cfg, xcr0 | xfrm_allowed)) */

	/* Enclave mode: set by EENTER/ERESUME, cleared by EEXIT/AEX. */
	bool in_enclave;
	uint64_t tcs_lin;		 /* linear address of the current TCS */
	uint64_t tcs_pa;		 /* physical address of the current TCS */
	uint64_t secs_pa;		 /* the current enclave's SECS */
	uint64_t eid;			 /* ... and its EID, unique on the machine (a SECS frame is used again) */
	uint64_t aep;			 /* AEP given at entry */
	uint64_t entry_epoch;		 /* tracking: enclave epoch at this entry */
	uint64_t out_fsbase, out_gsbase; /* host FS/GS, restored at exit */
	bool out_tf;			 /* RFLAGS.TF at an opt-out entry, restored at exit */
	/* Physical pages of the SSA frame AEX will write, resolved at entry (as the CPU does). */
	uint64_t ssa_frame_lin;
	uint64_t ssa_pa[HW_SSA_PAGES_MAX];
	unsigned ssa_pages;
	bool ssa_resolved;	       /* EENTER/ERESUME resolved ssa_* and have not finished yet */
	struct hw_thread *next_inside; /* list of threads inside one enclave */
	/* Translations to EPC frames this thread's leaves made, valid while mmu->gen has not moved. */
	struct hw_tlb_entry {
		const struct hw_mmu *mmu;
		uint64_t page, pa, gen;
		unsigned acc;
	} tlb[HW_TLB_ENTRIES];
	unsigned tlb_next; /* the entry a new translation replaces (round robin) */
	bool tlb_only;	   /* hw_enclu_eenter_tlb: a translation not in the TLB fails (#GP), no walk */
};

/* Initialise a thread model with a zeroed XSAVE image for m's XCR0. Return: 0 or -1 (ENOMEM). */
int hw_thread_init(struct hw_thread *t, struct hw_machine *m, const struct hw_mmu *mmu);
void hw_thread_fini(struct hw_thread *t);

/*
 * ENCLU[regs.rax] on thread t.  On success the registers are those after
 * the instruction (EENTER: in the enclave at OENTRY; EEXIT: at the target).
 * A fault leaves registers unchanged; if the thread was in enclave mode the
 * caller then performs the AEX (hw_aex) as the CPU would deliver it.
 */
struct hw_result hw_enclu(struct hw_thread *t);

/*
 * The instruction at regs.rip of a thread in enclave mode, as the CPU
 * fetches it: hw_enclu_at says whether its bytes are ENCLU (each page
 * checked as a fetch, hw_access_check with HW_ACC_X, the bytes read
 * through the EPC); false with *fetch = the fetch's fault, or hw_ok where
 * the bytes are another instruction.  hw_enclu_fetched does the same and,
 * where they are ENCLU, runs the leaf as hw_enclu does (*r), both under
 * one hold of the machine's lock, so that nothing changes the page between
 * the fetch and the leaf.
 */
bool hw_enclu_at(struct hw_thread *t, struct hw_result *fetch);
bool hw_enclu_fetched(struct hw_thread *t, struct hw_result *fetch, struct hw_result *r);

/*
 * EENTER (regs.rax = 2) of host code for exec's entries that keep the
 * caller's extended state in the registers (docs/exec.md): runs only
 * where it can without touching a vector, x87 or mask register, and then
 * exactly as hw_enclu would.  It declines (false, nothing changed) unless
 * this build compiled the leaf's code for general-purpose registers only
 * (hw_eenter_tlb_built), no observer is installed, every page the leaf
 * reads (TCS, SSA frame) is in the thread's TLB, the leaf succeeds, and
 * the TCS belongs to the enclave whose EID is eid (not a SECS address: a
 * later enclave may have its SECS in the same frame).  The caller then
 * performs the leaf the usual way, which gives its exact outcome.
 */
bool hw_enclu_eenter_tlb(struct hw_thread *t, uint64_t eid);
extern const bool hw_eenter_tlb_built;

struct hw_result enclu_ereport(struct hw_thread *t);
struct hw_result enclu_egetkey(struct hw_thread *t);
struct hw_result enclu_eenter(struct hw_thread *t);
struct hw_result enclu_eresume(struct hw_thread *t);
struct hw_result enclu_eexit(struct hw_thread *t);
struct hw_result enclu_edeccssa(struct hw_thread *t);
struct hw_result enclu_eaccept(struct hw_thread *t);
struct hw_result enclu_emodpe(struct hw_thread *t);
struct hw_result enclu_eacceptcopy(struct hw_thread *t);

/*
 * Asynchronous exit of a thread in enclave mode: save regs/xsave and the
 * event to SSA[CSSA], CSSA++, load the synthetic state (RIP=AEP, RSP/RBP =
 * URSP/URBP, RAX=3 ...).  Returns the event as the OS sees it: for #PF the
 * address with its low 12 bits cleared.
 */
struct hw_event hw_aex(struct hw_thread *t, const struct hw_event *ev);

/*
 * Enclave-mode data/instruction access to linear address `lin` (what the
 * CPU checks on every ordinary access, SDM 37.3): translation through the
 * thread's mmu, then the EPCM.  Return: hw_ok with *pa set, or the #PF.
 */
struct hw_result hw_access_check(struct hw_thread *t, uint64_t lin, unsigned acc, uint64_t *pa);

/* ---- observation (tracing and statistics, src/emu/obs.c) ------------------- */

/*
 * An observer of the machine.  hw_obs is NULL unless one is installed:
 * then every leaf costs one more predictable branch, nothing else.  The
 * calls come on the thread that ran the leaf, after it and without
 * m->lock, also from exec's signal handler: an observer must be
 * async-signal-safe, and must not call back into hw.
 */
struct hw_obs {
	/* Monotonic clock in ns, never 0 (when a leaf started). */
	uint64_t (*now)(void);
	/* ENCLS leaf with RBX RCX RDX as it took them (EDBGRD: RBX as it left it), its outcome and start. */
	void (*encls)(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t leaf, uint64_t rbx, uint64_t rcx,
		      uint64_t rdx, struct hw_result r, uint64_t t0);
	/* ENCLU leaf of t: the registers it started with (t->regs are those after it), outcome, start. */
	void (*enclu)(struct hw_thread *t, const struct hw_regs *in, struct hw_result r, uint64_t t0);
	/* An AEX of t for ev, about to happen (t->regs: the enclave's state; only in enclave mode). */
	void (*aex)(struct hw_thread *t, const struct hw_event *ev);
	/* The EPC frames in use changed (hw_epc_reserve / hw_epc_release): used of total now. */
	void (*epc)(struct hw_machine *m, uint64_t used, uint64_t total);
};
extern const struct hw_obs *hw_obs;

static inline const struct hw_obs *hw_obs_get(void)
{
	return __atomic_load_n(&hw_obs, __ATOMIC_RELAXED);
}
/* Install (or with NULL remove) the observer of every machine of the process. */
void hw_obs_set(const struct hw_obs *o);

/* "EADD", "EACCEPT"...; NULL for a number that is no leaf. */
const char *hw_encls_name(uint64_t leaf);
const char *hw_enclu_name(uint64_t leaf);

/*
 * hw_epcm_get without waiting: -EBUSY (nothing read) while another thread
 * holds the machine, for callers that may run in a signal handler which
 * interrupted a leaf.  Return: 1 (out filled), 0 (pa is not EPC), -EBUSY.
 */
int hw_epcm_get_try(struct hw_machine *m, uint64_t pa, struct hw_epcm_view *out);

#endif /* SGXEMU_HW_H */
