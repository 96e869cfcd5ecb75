/* SPDX-License-Identifier: MIT */
/*
 * fuzz_elf: the enclave image builder (src/sdk/image.c) on ELF files from
 * memory, under a layout taken from the input's first bytes.
 *
 * Input: 8 layout bytes, then the ELF.  Invariants, besides no crash, leak
 * or hang: a refused ELF gives one message starting with "image: "; an
 * accepted one gives the page list docs/layout.md describes, checked
 * against an independent reading of the ELF: pages sorted, inside SECS.SIZE
 * (a power of two >= 8 KiB), each page's data following the previous one's;
 * every PT_LOAD's file bytes at their offsets, zeros up to p_memsz, its
 * R/W/X in the page's SECINFO; the layout page equal to img->layout; TCS
 * pages with the fields of layout.md; and MRENCLAVE equal to one computed
 * here from the page list as spec/measurement.md says.
 *
 * Cap: ELFs whose PT_LOAD segments cover more than 1024 pages are not
 * built (the builder's own limit is 2^20 pages: 4 GiB of hashing).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "image.h"

#define PG 4096ULL

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static __attribute__((noreturn, format(printf, 1, 2))) void bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz_elf: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* Pages the PT_LOAD segments cover (a generous count: overlaps counted twice), or UINT64_MAX if unreadable. */
static uint64_t load_pages(const uint8_t *b, size_t n)
{
	if (n < 64)
		return 0;
	uint64_t phoff = rd64(b + 0x20), pages = 0;
	uint16_t phnum = rd16(b + 0x38);
	for (unsigned i = 0; i < phnum; i++) {
		if (phoff > n || (uint64_t)(i + 1) * 56 > n - phoff)
			return pages;
		const uint8_t *ph = b + phoff + (uint64_t)i * 56;
		if (rd32(ph) != 1)
			continue;
		uint64_t vaddr = rd64(ph + 0x10), memsz = rd64(ph + 0x28);
		if (memsz > (1ULL << 32))
			return UINT64_MAX;
		pages += ((vaddr & (PG - 1)) + memsz + PG - 1) / PG;
	}
	return pages;
}

static void config_from(const uint8_t *c, struct sdk_config *cfg)
{
	static const uint64_t xfrms[4] = {3, 7, 0xe7, 0x207};
	sdk_config_default(cfg);
	cfg->n_tcs = 1 + c[0] % 3;
	cfg->nssa = 1 + c[1] % 3;
	cfg->stack_size = (1 + c[2] % 4) * PG;
	cfg->heap_size = (uint64_t)(c[3] % 8) * PG;
	cfg->edmm = c[4] & 1;
	cfg->debug = c[4] & 2;
	if (cfg->edmm) {
		cfg->dyn_size = (uint64_t)(c[4] >> 2) * PG;
		cfg->n_dyn_threads = c[5] % 3;
	}
	cfg->xfrm = xfrms[(c[5] >> 2) % 4];
	cfg->misc_select = c[6] & 1;
	cfg->ssa_frame_pages = (c[6] >> 1) % 4;
	if (c[7] & 0x80)
		cfg->enclave_size = 1ULL << (13 + c[7] % 24);
}

static void measure(const struct sdk_image *img, uint8_t out[32])
{
	struct hw_sha256 *h = crypto_sha256_new();
	uint8_t blk[64] = "ECREATE";
	memcpy(blk + 8, &img->ssa_frame_size, 4);
	memcpy(blk + 12, &img->size, 8);
	crypto_sha256_update(h, blk, 64);
	for (size_t i = 0; i < img->n_pages; i++) {
		const struct sdk_page *p = &img->pages[i];
		memset(blk, 0, 64);
		memcpy(blk, "EADD", 4);
		memcpy(blk + 8, &p->offset, 8);
		memcpy(blk + 16, &p->flags, 8);
		crypto_sha256_update(h, blk, 64);
		for (uint64_t c = 0; p->measure && c < PG; c += 256) {
			memset(blk, 0, 64);
			memcpy(blk, "EEXTEND", 7);
			uint64_t off = p->offset + c;
			memcpy(blk + 8, &off, 8);
			crypto_sha256_update(h, blk, 64);
			crypto_sha256_update(h, p->data + c, 256);
		}
	}
	crypto_sha256_final(h, out);
	crypto_sha256_free(h);
}

static const struct sdk_page *page_at(const struct sdk_image *img, uint64_t off)
{
	size_t lo = 0, hi = img->n_pages;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (img->pages[mid].offset < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < img->n_pages && img->pages[lo].offset == off ? &img->pages[lo] : NULL;
}

static void check_image(const struct sdk_image *img, const uint8_t *elf, size_t n)
{
	if (!img->size || (img->size & (img->size - 1)) || img->size < 0x2000)
		bad("SECS.SIZE %#llx", (unsigned long long)img->size);
	for (size_t i = 0; i < img->n_pages; i++) {
		const struct sdk_page *p = &img->pages[i];
		if ((p->offset & (PG - 1)) || p->offset >= img->size || (i && p->offset <= img->pages[i - 1].offset))
			bad("page %zu at %#llx: not sorted, aligned and inside the enclave", i,
			    (unsigned long long)p->offset);
		if (i && p->data != img->pages[i - 1].data + PG)
			bad("page %zu: its data does not follow page %zu's", i, i - 1);
		uint64_t pt = (p->flags >> 8) & 0xFF, perm = p->flags & 7;
		bool ok = (pt == SGX_PT_REG && (p->flags & ~0x207ULL) == 0 && !((perm & 2) && !(perm & 1))) ||
			  p->flags == 0x100;
		if (!ok || !p->measure)
			bad("page %zu: SECINFO flags %#llx measure %d", i, (unsigned long long)p->flags, p->measure);
		if (pt == SGX_PT_TCS) {
			const struct sgx_tcs *t = (const struct sgx_tcs *)p->data;
			if (t->nssa != img->layout.nssa || t->oentry != rd64(elf + 0x18) || t->fslimit != 0xFFF ||
			    t->gslimit != 0xFFF || t->ofsbase != t->ogsbase || !page_at(img, t->ossa) ||
			    !page_at(img, t->ofsbase) || t->state || t->flags)
				bad("TCS at %#llx: fields differ from docs/layout.md", (unsigned long long)p->offset);
		}
	}
	const struct sdk_page *lp = page_at(img, img->layout.layout_offset);
	if (!lp || lp->flags != 0x201 || memcmp(lp->data, &img->layout, sizeof(img->layout)))
		bad("the layout page at %#llx differs from img->layout", (unsigned long long)img->layout.layout_offset);
	/* Every PT_LOAD, read here independently: file bytes, then zeros, with its permissions. */
	uint64_t phoff = rd64(elf + 0x20);
	for (unsigned i = 0; i < rd16(elf + 0x38); i++) {
		const uint8_t *ph = elf + phoff + (uint64_t)i * 56;
		if (rd32(ph) != 1)
			continue;
		uint32_t pf = rd32(ph + 4);
		uint64_t off = rd64(ph + 8), vaddr = rd64(ph + 0x10), filesz = rd64(ph + 0x20), memsz = rd64(ph + 0x28);
		uint64_t perm = ((pf & 4) ? 1 : 0) | ((pf & 2) ? 2 : 0) | ((pf & 1) ? 4 : 0);
		for (uint64_t b = 0; b < memsz;) {
			uint64_t a = vaddr + b, in = a & (PG - 1), chunk = PG - in < memsz - b ? PG - in : memsz - b;
			const struct sdk_page *p = page_at(img, a - in);
			if (!p || (p->flags & perm) != perm)
				bad("PT_LOAD %u: no page with R/W/X %#llx at %#llx", i, (unsigned long long)perm,
				    (unsigned long long)(a - in));
			for (uint64_t k = 0; k < chunk; k++) {
				uint8_t want = b + k < filesz ? elf[off + b + k] : 0;
				if (p->data[in + k] != want)
					bad("PT_LOAD %u: byte %#llx of the image is %#x, the ELF has %#x", i,
					    (unsigned long long)(a + k), p->data[in + k], want);
			}
			b += chunk;
		}
	}
	(void)n;
	uint8_t mr[32];
	measure(img, mr);
	if (memcmp(mr, img->mrenclave, 32))
		bad("MRENCLAVE differs from the one computed from the page list");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return -1;
	const uint8_t *elf = data + 8;
	size_t n = size - 8;
	if (load_pages(elf, n) > 1024)
		return -1; /* the cap above */
	struct sdk_config cfg;
	config_from(data, &cfg);
	/* A copy in its own allocation: ASan then sees any read past the ELF's end. */
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		return -1;
	memcpy(copy, elf, n);
	struct sdk_image *img = NULL;
	char err[512] = "";
	int rc = sdk_image_from_memory(copy, n, &cfg, &img, err, sizeof(err));
	if (getenv("SGXEMU_FUZZ_TRACE"))
		fprintf(stderr, "fuzz_elf: %s\n", rc ? err : "built");
	if (rc == 0) {
		if (!img)
			bad("success without an image");
		check_image(img, copy, n);
		sdk_image_free(img);
	} else if (rc != -1 || img || (strncmp(err, "image: ", 7) && strncmp(err, "layout: ", 8))) {
		bad("failure %d with message '%s'", rc, err);
	}
	free(copy);
	return 0;
}
