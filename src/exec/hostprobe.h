/* SPDX-License-Identifier: MIT */
/*
 * What this host offers exec, probed at run time (docs/host.md): how the
 * CPU refuses ENCLU outside enclave mode (#UD where SGX is absent or off in
 * firmware; #GP(0), or a #PF on the TCS operand, where firmware enabled it),
 * what a bare trap round trip costs, and the CPU and kernel features exec
 * uses or would use.  `sgxemu host` prints it; the benchmarks time their
 * floor with it.
 *
 * The trap probes execute the instruction in this thread under bare
 * SA_SIGINFO handlers for SIGILL, SIGSEGV, SIGBUS and SIGTRAP, which
 * replace the process's (exec's included) for the duration of the call and
 * are put back afterwards.  One probe at a time per process: the handlers
 * are process-wide.
 */
#ifndef SGXEMU_EXEC_HOSTPROBE_H
#define SGXEMU_EXEC_HOSTPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The instruction a trap probe executes. */
enum exec_trap_insn {
	EXEC_TRAP_ENCLU, /* 0F 01 D7: RAX = leaf, RBX = RCX = RDX = the operand page */
	EXEC_TRAP_UD2,	 /* 0F 0B: #UD on every x86-64 CPU */
	EXEC_TRAP_INT3,	 /* CC: #BP, a signal without #UD or #GP */
};

/* Where ENCLU's RBX, RCX and RDX point (the leaf's operands: TCS, SECINFO, page). */
enum exec_trap_page {
	EXEC_TRAP_PAGE_RW,   /* an ordinary read-write page, present (written once) */
	EXEC_TRAP_PAGE_NONE, /* a PROT_NONE page: what EENTER meets at a TCS the driver model maps */
};

struct exec_trap_spec {
	enum exec_trap_insn insn;
	uint32_t leaf;		  /* ENCLU only: RAX */
	enum exec_trap_page page; /* ENCLU only */
};

/* How the host refused the instruction, by the SDM's vectors. */
enum exec_trap_kind {
	EXEC_TRAP_NONE,	 /* no signal: the instruction completed */
	EXEC_TRAP_UD,	 /* #UD: SIGILL, trap 6 */
	EXEC_TRAP_GP,	 /* #GP: SIGSEGV, SI_KERNEL, trap 13 */
	EXEC_TRAP_PF,	 /* #PF: SIGSEGV or SIGBUS, trap 14 */
	EXEC_TRAP_BP,	 /* #BP: SIGTRAP, trap 3 */
	EXEC_TRAP_OTHER, /* anything else */
};

/* What one execution of the instruction raised. */
struct exec_trap_probe {
	struct exec_trap_spec spec;
	enum exec_trap_kind kind;
	int sig;	  /* 0 when the instruction completed */
	int si_code;	  /* SI_KERNEL, SEGV_MAPERR, SEGV_ACCERR, ILL_ILLOPN, ... */
	long trapno;	  /* REG_TRAPNO: the vector */
	uint64_t errcode; /* REG_ERR: #GP's and #PF's error code */
	uint64_t addr;	  /* si_addr */
	uint64_t operand; /* the RBX the instruction had (ENCLU), to tell addr relative to it */
	bool exec_takes;  /* exec's handler takes this signal at an ENCLU as the leaf */
};

/*
 * Execute the instruction of s once under the bare handlers and record what
 * it raised in *p (p->kind from exec_trap_classify).
 * Return: 0; -ENOMEM when the operand page cannot be mapped; -errno of a
 * failing sigaction.
 */
int exec_trap_probe(const struct exec_trap_spec *s, struct exec_trap_probe *p);

/* The vector behind a signal (sig 0: none), by REG_TRAPNO; the pure part of exec_trap_probe. */
enum exec_trap_kind exec_trap_classify(int sig, int si_code, long trapno);

/* "#UD", "#GP", "#PF", "#BP", "no trap", "other". */
const char *exec_trap_kind_name(enum exec_trap_kind k);

/* "SIGSEGV", "SI_KERNEL", "SEGV_ACCERR", ...; a number for codes without a name. */
const char *exec_trap_signal_name(int sig);
void exec_trap_code_name(int sig, int si_code, char *out, size_t len);

/*
 * One line for p, e.g. "#GP(0) (SIGSEGV, SI_KERNEL)" or "#PF (SIGSEGV,
 * SEGV_ACCERR) error 0x8007 (P W U SGX) at RBX+0xfff"; with_fault: add the
 * error code and address of a #PF.
 */
void exec_trap_describe(const struct exec_trap_probe *p, bool with_fault, char *out, size_t len);

/* The names of the #PF error code bits set in e, e.g. "P W U SGX" ("-" for none). */
void exec_trap_pf_bits(uint64_t e, char *out, size_t len);

/* What the ENCLU probes of a host say about it. */
enum exec_host_enclu {
	EXEC_HOST_ENCLU_UD,	/* every leaf #UD: the CPU has no SGX or its firmware left it off */
	EXEC_HOST_ENCLU_SGX,	/* every leaf #GP or #PF: the firmware enabled SGX */
	EXEC_HOST_ENCLU_NOTRAP, /* some leaf completed: ENCLU is not refused at all */
	EXEC_HOST_ENCLU_MIXED,	/* any other combination, or a trap exec does not take */
};

/* The host's kind from n ENCLU probes (n > 0; MIXED for n == 0). */
enum exec_host_enclu exec_host_enclu_kind(const struct exec_trap_probe *p, size_t n);

/* Wall-clock and process CPU time of a run of round trips, in nanoseconds. */
struct exec_trap_cost {
	double wall_ns, cpu_ns;
};

/*
 * Execute the instruction of s n times in a row under the bare handlers,
 * whose only work is to move RIP past it (ud2, ENCLU) or nothing (int3).
 * Only the loop is timed, not the handler installation.
 * Return: 0; -EPROTO if the n executions did not raise exactly n signals
 * (an instruction that does not trap here); as exec_trap_probe otherwise.
 */
int exec_trap_time(const struct exec_trap_spec *s, uint64_t n, struct exec_trap_cost *c);

/*
 * The median over reps runs of n round trips (reps <= 101), per round
 * trip: *wall_ns and *cpu_ns (either may be NULL).  Return: as exec_trap_time.
 */
int exec_trap_median(const struct exec_trap_spec *s, unsigned reps, uint64_t n, double *wall_ns, double *cpu_ns);

/* ---- CPU and kernel ---------------------------------------------------- */

struct exec_host_cpu {
	char vendor[13];     /* CPUID.0 */
	char brand[49];	     /* CPUID.0x80000002-4, leading blanks dropped; "" if absent */
	bool hypervisor;     /* CPUID.1:ECX[31]: running in a virtual machine */
	char hv_vendor[13];  /* CPUID.0x40000000, when hypervisor */
	bool sgx;	     /* CPUID.(7,0).EBX[2]: the CPU reports SGX */
	bool sgx_lc;	     /* CPUID.(7,0).ECX[30]: flexible launch control */
	bool sgx1, sgx2;     /* CPUID.(0x12,0).EAX[0], [1], when sgx */
	bool pku, ospke;     /* CPUID.(7,0).ECX[3], [4] */
	bool fsgsbase_cpuid; /* CPUID.(7,0).EBX[0]: the instructions exist */
	bool fsgsbase;	     /* AT_HWCAP2 HWCAP2_FSGSBASE: the kernel lets user code use them */
};

void exec_host_cpu_probe(struct exec_host_cpu *c);

/*
 * Does this CPU and kernel offer CPUID faulting (arch_prctl ARCH_SET_CPUID)?
 * Turns it on and off again (or finds it on already).  Return: true, or
 * false with the reason in why.
 */
bool exec_host_cpuid_fault(char *why, size_t len);

/*
 * Does pkey_alloc give a protection key (freed again at once)?  The system
 * call alone, without the CPUID checks of exec_pkey_probe.  Return: true,
 * or false with the error in why.
 */
bool exec_host_pkey_alloc(char *why, size_t len);

/* vm.max_map_count, or -errno when /proc/sys/vm/max_map_count cannot be read. */
long exec_host_max_map_count(void);
/* The calling process's mappings now (lines of /proc/self/maps), or -errno. */
long exec_host_maps_in_use(void);

/*
 * The largest enclave, in pages, that max_map_count allows when every page
 * needs a mapping of its own (protections alternating page by page) and the
 * process has in_use other mappings: max_map_count - in_use, 0 if none left.
 * When runs of pages share a protection they share one mapping, so an
 * enclave of uniform protection needs one, whatever its size.
 */
uint64_t exec_host_worst_enclave_pages(long max_map_count, long in_use);

#endif /* SGXEMU_EXEC_HOSTPROBE_H */
