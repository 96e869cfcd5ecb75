/* SPDX-License-Identifier: MIT */
/*
 * Adding dynamic pages to an initialised enclave, per page, through the
 * kernel layer's device API with an enclave thread model on sgxk_mmu:
 *
 *  (1) EAUG on fault: the thread EACCEPTs a page that is not there, the
 *      ordinary #PF causes an AEX, sgxk_fault EAUGs the page and inserts the
 *      PTE, ERESUME, and the EACCEPT runs again and succeeds;
 *  (2) SGX_IOC_ENCLAVE_AUGMENT_PAGES over the whole range in one ioctl, then
 *      one EACCEPT per page (no faults);
 *  (3) baseline in the same run: a bare host SIGSEGV round trip per page
 *      (touch a PROT_NONE page, the handler mmaps a fresh anonymous RW page
 *      over it, the write retries and faults a zeroed page in).
 *
 * Each is repeated 5 times on a fresh enclave (or fresh region), the three
 * interleaved; the medians of wall-clock and process CPU time per page are
 * printed with the ratios.
 *
 * Usage: bench_augment [pages]   (default 4096)
 */
#include <asm/sgx.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "crypto.h"
#include "kernel.h"
#include "sgxemu/ext.h"
#include "sigstruct.h"

/* Enclave layout (offsets from BASE): TCS, two SSA frames, code, SECINFOs, then the dynamic range. */
#define BASE	0x500000000000ULL
#define OFF_TCS 0x0000ULL
#define OFF_SSA 0x1000ULL
#define OFF_COD 0x3000ULL
#define OFF_SI	0x4000ULL
#define OFF_DYN 0x5000ULL
#define AEP	0x400000ULL
#define RIP	0x401000ULL

#define SI_REG(perm) (SGX_SECINFO_PT(SGX_PT_REG) | (perm))

struct encl {
	struct sgxk *k;
	struct hw_machine *m;
	struct sgx_file *f;
	struct hw_thread t;
	uint64_t size;
};

static void check(const char *what, struct hw_result r)
{
	if (hw_is_ok(r))
		return;
	char b[96];
	hw_result_format(r, b, sizeof(b));
	fprintf(stderr, "bench_augment: %s failed: %s\n", what, b);
	exit(1);
}

static void check_ret(const char *what, long ret)
{
	if (ret >= 0)
		return;
	fprintf(stderr, "bench_augment: %s failed: %s\n", what, strerror((int)-ret));
	exit(1);
}

static long ioctl_(struct encl *e, unsigned long cmd, void *arg)
{
	return sgx_file_ioctl(e->f, cmd, (unsigned long)(uintptr_t)arg);
}

/*
 * ENCLU[leaf] as the exec layer runs it: a #PF without the SGX bit goes to
 * sgxk_fault (after an AEX if the thread is inside) and, once fixed, the
 * thread resumes (ERESUME) and the leaf runs again.  *faults counts the
 * faults fixed.
 */
static struct hw_result enclu(struct encl *e, uint64_t leaf, uint64_t rbx, uint64_t rcx, unsigned *faults)
{
	struct hw_thread *t = &e->t;
	for (unsigned i = 0; i < 16; i++) {
		t->regs.rax = leaf;
		t->regs.rbx = rbx;
		t->regs.rcx = rcx;
		t->regs.rdx = 0;
		struct hw_result r = hw_enclu(t);
		if (!hw_is_fault(r, X86_PF) || (r.errcode & PF_SGX))
			return r;
		bool inside = t->in_enclave;
		if (inside) {
			struct hw_event ev = {
			    .vector = X86_PF, .has_errcode = true, .errcode = r.errcode, .addr = r.addr};
			hw_aex(t, &ev);
		}
		if (sgxk_fault(e->k, r.addr, r.errcode) != SGXK_FAULT_FIXED)
			return r;
		(*faults)++;
		if (inside) {
			unsigned nested = 0;
			check("ERESUME", enclu(e, ENCLU_ERESUME, BASE + OFF_TCS, AEP, &nested));
		}
	}
	return hw_gp();
}

static void add(struct encl *e, uint64_t off, uint64_t len, uint64_t flags, const void *src)
{
	static struct sgx_secinfo si;
	memset(&si, 0, sizeof(si));
	si.flags = flags;
	struct sgx_enclave_add_pages a = {.src = (uint64_t)(uintptr_t)src,
					  .offset = off,
					  .length = len,
					  .secinfo = (uint64_t)(uintptr_t)&si,
					  .flags = SGX_PAGE_MEASURE};
	check_ret("SGX_IOC_ENCLAVE_ADD_PAGES", ioctl_(e, SGX_IOC_ENCLAVE_ADD_PAGES, &a));
}

static void map(struct encl *e, uint64_t off, uint64_t len, int prot)
{
	check_ret("mmap", sgx_file_mmap(e->f, BASE + off, len, prot, MAP_SHARED | MAP_FIXED, 0));
}

/* A fresh kernel with an initialised enclave of `pages` dynamic pages' room, mapped, the thread inside. */
static void build(struct encl *e, uint64_t pages, const struct crypto_rsa *key)
{
	uint64_t size = 0x8000;
	while (size < OFF_DYN + pages * 4096)
		size <<= 1;
	e->size = size;
	struct sgxk_config c;
	sgxk_config_default(&c);
	c.hw.epc_size = (pages + 256) * 4096;
	c.hw.space_size = 1ULL << 36;
	char err[256];
	if (sgxk_create(&c, &e->k, err, sizeof(err))) {
		fprintf(stderr, "bench_augment: %s\n", err);
		exit(1);
	}
	e->m = sgxk_machine(e->k);
	check_ret("open", sgxk_open(e->k, SGX_DEV_ENCLAVE, &e->f));

	static struct sgx_secs secs __attribute__((aligned(4096)));
	memset(&secs, 0, sizeof(secs));
	secs.size = size;
	secs.base = BASE;
	secs.ssa_frame_size = 1;
	secs.miscselect = SGX_MISC_EXINFO;
	secs.attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG;
	secs.xfrm = 3;
	struct sgx_enclave_create cr = {.src = (uint64_t)(uintptr_t)&secs};
	check_ret("SGX_IOC_ENCLAVE_CREATE", ioctl_(e, SGX_IOC_ENCLAVE_CREATE, &cr));

	static uint8_t page[2][4096] __attribute__((aligned(4096)));
	memset(page, 0, sizeof(page));
	struct sgx_tcs *tcs = (struct sgx_tcs *)page[0];
	tcs->ossa = OFF_SSA;
	tcs->nssa = 2;
	tcs->oentry = OFF_COD;
	add(e, OFF_TCS, 4096, SGX_SECINFO_PT(SGX_PT_TCS), page[0]);
	memset(page, 0, sizeof(page));
	add(e, OFF_SSA, 8192, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), page);
	memset(page[0], 0xC3, 4096);
	add(e, OFF_COD, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_X), page[0]);
	/* The SECINFO page: at offset 0 the SECINFO EACCEPT takes for an EAUG'd page. */
	memset(page[0], 0, 4096);
	uint64_t pending_rw = SI_REG(SGX_SECINFO_PENDING | SGX_SECINFO_R | SGX_SECINFO_W);
	memcpy(page[0], &pending_rw, 8);
	add(e, OFF_SI, 4096, SI_REG(SGX_SECINFO_R | SGX_SECINFO_W), page[0]);

	struct hw_secs_view v;
	if (!hw_secs_get(e->m, sgx_file_secs_pa(e->f), &v)) {
		fprintf(stderr, "bench_augment: no SECS\n");
		exit(1);
	}
	static struct sgx_sigstruct sig;
	sigstruct_init(&sig, 0x20240131);
	sig.miscselect = v.secs.miscselect;
	sig.miscmask = ~0U;
	sig.attributes = v.secs.attributes;
	sig.attributes_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT;
	sig.xfrm = v.secs.xfrm;
	sig.xfrm_mask = ~0ULL;
	memcpy(sig.enclave_hash, v.mrenclave_now, 32);
	if (!sigstruct_sign(&sig, key)) {
		fprintf(stderr, "bench_augment: signing failed\n");
		exit(1);
	}
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&sig};
	check_ret("SGX_IOC_ENCLAVE_INIT", ioctl_(e, SGX_IOC_ENCLAVE_INIT, &in));

	map(e, 0, OFF_COD, PROT_READ | PROT_WRITE);
	map(e, OFF_COD, 4096, PROT_READ | PROT_EXEC);
	map(e, OFF_SI, size - OFF_SI, PROT_READ | PROT_WRITE);

	if (hw_thread_init(&e->t, e->m, sgxk_mmu(e->k))) {
		fprintf(stderr, "bench_augment: out of memory\n");
		exit(1);
	}
	e->t.regs.rip = RIP;
	e->t.regs.rsp = 0x7000;
	sgxk_thread_register(e->k, &e->t);
	unsigned faults = 0;
	check("EENTER", enclu(e, ENCLU_EENTER, BASE + OFF_TCS, AEP, &faults));
	/* The SECINFO page's PTE, so that the timed EACCEPTs fault only on their target. */
	if (sgxk_fault(e->k, BASE + OFF_SI, PF_U) != SGXK_FAULT_FIXED) {
		fprintf(stderr, "bench_augment: SECINFO page fault not fixed\n");
		exit(1);
	}
}

static void teardown(struct encl *e)
{
	unsigned faults = 0;
	check("EEXIT", enclu(e, ENCLU_EEXIT, RIP, 0, &faults));
	sgxk_thread_unregister(e->k, &e->t);
	hw_thread_fini(&e->t);
	sgxk_destroy(e->k);
}

/* The last dynamic page is a regular, accepted RW page. */
static void verify(struct encl *e, uint64_t pages)
{
	struct hw_epcm_view v;
	uint64_t lin = BASE + OFF_DYN + (pages - 1) * 4096;
	if (!hw_epcm_get(e->m, sgx_file_frame(e->f, lin), &v) || !v.valid || v.pending || !v.r || !v.w ||
	    v.pt != SGX_PT_REG) {
		fprintf(stderr, "bench_augment: last page not accepted\n");
		exit(1);
	}
}

/* (1): time for EACCEPT of every page, each EAUG'd by the fault it causes. */
static struct bench_span run_fault(uint64_t pages, const struct crypto_rsa *key)
{
	struct encl e;
	build(&e, pages, key);
	unsigned faults = 0;
	struct bench_span t0 = bench_now();
	for (uint64_t i = 0; i < pages; i++)
		check("EACCEPT", enclu(&e, ENCLU_EACCEPT, BASE + OFF_SI, BASE + OFF_DYN + i * 4096, &faults));
	struct bench_span t = bench_since(t0);
	if (faults != pages) {
		fprintf(stderr, "bench_augment: %u faults for %llu pages\n", faults, (unsigned long long)pages);
		exit(1);
	}
	verify(&e, pages);
	teardown(&e);
	return t;
}

/* (2): time for AUGMENT_PAGES over the range plus EACCEPT of every page; *ioctl_t the ioctl's part. */
static struct bench_span run_augment(uint64_t pages, const struct crypto_rsa *key, struct bench_span *ioctl_t)
{
	struct encl e;
	build(&e, pages, key);
	static struct sgx_secinfo si;
	memset(&si, 0, sizeof(si));
	si.flags = SI_REG(SGX_SECINFO_R | SGX_SECINFO_W);
	struct sgx_enclave_augment_pages a = {
	    .offset = OFF_DYN, .length = pages * 4096, .secinfo = (uint64_t)(uintptr_t)&si};
	unsigned faults = 0;
	struct bench_span t0 = bench_now();
	check_ret("SGX_IOC_ENCLAVE_AUGMENT_PAGES", ioctl_(&e, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a));
	*ioctl_t = bench_since(t0);
	for (uint64_t i = 0; i < pages; i++)
		check("EACCEPT", enclu(&e, ENCLU_EACCEPT, BASE + OFF_SI, BASE + OFF_DYN + i * 4096, &faults));
	struct bench_span t = bench_since(t0);
	if (a.count != pages * 4096 || faults) {
		fprintf(stderr, "bench_augment: AUGMENT added %llu bytes, then %u faults\n",
			(unsigned long long)a.count, faults);
		exit(1);
	}
	verify(&e, pages);
	teardown(&e);
	return t;
}

static void show(const char *what, struct bench_fig f)
{
	printf("  %-68s %6.2f us/page (%.2f-%.2f), CPU %6.2f us/page\n", what, f.wall, f.wall_lo, f.wall_hi, f.cpu);
}

int main(int argc, char **argv)
{
	uint64_t pages = argc > 1 ? strtoull(argv[1], NULL, 0) : 4096;
	if (pages < 1 || pages > (1u << 18)) {
		fprintf(stderr, "usage: bench_augment [pages 1..262144]\n");
		return 2;
	}
	struct crypto_rsa *key = crypto_rsa_generate();
	if (!key) {
		fprintf(stderr, "bench_augment: RSA key generation failed\n");
		return 1;
	}
	struct bench_span f[BENCH_REPS], a[BENCH_REPS], ai[BENCH_REPS], ae[BENCH_REPS], b[BENCH_REPS];
	for (int r = 0; r < BENCH_REPS; r++) {
		f[r] = run_fault(pages, key);
		a[r] = run_augment(pages, key, &ai[r]);
		ae[r] = bench_minus(a[r], ai[r]);
		b[r] = bench_segv_baseline("bench_augment", pages);
	}
	crypto_rsa_free(key);

	struct bench_fig mf = bench_median(f, pages), ma = bench_median(a, pages), mi = bench_median(ai, pages),
			 me = bench_median(ae, pages), mb = bench_median(b, pages);
	printf("dynamic pages, %llu pages, median of %d repetitions: wall (min-max), process CPU\n",
	       (unsigned long long)pages, BENCH_REPS);
	show("(1) EAUG on fault (EACCEPT, #PF, AEX, sgxk_fault, ERESUME, EACCEPT)", mf);
	show("(2) AUGMENT_PAGES over the range, then EACCEPT per page", ma);
	show("    of which the ioctl", mi);
	show("    of which the EACCEPTs", me);
	show("(3) baseline: host SIGSEGV, mmap in the handler, zero-fill fault", mb);
	printf("  ratios, wall: (1)/(3) %.2fx  (2)/(3) %.2fx  (1)/(2) %.2fx\n", mf.wall / mb.wall, ma.wall / mb.wall,
	       mf.wall / ma.wall);
	printf("  ratios, CPU:  (1)/(3) %.2fx  (2)/(3) %.2fx  (1)/(2) %.2fx\n", mf.cpu / mb.cpu, ma.cpu / mb.cpu,
	       mf.cpu / ma.cpu);
	return 0;
}
