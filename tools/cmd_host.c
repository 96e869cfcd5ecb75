/* SPDX-License-Identifier: MIT */
/*
 * sgxemu host: what this machine offers sgxemu and what follows from it
 * (docs/host.md).  Everything is probed now, in this process: the same
 * binary tells the truth on a #UD host, a #GP host or a real SGX machine.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "cli.h"
#include "exec.h"
#include "hostprobe.h"

#define TIME_REPS 15   /* runs per figure; the median is printed */
#define TIME_N	  1000 /* round trips per run */

static const struct {
	uint32_t leaf;
	const char *name;
} leaves[] = {
    {0, "EREPORT"}, {1, "EGETKEY"}, {2, "EENTER"}, {3, "ERESUME"},
    {4, "EEXIT"},   {5, "EACCEPT"}, {6, "EMODPE"}, {7, "EACCEPTCOPY"},
};
#define NLEAVES (sizeof(leaves) / sizeof(leaves[0]))
#define EENTER	2
#define EEXIT	4

/* Two probes that print the same line (the leaf's own operand faulting at the same offset counts as the same). */
static bool same_outcome(const struct exec_trap_probe *a, const struct exec_trap_probe *b)
{
	return a->kind == b->kind && a->sig == b->sig && a->si_code == b->si_code && a->trapno == b->trapno &&
	       a->errcode == b->errcode && a->exec_takes == b->exec_takes &&
	       (a->kind != EXEC_TRAP_PF || a->addr - a->operand == b->addr - b->operand);
}

static void label(const char *l)
{
	printf("%-18s", l);
}

static void print_cpu(const struct exec_host_cpu *c)
{
	label("CPU:");
	printf("%s%s%s", *c->vendor ? c->vendor : "unknown vendor", *c->brand ? ", " : "", c->brand);
	if (c->hypervisor)
		printf("; a virtual machine (%s)", *c->hv_vendor ? c->hv_vendor : "hypervisor unnamed");
	if (c->sgx)
		printf("; CPUID reports SGX (SGX1 %s, SGX2 %s, launch control %s)\n", c->sgx1 ? "yes" : "no",
		       c->sgx2 ? "yes" : "no", c->sgx_lc ? "flexible" : "locked");
	else
		printf("; CPUID reports no SGX\n");
}

static void print_kernel(void)
{
	struct utsname u;
	label("kernel:");
	if (uname(&u) == 0)
		printf("%s %s (%s)\n", u.sysname, u.release, u.machine);
	else
		printf("unknown (uname failed)\n");
}

/*
 * ENCLU: probe each leaf, print the verdict and one line per distinct
 * outcome.  first[] gets each outcome's first leaf, group[] each leaf's
 * outcome.  Return: how many outcomes, or -1 when probing failed.
 */
static int print_enclu(const struct exec_host_cpu *c, struct exec_trap_probe *p, size_t *first, size_t *group)
{
	for (size_t i = 0; i < NLEAVES; i++) {
		struct exec_trap_spec s = {.insn = EXEC_TRAP_ENCLU, .leaf = leaves[i].leaf, .page = EXEC_TRAP_PAGE_RW};
		int rc = exec_trap_probe(&s, &p[i]);
		if (rc) {
			label("ENCLU:");
			printf("cannot probe: %s\n", strerror(-rc));
			return -1;
		}
	}
	size_t ngroups = 0;
	for (size_t i = 0; i < NLEAVES; i++) {
		size_t g = 0;
		while (g < ngroups && !same_outcome(&p[first[g]], &p[i]))
			g++;
		if (g == ngroups)
			first[ngroups++] = i;
		group[i] = g;
	}

	/* The vectors seen, in order; then what they say about the CPU. */
	char d[160];
	label("ENCLU:");
	enum exec_host_enclu kind = exec_host_enclu_kind(p, NLEAVES);
	if (kind == EXEC_HOST_ENCLU_NOTRAP) {
		printf("completes without a trap for some leaf\n"
		       "  -> this process runs in enclave mode, or the CPU does not refuse ENCLU\n");
	} else {
		printf("raises ");
		bool kinds_seen[EXEC_TRAP_OTHER + 1] = {false};
		unsigned shown = 0;
		for (size_t g = 0; g < ngroups; g++) {
			const struct exec_trap_probe *q = &p[first[g]];
			if (kinds_seen[q->kind])
				continue;
			kinds_seen[q->kind] = true;
			exec_trap_describe(q, false, d, sizeof(d));
			printf("%s%s", shown++ ? " and " : "", d);
			if (q->kind == EXEC_TRAP_PF && q->addr - q->operand < 4096)
				printf(" on its operand");
		}
		if (kind == EXEC_HOST_ENCLU_UD)
			printf("\n  -> this CPU has no SGX, or its firmware left SGX off\n");
		else if (kind == EXEC_HOST_ENCLU_SGX)
			printf("\n  -> SGX is enabled by this CPU's firmware%s\n",
			       c->sgx	       ? ""
			       : c->hypervisor ? " (this virtual machine's CPUID hides it)"
					       : " (CPUID does not report it)");
		else
			printf("\n  -> an unusual combination: see the leaves\n");
	}
	for (size_t g = 0; g < ngroups; g++) {
		printf("  ");
		for (size_t i = 0, n = 0; i < NLEAVES; i++)
			if (group[i] == g)
				printf("%s%s", n++ ? " " : "", leaves[i].name);
		exec_trap_describe(&p[first[g]], true, d, sizeof(d));
		if (p[first[g]].sig)
			printf(": %s, vector %ld\n", d, p[first[g]].trapno);
		else
			printf(": %s\n", d);
	}
	bool all_taken = true;
	for (size_t i = 0; i < NLEAVES; i++)
		all_taken &= p[i].exec_takes;
	if (all_taken)
		printf("  -> exec takes each as the leaf: every ENCLU of enclave code is one signal round trip here\n");
	else
		printf(
		    "  -> exec does not take every one of them as the leaf: enclave code cannot run natively here\n");
	return (int)ngroups;
}

/* Time one ENCLU spec and print "ENCLU[NAME] KIND X us NOTE"; false (and why) when it does not trap. */
static bool time_enclu(const struct exec_trap_spec *s, const char *name, const char *note, double *ns)
{
	struct exec_trap_probe q;
	int rc = exec_trap_probe(s, &q);
	if (rc == 0 && q.kind == EXEC_TRAP_NONE)
		rc = -EPROTO;
	if (rc == 0)
		rc = exec_trap_median(s, TIME_REPS, TIME_N, ns, NULL);
	if (rc) {
		printf("ENCLU[%s] cannot be timed (%s)", name, rc == -EPROTO ? "it does not trap" : strerror(-rc));
		return false;
	}
	printf("ENCLU[%s] %s %.2f us%s", name, exec_trap_kind_name(q.kind), *ns / 1e3, note);
	return true;
}

/*
 * The round trip's two traps as exec meets them: EEXIT, and EENTER with RBX
 * on a PROT_NONE page (the driver model maps a TCS so); any leaf whose
 * outcome is neither's; then ud2 and int3 for comparison.
 */
static void print_costs(const struct exec_trap_probe *p, const size_t *first, const size_t *group, int ngroups)
{
	double x = 0, e = 0, w;
	struct exec_trap_spec sx = p[EEXIT].spec, se = p[EENTER].spec;
	se.page = EXEC_TRAP_PAGE_NONE;
	label("trap cost:");
	bool okx = time_enclu(&sx, "EEXIT", "", &x);
	printf(", ");
	bool oke = time_enclu(&se, "EENTER", " (TCS mapped PROT_NONE)", &e);
	for (int g = 0; g < ngroups; g++) {
		if ((size_t)g == group[EEXIT] || (size_t)g == group[EENTER])
			continue;
		printf(", ");
		time_enclu(&p[first[g]].spec, leaves[first[g]].name, "", &w);
	}
	printf("\n");
	label("");
	static const struct {
		enum exec_trap_insn insn;
		const char *name;
	} bare[] = {{EXEC_TRAP_UD2, "ud2 #UD"}, {EXEC_TRAP_INT3, "int3 #BP"}};
	for (size_t i = 0; i < 2; i++) {
		struct exec_trap_spec s = {.insn = bare[i].insn};
		int rc = exec_trap_median(&s, TIME_REPS, TIME_N, &w, NULL);
		if (rc)
			printf("%s cannot be timed (%s), ", bare[i].name, strerror(-rc));
		else
			printf("%s %.2f us, ", bare[i].name, w / 1e3);
	}
	printf("each a median of %d x %d bare round trips\n", TIME_REPS, TIME_N);
	/* The vDSO entry (sgxemu_enter_enclave) performs EENTER without a trap: an ECALL traps once, at its EEXIT. */
	if (okx && oke)
		printf("  -> an ECALL costs at least %.2f us here (one trap: EEXIT; a program's own EENTER adds %.2f "
		       "us)\n",
		       x / 1e3, e / 1e3);
}

static void print_pku(const struct exec_host_cpu *c)
{
	char why[256], alloc[128];
	bool ok = exec_pkey_probe(why, sizeof(why));
	bool alloc_ok = exec_host_pkey_alloc(alloc, sizeof(alloc));
	label("PKU:");
	printf("%s: PKU %d, OSPKE %d (CPUID.(7,0).ECX[3], [4]), %s", ok ? "yes" : "no", c->pku, c->ospke,
	       alloc_ok ? "pkey_alloc works" : alloc);
	/* The CPUID bits and pkey_alloc say it unless something else (XCR0) was missing. */
	if (!ok && c->pku && c->ospke && alloc_ok)
		printf("; %s", why);
	printf("\n  -> %s\n", ok ? "host reads of enclave memory fault (SEGV_PKUERR): enclave pages are isolated"
				 : "host code can read enclave pages (no isolation)");
}

static void print_cpuid_fault(void)
{
	char why[160];
	bool ok = exec_host_cpuid_fault(why, sizeof(why));
	label("CPUID faulting:");
	printf("%s: %s\n", ok ? "yes" : "no", why);
	if (ok)
		printf("  -> under sgxemu run, unmodified programs' CPUID sees the emulated leaf 0x12,\n"
		       "     and enclave code's CPUID raises #UD as on hardware\n");
	else
		printf("  -> build programs with -include sgxemu/cpuid.h: their <cpuid.h> __cpuid/__cpuid_count see\n"
		       "     the emulated leaf 0x12 under sgxemu run; cpuid in inline assembly and in enclaves reaches "
		       "the CPU\n");
}

static void print_fsgsbase(const struct exec_host_cpu *c)
{
	label("FSGSBASE:");
	if (c->fsgsbase)
		printf("yes: AT_HWCAP2 has HWCAP2_FSGSBASE\n"
		       "  -> exec switches the FS/GS base with WRFSBASE/WRGSBASE, no system call per trap\n");
	else
		printf("no: %s\n  -> exec switches the FS/GS base with arch_prctl: system calls on every trap of "
		       "enclave code\n",
		       c->fsgsbase_cpuid ? "the CPU has it, the kernel did not enable it (Linux >= 5.9 does)"
					 : "the CPU lacks it (CPUID.(7,0).EBX[0] clear)");
}

static void print_sud(void)
{
	char why[256];
	bool ok = exec_sud_probe(why, sizeof(why));
	label("syscall dispatch:");
	printf("%s: %s\n", ok ? "yes" : "no", why);
	if (ok)
		printf("  -> SYSCALL and INT 0x80 of enclave code raise #UD as on hardware (an entering thread's\n"
		       "     system calls take the kernel's slow path)\n");
	else
		printf("  -> SYSCALL and INT 0x80 of enclave code execute natively (hardware: #UD)\n");
}

static void print_map_count(void)
{
	long max = exec_host_max_map_count(), used = exec_host_maps_in_use();
	label("vm.max_map_count:");
	if (max < 0) {
		printf("unknown (/proc/sys/vm/max_map_count: %s)\n", strerror((int)-max));
		return;
	}
	if (used < 0)
		used = 0;
	uint64_t pages = exec_host_worst_enclave_pages(max, used);
	printf("%ld (this process has %ld mappings)\n", max, used);
	printf("  -> largest enclave: worst case %llu pages (%.1f MiB), best case not limited by it (EPC size is)\n",
	       (unsigned long long)pages, (double)pages / 256.0);
	printf("     (a run of adjacent pages of equal protection is one mapping: worst = protections alternating\n"
	       "     page by page, best = one protection throughout)\n");
}

int cmd_host(int argc, char **argv)
{
	const char *cmd = "host";
	if (argc > 1)
		return cli_usage(cmd, "%s '%s'", argv[1][0] == '-' ? "unknown option" : "unexpected argument", argv[1]);
	struct exec_host_cpu c;
	exec_host_cpu_probe(&c);
	printf("sgxemu host: what this machine offers sgxemu, probed now (host.md in " SGXEMU_DOCDIR ")\n");
	print_cpu(&c);
	print_kernel();
	fflush(stdout); /* the probes take signals: what is printed so far stays printed if one goes wrong */
	struct exec_trap_probe p[NLEAVES];
	size_t first[NLEAVES], group[NLEAVES];
	int ngroups = print_enclu(&c, p, first, group);
	if (ngroups > 0)
		print_costs(p, first, group, ngroups);
	print_pku(&c);
	print_cpuid_fault();
	print_fsgsbase(&c);
	print_sud();
	print_map_count();
	return 0;
}
