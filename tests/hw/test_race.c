/* SPDX-License-Identifier: MIT */
/*
 * Concurrency of the SGX2 leaves: threads hammer EAUG, EMODPR, EMODT,
 * EREMOVE, ETRACK (as the OS) and EACCEPT, EACCEPTCOPY, EMODPE (as enclave
 * threads that keep leaving and re-entering) on the same few pages, while an
 * observer samples the EPCM.  The leaves must serialise: every outcome is one
 * a serial execution can give (SGX_EPC_PAGE_CONFLICT is tolerated where the
 * SDM allows it), every EPCM entry seen at any time is a legal state, and at
 * the end child counts match, contents are whole, counts of transitions are
 * consistent and every page is still usable.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "harness.h"
#include "internal.h"

#define ENCL_SIZE     0x10000ULL
#define N_ENCLU	      3 /* enclave threads, one TCS each */
#define OFF_TCS(i)    (0x1000ULL * (i))
#define OFF_SSA(i)    (0x3000ULL + 0x1000ULL * (i))
#define OFF_SI	      0x6000ULL /* SECINFO slots, one per enclave thread */
#define OFF_SRC	      0x7000ULL /* EACCEPTCOPY source: a valid TCS image */
#define OFF_RACE      0x8000ULL /* raced pages: 0x8000..0xF000 */
#define N_RACE	      8
#define N_STABLE      (2 * N_ENCLU + 2) /* TCS, SSA, SECINFO and source pages */
#define N_OS	      2
#define ITERATIONS    40000
#define TIME_LIMIT_NS 4000000000LL /* stop early on a slow (sanitizer) build */
#define REENTER_EVERY 48

#define L(off)	    (t.base + (off))
#define P(off)	    th_pa(&t, (off))
#define RACE_OFF(i) (OFF_RACE + 0x1000ULL * (i))

static struct th t;

/* Operations, counted per page and outcome. */
enum op {
	OP_EAUG,
	OP_EMODPR,
	OP_EMODT_TCS,
	OP_EMODT_TRIM,
	OP_EREMOVE,
	OP_EACCEPT_PENDING, /* 0x20B */
	OP_EACCEPT_PR,	    /* REG|PR with R or RW */
	OP_EACCEPT_TCS,	    /* 0x110 */
	OP_EACCEPT_TRIM,    /* 0x410 */
	OP_EACCEPTCOPY,	    /* 0x205 or 0x203 from OFF_SRC */
	OP_EMODPE,
	OP_COUNT
};

enum outcome { OUT_OK, OUT_CODE, OUT_PF, OUT_GP, OUT_CONFLICT, OUT_COUNT };

struct counts {
	uint64_t n[N_RACE][OP_COUNT][OUT_COUNT];
	uint64_t etrack_ok, etrack_incomplete;
	char bad[256]; /* first illegal outcome seen, if any */
};

static _Atomic bool stop;
static pthread_barrier_t start_line;
static _Atomic bool illegal_state;
static char illegal_what[256];
static struct timespec t0;

static long long elapsed_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0.tv_sec) * 1000000000LL + (now.tv_nsec - t0.tv_nsec);
}

/* th_fmt's buffers are shared; threads format into their own. */
struct fmt {
	char s[96];
};

static struct fmt fmt_r(struct hw_result r)
{
	struct fmt f;
	hw_result_format(r, f.s, sizeof(f.s));
	return f;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Record outcome r of op on page i; `legal` says whether a serial execution could give it. */
static void record(struct counts *c, unsigned i, enum op op, struct hw_result r, bool legal)
{
	enum outcome o = OUT_OK;
	if (hw_is_code(r, SGX_EPC_PAGE_CONFLICT))
		o = OUT_CONFLICT;
	else if (r.kind == HW_CODE)
		o = OUT_CODE;
	else if (hw_is_fault(r, X86_PF))
		o = OUT_PF;
	else if (r.kind == HW_FAULT)
		o = OUT_GP;
	c->n[i][op][o]++;
	if (!legal && !c->bad[0])
		snprintf(c->bad, sizeof(c->bad), "page %u op %d: illegal outcome %s", i, (int)op, fmt_r(r).s);
}

static bool is_pf(struct hw_result r, uint64_t addr, uint32_t err)
{
	return hw_is_fault(r, X86_PF) && r.addr == addr && r.errcode == err;
}

/* ---- the OS side: ENCLS ---- */

static void *os_thread(void *arg)
{
	struct counts *c = arg;
	uint64_t seed = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)arg;
	struct sgx_pageinfo pi __attribute__((aligned(32)));
	struct sgx_secinfo si __attribute__((aligned(64)));
	const uint32_t err_w = PF_P | PF_W | PF_SGX;

	pthread_barrier_wait(&start_line);
	for (unsigned it = 0; it < ITERATIONS && !atomic_load(&stop); it++) {
		unsigned i = (unsigned)(xorshift(&seed) % N_RACE);
		uint64_t pa = P(RACE_OFF(i));
		uint64_t rnd = xorshift(&seed);
		struct hw_result r;
		memset(&si, 0, sizeof(si));
		switch (rnd % 16) {
		case 0:
		case 1:
		case 2:
		case 3:
			pi = (struct sgx_pageinfo){.linaddr = L(RACE_OFF(i)), .secs = t.secs_pa};
			r = encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&pi, pa);
			record(c, i, OP_EAUG, r, hw_is_ok(r) || is_pf(r, pa, err_w));
			break;
		case 4:
		case 5:
		case 6:
			si.flags = SGX_SECINFO_PT(SGX_PT_REG) | ((rnd >> 8) & 1 ? 0x1 : 0x3);
			r = encls_emodpr(t.m, NULL, (uint64_t)(uintptr_t)&si, pa);
			record(c, i, OP_EMODPR, r,
			       hw_is_ok(r) || hw_is_code(r, SGX_PAGE_NOT_MODIFIABLE) ||
				   hw_is_code(r, SGX_EPC_PAGE_CONFLICT) || is_pf(r, pa, err_w));
			break;
		case 7:
		case 8:
		case 9: {
			bool tcs = (rnd >> 8) % 3 == 0;
			si.flags = SGX_SECINFO_PT(tcs ? SGX_PT_TCS : SGX_PT_TRIM);
			r = encls_emodt(t.m, NULL, (uint64_t)(uintptr_t)&si, pa);
			record(c, i, tcs ? OP_EMODT_TCS : OP_EMODT_TRIM, r,
			       hw_is_ok(r) || hw_is_code(r, SGX_PAGE_NOT_MODIFIABLE) ||
				   hw_is_code(r, SGX_EPC_PAGE_CONFLICT) || is_pf(r, pa, err_w));
			break;
		}
		case 10:
		case 11:
			r = encls_eremove(t.m, pa);
			record(c, i, OP_EREMOVE, r, hw_is_ok(r) || hw_is_code(r, SGX_ENCLAVE_ACT));
			break;
		case 12:
		case 13:
			/* Give the enclave threads the processor now and then. */
			sched_yield();
			break;
		default:
			r = encls_etrack(t.m, t.secs_pa);
			if (hw_is_ok(r))
				c->etrack_ok++;
			else if (hw_is_code(r, SGX_PREV_TRK_INCMPL))
				c->etrack_incomplete++;
			else if (!c->bad[0])
				snprintf(c->bad, sizeof(c->bad), "ETRACK: illegal outcome %s", fmt_r(r).s);
			break;
		}
	}
	return NULL;
}

/* ---- the enclave side: ENCLU ---- */

struct enclu_arg {
	struct counts c;
	unsigned idx;
	struct hw_thread h;
};

static void eenter(struct hw_thread *h, unsigned idx)
{
	h->regs.rax = ENCLU_EENTER;
	h->regs.rbx = L(OFF_TCS(idx));
	h->regs.rcx = 0x401000;
	struct hw_result r = hw_enclu(h);
	if (!hw_is_ok(r) || !h->in_enclave) {
		if (!atomic_exchange(&illegal_state, true))
			snprintf(illegal_what, sizeof(illegal_what), "EENTER failed: %s", fmt_r(r).s);
	}
}

static void eexit(struct hw_thread *h)
{
	h->regs.rax = ENCLU_EEXIT;
	h->regs.rbx = 0x402000;
	struct hw_result r = hw_enclu(h);
	if (!hw_is_ok(r) || h->in_enclave) {
		if (!atomic_exchange(&illegal_state, true))
			snprintf(illegal_what, sizeof(illegal_what), "EEXIT failed: %s", fmt_r(r).s);
	}
}

static struct hw_result enclu(struct hw_thread *h, uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	h->regs.rax = leaf;
	h->regs.rbx = rbx;
	h->regs.rcx = rcx;
	h->regs.rdx = rdx;
	return hw_enclu(h);
}

static void *enclu_thread(void *p)
{
	struct enclu_arg *a = p;
	struct counts *c = &a->c;
	struct hw_thread *h = &a->h;
	uint64_t seed = 0xD1B54A32D192ED03ULL * (a->idx + 1);
	struct sgx_secinfo *si = (struct sgx_secinfo *)(uintptr_t)(P(OFF_SI) + 64 * a->idx);
	uint64_t si_lin = L(OFF_SI) + 64 * a->idx;
	const uint32_t err = PF_P | PF_W | PF_U | PF_SGX;

	pthread_barrier_wait(&start_line);
	eenter(h, a->idx);
	for (unsigned it = 0; it < ITERATIONS && !atomic_load(&stop); it++) {
		if (it % REENTER_EVERY == REENTER_EVERY - 1) {
			/* Leave for a while: tracking completes, EREMOVE of any page becomes possible. */
			eexit(h);
			for (uint64_t n = xorshift(&seed) % 16; n; n--)
				sched_yield();
			eenter(h, a->idx);
		}
		unsigned i = (unsigned)(xorshift(&seed) % N_RACE);
		uint64_t lin = L(RACE_OFF(i));
		uint64_t rnd = xorshift(&seed);
		struct hw_result r;
		memset(si, 0, sizeof(*si));
		switch (rnd % 8) {
		case 0:
		case 1:
			si->flags = 0x20B;
			r = enclu(h, ENCLU_EACCEPT, si_lin, lin, 0);
			record(c, i, OP_EACCEPT_PENDING, r,
			       hw_is_ok(r) || hw_is_code(r, SGX_PAGE_ATTRIBUTES_MISMATCH) || is_pf(r, lin, err));
			break;
		case 2:
			si->flags = SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_PR | ((rnd >> 8) & 1 ? 0x1 : 0x3);
			r = enclu(h, ENCLU_EACCEPT, si_lin, lin, 0);
			record(c, i, OP_EACCEPT_PR, r,
			       hw_is_ok(r) || hw_is_code(r, SGX_PAGE_ATTRIBUTES_MISMATCH) ||
				   hw_is_code(r, SGX_NOT_TRACKED) || is_pf(r, lin, err));
			break;
		case 3:
			si->flags = 0x110;
			r = enclu(h, ENCLU_EACCEPT, si_lin, lin, 0);
			/* #GP: the page's contents are not a valid TCS (an EAUG'd zero page). */
			record(c, i, OP_EACCEPT_TCS, r,
			       hw_is_ok(r) || hw_is_code(r, SGX_PAGE_ATTRIBUTES_MISMATCH) ||
				   hw_is_code(r, SGX_NOT_TRACKED) || is_pf(r, lin, err) || hw_is_fault(r, X86_GP));
			break;
		case 4:
			si->flags = 0x410;
			r = enclu(h, ENCLU_EACCEPT, si_lin, lin, 0);
			record(c, i, OP_EACCEPT_TRIM, r,
			       hw_is_ok(r) || hw_is_code(r, SGX_PAGE_ATTRIBUTES_MISMATCH) ||
				   hw_is_code(r, SGX_NOT_TRACKED) || is_pf(r, lin, err));
			break;
		case 5:
		case 6:
			si->flags = (rnd >> 8) & 1 ? 0x205 : 0x203;
			r = enclu(h, ENCLU_EACCEPTCOPY, si_lin, lin, L(OFF_SRC));
			record(c, i, OP_EACCEPTCOPY, r, hw_is_ok(r) || hw_is_code(r, SGX_PAGE_ATTRIBUTES_MISMATCH));
			break;
		default:
			si->flags = (rnd >> 8) & 1 ? 0x5 : 0x3;
			r = enclu(h, ENCLU_EMODPE, si_lin, lin, 0);
			record(c, i, OP_EMODPE, r, hw_is_ok(r) || is_pf(r, lin, err));
			break;
		}
	}
	eexit(h);
	return NULL;
}

/* ---- legality of an EPCM state ---- */

/* Is v a state some serial order of the leaves can leave raced page i in? */
static bool legal_state(unsigned i, const struct hw_epcm_view *v, char *why, size_t len)
{
	if (!v->valid) {
		if (v->pt || v->r || v->w || v->x || v->pending || v->modified || v->pr || v->blocked ||
		    v->enclave_address || v->enclave_secs) {
			snprintf(why, len, "page %u: invalid entry with leftover fields", i);
			return false;
		}
		return true;
	}
	if (v->enclave_address != L(RACE_OFF(i)) || v->enclave_secs != t.secs_pa || v->blocked) {
		snprintf(why, len, "page %u: wrong address/owner or blocked", i);
		return false;
	}
	switch (v->pt) {
	case SGX_PT_REG:
		if (v->modified || (v->w && !v->r)) {
			snprintf(why, len, "page %u: REG modified or W without R", i);
			return false;
		}
		if (v->pending && (!v->r || !v->w || v->x || v->pr)) {
			snprintf(why, len, "page %u: pending page not exactly RW", i);
			return false;
		}
		return true;
	case SGX_PT_TCS:
	case SGX_PT_TRIM:
		if (v->r || v->w || v->x || v->pending || v->pr) {
			snprintf(why, len, "page %u: %s with permissions, PENDING or PR", i,
				 v->pt == SGX_PT_TCS ? "TCS" : "TRIM");
			return false;
		}
		return true;
	default:
		snprintf(why, len, "page %u: page type %u", i, v->pt);
		return false;
	}
}

static void *observer(void *arg)
{
	(void)arg;
	char why[128];
	while (!atomic_load(&stop)) {
		for (unsigned i = 0; i < N_RACE; i++) {
			struct hw_epcm_view v;
			hw_epcm_get(t.m, P(RACE_OFF(i)), &v);
			if (!legal_state(i, &v, why, sizeof(why)) && !atomic_exchange(&illegal_state, true))
				snprintf(illegal_what, sizeof(illegal_what), "observed: %s", why);
		}
		struct hw_secs_view s;
		hw_secs_get(t.m, t.secs_pa, &s);
		if (s.child_count < N_STABLE || s.child_count > N_STABLE + N_RACE) {
			if (!atomic_exchange(&illegal_state, true))
				snprintf(illegal_what, sizeof(illegal_what), "observed child count %llu",
					 (unsigned long long)s.child_count);
		}
	}
	return NULL;
}

static void *timer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		if (elapsed_ns() > TIME_LIMIT_NS)
			atomic_store(&stop, true);
		struct timespec d = {0, 10000000};
		nanosleep(&d, NULL);
	}
	return NULL;
}

/* ---- setup ---- */

static uint8_t src_image[4096];

static void setup(void)
{
	th_setup(&t, ENCL_SIZE);
	pagetable_fini(&t.pt);
	cr_assert_eq(pagetable_init(&t.pt, false), 0);
	for (unsigned i = 0; i < N_ENCLU; i++) {
		struct sgx_tcs tcs;
		memset(&tcs, 0, sizeof(tcs));
		tcs.ossa = OFF_SSA(i);
		tcs.nssa = 1;
		tcs.oentry = OFF_SRC;
		th_assert_ok(th_eadd(&t, OFF_TCS(i), SGX_SECINFO_PT(SGX_PT_TCS), &tcs));
		th_assert_ok(th_eadd(&t, OFF_SSA(i), 0x203, NULL));
		th_map(&t, OFF_TCS(i), HW_ACC_R | HW_ACC_W);
		th_map(&t, OFF_SSA(i), HW_ACC_R | HW_ACC_W);
	}
	/* The source holds a valid TCS image, so copies of it can become TCS pages. */
	struct sgx_tcs *img = (struct sgx_tcs *)src_image;
	memset(src_image, 0, sizeof(src_image));
	img->ossa = OFF_SSA(0);
	img->nssa = 1;
	th_assert_ok(th_eadd(&t, OFF_SI, 0x203, NULL));
	th_assert_ok(th_eadd(&t, OFF_SRC, 0x203, src_image));
	th_map(&t, OFF_SI, HW_ACC_R | HW_ACC_W);
	th_map(&t, OFF_SRC, HW_ACC_R | HW_ACC_W);
	for (unsigned i = 0; i < N_RACE; i++)
		th_map(&t, RACE_OFF(i), HW_ACC_R | HW_ACC_W);
	th_force_init(&t);
}

static bool page_is(uint64_t pa, const uint8_t *want)
{
	return memcmp((const void *)(uintptr_t)pa, want, 4096) == 0;
}

static void merge(struct counts *sum, const struct counts *c)
{
	for (unsigned i = 0; i < N_RACE; i++)
		for (unsigned o = 0; o < OP_COUNT; o++)
			for (unsigned k = 0; k < OUT_COUNT; k++)
				sum->n[i][o][k] += c->n[i][o][k];
	sum->etrack_ok += c->etrack_ok;
	sum->etrack_incomplete += c->etrack_incomplete;
	cr_assert(!c->bad[0], "%s", c->bad);
}

/* EACCEPT(flags) of raced page i by h, entering on TCS 0 (no other thread is inside). */
static struct hw_result accept_as(struct hw_thread *h, unsigned i, uint64_t flags)
{
	struct sgx_secinfo *si = (struct sgx_secinfo *)(uintptr_t)P(OFF_SI);
	memset(si, 0, sizeof(*si));
	si->flags = flags;
	eenter(h, 0);
	struct hw_result r = enclu(h, ENCLU_EACCEPT, L(OFF_SI), L(RACE_OFF(i)), 0);
	eexit(h);
	return r;
}

/*
 * Drive page i serially from whatever state the race left it in: finish
 * pending transitions, trim it, remove it, add and accept it again.  A
 * corrupted entry or tracking state would make one of these steps fail.
 */
static void still_usable(unsigned i, struct hw_thread *h)
{
	static const uint8_t zero[4096];
	uint64_t pa = P(RACE_OFF(i));
	static struct sgx_secinfo hsi;
	struct sgx_pageinfo pi __attribute__((aligned(32))) = {.linaddr = L(RACE_OFF(i)), .secs = t.secs_pa};
	struct hw_epcm_view v;

	cr_assert(hw_epcm_get(t.m, pa, &v));
	if (v.valid && v.pending)
		th_assert_ok(accept_as(h, i, 0x20B));
	if (v.valid && v.modified) {
		th_assert_ok(encls_etrack(t.m, t.secs_pa));
		struct hw_result r = accept_as(h, i, v.pt == SGX_PT_TCS ? 0x110 : 0x410);
		/* A zero page can never be accepted as a TCS; it stays MODIFIED. */
		if (v.pt == SGX_PT_TCS && page_is(pa, zero))
			th_assert_gp(r);
		else
			th_assert_ok(r);
	}
	cr_assert(hw_epcm_get(t.m, pa, &v));
	if (v.valid && !v.modified && v.pt != SGX_PT_TRIM) {
		memset(&hsi, 0, sizeof(hsi));
		hsi.flags = SGX_SECINFO_PT(SGX_PT_TRIM);
		th_assert_ok(encls_emodt(t.m, NULL, (uint64_t)(uintptr_t)&hsi, pa));
		th_assert_ok(encls_etrack(t.m, t.secs_pa));
		th_assert_ok(accept_as(h, i, 0x410));
	}
	th_assert_ok(encls_eremove(t.m, pa));
	cr_assert(hw_epcm_get(t.m, pa, &v) && !v.valid);
	th_assert_ok(encls_eaug(t.m, NULL, (uint64_t)(uintptr_t)&pi, pa));
	th_assert_ok(accept_as(h, i, 0x20B));
	cr_assert(hw_epcm_get(t.m, pa, &v) && v.valid && v.pt == SGX_PT_REG && v.r && v.w && !v.pending);
	cr_assert(page_is(pa, zero));
}

TestSuite(race, .timeout = 60);

Test(race, sgx2_leaves_on_shared_pages_serialise, .timeout = 60)
{
	setup();
	static struct counts os_counts[N_OS];
	static struct enclu_arg enclu_args[N_ENCLU];
	pthread_t os[N_OS], en[N_ENCLU], obs, tim;

	cr_assert_eq(pthread_barrier_init(&start_line, NULL, N_OS + N_ENCLU), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned k = 0; k < N_ENCLU; k++) {
		enclu_args[k].idx = k;
		cr_assert_eq(hw_thread_init(&enclu_args[k].h, t.m, &t.pt.mmu), 0);
	}
	cr_assert_eq(pthread_create(&obs, NULL, observer, NULL), 0);
	cr_assert_eq(pthread_create(&tim, NULL, timer, NULL), 0);
	for (unsigned k = 0; k < N_ENCLU; k++)
		cr_assert_eq(pthread_create(&en[k], NULL, enclu_thread, &enclu_args[k]), 0);
	for (unsigned k = 0; k < N_OS; k++)
		cr_assert_eq(pthread_create(&os[k], NULL, os_thread, &os_counts[k]), 0);
	for (unsigned k = 0; k < N_OS; k++)
		pthread_join(os[k], NULL);
	for (unsigned k = 0; k < N_ENCLU; k++)
		pthread_join(en[k], NULL);
	atomic_store(&stop, true);
	pthread_join(obs, NULL);
	pthread_join(tim, NULL);
	pthread_barrier_destroy(&start_line);

	/* 1. Every outcome was one a serial execution can give; no illegal EPCM state was observed. */
	cr_assert(!atomic_load(&illegal_state), "%s", illegal_what);
	static struct counts sum;
	for (unsigned k = 0; k < N_OS; k++)
		merge(&sum, &os_counts[k]);
	for (unsigned k = 0; k < N_ENCLU; k++)
		merge(&sum, &enclu_args[k].c);

	/* 2. Final EPCM: legal states, whole contents, child count = valid pages. */
	static const uint8_t zero[4096];
	uint64_t valid = N_STABLE;
	char why[128];
	for (unsigned i = 0; i < N_RACE; i++) {
		struct hw_epcm_view v;
		cr_assert(hw_epcm_get(t.m, P(RACE_OFF(i)), &v));
		cr_assert(legal_state(i, &v, why, sizeof(why)), "%s", why);
		if (!v.valid)
			continue;
		valid++;
		bool copied = page_is(P(RACE_OFF(i)), src_image);
		cr_assert(copied || page_is(P(RACE_OFF(i)), zero), "page %u: contents neither zero nor a full copy", i);
		/* An accepted TCS passed EACCEPT's TCS checks: it must be the copied image. */
		if (v.pt == SGX_PT_TCS && !v.modified)
			cr_assert(copied, "page %u: accepted TCS with contents EACCEPT must refuse", i);
		hw_mutex_lock(&t.m->lock);
		uint64_t stamp = epcm_peek(t.m, P(RACE_OFF(i)))->stamp;
		uint64_t ep = secs_priv_of(t.m, t.secs_pa)->epoch;
		hw_mutex_unlock(&t.m->lock);
		cr_assert_leq(stamp, ep, "page %u: stamp from the future", i);
	}
	struct hw_secs_view s;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &s));
	cr_assert_eq(s.child_count, valid, "child count %llu, valid pages %llu", (unsigned long long)s.child_count,
		     (unsigned long long)valid);
	cr_assert_eq(s.threads_inside, 0);
	cr_assert_eq(s.epoch, sum.etrack_ok, "every successful ETRACK advanced the epoch once");

	/* 3. Transition counts a serial history must satisfy, per page. */
	uint64_t total_ok = 0;
	for (unsigned i = 0; i < N_RACE; i++) {
		uint64_t(*n)[OUT_COUNT] = sum.n[i];
		struct hw_epcm_view v;
		cr_assert(hw_epcm_get(t.m, P(RACE_OFF(i)), &v));
		cr_assert_leq(n[OP_EAUG][OUT_OK], n[OP_EREMOVE][OUT_OK] + 1, "page %u: EAUG onto a valid page", i);
		if (v.valid)
			cr_assert_geq(n[OP_EAUG][OUT_OK], 1, "page %u: valid but never added", i);
		cr_assert_leq(n[OP_EACCEPT_PENDING][OUT_OK] + n[OP_EACCEPTCOPY][OUT_OK], n[OP_EAUG][OUT_OK],
			      "page %u: more acceptances of pending pages than EAUGs", i);
		cr_assert_leq(n[OP_EACCEPT_TCS][OUT_OK], n[OP_EMODT_TCS][OUT_OK], "page %u: TCS accepted twice", i);
		cr_assert_leq(n[OP_EACCEPT_TRIM][OUT_OK], n[OP_EMODT_TRIM][OUT_OK], "page %u: TRIM accepted twice", i);
		cr_assert_leq(n[OP_EMODT_TCS][OUT_OK], n[OP_EAUG][OUT_OK], "page %u: more REG->TCS than pages", i);
		for (unsigned o = 0; o < OP_COUNT; o++)
			total_ok += n[o][OUT_OK];
	}
	/* The run exercised the interesting paths, not only failures. */
	uint64_t tracked_ok = 0, tcs_ok = 0, trim_ok = 0, copy_ok = 0;
	for (unsigned i = 0; i < N_RACE; i++) {
		tracked_ok += sum.n[i][OP_EACCEPT_PR][OUT_OK];
		tcs_ok += sum.n[i][OP_EACCEPT_TCS][OUT_OK];
		trim_ok += sum.n[i][OP_EACCEPT_TRIM][OUT_OK];
		copy_ok += sum.n[i][OP_EACCEPTCOPY][OUT_OK];
	}
	uint64_t total = 0;
	for (unsigned i = 0; i < N_RACE; i++)
		for (unsigned o = 0; o < OP_COUNT; o++)
			for (unsigned k = 0; k < OUT_COUNT; k++)
				total += sum.n[i][o][k];
	cr_log_info("%llu leaves (%llu succeeded), %llu ETRACK, %llu tracked EACCEPTs, %llu TCS, %llu TRIM, "
		    "%llu EACCEPTCOPY, in %lld ms",
		    (unsigned long long)(total + sum.etrack_ok + sum.etrack_incomplete), (unsigned long long)total_ok,
		    (unsigned long long)sum.etrack_ok, (unsigned long long)tracked_ok, (unsigned long long)tcs_ok,
		    (unsigned long long)trim_ok, (unsigned long long)copy_ok, elapsed_ns() / 1000000);
	static const char *const op_names[OP_COUNT] = {
	    "EAUG",	   "EMODPR",	     "EMODT(TCS)",     "EMODT(TRIM)", "EREMOVE", "EACCEPT(0x20B)",
	    "EACCEPT(PR)", "EACCEPT(0x110)", "EACCEPT(0x410)", "EACCEPTCOPY", "EMODPE"};
	for (unsigned o = 0; o < OP_COUNT; o++) {
		uint64_t k[OUT_COUNT] = {0};
		for (unsigned i = 0; i < N_RACE; i++)
			for (unsigned j = 0; j < OUT_COUNT; j++)
				k[j] += sum.n[i][o][j];
		cr_log_info("%-15s ok %6llu  code %6llu  #PF %6llu  #GP %6llu  conflict %llu", op_names[o],
			    (unsigned long long)k[OUT_OK], (unsigned long long)k[OUT_CODE],
			    (unsigned long long)k[OUT_PF], (unsigned long long)k[OUT_GP],
			    (unsigned long long)k[OUT_CONFLICT]);
	}
	cr_assert_gt(total_ok, 100);
	cr_assert_gt(tracked_ok + tcs_ok + trim_ok, 0, "no tracked acceptance ever succeeded");
	cr_assert_gt(copy_ok, 0);

	/* 4. The EPCM is not wedged: every page can be trimmed, removed, added and accepted again. */
	struct hw_thread h;
	cr_assert_eq(hw_thread_init(&h, t.m, &t.pt.mmu), 0);
	for (unsigned i = 0; i < N_RACE; i++)
		still_usable(i, &h);
	cr_assert(hw_secs_get(t.m, t.secs_pa, &s));
	cr_assert_eq(s.child_count, N_STABLE + N_RACE);

	hw_thread_fini(&h);
	for (unsigned k = 0; k < N_ENCLU; k++)
		hw_thread_fini(&enclu_args[k].h);
	th_teardown(&t);
}

/* ---- the machine lock itself ---------------------------------------------- */

#define MUTEX_THREADS 4
#define MUTEX_ROUNDS  20000

static struct hw_mutex mutex;
/* Read and written only with the mutex held; a torn increment shows as a lost count. */
static volatile uint64_t mutex_count, mutex_inside;
static _Atomic unsigned mutex_saw_sleeper;

static void *mutex_worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	for (unsigned i = 0; i < MUTEX_ROUNDS; i++) {
		/* The lock is taken on the way into and out of enclaves: the program's errno comes back as it was. */
		errno = 4242;
		hw_mutex_lock(&mutex);
		cr_assert_eq(mutex_inside, 0, "two threads inside the machine lock at once");
		mutex_inside = 1;
		mutex_count = mutex_count + 1;
		if (atomic_load(&mutex.word) == 2)
			atomic_store(&mutex_saw_sleeper, 1);
		/* Now and then a long hold, so that the others give up spinning and sleep. */
		if ((i + id) % 997 == 0) {
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
		mutex_inside = 0;
		hw_mutex_unlock(&mutex);
		cr_assert_eq(errno, 4242, "the machine lock changed errno to %d", errno);
	}
	return NULL;
}

Test(race, the_machine_lock_excludes_and_wakes_sleepers, .timeout = 30)
{
	atomic_init(&mutex.word, 0);
	cr_assert(hw_mutex_trylock(&mutex));
	cr_assert_not(hw_mutex_trylock(&mutex), "trylock took a held lock");
	hw_mutex_unlock(&mutex);
	pthread_t th[MUTEX_THREADS];
	for (unsigned i = 0; i < MUTEX_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, mutex_worker, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < MUTEX_THREADS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(mutex_count, (uint64_t)MUTEX_THREADS * MUTEX_ROUNDS);
	cr_assert(atomic_load(&mutex_saw_sleeper), "no thread ever slept on the lock: the slow path went untested");
	cr_assert_eq(atomic_load(&mutex.word), 0, "the lock is not free at the end");
}
