/* SPDX-License-Identifier: MIT */
/*
 * Every way a host CPU can refuse ENCLU, on any host.  What this machine
 * raises is exercised by every other suite; here exec's trap entry
 * (exec_trap) gets synthetic siginfo_t/ucontext_t of each kind, as the
 * kernel would deliver them:
 *   - #UD: SIGILL, ILL_ILLOPN (CPUs without SGX, or with SGX off);
 *   - #GP(0): SIGSEGV, SI_KERNEL, trap 13 (SGX enabled by the firmware);
 *   - #PF on an operand: SIGSEGV SEGV_MAPERR / SEGV_ACCERR, or SIGBUS, at
 *     the operand's address (EENTER's TCS: RBX + 0xfff, error code 6);
 * each must run the leaf, on the host side (EENTER at sgxemu_enter_enclave's
 * ENCLU) and on the enclave side (EEXIT at an ENCLU of enclave code).  A
 * fault fetching the ENCLU itself, and a signal sent by a process, are not
 * the leaf: they are passed on as what they are.  And a #GP at any other
 * instruction of enclave code is #UD exactly where that instruction is
 * illegal in an enclave (SGX's list), whatever made the host refuse it.
 */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "exec_int.h"
#include "testos.h"

static void setup(void)
{
	tos_setup();
}

static void teardown(void)
{
	tos_teardown();
}

/* The program's SIGSEGV/SIGILL/SIGBUS handler: counts what exec passed on. */
static struct {
	unsigned count;
	int signo, code;
	uint64_t addr;
} passed;

static void program_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	passed.count++;
	passed.signo = sig;
	passed.code = si->si_code;
	passed.addr = (uint64_t)(uintptr_t)si->si_addr;
}

static void setup_with_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = program_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	memset(&passed, 0, sizeof(passed));
	tos_setup();
}

/* A trap kind: the signal and its siginfo/trap registers for an ENCLU at rip with operand address op. */
enum kind { UD, GP, PF_MAPERR, PF_ACCERR, BUS, FETCH_PF, FETCH_LAST_BYTE, SENT };

struct event {
	siginfo_t si;
	ucontext_t uc;
};

static void make(struct event *e, enum kind k, uint64_t rip, uint64_t op)
{
	memset(&e->si, 0, sizeof(e->si));
	/* getcontext: a real FPU image (FXSAVE layout) for exec to save and restore. */
	getcontext(&e->uc);
	greg_t *g = e->uc.uc_mcontext.gregs;
	g[REG_RIP] = (greg_t)rip;
	g[REG_TRAPNO] = 0;
	g[REG_ERR] = 0;
	switch (k) {
	case UD:
		e->si.si_signo = SIGILL;
		e->si.si_code = ILL_ILLOPN;
		e->si.si_addr = (void *)(uintptr_t)rip;
		g[REG_TRAPNO] = X86_UD;
		break;
	case GP:
		e->si.si_signo = SIGSEGV;
		e->si.si_code = SI_KERNEL;
		g[REG_TRAPNO] = X86_GP;
		break;
	case PF_MAPERR:
	case PF_ACCERR:
		e->si.si_signo = SIGSEGV;
		e->si.si_code = k == PF_MAPERR ? SEGV_MAPERR : SEGV_ACCERR;
		e->si.si_addr = (void *)(uintptr_t)op;
		g[REG_TRAPNO] = X86_PF;
		g[REG_ERR] = PF_W | PF_U | (k == PF_ACCERR ? PF_P : 0);
		break;
	case BUS:
		e->si.si_signo = SIGBUS;
		e->si.si_code = BUS_ADRERR;
		e->si.si_addr = (void *)(uintptr_t)op;
		g[REG_TRAPNO] = X86_PF;
		g[REG_ERR] = PF_W | PF_U | PF_P;
		break;
	case FETCH_PF:
		e->si.si_signo = SIGSEGV;
		e->si.si_code = SEGV_ACCERR;
		e->si.si_addr = (void *)(uintptr_t)rip;
		g[REG_TRAPNO] = X86_PF;
		g[REG_ERR] = PF_P | PF_U | PF_I;
		break;
	case FETCH_LAST_BYTE:
		/* The instruction crosses into a page that is not there: the fault names its third byte. */
		e->si.si_signo = SIGSEGV;
		e->si.si_code = SEGV_MAPERR;
		e->si.si_addr = (void *)(uintptr_t)(rip + 2);
		g[REG_TRAPNO] = X86_PF;
		g[REG_ERR] = PF_U;
		break;
	case SENT:
		e->si.si_signo = SIGILL;
		e->si.si_code = SI_USER;
		break;
	}
}

static struct exec_thread *self_block(void)
{
	struct hw_thread *t = exec_thread_self();
	return t ? (struct exec_thread *)((char *)t - offsetof(struct exec_thread, t)) : NULL;
}

/* An ENCLU in the test enclave's code, found through the EPC alias. */
static uint64_t enclave_enclu(void)
{
	const uint8_t *p = (const uint8_t *)(uintptr_t)tos_pa(ENCL_BASE);
	for (uint64_t off = 0; off + 3 <= 0x10000; off++)
		if (p[off] == 0x0F && p[off + 1] == 0x01 && p[off + 2] == 0xD7)
			return ENCL_BASE + off;
	cr_assert_fail("no ENCLU in the test enclave's first pages");
	return 0;
}

/* EXITINFO of SSA frame `frame` of thread 0, as the enclave's handler would read it. */
static uint32_t ssa_exitinfo(unsigned frame)
{
	uint64_t off = ENCL_SLOT(0) + ENCL_SLOT_SSA + (frame + 1) * (uint64_t)SGX_PAGE_SIZE - SGX_GPRSGX_SIZE +
		       offsetof(struct sgx_gprsgx, exitinfo);
	uint64_t q = 0;
	cr_assert_eq(off % 8, 0);
	cr_assert(hw_is_ok(encls_edbgrd(tos.th.m, tos_pa(tos_lin(off)), &q)), "EDBGRD of the SSA");
	return (uint32_t)q;
}

/* Host side: EENTER at sgxemu_enter_enclave's ENCLU, delivered as kind k. */
static void host_eenter(struct event *e, enum kind k)
{
	uint64_t rip = (uint64_t)(uintptr_t)exec_vdso_enclu;
	make(e, k, rip, tos_tcs(0) + 0xfff);
	greg_t *g = e->uc.uc_mcontext.gregs;
	g[REG_RAX] = ENCLU_EENTER;
	g[REG_RBX] = (greg_t)tos_tcs(0);
	g[REG_RCX] = (greg_t)rip;
	exec_trap(e->si.si_signo, &e->si, &e->uc, NULL);
}

static void assert_entered(const struct event *e)
{
	struct hw_thread *t = exec_thread_self();
	cr_assert_not_null(t);
	cr_assert(t->in_enclave, "the leaf ran: the thread is in enclave mode");
	cr_assert_eq((uint64_t)e->uc.uc_mcontext.gregs[REG_RIP], tos.entry, "the context continues at OENTRY");
	cr_assert_eq((uint64_t)e->uc.uc_mcontext.gregs[REG_RAX], 0, "EENTER: RAX = CSSA");
	cr_assert_eq((uint64_t)e->uc.uc_mcontext.gregs[REG_RCX], (uint64_t)(uintptr_t)exec_vdso_enclu + 3,
		     "EENTER: RCX = the address after ENCLU");
}

/* Enclave side: EEXIT to target at an enclave ENCLU, delivered as kind k (the thread entered first). */
static void enclave_eexit(struct event *e, enum kind k, uint64_t target)
{
	uint64_t rip = enclave_enclu();
	make(e, k, rip, target);
	greg_t *g = e->uc.uc_mcontext.gregs;
	g[REG_RAX] = ENCLU_EEXIT;
	g[REG_RBX] = (greg_t)target;
	g[REG_RCX] = 0;
	g[REG_RSP] = (greg_t)tos_lin(ENCL_SLOT(0) + ENCL_SLOT_STACK0_TOP - 64);
	exec_trap(e->si.si_signo, &e->si, &e->uc, self_block());
}

static void enter_then_exit(enum kind k)
{
	struct event e;
	host_eenter(&e, k);
	assert_entered(&e);
	struct event x;
	uint64_t target = (uint64_t)(uintptr_t)&enter_then_exit;
	enclave_eexit(&x, k, target);
	cr_assert_not(exec_thread_self()->in_enclave, "EEXIT ran: the thread left enclave mode");
	cr_assert_eq((uint64_t)x.uc.uc_mcontext.gregs[REG_RIP], target, "EEXIT continues at RBX");
	cr_assert_eq(tos_cssa(0), 0);
}

TestSuite(trapkind, .init = setup, .fini = teardown, .timeout = 30);

Test(trapkind, ud_sigill_is_the_leaf)
{
	enter_then_exit(UD);
}

Test(trapkind, gp_sigsegv_si_kernel_is_the_leaf)
{
	enter_then_exit(GP);
}

Test(trapkind, pf_maperr_at_the_operand_is_the_leaf)
{
	enter_then_exit(PF_MAPERR);
}

Test(trapkind, pf_accerr_at_the_operand_is_the_leaf)
{
	enter_then_exit(PF_ACCERR);
}

Test(trapkind, sigbus_at_the_operand_is_the_leaf)
{
	enter_then_exit(BUS);
}

/* The leaf whose trap the host raised for the other kind: EENTER as #UD, EEXIT as #GP and the reverse. */
Test(trapkind, kinds_mix_within_one_call)
{
	struct event e, x;
	host_eenter(&e, UD);
	assert_entered(&e);
	enclave_eexit(&x, GP, 0x1234);
	cr_assert_not(exec_thread_self()->in_enclave);
	host_eenter(&e, PF_MAPERR);
	assert_entered(&e);
	enclave_eexit(&x, UD, 0x1234);
	cr_assert_not(exec_thread_self()->in_enclave);
}

/* ---- not the leaf: passed on ---- */

TestSuite(not_enclu, .init = setup_with_handlers, .fini = teardown, .timeout = 30);

static void host_not_leaf(enum kind k, int signo, uint64_t addr)
{
	struct event e;
	host_eenter(&e, k);
	struct hw_thread *t = exec_thread_self();
	cr_assert(!t || !t->in_enclave, "the leaf did not run");
	cr_assert_eq(passed.count, 1, "the program's handler got it (%u)", passed.count);
	cr_assert_eq(passed.signo, signo);
	cr_assert_eq(passed.addr, addr);
	cr_assert_eq((uint64_t)e.uc.uc_mcontext.gregs[REG_RIP], (uint64_t)(uintptr_t)exec_vdso_enclu,
		     "the context is unchanged");
}

Test(not_enclu, host_fetch_fault_at_the_enclu_is_an_ordinary_fault)
{
	host_not_leaf(FETCH_PF, SIGSEGV, (uint64_t)(uintptr_t)exec_vdso_enclu);
}

Test(not_enclu, host_fetch_fault_on_the_enclus_last_byte_is_an_ordinary_fault)
{
	host_not_leaf(FETCH_LAST_BYTE, SIGSEGV, (uint64_t)(uintptr_t)exec_vdso_enclu + 2);
}

Test(not_enclu, host_sigill_sent_by_a_process_is_passed_on)
{
	host_not_leaf(SENT, SIGILL, 0);
}

/*
 * Enclave side: a fetch fault on the ENCLU's page is a #PF of enclave code,
 * not the leaf.  The page is executable in the page tables and the EPCM,
 * so exec takes it for a stale host protection: refreshed, then the same
 * instruction runs again (RIP and RAX unchanged, still in enclave mode).
 */
Test(not_enclu, enclave_fetch_fault_at_an_enclu_is_not_the_leaf)
{
	struct event e, x;
	host_eenter(&e, UD);
	assert_entered(&e);
	unsigned refreshes = tos.refreshes;
	uint64_t rip = enclave_enclu();
	make(&x, FETCH_PF, rip, 0);
	x.uc.uc_mcontext.gregs[REG_RAX] = ENCLU_EEXIT;
	x.uc.uc_mcontext.gregs[REG_RBX] = 0x1234;
	exec_trap(SIGSEGV, &x.si, &x.uc, self_block());
	cr_assert(exec_thread_self()->in_enclave, "EEXIT did not run");
	cr_assert_eq((uint64_t)x.uc.uc_mcontext.gregs[REG_RIP], rip);
	cr_assert_eq((uint64_t)x.uc.uc_mcontext.gregs[REG_RAX], ENCLU_EEXIT);
	cr_assert_eq(tos.refreshes, refreshes + 1, "the host protection was refreshed");
	cr_assert_eq(passed.count, 0);
	/* Leave through a real kind. */
	enclave_eexit(&x, GP, 0x1234);
	cr_assert_not(exec_thread_self()->in_enclave);
}

/*
 * A frame that does not carry the trap number and error code (valgrind's,
 * for a fault its own CPU found): a SIGSEGV with SEGV_ACCERR at RIP is
 * still that fetch's #PF, taken here for a stale host protection as
 * above, not vector 0 (#DE).
 */
Test(not_enclu, enclave_fetch_fault_in_a_frame_without_trapno_is_a_page_fault)
{
	struct event e, x;
	host_eenter(&e, UD);
	assert_entered(&e);
	unsigned refreshes = tos.refreshes;
	uint64_t rip = enclave_enclu();
	make(&x, FETCH_PF, rip, 0);
	x.uc.uc_mcontext.gregs[REG_TRAPNO] = 0;
	x.uc.uc_mcontext.gregs[REG_ERR] = 0;
	x.uc.uc_mcontext.gregs[REG_RAX] = ENCLU_EEXIT;
	x.uc.uc_mcontext.gregs[REG_RBX] = 0x1234;
	exec_trap(SIGSEGV, &x.si, &x.uc, self_block());
	cr_assert(exec_thread_self()->in_enclave, "no AEX: the fault was a stale protection");
	cr_assert_eq((uint64_t)x.uc.uc_mcontext.gregs[REG_RIP], rip);
	cr_assert_eq(tos.refreshes, refreshes + 1, "the host protection was refreshed");
	cr_assert_eq(passed.count, 0);
	enclave_eexit(&x, GP, 0x1234);
	cr_assert_not(exec_thread_self()->in_enclave);
}

/*
 * A #GP of enclave code (SIGSEGV, SI_KERNEL, trap 13) at a CPUID is CPUID
 * faulting's: hardware raises #UD for CPUID in an enclave, so the AEX
 * records #UD.  On any host, whether or not it has CPUID faulting.
 */
static void enclave_gp_at(uint64_t rip)
{
	struct event e, x;
	host_eenter(&e, UD);
	assert_entered(&e);
	make(&x, GP, rip, 0);
	x.uc.uc_mcontext.gregs[REG_RSP] = (greg_t)tos_lin(ENCL_SLOT(0) + ENCL_SLOT_STACK0_TOP - 64);
	exec_trap(SIGSEGV, &x.si, &x.uc, self_block());
	cr_assert_not(exec_thread_self()->in_enclave, "the thread left enclave mode");
	cr_assert_eq(tos_cssa(0), 1, "by an AEX");
}

/* Instructions, and whether a #GP at one is #UD in an enclave. */
struct insn_case {
	const char *insn;
	uint8_t bytes[4];
	unsigned len;
	bool ud;
};

static const struct insn_case insn_cases[] = {
    {"in $0x80, %al", {0xE4, 0x80}, 2, true},
    {"out %al, (%dx)", {0xEE}, 1, true},
    {"insb", {0x6C}, 1, true},
    {"outsl", {0x6F}, 1, true},
    {"rdpmc", {0x0F, 0x33}, 2, true},
    {"sgdt (%rax)", {0x0F, 0x01, 0x00}, 3, true},
    {"sidt (%rax)", {0x0F, 0x01, 0x08}, 3, true},
    {"sldt %ax", {0x66, 0x0F, 0x00, 0xC0}, 4, true},
    {"str %ax", {0x66, 0x0F, 0x00, 0xC8}, 4, true},
    {"iretq", {0x48, 0xCF}, 2, true},
    {"lretq", {0x48, 0xCB}, 2, true},
    {"lret $8", {0xCA, 0x08, 0x00}, 3, true},
    {"ljmp *(%rax)", {0xFF, 0x28}, 2, true},
    {"lcall *(%rax)", {0xFF, 0x18}, 2, true},
    {"lss (%rax), %eax", {0x0F, 0xB2, 0x00}, 3, true},
    {"lfs (%rax), %eax", {0x0F, 0xB4, 0x00}, 3, true},
    {"lgs (%rax), %eax", {0x0F, 0xB5, 0x00}, 3, true},
    {"mov %eax, %ds", {0x8E, 0xD8}, 2, true},
    {"mov (%rax), %es", {0x8E, 0x00}, 2, true},
    {"pop %fs", {0x0F, 0xA1}, 2, true},
    {"pop %gs", {0x0F, 0xA9}, 2, true},
    {"cpuid", {0x0F, 0xA2}, 2, true},
    {"cs rex.W cpuid", {0x2E, 0x48, 0x0F, 0xA2}, 4, true},
    {"rex.W data16 cpuid", {0x48, 0x66, 0x0F, 0xA2}, 4, true},
    {"int $0x81", {0xCD, 0x81}, 2, true},
    {"mov (%rax), %rax", {0x48, 0x8B, 0x00}, 3, false},
    {"hlt", {0xF4}, 1, false},
    {"smsw %ax", {0x66, 0x0F, 0x01, 0xE0}, 4, false},
    {"xgetbv", {0x0F, 0x01, 0xD0}, 3, false},
    {"movaps (%rax), %xmm0", {0x0F, 0x28, 0x00}, 3, false},
    {"lgdt (%rax)", {0x0F, 0x01, 0x10}, 3, false},
    {"lldt %ax", {0x0F, 0x00, 0xD0}, 3, false},
    {"call *(%rax)", {0xFF, 0x10}, 2, false},
    {"lock cpuid", {0xF0, 0x0F, 0xA2}, 3, false},
};
#define N_INSN_CASES (sizeof(insn_cases) / sizeof(insn_cases[0]))

/*
 * Every instruction of the list, on any host, in a page of enclave code: a
 * synthetic #GP at one that is illegal in an enclave is recorded as #UD
 * (what hardware raises there, before any other check), at another it
 * stays #GP.  (LOCK CPUID is #UD on the host already; a #GP there is not
 * the CPUID's.)
 */
Test(not_enclu, a_gp_at_an_instruction_illegal_in_an_enclave_is_ud, .timeout = 120)
{
	uint64_t page = tos_lin(ENCL_DYN);
	for (unsigned k = 0; k < N_INSN_CASES; k++) {
		const struct insn_case *c = &insn_cases[k];
		tos_code_page(page, c->bytes, c->len);
		enclave_gp_at(page);
		uint32_t want = TOS_EXITINFO(c->ud ? X86_UD : X86_GP), got = ssa_exitinfo(0);
		cr_assert_eq(got, want, "%s: EXITINFO %#x, expected %#x", c->insn, got, want);
		/* A fresh enclave for the next one. */
		tos_teardown();
		tos_setup();
	}
}

/*
 * An instruction whose bytes run into a page enclave code cannot fetch (here
 * CPUID's second byte, on a page not in the enclave): hardware faults on
 * that fetch before it decodes anything, and so does the model, whatever
 * the host raised (#GP, through a host mapping the model no longer has).
 */
Test(not_enclu, a_gp_at_an_instruction_cut_by_the_page_end_is_the_fetchs_pf)
{
	uint64_t page = tos_lin(ENCL_DYN);
	tos_code_page(page, NULL, 0);
	uint8_t *p = (uint8_t *)(uintptr_t)tos_pa(page);
	p[SGX_PAGE_SIZE - 1] = 0x0F;
	enclave_gp_at(page + SGX_PAGE_SIZE - 1);
	cr_assert_eq(ssa_exitinfo(0), TOS_EXITINFO(X86_PF), "EXITINFO %#x", ssa_exitinfo(0));
}

/* Enclave side: SIGILL sent by a process while in enclave code is an interrupt (AEX), not EEXIT. */
Test(not_enclu, enclave_sigill_sent_by_a_process_is_an_interrupt)
{
	struct event e, x;
	host_eenter(&e, UD);
	assert_entered(&e);
	uint64_t rip = enclave_enclu();
	make(&x, SENT, rip, 0);
	x.uc.uc_mcontext.gregs[REG_RAX] = ENCLU_EEXIT;
	x.uc.uc_mcontext.gregs[REG_RBX] = 0x1234;
	x.uc.uc_mcontext.gregs[REG_RSP] = (greg_t)tos_lin(ENCL_SLOT(0) + ENCL_SLOT_STACK0_TOP - 64);
	exec_trap(SIGILL, &x.si, &x.uc, self_block());
	cr_assert_not(exec_thread_self()->in_enclave, "the thread left enclave mode");
	cr_assert_eq(tos_cssa(0), 1, "by an AEX, not EEXIT");
	cr_assert_eq(passed.count, 1, "the program's SIGILL handler got the signal");
	cr_assert_eq(passed.signo, SIGILL);
	cr_assert_eq(passed.code, SI_USER);
}
