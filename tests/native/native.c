/* SPDX-License-Identifier: MIT */
#include "native.h"

#include <stdio.h>
#include <stdlib.h>

struct devos dv;
uint64_t hrec[DEVOS_SLOTS][HREC_WORDS];
uint64_t nout[DEVOS_SLOTS][ENCL_OUT_WORDS];

const uint8_t native_inc_code[8] = {0x48, 0x89, 0xF8, 0x48, 0x83, 0xC0, 0x01, 0xC3};

void native_setup_with(const struct sgxemu_options *o)
{
	devos_start(o);
	devos_load(&dv);
	for (unsigned i = 0; i < DEVOS_THREADS; i++)
		native_handler(i, HANDLER_SKIP);
}

void native_setup(void)
{
	native_setup_with(NULL);
}

void native_teardown(void)
{
	devos_unload(&dv);
	/* An assertion in .fini does not fail the test in Criterion: a leak aborts the process instead. */
	struct sgxemu_stats s = devos_stats();
	if (s.pages_resident || s.pages_evicted) {
		fprintf(stderr, "native: %llu pages resident and %llu evicted after the enclave was released\n",
			(unsigned long long)s.pages_resident, (unsigned long long)s.pages_evicted);
		abort();
	}
}

void native_assert_eexit(const struct sgx_enclave_run *run)
{
	cr_assert_eq(run->function, ENCLU_EEXIT,
		     "expected EEXIT, got function %u vector %u error code %#x address %#llx", run->function,
		     run->exception_vector, run->exception_error_code, (unsigned long long)run->exception_addr);
	cr_assert_eq(run->exception_vector, 0);
	cr_assert_eq(run->exception_error_code, 0);
	cr_assert_eq(run->exception_addr, 0);
}

void native_assert_exception(const struct sgx_enclave_run *run, unsigned function, unsigned vector, unsigned err,
			     uint64_t addr)
{
	cr_assert(run->function == function && run->exception_vector == vector && run->exception_error_code == err &&
		      run->exception_addr == addr,
		  "got function %u vector %u error code %#x address %#llx, expected %u %u %#x %#llx", run->function,
		  run->exception_vector, run->exception_error_code, (unsigned long long)run->exception_addr, function,
		  vector, err, (unsigned long long)addr);
}

void native_enter(unsigned slot, uint64_t op, uint64_t a, uint64_t b, uint64_t c, struct sgx_enclave_run *run)
{
	memset(nout[slot], 0, sizeof(nout[slot]));
	int r = devos_call(devos_tcs(slot), op, a, b, c, nout[slot], run);
	cr_assert_eq(r, 0, "the vDSO entry returned %d", r);
}

void native_op(unsigned slot, uint64_t op, uint64_t a, uint64_t b, uint64_t c)
{
	struct sgx_enclave_run run;
	native_enter(slot, op, a, b, c, &run);
	native_assert_eexit(&run);
}

struct fault_flow {
	unsigned exceptions, calls, resumes;
	struct sgx_enclave_run report;
	uint64_t out0;
	uint64_t *out;
};

static int fault_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rdi, (void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct fault_flow *f = (struct fault_flow *)(uintptr_t)run->user_data;
	f->calls++;
	if (run->function != ENCLU_EEXIT) {
		/* An exception: record it; the enclave's handler (CSSA 1) looks at it, unless the entry itself failed.
		 */
		f->exceptions++;
		if (f->exceptions == 1) {
			f->report = *run;
			f->out0 = f->out[0];
		}
		return run->function == ENCLU_ERESUME && f->exceptions == 1 ? ENCLU_EENTER : 0;
	}
	if (f->exceptions > f->resumes) {
		/* The handler's EEXIT: resume the interrupted operation. */
		f->resumes++;
		return ENCLU_ERESUME;
	}
	return 0;
}

void native_fault(unsigned slot, uint64_t op, uint64_t a, uint64_t b, uint64_t c, struct sgx_enclave_run *report,
		  uint64_t *out0)
{
	struct fault_flow f = {.out = nout[slot]};
	struct sgx_enclave_run run = {.tcs = devos_tcs(slot),
				      .user_handler = (uint64_t)(uintptr_t)fault_handler,
				      .user_data = (uint64_t)(uintptr_t)&f};
	memset(nout[slot], 0, sizeof(nout[slot]));
	memset(hrec[slot], 0, sizeof(hrec[slot]));
	int r = sgxemu_call_enclave(op, a, b, ENCLU_EENTER, c, (unsigned long)(uintptr_t)nout[slot], &run);
	cr_assert_eq(r, 0, "the vDSO entry returned %d", r);
	cr_assert_eq(f.exceptions, 1, "%u exceptions (last: function %u vector %u error code %#x address %#llx)",
		     f.exceptions, run.function, run.exception_vector, run.exception_error_code,
		     (unsigned long long)run.exception_addr);
	cr_assert_eq(run.function, ENCLU_EEXIT, "the operation completed after the handler");
	cr_assert_eq(f.resumes, 1);
	cr_assert_eq(hrec[slot][HREC_CSSA], 1, "the enclave's handler ran with CSSA 1");
	*report = f.report;
	if (out0)
		*out0 = f.out0;
}

uint64_t native_eaccept(unsigned slot, uint64_t page, uint64_t flags)
{
	native_op(slot, OP_EACCEPT, page, flags, 0);
	cr_assert_eq(nout[slot][1], nout[slot][0] != 0, "ZF follows RAX (%llu)", (unsigned long long)nout[slot][0]);
	return nout[slot][0];
}

uint64_t native_eacceptcopy(unsigned slot, uint64_t dst, uint64_t src, uint64_t flags)
{
	native_op(slot, OP_EACCEPTCOPY, dst, src, flags);
	cr_assert_eq(nout[slot][1], nout[slot][0] != 0, "ZF follows RAX (%llu)", (unsigned long long)nout[slot][0]);
	return nout[slot][0];
}

uint64_t native_read(unsigned slot, uint64_t addr)
{
	native_op(slot, OP_READ, addr, 0, 0);
	return nout[slot][0];
}

void native_write(unsigned slot, uint64_t addr, uint64_t value)
{
	native_op(slot, OP_WRITE, addr, value, 0);
	cr_assert_eq(nout[slot][0], 1);
}

void native_fill(unsigned slot, uint64_t page, const void *bytes, size_t n)
{
	static uint8_t buf[SGX_PAGE_SIZE];
	memset(buf, 0xCC, sizeof(buf));
	memcpy(buf, bytes, n);
	native_op(slot, OP_COPY, page, (uint64_t)(uintptr_t)buf, 0);
}

void native_accept_rw(unsigned slot, uint64_t page)
{
	cr_assert_eq(native_eaccept(slot, page, SI_PENDING_RW), 0, "EACCEPT of %#llx", (unsigned long long)page);
}

void native_handler(unsigned slot, uint64_t mode)
{
	native_op(slot, OP_SET_HANDLER, mode, 3, (uint64_t)(uintptr_t)hrec[slot]);
}

int native_restrict(uint64_t off, uint64_t len, uint64_t perms, struct sgx_enclave_restrict_permissions *a)
{
	*a = (struct sgx_enclave_restrict_permissions){.offset = off, .length = len, .permissions = perms};
	return sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, a);
}

int native_modify(uint64_t off, uint64_t len, uint64_t type, struct sgx_enclave_modify_types *a)
{
	*a = (struct sgx_enclave_modify_types){.offset = off, .length = len, .page_type = type};
	return sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_MODIFY_TYPES, a);
}

int native_remove(uint64_t off, uint64_t len, struct sgx_enclave_remove_pages *a)
{
	*a = (struct sgx_enclave_remove_pages){.offset = off, .length = len};
	return sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, a);
}

int native_augment(uint64_t off, uint64_t len, uint64_t secinfo_flags, struct sgx_enclave_augment_pages *a)
{
	static struct sgx_secinfo si __attribute__((aligned(64)));
	memset(&si, 0, sizeof(si));
	si.flags = secinfo_flags;
	*a = (struct sgx_enclave_augment_pages){.offset = off, .length = len, .secinfo = (uint64_t)(uintptr_t)&si};
	return sgxemu_ioctl(dv.fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, a);
}
