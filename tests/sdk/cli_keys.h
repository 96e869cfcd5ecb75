/* SPDX-License-Identifier: MIT */
/*
 * One signing key per test binary, written once to a PEM file by a
 * Criterion PRE_ALL hook in the runner (tests run in fresh processes; a key
 * per test would cost a key generation each) and removed by POST_ALL.
 * Include from exactly one source file of a test binary.
 */
#ifndef SGXEMU_TEST_SDK_CLI_KEYS_H
#define SGXEMU_TEST_SDK_CLI_KEYS_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

#define CK_ENV "SGXEMU_TEST_KEY_DIR"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (getenv(CK_ENV))
		return;
	struct crypto_rsa *k = crypto_rsa_generate();
	char *pem = k ? crypto_rsa_to_pem(k) : NULL;
	const char *t = getenv("TMPDIR");
	char *dir = NULL, *path = NULL;
	if (pem && asprintf(&dir, "%s/sgxemu-key-XXXXXX", t && *t ? t : "/tmp") > 0 && mkdtemp(dir) &&
	    asprintf(&path, "%s/key.pem", dir) > 0) {
		FILE *f = fopen(path, "w");
		if (f && fputs(pem, f) >= 0 && fclose(f) == 0)
			setenv(CK_ENV, dir, 1);
	}
	free(path);
	free(dir);
	free(pem);
	crypto_rsa_free(k);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	const char *dir = getenv(CK_ENV);
	if (dir)
		rm_rf(dir);
}

/* Path of the binary's key PEM (static storage). */
static inline const char *ck_key_path(void)
{
	static char path[4096];
	const char *dir = getenv(CK_ENV);
	cr_assert(dir, "no signing key: the PRE_ALL hook failed");
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	return path;
}

#endif
