/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: replaced by the real leaves. */
#include "internal.h"
#define U(x) (void)(x)
struct hw_result encls_eremove(struct hw_machine *m, uint64_t epc) { U(m); U(epc); return hw_gp(); }
struct hw_result encls_epa(struct hw_machine *m, uint64_t rbx, uint64_t epc) { U(m); U(rbx); U(epc); return hw_gp(); }
struct hw_result encls_eblock(struct hw_machine *m, uint64_t epc) { U(m); U(epc); return hw_gp(); }
struct hw_result encls_etrack(struct hw_machine *m, uint64_t secs) { U(m); U(secs); return hw_gp(); }
struct hw_result encls_ewb(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t a, uint64_t b, uint64_t c) { U(m); U(mmu); U(a); U(b); U(c); return hw_gp(); }
struct hw_result encls_eldb(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t a, uint64_t b, uint64_t c) { U(m); U(mmu); U(a); U(b); U(c); return hw_gp(); }
struct hw_result encls_eldu(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t a, uint64_t b, uint64_t c) { U(m); U(mmu); U(a); U(b); U(c); return hw_gp(); }
