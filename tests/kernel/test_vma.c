/* SPDX-License-Identifier: MIT */
/* mmap/mprotect/munmap, page tables, host protection and the non-EDMM fault rows (spec §4, §5). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "kharness.h"

static struct kh h;

static void setup(void)
{
	kh_setup(&h, NULL);
}

static void teardown(void)
{
	kh_teardown(&h);
}

TestSuite(vma, .init = setup, .fini = teardown, .timeout = 60);

#define RW  (PROT_READ | PROT_WRITE)
#define RX  (PROT_READ | PROT_EXEC)
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

static uint64_t lin(uint64_t off)
{
	return h.base + off;
}

/* Translate through the kernel's page tables as the CPU would. */
static bool walk(uint64_t addr, unsigned acc, uint64_t *pa, uint32_t *err)
{
	const struct hw_mmu *mmu = sgxk_mmu(h.k);
	*err = 0xFFFF;
	return mmu->translate(mmu, addr, acc, pa, err);
}

/* The line of /proc/self/maps whose range contains addr, or "" (into buf). */
static const char *maps_line(uint64_t addr, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	cr_assert(f);
	bool found = false;
	while (!found && fgets(buf, (int)len, f)) {
		unsigned long long a, b;
		found = sscanf(buf, "%llx-%llx", &a, &b) == 2 && a <= addr && addr < b;
	}
	if (!found)
		buf[0] = 0;
	fclose(f);
	return buf;
}

/* ---- mmap ---- */

Test(vma, mmap_private_or_no_type_einval)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(sgx_file_mmap(h.f, h.base, 4096, RW, MAP_PRIVATE | MAP_FIXED, 0), -EINVAL);
	cr_assert_eq(sgx_file_mmap(h.f, h.base, 4096, RW, MAP_FIXED, 0), -EINVAL);
	cr_assert_eq(sgx_file_mmap(h.f, h.base, 0, RW, MAP_SHARED | MAP_FIXED, 0), -EINVAL);
	cr_assert_not(sgxk_owns(h.k, h.base));
}

Test(vma, mmap_exec_on_noexec_device_eperm_mprotect_eacces)
{
	kh_teardown(&h);
	struct sgxk_config c;
	kh_config(&c);
	c.noexec_dev = true;
	kh_setup(&h, &c);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_mmap(&h, 0, KH_SIZE, RX), -EPERM);
	cr_assert_eq(kh_mmap(&h, 0, KH_SIZE, RW), (long)h.base);
	cr_assert_eq(sgxk_mprotect(h.k, h.base, 4096, RX), -EACCES);
	cr_assert_eq(sgxk_mprotect(h.k, h.base, 4096, PROT_READ), 0);
}

Test(vma, mmap_before_init_any_range_after_init_only_elrange)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_add(&h, 0, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), NULL, 0, NULL), 0);
	/* A runtime's reservation: twice the size, starting below BASE. */
	cr_assert_eq(sgx_file_mmap(h.f, h.base - KH_SIZE, 2 * KH_SIZE, PROT_NONE, MAP_SHARED | MAP_FIXED, 0),
		     (long)(h.base - KH_SIZE));
	cr_assert_eq(kh_init(&h), 0);
	cr_assert_eq(sgx_file_mmap(h.f, h.base - 4096, 8192, PROT_READ, MAP_SHARED | MAP_FIXED, 0), -EACCES);
	cr_assert_eq(sgx_file_mmap(h.f, h.base + KH_SIZE - 4096, 8192, PROT_READ, MAP_SHARED | MAP_FIXED, 0), -EACCES);
	cr_assert_eq(kh_mmap(&h, 0, KH_SIZE, RW), (long)h.base);
	/* mprotect runs the same range check. */
	cr_assert_eq(sgxk_mprotect(h.k, h.base - KH_SIZE, 4096, PROT_READ), -EACCES);
}

Test(vma, mmap_without_fixed_picks_an_address)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	long a = sgx_file_mmap(h.f, 0, 2 * KH_SIZE, PROT_NONE, MAP_SHARED, 0);
	cr_assert_gt(a, 0);
	cr_assert_eq(a & 0xFFF, 0);
	cr_assert(sgxk_owns(h.k, (uint64_t)a));
	cr_assert(sgxk_owns(h.k, (uint64_t)a + 2 * KH_SIZE - 1));
	cr_assert_not(sgxk_owns(h.k, (uint64_t)a + 2 * KH_SIZE));
}

Test(vma, mmap_above_page_ceiling_eacces_holes_unlimited)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(kh_mmap(&h, KH_CODE, 4096, RW), -EACCES);
	cr_assert_eq(kh_mmap(&h, KH_CODE, 4096, RWX), -EACCES);
	cr_assert_eq(kh_mmap(&h, KH_TCS, 4096, RWX), -EACCES);
	cr_assert_eq(kh_mmap(&h, KH_DATA, 4096, RX), -EACCES);
	cr_assert_eq(kh_mmap(&h, KH_TCS, 4096, RW), (long)lin(KH_TCS));
	cr_assert_eq(kh_mmap(&h, KH_CODE, 4096, PROT_READ), (long)lin(KH_CODE));
	/* Never-added pages impose no limit. */
	cr_assert_eq(kh_mmap(&h, KH_DYN, KH_SIZE - KH_DYN, RWX), (long)lin(KH_DYN));
}

Test(vma, mmap_read_implies_exec_personality_eacces)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	int old = personality(0xffffffff);
	cr_assert_neq(personality((unsigned long)old | READ_IMPLIES_EXEC), -1);
	long r = kh_mmap(&h, 0, KH_SIZE, PROT_READ);
	personality((unsigned long)old);
	cr_assert_eq(r, -EACCES);
}

Test(vma, mmap_is_a_real_shared_mapping_of_the_epc)
{
	kh_build(&h, KH_SIZE, true);
	char line[256];
	maps_line(lin(KH_SI), line, sizeof(line));
	cr_assert(strstr(line, "sgxemu-epc"), "maps: %s", line);
	cr_assert(strstr(line, " ---s "), "maps: %s", line);
}

/* ---- mprotect / munmap ---- */

Test(vma, mprotect_checks_ceiling_and_unknown_ranges)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_CODE), 4096, RW), -EACCES);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, RWX), -EACCES);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, PROT_READ), 0);
	cr_assert_eq(sgxk_mprotect(h.k, 0x10000, 4096, PROT_READ), -ENOENT);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA) + 1, 4096, PROT_READ), -EINVAL);
}

/* do_mprotect_pkey's walk: VMA by VMA, each changed before the next is looked at. */
Test(vma, mprotect_changes_vma_by_vma_until_a_refusal_or_a_hole)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_SSA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_SSA)), RW);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_SSA), 0x2000, PROT_READ), 0);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_SSA)), PROT_READ);
	/* SSA frames (RW pages), then the code page (ceiling RX): refused there, the SSA VMA changed. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_SSA), 0x3000, RW), -EACCES);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_SSA)), RW);
	/* A hole after the SECINFO page: ENOMEM there, the page before it changed. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_SI), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_munmap(h.k, lin(KH_DATA), 4096), 0);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_SI), 0x3000, PROT_READ), -ENOMEM);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_SI)), PROT_READ);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 0x2000, PROT_READ), -ENOMEM, "a hole first");
}

Test(vma, munmap_drops_mapping_and_ptes_enclave_survives)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U | PF_W), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), RW);
	cr_assert_eq(sgxk_munmap(h.k, lin(KH_DATA), 4096), 0);
	cr_assert_not(sgxk_owns(h.k, lin(KH_DATA)));
	cr_assert(sgxk_owns(h.k, lin(KH_DATA) + 4096));
	cr_assert(sgxk_owns(h.k, lin(KH_DATA) - 4096));
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), -1);
	cr_assert_eq(sgxk_munmap(h.k, 0x10000, 4096), -ENOENT);
	/* Mapping it again gives a fresh mapping without PTE; the page is still there. */
	cr_assert_eq(kh_mmap(&h, KH_DATA, 4096, RW), (long)lin(KH_DATA));
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), PROT_NONE);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(((uint8_t *)(uintptr_t)lin(KH_DATA))[100], 0x5A);
}

/* ---- page tables (sgxk_mmu) ---- */

Test(vma, mmu_needs_pte_and_vma_permission)
{
	kh_build(&h, KH_SIZE, true);
	uint64_t pa;
	uint32_t err;
	/* No PTE before the first fault. */
	cr_assert_not(walk(lin(KH_DATA) + 8, HW_ACC_R | HW_ACC_USER, &pa, &err));
	cr_assert_eq(err, 0);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA) + 8, PF_U), SGXK_FAULT_FIXED);
	cr_assert(walk(lin(KH_DATA) + 8, HW_ACC_R | HW_ACC_W | HW_ACC_USER, &pa, &err));
	cr_assert_eq(pa, (uint64_t)(uintptr_t)kh_frame(&h, KH_DATA) + 8);
	cr_assert_not(walk(lin(KH_DATA), HW_ACC_X | HW_ACC_USER, &pa, &err));
	cr_assert_eq(err, PF_P);
	/* Code: RX VMA. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_CODE), PF_U | PF_I), SGXK_FAULT_FIXED);
	cr_assert(walk(lin(KH_CODE), HW_ACC_X | HW_ACC_USER, &pa, &err));
	cr_assert_not(walk(lin(KH_CODE), HW_ACC_W | HW_ACC_USER, &pa, &err));
	cr_assert_eq(err, PF_P);
	/* Ordinary process memory translates to itself; where the host maps nothing it is not present. */
	static uint8_t host_page[8192];
	uint64_t hp = ((uint64_t)(uintptr_t)host_page + 4095) & ~4095ULL;
	cr_assert(walk(hp, HW_ACC_R, &pa, &err));
	cr_assert_eq(pa, hp);
	cr_assert_not(walk(0x1234000, HW_ACC_R, &pa, &err));
	cr_assert_eq(err, 0);
}

/*
 * A thread's TLB (hw_mmu.gen, docs/hw.md "Address translation") keeps the
 * translations its leaves made only while the page tables stay as they
 * were: each mprotect, munmap, eviction (its PTE zapped) and fault (its PTE
 * set) is seen by the next access, the TLB full of the page before it.
 */
Test(vma, a_threads_tlb_follows_every_change_of_the_page_tables)
{
	kh_build(&h, KH_SIZE, true);
	struct hw_thread t;
	kh_thread(&h, &t);
	uint64_t pa, frame = (uint64_t)(uintptr_t)kh_frame(&h, KH_DATA);
	struct hw_result r;
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U | PF_W), SGXK_FAULT_FIXED);
	for (unsigned i = 0; i < 2; i++) {
		r = hw_access_check(&t, lin(KH_DATA) + 8, HW_ACC_W, &pa);
		cr_assert(hw_is_ok(r) && pa == frame + 8, "%s", kh_fmt(r));
	}
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, PROT_READ), 0);
	r = hw_access_check(&t, lin(KH_DATA), HW_ACC_W, &pa);
	cr_assert(hw_is_fault(r, X86_PF) && r.errcode == (PF_P | PF_W | PF_U), "after mprotect(READ): %s", kh_fmt(r));
	cr_assert(hw_is_ok(hw_access_check(&t, lin(KH_DATA), HW_ACC_R, &pa)));
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, RW), 0);
	cr_assert(hw_is_ok(hw_access_check(&t, lin(KH_DATA), HW_ACC_W, &pa)), "after mprotect(RW)");
	/* Evicted: its PTE is gone, the access is not present; the fault that loads it back sets it again. */
	cr_assert_eq(sgxk_evict(h.k, lin(KH_DATA)), 0);
	r = hw_access_check(&t, lin(KH_DATA), HW_ACC_R, &pa);
	cr_assert(hw_is_fault(r, X86_PF) && r.errcode == PF_U, "after eviction: %s", kh_fmt(r));
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	r = hw_access_check(&t, lin(KH_DATA) + 8, HW_ACC_R, &pa);
	cr_assert(hw_is_ok(r) && pa == frame + 8, "loaded back: %s", kh_fmt(r));
	/* Unmapped: not present, whatever the TLB held. */
	cr_assert_eq(sgxk_munmap(h.k, lin(KH_DATA), 4096), 0);
	r = hw_access_check(&t, lin(KH_DATA), HW_ACC_R, &pa);
	cr_assert(hw_is_fault(r, X86_PF) && r.errcode == PF_U, "after munmap: %s", kh_fmt(r));
	sgxk_thread_unregister(h.k, &t);
	hw_thread_fini(&t);
}

/* ---- host protection = PTE ∩ VMA ∩ EPCM ---- */

Test(vma, host_protection_follows_pte_vma_and_epcm)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), PROT_NONE);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), RW);
	/* The host mapping is the frame itself. */
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)lin(KH_DATA);
	cr_assert_eq(p[17], 0x5A);
	p[17] = 0x77;
	cr_assert_eq(((uint8_t *)kh_frame(&h, KH_DATA))[17], 0x77);
	/* mprotect narrows it. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, PROT_READ), 0);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), PROT_READ);
	/* EPCM RX under an RX VMA; a TCS is never accessible. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_CODE), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_CODE)), RX);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_TCS), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_TCS)), PROT_NONE);
	/* An EADD'd R page under an RW-capable request: EPCM caps it at R. */
	char line[256];
	maps_line(lin(KH_CODE), line, sizeof(line));
	cr_assert(strstr(line, "r-xs"), "maps: %s", line);
}

/* ---- fault handler rows that need no EDMM ---- */

Test(vma, fault_outside_vma_or_forbidden_by_vma_sigsegv)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_fault(h.k, 0x10000, PF_U), SGXK_FAULT_SIGSEGV);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_CODE), PF_U | PF_W), SGXK_FAULT_SIGSEGV);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U | PF_I), SGXK_FAULT_SIGSEGV);
}

Test(vma, fault_before_init_on_missing_page_sigbus)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_mmap(&h, 0, KH_SIZE, RW), (long)h.base);
	cr_assert_eq(sgxk_fault(h.k, lin(0x8000), PF_U), SGXK_FAULT_SIGBUS);
	/* Outside ELRANGE in a pre-INIT mapping. */
	cr_assert_eq(sgx_file_mmap(h.f, h.base + KH_SIZE, 4096, RW, MAP_SHARED | MAP_FIXED, 0),
		     (long)(h.base + KH_SIZE));
	cr_assert_eq(sgxk_fault(h.k, h.base + KH_SIZE, PF_U), SGXK_FAULT_SIGBUS);
}

Test(vma, fault_with_vma_above_ceiling_sigbus)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	/* Mapped RW while the range was a hole; then an R page is added there. */
	cr_assert_eq(kh_mmap(&h, 0, KH_SIZE, RW), (long)h.base);
	cr_assert_eq(kh_add(&h, 0x8000, 4096, SI_REG(SGX_SECINFO_R), NULL, 0, NULL), 0);
	cr_assert_eq(sgxk_fault(h.k, lin(0x8000), PF_U), SGXK_FAULT_SIGBUS);
	cr_assert_eq(sgxk_host_prot(h.k, lin(0x8000)), PROT_NONE);
}

Test(vma, sgx1_missing_page_after_init_sigbus)
{
	kh_teardown(&h);
	struct sgxk_config c;
	kh_config(&c);
	c.hw.sgx1_only = true;
	kh_setup(&h, &c);
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U | PF_W), SGXK_FAULT_SIGBUS);
	cr_assert_not(kh_epcm(&h, KH_DYN).valid);
}

Test(vma, mmap_fixed_replaces_an_enclave_mapping)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(kh_mmap(&h, KH_SI, 0x4000, PROT_READ), (long)lin(KH_SI));
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), PROT_NONE);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U | PF_W), SGXK_FAULT_SIGSEGV);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), PROT_READ);
}

/*
 * MAP_FIXED over an enclave mapping: at no moment may a page be accessible at the host while the
 * records say it has no PTE or no VMA, or a reclaimer, which revokes only the access it knows of,
 * would let enclave code write the page while EWB copies it.
 *   1. The remapper faults the data page in (host RW) and maps its range again, over and over.
 *   2. A reclaimer evicts pages meanwhile (the next fault loads the page back).
 *   3. The observer holds pt_lock, under which every host protection change is made, and checks
 *      that a page the host lets it read is one the records call readable.
 */
static struct {
	atomic_bool stop;
	atomic_uint remaps, looks, readable, unrecorded;
} mt;

static void *remapper(void *arg)
{
	(void)arg;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < 20000; i++) {
		enum sgxk_fault f = sgxk_fault(h.k, lin(KH_DATA), PF_U | PF_W);
		if (f != SGXK_FAULT_FIXED || kh_mmap(&h, KH_DATA, 4096, RW) != (long)lin(KH_DATA))
			break;
		atomic_fetch_add(&mt.remaps, 1);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 2)
			break;
	}
	atomic_store(&mt.stop, true);
	return NULL;
}

static void *reclaimer(void *arg)
{
	(void)arg;
	while (!atomic_load(&mt.stop)) {
		sgxk_reclaim(h.k, 2);
		sched_yield();
	}
	return NULL;
}

static void *observer(void *arg)
{
	(void)arg;
	uint64_t a = lin(KH_DATA);
	while (!atomic_load(&mt.stop)) {
		uint8_t b;
		struct iovec local = {.iov_base = &b, .iov_len = 1},
			     remote = {.iov_base = (void *)(uintptr_t)a, .iov_len = 1};
		pthread_mutex_lock(&h.k->pt_lock);
		bool readable = process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1;
		struct sgx_vma *v = vma_find(h.k, a);
		struct encl_page *p = v ? encl_page_at(v->encl, a) : NULL;
		bool recorded = p && p->pte && (p->host_prot & PROT_READ);
		pthread_mutex_unlock(&h.k->pt_lock);
		atomic_fetch_add(&mt.looks, 1);
		atomic_fetch_add(&mt.readable, readable);
		if (readable && !recorded)
			atomic_fetch_add(&mt.unrecorded, 1);
	}
	return NULL;
}

Test(vma, mmap_fixed_over_a_mapping_never_leaves_a_page_accessible_unrecorded)
{
	kh_build(&h, KH_SIZE, true);
	pthread_t th[3];
	cr_assert_eq(pthread_create(&th[0], NULL, observer, NULL), 0);
	cr_assert_eq(pthread_create(&th[1], NULL, reclaimer, NULL), 0);
	cr_assert_eq(pthread_create(&th[2], NULL, remapper, NULL), 0);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	cr_assert_gt(atomic_load(&mt.remaps), 100, "the remapper ran (%u remaps)", atomic_load(&mt.remaps));
	cr_assert_gt(atomic_load(&mt.readable), 0, "the observer saw the page mapped (%u looks)",
		     atomic_load(&mt.looks));
	cr_assert_eq(atomic_load(&mt.unrecorded), 0,
		     "%u of %u looks found the page readable at the host where the records say it is not",
		     atomic_load(&mt.unrecorded), atomic_load(&mt.looks));
	/* The page went through all of it intact. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(((volatile uint8_t *)(uintptr_t)lin(KH_DATA))[100], 0x5A);
}

/* Protection keys: the driver asks for the enclave's key after ECREATE and gives it back at teardown. */
static struct {
	unsigned allocs, frees;
	uint64_t alloc_secs, free_secs;
} keys;

static int key_alloc(void *ctx, uint64_t secs_pa)
{
	cr_assert_eq(ctx, &keys);
	keys.allocs++;
	keys.alloc_secs = secs_pa;
	return -1; /* no PKU here: the mappings keep plain mprotect */
}

static void key_free(void *ctx, uint64_t secs_pa)
{
	(void)ctx;
	keys.frees++;
	keys.free_secs = secs_pa;
}

TestSuite(pkey, .timeout = 60);

Test(pkey, key_taken_at_create_and_given_back_at_teardown)
{
	struct kh k2;
	kh_setup(&k2, NULL);
	struct sgxk_pkey_ops ops = {.alloc = key_alloc, .free = key_free, .ctx = &keys};
	sgxk_set_pkeys(k2.k, &ops);
	cr_assert_eq(keys.allocs, 0);
	kh_build(&k2, 0x10000, true);
	cr_assert_eq(keys.allocs, 1, "one key per enclave, at CREATE");
	cr_assert_eq(keys.alloc_secs, sgx_file_secs_pa(k2.f));
	cr_assert_geq(kh_mmap(&k2, KH_DATA, 0x1000, PROT_READ | PROT_WRITE), 0);
	cr_assert_eq(sgxk_pkey_at(k2.k, k2.base + KH_DATA), -1, "a refused key leaves the enclave without one");
	cr_assert_eq(sgxk_pkey_at(k2.k, 0x1234000), -1);
	kh_teardown(&k2);
	cr_assert_eq(keys.frees, 0, "no key was given, none is freed");
}
