/* SPDX-License-Identifier: MIT */
/*
 * A shared library that asks for the vDSO from its constructor, as Intel's
 * libsgx_urts does from a static object's.  The host built with -DAUXV_CTOR
 * needs it (DT_NEEDED); the dynamic loader initialises it before the
 * library LD_PRELOAD names, which was loaded ahead of it.  The auxv-ctor
 * scenario checks what it saw.
 */
#include <elf.h>
#include <sys/auxv.h>

unsigned long auxv_ctor_ehdr;	    /* getauxval(AT_SYSINFO_EHDR) in the constructor */
unsigned long auxv_ctor_stack_ehdr; /* AT_SYSINFO_EHDR of the vector after environ, just before */

__attribute__((constructor)) static void auxv_ctor(void)
{
	extern char **environ;
	char **e = environ;
	while (*e)
		e++;
	for (const Elf64_auxv_t *x = (const Elf64_auxv_t *)(e + 1); x->a_type != AT_NULL; x++)
		if (x->a_type == AT_SYSINFO_EHDR)
			auxv_ctor_stack_ehdr = x->a_un.a_val;
	auxv_ctor_ehdr = getauxval(AT_SYSINFO_EHDR);
}
