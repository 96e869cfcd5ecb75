/* SPDX-License-Identifier: MIT */
/*
 * The ETRACK epoch model (spec/leaves.md §4).
 *
 * Hardware must know that no logical processor still holds a translation
 * older than a block (EBLOCK) or a restriction (EMODPR/EMODT).  Each enclave
 * has an epoch, 0 at ECREATE, that ETRACK advances; each thread inside the
 * enclave remembers the epoch at its last EENTER/ERESUME.  A page stamped
 * with epoch t is tracked once an ETRACK happened after the stamp (epoch > t)
 * and every thread that was inside at that ETRACK has left (no thread inside
 * has entry_epoch <= t).
 *
 * All functions expect the machine lock to be held.  A broken invariant (a
 * thread entering twice, leaving an enclave it is not in) aborts: it is a bug
 * in the leaf that called us, and silently going on would corrupt tracking.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static bool is_inside(const struct secs_priv *p, const struct hw_thread *t)
{
	for (const struct hw_thread *i = p->inside; i; i = i->next_inside)
		if (i == t)
			return true;
	return false;
}

bool track_done(const struct secs_priv *p, uint64_t stamp)
{
	if (p->epoch <= stamp)
		return false;
	for (const struct hw_thread *t = p->inside; t; t = t->next_inside)
		if (t->entry_epoch <= stamp)
			return false;
	return true;
}

bool track_begin_cycle(struct secs_priv *p)
{
	/* A thread that entered before the previous ETRACK keeps that cycle open. */
	for (const struct hw_thread *t = p->inside; t; t = t->next_inside)
		if (t->entry_epoch < p->epoch)
			return false;
	p->epoch++;
	return true;
}

void track_thread_enter(struct secs_priv *p, struct hw_thread *t)
{
	if (is_inside(p, t)) {
		fprintf(stderr, "sgxemu: a thread entered an enclave it is already inside\n");
		abort();
	}
	t->entry_epoch = p->epoch;
	t->next_inside = p->inside;
	p->inside = t;
}

void track_thread_exit(struct secs_priv *p, struct hw_thread *t)
{
	for (struct hw_thread **pp = &p->inside; *pp; pp = &(*pp)->next_inside) {
		if (*pp == t) {
			*pp = t->next_inside;
			t->next_inside = NULL;
			return;
		}
	}
	fprintf(stderr, "sgxemu: a thread left an enclave it was not inside\n");
	abort();
}
