/* SPDX-License-Identifier: MIT */
/*
 * Executable dynamic memory end to end (spec/edmm-flows.md §6): a page
 * prepared with SGX_IOC_ENCLAVE_AUGMENT_PAGES, filled by EACCEPTCOPY with
 * R-X, mapped R-X and run, under each dynamic-page policy (docs/policy.md).
 * sgxemu_start takes the policy once per process; Criterion runs every
 * test in a process of its own, so each suite starts its own system.
 * Also: the host's view of enclave memory (protection keys).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>

#include "exec.h"
#include "native.h"

#define RX  (PROT_READ | PROT_EXEC)
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

/* A staging page S (accepted RW, holding the code) for a JIT destination. */
static uint64_t staging(unsigned n)
{
	uint64_t s = devos_dyn(n);
	native_accept_rw(0, s);
	native_fill(0, s, native_inc_code, sizeof(native_inc_code));
	return s;
}

static void *page_ptr(uint64_t lin)
{
	return (void *)(uintptr_t)lin;
}

/* ---- rwx (Linux 6.0, the default) ---- */

TestSuite(jit, .init = native_setup, .fini = native_teardown, .timeout = 60);

Test(jit, eacceptcopy_into_an_augmented_page_then_run_it)
{
	uint64_t s = staging(0), d = devos_dyn(1);
	struct sgx_enclave_augment_pages g;
	/* 1. The destination exists, PENDING, before the enclave asks: no fault on it. */
	native_assert_ok(native_augment(native_off(d), SGX_PAGE_SIZE, SECINFO_REG(SI_RWX), &g));
	cr_assert_eq(g.count, SGX_PAGE_SIZE);
	/* 2. EACCEPTCOPY as R-X: the page never had W in its EPCM after acceptance. */
	cr_assert_eq(native_eacceptcopy(0, d, s, SECINFO_REG(SI_RX)), 0);
	/* 3. Still mapped RW (NX): the fetch is an ordinary #PF. */
	struct sgx_enclave_run run;
	native_handler(1, HANDLER_RET);
	native_fault(1, OP_EXEC, d, 41, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_I, d);
	cr_assert_eq(nout[1][0], HANDLER_RET_RAX);
	/* 4. mprotect R-X (the ceiling of an AUGMENT'd page is its SECINFO, RWX here), 5. run. */
	native_assert_ok(sgxemu_mprotect(page_ptr(d), SGX_PAGE_SIZE, RX));
	native_op(2, OP_EXEC, d, 41, 0);
	cr_assert_eq(nout[2][0], 42);
	/* Writes: the R-X mapping refuses (ordinary #PF); an RWX mapping lets the EPCM refuse (SGX #PF). */
	native_fault(2, OP_WRITE, d + 8, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U, d);
	native_assert_ok(sgxemu_mprotect(page_ptr(d), SGX_PAGE_SIZE, RWX));
	native_fault(2, OP_WRITE, d + 8, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, d);
	native_op(3, OP_EXEC, d, 99, 0);
	cr_assert_eq(nout[3][0], 100, "the code is unchanged");
}

Test(jit, eacceptcopy_into_a_missing_page_is_eaugd_on_the_fault)
{
	uint64_t s = staging(0), d = devos_dyn(2);
	uint64_t before = devos_stats().pages_resident;
	cr_assert_eq(native_eacceptcopy(0, d, s, SECINFO_REG(SI_RX)), 0);
	cr_assert_eq(devos_stats().pages_resident, before + 1);
	native_assert_ok(sgxemu_mprotect(page_ptr(d), SGX_PAGE_SIZE, RX));
	native_op(1, OP_EXEC, d, 1, 0);
	cr_assert_eq(nout[1][0], 2);
}

Test(jit, eacceptcopy_wrong_steps)
{
	uint64_t s = staging(0), d = devos_dyn(1);
	struct sgx_enclave_run run;
	struct sgx_enclave_augment_pages g;
	native_assert_ok(native_augment(native_off(d), 3 * SGX_PAGE_SIZE, SECINFO_REG(SI_RWX), &g));
	cr_assert_eq(native_eacceptcopy(0, d, s, SECINFO_REG(SI_RX)), 0);
	/* The destination is accepted already. */
	cr_assert_eq(native_eacceptcopy(0, d, s, SECINFO_REG(SI_RX)), SGX_PAGE_ATTRIBUTES_MISMATCH);
	/* W without R: #GP. */
	native_fault(1, OP_EACCEPTCOPY, d + SGX_PAGE_SIZE, s, SECINFO_REG(SGX_SECINFO_W), &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
	/* A PENDING source: SGX #PF on it (read). */
	native_fault(2, OP_EACCEPTCOPY, d + SGX_PAGE_SIZE, d + 2 * SGX_PAGE_SIZE, SECINFO_REG(SI_RX), &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, d + 2 * SGX_PAGE_SIZE);
	/* An EACCEPT'ed destination (EPCM RW, not pending). */
	cr_assert_eq(native_eaccept(0, d + SGX_PAGE_SIZE, SI_PENDING_RW), 0);
	cr_assert_eq(native_eacceptcopy(0, d + SGX_PAGE_SIZE, s, SECINFO_REG(SI_RX)), SGX_PAGE_ATTRIBUTES_MISMATCH);
}

/* ---- rw: no executable dynamic memory ---- */

static void setup_rw(void)
{
	native_setup_with(&(struct sgxemu_options){.policy = "rw"});
}

TestSuite(policy_rw, .init = setup_rw, .fini = native_teardown, .timeout = 60);

Test(policy_rw, executable_dynamic_pages_are_refused)
{
	uint64_t s = staging(0), d = devos_dyn(1);
	struct sgx_enclave_augment_pages g;
	native_assert_fails(native_augment(native_off(d), SGX_PAGE_SIZE, SECINFO_REG(SI_RWX), &g), EPERM);
	cr_assert_eq(g.count, 0);
	native_assert_fails(native_augment(native_off(d), SGX_PAGE_SIZE, SECINFO_REG(SI_RX), &g), EPERM);
	native_assert_ok(native_augment(native_off(d), SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &g));
	/* The EPCM may say R-X (the CPU does not know the policy); the host never maps it executable. */
	cr_assert_eq(native_eacceptcopy(0, d, s, SECINFO_REG(SI_RX)), 0);
	native_assert_fails(sgxemu_mprotect(page_ptr(d), SGX_PAGE_SIZE, RX), EACCES);
	struct sgx_enclave_run run;
	native_handler(1, HANDLER_RET);
	native_fault(1, OP_EXEC, d, 1, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_I, d);
	/* mmap refuses it too (as on Linux, MAP_FIXED has unmapped the page first: d is a hole after). */
	errno = 0;
	cr_assert_eq(sgxemu_mmap(page_ptr(d), SGX_PAGE_SIZE, RX, MAP_SHARED | MAP_FIXED, dv.fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EACCES);
	native_assert_fails(sgxemu_mprotect(page_ptr(d), SGX_PAGE_SIZE, PROT_READ), ENOMEM);
	/* EMODPE +X changes the EPCM only; mprotect still refuses. */
	native_op(0, OP_EMODPE, s, SGX_SECINFO_X, 0);
	native_assert_fails(sgxemu_mprotect(page_ptr(s), SGX_PAGE_SIZE, RWX), EACCES);
	/* Pages added before INIT keep their measured ceilings. */
	native_assert_ok(sgxemu_mprotect(page_ptr(devos_lin(0)), SGX_PAGE_SIZE, RX));
}

Test(policy_rw, a_fault_under_an_executable_mapping_adds_nothing)
{
	/* A hole imposes no limit on mmap; the fault in it is the policy's SIGBUS. */
	uint64_t hole = devos_dyn(40);
	cr_assert_eq(sgxemu_mmap(page_ptr(hole), SGX_PAGE_SIZE, RWX, MAP_SHARED | MAP_FIXED, dv.fd, 0), page_ptr(hole),
		     "%s", strerror(errno));
	uint64_t before = devos_stats().pages_resident;
	struct sgx_enclave_run run;
	native_fault(0, OP_EACCEPT, hole, SI_PENDING_RW, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_U, hole);
	cr_assert_eq(devos_stats().pages_resident, before, "no page was added");
	/* Mapped RW again, the same EACCEPT gets its page. */
	cr_assert_eq(
	    sgxemu_mmap(page_ptr(hole), SGX_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, dv.fd, 0),
	    page_ptr(hole));
	cr_assert_eq(native_eaccept(0, hole, SI_PENDING_RW), 0);
	cr_assert_eq(devos_stats().pages_resident, before + 1);
}

static void setup_rw_env(void)
{
	cr_assert_eq(setenv(SGXEMU_ENV_DYN_POLICY, "rw", 1), 0);
	native_setup();
}

TestSuite(policy_env, .init = setup_rw_env, .fini = native_teardown, .timeout = 60);

Test(policy_env, the_environment_sets_the_policy)
{
	struct sgx_enclave_augment_pages g;
	native_assert_fails(native_augment(DEVOS_DYN, SGX_PAGE_SIZE, SECINFO_REG(SI_RWX), &g), EPERM);
	native_assert_ok(native_augment(DEVOS_DYN, SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &g));
	cr_assert_eq(native_eaccept(0, devos_dyn(0), SI_PENDING_RW), 0);
	native_assert_fails(sgxemu_mprotect(page_ptr(devos_dyn(0)), SGX_PAGE_SIZE, RX), EACCES);
}

/* ---- wx-exclusive: executable, never writable and executable at once ---- */

static void setup_wx(void)
{
	native_setup_with(&(struct sgxemu_options){.policy = "wx-exclusive"});
}

TestSuite(policy_wx, .init = setup_wx, .fini = native_teardown, .timeout = 60);

Test(policy_wx, jit_works_but_no_mapping_is_writable_and_executable)
{
	uint64_t s = staging(0), d = devos_dyn(1);
	struct sgx_enclave_augment_pages g;
	native_assert_ok(native_augment(native_off(d), SGX_PAGE_SIZE, SECINFO_REG(SI_RWX), &g));
	native_assert_fails(sgxemu_mprotect(page_ptr(d), SGX_PAGE_SIZE, RWX), EACCES);
	cr_assert_eq(native_eacceptcopy(0, d, s, SECINFO_REG(SI_RX)), 0);
	native_assert_ok(sgxemu_mprotect(page_ptr(d), SGX_PAGE_SIZE, RX));
	native_op(1, OP_EXEC, d, 9, 0);
	cr_assert_eq(nout[1][0], 10);
	errno = 0;
	cr_assert_eq(sgxemu_mmap(page_ptr(d), SGX_PAGE_SIZE, RWX, MAP_SHARED | MAP_FIXED, dv.fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EACCES);
	/* The other way: EMODPE +X on the RW staging page, then switch its mapping from RW to RX. */
	native_op(0, OP_EMODPE, s, SGX_SECINFO_X, 0);
	native_assert_fails(sgxemu_mprotect(page_ptr(s), SGX_PAGE_SIZE, RWX), EACCES);
	native_assert_ok(sgxemu_mprotect(page_ptr(s), SGX_PAGE_SIZE, RX));
	native_op(2, OP_EXEC, s, 20, 0);
	cr_assert_eq(nout[2][0], 21);
}

Test(policy_wx, a_fault_under_a_writable_executable_mapping_adds_nothing)
{
	uint64_t hole = devos_dyn(50);
	cr_assert_eq(sgxemu_mmap(page_ptr(hole), SGX_PAGE_SIZE, RWX, MAP_SHARED | MAP_FIXED, dv.fd, 0), page_ptr(hole));
	uint64_t before = devos_stats().pages_resident;
	struct sgx_enclave_run run;
	native_fault(0, OP_EACCEPT, hole, SI_PENDING_RW, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_U, hole);
	cr_assert_eq(devos_stats().pages_resident, before);
}

/* ---- the host's view of enclave memory ---- */

static sigjmp_buf host_jmp;
static volatile sig_atomic_t host_faults;
static siginfo_t host_si;

static void host_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	host_faults++;
	host_si = *si;
	siglongjmp(host_jmp, 1);
}

/* Our SIGSEGV handler first: exec chains the host's own faults to it. */
static void setup_host_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = host_segv;
	sa.sa_flags = SA_SIGINFO;
	cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	native_setup();
}

TestSuite(isolation, .init = setup_host_handler, .fini = native_teardown, .timeout = 60);

Test(isolation, host_read_of_enclave_memory_faults_with_protection_keys)
{
	char why[160];
	if (!exec_pkey_probe(why, sizeof(why)))
		cr_skip_test("protection keys unavailable: %s", why);
	/* The enclave's data page, resident and mapped RW: the host's read must not see it. */
	uint64_t data = devos_lin(0x2000);
	native_write(0, data + 0x100, 0x5EC12E7);
	volatile uint64_t seen = 0;
	if (sigsetjmp(host_jmp, 1) == 0)
		seen = *(volatile uint64_t *)(uintptr_t)(data + 0x100);
	cr_assert_eq(host_faults, 1, "the host read %#llx from enclave memory", (unsigned long long)seen);
	cr_assert_eq(host_si.si_code, SEGV_PKUERR);
	cr_assert_eq((uint64_t)(uintptr_t)host_si.si_addr, data + 0x100);
	cr_assert_eq(native_read(1, data + 0x100), 0x5EC12E7, "the enclave still reads it");
}
