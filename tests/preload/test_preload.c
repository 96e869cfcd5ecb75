/* SPDX-License-Identifier: MIT */
/*
 * Unmodified SGX programs under `sgxemu run` (docs/preload.md): the host
 * program (host.c, built with the system's cc, and again with clang when
 * it is installed) and its raw enclave run every scenario through the
 * preload library; the options of `sgxemu run` reach them; stderr carries
 * exactly the messages expected (none in a scenario that uses only what is
 * modelled).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/prctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct out {
	int status; /* exit status, or 128 + signal */
	char out[16384], err[65536];
};

static void slurp(int fd, char *buf, size_t len)
{
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

/* Run argv (NULL-terminated) with extra environment "NAME=value" entries; collect its output. */
static void run_argv(char *const argv[], const char *const env[], struct out *o)
{
	int fo = memfd_create("out", 0), fe = memfd_create("err", 0);
	cr_assert(fo >= 0 && fe >= 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		/* A test that times out is killed: sgxemu run, and through it the program, go too. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fo, 1);
		dup2(fe, 2);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], argv);
		_exit(99);
	}
	int status;
	cr_assert(waitpid(pid, &status, 0) == pid);
	o->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	slurp(fo, o->out, sizeof(o->out));
	slurp(fe, o->err, sizeof(o->err));
}

/* sgxemu run OPTS -- HOST ENCLAVE KEY SCENARIO [ARG] */
static void run_host(const char *host, const char *const opts[], const char *scenario, const char *arg, struct out *o)
{
	char *argv[24];
	size_t n = 0;
	argv[n++] = (char *)SGXEMU_BIN;
	argv[n++] = "run";
	for (size_t i = 0; opts && opts[i]; i++)
		argv[n++] = (char *)opts[i];
	argv[n++] = "--";
	argv[n++] = (char *)host;
	argv[n++] = (char *)ENCLAVE;
	argv[n++] = (char *)KEY;
	argv[n++] = (char *)scenario;
	if (arg)
		argv[n++] = (char *)arg;
	argv[n] = NULL;
	run_argv(argv, NULL, o);
}

static const char *host_of(const char *compiler)
{
	if (!strcmp(compiler, "clang")) {
		if (!HOST_CLANG[0])
			cr_skip_test("clang is not installed: the second host program was not built");
		return HOST_CLANG;
	}
	return HOST_CC;
}

/* The scenario passed, and the program said nothing on stderr (nothing unmodelled was used). */
static void expect_clean(const char *compiler, const char *scenario, const char *const opts[], const char *arg)
{
	struct out o;
	run_host(host_of(compiler), opts, scenario, arg, &o);
	char ok[64];
	snprintf(ok, sizeof(ok), "ok %s\n", scenario);
	cr_assert_eq(o.status, 0, "%s %s: status %d\nstdout:\n%s\nstderr:\n%s", compiler, scenario, o.status, o.out,
		     o.err);
	cr_assert_str_eq(o.out, ok);
	cr_assert_str_eq(o.err, "", "%s %s: unexpected stderr:\n%s", compiler, scenario, o.err);
}

/* The scenario passed and stderr has each of the messages. */
static void expect_messages(const char *compiler, const char *scenario, const char *const opts[], const char *arg,
			    const char *const msgs[])
{
	struct out o;
	run_host(host_of(compiler), opts, scenario, arg, &o);
	cr_assert_eq(o.status, 0, "%s %s: status %d\nstdout:\n%s\nstderr:\n%s", compiler, scenario, o.status, o.out,
		     o.err);
	for (size_t i = 0; msgs[i]; i++)
		cr_assert(strstr(o.err, msgs[i]), "%s %s: stderr lacks \"%s\":\n%s", compiler, scenario, msgs[i],
			  o.err);
}

/* Every scenario for both host programs. */
#define CLEAN(name, scenario, opts, arg)                                                                               \
	Test(preload, name##_cc)                                                                                       \
	{                                                                                                              \
		expect_clean("cc", scenario, opts, arg);                                                               \
	}                                                                                                              \
	Test(preload, name##_clang)                                                                                    \
	{                                                                                                              \
		expect_clean("clang", scenario, opts, arg);                                                            \
	}

static const char *const small_epc[] = {"--epc-size=320K", NULL};

CLEAN(build_einit_and_ecall_on_every_tcs, "build", NULL, NULL)
CLEAN(exceptions_reported_in_run_and_resumed, "exceptions", NULL, NULL)
CLEAN(user_handler_after_eexit_and_exception, "user-handler", NULL, NULL)
CLEAN(eaug_on_fault_then_eaccept_in_handler, "eaug-fault", NULL, NULL)
CLEAN(eaccept_of_unadded_page_eaugs_it, "eaug-eaccept", NULL, NULL)
CLEAN(restrict_permissions_then_eaccept_and_emodpe, "emodpr", NULL, NULL)
CLEAN(modify_types_to_tcs_then_enter_it, "emodt-tcs", NULL, NULL)
CLEAN(trim_accept_and_remove_pages, "trim", NULL, NULL)
CLEAN(eacceptcopy_to_rx_then_execute, "eacceptcopy", NULL, NULL)
CLEAN(four_threads_in_one_enclave, "threads", NULL, NULL)
CLEAN(more_pages_than_the_epc, "small-epc", small_epc, "256")
CLEAN(programs_own_fault_handlers_keep_their_faults, "sigsegv", NULL, NULL)
CLEAN(vdso_image_found_by_hand_written_parser, "vdso", NULL, NULL)
CLEAN(cpuid_leaf_0x12_reports_the_default_epc, "cpuid", NULL, "0x8000000")
CLEAN(cpuid_query_leaves_sgx_to_a_forked_child, "cpuid-then-fork", NULL, NULL)
CLEAN(a_signal_handler_interrupts_an_ecall_that_then_completes, "signal-handler", NULL, NULL)
CLEAN(bad_arguments_fail_as_on_linux_and_change_nothing, "bad-args", NULL, NULL)

Test(preload, library_constructor_gets_the_vdso_image_main_gets)
{
	/* Intel's urts looks __vdso_sgx_enter_enclave up from a constructor run before the preload library's. */
	struct out o;
	run_host(HOST_AUXV_CTOR, NULL, "auxv-ctor", NULL, &o);
	cr_assert_eq(o.status, 0, "status %d\nstdout:\n%s\nstderr:\n%s", o.status, o.out, o.err);
	cr_assert_str_eq(o.out, "ok auxv-ctor\n");
	cr_assert_str_eq(o.err, "");
}

/* `timeout -s SIG 1 sgxemu run -- HOST spin`: the signal's default action ends the spinning enclave. */
static void timeout_ends_spin(const char *compiler, const char *sig)
{
	char *argv[] = {"/usr/bin/timeout", "-s",	 (char *)sig, "1",
			(char *)SGXEMU_BIN, "run",	 "--",	      (char *)host_of(compiler),
			(char *)ENCLAVE,    (char *)KEY, "spin",      NULL};
	struct out o;
	run_argv(argv, NULL, &o);
	cr_assert_str_eq(o.out, "spinning\n", "%s: stdout:\n%s\nstderr:\n%s", compiler, o.out, o.err);
	cr_assert_eq(o.status, 124, "%s: timeout's status %d (124: it had to send %s, which ended the program)",
		     compiler, o.status, sig);
}

Test(preload, timeout_sigterm_ends_a_spinning_ecall_cc)
{
	timeout_ends_spin("cc", "TERM");
}

Test(preload, timeout_sigint_ends_a_spinning_ecall_cc)
{
	timeout_ends_spin("cc", "INT");
}

Test(preload, timeout_sigterm_ends_a_spinning_ecall_clang)
{
	timeout_ends_spin("clang", "TERM");
}

/* What the host CPU itself answers, in the format of cpuid_raw.c and the host's cpuid-print. */
static void real_cpuid_line(char *buf, size_t len)
{
	unsigned l7[4], l12[4] = {0}, l0[4];
	__asm__ volatile("cpuid" : "=a"(l0[0]), "=b"(l0[1]), "=c"(l0[2]), "=d"(l0[3]) : "a"(0), "c"(0));
	__asm__ volatile("cpuid" : "=a"(l7[0]), "=b"(l7[1]), "=c"(l7[2]), "=d"(l7[3]) : "a"(7), "c"(0));
	if (l0[0] >= 0x12)
		__asm__ volatile("cpuid" : "=a"(l12[0]), "=b"(l12[1]), "=c"(l12[2]), "=d"(l12[3]) : "a"(0x12), "c"(0));
	snprintf(buf, len, "sgx %u sgx_lc %u leaf12 %#x\n", (l7[1] >> 2) & 1, (l7[2] >> 30) & 1, l12[0]);
}

#define EMULATED_CPUID "sgx 1 sgx_lc 1 leaf12 0x803\n"

TestSuite(preload, .timeout = 60);

Test(preload, cpuid_header_answers_for_the_emulated_machine_only_under_sgxemu)
{
	char real[128], want[160];
	real_cpuid_line(real, sizeof(real));
	struct out o;
	char *direct[] = {(char *)HOST_CC, (char *)ENCLAVE, (char *)KEY, "cpuid-print", NULL};
	run_argv(direct, NULL, &o);
	snprintf(want, sizeof(want), "%sok cpuid-print\n", real);
	cr_assert_eq(o.status, 0, "%s", o.err);
	cr_assert_str_eq(o.out, want);
	run_host(HOST_CC, NULL, "cpuid-print", NULL, &o);
	cr_assert_eq(o.status, 0, "%s", o.err);
	cr_assert_str_eq(o.out, EMULATED_CPUID "ok cpuid-print\n");
}

/* Does this CPU and kernel offer CPUID faulting?  (Tried in a child: the setting sticks to the thread.) */
static bool have_cpuid_faulting(void)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		_exit(syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) == 0 ? 0 : 1);
	int status;
	cr_assert(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Test(preload, unmodified_cpuid_sees_the_emulated_machine_with_cpuid_faulting)
{
	if (!have_cpuid_faulting())
		cr_skip_test("no CPUID faulting here (arch_prctl(ARCH_SET_CPUID) fails): an unmodified CPUID sees the "
			     "host CPU; programs built with -include sgxemu/cpuid.h see the emulated leaves");
	char *argv[] = {(char *)SGXEMU_BIN, "run", "--", (char *)CPUID_RAW, NULL};
	struct out o;
	run_argv(argv, NULL, &o);
	cr_assert_eq(o.status, 0, "%s", o.err);
	cr_assert_str_eq(o.out, EMULATED_CPUID);
}

/* Enclave code's CPUID: #UD as on hardware where CPUID faulting makes it trap, native where it does not. */
Test(preload, enclave_cpuid_is_ud_with_cpuid_faulting)
{
	if (!have_cpuid_faulting())
		cr_skip_test("no CPUID faulting here (arch_prctl(ARCH_SET_CPUID) fails): enclave code's CPUID runs "
			     "natively (the test enclave_cpuid_runs_natively_in_header_mode covers that)");
	expect_clean("cc", "enclave-cpuid", NULL, "ud");
}

static const char *const header_mode[] = {"--cpuid=header", NULL};
Test(preload, enclave_cpuid_runs_natively_in_header_mode)
{
	expect_clean("cc", "enclave-cpuid", header_mode, "native");
}

Test(preload, cpuid_header_mode_leaves_the_instruction_to_the_host)
{
	char real[128];
	real_cpuid_line(real, sizeof(real));
	char *argv[] = {(char *)SGXEMU_BIN, "run", "--cpuid=header", "--", (char *)CPUID_RAW, NULL};
	struct out o;
	run_argv(argv, NULL, &o);
	cr_assert_eq(o.status, 0, "%s", o.err);
	cr_assert_str_eq(o.out, real);
}

static const char *const epc64[] = {"--epc-size=64M", NULL};
Test(preload, cpuid_leaf_0x12_reports_the_epc_size_option)
{
	expect_clean("cc", "cpuid", epc64, "0x4000000");
}

static const char *const epc32[] = {"--epc-size", "32M", NULL};
Test(preload, settings_survive_execve_with_an_empty_environment)
{
	/* The child (the host again, scenario cpuid) checks that it sees a 32 MiB EPC. */
	struct out o;
	run_host(HOST_CC, epc32, "exec-settings", "0x2000000", &o);
	cr_assert_eq(o.status, 0, "%s%s", o.out, o.err);
	cr_assert_str_eq(o.out, "ok cpuid\nok cpuid\nok exec-settings\n");
	cr_assert_str_eq(o.err, "");
}

static const char *const device_msgs[] = {
    "ioctl 0xa442 on /dev/sgx_enclave is not an SGX driver ioctl: ENOTTY",
    "dup2 onto fd ",
    ", which the program closed while copies of that device fd are open: not modelled, EBUSY",
    NULL,
};
Test(preload, device_nodes_fds_dup_and_provision)
{
	expect_messages("cc", "device", NULL, NULL, device_msgs);
}
Test(preload, device_nodes_fds_dup_and_provision_clang)
{
	expect_messages("clang", "device", NULL, NULL, device_msgs);
}

static const char *const fork_msgs[] = {
    "ioctl SGX_IOC_ENCLAVE_REMOVE_PAGES on a device fd inherited through fork or execve",
    "__vdso_sgx_enter_enclave in a process forked from the one that built the enclave", "forked from one that used SGX",
    NULL};
Test(preload, fork_child_gets_no_enclave)
{
	expect_messages("cc", "fork", NULL, NULL, fork_msgs);
}
Test(preload, fork_child_gets_no_enclave_clang)
{
	expect_messages("clang", "fork", NULL, NULL, fork_msgs);
}

static const char *const stale_msgs[] = {"ioctl SGX_IOC_ENCLAVE_CREATE on a device fd inherited through fork or execve",
					 NULL};
Test(preload, device_fd_kept_across_execve_is_reported)
{
	expect_messages("cc", "exec-stale", NULL, NULL, stale_msgs);
}

static const char *const error_msgs[] = {"mremap growing the enclave mapping",
					 "mremap moving the enclave mapping",
					 "madvise advice 14 on the enclave mapping",
					 "ioctl 0xc008a433 on /dev/sgx_enclave is not an SGX driver ioctl: ENOTTY",
					 "process_vm_readv/writev of enclave memory is not modelled",
					 NULL};
Test(preload, unmodelled_calls_fail_with_a_message)
{
	expect_messages("cc", "errors", NULL, NULL, error_msgs);
}

/* ---- the options of sgxemu run --------------------------------------------------------------- */

static const char *const trace_opts[] = {"--trace", NULL};
static const char *const trace_msgs[] = {
    "] open(/dev/sgx_enclave) = ",
    ", SGX_IOC_ENCLAVE_CREATE) = 0 errno 0",
    ", SGX_IOC_ENCLAVE_ADD_PAGES, offset 0x0 length 0x1000 flags 0x1) = 0 errno 0, count 0x1000",
    ", SGX_IOC_ENCLAVE_INIT) = 0 errno 0",
    "mmap(0x0, 0x800000, ---, flags 0x1, ",
    "munmap(",
    ") -> fixed",
    NULL};
Test(preload, trace_prints_ioctls_mmaps_and_faults)
{
	expect_messages("cc", "build", trace_opts, NULL, trace_msgs);
}

/* Bad pointers reach the trace too: the struct is not read, the line says so. */
static const char *const trace_bad_msgs[] = {
    ", SGX_IOC_ENCLAVE_ADD_PAGES, 0x0: struct not readable) = -1 errno 14",
    ", SGX_IOC_ENCLAVE_MODIFY_TYPES, 0xffffffff81000000: struct not readable) = -1 errno 14",
    ", SGX_IOC_ENCLAVE_PROVISION) = -1 errno 14",
    "with MAP_FIXED over an enclave mapping = 0xffffffffffffffff errno 9",
    "with MAP_FIXED over an enclave mapping = 0xffffffffffffffff errno 19",
    "0x1000) with MAP_FIXED over an enclave mapping = 0x",
    NULL};
Test(preload, trace_of_ioctls_with_bad_pointers)
{
	expect_messages("cc", "bad-args", trace_opts, NULL, trace_bad_msgs);
}

static unsigned long field(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	cr_assert(p, "no \"%s\" in:\n%s", key, text);
	return strtoul(p + strlen(key), NULL, 10);
}

static const char *const summary_opts[] = {"--summary", NULL};
Test(preload, summary_counts_enclaves_pages_and_ioctls)
{
	struct out o;
	run_host(HOST_CC, summary_opts, "build", NULL, &o);
	cr_assert_eq(o.status, 0, "%s%s", o.out, o.err);
	cr_assert(strstr(o.err, "sgxemu: summary of process "), "%s", o.err);
	cr_assert(strstr(o.err, "enclaves  created 1, initialised 1\n"), "%s", o.err);
	unsigned long added = field(o.err, "pages     added ");
	cr_assert_gt(added, 40);
	/* One page per ADD_PAGES call; the TCSs and the code faulted in through the driver. */
	cr_assert_eq(field(o.err, "ADD_PAGES "), added, "%s", o.err);
	cr_assert(strstr(o.err, "ioctls    CREATE 1, ADD_PAGES "), "%s", o.err);
	cr_assert(strstr(o.err, ", INIT 1 (0 failed)\n"), "%s", o.err);
	cr_assert_gt(field(o.err, "handled by the driver: "), 0);
	cr_assert_eq(field(o.err, "evicted "), 0);
}

static const char *const small_summary[] = {"--epc-size=320K", "--summary", NULL};
Test(preload, summary_shows_eviction_under_a_small_epc)
{
	struct out o;
	run_host(HOST_CC, small_summary, "small-epc", "256", &o);
	cr_assert_eq(o.status, 0, "%s%s", o.out, o.err);
	cr_assert_str_eq(o.out, "ok small-epc\n");
	cr_assert_geq(field(o.err, "EAUG'd "), 256, "%s", o.err);
	cr_assert_gt(field(o.err, "evicted "), 0, "%s", o.err);
	cr_assert_gt(field(o.err, "reloaded "), 0, "%s", o.err);
	cr_assert(strstr(o.err, "(EPC 320 KiB, dynamic page policy rwx)"), "%s", o.err);
}

static const char *const policy_rw[] = {"--policy=rw", NULL};
Test(preload, policy_option_reaches_the_driver)
{
	/* Dynamic pages may not become executable under the rw policy: the scenario's mprotect fails. */
	struct out o;
	run_host(HOST_CC, policy_rw, "eacceptcopy", NULL, &o);
	cr_assert_eq(o.status, 1, "%s%s", o.out, o.err);
	cr_assert(strstr(o.out, "FAIL eacceptcopy: ") && strstr(o.out, "!fl_.fix_failed (errno 13: Permission denied)"),
		  "%s", o.out);
}

Test(preload, program_without_sgx_runs_unchanged)
{
	/* ... and sees the device nodes, as on a machine with SGX (ls forks and execs under the shell). */
	char *argv[] = {(char *)SGXEMU_BIN,
			"run",
			"--",
			"/bin/sh",
			"-c",
			"echo hello; ls -l /dev/sgx_enclave /dev/sgx_provision | cut -c1-30",
			NULL};
	struct out o;
	run_argv(argv, NULL, &o);
	cr_assert_eq(o.status, 0, "%s", o.err);
	cr_assert_str_eq(o.out, "hello\ncrw-rw-rw- 1 root root 10, 125\ncrw-rw-rw- 1 root root 10, 126\n");
	cr_assert_str_eq(o.err, "");
}

/* The state letter of /proc/PID/stat ('Z' a zombie), or 0 when the process is gone. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* The first child of pid, from /proc/PID/task/PID/children; 0 while it has none. */
static pid_t first_child(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int c = 0;
	if (fscanf(f, "%d", &c) != 1)
		c = 0;
	fclose(f);
	return (pid_t)c;
}

Test(preload, the_program_ends_when_sgxemu_run_is_killed, .timeout = 20)
{
	/* --summary keeps sgxemu run as the program's parent; SIGKILL cannot be forwarded to it. */
	char *argv[] = {(char *)SGXEMU_BIN, "run", "--summary", "--", "/bin/sleep", "30", NULL};
	/* Killed, sgxemu run leaves its report directory behind: in a directory of this test's own. */
	char tmp[] = "/tmp/sgxemu-test-XXXXXX";
	cr_assert(mkdtemp(tmp));
	pid_t run = fork();
	cr_assert(run >= 0);
	if (run == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		setenv("TMPDIR", tmp, 1);
		execv(argv[0], argv);
		_exit(99);
	}
	pid_t prog = 0;
	for (int i = 0; i < 500 && !prog; i++) {
		prog = first_child(run);
		if (!prog)
			usleep(10000);
	}
	cr_assert(prog > 0, "sgxemu run started no program (or /proc has no children lists)");
	cr_assert_eq(kill(run, SIGKILL), 0);
	int status;
	cr_assert_eq(waitpid(run, &status, 0), run);
	char st = 'S';
	for (int i = 0; i < 500 && st && st != 'Z'; i++) {
		usleep(10000);
		st = proc_state(prog);
	}
	if (st && st != 'Z')
		kill(prog, SIGKILL);
	DIR *d = opendir(tmp);
	for (struct dirent *e; d && (e = readdir(d));) {
		char sub[sizeof(tmp) + 256];
		snprintf(sub, sizeof(sub), "%s/%s", tmp, e->d_name);
		if (e->d_name[0] != '.')
			rmdir(sub); /* the report directory sgxemu run made, empty: the program wrote no report */
	}
	if (d)
		closedir(d);
	rmdir(tmp);
	cr_assert(!st || st == 'Z', "the program (pid %d, state %c) outlived sgxemu run", (int)prog, st);
}

Test(preload, run_usage_errors)
{
	struct out o;
	char *bad_size[] = {(char *)SGXEMU_BIN, "run", "--epc-size=lots", "--", "/bin/true", NULL};
	run_argv(bad_size, NULL, &o);
	cr_assert_eq(o.status, 2);
	cr_assert(strstr(o.err, "sgxemu run: --epc-size=lots: expected a size in bytes (suffix K, M or G)"), "%s",
		  o.err);
	char *bad_policy[] = {(char *)SGXEMU_BIN, "run", "--policy=open", "/bin/true", NULL};
	run_argv(bad_policy, NULL, &o);
	cr_assert_eq(o.status, 2);
	cr_assert(strstr(o.err, "--policy=open: expected rw, wx-exclusive or rwx"), "%s", o.err);
	char *none[] = {(char *)SGXEMU_BIN, "run", "--trace", NULL};
	run_argv(none, NULL, &o);
	cr_assert_eq(o.status, 2);
	cr_assert(strstr(o.err, "no program to run"), "%s", o.err);
	char *missing[] = {(char *)SGXEMU_BIN, "run", "--", "/nonexistent/program", NULL};
	run_argv(missing, NULL, &o);
	cr_assert_eq(o.status, 127);
	cr_assert(strstr(o.err, "sgxemu run: /nonexistent/program: No such file or directory"), "%s", o.err);
	const char *nolib[] = {"SGXEMU_PRELOAD=/nonexistent/libsgxemu-preload.so", NULL};
	char *prog[] = {(char *)SGXEMU_BIN, "run", "/bin/true", NULL};
	run_argv(prog, nolib, &o);
	cr_assert_eq(o.status, 1);
	cr_assert(strstr(o.err, "SGXEMU_PRELOAD=/nonexistent/libsgxemu-preload.so: No such file or directory"), "%s",
		  o.err);
}

Test(preload, bad_setting_in_the_environment_is_named)
{
	/* The library refuses to start the emulator and says why; the device is absent for the program. */
	const char *env[] = {"SGXEMU_EPC_SIZE=lots", NULL};
	char *argv[] = {(char *)SGXEMU_BIN, "run", "--", (char *)HOST_CC, (char *)ENCLAVE, (char *)KEY, "build", NULL};
	struct out o;
	run_argv(argv, env, &o);
	cr_assert_eq(o.status, 1, "%s%s", o.out, o.err);
	cr_assert(strstr(o.err, "sgxemu: cannot start the emulated SGX system: SGXEMU_EPC_SIZE=lots: expected a size"),
		  "%s", o.err);
	cr_assert(strstr(o.out, "FAIL build: ") && strstr(o.out, "errno 19"), "%s", o.out);
}
