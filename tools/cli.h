/* SPDX-License-Identifier: MIT */
/*
 * What the sgxemu subcommands share: their entry points, one-line errors
 * ("sgxemu CMD: FILE: problem", exit 1; usage errors exit 2), atomic file
 * output (input goes through the sdk's sdk_read_file), option parsing and
 * the names of SGX bits.
 */
#ifndef SGXEMU_TOOLS_CLI_H
#define SGXEMU_TOOLS_CLI_H

/* Where the documentation is installed (meson passes it; the default prefix otherwise). */
#ifndef SGXEMU_DOCDIR
#define SGXEMU_DOCDIR "/usr/local/share/doc/sgxemu"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Subcommands: argv[0] is the command's name. Return: the exit status. */
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_cpuid(int argc, char **argv);

/* The layout options sign and measure share (the keys of docs/sign.md), for --help texts. */
#define CLI_LAYOUT_HELP                                                                                                \
	"Layout options (as config keys; '-' and '_' are the same; sizes take K, M, G):\n"                             \
	"  --config FILE         read key = value lines first (options override them)\n"                               \
	"  --n-tcs=N             static threads (1)\n"                                                                 \
	"  --nssa=N              SSA frames per thread (2)\n"                                                          \
	"  --ssa-frame-pages=N   pages per SSA frame (0: fit XFRM and MISCSELECT)\n"                                   \
	"  --stack-size=SIZE     stack per thread (64K)\n"                                                             \
	"  --heap-size=SIZE      static heap (256K)\n"                                                                 \
	"  --dyn-size=SIZE       dynamic EDMM area, needs --edmm (0)\n"                                                \
	"  --n-dyn-threads=N     room for threads added at run time, needs --edmm (0)\n"                               \
	"  --enclave-size=SIZE   SECS.SIZE, a power of two (0: the smallest that fits)\n"                              \
	"  --edmm[=BOOL]         an SGX2 enclave (false)\n"                                                            \
	"  --debug[=BOOL]        ATTRIBUTES.DEBUG (false)\n"                                                           \
	"  --attributes=LIST     provisionkey|kss|aexnotify, or a number (0)\n"                                        \
	"  --xfrm=N              ATTRIBUTES.XFRM (3: x87, SSE)\n"                                                      \
	"  --attributes-mask=N   SIGSTRUCT ATTRIBUTEMASK flags (0xffffffffffffffff)\n"                                 \
	"  --xfrm-mask=N         SIGSTRUCT ATTRIBUTEMASK XFRM (the signed XFRM)\n"                                     \
	"  --misc-select=N       MISCSELECT, 0 or 1 = EXINFO (1)\n"                                                    \
	"  --misc-mask=N         SIGSTRUCT MISCMASK (0xffffffff)\n"                                                    \
	"  --isv-prod-id=N       ISVPRODID (0)\n"                                                                      \
	"  --isv-svn=N           ISVSVN (0)\n"                                                                         \
	"  --date=YYYY-MM-DD     SIGSTRUCT DATE (today, UTC)\n"

/* Print "sgxemu CMD: message" to stderr. Return: 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "sgxemu CMD: message (see 'sgxemu CMD --help')" to stderr. Return: 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Write data to path through a temporary file in the same directory and a
 * rename, so path is either untouched or complete; mode is reduced by the
 * umask as open() would.  replace = false refuses
 * an existing path (the check and the rename are one step).
 * Return: 0, or -1 with "PATH: problem" in err.
 */
int cli_write_file(const char *path, const void *data, size_t len, mode_t mode, bool replace, char *err, size_t errlen);

/*
 * Option arguments: "--name=VALUE" or "--name VALUE" (argv[*i + 1], *i is
 * advanced).  Return: 1 when argv[*i] is the option (*value set, or NULL when
 * it lacks one), 0 when it is another argument.
 */
int cli_option(int argc, char **argv, int *i, const char *name, const char **value);

/* A layout option collected from the command line (applied after any --config). */
struct cli_setting {
	const char *key; /* as written, without "--" and "=VALUE" */
	size_t key_len;
	const char *value; /* "true" for a bare boolean option */
	const char *arg;   /* the whole argument, for messages */
};

/*
 * If argv[*i] is a layout option, append it to set[*n] and return 1; 0 when
 * it is not one; -1 after printing a usage error (missing value).
 */
int cli_layout_option(const char *cmd, int argc, char **argv, int *i, struct cli_setting *set, size_t *n);

/* What sign and measure read from their command lines besides their own options. */
struct cli_layout_args {
	const char *config;	 /* --config FILE, or NULL */
	const char *elf;	 /* the one argument that is not an option, or NULL */
	struct cli_setting *set; /* the layout options in command-line order (cli_layout_args_free) */
	size_t nset;
};

/*
 * One of the command's own options at argv[*i].  Return: 1 when it is one
 * (with *i past a value it took), 0 when it is not, -1 when it lacks its value.
 */
typedef int (*cli_own_option_fn)(int argc, char **argv, int *i, void *ctx);

/*
 * Parse argv[1..] as sign and measure do: "--" ends the options; an option
 * is the command's own (own), --config FILE or a layout option; one other
 * argument is the ELF.  Return: 0, or the exit status after printing the
 * error (1 out of memory, 2 usage); a is to be freed either way.
 */
int cli_parse_layout_args(const char *cmd, int argc, char **argv, cli_own_option_fn own, void *ctx,
			  struct cli_layout_args *a);
void cli_layout_args_free(struct cli_layout_args *a);

struct sdk_config;
/*
 * Defaults, then the config file (may be NULL), then the settings.
 * Return: 0, or the exit status after printing the error (1 for a bad file,
 * 2 for a bad option value).
 */
int cli_build_config(const char *cmd, struct sdk_config *c, const char *config, const struct cli_setting *set,
		     size_t n);

/* Names of the set bits, space-separated ("-" when none). */
void cli_attribute_names(uint64_t flags, char *out, size_t len);
void cli_xfrm_names(uint64_t xfrm, char *out, size_t len);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void cli_hex(const uint8_t *d, size_t n, char *out);

#endif /* SGXEMU_TOOLS_CLI_H */
