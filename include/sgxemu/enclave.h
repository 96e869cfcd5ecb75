/* SPDX-License-Identifier: MIT */
/*
 * The contract between the sdk (signer, measurer, loader: host side) and the
 * runtime (runtime/: enclave side) for enclaves built from an ELF static PIE.
 * Freestanding: no libc types beyond <stdint.h>, so both sides include it.
 *
 * Nothing here is architectural: real SGX hardware and Linux see an enclave
 * built this way like any other.  docs/layout.md describes it with a
 * picture.
 *
 * Layout of the enclave (enclave offsets; every area page-aligned):
 *
 *   0                 the ELF image: every PT_LOAD segment at its p_vaddr,
 *                     permissions from p_flags (an R/W/X union where two
 *                     segments share a page), bss as zero pages
 *   layout_offset     one R page: struct sgxemu_layout (below)
 *   heap_offset       the static heap, heap_size bytes, RW
 *   thread_offset     n_tcs thread areas of thread_stride bytes each:
 *                       + 0                 guard page (never added)
 *                       + TA_STACK          stack, stack_size bytes, RW
 *                       + TA_TCS(s)         the TCS
 *                       + TA_SSA(s)         nssa SSA frames of ssa_frame_pages pages, RW
 *                       + TA_TD(s)          the thread data page, RW (FS and GS base)
 *   dyn_offset        the dynamic area, dyn_size bytes, never added: the
 *                     runtime's EDMM memory manager commits it at run time
 *   tcs_dyn_offset    room for n_dyn_threads more thread areas (same shape),
 *                     created at run time (EAUG, EMODT to TCS, EACCEPT)
 *   ...               unused up to enclave_size (a power of two)
 *
 * Every added page is measured (EADD + EEXTEND of all 16 chunks), so
 * MRENCLAVE covers the whole initial content, the layout page included; the
 * runtime trusts the layout page because of that.  Offsets, never
 * addresses, are stored in measured pages, so MRENCLAVE does not depend on
 * where the enclave is loaded: the runtime adds its own base.
 */
#ifndef SGXEMU_ENCLAVE_H
#define SGXEMU_ENCLAVE_H

#include <stdint.h>

#define SGXEMU_PAGE 4096ULL

/* ---- the layout page ------------------------------------------------------ */

#define SGXEMU_LAYOUT_MAGIC   0x74756f79616c7873ULL /* "sxlayout" */
#define SGXEMU_LAYOUT_VERSION 1

/* sgxemu_layout.flags */
#define SGXEMU_LAYOUT_EDMM  (1u << 0) /* signed for SGX2 memory management (dynamic area, dynamic threads) */
#define SGXEMU_LAYOUT_DEBUG (1u << 1) /* SECS.ATTRIBUTES.DEBUG */
/* SECS.ATTRIBUTES.AEXNOTIFY: every TCS, static or made at run time, has TCS.FLAGS.AEXNOTIFY (EENTER and
 * ERESUME refuse a TCS whose flag differs from the attribute) */
#define SGXEMU_LAYOUT_AEXNOTIFY (1u << 2)

struct sgxemu_layout {
	uint64_t magic;		  /* SGXEMU_LAYOUT_MAGIC */
	uint32_t version;	  /* SGXEMU_LAYOUT_VERSION */
	uint32_t flags;		  /* SGXEMU_LAYOUT_* */
	uint64_t enclave_size;	  /* SECS.SIZE */
	uint64_t image_size;	  /* end of the last segment, page-aligned */
	uint64_t entry_offset;	  /* e_entry = every TCS's OENTRY */
	uint64_t layout_offset;	  /* this page */
	uint64_t heap_offset;	  /* static heap */
	uint64_t heap_size;
	uint64_t thread_offset;	  /* first static thread area */
	uint64_t thread_stride;	  /* bytes per thread area */
	uint32_t n_tcs;		  /* static threads */
	uint32_t nssa;		  /* SSA frames per thread (TCS.NSSA) */
	uint32_t ssa_frame_pages; /* SECS.SSAFRAMESIZE */
	uint32_t n_dyn_threads;	  /* room for threads created at run time */
	uint64_t stack_size;	  /* bytes per thread stack */
	uint64_t dyn_offset;	  /* dynamic area (EDMM) */
	uint64_t dyn_size;
	uint64_t tcs_dyn_offset; /* first dynamic thread area */
	uint64_t reserved[48];
};

/* Offsets inside a thread area (s = the layout). */
#define SGXEMU_TA_STACK(s)     SGXEMU_PAGE
#define SGXEMU_TA_TCS(s)       (SGXEMU_PAGE + (s)->stack_size)
#define SGXEMU_TA_SSA(s)       (SGXEMU_TA_TCS(s) + SGXEMU_PAGE)
#define SGXEMU_TA_TD(s)	       (SGXEMU_TA_SSA(s) + (uint64_t)(s)->nssa * (s)->ssa_frame_pages * SGXEMU_PAGE)
#define SGXEMU_TA_SIZE(s)      (SGXEMU_TA_TD(s) + SGXEMU_PAGE)

/* ---- the thread data page (FS and GS base of each thread) ------------------- */

/*
 * The loader fills the first words (measured); the runtime owns the rest of
 * the page (zero at start).  TCS.OFSBASE = OGSBASE = the page's offset,
 * FSLIMIT = GSLIMIT = 0xfff.
 */
struct sgxemu_thread_data {
	uint64_t self_offset;	  /* enclave offset of this page: base = %fs:0's address - self_offset */
	uint64_t layout_offset;	  /* the layout page */
	uint64_t tcs_offset;	  /* this thread's TCS */
	uint64_t ssa_offset;	  /* SSA frame 0 */
	uint64_t stack_top_offset; /* initial RSP (exclusive end of the stack) */
	uint64_t stack_limit_offset; /* lowest stack byte */
	uint64_t thread_index;	  /* 0 .. n_tcs-1 static, n_tcs.. dynamic */
	uint64_t loader_reserved[9];
	/* Offset 128 onwards: the runtime's per-thread state. */
	uint64_t runtime[496];
};

/* ---- the entry ABI ------------------------------------------------------------ */

/*
 * EENTER with CSSA = 0:
 *   RDI = SGXEMU_ECALL_* or an ECALL index (< SGXEMU_ECALL_FIRST_RESERVED),
 *   RSI = argument pointer (untrusted memory), RDX = argument size.
 * EENTER with CSSA > 0: the runtime's exception dispatch (RDI ignored).
 * EEXIT: RDI = SGXEMU_EXIT_*, RSI / RDX as listed there.
 */
#define SGXEMU_ECALL_FIRST_RESERVED 0xffff0000u
#define SGXEMU_ECALL_INIT	    0xffff0001u /* first call: self-relocation, heap; RSI = struct sgxemu_init_args */
#define SGXEMU_ECALL_ORET	    0xffff0002u /* an OCALL returned: RSI = its return value */

#define SGXEMU_EXIT_RETURN	    1 /* ECALL done: RSI = return value (int64) */
#define SGXEMU_EXIT_OCALL	    2 /* RSI = OCALL index, RDX = struct pointer on the untrusted stack, R8 = its size */
#define SGXEMU_EXIT_EXC_HANDLED	    3 /* the enclave handled an exception: ERESUME */
#define SGXEMU_EXIT_EXC_UNHANDLED   4 /* no handler took it: RSI = vector, RDX = enclave offset of RIP */
#define SGXEMU_EXC_VECTOR_NONE	    0xffff /* UNHANDLED's RSI when EXITINFO was not valid (e.g. #PF without EXINFO) */
#define SGXEMU_EXIT_ABORT	    5 /* the runtime gave up: RSI = SGXEMU_ABORT_* reason */

#define SGXEMU_ABORT_BAD_ECALL	    1 /* index out of range */
#define SGXEMU_ABORT_BAD_LAYOUT	    2 /* layout page missing or inconsistent */
#define SGXEMU_ABORT_NOT_INIT	    3 /* an ECALL before SGXEMU_ECALL_INIT */
#define SGXEMU_ABORT_STACK	    4 /* exception with no usable stack */
#define SGXEMU_ABORT_ASSERT	    5 /* a runtime assertion failed */
#define SGXEMU_ABORT_RELOC	    6 /* the image's dynamic relocations are not all R_X86_64_RELATIVE inside it */

/* ECALL return values the runtime itself produces (negative errno style, int64). */
#define SGXEMU_ECALL_EBUSY (-16) /* an ECALL is already running on this TCS */

/* ---- OCALLs the runtime's memory manager needs from the host ----------------------- */

/*
 * Reserved OCALL indices (>= SGXEMU_OCALL_FIRST_SYSTEM); the host's loader
 * implements them with the driver's ioctls.  Argument: struct
 * sgxemu_ocall_mm on the untrusted stack; the host writes `result`
 * (0 or -errno) and `count` (bytes done).
 */
#define SGXEMU_OCALL_FIRST_SYSTEM 0xffff0000u
#define SGXEMU_OCALL_AUGMENT	  0xffff0001u /* EAUG [addr, addr+len) now; prot = max permissions */
#define SGXEMU_OCALL_RESTRICT	  0xffff0002u /* SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS to prot */
#define SGXEMU_OCALL_MODIFY_TYPE  0xffff0003u /* SGX_IOC_ENCLAVE_MODIFY_TYPES to type (SGX_PAGE_TYPE_TCS/TRIM) */
#define SGXEMU_OCALL_REMOVE	  0xffff0004u /* SGX_IOC_ENCLAVE_REMOVE_PAGES */
#define SGXEMU_OCALL_MPROTECT	  0xffff0005u /* mprotect(addr, len, prot) of the enclave mapping */
#define SGXEMU_OCALL_WRITE	  0xffff0006u /* write(fd = type, buffer = addr, len): console output */

struct sgxemu_ocall_mm {
	uint64_t addr;	 /* enclave linear address (page-aligned) */
	uint64_t len;	 /* bytes (multiple of 4096) */
	uint64_t prot;	 /* SGX_SECINFO R/W/X bits (AUGMENT, RESTRICT) or PROT_* (MPROTECT) */
	uint64_t type;	 /* page type (MODIFY_TYPE) */
	int64_t result;	 /* 0 or -errno */
	uint64_t count;	 /* bytes processed */
};

/* SGXEMU_ECALL_INIT's argument. */
struct sgxemu_init_args {
	uint64_t augment;	   /* host offers SGXEMU_OCALL_AUGMENT (policy allows it) */
	uint64_t reserved[7];
};

#endif /* SGXEMU_ENCLAVE_H */
