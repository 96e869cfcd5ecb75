/* SPDX-License-Identifier: MIT */
#include "kharness.h"

#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sigstruct.h"

#define KH_KEY_ENV "SGXEMU_TEST_KERNEL_SIGNING_KEY"
#define KH_AEP	   0x400000ULL
#define KH_RIP	   0x401000ULL

/* One signing key per test binary: made in the runner, handed to the test processes as PEM. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (getenv(KH_KEY_ENV))
		return;
	struct crypto_rsa *k = crypto_rsa_generate();
	char *pem = k ? crypto_rsa_to_pem(k) : NULL;
	if (pem)
		setenv(KH_KEY_ENV, pem, 1);
	free(pem);
	crypto_rsa_free(k);
}

static struct crypto_rsa *kh_key(void)
{
	static struct crypto_rsa *k;
	if (!k) {
		const char *pem = getenv(KH_KEY_ENV);
		char err[128] = "";
		k = pem ? crypto_rsa_from_pem(pem, strlen(pem), err, sizeof(err)) : crypto_rsa_generate();
		cr_assert(k, "signing key: %s", err);
	}
	return k;
}

void kh_config(struct sgxk_config *c)
{
	sgxk_config_default(c);
	c->hw.epc_size = 1 << 20;
	c->hw.space_size = 1ULL << 36;
	c->hw.root_secret_set = true;
	memset(c->hw.root_secret, 0x5A, sizeof(c->hw.root_secret));
}

void kh_setup(struct kh *h, const struct sgxk_config *c)
{
	struct sgxk_config def;
	if (!c) {
		kh_config(&def);
		c = &def;
	}
	memset(h, 0, sizeof(*h));
	char err[128] = "";
	cr_assert_eq(sgxk_create(c, &h->k, err, sizeof(err)), 0, "sgxk_create: %s", err);
	h->m = sgxk_machine(h->k);
	cr_assert_eq(sgxk_open(h->k, SGX_DEV_ENCLAVE, &h->f), 0);
	h->base = KH_BASE;
	h->size = KH_SIZE;
}

void kh_teardown(struct kh *h)
{
	sgxk_destroy(h->k);
	h->k = NULL;
}

long kh_ioctl(struct kh *h, unsigned long cmd, void *arg)
{
	return sgx_file_ioctl(h->f, cmd, (unsigned long)(uintptr_t)arg);
}

void kh_secs(struct sgx_secs *s, uint64_t base, uint64_t size)
{
	memset(s, 0, sizeof(*s));
	s->size = size;
	s->base = base;
	s->ssa_frame_size = 1;
	s->miscselect = SGX_MISC_EXINFO;
	s->attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG;
	s->xfrm = 3;
}

long kh_create(struct kh *h, uint64_t base, uint64_t size)
{
	static struct sgx_secs secs __attribute__((aligned(4096)));
	kh_secs(&secs, base, size);
	h->base = base;
	h->size = size;
	struct sgx_enclave_create c = {.src = (uint64_t)(uintptr_t)&secs};
	return kh_ioctl(h, SGX_IOC_ENCLAVE_CREATE, &c);
}

long kh_add(struct kh *h, uint64_t offset, uint64_t length, uint64_t secinfo_flags, const void *content, uint64_t flags,
	    uint64_t *count)
{
	void *src = aligned_alloc(4096, length);
	cr_assert(src);
	if (content)
		memcpy(src, content, length);
	else
		memset(src, 0, length);
	struct sgx_secinfo si = {.flags = secinfo_flags};
	struct sgx_enclave_add_pages a = {.src = (uint64_t)(uintptr_t)src,
					  .offset = offset,
					  .length = length,
					  .secinfo = (uint64_t)(uintptr_t)&si,
					  .flags = flags};
	long r = kh_ioctl(h, SGX_IOC_ENCLAVE_ADD_PAGES, &a);
	if (count)
		*count = a.count;
	free(src);
	return r;
}

void kh_sign(struct kh *h, struct sgx_sigstruct *s)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(h->m, sgx_file_secs_pa(h->f), &v));
	sigstruct_init(s, 0x20240131);
	s->miscselect = v.secs.miscselect;
	s->miscmask = ~0U;
	s->attributes = v.secs.attributes;
	s->attributes_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT;
	s->xfrm = v.secs.xfrm;
	s->xfrm_mask = ~0ULL;
	memcpy(s->enclave_hash, v.mrenclave_now, 32);
	cr_assert(sigstruct_sign(s, kh_key()));
}

void kh_resign(struct sgx_sigstruct *s)
{
	cr_assert(sigstruct_sign(s, kh_key()));
}

void kh_mrsigner(uint8_t out[32])
{
	uint8_t n[384];
	crypto_rsa_modulus_le(kh_key(), n);
	crypto_sha256(n, sizeof(n), out);
}

long kh_init(struct kh *h)
{
	static struct sgx_sigstruct sig;
	kh_sign(h, &sig);
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&sig};
	return kh_ioctl(h, SGX_IOC_ENCLAVE_INIT, &in);
}

long kh_mmap(struct kh *h, uint64_t off, uint64_t len, int prot)
{
	return sgx_file_mmap(h->f, h->base + off, len, prot, MAP_SHARED | MAP_FIXED, 0);
}

void kh_build(struct kh *h, uint64_t size, bool init)
{
	cr_assert_eq(kh_create(h, KH_BASE, size), 0);
	static uint8_t page[4096];
	struct sgx_tcs *tcs = (struct sgx_tcs *)page;
	memset(page, 0, sizeof(page));
	tcs->ossa = KH_SSA;
	tcs->nssa = 2;
	tcs->oentry = KH_CODE;
	cr_assert_eq(kh_add(h, KH_TCS, 4096, SGX_SECINFO_PT(SGX_PT_TCS), page, SGX_PAGE_MEASURE, NULL), 0);
	cr_assert_eq(kh_add(h, KH_SSA, 8192, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), NULL, SGX_PAGE_MEASURE, NULL), 0);
	memset(page, 0xC3, sizeof(page));
	cr_assert_eq(kh_add(h, KH_CODE, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_X), page, SGX_PAGE_MEASURE, NULL), 0);
	memset(page, 0, sizeof(page));
	uint64_t si[][2] = {
	    {KH_SI_PENDING_RW, SI_REG(SGX_SECINFO_PENDING | SGX_SECINFO_R | SGX_SECINFO_W)},
	    {KH_SI_RX, SI_REG(SGX_SECINFO_R | SGX_SECINFO_X)},
	    {KH_SI_TCS, SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_MODIFIED},
	    {KH_SI_TRIM, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED},
	    {KH_SI_PR_R, SI_REG(SGX_SECINFO_PR | SGX_SECINFO_R)},
	    {KH_SI_X, SGX_SECINFO_X},
	    {KH_SI_PR_RW, SI_REG(SGX_SECINFO_PR | SGX_SECINFO_R | SGX_SECINFO_W)},
	};
	for (size_t i = 0; i < sizeof(si) / sizeof(si[0]); i++)
		memcpy(page + si[i][0], &si[i][1], 8);
	cr_assert_eq(kh_add(h, KH_SI, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), page, SGX_PAGE_MEASURE, NULL), 0);
	memset(page, 0x5A, sizeof(page));
	cr_assert_eq(kh_add(h, KH_DATA, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), page, SGX_PAGE_MEASURE, NULL), 0);
	if (init)
		cr_assert_eq(kh_init(h), 0);
	cr_assert_eq(kh_mmap(h, 0, KH_CODE, PROT_READ | PROT_WRITE), (long)h->base);
	cr_assert_eq(kh_mmap(h, KH_CODE, 4096, PROT_READ | PROT_EXEC), (long)(h->base + KH_CODE));
	cr_assert_eq(kh_mmap(h, KH_SI, size - KH_SI, PROT_READ | PROT_WRITE), (long)(h->base + KH_SI));
}

struct hw_epcm_view kh_epcm(struct kh *h, uint64_t off)
{
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(h->m, sgx_file_frame(h->f, h->base + off), &v));
	return v;
}

void *kh_frame(struct kh *h, uint64_t off)
{
	return (void *)(uintptr_t)sgx_file_frame(h->f, h->base + off);
}

uint64_t kh_frames_with_memory(struct kh *h, uint64_t off, unsigned n)
{
	unsigned char vec[64];
	cr_assert_leq(n, sizeof(vec));
	uint64_t pa = sgx_file_frame(h->f, h->base + off);
	void *v = mmap(NULL, n * 4096UL, PROT_READ, MAP_SHARED, hw_epc_fd(h->m), (off_t)hw_epc_offset(h->m, pa));
	cr_assert_neq(v, MAP_FAILED);
	cr_assert_eq(mincore(v, n * 4096UL, vec), 0);
	munmap(v, n * 4096UL);
	uint64_t bits = 0;
	for (unsigned i = 0; i < n; i++)
		bits |= (uint64_t)(vec[i] & 1) << i;
	return bits;
}

void kh_thread(struct kh *h, struct hw_thread *t)
{
	cr_assert_eq(hw_thread_init(t, h->m, sgxk_mmu(h->k)), 0);
	t->regs.rip = KH_RIP;
	t->regs.rsp = 0x7000;
	sgxk_thread_register(h->k, t);
}

struct hw_result kh_enclu(struct kh *h, struct hw_thread *t, uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx,
			  unsigned *faults, enum sgxk_fault *sig)
{
	if (faults)
		*faults = 0;
	if (sig)
		*sig = SGXK_FAULT_FIXED;
	for (unsigned i = 0; i < 16; i++) {
		t->regs.rax = leaf;
		t->regs.rbx = rbx;
		t->regs.rcx = rcx;
		t->regs.rdx = rdx;
		struct hw_result r = hw_enclu(t);
		if (!hw_is_fault(r, X86_PF) || (r.errcode & PF_SGX))
			return r;
		bool inside = t->in_enclave;
		if (inside) {
			struct hw_event ev = {
			    .vector = X86_PF, .has_errcode = true, .errcode = r.errcode, .addr = r.addr};
			hw_aex(t, &ev);
		}
		enum sgxk_fault f = sgxk_fault(h->k, r.addr, r.errcode);
		if (f != SGXK_FAULT_FIXED) {
			if (sig)
				*sig = f;
			return r;
		}
		if (faults)
			(*faults)++;
		if (inside)
			kh_assert_ok(kh_enclu(h, t, ENCLU_ERESUME, h->base + KH_TCS, KH_AEP, 0, NULL, NULL));
	}
	cr_assert_fail("ENCLU %llu kept faulting", (unsigned long long)leaf);
	return hw_gp();
}

void kh_enter(struct kh *h, struct hw_thread *t)
{
	t->regs.rip = KH_RIP;
	kh_assert_ok(kh_enclu(h, t, ENCLU_EENTER, h->base + KH_TCS, KH_AEP, 0, NULL, NULL));
	cr_assert(t->in_enclave);
}

void kh_exit(struct kh *h, struct hw_thread *t)
{
	kh_assert_ok(kh_enclu(h, t, ENCLU_EEXIT, KH_RIP, 0, 0, NULL, NULL));
	cr_assert(!t->in_enclave);
}

const char *kh_fmt(struct hw_result r)
{
	static char buf[4][96];
	static unsigned n;
	char *b = buf[n++ % 4];
	hw_result_format(r, b, sizeof(buf[0]));
	return b;
}
