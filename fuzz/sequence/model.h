/* SPDX-License-Identifier: MIT */
/*
 * A model of what Linux 6.x (arch/x86/kernel/cpu/sgx and the generic mm
 * paths in front of it) does for each call of the sequence engine: the
 * per-enclave state the driver keeps, the VMAs of the address ranges the
 * engine uses, and the architectural checks of the leaves the driver
 * issues (spec/leaves.md) as far as they decide an errno.
 *
 * Every prediction is an errno in the order Linux checks; where Linux's
 * answer depends on something the model cannot see (EPC pressure, the
 * address a non-fixed mmap picks), the prediction says so and the engine
 * checks the weaker property documented at that place.
 */
#ifndef SGXEMU_FUZZ_MODEL_H
#define SGXEMU_FUZZ_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "sgxemu/arch.h"

#define M_PAGE	 4096ULL
#define M_CANARY (-2) /* m_vma.encl of the engine's canary pages */
/* The top of the user address space with 4-level paging (TASK_SIZE_MAX; the engine refuses LA57 hosts). */
#define M_TASK_SIZE ((1ULL << 47) - M_PAGE)

/* Platform facts, read once from the emulated CPUID (they are inputs to Linux's logic, not under test). */
struct m_platform {
	uint32_t misc_supported;	  /* CPUID.(0x12,0).EBX */
	uint8_t max_log2_64, max_log2_32; /* CPUID.(0x12,0).EDX */
	uint64_t attr_allowed;		  /* CPUID.(0x12,1).EAX/EBX */
	uint64_t xfrm_allowed;		  /* CPUID.(0x12,1).ECX/EDX */
	uint32_t xoff[64], xsize[64];	  /* CPUID.(0xD,i) for i >= 2 */
	uint64_t epc_frames;
	/* Linux's masks (driver.c, sgx_init): what INIT refuses with EINVAL. */
	uint64_t attr_reserved, xfrm_reserved;
	uint32_t misc_reserved;
	bool low_mmap_allowed; /* MAP_FIXED below mmap_min_addr works here (CAP_SYS_RAWIO) */
	uint64_t mmap_min_addr;
};

void m_platform_masks(struct m_platform *p);

/* Page types as the driver records them (SGX_PT_*). */
struct m_page {
	uint64_t off;	 /* enclave offset */
	uint8_t type;	 /* driver's type: SGX_PT_REG, SGX_PT_TCS, SGX_PT_TRIM */
	uint8_t maxprot; /* vm_max_prot_bits as PROT_* */
	/* EPCM as the leaves left it (no enclave code runs, so nothing is accepted). */
	uint8_t epcm_type, epcm_perm;
	bool pending, modified, pr;
	bool pinned; /* off the reclaimer's list (a TCS made by MODIFY_TYPES) */
};

struct m_encl {
	bool live;
	bool created, initialized;
	int refs; /* open files + VMAs */
	uint64_t base, size, attributes, xfrm;
	uint32_t misc, ssaframesize;
	uint64_t attr_mask; /* attributes_mask: what INIT allows */
	uint8_t dyn_max;    /* ceiling of dynamic pages (policy rwx: R|W|X) */
	struct m_page *pages;
	size_t npages, cap;
	uint64_t page_cnt; /* the driver's page_cnt: SECS + pages (a VA page is added each time it reaches k * 512) */
	uint64_t va;	   /* VA pages allocated (never freed before teardown) */
	struct hw_sha256 *mr; /* MRENCLAVE so far */
	bool mr_known;	      /* false once a page was added whose measurement the model cannot follow */
};

enum m_vma_kind { M_VMA_ENCL, M_VMA_HOST };

struct m_vma {
	uint64_t start, end;
	int prot;
	enum m_vma_kind kind;
	int encl;      /* index into the world's enclaves for M_VMA_ENCL */
	bool maywrite; /* VM_MAYWRITE (the file was opened for writing) */
};

#define M_SLOTS 4
#define M_ENCLS 24
#define M_VMAS	256

enum m_dev { M_DEV_NONE, M_DEV_ENCL, M_DEV_PROV };

struct m_slot {
	bool open;
	int fd;
	enum m_dev dev;
	int accmode; /* O_RDONLY, O_WRONLY, O_RDWR */
	int encl;    /* for M_DEV_ENCL */
};

/* One thread's world: its address zone, its files, enclaves and VMAs. */
struct m_world {
	const struct m_platform *plat;
	uint64_t zone, zone_size; /* where this world maps (MAP_FIXED never leaves it) */
	uint64_t low, low_size;	  /* a zone below 4 GiB for 32-bit enclaves (0 if none) */
	struct m_slot slots[M_SLOTS];
	struct m_encl encls[M_ENCLS];
	struct m_vma vmas[M_VMAS];
	size_t nvmas;
};

/* ---- enclaves and pages ---- */
int m_encl_new(struct m_world *w);
void m_encl_put(struct m_world *w, int e);
struct m_page *m_page_find(struct m_encl *e, uint64_t off);
struct m_page *m_page_add(struct m_encl *e, uint64_t off);
void m_page_remove(struct m_encl *e, uint64_t off);
uint64_t m_pages_total(const struct m_world *w);
/* sgx_encl_grow: page_cnt++, with a new VA page when it was a multiple of 512. */
void m_encl_grow(struct m_encl *e);
/* EPC frames nothing can reclaim: every live enclave's SECS and VA pages, pinned pages. */
uint64_t m_unreclaimable(const struct m_world *w);

/* ---- measurement (spec/measurement.md) ---- */
void m_mr_ecreate(struct m_encl *e);
void m_mr_eadd(struct m_encl *e, uint64_t off, uint64_t secinfo_flags);
void m_mr_eextend_page(struct m_encl *e, uint64_t off, const uint8_t *page);
void m_mr_peek(const struct m_encl *e, uint8_t out[32]);

/* ---- leaves ---- */
enum m_leaf { M_LEAF_OK, M_LEAF_FAIL, M_LEAF_UNKNOWN };
/* ECREATE's checks on the SECS copy (spec/leaves.md ECREATE step 4); why names the first failed check. */
enum m_leaf m_ecreate_check(const struct m_platform *p, const struct sgx_secs *s, const char **why);
/* EADD's checks on the source page (step 4); the SECINFO passed the driver's validation already. */
enum m_leaf m_eadd_check(const struct m_encl *e, uint64_t secinfo_flags, const uint8_t *page);
/* Standard-format XSAVE size of xfrm (at least 576). */
uint32_t m_xsave_size(const struct m_platform *p, uint64_t xfrm);

/* ---- VMAs (mm) ---- */
/* The VMA containing addr, or -1. */
int m_vma_at(const struct m_world *w, uint64_t addr);
/* The first VMA that ends after addr (find_vma), or -1. */
int m_vma_after(const struct m_world *w, uint64_t addr);
/* Any VMA intersecting [a, b)? */
bool m_vma_intersects(const struct m_world *w, uint64_t a, uint64_t b);
/* Remove [a, b) from every VMA (splitting), dropping enclave references of VMAs that go. */
void m_vma_unmap(struct m_world *w, uint64_t a, uint64_t b);
/* Insert a VMA (the range must be free). */
void m_vma_insert(struct m_world *w, const struct m_vma *v);
/* Set prot on [a, b), splitting at the edges (the range lies in VMAs). */
void m_vma_protect(struct m_world *w, uint64_t a, uint64_t b, int prot);
/* sgx_encl_may_map for enclave e over [a, b) with prot: 0 or -EACCES. */
int m_may_map(const struct m_world *w, int e, uint64_t a, uint64_t b, int prot);

#endif /* SGXEMU_FUZZ_MODEL_H */
