/* SPDX-License-Identifier: MIT */
/* OpenSSL 3 wrappers: SHA-256, RSA-3072 e=3 (SIGSTRUCT: verify, and keys for signing), AES-CMAC, AES-GCM. */
#include "crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken crypto library is not an input error: abort loudly. */
static void crypto_die(const char *what)
{
	fprintf(stderr, "sgxemu: OpenSSL failure in %s\n", what);
	abort();
}

#define CHECK(x, what)                                                                                                 \
	do {                                                                                                           \
		if (!(x))                                                                                              \
			crypto_die(what);                                                                              \
	} while (0)

struct hw_sha256 {
	EVP_MD_CTX *ctx;
};

struct hw_sha256 *crypto_sha256_new(void)
{
	struct hw_sha256 *h = malloc(sizeof(*h));
	CHECK(h, "sha256 alloc");
	h->ctx = EVP_MD_CTX_new();
	CHECK(h->ctx, "EVP_MD_CTX_new");
	CHECK(EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL), "EVP_DigestInit_ex");
	return h;
}

void crypto_sha256_update(struct hw_sha256 *h, const void *data, size_t len)
{
	CHECK(EVP_DigestUpdate(h->ctx, data, len), "EVP_DigestUpdate");
}

void crypto_sha256_final(struct hw_sha256 *h, uint8_t out[32])
{
	unsigned int n = 0;
	CHECK(EVP_DigestFinal_ex(h->ctx, out, &n) && n == 32, "EVP_DigestFinal_ex");
}

void crypto_sha256_peek(const struct hw_sha256 *h, uint8_t out[32])
{
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	unsigned int n = 0;
	CHECK(copy && EVP_MD_CTX_copy_ex(copy, h->ctx), "EVP_MD_CTX_copy_ex");
	CHECK(EVP_DigestFinal_ex(copy, out, &n) && n == 32, "EVP_DigestFinal_ex");
	EVP_MD_CTX_free(copy);
}

void crypto_sha256_free(struct hw_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void crypto_sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	CHECK(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) && n == 32, "EVP_Digest");
}

/* PKCS#1 v1.5 DigestInfo prefix for SHA-256. */
static const uint8_t sha256_prefix[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					  0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

bool crypto_rsa3072_e3_verify(const uint8_t n_le[384], const uint8_t s_le[384], const uint8_t q1_le[384],
			      const uint8_t q2_le[384], const uint8_t hash[32])
{
	BN_CTX *ctx = BN_CTX_new();
	CHECK(ctx, "BN_CTX_new");
	BN_CTX_start(ctx);
	BIGNUM *n = BN_CTX_get(ctx), *s = BN_CTX_get(ctx), *q1 = BN_CTX_get(ctx), *q2 = BN_CTX_get(ctx);
	BIGNUM *t = BN_CTX_get(ctx), *u = BN_CTX_get(ctx), *r = BN_CTX_get(ctx), *m = BN_CTX_get(ctx);
	CHECK(m, "BN_CTX_get");
	CHECK(BN_lebin2bn(n_le, 384, n) && BN_lebin2bn(s_le, 384, s) && BN_lebin2bn(q1_le, 384, q1) &&
		  BN_lebin2bn(q2_le, 384, q2),
	      "BN_lebin2bn");
	bool ok = false;
	if (BN_is_zero(n) || BN_cmp(s, n) >= 0)
		goto out;
	/* The hardware computes S^3 mod N with the helpers Q1 and Q2: check they are right. */
	CHECK(BN_sqr(t, s, ctx), "BN_sqr");	  /* t = S^2 */
	CHECK(BN_div(u, r, t, n, ctx), "BN_div"); /* u = floor(S^2/N), r = S^2 mod N */
	if (BN_cmp(u, q1) != 0)
		goto out;
	CHECK(BN_mul(t, r, s, ctx), "BN_mul");	  /* t = (S^2 mod N) * S = S^3 - Q1*S*N */
	CHECK(BN_div(u, m, t, n, ctx), "BN_div"); /* u = Q2, m = S^3 mod N */
	if (BN_cmp(u, q2) != 0)
		goto out;
	uint8_t em[384], want[384];
	CHECK(BN_bn2binpad(m, em, sizeof(em)) == (int)sizeof(em), "BN_bn2binpad");
	want[0] = 0x00;
	want[1] = 0x01;
	memset(want + 2, 0xff, 330);
	want[332] = 0x00;
	memcpy(want + 333, sha256_prefix, sizeof(sha256_prefix));
	memcpy(want + 352, hash, 32);
	ok = memcmp(em, want, sizeof(em)) == 0;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return ok;
}

/* ---- RSA-3072, e=3 private keys ---- */

struct crypto_rsa {
	EVP_PKEY *pkey;
};

#define RSA_BITS  3072
#define RSA_BYTES (RSA_BITS / 8)

static void reverse_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[n - 1 - i];
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* Is pkey an RSA key of 3072 bits with public exponent 3 and a private part? */
static const char *rsa_shape_error(const EVP_PKEY *pkey)
{
	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return "not an RSA key";
	if (EVP_PKEY_get_bits(pkey) != RSA_BITS)
		return "RSA modulus is not 3072 bits";
	BIGNUM *e = NULL, *d = NULL;
	const char *why = NULL;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) || !BN_is_word(e, 3))
		why = "RSA public exponent is not 3";
	else if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d))
		why = "not a private key";
	BN_free(e);
	BN_clear_free(d);
	return why;
}

/*
 * Is the private key consistent with its public half?  OpenSSL's private
 * check (d against n), then what a key is for: a signature made with it
 * verifies with its modulus and exponent.  A key whose primes or CRT values
 * do not match n signs garbage; OpenSSL's pairwise check finds that too but
 * tests the primes' primality, a tenth of a second per key, where a
 * signature and its verification take a few milliseconds.  (OpenSSL's
 * public-key check is not asked: it wants an exponent of at least 65537.)
 * Return: NULL, or what is wrong.
 */
static const char *rsa_consistency_error(EVP_PKEY *pkey, char *buf, size_t len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!ctx)
		return "out of memory";
	ERR_clear_error();
	bool ok = EVP_PKEY_private_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		/* The first problem OpenSSL found, in its words. */
		const char *reason = ERR_reason_error_string(ERR_peek_error());
		snprintf(buf, len, "RSA private key is inconsistent: %s",
			 reason ? reason : "OpenSSL's key check failed");
		return buf;
	}
	static const char msg[] = "sgxemu key check";
	uint8_t hash[32], sig[RSA_BYTES];
	size_t siglen = sizeof(sig);
	crypto_sha256(msg, sizeof(msg), hash);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	ok = ctx && EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
	     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
	     EVP_PKEY_sign(ctx, sig, &siglen, hash, sizeof(hash)) > 0 && siglen == RSA_BYTES &&
	     EVP_PKEY_verify_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
	     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
	     EVP_PKEY_verify(ctx, sig, siglen, hash, sizeof(hash)) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (ok)
		return NULL;
	snprintf(buf, len, "RSA private key is inconsistent: a signature made with it does not verify");
	return buf;
}

struct crypto_rsa *crypto_rsa_generate(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!ctx)
		return NULL;
	struct crypto_rsa *k = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned int bits = RSA_BITS;
	unsigned int e = 3;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_BITS, &bits),
			       OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_E, &e), OSSL_PARAM_construct_end()};
	if (EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_params(ctx, params) <= 0 ||
	    EVP_PKEY_generate(ctx, &pkey) <= 0)
		goto out;
	k = malloc(sizeof(*k));
	if (!k) {
		EVP_PKEY_free(pkey);
		goto out;
	}
	k->pkey = pkey;
out:
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* Encrypted keys are not supported: never prompt on a terminal for a passphrase. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

struct crypto_rsa *crypto_rsa_from_pem(const char *pem, size_t len, char *err, size_t errlen)
{
	if (len > INT_MAX) {
		set_err(err, errlen, "PEM text too large");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (!pkey) {
		ERR_clear_error();
		set_err(err, errlen, "no PEM private key found");
		return NULL;
	}
	char buf[160];
	const char *why = rsa_shape_error(pkey);
	if (!why)
		why = rsa_consistency_error(pkey, buf, sizeof(buf));
	ERR_clear_error();
	struct crypto_rsa *k = why ? NULL : malloc(sizeof(*k));
	if (!k) {
		set_err(err, errlen, why ? why : "out of memory");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k->pkey = pkey;
	return k;
}

char *crypto_rsa_to_pem(const struct crypto_rsa *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	CHECK(bio, "BIO_new");
	char *out = NULL;
	if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) == 1) {
		char *data = NULL;
		long n = BIO_get_mem_data(bio, &data);
		out = n >= 0 ? malloc((size_t)n + 1) : NULL;
		if (out) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
		}
	}
	BIO_free(bio);
	return out;
}

void crypto_rsa_free(struct crypto_rsa *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

void crypto_rsa_modulus_le(const struct crypto_rsa *k, uint8_t out[384])
{
	BIGNUM *n = NULL;
	CHECK(EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &n), "EVP_PKEY_get_bn_param(n)");
	CHECK(BN_bn2lebinpad(n, out, RSA_BYTES) == RSA_BYTES, "BN_bn2lebinpad");
	BN_free(n);
}

bool crypto_rsa_sign_le(const struct crypto_rsa *k, const void *msg, size_t len, uint8_t sig_le[384])
{
	uint8_t hash[32], sig[RSA_BYTES];
	size_t siglen = sizeof(sig);
	crypto_sha256(msg, len, hash);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	if (!ctx)
		return false;
	bool ok = EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
		  EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
		  EVP_PKEY_sign(ctx, sig, &siglen, hash, sizeof(hash)) > 0 && siglen == RSA_BYTES;
	EVP_PKEY_CTX_free(ctx);
	if (ok)
		reverse_copy(sig_le, sig, RSA_BYTES);
	return ok;
}

void crypto_rsa_q1q2(const uint8_t n_le[384], const uint8_t s_le[384], uint8_t q1_le[384], uint8_t q2_le[384])
{
	BN_CTX *ctx = BN_CTX_new();
	CHECK(ctx, "BN_CTX_new");
	BN_CTX_start(ctx);
	BIGNUM *n = BN_CTX_get(ctx), *s = BN_CTX_get(ctx), *t = BN_CTX_get(ctx), *q = BN_CTX_get(ctx);
	BIGNUM *r = BN_CTX_get(ctx);
	CHECK(r, "BN_CTX_get");
	CHECK(BN_lebin2bn(n_le, RSA_BYTES, n) && BN_lebin2bn(s_le, RSA_BYTES, s), "BN_lebin2bn");
	CHECK(!BN_is_zero(n), "RSA modulus is zero");
	/* Q1 = floor(S^2 / N), r = S^2 mod N; then S^3 - Q1*S*N = S * r and Q2 = floor(S * r / N). */
	CHECK(BN_sqr(t, s, ctx) && BN_div(q, r, t, n, ctx), "Q1");
	CHECK(BN_bn2lebinpad(q, q1_le, RSA_BYTES) == RSA_BYTES, "Q1 size");
	CHECK(BN_mul(t, r, s, ctx) && BN_div(q, NULL, t, n, ctx), "Q2");
	CHECK(BN_bn2lebinpad(q, q2_le, RSA_BYTES) == RSA_BYTES, "Q2 size");
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
}

bool crypto_rsa_verify_be(const uint8_t n_be[384], uint32_t e, const void *msg, size_t len, const uint8_t sig_be[384])
{
	bool ok = false;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *kctx = NULL;
	EVP_MD_CTX *md = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	BIGNUM *n = BN_bin2bn(n_be, RSA_BYTES, NULL), *bn_e = BN_new();
	CHECK(bld && n && bn_e && BN_set_word(bn_e, e), "RSA public key alloc");
	CHECK(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e),
	      "OSSL_PARAM_BLD_push_BN");
	params = OSSL_PARAM_BLD_to_param(bld);
	kctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	CHECK(params && kctx, "RSA public key params");
	if (EVP_PKEY_fromdata_init(kctx) <= 0 || EVP_PKEY_fromdata(kctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	md = EVP_MD_CTX_new();
	CHECK(md, "EVP_MD_CTX_new");
	EVP_PKEY_CTX *pctx = NULL;
	if (EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, pkey, NULL) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
		goto out;
	ok = EVP_DigestVerify(md, sig_be, RSA_BYTES, msg, len) == 1;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(kctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(bn_e);
	return ok;
}

void crypto_aes_cmac(const uint8_t key[16], const void *data, size_t len, uint8_t mac[16])
{
	EVP_MAC *alg = EVP_MAC_fetch(NULL, "CMAC", NULL);
	CHECK(alg, "EVP_MAC_fetch(CMAC)");
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(alg);
	CHECK(ctx, "EVP_MAC_CTX_new");
	char cipher[] = "AES-128-CBC";
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
			       OSSL_PARAM_construct_end()};
	size_t out = 0;
	CHECK(EVP_MAC_init(ctx, key, 16, params) && EVP_MAC_update(ctx, data, len) &&
		  EVP_MAC_final(ctx, mac, &out, 16) && out == 16,
	      "AES-CMAC");
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(alg);
}

void crypto_gcm_seal(const uint8_t key[32], const uint8_t iv[12], const void *aad, size_t aadlen, const void *in,
		     void *out, size_t len, uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;
	CHECK(ctx, "EVP_CIPHER_CTX_new");
	CHECK(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv), "GCM init");
	CHECK(EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen), "GCM aad");
	CHECK(EVP_EncryptUpdate(ctx, out, &n, in, (int)len) && (size_t)n == len, "GCM encrypt");
	CHECK(EVP_EncryptFinal_ex(ctx, (uint8_t *)out + n, &n), "GCM final");
	CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag), "GCM tag");
	EVP_CIPHER_CTX_free(ctx);
}

bool crypto_gcm_open(const uint8_t key[32], const uint8_t iv[12], const void *aad, size_t aadlen, const void *in,
		     void *out, size_t len, const uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;
	uint8_t t[16];
	memcpy(t, tag, 16);
	CHECK(ctx, "EVP_CIPHER_CTX_new");
	CHECK(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv), "GCM init");
	CHECK(EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen), "GCM aad");
	CHECK(EVP_DecryptUpdate(ctx, out, &n, in, (int)len) && (size_t)n == len, "GCM decrypt");
	CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, t), "GCM set tag");
	bool ok = EVP_DecryptFinal_ex(ctx, (uint8_t *)out + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

void crypto_random(void *buf, size_t len)
{
	CHECK(RAND_bytes(buf, (int)len) == 1, "RAND_bytes");
}
