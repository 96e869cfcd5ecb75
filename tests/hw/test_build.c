/* SPDX-License-Identifier: MIT */
/* ECREATE, EADD, EEXTEND: every check of spec/leaves.md, and the MRENCLAVE vectors. */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"

static struct th t;

static void fresh(void)
{
	memset(&t, 0, sizeof(t));
	t.m = th_machine();
	cr_assert_eq(pagetable_init(&t.pt, true), 0);
	t.base = 0x7f0000000000ULL;
	t.size = 0x10000;
	th_secs_default(&t.secs, t.base, t.size);
}

static void done(void)
{
	th_teardown(&t);
}

static void mr_now(char hex[65])
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	th_hex32(v.mrenclave_now, hex);
}

TestSuite(mrenclave, .init = fresh, .fini = done, .timeout = 60);

Test(mrenclave, ecreate_only_vector)
{
	t.secs.size = 0x2000;
	t.secs.base = 0x7f0000000000ULL;
	th_assert_ok(th_ecreate(&t));
	char hex[65];
	mr_now(hex);
	cr_assert_str_eq(hex, "9e197c8837c6d65632dbdd59cd7df4f1a25b68d8e4e5eb6ca3b20b05311fecb8");
}

Test(mrenclave, example_a)
{
	t.secs.size = 0x2000;
	th_assert_ok(th_ecreate(&t));
	th_assert_ok(th_eadd(&t, 0, 0x203, NULL));
	th_assert_ok(th_eextend_page(&t, 0));
	th_assert_ok(th_eadd(&t, 0x1000, 0x201, NULL));
	char hex[65];
	mr_now(hex);
	cr_assert_str_eq(hex, "db4307a5c49226e8aed7b060854ba2399dd903093aeb52e51a30b28118501882");
}

Test(mrenclave, example_b)
{
	t.secs.size = 0x4000;
	t.secs.ssa_frame_size = 2;
	th_assert_ok(th_ecreate(&t));
	uint8_t page[4096];
	for (int i = 0; i < 4096; i++)
		page[i] = (uint8_t)i;
	th_assert_ok(th_eadd(&t, 0x1000, 0x205, page));
	th_assert_ok(th_eextend_page(&t, 0x1000));
	char hex[65];
	mr_now(hex);
	cr_assert_str_eq(hex, "aa27d873dabb7b2f65092fd2775843c011e1fb6499e05f322da68fb78da55bdf");
}

Test(mrenclave, base_address_not_measured)
{
	t.secs.size = 0x2000;
	t.secs.base = 0x100000000ULL;
	th_assert_ok(th_ecreate(&t));
	char hex[65];
	mr_now(hex);
	cr_assert_str_eq(hex, "9e197c8837c6d65632dbdd59cd7df4f1a25b68d8e4e5eb6ca3b20b05311fecb8");
}

Test(mrenclave, tcs_measured_without_permissions)
{
	/* A TCS EADDed with SECINFO 0x107 measures as 0x100, same as one added with 0x100. */
	t.secs.size = 0x2000;
	th_assert_ok(th_ecreate(&t));
	th_assert_ok(th_eadd(&t, 0, 0x107, NULL));
	char a[65], b[65];
	mr_now(a);
	th_teardown(&t);
	fresh();
	t.secs.size = 0x2000;
	th_assert_ok(th_ecreate(&t));
	th_assert_ok(th_eadd(&t, 0, 0x100, NULL));
	mr_now(b);
	cr_assert_str_eq(a, b);
	struct hw_epcm_view e;
	cr_assert(hw_epcm_get(t.m, th_pa(&t, 0), &e));
	cr_assert(e.valid && e.pt == SGX_PT_TCS && !e.r && !e.w && !e.x);
}

/* ---- ECREATE checks ---- */

TestSuite(ecreate, .init = fresh, .fini = done, .timeout = 60);

static struct sgx_secinfo g_si;
static struct sgx_pageinfo g_pi;

static struct hw_result ecreate_raw(uint64_t rbx, uint64_t rcx)
{
	return encls_ecreate(t.m, NULL, rbx, rcx);
}

static struct sgx_secs g_secs __attribute__((aligned(4096)));

static void prepare_ecreate(void)
{
	t.window = hw_epc_window_alloc(t.m, t.secs.size <= (1 << 20) ? t.secs.size : 0x10000);
	t.secs_pa = hw_epc_window_alloc(t.m, 4096);
	memset(&g_si, 0, sizeof(g_si));
	g_si.flags = SGX_SECINFO_PT(SGX_PT_SECS);
	g_secs = t.secs;
	g_pi = (struct sgx_pageinfo){.srcpge = (uint64_t)(uintptr_t)&g_secs, .secinfo = (uint64_t)(uintptr_t)&g_si};
}

Test(ecreate, success_sets_epcm_secs)
{
	th_assert_ok(th_ecreate(&t));
	struct hw_epcm_view e;
	cr_assert(hw_epcm_get(t.m, t.secs_pa, &e));
	cr_assert(e.valid && e.pt == SGX_PT_SECS && !e.r && !e.w && !e.x && e.enclave_address == 0);
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	cr_assert(!v.initialized && v.child_count == 0 && v.secs.size == t.size && v.secs.base == t.base);
}

Test(ecreate, pageinfo_misaligned_gp)
{
	prepare_ecreate();
	th_assert_gp(ecreate_raw((uint64_t)(uintptr_t)&g_pi + 8, t.secs_pa));
}

Test(ecreate, epc_misaligned_gp)
{
	prepare_ecreate();
	th_assert_gp(ecreate_raw((uint64_t)(uintptr_t)&g_pi, t.secs_pa + 64));
}

Test(ecreate, target_not_epc_pf)
{
	prepare_ecreate();
	static uint8_t plain[4096] __attribute__((aligned(4096)));
	uint64_t a = (uint64_t)(uintptr_t)plain;
	th_assert_pf(ecreate_raw((uint64_t)(uintptr_t)&g_pi, a), a, PF_P | PF_W | PF_SGX);
}

Test(ecreate, srcpge_misaligned_gp)
{
	prepare_ecreate();
	g_pi.srcpge += 16;
	th_assert_gp(ecreate_raw((uint64_t)(uintptr_t)&g_pi, t.secs_pa));
}

Test(ecreate, linaddr_nonzero_gp)
{
	prepare_ecreate();
	g_pi.linaddr = t.base;
	th_assert_gp(ecreate_raw((uint64_t)(uintptr_t)&g_pi, t.secs_pa));
}

Test(ecreate, secinfo_not_secs_gp)
{
	prepare_ecreate();
	g_si.flags = SGX_SECINFO_PT(SGX_PT_REG) | 3;
	th_assert_gp(ecreate_raw((uint64_t)(uintptr_t)&g_pi, t.secs_pa));
}

Test(ecreate, secinfo_reserved_gp)
{
	prepare_ecreate();
	g_si.reserved[3] = 1;
	th_assert_gp(ecreate_raw((uint64_t)(uintptr_t)&g_pi, t.secs_pa));
}

Test(ecreate, target_already_valid_pf)
{
	th_assert_ok(th_ecreate(&t));
	prepare_ecreate();
	uint64_t used = t.secs_pa;
	t.secs_pa = used;
	struct th keep = t;
	(void)keep;
	/* ECREATE again onto the frame that now holds a SECS. */
	struct hw_result r = encls_ecreate(t.m, NULL, (uint64_t)(uintptr_t)&g_pi, hw_epc_pa(t.m, 0) + 0);
	(void)r;
	struct sgx_pageinfo pi = g_pi;
	r = ecreate_raw((uint64_t)(uintptr_t)&pi, hw_epc_pa(t.m, 0));
	th_assert_pf(r, hw_epc_pa(t.m, 0), PF_P | PF_W | PF_SGX);
}

#define SECS_GP_TEST(name, mutate)                                                                                     \
	Test(ecreate, name)                                                                                            \
	{                                                                                                              \
		mutate;                                                                                                \
		prepare_ecreate();                                                                                     \
		g_secs = t.secs;                                                                                       \
		th_assert_gp(ecreate_raw((uint64_t)(uintptr_t)&g_pi, t.secs_pa));                                      \
		struct hw_epcm_view e;                                                                                 \
		cr_assert(hw_epcm_get(t.m, t.secs_pa, &e) && !e.valid);                                                \
	}

SECS_GP_TEST(xfrm_without_sse_gp, t.secs.xfrm = 1)
SECS_GP_TEST(xfrm_not_allowed_gp, t.secs.xfrm = 7)
SECS_GP_TEST(miscselect_unsupported_gp, t.secs.miscselect = 2)
SECS_GP_TEST(ssa_frame_too_small_gp, t.secs.ssa_frame_size = 0)
SECS_GP_TEST(base_noncanonical_gp, (t.secs.base = 0x0000800000000000ULL))
SECS_GP_TEST(size_too_large_gp, (t.secs.size = 1ULL << 36, t.secs.base = 0))
SECS_GP_TEST(size_too_small_gp, t.secs.size = 0x1000)
SECS_GP_TEST(size_not_power_of_two_gp, t.secs.size = 0x3000)
SECS_GP_TEST(base_misaligned_gp, t.secs.base += 0x1000)
SECS_GP_TEST(init_attribute_gp, t.secs.attributes |= SGX_ATTR_INIT)
SECS_GP_TEST(reserved_attribute_gp, t.secs.attributes |= 1ULL << 3)
SECS_GP_TEST(cet_not_allowed_gp, t.secs.attributes |= SGX_ATTR_CET)
SECS_GP_TEST(reserved_field_gp, t.secs.reserved1[5] = 1)
SECS_GP_TEST(reserved_tail_gp, t.secs.reserved4[3830] = 1)
SECS_GP_TEST(configid_without_kss_gp, t.secs.config_id[0] = 1)
SECS_GP_TEST(configsvn_without_kss_gp, t.secs.config_svn = 1)
SECS_GP_TEST(base_32bit_too_high_gp, (t.secs.attributes &= ~SGX_ATTR_MODE64BIT))

Test(ecreate, configid_with_kss_ok)
{
	t.secs.attributes |= SGX_ATTR_KSS;
	t.secs.config_id[0] = 1;
	t.secs.config_svn = 2;
	th_assert_ok(th_ecreate(&t));
}

Test(ecreate, enclave_32bit_ok)
{
	t.secs.attributes &= ~SGX_ATTR_MODE64BIT;
	t.secs.base = 0x10000;
	th_assert_ok(th_ecreate(&t));
}

/* ---- ECREATE: XFRM on a machine that offers more than x87 | SSE ---- */

/* A host whose XCR0 has x87, SSE, AVX and AVX-512 (no PKRU, no AMX), as src/emu configures from it. */
static void avx512_host(struct hw_config *c)
{
	c->xcr0 = c->xfrm_allowed = hw_xfrm_allowed_for(0xE7);
}

static void fresh_avx512(void)
{
	th_machine_hook = avx512_host;
	fresh();
}

TestSuite(ecreate_xfrm, .init = fresh_avx512, .fini = done, .timeout = 60);

/* ECREATE of t.secs with XFRM x and SSAFRAMESIZE pages: #GP, nothing created. */
static void ecreate_xfrm_gp(uint64_t x, uint32_t pages)
{
	t.secs.xfrm = x;
	t.secs.ssa_frame_size = pages;
	prepare_ecreate();
	struct hw_result r = ecreate_raw((uint64_t)(uintptr_t)&g_pi, t.secs_pa);
	cr_assert(hw_is_fault(r, X86_GP), "XFRM %#llx, SSAFRAMESIZE %u: expected #GP(0), got %s", (unsigned long long)x,
		  pages, th_fmt(r));
	struct hw_epcm_view e;
	cr_assert(hw_epcm_get(t.m, t.secs_pa, &e) && !e.valid);
}

/* ECREATE of t.secs with XFRM x and SSAFRAMESIZE pages succeeds and the SECS keeps x. */
static void ecreate_xfrm_ok(uint64_t x, uint32_t pages)
{
	t.secs.xfrm = x;
	t.secs.ssa_frame_size = pages;
	t.window = 0;
	struct hw_result r = th_ecreate(&t);
	cr_assert(hw_is_ok(r), "XFRM %#llx, SSAFRAMESIZE %u: expected OK, got %s", (unsigned long long)x, pages,
		  th_fmt(r));
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	cr_assert_eq(v.secs.xfrm, x);
}

Test(ecreate_xfrm, avx_and_avx512_accepted)
{
	ecreate_xfrm_ok(0x7, 1);
	ecreate_xfrm_ok(0xE7, 1);
	ecreate_xfrm_ok(0x3, 1);
}

Test(ecreate_xfrm, bit_not_allowed_gp)
{
	ecreate_xfrm_gp(0x207, 1); /* PKRU: not in CPUID.(0x12,1).ECX */
	ecreate_xfrm_gp(0x1F, 1);  /* MPX */
	ecreate_xfrm_gp(0x600E7, 3);
	ecreate_xfrm_gp(0x100000007ULL, 1); /* a bit of EDX */
}

Test(ecreate_xfrm, without_x87_or_sse_gp)
{
	ecreate_xfrm_gp(0xE6, 1);
	ecreate_xfrm_gp(0xE5, 1);
	ecreate_xfrm_gp(0x4, 1);
	ecreate_xfrm_gp(0, 1);
}

Test(ecreate_xfrm, not_a_legal_xcr0_gp)
{
	/* AVX-512's three components only together, and only with AVX. */
	ecreate_xfrm_gp(0x27, 1);
	ecreate_xfrm_gp(0x67, 1);
	ecreate_xfrm_gp(0xA7, 1);
	ecreate_xfrm_gp(0xE3, 1);
}

Test(ecreate_xfrm, ssa_frame_too_small_for_xfrm_gp)
{
	/* XFRM 0xE7 (2688 bytes) + EXINFO (16) + GPRSGX (184) fits one page; without EXINFO too. */
	ecreate_xfrm_gp(0xE7, 0);
	ecreate_xfrm_ok(0xE7, 1);
}

/* A machine whose standard XSAVE layout puts Hi16_ZMM at 3456: XFRM 0xE7 needs 4480 bytes of XSAVE area. */
static void wide_layout(struct hw_config *c)
{
	avx512_host(c);
	c->xstate_offset[7] = 3456;
}

static void fresh_wide(void)
{
	th_machine_hook = wide_layout;
	fresh();
}

Test(ecreate_xfrm, ssa_frame_follows_the_machine_layout, .init = fresh_wide)
{
	ecreate_xfrm_gp(0xE7, 1);
	ecreate_xfrm_ok(0xE7, 2);
	ecreate_xfrm_ok(0x7, 1);
	cr_assert_eq(hw_xsave_size_in(hw_machine_config(t.m), 0xE7), 4480);
}

static void amx_host(struct hw_config *c)
{
	c->xcr0 = c->xfrm_allowed = hw_xfrm_allowed_for(0x602E7);
}

static void fresh_amx(void)
{
	th_machine_hook = amx_host;
	fresh();
}

Test(ecreate_xfrm, amx_needs_three_pages, .init = fresh_amx)
{
	/* TILEDATA ends at 11008: with EXINFO and GPRSGX, 11208 bytes. */
	ecreate_xfrm_gp(0x602E7, 2);
	ecreate_xfrm_ok(0x602E7, 3);
}

/* ---- EADD checks ---- */

TestSuite(eadd, .init = fresh, .fini = done, .timeout = 60);

static uint8_t g_page[4096] __attribute__((aligned(4096)));

static void prepare_eadd(uint64_t off, uint64_t flags)
{
	th_assert_ok(th_ecreate(&t));
	memset(&g_si, 0, sizeof(g_si));
	g_si.flags = flags;
	memset(g_page, 0, sizeof(g_page));
	g_pi = (struct sgx_pageinfo){.linaddr = t.base + off,
				     .srcpge = (uint64_t)(uintptr_t)g_page,
				     .secinfo = (uint64_t)(uintptr_t)&g_si,
				     .secs = t.secs_pa};
}

static struct hw_result eadd_raw(uint64_t rcx)
{
	return encls_eadd(t.m, NULL, (uint64_t)(uintptr_t)&g_pi, rcx);
}

Test(eadd, reg_page_epcm_and_contents)
{
	prepare_eadd(0x3000, 0x205);
	g_page[7] = 0xAB;
	th_assert_ok(eadd_raw(th_pa(&t, 0x3000)));
	struct hw_epcm_view e;
	cr_assert(hw_epcm_get(t.m, th_pa(&t, 0x3000), &e));
	cr_assert(e.valid && e.pt == SGX_PT_REG && e.r && !e.w && e.x && !e.pending && !e.modified && !e.pr);
	cr_assert_eq(e.enclave_address, t.base + 0x3000);
	cr_assert_eq(e.enclave_secs, t.secs_pa);
	cr_assert_eq(((uint8_t *)(uintptr_t)th_pa(&t, 0x3000))[7], 0xAB);
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v) && v.child_count == 1);
}

Test(eadd, pageinfo_misaligned_gp)
{
	prepare_eadd(0, 0x203);
	th_assert_gp(encls_eadd(t.m, NULL, (uint64_t)(uintptr_t)&g_pi + 4, th_pa(&t, 0)));
}

Test(eadd, target_not_epc_pf)
{
	prepare_eadd(0, 0x203);
	uint64_t a = (uint64_t)(uintptr_t)g_page;
	th_assert_pf(eadd_raw(a), a, PF_P | PF_W | PF_SGX);
}

Test(eadd, linaddr_misaligned_gp)
{
	prepare_eadd(0, 0x203);
	g_pi.linaddr += 8;
	th_assert_gp(eadd_raw(th_pa(&t, 0)));
}

Test(eadd, secs_not_epc_pf)
{
	prepare_eadd(0, 0x203);
	g_pi.secs = (uint64_t)(uintptr_t)g_page;
	th_assert_pf(eadd_raw(th_pa(&t, 0)), g_pi.secs, PF_P | PF_SGX);
}

Test(eadd, secinfo_reserved_flag_gp)
{
	prepare_eadd(0, 0x203 | (1ULL << 16));
	th_assert_gp(eadd_raw(th_pa(&t, 0)));
}

Test(eadd, secinfo_type_va_gp)
{
	prepare_eadd(0, SGX_SECINFO_PT(SGX_PT_VA));
	th_assert_gp(eadd_raw(th_pa(&t, 0)));
}

Test(eadd, target_already_valid_pf)
{
	prepare_eadd(0, 0x203);
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
	g_pi.linaddr += 0x1000;
	th_assert_pf(eadd_raw(th_pa(&t, 0)), th_pa(&t, 0), PF_P | PF_W | PF_SGX);
}

Test(eadd, secs_not_a_secs_pf)
{
	prepare_eadd(0, 0x203);
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
	g_pi.linaddr += 0x1000;
	g_pi.secs = th_pa(&t, 0);
	th_assert_pf(eadd_raw(th_pa(&t, 0x1000)), th_pa(&t, 0), PF_P | PF_SGX);
}

Test(eadd, tcs_reserved_nonzero_gp)
{
	prepare_eadd(0, 0x100);
	g_page[100] = 1;
	th_assert_gp(eadd_raw(th_pa(&t, 0)));
}

Test(eadd, tcs_32bit_limits_gp)
{
	t.secs.attributes &= ~SGX_ATTR_MODE64BIT;
	t.secs.base = 0x10000;
	t.base = 0x10000;
	prepare_eadd(0, 0x100);
	th_assert_gp(eadd_raw(th_pa(&t, 0)));
	((struct sgx_tcs *)g_page)->fslimit = 0xFFF;
	((struct sgx_tcs *)g_page)->gslimit = 0xFFF;
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
}

Test(eadd, write_without_read_gp)
{
	prepare_eadd(0, 0x202);
	th_assert_gp(eadd_raw(th_pa(&t, 0)));
}

Test(eadd, outside_elrange_gp)
{
	prepare_eadd(0, 0x203);
	g_pi.linaddr = t.base + t.size;
	th_assert_gp(eadd_raw(th_pa(&t, 0)));
}

Test(eadd, tcs_fields_cleared)
{
	prepare_eadd(0, 0x107);
	struct sgx_tcs *tcs = (struct sgx_tcs *)g_page;
	tcs->state = 1;
	tcs->flags = SGX_TCS_DBGOPTIN;
	tcs->cssa = 3;
	tcs->nssa = 2;
	tcs->aep = 0x1234;
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
	struct sgx_tcs *in = (struct sgx_tcs *)(uintptr_t)th_pa(&t, 0);
	cr_assert(in->state == 0 && in->flags == 0 && in->cssa == 0 && in->aep == 0 && in->nssa == 2);
}

/* ---- EEXTEND checks ---- */

TestSuite(eextend, .init = fresh, .fini = done, .timeout = 60);

Test(eextend, secs_misaligned_gp)
{
	prepare_eadd(0, 0x203);
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
	th_assert_gp(encls_eextend(t.m, NULL, t.secs_pa + 8, th_pa(&t, 0)));
}

Test(eextend, secs_not_epc_pf)
{
	prepare_eadd(0, 0x203);
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
	uint64_t a = (uint64_t)(uintptr_t)g_page;
	th_assert_pf(encls_eextend(t.m, NULL, a, th_pa(&t, 0)), a, PF_P | PF_SGX);
}

Test(eextend, chunk_misaligned_gp)
{
	prepare_eadd(0, 0x203);
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
	th_assert_gp(encls_eextend(t.m, NULL, t.secs_pa, th_pa(&t, 0) + 128));
}

Test(eextend, chunk_not_epc_pf)
{
	prepare_eadd(0, 0x203);
	uint64_t a = (uint64_t)(uintptr_t)g_page;
	th_assert_pf(encls_eextend(t.m, NULL, t.secs_pa, a), a, PF_P | PF_SGX);
}

Test(eextend, chunk_invalid_page_pf)
{
	prepare_eadd(0, 0x203);
	th_assert_pf(encls_eextend(t.m, NULL, t.secs_pa, th_pa(&t, 0x2000)), th_pa(&t, 0x2000), PF_P | PF_SGX);
}

Test(eextend, wrong_owner_gp)
{
	prepare_eadd(0, 0x203);
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
	th_assert_gp(encls_eextend(t.m, NULL, th_pa(&t, 0), th_pa(&t, 0)));
}

Test(eextend, tcs_page_measured)
{
	prepare_eadd(0, 0x100);
	th_assert_ok(eadd_raw(th_pa(&t, 0)));
	th_assert_ok(th_eextend_page(&t, 0));
}

/*
 * Frame readahead (docs/hw.md): a leaf that writes frames in order gives
 * the rest of the frame's 256 KiB chunk memory in one call; out of order,
 * or with no_readahead, each frame gets it at its own first write.  What
 * the frames hold never changes.  The suite readahead has the leaf's own
 * thread do it (sync_readahead); readahead_async the machine's populator,
 * which keeps a chunk ahead.
 */
#define RA_CHUNK 0x40000

static bool resident(uint64_t pa)
{
	unsigned char v = 0;
	cr_assert_eq(mincore((void *)(uintptr_t)(pa & ~0xFFFULL), 4096, &v), 0);
	return v & 1;
}

static void fresh_1m(void)
{
	fresh();
	t.size = 0x100000;
	th_secs_default(&t.secs, t.base, t.size);
	th_assert_ok(th_ecreate(&t));
	cr_assert_eq(hw_epc_offset(t.m, t.window) % RA_CHUNK, 0, "the window starts a chunk");
}

static void no_readahead(struct hw_config *c)
{
	c->no_readahead = true;
}

static void fresh_1m_off(void)
{
	th_machine_hook = no_readahead;
	fresh_1m();
}

static void sync_readahead(struct hw_config *c)
{
	c->sync_readahead = true;
}

static void fresh_1m_sync(void)
{
	th_machine_hook = sync_readahead;
	fresh_1m();
}

static void populator_early(struct hw_config *c)
{
	c->populator_after = 1;
}

/* The populator serves a thread from its second frame in order (by default only after 1 MiB). */
static void fresh_1m_async(void)
{
	th_machine_hook = populator_early;
	fresh_1m();
}

static void page_of(uint8_t page[4096], uint64_t seed)
{
	for (unsigned i = 0; i < 4096; i++)
		page[i] = (uint8_t)(seed * 37 + i * 11 + (i >> 7));
}

TestSuite(readahead, .init = fresh_1m_sync, .fini = done, .timeout = 30);

Test(readahead, frames_taken_in_order_get_the_rest_of_their_chunk_at_once)
{
	th_assert_ok(th_eadd(&t, 0, 0x203, NULL));
	cr_assert(!resident(th_pa(&t, 0x2000)), "one frame is no order yet");
	th_assert_ok(th_eadd(&t, 0x1000, 0x203, NULL));
	for (uint64_t off = 0x2000; off < RA_CHUNK; off += 0x1000)
		cr_assert(resident(th_pa(&t, off)), "frame at +%#llx has its memory", (unsigned long long)off);
	cr_assert(!resident(th_pa(&t, RA_CHUNK)), "not beyond the chunk");
	/* The frames ahead are still free, and read zeros. */
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(t.m, th_pa(&t, 0x2000), &v) && !v.valid);
	/* Going on in order into the next chunk gives that one memory too. */
	for (uint64_t off = 0x2000; off <= RA_CHUNK; off += 0x1000)
		th_assert_ok(th_eadd(&t, off, 0x203, NULL));
	cr_assert(resident(th_pa(&t, 2 * RA_CHUNK - 0x1000)));
}

Test(readahead, frames_out_of_order_get_none)
{
	th_assert_ok(th_eadd(&t, 0x5000, 0x203, NULL));
	th_assert_ok(th_eadd(&t, 0x2000, 0x203, NULL));
	th_assert_ok(th_eadd(&t, 0x9000, 0x203, NULL));
	cr_assert(!resident(th_pa(&t, 0x3000)));
	cr_assert(!resident(th_pa(&t, 0x6000)));
	cr_assert(!resident(th_pa(&t, 0xA000)));
}

/* A valid frame in the chunk given memory ahead keeps what it holds (whichever thread gave the memory). */
static void valid_frame_ahead(void)
{
	uint8_t page[4096];
	page_of(page, 7);
	th_assert_ok(th_eadd(&t, 0x3000, 0x203, page));
	th_assert_ok(th_eadd(&t, 0x1000, 0x203, NULL));
	th_assert_ok(th_eadd(&t, 0x2000, 0x203, NULL));
	hw_epc_populate_wait(t.m);
	cr_assert(resident(th_pa(&t, 0x8000)), "the readahead ran over the valid frame");
	cr_assert(memcmp((void *)(uintptr_t)th_pa(&t, 0x3000), page, sizeof(page)) == 0);
}

Test(readahead, a_valid_frame_ahead_keeps_its_contents)
{
	valid_frame_ahead();
}

TestSuite(readahead_off, .init = fresh_1m_off, .fini = done, .timeout = 30);

Test(readahead_off, frames_in_order_get_nothing_ahead)
{
	th_assert_ok(th_eadd(&t, 0, 0x203, NULL));
	th_assert_ok(th_eadd(&t, 0x1000, 0x203, NULL));
	th_assert_ok(th_eadd(&t, 0x2000, 0x203, NULL));
	cr_assert(!resident(th_pa(&t, 0x3000)));
}

/* Two threads add pages in order to enclaves of their own on one machine; every page holds its contents. */
#define RA_PAGES 100
static struct th ra_second;

/* EADD of page i of e's enclave holding page_of(seed). */
static bool ra_eadd(struct th *e, uint64_t i, uint64_t seed)
{
	uint8_t page[4096] __attribute__((aligned(4096)));
	struct sgx_secinfo si = {.flags = 0x203};
	page_of(page, seed);
	struct sgx_pageinfo pi = {.linaddr = e->base + i * 4096,
				  .srcpge = (uint64_t)(uintptr_t)page,
				  .secinfo = (uint64_t)(uintptr_t)&si,
				  .secs = e->secs_pa};
	return hw_is_ok(encls_eadd(e->m, NULL, (uint64_t)(uintptr_t)&pi, th_pa(e, i * 4096)));
}

/* The second enclave on t's machine, 1 MiB. */
static void ra_second_create(void)
{
	memset(&ra_second, 0, sizeof(ra_second));
	ra_second.m = t.m;
	ra_second.base = 0x7e0000000000ULL;
	ra_second.size = 0x100000;
	th_secs_default(&ra_second.secs, ra_second.base, ra_second.size);
	th_assert_ok(th_ecreate(&ra_second));
}

static void *ra_adder(void *arg)
{
	struct th *e = arg;
	for (uint64_t i = 0; i < RA_PAGES; i++)
		if (!ra_eadd(e, i, i + (e == &t ? 0 : 1000)))
			return (void *)1;
	return NULL;
}

/* Two threads add RA_PAGES pages each, in order, to t's enclave and a second one; then every page is checked. */
static void two_adders(void)
{
	ra_second_create();
	pthread_t a, b;
	cr_assert_eq(pthread_create(&a, NULL, ra_adder, &t), 0);
	cr_assert_eq(pthread_create(&b, NULL, ra_adder, &ra_second), 0);
	void *ra, *rb;
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	cr_assert(!ra && !rb, "every EADD succeeded");
	/* Whatever the populator still does never changes what a frame holds. */
	hw_epc_populate_wait(t.m);
	uint8_t page[4096];
	for (uint64_t i = 0; i < RA_PAGES; i++) {
		page_of(page, i);
		cr_assert(memcmp((void *)(uintptr_t)th_pa(&t, i * 4096), page, 4096) == 0, "page %llu",
			  (unsigned long long)i);
		page_of(page, i + 1000);
		cr_assert(memcmp((void *)(uintptr_t)th_pa(&ra_second, i * 4096), page, 4096) == 0, "page %llu",
			  (unsigned long long)i);
	}
}

Test(readahead, threads_adding_in_order_to_their_own_enclaves)
{
	two_adders();
}

/*
 * Two threads taking frames in order, one step each in turn (a barrier
 * between steps), each in an enclave of its own: each thread's order is its
 * own, so each gets the rest of its chunk after its second frame although
 * the machine saw the two sequences interleaved.
 */
#define RA_STEPS 4
static pthread_barrier_t ra_step;

static void *ra_stepper(void *arg)
{
	struct th *e = arg;
	void *ret = NULL;
	for (uint64_t i = 0; i < RA_STEPS; i++) {
		pthread_barrier_wait(&ra_step);
		if (e != &t)
			pthread_barrier_wait(&ra_step); /* the second thread goes after the first */
		if (!ra_eadd(e, i, i))
			ret = (void *)1;
		if (e == &t)
			pthread_barrier_wait(&ra_step);
	}
	return ret;
}

Test(readahead, threads_taking_frames_in_order_by_turns_each_get_their_chunk)
{
	ra_second_create();
	cr_assert(!resident(th_pa(&ra_second, 0x10000)));
	pthread_barrier_init(&ra_step, NULL, 2);
	pthread_t a, b;
	cr_assert_eq(pthread_create(&a, NULL, ra_stepper, &t), 0);
	cr_assert_eq(pthread_create(&b, NULL, ra_stepper, &ra_second), 0);
	void *ra, *rb;
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	pthread_barrier_destroy(&ra_step);
	cr_assert(!ra && !rb, "every EADD succeeded");
	for (uint64_t off = RA_STEPS * 0x1000; off < RA_CHUNK; off += 0x1000) {
		cr_assert(resident(th_pa(&t, off)), "first enclave, frame +%#llx", (unsigned long long)off);
		cr_assert(resident(th_pa(&ra_second, off)), "second enclave, frame +%#llx", (unsigned long long)off);
	}
}

/*
 * An OS that holds locks of its own around a leaf (a fault handler) holds
 * the readahead too: the frames ahead get their memory when it lets go,
 * not under its locks; the leaf's own frame is written at once.
 */
Test(readahead, held_readahead_comes_when_the_os_lets_go)
{
	uint8_t page[4096];
	page_of(page, 3);
	th_assert_ok(th_eadd(&t, 0, 0x203, NULL));
	hw_epc_readahead_hold(true);
	th_assert_ok(th_eadd(&t, 0x1000, 0x203, page));
	cr_assert(!resident(th_pa(&t, 0x2000)), "the frames ahead got memory under the OS's locks");
	cr_assert(memcmp((void *)(uintptr_t)th_pa(&t, 0x1000), page, sizeof(page)) == 0);
	hw_epc_readahead_hold(true); /* nested: the outer release gives it */
	hw_epc_readahead_hold(false);
	cr_assert(!resident(th_pa(&t, 0x2000)));
	hw_epc_readahead_hold(false);
	for (uint64_t off = 0x2000; off < RA_CHUNK; off += 0x1000)
		cr_assert(resident(th_pa(&t, off)), "frame +%#llx", (unsigned long long)off);
}

/*
 * The populator (readahead_async): the chunk's rest and the next chunk get
 * their memory from the machine's helper thread while the leaves go on; a
 * leaf entering the last chunk given memory asks for one more.  By default
 * it serves a thread only once it took 1 MiB of frames in order: before
 * that, the leaf's own thread gives the chunk memory (readahead_default).
 */
TestSuite(readahead_default, .init = fresh_1m, .fini = done, .timeout = 30);

Test(readahead_default, a_short_run_gets_its_chunk_in_its_own_thread)
{
	th_assert_ok(th_eadd(&t, 0, 0x203, NULL));
	th_assert_ok(th_eadd(&t, 0x1000, 0x203, NULL));
	for (uint64_t off = 0x2000; off < RA_CHUNK; off += 0x1000)
		cr_assert(resident(th_pa(&t, off)), "frame at +%#llx has its memory", (unsigned long long)off);
	cr_assert(!resident(th_pa(&t, RA_CHUNK)), "nothing ahead of the chunk");
}

static void fresh_4m(void)
{
	fresh();
	t.size = 0x400000;
	th_secs_default(&t.secs, t.base, t.size);
	th_assert_ok(th_ecreate(&t));
}

TestSuite(readahead_default_4m, .init = fresh_4m, .fini = done, .timeout = 30);

Test(readahead_default_4m, a_run_of_a_mebibyte_gets_a_chunk_ahead)
{
	/* Frames 0..255 in order: each chunk's rest in this thread, nothing beyond. */
	for (uint64_t i = 0; i < 256; i++)
		th_assert_ok(th_eadd(&t, i * 0x1000, 0x203, NULL));
	hw_epc_populate_wait(t.m);
	cr_assert(!resident(th_pa(&t, 0x100000)), "nothing ahead before 1 MiB in order");
	/* The 257th: the populator gives its chunk's rest and the next chunk. */
	th_assert_ok(th_eadd(&t, 0x100000, 0x203, NULL));
	hw_epc_populate_wait(t.m);
	for (uint64_t off = 0x101000; off < 0x180000; off += 0x1000)
		cr_assert(resident(th_pa(&t, off)), "frame at +%#llx has its memory", (unsigned long long)off);
	cr_assert(!resident(th_pa(&t, 0x180000)), "not beyond the next chunk");
}
TestSuite(readahead_async, .init = fresh_1m_async, .fini = done, .timeout = 30);

Test(readahead_async, frames_taken_in_order_get_a_chunk_ahead_from_the_populator)
{
	th_assert_ok(th_eadd(&t, 0, 0x203, NULL));
	th_assert_ok(th_eadd(&t, 0x1000, 0x203, NULL));
	hw_epc_populate_wait(t.m);
	for (uint64_t off = 0x2000; off < 2 * RA_CHUNK; off += 0x1000)
		cr_assert(resident(th_pa(&t, off)), "frame at +%#llx has its memory", (unsigned long long)off);
	cr_assert(!resident(th_pa(&t, 2 * RA_CHUNK)), "not beyond the next chunk");
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(t.m, th_pa(&t, 0x2000), &v) && !v.valid, "the frames ahead are still free");
	/* Into the next chunk: the one after it. */
	for (uint64_t off = 0x2000; off <= RA_CHUNK; off += 0x1000)
		th_assert_ok(th_eadd(&t, off, 0x203, NULL));
	hw_epc_populate_wait(t.m);
	cr_assert(resident(th_pa(&t, 3 * RA_CHUNK - 0x1000)));
	cr_assert(!resident(th_pa(&t, 3 * RA_CHUNK)));
}

/* An OS that gives a batch memory itself (hw_epc_populate) gives the frames after it too: nothing ahead of it. */
Test(readahead_async, an_os_batch_gets_nothing_ahead_of_it)
{
	cr_assert_eq(hw_epc_populate(t.m, th_pa(&t, 0), RA_CHUNK), 0);
	for (uint64_t off = 0; off < RA_CHUNK; off += 0x1000)
		th_assert_ok(th_eadd(&t, off, 0x203, NULL));
	hw_epc_populate_wait(t.m);
	cr_assert(!resident(th_pa(&t, RA_CHUNK)), "the frames after the batch got memory");
}

Test(readahead_async, a_valid_frame_ahead_keeps_its_contents)
{
	valid_frame_ahead();
}

Test(readahead_async, threads_adding_in_order_to_their_own_enclaves)
{
	two_adders();
}

/*
 * A window given back takes its requests back first: once
 * hw_epc_window_free returns, no frame of it gets memory again.  Many
 * enclaves each ask for two chunks and are freed at once, while the
 * populator is still behind.
 */
#define RA_WINDOWS 24

/*
 * A child of fork() has no populator thread (only the thread that forked
 * goes on; the EPC is not even mapped there, as enclaves are not on Linux):
 * requests made before the fork, queued or in flight, are never waited
 * for, and new ones are refused, so the child never hangs on the machine.
 */
Test(readahead_async, a_child_of_fork_never_waits_for_the_populator)
{
	/* Requests the populator is still working through when the process forks. */
	for (unsigned w = 0; w < RA_WINDOWS; w++) {
		uint64_t win = hw_epc_window_alloc(t.m, 4 * RA_CHUNK);
		cr_assert_neq(win, 0);
		cr_assert_neq(populator_request(t.m, win, 4 * RA_CHUNK, false), POPULATOR_ABSENT);
	}
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		alarm(10); /* a child that waits for a thread it does not have dies instead of hanging */
		hw_epc_populate_wait(t.m);
		_exit(populator_request(t.m, t.window, RA_CHUNK, false) == POPULATOR_ABSENT ? 0 : 1);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child refused nothing (status %#x)", status);
	hw_epc_populate_wait(t.m);
}

/* Each window asks for two chunks, then goes back (hw_epc_window_free) or has its memory released. */
static void ask_then_give_back(bool free_window)
{
	uint64_t win[RA_WINDOWS];
	for (unsigned w = 0; w < RA_WINDOWS; w++) {
		win[w] = hw_epc_window_alloc(t.m, 4 * RA_CHUNK);
		cr_assert_neq(win[w], 0);
	}
	for (unsigned w = 0; w < RA_WINDOWS; w++) {
		/* What a leaf writing two frames in order does (under the machine lock), then the request after it. */
		hw_mutex_lock(&t.m->lock);
		epc_readahead(t.m, win[w]);
		epc_readahead(t.m, win[w] + 0x1000);
		hw_mutex_unlock(&t.m->lock);
		epc_readahead_run();
		if (free_window)
			hw_epc_window_free(t.m, win[w], 4 * RA_CHUNK);
		else
			hw_epc_release_unused(t.m, win[w], 4 * RA_CHUNK);
	}
	hw_epc_populate_wait(t.m);
	for (unsigned w = 0; w < RA_WINDOWS; w++)
		for (uint64_t off = 0; off < 4 * RA_CHUNK; off += 0x1000)
			cr_assert(!resident(win[w] + off), "window %u, frame +%#llx has memory after it was given back",
				  w, (unsigned long long)off);
}

Test(readahead_async, a_freed_window_gets_no_memory_after_it_is_freed)
{
	ask_then_give_back(true);
}

/* The same for frames an OS releases (the unused rest of a batch it stopped, hw_epc_release_unused). */
Test(readahead_async, released_frames_get_no_memory_afterwards)
{
	ask_then_give_back(false);
}

/*
 * hw_epc_populate_async: the populator takes an OS's range of any length
 * (nothing outside the machine, nothing empty), and a range taken back
 * (hw_epc_release_unused) trims the queued requests: a request keeps its
 * part below the range, one that spans the range keeps only that part, and
 * nothing of the range gets memory.
 */
Test(readahead_async, an_os_range_is_trimmed_where_it_is_taken_back)
{
	cr_assert_not(hw_epc_populate_async(t.m, 0x1000, RA_CHUNK), "an address outside the machine");
	cr_assert_not(hw_epc_populate_async(t.m, th_pa(&t, 0), 0), "an empty range");
	/* The populator busy with a long range first (taken back below), so that the two requests stay queued. */
	uint64_t busy = hw_epc_window_alloc(t.m, 1ULL << 30);
	cr_assert_neq(busy, 0);
	cr_assert(hw_epc_populate_async(t.m, busy, 1ULL << 30));
	uint64_t a = th_pa(&t, 0), b = th_pa(&t, 2 * RA_CHUNK);
	cr_assert(hw_epc_populate_async(t.m, a, RA_CHUNK));
	cr_assert(hw_epc_populate_async(t.m, b, RA_CHUNK));
	hw_epc_release_unused(t.m, a + RA_CHUNK / 4, RA_CHUNK);	    /* a's upper three quarters and beyond */
	hw_epc_release_unused(t.m, b + RA_CHUNK / 4, RA_CHUNK / 4); /* b's second quarter */
	uint64_t still_busy = hw_epc_populate_queued(t.m, busy, 1ULL << 30),
		 qa = hw_epc_populate_queued(t.m, a, RA_CHUNK), qb = hw_epc_populate_queued(t.m, b, RA_CHUNK);
	hw_epc_window_free(t.m, busy, 1ULL << 30);
	cr_assert_gt(still_busy, 0, "the populator got through 1 GiB before the checks: nothing was left queued");
	cr_assert_eq(qa, RA_CHUNK / 4, "a: %#llx bytes queued", (unsigned long long)qa);
	cr_assert_eq(qb, RA_CHUNK / 4, "b: %#llx bytes queued", (unsigned long long)qb);
	hw_epc_populate_wait(t.m);
	for (uint64_t off = 0; off < RA_CHUNK; off += 0x1000) {
		bool want = off < RA_CHUNK / 4;
		cr_assert_eq(resident(a + off), want, "a + %#llx", (unsigned long long)off);
		cr_assert_eq(resident(b + off), want, "b + %#llx", (unsigned long long)off);
	}
}
