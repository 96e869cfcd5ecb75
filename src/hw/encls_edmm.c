/* SPDX-License-Identifier: MIT */
/*
 * SGX2 ENCLS leaves: EAUG, EMODPR, EMODT (SDM 38.4, spec/leaves.md §3).
 * Each leaf runs every check before it changes anything; decisions on the
 * points the SDM leaves open are in docs/hw-edmm.md.
 */
#include "internal.h"

static bool secs_initialized(struct hw_machine *m, uint64_t secs_pa)
{
	return (secs_of(m, secs_pa)->attributes & SGX_ATTR_INIT) != 0;
}

/*
 * EAUG: add a zeroed, PENDING, RW regular page to an initialised enclave.
 * Shadow-stack pages (a non-zero PAGEINFO.SECINFO) are not modelled: #GP.
 */
static struct hw_result eaug_locked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t rbx, uint64_t rcx)
{
	struct hw_result f;
	if (!HW_ALIGNED(rbx, 32) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_encls(rcx, true);

	struct sgx_pageinfo pi;
	if (!hw_read_mem(m, mmu, rbx, &pi, sizeof(pi), 0, &f))
		return f;
	if (!HW_ALIGNED(pi.secs, SGX_PAGE_SIZE) || !HW_ALIGNED(pi.linaddr, SGX_PAGE_SIZE) || pi.srcpge || pi.secinfo)
		return hw_gp();
	if (!hw_is_epc(m, pi.secs))
		return hw_pf_encls(pi.secs, false);

	struct epcm_entry *e = epcm_entry(m, rcx);
	if (e->valid)
		return hw_pf_encls(rcx, true);
	if (!hw_secs_valid(m, pi.secs))
		return hw_pf_encls(pi.secs, false);
	const struct sgx_secs *secs = secs_of(m, pi.secs);
	if (!(secs->attributes & SGX_ATTR_INIT))
		return hw_gp();
	if (pi.linaddr < secs->base || pi.linaddr - secs->base >= secs->size)
		return hw_gp();

	epc_readahead(m, rcx);
	/*
	 * The page reads zeros.  An invalid frame already does, unless a
	 * teardown left its memory; not writing it leaves the frame's host
	 * memory to its first use, or to the populator ahead of it.
	 */
	if (epcm_frame_may_hold_data(m, rcx))
		memset(hw_pa_ptr(m, rcx), 0, SGX_PAGE_SIZE);
	*e = (struct epcm_entry){
	    .r = 1, .w = 1, .pending = 1, .pt = SGX_PT_REG, .enclave_address = pi.linaddr, .enclave_secs = pi.secs};
	epcm_set_valid(m, rcx, e);
	return hw_ok();
}

struct hw_result encls_eaug(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = eaug_locked(m, mmu, pageinfo, epc);
	hw_mutex_unlock(&m->lock);
	epc_readahead_run();
	hw_obs_encls(t0, m, mmu, ENCLS_EAUG, pageinfo, epc, 0, r);
	return r;
}

/* EMODPR: restrict a regular page's EPCM permissions; EACCEPT confirms after tracking. */
static struct hw_result emodpr_locked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t rbx, uint64_t rcx)
{
	struct hw_result f;
	if (!HW_ALIGNED(rbx, 64) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_encls(rcx, true);

	struct sgx_secinfo si;
	if (!hw_read_mem(m, mmu, rbx, &si, sizeof(si), 0, &f))
		return f;
	if (!hw_secinfo_reserved_clear(&si) || ((si.flags & SGX_SECINFO_W) && !(si.flags & SGX_SECINFO_R)))
		return hw_gp();

	struct epcm_entry *e = epcm_peek(m, rcx);
	if (!e || !e->valid)
		return hw_pf_encls(rcx, true);
	if (e->pending || e->modified)
		return hw_code(SGX_PAGE_NOT_MODIFIABLE);
	/* An accepted PT_TRIM page lands here: Linux uses this #PF as proof of acceptance. */
	if (e->pt != SGX_PT_REG)
		return hw_pf_encls(rcx, true);
	if (!secs_initialized(m, e->enclave_secs))
		return hw_gp();

	e->pr = 1;
	e->r &= !!(si.flags & SGX_SECINFO_R);
	e->w &= !!(si.flags & SGX_SECINFO_W);
	e->x &= !!(si.flags & SGX_SECINFO_X);
	e->stamp = secs_priv_of(m, e->enclave_secs)->epoch;
	return hw_ok();
}

struct hw_result encls_emodpr(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t secinfo, uint64_t epc)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = emodpr_locked(m, mmu, secinfo, epc);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, mmu, ENCLS_EMODPR, secinfo, epc, 0, r);
	return r;
}

/* Type changes EMODT allows: REG -> TCS, REG -> TRIM, TCS -> TRIM. */
static bool emodt_transition_ok(uint8_t from, uint8_t to)
{
	if (from == SGX_PT_REG)
		return to == SGX_PT_TCS || to == SGX_PT_TRIM;
	return from == SGX_PT_TCS && to == SGX_PT_TRIM;
}

/* EMODT: change a page's type; the page becomes MODIFIED with no permissions until EACCEPT. */
static struct hw_result emodt_locked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t rbx, uint64_t rcx)
{
	struct hw_result f;
	if (!HW_ALIGNED(rbx, 64) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_encls(rcx, true);

	struct sgx_secinfo si;
	if (!hw_read_mem(m, mmu, rbx, &si, sizeof(si), 0, &f))
		return f;
	uint8_t pt = hw_secinfo_pt(&si);
	if (!hw_secinfo_reserved_clear(&si) || (pt != SGX_PT_TCS && pt != SGX_PT_TRIM))
		return hw_gp();

	struct epcm_entry *e = epcm_peek(m, rcx);
	if (!e || !e->valid)
		return hw_pf_encls(rcx, true);
	if (!emodt_transition_ok(e->pt, pt))
		return hw_pf_encls(rcx, true);
	if (e->pending || e->modified)
		return hw_code(SGX_PAGE_NOT_MODIFIABLE);
	if (!secs_initialized(m, e->enclave_secs))
		return hw_gp();

	/* Contents are kept: a REG page pre-filled with TCS fields becomes that TCS. */
	e->pt = pt;
	e->modified = 1;
	e->pr = 0;
	e->r = e->w = e->x = 0;
	e->stamp = secs_priv_of(m, e->enclave_secs)->epoch;
	return hw_ok();
}

struct hw_result encls_emodt(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t secinfo, uint64_t epc)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = emodt_locked(m, mmu, secinfo, epc);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, mmu, ENCLS_EMODT, secinfo, epc, 0, r);
	return r;
}
