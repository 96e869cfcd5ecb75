/* SPDX-License-Identifier: MIT */
/*
 * The sgxemu command line: `sgxemu COMMAND [ARGS]`.  Commands are a table
 * (name, one-line summary, usage, function); each answers --help.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "script.h"

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

static const struct command commands[] = {
    {"script", "run a scenario: ENCLS/ENCLU leaves and state queries, one per line",
     "sgxemu script FILE|-\n"
     "\n"
     "Run the scenario in FILE (or standard input for '-') against a fresh SGX2\n"
     "machine and print every statement with its outcome, e.g.\n"
     "  eadd E+0x1000 secinfo=REG|R|W -> OK\n"
     "  T: eaccept E+0x3000 secinfo=REG|PENDING|R|W -> SGX_PAGE_ATTRIBUTES_MISMATCH (19) ZF\n"
     "and the state asked for with `show`. The language is described in\n"
     "docs/script.md.\n"
     "\n"
     "Exit status: 0 when the script ran to the end, 1 when an `expect` was not\n"
     "met, 2 on a syntax or usage error (reported as FILE:LINE: message).\n",
     cmd_script},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: sgxemu COMMAND [ARGS]\n\nAn Intel SGX2 machine in user space.\n\nCommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'sgxemu COMMAND --help' for the command's usage.\n");
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
