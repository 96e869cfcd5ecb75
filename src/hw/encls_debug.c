/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: replaced by the real leaves. */
#include "internal.h"
#define U(x) (void)(x)
struct hw_result encls_edbgrd(struct hw_machine *m, uint64_t epc, uint64_t *d) { U(m); U(epc); U(d); return hw_gp(); }
struct hw_result encls_edbgwr(struct hw_machine *m, uint64_t epc, uint64_t d) { U(m); U(epc); U(d); return hw_gp(); }
