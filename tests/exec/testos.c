/* SPDX-License-Identifier: MIT */
#include "testos.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "elfimg.h"
#include "signed_enclave.h"

struct tos tos;

static bool in_elrange(uint64_t a)
{
	return a - ENCL_BASE < ENCL_SIZE;
}

static bool tos_translate(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, uint32_t *err)
{
	(void)mmu;
	if (!in_elrange(lin)) {
		*pa = lin;
		return true;
	}
	if (tos.on_translate)
		tos.on_translate();
	pthread_mutex_lock(&tos.lock);
	bool ok = tos.th.pt.mmu.translate(&tos.th.pt.mmu, lin, acc, pa, err);
	pthread_mutex_unlock(&tos.lock);
	return ok;
}

int tos_host_prot(uint64_t lin)
{
	pthread_mutex_lock(&tos.lock);
	const struct pt_entry *e = pagetable_lookup(&tos.th.pt, lin);
	unsigned pte = e ? e->prot : 0;
	uint64_t pa = e ? e->pa : 0;
	pthread_mutex_unlock(&tos.lock);
	if (!e)
		return PROT_NONE;
	struct hw_epcm_view v;
	if (!hw_epcm_get(tos.th.m, pa, &v) || !v.valid || v.pending || v.modified || v.blocked || v.pt != SGX_PT_REG)
		return PROT_NONE;
	int prot = 0;
	if ((pte & HW_ACC_R) && v.r)
		prot |= PROT_READ;
	if ((pte & HW_ACC_W) && v.w)
		prot |= PROT_WRITE;
	if ((pte & HW_ACC_X) && v.x)
		prot |= PROT_EXEC;
	return prot;
}

bool tos_map(uint64_t lin, unsigned prot)
{
	lin &= ~0xFFFULL;
	pthread_mutex_lock(&tos.lock);
	int r = pagetable_map(&tos.th.pt, lin, tos_pa(lin), prot);
	pthread_mutex_unlock(&tos.lock);
	if (r != 0)
		return false;
	void *p = mmap((void *)(uintptr_t)lin, SGX_PAGE_SIZE, tos_host_prot(lin), MAP_SHARED | MAP_FIXED,
		       hw_epc_fd(tos.th.m), (off_t)hw_epc_offset(tos.th.m, tos_pa(lin)));
	return p != MAP_FAILED;
}

bool tos_eaug(uint64_t lin, unsigned prot)
{
	struct sgx_pageinfo pi = {.linaddr = lin & ~0xFFFULL, .secs = tos.th.secs_pa};
	struct hw_result r = encls_eaug(tos.th.m, NULL, (uint64_t)(uintptr_t)&pi, tos_pa(lin & ~0xFFFULL));
	if (!hw_is_ok(r))
		return false;
	tos.augs++;
	return tos_map(lin, prot);
}

uint32_t tos_cssa(unsigned i)
{
	uint64_t q = 0;
	struct hw_result r = encls_edbgrd(tos.th.m, tos_pa(tos_tcs(i)) + offsetof(struct sgx_tcs, cssa), &q);
	cr_assert(hw_is_ok(r), "EDBGRD of the TCS: %s", th_fmt(r));
	return (uint32_t)q;
}

/* ---- the OS callbacks (run in the signal handler) ---- */

static enum exec_fault tos_fault(void *ctx, uint64_t addr, uint32_t err)
{
	(void)ctx;
	tos.faults++;
	tos.last_fault_addr = addr;
	tos.last_fault_err = err;
	if (!in_elrange(addr))
		return EXEC_FAULT_SIGSEGV;
	uint64_t off = (addr & ~0xFFFULL) - ENCL_BASE;
	if (tos.aug_on_fault && off >= ENCL_DYN && off < ENCL_DYN_END)
		return tos_eaug(addr, tos.aug_prot) ? EXEC_FAULT_FIXED : EXEC_FAULT_SIGBUS;
	return EXEC_FAULT_SIGBUS;
}

static int tos_refresh(void *ctx, uint64_t addr, size_t len)
{
	(void)ctx;
	for (uint64_t p = addr & ~0xFFFULL; p < addr + len; p += SGX_PAGE_SIZE) {
		tos.refreshes++;
		if (in_elrange(p))
			mprotect((void *)(uintptr_t)p, SGX_PAGE_SIZE, tos_host_prot(p));
	}
	return 0;
}

/* ---- building the enclave ---- */

#define REG(perm) (SGX_SECINFO_PT(SGX_PT_REG) | (perm))
#define RW	  (SGX_SECINFO_R | SGX_SECINFO_W)

/* EADD + EEXTEND one page at enclave offset off, mapped with pte. */
static void add_page(uint64_t off, uint64_t flags, const void *content, unsigned pte)
{
	th_assert_ok(th_eadd(&tos.th, off, flags, content));
	th_assert_ok(th_eextend_page(&tos.th, off));
	cr_assert(tos_map(tos_lin(off), pte), "map enclave page %#llx", (unsigned long long)off);
}

static void add_image(void)
{
	char err[256];
	struct elfimg img;
	cr_assert_eq(elfimg_load(TEST_ENCLAVE_PATH, &img, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(img.seg[0].vaddr, ENCL_BASE, "the image is linked at ENCL_BASE");
	tos.entry = img.entry;
	static uint8_t page[4096];
	for (unsigned i = 0; i < img.nseg; i++) {
		const struct elfimg_seg *s = &img.seg[i];
		cr_assert(s->vaddr - ENCL_BASE + s->memsz <= ENCL_SLOT(0), "the image fits before the threads");
		uint64_t flags =
		    REG(((s->perm & ELFIMG_R) ? SGX_SECINFO_R : 0) | ((s->perm & ELFIMG_W) ? SGX_SECINFO_W : 0) |
			((s->perm & ELFIMG_X) ? SGX_SECINFO_X : 0));
		unsigned pte = ((s->perm & ELFIMG_R) ? HW_ACC_R : 0) | ((s->perm & ELFIMG_W) ? HW_ACC_W : 0) |
			       ((s->perm & ELFIMG_X) ? HW_ACC_X : 0);
		for (uint64_t o = 0; o < s->memsz; o += SGX_PAGE_SIZE) {
			memset(page, 0, sizeof(page));
			if (o < s->filesz)
				memcpy(page, s->data + o, s->filesz - o < 4096 ? s->filesz - o : 4096);
			add_page(s->vaddr - ENCL_BASE + o, flags, page, pte);
		}
	}
	elfimg_free(&img);
}

static void add_thread(unsigned i)
{
	uint64_t slot = ENCL_SLOT(i);
	static struct sgx_tcs tcs;
	memset(&tcs, 0, sizeof(tcs));
	tcs.ossa = slot + ENCL_SLOT_SSA;
	tcs.nssa = ENCL_NSSA;
	tcs.oentry = tos.entry - ENCL_BASE;
	tcs.ofsbase = slot + ENCL_SLOT_TD;
	tcs.ogsbase = slot + ENCL_SLOT_TD;
	tcs.fslimit = 0xFFF;
	tcs.gslimit = 0xFFF;
	tcs.flags = tos.aexnotify ? SGX_TCS_AEXNOTIFY : 0;
	add_page(slot + ENCL_SLOT_TCS, SGX_SECINFO_PT(SGX_PT_TCS), &tcs, HW_ACC_R | HW_ACC_W);
	for (unsigned f = 0; f < ENCL_NSSA; f++)
		add_page(slot + ENCL_SLOT_SSA + f * SGX_PAGE_SIZE, REG(RW), NULL, HW_ACC_R | HW_ACC_W);

	static uint64_t td[SGX_PAGE_SIZE / 8];
	memset(td, 0, sizeof(td));
	td[TD_SELF / 8] = tos_lin(slot + ENCL_SLOT_TD);
	td[TD_STACK / 8] = tos_lin(slot + ENCL_SLOT_STACK0_TOP);
	td[TD_STACK / 8 + 1] = tos_lin(slot + ENCL_SLOT_STACK1_TOP);
	td[TD_SSA / 8] = tos_lin(slot + ENCL_SLOT_SSA);
	td[TD_TCS / 8] = tos_lin(slot + ENCL_SLOT_TCS);
	add_page(slot + ENCL_SLOT_TD, REG(RW), td, HW_ACC_R | HW_ACC_W);
	for (uint64_t o = ENCL_SLOT_STACK0; o < ENCL_SLOT_STACK0_TOP; o += SGX_PAGE_SIZE)
		add_page(slot + o, REG(RW), NULL, HW_ACC_R | HW_ACC_W);
	for (uint64_t o = ENCL_SLOT_STACK1; o < ENCL_SLOT_STACK1_TOP; o += SGX_PAGE_SIZE)
		add_page(slot + o, REG(RW), NULL, HW_ACC_R | HW_ACC_W);
}

/* Sign what was measured, allow the signer as Linux does, EINIT. */
static void init_enclave(void)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(tos.th.m, tos.th.secs_pa, &v));
	static struct sgx_sigstruct sig __attribute__((aligned(4096)));
	static struct sgx_einittoken token __attribute__((aligned(512)));
	sigstruct_init(&sig, 0x20240601);
	sig.miscselect = v.secs.miscselect;
	sig.miscmask = ~0U;
	sig.attributes = v.secs.attributes;
	sig.attributes_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT;
	sig.xfrm = v.secs.xfrm;
	sig.xfrm_mask = ~0ULL;
	memcpy(sig.enclave_hash, v.mrenclave_now, 32);
	cr_assert(sigstruct_sign(&sig, se_key()));
	memcpy(tos.mrenclave, v.mrenclave_now, 32);
	sigstruct_mrsigner(&sig, tos.mrsigner);
	se_set_lehash(tos.th.m, tos.mrsigner);
	memset(&token, 0, sizeof(token));
	th_assert_ok(
	    encls_einit(tos.th.m, NULL, (uint64_t)(uintptr_t)&sig, tos.th.secs_pa, (uint64_t)(uintptr_t)&token));
}

void tos_setup(void)
{
	tos_setup_with(0);
}

void tos_setup_with(unsigned opts)
{
	memset(&tos, 0, sizeof(tos));
	tos.aexnotify = (opts & TOS_AEXNOTIFY) != 0;
	pthread_mutex_init(&tos.lock, NULL);
	tos.th.m = th_machine();
	cr_assert_eq(pagetable_init(&tos.th.pt, false), 0);
	tos.th.base = ENCL_BASE;
	tos.th.size = ENCL_SIZE;
	tos.mmu.translate = tos_translate;
	tos.mmu.gen = &tos.th.pt.gen;
	tos.aug_prot = HW_ACC_R | HW_ACC_W | HW_ACC_X;

	void *r = mmap((void *)(uintptr_t)ENCL_BASE, ENCL_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	cr_assert(r == (void *)(uintptr_t)ENCL_BASE, "ELRANGE %#llx is not free in this process",
		  (unsigned long long)ENCL_BASE);

	th_secs_default(&tos.th.secs, ENCL_BASE, ENCL_SIZE);
	if (tos.aexnotify)
		tos.th.secs.attributes |= SGX_ATTR_AEXNOTIFY;
	th_assert_ok(th_ecreate(&tos.th));
	add_image();
	for (unsigned i = 0; i < ENCL_THREADS; i++)
		add_thread(i);
	init_enclave();

	tos.os =
	    (struct exec_os){.m = tos.th.m, .mmu = &tos.mmu, .ctx = &tos, .fault = tos_fault, .refresh = tos_refresh};
	cr_assert_eq(exec_install(&tos.os), 0);
}

void tos_hook_translations(void (*fn)(void))
{
	tos.on_translate = fn;
	tos.mmu.gen = fn ? NULL : &tos.th.pt.gen;
}

void tos_teardown(void)
{
	exec_uninstall();
	munmap((void *)(uintptr_t)ENCL_BASE, ENCL_SIZE);
	th_teardown(&tos.th);
}

/* ---- entering the enclave ---- */

int tos_ecall(unsigned i, uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t *out, struct sgx_enclave_run *run)
{
	memset(run, 0, sizeof(*run));
	run->tcs = tos_tcs(i);
	return sgxemu_call_enclave(op, a, b, ENCLU_EENTER, c, (unsigned long)out, run);
}

int tos_flow_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rdi, (void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct tos_flow *f = (struct tos_flow *)run->user_data;
	f->calls++;
	if (run->function == ENCLU_ERESUME) {
		/* An exception: let the enclave's handler (CSSA 1) look at it. */
		f->exceptions++;
		f->vector = run->exception_vector;
		f->handler_entries++;
		return ENCLU_EENTER;
	}
	if (f->handler_entries > f->resumes) {
		/* The handler returned (EEXIT): resume the interrupted code. */
		f->resumes++;
		return ENCLU_ERESUME;
	}
	return 0;
}

int tos_flow_call(unsigned i, uint64_t op, uint64_t a, uint64_t b, uint64_t *out, struct tos_flow *f)
{
	struct sgx_enclave_run run = {.tcs = tos_tcs(i),
				      .user_handler = (uint64_t)(uintptr_t)tos_flow_handler,
				      .user_data = (uint64_t)(uintptr_t)f};
	int r = sgxemu_call_enclave(op, a, b, ENCLU_EENTER, 0, (unsigned long)out, &run);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	return r;
}

void tos_set_handler(unsigned i, uint64_t mode, uint64_t skip, uint64_t *rec)
{
	struct sgx_enclave_run run;
	cr_assert_eq(tos_ecall(i, OP_SET_HANDLER, mode, skip, (uint64_t)(uintptr_t)rec, NULL, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
}

void tos_code_page(uint64_t lin, const void *code, size_t n)
{
	cr_assert_leq(n, SGX_PAGE_SIZE);
	cr_assert(tos_eaug(lin, HW_ACC_R | HW_ACC_W | HW_ACC_X), "EAUG of %#llx", (unsigned long long)lin);
	struct sgx_enclave_run run;
	uint64_t out[ENCL_OUT_WORDS] = {0};
	const uint64_t reg = SGX_SECINFO_PT(SGX_PT_REG);
	cr_assert_eq(
	    tos_ecall(1, OP_EACCEPT, lin, reg | SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_PENDING, 0, out, &run), 0);
	cr_assert(run.function == ENCLU_EEXIT && out[0] == 0, "EACCEPT of %#llx: %#llx", (unsigned long long)lin,
		  (unsigned long long)out[0]);
	cr_assert_eq(tos_ecall(1, OP_EMODPE, lin, reg | SGX_SECINFO_X, 0, out, &run), 0);
	cr_assert_eq(run.function, ENCLU_EEXIT);
	uint8_t *p = (uint8_t *)(uintptr_t)tos_pa(lin);
	memset(p, 0xCC, SGX_PAGE_SIZE);
	if (n)
		memcpy(p, code, n);
}

void tos_sigaction(int sig, void (*h)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(sig, &sa, NULL), 0);
}
