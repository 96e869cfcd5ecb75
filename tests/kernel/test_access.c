/* SPDX-License-Identifier: MIT */
/*
 * A debugger's access to enclave memory (sgxk_access, spec/linux-driver.md
 * §6: vm_ops->access behind ptrace and /proc/pid/mem): EDBGRD/EDBGWR word
 * by word, swap-in, the errors, a page the reclaimer holds; then faults,
 * accesses, an SGX2 ioctl, reclaim and a thread inside from several threads
 * at once.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
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

TestSuite(access, .init = setup, .fini = teardown, .timeout = 60);

#define RW  (PROT_READ | PROT_WRITE)
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

#define DATA_WORD 0x5A5A5A5A5A5A5A5AULL

static uint64_t lin(uint64_t off)
{
	return h.base + off;
}

static uint8_t *frame(uint64_t off)
{
	return kh_frame(&h, off);
}

static uint64_t frames_used(void)
{
	return hw_epc_frames_total(h.m) - hw_epc_frames_free(h.m);
}

static bool secs_resident(void)
{
	struct hw_secs_view v;
	return hw_secs_get(h.m, sgx_file_secs_pa(h.f), &v);
}

/* ---- reading and writing ---- */

Test(access, reads_and_writes_words_of_a_debug_enclave)
{
	kh_build(&h, KH_SIZE, true);
	uint8_t buf[16];
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), buf, sizeof(buf), false), 16);
	for (unsigned i = 0; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0x5A, "byte %u", i);
	uint64_t w = 0x1122334455667788ULL, r = 0;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA + 8), &w, 8, true), 8);
	cr_assert_eq(memcmp(frame(KH_DATA) + 8, &w, 8), 0);
	cr_assert_eq(frame(KH_DATA)[7], 0x5A);
	cr_assert_eq(frame(KH_DATA)[16], 0x5A);
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA + 8), &r, 8, false), 8);
	cr_assert_eq(r, w);
	/* A debugger may patch code (a breakpoint): one byte of an RX page, its neighbours kept. */
	uint8_t int3 = 0xCC;
	cr_assert_eq(sgxk_access(h.k, lin(KH_CODE + 5), &int3, 1, true), 1);
	cr_assert_eq(frame(KH_CODE)[4], 0xC3);
	cr_assert_eq(frame(KH_CODE)[5], 0xCC);
	cr_assert_eq(frame(KH_CODE)[6], 0xC3);
	/* The EPCM is not touched, and nothing is mapped for the host. */
	struct hw_epcm_view v = kh_epcm(&h, KH_CODE);
	cr_assert(v.valid && v.r && !v.w && v.x && !v.blocked && !v.pending && !v.modified);
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), buf, 0, false), 0);
}

Test(access, unaligned_range_across_a_page_boundary_splices_words)
{
	kh_build(&h, KH_SIZE, true);
	/* 13 bytes from 3 before the end of the first SSA page: parts of three words on two pages. */
	uint8_t in[13];
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xA0 + i);
	cr_assert_eq(sgxk_access(h.k, lin(KH_SSA + 0xFFD), in, sizeof(in), true), 13);
	uint8_t *p0 = frame(KH_SSA), *p1 = frame(KH_SSA + 0x1000);
	cr_assert_eq(memcmp(p0 + 0xFFD, in, 3), 0);
	cr_assert_eq(memcmp(p1, in + 3, 10), 0);
	/* The rest of the words written keeps its value. */
	for (unsigned i = 0xFF8; i < 0xFFD; i++)
		cr_assert_eq(p0[i], 0, "byte %#x", i);
	for (unsigned i = 10; i < 16; i++)
		cr_assert_eq(p1[i], 0, "byte %#x", 0x1000 + i);
	uint8_t out[5];
	cr_assert_eq(sgxk_access(h.k, lin(KH_SSA + 0xFFE), out, sizeof(out), false), 5);
	cr_assert_eq(memcmp(out, in + 1, 5), 0);
}

Test(access, prot_none_mapping_is_still_reachable)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, PROT_NONE), 0);
	uint64_t w = 0;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, false), 8);
	cr_assert_eq(w, DATA_WORD);
}

/* ---- errors ---- */

Test(access, enclave_without_debug_efault)
{
	static struct sgx_secs secs __attribute__((aligned(4096)));
	kh_secs(&secs, KH_BASE, KH_SIZE);
	secs.attributes &= ~SGX_ATTR_DEBUG;
	struct sgx_enclave_create c = {.src = (uint64_t)(uintptr_t)&secs};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_CREATE, &c), 0);
	static uint8_t page[4096];
	memset(page, 0x5A, sizeof(page));
	cr_assert_eq(kh_add(&h, KH_DATA, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), page, 0, NULL), 0);
	cr_assert_eq(kh_mmap(&h, 0, KH_SIZE, RW), (long)h.base);
	uint64_t w = 0;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, false), -EFAULT);
	cr_assert_eq(w, 0);
	w = 1;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, true), -EFAULT);
	cr_assert_eq(frame(KH_DATA)[0], 0x5A);
	/* The driver refuses before the CPU would (EDBGRD #GP: EIO). */
	uint64_t d;
	cr_assert(hw_is_fault(encls_edbgrd(h.m, sgx_file_frame(h.f, lin(KH_DATA)), &d), X86_GP));
}

Test(access, outside_any_enclave_vma_efault)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_munmap(h.k, lin(KH_DATA), 4096), 0);
	uint64_t w = 0;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, false), -EFAULT);
	static uint64_t plain = 7;
	cr_assert_eq(sgxk_access(h.k, (uint64_t)(uintptr_t)&plain, &w, 8, false), -EFAULT);
	cr_assert_eq(sgxk_access(h.k, UINT64_MAX - 3, &w, 8, false), -EFAULT);
	cr_assert_eq(w, 0);
	/* A range that starts in a VMA goes on by address past its end, as Linux's does. */
	uint64_t r[2] = {0, 0};
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA - 8), r, 16, false), 16);
	cr_assert_eq(r[1], 0x5A5A5A5A5A5A5A5AULL);
}

Test(access, missing_page_efault_after_the_words_before_it)
{
	kh_build(&h, KH_SIZE, true);
	uint64_t used = frames_used();
	/* The last word of the data page, then the first of KH_DYN (never added). */
	uint64_t w[2] = {0x1111111111111111ULL, 0x2222222222222222ULL}, r[2] = {0, 0};
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA + 0xFF8), w, 16, true), -EFAULT);
	cr_assert_eq(memcmp(frame(KH_DATA) + 0xFF8, &w[0], 8), 0);
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA + 0xFF8), r, 16, false), -EFAULT);
	cr_assert_eq(r[0], w[0]);
	cr_assert_eq(r[1], 0);
	/* Unlike a fault on SGX2, an access adds no page. */
	cr_assert_eq(sgxk_access(h.k, lin(KH_DYN), r, 8, false), -EFAULT);
	cr_assert_not(kh_epcm(&h, KH_DYN).valid);
	cr_assert_eq(frames_used(), used);
}

Test(access, vma_above_the_page_ceiling_efault)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	/* Mapped RWX before the page exists (holes impose no limit), then added read-only. */
	cr_assert_eq(kh_mmap(&h, 0, KH_SIZE, RWX), (long)h.base);
	static uint8_t page[4096];
	memset(page, 0x33, sizeof(page));
	cr_assert_eq(kh_add(&h, KH_DATA, 4096, SI_REG(SGX_SECINFO_R), page, 0, NULL), 0);
	uint64_t w = 0;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, false), -EFAULT);
	cr_assert_eq(w, 0);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, PROT_READ), 0);
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, false), 8);
	cr_assert_eq(w, 0x3333333333333333ULL);
}

Test(access, range_is_checked_against_the_vma_it_starts_in)
{
	kh_build(&h, KH_SIZE, true);
	uint64_t w[2];
	/* From the code mapping (RX) into the SECINFO page (ceiling RW): X is above its ceiling. */
	cr_assert_eq(sgxk_access(h.k, lin(KH_SI - 8), w, 16, false), -EFAULT);
	/* From the SSA mapping (RW) into the code page (ceiling RX): W is above its ceiling. */
	cr_assert_eq(sgxk_access(h.k, lin(KH_CODE - 8), w, 16, false), -EFAULT);
	/* Each part alone is allowed. */
	cr_assert_eq(sgxk_access(h.k, lin(KH_SI - 8), w, 8, false), 8);
	cr_assert_eq(w[0], 0xC3C3C3C3C3C3C3C3ULL);
	cr_assert_eq(sgxk_access(h.k, lin(KH_SI), w, 8, false), 8);
	cr_assert_eq(sgxk_access(h.k, lin(KH_CODE - 8), w, 8, false), 8);
	cr_assert_eq(sgxk_access(h.k, lin(KH_CODE), w, 8, false), 8);
}

Test(access, tcs_fields_as_edbgrd_and_edbgwr_allow)
{
	kh_build(&h, KH_SIZE, true);
	struct sgx_tcs *tcs = (struct sgx_tcs *)frame(KH_TCS);
	uint64_t w = 0;
	cr_assert_eq(sgxk_access(h.k, lin(KH_TCS + offsetof(struct sgx_tcs, ossa)), &w, 8, false), 8);
	cr_assert_eq(w, KH_SSA);
	/* FLAGS is the one field EDBGWR may write (DBGOPTIN), a single byte too. */
	uint8_t b = SGX_TCS_DBGOPTIN;
	cr_assert_eq(sgxk_access(h.k, lin(KH_TCS + offsetof(struct sgx_tcs, flags)), &b, 1, true), 1);
	cr_assert_eq(tcs->flags, SGX_TCS_DBGOPTIN);
	/* Any other field: EDBGWR #GP, EIO, nothing changed. */
	w = 0x9000;
	cr_assert_eq(sgxk_access(h.k, lin(KH_TCS + offsetof(struct sgx_tcs, ossa)), &w, 8, true), -EIO);
	cr_assert_eq(tcs->ossa, KH_SSA);
	/* Past the architectural fields EDBGRD #GPs too. */
	cr_assert_eq(sgxk_access(h.k, lin(KH_TCS + offsetof(struct sgx_tcs, reserved)), &w, 8, false), -EIO);
}

Test(access, pending_or_trimmed_page_eio)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U), SGXK_FAULT_FIXED);
	cr_assert(kh_epcm(&h, KH_DYN).pending);
	uint64_t w = 0;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DYN), &w, 8, false), -EIO);
	struct sgx_enclave_modify_types m = {.offset = KH_DATA, .length = 4096, .page_type = SGX_PT_TRIM};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, &m), 0);
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, false), -EIO);
	cr_assert_eq(w, 0);
}

/* ---- evicted pages ---- */

Test(access, evicted_page_is_loaded_secs_first_without_a_pte)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	cr_assert_not(secs_resident());
	uint64_t w = 0xABCDEF;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA + 0x100), &w, 8, true), 8);
	cr_assert(secs_resident());
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.valid && v.r && v.w && !v.blocked);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), PROT_NONE);
	/* Written back with the change; the enclave's own view after a fault has it. */
	cr_assert_eq(sgxk_reclaim(h.k, 100), 1);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(*(volatile uint64_t *)(uintptr_t)lin(KH_DATA + 0x100), 0xABCDEF);
	cr_assert_eq(*(volatile uint8_t *)(uintptr_t)lin(KH_DATA + 0xFF), 0x5A);
}

/* Page i's word w: its index and the word's, xor a pattern. */
static uint64_t pattern(uint64_t i, unsigned w)
{
	return (i << 16) ^ w ^ 0xC0FFEE00ULL;
}

/* Create (size), add every page with its pattern, INIT, map RW. */
static void build_patterned(uint64_t size)
{
	cr_assert_eq(kh_create(&h, KH_BASE, size), 0);
	uint64_t *buf = aligned_alloc(4096, 64 * 4096);
	cr_assert(buf);
	for (uint64_t first = 0; first < size / 4096; first += 64) {
		for (uint64_t j = 0; j < 64; j++)
			for (unsigned w = 0; w < 512; w++)
				buf[512 * j + w] = pattern(first + j, w);
		cr_assert_eq(kh_add(&h, first * 4096, 64 * 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), buf, 0, NULL),
			     0);
	}
	free(buf);
	cr_assert_eq(kh_init(&h), 0);
	cr_assert_eq(kh_mmap(&h, 0, size, RW), (long)h.base);
}

Test(access, enclave_larger_than_the_epc_reads_and_writes_every_page)
{
	kh_teardown(&h);
	struct sgxk_config c;
	kh_config(&c);
	c.hw.epc_size = 32 * 4096;
	kh_setup(&h, &c);
	const uint64_t size = 256 * 4096, pages = size / 4096;
	build_patterned(size);
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t w[2] = {~pattern(i, 1), ~pattern(i, 2)};
		cr_assert_eq(sgxk_access(h.k, lin(i * 4096 + 8), w, 16, true), 16, "page %llu", (unsigned long long)i);
	}
	uint64_t resident, evicted;
	sgxk_page_counts(h.k, &resident, &evicted);
	cr_assert_gt(evicted, pages / 2);
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t r[4];
		cr_assert_eq(sgxk_access(h.k, lin(i * 4096), r, sizeof(r), false), 32, "page %llu",
			     (unsigned long long)i);
		cr_assert(r[0] == pattern(i, 0) && r[1] == ~pattern(i, 1) && r[2] == ~pattern(i, 2) &&
			      r[3] == pattern(i, 3),
			  "page %llu", (unsigned long long)i);
	}
}

/* ---- a page the reclaimer holds ---- */

static struct {
	pthread_t th;
	long ret;
	uint64_t word;
	bool waited;
} reader;

static void *read_data(void *arg)
{
	(void)arg;
	reader.ret = sgxk_access(h.k, lin(KH_DATA), &reader.word, 8, false);
	return NULL;
}

/* With every page blocked for write-back: a reader starts, and the batch goes on once it waits. */
static void start_reader_while_blocked(struct sgxk *k, enum sgxk_test_reclaim_step step, void *arg)
{
	(void)arg;
	if (step != SGXK_TEST_RECLAIM_BLOCKED)
		return;
	cr_assert(kh_epcm(&h, KH_DATA).blocked);
	cr_assert_eq(pthread_create(&reader.th, NULL, read_data, NULL), 0);
	for (unsigned i = 0; i < 5000 && atomic_load(&k->test.reclaim_waits) == 0; i++)
		nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
	reader.waited = atomic_load(&k->test.reclaim_waits) > 0;
}

Test(access, waits_while_the_reclaimer_holds_the_page)
{
	kh_build(&h, KH_SIZE, true);
	h.k->test.reclaim = start_reader_while_blocked;
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	h.k->test.reclaim = NULL;
	cr_assert_eq(pthread_join(reader.th, NULL), 0);
	cr_assert(reader.waited, "the reader never found the page being reclaimed");
	cr_assert_eq(reader.ret, 8);
	cr_assert_eq(reader.word, DATA_WORD);
	/* Written back meanwhile, then loaded again by the reader. */
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.valid && !v.blocked);
	uint64_t resident, evicted;
	sgxk_page_counts(h.k, &resident, &evicted);
	cr_assert_eq(resident, 1);
	cr_assert_eq(evicted, 5);
}

/* ---- a page walk racing with the reclaimer ---- */

static struct {
	struct hw_mmu mmu;
	atomic_bool armed, walked, blocked;
} slow;

/* The kernel's page walk; once armed, a pause after it until the reclaimer blocked the page (200 ms at most). */
static bool slow_translate(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, uint32_t *err)
{
	(void)mmu;
	const struct hw_mmu *k = sgxk_mmu(h.k);
	bool ok = k->translate(k, lin, acc, pa, err);
	if (atomic_exchange(&slow.armed, false)) {
		atomic_store(&slow.walked, true);
		for (unsigned i = 0; i < 200 && !atomic_load(&slow.blocked); i++)
			nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
	}
	return ok;
}

static void note_blocked(struct sgxk *k, enum sgxk_test_reclaim_step step, void *arg)
{
	(void)k;
	(void)arg;
	if (step == SGXK_TEST_RECLAIM_BLOCKED)
		atomic_store(&slow.blocked, true);
}

static void *reclaim_after_the_walk(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < 5000 && !atomic_load(&slow.walked); i++)
		nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
	sgxk_reclaim(h.k, 100);
	return NULL;
}

Test(access, a_walk_that_found_the_pte_is_not_undone_by_a_later_eblock)
{
	/* 1. A thread inside (no kick: its pages stay blocked), the data page mapped with a PTE. */
	kh_build(&h, KH_SIZE, true);
	slow.mmu.translate = slow_translate;
	struct hw_thread t;
	cr_assert_eq(hw_thread_init(&t, h.m, &slow.mmu), 0);
	t.regs.rsp = 0x7000;
	sgxk_thread_register(h.k, &t);
	kh_enter(&h, &t);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);

	/* 2. The access check walks, then the reclaimer zaps the PTE and EBLOCKs the page. */
	h.k->test.reclaim = note_blocked;
	atomic_store(&slow.armed, true);
	pthread_t r;
	cr_assert_eq(pthread_create(&r, NULL, reclaim_after_the_walk, NULL), 0);
	uint64_t pa;
	struct hw_result res = hw_access_check(&t, lin(KH_DATA), HW_ACC_R, &pa);
	pthread_join(r, NULL);
	cr_assert(atomic_load(&slow.walked));

	/* 3. Like a TLB entry filled before the EBLOCK, the access goes through; a new walk finds no PTE. */
	kh_assert_ok(res);
	cr_assert_eq(pa, sgx_file_frame(h.f, lin(KH_DATA)));
	cr_assert(kh_epcm(&h, KH_DATA).blocked);
	res = hw_access_check(&t, lin(KH_DATA), HW_ACC_R, &pa);
	cr_assert(hw_is_fault(res, X86_PF) && !(res.errcode & PF_SGX), "got %s", kh_fmt(res));
	hw_aex(&t, &(struct hw_event){.vector = 0x20, .interrupt = true});
	sgxk_thread_unregister(h.k, &t);
	hw_thread_fini(&t);
}

/* ---- several threads at once ---- */

#define STRESS_SIZE  (512 * 4096ULL) /* twice the EPC */
#define STRESS_FIRST (KH_DYN / 4096) /* the patterned pages: STRESS_FIRST .. 511 */
#define STRESS_PAGES (STRESS_SIZE / 4096 - STRESS_FIRST)

static struct {
	atomic_bool stop;
	atomic_uint failures;
	char msg[192];
	struct hw_thread t;
	uint64_t written[STRESS_SIZE / 4096]; /* word 1 of each page, as the writer last set it (0: pattern) */
} st;

static void stress_fail(const char *what, uint64_t page, long got)
{
	if (atomic_fetch_add(&st.failures, 1) == 0)
		snprintf(st.msg, sizeof(st.msg), "%s: page %llu, got %ld", what, (unsigned long long)page, got);
}

static uint64_t stress_page(unsigned *seed)
{
	return STRESS_FIRST + (uint64_t)rand_r(seed) % STRESS_PAGES;
}

/* Faults on random pages: each is fixed (loaded, or retried while the reclaimer holds it). */
static void *stress_faults(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (unsigned n = 0; n < 1500 && !atomic_load(&st.stop); n++) {
		uint64_t i = stress_page(&seed);
		enum sgxk_fault f = sgxk_fault(h.k, lin(i * 4096), PF_U);
		if (f != SGXK_FAULT_FIXED)
			stress_fail("fault", i, f);
	}
	return NULL;
}

/* Debugger writes and reads: the page keeps its pattern and the last value written. */
static void *stress_access(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (unsigned n = 1; n <= 600 && !atomic_load(&st.stop); n++) {
		uint64_t i = stress_page(&seed), v = i << 32 | n, r[2];
		long ret = sgxk_access(h.k, lin(i * 4096 + 8), &v, 8, true);
		if (ret != 8) {
			stress_fail("access write", i, ret);
			continue;
		}
		st.written[i] = v;
		ret = sgxk_access(h.k, lin(i * 4096), r, 16, false);
		if (ret != 16 || r[0] != pattern(i, 0) || r[1] != v)
			stress_fail("access read", i, ret);
	}
	return NULL;
}

static double stress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * RESTRICT_PERMISSIONS (to RW: no change) over four pages, resumed at
 * offset+count on EAGAIN.  A page stays busy while the batch that holds it
 * is written back, however long the reclaimer waits for a CPU on a loaded
 * machine: a page is given up on after seconds of EAGAIN, not after a
 * number of tries.
 */
static void *stress_ioctl(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (unsigned n = 0; n < 150 && !atomic_load(&st.stop); n++) {
		uint64_t i = stress_page(&seed);
		if (i + 4 > STRESS_SIZE / 4096)
			i = STRESS_SIZE / 4096 - 4;
		uint64_t off = i * 4096, end = off + 4 * 4096;
		for (double give_up = stress_now() + 10; off < end;) {
			struct sgx_enclave_restrict_permissions a = {
			    .offset = off, .length = end - off, .permissions = SGX_SECINFO_R | SGX_SECINFO_W};
			long ret = kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &a);
			off += a.count;
			if (ret == 0)
				break;
			if (a.count)
				give_up = stress_now() + 10;
			if (ret != -EAGAIN || stress_now() > give_up) {
				stress_fail("restrict", off / 4096, ret);
				break;
			}
			sched_yield();
		}
	}
	return NULL;
}

/* mprotect of random ranges to R and back to RW: VMAs split under the others' feet. */
static void *stress_mprotect(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (unsigned n = 0; n < 100 && !atomic_load(&st.stop); n++) {
		uint64_t i = stress_page(&seed);
		if (i + 8 > STRESS_SIZE / 4096)
			i = STRESS_SIZE / 4096 - 8;
		int r1 = sgxk_mprotect(h.k, lin(i * 4096), 8 * 4096, PROT_READ);
		int r2 = sgxk_mprotect(h.k, lin(i * 4096), 8 * 4096, RW);
		if (r1 || r2)
			stress_fail("mprotect", i, r1 ? r1 : r2);
	}
	return NULL;
}

/* The thread inside the enclave: forced out by kicks, it comes back with ERESUME. */
static void *stress_enclave_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&st.stop)) {
		if (!__atomic_load_n(&st.t.in_enclave, __ATOMIC_ACQUIRE)) {
			st.t.regs.rax = ENCLU_ERESUME;
			st.t.regs.rbx = lin(KH_TCS);
			st.t.regs.rcx = 0x400000;
			struct hw_result r = hw_enclu(&st.t);
			if (hw_is_fault(r, X86_PF) && !(r.errcode & PF_SGX)) {
				enum sgxk_fault f = sgxk_fault(h.k, r.addr, r.errcode);
				if (f != SGXK_FAULT_FIXED)
					stress_fail("ERESUME fault", (r.addr - h.base) / 4096, f);
			} else if (!hw_is_ok(r)) {
				stress_fail("ERESUME", 0, (long)r.kind);
			}
		}
		nanosleep(&(struct timespec){.tv_nsec = 200 * 1000}, NULL);
	}
	return NULL;
}

static atomic_uint kicks;

static void kick_aex(struct sgxk *k, struct hw_thread *t, void *arg)
{
	(void)k;
	(void)arg;
	atomic_fetch_add(&kicks, 1);
	hw_aex(t, &(struct hw_event){.vector = 0x20, .interrupt = true});
}

Test(access, faults_accesses_ioctls_and_reclaim_from_several_threads, .timeout = 120)
{
	/* 1. An enclave twice the EPC, patterned, initialised, mapped; one thread inside. */
	kh_build(&h, STRESS_SIZE, false);
	uint64_t *buf = aligned_alloc(4096, 4096);
	cr_assert(buf);
	for (uint64_t i = STRESS_FIRST; i < STRESS_SIZE / 4096; i++) {
		for (unsigned w = 0; w < 512; w++)
			buf[w] = pattern(i, w);
		cr_assert_eq(kh_add(&h, i * 4096, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), buf, 0, NULL), 0);
	}
	free(buf);
	cr_assert_eq(kh_init(&h), 0);
	kh_thread(&h, &st.t);
	sgxk_set_kick(h.k, kick_aex, NULL);
	kh_enter(&h, &st.t);

	/* 2. Two faulting threads, a debugger, an ioctl caller, mprotect and the enclave thread, all at once. */
	void *(*fn[])(void *) = {stress_faults, stress_faults,	 stress_access,
				 stress_ioctl,	stress_mprotect, stress_enclave_thread};
	const unsigned n = sizeof(fn) / sizeof(fn[0]);
	pthread_t th[sizeof(fn) / sizeof(fn[0])];
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, fn[i], (void *)(uintptr_t)(i + 1)), 0);
	for (unsigned i = 0; i < n - 1; i++)
		pthread_join(th[i], NULL);
	atomic_store(&st.stop, true);
	pthread_join(th[n - 1], NULL);
	cr_assert_eq(atomic_load(&st.failures), 0, "%u failures, first: %s", atomic_load(&st.failures), st.msg);
	cr_assert_gt(atomic_load(&kicks), 0);

	/* 3. Every page is there once, with its pattern and the last write. */
	uint64_t resident, evicted;
	sgxk_page_counts(h.k, &resident, &evicted);
	cr_assert_eq(resident + evicted, STRESS_SIZE / 4096);
	cr_assert_gt(evicted, 0);
	for (uint64_t i = STRESS_FIRST; i < STRESS_SIZE / 4096; i++) {
		uint64_t r[3];
		cr_assert_eq(sgxk_access(h.k, lin(i * 4096), r, sizeof(r), false), 24, "page %llu",
			     (unsigned long long)i);
		uint64_t w1 = st.written[i] ? st.written[i] : pattern(i, 1);
		cr_assert(r[0] == pattern(i, 0) && r[1] == w1 && r[2] == pattern(i, 2), "page %llu",
			  (unsigned long long)i);
	}
	if (st.t.in_enclave)
		hw_aex(&st.t, &(struct hw_event){.vector = 0x20, .interrupt = true});
	sgxk_thread_unregister(h.k, &st.t);
	hw_thread_fini(&st.t);
}
