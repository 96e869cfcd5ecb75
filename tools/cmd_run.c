/* SPDX-License-Identifier: MIT */
/*
 * `sgxemu run [OPTIONS] [--] PROG [ARGS...]`: run an unmodified SGX program
 * on sgxemu.  The program is executed with libsgxemu-preload.so in
 * LD_PRELOAD and the settings in SGXEMU_* environment variables, which the
 * library reads and keeps for the program's own children (docs/preload.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIB_NAME "libsgxemu-preload.so"

int cmd_run(int argc, char **argv);

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "sgxemu run: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see 'sgxemu run --help')\n");
	return 2;
}

/* "128M", "1g", "65536": the grammar the library accepts for SGXEMU_EPC_SIZE. */
static bool valid_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-' || v == 0)
		return false;
	if (*end && strchr("kKmMgG", *end))
		end++;
	return *end == 0;
}

static bool valid_policy(const char *s)
{
	return !strcmp(s, "rw") || !strcmp(s, "wx-exclusive") || !strcmp(s, "rwx");
}

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/*
 * The library: $SGXEMU_PRELOAD, else next to this executable in the build
 * tree (tools/ and src/preload/ are siblings), in the same directory, or in
 * the lib directories of an install prefix.
 */
static bool find_library(char *out, size_t len)
{
	const char *env = getenv("SGXEMU_PRELOAD");
	if (env && *env) {
		if (!realpath(env, out) || !readable(out)) {
			fprintf(stderr, "sgxemu run: SGXEMU_PRELOAD=%s: %s\n", env, strerror(errno ? errno : ENOENT));
			return false;
		}
		return true;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "sgxemu run: /proc/self/exe: %s\n", strerror(errno));
		return false;
	}
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	static const char *const rel[] = {
	    "../src/preload/" LIB_NAME,		 LIB_NAME, "../lib/" LIB_NAME, "../lib64/" LIB_NAME,
	    "../lib/x86_64-linux-gnu/" LIB_NAME,
	};
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char cand[PATH_MAX];
		if ((size_t)snprintf(cand, sizeof(cand), "%s/%s", exe, rel[i]) >= sizeof(cand))
			continue;
		if (readable(cand) && realpath(cand, out))
			return true;
	}
	(void)len;
	fprintf(stderr,
		"sgxemu run: cannot find %s next to %s (build tree: ../src/preload; install: ../lib); set "
		"SGXEMU_PRELOAD to its path\n",
		LIB_NAME, exe);
	return false;
}

static int set(const char *name, const char *value)
{
	if (setenv(name, value, 1) != 0) {
		fprintf(stderr, "sgxemu run: setting %s: %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Option NAME with its value either after '=' or as the next argument. */
static const char *opt_value(const char *name, int argc, char **argv, int *i)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (!strncmp(a, name, n) && a[n] == '=')
		return a + n + 1;
	if (!strcmp(a, name) && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int cmd_run(int argc, char **argv)
{
	const char *epc = NULL, *policy = NULL, *cpuid = NULL;
	bool trace = false, summary = false;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i], *v;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if ((v = opt_value("--epc-size", argc, argv, &i))) {
			if (!valid_size(v))
				return usage_error("--epc-size=%s: expected a size in bytes (suffix K, M or G)", v);
			epc = v;
		} else if ((v = opt_value("--policy", argc, argv, &i))) {
			if (!valid_policy(v))
				return usage_error("--policy=%s: expected rw, wx-exclusive or rwx", v);
			policy = v;
		} else if ((v = opt_value("--cpuid", argc, argv, &i))) {
			if (strcmp(v, "auto") != 0 && strcmp(v, "header") != 0)
				return usage_error("--cpuid=%s: expected auto or header", v);
			cpuid = v;
		} else if (!strcmp(a, "--trace")) {
			trace = true;
		} else if (!strcmp(a, "--summary")) {
			summary = true;
		} else {
			return usage_error("unknown option %s", a);
		}
	}
	if (i >= argc)
		return usage_error("%s", "no program to run");

	char lib[PATH_MAX];
	if (!find_library(lib, sizeof(lib)))
		return 1;
	const char *old = getenv("LD_PRELOAD");
	size_t len = strlen(lib) + (old ? strlen(old) : 0) + 2;
	char *ld = malloc(len);
	if (!ld) {
		fprintf(stderr, "sgxemu run: out of memory\n");
		return 1;
	}
	snprintf(ld, len, "%s%s%s", old && *old ? old : "", old && *old ? ":" : "", lib);
	if (set("LD_PRELOAD", ld) || set("SGXEMU_PRELOAD", lib) || (epc && set("SGXEMU_EPC_SIZE", epc)) ||
	    (policy && set("SGXEMU_DYN_POLICY", policy)) || (trace && set("SGXEMU_TRACE", "1")) ||
	    (summary && set("SGXEMU_SUMMARY", "1")) || (cpuid && set("SGXEMU_CPUID_MODE", cpuid))) {
		free(ld);
		return 1;
	}
	free(ld);
	execvp(argv[i], argv + i);
	int e = errno;
	fprintf(stderr, "sgxemu run: %s: %s\n", argv[i], strerror(e));
	return e == ENOENT ? 127 : 126;
}
