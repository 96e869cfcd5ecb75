/* SPDX-License-Identifier: MIT */
/* CREATE, ADD_PAGES, INIT, PROVISION and the file-level rules (spec/linux-driver.md §1-§3). */
#include <string.h>
#include <unistd.h>

#include "kharness.h"
#include "sigstruct.h"

static struct kh h;

static void setup(void)
{
	kh_setup(&h, NULL);
}

static void teardown(void)
{
	kh_teardown(&h);
}

TestSuite(ioctl, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t frames_used(void)
{
	return hw_epc_frames_total(h.m) - hw_epc_frames_free(h.m);
}

/* ---- devices ---- */

Test(ioctl, open_without_flexible_launch_control_enodev)
{
	struct sgxk_config c;
	kh_config(&c);
	c.hw.lehash_locked = true;
	struct sgxk *k;
	char err[64];
	cr_assert_eq(sgxk_create(&c, &k, err, sizeof(err)), 0);
	struct sgx_file *f = NULL;
	cr_assert_eq(sgxk_open(k, SGX_DEV_ENCLAVE, &f), -ENODEV);
	cr_assert_eq(sgxk_open(k, SGX_DEV_PROVISION, &f), -ENODEV);
	sgxk_destroy(k);
}

Test(ioctl, unknown_command_enotty)
{
	cr_assert_eq(kh_ioctl(&h, _IO(SGX_MAGIC, 0x30), NULL), -ENOTTY);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_VEPC_REMOVE_ALL, NULL), -ENOTTY);
	cr_assert_eq(kh_ioctl(&h, 0x1234, NULL), -ENOTTY);
}

Test(ioctl, provision_device_has_no_ioctl_nor_mmap)
{
	struct sgx_file *p;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_PROVISION, &p), 0);
	struct sgx_enclave_create c = {0};
	cr_assert_eq(sgx_file_ioctl(p, SGX_IOC_ENCLAVE_CREATE, (unsigned long)&c), -ENOTTY);
	cr_assert_eq(sgx_file_mmap(p, 0, 4096, PROT_READ, MAP_SHARED, 0), -ENODEV);
	sgx_file_close(p);
}

Test(ioctl, files_have_distinct_real_descriptors)
{
	struct sgx_file *p;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_PROVISION, &p), 0);
	cr_assert_geq(sgx_file_fd(p), 0);
	cr_assert_neq(sgx_file_fd(p), sgx_file_fd(h.f));
	cr_assert_neq(fcntl(sgx_file_fd(p), F_GETFD), -1);
	sgx_file_close(p);
}

/* ---- CREATE ---- */

Test(ioctl, create_runs_ecreate_with_a_va_page)
{
	uint64_t before = frames_used();
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	struct hw_secs_view v;
	cr_assert(hw_secs_get(h.m, sgx_file_secs_pa(h.f), &v));
	cr_assert_eq(v.secs.base, KH_BASE);
	cr_assert_eq(v.secs.size, KH_SIZE);
	cr_assert_not(v.initialized);
	/* The SECS and one VA page. */
	cr_assert_eq(frames_used(), before + 2);
}

Test(ioctl, create_twice_einval)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	uint64_t used = frames_used();
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), -EINVAL);
	cr_assert_eq(frames_used(), used);
}

Test(ioctl, create_bad_pointers_efault)
{
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_CREATE, (void *)8), -EFAULT);
	struct sgx_enclave_create c = {.src = 8};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_CREATE, &c), -EFAULT);
	cr_assert_eq(frames_used(), 0);
	cr_assert_eq(sgx_file_secs_pa(h.f), 0);
}

Test(ioctl, create_size_not_power_of_two_einval)
{
	cr_assert_eq(kh_create(&h, KH_BASE, 0x30000), -EINVAL);
	cr_assert_eq(kh_create(&h, KH_BASE, 0), -EINVAL);
	cr_assert_eq(frames_used(), 0);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
}

Test(ioctl, create_ecreate_fault_eio_and_nothing_kept)
{
	/* BASE not aligned to SIZE: ECREATE #GP. */
	cr_assert_eq(kh_create(&h, KH_BASE + 0x1000, KH_SIZE), -EIO);
	cr_assert_eq(frames_used(), 0);
	cr_assert_eq(sgx_file_secs_pa(h.f), 0);
	/* The file is still usable: not CREATED. */
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
}

/*
 * Huge sizes, each as Linux answers it: from 2^63 the backing file is
 * refused (EINVAL); from the CPU's largest enclave (2^36 here) up, ECREATE
 * #GP (EIO).  Nothing is allocated for the size (under ASan a table for
 * 2^63 bytes of pages aborted the process).
 */
Test(ioctl, create_huge_sizes_as_linux)
{
	for (unsigned log2 = 36; log2 < 63; log2++) {
		uint64_t size = 1ULL << log2;
		cr_assert_eq(kh_create(&h, 0, size), -EIO, "SIZE 2^%u", log2);
	}
	cr_assert_eq(kh_create(&h, 0, 1ULL << 63), -EINVAL, "SIZE 2^63");
	cr_assert_eq(frames_used(), 0);
	cr_assert_eq(sgx_file_secs_pa(h.f), 0);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
}

/* ---- ADD_PAGES ---- */

Test(ioctl, add_before_create_einval)
{
	cr_assert_eq(kh_add(&h, 0, 4096, SI_REG(SGX_SECINFO_R), NULL, 0, NULL), -EINVAL);
}

Test(ioctl, add_after_init_einval)
{
	kh_build(&h, KH_SIZE, true);
	uint64_t count = 77;
	cr_assert_eq(kh_add(&h, KH_DYN, 4096, SI_REG(SGX_SECINFO_R), NULL, 0, &count), -EINVAL);
	cr_assert_eq(count, 0); /* not written */
}

Test(ioctl, add_pages_count_contents_and_epcm)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	uint8_t buf[3 * 4096];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	uint64_t used = frames_used(), count = 0;
	cr_assert_eq(kh_add(&h, 0x8000, sizeof(buf), SI_REG(SGX_SECINFO_R | SGX_SECINFO_X), buf, 0, &count), 0);
	cr_assert_eq(count, sizeof(buf));
	cr_assert_eq(frames_used(), used + 3);
	for (unsigned i = 0; i < 3; i++) {
		struct hw_epcm_view v = kh_epcm(&h, 0x8000 + 4096 * i);
		cr_assert(v.valid && v.r && !v.w && v.x && v.pt == SGX_PT_REG && !v.pending);
		cr_assert_eq(v.enclave_address, KH_BASE + 0x8000 + 4096 * i);
		cr_assert_eq(memcmp(kh_frame(&h, 0x8000 + 4096 * i), buf + 4096 * i, 4096), 0);
	}
}

Test(ioctl, add_measure_flag_eextends)
{
	struct kh h2;
	kh_setup(&h2, NULL);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_create(&h2, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_add(&h, 0, 4096, SI_REG(SGX_SECINFO_R), NULL, 0, NULL), 0);
	cr_assert_eq(kh_add(&h2, 0, 4096, SI_REG(SGX_SECINFO_R), NULL, SGX_PAGE_MEASURE, NULL), 0);
	struct hw_secs_view a, b;
	cr_assert(hw_secs_get(h.m, sgx_file_secs_pa(h.f), &a));
	cr_assert(hw_secs_get(h2.m, sgx_file_secs_pa(h2.f), &b));
	cr_assert_neq(memcmp(a.mrenclave_now, b.mrenclave_now, 32), 0);
	/* Other flag bits are not checked. */
	cr_assert_eq(kh_add(&h, 0x1000, 4096, SI_REG(SGX_SECINFO_R), NULL, 0x100, NULL), 0);
	kh_teardown(&h2);
}

Test(ioctl, add_bad_arguments_einval_or_efault)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	static uint8_t src[4096] __attribute__((aligned(4096)));
	struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R)};
	struct sgx_enclave_add_pages a;
#define ADD(src_, off_, len_, si_)                                                                                     \
	(a =                                                                                                           \
	     (struct sgx_enclave_add_pages){                                                                           \
		 .src = (src_), .offset = (off_), .length = (len_), .secinfo = (si_), .count = 0},                     \
	 kh_ioctl(&h, SGX_IOC_ENCLAVE_ADD_PAGES, &a))
	uint64_t s = (uint64_t)(uintptr_t)src, sp = (uint64_t)(uintptr_t)&si;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_ADD_PAGES, (void *)8), -EFAULT);
	cr_assert_eq(ADD(s + 8, 0, 4096, sp), -EINVAL);
	cr_assert_eq(ADD(s, 8, 4096, sp), -EINVAL);
	cr_assert_eq(ADD(s, 0, 0, sp), -EINVAL);
	cr_assert_eq(ADD(s, 0, 100, sp), -EINVAL);
	cr_assert_eq(ADD(s, KH_SIZE, 4096, sp), -EINVAL);
	cr_assert_eq(ADD(s, KH_SIZE - 4096, 8192, sp), -EINVAL);
	cr_assert_eq(ADD(s, 0x1000, ~0xFFFULL, sp), -EINVAL);
	cr_assert_eq(ADD(s, 0, 4096, 8), -EFAULT);
	cr_assert_eq(a.count, 0);
	/* The last page of ELRANGE is fine. */
	cr_assert_eq(ADD(s, KH_SIZE - 4096, 4096, sp), 0);
#undef ADD
}

Test(ioctl, add_secinfo_validation_einval)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	uint64_t bad[] = {
	    SGX_SECINFO_PT(SGX_PT_SECS) | SGX_SECINFO_R,
	    SGX_SECINFO_PT(SGX_PT_VA),
	    SGX_SECINFO_PT(SGX_PT_TRIM),
	    SI_REG(SGX_SECINFO_W),
	    SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_R,
	    SI_REG(SGX_SECINFO_R | SGX_SECINFO_PENDING),
	    SI_REG(SGX_SECINFO_R | SGX_SECINFO_PR),
	    SI_REG(SGX_SECINFO_R) | (1ULL << 16),
	};
	uint64_t used = frames_used();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(kh_add(&h, 0, 4096, bad[i], NULL, 0, NULL), -EINVAL, "flags %#llx",
			     (unsigned long long)bad[i]);
	/* Non-zero reserved bytes. */
	static uint8_t src[4096] __attribute__((aligned(4096)));
	struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R)};
	si.reserved[10] = 1;
	struct sgx_enclave_add_pages a = {
	    .src = (uint64_t)(uintptr_t)src, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&si};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_ADD_PAGES, &a), -EINVAL);
	cr_assert_eq(frames_used(), used);
}

Test(ioctl, add_existing_page_ebusy_with_partial_count)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	cr_assert_eq(kh_add(&h, 0x2000, 4096, SI_REG(SGX_SECINFO_R), NULL, 0, NULL), 0);
	uint64_t used = frames_used(), count = 0;
	cr_assert_eq(kh_add(&h, 0, 0x3000, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), NULL, 0, &count), -EBUSY);
	cr_assert_eq(count, 0x2000);
	cr_assert_eq(frames_used(), used + 2);
	/* The page that was there is untouched. */
	struct hw_epcm_view v = kh_epcm(&h, 0x2000);
	cr_assert(v.valid && v.r && !v.w);
}

Test(ioctl, add_unmapped_source_efault_with_partial_count)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	uint8_t *src = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(src, MAP_FAILED);
	memset(src, 0x11, 4096);
	munmap(src + 4096, 4096);
	struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R)};
	struct sgx_enclave_add_pages a = {
	    .src = (uint64_t)(uintptr_t)src, .length = 8192, .secinfo = (uint64_t)(uintptr_t)&si};
	uint64_t used = frames_used();
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_ADD_PAGES, &a), -EFAULT);
	cr_assert_eq(a.count, 4096);
	cr_assert_eq(frames_used(), used + 1);
	cr_assert_not(kh_epcm(&h, 0x1000).valid);
	munmap(src, 4096);
}

Test(ioctl, add_eadd_fault_eio)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	/* A TCS with a non-zero reserved byte: EADD #GP. */
	static uint8_t page[4096];
	((struct sgx_tcs *)page)->reserved[100] = 1;
	uint64_t used = frames_used(), count = 9;
	cr_assert_eq(kh_add(&h, 0, 4096, SGX_SECINFO_PT(SGX_PT_TCS), page, 0, &count), -EIO);
	cr_assert_eq(count, 0);
	cr_assert_eq(frames_used(), used);
	cr_assert_not(kh_epcm(&h, 0).valid);
	/* The address is free again. */
	cr_assert_eq(kh_add(&h, 0, 4096, SI_REG(SGX_SECINFO_R), NULL, 0, NULL), 0);
}

Test(ioctl, add_source_on_noexec_device_mapping_eacces)
{
	kh_teardown(&h);
	struct sgxk_config c;
	kh_config(&c);
	c.noexec_dev = true;
	kh_setup(&h, &c);
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	/* A mapping of the device outside ELRANGE (allowed before INIT) as the source. */
	long src = sgx_file_mmap(h.f, KH_BASE + 2 * KH_SIZE, 4096, PROT_READ, MAP_SHARED | MAP_FIXED, 0);
	cr_assert_eq(src, (long)(KH_BASE + 2 * KH_SIZE));
	struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R)};
	struct sgx_enclave_add_pages a = {.src = (uint64_t)src, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&si};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_ADD_PAGES, &a), -EACCES);
	cr_assert_eq(a.count, 0);
}

/* ---- INIT ---- */

Test(ioctl, init_sets_lehash_and_initializes)
{
	kh_build(&h, KH_SIZE, false);
	static struct sgx_sigstruct sig;
	kh_sign(&h, &sig);
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&sig};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), 0);
	struct hw_secs_view v;
	cr_assert(hw_secs_get(h.m, sgx_file_secs_pa(h.f), &v));
	cr_assert(v.initialized);
	uint8_t signer[32];
	sigstruct_mrsigner(&sig, signer);
	cr_assert_eq(memcmp(v.secs.mrsigner, signer, 32), 0);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t want;
		memcpy(&want, signer + 8 * i, 8);
		cr_assert_eq(hw_rdmsr_lehash(h.m, i), want);
	}
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EINVAL);
}

Test(ioctl, init_before_create_einval)
{
	static struct sgx_sigstruct sig;
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&sig};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EINVAL);
}

Test(ioctl, init_bad_pointers_efault)
{
	kh_build(&h, KH_SIZE, false);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, (void *)8), -EFAULT);
	struct sgx_enclave_init in = {.sigstruct = 8};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EFAULT);
}

Test(ioctl, init_vendor_einval)
{
	kh_build(&h, KH_SIZE, false);
	static struct sgx_sigstruct sig;
	kh_sign(&h, &sig);
	sig.vendor = 0x1234;
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&sig};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EINVAL);
}

Test(ioctl, init_sigstruct_reserved_bits_einval)
{
	kh_build(&h, KH_SIZE, false);
	static struct sgx_sigstruct sig, s;
	kh_sign(&h, &sig);
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&s};
	s = sig;
	s.attributes |= 1ULL << 3;
	s.attributes_mask |= 1ULL << 3;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EINVAL);
	s = sig;
	s.miscselect |= 2;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EINVAL);
	s = sig;
	s.xfrm |= 1ULL << 9; /* not offered by CPUID */
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EINVAL);
	/* A reserved bit outside the signer's mask is ignored by the driver (EINIT judges). */
	s = sig;
	s.attributes_mask &= ~(1ULL << 3);
	s.attributes |= 1ULL << 3;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EPERM);
}

Test(ioctl, init_einit_error_code_eperm_and_retry_works)
{
	kh_build(&h, KH_SIZE, false);
	static struct sgx_sigstruct sig;
	kh_sign(&h, &sig);
	struct sgx_sigstruct bad = sig;
	bad.signature[5] ^= 1;
	static struct sgx_sigstruct s;
	s = bad;
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&s};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EPERM);
	/* A wrong ENCLAVEHASH, correctly signed: SGX_INVALID_MEASUREMENT -> EPERM. */
	s = sig;
	s.enclave_hash[0] ^= 1;
	kh_resign(&s);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EPERM);
	struct hw_secs_view v;
	cr_assert(hw_secs_get(h.m, sgx_file_secs_pa(h.f), &v));
	cr_assert_not(v.initialized);
	s = sig;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), 0);
}

Test(ioctl, init_provisionkey_needs_provision_ioctl)
{
	static struct sgx_secs secs __attribute__((aligned(4096)));
	kh_secs(&secs, KH_BASE, KH_SIZE);
	secs.attributes |= SGX_ATTR_PROVISIONKEY;
	struct sgx_enclave_create c = {.src = (uint64_t)(uintptr_t)&secs};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_CREATE, &c), 0);
	cr_assert_eq(kh_add(&h, 0, 4096, SI_REG(SGX_SECINFO_R), NULL, 0, NULL), 0);
	static struct sgx_sigstruct sig;
	kh_sign(&h, &sig);
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&sig};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EACCES);

	struct sgx_file *p;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_PROVISION, &p), 0);
	struct sgx_enclave_provision pr = {.fd = (uint64_t)sgx_file_fd(h.f)};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_PROVISION, &pr), -EINVAL); /* not a provision fd */
	pr.fd = (uint64_t)-1;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_PROVISION, &pr), -EINVAL);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_PROVISION, (void *)8), -EFAULT);
	pr.fd = (uint64_t)sgx_file_fd(p);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_PROVISION, &pr), 0);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), 0);
	sgx_file_close(p);
}
