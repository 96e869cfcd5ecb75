/* SPDX-License-Identifier: MIT */
/*
 * The ioctl ABI down to the bytes (spec/linux-driver.md §3): which bits of
 * the command are compared, which bits of PROVISION's descriptor name the
 * file, and what each ioctl copies back into the caller's struct, and when.
 */
#include <string.h>
#include <sys/mman.h>

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

TestSuite(abi, .init = setup, .fini = teardown, .timeout = 60);

/*
 * A copy of the n bytes at content across two pages: all but the last
 * `tail` bytes at the end of a read-only page, those at the start of the
 * writable page after it.
 */
static void *straddle(const void *content, size_t n, size_t tail)
{
	uint8_t *p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	uint8_t *s = p + 4096 - (n - tail);
	memcpy(s, content, n);
	cr_assert_eq(mprotect(p, 4096, PROT_READ), 0);
	return s;
}

/* A copy of the n bytes at content in a read-only page of its own. */
static void *read_only(const void *content, size_t n)
{
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	memcpy(p, content, n);
	cr_assert_eq(mprotect(p, 4096, PROT_READ), 0);
	return p;
}

/* ---- the command ---- */

Test(abi, command_upper_half_is_dropped)
{
	/* ioctl(2) takes an unsigned int: only the low 32 bits of the caller's unsigned long are the command. */
	const unsigned long hi = 1UL << 32, all = 0xFFFFFFFFUL << 32;
	static struct sgx_secs secs __attribute__((aligned(4096)));
	kh_secs(&secs, KH_BASE, KH_SIZE);
	struct sgx_enclave_create c = {.src = (uint64_t)(uintptr_t)&secs};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_CREATE | hi, &c), 0);
	cr_assert_neq(sgx_file_secs_pa(h.f), 0);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_CREATE | all, &c), -EINVAL, "created already: the driver answered");
	/* Upper bits do not make a command out of an unknown one, nor a known one in the upper half. */
	cr_assert_eq(kh_ioctl(&h, _IO(SGX_MAGIC, 0x30) | hi, NULL), -ENOTTY);
	cr_assert_eq(kh_ioctl(&h, (unsigned long)SGX_IOC_ENCLAVE_INIT << 32, NULL), -ENOTTY);
}

/* ---- PROVISION ---- */

Test(abi, provision_descriptor_is_its_low_32_bits)
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

	struct sgx_file *p;
	cr_assert_eq(sgxk_open(h.k, SGX_DEV_PROVISION, &p), 0);
	uint64_t prov = (uint64_t)sgx_file_fd(p), encl = (uint64_t)sgx_file_fd(h.f);
	/* Upper bits on the enclave's own descriptor still name no provision file. */
	struct sgx_enclave_provision pr = {.fd = encl | 1ULL << 32};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_PROVISION, &pr), -EINVAL);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), -EACCES, "PROVISIONKEY is not allowed yet");
	/* The provision descriptor with any upper half is the provision file: PROVISIONKEY becomes allowed. */
	pr.fd = prov | 0xFFFFFFFF00000000ULL;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_PROVISION, &pr), 0);
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_INIT, &in), 0);
	sgx_file_close(p);
}

/* ---- what goes back ---- */

Test(abi, add_pages_copies_the_whole_struct_back)
{
	cr_assert_eq(kh_create(&h, KH_BASE, KH_SIZE), 0);
	uint8_t *src = aligned_alloc(4096, 4096);
	cr_assert_not_null(src);
	memset(src, 0x5A, 4096);
	struct sgx_secinfo si = {.flags = SI_REG(SGX_SECINFO_R | SGX_SECINFO_W)};
	struct sgx_enclave_add_pages a = {.src = (uint64_t)(uintptr_t)src,
					  .offset = KH_DATA,
					  .length = 4096,
					  .secinfo = (uint64_t)(uintptr_t)&si,
					  .count = 0x1111};
	/* Everything but count read-only: the page is added, then the write-back of the struct fails. */
	struct sgx_enclave_add_pages *s = straddle(&a, sizeof(a), sizeof(a.count));
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_ADD_PAGES, s), -EFAULT);
	cr_assert_eq(s->count, 0x1111, "nothing is written when the struct cannot be written whole");
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.valid && v.pt == SGX_PT_REG && v.r && v.w);
	/* A writable struct gets it all back: the fields as given, count the bytes added. */
	a.offset = KH_DATA + 4096;
	struct sgx_enclave_add_pages w = a;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_ADD_PAGES, &w), 0);
	cr_assert_eq(w.count, 4096);
	w.count = a.count;
	cr_assert_arr_eq(&w, &a, sizeof(a));
	free(src);
}

Test(abi, modify_types_with_a_type_emodt_cannot_give_copies_back_first)
{
	kh_build(&h, KH_SIZE, true);
	static const uint64_t bad[] = {SGX_PT_REG, SGX_PT_SECS, SGX_PT_VA, 5};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sgx_enclave_modify_types m = {.offset = KH_DATA, .length = 4096, .page_type = bad[i]};
		/* A writable struct: EINVAL, and it comes back unchanged (nothing was done). */
		struct sgx_enclave_modify_types w = m;
		cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, &w), -EINVAL, "type %llu",
			     (unsigned long long)bad[i]);
		cr_assert_arr_eq(&w, &m, sizeof(m));
		/* A read-only one: the write-back fails first, as in Linux. */
		cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, read_only(&m, sizeof(m))), -EFAULT, "type %llu",
			     (unsigned long long)bad[i]);
	}
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.valid && v.pt == SGX_PT_REG && !v.modified);
	/* Checks before the work stay before the copy: a type above 8 bits is EINVAL on a read-only struct too. */
	struct sgx_enclave_modify_types m = {.offset = KH_DATA, .length = 4096, .page_type = 0x100 | SGX_PT_TRIM};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, read_only(&m, sizeof(m))), -EINVAL);
}
