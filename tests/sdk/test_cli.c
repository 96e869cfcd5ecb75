/* SPDX-License-Identifier: MIT */
/*
 * The sgxemu subcommands keygen, sign, measure and cpuid, run as a user
 * would: good input (output, files) and bad input (exit status and the
 * one-line message).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_keys.h"
#include "cpu.h"
#include "crypto.h"
#include "hw.h"
#include "image.h"
#include "sigstruct.h"
#include "util.h"

static char *g_dir;
static char err[512];

static void setup(void)
{
	g_dir = make_temp_dir();
}

static void teardown(void)
{
	rm_rf(g_dir);
	free(g_dir);
}

/* g_dir/name (static rotating buffers). */
static const char *tmp(const char *name)
{
	static char bufs[8][4096];
	static unsigned i;
	char *b = bufs[i++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", g_dir, name);
	return b;
}

static const char *key_file(const char *name)
{
	static char bufs[4][4096];
	static unsigned i;
	char *b = bufs[i++ % 4];
	snprintf(b, sizeof(bufs[0]), "%s/%s", KEYS_DIR, name);
	return b;
}

#define SGXEMU(r, ...)                                                                                                 \
	do {                                                                                                           \
		const char *const argv_[] = {SGXEMU_BIN, __VA_ARGS__, NULL};                                           \
		run_argv((r), argv_);                                                                                  \
	} while (0)

/* Assert status, empty stdout and exactly one stderr line. */
static void expect_error(struct run *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void expect_error(struct run *r, int status, const char *fmt, ...)
{
	char want[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof(want) - 1, fmt, ap);
	va_end(ap);
	strcat(want, "\n");
	cr_assert_eq(r->status, status, "status %d (stderr: %s)", r->status, r->err);
	cr_assert_str_eq(r->err, want);
	cr_assert_str_eq(r->out, "");
	run_free(r);
}

static void expect_ok(struct run *r)
{
	cr_assert_eq(r->status, 0, "status %d, stderr: %s", r->status, r->err);
	cr_assert_str_eq(r->err, "");
}

/* The MRENCLAVE of the fixture under cfg, as the library computes it. */
static void mrenclave_of(const char *elf, const struct sdk_config *c, char hex[65])
{
	struct sdk_image *img = NULL;
	cr_assert_eq(sdk_image_load(elf, c, &img, err, sizeof(err)), 0, "%s", err);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", img->mrenclave[i]);
	sdk_image_free(img);
}

static void hex32(const uint8_t *d, char out[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* ---- top level and --help ------------------------------------------------------------------------- */

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

Test(cli, no_command_is_usage_error)
{
	struct run r;
	const char *const argv[] = {SGXEMU_BIN, NULL};
	run_argv(&r, argv);
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "usage: sgxemu COMMAND"));
	cr_assert(strstr(r.err, "  keygen ") && strstr(r.err, "  sign ") && strstr(r.err, "  measure ") &&
		  strstr(r.err, "  cpuid "));
	run_free(&r);
}

Test(cli, every_command_has_help)
{
	static const char *const cmds[] = {"keygen", "sign", "measure", "cpuid"};
	for (size_t i = 0; i < 4; i++) {
		struct run r;
		SGXEMU(&r, cmds[i], "--help");
		expect_ok(&r);
		char want[64];
		snprintf(want, sizeof(want), "usage: sgxemu %s ", cmds[i]);
		cr_assert_eq(strncmp(r.out, want, strlen(want)), 0, "%s", r.out);
		run_free(&r);
	}
	struct run r;
	SGXEMU(&r, "sign", "--help");
	cr_assert(strstr(r.out, "--stack-size=SIZE") && strstr(r.out, "--key KEY.pem"));
	run_free(&r);
}

/* ---- keygen ---------------------------------------------------------------------------------------- */

Test(cli, keygen_writes_private_pem_once)
{
	struct run r;
	const char *out = tmp("k.pem");
	SGXEMU(&r, "keygen", out);
	expect_ok(&r);
	size_t len;
	uint8_t *pem = read_file(out, &len);
	struct crypto_rsa *k = crypto_rsa_from_pem((const char *)pem, len, err, sizeof(err));
	cr_assert(k, "keygen output: %s", err);
	uint8_t mod[384], mrsigner[32];
	char hex[65], line[80];
	crypto_rsa_modulus_le(k, mod);
	crypto_sha256(mod, sizeof(mod), mrsigner);
	hex32(mrsigner, hex);
	snprintf(line, sizeof(line), "mrsigner %s\n", hex);
	cr_assert_str_eq(r.out, line);
	crypto_rsa_free(k);
	run_free(&r);
	struct stat st;
	cr_assert_eq(stat(out, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(dir_entries(g_dir), 1, "temporary file left behind");

	/* 2. A second keygen refuses to replace it; the file is unchanged. */
	SGXEMU(&r, "keygen", out);
	expect_error(&r, 1, "sgxemu keygen: %s: file exists (use --force to replace it)", out);
	size_t len2;
	uint8_t *again = read_file(out, &len2);
	cr_assert(len2 == len && memcmp(again, pem, len) == 0);
	free(again);

	/* 3. --force replaces it with a new key. */
	SGXEMU(&r, "keygen", "--force", out);
	expect_ok(&r);
	run_free(&r);
	again = read_file(out, &len2);
	cr_assert(len2 != len || memcmp(again, pem, len) != 0, "--force kept the old key");
	cr_assert_eq(dir_entries(g_dir), 1);
	free(again);
	free(pem);
}

Test(cli, keygen_bad_usage_and_unwritable_directory)
{
	struct run r;
	SGXEMU(&r, "keygen");
	expect_error(&r, 2, "sgxemu keygen: missing OUT.pem (see 'sgxemu keygen --help')");
	SGXEMU(&r, "keygen", "--bits=2048", tmp("k.pem"));
	expect_error(&r, 2, "sgxemu keygen: unknown option '--bits=2048' (see 'sgxemu keygen --help')");
	SGXEMU(&r, "keygen", tmp("a.pem"), tmp("b.pem"));
	expect_error(&r, 2, "sgxemu keygen: unexpected argument '%s' (see 'sgxemu keygen --help')", tmp("b.pem"));
	SGXEMU(&r, "keygen", tmp("missing/k.pem"));
	expect_error(&r, 1, "sgxemu keygen: %s: cannot create a temporary file: No such file or directory",
		     tmp("missing/k.pem"));
	cr_assert_eq(dir_entries(g_dir), 0);
}

/* ---- sign ------------------------------------------------------------------------------------------ */

/* The fixture copied into the test directory as name. */
static const char *copy_fixture(const char *name)
{
	size_t len;
	uint8_t *elf = fixture_elf(&len);
	const char *p = tmp(name);
	write_file(p, elf, len);
	free(elf);
	return p;
}

Test(cli, sign_writes_verifiable_sigstruct)
{
	const char *elf = copy_fixture("app.elf");
	const char *out = tmp("app.sigstruct");
	struct run r;
	SGXEMU(&r, "sign", "--key", ck_key_path(), "--isv-prod-id=5", "--isv-svn", "2", "--date=2024-01-31", elf);
	expect_ok(&r);

	struct sdk_config c;
	sdk_config_default(&c);
	char mr[65], want[512];
	mrenclave_of(elf, &c, mr);
	size_t len;
	uint8_t *buf = read_file(out, &len);
	cr_assert_eq(len, sizeof(struct sgx_sigstruct));
	struct sgx_sigstruct s;
	memcpy(&s, buf, sizeof(s));
	free(buf);
	uint8_t mrsigner[32];
	char signer[65];
	sigstruct_mrsigner(&s, mrsigner);
	hex32(mrsigner, signer);
	snprintf(want, sizeof(want), "mrenclave %s\nmrsigner %s\nsigstruct %s\n", mr, signer, out);
	cr_assert_str_eq(r.out, want);
	run_free(&r);

	char hash[65];
	hex32(s.enclave_hash, hash);
	cr_assert_str_eq(hash, mr);
	cr_assert_eq(s.isv_prod_id, 5);
	cr_assert_eq(s.isv_svn, 2);
	cr_assert_eq(s.date, 0x20240131);
	cr_assert_eq(s.attributes, SGX_ATTR_MODE64BIT);
	uint8_t msg[256], h[32];
	sigstruct_signed_bytes(&s, msg);
	crypto_sha256(msg, sizeof(msg), h);
	cr_assert(crypto_rsa3072_e3_verify(s.modulus, s.signature, s.q1, s.q2, h));
	cr_assert_eq(dir_entries(g_dir), 2, "temporary file left behind");
}

Test(cli, sign_options_override_config)
{
	const char *elf = copy_fixture("app.elf");
	const char *conf = tmp("app.conf");
	static const char text[] = "n_tcs = 3\nheap_size = 64K\nedmm = true\ndyn_size = 1M\n";
	write_file(conf, text, strlen(text));
	struct run r;
	SGXEMU(&r, "sign", "--config", conf, "--n-tcs=2", "--key", ck_key_path(), "-o", tmp("out.sig"), elf);
	expect_ok(&r);
	run_free(&r);

	struct sdk_config c;
	sdk_config_default(&c);
	c.n_tcs = 2;
	c.heap_size = 64 << 10;
	c.edmm = true;
	c.dyn_size = 1 << 20;
	char mr[65];
	mrenclave_of(elf, &c, mr);
	size_t len;
	uint8_t *buf = read_file(tmp("out.sig"), &len);
	cr_assert_eq(len, sizeof(struct sgx_sigstruct));
	char hash[65];
	hex32(((struct sgx_sigstruct *)buf)->enclave_hash, hash);
	cr_assert_str_eq(hash, mr);
	free(buf);

	/* measure with the same config and options prints the same value. */
	SGXEMU(&r, "measure", "--config", conf, "--n_tcs", "2", elf);
	expect_ok(&r);
	char want[100];
	snprintf(want, sizeof(want), "mrenclave %s\n", mr);
	cr_assert_str_eq(r.out, want);
	run_free(&r);
}

Test(cli, sign_bad_keys)
{
	const char *elf = copy_fixture("app.elf");
	struct run r;
	SGXEMU(&r, "sign", "--key", tmp("none.pem"), elf);
	expect_error(&r, 1, "sgxemu sign: %s: No such file or directory", tmp("none.pem"));
	SGXEMU(&r, "sign", "--key", elf, elf);
	expect_error(&r, 1, "sgxemu sign: %s: no PEM private key found", elf);
	SGXEMU(&r, "sign", "--key", key_file("public-only.pem"), elf);
	expect_error(&r, 1, "sgxemu sign: %s: no PEM private key found", key_file("public-only.pem"));
	SGXEMU(&r, "sign", "--key", key_file("rsa2048-e3.pem"), elf);
	expect_error(&r, 1, "sgxemu sign: %s: RSA modulus is not 3072 bits", key_file("rsa2048-e3.pem"));
	SGXEMU(&r, "sign", "--key", key_file("rsa3072-e65537.pem"), elf);
	expect_error(&r, 1, "sgxemu sign: %s: RSA public exponent is not 3", key_file("rsa3072-e65537.pem"));
	/* One base64 character changed inside p: the shape is right, the key is not (what it signs never verifies). */
	SGXEMU(&r, "sign", "--key", key_file("rsa3072-e3-inconsistent.pem"), elf);
	expect_error(&r, 1,
		     "sgxemu sign: %s: RSA private key is inconsistent: a signature made with it does not verify",
		     key_file("rsa3072-e3-inconsistent.pem"));
	SGXEMU(&r, "sign", "--key", key_file("ec-p256.pem"), elf);
	expect_error(&r, 1, "sgxemu sign: %s: not an RSA key", key_file("ec-p256.pem"));
	SGXEMU(&r, "sign", "--key", g_dir, elf);
	expect_error(&r, 1, "sgxemu sign: %s: Is a directory", g_dir);
	cr_assert(!file_exists(tmp("app.sigstruct")));
}

Test(cli, sign_bad_elf_keeps_existing_output)
{
	size_t len;
	uint8_t *elf = fixture_elf(&len);
	elf[0x12] = 3; /* e_machine EM_386 */
	write_file(tmp("bad.elf"), elf, len);
	free(elf);
	write_file(tmp("bad.sigstruct"), "old", 3);
	struct run r;
	SGXEMU(&r, "sign", "--key", ck_key_path(), tmp("bad.elf"));
	expect_error(&r, 1, "sgxemu sign: %s: e_machine 3; expected EM_X86_64 (62)", tmp("bad.elf"));
	size_t n;
	uint8_t *old = read_file(tmp("bad.sigstruct"), &n);
	cr_assert(n == 3 && memcmp(old, "old", 3) == 0);
	free(old);
	SGXEMU(&r, "sign", "--key", ck_key_path(), tmp("missing.elf"));
	expect_error(&r, 1, "sgxemu sign: %s: No such file or directory", tmp("missing.elf"));
	write_file(tmp("short.elf"), "\177ELF", 4);
	SGXEMU(&r, "sign", "--key", ck_key_path(), tmp("short.elf"));
	expect_error(&r, 1, "sgxemu sign: %s: truncated file (4 bytes; the ELF header needs 64)", tmp("short.elf"));
	cr_assert_eq(dir_entries(g_dir), 3);
}

Test(cli, sign_output_into_missing_directory)
{
	const char *elf = copy_fixture("app.elf");
	struct run r;
	SGXEMU(&r, "sign", "--key", ck_key_path(), "-o", tmp("no/dir.sig"), elf);
	expect_error(&r, 1, "sgxemu sign: %s: cannot create a temporary file: No such file or directory",
		     tmp("no/dir.sig"));
}

Test(cli, sign_usage_errors)
{
	const char *elf = copy_fixture("app.elf");
	const char *key = ck_key_path();
	struct run r;
	SGXEMU(&r, "sign", elf);
	expect_error(&r, 2, "sgxemu sign: missing --key KEY.pem (see 'sgxemu sign --help')");
	SGXEMU(&r, "sign", "--key", key);
	expect_error(&r, 2, "sgxemu sign: missing ENCLAVE.elf (see 'sgxemu sign --help')");
	SGXEMU(&r, "sign", "--key", key, elf, elf);
	expect_error(&r, 2, "sgxemu sign: unexpected argument '%s' (see 'sgxemu sign --help')", elf);
	SGXEMU(&r, "sign", "--key", key, "--threads=4", elf);
	expect_error(&r, 2, "sgxemu sign: unknown option '--threads=4' (see 'sgxemu sign --help')");
	SGXEMU(&r, "sign", "--key", key, "--n-tcs=many", elf);
	expect_error(&r, 2, "sgxemu sign: --n-tcs: n_tcs: 'many' is not a number (see 'sgxemu sign --help')");
	SGXEMU(&r, "sign", "--key", key, "--stack-size=100", elf);
	expect_error(
	    &r, 2, "sgxemu sign: --stack-size: stack_size: 0x64 is not a multiple of 4096 (see 'sgxemu sign --help')");
	SGXEMU(&r, "sign", "--key", key, elf, "--heap-size");
	expect_error(&r, 2, "sgxemu sign: option '--heap-size' needs a value (see 'sgxemu sign --help')");
	SGXEMU(&r, "sign", elf, "--key");
	expect_error(&r, 2, "sgxemu sign: option '--key' needs a value (see 'sgxemu sign --help')");
	SGXEMU(&r, "sign", "--key", key, "--debug=perhaps", elf);
	expect_error(&r, 2,
		     "sgxemu sign: --debug: debug: 'perhaps' is not a boolean (true/false, yes/no, on/off, 1/0) "
		     "(see 'sgxemu sign --help')");
	/* A combination only the image builder can check. */
	SGXEMU(&r, "sign", "--key", key, "--dyn-size=1M", elf);
	expect_error(&r, 1, "sgxemu sign: layout: dyn_size needs edmm = true (the area is committed with EDMM)");
	cr_assert_eq(dir_entries(g_dir), 1);
}

Test(cli, sign_bad_config_file)
{
	const char *elf = copy_fixture("app.elf");
	const char *conf = tmp("bad.conf");
	write_file(conf, "n_tcs = 2\nthreads = 3\n", 22);
	struct run r;
	SGXEMU(&r, "sign", "--key", ck_key_path(), "--config", conf, elf);
	expect_error(&r, 1, "sgxemu sign: %s:2: unknown key 'threads'", conf);
	SGXEMU(&r, "sign", "--key", ck_key_path(), "--config", tmp("none.conf"), elf);
	expect_error(&r, 1, "sgxemu sign: %s: No such file or directory", tmp("none.conf"));
}

/* ---- measure --------------------------------------------------------------------------------------- */

Test(cli, measure_prints_mrenclave_and_layout)
{
	struct sdk_config c;
	sdk_config_default(&c);
	c.debug = true;
	c.n_tcs = 2;
	char mr[65], want[100];
	mrenclave_of(FIXTURE_ELF, &c, mr);
	struct run r;
	SGXEMU(&r, "measure", "--debug", "--n-tcs=2", FIXTURE_ELF);
	expect_ok(&r);
	snprintf(want, sizeof(want), "mrenclave %s\n", mr);
	cr_assert_str_eq(r.out, want);
	run_free(&r);

	SGXEMU(&r, "measure", "-v", "--debug", "--n-tcs=2", FIXTURE_ELF);
	expect_ok(&r);
	cr_assert_eq(strncmp(r.out, want, strlen(want)), 0);
	cr_assert(strstr(r.out, "\nattributes 0x0000000000000006 (DEBUG MODE64BIT)\n"), "%s", r.out);
	cr_assert(strstr(r.out, "\nxfrm 0x0000000000000003 (x87 SSE)\n"), "%s", r.out);
	cr_assert(strstr(r.out, "\nssa_frame_size 1\n"), "%s", r.out);
	cr_assert(strstr(r.out, "\nthreads ") && strstr(r.out, " 2 x 0x15000 (stack 0x10000, nssa 2)\n"), "%s", r.out);
	run_free(&r);
}

Test(cli, measure_errors)
{
	struct run r;
	SGXEMU(&r, "measure");
	expect_error(&r, 2, "sgxemu measure: missing ENCLAVE.elf (or --sigstruct FILE) (see 'sgxemu measure --help')");
	SGXEMU(&r, "measure", "--frobnicate", FIXTURE_ELF);
	expect_error(&r, 2, "sgxemu measure: unknown option '--frobnicate' (see 'sgxemu measure --help')");
	SGXEMU(&r, "measure", "--sigstruct", tmp("x.sig"), FIXTURE_ELF);
	expect_error(
	    &r, 2,
	    "sgxemu measure: --sigstruct takes no ELF, layout options or --verbose (see 'sgxemu measure --help')");
	SGXEMU(&r, "measure", tmp("none.elf"));
	expect_error(&r, 1, "sgxemu measure: %s: No such file or directory", tmp("none.elf"));
	size_t len;
	uint8_t *elf = fixture_elf(&len);
	elf[4] = 1; /* ELFCLASS32 */
	write_file(tmp("e32.elf"), elf, len);
	free(elf);
	SGXEMU(&r, "measure", tmp("e32.elf"));
	expect_error(&r, 1, "sgxemu measure: %s: ELF class 1; expected ELFCLASS64 (2)", tmp("e32.elf"));
	SGXEMU(&r, "measure", "--enclave-size=8K", FIXTURE_ELF);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "lies beyond enclave_size 0x2000\n"), "%s", r.err);
	run_free(&r);
}

Test(cli, sign_with_xsave_features_by_name)
{
	const char *elf = copy_fixture("app.elf");
	struct run r;
	SGXEMU(&r, "sign", "--key", ck_key_path(), "--xfrm", "avx|avx512", elf);
	expect_ok(&r);
	run_free(&r);
	SGXEMU(&r, "measure", "--sigstruct", tmp("app.sigstruct"));
	expect_ok(&r);
	cr_assert(strstr(r.out, "\nxfrm 0x00000000000000e7 (x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM)\nxfrmmask "
				"0x00000000000000e7\n"),
		  "%s", r.out);
	run_free(&r);
	SGXEMU(&r, "sign", "--key", ck_key_path(), "--xfrm", "avx|sse4", elf);
	expect_error(
	    &r, 2,
	    "sgxemu sign: --xfrm: xfrm: unknown XSAVE feature 'sse4' (avx, avx512, pkru, amx, mpx or a number) "
	    "(see 'sgxemu sign --help')");
}

Test(cli, measure_sigstruct_fields)
{
	const char *elf = copy_fixture("app.elf");
	struct run r;
	SGXEMU(&r, "sign", "--key", ck_key_path(), "--debug", "--isv-prod-id=258", "--isv-svn=7", "--date=20231105",
	       "--xfrm-mask=0x3", elf);
	expect_ok(&r);
	run_free(&r);
	const char *sig = tmp("app.sigstruct");
	size_t len;
	uint8_t *buf = read_file(sig, &len);
	struct sgx_sigstruct s;
	memcpy(&s, buf, sizeof(s));
	free(buf);
	uint8_t mrsigner[32];
	char hash[65], signer[65], want[2048];
	hex32(s.enclave_hash, hash);
	sigstruct_mrsigner(&s, mrsigner);
	hex32(mrsigner, signer);
	snprintf(want, sizeof(want),
		 "vendor 0x0000\n"
		 "date 2023-11-05\n"
		 "swdefined 0x00000000\n"
		 "miscselect 0x00000001\n"
		 "miscmask 0xffffffff\n"
		 "attributes 0x0000000000000006 (DEBUG MODE64BIT)\n"
		 "attributemask 0xffffffffffffffff\n"
		 "xfrm 0x0000000000000003 (x87 SSE)\n"
		 "xfrmmask 0x0000000000000003\n"
		 "isvprodid 258\n"
		 "isvsvn 7\n"
		 "isvfamilyid 00000000000000000000000000000000\n"
		 "isvextprodid 00000000000000000000000000000000\n"
		 "enclavehash %s\n"
		 "mrsigner %s\n"
		 "exponent 3\n"
		 "signature valid\n",
		 hash, signer);
	SGXEMU(&r, "measure", "--sigstruct", sig);
	expect_ok(&r);
	cr_assert_str_eq(r.out, want);
	run_free(&r);

	/* A changed signed field: same listing but the signature no longer verifies. */
	s.isv_svn = 8;
	write_file(tmp("tampered.sig"), &s, sizeof(s));
	SGXEMU(&r, "measure", "--sigstruct", tmp("tampered.sig"));
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.out, "\nisvsvn 8\n") && strstr(r.out, "\nsignature invalid\n"), "%s", r.out);
	char line[600];
	snprintf(line, sizeof(line), "sgxemu measure: %s: the signature does not verify\n", tmp("tampered.sig"));
	cr_assert_str_eq(r.err, line);
	run_free(&r);

	write_file(tmp("short.sig"), &s, 100);
	SGXEMU(&r, "measure", "--sigstruct", tmp("short.sig"));
	expect_error(&r, 1, "sgxemu measure: %s: not a SIGSTRUCT (100 bytes; expected 1808)", tmp("short.sig"));
	s.header[0] ^= 1;
	write_file(tmp("hdr.sig"), &s, sizeof(s));
	SGXEMU(&r, "measure", "--sigstruct", tmp("hdr.sig"));
	expect_error(&r, 1, "sgxemu measure: %s: not a SIGSTRUCT (HEADER or HEADER2 differs)", tmp("hdr.sig"));
	SGXEMU(&r, "measure", "--sigstruct", tmp("none.sig"));
	expect_error(&r, 1, "sgxemu measure: %s: No such file or directory", tmp("none.sig"));
}

/* ---- cpuid ----------------------------------------------------------------------------------------- */

/* The XFRM lines of `sgxemu cpuid` on this host: its XSAVE features, as the emulator configures its machine. */
static void host_xfrm_lines(char *out, size_t len)
{
	struct hw_config c;
	hw_config_default(&c);
	exec_cpu_hw_config(&c);
	char names[256];
	sdk_xfrm_names(c.xfrm_allowed, names, sizeof(names));
	snprintf(out, len,
		 "CPUID.(EAX=0x12,ECX=1): EAX=0x000004b6 EBX=0x00000000 ECX=0x%08x EDX=0x%08x\n"
		 "  ATTRIBUTES allowed: 0x00000000000004b6 (DEBUG MODE64BIT PROVISIONKEY EINITTOKEN_KEY KSS "
		 "AEXNOTIFY)\n"
		 "  XFRM allowed: 0x%016llx (%s)\n"
		 "  XSAVE area of all of them: %u bytes\n",
		 (unsigned)c.xfrm_allowed, (unsigned)(c.xfrm_allowed >> 32), (unsigned long long)c.xfrm_allowed, names,
		 hw_xsave_size_in(&c, c.xfrm_allowed));
}

Test(cli, cpuid_default_machine)
{
	char xfrm[1024], want[4096];
	host_xfrm_lines(xfrm, sizeof(xfrm));
	snprintf(want, sizeof(want), "%s%s%s",
		 "CPUID.(EAX=0x12,ECX=0): EAX=0x00000803 EBX=0x00000001 ECX=0x00000000 EDX=0x0000241f\n"
		 "  SGX1: yes\n"
		 "  SGX2: yes\n"
		 "  EDECCSSA (AEX-Notify): yes\n"
		 "  MISCSELECT supported: 0x00000001 (EXINFO)\n"
		 "  max enclave size (64-bit): 2^36 bytes (64 GiB)\n"
		 "  max enclave size (32-bit): 2^31 bytes (2 GiB)\n",
		 xfrm,
		 "CPUID.(EAX=0x12,ECX=2): EAX=0x80000001 EBX=0x00000000 ECX=0x08000001 EDX=0x00000000\n"
		 "  EPC section 0: base 0x000080000000 size 0x000008000000 (128 MiB), confidentiality and "
		 "integrity protected\n"
		 "CPUID.(EAX=0x12,ECX=3): EAX=0x00000000 EBX=0x00000000 ECX=0x00000000 EDX=0x00000000\n"
		 "  no more EPC sections\n"
		 "EPC total: 128 MiB in 1 section\n");
	struct run r;
	SGXEMU(&r, "cpuid");
	expect_ok(&r);
	cr_assert_str_eq(r.out, want);
	run_free(&r);
}

Test(cli, cpuid_names_the_hosts_xsave_features)
{
	exec_cpu_init();
	uint64_t x = exec_cpu_xfeatures();
	if ((x & 0x7) != 0x7)
		cr_skip_test("the kernel did not enable AVX state (XCR0 %#llx)", (unsigned long long)exec_xlayout.xcr0);
	struct run r;
	SGXEMU(&r, "cpuid");
	expect_ok(&r);
	const char *line = strstr(r.out, "  XFRM allowed: ");
	cr_assert(line, "%s", r.out);
	cr_assert(strstr(line, "(x87 SSE AVX") == strchr(line, '('), "%s", line);
	if ((x & 0xE0) == 0xE0)
		cr_assert(strstr(line, "AVX opmask ZMM_Hi256 Hi16_ZMM"), "AVX-512 named: %s", line);
	run_free(&r);
}

Test(cli, cpuid_options)
{
	struct run r;
	SGXEMU(&r, "cpuid", "--epc-size=96M", "--epc-sections", "3", "--sgx1");
	expect_ok(&r);
	cr_assert(strstr(r.out, "EAX=0x00000801 EBX=0x00000001") && strstr(r.out, "  SGX2: no\n"), "%s", r.out);
	cr_assert(strstr(r.out, "  EPC section 0: base 0x000080000000 size 0x000002000000 (32 MiB)"), "%s", r.out);
	cr_assert(strstr(r.out, "  EPC section 1: base 0x000082000000 size 0x000002000000 (32 MiB)"), "%s", r.out);
	cr_assert(strstr(r.out, "  EPC section 2: base 0x000084000000 size 0x000002000000 (32 MiB)"), "%s", r.out);
	cr_assert(strstr(r.out, "CPUID.(EAX=0x12,ECX=5): EAX=0x00000000"), "%s", r.out);
	cr_assert(strstr(r.out, "EPC total: 96 MiB in 3 sections\n"), "%s", r.out);
	run_free(&r);

	SGXEMU(&r, "cpuid", "--epc-size=4G");
	expect_ok(&r);
	cr_assert(strstr(r.out, "ECX=2): EAX=0x80000001 EBX=0x00000000 ECX=0x00000001 EDX=0x00000001\n"), "%s", r.out);
	cr_assert(strstr(r.out, "EPC total: 4 GiB in 1 section\n"), "%s", r.out);
	run_free(&r);
}

Test(cli, cpuid_errors)
{
	struct run r;
	SGXEMU(&r, "cpuid", "--epc-size=12345");
	expect_error(
	    &r, 2,
	    "sgxemu cpuid: --epc-size: 0x3039 is not a multiple of 4096 from 8 KiB to 1 TiB (see 'sgxemu cpuid "
	    "--help')");
	SGXEMU(&r, "cpuid", "--epc-size=lots");
	expect_error(&r, 2, "sgxemu cpuid: --epc-size: 'lots' is not a size (see 'sgxemu cpuid --help')");
	SGXEMU(&r, "cpuid", "--epc-size");
	expect_error(&r, 2, "sgxemu cpuid: option '--epc-size' needs a value (see 'sgxemu cpuid --help')");
	SGXEMU(&r, "cpuid", "--epc-sections=9");
	expect_error(&r, 2, "sgxemu cpuid: --epc-sections: 9 is out of range (1..8) (see 'sgxemu cpuid --help')");
	SGXEMU(&r, "cpuid", "--verbose");
	expect_error(&r, 2, "sgxemu cpuid: unknown option '--verbose' (see 'sgxemu cpuid --help')");
	SGXEMU(&r, "cpuid", "leaf");
	expect_error(&r, 2, "sgxemu cpuid: unexpected argument 'leaf' (see 'sgxemu cpuid --help')");
}

/* ---- symbolize ------------------------------------------------------------------------------------- */

/* The entry point of an ELF (fixture_entry: the image is a PIE, so it is also its enclave offset). */
static unsigned long long elf_entry(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	unsigned char h[64];
	cr_assert_eq(fread(h, 1, sizeof(h), f), sizeof(h));
	fclose(f);
	unsigned long long e = 0;
	for (int i = 7; i >= 0; i--)
		e = e << 8 | h[24 + i];
	return e;
}

static const char *write_log(const char *name, const char *text)
{
	const char *path = tmp(name);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	return path;
}

Test(cli, symbolize_names_functions_and_lines)
{
	unsigned long long entry = elf_entry(FIXTURE_G_ELF);
	char log[256], want[256];
	snprintf(log, sizeof(log),
		 "sgxemu: check: something; page enclave+0x%llx, code at enclave+0x%llx, thread 0\nplain line\n",
		 entry + 0x100000, entry + 1);
	const char *path = write_log("check.log", log);
	struct run r;
	/* Without line information: the function and the offset in it; a page out of every function unchanged. */
	SGXEMU(&r, "symbolize", FIXTURE_ELF, path);
	expect_ok(&r);
	snprintf(want, sizeof(want),
		 "sgxemu: check: something; page enclave+0x%llx, code at enclave+0x%llx <fixture_entry+0x1>, thread "
		 "0\nplain line\n",
		 entry + 0x100000, entry + 1);
	cr_assert_str_eq(r.out, want);
	run_free(&r);
	/* With -g: the file and line too (addr2line comes with the compiler's binutils). */
	SGXEMU(&r, "symbolize", FIXTURE_G_ELF, path);
	expect_ok(&r);
	cr_assert(strstr(r.out, "<fixture_entry+0x1 at ") && strstr(r.out, "fixture.c:"), "%s", r.out);
	run_free(&r);
}

Test(cli, symbolize_errors)
{
	struct run r;
	SGXEMU(&r, "symbolize");
	cr_assert_eq(r.status, 2, "%s", r.err);
	run_free(&r);
	SGXEMU(&r, "symbolize", tmp("none.elf"));
	expect_error(&r, 1, "sgxemu symbolize: %s: No such file or directory", tmp("none.elf"));
	const char *text = write_log("text.elf", "not an ELF file at all, but long enough to be read as one......\n");
	SGXEMU(&r, "symbolize", text);
	expect_error(&r, 1, "sgxemu symbolize: %s: not a 64-bit ELF file", text);
}
