/* SPDX-License-Identifier: MIT */
/*
 * Host-side pieces the example programs share: a device backend that is
 * sgxemu's with every ioctl and mprotect printed and counted, the signing
 * key, finding the enclave file, output and timing helpers.
 */
#ifndef SGXEMU_EXAMPLES_EX_H
#define SGXEMU_EXAMPLES_EX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loader.h"

struct crypto_rsa;

/* The calls the traced backend counts. */
enum ex_call {
	EX_CREATE,
	EX_ADD_PAGES,
	EX_INIT,
	EX_RESTRICT,	 /* SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS */
	EX_MODIFY_TYPES, /* SGX_IOC_ENCLAVE_MODIFY_TYPES */
	EX_REMOVE,	 /* SGX_IOC_ENCLAVE_REMOVE_PAGES */
	EX_AUGMENT,	 /* SGX_IOC_ENCLAVE_AUGMENT_PAGES */
	EX_MPROTECT,	 /* mprotect of enclave memory */
	EX_OTHER,
	EX_CALLS
};

/* What the traced backend has seen since the last ex_trace_reset(). */
struct ex_counts {
	unsigned calls[EX_CALLS]; /* calls made (failed ones included) */
	uint64_t bytes[EX_CALLS]; /* bytes the successful calls processed (count, or the mprotect length) */
	unsigned failed;	  /* calls that returned -1 */
};

/* Settings of the traced backend (set them before loading). */
struct ex_trace_settings {
	bool print;	     /* print each call after it returns */
	bool print_failures; /* print the calls that fail even when print is false */
	bool offer_augment;  /* false: SGX_IOC_ENCLAVE_AUGMENT_PAGES fails with ENOTTY, as on Linux */
	uint64_t base;	     /* enclave base for printing offsets (0 until known: addresses print raw) */
	const char *indent;  /* before each printed line (default "    ") */
};

extern struct ex_trace_settings ex_trace;

/* sgxemu's backend (sdk_backend_emu) with ioctl and mprotect traced; thread-safe. */
extern const struct sdk_backend ex_backend;

void ex_trace_reset(void);
void ex_trace_counts(struct ex_counts *c);
const char *ex_call_name(enum ex_call k);

/*
 * The signing key: the PEM file at path, or (path NULL) a fresh RSA-3072
 * e=3 key.  Return: the key, or NULL with err naming the file and problem.
 */
struct crypto_rsa *ex_key(const char *path, char *err, size_t errlen);

/*
 * The enclave file: given (if not NULL), else name next to this program's
 * executable, else fallback (the build tree's path).  Return: out.
 */
const char *ex_enclave_path(const char *given, const char *name, const char *fallback, char *out, size_t len);

/* Monotonic clock in milliseconds. */
double ex_now_ms(void);

/* "EACCES" for 13, "0" for 0; a number for names it does not know. */
const char *ex_errno_name(int e);

/* An sdk_write_fn printing the enclave's output through stdio's stdout (ctx: a bool *, true = drop it). */
int64_t ex_write(void *ctx, int fd, const void *buf, size_t len);

/* Parse a signed 64-bit integer (decimal or 0x hex, whole text).  Return: true on success. */
bool ex_parse_i64(const char *text, int64_t *out);

#endif /* SGXEMU_EXAMPLES_EX_H */
