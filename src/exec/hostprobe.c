/* SPDX-License-Identifier: MIT */
/*
 * Host probes (hostprobe.h, docs/host.md).  The trapping instructions live
 * in three small loops written in assembly below, so that the handler can
 * recognise a trap as its own by RIP alone (never reading memory at an
 * address it does not know) and move RIP past the instruction: that keeps
 * the round trip bare (kernel entry, signal delivery, sigreturn) and free
 * of siglongjmp's extra system call, as a trap of exec's is.
 */
#include "hostprobe.h"

#include <asm/prctl.h>
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "cpu.h"
#include "exec_int.h"

#define VEC_BP 3
#define VEC_UD 6
#define VEC_GP 13
#define VEC_PF 14

/*
 * exec_probe_loop_*(n[, leaf, operand]): execute the instruction n times.
 * ENCLU gets RAX = leaf and RBX = RCX = RDX = operand anew each time; only
 * RBX (callee-saved) is saved, the rest are caller-saved scratch.
 */
__asm__(".pushsection .text\n"
	".p2align 4\n"
	".globl exec_probe_loop_enclu\n"
	".hidden exec_probe_loop_enclu\n"
	".type exec_probe_loop_enclu, @function\n"
	"exec_probe_loop_enclu:\n"
	"	push %rbx\n"
	"	mov %rdx, %r8\n"
	"	test %rdi, %rdi\n"
	"	jz 2f\n"
	"1:	mov %rsi, %rax\n"
	"	mov %r8, %rbx\n"
	"	mov %r8, %rcx\n"
	"	mov %r8, %rdx\n"
	".globl exec_probe_at_enclu\n"
	".hidden exec_probe_at_enclu\n"
	"exec_probe_at_enclu:\n"
	"	enclu\n"
	"	dec %rdi\n"
	"	jnz 1b\n"
	"2:	pop %rbx\n"
	"	ret\n"
	".size exec_probe_loop_enclu, . - exec_probe_loop_enclu\n"
	"\n"
	".p2align 4\n"
	".globl exec_probe_loop_ud2\n"
	".hidden exec_probe_loop_ud2\n"
	".type exec_probe_loop_ud2, @function\n"
	"exec_probe_loop_ud2:\n"
	"	test %rdi, %rdi\n"
	"	jz 2f\n"
	".globl exec_probe_at_ud2\n"
	".hidden exec_probe_at_ud2\n"
	"exec_probe_at_ud2:\n"
	"1:	ud2\n"
	"	dec %rdi\n"
	"	jnz 1b\n"
	"2:	ret\n"
	".size exec_probe_loop_ud2, . - exec_probe_loop_ud2\n"
	"\n"
	".p2align 4\n"
	".globl exec_probe_loop_int3\n"
	".hidden exec_probe_loop_int3\n"
	".type exec_probe_loop_int3, @function\n"
	"exec_probe_loop_int3:\n"
	"	test %rdi, %rdi\n"
	"	jz 2f\n"
	".globl exec_probe_at_int3\n"
	".hidden exec_probe_at_int3\n"
	"exec_probe_at_int3:\n"
	"1:	int3\n"
	"	dec %rdi\n"
	"	jnz 1b\n"
	"2:	ret\n"
	".size exec_probe_loop_int3, . - exec_probe_loop_int3\n"
	".popsection\n");

EXEC_HIDDEN void exec_probe_loop_enclu(uint64_t n, uint64_t leaf, uint64_t operand);
EXEC_HIDDEN void exec_probe_loop_ud2(uint64_t n);
EXEC_HIDDEN void exec_probe_loop_int3(uint64_t n);
extern EXEC_HIDDEN const char exec_probe_at_enclu[], exec_probe_at_ud2[], exec_probe_at_int3[];

static const int probe_signals[] = {SIGILL, SIGSEGV, SIGBUS, SIGTRAP};
#define NSIGNALS (sizeof(probe_signals) / sizeof(probe_signals[0]))

/* One probe at a time: the handlers and what they record are process-wide. */
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction saved[NSIGNALS];
static volatile sig_atomic_t traps;
static volatile sig_atomic_t recording;
static struct exec_trap_probe record;

/*
 * A signal that is not the probe's: the previous handler gets it when the
 * fault repeats (a trap that does not repeat, an int3 elsewhere, is lost).
 */
static void not_ours(int sig)
{
	for (size_t i = 0; i < NSIGNALS; i++)
		if (probe_signals[i] == sig)
			sigaction(sig, &saved[i], NULL);
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;
	uintptr_t rip = (uintptr_t)g[REG_RIP];
	long skip;
	/* Sent by a process (kill, sigqueue): no instruction raised it, and nothing repeats. */
	if (si->si_code <= 0)
		return;
	if (rip == (uintptr_t)exec_probe_at_enclu)
		skip = 3;
	else if (rip == (uintptr_t)exec_probe_at_ud2)
		skip = 2;
	else if (sig == SIGTRAP && rip == (uintptr_t)exec_probe_at_int3 + 1)
		skip = 0; /* #BP is a trap: RIP is past the int3 already */
	else {
		not_ours(sig);
		return;
	}
	if (recording && traps == 0) {
		record.sig = sig;
		record.si_code = si->si_code;
		record.trapno = (long)g[REG_TRAPNO];
		record.errcode = (uint64_t)g[REG_ERR];
		record.addr = (uint64_t)(uintptr_t)si->si_addr;
		record.operand = skip == 3 ? (uint64_t)g[REG_RBX] : 0;
		record.exec_takes = skip == 3 && exec_enclu_trap_kind(sig, si, uc);
	}
	g[REG_RIP] += skip;
	traps = traps + 1;
}

static int install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSIGNALS; i++) {
		if (sigaction(probe_signals[i], &sa, &saved[i]) != 0) {
			int e = errno;
			while (i--)
				sigaction(probe_signals[i], &saved[i], NULL);
			return -e;
		}
	}
	return 0;
}

static void uninstall(void)
{
	for (size_t i = 0; i < NSIGNALS; i++)
		sigaction(probe_signals[i], &saved[i], NULL);
}

/* The operand page of an ENCLU spec (NULL on failure); munmap it with 4096 bytes. */
static void *operand_page(const struct exec_trap_spec *s)
{
	if (s->insn != EXEC_TRAP_ENCLU)
		return NULL;
	bool rw = s->page == EXEC_TRAP_PAGE_RW;
	void *p = mmap(NULL, 4096, rw ? PROT_READ | PROT_WRITE : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (rw)
		*(volatile uint8_t *)p = 1; /* present in the page tables, not just a VMA */
	return p;
}

static void run(const struct exec_trap_spec *s, uint64_t n, void *page)
{
	switch (s->insn) {
	case EXEC_TRAP_ENCLU:
		exec_probe_loop_enclu(n, s->leaf, (uint64_t)(uintptr_t)page);
		break;
	case EXEC_TRAP_UD2:
		exec_probe_loop_ud2(n);
		break;
	case EXEC_TRAP_INT3:
		exec_probe_loop_int3(n);
		break;
	}
}

static double ns(const struct timespec *t)
{
	return (double)t->tv_sec * 1e9 + (double)t->tv_nsec;
}

/* n executions under the bare handlers; *c the time of the loop when c is set.  probe_lock held. */
static int execute(const struct exec_trap_spec *s, uint64_t n, bool rec, struct exec_trap_cost *c)
{
	void *page = operand_page(s);
	if (s->insn == EXEC_TRAP_ENCLU && !page)
		return -ENOMEM;
	int rc = install();
	if (rc)
		goto out;
	traps = 0;
	recording = rec;
	struct timespec w0, c0, w1, c1;
	clock_gettime(CLOCK_MONOTONIC, &w0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	run(s, n, page);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	recording = 0;
	uninstall();
	if (c)
		*c = (struct exec_trap_cost){ns(&w1) - ns(&w0), ns(&c1) - ns(&c0)};
out:
	if (page)
		munmap(page, 4096);
	return rc;
}

int exec_trap_probe(const struct exec_trap_spec *s, struct exec_trap_probe *p)
{
	pthread_mutex_lock(&probe_lock);
	memset(&record, 0, sizeof(record));
	int rc = execute(s, 1, true, NULL);
	if (rc == 0) {
		*p = record;
		p->spec = *s;
		p->kind = exec_trap_classify(p->sig, p->si_code, p->trapno);
	}
	pthread_mutex_unlock(&probe_lock);
	return rc;
}

int exec_trap_time(const struct exec_trap_spec *s, uint64_t n, struct exec_trap_cost *c)
{
	pthread_mutex_lock(&probe_lock);
	int rc = execute(s, n, false, c);
	if (rc == 0 && (uint64_t)traps != n)
		rc = -EPROTO;
	pthread_mutex_unlock(&probe_lock);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int exec_trap_median(const struct exec_trap_spec *s, unsigned reps, uint64_t n, double *wall_ns, double *cpu_ns)
{
	double w[101], c[101];
	if (reps < 1 || reps > 101 || n < 1)
		return -EINVAL;
	for (unsigned i = 0; i < reps; i++) {
		struct exec_trap_cost t;
		int rc = exec_trap_time(s, n, &t);
		if (rc)
			return rc;
		w[i] = t.wall_ns / (double)n;
		c[i] = t.cpu_ns / (double)n;
	}
	qsort(w, reps, sizeof(*w), cmp_double);
	qsort(c, reps, sizeof(*c), cmp_double);
	if (wall_ns)
		*wall_ns = w[reps / 2];
	if (cpu_ns)
		*cpu_ns = c[reps / 2];
	return 0;
}

/* ---- naming ------------------------------------------------------------- */

enum exec_trap_kind exec_trap_classify(int sig, int si_code, long trapno)
{
	switch (sig) {
	case 0:
		return EXEC_TRAP_NONE;
	case SIGILL:
		return trapno == VEC_UD ? EXEC_TRAP_UD : EXEC_TRAP_OTHER;
	case SIGSEGV:
		/* Linux sends a user-mode #GP as SI_KERNEL; any other code at vector 13 is not one. */
		if (trapno == VEC_GP)
			return si_code == SI_KERNEL ? EXEC_TRAP_GP : EXEC_TRAP_OTHER;
		return trapno == VEC_PF ? EXEC_TRAP_PF : EXEC_TRAP_OTHER;
	case SIGBUS:
		return trapno == VEC_PF ? EXEC_TRAP_PF : EXEC_TRAP_OTHER;
	case SIGTRAP:
		return trapno == VEC_BP ? EXEC_TRAP_BP : EXEC_TRAP_OTHER;
	default:
		return EXEC_TRAP_OTHER;
	}
}

const char *exec_trap_kind_name(enum exec_trap_kind k)
{
	switch (k) {
	case EXEC_TRAP_NONE:
		return "no trap";
	case EXEC_TRAP_UD:
		return "#UD";
	case EXEC_TRAP_GP:
		return "#GP";
	case EXEC_TRAP_PF:
		return "#PF";
	case EXEC_TRAP_BP:
		return "#BP";
	case EXEC_TRAP_OTHER:
		break;
	}
	return "other";
}

const char *exec_trap_signal_name(int sig)
{
	switch (sig) {
	case 0:
		return "no signal";
	case SIGILL:
		return "SIGILL";
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGTRAP:
		return "SIGTRAP";
	case SIGFPE:
		return "SIGFPE";
	default:
		return "another signal";
	}
}

void exec_trap_code_name(int sig, int si_code, char *out, size_t len)
{
	static const char *const segv[] = {NULL, "SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR"};
	static const char *const ill[] = {NULL,		"ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP",
					  "ILL_PRVOPC", "ILL_PRVREG", "ILL_COPROC", "ILL_BADSTK"};
	static const char *const bus[] = {NULL, "BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR"};
	static const char *const trap[] = {NULL, "TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT"};
	const char *const *tab = NULL;
	size_t ntab = 0;
	if (si_code == SI_KERNEL) {
		snprintf(out, len, "SI_KERNEL");
		return;
	}
	if (sig == SIGSEGV)
		tab = segv, ntab = sizeof(segv) / sizeof(*segv);
	else if (sig == SIGILL)
		tab = ill, ntab = sizeof(ill) / sizeof(*ill);
	else if (sig == SIGBUS)
		tab = bus, ntab = sizeof(bus) / sizeof(*bus);
	else if (sig == SIGTRAP)
		tab = trap, ntab = sizeof(trap) / sizeof(*trap);
	if (tab && si_code > 0 && (size_t)si_code < ntab)
		snprintf(out, len, "%s", tab[si_code]);
	else
		snprintf(out, len, "si_code %d", si_code);
}

void exec_trap_pf_bits(uint64_t e, char *out, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} bits[] = {{0, "P"}, {1, "W"}, {2, "U"}, {3, "RSVD"}, {4, "I"}, {5, "PK"}, {6, "SS"}, {15, "SGX"}};
	size_t pos = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		if (!(e & (1ULL << bits[i].bit)))
			continue;
		int w = snprintf(out + pos, len - pos, "%s%s", pos ? " " : "", bits[i].name);
		if (w < 0 || (size_t)w >= len - pos)
			break;
		pos += (size_t)w;
	}
	if (!pos)
		snprintf(out, len, "-");
}

void exec_trap_describe(const struct exec_trap_probe *p, bool with_fault, char *out, size_t len)
{
	char code[32];
	if (p->kind == EXEC_TRAP_NONE) {
		snprintf(out, len, "no trap (the instruction completed)");
		return;
	}
	exec_trap_code_name(p->sig, p->si_code, code, sizeof(code));
	const char *sig = exec_trap_signal_name(p->sig);
	switch (p->kind) {
	case EXEC_TRAP_GP:
		snprintf(out, len, "#GP(%llu) (%s, %s)", (unsigned long long)p->errcode, sig, code);
		return;
	case EXEC_TRAP_PF:
		if (with_fault) {
			char bits[48], where[48];
			exec_trap_pf_bits(p->errcode, bits, sizeof(bits));
			/* Relative to the operand when it is near it: the leaf's own operand faulted. */
			if (p->operand && p->addr - p->operand < 4096)
				snprintf(where, sizeof(where), "RBX+%#llx", (unsigned long long)(p->addr - p->operand));
			else
				snprintf(where, sizeof(where), "%#llx", (unsigned long long)p->addr);
			snprintf(out, len, "#PF (%s, %s) error %#llx (%s) at %s", sig, code,
				 (unsigned long long)p->errcode, bits, where);
		} else {
			snprintf(out, len, "#PF (%s, %s)", sig, code);
		}
		return;
	case EXEC_TRAP_OTHER:
		snprintf(out, len, "vector %ld (%s, %s)", p->trapno, sig, code);
		return;
	default:
		snprintf(out, len, "%s (%s, %s)", exec_trap_kind_name(p->kind), sig, code);
		return;
	}
}

enum exec_host_enclu exec_host_enclu_kind(const struct exec_trap_probe *p, size_t n)
{
	bool all_ud = n > 0, all_sgx = n > 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i].kind == EXEC_TRAP_NONE)
			return EXEC_HOST_ENCLU_NOTRAP;
		all_ud &= p[i].kind == EXEC_TRAP_UD;
		all_sgx &= p[i].kind == EXEC_TRAP_GP || p[i].kind == EXEC_TRAP_PF;
	}
	if (all_ud)
		return EXEC_HOST_ENCLU_UD;
	if (all_sgx)
		return EXEC_HOST_ENCLU_SGX;
	return EXEC_HOST_ENCLU_MIXED;
}

/* ---- CPU and kernel ---------------------------------------------------- */

static void regs_string(char *out, const unsigned *r, unsigned n)
{
	memcpy(out, r, 4 * n);
	out[4 * n] = '\0';
}

void exec_host_cpu_probe(struct exec_host_cpu *c)
{
	unsigned a, b, cx, d;
	memset(c, 0, sizeof(*c));
	unsigned max = (unsigned)__get_cpuid_max(0, NULL);
	if (max == 0)
		return;
	__cpuid(0, a, b, cx, d);
	unsigned v[3] = {b, d, cx};
	regs_string(c->vendor, v, 3);
	if ((unsigned)__get_cpuid_max(0x80000000, NULL) >= 0x80000004U) {
		unsigned r[12];
		for (unsigned i = 0; i < 3; i++)
			__cpuid(0x80000002 + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
		char brand[49];
		regs_string(brand, r, 12);
		const char *s = brand;
		while (*s == ' ')
			s++;
		snprintf(c->brand, sizeof(c->brand), "%s", s);
	}
	__cpuid(1, a, b, cx, d);
	c->hypervisor = (cx >> 31) & 1;
	if (c->hypervisor) {
		/* Leaf 0x40000000 is the hypervisor's, outside the range __get_cpuid_max reports. */
		__cpuid(0x40000000, a, b, cx, d);
		unsigned h[3] = {b, cx, d};
		regs_string(c->hv_vendor, h, 3);
	}
	if (max >= 7) {
		__cpuid_count(7, 0, a, b, cx, d);
		c->fsgsbase_cpuid = b & 1;
		c->sgx = (b >> 2) & 1;
		c->pku = (cx >> 3) & 1;
		c->ospke = (cx >> 4) & 1;
		c->sgx_lc = (cx >> 30) & 1;
	}
	if (c->sgx && max >= 0x12) {
		__cpuid_count(0x12, 0, a, b, cx, d);
		c->sgx1 = a & 1;
		c->sgx2 = (a >> 1) & 1;
	}
	c->fsgsbase = exec_cpu_fsgsbase();
}

bool exec_host_cpuid_fault(char *why, size_t len)
{
	long on = syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0UL);
	if (on < 0) {
		snprintf(why, len, "arch_prctl(ARCH_GET_CPUID): %s", strerror(errno));
		return false;
	}
	if (on == 0) {
		snprintf(why, len, "CPUID faulting is on in this process already");
		return true;
	}
	if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0UL) != 0) {
		int e = errno;
		snprintf(why, len, "arch_prctl(ARCH_SET_CPUID, 0): %s%s", strerror(e),
			 e == ENODEV ? " (neither the CPU nor a hypervisor offers it)" : "");
		return false;
	}
	/* CPUID faults until this: nothing in between executes it. */
	syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1UL);
	snprintf(why, len, "arch_prctl(ARCH_SET_CPUID) works");
	return true;
}

bool exec_host_pkey_alloc(char *why, size_t len)
{
	long key = syscall(SYS_pkey_alloc, 0UL, 0UL);
	if (key < 0) {
		snprintf(why, len, "pkey_alloc: %s", strerror(errno));
		return false;
	}
	syscall(SYS_pkey_free, (unsigned long)key);
	snprintf(why, len, "pkey_alloc works");
	return true;
}

long exec_host_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	if (!f)
		return -errno;
	long v = -EINVAL;
	if (fscanf(f, "%ld", &v) != 1 || v < 0)
		v = -EINVAL;
	fclose(f);
	return v;
}

long exec_host_maps_in_use(void)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	long lines = 0;
	char buf[4096];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			lines += buf[i] == '\n';
	int e = errno;
	close(fd);
	return r < 0 ? -e : lines;
}

uint64_t exec_host_worst_enclave_pages(long max_map_count, long in_use)
{
	if (max_map_count <= 0 || in_use < 0 || in_use >= max_map_count)
		return 0;
	return (uint64_t)(max_map_count - in_use);
}
