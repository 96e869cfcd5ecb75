/* SPDX-License-Identifier: MIT */
/*
 * Enclave images: an ELF static PIE plus a layout (threads, stacks, heaps,
 * dynamic areas, attributes) become the exact list of pages the loader adds
 * and the signer measures (include/sgxemu/enclave.h, docs/layout.md).  One
 * function computes the list, so `sgxemu measure`, `sgxemu sign` and the
 * loader cannot disagree on MRENCLAVE.
 *
 * Host-side library code: errors are returned as -1 with a message naming
 * the file (or "image" for memory input) and the problem, never a crash.
 */
#ifndef SGXEMU_SDK_IMAGE_H
#define SGXEMU_SDK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sgxemu/arch.h"
#include "sgxemu/enclave.h"

struct crypto_rsa;

/* What the signer decides beyond the ELF (options or a config file; docs/sign.md lists the keys). */
struct sdk_config {
	uint32_t n_tcs;		  /* static threads, 1..SDK_MAX_THREADS (default 1) */
	uint32_t nssa;		  /* SSA frames per thread, 1..SDK_MAX_NSSA (default 2: one nested exception) */
	uint32_t ssa_frame_pages; /* 0: the smallest that holds the XSAVE area of xfrm, MISC and GPRSGX */
	uint64_t stack_size;	  /* per thread, page multiple, > 0 (default 64 KiB) */
	uint64_t heap_size;	  /* static heap, page multiple (default 256 KiB) */
	uint64_t dyn_size;	  /* dynamic (EDMM) area, page multiple (default 0; requires edmm) */
	uint32_t n_dyn_threads;	  /* room for threads added at run time (default 0; requires edmm) */
	uint64_t enclave_size;	  /* 0: the smallest power of two that holds everything; else a power of two */
	bool edmm;		  /* an SGX2 enclave (layout flag; no SECS bit exists for it) */
	bool debug;		  /* ATTRIBUTES.DEBUG */
	uint64_t attributes;	  /* ATTRIBUTES.FLAGS besides DEBUG and MODE64BIT (always set): only
				     PROVISIONKEY, KSS and AEXNOTIFY may be asked for (default 0) */
	uint64_t xfrm;		  /* a legal XFRM (hw_xfrm_legal; default 3: x87 + SSE) */
	uint64_t attributes_mask; /* SIGSTRUCT.ATTRIBUTEMASK flags (default all ones: every flag as signed) */
	uint64_t xfrm_mask;	  /* SIGSTRUCT.ATTRIBUTEMASK XFRM, used when xfrm_mask_set */
	bool xfrm_mask_set;	  /* false (default): the XFRM mask is xfrm itself */
	uint32_t misc_select;	  /* SECS.MISCSELECT: 0 or SGX_MISC_EXINFO (default EXINFO) */
	uint32_t misc_mask;	  /* SIGSTRUCT.MISCMASK (default all ones) */
	uint16_t isv_prod_id, isv_svn;
	uint32_t date_bcd; /* SIGSTRUCT.DATE as BCD yyyymmdd, 0: today (UTC) */
};

/* Limits of the layout (each keeps the arithmetic far from overflow). */
#define SDK_MAX_THREADS	     65536U	  /* n_tcs, n_dyn_threads */
#define SDK_MAX_NSSA	     256U	  /* nssa */
#define SDK_MAX_SSA_PAGES    256U	  /* ssa_frame_pages */
#define SDK_MAX_AREA	     (1ULL << 40) /* stack_size, heap_size, dyn_size */
#define SDK_ENCLAVE_SIZE_MIN 0x2000ULL	  /* SECS.SIZE minimum */
#define SDK_ENCLAVE_SIZE_MAX (1ULL << 47) /* the user half of the x86-64 address space */
#define SDK_MAX_PAGES	     (1ULL << 20) /* pages added at build time (4 GiB) */
#define SDK_EXTRA_ATTRIBUTES (SGX_ATTR_PROVISIONKEY | SGX_ATTR_KSS | SGX_ATTR_AEXNOTIFY)

void sdk_config_default(struct sdk_config *c);
/*
 * Read a layout config file (key = value lines, '#' comments; keys as in
 * docs/sign.md) over c.  A key may appear once per file.
 * Return: 0, or -1 with "FILE:LINE: problem" (or "FILE: problem" when the
 * file cannot be read) in err.
 */
int sdk_config_load(struct sdk_config *c, const char *path, char *err, size_t errlen);

enum sdk_key_kind {
	SDK_KEY_UNKNOWN = 0,
	SDK_KEY_VALUE = 1, /* a number, size, date or list of names */
	SDK_KEY_BOOL = 2,  /* true/false, yes/no, on/off, 1/0 */
};
/* What kind of value key takes ('-' and '_' are the same in keys: n-tcs = n_tcs). */
enum sdk_key_kind sdk_config_key_kind(const char *key);
/*
 * Set one key from its text value, checking its syntax and its own range.
 * Return: 0, or -1 with "KEY: problem" in err (unknown key, bad number,
 * out of range, not a page multiple, ...).
 */
int sdk_config_set(struct sdk_config *c, const char *key, const char *value, char *err, size_t errlen);
/*
 * Parse a decimal or 0x-hex number; with size, a K, M or G suffix (powers of
 * 1024) may follow.  Return: NULL, or the problem ("not a number", "not a
 * size", "out of range").
 */
const char *sdk_parse_number(const char *text, bool size, uint64_t *out);
/*
 * The XSAVE components of xfrm by their SDM names, space-separated
 * ("x87 SSE AVX", "opmask ZMM_Hi256 Hi16_ZMM", "bit 19" for one the model
 * does not know; "-" for none), truncated to len.
 */
void sdk_xfrm_names(uint64_t xfrm, char *out, size_t len);
/*
 * Check what no single key can: ranges, page multiples, dyn_size and
 * n_dyn_threads without edmm, a legal xfrm, the SSA frame big enough.
 * sdk_image_* run it too.  Return: 0, or -1 with "layout: problem" in err.
 */
int sdk_config_check(const struct sdk_config *c, char *err, size_t errlen);

/* One page of the enclave as the loader adds it. */
struct sdk_page {
	uint64_t offset;     /* enclave offset */
	uint64_t flags;	     /* SECINFO.FLAGS: SGX_SECINFO_R/W/X and the page type (REG, or TCS with no permissions) */
	const uint8_t *data; /* 4096 bytes, page-aligned, owned by the image; never NULL.  The data of
				pages[i + 1] follows that of pages[i] in memory, so one ADD_PAGES call can
				cover a run of pages with consecutive offsets and equal flags */
	bool measure;	     /* EEXTEND the whole page (always true for this layout) */
};

/*
 * The loader creates the SECS from size, ssa_frame_size, misc_select,
 * attributes and xfrm (any base aligned to size), then EADDs pages[0..n_pages)
 * in this order, each followed by its 16 EEXTENDs: that is the order
 * mrenclave was computed in.
 */
struct sdk_image {
	struct sdk_config cfg;	     /* as resolved: ssa_frame_pages, enclave_size, xfrm_mask filled in */
	struct sgxemu_layout layout; /* what the layout page holds */
	struct sdk_page *pages;	     /* sorted by offset */
	size_t n_pages;
	/* SECS fields (ECREATE), for an enclave loaded at any base. */
	uint64_t size;
	uint32_t ssa_frame_size;
	uint32_t misc_select;
	uint64_t attributes; /* flags: MODE64BIT, DEBUG if cfg.debug, cfg.attributes */
	uint64_t xfrm;
	uint8_t mrenclave[32]; /* computed in software per spec/measurement.md */
	/* private storage */
	uint8_t *store;
	size_t store_len;
};

/*
 * Build the page list of the ELF at path (or in elf/len) under cfg.
 * The ELF must be ELFCLASS64, little-endian, x86-64, ET_DYN (static PIE:
 * no PT_INTERP, no DT_NEEDED, no DT_TEXTREL, no PT_TLS), with PT_LOAD
 * segments whose p_vaddr and p_offset agree modulo 4096, that do not
 * overlap, lie inside the file and the enclave, with e_entry in an
 * executable one; each violation is its own message, prefixed by the path
 * ("image" for memory input), e.g. "enclave.elf: truncated file (12 bytes;
 * the ELF header needs 64)".
 * Return: 0 and *out, or -1 with err set.
 */
int sdk_image_load(const char *path, const struct sdk_config *cfg, struct sdk_image **out, char *err, size_t errlen);
int sdk_image_from_memory(const void *elf, size_t len, const struct sdk_config *cfg, struct sdk_image **out, char *err,
			  size_t errlen);
void sdk_image_free(struct sdk_image *img);

/*
 * The whole regular file at path, malloc'd with a NUL after its len bytes
 * (sdk_image_load reads the ELF with it).  Return: the data, or NULL with
 * "PATH: problem" in err (cannot open or read it, a directory, not a
 * regular file, out of memory).
 */
char *sdk_read_file(const char *path, size_t *len, char *err, size_t errlen);

/*
 * Fill a SIGSTRUCT for img (ENCLAVEHASH = img->mrenclave, MISCSELECT,
 * ATTRIBUTES and their masks, ISV ids, date; VENDOR 0) and sign it with key.
 * Return: 0, or -1 with err set (the key failed to sign).
 */
int sdk_image_sign(const struct sdk_image *img, const struct crypto_rsa *key, struct sgx_sigstruct *out, char *err,
		   size_t errlen);

#endif /* SGXEMU_SDK_IMAGE_H */
