/* SPDX-License-Identifier: MIT */
/* Building an enclave: ECREATE, EADD, EEXTEND, EINIT (SDM 38.3). */
#include "internal.h"

/* Check the ECREATE copy of the SECS (step 4); true if it passes. */
static bool secs_ok(const struct hw_config *c, const struct sgx_secs *s)
{
	uint32_t misc_size = (s->miscselect & SGX_MISC_EXINFO) ? SGX_EXINFO_SIZE : 0;
	/* XFRM[1:0] = 11b, a value XSETBV would accept, and only features CPUID.(0x12,1) offers. */
	if ((s->xfrm & 3) != 3 || !hw_xfrm_legal(s->xfrm) || (s->xfrm & ~c->xfrm_allowed))
		return false;
	if (s->miscselect & ~c->misc_supported)
		return false;
	/* The frame holds the XSAVE image of XFRM in this CPU's layout, the MISC region and GPRSGX. */
	if ((uint64_t)s->ssa_frame_size * SGX_PAGE_SIZE <
	    (uint64_t)hw_xsave_size_in(c, s->xfrm) + SGX_GPRSGX_SIZE + misc_size)
		return false;
	if (s->attributes & SGX_ATTR_MODE64BIT) {
		if (!hw_canonical(s->base))
			return false;
		if (c->max_size_log2_64 < 64 && s->size >= (1ULL << c->max_size_log2_64))
			return false;
	} else {
		if (s->base >= (1ULL << 32))
			return false;
		if (s->size >= (1ULL << c->max_size_log2_32))
			return false;
	}
	if (s->size < 0x2000 || (s->size & (s->size - 1)))
		return false;
	if (s->base & (s->size - 1))
		return false;
	if (s->attributes & (~c->attr_allowed | SGX_ATTR_RESERVED_MASK | SGX_ATTR_INIT))
		return false;
	if (!hw_all_zero(s->reserved1, sizeof(s->reserved1)) || !hw_all_zero(s->reserved2, sizeof(s->reserved2)) ||
	    !hw_all_zero(s->reserved3, sizeof(s->reserved3)) || !hw_all_zero(s->reserved4, sizeof(s->reserved4)))
		return false;
	if (!(s->attributes & SGX_ATTR_KSS) && (!hw_all_zero(s->config_id, sizeof(s->config_id)) || s->config_svn))
		return false;
	return true;
}

static struct hw_result ecreate_locked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t rbx, uint64_t rcx)
{
	struct hw_result f;
	if (!HW_ALIGNED(rbx, 32) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_encls(rcx, true);

	struct sgx_pageinfo pi;
	if (!hw_read_mem(m, mmu, rbx, &pi, sizeof(pi), 0, &f))
		return f;
	if (!HW_ALIGNED(pi.srcpge, SGX_PAGE_SIZE) || !HW_ALIGNED(pi.secinfo, 64))
		return hw_gp();
	if (pi.linaddr || pi.secs)
		return hw_gp();

	struct sgx_secinfo si;
	if (!hw_read_mem(m, mmu, pi.secinfo, &si, sizeof(si), 0, &f))
		return f;
	if (!hw_secinfo_reserved_clear(&si) || hw_secinfo_pt(&si) != SGX_PT_SECS)
		return hw_gp();
	struct epcm_entry *e = epcm_entry(m, rcx);
	if (e->valid)
		return hw_pf_encls(rcx, true);

	struct sgx_secs tmp;
	if (!hw_read_mem(m, mmu, pi.srcpge, &tmp, sizeof(tmp), 0, &f))
		return f;
	if (!secs_ok(&m->cfg, &tmp))
		return hw_gp();

	/* Fields hardware initialises itself (docs/hw.md: input values are ignored). */
	memset(tmp.mrenclave, 0, sizeof(tmp.mrenclave));
	memset(tmp.mrsigner, 0, sizeof(tmp.mrsigner));
	tmp.isv_prod_id = 0;
	tmp.isv_svn = 0;
	memcpy(hw_pa_ptr(m, rcx), &tmp, sizeof(tmp));
	struct secs_priv *p = secs_priv_new(m, rcx);
	measure_ecreate(p->mr, tmp.ssa_frame_size, tmp.size);
	*e = (struct epcm_entry){.pt = SGX_PT_SECS};
	epcm_set_valid(m, rcx, e);
	return hw_ok();
}

struct hw_result encls_ecreate(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = ecreate_locked(m, mmu, pageinfo, epc);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, mmu, ENCLS_ECREATE, pageinfo, epc, 0, r);
	return r;
}

static struct hw_result eadd_locked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t rbx, uint64_t rcx)
{
	struct hw_result f;
	if (!HW_ALIGNED(rbx, 32) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_encls(rcx, true);

	struct sgx_pageinfo pi;
	if (!hw_read_mem(m, mmu, rbx, &pi, sizeof(pi), 0, &f))
		return f;
	if (!HW_ALIGNED(pi.srcpge, SGX_PAGE_SIZE) || !HW_ALIGNED(pi.secs, SGX_PAGE_SIZE) ||
	    !HW_ALIGNED(pi.linaddr, SGX_PAGE_SIZE) || !HW_ALIGNED(pi.secinfo, 64))
		return hw_gp();
	if (!hw_is_epc(m, pi.secs))
		return hw_pf_encls(pi.secs, false);

	struct sgx_secinfo si;
	if (!hw_read_mem(m, mmu, pi.secinfo, &si, sizeof(si), 0, &f))
		return f;
	uint8_t pt = hw_secinfo_pt(&si);
	if (!hw_secinfo_reserved_clear(&si) || (pt != SGX_PT_REG && pt != SGX_PT_TCS))
		return hw_gp();
	struct epcm_entry *e = epcm_entry(m, rcx);
	if (e->valid)
		return hw_pf_encls(rcx, true);
	if (!hw_secs_valid(m, pi.secs))
		return hw_pf_encls(pi.secs, false);
	struct sgx_secs *secs = secs_of(m, pi.secs);

	uint8_t page[SGX_PAGE_SIZE];
	if (!hw_read_mem(m, mmu, pi.srcpge, page, sizeof(page), 0, &f))
		return f;
	if (pt == SGX_PT_TCS) {
		struct sgx_tcs *tcs = (struct sgx_tcs *)page;
		if (!hw_all_zero(tcs->reserved, sizeof(tcs->reserved)))
			return hw_gp();
		if (!(secs->attributes & SGX_ATTR_MODE64BIT) &&
		    ((tcs->fslimit & 0xFFF) != 0xFFF || (tcs->gslimit & 0xFFF) != 0xFFF))
			return hw_gp();
	} else if ((si.flags & SGX_SECINFO_W) && !(si.flags & SGX_SECINFO_R)) {
		return hw_gp();
	}
	if (pi.linaddr < secs->base || pi.linaddr - secs->base >= secs->size)
		return hw_gp();
	if (secs->attributes & SGX_ATTR_INIT)
		return hw_gp();

	if (pt == SGX_PT_TCS) {
		struct sgx_tcs *tcs = (struct sgx_tcs *)page;
		si.flags &= ~SGX_SECINFO_PERM_MASK;
		tcs->flags &= ~SGX_TCS_DBGOPTIN;
		tcs->cssa = 0;
		tcs->aep = 0;
		tcs->state = 0;
	}
	epc_readahead(m, rcx);
	memcpy(hw_pa_ptr(m, rcx), page, sizeof(page));
	measure_eadd(secs_priv_of(m, pi.secs)->mr, pi.linaddr - secs->base, si.flags);
	/* PENDING/MODIFIED/PR in the SECINFO are not applied by EADD (docs/hw.md). */
	*e = (struct epcm_entry){.r = !!(si.flags & SGX_SECINFO_R),
				 .w = !!(si.flags & SGX_SECINFO_W),
				 .x = !!(si.flags & SGX_SECINFO_X),
				 .pt = pt,
				 .enclave_address = pi.linaddr,
				 .enclave_secs = pi.secs};
	epcm_set_valid(m, rcx, e);
	return hw_ok();
}

struct hw_result encls_eadd(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t pageinfo, uint64_t epc)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = eadd_locked(m, mmu, pageinfo, epc);
	hw_mutex_unlock(&m->lock);
	epc_readahead_run();
	hw_obs_encls(t0, m, mmu, ENCLS_EADD, pageinfo, epc, 0, r);
	return r;
}

static struct hw_result eextend_locked(struct hw_machine *m, uint64_t rbx, uint64_t rcx)
{
	if (!HW_ALIGNED(rbx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_is_epc(m, rbx))
		return hw_pf_encls(rbx, false);
	if (!HW_ALIGNED(rcx, 256))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_encls(rcx, false);
	struct epcm_entry *e = epcm_peek(m, rcx);
	if (!e || !e->valid || (e->pt != SGX_PT_REG && e->pt != SGX_PT_TCS))
		return hw_pf_encls(rcx, false);
	if (e->enclave_secs != rbx)
		return hw_gp();
	struct sgx_secs *secs = secs_of(m, rbx);
	/* After EINIT the measurement is final (docs/hw.md). */
	if (secs->attributes & SGX_ATTR_INIT)
		return hw_gp();
	measure_eextend(secs_priv_of(m, rbx)->mr, e->enclave_address - secs->base + (rcx & 0xFFF), hw_pa_ptr(m, rcx));
	return hw_ok();
}

struct hw_result encls_eextend(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t secs, uint64_t chunk)
{
	(void)mmu; /* both operands are EPC addresses */
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = eextend_locked(m, secs, chunk);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, NULL, ENCLS_EEXTEND, secs, chunk, 0, r);
	return r;
}
