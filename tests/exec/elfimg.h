/* SPDX-License-Identifier: MIT */
/* Reading the test enclave's ELF image (kept apart from the SGX headers: <elf.h> clashes with PF_*). */
#ifndef SGXEMU_TEST_ELFIMG_H
#define SGXEMU_TEST_ELFIMG_H

#include <stddef.h>
#include <stdint.h>

#define ELFIMG_R 1U
#define ELFIMG_W 2U
#define ELFIMG_X 4U

struct elfimg_seg {
	uint64_t vaddr, memsz, filesz;
	const uint8_t *data; /* filesz bytes; the rest of memsz is zero */
	unsigned perm;	     /* ELFIMG_R/W/X */
};

struct elfimg {
	uint8_t *file;
	size_t size;
	uint64_t entry;
	unsigned nseg;
	struct elfimg_seg seg[8];
};

/* Read a static x86-64 executable with page-aligned PT_LOAD segments. Return: 0, or -1 with a message. */
int elfimg_load(const char *path, struct elfimg *img, char *err, size_t errlen);
void elfimg_free(struct elfimg *img);

#endif
