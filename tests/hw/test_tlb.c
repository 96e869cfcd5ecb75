/* SPDX-License-Identifier: MIT */
/*
 * A thread's TLB (hw_thread_translate, docs/hw.md "Address translation"):
 * the translations to EPC frames its leaves make are used again while the
 * OS's counter (hw_mmu.gen) has not moved, and never once it moved: a page
 * remapped, unmapped or its protection changed is seen by the next access,
 * on this thread or any other.  Ordinary process memory is never kept.
 *
 * The page tables are the harness's, behind a lock, with a translate that
 * counts walks.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "harness.h"
#include "internal.h"

#define RW (SGX_SECINFO_R | SGX_SECINFO_W)

static struct th t;
static pthread_mutex_t pt_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned walks;

static bool counted(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, uint32_t *err)
{
	(void)mmu;
	atomic_fetch_add(&walks, 1);
	pthread_mutex_lock(&pt_lock);
	bool ok = t.pt.mmu.translate(&t.pt.mmu, lin, acc, pa, err);
	pthread_mutex_unlock(&pt_lock);
	return ok;
}

static struct hw_mmu mmu = {.translate = counted};

static void setup(void)
{
	th_setup(&t, 0x40000);
	uint8_t page[4096];
	for (uint64_t off = 0; off < 16 * 4096; off += 4096) {
		memset(page, (int)(off >> 12), sizeof(page));
		th_assert_ok(th_eadd(&t, off, SGX_SECINFO_PT(SGX_PT_REG) | RW, page));
		th_map(&t, off, HW_ACC_R | HW_ACC_W);
	}
	mmu.gen = &t.pt.gen;
	walks = 0;
}

static void teardown(void)
{
	th_teardown(&t);
}

TestSuite(tlb, .init = setup, .fini = teardown, .timeout = 30);

static uint64_t L(uint64_t off)
{
	return t.base + off;
}

static struct hw_result access(struct hw_thread *h, uint64_t lin, unsigned acc, uint64_t *pa)
{
	*pa = 0;
	return hw_access_check(h, lin, acc, pa);
}

static void remap(uint64_t off, uint64_t frame_off, unsigned prot)
{
	pthread_mutex_lock(&pt_lock);
	cr_assert_eq(pagetable_map(&t.pt, L(off), th_pa(&t, frame_off), prot), 0);
	pthread_mutex_unlock(&pt_lock);
}

static void unmap(uint64_t off)
{
	pthread_mutex_lock(&pt_lock);
	pagetable_unmap(&t.pt, L(off));
	pthread_mutex_unlock(&pt_lock);
}

Test(tlb, an_access_again_uses_the_translation_without_a_walk)
{
	struct hw_thread h;
	cr_assert_eq(hw_thread_init(&h, t.m, &mmu), 0);
	uint64_t pa;
	th_assert_ok(access(&h, L(0x1000) + 8, HW_ACC_R, &pa));
	cr_assert_eq(pa, th_pa(&t, 0x1000) + 8);
	cr_assert_eq(walks, 1);
	th_assert_ok(access(&h, L(0x1000) + 0x10, HW_ACC_R, &pa));
	cr_assert_eq(pa, th_pa(&t, 0x1000) + 0x10, "the offset within the page is the access's");
	cr_assert_eq(walks, 1, "the second access to the page did not walk");
	/* Another kind of access, another page: a walk each, then kept too. */
	th_assert_ok(access(&h, L(0x1000), HW_ACC_W, &pa));
	th_assert_ok(access(&h, L(0x2000), HW_ACC_R, &pa));
	cr_assert_eq(walks, 3);
	th_assert_ok(access(&h, L(0x1000), HW_ACC_W, &pa));
	th_assert_ok(access(&h, L(0x2000), HW_ACC_R, &pa));
	cr_assert_eq(walks, 3);
	/* HW_TLB_ENTRIES more pages push the first ones out. */
	for (uint64_t i = 0; i < HW_TLB_ENTRIES; i++)
		th_assert_ok(access(&h, L(0x3000 + i * 0x1000), HW_ACC_R, &pa));
	cr_assert_eq(walks, 3 + HW_TLB_ENTRIES);
	th_assert_ok(access(&h, L(0x1000), HW_ACC_R, &pa));
	cr_assert_eq(walks, 4 + HW_TLB_ENTRIES);
	hw_thread_fini(&h);
}

Test(tlb, a_change_to_the_page_tables_is_seen_by_the_next_access)
{
	struct hw_thread h;
	cr_assert_eq(hw_thread_init(&h, t.m, &mmu), 0);
	uint64_t pa;
	th_assert_ok(access(&h, L(0x1000), HW_ACC_W, &pa));
	th_assert_ok(access(&h, L(0x1000), HW_ACC_W, &pa));
	/* Remapped to another frame. */
	remap(0x1000, 0x5000, HW_ACC_R | HW_ACC_W);
	th_assert_ok(access(&h, L(0x1000), HW_ACC_W, &pa));
	cr_assert_eq(pa, th_pa(&t, 0x5000), "the remapped page's frame, not the one kept");
	/* Read-only: a write faults, present. */
	remap(0x1000, 0x5000, HW_ACC_R);
	struct hw_result r = access(&h, L(0x1000), HW_ACC_W, &pa);
	cr_assert(hw_is_fault(r, X86_PF) && (r.errcode & PF_P) && (r.errcode & PF_W), "a write to a read-only page");
	/* Unmapped: the harness's page tables then give ordinary memory (the address itself), not the frame kept. */
	unmap(0x1000);
	th_assert_ok(access(&h, L(0x1000), HW_ACC_R, &pa));
	cr_assert_eq(pa, L(0x1000), "an unmapped page");
	hw_thread_fini(&h);
}

Test(tlb, without_a_counter_every_access_walks)
{
	mmu.gen = NULL;
	struct hw_thread h;
	cr_assert_eq(hw_thread_init(&h, t.m, &mmu), 0);
	uint64_t pa;
	for (unsigned i = 0; i < 4; i++)
		th_assert_ok(access(&h, L(0x1000), HW_ACC_R, &pa));
	cr_assert_eq(walks, 4);
	hw_thread_fini(&h);
}

Test(tlb, ordinary_process_memory_is_never_kept)
{
	struct hw_thread h;
	cr_assert_eq(hw_thread_init(&h, t.m, &mmu), 0);
	static uint8_t host_page[8192];
	uint64_t hp = ((uint64_t)(uintptr_t)host_page + 4095) & ~4095ULL, pa;
	for (unsigned i = 0; i < 3; i++) {
		th_assert_ok(access(&h, hp, HW_ACC_R, &pa));
		cr_assert_eq(pa, hp);
	}
	cr_assert_eq(walks, 3);
	hw_thread_fini(&h);
}

/*
 * Two threads: the OS thread remaps one page to frame A or B, or unmaps
 * it (the harness's page tables then give ordinary memory), then
 * publishes the round; the enclave thread, once it sees the
 * round, must find exactly that (its TLB held the page from the round
 * before).  A third thread keeps accessing the page meanwhile, filling its
 * own TLB while the page tables change under it: it may see any of the
 * three states, never anything else.
 */
#define ROUNDS 20000
static _Atomic unsigned published, acked;
static _Atomic bool done;
static _Atomic unsigned wrong;

static unsigned state_of(unsigned round)
{
	return round % 3; /* 0: frame A, 1: frame B, 2: unmapped */
}

static bool as_expected(struct hw_result r, uint64_t pa, unsigned state)
{
	if (state == 2)
		return hw_is_ok(r) && pa == L(0x1000); /* ordinary memory where the harness maps nothing */
	return hw_is_ok(r) && pa == th_pa(&t, state ? 0x5000 : 0x4000);
}

static void *enclave_side(void *arg)
{
	(void)arg;
	struct hw_thread h;
	if (hw_thread_init(&h, t.m, &mmu) != 0)
		return (void *)1;
	for (unsigned round = 1; round <= ROUNDS; round++) {
		while (atomic_load(&published) != round)
			;
		uint64_t pa;
		/* Twice: the first access may walk, the second uses what it kept. */
		for (unsigned k = 0; k < 2; k++) {
			struct hw_result r = access(&h, L(0x1000), HW_ACC_R, &pa);
			if (!as_expected(r, pa, state_of(round)))
				atomic_fetch_add(&wrong, 1);
		}
		atomic_store(&acked, round);
	}
	hw_thread_fini(&h);
	return NULL;
}

static void *bystander(void *arg)
{
	(void)arg;
	struct hw_thread h;
	if (hw_thread_init(&h, t.m, &mmu) != 0)
		return (void *)1;
	uint64_t pa;
	while (!atomic_load(&done)) {
		struct hw_result r = access(&h, L(0x1000), HW_ACC_R, &pa);
		if (!as_expected(r, pa, 0) && !as_expected(r, pa, 1) && !as_expected(r, pa, 2))
			atomic_fetch_add(&wrong, 1);
	}
	hw_thread_fini(&h);
	return NULL;
}

Test(tlb, threads_see_each_change_as_soon_as_it_is_made)
{
	/* Frame A before the threads start: the bystander may look before the first round. */
	remap(0x1000, 0x4000, HW_ACC_R | HW_ACC_W);
	pthread_t e, b;
	cr_assert_eq(pthread_create(&e, NULL, enclave_side, NULL), 0);
	cr_assert_eq(pthread_create(&b, NULL, bystander, NULL), 0);
	for (unsigned round = 1; round <= ROUNDS; round++) {
		unsigned s = state_of(round);
		if (s == 2)
			unmap(0x1000);
		else
			remap(0x1000, s ? 0x5000 : 0x4000, HW_ACC_R | HW_ACC_W);
		atomic_store(&published, round);
		while (atomic_load(&acked) != round)
			;
	}
	atomic_store(&done, true);
	void *re, *rb;
	pthread_join(e, &re);
	pthread_join(b, &rb);
	cr_assert_null(re);
	cr_assert_null(rb);
	cr_assert_eq(wrong, 0, "%u accesses found a translation the page tables no longer had", wrong);
}
