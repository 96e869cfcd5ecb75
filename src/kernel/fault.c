/* SPDX-License-Identifier: MIT */
/*
 * The page-fault handler of enclave VMAs (spec/linux-driver.md §5) and the
 * dynamic add it shares with SGX_IOC_ENCLAVE_AUGMENT_PAGES.
 *
 * Where Linux returns VM_FAULT_NOPAGE because no EPC frame was free (the
 * access faults again while ksgxd frees frames), we run the reclaimer
 * ourselves and retry at once.  That reclaim leaves every thread's fault
 * working set in the EPC (docs/kernel.md "EPC too small"): if only those
 * pages, pinned pages or nothing could make room, the fault cannot make
 * progress and is a SIGBUS rather than an endless exchange of pages.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/*
 * Attempts at one fault.  A fault needs three frames at most (the SECS, a
 * VA page for a new page, the page), and every reclaim round but a failed
 * one frees a frame at least, which stays ours unless another thread's
 * ioctl takes it: eight leave room for a few lost that way.  Past them the
 * access just faults again (VM_FAULT_NOPAGE), from the enclave's side.
 */
#define FAULT_RETRIES 8

/* Yields while another reclaimer finishes with the faulting page (far more than one batch needs). */
#define FAULT_WAITS 100000

/* ---- fault working sets ---- */

/* The calling thread's name in k->ws, given at its first fault (0: none yet). */
static _Thread_local uint64_t ws_token;
static atomic_uint_fast64_t ws_tokens = 1;

/* The calling thread's working set; claim: take a slot if it has none (k->ws_lock held). */
static struct fault_ws *ws_slot(struct sgxk *k, bool claim)
{
	if (!ws_token) {
		if (!claim)
			return NULL;
		ws_token = atomic_fetch_add(&ws_tokens, 1);
	}
	struct fault_ws *free_slot = NULL, *oldest = NULL;
	for (unsigned i = 0; i < FAULT_WS_THREADS; i++) {
		struct fault_ws *w = &k->ws[i];
		if (w->owner == ws_token)
			return w;
		if (!w->owner) {
			if (!free_slot)
				free_slot = w;
		} else if (!oldest || w->last < oldest->last) {
			oldest = w;
		}
	}
	if (!claim)
		return NULL;
	/* All taken: the thread that faulted least recently is the least likely to be amid an instruction. */
	struct fault_ws *w = free_slot ? free_slot : oldest;
	memset(w, 0, sizeof(*w));
	w->owner = ws_token;
	return w;
}

static void ws_remove(struct fault_ws *w, const struct sgx_encl *e, uint64_t addr)
{
	for (unsigned i = 0; i < w->n; i++) {
		if (w->pages[i].encl == e && w->pages[i].addr == addr) {
			memmove(&w->pages[i], &w->pages[i + 1], (w->n - i - 1) * sizeof(w->pages[0]));
			w->n--;
			return;
		}
	}
}

/* The page a fault brought in becomes the latest of the thread's working set; the oldest may drop out. */
static void ws_push(struct fault_ws *w, const struct sgx_encl *e, uint64_t addr)
{
	ws_remove(w, e, addr);
	if (w->n == FAULT_WS_PAGES)
		w->n--;
	memmove(&w->pages[1], &w->pages[0], w->n * sizeof(w->pages[0]));
	w->pages[0] = (struct ws_page){.encl = e, .addr = addr};
	w->n++;
}

bool fault_ws_holds(struct sgxk *k, const struct encl_page *p, uint64_t owner)
{
	for (unsigned i = 0; i < FAULT_WS_THREADS; i++) {
		const struct fault_ws *w = &k->ws[i];
		if (!w->owner || (owner && w->owner != owner))
			continue;
		unsigned n = w->n < w->span ? w->n : w->span;
		for (unsigned j = 0; j < n; j++)
			if (w->pages[j].encl == p->encl && w->pages[j].addr == p->addr)
				return true;
	}
	return false;
}

void fault_ws_drop(struct sgxk *k)
{
	pthread_mutex_lock(&k->ws_lock);
	struct fault_ws *w = ws_slot(k, false);
	if (w)
		memset(w, 0, sizeof(*w));
	pthread_mutex_unlock(&k->ws_lock);
}

/*
 * A fault on addr starts: the page is not resident (or has no PTE), so it
 * leaves the working set while it is loaded, and the span protects the
 * pages the instruction needs besides it: TCS, SSA frame, code and up to
 * three ENCLU operands.
 */
static uint64_t ws_begin(struct sgxk *k, const struct sgx_encl *e, uint64_t addr)
{
	unsigned span = 4 + (e->ssa_pages ? e->ssa_pages : 1);
	pthread_mutex_lock(&k->ws_lock);
	struct fault_ws *w = ws_slot(k, true);
	ws_remove(w, e, addr);
	w->span = span < FAULT_WS_PAGES ? span : FAULT_WS_PAGES;
	w->last = ++k->fault_seq;
	pthread_mutex_unlock(&k->ws_lock);
	return w->owner;
}

/* The fault brought addr in. */
static void ws_done(struct sgxk *k, const struct sgx_encl *e, uint64_t addr)
{
	pthread_mutex_lock(&k->ws_lock);
	ws_push(ws_slot(k, true), e, addr);
	pthread_mutex_unlock(&k->ws_lock);
}

/* Insert p's PTE and give its host page the protection it may have (encl->lock held). */
static void insert_pte(struct sgx_encl *e, struct encl_page *p)
{
	pthread_mutex_lock(&e->k->pt_lock);
	p->pte = true;
	pt_changed(e->k);
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
		/*
		 * The PTE, in the same step as the VMA check.  The host page keeps
		 * the protection a new page starts with, PROT_NONE, which is the
		 * one a PENDING page has: nothing to refresh until EACCEPT.
		 */
		pthread_mutex_lock(&k->pt_lock);
		struct sgx_vma *v = vma_find(k, addr);
		if (v && v->encl == e && !(v->prot & ~max_prot) && policy_prot_allowed(e, p, v->prot)) {
			p->pte = true;
			pt_changed(k);
		}
		pthread_mutex_unlock(&k->pt_lock);
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

/*
 * The sigbus kind: one EAUG on a fault in chaos_sigbus_every finds no EPC,
 * as when Linux's sgx_encl_eaug_page gets -ENOMEM from sgx_alloc_epc_page
 * (nothing reclaimable): the fault is a SIGBUS.  The next EAUG on a fault
 * at the same page is never injected, so the access that retries gets on.
 * Runs in exec's signal handler: the line is formatted in a buffer (as the
 * checker's messages are) and written with write(2), not stdio.
 */
bool chaos_sigbus(struct sgx_encl *e, uint64_t addr)
{
	struct sgxk *k = e->k;
	if (!k->cfg.chaos_sigbus_every)
		return false;
	bool inject = false;
	uint64_t n = 0;
	pthread_mutex_lock(&k->chaos_lock);
	if (k->chaos_sigbus_last == addr) {
		k->chaos_sigbus_last = 0;
	} else if (chaos_next(k) % k->cfg.chaos_sigbus_every == 0) {
		inject = true;
		k->chaos_sigbus_last = addr;
		n = k->chaos_sigbus_count++;
	}
	pthread_mutex_unlock(&k->chaos_lock);
	if (!inject)
		return false;
	const struct sgxk_obs *o = __atomic_load_n(&sgxk_obs, __ATOMIC_RELAXED);
	if (o && o->chaos_sigbus)
		o->chaos_sigbus(k, addr);
	if (!k->cfg.chaos_quiet) {
		char line[160];
		int len =
		    snprintf(line, sizeof(line),
			     "sgxemu: chaos: sigbus #%llu: EAUG on the fault at enclave+%#llx found no EPC: SIGBUS\n",
			     (unsigned long long)n, (unsigned long long)(addr - e->base));
		int saved = errno;
		ssize_t w = write(STDERR_FILENO, line, (size_t)len);
		(void)w;
		errno = saved;
	}
	return true;
}

enum fault_step { STEP_DONE, STEP_SIGBUS, STEP_RECLAIM, STEP_WAIT };

/*
 * One attempt at resolving the fault (encl->lock held); *how: what fixed it.
 * *drawn: chaos mode's sigbus kind decided for this fault already.
 */
static enum fault_step fault_once(struct sgx_encl *e, uint64_t addr, int vprot, enum sgxk_fault_how *how, bool *drawn)
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
		/* Decided once per fault, whatever the attempts its reclaims take. */
		if (!*drawn) {
			*drawn = true;
			if (chaos_sigbus(e, addr))
				return STEP_SIGBUS;
		}
		int ret = encl_augment(e, addr, e->dyn_max_prot, false);
		if (ret == -EBUSY)
			return STEP_RECLAIM;
		if (ret)
			return STEP_SIGBUS;
		insert_pte(e, encl_page_at(e, addr));
		encl_req_note(e, encl_page_at(e, addr), REQ_FAULT);
		*how = SGXK_FAULT_HOW_EAUG;
		return STEP_DONE;
	}
	if ((vprot & ~p->max_prot) || !policy_prot_allowed(e, p, vprot))
		return STEP_SIGBUS;
	int err = 0;
	bool resident = p->resident;
	p = encl_load_page(e, addr, &err);
	if (!p) {
		/* Being evicted right now: wait for the reclaimer to finish, then load it. */
		if (err == -EAGAIN)
			return STEP_WAIT;
		return err == -EBUSY ? STEP_RECLAIM : STEP_SIGBUS;
	}
	insert_pte(e, p);
	*how = resident ? SGXK_FAULT_HOW_PTE : SGXK_FAULT_HOW_ELDU;
	return STEP_DONE;
}

/* ---- observation ---- */

const struct sgxk_obs *sgxk_obs;

void sgxk_obs_set(const struct sgxk_obs *o)
{
	__atomic_store_n(&sgxk_obs, o, __ATOMIC_RELEASE);
}

/* The end of a fault that started at t0 (sgxk_obs_begin). */
static enum sgxk_fault fault_done(struct sgxk *k, uint64_t addr, uint32_t errcode, enum sgxk_fault f,
				  enum sgxk_fault_how how, uint64_t t0)
{
	if (__builtin_expect(t0 != 0, 0)) {
		const struct sgxk_obs *o = __atomic_load_n(&sgxk_obs, __ATOMIC_RELAXED);
		if (o)
			o->fault(k, addr, errcode, f, f == SGXK_FAULT_FIXED ? how : SGXK_FAULT_HOW_NONE, t0);
	}
	return f;
}

enum sgxk_fault sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode)
{
	uint64_t t0 = sgxk_obs_begin();
	enum sgxk_fault_how how = SGXK_FAULT_HOW_NONE;
	addr &= ~(KPAGE - 1);
	/* Frames given memory ahead of an EAUG or ELDU in order get it after our locks, not under them. */
	hw_epc_readahead_hold(true);
	pthread_mutex_lock(&k->mm_lock);
	int vprot;
	struct sgx_encl *e = vma_encl_at(k, addr, &vprot);
	/* Not an enclave VMA, or an access the VMA forbids: the generic mm's SIGSEGV. */
	if (!e || !vma_allows(vprot, errcode)) {
		pthread_mutex_unlock(&k->mm_lock);
		hw_epc_readahead_hold(false);
		return fault_done(k, addr, errcode, SGXK_FAULT_SIGSEGV, how, t0);
	}
	struct reclaim_keep keep = {.encl = e, .ws = KEEP_ALL_WS, .owner = ws_begin(k, e, addr)};
	enum fault_step s = STEP_RECLAIM;
	unsigned waits = 0;
	bool drawn = false;
	for (unsigned i = 0; i < FAULT_RETRIES && (s == STEP_RECLAIM || s == STEP_WAIT); i++) {
		pthread_mutex_lock(&e->lock);
		s = fault_once(e, addr, vprot, &how, &drawn);
		pthread_mutex_unlock(&e->lock);
		if (s == STEP_WAIT) {
			/*
			 * Another reclaimer has the page between EBLOCK and EWB.
			 * Returning at once (Linux's VM_FAULT_NOPAGE) would make
			 * the access fault again right away, as often as the
			 * batch takes; waiting here is bounded by that batch: at
			 * most SGX_NR_TO_SCAN EWBs, an ETRACK and the kicks of
			 * threads in enclave mode, which leave at once (this one
			 * is not in enclave mode: its fault came after the AEX).
			 * The reclaimer is never another fault (mm_lock is ours).
			 */
			if (++waits > FAULT_WAITS) {
				s = STEP_DONE; /* the access faults again */
				break;
			}
			i--;
			sched_yield();
			continue;
		}
		if (s != STEP_RECLAIM)
			break;
		/* First what no thread's instruction needs, a batch as Linux's; else one page of another's. */
		keep.ws = KEEP_ALL_WS;
		if (reclaim_pages(k, SGX_NR_TO_SCAN, &keep) != 0)
			continue;
		keep.ws = KEEP_OWN_WS;
		if (reclaim_pages(k, 1, &keep) != 0)
			continue;
		/*
		 * Nothing could go but pages this thread's instruction needs,
		 * pinned pages, or pages of threads that stay inside: the fault
		 * cannot make progress.  Unless another reclaimer is about to
		 * free frames, or did already: then try again.
		 */
		if (reclaim_in_progress(k) || hw_epc_frames_free(k->m) != 0)
			sched_yield();
		else
			s = STEP_SIGBUS;
	}
	if (s == STEP_DONE)
		ws_done(k, e, addr);
	pthread_mutex_unlock(&k->mm_lock);
	hw_epc_readahead_hold(false);
	/* Still STEP_RECLAIM: others took the frames freed for us; the access faults again (VM_FAULT_NOPAGE). */
	return fault_done(k, addr, errcode, s == STEP_SIGBUS ? SGXK_FAULT_SIGBUS : SGXK_FAULT_FIXED, how, t0);
}
