/* SPDX-License-Identifier: MIT */
/*
 * Signed, initialised enclaves for the EINIT, EREPORT and EGETKEY tests.
 *
 * The signing key (RSA-3072, e=3) is generated once per test binary: a
 * Criterion PRE_ALL hook makes it in the runner before any test process
 * starts and hands it to them as PEM in the environment (test processes are
 * fresh executions, so a static would be regenerated in every test).
 * Include this header from exactly one source file of a test binary.
 */
#ifndef SGXEMU_TEST_SIGNED_ENCLAVE_H
#define SGXEMU_TEST_SIGNED_ENCLAVE_H

#include <criterion/hooks.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "harness.h"
#include "internal.h"
#include "sigstruct.h"

#define SE_KEY_ENV "SGXEMU_TEST_SIGNING_KEY"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (getenv(SE_KEY_ENV))
		return;
	struct crypto_rsa *k = crypto_rsa_generate();
	char *pem = k ? crypto_rsa_to_pem(k) : NULL;
	if (pem)
		setenv(SE_KEY_ENV, pem, 1);
	free(pem);
	crypto_rsa_free(k);
}

/* The binary's signing key (from the environment; generated here only if the hook could not). */
static inline struct crypto_rsa *se_key(void)
{
	static struct crypto_rsa *k;
	if (!k) {
		const char *pem = getenv(SE_KEY_ENV);
		char err[128] = "";
		k = pem ? crypto_rsa_from_pem(pem, strlen(pem), err, sizeof(err)) : crypto_rsa_generate();
		cr_assert(k, "signing key: %s", err);
	}
	return k;
}

/* Enclave layout (offsets in a 64 KiB ELRANGE). */
#define SE_SIZE	    0x10000ULL
#define SE_DATA	    0x0000ULL	/* REG RW, measured, mapped RW: operands live here */
#define SE_RO	    0x1000ULL	/* REG R, measured, mapped R */
#define SE_TCS	    0x2000ULL	/* TCS, mapped RW (EPCM forbids every enclave access) */
#define SE_SEED	    0x3000ULL	/* REG RW, content from opts.seed, measured */
#define SE_UNMAPPED 0x4000ULL	/* REG RW, added but absent from the page table (no identity fallback) */
#define SE_NOPAGE   0x5000ULL	/* never added, mapped to its (invalid) EPC frame */
#define SE_SSA	    0x8000ULL	/* REG RW: the TCS's one SSA frame */
#define SE_AEP	    0x401000ULL /* AEP given at EENTER, EEXIT target */

struct se_opts {
	uint64_t base;	     /* 0: 0x7f0000000000 */
	uint64_t attributes; /* 0: th_secs_default's (DEBUG | MODE64BIT) */
	uint8_t seed;	     /* content of the SE_SEED page: changes MRENCLAVE */
	uint16_t isv_prod_id, isv_svn;
	uint8_t isv_family_id[16], isv_ext_prod_id[16];
	uint8_t config_id[64];
	uint16_t config_svn;
	const struct crypto_rsa *key; /* NULL: se_key() */
};

struct se {
	struct th th;		  /* machine shared with other enclaves; th.secs as created */
	struct sgx_sigstruct sig; /* the SIGSTRUCT it was initialised with */
	uint8_t mrenclave[32], mrsigner[32];
};

/* Set IA32_SGXLEPUBKEYHASH to a digest (what Linux does before every EINIT). */
static inline void se_set_lehash(struct hw_machine *m, const uint8_t h[32])
{
	for (unsigned i = 0; i < 4; i++) {
		uint64_t v = 0;
		for (unsigned j = 0; j < 8; j++)
			v |= (uint64_t)h[8 * i + j] << (8 * j);
		cr_assert(hw_wrmsr_lehash(m, i, v));
	}
}

/* ECREATE, add and measure the pages, map them in th.pt; no EINIT. */
static inline void se_create(struct se *e, struct hw_machine *m, const struct se_opts *o)
{
	memset(e, 0, sizeof(*e));
	e->th.m = m;
	cr_assert_eq(pagetable_init(&e->th.pt, false), 0);
	e->th.base = o->base ? o->base : 0x7f0000000000ULL;
	e->th.size = SE_SIZE;
	th_secs_default(&e->th.secs, e->th.base, e->th.size);
	if (o->attributes)
		e->th.secs.attributes = o->attributes;
	memcpy(e->th.secs.config_id, o->config_id, 64);
	e->th.secs.config_svn = o->config_svn;
	th_assert_ok(th_ecreate(&e->th));

	uint8_t page[4096];
	memset(page, 0xA5, sizeof(page));
	th_assert_ok(th_eadd(&e->th, SE_DATA, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W, page));
	th_assert_ok(th_eextend_page(&e->th, SE_DATA));
	th_assert_ok(th_eadd(&e->th, SE_RO, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R, page));
	th_assert_ok(th_eextend_page(&e->th, SE_RO));
	struct sgx_tcs *tcs = (struct sgx_tcs *)page;
	memset(page, 0, sizeof(page));
	tcs->ossa = SE_SSA;
	tcs->nssa = 1;
	tcs->oentry = SE_DATA;
	th_assert_ok(th_eadd(&e->th, SE_TCS, SGX_SECINFO_PT(SGX_PT_TCS), page));
	memset(page, o->seed, sizeof(page));
	th_assert_ok(th_eadd(&e->th, SE_SEED, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W, page));
	th_assert_ok(th_eextend_page(&e->th, SE_SEED));
	th_assert_ok(th_eadd(&e->th, SE_UNMAPPED, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W, NULL));
	th_assert_ok(th_eadd(&e->th, SE_SSA, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W, NULL));

	th_map(&e->th, SE_DATA, HW_ACC_R | HW_ACC_W);
	th_map(&e->th, SE_RO, HW_ACC_R);
	th_map(&e->th, SE_TCS, HW_ACC_R | HW_ACC_W);
	th_map(&e->th, SE_SEED, HW_ACC_R | HW_ACC_W);
	th_map(&e->th, SE_NOPAGE, HW_ACC_R | HW_ACC_W);
	th_map(&e->th, SE_SSA, HW_ACC_R | HW_ACC_W);
}

/* A SIGSTRUCT for e as it is now: ENCLAVEHASH = MRENCLAVE, DEBUG/MODE64BIT/XFRM/MISCSELECT pinned. */
static inline void se_sign(struct se *e, const struct se_opts *o)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(e->th.m, e->th.secs_pa, &v));
	struct sgx_sigstruct *s = &e->sig;
	sigstruct_init(s, 0x20240131);
	s->miscselect = v.secs.miscselect;
	s->miscmask = ~0U;
	s->attributes = v.secs.attributes;
	s->attributes_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT;
	s->xfrm = v.secs.xfrm;
	s->xfrm_mask = ~0ULL;
	memcpy(s->enclave_hash, v.mrenclave_now, 32);
	s->isv_prod_id = o->isv_prod_id;
	s->isv_svn = o->isv_svn;
	memcpy(s->isv_family_id, o->isv_family_id, 16);
	memcpy(s->isv_ext_prod_id, o->isv_ext_prod_id, 16);
	cr_assert(sigstruct_sign(s, o->key ? o->key : se_key()));
	memcpy(e->mrenclave, v.mrenclave_now, 32);
	sigstruct_mrsigner(s, e->mrsigner);
}

/* EINIT of e with its SIGSTRUCT and an EINITTOKEN (NULL: VALID=0). */
static inline struct hw_result se_einit(struct se *e, const struct sgx_einittoken *token)
{
	static struct sgx_sigstruct sig __attribute__((aligned(4096)));
	static struct sgx_einittoken tok __attribute__((aligned(512)));
	sig = e->sig;
	if (token)
		tok = *token;
	else
		memset(&tok, 0, sizeof(tok));
	return encls_einit(e->th.m, NULL, (uint64_t)(uintptr_t)&sig, e->th.secs_pa, (uint64_t)(uintptr_t)&tok);
}

/* Create, sign, allow the signer as launch signer (as Linux does), EINIT; asserts success. */
static inline void se_build(struct se *e, struct hw_machine *m, const struct se_opts *o)
{
	se_create(e, m, o);
	se_sign(e, o);
	se_set_lehash(m, e->mrsigner);
	th_assert_ok(se_einit(e, NULL));
}

/* Linear address of enclave offset off. */
static inline uint64_t se_lin(const struct se *e, uint64_t off)
{
	return e->th.base + off;
}

/* Host pointer to the EPC bytes at enclave offset off (physical access, for setting up operands). */
static inline void *se_ptr(const struct se *e, uint64_t off)
{
	return (void *)(uintptr_t)th_pa(&e->th, off);
}

/* ENCLU[leaf] on t with RBX/RCX/RDX, through the instruction's decoder. */
static inline struct hw_result se_enclu(struct hw_thread *t, uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	t->regs.rax = leaf;
	t->regs.rbx = rbx;
	t->regs.rcx = rcx;
	t->regs.rdx = rdx;
	return hw_enclu(t);
}

/* A new thread t enters enclave e through its TCS (EENTER). */
static inline void se_enter(struct se *e, struct hw_thread *t)
{
	cr_assert_eq(hw_thread_init(t, e->th.m, &e->th.pt.mmu), 0);
	th_assert_ok(se_enclu(t, ENCLU_EENTER, se_lin(e, SE_TCS), SE_AEP, 0));
	cr_assert(t->in_enclave && t->secs_pa == e->th.secs_pa);
}

/* Thread t leaves with EEXIT and is released. */
static inline void se_leave(struct hw_thread *t)
{
	th_assert_ok(se_enclu(t, ENCLU_EEXIT, SE_AEP, 0, 0));
	cr_assert(!t->in_enclave);
	hw_thread_fini(t);
}

#endif
