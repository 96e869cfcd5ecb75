/* SPDX-License-Identifier: MIT */
/*
 * Host-side pieces the example programs share: a device backend that is
 * sgxemu's with every ioctl and mprotect printed and counted, the command
 * line, the signing key, finding, signing and loading the enclave,
 * messages, output and timing helpers.
 */
#ifndef SGXEMU_EXAMPLES_EX_H
#define SGXEMU_EXAMPLES_EX_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sgxemu/loader.h"

struct crypto_rsa;
struct sgxemu_options;

/* The program's name in messages ("heap-demo"), set by ex_parse_args. */
extern const char *ex_prog;
/* Set by ex_fail: a step or check failed. */
extern bool ex_failed;

/* Print "PROG: message" to stderr and set ex_failed. */
void ex_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The options every example takes. */
struct ex_args {
	bool quiet;	     /* --quiet */
	const char *key;     /* --key KEY.pem; NULL: a fresh key */
	const char *enclave; /* --enclave ELF; NULL: the enclave next to the program */
};

/* One of the program's own options (getopt_long's val and optarg).  Return: 0, or an exit status. */
typedef int (*ex_option_fn)(int c, const char *arg, void *ctx);

/*
 * The command line of the program prog: --quiet, --key, --enclave and
 * --help (usage(stdout)) into a, the options in own (a getopt_long table
 * ending with a zeroed entry) through option.  Unknown options, missing
 * values and extra arguments are usage errors.
 * Return: -1 to go on, or the status main returns (0 after --help, 2 for a
 * usage error, or what option returned).
 */
int ex_parse_args(const char *prog, int argc, char **argv, const struct option *own, ex_option_fn option, void *ctx,
		  void (*usage)(FILE *), struct ex_args *a);

/*
 * The value of --name as a number (size: K, M and G suffixes too).
 * Return: 0, or 2 after printing "PROG: --name VALUE: problem".
 */
int ex_number_arg(const char *name, const char *arg, bool size, uint64_t *out);

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
const struct sdk_backend *ex_backend(void);

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

/* The signing key, the enclave file and its image and SIGSTRUCT (ex_prepare). */
struct ex_image {
	struct crypto_rsa *key;
	struct sdk_image *img;
	struct sgx_sigstruct sig;
	char path[4096];
};

/*
 * Start sgxemu with so (NULL: the environment's settings), read or make the
 * signing key (a->key), find the enclave file (ex_enclave_path with
 * a->enclave, name and fallback), build its image under cfg and sign it.
 * Return: 0, or -1 after ex_fail (x holds what was made, for ex_finish).
 */
int ex_prepare(const struct ex_args *a, const struct sgxemu_options *so, const char *name, const char *fallback,
	       const struct sdk_config *cfg, struct ex_image *x);

/*
 * Load x's enclave through ex_backend(), its output through ex_write (quiet
 * drops it), then trace the calls that follow (ex_trace.base), printing
 * them unless *quiet.  Return: the enclave, or NULL after ex_fail.
 */
struct sdk_enclave *ex_load(const struct ex_image *x, bool *quiet);

/*
 * ECALL index on TCS 0; the call failing or the enclave returning nonzero
 * goes through ex_fail ("what: ...").  Return: 0, or -1.
 */
int ex_ecall(struct sdk_enclave *e, uint32_t index, void *arg, uint64_t len, const char *what);

/* Stop printing calls, destroy e (may be NULL), free x's image and key, flush stdout. */
void ex_finish(struct sdk_enclave *e, struct ex_image *x);

/* Monotonic clock in milliseconds. */
double ex_now_ms(void);

/* "EACCES" for 13, "0" for 0; a number for names it does not know. */
const char *ex_errno_name(int e);

/* An sdk_write_fn printing the enclave's output through stdio's stdout (ctx: a bool *, true = drop it). */
int64_t ex_write(void *ctx, int fd, const void *buf, size_t len);

/* Parse a signed 64-bit integer (decimal or 0x hex, whole text).  Return: true on success. */
bool ex_parse_i64(const char *text, int64_t *out);

#endif /* SGXEMU_EXAMPLES_EX_H */
