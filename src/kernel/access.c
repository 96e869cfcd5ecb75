/* SPDX-License-Identifier: MIT */
/*
 * A debugger's access to enclave memory: vm_ops->access of an enclave VMA
 * (spec/linux-driver.md §6), what ptrace(PTRACE_PEEKDATA/POKEDATA) and
 * /proc/pid/mem reach through access_remote_vm.  Enclave pages are not
 * readable through the mapping; the driver goes through EDBGRD/EDBGWR, one
 * aligned 8-byte word at a time, each under the enclave mutex.
 *
 * As in Linux, the call covers the whole range with the VMA found at its
 * start (its protection is the one checked against each page's ceiling,
 * and pages are found by address in that VMA's enclave), and a failure
 * makes the whole call fail although the words before it were transferred
 * (and, for a write, written).
 */
#include <sched.h>
#include <string.h>

#include "internal.h"

/*
 * sgx_encl_reserve_page: the page at addr, resident, with e->lock held.
 * Waits while the reclaimer holds the page; reclaims when its reload finds
 * no free frame.  Return: the page, or NULL with e->lock dropped and *err =
 * -EFAULT (no page, VMA above the ceiling, ELDU failed) or -ENOMEM.
 */
static struct encl_page *reserve_page(struct sgx_encl *e, uint64_t addr, int vprot, int *err)
{
	struct sgxk *k = e->k;
	const struct reclaim_keep keep = {.encl = e};
	/*
	 * Bounded: a round ends with the page, an error, a batch that held the
	 * page finished, or a page evicted whose frame others then took; the
	 * last two can only repeat while others keep the EPC busy, and after
	 * SGX_RECLAIM_ROUNDS of them the access gives up as when nothing is
	 * reclaimable.
	 */
	for (unsigned round = 0;; round++) {
		pthread_mutex_lock(&e->lock);
		struct encl_page *p = encl_page_at(e, addr);
		if (!p || (vprot & ~p->max_prot)) {
			pthread_mutex_unlock(&e->lock);
			*err = -EFAULT;
			return NULL;
		}
		p = encl_load_page(e, addr, err);
		if (p)
			return p;
		if (*err == -EAGAIN) {
			/*
			 * Being written back: the reclaimer needs the mutex to finish,
			 * then ELDU brings it back.  The wait ends with its batch, which
			 * waits for nothing this thread holds (a reclaim run by a fault
			 * would hold mm_lock, which this thread has).
			 */
			atomic_fetch_add(&k->test.reclaim_waits, 1);
			while ((p = encl_page_at(e, addr)) && p->being_reclaimed) {
				pthread_mutex_unlock(&e->lock);
				sched_yield();
				pthread_mutex_lock(&e->lock);
			}
		}
		pthread_mutex_unlock(&e->lock);
		if (*err != -EAGAIN && *err != -EBUSY)
			return NULL;
		if (round == SGX_RECLAIM_ROUNDS) {
			*err = -ENOMEM;
			return NULL;
		}
		/* No free frame: Linux waits for ksgxd; the model reclaims now (the SECS stays), or gives up. */
		if (*err == -EBUSY && reclaim_pages(k, SGX_NR_TO_SCAN, &keep) == 0) {
			*err = -ENOMEM;
			return NULL;
		}
	}
}

/* One word: EDBGRD, splice, EDBGWR (e->lock held, page resident). Return: 0 or -EIO. */
static int access_word(struct sgx_encl *e, uint64_t word, size_t off, void *buf, size_t cnt, bool write)
{
	struct sgxk *k = e->k;
	uint64_t pa = encl_frame(e, word), data;
	if (!hw_is_ok(encls_edbgrd(k->m, pa, &data)))
		return -EIO;
	if (!write) {
		memcpy(buf, (uint8_t *)&data + off, cnt);
		return 0;
	}
	memcpy((uint8_t *)&data + off, buf, cnt);
	if (!hw_is_ok(encls_edbgwr(k->m, pa, data)))
		return -EIO;
	return 0;
}

long sgxk_access(struct sgxk *k, uint64_t addr, void *buf, size_t len, bool write)
{
	if (!len)
		return 0;
	if (addr + len < addr)
		return -EFAULT;
	/* access_remote_vm holds the mmap lock: the VMA stays as it is. */
	pthread_mutex_lock(&k->mm_lock);
	int vprot;
	struct sgx_encl *e = vma_encl_at(k, addr, &vprot);
	long ret = -EFAULT;
	if (e) {
		pthread_mutex_lock(&e->lock);
		if (e->flags & ENCL_DEBUG)
			ret = 0;
		pthread_mutex_unlock(&e->lock);
	}
	size_t i, cnt;
	for (i = 0; i < len && !ret; i += cnt) {
		uint64_t a = addr + i, word = a & ~7ULL;
		size_t off = (size_t)(a - word);
		cnt = 8 - off < len - i ? 8 - off : len - i;
		int err = 0;
		if (!reserve_page(e, a & ~(KPAGE - 1), vprot, &err)) {
			ret = err;
			break;
		}
		ret = access_word(e, word, off, (uint8_t *)buf + i, cnt, write);
		pthread_mutex_unlock(&e->lock);
	}
	pthread_mutex_unlock(&k->mm_lock);
	return ret < 0 ? ret : (long)len;
}
