/* SPDX-License-Identifier: MIT */
/*
 * Threads created at run time (docs/emm.md): a thread area of the layout's
 * dynamic thread reserve gets its stack, TCS, SSA frames and thread data
 * committed, the TCS and thread data written the way the image builder
 * writes static ones (src/sdk/image.c, docs/layout.md), and its TCS page
 * turned into a TCS (EMODT through the host, EACCEPT).  Removal trims the
 * whole area.
 */
#include "emm_int.h"

/* The area of slot i. */
static uint64_t slot_area(const struct rt_mm *mm, uint32_t i)
{
	return mm->thr_start + (uint64_t)i * mm->thr_stride;
}

/* Pages of an area that are committed: everything but the guard page. */
static uint64_t area_pages(const struct sgxemu_layout *l)
{
	return (SGXEMU_TA_SIZE(l) - SGXEMU_TA_STACK(l)) / MM_PAGE;
}

/* Write the TCS and the thread data of slot i (committed RW pages, zero-filled by EACCEPT). */
static void write_thread(const struct rt_mm *mm, const struct sgxemu_layout *l, uint32_t i)
{
	uint64_t base = rt_base(), area = slot_area(mm, i), off = area - base;
	struct sgx_tcs *tcs = (struct sgx_tcs *)(uintptr_t)(area + SGXEMU_TA_TCS(l));
	struct sgxemu_thread_data *td = (struct sgxemu_thread_data *)(uintptr_t)(area + SGXEMU_TA_TD(l));
	tcs->ossa = off + SGXEMU_TA_SSA(l);
	tcs->nssa = l->nssa;
	tcs->oentry = l->entry_offset;
	if (l->flags & SGXEMU_LAYOUT_AEXNOTIFY)
		tcs->flags = SGX_TCS_AEXNOTIFY;
	tcs->ofsbase = off + SGXEMU_TA_TD(l);
	tcs->ogsbase = off + SGXEMU_TA_TD(l);
	tcs->fslimit = 0xfff;
	tcs->gslimit = 0xfff;
	td->self_offset = off + SGXEMU_TA_TD(l);
	td->layout_offset = l->layout_offset;
	td->tcs_offset = off + SGXEMU_TA_TCS(l);
	td->ssa_offset = off + SGXEMU_TA_SSA(l);
	td->stack_top_offset = off + SGXEMU_TA_TCS(l);
	td->stack_limit_offset = off + SGXEMU_TA_STACK(l);
	td->thread_index = (uint64_t)l->n_tcs + i;
}

/* Trim the first n pages of slot i's area after a failure; the slot is lost if the host keeps any.  Return: err. */
static int give_back(struct rt_mm *mm, uint32_t i, uint64_t n, int err)
{
	uint64_t gone = 0;
	mm_trim(mm, slot_area(mm, i) + MM_PAGE, n, &gone);
	mm->slot[i] = gone == n ? MM_SLOT_FREE : MM_SLOT_LOST;
	return err;
}

int rt_mm_thread_add(struct rt_mm *mm, uint64_t *tcs)
{
	const struct sgxemu_layout *l = rt_layout();
	if (!mm || !tcs)
		return -RT_EINVAL;
	if (!mm_can_ocall())
		return -RT_EPERM;
	mm_lock(mm);
	uint32_t i = 0;
	while (i < mm->n_thr && mm->slot[i] != MM_SLOT_FREE)
		i++;
	int r = -RT_ENOSPC;
	if (i == mm->n_thr)
		goto out;
	uint64_t area = slot_area(mm, i), first = area + SGXEMU_TA_STACK(l), n = area_pages(l);
	uint64_t t = area + SGXEMU_TA_TCS(l);
	mm->slot[i] = MM_SLOT_USED;
	if ((r = mm_augment(mm, first, n * MM_PAGE, false)) != 0) {
		mm->slot[i] = MM_SLOT_FREE;
		goto out;
	}
	uint64_t ok = mm_accept(mm, first, n, SGX_SECINFO_PT(SGX_PT_REG) | MM_RW | SGX_SECINFO_PENDING);
	if (ok != n) {
		r = give_back(mm, i, ok, -RT_EFAULT);
		goto out;
	}
	write_thread(mm, l, i);
	int64_t h = mm_host(mm, SGXEMU_OCALL_MODIFY_TYPE, t, MM_PAGE, 0, SGX_PT_TCS, NULL);
	if (h) {
		r = give_back(mm, i, n, h == -MM_HOST_EPERM || h == -MM_HOST_EACCES ? -RT_EACCES : -RT_EFAULT);
		goto out;
	}
	if (mm_accept(mm, t, 1, SGX_SECINFO_PT(SGX_PT_TCS) | SGX_SECINFO_MODIFIED) != 1) {
		r = give_back(mm, i, n, -RT_EFAULT);
		goto out;
	}
	*tcs = t;
	r = 0;
out:
	mm_unlock(mm);
	return r;
}

int rt_mm_thread_remove(struct rt_mm *mm, uint64_t tcs)
{
	const struct sgxemu_layout *l = rt_layout();
	if (!mm || tcs < mm->thr_start || tcs - mm->thr_start >= (uint64_t)mm->n_thr * mm->thr_stride ||
	    (tcs - mm->thr_start) % mm->thr_stride != SGXEMU_TA_TCS(l))
		return -RT_EINVAL;
	uint32_t i = (uint32_t)((tcs - mm->thr_start) / mm->thr_stride);
	mm_lock(mm);
	int r = -RT_EINVAL;
	if (mm->slot[i] != MM_SLOT_USED)
		goto out;
	/* The thread's own runtime state: an ECALL running (or waiting for an OCALL) on it keeps it. */
	const struct rt_thread *th =
	    (const struct rt_thread *)(uintptr_t)(slot_area(mm, i) + SGXEMU_TA_TD(l) +
						  offsetof(struct sgxemu_thread_data, runtime));
	r = -RT_EBUSY;
	if (__atomic_load_n(&th->depth, __ATOMIC_ACQUIRE) != 0)
		goto out;
	r = -RT_EPERM;
	if (!mm_can_ocall())
		goto out;
	uint64_t n = area_pages(l), gone = 0;
	r = mm_trim(mm, slot_area(mm, i) + SGXEMU_TA_STACK(l), n, &gone);
	mm->slot[i] = gone == n ? MM_SLOT_FREE : MM_SLOT_LOST;
out:
	mm_unlock(mm);
	return r;
}
