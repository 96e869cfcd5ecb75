/* SPDX-License-Identifier: MIT */
/* OpenSSL 3 wrappers: SHA-256, RSA-3072 e=3 (SIGSTRUCT), AES-CMAC, AES-GCM. */
#include "crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken crypto library is not an input error: abort loudly. */
static void crypto_die(const char *what)
{
	fprintf(stderr, "sgxemu: OpenSSL failure in %s\n", what);
	abort();
}

#define CHECK(x, what)                   \
	do {                             \
		if (!(x))                \
			crypto_die(what); \
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
static const uint8_t sha256_prefix[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					   0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };

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
	CHECK(BN_sqr(t, s, ctx), "BN_sqr");             /* t = S^2 */
	CHECK(BN_div(u, r, t, n, ctx), "BN_div");       /* u = floor(S^2/N), r = S^2 mod N */
	if (BN_cmp(u, q1) != 0)
		goto out;
	CHECK(BN_mul(t, r, s, ctx), "BN_mul");          /* t = (S^2 mod N) * S = S^3 - Q1*S*N */
	CHECK(BN_div(u, m, t, n, ctx), "BN_div");       /* u = Q2, m = S^3 mod N */
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

void crypto_aes_cmac(const uint8_t key[16], const void *data, size_t len, uint8_t mac[16])
{
	EVP_MAC *alg = EVP_MAC_fetch(NULL, "CMAC", NULL);
	CHECK(alg, "EVP_MAC_fetch(CMAC)");
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(alg);
	CHECK(ctx, "EVP_MAC_CTX_new");
	char cipher[] = "AES-128-CBC";
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
				OSSL_PARAM_construct_end() };
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
