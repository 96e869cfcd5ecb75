/* SPDX-License-Identifier: MIT */
/*
 * The loader (src/sdk/loader.c) and the runtime (runtime/) together: the
 * test enclave (tests/loader/enclave) is built with the runtime, imaged and
 * signed by the sdk, loaded through the emu backend and called: ECALL
 * results and arguments, OCALLs with nested ECALLs, rt_print, exceptions
 * handled and not, self-relocation, the heap, threads on a TCS pool, the
 * attestation leaves, the memory manager's OCALLs, the debuggers' list, and
 * the loader's errors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "crypto.h"
#include "enclave/abi.h"
#include "loader.h"
#include "sgxemu/sgxemu.h"
#include "sigstruct.h"

/* ---- fixture: the enclave, its OCALLs, captured output ---- */

static struct sdk_image *img;
static struct sgx_sigstruct sig;
static struct sdk_enclave *encl;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_lines[16][64];
static unsigned log_n;
static char out_text[2][2048]; /* fd 1, fd 2 */
static size_t out_len[2];
static uint32_t ocall_mxcsr;
static int nested_tcs = -2;

static struct crypto_rsa *test_key(void)
{
	static struct crypto_rsa *k;
	if (k)
		return k;
	FILE *f = fopen(TEST_KEY_PATH, "r");
	cr_assert(f, "%s: %s", TEST_KEY_PATH, strerror(errno));
	char pem[4096];
	size_t n = fread(pem, 1, sizeof(pem), f);
	fclose(f);
	char err[128] = "";
	k = crypto_rsa_from_pem(pem, n, err, sizeof(err));
	cr_assert(k, "%s: %s", TEST_KEY_PATH, err);
	return k;
}

static int64_t oc_triple(struct sdk_enclave *e, void *ctx, void *data, uint64_t len)
{
	(void)e;
	(void)ctx;
	struct oc_triple *t = data;
	if (len != sizeof(*t))
		return -EINVAL;
	__asm__ volatile("stmxcsr %0" : "=m"(ocall_mxcsr));
	t->out = t->in * 3;
	for (size_t i = 0; i < sizeof(t->text) && t->text[i]; i++)
		if (t->text[i] >= 'a' && t->text[i] <= 'z')
			t->text[i] = (char)(t->text[i] - 'a' + 'A');
	return 77;
}

static int64_t oc_nest(struct sdk_enclave *e, void *ctx, void *data, uint64_t len)
{
	(void)ctx;
	uint64_t index;
	if (len != sizeof(index))
		return -EINVAL;
	memcpy(&index, data, sizeof(index));
	int64_t r = 0;
	struct sdk_ecall_info info;
	int rc = sdk_enclave_ecall(e, -1, (uint32_t)index, NULL, 0, &r, &info);
	nested_tcs = info.tcs;
	return rc ? rc - 1000 : r + 1000;
}

static int64_t oc_log(struct sdk_enclave *e, void *ctx, void *data, uint64_t len)
{
	(void)e;
	(void)ctx;
	if (!len || ((char *)data)[len - 1] != '\0')
		return -EINVAL;
	pthread_mutex_lock(&log_lock);
	if (log_n < 16)
		snprintf(log_lines[log_n++], sizeof(log_lines[0]), "%s", (char *)data);
	int64_t n = log_n;
	pthread_mutex_unlock(&log_lock);
	return n;
}

static const sdk_ocall_fn ocalls[OC_COUNT] = {oc_triple, oc_nest, oc_log};

static int64_t capture(void *ctx, int fd, const void *buf, size_t len)
{
	(void)ctx;
	size_t i = fd == 2;
	if (out_len[i] + len >= sizeof(out_text[i]))
		return -ENOSPC;
	memcpy(out_text[i] + out_len[i], buf, len);
	out_len[i] += len;
	return (int64_t)len;
}

static const struct sdk_load_options options = {.ocalls = ocalls, .n_ocalls = OC_COUNT, .write = capture};

static void build_image(struct sdk_config *cfg)
{
	char err[256] = "";
	cr_assert_eq(sdk_image_load(TEST_ENCLAVE_PATH, cfg, &img, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sdk_image_sign(img, test_key(), &sig, err, sizeof(err)), 0, "%s", err);
}

static void start(void)
{
	char err[256] = "";
	cr_assert_eq(sgxemu_start(NULL, err, sizeof(err)), 0, "%s", err);
}

static void config(struct sdk_config *cfg)
{
	sdk_config_default(cfg);
	cfg->n_tcs = 3;
	cfg->nssa = 2;
	cfg->misc_select = SGX_MISC_EXINFO;
	cfg->heap_size = 256 * 1024;
	cfg->stack_size = 64 * 1024;
}

static void setup(void)
{
	struct sdk_config cfg;
	start();
	config(&cfg);
	build_image(&cfg);
	char err[256] = "";
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &sig, &options, &encl, err, sizeof(err)), 0, "%s", err);
}

static void setup_edmm(void)
{
	struct sdk_config cfg;
	start();
	config(&cfg);
	cfg.edmm = true;
	cfg.dyn_size = 64 * 1024;
	cfg.n_dyn_threads = 1;
	build_image(&cfg);
	char err[256] = "";
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &sig, &options, &encl, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	sdk_enclave_destroy(encl);
	encl = NULL;
	sdk_image_free(img);
	img = NULL;
}

/* One ECALL that must complete; returns the ECALL's value. */
static int64_t call(int tcs, uint32_t index, void *arg, uint64_t len)
{
	int64_t ret = 0;
	struct sdk_ecall_info info;
	int rc = sdk_enclave_ecall(encl, tcs, index, arg, len, &ret, &info);
	cr_assert_eq(rc, 0, "ECALL %u on TCS %d: %s (%d)", index, tcs, info.message, rc);
	return ret;
}

static void sites(struct ec_sites *s)
{
	cr_assert_eq(call(-1, EC_SITES, s, sizeof(*s)), 0);
	cr_assert_eq(s->base, sdk_enclave_base(encl));
}

static struct ec_exception last_exception(int tcs)
{
	struct ec_exception x;
	cr_assert_eq(call(tcs, EC_LAST_EXC, &x, sizeof(x)), 0);
	return x;
}

/* ---- ECALLs ---- */

TestSuite(ecall, .init = setup, .fini = teardown, .timeout = 60);

Test(ecall, returns_the_function_value)
{
	struct ec_add a = {40, 2};
	cr_assert_eq(call(-1, EC_ADD, &a, sizeof(a)), 42);
	a = (struct ec_add){-5, -7};
	cr_assert_eq(call(0, EC_ADD, &a, sizeof(a)), -12);
	a = (struct ec_add){INT64_MAX, 0};
	cr_assert_eq(call(2, EC_ADD, &a, sizeof(a)), INT64_MAX);
}

Test(ecall, reads_and_writes_untrusted_arguments)
{
	char buf[] = "abcdef";
	cr_assert_eq(call(-1, EC_REVERSE, buf, 6), 6);
	cr_assert_str_eq(buf, "fedcba");
}

Test(ecall, argument_overlapping_the_enclave_is_refused)
{
	uint64_t base = sdk_enclave_base(encl), size = sdk_enclave_size(encl);
	cr_assert_eq(call(-1, EC_ADD, (void *)(base + 0x1000), 16), -EFAULT);
	cr_assert_eq(call(-1, EC_ADD, (void *)(base - 8), 16), -EFAULT, "straddles the start");
	cr_assert_eq(call(-1, EC_ADD, (void *)(base + size - 8), 16), -EFAULT, "straddles the end");
	cr_assert_eq(call(-1, EC_ADD, (void *)UINT64_MAX, 16), -EFAULT, "wraps around");
}

Test(ecall, index_out_of_range_aborts_with_bad_ecall_and_the_enclave_lives_on)
{
	const uint32_t bad[] = {EC_COUNT, 1000, 0xfffe0000u, SGXEMU_ECALL_FIRST_RESERVED, SGXEMU_ECALL_ORET};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sdk_ecall_info info;
		int64_t ret = 0x77;
		cr_assert_eq(sdk_enclave_ecall(encl, 1, bad[i], NULL, 0, &ret, &info), -ECANCELED, "index %#x", bad[i]);
		cr_assert_eq(info.error, SDK_ECALL_ABORT);
		cr_assert_eq(info.abort_reason, SGXEMU_ABORT_BAD_ECALL, "index %#x: reason %llu", bad[i],
			     (unsigned long long)info.abort_reason);
		cr_assert_eq(ret, 0x77, "no result on an abort");
	}
	struct ec_add a = {1, 2};
	cr_assert_eq(call(1, EC_ADD, &a, sizeof(a)), 3);
}

Test(ecall, on_a_thread_that_left_an_ecall_open_is_busy)
{
	struct ec_add a = {1, 1};
	cr_assert_eq(call(0, EC_RAW_EXIT, NULL, 0), EC_RAW_EXIT_VALUE);
	cr_assert_eq(call(0, EC_ADD, &a, sizeof(a)), SGXEMU_ECALL_EBUSY);
	cr_assert_eq(call(1, EC_ADD, &a, sizeof(a)), 2, "the other threads are unaffected");
}

Test(ecall, runtime_abort_ends_the_enclave)
{
	struct sdk_ecall_info info;
	struct ec_add a = {1, 1};
	cr_assert_eq(sdk_enclave_ecall(encl, 0, EC_ABORT, NULL, 0, NULL, &info), -ECANCELED);
	cr_assert_eq(info.abort_reason, SGXEMU_ABORT_ASSERT);
	for (int tcs = 0; tcs < 3; tcs++) {
		cr_assert_eq(sdk_enclave_ecall(encl, tcs, EC_ADD, &a, sizeof(a), NULL, &info), -ECANCELED);
		cr_assert_eq(info.abort_reason, SGXEMU_ABORT_ASSERT, "every later entry aborts the same way");
	}
}

Test(ecall, entry_resets_control_state_and_exit_restores_the_hosts)
{
	struct ec_state s;
	uint32_t host_mxcsr = 0x7f80, mxcsr_after, saved_mxcsr; /* round toward zero, all masked */
	uint16_t host_fcw = 0x027f, fcw_after, saved_fcw;	/* 53-bit precision */
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(saved_mxcsr), "=m"(saved_fcw));
	__asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(host_mxcsr), "m"(host_fcw));
	int64_t r1 = call(1, EC_STATE, &s, sizeof(s));
	struct ec_ocall o = {.in = 1};
	int64_t r2 = call(1, EC_OCALL, &o, sizeof(o));
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr_after), "=m"(fcw_after));
	__asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(saved_mxcsr), "m"(saved_fcw));
	cr_assert_eq(r1, 0);
	cr_assert_eq(r2, 0);
	cr_assert_eq(s.mxcsr, 0x1f80, "enclave MXCSR %#x", s.mxcsr);
	cr_assert_eq(s.fcw, 0x037f, "enclave FCW %#x", s.fcw);
	cr_assert_eq(s.rflags & ((1u << 18) | (1u << 10)), 0, "AC and DF clear: RFLAGS %#llx",
		     (unsigned long long)s.rflags);
	cr_assert_eq(mxcsr_after, host_mxcsr, "host MXCSR %#x after the ECALL", mxcsr_after);
	cr_assert_eq(fcw_after, host_fcw, "host FCW %#x after the ECALL", fcw_after);
	cr_assert_eq(ocall_mxcsr, host_mxcsr, "the OCALL runs with the host's MXCSR (%#x)", ocall_mxcsr);
	/* The ECALL ran on TCS 1's own stack, per the layout. */
	const struct sgxemu_layout *l = sdk_enclave_layout(encl);
	uint64_t area = l->thread_offset + l->thread_stride;
	cr_assert_eq(s.stack_limit, area + SGXEMU_TA_STACK(l));
	cr_assert_eq(s.stack_top, area + SGXEMU_TA_STACK(l) + l->stack_size);
	cr_assert(s.rsp_offset < s.stack_top && s.rsp_offset > s.stack_top - 4096, "RSP at %#llx",
		  (unsigned long long)s.rsp_offset);
}

Test(ecall, tcs_out_of_range_is_refused)
{
	struct sdk_ecall_info info;
	cr_assert_eq(sdk_enclave_ecall(encl, 3, EC_ADD, NULL, 0, NULL, &info), -EINVAL);
	cr_assert_eq(info.error, SDK_ECALL_TCS);
	cr_assert_str_eq(info.message, "TCS 3: the enclave has 3");
}

/* ---- OCALLs ---- */

TestSuite(ocall, .init = setup, .fini = teardown, .timeout = 60);

Test(ocall, round_trip_copies_the_argument_both_ways)
{
	struct ec_ocall o = {.in = 14};
	cr_assert_eq(call(-1, EC_OCALL, &o, sizeof(o)), 0);
	cr_assert_eq(o.out, 42);
	cr_assert_eq(o.ret, 77);
	cr_assert_str_eq(o.text, "HELLO");
}

Test(ocall, host_function_makes_a_nested_ecall_on_the_same_tcs)
{
	/* 1. EC_NEST on TCS 1 logs, OCALLs OC_NEST; 2. the host ECALLs EC_DEPTH (nested, TCS 1), which logs
	 * through its own OCALL; 3. back in EC_NEST after ORET it logs again. */
	cr_assert_eq(call(1, EC_NEST, NULL, 0), 1000 + 2 * 10 + 1, "nested depth 2 with an OCALL pending");
	cr_assert_eq(nested_tcs, 1);
	cr_assert_eq(log_n, 3);
	cr_assert_str_eq(log_lines[0], "nest: before");
	cr_assert_str_eq(log_lines[1], "depth=2 ocall=1");
	cr_assert_str_eq(log_lines[2], "nest: after");
	/* The TCS is free and at depth 1 again. */
	cr_assert_eq(call(1, EC_DEPTH, NULL, 0), 10);
	cr_assert_str_eq(log_lines[3], "depth=1 ocall=0");
}

Test(ocall, unhandled_exception_of_a_nested_ecall_retires_the_tcs_under_the_outer_one)
{
	struct sdk_ecall_info info;
	cr_assert_eq(sdk_enclave_ecall(encl, 1, EC_NEST, (void *)(uintptr_t)EC_DIV0, 0, NULL, &info), -EBADF);
	cr_assert_eq(info.error, SDK_ECALL_TCS);
	cr_assert(strstr(info.message, "TCS 1 became unusable during OCALL"), "%s", info.message);
	cr_assert_eq(nested_tcs, 1);
	cr_assert_eq(log_n, 1, "the outer ECALL never resumed");
	cr_assert_eq(sdk_enclave_ecall(encl, 1, EC_DEPTH, NULL, 0, NULL, &info), -EBADF);
	cr_assert_eq(call(0, EC_DEPTH, NULL, 0), 10);
}

Test(ocall, abort_while_an_ecall_waits_for_its_ocall_ends_that_ecall_too)
{
	struct sdk_ecall_info info;
	cr_assert_eq(sdk_enclave_ecall(encl, 0, EC_NEST, (void *)(uintptr_t)EC_ABORT, 0, NULL, &info), -ECANCELED);
	cr_assert_eq(info.abort_reason, SGXEMU_ABORT_ASSERT);
	cr_assert_eq(log_n, 1, "the outer ECALL did not run on after the ORET");
	cr_assert_str_eq(log_lines[0], "nest: before");
}

Test(ocall, errors_of_the_runtime_and_unknown_indices)
{
	struct ec_ocall_errors r;
	cr_assert_eq(call(-1, EC_OCALL_ERRORS, &r, sizeof(r)), 0);
	cr_assert_eq(r.too_big, -E2BIG);
	cr_assert_eq(r.bad_ptr, -EINVAL);
	cr_assert_eq(r.null_data, -EFAULT);
	cr_assert_eq(r.unknown, -ENOSYS);
	cr_assert_eq(r.write_result, 4);
	cr_assert_eq(out_len[1], 4);
	cr_assert_eq(memcmp(out_text[1], "err\n", 4), 0);
	cr_assert_eq(log_n, 0, "no refused OCALL reached the host");
}

Test(ocall, rt_print_formats_through_the_write_ocall)
{
	const char *want = "d=-42 i=7 u=4000000000 x=beef X=BEEF lx=123456789abcdef lu=18446744073709551615 zu=12 "
			   "s=str c=Q p=0x1000 pct=% w=[   42] l=[7   ] z=[00000abc] n=[(null)]\n";
	cr_assert_eq(call(-1, EC_PRINT, NULL, 0), (int64_t)strlen(want));
	out_text[0][out_len[0]] = '\0';
	cr_assert_str_eq(out_text[0], want);
}

/* ---- exceptions ---- */

TestSuite(exception, .init = setup, .fini = teardown, .timeout = 60);

Test(exception, handled_in_the_enclave_resumes_after_ud2)
{
	struct ec_sites s;
	sites(&s);
	cr_assert_eq(call(0, EC_HANDLERS, (void *)(uintptr_t)HM_SKIP, 0), 0);
	for (int tcs = 0; tcs < 3; tcs++)
		cr_assert_eq(call(tcs, EC_UD2, NULL, 0), 1, "TCS %d", tcs);
	struct ec_exception x = last_exception(0);
	cr_assert_eq(x.count, 3);
	cr_assert_eq(x.declined, 3, "the first handler was asked first and declined");
	cr_assert_eq(x.vector, X86_UD);
	cr_assert_eq(x.type, SGX_EXITINFO_TYPE_HW);
	cr_assert_eq(x.exinfo, 0, "no EXINFO for #UD");
	cr_assert_eq(x.rip_offset, s.ud2);
	cr_assert_eq(x.ssa, 0);
	cr_assert_eq(x.ocall_result, -EPERM, "no OCALL from a handler");
}

Test(exception, page_fault_handled_with_exinfo)
{
	struct ec_sites s;
	sites(&s);
	cr_assert_eq(call(0, EC_HANDLERS, (void *)(uintptr_t)HM_SKIP, 0), 0);
	cr_assert_eq(call(2, EC_LOAD, (void *)(uintptr_t)(s.guard + 0x10), 0), 0xfa17);
	struct ec_exception x = last_exception(2);
	cr_assert_eq(x.count, 1);
	cr_assert_eq(x.vector, X86_PF);
	cr_assert_eq(x.exinfo, 1);
	cr_assert_eq(x.address, s.base + s.guard + 0x10, "MADDR %#llx", (unsigned long long)x.address);
	cr_assert_eq(x.error_code, PF_U, "a read of a page that is not there: %#x", x.error_code);
	cr_assert_eq(x.rip_offset, s.load);
}

Test(exception, unhandled_is_reported_with_vector_and_rip_and_retires_the_tcs)
{
	struct ec_sites s;
	sites(&s);
	struct sdk_ecall_info info;
	cr_assert_eq(sdk_enclave_ecall(encl, 2, EC_DIV0, NULL, 0, NULL, &info), -EFAULT);
	cr_assert_eq(info.error, SDK_ECALL_EXCEPTION);
	cr_assert_eq(info.tcs, 2);
	cr_assert_eq(info.vector, X86_DE);
	cr_assert_eq(info.rip_offset, s.div0);
	cr_assert_eq(info.host_vector, X86_DE);
	cr_assert(strstr(info.message, "exception vector 0 not handled at enclave offset"), "%s", info.message);
	/* TCS 2 keeps CSSA 1: it is not used again; the others are. */
	cr_assert_eq(sdk_enclave_ecall(encl, 2, EC_SITES, &s, sizeof(s), NULL, &info), -EBADF);
	cr_assert_eq(info.error, SDK_ECALL_TCS);
	struct ec_add a = {2, 3};
	for (int i = 0; i < 8; i++) {
		int64_t ret = 0;
		cr_assert_eq(sdk_enclave_ecall(encl, -1, EC_ADD, &a, sizeof(a), &ret, &info), 0);
		cr_assert_neq(info.tcs, 2);
		cr_assert_eq(ret, 5);
	}
}

Test(exception, declined_by_every_handler_is_unhandled)
{
	struct ec_sites s;
	sites(&s);
	cr_assert_eq(call(0, EC_HANDLERS, (void *)(uintptr_t)HM_SEARCH, 0), 0);
	struct sdk_ecall_info info;
	cr_assert_eq(sdk_enclave_ecall(encl, 1, EC_UD2, NULL, 0, NULL, &info), -EFAULT);
	cr_assert_eq(info.vector, X86_UD);
	cr_assert_eq(info.rip_offset, s.ud2);
	struct ec_exception x = last_exception(0);
	cr_assert_eq(x.count, 1);
	cr_assert_eq(x.declined, 1);
}

Test(exception, unhandled_page_fault_reports_the_address)
{
	struct ec_sites s;
	sites(&s);
	struct sdk_ecall_info info;
	cr_assert_eq(sdk_enclave_ecall(encl, 0, EC_LOAD, (void *)(uintptr_t)s.guard, 0, NULL, &info), -EFAULT);
	cr_assert_eq(info.vector, X86_PF);
	cr_assert_eq(info.rip_offset, s.load);
	cr_assert_eq(info.host_vector, X86_PF);
	cr_assert_eq(info.host_addr, s.base + s.guard);
}

Test(exception, on_a_stack_outside_the_thread_aborts_and_retires_the_tcs)
{
	struct sdk_ecall_info info;
	cr_assert_eq(call(0, EC_HANDLERS, (void *)(uintptr_t)HM_SKIP, 0), 0);
	cr_assert_eq(sdk_enclave_ecall(encl, 1, EC_ALT_STACK, NULL, 0, NULL, &info), -ECANCELED);
	cr_assert_eq(info.error, SDK_ECALL_ABORT);
	cr_assert_eq(info.abort_reason, SGXEMU_ABORT_STACK);
	cr_assert_eq(info.host_vector, X86_UD);
	cr_assert_eq(last_exception(0).count, 0, "no handler ran");
	cr_assert_eq(sdk_enclave_ecall(encl, 1, EC_DEPTH, NULL, 0, NULL, &info), -EBADF, "CSSA stays 1");
}

Test(exception, handled_again_and_again_without_progress_is_cut_off)
{
	struct sdk_ecall_info info;
	cr_assert_eq(call(0, EC_HANDLERS, (void *)(uintptr_t)HM_LOOP, 0), 0);
	cr_assert_eq(sdk_enclave_ecall(encl, 2, EC_UD2, NULL, 0, NULL, &info), -EPROTO);
	cr_assert_eq(info.error, SDK_ECALL_PROTOCOL);
	cr_assert(strstr(info.message, "repeats after the enclave handled it"), "%s", info.message);
	cr_assert_eq(last_exception(0).count, 1000);
	cr_assert_eq(sdk_enclave_ecall(encl, 2, EC_DEPTH, NULL, 0, NULL, &info), -EBADF);
}

/* ---- the runtime's own services ---- */

TestSuite(runtime, .init = setup, .fini = teardown, .timeout = 60);

Test(runtime, self_relocation_resolves_static_pointer_tables)
{
	struct ec_reloc r;
	cr_assert_eq(call(-1, EC_RELOC, &r, sizeof(r)), 0);
	cr_assert_str_eq(r.names[0], "alpha");
	cr_assert_str_eq(r.names[1], "beta");
	cr_assert_str_eq(r.names[2], "gamma");
	cr_assert_eq(r.fn_results[0], 11);
	cr_assert_eq(r.fn_results[1], 20);
	cr_assert_eq(r.fn_results[2], 7);
	cr_assert_eq(r.ctor_ran, 1, "the constructor ran once, after relocation");
}

Test(runtime, second_init_is_refused_and_relocates_nothing_again)
{
	struct sgxemu_init_args args = {0};
	cr_assert_eq(call(1, SGXEMU_ECALL_INIT, &args, sizeof(args)), -EALREADY);
	struct ec_reloc r;
	cr_assert_eq(call(1, EC_RELOC, &r, sizeof(r)), 0);
	cr_assert_str_eq(r.names[2], "gamma");
	cr_assert_eq(r.fn_results[2], 7);
	cr_assert_eq(r.ctor_ran, 1);
}

Test(runtime, heap_allocates_frees_coalesces_and_reallocates)
{
	int64_t step = call(-1, EC_HEAP, NULL, 0);
	cr_assert_eq(step, 0, "heap step %lld failed", (long long)step);
}

Test(runtime, double_free_aborts_the_enclave)
{
	struct sdk_ecall_info info;
	cr_assert_eq(sdk_enclave_ecall(encl, 0, EC_BAD_FREE, NULL, 0, NULL, &info), -ECANCELED);
	cr_assert_eq(info.abort_reason, SGXEMU_ABORT_ASSERT);
}

Test(runtime, ereport_describes_this_enclave)
{
	struct ec_report r;
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 64; i++)
		r.data[i] = (uint8_t)(i * 7);
	cr_assert_eq(call(-1, EC_REPORT, &r, sizeof(r)), 0);
	struct sgx_report rep;
	memcpy(&rep, r.report, sizeof(rep));
	cr_assert_eq(memcmp(rep.mrenclave, img->mrenclave, 32), 0);
	uint8_t mrsigner[32];
	crypto_sha256(sig.modulus, sizeof(sig.modulus), mrsigner);
	cr_assert_eq(memcmp(rep.mrsigner, mrsigner, 32), 0);
	cr_assert_eq(memcmp(rep.report_data, r.data, 64), 0);
	cr_assert_eq(rep.attributes, img->attributes | SGX_ATTR_INIT);
	cr_assert_eq(rep.xfrm, img->xfrm);
	cr_assert_eq(rep.miscselect, img->misc_select);
	cr_assert_eq(rep.isv_prod_id, img->cfg.isv_prod_id);
}

static uint64_t getkey(uint16_t name, uint16_t policy, uint8_t key[16])
{
	struct ec_getkey g;
	memset(&g, 0, sizeof(g));
	struct sgx_keyrequest req;
	memset(&req, 0, sizeof(req));
	req.keyname = name;
	req.keypolicy = policy;
	req.attribute_mask = ~0ULL;
	memcpy(g.request, &req, sizeof(req));
	int64_t r = call(-1, EC_GETKEY, &g, sizeof(g));
	cr_assert_eq((uint64_t)r, g.code);
	memcpy(key, g.key, 16);
	return g.code;
}

Test(runtime, egetkey_derives_stable_keys_and_reports_errors)
{
	static const uint8_t zero[16];
	uint8_t k1[16], k2[16], k3[16], k4[16];
	cr_assert_eq(getkey(SGX_KEY_SEAL, SGX_KEYPOLICY_MRENCLAVE, k1), SGX_SUCCESS);
	cr_assert_eq(getkey(SGX_KEY_SEAL, SGX_KEYPOLICY_MRENCLAVE, k2), SGX_SUCCESS);
	cr_assert_eq(getkey(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER, k3), SGX_SUCCESS);
	cr_assert_eq(memcmp(k1, k2, 16), 0, "the same request gives the same key");
	cr_assert_neq(memcmp(k1, zero, 16), 0);
	cr_assert_neq(memcmp(k1, k3, 16), 0, "another policy gives another key");
	cr_assert_eq(getkey(9, SGX_KEYPOLICY_MRENCLAVE, k4), SGX_INVALID_KEYNAME);
	cr_assert_eq(memcmp(k4, zero, 16), 0, "no key on an error");
}

/* ---- threads ---- */

TestSuite(threads, .init = setup, .fini = teardown, .timeout = 60);

#define THREADS	     4
#define THREAD_CALLS 100

struct worker {
	pthread_t th;
	int tcs; /* -1: the pool */
	unsigned per_tcs[3];
	unsigned failures;
	char why[320];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < THREAD_CALLS; i++) {
		int64_t ret = -1;
		struct sdk_ecall_info info;
		int rc = sdk_enclave_ecall(encl, w->tcs, EC_THREAD, NULL, 0, &ret, &info);
		if (rc || ret < 0 || ret / 1000000 != info.tcs || (w->tcs >= 0 && info.tcs != w->tcs)) {
			if (!w->failures++)
				snprintf(w->why, sizeof(w->why), "rc %d ret %lld tcs %d: %s", rc, (long long)ret,
					 info.tcs, info.message);
			continue;
		}
		w->per_tcs[info.tcs]++;
	}
	return NULL;
}

Test(threads, share_a_pool_of_tcs)
{
	struct worker w[THREADS];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < THREADS; i++) {
		w[i].tcs = -1;
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	}
	unsigned total = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(w[i].th, NULL);
		cr_assert_eq(w[i].failures, 0, "thread %d: %s", i, w[i].why);
		for (int t = 0; t < 3; t++)
			total += w[i].per_tcs[t];
	}
	cr_assert_eq(total, THREADS * THREAD_CALLS);
	/* Each TCS counted the ECALLs completed on it: the same numbers as the host saw. */
	for (int t = 0; t < 3; t++) {
		unsigned seen = 0;
		for (int i = 0; i < THREADS; i++)
			seen += w[i].per_tcs[t];
		cr_assert_eq(call(t, EC_THREAD, NULL, 0), t * 1000000 + seen, "TCS %d", t);
	}
}

Test(threads, each_on_its_own_tcs)
{
	struct worker w[3];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 3; i++) {
		w[i].tcs = i;
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(w[i].th, NULL);
		cr_assert_eq(w[i].failures, 0, "thread %d: %s", i, w[i].why);
		cr_assert_eq(w[i].per_tcs[i], THREAD_CALLS);
	}
}

/* ---- the memory manager's OCALLs ---- */

TestSuite(edmm, .init = setup_edmm, .fini = teardown, .timeout = 60);

Test(edmm, memory_manager_ocalls_drive_the_sgx2_ioctls)
{
	cr_assert(sdk_enclave_augment(encl), "the emu driver has AUGMENT_PAGES");
	cr_assert_eq(sdk_enclave_dyn_prot(encl), PROT_READ | PROT_WRITE);
	struct ec_edmm r;
	cr_assert_eq(call(-1, EC_EDMM, &r, sizeof(r)), 0);
	cr_assert_eq(r.augment, 0);
	cr_assert_eq(r.augment_count, 2 * 4096);
	cr_assert_eq(r.accept[0], SGX_SUCCESS);
	cr_assert_eq(r.accept[1], SGX_SUCCESS);
	cr_assert_eq(r.readback, 0x1234 + 0x5678);
	cr_assert_eq(r.restrict_, 0);
	cr_assert_eq(r.accept_pr, SGX_SUCCESS);
	cr_assert_eq(r.mprotect, 0);
	cr_assert_eq(r.modify_type, 0);
	cr_assert_eq(r.accept_trim, SGX_SUCCESS);
	cr_assert_eq(r.remove, 0);
	cr_assert_eq(r.remove_count, 4096);
	cr_assert_eq(r.outside, -EINVAL);
	cr_assert_eq(r.unaligned, -EINVAL);
	/* New code: EACCEPTCOPY into an R-X page, and EMODPE of a written RW page, then mapped executable. */
	cr_assert_eq(r.augment_code, 0);
	cr_assert_eq(r.acceptcopy, SGX_SUCCESS);
	cr_assert_eq(r.mprotect_code[0], 0);
	cr_assert_eq(r.accept_d, SGX_SUCCESS);
	cr_assert_eq(r.mprotect_code[1], 0);
	cr_assert_eq(r.ran[0], 42);
	cr_assert_eq(r.ran[1], 7);
}

Test(edmm, dynamic_areas_are_mapped_executable_when_asked_and_allowed)
{
	struct sdk_load_options o = options;
	o.dyn_exec = true;
	struct sdk_enclave *e = NULL;
	char err[256] = "";
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &sig, &o, &e, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sdk_enclave_dyn_prot(e), PROT_READ | PROT_WRITE | PROT_EXEC, "the default policy is rwx");
	sdk_enclave_destroy(e);
}

/* ---- loader errors and backends ---- */

/* Lines of /proc/self/maps that belong to enclaves: mappings of the EPC memfd and large PROT_NONE reservations. */
static unsigned enclave_mappings(uint64_t min_none)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned n = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		char perms[5];
		if (sscanf(line, "%llx-%llx %4s", &lo, &hi, perms) != 3)
			continue;
		if (strstr(line, "sgxemu-epc") || (!strcmp(perms, "---p") && hi - lo >= min_none))
			n++;
	}
	fclose(f);
	return n;
}

static unsigned open_fds(void)
{
	unsigned n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

TestSuite(load, .init = start, .timeout = 60);

/* EINIT refusals (EPERM from the driver) say which of EINIT's checks failed, with both values. */
Test(load, einit_refusal_names_the_check_and_both_values)
{
	struct sdk_config cfg;
	config(&cfg);
	build_image(&cfg);
	char err[512] = "";
	struct sdk_enclave *e;
	/* Changed after signing: the signature no longer verifies. */
	struct sgx_sigstruct bad = sig;
	bad.isv_svn ^= 1;
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &bad, &options, &e, err, sizeof(err)), -1);
	cr_assert(strstr(err, "EINIT refused the SIGSTRUCT: its signature does not verify with its modulus"), "%s",
		  err);
	/* Signed for another measurement. */
	bad = sig;
	bad.enclave_hash[31] ^= 0xFF;
	cr_assert(sigstruct_sign(&bad, test_key()));
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &bad, &options, &e, err, sizeof(err)), -1);
	char have[65], want[65], line[300];
	for (unsigned i = 0; i < 32; i++) {
		snprintf(have + 2 * i, 3, "%02x", img->mrenclave[i]);
		snprintf(want + 2 * i, 3, "%02x", bad.enclave_hash[i]);
	}
	snprintf(line, sizeof(line), "MRENCLAVE differs: the enclave measures %s, the SIGSTRUCT's ENCLAVEHASH is %s",
		 have, want);
	cr_assert(strstr(err, line), "%s\nwant: %s", err, line);
	/* Signed for a 32-bit enclave (MODE64BIT pinned off); this one is 64-bit. */
	bad = sig;
	bad.attributes_mask |= SGX_ATTR_MODE64BIT;
	bad.attributes &= ~SGX_ATTR_MODE64BIT;
	cr_assert(sigstruct_sign(&bad, test_key()));
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &bad, &options, &e, err, sizeof(err)), -1);
	cr_assert(strstr(err, "ATTRIBUTES differ under its mask"), "%s", err);
	/* MISCSELECT pinned without EXINFO, which the enclave has. */
	bad = sig;
	bad.miscmask |= SGX_MISC_EXINFO;
	bad.miscselect &= ~SGX_MISC_EXINFO;
	cr_assert(sigstruct_sign(&bad, test_key()));
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &bad, &options, &e, err, sizeof(err)), -1);
	cr_assert(
	    strstr(err,
		   "MISCSELECT differs under its mask: the enclave has 0x1, the SIGSTRUCT wants 0, mask 0xffffffff"),
	    "%s", err);
}

Test(load, bad_sigstruct_fails_init_and_leaves_nothing_behind)
{
	struct sdk_config cfg;
	config(&cfg);
	build_image(&cfg);
	struct sgx_sigstruct bad = sig;
	bad.enclave_hash[0] ^= 1;
	unsigned maps = enclave_mappings(img->size), fds = open_fds();
	char err[256] = "";
	struct sdk_enclave *e = (struct sdk_enclave *)1;
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &bad, &options, &e, err, sizeof(err)), -1);
	cr_assert_eq(e, (struct sdk_enclave *)1, "no enclave returned");
	cr_assert(strstr(err, "SGX_IOC_ENCLAVE_INIT: Operation not permitted (EINIT refused the SIGSTRUCT"), "%s", err);
	cr_assert_eq(enclave_mappings(img->size), maps, "no mapping left");
	cr_assert_eq(open_fds(), fds, "no fd left");
	/* The good SIGSTRUCT still loads afterwards. */
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &sig, &options, &e, err, sizeof(err)), 0, "%s", err);
	struct ec_add a = {3, 4};
	int64_t ret = 0;
	cr_assert_eq(sdk_enclave_ecall(e, -1, EC_ADD, &a, sizeof(a), &ret, NULL), 0);
	cr_assert_eq(ret, 7);
	sdk_enclave_destroy(e);
	cr_assert_eq(enclave_mappings(img->size), maps, "destroy unmaps everything");
	cr_assert_eq(open_fds(), fds, "destroy closes the device");
	sdk_image_free(img);
}

Test(load, ecall_before_init_aborts_with_not_init)
{
	struct sdk_config cfg;
	config(&cfg);
	build_image(&cfg);
	struct sdk_load_options o = options;
	o.no_init = true;
	struct sdk_enclave *e = NULL;
	char err[256] = "";
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &sig, &o, &e, err, sizeof(err)), 0, "%s", err);
	struct ec_add a = {20, 22};
	struct sdk_ecall_info info;
	int64_t ret = 0;
	cr_assert_eq(sdk_enclave_ecall(e, 0, EC_ADD, &a, sizeof(a), &ret, &info), -ECANCELED);
	cr_assert_eq(info.abort_reason, SGXEMU_ABORT_NOT_INIT);
	cr_assert_eq(sdk_enclave_ecall(e, 1, SGXEMU_ECALL_INIT, NULL, 0, &ret, &info), 0, "%s", info.message);
	cr_assert_eq(ret, 0);
	cr_assert_eq(sdk_enclave_ecall(e, 0, EC_ADD, &a, sizeof(a), &ret, &info), 0, "%s", info.message);
	cr_assert_eq(ret, 42);
	sdk_enclave_destroy(e);
	sdk_image_free(img);
}

/*
 * The debuggers' list (docs/debugging.md): an entry per loaded enclave, the
 * latest first, with its base, size, executable pages, DEBUG and the ELF's
 * absolute path (none for an image from memory), gone at destroy.
 */
Test(load, debuggers_list_follows_loads_and_destroys)
{
	struct sdk_config cfg;
	config(&cfg);
	build_image(&cfg);
	cr_assert_eq(sdk_debug_state.version, SDK_DEBUG_VERSION);
	cr_assert_null(sdk_debug_state.head);

	/* 1. From the file, not DEBUG. */
	char err[256] = "";
	struct sdk_enclave *e1, *e2;
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &sig, &options, &e1, err, sizeof(err)), 0, "%s", err);
	const struct sdk_debug_enclave *d1 = sdk_debug_state.head;
	cr_assert_not_null(d1);
	cr_assert_null(d1->next);
	cr_assert_eq(d1->base, sdk_enclave_base(e1));
	cr_assert_eq(d1->size, sdk_enclave_size(e1));
	cr_assert_eq(d1->flags, 0);
	char *abs = realpath(TEST_ENCLAVE_PATH, NULL);
	cr_assert_not_null(abs);
	cr_assert_not_null(d1->path);
	cr_assert_str_eq(d1->path, abs);
	cr_assert_eq(sdk_debug_state.change, SDK_DEBUG_NONE);
	cr_assert_null(sdk_debug_state.enclave);
	/* The executable range runs from the image's first to its last executable page. */
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < img->n_pages; i++) {
		if (!(img->pages[i].flags & SGX_SECINFO_X))
			continue;
		lo = img->pages[i].offset < lo ? img->pages[i].offset : lo;
		hi = img->pages[i].offset + 4096 > hi ? img->pages[i].offset + 4096 : hi;
	}
	cr_assert(lo < hi);
	cr_assert_eq(d1->code_start, lo);
	cr_assert_eq(d1->code_end, hi);

	/* 2. From memory, DEBUG: first in the list, without a path. */
	size_t len = 0;
	char *elf = sdk_read_file(TEST_ENCLAVE_PATH, &len, err, sizeof(err));
	cr_assert_not_null(elf, "%s", err);
	cfg.debug = true;
	struct sdk_image *mem = NULL;
	struct sgx_sigstruct mem_sig;
	cr_assert_eq(sdk_image_from_memory(elf, len, &cfg, &mem, err, sizeof(err)), 0, "%s", err);
	free(elf);
	cr_assert_null(mem->path);
	cr_assert_eq(sdk_image_sign(mem, test_key(), &mem_sig, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, mem, &mem_sig, &options, &e2, err, sizeof(err)), 0, "%s", err);
	const struct sdk_debug_enclave *d2 = sdk_debug_state.head;
	cr_assert_eq(d2->base, sdk_enclave_base(e2));
	cr_assert_eq(d2->flags, SDK_DEBUG_ENCLAVE_DEBUG);
	cr_assert_null(d2->path);
	cr_assert_eq(d2->next, d1);

	/* 3. The entries go with their enclaves; the image may be freed while its enclave lives. */
	sdk_image_free(img);
	img = NULL;
	cr_assert_str_eq(d1->path, abs);
	sdk_enclave_destroy(e1);
	cr_assert_eq(sdk_debug_state.head, d2);
	cr_assert_null(d2->next);
	sdk_enclave_destroy(e2);
	cr_assert_null(sdk_debug_state.head);
	cr_assert_eq(sdk_debug_state.change, SDK_DEBUG_NONE);
	sdk_image_free(mem);
	free(abs);
}

Test(load, missing_device_is_a_clear_error)
{
	struct sdk_config cfg;
	config(&cfg);
	build_image(&cfg);
	struct sdk_load_options o = options;
	o.device = "/dev/sgx_missing";
	char err[256] = "";
	struct sdk_enclave *e = NULL;
	cr_assert_eq(sdk_enclave_load(&sdk_backend_emu, img, &sig, &o, &e, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "open /dev/sgx_missing (emu backend): No such file or directory");
	cr_assert_null(e);
	sdk_image_free(img);
}

Test(load, linux_backend_without_the_driver_names_the_device)
{
	if (access("/dev/sgx_enclave", F_OK) == 0)
		cr_skip_test("this machine has /dev/sgx_enclave");
	struct sdk_config cfg;
	config(&cfg);
	build_image(&cfg);
	char err[256] = "";
	struct sdk_enclave *e = NULL;
	cr_assert_eq(sdk_enclave_load(&sdk_backend_linux, img, &sig, &options, &e, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "open /dev/sgx_enclave (linux backend): No such file or directory");
	sdk_image_free(img);
}

/* The emu backend entered the way the linux backend enters the vDSO: the raw entry through sdk_vdso_call. */
static int raw_enter(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function, unsigned long r8,
		     unsigned long r9, struct sgx_enclave_run *run)
{
	return sdk_vdso_call(sgxemu_enter_enclave, rdi, rsi, rdx, function, r8, r9, run);
}

/* Keeps values in R12-R15 across an ECALL, as compiled code may; returns how many survived. */
static int callee_saved_survive(struct sdk_enclave *e, uint32_t index, void *arg, uint64_t len, int64_t *ret)
{
	register uint64_t a __asm__("r12") = 0x1212, b __asm__("r13") = 0x1313, c __asm__("r14") = 0x1414,
			    d __asm__("r15") = 0x1515;
	__asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
	int rc = sdk_enclave_ecall(e, -1, index, arg, len, ret, NULL);
	__asm__ volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
	cr_assert_eq(rc, 0);
	return (a == 0x1212) + (b == 0x1313) + (c == 0x1414) + (d == 0x1515);
}

Test(load, raw_vdso_entry_through_sdk_vdso_call_runs_the_whole_loop)
{
	struct sdk_config cfg;
	config(&cfg);
	build_image(&cfg);
	struct sdk_backend raw = sdk_backend_emu;
	raw.name = "raw";
	raw.enter = raw_enter;
	struct sdk_enclave *e = NULL;
	char err[256] = "";
	cr_assert_eq(sdk_enclave_load(&raw, img, &sig, &options, &e, err, sizeof(err)), 0, "%s", err);
	encl = e;
	struct ec_ocall o = {.in = 5};
	int64_t ret = -1;
	cr_assert_eq(callee_saved_survive(e, EC_OCALL, &o, sizeof(o), &ret), 4);
	cr_assert_eq(ret, 0);
	cr_assert_eq(o.out, 15);
	cr_assert_eq(callee_saved_survive(e, EC_NEST, NULL, 0, &ret), 4);
	cr_assert_eq(ret, 1021);
	cr_assert_eq(call(0, EC_HANDLERS, (void *)(uintptr_t)HM_SKIP, 0), 0);
	cr_assert_eq(callee_saved_survive(e, EC_UD2, NULL, 0, &ret), 4);
	cr_assert_eq(ret, 1);
	sdk_enclave_destroy(e);
	encl = NULL;
	sdk_image_free(img);
}

Test(load, vdso_lookup_finds_exported_functions_by_name_and_version)
{
	int (*gettime)(clockid_t, struct timespec *) =
	    (int (*)(clockid_t, struct timespec *))sdk_vdso_lookup("__vdso_clock_gettime", "LINUX_2.6");
	cr_assert_not_null(gettime);
	struct timespec a, b, c;
	cr_assert_eq(clock_gettime(CLOCK_MONOTONIC, &a), 0);
	cr_assert_eq(gettime(CLOCK_MONOTONIC, &b), 0);
	cr_assert_eq(clock_gettime(CLOCK_MONOTONIC, &c), 0);
	uint64_t ta = a.tv_sec * 1000000000ULL + a.tv_nsec, tb = b.tv_sec * 1000000000ULL + b.tv_nsec,
		 tc = c.tv_sec * 1000000000ULL + c.tv_nsec;
	cr_assert(ta <= tb && tb <= tc, "the vDSO's clock is the system's");
	cr_assert_eq((void *)sdk_vdso_lookup("__vdso_clock_gettime", NULL), (void *)gettime);
	cr_assert_null(sdk_vdso_lookup("__vdso_clock_gettime", "LINUX_9.9"));
	cr_assert_null(sdk_vdso_lookup("__vdso_no_such_function", NULL));
}

/* ---- signals interrupt ECALLs (as on Linux: AEX, the program's action at the AEP, ERESUME) ---- */

TestSuite(interrupt, .init = setup, .fini = teardown, .timeout = 30);

static struct ec_spin spin_word;

static void *terminate_after_entry(void *arg)
{
	(void)arg;
	while (!spin_word.entered)
		sched_yield();
	kill(getpid(), SIGTERM);
	return NULL;
}

Test(interrupt, sigterm_ends_a_spinning_ecall, .signal = SIGTERM)
{
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, terminate_after_entry, NULL), 0);
	call(0, EC_SPIN, &spin_word, sizeof(spin_word));
	cr_assert_fail("the ECALL returned although only a signal could end it");
}

static __thread int host_tls = 17;
static struct {
	_Atomic unsigned count;
	int tls;
	uint64_t rax;
} alarm_seen;

static void on_alarm(int sig, siginfo_t *si, void *ucv)
{
	(void)sig, (void)si;
	ucontext_t *uc = ucv;
	alarm_seen.tls = host_tls;
	alarm_seen.rax = (uint64_t)uc->uc_mcontext.gregs[REG_RAX];
	alarm_seen.count++;
	spin_word.stop = 1;
}

Test(interrupt, a_handler_installed_with_sgxemu_sigaction_interrupts_the_ecall_which_then_completes)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_alarm;
	sa.sa_flags = SA_SIGINFO;
	cr_assert_eq(sgxemu_sigaction(SIGALRM, &sa, NULL), 0);
	cr_assert_eq(sgxemu_sigaction(SIGKILL, &sa, NULL), -1);
	cr_assert_eq(errno, EINVAL);
	alarm(1);
	int64_t polls = call(0, EC_SPIN, &spin_word, sizeof(spin_word));
	cr_assert_gt(polls, 0);
	cr_assert_eq(alarm_seen.count, 1);
	cr_assert_eq(alarm_seen.tls, 17, "the handler ran with the host's FS");
	cr_assert_eq(alarm_seen.rax, ENCLU_ERESUME, "at the AEP after an AEX");
	/* The enclave is as usable as before. */
	struct ec_add a = {.a = 40, .b = 2};
	cr_assert_eq(call(0, EC_ADD, &a, sizeof(a)), 42);
}
