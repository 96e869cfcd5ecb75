/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: replaced by the real tracking model. */
#include "internal.h"
bool track_done(const struct secs_priv *p, uint64_t stamp) { return p->epoch > stamp; }
void track_thread_enter(struct secs_priv *p, struct hw_thread *t) { t->entry_epoch = p->epoch; t->next_inside = p->inside; p->inside = t; }
void track_thread_exit(struct secs_priv *p, struct hw_thread *t) { for (struct hw_thread **pp = &p->inside; *pp; pp = &(*pp)->next_inside) if (*pp == t) { *pp = t->next_inside; break; } t->next_inside = NULL; }
