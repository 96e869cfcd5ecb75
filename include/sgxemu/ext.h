/* SPDX-License-Identifier: MIT */
/*
 * sgxemu's user API beyond Linux's <asm/sgx.h>: the explicit AUGMENT ioctl
 * and the names of the dynamic-page policy settings (docs/policy.md).
 *
 * The ioctl uses the SGX magic 0xA4 with a number Linux does not use, so a
 * program built against this header still runs unchanged on Linux (where
 * the call fails with ENOTTY and the program falls back to EAUG on #PF).
 */
#ifndef SGXEMU_EXT_H
#define SGXEMU_EXT_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * struct sgx_enclave_augment_pages - parameters of %SGX_IOC_ENCLAVE_AUGMENT_PAGES
 * @offset:  first page, relative to SECS.BASEADDR (4 KiB aligned)
 * @length:  bytes to add (non-zero multiple of 4 KiB)
 * @secinfo: address of a 64-byte SECINFO: PT_REG and the pages' maximum
 *           permissions (R/W/X, within the dynamic-page policy); no other bit
 * @count:   (output) bytes added; must be 0 on input
 *
 * Each page is EAUG'd (zero-filled, EPCM RW, PENDING) exactly as the page
 * fault handler would, with vm_max_prot_bits taken from @secinfo.  Pages
 * already covered by a mapping get their PTE at once, so the enclave can
 * EACCEPT or EACCEPTCOPY them without a fault.
 *
 * Errors: ENODEV (no SGX2), EINVAL (not initialised, offset/length, count
 * non-zero, bad SECINFO), EFAULT (copy, EAUG failed), EPERM (permissions
 * above the policy's ceiling), EBUSY (a page already exists at an address),
 * ENOMEM (no EPC page could be freed).  `count` is written in every case.
 */
struct sgx_enclave_augment_pages {
	__u64 offset;
	__u64 length;
	__u64 secinfo;
	__u64 count;
};

#define SGX_IOC_ENCLAVE_AUGMENT_PAGES _IOWR(0xA4, 0x20, struct sgx_enclave_augment_pages)

/* Environment settings (docs/policy.md, docs/embedding.md). */
#define SGXEMU_ENV_EPC_SIZE		"SGXEMU_EPC_SIZE"	      /* bytes, suffix K/M/G */
#define SGXEMU_ENV_DYN_POLICY		"SGXEMU_DYN_POLICY"	      /* rw | wx-exclusive | rwx */
#define SGXEMU_ENV_EXEC_ALLOW_MRSIGNER	"SGXEMU_EXEC_ALLOW_MRSIGNER"  /* comma-separated 64-hex values */
#define SGXEMU_ENV_EXEC_ALLOW_MRENCLAVE "SGXEMU_EXEC_ALLOW_MRENCLAVE" /* comma-separated 64-hex values */
#define SGXEMU_ENV_EPC_POPULATE		"SGXEMU_EPC_POPULATE"	      /* 1 (default) | 0: frames in batches */
#define SGXEMU_ENV_CHAOS		"SGXEMU_CHAOS"		      /* SEED[:KIND[=N],...] (docs/chaos.md) */
#define SGXEMU_ENV_CHECK		"SGXEMU_CHECK"		      /* 1: the EDMM protocol checker (docs/chaos.md) */
/* Observation (docs/embedding.md "Tracing and summaries"). */
#define SGXEMU_ENV_TRACE_FILE "SGXEMU_TRACE_FILE" /* trace-event JSON file; %p: the process id */
#define SGXEMU_ENV_SUMMARY    "SGXEMU_SUMMARY"	  /* 1: counters on stderr at exit */
#define SGXEMU_ENV_EPC_MAP    "SGXEMU_EPC_MAP"	  /* 1: the EPC map of the enclaves on stderr at exit */
#define SGXEMU_ENV_REPORT_DIR "SGXEMU_REPORT_DIR" /* summary and map into files there (sgxemu run) */

#endif /* SGXEMU_EXT_H */
