/* SPDX-License-Identifier: MIT */
/*
 * SGX2: EAUG, EMODPR, EMODT, EACCEPT, EACCEPTCOPY, EMODPE.  Every check of
 * spec/leaves.md in order (failure and success, nothing changed on failure),
 * then the EDMM flows of spec/edmm-flows.md at the instruction level with
 * their "wrong step" rows that concern hardware.
 */
#include <string.h>

#include "harness.h"
#include "internal.h"

/* The test enclave: 64 KiB, pages at these ELRANGE offsets. */
#define ENCL_SIZE 0x10000ULL
#define OFF_TCS	  0x0000ULL /* EADD'd TCS: NSSA 1, OSSA = OFF_SSA */
#define OFF_SSA	  0x1000ULL /* EADD'd RW: SSA frame of that TCS */
#define OFF_SI	  0x2000ULL /* EADD'd RW: SECINFO slots written by enclave code */
#define OFF_RW	  0x3000ULL /* EADD'd RW data, filled with a pattern */
#define OFF_R	  0x4000ULL /* EADD'd read-only */
#define OFF_RX	  0x5000ULL /* EADD'd RX code */
#define OFF_NONE  0x6000ULL /* EADD'd without permissions */
#define OFF_TCS2  0x7000ULL /* EADD'd TCS nobody enters */
#define OFF_DYN	  0x8000ULL /* 0x8000..0xF000: never added, for EAUG */
#define OFF_DYN2  0x9000ULL
#define OFF_DYN3  0xA000ULL
#define OFF_DYN4  0xB000ULL
#define OFF_LAST  0xF000ULL

#define L(off) (t.base + (off))
#define P(off) th_pa(&t, (off))

#define ERR_SGX_R  (PF_P | PF_SGX)		 /* ENCLS: EPC operand only read */
#define ERR_SGX_W  (PF_P | PF_W | PF_SGX)	 /* ENCLS: target page */
#define ERR_USGX_R (PF_P | PF_U | PF_SGX)	 /* ENCLU: operand only read */
#define ERR_USGX_W (PF_P | PF_U | PF_W | PF_SGX) /* ENCLU: target page */

static struct th t;
static struct hw_thread thr; /* a logical processor inside t's enclave */
static uint8_t host_page[4096] __attribute__((aligned(4096)));
static uint8_t pattern[4096];

/* ---- fixture ---- */

static void tcs_image(struct sgx_tcs *tcs, uint64_t ossa)
{
	memset(tcs, 0, sizeof(*tcs));
	tcs->ossa = ossa;
	tcs->nssa = 1;
	tcs->oentry = OFF_RX;
	tcs->ofsbase = OFF_RW;
	tcs->ogsbase = OFF_RW;
	tcs->fslimit = 0xFFF;
	tcs->gslimit = 0xFFF;
}

/*
 * Enter/leave enclave mode through OFF_TCS with EENTER/EEXIT.  The modelled
 * CPU runs in 64-bit mode only, so EENTER refuses a 32-bit enclave; there the
 * thread is put inside the way EENTER does it for tracking.
 */
static void enter(struct hw_thread *h)
{
	if (t.secs.attributes & SGX_ATTR_MODE64BIT) {
		h->regs.rax = ENCLU_EENTER;
		h->regs.rbx = L(OFF_TCS);
		h->regs.rcx = 0x401000;
		th_assert_ok(hw_enclu(h));
		cr_assert(h->in_enclave);
		return;
	}
	hw_mutex_lock(&t.m->lock);
	h->in_enclave = true;
	h->secs_pa = t.secs_pa;
	h->tcs_pa = P(OFF_TCS);
	h->tcs_lin = L(OFF_TCS);
	track_thread_enter(secs_priv_of(t.m, t.secs_pa), h);
	hw_mutex_unlock(&t.m->lock);
}

static void leave(struct hw_thread *h)
{
	if (t.secs.attributes & SGX_ATTR_MODE64BIT) {
		h->regs.rax = ENCLU_EEXIT;
		h->regs.rbx = 0x402000;
		th_assert_ok(hw_enclu(h));
		cr_assert(!h->in_enclave);
		return;
	}
	hw_mutex_lock(&t.m->lock);
	track_thread_exit(secs_priv_of(t.m, t.secs_pa), h);
	h->in_enclave = false;
	hw_mutex_unlock(&t.m->lock);
}

/* ETRACK, then the thread leaves and re-enters: tracking of older stamps completes. */
static void track(void)
{
	th_assert_ok(encls_etrack(t.m, t.secs_pa));
	leave(&thr);
	enter(&thr);
}

static void build(struct sgx_secs *secs, bool init)
{
	memset(&t, 0, sizeof(t));
	t.m = th_machine();
	/* No identity fallback: an address without a mapping has no PTE. */
	cr_assert_eq(pagetable_init(&t.pt, false), 0);
	t.base = secs->base;
	t.size = secs->size;
	t.secs = *secs;
	th_assert_ok(th_ecreate(&t));

	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	static struct sgx_tcs tcs;
	tcs_image(&tcs, OFF_SSA);
	th_assert_ok(th_eadd(&t, OFF_TCS, SGX_SECINFO_PT(SGX_PT_TCS), &tcs));
	th_assert_ok(th_eadd(&t, OFF_SSA, 0x203, NULL));
	th_assert_ok(th_eadd(&t, OFF_SI, 0x203, NULL));
	th_assert_ok(th_eadd(&t, OFF_RW, 0x203, pattern));
	th_assert_ok(th_eadd(&t, OFF_R, 0x201, pattern));
	th_assert_ok(th_eadd(&t, OFF_RX, 0x205, pattern));
	th_assert_ok(th_eadd(&t, OFF_NONE, 0x200, NULL));
	th_assert_ok(th_eadd(&t, OFF_TCS2, SGX_SECINFO_PT(SGX_PT_TCS), &tcs));
	th_map(&t, OFF_TCS, HW_ACC_R | HW_ACC_W);
	th_map(&t, OFF_SSA, HW_ACC_R | HW_ACC_W);
	th_map(&t, OFF_SI, HW_ACC_R | HW_ACC_W);
	th_map(&t, OFF_RW, HW_ACC_R | HW_ACC_W);
	th_map(&t, OFF_R, HW_ACC_R);
	th_map(&t, OFF_RX, HW_ACC_R | HW_ACC_X);
	th_map(&t, OFF_NONE, HW_ACC_R | HW_ACC_W);
	th_map(&t, OFF_TCS2, HW_ACC_R | HW_ACC_W);
	/* The dynamic region is mapped RW ahead of EAUG, like a MAP_SHARED mmap of the range. */
	for (uint64_t off = OFF_DYN; off <= OFF_LAST; off += 0x1000)
		th_map(&t, off, HW_ACC_R | HW_ACC_W);
	if (init)
		th_force_init(&t);
	cr_assert_eq(hw_thread_init(&thr, t.m, &t.pt.mmu), 0);
	if (init)
		enter(&thr);
}

static void fresh(void)
{
	struct sgx_secs s;
	th_secs_default(&s, 0x7f0000000000ULL, ENCL_SIZE);
	build(&s, true);
}

static void fresh_uninit(void)
{
	struct sgx_secs s;
	th_secs_default(&s, 0x7f0000000000ULL, ENCL_SIZE);
	build(&s, false);
}

static void fresh32(void)
{
	struct sgx_secs s;
	th_secs_default(&s, 0x10000000ULL, ENCL_SIZE);
	s.attributes &= ~SGX_ATTR_MODE64BIT;
	build(&s, true);
}

static void done(void)
{
	hw_thread_fini(&thr);
	th_teardown(&t);
}

/* ---- operands ---- */

static struct sgx_secinfo h_si;
static struct sgx_pageinfo h_pi;

static uint64_t host_secinfo(uint64_t flags)
{
	memset(&h_si, 0, sizeof(h_si));
	h_si.flags = flags;
	return (uint64_t)(uintptr_t)&h_si;
}

static uint64_t host_pageinfo(uint64_t off)
{
	h_pi = (struct sgx_pageinfo){.linaddr = L(off), .secs = t.secs_pa};
	return (uint64_t)(uintptr_t)&h_pi;
}

static struct hw_result eaug(uint64_t off)
{
	return encls_eaug(t.m, NULL, host_pageinfo(off), P(off));
}

static struct hw_result emodpr(uint64_t flags, uint64_t off)
{
	return encls_emodpr(t.m, NULL, host_secinfo(flags), P(off));
}

static struct hw_result emodt(uint64_t flags, uint64_t off)
{
	return encls_emodt(t.m, NULL, host_secinfo(flags), P(off));
}

/* Enclave-side SECINFO in slot `slot` of the SECINFO page; returns its linear address. */
static uint64_t secinfo_at(unsigned slot, uint64_t flags)
{
	struct sgx_secinfo *si = (struct sgx_secinfo *)(uintptr_t)(P(OFF_SI) + 64 * slot);
	memset(si, 0, sizeof(*si));
	si->flags = flags;
	return L(OFF_SI) + 64 * slot;
}

static struct hw_result enclu(struct hw_thread *h, uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	h->regs.rax = leaf;
	h->regs.rbx = rbx;
	h->regs.rcx = rcx;
	h->regs.rdx = rdx;
	return hw_enclu(h);
}

static struct hw_result eaccept_lin(uint64_t flags, uint64_t lin)
{
	return enclu(&thr, ENCLU_EACCEPT, secinfo_at(0, flags), lin, 0);
}

static struct hw_result eaccept(uint64_t flags, uint64_t off)
{
	return eaccept_lin(flags, L(off));
}

static struct hw_result eacceptcopy(uint64_t flags, uint64_t dst_off, uint64_t src_off)
{
	return enclu(&thr, ENCLU_EACCEPTCOPY, secinfo_at(0, flags), L(dst_off), L(src_off));
}

static struct hw_result emodpe(uint64_t flags, uint64_t off)
{
	return enclu(&thr, ENCLU_EMODPE, secinfo_at(0, flags), L(off), 0);
}

/* EAUG + EACCEPT(0x20B): an accepted RW dynamic page. */
static void augment(uint64_t off)
{
	th_assert_ok(eaug(off));
	th_assert_ok(eaccept(0x20B, off));
}

/* ---- observing state ---- */

static struct hw_epcm_view epcm(uint64_t pa)
{
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(t.m, pa, &v));
	return v;
}

static uint64_t stamp_of(uint64_t pa)
{
	hw_mutex_lock(&t.m->lock);
	struct epcm_entry *e = epcm_peek(t.m, pa);
	uint64_t s = e ? e->stamp : 0;
	hw_mutex_unlock(&t.m->lock);
	return s;
}

static struct hw_secs_view secs_view(void)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	return v;
}

static uint64_t children(void)
{
	return secs_view().child_count;
}

static uint64_t epoch(void)
{
	return secs_view().epoch;
}

#define assert_epcm(pa, VALID, PT, R, W, X, PENDING, MODIFIED, PR)                                                     \
	do {                                                                                                           \
		struct hw_epcm_view v_ = epcm(pa);                                                                     \
		cr_assert(v_.valid == (VALID) && v_.pt == (PT) && v_.r == (R) && v_.w == (W) && v_.x == (X) &&         \
			      v_.pending == (PENDING) && v_.modified == (MODIFIED) && v_.pr == (PR) && !v_.blocked,    \
			  "EPCM valid=%d pt=%u rwx=%d%d%d pending=%d modified=%d pr=%d blocked=%d", v_.valid, v_.pt,   \
			  v_.r, v_.w, v_.x, v_.pending, v_.modified, v_.pr, v_.blocked);                               \
	} while (0)

/* Everything a failed leaf must leave alone: one page's EPCM, stamp and contents, and the enclave. */
struct snap {
	struct hw_epcm_view v;
	uint64_t stamp, children, epoch;
	uint8_t page[4096];
};

static void snap_take(struct snap *s, uint64_t pa)
{
	memset(s, 0, sizeof(*s));
	s->v = epcm(pa);
	s->stamp = stamp_of(pa);
	s->children = children();
	s->epoch = epoch();
	memcpy(s->page, (const void *)(uintptr_t)pa, sizeof(s->page));
}

static void snap_same(const struct snap *s, uint64_t pa)
{
	struct hw_epcm_view v = epcm(pa);
	cr_assert(v.valid == s->v.valid && v.pt == s->v.pt && v.r == s->v.r && v.w == s->v.w && v.x == s->v.x &&
		      v.blocked == s->v.blocked && v.pending == s->v.pending && v.modified == s->v.modified &&
		      v.pr == s->v.pr && v.enclave_address == s->v.enclave_address &&
		      v.enclave_secs == s->v.enclave_secs,
		  "EPCM of %#llx changed", (unsigned long long)pa);
	cr_assert_eq(stamp_of(pa), s->stamp, "stamp changed");
	cr_assert_eq(children(), s->children, "child count changed");
	cr_assert_eq(epoch(), s->epoch, "epoch changed");
	cr_assert(memcmp((const void *)(uintptr_t)pa, s->page, sizeof(s->page)) == 0, "page contents changed");
}

static bool page_is(uint64_t pa, const uint8_t *want)
{
	return memcmp((const void *)(uintptr_t)pa, want, 4096) == 0;
}

static bool page_zero(uint64_t pa)
{
	static const uint8_t zero[4096];
	return page_is(pa, zero);
}

/* A second enclave on the same machine with one page of each kind it needs; returns its window. */
static struct th other;

static void other_enclave(bool init)
{
	memset(&other, 0, sizeof(other));
	other.m = t.m;
	other.base = 0x7e0000000000ULL;
	other.size = ENCL_SIZE;
	th_secs_default(&other.secs, other.base, other.size);
	th_assert_ok(th_ecreate(&other));
	th_assert_ok(th_eadd(&other, 0, 0x203, pattern));
	if (init) {
		hw_mutex_lock(&t.m->lock);
		secs_of(t.m, other.secs_pa)->attributes |= SGX_ATTR_INIT;
		hw_mutex_unlock(&t.m->lock);
	}
}

/* ======================================================================== */
/* EAUG                                                                      */
/* ======================================================================== */

TestSuite(eaug, .init = fresh, .fini = done, .timeout = 60);

Test(eaug, adds_zeroed_pending_rw_page)
{
	/* (Stale bytes of a page removed before: flow::eaug_where_a_teardown_left_memory_is_zeroed.) */
	uint8_t mr_before[32], mr_after[32];
	hw_mutex_lock(&t.m->lock);
	crypto_sha256_peek(secs_priv_of(t.m, t.secs_pa)->mr, mr_before);
	hw_mutex_unlock(&t.m->lock);
	uint64_t before = children();

	th_assert_ok(eaug(OFF_DYN));

	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 1, 0, 1, 0, 0);
	struct hw_epcm_view v = epcm(P(OFF_DYN));
	cr_assert_eq(v.enclave_address, L(OFF_DYN));
	cr_assert_eq(v.enclave_secs, t.secs_pa);
	cr_assert(page_zero(P(OFF_DYN)));
	cr_assert_eq(children(), before + 1);
	hw_mutex_lock(&t.m->lock);
	crypto_sha256_peek(secs_priv_of(t.m, t.secs_pa)->mr, mr_after);
	hw_mutex_unlock(&t.m->lock);
	cr_assert(memcmp(mr_before, mr_after, 32) == 0, "EAUG must not be measured");
}

Test(eaug, through_encls_sets_rax_and_flags)
{
	struct hw_regs regs = {.rax = ENCLS_EAUG, .rbx = host_pageinfo(OFF_DYN), .rcx = P(OFF_DYN), .rflags = 0x8C5};
	th_assert_ok(hw_encls(t.m, NULL, &regs));
	cr_assert_eq(regs.rax, 0);
	cr_assert_eq(regs.rflags & 0x8D5, 0, "arithmetic flags cleared");
}

Test(eaug, pageinfo_misaligned_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	host_pageinfo(OFF_DYN);
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi + 8, P(OFF_DYN)));
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, target_misaligned_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(encls_eaug(t.m, NULL, host_pageinfo(OFF_DYN), P(OFF_DYN) + 0x800));
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, target_not_epc_pf)
{
	uint64_t before = children();
	uint64_t a = (uint64_t)(uintptr_t)host_page;
	th_assert_pf(encls_eaug(t.m, NULL, host_pageinfo(OFF_DYN), a), a, ERR_SGX_W);
	cr_assert_eq(children(), before);
}

Test(eaug, secs_misaligned_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	host_pageinfo(OFF_DYN);
	h_pi.secs += 0x40;
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)));
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, linaddr_misaligned_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	host_pageinfo(OFF_DYN);
	h_pi.linaddr += 0x10;
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)));
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, srcpge_nonzero_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	host_pageinfo(OFF_DYN);
	h_pi.srcpge = (uint64_t)(uintptr_t)host_page;
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)));
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, secinfo_nonzero_gp_no_shadow_stacks)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	host_pageinfo(OFF_DYN);
	/* Even a CET shadow-stack SECINFO is refused: CET is not modelled. */
	static struct sgx_secinfo ss;
	ss.flags = SGX_SECINFO_PT(SGX_PT_SS_FIRST) | 0x3;
	h_pi.secinfo = (uint64_t)(uintptr_t)&ss;
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)));
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, secs_not_epc_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	host_pageinfo(OFF_DYN);
	h_pi.secs = (uint64_t)(uintptr_t)host_page;
	th_assert_pf(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)), h_pi.secs, ERR_SGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, target_already_valid_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_pf(eaug(OFF_RW), P(OFF_RW), ERR_SGX_W);
	snap_same(&s, P(OFF_RW));
}

Test(eaug, pending_page_again_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eaug(OFF_DYN), P(OFF_DYN), ERR_SGX_W);
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, secs_operand_not_a_secs_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	host_pageinfo(OFF_DYN);
	h_pi.secs = P(OFF_RW);
	th_assert_pf(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)), P(OFF_RW), ERR_SGX_R);
	host_pageinfo(OFF_DYN);
	h_pi.secs = P(OFF_DYN2); /* a frame never used */
	th_assert_pf(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)), P(OFF_DYN2), ERR_SGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, linaddr_outside_elrange_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	host_pageinfo(OFF_DYN);
	h_pi.linaddr = t.base + ENCL_SIZE;
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)));
	h_pi.linaddr = t.base - 0x1000;
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)));
	snap_same(&s, P(OFF_DYN));
}

Test(eaug, pageinfo_checked_before_target_validity)
{
	/* Step 2 (SRCPGE != 0 -> #GP) comes before step 3 (target valid -> #PF). */
	host_pageinfo(OFF_RW);
	h_pi.srcpge = 0x1000;
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_RW)));
}

Test(eaug, target_validity_checked_before_secs)
{
	/* EPCM(RCX).VALID -> #PF(RCX) comes before the SECS page checks. */
	host_pageinfo(OFF_RW);
	h_pi.secs = P(OFF_R);
	th_assert_pf(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_RW)), P(OFF_RW), ERR_SGX_W);
}

TestSuite(eaug_uninit, .init = fresh_uninit, .fini = done, .timeout = 60);

Test(eaug_uninit, uninitialized_enclave_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(eaug(OFF_DYN));
	snap_same(&s, P(OFF_DYN));
}

Test(eaug_uninit, init_checked_before_elrange)
{
	host_pageinfo(OFF_DYN);
	h_pi.linaddr = t.base + ENCL_SIZE;
	th_assert_gp(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&h_pi, P(OFF_DYN)));
	assert_epcm(P(OFF_DYN), 0, 0, 0, 0, 0, 0, 0, 0);
}

/* ======================================================================== */
/* EMODPR                                                                    */
/* ======================================================================== */

TestSuite(emodpr, .init = fresh, .fini = done, .timeout = 60);

Test(emodpr, restricts_and_sets_pr)
{
	th_assert_ok(emodpr(0x201, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 1);
	cr_assert(page_is(P(OFF_RW), pattern), "contents kept");
	cr_assert_eq(stamp_of(P(OFF_RW)), 0);
}

Test(emodpr, extra_rights_silently_ignored)
{
	th_assert_ok(emodpr(0x207, OFF_R));
	assert_epcm(P(OFF_R), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 1);
}

Test(emodpr, restricting_again_narrows_further)
{
	th_assert_ok(emodpr(0x201, OFF_RX));
	assert_epcm(P(OFF_RX), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 1);
	th_assert_ok(emodpr(0x200, OFF_RX));
	assert_epcm(P(OFF_RX), 1, SGX_PT_REG, 0, 0, 0, 0, 0, 1);
}

Test(emodpr, pt_and_state_bits_of_secinfo_ignored)
{
	/* Only reserved bits and W-without-R fault; PT/PENDING/MODIFIED/PR are not looked at. */
	th_assert_ok(emodpr(SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_PENDING | SGX_SECINFO_MODIFIED | 0x1, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 1);
}

Test(emodpr, stamps_current_epoch)
{
	track();
	track();
	cr_assert_eq(epoch(), 2);
	th_assert_ok(emodpr(0x201, OFF_RW));
	cr_assert_eq(stamp_of(P(OFF_RW)), 2);
}

Test(emodpr, blocked_page_allowed)
{
	th_assert_ok(encls_eblock(t.m, P(OFF_RW)));
	th_assert_ok(emodpr(0x201, OFF_RW));
	struct hw_epcm_view v = epcm(P(OFF_RW));
	cr_assert(v.valid && v.blocked && v.pr && v.r && !v.w && !v.x);
}

Test(emodpr, through_encls_clears_flags)
{
	struct hw_regs regs = {.rax = ENCLS_EMODPR, .rbx = host_secinfo(0x201), .rcx = P(OFF_RW), .rflags = 0x8C5};
	th_assert_ok(hw_encls(t.m, NULL, &regs));
	cr_assert_eq(regs.rax, 0);
	cr_assert_eq(regs.rflags & 0x8D5, 0);
	th_assert_ok(eaug(OFF_DYN));
	regs = (struct hw_regs){.rax = ENCLS_EMODPR, .rbx = host_secinfo(0x201), .rcx = P(OFF_DYN)};
	th_assert_code(hw_encls(t.m, NULL, &regs), SGX_PAGE_NOT_MODIFIABLE);
	cr_assert_eq(regs.rax, SGX_PAGE_NOT_MODIFIABLE);
	cr_assert_eq(regs.rflags & 0x8D5, 0x40, "ZF only");
}

Test(emodpr, secinfo_misaligned_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	host_secinfo(0x201);
	th_assert_gp(encls_emodpr(t.m, NULL, (uint64_t)(uintptr_t)&h_si + 32, P(OFF_RW)));
	snap_same(&s, P(OFF_RW));
}

Test(emodpr, target_misaligned_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_gp(encls_emodpr(t.m, NULL, host_secinfo(0x201), P(OFF_RW) + 8));
	snap_same(&s, P(OFF_RW));
}

Test(emodpr, target_not_epc_pf)
{
	uint64_t a = (uint64_t)(uintptr_t)host_page;
	th_assert_pf(encls_emodpr(t.m, NULL, host_secinfo(0x201), a), a, ERR_SGX_W);
}

Test(emodpr, secinfo_reserved_flag_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_gp(emodpr(0x201 | (1ULL << 6), OFF_RW));
	th_assert_gp(emodpr(0x201 | (1ULL << 16), OFF_RW));
	th_assert_gp(emodpr(0x201 | (1ULL << 63), OFF_RW));
	snap_same(&s, P(OFF_RW));
}

Test(emodpr, secinfo_reserved_bytes_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	host_secinfo(0x201);
	h_si.reserved[55] = 1;
	th_assert_gp(encls_emodpr(t.m, NULL, (uint64_t)(uintptr_t)&h_si, P(OFF_RW)));
	snap_same(&s, P(OFF_RW));
}

Test(emodpr, write_without_read_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_gp(emodpr(0x202, OFF_RW));
	th_assert_gp(emodpr(0x206, OFF_RW));
	snap_same(&s, P(OFF_RW));
}

Test(emodpr, invalid_page_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(emodpr(0x201, OFF_DYN), P(OFF_DYN), ERR_SGX_W);
	snap_same(&s, P(OFF_DYN));
}

Test(emodpr, pending_page_not_modifiable)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_code(emodpr(0x201, OFF_DYN), SGX_PAGE_NOT_MODIFIABLE);
	snap_same(&s, P(OFF_DYN));
}

Test(emodpr, modified_page_not_modifiable)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_code(emodpr(0x201, OFF_RW), SGX_PAGE_NOT_MODIFIABLE);
	snap_same(&s, P(OFF_RW));
}

Test(emodpr, modified_checked_before_page_type)
{
	/* An unaccepted TCS (MODIFIED) gives code 20 (step 4), not the #PF of step 5. */
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_RW));
	th_assert_code(emodpr(0x201, OFF_RW), SGX_PAGE_NOT_MODIFIABLE);
}

Test(emodpr, tcs_page_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_TCS));
	th_assert_pf(emodpr(0x201, OFF_TCS), P(OFF_TCS), ERR_SGX_W);
	snap_same(&s, P(OFF_TCS));
}

Test(emodpr, accepted_trim_page_pf)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	track();
	th_assert_ok(eaccept(0x410, OFF_RW));
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_pf(emodpr(0x200, OFF_RW), P(OFF_RW), ERR_SGX_W);
	snap_same(&s, P(OFF_RW));
}

Test(emodpr, secs_page_pf)
{
	th_assert_pf(encls_emodpr(t.m, NULL, host_secinfo(0x200), t.secs_pa), t.secs_pa, ERR_SGX_W);
	assert_epcm(t.secs_pa, 1, SGX_PT_SECS, 0, 0, 0, 0, 0, 0);
}

Test(emodpr, reserved_checked_before_validity)
{
	th_assert_gp(emodpr(0x201 | (1ULL << 7), OFF_DYN));
}

TestSuite(emodpr_uninit, .init = fresh_uninit, .fini = done, .timeout = 60);

Test(emodpr_uninit, uninitialized_enclave_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_gp(emodpr(0x201, OFF_RW));
	snap_same(&s, P(OFF_RW));
}

Test(emodpr_uninit, page_type_checked_before_init)
{
	th_assert_pf(emodpr(0x201, OFF_TCS), P(OFF_TCS), ERR_SGX_W);
}

/* ======================================================================== */
/* EMODT                                                                     */
/* ======================================================================== */

TestSuite(emodt, .init = fresh, .fini = done, .timeout = 60);

Test(emodt, reg_to_tcs_keeps_contents)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_TCS, 0, 0, 0, 0, 1, 0);
	cr_assert(page_is(P(OFF_RW), pattern));
	cr_assert_eq(stamp_of(P(OFF_RW)), epoch());
	cr_assert_eq(epcm(P(OFF_RW)).enclave_address, L(OFF_RW));
}

Test(emodt, reg_to_trim)
{
	uint64_t before = children();
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RX));
	assert_epcm(P(OFF_RX), 1, SGX_PT_TRIM, 0, 0, 0, 0, 1, 0);
	cr_assert(page_is(P(OFF_RX), pattern));
	cr_assert_eq(children(), before);
}

Test(emodt, tcs_to_trim)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_TCS2));
	assert_epcm(P(OFF_TCS2), 1, SGX_PT_TRIM, 0, 0, 0, 0, 1, 0);
}

Test(emodt, clears_pr_and_stamps_current_epoch)
{
	th_assert_ok(emodpr(0x201, OFF_RW));
	track();
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_TRIM, 0, 0, 0, 0, 1, 0);
	cr_assert_eq(stamp_of(P(OFF_RW)), 1);
}

Test(emodt, blocked_page_allowed)
{
	th_assert_ok(encls_eblock(t.m, P(OFF_RW)));
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	struct hw_epcm_view v = epcm(P(OFF_RW));
	cr_assert(v.valid && v.blocked && v.modified && v.pt == SGX_PT_TRIM && !v.r && !v.w && !v.x);
}

Test(emodt, permission_and_state_bits_of_secinfo_ignored)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM) | 0x3F, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_TRIM, 0, 0, 0, 0, 1, 0);
}

Test(emodt, secinfo_misaligned_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	host_secinfo(SGX_SECINFO_PT(SGX_PT_TRIM));
	th_assert_gp(encls_emodt(t.m, NULL, (uint64_t)(uintptr_t)&h_si + 16, P(OFF_RW)));
	snap_same(&s, P(OFF_RW));
}

Test(emodt, target_misaligned_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_gp(encls_emodt(t.m, NULL, host_secinfo(SGX_SECINFO_PT(SGX_PT_TRIM)), P(OFF_RW) + 0x10));
	snap_same(&s, P(OFF_RW));
}

Test(emodt, target_not_epc_pf)
{
	uint64_t a = (uint64_t)(uintptr_t)host_page;
	th_assert_pf(encls_emodt(t.m, NULL, host_secinfo(SGX_SECINFO_PT(SGX_PT_TRIM)), a), a, ERR_SGX_W);
}

Test(emodt, secinfo_reserved_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_gp(emodt(SGX_SECINFO_PT(SGX_PT_TRIM) | (1ULL << 6), OFF_RW));
	th_assert_gp(emodt(SGX_SECINFO_PT(SGX_PT_TRIM) | (1ULL << 40), OFF_RW));
	host_secinfo(SGX_SECINFO_PT(SGX_PT_TRIM));
	h_si.reserved[0] = 0x80;
	th_assert_gp(encls_emodt(t.m, NULL, (uint64_t)(uintptr_t)&h_si, P(OFF_RW)));
	snap_same(&s, P(OFF_RW));
}

Test(emodt, new_type_not_tcs_or_trim_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	const uint8_t bad[] = {SGX_PT_SECS, SGX_PT_REG, SGX_PT_VA, SGX_PT_SS_FIRST, SGX_PT_SS_REST, 7, 0xFF};
	for (unsigned i = 0; i < sizeof(bad); i++)
		cr_assert(hw_is_fault(emodt(SGX_SECINFO_PT(bad[i]) | 0x3, OFF_RW), X86_GP), "PT %u", bad[i]);
	snap_same(&s, P(OFF_RW));
}

Test(emodt, invalid_page_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_DYN), P(OFF_DYN), ERR_SGX_W);
	snap_same(&s, P(OFF_DYN));
}

Test(emodt, tcs_to_tcs_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_TCS));
	th_assert_pf(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_TCS), P(OFF_TCS), ERR_SGX_W);
	snap_same(&s, P(OFF_TCS));
}

Test(emodt, trim_to_anything_pf)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	struct snap s;
	snap_take(&s, P(OFF_RW));
	/* Transition check (step 2) comes before MODIFIED (step 3): #PF, not code 20. */
	th_assert_pf(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW), P(OFF_RW), ERR_SGX_W);
	th_assert_pf(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_RW), P(OFF_RW), ERR_SGX_W);
	snap_same(&s, P(OFF_RW));
	track();
	th_assert_ok(eaccept(0x410, OFF_RW));
	th_assert_pf(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW), P(OFF_RW), ERR_SGX_W);
}

Test(emodt, secs_page_pf)
{
	th_assert_pf(encls_emodt(t.m, NULL, host_secinfo(SGX_SECINFO_PT(SGX_PT_TRIM)), t.secs_pa), t.secs_pa,
		     ERR_SGX_W);
	assert_epcm(t.secs_pa, 1, SGX_PT_SECS, 0, 0, 0, 0, 0, 0);
}

Test(emodt, pending_page_not_modifiable)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_code(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_DYN), SGX_PAGE_NOT_MODIFIABLE);
	th_assert_code(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_DYN), SGX_PAGE_NOT_MODIFIABLE);
	snap_same(&s, P(OFF_DYN));
}

Test(emodt, modified_page_not_modifiable)
{
	/* REG -> TCS, then TCS -> TRIM before EACCEPT: the transition is legal but the page is MODIFIED. */
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_RW));
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_code(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW), SGX_PAGE_NOT_MODIFIABLE);
	snap_same(&s, P(OFF_RW));
}

Test(emodt, pt_checked_before_validity)
{
	th_assert_gp(emodt(SGX_SECINFO_PT(SGX_PT_REG), OFF_DYN));
}

TestSuite(emodt_uninit, .init = fresh_uninit, .fini = done, .timeout = 60);

Test(emodt_uninit, uninitialized_enclave_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_gp(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	th_assert_gp(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_RW));
	snap_same(&s, P(OFF_RW));
}

/* ======================================================================== */
/* EACCEPT                                                                   */
/* ======================================================================== */

TestSuite(eaccept, .init = fresh, .fini = done, .timeout = 60);

Test(eaccept, eaug_page_clears_pending)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(eaccept(0x20B, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 1, 0, 0, 0, 0);
	cr_assert_eq(thr.regs.rax, 0);
	cr_assert_eq(thr.regs.rflags & 0x40, 0, "ZF clear on success");
}

Test(eaccept, code_sets_rax_and_zf)
{
	augment(OFF_DYN);
	thr.regs.rflags = 0x2 | 0x8C5;
	th_assert_code(eaccept(0x20B, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH);
	cr_assert_eq(thr.regs.rax, SGX_PAGE_ATTRIBUTES_MISMATCH);
	cr_assert_eq(thr.regs.rflags & 0x8D5, 0x40, "ZF set, other arithmetic flags clear");
}

Test(eaccept, outside_enclave_mode_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	leave(&thr);
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(eaccept(0x20B, OFF_DYN));
	th_assert_gp(enclu_eaccept(&thr));
	snap_same(&s, P(OFF_DYN));
	enter(&thr);
}

Test(eaccept, secinfo_misaligned_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	secinfo_at(0, 0x20B);
	th_assert_gp(enclu(&thr, ENCLU_EACCEPT, L(OFF_SI) + 8, L(OFF_DYN), 0));
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, secinfo_outside_elrange_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(enclu(&thr, ENCLU_EACCEPT, host_secinfo(0x20B), L(OFF_DYN), 0));
	th_assert_gp(enclu(&thr, ENCLU_EACCEPT, t.base + ENCL_SIZE, L(OFF_DYN), 0));
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, secinfo_unmapped_ordinary_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	pagetable_unmap(&t.pt, L(OFF_SI));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(enclu(&thr, ENCLU_EACCEPT, L(OFF_SI), L(OFF_DYN), 0), L(OFF_SI), PF_U);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, secinfo_not_epc_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), (uint64_t)(uintptr_t)host_page, HW_ACC_R | HW_ACC_W), 0);
	struct sgx_secinfo *si = (struct sgx_secinfo *)host_page;
	si->flags = 0x20B;
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(enclu(&thr, ENCLU_EACCEPT, L(OFF_DYN4), L(OFF_DYN), 0), L(OFF_DYN4), ERR_USGX_R);
	snap_same(&s, P(OFF_DYN));
}

/* SECINFO in page `off` (written through the alias), EACCEPT of the EAUG'd OFF_DYN. */
static struct hw_result eaccept_secinfo_in(uint64_t off, uint64_t lin_off)
{
	struct sgx_secinfo *si = (struct sgx_secinfo *)(uintptr_t)(P(off) + 0xFC0);
	memset(si, 0, sizeof(*si));
	si->flags = 0x20B;
	return enclu(&thr, ENCLU_EACCEPT, L(lin_off) + 0xFC0, L(OFF_DYN), 0);
}

Test(eaccept, secinfo_page_epcm_checks_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(eaug(OFF_DYN2));
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RX));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	/* No EPCM read permission. */
	th_assert_pf(eaccept_secinfo_in(OFF_NONE, OFF_NONE), L(OFF_NONE) + 0xFC0, ERR_USGX_R);
	/* PENDING. */
	th_assert_pf(eaccept_secinfo_in(OFF_DYN2, OFF_DYN2), L(OFF_DYN2) + 0xFC0, ERR_USGX_R);
	/* Not PT_REG: TCS, and a MODIFIED TRIM page. */
	th_assert_pf(eaccept_secinfo_in(OFF_TCS2, OFF_TCS2), L(OFF_TCS2) + 0xFC0, ERR_USGX_R);
	th_assert_pf(eaccept_secinfo_in(OFF_RX, OFF_RX), L(OFF_RX) + 0xFC0, ERR_USGX_R);
	/* Wrong address: OFF_DYN4 mapped onto the frame of OFF_RW. */
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), P(OFF_RW), HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(eaccept_secinfo_in(OFF_RW, OFF_DYN4), L(OFF_DYN4) + 0xFC0, ERR_USGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, secinfo_in_blocked_page_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(encls_eblock(t.m, P(OFF_RW)));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eaccept_secinfo_in(OFF_RW, OFF_RW), L(OFF_RW) + 0xFC0, ERR_USGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, secinfo_in_foreign_page_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	other_enclave(false);
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), th_pa(&other, 0), HW_ACC_R | HW_ACC_W), 0);
	struct sgx_secinfo *si = (struct sgx_secinfo *)(uintptr_t)th_pa(&other, 0);
	memset(si, 0, sizeof(*si));
	si->flags = 0x20B;
	th_assert_pf(enclu(&thr, ENCLU_EACCEPT, L(OFF_DYN4), L(OFF_DYN), 0), L(OFF_DYN4), ERR_USGX_R);
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 1, 0, 1, 0, 0);
}

Test(eaccept, secinfo_reserved_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(eaccept(0x20B | (1ULL << 6), OFF_DYN));
	th_assert_gp(eaccept(0x20B | (1ULL << 32), OFF_DYN));
	uint64_t lin = secinfo_at(0, 0x20B);
	((struct sgx_secinfo *)(uintptr_t)P(OFF_SI))->reserved[20] = 1;
	th_assert_gp(enclu(&thr, ENCLU_EACCEPT, lin, L(OFF_DYN), 0));
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, secinfo_checked_before_target)
{
	/* SECINFO faults (step 1) come before a misaligned target (step 2). */
	pagetable_unmap(&t.pt, L(OFF_SI));
	th_assert_pf(enclu(&thr, ENCLU_EACCEPT, L(OFF_SI), L(OFF_DYN) + 4, 0), L(OFF_SI), PF_U);
}

Test(eaccept, target_misaligned_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(eaccept_lin(0x20B, L(OFF_DYN) + 0x100));
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, target_outside_elrange_gp)
{
	th_assert_gp(eaccept_lin(0x20B, t.base + ENCL_SIZE));
	th_assert_gp(eaccept_lin(0x20B, t.base - 0x1000));
	th_assert_gp(eaccept_lin(0x20B, (uint64_t)(uintptr_t)host_page));
}

Test(eaccept, target_without_pte_ordinary_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	pagetable_unmap(&t.pt, L(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), PF_U);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, target_pte_not_readable_ordinary_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	th_map(&t, OFF_DYN, 0);
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), PF_P | PF_U);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, target_read_only_pte_is_enough)
{
	th_assert_ok(eaug(OFF_DYN));
	th_map(&t, OFF_DYN, HW_ACC_R);
	th_assert_ok(eaccept(0x20B, OFF_DYN));
}

Test(eaccept, target_not_epc_pf)
{
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN), (uint64_t)(uintptr_t)host_page, HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), ERR_USGX_W);
}

Test(eaccept, illegal_secinfo_combinations_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	const uint64_t bad[] = {
	    0x203,				   /* REG without PENDING or PR */
	    0x200,				   /* REG, nothing */
	    0x21B,				   /* REG with MODIFIED */
	    0x233,				   /* REG with MODIFIED and PR */
	    0x100,				   /* TCS without MODIFIED */
	    0x118,				   /* TCS with PENDING */
	    0x130,				   /* TCS with PR */
	    0x400,				   /* TRIM without MODIFIED */
	    0x418,				   /* TRIM with PENDING */
	    0x430,				   /* TRIM with PR */
	    SGX_SECINFO_PT(SGX_PT_SECS) | 0x10,	   /* SECS */
	    SGX_SECINFO_PT(SGX_PT_VA) | 0x10,	   /* VA */
	    SGX_SECINFO_PT(SGX_PT_SS_FIRST) | 0xB, /* shadow stacks are not modelled */
	    SGX_SECINFO_PT(SGX_PT_SS_REST) | 0xB,
	    SGX_SECINFO_PT(0x77) | 0xB,
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(hw_is_fault(eaccept(bad[i], OFF_DYN), X86_GP), "SECINFO %#llx must #GP",
			  (unsigned long long)bad[i]);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, combination_checked_before_target_epcm)
{
	/* 0x203 on a frame that is not even valid: the #GP of step 3 wins over the #PF of step 4. */
	th_assert_gp(eaccept(0x203, OFF_DYN));
}

Test(eaccept, target_resolved_before_combination)
{
	/* Step 2 (translation, EPC) comes before the legality of the SECINFO combination (step 3). */
	pagetable_unmap(&t.pt, L(OFF_DYN));
	th_assert_pf(eaccept(0x203, OFF_DYN), L(OFF_DYN), PF_U);
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN), (uint64_t)(uintptr_t)host_page, HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(eaccept(0x100, OFF_DYN), L(OFF_DYN), ERR_USGX_W);
}

Test(eaccept, target_invalid_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), ERR_USGX_W);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, target_blocked_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(encls_eblock(t.m, P(OFF_DYN)));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), ERR_USGX_W);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, target_secs_pf)
{
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN), t.secs_pa, HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), ERR_USGX_W);
	assert_epcm(t.secs_pa, 1, SGX_PT_SECS, 0, 0, 0, 0, 0, 0);
}

Test(eaccept, target_va_pf)
{
	th_assert_ok(encls_epa(t.m, SGX_PT_VA, P(OFF_DYN)));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), ERR_USGX_W);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, target_foreign_pf)
{
	other_enclave(true);
	static struct sgx_pageinfo pi;
	pi = (struct sgx_pageinfo){.linaddr = other.base + 0x1000, .secs = other.secs_pa};
	th_assert_ok(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&pi, th_pa(&other, 0x1000)));
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN), th_pa(&other, 0x1000), HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), ERR_USGX_W);
	struct hw_epcm_view v = epcm(th_pa(&other, 0x1000));
	cr_assert(v.valid && v.pending);
}

Test(eaccept, address_mismatch_code)
{
	th_assert_ok(eaug(OFF_DYN));
	/* OFF_DYN2's PTE points at the frame EAUG'd for OFF_DYN. */
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN2), P(OFF_DYN), HW_ACC_R | HW_ACC_W), 0);
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_code(eaccept(0x20B, OFF_DYN2), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, permission_mismatch_code)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	const uint64_t bad[] = {0x209, 0x20A, 0x20F, 0x20C, 0x208};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(hw_is_code(eaccept(bad[i], OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH), "SECINFO %#llx",
			  (unsigned long long)bad[i]);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, pending_mismatch_code)
{
	/* An EADD'd page was never pending. */
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_code(eaccept(0x20B, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_RW));
}

Test(eaccept, modified_mismatch_code)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	track();
	th_assert_ok(eaccept(0x410, OFF_RW));
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_code(eaccept(0x410, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_RW));
}

Test(eaccept, page_type_mismatch_code)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	track();
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_code(eaccept(0x110, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_RW));
	/* And a TRIM SECINFO on a pending REG page. */
	snap_take(&s, P(OFF_DYN));
	th_assert_code(eaccept(0x410, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_DYN));
}

Test(eaccept, pr_not_compared)
{
	/* REG|PENDING|PR|RW on an EAUG'd page: PR is not compared, the page is accepted. */
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(eaccept(0x22B, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 1, 0, 0, 0, 0);
}

Test(eaccept, restricted_page_not_tracked)
{
	th_assert_ok(emodpr(0x201, OFF_RW));
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_code(eaccept(0x221, OFF_RW), SGX_NOT_TRACKED);
	snap_same(&s, P(OFF_RW));
}

Test(eaccept, tracking_needs_etrack_and_exit_of_older_threads)
{
	th_assert_ok(emodpr(0x201, OFF_RW));
	th_assert_ok(encls_etrack(t.m, t.secs_pa));
	/* The thread entered before the ETRACK and never left: still not tracked. */
	th_assert_code(eaccept(0x221, OFF_RW), SGX_NOT_TRACKED);
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 1);
	leave(&thr);
	enter(&thr);
	th_assert_ok(eaccept(0x221, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 0);
}

Test(eaccept, exit_without_etrack_not_tracked)
{
	th_assert_ok(emodpr(0x201, OFF_RW));
	leave(&thr);
	enter(&thr);
	th_assert_code(eaccept(0x221, OFF_RW), SGX_NOT_TRACKED);
}

Test(eaccept, type_changed_page_not_tracked)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	struct snap s;
	snap_take(&s, P(OFF_RW));
	th_assert_code(eaccept(0x410, OFF_RW), SGX_NOT_TRACKED);
	snap_same(&s, P(OFF_RW));
}

Test(eaccept, mismatch_checked_before_tracking)
{
	th_assert_ok(emodpr(0x201, OFF_RW));
	th_assert_code(eaccept(0x223, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
}

Test(eaccept, eaug_page_needs_no_tracking)
{
	/* Thread inside since epoch 0, no ETRACK ever: a pending page is still accepted. */
	cr_assert_eq(epoch(), 0);
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(eaccept(0x20B, OFF_DYN));
}

Test(eaccept, accepts_with_pr_bit_on_unrestricted_page)
{
	/* REG|PR with matching permissions on a page never restricted: nothing to track, no change. */
	th_assert_ok(eaccept(0x223, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 1, 0, 0, 0, 0);
}

/* Turn page off (EADD'd RW with `img`) into an unaccepted, tracked TCS. */
static void modified_tcs(uint64_t off, const struct sgx_tcs *img)
{
	memcpy((void *)(uintptr_t)P(off), img, sizeof(*img));
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TCS), off));
	track();
}

Test(eaccept, tcs_page_becomes_tcs)
{
	struct sgx_tcs img;
	tcs_image(&img, OFF_SSA);
	modified_tcs(OFF_RW, &img);
	th_assert_ok(eaccept(0x110, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_TCS, 0, 0, 0, 0, 0, 0);
	cr_assert(memcmp((void *)(uintptr_t)P(OFF_RW), &img, sizeof(img)) == 0);
}

#define TCS_GP_TEST(name, mutate)                                                                                      \
	Test(eaccept, name)                                                                                            \
	{                                                                                                              \
		struct sgx_tcs img;                                                                                    \
		tcs_image(&img, OFF_SSA);                                                                              \
		mutate;                                                                                                \
		modified_tcs(OFF_RW, &img);                                                                            \
		struct snap s;                                                                                         \
		snap_take(&s, P(OFF_RW));                                                                              \
		th_assert_gp(eaccept(0x110, OFF_RW));                                                                  \
		snap_same(&s, P(OFF_RW));                                                                              \
		assert_epcm(P(OFF_RW), 1, SGX_PT_TCS, 0, 0, 0, 0, 1, 0);                                               \
	}

TCS_GP_TEST(tcs_reserved_byte_gp, img.reserved[0] = 1)
TCS_GP_TEST(tcs_reserved_last_byte_gp, img.reserved[4023] = 0x80)
TCS_GP_TEST(tcs_dbgoptin_gp, img.flags = SGX_TCS_DBGOPTIN)
TCS_GP_TEST(tcs_cssa_equal_nssa_gp, img.cssa = 1)
TCS_GP_TEST(tcs_nssa_zero_gp, img.nssa = 0)
TCS_GP_TEST(tcs_aep_nonzero_gp, img.aep = 0x401000)
TCS_GP_TEST(tcs_state_nonzero_gp, img.state = 1)

Test(eaccept, tcs_other_flags_left_to_eenter)
{
	/* Only DBGOPTIN is refused at EACCEPT; reserved FLAGS bits are EENTER's check. */
	struct sgx_tcs img;
	tcs_image(&img, OFF_SSA);
	img.flags = SGX_TCS_AEXNOTIFY | (1ULL << 5);
	modified_tcs(OFF_RW, &img);
	th_assert_ok(eaccept(0x110, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_TCS, 0, 0, 0, 0, 0, 0);
}

Test(eaccept, tcs_limits_ignored_in_64bit_enclave)
{
	struct sgx_tcs img;
	tcs_image(&img, OFF_SSA);
	img.fslimit = 0;
	img.gslimit = 0x1000;
	modified_tcs(OFF_RW, &img);
	th_assert_ok(eaccept(0x110, OFF_RW));
}

Test(eaccept, tcs_contents_checked_after_tracking)
{
	/* Bad contents but tracking incomplete: code 11 (step 6) before #GP (step 7). */
	struct sgx_tcs img;
	tcs_image(&img, OFF_SSA);
	img.state = 1;
	memcpy((void *)(uintptr_t)P(OFF_RW), &img, sizeof(img));
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_RW));
	th_assert_code(eaccept(0x110, OFF_RW), SGX_NOT_TRACKED);
}

TestSuite(eaccept32, .init = fresh32, .fini = done, .timeout = 60);

Test(eaccept32, tcs_fslimit_not_fff_gp)
{
	struct sgx_tcs img;
	tcs_image(&img, OFF_SSA);
	img.fslimit = 0x1000;
	modified_tcs(OFF_RW, &img);
	th_assert_gp(eaccept(0x110, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_TCS, 0, 0, 0, 0, 1, 0);
}

Test(eaccept32, tcs_gslimit_not_fff_gp)
{
	struct sgx_tcs img;
	tcs_image(&img, OFF_SSA);
	img.gslimit = 0xFFE;
	modified_tcs(OFF_RW, &img);
	th_assert_gp(eaccept(0x110, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_TCS, 0, 0, 0, 0, 1, 0);
}

Test(eaccept32, tcs_limits_ending_in_fff_ok)
{
	struct sgx_tcs img;
	tcs_image(&img, OFF_SSA);
	img.fslimit = 0x1FFF;
	img.gslimit = 0xFFFFFFFF;
	modified_tcs(OFF_RW, &img);
	th_assert_ok(eaccept(0x110, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_TCS, 0, 0, 0, 0, 0, 0);
}

/* ======================================================================== */
/* EACCEPTCOPY                                                               */
/* ======================================================================== */

TestSuite(eacceptcopy, .init = fresh, .fini = done, .timeout = 60);

Test(eacceptcopy, copies_and_sets_permissions)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(eacceptcopy(0x205, OFF_DYN, OFF_RW));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 0, 1, 0, 0, 0);
	cr_assert(page_is(P(OFF_DYN), pattern));
	cr_assert(page_is(P(OFF_RW), pattern), "source untouched");
	cr_assert_eq(thr.regs.rax, 0);
}

Test(eacceptcopy, any_legal_permissions)
{
	const uint64_t flags[] = {0x200, 0x201, 0x203, 0x204, 0x207};
	const uint64_t offs[] = {OFF_DYN, OFF_DYN2, OFF_DYN3, OFF_DYN4, 0xC000};
	for (unsigned i = 0; i < 5; i++) {
		th_assert_ok(eaug(offs[i]));
		th_assert_ok(eacceptcopy(flags[i], offs[i], OFF_R));
		struct hw_epcm_view v = epcm(P(offs[i]));
		cr_assert(v.valid && !v.pending && v.r == !!(flags[i] & 1) && v.w == !!(flags[i] & 2) &&
			      v.x == !!(flags[i] & 4),
			  "flags %#llx", (unsigned long long)flags[i]);
		cr_assert(page_is(P(offs[i]), pattern));
	}
}

Test(eacceptcopy, state_bits_of_secinfo_ignored)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(eacceptcopy(0x20D, OFF_DYN, OFF_RW));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 0, 1, 0, 0, 0);
}

Test(eacceptcopy, misaligned_operands_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	uint64_t si = secinfo_at(0, 0x205);
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, si + 32, L(OFF_DYN), L(OFF_RW)));
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, si, L(OFF_DYN) + 64, L(OFF_RW)));
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, si, L(OFF_DYN), L(OFF_RW) + 8));
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, operands_outside_elrange_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	uint64_t si = secinfo_at(0, 0x205);
	uint64_t out = t.base + ENCL_SIZE;
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, host_secinfo(0x205), L(OFF_DYN), L(OFF_RW)));
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, si, out, L(OFF_RW)));
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, si, L(OFF_DYN), out));
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, elrange_checked_before_translation)
{
	/* All ELRANGE checks (#GP) precede any operand's translation (#PF). */
	pagetable_unmap(&t.pt, L(OFF_SI));
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, L(OFF_SI), L(OFF_DYN), t.base + ENCL_SIZE));
}

Test(eacceptcopy, operands_without_pte_ordinary_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	uint64_t si = secinfo_at(0, 0x205);
	pagetable_unmap(&t.pt, L(OFF_RW));
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, si, L(OFF_DYN), L(OFF_RW)), L(OFF_RW), PF_U);
	pagetable_unmap(&t.pt, L(OFF_DYN));
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, si, L(OFF_DYN), L(OFF_RW)), L(OFF_DYN), PF_U | PF_W);
	pagetable_unmap(&t.pt, L(OFF_SI));
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, si, L(OFF_DYN), L(OFF_RW)), L(OFF_SI), PF_U);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, destination_pte_must_be_writable)
{
	th_assert_ok(eaug(OFF_DYN));
	th_map(&t, OFF_DYN, HW_ACC_R);
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_RW), L(OFF_DYN), PF_P | PF_W | PF_U);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, operands_not_epc_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	uint64_t si = secinfo_at(0, 0x205);
	uint64_t host = (uint64_t)(uintptr_t)host_page;
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), host, HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, si, L(OFF_DYN), L(OFF_DYN4)), L(OFF_DYN4), ERR_USGX_R);
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, si, L(OFF_DYN4), L(OFF_RW)), L(OFF_DYN4), ERR_USGX_W);
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, L(OFF_DYN4), L(OFF_DYN), L(OFF_RW)), L(OFF_DYN4), ERR_USGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, resolution_checked_before_secinfo_epcm)
{
	/* SECINFO in a pending page (an EPCM #PF on RBX), destination not EPC: #PF on RCX first. */
	th_assert_ok(eaug(OFF_DYN2));
	struct sgx_secinfo *si = (struct sgx_secinfo *)(uintptr_t)P(OFF_DYN2);
	si->flags = 0x205;
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), (uint64_t)(uintptr_t)host_page, HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, L(OFF_DYN2), L(OFF_DYN4), L(OFF_RW)), L(OFF_DYN4), ERR_USGX_W);
	th_assert_ok(eaug(OFF_DYN));
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, L(OFF_DYN2), L(OFF_DYN), L(OFF_RW)), L(OFF_DYN2), ERR_USGX_R);
}

Test(eacceptcopy, secinfo_page_epcm_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	struct sgx_secinfo *si = (struct sgx_secinfo *)(uintptr_t)P(OFF_NONE);
	si->flags = 0x205;
	th_assert_pf(enclu(&thr, ENCLU_EACCEPTCOPY, L(OFF_NONE), L(OFF_DYN), L(OFF_RW)), L(OFF_NONE), ERR_USGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, secinfo_reserved_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(eacceptcopy(0x205 | (1ULL << 7), OFF_DYN, OFF_RW));
	uint64_t lin = secinfo_at(0, 0x205);
	((struct sgx_secinfo *)(uintptr_t)P(OFF_SI))->reserved[1] = 1;
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, lin, L(OFF_DYN), L(OFF_RW)));
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, write_without_read_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(eacceptcopy(0x202, OFF_DYN, OFF_RW));
	th_assert_gp(eacceptcopy(0x206, OFF_DYN, OFF_RW));
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, page_type_not_reg_gp)
{
	th_assert_ok(eaug(OFF_DYN));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_gp(eacceptcopy(0x105, OFF_DYN, OFF_RW));
	th_assert_gp(eacceptcopy(0x405, OFF_DYN, OFF_RW));
	th_assert_gp(eacceptcopy(0x005, OFF_DYN, OFF_RW));
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, source_epcm_checks_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(eaug(OFF_DYN2));
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RX));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	/* Pending, no EPCM read, TCS, MODIFIED (trimmed). */
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_DYN2), L(OFF_DYN2), ERR_USGX_R);
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_NONE), L(OFF_NONE), ERR_USGX_R);
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_TCS), L(OFF_TCS), ERR_USGX_R);
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_RX), L(OFF_RX), ERR_USGX_R);
	/* Wrong address: OFF_DYN4 maps the frame of OFF_RW. */
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), P(OFF_RW), HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_DYN4), L(OFF_DYN4), ERR_USGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, source_blocked_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(encls_eblock(t.m, P(OFF_RW)));
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_RW), L(OFF_RW), ERR_USGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, source_foreign_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	other_enclave(false);
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), th_pa(&other, 0), HW_ACC_R | HW_ACC_W), 0);
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_DYN4), L(OFF_DYN4), ERR_USGX_R);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, source_checked_before_destination)
{
	/* Destination already accepted (code 19) but source pending: #PF on RDX (step 3 before 4). */
	augment(OFF_DYN);
	th_assert_ok(eaug(OFF_DYN2));
	th_assert_pf(eacceptcopy(0x205, OFF_DYN, OFF_DYN2), L(OFF_DYN2), ERR_USGX_R);
}

Test(eacceptcopy, destination_not_pending_code)
{
	augment(OFF_DYN);
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_code(eacceptcopy(0x205, OFF_DYN, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, destination_invalid_code)
{
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_code(eacceptcopy(0x205, OFF_DYN, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_DYN));
}

Test(eacceptcopy, destination_not_reg_code)
{
	/* A MODIFIED TRIM page and a TCS page (both mapped writable). */
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RX));
	th_map(&t, OFF_RX, HW_ACC_R | HW_ACC_W);
	struct snap s;
	snap_take(&s, P(OFF_RX));
	th_assert_code(eacceptcopy(0x205, OFF_RX, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_RX));
	snap_take(&s, P(OFF_TCS));
	th_assert_code(eacceptcopy(0x205, OFF_TCS, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_TCS));
}

Test(eacceptcopy, destination_foreign_code)
{
	other_enclave(true);
	static struct sgx_pageinfo pi;
	pi = (struct sgx_pageinfo){.linaddr = other.base + 0x1000, .secs = other.secs_pa};
	th_assert_ok(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&pi, th_pa(&other, 0x1000)));
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN), th_pa(&other, 0x1000), HW_ACC_R | HW_ACC_W), 0);
	th_assert_code(eacceptcopy(0x205, OFF_DYN, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	struct hw_epcm_view v = epcm(th_pa(&other, 0x1000));
	cr_assert(v.valid && v.pending && v.r && v.w && !v.x);
	cr_assert(page_zero(th_pa(&other, 0x1000)));
}

Test(eacceptcopy, destination_address_mismatch_code)
{
	th_assert_ok(eaug(OFF_DYN));
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN2), P(OFF_DYN), HW_ACC_R | HW_ACC_W), 0);
	struct snap s;
	snap_take(&s, P(OFF_DYN));
	th_assert_code(eacceptcopy(0x205, OFF_DYN2, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
	snap_same(&s, P(OFF_DYN));
}

/* ======================================================================== */
/* EMODPE                                                                    */
/* ======================================================================== */

TestSuite(emodpe, .init = fresh, .fini = done, .timeout = 60);

Test(emodpe, adds_execute)
{
	th_assert_ok(emodpe(0x4, OFF_R));
	assert_epcm(P(OFF_R), 1, SGX_PT_REG, 1, 0, 1, 0, 0, 0);
}

Test(emodpe, adds_write)
{
	th_assert_ok(emodpe(0x2, OFF_R));
	assert_epcm(P(OFF_R), 1, SGX_PT_REG, 1, 1, 0, 0, 0, 0);
}

Test(emodpe, never_removes)
{
	th_assert_ok(emodpe(0x0, OFF_RX));
	assert_epcm(P(OFF_RX), 1, SGX_PT_REG, 1, 0, 1, 0, 0, 0);
	th_assert_ok(emodpe(0x1, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 1, 0, 0, 0, 0);
}

Test(emodpe, page_without_rights_gets_read_write)
{
	th_assert_ok(emodpe(0x3, OFF_NONE));
	assert_epcm(P(OFF_NONE), 1, SGX_PT_REG, 1, 1, 0, 0, 0, 0);
}

Test(emodpe, page_without_rights_gets_execute_only)
{
	th_assert_ok(emodpe(0x4, OFF_NONE));
	assert_epcm(P(OFF_NONE), 1, SGX_PT_REG, 0, 0, 1, 0, 0, 0);
}

Test(emodpe, write_without_read_on_unreadable_page_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_NONE));
	th_assert_gp(emodpe(0x2, OFF_NONE));
	th_assert_gp(emodpe(0x6, OFF_NONE));
	snap_same(&s, P(OFF_NONE));
}

Test(emodpe, no_tracking_needed_and_pt_bits_ignored)
{
	/* PT/state bits in the SECINFO are not looked at; the change is immediate. */
	th_assert_ok(emodpe(SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_PENDING | 0x4, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 1, 1, 0, 0, 0);
}

Test(emodpe, keeps_pr)
{
	th_assert_ok(emodpr(0x201, OFF_RW));
	th_assert_ok(emodpe(0x4, OFF_RW));
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 0, 1, 0, 0, 1);
}

Test(emodpe, misaligned_operands_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_R));
	uint64_t si = secinfo_at(0, 0x4);
	th_assert_gp(enclu(&thr, ENCLU_EMODPE, si + 4, L(OFF_R), 0));
	th_assert_gp(enclu(&thr, ENCLU_EMODPE, si, L(OFF_R) + 0x40, 0));
	snap_same(&s, P(OFF_R));
}

Test(emodpe, operands_outside_elrange_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_R));
	th_assert_gp(enclu(&thr, ENCLU_EMODPE, host_secinfo(0x4), L(OFF_R), 0));
	th_assert_gp(enclu(&thr, ENCLU_EMODPE, secinfo_at(0, 0x4), t.base + ENCL_SIZE, 0));
	snap_same(&s, P(OFF_R));
}

Test(emodpe, elrange_checked_before_translation)
{
	pagetable_unmap(&t.pt, L(OFF_SI));
	th_assert_gp(enclu(&thr, ENCLU_EMODPE, L(OFF_SI), t.base - 0x1000, 0));
}

Test(emodpe, operands_without_pte_ordinary_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_R));
	uint64_t si = secinfo_at(0, 0x4);
	pagetable_unmap(&t.pt, L(OFF_R));
	th_assert_pf(enclu(&thr, ENCLU_EMODPE, si, L(OFF_R), 0), L(OFF_R), PF_U);
	pagetable_unmap(&t.pt, L(OFF_SI));
	th_assert_pf(enclu(&thr, ENCLU_EMODPE, si, L(OFF_R), 0), L(OFF_SI), PF_U);
	snap_same(&s, P(OFF_R));
}

Test(emodpe, operands_not_epc_pf)
{
	struct snap s;
	snap_take(&s, P(OFF_R));
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), (uint64_t)(uintptr_t)host_page, HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(enclu(&thr, ENCLU_EMODPE, secinfo_at(0, 0x4), L(OFF_DYN4), 0), L(OFF_DYN4), ERR_USGX_W);
	th_assert_pf(enclu(&thr, ENCLU_EMODPE, L(OFF_DYN4), L(OFF_R), 0), L(OFF_DYN4), ERR_USGX_R);
	snap_same(&s, P(OFF_R));
}

Test(emodpe, target_resolved_before_secinfo_epcm)
{
	struct sgx_secinfo *si = (struct sgx_secinfo *)(uintptr_t)P(OFF_NONE);
	si->flags = 0x4;
	pagetable_unmap(&t.pt, L(OFF_R));
	th_assert_pf(enclu(&thr, ENCLU_EMODPE, L(OFF_NONE), L(OFF_R), 0), L(OFF_R), PF_U);
	th_map(&t, OFF_R, HW_ACC_R);
	th_assert_pf(enclu(&thr, ENCLU_EMODPE, L(OFF_NONE), L(OFF_R), 0), L(OFF_NONE), ERR_USGX_R);
	assert_epcm(P(OFF_R), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 0);
}

Test(emodpe, secinfo_reserved_gp)
{
	struct snap s;
	snap_take(&s, P(OFF_R));
	th_assert_gp(emodpe(0x4 | (1ULL << 6), OFF_R));
	uint64_t lin = secinfo_at(0, 0x4);
	((struct sgx_secinfo *)(uintptr_t)P(OFF_SI))->reserved[40] = 2;
	th_assert_gp(enclu(&thr, ENCLU_EMODPE, lin, L(OFF_R), 0));
	snap_same(&s, P(OFF_R));
}

Test(emodpe, reserved_checked_before_target_epcm)
{
	th_assert_gp(emodpe(0x4 | (1ULL << 20), OFF_TCS));
}

Test(emodpe, target_epcm_checks_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_RW));
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RX));
	const uint64_t offs[] = {OFF_DYN /* pending */, OFF_RW /* modified TCS */, OFF_RX /* trim */, OFF_TCS /* TCS */,
				 OFF_DYN2 /* invalid */};
	for (unsigned i = 0; i < 5; i++) {
		struct snap s;
		snap_take(&s, P(offs[i]));
		th_assert_pf(emodpe(0x4, offs[i]), L(offs[i]), ERR_USGX_W);
		snap_same(&s, P(offs[i]));
	}
}

Test(emodpe, target_accepted_trim_pf)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	track();
	th_assert_ok(eaccept(0x410, OFF_RW));
	th_assert_pf(emodpe(0x3, OFF_RW), L(OFF_RW), ERR_USGX_W);
	assert_epcm(P(OFF_RW), 1, SGX_PT_TRIM, 0, 0, 0, 0, 0, 0);
}

Test(emodpe, target_blocked_pf)
{
	th_assert_ok(encls_eblock(t.m, P(OFF_R)));
	struct snap s;
	snap_take(&s, P(OFF_R));
	th_assert_pf(emodpe(0x4, OFF_R), L(OFF_R), ERR_USGX_W);
	snap_same(&s, P(OFF_R));
}

Test(emodpe, target_foreign_or_wrong_address_pf)
{
	other_enclave(false);
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN4), th_pa(&other, 0), HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(emodpe(0x4, OFF_DYN4), L(OFF_DYN4), ERR_USGX_W);
	cr_assert_eq(pagetable_map(&t.pt, L(OFF_DYN3), P(OFF_R), HW_ACC_R | HW_ACC_W), 0);
	th_assert_pf(emodpe(0x4, OFF_DYN3), L(OFF_DYN3), ERR_USGX_W);
	assert_epcm(P(OFF_R), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 0);
	struct hw_epcm_view v = epcm(th_pa(&other, 0));
	cr_assert(v.r && v.w && !v.x);
}

Test(emodpe, outside_enclave_mode_gp)
{
	leave(&thr);
	th_assert_gp(emodpe(0x4, OFF_R));
	th_assert_gp(enclu_emodpe(&thr));
	th_assert_gp(enclu(&thr, ENCLU_EACCEPTCOPY, secinfo_at(0, 0x205), L(OFF_DYN), L(OFF_RW)));
	th_assert_gp(enclu_eacceptcopy(&thr));
	enter(&thr);
	assert_epcm(P(OFF_R), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 0);
}

/* ======================================================================== */
/* Flows (spec/edmm-flows.md) at the instruction level                       */
/* ======================================================================== */

TestSuite(flow, .init = fresh, .fini = done, .timeout = 60);

/* Enclave-mode access by thr to ELRANGE offset off. */
static struct hw_result enclave_access(uint64_t off, unsigned acc)
{
	uint64_t pa;
	return hw_access_check(&thr, L(off), acc, &pa);
}

Test(flow, heap_growth_eaug_on_fault)
{
	/*
	 * 1. The page has no PTE: EACCEPT takes an ordinary #PF (P=0, U=1, no SGX bit).
	 * 2. The OS EAUGs the faulting page and installs the PTE.
	 * 3. EACCEPT(0x20B) re-executes and succeeds; the page is zeroed RW memory.
	 */
	pagetable_unmap(&t.pt, L(OFF_DYN));
	th_assert_pf(eaccept(0x20B, OFF_DYN), L(OFF_DYN), PF_U);
	assert_epcm(P(OFF_DYN), 0, 0, 0, 0, 0, 0, 0, 0);
	th_assert_ok(eaug(OFF_DYN));
	th_map(&t, OFF_DYN, HW_ACC_R | HW_ACC_W);
	th_assert_ok(eaccept(0x20B, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 1, 0, 0, 0, 0);
	th_assert_ok(enclave_access(OFF_DYN, HW_ACC_R));
	th_assert_ok(enclave_access(OFF_DYN, HW_ACC_W));
	cr_assert(page_zero(P(OFF_DYN)));
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_X), L(OFF_DYN), PF_P | PF_U | PF_I);
}

Test(flow, heap_growth_lazy_access_to_pending_page_sgx_pf)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_W), L(OFF_DYN), PF_P | PF_W | PF_U | PF_SGX);
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_R), L(OFF_DYN), PF_P | PF_U | PF_SGX);
	th_assert_ok(eaccept(0x20B, OFF_DYN));
	th_assert_ok(enclave_access(OFF_DYN, HW_ACC_W));
}

Test(flow, heap_growth_wrong_steps)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_gp(eaccept(0x203, OFF_DYN));				       /* no PENDING */
	th_assert_code(eaccept(0x20F, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH); /* wrong perms */
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 1, 0, 1, 0, 0);
	th_assert_ok(eaccept(0x20B, OFF_DYN));
	th_assert_code(eaccept(0x20B, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH); /* twice */
	th_assert_gp(eaccept_lin(0x20B, t.base + ENCL_SIZE));		       /* outside ELRANGE */
	pagetable_unmap(&t.pt, L(OFF_DYN2));
	struct hw_result r = eaccept(0x20B, OFF_DYN2); /* region not mapped */
	th_assert_pf(r, L(OFF_DYN2), PF_U);
	cr_assert_eq(r.errcode & PF_SGX, 0);
}

Test(flow, restrict_permissions)
{
	/*
	 * 1. An accepted RW page with data.
	 * 2. OS: EMODPR(R) -> EPCM R, PR=1; ETRACK; the thread leaves and re-enters.
	 * 3. Enclave: EACCEPT(REG|PR|R = 0x221) -> PR cleared; writes now fault.
	 */
	augment(OFF_DYN);
	memset((void *)(uintptr_t)P(OFF_DYN), 0x5C, 4096);
	th_assert_ok(emodpr(0x201, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 1);
	th_assert_ok(enclave_access(OFF_DYN, HW_ACC_R)); /* PR alone does not block access */
	th_assert_code(eaccept(0x221, OFF_DYN), SGX_NOT_TRACKED);
	th_assert_ok(encls_etrack(t.m, t.secs_pa));
	th_assert_code(eaccept(0x221, OFF_DYN), SGX_NOT_TRACKED);
	leave(&thr);
	enter(&thr);
	th_assert_ok(eaccept(0x221, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 0);
	th_assert_ok(enclave_access(OFF_DYN, HW_ACC_R));
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_W), L(OFF_DYN), PF_P | PF_W | PF_U | PF_SGX);
	uint8_t want[4096];
	memset(want, 0x5C, sizeof(want));
	cr_assert(page_is(P(OFF_DYN), want));
}

Test(flow, restrict_to_none_then_accept_with_read_pte)
{
	augment(OFF_DYN);
	th_assert_ok(emodpr(0x200, OFF_DYN));
	track();
	th_map(&t, OFF_DYN, HW_ACC_R); /* keep PROT_READ until EACCEPT */
	th_assert_ok(eaccept(0x220, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 0, 0, 0, 0, 0, 0);
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_R), L(OFF_DYN), PF_P | PF_U | PF_SGX);
}

Test(flow, restrict_permissions_wrong_steps)
{
	augment(OFF_DYN);
	th_assert_ok(eaug(OFF_DYN2));
	/* Pending page: code 20; TCS: #PF. */
	th_assert_code(emodpr(0x201, OFF_DYN2), SGX_PAGE_NOT_MODIFIABLE);
	th_assert_pf(emodpr(0x201, OFF_TCS), P(OFF_TCS), ERR_SGX_W);
	/* Extra rights ignored by EMODPR; EACCEPT with them -> 19. */
	th_assert_ok(emodpr(0x205, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 1);
	track();
	th_assert_code(eaccept(0x225, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH);
	th_assert_code(eaccept(0x223, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH);
	/* PR=0 in the SECINFO: illegal combination. */
	th_assert_gp(eaccept(0x201, OFF_DYN));
	/* After the PTE is gone (PROT_NONE): ordinary #PF. */
	th_map(&t, OFF_DYN, 0);
	th_assert_pf(eaccept(0x221, OFF_DYN), L(OFF_DYN), PF_P | PF_U);
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 1);
	th_map(&t, OFF_DYN, HW_ACC_R);
	th_assert_ok(eaccept(0x221, OFF_DYN));
}

Test(flow, restrict_trim_page_pf)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RW));
	th_assert_code(emodpr(0x201, OFF_RW), SGX_PAGE_NOT_MODIFIABLE);
	track();
	th_assert_ok(eaccept(0x410, OFF_RW));
	th_assert_pf(emodpr(0x201, OFF_RW), P(OFF_RW), ERR_SGX_W);
}

Test(flow, extend_permissions_with_emodpe)
{
	/*
	 * 1. An accepted RW page; executing it is an SGX #PF (EPCM X=0).
	 * 2. Enclave: EMODPE(X) -> EPCM RWX, no OS step, no EACCEPT, no tracking.
	 * 3. OS: mprotect RWX -> the fetch succeeds.
	 */
	augment(OFF_DYN);
	th_map(&t, OFF_DYN, HW_ACC_R | HW_ACC_W | HW_ACC_X);
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_X), L(OFF_DYN), PF_P | PF_U | PF_I | PF_SGX);
	th_assert_ok(emodpe(0x4, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 1, 1, 0, 0, 0);
	th_assert_ok(enclave_access(OFF_DYN, HW_ACC_X));
	/* Adding W to a read-only page. */
	th_assert_pf(enclave_access(OFF_R, HW_ACC_W), L(OFF_R), PF_P | PF_U | PF_W);
	th_map(&t, OFF_R, HW_ACC_R | HW_ACC_W);
	th_assert_pf(enclave_access(OFF_R, HW_ACC_W), L(OFF_R), PF_P | PF_W | PF_U | PF_SGX);
	th_assert_ok(emodpe(0x2, OFF_R));
	th_assert_ok(enclave_access(OFF_R, HW_ACC_W));
}

Test(flow, extend_permissions_wrong_steps)
{
	th_assert_ok(eaug(OFF_DYN));
	th_assert_pf(emodpe(0x4, OFF_DYN), L(OFF_DYN), ERR_USGX_W); /* pending */
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_RW));
	th_assert_pf(emodpe(0x4, OFF_RW), L(OFF_RW), ERR_USGX_W);   /* modified */
	th_assert_pf(emodpe(0x4, OFF_TCS), L(OFF_TCS), ERR_USGX_W); /* TCS */
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_RX));
	th_assert_pf(emodpe(0x4, OFF_RX), L(OFF_RX), ERR_USGX_W); /* TRIM */
	th_assert_gp(emodpe(0x4 | (1ULL << 50), OFF_R));	  /* reserved */
	th_assert_gp(emodpe(0x2, OFF_NONE));			  /* W without R on R=0 */
	assert_epcm(P(OFF_R), 1, SGX_PT_REG, 1, 0, 0, 0, 0, 0);
	assert_epcm(P(OFF_NONE), 1, SGX_PT_REG, 0, 0, 0, 0, 0, 0);
}

/* The new-TCS flow up to EMODT: returns with T = off holding `img`, a MODIFIED TCS, tracked. */
static void new_tcs_prepared(uint64_t off, uint64_t ssa_off, const struct sgx_tcs *img)
{
	augment(off);
	augment(ssa_off);
	/* Enclave code writes the TCS fields while T is still REG RW. */
	uint64_t pa;
	th_assert_ok(hw_access_check(&thr, L(off), HW_ACC_W, &pa));
	cr_assert_eq(pa, P(off));
	memcpy((void *)(uintptr_t)pa, img, sizeof(*img));
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TCS), off));
	track();
}

Test(flow, new_tcs)
{
	/*
	 * 1. EAUG+EACCEPT T and its SSA page; write the TCS fields into T.
	 * 2. OS: EMODT(TCS) -> MODIFIED, RWX=0; ETRACK; thread re-enters.
	 * 3. Enclave: EACCEPT(0x110) -> TCS fields validated, MODIFIED cleared.
	 */
	struct sgx_tcs img;
	tcs_image(&img, OFF_DYN2);
	new_tcs_prepared(OFF_DYN, OFF_DYN2, &img);
	assert_epcm(P(OFF_DYN), 1, SGX_PT_TCS, 0, 0, 0, 0, 1, 0);
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_R), L(OFF_DYN), PF_P | PF_U | PF_SGX);
	th_assert_ok(eaccept(0x110, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_TCS, 0, 0, 0, 0, 0, 0);
	cr_assert(memcmp((void *)(uintptr_t)P(OFF_DYN), &img, sizeof(img)) == 0);
	/* TCS pages are never accessible to enclave code. */
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_R), L(OFF_DYN), PF_P | PF_U | PF_SGX);
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_W), L(OFF_DYN), PF_P | PF_W | PF_U | PF_SGX);
}

Test(flow, new_tcs_wrong_steps)
{
	th_assert_ok(eaug(OFF_DYN3));
	th_assert_code(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_DYN3), SGX_PAGE_NOT_MODIFIABLE); /* pending */
	struct sgx_tcs img;
	tcs_image(&img, OFF_DYN2);
	new_tcs_prepared(OFF_DYN, OFF_DYN2, &img);
	th_assert_pf(emodt(SGX_SECINFO_PT(SGX_PT_TCS), OFF_DYN), P(OFF_DYN), ERR_SGX_W); /* TCS -> TCS */
	th_assert_gp(eaccept(0x100, OFF_DYN));						 /* MODIFIED=0 */
	th_assert_code(eaccept(0x113, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH);		 /* with perms */
	assert_epcm(P(OFF_DYN), 1, SGX_PT_TCS, 0, 0, 0, 0, 1, 0);
	th_assert_ok(eaccept(0x110, OFF_DYN));
	th_assert_code(eaccept(0x110, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH); /* twice */
}

Test(flow, new_tcs_bad_contents_gp)
{
	struct sgx_tcs img;
	tcs_image(&img, OFF_DYN2);
	img.cssa = 2;
	new_tcs_prepared(OFF_DYN, OFF_DYN2, &img);
	th_assert_gp(eaccept(0x110, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_TCS, 0, 0, 0, 0, 1, 0);
}

/* A logical processor outside the enclave, about to EENTER through TCS at off. */
static struct hw_result eenter_with(struct hw_thread *h, uint64_t off)
{
	h->regs.rax = ENCLU_EENTER;
	h->regs.rbx = L(off);
	h->regs.rcx = 0x401000; /* AEP */
	return hw_enclu(h);
}

Test(flow, new_tcs_usable_by_eenter)
{
	struct sgx_tcs img;
	tcs_image(&img, OFF_DYN2);
	new_tcs_prepared(OFF_DYN, OFF_DYN2, &img);
	struct hw_thread h;
	cr_assert_eq(hw_thread_init(&h, t.m, &t.pt.mmu), 0);
	/* EENTER before EACCEPT: the TCS is MODIFIED -> SGX #PF on RBX. */
	struct hw_result r = eenter_with(&h, OFF_DYN);
	cr_assert(hw_is_fault(r, X86_PF) && r.addr == L(OFF_DYN) && (r.errcode & PF_SGX), "SGX #PF expected, got %s",
		  th_fmt(r));
	cr_assert(!h.in_enclave);
	th_assert_ok(eaccept(0x110, OFF_DYN));
	th_assert_ok(eenter_with(&h, OFF_DYN));
	cr_assert(h.in_enclave);
	cr_assert_eq(h.tcs_pa, P(OFF_DYN));
	cr_assert_eq(h.regs.rip, L(OFF_RX));
	cr_assert_eq(secs_view().threads_inside, 2);
	th_assert_ok(enclu(&h, ENCLU_EEXIT, 0x402000, 0, 0));
	hw_thread_fini(&h);
}

Test(flow, remove_pages_via_trim)
{
	/*
	 * 1. OS: EMODT(TRIM) -> MODIFIED, no access; ETRACK; thread re-enters.
	 * 2. Enclave: EACCEPT(0x410).
	 * 3. OS: the probe EMODPR #PFs (proof of acceptance); EREMOVE succeeds
	 *    while the enclave has a thread inside; child count drops.
	 * 4. A later EAUG at the address gives a fresh pending page.
	 */
	augment(OFF_DYN);
	memset((void *)(uintptr_t)P(OFF_DYN), 0x33, 4096);
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_DYN));
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_R), L(OFF_DYN), PF_P | PF_U | PF_SGX);
	th_assert_code(encls_eremove(t.m, P(OFF_DYN)), SGX_ENCLAVE_ACT); /* before EACCEPT */
	track();
	th_assert_ok(eaccept(0x410, OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_TRIM, 0, 0, 0, 0, 0, 0);
	th_assert_pf(emodpr(0x200, OFF_DYN), P(OFF_DYN), ERR_SGX_W);
	uint64_t before = children();
	th_assert_ok(encls_eremove(t.m, P(OFF_DYN)));
	cr_assert_eq(children(), before - 1);
	assert_epcm(P(OFF_DYN), 0, 0, 0, 0, 0, 0, 0, 0);
	th_assert_ok(eaug(OFF_DYN));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 1, 0, 1, 0, 0);
	cr_assert(page_zero(P(OFF_DYN)));
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_R), L(OFF_DYN), PF_P | PF_U | PF_SGX);
}

/*
 * EREMOVE in a window the OS is tearing down (hw_epc_retire: REMOVE_PAGES,
 * an enclave's release) leaves the frame's memory as it was; an EAUG of the
 * frame before the teardown ends still gives a zeroed page.  Elsewhere an
 * invalid frame is a hole of the memfd, and EAUG does not write it.
 */
Test(flow, eaug_where_a_teardown_left_memory_is_zeroed)
{
	augment(OFF_DYN);
	augment(OFF_DYN2);
	memset((void *)(uintptr_t)P(OFF_DYN), 0x33, 4096);
	memset((void *)(uintptr_t)P(OFF_DYN2), 0x44, 4096);
	for (uint64_t off = OFF_DYN; off <= OFF_DYN2; off += OFF_DYN2 - OFF_DYN) {
		th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), off));
		track();
		th_assert_ok(eaccept(0x410, off));
	}
	hw_epc_retire(t.m, t.window, t.size);
	th_assert_ok(encls_eremove(t.m, P(OFF_DYN)));
	th_assert_ok(encls_eremove(t.m, P(OFF_DYN2)));
	cr_assert_eq(*(const volatile uint8_t *)(uintptr_t)P(OFF_DYN), 0x33, "the teardown keeps the memory");
	th_assert_ok(eaug(OFF_DYN));
	cr_assert(page_zero(P(OFF_DYN)), "EAUG over a retiring frame's old bytes");
	hw_epc_retire_end(t.m, t.window, t.size);
	/* The end of the teardown gave the other frame's memory back: it reads zeros, and so does its EAUG. */
	th_assert_ok(eaug(OFF_DYN2));
	cr_assert(page_zero(P(OFF_DYN2)));
	cr_assert(page_zero(P(OFF_DYN)));
}

Test(flow, remove_pages_wrong_steps)
{
	augment(OFF_DYN);
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_DYN));
	track();
	th_assert_gp(eaccept(0x400, OFF_DYN));						  /* MODIFIED=0 */
	th_assert_code(eaccept(0x413, OFF_DYN), SGX_PAGE_ATTRIBUTES_MISMATCH);		  /* perms */
	th_assert_pf(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_DYN), P(OFF_DYN), ERR_SGX_W); /* trim again */
	assert_epcm(P(OFF_DYN), 1, SGX_PT_TRIM, 0, 0, 0, 0, 1, 0);
	/* A page never trimmed cannot be removed while a thread is inside. */
	th_assert_code(encls_eremove(t.m, P(OFF_RW)), SGX_ENCLAVE_ACT);
	assert_epcm(P(OFF_RW), 1, SGX_PT_REG, 1, 1, 0, 0, 0, 0);
}

Test(flow, remove_tcs_via_trim)
{
	th_assert_ok(emodt(SGX_SECINFO_PT(SGX_PT_TRIM), OFF_TCS2));
	track();
	th_assert_ok(eaccept(0x410, OFF_TCS2));
	th_assert_ok(encls_eremove(t.m, P(OFF_TCS2)));
	assert_epcm(P(OFF_TCS2), 0, 0, 0, 0, 0, 0, 0, 0);
}

Test(flow, jit_with_eacceptcopy)
{
	/*
	 * 1. Enclave generates code into staging page S (OFF_RW).
	 * 2. D is a fresh EAUG'd page, still PENDING.
	 * 3. EACCEPTCOPY(0x205, D, S) -> D = S, EPCM R-X, never W.
	 * 4. OS: mprotect(D, R|X); the enclave executes D.
	 */
	th_assert_ok(eaug(OFF_DYN));
	th_assert_ok(eacceptcopy(0x205, OFF_DYN, OFF_RW));
	assert_epcm(P(OFF_DYN), 1, SGX_PT_REG, 1, 0, 1, 0, 0, 0);
	cr_assert(page_is(P(OFF_DYN), pattern));
	/* Before mprotect the PTE is NX: ordinary #PF. */
	struct hw_result r = enclave_access(OFF_DYN, HW_ACC_X);
	th_assert_pf(r, L(OFF_DYN), PF_P | PF_U | PF_I);
	th_map(&t, OFF_DYN, HW_ACC_R | HW_ACC_X);
	th_assert_ok(enclave_access(OFF_DYN, HW_ACC_X));
	th_map(&t, OFF_DYN, HW_ACC_R | HW_ACC_W | HW_ACC_X);
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_W), L(OFF_DYN), PF_P | PF_W | PF_U | PF_SGX);
}

Test(flow, jit_wrong_steps)
{
	augment(OFF_DYN);
	th_assert_code(eacceptcopy(0x205, OFF_DYN, OFF_RW), SGX_PAGE_ATTRIBUTES_MISMATCH); /* D accepted */
	th_assert_ok(eaug(OFF_DYN2));
	th_assert_gp(eacceptcopy(0x206, OFF_DYN2, OFF_RW)); /* W without R */
	th_assert_gp(eacceptcopy(0x105, OFF_DYN2, OFF_RW)); /* PT != REG */
	th_assert_gp(eacceptcopy(0x205 | (1ULL << 16), OFF_DYN2, OFF_RW));
	th_assert_ok(eaug(OFF_DYN3));
	th_assert_pf(eacceptcopy(0x205, OFF_DYN2, OFF_DYN3), L(OFF_DYN3), ERR_USGX_R); /* S pending */
	assert_epcm(P(OFF_DYN2), 1, SGX_PT_REG, 1, 1, 0, 1, 0, 0);
	cr_assert(page_zero(P(OFF_DYN2)));
	/* Executing an EACCEPT'ed RW page: SGX #PF. */
	th_map(&t, OFF_DYN, HW_ACC_R | HW_ACC_W | HW_ACC_X);
	th_assert_pf(enclave_access(OFF_DYN, HW_ACC_X), L(OFF_DYN), PF_P | PF_U | PF_I | PF_SGX);
}

Test(flow, jit_alternative_emodpe)
{
	augment(OFF_DYN);
	memcpy((void *)(uintptr_t)P(OFF_DYN), pattern, 4096);
	th_assert_ok(emodpe(0x4, OFF_DYN));
	th_map(&t, OFF_DYN, HW_ACC_R | HW_ACC_X);
	th_assert_ok(enclave_access(OFF_DYN, HW_ACC_X));
}
