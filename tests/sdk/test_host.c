/* SPDX-License-Identifier: MIT */
/*
 * `sgxemu host` and the probes behind it (src/exec/hostprobe.h).
 *
 * The command is checked against probes of this test's own, written
 * independently of hostprobe.c: ENCLU executed under a sigsetjmp handler
 * for the trap kind, uname, /proc, arch_prctl, pkey_alloc and AT_HWCAP2 for
 * the rest.  So the test passes on any host kind and fails when the command
 * reports something the host does not do.  The classification logic is
 * tested on synthetic outcomes of every host kind, whatever this host is.
 */
#include <asm/prctl.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <ucontext.h>
#include <unistd.h>

#include "hostprobe.h"
#include "util.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1UL << 1)
#endif

/* ---- a direct probe, independent of hostprobe.c ------------------------ */

static sigjmp_buf direct_jb;
static volatile int direct_sig, direct_code;
static volatile long direct_trapno;

static void direct_handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	direct_sig = sig;
	direct_code = si->si_code;
	direct_trapno = (long)uc->uc_mcontext.gregs[REG_TRAPNO];
	siglongjmp(direct_jb, 1);
}

struct direct {
	int sig, code;
	long trapno;
};

/* ENCLU with RAX = leaf and RBX = RCX = RDX = a present RW page, once; the signal it raised (sig 0: none). */
static struct direct direct_enclu(unsigned long leaf)
{
	static const int sigs[] = {SIGILL, SIGSEGV, SIGBUS, SIGTRAP};
	struct sigaction sa, old[4];
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = direct_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(sigaction(sigs[i], &sa, &old[i]), 0);
	volatile uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(page != MAP_FAILED);
	page[0] = 1;
	direct_sig = 0;
	if (sigsetjmp(direct_jb, 1) == 0) {
		unsigned long a = leaf, b = (unsigned long)(uintptr_t)page;
		__asm__ volatile("enclu" : "+a"(a), "+b"(b), "+c"(b), "+d"(b) : : "memory");
	}
	struct direct d = {direct_sig, direct_code, direct_trapno};
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	munmap((void *)page, 4096);
	return d;
}

/* What `sgxemu host` must print for it, at the start of the outcome after "LEAVES: ". */
static const char *expected_kind(struct direct d)
{
	if (d.sig == SIGILL)
		return "#UD (SIGILL, ";
	if (d.sig == SIGSEGV && d.trapno == 13 && d.code == SI_KERNEL)
		return "#GP(0) (SIGSEGV, SI_KERNEL)";
	if (d.sig == SIGSEGV && d.trapno == 14)
		return d.code == SEGV_MAPERR ? "#PF (SIGSEGV, SEGV_MAPERR)" : "#PF (SIGSEGV, SEGV_ACCERR)";
	return NULL;
}

/* ---- running the command ----------------------------------------------- */

static struct run host_run;

static void run_host(void)
{
	const char *const argv[] = {SGXEMU_BIN, "host", NULL};
	run_argv(&host_run, argv);
}

static void free_host(void)
{
	run_free(&host_run);
}

/* The line of out starting with prefix (a static copy without the newline), or NULL. */
static const char *line_starting(const char *out, const char *prefix)
{
	static char buf[1024];
	size_t n = strlen(prefix);
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, prefix, n) != 0)
			continue;
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		cr_assert_lt(len, sizeof(buf));
		memcpy(buf, l, len);
		buf[len] = '\0';
		return buf;
	}
	return NULL;
}

/* The line after the one starting with prefix (the "  -> " consequence), or NULL. */
static const char *line_after(const char *out, const char *prefix)
{
	const char *l = strstr(out, prefix);
	while (l && l != out && l[-1] != '\n')
		l = strstr(l + 1, prefix);
	if (!l || !(l = strchr(l, '\n')))
		return NULL;
	return line_starting(l + 1, "");
}

/* The outcome printed for an ENCLU leaf: the text after "  NAMES: " on the line whose names include name. */
static const char *leaf_outcome(const char *out, const char *name)
{
	static char buf[1024];
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, "  ", 2) != 0 || strncmp(l, "  ->", 4) == 0 || l[2] == ' ')
			continue;
		const char *colon = strchr(l, ':'), *e = strchr(l, '\n');
		if (!colon || (e && colon > e))
			continue;
		/* The names are space-separated words before the colon. */
		char names[256];
		size_t n = (size_t)(colon - l);
		cr_assert_lt(n, sizeof(names) - 2);
		snprintf(names, sizeof(names), "%.*s ", (int)n, l);
		char word[64];
		snprintf(word, sizeof(word), " %s ", name);
		if (!strstr(names, word))
			continue;
		size_t len = e ? (size_t)(e - colon - 2) : strlen(colon + 2);
		cr_assert_lt(len, sizeof(buf));
		memcpy(buf, colon + 2, len);
		buf[len] = '\0';
		return buf;
	}
	return NULL;
}

TestSuite(host, .init = run_host, .fini = free_host, .timeout = 120);

Test(host, prints_every_line_with_its_consequence)
{
	cr_assert_eq(host_run.status, 0, "status %d, stderr: %s", host_run.status, host_run.err);
	cr_assert_str_eq(host_run.err, "");
	cr_assert(line_starting(host_run.out, "sgxemu host: "), "%s", host_run.out);
	static const char *const labels[] = {
	    "CPU:",	 "kernel:",	      "ENCLU:",		  "PKU:", "CPUID faulting:",
	    "FSGSBASE:", "syscall dispatch:", "vm.max_map_count:"};
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		cr_assert(line_starting(host_run.out, labels[i]), "no line '%s' in:\n%s", labels[i], host_run.out);
	/* Every fact after the kernel says what follows from it. */
	static const char *const with_consequence[] = {
	    "PKU:", "CPUID faulting:", "FSGSBASE:", "syscall dispatch:", "vm.max_map_count:"};
	for (size_t i = 0; i < sizeof(with_consequence) / sizeof(with_consequence[0]); i++) {
		const char *next = line_after(host_run.out, with_consequence[i]);
		cr_assert(next && strncmp(next, "  -> ", 5) == 0, "'%s' is not followed by a consequence:\n%s",
			  with_consequence[i], host_run.out);
	}
	/* One screen. */
	unsigned lines = 0;
	for (const char *p = host_run.out; *p; p++)
		lines += *p == '\n';
	cr_assert_leq(lines, 24, "%u lines:\n%s", lines, host_run.out);
}

Test(host, trap_kind_matches_a_direct_probe)
{
	static const struct {
		unsigned long leaf;
		const char *name;
	} leaves[] = {{2, "EENTER"}, {4, "EEXIT"}, {5, "EACCEPT"}};
	bool all_ud = true, all_sgx = true;
	for (size_t i = 0; i < 3; i++) {
		struct direct d = direct_enclu(leaves[i].leaf);
		const char *want = expected_kind(d);
		cr_assert(want, "%s: signal %d, si_code %d, vector %ld: not a kind this test knows", leaves[i].name,
			  d.sig, d.code, d.trapno);
		const char *got = leaf_outcome(host_run.out, leaves[i].name);
		cr_assert(got, "no line for %s in:\n%s", leaves[i].name, host_run.out);
		cr_assert_eq(strncmp(got, want, strlen(want)), 0, "%s: printed '%s', the direct probe found '%s'",
			     leaves[i].name, got, want);
		char vec[32];
		snprintf(vec, sizeof(vec), "vector %ld", d.trapno);
		cr_assert(strstr(got, vec), "%s: '%s' lacks '%s'", leaves[i].name, got, vec);
		all_ud &= d.sig == SIGILL;
		all_sgx &= d.sig == SIGSEGV;
	}
	const char *verdict = line_after(host_run.out, "ENCLU:");
	cr_assert(verdict);
	if (all_ud)
		cr_assert_str_eq(verdict, "  -> this CPU has no SGX, or its firmware left SGX off");
	if (all_sgx) {
		cr_assert(strncmp(verdict, "  -> SGX is enabled by this CPU's firmware", 42) == 0, "%s", verdict);
		cr_assert(strstr(line_starting(host_run.out, "ENCLU:"), "(SIGSEGV, "));
	}
	/* exec runs every one of them as the leaf, so each is timed. */
	cr_assert(strstr(host_run.out, "  -> exec takes each as the leaf"), "%s", host_run.out);
	const char *cost = line_starting(host_run.out, "trap cost:");
	cr_assert(cost && strstr(cost, "ENCLU[EEXIT] ") && strstr(cost, "ENCLU[EENTER] "), "%s", host_run.out);
	cr_assert(!strstr(cost, "cannot be timed"), "%s", cost);
	const char *bare = line_after(host_run.out, "trap cost:");
	cr_assert(bare && strstr(bare, "ud2 #UD ") && strstr(bare, "int3 #BP "), "%s", host_run.out);
	cr_assert(strstr(host_run.out, "  -> an ECALL costs at least ") &&
		      strstr(host_run.out, " here (one trap: EEXIT; a program's own EENTER adds "),
		  "%s", host_run.out);
}

Test(host, facts_match_the_system)
{
	struct utsname u;
	cr_assert_eq(uname(&u), 0);
	const char *k = line_starting(host_run.out, "kernel:");
	cr_assert(k && strstr(k, u.release), "%s", host_run.out);

	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		long want = -1, got = -2;
		cr_assert_eq(fscanf(f, "%ld", &want), 1);
		fclose(f);
		const char *l = line_starting(host_run.out, "vm.max_map_count:");
		cr_assert(l && sscanf(l, "vm.max_map_count: %ld (", &got) == 1, "%s", host_run.out);
		cr_assert_eq(got, want);
	}

	/* PKU: pkey_alloc failing here means no; either way the consequence follows the verdict. */
	long key = syscall(SYS_pkey_alloc, 0UL, 0UL);
	if (key >= 0)
		syscall(SYS_pkey_free, (unsigned long)key);
	const char *pku = line_starting(host_run.out, "PKU:");
	cr_assert(pku);
	bool yes = strstr(pku, " yes: ") != NULL;
	cr_assert(yes || strstr(pku, " no: "), "%s", pku);
	if (key < 0)
		cr_assert(!yes, "pkey_alloc fails here, yet: %s", pku);
	cr_assert(strstr(host_run.out, yes ? "  -> host reads of enclave memory fault"
					   : "  -> host code can read enclave pages (no isolation)"),
		  "%s", host_run.out);

	/* CPUID faulting: this process's own arch_prctl answer. */
	long on = syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0UL);
	bool faulting = on == 0;
	if (on == 1 && syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0UL) == 0) {
		syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1UL);
		faulting = true;
	}
	const char *cf = line_starting(host_run.out, "CPUID faulting:");
	cr_assert(cf && strstr(cf, faulting ? " yes: " : " no: "), "arch_prctl says %s: %s", faulting ? "yes" : "no",
		  cf);
	cr_assert(strstr(host_run.out, faulting ? "unmodified programs' CPUID sees the emulated leaf 0x12"
						: "build programs with -include sgxemu/cpuid.h"));
	cr_assert(strstr(host_run.out, faulting ? "     and enclave code's CPUID raises #UD as on hardware\n"
						: "; cpuid in inline assembly and in enclaves reaches the CPU\n"),
		  "%s", host_run.out);

	bool fsgs = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
	const char *fl = line_starting(host_run.out, "FSGSBASE:");
	cr_assert(fl && strstr(fl, fsgs ? " yes: " : " no: "), "%s", fl);
}

Test(host, takes_no_arguments_and_has_help)
{
	struct run r;
	const char *const bad[] = {SGXEMU_BIN, "host", "--quick", NULL};
	run_argv(&r, bad);
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.err, "sgxemu host: unknown option '--quick' (see 'sgxemu host --help')\n");
	cr_assert_str_eq(r.out, "");
	run_free(&r);
	const char *const help[] = {SGXEMU_BIN, "host", "--help", NULL};
	run_argv(&r, help);
	cr_assert_eq(r.status, 0);
	cr_assert(strncmp(r.out, "usage: sgxemu host\n", 19) == 0, "%s", r.out);
	run_free(&r);
}

/* ---- the probes' logic, on synthetic outcomes --------------------------- */

TestSuite(hostprobe, .timeout = 60);

Test(hostprobe, classify_by_signal_code_and_vector)
{
	cr_assert_eq(exec_trap_classify(0, 0, 0), EXEC_TRAP_NONE);
	cr_assert_eq(exec_trap_classify(SIGILL, ILL_ILLOPN, 6), EXEC_TRAP_UD);
	cr_assert_eq(exec_trap_classify(SIGILL, ILL_ILLOPN, 13), EXEC_TRAP_OTHER);
	cr_assert_eq(exec_trap_classify(SIGSEGV, SI_KERNEL, 13), EXEC_TRAP_GP);
	cr_assert_eq(exec_trap_classify(SIGSEGV, SEGV_MAPERR, 13), EXEC_TRAP_OTHER);
	cr_assert_eq(exec_trap_classify(SIGSEGV, SEGV_MAPERR, 14), EXEC_TRAP_PF);
	cr_assert_eq(exec_trap_classify(SIGSEGV, SEGV_ACCERR, 14), EXEC_TRAP_PF);
	cr_assert_eq(exec_trap_classify(SIGSEGV, SEGV_PKUERR, 14), EXEC_TRAP_PF);
	cr_assert_eq(exec_trap_classify(SIGBUS, BUS_ADRERR, 14), EXEC_TRAP_PF);
	cr_assert_eq(exec_trap_classify(SIGBUS, BUS_ADRALN, 17), EXEC_TRAP_OTHER);
	cr_assert_eq(exec_trap_classify(SIGTRAP, SI_KERNEL, 3), EXEC_TRAP_BP);
	cr_assert_eq(exec_trap_classify(SIGFPE, FPE_INTDIV, 0), EXEC_TRAP_OTHER);
}

static struct exec_trap_probe synth(int sig, int code, long trapno, uint64_t err)
{
	struct exec_trap_probe p;
	memset(&p, 0, sizeof(p));
	p.spec.insn = EXEC_TRAP_ENCLU;
	p.sig = sig;
	p.si_code = code;
	p.trapno = trapno;
	p.errcode = err;
	p.kind = exec_trap_classify(sig, code, trapno);
	p.exec_takes = sig != 0;
	return p;
}

Test(hostprobe, host_kind_from_the_leaves)
{
	struct exec_trap_probe ud = synth(SIGILL, ILL_ILLOPN, 6, 0), gp = synth(SIGSEGV, SI_KERNEL, 13, 0),
			       pf = synth(SIGSEGV, SEGV_ACCERR, 14, 0x8007), none = synth(0, 0, 0, 0),
			       other = synth(SIGTRAP, SI_KERNEL, 1, 0);
	/* AMD and Intel with SGX off: #UD for every leaf. */
	struct exec_trap_probe amd[] = {ud, ud, ud};
	cr_assert_eq(exec_host_enclu_kind(amd, 3), EXEC_HOST_ENCLU_UD);
	/* SGX on in firmware: #GP outside enclave mode, #PF on EENTER's TCS. */
	struct exec_trap_probe intel[] = {gp, pf, gp};
	cr_assert_eq(exec_host_enclu_kind(intel, 3), EXEC_HOST_ENCLU_SGX);
	cr_assert_eq(exec_host_enclu_kind(&gp, 1), EXEC_HOST_ENCLU_SGX);
	struct exec_trap_probe mixed[] = {ud, gp};
	cr_assert_eq(exec_host_enclu_kind(mixed, 2), EXEC_HOST_ENCLU_MIXED);
	struct exec_trap_probe odd[] = {gp, other};
	cr_assert_eq(exec_host_enclu_kind(odd, 2), EXEC_HOST_ENCLU_MIXED);
	struct exec_trap_probe done[] = {gp, none, ud};
	cr_assert_eq(exec_host_enclu_kind(done, 3), EXEC_HOST_ENCLU_NOTRAP);
	cr_assert_eq(exec_host_enclu_kind(amd, 0), EXEC_HOST_ENCLU_MIXED);
}

Test(hostprobe, describe_names_signal_code_and_fault)
{
	char d[160];
	struct exec_trap_probe p = synth(SIGSEGV, SI_KERNEL, 13, 0);
	exec_trap_describe(&p, true, d, sizeof(d));
	cr_assert_str_eq(d, "#GP(0) (SIGSEGV, SI_KERNEL)");
	p = synth(SIGILL, ILL_ILLOPN, 6, 0);
	exec_trap_describe(&p, true, d, sizeof(d));
	cr_assert_str_eq(d, "#UD (SIGILL, ILL_ILLOPN)");
	p = synth(SIGSEGV, SEGV_ACCERR, 14, 0x8007);
	p.operand = 0x7f0000001000;
	p.addr = 0x7f0000001fff;
	exec_trap_describe(&p, true, d, sizeof(d));
	cr_assert_str_eq(d, "#PF (SIGSEGV, SEGV_ACCERR) error 0x8007 (P W U SGX) at RBX+0xfff");
	exec_trap_describe(&p, false, d, sizeof(d));
	cr_assert_str_eq(d, "#PF (SIGSEGV, SEGV_ACCERR)");
	p = synth(SIGSEGV, SEGV_MAPERR, 14, 6);
	p.operand = 0;
	p.addr = 0xfff;
	exec_trap_describe(&p, true, d, sizeof(d));
	cr_assert_str_eq(d, "#PF (SIGSEGV, SEGV_MAPERR) error 0x6 (W U) at 0xfff");
	p = synth(0, 0, 0, 0);
	exec_trap_describe(&p, true, d, sizeof(d));
	cr_assert_str_eq(d, "no trap (the instruction completed)");
	exec_trap_pf_bits(0, d, sizeof(d));
	cr_assert_str_eq(d, "-");
	exec_trap_code_name(SIGSEGV, 42, d, sizeof(d));
	cr_assert_str_eq(d, "si_code 42");
}

Test(hostprobe, worst_case_enclave_is_one_page_per_free_mapping)
{
	cr_assert_eq(exec_host_worst_enclave_pages(65530, 31), 65499);
	cr_assert_eq(exec_host_worst_enclave_pages(65530, 0), 65530);
	cr_assert_eq(exec_host_worst_enclave_pages(100, 100), 0);
	cr_assert_eq(exec_host_worst_enclave_pages(100, 200), 0);
	cr_assert_eq(exec_host_worst_enclave_pages(-22, 0), 0);
}

/* ---- the probes on this host -------------------------------------------- */

static volatile sig_atomic_t sentinel_hits;
static void sentinel(int sig)
{
	(void)sig;
	sentinel_hits++;
}

Test(hostprobe, bare_traps_here_and_handlers_put_back)
{
	/* A handler of the program's own must survive the probes. */
	struct sigaction sa, now;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sentinel;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);

	struct exec_trap_probe p;
	struct exec_trap_spec ud2 = {.insn = EXEC_TRAP_UD2}, int3 = {.insn = EXEC_TRAP_INT3};
	cr_assert_eq(exec_trap_probe(&ud2, &p), 0);
	cr_assert_eq(p.kind, EXEC_TRAP_UD, "ud2: signal %d vector %ld", p.sig, p.trapno);
	cr_assert_eq(p.sig, SIGILL);
	cr_assert_eq(exec_trap_probe(&int3, &p), 0);
	cr_assert_eq(p.kind, EXEC_TRAP_BP, "int3: signal %d vector %ld", p.sig, p.trapno);

	/* ENCLU[EEXIT] outside enclave mode: whatever the library says, the direct probe says too. */
	struct exec_trap_spec eexit = {.insn = EXEC_TRAP_ENCLU, .leaf = 4, .page = EXEC_TRAP_PAGE_RW};
	cr_assert_eq(exec_trap_probe(&eexit, &p), 0);
	struct direct d = direct_enclu(4);
	cr_assert_eq(p.sig, d.sig);
	cr_assert_eq(p.si_code, d.code);
	cr_assert_eq(p.trapno, d.trapno);
	cr_assert(p.exec_takes, "exec does not take %d/%d/%ld at ENCLU as the leaf", p.sig, p.si_code, p.trapno);

	struct exec_trap_cost c;
	cr_assert_eq(exec_trap_time(&ud2, 50, &c), 0);
	cr_assert_gt(c.wall_ns, 0);
	cr_assert_eq(exec_trap_time(&eexit, 50, &c), 0);
	double wall = 0, cpu = 0;
	cr_assert_eq(exec_trap_median(&int3, 3, 50, &wall, &cpu), 0);
	cr_assert_gt(wall, 0);
	cr_assert_eq(exec_trap_median(&int3, 0, 50, &wall, &cpu), -EINVAL);

	cr_assert_eq(sigaction(SIGSEGV, NULL, &now), 0);
	cr_assert_eq((void *)now.sa_handler, (void *)sentinel);
	cr_assert_eq(sentinel_hits, 0);
	sigaction(SIGILL, NULL, &now);
	cr_assert_eq((void *)now.sa_handler, (void *)SIG_DFL);
}
