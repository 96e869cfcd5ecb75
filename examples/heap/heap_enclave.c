/* SPDX-License-Identifier: MIT */
/*
 * The heap enclave: a heap that grows and shrinks at run time with the EDMM
 * memory manager (heap_abi.h).  Growing commits pages now (rt_mm_commit:
 * EAUG + EACCEPT before use) or on demand (the first write faults, the
 * manager's exception handler EACCEPTs the page the driver EAUG'd);
 * shrinking uncommits them (EMODT to TRIM, EACCEPT, EREMOVE).  The host runs
 * it in an EPC smaller than the heap's peak, so the driver's reclaimer
 * evicts pages (EWB) and loads them back (ELDU) behind the enclave's back:
 * the pattern check shows that nothing is lost.
 */
#include "heap_abi.h"
#include "sgxemu/emm.h"
#include "sgxemu/rt.h"

static uint64_t region;	     /* linear address, 0 if none */
static uint64_t region_size; /* bytes */
static uint64_t used;	     /* bytes in use from region */

/* The value of the word at heap offset o: a mix of o, never 0. */
static uint64_t pattern(uint64_t o)
{
	uint64_t z = o + 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z ? z : 1;
}

static uint64_t off(uint64_t addr)
{
	return addr - rt_base();
}

static void fill_out(struct heap_step *s)
{
	struct rt_mm_stats st;
	rt_mm_get_stats(rt_mm_default(), &st);
	s->region_offset = region ? off(region) : 0;
	s->region_bytes = region_size;
	s->size = used;
	s->committed_bytes = st.committed_bytes;
	s->demand_faults = st.demand_faults;
	s->eaccepts = st.eaccepts;
}

static int copy_in(void *arg, uint64_t len, struct heap_step *s)
{
	if (len != sizeof(*s))
		return -RT_EINVAL;
	memcpy(s, arg, sizeof(*s));
	if (!rt_mm_default())
		return -RT_ENOSYS;
	return 0;
}

static int64_t done(void *arg, struct heap_step *s, int rc)
{
	fill_out(s);
	memcpy(arg, s, sizeof(*s));
	return rc;
}

static int64_t ec_reserve(void *arg, uint64_t len)
{
	struct heap_step s;
	int rc = copy_in(arg, len, &s);
	if (rc)
		return rc;
	if (region)
		return -RT_EBUSY;
	uint64_t addr = 0;
	rc = rt_mm_alloc(rt_mm_default(), 0, s.bytes, RT_MM_COMMIT_ON_DEMAND | RT_MM_PROT_READ | RT_MM_PROT_WRITE, NULL,
			 NULL, &addr);
	if (rc) {
		rt_print("    enclave: rt_mm_alloc(COMMIT_ON_DEMAND, %llu KiB) failed: %d\n",
			 (unsigned long long)(s.bytes >> 10), rc);
		return done(arg, &s, rc);
	}
	region = addr;
	region_size = s.bytes;
	used = 0;
	rt_print("    enclave: rt_mm_alloc(COMMIT_ON_DEMAND, RW, %llu KiB) = +0x%llx: nothing committed yet\n",
		 (unsigned long long)(s.bytes >> 10), (unsigned long long)off(addr));
	return done(arg, &s, 0);
}

static int64_t ec_grow(void *arg, uint64_t len)
{
	struct heap_step s;
	int rc = copy_in(arg, len, &s);
	if (rc)
		return rc;
	if (!region || !s.bytes || s.bytes % SGXEMU_PAGE || s.bytes > region_size - used ||
	    (s.mode != HEAP_COMMIT_NOW && s.mode != HEAP_COMMIT_ON_DEMAND))
		return -RT_EINVAL;
	struct rt_mm_stats before, after;
	rt_mm_get_stats(rt_mm_default(), &before);
	uint64_t start = region + used;
	if (s.mode == HEAP_COMMIT_NOW) {
		rc = rt_mm_commit(rt_mm_default(), start, s.bytes);
		if (rc) {
			rt_print("    enclave: rt_mm_commit(+0x%llx, %llu pages) failed: %d\n",
				 (unsigned long long)off(start), (unsigned long long)(s.bytes / SGXEMU_PAGE), rc);
			return done(arg, &s, rc);
		}
	}
	/* New pages come from EAUG, which zero-fills: look at them before writing. */
	uint64_t *w = (uint64_t *)(uintptr_t)start;
	uint64_t nonzero = 0;
	for (uint64_t i = 0; i < s.bytes / 8; i++) {
		if (w[i])
			nonzero++;
		w[i] = pattern(used + i * 8);
	}
	rt_mm_get_stats(rt_mm_default(), &after);
	used += s.bytes;
	s.fresh_nonzero = nonzero;
	if (s.mode == HEAP_COMMIT_NOW)
		rt_print("    enclave: rt_mm_commit(+0x%llx, %llu pages): %llu x EACCEPT before the first write\n",
			 (unsigned long long)off(start), (unsigned long long)(s.bytes / SGXEMU_PAGE),
			 (unsigned long long)(after.eaccepts - before.eaccepts));
	else
		rt_print("    enclave: wrote +0x%llx..+0x%llx: %llu pages committed on demand (first write faulted, "
			 "the handler EACCEPTed the page)\n",
			 (unsigned long long)off(start), (unsigned long long)off(start + s.bytes),
			 (unsigned long long)(after.demand_faults - before.demand_faults));
	rt_print("    enclave: the %llu new pages read zero before the first write: %s\n",
		 (unsigned long long)(s.bytes / SGXEMU_PAGE), nonzero ? "NO" : "yes");
	return done(arg, &s, 0);
}

static int64_t ec_shrink(void *arg, uint64_t len)
{
	struct heap_step s;
	int rc = copy_in(arg, len, &s);
	if (rc)
		return rc;
	if (!region || !s.bytes || s.bytes % SGXEMU_PAGE || s.bytes > used)
		return -RT_EINVAL;
	struct rt_mm_stats before, after;
	rt_mm_get_stats(rt_mm_default(), &before);
	uint64_t start = region + used - s.bytes;
	rc = rt_mm_uncommit(rt_mm_default(), start, s.bytes);
	rt_mm_get_stats(rt_mm_default(), &after);
	if (rc) {
		rt_print("    enclave: rt_mm_uncommit(+0x%llx, %llu pages) failed: %d\n",
			 (unsigned long long)off(start), (unsigned long long)(s.bytes / SGXEMU_PAGE), rc);
		return done(arg, &s, rc);
	}
	used -= s.bytes;
	rt_print("    enclave: rt_mm_uncommit(+0x%llx, %llu pages): %llu x EACCEPT of TRIM pages\n",
		 (unsigned long long)off(start), (unsigned long long)(s.bytes / SGXEMU_PAGE),
		 (unsigned long long)(after.eaccepts - before.eaccepts));
	return done(arg, &s, 0);
}

static int64_t ec_check(void *arg, uint64_t len)
{
	struct heap_step s;
	int rc = copy_in(arg, len, &s);
	if (rc)
		return rc;
	if (!region)
		return -RT_EINVAL;
	const uint64_t *w = (const uint64_t *)(uintptr_t)region;
	uint64_t bad = 0, first = 0;
	for (uint64_t i = 0; i < used / 8; i++) {
		if (w[i] != pattern(i * 8)) {
			if (!bad)
				first = i * 8;
			bad++;
		}
	}
	s.bad_words = bad;
	s.first_bad = first;
	if (bad)
		rt_print("    enclave: %llu of %llu words are wrong, the first at heap offset 0x%llx\n",
			 (unsigned long long)bad, (unsigned long long)(used / 8), (unsigned long long)first);
	else
		rt_print("    enclave: all %llu words of the %llu KiB heap hold their pattern\n",
			 (unsigned long long)(used / 8), (unsigned long long)(used >> 10));
	return done(arg, &s, 0);
}

static int64_t ec_release(void *arg, uint64_t len)
{
	struct heap_step s;
	int rc = copy_in(arg, len, &s);
	if (rc)
		return rc;
	if (!region)
		return -RT_EINVAL;
	uint64_t start = region;
	rc = rt_mm_dealloc(rt_mm_default(), region, region_size);
	if (rc) {
		rt_print("    enclave: rt_mm_dealloc(+0x%llx) failed: %d\n", (unsigned long long)off(start), rc);
		return done(arg, &s, rc);
	}
	rt_print("    enclave: rt_mm_dealloc(+0x%llx, %llu KiB): the region is gone\n", (unsigned long long)off(start),
		 (unsigned long long)(region_size >> 10));
	region = 0;
	region_size = 0;
	used = 0;
	return done(arg, &s, 0);
}

RT_ECALLS(ec_reserve, ec_grow, ec_shrink, ec_check, ec_release);
