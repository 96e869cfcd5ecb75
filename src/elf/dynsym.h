/* SPDX-License-Identifier: MIT */
/*
 * The dynamic symbols of an ELF image already in memory (the vDSO the
 * kernel maps, or one built in memory): its load bias, symbol and string
 * tables, symbol versions, and the symbol count from DT_HASH or
 * DT_GNU_HASH.  Used by the sdk to find __vdso_sgx_enter_enclave and by the
 * preload library to copy the real vDSO's symbols into its own.
 *
 * It reads what the image says and trusts it: the image must be mapped and
 * well formed (a vDSO is).
 */
#ifndef SGXEMU_ELF_DYNSYM_H
#define SGXEMU_ELF_DYNSYM_H

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>

struct dynsym {
	uintptr_t bias; /* load bias: image address + p_offset - p_vaddr of the first PT_LOAD */
	const Elf64_Sym *symtab;
	const char *strtab;
	const Elf64_Half *versym;   /* NULL: no DT_VERSYM */
	const Elf64_Verdef *verdef; /* NULL: no DT_VERDEF */
	uint32_t nsyms;		    /* symbols in symtab, the null symbol included */
};

/*
 * Read the dynamic section of the ELF64 image at base: a PT_LOAD, a
 * PT_DYNAMIC with DT_SYMTAB, DT_STRTAB and DT_HASH or DT_GNU_HASH.
 * Return: true and *d filled, or false (not ELF64, or one of those is missing).
 */
bool dynsym_parse(uintptr_t base, struct dynsym *d);

/* The version definition after vd in the DT_VERDEF chain, or NULL after the last. */
const Elf64_Verdef *dynsym_verdef_next(const Elf64_Verdef *vd);
/* The first name of vd (the version itself); the rest follow through dynsym_verdaux_next. */
const Elf64_Verdaux *dynsym_verdaux(const Elf64_Verdef *vd);
/* The name after a, or NULL after the last. */
const Elf64_Verdaux *dynsym_verdaux_next(const Elf64_Verdaux *a);

/*
 * A defined global or weak function (STT_FUNC or STT_NOTYPE) named name;
 * with version (not NULL) also of that version (DT_VERSYM and DT_VERDEF
 * must both be there for the version to count).
 * Return: its address (bias + st_value), or NULL.
 */
void *dynsym_lookup(const struct dynsym *d, const char *name, const char *version);

#endif /* SGXEMU_ELF_DYNSYM_H */
