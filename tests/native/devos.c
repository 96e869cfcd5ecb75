/* SPDX-License-Identifier: MIT */
#include "devos.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "crypto.h"
#include "elfimg.h"
#include "sigstruct.h"

#define DEVOS_KEY_ENV "SGXEMU_TEST_NATIVE_SIGNING_KEY"

/* One signing key per test binary: made in the runner, handed to the test processes as PEM. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (getenv(DEVOS_KEY_ENV))
		return;
	struct crypto_rsa *k = crypto_rsa_generate();
	char *pem = k ? crypto_rsa_to_pem(k) : NULL;
	if (pem)
		setenv(DEVOS_KEY_ENV, pem, 1);
	free(pem);
	crypto_rsa_free(k);
}

static struct crypto_rsa *devos_key(void)
{
	static struct crypto_rsa *k;
	if (!k) {
		const char *pem = getenv(DEVOS_KEY_ENV);
		char err[128] = "";
		k = pem ? crypto_rsa_from_pem(pem, strlen(pem), err, sizeof(err)) : crypto_rsa_generate();
		cr_assert(k, "signing key: %s", err);
	}
	return k;
}

void devos_start(const struct sgxemu_options *o)
{
	char err[256] = "";
	cr_assert_eq(sgxemu_start(o, err, sizeof(err)), 0, "sgxemu_start: %s", err);
}

struct sgxemu_stats devos_stats(void)
{
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	return s;
}

/* ---- MRENCLAVE, computed from the blocks of spec/measurement.md §1 ---- */

static void mr_block(struct hw_sha256 *mr, const char *tag, uint64_t v8, const void *v16, size_t n16)
{
	uint8_t b[64] = {0};
	memcpy(b, tag, strlen(tag));
	memcpy(b + 8, &v8, 8);
	if (v16)
		memcpy(b + 16, v16, n16);
	crypto_sha256_update(mr, b, sizeof(b));
}

static void mr_ecreate(struct hw_sha256 *mr, uint32_t ssaframesize, uint64_t size)
{
	uint8_t b[64] = "ECREATE";
	memcpy(b + 8, &ssaframesize, 4);
	memcpy(b + 12, &size, 8);
	crypto_sha256_update(mr, b, sizeof(b));
}

/* EADD (SECINFO flags as measured: a TCS has no permission bits) and 16 EEXTENDs of the page. */
static void mr_add_page(struct hw_sha256 *mr, uint64_t off, uint64_t flags, const uint8_t *page)
{
	mr_block(mr, "EADD", off, &flags, sizeof(flags));
	for (unsigned c = 0; c < SGX_PAGE_SIZE; c += 256) {
		mr_block(mr, "EEXTEND", off + c, NULL, 0);
		crypto_sha256_update(mr, page + c, 256);
	}
}

/* ---- building ---- */

struct build {
	struct devos *d;
	struct hw_sha256 *mr;
	uint8_t *page; /* page-aligned source buffer */
};

#define REG(perm) (SGX_SECINFO_PT(SGX_PT_REG) | (perm))
#define SI_RW	  (SGX_SECINFO_R | SGX_SECINFO_W)

int devos_ioctl(int fd, unsigned long cmd, void *arg)
{
	int r;
	for (unsigned i = 0; (r = sgxemu_ioctl(fd, cmd, arg)) == -1 && errno == EBUSY && i < 64; i++)
		;
	return r;
}

/* ADD_PAGES of one page (b->page) at off with SECINFO flags, measured. */
static void add_page(struct build *b, uint64_t off, uint64_t flags)
{
	static struct sgx_secinfo si __attribute__((aligned(64)));
	memset(&si, 0, sizeof(si));
	si.flags = flags;
	struct sgx_enclave_add_pages a = {.src = (uint64_t)(uintptr_t)b->page,
					  .offset = off,
					  .length = SGX_PAGE_SIZE,
					  .secinfo = (uint64_t)(uintptr_t)&si,
					  .flags = SGX_PAGE_MEASURE};
	int r = devos_ioctl(b->d->fd, SGX_IOC_ENCLAVE_ADD_PAGES, &a);
	cr_assert_eq(r, 0, "ADD_PAGES at %#llx: %s", (unsigned long long)off, strerror(errno));
	cr_assert_eq(a.count, SGX_PAGE_SIZE);
	mr_add_page(b->mr, off, flags, b->page);
	b->d->pages++;
}

static void add_image(struct build *b, struct elfimg *img)
{
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct elfimg_seg *s = &img->seg[i];
		cr_assert(s->vaddr >= ENCL_BASE && s->vaddr - ENCL_BASE + s->memsz <= ENCL_SLOT(0),
			  "the image fits before the threads");
		uint64_t flags =
		    REG(((s->perm & ELFIMG_R) ? SGX_SECINFO_R : 0) | ((s->perm & ELFIMG_W) ? SGX_SECINFO_W : 0) |
			((s->perm & ELFIMG_X) ? SGX_SECINFO_X : 0));
		for (uint64_t o = 0; o < s->memsz; o += SGX_PAGE_SIZE) {
			memset(b->page, 0, SGX_PAGE_SIZE);
			if (o < s->filesz)
				memcpy(b->page, s->data + o,
				       s->filesz - o < SGX_PAGE_SIZE ? s->filesz - o : SGX_PAGE_SIZE);
			add_page(b, s->vaddr - ENCL_BASE + o, flags);
		}
	}
}

void devos_slot_contents(unsigned slot, uint64_t entry, struct sgx_tcs *tcs, uint64_t td[SGX_PAGE_SIZE / 8])
{
	uint64_t s = ENCL_SLOT(slot);
	memset(tcs, 0, sizeof(*tcs));
	tcs->ossa = s + ENCL_SLOT_SSA;
	tcs->nssa = ENCL_NSSA;
	tcs->oentry = entry;
	tcs->ofsbase = s + ENCL_SLOT_TD;
	tcs->ogsbase = s + ENCL_SLOT_TD;
	tcs->fslimit = 0xFFF;
	tcs->gslimit = 0xFFF;
	memset(td, 0, SGX_PAGE_SIZE);
	td[TD_SELF / 8] = devos_lin(s + ENCL_SLOT_TD);
	td[TD_STACK / 8] = devos_lin(s + ENCL_SLOT_STACK0_TOP);
	td[TD_STACK / 8 + 1] = devos_lin(s + ENCL_SLOT_STACK1_TOP);
	td[TD_SSA / 8] = devos_lin(s + ENCL_SLOT_SSA);
	td[TD_TCS / 8] = devos_lin(s + ENCL_SLOT_TCS);
}

static void add_thread(struct build *b, unsigned slot)
{
	uint64_t s = ENCL_SLOT(slot);
	static struct sgx_tcs tcs;
	static uint64_t td[SGX_PAGE_SIZE / 8];
	devos_slot_contents(slot, b->d->entry, &tcs, td);
	memcpy(b->page, &tcs, SGX_PAGE_SIZE);
	add_page(b, s + ENCL_SLOT_TCS, SGX_SECINFO_PT(SGX_PT_TCS));
	memset(b->page, 0, SGX_PAGE_SIZE);
	for (unsigned f = 0; f < ENCL_NSSA; f++)
		add_page(b, s + ENCL_SLOT_SSA + f * SGX_PAGE_SIZE, REG(SI_RW));
	memcpy(b->page, td, SGX_PAGE_SIZE);
	add_page(b, s + ENCL_SLOT_TD, REG(SI_RW));
	memset(b->page, 0, SGX_PAGE_SIZE);
	for (uint64_t o = ENCL_SLOT_STACK0; o < ENCL_SLOT_STACK0_TOP; o += SGX_PAGE_SIZE)
		add_page(b, s + o, REG(SI_RW));
	for (uint64_t o = ENCL_SLOT_STACK1; o < ENCL_SLOT_STACK1_TOP; o += SGX_PAGE_SIZE)
		add_page(b, s + o, REG(SI_RW));
}

static void create(struct devos *d)
{
	static struct sgx_secs secs __attribute__((aligned(4096)));
	memset(&secs, 0, sizeof(secs));
	secs.size = DEVOS_SIZE;
	secs.base = ENCL_BASE;
	secs.ssa_frame_size = 1;
	secs.miscselect = SGX_MISC_EXINFO;
	secs.attributes = SGX_ATTR_MODE64BIT;
	secs.xfrm = 3;
	struct sgx_enclave_create c = {.src = (uint64_t)(uintptr_t)&secs};
	cr_assert_eq(devos_ioctl(d->fd, SGX_IOC_ENCLAVE_CREATE, &c), 0, "CREATE: %s", strerror(errno));
}

static void init(struct devos *d, struct hw_sha256 *mr)
{
	struct sgx_sigstruct *s = &d->sigstruct;
	crypto_sha256_final(mr, d->mrenclave);
	sigstruct_init(s, 0x20250101);
	s->miscselect = SGX_MISC_EXINFO;
	s->miscmask = ~0U;
	s->attributes = SGX_ATTR_MODE64BIT;
	s->attributes_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT;
	s->xfrm = 3;
	s->xfrm_mask = ~0ULL;
	memcpy(s->enclave_hash, d->mrenclave, 32);
	cr_assert(sigstruct_sign(s, devos_key()));
	sigstruct_mrsigner(s, d->mrsigner);
	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)s};
	cr_assert_eq(devos_ioctl(d->fd, SGX_IOC_ENCLAVE_INIT, &in), 0,
		     "INIT: %s (EPERM: the emulator's MRENCLAVE differs from the loader's)", strerror(errno));
}

static void map(uint64_t off, uint64_t len, int prot, int fd)
{
	void *want = (void *)(uintptr_t)devos_lin(off);
	void *p = sgxemu_mmap(want, len, prot, MAP_SHARED | MAP_FIXED, fd, 0);
	cr_assert_eq(p, want, "mmap of %#llx+%#llx: %s", (unsigned long long)off, (unsigned long long)len,
		     strerror(errno));
}

void devos_load(struct devos *d)
{
	memset(d, 0, sizeof(*d));
	d->fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	cr_assert_geq(d->fd, 0, "open /dev/sgx_enclave: %s", strerror(errno));

	char err[256];
	struct elfimg img;
	cr_assert_eq(elfimg_load(TEST_ENCLAVE_PATH, &img, err, sizeof(err)), 0, "%s", err);
	d->entry = img.entry - ENCL_BASE;

	struct build b = {.d = d, .mr = crypto_sha256_new(), .page = aligned_alloc(SGX_PAGE_SIZE, SGX_PAGE_SIZE)};
	cr_assert(b.mr && b.page);
	create(d);
	mr_ecreate(b.mr, 1, DEVOS_SIZE);
	add_image(&b, &img);
	for (unsigned i = 0; i < DEVOS_THREADS; i++)
		add_thread(&b, i);
	init(d, b.mr);
	crypto_sha256_free(b.mr);
	free(b.page);

	/* Each segment with the protection its SECINFO allows; the threads and the dynamic area R-W. */
	cr_assert_lt(img.nseg, sizeof(d->area) / sizeof(d->area[0]));
	for (unsigned i = 0; i < img.nseg; i++) {
		const struct elfimg_seg *s = &img.seg[i];
		int prot = ((s->perm & ELFIMG_R) ? PROT_READ : 0) | ((s->perm & ELFIMG_W) ? PROT_WRITE : 0) |
			   ((s->perm & ELFIMG_X) ? PROT_EXEC : 0);
		d->area[d->nareas++] = (struct devos_area){
		    .off = s->vaddr - ENCL_BASE, .len = (s->memsz + SGX_PAGE_SIZE - 1) & SGX_PAGE_MASK, .prot = prot};
	}
	d->area[d->nareas++] =
	    (struct devos_area){.off = ENCL_SLOT(0), .len = DEVOS_SIZE - ENCL_SLOT(0), .prot = PROT_READ | PROT_WRITE};
	elfimg_free(&img);
	devos_map(d);
}

void devos_map(const struct devos *d)
{
	for (unsigned i = 0; i < d->nareas; i++)
		map(d->area[i].off, d->area[i].len, d->area[i].prot, d->fd);
}

void devos_unload(struct devos *d)
{
	if (d->fd >= 0)
		cr_assert_eq(sgxemu_close(d->fd), 0);
	d->fd = -1;
	cr_assert_eq(sgxemu_munmap((void *)(uintptr_t)ENCL_BASE, DEVOS_SIZE), 0, "munmap: %s", strerror(errno));
}

int devos_call(uint64_t tcs, uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t *out,
	       struct sgx_enclave_run *run)
{
	memset(run, 0, sizeof(*run));
	run->tcs = tcs;
	return sgxemu_call_enclave(op, a, b, ENCLU_EENTER, c, (unsigned long)(uintptr_t)out, run);
}
