/* SPDX-License-Identifier: MIT */
/*
 * The sgxemu command line: `sgxemu COMMAND [ARGS]`.  Commands are a table
 * (name, one-line summary, usage, function); each answers --help.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "script.h"
#include "sgxemu/version.h"

/* Where the documentation is installed (tools/meson.build); the help texts name its files. */

struct command {
	const char *name;
	const char *summary;
	const char *usage; /* full --help text after the "usage:" line */
	int (*run)(int argc, char **argv);
};

static int cmd_script(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sgxemu script FILE|-\n");
		return 2;
	}
	const char *name = argv[1];
	if (strcmp(name, "-") == 0)
		return script_run(stdin, "-", stdout, stderr);
	FILE *f = fopen(name, "r");
	if (!f) {
		perror(name);
		return 2;
	}
	int rc = script_run(f, name, stdout, stderr);
	fclose(f);
	return rc;
}

int cmd_run(int argc, char **argv);	  /* tools/cmd_run.c */
int cmd_host(int argc, char **argv);	  /* tools/cmd_host.c */
int cmd_symbolize(int argc, char **argv); /* tools/cmd_symbolize.c */

static const struct command commands[] = {
    {"script", "run a scenario: ENCLS/ENCLU leaves and state queries, one per line",
     "sgxemu script FILE|-\n"
     "\n"
     "Run the scenario in FILE (or standard input for '-') against a fresh SGX2\n"
     "machine and print every statement with its outcome, e.g.\n"
     "  eadd E+0x1000 secinfo=REG|R|W -> OK\n"
     "  T: eaccept E+0x3000 secinfo=REG|PENDING|R|W -> SGX_PAGE_ATTRIBUTES_MISMATCH (19) ZF\n"
     "and the state asked for with `show`. The language is described in\n"
     "script.md of the documentation (" SGXEMU_DOCDIR ").\n"
     "\n"
     "Exit status: 0 when the script ran to the end, 1 when an `expect` was not\n"
     "met, 2 on a syntax or usage error (reported as FILE:LINE: message).\n",
     cmd_script},
    {"keygen", "make an RSA-3072 signing key with public exponent 3 (PEM)",
     "sgxemu keygen [--force] OUT.pem\n"
     "\n"
     "Generate a fresh RSA-3072 private key with public exponent 3, the only\n"
     "kind EINIT accepts, and write it to OUT.pem (PKCS#8 PEM, mode 0600).\n"
     "Prints the MRSIGNER enclaves signed with it will have.\n"
     "\n"
     "  -f, --force   replace OUT.pem if it exists (refused otherwise)\n"
     "\n"
     "The file appears complete or not at all. Exit status: 0 on success, 1 on\n"
     "failure, 2 on a usage error.\n",
     cmd_keygen},
    {"sign", "measure an enclave ELF and write its signed SIGSTRUCT",
     "sgxemu sign --key KEY.pem [--config FILE] [LAYOUT OPTIONS] [-o OUT] ENCLAVE.elf\n"
     "\n"
     "Build the page list of ENCLAVE.elf (a static PIE) under the layout, compute\n"
     "MRENCLAVE as the hardware will, and write a SIGSTRUCT signed with KEY.pem\n"
     "(RSA-3072, e=3) to OUT (default: ENCLAVE.sigstruct, the .elf suffix\n"
     "replaced). OUT is replaced atomically: a failure leaves it as it was.\n"
     "Prints mrenclave, mrsigner and the output path. sign.md of the\n"
     "documentation (" SGXEMU_DOCDIR ") has the details,\n"
     "layout.md the layout.\n"
     "\n"
     "  --key KEY.pem         the signing key\n"
     "  -o, --output OUT      where the 1808-byte SIGSTRUCT goes\n"
     "\n" CLI_LAYOUT_HELP "\n"
     "Exit status: 0 on success, 1 on a bad file (key, config, ELF), 2 on a\n"
     "usage error.\n",
     cmd_sign},
    {"measure", "print an enclave's MRENCLAVE, or the fields of a SIGSTRUCT",
     "sgxemu measure [--config FILE] [LAYOUT OPTIONS] [-v] ENCLAVE.elf\n"
     "       sgxemu measure --sigstruct FILE\n"
     "\n"
     "The first form prints `mrenclave HEX`: the MRENCLAVE ENCLAVE.elf gets under\n"
     "the layout (the same options as `sgxemu sign`); -v also prints the SECS\n"
     "fields and the layout. The second prints every field of a SIGSTRUCT,\n"
     "its `mrsigner HEX` and `enclavehash HEX`, and whether its signature\n"
     "verifies.\n"
     "\n"
     "  -v, --verbose         print the layout too\n"
     "  --sigstruct FILE      show a SIGSTRUCT instead\n"
     "\n" CLI_LAYOUT_HELP "\n"
     "Exit status: 0 on success, 1 on a bad file or a signature that does not\n"
     "verify, 2 on a usage error.\n",
     cmd_measure},
    {"cpuid", "print CPUID leaf 0x12 of the emulated machine, decoded",
     "sgxemu cpuid [--epc-size=SIZE] [--epc-sections=N] [--sgx1]\n"
     "\n"
     "Print what CPUID.(EAX=0x12, ECX=0, 1, 2...) reports on a machine with the\n"
     "default configuration (hw.md of the documentation), raw and decoded:\n"
     "SGX1/SGX2, the MISCSELECT bits, the largest enclaves, the ATTRIBUTES and\n"
     "XFRM bits enclaves may use, and the EPC sections.\n"
     "\n"
     "  --epc-size=SIZE       EPC capacity (128M; K, M, G suffixes)\n"
     "  --epc-sections=N      sections the EPC is split into (1..8, default 1)\n"
     "  --sgx1                a machine without SGX2\n"
     "\n"
     "Exit status: 0 on success, 2 on a usage error.\n",
     cmd_cpuid},
    {"run", "run an unmodified SGX program on sgxemu (LD_PRELOAD)",
     "sgxemu run [OPTIONS] [--] PROG [ARGS...]\n"
     "\n"
     "Run PROG with libsgxemu-preload.so, so that its /dev/sgx_enclave, ioctls,\n"
     "mmaps, vDSO entry and CPUID leaf 0x12 are the emulator's (preload.md of\n"
     "the documentation).\n"
     "The settings reach the program's children too.\n"
     "\n"
     "  --epc-size=SIZE       EPC capacity (128M; K, M, G suffixes)\n"
     "  --policy=POLICY       dynamic page policy: rw, wx-exclusive, rwx (rwx)\n"
     "  --trace               one line per ioctl, mmap and fault on stderr, with its\n"
     "                        time and thread\n"
     "  --trace=FILE          a trace of every process of the program in FILE, in the\n"
     "                        Trace Event Format (open it in ui.perfetto.dev or\n"
     "                        chrome://tracing): ECALLs, AEXs, ioctls, faults, every\n"
     "                        ENCLS and ENCLU leaf, EPC pages in use\n"
     "  --summary             a summary on stderr when the program ended, per process\n"
     "                        and in all: enclaves, pages, faults, AEXs, ioctls, the\n"
     "                        count and time of each leaf\n"
     "  --epc-map             a picture of each enclave's pages (present, pending,\n"
     "                        modified, trimmed, evicted) as each process ended\n"
     "  --cpuid=MODE          auto: CPUID faulting where the CPU has it; header: only\n"
     "                        programs built with -include sgxemu/cpuid.h (auto)\n"
     "  --chaos=SEED[:KINDS]  chaos mode: at ENCLUs of enclave code, reproducible\n"
     "                        interrupts (interrupt[=N]: one in N) and evictions of\n"
     "                        the pages they need (evict[=N]), range ioctls stopped\n"
     "                        early as Linux may (ioctl[=N]), timer interrupts\n"
     "                        anywhere (timer[=USEC], not reproducible), interrupts\n"
     "                        after any instruction, single-stepped (step[=N]),\n"
     "                        EDMM ioctls answered EBUSY (busy[=N]), EAUG on a fault\n"
     "                        answered SIGBUS (sigbus[=N]), a stale-TLB window\n"
     "                        after EMODPR/EMODT (tlb[=USEC]); quiet: no line per\n"
     "                        injection (a seed alone: interrupt and evict, N = 4;\n"
     "                        chaos.md)\n"
     "  --check               report EDMM protocol mistakes hardware does not reliably\n"
     "                        punish: accesses under a restriction or type change\n"
     "                        never EACCEPTed, to trimmed pages, or extended by\n"
     "                        EMODPE without the mprotect; EACCEPT of a change the\n"
     "                        thread did not ask for; leaving the enclave with its\n"
     "                        own change not EACCEPTed; SSA frames exhausted\n"
     "                        (chaos.md)\n"
     "\n"
     "With --trace=FILE, --summary or --epc-map PROG runs as a child of sgxemu run,\n"
     "which passes on the signals sent to it and reports when PROG ended; otherwise\n"
     "PROG replaces it. The library is looked for in SGXEMU_PRELOAD, then next to\n"
     "this program (build tree: ../src/preload; install: ../lib). Exit status:\n"
     "PROG's (killed by a signal: the same signal); 2 on a usage error, 1 when the\n"
     "library is missing, 126/127 when PROG cannot be run.\n",
     cmd_run},
    {"host", "what this machine offers sgxemu: how ENCLU traps and its cost, PKU, CPUID faulting",
     "sgxemu host\n"
     "\n"
     "Probe this machine and print one screen: how the CPU refuses ENCLU outside\n"
     "enclave mode (each leaf executed once under a bare handler: signal, si_code,\n"
     "vector, error code) and what that says about SGX in its firmware; the cost\n"
     "of a bare ENCLU, ud2 and int3 trap round trip (medians); protection keys\n"
     "(isolation of enclave pages from host code); CPUID faulting (whether\n"
     "unmodified programs see the emulated CPUID leaf 0x12); FSGSBASE; Syscall\n"
     "User Dispatch; the kernel; vm.max_map_count and the largest enclave it\n"
     "allows. Each fact is followed by what it means for sgxemu (host.md of the\n"
     "documentation).\n"
     "Nothing is assumed: the same binary answers on any x86-64 host.\n"
     "\n"
     "Exit status: 0, or 2 on a usage error.\n",
     cmd_host},
    {"symbolize", "name the enclave code in chaos mode's and the checker's lines (function, file:line)",
     "sgxemu symbolize ENCLAVE.elf [LOG]\n"
     "\n"
     "Copy LOG (or standard input) to standard output with each enclave offset the\n"
     "emulator prints (\"enclave+0x6a\", in the lines of --chaos and --check)\n"
     "followed by <FUNCTION+OFFSET at FILE:LINE>: the function from the ELF's\n"
     "symbol table, the file and line from addr2line where the ELF has line\n"
     "information (-g). An enclave image sits at enclave offset 0 with its\n"
     "segments at their addresses, so the offsets are the ELF's (chaos.md).\n"
     "\n"
     "  sgxemu run --check PROG 2>&1 | sgxemu symbolize enclave.elf\n"
     "\n"
     "Exit status: 0, 1 when the ELF or LOG cannot be read or has no symbol\n"
     "table, 2 on a usage error.\n",
     cmd_symbolize},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: sgxemu COMMAND [ARGS]\n"
		   "       sgxemu --help | --version\n"
		   "\n"
		   "An Intel SGX2 machine in user space.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\n"
		"Options:\n"
		"  -h, --help     print this text (and 'sgxemu COMMAND --help' the command's)\n"
		"  -V, --version  print the version\n"
		"\n"
		"The manual is sgxemu(1); the documentation is in %s.\n",
		SGXEMU_DOCDIR);
}

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("sgxemu %s\n", SGXEMU_VERSION);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct command *c = &commands[i];
		if (strcmp(c->name, argv[1]) != 0)
			continue;
		for (int j = 2; j < argc; j++) {
			if (strcmp(argv[j], "--") == 0)
				break;
			if (is_help(argv[j])) {
				printf("usage: %s", c->usage);
				return 0;
			}
		}
		return c->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "sgxemu: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
