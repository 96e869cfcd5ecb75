/* SPDX-License-Identifier: MIT */
/* sgxemu sign: measure an enclave ELF under a layout and write its signed SIGSTRUCT. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto.h"
#include "image.h"
#include "sigstruct.h"

/* ENCLAVE.elf -> ENCLAVE.sigstruct (any other name: NAME.sigstruct). */
static char *default_output(const char *elf)
{
	size_t n = strlen(elf);
	if (n > 4 && strcmp(elf + n - 4, ".elf") == 0)
		n -= 4;
	char *out = malloc(n + sizeof(".sigstruct"));
	if (out) {
		memcpy(out, elf, n);
		memcpy(out + n, ".sigstruct", sizeof(".sigstruct"));
	}
	return out;
}

/* --key KEY.pem, --output FILE (-o FILE). */
struct sign_options {
	const char *key, *out;
};

static int sign_option(int argc, char **argv, int *i, void *ctx)
{
	struct sign_options *o = ctx;
	const char *v;
	if (cli_option(argc, argv, i, "--key", &v))
		return (o->key = v) ? 1 : -1;
	if (cli_option(argc, argv, i, "--output", &v) || cli_option(argc, argv, i, "-o", &v))
		return (o->out = v) ? 1 : -1;
	return 0;
}

int cmd_sign(int argc, char **argv)
{
	const char *cmd = "sign";
	struct sign_options o = {0};
	struct cli_layout_args args;
	int rc = cli_parse_layout_args(cmd, argc, argv, sign_option, &o, &args);
	if (rc)
		goto done;
	const char *keyfile = o.key, *out = o.out, *elf = args.elf;
	if (!keyfile) {
		rc = cli_usage(cmd, "missing --key KEY.pem");
		goto done;
	}
	if (!elf) {
		rc = cli_usage(cmd, "missing ENCLAVE.elf");
		goto done;
	}
	struct sdk_config cfg;
	if ((rc = cli_build_config(cmd, &cfg, args.config, args.set, args.nset)) != 0)
		goto done;

	rc = 1;
	char err[512];
	size_t pemlen;
	char *pem = sdk_read_file(keyfile, &pemlen, err, sizeof(err));
	if (!pem) {
		cli_fail(cmd, "%s", err);
		goto done;
	}
	char why[256] = "";
	struct crypto_rsa *key = crypto_rsa_from_pem(pem, pemlen, why, sizeof(why));
	explicit_bzero(pem, pemlen);
	free(pem);
	if (!key) {
		cli_fail(cmd, "%s: %s", keyfile, why);
		goto done;
	}
	struct sdk_image *img = NULL;
	if (sdk_image_load(elf, &cfg, &img, err, sizeof(err))) {
		cli_fail(cmd, "%s", err);
		goto done_key;
	}
	struct sgx_sigstruct sig;
	if (sdk_image_sign(img, key, &sig, err, sizeof(err))) {
		cli_fail(cmd, "%s: %s", keyfile, err);
		goto done_img;
	}
	char *def = out ? NULL : default_output(elf);
	const char *path = out ? out : def;
	if (!path) {
		cli_fail(cmd, "out of memory");
		goto done_img;
	}
	if (cli_write_file(path, &sig, sizeof(sig), 0644, true, err, sizeof(err))) {
		cli_fail(cmd, "%s", err);
	} else {
		uint8_t mrsigner[32];
		char hex[65];
		sigstruct_mrsigner(&sig, mrsigner);
		cli_hex(img->mrenclave, 32, hex);
		printf("mrenclave %s\n", hex);
		cli_hex(mrsigner, 32, hex);
		printf("mrsigner %s\n", hex);
		printf("sigstruct %s\n", path);
		rc = 0;
	}
	free(def);
done_img:
	sdk_image_free(img);
done_key:
	crypto_rsa_free(key);
done:
	cli_layout_args_free(&args);
	return rc;
}
