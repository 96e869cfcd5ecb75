/* SPDX-License-Identifier: MIT */
/*
 * The threads enclave: threads created at run time (threads_abi.h).
 * rt_mm_thread_add commits a thread area of the layout's dynamic thread
 * reserve (stack, SSA frames, thread data: EAUG + EACCEPT), writes the TCS
 * and turns its page into a TCS (EMODT through the host, EACCEPT); the
 * host then enters through it.  rt_mm_thread_remove trims the area again.
 */
#include "sgxemu/emm.h"
#include "sgxemu/rt.h"
#include "threads_abi.h"

static int64_t ec_add(void *arg, uint64_t len)
{
	struct th_add a = {0};
	if (len != sizeof(a))
		return -RT_EINVAL;
	struct rt_mm *mm = rt_mm_default();
	if (!mm)
		return -RT_ENOSYS;
	struct rt_mm_stats before, after;
	rt_mm_get_stats(mm, &before);
	uint64_t tcs = 0;
	int rc = rt_mm_thread_add(mm, &tcs);
	rt_mm_get_stats(mm, &after);
	if (rc) {
		rt_print("    enclave: rt_mm_thread_add failed: %d\n", rc);
		return rc;
	}
	a.tcs = tcs;
	a.tcs_offset = tcs - rt_base();
	a.eaccepts = after.eaccepts - before.eaccepts;
	a.modify_types = after.ocalls_modify_type - before.ocalls_modify_type;
	rt_print("    enclave: rt_mm_thread_add: TCS at +0x%llx (%llu x EACCEPT: stack, SSA frames, thread data, "
		 "and the TCS page after its EMODT)\n",
		 (unsigned long long)a.tcs_offset, (unsigned long long)a.eaccepts);
	memcpy(arg, &a, sizeof(a));
	return 0;
}

static bool is_prime(uint64_t n)
{
	if (n < 2)
		return false;
	for (uint64_t d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

static int64_t ec_work(void *arg, uint64_t len)
{
	struct th_work w;
	if (len != sizeof(w))
		return -RT_EINVAL;
	memcpy(&w, arg, sizeof(w));
	if (w.hi < w.lo || w.hi - w.lo > (1u << 24))
		return -RT_EINVAL;
	/* A heap buffer per call: the allocator is shared by every thread. */
	uint8_t *flags = malloc(w.hi - w.lo + 1);
	if (!flags)
		return -RT_ENOMEM;
	for (uint64_t n = w.lo; n < w.hi; n++)
		flags[n - w.lo] = is_prime(n);
	uint64_t count = 0;
	for (uint64_t n = w.lo; n < w.hi; n++)
		count += flags[n - w.lo];
	free(flags);
	const struct sgxemu_thread_data *td = rt_thread_data();
	volatile uint64_t local = 0;
	w.primes = count;
	w.thread_index = td->thread_index;
	w.tcs_offset = td->tcs_offset;
	w.stack_offset = (uint64_t)(uintptr_t)&local - rt_base();
	memcpy(arg, &w, sizeof(w));
	return 0;
}

static int64_t ec_remove(void *arg, uint64_t len)
{
	struct th_remove r;
	if (len != sizeof(r))
		return -RT_EINVAL;
	memcpy(&r, arg, sizeof(r));
	struct rt_mm *mm = rt_mm_default();
	if (!mm)
		return -RT_ENOSYS;
	struct rt_mm_stats before, after;
	rt_mm_get_stats(mm, &before);
	int rc = rt_mm_thread_remove(mm, r.tcs);
	rt_mm_get_stats(mm, &after);
	if (rc) {
		rt_print("    enclave: rt_mm_thread_remove(+0x%llx) failed: %d\n",
			 (unsigned long long)(r.tcs - rt_base()), rc);
		return rc;
	}
	r.eaccepts = after.eaccepts - before.eaccepts;
	rt_print("    enclave: rt_mm_thread_remove(+0x%llx): %llu x EACCEPT of TRIM pages\n",
		 (unsigned long long)(r.tcs - rt_base()), (unsigned long long)r.eaccepts);
	memcpy(arg, &r, sizeof(r));
	return 0;
}

RT_ECALLS(ec_add, ec_work, ec_remove);
