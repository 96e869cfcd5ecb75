/* SPDX-License-Identifier: MIT */
/*
 * An enclave released while the reclaimer runs on another thread
 * (spec/linux-driver.md §7, §8): the reclaimer takes no reference on an
 * enclave whose count already reached zero and drops such an enclave's
 * pages from its list; the teardown frees them.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

TestSuite(release, .init = setup, .fini = teardown, .timeout = 60);

#define RW (SGX_SECINFO_R | SGX_SECINFO_W)

static uint64_t frames_used(void)
{
	return hw_epc_frames_total(h.m) - hw_epc_frames_free(h.m);
}

/* Bytes of host memory the EPC's memfd holds: every frame's, valid or kept. */
static uint64_t epc_memory(void)
{
	struct stat st;
	cr_assert_eq(fstat(hw_epc_fd(h.m), &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static bool on_lru(struct encl_page *p)
{
	pthread_mutex_lock(&h.k->lru_lock);
	bool on = p->on_lru;
	pthread_mutex_unlock(&h.k->lru_lock);
	return on;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){.tv_nsec = ms * 1000 * 1000}, NULL);
}

static void *close_file(void *arg)
{
	sgx_file_close(arg);
	return NULL;
}

static atomic_uint isolated;  /* batches the reclaimer isolated */
static atomic_uint reclaimed; /* what sgxk_reclaim returned, + 1 once it returned */

static void count_isolated(struct sgxk *k, enum sgxk_test_reclaim_step step, void *arg)
{
	(void)k;
	(void)arg;
	if (step == SGXK_TEST_RECLAIM_ISOLATED)
		atomic_fetch_add(&isolated, 1);
}

static void *reclaim(void *arg)
{
	(void)arg;
	atomic_store(&reclaimed, sgxk_reclaim(h.k, 64) + 1);
	return NULL;
}

/*
 * 1. An enclave with pages on the LRU, referenced by its file alone.
 * 2. The test holds the enclave mutex; thread A closes the file: the count
 *    drops to zero and the teardown waits for the mutex.
 * 3. Thread B runs the reclaimer meanwhile: it must isolate nothing (a
 *    batch would need the mutex, and the enclave is going), drop the pages
 *    from the LRU and return at once.
 * 4. With the mutex back, the teardown frees every page: the EPC is empty.
 */
Test(release, reclaimer_takes_no_reference_on_an_enclave_being_released)
{
	uint64_t empty = frames_used();
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_add(&h, 0, 16 * 4096, SI_REG(RW), NULL, 0, NULL), 0);
	struct sgx_encl *e = h.f->encl;
	struct encl_page *first = encl_page_at(e, KH_BASE);
	cr_assert_not_null(first);
	cr_assert(on_lru(first));
	cr_assert_eq(atomic_load(&e->refs), 1);
	h.k->test.reclaim = count_isolated;

	pthread_mutex_lock(&e->lock);
	pthread_t a, b;
	struct sgx_file *f = h.f;
	h.f = NULL;
	cr_assert_eq(pthread_create(&a, NULL, close_file, f), 0);
	for (int i = 0; i < 10000 && atomic_load(&e->refs) != 0; i++)
		sleep_ms(1);
	cr_assert_eq(atomic_load(&e->refs), 0, "closing the file drops the last reference");

	cr_assert_eq(pthread_create(&b, NULL, reclaim, NULL), 0);
	for (int i = 0; i < 10000 && !atomic_load(&reclaimed) && !atomic_load(&isolated); i++)
		sleep_ms(1);
	cr_assert_eq(atomic_load(&isolated), 0, "the reclaimer isolated pages of an enclave being released");
	cr_assert_eq(atomic_load(&reclaimed), 1, "the reclaimer evicted nothing and returned");
	cr_assert_not(on_lru(first), "the pages left the LRU");
	pthread_mutex_unlock(&e->lock);

	cr_assert_eq(pthread_join(a, NULL), 0);
	cr_assert_eq(pthread_join(b, NULL), 0);
	cr_assert_eq(frames_used(), empty, "the teardown freed every page, the SECS and the VA page");
	uint64_t resident, evicted;
	sgxk_page_counts(h.k, &resident, &evicted);
	cr_assert_eq(resident + evicted, 0);
	cr_assert_eq(epc_memory(), 0, "the EPC holds %llu bytes of memory with no enclave left",
		     (unsigned long long)epc_memory());
}

/* ---- the same, at full speed ---- */

static atomic_bool stop;

static void *reclaim_until_stopped(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		sgxk_reclaim(h.k, SGX_NR_TO_SCAN);
	return NULL;
}

/* One enclave's life: created, filled, some pages evicted and loaded back, released. */
static void *enclaves(void *arg)
{
	unsigned rounds = *(unsigned *)arg;
	struct sgx_secs *secs = aligned_alloc(4096, sizeof(*secs));
	uint8_t *src = aligned_alloc(4096, 8 * 4096);
	if (!secs || !src)
		abort(); /* no Criterion assertion outside the test's own thread */
	memset(src, 0xA5, 8 * 4096);
	struct sgx_secinfo si = {.flags = SI_REG(RW)};
	for (unsigned i = 0; i < rounds; i++) {
		struct sgx_file *f;
		if (sgxk_open(h.k, SGX_DEV_ENCLAVE, &f))
			break;
		kh_secs(secs, KH_BASE, KH_SIZE);
		struct sgx_enclave_create c = {.src = (uint64_t)(uintptr_t)secs};
		struct sgx_enclave_add_pages a = {.src = (uint64_t)(uintptr_t)src,
						  .offset = (i % 4) * 8 * 4096,
						  .length = 8 * 4096,
						  .secinfo = (uint64_t)(uintptr_t)&si};
		if (sgx_file_ioctl(f, SGX_IOC_ENCLAVE_CREATE, (unsigned long)&c) == 0)
			sgx_file_ioctl(f, SGX_IOC_ENCLAVE_ADD_PAGES, (unsigned long)&a);
		sgx_file_close(f);
	}
	free(src);
	free(secs);
	return NULL;
}

Test(release, enclaves_released_while_the_reclaimer_runs, .timeout = 120)
{
	sgx_file_close(h.f);
	h.f = NULL;
	uint64_t empty = frames_used();
	pthread_t r, w[2];
	unsigned rounds = 300;
	cr_assert_eq(pthread_create(&r, NULL, reclaim_until_stopped, NULL), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&w[i], NULL, enclaves, &rounds), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_join(w[i], NULL), 0);
	atomic_store(&stop, true);
	cr_assert_eq(pthread_join(r, NULL), 0);
	cr_assert_eq(frames_used(), empty, "every enclave's frames came back");
	uint64_t resident, evicted;
	sgxk_page_counts(h.k, &resident, &evicted);
	cr_assert_eq(resident + evicted, 0);
	cr_assert_eq(epc_memory(), 0, "the EPC holds %llu bytes of memory with no enclave left",
		     (unsigned long long)epc_memory());
}

/*
 * Enclaves released right after an AUGMENT_PAGES whose frames the
 * machine's populator is still giving memory (docs/kernel.md "Frames in
 * batches"): the release takes the rest of the range back from the
 * populator and waits for its step in flight, so no frame of a released
 * enclave has memory then, or later.
 */
Test(release, enclaves_released_while_the_populator_works_on_their_pages, .timeout = 120)
{
	static const struct sgx_secinfo rw __attribute__((aligned(64))) = {.flags = SI_REG(RW)};
	for (unsigned round = 0; round < 40; round++) {
		if (!h.f)
			cr_assert_eq(sgxk_open(h.k, SGX_DEV_ENCLAVE, &h.f), 0);
		kh_build(&h, KH_SIZE, true);
		/* 200 pages: the EPC's 256 frames hold them, so the whole range goes to the populator. */
		struct sgx_enclave_augment_pages a = {
		    .offset = KH_DYN, .length = 200 * 4096, .secinfo = (uint64_t)(uintptr_t)&rw};
		cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a), 0, "round %u", round);
		cr_assert_eq(sgxk_munmap(h.k, KH_BASE, KH_SIZE), 0);
		sgx_file_close(h.f);
		h.f = NULL;
		cr_assert_eq(epc_memory(), 0, "round %u: %llu bytes left after the release", round,
			     (unsigned long long)epc_memory());
	}
	hw_epc_populate_wait(h.m);
	cr_assert_eq(epc_memory(), 0, "%llu bytes given memory after the releases", (unsigned long long)epc_memory());
}

/*
 * A released enclave's window gives its memory back in one step at the
 * end of the teardown (hw_epc_retire), every page's, those the
 * reclaimer evicted (kept frames) and those it loaded back included.
 */
Test(release, the_teardown_gives_back_the_memory_of_every_frame)
{
	uint64_t before = epc_memory();
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_add(&h, 0, 64 * 4096, SI_REG(RW), NULL, 0, NULL), 0);
	cr_assert_gt(sgxk_reclaim(h.k, 16), 0, "some pages evicted");
	cr_assert_geq(epc_memory(), before + 48 * 4096);
	sgx_file_close(h.f);
	h.f = NULL;
	cr_assert_eq(epc_memory(), 0, "%llu bytes left after the release", (unsigned long long)epc_memory());
}
