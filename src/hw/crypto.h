/* SPDX-License-Identifier: MIT */
/*
 * The only cryptography sgxemu uses, all from OpenSSL 3 libcrypto.
 * crypto.c is the only file that includes OpenSSL headers.
 */
#ifndef SGXEMU_CRYPTO_H
#define SGXEMU_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Running SHA-256 (MRENCLAVE). */
struct hw_sha256;
struct hw_sha256 *crypto_sha256_new(void);
void crypto_sha256_update(struct hw_sha256 *h, const void *data, size_t len);
/* Finalise into out; h stays allocated and must still be freed. */
void crypto_sha256_final(struct hw_sha256 *h, uint8_t out[32]);
void crypto_sha256_free(struct hw_sha256 *h);
/* The digest the data so far would give, leaving h running. */
void crypto_sha256_peek(const struct hw_sha256 *h, uint8_t out[32]);
void crypto_sha256(const void *data, size_t len, uint8_t out[32]);

/*
 * SIGSTRUCT's RSA-3072 check as the hardware does it: m = S^3 mod N
 * (N, S, Q1, Q2 little-endian, 384 bytes), compared with the expected
 * PKCS#1 v1.5 encoding of hash.  Q1 = floor(S^2/N) and
 * Q2 = floor((S^3 - Q1*S*N)/N) must be the helper values for S.
 * Return: true when the signature verifies.
 */
bool crypto_rsa3072_e3_verify(const uint8_t n_le[384], const uint8_t s_le[384], const uint8_t q1_le[384],
			      const uint8_t q2_le[384], const uint8_t hash[32]);

/* ---- RSA-3072, e=3 private keys (signing tools and tests; hardware only verifies) ---- */
struct crypto_rsa;
/* Generate a fresh 3072-bit key with public exponent 3. Return: NULL on failure. */
struct crypto_rsa *crypto_rsa_generate(void);
/* Parse a PEM private key; NULL if it is not a consistent RSA-3072 e=3 key (err says why). */
struct crypto_rsa *crypto_rsa_from_pem(const char *pem, size_t len, char *err, size_t errlen);
/* PEM (PKCS#8) text of the key, malloc'd, NUL-terminated. */
char *crypto_rsa_to_pem(const struct crypto_rsa *k);
void crypto_rsa_free(struct crypto_rsa *k);
/* Modulus as 384 little-endian bytes (SIGSTRUCT.MODULUS). */
void crypto_rsa_modulus_le(const struct crypto_rsa *k, uint8_t out[384]);
/* RSASSA-PKCS1-v1_5/SHA-256 signature of msg, as 384 little-endian bytes. */
bool crypto_rsa_sign_le(const struct crypto_rsa *k, const void *msg, size_t len, uint8_t sig_le[384]);
/* SIGSTRUCT helpers Q1, Q2 for signature s under modulus n (all little-endian). */
void crypto_rsa_q1q2(const uint8_t n_le[384], const uint8_t s_le[384], uint8_t q1_le[384], uint8_t q2_le[384]);
/*
 * Standard RSASSA-PKCS1-v1_5/SHA-256 verification of msg with the public key
 * (n_be, e), modulus and signature big-endian as PKCS#1 writes them.  An
 * implementation independent of crypto_rsa3072_e3_verify (interoperability checks).
 * Return: true when the signature verifies.
 */
bool crypto_rsa_verify_be(const uint8_t n_be[384], uint32_t e, const void *msg, size_t len, const uint8_t sig_be[384]);

/* AES-128-CMAC. */
void crypto_aes_cmac(const uint8_t key[16], const void *data, size_t len, uint8_t mac[16]);

/* AES-256-GCM with a 12-byte IV. open() returns false on a bad tag. */
void crypto_gcm_seal(const uint8_t key[32], const uint8_t iv[12], const void *aad, size_t aadlen, const void *in,
		     void *out, size_t len, uint8_t tag[16]);
bool crypto_gcm_open(const uint8_t key[32], const uint8_t iv[12], const void *aad, size_t aadlen, const void *in,
		     void *out, size_t len, const uint8_t tag[16]);

/* Cryptographically random bytes (aborts if the system RNG fails). */
void crypto_random(void *buf, size_t len);

#endif /* SGXEMU_CRYPTO_H */
