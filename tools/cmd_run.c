/* SPDX-License-Identifier: MIT */
/*
 * `sgxemu run [OPTIONS] [--] PROG [ARGS...]`: run an unmodified SGX program
 * on sgxemu.  The program is executed with libsgxemu-preload.so in
 * LD_PRELOAD and the settings in SGXEMU_* environment variables, which the
 * library reads and keeps for the program's own children (docs/preload.md).
 *
 * Without --summary, --epc-map and --trace=FILE the program replaces this
 * process (execvp).  With them, this process stays: it makes a directory
 * for the reports of every process of the program's tree (SGXEMU_REPORT_DIR,
 * SGXEMU_TRACE_FILE; src/emu/obs.c writes them), runs the program as its
 * child, forwards the signals sent to it (and takes it down when killed
 * itself), and when the program ended prints
 * the EPC maps and summaries, merges the traces into FILE, and exits as the
 * program did (the same status, or the same signal).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu_int.h"
#include "exec.h"
#include "sgxemu/ext.h"
#include "obs_record.h"
#include "sgxemu/version.h"

#define LIB_NAME "libsgxemu-preload.so"
/* A file of the reports directory. */
#define PATH_LEN (PATH_MAX + NAME_MAX + 16)

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

/* ---- running the program as a child ---- */

/* Signals a user sends to sgxemu run that the program gets too (docs/preload.md). */
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM};
static volatile pid_t child;

static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* The terminal's SIGINT, SIGQUIT, SIGHUP reach the program's process group itself. */
	if (si->si_code == SI_KERNEL)
		return;
	if (child > 0)
		kill(child, sig);
}

static void forwarded_set(sigset_t *s)
{
	sigemptyset(s);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(s, forwarded[i]);
}

/* Run argv as a child (*pidp) and wait for it. Return: its wait status, or -1 (fork failed, message given). */
static int run_child(char **argv, pid_t *pidp)
{
	sigset_t fw, old;
	forwarded_set(&fw);
	sigprocmask(SIG_BLOCK, &fw, &old);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "sgxemu run: fork: %s\n", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (pid == 0) {
		/*
		 * Should this process be killed (a test runner's timeout sends
		 * SIGKILL, which cannot be forwarded), the program goes with it
		 * rather than run on unseen; it may have gone already.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(126);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[0], argv);
		int e = errno;
		fprintf(stderr, "sgxemu run: %s: %s\n", argv[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	child = pid;
	*pidp = pid;
	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "sgxemu run: waiting for %s: %s\n", argv[0], strerror(errno));
			return -1;
		}
	}
	child = 0;
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		signal(forwarded[i], SIG_DFL);
	return status;
}

/* Leave as the program left: its exit status, or its signal (without a core of our own). */
static int exit_like(int status)
{
	if (status < 0)
		return 1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	int sig = WTERMSIG(status);
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	signal(sig, SIG_DFL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
	return 128 + sig;
}

/* ---- the reports of the process tree ---- */

struct proc {
	char base[NAME_MAX + 1]; /* "PID" or "PID.N" (an image after an exec kept the pid) */
	struct obs_record rec;
};

static int by_start(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;
	return x->rec.start_ns < y->rec.start_ns ? -1 : x->rec.start_ns > y->rec.start_ns;
}

/* The records of dir (NAME.stats), sorted by start. Return: how many; *out malloc'd. */
static size_t read_records(const char *dir, struct proc **out)
{
	*out = NULL;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0, cap = 0;
	struct proc *v = NULL;
	for (struct dirent *de; (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len < 7 || strcmp(de->d_name + len - 6, ".stats") != 0)
			continue;
		char path[PATH_LEN];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct obs_record r;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t got = read(fd, &r, sizeof(r));
		close(fd);
		if (got != (ssize_t)sizeof(r) || r.magic != OBS_RECORD_MAGIC || r.size != sizeof(r))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct proc *t = realloc(v, cap * sizeof(*v));
			if (!t)
				break;
			v = t;
		}
		snprintf(v[n].base, sizeof(v[n].base), "%.*s", (int)(len - 6), de->d_name);
		v[n].rec = r;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), by_start);
	*out = v;
	return n;
}

static void copy_file(const char *path, FILE *to)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char buf[65536];
	size_t k;
	while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, k, to);
	fclose(f);
}

/* What the parent saw of the program itself (the records tell only what a process saw of itself). */
static void ended_by(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by SIG%s",
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(buf, len, "exit(%d)", WEXITSTATUS(status));
}

static void report(const char *dir, pid_t pid, int status, bool summary, bool map)
{
	struct proc *p;
	size_t n = read_records(dir, &p);
	if (map) {
		for (size_t i = 0; i < n; i++) {
			char path[PATH_LEN];
			snprintf(path, sizeof(path), "%s/%s.epcmap", dir, p[i].base);
			if (access(path, R_OK) == 0)
				copy_file(path, stderr);
			else
				fprintf(stderr,
					"sgxemu: EPC map of process %d (%s): not drawn (it ended without exit)\n",
					p[i].rec.pid, p[i].rec.comm);
		}
	}
	if (summary) {
		struct obs_record total;
		memset(&total, 0, sizeof(total));
		for (size_t i = 0; i < n; i++) {
			char how[64];
			const char *ended = NULL;
			/* The program itself: how it ended is known here even when it could not say. */
			if (p[i].rec.pid == pid && p[i].rec.end == OBS_RUNNING && status >= 0) {
				ended_by(status, how, sizeof(how));
				ended = how;
			}
			obs_report(stderr, &p[i].rec, 1, ended);
			obs_record_add(&total, &p[i].rec);
			total.epc_size = p[i].rec.epc_size;
			memcpy(total.policy, p[i].rec.policy, sizeof(total.policy));
		}
		if (n > 1)
			obs_report(stderr, &total, (unsigned)n, NULL);
		if (!n)
			fprintf(stderr, "sgxemu: summary: no process of the program used SGX\n");
	}
	free(p);
}

/* ---- merging the traces ---- */

static bool is_space(int c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/*
 * The events of one process's trace (a JSON array, src/emu/trace.h) to
 * out, after a ",\n" unless first.  The "]" may be missing (a process
 * killed while it moved): the format allows that, and so does this.
 * Return: whether it had events.
 */
static bool merge_one(const char *path, FILE *out, bool first)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size < 2) {
		close(fd);
		return false;
	}
	size_t size = (size_t)st.st_size;
	const char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return false;
	size_t a = 0, b = size;
	while (a < b && is_space(m[a]))
		a++;
	if (a < b && m[a] == '[')
		a++;
	while (b > a && is_space(m[b - 1]))
		b--;
	if (b > a && m[b - 1] == ']')
		b--;
	while (b > a && is_space(m[b - 1]))
		b--;
	while (a < b && is_space(m[a]))
		a++;
	bool any = a < b && m[a] == '{';
	if (any) {
		if (!first)
			fputs(",\n", out);
		fwrite(m + a, 1, b - a, out);
	}
	munmap((void *)m, size);
	return any;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* PID.json, and PID.json.N of an image after an execve (it kept the pid). */
static int trace_names(const struct dirent *de)
{
	const char *j = strstr(de->d_name, ".json");
	return j && j != de->d_name && (!j[5] || j[5] == '.');
}

/* The traces of dir into file, one JSON object ("traceEvents"). Return: 0, or -1 after a message. */
static int merge_traces(const char *dir, const char *file, char **argv)
{
	FILE *out = fopen(file, "w");
	if (!out) {
		fprintf(stderr, "sgxemu run: --trace=%s: %s\n", file, strerror(errno));
		return -1;
	}
	fprintf(out, "{\"otherData\":{\"producer\":\"sgxemu %s\",\"command\":", SGXEMU_VERSION);
	size_t len = 0;
	for (char **a = argv; *a; a++)
		len += strlen(*a) + 1;
	char *cmd = calloc(1, len + 1);
	if (cmd) {
		for (char **a = argv; *a; a++) {
			strcat(cmd, *a);
			if (a[1])
				strcat(cmd, " ");
		}
		json_string(out, cmd);
		free(cmd);
	} else {
		json_string(out, argv[0]);
	}
	fputs("},\n\"traceEvents\":[\n", out);
	struct dirent **names;
	int n = scandir(dir, &names, trace_names, versionsort);
	bool first = true;
	unsigned procs = 0;
	for (int i = 0; i < n; i++) {
		char path[PATH_LEN];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (merge_one(path, out, first)) {
			first = false;
			procs++;
		}
		free(names[i]);
	}
	if (n > 0)
		free(names);
	fputs("\n]}\n", out);
	if (fclose(out) != 0) {
		fprintf(stderr, "sgxemu run: --trace=%s: %s\n", file, strerror(errno));
		return -1;
	}
	if (!procs)
		fprintf(stderr, "sgxemu run: --trace=%s: no process of the program used SGX; the trace is empty\n",
			file);
	return 0;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		for (struct dirent *de; (de = readdir(d));) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char path[PATH_LEN];
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

int cmd_run(int argc, char **argv)
{
	const char *epc = NULL, *policy = NULL, *cpuid = NULL, *trace_file = NULL, *chaos = NULL;
	bool trace = false, summary = false, epc_map = false, check = false;
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
		} else if ((v = opt_value("--chaos", argc, argv, &i))) {
			struct exec_chaos c;
			struct emu_chaos_kernel kc;
			char why[256], msg[600];
			if (emu_parse_chaos(v, &c, &kc, why, sizeof(why)) != 0) {
				/* The reason without the "SGXEMU_CHAOS=VALUE: " it starts with. */
				size_t skip = strlen(SGXEMU_ENV_CHAOS) + 1 + strlen(v) + 2;
				snprintf(msg, sizeof(msg), "--chaos=%s: %s", v, strlen(why) > skip ? why + skip : why);
				return usage_error("%s", msg);
			}
			chaos = v;
		} else if ((v = opt_value("--cpuid", argc, argv, &i))) {
			if (strcmp(v, "auto") != 0 && strcmp(v, "header") != 0)
				return usage_error("--cpuid=%s: expected auto or header", v);
			cpuid = v;
		} else if (!strncmp(a, "--trace=", 8)) {
			/* Only with '=': "--trace PROG" is the text trace of PROG. */
			if (!a[8])
				return usage_error("%s: expected a file name", a);
			trace_file = a + 8;
		} else if (!strcmp(a, "--trace")) {
			trace = true;
		} else if (!strcmp(a, "--summary")) {
			summary = true;
		} else if (!strcmp(a, "--epc-map")) {
			epc_map = true;
		} else if (!strcmp(a, "--check")) {
			check = true;
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
	    (cpuid && set("SGXEMU_CPUID_MODE", cpuid)) || (chaos && set("SGXEMU_CHAOS", chaos)) ||
	    (check && set("SGXEMU_CHECK", "1"))) {
		free(ld);
		return 1;
	}
	free(ld);
	if (!summary && !epc_map && !trace_file) {
		execvp(argv[i], argv + i);
		int e = errno;
		fprintf(stderr, "sgxemu run: %s: %s\n", argv[i], strerror(e));
		return e == ENOENT ? 127 : 126;
	}

	/* The reports of every process of the tree go to a directory of ours, read when the program ended. */
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/sgxemu-run.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "sgxemu run: a directory for the reports (%s): %s\n", dir, strerror(errno));
		return 1;
	}
	/* The program may change its working directory: the reports' directory by its absolute name. */
	char abs[PATH_MAX];
	if (dir[0] != '/' && realpath(dir, abs))
		snprintf(dir, sizeof(dir), "%s", abs);
	char pattern[PATH_MAX + 16];
	snprintf(pattern, sizeof(pattern), "%s/%%p.json", dir);
	if ((summary && set("SGXEMU_SUMMARY", "1")) || (epc_map && set("SGXEMU_EPC_MAP", "1")) ||
	    ((summary || epc_map) && set("SGXEMU_REPORT_DIR", dir)) ||
	    (trace_file && set("SGXEMU_TRACE_FILE", pattern))) {
		remove_dir(dir);
		return 1;
	}
	pid_t pid = 0;
	int status = run_child(argv + i, &pid);
	report(dir, pid, status, summary, epc_map);
	if (trace_file)
		merge_traces(dir, trace_file, argv + i);
	remove_dir(dir);
	fflush(stderr);
	return exit_like(status);
}
