/* SPDX-License-Identifier: MIT */
/*
 * jit-demo: the host side of examples/jit, the "new executable code" use
 * case of SGX2 end to end.
 *
 * The host hands program sources to the enclave (jit_enclave.c), which
 * compiles them to x86-64, installs the code as R|X pages of its dynamic
 * area with the EDMM memory manager, runs it, checks every result against
 * its interpreter and frees the pages.  The host prints each ioctl the
 * memory manager's OCALLs become (through a traced backend), the enclave
 * prints what it did, and every step is timed.  It runs twice: with EAUG on
 * page faults (the host does not offer SGX_IOC_ENCLAVE_AUGMENT_PAGES, as on
 * Linux) and with AUGMENT_PAGES, and compares the two.  Then it shows the
 * `rw` dynamic-page policy refusing the flow (docs/policy.md) and
 * `wx-exclusive` allowing it, each in a child process (one sgxemu system,
 * and so one policy, per process).
 *
 * Exit status: 0 when every result matched the interpreter (and, without
 * --policy, the rw child was refused as expected); 1 on any error or
 * mismatch; 2 for a usage error; 3 when the policy refused the JIT pages.
 */
#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ex.h"
#include "jit_abi.h"
#include "lang.h"
#include "sgxemu/ext.h"
#include "sgxemu/loader.h"
#include "sgxemu/sgxemu.h"

extern char **environ;

struct jit_sample {
	const char *name;
	const char *text;
};
#include "jit_samples.h"

#define EXIT_MISMATCH 1
#define EXIT_USAGE    2
#define EXIT_REFUSED  3

struct program {
	char name[JIT_NAME_MAX];
	const char *where; /* the file, for messages */
	const char *text;
	int64_t args[3];
};

struct options {
	bool quiet, disasm;
	bool fault, augment; /* the runs to make (both when neither is asked for) */
	const char *policy;  /* NULL: SGXEMU_DYN_POLICY or the default */
	const char *program; /* a file instead of the built-in samples */
	const char *args;    /* "A,B,C" for --program */
	const char *key;     /* PEM file; NULL: generate */
	bool no_children;    /* no policy demonstration in child processes */
	bool no_compare;     /* no comparison of the two runs */
};

static struct options opt;
static const char *policy_name;	 /* the policy in force */
static const char *enclave_path; /* the enclave ELF */

/* ---- output ---- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	if (opt.quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static const char *status_name(int s)
{
	switch (s) {
	case LANG_OK:
		return "LANG_OK";
	case LANG_EDIV:
		return "LANG_EDIV";
	case LANG_ELIMIT:
		return "LANG_ELIMIT";
	case LANG_ESYNTAX:
		return "LANG_ESYNTAX";
	case LANG_ENOSPC:
		return "LANG_ENOSPC";
	case LANG_EINVAL:
		return "LANG_EINVAL";
	default:
		return "unknown status";
	}
}

/* ---- steps: timing, ioctl counts, EPC pages ---- */

struct step {
	double ms;
	struct ex_counts calls;
	int64_t resident; /* change of EPC pages resident */
};

static struct {
	double t0;
	uint64_t resident0;
} cur;

static uint64_t resident_pages(void)
{
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	return s.pages_resident;
}

static void step_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step_begin(const char *fmt, ...)
{
	if (!opt.quiet) {
		va_list ap;
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		fflush(stdout);
	}
	ex_trace_reset();
	cur.resident0 = resident_pages();
	cur.t0 = ex_now_ms();
}

static void step_end(struct step *s)
{
	s->ms = ex_now_ms() - cur.t0;
	ex_trace_counts(&s->calls);
	s->resident = (int64_t)resident_pages() - (int64_t)cur.resident0;
}

static void print_time(const struct step *s)
{
	say("  time: %.3f ms\n", s->ms);
}

/* ---- one run: load, compile, reserve, install, run, free ---- */

struct run {
	const char *label;
	bool augment;
	bool refused; /* the policy refused the R|X pages */
	unsigned results, matched;
	struct step load, compile, reserve, install, exec, free;
	uint64_t eaccepts_install, eacceptcopies_install, eaccepts_free;
	uint64_t pages;
};

static int ecall(struct sdk_enclave *e, uint32_t index, const char *what, void *arg, uint64_t len, int64_t *ret)
{
	struct sdk_ecall_info info;
	int rc = sdk_enclave_ecall(e, 0, index, arg, len, ret, &info);
	if (rc)
		fprintf(stderr, "jit-demo: %s: the ECALL failed: %s\n", what, info.message);
	return rc;
}

static void print_result(const struct program *p, const struct jit_run *x)
{
	char head[160];
	snprintf(head, sizeof(head), "%.31s(%lld, %lld, %lld)", p->name, (long long)p->args[0], (long long)p->args[1],
		 (long long)p->args[2]);
	if (x->match && x->status == LANG_OK)
		printf("  %s = %lld: compiled code and interpreter agree\n", head, (long long)x->result);
	else if (x->match)
		printf("  %s stops with %s: compiled code and interpreter agree\n", head, status_name(x->status));
	else
		printf("  %s: MISMATCH: compiled code %s %lld, interpreter %s %lld\n", head, status_name(x->status),
		       (long long)x->result, status_name(x->interp_status), (long long)x->interp_result);
}

static void print_epc(const struct step *s, uint64_t augmented)
{
	uint64_t added = s->resident > 0 ? (uint64_t)s->resident : 0;
	if (added > augmented)
		say("    driver: %llu page%s EAUG'd from its #PF handler (the enclave's first access to each faulted; "
		    "the access then ran again)\n",
		    (unsigned long long)(added - augmented), added - augmented == 1 ? "" : "s");
	say("    EPC: %+lld pages resident\n", (long long)s->resident);
}

static bool load(struct run *r, const struct sdk_image *img, const struct sgx_sigstruct *sig, bool *quiet_out,
		 struct sdk_enclave **out)
{
	struct sdk_load_options lo = {.write = ex_write, .write_ctx = quiet_out};
	char err[512] = "";
	ex_trace.print = false; /* the load's ioctls are summarised below */
	ex_trace.print_failures = false;
	ex_trace.offer_augment = r->augment;
	ex_trace.base = 0;
	step_begin("[load] the enclave: ECREATE, EADD + EEXTEND of every page, EINIT\n");
	int rc = sdk_enclave_load(ex_backend(), img, sig, &lo, out, err, sizeof(err));
	step_end(&r->load);
	if (rc) {
		fprintf(stderr, "jit-demo: loading the enclave: %s\n", err);
		return false;
	}
	const struct ex_counts *c = &r->load.calls;
	const struct sgxemu_layout *l = sdk_enclave_layout(*out);
	say("    host: %u x %s, %u x %s (%llu pages, measured), %u x %s\n", c->calls[EX_CREATE],
	    ex_call_name(EX_CREATE), c->calls[EX_ADD_PAGES], ex_call_name(EX_ADD_PAGES),
	    (unsigned long long)(c->bytes[EX_ADD_PAGES] / SGXEMU_PAGE), c->calls[EX_INIT], ex_call_name(EX_INIT));
	say("    host: %s probe: %s\n", ex_call_name(EX_AUGMENT),
	    sdk_enclave_augment(*out) ? "EINVAL for an empty range: offered"
				      : "ENOTTY: not offered, the memory manager relies on EAUG at #PF");
	say("    layout: enclave size %#llx, dynamic area +%#llx..+%#llx (%llu pages, not added: EDMM commits them)\n",
	    (unsigned long long)l->enclave_size, (unsigned long long)l->dyn_offset,
	    (unsigned long long)(l->dyn_offset + l->dyn_size), (unsigned long long)(l->dyn_size / SGXEMU_PAGE));
	print_time(&r->load);
	ex_trace.base = sdk_enclave_base(*out);
	ex_trace.print = !opt.quiet;
	ex_trace.print_failures = true; /* --quiet still shows what the driver refused */
	return true;
}

/* Compile every program.  Return: 0, or an exit status. */
static int compile_all(struct run *r, struct sdk_enclave *e, const struct program *progs, size_t n)
{
	step_begin("[compile] %zu program%s: parse, compile to x86-64, interpret (all inside the enclave)\n", n,
		   n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		size_t srclen = strlen(progs[i].text);
		size_t len = sizeof(struct jit_compile) + srclen;
		struct jit_compile *c = calloc(1, len);
		if (!c) {
			fprintf(stderr, "jit-demo: out of memory\n");
			return EXIT_MISMATCH;
		}
		memcpy(c->name, progs[i].name, sizeof(c->name));
		c->src_len = srclen;
		memcpy(c->args, progs[i].args, sizeof(c->args));
		c->disasm = opt.disasm;
		memcpy(c + 1, progs[i].text, srclen);
		int64_t ret = 0;
		int rc = ecall(e, JIT_EC_COMPILE, "compile", c, len, &ret);
		if (!rc && ret)
			fprintf(stderr, "jit-demo: compile %s: the enclave returned %s\n", progs[i].name,
				ex_errno_name((int)-ret));
		else if (!rc && c->status != LANG_OK)
			fprintf(stderr, "jit-demo: %s:%d:%d: %s (%s)\n", progs[i].where, c->error_line, c->error_column,
				c->error_msg, status_name(c->status));
		bool bad = rc || ret || c->status != LANG_OK;
		free(c);
		if (bad)
			return EXIT_MISMATCH;
	}
	step_end(&r->compile);
	print_time(&r->compile);
	return 0;
}

static int run_once(struct run *r, const struct sdk_image *img, const struct sgx_sigstruct *sig,
		    const struct program *progs, size_t n)
{
	bool quiet_enclave = opt.quiet;
	struct sdk_enclave *e = NULL;
	if (!load(r, img, sig, &quiet_enclave, &e))
		return EXIT_MISMATCH;
	int status = compile_all(r, e, progs, n);
	if (status)
		goto out;

	/* RESERVE */
	struct jit_region reg = {0};
	int64_t ret = 0;
	step_begin("[reserve] address space for the code: rt_mm_alloc(RESERVE)\n");
	if (ecall(e, JIT_EC_RESERVE, "reserve", &reg, sizeof(reg), &ret) || ret) {
		if (ret)
			fprintf(stderr, "jit-demo: reserve: %s\n", ex_errno_name((int)-ret));
		status = EXIT_MISMATCH;
		goto out;
	}
	step_end(&r->reserve);
	print_time(&r->reserve);
	r->pages = reg.pages;

	/* INSTALL */
	struct jit_region inst = {0};
	struct jit_mm_counts before = reg.mm;
	step_begin("[install] the code as R-X pages: rt_mm_commit_data(+%#llx, %llu pages, R-X)\n",
		   (unsigned long long)reg.offset, (unsigned long long)reg.pages);
	if (ecall(e, JIT_EC_INSTALL, "install", &inst, sizeof(inst), &ret)) {
		status = EXIT_MISMATCH;
		goto out;
	}
	step_end(&r->install);
	print_epc(&r->install, r->install.calls.bytes[EX_AUGMENT] / SGXEMU_PAGE);
	print_time(&r->install);
	r->eaccepts_install = inst.mm.eaccepts - before.eaccepts;
	r->eacceptcopies_install = inst.mm.eacceptcopies - before.eacceptcopies;
	before = inst.mm;
	if (ret == -EACCES) {
		r->refused = true;
		printf("policy %s: the driver refuses executable dynamic pages (%s=%s); JIT code cannot be installed\n",
		       policy_name, SGXEMU_ENV_DYN_POLICY, policy_name);
	} else if (ret) {
		fprintf(stderr, "jit-demo: install: rt_mm_commit_data failed: %s\n", ex_errno_name((int)-ret));
		status = EXIT_MISMATCH;
		goto out;
	}

	/* RUN */
	if (!r->refused) {
		step_begin("[run] each program from its installed code, checked against the interpreter\n");
		for (size_t i = 0; i < n; i++) {
			struct jit_run x = {.slot = (uint32_t)i};
			memcpy(x.args, progs[i].args, sizeof(x.args));
			if (ecall(e, JIT_EC_RUN, "run", &x, sizeof(x), &ret) || ret) {
				if (ret)
					fprintf(stderr, "jit-demo: run %s: %s\n", progs[i].name,
						ex_errno_name((int)-ret));
				status = EXIT_MISMATCH;
				goto out;
			}
			r->results++;
			r->matched += x.match != 0;
			print_result(&progs[i], &x);
		}
		step_end(&r->exec);
		print_time(&r->exec);
	}

	/* FREE */
	struct jit_region fr = {0};
	step_begin("[free] the code pages: rt_mm_dealloc (EMODT to TRIM, EACCEPT, EREMOVE)\n");
	if (ecall(e, JIT_EC_FREE, "free", &fr, sizeof(fr), &ret) || ret) {
		if (ret)
			fprintf(stderr, "jit-demo: free: rt_mm_dealloc failed: %s\n", ex_errno_name((int)-ret));
		status = EXIT_MISMATCH;
		goto out;
	}
	step_end(&r->free);
	print_epc(&r->free, 0);
	print_time(&r->free);
	r->eaccepts_free = fr.mm.eaccepts - before.eaccepts;

	if (r->refused)
		printf("run %s: refused by the policy; the reserved pages were released\n", r->label);
	else
		printf("run %s: %u of %u results match the interpreter\n", r->label, r->matched, r->results);
	if (!r->refused && r->matched != r->results)
		status = EXIT_MISMATCH;
out:
	ex_trace.print = false;
	ex_trace.print_failures = false;
	ex_trace.base = 0;
	sdk_enclave_destroy(e);
	fflush(stdout);
	return status;
}

/* ---- the comparison of the two runs ---- */

static double total_ms(const struct run *r)
{
	return r->reserve.ms + r->install.ms + r->exec.ms + r->free.ms;
}

static void compare(const struct run *f, const struct run *a)
{
	printf("\n== fault-driven EAUG vs AUGMENT_PAGES (%llu code pages)\n", (unsigned long long)f->pages);
	printf("  install: %s calls %u vs %u; pages EAUG'd at #PF %lld vs %lld; EACCEPTCOPY %llu vs %llu\n",
	       ex_call_name(EX_AUGMENT), f->install.calls.calls[EX_AUGMENT], a->install.calls.calls[EX_AUGMENT],
	       (long long)(f->install.resident - (int64_t)(f->install.calls.bytes[EX_AUGMENT] / SGXEMU_PAGE)),
	       (long long)(a->install.resident - (int64_t)(a->install.calls.bytes[EX_AUGMENT] / SGXEMU_PAGE)),
	       (unsigned long long)f->eacceptcopies_install, (unsigned long long)a->eacceptcopies_install);
	printf("  install: mprotect calls %u vs %u\n", f->install.calls.calls[EX_MPROTECT],
	       a->install.calls.calls[EX_MPROTECT]);
	printf("  free: %s %u vs %u, EACCEPT %llu vs %llu, %s %u vs %u\n", ex_call_name(EX_MODIFY_TYPES),
	       f->free.calls.calls[EX_MODIFY_TYPES], a->free.calls.calls[EX_MODIFY_TYPES],
	       (unsigned long long)f->eaccepts_free, (unsigned long long)a->eaccepts_free, ex_call_name(EX_REMOVE),
	       f->free.calls.calls[EX_REMOVE], a->free.calls.calls[EX_REMOVE]);
	printf("  time install: %.3f ms vs %.3f ms\n", f->install.ms, a->install.ms);
	printf("  time run: %.3f ms vs %.3f ms\n", f->exec.ms, a->exec.ms);
	printf("  time free: %.3f ms vs %.3f ms\n", f->free.ms, a->free.ms);
	printf("  time reserve+install+run+free: %.3f ms vs %.3f ms\n", total_ms(f), total_ms(a));
	printf("  AUGMENT_PAGES adds the whole range in one call before the first access: no fault per page, and\n"
	       "  the pages exist before the enclave touches them (the review's objection to EAUG-on-#PF).\n");
}

/* ---- the policy demonstration: a child process per policy ---- */

/*
 * Run this program again under policy, quietly, with the key on a pipe; its
 * output is printed indented by "  | ".  Return: its exit status, or -1.
 */
static int child(const char *self, const char *policy, const struct crypto_rsa *key)
{
	int fds[2], out[2];
	if (pipe(fds) < 0) {
		fprintf(stderr, "jit-demo: pipe: %s\n", strerror(errno));
		return -1;
	}
	if (pipe(out) < 0) {
		fprintf(stderr, "jit-demo: pipe: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	char keyarg[32];
	snprintf(keyarg, sizeof(keyarg), "/dev/fd/%d", fds[0]);
	const char *argv[16];
	int n = 0;
	argv[n++] = self;
	argv[n++] = "--policy";
	argv[n++] = policy;
	argv[n++] = "--quiet";
	argv[n++] = "--no-compare";
	argv[n++] = "--key";
	argv[n++] = keyarg;
	argv[n++] = "--enclave";
	argv[n++] = enclave_path;
	if (opt.program) {
		argv[n++] = "--program";
		argv[n++] = opt.program;
	}
	if (opt.args) {
		argv[n++] = "--args";
		argv[n++] = opt.args;
	}
	argv[n] = NULL;

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	posix_spawn_file_actions_addclose(&fa, out[1]);
	fflush(stdout);
	fflush(stderr);
	pid_t pid;
	int rc = posix_spawn(&pid, self, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	close(out[1]);
	if (rc) {
		close(fds[1]);
		close(out[0]);
		fprintf(stderr, "jit-demo: cannot start %s: %s\n", self, strerror(rc));
		return -1;
	}
	/* The key fits in the pipe's buffer: write it all, then read the output. */
	char *pem = sdk_key_to_pem(key);
	bool wrote = pem && write(fds[1], pem, strlen(pem)) == (ssize_t)strlen(pem);
	free(pem);
	close(fds[1]);
	FILE *f = fdopen(out[0], "r");
	if (f) {
		char line[1024];
		while (fgets(line, sizeof(line), f))
			printf("  | %s", line);
		fclose(f);
	} else {
		close(out[0]);
	}
	fflush(stdout);
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "jit-demo: waitpid: %s\n", strerror(errno));
			return -1;
		}
	if (!wrote) {
		fprintf(stderr, "jit-demo: could not hand the signing key to the child\n");
		return -1;
	}
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	fprintf(stderr, "jit-demo: the %s child died with signal %d\n", policy, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	return -1;
}

/* ---- programs ---- */

/* The "// args: A B C" line of a program, if any, into args.  Return: 0, or -1 with err. */
static int args_line(const char *file, const char *text, int64_t args[3], char *err, size_t errlen)
{
	int line = 1;
	for (const char *p = text; *p; line++) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *q = p;
		while (q < p + len && (*q == ' ' || *q == '\t'))
			q++;
		if ((size_t)(p + len - q) >= 8 && !strncmp(q, "// args:", 8)) {
			char buf[256];
			size_t n = (size_t)(p + len - q) - 8;
			if (n >= sizeof(buf)) {
				snprintf(err, errlen, "%s:%d: the '// args:' line is too long", file, line);
				return -1;
			}
			memcpy(buf, q + 8, n);
			buf[n] = '\0';
			int k = 0;
			char *save = NULL;
			for (char *t = strtok_r(buf, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
				if (k == 3 || !ex_parse_i64(t, &args[k])) {
					snprintf(
					    err, errlen,
					    "%s:%d: '// args:' takes up to three 64-bit integers (decimal or 0x hex), "
					    "not '%s'",
					    file, line, t);
					return -1;
				}
				k++;
			}
			return 0;
		}
		p += len + (end != NULL);
	}
	return 0;
}

/* "A,B,C" (one to three values).  Return: 0 or -1. */
static int args_option(const char *text, int64_t args[3])
{
	char buf[256];
	if (strlen(text) >= sizeof(buf))
		return -1;
	strcpy(buf, text);
	int k = 0;
	char *p = buf;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (k == 3 || !ex_parse_i64(p, &args[k]))
			return -1;
		k++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Read a program file.  Return: the text (malloc'd) or NULL with err. */
static char *read_program(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *text = malloc(JIT_MAX_SOURCE + 2);
	size_t n = text ? fread(text, 1, JIT_MAX_SOURCE + 1, f) : 0;
	bool bad = text && ferror(f);
	fclose(f);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (bad || n > JIT_MAX_SOURCE || memchr(text, '\0', n)) {
		snprintf(err, errlen,
			 bad		      ? "%s: read error"
			 : n > JIT_MAX_SOURCE ? "%s: larger than %d bytes"
					      : "%s: not text (NUL byte)",
			 path, JIT_MAX_SOURCE);
		free(text);
		return NULL;
	}
	text[n] = '\0';
	return text;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: jit-demo [--quiet] [--fault | --augment] [--policy rw|wx-exclusive|rwx]\n"
		"                [--program FILE [--args A,B,C]] [--disasm] [--key KEY.pem] [--enclave ELF]\n"
		"                [--no-policy-demo] [--no-compare]\n"
		"\n"
		"Compiles programs of a small language (docs/jit-language.md) to x86-64 inside an enclave,\n"
		"installs the code as R-X pages with EDMM (EACCEPTCOPY), runs it, checks each result against\n"
		"the interpreter and frees the pages (TRIM, EACCEPT, REMOVE), printing every ioctl, leaf and\n"
		"page and the time of each step.\n"
		"\n"
		"  --quiet           results, summaries and the calls the driver refused only\n"
		"  --fault           only the run with EAUG on page faults (AUGMENT_PAGES not offered, as on Linux)\n"
		"  --augment         only the run with SGX_IOC_ENCLAVE_AUGMENT_PAGES\n"
		"  --policy P        the dynamic-page policy of this run (docs/policy.md); without it, the\n"
		"                    environment's (default rwx), and rw and wx-exclusive are shown in child runs\n"
		"  --program FILE    compile FILE instead of the built-in samples; '// args: A B C' in it or\n"
		"  --args A,B,C      give the arguments a, b, c (default 0)\n"
		"  --disasm          print the generated machine code\n"
		"  --key KEY.pem     sign with this RSA-3072 e=3 key (default: a fresh key)\n"
		"  --enclave ELF     the enclave (default: jit_enclave.elf next to this program)\n"
		"  --no-policy-demo  leave out the child runs under rw and wx-exclusive\n"
		"  --no-compare      leave out the comparison of the two runs\n"
		"\n"
		"Exit status: 0 every result matched the interpreter, 1 error or mismatch, 2 usage,\n"
		"3 the policy refused executable dynamic pages.\n");
}

static int policy_demo(const char *self, const struct crypto_rsa *key)
{
	printf("\n== the dynamic-page policy (docs/policy.md): may this enclave get executable dynamic pages?\n");
	printf("-- child run with --policy rw\n");
	int rw = child(self, "rw", key);
	printf("-- child run with --policy wx-exclusive\n");
	int wx = child(self, "wx-exclusive", key);
	printf("\n");
	printf("  rwx           Linux 6.0's behaviour (the default): EAUG'd pages may become executable after\n"
	       "                EACCEPTCOPY or EMODPE; the runs above.\n");
	printf("  wx-exclusive  executable allowed, but never writable and executable at once: the JIT still\n"
	       "                works (code copied in with EACCEPTCOPY, then mapped R-X) %s.\n",
	       wx == 0 ? "- it did" : "- but it FAILED here");
	printf("  rw            no executable dynamic memory: mmap/mprotect with PROT_EXEC over a dynamic page\n"
	       "                and AUGMENT_PAGES with X are refused %s; enclaves that need a JIT\n"
	       "                are allowlisted by MRSIGNER or MRENCLAVE\n"
	       "                (%s, %s).\n",
	       rw == EXIT_REFUSED ? "- as it was"
	       : rw == 0	  ? "- yet it was allowed (allowlisted?)"
				  : "- the run FAILED",
	       SGXEMU_ENV_EXEC_ALLOW_MRSIGNER, SGXEMU_ENV_EXEC_ALLOW_MRENCLAVE);
	return (rw == EXIT_REFUSED || rw == 0) && wx == 0 ? 0 : EXIT_MISMATCH;
}

static int jit_option(int c, const char *arg, void *ctx)
{
	struct options *o = ctx;
	switch (c) {
	case 'F':
		o->fault = true;
		break;
	case 'A':
		o->augment = true;
		break;
	case 'p':
		o->policy = arg;
		break;
	case 'f':
		o->program = arg;
		break;
	case 'a':
		o->args = arg;
		break;
	case 'd':
		o->disasm = true;
		break;
	case 'N':
		o->no_children = true;
		break;
	case 'C':
		o->no_compare = true;
		break;
	default:
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"fault", no_argument, NULL, 'F'},
	    {"augment", no_argument, NULL, 'A'},
	    {"policy", required_argument, NULL, 'p'},
	    {"program", required_argument, NULL, 'f'},
	    {"args", required_argument, NULL, 'a'},
	    {"disasm", no_argument, NULL, 'd'},
	    {"no-policy-demo", no_argument, NULL, 'N'},
	    {"no-compare", no_argument, NULL, 'C'},
	    {NULL, 0, NULL, 0},
	};
	struct ex_args common;
	int status = ex_parse_args("jit-demo", argc, argv, longopts, jit_option, &opt, usage, &common);
	if (status >= 0)
		return status;
	opt.quiet = common.quiet;
	opt.key = common.key;
	if (opt.policy && strcmp(opt.policy, "rw") && strcmp(opt.policy, "wx-exclusive") && strcmp(opt.policy, "rwx")) {
		fprintf(stderr, "jit-demo: --policy: unknown policy '%s' (rw, wx-exclusive or rwx)\n", opt.policy);
		return EXIT_USAGE;
	}
	if (opt.args && !opt.program) {
		fprintf(stderr, "jit-demo: --args needs --program\n");
		return EXIT_USAGE;
	}
	if (!opt.fault && !opt.augment)
		opt.fault = opt.augment = true;

	/* The programs. */
	struct program progs[JIT_MAX_PROGRAMS];
	size_t n = 0;
	char err[512] = "";
	char *file_text = NULL;
	if (opt.program) {
		file_text = read_program(opt.program, err, sizeof(err));
		if (!file_text) {
			fprintf(stderr, "jit-demo: %s\n", err);
			return EXIT_MISMATCH;
		}
		const char *base = strrchr(opt.program, '/');
		base = base ? base + 1 : opt.program;
		snprintf(progs[0].name, sizeof(progs[0].name), "%.*s", (int)strcspn(base, "."), base);
		progs[0].text = file_text;
		progs[0].where = opt.program;
		memset(progs[0].args, 0, sizeof(progs[0].args));
		if (opt.args && args_option(opt.args, progs[0].args) < 0) {
			fprintf(stderr,
				"jit-demo: --args: '%s' is not one to three 64-bit integers separated by commas\n",
				opt.args);
			free(file_text);
			return EXIT_USAGE;
		}
		if (!opt.args && args_line(opt.program, file_text, progs[0].args, err, sizeof(err)) < 0) {
			fprintf(stderr, "jit-demo: %s\n", err);
			free(file_text);
			return EXIT_MISMATCH;
		}
		n = 1;
	} else {
		for (size_t i = 0; i < sizeof(jit_samples) / sizeof(jit_samples[0]) && n < JIT_MAX_PROGRAMS; i++, n++) {
			snprintf(progs[n].name, sizeof(progs[n].name), "%s", jit_samples[i].name);
			progs[n].text = jit_samples[i].text;
			progs[n].where = jit_samples[i].name;
			memset(progs[n].args, 0, sizeof(progs[n].args));
			if (args_line(jit_samples[i].name, jit_samples[i].text, progs[n].args, err, sizeof(err)) < 0) {
				fprintf(stderr, "jit-demo: %s\n", err);
				return EXIT_MISMATCH;
			}
		}
	}

	/* sgxemu, the key, the enclave image and its SIGSTRUCT. */
	status = EXIT_MISMATCH;
	struct sgxemu_options so = {.policy = opt.policy};
	struct sdk_config cfg;
	sdk_config_default(&cfg);
	cfg.edmm = true;
	cfg.n_tcs = 1;
	cfg.stack_size = 128 * 1024;
	cfg.heap_size = 1024 * 1024;
	cfg.dyn_size = 1024 * 1024;
	static struct ex_image x; /* enclave_path points into it */
	if (ex_prepare(&common, &so, "jit_enclave.elf", JIT_ENCLAVE_PATH, &cfg, &x) < 0)
		goto out;
	policy_name = opt.policy ? opt.policy : getenv(SGXEMU_ENV_DYN_POLICY) ? getenv(SGXEMU_ENV_DYN_POLICY) : "rwx";
	enclave_path = x.path;
	char mr[17];
	for (int i = 0; i < 8; i++)
		snprintf(mr + 2 * i, 3, "%02x", x.img->mrenclave[i]);
	if (!opt.quiet)
		printf("jit-demo: programs compiled to x86-64 inside an enclave, installed as R-X pages with EDMM,\n"
		       "run, checked against an interpreter, freed.  Enclave %s (MRENCLAVE %s...), signed with %s.\n",
		       enclave_path, mr, opt.key ? opt.key : "a fresh RSA-3072 key");
	printf("policy %s; %zu program%s\n", policy_name, n, n == 1 ? "" : "s");

	struct run runs[2] = {
	    {.label = "fault-driven EAUG", .augment = false},
	    {.label = "AUGMENT_PAGES", .augment = true},
	};
	bool ran[2] = {opt.fault, opt.augment};
	status = 0;
	for (int i = 0; i < 2 && !status; i++) {
		if (!ran[i])
			continue;
		printf("\n== run %s: %s\n", runs[i].label,
		       runs[i].augment ? "the host offers SGX_IOC_ENCLAVE_AUGMENT_PAGES: one ioctl adds the pages"
				       : "the host does not offer AUGMENT_PAGES (as on Linux): EAUG on page faults");
		status = run_once(&runs[i], x.img, &x.sig, progs, n);
	}
	bool refused = (ran[0] && runs[0].refused) || (ran[1] && runs[1].refused);
	bool all_refused = (!ran[0] || runs[0].refused) && (!ran[1] || runs[1].refused);
	if (!status && refused && !all_refused) {
		fprintf(stderr, "jit-demo: the policy refused one run and allowed the other\n");
		status = EXIT_MISMATCH;
	}
	if (!status && refused) {
		status = EXIT_REFUSED;
		goto out;
	}
	if (!status && ran[0] && ran[1] && !opt.no_compare)
		compare(&runs[0], &runs[1]);
	if (!status && !opt.policy && !opt.no_children) {
		char self[4096];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (len <= 0) {
			fprintf(stderr, "jit-demo: /proc/self/exe: %s\n", strerror(errno));
			status = EXIT_MISMATCH;
			goto out;
		}
		self[len] = '\0';
		status = policy_demo(self, x.key);
	}
	if (!status)
		printf("\njit-demo: every result matched the interpreter\n");
out:
	ex_finish(NULL, &x);
	free(file_text);
	return status;
}
