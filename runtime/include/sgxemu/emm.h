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
 */
#define RT_MM_RESERVE	       0x00000001u /* address space only; pages are committed later (rt_mm_commit*) */
#define RT_MM_COMMIT_NOW       0x00000002u /* EAUG + EACCEPT every page before returning */
#define RT_MM_COMMIT_ON_DEMAND 0x00000004u /* EAUG + EACCEPT a page at its first access (#PF in the handler) */

#define RT_MM_GROWSDOWN 0x00000100u /* commit-on-demand stack: a guard page below the committed part */
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

struct rt_mm;

/*
 * Called for a #PF in a RESERVE region that the manager cannot satisfy (or
 * for every #PF of a region with a handler): return RT_EXCEPTION_CONTINUE
 * after fixing it (e.g. rt_mm_commit the page), RT_EXCEPTION_CONTINUE_SEARCH
 * to let other exception handlers see it.
 */
typedef int (*rt_mm_fault_handler)(struct rt_mm *mm, uint64_t addr, uint32_t error_code, void *priv);

/*
 * The manager of this enclave's dynamic area (layout dyn_offset/dyn_size),
 * created at first use; registers its #PF handler with
 * rt_exception_register.  NULL if the enclave has no dynamic area or was
 * not signed for EDMM (layout flag SGXEMU_LAYOUT_EDMM).
 */
struct rt_mm *rt_mm_default(void);

/*
 * Allocate a region of len bytes (page multiple) in the dynamic area, at
 * addr (page-aligned; 0 = anywhere) with flags: one commit mode, optional
 * growth/placement bits, permissions (REG pages; RT_MM_PROT_READ at least
 * for committed pages — a committed page is always readable on SGX).
 * handler/priv: optional fault handler of the region.
 * Return: 0 and *out = start; -RT_EINVAL (len 0 or unaligned, addr
 * unaligned, no or several commit modes, TCS/TRIM type, W or X without R),
 * -RT_ENOMEM (no free range of len bytes), -RT_EEXIST (FIXED and the range
 * is taken), -RT_EACCES (the host refused the permissions: policy), -RT_EFAULT
 * (an EACCEPT failed: the host misbehaved; the region is released).
 */
int rt_mm_alloc(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t flags, rt_mm_fault_handler handler,
		void *priv, uint64_t *out);

/*
 * Commit the pages of [addr, addr + len) of a RESERVE or COMMIT_ON_DEMAND
 * region now (EAUG + EACCEPT, RW... the region's permissions).  Pages
 * already committed are left as they are.
 * Return: 0; -RT_EINVAL (range not inside one allocated region, unaligned),
 * -RT_EFAULT (EACCEPT failed).
 */
int rt_mm_commit(struct rt_mm *mm, uint64_t addr, size_t len);

/*
 * Commit [addr, addr + len) with the content at data (enclave memory, len
 * bytes) and permissions prot (any of R/W/X, R required), page by page with
 * EACCEPTCOPY: the way to get executable code into an enclave.  The pages
 * must not be committed yet.
 * Return: 0; -RT_EINVAL (not inside one RESERVE/ON_DEMAND region, unaligned,
 * data NULL, data overlapping the range, prot without R), -RT_EBUSY (a page
 * is committed already), -RT_EACCES (the host refused: policy), -RT_EFAULT.
 */
int rt_mm_commit_data(struct rt_mm *mm, uint64_t addr, size_t len, const void *data, uint32_t prot);

/*
 * Uncommit [addr, addr + len): EMODT to TRIM (host), EACCEPT, REMOVE (host).
 * The range stays allocated (RESERVE state); accessing it faults (or is
 * committed again on demand for COMMIT_ON_DEMAND regions).
 * Return: 0; -RT_EINVAL (not inside one region, unaligned), -RT_EFAULT.
 */
int rt_mm_uncommit(struct rt_mm *mm, uint64_t addr, size_t len);

/* Uncommit and release [addr, addr + len) (whole regions or parts of them).  Return: as rt_mm_uncommit. */
int rt_mm_dealloc(struct rt_mm *mm, uint64_t addr, size_t len);

/*
 * Change the permissions of committed pages to prot: narrowing through the
 * host (EMODPR) + EACCEPT, widening with EMODPE + host mprotect; a mix does
 * both (per page).  prot NONE is allowed on SGX2 (EMODPR to no permission).
 * Return: 0; -RT_EINVAL (not committed, not one region, W/X without R),
 * -RT_EACCES (the host refused), -RT_EFAULT.
 */
int rt_mm_modify_permissions(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t prot);

/*
 * Change the type of committed pages: RT_MM_TYPE_TCS (one page: EMODT to
 * TCS through the host, EACCEPT with PT_TCS; the page must hold the TCS
 * content and be RW) or RT_MM_TYPE_TRIM (= rt_mm_uncommit).
 * Return: 0; -RT_EINVAL (wrong type, several pages for TCS, not committed,
 * not RW), -RT_EPERM (already a TCS), -RT_EFAULT.
 */
int rt_mm_modify_type(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t type);

/* Is the page at addr committed (and with which RT_MM_PROT_* bits)?  Return: 1, 0, or -RT_EINVAL outside regions. */
int rt_mm_query(struct rt_mm *mm, uint64_t addr, uint32_t *prot);

/* ---- threads created at run time ---------------------------------------------------
 * A thread area in the layout's dynamic thread reserve (tcs_dyn_offset,
 * n_dyn_threads, same shape as the static ones): stack, SSA frames and
 * thread data committed (EAUG + EACCEPT), the TCS page written (OENTRY,
 * NSSA, OSSA, OFSBASE/OGSBASE, limits as the loader writes them) and
 * turned into a TCS (EMODT through the host + EACCEPT).  The host must be
 * told the TCS address before entering through it (the loader's
 * sdk_enclave_add_tcs).
 */

/* Return: 0 and *tcs = the new TCS's linear address; -RT_ENOSPC (no free slot), -RT_EACCES, -RT_EFAULT. */
int rt_mm_thread_add(struct rt_mm *mm, uint64_t *tcs);
/* Remove a thread added by rt_mm_thread_add (not running): TRIM its pages.  Return: 0, -RT_EINVAL, -RT_EFAULT. */
int rt_mm_thread_remove(struct rt_mm *mm, uint64_t tcs);

/* Counters (examples print them). */
struct rt_mm_stats {
	uint64_t reserved_bytes, committed_bytes;
	uint64_t eaccepts, eacceptcopies, emodpes;
	uint64_t ocalls_augment, ocalls_restrict, ocalls_modify_type, ocalls_remove, ocalls_mprotect;
	uint64_t demand_faults; /* pages committed on demand from the #PF handler */
};
void rt_mm_get_stats(struct rt_mm *mm, struct rt_mm_stats *s);

#pragma GCC visibility pop

#endif /* SGXEMU_EMM_H */
