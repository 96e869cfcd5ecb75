/* SPDX-License-Identifier: MIT */
/*
 * EENTER, ERESUME, EEXIT, the AEX and the enclave-mode access check
 * (spec/leaves.md §5-6, structures.md §4-5): every check in order, with its
 * failure and the success, the SSA frame contents an AEX writes, CSSA
 * counting with a nested handler, and FS/GS handling.  Failures are
 * asserted to change nothing (registers, TCS, SSA frames, tracking).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h"

#define ESIZE 0x20000ULL
#define BASE  0x7f0000000000ULL

/* Enclave layout (offsets in ELRANGE). */
#define OFF_TCS	  0x0000ULL /* TCS: OSSA=OFF_SSA, NSSA=2 */
#define OFF_TCS2  0x1000ULL /* second TCS: OSSA=OFF_SSA2, NSSA=1 */
#define OFF_SSA	  0x2000ULL /* two one-page frames: 0x2000, 0x3000 */
#define OFF_SSA2  0x4000ULL
#define OFF_DATA  0x5000ULL  /* REG RW */
#define OFF_RO	  0x6000ULL  /* REG R */
#define OFF_RX	  0x7000ULL  /* REG RX */
#define OFF_ENTRY 0x8000ULL  /* REG RX, OENTRY */
#define OFF_FS	  0x9000ULL  /* REG RW, OFSBASE */
#define OFF_GS	  0xA000ULL  /* REG RW, OGSBASE */
#define OFF_RWX	  0xB000ULL  /* REG RWX */
#define OFF_NONE  0xC000ULL  /* REG without permissions */
#define OFF_EMPTY 0x1F000ULL /* never added */

#define REG_RW	 (SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W)
#define TCS_SI	 SGX_SECINFO_PT(SGX_PT_TCS)
#define PROT_RW	 (HW_ACC_R | HW_ACC_W)
#define PROT_RX	 (HW_ACC_R | HW_ACC_X)
#define PROT_RWX (HW_ACC_R | HW_ACC_W | HW_ACC_X)

/* #PF error codes of EENTER/ERESUME's implicit TCS/SSA accesses (user read+write). */
#define PF_ENTRY_SGX  (PF_P | PF_W | PF_U | PF_SGX)
#define PF_ENTRY_WALK (PF_P | PF_W | PF_U)

/* Host side of the entry. */
#define HOST_RIP 0x400ff0ULL
#define AEP	 0x401000ULL
#define AEP2	 0x402000ULL
#define HOST_RSP 0x7ffc0000f000ULL
#define HOST_RBP 0x7ffc0000f100ULL
#define HOST_FS	 0x7ffff7fd0000ULL
#define HOST_GS	 0x7ffff7fe0000ULL

#define RFLAGS_FIXED 0x2ULL
#define RFLAGS_CF    0x1ULL
#define RFLAGS_PF    0x4ULL
#define RFLAGS_AF    0x10ULL
#define RFLAGS_ZF    0x40ULL
#define RFLAGS_SF    0x80ULL
#define RFLAGS_TF    0x100ULL
#define RFLAGS_IF    0x200ULL
#define RFLAGS_DF    0x400ULL
#define RFLAGS_OF    0x800ULL
#define RFLAGS_RF    0x10000ULL

static struct th t;
static struct hw_thread a, b;
static uint8_t host_page[SGX_PAGE_SIZE] __attribute__((aligned(4096)));

/* ---- helpers ---- */

static uint8_t *ptr(uint64_t pa)
{
	return (uint8_t *)(uintptr_t)pa;
}

static uint64_t lin(uint64_t off)
{
	return t.base + off;
}

static struct sgx_tcs *tcs_at(uint64_t off)
{
	return (struct sgx_tcs *)ptr(th_pa(&t, off));
}

/* GPRSGX / EXINFO of the one-page SSA frame at offset off. */
static struct sgx_gprsgx *gpr_at(uint64_t off)
{
	return (struct sgx_gprsgx *)(ptr(th_pa(&t, off)) + SGX_PAGE_SIZE - SGX_GPRSGX_SIZE);
}

static struct sgx_exinfo *exinfo_at(uint64_t off)
{
	return (struct sgx_exinfo *)(ptr(th_pa(&t, off)) + SGX_PAGE_SIZE - SGX_GPRSGX_SIZE - SGX_EXINFO_SIZE);
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static unsigned inside(void)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	return v.threads_inside;
}

static uint64_t epoch(void)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	return v.epoch;
}

/* White-box EPCM edit under the machine lock (states other leaves produce). */
#define EPCM_SET(off, field, val)                                                                                      \
	do {                                                                                                           \
		hw_mutex_lock(&t.m->lock);                                                                             \
		epcm_entry(t.m, th_pa(&t, off))->field = (val);                                                        \
		hw_mutex_unlock(&t.m->lock);                                                                           \
	} while (0)

static void secs_attr(uint64_t set, uint64_t clear)
{
	hw_mutex_lock(&t.m->lock);
	struct sgx_secs *s = secs_of(t.m, t.secs_pa);
	s->attributes = (s->attributes | set) & ~clear;
	hw_mutex_unlock(&t.m->lock);
}

static void cfg_test(struct hw_config *c)
{
	hw_config_default(c);
	c->epc_size = 1 << 20;
	c->space_size = 1ULL << 36;
	c->root_secret_set = true;
	memset(c->root_secret, 0x5A, sizeof(c->root_secret));
}

static void tcs_image(struct sgx_tcs *tcs, uint64_t ossa, uint32_t nssa)
{
	memset(tcs, 0, sizeof(*tcs));
	tcs->ossa = ossa;
	tcs->nssa = nssa;
	tcs->oentry = OFF_ENTRY;
	tcs->ofsbase = OFF_FS;
	tcs->ogsbase = OFF_GS;
	tcs->fslimit = 0xFFF;
	tcs->gslimit = 0xFFF;
}

static void host_regs(struct hw_thread *x, uint64_t tcs_off)
{
	x->regs = (struct hw_regs){.rax = ENCLU_EENTER,
				   .rbx = lin(tcs_off),
				   .rcx = AEP,
				   .rdx = 0xD0D0,
				   .rsp = HOST_RSP,
				   .rbp = HOST_RBP,
				   .rsi = 0x5151,
				   .rdi = 0xD1D1,
				   .r8 = 0x88,
				   .r9 = 0x99,
				   .r10 = 0x1010,
				   .r11 = 0x1111,
				   .r12 = 0x1212,
				   .r13 = 0x1313,
				   .r14 = 0x1414,
				   .r15 = 0x1515,
				   .rflags = RFLAGS_FIXED | RFLAGS_IF,
				   .rip = HOST_RIP,
				   .fsbase = HOST_FS,
				   .gsbase = HOST_GS};
}

/* Build the enclave (SECS tweaked by `tweak`, machine by `cfg`), initialise it, map it, make two threads. */
static void build(const struct hw_config *cfg, void (*tweak)(struct sgx_secs *))
{
	memset(&t, 0, sizeof(t));
	if (cfg) {
		char err[256];
		cr_assert_eq(hw_machine_create(cfg, &t.m, err, sizeof(err)), 0, "machine: %s", err);
	} else {
		t.m = th_machine();
	}
	/* No identity fallback: an address without a mapping has no PTE. */
	cr_assert_eq(pagetable_init(&t.pt, false), 0);
	th_secs_default(&t.secs, BASE, ESIZE);
	if (tweak)
		tweak(&t.secs);
	t.base = t.secs.base;
	t.size = t.secs.size;
	th_assert_ok(th_ecreate(&t));

	static struct sgx_tcs tcs;
	tcs_image(&tcs, OFF_SSA, 2);
	th_assert_ok(th_eadd(&t, OFF_TCS, TCS_SI, &tcs));
	tcs_image(&tcs, OFF_SSA2, 1);
	th_assert_ok(th_eadd(&t, OFF_TCS2, TCS_SI, &tcs));
	uint64_t frames = t.secs.ssa_frame_size * 2ULL;
	for (uint64_t i = 0; i < frames; i++)
		th_assert_ok(th_eadd(&t, OFF_SSA + i * SGX_PAGE_SIZE, REG_RW, NULL));
	if (frames == 2)
		th_assert_ok(th_eadd(&t, OFF_SSA2, REG_RW, NULL));
	static uint8_t pattern[SGX_PAGE_SIZE];
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 13 + 5);
	if (frames == 2)
		th_assert_ok(th_eadd(&t, OFF_DATA, REG_RW, pattern));
	th_assert_ok(th_eadd(&t, OFF_RO, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R, pattern));
	th_assert_ok(th_eadd(&t, OFF_RX, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_X, pattern));
	th_assert_ok(th_eadd(&t, OFF_ENTRY, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_X, pattern));
	th_assert_ok(th_eadd(&t, OFF_FS, REG_RW, NULL));
	th_assert_ok(th_eadd(&t, OFF_GS, REG_RW, NULL));
	th_assert_ok(th_eadd(&t, OFF_RWX, REG_RW | SGX_SECINFO_X, pattern));
	th_assert_ok(th_eadd(&t, OFF_NONE, SGX_SECINFO_PT(SGX_PT_REG), NULL));
	th_force_init(&t);

	th_map(&t, OFF_TCS, PROT_RW);
	th_map(&t, OFF_TCS2, PROT_RW);
	for (uint64_t off = OFF_SSA; off <= OFF_DATA; off += SGX_PAGE_SIZE)
		th_map(&t, off, PROT_RW);
	th_map(&t, OFF_RO, HW_ACC_R);
	th_map(&t, OFF_RX, PROT_RX);
	th_map(&t, OFF_ENTRY, PROT_RX);
	th_map(&t, OFF_FS, PROT_RW);
	th_map(&t, OFF_GS, PROT_RW);
	th_map(&t, OFF_RWX, PROT_RWX);
	th_map(&t, OFF_NONE, PROT_RWX);
	th_map(&t, OFF_EMPTY, PROT_RWX);

	cr_assert_eq(hw_thread_init(&a, t.m, &t.pt.mmu), 0);
	cr_assert_eq(hw_thread_init(&b, t.m, &t.pt.mmu), 0);
	host_regs(&a, OFF_TCS);
	host_regs(&b, OFF_TCS);
}

static void fresh(void)
{
	build(NULL, NULL);
}

static void done(void)
{
	hw_thread_fini(&a);
	hw_thread_fini(&b);
	th_teardown(&t);
}

/* ENCLU with leaf `leaf` on x, through the decoder. */
static struct hw_result enclu(struct hw_thread *x, uint64_t leaf)
{
	x->regs.rax = leaf;
	return hw_enclu(x);
}

/* EENTER on TCS tcs_off with AEP aep from the host registers. */
static struct hw_result eenter(struct hw_thread *x, uint64_t tcs_off, uint64_t aep)
{
	x->regs.rbx = lin(tcs_off);
	x->regs.rcx = aep;
	return enclu(x, ENCLU_EENTER);
}

static struct hw_result eresume(struct hw_thread *x, uint64_t tcs_off, uint64_t aep)
{
	x->regs.rbx = lin(tcs_off);
	x->regs.rcx = aep;
	return enclu(x, ENCLU_ERESUME);
}

/* ---- "nothing changed" ---- */

struct snap {
	struct hw_regs regs;
	bool in_enclave;
	uint64_t aep, tcs_pa, secs_pa;
	uint8_t tcs[2][SGX_PAGE_SIZE];
	uint8_t ssa[3][SGX_PAGE_SIZE];
	uint8_t xsave[576];
	unsigned inside;
};
static struct snap before;

static void snap_take(struct snap *s, const struct hw_thread *x)
{
	s->regs = x->regs;
	s->in_enclave = x->in_enclave;
	s->aep = x->aep;
	s->tcs_pa = x->tcs_pa;
	s->secs_pa = x->secs_pa;
	memcpy(s->tcs[0], ptr(th_pa(&t, OFF_TCS)), SGX_PAGE_SIZE);
	memcpy(s->tcs[1], ptr(th_pa(&t, OFF_TCS2)), SGX_PAGE_SIZE);
	for (unsigned i = 0; i < 3; i++)
		memcpy(s->ssa[i], ptr(th_pa(&t, OFF_SSA + i * SGX_PAGE_SIZE)), SGX_PAGE_SIZE);
	memcpy(s->xsave, x->xsave, sizeof(s->xsave));
	s->inside = inside();
}

static void snap_same(const struct snap *s, const struct hw_thread *x)
{
	cr_assert(memcmp(&s->regs, &x->regs, sizeof(s->regs)) == 0, "registers changed");
	cr_assert_eq(s->in_enclave, x->in_enclave);
	cr_assert_eq(s->aep, x->aep);
	cr_assert_eq(s->tcs_pa, x->tcs_pa);
	cr_assert_eq(s->secs_pa, x->secs_pa);
	cr_assert(memcmp(s->tcs[0], ptr(th_pa(&t, OFF_TCS)), SGX_PAGE_SIZE) == 0, "TCS changed");
	cr_assert(memcmp(s->tcs[1], ptr(th_pa(&t, OFF_TCS2)), SGX_PAGE_SIZE) == 0, "TCS2 changed");
	for (unsigned i = 0; i < 3; i++)
		cr_assert(memcmp(s->ssa[i], ptr(th_pa(&t, OFF_SSA + i * SGX_PAGE_SIZE)), SGX_PAGE_SIZE) == 0,
			  "SSA page %u changed", i);
	cr_assert(memcmp(s->xsave, x->xsave, sizeof(s->xsave)) == 0, "XSAVE image changed");
	cr_assert_eq(s->inside, inside());
}

/* Load the ENCLU operands: leaf, TCS, AEP. */
static void prep(struct hw_thread *x, uint64_t leaf, uint64_t tcs_off, uint64_t aep)
{
	x->regs.rax = leaf;
	x->regs.rbx = lin(tcs_off);
	x->regs.rcx = aep;
}

/* ENCLU[leaf] on x must fail with #GP / #PF(addr, err) and change nothing. */
static void leaf_gp(struct hw_thread *x, uint64_t leaf, uint64_t tcs_off)
{
	prep(x, leaf, tcs_off, AEP);
	snap_take(&before, x);
	struct hw_result r = hw_enclu(x);
	th_assert_gp(r);
	snap_same(&before, x);
}

static void leaf_pf(struct hw_thread *x, uint64_t leaf, uint64_t tcs_off, uint64_t addr, uint32_t err)
{
	prep(x, leaf, tcs_off, AEP);
	snap_take(&before, x);
	struct hw_result r = hw_enclu(x);
	th_assert_pf(r, addr, err);
	snap_same(&before, x);
}

static void eenter_gp(uint64_t tcs_off)
{
	leaf_gp(&a, ENCLU_EENTER, tcs_off);
}

static void eenter_pf(uint64_t tcs_off, uint64_t addr, uint32_t err)
{
	leaf_pf(&a, ENCLU_EENTER, tcs_off, addr, err);
}

/* ======================================================================= */
/* EENTER checks, in order                                                  */
/* ======================================================================= */

TestSuite(eenter, .init = fresh, .fini = done, .timeout = 60);

Test(eenter, rbx_not_page_aligned_gp)
{
	eenter_gp(OFF_TCS + 8);
	eenter_gp(OFF_TCS + 0x800);
}

Test(eenter, tcs_without_pte_ordinary_pf)
{
	pagetable_unmap(&t.pt, lin(OFF_TCS));
	eenter_pf(OFF_TCS, lin(OFF_TCS), PF_W | PF_U);
}

Test(eenter, tcs_pte_read_only_ordinary_pf)
{
	th_map(&t, OFF_TCS, HW_ACC_R);
	eenter_pf(OFF_TCS, lin(OFF_TCS), PF_ENTRY_WALK);
}

Test(eenter, tcs_not_epc_pf_with_sgx_bit)
{
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_TCS), (uint64_t)(uintptr_t)host_page, PROT_RW), 0);
	eenter_pf(OFF_TCS, lin(OFF_TCS), PF_ENTRY_SGX);
}

Test(eenter, tcs_not_epc_reported_before_bad_aep)
{
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_TCS), (uint64_t)(uintptr_t)host_page, PROT_RW), 0);
	a.regs.rbx = lin(OFF_TCS);
	a.regs.rcx = 0x0000800000000000ULL;
	struct hw_result r = enclu(&a, ENCLU_EENTER);
	th_assert_pf(r, lin(OFF_TCS), PF_ENTRY_SGX);
}

Test(eenter, aep_not_canonical_gp)
{
	prep(&a, ENCLU_EENTER, OFF_TCS, 0x0000800000000000ULL);
	snap_take(&before, &a);
	struct hw_result r = hw_enclu(&a);
	th_assert_gp(r);
	snap_same(&before, &a);
}

Test(eenter, aep_checked_before_tcs_epcm)
{
	/* An invalid TCS page would give #PF; the non-canonical AEP comes first. */
	struct hw_result r = eenter(&a, OFF_EMPTY, 0xFFFF000000000000ULL);
	th_assert_gp(r);
	r = eenter(&a, OFF_TCS, 0xFFFF800000000000ULL); /* canonical upper half is fine */
	th_assert_ok(r);
}

Test(eenter, tcs_page_invalid_pf)
{
	eenter_pf(OFF_EMPTY, lin(OFF_EMPTY), PF_ENTRY_SGX);
}

Test(eenter, tcs_page_blocked_pf)
{
	th_assert_ok(encls_eblock(t.m, th_pa(&t, OFF_TCS)));
	eenter_pf(OFF_TCS, lin(OFF_TCS), PF_ENTRY_SGX);
}

Test(eenter, tcs_page_at_other_address_pf)
{
	/* The TCS frame mapped at a second linear address: EPCM.ENCLAVEADDRESS differs. */
	cr_assert_eq(pagetable_map(&t.pt, lin(0x10000), th_pa(&t, OFF_TCS), PROT_RW), 0);
	eenter_pf(0x10000, lin(0x10000), PF_ENTRY_SGX);
}

Test(eenter, tcs_not_pt_tcs_pf)
{
	eenter_pf(OFF_DATA, lin(OFF_DATA), PF_ENTRY_SGX);
}

Test(eenter, tcs_pending_pf)
{
	EPCM_SET(OFF_TCS, pending, 1);
	eenter_pf(OFF_TCS, lin(OFF_TCS), PF_ENTRY_SGX);
}

Test(eenter, tcs_modified_pf)
{
	EPCM_SET(OFF_TCS, modified, 1);
	eenter_pf(OFF_TCS, lin(OFF_TCS), PF_ENTRY_SGX);
}

Test(eenter, ossa_not_aligned_gp)
{
	tcs_at(OFF_TCS)->ossa = OFF_SSA + 0x40;
	eenter_gp(OFF_TCS);
}

Test(eenter, ofsbase_not_aligned_gp)
{
	tcs_at(OFF_TCS)->ofsbase = OFF_FS + 8;
	eenter_gp(OFF_TCS);
}

Test(eenter, ogsbase_not_aligned_gp)
{
	tcs_at(OFF_TCS)->ogsbase = OFF_GS + 0x800;
	eenter_gp(OFF_TCS);
}

Test(eenter, tcs_epcm_checked_before_tcs_fields)
{
	tcs_at(OFF_TCS)->ossa = 1;
	th_assert_ok(encls_eblock(t.m, th_pa(&t, OFF_TCS)));
	eenter_pf(OFF_TCS, lin(OFF_TCS), PF_ENTRY_SGX);
}

Test(eenter, fs_base_not_canonical_gp)
{
	/* BASE + OFSBASE = 0x800000000000. */
	tcs_at(OFF_TCS)->ofsbase = 0x800000000000ULL - BASE;
	eenter_gp(OFF_TCS);
}

Test(eenter, gs_base_not_canonical_gp)
{
	tcs_at(OFF_TCS)->ogsbase = 0x800000000000ULL - BASE;
	eenter_gp(OFF_TCS);
}

Test(eenter, tcs_flags_reserved_bit_gp)
{
	tcs_at(OFF_TCS)->flags = 1ULL << 2;
	eenter_gp(OFF_TCS);
	tcs_at(OFF_TCS)->flags = 1ULL << 63;
	eenter_gp(OFF_TCS);
}

Test(eenter, tcs_flags_dbgoptin_and_aexnotify_accepted)
{
	tcs_at(OFF_TCS)->flags = SGX_TCS_DBGOPTIN | SGX_TCS_AEXNOTIFY;
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
}

/*
 * SDM, EENTER and ERESUME: #GP when SECS.ATTRIBUTES.AEXNOTIFY differs from
 * TCS.FLAGS.AEXNOTIFY and TCS.FLAGS.DBGOPTIN is 0, whichever way.
 */
Test(eenter, aexnotify_of_tcs_and_enclave_must_agree_unless_dbgoptin)
{
	tcs_at(OFF_TCS)->flags = SGX_TCS_AEXNOTIFY;
	eenter_gp(OFF_TCS);
	secs_attr(SGX_ATTR_AEXNOTIFY, 0);
	tcs_at(OFF_TCS)->flags = 0;
	eenter_gp(OFF_TCS);
	/* A debugger that opted in is let through; agreeing settings enter (aex::aexnotify_bit_follows_tcs_flag). */
	tcs_at(OFF_TCS)->flags = SGX_TCS_DBGOPTIN;
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
}

Test(eenter, not_initialised_gp)
{
	secs_attr(0, SGX_ATTR_INIT);
	eenter_gp(OFF_TCS);
}

Test(eenter, not_initialised_checked_before_ssa)
{
	secs_attr(0, SGX_ATTR_INIT);
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	eenter_gp(OFF_TCS);
}

Test(eenter, cssa_not_below_nssa_gp)
{
	tcs_at(OFF_TCS)->nssa = 0;
	eenter_gp(OFF_TCS);
	tcs_at(OFF_TCS)->nssa = 2;
	tcs_at(OFF_TCS)->cssa = 2;
	eenter_gp(OFF_TCS);
}

Test(eenter, cssa_checked_before_ssa_pages)
{
	tcs_at(OFF_TCS)->nssa = 0;
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	eenter_gp(OFF_TCS);
}

Test(eenter, ssa_without_pte_ordinary_pf)
{
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_W | PF_U);
}

Test(eenter, ssa_pte_read_only_ordinary_pf)
{
	th_map(&t, OFF_SSA, HW_ACC_R);
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_ENTRY_WALK);
}

Test(eenter, ssa_not_epc_pf)
{
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_SSA), (uint64_t)(uintptr_t)host_page, PROT_RW), 0);
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_read_only_pf)
{
	tcs_at(OFF_TCS)->ossa = OFF_RO;
	th_map(&t, OFF_RO, PROT_RW);
	eenter_pf(OFF_TCS, lin(OFF_RO), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_without_read_pf)
{
	tcs_at(OFF_TCS)->ossa = OFF_NONE;
	eenter_pf(OFF_TCS, lin(OFF_NONE), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_is_tcs_pf)
{
	tcs_at(OFF_TCS)->ossa = OFF_TCS2;
	eenter_pf(OFF_TCS, lin(OFF_TCS2), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_invalid_pf)
{
	tcs_at(OFF_TCS)->ossa = OFF_EMPTY;
	eenter_pf(OFF_TCS, lin(OFF_EMPTY), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_blocked_pf)
{
	th_assert_ok(encls_eblock(t.m, th_pa(&t, OFF_SSA)));
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_pending_pf)
{
	EPCM_SET(OFF_SSA, pending, 1);
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_modified_pf)
{
	EPCM_SET(OFF_SSA, modified, 1);
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_at_other_address_pf)
{
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_SSA), th_pa(&t, OFF_DATA), PROT_RW), 0);
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
}

Test(eenter, ssa_page_of_other_enclave_pf)
{
	/* A second enclave with the same ELRANGE: its page has the right address but another owner. */
	struct th o = {.m = t.m, .base = BASE, .size = ESIZE};
	th_secs_default(&o.secs, BASE, ESIZE);
	th_assert_ok(th_ecreate(&o));
	th_assert_ok(th_eadd(&o, OFF_SSA, REG_RW, NULL));
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_SSA), th_pa(&o, OFF_SSA), PROT_RW), 0);
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
}

Test(eenter, ssa_frame_is_the_cssa_one)
{
	/* CSSA=1: frame 1 (OFF_SSA + 0x1000) is checked, frame 0 is not. */
	tcs_at(OFF_TCS)->cssa = 1;
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	th_map(&t, OFF_SSA + 0x1000, HW_ACC_R);
	eenter_pf(OFF_TCS, lin(OFF_SSA + 0x1000), PF_ENTRY_WALK);
	th_map(&t, OFF_SSA + 0x1000, PROT_RW);
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rax, 1);
}

Test(eenter, ssa_checked_before_oentry)
{
	tcs_at(OFF_TCS)->oentry = 0x800000000000ULL - BASE;
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	eenter_pf(OFF_TCS, lin(OFF_SSA), PF_W | PF_U);
}

Test(eenter, oentry_not_canonical_gp)
{
	tcs_at(OFF_TCS)->oentry = 0x800000000000ULL - BASE;
	eenter_gp(OFF_TCS);
}

Test(eenter, tcs_busy_second_thread_gp)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	leaf_gp(&b, ENCLU_EENTER, OFF_TCS);
	cr_assert_eq(tcs_at(OFF_TCS)->aep, AEP);
	cr_assert_eq(inside(), 1);
	/* The other TCS is free. */
	th_assert_ok(eenter(&b, OFF_TCS2, AEP2));
	cr_assert_eq(inside(), 2);
}

Test(eenter, tcs_busy_checked_after_ssa)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	struct hw_result r = eenter(&b, OFF_TCS, AEP);
	th_assert_pf(r, lin(OFF_SSA), PF_W | PF_U);
}

Test(eenter, inside_an_enclave_gp)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	leaf_gp(&a, ENCLU_EENTER, OFF_TCS2);
	leaf_gp(&a, ENCLU_ERESUME, OFF_TCS2);
	/* The leaves refuse as well, not only the decoder. */
	struct hw_result r = enclu_eenter(&a);
	th_assert_gp(r);
	r = enclu_eresume(&a);
	th_assert_gp(r);
}

/* ---- success ---- */

Test(eenter, success_effects)
{
	struct hw_regs h = a.regs;
	uint64_t ep = epoch();
	struct hw_result r = eenter(&a, OFF_TCS, AEP);
	th_assert_ok(r);

	/* Registers: RAX=CSSA, RCX=after ENCLU, RIP=OENTRY, FS/GS from the TCS; others pass through. */
	cr_assert_eq(a.regs.rax, 0);
	cr_assert_eq(a.regs.rbx, lin(OFF_TCS));
	cr_assert_eq(a.regs.rcx, HOST_RIP + 3);
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY));
	cr_assert_eq(a.regs.fsbase, lin(OFF_FS));
	cr_assert_eq(a.regs.gsbase, lin(OFF_GS));
	cr_assert_eq(a.regs.rdx, h.rdx);
	cr_assert_eq(a.regs.rsp, h.rsp);
	cr_assert_eq(a.regs.rbp, h.rbp);
	cr_assert_eq(a.regs.rsi, h.rsi);
	cr_assert_eq(a.regs.rdi, h.rdi);
	cr_assert_eq(a.regs.r8, h.r8);
	cr_assert_eq(a.regs.r15, h.r15);
	cr_assert_eq(a.regs.rflags, h.rflags);

	/* TCS: busy, AEP kept; CSSA unchanged. */
	struct sgx_tcs *tcs = tcs_at(OFF_TCS);
	cr_assert_eq(tcs->state, 1);
	cr_assert_eq(tcs->aep, AEP);
	cr_assert_eq(tcs->cssa, 0);

	/* SSA[0]: URSP/URBP = the host RSP/RBP, nothing else written. */
	struct sgx_gprsgx *g = gpr_at(OFF_SSA);
	cr_assert_eq(g->ursp, HOST_RSP);
	cr_assert_eq(g->urbp, HOST_RBP);
	cr_assert_eq(g->rip, 0);
	cr_assert_eq(gpr_at(OFF_SSA + 0x1000)->ursp, 0);

	/* Thread: in enclave mode, host FS/GS saved, tracking entered at the current epoch. */
	cr_assert(a.in_enclave);
	cr_assert_eq(a.tcs_lin, lin(OFF_TCS));
	cr_assert_eq(a.tcs_pa, th_pa(&t, OFF_TCS));
	cr_assert_eq(a.secs_pa, t.secs_pa);
	cr_assert_eq(a.aep, AEP);
	cr_assert_eq(a.out_fsbase, HOST_FS);
	cr_assert_eq(a.out_gsbase, HOST_GS);
	cr_assert_eq(a.entry_epoch, ep);
	cr_assert_eq(inside(), 1);
}

Test(eenter, entry_epoch_follows_etrack)
{
	th_assert_ok(encls_etrack(t.m, t.secs_pa));
	th_assert_ok(encls_etrack(t.m, t.secs_pa));
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.entry_epoch, 2);
	cr_assert_eq(epoch(), 2);
}

Test(eenter, direct_leaf_call_matches_decoder)
{
	a.regs.rax = ENCLU_EENTER;
	th_assert_ok(enclu_eenter(&a));
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY));
	cr_assert_eq(a.regs.rcx, HOST_RIP + 3);
}

Test(eenter, opt_out_entry_clears_tf)
{
	a.regs.rflags |= RFLAGS_TF;
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rflags, RFLAGS_FIXED | RFLAGS_IF);
}

Test(eenter, opt_out_tf_restored_at_eexit_and_aex)
{
	a.regs.rflags |= RFLAGS_TF;
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	a.regs.rax = ENCLU_EEXIT;
	a.regs.rbx = 0x401000;
	th_assert_ok(hw_enclu(&a));
	cr_assert(a.regs.rflags & RFLAGS_TF, "EEXIT gives TF back");
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rflags & RFLAGS_TF, 0);
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	cr_assert(a.regs.rflags & RFLAGS_TF, "AEX gives TF back");
}

Test(eenter, debug_opt_in_entry_keeps_tf)
{
	th_assert_ok(encls_edbgwr(t.m, th_pa(&t, OFF_TCS) + 8, SGX_TCS_DBGOPTIN));
	a.regs.rflags |= RFLAGS_TF;
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rflags, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_TF);
}

Test(eenter, dbgoptin_without_debug_attribute_is_opt_out)
{
	tcs_at(OFF_TCS)->flags = SGX_TCS_DBGOPTIN;
	secs_attr(0, SGX_ATTR_DEBUG);
	a.regs.rflags |= RFLAGS_TF;
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rflags & RFLAGS_TF, 0);
}

/* ---- machine and SECS variants ---- */

static void fini_only(void)
{
	done();
}

TestSuite(eenter_config, .fini = fini_only, .timeout = 60);

static void no_mode64(struct sgx_secs *s)
{
	s->attributes &= ~SGX_ATTR_MODE64BIT;
	s->base = 0x40000000ULL;
}

Test(eenter_config, enclave_32bit_gp)
{
	build(NULL, no_mode64);
	eenter_gp(OFF_TCS);
}

static void xfrm_avx(struct sgx_secs *s)
{
	s->xfrm = 0x7;
}

Test(eenter_config, xfrm_not_subset_of_xcr0_gp)
{
	struct hw_config c;
	cfg_test(&c);
	c.xfrm_allowed = 0x7;
	c.xcr0 = 0x3;
	build(&c, xfrm_avx);
	eenter_gp(OFF_TCS);
}

Test(eenter_config, xfrm_subset_of_xcr0_enters)
{
	struct hw_config c;
	cfg_test(&c);
	c.xfrm_allowed = 0x7;
	c.xcr0 = 0x7;
	build(&c, xfrm_avx);
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
}

Test(eenter_config, xfrm_checked_before_ssa)
{
	struct hw_config c;
	cfg_test(&c);
	c.xfrm_allowed = 0x7;
	c.xcr0 = 0x3;
	build(&c, xfrm_avx);
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	eenter_gp(OFF_TCS);
}

Test(eenter_config, aexnotify_flag_reserved_without_aex_notify)
{
	struct hw_config c;
	cfg_test(&c);
	c.attr_allowed &= ~SGX_ATTR_AEXNOTIFY;
	build(&c, NULL);
	tcs_at(OFF_TCS)->flags = SGX_TCS_AEXNOTIFY;
	eenter_gp(OFF_TCS);
	tcs_at(OFF_TCS)->flags = SGX_TCS_DBGOPTIN;
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
}

static void two_page_frames(struct sgx_secs *s)
{
	s->ssa_frame_size = 2;
}

Test(eenter_config, every_page_of_a_frame_is_checked)
{
	build(NULL, two_page_frames);
	/* Frame 0 = OFF_SSA..+0x2000; its second page. */
	th_map(&t, OFF_SSA + 0x1000, HW_ACC_R);
	eenter_pf(OFF_TCS, lin(OFF_SSA + 0x1000), PF_ENTRY_WALK);
	EPCM_SET(OFF_SSA + 0x1000, w, 0);
	th_map(&t, OFF_SSA + 0x1000, PROT_RW);
	eenter_pf(OFF_TCS, lin(OFF_SSA + 0x1000), PF_ENTRY_SGX);
}

Test(eenter_config, multi_page_frame_gprsgx_in_last_page)
{
	build(NULL, two_page_frames);
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(gpr_at(OFF_SSA + 0x1000)->ursp, HOST_RSP);
	cr_assert_eq(gpr_at(OFF_SSA + 0x1000)->urbp, HOST_RBP);
	a.regs.rsi = 0xABCD;
	a.regs.rip = lin(OFF_ENTRY) + 0x10;
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(gpr_at(OFF_SSA + 0x1000)->rsi, 0xABCD);
	cr_assert_eq(gpr_at(OFF_SSA + 0x1000)->rip, lin(OFF_ENTRY) + 0x10);
	/* The next frame starts two pages on. */
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rax, 1);
	cr_assert_eq(gpr_at(OFF_SSA + 0x3000)->ursp, HOST_RSP);
}

/* ======================================================================= */
/* EEXIT                                                                    */
/* ======================================================================= */

TestSuite(eexit, .init = fresh, .fini = done, .timeout = 60);

Test(eexit, outside_enclave_gp)
{
	a.regs.rax = ENCLU_EEXIT;
	snap_take(&before, &a);
	struct hw_result r = hw_enclu(&a);
	th_assert_gp(r);
	snap_same(&before, &a);
	r = enclu_eexit(&a);
	th_assert_gp(r);
}

Test(eexit, target_not_canonical_gp)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	a.regs.rbx = 0x0000800000001000ULL;
	a.regs.rax = ENCLU_EEXIT;
	snap_take(&before, &a);
	struct hw_result r = hw_enclu(&a);
	th_assert_gp(r);
	snap_same(&before, &a);
	cr_assert_eq(tcs_at(OFF_TCS)->state, 1);
}

Test(eexit, success_effects)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	/* Enclave code changes registers, then exits to HOST_RIP + 0x40. */
	a.regs.rsp = lin(OFF_DATA) + 0x800;
	a.regs.rbp = lin(OFF_DATA) + 0x900;
	a.regs.rdx = 0x5EC2E7;
	a.regs.rbx = HOST_RIP + 0x40;
	struct hw_regs inside_regs = a.regs;
	th_assert_ok(enclu(&a, ENCLU_EEXIT));

	cr_assert_eq(a.regs.rip, HOST_RIP + 0x40);
	cr_assert_eq(a.regs.rcx, AEP);
	cr_assert_eq(a.regs.fsbase, HOST_FS);
	cr_assert_eq(a.regs.gsbase, HOST_GS);
	/* Not restored: the enclave must do it. */
	cr_assert_eq(a.regs.rsp, inside_regs.rsp);
	cr_assert_eq(a.regs.rbp, inside_regs.rbp);
	cr_assert_eq(a.regs.rdx, 0x5EC2E7);
	cr_assert_eq(a.regs.rax, ENCLU_EEXIT);
	cr_assert_eq(a.regs.rbx, HOST_RIP + 0x40);

	cr_assert_eq(tcs_at(OFF_TCS)->state, 0);
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 0);
	cr_assert_not(a.in_enclave);
	cr_assert_eq(inside(), 0);
	/* The TCS can be entered again, by another thread too. */
	th_assert_ok(eenter(&b, OFF_TCS, AEP2));
}

/* ======================================================================= */
/* ENCLU fetched by enclave code (hw_enclu_at, hw_enclu_fetched)            */
/* ======================================================================= */

TestSuite(fetched, .init = fresh, .fini = done, .timeout = 60);

static const uint8_t enclu_bytes[3] = {0x0F, 0x01, 0xD7};

/* The EID of the test's enclave. */
static uint64_t th_secs_eid(void)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(t.m, t.secs_pa, &v));
	return v.eid;
}

/* Enter TCS 0, then put RIP at off of the enclave with the EEXIT operands. */
static void inside_at(uint64_t off)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	a.regs.rip = lin(off);
	a.regs.rax = ENCLU_EEXIT;
	a.regs.rbx = HOST_RIP + 0x40;
}

Test(fetched, enclu_runs_the_leaf)
{
	memcpy(ptr(th_pa(&t, OFF_RWX + 0x100)), enclu_bytes, 3);
	inside_at(OFF_RWX + 0x100);
	struct hw_result fetch, r;
	cr_assert(hw_enclu_fetched(&a, &fetch, &r));
	th_assert_ok(fetch);
	th_assert_ok(r);
	cr_assert_not(a.in_enclave);
	cr_assert_eq(a.regs.rip, HOST_RIP + 0x40);
	cr_assert_eq(a.regs.rcx, AEP);
	cr_assert_eq(tcs_at(OFF_TCS)->state, 0);
}

Test(fetched, other_bytes_are_not_enclu_and_change_nothing)
{
	memcpy(ptr(th_pa(&t, OFF_RWX + 0x100)), enclu_bytes, 3);
	ptr(th_pa(&t, OFF_RWX + 0x102))[0] = 0xD0;
	inside_at(OFF_RWX + 0x100);
	snap_take(&before, &a);
	struct hw_result fetch, r;
	cr_assert_not(hw_enclu_fetched(&a, &fetch, &r));
	th_assert_ok(fetch);
	snap_same(&before, &a);
	cr_assert_not(hw_enclu_at(&a, &fetch));
	th_assert_ok(fetch);
	ptr(th_pa(&t, OFF_RWX + 0x102))[0] = 0xD7;
	cr_assert(hw_enclu_at(&a, &fetch));
	snap_same(&before, &a);
}

Test(fetched, a_page_without_x_in_the_epcm_is_the_fetchs_pf)
{
	/* The page tables allow the fetch (RWX), the EPCM does not (REG with no permission). */
	inside_at(OFF_NONE + 0x10);
	snap_take(&before, &a);
	struct hw_result fetch, r;
	cr_assert_not(hw_enclu_fetched(&a, &fetch, &r));
	th_assert_pf(fetch, lin(OFF_NONE + 0x10), PF_P | PF_U | PF_I | PF_SGX);
	snap_same(&before, &a);
}

Test(fetched, bytes_across_two_pages_check_both)
{
	/* 0F 01 at the end of the RWX page, D7 would be on the next page, which the EPCM refuses. */
	memcpy(ptr(th_pa(&t, OFF_RWX + SGX_PAGE_SIZE - 2)), enclu_bytes, 2);
	inside_at(OFF_RWX + SGX_PAGE_SIZE - 2);
	struct hw_result fetch, r;
	cr_assert_not(hw_enclu_fetched(&a, &fetch, &r));
	th_assert_pf(fetch, lin(OFF_NONE), PF_P | PF_U | PF_I | PF_SGX);
	cr_assert(a.in_enclave);
}

Test(fetched, outside_elrange_is_gp)
{
	/* Host memory with ENCLU, mapped executable: enclave mode fetches nothing outside ELRANGE. */
	memcpy(host_page, enclu_bytes, 3);
	cr_assert_eq(pagetable_map(&t.pt, HOST_RIP & ~0xFFFULL, (uint64_t)(uintptr_t)host_page, PROT_RX), 0);
	inside_at(0);
	a.regs.rip = HOST_RIP & ~0xFFFULL;
	struct hw_result fetch, r;
	cr_assert_not(hw_enclu_fetched(&a, &fetch, &r));
	th_assert_gp(fetch);
}

/* ======================================================================= */
/* EENTER from the TLB only (hw_enclu_eenter_tlb, exec's bare entries)      */
/* ======================================================================= */

TestSuite(eenter_tlb, .init = fresh, .fini = done, .timeout = 60);

struct entered {
	struct hw_regs regs;
	uint8_t tcs[SGX_PAGE_SIZE], ssa[SGX_PAGE_SIZE];
	bool in_enclave;
	unsigned inside;
};

static void entered_take(struct entered *e)
{
	e->regs = a.regs;
	memcpy(e->tcs, ptr(th_pa(&t, OFF_TCS)), SGX_PAGE_SIZE);
	memcpy(e->ssa, ptr(th_pa(&t, OFF_SSA)), SGX_PAGE_SIZE);
	e->in_enclave = a.in_enclave;
	e->inside = inside();
}

/* An EENTER the usual way, then EEXIT back to the host registers of TCS 0: the TCS and SSA pages are in a's TLB. */
static void warm(void)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	a.regs.rbx = HOST_RIP;
	th_assert_ok(enclu(&a, ENCLU_EEXIT));
	host_regs(&a, OFF_TCS);
	a.regs.rcx = AEP;
	a.regs.rax = ENCLU_EENTER;
}

Test(eenter_tlb, this_build_has_it)
{
	cr_assert(hw_eenter_tlb_built, "enclu_enter.c was built with SSE: exec's entries all take the XSAVE way");
}

Test(eenter_tlb, enters_exactly_as_hw_enclu_does)
{
	warm();
	struct hw_regs in = a.regs;
	struct entered usual, bare;
	th_assert_ok(hw_enclu(&a));
	entered_take(&usual);
	a.regs.rbx = HOST_RIP;
	th_assert_ok(enclu(&a, ENCLU_EEXIT));
	a.regs = in;
	cr_assert(hw_enclu_eenter_tlb(&a, a.eid));
	entered_take(&bare);
	cr_assert(memcmp(&usual.regs, &bare.regs, sizeof(usual.regs)) == 0, "registers differ");
	cr_assert(memcmp(usual.tcs, bare.tcs, SGX_PAGE_SIZE) == 0, "TCS differs");
	cr_assert(memcmp(usual.ssa, bare.ssa, SGX_PAGE_SIZE) == 0, "SSA frame differs (URSP/URBP)");
	cr_assert(bare.in_enclave);
	cr_assert_eq(bare.inside, 1);
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY));
}

Test(eenter_tlb, declines_with_a_cold_tlb_and_changes_nothing)
{
	prep(&a, ENCLU_EENTER, OFF_TCS, AEP);
	snap_take(&before, &a);
	cr_assert_not(hw_enclu_eenter_tlb(&a, th_secs_eid()));
	snap_same(&before, &a);
	/* The usual leaf walks the page tables and fills the TLB: the next one may go the TLB's way. */
	th_assert_ok(hw_enclu(&a));
}

/* EENTER records the enclave's EID: unique on the machine, where a later enclave may reuse the SECS frame. */
Test(eenter_tlb, declines_for_another_enclaves_eid)
{
	warm();
	cr_assert_eq(a.eid, th_secs_eid(), "EENTER recorded EID %llu", (unsigned long long)a.eid);
	snap_take(&before, &a);
	cr_assert_not(hw_enclu_eenter_tlb(&a, a.eid + 1));
	cr_assert_not(hw_enclu_eenter_tlb(&a, 0));
	snap_same(&before, &a);
}

Test(eenter_tlb, declines_where_the_leaf_faults)
{
	warm();
	/* TCS 0 busy: thread b is inside it.  The usual leaf gives the #GP. */
	th_assert_ok(eenter(&b, OFF_TCS, AEP2));
	snap_take(&before, &a);
	cr_assert_not(hw_enclu_eenter_tlb(&a, th_secs_eid()));
	snap_same(&before, &a);
	th_assert_gp(hw_enclu(&a));
}

Test(eenter_tlb, declines_for_other_leaves)
{
	warm();
	a.regs.rax = ENCLU_ERESUME;
	snap_take(&before, &a);
	cr_assert_not(hw_enclu_eenter_tlb(&a, th_secs_eid()));
	snap_same(&before, &a);
}

static uint64_t obs_now(void)
{
	return 1;
}
static unsigned obs_leaves;
static void obs_enclu(struct hw_thread *x, const struct hw_regs *in, struct hw_result r, uint64_t t0)
{
	(void)x, (void)in, (void)r, (void)t0;
	obs_leaves++;
}

Test(eenter_tlb, declines_while_an_observer_is_installed)
{
	warm();
	static const struct hw_obs o = {.now = obs_now, .enclu = obs_enclu};
	hw_obs_set(&o);
	snap_take(&before, &a);
	bool entered = hw_enclu_eenter_tlb(&a, th_secs_eid());
	hw_obs_set(NULL);
	cr_assert_not(entered, "the observer would not have seen the leaf");
	snap_same(&before, &a);
	cr_assert_eq(obs_leaves, 0);
}

/* ======================================================================= */
/* AEX                                                                      */
/* ======================================================================= */

TestSuite(aex, .init = fresh, .fini = done, .timeout = 60);

/* Enter TCS 0 and load a recognisable enclave register state. */
static struct hw_regs enclave_state(void)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	a.regs = (struct hw_regs){.rax = 0xA0,
				  .rcx = 0xC0,
				  .rdx = 0xD0,
				  .rbx = 0xB0,
				  .rsp = lin(OFF_DATA) + 0xF00,
				  .rbp = lin(OFF_DATA) + 0xF80,
				  .rsi = 0x51,
				  .rdi = 0xD1,
				  .r8 = 8,
				  .r9 = 9,
				  .r10 = 10,
				  .r11 = 11,
				  .r12 = 12,
				  .r13 = 13,
				  .r14 = 14,
				  .r15 = 15,
				  .rflags = RFLAGS_FIXED | RFLAGS_IF | RFLAGS_DF | RFLAGS_CF | RFLAGS_ZF | RFLAGS_SF |
					    RFLAGS_OF | RFLAGS_PF | RFLAGS_AF | RFLAGS_RF,
				  .rip = lin(OFF_ENTRY) + 0x123,
				  .fsbase = lin(OFF_FS) + 0x10,
				  .gsbase = lin(OFF_GS) + 0x20};
	return a.regs;
}

/* A recognisable XSAVE image that XRSTOR accepts (valid MXCSR, XSTATE_BV=3, clean header). */
static void xsave_pattern(struct hw_thread *x, uint8_t seed)
{
	for (unsigned i = 0; i < 512; i++)
		x->xsave[i] = (uint8_t)(seed + i * 3);
	uint32_t mxcsr = 0x1F80 | 0x3F, mask = 0xFFFF;
	memcpy(x->xsave + 24, &mxcsr, 4);
	memcpy(x->xsave + 28, &mask, 4);
	memset(x->xsave + 512, 0, 64);
	wr64(x->xsave + 512, 0x3);
}

Test(aex, gprsgx_saved)
{
	struct hw_regs e = enclave_state();
	struct hw_event ev = {.vector = X86_UD};
	hw_aex(&a, &ev);
	struct sgx_gprsgx *g = gpr_at(OFF_SSA);
	cr_assert_eq(g->rax, e.rax);
	cr_assert_eq(g->rcx, e.rcx);
	cr_assert_eq(g->rdx, e.rdx);
	cr_assert_eq(g->rbx, e.rbx);
	cr_assert_eq(g->rsp, e.rsp);
	cr_assert_eq(g->rbp, e.rbp);
	cr_assert_eq(g->rsi, e.rsi);
	cr_assert_eq(g->rdi, e.rdi);
	cr_assert_eq(g->r8, 8);
	cr_assert_eq(g->r9, 9);
	cr_assert_eq(g->r10, 10);
	cr_assert_eq(g->r11, 11);
	cr_assert_eq(g->r12, 12);
	cr_assert_eq(g->r13, 13);
	cr_assert_eq(g->r14, 14);
	cr_assert_eq(g->r15, 15);
	cr_assert_eq(g->rflags, e.rflags);
	cr_assert_eq(g->rip, e.rip);
	cr_assert_eq(g->fsbase, e.fsbase);
	cr_assert_eq(g->gsbase, e.gsbase);
	cr_assert_eq(g->ursp, HOST_RSP);
	cr_assert_eq(g->urbp, HOST_RBP);
	cr_assert_eq(g->exitinfo, SGX_EXITINFO_VALID | (SGX_EXITINFO_TYPE_HW << 8) | X86_UD);
	cr_assert_eq(g->aexnotify, 0);
	cr_assert_eq(g->reserved[0] | g->reserved[1] | g->reserved[2], 0);
}

Test(aex, synthetic_state_and_exit)
{
	enclave_state();
	struct hw_event ev = {.vector = X86_UD};
	struct hw_event os = hw_aex(&a, &ev);
	cr_assert_eq(os.vector, X86_UD);

	cr_assert_eq(a.regs.rax, ENCLU_ERESUME);
	cr_assert_eq(a.regs.rbx, lin(OFF_TCS));
	cr_assert_eq(a.regs.rcx, AEP);
	cr_assert_eq(a.regs.rip, AEP);
	cr_assert_eq(a.regs.rsp, HOST_RSP);
	cr_assert_eq(a.regs.rbp, HOST_RBP);
	cr_assert_eq(a.regs.rdx | a.regs.rsi | a.regs.rdi, 0);
	cr_assert_eq(a.regs.r8 | a.regs.r9 | a.regs.r10 | a.regs.r11, 0);
	cr_assert_eq(a.regs.r12 | a.regs.r13 | a.regs.r14 | a.regs.r15, 0);
	/* CF PF AF ZF SF OF RF cleared; IF, DF and the fixed bit kept. */
	cr_assert_eq(a.regs.rflags, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_DF, "rflags %#llx",
		     (unsigned long long)a.regs.rflags);
	cr_assert_eq(a.regs.fsbase, HOST_FS);
	cr_assert_eq(a.regs.gsbase, HOST_GS);

	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
	cr_assert_eq(tcs_at(OFF_TCS)->state, 0);
	cr_assert_not(a.in_enclave);
	cr_assert_eq(inside(), 0);
}

Test(aex, xsave_saved_then_reset_to_init)
{
	enclave_state();
	xsave_pattern(&a, 0x40);
	uint8_t img[576];
	memcpy(img, a.xsave, sizeof(img));
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});

	cr_assert(memcmp(ptr(th_pa(&t, OFF_SSA)), img, sizeof(img)) == 0, "SSA XSAVE area differs");
	/* INIT state: FCW 0x37F, MXCSR 0x1F80, registers 0, XSTATE_BV of XFRM clear. */
	uint16_t fcw;
	uint32_t mxcsr;
	memcpy(&fcw, a.xsave, 2);
	memcpy(&mxcsr, a.xsave + 24, 4);
	cr_assert_eq(fcw, 0x37F);
	cr_assert_eq(mxcsr, 0x1F80);
	for (unsigned i = 2; i < 512; i++)
		if (i < 24 || i >= 32)
			cr_assert_eq(a.xsave[i], 0, "byte %u", i);
	cr_assert_eq(rd64(a.xsave + 512), 0);
}

Test(aex, fcw_after_mf_is_37e)
{
	enclave_state();
	hw_aex(&a, &(struct hw_event){.vector = X86_MF});
	uint16_t fcw;
	memcpy(&fcw, a.xsave, 2);
	cr_assert_eq(fcw, 0x37E);
}

struct exitinfo_case {
	uint8_t vector;
	bool software, interrupt;
	uint32_t expect;
};

#define VALID_HW(v) (SGX_EXITINFO_VALID | (SGX_EXITINFO_TYPE_HW << 8) | (v))
#define VALID_SW(v) (SGX_EXITINFO_VALID | (SGX_EXITINFO_TYPE_SW << 8) | (v))

static void run_exitinfo(const struct exitinfo_case *c, size_t n)
{
	enclave_state();
	for (size_t i = 0; i < n; i++) {
		struct hw_event ev = {.vector = c[i].vector, .software = c[i].software, .interrupt = c[i].interrupt};
		hw_aex(&a, &ev);
		cr_assert_eq(gpr_at(OFF_SSA)->exitinfo, c[i].expect, "vector %u: exitinfo %#x, expected %#x",
			     c[i].vector, gpr_at(OFF_SSA)->exitinfo, c[i].expect);
		th_assert_ok(eresume(&a, OFF_TCS, AEP));
	}
}

Test(aex, exitinfo_valid_for_reported_exceptions)
{
	static const struct exitinfo_case c[] = {
	    {X86_DE, false, false, VALID_HW(X86_DE)}, {X86_DB, false, false, VALID_HW(X86_DB)},
	    {X86_BP, true, false, VALID_SW(X86_BP)},  {X86_BR, false, false, VALID_HW(X86_BR)},
	    {X86_UD, false, false, VALID_HW(X86_UD)}, {X86_MF, false, false, VALID_HW(X86_MF)},
	    {X86_AC, false, false, VALID_HW(X86_AC)}, {X86_XM, false, false, VALID_HW(X86_XM)},
	    {X86_GP, false, false, VALID_HW(X86_GP)}, {X86_PF, false, false, VALID_HW(X86_PF)},
	};
	run_exitinfo(c, sizeof(c) / sizeof(c[0]));
}

Test(aex, exitinfo_zero_for_interrupts_and_other_exceptions)
{
	static const struct exitinfo_case c[] = {
	    {0x20, false, true, 0},    /* external interrupt */
	    {2, false, true, 0},       /* NMI */
	    {X86_PF, false, true, 0},  /* a vector number delivered as an interrupt */
	    {7, false, false, 0},      /* #NM */
	    {12, false, false, 0},     /* #SS */
	    {18, false, false, 0},     /* #MC */
	    {X86_CP, false, false, 0}, /* CET is not modelled */
	};
	run_exitinfo(c, sizeof(c) / sizeof(c[0]));
}

Test(aex, pf_exinfo_and_os_view)
{
	enclave_state();
	memset(exinfo_at(OFF_SSA), 0xAA, sizeof(struct sgx_exinfo));
	uint64_t addr = lin(OFF_RO) + 0x123;
	struct hw_event ev = {
	    .vector = X86_PF, .has_errcode = true, .errcode = PF_P | PF_W | PF_U | PF_SGX, .addr = addr};
	struct hw_event os = hw_aex(&a, &ev);
	/* The OS sees the page only; the error code is the real one. */
	cr_assert_eq(os.vector, X86_PF);
	cr_assert_eq(os.addr, lin(OFF_RO));
	cr_assert_eq(os.errcode, PF_P | PF_W | PF_U | PF_SGX);
	cr_assert(os.has_errcode);
	struct sgx_exinfo *x = exinfo_at(OFF_SSA);
	cr_assert_eq(x->maddr, addr);
	cr_assert_eq(x->errcd, PF_P | PF_W | PF_U | PF_SGX);
	cr_assert_eq(x->reserved, 0);
	cr_assert_eq(gpr_at(OFF_SSA)->exitinfo, VALID_HW(X86_PF));
}

Test(aex, gp_exinfo)
{
	enclave_state();
	memset(exinfo_at(OFF_SSA), 0xAA, sizeof(struct sgx_exinfo));
	struct hw_event ev = {.vector = X86_GP, .has_errcode = true, .errcode = 0x18};
	struct hw_event os = hw_aex(&a, &ev);
	cr_assert_eq(os.vector, X86_GP);
	cr_assert_eq(os.errcode, 0x18);
	struct sgx_exinfo *x = exinfo_at(OFF_SSA);
	cr_assert_eq(x->maddr, 0);
	cr_assert_eq(x->errcd, 0x18);
	cr_assert_eq(x->reserved, 0);
}

Test(aex, exinfo_untouched_for_other_events)
{
	enclave_state();
	memset(exinfo_at(OFF_SSA), 0xAA, sizeof(struct sgx_exinfo));
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	const uint8_t *p = (const uint8_t *)exinfo_at(OFF_SSA);
	for (unsigned i = 0; i < SGX_EXINFO_SIZE; i++)
		cr_assert_eq(p[i], 0xAA);
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	hw_aex(&a, &(struct hw_event){.vector = X86_PF, .addr = 0x1234, .interrupt = true});
	for (unsigned i = 0; i < SGX_EXINFO_SIZE; i++)
		cr_assert_eq(p[i], 0xAA);
}

static void no_exinfo(struct sgx_secs *s)
{
	s->miscselect = 0;
}

TestSuite(aex_config, .fini = fini_only, .timeout = 60);

Test(aex_config, pf_and_gp_not_reported_without_exinfo)
{
	build(NULL, no_exinfo);
	enclave_state();
	memset(exinfo_at(OFF_SSA), 0xAA, sizeof(struct sgx_exinfo));
	struct hw_event ev = {.vector = X86_PF, .has_errcode = true, .errcode = PF_P | PF_U, .addr = lin(0x5123)};
	struct hw_event os = hw_aex(&a, &ev);
	cr_assert_eq(os.addr, lin(0x5000));
	cr_assert_eq(gpr_at(OFF_SSA)->exitinfo, 0);
	const uint8_t *p = (const uint8_t *)exinfo_at(OFF_SSA);
	for (unsigned i = 0; i < SGX_EXINFO_SIZE; i++)
		cr_assert_eq(p[i], 0xAA);
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	hw_aex(&a, &(struct hw_event){.vector = X86_GP, .has_errcode = true});
	cr_assert_eq(gpr_at(OFF_SSA)->exitinfo, 0);
	for (unsigned i = 0; i < SGX_EXINFO_SIZE; i++)
		cr_assert_eq(p[i], 0xAA);
	/* Still reported for the other exceptions. */
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	hw_aex(&a, &(struct hw_event){.vector = X86_DE});
	cr_assert_eq(gpr_at(OFF_SSA)->exitinfo, VALID_HW(X86_DE));
}

Test(aex, ssa_written_through_pages_resolved_at_entry)
{
	/* Like the CPU, AEX writes the SSA frame it resolved at entry: the OS may zap the PTE first. */
	enclave_state();
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(gpr_at(OFF_SSA)->exitinfo, VALID_HW(X86_UD));
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
}

Test(aex, aexnotify_byte_is_left_as_the_enclave_wrote_it)
{
	/* GPRSGX.AEXNOTIFY is the enclave's opt-in for the frame: AEX writes the frame around it. */
	secs_attr(SGX_ATTR_AEXNOTIFY, 0);
	tcs_at(OFF_TCS)->flags = SGX_TCS_AEXNOTIFY;
	enclave_state();
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	cr_assert_eq(gpr_at(OFF_SSA)->aexnotify, 0, "not set from the TCS's flag");
	cr_assert_eq(gpr_at(OFF_SSA)->exitinfo, 0);
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	gpr_at(OFF_SSA)->aexnotify = 0x81;
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(gpr_at(OFF_SSA)->aexnotify, 0x81);
	cr_assert_eq(gpr_at(OFF_SSA)->exitinfo, VALID_HW(X86_UD));
}

Test(aex, outside_enclave_event_passes_unchanged)
{
	snap_take(&before, &a);
	struct hw_event ev = {.vector = X86_PF, .errcode = PF_U, .addr = 0x1234567};
	struct hw_event os = hw_aex(&a, &ev);
	cr_assert_eq(os.addr, 0x1234567);
	cr_assert_eq(os.errcode, PF_U);
	snap_same(&before, &a);
}

Test(aex, cssa_counts_up_to_nssa)
{
	enclave_state();
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rax, 1);
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 2);
	/* CSSA = NSSA: no frame for a handler. */
	host_regs(&a, OFF_TCS);
	eenter_gp(OFF_TCS);
	/* ERESUME still returns to the handler's frame, then to the original one. */
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
}

Test(aex, nested_handler_then_eresume_restores_exactly)
{
	/*
	 * 1. Enter, load a state and an XSAVE image; AEX (#PF) saves them in SSA[0].
	 * 2. EENTER again: RAX = CSSA = 1, the handler's URSP goes to SSA[1].
	 * 3. The handler changes registers and XSAVE state, then EEXITs.
	 * 4. ERESUME: the state of step 1 comes back exactly; CSSA = 0.
	 */
	struct hw_regs e = enclave_state();
	xsave_pattern(&a, 0x11);
	uint8_t img[576];
	memcpy(img, a.xsave, sizeof(img));
	hw_aex(&a, &(struct hw_event){.vector = X86_PF, .errcode = PF_U | PF_P, .addr = lin(OFF_RO)});

	a.regs.rsp = HOST_RSP - 0x100;
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rax, 1);
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY));
	cr_assert_eq(gpr_at(OFF_SSA + 0x1000)->ursp, HOST_RSP - 0x100);

	a.regs.r12 = 0xBAD;
	a.regs.fsbase = lin(OFF_FS) + 0x800;
	xsave_pattern(&a, 0x99);
	a.regs.rbx = AEP;
	th_assert_ok(enclu(&a, ENCLU_EEXIT));
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);

	host_regs(&a, OFF_TCS);
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	e.rflags &= ~RFLAGS_RF; /* RF is not a CPL-3 flag: it is not taken from the frame */
	cr_assert(memcmp(&a.regs, &e, sizeof(e)) == 0, "registers not restored exactly");
	cr_assert(memcmp(a.xsave, img, sizeof(img)) == 0, "XSAVE image not restored exactly");
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 0);
	cr_assert_eq(tcs_at(OFF_TCS)->state, 1);
	cr_assert(a.in_enclave);
	cr_assert_eq(a.out_fsbase, HOST_FS);
	cr_assert_eq(inside(), 1);
}

Test(aex, fs_gs_handling_across_aex_and_eresume)
{
	enclave_state();
	/* The enclave moved its own bases (WRFSBASE); AEX saves them and gives the host its own back. */
	a.regs.fsbase = lin(OFF_DATA);
	a.regs.gsbase = lin(OFF_DATA) + 0x100;
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(a.regs.fsbase, HOST_FS);
	cr_assert_eq(a.regs.gsbase, HOST_GS);
	cr_assert_eq(gpr_at(OFF_SSA)->fsbase, lin(OFF_DATA));
	cr_assert_eq(gpr_at(OFF_SSA)->gsbase, lin(OFF_DATA) + 0x100);
	/* The host changed its bases meanwhile: ERESUME saves the new ones and restores the enclave's. */
	a.regs.fsbase = HOST_FS + 0x1000;
	a.regs.gsbase = HOST_GS + 0x1000;
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.fsbase, lin(OFF_DATA));
	cr_assert_eq(a.regs.gsbase, lin(OFF_DATA) + 0x100);
	a.regs.rbx = HOST_RIP;
	th_assert_ok(enclu(&a, ENCLU_EEXIT));
	cr_assert_eq(a.regs.fsbase, HOST_FS + 0x1000);
	cr_assert_eq(a.regs.gsbase, HOST_GS + 0x1000);
}

Test(aex, needs_no_pte_permission_on_the_ssa)
{
	/* Hardware writes the frame it resolved at entry: the PTE's permissions no longer matter. */
	enclave_state();
	th_map(&t, OFF_SSA, 0);
	a.regs.rsi = 0x77;
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(gpr_at(OFF_SSA)->rsi, 0x77);
}

static void xcr0_avx(struct hw_config *c)
{
	cfg_test(c);
	c->xfrm_allowed = 0x7;
	c->xcr0 = 0x7;
}

Test(aex_config, components_outside_xfrm_survive_aex_and_eresume)
{
	struct hw_config c;
	xcr0_avx(&c);
	build(&c, NULL); /* XFRM = 3, XCR0 = 7 */
	cr_assert_geq(a.xsave_size, 832);
	enclave_state();
	xsave_pattern(&a, 0x21);
	wr64(a.xsave + 512, 0x7);
	for (unsigned i = 576; i < 832; i++)
		a.xsave[i] = (uint8_t)i;
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	/* The SSA image holds XFRM components only. */
	cr_assert_eq(rd64(ptr(th_pa(&t, OFF_SSA)) + 512), 0x3);
	/* AVX state (not in XFRM) untouched by the INIT reset. */
	cr_assert_eq(rd64(a.xsave + 512), 0x4);
	for (unsigned i = 576; i < 832; i++)
		cr_assert_eq(a.xsave[i], (uint8_t)i);
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(rd64(a.xsave + 512), 0x7);
}

static void xfrm_avx_with_xcr0(struct hw_config *c)
{
	xcr0_avx(c);
}

Test(aex_config, xfrm_components_reset_to_init)
{
	struct hw_config c;
	xfrm_avx_with_xcr0(&c);
	build(&c, xfrm_avx); /* XFRM = XCR0 = 7 */
	enclave_state();
	xsave_pattern(&a, 0x21);
	wr64(a.xsave + 512, 0x7);
	for (unsigned i = 576; i < 832; i++)
		a.xsave[i] = (uint8_t)(i | 1);
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(rd64(ptr(th_pa(&t, OFF_SSA)) + 512), 0x7);
	cr_assert_eq(ptr(th_pa(&t, OFF_SSA))[600], (uint8_t)(600 | 1));
	cr_assert_eq(rd64(a.xsave + 512), 0);
	for (unsigned i = 576; i < 832; i++)
		cr_assert_eq(a.xsave[i], 0);
}

static void xfrm_pkru(struct sgx_secs *s)
{
	s->xfrm = 0x203;
}

Test(aex_config, components_outside_xfrm_within_its_image_are_not_touched)
{
	/* XFRM = x87|SSE|PKRU: the AVX area (576..831) lies inside the image of XFRM but is not XFRM's. */
	struct hw_config c;
	cfg_test(&c);
	c.xfrm_allowed = 0x207;
	c.xcr0 = 0x207;
	build(&c, xfrm_pkru);
	enclave_state();
	xsave_pattern(&a, 0x21);
	wr64(a.xsave + 512, 0x207);
	for (unsigned i = 576; i < 832; i++)
		a.xsave[i] = (uint8_t)(i | 1);
	wr64(a.xsave + 2688, 0x55555554);
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	const uint8_t *ssa = ptr(th_pa(&t, OFF_SSA));
	cr_assert_eq(rd64(ssa + 512), 0x203, "XSTATE_BV of XFRM");
	cr_assert_eq(rd64(ssa + 2688), 0x55555554, "PKRU saved at its offset");
	for (unsigned i = 576; i < 832; i++)
		cr_assert_eq(ssa[i], 0, "AVX byte %u written to the SSA", i);
	/* INIT reset: PKRU cleared, AVX (outside XFRM) untouched. */
	cr_assert_eq(rd64(a.xsave + 512), 0x4);
	cr_assert_eq(rd64(a.xsave + 2688), 0);
	for (unsigned i = 576; i < 832; i++)
		cr_assert_eq(a.xsave[i], (uint8_t)(i | 1), "AVX byte %u changed by the AEX", i);

	/* ERESUME restores PKRU from the frame and leaves AVX as the thread has it now. */
	for (unsigned i = 576; i < 832; i++)
		a.xsave[i] = 0x77;
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(rd64(a.xsave + 512), 0x207);
	cr_assert_eq(rd64(a.xsave + 2688), 0x55555554);
	for (unsigned i = 576; i < 832; i++)
		cr_assert_eq(a.xsave[i], 0x77, "AVX byte %u taken from the SSA", i);
}

/* An AMD-like standard layout: no MPX, so AVX-512 and PKRU follow AVX directly. */
static void layout_compact(struct hw_config *c)
{
	cfg_test(c);
	c->xcr0 = c->xfrm_allowed = 0x2E7;
	c->xstate_offset[5] = 832, c->xstate_size[5] = 64;
	c->xstate_offset[6] = 896, c->xstate_size[6] = 512;
	c->xstate_offset[7] = 1408, c->xstate_size[7] = 1024;
	c->xstate_offset[9] = 2432, c->xstate_size[9] = 8;
}

static void xfrm_avx512(struct sgx_secs *s)
{
	s->xfrm = 0xE7;
}

Test(aex_config, xfrm_components_go_through_the_ssa_in_the_machine_layout)
{
	struct hw_config c;
	layout_compact(&c);
	build(&c, xfrm_avx512);
	cr_assert_eq(a.xsave_size, 2440, "the thread image ends with PKRU");
	enclave_state();
	xsave_pattern(&a, 0x21);
	wr64(a.xsave + 512, 0x2E7);
	for (unsigned i = 576; i < 2432; i++)
		a.xsave[i] = (uint8_t)(i * 7 + 1);
	wr64(a.xsave + 2432, 0x55555554);
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	const uint8_t *ssa = ptr(th_pa(&t, OFF_SSA));
	cr_assert_eq(rd64(ssa + 512), 0xE7);
	for (unsigned i = 576; i < 2432; i++)
		cr_assert_eq(ssa[i], (uint8_t)(i * 7 + 1), "SSA byte %u", i);
	cr_assert_eq(rd64(ssa + 2432), 0, "PKRU is outside XFRM");
	cr_assert_eq(rd64(a.xsave + 512), 0x200);
	for (unsigned i = 576; i < 2432; i++)
		cr_assert_eq(a.xsave[i], 0, "INIT byte %u", i);
	cr_assert_eq(rd64(a.xsave + 2432), 0x55555554);

	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(rd64(a.xsave + 512), 0x2E7);
	for (unsigned i = 576; i < 2432; i++)
		cr_assert_eq(a.xsave[i], (uint8_t)(i * 7 + 1), "restored byte %u", i);
}

/* ======================================================================= */
/* ERESUME                                                                  */
/* ======================================================================= */

TestSuite(eresume, .init = fresh, .fini = done, .timeout = 60);

/* Enter, AEX: the thread is at the AEP with CSSA = 1. */
static void interrupted(void)
{
	enclave_state();
	xsave_pattern(&a, 0x33);
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
}

static void eresume_gp(void)
{
	leaf_gp(&a, ENCLU_ERESUME, OFF_TCS);
}

static void eresume_pf(uint64_t addr, uint32_t err)
{
	leaf_pf(&a, ENCLU_ERESUME, OFF_TCS, addr, err);
}

Test(eresume, cssa_zero_gp)
{
	eresume_gp();
}

Test(eresume, shares_eenter_checks)
{
	interrupted();
	leaf_gp(&a, ENCLU_ERESUME, OFF_TCS + 0x10);
	th_assert_ok(encls_eblock(t.m, th_pa(&t, OFF_TCS)));
	eresume_pf(lin(OFF_TCS), PF_ENTRY_SGX);
}

Test(eresume, checks_the_previous_frame)
{
	interrupted();
	/* CSSA = 1: frame 0 is the one restored; frame 1 does not matter. */
	pagetable_unmap(&t.pt, lin(OFF_SSA + 0x1000));
	th_map(&t, OFF_SSA, HW_ACC_R);
	eresume_pf(lin(OFF_SSA), PF_ENTRY_WALK);
	th_map(&t, OFF_SSA, PROT_RW);
	EPCM_SET(OFF_SSA, pending, 1);
	eresume_pf(lin(OFF_SSA), PF_ENTRY_SGX);
	EPCM_SET(OFF_SSA, pending, 0);
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
}

Test(eresume, frame_rip_not_canonical_gp)
{
	interrupted();
	gpr_at(OFF_SSA)->rip = 0x0000800000000000ULL;
	eresume_gp();
}

Test(eresume, frame_fs_gs_not_canonical_gp)
{
	interrupted();
	gpr_at(OFF_SSA)->fsbase = 0x8000000000000000ULL;
	eresume_gp();
	gpr_at(OFF_SSA)->fsbase = lin(OFF_FS);
	gpr_at(OFF_SSA)->gsbase = 0x0001000000000000ULL;
	eresume_gp();
}

Test(eresume, frame_checked_before_rip)
{
	interrupted();
	gpr_at(OFF_SSA)->rip = 0x0000800000000000ULL;
	EPCM_SET(OFF_SSA, modified, 1);
	eresume_pf(lin(OFF_SSA), PF_ENTRY_SGX);
}

Test(eresume, xstate_bv_outside_xfrm_gp)
{
	interrupted();
	wr64(ptr(th_pa(&t, OFF_SSA)) + 512, 0x7);
	eresume_gp();
}

Test(eresume, xsave_header_bytes_520_to_535_must_be_zero)
{
	interrupted();
	uint8_t *x = ptr(th_pa(&t, OFF_SSA));
	x[520] = 1; /* XCOMP_BV: compacted form */
	eresume_gp();
	x[520] = 0;
	x[535] = 0x80;
	eresume_gp();
	x[535] = 0;
	x[536] = 0xFF; /* beyond the checked bytes */
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
}

Test(eresume, mxcsr_reserved_bits_gp)
{
	interrupted();
	uint32_t mxcsr = 0x11F80;
	memcpy(ptr(th_pa(&t, OFF_SSA)) + 24, &mxcsr, 4);
	eresume_gp();
}

Test(eresume, aexnotify_of_tcs_and_enclave_must_agree_unless_dbgoptin)
{
	/* Interrupted while they agreed; then the TCS's flag changes (as EDBGWR could). */
	secs_attr(SGX_ATTR_AEXNOTIFY, 0);
	tcs_at(OFF_TCS)->flags = SGX_TCS_AEXNOTIFY;
	interrupted();
	tcs_at(OFF_TCS)->flags = 0;
	eresume_gp();
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1, "nothing changed");
	/* Checked before the SSA frame (SDM order): #GP even when the frame would #PF. */
	EPCM_SET(OFF_SSA, blocked, 1);
	eresume_gp();
	EPCM_SET(OFF_SSA, blocked, 0);
	/* A debugger that opted in is let through. */
	tcs_at(OFF_TCS)->flags = SGX_TCS_DBGOPTIN;
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
}

Test(eresume, aexnotify_with_attribute_resumes_the_frame)
{
	secs_attr(SGX_ATTR_AEXNOTIFY, SGX_ATTR_DEBUG);
	tcs_at(OFF_TCS)->flags = SGX_TCS_AEXNOTIFY;
	struct hw_regs e = enclave_state();
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rip, e.rip);
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 0);
}

Test(eresume, tcs_busy_gp)
{
	interrupted();
	th_assert_ok(eenter(&b, OFF_TCS, AEP)); /* CSSA=1 < NSSA: b runs the handler */
	eresume_gp();
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
	cr_assert_eq(inside(), 1);
}

Test(eresume, frame_checked_before_busy)
{
	interrupted();
	th_assert_ok(eenter(&b, OFF_TCS, AEP));
	EPCM_SET(OFF_SSA, blocked, 1);
	eresume_pf(lin(OFF_SSA), PF_ENTRY_SGX);
}

Test(eresume, success_effects)
{
	struct hw_regs e = enclave_state();
	uint8_t img[576];
	xsave_pattern(&a, 0x44);
	memcpy(img, a.xsave, sizeof(img));
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	uint64_t ep = epoch();
	th_assert_ok(encls_etrack(t.m, t.secs_pa));

	a.regs.rflags |= RFLAGS_TF; /* host single-steps: an opt-out entry clears it */
	th_assert_ok(eresume(&a, OFF_TCS, AEP2));
	/* RFLAGS: the CPL-3 flags from the frame; RF is not among them. */
	e.rflags &= ~RFLAGS_RF;
	cr_assert(memcmp(&a.regs, &e, sizeof(e)) == 0, "registers differ");
	cr_assert(memcmp(a.xsave, img, sizeof(img)) == 0, "XSAVE image differs");
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 0);
	cr_assert_eq(tcs_at(OFF_TCS)->state, 1);
	cr_assert_eq(tcs_at(OFF_TCS)->aep, AEP2);
	cr_assert_eq(a.aep, AEP2);
	cr_assert_eq(a.out_fsbase, HOST_FS);
	cr_assert_eq(a.entry_epoch, ep + 1);
	cr_assert_eq(inside(), 1);
	/* The next AEX goes to the new AEP. */
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(a.regs.rip, AEP2);
	cr_assert_eq(a.regs.rcx, AEP2);
}

Test(eresume, rflags_system_bits_kept_from_current)
{
	enclave_state();
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	/* The frame's IOPL/VM bits are not taken; IF comes from the current RFLAGS. */
	gpr_at(OFF_SSA)->rflags = RFLAGS_FIXED | 0x3000 | 0x20000 | RFLAGS_CF;
	a.regs.rflags = RFLAGS_FIXED | RFLAGS_IF;
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rflags, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_CF);
}

/* ======================================================================= */
/* hw_access_check: ordinary accesses in enclave mode                       */
/* ======================================================================= */

TestSuite(access, .init = fresh, .fini = done, .timeout = 60);

static void inside_enclave(void)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
}

static void access_ok(uint64_t addr, unsigned acc, uint64_t expect_pa)
{
	uint64_t pa = 0;
	struct hw_result r = hw_access_check(&a, addr, acc, &pa);
	th_assert_ok(r);
	cr_assert_eq(pa, expect_pa);
}

static void access_pf(uint64_t addr, unsigned acc, uint32_t err)
{
	uint64_t pa = 0;
	struct hw_result r = hw_access_check(&a, addr, acc, &pa);
	th_assert_pf(r, addr, err);
}

Test(access, epcm_rights_allow)
{
	inside_enclave();
	access_ok(lin(OFF_DATA) + 0x10, HW_ACC_R, th_pa(&t, OFF_DATA) + 0x10);
	access_ok(lin(OFF_DATA) + 0x18, HW_ACC_W, th_pa(&t, OFF_DATA) + 0x18);
	access_ok(lin(OFF_RO), HW_ACC_R, th_pa(&t, OFF_RO));
	access_ok(lin(OFF_RX) + 0xFFF, HW_ACC_X, th_pa(&t, OFF_RX) + 0xFFF);
	access_ok(lin(OFF_RX), HW_ACC_R, th_pa(&t, OFF_RX));
	access_ok(lin(OFF_RWX), HW_ACC_W, th_pa(&t, OFF_RWX));
	access_ok(lin(OFF_RWX), HW_ACC_X, th_pa(&t, OFF_RWX));
}

Test(access, epcm_rights_refuse_with_sgx_bit)
{
	inside_enclave();
	th_map(&t, OFF_RO, PROT_RWX);
	th_map(&t, OFF_DATA, PROT_RWX);
	th_map(&t, OFF_RX, PROT_RWX);
	access_pf(lin(OFF_RO) + 8, HW_ACC_W, PF_P | PF_W | PF_U | PF_SGX);
	access_pf(lin(OFF_RO) + 8, HW_ACC_X, PF_P | PF_I | PF_U | PF_SGX);
	access_pf(lin(OFF_DATA), HW_ACC_X, PF_P | PF_I | PF_U | PF_SGX);
	access_pf(lin(OFF_RX), HW_ACC_W, PF_P | PF_W | PF_U | PF_SGX);
	access_pf(lin(OFF_NONE), HW_ACC_R, PF_P | PF_U | PF_SGX);
}

Test(access, paging_refusal_is_ordinary_pf)
{
	inside_enclave();
	/* The PTE forbids what the EPCM allows: bit 15 clear. */
	th_map(&t, OFF_DATA, HW_ACC_R);
	access_pf(lin(OFF_DATA), HW_ACC_W, PF_P | PF_W | PF_U);
	access_pf(lin(OFF_RX), HW_ACC_W, PF_P | PF_W | PF_U);
	pagetable_unmap(&t.pt, lin(OFF_DATA));
	access_pf(lin(OFF_DATA) + 4, HW_ACC_R, PF_U);
}

Test(access, tcs_and_ssa_pages)
{
	inside_enclave();
	access_pf(lin(OFF_TCS), HW_ACC_R, PF_P | PF_U | PF_SGX);
	access_pf(lin(OFF_TCS2) + 8, HW_ACC_W, PF_P | PF_W | PF_U | PF_SGX);
	/* The SSA is ordinary enclave memory. */
	access_ok(lin(OFF_SSA) + 0xF48, HW_ACC_W, th_pa(&t, OFF_SSA) + 0xF48);
}

Test(access, pending_modified_blocked_refused_pr_allowed)
{
	inside_enclave();
	EPCM_SET(OFF_DATA, pending, 1);
	access_pf(lin(OFF_DATA), HW_ACC_R, PF_P | PF_U | PF_SGX);
	EPCM_SET(OFF_DATA, pending, 0);
	EPCM_SET(OFF_DATA, modified, 1);
	access_pf(lin(OFF_DATA), HW_ACC_W, PF_P | PF_W | PF_U | PF_SGX);
	EPCM_SET(OFF_DATA, modified, 0);
	EPCM_SET(OFF_DATA, blocked, 1);
	access_pf(lin(OFF_DATA), HW_ACC_R, PF_P | PF_U | PF_SGX);
	EPCM_SET(OFF_DATA, blocked, 0);
	EPCM_SET(OFF_DATA, pr, 1);
	access_ok(lin(OFF_DATA), HW_ACC_W, th_pa(&t, OFF_DATA));
	EPCM_SET(OFF_DATA, pt, SGX_PT_TRIM);
	access_pf(lin(OFF_DATA), HW_ACC_R, PF_P | PF_U | PF_SGX);
}

Test(access, wrong_frame_or_owner_refused)
{
	inside_enclave();
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_DATA), th_pa(&t, OFF_FS), PROT_RW), 0);
	access_pf(lin(OFF_DATA), HW_ACC_R, PF_P | PF_U | PF_SGX);
	access_pf(lin(OFF_EMPTY), HW_ACC_R, PF_P | PF_U | PF_SGX);
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_DATA), (uint64_t)(uintptr_t)host_page, PROT_RW), 0);
	access_pf(lin(OFF_DATA), HW_ACC_W, PF_P | PF_W | PF_U | PF_SGX);

	struct th o = {.m = t.m, .base = BASE, .size = ESIZE};
	th_secs_default(&o.secs, BASE, ESIZE);
	th_assert_ok(th_ecreate(&o));
	th_assert_ok(th_eadd(&o, OFF_DATA, REG_RW, NULL));
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_DATA), th_pa(&o, OFF_DATA), PROT_RW), 0);
	access_pf(lin(OFF_DATA), HW_ACC_R, PF_P | PF_U | PF_SGX);
}

Test(access, outside_elrange)
{
	inside_enclave();
	uint64_t host = (uint64_t)(uintptr_t)host_page;
	cr_assert_eq(pagetable_map(&t.pt, host, host, PROT_RWX), 0);
	access_ok(host + 0x20, HW_ACC_R, host + 0x20);
	access_ok(host + 0x20, HW_ACC_W, host + 0x20);
	uint64_t pa = 0;
	th_assert_gp(hw_access_check(&a, host + 0x20, HW_ACC_X, &pa));
	/* Paging still comes first. */
	pagetable_unmap(&t.pt, host);
	access_pf(host, HW_ACC_X, PF_I | PF_U);
}

Test(access, outside_enclave_mode_only_paging)
{
	/* Not in enclave mode: no EPCM check (abort-page semantics are the memory's business). */
	access_ok(lin(OFF_TCS), HW_ACC_R, th_pa(&t, OFF_TCS));
	access_ok(lin(OFF_RO), HW_ACC_R, th_pa(&t, OFF_RO));
	access_pf(lin(OFF_RO), HW_ACC_W, PF_P | PF_W | PF_U);
}

/* ======================================================================= */
/* AEX-Notify: ERESUME's notification entry and EDECCSSA                   */
/* ======================================================================= */

/* The enclave has the AEXNOTIFY attribute, TCS 0 the flag (NSSA = 2). */
static void notify_fresh(void)
{
	fresh();
	secs_attr(SGX_ATTR_AEXNOTIFY, 0);
	tcs_at(OFF_TCS)->flags = SGX_TCS_AEXNOTIFY;
}

TestSuite(aexnotify, .init = notify_fresh, .fini = done, .timeout = 60);

/* Host registers at the AEP for the ERESUME, told apart from the enclave's. */
static void at_aep(void)
{
	a.regs.rdx = 0xD2D2;
	a.regs.rsi = 0x5252;
	a.regs.rdi = 0xD3D3;
	a.regs.r8 = 0x808;
	a.regs.r15 = 0x1F1F;
	a.regs.rsp = HOST_RSP - 0x100;
	a.regs.rbp = HOST_RBP - 0x100;
	a.regs.rflags = RFLAGS_FIXED | RFLAGS_IF | RFLAGS_CF;
	a.regs.fsbase = HOST_FS;
	a.regs.gsbase = HOST_GS;
}

/* Enter, opt this frame in, AEX: at the AEP with CSSA = 1 and frame 0 asking for a notification. */
static void notify_pending(void)
{
	enclave_state();
	gpr_at(OFF_SSA)->aexnotify = 1;
	xsave_pattern(&a, 0x44);
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	at_aep();
}

Test(aexnotify, eresume_enters_at_oentry_and_keeps_the_frame)
{
	notify_pending();
	uint8_t frame0[SGX_PAGE_SIZE], xsave[576];
	memcpy(frame0, ptr(th_pa(&t, OFF_SSA)), sizeof(frame0));
	memcpy(xsave, a.xsave, sizeof(xsave));
	struct hw_regs h = a.regs;
	th_assert_ok(eresume(&a, OFF_TCS, AEP2));
	cr_assert(a.in_enclave);
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY), "entered at OENTRY");
	cr_assert_eq(a.regs.rax, 1, "RAX = CSSA");
	cr_assert_eq(a.regs.rcx, h.rip + 3, "RCX = the address after ENCLU");
	cr_assert_eq(a.regs.rbx, lin(OFF_TCS));
	cr_assert_eq(a.regs.fsbase, lin(OFF_FS), "FS from the TCS, not from the frame");
	cr_assert_eq(a.regs.gsbase, lin(OFF_GS));
	cr_assert(a.regs.rdx == h.rdx && a.regs.rsi == h.rsi && a.regs.rdi == h.rdi && a.regs.r8 == h.r8 &&
		      a.regs.r15 == h.r15 && a.regs.rsp == h.rsp && a.regs.rbp == h.rbp,
		  "the other registers pass through");
	cr_assert_eq(a.regs.rflags, h.rflags);
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1, "the frame is not popped");
	cr_assert_eq(tcs_at(OFF_TCS)->aep, AEP2);
	cr_assert(memcmp(frame0, ptr(th_pa(&t, OFF_SSA)), sizeof(frame0)) == 0, "frame 0 untouched");
	cr_assert(memcmp(xsave, a.xsave, sizeof(xsave)) == 0, "no XRSTOR of the frame");
	cr_assert_eq(gpr_at(OFF_SSA + SGX_PAGE_SIZE)->ursp, h.rsp, "URSP in the next frame");
	cr_assert_eq(gpr_at(OFF_SSA + SGX_PAGE_SIZE)->urbp, h.rbp);
	cr_assert_eq(inside(), 1);

	/* An interrupt in the handler takes the next frame, whose byte is clear: a plain resume. */
	a.regs.rip = lin(OFF_ENTRY) + 0x40;
	a.regs.r12 = 0x1234;
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 2);
	cr_assert_eq(gpr_at(OFF_SSA + SGX_PAGE_SIZE)->rip, lin(OFF_ENTRY) + 0x40);
	cr_assert(memcmp(frame0, ptr(th_pa(&t, OFF_SSA)), sizeof(frame0)) == 0, "frame 0 still untouched");
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY) + 0x40);
	cr_assert_eq(a.regs.r12, 0x1234);
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);

	/* The handler pops frame 0 itself; RAX and the flags stay; the next AEX writes frame 0. */
	a.regs.rax = ENCLU_EDECCSSA;
	a.regs.rflags = RFLAGS_FIXED | RFLAGS_ZF | RFLAGS_CF;
	struct hw_regs before_dec = a.regs;
	th_assert_ok(hw_enclu(&a));
	cr_assert(memcmp(&before_dec, &a.regs, sizeof(a.regs)) == 0, "EDECCSSA changes no register");
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 0);
	a.regs.rip = lin(OFF_ENTRY) + 0x80;
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	cr_assert_eq(gpr_at(OFF_SSA)->rip, lin(OFF_ENTRY) + 0x80, "frame 0 is current again");
	cr_assert_eq(gpr_at(OFF_SSA)->aexnotify, 1, "the enclave's byte stays");
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
}

Test(aexnotify, byte_clear_resumes_the_frame)
{
	struct hw_regs e = enclave_state();
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rip, e.rip);
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 0);
}

Test(aexnotify, only_bit_0_of_the_byte_counts)
{
	struct hw_regs e = enclave_state();
	gpr_at(OFF_SSA)->aexnotify = 0xFE;
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rip, e.rip, "bits 7:1 set, bit 0 clear: a plain resume");
}

Test(aexnotify, tcs_flag_decides_not_the_attribute)
{
	/* A debugger that opted in may clear the TCS's flag: no notification then... */
	struct hw_regs e = enclave_state();
	gpr_at(OFF_SSA)->aexnotify = 1;
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	tcs_at(OFF_TCS)->flags = SGX_TCS_DBGOPTIN;
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rip, e.rip);
	/* ...or set it on an enclave without the attribute: a notification. */
	secs_attr(0, SGX_ATTR_AEXNOTIFY);
	tcs_at(OFF_TCS)->flags = SGX_TCS_DBGOPTIN | SGX_TCS_AEXNOTIFY;
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY));
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
}

Test(aexnotify, needs_a_free_frame)
{
	notify_pending();
	th_assert_ok(eresume(&a, OFF_TCS, AEP)); /* the handler, CSSA 1 */
	gpr_at(OFF_SSA + SGX_PAGE_SIZE)->aexnotify = 1;
	hw_aex(&a, &(struct hw_event){.vector = 0x20, .interrupt = true});
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 2);
	at_aep();
	eresume_gp(); /* CSSA = NSSA: no frame for the notification */
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 2);
}

Test(aexnotify, next_frame_is_checked)
{
	notify_pending();
	uint64_t next = OFF_SSA + SGX_PAGE_SIZE;
	EPCM_SET(next, blocked, 1);
	eresume_pf(lin(next), PF_ENTRY_SGX);
	EPCM_SET(next, blocked, 0);
	EPCM_SET(next, w, 0);
	eresume_pf(lin(next), PF_ENTRY_SGX);
	EPCM_SET(next, w, 1);
	pagetable_unmap(&t.pt, lin(next));
	eresume_pf(lin(next), PF_W | PF_U);
	th_map(&t, next, PROT_RW);
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY));
}

Test(aexnotify, xsave_image_of_the_frame_is_not_checked)
{
	/* No XRSTOR on a notification: a header a plain resume refuses is no fault. */
	notify_pending();
	uint8_t *x = ptr(th_pa(&t, OFF_SSA));
	x[520] = 1;
	th_assert_ok(eresume(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rip, lin(OFF_ENTRY));
}

/* Inside on TCS 0 with CSSA = 1 without a notification: an AEX, then EENTER of the handler. */
static void in_handler(void)
{
	enclave_state();
	hw_aex(&a, &(struct hw_event){.vector = X86_UD});
	host_regs(&a, OFF_TCS);
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	cr_assert_eq(a.regs.rax, 1);
}

Test(aexnotify, edeccssa_outside_an_enclave_gp)
{
	leaf_gp(&a, ENCLU_EDECCSSA, OFF_TCS);
}

Test(aexnotify, edeccssa_cssa_zero_gp)
{
	th_assert_ok(eenter(&a, OFF_TCS, AEP));
	leaf_gp(&a, ENCLU_EDECCSSA, OFF_TCS);
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 0);
}

Test(aexnotify, edeccssa_checks_every_page_of_the_frame)
{
	in_handler();
	/* Each state of the frame's page an entry refuses, one at a time: #PF with SGX, nothing changed. */
	EPCM_SET(OFF_SSA, blocked, 1);
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
	EPCM_SET(OFF_SSA, blocked, 0);
	EPCM_SET(OFF_SSA, pending, 1);
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
	EPCM_SET(OFF_SSA, pending, 0);
	EPCM_SET(OFF_SSA, modified, 1);
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
	EPCM_SET(OFF_SSA, modified, 0);
	EPCM_SET(OFF_SSA, r, 0);
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
	EPCM_SET(OFF_SSA, r, 1);
	EPCM_SET(OFF_SSA, w, 0);
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
	EPCM_SET(OFF_SSA, w, 1);
	EPCM_SET(OFF_SSA, pt, SGX_PT_TRIM);
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
	EPCM_SET(OFF_SSA, pt, SGX_PT_REG);
	EPCM_SET(OFF_SSA, enclave_address, lin(OFF_DATA));
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
	EPCM_SET(OFF_SSA, enclave_address, lin(OFF_SSA));
	/* The page tables first: not mapped, mapped read-only, mapped to ordinary memory. */
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_W | PF_U);
	th_map(&t, OFF_SSA, HW_ACC_R);
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_P | PF_W | PF_U);
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	cr_assert_eq(pagetable_map(&t.pt, lin(OFF_SSA), (uint64_t)(uintptr_t)host_page, PROT_RW), 0);
	leaf_pf(&a, ENCLU_EDECCSSA, OFF_TCS, lin(OFF_SSA), PF_ENTRY_SGX);
	pagetable_unmap(&t.pt, lin(OFF_SSA));
	th_map(&t, OFF_SSA, PROT_RW);
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
	a.regs.rax = ENCLU_EDECCSSA;
	th_assert_ok(hw_enclu(&a));
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 0);
}

Test(aexnotify, edeccssa_is_an_unknown_leaf_without_aexnotify)
{
	done();
	struct hw_config c;
	cfg_test(&c);
	c.attr_allowed &= ~SGX_ATTR_AEXNOTIFY;
	build(&c, NULL);
	cr_assert_eq(hw_cpuid12(t.m, 0).eax & (1u << 11), 0, "CPUID.(0x12,0).EAX[11] clear");
	in_handler();
	leaf_gp(&a, ENCLU_EDECCSSA, OFF_TCS);
	cr_assert_eq(tcs_at(OFF_TCS)->cssa, 1);
}

Test(aexnotify, cpuid_reports_edeccssa_with_the_attribute)
{
	cr_assert_neq(hw_cpuid12(t.m, 0).eax & (1u << 11), 0);
	cr_assert_neq(hw_cpuid12(t.m, 1).eax & SGX_ATTR_AEXNOTIFY, 0);
}
