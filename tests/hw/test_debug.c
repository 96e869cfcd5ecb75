/* SPDX-License-Identifier: MIT */
/*
 * EDBGRD / EDBGWR (spec/leaves.md §3): every check in order with its
 * outcome, the TCS field limits, VA slots, and the register folding of
 * hw_encls.  Failures are asserted to change neither memory nor the EPCM.
 */
#include <string.h>

#include "harness.h"
#include "internal.h"

#define ESIZE 0x10000ULL

#define OFF_TCS	  0x0000ULL
#define OFF_RW	  0x1000ULL /* REG RW, pattern */
#define OFF_NONE  0x2000ULL /* REG without permissions, pattern */
#define OFF_RO	  0x3000ULL /* REG R, pattern */
#define OFF_EMPTY 0x8000ULL /* never added */

#define REG(perm) (SGX_SECINFO_PT(SGX_PT_REG) | (perm))
#define PF_RD	  (PF_P | PF_SGX)
#define PF_WR	  (PF_P | PF_W | PF_SGX)

static struct th t;  /* debug enclave */
static struct th nd; /* production enclave on the same machine */
static uint64_t va;  /* a VA page */
static uint8_t pattern[SGX_PAGE_SIZE];
static struct sgx_tcs tcs_src;
static uint64_t host_buf[512] __attribute__((aligned(4096)));

static uint8_t *ptr(uint64_t pa)
{
	return (uint8_t *)(uintptr_t)pa;
}

static uint64_t rd64(uint64_t pa)
{
	uint64_t v;
	memcpy(&v, ptr(pa), sizeof(v));
	return v;
}

static struct hw_epcm_view epcm(uint64_t pa)
{
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(t.m, pa, &v));
	return v;
}

static bool view_eq(struct hw_epcm_view x, struct hw_epcm_view y)
{
	return x.valid == y.valid && x.r == y.r && x.w == y.w && x.x == y.x && x.blocked == y.blocked &&
	       x.pending == y.pending && x.modified == y.modified && x.pr == y.pr && x.pt == y.pt &&
	       x.enclave_address == y.enclave_address && x.enclave_secs == y.enclave_secs;
}

#define EPCM_SET(pa, field, val)                                                                                       \
	do {                                                                                                           \
		hw_mutex_lock(&t.m->lock);                                                                             \
		epcm_entry(t.m, (pa))->field = (val);                                                                  \
		hw_mutex_unlock(&t.m->lock);                                                                           \
	} while (0)

static void add_pages(struct th *e)
{
	th_assert_ok(th_eadd(e, OFF_TCS, SGX_SECINFO_PT(SGX_PT_TCS), &tcs_src));
	th_assert_ok(th_eadd(e, OFF_RW, REG(SGX_SECINFO_R | SGX_SECINFO_W), pattern));
	th_assert_ok(th_eadd(e, OFF_NONE, REG(0), pattern));
	th_assert_ok(th_eadd(e, OFF_RO, REG(SGX_SECINFO_R), pattern));
}

static void fresh(void)
{
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 29 + 7);
	memset(&tcs_src, 0, sizeof(tcs_src));
	tcs_src.flags = 0;
	tcs_src.ossa = 0x4000;
	tcs_src.nssa = 3;
	tcs_src.oentry = 0x1234;
	tcs_src.ofsbase = 0x5000;
	tcs_src.ogsbase = 0x6000;
	tcs_src.fslimit = 0xFFF;
	tcs_src.gslimit = 0x1FFF;

	th_setup(&t, ESIZE);
	add_pages(&t);

	nd = (struct th){.m = t.m, .base = t.base + 0x100000000ULL, .size = ESIZE};
	th_secs_default(&nd.secs, nd.base, ESIZE);
	nd.secs.attributes &= ~SGX_ATTR_DEBUG;
	th_assert_ok(th_ecreate(&nd));
	add_pages(&nd);

	va = hw_epc_window_alloc(t.m, SGX_PAGE_SIZE);
	cr_assert(va);
	th_assert_ok(encls_epa(t.m, SGX_PT_VA, va));
}

static void done(void)
{
	th_teardown(&t);
}

TestSuite(edbg, .init = fresh, .fini = done, .timeout = 60);

/* EDBGRD at pa must fail with `expect`, leave *data alone and change nothing. */
static void rd_fails(uint64_t pa, struct hw_result expect)
{
	uint8_t page[SGX_PAGE_SIZE];
	uint64_t base = pa & ~0xFFFULL;
	bool epc = hw_is_epc(t.m, base);
	if (epc)
		memcpy(page, ptr(base), sizeof(page));
	struct hw_epcm_view v0 = epc ? epcm(base) : (struct hw_epcm_view){0};
	uint64_t data = 0xDEADBEEF;
	struct hw_result r = encls_edbgrd(t.m, pa, &data);
	cr_assert(r.kind == expect.kind && r.vector == expect.vector && r.errcode == expect.errcode &&
		      r.addr == expect.addr && r.rax == expect.rax && r.zf == expect.zf && r.cf == expect.cf,
		  "EDBGRD %#llx: got %s, expected %s", (unsigned long long)pa, th_fmt(r), th_fmt(expect));
	cr_assert_eq(data, 0xDEADBEEF);
	if (epc) {
		cr_assert(memcmp(page, ptr(base), sizeof(page)) == 0);
		cr_assert(view_eq(v0, epcm(base)));
	}
}

static void wr_fails(uint64_t pa, struct hw_result expect)
{
	uint8_t page[SGX_PAGE_SIZE];
	uint64_t base = pa & ~0xFFFULL;
	bool epc = hw_is_epc(t.m, base);
	if (epc)
		memcpy(page, ptr(base), sizeof(page));
	struct hw_epcm_view v0 = epc ? epcm(base) : (struct hw_epcm_view){0};
	struct hw_result r = encls_edbgwr(t.m, pa, 0x0123456789ABCDEFULL);
	cr_assert(r.kind == expect.kind && r.vector == expect.vector && r.errcode == expect.errcode &&
		      r.addr == expect.addr && r.rax == expect.rax && r.zf == expect.zf && r.cf == expect.cf,
		  "EDBGWR %#llx: got %s, expected %s", (unsigned long long)pa, th_fmt(r), th_fmt(expect));
	if (epc) {
		cr_assert(memcmp(page, ptr(base), sizeof(page)) == 0, "memory changed");
		cr_assert(view_eq(v0, epcm(base)));
	}
}

static uint64_t rd_ok(uint64_t pa)
{
	uint64_t data = 0;
	struct hw_result r = encls_edbgrd(t.m, pa, &data);
	cr_assert(hw_is_ok(r) && r.rax == 0 && !r.zf && !r.cf, "EDBGRD %#llx: %s", (unsigned long long)pa, th_fmt(r));
	return data;
}

static void wr_ok(uint64_t pa, uint64_t v)
{
	struct hw_epcm_view v0 = epcm(pa & ~0xFFFULL);
	struct hw_result r = encls_edbgwr(t.m, pa, v);
	cr_assert(hw_is_ok(r) && r.rax == 0 && !r.zf && !r.cf, "EDBGWR %#llx: %s", (unsigned long long)pa, th_fmt(r));
	cr_assert_eq(rd64(pa), v);
	cr_assert(view_eq(v0, epcm(pa & ~0xFFFULL)), "EPCM changed");
}

/* ---- success ---- */

Test(edbg, read_ignores_epcm_permissions)
{
	uint64_t expect;
	memcpy(&expect, pattern + 0x18, 8);
	cr_assert_eq(rd_ok(th_pa(&t, OFF_NONE) + 0x18), expect);
	cr_assert_eq(rd_ok(th_pa(&t, OFF_RW) + 0x18), expect);
	memcpy(&expect, pattern + 0xFF8, 8);
	cr_assert_eq(rd_ok(th_pa(&t, OFF_RO) + 0xFF8), expect);
}

Test(edbg, write_ignores_epcm_permissions)
{
	wr_ok(th_pa(&t, OFF_RO) + 0x40, 0x1122334455667788ULL);
	wr_ok(th_pa(&t, OFF_NONE) + 0x0, 0xFFFFFFFFFFFFFFFFULL);
	/* Only those 8 bytes changed. */
	cr_assert(memcmp(ptr(th_pa(&t, OFF_RO)), pattern, 0x40) == 0);
	cr_assert(memcmp(ptr(th_pa(&t, OFF_RO)) + 0x48, pattern + 0x48, SGX_PAGE_SIZE - 0x48) == 0);
}

Test(edbg, blocked_page_is_debuggable)
{
	th_assert_ok(encls_eblock(t.m, th_pa(&t, OFF_RW)));
	wr_ok(th_pa(&t, OFF_RW) + 8, 42);
	cr_assert_eq(rd_ok(th_pa(&t, OFF_RW) + 8), 42);
}

Test(edbg, hw_encls_folds_rbx_rax_and_flags)
{
	struct hw_regs regs = {
	    .rax = ENCLS_EDBGWR, .rbx = 0xABCDEF, .rcx = th_pa(&t, OFF_RW) + 0x100, .rflags = 0x2 | 0x1 | 0x40 | 0x800};
	struct hw_result r = hw_encls(t.m, NULL, &regs);
	th_assert_ok(r);
	cr_assert_eq(regs.rax, 0);
	cr_assert_eq(regs.rflags, 0x2);
	regs = (struct hw_regs){.rax = ENCLS_EDBGRD, .rbx = 0, .rcx = th_pa(&t, OFF_RW) + 0x100};
	r = hw_encls(t.m, NULL, &regs);
	th_assert_ok(r);
	cr_assert_eq(regs.rbx, 0xABCDEF);
	cr_assert_eq(regs.rax, 0);
}

/* ---- checks in order ---- */

Test(edbg, misaligned_gp)
{
	rd_fails(th_pa(&t, OFF_RW) + 4, hw_gp());
	wr_fails(th_pa(&t, OFF_RW) + 1, hw_gp());
	/* Alignment comes before "not EPC". */
	rd_fails((uint64_t)(uintptr_t)host_buf + 2, hw_gp());
	wr_fails((uint64_t)(uintptr_t)host_buf + 6, hw_gp());
}

Test(edbg, not_epc_pf)
{
	uint64_t host = (uint64_t)(uintptr_t)host_buf + 8;
	rd_fails(host, hw_pf(host, PF_RD));
	wr_fails(host, hw_pf(host, PF_WR));
	cr_assert_eq(host_buf[1], 0);
}

Test(edbg, invalid_page_pf)
{
	uint64_t pa = th_pa(&t, OFF_EMPTY) + 0x10;
	rd_fails(pa, hw_pf(pa, PF_RD));
	wr_fails(pa, hw_pf(pa, PF_WR));
}

Test(edbg, secs_pf)
{
	rd_fails(t.secs_pa, hw_pf(t.secs_pa, PF_RD));
	wr_fails(t.secs_pa + 8, hw_pf(t.secs_pa + 8, PF_WR));
}

Test(edbg, trim_page_pf)
{
	EPCM_SET(th_pa(&t, OFF_RW), pt, SGX_PT_TRIM);
	uint64_t pa = th_pa(&t, OFF_RW) + 8;
	rd_fails(pa, hw_pf(pa, PF_RD));
	wr_fails(pa, hw_pf(pa, PF_WR));
}

Test(edbg, va_slot_read_shows_only_occupancy)
{
	cr_assert_eq(rd_ok(va + 16), 0);
	uint64_t version = 0x1234;
	memcpy(ptr(va + 16), &version, 8);
	cr_assert_eq(rd_ok(va + 16), ~0ULL);
	cr_assert_eq(rd_ok(va + 24), 0);
}

Test(edbg, va_write_pf)
{
	wr_fails(va + 8, hw_pf(va + 8, PF_WR));
}

Test(edbg, pending_not_debuggable)
{
	EPCM_SET(th_pa(&t, OFF_RW), pending, 1);
	uint64_t pa = th_pa(&t, OFF_RW) + 0x20;
	rd_fails(pa, hw_code(SGX_PAGE_NOT_DEBUGGABLE));
	wr_fails(pa, hw_code(SGX_PAGE_NOT_DEBUGGABLE));
}

Test(edbg, modified_not_debuggable)
{
	EPCM_SET(th_pa(&t, OFF_TCS), modified, 1);
	rd_fails(th_pa(&t, OFF_TCS) + 8, hw_code(SGX_PAGE_NOT_DEBUGGABLE));
	wr_fails(th_pa(&t, OFF_TCS) + 8, hw_code(SGX_PAGE_NOT_DEBUGGABLE));
}

Test(edbg, not_debuggable_via_hw_encls_sets_zf)
{
	EPCM_SET(th_pa(&t, OFF_RW), pending, 1);
	struct hw_regs regs = {.rax = ENCLS_EDBGRD, .rbx = 0x5555, .rcx = th_pa(&t, OFF_RW), .rflags = 0x2};
	struct hw_result r = hw_encls(t.m, NULL, &regs);
	th_assert_code(r, SGX_PAGE_NOT_DEBUGGABLE);
	cr_assert_eq(regs.rax, 21);
	cr_assert_eq(regs.rflags, 0x2 | 0x40);
	cr_assert_eq(regs.rbx, 0x5555);
}

Test(edbg, pending_checked_before_tcs_limit_and_owner)
{
	EPCM_SET(th_pa(&t, OFF_TCS), pending, 1);
	rd_fails(th_pa(&t, OFF_TCS) + 72, hw_code(SGX_PAGE_NOT_DEBUGGABLE));
	wr_fails(th_pa(&t, OFF_TCS) + 16, hw_code(SGX_PAGE_NOT_DEBUGGABLE));
	hw_mutex_lock(&t.m->lock);
	epcm_entry(t.m, th_pa(&nd, OFF_RW))->pending = 1;
	hw_mutex_unlock(&t.m->lock);
	rd_fails(th_pa(&nd, OFF_RW), hw_code(SGX_PAGE_NOT_DEBUGGABLE));
}

Test(edbg, tcs_read_architectural_fields)
{
	uint64_t tcs = th_pa(&t, OFF_TCS);
	cr_assert_eq(rd_ok(tcs + 0), 0);			/* STATE */
	cr_assert_eq(rd_ok(tcs + 8), 0);			/* FLAGS */
	cr_assert_eq(rd_ok(tcs + 16), 0x4000);			/* OSSA */
	cr_assert_eq(rd_ok(tcs + 24), 3ULL << 32);		/* CSSA | NSSA */
	cr_assert_eq(rd_ok(tcs + 32), 0x1234);			/* OENTRY */
	cr_assert_eq(rd_ok(tcs + 40), 0);			/* AEP */
	cr_assert_eq(rd_ok(tcs + 48), 0x5000);			/* OFSBASE */
	cr_assert_eq(rd_ok(tcs + 56), 0x6000);			/* OGSBASE */
	cr_assert_eq(rd_ok(tcs + 64), 0x1FFFULL << 32 | 0xFFF); /* FSLIMIT | GSLIMIT */
}

Test(edbg, tcs_read_beyond_fields_gp)
{
	uint64_t tcs = th_pa(&t, OFF_TCS);
	rd_fails(tcs + 72, hw_gp());
	rd_fails(tcs + 0xFF8, hw_gp());
}

Test(edbg, tcs_write_only_flags)
{
	uint64_t tcs = th_pa(&t, OFF_TCS);
	wr_ok(tcs + 8, SGX_TCS_DBGOPTIN);
	cr_assert_eq(((struct sgx_tcs *)ptr(tcs))->flags, SGX_TCS_DBGOPTIN);
	for (uint64_t off = 0; off < 128; off += 8)
		if (off != 8)
			wr_fails(tcs + off, hw_gp());
	wr_fails(tcs + 0xFF8, hw_gp());
}

Test(edbg, owner_not_debug_gp)
{
	rd_fails(th_pa(&nd, OFF_RW), hw_gp());
	wr_fails(th_pa(&nd, OFF_RW) + 8, hw_gp());
	rd_fails(th_pa(&nd, OFF_TCS), hw_gp());
	wr_fails(th_pa(&nd, OFF_TCS) + 8, hw_gp());
}

Test(edbg, type_checked_before_pending)
{
	/* A VA page for EDBGWR: the type fault wins over everything after it. */
	EPCM_SET(va, pending, 1);
	wr_fails(va, hw_pf(va, PF_WR));
}
