/* SPDX-License-Identifier: MIT */
/*
 * SGX2 ENCLU leaves run by enclave code: EACCEPT, EACCEPTCOPY, EMODPE
 * (SDM 38.5, spec/leaves.md §5).  Each leaf runs every check before it
 * changes anything; decisions on open points are in docs/hw-edmm.md.
 *
 * Operand #PF error codes: U always; W for the page whose EPCM entry or
 * contents the leaf changes (the target), none for pages only read.  The
 * page-table walk uses the access the leaf makes: a read of EACCEPT's and
 * EMODPE's target, a read and write of EACCEPTCOPY's destination.
 */
#include "internal.h"

/*
 * Resolve operand lin to its frame: walk the page tables for access `walk`
 * (ordinary #PF on failure), then require EPC (#PF with the SGX bit, W/R per
 * `fault`).  On success *pa is the physical address of lin.
 */
static struct hw_result resolve_epc(struct hw_thread *t, uint64_t lin, unsigned walk, unsigned fault, uint64_t *pa)
{
	struct hw_result r;
	if (!hw_thread_translate(t, lin, walk | HW_ACC_USER, pa, &r))
		return r;
	if (!hw_is_epc(t->m, *pa))
		return hw_pf_epcm(lin, fault | HW_ACC_USER);
	return hw_ok();
}

/* Fetch the SECINFO at RBX (already resolved): EPCM checks of its page (#PF), then copy. */
static struct hw_result secinfo_fetch(struct hw_thread *t, uint64_t rbx, struct sgx_secinfo *si)
{
	uint64_t pa;
	struct hw_result r = enclu_operand(t, rbx, HW_ACC_R, &pa);
	if (!hw_is_ok(r))
		return r;
	memcpy(si, hw_pa_ptr(t->m, pa), sizeof(*si));
	return hw_ok();
}

/* A regular page of this enclave at lin, usable by enclave code (VALID, own, address, no transition)? */
static bool epcm_usable_reg(struct hw_thread *t, const struct epcm_entry *e, uint64_t lin)
{
	return epcm_is(e, SGX_PT_REG, t->secs_pa, lin) && !e->pending && !e->modified && !e->blocked;
}

/*
 * SECINFO combinations EACCEPT accepts: a regular page leaving PENDING or
 * PR, or a page whose type EMODT changed to TCS or TRIM.
 */
static bool eaccept_combination_legal(const struct sgx_secinfo *si)
{
	bool pending = si->flags & SGX_SECINFO_PENDING, modified = si->flags & SGX_SECINFO_MODIFIED,
	     pr = si->flags & SGX_SECINFO_PR;
	switch (hw_secinfo_pt(si)) {
	case SGX_PT_REG:
		return !modified && (pending || pr);
	case SGX_PT_TCS:
	case SGX_PT_TRIM:
		return !pending && !pr && modified;
	default:
		return false;
	}
}

/* EPCM attributes EACCEPT compares with the SECINFO (PR is not compared). */
static bool eaccept_attributes_match(const struct epcm_entry *e, const struct sgx_secinfo *si, uint64_t lin)
{
	return e->enclave_address == lin && e->pending == !!(si->flags & SGX_SECINFO_PENDING) &&
	       e->modified == !!(si->flags & SGX_SECINFO_MODIFIED) && e->r == !!(si->flags & SGX_SECINFO_R) &&
	       e->w == !!(si->flags & SGX_SECINFO_W) && e->x == !!(si->flags & SGX_SECINFO_X) &&
	       e->pt == hw_secinfo_pt(si);
}

/* Contents of a page becoming a TCS: what EADD would have zeroed or refused must be clean. */
static bool tcs_acceptable(struct hw_thread *t, const struct sgx_tcs *tcs)
{
	if (!hw_all_zero(tcs->reserved, sizeof(tcs->reserved)))
		return false;
	if ((tcs->flags & SGX_TCS_DBGOPTIN) || tcs->cssa >= tcs->nssa || tcs->aep || tcs->state)
		return false;
	if (!(secs_of(t->m, t->secs_pa)->attributes & SGX_ATTR_MODE64BIT) &&
	    ((tcs->fslimit & 0xFFF) != 0xFFF || (tcs->gslimit & 0xFFF) != 0xFFF))
		return false;
	return true;
}

struct hw_result enclu_eaccept_locked(struct hw_thread *t)
{
	struct hw_machine *m = t->m;
	uint64_t rbx = t->regs.rbx, rcx = t->regs.rcx;
	struct sgx_secinfo si;
	struct hw_result r;
	uint64_t pa;

	if (!t->in_enclave)
		return hw_gp();
	if (!HW_ALIGNED(rbx, 64))
		return hw_gp();
	r = secinfo_fetch(t, rbx, &si);
	if (!hw_is_ok(r))
		return r;
	if (!hw_secinfo_reserved_clear(&si))
		return hw_gp();

	if (!HW_ALIGNED(rcx, SGX_PAGE_SIZE) || !hw_in_elrange(t, rcx))
		return hw_gp();
	r = resolve_epc(t, rcx, HW_ACC_R, HW_ACC_W, &pa);
	if (!hw_is_ok(r))
		return r;

	if (!eaccept_combination_legal(&si))
		return hw_gp();
	struct epcm_entry *e = epcm_peek(m, pa);
	if (!e || !e->valid || e->blocked || e->enclave_secs != t->secs_pa ||
	    (e->pt != SGX_PT_REG && e->pt != SGX_PT_TCS && e->pt != SGX_PT_TRIM))
		return hw_pf_epcm(rcx, HW_ACC_W | HW_ACC_USER);
	if (!eaccept_attributes_match(e, &si, rcx))
		return hw_code(SGX_PAGE_ATTRIBUTES_MISMATCH);
	/* Only EMODPR/EMODT stamp a page; an EAUG'd page was never reachable through an old TLB entry. */
	if ((e->pr || e->modified) && !track_done(secs_priv_of(m, t->secs_pa), e->stamp))
		return hw_code(SGX_NOT_TRACKED);
	if (e->pt == SGX_PT_TCS && !tcs_acceptable(t, hw_pa_ptr(m, pa)))
		return hw_gp();

	e->pending = 0;
	e->modified = 0;
	e->pr = 0;
	return hw_ok();
}

struct hw_result enclu_eaccept(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_eaccept_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

struct hw_result enclu_eacceptcopy_locked(struct hw_thread *t)
{
	struct hw_machine *m = t->m;
	uint64_t rbx = t->regs.rbx, rcx = t->regs.rcx, rdx = t->regs.rdx;
	struct sgx_secinfo si;
	struct hw_result r;
	uint64_t pa_si, pa_dst, pa_src;

	if (!t->in_enclave)
		return hw_gp();
	if (!HW_ALIGNED(rbx, 64) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE) || !HW_ALIGNED(rdx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_in_elrange(t, rbx) || !hw_in_elrange(t, rcx) || !hw_in_elrange(t, rdx))
		return hw_gp();
	r = resolve_epc(t, rbx, HW_ACC_R, HW_ACC_R, &pa_si);
	if (!hw_is_ok(r))
		return r;
	r = resolve_epc(t, rcx, HW_ACC_R | HW_ACC_W, HW_ACC_W, &pa_dst);
	if (!hw_is_ok(r))
		return r;
	r = resolve_epc(t, rdx, HW_ACC_R, HW_ACC_R, &pa_src);
	if (!hw_is_ok(r))
		return r;

	r = secinfo_fetch(t, rbx, &si);
	if (!hw_is_ok(r))
		return r;
	if (!hw_secinfo_reserved_clear(&si) || ((si.flags & SGX_SECINFO_W) && !(si.flags & SGX_SECINFO_R)) ||
	    hw_secinfo_pt(&si) != SGX_PT_REG)
		return hw_gp();

	struct epcm_entry *src = epcm_peek(m, pa_src);
	if (!epcm_usable_reg(t, src, rdx) || !src->r)
		return hw_pf_epcm(rdx, HW_ACC_R | HW_ACC_USER);

	struct epcm_entry *dst = epcm_peek(m, pa_dst);
	if (!dst || !dst->valid || !dst->pending || dst->modified || dst->pt != SGX_PT_REG ||
	    dst->enclave_secs != t->secs_pa)
		return hw_code(SGX_PAGE_ATTRIBUTES_MISMATCH);
	if (!dst->r || !dst->w || dst->x || dst->enclave_address != rcx)
		return hw_code(SGX_PAGE_ATTRIBUTES_MISMATCH);

	memcpy(hw_pa_ptr(m, pa_dst), hw_pa_ptr(m, pa_src), SGX_PAGE_SIZE);
	dst->r = !!(si.flags & SGX_SECINFO_R);
	dst->w = !!(si.flags & SGX_SECINFO_W);
	dst->x = !!(si.flags & SGX_SECINFO_X);
	dst->pending = 0;
	return hw_ok();
}

struct hw_result enclu_eacceptcopy(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_eacceptcopy_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

struct hw_result enclu_emodpe_locked(struct hw_thread *t)
{
	struct hw_machine *m = t->m;
	uint64_t rbx = t->regs.rbx, rcx = t->regs.rcx;
	struct sgx_secinfo si;
	struct hw_result r;
	uint64_t pa_si, pa;

	if (!t->in_enclave)
		return hw_gp();
	if (!HW_ALIGNED(rbx, 64) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_in_elrange(t, rbx) || !hw_in_elrange(t, rcx))
		return hw_gp();
	r = resolve_epc(t, rbx, HW_ACC_R, HW_ACC_R, &pa_si);
	if (!hw_is_ok(r))
		return r;
	r = resolve_epc(t, rcx, HW_ACC_R, HW_ACC_W, &pa);
	if (!hw_is_ok(r))
		return r;

	r = secinfo_fetch(t, rbx, &si);
	if (!hw_is_ok(r))
		return r;
	if (!hw_secinfo_reserved_clear(&si))
		return hw_gp();

	struct epcm_entry *e = epcm_peek(m, pa);
	if (!epcm_usable_reg(t, e, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W | HW_ACC_USER);
	/* Extending must not produce W without R. */
	if (!e->r && !(si.flags & SGX_SECINFO_R) && (si.flags & SGX_SECINFO_W))
		return hw_gp();

	e->r |= !!(si.flags & SGX_SECINFO_R);
	e->w |= !!(si.flags & SGX_SECINFO_W);
	e->x |= !!(si.flags & SGX_SECINFO_X);
	return hw_ok();
}

struct hw_result enclu_emodpe(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_emodpe_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}
