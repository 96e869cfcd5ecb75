/* SPDX-License-Identifier: MIT */
/*
 * sgxemu symbolize ENCLAVE.elf [LOG]: the lines of LOG (or standard input)
 * with every enclave offset the emulator prints ("enclave+0x6a", in chaos
 * mode's and the checker's lines, docs/chaos.md) followed by the function
 * and, where the ELF has line information and addr2line is installed, the
 * file and line: "enclave+0x6a <encl_body+0x12 at encl.c:42>".
 *
 * An enclave image sits at enclave offset 0 with each segment at its
 * p_vaddr (docs/layout.md; Intel's SDK links its enclaves the same way),
 * so an offset is an address of the ELF; an image linked at a fixed
 * address (ET_EXEC) sits with its lowest segment at the enclave's base.  Functions come from the ELF's
 * symbol table (.symtab, else .dynsym); lines from `addr2line -e`, one
 * process for the whole log.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

struct sym {
	uint64_t addr, size;
	const char *name;
};

struct syms {
	struct sym *v;
	size_t n;
	uint64_t base; /* address of enclave offset 0: 0 for a PIE, the lowest segment of a fixed image */
};

static int by_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	return (x->addr > y->addr) - (x->addr < y->addr);
}

/* The functions (and untyped code labels) of the ELF image at p, size len. Return: 0, or -1 with why. */
static int load_syms(const uint8_t *p, size_t len, struct syms *out, char *why, size_t whylen)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64) {
		snprintf(why, whylen, "not a 64-bit ELF file");
		return -1;
	}
	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > len ||
	    (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len - eh->e_shoff) {
		snprintf(why, whylen, "no section headers (a stripped image has no symbols)");
		return -1;
	}
	/* A fixed-address image (ET_EXEC) is loaded with its lowest segment at the enclave's base. */
	out->base = 0;
	if (eh->e_type == ET_EXEC && eh->e_phentsize == sizeof(Elf64_Phdr) && eh->e_phoff <= len &&
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <= len - eh->e_phoff) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(p + eh->e_phoff);
		uint64_t lo = UINT64_MAX;
		for (unsigned i = 0; i < eh->e_phnum; i++)
			if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < lo)
				lo = ph[i].p_vaddr;
		if (lo != UINT64_MAX)
			out->base = lo & ~(uint64_t)0xFFF;
	}
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(p + eh->e_shoff);
	const Elf64_Shdr *tab = NULL;
	for (int pass = 0; pass < 2 && !tab; pass++)
		for (unsigned i = 0; i < eh->e_shnum; i++)
			if (sh[i].sh_type == (pass ? SHT_DYNSYM : SHT_SYMTAB))
				tab = &sh[i];
	if (!tab || tab->sh_link >= eh->e_shnum) {
		snprintf(why, whylen, "no symbol table");
		return -1;
	}
	const Elf64_Shdr *str = &sh[tab->sh_link];
	if (tab->sh_offset > len || tab->sh_size > len - tab->sh_offset || str->sh_offset > len ||
	    str->sh_size > len - str->sh_offset || str->sh_size == 0) {
		snprintf(why, whylen, "symbol table out of the file");
		return -1;
	}
	const Elf64_Sym *s = (const Elf64_Sym *)(p + tab->sh_offset);
	size_t n = tab->sh_size / sizeof(Elf64_Sym);
	const char *names = (const char *)(p + str->sh_offset);
	out->v = calloc(n ? n : 1, sizeof(*out->v));
	if (!out->v) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned type = ELF64_ST_TYPE(s[i].st_info);
		if ((type != STT_FUNC && type != STT_NOTYPE) || s[i].st_shndx == SHN_UNDEF ||
		    s[i].st_shndx >= SHN_LORESERVE || s[i].st_name >= str->sh_size || !names[s[i].st_name])
			continue;
		/* Untyped symbols only in code sections (labels of assembly), not data or section markers. */
		if (type == STT_NOTYPE &&
		    (s[i].st_shndx >= eh->e_shnum || !(sh[s[i].st_shndx].sh_flags & SHF_EXECINSTR)))
			continue;
		if (memchr(names + s[i].st_name, 0, str->sh_size - s[i].st_name) == NULL)
			continue;
		out->v[out->n++] = (struct sym){s[i].st_value, s[i].st_size, names + s[i].st_name};
	}
	qsort(out->v, out->n, sizeof(*out->v), by_addr);
	return 0;
}

/* The symbol a lies in: the last one at or below it, within its size when it has one. */
static const struct sym *find_sym(const struct syms *s, uint64_t a)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->v[mid].addr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct sym *x = &s->v[lo - 1];
	return x->size && a - x->addr >= x->size ? NULL : x;
}

/* A running `addr2line -e ELF`: addresses in, one line "file:line" out per address. */
struct a2l {
	pid_t pid;
	FILE *in, *out;
};

static bool a2l_start(struct a2l *a, const char *elf)
{
	int to[2], from[2];
	if (pipe(to) || pipe(from))
		return false;
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 2);
		close(to[1]);
		close(from[0]);
		execlp("addr2line", "addr2line", "-e", elf, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	a->pid = pid;
	a->in = fdopen(to[1], "w");
	a->out = fdopen(from[0], "r");
	return a->in && a->out;
}

/* file:line of a, or false (no addr2line, no line information). */
static bool a2l_line(struct a2l *a, uint64_t addr, char *buf, size_t len)
{
	if (!a->in)
		return false;
	if (fprintf(a->in, "0x%llx\n", (unsigned long long)addr) < 0 || fflush(a->in) != 0 ||
	    !fgets(buf, (int)len, a->out)) {
		fclose(a->in);
		a->in = NULL;
		return false;
	}
	buf[strcspn(buf, "\n")] = 0;
	/* "??:0" or "??:?": nothing known; "file:?": only a guess of the file, no line. */
	size_t n = strlen(buf);
	return strncmp(buf, "??", 2) != 0 && !(n >= 2 && !strcmp(buf + n - 2, ":?")) &&
	       !(n >= 2 && !strcmp(buf + n - 2, ":0"));
}

static void a2l_stop(struct a2l *a)
{
	if (a->in)
		fclose(a->in);
	if (a->out)
		fclose(a->out);
	if (a->pid > 0)
		waitpid(a->pid, NULL, 0);
}

/* The line with " <func+0xN at file:line>" after each enclave offset. */
static void symbolize_line(const char *line, const struct syms *s, struct a2l *a)
{
	static const char tok[] = "enclave+0x";
	const char *p = line;
	for (const char *q; (q = strstr(p, tok));) {
		const char *h = q + sizeof(tok) - 1;
		char *end;
		errno = 0;
		unsigned long long off = strtoull(h, &end, 16);
		fwrite(p, 1, (size_t)(end - p), stdout);
		p = end;
		if (end == h || errno)
			continue;
		uint64_t addr = s->base + off;
		const struct sym *x = find_sym(s, addr);
		char where[512];
		bool have_line = a2l_line(a, addr, where, sizeof(where));
		if (!x && !have_line)
			continue;
		fputs(" <", stdout);
		if (x)
			printf("%s+%#llx", x->name, (unsigned long long)(addr - x->addr));
		if (have_line)
			printf("%sat %s", x ? " " : "", where);
		fputc('>', stdout);
	}
	fputs(p, stdout);
}

int cmd_symbolize(int argc, char **argv)
{
	const char *cmd = "symbolize";
	if (argc < 2 || argc > 3 || argv[1][0] == '-')
		return cli_usage(cmd, "expected ENCLAVE.elf [LOG]");
	const char *elf = argv[1];
	int fd = open(elf, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		return cli_fail(cmd, "%s: %s", elf, strerror(errno));
	void *map = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (map == MAP_FAILED)
		return cli_fail(cmd, "%s: cannot read it", elf);
	struct syms s = {0};
	char why[128];
	if (load_syms(map, (size_t)st.st_size, &s, why, sizeof(why)) != 0) {
		munmap(map, (size_t)st.st_size);
		return cli_fail(cmd, "%s: %s", elf, why);
	}
	FILE *in = stdin;
	if (argc == 3 && !(in = fopen(argv[2], "r"))) {
		free(s.v);
		munmap(map, (size_t)st.st_size);
		return cli_fail(cmd, "%s: %s", argv[2], strerror(errno));
	}
	/* addr2line gone midway (or never there) only costs the file:line part. */
	signal(SIGPIPE, SIG_IGN);
	struct a2l a = {0};
	if (!a2l_start(&a, elf)) {
		a2l_stop(&a);
		a = (struct a2l){0};
	}
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, in) >= 0)
		symbolize_line(line, &s, &a);
	free(line);
	a2l_stop(&a);
	if (in != stdin)
		fclose(in);
	free(s.v);
	munmap(map, (size_t)st.st_size);
	return fflush(stdout) == 0 ? 0 : 1;
}
