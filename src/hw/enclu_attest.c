/* SPDX-License-Identifier: MIT */
/*
 * EREPORT and EGETKEY (spec/leaves.md §5): local attestation and the
 * enclave's keys.  The derivation itself is in keys.c; decisions on the
 * points the SDM leaves open are in docs/hw-init.md.
 */
#include "internal.h"

/*
 * RBX TARGETINFO (512-aligned), RCX REPORTDATA (128-aligned), RDX REPORT
 * out (512-aligned).  Alignment of all three, then ELRANGE of all three,
 * then each operand's translation and EPCM in the order RBX, RCX, RDX.
 */
struct hw_result enclu_ereport_locked(struct hw_thread *t)
{
	struct hw_machine *m = t->m;
	uint64_t rbx = t->regs.rbx, rcx = t->regs.rcx, rdx = t->regs.rdx;
	struct hw_result r;
	if (!t->in_enclave)
		return hw_gp();
	if (!HW_ALIGNED(rbx, 512) || !HW_ALIGNED(rcx, 128) || !HW_ALIGNED(rdx, 512))
		return hw_gp();
	if (!hw_in_elrange(t, rbx) || !hw_in_elrange(t, rcx) || !hw_in_elrange(t, rdx))
		return hw_gp();
	uint64_t ti_pa, rd_pa, out_pa;
	r = enclu_operand(t, rbx, HW_ACC_R, &ti_pa);
	if (!hw_is_ok(r))
		return r;
	r = enclu_operand(t, rcx, HW_ACC_R, &rd_pa);
	if (!hw_is_ok(r))
		return r;
	r = enclu_operand(t, rdx, HW_ACC_W, &out_pa);
	if (!hw_is_ok(r))
		return r;

	struct sgx_targetinfo ti;
	memcpy(&ti, hw_pa_ptr(m, ti_pa), sizeof(ti));
	const struct sgx_secs *secs = secs_of(m, t->secs_pa);
	const struct secs_priv *p = secs_priv_of(m, t->secs_pa);

	struct sgx_report rep;
	memset(&rep, 0, sizeof(rep));
	memcpy(rep.cpusvn, m->cfg.cpusvn, sizeof(rep.cpusvn));
	rep.miscselect = secs->miscselect;
	memcpy(rep.isv_ext_prod_id, p->isv_ext_prod_id, sizeof(rep.isv_ext_prod_id));
	rep.attributes = secs->attributes;
	rep.xfrm = secs->xfrm;
	memcpy(rep.mrenclave, secs->mrenclave, sizeof(rep.mrenclave));
	memcpy(rep.mrsigner, secs->mrsigner, sizeof(rep.mrsigner));
	memcpy(rep.config_id, secs->config_id, sizeof(rep.config_id));
	rep.isv_prod_id = secs->isv_prod_id;
	rep.isv_svn = secs->isv_svn;
	rep.config_svn = secs->config_svn;
	memcpy(rep.isv_family_id, p->isv_family_id, sizeof(rep.isv_family_id));
	memcpy(rep.report_data, hw_pa_ptr(m, rd_pa), sizeof(rep.report_data));
	keys_report_keyid(m, rep.keyid);

	/* MAC with the TARGET's report key, so only the target can check it. */
	struct keys_report_target tgt = {
	    .attributes = ti.attributes, .xfrm = ti.xfrm, .miscselect = ti.miscselect, .config_svn = ti.config_svn};
	memcpy(tgt.mrenclave, ti.mrenclave, 32);
	memcpy(tgt.config_id, ti.config_id, 64);
	uint8_t key[16];
	keys_report(m, &tgt, rep.keyid, key);
	crypto_aes_cmac(key, &rep, offsetof(struct sgx_report, keyid), rep.mac);
	memcpy(hw_pa_ptr(m, out_pa), &rep, sizeof(rep));
	return hw_ok();
}

struct hw_result enclu_ereport(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_ereport_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

/* The request's CPUSVN, ISVSVN and CONFIGSVN may not exceed what the CPU and the enclave have. */
static struct hw_result svn_checks(struct hw_machine *m, const struct sgx_secs *secs, const struct sgx_keyrequest *req,
				   bool config_svn)
{
	if (!keys_cpusvn_ok(m, req->cpusvn))
		return hw_code(SGX_INVALID_CPUSVN);
	if (req->isv_svn > secs->isv_svn)
		return hw_code(SGX_INVALID_ISVSVN);
	if (config_svn && req->config_svn > secs->config_svn)
		return hw_code(SGX_INVALID_ISVSVN);
	return hw_ok();
}

/* RBX KEYREQUEST (512-aligned), RCX the 16-byte key out (16-aligned). */
struct hw_result enclu_egetkey_locked(struct hw_thread *t)
{
	struct hw_machine *m = t->m;
	uint64_t rbx = t->regs.rbx, rcx = t->regs.rcx;
	struct hw_result r;
	if (!t->in_enclave)
		return hw_gp();
	if (!HW_ALIGNED(rbx, 512) || !hw_in_elrange(t, rbx))
		return hw_gp();
	uint64_t req_pa, out_pa;
	r = enclu_operand(t, rbx, HW_ACC_R, &req_pa);
	if (!hw_is_ok(r))
		return r;
	if (!HW_ALIGNED(rcx, 16) || !hw_in_elrange(t, rcx))
		return hw_gp();
	r = enclu_operand(t, rcx, HW_ACC_W, &out_pa);
	if (!hw_is_ok(r))
		return r;

	struct sgx_keyrequest req;
	memcpy(&req, hw_pa_ptr(m, req_pa), sizeof(req));
	if (!hw_all_zero(req.reserved1, sizeof(req.reserved1)) || !hw_all_zero(req.reserved2, sizeof(req.reserved2)) ||
	    (req.keypolicy & SGX_KEYPOLICY_RESERVED))
		return hw_gp();
	const struct sgx_secs *secs = secs_of(m, t->secs_pa);
	if (!(secs->attributes & SGX_ATTR_KSS) && ((req.keypolicy & SGX_KEYPOLICY_KSS_MASK) || req.config_svn))
		return hw_gp();

	switch (req.keyname) {
	case SGX_KEY_SEAL:
		r = svn_checks(m, secs, &req, true);
		break;
	case SGX_KEY_REPORT:
		r = hw_ok();
		break;
	case SGX_KEY_EINITTOKEN: {
		uint8_t lehash[32];
		keys_lehash(m, lehash);
		if (!(secs->attributes & SGX_ATTR_EINITTOKENKEY) || memcmp(secs->mrsigner, lehash, 32))
			return hw_code(SGX_INVALID_ATTRIBUTE);
		r = svn_checks(m, secs, &req, false);
		break;
	}
	case SGX_KEY_PROVISION:
	case SGX_KEY_PROVISION_SEAL:
		if (!(secs->attributes & SGX_ATTR_PROVISIONKEY))
			return hw_code(SGX_INVALID_ATTRIBUTE);
		r = svn_checks(m, secs, &req, true);
		break;
	default:
		return hw_code(SGX_INVALID_KEYNAME);
	}
	if (!hw_is_ok(r))
		return r;

	uint8_t key[16];
	keys_egetkey(m, secs, secs_priv_of(m, t->secs_pa), &req, key);
	memcpy(hw_pa_ptr(m, out_pa), key, sizeof(key));
	return hw_ok();
}

struct hw_result enclu_egetkey(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_egetkey_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}
