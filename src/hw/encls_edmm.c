/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: replaced by the real leaves. */
#include "internal.h"
#define U(x) (void)(x)
struct hw_result encls_eaug(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t a, uint64_t b) { U(m); U(mmu); U(a); U(b); return hw_gp(); }
struct hw_result encls_emodpr(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t a, uint64_t b) { U(m); U(mmu); U(a); U(b); return hw_gp(); }
struct hw_result encls_emodt(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t a, uint64_t b) { U(m); U(mmu); U(a); U(b); return hw_gp(); }
