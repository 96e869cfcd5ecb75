/* SPDX-License-Identifier: MIT */
/*
 * The EDMM memory manager: what enclave code calls to use SGX2 dynamic
 * memory (docs/emm.md).  Its semantics follow those of Intel's enclave
 * memory manager (sgx-emm): regions ("EMAs") are reserved in the enclave's
 * dynamic area and committed now, on demand (at the first access, from the
 * exception handler) or with content (EACCEPTCOPY); they are uncommitted
 * with TRIM, and their permissions and page types change with the
 * host's help through the OCALLs of <sgxemu/enclave.h> (SGXEMU_OCALL_*).
 *
 * The manager runs on any SGX2 system with an SGX2-capable driver: the
 * OCALLs map onto the Linux ioctls (AUGMENT_PAGES where sgxemu's policy
 * offers it, EAUG on fault otherwise).
 *
 * Every function returns 0 or a negative errno (RT_E* of <sgxemu/rt.h>),
 * each listed; on error nothing has changed unless the entry says so.
 * Every function taking a manager returns -RT_EINVAL for mm == NULL.
 * Functions that need the host (OCALLs) return -RT_EPERM when called from
 * an exception handler, where no OCALL is possible; what works there is
 * said per function.  The host's answers are never trusted: every page
 * the host was asked to add or change is EACCEPTed, and a host that did
 * not do what it said gives -RT_EFAULT, never a silent success.
 * Thread-safe: one lock per manager (a context object, not a global).
 */
#ifndef SGXEMU_EMM_H
#define SGXEMU_EMM_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* ---- flags ----------------------------------------------------------------------
 * bits 0-7   commit mode (exactly one for rt_mm_alloc)
 * bits 8-15  growth and placement
 * bits 16-23 page type
 * bits 24-31 permissions (RT_MM_PROT_*)
 * Any other bit is -RT_EINVAL.
 */
#define RT_MM_RESERVE	       0x00000001u /* address space only; pages are committed later (rt_mm_commit*) */
#define RT_MM_COMMIT_NOW       0x00000002u /* EAUG + EACCEPT every page before returning */
#define RT_MM_COMMIT_ON_DEMAND 0x00000004u /* EAUG + EACCEPT a page at its first access (#PF in the handler) */
#define RT_MM_COMMIT_MASK      0x000000ffu

#define RT_MM_GROWSDOWN 0x00000100u /* ON_DEMAND only: the lowest page is a guard that is never committed */
#define RT_MM_GROWSUP	0x00000200u /* heap: the region may be extended upwards by rt_mm_alloc with FIXED */
#define RT_MM_FIXED	0x00000400u /* addr is mandatory (else a hint); fails with -RT_EEXIST if taken */

#define RT_MM_TYPE_REG	0x00010000u /* regular page (default) */
#define RT_MM_TYPE_TCS	0x00020000u /* rt_mm_modify_type only: the page becomes a TCS */
#define RT_MM_TYPE_TRIM 0x00040000u /* rt_mm_modify_type only: same as rt_mm_uncommit */

#define RT_MM_PROT_NONE	 0x00000000u
#define RT_MM_PROT_READ	 0x01000000u
#define RT_MM_PROT_WRITE 0x02000000u
#define RT_MM_PROT_EXEC	 0x04000000u
#define RT_MM_PROT_MASK	 0x07000000u

/* -RT_EEXIST: FIXED range taken; -RT_EACCES: the host's policy refused the permissions. */
#define RT_EACCES 13
#define RT_EEXIST 17

/* Regions one manager keeps (each alloc, and each split by a partial dealloc, takes one). */
#define RT_MM_MAX_REGIONS 128

struct rt_mm;

/*
 * A region's own #PF handler, called (without the manager's lock held) for
 * every #PF inside the region, before the manager's own commit-on-demand.
 * Return RT_EXCEPTION_CONTINUE after fixing it (e.g. rt_mm_commit of the
 * page, which works here for RW regions), RT_EXCEPTION_CONTINUE_SEARCH to
 * let the manager (ON_DEMAND regions) and then the other exception
 * handlers see it.  The rules of exception handlers apply (<sgxemu/rt.h>).
 */
typedef int (*rt_mm_fault_handler)(struct rt_mm *mm, uint64_t addr, uint32_t error_code, void *priv);

/*
 * The manager of this enclave's dynamic area (layout dyn_offset/dyn_size)
 * and dynamic thread areas, created at first use (which must not be inside
 * an exception handler): its page table comes from the heap, and it
 * registers its #PF handler with rt_exception_register.  NULL if the
 * enclave was not signed for EDMM (layout flag SGXEMU_LAYOUT_EDMM), has
 * neither a dynamic area nor dynamic threads, or the heap or the handler
 * list is full.
 */
struct rt_mm *rt_mm_default(void);

/*
 * Allocate a region of len bytes (page multiple) in the dynamic area, at
 * addr (page-aligned; 0 = anywhere) with flags: one commit mode, optional
 * growth/placement bits, permissions for REG pages:
 *   COMMIT_NOW        any with R (RW pages are EACCEPTed, then EMODPE /
 *                     restricted / mapped to the permissions);
 *   COMMIT_ON_DEMAND  exactly R|W (the handler can only EACCEPT);
 *   RESERVE           any, NONE included: what rt_mm_commit gives the
 *                     pages (NONE = R|W).
 * A FIXED allocation that starts where a GROWSUP region with the same
 * flags ends extends that region.
 * handler/priv: optional fault handler of the region.
 * Return: 0 and *out = start; -RT_EINVAL (out NULL, len 0 or unaligned,
 * addr unaligned, FIXED with addr 0 or outside the dynamic area, no or
 * several commit modes, TCS/TRIM type, W or X without R, ON_DEMAND not RW,
 * GROWSDOWN without ON_DEMAND, with GROWSUP or of one page, unknown
 * bits), -RT_ENOMEM (no free range of len bytes, or RT_MM_MAX_REGIONS
 * reached), -RT_EEXIST (FIXED and the range is taken), -RT_EACCES (the
 * host refused the permissions: policy), -RT_EPERM (COMMIT_NOW other than
 * R|W from an exception handler), -RT_EFAULT (an EACCEPT failed or the
 * host failed a request: the region is released).
 */
int rt_mm_alloc(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t flags, rt_mm_fault_handler handler, void *priv,
		uint64_t *out);

/*
 * Commit the pages of [addr, addr + len) of one region now (EAUG + EACCEPT,
 * with the region's permissions): RESERVE and COMMIT_ON_DEMAND pages, and
 * pages of any region that were uncommitted.  Pages already committed are
 * left as they are.  In an exception handler only R|W regions
 * can be committed (EACCEPT of pages the host EAUGs on the fault).
 * Return: 0; -RT_EINVAL (range not inside one allocated region, unaligned,
 * len 0), -RT_EACCES (policy), -RT_EPERM (an exception handler and
 * permissions other than R|W), -RT_EFAULT (EACCEPT failed; the pages this
 * call committed are uncommitted again).
 */
int rt_mm_commit(struct rt_mm *mm, uint64_t addr, size_t len);

/*
 * Commit [addr, addr + len) with the content at data (enclave memory, len
 * bytes) and permissions prot (any of R/W/X, R required), page by page with
 * EACCEPTCOPY: the way to get executable code into an enclave.  The pages
 * must not be committed yet.  With X the host must map the pages
 * executable (SGXEMU_OCALL_MPROTECT); a policy that forbids it gives
 * -RT_EACCES and leaves every page uncommitted.
 * Return: 0; -RT_EINVAL (not inside one region, unaligned,
 * len 0, data NULL or not inside the enclave, data overlapping the range,
 * prot without R or with other bits), -RT_EBUSY (a page is committed
 * already), -RT_EACCES (the host refused: policy), -RT_EPERM (exception
 * handler), -RT_EFAULT.
 */
int rt_mm_commit_data(struct rt_mm *mm, uint64_t addr, size_t len, const void *data, uint32_t prot);

/*
 * Uncommit [addr, addr + len): EMODT to TRIM (host), EACCEPT, REMOVE (host).
 * Pages not committed are skipped.  The range stays allocated (RESERVE
 * state); accessing it faults (or is committed again on demand for
 * COMMIT_ON_DEMAND regions).
 * Return: 0; -RT_EINVAL (not inside one region, unaligned, len 0),
 * -RT_EPERM (exception handler), -RT_EFAULT (the host did not trim or an
 * EACCEPT failed: the pages before the failure are uncommitted).
 */
int rt_mm_uncommit(struct rt_mm *mm, uint64_t addr, size_t len);

/*
 * Uncommit and release [addr, addr + len): whole regions or parts of them,
 * possibly several adjacent regions, but every page of the range must be
 * allocated.
 * Return: as rt_mm_uncommit, and -RT_ENOMEM when releasing the middle of a
 * region needs a region slot and none is left.  After -RT_EFAULT the range
 * stays allocated.
 */
int rt_mm_dealloc(struct rt_mm *mm, uint64_t addr, size_t len);

/*
 * Change the permissions of committed pages to prot: narrowing through the
 * host (EMODPR) + EACCEPT, widening with EMODPE, executable pages mapped
 * executable by the host (mprotect) first; a mix does both (per page).
 * prot NONE is allowed on SGX2 (EMODPR to no permission).  The host
 * mapping is not narrowed: an access the EPCM no longer allows is an SGX
 * #PF (error code bit 15).
 * Return: 0; -RT_EINVAL (not committed, a TCS page, not one region, W/X
 * without R, other bits, len 0), -RT_EACCES (the host refused: nothing
 * changed), -RT_EPERM (exception handler), -RT_EFAULT (an EACCEPT or
 * EMODPE failed, or the host failed a request: pages may be left with the
 * old, the new or the union of both permissions, as rt_mm_query tells).
 */
int rt_mm_modify_permissions(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t prot);

/*
 * Change the type of committed pages: RT_MM_TYPE_TCS (one page: EMODT to
 * TCS through the host, EACCEPT with PT_TCS; the page must hold the TCS
 * content and be RW) or RT_MM_TYPE_TRIM (= rt_mm_uncommit).
 * Return: 0; -RT_EINVAL (wrong type, several pages for TCS, not committed,
 * not RW), -RT_EPERM (already a TCS, or an exception handler), -RT_EACCES
 * (the host refused), -RT_EFAULT (EACCEPT failed, e.g. the content is not
 * a valid TCS: the page is then a TCS nobody can enter, and SGX has no
 * way back: EMODT refuses a page still MODIFIED, so it cannot be trimmed).
 */
int rt_mm_modify_type(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t type);

/*
 * Is the page at addr committed (and with which RT_MM_PROT_* bits; a TCS
 * page has none)?  prot may be NULL.
 * Return: 1, 0, or -RT_EINVAL outside regions.
 */
int rt_mm_query(struct rt_mm *mm, uint64_t addr, uint32_t *prot);

/* ---- threads created at run time ---------------------------------------------------
 * A thread area in the layout's dynamic thread reserve (tcs_dyn_offset,
 * n_dyn_threads, same shape as the static ones): stack, TCS, SSA frames and
 * thread data committed (EAUG + EACCEPT; the guard page stays out), the
 * TCS page written (OENTRY, NSSA, OSSA, OFSBASE/OGSBASE, limits as the
 * image builder writes them), the thread data page likewise
 * (thread_index = n_tcs + slot), and the TCS page turned into a TCS (EMODT
 * through the host + EACCEPT).  The host must be told the TCS address
 * before entering through it (the loader's sdk_enclave_add_tcs) and must
 * stop using it before rt_mm_thread_remove (sdk_enclave_remove_tcs).
 */

/*
 * Return: 0 and *tcs = the new TCS's linear address; -RT_EINVAL (tcs NULL),
 * -RT_ENOSPC (no free slot), -RT_EACCES (the host refused), -RT_EPERM
 * (exception handler), -RT_EFAULT (the thread area is trimmed again; a
 * slot whose pages the host does not let go of is never used again).
 */
int rt_mm_thread_add(struct rt_mm *mm, uint64_t *tcs);
/*
 * Remove a thread added by rt_mm_thread_add: TRIM every page of its area.
 * Return: 0, -RT_EINVAL (no such TCS), -RT_EBUSY (an ECALL runs on it,
 * e.g. the caller's own thread), -RT_EPERM (exception handler), -RT_EFAULT
 * (the host did not trim: the slot is not reused).
 */
int rt_mm_thread_remove(struct rt_mm *mm, uint64_t tcs);

/*
 * An observer of the manager's own leaves, for transcripts and debugging:
 * called in the enclave right after each EACCEPT, EACCEPTCOPY and EMODPE
 * the manager executes (in the order they happen, between its OCALLs),
 * with the leaf (ENCLU_*), the page, the SECINFO flags and RAX (SGX code).
 * It runs with the manager's lock held: it must not call the manager.
 * fn NULL: none (the default).  A NULL mm does nothing.
 */
typedef void (*rt_mm_trace)(void *priv, uint32_t leaf, uint64_t page, uint64_t flags, uint64_t rax);
void rt_mm_set_trace(struct rt_mm *mm, rt_mm_trace fn, void *priv);

/* Counters (examples print them).  Bytes count regions and dynamic threads alike. */
struct rt_mm_stats {
	uint64_t reserved_bytes, committed_bytes;
	uint64_t eaccepts, eacceptcopies, emodpes;
	uint64_t ocalls_augment, ocalls_restrict, ocalls_modify_type, ocalls_remove, ocalls_mprotect;
	uint64_t demand_faults; /* pages committed on demand from the #PF handler */
};
/* A snapshot of the counters; all zero for mm == NULL. */
void rt_mm_get_stats(struct rt_mm *mm, struct rt_mm_stats *s);

#pragma GCC visibility pop

#endif /* SGXEMU_EMM_H */
