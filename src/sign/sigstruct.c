/* SPDX-License-Identifier: MIT */
/* SIGSTRUCT construction and signing (spec/measurement.md §3): what the signing tools do offline. */
#include <string.h>

#include "sigstruct.h"

static const uint8_t header[16] = SGX_SIGSTRUCT_HEADER;
static const uint8_t header2[16] = SGX_SIGSTRUCT_HEADER2;

/* The signed message is two runs of 128 bytes: the header block and the body. */
#define SIGNED_HEAD_LEN 128
#define SIGNED_BODY_OFF offsetof(struct sgx_sigstruct, miscselect)
#define SIGNED_BODY_LEN (offsetof(struct sgx_sigstruct, reserved4) - SIGNED_BODY_OFF)
_Static_assert(SIGNED_BODY_OFF == 900 && SIGNED_BODY_LEN == 128, "SIGSTRUCT signed body is 900..1027");

void sigstruct_init(struct sgx_sigstruct *s, uint32_t date_bcd)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->header, header, sizeof(header));
	memcpy(s->header2, header2, sizeof(header2));
	s->vendor = 0;
	s->date = date_bcd;
	s->exponent = 3;
}

void sigstruct_signed_bytes(const struct sgx_sigstruct *s, uint8_t out[256])
{
	const uint8_t *b = (const uint8_t *)s;
	memcpy(out, b, SIGNED_HEAD_LEN);
	memcpy(out + SIGNED_HEAD_LEN, b + SIGNED_BODY_OFF, SIGNED_BODY_LEN);
}

bool sigstruct_sign(struct sgx_sigstruct *s, const struct crypto_rsa *k)
{
	uint8_t msg[256], sig[SGX_MODULUS_SIZE];
	sigstruct_signed_bytes(s, msg);
	if (!crypto_rsa_sign_le(k, msg, sizeof(msg), sig))
		return false;
	crypto_rsa_modulus_le(k, s->modulus);
	s->exponent = 3;
	memcpy(s->signature, sig, sizeof(sig));
	crypto_rsa_q1q2(s->modulus, s->signature, s->q1, s->q2);
	return true;
}

void sigstruct_mrsigner(const struct sgx_sigstruct *s, uint8_t out[32])
{
	crypto_sha256(s->modulus, sizeof(s->modulus), out);
}
