/* SPDX-License-Identifier: MIT */
/*
 * Fidelity of native execution (docs/exec.md): system-call instructions of
 * enclave code raise #UD (Syscall User Dispatch), so do the instructions
 * illegal in an enclave that the host refuses with #GP (IN, segment loads;
 * CPUID where CPUID faulting is on), the XSAVE components
 * outside the enclave's XFRM never carry enclave values back to the host,
 * and protection keys isolate enclave pages from host code where the host
 * has them.  Host features are probed; a test that needs a missing one is
 * skipped with the probe's reason.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <asm/prctl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"
#include "exec_int.h"
#include "hostprobe.h"
#include "testos.h"

#define SYS32_CLOSE 6 /* the i386 system call number of close (INT 0x80) */

static void setup(void)
{
	tos_setup();
}

static void teardown(void)
{
	tos_teardown();
}

static void assert_exception(const struct sgx_enclave_run *run, unsigned vector, unsigned err, uint64_t addr)
{
	cr_assert_eq(run->function, ENCLU_ERESUME, "function %u: an exception after an AEX", run->function);
	cr_assert_eq(run->exception_vector, vector, "vector %u, expected %u", run->exception_vector, vector);
	cr_assert_eq(run->exception_error_code, err, "error code %#x, expected %#x", run->exception_error_code, err);
	cr_assert_eq(run->exception_addr, addr, "address %#llx, expected %#llx",
		     (unsigned long long)run->exception_addr, (unsigned long long)addr);
}

/* A non-blocking pipe. */
static void make_pipe(int p[2])
{
	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
}

static void assert_pipe_empty(int fd)
{
	char c;
	errno = 0;
	cr_assert_eq(read(fd, &c, 1), -1, "the pipe holds data: the system call was executed");
	cr_assert_eq(errno, EAGAIN);
}

static void skip_without_sud(void)
{
	char why[160];
	if (!exec_sud_probe(why, sizeof(why)))
		cr_skip_test("Syscall User Dispatch unavailable: %s", why);
}

/* ---- SYSCALL, INT 0x80 and INT n inside the enclave ---- */

TestSuite(sud, .init = setup, .fini = teardown, .timeout = 60);

Test(sud, syscall_in_the_enclave_is_ud_and_is_not_executed)
{
	skip_without_sud();
	int p[2];
	make_pipe(p);
	static const char msg[8] = "enclave";
	uint64_t args[4] = {SYS_write, (uint64_t)p[1], (uint64_t)(uintptr_t)msg, sizeof(msg)};
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_SYSCALL, (uint64_t)(uintptr_t)args, SC_SYSCALL, 0, out, &run), 0);
	assert_exception(&run, X86_UD, 0, 0);
	cr_assert_eq(out[1], 0, "the code after the syscall did not run");
	cr_assert_eq(tos_cssa(0), 1, "the AEX used SSA frame 0");
	assert_pipe_empty(p[0]);

	/* Host code's system calls work as before, after the AEX and after an EEXIT. */
	cr_assert_eq(syscall(SYS_getpid), getpid());
	cr_assert_eq(tos_ecall(1, OP_ECHO, 1, 2, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(syscall(SYS_getpid), getpid());
	char back[8];
	cr_assert_eq(write(p[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	cr_assert_eq(read(p[0], back, sizeof(back)), (ssize_t)sizeof(back));
	cr_assert_arr_eq(back, msg, sizeof(msg));
	close(p[0]);
	close(p[1]);
}

Test(sud, syscall_ud_reaches_the_enclave_handler_at_the_instruction)
{
	skip_without_sud();
	int p[2];
	make_pipe(p);
	static const char msg[8] = "enclave";
	uint64_t args[4] = {SYS_write, (uint64_t)p[1], (uint64_t)(uintptr_t)msg, sizeof(msg)};
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, 2, rec);
	struct tos_flow f = {0};
	cr_assert_eq(tos_flow_call(0, OP_SYSCALL, (uint64_t)(uintptr_t)args, SC_SYSCALL, out, &f), 0);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(f.vector, X86_UD);
	cr_assert_eq(rec[HREC_EXITINFO], TOS_EXITINFO(X86_UD));
	cr_assert_eq(rec[HREC_RIP], out[2], "SSA RIP %#llx is the syscall instruction %#llx",
		     (unsigned long long)rec[HREC_RIP], (unsigned long long)out[2]);
	cr_assert_eq(out[1], 1, "the handler skipped the instruction and the code went on");
	cr_assert_eq(out[0], SYS_write, "RAX still holds the system call number: nothing was executed");
	assert_pipe_empty(p[0]);
	cr_assert_eq(tos_cssa(0), 0);
	close(p[0]);
	close(p[1]);
}

Test(sud, int80_in_the_enclave_is_ud_and_is_not_executed)
{
	skip_without_sud();
	int fd = open("/dev/null", O_RDONLY);
	cr_assert_geq(fd, 0);
	uint64_t args[4] = {SYS32_CLOSE, (uint64_t)fd, 0, 0};
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, 2, rec);
	struct tos_flow f = {0};
	cr_assert_eq(tos_flow_call(0, OP_SYSCALL, (uint64_t)(uintptr_t)args, SC_INT80, out, &f), 0);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(f.vector, X86_UD);
	cr_assert_eq(rec[HREC_RIP], out[2], "SSA RIP is the int $0x80");
	cr_assert_eq(out[0], SYS32_CLOSE, "EAX still holds the system call number");
	cr_assert_neq(fcntl(fd, F_GETFD), -1, "the descriptor is still open: close was not executed");
	close(fd);
}

Test(sud, int_n_in_the_enclave_is_ud)
{
	/* No system call: the host's IDT refuses INT 0x81 (#GP); an enclave gets #UD. */
	uint64_t args[4] = {0};
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_SYSCALL, (uint64_t)(uintptr_t)args, SC_INT81, 0, out, &run), 0);
	assert_exception(&run, X86_UD, 0, 0);
	cr_assert_eq(out[1], 0);
}

/* ---- instructions illegal in an enclave that the host refuses with #GP ---- */

TestSuite(illegal, .init = setup, .fini = teardown, .timeout = 60);

/*
 * The instruction `insn` (len bytes), then RET, in a page of code called
 * from enclave code with RDI = arg: #UD at it, and the enclave's handler
 * skips it.
 */
static void assert_ud_skipped(const uint8_t *insn, size_t len, uint64_t arg)
{
	uint8_t code[16];
	cr_assert_lt(len, sizeof(code));
	memcpy(code, insn, len);
	code[len] = 0xC3; /* ret */
	uint64_t page = tos_lin(ENCL_DYN);
	tos_code_page(page, code, len + 1);
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, len, rec);
	struct tos_flow f = {0};
	cr_assert_eq(tos_flow_call(0, OP_EXEC, page, arg, out, &f), 0);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(f.vector, X86_UD, "vector %u: the instruction is illegal in an enclave", f.vector);
	cr_assert_eq(rec[HREC_EXITINFO], TOS_EXITINFO(X86_UD));
	cr_assert_eq(rec[HREC_ERRCD], 0, "no error code");
	cr_assert_eq(rec[HREC_RIP], page, "SSA RIP %#llx is the instruction %#llx", (unsigned long long)rec[HREC_RIP],
		     (unsigned long long)page);
	cr_assert_eq(tos_cssa(0), 0);
}

/* IN without I/O permission: #GP(0) on the host, #UD in an enclave; on any host. */
Test(illegal, in_is_ud)
{
	static const uint8_t in_al[] = {0xE4, 0x80}; /* in $0x80, %al */
	assert_ud_skipped(in_al, sizeof(in_al), 0);
}

/* MOV to DS of a selector the host refuses (#GP with the selector as error code): #UD without one. */
Test(illegal, a_segment_register_load_is_ud)
{
	static const uint8_t mov_ds[] = {0x8E, 0xDF}; /* mov %edi, %ds */
	assert_ud_skipped(mov_ds, sizeof(mov_ds), 0xFFFF);
	uint16_t ds;
	__asm__ volatile("mov %%ds, %0" : "=r"(ds));
	cr_assert_neq(ds, 0xFFFF);
}

/* ---- CPUID inside the enclave ---- */

TestSuite(cpuid, .init = setup, .fini = teardown, .timeout = 60);

/* CPUID faulting on for this thread, or the test skipped with the probe's reason. */
static void cpuid_faulting_on(void)
{
	char why[160];
	if (!exec_host_cpuid_fault(why, sizeof(why)))
		cr_skip_test("no CPUID faulting here: %s", why);
	cr_assert_eq(syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0L), 0, "arch_prctl(ARCH_SET_CPUID, 0): %s",
		     strerror(errno));
}

Test(cpuid, cpuid_in_the_enclave_is_ud_with_cpuid_faulting)
{
	cpuid_faulting_on();
	/* Nothing of the host's between here and the next arch_prctl may execute CPUID: it would fault. */
	uint64_t args[4] = {1, 0, 0, 0}; /* leaf 1, subleaf 0 */
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, 2, rec);
	struct tos_flow f = {0};
	int r = tos_flow_call(0, OP_SYSCALL, (uint64_t)(uintptr_t)args, SC_CPUID, out, &f);
	long off = syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1L);
	cr_assert_eq(off, 0);
	cr_assert_eq(r, 0);
	cr_assert_eq(f.exceptions, 1);
	cr_assert_eq(f.vector, X86_UD, "vector %u: CPUID in an enclave raises #UD, whatever the host raised", f.vector);
	cr_assert_eq(rec[HREC_EXITINFO], TOS_EXITINFO(X86_UD));
	cr_assert_eq(rec[HREC_RIP], out[2], "SSA RIP %#llx is the cpuid %#llx", (unsigned long long)rec[HREC_RIP],
		     (unsigned long long)out[2]);
	cr_assert_eq(out[1], 1, "the handler skipped the instruction and the code went on");
	cr_assert_eq(out[0], 1, "RAX still holds the leaf: CPUID did not execute");
	cr_assert_eq(tos_cssa(0), 0);
	/* The host's own CPUID answers again. */
	unsigned a, b, c, d;
	cr_assert(__get_cpuid(0, &a, &b, &c, &d));
}

/* Without CPUID faulting the instruction cannot be made to trap: it runs natively (docs/exec.md, limits). */
Test(cpuid, cpuid_in_the_enclave_runs_natively_without_cpuid_faulting)
{
	uint64_t args[4] = {0, 0, 0, 0};
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_SYSCALL, (uint64_t)(uintptr_t)args, SC_CPUID, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(out[1], 1);
	unsigned a, b, c, d;
	cr_assert(__get_cpuid(0, &a, &b, &c, &d));
	cr_assert_eq(out[0], a, "leaf 0's EAX, %#llx, is the host's %#x", (unsigned long long)out[0], a);
}

/* Tests with their own setup. */
TestSuite(sud_setup, .timeout = 60);

static void setup_without_sud(void)
{
	setenv("SGXEMU_EXEC_NO_SUD", "1", 1);
	tos_setup();
}

/* Under valgrind (found by its preloaded core) neither Syscall User Dispatch nor FSGSBASE is used. */
Test(sud_setup, valgrind_gets_no_dispatch)
{
	setenv("LD_PRELOAD", "/usr/libexec/valgrind/vgpreload_core-amd64-linux.so", 1);
	char why[160];
	cr_assert_not(exec_sud_probe(why, sizeof(why)));
	cr_assert(strstr(why, "valgrind"), "the reason names valgrind: %s", why);
	unsetenv("LD_PRELOAD");
}

Test(sud_setup, without_dispatch_the_system_call_runs_natively, .init = setup_without_sud, .fini = teardown)
{
	char why[160];
	cr_assert_not(exec_sud_probe(why, sizeof(why)));
	cr_assert(strstr(why, "SGXEMU_EXEC_NO_SUD"), "the reason names the setting: %s", why);
	int p[2];
	make_pipe(p);
	static const char msg[8] = "enclave";
	uint64_t args[4] = {SYS_write, (uint64_t)p[1], (uint64_t)(uintptr_t)msg, sizeof(msg)};
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_SYSCALL, (uint64_t)(uintptr_t)args, SC_SYSCALL, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT, "the documented fallback: no #UD");
	cr_assert_eq(out[0], sizeof(msg));
	char back[8];
	cr_assert_eq(read(p[0], back, sizeof(back)), (ssize_t)sizeof(back));
	cr_assert_arr_eq(back, msg, sizeof(msg));
	close(p[0]);
	close(p[1]);
}

static volatile int sigsys_seen;

static void sigsys_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si, (void)uc;
	if (sig == SIGSYS)
		sigsys_seen++;
}

static void setup_with_sigsys(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	tos_setup();
}

Test(sud_setup, sigsys_of_host_code_reaches_the_previous_handler, .init = setup_with_sigsys, .fini = teardown)
{
	skip_without_sud();
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_ECHO, 1, 2, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	raise(SIGSYS);
	cr_assert_eq(sigsys_seen, 1);
	cr_assert_eq(exec_uninstall(), 0);
	struct sigaction now;
	sigaction(SIGSYS, NULL, &now);
	cr_assert_eq((void *)now.sa_sigaction, (void *)sigsys_handler, "uninstall gives SIGSYS back");
}

/* ---- XSAVE components outside XFRM ---- */

/*
 * fid_call: sgxemu_call_enclave with every quadword of YMM0..15 set to
 * fid_host_pattern before, and YMM0..15 stored to fid_ymm right after it
 * returns (no C code in between that could touch them).
 */
uint64_t fid_ymm[16][4] __attribute__((aligned(32), used));
uint64_t fid_host_pattern __attribute__((used));
int fid_call(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function, unsigned long r8,
	     unsigned long r9, struct sgx_enclave_run *run);
__asm__(".text\n"
	".globl fid_call\n"
	".type fid_call, @function\n"
	"fid_call:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	vbroadcastsd fid_host_pattern(%rip), %ymm0\n"
	"	.irp n, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15\n"
	"	vmovdqa %ymm0, %ymm\\n\n"
	"	.endr\n"
	"	sub $8, %rsp\n"
	"	push 16(%rbp)\n"
	"	call sgxemu_call_enclave\n"
	"	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15\n"
	"	vmovdqu %ymm\\n, fid_ymm+32*\\n(%rip)\n"
	"	.endr\n"
	"	vzeroupper\n"
	"	leave\n"
	"	ret\n"
	".size fid_call, . - fid_call\n");

#define ENCLAVE_YMM 0xE7E7E7E7E7E7E7E7ULL
#define HOST_YMM    0x4848484848484848ULL

static void skip_without_avx(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1U << 28)) || !(c & (1U << 27)))
		cr_skip_test("the CPU has no AVX (or no OSXSAVE)");
	exec_cpu_init();
	if ((exec_xlayout.xcr0 & 6) != 6)
		cr_skip_test("the kernel did not enable AVX state (XCR0 %#llx)", (unsigned long long)exec_xlayout.xcr0);
}

static int ymm_call_on(uint64_t tcs, uint64_t op, uint64_t a, uint64_t b, uint64_t *out, struct sgx_enclave_run *run)
{
	memset(run, 0, sizeof(*run));
	run->tcs = tcs;
	memset(fid_ymm, 0xA5, sizeof(fid_ymm));
	fid_host_pattern = HOST_YMM;
	return fid_call(op, a, b, ENCLU_EENTER, 0, (unsigned long)out, run);
}

static int ymm_call(uint64_t op, uint64_t a, uint64_t b, uint64_t *out, struct sgx_enclave_run *run)
{
	return ymm_call_on(tos_tcs(0), op, a, b, out, run);
}

TestSuite(xfrm, .init = setup, .fini = teardown, .timeout = 60);

Test(xfrm, avx_state_outside_xfrm_is_init_when_the_host_gets_an_aex)
{
	skip_without_avx();
	struct hw_secs_view v;
	cr_assert(hw_secs_get(tos.th.m, tos.th.secs_pa, &v));
	cr_assert_eq(v.secs.xfrm, 3, "the test enclave's XFRM is x87 | SSE");
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(ymm_call(OP_YMM, ENCLAVE_YMM, 1, out, &run), 0);
	assert_exception(&run, X86_UD, 0, 0);
	cr_assert_eq(out[0], 0);
	/* XMM (in XFRM): INIT by the AEX; the upper halves (AVX, outside XFRM): INIT, never the enclave's. */
	for (unsigned r = 0; r < 16; r++)
		for (unsigned q = 0; q < 4; q++)
			cr_assert_eq(fid_ymm[r][q], 0, "YMM%u quadword %u = %#llx", r, q,
				     (unsigned long long)fid_ymm[r][q]);
}

Test(xfrm, avx_state_outside_xfrm_is_init_after_eexit)
{
	skip_without_avx();
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(ymm_call(OP_YMM, ENCLAVE_YMM, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(out[0], 1);
	for (unsigned r = 0; r < 16; r++)
		for (unsigned q = 2; q < 4; q++)
			cr_assert_eq(fid_ymm[r][q], 0, "YMM%u upper quadword %u = %#llx", r, q,
				     (unsigned long long)fid_ymm[r][q]);
	/* XFRM state passes EEXIT as the enclave left it (its code does not touch XMM15 after setting it). */
	cr_assert_eq(fid_ymm[15][0], ENCLAVE_YMM);
	cr_assert_eq(fid_ymm[15][1], ENCLAVE_YMM);
}

/* EENTER changes no register state the host set (the enclave must clear what it does not trust). */
Test(xfrm, the_hosts_vector_registers_reach_the_enclave_at_eenter)
{
	skip_without_avx();
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(ymm_call(OP_XMM15, 0, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(out[0], HOST_YMM, "XMM15 in the enclave: %#llx", (unsigned long long)out[0]);
}

/* An EENTER that fails (the TCS operand is a data page) reports at the AEP with the host's registers as they were. */
Test(xfrm, a_failed_eenter_leaves_the_hosts_vector_registers)
{
	skip_without_avx();
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(ymm_call_on(tos_lin(0x2000), OP_ECHO, 1, 2, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EENTER, "the entry failed (function %u)", run.function);
	cr_assert(run.exception_vector == X86_PF || run.exception_vector == X86_GP, "vector %u", run.exception_vector);
	for (unsigned r = 0; r < 16; r++)
		for (unsigned q = 0; q < 4; q++)
			cr_assert_eq(fid_ymm[r][q], HOST_YMM, "YMM%u quadword %u = %#llx", r, q,
				     (unsigned long long)fid_ymm[r][q]);
}

Test(xfrm, init_except_clears_the_components_outside_the_mask)
{
	/* A layout with AVX at 576, opmask at 832 and PKRU at 2432 (an AMD-like image). */
	struct exec_xlayout l;
	memset(&l, 0, sizeof(l));
	l.xcr0 = 0x227;
	l.off[2] = 576, l.size[2] = 256;
	l.off[5] = 832, l.size[5] = 64;
	l.off[9] = 2432, l.size[9] = 8;
	static uint8_t img[2440];
	memset(img, 0xAB, sizeof(img));
	uint64_t bv = 0x227;
	memcpy(img + EXEC_XSAVE_BV, &bv, sizeof(bv));
	exec_xstate_init_except(&l, img, sizeof(img), 3 | (1ULL << 9));
	memcpy(&bv, img + EXEC_XSAVE_BV, sizeof(bv));
	cr_assert_eq(bv, 0x203, "XSTATE_BV %#llx", (unsigned long long)bv);
	for (unsigned i = 576; i < 896; i++)
		cr_assert_eq(img[i], 0, "byte %u of AVX/opmask", i);
	for (unsigned i = 2432; i < 2440; i++)
		cr_assert_eq(img[i], 0xAB, "PKRU kept");
	for (unsigned i = 0; i < EXEC_XSAVE_BV; i++)
		cr_assert_eq(img[i], 0xAB, "x87/SSE are never touched");

	/* An image shorter than a component: only what it holds is cleared. */
	memset(img, 0xAB, sizeof(img));
	bv = 0x227;
	memcpy(img + EXEC_XSAVE_BV, &bv, sizeof(bv));
	exec_xstate_init_except(&l, img, 700, 3);
	for (unsigned i = 576; i < 700; i++)
		cr_assert_eq(img[i], 0);
	cr_assert_eq(img[700], 0xAB);

	/* A component already in its initial state (XSTATE_BV bit clear): its bytes are not state, left alone. */
	memset(img, 0xAB, sizeof(img));
	bv = 0x203;
	memcpy(img + EXEC_XSAVE_BV, &bv, sizeof(bv));
	exec_xstate_init_except(&l, img, sizeof(img), 3);
	memcpy(&bv, img + EXEC_XSAVE_BV, sizeof(bv));
	cr_assert_eq(bv, 0x3);
	cr_assert_eq(img[576], 0xAB);
}

/* ---- XFRM components through the SSA ---- */

/*
 * Vector state of host code between an AEX and the ERESUME: every YMM (and,
 * with AVX-512, ZMM and opmask) register all ones, so that what the enclave
 * finds after ERESUME can only have come from its SSA frame.
 */
void fid_clobber_avx(void);
void fid_clobber_avx512(void);
__asm__(".text\n"
	".globl fid_clobber_avx\n"
	".type fid_clobber_avx, @function\n"
	"fid_clobber_avx:\n"
	"	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15\n"
	"	vpcmpeqd %ymm\\n, %ymm\\n, %ymm\\n\n"
	"	.endr\n"
	"	ret\n"
	".size fid_clobber_avx, . - fid_clobber_avx\n"
	".globl fid_clobber_avx512\n"
	".type fid_clobber_avx512, @function\n"
	"fid_clobber_avx512:\n"
	"	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, "
	"26, 27, 28, 29, 30, 31\n"
	"	vpternlogd $0xff, %zmm\\n, %zmm\\n, %zmm\\n\n"
	"	.endr\n"
	"	.irp n, 0, 1, 2, 3, 4, 5, 6, 7\n"
	"	kxnorq %k\\n, %k\\n, %k\\n\n"
	"	.endr\n"
	"	ret\n"
	".size fid_clobber_avx512, . - fid_clobber_avx512\n");

#define VEC_BASE 0x1000200030000000ULL

static bool xfrm_ready;
static bool clobber_zmm;

static void xfrm_teardown(void)
{
	if (xfrm_ready)
		tos_teardown();
}

/*
 * The test OS with an enclave of XFRM xfrm on a machine configured from this
 * host as src/emu configures it (XCR0, XFRM allowed, the XSAVE layout of
 * CPUID leaf 0xD).  Skips when the host lacks a feature of xfrm.
 */
static void xfrm_setup(uint64_t xfrm)
{
	uint64_t allowed = hw_xfrm_allowed_for(exec_cpu_xfeatures());
	if (xfrm & ~allowed)
		cr_skip_test("this host's XSAVE features (XFRM allowed %#llx) lack %#llx of XFRM %#llx",
			     (unsigned long long)allowed, (unsigned long long)(xfrm & ~allowed),
			     (unsigned long long)xfrm);
	th_machine_hook = exec_cpu_hw_config;
	th_secs_xfrm = xfrm;
	tos_setup();
	xfrm_ready = true;
	struct hw_secs_view v;
	cr_assert(hw_secs_get(tos.th.m, tos.th.secs_pa, &v));
	cr_assert_eq(v.secs.xfrm, xfrm);
}

/* tos_flow_handler, with host code's vector registers overwritten first. */
static int clobber_flow_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	if (clobber_zmm)
		fid_clobber_avx512();
	else
		fid_clobber_avx();
	return tos_flow_handler(rdi, rsi, rdx, rsp, r8, r9, run);
}

/*
 * op (OP_YMM_AEX / OP_ZMM_AEX) on TCS 0 with the handler flow: the ud2's
 * AEX, the enclave's handler (CSSA 1) skipping it, ERESUME; host code
 * clobbers the vector registers before each entry.  dump gets what the
 * enclave read back after the ERESUME.
 */
static void vec_aex_call(uint64_t op, uint64_t *dump)
{
	uint64_t rec[HREC_WORDS] = {0}, out[ENCL_OUT_WORDS] = {0};
	tos_set_handler(0, HANDLER_SKIP, 2, rec);
	struct tos_flow f = {0};
	struct sgx_enclave_run run = {.tcs = tos_tcs(0),
				      .user_handler = (uint64_t)(uintptr_t)clobber_flow_handler,
				      .user_data = (uint64_t)(uintptr_t)&f};
	cr_assert_eq(sgxemu_call_enclave(op, VEC_BASE, 0, ENCLU_EENTER, (unsigned long)(uintptr_t)dump,
					 (unsigned long)(uintptr_t)out, &run),
		     0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(f.exceptions, 1, "one AEX (%u)", f.exceptions);
	cr_assert_eq(f.vector, X86_UD);
	cr_assert_eq(f.resumes, 1, "one ERESUME (%u)", f.resumes);
	cr_assert_eq(rec[HREC_EXITINFO], TOS_EXITINFO(X86_UD));
	cr_assert_eq(out[0], 1, "the code after the ud2 ran");
}

/* Bytes of SSA frame 0 of TCS 0, through the EPC alias (the frame ERESUME restored). */
static const uint8_t *ssa0(void)
{
	return (const uint8_t *)(uintptr_t)tos_pa(tos_lin(ENCL_SLOT(0) + ENCL_SLOT_SSA));
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

TestSuite(xfrm_ssa, .fini = xfrm_teardown, .timeout = 60);

Test(xfrm_ssa, ymm_state_of_an_xfrm_7_enclave_survives_an_aex)
{
	skip_without_avx();
	xfrm_setup(0x7);
	static uint64_t dump[YMM_AEX_WORDS];
	vec_aex_call(OP_YMM_AEX, dump);
	for (unsigned i = 0; i < YMM_AEX_WORDS; i++)
		cr_assert_eq(dump[i], VEC_BASE + i, "YMM%u quadword %u = %#llx after ERESUME", i / 4, i % 4,
			     (unsigned long long)dump[i]);

	/* The SSA frame holds them at CPUID leaf 0xD's offsets: XMM in the legacy region, the rest in YMM_Hi128. */
	const uint8_t *x = ssa0();
	cr_assert_eq(rd64(x + EXEC_XSAVE_BV) & ~3ULL, 0x4, "XSTATE_BV %#llx",
		     (unsigned long long)rd64(x + EXEC_XSAVE_BV));
	for (unsigned n = 0; n < 16; n++) {
		cr_assert_eq(rd64(x + 160 + 16 * n), VEC_BASE + 4 * n, "XMM%u low quadword in the SSA", n);
		cr_assert_eq(rd64(x + 160 + 16 * n + 8), VEC_BASE + 4 * n + 1);
		cr_assert_eq(rd64(x + exec_xlayout.off[2] + 16 * n), VEC_BASE + 4 * n + 2,
			     "YMM%u upper half in the SSA", n);
		cr_assert_eq(rd64(x + exec_xlayout.off[2] + 16 * n + 8), VEC_BASE + 4 * n + 3);
	}
}

static void skip_without_avx512(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid_max(0, NULL) < 7)
		cr_skip_test("no CPUID leaf 7: no AVX-512");
	__cpuid_count(7, 0, a, b, c, d);
	if (!(b & (1U << 16)) || !(b & (1U << 30)))
		cr_skip_test("the CPU has no AVX-512F/AVX-512BW (CPUID.7.EBX %#x)", b);
}

Test(xfrm_ssa, zmm_and_opmask_state_of_an_avx512_enclave_survives_an_aex)
{
	skip_without_avx();
	skip_without_avx512();
	xfrm_setup(0xE7);
	clobber_zmm = true;
	static uint64_t dump[ZMM_AEX_WORDS];
	vec_aex_call(OP_ZMM_AEX, dump);
	for (unsigned i = 0; i < 256; i++)
		cr_assert_eq(dump[i], VEC_BASE + i, "ZMM%u quadword %u = %#llx after ERESUME", i / 8, i % 8,
			     (unsigned long long)dump[i]);
	for (unsigned k = 0; k < 8; k++)
		cr_assert_eq(dump[256 + k], VEC_BASE + 256 + k, "k%u = %#llx after ERESUME", k,
			     (unsigned long long)dump[256 + k]);

	/* In the SSA: opmask, ZMM_Hi256 (ZMM0..15 bits 511:256) and Hi16_ZMM (ZMM16..31) at their CPUID offsets. */
	const uint8_t *x = ssa0();
	cr_assert_eq(rd64(x + EXEC_XSAVE_BV) & 0xE4, 0xE4, "XSTATE_BV %#llx",
		     (unsigned long long)rd64(x + EXEC_XSAVE_BV));
	for (unsigned k = 0; k < 8; k++)
		cr_assert_eq(rd64(x + exec_xlayout.off[5] + 8 * k), VEC_BASE + 256 + k, "k%u in the SSA", k);
	for (unsigned n = 0; n < 16; n++)
		for (unsigned q = 0; q < 4; q++)
			cr_assert_eq(rd64(x + exec_xlayout.off[6] + 32 * n + 8 * q), VEC_BASE + 8 * n + 4 + q,
				     "ZMM%u quadword %u in the SSA", n, 4 + q);
	for (unsigned n = 16; n < 32; n++)
		for (unsigned q = 0; q < 8; q++)
			cr_assert_eq(rd64(x + exec_xlayout.off[7] + 64 * (n - 16) + 8 * q), VEC_BASE + 8 * n + q,
				     "ZMM%u quadword %u in the SSA", n, q);
}

Test(xfrm_ssa, avx512_state_outside_an_xfrm_7_enclave_is_not_saved)
{
	/*
	 * XFRM = 7 on an AVX-512 host: the SSA has no room for ZMM upper halves,
	 * ZMM16..31 and k0..7 (docs/exec.md, Limitations): after ERESUME the
	 * enclave finds them as host code left them (all ones), never its own.
	 */
	skip_without_avx();
	skip_without_avx512();
	xfrm_setup(0x7);
	clobber_zmm = true;
	static uint64_t dump[ZMM_AEX_WORDS];
	vec_aex_call(OP_ZMM_AEX, dump);
	for (unsigned i = 0; i < 256; i++) {
		unsigned n = i / 8, q = i % 8;
		uint64_t want = n < 16 && q < 4 ? VEC_BASE + i : ~0ULL;
		cr_assert_eq(dump[i], want, "ZMM%u quadword %u = %#llx, expected %#llx", n, q,
			     (unsigned long long)dump[i], (unsigned long long)want);
	}
	for (unsigned k = 0; k < 8; k++)
		cr_assert_eq(dump[256 + k], ~0ULL, "k%u = %#llx", k, (unsigned long long)dump[256 + k]);
	const uint8_t *x = ssa0();
	cr_assert_eq(rd64(x + EXEC_XSAVE_BV) & ~7ULL, 0, "XSTATE_BV %#llx: XFRM components only",
		     (unsigned long long)rd64(x + EXEC_XSAVE_BV));
}

/* ---- protection keys ---- */

TestSuite(pkey, .timeout = 60);

Test(pkey, pkru_of_host_and_enclave_code)
{
	uint32_t mask = (1U << 3) | (1U << 5);
	uint32_t off35 = (3U << 6) | (3U << 10);
	cr_assert_eq(exec_pkru_host(0, mask), off35, "both keys access- and write-disabled");
	cr_assert_eq(exec_pkru_host(0x55555554, mask), 0x55555554 | off35);
	cr_assert_eq(exec_pkru_enclave(0, mask, 3), 3U << 10, "the enclave's key open, the other enclave's closed");
	cr_assert_eq(exec_pkru_enclave(0x55555554, mask, 5), (0x55555554 | (3U << 6)) & ~(3U << 10));
	cr_assert_eq(exec_pkru_enclave(0x4, mask, -ENOENT), 0x4 | off35, "an enclave without a key: the host's");
	cr_assert_eq(exec_pkru_host(0x4, 0), 0x4, "no enclave keys: unchanged");
}

Test(pkey, pkru_component_is_added_to_a_frame_that_lacks_it)
{
	struct exec_xlayout l;
	memset(&l, 0, sizeof(l));
	l.off[9] = 2688, l.size[9] = 8;
	static uint8_t img[2696];
	memset(img, 0, sizeof(img));
	uint64_t bv = 3, present = 0x207;
	memcpy(img + EXEC_XSAVE_BV, &bv, sizeof(bv));
	img[2688] = 0x77; /* stale bytes of an INIT component */
	uint32_t pkru = 1;
	cr_assert(exec_xstate_get_pkru(&l, img, sizeof(img), present, &pkru));
	cr_assert_eq(pkru, 0, "XSTATE_BV[9] clear: PKRU is INIT (0)");
	cr_assert(exec_xstate_set_pkru(&l, img, sizeof(img), present, 0x55555554));
	memcpy(&bv, img + EXEC_XSAVE_BV, sizeof(bv));
	cr_assert_eq(bv, 0x203, "the component is now in XSTATE_BV");
	cr_assert(exec_xstate_get_pkru(&l, img, sizeof(img), present, &pkru));
	cr_assert_eq(pkru, 0x55555554);
	/* A frame without the component (not in its features, or too short) is left alone. */
	cr_assert_not(exec_xstate_set_pkru(&l, img, sizeof(img), 0x7, 0));
	cr_assert_not(exec_xstate_set_pkru(&l, img, 2690, present, 0));
	cr_assert(exec_xstate_get_pkru(&l, img, sizeof(img), present, &pkru));
	cr_assert_eq(pkru, 0x55555554);
}

Test(pkey, key_allocation_fails_cleanly_without_protection_keys)
{
	char why[160];
	if (exec_pkey_probe(why, sizeof(why)))
		cr_skip_test("protection keys available here: the isolation test covers allocation");
	cr_assert_eq(exec_pkey_alloc(0x7000), -EOPNOTSUPP, "(%s)", why);
	cr_assert_eq(exec_pkey_of(0x7000), -ENOENT);
	cr_assert_eq(exec_pkey_alloc(0x7001), -EINVAL);
	exec_pkey_free(0x7000);
	cr_assert_eq(exec_pkey_of(0x7000), -ENOENT);
}

static sigjmp_buf pk_jmp;
static volatile int pk_code, pk_key, pk_faults;

static void pk_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	pk_faults++;
	pk_code = si->si_code;
	pk_key = (int)si->si_pkey;
	siglongjmp(pk_jmp, 1);
}

static void setup_pkey(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = pk_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	tos_setup();
}

/* A host read of addr: true if it faulted with a protection-key error for key. */
static bool host_read_faults(uint64_t addr, int key)
{
	int before = pk_faults;
	if (sigsetjmp(pk_jmp, 1) == 0) {
		uint64_t v = *(volatile uint64_t *)(uintptr_t)addr;
		(void)v;
		return false;
	}
	return pk_faults == before + 1 && pk_code == SEGV_PKUERR && pk_key == key;
}

Test(pkey, enclave_pages_are_isolated_from_the_host_with_protection_keys, .init = setup_pkey, .fini = teardown)
{
	char why[160];
	if (!exec_pkey_probe(why, sizeof(why)))
		cr_skip_test("protection keys unavailable: %s", why);
	/* 1. A key for the enclave; the OS maps every page of ELRANGE with it. */
	int key = exec_pkey_alloc(tos.th.secs_pa);
	cr_assert_gt(key, 0, "exec_pkey_alloc: %d", key);
	cr_assert_eq(exec_pkey_of(tos.th.secs_pa), key);
	cr_assert_eq(exec_pkey_alloc(tos.th.secs_pa), key, "asking again gives the same key");
	for (uint64_t a = ENCL_BASE; a < ENCL_BASE + ENCL_SIZE; a += SGX_PAGE_SIZE)
		cr_assert_eq(syscall(SYS_pkey_mprotect, a, SGX_PAGE_SIZE, tos_host_prot(a), key), 0, "%s",
			     strerror(errno));
	uint64_t data = tos_lin(0x2000);
	*(volatile uint64_t *)(uintptr_t)tos_pa(data) = 0x5EC12E7;

	/* 2. Enclave code reads its page: its PKRU opens the key. */
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(tos_ecall(0, OP_READ, data, 0, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	cr_assert_eq(out[0], 0x5EC12E7);

	/* 3. Host code cannot: after EEXIT, and after an AEX. */
	cr_assert(host_read_faults(data, key), "after EEXIT: si_code %d, key %d", pk_code, pk_key);
	cr_assert_eq(tos_ecall(1, OP_UD2, 0, 0, 0, out, &run), 0);
	cr_assert_eq(run.exception_vector, X86_UD);
	cr_assert(host_read_faults(data, key), "after an AEX: si_code %d, key %d", pk_code, pk_key);

	/* 4. The key goes with the enclave. */
	exec_pkey_free(tos.th.secs_pa);
	cr_assert_eq(exec_pkey_of(tos.th.secs_pa), -ENOENT);
}
