/* SPDX-License-Identifier: MIT */
/*
 * Chaos mode (docs/chaos.md): interrupts before the enclave's ENCLUs and
 * evictions of the pages they need, from a seed; the enclave's work is
 * unchanged, both kinds happen, each kind can run alone, and one thread's
 * injections repeat exactly with the same seed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu_int.h"
#include "exec.h"
#include "native.h"

#define PAGES 24

/* On TCS slot, EACCEPT dynamic pages (EAUG on the fault), write a word into each, read every one back. */
static void workload_on(unsigned slot)
{
	uint64_t first = 300 + (uint64_t)slot * PAGES;
	for (uint64_t i = 0; i < PAGES; i++) {
		uint64_t p = devos_dyn(first + i);
		native_accept_rw(slot, p);
		native_write(slot, p + 8 * i, 0x5EED0000 + slot * 0x100 + i);
	}
	for (uint64_t i = 0; i < PAGES; i++)
		cr_assert_eq(native_read(slot, devos_dyn(first + i) + 8 * i), 0x5EED0000 + slot * 0x100 + i,
			     "slot %u, page %llu", slot, (unsigned long long)i);
}

/* workload_on(0), then AUGMENT_PAGES of 8 pages, resumed from count as Linux's partial answers require. */
static void workload(void)
{
	workload_on(0);
	static const struct sgx_secinfo rw __attribute__((aligned(64))) = {.flags = SECINFO_REG(SI_RW)};
	uint64_t first = devos_dyn(500), len = 8 * SGX_PAGE_SIZE, done = 0;
	for (unsigned tries = 0; done < len; tries++) {
		struct sgx_enclave_augment_pages a = {
		    .offset = native_off(first) + done, .length = len - done, .secinfo = (uint64_t)(uintptr_t)&rw};
		int r = sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a);
		cr_assert(r == 0 || errno == ENOMEM, "AUGMENT: %s", strerror(errno));
		cr_assert_lt(tries, 64, "AUGMENT makes no progress");
		done += a.count;
	}
	for (uint64_t i = 0; i < 8; i++)
		native_accept_rw(0, first + i * SGX_PAGE_SIZE);
}

static void *thread_main(void *arg)
{
	workload_on((unsigned)(uintptr_t)arg);
	return NULL;
}

static void setup_chaos(void)
{
	setenv(SGXEMU_ENV_CHAOS, "31:interrupt=2,evict=2,quiet", 1);
	native_setup();
}

TestSuite(chaos, .fini = native_teardown, .timeout = 60);

Test(chaos, interrupts_and_evictions_happen_and_change_nothing, .init = setup_chaos)
{
	workload();
	struct exec_stats s;
	exec_get_stats(&s);
	cr_assert_gt(s.chaos_interrupts, 10, "%llu interrupts", (unsigned long long)s.chaos_interrupts);
	cr_assert_gt(s.chaos_evictions, 2, "%llu evictions", (unsigned long long)s.chaos_evictions);
}

/* Four threads on their own TCSs and pages: the evictions of one thread's chaos meet the others' work. */
Test(chaos, four_threads, .init = setup_chaos)
{
	pthread_t th[4];
	for (uintptr_t i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, thread_main, (void *)i), 0);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct exec_stats s;
	exec_get_stats(&s);
	cr_assert_gt(s.chaos_evictions, 8, "%llu evictions", (unsigned long long)s.chaos_evictions);
}

/*
 * The workload in a child process with SGXEMU_CHAOS=spec, its stderr in a
 * file; the chaos lines of its one enclave thread come back in out.
 */
static void run_child(const char *spec, char *out, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/sgxemu-chaos-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fd, STDERR_FILENO);
		setenv(SGXEMU_ENV_CHAOS, spec, 1);
		native_setup();
		workload();
		native_teardown();
		_exit(0);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the workload under chaos %s failed (status %#x)", spec, st);
	FILE *f = fdopen(fd, "r");
	cr_assert_not_null(f);
	rewind(f);
	char line[512];
	size_t n = 0;
	out[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "sgxemu: chaos: thread ", 22)) {
			size_t l = strlen(line);
			cr_assert_lt(n + l, len, "more chaos lines than the buffer holds");
			memcpy(out + n, line, l + 1);
			n += l;
		}
	fclose(f);
}

static char first[1 << 16], second[1 << 16], other[1 << 16];

Test(chaos, the_same_seed_injects_the_same_on_one_thread)
{
	run_child("42", first, sizeof(first));
	run_child("42", second, sizeof(second));
	run_child("43", other, sizeof(other));
	cr_assert_neq(first[0], 0, "no injection at all");
	cr_assert_str_eq(first, second, "seed 42 twice:\n%s\n---\n%s", first, second);
	cr_assert_str_neq(first, other, "seeds 42 and 43 injected the same");
}

Test(chaos, each_kind_alone)
{
	run_child("9:interrupt=2", first, sizeof(first));
	cr_assert_neq(first[0], 0);
	cr_assert_null(strstr(first, "evict"), "interrupt alone evicted:\n%s", first);
	run_child("9:evict=2", second, sizeof(second));
	cr_assert_neq(second[0], 0);
	for (char *l = second; *l; l = strchr(l, '\n') + 1)
		cr_assert(!strncmp(strchr(l, ';') ? strchr(l, ';') : "", "; evict", 7),
			  "an interrupt without eviction: %.*s", (int)(strchr(l, '\n') - l), l);
}

Test(chaos, settings_are_checked)
{
	struct exec_chaos c;
	unsigned io = 99;
	char err[256];
	cr_assert_eq(emu_parse_chaos("12", &c, &io, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.seed == 12 && c.interrupt_every == 4 && c.evict_every == 4 && !c.quiet && io == 0);
	cr_assert_eq(emu_parse_chaos("0:evict=1", &c, &io, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.seed == 0 && c.interrupt_every == 0 && c.evict_every == 1 && io == 0);
	cr_assert_eq(emu_parse_chaos("18446744073709551615:quiet", &c, &io, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.seed == UINT64_MAX && c.interrupt_every == 4 && c.evict_every == 4 && c.quiet);
	cr_assert_eq(emu_parse_chaos("5:ioctl=3", &c, &io, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.interrupt_every == 0 && c.evict_every == 0 && io == 3);
	cr_assert_eq(emu_parse_chaos("5:ioctl,interrupt=7", &c, &io, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.interrupt_every == 7 && c.evict_every == 0 && io == 4 && c.timer_usec == 0);
	cr_assert_eq(emu_parse_chaos("5:timer", &c, &io, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.interrupt_every == 0 && c.evict_every == 0 && io == 0 && c.timer_usec == 1000);
	cr_assert_eq(emu_parse_chaos("5:timer=50", &c, &io, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.timer_usec == 50);
	const char *bad[] = {"",
			     "x",
			     "-1",
			     "12:",
			     "12:evict=0",
			     "12:evict=x",
			     "12:bogus",
			     "12:quiet=2",
			     "18446744073709551616",
			     "12:interrupt=1000001",
			     " 12"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		cr_assert_eq(emu_parse_chaos(bad[i], &c, &io, err, sizeof(err)), -1, "\"%s\" was taken", bad[i]);
		cr_assert(strstr(err, SGXEMU_ENV_CHAOS), "\"%s\": %s", bad[i], err);
	}
}

/*
 * ioctl alone, every range ioctl: each stops early with what Linux could
 * answer there (the loader's ADD_PAGES resumes from the count), and a
 * caller that resumes from count gets the whole range done.
 */
static void setup_ioctl_chaos(void)
{
	setenv(SGXEMU_ENV_CHAOS, "77:ioctl=1,quiet", 1);
	native_setup();
}

Test(chaos, range_ioctls_stop_early_and_resume, .init = setup_ioctl_chaos)
{
	static const struct sgx_secinfo rw __attribute__((aligned(64))) = {.flags = SECINFO_REG(SI_RW)};
	uint64_t first = devos_dyn(400), len = 16 * SGX_PAGE_SIZE, done = 0;
	unsigned stops = 0;
	while (done < len) {
		struct sgx_enclave_augment_pages a = {
		    .offset = native_off(first) + done, .length = len - done, .secinfo = (uint64_t)(uintptr_t)&rw};
		int r = sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a);
		cr_assert(r == 0 || errno == ENOMEM, "AUGMENT: %s", strerror(errno));
		cr_assert_eq(a.count % SGX_PAGE_SIZE, 0);
		stops += r != 0;
		done += a.count;
		cr_assert_lt(stops, 64, "no progress");
	}
	cr_assert_gt(stops, 0, "no AUGMENT stopped early");
	for (uint64_t i = 0; i < 16; i++)
		native_accept_rw(0, first + i * SGX_PAGE_SIZE);
	done = 0;
	stops = 0;
	while (done < len) {
		struct sgx_enclave_restrict_permissions a = {
		    .offset = native_off(first) + done, .length = len - done, .permissions = SI_R};
		int r = sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &a);
		cr_assert(r == 0 || errno == EAGAIN, "RESTRICT_PERMISSIONS: %s", strerror(errno));
		cr_assert_eq(a.result, 0);
		stops += r != 0;
		done += a.count;
		cr_assert_lt(stops, 64, "no progress");
	}
	cr_assert_gt(stops, 0, "no RESTRICT_PERMISSIONS stopped early");
	for (uint64_t i = 0; i < 16; i++)
		cr_assert_eq(native_eaccept(0, first + i * SGX_PAGE_SIZE, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
}

/*
 * The timer kind: interrupts wherever enclave code is, here in a loop
 * without any ENCLU (OP_SPIN polls an untrusted word the test thread sets
 * after a while); the loop finishes with its state intact.
 */
static void setup_timer_chaos(void)
{
	setenv(SGXEMU_ENV_CHAOS, "1:timer=200,quiet", 1);
	native_setup();
}

static volatile uint64_t spin_go, spin_started;

static void *release_spin(void *arg)
{
	(void)arg;
	while (!spin_started)
		sched_yield();
	struct timespec ts = {.tv_nsec = 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	spin_go = 1;
	return NULL;
}

Test(chaos, timer_interrupts_land_in_enclave_code_between_enclus, .init = setup_timer_chaos)
{
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, release_spin, NULL), 0);
	struct exec_stats before, after;
	exec_get_stats(&before);
	uint64_t out[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	int rc = devos_call(devos_tcs(0), OP_SPIN, (uint64_t)(uintptr_t)&spin_go, (uint64_t)(uintptr_t)&spin_started, 0,
			    out, &run);
	pthread_join(th, NULL);
	exec_get_stats(&after);
	cr_assert(rc == 0 && run.function == ENCLU_EEXIT, "the loop ended with EEXIT (rc %d, function %u)", rc,
		  run.function);
	cr_assert_gt(after.chaos_timer, before.chaos_timer, "no timer interrupt in 100 ms of spinning");
	cr_assert_eq(after.chaos_interrupts, 0, "the ENCLU kinds are off");
	workload();
}

/* Each injection is in the trace file too (SGXEMU_TRACE_FILE): an instant event "chaos" with its kind. */
Test(chaos, injections_are_in_the_trace_file)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], setting[PATH_MAX + 32], path[PATH_MAX + 300];
	snprintf(dir, sizeof(dir), "%s/sgxemu-chaos-trace-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	/* A process forked by one with the emulator loaded names its trace by its pid: %p says where. */
	snprintf(setting, sizeof(setting), "%s/trace-%%p.json", dir);
	setenv(SGXEMU_ENV_TRACE_FILE, setting, 1);
	run_child("5:interrupt=2,evict=2,ioctl=1", first, sizeof(first));
	unsetenv(SGXEMU_ENV_TRACE_FILE);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *de;
	path[0] = 0;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "trace-", 6))
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	closedir(d);
	cr_assert_neq(path[0], 0, "no trace file in %s", dir);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	static char trace[1 << 22];
	size_t n = fread(trace, 1, sizeof(trace) - 1, f);
	trace[n] = 0;
	fclose(f);
	unlink(path);
	rmdir(dir);
	unsigned interrupts = 0, evictions = 0, ioctls = 0;
	for (const char *p = trace; (p = strstr(p, "\"name\":\"chaos\"")); p++) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char line[512];
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		interrupts += strstr(line, "\"kind\":\"interrupt\"") != NULL;
		evictions += strstr(line, "\"evicted\":") != NULL;
		ioctls += strstr(line, "\"kind\":\"ioctl\"") != NULL;
	}
	unsigned lines = 0;
	for (const char *l = first; (l = strchr(l, '\n')); l++)
		lines++;
	cr_assert_eq(interrupts, lines, "%u interrupt events, %u lines on stderr", interrupts, lines);
	cr_assert_gt(evictions, 0);
	cr_assert_gt(ioctls, 0, "the loader's ADD_PAGES stops are in the trace");
}
