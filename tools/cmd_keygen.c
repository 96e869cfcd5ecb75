/* SPDX-License-Identifier: MIT */
/* sgxemu keygen: a fresh RSA-3072 signing key with public exponent 3, as PEM (PKCS#8). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "crypto.h"

int cmd_keygen(int argc, char **argv)
{
	const char *cmd = "keygen", *out = NULL;
	bool force = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--force") == 0 || strcmp(a, "-f") == 0)
			force = true;
		else if (a[0] == '-' && a[1])
			return cli_usage(cmd, "unknown option '%s'", a);
		else if (out)
			return cli_usage(cmd, "unexpected argument '%s'", a);
		else
			out = a;
	}
	if (!out)
		return cli_usage(cmd, "missing OUT.pem");
	/* Fail before the slow part; the rename below still refuses a file that appears meanwhile. */
	if (!force && access(out, F_OK) == 0)
		return cli_fail(cmd, "%s: file exists (use --force to replace it)", out);

	struct crypto_rsa *k = crypto_rsa_generate();
	if (!k)
		return cli_fail(cmd, "%s: generating the RSA-3072 key failed", out);
	uint8_t modulus[384], mrsigner[32];
	char hex[65];
	crypto_rsa_modulus_le(k, modulus);
	crypto_sha256(modulus, sizeof(modulus), mrsigner);
	cli_hex(mrsigner, sizeof(mrsigner), hex);
	char *pem = crypto_rsa_to_pem(k);
	crypto_rsa_free(k);
	if (!pem)
		return cli_fail(cmd, "%s: encoding the key as PEM failed", out);
	char err[512];
	int rc = cli_write_file(out, pem, strlen(pem), 0600, force, err, sizeof(err));
	explicit_bzero(pem, strlen(pem));
	free(pem);
	if (rc) {
		if (!force && strstr(err, ": file exists"))
			return cli_fail(cmd, "%s (use --force to replace it)", err);
		return cli_fail(cmd, "%s", err);
	}
	printf("mrsigner %s\n", hex);
	return 0;
}
