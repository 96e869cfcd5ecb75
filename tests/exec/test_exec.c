/* SPDX-License-Identifier: MIT */
/*
 * Native execution of the test enclave (tests/exec/enclave) under the test
 * OS (testos.c): the vDSO entry contract, exceptions reported through
 * struct sgx_enclave_run and a user handler, in-enclave exception handling
 * (AEX -> EENTER with CSSA=1 -> EEXIT -> ERESUME), #DB/#BP as signals, EDMM
 * at leaf level from enclave code, attestation leaves, two threads.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "testos.h"

#define PF_ENTRY_SGX (PF_P | PF_W | PF_U | PF_SGX) /* EENTER's implicit TCS access, EPCM-caused */
#define PT_REG_FLAGS SGX_SECINFO_PT(SGX_PT_REG)
#define SI_RW	     (SGX_SECINFO_R | SGX_SECINFO_W)
#define PROT_RWX_ACC (HW_ACC_R | HW_ACC_W | HW_ACC_X)

static void setup(void)
{
	tos_setup();
}

static void teardown(void)
{
	tos_teardown();
}

static void assert_exception(const struct sgx_enclave_run *run, unsigned function, unsigned vector, unsigned err,
			     uint64_t addr)
{
	cr_assert_eq(run->function, function, "function %u, expected %u", run->function, function);
	cr_assert_eq(run->exception_vector, vector, "vector %u, expected %u", run->exception_vector, vector);
	cr_assert_eq(run->exception_error_code, err, "error code %#x, expected %#x", run->exception_error_code, err);
	cr_assert_eq(run->exception_addr, addr, "address %#llx, expected %#llx",
		     (unsigned long long)run->exception_addr, (unsigned long long)addr);
}

static __thread uint64_t tls_probe = 0x600DF00D;

/* ---- the entry contract ---- */

TestSuite(enter, .init = setup, .fini = teardown, .timeout = 60);

Test(enter, eenter_eexit_round_trip_returns_values)
{
	struct sgx_enclave_run run;
	for (uint64_t i = 0; i < 100; i++) {
		uint64_t out[ENCL_OUT_WORDS] = {0};
		cr_assert_eq(tos_ecall(0, OP_ECHO, 40 + i, 2, 0xC0FFEE, out, &run), 0);
		cr_assert_eq(run.function, ENCLU_EEXIT);
		cr_assert_eq(out[0], 42 + i);
		cr_assert_eq(out[1], 0, "entered with CSSA 0");
		cr_assert_eq(out[2], 0xC0FFEE, "R8 reaches the enclave");
	}
	cr_assert_eq(tos_cssa(0), 0);
	/* Host TLS works after the enclave ran with its own FS base. */
	cr_assert_eq(tls_probe, 0x600DF00D);
	errno = 0;
	cr_assert_eq(errno, 0);
}

Test(enter, enclave_fs_and_gs_base_come_from_the_tcs)
{
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(1, OP_SEGMENTS, 0, 0, 0, out, &run), 0);
	uint64_t td = tos_lin(ENCL_SLOT(1) + ENCL_SLOT_TD);
	cr_assert_eq(out[0], td, "%%fs:0 = %#llx", (unsigned long long)out[0]);
	cr_assert_eq(out[1], td, "%%gs:0 = %#llx", (unsigned long long)out[1]);
	cr_assert_eq(tls_probe, 0x600DF00D);
}

Test(enter, function_other_than_eenter_eresume_is_einval)
{
	static const unsigned bad[] = {0, 1, 4, 5, 0x80000002U};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sgx_enclave_run run = {.tcs = tos_tcs(0), .function = 77};
		uint64_t out[ENCL_OUT_WORDS] = {0};
		int r = sgxemu_call_enclave(OP_ECHO, 1, 2, bad[i], 0, (unsigned long)out, &run);
		cr_assert_eq(r, -EINVAL, "function %u: %d", bad[i], r);
		cr_assert_eq(run.function, 77, "run untouched");
		cr_assert_eq(out[0], 0, "the enclave did not run");
	}
}

Test(enter, nonzero_reserved_bytes_are_einval)
{
	for (unsigned byte = 0; byte < sizeof(((struct sgx_enclave_run *)0)->reserved); byte += 53) {
		struct sgx_enclave_run run = {.tcs = tos_tcs(0)};
		run.reserved[byte] = 1;
		uint64_t out[ENCL_OUT_WORDS] = {0};
		cr_assert_eq(sgxemu_call_enclave(OP_ECHO, 1, 2, ENCLU_EENTER, 0, (unsigned long)out, &run), -EINVAL);
		cr_assert_eq(out[0], 0);
	}
	struct sgx_enclave_run run = {.tcs = tos_tcs(0)};
	run.reserved[sizeof(run.reserved) - 1] = 0x80;
	cr_assert_eq(sgxemu_call_enclave(OP_ECHO, 1, 2, ENCLU_EENTER, 0, 0, &run), -EINVAL);
}

struct seen {
	uint64_t rdi, rsi, rdx, rsp, r8, r9;
	struct sgx_enclave_run *run;
	unsigned calls;
	int ret;
};

static int record_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	struct seen *s = (struct seen *)run->user_data;
	*s = (struct seen){.rdi = (uint64_t)rdi,
			   .rsi = (uint64_t)rsi,
			   .rdx = (uint64_t)rdx,
			   .rsp = (uint64_t)rsp,
			   .r8 = (uint64_t)r8,
			   .r9 = (uint64_t)r9,
			   .run = run,
			   .calls = s->calls + 1,
			   .ret = s->ret};
	return s->ret;
}

Test(enter, user_handler_gets_the_registers_at_eexit)
{
	struct seen s = {.ret = -1234};
	struct sgx_enclave_run run = {.tcs = tos_tcs(0),
				      .user_handler = (uint64_t)(uintptr_t)record_handler,
				      .user_data = (uint64_t)(uintptr_t)&s};
	uint64_t out[ENCL_OUT_WORDS] = {0};
	int r = sgxemu_call_enclave(OP_ECHO, 0xF0, 0x0F, ENCLU_EENTER, 5, (unsigned long)out, &run);
	cr_assert_eq(r, -1234, "the handler's return value <= 0 is returned");
	cr_assert_eq(s.calls, 1);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(s.rdi, 0xFF, "RDI = the enclave's result (a ^ b)");
	cr_assert_eq(s.run, &run);
	cr_assert_neq(s.rsp, 0);
	cr_assert_eq(out[0], 0xFF);
}

/* A handler that asks for EENTER again once: the vDSO loops with the returned leaf. */
static int reenter_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rdi, (void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct seen *s = (struct seen *)run->user_data;
	s->calls++;
	return s->calls == 1 ? ENCLU_EENTER : 0;
}

Test(enter, user_handler_positive_return_enters_again)
{
	struct seen s = {0};
	struct sgx_enclave_run run = {.tcs = tos_tcs(0),
				      .user_handler = (uint64_t)(uintptr_t)reenter_handler,
				      .user_data = (uint64_t)(uintptr_t)&s};
	cr_assert_eq(sgxemu_call_enclave(OP_HANDLED, 0, 0, ENCLU_EENTER, 0, 0, &run), 0);
	cr_assert_eq(s.calls, 2);
	cr_assert_eq(run.function, ENCLU_EEXIT);
}

Test(enter, eenter_fault_on_a_non_tcs_page_is_reported_with_leaf_2)
{
	struct sgx_enclave_run run = {.tcs = tos_lin(ENCL_SLOT(0) + ENCL_SLOT_TD)};
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(sgxemu_call_enclave(OP_ECHO, 1, 2, ENCLU_EENTER, 0, (unsigned long)out, &run), 0);
	/* No AEX (the thread never entered): the full address, the leaf that faulted. */
	assert_exception(&run, ENCLU_EENTER, X86_PF, PF_ENTRY_SGX, run.tcs);
	cr_assert_eq(out[0], 0);
	cr_assert_eq(tos.faults, 0, "an SGX #PF never reaches the OS");
}

Test(enter, eenter_on_an_unmapped_tcs_asks_the_os_then_reports)
{
	uint64_t tcs = tos_lin(0x30000); /* in ELRANGE, never added nor mapped */
	struct sgx_enclave_run run = {.tcs = tcs};
	cr_assert_eq(sgxemu_call_enclave(OP_ECHO, 1, 2, ENCLU_EENTER, 0, 0, &run), 0);
	assert_exception(&run, ENCLU_EENTER, X86_PF, PF_W | PF_U, tcs);
	cr_assert_eq(tos.faults, 1);
	cr_assert_eq(tos.last_fault_addr, tcs);
	cr_assert_eq(tos.last_fault_err, PF_W | PF_U);
}

Test(enter, eresume_without_a_frame_is_gp_with_leaf_3)
{
	struct sgx_enclave_run run = {.tcs = tos_tcs(0)};
	cr_assert_eq(sgxemu_call_enclave(0, 0, 0, ENCLU_ERESUME, 0, 0, &run), 0);
	assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
	cr_assert_eq(tos_cssa(0), 0);
}

/* ---- exceptions inside the enclave ---- */

TestSuite(exception, .init = setup, .fini = teardown, .timeout = 60);

Test(exception, ud2_is_reported_after_an_aex)
{
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_UD2, 0, 0, 0, out, &run), 0);
	assert_exception(&run, ENCLU_ERESUME, X86_UD, 0, 0);
	cr_assert_eq(out[0], 0, "the code after ud2 did not run");
	cr_assert_eq(tos_cssa(0), 1, "the AEX used SSA frame 0");
	cr_assert_eq(tls_probe, 0x600DF00D);
}

Test(exception, divide_error_is_reported)
{
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(1, OP_DIV0, 0, 0, 0, out, &run), 0);
	assert_exception(&run, ENCLU_ERESUME, X86_DE, 0, 0);
	cr_assert_eq(tos_cssa(1), 1);
}

Test(exception, reading_a_tcs_is_an_sgx_page_fault)
{
	struct sgx_enclave_run run;
	uint64_t tcs = tos_tcs(1);
	cr_assert_eq(tos_ecall(0, OP_READ, tcs + 0x48, 0, 0, NULL, &run), 0);
	/* Page tables allow it (mapped RW); the EPCM does not: P|U|SGX, the page only. */
	assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, tcs);
	cr_assert_eq(tos.faults, 0, "an SGX #PF never reaches the OS");
}

Test(exception, writing_code_is_an_ordinary_page_fault)
{
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_WRITE, tos_lin(0x10), 1, 0, NULL, &run), 0);
	/* The page table maps the code R-X: an ordinary #PF (present, write, user), not the OS's to fix. */
	assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U, tos_lin(0));
	cr_assert_eq(tos.faults, 0);
}

Test(exception, unmapped_enclave_page_goes_to_the_os_then_is_reported)
{
	struct sgx_enclave_run run;
	uint64_t a = tos_lin(0x30000) + 0x128;
	cr_assert_eq(tos_ecall(0, OP_READ, a, 0, 0, NULL, &run), 0);
	assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_U, a & ~0xFFFULL);
	cr_assert_eq(tos.faults, 1);
	cr_assert_eq(tos.last_fault_addr, a, "the OS sees the full address");
	cr_assert_eq(tos.last_fault_err, PF_U);
}

Test(exception, host_memory_fault_is_reported_with_the_host_error_code)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(*(volatile uint64_t *)p, 0, "a present, read-only entry");
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_WRITE, (uint64_t)(uintptr_t)p + 8, 5, 0, NULL, &run), 0);
	assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U, (uint64_t)(uintptr_t)p);
	munmap(p, 4096);
}

Test(exception, stale_host_protection_is_refreshed_and_the_access_retried)
{
	/* The image's data page: page tables and EPCM allow R/W; the host mapping says otherwise. */
	uint64_t data = tos_lin(0x2000);
	cr_assert_eq(tos_host_prot(data), PROT_READ | PROT_WRITE);
	cr_assert_eq(mprotect((void *)(uintptr_t)data, 4096, PROT_NONE), 0);
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_WRITE, data + 0x800, 9, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT, "no exception: a stale host protection is not an SGX event");
	cr_assert_eq(out[0], 1);
	cr_assert_eq(tos.refreshes, 1);
	cr_assert_eq(tos.faults, 0);
	cr_assert_eq(tos_cssa(0), 0, "no AEX");
}

Test(exception, user_handler_gets_the_trap_information)
{
	struct seen s = {0};
	struct sgx_enclave_run run = {.tcs = tos_tcs(0),
				      .user_handler = (uint64_t)(uintptr_t)record_handler,
				      .user_data = (uint64_t)(uintptr_t)&s};
	uint64_t tcs = tos_tcs(1);
	cr_assert_eq(sgxemu_call_enclave(OP_READ, tcs, 0, ENCLU_EENTER, 0, 0, &run), 0);
	cr_assert_eq(s.calls, 1);
	cr_assert_eq(s.rdi, X86_PF, "RDI = vector");
	cr_assert_eq(s.rsi, PF_P | PF_U | PF_SGX, "RSI = error code");
	cr_assert_eq(s.rdx, tcs, "RDX = address");
	assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, tcs);
}

Test(exception, enclave_handles_ud2_and_resumes)
{
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, 2, rec);
	struct tos_flow f = {0};
	cr_assert_eq(tos_flow_call(0, OP_UD2, 0, 0, out, &f), 0);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(f.vector, X86_UD);
	cr_assert_eq(f.resumes, 1);
	cr_assert_eq(out[0], 1, "the code after ud2 ran after ERESUME");
	cr_assert_eq(rec[HREC_CSSA], 1, "the handler ran with CSSA 1");
	cr_assert_eq(rec[HREC_EXITINFO], TOS_EXITINFO(X86_UD));
	cr_assert(rec[HREC_RIP] >= ENCL_BASE && rec[HREC_RIP] < ENCL_BASE + ENCL_SLOT(0), "SSA RIP in the code");
	cr_assert_eq(tos_cssa(0), 0, "ERESUME popped the frame");
	uint64_t handled[ENCL_OUT_WORDS] = {0};
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_HANDLED, 0, 0, 0, handled, &run), 0);
	cr_assert_eq(handled[0], 1);
}

Test(exception, enclave_handles_an_exception_across_separate_calls)
{
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(1, HANDLER_SKIP, 3, rec);
	struct sgx_enclave_run run;
	/* 1. The fault, reported. 2. EENTER runs the handler (CSSA 1). 3. ERESUME continues after the div. */
	for (int step = 0; step < 3; step++) {
		memset(&run, 0, sizeof(run));
		run.tcs = tos_tcs(1);
		unsigned leaf = step == 2 ? ENCLU_ERESUME : ENCLU_EENTER;
		cr_assert_eq(sgxemu_call_enclave(OP_DIV0, 0, 0, leaf, 0, (unsigned long)out, &run), 0);
		if (step == 0)
			assert_exception(&run, ENCLU_ERESUME, X86_DE, 0, 0);
		else
			cr_assert_eq(run.function, ENCLU_EEXIT, "step %d", step);
	}
	cr_assert_eq(out[0], 1);
	cr_assert_eq(rec[HREC_EXITINFO], TOS_EXITINFO(X86_DE));
	cr_assert_eq(tos_cssa(1), 0);
}

Test(exception, exinfo_gives_the_full_address_to_the_enclave)
{
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, 3, rec);
	struct tos_flow f = {0};
	uint64_t a = tos_tcs(1) + 0x88;
	cr_assert_eq(tos_flow_call(0, OP_READ, a, 0, out, &f), 0);
	cr_assert_eq(f.vector, X86_PF);
	cr_assert_eq(rec[HREC_MADDR], a, "EXINFO.MADDR keeps the low bits");
	cr_assert_eq(rec[HREC_ERRCD], PF_P | PF_U | PF_SGX);
	cr_assert_eq(rec[HREC_EXITINFO], TOS_EXITINFO(X86_PF));
}

Test(exception, xmm_state_survives_aex_and_eresume)
{
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, 2, rec);
	struct tos_flow f = {0};
	cr_assert_eq(tos_flow_call(0, OP_XMM, 0x1122334455667788ULL, 0, out, &f), 0);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(out[0], 0x1122334455667788ULL, "XMM0 went through SSA[0] and came back");
}

/* #BP is never fixed up: a SIGTRAP at the AEP with the AEX's synthetic state. */
static struct {
	int signo;
	uint64_t rip, rax, rbx, rcx;
	unsigned count;
} trap_seen;

static void sigtrap_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)si;
	ucontext_t *uc = ucv;
	trap_seen.signo = sig;
	trap_seen.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	trap_seen.rax = (uint64_t)uc->uc_mcontext.gregs[REG_RAX];
	trap_seen.rbx = (uint64_t)uc->uc_mcontext.gregs[REG_RBX];
	trap_seen.rcx = (uint64_t)uc->uc_mcontext.gregs[REG_RCX];
	trap_seen.count++;
}

static void setup_with_sigtrap(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigtrap_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGTRAP, &sa, NULL);
	tos_setup();
}

TestSuite(signals, .timeout = 60);

Test(signals, int3_is_delivered_as_sigtrap_at_the_aep, .init = setup_with_sigtrap, .fini = teardown)
{
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_INT3, 0, 0, 0, out, &run), 0);
	cr_assert_eq(trap_seen.count, 1);
	cr_assert_eq(trap_seen.signo, SIGTRAP);
	cr_assert_eq(trap_seen.rax, ENCLU_ERESUME, "synthetic RAX");
	cr_assert_eq(trap_seen.rbx, tos_tcs(0), "synthetic RBX = TCS");
	cr_assert_eq(trap_seen.rip, trap_seen.rcx, "at the AEP, RCX = AEP");
	/* The handler returned to the AEP, whose ERESUME continued after the int3. */
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(out[0], 1);
	cr_assert_eq(tos_cssa(0), 0);
}

/* Faults of host code go to the handler exec replaced. */
static volatile uint8_t *segv_page;
static volatile unsigned segv_count;

static void sigsegv_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	segv_count++;
	if (((uintptr_t)si->si_addr & ~(uintptr_t)0xFFF) == (uintptr_t)segv_page)
		mprotect((void *)segv_page, 4096, PROT_READ | PROT_WRITE);
}

static void setup_with_sigsegv(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsegv_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	tos_setup();
}

Test(signals, host_faults_reach_the_previous_handler, .init = setup_with_sigsegv, .fini = teardown)
{
	segv_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq((void *)segv_page, MAP_FAILED);
	/* Before and after this thread entered an enclave (its handler then runs on exec's stack). */
	segv_page[0] = 1;
	cr_assert_eq(segv_count, 1, "count %u", segv_count);
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_ECHO, 1, 1, 0, NULL, &run), 0);
	mprotect((void *)segv_page, 4096, PROT_NONE);
	segv_page[1] = 2;
	cr_assert_eq(segv_count, 2);
	cr_assert_eq(segv_page[0] + segv_page[1], 3);
}

/* ---- EDMM from enclave code ---- */

TestSuite(edmm, .init = setup, .fini = teardown, .timeout = 60);

#define DYN(n) tos_lin(ENCL_DYN + (n)*SGX_PAGE_SIZE)

static uint64_t eaccept(uint64_t page, uint64_t flags)
{
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_EACCEPT, page, flags, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT, "EACCEPT faulted: vector %u error %#x address %#llx",
		     run.exception_vector, run.exception_error_code, (unsigned long long)run.exception_addr);
	cr_assert_eq(out[1], out[0] != 0, "ZF follows RAX");
	return out[0];
}

Test(edmm, eaug_then_eaccept_then_use)
{
	cr_assert(tos_eaug(DYN(0), HW_ACC_R | HW_ACC_W));
	cr_assert_eq(tos_host_prot(DYN(0)), PROT_NONE, "a pending page is not accessible");
	cr_assert_eq(eaccept(DYN(0), PT_REG_FLAGS | SI_RW | SGX_SECINFO_PENDING), 0);
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(tos.th.m, tos_pa(DYN(0)), &v));
	cr_assert(v.valid && v.r && v.w && !v.x && !v.pending);
	cr_assert_eq(tos_host_prot(DYN(0)), PROT_READ | PROT_WRITE);
	cr_assert_geq(tos.refreshes, 1, "the host protection followed the EPCM");

	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_WRITE, DYN(0) + 16, 0xABCDEF, 0, NULL, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_READ, DYN(0) + 16, 0, 0, out, &run), 0);
	cr_assert_eq(out[0], 0xABCDEF);
}

Test(edmm, eaccept_with_mismatching_secinfo_returns_the_code)
{
	cr_assert(tos_eaug(DYN(0), HW_ACC_R | HW_ACC_W));
	cr_assert_eq(eaccept(DYN(0), PT_REG_FLAGS | SI_RW | SGX_SECINFO_X | SGX_SECINFO_PENDING),
		     SGX_PAGE_ATTRIBUTES_MISMATCH);
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(tos.th.m, tos_pa(DYN(0)), &v));
	cr_assert(v.pending, "nothing changed");
	cr_assert_eq(tos_host_prot(DYN(0)), PROT_NONE);
}

Test(edmm, access_before_eaccept_is_an_sgx_page_fault)
{
	cr_assert(tos_eaug(DYN(1), HW_ACC_R | HW_ACC_W));
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_WRITE, DYN(1) + 8, 1, 0, NULL, &run), 0);
	assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, DYN(1));
	cr_assert_eq(tos.faults, 0);
}

Test(edmm, eaccept_on_demand_in_the_enclave_handler)
{
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_ACCEPT, 0, rec);
	cr_assert(tos_eaug(DYN(2), HW_ACC_R | HW_ACC_W));
	struct tos_flow f = {0};
	cr_assert_eq(tos_flow_call(0, OP_WRITE, DYN(2) + 24, 0x5151, out, &f), 0);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(rec[HREC_MADDR], DYN(2) + 24);
	cr_assert_eq(rec[HREC_ERRCD], PF_P | PF_W | PF_U | PF_SGX);
	cr_assert_eq(out[0], 1, "the write completed after the handler's EACCEPT");
	struct sgx_enclave_run run;
	uint64_t v[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_READ, DYN(2) + 24, 0, 0, v, &run), 0);
	cr_assert_eq(v[0], 0x5151);
}

Test(edmm, eaccept_of_an_absent_page_is_added_by_the_os_on_the_fault)
{
	tos.aug_on_fault = true;
	/* No page-table entry: EACCEPT takes an ordinary #PF, the OS EAUGs, ERESUME retries the ENCLU. */
	cr_assert_eq(eaccept(DYN(3), PT_REG_FLAGS | SI_RW | SGX_SECINFO_PENDING), 0);
	cr_assert_eq(tos.faults, 1);
	cr_assert_eq(tos.augs, 1);
	cr_assert_eq(tos.last_fault_addr, DYN(3));
	cr_assert_eq(tos.last_fault_err, PF_U, "a read of the target through the page tables");
	cr_assert_eq(tos_cssa(0), 0, "the AEX frame was popped by the ERESUME");
	cr_assert_eq(tos_host_prot(DYN(3)), PROT_READ | PROT_WRITE);
}

Test(edmm, write_to_an_absent_page_is_added_then_accepted_in_the_handler)
{
	tos.aug_on_fault = true;
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_ACCEPT, 0, rec);
	struct tos_flow f = {0};
	cr_assert_eq(tos_flow_call(0, OP_WRITE, DYN(4), 77, out, &f), 0);
	/* #PF (no PTE) -> OS EAUG, transparent; #PF (PENDING) -> handler EACCEPT; the write retried. */
	cr_assert_eq(tos.augs, 1);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(out[0], 1);
}

/* x86-64: mov %rdi,%rax; add $1,%rax; ret */
static const uint8_t inc_code[] = {0x48, 0x89, 0xF8, 0x48, 0x83, 0xC0, 0x01, 0xC3};

static void fill_page(uint64_t page, const void *bytes, size_t n)
{
	static uint8_t buf[4096];
	memset(buf, 0xCC, sizeof(buf));
	memcpy(buf, bytes, n);
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_COPY, page, (uint64_t)(uintptr_t)buf, 0, NULL, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
}

Test(edmm, eacceptcopy_makes_an_rx_page_that_runs)
{
	/* A source page with the code, accepted RW; a pending destination with page tables RWX. */
	cr_assert(tos_eaug(DYN(5), HW_ACC_R | HW_ACC_W));
	cr_assert_eq(eaccept(DYN(5), PT_REG_FLAGS | SI_RW | SGX_SECINFO_PENDING), 0);
	fill_page(DYN(5), inc_code, sizeof(inc_code));
	cr_assert(tos_eaug(DYN(6), PROT_RWX_ACC));

	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(
	    tos_ecall(0, OP_EACCEPTCOPY, DYN(6), DYN(5), PT_REG_FLAGS | SGX_SECINFO_R | SGX_SECINFO_X, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(out[0], 0);
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(tos.th.m, tos_pa(DYN(6)), &v));
	cr_assert(v.r && !v.w && v.x && !v.pending);
	cr_assert_eq(tos_host_prot(DYN(6)), PROT_READ | PROT_EXEC);

	memset(out, 0, sizeof(out));
	cr_assert_eq(tos_ecall(0, OP_EXEC, DYN(6), 41, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(out[0], 42);

	/* And it is not writable any more: EPCM R-X under RWX page tables is an SGX #PF. */
	cr_assert_eq(tos_ecall(0, OP_WRITE, DYN(6), 0, 0, NULL, &run), 0);
	assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, DYN(6));
}

Test(edmm, emodpe_adds_execute_permission)
{
	cr_assert(tos_eaug(DYN(7), PROT_RWX_ACC));
	cr_assert_eq(eaccept(DYN(7), PT_REG_FLAGS | SI_RW | SGX_SECINFO_PENDING), 0);
	fill_page(DYN(7), inc_code, sizeof(inc_code));

	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_EXEC, DYN(7), 1, 0, out, &run), 0);
	assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_I | PF_SGX, DYN(7));

	/* A fresh TCS: TCS 0 holds the frame of that fault. */
	memset(&run, 0, sizeof(run));
	run.tcs = tos_tcs(1);
	cr_assert_eq(sgxemu_call_enclave(OP_EMODPE, DYN(7), PT_REG_FLAGS | SGX_SECINFO_X, ENCLU_EENTER, 0,
					 (unsigned long)out, &run),
		     0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	struct hw_epcm_view v;
	cr_assert(hw_epcm_get(tos.th.m, tos_pa(DYN(7)), &v));
	cr_assert(v.r && v.w && v.x);
	cr_assert_eq(tos_host_prot(DYN(7)), PROT_READ | PROT_WRITE | PROT_EXEC);

	memset(&run, 0, sizeof(run));
	run.tcs = tos_tcs(1);
	memset(out, 0, sizeof(out));
	cr_assert_eq(sgxemu_call_enclave(OP_EXEC, DYN(7), 99, ENCLU_EENTER, 0, (unsigned long)out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(out[0], 100);
}

/* ---- attestation leaves from enclave code ---- */

TestSuite(attest, .init = setup, .fini = teardown, .timeout = 60);

Test(attest, ereport_describes_the_running_enclave)
{
	static struct sgx_report rep;
	static uint8_t data[64];
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3);
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(0, OP_EREPORT, 0, (uint64_t)(uintptr_t)data, (uint64_t)(uintptr_t)&rep, NULL, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_arr_eq(rep.mrenclave, tos.mrenclave, 32);
	cr_assert_arr_eq(rep.mrsigner, tos.mrsigner, 32);
	cr_assert_arr_eq(rep.report_data, data, 64);
	cr_assert_eq(rep.attributes & (SGX_ATTR_INIT | SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT),
		     SGX_ATTR_INIT | SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT);
}

Test(attest, egetkey_seal_key_is_stable_and_bound_to_the_policy)
{
	static struct sgx_keyrequest req __attribute__((aligned(512)));
	static uint8_t k1[16], k2[16], k3[16];
	memset(&req, 0, sizeof(req));
	req.keyname = SGX_KEY_SEAL;
	req.keypolicy = SGX_KEYPOLICY_MRENCLAVE;
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_EGETKEY, (uint64_t)(uintptr_t)&req, (uint64_t)(uintptr_t)k1, 0, out, &run), 0);
	cr_assert_eq(out[0], 0);
	cr_assert_eq(tos_ecall(1, OP_EGETKEY, (uint64_t)(uintptr_t)&req, (uint64_t)(uintptr_t)k2, 0, out, &run), 0);
	cr_assert_arr_eq(k1, k2, 16, "same key on both threads");
	req.keypolicy = SGX_KEYPOLICY_MRSIGNER;
	cr_assert_eq(tos_ecall(0, OP_EGETKEY, (uint64_t)(uintptr_t)&req, (uint64_t)(uintptr_t)k3, 0, out, &run), 0);
	cr_assert_eq(out[0], 0);
	cr_assert(memcmp(k1, k3, 16) != 0, "MRSIGNER policy gives another key");
	req.keyname = 77;
	cr_assert_eq(tos_ecall(0, OP_EGETKEY, (uint64_t)(uintptr_t)&req, (uint64_t)(uintptr_t)k3, 0, out, &run), 0);
	cr_assert_eq(out[0], SGX_INVALID_KEYNAME);
	cr_assert_eq(out[1], 1, "ZF");
}

/* ---- threads ---- */

TestSuite(threads, .init = setup, .fini = teardown, .timeout = 60);

struct worker {
	unsigned tcs;
	unsigned rounds, exceptions;
	bool ok;
	char why[128];
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	uint64_t rec[HREC_WORDS] = {0};
	struct sgx_enclave_run run;
	memset(&run, 0, sizeof(run));
	run.tcs = tos_tcs(w->tcs);
	if (sgxemu_call_enclave(OP_SET_HANDLER, HANDLER_SKIP, 2, ENCLU_EENTER, (unsigned long)rec, 0, &run) != 0)
		return NULL;
	for (unsigned i = 0; i < 400; i++) {
		uint64_t out[ENCL_OUT_WORDS] = {0};
		struct tos_flow f = {0};
		memset(&run, 0, sizeof(run));
		run.tcs = tos_tcs(w->tcs);
		run.user_handler = (uint64_t)(uintptr_t)tos_flow_handler;
		run.user_data = (uint64_t)(uintptr_t)&f;
		uint64_t op = (i % 40 == 39) ? OP_UD2 : OP_ECHO;
		sgxemu_call_enclave(op, i, w->tcs, ENCLU_EENTER, 0, (unsigned long)out, &run);
		if (run.function != ENCLU_EEXIT || (op == OP_ECHO && (out[0] != i + w->tcs || out[1] != 0)) ||
		    (op == OP_UD2 && (out[0] != 1 || f.exceptions != 1))) {
			snprintf(w->why, sizeof(w->why), "round %u: function %u out %llu", i, run.function,
				 (unsigned long long)out[0]);
			return NULL;
		}
		w->rounds++;
		w->exceptions += f.exceptions;
	}
	w->ok = true;
	return NULL;
}

Test(threads, two_threads_run_on_their_own_tcs_concurrently)
{
	struct worker w[2] = {{.tcs = 0}, {.tcs = 1}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		cr_assert(w[i].ok, "thread %d: %s", i, w[i].why);
		cr_assert_eq(w[i].rounds, 400);
		cr_assert_eq(w[i].exceptions, 10);
		cr_assert_eq(tos_cssa(i), 0);
	}
	cr_assert_eq(tls_probe, 0x600DF00D);
}

static void *own_altstack_main(void *p)
{
	bool *ok = p;
	static uint8_t mine[65536];
	stack_t ss = {.ss_sp = mine, .ss_size = sizeof(mine)}, now;
	if (sigaltstack(&ss, NULL) != 0)
		return NULL;
	/* The first ENCLU's handler runs on this stack, where exec cannot install its own. */
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	memset(&run, 0, sizeof(run));
	run.tcs = tos_tcs(1);
	sgxemu_call_enclave(OP_ECHO, 20, 22, ENCLU_EENTER, 0, (unsigned long)out, &run);
	if (run.function != ENCLU_EEXIT || out[0] != 42)
		return NULL;
	memset(&run, 0, sizeof(run));
	run.tcs = tos_tcs(1);
	sgxemu_call_enclave(OP_DIV0, 0, 0, ENCLU_EENTER, 0, (unsigned long)out, &run);
	sigaltstack(NULL, &now);
	*ok = run.function == ENCLU_ERESUME && run.exception_vector == X86_DE && now.ss_sp != mine;
	return NULL;
}

Test(threads, a_thread_with_its_own_sigaltstack_enters)
{
	bool ok = false;
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, own_altstack_main, &ok), 0);
	pthread_join(th, NULL);
	cr_assert(ok, "entered, exception reported, exec's signal stack in place");
}

Test(threads, a_tcs_in_use_by_another_thread_is_gp)
{
	/* Thread A is inside TCS 0 (stopped in its handler flow); thread B's EENTER on it faults. */
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_ECHO, 1, 2, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	/* A TCS whose state stays active: force it as hardware would while a thread is inside. */
	struct hw_thread t;
	cr_assert_eq(hw_thread_init(&t, tos.th.m, &tos.mmu), 0);
	t.regs.rax = ENCLU_EENTER;
	t.regs.rbx = tos_tcs(0);
	t.regs.rcx = 0x401000;
	t.regs.rip = 0x400000;
	th_assert_ok(hw_enclu(&t));
	memset(&run, 0, sizeof(run));
	run.tcs = tos_tcs(0);
	cr_assert_eq(sgxemu_call_enclave(OP_ECHO, 1, 2, ENCLU_EENTER, 0, (unsigned long)out, &run), 0);
	assert_exception(&run, ENCLU_EENTER, X86_GP, 0, 0);
	t.regs.rax = ENCLU_EEXIT;
	t.regs.rbx = 0x401000;
	th_assert_ok(hw_enclu(&t));
	hw_thread_fini(&t);
	cr_assert_eq(tos_ecall(0, OP_ECHO, 1, 2, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
}

/* ---- host features ---- */

static void setup_arch_prctl(void)
{
	setenv("SGXEMU_EXEC_NO_FSGSBASE", "1", 1);
	tos_setup();
}

Test(signals, fs_gs_switch_through_arch_prctl, .init = setup_arch_prctl, .fini = teardown)
{
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_SEGMENTS, 0, 0, 0, out, &run), 0);
	cr_assert_eq(out[0], tos_lin(ENCL_SLOT(0) + ENCL_SLOT_TD));
	cr_assert_eq(out[1], tos_lin(ENCL_SLOT(0) + ENCL_SLOT_TD));
	cr_assert_eq(tls_probe, 0x600DF00D);
	uint64_t rec[HREC_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, 2, rec);
	struct tos_flow f = {0};
	memset(out, 0, sizeof(out));
	cr_assert_eq(tos_flow_call(0, OP_UD2, 0, 0, out, &f), 0);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(out[0], 1);
	cr_assert_eq(tls_probe, 0x600DF00D);
}

TestSuite(install, .timeout = 60);

Test(install, arguments_are_checked)
{
	struct exec_os os = {0};
	cr_assert_eq(exec_install(NULL), -EINVAL);
	cr_assert_eq(exec_install(&os), -EINVAL);
	tos_setup();
	cr_assert_eq(exec_install(&tos.os), -EBUSY);
	tos_teardown();
	cr_assert_eq(exec_uninstall(), 0);
}
