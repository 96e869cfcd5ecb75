/* SPDX-License-Identifier: MIT */
/*
 * A loader of the test enclave (tests/exec/enclave) that uses nothing but
 * the device API of include/sgxemu/sgxemu.h, as a program on a Linux machine
 * with SGX2 uses /dev/sgx_enclave and the vDSO: open, SGX_IOC_ENCLAVE_CREATE,
 * SGX_IOC_ENCLAVE_ADD_PAGES with SGX_PAGE_MEASURE, a SIGSTRUCT signed over
 * the MRENCLAVE this loader computes itself (spec/measurement.md; INIT
 * succeeds only if the emulator measured the same bytes), SGX_IOC_ENCLAVE_INIT,
 * and MAP_SHARED|MAP_FIXED mappings of the ELRANGE.
 *
 * Layout (offsets from ENCL_BASE, abi.h):
 *   0x000000   the image: code R-X, read-only data R, data R-W (mapped so)
 *   ENCL_SLOT(0..3)   four threads, each TCS + 2 SSA frames + thread data +
 *              stacks (as tests/exec/testos.c builds them), mapped R-W
 *   ENCL_SLOT(4..5)   room for threads made at run time (EDMM flow 4)
 *   DEVOS_DYN .. DEVOS_SIZE   the dynamic area (15 MiB), mapped R-W, no pages
 */
#ifndef SGXEMU_TEST_DEVOS_H
#define SGXEMU_TEST_DEVOS_H

#include <stdbool.h>
#include <stdint.h>

#include "enclave/abi.h"
#include "sgxemu/arch.h"
#include "sgxemu/ext.h"
#include "sgxemu/sgxemu.h"

#define DEVOS_SIZE    0x1000000ULL /* 16 MiB ELRANGE */
#define DEVOS_THREADS 4		   /* threads added before INIT: slots 0..3 */
#define DEVOS_SLOTS   6		   /* ENCL_SLOT(0..5) fit before the dynamic area */
#define DEVOS_DYN     0x100000ULL  /* first dynamic page (after the six slots) */
#define DEVOS_DYN_END DEVOS_SIZE

/* Pages a slot holds: TCS, NSSA SSA frames, thread data, two stacks. */
#define DEVOS_SLOT_PAGES (1 + ENCL_NSSA + 1 + 8 + 4)

/* One mapping of the ELRANGE the loader makes. */
struct devos_area {
	uint64_t off, len;
	int prot;
};

struct devos {
	int fd;			   /* the /dev/sgx_enclave descriptor, -1 once closed */
	struct devos_area area[8]; /* the image's segments, then the threads and dynamic area */
	unsigned nareas;
	uint64_t entry;			/* OENTRY (offset from ENCL_BASE) */
	unsigned pages;			/* pages added before INIT */
	uint8_t mrenclave[32];		/* computed by the loader */
	uint8_t mrsigner[32];		/* SHA-256 of the signing key's modulus */
	struct sgx_sigstruct sigstruct; /* what INIT was given */
};

/* Start this process's system (sgxemu_start) with o (NULL: the environment's settings); asserts success. */
void devos_start(const struct sgxemu_options *o);

/*
 * sgxemu_ioctl, made again while it answers EBUSY (another ioctl of the
 * enclave runs, or chaos mode's busy kind: docs/chaos.md), a few dozen
 * times at most; what the loader uses.  Return: as sgxemu_ioctl.
 */
int devos_ioctl(int fd, unsigned long cmd, void *arg);

/* Load, initialise and map the test enclave; asserts every step. */
void devos_load(struct devos *d);

/* Map every area of d again (MAP_SHARED|MAP_FIXED with d->fd); asserts. */
void devos_map(const struct devos *d);

/* Release it as a program does: close the descriptor, then munmap the ELRANGE. */
void devos_unload(struct devos *d);

static inline uint64_t devos_lin(uint64_t off)
{
	return ENCL_BASE + off;
}

static inline uint64_t devos_tcs(unsigned slot)
{
	return devos_lin(ENCL_SLOT(slot) + ENCL_SLOT_TCS);
}

/* Linear address of dynamic page n. */
static inline uint64_t devos_dyn(uint64_t n)
{
	return devos_lin(DEVOS_DYN + n * SGX_PAGE_SIZE);
}

/*
 * The contents of slot's TCS and thread data page as the loader adds them
 * (OENTRY = entry, FS/GS base = the thread data, stack tops, SSA).
 */
void devos_slot_contents(unsigned slot, uint64_t entry, struct sgx_tcs *tcs, uint64_t td[SGX_PAGE_SIZE / 8]);

/*
 * One EENTER on tcs: RDI = op, RSI = a, RDX = b, R8 = c, R9 = out, run
 * zeroed first.  Safe from any thread (no assertion).  Return: what
 * sgxemu_call_enclave returned.
 */
int devos_call(uint64_t tcs, uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t *out,
	       struct sgx_enclave_run *run);

/* Resident and evicted enclave pages now (sgxemu_get_stats). */
struct sgxemu_stats devos_stats(void);

#endif
