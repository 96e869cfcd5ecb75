/* SPDX-License-Identifier: MIT */
/*
 * An EPC too small to make progress (docs/kernel.md "EPC too small"): a
 * size below the minimum is refused when the system is made; a fault whose
 * instruction cannot have all its pages in the EPC at once is a SIGBUS
 * (ioctls ENOMEM / EAGAIN) in bounded time, never pages loaded and evicted
 * in turn forever; and on an EPC just large enough, instructions that need
 * the whole minimum complete, one thread or several at once, with every
 * page holding what was written.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "kharness.h"
#include "sgxemu/sgxemu.h"

#define AEP 0x400000ULL
#define RIP 0x401000ULL
#define RW  (PROT_READ | PROT_WRITE)
#define RX  (PROT_READ | PROT_EXEC)

static struct kh h;

/* Enclave threads of the test: taken out of enclave mode and unregistered at the end. */
static struct hw_thread *threads[8];
static unsigned nthreads;

static void teardown(void)
{
	for (unsigned i = 0; i < nthreads; i++) {
		struct hw_thread *t = threads[i];
		if (t->in_enclave)
			hw_aex(t, &(struct hw_event){.vector = 0x20, .interrupt = true});
		sgxk_thread_unregister(h.k, t);
		hw_thread_fini(t);
	}
	nthreads = 0;
	if (h.k)
		kh_teardown(&h);
}

TestSuite(epc_min, .fini = teardown, .timeout = 60);

static void setup_epc(uint64_t pages)
{
	struct sgxk_config c;
	kh_config(&c);
	c.hw.epc_size = pages * 4096;
	kh_setup(&h, &c);
}

static uint64_t lin(uint64_t off)
{
	return h.base + off;
}

static uint64_t frames_free(void)
{
	return hw_epc_frames_free(h.m);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void use_thread(struct kh *e, struct hw_thread *t)
{
	cr_assert_lt(nthreads, sizeof(threads) / sizeof(threads[0]));
	kh_thread(e, t);
	threads[nthreads++] = t;
}

/* An enclave of a SECS and a VA page only: CREATEd, never initialised (its SECS cannot be written back). */
static struct sgx_file *bare_enclave(unsigned i)
{
	struct sgx_file *f;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_ENCLAVE, &f), 0);
	static struct sgx_secs secs __attribute__((aligned(4096)));
	kh_secs(&secs, KH_BASE + (uint64_t)(i + 1) * 0x10000000ULL, KH_SIZE);
	struct sgx_enclave_create cr = {.src = (uint64_t)(uintptr_t)&secs};
	cr_assert_eq(sgx_file_ioctl(f, SGX_IOC_ENCLAVE_CREATE, (unsigned long)&cr), 0);
	return f;
}

/* The TCS of an enclave whose entry point is `entry` and whose NSSA frames start at `ossa`. */
static const void *tcs_page(uint64_t ossa, uint32_t nssa, uint64_t entry)
{
	static uint8_t page[4096] __attribute__((aligned(4096)));
	memset(page, 0, sizeof(page));
	struct sgx_tcs *tcs = (struct sgx_tcs *)page;
	tcs->ossa = ossa;
	tcs->nssa = nssa;
	tcs->oentry = entry;
	return page;
}

/*
 * An initialised enclave of a TCS and one SSA frame with a thread t inside
 * and no IPIs: its SECS, VA page, TCS and SSA stay in the EPC (4 frames).
 */
static void entered_enclave(struct kh *e, struct hw_thread *t, unsigned i)
{
	*e = h;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_ENCLAVE, &e->f), 0);
	cr_assert_eq(kh_create(e, KH_BASE + (uint64_t)(i + 1) * 0x10000000ULL, KH_SIZE), 0);
	cr_assert_eq(
	    kh_add(e, KH_TCS, 4096, SGX_SECINFO_PT(SGX_PT_TCS), tcs_page(KH_SSA, 1, KH_CODE), SGX_PAGE_MEASURE, NULL),
	    0);
	cr_assert_eq(kh_add(e, KH_SSA, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), NULL, SGX_PAGE_MEASURE, NULL), 0);
	cr_assert_eq(kh_init(e), 0);
	cr_assert_eq(kh_mmap(e, 0, KH_SSA + 4096, RW), (long)e->base);
	use_thread(e, t);
	kh_enter(e, t);
}

/* ---- (a) no progress possible: SIGBUS / ENOMEM, in bounded time ---- */

Test(epc_min, entry_whose_pages_cannot_all_be_resident_sigbus_not_livelock)
{
	/* 1. A 16-page EPC: the standard enclave with every child written back (its VA page stays). */
	setup_epc(16);
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	cr_assert_eq(frames_free(), 15);

	/* 2. Live enclaves fill all but 3 frames: one with a thread inside (TCS and SSA held), four of SECS and VA
	 * page. */
	struct kh busy;
	static struct hw_thread inside;
	entered_enclave(&busy, &inside, 0);
	struct sgx_file *bare[5];
	for (unsigned i = 0; i < 4; i++)
		bare[i] = bare_enclave(1 + i);
	cr_assert_eq(frames_free(), 3);

	/* 3. EENTER brings the SECS, TCS and SSA back into the last 3 frames. */
	static struct hw_thread t;
	use_thread(&h, &t);
	kh_enter(&h, &t);
	cr_assert_eq(frames_free(), 0);

	/*
	 * 4. EACCEPT needs its SECINFO page as well: only the TCS and SSA of this
	 * very thread could make room, and resuming needs them.  SIGBUS at
	 * once, instead of loading SECINFO, TCS and SSA in turn forever.
	 */
	double t0 = now();
	unsigned fixed;
	enum sgxk_fault sig;
	struct hw_result r =
	    kh_enclu(&h, &t, ENCLU_EACCEPT, lin(KH_SI + KH_SI_PENDING_RW), lin(KH_DYN), 0, &fixed, &sig);
	cr_assert(hw_is_fault(r, X86_PF), "expected #PF, got %s", kh_fmt(r));
	cr_assert_eq(r.addr, lin(KH_SI));
	cr_assert_eq(r.errcode & (PF_P | PF_SGX), 0);
	cr_assert_eq(sig, SGXK_FAULT_SIGBUS);
	cr_assert_eq(fixed, 0);
	cr_assert_lt(now() - t0, 2.0, "took %.1f s", now() - t0);
	/* Nothing of the thread's working set was given up for the page it could not have. */
	cr_assert_not(t.in_enclave);
	struct hw_epcm_view v = kh_epcm(&h, KH_TCS);
	cr_assert(v.valid && !v.blocked && v.pt == SGX_PT_TCS);
	cr_assert(kh_epcm(&h, KH_SSA).valid);
	cr_assert_eq(frames_free(), 0);

	/* 5. Room for two more pages: ERESUME, and the same EACCEPT completes (SECINFO loaded, the page EAUGed). */
	sgx_file_close(bare[0]);
	cr_assert_eq(frames_free(), 2);
	kh_assert_ok(kh_enclu(&h, &t, ENCLU_ERESUME, lin(KH_TCS), AEP, 0, NULL, NULL));
	kh_assert_ok(kh_enclu(&h, &t, ENCLU_EACCEPT, lin(KH_SI + KH_SI_PENDING_RW), lin(KH_DYN), 0, NULL, NULL));
	cr_assert_eq(t.regs.rax, 0);
	v = kh_epcm(&h, KH_DYN);
	cr_assert(v.valid && v.r && v.w && !v.pending);
	cr_assert_eq(frames_free(), 0);

	/*
	 * 6. Every resident page now belongs to a thread inside (no IPIs) or is
	 * a SECS or VA page: nothing can be evicted.  The ioctls give Linux's
	 * errno, the fault and the debugger give up, all in bounded time.
	 */
	t0 = now();
	struct sgx_file *f;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_ENCLAVE, &f), 0);
	static struct sgx_secs secs __attribute__((aligned(4096)));
	kh_secs(&secs, KH_BASE + 0x70000000ULL, KH_SIZE);
	struct sgx_enclave_create cr = {.src = (uint64_t)(uintptr_t)&secs};
	cr_assert_eq(sgx_file_ioctl(f, SGX_IOC_ENCLAVE_CREATE, (unsigned long)&cr), -ENOMEM);
	sgx_file_close(f);
	struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R)};
	struct sgx_enclave_add_pages add = {
	    .src = (uint64_t)(uintptr_t)&secs, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&si, .count = 1};
	cr_assert_eq(sgx_file_ioctl(bare[1], SGX_IOC_ENCLAVE_ADD_PAGES, (unsigned long)&add), -ENOMEM);
	cr_assert_eq(add.count, 0);
	struct sgx_secinfo rw = {.flags = SI_REG(SGX_SECINFO_R | SGX_SECINFO_W)};
	struct sgx_enclave_augment_pages au = {
	    .offset = KH_DYN + 4096, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&rw};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &au), -ENOMEM);
	cr_assert_eq(au.count, 0);
	/* An evicted page: Linux's EBUSY from the lookup is EAGAIN for the SGX2 ioctls. */
	struct sgx_enclave_restrict_permissions rp = {.offset = KH_DATA, .length = 4096, .permissions = SGX_SECINFO_R};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &rp), -EAGAIN);
	cr_assert_eq(rp.count, 0);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_SIGBUS);
	uint64_t word;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &word, 8, false), -ENOMEM);
	cr_assert_lt(now() - t0, 2.0, "took %.1f s", now() - t0);
	for (unsigned i = 1; i < 4; i++)
		sgx_file_close(bare[i]);
}

/* ---- (b) refused up front ---- */

Test(epc_min, a_size_below_the_minimum_is_refused_with_the_reason)
{
	static const uint64_t small[] = {4096, 16 << 10, 28 << 10, (32 << 10) - 1024, SGXK_EPC_MIN_PAGES * 4096 - 4096};
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		struct sgxk_config c;
		kh_config(&c);
		c.hw.epc_size = small[i];
		struct sgxk *k = NULL;
		char err[512] = "";
		cr_assert_eq(sgxk_create(&c, &k, err, sizeof(err)), -1, "%llu bytes", (unsigned long long)small[i]);
		cr_assert_null(k);
		cr_assert(strstr(err, "too small") && strstr(err, "the minimum is 32 KiB (8 pages)"), "%s", err);
		cr_assert(strstr(err, "SECS, VA page, TCS, SSA frame, code page and up to 3 ENCLU operand pages"), "%s",
			  err);
	}
	char err[512] = "";
	struct sgxk_config c;
	kh_config(&c);
	c.hw.epc_size = 16 << 10;
	struct sgxk *k = NULL;
	cr_assert_eq(sgxk_create(&c, &k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "an EPC of 16 KiB is too small"), "%s", err);
	/* The minimum itself is accepted. */
	c.hw.epc_size = SGXK_EPC_MIN_PAGES * 4096;
	cr_assert_eq(sgxk_create(&c, &k, err, sizeof(err)), 0, "%s", err);
	sgxk_destroy(k);
}

Test(epc_min, the_embedding_api_refuses_it_naming_the_setting)
{
	char err[512] = "";
	cr_assert_eq(sgxemu_start(&(struct sgxemu_options){.epc_size = 16 << 10}, err, sizeof(err)), -1);
	cr_assert(strstr(err, "epc_size 16384: an EPC of 16 KiB is too small: the minimum is 32 KiB"), "%s", err);
	cr_assert_not(sgxemu_started());
	/* From the environment (what `sgxemu run --epc-size` sets): named, and the device is absent for the program. */
	cr_assert_eq(setenv(SGXEMU_ENV_EPC_SIZE, "16K", 1), 0);
	cr_assert_eq(sgxemu_start(NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "SGXEMU_EPC_SIZE=16K: an EPC of 16 KiB is too small"), "%s", err);
	errno = 0;
	cr_assert_eq(sgxemu_open("/dev/sgx_enclave", O_RDWR), -1);
	cr_assert_eq(errno, ENODEV);
	cr_assert_not(sgxemu_started());
	cr_assert_eq(setenv(SGXEMU_ENV_EPC_SIZE, "32K", 1), 0);
	cr_assert_eq(sgxemu_start(NULL, err, sizeof(err)), 0, "%s", err);
}

/* ---- threads that run "instructions" on the kernel's page tables ---- */

/*
 * An enclave thread driven as exec drives one: each step is one
 * instruction, its accesses checked as the CPU does (hw_access_check, then
 * the ENCLU if any) in enclave mode; a #PF is an AEX, the kernel's fault
 * handler, then ERESUME (whose own faults are handled outside enclave
 * mode), and the instruction again.  A kick sets `kick`; the thread leaves
 * enclave mode (an interrupt AEX) before its next step.
 */
struct worker {
	struct kh e; /* its enclave */
	struct hw_thread t;
	unsigned id;
	atomic_bool kick;
	atomic_uint exits; /* AEXes and EEXITs so far */
	unsigned faults;   /* faults the kernel fixed */
	char fail[200];
	pthread_t th;
};

/* Faults one step may take before the test calls it a livelock (a step touches six pages at most). */
#define STEP_FAULTS 2000

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* The kernel's IPI: ask the worker to leave enclave mode, and wait until it did (or left and came back). */
static void kick_worker(struct sgxk *k, struct hw_thread *t, void *arg)
{
	(void)k;
	(void)arg;
	struct worker *w = container_of(t, struct worker, t);
	unsigned exits = atomic_load(&w->exits);
	while (__atomic_load_n(&t->in_enclave, __ATOMIC_ACQUIRE) && atomic_load(&w->exits) == exits) {
		atomic_store(&w->kick, true);
		sched_yield();
	}
}

static bool fail(struct worker *w, const char *what, struct hw_result r)
{
	if (!w->fail[0])
		snprintf(w->fail, sizeof(w->fail), "worker %u: %s: %s", w->id, what, kh_fmt(r));
	return false;
}

static void aex(struct worker *w, const struct hw_event *ev)
{
	hw_aex(&w->t, ev);
	atomic_fetch_add(&w->exits, 1);
}

/* The kernel's #PF handler for a fault outside enclave mode. */
static bool fix(struct worker *w, struct hw_result r)
{
	if (!hw_is_fault(r, X86_PF) || (r.errcode & PF_SGX))
		return fail(w, "a fault the kernel cannot fix", r);
	enum sgxk_fault f = sgxk_fault(w->e.k, r.addr, r.errcode);
	if (f != SGXK_FAULT_FIXED)
		return fail(w, f == SGXK_FAULT_SIGBUS ? "SIGBUS" : "SIGSEGV", r);
	w->faults++;
	return true;
}

/* EENTER / ERESUME on the worker's TCS, fixing the faults of the leaf itself. */
static bool enter(struct worker *w, uint64_t leaf)
{
	for (unsigned i = 0; i < STEP_FAULTS; i++) {
		w->t.regs.rax = leaf;
		w->t.regs.rbx = w->e.base + KH_TCS;
		w->t.regs.rcx = AEP;
		if (leaf == ENCLU_EENTER)
			w->t.regs.rip = RIP;
		struct hw_result r = hw_enclu(&w->t);
		if (hw_is_ok(r))
			return true;
		if (!fix(w, r))
			return false;
	}
	return fail(w, "EENTER/ERESUME kept faulting", hw_gp());
}

struct access {
	uint64_t lin;
	unsigned acc; /* HW_ACC_* */
	uint64_t pa;  /* result: where the access goes */
};

struct enclu {
	uint64_t leaf, rbx, rcx, rdx;
};

/*
 * One instruction in enclave mode: the accesses, then the ENCLU (if any).
 * Return: true with every a[i].pa set and the thread still in enclave mode
 * (the caller's writes through them land before any write-back: that
 * needs the thread out first), false with w->fail set.
 */
static bool step(struct worker *w, struct access *a, unsigned n, const struct enclu *op)
{
	for (unsigned tries = 0; tries < STEP_FAULTS; tries++) {
		if (atomic_exchange(&w->kick, false)) {
			aex(w, &(struct hw_event){.vector = 0x20, .interrupt = true});
			if (!enter(w, ENCLU_ERESUME))
				return false;
		}
		struct hw_result r = hw_ok();
		for (unsigned i = 0; i < n && hw_is_ok(r); i++)
			r = hw_access_check(&w->t, a[i].lin, a[i].acc, &a[i].pa);
		if (hw_is_ok(r) && op) {
			w->t.regs.rax = op->leaf;
			w->t.regs.rbx = op->rbx;
			w->t.regs.rcx = op->rcx;
			w->t.regs.rdx = op->rdx;
			r = hw_enclu(&w->t);
		}
		if (hw_is_ok(r))
			return true;
		if (!hw_is_fault(r, X86_PF) || (r.errcode & PF_SGX))
			return fail(w, "an exception for the enclave", r);
		aex(w, &(struct hw_event){.vector = X86_PF, .has_errcode = true, .errcode = r.errcode, .addr = r.addr});
		if (!fix(w, r) || !enter(w, ENCLU_ERESUME))
			return false;
	}
	return fail(w, "livelock: the instruction kept faulting", hw_gp());
}

static void worker_start(struct worker *w)
{
	cr_assert_eq(hw_thread_init(&w->t, h.m, sgxk_mmu(h.k)), 0);
	w->t.regs.rip = RIP;
	w->t.regs.rsp = 0x7000;
	sgxk_thread_register(h.k, &w->t);
}

static void worker_stop(struct worker *w)
{
	if (w->t.in_enclave)
		aex(w, &(struct hw_event){.vector = 0x20, .interrupt = true});
	sgxk_thread_unregister(h.k, &w->t);
	hw_thread_fini(&w->t);
}

/* ---- (a') the minimum is enough ---- */

Test(epc_min, an_instruction_needing_the_whole_minimum_completes_at_the_minimum)
{
	/* 1. An EPC of exactly the minimum, full: SECS, VA page, TCS, two SSA frames, code, SECINFO and data. */
	setup_epc(SGXK_EPC_MIN_PAGES);
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(frames_free(), 0);
	static struct worker w;
	w.e = h;
	worker_start(&w);
	cr_assert(enter(&w, ENCLU_EENTER), "%s", w.fail);

	/*
	 * 2. EACCEPTCOPY with its code fetch: code, SECINFO, target (EAUGed on
	 * its fault) and source, with TCS and SSA for resuming: six pages, all
	 * the EPC holds besides SECS and VA page.
	 */
	struct access code = {.lin = lin(KH_CODE), .acc = HW_ACC_X};
	const struct enclu copy = {ENCLU_EACCEPTCOPY, lin(KH_SI + KH_SI_RX), lin(KH_DYN), lin(KH_DATA)};
	cr_assert(step(&w, &code, 1, &copy), "%s", w.fail);
	cr_assert_eq(w.t.regs.rax, 0);

	/* 3. An instruction with three data operands besides its code: reads source and copy, writes SECINFO's page. */
	struct access a[] = {
	    {.lin = lin(KH_CODE), .acc = HW_ACC_X},
	    {.lin = lin(KH_DATA + 8), .acc = HW_ACC_R},
	    {.lin = lin(KH_DYN + 16), .acc = HW_ACC_R},
	    {.lin = lin(KH_SI + 0x800), .acc = HW_ACC_W},
	};
	cr_assert(step(&w, a, 4, NULL), "%s", w.fail);
	uint64_t sum = *(volatile uint64_t *)(uintptr_t)a[1].pa + *(volatile uint64_t *)(uintptr_t)a[2].pa;
	*(volatile uint64_t *)(uintptr_t)a[3].pa = sum;
	kh_assert_ok(kh_enclu(&h, &w.t, ENCLU_EEXIT, RIP, 0, 0, NULL, NULL));
	atomic_fetch_add(&w.exits, 1);
	cr_assert_gt(w.faults, 0);
	worker_stop(&w);

	/* 4. Something had to go for the new page, and every page holds what it should. */
	uint64_t resident, evicted;
	sgxk_page_counts(h.k, &resident, &evicted);
	cr_assert_eq(resident + evicted, 7);
	cr_assert_geq(evicted, 1);
	struct hw_epcm_view v = kh_epcm(&h, KH_DYN);
	cr_assert(v.valid && v.r && !v.w && v.x && !v.pending);
	uint64_t got;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DYN + 4088), &got, 8, false), 8);
	cr_assert_eq(got, 0x5A5A5A5A5A5A5A5AULL);
	cr_assert_eq(sgxk_access(h.k, lin(KH_SI + 0x800), &got, 8, false), 8);
	cr_assert_eq(got, 2 * 0x5A5A5A5A5A5A5A5AULL);
}

/* ---- (c) several threads, each in its own enclave ---- */

/*
 * Worker enclaves: TCS (NSSA 2), two SSA frames, code, and W_NDATA data
 * pages, more than the EPC holds; each step reads two data pages and
 * writes a third, so with TCS, SSA and code it needs six pages at once,
 * the most one instruction can.
 */
#define W_CODE	0x3000ULL
#define W_DATA	0x4000ULL
#define W_NDATA 60U
#define W_SIZE	0x40000ULL
#define W_STEPS 600U
#define W_MAX	4U

static uint64_t pattern(unsigned id, unsigned i)
{
	return ((uint64_t)id << 48) ^ ((uint64_t)i << 16) ^ 0xC0DE;
}

static void worker_build(struct worker *w, unsigned id)
{
	w->e = h;
	w->id = id;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_ENCLAVE, &w->e.f), 0);
	cr_assert_eq(kh_create(&w->e, KH_BASE + (uint64_t)(id + 1) * 0x10000000ULL, W_SIZE), 0);
	cr_assert_eq(kh_add(&w->e, KH_TCS, 4096, SGX_SECINFO_PT(SGX_PT_TCS), tcs_page(KH_SSA, 2, W_CODE),
			    SGX_PAGE_MEASURE, NULL),
		     0);
	cr_assert_eq(kh_add(&w->e, KH_SSA, 8192, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), NULL, SGX_PAGE_MEASURE, NULL),
		     0);
	static uint8_t code[4096];
	memset(code, 0xC3, sizeof(code));
	cr_assert_eq(kh_add(&w->e, W_CODE, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_X), code, SGX_PAGE_MEASURE, NULL),
		     0);
	cr_assert_eq(kh_add(&w->e, W_DATA, W_NDATA * 4096ULL, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), NULL, 0, NULL), 0);
	cr_assert_eq(kh_init(&w->e), 0);
	cr_assert_eq(kh_mmap(&w->e, 0, W_CODE, RW), (long)w->e.base);
	cr_assert_eq(kh_mmap(&w->e, W_CODE, 4096, RX), (long)(w->e.base + W_CODE));
	cr_assert_eq(kh_mmap(&w->e, W_DATA, W_SIZE - W_DATA, RW), (long)(w->e.base + W_DATA));
}

static uint64_t data_page(const struct worker *w, unsigned i)
{
	return w->e.base + W_DATA + (i % W_NDATA) * 4096ULL;
}

/*
 * Step i: page i+1 gets page i's counter plus one in its first word, and
 * pattern(id, i) in word 1 + i / W_NDATA; page i+2 is read too.
 */
static bool worker_step(struct worker *w, unsigned i)
{
	struct access a[] = {
	    {.lin = w->e.base + W_CODE, .acc = HW_ACC_X},
	    {.lin = data_page(w, i), .acc = HW_ACC_R},
	    {.lin = data_page(w, i + 2), .acc = HW_ACC_R},
	    {.lin = data_page(w, i + 1), .acc = HW_ACC_W},
	};
	if (!step(w, a, 4, NULL))
		return false;
	volatile uint64_t *src = (volatile uint64_t *)(uintptr_t)a[1].pa;
	volatile uint64_t *dst = (volatile uint64_t *)(uintptr_t)a[3].pa;
	(void)*(volatile uint64_t *)(uintptr_t)a[2].pa;
	dst[0] = src[0] + 1;
	dst[1 + i / W_NDATA] = pattern(w->id, i);
	return true;
}

static pthread_barrier_t start_line;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	/* All at once: their faults and evictions interleave. */
	pthread_barrier_wait(&start_line);
	if (hw_thread_init(&w->t, h.m, sgxk_mmu(h.k)) != 0) {
		snprintf(w->fail, sizeof(w->fail), "worker %u: no thread model", w->id);
		return NULL;
	}
	w->t.regs.rip = RIP;
	w->t.regs.rsp = 0x7000;
	/* Registered by the thread itself, as exec does: the kernel keeps its fault working set by thread. */
	sgxk_thread_register(h.k, &w->t);
	bool ok = enter(w, ENCLU_EENTER);
	for (unsigned i = 0; ok && i < W_STEPS; i++)
		ok = worker_step(w, i);
	if (ok) {
		w->t.regs.rax = ENCLU_EEXIT;
		w->t.regs.rbx = RIP;
		struct hw_result r = hw_enclu(&w->t);
		if (hw_is_ok(r))
			atomic_fetch_add(&w->exits, 1);
		else
			fail(w, "EEXIT", r);
	}
	worker_stop(w);
	return NULL;
}

/* Run n workers, each in its own enclave, on an EPC of `pages`; check that each finished and lost nothing. */
static void run_workers(unsigned n, uint64_t pages)
{
	setup_epc(pages);
	sgxk_set_kick(h.k, kick_worker, NULL);
	static struct worker w[W_MAX];
	for (unsigned i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		worker_build(&w[i], i);
	}
	double t0 = now();
	cr_assert_eq(pthread_barrier_init(&start_line, NULL, n), 0);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(pthread_join(w[i].th, NULL), 0);
	pthread_barrier_destroy(&start_line);
	double took = now() - t0;
	unsigned faults = 0;
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(w[i].fail[0], 0, "%s", w[i].fail);
		faults += w[i].faults;
	}
	/* Each enclave is larger than the EPC: about every step faulted, and nothing was lost. */
	cr_assert_gt(faults, n * W_STEPS / 2, "%u faults in %.1f s", faults, took);
	for (unsigned i = 0; i < n; i++) {
		uint64_t word;
		cr_assert_eq(sgxk_access(h.k, data_page(&w[i], W_STEPS), &word, 8, false), 8);
		cr_assert_eq(word, W_STEPS, "worker %u", i);
		for (unsigned s = 0; s < W_STEPS; s++) {
			uint64_t off = 8ULL * (1 + s / W_NDATA);
			cr_assert_eq(sgxk_access(h.k, data_page(&w[i], s + 1) + off, &word, 8, false), 8);
			cr_assert_eq(word, pattern(i, s), "worker %u step %u", i, s);
		}
	}
}

Test(epc_min, threads_of_their_own_enclaves_each_with_the_minimum_all_progress, .timeout = 120)
{
	/* Three enclaves of 64 pages, each thread's instruction needing the whole minimum: one page to spare. */
	run_workers(3, 3 * SGXK_EPC_MIN_PAGES + 1);
}

Test(epc_min, threads_taking_turns_on_an_epc_for_one_at_a_time_all_progress, .timeout = 120)
{
	/*
	 * The minimum, the VA pages of the two other enclaves (never written
	 * back) and one page: only one thread's instruction fits at a time, so
	 * faults must take pages other threads' instructions need, and still
	 * every thread gets through.
	 */
	run_workers(3, SGXK_EPC_MIN_PAGES + 2 + 1);
}
