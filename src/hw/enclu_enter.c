/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: replaced by the real leaves. */
#include "internal.h"
struct hw_result enclu_eenter(struct hw_thread *t) { (void)t; return hw_gp(); }
struct hw_result enclu_eresume(struct hw_thread *t) { (void)t; return hw_gp(); }
struct hw_result enclu_eexit(struct hw_thread *t) { (void)t; return hw_gp(); }
struct hw_event hw_aex(struct hw_thread *t, const struct hw_event *ev) { (void)t; return *ev; }
