/* SPDX-License-Identifier: MIT */
/*
 * The EPC under pressure and the enclave's lifetime, through the device
 * API: an 8 MiB working set on a 1 MiB EPC used by four host threads on
 * four TCSs at once (reclaim of pages other threads are using: EBLOCK,
 * ETRACK, the kick that forces those threads out, EWB, ELDU on their next
 * fault), and the release of an enclave by close + munmap while a thread is
 * inside it or has just left it.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <criterion/logging.h>

#include "native.h"

#define EPC_1M	     (1ULL << 20)
#define EPC_FRAMES   (EPC_1M / SGX_PAGE_SIZE)
#define STRESS_PAGES 2048 /* 8 MiB */
#define STRESS_OPS   1500 /* random reads and writes per thread */

static void setup_small_epc(void)
{
	native_setup_with(&(struct sgxemu_options){.epc_size = EPC_1M});
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ---- reclaim under running threads ---- */

/* What the enclave's 8 MiB must hold; each thread owns the pages p with p % 4 == its slot. */
static uint64_t *shadow;

struct stress {
	unsigned slot;
	unsigned accepted, writes, reads, checked;
	char why[200];
};

static bool stress_call(struct stress *w, uint64_t op, uint64_t a, uint64_t b, uint64_t *out, const char *what)
{
	struct sgx_enclave_run run;
	int r = devos_call(devos_tcs(w->slot), op, a, b, 0, out, &run);
	if (r == 0 && run.function == ENCLU_EEXIT)
		return true;
	snprintf(w->why, sizeof(w->why), "%s at %#llx: return %d, function %u vector %u error code %#x address %#llx",
		 what, (unsigned long long)a, r, run.function, run.exception_vector, run.exception_error_code,
		 (unsigned long long)run.exception_addr);
	return false;
}

static void *stress_main(void *p)
{
	struct stress *w = p;
	uint64_t out[ENCL_OUT_WORDS];
	uint64_t seed = 0x9E3779B97F4A7C15ULL * (w->slot + 1);
	/* 1. Every page: EACCEPT (EAUG on the fault, reclaiming), then its initial contents from the shadow. */
	for (unsigned pg = w->slot; pg < STRESS_PAGES; pg += DEVOS_THREADS) {
		memset(out, 0xFF, sizeof(out));
		if (!stress_call(w, OP_EACCEPT, devos_dyn(pg), SI_PENDING_RW, out, "EACCEPT"))
			return NULL;
		if (out[0] != 0) {
			snprintf(w->why, sizeof(w->why), "EACCEPT of page %u: %llu", pg, (unsigned long long)out[0]);
			return NULL;
		}
		if (!stress_call(w, OP_COPY, devos_dyn(pg), (uint64_t)(uintptr_t)&shadow[pg * 512], NULL, "copy in"))
			return NULL;
		w->accepted++;
	}
	/* 2. Random words of random pages: write a new value or check the one there. */
	for (unsigned i = 0; i < STRESS_OPS; i++) {
		uint64_t r = xorshift(&seed);
		unsigned pg = (unsigned)(r % (STRESS_PAGES / DEVOS_THREADS)) * DEVOS_THREADS + w->slot;
		unsigned word = (unsigned)(r >> 20) % 512;
		uint64_t a = devos_dyn(pg) + word * 8;
		if (r & (1ULL << 40)) {
			uint64_t v = xorshift(&seed);
			if (!stress_call(w, OP_WRITE, a, v, out, "write"))
				return NULL;
			shadow[pg * 512 + word] = v;
			w->writes++;
		} else {
			out[0] = ~shadow[pg * 512 + word];
			if (!stress_call(w, OP_READ, a, 0, out, "read"))
				return NULL;
			if (out[0] != shadow[pg * 512 + word]) {
				snprintf(w->why, sizeof(w->why), "page %u word %u: %#llx, expected %#llx", pg, word,
					 (unsigned long long)out[0], (unsigned long long)shadow[pg * 512 + word]);
				return NULL;
			}
			w->reads++;
		}
	}
	/* 3. Every page back, whole. */
	static __thread uint64_t back[512];
	for (unsigned pg = w->slot; pg < STRESS_PAGES; pg += DEVOS_THREADS) {
		memset(back, 0, sizeof(back));
		if (!stress_call(w, OP_COPY_OUT, devos_dyn(pg), (uint64_t)(uintptr_t)back, NULL, "copy out"))
			return NULL;
		if (memcmp(back, &shadow[pg * 512], sizeof(back)) != 0) {
			snprintf(w->why, sizeof(w->why), "page %u differs from what was written", pg);
			return NULL;
		}
		w->checked++;
	}
	return NULL;
}

TestSuite(reclaim, .init = setup_small_epc, .fini = native_teardown, .timeout = 60);

Test(reclaim, eight_mib_on_a_one_mib_epc_under_four_threads, .timeout = 120)
{
	shadow = malloc(STRESS_PAGES * SGX_PAGE_SIZE);
	cr_assert(shadow);
	uint64_t seed = 0xC0FFEE;
	for (size_t i = 0; i < STRESS_PAGES * 512; i++)
		shadow[i] = xorshift(&seed);

	double t0 = now();
	struct stress w[DEVOS_THREADS];
	pthread_t th[DEVOS_THREADS];
	for (unsigned i = 0; i < DEVOS_THREADS; i++) {
		w[i] = (struct stress){.slot = i};
		cr_assert_eq(pthread_create(&th[i], NULL, stress_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < DEVOS_THREADS; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	double t = now() - t0;

	for (unsigned i = 0; i < DEVOS_THREADS; i++) {
		cr_assert_eq(w[i].checked, STRESS_PAGES / DEVOS_THREADS, "thread %u: %s", i, w[i].why);
		cr_assert_eq(w[i].writes + w[i].reads, STRESS_OPS);
	}
	struct sgxemu_stats s = devos_stats();
	cr_assert_eq(s.epc_size, EPC_1M);
	cr_assert_leq(s.pages_resident, EPC_FRAMES - 2, "the SECS and a VA page take two frames");
	cr_assert_eq(s.pages_resident + s.pages_evicted, dv.pages + STRESS_PAGES, "every page is somewhere");
	cr_assert_geq(s.pages_evicted, STRESS_PAGES - EPC_FRAMES, "most of the 8 MiB is in the backing store");
	cr_log_info("8 MiB through a 1 MiB EPC by 4 threads in %.2f s (%llu pages resident, %llu evicted)", t,
		    (unsigned long long)s.pages_resident, (unsigned long long)s.pages_evicted);
	free(shadow);
}

/* ---- lifetime ---- */

/*
 * A new enclave fills the EPC: EACCEPT on fault adds pages without
 * reclaiming while a frame is free, so the first eviction comes exactly
 * when every frame but the SECS and the VA page holds one of its pages.
 * Any frame a previous enclave leaked would make it come earlier.
 */
static void assert_full_capacity(void)
{
	devos_load(&dv);
	struct sgxemu_stats s = devos_stats();
	cr_assert_eq(s.pages_resident, dv.pages);
	cr_assert_eq(s.pages_evicted, 0);
	uint64_t most = s.pages_resident;
	for (unsigned pg = 0; pg < EPC_FRAMES; pg++) {
		cr_assert_eq(native_eaccept(pg % DEVOS_THREADS, devos_dyn(pg), SI_PENDING_RW), 0);
		s = devos_stats();
		if (s.pages_evicted)
			break;
		most = s.pages_resident;
	}
	cr_assert_gt(s.pages_evicted, 0, "the EPC filled up");
	cr_assert_eq(most, EPC_FRAMES - 2, "%llu enclave pages fit, expected every frame but the SECS and a VA page",
		     (unsigned long long)most);
}

TestSuite(lifetime, .init = setup_small_epc, .fini = native_teardown, .timeout = 60);

Test(lifetime, a_fresh_enclave_fills_every_frame)
{
	devos_unload(&dv);
	assert_full_capacity();
}

Test(lifetime, neither_close_nor_munmap_alone_releases_the_enclave)
{
	uint64_t pages = devos_stats().pages_resident;
	/* Unmapped, the file still holds it: map it again and it runs. */
	native_assert_ok(sgxemu_munmap((void *)(uintptr_t)ENCL_BASE, DEVOS_SIZE));
	cr_assert_eq(devos_stats().pages_resident, pages);
	void *p = sgxemu_mmap((void *)(uintptr_t)ENCL_BASE, DEVOS_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
			      MAP_SHARED | MAP_FIXED, dv.fd, 0);
	cr_assert_eq(p, MAP_FAILED, "RWX is above the image's ceilings");
	cr_assert_eq(errno, EACCES);
	devos_map(&dv);
	native_op(0, OP_ECHO, 20, 22, 0);
	cr_assert_eq(nout[0][0], 42);
	/* Closed, the mappings still hold it. */
	native_assert_ok(sgxemu_close(dv.fd));
	dv.fd = -1;
	native_op(1, OP_ECHO, 1, 2, 0);
	cr_assert_eq(nout[1][0], 3);
	cr_assert_eq(devos_stats().pages_resident, pages);
	/* The last mapping goes: the enclave goes. */
	native_assert_ok(sgxemu_munmap((void *)(uintptr_t)ENCL_BASE, DEVOS_SIZE));
	cr_assert_eq(devos_stats().pages_resident, 0);
	assert_full_capacity();
}

struct inside {
	volatile uint64_t entered, stop;
	struct sgx_enclave_run run;
	int ret;
	uint64_t polls;
};

static void *spin_main(void *p)
{
	struct inside *in = p;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	in->ret = devos_call(devos_tcs(0), OP_SPIN, (uint64_t)(uintptr_t)&in->stop, (uint64_t)(uintptr_t)&in->entered,
			     0, out, &in->run);
	return NULL;
}

Test(lifetime, close_and_munmap_while_a_thread_is_inside, .timeout = 60)
{
	struct inside in = {0};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, spin_main, &in), 0);
	while (!in.entered)
		sched_yield();
	/* The thread runs enclave code (a loop reading host memory) while the enclave is released. */
	native_assert_ok(sgxemu_close(dv.fd));
	dv.fd = -1;
	native_assert_ok(sgxemu_munmap((void *)(uintptr_t)ENCL_BASE, DEVOS_SIZE));
	struct sgxemu_stats s = devos_stats();
	cr_assert_eq(s.pages_resident, 0, "%llu pages still resident", (unsigned long long)s.pages_resident);
	cr_assert_eq(s.pages_evicted, 0);
	in.stop = 1;
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(in.ret, 0);
	cr_log_info("the thread inside saw function %u vector %u error code %#x address %#llx", in.run.function,
		    in.run.exception_vector, in.run.exception_error_code, (unsigned long long)in.run.exception_addr);
	/*
	 * Forced out before its pages went, it cannot come back: either its
	 * next fetch found the code unmapped (AEX, the driver has no VMA), or
	 * the release's kick made it AEX first and the AEP's ERESUME found no
	 * TCS.  Either way an ordinary #PF nothing can fix, after an AEX.
	 */
	cr_assert_eq(in.run.function, ENCLU_ERESUME);
	cr_assert_eq(in.run.exception_vector, X86_PF);
	cr_assert((in.run.exception_error_code == (PF_U | PF_I) && in.run.exception_addr == ENCL_BASE) ||
		      (in.run.exception_error_code == (PF_W | PF_U) && in.run.exception_addr == devos_tcs(0)),
		  "error code %#x at %#llx", in.run.exception_error_code, (unsigned long long)in.run.exception_addr);
	assert_full_capacity();
}

struct left {
	volatile int phase; /* 1: entered and left once; 2: the enclave was released, enter again */
	struct sgx_enclave_run first, second;
	uint64_t out[ENCL_OUT_WORDS];
};

static void *leave_main(void *p)
{
	struct left *l = p;
	devos_call(devos_tcs(2), OP_ECHO, 1, 2, 0, l->out, &l->first);
	l->phase = 1;
	while (l->phase != 2)
		sched_yield();
	devos_call(devos_tcs(2), OP_ECHO, 1, 2, 0, l->out, &l->second);
	return NULL;
}

Test(lifetime, close_and_munmap_after_a_thread_left, .timeout = 60)
{
	struct left l = {0};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, leave_main, &l), 0);
	while (l.phase != 1)
		sched_yield();
	native_assert_eexit(&l.first);
	cr_assert_eq(l.out[0], 3);
	native_assert_ok(sgxemu_close(dv.fd));
	dv.fd = -1;
	native_assert_ok(sgxemu_munmap((void *)(uintptr_t)ENCL_BASE, DEVOS_SIZE));
	cr_assert_eq(devos_stats().pages_resident, 0);
	l.phase = 2;
	cr_assert_eq(pthread_join(th, NULL), 0);
	/* EENTER finds no TCS mapped: the leaf's own #PF, not fixable, reported with leaf 2. */
	native_assert_exception(&l.second, ENCLU_EENTER, X86_PF, PF_W | PF_U, devos_tcs(2));
	assert_full_capacity();
}
