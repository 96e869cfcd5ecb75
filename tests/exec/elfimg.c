/* SPDX-License-Identifier: MIT */
#include "elfimg.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t len, const char *msg, const char *path)
{
	snprintf(err, len, "%s: %s", path, msg);
	return -1;
}

int elfimg_load(const char *path, struct elfimg *img, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	FILE *f = fopen(path, "rb");
	if (!f)
		return fail(err, errlen, "cannot open", path);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	img->file = malloc(size > 0 ? (size_t)size : 1);
	if (!img->file || size < (long)sizeof(Elf64_Ehdr) || fread(img->file, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		elfimg_free(img);
		return fail(err, errlen, "cannot read", path);
	}
	fclose(f);
	img->size = (size_t)size;

	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img->file;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > img->size) {
		elfimg_free(img);
		return fail(err, errlen, "not a static x86-64 executable", path);
	}
	img->entry = eh->e_entry;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(img->file + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (img->nseg == sizeof(img->seg) / sizeof(img->seg[0]) || (ph[i].p_vaddr & 0xFFF) ||
		    ph[i].p_offset + ph[i].p_filesz > img->size || ph[i].p_filesz > ph[i].p_memsz) {
			elfimg_free(img);
			return fail(err, errlen, "unexpected PT_LOAD segment", path);
		}
		struct elfimg_seg *s = &img->seg[img->nseg++];
		s->vaddr = ph[i].p_vaddr;
		s->memsz = ph[i].p_memsz;
		s->filesz = ph[i].p_filesz;
		s->data = img->file + ph[i].p_offset;
		s->perm = ((ph[i].p_flags & PF_R) ? ELFIMG_R : 0) | ((ph[i].p_flags & PF_W) ? ELFIMG_W : 0) |
			  ((ph[i].p_flags & PF_X) ? ELFIMG_X : 0);
	}
	return 0;
}

void elfimg_free(struct elfimg *img)
{
	free(img->file);
	img->file = NULL;
}
