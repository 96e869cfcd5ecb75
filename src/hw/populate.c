/* SPDX-License-Identifier: MIT */
/*
 * The machine's populator: a helper thread that gives frames host memory
 * (MADV_POPULATE_WRITE, or fallocate) while the thread that asked goes on
 * with its leaves, so that the host kernel's page allocation, the largest
 * part of a frame's first use here, runs on another CPU beside the hashing
 * of EEXTEND or the leaves of an EAUG batch (docs/hw.md "Frame readahead").
 *
 * Requests never wait: one that finds the queue full or locked is dropped,
 * and the frames then fault in at their first write as without readahead.
 * The thread runs with every signal blocked (a process-directed signal
 * never lands on it), starts with the first request and stops when the
 * machine is destroyed.  hw_epc_window_free takes back the requests of the
 * window it frees and waits for the one in flight, so that no frame of a
 * freed window gets memory behind its back.  In a child of fork() the
 * thread does not exist: requests are refused there.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define QUEUE 8
/*
 * The most one step populates (256 KiB, the readahead's chunk): a long request
 * is done in steps, so that taking it back waits for one step only, and so
 * that the process's mmap lock, which populating holds, is let go between them.
 */
#define STEP (64ULL * 4096)

struct populator {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	pthread_t thread;
	bool started, failed, stop;
	uint64_t pa[QUEUE], len[QUEUE];
	unsigned head, n;
	uint64_t busy_pa, busy_len; /* the request in flight (busy_len 0: none) */
};

static _Atomic bool forked;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void in_child(void)
{
	atomic_store(&forked, true);
}

static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, in_child);
}

static void *run(void *arg)
{
	struct hw_machine *m = arg;
	struct populator *p = m->populator;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->n && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		p->busy_pa = p->pa[p->head];
		p->busy_len = p->len[p->head] < STEP ? p->len[p->head] : STEP;
		if (p->busy_len < p->len[p->head]) {
			/* The rest stays first in the queue, where populator_forget can take it back. */
			p->pa[p->head] += p->busy_len;
			p->len[p->head] -= p->busy_len;
		} else {
			p->head = (p->head + 1) % QUEUE;
			p->n--;
		}
		uint64_t pa = p->busy_pa, len = p->busy_len;
		pthread_mutex_unlock(&p->lock);
		/* A failure only means these frames fault in one by one. */
		(void)epc_populate(m, pa, len);
		pthread_mutex_lock(&p->lock);
		p->busy_len = 0;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

bool populator_init(struct hw_machine *m)
{
	pthread_once(&atfork_once, atfork_register);
	struct populator *p = calloc(1, sizeof(*p));
	if (!p)
		return false;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	m->populator = p;
	return true;
}

/* The thread, with every signal blocked (it inherits the creator's mask); p->lock held. */
static bool start(struct hw_machine *m, struct populator *p)
{
	if (p->started || p->failed)
		return p->started;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&p->thread, NULL, run, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	p->started = r == 0;
	p->failed = r != 0;
	return p->started;
}

enum populator_answer populator_request(struct hw_machine *m, uint64_t pa, uint64_t len, bool wait_lock)
{
	struct populator *p = m->populator;
	if (!p || atomic_load_explicit(&forked, memory_order_relaxed))
		return POPULATOR_ABSENT;
	if (wait_lock)
		pthread_mutex_lock(&p->lock);
	else if (pthread_mutex_trylock(&p->lock) != 0)
		return POPULATOR_DROPPED;
	enum populator_answer a = POPULATOR_QUEUED;
	if (!start(m, p))
		a = POPULATOR_ABSENT;
	else if (p->n == QUEUE)
		a = POPULATOR_DROPPED;
	else {
		unsigned i = (p->head + p->n) % QUEUE;
		p->pa[i] = pa;
		p->len[i] = len;
		p->n++;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	return a;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

void populator_forget(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	struct populator *p = m->populator;
	if (!p || atomic_load_explicit(&forked, memory_order_relaxed))
		return;
	pthread_mutex_lock(&p->lock);
	/*
	 * Queued requests lose their part in the range and keep their order: the
	 * part below it stays, or else the part above (a request that spans the
	 * range loses what lies above it; those frames fault in at first use).
	 */
	unsigned kept = 0;
	for (unsigned k = 0; k < p->n; k++) {
		unsigned i = (p->head + k) % QUEUE, j = (p->head + kept) % QUEUE;
		uint64_t a = p->pa[i], n = p->len[i];
		if (overlaps(a, n, pa, len)) {
			if (a < pa)
				n = pa - a;
			else if (a + n > pa + len) {
				n = a + n - (pa + len);
				a = pa + len;
			} else
				continue;
		}
		p->pa[j] = a;
		p->len[j] = n;
		kept++;
	}
	p->n = kept;
	while (p->busy_len && overlaps(p->busy_pa, p->busy_len, pa, len))
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

uint64_t hw_epc_populate_queued(struct hw_machine *m, uint64_t pa, uint64_t len)
{
	struct populator *p = m->populator;
	if (!p || atomic_load_explicit(&forked, memory_order_relaxed))
		return 0;
	uint64_t n = 0;
	pthread_mutex_lock(&p->lock);
	for (unsigned k = 0; k < p->n; k++) {
		unsigned i = (p->head + k) % QUEUE;
		uint64_t lo = p->pa[i] > pa ? p->pa[i] : pa;
		uint64_t hi = p->pa[i] + p->len[i] < pa + len ? p->pa[i] + p->len[i] : pa + len;
		n += hi > lo ? hi - lo : 0;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

void hw_epc_populate_wait(struct hw_machine *m)
{
	struct populator *p = m->populator;
	if (!p || atomic_load_explicit(&forked, memory_order_relaxed))
		return;
	pthread_mutex_lock(&p->lock);
	while (p->n || p->busy_len)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void populator_fini(struct hw_machine *m)
{
	struct populator *p = m->populator;
	if (!p)
		return;
	if (!atomic_load_explicit(&forked, memory_order_relaxed)) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		p->n = 0;
		pthread_cond_signal(&p->work);
		bool started = p->started;
		pthread_mutex_unlock(&p->lock);
		if (started)
			pthread_join(p->thread, NULL);
		pthread_cond_destroy(&p->work);
		pthread_cond_destroy(&p->done);
		pthread_mutex_destroy(&p->lock);
	}
	free(p);
	m->populator = NULL;
}
