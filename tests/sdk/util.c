/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)v);
	wr16(p + 2, (uint16_t)(v >> 16));
}

void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

uint8_t *elf_ph(uint8_t *elf, unsigned i)
{
	return elf + rd64(elf + EH_PHOFF) + (uint64_t)i * PH_SIZE;
}

unsigned elf_phnum(const uint8_t *elf)
{
	return rd16(elf + EH_PHNUM);
}

int elf_find(uint8_t *elf, uint32_t t, unsigned n)
{
	for (unsigned i = 0; i < elf_phnum(elf); i++)
		if (rd32(elf_ph(elf, i) + PH_TYPE) == t && n-- == 0)
			return (int)i;
	return -1;
}

uint8_t *fixture_elf(size_t *len)
{
	return read_file(FIXTURE_ELF, len);
}

uint8_t *synth_elf(const struct synth_seg *s, unsigned n, uint64_t entry, size_t *len)
{
	uint64_t off = 0x1000; /* file data starts after the headers */
	uint64_t offs[16];
	cr_assert(n <= 16);
	for (unsigned i = 0; i < n; i++) {
		off += (s[i].vaddr - off) & 0xfff;
		offs[i] = off;
		off += s[i].filesz;
	}
	size_t size = off;
	uint8_t *b = calloc(1, size);
	cr_assert(b);
	memcpy(b, "\177ELF", 4);
	b[EH_CLASS] = 2;
	b[EH_DATA] = 1;
	b[6] = 1;
	wr16(b + EH_TYPE, 3);
	wr16(b + EH_MACHINE, 62);
	wr32(b + 0x14, 1);
	wr64(b + EH_ENTRY, entry);
	wr64(b + EH_PHOFF, 64);
	wr16(b + 0x34, 64);
	wr16(b + EH_PHENTSIZE, PH_SIZE);
	wr16(b + EH_PHNUM, (uint16_t)n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *ph = b + 64 + i * PH_SIZE;
		wr32(ph + PH_TYPE, s[i].type);
		wr32(ph + PH_FLAGS, s[i].flags);
		wr64(ph + PH_OFFSET, offs[i]);
		wr64(ph + PH_VADDR, s[i].vaddr);
		wr64(ph + 0x18, s[i].vaddr);
		wr64(ph + PH_FILESZ, s[i].filesz);
		wr64(ph + PH_MEMSZ, s[i].memsz);
		wr64(ph + 0x30, 0x1000);
		for (uint64_t j = 0; j < s[i].filesz; j++)
			b[offs[i] + j] =
			    s[i].data ? ((const uint8_t *)s[i].data)[j] : (uint8_t)(s[i].fill + (j & 0x0f));
	}
	*len = size;
	return b;
}

void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert(f, "cannot create %s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	struct stat st;
	cr_assert_eq(fstat(fileno(f), &st), 0);
	uint8_t *b = malloc((size_t)st.st_size + 1);
	cr_assert(b);
	cr_assert_eq(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	b[st.st_size] = 0;
	fclose(f);
	*len = (size_t)st.st_size;
	return b;
}

bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

char *make_temp_dir(void)
{
	const char *t = getenv("TMPDIR");
	char *p = NULL;
	cr_assert(asprintf(&p, "%s/sgxemu-sdk-XXXXXX", t && *t ? t : "/tmp") > 0);
	cr_assert(mkdtemp(p), "mkdtemp %s", p);
	return p;
}

void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *p = NULL;
		if (asprintf(&p, "%s/%s", path, e->d_name) > 0)
			rm_rf(p);
		free(p);
	}
	closedir(d);
	rmdir(path);
}

unsigned dir_entries(const char *path)
{
	DIR *d = opendir(path);
	cr_assert(d);
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static char *slurp_fd(int fd)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	cr_assert(b);
	lseek(fd, 0, SEEK_SET);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			b = realloc(b, cap);
			cr_assert(b);
		}
		ssize_t r = read(fd, b + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	b[n] = 0;
	return b;
}

void run_argv(struct run *r, const char *const argv[])
{
	FILE *o = tmpfile(), *e = tmpfile();
	cr_assert(o && e);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fileno(o), 1);
	posix_spawn_file_actions_adddup2(&fa, fileno(e), 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(rc, 0, "spawn %s: %s", argv[0], strerror(rc));
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = slurp_fd(fileno(o));
	r->err = slurp_fd(fileno(e));
	fclose(o);
	fclose(e);
}

void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

bool in_path(const char *name)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char *copy = strdup(path), *save = NULL;
	bool found = false;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *p = NULL;
		if (asprintf(&p, "%s/%s", *dir ? dir : ".", name) > 0)
			found = access(p, X_OK) == 0;
		free(p);
	}
	free(copy);
	return found;
}
