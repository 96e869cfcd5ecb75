/* SPDX-License-Identifier: MIT */
/*
 * An SGX host program written only against Linux: <asm/sgx.h>, its own
 * vDSO parsers (getauxval(AT_SYSINFO_EHDR); DT_HASH / DT_GNU_HASH, symbol
 * versions; or the section headers alone, as Intel's urts reads them),
 * its own enclave loader, measurement and SIGSTRUCT signer
 * (OpenSSL), and CPUID through <cpuid.h>.  It includes no sgxemu header;
 * on CPUs without CPUID faulting it is built with -include
 * sgxemu/cpuid.h, which only changes what <cpuid.h>'s macros answer.
 *
 * usage: host ENCLAVE.elf KEY.pem SCENARIO [ARG]
 * Built with -DAUXV_CTOR and linked against auxv_ctor.c's library, it also
 * has the scenario auxv-ctor.
 * Prints "ok SCENARIO" and exits 0 when every check of the scenario holds;
 * otherwise prints "FAIL SCENARIO: file:line: check" and exits 1.
 * tests/preload/test_preload.c runs it under `sgxemu run`.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <asm/sgx.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "abi.h"

#define PAGE 4096UL

static const char *scenario = "?";
static const char *enclave_path, *key_path, *self_path;

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			int e_ = errno;                                                                                \
			printf("FAIL %s: %s:%d: %s (errno %d: %s)\n", scenario, __FILE__, __LINE__, #cond, e_,         \
			       strerror(e_));                                                                          \
			return false;                                                                                  \
		}                                                                                                      \
	} while (0)

#define CHECK_EQ(a, b)                                                                                                 \
	do {                                                                                                           \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);                         \
		if (a_ != b_) {                                                                                        \
			printf("FAIL %s: %s:%d: %s is %#llx, expected %s = %#llx\n", scenario, __FILE__, __LINE__, #a, \
			       a_, #b, b_);                                                                            \
			return false;                                                                                  \
		}                                                                                                      \
	} while (0)

/* ---- the vDSO, parsed by hand --------------------------------------------------------------- */

struct vdso {
	uintptr_t load;
	const Elf64_Sym *sym;
	const char *str;
	const uint32_t *hash, *gnu;
	const Elf64_Half *versym;
	const Elf64_Verdef *verdef;
};

static bool vdso_open(uintptr_t base, struct vdso *v)
{
	memset(v, 0, sizeof(*v));
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	CHECK(base != 0);
	CHECK(!memcmp(eh->e_ident, ELFMAG, SELFMAG) && eh->e_ident[EI_CLASS] == ELFCLASS64);
	CHECK_EQ(eh->e_type, ET_DYN);
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	const Elf64_Dyn *dyn = NULL;
	bool load = false;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !load) {
			v->load = base + ph[i].p_offset - ph[i].p_vaddr;
			load = true;
		}
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
	}
	CHECK(load && dyn);
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = v->load + dyn->d_un.d_ptr;
		if (dyn->d_tag == DT_SYMTAB)
			v->sym = (const Elf64_Sym *)p;
		else if (dyn->d_tag == DT_STRTAB)
			v->str = (const char *)p;
		else if (dyn->d_tag == DT_HASH)
			v->hash = (const uint32_t *)p;
		else if (dyn->d_tag == DT_GNU_HASH)
			v->gnu = (const uint32_t *)p;
		else if (dyn->d_tag == DT_VERSYM)
			v->versym = (const Elf64_Half *)p;
		else if (dyn->d_tag == DT_VERDEF)
			v->verdef = (const Elf64_Verdef *)p;
	}
	CHECK(v->sym && v->str && v->hash && v->gnu && v->versym && v->verdef);
	return true;
}

static bool version_ok(const struct vdso *v, uint32_t i, const char *version)
{
	Elf64_Half ver = v->versym[i] & 0x7fff;
	for (const Elf64_Verdef *d = v->verdef;; d = (const Elf64_Verdef *)((const char *)d + d->vd_next)) {
		if (!(d->vd_flags & VER_FLG_BASE) && d->vd_ndx == ver) {
			const Elf64_Verdaux *a = (const Elf64_Verdaux *)((const char *)d + d->vd_aux);
			return !strcmp(v->str + a->vda_name, version);
		}
		if (!d->vd_next)
			return false;
	}
}

static bool sym_ok(const struct vdso *v, uint32_t i, const char *name, const char *version)
{
	const Elf64_Sym *s = &v->sym[i];
	return ELF64_ST_TYPE(s->st_info) == STT_FUNC && s->st_shndx != SHN_UNDEF &&
	       !strcmp(v->str + s->st_name, name) && version_ok(v, i, version);
}

static uint32_t sysv_hash(const char *name)
{
	uint32_t h = 0, g;
	for (; *name; name++) {
		h = (h << 4) + (unsigned char)*name;
		if ((g = h & 0xf0000000))
			h ^= g >> 24;
		h &= ~g;
	}
	return h;
}

static void *lookup_sysv(const struct vdso *v, const char *name, const char *version)
{
	uint32_t nbucket = v->hash[0];
	const uint32_t *bucket = v->hash + 2, *chain = bucket + nbucket;
	for (uint32_t i = bucket[sysv_hash(name) % nbucket]; i; i = chain[i])
		if (sym_ok(v, i, name, version))
			return (void *)(v->load + v->sym[i].st_value);
	return NULL;
}

static void *lookup_gnu(const struct vdso *v, const char *name, const char *version)
{
	uint32_t h = 5381;
	for (const char *p = name; *p; p++)
		h = h * 33 + (unsigned char)*p;
	uint32_t nbuckets = v->gnu[0], symoffset = v->gnu[1], bloom_size = v->gnu[2], shift = v->gnu[3];
	const uint64_t *bloom = (const uint64_t *)(v->gnu + 4);
	uint64_t word = bloom[(h / 64) % bloom_size];
	if (!((word >> (h % 64)) & (word >> ((h >> shift) % 64)) & 1))
		return NULL;
	const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size), *chain = buckets + nbuckets;
	uint32_t i = buckets[h % nbuckets];
	if (i < symoffset)
		return NULL;
	for (;; i++) {
		uint32_t ch = chain[i - symoffset];
		if ((ch | 1) == (h | 1) && sym_ok(v, i, name, version))
			return (void *)(v->load + v->sym[i].st_value);
		if (ch & 1)
			return NULL;
	}
}

/* ---- the vDSO through its section headers only, as Intel's urts reads it ----------------------------- */

struct vdso_sections {
	uintptr_t base;
	const Elf64_Shdr *sh;
	unsigned shnum;
	const Elf64_Shdr *dynsym;
	const char *dynstr;
};

/*
 * Find .dynsym (SHT_DYNSYM) and .dynstr (SHT_STRTAB of that name in the
 * section name table e_shstrndx) without PT_DYNAMIC.  The headers are read
 * where the program has them, so they must lie in the image's PT_LOAD.
 */
static bool vdso_sections_open(uintptr_t base, struct vdso_sections *v)
{
	memset(v, 0, sizeof(*v));
	CHECK(base != 0);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	CHECK(!memcmp(eh->e_ident, ELFMAG, SELFMAG) && eh->e_ident[EI_CLASS] == ELFCLASS64);
	CHECK_EQ(eh->e_shentsize, sizeof(Elf64_Shdr));
	CHECK(eh->e_shoff != 0 && eh->e_shnum != 0 && eh->e_shstrndx < eh->e_shnum);
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff), *load = NULL;
	for (int i = 0; i < eh->e_phnum && !load; i++)
		if (ph[i].p_type == PT_LOAD)
			load = &ph[i];
	CHECK(load != NULL);
	CHECK(eh->e_shoff >= load->p_offset);
	CHECK(eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize <= load->p_offset + load->p_filesz);
	v->base = base;
	v->sh = (const Elf64_Shdr *)(base + eh->e_shoff);
	v->shnum = eh->e_shnum;
	CHECK_EQ(v->sh[eh->e_shstrndx].sh_type, SHT_STRTAB);
	const char *names = (const char *)(base + v->sh[eh->e_shstrndx].sh_offset);
	for (unsigned i = 0; i < v->shnum; i++) {
		if (v->sh[i].sh_type == SHT_DYNSYM)
			v->dynsym = &v->sh[i];
		if (v->sh[i].sh_type == SHT_STRTAB && !strcmp(names + v->sh[i].sh_name, ".dynstr"))
			v->dynstr = (const char *)(base + v->sh[i].sh_offset);
	}
	CHECK(v->dynsym != NULL && v->dynstr != NULL);
	CHECK_EQ(v->dynsym->sh_entsize, sizeof(Elf64_Sym));
	CHECK(v->dynsym->sh_link < v->shnum);
	CHECK_EQ(base + v->sh[v->dynsym->sh_link].sh_offset, (uintptr_t)v->dynstr);
	return true;
}

/* A defined function of .dynsym, in an executable section: base + st_value, or NULL. */
static void *vdso_sections_lookup(const struct vdso_sections *v, const char *name)
{
	const Elf64_Sym *sym = (const Elf64_Sym *)(v->base + v->dynsym->sh_offset);
	for (size_t i = v->dynsym->sh_info; i < v->dynsym->sh_size / v->dynsym->sh_entsize; i++) {
		const Elf64_Sym *s = &sym[i];
		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || s->st_shndx >= v->shnum ||
		    !(v->sh[s->st_shndx].sh_flags & SHF_EXECINSTR))
			continue;
		if (!strcmp(v->dynstr + s->st_name, name))
			return (void *)(v->base + s->st_value);
	}
	return NULL;
}

typedef int (*vdso_enter_fn)(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int leaf,
			     unsigned long r8, unsigned long r9, struct sgx_enclave_run *run);
static vdso_enter_fn vdso_enter;

static bool find_vdso_enter(void)
{
	struct vdso v;
	if (!vdso_open(getauxval(AT_SYSINFO_EHDR), &v))
		return false;
	void *a = lookup_gnu(&v, "__vdso_sgx_enter_enclave", "LINUX_2.6");
	void *b = lookup_sysv(&v, "__vdso_sgx_enter_enclave", "LINUX_2.6");
	CHECK(a != NULL);
	CHECK(a == b);
	vdso_enter = (vdso_enter_fn)a;
	return true;
}

/*
 * The vDSO entry keeps only RBX, RBP and RSP: a wrapper saves the other
 * callee-saved registers for C, as Linux's selftests do.
 */
int host_vdso_call(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int leaf, unsigned long r8,
		   unsigned long r9, struct sgx_enclave_run *run, vdso_enter_fn fn);
__asm__(".text\n"
	".globl host_vdso_call\n"
	".type host_vdso_call, @function\n"
	"host_vdso_call:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	push %rbx\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	pushq 16(%rbp)\n"
	"	call *24(%rbp)\n"
	"	add $8, %rsp\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbx\n"
	"	pop %rbp\n"
	"	ret\n"
	".size host_vdso_call, . - host_vdso_call\n");

/* ---- the enclave image --------------------------------------------------------------------- */

struct page {
	uint64_t offset;
	uint64_t flags; /* SECINFO.FLAGS */
	uint8_t *data;	/* 4 KiB, page aligned */
};

struct enclave {
	int fd;
	uintptr_t base;
	void *area; /* the reservation */
	struct page pages[128];
	unsigned npages;
	uint8_t sigstruct[1808];
	uintptr_t tcs[N_SLOTS];
	struct {
		uint64_t offset, len;
		int prot;
	} segs[8];
	unsigned nsegs;
};

static uint8_t *page_alloc(void)
{
	uint8_t *p = aligned_alloc(PAGE, PAGE);
	if (p)
		memset(p, 0, PAGE);
	return p;
}

static bool add_page(struct enclave *e, uint64_t offset, uint64_t flags, uint8_t *data)
{
	CHECK(e->npages < sizeof(e->pages) / sizeof(e->pages[0]));
	CHECK(data != NULL);
	e->pages[e->npages++] = (struct page){.offset = offset, .flags = flags, .data = data};
	return true;
}

static bool load_image(struct enclave *e)
{
	FILE *f = fopen(enclave_path, "rb");
	CHECK(f != NULL);
	static uint8_t file[1 << 20];
	size_t n = fread(file, 1, sizeof(file), f);
	fclose(f);
	CHECK(n > sizeof(Elf64_Ehdr));
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)file;
	CHECK(!memcmp(eh->e_ident, ELFMAG, SELFMAG));
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(file + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !ph[i].p_memsz)
			continue;
		uint64_t start = ph[i].p_vaddr & ~(PAGE - 1),
			 end = (ph[i].p_vaddr + ph[i].p_memsz + PAGE - 1) & ~(PAGE - 1);
		uint64_t flags = SI_REG | ((ph[i].p_flags & PF_R) ? SI_R : 0) | ((ph[i].p_flags & PF_W) ? SI_W : 0) |
				 ((ph[i].p_flags & PF_X) ? SI_X : 0);
		int prot = ((ph[i].p_flags & PF_R) ? PROT_READ : 0) | ((ph[i].p_flags & PF_W) ? PROT_WRITE : 0) |
			   ((ph[i].p_flags & PF_X) ? PROT_EXEC : 0);
		CHECK(e->nsegs < 8);
		e->segs[e->nsegs++] = (typeof(e->segs[0])){start, end - start, prot};
		for (uint64_t p = start; p < end; p += PAGE) {
			uint8_t *d = page_alloc();
			/* The file bytes of this page: [vaddr, vaddr + filesz) intersected with it. */
			uint64_t lo = ph[i].p_vaddr > p ? ph[i].p_vaddr : p;
			uint64_t hi =
			    ph[i].p_vaddr + ph[i].p_filesz < p + PAGE ? ph[i].p_vaddr + ph[i].p_filesz : p + PAGE;
			if (d && lo < hi) {
				CHECK(ph[i].p_offset + (hi - ph[i].p_vaddr) <= n);
				memcpy(d + (lo - p), file + ph[i].p_offset + (lo - ph[i].p_vaddr), hi - lo);
			}
			if (!add_page(e, p, flags, d))
				return false;
		}
	}
	CHECK(e->npages > 0);
	/* The thread slots. */
	for (unsigned s = 0; s < N_SLOTS; s++) {
		uint64_t slot = SLOT_BASE + s * SLOT_SIZE;
		if (s < N_STATIC_TCS) {
			uint8_t *t = page_alloc();
			CHECK(t != NULL);
			uint64_t ossa = slot + SLOT_SSA, oentry = eh->e_entry, ofs = slot + SLOT_TD;
			uint32_t nssa = NSSA, limit = 0xFFF;
			memcpy(t + 16, &ossa, 8);
			memcpy(t + 28, &nssa, 4);
			memcpy(t + 32, &oentry, 8);
			memcpy(t + 48, &ofs, 8);
			memcpy(t + 56, &ofs, 8);
			memcpy(t + 64, &limit, 4);
			memcpy(t + 68, &limit, 4);
			if (!add_page(e, slot + SLOT_TCS, SI_TCS, t))
				return false;
		}
		for (uint64_t o = SLOT_SSA; o < SLOT_STACK1; o += PAGE) {
			uint8_t *d = page_alloc();
			if (d && o == SLOT_TD) {
				uint64_t td[TD_SIZE / 8] = {0};
				td[TD_STACK / 8] = slot + SLOT_STACK0;
				td[TD_STACK / 8 + 1] = slot + SLOT_STACK1;
				td[TD_SSA / 8] = slot + SLOT_SSA;
				memcpy(d, td, sizeof(td));
			}
			if (!add_page(e, slot + o, SI_REG | SI_R | SI_W, d))
				return false;
		}
	}
	return true;
}

/* ---- measurement and signature -------------------------------------------------------------- */

static void block(EVP_MD_CTX *md, const char *tag, uint64_t a, uint64_t b, unsigned bsize)
{
	uint8_t blk[64] = {0};
	memcpy(blk, tag, strlen(tag));
	memcpy(blk + 8, &a, bsize == 4 ? 4 : 8);
	if (bsize == 4)
		memcpy(blk + 12, &b, 8);
	else
		memcpy(blk + 16, &b, 8);
	EVP_DigestUpdate(md, blk, 64);
}

static bool measure(const struct enclave *e, uint8_t mrenclave[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	CHECK(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
	block(md, "ECREATE", 1, ENCL_SIZE, 4);
	for (unsigned i = 0; i < e->npages; i++) {
		uint64_t flags = e->pages[i].flags; /* a TCS is measured with R=W=X=0: it has none */
		block(md, "EADD", e->pages[i].offset, flags, 8);
		for (unsigned c = 0; c < 16; c++) {
			uint8_t hdr[64] = {0};
			uint64_t off = e->pages[i].offset + c * 256;
			memcpy(hdr, "EEXTEND", 7);
			memcpy(hdr + 8, &off, 8);
			EVP_DigestUpdate(md, hdr, 64);
			EVP_DigestUpdate(md, e->pages[i].data + c * 256, 256);
		}
	}
	unsigned len = 0;
	CHECK(EVP_DigestFinal_ex(md, mrenclave, &len) == 1 && len == 32);
	EVP_MD_CTX_free(md);
	return true;
}

static void reverse(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		uint8_t t = p[i];
		p[i] = p[n - 1 - i];
		p[n - 1 - i] = t;
	}
}

static bool sign(struct enclave *e, const uint8_t mrenclave[32])
{
	static const uint8_t header[16] = {6, 0, 0, 0, 0xE1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
	static const uint8_t header2[16] = {1, 1, 0, 0, 0x60, 0, 0, 0, 0x60, 0, 0, 0, 1, 0, 0, 0};
	uint8_t *s = e->sigstruct;
	memset(s, 0, sizeof(e->sigstruct));
	memcpy(s, header, 16);
	uint32_t date = 0x20250101, exponent = 3, misc = 1, miscmask = 0xFFFFFFFF;
	memcpy(s + 20, &date, 4);
	memcpy(s + 24, header2, 16);
	memcpy(s + 512, &exponent, 4);
	memcpy(s + 900, &misc, 4);
	memcpy(s + 904, &miscmask, 4);
	uint64_t attr[2] = {0x4 /* MODE64BIT */, 3 /* x87, SSE */}, mask[2] = {~0ULL, ~0ULL};
	memcpy(s + 928, attr, 16);
	memcpy(s + 944, mask, 16);
	memcpy(s + 960, mrenclave, 32);

	FILE *f = fopen(key_path, "r");
	CHECK(f != NULL);
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	CHECK(key != NULL);
	BIGNUM *n = NULL;
	CHECK(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
	CHECK(BN_num_bytes(n) == 384);
	BN_bn2lebinpad(n, s + 128, 384);

	uint8_t msg[256], digest[32], sig[384];
	memcpy(msg, s, 128);
	memcpy(msg + 128, s + 900, 128);
	unsigned dlen = 0;
	CHECK(EVP_Digest(msg, sizeof(msg), digest, &dlen, EVP_sha256(), NULL) == 1);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	size_t slen = sizeof(sig);
	CHECK(ctx && EVP_PKEY_sign_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	      EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
	      EVP_PKEY_sign(ctx, sig, &slen, digest, sizeof(digest)) == 1 && slen == 384);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);

	/* Q1 = floor(S^2 / N), Q2 = floor((S^3 - Q1 * S * N) / N). */
	BN_CTX *bc = BN_CTX_new();
	BIGNUM *S = BN_bin2bn(sig, 384, NULL), *t = BN_new(), *q1 = BN_new(), *q2 = BN_new(), *r = BN_new();
	CHECK(bc && S && t && q1 && q2 && r);
	CHECK(BN_sqr(t, S, bc) && BN_div(q1, NULL, t, n, bc));
	CHECK(BN_mul(t, t, S, bc));			    /* S^3 */
	CHECK(BN_mul(r, q1, S, bc) && BN_mul(r, r, n, bc)); /* Q1*S*N */
	CHECK(BN_sub(t, t, r) && BN_div(q2, NULL, t, n, bc));
	BN_bn2lebinpad(q1, s + 1040, 384);
	BN_bn2lebinpad(q2, s + 1424, 384);
	reverse(sig, 384);
	memcpy(s + 516, sig, 384);
	BN_free(S);
	BN_free(t);
	BN_free(q1);
	BN_free(q2);
	BN_free(r);
	BN_free(n);
	BN_CTX_free(bc);
	return true;
}

/* ---- building --------------------------------------------------------------------------------- */

static bool build(struct enclave *e, int open_flags)
{
	memset(e, 0, sizeof(*e));
	if (!find_vdso_enter() || !load_image(e))
		return false;
	struct stat st;
	CHECK(stat("/dev/sgx_enclave", &st) == 0 && S_ISCHR(st.st_mode));
	e->fd = open("/dev/sgx_enclave", open_flags);
	CHECK(e->fd >= 0);

	/* Reserve twice the size before CREATE, as runtimes do, and take the aligned half. */
	e->area = mmap(NULL, 2 * ENCL_SIZE, PROT_NONE, MAP_SHARED, e->fd, 0);
	CHECK(e->area != MAP_FAILED);
	e->base = ((uintptr_t)e->area + ENCL_SIZE - 1) & ~((uintptr_t)ENCL_SIZE - 1);

	uint8_t *secs = page_alloc();
	CHECK(secs != NULL);
	uint64_t size = ENCL_SIZE, base = e->base, attr[2] = {0x4, 3};
	uint32_t ssaframesize = 1, misc = 1;
	memcpy(secs, &size, 8);
	memcpy(secs + 8, &base, 8);
	memcpy(secs + 16, &ssaframesize, 4);
	memcpy(secs + 20, &misc, 4);
	memcpy(secs + 48, attr, 16);
	struct sgx_enclave_create create = {.src = (uintptr_t)secs};
	CHECK(ioctl(e->fd, SGX_IOC_ENCLAVE_CREATE, &create) == 0);
	free(secs);

	static uint64_t secinfo[8] __attribute__((aligned(64)));
	for (unsigned i = 0; i < e->npages; i++) {
		memset(secinfo, 0, sizeof(secinfo));
		secinfo[0] = e->pages[i].flags;
		struct sgx_enclave_add_pages add = {.src = (uintptr_t)e->pages[i].data,
						    .offset = e->pages[i].offset,
						    .length = PAGE,
						    .secinfo = (uintptr_t)secinfo,
						    .flags = SGX_PAGE_MEASURE};
		CHECK(ioctl(e->fd, SGX_IOC_ENCLAVE_ADD_PAGES, &add) == 0);
		CHECK_EQ(add.count, PAGE);
	}
	uint8_t mr[32];
	if (!measure(e, mr) || !sign(e, mr))
		return false;
	struct sgx_enclave_init init = {.sigstruct = (uintptr_t)e->sigstruct};
	CHECK(ioctl(e->fd, SGX_IOC_ENCLAVE_INIT, &init) == 0);

	/* Map the enclave at its addresses, then give back the reservation outside it. */
	for (unsigned i = 0; i < e->nsegs; i++)
		CHECK(mmap((void *)(e->base + e->segs[i].offset), e->segs[i].len, e->segs[i].prot,
			   MAP_SHARED | MAP_FIXED, e->fd, 0) != MAP_FAILED);
	for (unsigned s = 0; s < N_SLOTS; s++) {
		e->tcs[s] = e->base + SLOT_BASE + s * SLOT_SIZE + SLOT_TCS;
		CHECK(mmap((void *)e->tcs[s], SLOT_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, e->fd,
			   0) != MAP_FAILED);
	}
	CHECK(mmap((void *)(e->base + DYN_BASE), DYN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, e->fd, 0) !=
	      MAP_FAILED);
	uintptr_t area = (uintptr_t)e->area;
	if (e->base > area)
		CHECK(munmap(e->area, e->base - area) == 0);
	if (area + 2 * ENCL_SIZE > e->base + ENCL_SIZE)
		CHECK(munmap((void *)(e->base + ENCL_SIZE), area + 2 * ENCL_SIZE - (e->base + ENCL_SIZE)) == 0);
	return true;
}

/* ---- entering ------------------------------------------------------------------------------------ */

struct result {
	long rdi;    /* the enclave's RDI at EEXIT (ENCL_OK / ENCL_BAD) */
	int handled; /* user_handler calls */
};

static int record_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct result *r = (struct result *)(uintptr_t)run->user_data;
	r->handled++;
	r->rdi = run->function == 4 ? rdi : -1;
	return 0;
}

/* EENTER (leaf 2) or ERESUME (3) on tcs; run is filled as the vDSO leaves it. */
static int enter(uintptr_t tcs, unsigned leaf, unsigned long op, struct call *c, struct sgx_enclave_run *run,
		 struct result *res)
{
	memset(run, 0, sizeof(*run));
	memset(res, 0, sizeof(*res));
	run->tcs = tcs;
	run->user_handler = (uintptr_t)record_handler;
	run->user_data = (uintptr_t)res;
	return host_vdso_call(op, (uintptr_t)c, 0, leaf, 0, 0, run, vdso_enter);
}

/* An ECALL that must end in EEXIT with ENCL_OK. */
#define ECALL(tcs, op, c)                                                                                              \
	do {                                                                                                           \
		struct sgx_enclave_run run_;                                                                           \
		struct result res_;                                                                                    \
		CHECK_EQ(enter(tcs, 2, op, c, &run_, &res_), 0);                                                       \
		CHECK_EQ(run_.function, 4);                                                                            \
		CHECK_EQ(res_.rdi, ENCL_OK);                                                                           \
	} while (0)

/* An ECALL that must stop with an exception: vector, error code, address as the vDSO reports them. */
#define ECALL_FAULT(tcs, leaf, op, c, vec, err, addr)                                                                  \
	do {                                                                                                           \
		struct sgx_enclave_run run_;                                                                           \
		struct result res_;                                                                                    \
		CHECK_EQ(enter(tcs, leaf, op, c, &run_, &res_), 0);                                                    \
		CHECK_EQ(run_.function, 3);                                                                            \
		CHECK_EQ(run_.exception_vector, vec);                                                                  \
		CHECK_EQ(run_.exception_error_code, err);                                                              \
		CHECK_EQ(run_.exception_addr, addr);                                                                   \
		CHECK_EQ(res_.handled, 1);                                                                             \
	} while (0)

/*
 * Exceptions the host fixes, the way the vDSO intends it: the user_handler
 * runs inside the vDSO call that entered, so the enclave's final EEXIT
 * finds that call's stack frame again.  It records the exception, runs a
 * fix (a nested entry of the enclave's exception handler, an mprotect, an
 * mmap) and returns ERESUME.
 */
typedef bool (*fix_fn)(struct sgx_enclave_run *run, void *arg);

struct flow {
	fix_fn fix;
	void *arg;
	int exceptions, exits;
	long rdi;
	uint32_t function;
	uint16_t vector, error;
	uint64_t addr;
	bool fix_failed;
};

static int flow_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct flow *f = (struct flow *)(uintptr_t)run->user_data;
	if (run->function == 4) {
		f->exits++;
		f->rdi = rdi;
		return 0;
	}
	if (f->exceptions++)
		return -1;
	f->function = run->function;
	f->vector = run->exception_vector;
	f->error = run->exception_error_code;
	f->addr = run->exception_addr;
	if (!f->fix || !f->fix(run, f->arg)) {
		f->fix_failed = true;
		return -2;
	}
	return 3; /* ERESUME */
}

/* An ECALL that meets one exception (vector, error code, address), fixed by fix(run, arg), then EEXITs. */
#define ECALL_FIX(tcs_, op, c, vec, err, address, fixfn, fixarg)                                                       \
	do {                                                                                                           \
		struct flow fl_ = {.fix = fixfn, .arg = fixarg};                                                       \
		struct sgx_enclave_run run_;                                                                           \
		memset(&run_, 0, sizeof(run_));                                                                        \
		run_.tcs = (tcs_);                                                                                     \
		run_.user_handler = (uintptr_t)flow_handler;                                                           \
		run_.user_data = (uintptr_t)&fl_;                                                                      \
		int ret_ = host_vdso_call(op, (uintptr_t)(c), 0, 2, 0, 0, &run_, vdso_enter);                          \
		CHECK(!fl_.fix_failed);                                                                                \
		CHECK_EQ(ret_, 0);                                                                                     \
		CHECK_EQ(fl_.exceptions, 1);                                                                           \
		CHECK_EQ(fl_.function, 3);                                                                             \
		CHECK_EQ(fl_.vector, vec);                                                                             \
		CHECK_EQ(fl_.error, err);                                                                              \
		CHECK_EQ(fl_.addr, address);                                                                           \
		CHECK_EQ(fl_.exits, 1);                                                                                \
		CHECK_EQ(fl_.rdi, ENCL_OK);                                                                            \
		CHECK_EQ(run_.function, 4);                                                                            \
	} while (0)

/* Fixes: the enclave's exception handler (CSSA 1) in a nested entry of the same TCS. */
struct handler_call {
	unsigned long op;
	struct call c;
};

static bool fix_handler(struct sgx_enclave_run *run, void *arg)
{
	struct handler_call *h = arg;
	struct sgx_enclave_run r2;
	struct result res;
	return enter(run->tcs, 2, h->op, &h->c, &r2, &res) == 0 && r2.function == 4 && res.rdi == ENCL_OK;
}

static bool fix_mprotect_rx(struct sgx_enclave_run *run, void *arg)
{
	(void)run;
	return mprotect(arg, PAGE, PROT_READ | PROT_EXEC) == 0;
}

struct remap {
	int fd;
	void *addr;
};

static bool fix_mmap(struct sgx_enclave_run *run, void *arg)
{
	(void)run;
	struct remap *m = arg;
	return mmap(m->addr, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, m->fd, 0) == m->addr;
}

/* ---- scenarios -------------------------------------------------------------------------------------- */

static struct enclave E;

static bool s_build(void)
{
	if (!build(&E, O_RDWR))
		return false;
	for (unsigned s = 0; s < N_STATIC_TCS; s++) {
		struct call c = {.a = 40, .b = s};
		ECALL(E.tcs[s], OP_ECHO, &c);
		CHECK_EQ(c.out[0], 40 + s);
		CHECK_EQ(c.out[1], E.base);
	}
	return true;
}

/* s_build, then _exit with the enclave alive: what no exit handler sees (forked test children leave so). */
static bool s_build_exit(void)
{
	if (!s_build())
		return false;
	printf("ok %s\n", scenario);
	_exit(0);
}

static bool s_exceptions(void)
{
	if (!build(&E, O_RDWR))
		return false;
	uintptr_t t = E.tcs[0];
	/* #UD, reported without a handler: function 3 (after the AEX), vector 6, no error code or address. */
	struct call c = {0};
	ECALL_FAULT(E.tcs[1], 2, OP_UD2, &c, 6, 0, 0);
	/* The same with the enclave's handler skipping the ud2 and ERESUME finishing the call. */
	struct handler_call skip = {.op = H_SKIP, .c = {.a = 2}};
	ECALL_FIX(t, OP_UD2, &c, 6, 0, 0, fix_handler, &skip);
	CHECK_EQ(skip.c.out[0], 0x80000306); /* EXITINFO: VALID, hardware exception, #UD */
	CHECK_EQ(c.out[0], 1);

	/* A write to the read-only page: the page tables refuse it (P|W|U), EXINFO has the full address. */
	uintptr_t ro = 0;
	for (unsigned i = 0; i < E.nsegs; i++)
		if (E.segs[i].prot == PROT_READ)
			ro = E.base + E.segs[i].offset;
	CHECK(ro != 0);
	struct call rd = {.a = ro};
	ECALL(t, OP_LOAD, &rd); /* the page has its PTE now: the write finds it present */
	struct call st = {.a = ro + 0x18, .b = 7};
	struct handler_call skip3 = {.op = H_SKIP, .c = {.a = 3}};
	ECALL_FIX(t, OP_STORE, &st, 14, 0x7, ro, fix_handler, &skip3);
	CHECK_EQ(skip3.c.out[0], 0x8000030e);
	CHECK_EQ(skip3.c.out[1], ro + 0x18);
	CHECK_EQ(skip3.c.out[2], 0x7);
	/* The thread is usable again. */
	struct call e2 = {.a = 1, .b = 2};
	ECALL(t, OP_ECHO, &e2);
	CHECK_EQ(e2.out[0], 3);
	return true;
}

/* user_handler: on the SGX #PF of a PENDING page it runs the enclave's handler, then asks for ERESUME. */
struct lazy {
	int exceptions, exits;
	long exit_rdi;
	uint64_t maddr;
	uint64_t accept;
};

static int lazy_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run)
{
	(void)rsi, (void)rdx, (void)rsp, (void)r8, (void)r9;
	struct lazy *l = (struct lazy *)(uintptr_t)run->user_data;
	if (run->function == 4) {
		l->exits++;
		l->exit_rdi = rdi;
		return 0;
	}
	l->exceptions++;
	if (run->exception_vector != 14 || !(run->exception_error_code & 0x8000) || l->exceptions > 1)
		return -1;
	/* A nested entry: the exception handler (CSSA 1) accepts the page. */
	struct call h = {0};
	struct sgx_enclave_run r2;
	struct result res;
	if (enter(run->tcs, 2, H_ACCEPT, &h, &r2, &res) != 0 || r2.function != 4)
		return -2;
	l->accept = h.out[0];
	l->maddr = h.out[1];
	return 3; /* ERESUME */
}

static bool s_user_handler(void)
{
	if (!build(&E, O_RDWR))
		return false;
	uintptr_t p = E.base + DYN_BASE + 5 * PAGE;
	struct call c = {.a = p + 8, .b = 0x5151};
	struct lazy l = {0};
	struct sgx_enclave_run run;
	memset(&run, 0, sizeof(run));
	run.tcs = E.tcs[1];
	run.user_handler = (uintptr_t)lazy_handler;
	run.user_data = (uintptr_t)&l;
	CHECK_EQ(host_vdso_call(OP_STORE, (uintptr_t)&c, 0, 2, 0, 0, &run, vdso_enter), 0);
	CHECK_EQ(l.exceptions, 1);
	CHECK_EQ(l.accept, 0);
	CHECK_EQ(l.maddr, p + 8);
	CHECK_EQ(l.exits, 1);
	CHECK_EQ(l.exit_rdi, ENCL_OK);
	CHECK_EQ(run.function, 4);
	struct call ld = {.a = p + 8};
	ECALL(E.tcs[1], OP_LOAD, &ld);
	CHECK_EQ(ld.out[0], 0x5151);
	/* A handler's value <= 0 is what the vDSO returns. */
	struct call u = {0};
	struct lazy l2 = {.exceptions = 1};
	run.user_data = (uintptr_t)&l2;
	CHECK_EQ(host_vdso_call(OP_UD2, (uintptr_t)&u, 0, 2, 0, 0, &run, vdso_enter), -1);
	return true;
}

static bool s_eaug_fault(void)
{
	if (!build(&E, O_RDWR))
		return false;
	uintptr_t t = E.tcs[0], p = E.base + DYN_BASE;
	/*
	 * The store EAUGs the page on the #PF; the retried store meets a
	 * PENDING page: SGX #PF.  The enclave's handler accepts the page and
	 * ERESUME completes the store.
	 */
	struct call c = {.a = p + 0x40, .b = 0xfeed};
	struct handler_call acc = {.op = H_ACCEPT};
	ECALL_FIX(t, OP_STORE, &c, 14, 0x8007, p, fix_handler, &acc);
	CHECK_EQ(acc.c.out[0], 0);
	CHECK_EQ(acc.c.out[1], p + 0x40);
	CHECK_EQ(acc.c.out[2], 0x8000030e);
	struct call ld = {.a = p + 0x40};
	ECALL(t, OP_LOAD, &ld);
	CHECK_EQ(ld.out[0], 0xfeed);
	return true;
}

static bool s_eaug_eaccept(void)
{
	if (!build(&E, O_RDWR))
		return false;
	uintptr_t t = E.tcs[0], p = E.base + DYN_BASE + 3 * PAGE;
	/* EACCEPT of a page nobody added: the #PF on it EAUGs it, the EACCEPT is retried and succeeds. */
	struct call a = {.a = p, .b = SI_REG | SI_PENDING | SI_R | SI_W};
	ECALL(t, OP_EACCEPT, &a);
	CHECK_EQ(a.out[0], 0);
	ECALL(t, OP_EACCEPT, &a);
	CHECK_EQ(a.out[0], 19); /* SGX_PAGE_ATTRIBUTES_MISMATCH: no longer pending */
	struct call ld = {.a = p + 16};
	ECALL(t, OP_LOAD, &ld);
	CHECK_EQ(ld.out[0], 0);
	struct call st = {.a = p + 16, .b = 77};
	ECALL(t, OP_STORE, &st);
	ECALL(t, OP_LOAD, &ld);
	CHECK_EQ(ld.out[0], 77);
	return true;
}

static bool s_emodpr(void)
{
	if (!build(&E, O_RDWR))
		return false;
	uintptr_t t = E.tcs[0], p = E.base + DYN_BASE + 7 * PAGE;
	struct call a = {.a = p, .b = SI_REG | SI_PENDING | SI_R | SI_W};
	ECALL(t, OP_EACCEPT, &a);
	CHECK_EQ(a.out[0], 0);
	struct call st = {.a = p, .b = 1};
	ECALL(t, OP_STORE, &st);
	struct sgx_enclave_restrict_permissions rp = {.offset = p - E.base, .length = PAGE, .permissions = SI_R};
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &rp) == 0);
	CHECK_EQ(rp.count, PAGE);
	CHECK_EQ(rp.result, 0);
	struct call acc = {.a = p, .b = SI_REG | SI_PR | SI_R};
	ECALL(t, OP_EACCEPT, &acc);
	CHECK_EQ(acc.out[0], 0);
	struct call ld = {.a = p};
	ECALL(t, OP_LOAD, &ld);
	CHECK_EQ(ld.out[0], 1);
	/* The VMA still allows writing; the EPCM does not: an SGX #PF. */
	struct call w = {.a = p + 8, .b = 2};
	struct handler_call skip = {.op = H_SKIP, .c = {.a = 3}};
	ECALL_FIX(t, OP_STORE, &w, 14, 0x8007, p, fix_handler, &skip);
	CHECK_EQ(skip.c.out[2], 0x8007);
	/* EMODPE gives W back (no OS call needed). */
	struct call pe = {.a = p, .b = SI_R | SI_W};
	ECALL(t, OP_EMODPE, &pe);
	CHECK_EQ(pe.out[0], 0);
	ECALL(t, OP_STORE, &w);
	struct call ld2 = {.a = p + 8};
	ECALL(t, OP_LOAD, &ld2);
	CHECK_EQ(ld2.out[0], 2);
	return true;
}

static bool s_emodt_tcs(void)
{
	if (!build(&E, O_RDWR))
		return false;
	uintptr_t t = E.tcs[0], nt = E.tcs[4];
	uint64_t slot = SLOT_BASE + 4 * SLOT_SIZE;
	struct call a = {.a = nt, .b = SI_REG | SI_PENDING | SI_R | SI_W};
	ECALL(t, OP_EACCEPT, &a);
	CHECK_EQ(a.out[0], 0);
	struct call init = {.a = nt, .b = slot + SLOT_SSA, .c = slot + SLOT_TD};
	ECALL(t, OP_TCS_INIT, &init);
	struct sgx_enclave_modify_types mt = {.offset = nt - E.base, .length = PAGE, .page_type = 1 /* PT_TCS */};
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_MODIFY_TYPES, &mt) == 0);
	CHECK_EQ(mt.count, PAGE);
	CHECK_EQ(mt.result, 0);
	/* Not accepted yet: EENTER on it faults on the TCS itself. */
	struct sgx_enclave_run run;
	struct result res;
	struct call e0 = {0};
	CHECK_EQ(enter(nt, 2, OP_ECHO, &e0, &run, &res), 0);
	CHECK_EQ(run.function, 2);
	CHECK_EQ(run.exception_vector, 14);
	CHECK(run.exception_error_code & 0x8000);
	struct call acc = {.a = nt, .b = SI_TCS | SI_MODIFIED};
	ECALL(t, OP_EACCEPT, &acc);
	CHECK_EQ(acc.out[0], 0);
	struct call e = {.a = 5, .b = 6};
	ECALL(nt, OP_ECHO, &e);
	CHECK_EQ(e.out[0], 11);
	return true;
}

static bool s_trim(void)
{
	if (!build(&E, O_RDWR))
		return false;
	uintptr_t t = E.tcs[0], q = E.base + DYN_BASE + 16 * PAGE;
	struct call a = {.a = q, .b = SI_REG | SI_PENDING | SI_R | SI_W, .c = 4};
	ECALL(t, OP_ACCEPT_RANGE, &a);
	CHECK_EQ(a.out[0], 0);
	CHECK_EQ(a.out[1], 4);
	struct call st = {.a = q + PAGE, .b = 99};
	ECALL(t, OP_STORE, &st);
	struct sgx_enclave_modify_types mt = {.offset = q - E.base, .length = 4 * PAGE, .page_type = 4 /* PT_TRIM */};
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_MODIFY_TYPES, &mt) == 0);
	CHECK_EQ(mt.count, 4 * PAGE);
	/* Not accepted by the enclave yet: the driver refuses. */
	struct sgx_enclave_remove_pages rm = {.offset = q - E.base, .length = 4 * PAGE};
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rm) == -1 && errno == EPERM);
	CHECK_EQ(rm.count, 0);
	struct call acc = {.a = q, .b = SI_TRIM | SI_MODIFIED, .c = 4};
	ECALL(t, OP_ACCEPT_RANGE, &acc);
	CHECK_EQ(acc.out[0], 0);
	CHECK_EQ(acc.out[1], 4);
	rm.count = 0;
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rm) == 0);
	CHECK_EQ(rm.count, 4 * PAGE);
	/* The address can be used again: a fresh zero page. */
	struct call again = {.a = q + PAGE, .b = SI_REG | SI_PENDING | SI_R | SI_W};
	ECALL(t, OP_EACCEPT, &again);
	CHECK_EQ(again.out[0], 0);
	struct call ld = {.a = q + PAGE};
	ECALL(t, OP_LOAD, &ld);
	CHECK_EQ(ld.out[0], 0);
	return true;
}

static bool s_eacceptcopy(void)
{
	if (!build(&E, O_RDWR))
		return false;
	uintptr_t t = E.tcs[0], src = E.base + DYN_BASE + 32 * PAGE, dst = src + PAGE;
	struct call a = {.a = src, .b = SI_REG | SI_PENDING | SI_R | SI_W};
	ECALL(t, OP_EACCEPT, &a);
	CHECK_EQ(a.out[0], 0);
	struct call code = {.a = src, .b = 0x1234abcd};
	ECALL(t, OP_WRITE_CODE, &code);
	struct call cp = {.a = dst, .b = SI_REG | SI_R | SI_X, .c = src};
	ECALL(t, OP_EACCEPTCOPY, &cp);
	CHECK_EQ(cp.out[0], 0);
	/* The mapping is not executable yet: an ordinary #PF on the fetch (P|U|I, no SGX bit). */
	struct call call = {.a = dst};
	ECALL_FIX(t, OP_CALL, &call, 14, 0x15, dst, fix_mprotect_rx, (void *)dst);
	CHECK_EQ(call.out[0], 0x1234abcd);
	/* Now it runs at once. */
	ECALL(t, OP_CALL, &call);
	CHECK_EQ(call.out[0], 0x1234abcd);
	return true;
}

struct thr {
	uintptr_t tcs, page;
	bool ok;
};

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	t->ok = false;
	for (int i = 0; i < 100; i++) {
		struct call c = {.b = 10};
		struct sgx_enclave_run run;
		struct result res;
		if (enter(t->tcs, 2, OP_INC, &c, &run, &res) != 0 || run.function != 4 || res.rdi != ENCL_OK)
			return NULL;
	}
	struct call a = {.a = t->page, .b = SI_REG | SI_PENDING | SI_R | SI_W};
	struct sgx_enclave_run run;
	struct result res;
	if (enter(t->tcs, 2, OP_EACCEPT, &a, &run, &res) != 0 || run.function != 4 || a.out[0] != 0)
		return NULL;
	t->ok = true;
	return NULL;
}

static bool s_threads(void)
{
	if (!build(&E, O_RDWR))
		return false;
	pthread_t th[N_STATIC_TCS];
	struct thr t[N_STATIC_TCS];
	for (unsigned i = 0; i < N_STATIC_TCS; i++) {
		t[i] = (struct thr){.tcs = E.tcs[i], .page = E.base + DYN_BASE + (40 + i) * PAGE};
		CHECK(pthread_create(&th[i], NULL, thread_main, &t[i]) == 0);
	}
	for (unsigned i = 0; i < N_STATIC_TCS; i++) {
		CHECK(pthread_join(th[i], NULL) == 0);
		CHECK(t[i].ok);
	}
	struct call c = {.b = 0};
	ECALL(E.tcs[0], OP_INC, &c);
	CHECK_EQ(c.out[0], N_STATIC_TCS * 100 * 10);
	return true;
}

/* More pages than the EPC holds (the EPC size is set by the test): everything comes back intact. */
static bool s_small_epc(const char *arg)
{
	unsigned long pages = arg ? strtoul(arg, NULL, 0) : 256;
	CHECK(pages > 0 && pages <= DYN_SIZE / PAGE);
	if (!build(&E, O_RDWR))
		return false;
	struct call f = {.a = E.base + DYN_BASE, .b = pages, .c = (0x5eedULL << 8) | 1};
	ECALL(E.tcs[0], OP_FILL, &f);
	struct call c = {.a = E.base + DYN_BASE, .b = pages, .c = 0x5eedULL << 8};
	ECALL(E.tcs[0], OP_CHECK, &c);
	CHECK_EQ(c.out[0], 0);
	/* Twice: pages evicted during the check come back again. */
	ECALL(E.tcs[1], OP_CHECK, &c);
	CHECK_EQ(c.out[0], 0);
	return true;
}

static sigjmp_buf jb;
static volatile sig_atomic_t got;
static void *volatile fault_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	got++;
	fault_addr = si->si_addr;
	siglongjmp(jb, 1);
}

static bool s_fork(void)
{
	if (!build(&E, O_RDWR))
		return false;
	struct call c = {.a = 1, .b = 1};
	ECALL(E.tcs[0], OP_ECHO, &c);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		scenario = "fork (child)";
		/* 1. The parent's enclave memory is not mapped here: a fault. */
		struct sigaction sa = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO};
		if (sigaction(SIGSEGV, &sa, NULL) != 0)
			_exit(10);
		got = 0;
		if (!sigsetjmp(jb, 1)) {
			volatile uint64_t v = *(volatile uint64_t *)E.base;
			(void)v;
		}
		if (got != 1 || fault_addr != (void *)E.base)
			_exit(11);
		/* 2. The inherited fd does not reach the parent's enclave. */
		struct sgx_enclave_remove_pages rm = {.offset = DYN_BASE, .length = PAGE};
		if (ioctl(E.fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rm) != -1 || errno != ENODEV)
			_exit(12);
		/* 3. Entering faults on the TCS, as the vDSO reports a fault of EENTER itself. */
		struct sgx_enclave_run run;
		struct result res;
		struct call e = {0};
		if (enter(E.tcs[0], 2, OP_ECHO, &e, &run, &res) != 0 || run.function != 2 ||
		    run.exception_vector != 14 || run.exception_addr != E.tcs[0])
			_exit(13);
		/* 4. No new enclave in this process. */
		if (open("/dev/sgx_enclave", O_RDWR) != -1 || errno != ENODEV)
			_exit(14);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	/* The parent's enclave is untouched. */
	struct call c2 = {.a = 2, .b = 3};
	ECALL(E.tcs[0], OP_ECHO, &c2);
	CHECK_EQ(c2.out[0], 5);
	return true;
}

static volatile sig_atomic_t h1_count, h2_count, ill_count;
static volatile int masked_ok;

static void h1(int sig)
{
	(void)sig;
	h1_count++;
	sigset_t cur;
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	masked_ok = sigismember(&cur, SIGSEGV) && sigismember(&cur, SIGUSR1);
	siglongjmp(jb, 1);
}

static void h2(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	h2_count++;
	fault_addr = si->si_addr;
	siglongjmp(jb, 1);
}

static void on_ill(int sig)
{
	(void)sig;
	ill_count++;
	siglongjmp(jb, 1);
}

static bool touch(volatile char *p)
{
	if (!sigsetjmp(jb, 1)) {
		*p = 1;
		return false;
	}
	return true;
}

static bool s_sigsegv(void)
{
	volatile char *guard = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(guard != MAP_FAILED);
	/* 1. Before any enclave: the program's handler, its sa_mask applied. */
	struct sigaction sa = {.sa_handler = h1};
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	CHECK(touch(guard));
	CHECK_EQ(h1_count, 1);
	/* 2. After the emulator started, the same. */
	if (!build(&E, O_RDWR))
		return false;
	struct sigaction old;
	CHECK(sigaction(SIGSEGV, NULL, &old) == 0);
	CHECK(old.sa_handler == h1);
	masked_ok = 0;
	CHECK(touch(guard));
	CHECK_EQ(h1_count, 2);
	CHECK(masked_ok);
	/* 3. A new handler installed now gets the program's faults, with siginfo. */
	struct sigaction sb = {.sa_sigaction = h2, .sa_flags = SA_SIGINFO};
	CHECK(sigaction(SIGSEGV, &sb, &old) == 0);
	CHECK(old.sa_handler == h1);
	CHECK(touch(guard + 5));
	CHECK_EQ(h2_count, 1);
	CHECK(fault_addr == (void *)(guard + 5));
	/* 4. The enclave's faults never reach it. */
	uintptr_t ro = 0;
	for (unsigned i = 0; i < E.nsegs; i++)
		if (E.segs[i].prot == PROT_READ)
			ro = E.base + E.segs[i].offset;
	struct call rd = {.a = ro};
	ECALL(E.tcs[0], OP_LOAD, &rd);
	struct call st = {.a = ro, .b = 1};
	ECALL_FAULT(E.tcs[0], 2, OP_STORE, &st, 14, 0x7, ro);
	struct call u = {0};
	ECALL_FAULT(E.tcs[1], 2, OP_UD2, &u, 6, 0, 0);
	struct call p = {.a = E.base + DYN_BASE + 50 * PAGE, .b = 1};
	ECALL_FAULT(E.tcs[2], 2, OP_STORE, &p, 14, 0x8007, E.base + DYN_BASE + 50 * PAGE);
	CHECK_EQ(h2_count, 1);
	CHECK_EQ(h1_count, 2);
	/* 5. The program's SIGILL handler gets its own ud2 (exec's SIGILL handler is in front). */
	CHECK(signal(SIGILL, on_ill) != SIG_ERR);
	if (!sigsetjmp(jb, 1))
		__asm__ volatile("ud2");
	CHECK_EQ(ill_count, 1);
	/* 6. SA_RESETHAND: the next fault would take the default action again. */
	struct sigaction sr = {.sa_sigaction = h2, .sa_flags = SA_SIGINFO | SA_RESETHAND};
	CHECK(sigaction(SIGSEGV, &sr, NULL) == 0);
	CHECK(touch(guard));
	CHECK_EQ(h2_count, 2);
	CHECK(sigaction(SIGSEGV, NULL, &old) == 0);
	CHECK(old.sa_handler == SIG_DFL);
	return true;
}

static bool s_vdso(void)
{
	struct vdso v;
	CHECK(vdso_open(getauxval(AT_SYSINFO_EHDR), &v));
	CHECK(lookup_gnu(&v, "__vdso_sgx_enter_enclave", "LINUX_2.6") != NULL);
	CHECK(lookup_gnu(&v, "__vdso_sgx_enter_enclave", "LINUX_2.5") == NULL);
	CHECK(lookup_gnu(&v, "__vdso_no_such_function", "LINUX_2.6") == NULL);
	/* The real vDSO's functions are there and work. */
	int (*gettime)(clockid_t, struct timespec *) =
	    (int (*)(clockid_t, struct timespec *))lookup_gnu(&v, "__vdso_clock_gettime", "LINUX_2.6");
	CHECK(gettime != NULL);
	CHECK((void *)gettime == lookup_sysv(&v, "__vdso_clock_gettime", "LINUX_2.6"));
	struct timespec a, b;
	CHECK(gettime(CLOCK_MONOTONIC, &a) == 0);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &b) == 0);
	CHECK(b.tv_sec - a.tv_sec < 5 && b.tv_sec >= a.tv_sec);
	/* The section headers describe the same tables: a parser of them alone finds the same functions. */
	unsigned long want = getauxval(AT_SYSINFO_EHDR);
	struct vdso_sections vs;
	CHECK(vdso_sections_open(want, &vs));
	CHECK((const Elf64_Sym *)(want + vs.dynsym->sh_offset) == v.sym);
	CHECK(vs.dynstr == v.str);
	void *enter_sh = vdso_sections_lookup(&vs, "__vdso_sgx_enter_enclave");
	CHECK(enter_sh != NULL);
	CHECK(enter_sh == lookup_gnu(&v, "__vdso_sgx_enter_enclave", "LINUX_2.6"));
	CHECK(vdso_sections_lookup(&vs, "__vdso_clock_gettime") == (void *)gettime);
	CHECK(vdso_sections_lookup(&vs, "__vdso_no_such_function") == NULL);
	/* /proc/self/auxv and the vector after environ agree with getauxval. */
	int fd = open("/proc/self/auxv", O_RDONLY);
	CHECK(fd >= 0);
	Elf64_auxv_t av[64];
	ssize_t n = read(fd, av, sizeof(av));
	close(fd);
	CHECK(n > 0);
	unsigned long got_file = 0;
	for (ssize_t i = 0; i < n / (ssize_t)sizeof(av[0]); i++)
		if (av[i].a_type == AT_SYSINFO_EHDR)
			got_file = av[i].a_un.a_val;
	CHECK_EQ(got_file, want);
	FILE *f = fopen("/proc/self/auxv", "r");
	CHECK(f != NULL);
	size_t m = fread(av, 1, sizeof(av), f);
	fclose(f);
	unsigned long got_fopen = 0;
	for (size_t i = 0; i < m / sizeof(av[0]); i++)
		if (av[i].a_type == AT_SYSINFO_EHDR)
			got_fopen = av[i].a_un.a_val;
	CHECK_EQ(got_fopen, want);
	extern char **environ;
	char **e = environ;
	while (*e)
		e++;
	unsigned long got_stack = 0;
	for (Elf64_auxv_t *x = (Elf64_auxv_t *)(e + 1); x->a_type != AT_NULL; x++)
		if (x->a_type == AT_SYSINFO_EHDR)
			got_stack = x->a_un.a_val;
	CHECK_EQ(got_stack, want);
	return true;
}

#ifdef AUXV_CTOR
/* auxv_ctor.c, initialised before the preload library: what its constructor saw. */
extern unsigned long auxv_ctor_ehdr, auxv_ctor_stack_ehdr;

static bool s_auxv_ctor(void)
{
	unsigned long want = getauxval(AT_SYSINFO_EHDR);
	/* The vector still named the real vDSO then: the constructor ran before the image existed. */
	CHECK(auxv_ctor_stack_ehdr != 0);
	CHECK(auxv_ctor_stack_ehdr != want);
	/* Yet getauxval gave it the image main gets, the one with __vdso_sgx_enter_enclave. */
	CHECK_EQ(auxv_ctor_ehdr, want);
	struct vdso v;
	CHECK(vdso_open(auxv_ctor_ehdr, &v));
	CHECK(lookup_gnu(&v, "__vdso_sgx_enter_enclave", "LINUX_2.6") != NULL);
	struct vdso_sections vs;
	CHECK(vdso_sections_open(auxv_ctor_ehdr, &vs));
	CHECK(vdso_sections_lookup(&vs, "__vdso_sgx_enter_enclave") != NULL);
	return true;
}
#endif

static bool s_device(void)
{
	struct stat st;
	CHECK(stat("/dev/sgx_enclave", &st) == 0);
	CHECK(S_ISCHR(st.st_mode));
	CHECK_EQ(major(st.st_rdev), 10);
	CHECK(lstat("/dev/sgx/enclave", &st) == 0 && S_ISCHR(st.st_mode));
	CHECK(stat("/dev/sgx_provision", &st) == 0 && S_ISCHR(st.st_mode));
	CHECK(access("/dev/sgx_enclave", R_OK | W_OK) == 0);
	CHECK(faccessat(AT_FDCWD, "/dev/sgx_provision", R_OK, 0) == 0);
	struct statx sx;
	CHECK(statx(AT_FDCWD, "/dev/sgx_enclave", 0, STATX_BASIC_STATS, &sx) == 0);
	CHECK(S_ISCHR(sx.stx_mode));
	CHECK_EQ(sx.stx_rdev_major, 10);

	int fd = open("/dev/sgx_enclave", O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(fcntl(fd, F_GETFD), 0);
	CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	CHECK(fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(10, 125));
	CHECK(fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISCHR(st.st_mode));
	int fc = open("/dev/sgx/enclave", O_RDWR | O_CLOEXEC);
	CHECK(fc >= 0);
	CHECK_EQ(fcntl(fc, F_GETFD), FD_CLOEXEC);
	/* Probing with mmap before CREATE is allowed; MAP_PRIVATE never is. */
	void *probe = mmap(NULL, 2 * ENCL_SIZE, PROT_NONE, MAP_SHARED, fd, 0);
	CHECK(probe != MAP_FAILED);
	CHECK(munmap(probe, 2 * ENCL_SIZE) == 0);
	CHECK(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED && errno == EINVAL);
	/* An ioctl the driver does not have. */
	CHECK(ioctl(fd, _IO(SGX_MAGIC, 0x42), 0) == -1 && errno == ENOTTY);
	/* The provision device is a capability for PROVISION. */
	int prov = open("/dev/sgx_provision", O_RDONLY);
	CHECK(prov >= 0);
	int provdup = dup(prov);
	CHECK(provdup >= 0);
	struct sgx_enclave_provision pv = {.fd = (uint64_t)provdup};
	CHECK(ioctl(fc, SGX_IOC_ENCLAVE_PROVISION, &pv) == 0);
	pv.fd = (uint64_t)fd;
	CHECK(ioctl(fc, SGX_IOC_ENCLAVE_PROVISION, &pv) == -1 && errno == EINVAL);
	CHECK(close(prov) == 0 && close(provdup) == 0 && close(fc) == 0);
	/* A write-only fd cannot be mapped. */
	int wo = open("/dev/sgx_enclave", O_WRONLY);
	CHECK(wo >= 0);
	CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, wo, 0) == MAP_FAILED && errno == EACCES);
	CHECK(close(wo) == 0);
	CHECK(close(fd) == 0);
	CHECK(close(fd) == -1 && errno == EBADF);

	/* A dup keeps the file alive after the original fd is closed. */
	if (!build(&E, O_RDWR))
		return false;
	int d = dup(E.fd);
	CHECK(d >= 0);
	CHECK(close(E.fd) == 0);
	struct sgx_enclave_remove_pages rm = {.offset = 0, .length = PAGE};
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rm) == -1 && errno == EBADF);
	CHECK(ioctl(d, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rm) == -1 && errno == EPERM); /* reached the driver */
	CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, E.fd, 0) == MAP_FAILED && errno == EBADF);
	CHECK(dup2(d, E.fd) == -1 && errno == EBUSY); /* the closed number still names the file (a message) */
	int d2 = fcntl(d, F_DUPFD_CLOEXEC, 100);
	CHECK(d2 >= 100);
	CHECK(close(d) == 0);
	CHECK(ioctl(d2, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rm) == -1 && errno == EPERM);
	CHECK(close(d2) == 0);
	/* The enclave lives on while mapped. */
	struct call c = {.a = 2, .b = 2};
	ECALL(E.tcs[0], OP_ECHO, &c);
	CHECK_EQ(c.out[0], 4);
	return true;
}

static bool s_errors(void)
{
	if (!build(&E, O_RDWR))
		return false;
	void *dyn = (void *)(E.base + DYN_BASE);
	/* mremap: growing fails as for any VM_DONTEXPAND mapping, moving is not modelled, shrinking works. */
	CHECK(mremap(dyn, DYN_SIZE, DYN_SIZE + PAGE, 0) == MAP_FAILED && errno == EFAULT);
	CHECK(mremap(dyn, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (char *)dyn + DYN_SIZE) == MAP_FAILED &&
	      errno == EINVAL);
	CHECK(mremap(dyn, DYN_SIZE, DYN_SIZE - PAGE, 0) == dyn);
	/* The last page is no longer mapped: EACCEPT there faults (not present, no SGX bit); mapped again, ERESUME
	 * completes it (EAUG on the fault). */
	uintptr_t last = E.base + DYN_BASE + DYN_SIZE - PAGE;
	struct call a = {.a = last, .b = SI_REG | SI_PENDING | SI_R | SI_W};
	struct remap rm = {.fd = E.fd, .addr = (void *)last};
	ECALL_FIX(E.tcs[0], OP_EACCEPT, &a, 14, 0x4, last, fix_mmap, &rm);
	CHECK_EQ(a.out[0], 0);
	/* madvise: hints are accepted, dropping or copying pages is refused as for VM_PFNMAP. */
	CHECK(madvise(dyn, PAGE, MADV_WILLNEED) == 0);
	CHECK(madvise(dyn, PAGE, MADV_DONTNEED) == -1 && errno == EINVAL);
	CHECK(madvise(dyn, PAGE, MADV_DOFORK) == -1 && errno == EINVAL);
	CHECK(madvise(dyn, PAGE, MADV_HUGEPAGE) == -1 && errno == EINVAL);
	/* Unknown ioctl, and reading enclave memory through process_vm_readv. */
	CHECK(ioctl(E.fd, _IOWR(SGX_MAGIC, 0x33, struct sgx_enclave_create), 0) == -1 && errno == ENOTTY);
	uint64_t buf;
	struct iovec local = {.iov_base = &buf, .iov_len = 8}, remote = {.iov_base = (void *)E.base, .iov_len = 8};
	CHECK(process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == -1 && errno == EFAULT);
	/* /proc/self/mem opens (host memory as usual), with a message about enclave memory. */
	int mem = open("/proc/self/mem", O_RDONLY);
	CHECK(mem >= 0);
	CHECK(close(mem) == 0);
	/* Everything still works. */
	struct call c = {.a = 1, .b = 2};
	ECALL(E.tcs[1], OP_ECHO, &c);
	CHECK_EQ(c.out[0], 3);
	/* An anonymous MAP_FIXED mapping replaces the enclave mapping there: mprotect is the host's again. */
	uintptr_t ro = 0;
	for (unsigned i = 0; i < E.nsegs; i++)
		if (E.segs[i].prot == PROT_READ)
			ro = E.base + E.segs[i].offset;
	CHECK(mprotect((void *)ro, PAGE, PROT_READ | PROT_WRITE) == -1 && errno == EACCES); /* EADD'd R page */
	CHECK(mmap((void *)ro, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == (void *)ro);
	CHECK(mprotect((void *)ro, PAGE, PROT_READ | PROT_WRITE) == 0);
	return true;
}

/* Pointers Linux answers with EFAULT: NULL, unmapped, PROT_NONE, kernel, non-canonical, straddling into PROT_NONE. */
static bool bad_pointers(void *out[6])
{
	uint8_t *p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK(munmap(p, PAGE) == 0);
	CHECK(mprotect(p + 2 * PAGE, PAGE, PROT_NONE) == 0);
	out[0] = NULL;
	out[1] = p;
	out[2] = p + 2 * PAGE;
	out[3] = (void *)0xffffffff81000000UL;
	out[4] = (void *)0x1000000000000000UL;
	out[5] = p + 2 * PAGE - 4;
	return true;
}

/*
 * Calls Linux refuses, with its errno and nothing changed: bad pointers
 * for every ioctl (under --trace too), the upper halves of the command and
 * of PROVISION's descriptor, and MAP_FIXED mappings over an enclave
 * mapping that fail.
 */
static bool s_bad_args(void)
{
	if (!build(&E, O_RDWR))
		return false;
	void *bad[6];
	if (!bad_pointers(bad))
		return false;
	static const unsigned long cmds[] = {SGX_IOC_ENCLAVE_CREATE,	   SGX_IOC_ENCLAVE_ADD_PAGES,
					     SGX_IOC_ENCLAVE_PROVISION,	   SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS,
					     SGX_IOC_ENCLAVE_MODIFY_TYPES, SGX_IOC_ENCLAVE_REMOVE_PAGES};
	int fresh = open("/dev/sgx_enclave", O_RDWR);
	CHECK(fresh >= 0);
	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		/* CREATE and ADD_PAGES on a file that can still take them, the others on the built enclave. */
		int fd = c < 2 ? fresh : E.fd;
		if (c == 1) {
			static uint8_t secs[PAGE] __attribute__((aligned(PAGE)));
			uint64_t size = ENCL_SIZE, base = 0x7f0000000000UL, attr[2] = {0x4, 3};
			memcpy(secs, &size, 8);
			memcpy(secs + 8, &base, 8);
			memcpy(secs + 48, attr, 16);
			secs[16] = 1; /* SSAFRAMESIZE */
			struct sgx_enclave_create cr = {.src = (uintptr_t)secs};
			CHECK(ioctl(fresh, SGX_IOC_ENCLAVE_CREATE, &cr) == 0);
		}
		for (int i = 0; i < 6; i++) {
			errno = 0;
			CHECK(ioctl(fd, cmds[c], bad[i]) == -1);
			CHECK_EQ(errno, EFAULT);
		}
	}
	CHECK(close(fresh) == 0);

	/* The command is an unsigned int: its upper half is not looked at.  So is PROVISION's descriptor. */
	int prov = open("/dev/sgx_provision", O_RDONLY);
	CHECK(prov >= 0);
	int provdup = dup(prov);
	CHECK(provdup >= 0);
	unsigned long hi = 0xdead00000000UL;
	struct sgx_enclave_provision pv = {.fd = (uint64_t)provdup | 1ULL << 32};
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_PROVISION | hi, &pv) == 0);
	pv.fd = (uint64_t)E.fd | 1ULL << 32;
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_PROVISION, &pv) == -1 && errno == EINVAL);
	struct sgx_enclave_remove_pages rm = {.offset = 0, .length = PAGE};
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_REMOVE_PAGES | hi, &rm) == -1 && errno == EPERM); /* reached the driver */
	/* The number of a closed fd names no file, even while a dup of it keeps the file open. */
	CHECK(close(prov) == 0);
	pv.fd = (uint64_t)prov;
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_PROVISION, &pv) == -1 && errno == EINVAL);
	pv.fd = (uint64_t)provdup;
	CHECK(ioctl(E.fd, SGX_IOC_ENCLAVE_PROVISION, &pv) == 0);
	CHECK(close(provdup) == 0);

	/* MAP_FIXED over an enclave mapping that Linux refuses leaves the enclave mapping as it was. */
	uintptr_t ro = 0;
	for (unsigned i = 0; i < E.nsegs; i++)
		if (E.segs[i].prot == PROT_READ)
			ro = E.base + E.segs[i].offset;
	CHECK(ro != 0);
	struct call before = {.a = ro};
	ECALL(E.tcs[0], OP_LOAD, &before);
	int null = open("/dev/null", O_RDWR), closed = open("/dev/null", O_RDONLY);
	CHECK(null >= 0 && closed >= 0 && close(closed) == 0);
	void *at = (void *)ro;
	CHECK(mmap(at, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, closed, 0) == MAP_FAILED && errno == EBADF);
	CHECK(mmap(at, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, null, 0) == MAP_FAILED && errno == ENODEV);
	CHECK(mmap(at, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 1) == MAP_FAILED &&
	      errno == EINVAL);
	CHECK(mmap(at, PAGE, PROT_READ, MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED && errno == EINVAL);
	CHECK(mmap((char *)at + 1, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED &&
	      errno == EINVAL);
	CHECK(mmap(at, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_FIXED_NOREPLACE, -1, 0) ==
		  MAP_FAILED &&
	      errno == EEXIST);
	CHECK(close(null) == 0);
	/* Still the enclave's: its ceiling holds (an EADD'd R page), and the enclave reads it. */
	CHECK(mprotect(at, PAGE, PROT_READ | PROT_WRITE) == -1 && errno == EACCES);
	struct call after = {.a = ro};
	ECALL(E.tcs[0], OP_LOAD, &after);
	CHECK_EQ(after.out[0], before.out[0]);
	/* One Linux makes replaces it. */
	CHECK(mmap(at, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == at);
	CHECK(mprotect(at, PAGE, PROT_READ | PROT_WRITE) == 0);
	CHECK_EQ(*(volatile uint64_t *)at, 0);
	return true;
}

static bool s_cpuid(const char *arg)
{
	unsigned a, b, c, d;
	CHECK(__get_cpuid_max(0, NULL) >= 0x12);
	__cpuid_count(7, 0, a, b, c, d);
	CHECK(b & (1u << 2));  /* SGX */
	CHECK(c & (1u << 30)); /* SGX_LC */
	__cpuid_count(0x12, 0, a, b, c, d);
	CHECK_EQ(a & 3, 3); /* SGX1, SGX2 */
	CHECK(b & 1);	    /* MISCSELECT.EXINFO */
	CHECK(((d >> 8) & 0xff) >= 22);
	__cpuid_count(0x12, 1, a, b, c, d);
	CHECK(a & 0x4); /* MODE64BIT allowed */
	CHECK_EQ(c & 3, 3);
	/* EPC sections: their sizes add up to the configured EPC. */
	unsigned long long total = 0;
	for (unsigned s = 2; s < 10; s++) {
		__cpuid_count(0x12, s, a, b, c, d);
		if ((a & 0xf) == 0)
			break;
		CHECK_EQ(a & 0xf, 1);
		total += (c & 0xFFFFF000ULL) + ((unsigned long long)(d & 0xFFFFF) << 32);
	}
	if (arg)
		CHECK_EQ(total, strtoull(arg, NULL, 0));
	CHECK(total > 0);
	return true;
}

/* What <cpuid.h> answers, in cpuid_raw.c's format (the header decides: emulated or the host CPU). */
static bool s_cpuid_print(void)
{
	unsigned a, b, c, d, r12[4] = {0};
	__cpuid_count(7, 0, a, b, c, d);
	(void)a, (void)d;
	if (__get_cpuid_max(0, NULL) >= 0x12)
		__cpuid_count(0x12, 0, r12[0], r12[1], r12[2], r12[3]);
	printf("sgx %u sgx_lc %u leaf12 %#x\n", (b >> 2) & 1, (c >> 30) & 1, r12[0]);
	return true;
}

/* Asking CPUID does not start the emulator: a child forked afterwards still builds its own enclave. */
static bool s_cpuid_then_fork(void)
{
	unsigned a, b, c, d;
	__cpuid_count(0x12, 0, a, b, c, d);
	(void)b, (void)c, (void)d;
	CHECK_EQ(a & 3, 3);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		scenario = "cpuid-then-fork (child)";
		if (!build(&E, O_RDWR))
			_exit(1);
		struct call e = {.a = 3, .b = 4};
		struct sgx_enclave_run run;
		struct result res;
		if (enter(E.tcs[0], 2, OP_ECHO, &e, &run, &res) != 0 || run.function != 4 || e.out[0] != 7)
			_exit(2);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	return true;
}

/* The settings reach a program executed with an empty environment. */
static bool s_exec_settings(const char *arg)
{
	char *argv[] = {(char *)self_path, (char *)enclave_path, (char *)key_path, "cpuid", (char *)arg, NULL};
	char *envp[] = {NULL};
	/* execve in a forked child ... */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execve(self_path, argv, envp);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	/* ... and posix_spawn. */
	CHECK(posix_spawn(&pid, self_path, NULL, NULL, argv, envp) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	return true;
}

/* A device fd that survives execve: the new image knows it is one, and that its enclave stayed behind. */
static bool s_exec_stale(const char *arg)
{
	if (arg) {
		int fd = atoi(arg);
		struct sgx_enclave_create c = {0};
		CHECK(ioctl(fd, SGX_IOC_ENCLAVE_CREATE, &c) == -1);
		CHECK_EQ(errno, ENODEV);
		struct stat st;
		CHECK(fstat(fd, &st) == 0 && S_ISCHR(st.st_mode));
		return true;
	}
	int fd = open("/dev/sgx_enclave", O_RDWR);
	CHECK(fd >= 0);
	char num[16];
	snprintf(num, sizeof(num), "%d", fd);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *argv[] = {(char *)self_path, (char *)enclave_path, (char *)key_path, "exec-stale", num, NULL};
		char *envp[] = {NULL};
		execve(self_path, argv, envp);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	return true;
}

/* Spin in the enclave until a signal ends the process (the caller sends it: `timeout`, Ctrl-C). */
/*
 * CPUID in enclave code (leaf 0): "ud" where CPUID faulting is on, as under
 * sgxemu run on a host that has it: #UD as on hardware, the enclave's
 * handler skips the instruction and EAX still holds the leaf; "native"
 * where it is off: the instruction runs and returns the highest basic leaf.
 */
static bool s_enclave_cpuid(const char *arg)
{
	if (!build(&E, O_RDWR))
		return false;
	struct call c = {.a = 0, .b = 0};
	if (!strcmp(arg, "ud")) {
		struct handler_call skip = {.op = H_SKIP, .c = {.a = 2}};
		ECALL_FIX(E.tcs[0], OP_CPUID, &c, 6, 0, 0, fix_handler, &skip);
		CHECK_EQ(skip.c.out[0], 0x80000306); /* EXITINFO: VALID, hardware exception, #UD */
		CHECK_EQ(c.out[1], 1);
		CHECK_EQ(c.out[0], 0);
		return true;
	}
	CHECK(!strcmp(arg, "native"));
	ECALL(E.tcs[0], OP_CPUID, &c);
	CHECK_EQ(c.out[1], 1);
	CHECK(c.out[0] != 0);
	return true;
}

static bool s_spin(void)
{
	if (!build(&E, O_RDWR))
		return false;
	struct call c = {0};
	printf("spinning\n");
	ECALL(E.tcs[0], OP_SPIN, &c);
	printf("the spin ended without a signal\n");
	return false;
}

/*
 * A SIGALRM handler installed with sigaction() after the enclave exists
 * interrupts the spin: it runs at the AEP (RAX = ERESUME, RBX = the TCS)
 * with the host's TLS, ends the spin, and the ERESUME finishes the call.
 */
static struct call spin_call;
static __thread int host_tls = 5;
static volatile sig_atomic_t alarm_count, alarm_ok;

static void on_alarm(int sig, siginfo_t *si, void *ucv)
{
	(void)sig, (void)si;
	ucontext_t *uc = ucv;
	alarm_count++;
	alarm_ok = uc->uc_mcontext.gregs[REG_RAX] == 3 && (uintptr_t)uc->uc_mcontext.gregs[REG_RBX] == E.tcs[1] &&
		   host_tls == 5;
	spin_call.a = 1;
}

static bool s_signal_handler(void)
{
	if (!build(&E, O_RDWR))
		return false;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_alarm;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	alarm(1);
	ECALL(E.tcs[1], OP_SPIN, &spin_call);
	CHECK_EQ(alarm_count, 1);
	CHECK(alarm_ok);
	struct call e = {.a = 1, .b = 2};
	ECALL(E.tcs[1], OP_ECHO, &e);
	CHECK_EQ(e.out[0], 3);
	return true;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s ENCLAVE.elf KEY.pem SCENARIO [ARG]\n", argv[0]);
		return 2;
	}
	self_path = "/proc/self/exe";
	static char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		self_path = exe;
	}
	enclave_path = argv[1];
	key_path = argv[2];
	scenario = argv[3];
	const char *arg = argc > 4 ? argv[4] : NULL;
	setvbuf(stdout, NULL, _IONBF, 0);
	static const struct {
		const char *name;
		bool (*fn)(void);
		bool (*fn_arg)(const char *);
	} scenarios[] = {
	    {"build", s_build, NULL},
	    {"build-exit", s_build_exit, NULL},
	    {"exceptions", s_exceptions, NULL},
	    {"user-handler", s_user_handler, NULL},
	    {"eaug-fault", s_eaug_fault, NULL},
	    {"eaug-eaccept", s_eaug_eaccept, NULL},
	    {"emodpr", s_emodpr, NULL},
	    {"emodt-tcs", s_emodt_tcs, NULL},
	    {"trim", s_trim, NULL},
	    {"eacceptcopy", s_eacceptcopy, NULL},
	    {"threads", s_threads, NULL},
	    {"small-epc", NULL, s_small_epc},
	    {"fork", s_fork, NULL},
	    {"sigsegv", s_sigsegv, NULL},
	    {"vdso", s_vdso, NULL},
	    {"device", s_device, NULL},
	    {"errors", s_errors, NULL},
	    {"bad-args", s_bad_args, NULL},
	    {"cpuid", NULL, s_cpuid},
	    {"cpuid-print", s_cpuid_print, NULL},
	    {"cpuid-then-fork", s_cpuid_then_fork, NULL},
	    {"exec-settings", NULL, s_exec_settings},
	    {"exec-stale", NULL, s_exec_stale},
	    {"spin", s_spin, NULL},
	    {"enclave-cpuid", NULL, s_enclave_cpuid},
	    {"signal-handler", s_signal_handler, NULL},
#ifdef AUXV_CTOR
	    {"auxv-ctor", s_auxv_ctor, NULL},
#endif
	};
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(scenarios[i].name, scenario) != 0)
			continue;
		bool ok = scenarios[i].fn ? scenarios[i].fn() : scenarios[i].fn_arg(arg);
		if (!ok)
			return 1;
		printf("ok %s\n", scenario);
		return 0;
	}
	fprintf(stderr, "%s: unknown scenario %s\n", argv[0], scenario);
	return 2;
}
