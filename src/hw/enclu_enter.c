/* SPDX-License-Identifier: MIT */
/*
 * Entering and leaving an enclave: EENTER, ERESUME, EEXIT and the
 * asynchronous exit (SDM 38.4-38.5, spec/leaves.md §5, structures.md §4-5).
 * Decisions on the points the SDM leaves open are in docs/hw-enter.md.
 *
 * The modelled logical processor always runs in 64-bit mode with
 * CR4.OSFXSR and CR4.OSXSAVE set, so the 32-bit segment checks never apply
 * and a 32-bit enclave (MODE64BIT=0) fails EENTER's mode check.
 *
 * The TCS (RBX) and the SSA frame are linear addresses walked through the
 * thread's page tables as a user read and write (hardware reads and updates
 * both); EPCM-caused faults carry P|W|U|SGX.  AEX writes the SSA frame
 * through the physical pages resolved at entry (t->ssa_pa), so the OS may
 * zap the frame's PTEs before it forces the thread out (docs/hw-enter.md).
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Implicit accesses of EENTER/ERESUME to the TCS and the SSA frame. */
#define ENTRY_ACC (HW_ACC_R | HW_ACC_W | HW_ACC_USER)

#define RFLAGS_CF (1ULL << 0)
#define RFLAGS_PF (1ULL << 2)
#define RFLAGS_AF (1ULL << 4)
#define RFLAGS_ZF (1ULL << 6)
#define RFLAGS_SF (1ULL << 7)
#define RFLAGS_TF (1ULL << 8)
#define RFLAGS_DF (1ULL << 10)
#define RFLAGS_OF (1ULL << 11)
#define RFLAGS_NT (1ULL << 14)
#define RFLAGS_RF (1ULL << 16)
#define RFLAGS_AC (1ULL << 18)
#define RFLAGS_ID (1ULL << 21)
/* Flags AEX clears in the synthetic state. */
#define RFLAGS_AEX_CLEAR (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF | RFLAGS_RF)
/* Flags ERESUME takes from the frame: those POPF may change at CPL 3. */
#define RFLAGS_RESUMED                                                                                                 \
	(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_TF | RFLAGS_DF | RFLAGS_OF | RFLAGS_NT |   \
	 RFLAGS_AC | RFLAGS_ID)

/* Standard-format XSAVE image: legacy region and header. */
#define XSAVE_FCW		  0
#define XSAVE_MXCSR		  24
#define XSAVE_MXCSR_MASK	  28
#define XSAVE_LEGACY_SIZE	  512
#define XSAVE_XSTATE_BV		  512
#define XSAVE_HEADER_CHECKED	  520 /* XCOMP_BV and the first reserved qword: must be 0 for XRSTOR */
#define XSAVE_HEADER_CHECKED_SIZE 16
#define XSAVE_EXTENDED		  576
#define FCW_INIT		  0x37F
#define FCW_INIT_MF		  0x37E
#define MXCSR_INIT		  0x1F80U
#define MXCSR_RESERVED		  0xFFFF0000U

static uint64_t frame_size(const struct sgx_secs *secs)
{
	return (uint64_t)secs->ssa_frame_size * SGX_PAGE_SIZE;
}

/* Linear address of SSA frame i of a TCS. */
static uint64_t frame_lin(const struct sgx_secs *secs, const struct sgx_tcs *tcs, uint64_t i)
{
	return secs->base + tcs->ossa + i * frame_size(secs);
}

/*
 * Physical page of SSA linear page lin of enclave secs_pa, for a copy the
 * entry checks already allowed.  The walk needs no permission: hardware
 * reaches the frame by the physical address it resolved at entry.
 */
static uint8_t *ssa_page(struct hw_thread *t, uint64_t secs_pa, uint64_t lin)
{
	uint64_t idx = (HW_PAGE_DOWN(lin) - t->ssa_frame_lin) >> 12;
	if ((t->in_enclave || t->ssa_resolved) && lin >= t->ssa_frame_lin && idx < t->ssa_pages)
		return hw_pa_ptr(t->m, t->ssa_pa[idx]);
	uint64_t pa;
	struct hw_result f;
	bool ok = hw_thread_translate(t, lin, HW_ACC_USER, &pa, &f);
	struct epcm_entry *e = ok && hw_is_epc(t->m, pa) ? epcm_peek(t->m, pa) : NULL;
	if (!e || !e->valid || e->enclave_secs != secs_pa || e->enclave_address != HW_PAGE_DOWN(lin)) {
		fprintf(stderr, "sgxemu: the SSA page at %#llx of a thread inside an enclave is no longer mapped\n",
			(unsigned long long)HW_PAGE_DOWN(lin));
		abort();
	}
	return hw_pa_ptr(t->m, HW_PAGE_DOWN(pa));
}

/* Copy between buf and the SSA bytes at linear lin (pages of the current frame). */
static void ssa_copy(struct hw_thread *t, uint64_t secs_pa, uint64_t lin, void *buf, size_t len, bool to_ssa)
{
	uint8_t *b = buf;
	while (len) {
		size_t n = SGX_PAGE_SIZE - (lin & 0xFFF);
		if (n > len)
			n = len;
		uint8_t *p = ssa_page(t, secs_pa, lin) + (lin & 0xFFF);
		if (to_ssa)
			hw_copy(p, b, n);
		else
			hw_copy(b, p, n);
		b += n;
		lin += n;
		len -= n;
	}
}

/*
 * Copy the XSAVE image of the XFRM components between the thread and the
 * SSA frame at lin: the legacy region and header, then each extended
 * component at its offset in the machine's layout.  Components outside
 * XFRM are not touched wherever they lie, as XSAVE/XRSTOR with RFBM = XFRM
 * leave them.
 */
static void xsave_ssa_copy(struct hw_thread *t, uint64_t secs_pa, uint64_t lin, uint64_t xfrm, bool to_ssa)
{
	const struct hw_config *c = &t->m->cfg;
	ssa_copy(t, secs_pa, lin, t->xsave, XSAVE_EXTENDED, to_ssa);
	for (unsigned i = 2; i < HW_XFEATURES; i++)
		if (xfrm & (1ULL << i))
			ssa_copy(t, secs_pa, lin + c->xstate_offset[i], t->xsave + c->xstate_offset[i],
				 c->xstate_size[i], to_ssa);
}

/* What the entry checks found, for the commit. */
struct entry {
	uint64_t tcs_pa, secs_pa;
	struct sgx_tcs *tcs;
	struct sgx_secs *secs;
	uint64_t frame;			     /* linear address of SSA[CSSA] (EENTER) or SSA[CSSA-1] (ERESUME) */
	uint64_t frame_pa[HW_SSA_PAGES_MAX]; /* its first physical pages */
	struct sgx_gprsgx gpr;		     /* ERESUME: the frame's GPRSGX */
	/*
	 * ERESUME with AEX-Notify (TCS.FLAGS.AEXNOTIFY and bit 0 of the
	 * frame's GPRSGX.AEXNOTIFY): an entry at OENTRY as EENTER's, the frame
	 * kept; next is SSA[CSSA], the frame the next AEX uses, next_pa its pages.
	 */
	bool notify;
	uint64_t next, next_pa[HW_SSA_PAGES_MAX];
};

/* Every page of the SSA frame at lin: mapped, VALID PT_REG R+W of secs_pa at its address, usable. */
static struct hw_result frame_checks(struct hw_thread *t, uint64_t secs_pa, uint64_t lin, uint64_t size,
				     uint64_t frame_pa[HW_SSA_PAGES_MAX])
{
	struct hw_result f;
	for (uint64_t page = lin; page - lin < size; page += SGX_PAGE_SIZE) {
		uint64_t pa;
		if (!hw_thread_translate(t, page, ENTRY_ACC, &pa, &f))
			return f;
		if (!hw_is_epc(t->m, pa))
			return hw_pf_epcm(page, ENTRY_ACC);
		struct epcm_entry *e = epcm_peek(t->m, pa);
		if (!epcm_is(e, SGX_PT_REG, secs_pa, page) || !e->r || !e->w || e->blocked || e->pending || e->modified)
			return hw_pf_epcm(page, ENTRY_ACC);
		if ((page - lin) >> 12 < HW_SSA_PAGES_MAX)
			frame_pa[(page - lin) >> 12] = HW_PAGE_DOWN(pa);
	}
	return hw_ok();
}

/* ERESUME: can XRSTOR load the frame's XSAVE image with RFBM = XFRM? */
static bool xsave_restorable(struct hw_thread *t, const struct entry *en)
{
	uint8_t hdr[XSAVE_HEADER_CHECKED_SIZE];
	uint64_t bv;
	uint32_t mxcsr;
	ssa_copy(t, en->secs_pa, en->frame + XSAVE_XSTATE_BV, &bv, sizeof(bv), false);
	ssa_copy(t, en->secs_pa, en->frame + XSAVE_HEADER_CHECKED, hdr, sizeof(hdr), false);
	ssa_copy(t, en->secs_pa, en->frame + XSAVE_MXCSR, &mxcsr, sizeof(mxcsr), false);
	if (bv & ~en->secs->xfrm)
		return false;
	for (size_t i = 0; i < sizeof(hdr); i++)
		if (hdr[i])
			return false;
	/* SSE is always in XFRM, so XRSTOR loads MXCSR and faults on its reserved bits. */
	return !(mxcsr & MXCSR_RESERVED);
}

/* The checks EENTER and ERESUME share, in the SDM's order (spec/leaves.md §5). */
static struct hw_result entry_checks(struct hw_thread *t, bool resume, struct entry *en)
{
	struct hw_machine *m = t->m;
	struct hw_result f;
	uint64_t rbx = t->regs.rbx;

	if (t->in_enclave)
		return hw_gp();
	if (!HW_ALIGNED(rbx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_thread_translate(t, rbx, ENTRY_ACC, &en->tcs_pa, &f))
		return f;
	if (!hw_is_epc(m, en->tcs_pa))
		return hw_pf_epcm(rbx, ENTRY_ACC);
	if (!hw_canonical(t->regs.rcx))
		return hw_gp();
	/* TCS busy (another leaf holding it) cannot happen: leaves are serialised. */
	struct epcm_entry *e = epcm_peek(m, en->tcs_pa);
	if (!e || !e->valid || e->blocked || e->enclave_address != rbx || e->pt != SGX_PT_TCS || e->pending ||
	    e->modified)
		return hw_pf_epcm(rbx, ENTRY_ACC);

	en->secs_pa = e->enclave_secs;
	en->tcs = hw_pa_ptr(m, en->tcs_pa);
	en->secs = secs_of(m, en->secs_pa);
	const struct sgx_tcs *tcs = en->tcs;
	const struct sgx_secs *secs = en->secs;
	if (!HW_ALIGNED(tcs->ossa, SGX_PAGE_SIZE) || !HW_ALIGNED(tcs->ofsbase, SGX_PAGE_SIZE) ||
	    !HW_ALIGNED(tcs->ogsbase, SGX_PAGE_SIZE))
		return hw_gp();
	if (!hw_canonical(secs->base + tcs->ofsbase) || !hw_canonical(secs->base + tcs->ogsbase))
		return hw_gp();
	uint64_t flags_ok = SGX_TCS_DBGOPTIN;
	if (m->cfg.attr_allowed & SGX_ATTR_AEXNOTIFY)
		flags_ok |= SGX_TCS_AEXNOTIFY;
	if (tcs->flags & ~flags_ok)
		return hw_gp();
	if (!(secs->attributes & SGX_ATTR_INIT))
		return hw_gp();
	if (!(secs->attributes & SGX_ATTR_MODE64BIT))
		return hw_gp();
	if (secs->xfrm & ~m->cfg.xcr0)
		return hw_gp();
	/* The TCS's AEX-Notify setting must be the enclave's, unless a debugger opted in (before the SSA checks). */
	if (!(secs->attributes & SGX_ATTR_AEXNOTIFY) != !(tcs->flags & SGX_TCS_AEXNOTIFY) &&
	    !(tcs->flags & SGX_TCS_DBGOPTIN))
		return hw_gp();

	uint64_t index;
	if (!resume) {
		if (tcs->cssa >= tcs->nssa)
			return hw_gp();
		index = tcs->cssa;
	} else {
		if (tcs->cssa == 0)
			return hw_gp();
		index = tcs->cssa - 1;
	}
	en->frame = frame_lin(secs, tcs, index);
	f = frame_checks(t, en->secs_pa, en->frame, frame_size(secs), en->frame_pa);
	if (!hw_is_ok(f))
		return f;
	/*
	 * From here on the frame is reached by the physical pages just
	 * resolved, as hardware does: the OS may drop a page-table entry
	 * meanwhile (the reclaimer zaps before it can block the page), and a
	 * second walk would not find it.
	 */
	t->ssa_frame_lin = en->frame;
	t->ssa_pages = secs->ssa_frame_size < HW_SSA_PAGES_MAX ? secs->ssa_frame_size : HW_SSA_PAGES_MAX;
	hw_copy(t->ssa_pa, en->frame_pa, sizeof(t->ssa_pa));
	t->ssa_resolved = true;

	en->notify = false;
	if (resume) {
		ssa_copy(t, en->secs_pa, en->frame + frame_size(secs) - SGX_GPRSGX_SIZE, &en->gpr, sizeof(en->gpr),
			 false);
		en->notify = (tcs->flags & SGX_TCS_AEXNOTIFY) && (en->gpr.aexnotify & 1);
	}
	if (en->notify) {
		/* The notification enters with the next frame current: there must be one, and usable. */
		if (tcs->cssa >= tcs->nssa)
			return hw_gp();
		en->next = frame_lin(secs, tcs, tcs->cssa);
		f = frame_checks(t, en->secs_pa, en->next, frame_size(secs), en->next_pa);
		if (!hw_is_ok(f))
			return f;
		t->ssa_frame_lin = en->next;
		hw_copy(t->ssa_pa, en->next_pa, sizeof(t->ssa_pa));
	}
	if (!resume || en->notify) {
		if (!hw_canonical(secs->base + tcs->oentry))
			return hw_gp();
	} else {
		if (!hw_canonical(en->gpr.rip) || !hw_canonical(en->gpr.fsbase) || !hw_canonical(en->gpr.gsbase))
			return hw_gp();
		if (!xsave_restorable(t, en))
			return hw_gp();
	}
	if (tcs->state)
		return hw_gp();
	return hw_ok();
}

/* Entry effects common to both leaves, after the leaf loaded its registers. */
static void enter_mode(struct hw_thread *t, const struct entry *en, uint64_t aep, uint64_t tcs_lin)
{
	en->tcs->state = 1;
	en->tcs->aep = aep;
	/* Opt-out entry (not a debug enclave with DBGOPTIN): no single-stepping inside; TF returns at exit. */
	t->out_tf = false;
	if (!((en->secs->attributes & SGX_ATTR_DEBUG) && (en->tcs->flags & SGX_TCS_DBGOPTIN))) {
		t->out_tf = (t->regs.rflags & RFLAGS_TF) != 0;
		t->regs.rflags &= ~RFLAGS_TF;
	}
	t->in_enclave = true;
	t->tcs_lin = tcs_lin;
	t->tcs_pa = en->tcs_pa;
	t->secs_pa = en->secs_pa;
	t->aep = aep;
	struct secs_priv *p = secs_priv_of(t->m, en->secs_pa);
	t->eid = p->eid;
	track_thread_enter(p, t);
}

/*
 * EENTER's entry, and ERESUME's with AEX-Notify: URSP/URBP into the frame
 * at frame (the one the next AEX uses), RCX = the address after ENCLU, RAX
 * = CSSA, RIP = OENTRY, FS/GS from the TCS; the other registers and the
 * extended state pass through.
 */
static void enter_at_oentry(struct hw_thread *t, const struct entry *en, uint64_t frame)
{
	struct hw_regs *regs = &t->regs;
	uint64_t aep = regs->rcx, tcs_lin = regs->rbx;
	uint64_t ursp[2] = {regs->rsp, regs->rbp};
	ssa_copy(t, en->secs_pa, frame + frame_size(en->secs) - SGX_GPRSGX_SIZE + offsetof(struct sgx_gprsgx, ursp),
		 ursp, sizeof(ursp), true);
	t->out_fsbase = regs->fsbase;
	t->out_gsbase = regs->gsbase;
	regs->rcx = regs->rip + 3; /* ENCLU is 0F 01 D7 */
	regs->rax = en->tcs->cssa;
	regs->rip = en->secs->base + en->tcs->oentry;
	regs->fsbase = en->secs->base + en->tcs->ofsbase;
	regs->gsbase = en->secs->base + en->tcs->ogsbase;
	enter_mode(t, en, aep, tcs_lin);
}

static struct hw_result eenter_checked(struct hw_thread *t)
{
	struct entry en;
	struct hw_result r = entry_checks(t, false, &en);
	if (!hw_is_ok(r))
		return r;

	enter_at_oentry(t, &en, en.frame);
	return hw_ok();
}

/* ssa_page reaches the pages the checks resolved while the leaf runs; after it, in enclave mode only. */
struct hw_result enclu_eenter_locked(struct hw_thread *t)
{
	struct hw_result r = eenter_checked(t);
	t->ssa_resolved = false;
	return r;
}

/*
 * Built for general-purpose registers only (meson.build compiles this file
 * with -mgeneral-regs-only, so the compiler defines no __SSE__): then
 * nothing here touches a vector register, and the leaf's code copies with
 * hw_copy, never with memcpy.  A build without the flag declines.
 */
#ifdef __SSE__
const bool hw_eenter_tlb_built = false;
#else
const bool hw_eenter_tlb_built = true;
#endif

/*
 * The frame's pages all come from the TLB, so a frame that passes has at
 * most HW_TLB_ENTRIES pages, all resolved at entry (t->ssa_pa): ssa_page
 * never walks for one during the leaf.
 */
_Static_assert(HW_TLB_ENTRIES <= HW_SSA_PAGES_MAX, "a frame from the TLB fits the resolved SSA pages");

bool hw_enclu_eenter_tlb(struct hw_thread *t, uint64_t eid)
{
	if (!hw_eenter_tlb_built || t->regs.rax != ENCLU_EENTER || t->in_enclave || hw_obs_get())
		return false;
	hw_mutex_lock(&t->m->lock);
	t->tlb_only = true;
	struct entry en;
	bool ok = hw_is_ok(entry_checks(t, false, &en)) && secs_priv_of(t->m, en.secs_pa)->eid == eid;
	if (ok)
		enter_at_oentry(t, &en, en.frame);
	t->tlb_only = false;
	t->ssa_resolved = false;
	hw_mutex_unlock(&t->m->lock);
	return ok;
}

struct hw_result enclu_eenter(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_eenter_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

static struct hw_result eresume_checked(struct hw_thread *t)
{
	struct entry en;
	struct hw_result r = entry_checks(t, true, &en);
	if (!hw_is_ok(r))
		return r;

	if (en.notify) {
		/* AEX-Notify: the enclave is told of the exit; it pops the frame itself (EDECCSSA). */
		enter_at_oentry(t, &en, en.next);
		return hw_ok();
	}
	struct hw_regs *regs = &t->regs;
	const struct sgx_gprsgx *g = &en.gpr;
	uint64_t aep = regs->rcx, tcs_lin = regs->rbx;
	uint64_t outside_bv, bv;
	memcpy(&outside_bv, t->xsave + XSAVE_XSTATE_BV, sizeof(outside_bv));
	xsave_ssa_copy(t, en.secs_pa, en.frame, en.secs->xfrm, false);
	/* Components outside XFRM keep the state they had before the entry. */
	memcpy(&bv, t->xsave + XSAVE_XSTATE_BV, sizeof(bv));
	bv |= outside_bv & ~en.secs->xfrm;
	memcpy(t->xsave + XSAVE_XSTATE_BV, &bv, sizeof(bv));
	en.tcs->cssa--;
	t->out_fsbase = regs->fsbase;
	t->out_gsbase = regs->gsbase;
	uint64_t rflags = (regs->rflags & ~RFLAGS_RESUMED) | (g->rflags & RFLAGS_RESUMED);
	*regs = (struct hw_regs){.rax = g->rax,
				 .rcx = g->rcx,
				 .rdx = g->rdx,
				 .rbx = g->rbx,
				 .rsp = g->rsp,
				 .rbp = g->rbp,
				 .rsi = g->rsi,
				 .rdi = g->rdi,
				 .r8 = g->r8,
				 .r9 = g->r9,
				 .r10 = g->r10,
				 .r11 = g->r11,
				 .r12 = g->r12,
				 .r13 = g->r13,
				 .r14 = g->r14,
				 .r15 = g->r15,
				 .rflags = rflags,
				 .rip = g->rip,
				 .fsbase = g->fsbase,
				 .gsbase = g->gsbase};
	enter_mode(t, &en, aep, tcs_lin);
	return hw_ok();
}

/* ssa_page reaches the pages the checks resolved while the leaf runs; after it, in enclave mode only. */
struct hw_result enclu_eresume_locked(struct hw_thread *t)
{
	struct hw_result r = eresume_checked(t);
	t->ssa_resolved = false;
	return r;
}

struct hw_result enclu_eresume(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_eresume_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

/* Leave enclave mode (EEXIT, AEX): the TCS is free again, host FS/GS come back. */
static void leave_mode(struct hw_thread *t)
{
	struct sgx_tcs *tcs = hw_pa_ptr(t->m, t->tcs_pa);
	tcs->state = 0;
	t->regs.fsbase = t->out_fsbase;
	t->regs.gsbase = t->out_gsbase;
	if (t->out_tf)
		t->regs.rflags |= RFLAGS_TF;
	t->out_tf = false;
	track_thread_exit(secs_priv_of(t->m, t->secs_pa), t);
	t->in_enclave = false;
	t->ssa_pages = 0;
}

struct hw_result enclu_eexit_locked(struct hw_thread *t)
{
	if (!t->in_enclave)
		return hw_gp();
	if (!hw_canonical(t->regs.rbx))
		return hw_gp();
	/* RSP, RBP and the other GPRs stay as the enclave left them. */
	t->regs.rip = t->regs.rbx;
	t->regs.rcx = t->aep;
	leave_mode(t);
	return hw_ok();
}

struct hw_result enclu_eexit(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_eexit_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

/*
 * EDECCSSA (AEX-Notify): the frame below the current one, SSA[CSSA-1],
 * becomes current again.  Its pages are checked as an entry checks them
 * (#PF), and become the pages the next AEX writes.  No flags, RAX kept.
 */
struct hw_result enclu_edeccssa_locked(struct hw_thread *t)
{
	struct sgx_tcs *tcs = hw_pa_ptr(t->m, t->tcs_pa);
	const struct sgx_secs *secs = secs_of(t->m, t->secs_pa);
	if (tcs->cssa == 0)
		return hw_gp();
	uint64_t frame = frame_lin(secs, tcs, tcs->cssa - 1), pa[HW_SSA_PAGES_MAX];
	struct hw_result f = frame_checks(t, t->secs_pa, frame, frame_size(secs), pa);
	if (!hw_is_ok(f))
		return f;
	tcs->cssa--;
	t->ssa_frame_lin = frame;
	memcpy(t->ssa_pa, pa, sizeof(t->ssa_pa));
	return hw_ok();
}

struct hw_result enclu_edeccssa(struct hw_thread *t)
{
	hw_mutex_lock(&t->m->lock);
	struct hw_result r = enclu_edeccssa_locked(t);
	hw_mutex_unlock(&t->m->lock);
	return r;
}

/* EXITINFO for an event: VALID only for exceptions reported to the enclave (structures.md §5). */
static uint32_t exitinfo(const struct sgx_secs *secs, const struct hw_event *ev)
{
	if (ev->interrupt)
		return 0;
	switch (ev->vector) {
	case X86_DE:
	case X86_DB:
	case X86_BP:
	case X86_BR:
	case X86_UD:
	case X86_MF:
	case X86_AC:
	case X86_XM:
		break;
	case X86_GP:
	case X86_PF:
		if (!(secs->miscselect & SGX_MISC_EXINFO))
			return 0;
		break;
	default:
		return 0;
	}
	uint32_t type = ev->software ? SGX_EXITINFO_TYPE_SW : SGX_EXITINFO_TYPE_HW;
	return SGX_EXITINFO_VALID | (type << SGX_EXITINFO_TYPE_SHIFT) | ev->vector;
}

/* Put the thread's x87/SSE/extended state of the XFRM components in their INIT state. */
static void xsave_init(struct hw_thread *t, uint64_t xfrm, bool mf)
{
	const struct hw_config *c = &t->m->cfg;
	uint8_t *x = t->xsave;
	uint32_t mxcsr_mask;
	uint64_t bv;
	memcpy(&mxcsr_mask, x + XSAVE_MXCSR_MASK, sizeof(mxcsr_mask));
	memset(x, 0, XSAVE_LEGACY_SIZE);
	uint16_t fcw = mf ? FCW_INIT_MF : FCW_INIT;
	uint32_t mxcsr = MXCSR_INIT;
	memcpy(x + XSAVE_FCW, &fcw, sizeof(fcw));
	memcpy(x + XSAVE_MXCSR, &mxcsr, sizeof(mxcsr));
	memcpy(x + XSAVE_MXCSR_MASK, &mxcsr_mask, sizeof(mxcsr_mask));
	memcpy(&bv, x + XSAVE_XSTATE_BV, sizeof(bv));
	bv &= ~xfrm;
	memcpy(x + XSAVE_XSTATE_BV, &bv, sizeof(bv));
	for (unsigned i = 2; i < HW_XFEATURES; i++)
		if (xfrm & (1ULL << i))
			memset(x + c->xstate_offset[i], 0, c->xstate_size[i]);
}

static struct hw_event aex_locked(struct hw_thread *t, const struct hw_event *ev)
{
	struct hw_event os = *ev;
	if (ev->vector == X86_PF)
		os.addr = HW_PAGE_DOWN(ev->addr);

	struct sgx_tcs *tcs = hw_pa_ptr(t->m, t->tcs_pa);
	const struct sgx_secs *secs = secs_of(t->m, t->secs_pa);
	uint64_t frame = frame_lin(secs, tcs, tcs->cssa), fsize = frame_size(secs);
	uint64_t gpr_lin = frame + fsize - SGX_GPRSGX_SIZE;

	/* 1. Save: the XSAVE image as XSAVE with RFBM = XFRM writes it, GPRSGX, EXINFO. */
	uint64_t bv;
	xsave_ssa_copy(t, t->secs_pa, frame, secs->xfrm, true);
	memcpy(&bv, t->xsave + XSAVE_XSTATE_BV, sizeof(bv));
	bv &= secs->xfrm;
	ssa_copy(t, t->secs_pa, frame + XSAVE_XSTATE_BV, &bv, sizeof(bv), true);

	struct sgx_gprsgx g;
	ssa_copy(t, t->secs_pa, gpr_lin, &g, sizeof(g), false); /* keeps URSP/URBP from the entry */
	const struct hw_regs *r = &t->regs;
	g.rax = r->rax, g.rcx = r->rcx, g.rdx = r->rdx, g.rbx = r->rbx;
	g.rsp = r->rsp, g.rbp = r->rbp, g.rsi = r->rsi, g.rdi = r->rdi;
	g.r8 = r->r8, g.r9 = r->r9, g.r10 = r->r10, g.r11 = r->r11;
	g.r12 = r->r12, g.r13 = r->r13, g.r14 = r->r14, g.r15 = r->r15;
	g.rflags = r->rflags;
	g.rip = r->rip;
	g.fsbase = r->fsbase;
	g.gsbase = r->gsbase;
	g.exitinfo = exitinfo(secs, ev);
	memset(g.reserved, 0, sizeof(g.reserved));
	/* g.aexnotify stays: the enclave's own byte, its opt-in for this frame (read back above). */
	ssa_copy(t, t->secs_pa, gpr_lin, &g, sizeof(g), true);

	if ((secs->miscselect & SGX_MISC_EXINFO) && !ev->interrupt && (ev->vector == X86_PF || ev->vector == X86_GP)) {
		struct sgx_exinfo x = {.maddr = ev->vector == X86_PF ? ev->addr : 0, .errcd = ev->errcode};
		ssa_copy(t, t->secs_pa, gpr_lin - SGX_EXINFO_SIZE, &x, sizeof(x), true);
	}

	/* 2. Synthetic state: ERESUME ready in RAX/RBX/RCX, the untrusted stack back. */
	struct hw_regs *w = &t->regs;
	uint64_t rflags = w->rflags & ~RFLAGS_AEX_CLEAR;
	*w = (struct hw_regs){.rax = ENCLU_ERESUME,
			      .rbx = t->tcs_lin,
			      .rcx = t->aep,
			      .rsp = g.ursp,
			      .rbp = g.urbp,
			      .rflags = rflags,
			      .rip = t->aep};
	xsave_init(t, secs->xfrm, !ev->interrupt && ev->vector == X86_MF);

	/* 3. Next frame; the TCS is free and the thread outside. */
	tcs->cssa++;
	leave_mode(t);
	return os;
}

struct hw_event hw_aex(struct hw_thread *t, const struct hw_event *ev)
{
	const struct hw_obs *o = hw_obs_get();
	if (__builtin_expect(o != NULL, 0) && t->in_enclave)
		o->aex(t, ev);
	hw_mutex_lock(&t->m->lock);
	/* Outside enclave mode an event is delivered as it is: there is nothing to save. */
	struct hw_event os = t->in_enclave ? aex_locked(t, ev) : *ev;
	hw_mutex_unlock(&t->m->lock);
	return os;
}
