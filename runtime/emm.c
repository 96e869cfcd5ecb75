/* SPDX-License-Identifier: MIT */
/*
 * The EDMM memory manager (docs/emm.md): regions of the dynamic area, the
 * SGX2 flows that commit, uncommit and change pages (EACCEPT, EACCEPTCOPY,
 * EMODPE in here, the rest through the host's OCALLs), and the #PF
 * handler that commits pages on demand.
 *
 * Everything the manager knows is in struct rt_mm, under its spinlock: the
 * sorted region list and one state byte per page of the dynamic area.  The
 * lock is held across OCALLs (other threads spin meanwhile; none of the
 * host's memory OCALLs re-enters the enclave).  The #PF handler takes it
 * too, unless this very thread holds it: then the fault is not one the
 * manager can fix (the manager itself touches no page it has not
 * committed) and is left to the other handlers.
 */
#include "emm_int.h"
#include "sgxemu/rt_enclu.h"

#define RFLAGS_ZF 0x40ULL

/* ---- ENCLU with a recovery point ---- */

/*
 * rt_mm_enclu(leaf, rbx, rcx, rdx): the leaf at rt_mm_enclu_site.  When it
 * faults (a host that zapped or never added a page, a TCS page with bad
 * contents), the handler resumes at rt_mm_enclu_resume with ZF set and
 * RAX = MM_ENCLU_FAULT | vector, which the caller sees as a failed leaf.
 */
__asm__(".pushsection .text\n"
	".globl rt_mm_enclu\n"
	".hidden rt_mm_enclu\n"
	".type rt_mm_enclu, @function\n"
	".p2align 4\n"
	"rt_mm_enclu:\n"
	"	push %rbx\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rbx\n"
	"	xchg %rdx, %rcx\n"
	".globl rt_mm_enclu_site\n"
	".hidden rt_mm_enclu_site\n"
	"rt_mm_enclu_site:\n"
	"	enclu\n"
	".globl rt_mm_enclu_resume\n"
	".hidden rt_mm_enclu_resume\n"
	"rt_mm_enclu_resume:\n"
	"	jz 1f\n"
	"	xor %eax, %eax\n"
	"1:	pop %rbx\n"
	"	ret\n"
	".size rt_mm_enclu, . - rt_mm_enclu\n"
	".popsection\n");

#pragma GCC visibility push(hidden)
extern const char rt_mm_enclu_site[], rt_mm_enclu_resume[];
#pragma GCC visibility pop

/* ---- the default manager: the only state, created at first use ---- */

static struct rt_mm default_mm;

/* ---- small helpers ---- */

static bool aligned(uint64_t v)
{
	return (v & (MM_PAGE - 1)) == 0;
}

static uint8_t perm_of(uint32_t flags)
{
	return (uint8_t)((flags & RT_MM_PROT_MASK) >> 24);
}

static uint32_t flags_of(uint8_t perm)
{
	return (uint32_t)perm << 24;
}

/* How the host maps a page with EPCM permissions p: RW unless executable, then exactly p. */
static uint64_t map_prot(uint8_t p)
{
	return (p & SGX_SECINFO_X) ? p : MM_RW;
}

static uint8_t *page_state(struct rt_mm *mm, uint64_t addr)
{
	return &mm->page[(addr - mm->dyn_start) / MM_PAGE];
}

void mm_lock(struct rt_mm *mm)
{
	rt_spin_lock(&mm->lock);
	__atomic_store_n(&mm->owner, rt_thread_self(), __ATOMIC_RELAXED);
}

void mm_unlock(struct rt_mm *mm)
{
	__atomic_store_n(&mm->owner, NULL, __ATOMIC_RELAXED);
	rt_spin_unlock(&mm->lock);
}

bool mm_can_ocall(void)
{
	struct rt_thread *t = rt_thread_self();
	return t->top && t->top->cssa == 0 && t->depth > 0;
}

/* ---- the host's part ---- */

int64_t mm_host(struct rt_mm *mm, uint32_t index, uint64_t addr, uint64_t len, uint64_t prot, uint64_t type,
		uint64_t *count)
{
	struct sgxemu_ocall_mm m = {.addr = addr, .len = len, .prot = prot, .type = type};
	switch (index) {
	case SGXEMU_OCALL_AUGMENT:
		mm->stats.ocalls_augment++;
		break;
	case SGXEMU_OCALL_RESTRICT:
		mm->stats.ocalls_restrict++;
		break;
	case SGXEMU_OCALL_MODIFY_TYPE:
		mm->stats.ocalls_modify_type++;
		break;
	case SGXEMU_OCALL_REMOVE:
		mm->stats.ocalls_remove++;
		break;
	default:
		mm->stats.ocalls_mprotect++;
		break;
	}
	int64_t r = rt_ocall(index, &m, sizeof(m));
	if (count)
		*count = (m.count < len ? m.count : len) & ~(MM_PAGE - 1);
	/* Only 0 and -errno mean something; anything else is a failure of no particular kind. */
	if (r > 0 || r < -4095)
		r = -RT_EFAULT;
	return r;
}

static bool host_refused(int64_t r)
{
	return r == -MM_HOST_EPERM || r == -MM_HOST_EACCES;
}

int mm_augment(struct rt_mm *mm, uint64_t addr, uint64_t len, bool need_exec)
{
	if (!mm->augment || !mm_can_ocall())
		return 0;
	uint64_t prot = SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_X, done = 0;
	if (mm->augment_exec_refused) {
		if (need_exec)
			return -RT_EACCES;
		prot = MM_RW;
	}
	while (done < len) {
		uint64_t count = 0;
		int64_t r = mm_host(mm, SGXEMU_OCALL_AUGMENT, addr + done, len - done, prot, 0, &count);
		if (r == 0)
			return 0;
		done += count;
		if (r == -MM_HOST_EBUSY) {
			/* A page the host added on a fault already (an access before the commit): EACCEPT takes it. */
			done += MM_PAGE;
		} else if (host_refused(r) && (prot & SGX_SECINFO_X)) {
			mm->augment_exec_refused = true;
			if (need_exec)
				return -RT_EACCES;
			prot = MM_RW;
		} else {
			if (r == -MM_HOST_ENOTTY)
				mm->augment = false;
			return 0;
		}
	}
	return 0;
}

/* ---- the enclave's part ---- */

uint64_t mm_leaf(struct rt_mm *mm, uint64_t leaf, uint64_t flags, uint64_t page, uint64_t src)
{
	struct sgx_secinfo si RT_ALIGNED(64) = {.flags = flags};
	uint64_t rax = rt_mm_enclu(leaf, (uintptr_t)&si, page, src);
	if (mm->trace)
		mm->trace(mm->trace_priv, (uint32_t)leaf, page, flags, rax);
	return rax;
}

void rt_mm_set_trace(struct rt_mm *mm, rt_mm_trace fn, void *priv)
{
	if (!mm)
		return;
	mm_lock(mm);
	mm->trace = fn;
	mm->trace_priv = priv;
	mm_unlock(mm);
}

uint64_t mm_accept(struct rt_mm *mm, uint64_t addr, uint64_t n, uint64_t flags)
{
	for (uint64_t i = 0; i < n; i++) {
		if (mm_leaf(mm, ENCLU_EACCEPT, flags, addr + i * MM_PAGE, 0) != SGX_SUCCESS)
			return i;
		mm->stats.eaccepts++;
	}
	return n;
}

int mm_trim(struct rt_mm *mm, uint64_t addr, uint64_t n, uint64_t *gone)
{
	uint64_t count = 0;
	*gone = 0;
	if (!n)
		return 0;
	if (!mm_can_ocall())
		return -RT_EPERM;
	int64_t r = mm_host(mm, SGXEMU_OCALL_MODIFY_TYPE, addr, n * MM_PAGE, 0, SGX_PT_TRIM, &count);
	uint64_t trimmed = r == 0 ? n : count / MM_PAGE;
	uint64_t ok = mm_accept(mm, addr, trimmed, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED);
	*gone = ok;
	/* The enclave no longer uses these pages, whatever the host does: a failed REMOVE only costs it EPC. */
	if (ok)
		mm_host(mm, SGXEMU_OCALL_REMOVE, addr, ok * MM_PAGE, 0, 0, NULL);
	return ok == n ? 0 : -RT_EFAULT;
}

/* ---- page runs ---- */

/* The next run [*lo, *hi) of pages from index i below n whose state has any of bits (want) or none (!want). */
static bool next_run(const uint8_t *st, uint64_t n, uint64_t *i, uint8_t bits, bool want, uint64_t *lo, uint64_t *hi)
{
	while (*i < n && !!(st[*i] & bits) != want)
		(*i)++;
	if (*i == n)
		return false;
	*lo = *i;
	while (*i < n && !!(st[*i] & bits) == want)
		(*i)++;
	*hi = *i;
	return true;
}

/*
 * Trim the pages of [addr, addr + n pages) whose state has any of bits,
 * and give back the host mapping of those that were executable.  Pages the
 * host did not let go of stay committed.  Return: 0, -RT_EPERM, -RT_EFAULT.
 */
static int uncommit_pages(struct rt_mm *mm, uint64_t addr, uint64_t n, uint8_t *st, uint8_t bits)
{
	uint64_t i = 0, lo, hi;
	while (next_run(st, n, &i, bits, true, &lo, &hi)) {
		uint64_t gone = 0, a = addr + lo * MM_PAGE;
		int r = mm_trim(mm, a, hi - lo, &gone);
		bool mapx = false;
		for (uint64_t j = lo; j < lo + gone; j++) {
			mapx |= st[j] & MM_P_MAPX;
			st[j] = st[j] & MM_P_MAPX;
		}
		if (mapx && mm_host(mm, SGXEMU_OCALL_MPROTECT, a, gone * MM_PAGE, MM_RW, 0, NULL) == 0)
			for (uint64_t j = lo; j < lo + gone; j++)
				st[j] = 0;
		if (r)
			return r;
	}
	return 0;
}

/* Clear MM_P_NEW of [0, n). */
static void settle(uint8_t *st, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		st[i] &= (uint8_t)~MM_P_NEW;
}

/*
 * Undo an operation that failed: uncommit the pages it committed.
 * Return: err, the operation's error.
 */
static int undo(struct rt_mm *mm, uint64_t addr, uint64_t n, uint8_t *st, int err)
{
	uncommit_pages(mm, addr, n, st, MM_P_NEW);
	settle(st, n);
	return err;
}

/* Uncommitted pages the host still maps executable go back to RW before they are committed.  Return: 0, -RT_EFAULT. */
static int unmap_exec(struct rt_mm *mm, uint64_t addr, uint64_t n, uint8_t *st)
{
	uint64_t i = 0, lo, hi;
	while (next_run(st, n, &i, MM_P_MAPX, true, &lo, &hi)) {
		if (mm_host(mm, SGXEMU_OCALL_MPROTECT, addr + lo * MM_PAGE, (hi - lo) * MM_PAGE, MM_RW, 0, NULL))
			return -RT_EFAULT;
		for (uint64_t j = lo; j < hi; j++)
			st[j] &= (uint8_t)~MM_P_MAPX;
	}
	return 0;
}

/*
 * Give the committed REG pages [addr, addr + n pages) the permissions p:
 * the host maps executable pages executable first (so a refusal changes
 * nothing), EMODPE adds what is missing, RESTRICT + EACCEPT removes what
 * is too much, and pages no longer executable are mapped RW again.
 * Return: 0, -RT_EACCES, -RT_EPERM, -RT_EFAULT.
 */
static int set_perms(struct rt_mm *mm, uint64_t addr, uint64_t n, uint8_t *st, uint8_t p)
{
	uint8_t widen = 0, narrow = 0, mapx = 0, same_map = 1;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t c = st[i] & MM_P_PERM;
		widen |= p & ~c;
		narrow |= c & ~p;
		mapx |= st[i] & MM_P_MAPX;
		same_map &= map_prot(c) == map_prot(p);
	}
	if (!widen && !narrow && same_map)
		return 0;
	if (!mm_can_ocall())
		return -RT_EPERM;
	uint64_t len = n * MM_PAGE;
	if (p & SGX_SECINFO_X) {
		int64_t r = mm_host(mm, SGXEMU_OCALL_MPROTECT, addr, len, map_prot(p), 0, NULL);
		if (r)
			return host_refused(r) ? -RT_EACCES : -RT_EFAULT;
		for (uint64_t i = 0; i < n; i++)
			st[i] |= MM_P_MAPX;
	}
	for (uint64_t i = 0; widen && i < n; i++) {
		uint64_t more = p & ~(st[i] & MM_P_PERM);
		if (!more)
			continue;
		if (mm_leaf(mm, ENCLU_EMODPE, more, addr + i * MM_PAGE, 0) != SGX_SUCCESS)
			return -RT_EFAULT;
		mm->stats.emodpes++;
		st[i] |= (uint8_t)more;
	}
	if (narrow) {
		uint64_t count = 0;
		int64_t r = mm_host(mm, SGXEMU_OCALL_RESTRICT, addr, len, p, 0, &count);
		uint64_t restricted = r == 0 ? n : count / MM_PAGE;
		uint64_t ok = mm_accept(mm, addr, restricted, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_PR | p);
		for (uint64_t i = 0; i < ok; i++)
			st[i] = (uint8_t)((st[i] & ~MM_P_PERM) | p);
		if (r || ok != n)
			return -RT_EFAULT;
	}
	if (!(p & SGX_SECINFO_X) && mapx) {
		if (mm_host(mm, SGXEMU_OCALL_MPROTECT, addr, len, MM_RW, 0, NULL))
			return -RT_EFAULT;
		for (uint64_t i = 0; i < n; i++)
			st[i] &= (uint8_t)~MM_P_MAPX;
	}
	return 0;
}

/*
 * Commit the uncommitted pages of [addr, addr + n pages) with permissions
 * p (R set): AUGMENT (when offered), EACCEPT as RW, then set_perms.  On
 * failure the pages this call committed are uncommitted again.
 * Return: 0, -RT_EACCES, -RT_EPERM, -RT_EFAULT.
 */
static int commit_pages(struct rt_mm *mm, uint64_t addr, uint64_t n, uint8_t *st, uint8_t p)
{
	bool ocall = mm_can_ocall();
	uint64_t i = 0, lo, hi;
	int r;
	if (!ocall && p != MM_RW)
		return -RT_EPERM;
	if (ocall && (r = unmap_exec(mm, addr, n, st)) != 0)
		return r;
	while (next_run(st, n, &i, MM_P_COMMITTED, false, &lo, &hi))
		if ((r = mm_augment(mm, addr + lo * MM_PAGE, (hi - lo) * MM_PAGE, p & SGX_SECINFO_X)) != 0)
			return r;
	i = 0;
	while (next_run(st, n, &i, MM_P_COMMITTED, false, &lo, &hi)) {
		uint64_t ok = mm_accept(mm, addr + lo * MM_PAGE, hi - lo,
					SGX_SECINFO_PT(SGX_PT_REG) | MM_RW | SGX_SECINFO_PENDING);
		for (uint64_t j = lo; j < lo + ok; j++)
			st[j] = MM_P_COMMITTED | MM_P_NEW | MM_RW;
		if (ok != hi - lo)
			return undo(mm, addr, n, st, -RT_EFAULT);
	}
	if (p != MM_RW) {
		i = 0;
		while (next_run(st, n, &i, MM_P_NEW, true, &lo, &hi))
			if ((r = set_perms(mm, addr + lo * MM_PAGE, hi - lo, st + lo, p)) != 0)
				return undo(mm, addr, n, st, r);
	}
	settle(st, n);
	return 0;
}

/* ---- regions ---- */

/* The user region holding addr, or -1. */
static int find_region(const struct rt_mm *mm, uint64_t addr)
{
	for (uint32_t i = 0; i < mm->n_regions; i++) {
		if (addr < mm->regions[i].start)
			break;
		if (addr < mm->regions[i].end)
			return (int)i;
	}
	return -1;
}

/* The region holding all of [addr, addr + len) (len > 0, no overflow checked by the caller), or -1. */
static int range_region(const struct rt_mm *mm, uint64_t addr, uint64_t len)
{
	if (addr < mm->dyn_start || addr >= mm->dyn_end || len > mm->dyn_end - addr)
		return -1;
	int i = find_region(mm, addr);
	if (i < 0 || addr + len > mm->regions[i].end)
		return -1;
	return i;
}

/* A page the manager could not give back: it stays committed and nobody may allocate it. */
static bool page_busy(struct rt_mm *mm, uint64_t addr)
{
	return *page_state(mm, addr) & (MM_P_COMMITTED | MM_P_TCS);
}

/* [start, end) lies in the dynamic area, overlaps no region and holds no page left committed? */
static bool range_free(struct rt_mm *mm, uint64_t start, uint64_t end)
{
	if (start < mm->dyn_start || end > mm->dyn_end || end <= start)
		return false;
	for (uint32_t i = 0; i < mm->n_regions; i++)
		if (mm->regions[i].start < end && start < mm->regions[i].end)
			return false;
	for (uint64_t a = start; a < end; a += MM_PAGE)
		if (page_busy(mm, a))
			return false;
	return true;
}

/* First fit of len bytes.  Return: the start, or 0. */
static uint64_t first_fit(struct rt_mm *mm, uint64_t len)
{
	uint64_t gap = mm->dyn_start;
	for (uint32_t i = 0; i <= mm->n_regions; i++) {
		uint64_t gap_end = i < mm->n_regions ? mm->regions[i].start : mm->dyn_end;
		uint64_t a = gap;
		while (a < gap_end && gap_end - a >= len) {
			uint64_t b = a;
			while (b < a + len && !page_busy(mm, b))
				b += MM_PAGE;
			if (b == a + len)
				return a;
			a = b + MM_PAGE;
		}
		if (i < mm->n_regions)
			gap = mm->regions[i].end;
	}
	return 0;
}

/* Insert a region (the range is free, a slot is left).  Return: its index. */
static int insert_region(struct rt_mm *mm, const struct mm_region *r)
{
	uint32_t i = 0;
	while (i < mm->n_regions && mm->regions[i].start < r->start)
		i++;
	for (uint32_t j = mm->n_regions; j > i; j--)
		mm->regions[j] = mm->regions[j - 1];
	mm->regions[i] = *r;
	mm->n_regions++;
	return (int)i;
}

static void delete_region(struct rt_mm *mm, uint32_t i)
{
	for (uint32_t j = i + 1; j < mm->n_regions; j++)
		mm->regions[j - 1] = mm->regions[j];
	mm->n_regions--;
}

/* Take [start, end) out of region i (it holds the range; a cut in the middle needs a free slot). */
static void cut_region(struct rt_mm *mm, uint32_t i, uint64_t start, uint64_t end)
{
	struct mm_region *r = &mm->regions[i];
	if (start == r->start && end == r->end) {
		delete_region(mm, i);
	} else if (start == r->start) {
		r->start = end;
	} else if (end == r->end) {
		r->end = start;
	} else {
		struct mm_region tail = *r;
		tail.start = end;
		r->end = start;
		insert_region(mm, &tail);
	}
}

/* ---- the API ---- */

#define KNOWN_FLAGS                                                                                                    \
	(RT_MM_RESERVE | RT_MM_COMMIT_NOW | RT_MM_COMMIT_ON_DEMAND | RT_MM_GROWSDOWN | RT_MM_GROWSUP | RT_MM_FIXED |   \
	 RT_MM_TYPE_REG | RT_MM_PROT_MASK)

/* rt_mm_alloc's checks of flags and len alone.  Return: 0 or -RT_EINVAL. */
static int alloc_flags_ok(uint32_t flags, uint64_t len)
{
	uint32_t mode = flags & RT_MM_COMMIT_MASK;
	uint8_t p = perm_of(flags);
	if (flags & ~KNOWN_FLAGS)
		return -RT_EINVAL;
	if (mode != RT_MM_RESERVE && mode != RT_MM_COMMIT_NOW && mode != RT_MM_COMMIT_ON_DEMAND)
		return -RT_EINVAL;
	if ((p & (SGX_SECINFO_W | SGX_SECINFO_X)) && !(p & SGX_SECINFO_R))
		return -RT_EINVAL;
	if (mode == RT_MM_COMMIT_NOW && !(p & SGX_SECINFO_R))
		return -RT_EINVAL;
	if (mode == RT_MM_COMMIT_ON_DEMAND && p != MM_RW)
		return -RT_EINVAL;
	if ((flags & RT_MM_GROWSDOWN) &&
	    (mode != RT_MM_COMMIT_ON_DEMAND || (flags & RT_MM_GROWSUP) || len < 2 * MM_PAGE))
		return -RT_EINVAL;
	return 0;
}

int rt_mm_alloc(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t flags, rt_mm_fault_handler handler, void *priv,
		uint64_t *out)
{
	if (!mm || !out || !len || !aligned(len) || !aligned(addr) || addr + len < addr)
		return -RT_EINVAL;
	int r = alloc_flags_ok(flags, len);
	if (r)
		return r;
	bool fixed = flags & RT_MM_FIXED;
	if (fixed && (!addr || addr < mm->dyn_start || addr + len > mm->dyn_end))
		return -RT_EINVAL;
	struct mm_region reg = {.flags = flags & ~RT_MM_FIXED, .handler = handler, .priv = priv};
	int grow = -1;
	mm_lock(mm);
	if (fixed) {
		if (!range_free(mm, addr, addr + len)) {
			r = -RT_EEXIST;
			goto out;
		}
		int below = find_region(mm, addr - MM_PAGE);
		if (below >= 0 && mm->regions[below].end == addr && (mm->regions[below].flags & RT_MM_GROWSUP) &&
		    mm->regions[below].flags == reg.flags)
			grow = below;
		reg.start = addr;
	} else if (addr && range_free(mm, addr, addr + len)) {
		reg.start = addr;
	} else {
		reg.start = first_fit(mm, len);
		if (!reg.start) {
			r = -RT_ENOMEM;
			goto out;
		}
	}
	reg.end = reg.start + len;
	if (grow < 0 && mm->n_regions == RT_MM_MAX_REGIONS) {
		r = -RT_ENOMEM;
		goto out;
	}
	if ((flags & RT_MM_COMMIT_MASK) == RT_MM_COMMIT_NOW) {
		r = commit_pages(mm, reg.start, len / MM_PAGE, page_state(mm, reg.start), perm_of(flags));
		if (r)
			goto out;
	}
	if (grow >= 0)
		mm->regions[grow].end = reg.end;
	else
		insert_region(mm, &reg);
	*out = reg.start;
out:
	mm_unlock(mm);
	return r;
}

/* The permissions rt_mm_commit gives pages of region r. */
static uint8_t commit_perm(const struct mm_region *r)
{
	uint8_t p = perm_of(r->flags);
	return p ? p : MM_RW;
}

int rt_mm_commit(struct rt_mm *mm, uint64_t addr, size_t len)
{
	if (!mm || !len || !aligned(addr) || !aligned(len))
		return -RT_EINVAL;
	mm_lock(mm);
	int i = range_region(mm, addr, len), r = -RT_EINVAL;
	if (i >= 0)
		r = commit_pages(mm, addr, len / MM_PAGE, page_state(mm, addr), commit_perm(&mm->regions[i]));
	mm_unlock(mm);
	return r;
}

/* EACCEPTCOPY n pages from src to addr with permissions p, marked MM_P_NEW.  Return: 0 or -RT_EFAULT. */
static int copy_pages(struct rt_mm *mm, uint64_t addr, uint64_t n, uint8_t *st, const uint8_t *src, uint8_t p)
{
	uint8_t stage[MM_PAGE] RT_ALIGNED(4096);
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *from = src + i * MM_PAGE;
		if (!aligned((uintptr_t)from)) {
			memcpy(stage, from, MM_PAGE);
			from = stage;
		}
		if (mm_leaf(mm, ENCLU_EACCEPTCOPY, SGX_SECINFO_PT(SGX_PT_REG) | p, addr + i * MM_PAGE,
			    (uintptr_t)from) != SGX_SUCCESS)
			return -RT_EFAULT;
		mm->stats.eacceptcopies++;
		st[i] = MM_P_COMMITTED | MM_P_NEW | p;
	}
	return 0;
}

int rt_mm_commit_data(struct rt_mm *mm, uint64_t addr, size_t len, const void *data, uint32_t prot)
{
	uint64_t d = (uintptr_t)data;
	uint8_t p = perm_of(prot);
	if (!mm || !data || !len || !aligned(addr) || !aligned(len) || (prot & ~RT_MM_PROT_MASK) ||
	    !(p & SGX_SECINFO_R) || !rt_is_within_enclave(data, len) || (d < addr + len && addr < d + len))
		return -RT_EINVAL;
	if (!mm_can_ocall())
		return -RT_EPERM;
	/* Touch the source first: pages committed on demand come now, not while this thread holds the lock. */
	for (uint64_t o = 0; o < len; o += MM_PAGE)
		(void)*(const volatile uint8_t *)(d + o);
	(void)*(const volatile uint8_t *)(d + len - 1);
	mm_lock(mm);
	int i = range_region(mm, addr, len), r = -RT_EINVAL;
	if (i < 0)
		goto out;
	uint64_t n = len / MM_PAGE;
	uint8_t *st = page_state(mm, addr);
	r = -RT_EBUSY;
	for (uint64_t j = 0; j < n; j++)
		if (st[j] & MM_P_COMMITTED)
			goto out;
	if ((r = unmap_exec(mm, addr, n, st)) != 0 || (r = mm_augment(mm, addr, len, p & SGX_SECINFO_X)) != 0)
		goto out;
	if ((r = copy_pages(mm, addr, n, st, data, p)) != 0) {
		r = undo(mm, addr, n, st, r);
		goto out;
	}
	if (p & SGX_SECINFO_X) {
		int64_t h = mm_host(mm, SGXEMU_OCALL_MPROTECT, addr, len, map_prot(p), 0, NULL);
		if (h) {
			r = undo(mm, addr, n, st, host_refused(h) ? -RT_EACCES : -RT_EFAULT);
			goto out;
		}
		for (uint64_t j = 0; j < n; j++)
			st[j] |= MM_P_MAPX;
	}
	settle(st, n);
out:
	mm_unlock(mm);
	return r;
}

int rt_mm_uncommit(struct rt_mm *mm, uint64_t addr, size_t len)
{
	if (!mm || !len || !aligned(addr) || !aligned(len))
		return -RT_EINVAL;
	mm_lock(mm);
	int r = -RT_EINVAL;
	if (range_region(mm, addr, len) >= 0)
		r = uncommit_pages(mm, addr, len / MM_PAGE, page_state(mm, addr), MM_P_COMMITTED | MM_P_TCS);
	mm_unlock(mm);
	return r;
}

int rt_mm_dealloc(struct rt_mm *mm, uint64_t addr, size_t len)
{
	if (!mm || !len || !aligned(addr) || !aligned(len) || addr < mm->dyn_start || addr >= mm->dyn_end ||
	    len > mm->dyn_end - addr)
		return -RT_EINVAL;
	uint64_t end = addr + len;
	mm_lock(mm);
	int first = find_region(mm, addr), r = -RT_EINVAL;
	if (first < 0)
		goto out;
	/* Every page allocated: adjacent regions from first on cover the range. */
	uint32_t last = (uint32_t)first;
	while (mm->regions[last].end < end) {
		if (last + 1 == mm->n_regions || mm->regions[last + 1].start != mm->regions[last].end)
			goto out;
		last++;
	}
	r = -RT_ENOMEM;
	if (mm->n_regions == RT_MM_MAX_REGIONS && addr > mm->regions[first].start && end < mm->regions[first].end)
		goto out;
	r = uncommit_pages(mm, addr, len / MM_PAGE, page_state(mm, addr), MM_P_COMMITTED | MM_P_TCS);
	if (r)
		goto out;
	for (int i = (int)last; i >= first; i--) {
		struct mm_region *g = &mm->regions[i];
		cut_region(mm, (uint32_t)i, g->start > addr ? g->start : addr, g->end < end ? g->end : end);
	}
out:
	mm_unlock(mm);
	return r;
}

int rt_mm_modify_permissions(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t prot)
{
	uint8_t p = perm_of(prot);
	if (!mm || !len || !aligned(addr) || !aligned(len) || (prot & ~RT_MM_PROT_MASK) ||
	    ((p & (SGX_SECINFO_W | SGX_SECINFO_X)) && !(p & SGX_SECINFO_R)))
		return -RT_EINVAL;
	mm_lock(mm);
	int r = -RT_EINVAL;
	if (range_region(mm, addr, len) < 0)
		goto out;
	uint64_t n = len / MM_PAGE;
	uint8_t *st = page_state(mm, addr);
	for (uint64_t i = 0; i < n; i++)
		if (!(st[i] & MM_P_COMMITTED) || (st[i] & MM_P_TCS))
			goto out;
	r = set_perms(mm, addr, n, st, p);
out:
	mm_unlock(mm);
	return r;
}

/* RT_MM_TYPE_TCS of one committed RW page.  Must hold the lock. */
static int make_tcs(struct rt_mm *mm, uint64_t addr)
{
	uint8_t *st = page_state(mm, addr);
	if (!(*st & MM_P_COMMITTED))
		return -RT_EINVAL;
	if (*st & MM_P_TCS)
		return -RT_EPERM;
	if ((*st & MM_P_PERM) != MM_RW)
		return -RT_EINVAL;
	if (!mm_can_ocall())
		return -RT_EPERM;
	int64_t h = mm_host(mm, SGXEMU_OCALL_MODIFY_TYPE, addr, MM_PAGE, 0, SGX_PT_TCS, NULL);
	if (h)
		return host_refused(h) ? -RT_EACCES : -RT_EFAULT;
	/* From here the page is (if the host did its part) a TCS, accepted or not: only TRIM gets it back. */
	*st = MM_P_COMMITTED | MM_P_TCS;
	if (mm_accept(mm, addr, 1, SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_MODIFIED) != 1)
		return -RT_EFAULT;
	return 0;
}

int rt_mm_modify_type(struct rt_mm *mm, uint64_t addr, size_t len, uint32_t type)
{
	if (type == RT_MM_TYPE_TRIM)
		return rt_mm_uncommit(mm, addr, len);
	if (!mm || type != RT_MM_TYPE_TCS || len != MM_PAGE || !aligned(addr))
		return -RT_EINVAL;
	mm_lock(mm);
	int r = -RT_EINVAL;
	if (range_region(mm, addr, len) >= 0)
		r = make_tcs(mm, addr);
	mm_unlock(mm);
	return r;
}

int rt_mm_query(struct rt_mm *mm, uint64_t addr, uint32_t *prot)
{
	if (!mm)
		return -RT_EINVAL;
	mm_lock(mm);
	int r = -RT_EINVAL;
	if (addr >= mm->dyn_start && addr < mm->dyn_end && find_region(mm, addr) >= 0) {
		uint8_t st = *page_state(mm, addr & ~(MM_PAGE - 1));
		r = !!(st & MM_P_COMMITTED);
		if (prot)
			*prot = r && !(st & MM_P_TCS) ? flags_of(st & MM_P_PERM) : RT_MM_PROT_NONE;
	}
	mm_unlock(mm);
	return r;
}

void rt_mm_get_stats(struct rt_mm *mm, struct rt_mm_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (!mm)
		return;
	mm_lock(mm);
	*s = mm->stats;
	s->reserved_bytes = 0;
	s->committed_bytes = 0;
	for (uint32_t i = 0; i < mm->n_regions; i++)
		s->reserved_bytes += mm->regions[i].end - mm->regions[i].start;
	for (uint64_t a = mm->dyn_start; a < mm->dyn_end; a += MM_PAGE)
		if (*page_state(mm, a) & MM_P_COMMITTED)
			s->committed_bytes += MM_PAGE;
	for (uint32_t i = 0; i < mm->n_thr; i++) {
		if (mm->slot[i] == MM_SLOT_FREE)
			continue;
		s->reserved_bytes += mm->thr_stride;
		s->committed_bytes += SGXEMU_TA_SIZE(rt_layout()) - SGXEMU_TA_STACK(rt_layout());
	}
	mm_unlock(mm);
}

/* ---- the #PF handler ---- */

/* Does the EPCM state st allow the access of error code err (a race: another thread committed the page)? */
static bool access_allowed(uint8_t st, uint32_t err)
{
	if (st & MM_P_TCS)
		return false;
	if (err & PF_I)
		return st & SGX_SECINFO_X;
	if (err & PF_W)
		return st & SGX_SECINFO_W;
	return st & SGX_SECINFO_R;
}

/*
 * Commit on demand: the faulting page of an ON_DEMAND region (for
 * GROWSDOWN every page from it up to the committed part, never the lowest
 * page).  The host EAUGed the page on the access (the SGX #PF of a PENDING
 * page), so EACCEPT alone does it.  Must hold the lock.
 */
static int demand(struct rt_mm *mm, const struct mm_region *g, uint64_t addr, uint32_t err)
{
	uint64_t lo = addr & ~(MM_PAGE - 1), hi = lo + MM_PAGE;
	uint8_t *st = page_state(mm, lo);
	if ((g->flags & RT_MM_COMMIT_MASK) != RT_MM_COMMIT_ON_DEMAND)
		return RT_EXCEPTION_CONTINUE_SEARCH;
	if (*st & MM_P_COMMITTED)
		return access_allowed(*st, err) ? RT_EXCEPTION_CONTINUE : RT_EXCEPTION_CONTINUE_SEARCH;
	if (!(err & PF_SGX)) {
		/*
		 * A read or write of a page not there, and no SGX bit: the driver
		 * could not EAUG it (Linux's SIGBUS when no EPC page can be had,
		 * reported by the vDSO as this #PF).  The access made again gives
		 * it another chance; a fault that keeps coming back is stopped by
		 * the loader (the same exception repeated after being handled).
		 */
		return (err & (PF_P | PF_I)) ? RT_EXCEPTION_CONTINUE_SEARCH : RT_EXCEPTION_CONTINUE;
	}
	if (g->flags & RT_MM_GROWSDOWN) {
		if (lo == g->start)
			return RT_EXCEPTION_CONTINUE_SEARCH;
		while (hi < g->end && !page_busy(mm, hi))
			hi += MM_PAGE;
	}
	uint64_t n = (hi - lo) / MM_PAGE;
	uint64_t ok = mm_accept(mm, lo, n, SGX_SECINFO_PT(SGX_PT_REG) | MM_RW | SGX_SECINFO_PENDING);
	for (uint64_t i = 0; i < ok; i++)
		st[i] = MM_P_COMMITTED | MM_RW;
	mm->stats.demand_faults += ok;
	return ok ? RT_EXCEPTION_CONTINUE : RT_EXCEPTION_CONTINUE_SEARCH;
}

static int mm_exception(struct rt_exception *e)
{
	struct rt_mm *mm = &default_mm;
	if (e->rip == (uintptr_t)rt_mm_enclu_site) {
		e->gpr->rax = MM_ENCLU_FAULT | e->vector;
		e->gpr->rflags |= RFLAGS_ZF;
		e->gpr->rip = (uintptr_t)rt_mm_enclu_resume;
		return RT_EXCEPTION_CONTINUE;
	}
	if (__atomic_load_n(&mm->state, __ATOMIC_ACQUIRE) != MM_READY || e->vector != X86_PF || !e->exinfo)
		return RT_EXCEPTION_CONTINUE_SEARCH;
	uint64_t a = e->address;
	if (a < mm->dyn_start || a >= mm->dyn_end || __atomic_load_n(&mm->owner, __ATOMIC_RELAXED) == rt_thread_self())
		return RT_EXCEPTION_CONTINUE_SEARCH;
	mm_lock(mm);
	int i = find_region(mm, a);
	if (i >= 0 && mm->regions[i].handler) {
		rt_mm_fault_handler fn = mm->regions[i].handler;
		void *priv = mm->regions[i].priv;
		mm_unlock(mm);
		if (fn(mm, a, e->error_code, priv) == RT_EXCEPTION_CONTINUE)
			return RT_EXCEPTION_CONTINUE;
		mm_lock(mm);
		i = find_region(mm, a);
	}
	int v = i >= 0 ? demand(mm, &mm->regions[i], a, e->error_code) : RT_EXCEPTION_CONTINUE_SEARCH;
	mm_unlock(mm);
	return v;
}

/* ---- creation ---- */

/* Set up the default manager.  Return: MM_READY, MM_NONE (never possible), MM_NEW (not now: heap or handlers full). */
static enum mm_state create(struct rt_mm *mm)
{
	const struct sgxemu_layout *l = rt_layout();
	if (!l || !(l->flags & SGXEMU_LAYOUT_EDMM) || (!l->dyn_size && !l->n_dyn_threads))
		return MM_NONE;
	uint64_t base = rt_base();
	mm->dyn_start = base + l->dyn_offset;
	mm->dyn_end = mm->dyn_start + l->dyn_size;
	mm->thr_start = base + l->tcs_dyn_offset;
	mm->thr_stride = l->thread_stride;
	mm->n_thr = l->n_dyn_threads;
	mm->augment = rt_host_augment();
	mm->page = l->dyn_size ? calloc(l->dyn_size / MM_PAGE, 1) : NULL;
	mm->slot = l->n_dyn_threads ? calloc(l->n_dyn_threads, 1) : NULL;
	if ((l->dyn_size && !mm->page) || (l->n_dyn_threads && !mm->slot) || rt_exception_register(mm_exception)) {
		free(mm->page);
		free(mm->slot);
		mm->page = mm->slot = NULL;
		return MM_NEW;
	}
	return MM_READY;
}

struct rt_mm *rt_mm_default(void)
{
	struct rt_mm *mm = &default_mm;
	for (;;) {
		uint32_t s = __atomic_load_n(&mm->state, __ATOMIC_ACQUIRE);
		if (s == MM_READY)
			return mm;
		if (s == MM_NONE)
			return NULL;
		if (s == MM_CREATING) {
			__asm__ volatile("pause");
			continue;
		}
		/* The heap is off limits in an exception handler: no creation there. */
		if (!mm_can_ocall())
			return NULL;
		if (!__atomic_compare_exchange_n(&mm->state, &s, MM_CREATING, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_ACQUIRE))
			continue;
		s = create(mm);
		__atomic_store_n(&mm->state, s, __ATOMIC_RELEASE);
		return s == MM_READY ? mm : NULL;
	}
}
