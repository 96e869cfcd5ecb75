/* SPDX-License-Identifier: MIT */
/* The architectural structures a script can override, field by field or byte by byte. */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "script_int.h"

#define F(st, member, nm, kind, names)                                                                                 \
	{                                                                                                              \
		nm, offsetof(struct st, member), sizeof(((struct st *)0)->member), kind, names                         \
	}

static const struct sc_field secs_fields[] = {
    F(sgx_secs, size, "size", V_NUM, NULL),
    F(sgx_secs, base, "base", V_LIN, NULL),
    F(sgx_secs, ssa_frame_size, "ssaframesize", V_NUM, NULL),
    F(sgx_secs, miscselect, "miscselect", V_FLAGS, sc_misc_names),
    F(sgx_secs, attributes, "attributes", V_FLAGS, sc_attr_names),
    F(sgx_secs, xfrm, "xfrm", V_FLAGS, sc_xfrm_names),
    F(sgx_secs, mrenclave, "mrenclave", V_BYTES, NULL),
    F(sgx_secs, mrsigner, "mrsigner", V_BYTES, NULL),
    F(sgx_secs, config_id, "configid", V_BYTES, NULL),
    F(sgx_secs, isv_prod_id, "isvprodid", V_NUM, NULL),
    F(sgx_secs, isv_svn, "isvsvn", V_NUM, NULL),
    F(sgx_secs, config_svn, "configsvn", V_NUM, NULL),
    {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_secs = {"secs", secs_fields, sizeof(struct sgx_secs)};

static const struct sc_field secinfo_fields[] = {
    F(sgx_secinfo, flags, "flags", V_FLAGS, sc_secinfo_names),
    {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_secinfo = {"secinfo", secinfo_fields, sizeof(struct sgx_secinfo)};

static const struct sc_field pageinfo_fields[] = {
    F(sgx_pageinfo, linaddr, "linaddr", V_LIN, NULL),  F(sgx_pageinfo, srcpge, "srcpge", V_PHYS, NULL),
    F(sgx_pageinfo, secinfo, "secinfo", V_PHYS, NULL), F(sgx_pageinfo, secinfo, "pcmd", V_PHYS, NULL),
    F(sgx_pageinfo, secs, "secs", V_PHYS, NULL),       {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_pageinfo = {"pageinfo", pageinfo_fields, sizeof(struct sgx_pageinfo)};

static const struct sc_field tcs_fields[] = {
    F(sgx_tcs, state, "state", V_NUM, NULL),	 F(sgx_tcs, flags, "flags", V_FLAGS, sc_tcsflag_names),
    F(sgx_tcs, ossa, "ossa", V_NUM, NULL),	 F(sgx_tcs, cssa, "cssa", V_NUM, NULL),
    F(sgx_tcs, nssa, "nssa", V_NUM, NULL),	 F(sgx_tcs, oentry, "oentry", V_NUM, NULL),
    F(sgx_tcs, aep, "aep", V_NUM, NULL),	 F(sgx_tcs, ofsbase, "ofsbase", V_NUM, NULL),
    F(sgx_tcs, ogsbase, "ogsbase", V_NUM, NULL), F(sgx_tcs, fslimit, "fslimit", V_NUM, NULL),
    F(sgx_tcs, gslimit, "gslimit", V_NUM, NULL), {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_tcs = {"tcs", tcs_fields, sizeof(struct sgx_tcs)};

static const struct sc_field sig_fields[] = {
    F(sgx_sigstruct, header, "header", V_BYTES, NULL),
    F(sgx_sigstruct, vendor, "vendor", V_NUM, NULL),
    F(sgx_sigstruct, date, "date", V_NUM, NULL),
    F(sgx_sigstruct, header2, "header2", V_BYTES, NULL),
    F(sgx_sigstruct, swdefined, "swdefined", V_NUM, NULL),
    F(sgx_sigstruct, modulus, "modulus", V_BYTES, NULL),
    F(sgx_sigstruct, exponent, "exponent", V_NUM, NULL),
    F(sgx_sigstruct, signature, "signature", V_BYTES, NULL),
    F(sgx_sigstruct, miscselect, "miscselect", V_FLAGS, sc_misc_names),
    F(sgx_sigstruct, miscmask, "miscmask", V_NUM, NULL),
    F(sgx_sigstruct, isv_family_id, "isvfamilyid", V_BYTES, NULL),
    F(sgx_sigstruct, attributes, "attributes", V_FLAGS, sc_attr_names),
    F(sgx_sigstruct, xfrm, "xfrm", V_FLAGS, sc_xfrm_names),
    F(sgx_sigstruct, attributes_mask, "attributemask", V_FLAGS, sc_attr_names),
    F(sgx_sigstruct, xfrm_mask, "xfrmmask", V_NUM, NULL),
    F(sgx_sigstruct, enclave_hash, "enclavehash", V_BYTES, NULL),
    F(sgx_sigstruct, isv_ext_prod_id, "isvextprodid", V_BYTES, NULL),
    F(sgx_sigstruct, isv_prod_id, "isvprodid", V_NUM, NULL),
    F(sgx_sigstruct, isv_svn, "isvsvn", V_NUM, NULL),
    F(sgx_sigstruct, q1, "q1", V_BYTES, NULL),
    F(sgx_sigstruct, q2, "q2", V_BYTES, NULL),
    {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_sig = {"sig", sig_fields, sizeof(struct sgx_sigstruct)};

static const struct sc_field token_fields[] = {
    F(sgx_einittoken, valid, "valid", V_NUM, NULL),
    F(sgx_einittoken, attributes, "attributes", V_FLAGS, sc_attr_names),
    F(sgx_einittoken, xfrm, "xfrm", V_FLAGS, sc_xfrm_names),
    F(sgx_einittoken, mrenclave, "mrenclave", V_BYTES, NULL),
    F(sgx_einittoken, mrsigner, "mrsigner", V_BYTES, NULL),
    F(sgx_einittoken, cpusvn_le, "cpusvnle", V_BYTES, NULL),
    F(sgx_einittoken, isv_prod_id_le, "isvprodidle", V_NUM, NULL),
    F(sgx_einittoken, isv_svn_le, "isvsvnle", V_NUM, NULL),
    F(sgx_einittoken, masked_miscselect_le, "maskedmiscselectle", V_NUM, NULL),
    F(sgx_einittoken, masked_attributes_le, "maskedattributesle", V_FLAGS, sc_attr_names),
    F(sgx_einittoken, masked_xfrm_le, "maskedxfrmle", V_NUM, NULL),
    F(sgx_einittoken, keyid, "keyid", V_BYTES, NULL),
    F(sgx_einittoken, mac, "mac", V_BYTES, NULL),
    {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_token = {"token", token_fields, sizeof(struct sgx_einittoken)};

static const struct sc_field targetinfo_fields[] = {
    F(sgx_targetinfo, mrenclave, "mrenclave", V_BYTES, NULL),
    F(sgx_targetinfo, attributes, "attributes", V_FLAGS, sc_attr_names),
    F(sgx_targetinfo, xfrm, "xfrm", V_FLAGS, sc_xfrm_names),
    F(sgx_targetinfo, config_svn, "configsvn", V_NUM, NULL),
    F(sgx_targetinfo, miscselect, "miscselect", V_FLAGS, sc_misc_names),
    F(sgx_targetinfo, config_id, "configid", V_BYTES, NULL),
    {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_targetinfo = {"targetinfo", targetinfo_fields, sizeof(struct sgx_targetinfo)};

static const struct sc_field keyrequest_fields[] = {
    F(sgx_keyrequest, keyname, "keyname", V_NUM, sc_keyname_names),
    F(sgx_keyrequest, keypolicy, "keypolicy", V_FLAGS, sc_policy_names),
    F(sgx_keyrequest, isv_svn, "isvsvn", V_NUM, NULL),
    F(sgx_keyrequest, cpusvn, "cpusvn", V_BYTES, NULL),
    F(sgx_keyrequest, attribute_mask, "attributemask", V_FLAGS, sc_attr_names),
    F(sgx_keyrequest, xfrm_mask, "xfrmmask", V_NUM, NULL),
    F(sgx_keyrequest, keyid, "keyid", V_BYTES, NULL),
    F(sgx_keyrequest, misc_mask, "miscmask", V_NUM, NULL),
    F(sgx_keyrequest, config_svn, "configsvn", V_NUM, NULL),
    {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_keyrequest = {"keyrequest", keyrequest_fields, sizeof(struct sgx_keyrequest)};

static const struct sc_field pcmd_fields[] = {
    {"flags", 0, 8, V_FLAGS, sc_secinfo_names},
    F(sgx_pcmd, enclave_id, "enclaveid", V_NUM, NULL),
    F(sgx_pcmd, mac, "mac", V_BYTES, NULL),
    {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_pcmd = {"pcmd", pcmd_fields, sizeof(struct sgx_pcmd)};

static const struct sc_field src_fields[] = {
    {NULL, 0, 0, V_NUM, NULL},
};
const struct sc_struct sc_s_src = {"src", src_fields, SGX_PAGE_SIZE};

/* Bytes value: "zero", "hex:AABB..." (bytes in order, rest zero) or a number (little-endian). */
static void set_bytes(struct sc *sc, uint8_t *p, size_t size, const char *v)
{
	memset(p, 0, size);
	if (strcmp(v, "zero") == 0)
		return;
	if (strncmp(v, "hex:", 4) == 0) {
		const char *h = v + 4;
		size_t n = strlen(h);
		if (n % 2 || n / 2 > size)
			sc_fail(sc, "'%s': need an even number of hex digits, at most %zu bytes", v, size);
		for (size_t i = 0; i < n / 2; i++) {
			char byte[3] = {h[2 * i], h[2 * i + 1], 0};
			if (!isxdigit((unsigned char)byte[0]) || !isxdigit((unsigned char)byte[1]))
				sc_fail(sc, "'%s': bad hex digit", v);
			p[i] = (uint8_t)strtoul(byte, NULL, 16);
		}
		return;
	}
	uint64_t x = sc_num(sc, v);
	memcpy(p, &x, size < 8 ? size : 8);
}

static void set_scalar(struct sc *sc, uint8_t *p, size_t size, enum sc_vkind k, const struct sc_name *names,
		       const char *v, const char *what)
{
	uint64_t cur = 0;
	memcpy(&cur, p, size);
	uint64_t x = sc_value(sc, v, k, names, cur);
	if (size < 8 && (x >> (8 * size)) && !(v[0] == '+' || v[0] == '-'))
		sc_fail(sc, "%s: value %s does not fit in %zu bytes", what, v, size);
	memcpy(p, &x, size);
}

static const struct sc_field *find_field(const struct sc_struct *s, const char *name)
{
	for (const struct sc_field *f = s->fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

void sc_apply(struct sc *sc, struct sc_stmt *st, const struct sc_struct *s, void *buf, const char *shorthand,
	      bool (*only)(size_t off, size_t len))
{
	size_t nl = strlen(s->name);
	for (int i = 0; i < st->nargs; i++) {
		struct sc_arg *a = &st->args[i];
		if (!a->key || a->used || strncmp(a->key, s->name, nl) != 0)
			continue;
		const char *rest = a->key + nl;
		const struct sc_field *f = NULL;
		size_t off, size;
		if (*rest == '\0' && shorthand) {
			f = find_field(s, shorthand);
		} else if (*rest == '.') {
			f = find_field(s, rest + 1);
			if (!f) {
				char known[512] = "";
				for (const struct sc_field *g = s->fields; g->name; g++) {
					strncat(known, " ", sizeof(known) - strlen(known) - 1);
					strncat(known, g->name, sizeof(known) - strlen(known) - 1);
				}
				sc_fail(sc, "%s has no field '%s' (fields:%s; or %s@OFFSET[:WIDTH]=)", s->name,
					rest + 1, known, s->name);
			}
		} else if (*rest == '@') {
			char tmp[64];
			size_t tl = strlen(rest + 1);
			if (tl == 0 || tl >= sizeof(tmp))
				sc_fail(sc, "bad byte operand '%s'", a->key);
			memcpy(tmp, rest + 1, tl + 1);
			char *colon = strchr(tmp, ':');
			size = 1;
			if (colon) {
				*colon = '\0';
				size = sc_num(sc, colon + 1);
				if (size != 1 && size != 2 && size != 4 && size != 8)
					sc_fail(sc, "'%s': width must be 1, 2, 4 or 8", a->key);
			}
			off = sc_num(sc, tmp);
			if (off >= s->size || off + size > s->size)
				sc_fail(sc, "'%s': offset outside %s (%zu bytes)", a->key, s->name, s->size);
			if (only && !only(off, size))
				continue;
			a->used = true;
			set_scalar(sc, (uint8_t *)buf + off, size, V_NUM, NULL, a->val, a->key);
			continue;
		} else {
			continue;
		}
		if (only && !only(f->off, f->size))
			continue;
		a->used = true;
		if (f->kind == V_BYTES)
			set_bytes(sc, (uint8_t *)buf + f->off, f->size, a->val);
		else
			set_scalar(sc, (uint8_t *)buf + f->off, f->size, f->kind, f->names, a->val, a->key);
	}
}

uint64_t sc_reg(struct sc *sc, struct sc_stmt *st, const char *reg, enum sc_vkind k, uint64_t def)
{
	const char *v = sc_opt(st, reg);
	return v ? sc_value(sc, v, k, NULL, def) : def;
}
