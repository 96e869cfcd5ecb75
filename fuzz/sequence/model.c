/* SPDX-License-Identifier: MIT */
/* The model's state and the checks it shares between calls (model.h). */
#include "model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Linux's architectural reserved ATTRIBUTES bits (arch/x86/include/asm/sgx.h, 6.2+): 3, 6 (CET), 9:8, 63:11. */
#define LINUX_ATTR_RESERVED (0x8ULL | 0x40ULL | 0x300ULL | ~0x7FFULL)

void m_platform_masks(struct m_platform *p)
{
	/* sgx_init: misc = ~EBX | bits 31:1; attributes = ~(EAX | EBX << 32) | reserved; xfrm = ~(ECX | EDX << 32). */
	p->misc_reserved = ~p->misc_supported | ~1U;
	p->attr_reserved = ~p->attr_allowed | LINUX_ATTR_RESERVED;
	p->xfrm_reserved = ~p->xfrm_allowed;
}

/* ---- enclaves and pages ---- */

int m_encl_new(struct m_world *w)
{
	for (int i = 0; i < M_ENCLS; i++) {
		struct m_encl *e = &w->encls[i];
		if (e->live)
			continue;
		memset(e, 0, sizeof(*e));
		e->live = true;
		e->dyn_max = PROT_READ | PROT_WRITE | PROT_EXEC;
		/* Linux 6.2+: DEBUG | MODE64BIT | KSS | AEXNOTIFY (spec/linux-driver.md §2). */
		e->attr_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT | SGX_ATTR_KSS | SGX_ATTR_AEXNOTIFY;
		return i;
	}
	return -1;
}

void m_encl_put(struct m_world *w, int i)
{
	struct m_encl *e = &w->encls[i];
	free(e->pages);
	if (e->mr)
		crypto_sha256_free(e->mr);
	memset(e, 0, sizeof(*e));
}

struct m_page *m_page_find(struct m_encl *e, uint64_t off)
{
	size_t lo = 0, hi = e->npages;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (e->pages[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->npages && e->pages[lo].off == off ? &e->pages[lo] : NULL;
}

struct m_page *m_page_add(struct m_encl *e, uint64_t off)
{
	if (e->npages == e->cap) {
		size_t n = e->cap ? 2 * e->cap : 64;
		struct m_page *p = realloc(e->pages, n * sizeof(*p));
		if (!p)
			abort();
		e->pages = p;
		e->cap = n;
	}
	size_t i = e->npages;
	while (i && e->pages[i - 1].off > off) {
		e->pages[i] = e->pages[i - 1];
		i--;
	}
	e->npages++;
	memset(&e->pages[i], 0, sizeof(e->pages[i]));
	e->pages[i].off = off;
	return &e->pages[i];
}

void m_page_remove(struct m_encl *e, uint64_t off)
{
	struct m_page *p = m_page_find(e, off);
	if (!p)
		return;
	size_t i = (size_t)(p - e->pages);
	memmove(p, p + 1, (e->npages - i - 1) * sizeof(*p));
	e->npages--;
}

uint64_t m_pages_total(const struct m_world *w)
{
	uint64_t n = 0;
	for (int i = 0; i < M_ENCLS; i++)
		if (w->encls[i].live)
			n += w->encls[i].npages;
	return n;
}

void m_encl_grow(struct m_encl *e)
{
	if (e->page_cnt % 512 == 0)
		e->va++;
	e->page_cnt++;
}

uint64_t m_unreclaimable(const struct m_world *w)
{
	uint64_t n = 0;
	for (int i = 0; i < M_ENCLS; i++) {
		const struct m_encl *e = &w->encls[i];
		if (!e->live || !e->created)
			continue;
		n += 1 + e->va;
		for (size_t j = 0; j < e->npages; j++)
			n += e->pages[j].pinned;
	}
	return n;
}

/* ---- measurement ---- */

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

void m_mr_ecreate(struct m_encl *e)
{
	uint8_t b[64] = "ECREATE";
	memcpy(b + 8, &e->ssaframesize, 4);
	put64(b + 12, e->size);
	e->mr = crypto_sha256_new();
	if (!e->mr)
		abort();
	crypto_sha256_update(e->mr, b, sizeof(b));
	e->mr_known = true;
}

void m_mr_eadd(struct m_encl *e, uint64_t off, uint64_t flags)
{
	uint8_t b[64] = "EADD";
	put64(b + 8, off);
	put64(b + 16, flags);
	crypto_sha256_update(e->mr, b, sizeof(b));
}

void m_mr_eextend_page(struct m_encl *e, uint64_t off, const uint8_t *page)
{
	for (unsigned c = 0; c < M_PAGE; c += 256) {
		uint8_t b[64] = "EEXTEND";
		put64(b + 8, off + c);
		crypto_sha256_update(e->mr, b, sizeof(b));
		crypto_sha256_update(e->mr, page + c, 256);
	}
}

void m_mr_peek(const struct m_encl *e, uint8_t out[32])
{
	crypto_sha256_peek(e->mr, out);
}

/* ---- leaves ---- */

uint32_t m_xsave_size(const struct m_platform *p, uint64_t xfrm)
{
	uint32_t end = 576;
	for (unsigned i = 2; i < 64; i++)
		if ((xfrm >> i) & 1 && p->xoff[i] + p->xsize[i] > end)
			end = p->xoff[i] + p->xsize[i];
	return end;
}

/* A legal XCR0 value as XSETBV accepts it (SDM vol. 1 13.3), within what CPUID.(0x12,1) allows. */
static bool xfrm_ok(const struct m_platform *p, uint64_t x)
{
	if ((x & 3) != 3 || (x & ~p->xfrm_allowed))
		return false;
	if (((x >> 3) & 3) == 1 || ((x >> 3) & 3) == 2) /* MPX: BNDREGS and BNDCSR together */
		return false;
	uint64_t avx512 = (x >> 5) & 7;
	if (avx512 && (avx512 != 7 || !(x & 4))) /* opmask, ZMM_Hi256, Hi16_ZMM together, with AVX */
		return false;
	if (((x >> 17) & 3) == 1 || ((x >> 17) & 3) == 2) /* AMX: TILECFG and TILEDATA together */
		return false;
	return true;
}

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

enum m_leaf m_ecreate_check(const struct m_platform *p, const struct sgx_secs *s, const char **why)
{
	const uint8_t *b = (const uint8_t *)s;
	bool mode64 = s->attributes & SGX_ATTR_MODE64BIT;
	/* Each check of spec/leaves.md ECREATE step 4 faults (#GP); their order does not matter for the errno. */
	*why = NULL;
	if (!xfrm_ok(p, s->xfrm))
		*why = "XFRM illegal or not allowed";
	else if (s->miscselect & ~p->misc_supported)
		*why = "MISCSELECT not supported";
	else if ((uint64_t)s->ssa_frame_size * M_PAGE <
		 (uint64_t)m_xsave_size(p, s->xfrm) + 184 + ((s->miscselect & SGX_MISC_EXINFO) ? 16 : 0))
		*why = "SSAFRAMESIZE too small";
	else if (mode64 && (uint64_t)((int64_t)(s->base << 16) >> 16) != s->base)
		*why = "BASEADDR not canonical";
	else if (!mode64 && s->base >= (1ULL << 32))
		*why = "32-bit BASEADDR above 4 GiB";
	else if (s->size >= (1ULL << (mode64 ? p->max_log2_64 : p->max_log2_32)))
		*why = "SIZE too large";
	else if (s->size < 0x2000 || (s->size & (s->size - 1)))
		*why = "SIZE not a power of two >= 8 KiB";
	else if (s->base & (s->size - 1))
		*why = "BASEADDR not aligned to SIZE";
	else if (s->attributes & ~p->attr_allowed)
		*why = "ATTRIBUTES not allowed (INIT, reserved)";
	else if (!zero(b + 24, 24) || !zero(b + 96, 32) || !zero(b + 160, 32) || !zero(b + 262, 4096 - 262))
		*why = "reserved field not zero";
	else if (!(s->attributes & SGX_ATTR_KSS) && (!zero(b + 192, 64) || !zero(b + 260, 2)))
		*why = "CONFIGID/CONFIGSVN without KSS";
	if (*why)
		return M_LEAF_FAIL;
	/* spec/leaves.md: unverified whether non-zero MRENCLAVE/MRSIGNER/ISV* input bytes fault. */
	if (!zero(b + 64, 32) || !zero(b + 128, 32) || !zero(b + 256, 4)) {
		*why = "MRENCLAVE/MRSIGNER/ISVPRODID/ISVSVN input not zero (unverified)";
		return M_LEAF_UNKNOWN;
	}
	return M_LEAF_OK;
}

enum m_leaf m_eadd_check(const struct m_encl *e, uint64_t flags, const uint8_t *page)
{
	if (((flags >> 8) & 0xFF) != SGX_PT_TCS)
		return M_LEAF_OK;
	if (!zero(page + 72, M_PAGE - 72))
		return M_LEAF_FAIL;
	if (!(e->attributes & SGX_ATTR_MODE64BIT)) {
		uint32_t fs, gs;
		memcpy(&fs, page + 64, 4);
		memcpy(&gs, page + 68, 4);
		if ((fs & 0xFFF) != 0xFFF || (gs & 0xFFF) != 0xFFF)
			return M_LEAF_FAIL;
	}
	return M_LEAF_OK;
}

/* ---- VMAs ---- */

int m_vma_at(const struct m_world *w, uint64_t addr)
{
	for (size_t i = 0; i < w->nvmas; i++)
		if (addr >= w->vmas[i].start && addr < w->vmas[i].end)
			return (int)i;
	return -1;
}

int m_vma_after(const struct m_world *w, uint64_t addr)
{
	/* The list is sorted by start. */
	for (size_t i = 0; i < w->nvmas; i++)
		if (w->vmas[i].end > addr)
			return (int)i;
	return -1;
}

bool m_vma_intersects(const struct m_world *w, uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < w->nvmas; i++)
		if (w->vmas[i].start < b && a < w->vmas[i].end)
			return true;
	return false;
}

static void vma_del(struct m_world *w, size_t i)
{
	memmove(&w->vmas[i], &w->vmas[i + 1], (w->nvmas - i - 1) * sizeof(w->vmas[0]));
	w->nvmas--;
}

void m_vma_insert(struct m_world *w, const struct m_vma *v)
{
	if (w->nvmas == M_VMAS)
		abort(); /* the engine bounds the ops so that this cannot happen */
	size_t i = w->nvmas;
	while (i && w->vmas[i - 1].start > v->start) {
		w->vmas[i] = w->vmas[i - 1];
		i--;
	}
	w->vmas[i] = *v;
	w->nvmas++;
}

/* Split the VMA containing addr (strictly inside) at addr. */
static void vma_split_at(struct m_world *w, uint64_t addr)
{
	int i = m_vma_at(w, addr);
	if (i < 0 || w->vmas[i].start == addr)
		return;
	struct m_vma tail = w->vmas[i];
	tail.start = addr;
	w->vmas[i].end = addr;
	m_vma_insert(w, &tail);
}

void m_vma_unmap(struct m_world *w, uint64_t a, uint64_t b)
{
	vma_split_at(w, a);
	vma_split_at(w, b);
	for (size_t i = 0; i < w->nvmas;) {
		if (w->vmas[i].start >= a && w->vmas[i].end <= b)
			vma_del(w, i);
		else
			i++;
	}
}

void m_vma_protect(struct m_world *w, uint64_t a, uint64_t b, int prot)
{
	vma_split_at(w, a);
	vma_split_at(w, b);
	for (size_t i = 0; i < w->nvmas; i++)
		if (w->vmas[i].start >= a && w->vmas[i].end <= b)
			w->vmas[i].prot = prot;
}

int m_may_map(const struct m_world *w, int ei, uint64_t a, uint64_t b, int prot)
{
	const struct m_encl *e = &w->encls[ei];
	if (e->initialized && (a < e->base || b > e->base + e->size))
		return -EACCES;
	if (!e->created)
		return 0;
	prot &= PROT_READ | PROT_WRITE | PROT_EXEC;
	for (size_t i = 0; i < e->npages; i++) {
		uint64_t addr = e->base + e->pages[i].off;
		if (addr >= a && addr < b && (prot & ~e->pages[i].maxprot))
			return -EACCES;
	}
	return 0;
}
