/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the sdk tests: files and temporary directories, running a
 * program with its output captured, the fixture ELF and in-memory edits of
 * ELF headers (offsets from the System V gABI; <elf.h> is not used because
 * its PF_* names clash with the SGX #PF bits of arch.h).
 */
#ifndef SGXEMU_TEST_SDK_UTIL_H
#define SGXEMU_TEST_SDK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ELF64 header and program header fields used by the tests. */
#define EH_CLASS     4
#define EH_DATA	     5
#define EH_TYPE	     0x10
#define EH_MACHINE   0x12
#define EH_ENTRY     0x18
#define EH_PHOFF     0x20
#define EH_PHENTSIZE 0x36
#define EH_PHNUM     0x38
#define PH_TYPE	     0x00
#define PH_FLAGS     0x04
#define PH_OFFSET    0x08
#define PH_VADDR     0x10
#define PH_FILESZ    0x20
#define PH_MEMSZ     0x28
#define PH_SIZE	     56
#define PT_LOAD_     1
#define PT_DYNAMIC_  2
#define PT_INTERP_   3
#define PT_NOTE_     4
#define PT_TLS_	     7
#define PT_STACK_    0x6474e551U /* PT_GNU_STACK */
#define ELF_R	     4U
#define ELF_W	     2U
#define ELF_X	     1U

uint16_t rd16(const uint8_t *p);
uint32_t rd32(const uint8_t *p);
uint64_t rd64(const uint8_t *p);
void wr16(uint8_t *p, uint16_t v);
void wr32(uint8_t *p, uint32_t v);
void wr64(uint8_t *p, uint64_t v);

/* Program header i of an ELF in memory. */
uint8_t *elf_ph(uint8_t *elf, unsigned i);
unsigned elf_phnum(const uint8_t *elf);
/* Index of the n-th (0-based) program header of type t, or -1. */
int elf_find(uint8_t *elf, uint32_t t, unsigned n);

/* The fixture ELF built by meson (malloc'd copy; asserts on failure). */
uint8_t *fixture_elf(size_t *len);

/* A synthetic ELF: segments at given addresses filled with given bytes. */
struct synth_seg {
	uint32_t type, flags;
	uint64_t vaddr, filesz, memsz;
	uint8_t fill;	  /* file bytes are fill + (i & 0x0f) */
	const void *data; /* or exactly these filesz bytes */
};
/* ELF with these program headers, file data at an offset congruent with vaddr. Return: malloc'd. */
uint8_t *synth_elf(const struct synth_seg *s, unsigned n, uint64_t entry, size_t *len);

/* File helpers (assert on failure). */
void write_file(const char *path, const void *data, size_t len);
uint8_t *read_file(const char *path, size_t *len);
bool file_exists(const char *path);
/* mkdtemp under $TMPDIR; rm_rf removes a directory tree. */
char *make_temp_dir(void);
void rm_rf(const char *path);
/* Entries in a directory besides . and .. */
unsigned dir_entries(const char *path);

/* Run argv (argv[0] a path or a name looked up in PATH) with stdin closed. */
struct run {
	int status; /* exit status; 128 + signal when killed */
	char *out, *err;
};
void run_argv(struct run *r, const char *const argv[]);
void run_free(struct run *r);
/* Is a program with this name in PATH? */
bool in_path(const char *name);

#endif
