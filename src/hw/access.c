/* SPDX-License-Identifier: MIT */
/* Enclave-mode accesses (SDM 37.3): paging first, then the EPCM. */
#include "internal.h"

/* EPCM checks for an enclave access to lin that translated to EPC pa. */
static bool epcm_allows(struct hw_thread *t, uint64_t lin, uint64_t pa, unsigned acc)
{
	struct epcm_entry *e = epcm_peek(t->m, pa);
	if (!epcm_is(e, SGX_PT_REG, t->secs_pa, HW_PAGE_DOWN(lin)))
		return false;
	if (e->blocked || e->pending || e->modified)
		return false;
	if ((acc & HW_ACC_R) && !e->r)
		return false;
	if ((acc & HW_ACC_W) && !e->w)
		return false;
	if ((acc & HW_ACC_X) && !e->x)
		return false;
	return true;
}

struct hw_result access_check_locked(struct hw_thread *t, uint64_t lin, unsigned acc, uint64_t *pa)
{
	struct hw_result r;
	acc |= HW_ACC_USER;
	if (!hw_thread_translate(t, lin, acc, pa, &r))
		return r;
	if (!t->in_enclave)
		return hw_ok();
	if (!hw_in_elrange(t, lin)) {
		/* Code fetches outside ELRANGE are refused in enclave mode (docs/hw.md). */
		if (acc & HW_ACC_X)
			return hw_gp();
		return hw_ok();
	}
	if (!hw_is_epc(t->m, *pa) || !epcm_allows(t, lin, *pa, acc))
		return hw_pf_epcm(lin, acc);
	return hw_ok();
}

/*
 * The walk and the EPCM check as one step, as a TLB fill is: the OS zaps a
 * PTE before it EBLOCKs or evicts the page, so a walk that found the PTE
 * must not see the EPCM entry of a later EBLOCK/EWB (an EPCM fault the
 * hardware never gives for a page that is merely being reclaimed).
 */
struct hw_result hw_access_check(struct hw_thread *t, uint64_t lin, unsigned acc, uint64_t *pa)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = access_check_locked(t, lin, acc, pa);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

struct hw_result enclu_operand(struct hw_thread *t, uint64_t lin, unsigned acc, uint64_t *pa)
{
	struct hw_result r;
	if (!hw_in_elrange(t, lin))
		return hw_gp();
	acc |= HW_ACC_USER | HW_ACC_R;
	if (!hw_thread_translate(t, lin, acc, pa, &r))
		return r;
	if (!hw_is_epc(t->m, *pa) || !epcm_allows(t, lin, *pa, acc))
		return hw_pf_epcm(lin, acc);
	return hw_ok();
}
