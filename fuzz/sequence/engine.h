/* SPDX-License-Identifier: MIT */
/*
 * The sequence engine shared by fuzz_sequence (the embedding API, in
 * process, under libFuzzer) and fuzz_preload (libc calls interposed by
 * libsgxemu-preload.so): fuzz bytes are decoded into a sequence of device
 * operations, each is predicted by a model of Linux 6.x's SGX driver and
 * mm (model.c), executed through a backend, and the outcome compared.  Any
 * difference aborts with a message naming the operation (docs/fuzzing.md).
 *
 * Input format: an 8-byte header, then records of FZ_REC bytes: one opcode
 * byte and FZ_REC - 1 parameter bytes, each op reading its parameters from
 * fixed offsets of its own record (a mutation stays local to one op).
 * Missing bytes read as zero.
 */
#ifndef SGXEMU_FUZZ_ENGINE_H
#define SGXEMU_FUZZ_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FZ_HDR	   8
#define FZ_REC	   32
#define FZ_MAX_OPS 48

/* Header byte 0. */
#define FZ_HDR_THREADS 0x01 /* a second thread replays part of the sequence on its own enclaves */

/* How the engine reaches the system under test. */
struct fz_backend {
	const char *name;
	int (*open)(const char *path, int flags);
	int (*close)(int fd);
	int (*ioctl)(int fd, unsigned long cmd, void *arg);
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int (*mprotect)(void *addr, size_t len, int prot);
	int (*munmap)(void *addr, size_t len);
	/* Enclave pages resident and evicted (sgxemu_get_stats); NULL when the backend cannot tell. */
	void (*stats)(uint64_t *resident, uint64_t *evicted);
	/* CPUID.(0x12, subleaf) of the emulated machine into r[0..3] = EAX..EDX. */
	void (*cpuid12)(unsigned subleaf, uint32_t r[4]);
	/* Standard-format XSAVE offset and size of component i >= 2 (CPUID.(0xD, i)), 0/0 if unknown. */
	void (*xstate)(unsigned i, uint32_t *offset, uint32_t *size);
	uint64_t epc_size;	  /* bytes, as the backend was started with */
	const char *key_pem_path; /* RSA-3072 e=3 signing key for INIT */
};

/* Set up the engine once per process (scratch memory, platform facts, the key). Return: 0, or -1 with err. */
int fz_init(const struct fz_backend *b, char *err, size_t errlen);
/* Run one input; aborts (after printing the violated invariant) on any difference from the model. */
void fz_run(const uint8_t *data, size_t size);

#endif /* SGXEMU_FUZZ_ENGINE_H */
