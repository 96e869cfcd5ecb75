/* SPDX-License-Identifier: MIT */
/*
 * Test harness for the hw model: a machine with a small EPC, an enclave's
 * frames laid out like the kernel will lay them out (enclave offset o at
 * window + o; the SECS in a window of its own), and a page table playing the
 * process's for ENCLU.
 */
#ifndef SGXEMU_TEST_HARNESS_H
#define SGXEMU_TEST_HARNESS_H

#include <criterion/criterion.h>

#include "hw.h"
#include "pagetable.h"

struct th {
	struct hw_machine *m;
	struct pagetable pt; /* identity for host memory, enclave pages as mapped */
	uint64_t base, size; /* ELRANGE */
	uint64_t window;     /* physical frames of the ELRANGE */
	uint64_t secs_pa;    /* the SECS frame */
	struct sgx_secs secs;
};

/* Machine with a 1 MiB EPC and a fixed root secret. Aborts the test on failure. */
struct hw_machine *th_machine(void);

/* A default 64-bit SECS: base 0x7f0000000000 + size, SSAFRAMESIZE 1, XFRM 3, EXINFO. */
void th_secs_default(struct sgx_secs *s, uint64_t base, uint64_t size);

/*
 * For a test that needs more XSAVE features (set before th_machine and
 * th_secs_default; each test runs in a process of its own): th_machine_hook
 * edits the configuration before the machine is made (e.g. the host's XFRM
 * side with exec_cpu_hw_config), th_secs_xfrm replaces the default XFRM.
 * NULL and 0: the defaults.
 */
extern void (*th_machine_hook)(struct hw_config *c);
extern uint64_t th_secs_xfrm;

/* Allocate the windows and ECREATE with t->secs (filled by the caller, or default). */
struct hw_result th_ecreate(struct th *t);
/* Set up t with a default SECS of `size` and ECREATE it; asserts success. */
void th_setup(struct th *t, uint64_t size);
void th_teardown(struct th *t);

/* Physical address of the frame of enclave offset off. */
static inline uint64_t th_pa(const struct th *t, uint64_t off)
{
	return t->window + off;
}

/* EADD one page at offset off with SECINFO flags and contents (NULL = zeros). */
struct hw_result th_eadd(struct th *t, uint64_t off, uint64_t flags, const void *content);
/* EEXTEND all 16 chunks of the page at off; returns the first failure. */
struct hw_result th_eextend_page(struct th *t, uint64_t off);

/* Map enclave offset off in the page table with prot (HW_ACC_*). */
void th_map(struct th *t, uint64_t off, unsigned prot);

/* Hex of 32 bytes into out[65]. */
void th_hex32(const uint8_t *d, char out[65]);

/* Assert helpers on outcomes; each evaluates its outcome argument exactly once. */
#define th_assert_ok(r)                                                                                                \
	do {                                                                                                           \
		struct hw_result th_r_ = (r);                                                                          \
		cr_assert(hw_is_ok(th_r_), "expected OK, got %s", th_fmt(th_r_));                                      \
	} while (0)
#define th_assert_gp(r)                                                                                                \
	do {                                                                                                           \
		struct hw_result th_r_ = (r);                                                                          \
		cr_assert(hw_is_fault(th_r_, X86_GP), "expected #GP(0), got %s", th_fmt(th_r_));                       \
	} while (0)
#define th_assert_pf(r, a, e)                                                                                          \
	do {                                                                                                           \
		struct hw_result th_r_ = (r);                                                                          \
		cr_assert(hw_is_fault(th_r_, X86_PF) && th_r_.addr == (a) && th_r_.errcode == (e),                     \
			  "expected #PF(%#llx, %#x), got %s", (unsigned long long)(a), (unsigned)(e), th_fmt(th_r_));  \
	} while (0)
#define th_assert_code(r, c)                                                                                           \
	do {                                                                                                           \
		struct hw_result th_r_ = (r);                                                                          \
		cr_assert(hw_is_code(th_r_, c), "expected %s, got %s", hw_error_name(c), th_fmt(th_r_));               \
	} while (0)

/* Format an outcome (static buffer rotated among 4, for assertion messages). */
const char *th_fmt(struct hw_result r);

/* Test-only: mark t's enclave initialised (SECS ATTRIBUTES.INIT) without EINIT, under the machine lock. */
void th_force_init(struct th *t);

#endif
