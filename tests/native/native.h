/* SPDX-License-Identifier: MIT */
/*
 * Shared by the native tests: one enclave per test process (devos.h),
 * operations of the test enclave on a TCS with their outcome asserted, and
 * the SGX2 ioctls with the real <asm/sgx.h> structs.
 *
 * Operations write their results to the slot's own static output buffer.
 */
#ifndef SGXEMU_TEST_NATIVE_H
#define SGXEMU_TEST_NATIVE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "devos.h"

/* The enclave of this test, its handler records and output buffers (one per slot). */
extern struct devos dv;
extern uint64_t hrec[DEVOS_SLOTS][HREC_WORDS];
extern uint64_t nout[DEVOS_SLOTS][ENCL_OUT_WORDS];

/* .init of the tests: start with o (NULL: environment), load, exception handlers in SKIP 3 mode. */
void native_setup_with(const struct sgxemu_options *o);
void native_setup(void);
void native_teardown(void);

#define SECINFO_REG(perm) (SGX_SECINFO_PT(SGX_PT_REG) | (perm))
#define SI_R		  SGX_SECINFO_R
#define SI_RW		  (SGX_SECINFO_R | SGX_SECINFO_W)
#define SI_RX		  (SGX_SECINFO_R | SGX_SECINFO_X)
#define SI_RWX		  (SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_X)
#define SI_PENDING_RW	  SECINFO_REG(SGX_SECINFO_PENDING | SI_RW) /* 0x20B */

#define EXITINFO_HW(v) (SGX_EXITINFO_VALID | (SGX_EXITINFO_TYPE_HW << SGX_EXITINFO_TYPE_SHIFT) | (v))

/* Offset of an enclave address. */
static inline uint64_t native_off(uint64_t lin)
{
	return lin - ENCL_BASE;
}

/* The run ended with EEXIT; fresh: no exception field was ever written either. */
void native_assert_eexit(const struct sgx_enclave_run *run);
/* The run reported an exception: the whole outcome. */
void native_assert_exception(const struct sgx_enclave_run *run, unsigned function, unsigned vector, unsigned err,
			     uint64_t addr);

/* One EENTER on slot's TCS with nout[slot] as output; asserts the call returned 0; run filled. */
void native_enter(unsigned slot, uint64_t op, uint64_t a, uint64_t b, uint64_t c, struct sgx_enclave_run *run);
/* The same, asserting EEXIT without exception. */
void native_op(unsigned slot, uint64_t op, uint64_t a, uint64_t b, uint64_t c);
/*
 * The same where the operation faults: the exception report is copied to
 * *report (and nout[slot][0] at that moment to *out0), then, in the same
 * vDSO call as an SDK does it, EENTER runs the enclave's handler (CSSA 1:
 * it records the SSA into hrec[slot] and fixes the interrupted code up,
 * native_handler) and ERESUME completes the operation.  Asserts exactly one
 * exception and a final EEXIT.
 */
void native_fault(unsigned slot, uint64_t op, uint64_t a, uint64_t b, uint64_t c, struct sgx_enclave_run *report,
		  uint64_t *out0);

/* EACCEPT / EACCEPTCOPY from the enclave; asserts EEXIT and ZF == (RAX != 0); returns RAX. */
uint64_t native_eaccept(unsigned slot, uint64_t page, uint64_t flags);
uint64_t native_eacceptcopy(unsigned slot, uint64_t dst, uint64_t src, uint64_t flags);
/* Read/write a word in the enclave; asserts EEXIT. */
uint64_t native_read(unsigned slot, uint64_t addr);
void native_write(unsigned slot, uint64_t addr, uint64_t value);
/* Fill an enclave page (OP_COPY) with bytes, the rest 0xCC (int3); asserts EEXIT. */
void native_fill(unsigned slot, uint64_t page, const void *bytes, size_t n);
/* EACCEPT page as a fresh dynamic RW page (EAUG on the fault if needed); asserts success. */
void native_accept_rw(unsigned slot, uint64_t page);

/*
 * Set slot's exception handler mode: HANDLER_SKIP skips 3 bytes, the length
 * of the load, store, division and ENCLU the operations fault on (not ud2);
 * HANDLER_RET returns from OP_EXEC's callee; HANDLER_ACCEPT.
 */
void native_handler(unsigned slot, uint64_t mode);

/* The SGX2 ioctls on the test enclave: sgxemu_ioctl's return (-1 with errno) and the struct written back. */
int native_restrict(uint64_t off, uint64_t len, uint64_t perms, struct sgx_enclave_restrict_permissions *a);
int native_modify(uint64_t off, uint64_t len, uint64_t type, struct sgx_enclave_modify_types *a);
int native_remove(uint64_t off, uint64_t len, struct sgx_enclave_remove_pages *a);
int native_augment(uint64_t off, uint64_t len, uint64_t secinfo_flags, struct sgx_enclave_augment_pages *a);

/* Assert an ioctl / mmap / mprotect outcome: return value and errno. */
#define native_assert_fails(expr, err)                                                                                 \
	do {                                                                                                           \
		errno = 0;                                                                                             \
		int native_r_ = (expr);                                                                                \
		int native_e_ = errno;                                                                                 \
		cr_assert_eq(native_r_, -1, #expr " returned %d, expected -1 (%s)", native_r_, strerror(err));         \
		cr_assert_eq(native_e_, (err), #expr ": errno %s, expected %s", strerror(native_e_), strerror(err));   \
	} while (0)
#define native_assert_ok(expr)                                                                                         \
	do {                                                                                                           \
		errno = 0;                                                                                             \
		int native_r_ = (expr);                                                                                \
		cr_assert_eq(native_r_, 0, #expr " returned %d: %s", native_r_, strerror(errno));                      \
	} while (0)

/* x86-64: mov %rdi,%rax; add $1,%rax; ret */
extern const uint8_t native_inc_code[8];

#endif
