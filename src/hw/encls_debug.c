/* SPDX-License-Identifier: MIT */
/*
 * Debugger access to enclave memory: EDBGRD, EDBGWR (SDM 38.4,
 * spec/leaves.md §3).  RCX is the physical (EPC) address of an 8-byte
 * quantity; EPCM R/W/X are not consulted, the owner's DEBUG attribute is.
 * Decisions on the open points are in docs/hw-enter.md.
 */
#include "internal.h"

/* Architectural TCS fields EDBGRD may read (STATE .. GSLIMIT). */
#define TCS_DEBUG_READ_LIMIT offsetof(struct sgx_tcs, reserved)

/* The checks both leaves share, in order; on success *out is the page's EPCM entry. */
static struct hw_result edbg_checks(struct hw_machine *m, uint64_t rcx, bool write, struct epcm_entry **out)
{
	/* Not EPC / wrong EPCM state: the page written (EDBGWR) or only read (EDBGRD). */
	unsigned acc = write ? HW_ACC_W : HW_ACC_R;
	if (!HW_ALIGNED(rcx, 8))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_epcm(rcx, acc);
	/* Busy (a concurrent leaf on the page) cannot happen: leaves are serialised. */
	struct epcm_entry *e = epcm_peek(m, rcx);
	if (!e || !e->valid)
		return hw_pf_epcm(rcx, acc);
	bool type_ok = e->pt == SGX_PT_REG || e->pt == SGX_PT_TCS || (!write && e->pt == SGX_PT_VA);
	if (!type_ok)
		return hw_pf_epcm(rcx, acc);
	if (e->pending || e->modified)
		return hw_code(SGX_PAGE_NOT_DEBUGGABLE);
	if (e->pt == SGX_PT_TCS) {
		uint64_t off = rcx & 0xFFF;
		if (write ? off != offsetof(struct sgx_tcs, flags) : off >= TCS_DEBUG_READ_LIMIT)
			return hw_gp();
	}
	/* VA pages belong to no enclave. */
	if (e->pt != SGX_PT_VA && !(secs_of(m, e->enclave_secs)->attributes & SGX_ATTR_DEBUG))
		return hw_gp();
	*out = e;
	return hw_ok();
}

static struct hw_result edbgrd_locked(struct hw_machine *m, uint64_t rcx, uint64_t *data)
{
	struct epcm_entry *e;
	struct hw_result r = edbg_checks(m, rcx, false, &e);
	if (!hw_is_ok(r))
		return r;
	uint64_t v;
	memcpy(&v, hw_pa_ptr(m, rcx), sizeof(v));
	/* A VA slot's version stays secret: only "occupied or not" is visible. */
	if (e->pt == SGX_PT_VA && v)
		v = ~0ULL;
	*data = v;
	return hw_ok();
}

struct hw_result encls_edbgrd(struct hw_machine *m, uint64_t epc, uint64_t *data)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = edbgrd_locked(m, epc, data);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, NULL, ENCLS_EDBGRD, hw_is_ok(r) ? *data : 0, epc, 0, r);
	return r;
}

static struct hw_result edbgwr_locked(struct hw_machine *m, uint64_t rcx, uint64_t data)
{
	struct epcm_entry *e;
	struct hw_result r = edbg_checks(m, rcx, true, &e);
	if (!hw_is_ok(r))
		return r;
	memcpy(hw_pa_ptr(m, rcx), &data, sizeof(data));
	return hw_ok();
}

struct hw_result encls_edbgwr(struct hw_machine *m, uint64_t epc, uint64_t data)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = edbgwr_locked(m, epc, data);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, NULL, ENCLS_EDBGWR, data, epc, 0, r);
	return r;
}
