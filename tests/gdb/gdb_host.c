/* SPDX-License-Identifier: MIT */
/*
 * The host program of tests/gdb: load gdb_enclave.elf with the SDK's loader
 * (a fresh signing key, the default layout), call its ECALL and destroy it,
 * twice, so that gdb sees an enclave come, go and come again.
 *
 *   gdb-host [--non-debug] [--memory] [--crash] ENCLAVE.elf
 *
 * --non-debug  sign it without ATTRIBUTES.DEBUG
 * --memory     build the image from the file's bytes (sdk_image_from_memory)
 * --crash      write to an unmapped address at the end (a genuine SIGSEGV)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgxemu/loader.h"

struct gdb_point {
	int64_t x, y;
};

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *bigger = realloc(buf, cap *= 2);
		if (!bigger)
			free(buf);
		buf = bigger;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Load, call and destroy the enclave once.  Return: 0 or 1 with a message. */
static int round_trip(const struct sdk_image *img, const struct crypto_rsa *key)
{
	char err[512];
	struct sgx_sigstruct sig;
	struct sdk_enclave *e;
	if (sdk_image_sign(img, key, &sig, err, sizeof(err)) < 0 ||
	    sdk_enclave_load(&sdk_backend_emu, img, &sig, NULL, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "gdb-host: %s\n", err);
		return 1;
	}
	struct gdb_point p = {4, 6};
	struct sdk_ecall_info info;
	int64_t ret = 0;
	int status = 0;
	if (sdk_enclave_ecall(e, -1, 0, &p, sizeof(p), &ret, &info) == 0) {
		printf("compute returned %lld\n", (long long)ret);
	} else {
		fprintf(stderr, "gdb-host: compute: %s\n", info.message);
		status = 1;
	}
	fflush(stdout);
	sdk_enclave_destroy(e);
	return status;
}

int main(int argc, char **argv)
{
	bool debug = true, memory = false, crash = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--non-debug"))
			debug = false;
		else if (!strcmp(argv[i], "--memory"))
			memory = true;
		else if (!strcmp(argv[i], "--crash"))
			crash = true;
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: gdb-host [--non-debug] [--memory] [--crash] ENCLAVE.elf\n");
		return 2;
	}
	char err[512];
	struct sdk_config cfg;
	sdk_config_default(&cfg);
	cfg.debug = debug;
	struct sdk_image *img = NULL;
	int rc;
	if (memory) {
		size_t len = 0;
		char *elf = read_all(argv[i], &len);
		if (!elf) {
			fprintf(stderr, "gdb-host: cannot read %s\n", argv[i]);
			return 1;
		}
		rc = sdk_image_from_memory(elf, len, &cfg, &img, err, sizeof(err));
		free(elf);
	} else {
		rc = sdk_image_load(argv[i], &cfg, &img, err, sizeof(err));
	}
	struct crypto_rsa *key = rc == 0 ? sdk_key_generate(err, sizeof(err)) : NULL;
	if (!key) {
		fprintf(stderr, "gdb-host: %s\n", err);
		sdk_image_free(img);
		return 1;
	}
	int status = round_trip(img, key);
	if (status == 0)
		status = round_trip(img, key);
	sdk_key_free(key);
	sdk_image_free(img);
	if (crash) {
		volatile uintptr_t unmapped = 8;
		*(volatile int *)unmapped = 1;
	}
	return status;
}
