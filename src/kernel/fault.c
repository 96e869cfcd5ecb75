/* SPDX-License-Identifier: MIT */
/*
 * The page-fault handler of enclave VMAs (spec/linux-driver.md §5) and the
 * dynamic add it shares with SGX_IOC_ENCLAVE_AUGMENT_PAGES.
 *
 * Where Linux returns VM_FAULT_NOPAGE because no EPC frame was free (the
 * access faults again while ksgxd frees frames), we run the reclaimer
 * ourselves and retry at once; if nothing can be reclaimed the fault is a
 * SIGBUS rather than an endless retry.
 */
#include <stdlib.h>

#include "internal.h"

#define FAULT_RETRIES 8

/* Insert p's PTE and give its host page the protection it may have (encl->lock held). */
static void insert_pte(struct sgx_encl *e, struct encl_page *p)
{
	pthread_mutex_lock(&e->k->pt_lock);
	p->pte = true;
	pthread_mutex_unlock(&e->k->pt_lock);
	vma_refresh_page(e, p);
}

int encl_augment(struct sgx_encl *e, uint64_t addr, uint8_t max_prot, bool pte)
{
	struct sgxk *k = e->k;
	if (encl_page_at(e, addr))
		return -EEXIST;
	int ret = encl_eldu_secs(e);
	if (ret)
		return ret;
	struct encl_page *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct encl_page){.encl = e, .addr = addr, .type = SGX_PT_REG, .max_prot = max_prot, .dynamic = true};
	ret = sgx_epc_get(k, false);
	if (ret)
		goto err_free;
	ret = encl_grow(e);
	if (ret)
		goto err_epc;
	ret = encl_page_insert(e, p);
	if (ret)
		goto err_shrink;
	struct sgx_pageinfo pi = {.linaddr = addr, .secs = e->secs_pa};
	struct hw_result r = encls_eaug(k->m, NULL, (uint64_t)(uintptr_t)&pi, encl_frame(e, addr));
	if (!hw_is_ok(r)) {
		encl_page_remove(e, p);
		encl_shrink(e);
		sgx_epc_put(k);
		return -EFAULT;
	}
	p->resident = true;
	e->children++;
	lru_add(k, p);
	if (pte) {
		pthread_mutex_lock(&k->pt_lock);
		struct sgx_vma *v = vma_find(k, addr);
		bool mapped = v && v->encl == e && !(v->prot & ~max_prot) && policy_prot_allowed(e, p, v->prot);
		pthread_mutex_unlock(&k->pt_lock);
		if (mapped)
			insert_pte(e, p);
	}
	return 0;

err_shrink:
	encl_shrink(e);
err_epc:
	sgx_epc_put(k);
err_free:
	free(p);
	return ret;
}

/* Does a VMA with prot allow an access with #PF error code err? */
static bool vma_allows(int prot, uint32_t err)
{
	if (err & PF_W)
		return prot & PROT_WRITE;
	if (err & PF_I)
		return prot & PROT_EXEC;
	return prot != PROT_NONE;
}

enum fault_step { STEP_DONE, STEP_SIGBUS, STEP_RECLAIM };

/* One attempt at resolving the fault (encl->lock held). */
static enum fault_step fault_once(struct sgx_encl *e, uint64_t addr, int vprot)
{
	struct sgxk *k = e->k;
	if (!encl_in_range(e, addr))
		return STEP_SIGBUS;
	struct encl_page *p = encl_page_at(e, addr);
	if (!p) {
		/* Dynamic add: only SGX2, only after INIT, and within the policy's ceiling. */
		if (!k->sgx2 || !(e->flags & ENCL_INITIALIZED))
			return STEP_SIGBUS;
		const struct encl_page dyn = {.dynamic = true};
		if ((vprot & ~e->dyn_max_prot) || !policy_prot_allowed(e, &dyn, vprot))
			return STEP_SIGBUS;
		int ret = encl_augment(e, addr, e->dyn_max_prot, false);
		if (ret == -EBUSY)
			return STEP_RECLAIM;
		if (ret)
			return STEP_SIGBUS;
		insert_pte(e, encl_page_at(e, addr));
		return STEP_DONE;
	}
	if ((vprot & ~p->max_prot) || !policy_prot_allowed(e, p, vprot))
		return STEP_SIGBUS;
	int err = 0;
	p = encl_load_page(e, addr, &err);
	if (!p) {
		/* Being evicted right now: the access simply faults again. */
		if (err == -EAGAIN)
			return STEP_DONE;
		return err == -EBUSY ? STEP_RECLAIM : STEP_SIGBUS;
	}
	insert_pte(e, p);
	return STEP_DONE;
}

enum sgxk_fault sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode)
{
	addr &= ~(KPAGE - 1);
	pthread_mutex_lock(&k->mm_lock);
	int vprot;
	struct sgx_encl *e = vma_encl_at(k, addr, &vprot);
	/* Not an enclave VMA, or an access the VMA forbids: the generic mm's SIGSEGV. */
	if (!e || !vma_allows(vprot, errcode)) {
		pthread_mutex_unlock(&k->mm_lock);
		return SGXK_FAULT_SIGSEGV;
	}
	enum fault_step s = STEP_RECLAIM;
	for (unsigned i = 0; i < FAULT_RETRIES && s == STEP_RECLAIM; i++) {
		pthread_mutex_lock(&e->lock);
		s = fault_once(e, addr, vprot);
		pthread_mutex_unlock(&e->lock);
		if (s == STEP_RECLAIM && sgxk_reclaim(k, SGX_NR_TO_SCAN) == 0)
			s = STEP_SIGBUS;
	}
	pthread_mutex_unlock(&k->mm_lock);
	return s == STEP_DONE ? SGXK_FAULT_FIXED : SGXK_FAULT_SIGBUS;
}
