/* SPDX-License-Identifier: MIT */
/*
 * Chaos mode (docs/chaos.md): interrupts before the enclave's ENCLUs and
 * evictions of the pages they need, from a seed; the enclave's work is
 * unchanged, both kinds happen, each kind can run alone, and one thread's
 * injections repeat exactly with the same seed.  The driver's kinds too:
 * range ioctls stopped early, EBUSY, SIGBUS on EAUG, the stale-TLB window.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu_int.h"
#include "exec.h"
#include "kernel.h"
#include "native.h"
#include "regloop.h"

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
 * work in a child process with SGXEMU_CHAOS=spec, its stderr in a file;
 * the lines that start with one of prefixes (NULL-terminated) come back
 * in out.
 */
static void run_child_with(const char *spec, void (*work)(void), const char *const *prefixes, char *out, size_t len)
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
		work();
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
	while (fgets(line, sizeof(line), f)) {
		bool keep = false;
		for (const char *const *p = prefixes; *p && !keep; p++)
			keep = !strncmp(line, *p, strlen(*p));
		if (keep) {
			size_t l = strlen(line);
			cr_assert_lt(n + l, len, "more chaos lines than the buffer holds");
			memcpy(out + n, line, l + 1);
			n += l;
		}
	}
	fclose(f);
}

static const char *const thread_lines[] = {"sgxemu: chaos: thread ", NULL};

/* The workload in a child process; the chaos lines of its one enclave thread come back in out. */
static void run_child(const char *spec, char *out, size_t len)
{
	run_child_with(spec, workload, thread_lines, out, len);
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
	struct emu_chaos_kernel k = {99, 99, 99, 99};
	char err[256];
	cr_assert_eq(emu_parse_chaos("12", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.seed == 12 && c.interrupt_every == 4 && c.evict_every == 4 && !c.quiet);
	cr_assert(c.timer_usec == 0 && c.step_every == 0);
	cr_assert(k.ioctl_every == 0 && k.busy_every == 0 && k.sigbus_every == 0 && k.tlb_usec == 0,
		  "the driver's kinds are off unless named");
	cr_assert_eq(emu_parse_chaos("0:evict=1", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.seed == 0 && c.interrupt_every == 0 && c.evict_every == 1 && k.ioctl_every == 0);
	cr_assert_eq(emu_parse_chaos("18446744073709551615:quiet", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.seed == UINT64_MAX && c.interrupt_every == 4 && c.evict_every == 4 && c.quiet);
	cr_assert(k.ioctl_every == 0 && k.busy_every == 0 && k.sigbus_every == 0 && k.tlb_usec == 0);
	cr_assert_eq(emu_parse_chaos("5:ioctl=3", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.interrupt_every == 0 && c.evict_every == 0 && k.ioctl_every == 3);
	cr_assert_eq(emu_parse_chaos("5:ioctl,interrupt=7", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.interrupt_every == 7 && c.evict_every == 0 && k.ioctl_every == 4 && c.timer_usec == 0);
	cr_assert_eq(emu_parse_chaos("5:timer", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.interrupt_every == 0 && c.evict_every == 0 && k.ioctl_every == 0 && c.timer_usec == 1000);
	cr_assert_eq(emu_parse_chaos("5:timer=50", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.timer_usec == 50);
	/* The driver's new kinds and step, with their defaults, each alone. */
	cr_assert_eq(emu_parse_chaos("5:busy", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(k.busy_every == 4 && k.ioctl_every == 0 && k.sigbus_every == 0 && k.tlb_usec == 0);
	cr_assert(c.interrupt_every == 0 && c.evict_every == 0 && c.timer_usec == 0 && c.step_every == 0);
	cr_assert_eq(emu_parse_chaos("5:sigbus", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(k.sigbus_every == 4 && k.busy_every == 0 && k.tlb_usec == 0 && c.interrupt_every == 0);
	cr_assert_eq(emu_parse_chaos("5:tlb", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(k.tlb_usec == 1000 && k.busy_every == 0 && k.sigbus_every == 0 && c.evict_every == 0);
	cr_assert_eq(emu_parse_chaos("5:step", &c, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.step_every == 1000 && c.interrupt_every == 0 && c.evict_every == 0 && k.tlb_usec == 0);
	cr_assert_eq(emu_parse_chaos("6:busy=1,sigbus=1000000,tlb=250,step=1,quiet", &c, &k, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert(c.seed == 6 && k.busy_every == 1 && k.sigbus_every == 1000000 && k.tlb_usec == 250 &&
		  c.step_every == 1 && c.quiet && c.interrupt_every == 0 && c.evict_every == 0);
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
			     " 12",
			     "12:busy=0",
			     "12:busy=",
			     "12:busy=-1",
			     "12:sigbus=x",
			     "12:sigbus=1000001",
			     "12:tlb=0",
			     "12:tlb=1.5",
			     "12:tlb=1000001",
			     "12:step=0",
			     "12:step=1000001",
			     "12:step= 5",
			     "12:steps",
			     "12:tlb,bus"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		cr_assert_eq(emu_parse_chaos(bad[i], &c, &k, err, sizeof(err)), -1, "\"%s\" was taken", bad[i]);
		cr_assert(strstr(err, SGXEMU_ENV_CHAOS), "\"%s\": %s", bad[i], err);
	}
	cr_assert_eq(emu_parse_chaos("12:busy=0", &c, &k, err, sizeof(err)), -1);
	cr_assert(strstr(err, "busy: expected =N, 1 to 1000000"), "%s", err);
	/* An unknown kind: the message names every kind there is. */
	cr_assert_eq(emu_parse_chaos("12:bogus", &c, &k, err, sizeof(err)), -1);
	const char *kinds[] = {"interrupt[=N]", "evict[=N]",  "timer[=USEC]", "step[=N]", "ioctl[=N]",
			       "busy[=N]",	"sigbus[=N]", "tlb[=USEC]",   "quiet"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		cr_assert(strstr(err, kinds[i]), "the message does not name %s: %s", kinds[i], err);
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

/*
 * run_child_with spec, work and prefixes (its stderr in first) with a trace
 * file, whose text is returned (a static buffer, the file removed).
 */
static const char *traced_child(const char *spec, void (*work)(void), const char *const *prefixes)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], setting[PATH_MAX + 32], path[PATH_MAX + 300];
	snprintf(dir, sizeof(dir), "%s/sgxemu-chaos-trace-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	/* A process forked by one with the emulator loaded names its trace by its pid: %p says where. */
	snprintf(setting, sizeof(setting), "%s/trace-%%p.json", dir);
	setenv(SGXEMU_ENV_TRACE_FILE, setting, 1);
	run_child_with(spec, work, prefixes, first, sizeof(first));
	unsetenv(SGXEMU_ENV_TRACE_FILE);
	/* Read, then remove the directory before any assertion, so that a failure leaves nothing behind. */
	static char trace[1 << 22];
	size_t n = 0;
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *de;
	bool found = false;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = !found && !strncmp(de->d_name, "trace-", 6) ? fopen(path, "r") : NULL;
		if (f) {
			n = fread(trace, 1, sizeof(trace) - 1, f);
			fclose(f);
			found = true;
		}
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
	trace[n] = 0;
	cr_assert(found, "no trace file in %s", dir);
	return trace;
}

/* Each injection is in the trace file too (SGXEMU_TRACE_FILE): an instant event "chaos" with its kind. */
Test(chaos, injections_are_in_the_trace_file)
{
	const char *trace = traced_child("5:interrupt=2,evict=2,ioctl=1", workload, thread_lines);
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

/* ---- the driver's kinds: busy, sigbus, tlb ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* What the kernel told this test's observer (struct sgxk_obs) of the driver's kinds. */
static struct {
	atomic_uint busy, sigbus, tlb;
	char busy_names[256]; /* the ioctls answered EBUSY, each followed by a blank */
	uint64_t sigbus_addr;
	char tlb_name[32];
	uint64_t tlb_addr, tlb_pages;
	unsigned tlb_usec;
	_Atomic uint64_t tlb_opened; /* mono_ns() as the last window opened */
} seen;

static uint64_t seen_now(void)
{
	return mono_ns() | 1;
}

static void seen_fault(struct sgxk *k, uint64_t addr, uint32_t errcode, enum sgxk_fault f, enum sgxk_fault_how how,
		       uint64_t t0)
{
	(void)k, (void)addr, (void)errcode, (void)f, (void)how, (void)t0;
}

static void seen_reclaim(struct sgxk *k, unsigned isolated, unsigned evicted, uint64_t t0)
{
	(void)k, (void)isolated, (void)evicted, (void)t0;
}

static void seen_busy(struct sgxk *k, const char *name)
{
	(void)k;
	size_t n = strlen(seen.busy_names);
	snprintf(seen.busy_names + n, sizeof(seen.busy_names) - n, "%s ", name);
	atomic_fetch_add(&seen.busy, 1);
}

static void seen_sigbus(struct sgxk *k, uint64_t addr)
{
	(void)k;
	seen.sigbus_addr = addr;
	atomic_fetch_add(&seen.sigbus, 1);
}

static void seen_tlb(struct sgxk *k, const char *name, uint64_t addr, uint64_t pages, unsigned usec)
{
	(void)k;
	snprintf(seen.tlb_name, sizeof(seen.tlb_name), "%s", name);
	seen.tlb_addr = addr;
	seen.tlb_pages = pages;
	seen.tlb_usec = usec;
	atomic_store(&seen.tlb_opened, mono_ns());
	atomic_fetch_add(&seen.tlb, 1);
}

static const struct sgxk_obs seen_hooks = {.now = seen_now,
					   .fault = seen_fault,
					   .reclaim = seen_reclaim,
					   .chaos_busy = seen_busy,
					   .chaos_sigbus = seen_sigbus,
					   .chaos_tlb = seen_tlb};

/* This process's stderr into a file from capture_begin to capture_end, which gives it back. */
static int capture_fd = -1, capture_saved = -1;

static void capture_begin(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/sgxemu-chaos-err-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	capture_fd = mkstemp(path);
	cr_assert_geq(capture_fd, 0);
	unlink(path);
	fflush(stderr);
	capture_saved = dup(STDERR_FILENO);
	cr_assert_geq(capture_saved, 0);
	dup2(capture_fd, STDERR_FILENO);
}

static void capture_end(char *out, size_t len)
{
	fflush(stderr);
	dup2(capture_saved, STDERR_FILENO);
	close(capture_saved);
	ssize_t n = pread(capture_fd, out, len - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(capture_fd);
}

/* Lines of text that start with prefix. */
static unsigned count_lines(const char *text, const char *prefix)
{
	unsigned n = 0;
	for (const char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
		n += !strncmp(l, prefix, strlen(prefix));
	return n;
}

static char captured[1 << 16];

/*
 * The test enclave under SGXEMU_CHAOS=spec, then this test's observer:
 * what the loader met is neither seen nor on stderr.
 */
static void setup_observed(const char *spec)
{
	setenv(SGXEMU_ENV_CHAOS, spec, 1);
	capture_begin();
	native_setup();
	capture_end(captured, sizeof(captured));
	memset(&seen, 0, sizeof(seen));
	sgxk_obs_set(&seen_hooks);
}

/* An ioctl of the test enclave, made once more after EBUSY: which never comes twice in a row on one thread. */
static int ioctl_retrying(unsigned long cmd, void *arg)
{
	int r = sgxemu_ioctl(dv.fd, cmd, arg);
	if (r == -1 && errno == EBUSY)
		r = sgxemu_ioctl(dv.fd, cmd, arg);
	return r;
}

/* The vDSO's user handler of accept_resuming: ERESUME after the first exception, in the same call. */
struct resume_flow {
	unsigned exceptions;
	struct sgx_enclave_run report;
};

static int resume_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rdi, (void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct resume_flow *f = (struct resume_flow *)(uintptr_t)run->user_data;
	if (run->function == ENCLU_EEXIT)
		return 0;
	if (f->exceptions++ == 0)
		f->report = *run;
	return f->exceptions == 1 && run->function == ENCLU_ERESUME ? ENCLU_ERESUME : 0;
}

/*
 * EACCEPT of a fresh dynamic page (EAUG on the fault) on slot, where the
 * fault may be a SIGBUS: reported by the vDSO as a #PF on the page, after
 * which ERESUME (in the same call, as the enclave's saved host stack
 * requires) runs the EACCEPT again, and that access gets its page.
 * *faults counts the reports.
 */
static void accept_resuming(unsigned slot, uint64_t page, unsigned *faults)
{
	struct resume_flow f = {0};
	struct sgx_enclave_run run = {.tcs = devos_tcs(slot),
				      .user_handler = (uint64_t)(uintptr_t)resume_handler,
				      .user_data = (uint64_t)(uintptr_t)&f};
	memset(nout[slot], 0, sizeof(nout[slot]));
	int r = sgxemu_call_enclave(OP_EACCEPT, page, SI_PENDING_RW, ENCLU_EENTER, 0,
				    (unsigned long)(uintptr_t)nout[slot], &run);
	cr_assert_eq(r, 0, "the vDSO entry returned %d", r);
	cr_assert_leq(f.exceptions, 1, "the EACCEPT that ran again after a SIGBUS faulted again");
	if (f.exceptions)
		native_assert_exception(&f.report, ENCLU_ERESUME, X86_PF, PF_U, page);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(nout[slot][0], 0, "EACCEPT of %#llx", (unsigned long long)page);
	*faults += f.exceptions;
}

/*
 * What the driver's kinds act on: EACCEPTs with EAUG on the fault (sigbus),
 * RESTRICT_PERMISSIONS, AUGMENT_PAGES, MODIFY_TYPES and REMOVE_PAGES (busy,
 * and tlb for the first two), every ioctl made again after EBUSY.
 */
static void kernel_workload(void)
{
	unsigned faults = 0;
	for (uint64_t i = 0; i < 12; i++) {
		uint64_t p = devos_dyn(300 + i);
		accept_resuming(0, p, &faults);
		native_write(0, p + 8 * i, 0xC0DE00 + i);
		struct sgx_enclave_restrict_permissions r = {
		    .offset = native_off(p), .length = SGX_PAGE_SIZE, .permissions = SI_R};
		cr_assert_eq(ioctl_retrying(SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &r), 0, "RESTRICT: %s",
			     strerror(errno));
		cr_assert_eq(r.count, SGX_PAGE_SIZE);
		cr_assert_eq(native_eaccept(0, p, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
		cr_assert_eq(native_read(0, p + 8 * i), 0xC0DE00 + i);
	}
	static const struct sgx_secinfo rw __attribute__((aligned(64))) = {.flags = SECINFO_REG(SI_RW)};
	uint64_t first = devos_dyn(400), len = 4 * SGX_PAGE_SIZE;
	struct sgx_enclave_augment_pages a = {
	    .offset = native_off(first), .length = len, .secinfo = (uint64_t)(uintptr_t)&rw};
	cr_assert_eq(ioctl_retrying(SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a), 0, "AUGMENT: %s", strerror(errno));
	for (uint64_t i = 0; i < 4; i++)
		native_accept_rw(0, first + i * SGX_PAGE_SIZE);
	struct sgx_enclave_modify_types m = {.offset = native_off(first), .length = len, .page_type = SGX_PT_TRIM};
	cr_assert_eq(ioctl_retrying(SGX_IOC_ENCLAVE_MODIFY_TYPES, &m), 0, "MODIFY_TYPES: %s", strerror(errno));
	for (uint64_t i = 0; i < 4; i++)
		cr_assert_eq(
		    native_eaccept(0, first + i * SGX_PAGE_SIZE, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED),
		    0);
	struct sgx_enclave_remove_pages rm = {.offset = native_off(first), .length = len};
	cr_assert_eq(ioctl_retrying(SGX_IOC_ENCLAVE_REMOVE_PAGES, &rm), 0, "REMOVE_PAGES: %s", strerror(errno));
	cr_assert_eq(rm.count, len);
}

static const char *const kernel_lines[] = {"sgxemu: chaos: busy #", "sgxemu: chaos: sigbus #", "sgxemu: chaos: tlb #",
					   NULL};

static void setup_busy(void)
{
	setup_observed("3:busy=1");
}

/*
 * busy=1: the first try of every enclave ioctl is EBUSY (the loader tried
 * again), which leaves the struct and the enclave as they were; the retry
 * runs.  Commands that are no enclave ioctl are never answered EBUSY.
 */
Test(chaos, busy_changes_nothing_and_a_retry_gets_on, .init = setup_busy)
{
	capture_begin();
	uint64_t page = devos_dyn(600);
	uint64_t before = devos_stats().pages_resident;
	struct sgx_enclave_augment_pages g;
	native_assert_fails(native_augment(native_off(page), SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &g), EBUSY);
	cr_assert_eq(g.count, 0, "the struct was not written");
	cr_assert_eq(devos_stats().pages_resident, before, "EBUSY added a page");
	native_assert_ok(ioctl_retrying(SGX_IOC_ENCLAVE_AUGMENT_PAGES, &g));
	cr_assert_eq(g.count, SGX_PAGE_SIZE);
	cr_assert_eq(devos_stats().pages_resident, before + 1);
	native_accept_rw(0, page);
	native_write(0, page + 8, 0x77);
	struct sgx_enclave_restrict_permissions r;
	native_assert_fails(native_restrict(native_off(page), SGX_PAGE_SIZE, SI_R, &r), EBUSY);
	cr_assert(r.count == 0 && r.result == 0, "the struct was not written");
	native_write(0, page + 8, 0x78);
	cr_assert_eq(native_read(1, page + 8), 0x78, "the page is still writable: nothing was restricted");
	native_assert_ok(ioctl_retrying(SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &r));
	cr_assert_eq(r.count, SGX_PAGE_SIZE);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	/* Not an enclave ioctl: ENOTTY every time, never EBUSY. */
	for (unsigned i = 0; i < 3; i++)
		native_assert_fails(sgxemu_ioctl(dv.fd, _IO(0xA4, 0x7F), NULL), ENOTTY);
	capture_end(captured, sizeof(captured));
	cr_assert_eq(atomic_load(&seen.busy), 2);
	cr_assert_str_eq(seen.busy_names, "AUGMENT_PAGES RESTRICT_PERMISSIONS ");
	cr_assert_eq(count_lines(captured, "sgxemu: chaos: busy #"), 2, "%s", captured);
	cr_assert(strstr(captured, ": AUGMENT_PAGES: EBUSY, as while another ioctl of the enclave runs\n"), "%s",
		  captured);
	cr_assert(strstr(captured, ": RESTRICT_PERMISSIONS: EBUSY"), "%s", captured);
}

static void setup_sigbus(void)
{
	setup_observed("3:sigbus=1");
}

/*
 * sigbus=1: every EAUG on a fault finds no EPC, except the next one at
 * the same page.  Through the vDSO the SIGBUS is an exception report: #PF
 * on the page, as the vDSO's fixup gives it; no page was added, and the
 * access made again gets its page.
 */
Test(chaos, sigbus_is_a_page_fault_report_and_the_retry_gets_on, .init = setup_sigbus)
{
	capture_begin();
	uint64_t page = devos_dyn(620);
	uint64_t before = devos_stats().pages_resident;
	struct sgx_enclave_run run;
	native_fault(0, OP_EACCEPT, page, SI_PENDING_RW, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_U, page);
	cr_assert_eq(hrec[0][HREC_EXITINFO], EXITINFO_HW(X86_PF), "the enclave's handler saw the #PF");
	cr_assert_eq(devos_stats().pages_resident, before, "the SIGBUS added a page");
	cr_assert_eq(atomic_load(&seen.sigbus), 1);
	cr_assert_eq(seen.sigbus_addr, page);
	native_accept_rw(0, page);
	cr_assert_eq(devos_stats().pages_resident, before + 1);
	native_write(0, page + 16, 5);
	cr_assert_eq(native_read(1, page + 16), 5);
	/* ERESUME after the report runs the EACCEPT again, which gets on. */
	unsigned faults = 0;
	accept_resuming(1, devos_dyn(621), &faults);
	cr_assert_eq(faults, 1);
	cr_assert_eq(atomic_load(&seen.sigbus), 2);
	capture_end(captured, sizeof(captured));
	cr_assert_eq(count_lines(captured, "sgxemu: chaos: sigbus #"), 2, "%s", captured);
	char want[128];
	snprintf(want, sizeof(want),
		 "sgxemu: chaos: sigbus #0: EAUG on the fault at enclave+%#llx found no EPC: SIGBUS\n",
		 (unsigned long long)native_off(page));
	cr_assert(strstr(captured, want), "no \"%s\" in:\n%s", want, captured);
}

/* ---- tlb: an enclave thread writes a page while another restricts it ---- */

#define TLB_USEC 200000U

static struct {
	unsigned slot;
	uint64_t page;
	atomic_bool returned; /* the ioctl returned */
	atomic_uint writes;   /* writes that completed */
	unsigned in_window;   /* completed writes that began after the window opened */
	unsigned after;	      /* completed writes that began after the ioctl returned */
	uint64_t last;	      /* the value of the last completed write */
	bool faulted;
	bool fault_after; /* the faulting write began after the ioctl returned */
	struct sgx_enclave_run fault;
	int error;
} wr;

static void *tlb_writer(void *arg)
{
	(void)arg;
	uint64_t out[ENCL_OUT_WORDS];
	uint64_t deadline = mono_ns() + 20ULL * 1000000000ULL;
	for (uint64_t v = 1; mono_ns() < deadline; v++) {
		bool open = atomic_load(&seen.tlb) != 0, returned = atomic_load(&wr.returned);
		struct sgx_enclave_run run;
		int r = devos_call(devos_tcs(wr.slot), OP_WRITE, wr.page + 8, v, 0, out, &run);
		if (r) {
			wr.error = r;
			break;
		}
		if (run.function != ENCLU_EEXIT) {
			wr.faulted = true;
			wr.fault_after = returned;
			wr.fault = run;
			break;
		}
		wr.in_window += open;
		wr.after += returned;
		wr.last = v;
		atomic_fetch_add(&wr.writes, 1);
	}
	return NULL;
}

static void setup_tlb(void)
{
	char spec[64];
	snprintf(spec, sizeof(spec), "3:tlb=%u", TLB_USEC);
	setup_observed(spec);
}

/*
 * With the window on, writes of another thread that begin after EMODPR or
 * EMODT (the EPCM no longer allows them) still complete, as through a
 * stale TLB entry, until the shootdown; the ioctl returns only after it,
 * and from then on the write faults.  trim: MODIFY_TYPES to TRIM, else
 * RESTRICT_PERMISSIONS to R.
 */
static void tlb_case(unsigned slot, uint64_t page, bool trim)
{
	memset(&wr, 0, sizeof(wr));
	wr.slot = slot;
	wr.page = page;
	native_accept_rw(0, page);
	native_write(0, page + 8, 0);
	capture_begin();
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, tlb_writer, NULL), 0);
	for (uint64_t t0 = mono_ns(); atomic_load(&wr.writes) < 20 && mono_ns() - t0 < 10000000000ULL;)
		sched_yield();
	uint64_t t0 = mono_ns();
	int r;
	if (trim) {
		struct sgx_enclave_modify_types m;
		r = native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_TRIM, &m);
		cr_assert_eq(m.count, SGX_PAGE_SIZE);
	} else {
		struct sgx_enclave_restrict_permissions a;
		r = native_restrict(native_off(page), SGX_PAGE_SIZE, SI_R, &a);
		cr_assert_eq(a.count, SGX_PAGE_SIZE);
	}
	uint64_t t1 = mono_ns();
	atomic_store(&wr.returned, true);
	pthread_join(th, NULL);
	capture_end(captured, sizeof(captured));
	const char *name = trim ? "MODIFY_TYPES" : "RESTRICT_PERMISSIONS";
	cr_assert_eq(r, 0, "%s: %s", name, strerror(errno));
	cr_assert_eq(wr.error, 0, "the writer's entry failed: %d", wr.error);
	/* One window, as the ioctl opened it, and the ioctl returned after it closed. */
	cr_assert_eq(atomic_load(&seen.tlb), 1);
	cr_assert_str_eq(seen.tlb_name, name);
	cr_assert(seen.tlb_addr == page && seen.tlb_pages == 1 && seen.tlb_usec == TLB_USEC);
	uint64_t opened = atomic_load(&seen.tlb_opened);
	cr_assert(opened >= t0 && opened <= t1);
	cr_assert_geq(t1 - opened, TLB_USEC * 1000ULL, "the ioctl returned %llu us after the window opened",
		      (unsigned long long)(t1 - opened) / 1000);
	/* Writes after the EPCM change got through; none after the return; the first after it faulted. */
	cr_assert_gt(wr.in_window, 0, "no write began in the window (%u writes before)", atomic_load(&wr.writes));
	cr_assert_eq(wr.after, 0, "%u writes began after the ioctl returned and completed", wr.after);
	cr_assert(wr.faulted, "the writes never faulted");
	native_assert_exception(&wr.fault, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, page);
	if (!trim) {
		/* The writes of the window are in the page: the stale mapping was the page itself. */
		cr_assert_eq(native_read(0, page + 8), wr.last);
		cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	} else {
		cr_assert_eq(native_eaccept(0, page, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED), 0);
	}
	char want[200];
	snprintf(want, sizeof(want),
		 "sgxemu: chaos: tlb #0: %s at enclave+%#llx, 1 page: the old permissions stay for %u us before the "
		 "TLB shootdown\n",
		 name, (unsigned long long)native_off(page), TLB_USEC);
	cr_assert(strstr(captured, want), "no \"%s\" in:\n%s", want, captured);
	cr_assert_eq(count_lines(captured, "sgxemu: chaos: tlb #"), 1, "%s", captured);
}

Test(chaos, tlb_window_after_emodpr_then_the_write_faults, .init = setup_tlb)
{
	tlb_case(1, devos_dyn(640), false);
}

Test(chaos, tlb_window_after_emodt_then_the_write_faults, .init = setup_tlb)
{
	tlb_case(2, devos_dyn(650), true);
}

/*
 * One window per call, whatever its pages, covering the pages changed
 * before the call stopped; REMOVE_PAGES and AUGMENT_PAGES have none.
 */
static void setup_tlb_short(void)
{
	setup_observed("3:tlb=1000,ioctl=1,quiet");
}

Test(chaos, tlb_one_window_per_call_over_the_pages_done, .init = setup_tlb_short)
{
	uint64_t first = devos_dyn(660), len = 8 * SGX_PAGE_SIZE, done = 0;
	while (done < len) {
		struct sgx_enclave_augment_pages g;
		int r = native_augment(native_off(first) + done, len - done, SECINFO_REG(SI_RW), &g);
		cr_assert(r == 0 || errno == ENOMEM, "AUGMENT: %s", strerror(errno));
		done += g.count;
	}
	cr_assert_eq(atomic_load(&seen.tlb), 0, "AUGMENT_PAGES opened a window");
	for (uint64_t i = 0; i < 8; i++)
		native_accept_rw(0, first + i * SGX_PAGE_SIZE);
	unsigned calls = 0, windows_expected = 0;
	uint64_t pages = 0;
	for (done = 0; done < len; calls++) {
		struct sgx_enclave_restrict_permissions a;
		unsigned before = atomic_load(&seen.tlb);
		int r = native_restrict(native_off(first) + done, len - done, SI_R, &a);
		cr_assert(r == 0 || errno == EAGAIN, "RESTRICT_PERMISSIONS: %s", strerror(errno));
		if (a.count) {
			windows_expected++;
			cr_assert_eq(atomic_load(&seen.tlb), before + 1, "not one window for one call");
			cr_assert_eq(seen.tlb_addr, first + done);
			cr_assert_eq(seen.tlb_pages, a.count / SGX_PAGE_SIZE, "the window covers the pages done");
			pages += seen.tlb_pages;
		} else {
			cr_assert_eq(atomic_load(&seen.tlb), before, "a window over no page");
		}
		done += a.count;
		cr_assert_lt(calls, 64, "no progress");
	}
	cr_assert_eq(atomic_load(&seen.tlb), windows_expected);
	cr_assert_eq(pages, 8);
	for (uint64_t i = 0; i < 8; i++)
		cr_assert_eq(native_eaccept(0, first + i * SGX_PAGE_SIZE, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	struct sgx_enclave_modify_types m;
	for (done = 0; done < len;) {
		int r = native_modify(native_off(first) + done, len - done, SGX_PT_TRIM, &m);
		cr_assert(r == 0 || errno == EAGAIN, "MODIFY_TYPES: %s", strerror(errno));
		done += m.count;
	}
	for (uint64_t i = 0; i < 8; i++)
		cr_assert_eq(
		    native_eaccept(0, first + i * SGX_PAGE_SIZE, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED),
		    0);
	unsigned before = atomic_load(&seen.tlb);
	struct sgx_enclave_remove_pages rm;
	for (done = 0; done < len;) {
		int r = native_remove(native_off(first) + done, len - done, &rm);
		cr_assert(r == 0 || errno == EAGAIN, "REMOVE_PAGES: %s", strerror(errno));
		done += rm.count;
	}
	cr_assert_eq(atomic_load(&seen.tlb), before, "REMOVE_PAGES opened a window");
}

/* Not named, none of the driver's kinds happens, even with the others on. */
static void setup_others(void)
{
	setup_observed("7:interrupt=2,evict=2,timer=500");
}

Test(chaos, the_driver_kinds_are_off_unless_named, .init = setup_others)
{
	capture_begin();
	kernel_workload();
	capture_end(captured, sizeof(captured));
	cr_assert_eq(atomic_load(&seen.busy), 0);
	cr_assert_eq(atomic_load(&seen.sigbus), 0);
	cr_assert_eq(atomic_load(&seen.tlb), 0);
	cr_assert_eq(count_lines(captured, "sgxemu: chaos: busy"), 0, "%s", captured);
	cr_assert_eq(count_lines(captured, "sgxemu: chaos: sigbus"), 0, "%s", captured);
	cr_assert_eq(count_lines(captured, "sgxemu: chaos: tlb"), 0, "%s", captured);
	cr_assert_gt(count_lines(captured, "sgxemu: chaos: thread "), 0, "the other kinds were on");
}

/*
 * One thread: the same seed gives the same driver injections, line for
 * line (which ioctls got EBUSY, which faults SIGBUS, the windows);
 * another seed others.  Each kind alone gives only its own lines.
 */
Test(chaos, the_same_seed_gives_the_same_driver_injections)
{
	run_child_with("42:busy=3,sigbus=3,tlb=50", kernel_workload, kernel_lines, first, sizeof(first));
	run_child_with("42:busy=3,sigbus=3,tlb=50", kernel_workload, kernel_lines, second, sizeof(second));
	run_child_with("43:busy=3,sigbus=3,tlb=50", kernel_workload, kernel_lines, other, sizeof(other));
	cr_assert_gt(count_lines(first, "sgxemu: chaos: busy #"), 0, "no EBUSY:\n%s", first);
	cr_assert_gt(count_lines(first, "sgxemu: chaos: sigbus #"), 0, "no SIGBUS:\n%s", first);
	cr_assert_eq(count_lines(first, "sgxemu: chaos: tlb #"), 13, "a window for each RESTRICT and MODIFY:\n%s",
		     first);
	cr_assert_str_eq(first, second, "seed 42 twice:\n%s\n---\n%s", first, second);
	cr_assert_str_neq(first, other, "seeds 42 and 43 injected the same");
}

Test(chaos, each_driver_kind_alone)
{
	const char *specs[] = {"9:busy=2", "9:sigbus=2", "9:tlb=10"};
	const char *mine[] = {"sgxemu: chaos: busy #", "sgxemu: chaos: sigbus #", "sgxemu: chaos: tlb #"};
	for (unsigned i = 0; i < 3; i++) {
		run_child_with(specs[i], kernel_workload, kernel_lines, first, sizeof(first));
		cr_assert_gt(count_lines(first, mine[i]), 0, "%s: nothing injected", specs[i]);
		for (unsigned j = 0; j < 3; j++)
			if (j != i)
				cr_assert_eq(count_lines(first, mine[j]), 0, "%s injected another kind:\n%s", specs[i],
					     first);
	}
}

/* The driver's injections are events of the trace file, one per line on stderr. */
Test(chaos, driver_injections_are_in_the_trace_file)
{
	const char *trace = traced_child("5:busy=2,sigbus=2,tlb=100", kernel_workload, kernel_lines);
	unsigned busy = 0, sigbus = 0, tlb = 0;
	for (const char *p = trace; (p = strstr(p, "\"name\":\"chaos\"")); p++) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char line[512];
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		busy += strstr(line, "\"kind\":\"busy\"") != NULL && strstr(line, "\"answer\":\"EBUSY\"") != NULL;
		sigbus += strstr(line, "\"kind\":\"sigbus\"") != NULL && strstr(line, "\"addr\":\"0x") != NULL;
		tlb += strstr(line, "\"kind\":\"tlb\"") != NULL && strstr(line, "\"usec\":100") != NULL;
	}
	unsigned lb = count_lines(first, "sgxemu: chaos: busy #"), ls = count_lines(first, "sgxemu: chaos: sigbus #"),
		 lt = count_lines(first, "sgxemu: chaos: tlb #");
	cr_assert(lb > 0 && ls > 0 && lt > 0, "%u %u %u lines:\n%s", lb, ls, lt, first);
	cr_assert_eq(busy, lb, "%u busy events, %u lines", busy, lb);
	cr_assert_eq(sigbus, ls, "%u sigbus events, %u lines", sigbus, ls);
	cr_assert_eq(tlb, lt, "%u tlb events, %u lines", tlb, lt);
}

/*
 * step with evict: interrupts after any instruction, one in two of them
 * with the eviction of the page the next instruction is fetched from or
 * its stack page; the access after ERESUME faults and the driver loads
 * the page back.  The loop's result shows every register survived.
 */
static void setup_step_evict(void)
{
	setenv(SGXEMU_ENV_CHAOS, "9:step=37,evict=2,quiet", 1);
	native_setup();
}

Test(chaos, step_interrupts_evict_the_pages_the_next_instruction_needs, .init = setup_step_evict)
{
	struct exec_stats s0, s1;
	exec_get_stats(&s0);
	struct sgx_enclave_run run;
	native_enter(0, OP_NOTIFY_LOOP, 300, 0, 0x5EED, &run);
	native_assert_eexit(&run);
	exec_get_stats(&s1);
	cr_assert_eq(nout[0][0], regloop(300, 0x5EED), "the loop's registers after the interrupts");
	cr_assert_gt(s1.chaos_steps - s0.chaos_steps, 50, "%llu step interrupts",
		     (unsigned long long)(s1.chaos_steps - s0.chaos_steps));
	cr_assert_gt(s1.chaos_evictions - s0.chaos_evictions, 10, "%llu evictions",
		     (unsigned long long)(s1.chaos_evictions - s0.chaos_evictions));
}
