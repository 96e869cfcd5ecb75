/* SPDX-License-Identifier: MIT */
/*
 * Test harness for the kernel layer: a kernel with a small EPC, one
 * /dev/sgx_enclave file, ioctls with the real <asm/sgx.h> structs, a signer
 * for EINIT, and an enclave thread model (hw_thread on sgxk_mmu) whose page
 * faults go to sgxk_fault the way the exec layer will send them.
 *
 * Standard test enclave (kh_build), offsets from BASE:
 *   0x0000 TCS (NSSA 2, OSSA 0x1000)    0x1000-0x2fff SSA frames (REG RW)
 *   0x3000 code (REG RX)                 0x4000 SECINFOs (REG RW, see KH_SI_*)
 *   0x5000 data (REG RW, 0x5A bytes)     0x6000.. never added (dynamic)
 * mapped [0,0x3000) RW, [0x3000,0x4000) RX, [0x4000,SIZE) RW.
 */
#ifndef SGXEMU_KERNEL_HARNESS_H
#define SGXEMU_KERNEL_HARNESS_H

#include <asm/sgx.h>
#include <errno.h>
#include <fcntl.h>
#include <criterion/criterion.h>
#include <sys/mman.h>

#include "kernel.h"
#include "sgxemu/ext.h"

#define KH_BASE 0x500000000000ULL
#define KH_SIZE 0x100000ULL /* 1 MiB */

#define KH_TCS	0x0000ULL
#define KH_SSA	0x1000ULL
#define KH_CODE 0x3000ULL
#define KH_SI	0x4000ULL
#define KH_DATA 0x5000ULL
#define KH_DYN	0x6000ULL

/* SECINFOs stored in the KH_SI page (offset of each 64-byte entry). */
#define KH_SI_PENDING_RW 0x000 /* 0x20B REG|PENDING|R|W (EACCEPT of an EAUG'd page) */
#define KH_SI_RX	 0x040 /* 0x205 REG|R|X (EACCEPTCOPY) */
#define KH_SI_TCS	 0x080 /* 0x110 TCS|MODIFIED */
#define KH_SI_TRIM	 0x0C0 /* 0x410 TRIM|MODIFIED */
#define KH_SI_PR_R	 0x100 /* 0x221 REG|PR|R */
#define KH_SI_X		 0x140 /* 0x004 X (EMODPE) */
#define KH_SI_PR_RW	 0x180 /* 0x223 REG|PR|R|W */

#define SI_REG(perm) (SGX_SECINFO_PT(SGX_PT_REG) | (perm))

struct kh {
	struct sgxk *k;
	struct hw_machine *m;
	struct sgx_file *f;
	uint64_t base, size;
};

/* Kernel config for tests: 1 MiB EPC, fixed root secret, RWX policy. */
void kh_config(struct sgxk_config *c);
/* Create the kernel (c NULL: kh_config) and open /dev/sgx_enclave. */
void kh_setup(struct kh *h, const struct sgxk_config *c);
void kh_teardown(struct kh *h);

long kh_ioctl(struct kh *h, unsigned long cmd, void *arg);
/* A default 64-bit SECS (DEBUG|MODE64BIT, XFRM 3, EXINFO, SSAFRAMESIZE 1). */
void kh_secs(struct sgx_secs *s, uint64_t base, uint64_t size);
long kh_create(struct kh *h, uint64_t base, uint64_t size);
/* ADD_PAGES of length bytes at offset, SECINFO flags, contents (NULL: zeros), flags; *count if non-NULL. */
long kh_add(struct kh *h, uint64_t offset, uint64_t length, uint64_t secinfo_flags, const void *content, uint64_t flags,
	    uint64_t *count);
/* Sign the enclave as it is now (MRENCLAVE from the hw view) into sig. */
void kh_sign(struct kh *h, struct sgx_sigstruct *sig);
/* Sign s again with the test key after changing fields. */
void kh_resign(struct sgx_sigstruct *s);
long kh_init(struct kh *h);
/* MRSIGNER of the test signing key. */
void kh_mrsigner(uint8_t out[32]);
/* mmap MAP_SHARED|MAP_FIXED at BASE+off. Return: what sgx_file_mmap returned. */
long kh_mmap(struct kh *h, uint64_t off, uint64_t len, int prot);

/* The standard enclave: created, pages added and measured, mapped; initialised if init. */
void kh_build(struct kh *h, uint64_t size, bool init);

/* EPCM view of the page at enclave offset off. */
struct hw_epcm_view kh_epcm(struct kh *h, uint64_t off);
/* Host pointer to the EPC frame of enclave offset off (through the alias). */
void *kh_frame(struct kh *h, uint64_t off);
/* Bit i: the frame of enclave offset off + i*4096 has host memory (mincore on a mapping of the EPC memfd); n <= 64. */
uint64_t kh_frames_with_memory(struct kh *h, uint64_t off, unsigned n);

/* An enclave thread on the kernel's page tables, registered for kicks. */
void kh_thread(struct kh *h, struct hw_thread *t);
/*
 * ENCLU[leaf] with RBX/RCX/RDX as the exec layer would run it: a #PF without
 * the SGX bit goes to sgxk_fault (after an AEX if the thread is inside) and,
 * if fixed, the thread resumes (ERESUME) and the leaf runs again.  *faults
 * (if non-NULL) counts the faults fixed; *sig (if non-NULL) receives the
 * handler's verdict for the last unfixed fault (SGXK_FAULT_FIXED if none).
 */
struct hw_result kh_enclu(struct kh *h, struct hw_thread *t, uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx,
			  unsigned *faults, enum sgxk_fault *sig);
/* EENTER on the standard TCS; asserts success. */
void kh_enter(struct kh *h, struct hw_thread *t);
/* EEXIT to the AEP; asserts success. */
void kh_exit(struct kh *h, struct hw_thread *t);

/* Outcome formatting for messages. */
const char *kh_fmt(struct hw_result r);

#define kh_assert_ok(r)                                                                                                \
	do {                                                                                                           \
		struct hw_result kh_r_ = (r);                                                                          \
		cr_assert(hw_is_ok(kh_r_), "expected OK, got %s", kh_fmt(kh_r_));                                      \
	} while (0)
#define kh_assert_code(r, c)                                                                                           \
	do {                                                                                                           \
		struct hw_result kh_r_ = (r);                                                                          \
		cr_assert(hw_is_code(kh_r_, c), "expected %s, got %s", hw_error_name(c), kh_fmt(kh_r_));               \
	} while (0)

#endif
