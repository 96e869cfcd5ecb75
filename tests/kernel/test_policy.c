/* SPDX-License-Identifier: MIT */
/* The dynamic-page policy and SGX_IOC_ENCLAVE_AUGMENT_PAGES (docs/policy.md). */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "kharness.h"

static struct kh h;

static void cleanup(void)
{
	if (h.k)
		kh_teardown(&h);
}

TestSuite(policy, .fini = cleanup, .timeout = 60);

#define RW  (PROT_READ | PROT_WRITE)
#define RX  (PROT_READ | PROT_EXEC)
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

static uint64_t lin(uint64_t off)
{
	return h.base + off;
}

static void build_with(enum sgxk_dyn_policy pol, void (*tweak)(struct sgxk_config *))
{
	struct sgxk_config c;
	kh_config(&c);
	c.dyn_policy = pol;
	if (tweak)
		tweak(&c);
	kh_setup(&h, &c);
	kh_build(&h, KH_SIZE, true);
}

static void hex(const uint8_t v[32], char out[65])
{
	for (unsigned i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", v[i]);
}

/* ---- configuration from the environment ---- */

Test(policy, env_policy_names)
{
	struct sgxk_config c;
	char err[128];
	const char *names[] = {"rw", "wx-exclusive", "rwx"};
	enum sgxk_dyn_policy want[] = {SGXK_DYN_RW, SGXK_DYN_WX_EXCLUSIVE, SGXK_DYN_RWX};
	for (unsigned i = 0; i < 3; i++) {
		sgxk_config_default(&c);
		setenv(SGXEMU_ENV_DYN_POLICY, names[i], 1);
		cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(c.dyn_policy, want[i]);
	}
	setenv(SGXEMU_ENV_DYN_POLICY, "rx", 1);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, SGXEMU_ENV_DYN_POLICY));
	unsetenv(SGXEMU_ENV_DYN_POLICY);
	sgxk_config_default(&c);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), 0);
	cr_assert_eq(c.dyn_policy, SGXK_DYN_RWX);
}

Test(policy, env_allowlists)
{
	struct sgxk_config c;
	char err[128];
	sgxk_config_default(&c);
	const char *two = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF,"
			  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff00";
	setenv(SGXEMU_ENV_EXEC_ALLOW_MRSIGNER, two, 1);
	setenv(SGXEMU_ENV_EXEC_ALLOW_MRENCLAVE, "", 1);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.n_exec_allow_mrsigner, 2);
	cr_assert_eq(c.n_exec_allow_mrenclave, 0);
	cr_assert_eq(c.exec_allow_mrsigner[0][1], 0x11);
	cr_assert_eq(c.exec_allow_mrsigner[0][31], 0xFF);
	cr_assert_eq(c.exec_allow_mrsigner[1][31], 0x00);
	const char *bad[] = {"0011", "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
			     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff;"};
	for (unsigned i = 0; i < 3; i++) {
		setenv(SGXEMU_ENV_EXEC_ALLOW_MRENCLAVE, bad[i], 1);
		cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), -1, "%s", bad[i]);
	}
	unsetenv(SGXEMU_ENV_EXEC_ALLOW_MRSIGNER);
	unsetenv(SGXEMU_ENV_EXEC_ALLOW_MRENCLAVE);
}

/* ---- the three settings ---- */

Test(policy, rwx_dynamic_pages_may_be_wx)
{
	build_with(SGXK_DYN_RWX, NULL);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 0x10000, RWX), 0);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U | PF_W), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), 0);
}

Test(policy, rw_no_executable_dynamic_memory)
{
	build_with(SGXK_DYN_RW, NULL);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U | PF_W), SGXK_FAULT_FIXED);
	cr_assert(kh_epcm(&h, KH_DYN).pending);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RX), -EACCES);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RW), 0);
	/* A fault under an executable mapping adds nothing. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN + 0x1000), 4096, RWX), 0);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN + 0x1000), PF_U), SGXK_FAULT_SIGBUS);
	cr_assert_not(kh_epcm(&h, KH_DYN + 0x1000).valid);
	/* EADD'd pages keep their own ceiling. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_CODE), 4096, RX), 0);
}

static void allow_signer(struct sgxk_config *c)
{
	kh_mrsigner(c->exec_allow_mrsigner[0]);
	c->n_exec_allow_mrsigner = 1;
}

Test(policy, rw_with_allowed_signer_gets_rwx)
{
	build_with(SGXK_DYN_RW, allow_signer);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U | PF_W), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), 0);
}

static uint8_t standard_mrenclave[32];

static void allow_enclave(struct sgxk_config *c)
{
	memcpy(c->exec_allow_mrenclave[0], standard_mrenclave, 32);
	c->n_exec_allow_mrenclave = 1;
}

Test(policy, rw_with_allowed_mrenclave_gets_rwx_others_do_not)
{
	/* The standard enclave's measurement, from a first kernel. */
	kh_setup(&h, NULL);
	kh_build(&h, KH_SIZE, false);
	struct hw_secs_view v;
	cr_assert(hw_secs_get(h.m, sgx_file_secs_pa(h.f), &v));
	memcpy(standard_mrenclave, v.mrenclave_now, 32);
	kh_teardown(&h);

	build_with(SGXK_DYN_RW, allow_enclave);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U | PF_W), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), 0);
	kh_teardown(&h);

	standard_mrenclave[0] ^= 1;
	build_with(SGXK_DYN_RW, allow_enclave);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U | PF_W), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), -EACCES);
	char s[65];
	hex(standard_mrenclave, s);
	cr_assert_eq(strlen(s), 64);
}

Test(policy, wx_exclusive_never_w_and_x_together)
{
	build_with(SGXK_DYN_WX_EXCLUSIVE, NULL);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U | PF_W), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), -EACCES);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RX), 0);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RW), 0);
	cr_assert_eq(sgx_file_mmap(h.f, lin(KH_DYN), 4096, RWX, MAP_SHARED | MAP_FIXED, 0), -EACCES);
	/* A fault under a W+X mapping of a hole adds nothing. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN + 0x1000), 4096, RWX), 0);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN + 0x1000), PF_U), SGXK_FAULT_SIGBUS);
	cr_assert_not(kh_epcm(&h, KH_DYN + 0x1000).valid);
}

/* ---- SGX_IOC_ENCLAVE_AUGMENT_PAGES ---- */

static long augment(uint64_t off, uint64_t len, uint64_t flags, struct sgx_enclave_augment_pages *a)
{
	static struct sgx_secinfo si;
	memset(&si, 0, sizeof(si));
	si.flags = flags;
	*a = (struct sgx_enclave_augment_pages){.offset = off, .length = len, .secinfo = (uint64_t)(uintptr_t)&si};
	return kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, a);
}

Test(policy, augment_number_is_not_a_linux_one)
{
	cr_assert_eq(_IOC_TYPE(SGX_IOC_ENCLAVE_AUGMENT_PAGES), SGX_MAGIC);
	cr_assert_eq(_IOC_NR(SGX_IOC_ENCLAVE_AUGMENT_PAGES), 0x20);
	cr_assert_eq(_IOC_SIZE(SGX_IOC_ENCLAVE_AUGMENT_PAGES), 32);
	unsigned long linux_cmds[] = {SGX_IOC_ENCLAVE_CREATE,	    SGX_IOC_ENCLAVE_ADD_PAGES,
				      SGX_IOC_ENCLAVE_INIT,	    SGX_IOC_ENCLAVE_PROVISION,
				      SGX_IOC_VEPC_REMOVE_ALL,	    SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS,
				      SGX_IOC_ENCLAVE_MODIFY_TYPES, SGX_IOC_ENCLAVE_REMOVE_PAGES};
	for (unsigned i = 0; i < sizeof(linux_cmds) / sizeof(linux_cmds[0]); i++)
		cr_assert_neq(_IOC_NR(linux_cmds[i]), 0x20);
}

Test(policy, augment_argument_checks)
{
	kh_setup(&h, NULL);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	struct sgx_enclave_augment_pages a;
	cr_assert_eq(augment(KH_DYN, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), &a), -EINVAL); /* before INIT */
	kh_teardown(&h);

	build_with(SGXK_DYN_RW, NULL);
	uint64_t rw = SI_REG(SGX_SECINFO_R | SGX_SECINFO_W);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, (void *)8), -EFAULT);
	cr_assert_eq(augment(KH_DYN + 1, 4096, rw, &a), -EINVAL);
	cr_assert_eq(augment(KH_DYN, 0, rw, &a), -EINVAL);
	cr_assert_eq(augment(KH_SIZE, 4096, rw, &a), -EINVAL);
	a = (struct sgx_enclave_augment_pages){.offset = KH_DYN, .length = 4096, .secinfo = 8};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a), -EFAULT);
	static struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R)};
	a = (struct sgx_enclave_augment_pages){
	    .offset = KH_DYN, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&si, .count = 4096};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a), -EINVAL);
	cr_assert_eq(augment(KH_DYN, 4096, SGX_SECINFO_PT(SGX_PT_TCS), &a), -EINVAL);
	cr_assert_eq(augment(KH_DYN, 4096, SI_REG(SGX_SECINFO_W), &a), -EINVAL);
	cr_assert_eq(augment(KH_DYN, 4096, rw | SGX_SECINFO_PENDING, &a), -EINVAL);
	si.reserved[3] = 1;
	a = (struct sgx_enclave_augment_pages){.offset = KH_DYN, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&si};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a), -EINVAL);
	/* X is above the RW policy. */
	cr_assert_eq(augment(KH_DYN, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_X), &a), -EPERM);
	cr_assert_eq(a.count, 0);
	cr_assert_not(kh_epcm(&h, KH_DYN).valid);
}

Test(policy, augment_on_sgx1_enodev)
{
	struct sgxk_config c;
	kh_config(&c);
	c.hw.sgx1_only = true;
	kh_setup(&h, &c);
	kh_build(&h, KH_SIZE, true);
	struct sgx_enclave_augment_pages a;
	cr_assert_eq(augment(KH_DYN, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), &a), -ENODEV);
}

Test(policy, augment_range_then_eaccept_without_faults)
{
	build_with(SGXK_DYN_RWX, NULL);
	struct hw_thread t;
	kh_thread(&h, &t);
	kh_enter(&h, &t);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_SI), PF_U), SGXK_FAULT_FIXED);
	struct sgx_enclave_augment_pages a;
	cr_assert_eq(augment(KH_DYN, 0x4000, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), &a), 0);
	cr_assert_eq(a.count, 0x4000);
	for (uint64_t off = KH_DYN; off < KH_DYN + 0x4000; off += 4096) {
		struct hw_epcm_view v = kh_epcm(&h, off);
		cr_assert(v.valid && v.pending && v.r && v.w && !v.x);
		unsigned faults;
		kh_assert_ok(
		    kh_enclu(&h, &t, ENCLU_EACCEPT, lin(KH_SI + KH_SI_PENDING_RW), lin(off), 0, &faults, NULL));
		cr_assert_eq(faults, 0);
	}
	/* The SECINFO's permissions are the ceiling. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), -EACCES);
	kh_exit(&h, &t);
	sgxk_thread_unregister(h.k, &t);
	hw_thread_fini(&t);
}

Test(policy, augment_existing_page_ebusy_with_partial_count)
{
	build_with(SGXK_DYN_RWX, NULL);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN + 0x2000), PF_U), SGXK_FAULT_FIXED);
	struct sgx_enclave_augment_pages a;
	cr_assert_eq(augment(KH_DYN, 0x4000, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_X), &a), -EBUSY);
	cr_assert_eq(a.count, 0x2000);
	cr_assert(kh_epcm(&h, KH_DYN + 0x1000).valid);
	cr_assert_not(kh_epcm(&h, KH_DYN + 0x3000).valid);
}

/* ---- frames in batches (docs/kernel.md) ---- */

static uint64_t frames_with_memory(uint64_t off, unsigned n)
{
	return kh_frames_with_memory(&h, off, n);
}

/*
 * AUGMENT over 32 pages whose ninth exists: the frames of the batch were
 * populated at the start, the ioctl stops at the ninth (EBUSY), the frames
 * past it go back, and the existing page keeps what it holds.
 */
/*
 * AUGMENT over `pages` pages from the first dynamic one, whose ninth exists
 * and holds 0x5C: EBUSY at it, then the populator done.
 */
static void augment_stopped_at_the_ninth(unsigned pages)
{
	build_with(SGXK_DYN_RWX, NULL);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN + 0x8000), PF_U), SGXK_FAULT_FIXED);
	memset(kh_frame(&h, KH_DYN + 0x8000), 0x5C, 4096);
	/* The build's in-order adds gave the rest of their last chunk memory ahead (docs/hw.md): start clean. */
	hw_epc_release_unused(h.m, sgx_file_frame(h.f, lin(KH_DYN)), pages * 4096ULL);
	cr_assert_eq(frames_with_memory(KH_DYN, 32), 1ULL << 8);
	struct sgx_enclave_augment_pages a;
	cr_assert_eq(augment(KH_DYN, pages * 4096ULL, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), &a), -EBUSY);
	cr_assert_eq(a.count, 0x8000);
	/* The range went to the populator: what it still had to do below the stop, it does. */
	hw_epc_populate_wait(h.m);
}

Test(policy, augment_stopped_early_gives_back_the_frames_it_populated)
{
	augment_stopped_at_the_ninth(32);
	cr_assert_eq(frames_with_memory(KH_DYN, 32), 0x1FF, "frames 0-8 in use, 9-31 given back: %#llx",
		     (unsigned long long)frames_with_memory(KH_DYN, 32));
	const uint8_t *kept = kh_frame(&h, KH_DYN + 0x8000);
	for (unsigned i = 0; i < 4096; i++)
		cr_assert_eq(kept[i], 0x5C, "the existing page's byte %u changed", i);
	for (uint64_t off = KH_DYN; off < KH_DYN + 0x8000; off += 4096) {
		const uint8_t *z = kh_frame(&h, off);
		for (unsigned i = 0; i < 4096; i++)
			cr_assert_eq(z[i], 0, "an EAUGed page is not zero");
	}
}

/*
 * The same over 160 pages, longer than a batch: the whole range went to the
 * populator, and the stop takes back all of it past the stop, not only the
 * rest of a batch.
 */
Test(policy, augment_stopped_early_takes_back_the_rest_of_its_range)
{
	augment_stopped_at_the_ninth(160);
	cr_assert_eq(frames_with_memory(KH_DYN, 64), 0x1FF, "%#llx",
		     (unsigned long long)frames_with_memory(KH_DYN, 64));
	for (uint64_t off = KH_DYN + 64 * 4096; off < KH_DYN + 160 * 4096; off += 32 * 4096)
		cr_assert_eq(frames_with_memory(off, 32), 0, "frames from %#llx: %#llx", (unsigned long long)off,
			     (unsigned long long)frames_with_memory(off, 32));
}

/* Page faults the calling thread has taken so far (MADV_POPULATE_WRITE's count too). */
static long thread_faults(void)
{
	struct rusage ru;
	cr_assert_eq(getrusage(RUSAGE_THREAD, &ru), 0);
	return ru.ru_minflt + ru.ru_majflt;
}

/*
 * AUGMENT_PAGES hands its whole range to the machine's populator and does
 * not wait for it (EAUG does not write its frame): the ioctl's own thread
 * takes no fault for the frames, where populating a batch itself takes one
 * per frame; once the populator is done, every frame has its memory, and
 * every page reads zeros.
 */
Test(policy, augment_leaves_its_frames_to_the_populator)
{
	build_with(SGXK_DYN_RWX, NULL);
	hw_epc_release_unused(h.m, sgx_file_frame(h.f, lin(KH_DYN)), 64 * 4096);
	cr_assert_eq(frames_with_memory(KH_DYN, 64), 0);
	struct sgx_enclave_augment_pages a;
	long before = thread_faults();
	cr_assert_eq(augment(KH_DYN, 64 * 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), &a), 0);
	long faults = thread_faults() - before;
	cr_assert_eq(a.count, 64 * 4096);
	cr_assert_lt(faults, 16, "the ioctl's thread took %ld page faults for 64 frames", faults);
	hw_epc_populate_wait(h.m);
	cr_assert_eq(frames_with_memory(KH_DYN, 64), ~0ULL, "%#llx",
		     (unsigned long long)frames_with_memory(KH_DYN, 64));
	for (uint64_t off = KH_DYN; off < KH_DYN + 64 * 4096; off += 4096) {
		const uint8_t *z = kh_frame(&h, off);
		for (unsigned i = 0; i < 4096; i++)
			cr_assert_eq(z[i], 0, "byte %u of the page at %#llx", i, (unsigned long long)off);
	}
}

/*
 * Four threads AUGMENT ranges of one enclave at once (their ioctls one at a
 * time, as on Linux, each retried on EBUSY), each range handed to the
 * populator while the others' are queued, being populated or used; in two of
 * them a page exists already, so the ioctl stops there (EBUSY) and takes
 * back the rest of its range from the populator while the others' requests
 * go on.  Every page added reads zeros, then keeps what its thread wrote;
 * afterwards every frame of a page added has memory, and no frame past a
 * stop does.
 */
#define MT_PAGES 32
#define MT_STOP	 20 /* the page that exists in ranges 1 and 3 */

struct mt_range {
	unsigned idx;
	uint64_t off;
	long ret;
	uint64_t count;
	unsigned bad;
};

static void *augment_and_use(void *arg)
{
	struct mt_range *r = arg;
	struct sgx_secinfo si __attribute__((aligned(64))) = {.flags = SI_REG(SGX_SECINFO_R | SGX_SECINFO_W)};
	struct sgx_enclave_augment_pages a = {
	    .offset = r->off, .length = MT_PAGES * 4096, .secinfo = (uint64_t)(uintptr_t)&si};
	/* Another thread's ioctl of the enclave running: EBUSY before anything is done, as on Linux. */
	while ((r->ret = kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a)) == -EBUSY && a.count == 0)
		sched_yield();
	r->count = a.count;
	for (uint64_t o = 0; o < a.count; o += 4096) {
		uint8_t *p = kh_frame(&h, r->off + o);
		for (unsigned i = 0; i < 4096; i += 64)
			r->bad += p[i] != 0;
		memset(p, (int)(0x10 + r->idx), 4096);
	}
	return NULL;
}

Test(policy, augments_of_threads_at_once_share_the_populator)
{
	build_with(SGXK_DYN_RWX, NULL);
	struct mt_range r[4];
	pthread_t th[4];
	hw_epc_release_unused(h.m, sgx_file_frame(h.f, lin(KH_DYN)), 4 * MT_PAGES * 4096);
	for (unsigned i = 0; i < 4; i++) {
		r[i] = (struct mt_range){.idx = i, .off = KH_DYN + i * MT_PAGES * 4096ULL};
		if (i % 2) {
			cr_assert_eq(sgxk_fault(h.k, lin(r[i].off + MT_STOP * 4096ULL), PF_U), SGXK_FAULT_FIXED);
			memset(kh_frame(&h, r[i].off + MT_STOP * 4096ULL), 0x77, 4096);
		}
	}
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, augment_and_use, &r[i]), 0);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	hw_epc_populate_wait(h.m);
	for (unsigned i = 0; i < 4; i++) {
		bool stops = i % 2;
		cr_assert_eq(r[i].ret, stops ? -EBUSY : 0, "range %u: %ld", i, r[i].ret);
		cr_assert_eq(r[i].count, (stops ? MT_STOP : MT_PAGES) * 4096ULL, "range %u: count %#llx", i,
			     (unsigned long long)r[i].count);
		cr_assert_eq(r[i].bad, 0, "range %u: %u bytes of new pages were not zero", i, r[i].bad);
		uint64_t want = stops ? (1ULL << (MT_STOP + 1)) - 1 : (1ULL << MT_PAGES) - 1;
		uint64_t got = frames_with_memory(r[i].off, MT_PAGES);
		cr_assert_eq(got, want, "range %u: frames with memory %#llx, expected %#llx", i,
			     (unsigned long long)got, (unsigned long long)want);
		for (unsigned p = 0; p < (stops ? MT_STOP + 1 : MT_PAGES); p++) {
			const uint8_t *b = kh_frame(&h, r[i].off + p * 4096ULL);
			uint8_t v = stops && p == MT_STOP ? 0x77 : (uint8_t)(0x10 + i);
			cr_assert(b[0] == v && b[4095] == v, "range %u page %u holds %#x, expected %#x", i, p, b[0], v);
		}
	}
}

static void sync_readahead(struct sgxk_config *c)
{
	c->hw.sync_readahead = true;
}

/* Without a populator (sync_readahead, a child of fork), the ioctl gives the frames their memory itself. */
Test(policy, augment_without_a_populator_populates_in_batches)
{
	build_with(SGXK_DYN_RWX, sync_readahead);
	hw_epc_release_unused(h.m, sgx_file_frame(h.f, lin(KH_DYN)), 64 * 4096);
	cr_assert_eq(frames_with_memory(KH_DYN, 64), 0);
	struct sgx_enclave_augment_pages a;
	cr_assert_eq(augment(KH_DYN, 64 * 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), &a), 0);
	cr_assert_eq(frames_with_memory(KH_DYN, 64), ~0ULL, "%#llx",
		     (unsigned long long)frames_with_memory(KH_DYN, 64));
}

static void small_epc(struct sgxk_config *c)
{
	c->hw.epc_size = 96 * 4096;
}

/*
 * A range larger than the free EPC (pages of it are evicted while the ioctl
 * goes on) is not handed to the populator, which would give the evicted
 * pages' frames memory behind the ioctl: it populates batch by batch itself.
 */
Test(policy, augment_beyond_the_free_epc_populates_in_batches)
{
	build_with(SGXK_DYN_RWX, small_epc);
	cr_assert_lt(hw_epc_frames_free(h.m), 128);
	/* The populator busy elsewhere for longer than the ioctl takes: a request of the ioctl's would come after it.
	 */
	uint64_t busy = hw_epc_window_alloc(h.m, 256ULL << 20);
	cr_assert_neq(busy, 0);
	cr_assert(hw_epc_populate_async(h.m, busy, 256ULL << 20));
	struct sgx_enclave_augment_pages a;
	cr_assert_eq(augment(KH_DYN, 128 * 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), &a), 0);
	cr_assert_eq(a.count, 128 * 4096);
	uint64_t frames = sgx_file_frame(h.f, lin(KH_DYN)), queued = hw_epc_populate_queued(h.m, frames, 128 * 4096);
	hw_epc_window_free(h.m, busy, 256ULL << 20);
	cr_assert_eq(queued, 0, "the populator was asked for %llu bytes of the range", (unsigned long long)queued);
	unsigned evicted = 0;
	for (uint64_t off = KH_DYN; off < KH_DYN + 128 * 4096; off += 4096)
		evicted += !kh_epcm(&h, off).valid;
	cr_assert_geq(evicted, 32, "%u pages evicted", evicted);
}

/* ADD_PAGES stopped by a page already added gives back the rest of its batch too. */
Test(policy, add_pages_stopped_early_gives_back_the_frames_it_populated)
{
	kh_setup(&h, NULL);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	static uint8_t src[32 * 4096] __attribute__((aligned(4096)));
	memset(src, 0x3E, sizeof(src));
	cr_assert_eq(kh_add(&h, 0x4000, 0x1000, SI_REG(SGX_SECINFO_R), src, 0, NULL), 0);
	cr_assert_eq(frames_with_memory(0, 32), 1ULL << 4);
	struct sgx_secinfo si __attribute__((aligned(64))) = {.flags = SI_REG(SGX_SECINFO_R | SGX_SECINFO_W)};
	struct sgx_enclave_add_pages a = {
	    .src = (uint64_t)(uintptr_t)src, .offset = 0, .length = sizeof(src), .secinfo = (uint64_t)(uintptr_t)&si};
	cr_assert_lt(kh_ioctl(&h, SGX_IOC_ENCLAVE_ADD_PAGES, &a), 0);
	cr_assert_eq(a.count, 0x4000);
	cr_assert_eq(frames_with_memory(0, 32), 0x1F, "frames 0-4 in use, 5-31 given back: %#llx",
		     (unsigned long long)frames_with_memory(0, 32));
}

Test(policy, env_populate_setting)
{
	struct sgxk_config c;
	char err[128];
	sgxk_config_default(&c);
	cr_assert_not(c.no_populate, "frames are populated in batches by default");
	setenv(SGXEMU_ENV_EPC_POPULATE, "0", 1);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.no_populate);
	setenv(SGXEMU_ENV_EPC_POPULATE, "1", 1);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(c.no_populate);
	setenv(SGXEMU_ENV_EPC_POPULATE, "yes", 1);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, SGXEMU_ENV_EPC_POPULATE), "%s", err);
	unsetenv(SGXEMU_ENV_EPC_POPULATE);
}

Test(policy, env_check_setting)
{
	struct sgxk_config c;
	char err[128];
	sgxk_config_default(&c);
	cr_assert_not(c.check, "the protocol checker is off by default");
	setenv(SGXEMU_ENV_CHECK, "1", 1);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.check);
	setenv(SGXEMU_ENV_CHECK, "0", 1);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(c.check);
	setenv(SGXEMU_ENV_CHECK, "on", 1);
	cr_assert_eq(sgxk_config_from_env(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "SGXEMU_CHECK=on: expected 0 or 1"), "%s", err);
	unsetenv(SGXEMU_ENV_CHECK);
}

Test(policy, augment_more_than_the_epc_reclaims)
{
	kh_setup(&h, NULL);
	kh_build(&h, 4 << 20, true);
	struct sgx_enclave_augment_pages a;
	cr_assert_eq(augment(KH_DYN, (2 << 20) - KH_DYN, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), &a), 0);
	cr_assert_eq(a.count, (2 << 20) - KH_DYN);
	uint64_t resident, evicted;
	sgxk_page_counts(h.k, &resident, &evicted);
	cr_assert_gt(evicted, 0);
	cr_assert_eq(resident + evicted, 6 + ((2 << 20) - KH_DYN) / 4096);
}
