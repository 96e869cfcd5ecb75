/* SPDX-License-Identifier: MIT */
/*
 * The errno rows that need a particular moment or state (spec/linux-driver.md
 * §3, §7): ioctls on pages the reclaimer holds (EAGAIN, EBUSY), an EPC with
 * nothing reclaimable (ENOMEM, EAGAIN, SIGBUS), EINIT faulting (EIO), and
 * signals arriving while ADD_PAGES or CREATE reclaim (partial count, EINTR,
 * restart).
 */
#include <signal.h>
#include <string.h>

#include "internal.h"
#include "kharness.h"

static struct kh h;
static struct hw_thread t;
static bool thread_used;
static unsigned held; /* EPC frames the test keeps taken (a user the reclaimer cannot touch) */

static void setup(void)
{
	kh_setup(&h, NULL); /* 1 MiB EPC: 256 frames */
}

static void teardown(void)
{
	while (held) {
		hw_epc_release(h.m);
		held--;
	}
	if (thread_used) {
		if (t.in_enclave)
			hw_aex(&t, &(struct hw_event){.vector = 0x20, .interrupt = true});
		sgxk_thread_unregister(h.k, &t);
		hw_thread_fini(&t);
	}
	kh_teardown(&h);
}

TestSuite(errors, .init = setup, .fini = teardown, .timeout = 60);

#define RW (PROT_READ | PROT_WRITE)

static uint64_t lin(uint64_t off)
{
	return h.base + off;
}

static void hold_free_frames(void)
{
	while (hw_epc_reserve(h.m))
		held++;
}

static void release_frames(unsigned n)
{
	for (; n && held; n--, held--)
		hw_epc_release(h.m);
}

static void use_thread(void)
{
	kh_thread(&h, &t);
	thread_used = true;
}

/* The reclaimer's hook: run act once, at the given step of a batch. */
static enum sgxk_test_reclaim_step hook_step;
static void (*hook_act)(void);
static unsigned hook_runs;

static void hook(struct sgxk *k, enum sgxk_test_reclaim_step step, void *arg)
{
	(void)k;
	(void)arg;
	if (step == hook_step && hook_runs++ == 0)
		hook_act();
}

static void set_hook(enum sgxk_test_reclaim_step step, void (*act)(void))
{
	hook_step = step;
	hook_act = act;
	hook_runs = 0;
	h.k->test.reclaim = hook;
}

static long restrict_perm(uint64_t off, uint64_t len, uint64_t perm, struct sgx_enclave_restrict_permissions *a)
{
	*a = (struct sgx_enclave_restrict_permissions){.offset = off, .length = len, .permissions = perm};
	return kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, a);
}

static long modify_type(uint64_t off, uint64_t len, uint64_t type, struct sgx_enclave_modify_types *a)
{
	*a = (struct sgx_enclave_modify_types){.offset = off, .length = len, .page_type = type};
	return kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, a);
}

static long remove_pages(uint64_t off, uint64_t len, struct sgx_enclave_remove_pages *a)
{
	*a = (struct sgx_enclave_remove_pages){.offset = off, .length = len};
	return kh_ioctl(&h, SGX_IOC_ENCLAVE_REMOVE_PAGES, a);
}

/* ---- pages the reclaimer holds ---- */

/* The code page is marked being reclaimed and blocked: lookups of it give EAGAIN. */
static void ioctls_on_blocked_code_page(void)
{
	cr_assert(kh_epcm(&h, KH_CODE).blocked);
	struct sgx_enclave_restrict_permissions r;
	/* The evicted SSA page before it is loaded and restricted: count stops at the code page. */
	cr_assert_eq(restrict_perm(KH_SSA + 0x1000, 0x2000, SGX_SECINFO_R, &r), -EAGAIN);
	cr_assert_eq(r.count, 4096);
	cr_assert_eq(r.result, 0);
	struct sgx_enclave_modify_types m;
	cr_assert_eq(modify_type(KH_CODE, 4096, SGX_PT_TRIM, &m), -EAGAIN);
	cr_assert_eq(m.count, 0);
	cr_assert_eq(m.result, 0);
	struct sgx_enclave_remove_pages rm;
	cr_assert_eq(remove_pages(KH_CODE, 4096, &rm), -EAGAIN);
	cr_assert_eq(rm.count, 0);
	/* A fault is simply retried: no PTE while the page is held. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_CODE), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_CODE)), PROT_NONE);
	struct hw_epcm_view v = kh_epcm(&h, KH_CODE);
	cr_assert(v.valid && v.blocked && v.pt == SGX_PT_REG && v.x && !v.pr);
}

Test(errors, sgx2_ioctls_on_a_page_being_written_back_eagain)
{
	kh_build(&h, KH_SIZE, true);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	/* Back in: the code and SECINFO pages; the LRU is [code, SECINFO]. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_CODE), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_SI), PF_U), SGXK_FAULT_FIXED);
	set_hook(SGXK_TEST_RECLAIM_BLOCKED, ioctls_on_blocked_code_page);
	cr_assert_eq(sgxk_reclaim(h.k, 1), 1);
	cr_assert_eq(hook_runs, 1);
	/* Resumed at offset + count once the page is gone: it is loaded and restricted. */
	struct sgx_enclave_restrict_permissions r;
	cr_assert_eq(restrict_perm(KH_CODE, 4096, SGX_SECINFO_R, &r), 0);
	cr_assert_eq(r.count, 4096);
	struct hw_epcm_view v = kh_epcm(&h, KH_CODE);
	cr_assert(v.valid && !v.blocked && v.r && !v.x && v.pr);
	v = kh_epcm(&h, KH_SSA + 0x1000);
	cr_assert(v.valid && v.r && !v.w && v.pr);
}

/* The batch is isolated, nothing marked yet: pinning and removing fail, lookups work. */
static void ioctls_on_isolated_pages(void)
{
	struct sgx_enclave_remove_pages rm;
	cr_assert_eq(remove_pages(KH_DATA, 4096, &rm), -EBUSY);
	cr_assert_eq(rm.count, 0);
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.valid && v.pt == SGX_PT_TRIM && !v.blocked);
	struct sgx_enclave_modify_types m;
	cr_assert_eq(modify_type(KH_SI, 4096, SGX_PT_TCS, &m), -EAGAIN);
	cr_assert_eq(m.count, 0);
	v = kh_epcm(&h, KH_SI);
	cr_assert(v.valid && v.pt == SGX_PT_REG && !v.modified);
	/* The ceiling was restored: RW may still be mapped. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_SI), 4096, RW), 0);
	struct sgx_enclave_restrict_permissions r;
	cr_assert_eq(restrict_perm(KH_SSA, 4096, SGX_SECINFO_R, &r), 0);
	cr_assert_eq(r.count, 4096);
}

Test(errors, remove_of_a_page_the_reclaimer_isolated_ebusy)
{
	kh_build(&h, KH_SIZE, true);
	use_thread();
	struct sgx_enclave_modify_types m;
	cr_assert_eq(modify_type(KH_DATA, 4096, SGX_PT_TRIM, &m), 0);
	kh_enter(&h, &t);
	kh_assert_ok(kh_enclu(&h, &t, ENCLU_EACCEPT, lin(KH_SI + KH_SI_TRIM), lin(KH_DATA), 0, NULL, NULL));
	kh_exit(&h, &t);
	set_hook(SGXK_TEST_RECLAIM_ISOLATED, ioctls_on_isolated_pages);
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	cr_assert_eq(hook_runs, 1);
	/* Later the trimmed page is loaded back and removed. */
	struct sgx_enclave_remove_pages rm;
	cr_assert_eq(remove_pages(KH_DATA, 4096, &rm), 0);
	cr_assert_eq(rm.count, 4096);
	cr_assert_not(kh_epcm(&h, KH_DATA).valid);
}

/* ---- nothing reclaimable ---- */

Test(errors, epc_of_secs_and_va_pages_only_enomem)
{
	kh_teardown(&h);
	struct sgxk_config c;
	kh_config(&c);
	c.hw.epc_size = 8 * 4096;
	kh_setup(&h, &c);
	/* Four enclaves of a SECS and a VA page each fill the EPC; none of these pages can be evicted. */
	struct sgx_file *f[4];
	static struct sgx_secs secs __attribute__((aligned(4096)));
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(sgxk_open(h.k, SGX_DEV_ENCLAVE, &f[i]), 0);
		kh_secs(&secs, KH_BASE + (uint64_t)(i + 1) * 0x10000000ULL, KH_SIZE);
		struct sgx_enclave_create cr = {.src = (uint64_t)(uintptr_t)&secs};
		cr_assert_eq(sgx_file_ioctl(f[i], SGX_IOC_ENCLAVE_CREATE, (unsigned long)&cr), 0);
	}
	cr_assert_eq(hw_epc_frames_free(h.m), 0);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), -ENOMEM);
	cr_assert_eq(sgx_file_secs_pa(h.f), 0);
	struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R)};
	struct sgx_enclave_add_pages a = {
	    .src = (uint64_t)(uintptr_t)&secs, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&si, .count = 1};
	cr_assert_eq(sgx_file_ioctl(f[0], SGX_IOC_ENCLAVE_ADD_PAGES, (unsigned long)&a), -ENOMEM);
	cr_assert_eq(a.count, 0);
	/* One enclave gone: room again. */
	sgx_file_close(f[3]);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	for (unsigned i = 0; i < 3; i++)
		sgx_file_close(f[i]);
}

Test(errors, every_page_held_by_a_thread_inside_without_ipis)
{
	/* 1. Every child evicted, then a thread enters: TCS and SSA come back, the data page stays out. */
	kh_build(&h, KH_SIZE, true);
	use_thread();
	cr_assert_eq(sgxk_reclaim(h.k, 100), 6);
	kh_enter(&h, &t);
	hold_free_frames();

	/* 2. No kick function: the resident pages cannot be written back while the thread is inside. */
	struct sgx_enclave_restrict_permissions r;
	cr_assert_eq(restrict_perm(KH_DATA, 4096, SGX_SECINFO_R, &r), -EAGAIN);
	cr_assert_eq(r.count, 0);
	struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R | SGX_SECINFO_W)};
	struct sgx_enclave_augment_pages au = {.offset = KH_DYN, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&si};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &au), -ENOMEM);
	cr_assert_eq(au.count, 0);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U), SGXK_FAULT_SIGBUS);
	uint64_t w = 0;
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, false), -ENOMEM);
	cr_assert_not(kh_epcm(&h, KH_DATA).valid);
	cr_assert_not(kh_epcm(&h, KH_DYN).valid);

	/* 3. A second enclave: CREATE finds no room, and with room for it, ADD_PAGES none. */
	struct sgx_file *f2;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_ENCLAVE, &f2), 0);
	static struct sgx_secs secs __attribute__((aligned(4096)));
	kh_secs(&secs, KH_BASE + 0x10000000ULL, KH_SIZE);
	struct sgx_enclave_create cr = {.src = (uint64_t)(uintptr_t)&secs};
	cr_assert_eq(sgx_file_ioctl(f2, SGX_IOC_ENCLAVE_CREATE, (unsigned long)&cr), -ENOMEM);
	release_frames(2);
	cr_assert_eq(sgx_file_ioctl(f2, SGX_IOC_ENCLAVE_CREATE, (unsigned long)&cr), 0);
	struct sgx_enclave_add_pages a = {
	    .src = (uint64_t)(uintptr_t)&secs, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&si};
	cr_assert_eq(sgx_file_ioctl(f2, SGX_IOC_ENCLAVE_ADD_PAGES, (unsigned long)&a), -ENOMEM);
	cr_assert_eq(a.count, 0);

	/* 4. Once the thread is out, its pages go and everything works. */
	kh_exit(&h, &t);
	cr_assert_eq(sgx_file_ioctl(f2, SGX_IOC_ENCLAVE_ADD_PAGES, (unsigned long)&a), 0);
	cr_assert_eq(a.count, 4096);
	cr_assert_eq(restrict_perm(KH_DATA, 4096, SGX_SECINFO_R, &r), 0);
	cr_assert_eq(sgxk_access(h.k, lin(KH_DATA), &w, 8, false), 8);
	cr_assert_eq(w, 0x5A5A5A5A5A5A5A5AULL);
	sgx_file_close(f2);
}

/* ---- EIO ---- */

Test(errors, einit_fault_eio_and_the_enclave_stays_uninitialised)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	static struct sgx_sigstruct sig;
	kh_sign(&h, &sig);
	/* The SECS vanishes behind the driver's back (EREMOVE of a SECS without children): EINIT #PF. */
	kh_assert_ok(encls_eremove(h.m, sgx_file_secs_pa(h.f)));
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&sig};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EIO);
	/* Not INITIALIZED: INIT is tried (and faults) again rather than EINVAL, ADD_PAGES reaches EADD. */
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EIO);
	cr_assert_eq(kh_add(&h, 0, 4096, SI_REG(SGX_SECINFO_R), NULL, 0, NULL), -EIO);
}

/* ---- signals ---- */

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

static void handle_usr1(int flags)
{
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = flags};
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* In the middle of an ioctl: the signal is held, not delivered. */
static void raise_usr1(void)
{
	cr_assert_eq(raise(SIGUSR1), 0);
	cr_assert_eq(handled, 0, "delivered in the middle of the ioctl");
}

/* The signal, and the frames the batch freed go to another user: the allocation must reclaim again. */
static void raise_usr1_and_take_frames(void)
{
	raise_usr1();
	hold_free_frames();
}

/* An enclave with n reclaimable pages and the rest of the EPC taken: the next allocation reclaims. */
static void epc_full(unsigned n)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_add(&h, 0, n * 4096ULL, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), NULL, 0, NULL), 0);
	hold_free_frames();
}

static uint64_t add_rw(uint64_t off, uint64_t len, long *ret)
{
	uint64_t count = ~0ULL;
	*ret = kh_add(&h, off, len, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), NULL, 0, &count);
	return count;
}

Test(errors, add_pages_stops_at_a_signal_with_the_partial_count)
{
	handle_usr1(0);
	epc_full(4);
	/* The first page reclaims, the signal arrives meanwhile: that page is added, then the loop stops. */
	set_hook(SGXK_TEST_RECLAIM_DONE, raise_usr1);
	long ret;
	cr_assert_eq(add_rw(0x10000, 8 * 4096, &ret), 4096);
	cr_assert_eq(ret, 0);
	cr_assert_eq(handled, 1);
	cr_assert(kh_epcm(&h, 0x10000).valid);
	cr_assert_not(kh_epcm(&h, 0x11000).valid);
	/* The caller resumes at offset + count. */
	cr_assert_eq(add_rw(0x11000, 7 * 4096, &ret), 7 * 4096);
	cr_assert_eq(ret, 0);
	cr_assert_eq(hook_runs, 2);
}

Test(errors, add_pages_signal_before_the_first_page_eintr)
{
	handle_usr1(0);
	epc_full(20); /* a batch takes 16: 4 stay reclaimable */
	set_hook(SGXK_TEST_RECLAIM_DONE, raise_usr1_and_take_frames);
	long ret;
	cr_assert_eq(add_rw(0x20000, 2 * 4096, &ret), 0);
	cr_assert_eq(ret, -EINTR);
	cr_assert_eq(handled, 1);
	cr_assert_not(kh_epcm(&h, 0x20000).valid);
	release_frames(2);
	cr_assert_eq(add_rw(0x20000, 2 * 4096, &ret), 2 * 4096);
	cr_assert_eq(ret, 0);
}

Test(errors, add_pages_signal_with_sa_restart_is_restarted)
{
	handle_usr1(SA_RESTART);
	epc_full(20);
	set_hook(SGXK_TEST_RECLAIM_DONE, raise_usr1_and_take_frames);
	long ret;
	cr_assert_eq(add_rw(0x20000, 2 * 4096, &ret), 2 * 4096);
	cr_assert_eq(ret, 0);
	cr_assert_eq(handled, 1);
	cr_assert(kh_epcm(&h, 0x20000).valid && kh_epcm(&h, 0x21000).valid);
}

Test(errors, add_pages_signal_during_a_later_page_eintr_with_count)
{
	handle_usr1(0);
	epc_full(20);
	release_frames(2); /* two pages go in without reclaim, the third reclaims */
	set_hook(SGXK_TEST_RECLAIM_DONE, raise_usr1_and_take_frames);
	long ret;
	cr_assert_eq(add_rw(0x20000, 4 * 4096, &ret), 2 * 4096);
	cr_assert_eq(ret, -EINTR);
	cr_assert(kh_epcm(&h, 0x21000).valid);
	cr_assert_not(kh_epcm(&h, 0x22000).valid);
}

Test(errors, add_pages_restarted_after_progress_finds_its_first_page_ebusy)
{
	/* Linux restarts the ioctl with its original arguments: the first page is there already. */
	handle_usr1(SA_RESTART);
	epc_full(20);
	release_frames(2);
	set_hook(SGXK_TEST_RECLAIM_DONE, raise_usr1_and_take_frames);
	long ret;
	cr_assert_eq(add_rw(0x20000, 4 * 4096, &ret), 0);
	cr_assert_eq(ret, -EBUSY);
	cr_assert_eq(handled, 1);
	/* The two pages of the first run are there, the rest is not. */
	cr_assert_eq(add_rw(0x21000, 4096, &ret), 0);
	cr_assert_eq(ret, -EBUSY);
	cr_assert_eq(add_rw(0x22000, 2 * 4096, &ret), 2 * 4096);
	cr_assert_eq(ret, 0);
}

/* SIGUSR1 (blocked by the caller), SIGUSR2 (SIG_IGN), SIGCHLD (ignored by default): held, never interrupting. */
static void raise_three(void)
{
	raise_usr1();
	cr_assert_eq(raise(SIGUSR2), 0);
	cr_assert_eq(raise(SIGCHLD), 0);
	sigset_t p;
	cr_assert_eq(sigpending(&p), 0);
	cr_assert(sigismember(&p, SIGUSR1) && sigismember(&p, SIGUSR2) && sigismember(&p, SIGCHLD));
}

Test(errors, blocked_or_ignored_signals_do_not_stop_add_pages)
{
	handle_usr1(0);
	signal(SIGUSR2, SIG_IGN);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &usr1, NULL), 0);
	epc_full(4);
	set_hook(SGXK_TEST_RECLAIM_DONE, raise_three);
	long ret;
	cr_assert_eq(add_rw(0x10000, 8 * 4096, &ret), 8 * 4096);
	cr_assert_eq(ret, 0);
	cr_assert_eq(hook_runs, 2);
	/* Still pending for the caller, who takes it when it wants. */
	sigset_t p;
	cr_assert_eq(sigpending(&p), 0);
	cr_assert(sigismember(&p, SIGUSR1));
	cr_assert_not(sigismember(&p, SIGUSR2) || sigismember(&p, SIGCHLD));
	cr_assert_eq(handled, 0);
	int sig;
	cr_assert_eq(sigwait(&usr1, &sig), 0);
	cr_assert_eq(sig, SIGUSR1);
}

Test(errors, create_reclaiming_for_its_pages_stops_at_a_signal_eintr)
{
	handle_usr1(0);
	epc_full(20);
	set_hook(SGXK_TEST_RECLAIM_DONE, raise_usr1_and_take_frames);
	struct sgx_file *f2;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_ENCLAVE, &f2), 0);
	static struct sgx_secs secs __attribute__((aligned(4096)));
	kh_secs(&secs, KH_BASE + 0x10000000ULL, KH_SIZE);
	struct sgx_enclave_create cr = {.src = (uint64_t)(uintptr_t)&secs};
	cr_assert_eq(sgx_file_ioctl(f2, SGX_IOC_ENCLAVE_CREATE, (unsigned long)&cr), -EINTR);
	cr_assert_eq(handled, 1);
	cr_assert_eq(sgx_file_secs_pa(f2), 0);
	release_frames(2);
	cr_assert_eq(sgx_file_ioctl(f2, SGX_IOC_ENCLAVE_CREATE, (unsigned long)&cr), 0);
	cr_assert_neq(sgx_file_secs_pa(f2), 0);
	sgx_file_close(f2);
}
