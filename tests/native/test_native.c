/* SPDX-License-Identifier: MIT */
/*
 * The EDMM flows of spec/edmm-flows.md end to end: the test enclave loaded
 * through the device API (devos.c) runs natively, and every step is a real
 * ioctl, mmap/mprotect or ENCLU executed by enclave code.  Each test is its
 * own process with its own system and enclave.
 */
#include <pthread.h>
#include <stdio.h>

#include "native.h"

TestSuite(entry, .init = native_setup, .fini = native_teardown, .timeout = 60);

Test(entry, eenter_and_eexit_on_every_tcs)
{
	for (unsigned i = 0; i < DEVOS_THREADS; i++) {
		struct sgx_enclave_run run;
		uint64_t out[ENCL_OUT_WORDS] = {0};
		cr_assert_eq(devos_call(devos_tcs(i), OP_ECHO, 40, 2 + i, 0xC0FFEE, out, &run), 0);
		native_assert_eexit(&run);
		cr_assert_eq(run.tcs, devos_tcs(i));
		cr_assert_eq(out[0], 42 + i);
		cr_assert_eq(out[1], 0, "entered with CSSA 0");
		cr_assert_eq(out[2], 0xC0FFEE, "R8 reaches the enclave");
		native_op(i, OP_SEGMENTS, 0, 0, 0);
		cr_assert_eq(nout[i][0], devos_lin(ENCL_SLOT(i) + ENCL_SLOT_TD), "FS base from the TCS");
		cr_assert_eq(nout[i][1], devos_lin(ENCL_SLOT(i) + ENCL_SLOT_TD), "GS base from the TCS");
	}
}

Test(entry, report_carries_the_measurement_the_loader_computed)
{
	static struct sgx_report rep __attribute__((aligned(512)));
	static uint8_t data[64];
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0xA0 + i);
	native_op(0, OP_EREPORT, 0, (uint64_t)(uintptr_t)data, (uint64_t)(uintptr_t)&rep);
	cr_assert_arr_eq(rep.mrenclave, dv.mrenclave, 32);
	cr_assert_arr_eq(rep.mrsigner, dv.mrsigner, 32);
	cr_assert_arr_eq(rep.report_data, data, 64);
	cr_assert_eq(rep.attributes & (SGX_ATTR_INIT | SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT),
		     SGX_ATTR_INIT | SGX_ATTR_MODE64BIT, "initialised, 64-bit, not a debug enclave");
}

Test(entry, pages_added_before_init_are_resident)
{
	struct sgxemu_stats s = devos_stats();
	cr_assert_eq(dv.pages, 3 + DEVOS_THREADS * DEVOS_SLOT_PAGES, "3 image pages and the threads");
	cr_assert_eq(s.pages_resident, dv.pages);
	cr_assert_eq(s.pages_evicted, 0);
	cr_assert_eq(s.epc_size, 128ULL << 20, "the default EPC");
}

Test(entry, exception_is_reported_and_handled_by_the_enclave)
{
	struct sgx_enclave_run run;
	uint64_t out0 = 7;
	native_fault(1, OP_DIV0, 0, 0, 0, &run, &out0);
	native_assert_exception(&run, ENCLU_ERESUME, X86_DE, 0, 0);
	cr_assert_eq(out0, 0, "the code after the division had not run when the exception was reported");
	cr_assert_eq(hrec[1][HREC_EXITINFO], EXITINFO_HW(X86_DE));
	cr_assert_eq(nout[1][0], 1, "ERESUME continued after the skipped division");
	native_op(1, OP_HANDLED, 0, 0, 0);
	cr_assert_eq(nout[1][0], 1);
}

struct worker {
	unsigned slot;
	uint64_t page;
	unsigned rounds;
	char why[160];
};

/* No Criterion assertion off the test's thread: failures are described in why. */
static void *worker_main(void *p)
{
	struct worker *w = p;
	uint64_t out[ENCL_OUT_WORDS];
	struct sgx_enclave_run run;
	memset(out, 0, sizeof(out));
	devos_call(devos_tcs(w->slot), OP_EACCEPT, w->page, SI_PENDING_RW, 0, out, &run);
	if (run.function != ENCLU_EEXIT || out[0] != 0) {
		snprintf(w->why, sizeof(w->why), "EACCEPT: function %u vector %u rax %llu", run.function,
			 run.exception_vector, (unsigned long long)out[0]);
		return NULL;
	}
	for (unsigned i = 0; i < 500; i++) {
		uint64_t v = ((uint64_t)w->slot << 32) | i, a = w->page + (i % 512) * 8;
		devos_call(devos_tcs(w->slot), OP_WRITE, a, v, 0, out, &run);
		if (run.function != ENCLU_EEXIT) {
			snprintf(w->why, sizeof(w->why), "write %u: function %u", i, run.function);
			return NULL;
		}
		memset(out, 0, sizeof(out));
		devos_call(devos_tcs(w->slot), OP_READ, a, 0, 0, out, &run);
		if (run.function != ENCLU_EEXIT || out[0] != v) {
			snprintf(w->why, sizeof(w->why), "read %u: function %u value %#llx", i, run.function,
				 (unsigned long long)out[0]);
			return NULL;
		}
		devos_call(devos_tcs(w->slot), OP_ECHO, i, w->slot, 0, out, &run);
		if (run.function != ENCLU_EEXIT || out[0] != i + w->slot) {
			snprintf(w->why, sizeof(w->why), "echo %u: function %u", i, run.function);
			return NULL;
		}
		w->rounds++;
	}
	return NULL;
}

Test(entry, two_host_threads_on_two_tcs)
{
	struct worker w[2] = {{.slot = 0, .page = devos_dyn(0)}, {.slot = 3, .page = devos_dyn(1)}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(w[i].rounds, 500, "thread %d: %s", i, w[i].why);
	/* Each thread's page holds its own last values. */
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(native_read(1, w[i].page + 499 * 8), ((uint64_t)w[i].slot << 32) | 499);
}

/* ---- flow 1: heap growth ---- */

TestSuite(heap, .init = native_setup, .fini = native_teardown, .timeout = 60);

Test(heap, eaccept_of_a_missing_page_is_eaugd_on_the_fault)
{
	uint64_t before = devos_stats().pages_resident;
	/* No page: EACCEPT takes an ordinary #PF, the driver EAUGs, the vDSO's ERESUME retries it. */
	cr_assert_eq(native_eaccept(0, devos_dyn(10), SI_PENDING_RW), 0);
	cr_assert_eq(devos_stats().pages_resident, before + 1);
	cr_assert_eq(native_read(0, devos_dyn(10) + 0x7F8), 0, "zero-filled");
	native_write(0, devos_dyn(10) + 0x7F8, 0x1234567890ULL);
	cr_assert_eq(native_read(2, devos_dyn(10) + 0x7F8), 0x1234567890ULL, "seen from another TCS");
	/* Accepting twice: PENDING is clear now. */
	cr_assert_eq(native_eaccept(0, devos_dyn(10), SI_PENDING_RW), SGX_PAGE_ATTRIBUTES_MISMATCH);
}

Test(heap, augment_pages_then_eaccept_without_a_fault)
{
	struct sgx_enclave_augment_pages a;
	uint64_t before = devos_stats().pages_resident;
	native_assert_ok(native_augment(DEVOS_DYN, 16 * SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &a));
	cr_assert_eq(a.count, 16 * SGX_PAGE_SIZE);
	/* The pages exist before the enclave touched anything. */
	cr_assert_eq(devos_stats().pages_resident, before + 16);
	for (unsigned i = 0; i < 16; i++)
		cr_assert_eq(native_eaccept(i % DEVOS_THREADS, devos_dyn(i), SI_PENDING_RW), 0, "page %u", i);
	cr_assert_eq(devos_stats().pages_resident, before + 16, "no page was added by a fault");
	native_write(1, devos_dyn(15) + 8, 77);
	cr_assert_eq(native_read(2, devos_dyn(15) + 8), 77);
	/* The range is taken now: EBUSY at its first page. */
	native_assert_fails(native_augment(DEVOS_DYN + 15 * SGX_PAGE_SIZE, 2 * SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &a),
			    EBUSY);
	cr_assert_eq(a.count, 0);
	native_assert_ok(native_augment(DEVOS_DYN + 16 * SGX_PAGE_SIZE, SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &a));
}

Test(heap, augment_argument_checks)
{
	struct sgx_enclave_augment_pages a;
	native_assert_fails(native_augment(DEVOS_DYN + 8, SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &a), EINVAL);
	native_assert_fails(native_augment(DEVOS_DYN, 0, SECINFO_REG(SI_RW), &a), EINVAL);
	native_assert_fails(native_augment(DEVOS_SIZE, SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &a), EINVAL);
	native_assert_fails(native_augment(DEVOS_DYN, SGX_PAGE_SIZE, SI_PENDING_RW, &a), EINVAL);
	native_assert_fails(native_augment(DEVOS_DYN, SGX_PAGE_SIZE, SGX_SECINFO_PT(SGX_PT_TCS), &a), EINVAL);
	native_assert_fails(native_augment(DEVOS_DYN, SGX_PAGE_SIZE, SECINFO_REG(SGX_SECINFO_W), &a), EINVAL);
	static struct sgx_secinfo si;
	si.flags = SECINFO_REG(SI_RW);
	a = (struct sgx_enclave_augment_pages){
	    .offset = DEVOS_DYN, .length = SGX_PAGE_SIZE, .secinfo = (uint64_t)(uintptr_t)&si, .count = 1};
	native_assert_fails(sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a), EINVAL);
	/* An address already added before INIT. */
	native_assert_fails(native_augment(ENCL_SLOT(0) + ENCL_SLOT_TD, SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &a), EBUSY);
	cr_assert_eq(a.count, 0);
}

Test(heap, eaccept_wrong_secinfo_outcomes)
{
	struct sgx_enclave_run run;
	uint64_t page = devos_dyn(3);
	/* REG without PENDING or PR: an illegal combination, #GP. */
	native_fault(0, OP_EACCEPT, page, SECINFO_REG(SI_RW), 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
	cr_assert_eq(hrec[0][HREC_EXITINFO], EXITINFO_HW(X86_GP));
	/* PENDING with permissions other than the EAUG's RW: code 19, the page stays pending. */
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PENDING | SI_RWX)), SGX_PAGE_ATTRIBUTES_MISMATCH);
	native_fault(1, OP_READ, page, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, page);
	cr_assert_eq(native_eaccept(0, page, SI_PENDING_RW), 0);
	/* An address outside ELRANGE: #GP. */
	static uint8_t host[2 * SGX_PAGE_SIZE];
	uint64_t hp = ((uint64_t)(uintptr_t)host + SGX_PAGE_SIZE - 1) & SGX_PAGE_MASK;
	native_fault(2, OP_EACCEPT, hp, SI_PENDING_RW, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
}

Test(heap, eaccept_where_nothing_is_mapped_is_an_ordinary_fault)
{
	uint64_t page = devos_dyn(20);
	cr_assert_eq(sgxemu_munmap((void *)(uintptr_t)page, SGX_PAGE_SIZE), 0);
	uint64_t before = devos_stats().pages_resident;
	struct sgx_enclave_run run;
	native_fault(0, OP_EACCEPT, page, SI_PENDING_RW, 0, &run, NULL);
	/* The read of the target finds no PTE; the driver has no VMA: SIGSEGV, reported. */
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_U, page);
	cr_assert_eq(devos_stats().pages_resident, before, "nothing was added");
}

/* The lazy variant: a write EAUGs the page, the retried write hits PENDING, the enclave's handler accepts. */
struct flow {
	unsigned calls, exceptions;
	struct sgx_enclave_run seen;
};

static int flow_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rdi, (void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct flow *f = (struct flow *)(uintptr_t)run->user_data;
	f->calls++;
	if (run->function == ENCLU_ERESUME) {
		f->exceptions++;
		f->seen = *run;
		return ENCLU_EENTER; /* the enclave's handler, CSSA 1 */
	}
	/* EEXIT of the handler: resume the interrupted write; EEXIT of the operation: done. */
	return f->calls == 2 ? ENCLU_ERESUME : 0;
}

Test(heap, write_to_a_missing_page_is_accepted_by_the_enclave_handler)
{
	native_handler(0, HANDLER_ACCEPT);
	uint64_t page = devos_dyn(30);
	struct flow f = {0};
	struct sgx_enclave_run run = {.tcs = devos_tcs(0),
				      .user_handler = (uint64_t)(uintptr_t)flow_handler,
				      .user_data = (uint64_t)(uintptr_t)&f};
	memset(nout[0], 0, sizeof(nout[0]));
	cr_assert_eq(sgxemu_call_enclave(OP_WRITE, page + 16, 0x5151, ENCLU_EENTER, 0, (unsigned long)nout[0], &run),
		     0);
	cr_assert_eq(run.function, ENCLU_EEXIT, "the write completed");
	cr_assert_eq(f.exceptions, 1, "one exception: the fault on the missing page was fixed by the driver");
	native_assert_exception(&f.seen, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, page);
	cr_assert_eq(hrec[0][HREC_MADDR], page + 16, "EXINFO.MADDR keeps the low bits");
	cr_assert_eq(hrec[0][HREC_ERRCD], PF_P | PF_W | PF_U | PF_SGX);
	cr_assert_eq(nout[0][0], 1, "the write completed after the handler's EACCEPT");
	cr_assert_eq(native_read(1, page + 16), 0x5151);
}

/* ---- flow 2: permission restriction ---- */

TestSuite(restrict, .init = native_setup, .fini = native_teardown, .timeout = 60);

Test(restrict, restrict_to_read_then_a_write_is_an_sgx_fault)
{
	uint64_t page = devos_dyn(0);
	native_accept_rw(0, page);
	native_write(0, page + 0x10, 0xAB);
	struct sgx_enclave_restrict_permissions a;
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, SI_R, &a));
	cr_assert_eq(a.count, SGX_PAGE_SIZE);
	cr_assert_eq(a.result, 0);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0, "0x221: EPCM is R, PR set");
	cr_assert_eq(native_read(1, page + 0x10), 0xAB, "reads still work");
	struct sgx_enclave_run run;
	native_fault(1, OP_WRITE, page + 0x10, 0xCD, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, page);
	cr_assert_eq(hrec[1][HREC_EXITINFO], EXITINFO_HW(X86_PF));
	cr_assert_eq(hrec[1][HREC_MADDR], page + 0x10);
	cr_assert_eq(hrec[1][HREC_ERRCD], PF_P | PF_W | PF_U | PF_SGX);
	cr_assert_eq(native_read(1, page + 0x10), 0xAB, "the write did not happen");
	/* vm_max_prot_bits did not change: the host may still map it RW (and the EPCM decides). */
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE));
}

Test(restrict, restrict_to_none_then_a_read_is_an_sgx_fault)
{
	uint64_t page = devos_dyn(1);
	native_accept_rw(0, page);
	struct sgx_enclave_restrict_permissions a;
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, 0, &a));
	cr_assert_eq(a.count, SGX_PAGE_SIZE);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR)), 0, "0x220");
	struct sgx_enclave_run run;
	native_fault(2, OP_READ, page + 0x28, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, page);
	cr_assert_eq(hrec[2][HREC_MADDR], page + 0x28);
	/* Then the host takes the mapping away too: an ordinary #PF, which the driver does not fix. */
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_NONE));
	native_fault(2, OP_READ, page + 0x28, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_U, page);
}

Test(restrict, restrict_code_to_read_then_a_fetch_is_an_sgx_fault)
{
	/* An R-X page made by EACCEPTCOPY, mapped R-X, runs. */
	uint64_t s = devos_dyn(6), page = devos_dyn(7);
	native_accept_rw(0, s);
	native_fill(0, s, native_inc_code, sizeof(native_inc_code));
	cr_assert_eq(native_eacceptcopy(0, page, s, SECINFO_REG(SI_RX)), 0);
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ | PROT_EXEC));
	native_op(1, OP_EXEC, page, 1, 0);
	cr_assert_eq(nout[1][0], 2);
	/* Restricted to R: the mapping still allows the fetch, the EPCM does not. */
	struct sgx_enclave_restrict_permissions a;
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, SI_R, &a));
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	native_handler(1, HANDLER_RET);
	struct sgx_enclave_run run;
	native_fault(1, OP_EXEC, page, 1, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_I | PF_SGX, page);
	cr_assert_eq(hrec[1][HREC_ERRCD], PF_P | PF_U | PF_I | PF_SGX);
	cr_assert_eq(nout[1][0], HANDLER_RET_RAX);
	uint64_t code;
	memcpy(&code, native_inc_code, sizeof(code));
	cr_assert_eq(native_read(2, page), code, "still readable");
}

Test(restrict, access_between_emodpr_and_eaccept_sees_the_new_permissions)
{
	uint64_t page = devos_dyn(2);
	native_accept_rw(0, page);
	native_write(0, page, 5);
	struct sgx_enclave_restrict_permissions a;
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, SI_R, &a));
	/* Not accepted yet: EPCM R with PR set. */
	cr_assert_eq(native_read(1, page), 5);
	struct sgx_enclave_run run;
	native_fault(1, OP_WRITE, page, 6, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, page);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
}

Test(restrict, eaccept_wrong_steps)
{
	uint64_t page = devos_dyn(4);
	native_accept_rw(0, page);
	/* EACCEPT with PR without an EMODPR before it: PR is not compared, nothing changes (spec/leaves.md). */
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_RW)), 0);
	native_write(0, page, 3);
	struct sgx_enclave_restrict_permissions a;
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, SI_R, &a));
	/* PR clear in the SECINFO: #GP. */
	struct sgx_enclave_run run;
	native_fault(1, OP_EACCEPT, page, SECINFO_REG(SI_R), 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
	/* Permissions other than the EPCM's. */
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_RW)), SGX_PAGE_ATTRIBUTES_MISMATCH);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	/* Asking for more than the page has: EMODPR ignores the extra bits; EACCEPT with them mismatches. */
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, SI_RW, &a));
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_RW)), SGX_PAGE_ATTRIBUTES_MISMATCH);
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_R)), 0);
	/* After mprotect(PROT_NONE) EACCEPT cannot read the page: an ordinary #PF. */
	native_assert_ok(native_restrict(native_off(page), SGX_PAGE_SIZE, 0, &a));
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_NONE));
	native_fault(2, OP_EACCEPT, page, SECINFO_REG(SGX_SECINFO_PR), 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_U, page);
}

Test(restrict, ioctl_wrong_steps)
{
	struct sgx_enclave_restrict_permissions a;
	uint64_t page = devos_dyn(5);
	native_accept_rw(0, page);
	uint64_t off = native_off(page);
	native_assert_fails(native_restrict(off, SGX_PAGE_SIZE, SGX_SECINFO_W, &a), EINVAL);
	native_assert_fails(native_restrict(off, SGX_PAGE_SIZE, 8, &a), EINVAL);
	native_assert_fails(native_restrict(off + 1, SGX_PAGE_SIZE, SI_R, &a), EINVAL);
	native_assert_fails(native_restrict(off, 0, SI_R, &a), EINVAL);
	a = (struct sgx_enclave_restrict_permissions){
	    .offset = off, .length = SGX_PAGE_SIZE, .permissions = 1, .result = 1};
	native_assert_fails(sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &a), EINVAL);
	/* A TCS. */
	native_assert_fails(native_restrict(ENCL_SLOT(2) + ENCL_SLOT_TCS, SGX_PAGE_SIZE, SI_R, &a), EINVAL);
	cr_assert_eq(a.count, 0);
	/* The page, then a hole: EFAULT after one page. */
	native_assert_fails(native_restrict(off, 2 * SGX_PAGE_SIZE, SI_RW, &a), EFAULT);
	cr_assert_eq(a.count, SGX_PAGE_SIZE);
	cr_assert_eq(a.result, 0);
	/* A PENDING page (augmented, not accepted): SGX_PAGE_NOT_MODIFIABLE. */
	struct sgx_enclave_augment_pages g;
	native_assert_ok(native_augment(off + SGX_PAGE_SIZE, SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &g));
	native_assert_fails(native_restrict(off + SGX_PAGE_SIZE, SGX_PAGE_SIZE, SI_R, &a), EFAULT);
	cr_assert_eq(a.result, SGX_PAGE_NOT_MODIFIABLE);
	cr_assert_eq(a.count, 0);
	/* The first page was restricted to RW (no change) by the partial call: still writable. */
	cr_assert_eq(native_eaccept(0, page, SECINFO_REG(SGX_SECINFO_PR | SI_RW)), 0);
	native_write(0, page, 1);
}

/* ---- flow 3: permission extension ---- */

TestSuite(extend, .init = native_setup, .fini = native_teardown, .timeout = 60);

Test(extend, emodpe_then_mprotect_runs_the_code)
{
	uint64_t page = devos_dyn(0);
	native_accept_rw(0, page);
	native_fill(0, page, native_inc_code, sizeof(native_inc_code));
	native_handler(1, HANDLER_RET);
	struct sgx_enclave_run run;
	/* The VMA is RW: the fetch is an ordinary #PF (NX), nothing the driver fixes. */
	native_fault(1, OP_EXEC, page, 41, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_I, page);
	cr_assert_eq(nout[1][0], HANDLER_RET_RAX, "the handler returned from the call");
	/* 1. EMODPE +X inside, no OS call.  2. mprotect RX outside. */
	native_op(0, OP_EMODPE, page, SGX_SECINFO_X, 0);
	cr_assert_eq(nout[0][0], 1);
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ | PROT_EXEC));
	native_op(2, OP_EXEC, page, 41, 0);
	cr_assert_eq(nout[2][0], 42);
	/* RX mapping: a write is an ordinary #PF; RWX mapping: the EPCM (RWX now) lets it through. */
	native_fault(2, OP_WRITE, page + 0x800, 1, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U, page);
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC));
	native_write(2, page + 0x800, 1);
	native_op(3, OP_EXEC, page, 1, 0);
	cr_assert_eq(nout[3][0], 2);
}

Test(extend, mprotect_before_emodpe_gives_an_sgx_fault)
{
	uint64_t page = devos_dyn(1);
	native_accept_rw(0, page);
	native_fill(0, page, native_inc_code, sizeof(native_inc_code));
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ | PROT_EXEC));
	native_handler(1, HANDLER_RET);
	struct sgx_enclave_run run;
	native_fault(1, OP_EXEC, page, 7, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_I | PF_SGX, page);
	cr_assert_eq(hrec[1][HREC_ERRCD], PF_P | PF_U | PF_I | PF_SGX);
	native_op(0, OP_EMODPE, page, SGX_SECINFO_X, 0);
	native_op(1, OP_EXEC, page, 7, 0);
	cr_assert_eq(nout[1][0], 8);
}

Test(extend, mprotect_beyond_the_ceiling_is_eacces)
{
	/* Pages added before INIT keep the permissions of their SECINFO as ceiling. */
	void *data = (void *)(uintptr_t)devos_lin(0x2000);
	void *code = (void *)(uintptr_t)devos_lin(0);
	void *tcs = (void *)(uintptr_t)devos_tcs(1);
	native_assert_fails(sgxemu_mprotect(data, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC), EACCES);
	native_assert_fails(sgxemu_mprotect(code, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE), EACCES);
	native_assert_fails(sgxemu_mprotect(tcs, SGX_PAGE_SIZE, PROT_READ | PROT_EXEC), EACCES);
	/* One page above its ceiling fails the whole range, nothing changes. */
	native_assert_fails(
	    sgxemu_mprotect((void *)(uintptr_t)devos_lin(ENCL_SLOT(0)), 2 * ENCL_SLOT(1) - 2 * ENCL_SLOT(0), PROT_EXEC),
	    EACCES);
	native_op(0, OP_ECHO, 1, 2, 0);
	/* Within the ceiling is fine; outside ELRANGE an enclave mapping is refused. */
	native_assert_ok(sgxemu_mprotect(data, SGX_PAGE_SIZE, PROT_READ));
	native_assert_ok(sgxemu_mprotect(data, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE));
	/* mmap checks the same ceiling; as on Linux, MAP_FIXED has unmapped the page before the driver refuses. */
	errno = 0;
	cr_assert_eq(sgxemu_mmap(data, SGX_PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, dv.fd, 0),
		     MAP_FAILED);
	cr_assert_eq(errno, EACCES);
	native_assert_fails(sgxemu_mprotect(data, SGX_PAGE_SIZE, PROT_READ), ENOMEM);
	cr_assert_eq(sgxemu_mmap(data, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, dv.fd, 0), data);
	errno = 0;
	cr_assert_eq(sgxemu_mmap((void *)(uintptr_t)(ENCL_BASE + DEVOS_SIZE), SGX_PAGE_SIZE, PROT_READ,
				 MAP_SHARED | MAP_FIXED, dv.fd, 0),
		     MAP_FAILED);
	cr_assert_eq(errno, EACCES);
}

Test(extend, emodpe_wrong_steps)
{
	struct sgx_enclave_run run;
	/* On a PENDING page: SGX #PF on the target, W because the leaf changes its EPCM entry (docs/hw-edmm.md). */
	struct sgx_enclave_augment_pages g;
	uint64_t page = devos_dyn(2);
	native_assert_ok(native_augment(native_off(page), SGX_PAGE_SIZE, SECINFO_REG(SI_RW), &g));
	native_fault(0, OP_EMODPE, page, SGX_SECINFO_X, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, page);
	/* On a TCS: the same. */
	native_fault(1, OP_EMODPE, devos_tcs(3), SGX_SECINFO_X, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_W | PF_U | PF_SGX, devos_tcs(3));
	/* Reserved SECINFO bits (FLAGS 63:16): #GP. */
	native_accept_rw(0, page);
	native_fault(2, OP_EMODPE, page, SGX_SECINFO_X | (1ULL << 16), 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
}

/* ---- flow 4: a thread made at run time ---- */

TestSuite(tcs, .init = native_setup, .fini = native_teardown, .timeout = 60);

/* Steps 1 and 2 for slot: every page of the thread EAUG'd on the fault and accepted, then written as REG RW. */
static uint64_t prepare_thread(unsigned slot, const struct sgx_tcs *tcs, const uint64_t *td)
{
	uint64_t s = devos_lin(ENCL_SLOT(slot));
	native_accept_rw(0, s + ENCL_SLOT_TCS);
	for (unsigned f = 0; f < ENCL_NSSA; f++)
		native_accept_rw(0, s + ENCL_SLOT_SSA + f * SGX_PAGE_SIZE);
	native_accept_rw(0, s + ENCL_SLOT_TD);
	for (uint64_t o = ENCL_SLOT_STACK0; o < ENCL_SLOT_STACK0_TOP; o += SGX_PAGE_SIZE)
		native_accept_rw(0, s + o);
	for (uint64_t o = ENCL_SLOT_STACK1; o < ENCL_SLOT_STACK1_TOP; o += SGX_PAGE_SIZE)
		native_accept_rw(0, s + o);
	native_fill(0, s + ENCL_SLOT_TCS, tcs, SGX_PAGE_SIZE);
	native_fill(0, s + ENCL_SLOT_TD, td, SGX_PAGE_SIZE);
	return s + ENCL_SLOT_TCS;
}

Test(tcs, a_tcs_made_at_run_time_is_entered)
{
	static struct sgx_tcs tcs;
	static uint64_t td[SGX_PAGE_SIZE / 8];
	devos_slot_contents(4, dv.entry, &tcs, td);
	uint64_t before = devos_stats().pages_resident;
	uint64_t t = prepare_thread(4, &tcs, td);
	cr_assert_eq(devos_stats().pages_resident, before + DEVOS_SLOT_PAGES);
	/* 3. MODIFY_TYPES to PT_TCS. */
	struct sgx_enclave_modify_types m;
	native_assert_ok(native_modify(native_off(t), SGX_PAGE_SIZE, SGX_PT_TCS, &m));
	cr_assert_eq(m.count, SGX_PAGE_SIZE);
	cr_assert_eq(m.result, 0);
	/* Before the enclave accepts it: EENTER takes an SGX #PF on the TCS (no AEX: leaf 2, full address). */
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	cr_assert_eq(devos_call(t, OP_ECHO, 1, 2, 0, out, &run), 0);
	native_assert_exception(&run, ENCLU_EENTER, X86_PF, PF_P | PF_W | PF_U | PF_SGX, t);
	cr_assert_eq(out[0], 0);
	/* The enclave cannot read it any more. */
	native_fault(0, OP_READ, t + 0x10, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, t);
	/* EACCEPT without MODIFIED: #GP; with permissions: code 19. */
	native_fault(1, OP_EACCEPT, t, SGX_SECINFO_PT(SGX_PT_TCS), 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
	cr_assert_eq(native_eaccept(1, t, SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_MODIFIED | SI_RW),
		     SGX_PAGE_ATTRIBUTES_MISMATCH);
	/* 4. EACCEPT(TCS|MODIFIED = 0x110). */
	cr_assert_eq(native_eaccept(1, t, SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_MODIFIED), 0);
	/* 5. EENTER through it: its own FS/GS base and stacks. */
	memset(out, 0, sizeof(out));
	cr_assert_eq(devos_call(t, OP_ECHO, 30, 12, 0, out, &run), 0);
	native_assert_eexit(&run);
	cr_assert_eq(out[0], 42);
	native_op(4, OP_SEGMENTS, 0, 0, 0);
	cr_assert_eq(nout[4][0], devos_lin(ENCL_SLOT(4) + ENCL_SLOT_TD));
	/* Its SSA frames work: an exception handled by the enclave on the new thread. */
	native_handler(4, HANDLER_SKIP);
	native_fault(4, OP_DIV0, 0, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_DE, 0, 0);
	cr_assert_eq(nout[4][0], 1);
	cr_assert_eq(hrec[4][HREC_EXITINFO], EXITINFO_HW(X86_DE));
	/* The ceiling of a TCS is R+W. */
	native_assert_fails(sgxemu_mprotect((void *)(uintptr_t)t, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC),
			    EACCES);
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)t, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE));
}

Test(tcs, modify_types_wrong_steps)
{
	struct sgx_enclave_modify_types m;
	struct sgx_enclave_augment_pages g;
	uint64_t page = devos_dyn(0);
	/* A PENDING page. */
	native_assert_ok(native_augment(native_off(page), SGX_PAGE_SIZE, SECINFO_REG(SI_RWX), &g));
	native_assert_fails(native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_TCS, &m), EFAULT);
	cr_assert_eq(m.result, SGX_PAGE_NOT_MODIFIABLE);
	cr_assert_eq(m.count, 0);
	/* The ceiling was restored: RWX may still be mapped. */
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC));
	/* TCS -> TCS; types other than TCS and TRIM; bits above 0xFF; result on input. */
	native_assert_fails(native_modify(ENCL_SLOT(1) + ENCL_SLOT_TCS, SGX_PAGE_SIZE, SGX_PT_TCS, &m), EINVAL);
	native_assert_fails(native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_REG, &m), EINVAL);
	native_assert_fails(native_modify(native_off(page), SGX_PAGE_SIZE, 0x101, &m), EINVAL);
	m = (struct sgx_enclave_modify_types){
	    .offset = native_off(page), .length = SGX_PAGE_SIZE, .page_type = SGX_PT_TCS, .result = 1};
	native_assert_fails(sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_MODIFY_TYPES, &m), EINVAL);
	/* A page whose ceiling lacks W (the code). */
	native_assert_fails(native_modify(0, SGX_PAGE_SIZE, SGX_PT_TCS, &m), EPERM);
	native_op(0, OP_ECHO, 1, 1, 0);
}

Test(tcs, bad_tcs_contents_are_gp_at_eaccept)
{
	static struct sgx_tcs tcs;
	static uint64_t td[SGX_PAGE_SIZE / 8];
	devos_slot_contents(5, dv.entry, &tcs, td);
	tcs.cssa = ENCL_NSSA; /* CSSA >= NSSA */
	uint64_t t = prepare_thread(5, &tcs, td);
	struct sgx_enclave_modify_types m;
	native_assert_ok(native_modify(native_off(t), SGX_PAGE_SIZE, SGX_PT_TCS, &m));
	struct sgx_enclave_run run;
	native_fault(0, OP_EACCEPT, t, SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_MODIFIED, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
	/* Still MODIFIED: no entry through it. */
	cr_assert_eq(devos_call(t, OP_ECHO, 1, 2, 0, NULL, &run), 0);
	native_assert_exception(&run, ENCLU_EENTER, X86_PF, PF_P | PF_W | PF_U | PF_SGX, t);
}

/* ---- flow 5: page removal ---- */

TestSuite(trim, .init = native_setup, .fini = native_teardown, .timeout = 60);

Test(trim, trim_accept_remove_then_the_address_comes_back_pending)
{
	uint64_t page = devos_dyn(0);
	native_accept_rw(0, page);
	native_write(0, page + 0x40, 0x77);
	uint64_t before = devos_stats().pages_resident;
	/* 2. MODIFY_TYPES to TRIM: the page is inaccessible at once. */
	struct sgx_enclave_modify_types m;
	native_assert_ok(native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_TRIM, &m));
	cr_assert_eq(m.count, SGX_PAGE_SIZE);
	struct sgx_enclave_run run;
	native_fault(1, OP_READ, page + 0x40, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, page);
	native_assert_fails(native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_TRIM, &m), EINVAL);
	/* Not accepted yet: REMOVE_PAGES refuses. */
	struct sgx_enclave_remove_pages r;
	native_assert_fails(native_remove(native_off(page), SGX_PAGE_SIZE, &r), EPERM);
	cr_assert_eq(r.count, 0);
	/* 3. EACCEPT: MODIFIED clear is #GP, permissions are code 19, TRIM|MODIFIED (0x410) accepts. */
	native_fault(1, OP_EACCEPT, page, SGX_SECINFO_PT(SGX_PT_TRIM), 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_GP, 0, 0);
	cr_assert_eq(native_eaccept(0, page, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED | SI_RW),
		     SGX_PAGE_ATTRIBUTES_MISMATCH);
	cr_assert_eq(native_eaccept(0, page, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED), 0);
	/* 4. REMOVE_PAGES: the frame is free. */
	native_assert_ok(native_remove(native_off(page), SGX_PAGE_SIZE, &r));
	cr_assert_eq(r.count, SGX_PAGE_SIZE);
	cr_assert_eq(devos_stats().pages_resident, before - 1);
	native_assert_fails(native_remove(native_off(page), SGX_PAGE_SIZE, &r), EFAULT);
	/* 5. A later access: the driver EAUGs a fresh page on the fault, which is PENDING: SGX #PF. */
	native_fault(2, OP_READ, page + 0x40, 0, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_SGX, page);
	cr_assert_eq(devos_stats().pages_resident, before);
	cr_assert_eq(native_eaccept(0, page, SI_PENDING_RW), 0);
	cr_assert_eq(native_read(0, page + 0x40), 0, "a fresh zero page, not the old contents");
}

Test(trim, a_removed_build_time_page_keeps_no_ceiling)
{
	/* The bottom page of thread 3's stack: added before INIT as REG RW. */
	uint64_t page = devos_lin(ENCL_SLOT(3) + ENCL_SLOT_STACK0);
	void *p = (void *)(uintptr_t)page;
	native_assert_fails(sgxemu_mprotect(p, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC), EACCES);
	struct sgx_enclave_modify_types m;
	struct sgx_enclave_remove_pages r;
	native_assert_ok(native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_TRIM, &m));
	cr_assert_eq(native_eaccept(0, page, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED), 0);
	native_assert_ok(native_remove(native_off(page), SGX_PAGE_SIZE, &r));
	/* A hole imposes no limit on the host's mapping. */
	native_assert_ok(sgxemu_mprotect(p, SGX_PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC));
	/* EACCEPT again: EAUG on the fault, a dynamic page now. */
	cr_assert_eq(native_eaccept(0, page, SI_PENDING_RW), 0);
	native_write(0, page + 8, 9);
	cr_assert_eq(native_read(1, page + 8), 9);
	native_op(3, OP_ECHO, 3, 4, 0);
	cr_assert_eq(nout[3][0], 7, "thread 3 still runs on the rest of its stack");
}

Test(trim, an_idle_tcs_is_trimmed_and_removed)
{
	uint64_t t = devos_tcs(3);
	struct sgx_enclave_modify_types m;
	struct sgx_enclave_remove_pages r;
	native_assert_ok(native_modify(native_off(t), SGX_PAGE_SIZE, SGX_PT_TRIM, &m));
	struct sgx_enclave_run run;
	cr_assert_eq(devos_call(t, OP_ECHO, 1, 2, 0, NULL, &run), 0);
	native_assert_exception(&run, ENCLU_EENTER, X86_PF, PF_P | PF_W | PF_U | PF_SGX, t);
	cr_assert_eq(native_eaccept(0, t, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED), 0);
	native_assert_ok(native_remove(native_off(t), SGX_PAGE_SIZE, &r));
	cr_assert_eq(r.count, SGX_PAGE_SIZE);
}

Test(trim, remove_wrong_steps)
{
	struct sgx_enclave_modify_types m;
	struct sgx_enclave_remove_pages r;
	uint64_t page = devos_dyn(0);
	native_accept_rw(0, page);
	native_accept_rw(0, page + SGX_PAGE_SIZE);
	native_assert_fails(native_remove(native_off(page), SGX_PAGE_SIZE, &r), EPERM);
	cr_assert_eq(r.count, 0);
	r = (struct sgx_enclave_remove_pages){.offset = native_off(page), .length = SGX_PAGE_SIZE, .count = 1};
	native_assert_fails(sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, &r), EINVAL);
	native_assert_fails(native_remove(native_off(devos_dyn(100)), SGX_PAGE_SIZE, &r), EFAULT);
	/* The first page trimmed and accepted, the second not: the ioctl stops after one page. */
	native_assert_ok(native_modify(native_off(page), SGX_PAGE_SIZE, SGX_PT_TRIM, &m));
	cr_assert_eq(native_eaccept(0, page, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED), 0);
	native_assert_fails(native_remove(native_off(page), 2 * SGX_PAGE_SIZE, &r), EPERM);
	cr_assert_eq(r.count, SGX_PAGE_SIZE);
	native_write(0, page + SGX_PAGE_SIZE, 1);
}

/* ---- operations that repeat a leaf within one entry (bench/bench_native.c) ---- */

Test(heap, eaccept_n_accepts_pages_in_order_until_one_fails)
{
	uint64_t before = devos_stats().pages_resident;
	/* Page 22 is accepted already: the range 16..23 stops there, after 16..21 were EAUG'd on their faults. */
	native_accept_rw(0, devos_dyn(22));
	native_op(0, OP_EACCEPT_N, devos_dyn(16), 8, SI_PENDING_RW);
	cr_assert_eq(nout[0][0], 6, "pages accepted");
	cr_assert_eq(nout[0][1], SGX_PAGE_ATTRIBUTES_MISMATCH);
	cr_assert_eq(devos_stats().pages_resident, before + 7, "page 23 was not reached");
	for (unsigned i = 16; i < 22; i++)
		cr_assert_eq(native_eaccept(1, devos_dyn(i), SI_PENDING_RW), SGX_PAGE_ATTRIBUTES_MISMATCH, "page %u",
			     i);
	native_write(1, devos_dyn(21) + 8, 21);
	cr_assert_eq(native_read(2, devos_dyn(21) + 8), 21);
	native_op(0, OP_EACCEPT_N, devos_dyn(23), 1, SI_PENDING_RW);
	cr_assert_eq(nout[0][0], 1);
	cr_assert_eq(nout[0][1], 0);
	cr_assert_eq(devos_stats().pages_resident, before + 8);
	/* No page: nothing accepted, nothing added. */
	native_op(0, OP_EACCEPT_N, devos_dyn(24), 0, SI_PENDING_RW);
	cr_assert_eq(nout[0][0], 0);
	cr_assert_eq(nout[0][1], 0);
	cr_assert_eq(devos_stats().pages_resident, before + 8);
}

Test(extend, emodpe_n_without_a_new_permission_leaves_the_page_as_it_was)
{
	uint64_t page = devos_dyn(2);
	struct sgx_enclave_run run;
	native_accept_rw(0, page);
	native_fill(0, page, native_inc_code, sizeof(native_inc_code));
	native_op(0, OP_EMODPE_N, page, SECINFO_REG(SI_R), 100);
	cr_assert_eq(nout[0][0], 100);
	native_write(1, page + 0x800, 5);
	cr_assert_eq(native_read(1, page + 0x800), 5, "still writable");
	/* Not executable in the EPCM: an SGX #PF under an R-X mapping, also after zero EMODPEs adding X. */
	native_assert_ok(sgxemu_mprotect((void *)(uintptr_t)page, SGX_PAGE_SIZE, PROT_READ | PROT_EXEC));
	native_handler(1, HANDLER_RET);
	native_fault(1, OP_EXEC, page, 7, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_I | PF_SGX, page);
	native_op(0, OP_EMODPE_N, page, SGX_SECINFO_X, 0);
	cr_assert_eq(nout[0][0], 0);
	native_fault(1, OP_EXEC, page, 7, 0, &run, NULL);
	native_assert_exception(&run, ENCLU_ERESUME, X86_PF, PF_P | PF_U | PF_I | PF_SGX, page);
	/* Adding X three times over: the code runs. */
	native_op(0, OP_EMODPE_N, page, SGX_SECINFO_X, 3);
	cr_assert_eq(nout[0][0], 3);
	native_op(1, OP_EXEC, page, 7, 0);
	cr_assert_eq(nout[1][0], 8);
}
