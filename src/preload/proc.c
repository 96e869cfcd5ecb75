/* SPDX-License-Identifier: MIT */
/*
 * Processes: fork and the exec family.
 *
 * fork: the child gets what Linux gives a child of an enclave process here
 * (DESIGN.md "fork"): the EPC and every enclave range are MADV_DONTFORK,
 * so the parent's enclaves are not mapped in the child (an access faults),
 * and device fds it inherited answer ENODEV with a message (init.c and
 * fd.c do the detaching, from a pthread_atfork handler).
 *
 * exec: the new image starts a fresh emulator with the same settings.  The
 * environment given to execve (even an empty one) gets back LD_PRELOAD with
 * this library and every SGXEMU_* setting the process started with, plus
 * SGXEMU_STALE_FDS naming device fds that survive the exec (their enclave
 * stays behind; the new image reports them as inherited).  Everything is
 * built on the stack: execve may run in a vfork child.  Before the exec,
 * the image's summary record and EPC map are finished (obs.h).
 *
 * _exit: the end of the summary record, the EPC map and the trace, which
 * exit handlers would have done.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "obs.h"
#include "preload.h"

#define MAX_SAVED 16
#define ENV_EXTRA (MAX_SAVED + 4)

extern char **environ;

static char *saved_env[MAX_SAVED]; /* "SGXEMU_...=value" at load */
static size_t n_saved;
static char self_path[PATH_MAX];

__attribute__((constructor)) static void proc_init(void)
{
	for (char **e = environ; e && *e && n_saved < MAX_SAVED; e++) {
		if (strncmp(*e, "SGXEMU_", 7) != 0 || !strncmp(*e, SGXEMU_ENV_STALE_FDS "=", 17))
			continue;
		char *c = strdup(*e);
		if (c)
			saved_env[n_saved++] = c;
	}
	Dl_info info;
	if (dladdr((void *)proc_init, &info) && info.dli_fname && !realpath(info.dli_fname, self_path))
		self_path[0] = 0;
}

static size_t env_count(char *const envp[])
{
	size_t n = 0;
	while (envp && envp[n])
		n++;
	return n;
}

static const char *env_find(char *const envp[], const char *name, size_t len)
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], name, len) && envp[i][len] == '=')
			return envp[i] + len + 1;
	return NULL;
}

/* Is our library one of the entries of an LD_PRELOAD value (separated by ':' or ' ')? */
static bool preload_has_self(const char *v)
{
	size_t n = strlen(self_path);
	for (const char *p = v; p && *p;) {
		size_t k = strcspn(p, ": ");
		if (k == n && !strncmp(p, self_path, n))
			return true;
		p += k;
		p += strspn(p, ": ");
	}
	return false;
}

static size_t ld_len(char *const envp[])
{
	const char *v = env_find(envp, "LD_PRELOAD", 10);
	return (v ? strlen(v) : 0) + strlen(self_path) + 16;
}

#define STALE_LEN 256

/* out: room for env_count(envp) + ENV_EXTRA pointers; ld: ld_len(envp) bytes; stale: STALE_LEN bytes. */
static void env_build(char *const envp[], char **out, char *ld, char *stale)
{
	size_t n = 0;
	for (size_t i = 0; envp && envp[i]; i++) {
		if (!strncmp(envp[i], "LD_PRELOAD=", 11) || !strncmp(envp[i], SGXEMU_ENV_STALE_FDS "=", 17))
			continue;
		out[n++] = envp[i];
	}
	const char *old = env_find(envp, "LD_PRELOAD", 10);
	if (self_path[0] && (!old || !preload_has_self(old))) {
		strcpy(ld, "LD_PRELOAD=");
		if (old && *old) {
			strcat(ld, old);
			strcat(ld, ":");
		}
		strcat(ld, self_path);
		out[n++] = ld;
	} else if (old) {
		out[n++] = (char *)old - 11;
	}
	for (size_t i = 0; i < n_saved; i++) {
		size_t k = strcspn(saved_env[i], "=");
		if (!env_find(envp, saved_env[i], k))
			out[n++] = saved_env[i];
	}
	memcpy(stale, SGXEMU_ENV_STALE_FDS "=", 17);
	preload_fd_inherited(stale + 17, STALE_LEN - 17);
	if (stale[17])
		out[n++] = stale;
	out[n] = NULL;
}

#define WITH_ENV(envp, env)                                                                                            \
	char *env[env_count(envp) + ENV_EXTRA];                                                                        \
	char env##_ld[ld_len(envp)];                                                                                   \
	char env##_stale[STALE_LEN];                                                                                   \
	env_build(envp, env, env##_ld, env##_stale)

/* The image ends here: its record and EPC map first (obs.h); if the exec fails, the process goes on. */
static int exec_with(int (*real)(const char *, char *const[], char *const[]), const char *file, char *const argv[],
		     char *const envp[])
{
	obs_finish(OBS_EXEC, 0);
	int r = real(file, argv, envp);
	obs_exec_failed();
	return r;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	if (SELF_CALL())
		return REAL(execve)(path, argv, envp);
	WITH_ENV(envp, env);
	preload_trace("execve(%s)", path);
	return exec_with(REAL(execve), path, argv, env);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	WITH_ENV(envp, env);
	preload_trace("execvpe(%s)", file);
	return exec_with(REAL(execvpe), file, argv, env);
}

int execv(const char *path, char *const argv[])
{
	WITH_ENV(environ, env);
	preload_trace("execv(%s)", path);
	return exec_with(REAL(execve), path, argv, env);
}

int execvp(const char *file, char *const argv[])
{
	WITH_ENV(environ, env);
	preload_trace("execvp(%s)", file);
	return exec_with(REAL(execvpe), file, argv, env);
}

/* execl, execlp, execle: their arguments as an array on the stack. */
#define ARGS_FROM_VA(arg0, ap, argv)                                                                                   \
	size_t argv##_n = 1;                                                                                           \
	va_start(ap, arg0);                                                                                            \
	while (va_arg(ap, char *))                                                                                     \
		argv##_n++;                                                                                            \
	va_end(ap);                                                                                                    \
	char *argv[argv##_n + 1];                                                                                      \
	argv[0] = (char *)arg0;                                                                                        \
	va_start(ap, arg0);                                                                                            \
	for (size_t i_ = 1; i_ <= argv##_n; i_++)                                                                      \
	argv[i_] = va_arg(ap, char *)

int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	ARGS_FROM_VA(arg, ap, argv);
	va_end(ap);
	return execv(path, argv);
}

int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	ARGS_FROM_VA(arg, ap, argv);
	va_end(ap);
	return execvp(file, argv);
}

int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	ARGS_FROM_VA(arg, ap, argv);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}

int posix_spawn(pid_t *restrict pid, const char *restrict path, const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *restrict attr, char *const argv[restrict], char *const envp[restrict])
{
	static int (*real)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
			   char *const[], char *const[]);
	if (!real)
		preload_resolve((void **)&real, "posix_spawn");
	WITH_ENV(envp, env);
	return real(pid, path, fa, attr, argv, env);
}

int posix_spawnp(pid_t *restrict pid, const char *restrict file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *restrict attr, char *const argv[restrict], char *const envp[restrict])
{
	static int (*real)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
			   char *const[], char *const[]);
	if (!real)
		preload_resolve((void **)&real, "posix_spawnp");
	WITH_ENV(envp, env);
	return real(pid, file, fa, attr, argv, env);
}

/* ---- fork ------------------------------------------------------------------------------- */

pid_t fork(void)
{
	pid_t p = REAL(fork)();
	if (p > 0) {
		preload_count_fork();
		preload_trace("fork() = %d", (int)p);
	}
	return p;
}

/* ---- _exit ------------------------------------------------------------------------------ */

/*
 * A process that leaves with _exit (as forked test children do) runs no
 * exit handlers: its record gets its end, the EPC map is drawn and the
 * trace closed here (obs.h), then the process exits as _exit would.
 */
static _Noreturn void exit_now(int status)
{
	obs_finish(OBS__EXIT, status);
	obs_close();
	for (;;)
		syscall(SYS_exit_group, status);
}

void _exit(int status)
{
	exit_now(status);
}

void _Exit(int status)
{
	exit_now(status);
}

/* _Fork runs no atfork handlers: detach here. */
pid_t _Fork(void);
pid_t _Fork(void)
{
	static pid_t (*real)(void);
	if (!real)
		preload_resolve((void **)&real, "_Fork");
	pid_t p = real();
	if (p == 0)
		preload_after_fork_child();
	return p;
}
