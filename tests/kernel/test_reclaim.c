/* SPDX-License-Identifier: MIT */
/* The reclaimer, swap-in and teardown (spec/linux-driver.md §7, §8). */
#include <stdlib.h>
#include <string.h>

#include "kharness.h"

static struct kh h;

static void setup(void)
{
	kh_setup(&h, NULL); /* 1 MiB EPC: 256 frames */
}

static void teardown(void)
{
	kh_teardown(&h);
}

TestSuite(reclaim, .init = setup, .fini = teardown, .timeout = 60);

#define RW (PROT_READ | PROT_WRITE)

static uint64_t lin(uint64_t off)
{
	return h.base + off;
}

static bool secs_resident(void)
{
	struct hw_secs_view v;
	return hw_secs_get(h.m, sgx_file_secs_pa(h.f), &v);
}

/* Page i's contents: its index in every 8-byte word, xor a pattern. */
static void fill(uint64_t *page, uint64_t i)
{
	for (unsigned w = 0; w < 512; w++)
		page[w] = (i << 16) ^ w ^ 0xA5A5A5A5ULL;
}

Test(reclaim, epc_smaller_than_enclave_pages_come_back_intact)
{
	const uint64_t size = 4 << 20, pages = size / 4096;
	cr_assert_eq(kh_create(&h, KH_BASE, size), 0);
	uint64_t *buf = aligned_alloc(4096, 64 * 4096);
	for (uint64_t first = 0; first < pages; first += 64) {
		for (uint64_t j = 0; j < 64; j++)
			fill(buf + 512 * j, first + j);
		uint64_t count;
		cr_assert_eq(kh_add(&h, first * 4096, 64 * 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), buf,
				    SGX_PAGE_MEASURE, &count),
			     0, "pages at %llu", (unsigned long long)first);
		cr_assert_eq(count, 64 * 4096);
	}
	uint64_t resident, evicted;
	sgxk_page_counts(h.k, &resident, &evicted);
	cr_assert_eq(resident + evicted, pages);
	cr_assert_gt(evicted, pages / 2);
	cr_assert_leq(resident, hw_epc_frames_total(h.m));
	cr_assert_eq(kh_init(&h), 0);
	cr_assert_eq(kh_mmap(&h, 0, size, RW), (long)h.base);
	/* Every page faults back in (ELDU, reclaiming others) with its contents. */
	for (uint64_t i = 0; i < pages; i++) {
		cr_assert_eq(sgxk_fault(h.k, lin(i * 4096), PF_U), SGXK_FAULT_FIXED, "page %llu",
			     (unsigned long long)i);
		fill(buf, i);
		cr_assert_eq(memcmp((void *)(uintptr_t)lin(i * 4096), buf, 4096), 0, "page %llu",
			     (unsigned long long)i);
	}
	/* Page 0 was evicted again meanwhile (no access to it), and writes survive eviction too. */
	cr_assert_eq(sgxk_host_prot(h.k, lin(0)), PROT_NONE);
	cr_assert_eq(sgxk_fault(h.k, lin(0), PF_U | PF_W), SGXK_FAULT_FIXED);
	((uint64_t *)(uintptr_t)lin(0))[3] = 0xFEEDFACE;
	cr_assert_gt(sgxk_reclaim(h.k, 1000), 0);
	cr_assert_eq(sgxk_host_prot(h.k, lin(0)), PROT_NONE);
	cr_assert_eq(sgxk_fault(h.k, lin(0), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(((uint64_t *)(uintptr_t)lin(0))[3], 0xFEEDFACE);
	free(buf);
}

Test(reclaim, secs_goes_last_and_comes_back_first)
{
	kh_build(&h, KH_SIZE, true);
	uint64_t used = hw_epc_frames_total(h.m) - hw_epc_frames_free(h.m);
	/* SECS, one VA page, six children. */
	cr_assert_eq(used, 8);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	cr_assert_not(secs_resident());
	/* Only the VA page stays. */
	cr_assert_eq(hw_epc_frames_total(h.m) - hw_epc_frames_free(h.m), 1);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert(secs_resident());
	cr_assert_eq(((uint8_t *)(uintptr_t)lin(KH_DATA))[4095], 0x5A);
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.valid && v.r && v.w && !v.blocked);
}

Test(reclaim, not_initialized_enclave_keeps_its_secs)
{
	kh_build(&h, KH_SIZE, false);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	cr_assert(secs_resident());
	/* EINIT works with every child evicted. */
	cr_assert_eq(kh_init(&h), 0);
}

Test(reclaim, ioctl_lookup_swaps_in)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	struct sgx_enclave_restrict_permissions a = {.offset = KH_DATA, .length = 4096, .permissions = SGX_SECINFO_R};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &a), 0);
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.valid && v.r && !v.w && v.pr);
	cr_assert_eq(memcmp(kh_frame(&h, KH_DATA), (uint8_t[4096]){[0 ... 4095] = 0x5A}, 4096), 0);
}

Test(reclaim, sgx2_ioctls_reclaim_below_the_low_watermark)
{
	kh_build(&h, KH_SIZE, true);
	/* Dynamic pages until fewer than 32 frames are free. */
	uint64_t off = KH_DYN;
	while (hw_epc_frames_free(h.m) >= 20) {
		cr_assert_eq(sgxk_fault(h.k, lin(off), PF_U), SGXK_FAULT_FIXED);
		off += 4096;
	}
	uint64_t before = hw_epc_frames_free(h.m);
	struct sgx_enclave_restrict_permissions a = {.offset = KH_DATA, .length = 4096, .permissions = SGX_SECINFO_R};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &a), 0);
	cr_assert_gt(hw_epc_frames_free(h.m), before);
}

static unsigned kicks;

static void kick_aex(struct sgxk *k, struct hw_thread *t, void *arg)
{
	(void)k;
	(void)arg;
	kicks++;
	hw_aex(t, &(struct hw_event){.vector = 0x20, .interrupt = true});
}

Test(reclaim, threads_inside_are_forced_out_then_resume)
{
	kh_build(&h, KH_SIZE, true);
	struct hw_thread t;
	kh_thread(&h, &t);
	sgxk_set_kick(h.k, kick_aex, NULL);
	kh_enter(&h, &t);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	cr_assert_geq(kicks, 1);
	cr_assert_not(t.in_enclave);
	/* ERESUME faults its TCS and SSA back in. */
	kh_assert_ok(kh_enclu(&h, &t, ENCLU_ERESUME, lin(KH_TCS), 0x400000, 0, NULL, NULL));
	cr_assert(t.in_enclave);
	kh_assert_ok(kh_enclu(&h, &t, ENCLU_EACCEPT, lin(KH_SI + KH_SI_PENDING_RW), lin(KH_DYN), 0, NULL, NULL));
	kh_exit(&h, &t);
	sgxk_thread_unregister(h.k, &t);
	hw_thread_fini(&t);
}

Test(reclaim, without_ipis_a_thread_inside_keeps_its_pages)
{
	kh_build(&h, KH_SIZE, true);
	struct hw_thread t;
	kh_thread(&h, &t);
	kh_enter(&h, &t);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 0);
	cr_assert(t.in_enclave);
	kh_exit(&h, &t);
	/* Once the thread is out, the (still blocked) pages go and come back intact. */
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(((uint8_t *)(uintptr_t)lin(KH_DATA))[0], 0x5A);
	cr_assert_not(kh_epcm(&h, KH_DATA).blocked);
	sgxk_thread_unregister(h.k, &t);
	hw_thread_fini(&t);
}

/* ---- teardown ---- */

Test(reclaim, teardown_returns_every_frame_after_close_and_munmap)
{
	kh_build(&h, KH_SIZE, true);
	for (uint64_t off = KH_DYN; off < KH_DYN + 0x10000; off += 4096)
		cr_assert_eq(sgxk_fault(h.k, lin(off), PF_U), SGXK_FAULT_FIXED);
	cr_assert_gt(sgxk_reclaim(h.k, 8), 0);
	uint64_t total = hw_epc_frames_total(h.m);
	/* close() alone keeps the enclave: the mappings hold it. */
	sgx_file_close(h.f);
	cr_assert_lt(hw_epc_frames_free(h.m), total);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(((uint8_t *)(uintptr_t)lin(KH_DATA))[0], 0x5A);
	/* The last mapping goes: every EPC frame comes back. */
	cr_assert_eq(sgxk_munmap(h.k, h.base, KH_SIZE), 0);
	cr_assert_eq(hw_epc_frames_free(h.m), total);
}

Test(reclaim, munmap_alone_keeps_the_enclave)
{
	kh_build(&h, KH_SIZE, true);
	uint64_t free_before = hw_epc_frames_free(h.m);
	cr_assert_eq(sgxk_munmap(h.k, h.base, KH_SIZE), 0);
	cr_assert_eq(hw_epc_frames_free(h.m), free_before);
	cr_assert(secs_resident());
	sgx_file_close(h.f);
	cr_assert_eq(hw_epc_frames_free(h.m), hw_epc_frames_total(h.m));
}
