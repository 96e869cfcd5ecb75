/* SPDX-License-Identifier: MIT */
/*
 * Building and signing SIGSTRUCTs (software, not hardware: the signer of
 * the SDK and the tests use it; EINIT only verifies).
 */
#ifndef SGXEMU_SIGSTRUCT_H
#define SGXEMU_SIGSTRUCT_H

#include <stdbool.h>

#include "crypto.h"
#include "sgxemu/arch.h"

/* Zero s and fill the constant fields: HEADER, HEADER2, VENDOR 0, DATE (BCD, given), EXPONENT 3. */
void sigstruct_init(struct sgx_sigstruct *s, uint32_t date_bcd);
/* The 256 signed bytes: 0..127 then 900..1027. */
void sigstruct_signed_bytes(const struct sgx_sigstruct *s, uint8_t out[256]);
/* Fill MODULUS, EXPONENT=3, SIGNATURE, Q1, Q2 with key k over the signed bytes. Return: false on failure. */
bool sigstruct_sign(struct sgx_sigstruct *s, const struct crypto_rsa *k);
/* MRSIGNER of s: SHA-256 of MODULUS. */
void sigstruct_mrsigner(const struct sgx_sigstruct *s, uint8_t out[32]);

#endif
