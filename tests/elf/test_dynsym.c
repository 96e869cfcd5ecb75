/* SPDX-License-Identifier: MIT */
/*
 * src/elf/dynsym.c on ELF images built here in memory: the symbol count
 * from DT_GNU_HASH alone and from DT_HASH, lookups by name, binding, type
 * and version, the DT_VERDEF walk, and images it must refuse.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

#include "dynsym.h"

/* Offsets in the image (vaddr == file offset, as in a vDSO). */
enum {
	OFF_PH = sizeof(Elf64_Ehdr),
	OFF_DYN = 0x100,
	OFF_HASH = 0x200,
	OFF_SYM = 0x300,
	OFF_STR = 0x400,
	OFF_VERSYM = 0x500,
	OFF_VERDEF = 0x600,
	IMAGE_SIZE = 0x800,
	NSYMS = 5,
};

/* Names in the string table. */
static const char strtab[] = "\0base.so\0V_1\0V_2\0alpha\0beta\0gamma\0delta";
enum { S_BASE = 1, S_V1 = 9, S_V2 = 13, S_ALPHA = 17, S_BETA = 23, S_GAMMA = 28, S_DELTA = 34 };

static _Alignas(4096) uint8_t image[IMAGE_SIZE];

enum hash_kind { GNU_HASH_ONLY, SYSV_HASH_ONLY };

/*
 * Symbols: 1 alpha (global function, V_1), 2 beta (weak function, V_2),
 * 3 gamma (local function), 4 delta (undefined).  Versions: 1 the base
 * (base.so), 2 V_1, 3 V_2 with V_1 as its parent.
 */
static uintptr_t build(enum hash_kind kind, bool versions)
{
	memset(image, 0, sizeof(image));
	Elf64_Ehdr *eh = (Elf64_Ehdr *)image;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_DYN;
	eh->e_phoff = OFF_PH;
	eh->e_phnum = 2;
	Elf64_Phdr *ph = (Elf64_Phdr *)(image + OFF_PH);
	ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_filesz = IMAGE_SIZE, .p_memsz = IMAGE_SIZE};
	ph[1] = (Elf64_Phdr){.p_type = PT_DYNAMIC, .p_offset = OFF_DYN, .p_vaddr = OFF_DYN};

	Elf64_Sym *sym = (Elf64_Sym *)(image + OFF_SYM);
	sym[1] = (Elf64_Sym){
	    .st_name = S_ALPHA, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1, .st_value = 0x10};
	sym[2] = (Elf64_Sym){
	    .st_name = S_BETA, .st_info = ELF64_ST_INFO(STB_WEAK, STT_FUNC), .st_shndx = 1, .st_value = 0x20};
	sym[3] = (Elf64_Sym){
	    .st_name = S_GAMMA, .st_info = ELF64_ST_INFO(STB_LOCAL, STT_FUNC), .st_shndx = 1, .st_value = 0x30};
	sym[4] = (Elf64_Sym){.st_name = S_DELTA, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC)};
	memcpy(image + OFF_STR, strtab, sizeof(strtab));

	uint32_t *h = (uint32_t *)(image + OFF_HASH);
	if (kind == GNU_HASH_ONLY) {
		/* Two buckets, symoffset 1, one bloom word: chains {1, 2} and {3, 4}; bit 0 ends a chain. */
		h[0] = 2;
		h[1] = 1;
		h[2] = 1;
		h[3] = 6;
		uint32_t *buckets = h + 4 + 2, *chain = buckets + 2;
		buckets[0] = 1;
		buckets[1] = 3;
		chain[0] = 0x100;
		chain[1] = 0x101;
		chain[2] = 0x200;
		chain[3] = 0x201;
	} else {
		/* nbucket 1, nchain = the symbol count. */
		h[0] = 1;
		h[1] = NSYMS;
	}

	Elf64_Dyn *dyn = (Elf64_Dyn *)(image + OFF_DYN);
	unsigned n = 0;
	dyn[n++] = (Elf64_Dyn){.d_tag = kind == GNU_HASH_ONLY ? DT_GNU_HASH : DT_HASH, .d_un.d_ptr = OFF_HASH};
	dyn[n++] = (Elf64_Dyn){.d_tag = DT_SYMTAB, .d_un.d_ptr = OFF_SYM};
	dyn[n++] = (Elf64_Dyn){.d_tag = DT_STRTAB, .d_un.d_ptr = OFF_STR};
	if (versions) {
		Elf64_Half *versym = (Elf64_Half *)(image + OFF_VERSYM);
		versym[1] = 2;
		versym[2] = 3 | 0x8000; /* hidden bit: the index is the low 15 bits */
		versym[3] = 2;
		versym[4] = 2;
		uint8_t *v = image + OFF_VERDEF;
		const size_t def = sizeof(Elf64_Verdef), aux = sizeof(Elf64_Verdaux);
		*(Elf64_Verdef *)v = (Elf64_Verdef){.vd_version = 1,
						    .vd_flags = VER_FLG_BASE,
						    .vd_ndx = 1,
						    .vd_cnt = 1,
						    .vd_aux = def,
						    .vd_next = def + aux};
		*(Elf64_Verdaux *)(v + def) = (Elf64_Verdaux){.vda_name = S_BASE};
		v += def + aux;
		*(Elf64_Verdef *)v =
		    (Elf64_Verdef){.vd_version = 1, .vd_ndx = 2, .vd_cnt = 1, .vd_aux = def, .vd_next = def + aux};
		*(Elf64_Verdaux *)(v + def) = (Elf64_Verdaux){.vda_name = S_V1};
		v += def + aux;
		*(Elf64_Verdef *)v = (Elf64_Verdef){.vd_version = 1, .vd_ndx = 3, .vd_cnt = 2, .vd_aux = def};
		*(Elf64_Verdaux *)(v + def) = (Elf64_Verdaux){.vda_name = S_V2, .vda_next = aux};
		*(Elf64_Verdaux *)(v + def + aux) = (Elf64_Verdaux){.vda_name = S_V1};
		dyn[n++] = (Elf64_Dyn){.d_tag = DT_VERSYM, .d_un.d_ptr = OFF_VERSYM};
		dyn[n++] = (Elf64_Dyn){.d_tag = DT_VERDEF, .d_un.d_ptr = OFF_VERDEF};
	}
	dyn[n] = (Elf64_Dyn){.d_tag = DT_NULL};
	return (uintptr_t)image;
}

TestSuite(dynsym, .timeout = 60);

Test(dynsym, counts_the_symbols_from_dt_gnu_hash_alone)
{
	uintptr_t base = build(GNU_HASH_ONLY, true);
	struct dynsym d;
	cr_assert(dynsym_parse(base, &d));
	cr_assert_eq(d.nsyms, NSYMS, "past the highest bucket to the end of its chain");
	cr_assert_eq(d.bias, base);
	cr_assert_eq((uintptr_t)d.symtab, base + OFF_SYM);
	cr_assert_eq((uintptr_t)d.strtab, base + OFF_STR);
	cr_assert_eq((uintptr_t)d.versym, base + OFF_VERSYM);
	cr_assert_eq((uintptr_t)d.verdef, base + OFF_VERDEF);
}

Test(dynsym, counts_the_symbols_from_dt_hash)
{
	uintptr_t base = build(SYSV_HASH_ONLY, false);
	struct dynsym d;
	cr_assert(dynsym_parse(base, &d));
	cr_assert_eq(d.nsyms, NSYMS);
	cr_assert_null(d.versym);
	cr_assert_null(d.verdef);
}

Test(dynsym, finds_defined_global_and_weak_functions_by_name_and_version)
{
	uintptr_t base = build(GNU_HASH_ONLY, true);
	struct dynsym d;
	cr_assert(dynsym_parse(base, &d));
	cr_assert_eq(dynsym_lookup(&d, "alpha", "V_1"), (void *)(base + 0x10));
	cr_assert_eq(dynsym_lookup(&d, "alpha", NULL), (void *)(base + 0x10));
	cr_assert_null(dynsym_lookup(&d, "alpha", "V_2"));
	cr_assert_null(dynsym_lookup(&d, "alpha", "base.so"), "the base definition names no symbol's version");
	cr_assert_eq(dynsym_lookup(&d, "beta", "V_2"), (void *)(base + 0x20), "the hidden bit is not the index");
	cr_assert_null(dynsym_lookup(&d, "gamma", NULL), "a local symbol");
	cr_assert_null(dynsym_lookup(&d, "delta", NULL), "an undefined symbol");
	cr_assert_null(dynsym_lookup(&d, "epsilon", NULL));
}

Test(dynsym, ignores_the_version_when_the_image_has_none)
{
	uintptr_t base = build(SYSV_HASH_ONLY, false);
	struct dynsym d;
	cr_assert(dynsym_parse(base, &d));
	cr_assert_eq(dynsym_lookup(&d, "beta", "V_9"), (void *)(base + 0x20));
}

Test(dynsym, walks_the_version_definitions_and_their_names)
{
	uintptr_t base = build(GNU_HASH_ONLY, true);
	struct dynsym d;
	cr_assert(dynsym_parse(base, &d));
	char seen[128] = "";
	for (const Elf64_Verdef *vd = d.verdef; vd; vd = dynsym_verdef_next(vd)) {
		char one[32];
		snprintf(one, sizeof(one), "%s%u:", *seen ? " " : "", vd->vd_ndx);
		strcat(seen, one);
		for (const Elf64_Verdaux *a = dynsym_verdaux(vd); a; a = dynsym_verdaux_next(a)) {
			strcat(seen, " ");
			strcat(seen, d.strtab + a->vda_name);
		}
	}
	cr_assert_str_eq(seen, "1: base.so 2: V_1 3: V_2 V_1");
}

Test(dynsym, refuses_images_without_what_it_reads)
{
	struct dynsym d;
	cr_assert_not(dynsym_parse(0, &d), "no image");

	uintptr_t base = build(GNU_HASH_ONLY, true);
	image[EI_CLASS] = ELFCLASS32;
	cr_assert_not(dynsym_parse(base, &d), "ELFCLASS32");

	build(GNU_HASH_ONLY, true);
	image[0] = 0;
	cr_assert_not(dynsym_parse(base, &d), "no ELF magic");

	build(GNU_HASH_ONLY, true);
	((Elf64_Phdr *)(image + OFF_PH))[1].p_type = PT_NOTE;
	cr_assert_not(dynsym_parse(base, &d), "no PT_DYNAMIC");

	build(GNU_HASH_ONLY, true);
	((Elf64_Phdr *)(image + OFF_PH))[0].p_type = PT_NOTE;
	cr_assert_not(dynsym_parse(base, &d), "no PT_LOAD");

	build(GNU_HASH_ONLY, true);
	((Elf64_Dyn *)(image + OFF_DYN))[0].d_tag = DT_DEBUG;
	cr_assert_not(dynsym_parse(base, &d), "neither hash table");

	build(GNU_HASH_ONLY, true);
	((Elf64_Dyn *)(image + OFF_DYN))[1].d_tag = DT_DEBUG;
	cr_assert_not(dynsym_parse(base, &d), "no DT_SYMTAB");
}

Test(dynsym, reads_the_process_vdso)
{
	uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);
	if (!vdso)
		cr_skip_test("this process has no vDSO");
	struct dynsym d;
	cr_assert(dynsym_parse(vdso, &d));
	cr_assert_gt(d.nsyms, 1);
	void *fn = dynsym_lookup(&d, "__vdso_clock_gettime", NULL);
	cr_assert_not_null(fn);
	cr_assert_eq(dynsym_lookup(&d, "__vdso_clock_gettime", "LINUX_2.6"), fn);
	cr_assert_null(dynsym_lookup(&d, "__vdso_clock_gettime", "LINUX_9.9"));
}
