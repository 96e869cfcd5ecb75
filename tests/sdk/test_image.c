/* SPDX-License-Identifier: MIT */
/*
 * sdk images: the page list and layout of docs/layout.md, every malformed-ELF
 * message, config files, MRENCLAVE against the hw model's leaves, and EINIT
 * with the SIGSTRUCT sdk_image_sign makes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "image.h"
#include "loader.h"
#include "signed_enclave.h"
#include "util.h"

#define REG(f) (SGX_SECINFO_PT(SGX_PT_REG) | (f))
#define R      SGX_SECINFO_R
#define W      SGX_SECINFO_W
#define X      SGX_SECINFO_X
#define TCS    SGX_SECINFO_PT(SGX_PT_TCS)
#define HX(v)  ((unsigned long long)(v))

static char err[512];

static struct sdk_image *load_mem(const void *elf, size_t len, const struct sdk_config *c)
{
	struct sdk_image *img = NULL;
	int rc = sdk_image_from_memory(elf, len, c, &img, err, sizeof(err));
	cr_assert_eq(rc, 0, "sdk_image_from_memory: %s", err);
	return img;
}

/* The error an ELF gives under the default config (asserts that it fails). */
static const char *mem_error(const void *elf, size_t len)
{
	struct sdk_config c;
	sdk_config_default(&c);
	struct sdk_image *img = NULL;
	err[0] = 0;
	cr_assert_eq(sdk_image_from_memory(elf, len, &c, &img, err, sizeof(err)), -1, "accepted a malformed ELF");
	cr_assert_null(img);
	return err;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- the page list and the layout ---------------------------------------------------------- */

/* RX code at 0 (1.5 pages), a gap page, RW data at 0x3000 with bss up to 0x5100. */
static uint8_t *two_segments(size_t *len)
{
	static const struct synth_seg s[] = {
	    {PT_LOAD_, ELF_R | ELF_X, 0x0, 0x1800, 0x1800, 0x10, NULL},
	    {PT_STACK_, ELF_R | ELF_W, 0, 0, 0, 0, NULL},
	    {PT_LOAD_, ELF_R | ELF_W, 0x3000, 0x10, 0x2100, 0x80, NULL},
	};
	return synth_elf(s, 3, 0x100, len);
}

TestSuite(layout, .timeout = 60);

Test(layout, pages_of_image_heap_and_threads)
{
	size_t len;
	uint8_t *elf = two_segments(&len);
	struct sdk_config c;
	sdk_config_default(&c);
	c.n_tcs = 2;
	c.nssa = 2;
	c.stack_size = 0x2000;
	c.heap_size = 0x3000;
	struct sdk_image *img = load_mem(elf, len, &c);

	/* 1. The page list: offsets and SECINFO flags in order. */
	static const struct {
		uint64_t off, flags;
	} want[] = {
	    {0x0000, REG(R | X)},  {0x1000, REG(R | X)},  {0x3000, REG(R | W)}, {0x4000, REG(R | W)},
	    {0x5000, REG(R | W)},  {0x6000, REG(R)},				/* layout */
	    {0x7000, REG(R | W)},  {0x8000, REG(R | W)},  {0x9000, REG(R | W)}, /* heap */
	    {0xb000, REG(R | W)},  {0xc000, REG(R | W)},  {0xd000, TCS},	{0xe000, REG(R | W)},
	    {0xf000, REG(R | W)},  {0x10000, REG(R | W)}, /* thread 0: stack, TCS, 2 SSA frames, thread data */
	    {0x12000, REG(R | W)}, {0x13000, REG(R | W)}, {0x14000, TCS},	{0x15000, REG(R | W)},
	    {0x16000, REG(R | W)}, {0x17000, REG(R | W)}, /* thread 1 */
	};
	cr_assert_eq(img->n_pages, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < img->n_pages; i++) {
		cr_assert_eq(img->pages[i].offset, want[i].off, "page %zu at %#llx", i, HX(img->pages[i].offset));
		cr_assert_eq(img->pages[i].flags, want[i].flags, "page %#llx flags %#llx", HX(want[i].off),
			     HX(img->pages[i].flags));
		cr_assert(img->pages[i].measure);
		cr_assert_eq((uintptr_t)img->pages[i].data % 4096, 0);
		if (i)
			cr_assert_eq(img->pages[i].data, img->pages[i - 1].data + 4096, "data not consecutive");
	}

	/* 2. Contents: segment bytes, zeros around them. */
	for (unsigned j = 0; j < 0x1800; j++)
		cr_assert_eq(img->pages[(j >> 12)].data[j & 0xfff], (uint8_t)(0x10 + (j & 0xf)));
	cr_assert(all_zero(img->pages[1].data + 0x800, 0x800));
	for (unsigned j = 0; j < 0x10; j++)
		cr_assert_eq(img->pages[2].data[j], (uint8_t)(0x80 + j));
	cr_assert(all_zero(img->pages[2].data + 0x10, 4096 - 0x10));
	cr_assert(all_zero(img->pages[3].data, 4096) && all_zero(img->pages[4].data, 4096));
	for (size_t i = 6; i < img->n_pages; i++)
		if (img->pages[i].offset != 0xd000 && img->pages[i].offset != 0x10000 &&
		    img->pages[i].offset != 0x14000 && img->pages[i].offset != 0x17000)
			cr_assert(all_zero(img->pages[i].data, 4096), "page %#llx not zero", HX(img->pages[i].offset));

	/* 3. The layout (and its page). */
	const struct sgxemu_layout *l = &img->layout;
	cr_assert_eq(l->magic, SGXEMU_LAYOUT_MAGIC);
	cr_assert_eq(l->version, SGXEMU_LAYOUT_VERSION);
	cr_assert_eq(l->flags, 0);
	cr_assert_eq(l->enclave_size, 0x20000);
	cr_assert_eq(l->image_size, 0x6000);
	cr_assert_eq(l->entry_offset, 0x100);
	cr_assert_eq(l->layout_offset, 0x6000);
	cr_assert_eq(l->heap_offset, 0x7000);
	cr_assert_eq(l->heap_size, 0x3000);
	cr_assert_eq(l->thread_offset, 0xa000);
	cr_assert_eq(l->thread_stride, 0x7000);
	cr_assert_eq(l->n_tcs, 2);
	cr_assert_eq(l->nssa, 2);
	cr_assert_eq(l->ssa_frame_pages, 1);
	cr_assert_eq(l->n_dyn_threads, 0);
	cr_assert_eq(l->stack_size, 0x2000);
	cr_assert_eq(l->dyn_offset, 0x18000);
	cr_assert_eq(l->dyn_size, 0);
	cr_assert_eq(l->tcs_dyn_offset, 0x18000);
	cr_assert(all_zero((const uint8_t *)l->reserved, sizeof(l->reserved)));
	cr_assert_eq(memcmp(img->pages[5].data, l, sizeof(*l)), 0);
	cr_assert(all_zero(img->pages[5].data + sizeof(*l), 4096 - sizeof(*l)));

	/* 4. SECS fields. */
	cr_assert_eq(img->size, 0x20000);
	cr_assert_eq(img->ssa_frame_size, 1);
	cr_assert_eq(img->misc_select, SGX_MISC_EXINFO);
	cr_assert_eq(img->attributes, SGX_ATTR_MODE64BIT);
	cr_assert_eq(img->xfrm, 3);
	sdk_image_free(img);
	free(elf);
}

Test(layout, tcs_and_thread_data_content)
{
	size_t len;
	uint8_t *elf = two_segments(&len);
	struct sdk_config c;
	sdk_config_default(&c);
	c.n_tcs = 2;
	c.nssa = 3;
	c.stack_size = 0x2000;
	c.heap_size = 0x3000;
	struct sdk_image *img = load_mem(elf, len, &c);
	/* Thread areas at 0xa000 and 0xa000 + 0x8000: guard, stack 2, TCS, SSA 3, thread data. */
	cr_assert_eq(img->layout.thread_stride, 0x8000);
	for (unsigned t = 0; t < 2; t++) {
		uint64_t area = 0xa000 + t * 0x8000;
		const struct sdk_page *tcs_page = NULL, *td_page = NULL;
		for (size_t i = 0; i < img->n_pages; i++) {
			if (img->pages[i].offset == area + 0x3000)
				tcs_page = &img->pages[i];
			if (img->pages[i].offset == area + 0x7000)
				td_page = &img->pages[i];
		}
		cr_assert(tcs_page && td_page);
		cr_assert_eq(tcs_page->flags, TCS);
		struct sgx_tcs want;
		memset(&want, 0, sizeof(want));
		want.ossa = area + 0x4000;
		want.nssa = 3;
		want.oentry = 0x100;
		want.ofsbase = area + 0x7000;
		want.ogsbase = area + 0x7000;
		want.fslimit = 0xfff;
		want.gslimit = 0xfff;
		cr_assert_eq(memcmp(tcs_page->data, &want, sizeof(want)), 0, "TCS of thread %u", t);

		struct sgxemu_thread_data td;
		memcpy(&td, td_page->data, sizeof(td));
		cr_assert_eq(td_page->flags, REG(R | W));
		cr_assert_eq(td.self_offset, area + 0x7000);
		cr_assert_eq(td.layout_offset, 0x6000);
		cr_assert_eq(td.tcs_offset, area + 0x3000);
		cr_assert_eq(td.ssa_offset, area + 0x4000);
		cr_assert_eq(td.stack_top_offset, area + 0x3000);
		cr_assert_eq(td.stack_limit_offset, area + 0x1000);
		cr_assert_eq(td.thread_index, t);
		cr_assert(all_zero(td_page->data + 7 * 8, 4096 - 7 * 8));
	}
	/* The guard pages are never added. */
	for (size_t i = 0; i < img->n_pages; i++)
		cr_assert(img->pages[i].offset != 0xa000 && img->pages[i].offset != 0x12000);
	sdk_image_free(img);
	free(elf);
}

Test(layout, shared_page_gets_both_permissions_and_contents)
{
	static const struct synth_seg s[] = {
	    {PT_LOAD_, ELF_R | ELF_X, 0x0, 0x800, 0x800, 0x20, NULL},
	    {PT_LOAD_, ELF_R | ELF_W, 0x800, 0x100, 0x1000, 0x40, NULL},
	};
	size_t len;
	uint8_t *elf = synth_elf(s, 2, 0x10, &len);
	struct sdk_config c;
	sdk_config_default(&c);
	struct sdk_image *img = load_mem(elf, len, &c);
	cr_assert_eq(img->pages[0].offset, 0);
	cr_assert_eq(img->pages[0].flags, REG(R | W | X));
	cr_assert_eq(img->pages[1].offset, 0x1000);
	cr_assert_eq(img->pages[1].flags, REG(R | W));
	cr_assert_eq(img->pages[2].offset, 0x2000); /* the layout page */
	cr_assert_eq(img->pages[2].flags, REG(R));
	for (unsigned j = 0; j < 0x800; j++)
		cr_assert_eq(img->pages[0].data[j], (uint8_t)(0x20 + (j & 0xf)));
	for (unsigned j = 0; j < 0x100; j++)
		cr_assert_eq(img->pages[0].data[0x800 + j], (uint8_t)(0x40 + (j & 0xf)));
	cr_assert(all_zero(img->pages[0].data + 0x900, 0x700));
	cr_assert(all_zero(img->pages[1].data, 4096));
	sdk_image_free(img);
	free(elf);
}

Test(layout, edmm_areas_are_placed_but_not_added)
{
	size_t len;
	uint8_t *elf = two_segments(&len);
	struct sdk_config c;
	sdk_config_default(&c);
	c.stack_size = 0x1000;
	c.heap_size = 0;
	c.edmm = true;
	c.debug = true;
	c.dyn_size = 0x100000;
	c.n_dyn_threads = 3;
	struct sdk_image *img = load_mem(elf, len, &c);
	const struct sgxemu_layout *l = &img->layout;
	/* Thread area: guard, stack 1, TCS, SSA 2 x 1, data = 6 pages. */
	cr_assert_eq(l->flags, SGXEMU_LAYOUT_EDMM | SGXEMU_LAYOUT_DEBUG);
	cr_assert_eq(l->heap_offset, 0x7000);
	cr_assert_eq(l->thread_offset, 0x7000);
	cr_assert_eq(l->thread_stride, 0x6000);
	cr_assert_eq(l->dyn_offset, 0xd000);
	cr_assert_eq(l->dyn_size, 0x100000);
	cr_assert_eq(l->tcs_dyn_offset, 0x10d000);
	cr_assert_eq(l->n_dyn_threads, 3);
	cr_assert_eq(l->enclave_size, 0x200000); /* end 0x11f000 */
	cr_assert_eq(img->attributes, SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG);
	uint64_t last = img->pages[img->n_pages - 1].offset;
	cr_assert_eq(last, 0xc000, "last page %#llx", HX(last));
	cr_assert_eq(img->n_pages, 5 + 1 + 5);
	sdk_image_free(img);
	free(elf);
}

Test(layout, configured_enclave_size_is_used)
{
	size_t len;
	uint8_t *elf = two_segments(&len);
	struct sdk_config c;
	sdk_config_default(&c);
	c.enclave_size = 0x1000000;
	struct sdk_image *img = load_mem(elf, len, &c);
	cr_assert_eq(img->size, 0x1000000);
	cr_assert_eq(img->layout.enclave_size, 0x1000000);
	cr_assert_eq(img->cfg.enclave_size, 0x1000000);
	sdk_image_free(img);
	free(elf);
}

Test(layout, ssa_frame_follows_xfrm_and_misc)
{
	size_t len;
	uint8_t *elf = two_segments(&len);
	struct sdk_config c;
	sdk_config_default(&c);
	c.xfrm = 0x60003; /* AMX: 11008 bytes of XSAVE + 16 EXINFO + 184 GPRSGX */
	struct sdk_image *img = load_mem(elf, len, &c);
	cr_assert_eq(img->ssa_frame_size, 3);
	cr_assert_eq(img->layout.ssa_frame_pages, 3);
	cr_assert_eq(img->xfrm, 0x60003);
	cr_assert_eq(img->cfg.xfrm_mask, 0x60003);
	sdk_image_free(img);

	c.xfrm = 0x2e7; /* AVX-512 + PKRU: 2696 + 16 + 184 */
	img = load_mem(elf, len, &c);
	cr_assert_eq(img->ssa_frame_size, 1);
	sdk_image_free(img);

	c.ssa_frame_pages = 4; /* more than needed is honoured */
	img = load_mem(elf, len, &c);
	cr_assert_eq(img->ssa_frame_size, 4);
	cr_assert_eq(img->layout.thread_stride, 0x1000 + 0x10000 + 0x1000 + 2 * 4 * 0x1000 + 0x1000);
	sdk_image_free(img);

	c.xfrm = 0x60003;
	c.ssa_frame_pages = 2;
	struct sdk_image *bad = NULL;
	cr_assert_eq(sdk_image_from_memory(elf, len, &c, &bad, err, sizeof(err)), -1);
	cr_assert_str_eq(err,
			 "layout: ssa_frame_pages 2 is too small: xfrm 0x60003 and misc_select 0x1 need 11208 bytes");
	free(elf);
}

Test(layout, fixture_elf_from_file)
{
	struct sdk_config c;
	sdk_config_default(&c);
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load(FIXTURE_ELF, &c, &img, err, sizeof(err)), 0, "%s", err);
	/* The fixture's PT_LOADs: R, R+X, R, R+W (with bss); e_entry in the R+X one. */
	size_t len;
	uint8_t *elf = fixture_elf(&len);
	uint64_t end = 0;
	for (unsigned i = 0; i < elf_phnum(elf); i++) {
		uint8_t *ph = elf_ph(elf, i);
		if (rd32(ph + PH_TYPE) != PT_LOAD_)
			continue;
		uint64_t v = rd64(ph + PH_VADDR), m = rd64(ph + PH_MEMSZ), f = rd32(ph + PH_FLAGS);
		uint64_t want = REG(((f & ELF_R) ? R : 0) | ((f & ELF_W) ? W : 0) | ((f & ELF_X) ? X : 0));
		for (uint64_t o = v & ~0xfffULL; o < v + m; o += 4096) {
			size_t k = 0;
			while (k < img->n_pages && img->pages[k].offset != o)
				k++;
			cr_assert_lt(k, img->n_pages, "page %#llx missing", HX(o));
			cr_assert_eq(img->pages[k].flags & want, want);
		}
		if (v + m > end)
			end = v + m;
	}
	cr_assert_eq(img->layout.image_size, (end + 4095) & ~4095ULL);
	cr_assert_eq(img->layout.entry_offset, rd64(elf + EH_ENTRY));
	/* The same bytes from memory give the same measurement. */
	struct sdk_image *mem = load_mem(elf, len, &c);
	cr_assert_eq(memcmp(mem->mrenclave, img->mrenclave, 32), 0);
	sdk_image_free(mem);
	sdk_image_free(img);
	free(elf);
}

/* ---- malformed ELFs: one message each ---------------------------------------------------------- */

TestSuite(malformed, .timeout = 60);

static uint8_t *g_elf;
static size_t g_len;

static void fixture_setup(void)
{
	g_elf = fixture_elf(&g_len);
}

static void fixture_teardown(void)
{
	free(g_elf);
}

/* Program header of the n-th PT_LOAD of the fixture. */
static uint8_t *load_ph(unsigned n, unsigned *index)
{
	int i = elf_find(g_elf, PT_LOAD_, n);
	cr_assert_geq(i, 0, "fixture has no PT_LOAD %u", n);
	if (index)
		*index = (unsigned)i;
	return elf_ph(g_elf, (unsigned)i);
}

Test(malformed, truncated_header, .init = fixture_setup, .fini = fixture_teardown)
{
	cr_assert_str_eq(mem_error(g_elf, 12), "image: truncated file (12 bytes; the ELF header needs 64)");
}

Test(malformed, bad_magic, .init = fixture_setup, .fini = fixture_teardown)
{
	g_elf[1] = 'X';
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: not an ELF file (bad magic)");
}

Test(malformed, elf32_class, .init = fixture_setup, .fini = fixture_teardown)
{
	g_elf[EH_CLASS] = 1;
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: ELF class 1; expected ELFCLASS64 (2)");
}

Test(malformed, big_endian, .init = fixture_setup, .fini = fixture_teardown)
{
	g_elf[EH_DATA] = 2;
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: ELF data encoding 2; expected little-endian (1)");
}

Test(malformed, elf_version, .init = fixture_setup, .fini = fixture_teardown)
{
	wr32(g_elf + 0x14, 2);
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: ELF version 1/2; expected 1");
}

Test(malformed, fixed_address_executable, .init = fixture_setup, .fini = fixture_teardown)
{
	wr16(g_elf + EH_TYPE, 2);
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: e_type 2 (ET_EXEC); expected ET_DYN (a static PIE)");
}

Test(malformed, relocatable_object, .init = fixture_setup, .fini = fixture_teardown)
{
	wr16(g_elf + EH_TYPE, 1);
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: e_type 1 (ET_REL); expected ET_DYN (a static PIE)");
}

Test(malformed, wrong_machine, .init = fixture_setup, .fini = fixture_teardown)
{
	wr16(g_elf + EH_MACHINE, 183); /* AArch64 */
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: e_machine 183; expected EM_X86_64 (62)");
}

Test(malformed, no_program_headers, .init = fixture_setup, .fini = fixture_teardown)
{
	wr16(g_elf + EH_PHNUM, 0);
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: no program headers");
}

Test(malformed, extended_program_header_count, .init = fixture_setup, .fini = fixture_teardown)
{
	wr16(g_elf + EH_PHNUM, 0xffff);
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: too many program headers (e_phnum is PN_XNUM)");
}

Test(malformed, program_header_size, .init = fixture_setup, .fini = fixture_teardown)
{
	wr16(g_elf + EH_PHENTSIZE, 32);
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: e_phentsize 32; expected 56");
}

Test(malformed, program_headers_truncated, .init = fixture_setup, .fini = fixture_teardown)
{
	uint64_t phend = rd64(g_elf + EH_PHOFF) + elf_phnum(g_elf) * PH_SIZE;
	char want[160];
	snprintf(want, sizeof(want), "image: truncated file (%llu bytes; the program headers end at %#llx)",
		 HX(phend - 1), HX(phend));
	cr_assert_str_eq(mem_error(g_elf, phend - 1), want);
}

Test(malformed, program_headers_offset_huge, .init = fixture_setup, .fini = fixture_teardown)
{
	wr64(g_elf + EH_PHOFF, ~0ULL - 8);
	char want[160];
	snprintf(want, sizeof(want), "image: truncated file (%zu bytes; the program headers end at %#llx)", g_len,
		 HX(~0ULL - 8 + elf_phnum(g_elf) * PH_SIZE));
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, interpreter, .init = fixture_setup, .fini = fixture_teardown)
{
	int i = elf_find(g_elf, PT_STACK_, 0);
	cr_assert_geq(i, 0);
	wr32(elf_ph(g_elf, (unsigned)i) + PH_TYPE, PT_INTERP_);
	cr_assert_str_eq(mem_error(g_elf, g_len),
			 "image: has PT_INTERP (a dynamically linked program); link with -static-pie");
}

Test(malformed, thread_local_storage, .init = fixture_setup, .fini = fixture_teardown)
{
	int i = elf_find(g_elf, PT_STACK_, 0);
	cr_assert_geq(i, 0);
	wr32(elf_ph(g_elf, (unsigned)i) + PH_TYPE, PT_TLS_);
	cr_assert_str_eq(mem_error(g_elf, g_len),
			 "image: has PT_TLS (thread-local storage), which the enclave layout does not support");
}

/* The file offset of the first dynamic entry with tag t. */
static uint8_t *dyn_entry(uint64_t t)
{
	int i = elf_find(g_elf, PT_DYNAMIC_, 0);
	cr_assert_geq(i, 0, "fixture has no PT_DYNAMIC");
	uint8_t *ph = elf_ph(g_elf, (unsigned)i);
	for (uint64_t o = rd64(ph + PH_OFFSET); o < rd64(ph + PH_OFFSET) + rd64(ph + PH_FILESZ); o += 16)
		if (rd64(g_elf + o) == t)
			return g_elf + o;
	cr_assert_fail("no dynamic entry %llu", HX(t));
	return NULL;
}

Test(malformed, needed_library_without_name, .init = fixture_setup, .fini = fixture_teardown)
{
	uint8_t *d = dyn_entry(21); /* DT_DEBUG -> DT_NEEDED with a name outside DT_STRSZ */
	wr64(d, 1);
	wr64(d + 8, 100000);
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: needs a shared library (DT_NEEDED); link with -static-pie");
}

Test(malformed, text_relocations, .init = fixture_setup, .fini = fixture_teardown)
{
	wr64(dyn_entry(21), 22); /* DT_DEBUG -> DT_TEXTREL */
	cr_assert_str_eq(mem_error(g_elf, g_len),
			 "image: has text relocations (DT_TEXTREL): code pages would have to be writable");
}

Test(malformed, dynamic_section_outside_file, .init = fixture_setup, .fini = fixture_teardown)
{
	int i = elf_find(g_elf, PT_DYNAMIC_, 0);
	uint8_t *ph = elf_ph(g_elf, (unsigned)i);
	uint64_t off = rd64(ph + PH_OFFSET);
	wr64(ph + PH_FILESZ, g_len);
	char want[200];
	snprintf(want, sizeof(want),
		 "image: program header %d (PT_DYNAMIC): file range [%#llx, %#llx) is outside the file (%zu bytes)", i,
		 HX(off), HX(off + g_len), g_len);
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, needed_library_named)
{
	/* A synthetic ELF: R segment with a string table, RX code, a dynamic section naming libc.so.6. */
	uint8_t strtab[16] = "\0libc.so.6";
	uint8_t dyn[64];
	wr64(dyn + 0, 5); /* DT_STRTAB at vaddr 0x1000 */
	wr64(dyn + 8, 0x1000);
	wr64(dyn + 16, 10); /* DT_STRSZ */
	wr64(dyn + 24, sizeof(strtab));
	wr64(dyn + 32, 1); /* DT_NEEDED "libc.so.6" */
	wr64(dyn + 40, 1);
	wr64(dyn + 48, 0);
	wr64(dyn + 56, 0);
	const struct synth_seg s[] = {
	    {PT_LOAD_, ELF_R, 0x1000, sizeof(strtab), sizeof(strtab), 0, strtab},
	    {PT_LOAD_, ELF_R | ELF_X, 0x2000, 0x10, 0x10, 0x90, NULL},
	    {PT_LOAD_, ELF_R | ELF_W, 0x3000, sizeof(dyn), sizeof(dyn), 0, dyn},
	    {PT_DYNAMIC_, ELF_R | ELF_W, 0x3000, sizeof(dyn), sizeof(dyn), 0, dyn},
	};
	size_t len;
	uint8_t *elf = synth_elf(s, 4, 0x2000, &len);
	cr_assert_str_eq(mem_error(elf, len),
			 "image: needs the shared library 'libc.so.6' (DT_NEEDED); link with -static-pie");
	free(elf);
}

Test(malformed, filesz_larger_than_memsz, .init = fixture_setup, .fini = fixture_teardown)
{
	unsigned i;
	uint8_t *ph = load_ph(1, &i);
	uint64_t m = rd64(ph + PH_MEMSZ);
	wr64(ph + PH_FILESZ, m + 1);
	char want[160];
	snprintf(want, sizeof(want), "image: program header %u: p_filesz %#llx is larger than p_memsz %#llx", i,
		 HX(m + 1), HX(m));
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, file_range_outside_file, .init = fixture_setup, .fini = fixture_teardown)
{
	unsigned i;
	uint8_t *ph = load_ph(3, &i);
	uint64_t off = rd64(ph + PH_OFFSET);
	wr64(ph + PH_FILESZ, g_len);
	wr64(ph + PH_MEMSZ, g_len);
	char want[200];
	snprintf(want, sizeof(want),
		 "image: program header %u: file range [%#llx, %#llx) is outside the file (%zu bytes)", i, HX(off),
		 HX(off + g_len), g_len);
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, file_offset_overflows, .init = fixture_setup, .fini = fixture_teardown)
{
	unsigned i;
	uint8_t *ph = load_ph(1, &i);
	wr64(ph + PH_OFFSET, ~0ULL - 0xfff + rd64(ph + PH_VADDR) % 4096);
	cr_assert(strstr(mem_error(g_elf, g_len), "is outside the file"), "%s", err);
}

Test(malformed, vaddr_and_offset_not_congruent, .init = fixture_setup, .fini = fixture_teardown)
{
	unsigned i;
	uint8_t *ph = load_ph(3, &i);
	uint64_t v = rd64(ph + PH_VADDR) + 8, off = rd64(ph + PH_OFFSET);
	wr64(ph + PH_VADDR, v);
	char want[160];
	snprintf(want, sizeof(want), "image: program header %u: p_vaddr %#llx and p_offset %#llx differ modulo 4096", i,
		 HX(v), HX(off));
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, overlapping_segments, .init = fixture_setup, .fini = fixture_teardown)
{
	unsigned i0, i1;
	uint8_t *a = load_ph(0, &i0), *b = load_ph(1, &i1);
	uint64_t bv = rd64(b + PH_VADDR), bm = rd64(b + PH_MEMSZ), av = rd64(a + PH_VADDR);
	wr64(a + PH_MEMSZ, bv - av + 1);
	char want[200];
	snprintf(want, sizeof(want), "image: program headers %u and %u overlap ([%#llx, %#llx) and [%#llx, %#llx))", i0,
		 i1, HX(av), HX(bv + 1), HX(bv), HX(bv + bm));
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, segment_beyond_largest_enclave, .init = fixture_setup, .fini = fixture_teardown)
{
	unsigned i;
	uint8_t *ph = load_ph(3, &i);
	uint64_t v = SDK_ENCLAVE_SIZE_MAX + rd64(ph + PH_VADDR) % 4096, m = rd64(ph + PH_MEMSZ);
	wr64(ph + PH_VADDR, v);
	char want[200];
	snprintf(want, sizeof(want),
		 "image: program header %u: [%#llx, +%#llx) is beyond the largest enclave (%#llx bytes)", i, HX(v),
		 HX(m), HX(SDK_ENCLAVE_SIZE_MAX));
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, segment_beyond_configured_size, .init = fixture_setup, .fini = fixture_teardown)
{
	struct sdk_config c;
	sdk_config_default(&c);
	c.enclave_size = 0x2000;
	unsigned i;
	uint8_t *ph = load_ph(2, &i); /* the fixture's third PT_LOAD starts at or above 0x2000 */
	uint64_t v = rd64(ph + PH_VADDR), m = rd64(ph + PH_MEMSZ);
	cr_assert_geq(v + m, 0x2000);
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_from_memory(g_elf, g_len, &c, &img, err, sizeof(err)), -1);
	char want[200];
	snprintf(want, sizeof(want), "image: program header %u: [%#llx, %#llx) lies beyond enclave_size 0x2000", i,
		 HX(v), HX(v + m));
	cr_assert_str_eq(err, want);
}

Test(malformed, layout_beyond_configured_size)
{
	size_t len;
	uint8_t *elf = two_segments(&len);
	struct sdk_config c;
	sdk_config_default(&c);
	c.enclave_size = 0x10000;
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_from_memory(elf, len, &c, &img, err, sizeof(err)), -1);
	/* 0x6000 image + layout + 0x40000 heap + one 0x15000 thread area. */
	cr_assert_str_eq(err, "image: the layout needs 0x5c000 bytes, more than enclave_size 0x10000");
	free(elf);
}

Test(malformed, writable_not_readable, .init = fixture_setup, .fini = fixture_teardown)
{
	unsigned i;
	uint8_t *ph = load_ph(3, &i);
	wr32(ph + PH_FLAGS, ELF_W);
	char want[160];
	snprintf(want, sizeof(want), "image: program header %u: writable but not readable (SGX needs R with W)", i);
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, no_load_segment, .init = fixture_setup, .fini = fixture_teardown)
{
	int i;
	while ((i = elf_find(g_elf, PT_LOAD_, 0)) >= 0)
		wr32(elf_ph(g_elf, (unsigned)i) + PH_TYPE, PT_NOTE_);
	cr_assert_str_eq(mem_error(g_elf, g_len), "image: no PT_LOAD segment");
}

Test(malformed, entry_not_executable, .init = fixture_setup, .fini = fixture_teardown)
{
	uint64_t v = rd64(load_ph(2, NULL) + PH_VADDR); /* read-only data */
	wr64(g_elf + EH_ENTRY, v);
	char want[160];
	snprintf(want, sizeof(want), "image: e_entry %#llx is not inside an executable PT_LOAD segment", HX(v));
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, entry_past_code, .init = fixture_setup, .fini = fixture_teardown)
{
	uint8_t *ph = load_ph(1, NULL);
	uint64_t v = rd64(ph + PH_VADDR) + rd64(ph + PH_MEMSZ);
	wr64(g_elf + EH_ENTRY, v);
	char want[160];
	snprintf(want, sizeof(want), "image: e_entry %#llx is not inside an executable PT_LOAD segment", HX(v));
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, too_many_pages, .init = fixture_setup, .fini = fixture_teardown)
{
	uint8_t *ph = load_ph(3, NULL);
	uint64_t v = rd64(ph + PH_VADDR);
	wr64(ph + PH_MEMSZ, 8ULL << 30); /* 8 GiB of bss */
	/* Pages: those of PT_LOAD 0..2, the bss range, the layout page, 64 heap, one thread (16 + 1 + 2 + 1). */
	uint64_t pages = 0;
	for (unsigned k = 0; k < 3; k++) {
		uint8_t *p = load_ph(k, NULL);
		uint64_t lo = rd64(p + PH_VADDR) & ~0xfffULL,
			 hi = (rd64(p + PH_VADDR) + rd64(p + PH_MEMSZ) + 0xfff) & ~0xfffULL;
		pages += (hi - lo) / 4096;
	}
	pages += (((v + (8ULL << 30) + 0xfff) & ~0xfffULL) - (v & ~0xfffULL)) / 4096 + 1 + 64 + 20;
	char want[200];
	snprintf(want, sizeof(want),
		 "image: too many pages: the enclave would start with %llu pages, at most 1048576 are supported",
		 HX(pages));
	cr_assert_str_eq(mem_error(g_elf, g_len), want);
}

Test(malformed, missing_file)
{
	struct sdk_config c;
	sdk_config_default(&c);
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load("/nonexistent/enclave.elf", &c, &img, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "/nonexistent/enclave.elf: No such file or directory");
	cr_assert_eq(sdk_image_load("/", &c, &img, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "/: Is a directory");
	cr_assert_null(img);
}

TestSuite(read_file, .timeout = 60);

Test(read_file, returns_every_byte_with_a_nul_after_them)
{
	char *dir = make_temp_dir(), *path = NULL;
	cr_assert(asprintf(&path, "%s/data.bin", dir) > 0);
	static const char data[] = {'a', 0, 'b', '\n', 'c'};
	write_file(path, data, sizeof(data));
	size_t len = 99;
	char *buf = sdk_read_file(path, &len, err, sizeof(err));
	cr_assert_not_null(buf, "%s", err);
	cr_assert_eq(len, sizeof(data));
	cr_assert_arr_eq(buf, data, sizeof(data));
	cr_assert_eq(buf[len], '\0');
	free(buf);
	rm_rf(dir);
	free(path);
}

Test(read_file, names_the_file_and_the_problem)
{
	size_t len = 7;
	cr_assert_null(sdk_read_file("/nonexistent/key.pem", &len, err, sizeof(err)));
	cr_assert_str_eq(err, "/nonexistent/key.pem: No such file or directory");
	cr_assert_null(sdk_read_file("/", &len, err, sizeof(err)));
	cr_assert_str_eq(err, "/: Is a directory");
	cr_assert_null(sdk_read_file("/dev/null", &len, err, sizeof(err)));
	cr_assert_str_eq(err, "/dev/null: not a regular file");
	cr_assert_eq(len, 7, "len is left alone on failure");
}

Test(malformed, empty_file)
{
	char *dir = make_temp_dir(), *path = NULL;
	cr_assert(asprintf(&path, "%s/empty.elf", dir) > 0);
	write_file(path, "", 0);
	struct sdk_config c;
	sdk_config_default(&c);
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load(path, &c, &img, err, sizeof(err)), -1);
	char want[300];
	snprintf(want, sizeof(want), "%s: truncated file (0 bytes; the ELF header needs 64)", path);
	cr_assert_str_eq(err, want);
	rm_rf(dir);
	free(path);
	free(dir);
}

/* ---- configuration ----------------------------------------------------------------------------- */

TestSuite(config, .timeout = 60);

Test(config, defaults)
{
	struct sdk_config c;
	sdk_config_default(&c);
	cr_assert_eq(c.n_tcs, 1);
	cr_assert_eq(c.nssa, 2);
	cr_assert_eq(c.ssa_frame_pages, 0);
	cr_assert_eq(c.stack_size, 0x10000);
	cr_assert_eq(c.heap_size, 0x40000);
	cr_assert_eq(c.dyn_size, 0);
	cr_assert_eq(c.n_dyn_threads, 0);
	cr_assert_eq(c.enclave_size, 0);
	cr_assert(!c.edmm && !c.debug);
	cr_assert_eq(c.attributes, 0);
	cr_assert_eq(c.xfrm, 3);
	cr_assert_eq(c.attributes_mask, ~0ULL);
	cr_assert(!c.xfrm_mask_set);
	cr_assert_eq(c.misc_select, SGX_MISC_EXINFO);
	cr_assert_eq(c.misc_mask, ~0U);
	cr_assert_eq(c.isv_prod_id, 0);
	cr_assert_eq(c.isv_svn, 0);
	cr_assert_eq(c.date_bcd, 0);
	cr_assert_eq(sdk_config_check(&c, err, sizeof(err)), 0, "%s", err);
}

static char *g_dir, *g_cfg;

static void cfg_setup(void)
{
	g_dir = make_temp_dir();
	cr_assert(asprintf(&g_cfg, "%s/enclave.conf", g_dir) > 0);
}

static void cfg_teardown(void)
{
	rm_rf(g_dir);
	free(g_dir);
	free(g_cfg);
}

static int load_text(struct sdk_config *c, const char *text)
{
	write_file(g_cfg, text, strlen(text));
	return sdk_config_load(c, g_cfg, err, sizeof(err));
}

Test(config, every_key_from_a_file, .init = cfg_setup, .fini = cfg_teardown)
{
	struct sdk_config c;
	sdk_config_default(&c);
	cr_assert_eq(load_text(&c, "# layout of the test enclave\n"
				   "\n"
				   "n_tcs = 4\n"
				   "nssa=3   # two nested exceptions\n"
				   "  ssa_frame_pages = 2\n"
				   "stack_size = 128K\n"
				   "heap-size = 2M\n"
				   "dyn_size = 1G\n"
				   "n_dyn_threads = 8\n"
				   "enclave_size = 0x100000000\n"
				   "edmm = yes\n"
				   "debug = on\n"
				   "attributes = provisionkey|KSS,aexnotify\n"
				   "xfrm = 0x7\n"
				   "attributes_mask = 0xfffffffffffffffd\n"
				   "xfrm_mask = 0\n"
				   "misc_select = 0\n"
				   "misc_mask = 0xfffffffe\n"
				   "isv_prod_id = 65535\n"
				   "isv_svn = 7\n"
				   "date = 2024-02-29\r\n"),
		     0, "%s", err);
	cr_assert_eq(c.n_tcs, 4);
	cr_assert_eq(c.nssa, 3);
	cr_assert_eq(c.ssa_frame_pages, 2);
	cr_assert_eq(c.stack_size, 128 << 10);
	cr_assert_eq(c.heap_size, 2 << 20);
	cr_assert_eq(c.dyn_size, 1ULL << 30);
	cr_assert_eq(c.n_dyn_threads, 8);
	cr_assert_eq(c.enclave_size, 1ULL << 32);
	cr_assert(c.edmm && c.debug);
	cr_assert_eq(c.attributes, SGX_ATTR_PROVISIONKEY | SGX_ATTR_KSS | SGX_ATTR_AEXNOTIFY);
	cr_assert_eq(c.xfrm, 7);
	cr_assert_eq(c.attributes_mask, ~SGX_ATTR_DEBUG);
	cr_assert(c.xfrm_mask_set);
	cr_assert_eq(c.xfrm_mask, 0);
	cr_assert_eq(c.misc_select, 0);
	cr_assert_eq(c.misc_mask, 0xfffffffe);
	cr_assert_eq(c.isv_prod_id, 65535);
	cr_assert_eq(c.isv_svn, 7);
	cr_assert_eq(c.date_bcd, 0x20240229);
	cr_assert_eq(sdk_config_check(&c, err, sizeof(err)), 0, "%s", err);
}

Test(config, file_errors_name_file_and_line, .init = cfg_setup, .fini = cfg_teardown)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {"n_tcs = 2\nthreads = 4\n", "2: unknown key 'threads'"},
	    {"# c\nn_tcs 4\n", "2: expected 'key = value'"},
	    {"n_tcs =\n", "1: n_tcs: missing value"},
	    {"n_tcs = four\n", "1: n_tcs: 'four' is not a number"},
	    {"n_tcs = 0\n", "1: n_tcs: 0 is out of range (1..65536)"},
	    {"n_tcs = 4294967296\n", "1: n_tcs: '4294967296' is out of range"},
	    {"n_tcs = 99999999999999999999\n", "1: n_tcs: '99999999999999999999' is out of range"},
	    {"nssa = 300\n", "1: nssa: 300 is out of range (1..256)"},
	    {"ssa_frame_pages = 257\n", "1: ssa_frame_pages: 257 is out of range (0..256)"},
	    {"n_dyn_threads = 70000\n", "1: n_dyn_threads: 70000 is out of range (0..65536)"},
	    {"stack_size = 0x1800\n", "1: stack_size: 0x1800 is not a multiple of 4096"},
	    {"stack_size = 0\n", "1: stack_size: a thread needs a stack (at least 4096 bytes)"},
	    {"heap_size = 12Q\n", "1: heap_size: '12Q' is not a size"},
	    {"heap_size = 2T\n", "1: heap_size: '2T' is not a size"},
	    {"dyn_size = 2048G\n", "1: dyn_size: 0x20000000000 is larger than 0x10000000000"},
	    {"dyn_size = 17179869184G\n", "1: dyn_size: '17179869184G' is out of range"},
	    {"enclave_size = 0x3000\n", "1: enclave_size: 0x3000 is not a power of two from 0x2000 to 0x800000000000 "
					"(or 0: automatic)"},
	    {"enclave_size = 4K\n", "1: enclave_size: 0x1000 is not a power of two from 0x2000 to 0x800000000000 "
				    "(or 0: automatic)"},
	    {"debug = maybe\n", "1: debug: 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)"},
	    {"attributes = debug\n",
	     "1: attributes: unknown attribute 'debug' (provisionkey, kss, aexnotify or a number)"},
	    {"attributes = 0x2\n",
	     "1: attributes: 0x2 has bits other than PROVISIONKEY, KSS and AEXNOTIFY (DEBUG comes "
	     "from 'debug', MODE64BIT is always set)"},
	    {"xfrm = 1\n", "1: xfrm: 0x1 is not a legal XCR0 value (x87 and SSE set, components whole)"},
	    {"xfrm = 0x23\n", "1: xfrm: 0x23 is not a legal XCR0 value (x87 and SSE set, components whole)"},
	    {"misc_select = 2\n", "1: misc_select: 0x2 has bits other than EXINFO (bit 0)"},
	    {"isv_svn = 65536\n", "1: isv_svn: '65536' is out of range"},
	    {"date = 2023-02-29\n", "1: date: '2023-02-29' is not a date (yyyy-mm-dd or yyyymmdd)"},
	    {"date = 2024-13-01\n", "1: date: '2024-13-01' is not a date (yyyy-mm-dd or yyyymmdd)"},
	    {"date = 24-01-01\n", "1: date: '24-01-01' is not a date (yyyy-mm-dd or yyyymmdd)"},
	    {"n_tcs = 2\n\nn-tcs = 3\n", "3: n_tcs already set on line 1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sdk_config c, before;
		sdk_config_default(&c);
		before = c;
		cr_assert_eq(load_text(&c, cases[i].text), -1, "accepted: %s", cases[i].text);
		char want[400];
		snprintf(want, sizeof(want), "%s:%s", g_cfg, cases[i].msg);
		cr_assert_str_eq(err, want);
		cr_assert_eq(memcmp(&c, &before, sizeof(c)), 0, "a failed load changed the config");
	}
}

Test(config, missing_file_names_it)
{
	struct sdk_config c;
	sdk_config_default(&c);
	cr_assert_eq(sdk_config_load(&c, "/nonexistent/enclave.conf", err, sizeof(err)), -1);
	cr_assert_str_eq(err, "/nonexistent/enclave.conf: No such file or directory");
}

Test(config, set_accepts_dashes_and_reports_key)
{
	struct sdk_config c;
	sdk_config_default(&c);
	cr_assert_eq(sdk_config_set(&c, "stack-size", "1M", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.stack_size, 1 << 20);
	cr_assert_eq(sdk_config_set(&c, "isv-svn", "0x10", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.isv_svn, 16);
	cr_assert_eq(sdk_config_set(&c, "date", "20240131", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.date_bcd, 0x20240131);
	cr_assert_eq(sdk_config_set(&c, "stack--size", "1M", err, sizeof(err)), -1);
	cr_assert_str_eq(err, "unknown key 'stack--size'");
	cr_assert_eq(sdk_config_key_kind("n-tcs"), SDK_KEY_VALUE);
	cr_assert_eq(sdk_config_key_kind("debug"), SDK_KEY_BOOL);
	cr_assert_eq(sdk_config_key_kind("edmm"), SDK_KEY_BOOL);
	cr_assert_eq(sdk_config_key_kind("key"), SDK_KEY_UNKNOWN);
}

Test(config, numbers)
{
	uint64_t v;
	cr_assert_null(sdk_parse_number("0", false, &v));
	cr_assert_eq(v, 0);
	cr_assert_null(sdk_parse_number("010", false, &v));
	cr_assert_eq(v, 10, "decimal, not octal");
	cr_assert_null(sdk_parse_number("0xfFfF", false, &v));
	cr_assert_eq(v, 0xffff);
	cr_assert_null(sdk_parse_number("18446744073709551615", false, &v));
	cr_assert_eq(v, ~0ULL);
	cr_assert_null(sdk_parse_number("3g", true, &v));
	cr_assert_eq(v, 3ULL << 30);
	cr_assert_null(sdk_parse_number("0x10k", true, &v));
	cr_assert_eq(v, 16 << 10);
	cr_assert_str_eq(sdk_parse_number("18446744073709551616", false, &v), "out of range");
	cr_assert_str_eq(sdk_parse_number("0x", false, &v), "not a number");
	cr_assert_str_eq(sdk_parse_number("", true, &v), "not a size");
	cr_assert_str_eq(sdk_parse_number("1K", false, &v), "not a number");
	cr_assert_str_eq(sdk_parse_number("1KB", true, &v), "not a size");
	cr_assert_str_eq(sdk_parse_number("-1", false, &v), "not a number");
	cr_assert_str_eq(sdk_parse_number(" 1", false, &v), "not a number");
}

Test(config, combinations_checked)
{
	struct sdk_config c;
	sdk_config_default(&c);
	c.dyn_size = 0x1000;
	cr_assert_eq(sdk_config_check(&c, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "layout: dyn_size needs edmm = true (the area is committed with EDMM)");
	c.edmm = true;
	cr_assert_eq(sdk_config_check(&c, err, sizeof(err)), 0, "%s", err);

	sdk_config_default(&c);
	c.n_dyn_threads = 1;
	cr_assert_eq(sdk_config_check(&c, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "layout: n_dyn_threads needs edmm = true (threads are added with EDMM)");

	sdk_config_default(&c);
	c.heap_size = 100;
	cr_assert_eq(sdk_config_check(&c, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "layout: heap_size: 0x64 is not a multiple of 4096");

	/* The image builder runs the same check. */
	size_t len;
	uint8_t *elf = two_segments(&len);
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_from_memory(elf, len, &c, &img, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "layout: heap_size: 0x64 is not a multiple of 4096");
	free(elf);
}

/* ---- MRENCLAVE and EINIT on the hw model ----------------------------------------------------- */

TestSuite(hw, .timeout = 60);

/* ECREATE with img's SECS fields (attributes as given), EADD + EEXTEND every page through the leaves. */
static void hw_build(struct th *t, const struct sdk_image *img, uint64_t attributes)
{
	memset(t, 0, sizeof(*t));
	t->m = th_machine();
	cr_assert_eq(pagetable_init(&t->pt, true), 0);
	t->base = 0x7f0000000000ULL;
	t->size = img->size;
	th_secs_default(&t->secs, t->base, t->size);
	t->secs.ssa_frame_size = img->ssa_frame_size;
	t->secs.miscselect = img->misc_select;
	t->secs.attributes = attributes;
	t->secs.xfrm = img->xfrm;
	th_assert_ok(th_ecreate(t));
	for (size_t i = 0; i < img->n_pages; i++) {
		th_assert_ok(th_eadd(t, img->pages[i].offset, img->pages[i].flags, img->pages[i].data));
		if (img->pages[i].measure)
			th_assert_ok(th_eextend_page(t, img->pages[i].offset));
	}
}

static struct hw_result hw_einit(struct th *t, const struct sgx_sigstruct *s)
{
	static struct sgx_sigstruct sig __attribute__((aligned(4096)));
	static struct sgx_einittoken tok __attribute__((aligned(512)));
	sig = *s;
	memset(&tok, 0, sizeof(tok));
	uint8_t mrsigner[32];
	sigstruct_mrsigner(s, mrsigner);
	se_set_lehash(t->m, mrsigner);
	return encls_einit(t->m, NULL, (uint64_t)(uintptr_t)&sig, t->secs_pa, (uint64_t)(uintptr_t)&tok);
}

static void check_against_hw(const struct sdk_config *c)
{
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load(FIXTURE_ELF, c, &img, err, sizeof(err)), 0, "%s", err);
	struct th t;
	hw_build(&t, img, img->attributes);
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	char a[65], b[65];
	th_hex32(v.mrenclave_now, a);
	th_hex32(img->mrenclave, b);
	cr_assert_str_eq(b, a, "software MRENCLAVE differs from the leaves'");

	struct sgx_sigstruct sig;
	cr_assert_eq(sdk_image_sign(img, se_key(), &sig, err, sizeof(err)), 0, "%s", err);
	th_assert_ok(hw_einit(&t, &sig));
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	uint8_t mrsigner[32];
	sigstruct_mrsigner(&sig, mrsigner);
	cr_assert(v.initialized);
	cr_assert_eq(memcmp(v.secs.mrenclave, img->mrenclave, 32), 0);
	cr_assert_eq(memcmp(v.secs.mrsigner, mrsigner, 32), 0);
	cr_assert_eq(v.secs.isv_prod_id, c->isv_prod_id);
	cr_assert_eq(v.secs.isv_svn, c->isv_svn);
	th_teardown(&t);
	sdk_image_free(img);
}

Test(hw, default_layout_measures_and_initialises)
{
	struct sdk_config c;
	sdk_config_default(&c);
	check_against_hw(&c);
}

Test(hw, threads_debug_edmm_layout_measures_and_initialises)
{
	struct sdk_config c;
	sdk_config_default(&c);
	c.n_tcs = 3;
	c.nssa = 3;
	c.stack_size = 0x4000;
	c.heap_size = 0x8000;
	c.debug = true;
	c.edmm = true;
	c.dyn_size = 1 << 20;
	c.n_dyn_threads = 2;
	c.misc_select = 0;
	c.ssa_frame_pages = 2;
	c.isv_prod_id = 0x1234;
	c.isv_svn = 9;
	c.attributes = SGX_ATTR_KSS;
	check_against_hw(&c);
}

Test(hw, other_layout_fails_einit_with_invalid_measurement)
{
	struct sdk_config c;
	sdk_config_default(&c);
	struct sdk_image *img = NULL, *other = NULL;
	cr_assert_eq(sdk_image_load(FIXTURE_ELF, &c, &img, err, sizeof(err)), 0, "%s", err);
	c.n_tcs = 2;
	cr_assert_eq(sdk_image_load(FIXTURE_ELF, &c, &other, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(memcmp(img->mrenclave, other->mrenclave, 32), 0);
	struct sgx_sigstruct sig;
	cr_assert_eq(sdk_image_sign(other, se_key(), &sig, err, sizeof(err)), 0, "%s", err);
	struct th t;
	hw_build(&t, img, img->attributes);
	th_assert_code(hw_einit(&t, &sig), SGX_INVALID_MEASUREMENT);
	th_teardown(&t);
	sdk_image_free(img);
	sdk_image_free(other);
}

Test(hw, production_signature_refuses_debug_enclave)
{
	/* ATTRIBUTEMASK pins DEBUG: the same pages created with DEBUG set do not initialise. */
	struct sdk_config c;
	sdk_config_default(&c);
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load(FIXTURE_ELF, &c, &img, err, sizeof(err)), 0, "%s", err);
	struct sgx_sigstruct sig;
	cr_assert_eq(sdk_image_sign(img, se_key(), &sig, err, sizeof(err)), 0, "%s", err);
	struct th t;
	hw_build(&t, img, img->attributes | SGX_ATTR_DEBUG);
	th_assert_code(hw_einit(&t, &sig), SGX_INVALID_ATTRIBUTE);
	th_teardown(&t);
	sdk_image_free(img);
}

/* ---- SIGSTRUCT fields -------------------------------------------------------------------------- */

TestSuite(sign, .timeout = 60);

Test(sign, fields_masks_and_signature)
{
	struct sdk_config c;
	sdk_config_default(&c);
	c.debug = true;
	c.isv_prod_id = 77;
	c.isv_svn = 3;
	c.date_bcd = 0x20240131;
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load(FIXTURE_ELF, &c, &img, err, sizeof(err)), 0, "%s", err);
	struct sgx_sigstruct s;
	memset(&s, 0xee, sizeof(s));
	cr_assert_eq(sdk_image_sign(img, se_key(), &s, err, sizeof(err)), 0, "%s", err);

	struct sgx_sigstruct want;
	sigstruct_init(&want, 0x20240131);
	want.miscselect = SGX_MISC_EXINFO;
	want.miscmask = ~0U;
	want.attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG;
	want.attributes_mask = ~0ULL;
	want.xfrm = 3;
	want.xfrm_mask = 3;
	memcpy(want.enclave_hash, img->mrenclave, 32);
	want.isv_prod_id = 77;
	want.isv_svn = 3;
	/* Everything but MODULUS, SIGNATURE, Q1, Q2 equals the expected structure. */
	cr_assert_eq(memcmp(&s, &want, offsetof(struct sgx_sigstruct, modulus)), 0);
	cr_assert_eq(s.exponent, 3);
	cr_assert_eq(memcmp(&s.miscselect, &want.miscselect,
			    offsetof(struct sgx_sigstruct, q1) - offsetof(struct sgx_sigstruct, miscselect)),
		     0);
	uint8_t modulus[384];
	crypto_rsa_modulus_le(se_key(), modulus);
	cr_assert_eq(memcmp(s.modulus, modulus, 384), 0);

	uint8_t msg[256], hash[32];
	sigstruct_signed_bytes(&s, msg);
	crypto_sha256(msg, sizeof(msg), hash);
	cr_assert(crypto_rsa3072_e3_verify(s.modulus, s.signature, s.q1, s.q2, hash));
	/* An independent PKCS#1 v1.5 verification of the byte-reversed values. */
	uint8_t n_be[384], sig_be[384];
	for (int i = 0; i < 384; i++) {
		n_be[i] = s.modulus[383 - i];
		sig_be[i] = s.signature[383 - i];
	}
	cr_assert(crypto_rsa_verify_be(n_be, 3, msg, sizeof(msg), sig_be));
	msg[1027 - 900 + 128]++;
	cr_assert(!crypto_rsa_verify_be(n_be, 3, msg, sizeof(msg), sig_be));
	sdk_image_free(img);
}

Test(sign, explicit_masks_and_default_date_today)
{
	struct sdk_config c;
	sdk_config_default(&c);
	c.attributes_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT;
	c.xfrm_mask = 0;
	c.xfrm_mask_set = true;
	c.misc_mask = 0;
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load(FIXTURE_ELF, &c, &img, err, sizeof(err)), 0, "%s", err);
	struct sgx_sigstruct s;
	time_t before = time(NULL);
	cr_assert_eq(sdk_image_sign(img, se_key(), &s, err, sizeof(err)), 0, "%s", err);
	time_t after = time(NULL);
	cr_assert_eq(s.attributes_mask, SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT);
	cr_assert_eq(s.xfrm_mask, 0);
	cr_assert_eq(s.miscmask, 0);
	char got[16], d1[16], d2[16];
	snprintf(got, sizeof(got), "%08x", s.date);
	struct tm tm;
	strftime(d1, sizeof(d1), "%Y%m%d", gmtime_r(&before, &tm));
	strftime(d2, sizeof(d2), "%Y%m%d", gmtime_r(&after, &tm));
	cr_assert(strcmp(got, d1) == 0 || strcmp(got, d2) == 0, "DATE %s, today %s", got, d1);
	sdk_image_free(img);
}

/* ---- XFRM: names, and loading on the emulator ------------------------------------------------- */

TestSuite(xfrm, .timeout = 60);

Test(xfrm, config_takes_feature_names)
{
	static const struct {
		const char *text;
		uint64_t xfrm;
	} ok[] = {
	    {"avx", 0x7},     {"avx|avx512", 0xE7}, {"AVX512", 0xE7}, {"pkru,avx", 0x207},	  {"amx", 0x60003},
	    {"x87|sse", 0x3}, {"mpx", 0x1B},	    {"0xe7", 0xE7},   {"avx|avx512|pkru", 0x2E7},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sdk_config c;
		sdk_config_default(&c);
		cr_assert_eq(sdk_config_set(&c, "xfrm", ok[i].text, err, sizeof(err)), 0, "%s: %s", ok[i].text, err);
		cr_assert_eq(c.xfrm, ok[i].xfrm, "%s: %#llx", ok[i].text, HX(c.xfrm));
	}
	struct sdk_config c;
	sdk_config_default(&c);
	cr_assert_eq(sdk_config_set(&c, "xfrm", "avx|sse2", err, sizeof(err)), -1);
	cr_assert_str_eq(err, "xfrm: unknown XSAVE feature 'sse2' (avx, avx512, pkru, amx, mpx or a number)");
	cr_assert_eq(sdk_config_set(&c, "xfrm", "0x27", err, sizeof(err)), -1);
	cr_assert_str_eq(err, "xfrm: 0x27 is not a legal XCR0 value (x87 and SSE set, components whole)");
	cr_assert_eq(c.xfrm, 3, "a refused value changes nothing");
}

Test(xfrm, names_of_components)
{
	char b[256];
	sdk_xfrm_names(0x602E7, b, sizeof(b));
	cr_assert_str_eq(b, "x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM PKRU TILECFG TILEDATA");
	sdk_xfrm_names(0x18, b, sizeof(b));
	cr_assert_str_eq(b, "BNDREGS BNDCSR");
	sdk_xfrm_names(0x3 | (1ULL << 19) | (1ULL << 40), b, sizeof(b));
	cr_assert_str_eq(b, "x87 SSE bit 19 bit 40");
	sdk_xfrm_names(0, b, sizeof(b));
	cr_assert_str_eq(b, "-");
	sdk_xfrm_names(0x7, b, 6);
	cr_assert_str_eq(b, "x87 S", "truncated to the buffer");
}

/* The fixture under xfrm, signed; loaded on the emulator (this process) up to EINIT. Return: 0, or -1 with err. */
static int load_with_xfrm(uint64_t xfrm)
{
	struct sdk_config c;
	sdk_config_default(&c);
	c.xfrm = xfrm;
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load(FIXTURE_ELF, &c, &img, err, sizeof(err)), 0, "%s", err);
	struct sgx_sigstruct sig;
	cr_assert_eq(sdk_image_sign(img, se_key(), &sig, err, sizeof(err)), 0, "%s", err);
	/* The fixture is measured and signed, never run: no SGXEMU_ECALL_INIT. */
	struct sdk_load_options o = {.no_init = true};
	struct sdk_enclave *e = NULL;
	int rc = sdk_enclave_load(&sdk_backend_emu, img, &sig, &o, &e, err, sizeof(err));
	if (rc == 0)
		sdk_enclave_destroy(e);
	sdk_image_free(img);
	return rc;
}

Test(xfrm, an_avx_enclave_loads_on_the_emulator)
{
	uint64_t allowed = hw_xfrm_allowed_for(exec_cpu_xfeatures());
	if ((allowed & 0x7) != 0x7)
		cr_skip_test("the kernel did not enable AVX state (XFRM allowed %#llx)", HX(allowed));
	cr_assert_eq(load_with_xfrm(0x3), 0, "x87|SSE: %s", err);
	cr_assert_eq(load_with_xfrm(0x7), 0, "%s", err);
	if ((allowed & 0xE7) == 0xE7)
		cr_assert_eq(load_with_xfrm(0xE7), 0, "AVX-512: %s", err);
}

Test(xfrm, loading_names_the_features_the_platform_lacks)
{
	uint64_t allowed = hw_xfrm_allowed_for(exec_cpu_xfeatures());
	/* The first of these this host does not allow (MPX is gone from Linux since 5.6). */
	static const uint64_t asks[] = {0x1B, 0x203, 0x60003, 0xE7, 0x7};
	uint64_t x = 0;
	for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]) && !x; i++)
		if (asks[i] & ~allowed)
			x = asks[i];
	if (!x)
		cr_skip_test("this host allows every XSAVE feature (XFRM allowed %#llx)", HX(allowed));
	cr_assert_eq(load_with_xfrm(x), -1);
	char lack[128], have[128], want[512];
	sdk_xfrm_names(x & ~allowed, lack, sizeof(lack));
	sdk_xfrm_names(allowed, have, sizeof(have));
	snprintf(want, sizeof(want),
		 "XFRM %#llx asks for XSAVE features this platform does not allow: %s (%#llx); it allows %s (%#llx)",
		 HX(x), lack, HX(x & ~allowed), have, HX(allowed));
	cr_assert_str_eq(err, want);
}
