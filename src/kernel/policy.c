/* SPDX-License-Identifier: MIT */
/*
 * The dynamic-page policy (docs/policy.md): the maximum permissions
 * (vm_max_prot_bits) of pages added after INIT, by EAUG on #PF or by
 * SGX_IOC_ENCLAVE_AUGMENT_PAGES.
 *
 *   rwx           Linux 6.0: ceiling R+W+X; W and X may be combined.
 *   wx-exclusive  ceiling R+W+X, but no mapping of a dynamic page may be
 *                 writable and executable at once (mmap/mprotect EACCES).
 *   rw            ceiling R+W: no executable dynamic memory.
 *
 * An enclave whose MRSIGNER or MRENCLAVE is on an allowlist gets the rwx
 * behaviour whatever the setting; the identity is known at INIT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sgxemu/ext.h"

static bool listed(const uint8_t (*list)[32], size_t n, const uint8_t v[32])
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(list[i], v, 32))
			return true;
	return false;
}

void policy_apply(struct sgx_encl *e, const uint8_t mrsigner[32], const uint8_t mrenclave[32])
{
	const struct sgxk_config *c = &e->k->cfg;
	bool allowed = listed(c->exec_allow_mrsigner, c->n_exec_allow_mrsigner, mrsigner) ||
		       listed(c->exec_allow_mrenclave, c->n_exec_allow_mrenclave, mrenclave);
	enum sgxk_dyn_policy pol = allowed ? SGXK_DYN_RWX : c->dyn_policy;
	e->dyn_max_prot = pol == SGXK_DYN_RW ? (PROT_READ | PROT_WRITE) : KPROT_RWX;
	e->dyn_wx_exclusive = pol == SGXK_DYN_WX_EXCLUSIVE;
}

bool policy_prot_allowed(const struct sgx_encl *e, const struct encl_page *p, int prot)
{
	if (p->dynamic && e->dyn_wx_exclusive && (prot & PROT_WRITE) && (prot & PROT_EXEC))
		return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse "hex64[,hex64...]" into list. Return: 0, or -1 with a message. */
static int parse_list(const char *name, const char *s, uint8_t (*list)[32], size_t *n, char *err, size_t errlen)
{
	*n = 0;
	while (*s) {
		if (*n == SGXK_ALLOW_MAX) {
			snprintf(err, errlen, "%s: more than %d values", name, SGXK_ALLOW_MAX);
			return -1;
		}
		for (unsigned i = 0; i < 32; i++) {
			int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "%s: expected 64 hex digits per value", name);
				return -1;
			}
			list[*n][i] = (uint8_t)(hi << 4 | lo);
		}
		s += 64;
		(*n)++;
		if (*s == ',')
			s++;
		else if (*s) {
			snprintf(err, errlen, "%s: values are separated by commas", name);
			return -1;
		}
	}
	return 0;
}

/* A 0/1 setting: *out unchanged when unset or empty.  Return: 0, or -1 with a message naming it. */
static int env_bool(const char *name, bool *out, char *err, size_t errlen)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return 0;
	if (strcmp(v, "0") && strcmp(v, "1")) {
		snprintf(err, errlen, "%s=%s: expected 0 or 1", name, v);
		return -1;
	}
	*out = !strcmp(v, "1");
	return 0;
}

int sgxk_config_from_env(struct sgxk_config *c, char *err, size_t errlen)
{
	const char *pol = getenv(SGXEMU_ENV_DYN_POLICY);
	if (pol && *pol) {
		if (!strcmp(pol, "rwx"))
			c->dyn_policy = SGXK_DYN_RWX;
		else if (!strcmp(pol, "wx-exclusive"))
			c->dyn_policy = SGXK_DYN_WX_EXCLUSIVE;
		else if (!strcmp(pol, "rw"))
			c->dyn_policy = SGXK_DYN_RW;
		else {
			snprintf(err, errlen, "%s=%s: expected rw, wx-exclusive or rwx", SGXEMU_ENV_DYN_POLICY, pol);
			return -1;
		}
	}
	bool populate = !c->no_populate;
	if (env_bool(SGXEMU_ENV_EPC_POPULATE, &populate, err, errlen) ||
	    env_bool(SGXEMU_ENV_CHECK, &c->check, err, errlen))
		return -1;
	c->no_populate = !populate;
	const char *s = getenv(SGXEMU_ENV_EXEC_ALLOW_MRSIGNER);
	if (s && parse_list(SGXEMU_ENV_EXEC_ALLOW_MRSIGNER, s, c->exec_allow_mrsigner, &c->n_exec_allow_mrsigner, err,
			    errlen))
		return -1;
	s = getenv(SGXEMU_ENV_EXEC_ALLOW_MRENCLAVE);
	if (s && parse_list(SGXEMU_ENV_EXEC_ALLOW_MRENCLAVE, s, c->exec_allow_mrenclave, &c->n_exec_allow_mrenclave,
			    err, errlen))
		return -1;
	return 0;
}
