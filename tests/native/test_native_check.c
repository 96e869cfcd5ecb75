/* SPDX-License-Identifier: MIT */
/*
 * The EDMM protocol checker (SGXEMU_CHECK=1, docs/chaos.md): each mistake
 * hardware does not reliably punish is reported once, at the access that
 * shows it, and the correct flow next to it stays silent.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "exec.h"
#include "native.h"

static uint64_t reports(void)
{
	struct exec_stats s;
	exec_get_stats(&s);
	return s.check_reports;
}

static void setup_check(void)
{
	setenv(SGXEMU_ENV_CHECK, "1", 1);
	native_setup();
}

TestSuite(check, .init = setup_check, .fini = native_teardown, .timeout = 60);

/* A page accepted RW with a word written, then restricted to R by the driver. */
static uint64_t restricted_page(uint64_t n)
{
	uint64_t page = devos_dyn(n);
	native_accept_rw(0, page);
	native_write(0, page + 0x10, 0xAB);
	struct sgx_enclave_restrict_permissions a;
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, SI_R, &a));
	return page;
}

Test(check, an_access_under_a_restriction_never_accepted)
{
	uint64_t page = restricted_page(0);
	cr_assert_eq(reports(), 0);
	cr_assert_eq(native_read(0, page + 0x10), 0xAB, "the read works (PR does not block it)");
	/* The read, then the EEXIT that leaves the thread's own restriction unaccepted. */
	cr_assert_eq(reports(), 2, "the read under the unaccepted restriction is reported");
	cr_assert_eq(native_read(0, page + 0x18), 0);
	cr_assert_eq(reports(), 2, "once per restriction");
	/* Accepted now, and restricted again: reported again at the next access (and exit). */
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	struct sgx_enclave_restrict_permissions a;
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, SI_R, &a));
	cr_assert_eq(native_read(0, page + 0x10), 0xAB);
	cr_assert_eq(reports(), 4);
}

Test(check, an_access_after_the_restriction_was_accepted_is_silent)
{
	uint64_t page = restricted_page(1);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	cr_assert_eq(native_read(0, page + 0x10), 0xAB);
	struct sgx_enclave_run run;
	native_fault(1, OP_WRITE, page + 0x10, 0xCD, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, page);
	cr_assert_eq(reports(), 0, "a write the EPCM refuses is hardware's #PF, not a protocol mistake");
}

Test(check, a_trimmed_page_touched)
{
	uint64_t page = devos_dyn(2);
	native_accept_rw(0, page);
	struct sgx_enclave_modify_types m;
	native_assert_ok(native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_TRIM, &m));
	struct sgx_enclave_run run;
	native_fault(1, OP_READ, page + 0x40, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, page);
	/* The touch, then the exit of the thread whose MODIFY_TYPES is not accepted yet. */
	cr_assert_eq(reports(), 2, "touched while being trimmed");
	cr_assert_eq(native_eaccept(0, page, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED), 0);
	native_fault(1, OP_READ, page + 0x40, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, page);
	cr_assert_eq(reports(), 3, "touched after its EACCEPT");
}

Test(check, a_trim_flow_without_a_touch_is_silent)
{
	uint64_t page = devos_dyn(3);
	native_accept_rw(0, page);
	struct sgx_enclave_modify_types m;
	native_assert_ok(native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_TRIM, &m));
	cr_assert_eq(native_eaccept(0, page, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED), 0);
	struct sgx_enclave_remove_pages r;
	native_assert_ok(native_remove(native_off(page), SGX_PAGE_SIZE, &r));
	cr_assert_eq(reports(), 0);
}

/* Restricted to R and accepted, mprotected R, then EMODPE W: the enclave may write once the mapping allows it. */
static uint64_t extended_page(uint64_t n)
{
	uint64_t page = restricted_page(n);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ));
	native_op(0, OP_EMODPE, page, SGX_SECINFO_W, 0);
	return page;
}

Test(check, an_emodpe_without_the_mprotect)
{
	uint64_t page = extended_page(4);
	struct sgx_enclave_run run;
	native_fault(1, OP_WRITE, page + 0x10, 0xCD, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U, page);
	cr_assert_eq(reports(), 1, "the write the EPCM allows and the mapping refuses is reported");
}

Test(check, an_emodpe_with_the_mprotect_is_silent)
{
	uint64_t page = extended_page(5);
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE));
	native_write(0, page + 0x10, 0xCD);
	cr_assert_eq(native_read(0, page + 0x10), 0xCD);
	cr_assert_eq(reports(), 0);
}

/* Off by default: the same mistake, nothing reported, and the page stays mapped as the EPCM says. */
TestSuite(check_off, .init = native_setup, .fini = native_teardown, .timeout = 60);

Test(check_off, nothing_is_reported_without_the_setting)
{
	uint64_t page = restricted_page(6);
	cr_assert_eq(native_read(0, page + 0x10), 0xAB);
	cr_assert_eq(reports(), 0);
}

/*
 * SSA frames exhausted: the enclave's handler (CSSA 1 of NSSA 2) faults
 * itself, writing its record to an address with nothing mapped; that
 * exception takes the last frame.  A user handler that re-enters for the
 * first exception only, as the SDK's urts does.
 */
struct two_faults {
	unsigned exceptions, resumes;
	struct sgx_enclave_run second;
};

static int reenter_once(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rdi, (void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct two_faults *f = (struct two_faults *)(uintptr_t)run->user_data;
	if (run->function == ENCLU_EEXIT)
		return f->exceptions > f->resumes++ ? ENCLU_ERESUME : 0;
	if (++f->exceptions == 2)
		f->second = *run;
	return f->exceptions == 1 ? ENCLU_EENTER : 0;
}

static void handler_faults_inside(unsigned slot, uint64_t record_to)
{
	native_op(slot, OP_SET_HANDLER, HANDLER_SKIP, 2, record_to);
	struct two_faults f = {0};
	struct sgx_enclave_run run = {.tcs = devos_tcs(slot),
				      .user_handler = (uint64_t)(uintptr_t)reenter_once,
				      .user_data = (uint64_t)(uintptr_t)&f};
	int r = sgxemu_call_enclave(OP_UD2, 0, 0, ENCLU_EENTER, 0, (unsigned long)(uintptr_t)nout[slot], &run);
	cr_assert_eq(r, 0);
	cr_assert_eq(f.exceptions, record_to == 0x1000 ? 2u : 1u, "%u exceptions", f.exceptions);
}

Test(check, ssa_frames_exhausted_by_an_exception_in_the_handler)
{
	handler_faults_inside(2, 0x1000);
	cr_assert_eq(reports(), 1, "the handler's own #PF took the last SSA frame");
}

Test(check, an_exception_handled_with_a_frame_to_spare_is_silent)
{
	handler_faults_inside(2, (uint64_t)(uintptr_t)hrec[2]);
	cr_assert_eq(reports(), 0);
}

/* Each report is also an event of the trace file (SGXEMU_TRACE_FILE): "check", with the message, page and rip. */
static char trace_dir[PATH_MAX];

static void setup_check_trace(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(trace_dir, sizeof(trace_dir), "%s/sgxemu-check-trace-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(trace_dir));
	char setting[PATH_MAX + 32];
	snprintf(setting, sizeof(setting), "%s/trace-%%p.json", trace_dir);
	setenv(SGXEMU_ENV_TRACE_FILE, setting, 1);
	setup_check();
}

/* The trace directory goes whatever the test found (a failed assertion ends the test early). */
static void teardown_check_trace(void)
{
	native_teardown();
	DIR *d = opendir(trace_dir);
	if (!d)
		return;
	struct dirent *de;
	char path[PATH_MAX + 300];
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", trace_dir, de->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(trace_dir);
}

Test(check_trace, a_report_is_an_event_of_the_trace_file, .init = setup_check_trace, .fini = teardown_check_trace,
     .timeout = 60)
{
	uint64_t page = restricted_page(7);
	cr_assert_eq(native_read(0, page + 0x10), 0xAB);
	cr_assert_eq(reports(), 2, "the read and the exit");
	DIR *d = opendir(trace_dir);
	cr_assert_not_null(d);
	struct dirent *de;
	char path[PATH_MAX + 300] = "";
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "trace-", 6))
			snprintf(path, sizeof(path), "%s/%s", trace_dir, de->d_name);
	closedir(d);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "no trace file in %s", trace_dir);
	static char trace[1 << 22];
	size_t n = fread(trace, 1, sizeof(trace) - 1, f);
	trace[n] = 0;
	fclose(f);
	unlink(path);
	rmdir(trace_dir);
	const char *ev = strstr(trace, "\"name\":\"check\"");
	cr_assert_not_null(ev, "no check event in the trace");
	char want[64];
	snprintf(want, sizeof(want), "\"page\":\"%#llx\"", (unsigned long long)page);
	const char *end = strchr(ev, '\n');
	cr_assert(strstr(ev, "restriction to R was never EACCEPTed") && strstr(ev, want) &&
		      (!end || strstr(ev, want) < end),
		  "%.300s", ev);
}

/* ---- what the enclave asked for: EACCEPT of another thread's change, leaving with one's own open ---- */

struct request {
	int which; /* 0: RESTRICT_PERMISSIONS to R, 1: AUGMENT_PAGES */
	uint64_t page;
};

/* Another host thread, which never enters the enclave, changes the page: the OS acting on its own. */
static void *request_thread(void *arg)
{
	struct request *r = arg;
	if (r->which == 0) {
		struct sgx_enclave_restrict_permissions a;
		native_assert_ok(native_restrict(native_off(r->page), SGX_PAGE_SIZE, SI_R, &a));
	} else {
		struct sgx_enclave_augment_pages a;
		native_assert_ok(native_augment(native_off(r->page), SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &a));
	}
	return NULL;
}

static void request_from_another_thread(int which, uint64_t page)
{
	struct request r = {.which = which, .page = page};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, request_thread, &r), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
}

Test(check, an_eaccept_of_a_restriction_another_thread_made)
{
	uint64_t page = devos_dyn(20);
	native_accept_rw(0, page);
	request_from_another_thread(0, page);
	cr_assert_eq(reports(), 0, "nobody inside asked, nobody left");
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	cr_assert_eq(reports(), 1, "accepted without having asked");
}

Test(check, an_eaccept_of_a_page_another_thread_augmented)
{
	uint64_t page = devos_dyn(21);
	request_from_another_thread(1, page);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PENDING | SI_RW)), 0);
	cr_assert_eq(reports(), 1);
	/* Its own request, accepted before it leaves: silent. */
	uint64_t mine = devos_dyn(22);
	struct sgx_enclave_augment_pages a;
	native_assert_ok(native_augment(native_off(mine), SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &a));
	cr_assert_eq(native_eaccept(0, mine, SECINFO_REG(SGX_SECINFO_PENDING | SI_RW)), 0);
	cr_assert_eq(reports(), 1);
}

Test(check, leaving_with_its_own_requests_unaccepted)
{
	uint64_t a = devos_dyn(23), b = devos_dyn(24);
	struct sgx_enclave_augment_pages aug;
	native_assert_ok(native_augment(native_off(a), 2 * SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &aug));
	cr_assert_eq(b, a + SGX_PAGE_SIZE);
	/* The thread enters, accepts one of its two pages and leaves: the other is reported, once. */
	cr_assert_eq(native_eaccept(0, a, SECINFO_REG(SGX_SECINFO_PENDING | SI_RW)), 0);
	cr_assert_eq(reports(), 1, "left with its AUGMENT_PAGES of b pending");
	cr_assert_eq(native_eaccept(0, b, SECINFO_REG(SGX_SECINFO_PENDING | SI_RW)), 0);
	cr_assert_eq(reports(), 1, "each change once");
}

Test(check, another_threads_open_request_is_not_this_threads_exit)
{
	uint64_t page = devos_dyn(25);
	request_from_another_thread(1, page);
	native_op(0, OP_ECHO, 1, 2, 3);
	cr_assert_eq(reports(), 0, "the page is pending, but this thread did not ask for it");
}
