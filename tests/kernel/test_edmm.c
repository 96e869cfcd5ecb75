/* SPDX-License-Identifier: MIT */
/*
 * SGX2 through the driver: EAUG on #PF, RESTRICT_PERMISSIONS, MODIFY_TYPES,
 * REMOVE_PAGES, and the EDMM flows of spec/edmm-flows.md §1-§6 with an
 * enclave thread on the kernel's page tables.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "kharness.h"

static struct kh h;
static struct hw_thread t;

static void setup(void)
{
	kh_setup(&h, NULL);
	kh_build(&h, KH_SIZE, true);
	kh_thread(&h, &t);
}

static void teardown(void)
{
	/* Process exit takes the thread out of the enclave first. */
	if (t.in_enclave)
		hw_aex(&t, &(struct hw_event){.vector = 0x20, .interrupt = true});
	sgxk_thread_unregister(h.k, &t);
	hw_thread_fini(&t);
	kh_teardown(&h);
}

TestSuite(edmm, .init = setup, .fini = teardown, .timeout = 60);

#define RW  (PROT_READ | PROT_WRITE)
#define RX  (PROT_READ | PROT_EXEC)
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

static uint64_t lin(uint64_t off)
{
	return h.base + off;
}

static uint64_t si(uint64_t which)
{
	return lin(KH_SI + which);
}

static uint64_t frames_used(void)
{
	return hw_epc_frames_total(h.m) - hw_epc_frames_free(h.m);
}

static struct hw_result enclu(uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx, unsigned *faults)
{
	return kh_enclu(&h, &t, leaf, rbx, rcx, rdx, faults, NULL);
}

static long restrict_perm(uint64_t off, uint64_t len, uint64_t perm, struct sgx_enclave_restrict_permissions *a)
{
	*a = (struct sgx_enclave_restrict_permissions){.offset = off, .length = len, .permissions = perm};
	return kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, a);
}

static long modify_type(uint64_t off, uint64_t len, uint64_t type, struct sgx_enclave_modify_types *a)
{
	*a = (struct sgx_enclave_modify_types){.offset = off, .length = len, .page_type = type};
	return kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, a);
}

static long remove_pages(uint64_t off, uint64_t len, struct sgx_enclave_remove_pages *a)
{
	*a = (struct sgx_enclave_remove_pages){.offset = off, .length = len};
	return kh_ioctl(&h, SGX_IOC_ENCLAVE_REMOVE_PAGES, a);
}

/* Flow 1: a dynamic page at off, EAUG'd on the fault of EACCEPT and accepted RW. */
static void augment_accepted(uint64_t off)
{
	unsigned faults;
	kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_PENDING_RW), lin(off), 0, &faults));
	cr_assert_geq(faults, 1);
	sgxk_refresh(h.k, lin(off), 4096);
}

/* ---- flow 1: EAUG on #PF ---- */

Test(edmm, eaccept_on_missing_page_eaugs_and_succeeds)
{
	kh_enter(&h, &t);
	uint64_t used = frames_used();
	unsigned faults;
	kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_PENDING_RW), lin(KH_DYN), 0, &faults));
	cr_assert_geq(faults, 1);
	cr_assert_eq(frames_used(), used + 1);
	struct hw_epcm_view v = kh_epcm(&h, KH_DYN);
	cr_assert(v.valid && v.pt == SGX_PT_REG && v.r && v.w && !v.x && !v.pending);
	/* The host page was inserted while PENDING (no access); refreshing after EACCEPT opens it. */
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DYN)), PROT_NONE);
	sgxk_refresh(h.k, lin(KH_DYN), 4096);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DYN)), RW);
	uint8_t zero[4096] = {0};
	cr_assert_eq(memcmp((void *)(uintptr_t)lin(KH_DYN), zero, 4096), 0);
	/* Ceiling R+W+X (Linux 6.0): PROT_EXEC may be asked for. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), 0);
}

/* The protection /proc/self/maps shows at addr (PROT_*), -1 where nothing is mapped. */
static int maps_prot(uint64_t addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	cr_assert(f);
	char line[512];
	int prot = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perm[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perm) == 3 && addr >= lo && addr < hi) {
			prot = (perm[0] == 'r' ? PROT_READ : 0) | (perm[1] == 'w' ? PROT_WRITE : 0) |
			       (perm[2] == 'x' ? PROT_EXEC : 0);
			break;
		}
	}
	fclose(f);
	return prot;
}

/*
 * One refresh over a range whose pages need different things (exec opens a
 * run of accepted pages this way): each page ends up with PTE ∩ VMA ∩ EPCM,
 * in the kernel's record and in the host mapping, whatever its neighbours.
 */
Test(edmm, a_range_refresh_gives_each_page_its_own_protection)
{
	kh_enter(&h, &t);
	const uint64_t p0 = KH_DYN;
	cr_assert_eq(sgxk_mprotect(h.k, lin(p0 + 9 * 4096), 4096, PROT_READ), 0);
	for (unsigned i = 0; i < 10; i++) {
		if (i == 5)
			continue; /* never added */
		if (i == 3) {
			cr_assert_eq(sgxk_fault(h.k, lin(p0 + 3 * 4096), PF_U | PF_W), SGXK_FAULT_FIXED); /* pending */
			continue;
		}
		kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_PENDING_RW), lin(p0 + i * 4096), 0, NULL));
		cr_assert_eq(sgxk_host_prot(h.k, lin(p0 + i * 4096)), PROT_NONE, "page %u waits for the refresh", i);
	}
	sgxk_refresh(h.k, lin(p0 + 4 * 4096), 4096); /* already open when the range comes */
	uint64_t calls = sgxk_host_protects(h.k);
	sgxk_refresh(h.k, lin(p0), 10 * 4096);
	cr_assert_eq(sgxk_host_protects(h.k) - calls, 3, "one call each for pages 0-2, 6-8 and 9 (%llu)",
		     (unsigned long long)(sgxk_host_protects(h.k) - calls));
	static const int want[10] = {RW, RW, RW, PROT_NONE, RW, PROT_NONE, RW, RW, RW, PROT_READ};
	for (unsigned i = 0; i < 10; i++) {
		cr_assert_eq(sgxk_host_prot(h.k, lin(p0 + i * 4096)), want[i], "page %u: %d", i,
			     sgxk_host_prot(h.k, lin(p0 + i * 4096)));
		cr_assert_eq(maps_prot(lin(p0 + i * 4096)), want[i], "page %u at the host: %d", i,
			     maps_prot(lin(p0 + i * 4096)));
	}
	/* Refreshing again changes nothing. */
	calls = sgxk_host_protects(h.k);
	sgxk_refresh(h.k, lin(p0), 10 * 4096);
	cr_assert_eq(sgxk_host_protects(h.k), calls);
	for (unsigned i = 0; i < 10; i++)
		cr_assert_eq(maps_prot(lin(p0 + i * 4096)), want[i], "page %u again", i);
}

Test(edmm, touching_an_eaugd_page_before_eaccept_is_an_sgx_pf)
{
	kh_enter(&h, &t);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U | PF_W), SGXK_FAULT_FIXED);
	struct hw_epcm_view v = kh_epcm(&h, KH_DYN);
	cr_assert(v.valid && v.pending);
	uint64_t pa;
	struct hw_result r = hw_access_check(&t, lin(KH_DYN), HW_ACC_W, &pa);
	cr_assert(hw_is_fault(r, X86_PF) && (r.errcode & PF_SGX), "got %s", kh_fmt(r));
	/* Accepting twice: code 19. */
	kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_PENDING_RW), lin(KH_DYN), 0, NULL));
	kh_assert_code(enclu(ENCLU_EACCEPT, si(KH_SI_PENDING_RW), lin(KH_DYN), 0, NULL), SGX_PAGE_ATTRIBUTES_MISMATCH);
}

Test(edmm, region_not_mapped_is_not_fixed)
{
	kh_enter(&h, &t);
	cr_assert_eq(sgxk_munmap(h.k, lin(KH_DYN), 4096), 0);
	enum sgxk_fault sig;
	struct hw_result r = kh_enclu(&h, &t, ENCLU_EACCEPT, si(KH_SI_PENDING_RW), lin(KH_DYN), 0, NULL, &sig);
	cr_assert(hw_is_fault(r, X86_PF) && !(r.errcode & PF_SGX), "got %s", kh_fmt(r));
	cr_assert_eq(sig, SGXK_FAULT_SIGSEGV);
	cr_assert_not(kh_epcm(&h, KH_DYN).valid);
}

/* ---- RESTRICT_PERMISSIONS ---- */

Test(edmm, restrict_argument_checks)
{
	struct sgx_enclave_restrict_permissions a;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, (void *)8), -EFAULT);
	cr_assert_eq(restrict_perm(KH_DATA + 1, 4096, 1, &a), -EINVAL);
	cr_assert_eq(restrict_perm(KH_DATA, 0, 1, &a), -EINVAL);
	cr_assert_eq(restrict_perm(KH_SIZE, 4096, 1, &a), -EINVAL);
	cr_assert_eq(restrict_perm(KH_DATA, 4096, 8, &a), -EINVAL);
	cr_assert_eq(restrict_perm(KH_DATA, 4096, SGX_SECINFO_W, &a), -EINVAL);
	a = (struct sgx_enclave_restrict_permissions){.offset = KH_DATA, .length = 4096, .permissions = 1, .result = 1};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &a), -EINVAL);
	a = (struct sgx_enclave_restrict_permissions){.offset = KH_DATA, .length = 4096, .permissions = 1, .count = 1};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &a), -EINVAL);
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.r && v.w && !v.pr);
}

Test(edmm, restrict_then_eaccept_flow)
{
	struct sgx_enclave_restrict_permissions a;
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), RW);
	cr_assert_eq(restrict_perm(KH_DATA, 4096, SGX_SECINFO_R, &a), 0);
	cr_assert_eq(a.count, 4096);
	cr_assert_eq(a.result, 0);
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.r && !v.w && !v.x && v.pr);
	/* The host page follows the narrower EPCM at once. */
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), PROT_READ);
	/* The enclave confirms (tracking was done before the ioctl returned). */
	kh_enter(&h, &t);
	kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_PR_R), lin(KH_DATA), 0, NULL));
	cr_assert_not(kh_epcm(&h, KH_DATA).pr);
	/* vm_max_prot_bits unchanged: RW may still be mapped. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, RW), 0);
	/* permissions = 0 is accepted. */
	cr_assert_eq(restrict_perm(KH_DATA, 4096, 0, &a), 0);
}

Test(edmm, restrict_page_kinds_and_partial_count)
{
	struct sgx_enclave_restrict_permissions a;
	cr_assert_eq(restrict_perm(KH_TCS, 4096, 1, &a), -EINVAL);
	cr_assert_eq(a.count, 0);
	/* DATA then a hole. */
	cr_assert_eq(restrict_perm(KH_DATA, 8192, SGX_SECINFO_R, &a), -EFAULT);
	cr_assert_eq(a.count, 4096);
	cr_assert_eq(a.result, 0);
	/* A PENDING page: SGX_PAGE_NOT_MODIFIABLE. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(restrict_perm(KH_DYN, 4096, SGX_SECINFO_R, &a), -EFAULT);
	cr_assert_eq(a.result, SGX_PAGE_NOT_MODIFIABLE);
	cr_assert_eq(a.count, 0);
	struct hw_epcm_view v = kh_epcm(&h, KH_DYN);
	cr_assert(v.pending && v.r && v.w && !v.pr);
}

Test(edmm, sgx2_ioctls_before_init_einval)
{
	struct kh h2;
	kh_setup(&h2, NULL);
	cr_assert_eq(kh_create(&h2, KH_BASE, KH_SIZE), 0);
	struct sgx_enclave_restrict_permissions r = {.offset = 0, .length = 4096, .permissions = 1};
	struct sgx_enclave_modify_types m = {.offset = 0, .length = 4096, .page_type = SGX_PT_TRIM};
	struct sgx_enclave_remove_pages x = {.offset = 0, .length = 4096};
	cr_assert_eq(kh_ioctl(&h2, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &r), -EINVAL);
	cr_assert_eq(kh_ioctl(&h2, SGX_IOC_ENCLAVE_MODIFY_TYPES, &m), -EINVAL);
	cr_assert_eq(kh_ioctl(&h2, SGX_IOC_ENCLAVE_REMOVE_PAGES, &x), -EINVAL);
	kh_teardown(&h2);
}

Test(edmm, sgx2_ioctls_on_sgx1_enodev)
{
	struct sgxk_config c;
	kh_config(&c);
	c.hw.sgx1_only = true;
	struct kh h2;
	kh_setup(&h2, &c);
	struct sgx_enclave_restrict_permissions r = {.offset = 0, .length = 4096, .permissions = 1};
	struct sgx_enclave_modify_types m = {.offset = 0, .length = 4096, .page_type = SGX_PT_TRIM};
	struct sgx_enclave_remove_pages x = {.offset = 0, .length = 4096};
	cr_assert_eq(kh_ioctl(&h2, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &r), -ENODEV);
	cr_assert_eq(kh_ioctl(&h2, SGX_IOC_ENCLAVE_MODIFY_TYPES, &m), -ENODEV);
	cr_assert_eq(kh_ioctl(&h2, SGX_IOC_ENCLAVE_REMOVE_PAGES, &x), -ENODEV);
	kh_teardown(&h2);
}

/* ---- MODIFY_TYPES ---- */

Test(edmm, modify_types_argument_checks)
{
	struct sgx_enclave_modify_types a;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, (void *)8), -EFAULT);
	cr_assert_eq(modify_type(KH_DATA, 4096, SGX_PT_REG, &a), -EINVAL);
	cr_assert_eq(modify_type(KH_DATA, 4096, 0x104, &a), -EINVAL);
	cr_assert_eq(modify_type(KH_DATA, 4096, SGX_PT_SECS, &a), -EINVAL);
	cr_assert_eq(modify_type(KH_DATA + 8, 4096, SGX_PT_TRIM, &a), -EINVAL);
	a = (struct sgx_enclave_modify_types){.offset = KH_DATA, .length = 4096, .page_type = 4, .result = 1};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, &a), -EINVAL);
	a = (struct sgx_enclave_modify_types){.offset = KH_DATA, .length = 4096, .page_type = 4, .count = 1};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, &a), -EINVAL);
	cr_assert_eq(kh_epcm(&h, KH_DATA).pt, SGX_PT_REG);
}

Test(edmm, modify_types_transitions)
{
	struct sgx_enclave_modify_types a;
	/* TCS -> TCS, ceiling without W, holes, PENDING pages. */
	cr_assert_eq(modify_type(KH_TCS, 4096, SGX_PT_TCS, &a), -EINVAL);
	cr_assert_eq(modify_type(KH_CODE, 4096, SGX_PT_TCS, &a), -EPERM);
	cr_assert_eq(kh_epcm(&h, KH_CODE).pt, SGX_PT_REG);
	cr_assert_eq(modify_type(KH_DYN, 4096, SGX_PT_TRIM, &a), -EFAULT);
	cr_assert_eq(a.result, 0);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U), SGXK_FAULT_FIXED);
	cr_assert_eq(modify_type(KH_DYN, 4096, SGX_PT_TCS, &a), -EFAULT);
	cr_assert_eq(a.result, SGX_PAGE_NOT_MODIFIABLE);
	/* The ceiling was restored: RWX still mappable. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), 0);
	/* TCS -> TRIM is allowed, TRIM -> TRIM is not. */
	cr_assert_eq(modify_type(KH_TCS, 4096, SGX_PT_TRIM, &a), 0);
	cr_assert_eq(a.count, 4096);
	cr_assert_eq(kh_epcm(&h, KH_TCS).pt, SGX_PT_TRIM);
	cr_assert_eq(modify_type(KH_TCS, 4096, SGX_PT_TRIM, &a), -EINVAL);
}

/* Flow 4: a new TCS. */
Test(edmm, new_tcs_flow)
{
	kh_enter(&h, &t);
	augment_accepted(KH_DYN);
	/* The enclave writes the TCS fields into the page while it is REG RW. */
	struct sgx_tcs *tcs = (struct sgx_tcs *)(uintptr_t)lin(KH_DYN);
	tcs->ossa = KH_SSA;
	tcs->nssa = 1;
	tcs->oentry = KH_CODE;
	kh_exit(&h, &t);

	struct sgx_enclave_modify_types a;
	cr_assert_eq(modify_type(KH_DYN, 4096, SGX_PT_TCS, &a), 0);
	cr_assert_eq(a.count, 4096);
	struct hw_epcm_view v = kh_epcm(&h, KH_DYN);
	cr_assert(v.pt == SGX_PT_TCS && v.modified && !v.r && !v.w && !v.x);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DYN)), PROT_NONE);
	/* Ceiling is R+W now. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), -EACCES);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RW), 0);

	kh_enter(&h, &t);
	kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_TCS), lin(KH_DYN), 0, NULL));
	cr_assert_not(kh_epcm(&h, KH_DYN).modified);
	kh_exit(&h, &t);
	/* A second thread enters on the new TCS. */
	struct hw_thread t2;
	kh_thread(&h, &t2);
	kh_assert_ok(kh_enclu(&h, &t2, ENCLU_EENTER, lin(KH_DYN), 0x400000, 0, NULL, NULL));
	cr_assert(t2.in_enclave);
	kh_exit(&h, &t2);
	sgxk_thread_unregister(h.k, &t2);
	hw_thread_fini(&t2);
}

/* ---- REMOVE_PAGES (flow 5) ---- */

Test(edmm, remove_argument_checks)
{
	struct sgx_enclave_remove_pages a;
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_REMOVE_PAGES, (void *)8), -EFAULT);
	cr_assert_eq(remove_pages(KH_DATA, 0, &a), -EINVAL);
	a = (struct sgx_enclave_remove_pages){.offset = KH_DATA, .length = 4096, .count = 1};
	cr_assert_eq(kh_ioctl(&h, SGX_IOC_ENCLAVE_REMOVE_PAGES, &a), -EINVAL);
	cr_assert_eq(remove_pages(KH_DATA, 4096, &a), -EPERM);
	cr_assert_eq(a.count, 0);
	cr_assert_eq(remove_pages(KH_DYN, 4096, &a), -EFAULT);
	cr_assert(kh_epcm(&h, KH_DATA).valid);
}

Test(edmm, trim_accept_remove_flow)
{
	struct sgx_enclave_modify_types m;
	struct sgx_enclave_remove_pages a;
	cr_assert_eq(modify_type(KH_DATA, 4096, SGX_PT_TRIM, &m), 0);
	struct hw_epcm_view v = kh_epcm(&h, KH_DATA);
	cr_assert(v.pt == SGX_PT_TRIM && v.modified);
	/* Not accepted yet: EPERM. */
	cr_assert_eq(remove_pages(KH_DATA, 4096, &a), -EPERM);
	cr_assert_eq(a.count, 0);
	kh_enter(&h, &t);
	kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_TRIM), lin(KH_DATA), 0, NULL));
	kh_exit(&h, &t);
	uint64_t used = frames_used();
	cr_assert_eq(remove_pages(KH_DATA, 4096, &a), 0);
	cr_assert_eq(a.count, 4096);
	cr_assert_eq(frames_used(), used - 1);
	cr_assert_not(kh_epcm(&h, KH_DATA).valid);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DATA)), PROT_NONE);
	/* A later access EAUGs a fresh PENDING page. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	v = kh_epcm(&h, KH_DATA);
	cr_assert(v.valid && v.pending);
}

Test(edmm, remove_partial_count_stops_at_untrimmed_page)
{
	struct sgx_enclave_modify_types m;
	struct sgx_enclave_remove_pages a;
	kh_enter(&h, &t);
	augment_accepted(KH_DYN);
	kh_exit(&h, &t);
	cr_assert_eq(modify_type(KH_DYN, 4096, SGX_PT_TRIM, &m), 0);
	kh_enter(&h, &t);
	kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_TRIM), lin(KH_DYN), 0, NULL));
	kh_exit(&h, &t);
	cr_assert_eq(remove_pages(KH_DYN, 8192, &a), -EFAULT);
	cr_assert_eq(a.count, 4096);
	cr_assert_not(kh_epcm(&h, KH_DYN).valid);
}

static uint64_t frames_with_memory(uint64_t off, unsigned n)
{
	return kh_frames_with_memory(&h, off, n);
}

/* An ioctl of this enclave, again while another thread's ioctl makes it EBUSY (one at a time, as on Linux). */
#define RETRY_BUSY(call)                                                                                               \
	({                                                                                                             \
		long r_;                                                                                               \
		while ((r_ = (call)) == -EBUSY)                                                                        \
			sched_yield();                                                                                 \
		r_;                                                                                                    \
	})

/* Pages off.. (n of them) accepted RW, each filled with its byte; then those in `trim` trimmed and accepted. */
static void pages_then_trim(uint64_t off, unsigned n, uint64_t trim)
{
	struct sgx_enclave_modify_types m;
	kh_enter(&h, &t);
	for (unsigned i = 0; i < n; i++) {
		augment_accepted(off + i * 4096ULL);
		memset(kh_frame(&h, off + i * 4096ULL), 0x30 + (int)i, 4096);
	}
	kh_exit(&h, &t);
	for (unsigned i = 0; i < n; i++) {
		if (!(trim >> i & 1))
			continue;
		cr_assert_eq(RETRY_BUSY(modify_type(off + i * 4096ULL, 4096, SGX_PT_TRIM, &m)), 0);
		kh_enter(&h, &t);
		kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_TRIM), lin(off + i * 4096ULL), 0, NULL));
		kh_exit(&h, &t);
	}
}

/*
 * REMOVE_PAGES gives back the memory of the pages it removed, in one step
 * at its end (docs/kernel.md), and only theirs: a page it stopped at, and
 * pages outside its range, keep their memory and what they hold; the next
 * removal gives back its own page at once.
 */
Test(edmm, remove_gives_back_the_memory_of_the_pages_it_removed)
{
	struct sgx_enclave_remove_pages a;
	pages_then_trim(KH_DYN, 5, 0x1B); /* pages 0, 1, 3, 4 trimmed, page 2 not */
	cr_assert_eq(frames_with_memory(KH_DYN, 5), 0x1F);
	cr_assert_eq(remove_pages(KH_DYN, 2 * 4096, &a), 0);
	cr_assert_eq(frames_with_memory(KH_DYN, 5), 0x1C, "pages 0 and 1 gave their memory back: %#llx",
		     (unsigned long long)frames_with_memory(KH_DYN, 5));
	/* Stopped at page 2 (not trimmed): nothing removed, nothing given back. */
	cr_assert_eq(remove_pages(KH_DYN + 2 * 4096, 2 * 4096, &a), -EPERM);
	cr_assert_eq(a.count, 0);
	cr_assert_eq(frames_with_memory(KH_DYN, 5), 0x1C);
	const uint8_t *kept = kh_frame(&h, KH_DYN + 2 * 4096);
	for (unsigned i = 0; i < 4096; i++)
		cr_assert_eq(kept[i], 0x32, "byte %u of the page REMOVE_PAGES stopped at", i);
	cr_assert_eq(remove_pages(KH_DYN + 3 * 4096, 4096, &a), 0);
	cr_assert_eq(frames_with_memory(KH_DYN, 5), 0x14);
	cr_assert(kh_epcm(&h, KH_DYN + 4 * 4096).valid);
	cr_assert_eq(remove_pages(KH_DYN + 4 * 4096, 4096, &a), 0);
	cr_assert_eq(frames_with_memory(KH_DYN, 5), 0x04, "only the page never trimmed keeps memory");
	/* A removed page comes back zeroed. */
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DYN), PF_U), SGXK_FAULT_FIXED);
	const uint8_t *z = kh_frame(&h, KH_DYN);
	for (unsigned i = 0; i < 4096; i++)
		cr_assert_eq(z[i], 0, "byte %u of a page EAUG'd where one was removed", i);
}

/*
 * While REMOVE_PAGES runs on one range, another thread adds pages next to
 * it, on faults and with AUGMENT_PAGES, and reads a page of its own: its
 * pages keep what they hold and their memory; every removed page's memory
 * goes back.
 */
static _Atomic bool churn_stop;
static _Atomic unsigned churn_bad, churn_rounds;

static void *churn(void *arg)
{
	(void)arg;
	const uint8_t *data = kh_frame(&h, KH_DATA);
	static const struct sgx_secinfo rw = {.flags = SI_REG(SGX_SECINFO_R | SGX_SECINFO_W)};
	for (unsigned i = 0; !atomic_load(&churn_stop); i++) {
		for (unsigned j = 0; j < 4096; j += 512)
			if (data[j] != 0x5A)
				atomic_fetch_add(&churn_bad, 1);
		/* Pages past the removed range, each added once: on a fault, or by AUGMENT_PAGES. */
		if (i < 64) {
			uint64_t off = KH_DYN + (16 + i) * 4096ULL;
			struct sgx_enclave_augment_pages a = {
			    .offset = off, .length = 4096, .secinfo = (uint64_t)(uintptr_t)&rw};
			bool ok = i % 2 ? RETRY_BUSY(kh_ioctl(&h, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a)) == 0
					: sgxk_fault(h.k, lin(off), PF_U) == SGXK_FAULT_FIXED;
			if (!ok)
				atomic_fetch_add(&churn_bad, 1);
			else /* its first use, which gives the frame memory (EAUG does not write it) */
				memset(kh_frame(&h, off), (int)(i + 1), 4096);
		}
		atomic_fetch_add(&churn_rounds, 1);
	}
	return NULL;
}

Test(edmm, remove_pages_while_another_thread_adds_pages)
{
	pthread_t c;
	cr_assert_eq(pthread_create(&c, NULL, churn, NULL), 0);
	/* At least 20 rounds, and until the other thread made its 64 pages and more. */
	for (unsigned round = 0; round < 20 || (atomic_load(&churn_rounds) < 100 && round < 100000); round++) {
		struct sgx_enclave_remove_pages a;
		pages_then_trim(KH_DYN, 8, 0xFF);
		cr_assert_eq(RETRY_BUSY(remove_pages(KH_DYN, 8 * 4096, &a)), 0);
		cr_assert_eq(a.count, 8 * 4096);
		cr_assert_eq(frames_with_memory(KH_DYN, 8), 0, "round %u: %#llx", round,
			     (unsigned long long)frames_with_memory(KH_DYN, 8));
	}
	atomic_store(&churn_stop, true);
	pthread_join(c, NULL);
	cr_assert_gt(churn_rounds, 0);
	cr_assert_eq(churn_bad, 0, "%u checks of the other thread failed", churn_bad);
	for (unsigned i = 0; i < 64; i++) {
		struct hw_epcm_view v = kh_epcm(&h, KH_DYN + (16 + i) * 4096ULL);
		cr_assert(v.valid && v.pending, "page %u of the other thread", i);
	}
	cr_assert_eq(frames_with_memory(KH_DYN + 16 * 4096ULL, 64), ~0ULL, "the other thread's pages have memory");
	for (unsigned i = 0; i < 64; i++) {
		const uint8_t *p = kh_frame(&h, KH_DYN + (16 + i) * 4096ULL);
		for (unsigned j = 0; j < 4096; j += 511)
			cr_assert_eq(p[j], (uint8_t)(i + 1), "byte %u of the other thread's page %u", j, i);
	}
}

/* ---- flow 6: JIT with EACCEPTCOPY ---- */

Test(edmm, eacceptcopy_rx_page_then_mprotect_rx)
{
	kh_enter(&h, &t);
	unsigned faults;
	kh_assert_ok(enclu(ENCLU_EACCEPTCOPY, si(KH_SI_RX), lin(KH_DYN), lin(KH_DATA), &faults));
	cr_assert_geq(faults, 1);
	struct hw_epcm_view v = kh_epcm(&h, KH_DYN);
	cr_assert(v.valid && v.r && !v.w && v.x && !v.pending);
	cr_assert_eq(memcmp(kh_frame(&h, KH_DYN), kh_frame(&h, KH_DATA), 4096), 0);
	/* Accepting it again: code 19. */
	kh_assert_code(enclu(ENCLU_EACCEPTCOPY, si(KH_SI_RX), lin(KH_DYN), lin(KH_DATA), NULL),
		       SGX_PAGE_ATTRIBUTES_MISMATCH);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RX), 0);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DYN)), RX);
	/* Now the VMA forbids the write: an ordinary #PF the driver cannot fix. */
	enum sgxk_fault sig;
	struct hw_result r = kh_enclu(&h, &t, ENCLU_EACCEPTCOPY, si(KH_SI_RX), lin(KH_DYN), lin(KH_DATA), NULL, &sig);
	cr_assert(hw_is_fault(r, X86_PF) && r.errcode == (PF_P | PF_W | PF_U), "got %s", kh_fmt(r));
	cr_assert_eq(sig, SGXK_FAULT_SIGSEGV);
}

/* ---- flow 3: EMODPE then mprotect ---- */

Test(edmm, emodpe_then_mprotect_extends)
{
	kh_enter(&h, &t);
	augment_accepted(KH_DYN);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DYN)), RW);
	kh_assert_ok(enclu(ENCLU_EMODPE, si(KH_SI_X), lin(KH_DYN), 0, NULL));
	cr_assert(kh_epcm(&h, KH_DYN).x);
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DYN), 4096, RWX), 0);
	cr_assert_eq(sgxk_host_prot(h.k, lin(KH_DYN)), RWX);
	/* EADD'd pages keep their build-time ceiling. */
	cr_assert_eq(sgxk_mprotect(h.k, lin(KH_DATA), 4096, RWX), -EACCES);
}

/* ---- tracking and the busy flag: the IPI callback ---- */

static long nested_ret;
static unsigned kicks;

static void kick_nested(struct sgxk *k, struct hw_thread *th, void *arg)
{
	(void)k;
	(void)arg;
	kicks++;
	/* A second ioctl while the first is in progress. */
	struct sgx_enclave_modify_types m = {.offset = KH_DATA, .length = 4096, .page_type = SGX_PT_TRIM};
	nested_ret = kh_ioctl(&h, SGX_IOC_ENCLAVE_MODIFY_TYPES, &m);
	/* The IPI: the thread leaves the enclave by an AEX. */
	hw_aex(th, &(struct hw_event){.vector = 0x20, .interrupt = true});
}

Test(edmm, concurrent_ioctl_ebusy_and_threads_kicked_out)
{
	sgxk_set_kick(h.k, kick_nested, NULL);
	kh_enter(&h, &t);
	cr_assert_eq(sgxk_fault(h.k, lin(KH_DATA), PF_U), SGXK_FAULT_FIXED);
	struct sgx_enclave_restrict_permissions a;
	cr_assert_eq(restrict_perm(KH_DATA, 4096, SGX_SECINFO_R, &a), 0);
	cr_assert_geq(kicks, 1);
	cr_assert_eq(nested_ret, -EBUSY);
	cr_assert_not(t.in_enclave);
	cr_assert_eq(kh_epcm(&h, KH_DATA).pt, SGX_PT_REG);
	/* ERESUME, then EACCEPT sees the tracking done. */
	kh_assert_ok(kh_enclu(&h, &t, ENCLU_ERESUME, lin(KH_TCS), 0x400000, 0, NULL, NULL));
	kh_assert_ok(enclu(ENCLU_EACCEPT, si(KH_SI_PR_R), lin(KH_DATA), 0, NULL));
}
