/* SPDX-License-Identifier: MIT */
/*
 * fuzz_script: the scenario runner (src/script, `sgxemu script`) on scripts
 * from memory.  Every input must end in a clean error or success: exit
 * status 0, 1 or 2, no crash, no leak, no hang; and, as docs/script.md
 * promises (fixed root secret), the same output when run twice.
 *
 * Caps (the runner itself has none; they keep one input fast): inputs
 * whose `pages=`, `len=` or `epc=` values are not numbers the runner reads
 * or are above 4096 pages / 64 KiB / 64 MiB, whose enclave `size=` is above
 * 64 MiB (a bare enclave label maps every page of its ELRANGE), or whose
 * `file=` names anything but a file of tests/scripts/, are not run.  `key K`
 * without a file generates an RSA key (seconds): here it gets a copy of
 * tests/scripts/signing-key.pem (--wrap=crypto_rsa_generate).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "script.h"
#include "script_int.h"

static char *key_pem;
static size_t key_len;

struct crypto_rsa *__wrap_crypto_rsa_generate(void);
struct crypto_rsa *__wrap_crypto_rsa_generate(void)
{
	char err[128];
	return crypto_rsa_from_pem(key_pem, key_len, err, sizeof(err));
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FILE *f = fopen(FUZZ_SRCDIR "/tests/scripts/signing-key.pem", "r");
	key_pem = malloc(1 << 14);
	if (!f || !key_pem) {
		fprintf(stderr, "fuzz_script: cannot read tests/scripts/signing-key.pem\n");
		exit(1);
	}
	key_len = fread(key_pem, 1, (1 << 14) - 1, f);
	key_pem[key_len] = 0;
	fclose(f);
	return 0;
}

/* Is value (a word's text after "key=") within cap, read as the runner reads numbers? */
static int value_ok(const char *v, size_t n, uint64_t cap)
{
	char buf[64];
	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, v, n);
	buf[n] = 0;
	const char *s = buf + (buf[0] == '+' || buf[0] == '-');
	uint64_t x;
	return sc_parse_u64(s, &x) && x <= cap;
}

/* The caps of the comment above, on every blank-separated word. */
static int acceptable(const char *text, size_t len)
{
	static const struct {
		const char *key;
		uint64_t cap;
	} caps[] = {{"pages=", 4096}, {"len=", 1 << 16}, {"epc=", 64 << 20}, {"size=", 64 << 20}};
	for (size_t i = 0; i < len;) {
		while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
			i++;
		size_t j = i;
		while (j < len && text[j] != ' ' && text[j] != '\t' && text[j] != '\n' && text[j] != '\r')
			j++;
		const char *w = text + i;
		size_t n = j - i;
		for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
			size_t kl = strlen(caps[k].key);
			/* Operands only ("secs.size=" and other fields are not capped: they size nothing). */
			if (n >= kl && !memcmp(w, caps[k].key, kl) && !value_ok(w + kl, n - kl, caps[k].cap))
				return 0;
		}
		if (n >= 5 && !memcmp(w, "file=", 5) && (memchr(w + 5, '/', n - 5) || (n > 5 && w[5] == '.')))
			return 0;
		i = j;
	}
	return 1;
}

/* Run the script; the output (stdout and stderr joined) in *out. */
static int run(const uint8_t *data, size_t size, char **out, size_t *outlen)
{
	FILE *in = fmemopen((void *)data, size, "r");
	FILE *o = open_memstream(out, outlen);
	if (!in || !o)
		abort();
	int rc = script_run(in, FUZZ_SRCDIR "/tests/scripts/fuzz.sgx", o, o);
	fclose(in);
	fclose(o);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size || size > (1 << 16) || memchr(data, 0, size) || !acceptable((const char *)data, size))
		return -1; /* not run: outside the caps (and not added to the corpus) */
	char *o1 = NULL, *o2 = NULL;
	size_t n1 = 0, n2 = 0;
	int rc1 = run(data, size, &o1, &n1);
	if (rc1 < 0 || rc1 > 2) {
		fprintf(stderr, "fuzz_script: exit status %d (expected 0, 1 or 2)\n", rc1);
		abort();
	}
	/* docs/script.md: a fixed root secret makes every output the same in every run (not with `random`). */
	if (!memmem(data, size, "random", 6)) {
		int rc2 = run(data, size, &o2, &n2);
		if (rc1 != rc2 || n1 != n2 || memcmp(o1, o2, n1)) {
			fprintf(
			    stderr,
			    "fuzz_script: a second run differs (status %d, %d)\n--- first\n%.*s\n--- second\n%.*s\n",
			    rc1, rc2, (int)n1, o1, (int)n2, o2);
			abort();
		}
	}
	free(o1);
	free(o2);
	return 0;
}
