/* SPDX-License-Identifier: MIT */
/*
 * Paging and page removal: EREMOVE, EPA, EBLOCK, ETRACK, EWB, ELDU/ELDB
 * (SDM 38.3, spec/leaves.md §3-4).  The blob format and the decisions on the
 * points the SDM leaves open are in docs/hw-paging.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* A completed leaf that leaves a warning in RAX with CF=1 (EWB: SGX_VA_SLOT_OCCUPIED). */
static struct hw_result hw_ok_cf(uint64_t code)
{
	return (struct hw_result){.kind = HW_OK, .rax = code, .cf = true};
}

/* Child pages belong to an enclave and need its SECS; SECS and VA pages do not. */
static bool pt_is_child(uint8_t pt)
{
	return pt == SGX_PT_REG || pt == SGX_PT_TCS || pt == SGX_PT_TRIM;
}

/* Does the 8-byte slot at pa lie in a valid VA page? */
static bool va_slot_valid(struct hw_machine *m, uint64_t pa)
{
	const struct epcm_entry *e = epcm_peek(m, HW_PAGE_DOWN(pa));
	return e && e->valid && e->pt == SGX_PT_VA;
}

/* SECINFO.FLAGS describing the EPCM state EWB saves in the PCMD. */
static uint64_t epcm_to_flags(const struct epcm_entry *e)
{
	uint64_t f = SGX_SECINFO_PT(e->pt);
	f |= e->r ? SGX_SECINFO_R : 0;
	f |= e->w ? SGX_SECINFO_W : 0;
	f |= e->x ? SGX_SECINFO_X : 0;
	f |= e->pending ? SGX_SECINFO_PENDING : 0;
	f |= e->modified ? SGX_SECINFO_MODIFIED : 0;
	f |= e->pr ? SGX_SECINFO_PR : 0;
	return f;
}

static uint8_t flags_pt(uint64_t flags)
{
	return (uint8_t)((flags & SGX_SECINFO_PT_MASK) >> SGX_SECINFO_PT_SHIFT);
}

/* ---- the blob: AES-256-GCM under the machine's paging key ---- */

/* Associated data: the PCMD up to the tag, the page's linear address, and the version. */
struct blob_aad {
	uint8_t pcmd_header[offsetof(struct sgx_pcmd, mac)];
	uint64_t linaddr;
	uint64_t version;
} __attribute__((packed));

_Static_assert(sizeof(struct blob_aad) == 128, "blob AAD layout");

static void blob_params(const struct sgx_pcmd *pcmd, uint64_t linaddr, uint64_t version, struct blob_aad *aad,
			uint8_t iv[12])
{
	memcpy(aad->pcmd_header, pcmd, sizeof(aad->pcmd_header));
	aad->linaddr = linaddr;
	aad->version = version;
	/* Versions never repeat on a machine, so neither does the IV under its key. */
	memcpy(iv, &version, 8);
	memcpy(iv + 8, "EPCP", 4);
}

/* Encrypt a page into out and put the tag in pcmd->mac. */
static void blob_seal(struct hw_machine *m, struct sgx_pcmd *pcmd, uint64_t linaddr, uint64_t version, const void *page,
		      uint8_t out[SGX_PAGE_SIZE])
{
	struct blob_aad aad;
	uint8_t iv[12];
	blob_params(pcmd, linaddr, version, &aad, iv);
	crypto_gcm_seal(m->paging_key, iv, &aad, sizeof(aad), page, out, SGX_PAGE_SIZE, pcmd->mac);
}

/* Verify and decrypt a blob into out. Return: false when anything bound by the tag differs. */
static bool blob_open(struct hw_machine *m, const struct sgx_pcmd *pcmd, uint64_t linaddr, uint64_t version,
		      const uint8_t in[SGX_PAGE_SIZE], uint8_t out[SGX_PAGE_SIZE])
{
	struct blob_aad aad;
	uint8_t iv[12];
	blob_params(pcmd, linaddr, version, &aad, iv);
	return crypto_gcm_open(m->paging_key, iv, &aad, sizeof(aad), in, out, SGX_PAGE_SIZE, pcmd->mac);
}

/* A fresh version for one EWB: unique on this machine and never 0 (0 marks an empty slot). */
static uint64_t next_version(struct hw_machine *m)
{
	if (++m->ewb_counter == 0)
		++m->ewb_counter;
	return m->ewb_counter;
}

/* Store an output operand whose translation was already checked for writing. */
static void write_checked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t lin, const void *buf, size_t len)
{
	struct hw_result f;
	if (!hw_write_mem(m, mmu, lin, buf, len, 0, &f)) {
		fprintf(stderr, "sgxemu: EWB output at %#llx faulted after its translation was checked\n",
			(unsigned long long)lin);
		abort();
	}
}

/* ---- EREMOVE ---- */

static struct hw_result eremove_locked(struct hw_machine *m, uint64_t rcx)
{
	if (!HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W);
	struct epcm_entry *e = epcm_peek(m, rcx);
	if (!e || !e->valid)
		return hw_ok();
	if (e->pt == SGX_PT_VA || (e->pt == SGX_PT_TRIM && !e->modified)) {
		/* A VA page, or a trim the enclave accepted: no thread can use it any more. */
		epcm_invalidate(m, rcx, e);
		return hw_ok();
	}
	if (e->pt == SGX_PT_SECS) {
		struct secs_priv *p = secs_priv_of(m, rcx);
		if (p->child_count)
			return hw_code(SGX_CHILD_PRESENT);
		epcm_invalidate(m, rcx, e);
		/* No child is resident and no blob can be loaded any more: the enclave is gone. */
		secs_priv_free(m, p);
		return hw_ok();
	}
	if (secs_priv_of(m, e->enclave_secs)->inside)
		return hw_code(SGX_ENCLAVE_ACT);
	epcm_invalidate(m, rcx, e);
	return hw_ok();
}

struct hw_result encls_eremove(struct hw_machine *m, uint64_t epc)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = eremove_locked(m, epc);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, NULL, ENCLS_EREMOVE, 0, epc, 0, r);
	return r;
}

/* ---- EPA ---- */

static struct hw_result epa_locked(struct hw_machine *m, uint64_t rbx, uint64_t rcx)
{
	if (rbx != SGX_PT_VA || !HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W);
	struct epcm_entry *e = epcm_entry(m, rcx);
	if (e->valid)
		return hw_pf_epcm(rcx, HW_ACC_W);
	memset(hw_pa_ptr(m, rcx), 0, SGX_PAGE_SIZE);
	*e = (struct epcm_entry){.pt = SGX_PT_VA};
	epcm_set_valid(m, rcx, e);
	return hw_ok();
}

struct hw_result encls_epa(struct hw_machine *m, uint64_t rbx, uint64_t epc)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = epa_locked(m, rbx, epc);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, NULL, ENCLS_EPA, rbx, epc, 0, r);
	return r;
}

/* ---- EBLOCK ---- */

static struct hw_result eblock_locked(struct hw_machine *m, uint64_t rcx)
{
	if (!HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W);
	struct epcm_entry *e = epcm_peek(m, rcx);
	if (!e || !e->valid)
		return hw_code(SGX_PG_INVLD);
	if (!pt_is_child(e->pt))
		return hw_code_cf(e->pt == SGX_PT_SECS ? SGX_PG_IS_SECS : SGX_NOTBLOCKABLE);
	if (e->blocked)
		return hw_code_cf(SGX_BLKSTATE);
	e->blocked = 1;
	e->stamp = secs_priv_of(m, e->enclave_secs)->epoch;
	return hw_ok();
}

struct hw_result encls_eblock(struct hw_machine *m, uint64_t epc)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = eblock_locked(m, epc);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, NULL, ENCLS_EBLOCK, 0, epc, 0, r);
	return r;
}

/* ---- ETRACK ---- */

static struct hw_result etrack_locked(struct hw_machine *m, uint64_t rcx)
{
	if (!HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W);
	if (!hw_secs_valid(m, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W);
	if (!track_begin_cycle(secs_priv_of(m, rcx)))
		return hw_code(SGX_PREV_TRK_INCMPL);
	return hw_ok();
}

struct hw_result encls_etrack(struct hw_machine *m, uint64_t secs)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = etrack_locked(m, secs);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, NULL, ENCLS_ETRACK, 0, secs, 0, r);
	return r;
}

/* ---- EWB ---- */

static struct hw_result ewb_locked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t rbx, uint64_t rcx,
				   uint64_t rdx)
{
	struct hw_result f;
	/* 1. Operands. */
	if (!HW_ALIGNED(rbx, 32) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE) || !HW_ALIGNED(rdx, 8))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W);
	if (!hw_is_epc(m, rdx))
		return hw_pf_epcm(rdx, HW_ACC_W);
	if (HW_PAGE_DOWN(rcx) == HW_PAGE_DOWN(rdx))
		return hw_gp();
	struct sgx_pageinfo pi;
	if (!hw_read_mem(m, mmu, rbx, &pi, sizeof(pi), 0, &f))
		return f;
	if (pi.linaddr || pi.secs)
		return hw_gp();
	if (!HW_ALIGNED(pi.secinfo, sizeof(struct sgx_pcmd)) || !HW_ALIGNED(pi.srcpge, SGX_PAGE_SIZE))
		return hw_gp();

	/* 2. EPCM of the page and of the VA slot. */
	struct epcm_entry *e = epcm_peek(m, rcx);
	if (!e || !e->valid)
		return hw_pf_epcm(rcx, HW_ACC_W);
	if (!va_slot_valid(m, rdx))
		return hw_pf_epcm(rdx, HW_ACC_W);

	/* 3. What the page type requires. */
	uint64_t eid = 0;
	if (e->pt == SGX_PT_SECS) {
		struct secs_priv *p = secs_priv_of(m, rcx);
		if (p->child_count)
			return hw_code(SGX_CHILD_PRESENT);
		eid = p->eid;
	} else if (e->pt != SGX_PT_VA) {
		struct secs_priv *p = secs_priv_of(m, e->enclave_secs);
		/* A block record newer than the enclave's epoch was not made by EBLOCK. */
		if (e->blocked && e->stamp > p->epoch)
			return hw_gp();
		if (!e->blocked)
			return hw_code(SGX_PAGE_NOT_BLOCKED);
		if (!track_done(p, e->stamp))
			return hw_code(SGX_NOT_TRACKED);
		eid = p->eid;
	}

	/* The outputs must be writable before anything is stored (a fault changes nothing). */
	uint64_t pa, blob_pa;
	if (!hw_translate(mmu, pi.srcpge, HW_ACC_W, &blob_pa, &f) ||
	    !hw_translate(mmu, pi.secinfo, HW_ACC_W, &pa, &f) || !hw_translate(mmu, rbx, HW_ACC_W, &pa, &f))
		return f;

	/* 4. Seal the page under a fresh version, store blob, PCMD, LINADDR and the version. */
	uint64_t version = next_version(m);
	uint64_t linaddr = e->enclave_address;
	struct sgx_pcmd pcmd;
	memset(&pcmd, 0, sizeof(pcmd));
	pcmd.secinfo.flags = epcm_to_flags(e);
	pcmd.enclave_id = eid;
	/*
	 * The blob is sealed straight into its page (page-aligned, so one
	 * page) when that is ordinary memory; written from outside, an EPC
	 * page keeps its contents (hw_write_mem), so that case goes through a
	 * copy.
	 */
	if (!hw_is_epc(m, blob_pa)) {
		blob_seal(m, &pcmd, linaddr, version, hw_pa_ptr(m, rcx), hw_pa_ptr(m, blob_pa));
	} else {
		uint8_t blob[SGX_PAGE_SIZE];
		blob_seal(m, &pcmd, linaddr, version, hw_pa_ptr(m, rcx), blob);
		write_checked(m, mmu, pi.srcpge, blob, sizeof(blob));
	}
	write_checked(m, mmu, pi.secinfo, &pcmd, sizeof(pcmd));
	write_checked(m, mmu, rbx + offsetof(struct sgx_pageinfo, linaddr), &linaddr, sizeof(linaddr));
	uint64_t *slot = hw_pa_ptr(m, rdx);
	bool occupied = *slot != 0;
	*slot = version;
	epcm_invalidate_keep(m, rcx, e);
	return occupied ? hw_ok_cf(SGX_VA_SLOT_OCCUPIED) : hw_ok();
}

struct hw_result encls_ewb(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc,
			   uint64_t va_slot)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = ewb_locked(m, mmu, pageinfo, epc, va_slot);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, mmu, ENCLS_EWB, pageinfo, epc, va_slot, r);
	return r;
}

/* ---- ELDU / ELDB ---- */

static struct hw_result eld_locked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t rbx, uint64_t rcx,
				   uint64_t rdx, bool load_blocked)
{
	struct hw_result f;
	if (!HW_ALIGNED(rbx, 32) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE) || !HW_ALIGNED(rdx, 8))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W);
	if (!hw_is_epc(m, rdx))
		return hw_pf_epcm(rdx, HW_ACC_W);
	if (HW_PAGE_DOWN(rcx) == HW_PAGE_DOWN(rdx))
		return hw_gp();
	struct sgx_pageinfo pi;
	if (!hw_read_mem(m, mmu, rbx, &pi, sizeof(pi), 0, &f))
		return f;
	if (!HW_ALIGNED(pi.secinfo, sizeof(struct sgx_pcmd)) || !HW_ALIGNED(pi.srcpge, SGX_PAGE_SIZE))
		return hw_gp();

	struct epcm_entry *e = epcm_entry(m, rcx);
	if (e->valid)
		return hw_pf_epcm(rcx, HW_ACC_W);
	if (!va_slot_valid(m, rdx))
		return hw_pf_epcm(rdx, HW_ACC_W);

	/* The PCMD's page type says whether the blob needs its enclave's SECS. */
	struct sgx_pcmd pcmd;
	if (!hw_read_mem(m, mmu, pi.secinfo, &pcmd, sizeof(pcmd), 0, &f))
		return f;
	uint8_t pt = flags_pt(pcmd.secinfo.flags);
	bool child = pt_is_child(pt);
	if (child) {
		if (!HW_ALIGNED(pi.secs, SGX_PAGE_SIZE))
			return hw_gp();
		if (!hw_is_epc(m, pi.secs))
			return hw_pf_epcm(pi.secs, HW_ACC_R);
		if (!hw_secs_valid(m, pi.secs))
			return hw_pf_epcm(pi.secs, HW_ACC_R);
	} else if (pt == SGX_PT_SECS || pt == SGX_PT_VA) {
		if (pi.secs)
			return hw_gp();
	} else {
		return hw_gp();
	}

	uint8_t blob[SGX_PAGE_SIZE];
	if (!hw_read_mem(m, mmu, pi.srcpge, blob, sizeof(blob), 0, &f))
		return f;

	/*
	 * Verify with the slot's version (an empty slot, 0, matches no blob),
	 * decrypting straight into the frame: a free frame, which reads zeros
	 * (docs/hw.md), and does again if the tag does not match.  The blob
	 * is the copy read above, which the host can no longer change.
	 */
	uint64_t *slot = hw_pa_ptr(m, rdx);
	if (child && pcmd.enclave_id != secs_priv_of(m, pi.secs)->eid)
		return hw_code(SGX_MAC_COMPARE_FAIL);
	epc_readahead(m, rcx);
	if (!blob_open(m, &pcmd, pi.linaddr, *slot, blob, hw_pa_ptr(m, rcx))) {
		memset(hw_pa_ptr(m, rcx), 0, SGX_PAGE_SIZE);
		return hw_code(SGX_MAC_COMPARE_FAIL);
	}

	uint64_t fl = pcmd.secinfo.flags;
	/* Tracking of a reloaded page is complete (stamp 0): see docs/hw-paging.md. */
	*e = (struct epcm_entry){.r = !!(fl & SGX_SECINFO_R),
				 .w = !!(fl & SGX_SECINFO_W),
				 .x = !!(fl & SGX_SECINFO_X),
				 .pending = !!(fl & SGX_SECINFO_PENDING),
				 .modified = !!(fl & SGX_SECINFO_MODIFIED),
				 .pr = !!(fl & SGX_SECINFO_PR),
				 .blocked = load_blocked && child,
				 .pt = pt,
				 .enclave_address = child ? pi.linaddr : 0,
				 .enclave_secs = child ? pi.secs : 0};
	epcm_set_valid(m, rcx, e);
	*slot = 0;
	return hw_ok();
}

struct hw_result encls_eldb(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc,
			    uint64_t va_slot)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = eld_locked(m, mmu, pageinfo, epc, va_slot, true);
	hw_mutex_unlock(&m->lock);
	epc_readahead_run();
	hw_obs_encls(t0, m, mmu, ENCLS_ELDB, pageinfo, epc, va_slot, r);
	return r;
}

struct hw_result encls_eldu(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc,
			    uint64_t va_slot)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = eld_locked(m, mmu, pageinfo, epc, va_slot, false);
	hw_mutex_unlock(&m->lock);
	epc_readahead_run();
	hw_obs_encls(t0, m, mmu, ENCLS_ELDU, pageinfo, epc, va_slot, r);
	return r;
}
