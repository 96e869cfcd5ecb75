/* SPDX-License-Identifier: MIT */
/*
 * The scenario runner: a line-oriented language that drives the hw model as
 * the OS (ENCLS) and as enclave threads (ENCLU) and prints every outcome and
 * the state asked for.  The language is described in docs/script.md.
 */
#ifndef SGXEMU_SCRIPT_H
#define SGXEMU_SCRIPT_H

#include <stdio.h>

/*
 * Run the script read from `in`; `name` is its file name for messages and
 * for resolving relative file operands ("-" or NULL: relative to the
 * current directory).  Outcomes and queries go to `out`; errors and failed
 * expectations go to `err` as "NAME:LINE: message".
 * Return: 0 when the script ran to the end with every `expect` met,
 * 1 when it ran to the end but an `expect` failed,
 * 2 on a syntax or usage error (the script stops at that line).
 */
int script_run(FILE *in, const char *name, FILE *out, FILE *err);

#endif /* SGXEMU_SCRIPT_H */
