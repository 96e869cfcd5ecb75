/* SPDX-License-Identifier: MIT */
/* Machine configuration, physical windows, capacity accounting, outcome formatting, CPUID. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "harness.h"
#include "internal.h"

TestSuite(machine, .timeout = 60);

Test(machine, rejects_bad_config)
{
	struct hw_config c;
	struct hw_machine *m = NULL;
	char err[256];
	hw_config_default(&c);
	c.epc_size = 0x1234;
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "EPC size"), "message names the problem: %s", err);
	hw_config_default(&c);
	c.epc_sections = 9;
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "sections"), "%s", err);
	hw_config_default(&c);
	c.xcr0 = 0x5;
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "XCR0"), "%s", err);
}

Test(machine, rejects_bad_xfrm_config)
{
	struct hw_config c;
	struct hw_machine *m = NULL;
	char err[256];
	hw_config_default(&c);
	c.xfrm_allowed = 0x6;
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "XFRM allowed 0x6"), "%s", err);
	hw_config_default(&c);
	c.xfrm_allowed = 0x80007; /* bit 19: not a component the model knows */
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "XFRM allowed 0x80007"), "%s", err);

	/* The layout of every component a thread image holds must be sound. */
	hw_config_default(&c);
	c.xcr0 = c.xfrm_allowed = 0xE7;
	c.xstate_offset[6] = 1100; /* inside opmask (1088..1151) */
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "XSAVE components 5 and 6 overlap");
	hw_config_default(&c);
	c.xcr0 = c.xfrm_allowed = 0x7;
	c.xstate_offset[2] = 512; /* the XSAVE header */
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "XSAVE component 2: offset 512 size 256 is outside 576..1048576");
	hw_config_default(&c);
	c.xcr0 = c.xfrm_allowed = 0x207;
	c.xstate_size[9] = 0;
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "XSAVE component 9"), "%s", err);

	/* A component no thread image holds may have any layout. */
	hw_config_default(&c);
	c.xstate_offset[9] = 0;
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), 0, "%s", err);
	hw_machine_destroy(m);
}

/*
 * A host that refuses the 1 TiB reservation of the physical space (an
 * address-space limit here; valgrind's address-space manager does the
 * same) gets a smaller one, and enclaves fit in it as long as their sizes
 * add up.
 */
Test(machine, physical_space_shrinks_to_what_the_host_allows)
{
#if defined(__SANITIZE_ADDRESS__)
	cr_skip_test("AddressSanitizer's shadow memory needs more address space than the limit this test sets");
#else
	struct rlimit lim = {.rlim_cur = 8ULL << 30, .rlim_max = 8ULL << 30};
	cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
	struct hw_config c;
	hw_config_default(&c);
	struct hw_machine *m;
	char err[256] = "";
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), 0, "%s", err);
	uint64_t space = m->space;
	cr_assert(space >= (1ULL << 30) && space <= (4ULL << 30), "space %#llx", (unsigned long long)space);
	uint64_t w = hw_epc_window_alloc(m, 256ULL << 20);
	cr_assert_neq(w, 0, "a 256 MiB window fits");
	cr_assert_eq(hw_epc_window_alloc(m, space), 0, "a window as large as the whole space does not");
	hw_epc_window_free(m, w, 256ULL << 20);
	hw_machine_destroy(m);
	/* Below the floor of 1 GiB the machine is refused, with the size in the message. */
	lim.rlim_cur = 512ULL << 20;
	cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), -1);
	cr_assert(strstr(err, "mmap of the EPC alias"), "%s", err);
#endif
}

Test(machine, windows_are_aligned_and_reused)
{
	struct hw_machine *m = th_machine();
	uint64_t a = hw_epc_window_alloc(m, 0x10000);
	uint64_t b = hw_epc_window_alloc(m, 0x1000);
	uint64_t c = hw_epc_window_alloc(m, 0x40000);
	cr_assert(a && b && c);
	cr_assert_eq(hw_epc_offset(m, a) & 0xFFFF, 0);
	cr_assert_eq(hw_epc_offset(m, c) & 0x3FFFF, 0);
	cr_assert(hw_is_epc(m, a) && hw_is_epc(m, c + 0x3FFFF) && !hw_is_epc(m, (uint64_t)(uintptr_t)&a));
	hw_epc_window_free(m, a, 0x10000);
	hw_epc_window_free(m, b, 0x1000);
	hw_epc_window_free(m, c, 0x40000);
	/* Everything coalesced: the whole space is one window again. */
	uint64_t all = hw_epc_window_alloc(m, 1ULL << 36);
	cr_assert_eq(all, hw_epc_pa(m, 0));
	cr_assert_eq(hw_epc_window_alloc(m, 0x1000), 0, "space exhausted gives 0");
	cr_assert_eq(hw_epc_window_alloc(m, 0x3000), 0, "not a power of two gives 0");
	hw_machine_destroy(m);
}

/* Which of the n frames from pa have host memory: mincore on a mapping of the EPC memfd of its own. */
static unsigned frames_with_memory(struct hw_machine *m, uint64_t pa, unsigned n)
{
	unsigned char vec[64];
	cr_assert_leq(n, sizeof(vec));
	void *v = mmap(NULL, n * 4096UL, PROT_READ, MAP_SHARED, hw_epc_fd(m), (off_t)hw_epc_offset(m, pa));
	cr_assert_neq(v, MAP_FAILED);
	cr_assert_eq(mincore(v, n * 4096UL, vec), 0);
	munmap(v, n * 4096UL);
	unsigned c = 0;
	for (unsigned i = 0; i < n; i++)
		c += vec[i] & 1;
	return c;
}

Test(machine, populate_gives_frames_memory_and_release_only_takes_unused_ones)
{
	struct th t;
	th_setup(&t, 0x40000);
	uint8_t page[4096];
	memset(page, 0xA5, sizeof(page));
	cr_assert(hw_is_ok(th_eadd(&t, 0x3000, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R, page)));
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 1, "only the EADDed frame has memory");
	cr_assert_eq(hw_epc_populate(t.m, th_pa(&t, 0), 16 * 4096), 0);
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 16);
	hw_epc_release_unused(t.m, th_pa(&t, 0), 16 * 4096);
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 1, "the valid frame keeps its memory");
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(t.m, th_pa(&t, 0x3000), &v) && v.valid);
	cr_assert_arr_eq(hw_pa_ptr(t.m, th_pa(&t, 0x3000)), page, sizeof(page),
			 "populating and releasing changed a valid page");
	/* Outside the physical space, or past its end. */
	cr_assert_eq(hw_epc_populate(t.m, (uint64_t)(uintptr_t)page, 4096), -EINVAL);
	cr_assert_eq(hw_epc_populate(t.m, th_pa(&t, 0), 0), -EINVAL);
	cr_assert_eq(hw_epc_populate(t.m, th_pa(&t, 0), UINT64_MAX & ~0xFFFULL), -EINVAL);
	th_teardown(&t);
}

/*
 * A window being torn down (hw_epc_retire): EREMOVE of its frames
 * keeps their memory, invalid, and freeing the window gives all of it back
 * at once; a frame outside it still goes at its EREMOVE.  Without the mark
 * each EREMOVE gives its frame's memory back.
 */
Test(machine, a_retiring_window_gives_its_memory_back_when_freed)
{
	struct th t;
	th_setup(&t, 0x40000);
	uint8_t page[4096];
	memset(page, 0x3C, sizeof(page));
	for (uint64_t off = 0; off < 8 * 4096; off += 4096)
		cr_assert(hw_is_ok(th_eadd(&t, off, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R, page)));
	hw_epc_release_unused(t.m, th_pa(&t, 0), 16 * 4096);
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 8);
	/* Not retiring: each EREMOVE takes its frame's memory. */
	cr_assert(hw_is_ok(encls_eremove(t.m, th_pa(&t, 0))));
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 7);

	hw_epc_retire(t.m, t.window, t.size);
	for (uint64_t off = 4096; off < 8 * 4096; off += 4096)
		cr_assert(hw_is_ok(encls_eremove(t.m, th_pa(&t, off))));
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(t.m, th_pa(&t, 4096), &v));
	cr_assert_not(v.valid, "EREMOVE invalidated the frame");
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 7, "the retiring window's frames keep their memory");
	/* The SECS frame is in a window of its own, not retiring. */
	cr_assert_eq(frames_with_memory(t.m, t.secs_pa, 1), 1);
	cr_assert(hw_is_ok(encls_eremove(t.m, t.secs_pa)));
	cr_assert_eq(frames_with_memory(t.m, t.secs_pa, 1), 0, "outside the retiring window EREMOVE gives it back");

	hw_epc_window_free(t.m, t.window, t.size);
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 0, "freeing the window gave all of it back");
	th_teardown(&t);
}

/*
 * More windows retiring at once than the machine records (16): the rest
 * give their frames back at each EREMOVE; freeing a window takes its mark
 * away, which makes room for another.
 */
Test(machine, retiring_marks_are_limited_and_go_with_the_free)
{
	struct th t;
	th_setup(&t, 0x40000);
	uint64_t others[16];
	for (unsigned i = 0; i < 16; i++) {
		others[i] = hw_epc_window_alloc(t.m, 0x1000);
		cr_assert_neq(others[i], 0);
		hw_epc_retire(t.m, others[i], 0x1000);
	}
	hw_epc_retire(t.m, t.window, t.size);
	uint8_t page[4096] = {1};
	for (uint64_t off = 0; off < 2 * 4096; off += 4096)
		cr_assert(hw_is_ok(th_eadd(&t, off, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R, page)));
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 2), 2);
	cr_assert(hw_is_ok(encls_eremove(t.m, th_pa(&t, 0))));
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 2), 1, "not recorded as retiring: given back at once");
	for (unsigned i = 0; i < 16; i++)
		hw_epc_window_free(t.m, others[i], 0x1000);
	hw_epc_retire(t.m, t.window, t.size);
	cr_assert(hw_is_ok(encls_eremove(t.m, th_pa(&t, 4096))));
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 2), 1, "recorded once the others were freed: kept");
	hw_epc_window_free(t.m, t.window, t.size);
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 2), 0);
	th_teardown(&t);
}

/*
 * A range retired for a batch of EREMOVEs (REMOVE_PAGES): the frames keep
 * their memory until hw_epc_retire_end, which gives back that of every
 * frame holding no valid page (in runs) and leaves the valid ones alone;
 * after it, an EREMOVE gives its frame's memory back at once again.
 */
Test(machine, a_retired_range_gives_back_its_invalid_frames_at_the_end)
{
	struct th t;
	th_setup(&t, 0x40000);
	uint8_t page[4096];
	for (uint64_t off = 0; off < 10 * 4096; off += 4096) {
		memset(page, 0x40 + (int)(off >> 12), sizeof(page));
		cr_assert(hw_is_ok(th_eadd(&t, off, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R, page)));
	}
	hw_epc_release_unused(t.m, th_pa(&t, 0), 16 * 4096);
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 10);
	/* Frames 1-8 retired; 1, 2, 3, 5 and 6 removed, 4, 7 and 8 stay valid. */
	hw_epc_retire(t.m, th_pa(&t, 0x1000), 8 * 4096);
	uint64_t removed[] = {1, 2, 3, 5, 6};
	for (unsigned i = 0; i < 5; i++)
		cr_assert(hw_is_ok(encls_eremove(t.m, th_pa(&t, removed[i] * 4096))));
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 10, "kept until the end of the batch");
	hw_epc_retire_end(t.m, th_pa(&t, 0x1000), 8 * 4096);
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 5, "frames 0, 4, 7, 8 and 9 keep their memory");
	for (uint64_t f = 0; f < 10; f++) {
		struct hw_epcm_view v;
		cr_assert(hw_epcm_get(t.m, th_pa(&t, f * 4096), &v));
		if (!v.valid)
			continue;
		const uint8_t *b = hw_pa_ptr(t.m, th_pa(&t, f * 4096));
		cr_assert(b[0] == 0x40 + f && b[4095] == 0x40 + f, "frame %llu kept its page", (unsigned long long)f);
	}
	/* The mark went: EREMOVE gives back at once. */
	cr_assert(hw_is_ok(encls_eremove(t.m, th_pa(&t, 0x4000))));
	cr_assert_eq(frames_with_memory(t.m, th_pa(&t, 0), 16), 4);
	th_teardown(&t);
}

Test(machine, capacity_accounting)
{
	struct hw_machine *m = th_machine();
	uint64_t total = hw_epc_frames_total(m);
	cr_assert_eq(total, 256);
	for (uint64_t i = 0; i < total; i++)
		cr_assert(hw_epc_reserve(m));
	cr_assert(!hw_epc_reserve(m), "a full EPC refuses");
	cr_assert_eq(hw_epc_frames_free(m), 0);
	hw_epc_release(m);
	cr_assert_eq(hw_epc_frames_free(m), 1);
	cr_assert(hw_epc_reserve(m));
	hw_machine_destroy(m);
}

Test(machine, result_format)
{
	char b[96];
	hw_result_format(hw_ok(), b, sizeof(b));
	cr_assert_str_eq(b, "OK");
	hw_result_format(hw_code(SGX_NOT_TRACKED), b, sizeof(b));
	cr_assert_str_eq(b, "SGX_NOT_TRACKED (11) ZF");
	hw_result_format(hw_code_cf(SGX_BLKSTATE), b, sizeof(b));
	cr_assert_str_eq(b, "SGX_BLKSTATE (3) CF");
	hw_result_format(hw_gp(), b, sizeof(b));
	cr_assert_str_eq(b, "#GP(0)");
	hw_result_format(hw_pf(0x7f0000001000ULL, 0x8007), b, sizeof(b));
	cr_assert_str_eq(b, "#PF(0x7f0000001000, err=0x8007)");
	cr_assert_str_eq(hw_error_name(SGX_INVALID_KEYNAME), "SGX_INVALID_KEYNAME");
	cr_assert_str_eq(hw_error_name(9999), "SGX_UNKNOWN_ERROR");
}

TestSuite(cpuid, .timeout = 60);

Test(cpuid, leaf12_reports_configuration)
{
	struct hw_config c;
	hw_config_default(&c);
	c.epc_size = 64ULL << 20;
	c.epc_sections = 2;
	struct hw_machine *m = NULL;
	char err[128];
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), 0, "%s", err);
	struct hw_cpuid r0 = hw_cpuid12(m, 0);
	cr_assert_eq(r0.eax & 3, 3, "SGX1 and SGX2");
	cr_assert_eq(r0.ebx, SGX_MISC_EXINFO);
	cr_assert_eq((r0.edx >> 8) & 0xFF, 36);
	struct hw_cpuid r1 = hw_cpuid12(m, 1);
	cr_assert_eq(r1.eax & SGX_ATTR_INIT, 0, "INIT is never an allowed ECREATE attribute");
	cr_assert(r1.eax & SGX_ATTR_MODE64BIT);
	uint64_t sum = 0;
	for (uint32_t s = 2; s < 10; s++) {
		struct hw_cpuid r = hw_cpuid12(m, s);
		if ((r.eax & 0xF) == 0)
			break;
		sum += (r.ecx & 0xFFFFF000u) | ((uint64_t)(r.edx & 0xFFFFF) << 32);
	}
	cr_assert_eq(sum, 64ULL << 20, "sections add up to the EPC size");
	hw_machine_destroy(m);
	hw_config_default(&c);
	c.sgx1_only = true;
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(hw_cpuid12(m, 0).eax & 3, 1, "SGX1 only");
	hw_machine_destroy(m);
}

Test(cpuid, xsave_sizes)
{
	cr_assert_eq(hw_xsave_size(3), 576);
	cr_assert_eq(hw_xsave_size(7), 832);
	cr_assert_eq(hw_xsave_size(0xE7), 2688);
	cr_assert_eq(hw_xsave_size(0x2E7), 2696);
	cr_assert(hw_xfrm_legal(3) && hw_xfrm_legal(7) && hw_xfrm_legal(0xE7));
	cr_assert(!hw_xfrm_legal(1) && !hw_xfrm_legal(0x23) && !hw_xfrm_legal(0x63) && !hw_xfrm_legal(0x8003));
}

Test(cpuid, xfrm_allowed_for_a_host_xcr0)
{
	cr_assert_eq(hw_xfrm_allowed_for(0x3), 0x3);
	cr_assert_eq(hw_xfrm_allowed_for(0x7), 0x7);
	cr_assert_eq(hw_xfrm_allowed_for(0xE7), 0xE7);
	cr_assert_eq(hw_xfrm_allowed_for(0x2E7), 0x2E7);
	cr_assert_eq(hw_xfrm_allowed_for(0x602E7), 0x602E7);
	cr_assert_eq(hw_xfrm_allowed_for(0x1F), 0x1F, "MPX where the kernel still enables it");
	/* Components the model does not know (APX, bit 19), supervisor bits: never offered. */
	cr_assert_eq(hw_xfrm_allowed_for(0x802E7), 0x2E7);
	cr_assert_eq(hw_xfrm_allowed_for(0x2E7 | (1ULL << 11) | (1ULL << 63)), 0x2E7);
	/* Groups XSETBV needs whole are dropped when incomplete. */
	cr_assert_eq(hw_xfrm_allowed_for(0x27), 0x7);
	cr_assert_eq(hw_xfrm_allowed_for(0xE3), 0x3, "AVX-512 without AVX");
	cr_assert_eq(hw_xfrm_allowed_for(0xF), 0x7);
	cr_assert_eq(hw_xfrm_allowed_for(0x20007), 0x7);
	/* x87 and SSE always. */
	cr_assert_eq(hw_xfrm_allowed_for(0x0), 0x3);
	cr_assert_eq(hw_xfrm_allowed_for(0x1), 0x3);
	for (uint64_t x = 0; x < 0x100; x++)
		cr_assert(hw_xfrm_legal(hw_xfrm_allowed_for(x | (x << 10))), "XCR0 %#llx", (unsigned long long)x);
}

Test(cpuid, leaf12_sub1_reports_the_xfrm_allowed)
{
	static const uint64_t hosts[][2] = {
	    {0x3, 0x3}, {0x7, 0x7}, {0xE7, 0xE7}, {0x2E7, 0x2E7}, {0x602E7, 0x602E7}, {0x802E7, 0x2E7},
	};
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct hw_config c;
		hw_config_default(&c);
		c.xcr0 = c.xfrm_allowed = hw_xfrm_allowed_for(hosts[i][0]);
		struct hw_machine *m = NULL;
		char err[128];
		cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), 0, "%s", err);
		struct hw_cpuid r = hw_cpuid12(m, 1);
		cr_assert_eq(r.ecx, (uint32_t)hosts[i][1], "XCR0 %#llx: ECX %#x", (unsigned long long)hosts[i][0],
			     r.ecx);
		cr_assert_eq(r.edx, (uint32_t)(hosts[i][1] >> 32));
		cr_assert_eq(r.eax & SGX_ATTR_INIT, 0);
		hw_machine_destroy(m);
	}
	/* The default machine: x87 | SSE, whatever the host. */
	struct hw_machine *m = th_machine();
	cr_assert_eq(hw_cpuid12(m, 1).ecx, 0x3);
	cr_assert_eq(hw_cpuid12(m, 1).edx, 0);
	hw_machine_destroy(m);
}

Test(cpuid, xsave_size_in_a_machine_layout)
{
	struct hw_config c;
	hw_config_default(&c);
	cr_assert_eq(hw_xsave_size_in(&c, 0x2E7), hw_xsave_size(0x2E7), "the default layout is Intel's");
	/* An AMD-like layout (no MPX): AVX-512 right after AVX, PKRU at 2432. */
	c.xstate_offset[5] = 832;
	c.xstate_offset[6] = 896;
	c.xstate_offset[7] = 1408;
	c.xstate_offset[9] = 2432;
	cr_assert_eq(hw_xsave_size_in(&c, 0x3), 576);
	cr_assert_eq(hw_xsave_size_in(&c, 0x7), 832);
	cr_assert_eq(hw_xsave_size_in(&c, 0xE7), 2432);
	cr_assert_eq(hw_xsave_size_in(&c, 0x2E7), 2440);
	cr_assert_eq(hw_xsave_size_in(&c, 0x203), 2440);
}
