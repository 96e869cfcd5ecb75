/* SPDX-License-Identifier: MIT */
/*
 * Interoperability: a SIGSTRUCT written by `sgxemu sign`, converted as
 * spec/measurement.md §3 says (signed message = bytes 0..127 and 900..1027;
 * MODULUS and SIGNATURE byte-reversed to big-endian), verifies with the
 * openssl command line tool as an ordinary RSASSA-PKCS1-v1_5/SHA-256
 * signature under the public key (MODULUS, EXPONENT).  Skipped, with the
 * reason, when no openssl binary is installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_keys.h"
#include "sigstruct.h"
#include "util.h"

static char *g_dir;

static void setup(void)
{
	g_dir = make_temp_dir();
}

static void teardown(void)
{
	rm_rf(g_dir);
	free(g_dir);
}

static const char *tmp(const char *name)
{
	static char bufs[8][4096];
	static unsigned i;
	char *b = bufs[i++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", g_dir, name);
	return b;
}

/* DER length octets of n at p; returns how many were written. */
static size_t der_len(uint8_t *p, size_t n)
{
	if (n < 128) {
		p[0] = (uint8_t)n;
		return 1;
	}
	p[0] = 0x82;
	p[1] = (uint8_t)(n >> 8);
	p[2] = (uint8_t)n;
	return 3;
}

/* A DER INTEGER of the big-endian unsigned bytes v[0..n) (a 0 first when the top bit is set). */
static size_t der_uint(uint8_t *p, const uint8_t *v, size_t n)
{
	while (n > 1 && v[0] == 0) {
		v++;
		n--;
	}
	bool pad = v[0] & 0x80;
	size_t k = 0;
	p[k++] = 0x02;
	k += der_len(p + k, n + pad);
	if (pad)
		p[k++] = 0;
	memcpy(p + k, v, n);
	return k + n;
}

/* SubjectPublicKeyInfo (RFC 5280) of an RSA key (RFC 8017 RSAPublicKey). Return: its length. */
static size_t rsa_spki(uint8_t *out, const uint8_t n_be[384], uint32_t e)
{
	static const uint8_t alg[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
				      0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
	uint8_t ints[400], e_be[4] = {(uint8_t)(e >> 24), (uint8_t)(e >> 16), (uint8_t)(e >> 8), (uint8_t)e};
	size_t il = der_uint(ints, n_be, 384);
	il += der_uint(ints + il, e_be, 4);
	uint8_t rsapub[410];
	size_t rl = 0;
	rsapub[rl++] = 0x30;
	rl += der_len(rsapub + rl, il);
	memcpy(rsapub + rl, ints, il);
	rl += il;
	uint8_t bits[420];
	size_t bl = 0;
	bits[bl++] = 0x03;
	bl += der_len(bits + bl, rl + 1);
	bits[bl++] = 0; /* no unused bits */
	memcpy(bits + bl, rsapub, rl);
	bl += rl;
	size_t k = 0;
	out[k++] = 0x30;
	k += der_len(out + k, sizeof(alg) + bl);
	memcpy(out + k, alg, sizeof(alg));
	k += sizeof(alg);
	memcpy(out + k, bits, bl);
	return k + bl;
}

#define RUN(r, ...)                                                                                                    \
	do {                                                                                                           \
		const char *const argv_[] = {__VA_ARGS__, NULL};                                                       \
		run_argv((r), argv_);                                                                                  \
	} while (0)

TestSuite(openssl, .timeout = 60);

Test(openssl, sigstruct_verifies_with_openssl_dgst, .init = setup, .fini = teardown)
{
	if (!in_path("openssl"))
		cr_skip_test(
		    "no openssl binary in PATH: the interoperability check needs the openssl command line tool");

	/* 1. Sign the fixture with the CLI. */
	struct run r;
	const char *sig = tmp("enclave.sigstruct");
	RUN(&r, SGXEMU_BIN, "sign", "--key", ck_key_path(), "-o", sig, FIXTURE_ELF);
	cr_assert_eq(r.status, 0, "sign: %s", r.err);
	run_free(&r);
	size_t len;
	uint8_t *buf = read_file(sig, &len);
	cr_assert_eq(len, sizeof(struct sgx_sigstruct));
	struct sgx_sigstruct s;
	memcpy(&s, buf, sizeof(s));
	free(buf);

	/* 2. Convert: the signed bytes as they are, MODULUS and SIGNATURE reversed, the key as DER. */
	uint8_t msg[256], n_be[384], sig_be[384], der[512];
	memcpy(msg, &s, 128);
	memcpy(msg + 128, (const uint8_t *)&s + 900, 128);
	for (int i = 0; i < 384; i++) {
		n_be[i] = s.modulus[383 - i];
		sig_be[i] = s.signature[383 - i];
	}
	write_file(tmp("data.bin"), msg, sizeof(msg));
	write_file(tmp("sig.bin"), sig_be, sizeof(sig_be));
	write_file(tmp("pub.der"), der, rsa_spki(der, n_be, s.exponent));

	/* 3. openssl reads the key back (checking the DER) and verifies the signature. */
	RUN(&r, "openssl", "pkey", "-pubin", "-inform", "DER", "-in", tmp("pub.der"), "-out", tmp("pub.pem"));
	cr_assert_eq(r.status, 0, "openssl pkey: %s", r.err);
	run_free(&r);
	RUN(&r, "openssl", "dgst", "-sha256", "-verify", tmp("pub.pem"), "-signature", tmp("sig.bin"), tmp("data.bin"));
	cr_assert_eq(r.status, 0, "openssl dgst: %s%s", r.out, r.err);
	cr_assert_str_eq(r.out, "Verified OK\n");
	run_free(&r);

	/* 4. The public key is the signing key's: openssl derives the same PEM from KEY.pem. */
	RUN(&r, "openssl", "pkey", "-in", ck_key_path(), "-pubout", "-out", tmp("key-pub.pem"));
	cr_assert_eq(r.status, 0, "openssl pkey -pubout: %s", r.err);
	run_free(&r);
	size_t la, lb;
	uint8_t *a = read_file(tmp("pub.pem"), &la), *b = read_file(tmp("key-pub.pem"), &lb);
	cr_assert(la == lb && memcmp(a, b, la) == 0, "public key from MODULUS differs from the key file's");
	free(a);
	free(b);

	/* 5. One changed signed byte (ISVSVN, offset 1026) fails the same check. */
	msg[128 + 1026 - 900] ^= 1;
	write_file(tmp("data.bin"), msg, sizeof(msg));
	RUN(&r, "openssl", "dgst", "-sha256", "-verify", tmp("pub.pem"), "-signature", tmp("sig.bin"), tmp("data.bin"));
	cr_assert_eq(r.status, 1, "tampered data verified: %s", r.out);
	cr_assert_str_eq(r.out, "Verification failure\n");
	run_free(&r);
}
