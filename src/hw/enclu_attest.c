/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: replaced by the real leaves. */
#include "internal.h"
struct hw_result enclu_ereport(struct hw_thread *t) { (void)t; return hw_gp(); }
struct hw_result enclu_egetkey(struct hw_thread *t) { (void)t; return hw_gp(); }
