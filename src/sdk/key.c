/* SPDX-License-Identifier: MIT */
/*
 * Signing keys for the public API (sgxemu/loader.h): the RSA-3072, e = 3
 * keys of the hw layer's crypto, read from PEM text or files.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "image.h"

/* A PEM RSA-3072 private key is about 2.5 KiB. */
#define SDK_KEY_PEM_MAX 16384

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct crypto_rsa *sdk_key_generate(char *err, size_t errlen)
{
	struct crypto_rsa *k = crypto_rsa_generate();
	if (!k)
		set_err(err, errlen, "cannot generate an RSA-3072 key");
	return k;
}

struct crypto_rsa *sdk_key_from_pem(const char *pem, size_t len, char *err, size_t errlen)
{
	char why[256] = "";
	struct crypto_rsa *k = crypto_rsa_from_pem(pem, len, why, sizeof(why));
	if (!k)
		set_err(err, errlen, "%s", why);
	return k;
}

struct crypto_rsa *sdk_key_load(const char *path, char *err, size_t errlen)
{
	/* stdio, not sdk_read_file: the key may come through a pipe (/dev/fd/N). */
	FILE *f = fopen(path, "r");
	if (!f) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char pem[SDK_KEY_PEM_MAX];
	size_t len = fread(pem, 1, sizeof(pem), f);
	bool failed = ferror(f), big = len == sizeof(pem);
	int e = errno;
	fclose(f);
	struct crypto_rsa *k = NULL;
	char why[256] = "";
	if (failed)
		set_err(err, errlen, "%s: %s", path, strerror(e));
	else if (big)
		set_err(err, errlen, "%s: too large for a PEM private key", path);
	else if (!(k = crypto_rsa_from_pem(pem, len, why, sizeof(why))))
		set_err(err, errlen, "%s: %s", path, why);
	explicit_bzero(pem, sizeof(pem));
	return k;
}

char *sdk_key_to_pem(const struct crypto_rsa *key)
{
	return crypto_rsa_to_pem(key);
}

void sdk_key_free(struct crypto_rsa *key)
{
	crypto_rsa_free(key);
}
