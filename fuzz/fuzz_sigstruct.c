/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sigstruct: what reads signer-side input: SIGSTRUCTs as EINIT checks
 * them (the hw model), PEM private keys (crypto_rsa_from_pem), and the
 * size, number and layout-option parsers (emu_parse_size,
 * sdk_parse_number, sdk_config_set, sdk_config_load, cli_parse_layout_args
 * with cli_build_config).
 *
 * Input: one mode byte, then the mode's data:
 *   0 SIGSTRUCT as given; 1 the same re-signed with the test key (so the
 *     checks after the signature's are reached; bit 7 of byte 1 also puts
 *     the enclave's true MRENCLAVE in); EINIT on a fresh one-page enclave
 *     must give exactly the code spec/leaves.md's order of checks gives,
 *     computed here independently (the signature with OpenSSL's PKCS#1
 *     verification, not the hw model's).
 *   2 PEM text: NULL with a message, or a key that signs what both RSA
 *     verifiers accept and survives a PEM round trip.
 *   3 emu_parse_size: accepted exactly when the text is a number of its
 *     documented grammar (emu_int.h), with that value.
 *   4 sdk_parse_number (number, or size with bit 0 of byte 1): the same
 *     against image.h's grammar; then sdk_config_set of each key.
 *   5 NUL-separated arguments for cli_parse_layout_args and
 *     cli_build_config: exit status 0/1/2, values within their key's range.
 *   6 a layout config file for sdk_config_load.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "crypto.h"
#include "emu_int.h"
#include "hw.h"
#include "image.h"
#include "known.h"
#include "sigstruct.h"

static __attribute__((noreturn, format(printf, 1, 2))) void bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz_sigstruct: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* ---- EINIT ---- */

static struct hw_machine *M;
static struct crypto_rsa *KEY;
static uint64_t WINDOW, SECS_PA;
static uint8_t MRENCLAVE[32];
#define BASE 0x7f0000000000ULL
#define SIZE 0x2000ULL

static uint8_t page[4096] __attribute__((aligned(4096)));
static struct sgx_secinfo si __attribute__((aligned(64)));
static struct sgx_pageinfo pi __attribute__((aligned(32)));
static uint8_t sigbuf[4096] __attribute__((aligned(4096)));
static uint8_t token[512] __attribute__((aligned(512)));

/* A fresh enclave: ECREATE (64-bit, DEBUG, XFRM 3, EXINFO; KSS when kss) and one measured REG page. */
static void enclave_new(bool kss)
{
	struct sgx_secs *s = (struct sgx_secs *)page;
	memset(page, 0, sizeof(page));
	s->size = SIZE;
	s->base = BASE;
	s->ssa_frame_size = 1;
	s->miscselect = SGX_MISC_EXINFO;
	s->attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | (kss ? SGX_ATTR_KSS : 0);
	s->xfrm = 3;
	memset(&si, 0, sizeof(si));
	pi = (struct sgx_pageinfo){.srcpge = (uint64_t)(uintptr_t)page, .secinfo = (uint64_t)(uintptr_t)&si};
	if (!hw_is_ok(encls_ecreate(M, NULL, (uint64_t)(uintptr_t)&pi, SECS_PA)))
		bad("ECREATE of the fixed enclave failed");
	memset(page, 0, sizeof(page));
	si.flags = SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W;
	pi = (struct sgx_pageinfo){
	    .linaddr = BASE, .srcpge = (uint64_t)(uintptr_t)page, .secinfo = (uint64_t)(uintptr_t)&si, .secs = SECS_PA};
	if (!hw_is_ok(encls_eadd(M, NULL, (uint64_t)(uintptr_t)&pi, WINDOW)))
		bad("EADD of the fixed enclave failed");
	for (unsigned c = 0; c < 4096; c += 256)
		if (!hw_is_ok(encls_eextend(M, NULL, SECS_PA, WINDOW + c)))
			bad("EEXTEND of the fixed enclave failed");
}

static void enclave_free(void)
{
	encls_eremove(M, WINDOW);
	encls_eremove(M, SECS_PA);
}

/* MRENCLAVE of that enclave (spec/measurement.md): the same with or without KSS. */
static void mrenclave(uint8_t out[32])
{
	struct hw_sha256 *h = crypto_sha256_new();
	uint8_t b[64] = "ECREATE";
	uint32_t ssa = 1;
	uint64_t size = SIZE, off = 0, flags = 0x203;
	memcpy(b + 8, &ssa, 4);
	memcpy(b + 12, &size, 8);
	crypto_sha256_update(h, b, 64);
	memset(b, 0, 64);
	memcpy(b, "EADD", 4);
	memcpy(b + 8, &off, 8);
	memcpy(b + 16, &flags, 8);
	crypto_sha256_update(h, b, 64);
	static const uint8_t zero[256];
	for (uint64_t c = 0; c < 4096; c += 256) {
		memset(b, 0, 64);
		memcpy(b, "EEXTEND", 7);
		memcpy(b + 8, &c, 8);
		crypto_sha256_update(h, b, 64);
		crypto_sha256_update(h, zero, 256);
	}
	crypto_sha256_final(h, out);
	crypto_sha256_free(h);
}

static bool zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void reverse(uint8_t *d, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = s[n - 1 - i];
}

#define SGX_INVALID_SIG_STRUCT	1
#define SGX_INVALID_ATTRIBUTE	2
#define SGX_INVALID_MEASUREMENT 4
#define SGX_INVALID_SIGNATURE	8
#define SGX_INVALID_EINITTOKEN	16
#define UNKNOWN_STRUCT		(-1) /* 0 or SGX_INVALID_SIG_STRUCT: the spec leaves the check unverified */

/*
 * EINIT's checks in spec/leaves.md's order, for the fixed enclave: the first
 * failing one's code, 0 for success, UNKNOWN_STRUCT where a check is
 * unverified (and none before it failed).
 */
static int einit_expect(const struct sgx_sigstruct *s, bool kss)
{
	const uint8_t *b = (const uint8_t *)s;
	struct sgx_sigstruct ref;
	sigstruct_init(&ref, 0);
	int unknown = 0;
	/* 2. Structure: HEADER (bytes 12..15 unverified), VENDOR, HEADER2, EXPONENT, reserved fields. */
	if (memcmp(s->header, ref.header, 12) || memcmp(s->header2, ref.header2, 16) ||
	    (s->vendor != 0 && s->vendor != SGX_SIGSTRUCT_VENDOR_INTEL) || s->exponent != 3 || !zero(b + 44, 84) ||
	    !zero(b + 992, 16) || !zero(b + 1028, 12))
		return SGX_INVALID_SIG_STRUCT;
	if (memcmp(s->header + 12, ref.header + 12, 4) || !zero(b + 908, 4))
		unknown = 1;
	/* 4. The signature, verified as any PKCS#1 v1.5 SHA-256 signature (docs/sign.md), and its helpers. */
	uint8_t msg[256], n_be[384], s_be[384], q1[384], q2[384];
	sigstruct_signed_bytes(s, msg);
	reverse(n_be, s->modulus, 384);
	reverse(s_be, s->signature, 384);
	bool sig_ok = (s->modulus[383] & 0x80) && crypto_rsa_verify_be(n_be, 3, msg, sizeof(msg), s_be);
	if (sig_ok) {
		crypto_rsa_q1q2(s->modulus, s->signature, q1, q2);
		sig_ok = !memcmp(q1, s->q1, 384) && !memcmp(q2, s->q2, 384);
	}
	if (!sig_ok)
		return unknown ? UNKNOWN_STRUCT : SGX_INVALID_SIGNATURE;
	/* 6. ISVFAMILYID without KSS (ISVEXTPRODID unverified). */
	if (!kss && !zero(s->isv_family_id, 16))
		return SGX_INVALID_SIG_STRUCT;
	if (!kss && !zero(s->isv_ext_prod_id, 16))
		unknown = 1;
	if (unknown)
		return UNKNOWN_STRUCT;
	/* 7. MRENCLAVE. */
	if (memcmp(s->enclave_hash, MRENCLAVE, 32))
		return SGX_INVALID_MEASUREMENT;
	/* 9. Masked ATTRIBUTES and MISCSELECT (8: EINITTOKEN_KEY is not set in this SECS). */
	uint64_t attr = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | (kss ? SGX_ATTR_KSS : 0), xfrm = 3;
	if ((attr & s->attributes_mask) != (s->attributes & s->attributes_mask) ||
	    (xfrm & s->xfrm_mask) != (s->xfrm & s->xfrm_mask) ||
	    (SGX_MISC_EXINFO & s->miscmask) != (s->miscselect & s->miscmask))
		return SGX_INVALID_ATTRIBUTE;
	/* 10. No token: LEPUBKEYHASH is set to this MRSIGNER before EINIT, as Linux does. */
	return 0;
}

static void fuzz_einit(const uint8_t *d, size_t n, bool resign)
{
	uint8_t flags = n ? d[0] : 0;
	bool kss = flags & 1;
	struct sgx_sigstruct *s = (struct sgx_sigstruct *)sigbuf;
	memset(sigbuf, 0, sizeof(sigbuf));
	memcpy(s, d + (n ? 1 : 0), n > 1 + sizeof(*s) ? sizeof(*s) : (n ? n - 1 : 0));
	if (resign) {
		if (flags & 0x80)
			memcpy(s->enclave_hash, MRENCLAVE, 32);
		if (!sigstruct_sign(s, KEY))
			bad("sigstruct_sign failed");
	}
	int want = einit_expect(s, kss);
	enclave_new(kss);
	uint8_t mrsigner[32];
	sigstruct_mrsigner(s, mrsigner);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t v;
		memcpy(&v, mrsigner + 8 * i, 8);
		hw_wrmsr_lehash(M, i, v);
	}
	memset(token, 0, sizeof(token));
	struct hw_result r = encls_einit(M, NULL, (uint64_t)(uintptr_t)s, SECS_PA, (uint64_t)(uintptr_t)token);
	enclave_free();
	int got = r.kind == HW_OK ? 0 : r.kind == HW_CODE ? (int)r.rax : -100 - (int)r.vector;
	if (getenv("SGXEMU_FUZZ_TRACE"))
		fprintf(stderr, "fuzz_sigstruct: EINIT %d, expected %d\n", got, want);
	if (want == UNKNOWN_STRUCT ? (got != 0 && got != SGX_INVALID_SIG_STRUCT) : got != want) {
		char buf[64];
		hw_result_format(r, buf, sizeof(buf));
		bad("EINIT gave %s; spec/leaves.md's checks give code %d", buf, want);
	}
}

/* ---- PEM keys ---- */

static void fuzz_pem(const uint8_t *d, size_t n)
{
	char err[256] = "";
	struct crypto_rsa *k = crypto_rsa_from_pem((const char *)d, n, err, sizeof(err));
	if (!k) {
		if (!err[0])
			bad("crypto_rsa_from_pem refused a key without a message");
		return;
	}
	/* An RSA-3072 e=3 key: what it signs verifies both ways, and it survives a PEM round trip. */
	uint8_t mod[384], sig[384], n_be[384], s_be[384], q1[384], q2[384], hash[32];
	static const char msg[] = "fuzz_sigstruct";
	crypto_rsa_modulus_le(k, mod);
	if (!(mod[383] & 0x80))
		bad("a key whose modulus is not 3072 bits was accepted");
	if (!crypto_rsa_sign_le(k, msg, sizeof(msg), sig))
		bad("an accepted key cannot sign");
	reverse(n_be, mod, 384);
	reverse(s_be, sig, 384);
	crypto_rsa_q1q2(mod, sig, q1, q2);
	crypto_sha256(msg, sizeof(msg), hash);
	if (!crypto_rsa_verify_be(n_be, 3, msg, sizeof(msg), s_be) ||
	    !crypto_rsa3072_e3_verify(mod, sig, q1, q2, hash)) {
		if (!FZ_FOUND_PEM_KEY_NOT_CHECKED)
			bad("a signature of an accepted key does not verify");
		crypto_rsa_free(k); /* known.h */
		return;
	}
	char *pem = crypto_rsa_to_pem(k);
	struct crypto_rsa *k2 = pem ? crypto_rsa_from_pem(pem, strlen(pem), err, sizeof(err)) : NULL;
	uint8_t mod2[384];
	if (!k2)
		bad("the key's own PEM does not parse: %s", err);
	crypto_rsa_modulus_le(k2, mod2);
	if (memcmp(mod, mod2, 384))
		bad("the PEM round trip changed the modulus");
	crypto_rsa_free(k2);
	free(pem);
	crypto_rsa_free(k);
}

/* ---- numbers ---- */

/* Digits of base 8, 10 or 16 from s; the value or false on overflow; *end past them. */
static bool digits(const char *s, unsigned base, uint64_t *v, const char **end)
{
	*v = 0;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (d >= base)
			break;
		if (*v > (UINT64_MAX - d) / base) {
			*end = s;
			return false;
		}
		*v = *v * base + d;
	}
	*end = s;
	return true;
}

/* A K/M/G suffix at *s applied to *v; false when it overflows; true and no change without a suffix. */
static bool suffix(const char **s, uint64_t *v)
{
	unsigned shift = 0;
	switch (**s) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return true;
	}
	(*s)++;
	if (*v > (UINT64_MAX >> shift))
		return false;
	*v <<= shift;
	return true;
}

/* emu_int.h's grammar: decimal, 0x hex or 0 octal, then an optional K, M or G. */
static bool size_grammar(const char *s, uint64_t *v)
{
	const char *p = s, *end;
	unsigned base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0') {
		base = 8;
	}
	if (!digits(p, base, v, &end) || end == p)
		return false;
	p = end;
	return suffix(&p, v) && !*p;
}

/* image.h's grammar for sdk_parse_number: decimal or 0x hex; with size, a K, M or G. */
static bool number_grammar(const char *s, bool size, uint64_t *v)
{
	const char *p = s, *end;
	unsigned base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!digits(p, base, v, &end) || end == p)
		return false;
	p = end;
	if (size && !suffix(&p, v))
		return false;
	return !*p;
}

static char *text(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, d, n);
	s[n] = 0;
	return s;
}

static void fuzz_size(const uint8_t *d, size_t n)
{
	char *s = text(d, n);
	uint64_t got = 0x5a5a, want;
	bool ok = emu_parse_size(s, &got) == 0, gram = size_grammar(s, &want);
	if (ok != gram || (ok && got != want))
		bad("emu_parse_size(\"%s\") %s %#llx; its grammar says %s %#llx", s, ok ? "accepts" : "refuses",
		    (unsigned long long)got, gram ? "accept" : "refuse", (unsigned long long)want);
	free(s);
}

static const char *const keys[] = {"n_tcs",	 "nssa",	  "ssa_frame_pages", "stack_size", "heap_size",
				   "dyn_size",	 "n_dyn_threads", "enclave_size",    "edmm",	   "debug",
				   "attributes", "xfrm",	  "attributes_mask", "xfrm_mask",  "misc_select",
				   "misc_mask",	 "isv_prod_id",	  "isv_svn",	     "date",	   "n-tcs"};

/* The single-key ranges of docs/sign.md, which sdk_config_set promises (image.h). */
static void check_ranges(const struct sdk_config *c, const char *what)
{
	if (c->n_tcs < 1 || c->n_tcs > SDK_MAX_THREADS || c->nssa < 1 || c->nssa > SDK_MAX_NSSA ||
	    c->ssa_frame_pages > SDK_MAX_SSA_PAGES || c->n_dyn_threads > SDK_MAX_THREADS || c->stack_size % 4096 ||
	    !c->stack_size || c->stack_size > SDK_MAX_AREA || c->heap_size % 4096 || c->heap_size > SDK_MAX_AREA ||
	    c->dyn_size % 4096 || c->dyn_size > SDK_MAX_AREA || (c->attributes & ~SDK_EXTRA_ATTRIBUTES) ||
	    (c->misc_select & ~SGX_MISC_EXINFO) ||
	    (c->enclave_size && ((c->enclave_size & (c->enclave_size - 1)) || c->enclave_size < SDK_ENCLAVE_SIZE_MIN ||
				 c->enclave_size > SDK_ENCLAVE_SIZE_MAX)) ||
	    !hw_xfrm_legal(c->xfrm))
		bad("%s accepted a value outside its key's range", what);
}

static void fuzz_number(const uint8_t *d, size_t n)
{
	bool size = n && (d[0] & 1);
	char *s = text(d + (n ? 1 : 0), n ? n - 1 : 0);
	uint64_t got = 0x5a5a, want;
	const char *why = sdk_parse_number(s, size, &got);
	bool gram = number_grammar(s, size, &want);
	if (!why != gram || (!why && got != want))
		bad("sdk_parse_number(\"%s\", %d) %s %#llx; image.h's grammar says %s %#llx", s, size,
		    why ? why : "accepts", (unsigned long long)got, gram ? "accept" : "refuse",
		    (unsigned long long)want);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct sdk_config c;
		sdk_config_default(&c);
		char err[256] = "";
		if (sdk_config_set(&c, keys[i], s, err, sizeof(err)) == 0)
			check_ranges(&c, keys[i]);
		else if (!err[0])
			bad("sdk_config_set(%s, \"%s\") failed without a message", keys[i], s);
	}
	free(s);
}

static int own(int argc, char **argv, int *i, void *ctx)
{
	(void)ctx;
	if (!strcmp(argv[*i], "-v"))
		return 1;
	const char *v;
	int r = cli_option(argc, argv, i, "--key", &v);
	return r == 1 && !v ? -1 : r;
}

static void fuzz_args(const uint8_t *d, size_t n)
{
	char *s = text(d, n);
	char *argv[64];
	int argc = 0;
	argv[argc++] = "measure";
	for (char *p = s; p < s + n && argc < 63; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	struct cli_layout_args a;
	memset(&a, 0, sizeof(a));
	int rc = cli_parse_layout_args("measure", argc, argv, own, NULL, &a);
	if (rc < 0 || rc > 2)
		bad("cli_parse_layout_args: exit status %d", rc);
	/* A --config file would be read from anywhere: only the command line's settings are built. */
	if (rc == 0) {
		struct sdk_config c;
		int b = cli_build_config("measure", &c, NULL, a.set, a.nset);
		if (b < 0 || b > 2)
			bad("cli_build_config: exit status %d", b);
		if (b == 0)
			check_ranges(&c, "cli_build_config");
	}
	cli_layout_args_free(&a);
	free(s);
}

static void fuzz_config(const uint8_t *d, size_t n)
{
	int fd = memfd_create("fuzz.conf", MFD_CLOEXEC);
	if (fd < 0 || write(fd, d, n) != (ssize_t)n)
		abort();
	char path[64], err[512] = "";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct sdk_config c;
	sdk_config_default(&c);
	if (sdk_config_load(&c, path, err, sizeof(err)) == 0)
		check_ranges(&c, "sdk_config_load");
	else if (strncmp(err, path, strlen(path)))
		bad("sdk_config_load: message '%s' does not name the file", err);
	close(fd);
}

/* ---- seeds (SGXEMU_FUZZ_WRITE_SEEDS=DIR: fuzz/corpus/sigstruct/ is written so) ---- */

static void seed(const char *dir, const char *name, uint8_t mode, const void *a, size_t an, const void *b, size_t bn)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 || fwrite(a, 1, an, f) != an || (bn && fwrite(b, 1, bn, f) != bn))
		bad("cannot write %s", path);
	fclose(f);
}

/* A SIGSTRUCT for the fixed enclave, changed by edit before signing (NULL: none). */
static void sig_seed(const char *dir, const char *name, uint8_t mode, uint8_t flags,
		     void (*edit)(struct sgx_sigstruct *s), void (*after)(struct sgx_sigstruct *s))
{
	struct sgx_sigstruct s;
	sigstruct_init(&s, 0x20240101);
	s.miscselect = SGX_MISC_EXINFO;
	s.miscmask = ~0U;
	s.attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | ((flags & 1) ? SGX_ATTR_KSS : 0);
	s.attributes_mask = ~0ULL;
	s.xfrm = 3;
	s.xfrm_mask = ~0ULL;
	memcpy(s.enclave_hash, MRENCLAVE, 32);
	if (edit)
		edit(&s);
	if (!sigstruct_sign(&s, KEY))
		bad("signing a seed");
	if (after)
		after(&s);
	seed(dir, name, mode, &flags, 1, &s, sizeof(s));
}

static void e_vendor(struct sgx_sigstruct *s)
{
	s->vendor = SGX_SIGSTRUCT_VENDOR_INTEL;
}
static void e_hash(struct sgx_sigstruct *s)
{
	s->enclave_hash[5] ^= 1;
}
static void e_family(struct sgx_sigstruct *s)
{
	s->isv_family_id[0] = 1;
}
static void e_ext(struct sgx_sigstruct *s)
{
	s->isv_ext_prod_id[3] = 1;
}
static void e_masks(struct sgx_sigstruct *s)
{
	s->attributes ^= SGX_ATTR_DEBUG;
	s->attributes_mask = SGX_ATTR_MODE64BIT;
	s->xfrm = 7;
	s->xfrm_mask = 3;
	s->miscselect = 0;
	s->miscmask = 0;
}
static void e_attr(struct sgx_sigstruct *s)
{
	s->attributes ^= SGX_ATTR_DEBUG;
}
static void e_reserved(struct sgx_sigstruct *s)
{
	((uint8_t *)s)[1000] = 1;
}
static void e_header12(struct sgx_sigstruct *s)
{
	s->header[12] = 0x80;
}
static void a_exponent(struct sgx_sigstruct *s)
{
	s->exponent = 65537;
}
static void a_q1(struct sgx_sigstruct *s)
{
	s->q1[7] ^= 1;
}
static void a_sig(struct sgx_sigstruct *s)
{
	s->signature[100] ^= 1;
}
static void a_reserved4(struct sgx_sigstruct *s)
{
	((uint8_t *)s)[1030] = 1;
}

static void write_seeds(const char *dir)
{
	sig_seed(dir, "einit-ok", 0, 0, NULL, NULL);
	sig_seed(dir, "einit-vendor-intel", 0, 0, e_vendor, NULL);
	sig_seed(dir, "einit-kss-ok", 0, 1, NULL, NULL);
	sig_seed(dir, "einit-hash", 0, 0, e_hash, NULL);
	sig_seed(dir, "einit-family-no-kss", 0, 0, e_family, NULL);
	sig_seed(dir, "einit-extprodid-no-kss", 0, 0, e_ext, NULL);
	sig_seed(dir, "einit-masks", 0, 0, e_masks, NULL);
	sig_seed(dir, "einit-attributes", 0, 0, e_attr, NULL);
	sig_seed(dir, "einit-reserved-signed", 0, 0, e_reserved, NULL);
	sig_seed(dir, "einit-header-type", 0, 0, e_header12, NULL);
	sig_seed(dir, "einit-exponent", 0, 0, NULL, a_exponent);
	sig_seed(dir, "einit-q1", 0, 0, NULL, a_q1);
	sig_seed(dir, "einit-signature", 0, 0, NULL, a_sig);
	sig_seed(dir, "einit-reserved-unsigned", 0, 0, NULL, a_reserved4);
	sig_seed(dir, "resign-attributes", 1, 0x80, e_attr, NULL);
	sig_seed(dir, "resign-masks", 1, 0x80, e_masks, NULL);
	static const char *const keys_[] = {"tests/scripts/signing-key.pem", "tests/sdk/keys/rsa2048-e3.pem",
					    "tests/sdk/keys/rsa3072-e65537.pem", "tests/sdk/keys/ec-p256.pem",
					    "tests/sdk/keys/public-only.pem"};
	for (size_t i = 0; i < sizeof(keys_) / sizeof(keys_[0]); i++) {
		char path[4096], name[64], pem[4096];
		snprintf(path, sizeof(path), "%s/%s", FUZZ_SRCDIR, keys_[i]);
		FILE *f = fopen(path, "r");
		size_t len = f ? fread(pem, 1, sizeof(pem), f) : 0;
		if (f)
			fclose(f);
		snprintf(name, sizeof(name), "pem-%s", strrchr(keys_[i], '/') + 1);
		seed(dir, name, 2, pem, len, NULL, 0);
	}
	static const char junk[] =
	    "-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
	seed(dir, "pem-truncated", 2, junk, sizeof(junk) - 1, NULL, 0);
	static const char *const sizes[] = {"128M",	    "1g", "4096", "0x1000", "010", "0", "18446744073709551615",
					    "17179869184G", "5X", "",	  "-1",	    "0x",  "1K"};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "size-%zu", i);
		seed(dir, name, 3, sizes[i], strlen(sizes[i]), NULL, 0);
	}
	static const char *const nums[] = {"\0010x10", "\00164K",   "\000010", "\00099999999999999999999",
					   "\0011t",   "\0010X1fG", "\000"};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "number-%zu", i);
		seed(dir, name, 4, nums[i], strlen(nums[i] + 1) + 1, NULL, 0);
	}
	static const char args0[] = "--n-tcs=4\0--heap-size=1M\0--debug\0app.elf";
	static const char args1[] = "--edmm\0--dyn-size=1G\0--n-dyn-threads\0003\0-v\0--\0-x.elf";
	static const char args2[] = "--xfrm=avx|avx512\0--attributes=kss,aexnotify\0--date=2024-02-30\0--config";
	static const char args3[] = "--stack-size=0x1800\0--enclave-size=0x3000\0--misc-select=2\0a\0b";
	seed(dir, "args-0", 5, args0, sizeof(args0) - 1, NULL, 0);
	seed(dir, "args-1", 5, args1, sizeof(args1) - 1, NULL, 0);
	seed(dir, "args-2", 5, args2, sizeof(args2) - 1, NULL, 0);
	seed(dir, "args-3", 5, args3, sizeof(args3) - 1, NULL, 0);
	static const char conf0[] = "# app.conf\nn_tcs = 4          # four worker threads\nstack_size = 256K\n"
				    "heap_size = 16M\nedmm = yes\ndyn_size = 1G\nisv_prod_id = 1\nisv_svn = 3\n";
	static const char conf1[] = "threads = 2\n";
	static const char conf2[] = "n_tcs = 1\nn-tcs = 2\n";
	static const char conf3[] = "stack_size = 0x1800\r\nxfrm = avx\n  = 3\n";
	seed(dir, "config-0", 6, conf0, sizeof(conf0) - 1, NULL, 0);
	seed(dir, "config-1", 6, conf1, sizeof(conf1) - 1, NULL, 0);
	seed(dir, "config-2", 6, conf2, sizeof(conf2) - 1, NULL, 0);
	seed(dir, "config-3", 6, conf3, sizeof(conf3) - 1, NULL, 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct hw_config cfg;
	char err[256];
	hw_config_default(&cfg);
	cfg.epc_size = 1 << 20;
	cfg.space_size = 1ULL << 30;
	if (hw_machine_create(&cfg, &M, err, sizeof(err)) != 0)
		bad("machine: %s", err);
	WINDOW = hw_epc_window_alloc(M, SIZE);
	SECS_PA = hw_epc_window_alloc(M, 4096);
	FILE *f = fopen(FUZZ_SRCDIR "/tests/scripts/signing-key.pem", "r");
	static char pem[1 << 14];
	size_t len = f ? fread(pem, 1, sizeof(pem) - 1, f) : 0;
	if (f)
		fclose(f);
	KEY = crypto_rsa_from_pem(pem, len, err, sizeof(err));
	if (!KEY || !WINDOW || !SECS_PA)
		bad("setup: %s", KEY ? "EPC windows" : err);
	mrenclave(MRENCLAVE);
	const char *dir = getenv("SGXEMU_FUZZ_WRITE_SEEDS");
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size || size > 8192)
		return -1;
	const uint8_t *d = data + 1;
	size_t n = size - 1;
	switch (data[0] % 7) {
	case 0:
	case 1:
		fuzz_einit(d, n, data[0] % 7 == 1);
		break;
	case 2:
		fuzz_pem(d, n);
		break;
	case 3:
		if (n > 64 || memchr(d, 0, n))
			return -1;
		if (FZ_FOUND_PARSE_SIZE_SIGN && n && strchr(" \t\n\v\f\r+-", d[0]))
			return -1; /* known.h */
		fuzz_size(d, n);
		break;
	case 4:
		if (n > 64 || memchr(d + (n ? 1 : 0), 0, n ? n - 1 : 0))
			return -1;
		fuzz_number(d, n);
		break;
	case 5:
		fuzz_args(d, n);
		break;
	default:
		fuzz_config(d, n);
		break;
	}
	return 0;
}
