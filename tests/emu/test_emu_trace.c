/* SPDX-License-Identifier: MIT */
/*
 * Observation of an embedded system (docs/embedding.md "Tracing and
 * summaries"): SGXEMU_TRACE_FILE, SGXEMU_SUMMARY and SGXEMU_REPORT_DIR as
 * sgxemu_start reads them.  Each case runs the program's part in a forked
 * child that starts its own system, builds a small enclave and ends; the
 * test reads what the child left.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hw.h"
#include "obs_record.h"
#include "sgxemu/arch.h"
#include "sgxemu/ext.h"
#include "sgxemu/sgxemu.h"

extern char **environ;

#define SIZE 0x2000

static struct sgx_secs secs __attribute__((aligned(4096)));
static uint8_t page[4096] __attribute__((aligned(4096)));

/* Start the system, then ECREATE and one EADD through the ioctls. */
static void build(void)
{
	char err[256];
	if (sgxemu_start(NULL, err, sizeof(err)) != 0)
		_exit(20);
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	uint8_t *area = mmap(NULL, 2 * SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || area == MAP_FAILED)
		_exit(21);
	secs.size = SIZE;
	secs.base = ((uintptr_t)area + SIZE - 1) & ~(uint64_t)(SIZE - 1);
	secs.ssa_frame_size = 1;
	secs.attributes = SGX_ATTR_MODE64BIT;
	secs.xfrm = 3;
	struct sgx_enclave_create create = {.src = (uintptr_t)&secs};
	if (sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_CREATE, &create) != 0)
		_exit(22);
	struct sgx_secinfo si = {.flags = SGX_SECINFO_R | SGX_SECINFO_PT(SGX_PT_REG)};
	struct sgx_enclave_add_pages add = {
	    .src = (uintptr_t)page, .offset = 0, .length = 4096, .secinfo = (uintptr_t)&si, .flags = 0};
	if (sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_ADD_PAGES, &add) != 0)
		_exit(23);
}

/* Fork a child that runs build() with these settings ("NAME=value", NULL-terminated), then ends by `end`. */
static pid_t child(const char *const env[], void (*end)(int), const char *err_file)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (size_t i = 0; env[i]; i++)
			putenv((char *)env[i]);
		if (err_file) {
			int fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			dup2(fd, STDERR_FILENO);
		}
		build();
		end(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	return pid;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert(f, "%s: %s", path, strerror(errno));
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Does Python's json module read path as it is? (Skipped where there is no python3.) */
static void assert_json(const char *path)
{
	char *argv[] = {"python3", "-c", "import json,sys; json.load(open(sys.argv[1]))", (char *)path, NULL};
	pid_t pid;
	int r = posix_spawnp(&pid, "python3", NULL, NULL, argv, environ);
	if (r != 0)
		cr_skip_test("python3 cannot be run (%s): the JSON is not checked", strerror(r));
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		cr_skip_test("python3 is not installed: the JSON is not checked");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s is not valid JSON:\n%s", path, slurp(path));
}

static void tmpdir(char *dir, size_t len)
{
	snprintf(dir, len, "%s/sgxemu-emu-trace.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert(mkdtemp(dir), "%s", strerror(errno));
}

/* The test's directory and what the child left in it. */
static void tmpdir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		for (struct dirent *de; (de = readdir(d));) {
			char path[600];
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

TestSuite(trace, .timeout = 60);

Test(trace, trace_file_has_the_ioctls_and_leaves_and_ends_closed)
{
	char dir[256], setting[512], path[512];
	tmpdir(dir, sizeof(dir));
	snprintf(setting, sizeof(setting), "SGXEMU_TRACE_FILE=%s/t.%%p.json", dir);
	const char *env[] = {setting, NULL};
	pid_t pid = child(env, exit, NULL);
	snprintf(path, sizeof(path), "%s/t.%d.json", dir, (int)pid);
	char *t = slurp(path);
	/* A JSON array: the process's name first, then events; the "]" right after the last at exit. */
	static const char first[] = "[\n{\"name\":\"process_name\",\"ph\":\"M\"";
	cr_assert(!strncmp(t, first, sizeof(first) - 1), "%.200s", t);
	size_t n = strlen(t);
	cr_assert(n > 3 && !strcmp(t + n - 3, "}]\n"), "%s", t + (n > 80 ? n - 80 : 0));
	cr_assert(strstr(t, "{\"name\":\"SGX_IOC_ENCLAVE_CREATE\",\"cat\":\"ioctl\",\"ph\":\"X\""), "%s", t);
	cr_assert(strstr(t, "{\"name\":\"SGX_IOC_ENCLAVE_ADD_PAGES\",\"cat\":\"ioctl\",\"ph\":\"X\""), "%s", t);
	cr_assert(strstr(t, "{\"name\":\"ECREATE\",\"cat\":\"encls\",\"ph\":\"i\""), "%s", t);
	cr_assert(strstr(t, "\"secinfo\":\"R-- REG\""), "EADD's SECINFO decoded:\n%s", t);
	cr_assert(strstr(t, "{\"name\":\"EPC\",\"ph\":\"C\""), "%s", t);
	assert_json(path);
	tmpdir_remove(dir);
}

Test(trace, forked_process_without_pid_in_the_name_writes_name_dot_pid)
{
	char dir[256], setting[600], name[300], path[600];
	tmpdir(dir, sizeof(dir));
	snprintf(name, sizeof(name), "%s/t.json", dir);
	snprintf(setting, sizeof(setting), "SGXEMU_TRACE_FILE=%s", name);
	const char *env[] = {setting, NULL};
	pid_t pid = child(env, _exit, NULL);
	snprintf(path, sizeof(path), "%s.%d", name, (int)pid);
	cr_assert(exists(path), "no %s", path);
	cr_assert(!exists(name), "a forked process replaced %s", name);
	/* Left with _exit (no exit handler here): still valid, the reserved spaces before "]" included. */
	assert_json(path);
	tmpdir_remove(dir);
}

Test(trace, summary_at_exit_on_stderr)
{
	char dir[256], err[512];
	tmpdir(dir, sizeof(dir));
	snprintf(err, sizeof(err), "%s/stderr", dir);
	const char *env[] = {"SGXEMU_SUMMARY=1", NULL};
	pid_t pid = child(env, exit, err);
	char *t = slurp(err);
	char head[96];
	snprintf(head, sizeof(head), "sgxemu: summary of process %d (EPC ", (int)pid);
	cr_assert(strstr(t, head), "%s", t);
	cr_assert(strstr(t, "; end: exit(0)\n"), "%s", t);
	cr_assert(strstr(t, "  enclaves  created 1, initialised 0\n"), "%s", t);
	cr_assert(strstr(t, "  pages     added 1, EAUG'd 0, removed 0, evicted 0, reloaded 0; at exit 1 resident, 0 "
			    "evicted\n"),
		  "%s", t);
	cr_assert(strstr(t, "  ioctls    CREATE 1, ADD_PAGES 1 (0 failed)\n"), "%s", t);
	tmpdir_remove(dir);
}

Test(trace, report_directory_record_survives__exit)
{
	char dir[256], setting[512], path[512];
	tmpdir(dir, sizeof(dir));
	snprintf(setting, sizeof(setting), "SGXEMU_REPORT_DIR=%s", dir);
	const char *env[] = {setting, "SGXEMU_SUMMARY=1", NULL};
	pid_t pid = child(env, _exit, NULL);
	snprintf(path, sizeof(path), "%s/%d.stats", dir, (int)pid);
	struct obs_record r;
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(read(fd, &r, sizeof(r)), (ssize_t)sizeof(r));
	close(fd);
	cr_assert_eq(r.magic, OBS_RECORD_MAGIC);
	cr_assert_eq(r.pid, pid);
	/* Nothing ran at _exit here (the library alone does not see it): the counters were there before. */
	cr_assert_eq(r.end, OBS_RUNNING);
	cr_assert_eq(r.encls[ENCLS_ECREATE].count, 1);
	cr_assert_eq(r.encls[ENCLS_EADD].count, 1);
	cr_assert_eq(r.ioctls[OBS_IOC_CREATE], 1);
	cr_assert_eq(r.ioctls[OBS_IOC_ADD_PAGES], 1);
	cr_assert_geq(r.epc_peak, 3, "SECS, VA and the page");
	tmpdir_remove(dir);
}

Test(trace, no_setting_no_observer)
{
	char err[256];
	cr_assert_eq(sgxemu_start(NULL, err, sizeof(err)), 0, "%s", err);
	/* Nothing asked: the layers' hooks stay empty, tracing costs their one branch. */
	cr_assert_null(hw_obs_get());
}

Test(trace, a_setting_installs_the_observer)
{
	char dir[256], setting[512];
	tmpdir(dir, sizeof(dir));
	snprintf(setting, sizeof(setting), "%s/t.%%p.json", dir);
	setenv(SGXEMU_ENV_TRACE_FILE, setting, 1);
	char err[256];
	cr_assert_eq(sgxemu_start(NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(hw_obs_get());
	tmpdir_remove(dir);
}
