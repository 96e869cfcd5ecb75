/* SPDX-License-Identifier: MIT */
/*
 * EINIT: every check of spec/leaves.md EINIT in the SDM's order, launch
 * control (IA32_SGXLEPUBKEYHASH and EINITTOKENs MACed by a launch enclave),
 * the bit-flip property of the SIGSTRUCT signature, and the signing side
 * (sigstruct.c, the RSA key functions of crypto.c) including
 * interoperability with a standard PKCS#1 v1.5 verifier.
 */
#include <string.h>

#include "init_keys.h"
#include "signed_enclave.h"

#define PF_SECS (PF_P | PF_W | PF_SGX)
#define ZF	(1ULL << 6)

static struct hw_machine *m;
static struct se E; /* the enclave being initialised */
static const struct se_opts E_OPTS = {.isv_prod_id = 0x1234, .isv_svn = 7};
static struct sgx_sigstruct sig __attribute__((aligned(4096)));
/* Page-aligned so it never shares a page with sig (token_unreadable_pf maps them separately). */
static struct sgx_einittoken tok __attribute__((aligned(4096)));

/* Machine, E created and measured, sig signed for it, lehash = its signer (as Linux writes it). */
static void fresh(void)
{
	m = th_machine();
	se_create(&E, m, &E_OPTS);
	se_sign(&E, &E_OPTS);
	se_set_lehash(m, E.mrsigner);
	sig = E.sig;
	memset(&tok, 0, sizeof(tok));
}

static void done(void)
{
	pagetable_fini(&E.th.pt);
	hw_machine_destroy(m);
}

static struct hw_result einit_at(uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	return encls_einit(m, NULL, rbx, rcx, rdx);
}

static struct hw_result einit(void)
{
	return einit_at((uint64_t)(uintptr_t)&sig, E.th.secs_pa, (uint64_t)(uintptr_t)&tok);
}

static void resign(void)
{
	cr_assert(sigstruct_sign(&sig, se_key()));
}

static void secs_view(struct hw_secs_view *v)
{
	cr_assert(hw_secs_get(m, E.th.secs_pa, v));
}

/* EINIT must fail with code c (ZF) and leave the SECS and its EPCM entry exactly as they were. */
static void expect_code(uint64_t c)
{
	struct hw_secs_view before, after;
	struct hw_epcm_view eb, ea;
	secs_view(&before);
	cr_assert(hw_epcm_get(m, E.th.secs_pa, &eb));
	struct hw_result r = einit();
	th_assert_code(r, c);
	cr_assert(r.zf && !r.cf);
	secs_view(&after);
	cr_assert(hw_epcm_get(m, E.th.secs_pa, &ea));
	cr_assert(!after.initialized);
	cr_assert_arr_eq(&before, &after, sizeof(before), "SECS changed by a failed EINIT");
	cr_assert(eb.valid == ea.valid && eb.pt == ea.pt && eb.r == ea.r && eb.w == ea.w && eb.x == ea.x &&
		      eb.blocked == ea.blocked && eb.pending == ea.pending && eb.modified == ea.modified &&
		      eb.pr == ea.pr && eb.enclave_address == ea.enclave_address && eb.enclave_secs == ea.enclave_secs,
		  "EPCM of the SECS changed by a failed EINIT");
}

static void expect_gp(struct hw_result r)
{
	struct hw_secs_view after;
	th_assert_gp(r);
	secs_view(&after);
	cr_assert(!after.initialized);
}

/* ---- signing: sigstruct.c and the RSA key functions ---- */

TestSuite(sigstruct, .timeout = 60);

Test(sigstruct, init_fills_constant_fields)
{
	struct sgx_sigstruct s;
	memset(&s, 0xCC, sizeof(s));
	sigstruct_init(&s, 0x20240131);
	static const uint8_t h[16] = SGX_SIGSTRUCT_HEADER, h2[16] = SGX_SIGSTRUCT_HEADER2;
	static const uint8_t hex_h[16] = {0x06, 0, 0, 0, 0xE1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
	cr_assert_arr_eq(h, hex_h, 16);
	cr_assert_arr_eq(s.header, h, 16);
	cr_assert_arr_eq(s.header2, h2, 16);
	cr_assert_eq(s.vendor, 0);
	cr_assert_eq(s.date, 0x20240131);
	cr_assert_eq(s.exponent, 3);
	cr_assert_eq(s.swdefined, 0);
	static const uint8_t zero[384];
	cr_assert_arr_eq(s.reserved1, zero, sizeof(s.reserved1));
	cr_assert_arr_eq(s.modulus, zero, 384);
	cr_assert_arr_eq(s.q2, zero, 384);
}

Test(sigstruct, signed_bytes_are_0_127_and_900_1027)
{
	struct sgx_sigstruct s;
	uint8_t *b = (uint8_t *)&s;
	for (size_t i = 0; i < sizeof(s); i++)
		b[i] = (uint8_t)(i * 7 + (i >> 8));
	uint8_t out[256];
	sigstruct_signed_bytes(&s, out);
	cr_assert_arr_eq(out, b, 128);
	cr_assert_arr_eq(out + 128, b + 900, 128);
}

Test(sigstruct, sign_fills_key_signature_and_helpers)
{
	struct sgx_sigstruct s;
	sigstruct_init(&s, 0x20240131);
	s.isv_prod_id = 3;
	cr_assert(sigstruct_sign(&s, se_key()));
	uint8_t n[384], msg[256], hash[32];
	crypto_rsa_modulus_le(se_key(), n);
	cr_assert_arr_eq(s.modulus, n, 384);
	cr_assert_eq(s.exponent, 3);
	sigstruct_signed_bytes(&s, msg);
	crypto_sha256(msg, sizeof(msg), hash);
	cr_assert(crypto_rsa3072_e3_verify(s.modulus, s.signature, s.q1, s.q2, hash));
	/* Q1 and Q2 are checked: a wrong helper fails the hardware's computation. */
	s.q1[0] ^= 1;
	cr_assert(!crypto_rsa3072_e3_verify(s.modulus, s.signature, s.q1, s.q2, hash));
	s.q1[0] ^= 1;
	s.q2[383 - 200] ^= 0x10;
	cr_assert(!crypto_rsa3072_e3_verify(s.modulus, s.signature, s.q1, s.q2, hash));
}

/* Reverse 384 bytes (SIGSTRUCT little-endian <-> PKCS#1 big-endian). */
static void reverse384(uint8_t out[384], const uint8_t in[384])
{
	for (int i = 0; i < 384; i++)
		out[i] = in[383 - i];
}

Test(sigstruct, signature_interoperates_with_standard_pkcs1_verify)
{
	struct sgx_sigstruct s;
	sigstruct_init(&s, 0x20240131);
	s.isv_svn = 9;
	memset(s.enclave_hash, 0x3C, 32);
	cr_assert(sigstruct_sign(&s, se_key()));
	uint8_t msg[256], n_be[384], sig_be[384];
	sigstruct_signed_bytes(&s, msg);
	reverse384(n_be, s.modulus);
	reverse384(sig_be, s.signature);
	cr_assert(crypto_rsa_verify_be(n_be, 3, msg, sizeof(msg), sig_be), "OpenSSL's RSASSA-PKCS1-v1_5 rejects it");
	/* The verifier really verifies: another message, exponent or byte order fails. */
	msg[200] ^= 1;
	cr_assert(!crypto_rsa_verify_be(n_be, 3, msg, sizeof(msg), sig_be));
	msg[200] ^= 1;
	cr_assert(!crypto_rsa_verify_be(n_be, 65537, msg, sizeof(msg), sig_be));
	cr_assert(!crypto_rsa_verify_be(s.modulus, 3, msg, sizeof(msg), s.signature));
}

Test(sigstruct, mrsigner_is_sha256_of_modulus)
{
	struct sgx_sigstruct s;
	sigstruct_init(&s, 0);
	cr_assert(sigstruct_sign(&s, se_key()));
	uint8_t a[32], b[32];
	sigstruct_mrsigner(&s, a);
	crypto_sha256(s.modulus, 384, b);
	cr_assert_arr_eq(a, b, 32);
}

Test(sigstruct, generated_key_is_3072_bits_with_pem_round_trip)
{
	uint8_t n[384], n2[384];
	crypto_rsa_modulus_le(se_key(), n);
	cr_assert(n[383] & 0x80, "modulus must have exactly 3072 bits");
	cr_assert(n[0] & 1, "modulus is odd");
	char *pem = crypto_rsa_to_pem(se_key());
	cr_assert(pem && strstr(pem, "-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM expected");
	char err[128];
	struct crypto_rsa *k = crypto_rsa_from_pem(pem, strlen(pem), err, sizeof(err));
	cr_assert(k, "%s", err);
	crypto_rsa_modulus_le(k, n2);
	cr_assert_arr_eq(n, n2, 384);
	crypto_rsa_free(k);
	free(pem);
}

Test(sigstruct, from_pem_accepts_fixed_key)
{
	char err[128];
	struct crypto_rsa *k = crypto_rsa_from_pem(le_key_pem, strlen(le_key_pem), err, sizeof(err));
	cr_assert(k, "%s", err);
	struct sgx_sigstruct s;
	sigstruct_init(&s, 0);
	cr_assert(sigstruct_sign(&s, k));
	uint8_t msg[256], hash[32], n[384];
	sigstruct_signed_bytes(&s, msg);
	crypto_sha256(msg, sizeof(msg), hash);
	cr_assert(crypto_rsa3072_e3_verify(s.modulus, s.signature, s.q1, s.q2, hash));
	crypto_rsa_modulus_le(se_key(), n);
	cr_assert_arr_neq(s.modulus, n, 384, "the fixed key is a second signer");
	crypto_rsa_free(k);
}

Test(sigstruct, from_pem_rejects_other_keys)
{
	char err[128] = "";
	cr_assert_null(crypto_rsa_from_pem(e65537_key_pem, strlen(e65537_key_pem), err, sizeof(err)));
	cr_assert_str_eq(err, "RSA public exponent is not 3");
	cr_assert_null(crypto_rsa_from_pem(small_key_pem, strlen(small_key_pem), err, sizeof(err)));
	cr_assert_str_eq(err, "RSA modulus is not 3072 bits");
	static const char junk[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	cr_assert_null(crypto_rsa_from_pem(junk, strlen(junk), err, sizeof(err)));
	cr_assert_str_eq(err, "no PEM private key found");
	cr_assert_null(crypto_rsa_from_pem(encrypted_key_pem, strlen(encrypted_key_pem), err, sizeof(err)));
	cr_assert_str_eq(err, "no PEM private key found");
	cr_assert_null(crypto_rsa_from_pem("", 0, err, sizeof(err)));
}

/* ---- EINIT: success and what it commits ---- */

TestSuite(einit, .init = fresh, .fini = done, .timeout = 60);

Test(einit, success_commits_identity)
{
	struct hw_secs_view before, v;
	secs_view(&before);
	cr_assert_arr_eq(before.mrenclave_now, E.mrenclave, 32);
	th_assert_ok(einit());
	secs_view(&v);
	cr_assert(v.initialized);
	cr_assert_eq(v.secs.attributes, before.secs.attributes | SGX_ATTR_INIT);
	cr_assert_eq(v.secs.xfrm, before.secs.xfrm);
	cr_assert_arr_eq(v.secs.mrenclave, E.mrenclave, 32);
	cr_assert_arr_eq(v.mrenclave_now, E.mrenclave, 32);
	uint8_t mrsigner[32];
	crypto_sha256(sig.modulus, 384, mrsigner);
	cr_assert_arr_eq(v.secs.mrsigner, mrsigner, 32);
	cr_assert_eq(v.secs.isv_prod_id, 0x1234);
	cr_assert_eq(v.secs.isv_svn, 7);
	cr_assert_eq(v.child_count, before.child_count);
	cr_assert_eq(v.eid, before.eid);
}

Test(einit, success_through_encls_sets_rax_zero)
{
	struct hw_regs regs = {.rax = ENCLS_EINIT,
			       .rbx = (uint64_t)(uintptr_t)&sig,
			       .rcx = E.th.secs_pa,
			       .rdx = (uint64_t)(uintptr_t)&tok,
			       .rflags = 0x2 | ZF};
	th_assert_ok(hw_encls(m, NULL, &regs));
	cr_assert_eq(regs.rax, 0);
	cr_assert_eq(regs.rflags & ZF, 0);
}

Test(einit, code_through_encls_sets_rax_and_zf)
{
	sig.vendor = 1;
	struct hw_regs regs = {.rax = ENCLS_EINIT,
			       .rbx = (uint64_t)(uintptr_t)&sig,
			       .rcx = E.th.secs_pa,
			       .rdx = (uint64_t)(uintptr_t)&tok,
			       .rflags = 0x2};
	th_assert_code(hw_encls(m, NULL, &regs), SGX_INVALID_SIG_STRUCT);
	cr_assert_eq(regs.rax, SGX_INVALID_SIG_STRUCT);
	cr_assert(regs.rflags & ZF);
}

Test(einit, vendor_intel_accepted)
{
	sig.vendor = SGX_SIGSTRUCT_VENDOR_INTEL;
	resign();
	th_assert_ok(einit());
}

Test(einit, eadd_after_einit_gp)
{
	th_assert_ok(einit());
	th_assert_gp(th_eadd(&E.th, 0x6000, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R, NULL));
	struct hw_epcm_view e;
	cr_assert(hw_epcm_get(m, th_pa(&E.th, 0x6000), &e));
	cr_assert(!e.valid);
}

Test(einit, eextend_after_einit_gp)
{
	th_assert_ok(einit());
	th_assert_gp(encls_eextend(m, NULL, E.th.secs_pa, th_pa(&E.th, SE_DATA)));
	struct hw_secs_view v;
	secs_view(&v);
	cr_assert_arr_eq(v.secs.mrenclave, E.mrenclave, 32);
}

Test(einit, already_initialised_gp)
{
	th_assert_ok(einit());
	struct hw_secs_view before, after;
	secs_view(&before);
	th_assert_gp(einit());
	secs_view(&after);
	cr_assert_arr_eq(&before, &after, sizeof(before));
}

Test(einit, token_needs_only_512_byte_alignment)
{
	static uint8_t buf[8192] __attribute__((aligned(4096)));
	memset(buf, 0, sizeof(buf));
	th_assert_ok(einit_at((uint64_t)(uintptr_t)&sig, E.th.secs_pa, (uint64_t)(uintptr_t)buf + 512 * 3));
}

/* ---- step 1: alignment, SECS in EPC, operand reads ---- */

Test(einit, sigstruct_misaligned_gp)
{
	expect_gp(einit_at((uint64_t)(uintptr_t)&sig + 0x200, E.th.secs_pa, (uint64_t)(uintptr_t)&tok));
}

Test(einit, secs_misaligned_gp)
{
	expect_gp(einit_at((uint64_t)(uintptr_t)&sig, E.th.secs_pa + 0x800, (uint64_t)(uintptr_t)&tok));
}

Test(einit, token_misaligned_gp)
{
	expect_gp(einit_at((uint64_t)(uintptr_t)&sig, E.th.secs_pa, (uint64_t)(uintptr_t)&tok + 256));
}

Test(einit, secs_not_epc_pf)
{
	static uint8_t host[4096] __attribute__((aligned(4096)));
	uint64_t a = (uint64_t)(uintptr_t)host;
	th_assert_pf(einit_at((uint64_t)(uintptr_t)&sig, a, (uint64_t)(uintptr_t)&tok), a, PF_SECS);
}

Test(einit, alignment_before_not_epc)
{
	static uint8_t host[4096] __attribute__((aligned(4096)));
	expect_gp(einit_at((uint64_t)(uintptr_t)&sig, (uint64_t)(uintptr_t)host, (uint64_t)(uintptr_t)&tok + 64));
}

Test(einit, sigstruct_unreadable_pf)
{
	struct pagetable empty;
	cr_assert_eq(pagetable_init(&empty, false), 0);
	uint64_t a = (uint64_t)(uintptr_t)&sig;
	th_assert_pf(encls_einit(m, &empty.mmu, a, E.th.secs_pa, (uint64_t)(uintptr_t)&tok), a, 0);
	pagetable_fini(&empty);
}

Test(einit, token_unreadable_pf)
{
	struct pagetable pt;
	cr_assert_eq(pagetable_init(&pt, false), 0);
	uint64_t a = (uint64_t)(uintptr_t)&sig, t = (uint64_t)(uintptr_t)&tok;
	cr_assert_eq(pagetable_map(&pt, a, a, HW_ACC_R), 0);
	th_assert_pf(encls_einit(m, &pt.mmu, a, E.th.secs_pa, t), t, 0);
	cr_assert_eq(pagetable_map(&pt, t, t, HW_ACC_R), 0);
	th_assert_ok(encls_einit(m, &pt.mmu, a, E.th.secs_pa, t));
	pagetable_fini(&pt);
}

Test(einit, secs_not_epc_before_reading_operands)
{
	static uint8_t host[4096] __attribute__((aligned(4096)));
	struct pagetable empty;
	cr_assert_eq(pagetable_init(&empty, false), 0);
	uint64_t a = (uint64_t)(uintptr_t)host;
	th_assert_pf(encls_einit(m, &empty.mmu, (uint64_t)(uintptr_t)&sig, a, (uint64_t)(uintptr_t)&tok), a, PF_SECS);
	pagetable_fini(&empty);
}

/* ---- step 2: SIGSTRUCT fixed fields ---- */

Test(einit, header_every_byte_sig_struct)
{
	for (int i = 0; i < 16; i++) {
		sig.header[i] ^= 0x01;
		expect_code(SGX_INVALID_SIG_STRUCT);
		sig.header[i] ^= 0x01;
	}
	/* Bytes 12..15 ("type", release flag) are compared too (docs/hw-init.md). */
	sig.header[15] |= 0x80;
	expect_code(SGX_INVALID_SIG_STRUCT);
}

Test(einit, header2_every_byte_sig_struct)
{
	for (int i = 0; i < 16; i++) {
		sig.header2[i] ^= 0x40;
		expect_code(SGX_INVALID_SIG_STRUCT);
		sig.header2[i] ^= 0x40;
	}
	th_assert_ok(einit());
}

Test(einit, vendor_other_sig_struct)
{
	static const uint32_t bad[] = {1, 0x8087, 0x80860000, 0xFFFFFFFF};
	for (unsigned i = 0; i < 4; i++) {
		sig.vendor = bad[i];
		expect_code(SGX_INVALID_SIG_STRUCT);
	}
}

Test(einit, exponent_not_3_sig_struct)
{
	static const uint32_t bad[] = {0, 1, 2, 65537};
	for (unsigned i = 0; i < 4; i++) {
		sig.exponent = bad[i];
		expect_code(SGX_INVALID_SIG_STRUCT);
	}
}

Test(einit, reserved_fields_sig_struct)
{
	for (size_t i = 0; i < sizeof(sig.reserved1); i++) {
		sig.reserved1[i] = 0x20;
		expect_code(SGX_INVALID_SIG_STRUCT);
		sig.reserved1[i] = 0;
	}
	for (size_t i = 0; i < sizeof(sig.reserved2); i++) {
		sig.reserved2[i] = 1;
		expect_code(SGX_INVALID_SIG_STRUCT);
		sig.reserved2[i] = 0;
	}
	for (size_t i = 0; i < sizeof(sig.reserved3); i++) {
		sig.reserved3[i] = 0x80;
		expect_code(SGX_INVALID_SIG_STRUCT);
		sig.reserved3[i] = 0;
	}
	/* The 12 unsigned reserved bytes at 1028 too. */
	for (size_t i = 0; i < sizeof(sig.reserved4); i++) {
		sig.reserved4[i] = 4;
		expect_code(SGX_INVALID_SIG_STRUCT);
		sig.reserved4[i] = 0;
	}
	th_assert_ok(einit());
}

Test(einit, sig_struct_before_signature)
{
	sig.signature[10] ^= 1;
	sig.header2[0] ^= 1;
	expect_code(SGX_INVALID_SIG_STRUCT);
}

/* ---- step 4: the signature ---- */

Test(einit, bad_signature)
{
	sig.signature[100] ^= 0x08;
	expect_code(SGX_INVALID_SIGNATURE);
}

Test(einit, wrong_q1_or_q2_invalid_signature)
{
	sig.q1[0] ^= 1;
	expect_code(SGX_INVALID_SIGNATURE);
	sig.q1[0] ^= 1;
	sig.q2[0] ^= 1;
	expect_code(SGX_INVALID_SIGNATURE);
	sig.q2[0] ^= 1;
	th_assert_ok(einit());
}

Test(einit, signature_of_another_key)
{
	char err[128];
	struct crypto_rsa *le = crypto_rsa_from_pem(le_key_pem, strlen(le_key_pem), err, sizeof(err));
	cr_assert(le, "%s", err);
	struct sgx_sigstruct other = sig;
	cr_assert(sigstruct_sign(&other, le));
	memcpy(sig.signature, other.signature, 384);
	memcpy(sig.q1, other.q1, 384);
	memcpy(sig.q2, other.q2, 384);
	expect_code(SGX_INVALID_SIGNATURE);
	crypto_rsa_free(le);
}

Test(einit, signature_not_below_modulus)
{
	/* S = N: S^3 mod N = 0, and hardware requires S < N. */
	memcpy(sig.signature, sig.modulus, 384);
	crypto_rsa_q1q2(sig.modulus, sig.signature, sig.q1, sig.q2);
	expect_code(SGX_INVALID_SIGNATURE);
	memset(sig.modulus, 0, 384);
	expect_code(SGX_INVALID_SIGNATURE);
}

Test(einit, signature_checked_before_secs)
{
	uint64_t nopage = th_pa(&E.th, SE_NOPAGE), reg = th_pa(&E.th, SE_DATA);
	sig.signature[0] ^= 1;
	th_assert_code(einit_at((uint64_t)(uintptr_t)&sig, nopage, (uint64_t)(uintptr_t)&tok), SGX_INVALID_SIGNATURE);
	sig.signature[0] ^= 1;
	th_assert_pf(einit_at((uint64_t)(uintptr_t)&sig, nopage, (uint64_t)(uintptr_t)&tok), nopage, PF_SECS);
	th_assert_pf(einit_at((uint64_t)(uintptr_t)&sig, reg, (uint64_t)(uintptr_t)&tok), reg, PF_SECS);
	struct hw_epcm_view e;
	cr_assert(hw_epcm_get(m, reg, &e));
	cr_assert(e.valid && e.pt == SGX_PT_REG);
}

/* ---- step 6: KSS fields, already initialised ---- */

Test(einit, isvfamilyid_without_kss_sig_struct)
{
	sig.isv_family_id[15] = 1;
	resign();
	expect_code(SGX_INVALID_SIG_STRUCT);
}

Test(einit, isvextprodid_without_kss_sig_struct)
{
	sig.isv_ext_prod_id[0] = 0x80;
	resign();
	expect_code(SGX_INVALID_SIG_STRUCT);
}

Test(einit, kss_check_before_already_initialised)
{
	th_assert_ok(einit());
	sig.isv_family_id[0] = 1;
	resign();
	th_assert_code(einit(), SGX_INVALID_SIG_STRUCT);
	sig.isv_family_id[0] = 0;
	resign();
	th_assert_gp(einit());
}

Test(einit, already_initialised_before_measurement)
{
	th_assert_ok(einit());
	sig.enclave_hash[0] ^= 1;
	resign();
	th_assert_gp(einit());
}

/* ---- step 7: measurement ---- */

Test(einit, wrong_enclavehash_invalid_measurement)
{
	sig.enclave_hash[31] ^= 0x80;
	resign();
	expect_code(SGX_INVALID_MEASUREMENT);
}

Test(einit, page_added_after_signing_invalid_measurement)
{
	th_assert_ok(th_eadd(&E.th, 0x6000, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R, NULL));
	expect_code(SGX_INVALID_MEASUREMENT);
}

Test(einit, measurement_before_attributes_and_launch)
{
	sig.enclave_hash[0] ^= 1;
	sig.attributes ^= SGX_ATTR_DEBUG;
	resign();
	uint8_t other[32];
	memset(other, 0x99, 32);
	se_set_lehash(m, other);
	expect_code(SGX_INVALID_MEASUREMENT);
}

/* ---- step 9: attributes and MISCSELECT ---- */

Test(einit, masked_attribute_mismatch)
{
	sig.attributes ^= SGX_ATTR_DEBUG; /* DEBUG is in the mask */
	resign();
	expect_code(SGX_INVALID_ATTRIBUTE);
}

Test(einit, attribute_outside_mask_ignored)
{
	sig.attributes |= SGX_ATTR_PROVISIONKEY | SGX_ATTR_KSS;
	resign();
	th_assert_ok(einit());
}

Test(einit, mask_bit_required_but_absent)
{
	sig.attributes |= SGX_ATTR_PROVISIONKEY;
	sig.attributes_mask |= SGX_ATTR_PROVISIONKEY;
	resign();
	expect_code(SGX_INVALID_ATTRIBUTE);
}

Test(einit, init_compared_as_clear)
{
	/* Masks compare with the SECS as created: INIT is still 0 (docs/hw-init.md). */
	sig.attributes_mask |= SGX_ATTR_INIT;
	resign();
	th_assert_ok(einit());
}

Test(einit, init_required_by_sigstruct_fails)
{
	sig.attributes |= SGX_ATTR_INIT;
	sig.attributes_mask |= SGX_ATTR_INIT;
	resign();
	expect_code(SGX_INVALID_ATTRIBUTE);
}

Test(einit, masked_xfrm_mismatch)
{
	sig.xfrm = 7;
	resign();
	expect_code(SGX_INVALID_ATTRIBUTE);
	sig.xfrm_mask = 3;
	resign();
	th_assert_ok(einit());
}

Test(einit, masked_miscselect_mismatch)
{
	sig.miscselect = 0;
	resign();
	expect_code(SGX_INVALID_ATTRIBUTE);
	sig.miscmask = ~SGX_MISC_EXINFO;
	resign();
	th_assert_ok(einit());
}

Test(einit, attributes_before_launch_control)
{
	sig.attributes ^= SGX_ATTR_DEBUG;
	resign();
	uint8_t other[32];
	memset(other, 0x99, 32);
	se_set_lehash(m, other);
	expect_code(SGX_INVALID_ATTRIBUTE);
}

/* ---- step 10: launch control with an invalid token ---- */

Test(einit, lehash_mismatch_invalid_einittoken)
{
	uint8_t other[32];
	memcpy(other, E.mrsigner, 32);
	other[31] ^= 1; /* MSR 0x8F, top byte */
	se_set_lehash(m, other);
	expect_code(SGX_INVALID_EINITTOKEN);
	memcpy(other, E.mrsigner, 32);
	other[0] ^= 1; /* MSR 0x8C, low byte */
	se_set_lehash(m, other);
	expect_code(SGX_INVALID_EINITTOKEN);
	se_set_lehash(m, E.mrsigner);
	th_assert_ok(einit());
}

Test(einit, lehash_msr_byte_order)
{
	/* Digest bytes 0..7 are MSR 0x8C as a little-endian value. */
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | E.mrsigner[i];
	cr_assert_eq(hw_rdmsr_lehash(m, 0), v);
	cr_assert_neq(v, __builtin_bswap64(v));
	cr_assert(hw_wrmsr_lehash(m, 0, __builtin_bswap64(v)));
	expect_code(SGX_INVALID_EINITTOKEN);
	cr_assert(hw_wrmsr_lehash(m, 0, v));
	th_assert_ok(einit());
}

Test(einit, token_valid_bit_only_decides)
{
	/* VALID=0 with other bits set: the reserved bits are not looked at on this path (docs/hw-init.md). */
	tok.valid = 0xFFFFFFFE;
	memset(tok.reserved1, 0xFF, sizeof(tok.reserved1));
	th_assert_ok(einit());
}

/* ---- an enclave made with the plain harness ---- */

TestSuite(einit_harness, .timeout = 60);

Test(einit_harness, fresh_key_signs_harness_enclave)
{
	/* 1. th_setup: machine + ECREATE; two pages, one measured. */
	struct th t;
	th_setup(&t, 0x4000);
	th_assert_ok(th_eadd(&t, 0, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W, NULL));
	th_assert_ok(th_eextend_page(&t, 0));
	th_assert_ok(th_eadd(&t, 0x1000, SGX_SECINFO_PT(SGX_PT_TCS), NULL));
	/* 2. Sign what the hardware measured so far with a freshly generated key. */
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	sigstruct_init(&sig, 0x20240131);
	memcpy(sig.enclave_hash, v.mrenclave_now, 32);
	sig.attributes = v.secs.attributes;
	sig.attributes_mask = ~0ULL & ~SGX_ATTR_INIT;
	sig.xfrm = v.secs.xfrm;
	sig.xfrm_mask = ~0ULL;
	sig.miscselect = v.secs.miscselect;
	sig.miscmask = ~0U;
	sig.isv_prod_id = 2;
	sig.isv_svn = 1;
	cr_assert(sigstruct_sign(&sig, se_key()));
	/* 3. The OS writes the signer's hash into IA32_SGXLEPUBKEYHASH, then EINIT. */
	uint8_t mrsigner[32];
	sigstruct_mrsigner(&sig, mrsigner);
	se_set_lehash(t.m, mrsigner);
	memset(&tok, 0, sizeof(tok));
	th_assert_ok(encls_einit(t.m, NULL, (uint64_t)(uintptr_t)&sig, t.secs_pa, (uint64_t)(uintptr_t)&tok));
	struct hw_secs_view after;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &after));
	cr_assert(after.initialized);
	cr_assert_arr_eq(after.secs.mrenclave, v.mrenclave_now, 32);
	cr_assert_arr_eq(after.secs.mrsigner, mrsigner, 32);
	cr_assert_eq(after.secs.isv_prod_id, 2);
	cr_assert_eq(after.secs.isv_svn, 1);
	th_teardown(&t);
}

/* ---- EINITTOKEN_KEY attribute ---- */

TestSuite(einit_launch, .fini = done, .timeout = 60);

static void create_e(uint64_t attributes)
{
	m = th_machine();
	struct se_opts o = E_OPTS;
	o.attributes = attributes;
	se_create(&E, m, &o);
	se_sign(&E, &o);
	sig = E.sig;
	memset(&tok, 0, sizeof(tok));
}

Test(einit_launch, einittoken_key_needs_le_signer)
{
	create_e(SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_EINITTOKENKEY);
	uint8_t other[32];
	memset(other, 0x99, 32);
	se_set_lehash(m, other);
	expect_code(SGX_INVALID_ATTRIBUTE);
	se_set_lehash(m, E.mrsigner);
	th_assert_ok(einit());
}

Test(einit_launch, locked_lehash_refuses_other_signers)
{
	struct hw_config c;
	hw_config_default(&c);
	c.epc_size = 1 << 20;
	c.space_size = 1ULL << 36;
	c.lehash_locked = true;
	memset(c.lehash, 0x77, 32);
	char err[128];
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), 0, "%s", err);
	se_create(&E, m, &E_OPTS);
	se_sign(&E, &E_OPTS);
	sig = E.sig;
	memset(&tok, 0, sizeof(tok));
	cr_assert(!hw_wrmsr_lehash(m, 0, 1), "a locked LEPUBKEYHASH is not writable");
	cr_assert_eq(hw_rdmsr_lehash(m, 0), 0x7777777777777777ULL);
	expect_code(SGX_INVALID_EINITTOKEN);
}

Test(einit_launch, locked_lehash_accepts_its_signer)
{
	struct hw_config c;
	hw_config_default(&c);
	c.epc_size = 1 << 20;
	c.space_size = 1ULL << 36;
	c.lehash_locked = true;
	struct sgx_sigstruct probe;
	sigstruct_init(&probe, 0);
	cr_assert(sigstruct_sign(&probe, se_key()));
	sigstruct_mrsigner(&probe, c.lehash);
	char err[128];
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), 0, "%s", err);
	se_create(&E, m, &E_OPTS);
	se_sign(&E, &E_OPTS);
	sig = E.sig;
	memset(&tok, 0, sizeof(tok));
	th_assert_ok(einit());
}

Test(einit_launch, kss_enclave_commits_family_and_ext_ids)
{
	create_e(SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_KSS);
	se_set_lehash(m, E.mrsigner);
	memset(sig.isv_family_id, 0xF0, 16);
	memset(sig.isv_ext_prod_id, 0x0E, 16);
	resign();
	th_assert_ok(einit());
	hw_mutex_lock(&m->lock);
	struct secs_priv *p = secs_priv_of(m, E.th.secs_pa);
	uint8_t fam[16], ext[16];
	memcpy(fam, p->isv_family_id, 16);
	memcpy(ext, p->isv_ext_prod_id, 16);
	hw_mutex_unlock(&m->lock);
	cr_assert_arr_eq(fam, sig.isv_family_id, 16);
	cr_assert_arr_eq(ext, sig.isv_ext_prod_id, 16);
}

/* ---- EINITTOKEN from a launch enclave ---- */

/*
 * 1. The launch enclave LE: signed by the fixed LE key, EINITTOKEN_KEY set,
 *    production (DEBUG clear); IA32_SGXLEPUBKEYHASH = its MRSIGNER.
 * 2. The target E: signed by the binary's key, so MRSIGNER != LEPUBKEYHASH.
 * 3. LE obtains the launch key with EGETKEY and MACs the token.
 */
static struct se LE;
static struct hw_thread le_thread;
static struct crypto_rsa *le_key;

#define LE_PRODID 0x20
#define LE_SVN	  3

static void fresh_token(void)
{
	m = th_machine();
	char err[128];
	le_key = crypto_rsa_from_pem(le_key_pem, strlen(le_key_pem), err, sizeof(err));
	cr_assert(le_key, "%s", err);
	se_build(&LE, m,
		 &(struct se_opts){.base = 0x7e0000000000ULL,
				   .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_EINITTOKENKEY,
				   .isv_prod_id = LE_PRODID,
				   .isv_svn = LE_SVN,
				   .key = le_key});
	se_enter(&LE, &le_thread);
	se_create(&E, m, &E_OPTS);
	se_sign(&E, &E_OPTS);
	sig = E.sig;
	memset(&tok, 0, sizeof(tok));
	cr_assert_arr_neq(E.mrsigner, LE.mrsigner, 32);
}

static void done_token(void)
{
	se_leave(&le_thread);
	pagetable_fini(&LE.th.pt);
	crypto_rsa_free(le_key);
	done();
}

/* The launch enclave's MAC over bytes 0..191 with the launch key for the token's LE fields. */
static void le_mac(struct sgx_einittoken *t)
{
	struct sgx_keyrequest req;
	memset(&req, 0, sizeof(req));
	req.keyname = SGX_KEY_EINITTOKEN;
	req.isv_svn = t->isv_svn_le;
	memcpy(req.cpusvn, t->cpusvn_le, 16);
	req.attribute_mask = t->masked_attributes_le;
	req.xfrm_mask = t->masked_xfrm_le;
	req.misc_mask = t->masked_miscselect_le;
	memcpy(req.keyid, t->keyid, 32);
	uint8_t *page = se_ptr(&LE, SE_DATA);
	memcpy(page, &req, sizeof(req));
	th_assert_ok(se_enclu(&le_thread, ENCLU_EGETKEY, se_lin(&LE, SE_DATA), se_lin(&LE, SE_DATA) + 0x400, 0));
	crypto_aes_cmac(page + 0x400, t, 192, t->mac);
}

/* A token for E as the LE issues it. */
static void make_token(struct sgx_einittoken *t)
{
	struct hw_secs_view e, le;
	cr_assert(hw_secs_get(m, E.th.secs_pa, &e));
	cr_assert(hw_secs_get(m, LE.th.secs_pa, &le));
	memset(t, 0, sizeof(*t));
	t->valid = 1;
	t->attributes = e.secs.attributes;
	t->xfrm = e.secs.xfrm;
	memcpy(t->mrenclave, E.mrenclave, 32);
	memcpy(t->mrsigner, E.mrsigner, 32);
	memcpy(t->cpusvn_le, hw_machine_config(m)->cpusvn, 16);
	t->isv_prod_id_le = le.secs.isv_prod_id;
	t->isv_svn_le = le.secs.isv_svn;
	/* What EGETKEY binds for the LE: (mask | INIT | DEBUG) & its attributes. */
	t->masked_attributes_le = le.secs.attributes;
	t->masked_xfrm_le = le.secs.xfrm;
	t->masked_miscselect_le = le.secs.miscselect;
	memset(t->keyid, 0x4B, 32);
	le_mac(t);
}

TestSuite(einit_token, .init = fresh_token, .fini = done_token, .timeout = 60);

Test(einit_token, valid_token_launches_another_signer)
{
	expect_code(SGX_INVALID_EINITTOKEN); /* VALID=0: only the LE's signer */
	make_token(&tok);
	th_assert_ok(einit());
	struct hw_secs_view v;
	secs_view(&v);
	cr_assert(v.initialized);
	cr_assert_arr_eq(v.secs.mrsigner, E.mrsigner, 32);
	cr_assert_eq(v.secs.isv_prod_id, 0x1234);
}

Test(einit_token, older_le_svn_and_cpusvn_accepted)
{
	make_token(&tok);
	tok.isv_svn_le = LE_SVN - 1;
	tok.cpusvn_le[4] = 0;
	le_mac(&tok);
	th_assert_ok(einit());
}

Test(einit_token, bad_mac_invalid_einittoken)
{
	make_token(&tok);
	tok.mac[7] ^= 1;
	expect_code(SGX_INVALID_EINITTOKEN);
}

Test(einit_token, mac_covers_bytes_0_to_191)
{
	/* MRENCLAVE changed after MACing: the MAC fails before the measurement is compared. */
	make_token(&tok);
	tok.mrenclave[0] ^= 1;
	expect_code(SGX_INVALID_EINITTOKEN);
	make_token(&tok);
	tok.attributes ^= SGX_ATTR_DEBUG;
	expect_code(SGX_INVALID_EINITTOKEN);
}

Test(einit_token, launch_key_inputs_are_bound)
{
	/* Fields after byte 191 are not MACed but select the launch key. */
	for (int f = 0; f < 6; f++) {
		make_token(&tok);
		switch (f) {
		case 0:
			tok.keyid[31] ^= 1;
			break;
		case 1:
			tok.isv_svn_le ^= 1;
			break;
		case 2:
			tok.isv_prod_id_le ^= 1;
			break;
		case 3:
			tok.cpusvn_le[0] = 0;
			break;
		case 4:
			tok.masked_miscselect_le ^= 1;
			break;
		case 5:
			tok.masked_attributes_le ^= SGX_ATTR_PROVISIONKEY;
			break;
		}
		expect_code(SGX_INVALID_EINITTOKEN);
	}
	make_token(&tok);
	th_assert_ok(einit());
}

Test(einit_token, launch_key_bound_to_lehash)
{
	make_token(&tok);
	uint8_t other[32];
	memcpy(other, LE.mrsigner, 32);
	other[16] ^= 1;
	se_set_lehash(m, other);
	expect_code(SGX_INVALID_EINITTOKEN);
}

Test(einit_token, wrong_mrenclave_invalid_measurement)
{
	make_token(&tok);
	tok.mrenclave[5] ^= 1;
	le_mac(&tok);
	expect_code(SGX_INVALID_MEASUREMENT);
}

Test(einit_token, wrong_mrsigner_invalid_measurement)
{
	make_token(&tok);
	memcpy(tok.mrsigner, LE.mrsigner, 32);
	le_mac(&tok);
	expect_code(SGX_INVALID_MEASUREMENT);
}

Test(einit_token, attribute_mismatch_invalid_attribute)
{
	make_token(&tok);
	tok.attributes |= SGX_ATTR_PROVISIONKEY;
	le_mac(&tok);
	expect_code(SGX_INVALID_ATTRIBUTE);
	make_token(&tok);
	tok.xfrm = 7;
	le_mac(&tok);
	expect_code(SGX_INVALID_ATTRIBUTE);
	make_token(&tok);
	tok.attributes |= SGX_ATTR_INIT; /* the token names the SECS as created */
	le_mac(&tok);
	expect_code(SGX_INVALID_ATTRIBUTE);
}

Test(einit_token, reserved_invalid_einittoken)
{
	make_token(&tok);
	tok.valid = 3;
	le_mac(&tok);
	expect_code(SGX_INVALID_EINITTOKEN);
	make_token(&tok);
	tok.reserved1[43] = 1;
	le_mac(&tok);
	expect_code(SGX_INVALID_EINITTOKEN);
	make_token(&tok);
	tok.reserved2[0] = 1;
	le_mac(&tok);
	expect_code(SGX_INVALID_EINITTOKEN);
	make_token(&tok);
	tok.reserved3[31] = 1;
	le_mac(&tok);
	expect_code(SGX_INVALID_EINITTOKEN);
	make_token(&tok);
	tok.reserved4[10] = 1; /* outside the MACed bytes */
	expect_code(SGX_INVALID_EINITTOKEN);
}

Test(einit_token, cpusvn_newer_invalid_cpusvn)
{
	make_token(&tok);
	tok.cpusvn_le[9] = 2;
	expect_code(SGX_INVALID_CPUSVN);
}

Test(einit_token, reserved_before_cpusvn)
{
	make_token(&tok);
	tok.cpusvn_le[9] = 2;
	tok.reserved4[0] = 1;
	expect_code(SGX_INVALID_EINITTOKEN);
}

Test(einit_token, debug_le_cannot_launch_production_enclave)
{
	/* Target E is a debug enclave; a production twin E2 shares its MRENCLAVE. */
	make_token(&tok);
	tok.masked_attributes_le |= SGX_ATTR_DEBUG;
	tok.cpusvn_le[0] = 2;
	expect_code(SGX_INVALID_CPUSVN); /* debug target: the debug rule passes, CPUSVN is next */

	struct se E2;
	struct se_opts o = E_OPTS;
	o.base = 0x7d0000000000ULL;
	o.attributes = SGX_ATTR_MODE64BIT;
	se_create(&E2, m, &o);
	se_sign(&E2, &o);
	sig = E2.sig;
	tok.attributes = E2.th.secs.attributes;
	struct hw_result r = einit_at((uint64_t)(uintptr_t)&sig, E2.th.secs_pa, (uint64_t)(uintptr_t)&tok);
	th_assert_code(r, SGX_INVALID_EINITTOKEN);
	/* The same production enclave with a production LE's token launches. */
	struct se saved = E;
	E = E2;
	make_token(&tok);
	th_assert_ok(einit());
	E = saved;
	pagetable_fini(&E2.th.pt);
}

Test(einit_token, sigstruct_attributes_checked_before_token)
{
	make_token(&tok);
	sig.attributes ^= SGX_ATTR_DEBUG;
	resign();
	expect_code(SGX_INVALID_ATTRIBUTE);
}

/* ---- the bit-flip property ---- */

TestSuite(bitflip, .init = fresh, .fini = done, .timeout = 120);

static uint64_t rng = 0x243F6A8885A308D3ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Is signed byte i (of the 256: 0..127 then 900..1027) a fixed field, checked before the signature? */
static bool fixed_field(unsigned off)
{
	return off < 20 ||		    /* HEADER, VENDOR */
	       (off >= 24 && off < 40) ||   /* HEADER2 */
	       (off >= 44 && off < 128) ||  /* reserved */
	       (off >= 908 && off < 912) || /* reserved */
	       (off >= 992 && off < 1008);  /* reserved */
}

Test(bitflip, every_signed_bit)
{
	uint8_t *b = (uint8_t *)&sig;
	unsigned n_struct = 0, n_sig = 0;
	for (unsigned i = 0; i < 256; i++) {
		unsigned off = i < 128 ? i : 900 + (i - 128);
		uint64_t want = fixed_field(off) ? SGX_INVALID_SIG_STRUCT : SGX_INVALID_SIGNATURE;
		for (unsigned bit = 0; bit < 8; bit++) {
			b[off] ^= (uint8_t)(1U << bit);
			struct hw_result r = einit();
			cr_assert(hw_is_code(r, want), "byte %u bit %u: expected %s, got %s", off, bit,
				  hw_error_name(want), th_fmt(r));
			b[off] ^= (uint8_t)(1U << bit);
			if (want == SGX_INVALID_SIG_STRUCT)
				n_struct++;
			else
				n_sig++;
		}
	}
	cr_assert_eq(n_struct + n_sig, 2048);
	cr_assert_eq(n_sig, 8 * (8 + 108)); /* DATE, SWDEFINED; the body less its 20 reserved bytes */
	th_assert_ok(einit());
}

Test(bitflip, modulus_bits_invalid_signature)
{
	for (int n = 0; n < 300; n++) {
		unsigned bit = rnd(3072);
		sig.modulus[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		struct hw_result r = einit();
		cr_assert(hw_is_code(r, SGX_INVALID_SIGNATURE), "modulus bit %u: %s", bit, th_fmt(r));
		sig.modulus[bit / 8] ^= (uint8_t)(1U << (bit % 8));
	}
	/* The lowest and highest bits as well. */
	sig.modulus[0] ^= 1;
	th_assert_code(einit(), SGX_INVALID_SIGNATURE);
	sig.modulus[0] ^= 1;
	sig.modulus[383] ^= 0x80;
	th_assert_code(einit(), SGX_INVALID_SIGNATURE);
	sig.modulus[383] ^= 0x80;
	th_assert_ok(einit());
}

Test(bitflip, signature_bits_invalid_signature)
{
	for (int n = 0; n < 300; n++) {
		unsigned bit = rnd(3072);
		sig.signature[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		struct hw_result r = einit();
		cr_assert(hw_is_code(r, SGX_INVALID_SIGNATURE), "signature bit %u: %s", bit, th_fmt(r));
		sig.signature[bit / 8] ^= (uint8_t)(1U << (bit % 8));
	}
	th_assert_ok(einit());
}

Test(bitflip, signature_bits_with_matching_helpers_invalid_signature)
{
	/* Recompute Q1/Q2 for the altered signature: the RSA check itself must fail. */
	for (int n = 0; n < 100; n++) {
		unsigned bit = rnd(3072 - 8);
		struct sgx_sigstruct keep = sig;
		sig.signature[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		crypto_rsa_q1q2(sig.modulus, sig.signature, sig.q1, sig.q2);
		struct hw_result r = einit();
		cr_assert(hw_is_code(r, SGX_INVALID_SIGNATURE), "signature bit %u: %s", bit, th_fmt(r));
		sig = keep;
	}
	th_assert_ok(einit());
}

Test(bitflip, helper_bits_invalid_signature)
{
	for (int n = 0; n < 100; n++) {
		unsigned bit = rnd(3072);
		uint8_t *q = n & 1 ? sig.q2 : sig.q1;
		q[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		struct hw_result r = einit();
		cr_assert(hw_is_code(r, SGX_INVALID_SIGNATURE), "Q%d bit %u: %s", 1 + (n & 1), bit, th_fmt(r));
		q[bit / 8] ^= (uint8_t)(1U << (bit % 8));
	}
	th_assert_ok(einit());
}

Test(bitflip, resigned_enclavehash_invalid_measurement)
{
	for (unsigned bit = 0; bit < 256; bit++) {
		sig.enclave_hash[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		resign();
		struct hw_result r = einit();
		cr_assert(hw_is_code(r, SGX_INVALID_MEASUREMENT), "ENCLAVEHASH bit %u: %s", bit, th_fmt(r));
		sig.enclave_hash[bit / 8] ^= (uint8_t)(1U << (bit % 8));
	}
	resign();
	th_assert_ok(einit());
}
