/* SPDX-License-Identifier: MIT */
/*
 * EPA, EBLOCK, ETRACK, EWB, ELDU/ELDB, EREMOVE and the ETRACK epoch model:
 * every check of spec/leaves.md §3-4, the tracking sequences, SECS and VA
 * page eviction, and two property tests (random EWB/ELDU cycles keep every
 * byte; every replayed or altered blob is refused).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"
#include "internal.h"

#define NPAGES	  64
#define ESIZE	  ((uint64_t)NPAGES * SGX_PAGE_SIZE)
#define PF_EPC_W  (PF_P | PF_SGX | PF_W)
#define PF_EPC_R  (PF_P | PF_SGX)
#define REG_R	  (SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R)
#define REG_RW	  (REG_R | SGX_SECINFO_W)
#define REG_RX	  (REG_R | SGX_SECINFO_X)
#define REG_RWX	  (REG_RW | SGX_SECINFO_X)
#define TCS_FLAGS SGX_SECINFO_PT(SGX_PT_TCS)

static struct th t;
static uint64_t va; /* a VA page made by the fixture */
#define SLOT(i) (va + 8 * (uint64_t)(i))

/* An EWB output: encrypted page, PCMD and the PAGEINFO EWB wrote LINADDR into. */
struct blob {
	uint8_t page[SGX_PAGE_SIZE] __attribute__((aligned(4096)));
	struct sgx_pcmd pcmd;
	struct sgx_pageinfo pi;
};
static struct blob b1, b2, b3;
static struct sgx_pageinfo ld_pi;
static const uint8_t zero_page[SGX_PAGE_SIZE];

/* ---- helpers ---- */

/* Each evaluates the leaf call exactly once. */
#define assert_ok_clean(call)                                                                                          \
	do {                                                                                                           \
		struct hw_result r_ = (call);                                                                          \
		cr_assert(hw_is_ok(r_) && r_.rax == 0 && !r_.zf && !r_.cf, "expected plain OK, got %s", th_fmt(r_));   \
	} while (0)
#define assert_zf(call, c)                                                                                             \
	do {                                                                                                           \
		struct hw_result r_ = (call);                                                                          \
		cr_assert(hw_is_code(r_, c) && r_.zf && !r_.cf, "expected %s with ZF, got %s", hw_error_name(c),       \
			  th_fmt(r_));                                                                                 \
	} while (0)
#define assert_cf(call, c)                                                                                             \
	do {                                                                                                           \
		struct hw_result r_ = (call);                                                                          \
		cr_assert(hw_is_code(r_, c) && r_.cf && !r_.zf, "expected %s with CF, got %s", hw_error_name(c),       \
			  th_fmt(r_));                                                                                 \
	} while (0)
#define expect_gp(call)                                                                                                \
	do {                                                                                                           \
		struct hw_result r_ = (call);                                                                          \
		th_assert_gp(r_);                                                                                      \
	} while (0)
#define expect_pf(call, a, e)                                                                                          \
	do {                                                                                                           \
		struct hw_result r_ = (call);                                                                          \
		th_assert_pf(r_, a, e);                                                                                \
	} while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd();
		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

static uint8_t *ptr(uint64_t pa)
{
	return (uint8_t *)(uintptr_t)pa;
}

static uint64_t u(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static uint64_t new_frame(void)
{
	uint64_t f = hw_epc_window_alloc(t.m, SGX_PAGE_SIZE);
	cr_assert(f, "physical space exhausted");
	return f;
}

static struct hw_epcm_view epcm(uint64_t pa)
{
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(t.m, pa, &v));
	return v;
}

static bool view_eq(struct hw_epcm_view a, struct hw_epcm_view b)
{
	return a.valid == b.valid && a.r == b.r && a.w == b.w && a.x == b.x && a.blocked == b.blocked &&
	       a.pending == b.pending && a.modified == b.modified && a.pr == b.pr && a.pt == b.pt &&
	       a.enclave_address == b.enclave_address && a.enclave_secs == b.enclave_secs;
}

static struct hw_secs_view secs_view(uint64_t secs_pa)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, secs_pa, &v), "SECS at %#llx not valid", (unsigned long long)secs_pa);
	return v;
}

static uint64_t slot_val(uint64_t slot)
{
	uint64_t v;
	memcpy(&v, ptr(slot), 8);
	return v;
}

/* A frame's EPCM entry and contents, to prove a failing leaf changed nothing. */
struct snap {
	struct hw_epcm_view e;
	uint8_t data[SGX_PAGE_SIZE];
};

static void snap_take(struct snap *s, uint64_t pa)
{
	s->e = epcm(pa);
	memcpy(s->data, ptr(HW_PAGE_DOWN(pa)), SGX_PAGE_SIZE);
}

static void snap_same(const struct snap *s, uint64_t pa)
{
	cr_assert(view_eq(s->e, epcm(pa)), "EPCM of %#llx changed", (unsigned long long)pa);
	cr_assert(memcmp(s->data, ptr(HW_PAGE_DOWN(pa)), SGX_PAGE_SIZE) == 0, "contents of %#llx changed",
		  (unsigned long long)pa);
}

/* A free frame stays free: invalid and (memory given back) reading zeros. */
static void assert_free(uint64_t pa)
{
	cr_assert(!epcm(pa).valid, "frame %#llx became valid", (unsigned long long)pa);
	cr_assert(memcmp(ptr(pa), zero_page, SGX_PAGE_SIZE) == 0, "free frame %#llx not zero", (unsigned long long)pa);
}

static void add_page(uint64_t off, uint64_t flags)
{
	uint8_t page[SGX_PAGE_SIZE];
	if ((flags & SGX_SECINFO_PT_MASK) == SGX_SECINFO_PT(SGX_PT_TCS)) {
		memset(page, 0, sizeof(page));
		fill(page + 16, 56); /* OSSA .. GSLIMIT; reserved bytes stay zero */
	} else {
		fill(page, sizeof(page));
	}
	th_assert_ok(th_eadd(&t, off, flags, page));
}

static void epa(uint64_t pa)
{
	assert_ok_clean(encls_epa(t.m, SGX_PT_VA, pa));
}

static struct hw_result ewb_to(struct blob *b, uint64_t pa, uint64_t slot)
{
	b->pi = (struct sgx_pageinfo){.srcpge = u(b->page), .secinfo = u(&b->pcmd)};
	return encls_ewb(t.m, NULL, u(&b->pi), pa, slot);
}

static struct hw_result eld(bool blocked, const struct blob *b, uint64_t linaddr, uint64_t secs, uint64_t pa,
			    uint64_t slot)
{
	ld_pi = (struct sgx_pageinfo){.linaddr = linaddr, .srcpge = u(b->page), .secinfo = u(&b->pcmd), .secs = secs};
	return (blocked ? encls_eldb : encls_eldu)(t.m, NULL, u(&ld_pi), pa, slot);
}

/* ELDU of the enclave page at off back into its own frame. */
static struct hw_result eldu_page(const struct blob *b, uint64_t off, uint64_t slot)
{
	return eld(false, b, t.base + off, t.secs_pa, th_pa(&t, off), slot);
}

/* EBLOCK, ETRACK, EWB of the enclave page at off. */
static void evict(uint64_t off, struct blob *b, uint64_t slot)
{
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, off)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_ok_clean(ewb_to(b, th_pa(&t, off), slot));
}

/* Change EPCM fields the way leaves of other areas (EMODT, EMODPR, EAUG) would. */
static void make_trim(uint64_t off, bool accepted)
{
	hw_mutex_lock(&t.m->lock);
	struct epcm_entry *e = epcm_peek(t.m, th_pa(&t, off));
	e->pt = SGX_PT_TRIM;
	e->r = e->w = e->x = 0;
	e->modified = !accepted;
	hw_mutex_unlock(&t.m->lock);
}

static void set_state_bits(uint64_t off, bool pending, bool modified, bool pr)
{
	hw_mutex_lock(&t.m->lock);
	struct epcm_entry *e = epcm_peek(t.m, th_pa(&t, off));
	e->pending = pending;
	e->modified = modified;
	e->pr = pr;
	hw_mutex_unlock(&t.m->lock);
}

/* Put thread thr inside the enclave of secs_pa (what EENTER does for tracking). */
static void enter(struct hw_thread *thr, uint64_t secs_pa)
{
	cr_assert_eq(hw_thread_init(thr, t.m, &t.pt.mmu), 0);
	hw_mutex_lock(&t.m->lock);
	thr->in_enclave = true;
	thr->secs_pa = secs_pa;
	track_thread_enter(secs_priv_of(t.m, secs_pa), thr);
	hw_mutex_unlock(&t.m->lock);
}

static void leave(struct hw_thread *thr)
{
	hw_mutex_lock(&t.m->lock);
	track_thread_exit(secs_priv_of(t.m, thr->secs_pa), thr);
	thr->in_enclave = false;
	hw_mutex_unlock(&t.m->lock);
	hw_thread_fini(thr);
}

/* A second enclave on the same machine. */
static void second_enclave(struct th *o)
{
	memset(o, 0, sizeof(*o));
	o->m = t.m;
	o->base = t.base + 0x1000000000ULL;
	o->size = ESIZE;
	th_secs_default(&o->secs, o->base, o->size);
	th_assert_ok(th_ecreate(o));
}

static void fresh(void)
{
	th_setup(&t, ESIZE);
	va = new_frame();
	epa(va);
}

static void done(void)
{
	th_teardown(&t);
}

/* ==== EPA ==== */

TestSuite(epa, .init = fresh, .fini = done, .timeout = 60);

Test(epa, creates_zeroed_va_page)
{
	uint64_t f = new_frame();
	memset(ptr(f), 0xAB, SGX_PAGE_SIZE); /* stale bytes in the physical frame */
	assert_ok_clean(encls_epa(t.m, SGX_PT_VA, f));
	struct hw_epcm_view e = epcm(f);
	cr_assert(e.valid && e.pt == SGX_PT_VA && !e.r && !e.w && !e.x && !e.blocked && !e.pending && !e.modified &&
		  !e.pr && e.enclave_address == 0 && e.enclave_secs == 0);
	cr_assert(memcmp(ptr(f), zero_page, SGX_PAGE_SIZE) == 0);
	cr_assert_eq(secs_view(t.secs_pa).child_count, 0, "a VA page is nobody's child");
}

Test(epa, rbx_not_pt_va_gp)
{
	uint64_t f = new_frame();
	const uint64_t bad[] = {SGX_PT_SECS, SGX_PT_TCS, SGX_PT_REG, SGX_PT_TRIM, 0x103};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_gp(encls_epa(t.m, bad[i], f));
		cr_assert(!epcm(f).valid);
	}
}

Test(epa, misaligned_gp)
{
	uint64_t f = new_frame();
	expect_gp(encls_epa(t.m, SGX_PT_VA, f + 8));
	cr_assert(!epcm(f).valid);
}

Test(epa, rbx_checked_before_epc)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	expect_gp(encls_epa(t.m, SGX_PT_REG, u(plain)));
}

Test(epa, not_epc_pf)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	expect_pf(encls_epa(t.m, SGX_PT_VA, u(plain)), u(plain), PF_EPC_W);
}

Test(epa, valid_page_pf)
{
	add_page(0, REG_RW);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_pf(encls_epa(t.m, SGX_PT_VA, th_pa(&t, 0)), th_pa(&t, 0), PF_EPC_W);
	snap_same(&s, th_pa(&t, 0));
}

Test(epa, existing_va_page_pf_keeps_slots)
{
	add_page(0, REG_RW);
	evict(0, &b1, SLOT(3));
	struct snap s;
	snap_take(&s, va);
	expect_pf(encls_epa(t.m, SGX_PT_VA, va), va, PF_EPC_W);
	snap_same(&s, va);
	cr_assert_neq(slot_val(SLOT(3)), 0);
}

Test(epa, through_encls_dispatch)
{
	uint64_t f = new_frame();
	struct hw_regs r = {.rax = ENCLS_EPA, .rbx = SGX_PT_VA, .rcx = f, .rflags = 0x2};
	assert_ok_clean(hw_encls(t.m, NULL, &r));
	cr_assert_eq(r.rax, 0);
	cr_assert(epcm(f).valid && epcm(f).pt == SGX_PT_VA);
}

/* ==== EBLOCK ==== */

TestSuite(eblock, .init = fresh, .fini = done, .timeout = 60);

Test(eblock, misaligned_gp)
{
	add_page(0, REG_RW);
	expect_gp(encls_eblock(t.m, th_pa(&t, 0) + 0x800));
	cr_assert(!epcm(th_pa(&t, 0)).blocked);
}

Test(eblock, not_epc_pf)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	expect_pf(encls_eblock(t.m, u(plain)), u(plain), PF_EPC_W);
}

Test(eblock, invalid_page_pg_invld_zf)
{
	assert_zf(encls_eblock(t.m, th_pa(&t, 0)), SGX_PG_INVLD);
	assert_free(th_pa(&t, 0));
}

Test(eblock, secs_pg_is_secs_cf)
{
	struct snap s;
	snap_take(&s, t.secs_pa);
	assert_cf(encls_eblock(t.m, t.secs_pa), SGX_PG_IS_SECS);
	snap_same(&s, t.secs_pa);
}

Test(eblock, va_notblockable_cf)
{
	struct snap s;
	snap_take(&s, va);
	assert_cf(encls_eblock(t.m, va), SGX_NOTBLOCKABLE);
	snap_same(&s, va);
}

Test(eblock, reg_page_becomes_blocked)
{
	add_page(0, REG_RWX);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	struct hw_epcm_view want = s.e;
	want.blocked = true;
	cr_assert(view_eq(epcm(th_pa(&t, 0)), want), "only BLOCKED changes");
	cr_assert(memcmp(s.data, ptr(th_pa(&t, 0)), SGX_PAGE_SIZE) == 0);
}

Test(eblock, tcs_and_trim_pages_blockable)
{
	add_page(0, TCS_FLAGS);
	add_page(0x1000, REG_RW);
	make_trim(0x1000, false);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0x1000)));
	cr_assert(epcm(th_pa(&t, 0)).blocked && epcm(th_pa(&t, 0x1000)).blocked);
}

Test(eblock, already_blocked_blkstate_cf)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	assert_cf(encls_eblock(t.m, th_pa(&t, 0)), SGX_BLKSTATE);
	snap_same(&s, th_pa(&t, 0));
}

Test(eblock, already_blocked_keeps_old_stamp)
{
	/* 1. EBLOCK at epoch 0; 2. ETRACK (epoch 1); 3. EBLOCK again must not restamp to 1; 4. EWB is tracked. */
	add_page(0, REG_RW);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_cf(encls_eblock(t.m, th_pa(&t, 0)), SGX_BLKSTATE);
	assert_ok_clean(ewb_to(&b1, th_pa(&t, 0), SLOT(0)));
}

Test(eblock, stamps_current_epoch)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	/* Stamp 2, epoch 2: the ETRACKs before the EBLOCK do not count. */
	assert_zf(ewb_to(&b1, th_pa(&t, 0), SLOT(0)), SGX_NOT_TRACKED);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_ok_clean(ewb_to(&b1, th_pa(&t, 0), SLOT(0)));
}

Test(eblock, through_encls_dispatch_sets_cf)
{
	struct hw_regs r = {.rax = ENCLS_EBLOCK, .rcx = t.secs_pa, .rflags = 0x2 | (1u << 6)};
	assert_cf(hw_encls(t.m, NULL, &r), SGX_PG_IS_SECS);
	cr_assert_eq(r.rax, SGX_PG_IS_SECS);
	cr_assert_eq(r.rflags & ((1u << 0) | (1u << 6)), 1u << 0, "CF=1, ZF=0");
}

/* ==== ETRACK ==== */

TestSuite(etrack, .init = fresh, .fini = done, .timeout = 60);

Test(etrack, misaligned_gp)
{
	expect_gp(encls_etrack(t.m, t.secs_pa + 64));
	cr_assert_eq(secs_view(t.secs_pa).epoch, 0);
}

Test(etrack, not_epc_pf)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	expect_pf(encls_etrack(t.m, u(plain)), u(plain), PF_EPC_W);
}

Test(etrack, not_secs_pf)
{
	add_page(0, REG_RW);
	expect_pf(encls_etrack(t.m, th_pa(&t, 0)), th_pa(&t, 0), PF_EPC_W);
	expect_pf(encls_etrack(t.m, va), va, PF_EPC_W);
	expect_pf(encls_etrack(t.m, th_pa(&t, 0x1000)), th_pa(&t, 0x1000), PF_EPC_W);
	cr_assert_eq(secs_view(t.secs_pa).epoch, 0);
}

Test(etrack, advances_epoch)
{
	cr_assert_eq(secs_view(t.secs_pa).epoch, 0);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	cr_assert_eq(secs_view(t.secs_pa).epoch, 1);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	cr_assert_eq(secs_view(t.secs_pa).epoch, 2);
}

Test(etrack, old_thread_inside_prev_trk_incmpl)
{
	struct hw_thread a;
	enter(&a, t.secs_pa);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_zf(encls_etrack(t.m, t.secs_pa), SGX_PREV_TRK_INCMPL);
	cr_assert_eq(secs_view(t.secs_pa).epoch, 1, "a refused ETRACK leaves the epoch");
	leave(&a);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	cr_assert_eq(secs_view(t.secs_pa).epoch, 2);
}

Test(etrack, thread_entered_after_last_etrack_does_not_block)
{
	struct hw_thread a;
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	enter(&a, t.secs_pa);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_zf(encls_etrack(t.m, t.secs_pa), SGX_PREV_TRK_INCMPL);
	leave(&a);
}

Test(etrack, other_enclave_threads_do_not_matter)
{
	struct th o;
	second_enclave(&o);
	struct hw_thread a;
	enter(&a, o.secs_pa);
	assert_ok_clean(encls_etrack(t.m, o.secs_pa));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_zf(encls_etrack(t.m, o.secs_pa), SGX_PREV_TRK_INCMPL);
	leave(&a);
}

Test(etrack, threads_inside_counted_and_unlinked)
{
	struct hw_thread a, b, c;
	enter(&a, t.secs_pa);
	enter(&b, t.secs_pa);
	enter(&c, t.secs_pa);
	cr_assert_eq(secs_view(t.secs_pa).threads_inside, 3);
	leave(&b);
	cr_assert_eq(secs_view(t.secs_pa).threads_inside, 2);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	leave(&a);
	/* c entered before the last ETRACK and is still inside. */
	assert_zf(encls_etrack(t.m, t.secs_pa), SGX_PREV_TRK_INCMPL);
	leave(&c);
	cr_assert_eq(secs_view(t.secs_pa).threads_inside, 0);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
}

/* ==== tracking sequences ==== */

TestSuite(tracking, .init = fresh, .fini = done, .timeout = 60);

Test(tracking, eblock_then_ewb_without_etrack_not_tracked)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	memset(&b1, 0x11, sizeof(b1));
	assert_zf(ewb_to(&b1, th_pa(&t, 0), SLOT(0)), SGX_NOT_TRACKED);
	snap_same(&s, th_pa(&t, 0));
	cr_assert_eq(slot_val(SLOT(0)), 0);
	cr_assert_eq(b1.page[0], 0x11, "no output written");
	cr_assert_eq(b1.pi.linaddr, 0);
}

Test(tracking, thread_inside_at_etrack_delays_ewb_until_exit)
{
	add_page(0, REG_RW);
	struct hw_thread a;
	enter(&a, t.secs_pa);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_zf(ewb_to(&b1, th_pa(&t, 0), SLOT(0)), SGX_NOT_TRACKED);
	assert_zf(ewb_to(&b1, th_pa(&t, 0), SLOT(0)), SGX_NOT_TRACKED);
	cr_assert(epcm(th_pa(&t, 0)).valid);
	leave(&a);
	assert_ok_clean(ewb_to(&b1, th_pa(&t, 0), SLOT(0)));
	cr_assert(!epcm(th_pa(&t, 0)).valid);
}

Test(tracking, thread_entered_between_eblock_and_etrack_delays_ewb)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	struct hw_thread a;
	enter(&a, t.secs_pa);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_zf(ewb_to(&b1, th_pa(&t, 0), SLOT(0)), SGX_NOT_TRACKED);
	leave(&a);
	assert_ok_clean(ewb_to(&b1, th_pa(&t, 0), SLOT(0)));
}

Test(tracking, thread_entering_after_etrack_does_not_delay_ewb)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	struct hw_thread a;
	enter(&a, t.secs_pa);
	assert_ok_clean(ewb_to(&b1, th_pa(&t, 0), SLOT(0)));
	leave(&a);
}

Test(tracking, second_etrack_with_old_thread_prev_trk_incmpl)
{
	add_page(0, REG_RW);
	add_page(0x1000, REG_RW);
	struct hw_thread a;
	enter(&a, t.secs_pa);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0x1000)));
	assert_zf(encls_etrack(t.m, t.secs_pa), SGX_PREV_TRK_INCMPL);
	assert_zf(ewb_to(&b1, th_pa(&t, 0), SLOT(0)), SGX_NOT_TRACKED);
	leave(&a);
	assert_ok_clean(ewb_to(&b1, th_pa(&t, 0), SLOT(0)));
	/* The second page was blocked after the only successful ETRACK. */
	assert_zf(ewb_to(&b2, th_pa(&t, 0x1000), SLOT(1)), SGX_NOT_TRACKED);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_ok_clean(ewb_to(&b2, th_pa(&t, 0x1000), SLOT(1)));
}

Test(tracking, thread_in_other_enclave_does_not_delay_ewb)
{
	struct th o;
	second_enclave(&o);
	add_page(0, REG_RW);
	struct hw_thread a;
	enter(&a, o.secs_pa);
	evict(0, &b1, SLOT(0));
	leave(&a);
}

Test(tracking, evicted_restricted_page_stays_tracked_after_reload)
{
	/* A page whose restriction was tracked before eviction needs no new ETRACK after ELDU. */
	add_page(0, REG_RW);
	set_state_bits(0, false, false, true);
	evict(0, &b1, SLOT(0));
	struct hw_thread a;
	enter(&a, t.secs_pa);
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
	hw_mutex_lock(&t.m->lock);
	struct epcm_entry *e = epcm_peek(t.m, th_pa(&t, 0));
	bool tracked = track_done(secs_priv_of(t.m, t.secs_pa), e->stamp);
	hw_mutex_unlock(&t.m->lock);
	cr_assert(tracked);
	cr_assert(epcm(th_pa(&t, 0)).pr);
	leave(&a);
}

/* ==== EREMOVE ==== */

TestSuite(eremove, .init = fresh, .fini = done, .timeout = 60);

Test(eremove, misaligned_gp)
{
	add_page(0, REG_RW);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_gp(encls_eremove(t.m, th_pa(&t, 0) + 8));
	snap_same(&s, th_pa(&t, 0));
}

Test(eremove, not_epc_pf)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	expect_pf(encls_eremove(t.m, u(plain)), u(plain), PF_EPC_W);
}

Test(eremove, invalid_page_succeeds)
{
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0x3000)));
	assert_free(th_pa(&t, 0x3000));
}

Test(eremove, reg_page_removed_and_child_count_dropped)
{
	add_page(0, REG_RW);
	add_page(0x1000, REG_RX);
	cr_assert_eq(secs_view(t.secs_pa).child_count, 2);
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0)));
	assert_free(th_pa(&t, 0));
	cr_assert_eq(secs_view(t.secs_pa).child_count, 1);
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0)));
	cr_assert_eq(secs_view(t.secs_pa).child_count, 1, "removing an invalid page changes nothing");
}

Test(eremove, blocked_page_removed)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0)));
	assert_free(th_pa(&t, 0));
}

Test(eremove, reg_page_with_thread_inside_enclave_act)
{
	add_page(0, REG_RW);
	struct hw_thread a;
	enter(&a, t.secs_pa);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	assert_zf(encls_eremove(t.m, th_pa(&t, 0)), SGX_ENCLAVE_ACT);
	snap_same(&s, th_pa(&t, 0));
	cr_assert_eq(secs_view(t.secs_pa).child_count, 1);
	leave(&a);
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0)));
}

Test(eremove, tcs_with_thread_inside_enclave_act)
{
	add_page(0, TCS_FLAGS);
	struct hw_thread a;
	enter(&a, t.secs_pa);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	assert_zf(encls_eremove(t.m, th_pa(&t, 0)), SGX_ENCLAVE_ACT);
	snap_same(&s, th_pa(&t, 0));
	leave(&a);
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0)));
}

Test(eremove, unaccepted_trim_with_thread_inside_enclave_act)
{
	add_page(0, REG_RW);
	make_trim(0, false);
	struct hw_thread a;
	enter(&a, t.secs_pa);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	assert_zf(encls_eremove(t.m, th_pa(&t, 0)), SGX_ENCLAVE_ACT);
	snap_same(&s, th_pa(&t, 0));
	leave(&a);
}

Test(eremove, accepted_trim_removed_while_thread_inside)
{
	add_page(0, REG_RW);
	make_trim(0, true);
	struct hw_thread a;
	enter(&a, t.secs_pa);
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0)));
	assert_free(th_pa(&t, 0));
	cr_assert_eq(secs_view(t.secs_pa).child_count, 0);
	leave(&a);
}

Test(eremove, va_page_removed_while_thread_inside)
{
	struct hw_thread a;
	enter(&a, t.secs_pa);
	assert_ok_clean(encls_eremove(t.m, va));
	assert_free(va);
	leave(&a);
}

Test(eremove, thread_in_other_enclave_does_not_block)
{
	struct th o;
	second_enclave(&o);
	add_page(0, REG_RW);
	struct hw_thread a;
	enter(&a, o.secs_pa);
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0)));
	leave(&a);
}

Test(eremove, secs_with_children_child_present)
{
	add_page(0, REG_RW);
	struct snap s;
	snap_take(&s, t.secs_pa);
	assert_zf(encls_eremove(t.m, t.secs_pa), SGX_CHILD_PRESENT);
	snap_same(&s, t.secs_pa);
	assert_ok_clean(encls_eremove(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_eremove(t.m, t.secs_pa));
	assert_free(t.secs_pa);
	struct hw_secs_view v;
	cr_assert(!hw_secs_get(t.m, t.secs_pa, &v));
}

Test(eremove, secs_with_evicted_children_removed)
{
	add_page(0, REG_RW);
	evict(0, &b1, SLOT(0));
	assert_ok_clean(encls_eremove(t.m, t.secs_pa));
	assert_free(t.secs_pa);
}

Test(eremove, blob_of_removed_enclave_refused_by_new_enclave)
{
	/* 1. Evict a page; 2. remove the enclave; 3. a new enclave in the same frames cannot load the blob. */
	add_page(0, REG_RW);
	uint64_t eid = secs_view(t.secs_pa).eid;
	evict(0, &b1, SLOT(0));
	assert_ok_clean(encls_eremove(t.m, t.secs_pa));
	th_assert_ok(th_ecreate(&t));
	cr_assert_neq(secs_view(t.secs_pa).eid, eid);
	assert_zf(eldu_page(&b1, 0, SLOT(0)), SGX_MAC_COMPARE_FAIL);
	assert_free(th_pa(&t, 0));
}

/* ==== EWB ==== */

TestSuite(ewb, .init = fresh, .fini = done, .timeout = 60);

/* Page 0 blocked and tracked, ready for EWB. */
static void ready(void)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
}

/* EWB failed: page still there, slot empty, outputs untouched. */
static void ewb_nothing_changed(const struct snap *s, uint64_t pa, uint64_t slot)
{
	snap_same(s, pa);
	cr_assert_eq(slot_val(slot), 0);
	cr_assert_eq(b1.page[0], 0xEE);
	cr_assert_eq(b1.pcmd.mac[0], 0xEE);
}

static struct hw_result ewb_raw(uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	return encls_ewb(t.m, NULL, rbx, rcx, rdx);
}

static void prep_b1(void)
{
	memset(&b1, 0xEE, sizeof(b1));
	b1.pi = (struct sgx_pageinfo){.srcpge = u(b1.page), .secinfo = u(&b1.pcmd)};
}

Test(ewb, pageinfo_misaligned_gp)
{
	ready();
	prep_b1();
	static uint8_t buf[64] __attribute__((aligned(64)));
	memcpy(buf + 16, &b1.pi, sizeof(b1.pi));
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_gp(ewb_raw(u(buf + 16), th_pa(&t, 0), SLOT(0)));
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, page_misaligned_gp)
{
	ready();
	prep_b1();
	expect_gp(ewb_raw(u(&b1.pi), th_pa(&t, 0) + 0x100, SLOT(0)));
	cr_assert(epcm(th_pa(&t, 0)).valid);
}

Test(ewb, slot_misaligned_gp)
{
	ready();
	prep_b1();
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_gp(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0) + 4));
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, alignment_checked_before_epc)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	ready();
	prep_b1();
	expect_gp(ewb_raw(u(&b1.pi), u(plain), SLOT(0) + 1));
}

Test(ewb, page_not_epc_pf)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	ready();
	prep_b1();
	expect_pf(ewb_raw(u(&b1.pi), u(plain), SLOT(0)), u(plain), PF_EPC_W);
	cr_assert_eq(slot_val(SLOT(0)), 0);
}

Test(ewb, slot_not_epc_pf)
{
	static uint64_t plain[8];
	ready();
	prep_b1();
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_pf(ewb_raw(u(&b1.pi), th_pa(&t, 0), u(&plain[1])), u(&plain[1]), PF_EPC_W);
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, page_checked_before_slot_for_epc)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	ready();
	prep_b1();
	expect_pf(ewb_raw(u(&b1.pi), u(plain), u(plain) + 8), u(plain), PF_EPC_W);
}

Test(ewb, slot_in_same_page_gp)
{
	/* A VA page evicted into one of its own slots. */
	prep_b1();
	struct snap s;
	snap_take(&s, va);
	expect_gp(ewb_raw(u(&b1.pi), va, va + 8));
	snap_same(&s, va);
}

Test(ewb, pageinfo_linaddr_nonzero_gp)
{
	ready();
	prep_b1();
	b1.pi.linaddr = t.base;
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_gp(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0)));
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
	cr_assert_eq(b1.pi.linaddr, t.base);
}

Test(ewb, pageinfo_secs_nonzero_gp)
{
	ready();
	prep_b1();
	b1.pi.secs = t.secs_pa;
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_gp(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0)));
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, pcmd_misaligned_gp)
{
	ready();
	prep_b1();
	b1.pi.secinfo += 64;
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_gp(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0)));
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, srcpge_misaligned_gp)
{
	ready();
	prep_b1();
	b1.pi.srcpge += 0x800;
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_gp(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0)));
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, invalid_page_pf)
{
	prep_b1();
	expect_pf(ewb_raw(u(&b1.pi), th_pa(&t, 0x2000), SLOT(0)), th_pa(&t, 0x2000), PF_EPC_W);
	cr_assert_eq(slot_val(SLOT(0)), 0);
	assert_free(th_pa(&t, 0x2000));
}

Test(ewb, invalid_page_checked_before_va_page)
{
	prep_b1();
	uint64_t novap = new_frame();
	expect_pf(ewb_raw(u(&b1.pi), th_pa(&t, 0x2000), novap + 16), th_pa(&t, 0x2000), PF_EPC_W);
}

Test(ewb, va_page_invalid_pf)
{
	ready();
	prep_b1();
	uint64_t novap = new_frame();
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_pf(ewb_raw(u(&b1.pi), th_pa(&t, 0), novap + 16), novap + 16, PF_EPC_W);
	snap_same(&s, th_pa(&t, 0));
	assert_free(novap);
}

Test(ewb, slot_in_reg_page_pf)
{
	ready();
	add_page(0x1000, REG_RW);
	prep_b1();
	struct snap s, s2;
	snap_take(&s, th_pa(&t, 0));
	snap_take(&s2, th_pa(&t, 0x1000));
	expect_pf(ewb_raw(u(&b1.pi), th_pa(&t, 0), th_pa(&t, 0x1000) + 8), th_pa(&t, 0x1000) + 8, PF_EPC_W);
	snap_same(&s, th_pa(&t, 0));
	snap_same(&s2, th_pa(&t, 0x1000));
}

Test(ewb, improper_block_record_gp)
{
	/* A block record from an epoch the enclave has not reached was not made by EBLOCK. */
	ready();
	prep_b1();
	hw_mutex_lock(&t.m->lock);
	epcm_peek(t.m, th_pa(&t, 0))->stamp = secs_priv_of(t.m, t.secs_pa)->epoch + 1;
	hw_mutex_unlock(&t.m->lock);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_gp(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0)));
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, not_blocked_page_not_blocked_zf)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	prep_b1();
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	assert_zf(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0)), SGX_PAGE_NOT_BLOCKED);
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, not_blocked_tcs_and_trim_not_blocked_zf)
{
	add_page(0, TCS_FLAGS);
	add_page(0x1000, REG_RW);
	make_trim(0x1000, true);
	prep_b1();
	assert_zf(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0)), SGX_PAGE_NOT_BLOCKED);
	assert_zf(ewb_raw(u(&b1.pi), th_pa(&t, 0x1000), SLOT(0)), SGX_PAGE_NOT_BLOCKED);
}

Test(ewb, untracked_page_not_tracked_zf)
{
	add_page(0, REG_RW);
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	prep_b1();
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	assert_zf(ewb_raw(u(&b1.pi), th_pa(&t, 0), SLOT(0)), SGX_NOT_TRACKED);
	ewb_nothing_changed(&s, th_pa(&t, 0), SLOT(0));
}

Test(ewb, secs_with_children_child_present)
{
	add_page(0, REG_RW);
	prep_b1();
	struct snap s;
	snap_take(&s, t.secs_pa);
	assert_zf(ewb_raw(u(&b1.pi), t.secs_pa, SLOT(0)), SGX_CHILD_PRESENT);
	snap_same(&s, t.secs_pa);
	cr_assert_eq(slot_val(SLOT(0)), 0);
	cr_assert_eq(b1.page[0], 0xEE);
}

Test(ewb, writes_blob_pcmd_and_linaddr)
{
	add_page(0x5000, REG_RX);
	uint8_t before[SGX_PAGE_SIZE];
	memcpy(before, ptr(th_pa(&t, 0x5000)), sizeof(before));
	uint64_t eid = secs_view(t.secs_pa).eid;
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0x5000)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	prep_b1();
	assert_ok_clean(ewb_raw(u(&b1.pi), th_pa(&t, 0x5000), SLOT(7)));
	cr_assert_eq(b1.pi.linaddr, t.base + 0x5000, "LINADDR written back");
	cr_assert_eq(b1.pi.srcpge, u(b1.page));
	cr_assert_eq(b1.pi.secs, 0);
	cr_assert_eq(b1.pcmd.secinfo.flags, REG_RX, "PCMD.SECINFO = PT and RWX of the page");
	cr_assert(memcmp(b1.pcmd.secinfo.reserved, zero_page, sizeof(b1.pcmd.secinfo.reserved)) == 0);
	cr_assert_eq(b1.pcmd.enclave_id, eid);
	cr_assert(memcmp(b1.pcmd.reserved, zero_page, sizeof(b1.pcmd.reserved)) == 0);
	cr_assert(memcmp(b1.page, before, sizeof(before)) != 0, "the blob is encrypted");
	cr_assert_neq(slot_val(SLOT(7)), 0, "the slot holds the version");
	assert_free(th_pa(&t, 0x5000));
	cr_assert_eq(secs_view(t.secs_pa).child_count, 0);
	/* ELDU gives the page back byte for byte, unblocked, slot cleared. */
	assert_ok_clean(eldu_page(&b1, 0x5000, SLOT(7)));
	cr_assert(memcmp(ptr(th_pa(&t, 0x5000)), before, sizeof(before)) == 0);
	struct hw_epcm_view e = epcm(th_pa(&t, 0x5000));
	cr_assert(e.valid && e.pt == SGX_PT_REG && e.r && !e.w && e.x && !e.blocked && !e.pending && !e.modified &&
		  !e.pr && e.enclave_address == t.base + 0x5000 && e.enclave_secs == t.secs_pa);
	cr_assert_eq(slot_val(SLOT(7)), 0);
	cr_assert_eq(secs_view(t.secs_pa).child_count, 1);
}

Test(ewb, occupied_slot_completes_with_cf)
{
	add_page(0, REG_RW);
	add_page(0x1000, REG_RW);
	uint8_t want[SGX_PAGE_SIZE];
	memcpy(want, ptr(th_pa(&t, 0x1000)), sizeof(want));
	evict(0, &b1, SLOT(0));
	uint64_t v1 = slot_val(SLOT(0));
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0x1000)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	b2.pi = (struct sgx_pageinfo){.srcpge = u(b2.page), .secinfo = u(&b2.pcmd)};
	struct hw_regs r = {
	    .rax = ENCLS_EWB, .rbx = u(&b2.pi), .rcx = th_pa(&t, 0x1000), .rdx = SLOT(0), .rflags = 0x2 | (1u << 6)};
	struct hw_result res = hw_encls(t.m, NULL, &r);
	cr_assert(res.kind == HW_OK && res.rax == SGX_VA_SLOT_OCCUPIED && res.cf && !res.zf, "got %s", th_fmt(res));
	cr_assert_eq(r.rax, SGX_VA_SLOT_OCCUPIED);
	cr_assert_eq(r.rflags & ((1u << 0) | (1u << 6)), 1u << 0, "CF=1, ZF=0");
	uint64_t v2 = slot_val(SLOT(0));
	cr_assert(v2 != 0 && v2 != v1, "the slot holds the new version");
	assert_free(th_pa(&t, 0x1000));
	/* The first blob's version is gone; the second loads. */
	assert_zf(eldu_page(&b1, 0, SLOT(0)), SGX_MAC_COMPARE_FAIL);
	assert_ok_clean(eldu_page(&b2, 0x1000, SLOT(0)));
	cr_assert(memcmp(ptr(th_pa(&t, 0x1000)), want, sizeof(want)) == 0);
}

Test(ewb, versions_unique_and_nonzero)
{
	add_page(0, REG_RW);
	uint64_t seen[16];
	for (int i = 0; i < 16; i++) {
		evict(0, &b1, SLOT(0));
		seen[i] = slot_val(SLOT(0));
		cr_assert_neq(seen[i], 0);
		for (int j = 0; j < i; j++)
			cr_assert_neq(seen[i], seen[j]);
		assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
	}
}

Test(ewb, pcmd_records_pending_modified_pr)
{
	add_page(0, REG_RW);
	set_state_bits(0, true, false, true);
	add_page(0x1000, REG_RW);
	make_trim(0x1000, false);
	evict(0, &b1, SLOT(0));
	evict(0x1000, &b2, SLOT(1));
	cr_assert_eq(b1.pcmd.secinfo.flags, REG_RW | SGX_SECINFO_PENDING | SGX_SECINFO_PR);
	cr_assert_eq(b2.pcmd.secinfo.flags, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED);
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
	assert_ok_clean(eldu_page(&b2, 0x1000, SLOT(1)));
	struct hw_epcm_view e = epcm(th_pa(&t, 0));
	cr_assert(e.pt == SGX_PT_REG && e.r && e.w && !e.x && e.pending && !e.modified && e.pr);
	e = epcm(th_pa(&t, 0x1000));
	cr_assert(e.pt == SGX_PT_TRIM && !e.r && !e.w && !e.x && !e.pending && e.modified && !e.pr);
}

Test(ewb, tcs_round_trip)
{
	add_page(0x2000, TCS_FLAGS);
	uint8_t want[SGX_PAGE_SIZE];
	memcpy(want, ptr(th_pa(&t, 0x2000)), sizeof(want));
	evict(0x2000, &b1, SLOT(2));
	cr_assert_eq(b1.pcmd.secinfo.flags, TCS_FLAGS);
	assert_ok_clean(eldu_page(&b1, 0x2000, SLOT(2)));
	cr_assert(memcmp(ptr(th_pa(&t, 0x2000)), want, sizeof(want)) == 0);
	cr_assert_eq(epcm(th_pa(&t, 0x2000)).pt, SGX_PT_TCS);
}

/* ---- EWB / ELDU through a page table (operands are linear addresses) ---- */

static struct pagetable strict;
static uint8_t io_pi[4096] __attribute__((aligned(4096)));
static uint8_t io_pcmd[4096] __attribute__((aligned(4096)));
static uint8_t io_src[4096] __attribute__((aligned(4096)));
#define LIN_PI	 0x500000000000ULL
#define LIN_PCMD 0x500000001000ULL
#define LIN_SRC	 0x500000002000ULL

static void strict_setup(unsigned pi_prot, unsigned pcmd_prot, unsigned src_prot)
{
	cr_assert_eq(pagetable_init(&strict, false), 0);
	if (pi_prot)
		cr_assert_eq(pagetable_map(&strict, LIN_PI, u(io_pi), pi_prot), 0);
	if (pcmd_prot)
		cr_assert_eq(pagetable_map(&strict, LIN_PCMD, u(io_pcmd), pcmd_prot), 0);
	if (src_prot)
		cr_assert_eq(pagetable_map(&strict, LIN_SRC, u(io_src), src_prot), 0);
	memset(io_pi, 0xEE, sizeof(io_pi));
	memset(io_pcmd, 0xEE, sizeof(io_pcmd));
	memset(io_src, 0xEE, sizeof(io_src));
	struct sgx_pageinfo pi = {.srcpge = LIN_SRC, .secinfo = LIN_PCMD};
	memcpy(io_pi, &pi, sizeof(pi));
}

static void strict_outputs_untouched(void)
{
	struct sgx_pageinfo pi;
	memcpy(&pi, io_pi, sizeof(pi));
	cr_assert_eq(pi.linaddr, 0);
	cr_assert_eq(io_pcmd[0], 0xEE);
	cr_assert_eq(io_pcmd[127], 0xEE);
	cr_assert_eq(io_src[0], 0xEE);
	cr_assert_eq(io_src[4095], 0xEE);
}

#define RW (HW_ACC_R | HW_ACC_W)

Test(ewb, through_page_tables)
{
	ready();
	uint8_t want[SGX_PAGE_SIZE];
	memcpy(want, ptr(th_pa(&t, 0)), sizeof(want));
	strict_setup(RW, RW, RW);
	assert_ok_clean(encls_ewb(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)));
	struct sgx_pageinfo pi;
	memcpy(&pi, io_pi, sizeof(pi));
	cr_assert_eq(pi.linaddr, t.base);
	/* The same bytes load through the page tables and through plain pointers. */
	pi.secs = t.secs_pa;
	memcpy(io_pi, &pi, sizeof(pi));
	assert_ok_clean(encls_eldu(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)));
	cr_assert(memcmp(ptr(th_pa(&t, 0)), want, sizeof(want)) == 0);
	pagetable_fini(&strict);
}

Test(ewb, pageinfo_not_mapped_pf)
{
	ready();
	strict_setup(0, RW, RW);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_pf(encls_ewb(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), LIN_PI, 0);
	snap_same(&s, th_pa(&t, 0));
	cr_assert_eq(slot_val(SLOT(0)), 0);
	pagetable_fini(&strict);
}

Test(ewb, srcpge_not_writable_pf)
{
	ready();
	strict_setup(RW, RW, HW_ACC_R);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_pf(encls_ewb(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), LIN_SRC, PF_P | PF_W);
	snap_same(&s, th_pa(&t, 0));
	cr_assert_eq(slot_val(SLOT(0)), 0);
	strict_outputs_untouched();
	pagetable_fini(&strict);
}

Test(ewb, srcpge_not_mapped_pf)
{
	ready();
	strict_setup(RW, RW, 0);
	expect_pf(encls_ewb(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), LIN_SRC, PF_W);
	cr_assert(epcm(th_pa(&t, 0)).valid);
	strict_outputs_untouched();
	pagetable_fini(&strict);
}

Test(ewb, pcmd_not_writable_pf)
{
	ready();
	strict_setup(RW, HW_ACC_R, RW);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_pf(encls_ewb(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), LIN_PCMD, PF_P | PF_W);
	snap_same(&s, th_pa(&t, 0));
	cr_assert_eq(slot_val(SLOT(0)), 0);
	strict_outputs_untouched();
	pagetable_fini(&strict);
}

Test(ewb, pageinfo_not_writable_pf)
{
	ready();
	strict_setup(HW_ACC_R, RW, RW);
	struct snap s;
	snap_take(&s, th_pa(&t, 0));
	expect_pf(encls_ewb(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), LIN_PI, PF_P | PF_W);
	snap_same(&s, th_pa(&t, 0));
	cr_assert_eq(slot_val(SLOT(0)), 0);
	strict_outputs_untouched();
	pagetable_fini(&strict);
}

Test(ewb, code_checks_before_output_faults)
{
	/* Not blocked and nothing writable: the SGX code comes first, nothing is stored. */
	add_page(0, REG_RW);
	strict_setup(HW_ACC_R, 0, 0);
	assert_zf(encls_ewb(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), SGX_PAGE_NOT_BLOCKED);
	pagetable_fini(&strict);
}

/* ==== ELDU / ELDB ==== */

TestSuite(eldu, .init = fresh, .fini = done, .timeout = 60);

static uint8_t want0[SGX_PAGE_SIZE];

/* Page 0 (RW) evicted into b1 / SLOT(0); its contents in want0. */
static void evicted(void)
{
	add_page(0, REG_RW);
	memcpy(want0, ptr(th_pa(&t, 0)), sizeof(want0));
	evict(0, &b1, SLOT(0));
}

/* ELDU failed: frame still free, slot still holds v, child count unchanged. */
static void eld_nothing_changed(uint64_t pa, uint64_t slot, uint64_t v, uint64_t children)
{
	assert_free(pa);
	/* A free frame reads zeros, also after a refused blob was decrypted into it. */
	for (size_t i = 0; i < SGX_PAGE_SIZE; i++)
		cr_assert_eq(ptr(pa)[i], 0, "byte %zu of the free frame is %#x", i, ptr(pa)[i]);
	cr_assert_eq(slot_val(slot), v);
	cr_assert_eq(secs_view(t.secs_pa).child_count, children);
}

static struct hw_result eld_raw(bool blocked, uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	return (blocked ? encls_eldb : encls_eldu)(t.m, NULL, rbx, rcx, rdx);
}

static void set_ld_pi(const struct blob *b, uint64_t linaddr, uint64_t secs)
{
	ld_pi = (struct sgx_pageinfo){.linaddr = linaddr, .srcpge = u(b->page), .secinfo = u(&b->pcmd), .secs = secs};
}

Test(eldu, success_restores_page_unblocked)
{
	evicted();
	uint64_t children = secs_view(t.secs_pa).child_count;
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
	cr_assert(memcmp(ptr(th_pa(&t, 0)), want0, sizeof(want0)) == 0);
	struct hw_epcm_view e = epcm(th_pa(&t, 0));
	cr_assert(e.valid && e.pt == SGX_PT_REG && e.r && e.w && !e.x && !e.blocked && !e.pending && !e.modified &&
		  !e.pr && e.enclave_address == t.base && e.enclave_secs == t.secs_pa);
	cr_assert_eq(slot_val(SLOT(0)), 0, "the slot is consumed");
	cr_assert_eq(secs_view(t.secs_pa).child_count, children + 1);
}

Test(eldu, eldb_loads_child_blocked)
{
	evicted();
	assert_ok_clean(eld(true, &b1, t.base, t.secs_pa, th_pa(&t, 0), SLOT(0)));
	cr_assert(memcmp(ptr(th_pa(&t, 0)), want0, sizeof(want0)) == 0);
	struct hw_epcm_view e = epcm(th_pa(&t, 0));
	cr_assert(e.valid && e.blocked && e.pt == SGX_PT_REG && e.r && e.w);
	cr_assert_eq(slot_val(SLOT(0)), 0);
	assert_cf(encls_eblock(t.m, th_pa(&t, 0)), SGX_BLKSTATE);
}

Test(eldu, eldb_page_evictable_without_new_etrack)
{
	evicted();
	assert_ok_clean(eld(true, &b1, t.base, t.secs_pa, th_pa(&t, 0), SLOT(0)));
	assert_ok_clean(ewb_to(&b2, th_pa(&t, 0), SLOT(1)));
	assert_ok_clean(eldu_page(&b2, 0, SLOT(1)));
	cr_assert(memcmp(ptr(th_pa(&t, 0)), want0, sizeof(want0)) == 0);
}

Test(eldu, into_another_frame)
{
	evicted();
	uint64_t f = new_frame();
	assert_ok_clean(eld(false, &b1, t.base, t.secs_pa, f, SLOT(0)));
	cr_assert(memcmp(ptr(f), want0, sizeof(want0)) == 0);
	cr_assert_eq(epcm(f).enclave_address, t.base);
}

Test(eldu, through_encls_dispatch)
{
	evicted();
	set_ld_pi(&b1, t.base, t.secs_pa);
	struct hw_regs r = {.rax = ENCLS_ELDU, .rbx = u(&ld_pi), .rcx = th_pa(&t, 0), .rdx = SLOT(1), .rflags = 0x2};
	assert_zf(hw_encls(t.m, NULL, &r), SGX_MAC_COMPARE_FAIL);
	cr_assert_eq(r.rax, SGX_MAC_COMPARE_FAIL);
	cr_assert_eq(r.rflags & ((1u << 0) | (1u << 6)), 1u << 6, "ZF=1, CF=0");
	r = (struct hw_regs){.rax = ENCLS_ELDB, .rbx = u(&ld_pi), .rcx = th_pa(&t, 0), .rdx = SLOT(0), .rflags = 0x43};
	assert_ok_clean(hw_encls(t.m, NULL, &r));
	cr_assert_eq(r.rax, 0);
	cr_assert_eq(r.rflags & ((1u << 0) | (1u << 6)), 0);
	cr_assert(epcm(th_pa(&t, 0)).blocked);
}

Test(eldu, pageinfo_misaligned_gp)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	static uint8_t buf[64] __attribute__((aligned(64)));
	set_ld_pi(&b1, t.base, t.secs_pa);
	memcpy(buf + 8, &ld_pi, sizeof(ld_pi));
	expect_gp(eld_raw(false, u(buf + 8), th_pa(&t, 0), SLOT(0)));
	expect_gp(eld_raw(true, u(buf + 8), th_pa(&t, 0), SLOT(0)));
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, page_misaligned_gp)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_gp(eld_raw(false, u(&ld_pi), th_pa(&t, 0) + 0x10, SLOT(0)));
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, slot_misaligned_gp)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_gp(eld_raw(false, u(&ld_pi), th_pa(&t, 0), SLOT(0) + 2));
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, page_not_epc_pf)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	evicted();
	uint64_t v = slot_val(SLOT(0));
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_pf(eld_raw(false, u(&ld_pi), u(plain), SLOT(0)), u(plain), PF_EPC_W);
	cr_assert_eq(slot_val(SLOT(0)), v);
}

Test(eldu, slot_not_epc_pf)
{
	static uint64_t plain[8];
	evicted();
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0), u(&plain[2])), u(&plain[2]), PF_EPC_W);
	assert_free(th_pa(&t, 0));
}

Test(eldu, slot_in_target_page_gp)
{
	evicted();
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_gp(eld_raw(false, u(&ld_pi), th_pa(&t, 0), th_pa(&t, 0) + 8));
	assert_free(th_pa(&t, 0));
}

Test(eldu, pcmd_misaligned_gp)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	set_ld_pi(&b1, t.base, t.secs_pa);
	ld_pi.secinfo += 64;
	expect_gp(eld_raw(false, u(&ld_pi), th_pa(&t, 0), SLOT(0)));
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, srcpge_misaligned_gp)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	set_ld_pi(&b1, t.base, t.secs_pa);
	ld_pi.srcpge += 8;
	expect_gp(eld_raw(false, u(&ld_pi), th_pa(&t, 0), SLOT(0)));
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, target_valid_pf)
{
	evicted();
	add_page(0x1000, REG_RW);
	uint64_t v = slot_val(SLOT(0));
	struct snap s;
	snap_take(&s, th_pa(&t, 0x1000));
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0x1000), SLOT(0)), th_pa(&t, 0x1000), PF_EPC_W);
	snap_same(&s, th_pa(&t, 0x1000));
	cr_assert_eq(slot_val(SLOT(0)), v);
}

Test(eldu, va_page_invalid_pf)
{
	evicted();
	uint64_t novap = new_frame();
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0), novap + 24), novap + 24, PF_EPC_W);
	assert_free(th_pa(&t, 0));
}

Test(eldu, slot_in_reg_page_pf)
{
	evicted();
	add_page(0x1000, REG_RW);
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0), th_pa(&t, 0x1000)), th_pa(&t, 0x1000), PF_EPC_W);
	assert_free(th_pa(&t, 0));
}

Test(eldu, target_checked_before_va_page)
{
	evicted();
	add_page(0x1000, REG_RW);
	uint64_t novap = new_frame();
	set_ld_pi(&b1, t.base, t.secs_pa);
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0x1000), novap), th_pa(&t, 0x1000), PF_EPC_W);
}

Test(eldu, secs_misaligned_gp)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	set_ld_pi(&b1, t.base, t.secs_pa + 0x40);
	expect_gp(eld_raw(false, u(&ld_pi), th_pa(&t, 0), SLOT(0)));
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, secs_not_epc_pf)
{
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	evicted();
	uint64_t v = slot_val(SLOT(0));
	set_ld_pi(&b1, t.base, u(plain));
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0), SLOT(0)), u(plain), PF_EPC_R);
	set_ld_pi(&b1, t.base, 0);
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0), SLOT(0)), 0, PF_EPC_R);
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, secs_not_a_secs_pf)
{
	evicted();
	add_page(0x1000, REG_RW);
	uint64_t v = slot_val(SLOT(0));
	set_ld_pi(&b1, t.base, th_pa(&t, 0x1000));
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0), SLOT(0)), th_pa(&t, 0x1000), PF_EPC_R);
	set_ld_pi(&b1, t.base, va);
	expect_pf(eld_raw(false, u(&ld_pi), th_pa(&t, 0), SLOT(0)), va, PF_EPC_R);
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 1);
}

Test(eldu, secs_blob_with_pageinfo_secs_gp)
{
	/* SECS and VA blobs take PAGEINFO.SECS = 0. */
	evicted();
	uint64_t eid = secs_view(t.secs_pa).eid;
	assert_ok_clean(ewb_to(&b2, t.secs_pa, SLOT(1)));
	cr_assert_eq(b2.pcmd.secinfo.flags, SGX_SECINFO_PT(SGX_PT_SECS));
	cr_assert_eq(b2.pcmd.enclave_id, eid, "a SECS blob carries its own EID");
	cr_assert_eq(b2.pi.linaddr, 0);
	uint64_t f = new_frame();
	uint64_t v = slot_val(SLOT(1));
	expect_gp(eld(false, &b2, 0, f, t.secs_pa, SLOT(1)));
	assert_free(t.secs_pa);
	cr_assert_eq(slot_val(SLOT(1)), v);
}

Test(eldu, unknown_page_type_in_pcmd_gp)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	const uint64_t bad_pt[] = {5, 6, 7, 0xFF};
	for (size_t i = 0; i < sizeof(bad_pt) / sizeof(bad_pt[0]); i++) {
		b1.pcmd.secinfo.flags = (b1.pcmd.secinfo.flags & ~SGX_SECINFO_PT_MASK) | SGX_SECINFO_PT(bad_pt[i]);
		expect_gp(eldu_page(&b1, 0, SLOT(0)));
	}
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, operands_through_page_tables_pf)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	struct sgx_pageinfo pi = {.linaddr = t.base, .srcpge = LIN_SRC, .secinfo = LIN_PCMD, .secs = t.secs_pa};
	/* PAGEINFO not mapped. */
	strict_setup(0, RW, RW);
	expect_pf(encls_eldu(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), LIN_PI, 0);
	pagetable_fini(&strict);
	/* PCMD not mapped. */
	strict_setup(HW_ACC_R, 0, HW_ACC_R);
	memcpy(io_pi, &pi, sizeof(pi));
	memcpy(io_src, b1.page, SGX_PAGE_SIZE);
	expect_pf(encls_eldu(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), LIN_PCMD, 0);
	pagetable_fini(&strict);
	/* Blob not mapped (read after the SECS checks: a bad SECS is reported first). */
	strict_setup(HW_ACC_R, HW_ACC_R, 0);
	memcpy(io_pcmd, &b1.pcmd, sizeof(b1.pcmd));
	pi.secs = t.secs_pa + 0x40;
	memcpy(io_pi, &pi, sizeof(pi));
	expect_gp(encls_eldu(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)));
	pi.secs = t.secs_pa;
	memcpy(io_pi, &pi, sizeof(pi));
	expect_pf(encls_eldu(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)), LIN_SRC, 0);
	/* Everything readable (read-only is enough): loads. */
	cr_assert_eq(pagetable_map(&strict, LIN_SRC, u(io_src), HW_ACC_R), 0);
	memcpy(io_src, b1.page, SGX_PAGE_SIZE);
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
	assert_ok_clean(encls_eldu(t.m, &strict.mmu, LIN_PI, th_pa(&t, 0), SLOT(0)));
	cr_assert(memcmp(ptr(th_pa(&t, 0)), want0, sizeof(want0)) == 0);
	pagetable_fini(&strict);
}

/* ---- refused blobs: SGX_MAC_COMPARE_FAIL, nothing changed ---- */

Test(eldu, empty_slot_mac_compare_fail)
{
	evicted();
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
	evict(0x0, &b2, SLOT(1));
	/* b1's slot was consumed: loading it again (a replay) fails. */
	assert_zf(eldu_page(&b1, 0, SLOT(0)), SGX_MAC_COMPARE_FAIL);
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), 0, 0);
}

Test(eldu, replay_of_older_blob_mac_compare_fail)
{
	/* 1. EWB v1; 2. ELDU; 3. change the page; 4. EWB v2 into the same slot; 5. v1 is refused. */
	evicted();
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
	ptr(th_pa(&t, 0))[100] ^= 0x5A;
	uint8_t want[SGX_PAGE_SIZE];
	memcpy(want, ptr(th_pa(&t, 0)), sizeof(want));
	evict(0, &b2, SLOT(0));
	uint64_t v2 = slot_val(SLOT(0));
	assert_zf(eldu_page(&b1, 0, SLOT(0)), SGX_MAC_COMPARE_FAIL);
	assert_zf(eld(true, &b1, t.base, t.secs_pa, th_pa(&t, 0), SLOT(0)), SGX_MAC_COMPARE_FAIL);
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v2, 0);
	assert_ok_clean(eldu_page(&b2, 0, SLOT(0)));
	cr_assert(memcmp(ptr(th_pa(&t, 0)), want, sizeof(want)) == 0);
}

Test(eldu, wrong_slot_mac_compare_fail)
{
	evicted();
	add_page(0x1000, REG_RW);
	evict(0x1000, &b2, SLOT(1));
	uint64_t v0 = slot_val(SLOT(0)), v1 = slot_val(SLOT(1));
	assert_zf(eldu_page(&b1, 0, SLOT(1)), SGX_MAC_COMPARE_FAIL);
	assert_zf(eldu_page(&b1, 0, SLOT(2)), SGX_MAC_COMPARE_FAIL);
	eld_nothing_changed(th_pa(&t, 0), SLOT(1), v1, 0);
	cr_assert_eq(slot_val(SLOT(0)), v0);
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
	assert_ok_clean(eldu_page(&b2, 0x1000, SLOT(1)));
}

Test(eldu, wrong_secs_mac_compare_fail)
{
	evicted();
	struct th o;
	second_enclave(&o);
	uint64_t v = slot_val(SLOT(0));
	assert_zf(eld(false, &b1, t.base, o.secs_pa, th_pa(&t, 0), SLOT(0)), SGX_MAC_COMPARE_FAIL);
	assert_zf(eld(false, &b1, o.base, o.secs_pa, th_pa(&o, 0), SLOT(0)), SGX_MAC_COMPARE_FAIL);
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
	assert_free(th_pa(&o, 0));
	cr_assert_eq(secs_view(o.secs_pa).child_count, 0);
}

Test(eldu, wrong_linaddr_mac_compare_fail)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	assert_zf(eld(false, &b1, t.base + 0x1000, t.secs_pa, th_pa(&t, 0), SLOT(0)), SGX_MAC_COMPARE_FAIL);
	assert_zf(eld(false, &b1, t.base + 1, t.secs_pa, th_pa(&t, 0), SLOT(0)), SGX_MAC_COMPARE_FAIL);
	assert_zf(eld(false, &b1, 0, t.secs_pa, th_pa(&t, 0), SLOT(0)), SGX_MAC_COMPARE_FAIL);
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

Test(eldu, altered_contents_mac_compare_fail)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	const size_t at[] = {0, 1, 2047, 4095};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		b1.page[at[i]] ^= 0x01;
		assert_zf(eldu_page(&b1, 0, SLOT(0)), SGX_MAC_COMPARE_FAIL);
		b1.page[at[i]] ^= 0x01;
	}
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
}

Test(eldu, altered_pcmd_refused)
{
	/* Every byte of the PCMD is bound: the page-type byte may also turn the blob into one that faults. */
	evicted();
	uint64_t v = slot_val(SLOT(0));
	for (size_t i = 0; i < sizeof(struct sgx_pcmd); i++) {
		uint8_t *p = (uint8_t *)&b1.pcmd + i;
		*p ^= 0x80;
		struct hw_result r = eldu_page(&b1, 0, SLOT(0));
		if (i == 1)
			th_assert_gp(r); /* PT 0x82: no such page type */
		else
			assert_zf(r, SGX_MAC_COMPARE_FAIL);
		*p ^= 0x80;
	}
	/* The PT byte turned into other valid types: a TCS or TRIM blob (same SECS) or a SECS/VA blob. */
	const uint64_t types[] = {SGX_PT_TCS, SGX_PT_TRIM};
	for (size_t i = 0; i < 2; i++) {
		b1.pcmd.secinfo.flags = REG_RW - SGX_SECINFO_PT(SGX_PT_REG) + SGX_SECINFO_PT(types[i]);
		assert_zf(eldu_page(&b1, 0, SLOT(0)), SGX_MAC_COMPARE_FAIL);
	}
	b1.pcmd.secinfo.flags = REG_RW - SGX_SECINFO_PT(SGX_PT_REG) + SGX_SECINFO_PT(SGX_PT_VA);
	assert_zf(eld(false, &b1, t.base, 0, th_pa(&t, 0), SLOT(0)), SGX_MAC_COMPARE_FAIL);
	b1.pcmd.secinfo.flags = REG_RW;
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
}

Test(eldu, altered_eid_mac_compare_fail)
{
	evicted();
	b1.pcmd.enclave_id++;
	assert_zf(eldu_page(&b1, 0, SLOT(0)), SGX_MAC_COMPARE_FAIL);
	b1.pcmd.enclave_id--;
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
}

Test(eldu, altered_tag_mac_compare_fail)
{
	evicted();
	uint64_t v = slot_val(SLOT(0));
	for (size_t i = 0; i < sizeof(b1.pcmd.mac); i++) {
		b1.pcmd.mac[i] ^= 0x10;
		assert_zf(eldu_page(&b1, 0, SLOT(0)), SGX_MAC_COMPARE_FAIL);
		b1.pcmd.mac[i] ^= 0x10;
	}
	eld_nothing_changed(th_pa(&t, 0), SLOT(0), v, 0);
}

/* ==== SECS and VA page eviction ==== */

TestSuite(evict_meta, .init = fresh, .fini = done, .timeout = 60);

Test(evict_meta, secs_evicted_after_all_children)
{
	/*
	 * 1. SECS with a resident child: SGX_CHILD_PRESENT.  2. Evict both
	 * children, then the SECS (no EBLOCK/ETRACK needed).  3. A child cannot
	 * load while its SECS is out.  4. Reload the SECS into another frame:
	 * same EID, epoch; the children load against it.
	 */
	add_page(0, REG_RW);
	add_page(0x1000, TCS_FLAGS);
	uint8_t w0[SGX_PAGE_SIZE], w1[SGX_PAGE_SIZE], ws[SGX_PAGE_SIZE];
	memcpy(w0, ptr(th_pa(&t, 0)), sizeof(w0));
	memcpy(w1, ptr(th_pa(&t, 0x1000)), sizeof(w1));
	memcpy(ws, ptr(t.secs_pa), sizeof(ws));
	struct hw_secs_view before = secs_view(t.secs_pa);

	evict(0, &b1, SLOT(0));
	assert_zf(ewb_to(&b3, t.secs_pa, SLOT(2)), SGX_CHILD_PRESENT);
	evict(0x1000, &b2, SLOT(1));
	assert_ok_clean(ewb_to(&b3, t.secs_pa, SLOT(2)));
	cr_assert_eq(b3.pcmd.secinfo.flags, SGX_SECINFO_PT(SGX_PT_SECS));
	cr_assert_eq(b3.pcmd.enclave_id, before.eid);
	assert_free(t.secs_pa);

	expect_pf(eldu_page(&b1, 0, SLOT(0)), t.secs_pa, PF_EPC_R);
	assert_free(th_pa(&t, 0));

	uint64_t s2 = new_frame();
	assert_ok_clean(eld(false, &b3, 0, 0, s2, SLOT(2)));
	cr_assert(memcmp(ptr(s2), ws, sizeof(ws)) == 0, "SECS page restored with its private state");
	struct hw_epcm_view e = epcm(s2);
	cr_assert(e.valid && e.pt == SGX_PT_SECS && !e.blocked && e.enclave_address == 0 && e.enclave_secs == 0);
	struct hw_secs_view after = secs_view(s2);
	cr_assert_eq(after.eid, before.eid);
	cr_assert_eq(after.epoch, before.epoch + 2);
	cr_assert_eq(after.child_count, 0);
	cr_assert(memcmp(after.mrenclave_now, before.mrenclave_now, 32) == 0);

	assert_ok_clean(eld(false, &b1, t.base, s2, th_pa(&t, 0), SLOT(0)));
	assert_ok_clean(eld(false, &b2, t.base + 0x1000, s2, th_pa(&t, 0x1000), SLOT(1)));
	cr_assert(memcmp(ptr(th_pa(&t, 0)), w0, sizeof(w0)) == 0);
	cr_assert(memcmp(ptr(th_pa(&t, 0x1000)), w1, sizeof(w1)) == 0);
	cr_assert_eq(epcm(th_pa(&t, 0x1000)).enclave_secs, s2);
	cr_assert_eq(epcm(th_pa(&t, 0x1000)).pt, SGX_PT_TCS);
	cr_assert_eq(secs_view(s2).child_count, 2);
	/* The reloaded enclave works as before: its pages evict against the new SECS frame. */
	assert_ok_clean(encls_eblock(t.m, th_pa(&t, 0)));
	assert_ok_clean(encls_etrack(t.m, s2));
	assert_ok_clean(ewb_to(&b1, th_pa(&t, 0), SLOT(0)));
}

Test(evict_meta, secs_eldb_loads_unblocked)
{
	assert_ok_clean(ewb_to(&b3, t.secs_pa, SLOT(2)));
	assert_ok_clean(eld(true, &b3, 0, 0, t.secs_pa, SLOT(2)));
	cr_assert(!epcm(t.secs_pa).blocked);
	cr_assert(secs_view(t.secs_pa).eid);
}

Test(evict_meta, secs_blob_replay_refused)
{
	assert_ok_clean(ewb_to(&b1, t.secs_pa, SLOT(0)));
	assert_ok_clean(eld(false, &b1, 0, 0, t.secs_pa, SLOT(0)));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	assert_ok_clean(ewb_to(&b2, t.secs_pa, SLOT(0)));
	assert_zf(eld(false, &b1, 0, 0, t.secs_pa, SLOT(0)), SGX_MAC_COMPARE_FAIL);
	assert_free(t.secs_pa);
	assert_ok_clean(eld(false, &b2, 0, 0, t.secs_pa, SLOT(0)));
	cr_assert_eq(secs_view(t.secs_pa).epoch, 1);
}

Test(evict_meta, va_page_evicted_and_reloaded_keeps_slots)
{
	/*
	 * 1. Three pages evicted into slots of VA page `va`.  2. `va` itself is
	 * evicted into a slot of a second VA page (no EBLOCK/ETRACK).  3. While
	 * `va` is out its slots cannot be used.  4. Reload `va` into another frame;
	 * the pages load from its slots there.
	 */
	uint8_t want[3][SGX_PAGE_SIZE];
	struct blob *bl[3] = {&b1, &b2, &b3};
	for (int i = 0; i < 3; i++) {
		add_page((uint64_t)i * 0x1000, REG_RW);
		memcpy(want[i], ptr(th_pa(&t, (uint64_t)i * 0x1000)), SGX_PAGE_SIZE);
		evict((uint64_t)i * 0x1000, bl[i], SLOT(10 + i));
	}
	uint64_t va2 = new_frame();
	epa(va2);
	static struct blob vb;
	assert_ok_clean(ewb_to(&vb, va, va2 + 8 * 5));
	cr_assert_eq(vb.pcmd.secinfo.flags, SGX_SECINFO_PT(SGX_PT_VA));
	cr_assert_eq(vb.pcmd.enclave_id, 0);
	cr_assert_eq(vb.pi.linaddr, 0);
	assert_free(va);

	expect_pf(eldu_page(&b1, 0, SLOT(10)), SLOT(10), PF_EPC_W);

	uint64_t va3 = new_frame();
	assert_ok_clean(eld(false, &vb, 0, 0, va3, va2 + 8 * 5));
	cr_assert_eq(epcm(va3).pt, SGX_PT_VA);
	cr_assert_eq(slot_val(va2 + 8 * 5), 0);
	for (int i = 0; i < 3; i++) {
		uint64_t off = (uint64_t)i * 0x1000;
		assert_ok_clean(
		    eld(false, bl[i], t.base + off, t.secs_pa, th_pa(&t, off), va3 + 8 * (10 + (uint64_t)i)));
		cr_assert(memcmp(ptr(th_pa(&t, off)), want[i], SGX_PAGE_SIZE) == 0);
	}
}

Test(evict_meta, va_blob_refusals)
{
	uint64_t va2 = new_frame();
	epa(va2);
	add_page(0, REG_RW);
	evict(0, &b1, SLOT(0));
	static struct blob vb;
	assert_ok_clean(ewb_to(&vb, va, va2));
	uint64_t v = slot_val(va2);
	/* PAGEINFO.SECS must be 0; a LINADDR other than 0, a flipped slot byte or a wrong slot fail. */
	expect_gp(eld(false, &vb, 0, t.secs_pa, va, va2));
	assert_zf(eld(false, &vb, 0x1000, 0, va, va2), SGX_MAC_COMPARE_FAIL);
	vb.page[8 * 0] ^= 1;
	assert_zf(eld(false, &vb, 0, 0, va, va2), SGX_MAC_COMPARE_FAIL);
	vb.page[8 * 0] ^= 1;
	assert_zf(eld(false, &vb, 0, 0, va, va2 + 8), SGX_MAC_COMPARE_FAIL);
	assert_free(va);
	cr_assert_eq(slot_val(va2), v);
	assert_ok_clean(eld(true, &vb, 0, 0, va, va2));
	cr_assert(!epcm(va).blocked, "ELDB loads a VA page unblocked");
	assert_ok_clean(eldu_page(&b1, 0, SLOT(0)));
}

/* ==== properties ==== */

/* Where each of NPAGES pages lives, and what it must contain. */
struct model {
	uint8_t want[NPAGES][SGX_PAGE_SIZE];
	struct hw_epcm_view view[NPAGES];
	bool out[NPAGES];
	bool has_blob[NPAGES];
	uint64_t frame[NPAGES]; /* current frame while resident */
	struct blob blob[NPAGES];
	struct blob old[NPAGES]; /* the previous blob of the page (replay material) */
	bool has_old[NPAGES];
};
static struct model md;
static uint64_t alt_window; /* a second set of frames pages may be reloaded into */

static void model_init(void)
{
	static const uint64_t kinds[] = {REG_R, REG_RW, REG_RX, REG_RWX};
	memset(&md, 0, sizeof(md));
	for (uint64_t i = 0; i < NPAGES; i++) {
		uint64_t off = i * SGX_PAGE_SIZE;
		add_page(off, i % 16 == 5 ? TCS_FLAGS : kinds[rnd() % 4]);
		md.frame[i] = th_pa(&t, off);
		memcpy(md.want[i], ptr(md.frame[i]), SGX_PAGE_SIZE);
		md.view[i] = epcm(md.frame[i]);
	}
	alt_window = hw_epc_window_alloc(t.m, ESIZE);
	cr_assert(alt_window);
}

static void model_evict(uint64_t i)
{
	uint64_t pa = md.frame[i];
	if (rnd() % 2) {
		/* The enclave wrote to the page since it was loaded. */
		size_t at = rnd() % (SGX_PAGE_SIZE - 64);
		fill(ptr(pa) + at, 64);
		memcpy(md.want[i] + at, ptr(pa) + at, 64);
	}
	struct hw_result r = encls_eblock(t.m, pa);
	cr_assert(hw_is_ok(r) || hw_is_code(r, SGX_BLKSTATE), "EBLOCK: %s", th_fmt(r));
	assert_ok_clean(encls_etrack(t.m, t.secs_pa));
	if (md.has_blob[i]) {
		md.old[i] = md.blob[i];
		md.has_old[i] = true;
	}
	assert_ok_clean(ewb_to(&md.blob[i], pa, SLOT(i)));
	md.has_blob[i] = true;
	md.out[i] = true;
}

static void model_load(uint64_t i)
{
	uint64_t off = i * SGX_PAGE_SIZE;
	uint64_t pa = rnd() % 4 == 0 ? alt_window + off : th_pa(&t, off);
	bool blocked = rnd() % 4 == 0;
	assert_ok_clean(eld(blocked, &md.blob[i], t.base + off, t.secs_pa, pa, SLOT(i)));
	cr_assert(memcmp(ptr(pa), md.want[i], SGX_PAGE_SIZE) == 0, "page %llu differs after reload",
		  (unsigned long long)i);
	struct hw_epcm_view want = md.view[i];
	want.blocked = blocked;
	cr_assert(view_eq(epcm(pa), want), "EPCM of page %llu differs after reload", (unsigned long long)i);
	cr_assert_eq(slot_val(SLOT(i)), 0);
	md.frame[i] = pa;
	md.out[i] = false;
}

TestSuite(property, .timeout = 60);

Test(property, random_ewb_eldu_cycles_keep_every_byte, .init = fresh, .fini = done, .timeout = 120)
{
	rng_state = 0x243F6A8885A308D3ULL;
	model_init();
	uint64_t cycles = 0;
	while (cycles < 100000) {
		uint64_t i = rnd() % NPAGES;
		if (md.out[i]) {
			model_load(i);
			cycles++;
		} else {
			model_evict(i);
		}
	}
	for (uint64_t i = 0; i < NPAGES; i++)
		if (md.out[i])
			model_load(i);
	cr_assert_eq(secs_view(t.secs_pa).child_count, NPAGES);
}

/* One way of presenting a wrong blob for page i; returns the outcome. */
static struct hw_result tamper(unsigned kind, uint64_t i, struct th *other)
{
	static struct blob x;
	uint64_t off = i * SGX_PAGE_SIZE;
	uint64_t j = (i + 1 + rnd() % (NPAGES - 1)) % NPAGES;
	x = md.blob[i];
	switch (kind) {
	case 0: /* replay of the page's previous blob */
		x = md.old[i];
		break;
	case 1: /* one bit of the contents */
		x.page[rnd() % SGX_PAGE_SIZE] ^= (uint8_t)(1u << (rnd() % 8));
		break;
	case 2: { /* one bit of the PCMD header outside the page type */
		size_t at = rnd() % offsetof(struct sgx_pcmd, mac);
		if (at == 1)
			at = 0;
		((uint8_t *)&x.pcmd)[at] ^= (uint8_t)(1u << (rnd() % 8));
		break;
	}
	case 3: /* one bit of the tag */
		x.pcmd.mac[rnd() % 16] ^= (uint8_t)(1u << (rnd() % 8));
		break;
	case 4: /* another page's slot (occupied or empty) */
		return eld(false, &x, t.base + off, t.secs_pa, th_pa(&t, off), SLOT(j));
	case 5: /* another enclave's SECS */
		return eld(false, &x, t.base + off, other->secs_pa, th_pa(&t, off), SLOT(i));
	case 6: /* another page's address */
		return eld(false, &x, t.base + j * SGX_PAGE_SIZE, t.secs_pa, th_pa(&t, off), SLOT(i));
	case 7: /* another page's blob in this page's slot */
		if (md.has_blob[j])
			x = md.blob[j];
		else
			x.page[0] ^= 1;
		break;
	}
	return eld(rnd() % 2, &x, t.base + off, t.secs_pa, th_pa(&t, off), SLOT(i));
}

Test(property, every_replayed_or_altered_blob_is_refused, .init = fresh, .fini = done, .timeout = 120)
{
	rng_state = 0x13198A2E03707344ULL;
	model_init();
	struct th o;
	second_enclave(&o);
	unsigned refused[8] = {0};
	for (unsigned n = 0; n < 16000; n++) {
		uint64_t i = rnd() % NPAGES;
		if (!md.out[i])
			model_evict(i);
		unsigned kind = n % 8;
		if (kind == 0 && !md.has_old[i])
			kind = 1;
		uint64_t slot_before = slot_val(SLOT(i));
		uint64_t children = secs_view(t.secs_pa).child_count;
		struct hw_result r = tamper(kind, i, &o);
		assert_zf(r, SGX_MAC_COMPARE_FAIL);
		refused[kind]++;
		uint64_t off = i * SGX_PAGE_SIZE;
		cr_assert(!epcm(th_pa(&t, off)).valid);
		cr_assert_eq(slot_val(SLOT(i)), slot_before);
		cr_assert_eq(secs_view(t.secs_pa).child_count, children);
		model_load(i);
	}
	for (unsigned k = 0; k < 8; k++)
		cr_assert_gt(refused[k], 100, "kind %u tried only %u times", k, refused[k]);
}

/* ======================================================================= */
/* Frames EWB keeps with their memory while the EPC has room               */
/* ======================================================================= */

TestSuite(kept, .init = fresh, .fini = done, .timeout = 60);

/* Is the frame's memory in the memfd (not given back)? */
static bool resident(uint64_t pa)
{
	unsigned char v = 0;
	cr_assert_eq(mincore(ptr(HW_PAGE_DOWN(pa)), SGX_PAGE_SIZE, &v), 0);
	return v & 1;
}

static size_t kept_count(void)
{
	return atomic_load(&t.m->kept_count);
}

Test(kept, ewb_keeps_the_frame_zeroed_while_the_epc_has_room)
{
	add_page(0x1000, REG_RW);
	uint64_t pa = th_pa(&t, 0x1000);
	uint8_t before[SGX_PAGE_SIZE];
	memcpy(before, ptr(pa), sizeof(before));
	evict(0x1000, &b1, va);
	assert_free(pa);
	cr_assert(resident(pa), "the frame's memory stays");
	cr_assert_eq(kept_count(), 1);
	assert_ok_clean(eldu_page(&b1, 0x1000, va));
	cr_assert(memcmp(before, ptr(pa), sizeof(before)) == 0, "ELDU brought the contents back");
	cr_assert_eq(kept_count(), 0, "in use again");
}

Test(kept, reserving_the_capacity_gives_kept_frames_back)
{
	add_page(0x1000, REG_RW);
	uint64_t pa = th_pa(&t, 0x1000);
	uint8_t before[SGX_PAGE_SIZE];
	memcpy(before, ptr(pa), sizeof(before));
	evict(0x1000, &b1, va);
	cr_assert(resident(pa));
	/* The OS takes every frame the EPC has: what EWB kept must go. */
	uint64_t n = 0;
	while (hw_epc_reserve(t.m))
		n++;
	cr_assert_eq(n, hw_epc_frames_total(t.m), "every frame reserved");
	cr_assert_eq(kept_count(), 0);
	cr_assert(!resident(pa), "given back to the system");
	assert_free(pa);
	/* EWB with the EPC full gives the memory back at once. */
	for (uint64_t i = 0; i < n; i++)
		hw_epc_release(t.m);
	assert_ok_clean(eldu_page(&b1, 0x1000, va));
	cr_assert(memcmp(before, ptr(pa), sizeof(before)) == 0);
	while (hw_epc_reserve(t.m))
		;
	evict(0x1000, &b2, va);
	cr_assert(!resident(pa));
	cr_assert_eq(kept_count(), 0);
	for (uint64_t i = 0; i < n; i++)
		hw_epc_release(t.m);
}

Test(kept, memory_given_back_later_is_no_longer_kept)
{
	add_page(0x1000, REG_RW);
	add_page(0x2000, REG_RW);
	evict(0x1000, &b1, va);
	evict(0x2000, &b2, va + 8);
	cr_assert_eq(kept_count(), 2);
	/* An AUGMENT batch that stopped early gives back the unused frames of its range: a kept one too. */
	hw_epc_release_unused(t.m, th_pa(&t, 0x1000), SGX_PAGE_SIZE);
	cr_assert_eq(kept_count(), 1);
	cr_assert(!resident(th_pa(&t, 0x1000)));
	cr_assert(resident(th_pa(&t, 0x2000)));
}

/* Threads evicting and loading their own pages while the OS reserves and releases capacity. */
struct kept_worker {
	uint64_t off, slot;
	struct blob b;
	uint8_t want[SGX_PAGE_SIZE];
	unsigned rounds;
};

static void *kept_work(void *arg)
{
	struct kept_worker *w = arg;
	uint64_t pa = th_pa(&t, w->off);
	for (unsigned r = 0; r < w->rounds; r++) {
		evict(w->off, &w->b, w->slot);
		cr_assert_eq(memcmp(ptr(pa), zero_page, SGX_PAGE_SIZE), 0, "an evicted frame reads zeros");
		/* The fixture's ELDU PAGEINFO is one for all: each thread its own. */
		struct sgx_pageinfo pi = {
		    .linaddr = t.base + w->off, .srcpge = u(w->b.page), .secinfo = u(&w->b.pcmd), .secs = t.secs_pa};
		assert_ok_clean(encls_eldu(t.m, NULL, u(&pi), pa, w->slot));
		cr_assert_eq(memcmp(ptr(pa), w->want, SGX_PAGE_SIZE), 0, "round %u lost the contents", r);
	}
	return NULL;
}

static void *kept_reserve(void *arg)
{
	_Atomic bool *stop = arg;
	while (!atomic_load(stop)) {
		uint64_t n = 0;
		while (n < 64 && hw_epc_reserve(t.m))
			n++;
		cr_assert_leq(atomic_load(&t.m->kept_count) + atomic_load(&t.m->frames_used),
			      hw_epc_frames_total(t.m) + 2, "kept frames beyond the free capacity");
		while (n--)
			hw_epc_release(t.m);
	}
	return NULL;
}

Test(kept, concurrent_evictions_and_reservations)
{
	enum { WORKERS = 3 };
	static struct kept_worker w[WORKERS];
	for (unsigned i = 0; i < WORKERS; i++) {
		w[i] = (struct kept_worker){.off = 0x1000 * (i + 1), .slot = va + 8 * i, .rounds = 300};
		add_page(w[i].off, REG_RW);
		memcpy(w[i].want, ptr(th_pa(&t, w[i].off)), SGX_PAGE_SIZE);
	}
	/* The OS holds all but a few frames: keeping and giving back alternate. */
	uint64_t held = 0;
	while (held + 4 < hw_epc_frames_total(t.m) && hw_epc_reserve(t.m))
		held++;
	_Atomic bool stop = false;
	pthread_t r, th[WORKERS];
	cr_assert_eq(pthread_create(&r, NULL, kept_reserve, (void *)&stop), 0);
	for (unsigned i = 0; i < WORKERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, kept_work, &w[i]), 0);
	for (unsigned i = 0; i < WORKERS; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	atomic_store(&stop, true);
	cr_assert_eq(pthread_join(r, NULL), 0);
	cr_assert_eq(kept_count(), 0, "every page is loaded again");
	while (held--)
		hw_epc_release(t.m);
}
