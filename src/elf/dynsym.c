/* SPDX-License-Identifier: MIT */
/* The dynamic symbols of an ELF image in memory (dynsym.h). */
#include "dynsym.h"

#include <string.h>

/* Number of symbols a DT_GNU_HASH table covers: past the highest bucket, follow the chain to its end. */
static uint32_t gnu_hash_count(const uint32_t *h)
{
	uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
	const uint32_t *buckets = h + 4 + bloom_size * 2; /* 64-bit bloom words */
	const uint32_t *chain = buckets + nbuckets;
	uint32_t last = 0;
	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		return symoffset;
	while (!(chain[last - symoffset] & 1))
		last++;
	return last + 1;
}

bool dynsym_parse(uintptr_t base, struct dynsym *d)
{
	memset(d, 0, sizeof(*d));
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return false;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	const Elf64_Phdr *dynamic = NULL;
	bool have_load = false;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !have_load) {
			d->bias = base + ph[i].p_offset - ph[i].p_vaddr;
			have_load = true;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dynamic = &ph[i];
		}
	}
	if (!have_load || !dynamic)
		return false;
	const uint32_t *hash = NULL, *gnu_hash = NULL;
	for (const Elf64_Dyn *dyn = (const Elf64_Dyn *)(d->bias + dynamic->p_vaddr); dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = d->bias + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_SYMTAB:
			d->symtab = (const Elf64_Sym *)p;
			break;
		case DT_STRTAB:
			d->strtab = (const char *)p;
			break;
		case DT_HASH:
			hash = (const uint32_t *)p;
			break;
		case DT_GNU_HASH:
			gnu_hash = (const uint32_t *)p;
			break;
		case DT_VERSYM:
			d->versym = (const Elf64_Half *)p;
			break;
		case DT_VERDEF:
			d->verdef = (const Elf64_Verdef *)p;
			break;
		default:
			break;
		}
	}
	if (!d->symtab || !d->strtab || (!hash && !gnu_hash))
		return false;
	d->nsyms = hash ? hash[1] : gnu_hash_count(gnu_hash);
	return true;
}

const Elf64_Verdef *dynsym_verdef_next(const Elf64_Verdef *vd)
{
	return vd->vd_next ? (const Elf64_Verdef *)((const char *)vd + vd->vd_next) : NULL;
}

const Elf64_Verdaux *dynsym_verdaux(const Elf64_Verdef *vd)
{
	return (const Elf64_Verdaux *)((const char *)vd + vd->vd_aux);
}

const Elf64_Verdaux *dynsym_verdaux_next(const Elf64_Verdaux *a)
{
	return a->vda_next ? (const Elf64_Verdaux *)((const char *)a + a->vda_next) : NULL;
}

/* Is version index idx of the image's DT_VERDEF named want? */
static bool version_is(const struct dynsym *d, uint16_t idx, const char *want)
{
	for (const Elf64_Verdef *vd = d->verdef; vd; vd = dynsym_verdef_next(vd))
		if (!(vd->vd_flags & VER_FLG_BASE) && (vd->vd_ndx & 0x7fff) == idx)
			return !strcmp(d->strtab + dynsym_verdaux(vd)->vda_name, want);
	return false;
}

void *dynsym_lookup(const struct dynsym *d, const char *name, const char *version)
{
	for (uint32_t i = 0; i < d->nsyms; i++) {
		const Elf64_Sym *s = &d->symtab[i];
		unsigned bind = ELF64_ST_BIND(s->st_info), type = ELF64_ST_TYPE(s->st_info);
		if (s->st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK) ||
		    (type != STT_FUNC && type != STT_NOTYPE) || strcmp(d->strtab + s->st_name, name))
			continue;
		if (version && d->versym && d->verdef && !version_is(d, d->versym[i] & 0x7fff, version))
			continue;
		return (void *)(d->bias + s->st_value);
	}
	return NULL;
}
