/* SPDX-License-Identifier: MIT */
/* Host CPU and kernel features exec depends on (kept apart from the SGX headers: <elf.h> clashes with PF_*). */
#ifndef SGXEMU_EXEC_CPU_H
#define SGXEMU_EXEC_CPU_H

#include <stdbool.h>
#include <stdint.h>

/* May user code use RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE (AT_HWCAP2 HWCAP2_FSGSBASE)? */
bool exec_cpu_fsgsbase(void);

/* ---- XSAVE images --------------------------------------------------------- */

#define EXEC_XSAVE_LEGACY  512 /* x87/SSE region; the 64-byte XSAVE header follows */
#define EXEC_XSAVE_BV	   512 /* XSTATE_BV */
#define EXEC_XSAVE_HEADER  576 /* end of the header: extended components start here */
#define EXEC_XFEATURE_PKRU 9

/* The standard (non-compacted) XSAVE layout of the host's user state components. */
struct exec_xlayout {
	uint64_t xcr0;		    /* the components the kernel enabled (XGETBV(0)); 3 without OSXSAVE */
	uint32_t off[64], size[64]; /* component i >= 2: offset and size, CPUID.(0xD,i).EBX/EAX */
};

/* The host's layout, filled by exec_cpu_init (idempotent). */
extern struct exec_xlayout exec_xlayout;
void exec_cpu_init(void);

/*
 * The XSAVE features this process can use: XCR0 less the dynamically
 * enabled ones (AMX) it has no permission for (ARCH_GET_XCOMP_PERM, where
 * the kernel has it; older kernels enable none).
 */
uint64_t exec_cpu_xfeatures(void);

struct hw_config;
/*
 * Give a machine configuration this host's XSAVE side: XCR0 and the XFRM
 * allowed = hw_xfrm_allowed_for(exec_cpu_xfeatures()), and the component
 * layout of CPUID leaf 0xD, which the signal frames exec copies use.
 */
void exec_cpu_hw_config(struct hw_config *c);

/*
 * Put every extended component (i >= 2) of the standard-format image img
 * (size bytes) that is not in keep into its INIT state: its XSTATE_BV bit
 * cleared (XRSTOR then loads the initial configuration) and its bytes, as
 * far as the image holds them, zeroed.  x87 and SSE (bits 0 and 1) are
 * never touched.
 */
void exec_xstate_init_except(const struct exec_xlayout *l, uint8_t *img, uint32_t size, uint64_t keep);

/*
 * PKRU in an image that holds the components in present (a signal frame:
 * the kernel's software bytes).  Get: false if the image cannot hold PKRU;
 * *pkru = its value, 0 (the INIT value) when XSTATE_BV[9] is clear.  Set:
 * writes the value and sets XSTATE_BV[9]; false if the image cannot hold it.
 */
bool exec_xstate_get_pkru(const struct exec_xlayout *l, const uint8_t *img, uint32_t size, uint64_t present,
			  uint32_t *pkru);
bool exec_xstate_set_pkru(const struct exec_xlayout *l, uint8_t *img, uint32_t size, uint64_t present, uint32_t pkru);

#endif
