/* SPDX-License-Identifier: MIT */
/* ENCLS/ENCLU decode: leaf number -> one function, and the mode checks before it. */
#include <stdlib.h>

#include "internal.h"

static bool sgx2_leaf_missing(const struct hw_machine *m, uint64_t leaf, bool encls)
{
	/* EDECCSSA comes with AEX-Notify: a machine that does not offer the attribute does not know the leaf. */
	if (!encls && leaf == ENCLU_EDECCSSA && !(m->cfg.attr_allowed & SGX_ATTR_AEXNOTIFY))
		return true;
	if (!m->cfg.sgx1_only)
		return false;
	if (encls)
		return leaf == ENCLS_EAUG || leaf == ENCLS_EMODPR || leaf == ENCLS_EMODT;
	return leaf == ENCLU_EACCEPT || leaf == ENCLU_EMODPE || leaf == ENCLU_EACCEPTCOPY;
}

/* Fold an outcome into RAX and the arithmetic flags as hardware leaves them. */
static void set_flags(struct hw_regs *regs, struct hw_result r)
{
	if (r.kind == HW_FAULT)
		return;
	const uint64_t arith = (1u << 0) | (1u << 2) | (1u << 4) | (1u << 6) | (1u << 7) | (1u << 11);
	regs->rflags &= ~arith;
	if (r.zf)
		regs->rflags |= 1u << 6;
	if (r.cf)
		regs->rflags |= 1u << 0;
	regs->rax = r.rax;
}

struct hw_result hw_encls(struct hw_machine *m, const struct hw_mmu *mmu, struct hw_regs *regs)
{
	uint64_t leaf = regs->rax;
	struct hw_result r;
	if (sgx2_leaf_missing(m, leaf, true))
		return hw_gp();
	switch (leaf) {
	case ENCLS_ECREATE:
		r = encls_ecreate(m, mmu, regs->rbx, regs->rcx);
		break;
	case ENCLS_EADD:
		r = encls_eadd(m, mmu, regs->rbx, regs->rcx);
		break;
	case ENCLS_EINIT:
		r = encls_einit(m, mmu, regs->rbx, regs->rcx, regs->rdx);
		break;
	case ENCLS_EREMOVE:
		r = encls_eremove(m, regs->rcx);
		break;
	case ENCLS_EDBGRD:
		r = encls_edbgrd(m, regs->rcx, &regs->rbx);
		break;
	case ENCLS_EDBGWR:
		r = encls_edbgwr(m, regs->rcx, regs->rbx);
		break;
	case ENCLS_EEXTEND:
		r = encls_eextend(m, mmu, regs->rbx, regs->rcx);
		break;
	case ENCLS_ELDB:
		r = encls_eldb(m, mmu, regs->rbx, regs->rcx, regs->rdx);
		break;
	case ENCLS_ELDU:
		r = encls_eldu(m, mmu, regs->rbx, regs->rcx, regs->rdx);
		break;
	case ENCLS_EBLOCK:
		r = encls_eblock(m, regs->rcx);
		break;
	case ENCLS_EPA:
		r = encls_epa(m, regs->rbx, regs->rcx);
		break;
	case ENCLS_EWB:
		r = encls_ewb(m, mmu, regs->rbx, regs->rcx, regs->rdx);
		break;
	case ENCLS_ETRACK:
		r = encls_etrack(m, regs->rcx);
		break;
	case ENCLS_EAUG:
		r = encls_eaug(m, mmu, regs->rbx, regs->rcx);
		break;
	case ENCLS_EMODPR:
		r = encls_emodpr(m, mmu, regs->rbx, regs->rcx);
		break;
	case ENCLS_EMODT:
		r = encls_emodt(m, mmu, regs->rbx, regs->rcx);
		break;
	default:
		return hw_gp();
	}
	set_flags(regs, r);
	return r;
}

/* ENCLU[RAX] with m->lock held: the mode checks, then the leaf. */
static struct hw_result enclu_run_locked(struct hw_thread *t)
{
	uint64_t leaf = t->regs.rax;
	struct hw_result r;
	if (sgx2_leaf_missing(t->m, leaf, false))
		return hw_gp();
	bool inside_only = leaf == ENCLU_EREPORT || leaf == ENCLU_EGETKEY || leaf == ENCLU_EEXIT ||
			   leaf == ENCLU_EACCEPT || leaf == ENCLU_EMODPE || leaf == ENCLU_EACCEPTCOPY ||
			   leaf == ENCLU_EDECCSSA;
	bool outside_only = leaf == ENCLU_EENTER || leaf == ENCLU_ERESUME;
	if ((inside_only && !t->in_enclave) || (outside_only && t->in_enclave))
		return hw_gp();
	switch (leaf) {
	case ENCLU_EREPORT:
		r = enclu_ereport_locked(t);
		break;
	case ENCLU_EGETKEY:
		r = enclu_egetkey_locked(t);
		break;
	case ENCLU_EENTER:
		return enclu_eenter_locked(t);
	case ENCLU_ERESUME:
		return enclu_eresume_locked(t);
	case ENCLU_EEXIT:
		return enclu_eexit_locked(t);
	case ENCLU_EDECCSSA:
		return enclu_edeccssa_locked(t); /* no flags, RAX unchanged */
	case ENCLU_EACCEPT:
		r = enclu_eaccept_locked(t);
		break;
	case ENCLU_EMODPE:
		r = enclu_emodpe_locked(t);
		break;
	case ENCLU_EACCEPTCOPY:
		r = enclu_eacceptcopy_locked(t);
		break;
	default:
		return hw_gp();
	}
	set_flags(&t->regs, r);
	return r;
}

/*
 * Do the bytes at RIP hold ENCLU (0F 01 D7), fetched in enclave mode?  Each
 * page they lie on is checked as a fetch (the page tables, ELRANGE, the
 * EPCM) and the bytes are read through the EPC, with m->lock held.  *fetch
 * is the fetch's fault, or hw_ok.
 */
static bool enclu_at_locked(struct hw_thread *t, struct hw_result *fetch)
{
	static const uint8_t enclu[3] = {0x0F, 0x01, 0xD7};
	uint64_t rip = t->regs.rip, pa = 0;
	*fetch = hw_ok();
	for (unsigned i = 0; i < 3; i++) {
		if (i == 0 || ((rip + i) & 0xFFF) == 0) {
			*fetch = access_check_locked(t, rip + i, HW_ACC_X, &pa);
			if (!hw_is_ok(*fetch))
				return false;
		} else {
			pa++;
		}
		if (*(const volatile uint8_t *)hw_pa_ptr(t->m, pa) != enclu[i])
			return false;
	}
	return true;
}

bool hw_enclu_at(struct hw_thread *t, struct hw_result *fetch)
{
	hw_mutex_lock(&t->m->lock);
	bool at = enclu_at_locked(t, fetch);
	hw_mutex_unlock(&t->m->lock);
	return at;
}

bool hw_enclu_fetched(struct hw_thread *t, struct hw_result *fetch, struct hw_result *r)
{
	const struct hw_obs *o = hw_obs_get();
	struct hw_regs in;
	uint64_t t0 = 0;
	if (__builtin_expect(o != NULL, 0)) {
		in = t->regs;
		t0 = o->now();
	}
	hw_mutex_lock(&t->m->lock);
	bool at = enclu_at_locked(t, fetch);
	if (at)
		*r = enclu_run_locked(t);
	hw_mutex_unlock(&t->m->lock);
	if (at && __builtin_expect(o != NULL, 0))
		o->enclu(t, &in, *r, t0);
	return at;
}

static struct hw_result enclu_run(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_run_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

/* The observed leaf: the registers it started with, its start and its outcome go to the observer. */
static struct hw_result enclu_observed(const struct hw_obs *o, struct hw_thread *t)
{
	struct hw_regs in = t->regs;
	uint64_t t0 = o->now();
	struct hw_result r = enclu_run(t);
	o->enclu(t, &in, r, t0);
	return r;
}

struct hw_result hw_enclu(struct hw_thread *t)
{
	const struct hw_obs *o = hw_obs_get();
	if (__builtin_expect(o != NULL, 0))
		return enclu_observed(o, t);
	return enclu_run(t);
}

/* ---- observation ---- */

const struct hw_obs *hw_obs;

void hw_obs_set(const struct hw_obs *o)
{
	__atomic_store_n(&hw_obs, o, __ATOMIC_RELEASE);
}

void hw_obs_encls_report(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t leaf, uint64_t rbx, uint64_t rcx,
			 uint64_t rdx, struct hw_result r, uint64_t t0)
{
	/* Removed since the leaf began (a forked child): nobody to tell. */
	const struct hw_obs *o = hw_obs_get();
	if (o)
		o->encls(m, mmu, leaf, rbx, rcx, rdx, r, t0);
}

static const char *const encls_names[] = {
    [ENCLS_ECREATE] = "ECREATE", [ENCLS_EADD] = "EADD",	    [ENCLS_EINIT] = "EINIT",	 [ENCLS_EREMOVE] = "EREMOVE",
    [ENCLS_EDBGRD] = "EDBGRD",	 [ENCLS_EDBGWR] = "EDBGWR", [ENCLS_EEXTEND] = "EEXTEND", [ENCLS_ELDB] = "ELDB",
    [ENCLS_ELDU] = "ELDU",	 [ENCLS_EBLOCK] = "EBLOCK", [ENCLS_EPA] = "EPA",	 [ENCLS_EWB] = "EWB",
    [ENCLS_ETRACK] = "ETRACK",	 [ENCLS_EAUG] = "EAUG",	    [ENCLS_EMODPR] = "EMODPR",	 [ENCLS_EMODT] = "EMODT",
};

static const char *const enclu_names[] = {
    [ENCLU_EREPORT] = "EREPORT",   [ENCLU_EGETKEY] = "EGETKEY",
    [ENCLU_EENTER] = "EENTER",	   [ENCLU_ERESUME] = "ERESUME",
    [ENCLU_EEXIT] = "EEXIT",	   [ENCLU_EACCEPT] = "EACCEPT",
    [ENCLU_EMODPE] = "EMODPE",	   [ENCLU_EACCEPTCOPY] = "EACCEPTCOPY",
    [ENCLU_EDECCSSA] = "EDECCSSA",
};

const char *hw_encls_name(uint64_t leaf)
{
	return leaf < sizeof(encls_names) / sizeof(encls_names[0]) ? encls_names[leaf] : NULL;
}

const char *hw_enclu_name(uint64_t leaf)
{
	return leaf < sizeof(enclu_names) / sizeof(enclu_names[0]) ? enclu_names[leaf] : NULL;
}

int hw_thread_init(struct hw_thread *t, struct hw_machine *m, const struct hw_mmu *mmu)
{
	memset(t, 0, sizeof(*t));
	t->m = m;
	t->mmu = mmu;
	/* Room for the largest image any XFRM this machine allows can need. */
	t->xsave_size = hw_xsave_size_in(&m->cfg, m->cfg.xcr0 | m->cfg.xfrm_allowed);
	size_t alloc = (t->xsave_size + 63) & ~(size_t)63;
	t->xsave = aligned_alloc(64, alloc);
	if (!t->xsave)
		return -1;
	memset(t->xsave, 0, alloc);
	/* FXSAVE defaults: FCW 0x37F, MXCSR 0x1F80. */
	t->xsave[0] = 0x7F;
	t->xsave[1] = 0x03;
	t->xsave[24] = 0x80;
	t->xsave[25] = 0x1F;
	t->regs.rflags = 0x2;
	return 0;
}

void hw_thread_fini(struct hw_thread *t)
{
	free(t->xsave);
	t->xsave = NULL;
}
