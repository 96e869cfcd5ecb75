/* SPDX-License-Identifier: MIT */
/*
 * sgxemu measure: MRENCLAVE of an enclave ELF under a layout, computed as the
 * hardware will; or the fields of a SIGSTRUCT file with its MRSIGNER and
 * whether its signature verifies.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto.h"
#include "image.h"
#include "sigstruct.h"

static void print_layout(const struct sdk_image *img)
{
	const struct sgxemu_layout *l = &img->layout;
	char names[128];
	printf("enclave_size 0x%llx\n", (unsigned long long)l->enclave_size);
	printf("ssa_frame_size %u\n", img->ssa_frame_size);
	printf("misc_select 0x%x\n", img->misc_select);
	cli_attribute_names(img->attributes, names, sizeof(names));
	printf("attributes 0x%016llx (%s)\n", (unsigned long long)img->attributes, names);
	cli_xfrm_names(img->xfrm, names, sizeof(names));
	printf("xfrm 0x%016llx (%s)\n", (unsigned long long)img->xfrm, names);
	printf("entry 0x%llx\n", (unsigned long long)l->entry_offset);
	printf("image 0x%llx +0x%llx\n", 0ULL, (unsigned long long)l->image_size);
	printf("layout 0x%llx\n", (unsigned long long)l->layout_offset);
	printf("heap 0x%llx +0x%llx\n", (unsigned long long)l->heap_offset, (unsigned long long)l->heap_size);
	printf("threads 0x%llx %u x 0x%llx (stack 0x%llx, nssa %u)\n", (unsigned long long)l->thread_offset, l->n_tcs,
	       (unsigned long long)l->thread_stride, (unsigned long long)l->stack_size, l->nssa);
	printf("dynamic 0x%llx +0x%llx\n", (unsigned long long)l->dyn_offset, (unsigned long long)l->dyn_size);
	printf("dynamic_threads 0x%llx %u\n", (unsigned long long)l->tcs_dyn_offset, l->n_dyn_threads);
	printf("pages %zu\n", img->n_pages);
}

/* The fields of a SIGSTRUCT file; 0 when its signature verifies. */
static int show_sigstruct(const char *cmd, const char *path)
{
	char err[512];
	size_t len;
	char *buf = sdk_read_file(path, &len, err, sizeof(err));
	if (!buf)
		return cli_fail(cmd, "%s", err);
	struct sgx_sigstruct s;
	if (len != sizeof(s)) {
		free(buf);
		return cli_fail(cmd, "%s: not a SIGSTRUCT (%zu bytes; expected %zu)", path, len, sizeof(s));
	}
	memcpy(&s, buf, sizeof(s));
	free(buf);
	static const uint8_t header[16] = SGX_SIGSTRUCT_HEADER, header2[16] = SGX_SIGSTRUCT_HEADER2;
	if (memcmp(s.header, header, 16) || memcmp(s.header2, header2, 16))
		return cli_fail(cmd, "%s: not a SIGSTRUCT (HEADER or HEADER2 differs)", path);

	char hex[2 * 32 + 1], names[128];
	printf("vendor 0x%04x\n", s.vendor);
	printf("date %04x-%02x-%02x\n", s.date >> 16, (s.date >> 8) & 0xff, s.date & 0xff);
	printf("swdefined 0x%08x\n", s.swdefined);
	printf("miscselect 0x%08x\n", s.miscselect);
	printf("miscmask 0x%08x\n", s.miscmask);
	cli_attribute_names(s.attributes, names, sizeof(names));
	printf("attributes 0x%016llx (%s)\n", (unsigned long long)s.attributes, names);
	printf("attributemask 0x%016llx\n", (unsigned long long)s.attributes_mask);
	cli_xfrm_names(s.xfrm, names, sizeof(names));
	printf("xfrm 0x%016llx (%s)\n", (unsigned long long)s.xfrm, names);
	printf("xfrmmask 0x%016llx\n", (unsigned long long)s.xfrm_mask);
	printf("isvprodid %u\n", s.isv_prod_id);
	printf("isvsvn %u\n", s.isv_svn);
	cli_hex(s.isv_family_id, 16, hex);
	printf("isvfamilyid %s\n", hex);
	cli_hex(s.isv_ext_prod_id, 16, hex);
	printf("isvextprodid %s\n", hex);
	cli_hex(s.enclave_hash, 32, hex);
	printf("enclavehash %s\n", hex);
	uint8_t mrsigner[32];
	sigstruct_mrsigner(&s, mrsigner);
	cli_hex(mrsigner, 32, hex);
	printf("mrsigner %s\n", hex);
	printf("exponent %u\n", s.exponent);

	uint8_t msg[256], hash[32];
	sigstruct_signed_bytes(&s, msg);
	crypto_sha256(msg, sizeof(msg), hash);
	bool ok = s.exponent == 3 && crypto_rsa3072_e3_verify(s.modulus, s.signature, s.q1, s.q2, hash);
	printf("signature %s\n", ok ? "valid" : "invalid");
	fflush(stdout);
	if (!ok)
		return cli_fail(cmd, "%s: %s", path,
				s.exponent != 3 ? "EXPONENT is not 3" : "the signature does not verify");
	return 0;
}

/* -v (--verbose), --sigstruct FILE. */
struct measure_options {
	bool verbose;
	const char *sigstruct;
};

static int measure_option(int argc, char **argv, int *i, void *ctx)
{
	struct measure_options *o = ctx;
	const char *a = argv[*i], *v;
	if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
		o->verbose = true;
		return 1;
	}
	if (cli_option(argc, argv, i, "--sigstruct", &v))
		return (o->sigstruct = v) ? 1 : -1;
	return 0;
}

int cmd_measure(int argc, char **argv)
{
	const char *cmd = "measure";
	struct measure_options o = {0};
	struct cli_layout_args args;
	int rc = cli_parse_layout_args(cmd, argc, argv, measure_option, &o, &args);
	if (rc)
		goto done;
	const char *elf = args.elf, *sigstruct = o.sigstruct;
	bool verbose = o.verbose;
	if (sigstruct) {
		if (elf || args.config || args.nset || verbose)
			rc = cli_usage(cmd, "--sigstruct takes no ELF, layout options or --verbose");
		else
			rc = show_sigstruct(cmd, sigstruct);
		goto done;
	}
	if (!elf) {
		rc = cli_usage(cmd, "missing ENCLAVE.elf (or --sigstruct FILE)");
		goto done;
	}
	struct sdk_config cfg;
	if ((rc = cli_build_config(cmd, &cfg, args.config, args.set, args.nset)) != 0)
		goto done;
	char err[512];
	struct sdk_image *img = NULL;
	if (sdk_image_load(elf, &cfg, &img, err, sizeof(err))) {
		rc = cli_fail(cmd, "%s", err);
		goto done;
	}
	char hex[65];
	cli_hex(img->mrenclave, 32, hex);
	printf("mrenclave %s\n", hex);
	if (verbose)
		print_layout(img);
	sdk_image_free(img);
	rc = 0;
done:
	cli_layout_args_free(&args);
	return rc;
}
