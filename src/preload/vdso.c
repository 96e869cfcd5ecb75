/* SPDX-License-Identifier: MIT */
/*
 * The vDSO the program finds: an ELF image (ET_DYN, built in memory at
 * load) that exports every dynamic symbol of the real vDSO, each pointing
 * at the real function (position-independent code in the real vDSO's
 * mapping: st_value + our load base = the real address), plus
 * __vdso_sgx_enter_enclave.  It carries what hand-written vDSO parsers
 * read: PT_LOAD at vaddr 0 and PT_DYNAMIC, DT_HASH and DT_GNU_HASH,
 * DT_SYMTAB/DT_STRTAB, DT_VERSYM/DT_VERDEF with the real version names
 * (LINUX_2.6), the soname linux-vdso.so.1, and section headers describing
 * the same tables (Intel's urts finds the symbol through .dynsym and
 * .dynstr only, as the real vDSO's section headers are mapped too).
 *
 * getauxval(AT_SYSINFO_EHDR), the process's auxiliary vector in memory
 * (read by libc's getauxval and by programs that walk it from environ) and
 * /proc/self/auxv opened through open/fopen all lead to it.  The image is
 * built on the first of these, which may come from another library's
 * constructor before ours has run: every caller must see the same image.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <asm/sgx.h>

#include "dynsym.h"
#include "preload.h"

#define MAX_SYMS     64
#define MAX_VERDEFS  8
#define MAX_VERNAMES 4
#define STR_MAX	     2048
#define SGX_SYM	     "__vdso_sgx_enter_enclave"
#define SONAME	     "linux-vdso.so.1"
#define VERSION	     "LINUX_2.6"

struct sym {
	const char *name;
	Elf64_Sym s;	   /* st_value: the absolute address for defined, non-ABS symbols */
	Elf64_Half versym; /* as the real vDSO gives it (hidden bit included) */
};

struct verdef {
	Elf64_Half flags, ndx;
	const char *names[MAX_VERNAMES]; /* the version, then its parents */
	unsigned n_names;
};

/* The image's sections, in address order; also the order of its section header table. */
enum {
	SEC_NULL,
	SEC_HASH,
	SEC_GNU_HASH,
	SEC_DYNSYM,
	SEC_DYNSTR,
	SEC_VERSYM,
	SEC_VERDEF,
	SEC_DYNAMIC,
	SEC_TEXT,
	SEC_SHSTRTAB,
	SEC_COUNT
};

static const char *const sec_name[SEC_COUNT] = {
    [SEC_HASH] = ".hash",	[SEC_GNU_HASH] = ".gnu.hash",  [SEC_DYNSYM] = ".dynsym",
    [SEC_DYNSTR] = ".dynstr",	[SEC_VERSYM] = ".gnu.version", [SEC_VERDEF] = ".gnu.version_d",
    [SEC_DYNAMIC] = ".dynamic", [SEC_TEXT] = ".text",	       [SEC_SHSTRTAB] = ".shstrtab",
};

static pthread_once_t image_once = PTHREAD_ONCE_INIT;
static unsigned long image_base; /* written once, under image_once */

static uint32_t elf_hash(const char *name)
{
	uint32_t h = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h = (h << 4) + *p;
		uint32_t g = h & 0xf0000000u;
		if (g)
			h ^= g >> 24;
		h &= ~g;
	}
	return h;
}

static uint32_t gnu_hash(const char *name)
{
	uint32_t h = 5381;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = h * 33 + *p;
	return h;
}

/* ---- building the image -------------------------------------------------------------- */

struct builder {
	struct sym syms[MAX_SYMS];
	unsigned nsyms; /* index 0 is the null symbol */
	struct verdef vds[MAX_VERDEFS];
	unsigned nvds;
	char str[STR_MAX];
	size_t strsz;
};

static Elf64_Word str_add(struct builder *b, const char *s)
{
	/* Reuse an identical string. */
	for (size_t off = 1; off < b->strsz; off += strlen(b->str + off) + 1)
		if (!strcmp(b->str + off, s))
			return (Elf64_Word)off;
	size_t n = strlen(s) + 1;
	if (b->strsz + n > STR_MAX)
		return 0;
	memcpy(b->str + b->strsz, s, n);
	Elf64_Word off = (Elf64_Word)b->strsz;
	b->strsz += n;
	return off;
}

/* The real vDSO's symbols and versions (v, when have_real), then ours. */
static void collect(struct builder *b, const struct dynsym *v, bool have_real)
{
	b->nsyms = 1;
	b->nvds = 0;
	if (have_real) {
		for (const Elf64_Verdef *vd = v->verdef; vd && b->nvds < MAX_VERDEFS; vd = dynsym_verdef_next(vd)) {
			struct verdef *d = &b->vds[b->nvds++];
			*d = (struct verdef){.flags = vd->vd_flags, .ndx = vd->vd_ndx};
			const Elf64_Verdaux *a = dynsym_verdaux(vd);
			for (unsigned k = 0; a && k < vd->vd_cnt && k < MAX_VERNAMES; k++, a = dynsym_verdaux_next(a))
				d->names[d->n_names++] = v->strtab + a->vda_name;
		}
	}
	if (!b->nvds)
		b->vds[b->nvds++] = (struct verdef){.flags = VER_FLG_BASE, .ndx = 1, .names = {SONAME}, .n_names = 1};
	Elf64_Half ver = 0;
	for (unsigned i = 0; i < b->nvds; i++)
		if (!strcmp(b->vds[i].names[0], VERSION))
			ver = b->vds[i].ndx;
	if (!ver) {
		Elf64_Half max = 1;
		for (unsigned i = 0; i < b->nvds; i++)
			if (b->vds[i].ndx > max)
				max = b->vds[i].ndx;
		ver = (Elf64_Half)(max + 1);
		b->vds[b->nvds++] = (struct verdef){.ndx = ver, .names = {VERSION}, .n_names = 1};
	}
	bool have_vsym = false;
	for (unsigned i = 1; have_real && i < v->nsyms && b->nsyms < MAX_SYMS - 2; i++) {
		const Elf64_Sym *s = &v->symtab[i];
		const char *name = v->strtab + s->st_name;
		/*
		 * .dynsym's sh_info says every symbol after the null one is non-local; a local one
		 * (old vDSOs listed section symbols) is nothing a program can look up.
		 */
		if (!strcmp(name, SGX_SYM) || ELF64_ST_BIND(s->st_info) == STB_LOCAL)
			continue;
		struct sym *d = &b->syms[b->nsyms++];
		d->name = name;
		d->s = *s;
		if (s->st_shndx != SHN_UNDEF && s->st_shndx != SHN_ABS) {
			d->s.st_value = v->bias + s->st_value;
			d->s.st_shndx = SEC_TEXT;
		}
		d->versym = v->versym ? v->versym[i] : 1;
		if (!strcmp(name, VERSION))
			have_vsym = true;
	}
	if (!have_vsym) {
		struct sym *d = &b->syms[b->nsyms++];
		d->name = VERSION;
		d->s = (Elf64_Sym){.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT), .st_shndx = SHN_ABS};
		d->versym = ver;
	}
	struct sym *d = &b->syms[b->nsyms++];
	d->name = SGX_SYM;
	d->s = (Elf64_Sym){.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
			   .st_shndx = SEC_TEXT,
			   .st_value = (uintptr_t)preload_vdso_enter,
			   .st_size = preload_vdso_enter_size};
	d->versym = ver;
}

static size_t align8(size_t x)
{
	return (x + 7) & ~(size_t)7;
}

static size_t align16(size_t x)
{
	return (x + 15) & ~(size_t)15;
}

/* Build the image; return its address or 0. */
static unsigned long build(void)
{
	static struct builder b; /* large: keep it off the stack of a constructor */
	struct dynsym v;
	bool have_real = dynsym_parse(REAL(getauxval)(AT_SYSINFO_EHDR), &v);
	collect(&b, &v, have_real);

	/* Order the symbols by GNU hash bucket (DT_GNU_HASH needs it; DT_HASH does not care). */
	unsigned nsyms = b.nsyms;
	uint32_t nbuckets = nsyms / 2 + 1;
	for (unsigned i = 2; i < nsyms; i++) {
		struct sym t = b.syms[i];
		uint32_t bt = gnu_hash(t.name) % nbuckets;
		unsigned j = i;
		while (j > 1 && gnu_hash(b.syms[j - 1].name) % nbuckets > bt) {
			b.syms[j] = b.syms[j - 1];
			j--;
		}
		b.syms[j] = t;
	}
	b.strsz = 1;
	b.str[0] = 0;
	Elf64_Word soname = str_add(&b, SONAME);
	for (unsigned i = 1; i < nsyms; i++)
		b.syms[i].s.st_name = str_add(&b, b.syms[i].name);
	Elf64_Word vnames[MAX_VERDEFS][MAX_VERNAMES];
	for (unsigned i = 0; i < b.nvds; i++)
		for (unsigned k = 0; k < b.vds[i].n_names; k++)
			vnames[i][k] = str_add(&b, b.vds[i].names[k]);

	/* Layout: vaddr == file offset, base = the ELF header. */
	const unsigned nph = 2, bloom_words = 1;
	size_t off_ph = sizeof(Elf64_Ehdr);
	size_t off_hash = align8(off_ph + nph * sizeof(Elf64_Phdr));
	size_t sz_hash = (2 + nsyms + nsyms) * 4;
	size_t off_gnu = align8(off_hash + sz_hash);
	size_t sz_gnu = 16 + bloom_words * 8 + nbuckets * 4 + (nsyms - 1) * 4;
	size_t off_sym = align8(off_gnu + sz_gnu);
	size_t off_str = off_sym + nsyms * sizeof(Elf64_Sym);
	size_t off_versym = align8(off_str + b.strsz);
	size_t off_verdef = align8(off_versym + nsyms * sizeof(Elf64_Half));
	size_t sz_verdef = 0;
	for (unsigned i = 0; i < b.nvds; i++)
		sz_verdef += sizeof(Elf64_Verdef) + b.vds[i].n_names * sizeof(Elf64_Verdaux);
	size_t off_dyn = align8(off_verdef + sz_verdef);
	const unsigned ndyn = 11;
	size_t off_text = align16(off_dyn + ndyn * sizeof(Elf64_Dyn));
	size_t off_shstr = off_text, sz_shstr = 1;
	for (unsigned i = 1; i < SEC_COUNT; i++)
		sz_shstr += strlen(sec_name[i]) + 1;
	/* The section headers inside PT_LOAD, so that a parser reading them through the mapping finds them. */
	size_t off_sh = align8(off_shstr + sz_shstr);
	size_t size = off_sh + SEC_COUNT * sizeof(Elf64_Shdr);
	size_t map = (size + 4095) & ~(size_t)4095;

	uint8_t *img = REAL(mmap)(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (img == MAP_FAILED)
		return 0;
	uintptr_t base = (uintptr_t)img;

	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = off_ph;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (Elf64_Half)nph;
	eh->e_shoff = off_sh;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = SEC_COUNT;
	eh->e_shstrndx = SEC_SHSTRTAB;

	Elf64_Phdr *ph = (Elf64_Phdr *)(img + off_ph);
	ph[0] =
	    (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_filesz = size, .p_memsz = size, .p_align = 4096};
	ph[1] = (Elf64_Phdr){.p_type = PT_DYNAMIC,
			     .p_flags = PF_R,
			     .p_offset = off_dyn,
			     .p_vaddr = off_dyn,
			     .p_paddr = off_dyn,
			     .p_filesz = ndyn * sizeof(Elf64_Dyn),
			     .p_memsz = ndyn * sizeof(Elf64_Dyn),
			     .p_align = 8};

	/* Symbols; values relative to our base (unsigned wrap-around reaches a real vDSO below us). */
	Elf64_Sym *sym = (Elf64_Sym *)(img + off_sym);
	Elf64_Half *versym = (Elf64_Half *)(img + off_versym);
	for (unsigned i = 1; i < nsyms; i++) {
		sym[i] = b.syms[i].s;
		if (sym[i].st_shndx != SHN_UNDEF && sym[i].st_shndx != SHN_ABS)
			sym[i].st_value -= base;
		versym[i] = b.syms[i].versym;
	}
	memcpy(img + off_str, b.str, b.strsz);

	/* DT_HASH: nbucket = nchain = nsyms. */
	uint32_t *h = (uint32_t *)(img + off_hash);
	h[0] = nsyms;
	h[1] = nsyms;
	uint32_t *bucket = h + 2, *chain = h + 2 + nsyms;
	for (unsigned i = 1; i < nsyms; i++) {
		uint32_t bi = elf_hash(b.syms[i].name) % nsyms;
		chain[i] = bucket[bi];
		bucket[bi] = i;
	}

	/* DT_GNU_HASH: every symbol after the null one is hashed (symoffset 1). */
	uint32_t *g = (uint32_t *)(img + off_gnu);
	const uint32_t shift = 6;
	g[0] = nbuckets;
	g[1] = 1;
	g[2] = bloom_words;
	g[3] = shift;
	uint64_t *bloom = (uint64_t *)(g + 4);
	uint32_t *gb = (uint32_t *)(bloom + bloom_words), *gc = gb + nbuckets;
	for (unsigned i = 1; i < nsyms; i++) {
		uint32_t hv = gnu_hash(b.syms[i].name), bi = hv % nbuckets;
		bloom[(hv / 64) % bloom_words] |= (1ULL << (hv % 64)) | (1ULL << ((hv >> shift) % 64));
		if (!gb[bi])
			gb[bi] = i;
		bool last = i + 1 == nsyms || gnu_hash(b.syms[i + 1].name) % nbuckets != bi;
		gc[i - 1] = (hv & ~1u) | (last ? 1u : 0u);
	}

	/* Version definitions. */
	uint8_t *vp = img + off_verdef;
	for (unsigned i = 0; i < b.nvds; i++) {
		Elf64_Verdef *vd = (Elf64_Verdef *)vp;
		size_t len = sizeof(Elf64_Verdef) + b.vds[i].n_names * sizeof(Elf64_Verdaux);
		*vd = (Elf64_Verdef){.vd_version = VER_DEF_CURRENT,
				     .vd_flags = b.vds[i].flags,
				     .vd_ndx = b.vds[i].ndx,
				     .vd_cnt = (Elf64_Half)b.vds[i].n_names,
				     .vd_hash = elf_hash(b.vds[i].names[0]),
				     .vd_aux = sizeof(Elf64_Verdef),
				     .vd_next = i + 1 < b.nvds ? (Elf64_Word)len : 0};
		Elf64_Verdaux *a = (Elf64_Verdaux *)(vp + sizeof(Elf64_Verdef));
		for (unsigned k = 0; k < b.vds[i].n_names; k++)
			a[k] = (Elf64_Verdaux){.vda_name = vnames[i][k],
					       .vda_next = k + 1 < b.vds[i].n_names ? sizeof(Elf64_Verdaux) : 0};
		vp += len;
	}

	Elf64_Dyn *dyn = (Elf64_Dyn *)(img + off_dyn);
	unsigned d = 0;
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_SONAME, .d_un.d_val = soname};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_HASH, .d_un.d_ptr = off_hash};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_GNU_HASH, .d_un.d_ptr = off_gnu};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_STRTAB, .d_un.d_ptr = off_str};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_SYMTAB, .d_un.d_ptr = off_sym};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_STRSZ, .d_un.d_val = b.strsz};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_SYMENT, .d_un.d_val = sizeof(Elf64_Sym)};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_VERSYM, .d_un.d_ptr = off_versym};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_VERDEF, .d_un.d_ptr = off_verdef};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_VERDEFNUM, .d_un.d_val = b.nvds};
	dyn[d++] = (Elf64_Dyn){.d_tag = DT_NULL};
	if (d != ndyn)
		return 0;

	/*
	 * Section headers, for parsers that look symbols up through .dynsym and .dynstr
	 * (found by name in .shstrtab) instead of PT_DYNAMIC.  .text is empty: the
	 * functions' code is not in the image.  Such a parser sees every defined
	 * function in section .text with an st_value outside .text and outside the
	 * image; base + st_value (mod 2^64) is the function, in the real vDSO's mapping
	 * or, for __vdso_sgx_enter_enclave, in this library.
	 */
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + off_sh);
	sh[SEC_HASH] = (Elf64_Shdr){.sh_type = SHT_HASH,
				    .sh_offset = off_hash,
				    .sh_size = sz_hash,
				    .sh_link = SEC_DYNSYM,
				    .sh_addralign = 8,
				    .sh_entsize = 4};
	sh[SEC_GNU_HASH] = (Elf64_Shdr){
	    .sh_type = SHT_GNU_HASH, .sh_offset = off_gnu, .sh_size = sz_gnu, .sh_link = SEC_DYNSYM, .sh_addralign = 8};
	sh[SEC_DYNSYM] = (Elf64_Shdr){.sh_type = SHT_DYNSYM,
				      .sh_offset = off_sym,
				      .sh_size = nsyms * sizeof(Elf64_Sym),
				      .sh_link = SEC_DYNSTR,
				      .sh_info = 1, /* the first non-local symbol: collect() keeps no local one */
				      .sh_addralign = 8,
				      .sh_entsize = sizeof(Elf64_Sym)};
	sh[SEC_DYNSTR] =
	    (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = off_str, .sh_size = b.strsz, .sh_addralign = 1};
	sh[SEC_VERSYM] = (Elf64_Shdr){.sh_type = SHT_GNU_versym,
				      .sh_offset = off_versym,
				      .sh_size = nsyms * sizeof(Elf64_Half),
				      .sh_link = SEC_DYNSYM,
				      .sh_addralign = 2,
				      .sh_entsize = sizeof(Elf64_Half)};
	sh[SEC_VERDEF] = (Elf64_Shdr){.sh_type = SHT_GNU_verdef,
				      .sh_offset = off_verdef,
				      .sh_size = sz_verdef,
				      .sh_link = SEC_DYNSTR,
				      .sh_info = b.nvds,
				      .sh_addralign = 8};
	sh[SEC_DYNAMIC] = (Elf64_Shdr){.sh_type = SHT_DYNAMIC,
				       .sh_offset = off_dyn,
				       .sh_size = ndyn * sizeof(Elf64_Dyn),
				       .sh_link = SEC_DYNSTR,
				       .sh_addralign = 8,
				       .sh_entsize = sizeof(Elf64_Dyn)};
	sh[SEC_TEXT] = (Elf64_Shdr){.sh_type = SHT_PROGBITS, .sh_offset = off_text, .sh_addralign = 16};
	sh[SEC_SHSTRTAB] =
	    (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = off_shstr, .sh_size = sz_shstr, .sh_addralign = 1};
	char *shstr = (char *)img + off_shstr;
	Elf64_Word name = 1;
	for (unsigned i = 1; i < SEC_COUNT; i++) {
		sh[i].sh_name = name;
		memcpy(shstr + name, sec_name[i], strlen(sec_name[i]) + 1);
		name += (Elf64_Word)strlen(sec_name[i]) + 1;
		/*
		 * As in a linked object, .shstrtab is not allocated (address 0: parsers read it at
		 * sh_offset, which is mapped here as in the real vDSO); the rest has vaddr == offset.
		 */
		if (i != SEC_SHSTRTAB) {
			sh[i].sh_flags = i == SEC_TEXT ? SHF_ALLOC | SHF_EXECINSTR : SHF_ALLOC;
			sh[i].sh_addr = sh[i].sh_offset;
		}
	}

	REAL(mprotect)(img, map, PROT_READ);
	return base;
}

/* The auxiliary vector on the initial stack, right after the environment. */
static void patch_stack_auxv(unsigned long real, unsigned long ours)
{
	extern char **environ;
	char **e = environ;
	if (!e)
		return;
	while (*e)
		e++;
	Elf64_auxv_t *av = (Elf64_auxv_t *)(e + 1);
	/* Make sure this is the vector the kernel wrote: it names our page size and the real vDSO. */
	bool pagesz = false;
	Elf64_auxv_t *ehdr = NULL;
	for (unsigned i = 0; i < 64 && av[i].a_type != AT_NULL; i++) {
		if (av[i].a_type == AT_PAGESZ && av[i].a_un.a_val == (uint64_t)sysconf(_SC_PAGESIZE))
			pagesz = true;
		if (av[i].a_type == AT_SYSINFO_EHDR && av[i].a_un.a_val == real)
			ehdr = &av[i];
	}
	if (pagesz && ehdr)
		ehdr->a_un.a_val = ours;
}

static void image_init(void)
{
	unsigned long real = REAL(getauxval)(AT_SYSINFO_EHDR);
	unsigned long ours = build();
	if (!ours) {
		preload_msg("cannot build the vDSO image: __vdso_sgx_enter_enclave will not be found");
		return;
	}
	image_base = ours;
	if (real)
		patch_stack_auxv(real, ours);
}

/*
 * Built on first use, not in our constructor: a library initialised before
 * us (libsgx_urts looks the vDSO up from a static object's constructor) must
 * get the image main gets.  pthread_once also orders image_base for readers.
 */
unsigned long preload_vdso_base(void)
{
	pthread_once(&image_once, image_init);
	return image_base;
}

void preload_vdso_init(void)
{
	preload_vdso_base();
}

/* getauxval's answer: our image for AT_SYSINFO_EHDR asked by the program (ours), else the real one. */
static unsigned long auxval(unsigned long type, bool ours)
{
	if (ours) {
		unsigned long b = preload_vdso_base();
		if (b)
			return b;
	}
	return REAL(getauxval)(type);
}

unsigned long getauxval(unsigned long type)
{
	return auxval(type, type == AT_SYSINFO_EHDR && !SELF_CALL());
}

unsigned long __getauxval(unsigned long type);
unsigned long __getauxval(unsigned long type)
{
	return auxval(type, type == AT_SYSINFO_EHDR && !SELF_CALL());
}

/* ---- /proc/self/auxv ------------------------------------------------------------------------ */

bool preload_is_auxv_path(const char *path)
{
	if (!path || strncmp(path, "/proc/", 6) != 0)
		return false;
	const char *p = path + 6;
	if (!strcmp(p, "self/auxv") || !strcmp(p, "thread-self/auxv"))
		return true;
	char buf[32];
	snprintf(buf, sizeof(buf), "%d/auxv", (int)getpid());
	return !strcmp(p, buf);
}

int preload_auxv_fd(int flags)
{
	Elf64_auxv_t av[128];
	int fd = REAL(open)("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, (char *)av + n, sizeof(av) - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	REAL(close)(fd);
	unsigned long ours = preload_vdso_base();
	for (size_t i = 0; i < n / sizeof(av[0]); i++)
		if (av[i].a_type == AT_SYSINFO_EHDR && ours)
			av[i].a_un.a_val = ours;
	int m = memfd_create("auxv", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (m < 0)
		return -1;
	if (write(m, av, n) != (ssize_t)n || lseek(m, 0, SEEK_SET) != 0) {
		int e = errno;
		REAL(close)(m);
		errno = e;
		return -1;
	}
	return m;
}

static FILE *fopen_common(const char *path, const char *mode, bool self)
{
	if (!self && preload_is_auxv_path(path) && mode && mode[0] == 'r' && !strchr(mode, '+')) {
		int fd = preload_auxv_fd(strchr(mode, 'e') ? O_CLOEXEC : 0);
		if (fd < 0)
			return NULL;
		FILE *f = fdopen(fd, mode);
		if (!f)
			REAL(close)(fd);
		return f;
	}
	return REAL(fopen)(path, mode);
}

FILE *fopen(const char *restrict path, const char *restrict mode)
{
	return fopen_common(path, mode, SELF_CALL());
}

FILE *fopen64(const char *restrict path, const char *restrict mode)
{
	return fopen_common(path, mode, SELF_CALL());
}

/* ---- __vdso_sgx_enter_enclave in a detached child ------------------------------------------------ */

typedef int (*vdso_user_handler)(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run);

PRELOAD_HIDDEN int preload_child_enter(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
				       unsigned long r8, unsigned long r9, struct sgx_enclave_run *run);

/*
 * The parent's enclave ranges are not mapped in a forked child
 * (MADV_DONTFORK), so EENTER/ERESUME fault on the TCS: a #PF with the
 * write and user bits, not present, at the TCS address, reported as the
 * vDSO reports a fault of the leaf itself.
 */
int preload_child_enter(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
			unsigned long r8, unsigned long r9, struct sgx_enclave_run *run)
{
	static int once;
	for (;;) {
		if (function != 2 && function != 3)
			return -EINVAL;
		for (size_t i = 0; i < sizeof(run->reserved); i++)
			if (((const uint8_t *)run->reserved)[i])
				return -EINVAL;
		preload_msg_once(&once, "__vdso_sgx_enter_enclave in a process forked from the one that built the "
					"enclave: its pages are not mapped here (a page fault on the TCS)");
		run->function = function;
		run->exception_vector = 14;
		run->exception_error_code = 0x6;
		run->exception_addr = run->tcs;
		if (!run->user_handler)
			return 0;
		int r = ((vdso_user_handler)(uintptr_t)run->user_handler)((long)rdi, (long)rsi, (long)rdx,
									  (long)(uintptr_t)__builtin_frame_address(0),
									  (long)r8, (long)r9, run);
		if (r <= 0)
			return r;
		function = (unsigned)r;
	}
}
