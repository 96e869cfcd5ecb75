/* SPDX-License-Identifier: MIT */
/*
 * ENCLS statements: the runner acts as the kernel.  Each builds the
 * operand structures a kernel would (PAGEINFO, SECINFO, source page,
 * SIGSTRUCT, EINITTOKEN) in host pages, applies the statement's overrides,
 * and executes the leaf through hw_encls() with the kernel's page tables.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "script_int.h"
#include "sigstruct.h"

/* Execute ENCLS leaf with default operands, after the rax/rbx/rcx/rdx overrides. */
static struct hw_result encls(struct sc *sc, struct sc_stmt *st, uint64_t leaf, uint64_t rbx, enum sc_vkind rbx_kind,
			      uint64_t rcx, uint64_t rdx, struct hw_regs *out)
{
	struct hw_regs r = {0};
	r.rax = sc_reg(sc, st, "rax", V_NUM, leaf);
	r.rbx = sc_reg(sc, st, "rbx", rbx_kind, rbx);
	r.rcx = sc_reg(sc, st, "rcx", V_PHYS, rcx);
	r.rdx = sc_reg(sc, st, "rdx", V_PHYS, rdx);
	sc_check_used(sc, st);
	struct hw_result res = hw_encls(sc_machine(sc), &sc->kpt.mmu, &r);
	if (out)
		*out = r;
	return res;
}

static struct sc_addr pos_addr(struct sc *sc, struct sc_stmt *st, const char *what, const char **text)
{
	*text = sc_pos_req(sc, st, what);
	return sc_addr(sc, *text);
}

/* The enclave an enclave-relative operand belongs to; error if it has none. */
static struct sc_enclave *need_enclave(struct sc *sc, struct sc_stmt *st, struct sc_addr a, const char *text)
{
	struct sc_enclave *e = sc_addr_enclave(sc, a);
	if (!e)
		sc_fail(sc, "%s: '%s' is not an enclave address (E+OFFSET)", st->verb, text);
	return e;
}

/* A SECS operand: an enclave label names its SECS; anything else is a physical address. */
static uint64_t secs_operand(struct sc *sc, const char *text)
{
	struct sc_label *l = sc_find(sc, text);
	if (l && l->kind == L_ENCLAVE)
		return l->u.e.secs_pa;
	return sc_phys(sc, sc_addr(sc, text), text);
}

static void emit(struct sc *sc, struct sc_stmt *st, struct hw_result r)
{
	sc_emit_result(sc, st, r, false, NULL);
}

static struct sgx_pageinfo *pageinfo(struct sc *sc, uint64_t linaddr, uint64_t src, uint64_t secinfo, uint64_t secs)
{
	struct sgx_pageinfo *pi = (struct sgx_pageinfo *)sc->pageinfo;
	memset(sc->pageinfo, 0, SGX_PAGE_SIZE);
	*pi = (struct sgx_pageinfo){.linaddr = linaddr, .srcpge = src, .secinfo = secinfo, .secs = secs};
	return pi;
}

static uint64_t host(const uint8_t *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* Fill the SECINFO scratch page with flags, then the statement's secinfo overrides. */
static uint64_t secinfo(struct sc *sc, struct sc_stmt *st, uint64_t flags)
{
	memset(sc->secinfo, 0, SGX_PAGE_SIZE);
	memcpy(sc->secinfo, &flags, sizeof(flags));
	sc_apply(sc, st, &sc_s_secinfo, sc->secinfo, "flags", NULL);
	return host(sc->secinfo);
}

void sc_ecreate(struct sc *sc, struct sc_stmt *st)
{
	const char *name = sc_pos_req(sc, st, "enclave");
	struct sc_enclave *e = &sc_get(sc, name, L_ENCLAVE)->u.e;
	memset(sc->src, 0, SGX_PAGE_SIZE);
	struct sgx_secs *s = (struct sgx_secs *)sc->src;
	s->size = e->size;
	s->base = e->base;
	s->ssa_frame_size = e->ssaframesize;
	s->miscselect = e->miscselect;
	s->attributes = e->attributes;
	s->xfrm = e->xfrm;
	sc_apply(sc, st, &sc_s_secs, s, NULL, NULL);
	uint64_t si = secinfo(sc, st, SGX_SECINFO_PT(SGX_PT_SECS));
	pageinfo(sc, 0, host(sc->src), si, 0);
	sc_apply(sc, st, &sc_s_pageinfo, sc->pageinfo, NULL, NULL);
	emit(sc, st, encls(sc, st, ENCLS_ECREATE, host(sc->pageinfo), V_PHYS, e->secs_pa, 0, NULL));
}

void sc_eadd(struct sc *sc, struct sc_stmt *st)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "page address", &text);
	struct sc_enclave *e = need_enclave(sc, st, a, text);
	bool measure = sc_flag(st, "measure");
	const char *flags_s = sc_opt(st, "secinfo");
	uint64_t flags = flags_s ? sc_flags(sc, flags_s, sc_secinfo_names)
				 : SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W;
	bool tcs = ((flags & SGX_SECINFO_PT_MASK) >> SGX_SECINFO_PT_SHIFT) == SGX_PT_TCS;
	const char *data = sc_opt(st, "data");
	sc_fill_data(sc, sc->src, data ? data : tcs ? "tcs" : "zero", a.off & ~0xFFFULL);
	sc_apply(sc, st, &sc_s_tcs, sc->src, NULL, NULL);
	sc_apply(sc, st, &sc_s_src, sc->src, NULL, NULL);
	memset(sc->secinfo, 0, SGX_PAGE_SIZE);
	memcpy(sc->secinfo, &flags, sizeof(flags));
	sc_apply(sc, st, &sc_s_secinfo, sc->secinfo, NULL, NULL);
	pageinfo(sc, sc_lin(sc, a, text), host(sc->src), host(sc->secinfo), e->secs_pa);
	sc_apply(sc, st, &sc_s_pageinfo, sc->pageinfo, NULL, NULL);
	struct hw_regs regs;
	struct hw_result r = encls(sc, st, ENCLS_EADD, host(sc->pageinfo), V_PHYS, sc_phys(sc, a, text), 0, &regs);
	if (!hw_is_ok(r) || !measure) {
		emit(sc, st, r);
		return;
	}
	/* measure: the 16 EEXTENDs of the page, in ascending order, as Linux and the signing tools do. */
	uint64_t page = regs.rcx & ~0xFFFULL;
	for (uint64_t off = 0; off < SGX_PAGE_SIZE; off += 256) {
		struct hw_regs x = {.rax = ENCLS_EEXTEND, .rbx = e->secs_pa, .rcx = page + off};
		struct hw_result rx = hw_encls(sc->m, &sc->kpt.mmu, &x);
		if (!hw_is_ok(rx)) {
			char extra[64];
			snprintf(extra, sizeof(extra), " at eextend +%#llx", (unsigned long long)off);
			sc_emit_result(sc, st, rx, false, extra);
			return;
		}
	}
	emit(sc, st, r);
}

void sc_eextend(struct sc *sc, struct sc_stmt *st)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "chunk address", &text);
	struct sc_enclave *e = sc_addr_enclave(sc, a);
	bool has_rbx = false;
	for (int i = 0; i < st->nargs; i++)
		if (st->args[i].key && strcmp(st->args[i].key, "rbx") == 0)
			has_rbx = true;
	if (!e && !has_rbx)
		sc_fail(sc, "eextend: give the SECS with rbx= for '%s'", text);
	emit(sc, st, encls(sc, st, ENCLS_EEXTEND, e ? e->secs_pa : 0, V_PHYS, sc_phys(sc, a, text), 0, NULL));
}

/* SIGSTRUCT bytes covered by the signature: 0..127 and 900..1027. */
static bool sig_signed(size_t off, size_t len)
{
	return off + len <= 128 || (off >= 900 && off + len <= 1028);
}

static bool sig_unsigned(size_t off, size_t len)
{
	return (off >= 128 && off + len <= 900) || off >= 1028;
}

static void write_lehash(struct sc *sc, const uint8_t h[32], bool *ok)
{
	*ok = true;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t v;
		memcpy(&v, h + 8 * i, 8);
		if (!hw_wrmsr_lehash(sc_machine(sc), i, v))
			*ok = false;
	}
}

/* A 32-byte hash operand: a key label (SHA-256 of its modulus), zero, or hex:... */
static void hash_operand(struct sc *sc, const char *v, uint8_t h[32])
{
	struct sc_label *l = sc_find(sc, v);
	memset(h, 0, 32);
	if (l && l->kind == L_KEY) {
		uint8_t mod[SGX_MODULUS_SIZE];
		crypto_rsa_modulus_le(l->u.key, mod);
		crypto_sha256(mod, sizeof(mod), h);
		return;
	}
	if (strcmp(v, "zero") == 0)
		return;
	if (strncmp(v, "hex:", 4) == 0 && strlen(v) == 4 + 64) {
		for (int i = 0; i < 32; i++) {
			char b[3] = {v[4 + 2 * i], v[5 + 2 * i], 0};
			char *end;
			h[i] = (uint8_t)strtoul(b, &end, 16);
			if (*end)
				sc_fail(sc, "'%s': bad hex digit", v);
		}
		return;
	}
	sc_fail(sc, "'%s': expected a key label, zero or hex: with 64 digits", v);
}

void sc_lehash(struct sc *sc, struct sc_stmt *st)
{
	const char *v = sc_pos_req(sc, st, "key label, zero or hex:...");
	sc_check_used(sc, st);
	uint8_t h[32];
	bool ok;
	hash_operand(sc, v, h);
	write_lehash(sc, h, &ok);
	sc_emit_result(sc, st, ok ? hw_ok() : hw_gp(), false, NULL);
}

/*
 * An EINITTOKEN of VALID=1 for the enclave, MACed with the launch key a launch
 * enclave obtained: thread `le` ran `egetkey name=EINITTOKEN` with the default
 * KEYREQUEST (masks, ISVSVN, KEYID and CPUSVN zero).  The token carries what
 * EINIT derives that key from: the LE's ISVPRODID and its ATTRIBUTES masked
 * down to INIT|DEBUG (always bound); the token.* overrides come after, then
 * the MAC over bytes 0..191 (unless token.mac= is given).
 */
static void launch_token(struct sc *sc, struct sc_stmt *st, const char *le, const struct sgx_sigstruct *s,
			 const struct sc_enclave *e)
{
	struct sc_thread *th = &sc_get(sc, le, L_THREAD)->u.th;
	struct sgx_einittoken *tk = (struct sgx_einittoken *)sc->token;
	struct hw_secs_view v, lv;
	if (!th->has_buf || !th->entered || !hw_secs_get(sc_machine(sc), th->t.secs_pa, &lv))
		sc_fail(sc, "einit tokenkey=%s: the thread must have entered a launch enclave and run egetkey", le);
	tk->valid = 1;
	if (hw_secs_get(sc->m, e->secs_pa, &v)) {
		tk->attributes = v.secs.attributes;
		tk->xfrm = v.secs.xfrm;
		memcpy(tk->mrenclave, v.mrenclave_now, 32);
	}
	crypto_sha256(s->modulus, sizeof(s->modulus), tk->mrsigner);
	tk->isv_prod_id_le = lv.secs.isv_prod_id;
	tk->masked_attributes_le = lv.secs.attributes & (SGX_ATTR_INIT | SGX_ATTR_DEBUG);
	bool mac_given = false;
	for (int i = 0; i < st->nargs; i++)
		if (st->args[i].key && strcmp(st->args[i].key, "token.mac") == 0)
			mac_given = true;
	sc_apply(sc, st, &sc_s_token, sc->token, NULL, NULL);
	if (mac_given)
		return;
	uint8_t key[16];
	if (!sc_user_read(sc, th->buf + SC_BUF_KEY, key, sizeof(key)))
		sc_fail(sc, "einit tokenkey=%s: the thread's key page is not mapped", le);
	crypto_aes_cmac(key, tk, offsetof(struct sgx_einittoken, cpusvn_le), tk->mac);
}

void sc_einit(struct sc *sc, struct sc_stmt *st)
{
	const char *name = sc_pos_req(sc, st, "enclave");
	struct sc_enclave *e = &sc_get(sc, name, L_ENCLAVE)->u.e;
	const char *sign = sc_opt(st, "sign");
	const char *lehash = sc_opt(st, "lehash");
	struct crypto_rsa *key = NULL;
	if (!sign) {
		for (int i = sc->nlabels - 1; i >= 0 && !key; i--)
			if (sc->labels[i]->kind == L_KEY)
				key = sc->labels[i]->u.key;
		if (!key)
			sc_fail(sc, "einit: no key declared (key K file=...) and no sign=none");
	} else if (strcmp(sign, "none") != 0) {
		key = sc_get(sc, sign, L_KEY)->u.key;
	}

	/* The SIGSTRUCT a signer would make for the enclave as it is now. */
	struct sgx_sigstruct *s = (struct sgx_sigstruct *)sc->sig;
	memset(sc->sig, 0, SGX_PAGE_SIZE);
	sigstruct_init(s, 0x20240101);
	struct hw_secs_view v;
	if (hw_secs_get(sc_machine(sc), e->secs_pa, &v)) {
		s->attributes = v.secs.attributes & ~SGX_ATTR_INIT;
		s->xfrm = v.secs.xfrm;
		s->miscselect = v.secs.miscselect;
		memcpy(s->enclave_hash, v.mrenclave_now, 32);
	} else {
		s->attributes = e->attributes;
		s->xfrm = e->xfrm;
		s->miscselect = e->miscselect;
	}
	s->attributes_mask = ~0ULL;
	s->xfrm_mask = ~0ULL;
	s->miscmask = ~0U;
	/* Overrides of signed bytes go in before signing, the others after it. */
	sc_apply(sc, st, &sc_s_sig, s, NULL, sig_signed);
	if (key && !sigstruct_sign(s, key))
		sc_fail(sc, "einit: signing failed");
	sc_apply(sc, st, &sc_s_sig, s, NULL, sig_unsigned);

	memset(sc->token, 0, SGX_PAGE_SIZE);
	const char *tokenkey = sc_opt(st, "tokenkey");
	if (tokenkey)
		launch_token(sc, st, tokenkey, s, e);
	else
		sc_apply(sc, st, &sc_s_token, sc->token, NULL, NULL);

	/* As Linux does before every EINIT: IA32_SGXLEPUBKEYHASH := the signer's MRSIGNER. */
	uint8_t h[32];
	bool ok;
	if (!lehash || strcmp(lehash, "signer") == 0) {
		crypto_sha256(s->modulus, sizeof(s->modulus), h);
		write_lehash(sc, h, &ok);
	} else if (strcmp(lehash, "keep") != 0) {
		hash_operand(sc, lehash, h);
		write_lehash(sc, h, &ok);
	}
	emit(sc, st, encls(sc, st, ENCLS_EINIT, host(sc->sig), V_PHYS, e->secs_pa, host(sc->token), NULL));
}

static void page_leaf(struct sc *sc, struct sc_stmt *st, uint64_t leaf)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "page address", &text);
	emit(sc, st, encls(sc, st, leaf, 0, V_PHYS, sc_phys(sc, a, text), 0, NULL));
}

void sc_eremove(struct sc *sc, struct sc_stmt *st)
{
	page_leaf(sc, st, ENCLS_EREMOVE);
}

void sc_eblock(struct sc *sc, struct sc_stmt *st)
{
	page_leaf(sc, st, ENCLS_EBLOCK);
}

void sc_epa(struct sc *sc, struct sc_stmt *st)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "frame", &text);
	emit(sc, st, encls(sc, st, ENCLS_EPA, SGX_PT_VA, V_NUM, sc_phys(sc, a, text), 0, NULL));
}

void sc_etrack(struct sc *sc, struct sc_stmt *st)
{
	const char *text = sc_pos_req(sc, st, "enclave");
	emit(sc, st, encls(sc, st, ENCLS_ETRACK, 0, V_PHYS, secs_operand(sc, text), 0, NULL));
}

void sc_ewb(struct sc *sc, struct sc_stmt *st)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "page address", &text);
	sc_flag(st, "to");
	struct sc_blob *b = &sc_get(sc, sc_pos_req(sc, st, "blob"), L_BLOB)->u.b;
	const char *slot_s = sc_opt(st, "slot");
	if (!slot_s)
		sc_fail(sc, "ewb: missing slot=V[n]");
	uint64_t slot = sc_phys(sc, sc_addr(sc, slot_s), slot_s);
	struct sgx_pageinfo *pi = pageinfo(sc, 0, host(b->page), host(b->pcmd), 0);
	sc_apply(sc, st, &sc_s_pageinfo, sc->pageinfo, NULL, NULL);
	uint64_t rcx = sc_phys(sc, a, text);
	struct hw_epcm_view v = {0};
	hw_epcm_get(sc_machine(sc), rcx & ~0xFFFULL, &v);
	struct hw_regs regs;
	struct hw_result r = encls(sc, st, ENCLS_EWB, host(sc->pageinfo), V_PHYS, rcx, slot, &regs);
	if (hw_is_ok(r)) {
		/* What the kernel keeps to load the page back: address, owner, frame, slot. */
		b->full = true;
		b->linaddr = pi->linaddr;
		b->secs = (v.pt == SGX_PT_REG || v.pt == SGX_PT_TCS || v.pt == SGX_PT_TRIM) ? v.enclave_secs : 0;
		b->from = regs.rcx & ~0xFFFULL;
		b->slot = regs.rdx;
	}
	emit(sc, st, r);
}

static void eld(struct sc *sc, struct sc_stmt *st, uint64_t leaf)
{
	const char *bname = sc_pos_req(sc, st, "blob");
	struct sc_blob *b = &sc_get(sc, bname, L_BLOB)->u.b;
	sc_flag(st, "into");
	const char *text = sc_pos(st);
	uint64_t rcx = b->from;
	if (text)
		rcx = sc_phys(sc, sc_addr(sc, text), text);
	else if (!b->full)
		sc_fail(sc, "%s: blob %s holds no page yet: say where to load it (into ADDR)", st->verb, bname);
	const char *slot_s = sc_opt(st, "slot");
	uint64_t slot = b->slot;
	if (slot_s)
		slot = sc_phys(sc, sc_addr(sc, slot_s), slot_s);
	else if (!b->full)
		sc_fail(sc, "%s: missing slot=V[n]", st->verb);
	pageinfo(sc, b->linaddr, host(b->page), host(b->pcmd), b->secs);
	sc_apply(sc, st, &sc_s_pageinfo, sc->pageinfo, NULL, NULL);
	/* Tampering with the blob changes the blob itself, as an attacker in the kernel would. */
	sc_apply(sc, st, &sc_s_pcmd, b->pcmd, NULL, NULL);
	sc_apply(sc, st, &sc_s_src, b->page, NULL, NULL);
	emit(sc, st, encls(sc, st, leaf, host(sc->pageinfo), V_PHYS, rcx, slot, NULL));
}

void sc_eldu(struct sc *sc, struct sc_stmt *st)
{
	eld(sc, st, ENCLS_ELDU);
}

void sc_eldb(struct sc *sc, struct sc_stmt *st)
{
	eld(sc, st, ENCLS_ELDB);
}

void sc_eaug(struct sc *sc, struct sc_stmt *st)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "page address", &text);
	struct sc_enclave *e = need_enclave(sc, st, a, text);
	pageinfo(sc, sc_lin(sc, a, text), 0, 0, e->secs_pa);
	sc_apply(sc, st, &sc_s_pageinfo, sc->pageinfo, NULL, NULL);
	emit(sc, st, encls(sc, st, ENCLS_EAUG, host(sc->pageinfo), V_PHYS, sc_phys(sc, a, text), 0, NULL));
}

static void emod(struct sc *sc, struct sc_stmt *st, uint64_t leaf, uint64_t def)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "page address", &text);
	uint64_t si = secinfo(sc, st, def);
	emit(sc, st, encls(sc, st, leaf, si, V_PHYS, sc_phys(sc, a, text), 0, NULL));
}

void sc_emodpr(struct sc *sc, struct sc_stmt *st)
{
	emod(sc, st, ENCLS_EMODPR, SGX_SECINFO_R);
}

void sc_emodt(struct sc *sc, struct sc_stmt *st)
{
	emod(sc, st, ENCLS_EMODT, SGX_SECINFO_PT(SGX_PT_TRIM));
}

void sc_edbgrd(struct sc *sc, struct sc_stmt *st)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "address", &text);
	struct hw_regs regs;
	struct hw_result r = encls(sc, st, ENCLS_EDBGRD, 0, V_NUM, sc_phys(sc, a, text), 0, &regs);
	if (hw_is_ok(r)) {
		char extra[40];
		snprintf(extra, sizeof(extra), " data=%#llx", (unsigned long long)regs.rbx);
		sc_emit_result(sc, st, r, false, regs.rbx ? extra : " data=0");
		return;
	}
	emit(sc, st, r);
}

void sc_edbgwr(struct sc *sc, struct sc_stmt *st)
{
	const char *text;
	struct sc_addr a = pos_addr(sc, st, "address", &text);
	const char *d = sc_opt(st, "data");
	uint64_t data = d ? sc_num(sc, d) : 0;
	emit(sc, st, encls(sc, st, ENCLS_EDBGWR, data, V_NUM, sc_phys(sc, a, text), 0, NULL));
}

void sc_encls_raw(struct sc *sc, struct sc_stmt *st)
{
	bool has_rax = false;
	for (int i = 0; i < st->nargs; i++)
		if (st->args[i].key && strcmp(st->args[i].key, "rax") == 0)
			has_rax = true;
	if (!has_rax)
		sc_fail(sc, "encls: give the leaf number with rax=");
	emit(sc, st, encls(sc, st, 0, 0, V_PHYS, 0, 0, NULL));
}
