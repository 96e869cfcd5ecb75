/* SPDX-License-Identifier: MIT */
/*
 * Key derivation for EGETKEY, EREPORT and EINIT's launch-token check
 * (spec/measurement.md §5, docs/hw-init.md).
 *
 * Hardware derives every key from fused secrets through an undisclosed KDF;
 * only the choice of inputs is architectural.  Here the machine's 32-byte
 * root secret stands for the fuses, split into two AES-128 keys K1 and K2,
 * and
 *
 *     key = AES-CMAC(K2, AES-CMAC(K1, D))
 *
 * (a cascade: the key stays secret while either half is, and equal halves do
 * not cancel out), where D is the fixed-layout block below: a domain label
 * followed by the SDM's key dependencies, each field zero when the key does
 * not use it.  Distinct inputs give distinct blocks, so a key changes exactly
 * with the inputs its KEYNAME and KEYPOLICY select.
 */
#include "internal.h"

/* The derivation block D (the SDM's KEYDEPENDENCIES, our layout). */
struct key_deps {
	char label[16]; /* "sgxemu-key-v1", zero padded: separates these keys from other uses of the root */
	uint16_t keyname;
	uint16_t keypolicy;
	uint16_t isv_prod_id;
	uint16_t isv_svn;
	uint16_t config_svn;
	uint8_t reserved1[6];
	uint64_t attributes; /* ATTRIBUTES.FLAGS as selected */
	uint64_t xfrm;	     /* ATTRIBUTES.XFRM as selected */
	uint64_t attributes_mask;
	uint64_t xfrm_mask;
	uint32_t miscselect;
	uint32_t miscmask;
	uint8_t mrenclave[32];
	uint8_t mrsigner[32];
	uint8_t keyid[32];
	uint8_t cpusvn[16];
	uint8_t isv_family_id[16];
	uint8_t isv_ext_prod_id[16];
	uint8_t config_id[64];
} __attribute__((packed));

_Static_assert(sizeof(struct key_deps) == 280, "key derivation block layout");

static void deps_init(struct key_deps *d, uint16_t keyname)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->label, "sgxemu-key-v1", sizeof("sgxemu-key-v1"));
	d->keyname = keyname;
}

static void derive(const struct hw_machine *m, const struct key_deps *d, uint8_t key[16])
{
	uint8_t t[16];
	crypto_aes_cmac(m->key_root, d, sizeof(*d), t);
	crypto_aes_cmac(m->key_root + 16, t, sizeof(t), key);
}

void keys_report(const struct hw_machine *m, const struct keys_report_target *tgt, const uint8_t keyid[32],
		 uint8_t key[16])
{
	struct key_deps d;
	deps_init(&d, SGX_KEY_REPORT);
	d.attributes = tgt->attributes;
	d.xfrm = tgt->xfrm;
	d.miscselect = tgt->miscselect;
	memcpy(d.mrenclave, tgt->mrenclave, 32);
	memcpy(d.config_id, tgt->config_id, 64);
	d.config_svn = tgt->config_svn;
	memcpy(d.keyid, keyid, 32);
	memcpy(d.cpusvn, m->cfg.cpusvn, 16);
	derive(m, &d, key);
}

void keys_einittoken(const struct hw_machine *m, const struct keys_launch *l, uint8_t key[16])
{
	struct key_deps d;
	deps_init(&d, SGX_KEY_EINITTOKEN);
	d.isv_prod_id = l->isv_prod_id;
	d.isv_svn = l->isv_svn;
	d.attributes = l->attributes;
	d.xfrm = l->xfrm;
	d.miscselect = l->miscselect;
	memcpy(d.mrsigner, l->mrsigner, 32);
	memcpy(d.keyid, l->keyid, 32);
	memcpy(d.cpusvn, l->cpusvn, 16);
	derive(m, &d, key);
}

/* INIT and DEBUG are bound into every seal-type key whatever the mask says. */
#define REQUIRED_SEALING_FLAGS (SGX_ATTR_INIT | SGX_ATTR_DEBUG)

void keys_egetkey(const struct hw_machine *m, const struct sgx_secs *secs, const struct secs_priv *p,
		  const struct sgx_keyrequest *req, uint8_t key[16])
{
	uint64_t attributes = (req->attribute_mask | REQUIRED_SEALING_FLAGS) & secs->attributes;
	uint64_t xfrm = req->xfrm_mask & secs->xfrm;
	uint32_t miscselect = req->misc_mask & secs->miscselect;

	if (req->keyname == SGX_KEY_REPORT) {
		struct keys_report_target tgt = {.attributes = secs->attributes,
						 .xfrm = secs->xfrm,
						 .miscselect = secs->miscselect,
						 .config_svn = secs->config_svn};
		memcpy(tgt.mrenclave, secs->mrenclave, 32);
		memcpy(tgt.config_id, secs->config_id, 64);
		keys_report(m, &tgt, req->keyid, key);
		return;
	}
	if (req->keyname == SGX_KEY_EINITTOKEN) {
		struct keys_launch l = {.isv_prod_id = secs->isv_prod_id,
					.isv_svn = req->isv_svn,
					.attributes = attributes,
					.xfrm = xfrm,
					.miscselect = miscselect};
		memcpy(l.mrsigner, secs->mrsigner, 32);
		memcpy(l.keyid, req->keyid, 32);
		memcpy(l.cpusvn, req->cpusvn, 16);
		keys_einittoken(m, &l, key);
		return;
	}

	/* SEAL_KEY, PROVISION_KEY, PROVISION_SEAL_KEY: identity chosen by KEYPOLICY. */
	struct key_deps d;
	deps_init(&d, req->keyname);
	d.keypolicy = req->keypolicy;
	d.isv_svn = req->isv_svn;
	d.attributes = attributes;
	d.xfrm = xfrm;
	d.attributes_mask = req->attribute_mask;
	d.xfrm_mask = req->xfrm_mask;
	d.miscselect = miscselect;
	d.miscmask = ~req->misc_mask;
	memcpy(d.cpusvn, req->cpusvn, 16);
	if (!(req->keypolicy & SGX_KEYPOLICY_NOISVPRODID))
		d.isv_prod_id = secs->isv_prod_id;
	if (req->keypolicy & SGX_KEYPOLICY_CONFIGID) {
		memcpy(d.config_id, secs->config_id, 64);
		d.config_svn = req->config_svn;
	}
	if (req->keypolicy & SGX_KEYPOLICY_ISVFAMILYID)
		memcpy(d.isv_family_id, p->isv_family_id, 16);
	if (req->keypolicy & SGX_KEYPOLICY_ISVEXTPRODID)
		memcpy(d.isv_ext_prod_id, p->isv_ext_prod_id, 16);
	if (req->keyname == SGX_KEY_SEAL) {
		if (req->keypolicy & SGX_KEYPOLICY_MRENCLAVE)
			memcpy(d.mrenclave, secs->mrenclave, 32);
		if (req->keypolicy & SGX_KEYPOLICY_MRSIGNER)
			memcpy(d.mrsigner, secs->mrsigner, 32);
		memcpy(d.keyid, req->keyid, 32);
	} else {
		/* Provisioning keys always name the signer, never the enclave, and take no KEYID. */
		memcpy(d.mrsigner, secs->mrsigner, 32);
	}
	derive(m, &d, key);
}

void keys_report_keyid(const struct hw_machine *m, uint8_t keyid[32])
{
	static const char label[] = "sgxemu report keyid";
	uint8_t buf[32 + sizeof(label)];
	memcpy(buf, m->key_root, 32);
	memcpy(buf + 32, label, sizeof(label));
	crypto_sha256(buf, sizeof(buf), keyid);
}

bool keys_cpusvn_ok(const struct hw_machine *m, const uint8_t cpusvn[16])
{
	for (unsigned i = 0; i < 16; i++)
		if (cpusvn[i] > m->cfg.cpusvn[i])
			return false;
	return true;
}

void keys_lehash(const struct hw_machine *m, uint8_t out[32])
{
	for (unsigned i = 0; i < 4; i++)
		for (unsigned j = 0; j < 8; j++)
			out[8 * i + j] = (uint8_t)(m->lehash[i] >> (8 * j));
}
