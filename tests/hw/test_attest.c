/* SPDX-License-Identifier: MIT */
/*
 * EREPORT and EGETKEY: every operand check of spec/leaves.md §5, every error
 * code, the REPORT contents, report MACs that only the target can verify,
 * and the key-derivation property: each key changes exactly with the inputs
 * its KEYNAME/KEYPOLICY select (docs/hw-init.md).
 */
#include <string.h>

#include "signed_enclave.h"

/* Operands inside the SE_DATA page. */
#define OFF_REQ 0x000 /* KEYREQUEST or TARGETINFO (512-aligned) */
#define OFF_RD	0x200 /* REPORTDATA (128-aligned) */
#define OFF_REP 0x400 /* REPORT out (512-aligned) */
#define OFF_KEY 0x600 /* key out (16-aligned) */

#define PF_SGX_R (PF_P | PF_U | PF_SGX)
#define PF_SGX_W (PF_P | PF_U | PF_W | PF_SGX)
#define ZF	 (1ULL << 6)

static struct hw_machine *m;
static struct se A, B, C;	    /* A is built by every fixture; B, C by the tests that need them */
static struct hw_thread ta, tb, tc; /* a thread inside each */
static bool have_b, have_c;

static void fresh(void)
{
	m = th_machine();
	se_build(&A, m, &(struct se_opts){.isv_prod_id = 0x11, .isv_svn = 5});
	se_enter(&A, &ta);
	have_b = have_c = false;
}

static void leave(struct se *e, struct hw_thread *t)
{
	se_leave(t);
	pagetable_fini(&e->th.pt);
}

static void done(void)
{
	leave(&A, &ta);
	if (have_b)
		leave(&B, &tb);
	if (have_c)
		leave(&C, &tc);
	hw_machine_destroy(m);
}

/* Build enclave B or C on the machine and put its thread inside. */
static void build_b(const struct se_opts *o)
{
	se_build(&B, m, o);
	se_enter(&B, &tb);
	have_b = true;
}

static void build_c(const struct se_opts *o)
{
	se_build(&C, m, o);
	se_enter(&C, &tc);
	have_c = true;
}

/* Base addresses for further enclaves (ELRANGE is not measured). */
#define BASE_B 0x7e0000000000ULL
#define BASE_C 0x7d0000000000ULL

#define OPTS_A .isv_prod_id = 0x11, .isv_svn = 5

/* ---- helpers ---- */

static void *data(struct se *e, uint64_t off)
{
	return (uint8_t *)se_ptr(e, SE_DATA) + off;
}

static uint64_t lin(struct se *e, uint64_t off)
{
	return se_lin(e, SE_DATA) + off;
}

/* EGETKEY in e with request req; the key on success. */
static struct hw_result getkey(struct se *e, struct hw_thread *t, const struct sgx_keyrequest *req, uint8_t key[16])
{
	memcpy(data(e, OFF_REQ), req, sizeof(*req));
	memset(data(e, OFF_KEY), 0xEE, 16);
	struct hw_result r = se_enclu(t, ENCLU_EGETKEY, lin(e, OFF_REQ), lin(e, OFF_KEY), 0);
	if (key)
		memcpy(key, data(e, OFF_KEY), 16);
	return r;
}

/* EGETKEY that must succeed with RAX=0, ZF=0. */
static void key_ok(struct se *e, struct hw_thread *t, const struct sgx_keyrequest *req, uint8_t key[16])
{
	struct hw_result r = getkey(e, t, req, key);
	cr_assert(hw_is_ok(r) && t->regs.rax == 0 && !(t->regs.rflags & ZF), "EGETKEY: %s", th_fmt(r));
}

/* EGETKEY that must fail with code c (ZF=1), output untouched. */
static void key_code(struct se *e, struct hw_thread *t, const struct sgx_keyrequest *req, uint64_t c)
{
	uint8_t key[16], untouched[16];
	memset(untouched, 0xEE, 16);
	struct hw_result r = getkey(e, t, req, key);
	th_assert_code(r, c);
	cr_assert(r.zf && t->regs.rax == c && (t->regs.rflags & ZF), "RAX/ZF not set as the SDM says");
	cr_assert_arr_eq(key, untouched, 16, "output written on failure");
}

static struct sgx_keyrequest request(uint16_t name, uint16_t policy)
{
	struct sgx_keyrequest r;
	memset(&r, 0, sizeof(r));
	r.keyname = name;
	r.keypolicy = policy;
	memcpy(r.cpusvn, hw_machine_config(m)->cpusvn, 16);
	r.attribute_mask = SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT;
	r.xfrm_mask = 3;
	r.misc_mask = ~0U;
	return r;
}

/* TARGETINFO describing enclave e (what an SDK builds from e's own REPORT). */
static struct sgx_targetinfo target_of(struct se *e)
{
	struct hw_secs_view v;
	cr_assert(hw_secs_get(m, e->th.secs_pa, &v));
	struct sgx_targetinfo ti;
	memset(&ti, 0, sizeof(ti));
	memcpy(ti.mrenclave, v.secs.mrenclave, 32);
	ti.attributes = v.secs.attributes;
	ti.xfrm = v.secs.xfrm;
	ti.miscselect = v.secs.miscselect;
	memcpy(ti.config_id, v.secs.config_id, 64);
	ti.config_svn = v.secs.config_svn;
	return ti;
}

static const uint8_t report_data[64] = "report data: sixty-four bytes bound into the MAC of the REPORT.";

/* EREPORT in e for target ti; the REPORT on success. */
static struct hw_result report(struct se *e, struct hw_thread *t, const struct sgx_targetinfo *ti,
			       struct sgx_report *out)
{
	memcpy(data(e, OFF_REQ), ti, sizeof(*ti));
	memcpy(data(e, OFF_RD), report_data, 64);
	memset(data(e, OFF_REP), 0xEE, 512);
	struct hw_result r = se_enclu(t, ENCLU_EREPORT, lin(e, OFF_REQ), lin(e, OFF_RD), lin(e, OFF_REP));
	if (out)
		memcpy(out, data(e, OFF_REP), sizeof(*out));
	return r;
}

/* Does rep's MAC verify with the report key enclave e obtains through EGETKEY? */
static bool verifies_in(struct se *e, struct hw_thread *t, const struct sgx_report *rep)
{
	struct sgx_keyrequest req = request(SGX_KEY_REPORT, 0);
	memcpy(req.keyid, rep->keyid, 32);
	uint8_t key[16], mac[16];
	key_ok(e, t, &req, key);
	crypto_aes_cmac(key, rep, offsetof(struct sgx_report, keyid), mac);
	return memcmp(mac, rep->mac, 16) == 0;
}

static bool key_eq(const uint8_t a[16], const uint8_t b[16])
{
	return memcmp(a, b, 16) == 0;
}

/* ---- EREPORT ---- */

TestSuite(ereport, .init = fresh, .fini = done, .timeout = 60);

Test(ereport, report_describes_the_calling_enclave)
{
	build_b(&(struct se_opts){.base = BASE_B, .seed = 7});
	struct sgx_targetinfo ti = target_of(&B);
	struct sgx_report rep;
	struct hw_result r = report(&A, &ta, &ti, &rep);
	cr_assert(hw_is_ok(r) && ta.regs.rax == 0 && !(ta.regs.rflags & ZF), "%s", th_fmt(r));
	struct hw_secs_view v;
	cr_assert(hw_secs_get(m, A.th.secs_pa, &v));
	cr_assert_arr_eq(rep.cpusvn, hw_machine_config(m)->cpusvn, 16);
	cr_assert_eq(rep.miscselect, v.secs.miscselect);
	cr_assert_eq(rep.attributes, v.secs.attributes);
	cr_assert(rep.attributes & SGX_ATTR_INIT);
	cr_assert_eq(rep.xfrm, v.secs.xfrm);
	cr_assert_arr_eq(rep.mrenclave, A.mrenclave, 32);
	cr_assert_arr_eq(rep.mrsigner, A.mrsigner, 32);
	cr_assert_eq(rep.isv_prod_id, 0x11);
	cr_assert_eq(rep.isv_svn, 5);
	cr_assert_eq(rep.config_svn, 0);
	cr_assert_arr_eq(rep.report_data, report_data, 64);
	static const uint8_t zero[64];
	cr_assert_arr_eq(rep.config_id, zero, 64);
	cr_assert_arr_eq(rep.isv_family_id, zero, 16);
	cr_assert_arr_eq(rep.isv_ext_prod_id, zero, 16);
	cr_assert_arr_eq(rep.reserved1, zero, sizeof(rep.reserved1));
	cr_assert_arr_eq(rep.reserved2, zero, sizeof(rep.reserved2));
	cr_assert_arr_eq(rep.reserved3, zero, sizeof(rep.reserved3));
	cr_assert_arr_eq(rep.reserved4, zero, sizeof(rep.reserved4));
	/* The bytes after the 432-byte REPORT are not written. */
	uint8_t after[512 - sizeof(struct sgx_report)];
	memset(after, 0xEE, sizeof(after));
	cr_assert_arr_eq((uint8_t *)data(&A, OFF_REP) + sizeof(rep), after, sizeof(after));
}

Test(ereport, mac_verifies_with_targets_report_key_only)
{
	build_b(&(struct se_opts){.base = BASE_B, .seed = 7});
	struct sgx_targetinfo ti = target_of(&B);
	struct sgx_report rep;
	th_assert_ok(report(&A, &ta, &ti, &rep));
	cr_assert(verifies_in(&B, &tb, &rep), "the target's report key must verify the MAC");
	cr_assert(!verifies_in(&A, &ta, &rep), "the reporting enclave's own key must not verify a report for B");
	/* Any change of the MACed bytes is detected by the target. */
	rep.isv_svn ^= 1;
	cr_assert(!verifies_in(&B, &tb, &rep));
}

Test(ereport, report_for_self_verifies_with_own_key)
{
	struct sgx_targetinfo ti = target_of(&A);
	struct sgx_report rep;
	th_assert_ok(report(&A, &ta, &ti, &rep));
	cr_assert(verifies_in(&A, &ta, &rep));
}

Test(ereport, mac_binds_every_targetinfo_field)
{
	build_b(&(struct se_opts){.base = BASE_B, .seed = 7});
	const struct sgx_targetinfo good = target_of(&B);
	struct sgx_report rep;
	for (int field = 0; field < 6; field++) {
		struct sgx_targetinfo ti = good;
		switch (field) {
		case 0:
			ti.mrenclave[31] ^= 1;
			break;
		case 1:
			ti.attributes ^= SGX_ATTR_DEBUG;
			break;
		case 2:
			ti.xfrm ^= 4;
			break;
		case 3:
			ti.miscselect ^= 1;
			break;
		case 4:
			ti.config_id[0] ^= 1;
			break;
		case 5:
			ti.config_svn ^= 1;
			break;
		}
		th_assert_ok(report(&A, &ta, &ti, &rep));
		cr_assert(!verifies_in(&B, &tb, &rep), "TARGETINFO field %d not bound", field);
	}
	/* Reserved TARGETINFO bytes are ignored (docs/hw-init.md). */
	struct sgx_targetinfo ti = good;
	ti.reserved3[100] = 0xFF;
	th_assert_ok(report(&A, &ta, &ti, &rep));
	cr_assert(verifies_in(&B, &tb, &rep));
}

Test(ereport, keyid_is_per_machine_and_fixed)
{
	struct sgx_targetinfo ti = target_of(&A);
	struct sgx_report r1, r2;
	th_assert_ok(report(&A, &ta, &ti, &r1));
	th_assert_ok(report(&A, &ta, &ti, &r2));
	cr_assert_arr_eq(r1.keyid, r2.keyid, 32);
	cr_assert_arr_eq(&r1, &r2, sizeof(r1), "EREPORT is deterministic");
	static const uint8_t zero[32];
	cr_assert_arr_neq(r1.keyid, zero, 32);

	/* A machine with another root secret has another KEYID. */
	struct hw_config c = *hw_machine_config(m);
	c.root_secret[0] ^= 1;
	struct hw_machine *m2;
	char err[128];
	cr_assert_eq(hw_machine_create(&c, &m2, err, sizeof(err)), 0, "%s", err);
	struct hw_machine *keep = m;
	m = m2;
	struct se X;
	struct hw_thread tx;
	se_build(&X, m2, &(struct se_opts){OPTS_A});
	se_enter(&X, &tx);
	struct sgx_report r3;
	th_assert_ok(report(&X, &tx, &ti, &r3));
	cr_assert_arr_neq(r3.keyid, r1.keyid, 32);
	cr_assert_arr_eq(r3.mrenclave, r1.mrenclave, 32);
	leave(&X, &tx);
	hw_machine_destroy(m2);
	m = keep;
}

Test(ereport, kss_identity_in_report)
{
	struct se_opts o = {
	    .base = BASE_B, .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_KSS, .config_svn = 9};
	memset(o.isv_family_id, 0xF1, 16);
	memset(o.isv_ext_prod_id, 0xE2, 16);
	memset(o.config_id, 0xC3, 64);
	build_b(&o);
	struct sgx_targetinfo ti = target_of(&A);
	struct sgx_report rep;
	th_assert_ok(report(&B, &tb, &ti, &rep));
	cr_assert_arr_eq(rep.isv_family_id, o.isv_family_id, 16);
	cr_assert_arr_eq(rep.isv_ext_prod_id, o.isv_ext_prod_id, 16);
	cr_assert_arr_eq(rep.config_id, o.config_id, 64);
	cr_assert_eq(rep.config_svn, 9);
	cr_assert(verifies_in(&A, &ta, &rep));
}

Test(ereport, outside_enclave_gp)
{
	struct hw_thread out;
	cr_assert_eq(hw_thread_init(&out, m, &A.th.pt.mmu), 0);
	th_assert_gp(se_enclu(&out, ENCLU_EREPORT, lin(&A, OFF_REQ), lin(&A, OFF_RD), lin(&A, OFF_REP)));
	th_assert_gp(enclu_ereport(&out));
	hw_thread_fini(&out);
}

/* EREPORT with raw operands; asserts the output area is untouched. */
static struct hw_result report_raw(uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	struct sgx_targetinfo ti = target_of(&A);
	memcpy(data(&A, OFF_REQ), &ti, sizeof(ti));
	memset(data(&A, OFF_REP), 0xEE, 512);
	struct hw_result r = se_enclu(&ta, ENCLU_EREPORT, rbx, rcx, rdx);
	uint8_t untouched[512];
	memset(untouched, 0xEE, sizeof(untouched));
	cr_assert_arr_eq(data(&A, OFF_REP), untouched, 512, "REPORT written on failure");
	return r;
}

#define TI  lin(&A, OFF_REQ)
#define RD  lin(&A, OFF_RD)
#define REP lin(&A, OFF_REP)

Test(ereport, targetinfo_misaligned_gp)
{
	th_assert_gp(report_raw(TI + 0x100, RD, REP));
}

Test(ereport, reportdata_misaligned_gp)
{
	th_assert_gp(report_raw(TI, RD + 0x40, REP));
}

Test(ereport, output_misaligned_gp)
{
	th_assert_gp(report_raw(TI, RD, REP + 0x80));
}

Test(ereport, targetinfo_outside_elrange_gp)
{
	th_assert_gp(report_raw(A.th.base - 0x1000, RD, REP));
}

Test(ereport, reportdata_outside_elrange_gp)
{
	th_assert_gp(report_raw(TI, A.th.base + SE_SIZE, REP));
}

Test(ereport, output_outside_elrange_gp)
{
	th_assert_gp(report_raw(TI, RD, A.th.base - 0x200));
}

Test(ereport, elrange_checked_for_all_operands_before_epcm)
{
	/* TARGETINFO on a TCS (an EPCM #PF) but the output outside ELRANGE: #GP first. */
	th_assert_gp(report_raw(se_lin(&A, SE_TCS), RD, A.th.base - 0x200));
}

Test(ereport, alignment_checked_for_all_operands_before_elrange)
{
	th_assert_gp(report_raw(A.th.base - 0x1000, RD, REP + 8));
}

Test(ereport, targetinfo_not_mapped_pf)
{
	uint64_t a = se_lin(&A, SE_UNMAPPED);
	th_assert_pf(report_raw(a, RD, REP), a, PF_U);
}

Test(ereport, targetinfo_on_tcs_pf)
{
	uint64_t a = se_lin(&A, SE_TCS);
	th_assert_pf(report_raw(a, RD, REP), a, PF_SGX_R);
}

Test(ereport, targetinfo_page_never_added_pf)
{
	uint64_t a = se_lin(&A, SE_NOPAGE);
	th_assert_pf(report_raw(a, RD, REP), a, PF_SGX_R);
}

Test(ereport, targetinfo_on_readonly_page_ok)
{
	struct sgx_targetinfo ti = target_of(&A);
	memcpy(se_ptr(&A, SE_RO), &ti, sizeof(ti));
	th_assert_ok(se_enclu(&ta, ENCLU_EREPORT, se_lin(&A, SE_RO), RD, REP));
}

Test(ereport, reportdata_not_epc_pf)
{
	static uint8_t host[4096] __attribute__((aligned(4096)));
	th_map(&A.th, 0x6000, HW_ACC_R | HW_ACC_W);
	cr_assert_eq(pagetable_map(&A.th.pt, se_lin(&A, 0x6000), (uint64_t)(uintptr_t)host, HW_ACC_R | HW_ACC_W), 0);
	uint64_t a = se_lin(&A, 0x6000);
	th_assert_pf(report_raw(TI, a, REP), a, PF_SGX_R);
}

Test(ereport, reportdata_of_another_enclave_pf)
{
	build_b(&(struct se_opts){.base = BASE_B});
	/* A's page table maps its offset 0x7000 onto B's data frame: EPCM says it belongs to B. */
	cr_assert_eq(pagetable_map(&A.th.pt, se_lin(&A, 0x7000), th_pa(&B.th, SE_DATA), HW_ACC_R | HW_ACC_W), 0);
	uint64_t a = se_lin(&A, 0x7000);
	th_assert_pf(report_raw(TI, a, REP), a, PF_SGX_R);
}

Test(ereport, output_readonly_epcm_pf)
{
	/* Mapped writable in the page table but EPCM R only. */
	cr_assert_eq(pagetable_map(&A.th.pt, se_lin(&A, SE_RO), th_pa(&A.th, SE_RO), HW_ACC_R | HW_ACC_W), 0);
	uint64_t a = se_lin(&A, SE_RO);
	uint8_t before[512];
	memcpy(before, se_ptr(&A, SE_RO), 512);
	th_assert_pf(report_raw(TI, RD, a), a, PF_SGX_W);
	cr_assert_arr_eq(se_ptr(&A, SE_RO), before, 512);
}

Test(ereport, output_readonly_pte_pf)
{
	/* EPCM RW but the page-table entry read-only: an ordinary #PF (no SGX bit). */
	cr_assert_eq(pagetable_map(&A.th.pt, se_lin(&A, SE_SEED), th_pa(&A.th, SE_SEED), HW_ACC_R), 0);
	uint64_t a = se_lin(&A, SE_SEED);
	th_assert_pf(report_raw(TI, RD, a), a, PF_P | PF_W | PF_U);
}

Test(ereport, operands_checked_in_order_rbx_rcx_rdx)
{
	uint64_t tcs = se_lin(&A, SE_TCS), nop = se_lin(&A, SE_NOPAGE), ro = se_lin(&A, SE_RO);
	th_assert_pf(report_raw(tcs, nop, ro), tcs, PF_SGX_R);
	th_assert_pf(report_raw(TI, nop, ro), nop, PF_SGX_R);
	th_assert_pf(report_raw(TI, RD, ro), ro, PF_P | PF_W | PF_U);
}

/* ---- EGETKEY: operands and checks ---- */

TestSuite(egetkey, .init = fresh, .fini = done, .timeout = 60);

static struct hw_result getkey_raw(const struct sgx_keyrequest *req, uint64_t rbx, uint64_t rcx)
{
	memcpy(data(&A, OFF_REQ), req, sizeof(*req));
	memset(data(&A, OFF_KEY), 0xEE, 16);
	struct hw_result r = se_enclu(&ta, ENCLU_EGETKEY, rbx, rcx, 0);
	uint8_t untouched[16];
	memset(untouched, 0xEE, 16);
	cr_assert_arr_eq(data(&A, OFF_KEY), untouched, 16, "key written on failure");
	return r;
}

#define KR lin(&A, OFF_REQ)
#define KO lin(&A, OFF_KEY)

Test(egetkey, seal_key_success_sets_rax_zero)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	uint8_t k1[16], k2[16];
	key_ok(&A, &ta, &req, k1);
	key_ok(&A, &ta, &req, k2);
	cr_assert(key_eq(k1, k2), "EGETKEY is deterministic");
	uint8_t ee[16];
	memset(ee, 0xEE, 16);
	cr_assert_arr_neq(k1, ee, 16);
}

Test(egetkey, outside_enclave_gp)
{
	struct hw_thread out;
	cr_assert_eq(hw_thread_init(&out, m, &A.th.pt.mmu), 0);
	th_assert_gp(se_enclu(&out, ENCLU_EGETKEY, KR, KO, 0));
	th_assert_gp(enclu_egetkey(&out));
	hw_thread_fini(&out);
}

Test(egetkey, keyrequest_misaligned_gp)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	th_assert_gp(getkey_raw(&req, KR + 0x100, KO));
}

Test(egetkey, keyrequest_outside_elrange_gp)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	th_assert_gp(getkey_raw(&req, A.th.base + SE_SIZE, KO));
}

Test(egetkey, output_misaligned_gp)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	th_assert_gp(getkey_raw(&req, KR, KO + 8));
}

Test(egetkey, output_outside_elrange_gp)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	th_assert_gp(getkey_raw(&req, KR, A.th.base - 16));
}

Test(egetkey, keyrequest_pf_before_output_gp)
{
	/* KEYREQUEST's EPCM check comes before the output's alignment. */
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	uint64_t a = se_lin(&A, SE_TCS);
	th_assert_pf(getkey_raw(&req, a, KO + 8), a, PF_SGX_R);
}

Test(egetkey, keyrequest_not_mapped_pf)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	uint64_t a = se_lin(&A, SE_UNMAPPED);
	th_assert_pf(getkey_raw(&req, a, KO), a, PF_U);
}

Test(egetkey, keyrequest_page_never_added_pf)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	uint64_t a = se_lin(&A, SE_NOPAGE);
	th_assert_pf(getkey_raw(&req, a, KO), a, PF_SGX_R);
}

Test(egetkey, output_readonly_epcm_pf)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	cr_assert_eq(pagetable_map(&A.th.pt, se_lin(&A, SE_RO), th_pa(&A.th, SE_RO), HW_ACC_R | HW_ACC_W), 0);
	uint64_t a = se_lin(&A, SE_RO);
	uint8_t before[16];
	memcpy(before, se_ptr(&A, SE_RO), 16);
	th_assert_pf(getkey_raw(&req, KR, a), a, PF_SGX_W);
	cr_assert_arr_eq(se_ptr(&A, SE_RO), before, 16);
}

Test(egetkey, output_on_tcs_pf)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	uint64_t a = se_lin(&A, SE_TCS);
	th_assert_pf(getkey_raw(&req, KR, a), a, PF_SGX_W);
}

Test(egetkey, keyrequest_on_readonly_page_ok)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	memcpy(se_ptr(&A, SE_RO), &req, sizeof(req));
	th_assert_ok(se_enclu(&ta, ENCLU_EGETKEY, se_lin(&A, SE_RO), KO, 0));
}

Test(egetkey, reserved1_nonzero_gp)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	req.reserved1[1] = 1;
	th_assert_gp(getkey_raw(&req, KR, KO));
}

Test(egetkey, reserved2_nonzero_gp)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	for (size_t i = 0; i < sizeof(req.reserved2); i += 61) {
		req.reserved2[i] = 0x80;
		th_assert_gp(getkey_raw(&req, KR, KO));
		req.reserved2[i] = 0;
	}
	req.reserved2[sizeof(req.reserved2) - 1] = 1;
	th_assert_gp(getkey_raw(&req, KR, KO));
}

Test(egetkey, keypolicy_reserved_bits_gp)
{
	for (unsigned bit = 6; bit < 16; bit++) {
		struct sgx_keyrequest req = request(SGX_KEY_SEAL, (uint16_t)(SGX_KEYPOLICY_MRSIGNER | (1U << bit)));
		th_assert_gp(getkey_raw(&req, KR, KO));
	}
}

Test(egetkey, kss_policy_bits_without_kss_gp)
{
	for (unsigned bit = 2; bit <= 5; bit++) {
		struct sgx_keyrequest req = request(SGX_KEY_SEAL, (uint16_t)(1U << bit));
		th_assert_gp(getkey_raw(&req, KR, KO));
	}
}

Test(egetkey, configsvn_without_kss_gp)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, 0);
	req.config_svn = 1;
	th_assert_gp(getkey_raw(&req, KR, KO));
}

Test(egetkey, reserved_gp_before_keyname_code)
{
	struct sgx_keyrequest req = request(9, 0);
	req.reserved1[0] = 1;
	th_assert_gp(getkey_raw(&req, KR, KO));
}

Test(egetkey, unknown_keyname_code)
{
	for (unsigned name = 5; name < 9; name++) {
		struct sgx_keyrequest req = request((uint16_t)name, 0);
		key_code(&A, &ta, &req, SGX_INVALID_KEYNAME);
	}
	struct sgx_keyrequest req = request(0xFFFF, 0);
	key_code(&A, &ta, &req, SGX_INVALID_KEYNAME);
}

Test(egetkey, provision_key_without_provisionkey_attribute)
{
	struct sgx_keyrequest req = request(SGX_KEY_PROVISION, 0);
	key_code(&A, &ta, &req, SGX_INVALID_ATTRIBUTE);
	req = request(SGX_KEY_PROVISION_SEAL, 0);
	key_code(&A, &ta, &req, SGX_INVALID_ATTRIBUTE);
}

Test(egetkey, provision_keys_with_provisionkey_attribute)
{
	build_b(&(struct se_opts){
	    .base = BASE_B, .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_PROVISIONKEY, .isv_svn = 2});
	struct sgx_keyrequest req = request(SGX_KEY_PROVISION, 0);
	uint8_t k1[16], k2[16];
	key_ok(&B, &tb, &req, k1);
	req = request(SGX_KEY_PROVISION_SEAL, 0);
	key_ok(&B, &tb, &req, k2);
	cr_assert(!key_eq(k1, k2), "PROVISION and PROVISION_SEAL keys are distinct");
	/* Attribute before SVN: a too-new CPUSVN still reports the missing attribute first in A. */
	req = request(SGX_KEY_PROVISION, 0);
	req.cpusvn[0] = 0xFF;
	key_code(&A, &ta, &req, SGX_INVALID_ATTRIBUTE);
	key_code(&B, &tb, &req, SGX_INVALID_CPUSVN);
	req = request(SGX_KEY_PROVISION_SEAL, 0);
	req.isv_svn = 3;
	key_code(&B, &tb, &req, SGX_INVALID_ISVSVN);
}

Test(egetkey, einittoken_key_without_attribute)
{
	struct sgx_keyrequest req = request(SGX_KEY_EINITTOKEN, 0);
	key_code(&A, &ta, &req, SGX_INVALID_ATTRIBUTE);
}

Test(egetkey, einittoken_key_needs_lehash_of_signer)
{
	build_b(&(struct se_opts){.base = BASE_B,
				  .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_EINITTOKENKEY});
	struct sgx_keyrequest req = request(SGX_KEY_EINITTOKEN, 0);
	uint8_t k[16];
	key_ok(&B, &tb, &req, k);
	uint8_t other[32];
	memset(other, 0x42, 32);
	se_set_lehash(m, other);
	key_code(&B, &tb, &req, SGX_INVALID_ATTRIBUTE);
	se_set_lehash(m, B.mrsigner);
	req.cpusvn[15] = 2;
	key_code(&B, &tb, &req, SGX_INVALID_CPUSVN);
	req = request(SGX_KEY_EINITTOKEN, 0);
	req.isv_svn = 1;
	key_code(&B, &tb, &req, SGX_INVALID_ISVSVN);
}

Test(egetkey, cpusvn_newer_than_machine_code)
{
	/* The machine's CPUSVN is 01 in every byte: any byte above it is "too new". */
	for (unsigned i = 0; i < 16; i++) {
		struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
		req.cpusvn[i] = 2;
		key_code(&A, &ta, &req, SGX_INVALID_CPUSVN);
	}
	/* Older is allowed (sealing for an older TCB), even with other bytes equal. */
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	req.cpusvn[3] = 0;
	th_assert_ok(getkey(&A, &ta, &req, NULL));
	memset(req.cpusvn, 0, 16);
	th_assert_ok(getkey(&A, &ta, &req, NULL));
	/* One byte older does not allow another to be newer. */
	req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	req.cpusvn[0] = 0;
	req.cpusvn[1] = 2;
	key_code(&A, &ta, &req, SGX_INVALID_CPUSVN);
}

Test(egetkey, isvsvn_above_enclave_code)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	req.isv_svn = 6;
	key_code(&A, &ta, &req, SGX_INVALID_ISVSVN);
	req.isv_svn = 0xFFFF;
	key_code(&A, &ta, &req, SGX_INVALID_ISVSVN);
	req.isv_svn = 5;
	th_assert_ok(getkey(&A, &ta, &req, NULL));
	req.isv_svn = 0;
	th_assert_ok(getkey(&A, &ta, &req, NULL));
}

Test(egetkey, cpusvn_checked_before_isvsvn)
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	req.isv_svn = 6;
	req.cpusvn[0] = 9;
	key_code(&A, &ta, &req, SGX_INVALID_CPUSVN);
}

Test(egetkey, configsvn_above_enclave_code)
{
	build_b(&(struct se_opts){
	    .base = BASE_B, .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_KSS, .config_svn = 4});
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_CONFIGID);
	req.config_svn = 5;
	key_code(&B, &tb, &req, SGX_INVALID_ISVSVN);
	req.config_svn = 4;
	th_assert_ok(getkey(&B, &tb, &req, NULL));
}

Test(egetkey, report_key_has_no_svn_checks)
{
	struct sgx_keyrequest req = request(SGX_KEY_REPORT, 0);
	uint8_t k1[16], k2[16];
	key_ok(&A, &ta, &req, k1);
	req.cpusvn[0] = 0xFF;
	req.isv_svn = 0xFFFF;
	req.attribute_mask = 0;
	req.misc_mask = 0;
	req.keypolicy = SGX_KEYPOLICY_MRENCLAVE | SGX_KEYPOLICY_MRSIGNER;
	key_ok(&A, &ta, &req, k2);
	cr_assert(key_eq(k1, k2), "the report key ignores CPUSVN, ISVSVN, masks and policy of the request");
}

/* ---- key derivation: each key depends on exactly the selected inputs ---- */

TestSuite(keys, .init = fresh, .fini = done, .timeout = 60);

static void seal(struct se *e, struct hw_thread *t, uint16_t policy, uint8_t key[16])
{
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, policy);
	key_ok(e, t, &req, key);
}

Test(keys, seal_mrsigner_same_for_two_enclaves_of_one_signer)
{
	build_b(&(struct se_opts){OPTS_A, .base = BASE_B, .seed = 0x77});
	cr_assert_arr_neq(A.mrenclave, B.mrenclave, 32);
	cr_assert_arr_eq(A.mrsigner, B.mrsigner, 32);
	uint8_t ka[16], kb[16];
	seal(&A, &ta, SGX_KEYPOLICY_MRSIGNER, ka);
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER, kb);
	cr_assert(key_eq(ka, kb));
	seal(&A, &ta, SGX_KEYPOLICY_MRENCLAVE, ka);
	seal(&B, &tb, SGX_KEYPOLICY_MRENCLAVE, kb);
	cr_assert(!key_eq(ka, kb));
	seal(&A, &ta, SGX_KEYPOLICY_MRENCLAVE | SGX_KEYPOLICY_MRSIGNER, ka);
	seal(&B, &tb, SGX_KEYPOLICY_MRENCLAVE | SGX_KEYPOLICY_MRSIGNER, kb);
	cr_assert(!key_eq(ka, kb));
}

Test(keys, seal_mrenclave_same_for_same_measurement)
{
	/* Same pages at another base address, another EID: same MRENCLAVE, same key. */
	build_b(&(struct se_opts){OPTS_A, .base = BASE_B});
	cr_assert_arr_eq(A.mrenclave, B.mrenclave, 32);
	uint8_t ka[16], kb[16];
	seal(&A, &ta, SGX_KEYPOLICY_MRENCLAVE, ka);
	seal(&B, &tb, SGX_KEYPOLICY_MRENCLAVE, kb);
	cr_assert(key_eq(ka, kb));
	struct sgx_keyrequest req = request(SGX_KEY_REPORT, 0);
	key_ok(&A, &ta, &req, ka);
	key_ok(&B, &tb, &req, kb);
	cr_assert(key_eq(ka, kb));
}

Test(keys, seal_policy_selects_identity)
{
	uint8_t k[4][16];
	seal(&A, &ta, 0, k[0]);
	seal(&A, &ta, SGX_KEYPOLICY_MRENCLAVE, k[1]);
	seal(&A, &ta, SGX_KEYPOLICY_MRSIGNER, k[2]);
	seal(&A, &ta, SGX_KEYPOLICY_MRENCLAVE | SGX_KEYPOLICY_MRSIGNER, k[3]);
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			cr_assert(!key_eq(k[i], k[j]), "policies %d and %d give one key", i, j);
}

Test(keys, seal_isvprodid_unless_noisvprodid)
{
	/* Another ISVPRODID, same signer and pages. */
	build_b(&(struct se_opts){.base = BASE_B, .isv_prod_id = 0x22, .isv_svn = 5, .attributes = 0});
	build_c(&(struct se_opts){.base = BASE_C,
				  .isv_prod_id = 0x22,
				  .isv_svn = 5,
				  .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_KSS});
	uint8_t ka[16], kb[16];
	seal(&A, &ta, SGX_KEYPOLICY_MRSIGNER, ka);
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER, kb);
	cr_assert(!key_eq(ka, kb), "ISVPRODID must be bound by default");
	/* NOISVPRODID needs KSS: compare C (prod 0x22) with itself under both settings. */
	uint8_t kc[16], kc2[16];
	seal(&C, &tc, SGX_KEYPOLICY_MRSIGNER, kc);
	seal(&C, &tc, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_NOISVPRODID, kc2);
	cr_assert(!key_eq(kc, kc2));
}

Test(keys, seal_noisvprodid_same_across_products)
{
	struct se_opts o = {
	    .base = BASE_B, .isv_prod_id = 1, .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_KSS};
	build_b(&o);
	o.base = BASE_C;
	o.isv_prod_id = 2;
	build_c(&o);
	uint8_t kb[16], kc[16];
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_NOISVPRODID, kb);
	seal(&C, &tc, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_NOISVPRODID, kc);
	cr_assert(key_eq(kb, kc));
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER, kb);
	seal(&C, &tc, SGX_KEYPOLICY_MRSIGNER, kc);
	cr_assert(!key_eq(kb, kc));
}

Test(keys, seal_uses_requested_isvsvn_not_enclaves)
{
	/* Same product, enclave ISVSVN 5 (A) and 9 (B): a request for ISVSVN 3 gives one key. */
	build_b(&(struct se_opts){.base = BASE_B, .isv_prod_id = 0x11, .isv_svn = 9});
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	req.isv_svn = 3;
	uint8_t ka[16], kb[16], kb4[16];
	key_ok(&A, &ta, &req, ka);
	key_ok(&B, &tb, &req, kb);
	cr_assert(key_eq(ka, kb));
	req.isv_svn = 4;
	key_ok(&B, &tb, &req, kb4);
	cr_assert(!key_eq(kb, kb4));
}

Test(keys, seal_depends_on_request_fields)
{
	struct sgx_keyrequest base = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	uint8_t k0[16], k[16];
	key_ok(&A, &ta, &base, k0);
	for (int f = 0; f < 6; f++) {
		struct sgx_keyrequest req = base;
		switch (f) {
		case 0:
			req.keyid[17] ^= 1;
			break;
		case 1:
			req.cpusvn[2] = 0;
			break;
		case 2:
			req.isv_svn = 4;
			break;
		case 3:
			req.attribute_mask |= SGX_ATTR_PROVISIONKEY;
			break; /* the mask itself is bound */
		case 4:
			req.misc_mask = 0;
			break;
		case 5:
			req.xfrm_mask = 1;
			break;
		}
		key_ok(&A, &ta, &req, k);
		cr_assert(!key_eq(k0, k), "request field %d not bound", f);
	}
}

Test(keys, seal_always_binds_init_and_debug)
{
	/* A production twin of A: same pages, same signer, DEBUG clear. */
	build_b(&(struct se_opts){OPTS_A, .base = BASE_B, .attributes = SGX_ATTR_MODE64BIT});
	cr_assert_arr_eq(A.mrenclave, B.mrenclave, 32);
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	req.attribute_mask = 0;
	uint8_t ka[16], kb[16];
	key_ok(&A, &ta, &req, ka);
	key_ok(&B, &tb, &req, kb);
	cr_assert(!key_eq(ka, kb), "DEBUG must be bound even when the mask omits it");
}

Test(keys, seal_masked_attributes_only)
{
	/* A twin with PROVISIONKEY set: differs only in an attribute outside the mask. */
	build_b(&(struct se_opts){OPTS_A, .base = BASE_B,
				  .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_PROVISIONKEY});
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER);
	uint8_t ka[16], kb[16];
	key_ok(&A, &ta, &req, ka);
	key_ok(&B, &tb, &req, kb);
	cr_assert(key_eq(ka, kb), "attributes outside ATTRIBUTEMASK must not change the key");
	req.attribute_mask |= SGX_ATTR_PROVISIONKEY;
	key_ok(&A, &ta, &req, ka);
	key_ok(&B, &tb, &req, kb);
	cr_assert(!key_eq(ka, kb));
}

Test(keys, seal_kss_identities_by_policy)
{
	struct se_opts o = {
	    .base = BASE_B, .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_KSS, .config_svn = 3};
	memset(o.isv_family_id, 1, 16);
	memset(o.isv_ext_prod_id, 1, 16);
	memset(o.config_id, 1, 64);
	build_b(&o);
	/* C: same family, another extended product id and config id. */
	o.base = BASE_C;
	memset(o.isv_ext_prod_id, 2, 16);
	memset(o.config_id, 2, 64);
	build_c(&o);
	cr_assert_arr_eq(B.mrenclave, C.mrenclave, 32);
	uint8_t kb[16], kc[16];
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER, kb);
	seal(&C, &tc, SGX_KEYPOLICY_MRSIGNER, kc);
	cr_assert(key_eq(kb, kc), "KSS identities are bound only when the policy asks");
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_ISVFAMILYID, kb);
	seal(&C, &tc, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_ISVFAMILYID, kc);
	cr_assert(key_eq(kb, kc), "same family");
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_ISVEXTPRODID, kb);
	seal(&C, &tc, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_ISVEXTPRODID, kc);
	cr_assert(!key_eq(kb, kc), "different extended product ids");
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_CONFIGID, kb);
	seal(&C, &tc, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_CONFIGID, kc);
	cr_assert(!key_eq(kb, kc), "different config ids");
	/* The family id itself is bound: B's key changes when the policy adds it. */
	uint8_t kb2[16];
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER, kb);
	seal(&B, &tb, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_ISVFAMILYID, kb2);
	cr_assert(!key_eq(kb, kb2));
}

Test(keys, seal_configsvn_bound_with_configid_policy)
{
	build_b(&(struct se_opts){
	    .base = BASE_B, .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_KSS, .config_svn = 3});
	struct sgx_keyrequest req = request(SGX_KEY_SEAL, SGX_KEYPOLICY_MRSIGNER | SGX_KEYPOLICY_CONFIGID);
	uint8_t k1[16], k2[16];
	req.config_svn = 1;
	key_ok(&B, &tb, &req, k1);
	req.config_svn = 2;
	key_ok(&B, &tb, &req, k2);
	cr_assert(!key_eq(k1, k2));
	req.keypolicy = SGX_KEYPOLICY_MRSIGNER;
	req.config_svn = 1;
	key_ok(&B, &tb, &req, k1);
	req.config_svn = 2;
	key_ok(&B, &tb, &req, k2);
	cr_assert(key_eq(k1, k2), "CONFIGSVN is bound only with the CONFIGID policy (docs/hw-init.md)");
}

Test(keys, report_key_depends_on_identity_and_keyid)
{
	build_b(&(struct se_opts){OPTS_A, .base = BASE_B, .seed = 3});
	struct sgx_keyrequest req = request(SGX_KEY_REPORT, 0);
	uint8_t ka[16], kb[16], ka2[16];
	key_ok(&A, &ta, &req, ka);
	key_ok(&B, &tb, &req, kb);
	cr_assert(!key_eq(ka, kb), "different MRENCLAVE");
	req.keyid[0] ^= 1;
	key_ok(&A, &ta, &req, ka2);
	cr_assert(!key_eq(ka, ka2), "KEYID is bound");
}

Test(keys, report_key_binds_all_attributes)
{
	/* A twin of A differing in PROVISIONKEY: the report key takes the attributes unmasked. */
	build_b(&(struct se_opts){OPTS_A, .base = BASE_B,
				  .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_PROVISIONKEY});
	struct sgx_keyrequest req = request(SGX_KEY_REPORT, 0);
	uint8_t ka[16], kb[16];
	key_ok(&A, &ta, &req, ka);
	key_ok(&B, &tb, &req, kb);
	cr_assert(!key_eq(ka, kb));
}

Test(keys, provision_key_ignores_mrenclave_and_keyid)
{
	uint64_t attrs = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_PROVISIONKEY;
	build_b(&(struct se_opts){.base = BASE_B, .attributes = attrs, .seed = 1});
	build_c(&(struct se_opts){.base = BASE_C, .attributes = attrs, .seed = 2});
	cr_assert_arr_neq(B.mrenclave, C.mrenclave, 32);
	for (uint16_t name = SGX_KEY_PROVISION; name <= SGX_KEY_PROVISION_SEAL; name++) {
		struct sgx_keyrequest req = request(name, SGX_KEYPOLICY_MRENCLAVE);
		uint8_t kb[16], kc[16], kb2[16];
		key_ok(&B, &tb, &req, kb);
		key_ok(&C, &tc, &req, kc);
		cr_assert(key_eq(kb, kc), "key %u must not depend on MRENCLAVE", name);
		req.keyid[5] = 9;
		key_ok(&B, &tb, &req, kb2);
		cr_assert(key_eq(kb, kb2), "key %u must not depend on KEYID", name);
		req.isv_svn = 0;
		req.cpusvn[0] = 0;
		key_ok(&B, &tb, &req, kb2);
		cr_assert(!key_eq(kb, kb2), "key %u binds the requested CPUSVN", name);
	}
}

Test(keys, provision_key_distinct_from_seal_key)
{
	build_b(&(struct se_opts){.base = BASE_B,
				  .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_PROVISIONKEY});
	struct sgx_keyrequest req = request(SGX_KEY_PROVISION, SGX_KEYPOLICY_MRSIGNER);
	uint8_t kp[16], ks[16];
	key_ok(&B, &tb, &req, kp);
	req.keyname = SGX_KEY_SEAL;
	key_ok(&B, &tb, &req, ks);
	cr_assert(!key_eq(kp, ks));
}

Test(keys, keys_differ_between_machines)
{
	uint8_t k1[16], k2[16];
	seal(&A, &ta, SGX_KEYPOLICY_MRSIGNER, k1);
	/* A change in either 16-byte half of the root secret changes the key. */
	static const unsigned flip[] = {0, 31};
	for (unsigned i = 0; i < 2; i++) {
		struct hw_config c = *hw_machine_config(m);
		c.root_secret[flip[i]] ^= 0x80;
		struct hw_machine *m2;
		char err[128];
		cr_assert_eq(hw_machine_create(&c, &m2, err, sizeof(err)), 0, "%s", err);
		struct hw_machine *keep = m;
		m = m2;
		struct se X;
		struct hw_thread tx;
		se_build(&X, m2, &(struct se_opts){OPTS_A});
		se_enter(&X, &tx);
		seal(&X, &tx, SGX_KEYPOLICY_MRSIGNER, k2);
		cr_assert_arr_eq(X.mrsigner, A.mrsigner, 32);
		cr_assert(!key_eq(k1, k2), "root secret byte %u does not key the derivation", flip[i]);
		leave(&X, &tx);
		hw_machine_destroy(m2);
		m = keep;
	}
}
