/* SPDX-License-Identifier: MIT */
/*
 * EINIT (spec/leaves.md EINIT, spec/measurement.md §3-§4): check the
 * SIGSTRUCT and the launch permission (IA32_SGXLEPUBKEYHASH or an
 * EINITTOKEN), then freeze the enclave's identity.  Decisions on the points
 * the SDM leaves open are in docs/hw-init.md.
 */
#include "internal.h"

static const uint8_t sig_header[16] = SGX_SIGSTRUCT_HEADER;
static const uint8_t sig_header2[16] = SGX_SIGSTRUCT_HEADER2;

/* Compare without an early exit (a MAC check must not tell how many bytes matched). */
static bool equal_ct(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* Step 2: constant fields, VENDOR, EXPONENT and every reserved byte (HEADER on all 16 bytes). */
static bool sig_fields_ok(const struct sgx_sigstruct *s)
{
	if (memcmp(s->header, sig_header, sizeof(sig_header)) || memcmp(s->header2, sig_header2, sizeof(sig_header2)))
		return false;
	if (s->vendor != 0 && s->vendor != SGX_SIGSTRUCT_VENDOR_INTEL)
		return false;
	if (s->exponent != 3)
		return false;
	return hw_all_zero(s->reserved1, sizeof(s->reserved1)) && hw_all_zero(s->reserved2, sizeof(s->reserved2)) &&
	       hw_all_zero(s->reserved3, sizeof(s->reserved3)) && hw_all_zero(s->reserved4, sizeof(s->reserved4));
}

/* Step 4: RSA-3072 e=3 PKCS#1 v1.5 over bytes 0..127 and 900..1027, with the Q1/Q2 helpers checked. */
static bool sig_verify(const struct sgx_sigstruct *s)
{
	const size_t body = offsetof(struct sgx_sigstruct, miscselect);
	const size_t body_len = offsetof(struct sgx_sigstruct, reserved4) - body;
	uint8_t msg[256], hash[32];
	_Static_assert(offsetof(struct sgx_sigstruct, reserved4) - offsetof(struct sgx_sigstruct, miscselect) == 128,
		       "signed body of SIGSTRUCT is 128 bytes");
	memcpy(msg, s, 128);
	memcpy(msg + 128, (const uint8_t *)s + body, body_len);
	crypto_sha256(msg, sizeof(msg), hash);
	return crypto_rsa3072_e3_verify(s->modulus, s->signature, s->q1, s->q2, hash);
}

static bool token_reserved_ok(const struct sgx_einittoken *tk)
{
	return !(tk->valid & ~1U) && hw_all_zero(tk->reserved1, sizeof(tk->reserved1)) &&
	       hw_all_zero(tk->reserved2, sizeof(tk->reserved2)) && hw_all_zero(tk->reserved3, sizeof(tk->reserved3)) &&
	       hw_all_zero(tk->reserved4, sizeof(tk->reserved4));
}

/* Step 10 with EINITTOKEN.VALID=1: the launch enclave's permission, MACed with the launch key. */
static struct hw_result token_check(struct hw_machine *m, const struct sgx_einittoken *tk, const struct sgx_secs *secs,
				    const uint8_t mrenclave[32], const uint8_t mrsigner[32], const uint8_t lehash[32])
{
	/* A debug launch enclave cannot launch a production enclave. */
	if ((tk->masked_attributes_le & SGX_ATTR_DEBUG) && !(secs->attributes & SGX_ATTR_DEBUG))
		return hw_code(SGX_INVALID_EINITTOKEN);
	if (!token_reserved_ok(tk))
		return hw_code(SGX_INVALID_EINITTOKEN);
	if (!keys_cpusvn_ok(m, tk->cpusvn_le))
		return hw_code(SGX_INVALID_CPUSVN);

	struct keys_launch l = {.isv_prod_id = tk->isv_prod_id_le,
				.isv_svn = tk->isv_svn_le,
				.attributes = tk->masked_attributes_le,
				.xfrm = tk->masked_xfrm_le,
				.miscselect = tk->masked_miscselect_le};
	memcpy(l.mrsigner, lehash, 32);
	memcpy(l.keyid, tk->keyid, 32);
	memcpy(l.cpusvn, tk->cpusvn_le, 16);
	uint8_t key[16], mac[16];
	keys_einittoken(m, &l, key);
	crypto_aes_cmac(key, tk, offsetof(struct sgx_einittoken, cpusvn_le), mac);
	if (!equal_ct(mac, tk->mac, sizeof(mac)))
		return hw_code(SGX_INVALID_EINITTOKEN);

	if (memcmp(tk->mrenclave, mrenclave, 32) || memcmp(tk->mrsigner, mrsigner, 32))
		return hw_code(SGX_INVALID_MEASUREMENT);
	if (tk->attributes != secs->attributes || tk->xfrm != secs->xfrm)
		return hw_code(SGX_INVALID_ATTRIBUTE);
	return hw_ok();
}

static struct hw_result einit_locked(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t rbx, uint64_t rcx,
				     uint64_t rdx)
{
	struct hw_result f;
	/* 1. Alignment; the SECS must be EPC; copy SIGSTRUCT and EINITTOKEN. */
	if (!HW_ALIGNED(rbx, SGX_PAGE_SIZE) || !HW_ALIGNED(rcx, SGX_PAGE_SIZE))
		return hw_gp();
	if (!HW_ALIGNED(rdx, 512))
		return hw_gp();
	if (!hw_is_epc(m, rcx))
		return hw_pf_epcm(rcx, HW_ACC_W);
	struct sgx_sigstruct sig;
	struct sgx_einittoken tok;
	if (!hw_read_mem(m, mmu, rbx, &sig, sizeof(sig), 0, &f))
		return f;
	if (!hw_read_mem(m, mmu, rdx, &tok, sizeof(tok), 0, &f))
		return f;

	/* 2. The SIGSTRUCT's fixed fields. */
	if (!sig_fields_ok(&sig))
		return hw_code(SGX_INVALID_SIG_STRUCT);

	/* 3. No interrupt can become pending inside a leaf here: SGX_UNMASKED_EVENT is never reported. */

	/* 4. The signature. */
	if (!sig_verify(&sig))
		return hw_code(SGX_INVALID_SIGNATURE);

	/* 5. The SECS (leaves are serialised: never busy). */
	struct epcm_entry *e = epcm_peek(m, rcx);
	if (!e || !e->valid || e->pt != SGX_PT_SECS)
		return hw_pf_epcm(rcx, HW_ACC_W);
	struct sgx_secs *secs = secs_of(m, rcx);
	struct secs_priv *p = secs_priv_of(m, rcx);

	/* 6. KSS identities need KSS; an enclave is initialised once. */
	if (!(secs->attributes & SGX_ATTR_KSS) && (!hw_all_zero(sig.isv_family_id, sizeof(sig.isv_family_id)) ||
						   !hw_all_zero(sig.isv_ext_prod_id, sizeof(sig.isv_ext_prod_id))))
		return hw_code(SGX_INVALID_SIG_STRUCT);
	if (secs->attributes & SGX_ATTR_INIT)
		return hw_gp();

	/* 7. The measurement the signer expected. */
	uint8_t mrenclave[32];
	crypto_sha256_peek(p->mr, mrenclave);
	if (memcmp(mrenclave, sig.enclave_hash, 32))
		return hw_code(SGX_INVALID_MEASUREMENT);

	/* 8. Only the launch-enclave signer may have the launch key. */
	uint8_t mrsigner[32], lehash[32];
	crypto_sha256(sig.modulus, sizeof(sig.modulus), mrsigner);
	keys_lehash(m, lehash);
	bool signer_is_le = memcmp(mrsigner, lehash, 32) == 0;
	if ((secs->attributes & SGX_ATTR_EINITTOKENKEY) && !signer_is_le)
		return hw_code(SGX_INVALID_ATTRIBUTE);

	/* 9. The attributes and MISCSELECT the signer pinned. */
	if ((secs->attributes & sig.attributes_mask) != (sig.attributes & sig.attributes_mask) ||
	    (secs->xfrm & sig.xfrm_mask) != (sig.xfrm & sig.xfrm_mask))
		return hw_code(SGX_INVALID_ATTRIBUTE);
	if ((secs->miscselect & sig.miscmask) != (sig.miscselect & sig.miscmask))
		return hw_code(SGX_INVALID_ATTRIBUTE);

	/* 10. Launch permission: the LE's own key, or a token the LE MACed. */
	if (!(tok.valid & 1)) {
		if (!signer_is_le)
			return hw_code(SGX_INVALID_EINITTOKEN);
	} else {
		struct hw_result r = token_check(m, &tok, secs, mrenclave, mrsigner, lehash);
		if (!hw_is_ok(r))
			return r;
	}

	/* 11. Commit the identity. */
	crypto_sha256_final(p->mr, secs->mrenclave);
	memcpy(secs->mrsigner, mrsigner, 32);
	secs->isv_prod_id = sig.isv_prod_id;
	secs->isv_svn = sig.isv_svn;
	memcpy(p->isv_family_id, sig.isv_family_id, 16);
	memcpy(p->isv_ext_prod_id, sig.isv_ext_prod_id, 16);
	secs->attributes |= SGX_ATTR_INIT;
	return hw_ok();
}

struct hw_result encls_einit(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t sigstruct, uint64_t secs,
			     uint64_t token)
{
	uint64_t t0 = hw_obs_begin();
	hw_mutex_lock(&m->lock);
	struct hw_result r = einit_locked(m, mmu, sigstruct, secs, token);
	hw_mutex_unlock(&m->lock);
	hw_obs_encls(t0, m, mmu, ENCLS_EINIT, sigstruct, secs, token, r);
	return r;
}
