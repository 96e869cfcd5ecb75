/* SPDX-License-Identifier: MIT */
/*
 * Private to src/hw: the machine, the EPCM, per-enclave hardware state and
 * the helpers every leaf uses for its operand checks.  All functions here
 * expect m->lock to be held unless they say otherwise.
 */
#ifndef SGXEMU_HW_INTERNAL_H
#define SGXEMU_HW_INTERNAL_H

#include <stdatomic.h>
#include <string.h>

#include "crypto.h"
#include "hw.h"

#define HW_ALIGNED(x, a) (((x) & ((uint64_t)(a)-1)) == 0)
#define HW_PAGE_DOWN(x)	 ((x) & ~(uint64_t)0xFFF)

/* One EPCM entry (SDM 34.11.1) plus the emulator's tracking stamp. */
struct epcm_entry {
	uint8_t valid : 1, r : 1, w : 1, x : 1, blocked : 1, pending : 1, modified : 1, pr : 1;
	uint8_t pt;
	uint64_t enclave_address; /* ENCLAVEADDRESS */
	uint64_t enclave_secs;	  /* ENCLAVESECS: physical address of the owner SECS */
	uint64_t stamp;		  /* epoch of the last EBLOCK/EMODPR/EMODT (tracking) */
};

/* EPCM entries are allocated per chunk of frames, as pages appear. */
#define EPCM_CHUNK_SHIFT  12
#define EPCM_CHUNK_FRAMES (1ULL << EPCM_CHUNK_SHIFT)

/*
 * Per-enclave hardware state.  Real hardware keeps it in the SECS page's
 * reserved area; we keep a pointer to it there (secs_priv_of), so it follows
 * the SECS through EWB/ELDU like the real page contents do.  Software never
 * reads a SECS (EDBGRD refuses it), so the pointer is invisible.
 */
struct secs_priv {
	uint64_t eid;
	struct hw_sha256 *mr;	   /* running MRENCLAVE until EINIT */
	uint64_t child_count;	   /* valid child pages (EREMOVE of the SECS needs 0) */
	uint64_t epoch;		   /* ETRACK epoch */
	struct hw_thread *inside;  /* threads in enclave mode in this enclave */
	uint8_t isv_family_id[16]; /* from SIGSTRUCT at EINIT (KSS) */
	uint8_t isv_ext_prod_id[16];
	struct secs_priv *next_all, **prev_all; /* machine's list, freed at destroy */
};

/* Offset in the SECS page where the secs_priv pointer lives (inside reserved4). */
#define SECS_PRIV_OFFSET 4088

/* Windows that may be retiring at once; past that, frames are given back one by one as always. */
#define HW_RETIRING_MAX 16

struct hw_machine {
	struct hw_config cfg;
	struct hw_mutex lock; /* serialises every leaf */

	int memfd;
	uint8_t *alias; /* physical space: frame f at alias + f*4096 */
	uint64_t space; /* bytes of physical space */

	struct epcm_entry **epcm; /* chunk table, NULL where no frame was used */
	uint64_t epcm_chunks;

	pthread_mutex_t alloc_lock; /* windows and capacity (not a leaf) */
	uint64_t frames_total;
	_Atomic uint64_t frames_used;
	struct window *windows; /* free list of windows, sorted by address */

	uint64_t lehash[4]; /* IA32_SGXLEPUBKEYHASH0..3 */
	uint64_t next_eid;
	struct secs_priv *all_secs;

	/*
	 * Frames EWB left invalid with their memory, zeroed (epcm.c): a set of
	 * physical addresses, open addressing (m->lock).  With the frames in
	 * use they stay within the EPC's capacity; kept_limit caps them.
	 */
	uint64_t *kept;
	size_t kept_mask, kept_limit, kept_cursor;
	_Atomic size_t kept_count;

	uint8_t paging_key[32]; /* AES-256-GCM for EWB/ELDU */
	uint8_t key_root[32];	/* root of EGETKEY derivations */
	uint64_t ewb_counter;	/* version source for EWB */

	struct populator *populator; /* the helper thread that gives frames memory ahead (populate.c) */

	/*
	 * Windows being torn down (hw_epc_retire): an invalidation of
	 * a frame inside one leaves its memory to hw_epc_window_free (m->lock).
	 */
	struct {
		uint64_t pa, size;
	} retiring[HW_RETIRING_MAX];
	_Atomic unsigned nretiring;
};

/* Fill c's XSAVE layout with the default (Intel) one. */
void hw_xsave_layout_default(struct hw_config *c);

/* ---- physical memory ---- */

/*
 * A leaf is about to write the whole frame at pa (EADD, EAUG, ELDU; m->lock
 * held).  When frames are taken in order (pa follows the last one) and pa
 * is not in the range given memory last, the next frames get their memory
 * in one call instead of one host page fault each, after the lock
 * (epc_readahead_run; docs/hw.md "Frame readahead").
 */
void epc_readahead(struct hw_machine *m, uint64_t pa);
/*
 * After such a leaf released m->lock: give the frames ahead their memory,
 * through the populator, or in this thread (unless held,
 * hw_epc_readahead_hold) with cfg.sync_readahead or where it cannot run.
 */
void epc_readahead_run(void);
/* Give [pa, pa + len) host memory in this thread: 0 or -errno. */
int epc_populate(struct hw_machine *m, uint64_t pa, uint64_t len);

/*
 * populate.c: the machine's helper thread.  populator_request queues a
 * range: DROPPED when the queue is full, or when its lock is taken and
 * wait_lock is false (a leaf's readahead never waits), ABSENT when there
 * is no thread (it could not start, or this is a child of fork).  The
 * thread does a long range in steps of 256 KiB.  populator_forget takes back
 * what the queued requests ask of [pa, pa + len) and waits for the step in
 * flight if it touches the range (before that memory is given back).  init (false: out
 * of memory) and fini: with the machine.
 */
enum populator_answer { POPULATOR_QUEUED, POPULATOR_DROPPED, POPULATOR_ABSENT };
bool populator_init(struct hw_machine *m);
enum populator_answer populator_request(struct hw_machine *m, uint64_t pa, uint64_t len, bool wait_lock);
void populator_forget(struct hw_machine *m, uint64_t pa, uint64_t len);
void populator_fini(struct hw_machine *m);

static inline void *hw_pa_ptr(struct hw_machine *m, uint64_t pa)
{
	(void)m;
	return (void *)(uintptr_t)pa;
}

static inline uint64_t hw_frame_index(const struct hw_machine *m, uint64_t pa)
{
	return (pa - (uint64_t)(uintptr_t)m->alias) >> 12;
}

/* EPCM entry of the frame holding pa (allocating its chunk); pa must be EPC. */
struct epcm_entry *epcm_entry(struct hw_machine *m, uint64_t pa);
/* Entry for pa if its chunk exists, else NULL (a never-used frame is invalid). */
struct epcm_entry *epcm_peek(struct hw_machine *m, uint64_t pa);

/* Make a frame valid / invalid: accounting of children and memory release. */
void epcm_set_valid(struct hw_machine *m, uint64_t pa, struct epcm_entry *e);
/* Invalidate the entry and give the frame's memory back (contents lost). */
void epcm_invalidate(struct hw_machine *m, uint64_t pa, struct epcm_entry *e);
/*
 * Can the frame at pa, invalid, hold anything but zeros (m->lock held)?
 * Only in a window being torn down (hw_epc_retire), where an invalidation
 * leaves the memory as it was; everywhere else an invalid frame is a hole
 * of the memfd or a kept frame cleared by EWB (docs/hw.md "Physical memory").
 */
bool epcm_frame_may_hold_data(const struct hw_machine *m, uint64_t pa);
/*
 * The same, the frame's memory kept and zeroed (EWB: a frame is written
 * back because the EPC is full and is used again at once; giving its
 * memory back only to fault a zeroed page in again costs a system call and
 * a page fault, clearing it a memset).
 */
void epcm_invalidate_keep(struct hw_machine *m, uint64_t pa, struct epcm_entry *e);
/* Give back kept frames until they and used frames in use fit the capacity (m->lock). */
void epcm_kept_trim(struct hw_machine *m, uint64_t used);
/* The frames of [pa, pa + len) are no longer kept: their memory was given back (m->lock). */
void epcm_kept_forget(struct hw_machine *m, uint64_t pa, uint64_t len);

/* ---- enclave state ---- */

struct secs_priv *secs_priv_of(struct hw_machine *m, uint64_t secs_pa);
static inline struct sgx_secs *secs_of(struct hw_machine *m, uint64_t secs_pa)
{
	return (struct sgx_secs *)hw_pa_ptr(m, secs_pa);
}
struct secs_priv *secs_priv_new(struct hw_machine *m, uint64_t secs_pa);
void secs_priv_free(struct hw_machine *m, struct secs_priv *p);

/* ---- operand access ---- */

/*
 * Translate an operand's linear address; on failure fill *fault with the
 * #PF (the walk's bits, plus PF_U for user accesses) and return false.
 */
bool hw_translate(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, struct hw_result *fault);
/*
 * The same for an access of thread t's leaf (m->lock held), through t's
 * TLB: a translation to an EPC frame made with the same access bits while
 * t->mmu->gen has not moved is used again without a walk.  A leaf that
 * holds m->lock sees the translation and the EPCM as of one moment, as
 * with a walk: the OS changes a mapping before the leaves that follow
 * from it (EBLOCK, EWB, EREMOVE), so a counter that has not moved while
 * m->lock is held means no such change came before.
 */
bool hw_thread_translate(struct hw_thread *t, uint64_t lin, unsigned acc, uint64_t *pa, struct hw_result *fault);

/*
 * Read/write `len` bytes of ordinary (non-EPC) memory at linear `lin`,
 * page by page through mmu.  Return false with *fault on a failed walk.
 */
bool hw_read_mem(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t lin, void *buf, size_t len, unsigned acc,
		 struct hw_result *fault);
bool hw_write_mem(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t lin, const void *buf, size_t len,
		  unsigned acc, struct hw_result *fault);

/* #PF for an EPCM-caused failure on address lin (P=1, SGX=1, W/I/U per acc). */
static inline struct hw_result hw_pf_epcm(uint64_t lin, unsigned acc)
{
	uint32_t err = PF_P | PF_SGX;
	if (acc & HW_ACC_W)
		err |= PF_W;
	if (acc & HW_ACC_X)
		err |= PF_I;
	if (acc & HW_ACC_USER)
		err |= PF_U;
	return hw_pf(lin, err);
}

/* Is EPCM entry e a valid child page of type pt owned by secs at address lin? */
static inline bool epcm_is(const struct epcm_entry *e, uint8_t pt, uint64_t secs, uint64_t lin)
{
	return e && e->valid && e->pt == pt && e->enclave_secs == secs && e->enclave_address == lin;
}

/* ---- small checks shared by the leaves ---- */

static inline bool hw_all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Upper bits of a canonical 48-bit address all equal bit 47. */
static inline bool hw_canonical(uint64_t a)
{
	uint64_t top = a >> 47;
	return top == 0 || top == 0x1FFFF;
}

/* Is lin inside the current enclave's ELRANGE? (t must be in enclave mode) */
static inline bool hw_in_elrange(struct hw_thread *t, uint64_t lin)
{
	const struct sgx_secs *s = secs_of(t->m, t->secs_pa);
	return lin >= s->base && lin - s->base < s->size;
}

/* #PF for an EPC operand of ENCLS that is not EPC or has the wrong EPCM state (W when the leaf changes it). */
static inline struct hw_result hw_pf_encls(uint64_t addr, bool write)
{
	return hw_pf_epcm(addr, write ? HW_ACC_W : HW_ACC_R);
}

/* SECINFO fields the architecture reserves are zero? */
static inline bool hw_secinfo_reserved_clear(const struct sgx_secinfo *si)
{
	return !(si->flags & ~SGX_SECINFO_VALID_MASK) && hw_all_zero(si->reserved, sizeof(si->reserved));
}

/* The page type a SECINFO names. */
static inline uint8_t hw_secinfo_pt(const struct sgx_secinfo *si)
{
	return (uint8_t)((si->flags & SGX_SECINFO_PT_MASK) >> SGX_SECINFO_PT_SHIFT);
}

/* Is the SECS at secs_pa a valid PT_SECS page? */
bool hw_secs_valid(struct hw_machine *m, uint64_t secs_pa);

/* ---- observation (hw_obs) ---- */

/* Start of an observed leaf: its time, 0 when nobody observes (the one branch tracing off costs). */
static inline uint64_t hw_obs_begin(void)
{
	const struct hw_obs *o = hw_obs_get();
	return __builtin_expect(o != NULL, 0) ? o->now() : 0;
}

void hw_obs_encls_report(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t leaf, uint64_t rbx, uint64_t rcx,
			 uint64_t rdx, struct hw_result r, uint64_t t0);

/* End of an ENCLS leaf that started at t0 (hw_obs_begin). */
static inline void hw_obs_encls(uint64_t t0, struct hw_machine *m, const struct hw_mmu *mmu, uint64_t leaf,
				uint64_t rbx, uint64_t rcx, uint64_t rdx, struct hw_result r)
{
	if (__builtin_expect(t0 != 0, 0))
		hw_obs_encls_report(m, mmu, leaf, rbx, rcx, rdx, r, t0);
}

/* ---- tracking (track.c) ---- */

/* Tracking complete for a page stamped `stamp` in enclave p? */
bool track_done(const struct secs_priv *p, uint64_t stamp);
/* Thread t enters enclave p (EENTER/ERESUME): record its entry epoch, link it in p->inside. */
void track_thread_enter(struct secs_priv *p, struct hw_thread *t);
/* Thread t leaves enclave p (EEXIT/AEX): unlink it. */
void track_thread_exit(struct secs_priv *p, struct hw_thread *t);
/*
 * ETRACK: start a new cycle (epoch += 1).  Return: false, nothing changed,
 * while a thread that entered before the previous ETRACK is still inside.
 */
bool track_begin_cycle(struct secs_priv *p);

/* ---- measurement (measure.c) ---- */

void measure_ecreate(struct hw_sha256 *mr, uint32_t ssaframesize, uint64_t size);
void measure_eadd(struct hw_sha256 *mr, uint64_t offset, uint64_t secinfo_flags);
void measure_eextend(struct hw_sha256 *mr, uint64_t offset, const uint8_t data[256]);

/* ---- ENCLU helpers (enclu_*.c) ---- */

/*
 * Check an ENCLU memory operand inside the current enclave: aligned by the
 * caller; must lie in ELRANGE (else #GP), translate (else #PF), be EPC and
 * a VALID PT_REG page of this enclave at that address, not PENDING /
 * MODIFIED / BLOCKED, with EPCM R (and W for acc & HW_ACC_W) (else #PF with
 * the SGX bit).  On success *pa is the physical address of lin.
 */
struct hw_result enclu_operand(struct hw_thread *t, uint64_t lin, unsigned acc, uint64_t *pa);

/*
 * Copy n bytes with REP MOVSB: no vector register, where an entry that
 * keeps the caller's extended state in the registers copies (enclu_enter.c).
 */
static inline void hw_copy(void *dst, const void *src, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

/* The leaves with m->lock held by the caller (hw_enclu and hw_enclu_fetched take it around them). */
struct hw_result enclu_ereport_locked(struct hw_thread *t);
struct hw_result enclu_egetkey_locked(struct hw_thread *t);
struct hw_result enclu_eenter_locked(struct hw_thread *t);
struct hw_result enclu_eresume_locked(struct hw_thread *t);
struct hw_result enclu_eexit_locked(struct hw_thread *t);
struct hw_result enclu_edeccssa_locked(struct hw_thread *t);
struct hw_result enclu_eaccept_locked(struct hw_thread *t);
struct hw_result enclu_emodpe_locked(struct hw_thread *t);
struct hw_result enclu_eacceptcopy_locked(struct hw_thread *t);

/* An enclave-mode access check (hw_access_check) with m->lock held. */
struct hw_result access_check_locked(struct hw_thread *t, uint64_t lin, unsigned acc, uint64_t *pa);

/* ---- key derivation (keys.c) ---- */

/* Identity a REPORT_KEY is bound to: a TARGETINFO, or the enclave itself. */
struct keys_report_target {
	uint8_t mrenclave[32];
	uint64_t attributes, xfrm;
	uint32_t miscselect;
	uint8_t config_id[64];
	uint16_t config_svn;
};
/* REPORT_KEY of the target for KEYID keyid (the machine's CPUSVN is bound too). */
void keys_report(const struct hw_machine *m, const struct keys_report_target *tgt, const uint8_t keyid[32],
		 uint8_t key[16]);

/* Inputs of the launch key: the LE's EGETKEY request/identity, or EINIT's token fields. */
struct keys_launch {
	uint16_t isv_prod_id, isv_svn;
	uint64_t attributes, xfrm; /* masked attributes of the launch enclave */
	uint32_t miscselect;	   /* masked MISCSELECT of the launch enclave */
	uint8_t mrsigner[32];
	uint8_t keyid[32];
	uint8_t cpusvn[16];
};
/* EINITTOKEN_KEY (launch key) for these inputs. */
void keys_einittoken(const struct hw_machine *m, const struct keys_launch *l, uint8_t key[16]);
/* EGETKEY's key for request req of the enclave (secs, p); call only after the leaf's checks passed. */
void keys_egetkey(const struct hw_machine *m, const struct sgx_secs *secs, const struct secs_priv *p,
		  const struct sgx_keyrequest *req, uint8_t key[16]);
/* The KEYID EREPORT writes into every REPORT: a per-machine value derived from the root secret. */
void keys_report_keyid(const struct hw_machine *m, uint8_t keyid[32]);
/* IA32_SGXLEPUBKEYHASH0..3 as the 32-byte digest (MSR n holds digest bytes 8n..8n+7, little-endian). */
void keys_lehash(const struct hw_machine *m, uint8_t out[32]);
/* Is cpusvn no newer than the machine's CPUSVN (every byte <= the machine's byte)? */
bool keys_cpusvn_ok(const struct hw_machine *m, const uint8_t cpusvn[16]);

#endif /* SGXEMU_HW_INTERNAL_H */
