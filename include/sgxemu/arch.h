/* SPDX-License-Identifier: MIT */
/*
 * SGX architectural structures and constants (Intel SDM vol. 3D, ch. 34-38).
 *
 * Little-endian, packed, explicit reserved fields.  Every size and every
 * field offset is checked at compile time, so a misplaced field cannot
 * silently change what the leaves read.
 */
#ifndef SGXEMU_ARCH_H
#define SGXEMU_ARCH_H

#include <stddef.h>
#include <stdint.h>

#define SGX_PAGE_SIZE 4096ULL
#define SGX_PAGE_MASK (~(SGX_PAGE_SIZE - 1))

/* ENCLS leaf numbers (EAX). */
enum sgx_encls_leaf {
	ENCLS_ECREATE = 0x00,
	ENCLS_EADD = 0x01,
	ENCLS_EINIT = 0x02,
	ENCLS_EREMOVE = 0x03,
	ENCLS_EDBGRD = 0x04,
	ENCLS_EDBGWR = 0x05,
	ENCLS_EEXTEND = 0x06,
	ENCLS_ELDB = 0x07,
	ENCLS_ELDU = 0x08,
	ENCLS_EBLOCK = 0x09,
	ENCLS_EPA = 0x0A,
	ENCLS_EWB = 0x0B,
	ENCLS_ETRACK = 0x0C,
	ENCLS_EAUG = 0x0D,
	ENCLS_EMODPR = 0x0E,
	ENCLS_EMODT = 0x0F,
};

/* ENCLU leaf numbers (EAX). */
enum sgx_enclu_leaf {
	ENCLU_EREPORT = 0x00,
	ENCLU_EGETKEY = 0x01,
	ENCLU_EENTER = 0x02,
	ENCLU_ERESUME = 0x03,
	ENCLU_EEXIT = 0x04,
	ENCLU_EACCEPT = 0x05,
	ENCLU_EMODPE = 0x06,
	ENCLU_EACCEPTCOPY = 0x07,
	ENCLU_EDECCSSA = 0x09, /* AEX-Notify: CPUID.(0x12,0).EAX[11] */
};

/* SGX error codes returned in RAX (ZF=1, or CF=1 for the EBLOCK/EWB warnings). */
enum sgx_error {
	SGX_SUCCESS = 0,
	SGX_INVALID_SIG_STRUCT = 1,
	SGX_INVALID_ATTRIBUTE = 2,
	SGX_BLKSTATE = 3,
	SGX_INVALID_MEASUREMENT = 4,
	SGX_NOTBLOCKABLE = 5,
	SGX_PG_INVLD = 6,
	SGX_EPC_PAGE_CONFLICT = 7,
	SGX_INVALID_SIGNATURE = 8,
	SGX_MAC_COMPARE_FAIL = 9,
	SGX_PAGE_NOT_BLOCKED = 10,
	SGX_NOT_TRACKED = 11,
	SGX_VA_SLOT_OCCUPIED = 12,
	SGX_CHILD_PRESENT = 13,
	SGX_ENCLAVE_ACT = 14,
	SGX_ENTRYEPOCH_LOCKED = 15,
	SGX_INVALID_EINITTOKEN = 16,
	SGX_PREV_TRK_INCMPL = 17,
	SGX_PG_IS_SECS = 18,
	SGX_PAGE_ATTRIBUTES_MISMATCH = 19,
	SGX_PAGE_NOT_MODIFIABLE = 20,
	SGX_PAGE_NOT_DEBUGGABLE = 21,
	SGX_TRACK_NOT_REQUIRED = 27,
	SGX_INVALID_CPUSVN = 32,
	SGX_INVALID_ISVSVN = 64,
	SGX_UNMASKED_EVENT = 128,
	SGX_INVALID_KEYNAME = 256,
};

/* Page types (EPCM.PT, SECINFO.FLAGS[15:8]). */
enum sgx_page_type {
	SGX_PT_SECS = 0,
	SGX_PT_TCS = 1,
	SGX_PT_REG = 2,
	SGX_PT_VA = 3,
	SGX_PT_TRIM = 4,
	SGX_PT_SS_FIRST = 5,
	SGX_PT_SS_REST = 6,
};

/* SECINFO.FLAGS bits. */
#define SGX_SECINFO_R	      (1ULL << 0)
#define SGX_SECINFO_W	      (1ULL << 1)
#define SGX_SECINFO_X	      (1ULL << 2)
#define SGX_SECINFO_PENDING   (1ULL << 3)
#define SGX_SECINFO_MODIFIED  (1ULL << 4)
#define SGX_SECINFO_PR	      (1ULL << 5)
#define SGX_SECINFO_PERM_MASK 0x7ULL
#define SGX_SECINFO_PT_SHIFT  8
#define SGX_SECINFO_PT_MASK   (0xFFULL << SGX_SECINFO_PT_SHIFT)
/* Bits that may be non-zero in SECINFO.FLAGS; everything else is reserved. */
#define SGX_SECINFO_VALID_MASK (0x3FULL | SGX_SECINFO_PT_MASK)
#define SGX_SECINFO_PT(pt)     ((uint64_t)(pt) << SGX_SECINFO_PT_SHIFT)

/* SECS.ATTRIBUTES.FLAGS bits. */
#define SGX_ATTR_INIT	       (1ULL << 0)
#define SGX_ATTR_DEBUG	       (1ULL << 1)
#define SGX_ATTR_MODE64BIT     (1ULL << 2)
#define SGX_ATTR_PROVISIONKEY  (1ULL << 4)
#define SGX_ATTR_EINITTOKENKEY (1ULL << 5)
#define SGX_ATTR_CET	       (1ULL << 6)
#define SGX_ATTR_KSS	       (1ULL << 7)
#define SGX_ATTR_AEXNOTIFY     (1ULL << 10)
/* Bits the architecture reserves (must be 0 everywhere). */
#define SGX_ATTR_RESERVED_MASK                                                                                         \
	(~(SGX_ATTR_INIT | SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT | SGX_ATTR_PROVISIONKEY | SGX_ATTR_EINITTOKENKEY |      \
	   SGX_ATTR_CET | SGX_ATTR_KSS | SGX_ATTR_AEXNOTIFY))

/* SECS.MISCSELECT bits. */
#define SGX_MISC_EXINFO (1U << 0)

/* TCS.FLAGS bits. */
#define SGX_TCS_DBGOPTIN       (1ULL << 0)
#define SGX_TCS_AEXNOTIFY      (1ULL << 1)
#define SGX_TCS_FLAGS_RESERVED (~(SGX_TCS_DBGOPTIN | SGX_TCS_AEXNOTIFY))

/* EXITINFO fields. */
#define SGX_EXITINFO_VECTOR_MASK 0xFFU
#define SGX_EXITINFO_TYPE_SHIFT	 8
#define SGX_EXITINFO_TYPE_HW	 3U
#define SGX_EXITINFO_TYPE_SW	 6U
#define SGX_EXITINFO_VALID	 (1U << 31)

/* #PF error code bits, as seen in EXINFO.ERRCD and by the OS. */
#define PF_P	(1U << 0)
#define PF_W	(1U << 1)
#define PF_U	(1U << 2)
#define PF_RSVD (1U << 3)
#define PF_I	(1U << 4)
#define PF_PK	(1U << 5)
#define PF_SS	(1U << 6)
#define PF_SGX	(1U << 15)

/* Exception vectors. */
enum x86_vector {
	X86_DE = 0,
	X86_DB = 1,
	X86_BP = 3,
	X86_BR = 5,
	X86_UD = 6,
	X86_GP = 13,
	X86_PF = 14,
	X86_MF = 16,
	X86_AC = 17,
	X86_XM = 19,
	X86_CP = 21,
};

/* KEYREQUEST.KEYNAME values. */
enum sgx_keyname {
	SGX_KEY_EINITTOKEN = 0,
	SGX_KEY_PROVISION = 1,
	SGX_KEY_PROVISION_SEAL = 2,
	SGX_KEY_REPORT = 3,
	SGX_KEY_SEAL = 4,
};

/* KEYREQUEST.KEYPOLICY bits. */
#define SGX_KEYPOLICY_MRENCLAVE	   (1U << 0)
#define SGX_KEYPOLICY_MRSIGNER	   (1U << 1)
#define SGX_KEYPOLICY_NOISVPRODID  (1U << 2)
#define SGX_KEYPOLICY_CONFIGID	   (1U << 3)
#define SGX_KEYPOLICY_ISVFAMILYID  (1U << 4)
#define SGX_KEYPOLICY_ISVEXTPRODID (1U << 5)
#define SGX_KEYPOLICY_KSS_MASK	   0x3CU
#define SGX_KEYPOLICY_RESERVED	   (~0x3FU & 0xFFFFU)

/* SECS: one per enclave, never accessible to software after ECREATE. */
struct sgx_secs {
	uint64_t size;		 /* ELRANGE size in bytes, power of two */
	uint64_t base;		 /* ELRANGE base, aligned to size */
	uint32_t ssa_frame_size; /* one SSA frame, in pages */
	uint32_t miscselect;	 /* MISC region selection */
	uint8_t reserved1[24];
	uint64_t attributes;   /* ATTRIBUTES.FLAGS */
	uint64_t xfrm;	       /* ATTRIBUTES.XFRM */
	uint8_t mrenclave[32]; /* written by hardware */
	uint8_t reserved2[32];
	uint8_t mrsigner[32]; /* written by EINIT */
	uint8_t reserved3[32];
	uint8_t config_id[64];	 /* KSS only */
	uint16_t isv_prod_id;	 /* from SIGSTRUCT at EINIT */
	uint16_t isv_svn;	 /* from SIGSTRUCT at EINIT */
	uint16_t config_svn;	 /* KSS only */
	uint8_t reserved4[3834]; /* hardware-private state lives here */
} __attribute__((packed));

/* TCS: thread control structure. */
struct sgx_tcs {
	uint64_t state;	  /* busy flag: 1 while a thread is inside */
	uint64_t flags;	  /* DBGOPTIN, AEXNOTIFY */
	uint64_t ossa;	  /* SSA stack offset from BASEADDR */
	uint32_t cssa;	  /* current SSA frame */
	uint32_t nssa;	  /* number of SSA frames */
	uint64_t oentry;  /* entry point offset from BASEADDR */
	uint64_t aep;	  /* AEP of the last entry */
	uint64_t ofsbase; /* FS base offset from BASEADDR */
	uint64_t ogsbase; /* GS base offset from BASEADDR */
	uint32_t fslimit; /* 32-bit enclaves only */
	uint32_t gslimit; /* 32-bit enclaves only */
	uint8_t reserved[4024];
} __attribute__((packed));

/* GPRSGX: the last 184 bytes of an SSA frame. */
struct sgx_gprsgx {
	uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rflags;
	uint64_t rip;
	uint64_t ursp;	   /* untrusted RSP saved by EENTER */
	uint64_t urbp;	   /* untrusted RBP saved by EENTER */
	uint32_t exitinfo; /* vector, type, valid */
	uint8_t reserved[3];
	uint8_t aexnotify; /* bit 0 */
	uint64_t fsbase;
	uint64_t gsbase;
} __attribute__((packed));

/* EXINFO: #PF/#GP details in the MISC region when MISCSELECT.EXINFO. */
struct sgx_exinfo {
	uint64_t maddr; /* faulting linear address (#PF), 0 for #GP */
	uint32_t errcd; /* exception error code */
	uint32_t reserved;
} __attribute__((packed));

#define SGX_GPRSGX_SIZE 184U
#define SGX_EXINFO_SIZE 16U

/* SECINFO: page attributes for EADD/EACCEPT/EMOD*. */
struct sgx_secinfo {
	uint64_t flags;
	uint8_t reserved[56];
} __attribute__((packed, aligned(64)));

/* PAGEINFO: operand block of EADD/EAUG/EWB/ELDU/ECREATE. */
struct sgx_pageinfo {
	uint64_t linaddr; /* enclave linear address */
	uint64_t srcpge;  /* source or encrypted page */
	uint64_t secinfo; /* SECINFO, or PCMD for EWB/ELDU */
	uint64_t secs;	  /* EPC address of the owner SECS */
} __attribute__((packed, aligned(32)));

/* PCMD: paging crypto metadata written by EWB, consumed by ELDU. */
struct sgx_pcmd {
	struct sgx_secinfo secinfo; /* type and state of the evicted page */
	uint64_t enclave_id;	    /* EID of the owner */
	uint8_t reserved[40];
	uint8_t mac[16]; /* tag over header and page */
} __attribute__((packed, aligned(128)));

#define SGX_VA_SLOTS 512U

#define SGX_SIGSTRUCT_HEADER                                                                                           \
	{                                                                                                              \
		0x06, 0x00, 0x00, 0x00, 0xE1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00         \
	}
#define SGX_SIGSTRUCT_HEADER2                                                                                          \
	{                                                                                                              \
		0x01, 0x01, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00         \
	}
#define SGX_MODULUS_SIZE	   384U
#define SGX_SIGSTRUCT_VENDOR_INTEL 0x8086U

/* SIGSTRUCT: the enclave author's signature over the expected identity. */
struct sgx_sigstruct {
	uint8_t header[16];
	uint32_t vendor; /* 0 or 0x8086 */
	uint32_t date;	 /* BCD yyyymmdd */
	uint8_t header2[16];
	uint32_t swdefined;
	uint8_t reserved1[84];
	uint8_t modulus[SGX_MODULUS_SIZE];   /* little-endian */
	uint32_t exponent;		     /* must be 3 */
	uint8_t signature[SGX_MODULUS_SIZE]; /* little-endian */
	uint32_t miscselect;
	uint32_t miscmask;
	uint8_t reserved2[4];
	uint8_t isv_family_id[16];
	uint64_t attributes;
	uint64_t xfrm;
	uint64_t attributes_mask;
	uint64_t xfrm_mask;
	uint8_t enclave_hash[32]; /* expected MRENCLAVE */
	uint8_t reserved3[16];
	uint8_t isv_ext_prod_id[16];
	uint16_t isv_prod_id;
	uint16_t isv_svn;
	uint8_t reserved4[12];
	uint8_t q1[SGX_MODULUS_SIZE];
	uint8_t q2[SGX_MODULUS_SIZE];
} __attribute__((packed));

/* EINITTOKEN: launch enclave's permission to EINIT. */
struct sgx_einittoken {
	uint32_t valid;
	uint8_t reserved1[44];
	uint64_t attributes;
	uint64_t xfrm;
	uint8_t mrenclave[32];
	uint8_t reserved2[32];
	uint8_t mrsigner[32];
	uint8_t reserved3[32];
	uint8_t cpusvn_le[16];
	uint16_t isv_prod_id_le;
	uint16_t isv_svn_le;
	uint8_t reserved4[24];
	uint32_t masked_miscselect_le;
	uint64_t masked_attributes_le;
	uint64_t masked_xfrm_le;
	uint8_t keyid[32];
	uint8_t mac[16];
} __attribute__((packed));

/* REPORT: output of EREPORT. */
struct sgx_report {
	uint8_t cpusvn[16];
	uint32_t miscselect;
	uint8_t reserved1[12];
	uint8_t isv_ext_prod_id[16];
	uint64_t attributes;
	uint64_t xfrm;
	uint8_t mrenclave[32];
	uint8_t reserved2[32];
	uint8_t mrsigner[32];
	uint8_t reserved3[32];
	uint8_t config_id[64];
	uint16_t isv_prod_id;
	uint16_t isv_svn;
	uint16_t config_svn;
	uint8_t reserved4[42];
	uint8_t isv_family_id[16];
	uint8_t report_data[64];
	uint8_t keyid[32];
	uint8_t mac[16];
} __attribute__((packed));

/* TARGETINFO: who a REPORT is MACed for. */
struct sgx_targetinfo {
	uint8_t mrenclave[32];
	uint64_t attributes;
	uint64_t xfrm;
	uint8_t reserved1[2];
	uint16_t config_svn;
	uint32_t miscselect;
	uint8_t reserved2[8];
	uint8_t config_id[64];
	uint8_t reserved3[384];
} __attribute__((packed));

/* KEYREQUEST: EGETKEY input. */
struct sgx_keyrequest {
	uint16_t keyname;
	uint16_t keypolicy;
	uint16_t isv_svn;
	uint8_t reserved1[2];
	uint8_t cpusvn[16];
	uint64_t attribute_mask;
	uint64_t xfrm_mask;
	uint8_t keyid[32];
	uint32_t misc_mask;
	uint16_t config_svn;
	uint8_t reserved2[434];
} __attribute__((packed));

#define SGX_ASSERT_SIZE(t, n)	_Static_assert(sizeof(t) == (n), #t " size")
#define SGX_ASSERT_OFF(t, f, n) _Static_assert(offsetof(t, f) == (n), #t "." #f " offset")

SGX_ASSERT_SIZE(struct sgx_secs, 4096);
SGX_ASSERT_OFF(struct sgx_secs, size, 0);
SGX_ASSERT_OFF(struct sgx_secs, base, 8);
SGX_ASSERT_OFF(struct sgx_secs, ssa_frame_size, 16);
SGX_ASSERT_OFF(struct sgx_secs, miscselect, 20);
SGX_ASSERT_OFF(struct sgx_secs, reserved1, 24);
SGX_ASSERT_OFF(struct sgx_secs, attributes, 48);
SGX_ASSERT_OFF(struct sgx_secs, xfrm, 56);
SGX_ASSERT_OFF(struct sgx_secs, mrenclave, 64);
SGX_ASSERT_OFF(struct sgx_secs, reserved2, 96);
SGX_ASSERT_OFF(struct sgx_secs, mrsigner, 128);
SGX_ASSERT_OFF(struct sgx_secs, reserved3, 160);
SGX_ASSERT_OFF(struct sgx_secs, config_id, 192);
SGX_ASSERT_OFF(struct sgx_secs, isv_prod_id, 256);
SGX_ASSERT_OFF(struct sgx_secs, isv_svn, 258);
SGX_ASSERT_OFF(struct sgx_secs, config_svn, 260);
SGX_ASSERT_OFF(struct sgx_secs, reserved4, 262);

SGX_ASSERT_SIZE(struct sgx_tcs, 4096);
SGX_ASSERT_OFF(struct sgx_tcs, state, 0);
SGX_ASSERT_OFF(struct sgx_tcs, flags, 8);
SGX_ASSERT_OFF(struct sgx_tcs, ossa, 16);
SGX_ASSERT_OFF(struct sgx_tcs, cssa, 24);
SGX_ASSERT_OFF(struct sgx_tcs, nssa, 28);
SGX_ASSERT_OFF(struct sgx_tcs, oentry, 32);
SGX_ASSERT_OFF(struct sgx_tcs, aep, 40);
SGX_ASSERT_OFF(struct sgx_tcs, ofsbase, 48);
SGX_ASSERT_OFF(struct sgx_tcs, ogsbase, 56);
SGX_ASSERT_OFF(struct sgx_tcs, fslimit, 64);
SGX_ASSERT_OFF(struct sgx_tcs, gslimit, 68);
SGX_ASSERT_OFF(struct sgx_tcs, reserved, 72);

SGX_ASSERT_SIZE(struct sgx_gprsgx, SGX_GPRSGX_SIZE);
SGX_ASSERT_OFF(struct sgx_gprsgx, rax, 0);
SGX_ASSERT_OFF(struct sgx_gprsgx, rcx, 8);
SGX_ASSERT_OFF(struct sgx_gprsgx, rdx, 16);
SGX_ASSERT_OFF(struct sgx_gprsgx, rbx, 24);
SGX_ASSERT_OFF(struct sgx_gprsgx, rsp, 32);
SGX_ASSERT_OFF(struct sgx_gprsgx, rbp, 40);
SGX_ASSERT_OFF(struct sgx_gprsgx, rsi, 48);
SGX_ASSERT_OFF(struct sgx_gprsgx, rdi, 56);
SGX_ASSERT_OFF(struct sgx_gprsgx, r8, 64);
SGX_ASSERT_OFF(struct sgx_gprsgx, r15, 120);
SGX_ASSERT_OFF(struct sgx_gprsgx, rflags, 128);
SGX_ASSERT_OFF(struct sgx_gprsgx, rip, 136);
SGX_ASSERT_OFF(struct sgx_gprsgx, ursp, 144);
SGX_ASSERT_OFF(struct sgx_gprsgx, urbp, 152);
SGX_ASSERT_OFF(struct sgx_gprsgx, exitinfo, 160);
SGX_ASSERT_OFF(struct sgx_gprsgx, reserved, 164);
SGX_ASSERT_OFF(struct sgx_gprsgx, aexnotify, 167);
SGX_ASSERT_OFF(struct sgx_gprsgx, fsbase, 168);
SGX_ASSERT_OFF(struct sgx_gprsgx, gsbase, 176);

SGX_ASSERT_SIZE(struct sgx_exinfo, SGX_EXINFO_SIZE);
SGX_ASSERT_OFF(struct sgx_exinfo, maddr, 0);
SGX_ASSERT_OFF(struct sgx_exinfo, errcd, 8);
SGX_ASSERT_OFF(struct sgx_exinfo, reserved, 12);

SGX_ASSERT_SIZE(struct sgx_secinfo, 64);
SGX_ASSERT_OFF(struct sgx_secinfo, flags, 0);
SGX_ASSERT_OFF(struct sgx_secinfo, reserved, 8);

SGX_ASSERT_SIZE(struct sgx_pageinfo, 32);
SGX_ASSERT_OFF(struct sgx_pageinfo, linaddr, 0);
SGX_ASSERT_OFF(struct sgx_pageinfo, srcpge, 8);
SGX_ASSERT_OFF(struct sgx_pageinfo, secinfo, 16);
SGX_ASSERT_OFF(struct sgx_pageinfo, secs, 24);

SGX_ASSERT_SIZE(struct sgx_pcmd, 128);
SGX_ASSERT_OFF(struct sgx_pcmd, secinfo, 0);
SGX_ASSERT_OFF(struct sgx_pcmd, enclave_id, 64);
SGX_ASSERT_OFF(struct sgx_pcmd, reserved, 72);
SGX_ASSERT_OFF(struct sgx_pcmd, mac, 112);

SGX_ASSERT_SIZE(struct sgx_sigstruct, 1808);
SGX_ASSERT_OFF(struct sgx_sigstruct, header, 0);
SGX_ASSERT_OFF(struct sgx_sigstruct, vendor, 16);
SGX_ASSERT_OFF(struct sgx_sigstruct, date, 20);
SGX_ASSERT_OFF(struct sgx_sigstruct, header2, 24);
SGX_ASSERT_OFF(struct sgx_sigstruct, swdefined, 40);
SGX_ASSERT_OFF(struct sgx_sigstruct, reserved1, 44);
SGX_ASSERT_OFF(struct sgx_sigstruct, modulus, 128);
SGX_ASSERT_OFF(struct sgx_sigstruct, exponent, 512);
SGX_ASSERT_OFF(struct sgx_sigstruct, signature, 516);
SGX_ASSERT_OFF(struct sgx_sigstruct, miscselect, 900);
SGX_ASSERT_OFF(struct sgx_sigstruct, miscmask, 904);
SGX_ASSERT_OFF(struct sgx_sigstruct, reserved2, 908);
SGX_ASSERT_OFF(struct sgx_sigstruct, isv_family_id, 912);
SGX_ASSERT_OFF(struct sgx_sigstruct, attributes, 928);
SGX_ASSERT_OFF(struct sgx_sigstruct, xfrm, 936);
SGX_ASSERT_OFF(struct sgx_sigstruct, attributes_mask, 944);
SGX_ASSERT_OFF(struct sgx_sigstruct, xfrm_mask, 952);
SGX_ASSERT_OFF(struct sgx_sigstruct, enclave_hash, 960);
SGX_ASSERT_OFF(struct sgx_sigstruct, reserved3, 992);
SGX_ASSERT_OFF(struct sgx_sigstruct, isv_ext_prod_id, 1008);
SGX_ASSERT_OFF(struct sgx_sigstruct, isv_prod_id, 1024);
SGX_ASSERT_OFF(struct sgx_sigstruct, isv_svn, 1026);
SGX_ASSERT_OFF(struct sgx_sigstruct, reserved4, 1028);
SGX_ASSERT_OFF(struct sgx_sigstruct, q1, 1040);
SGX_ASSERT_OFF(struct sgx_sigstruct, q2, 1424);

SGX_ASSERT_SIZE(struct sgx_einittoken, 304);
SGX_ASSERT_OFF(struct sgx_einittoken, valid, 0);
SGX_ASSERT_OFF(struct sgx_einittoken, reserved1, 4);
SGX_ASSERT_OFF(struct sgx_einittoken, attributes, 48);
SGX_ASSERT_OFF(struct sgx_einittoken, xfrm, 56);
SGX_ASSERT_OFF(struct sgx_einittoken, mrenclave, 64);
SGX_ASSERT_OFF(struct sgx_einittoken, reserved2, 96);
SGX_ASSERT_OFF(struct sgx_einittoken, mrsigner, 128);
SGX_ASSERT_OFF(struct sgx_einittoken, reserved3, 160);
SGX_ASSERT_OFF(struct sgx_einittoken, cpusvn_le, 192);
SGX_ASSERT_OFF(struct sgx_einittoken, isv_prod_id_le, 208);
SGX_ASSERT_OFF(struct sgx_einittoken, isv_svn_le, 210);
SGX_ASSERT_OFF(struct sgx_einittoken, reserved4, 212);
SGX_ASSERT_OFF(struct sgx_einittoken, masked_miscselect_le, 236);
SGX_ASSERT_OFF(struct sgx_einittoken, masked_attributes_le, 240);
SGX_ASSERT_OFF(struct sgx_einittoken, masked_xfrm_le, 248);
SGX_ASSERT_OFF(struct sgx_einittoken, keyid, 256);
SGX_ASSERT_OFF(struct sgx_einittoken, mac, 288);

SGX_ASSERT_SIZE(struct sgx_report, 432);
SGX_ASSERT_OFF(struct sgx_report, cpusvn, 0);
SGX_ASSERT_OFF(struct sgx_report, miscselect, 16);
SGX_ASSERT_OFF(struct sgx_report, reserved1, 20);
SGX_ASSERT_OFF(struct sgx_report, isv_ext_prod_id, 32);
SGX_ASSERT_OFF(struct sgx_report, attributes, 48);
SGX_ASSERT_OFF(struct sgx_report, xfrm, 56);
SGX_ASSERT_OFF(struct sgx_report, mrenclave, 64);
SGX_ASSERT_OFF(struct sgx_report, reserved2, 96);
SGX_ASSERT_OFF(struct sgx_report, mrsigner, 128);
SGX_ASSERT_OFF(struct sgx_report, reserved3, 160);
SGX_ASSERT_OFF(struct sgx_report, config_id, 192);
SGX_ASSERT_OFF(struct sgx_report, isv_prod_id, 256);
SGX_ASSERT_OFF(struct sgx_report, isv_svn, 258);
SGX_ASSERT_OFF(struct sgx_report, config_svn, 260);
SGX_ASSERT_OFF(struct sgx_report, reserved4, 262);
SGX_ASSERT_OFF(struct sgx_report, isv_family_id, 304);
SGX_ASSERT_OFF(struct sgx_report, report_data, 320);
SGX_ASSERT_OFF(struct sgx_report, keyid, 384);
SGX_ASSERT_OFF(struct sgx_report, mac, 416);

SGX_ASSERT_SIZE(struct sgx_targetinfo, 512);
SGX_ASSERT_OFF(struct sgx_targetinfo, mrenclave, 0);
SGX_ASSERT_OFF(struct sgx_targetinfo, attributes, 32);
SGX_ASSERT_OFF(struct sgx_targetinfo, xfrm, 40);
SGX_ASSERT_OFF(struct sgx_targetinfo, reserved1, 48);
SGX_ASSERT_OFF(struct sgx_targetinfo, config_svn, 50);
SGX_ASSERT_OFF(struct sgx_targetinfo, miscselect, 52);
SGX_ASSERT_OFF(struct sgx_targetinfo, reserved2, 56);
SGX_ASSERT_OFF(struct sgx_targetinfo, config_id, 64);
SGX_ASSERT_OFF(struct sgx_targetinfo, reserved3, 128);

SGX_ASSERT_SIZE(struct sgx_keyrequest, 512);
SGX_ASSERT_OFF(struct sgx_keyrequest, keyname, 0);
SGX_ASSERT_OFF(struct sgx_keyrequest, keypolicy, 2);
SGX_ASSERT_OFF(struct sgx_keyrequest, isv_svn, 4);
SGX_ASSERT_OFF(struct sgx_keyrequest, reserved1, 6);
SGX_ASSERT_OFF(struct sgx_keyrequest, cpusvn, 8);
SGX_ASSERT_OFF(struct sgx_keyrequest, attribute_mask, 24);
SGX_ASSERT_OFF(struct sgx_keyrequest, xfrm_mask, 32);
SGX_ASSERT_OFF(struct sgx_keyrequest, keyid, 40);
SGX_ASSERT_OFF(struct sgx_keyrequest, misc_mask, 72);
SGX_ASSERT_OFF(struct sgx_keyrequest, config_svn, 76);
SGX_ASSERT_OFF(struct sgx_keyrequest, reserved2, 78);

#endif /* SGXEMU_ARCH_H */
