/* SPDX-License-Identifier: MIT */
/*
 * The host program of docs/tutorial.md: load a signed enclave with the
 * sdk's loader and call its two ECALLs.
 *
 *   hello-host [--linux] LAYOUT.conf ENCLAVE.elf ENCLAVE.sigstruct
 *
 * --linux uses the real driver (/dev/sgx_enclave) and vDSO instead of
 * sgxemu: the same enclave and SIGSTRUCT run on an SGX2 machine.
 */
#include <stdio.h>
#include <string.h>

#include "sgxemu/loader.h"

struct hello_args {
	char name[32];
};

int main(int argc, char **argv)
{
	const struct sdk_backend *backend = &sdk_backend_emu;
	if (argc > 1 && !strcmp(argv[1], "--linux")) {
		backend = &sdk_backend_linux;
		argv++;
		argc--;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: hello-host [--linux] LAYOUT.conf ENCLAVE.elf ENCLAVE.sigstruct\n");
		return 2;
	}
	char err[512];

	/* 1. The enclave's pages, laid out exactly as `sgxemu sign` measured them. */
	struct sdk_config cfg;
	sdk_config_default(&cfg);
	struct sdk_image *img = NULL;
	if (sdk_config_load(&cfg, argv[1], err, sizeof(err)) < 0 ||
	    sdk_image_load(argv[2], &cfg, &img, err, sizeof(err)) < 0) {
		fprintf(stderr, "hello-host: %s\n", err);
		return 1;
	}

	/* 2. The SIGSTRUCT `sgxemu sign` wrote. */
	struct sgx_sigstruct sig;
	FILE *f = fopen(argv[3], "rb");
	size_t n = f ? fread(&sig, 1, sizeof(sig), f) : 0;
	if (f)
		fclose(f);
	if (n != sizeof(sig)) {
		fprintf(stderr, "hello-host: %s: %s\n", argv[3], f ? "not a SIGSTRUCT (1808 bytes)" : "cannot open it");
		sdk_image_free(img);
		return 1;
	}

	/* 3. Load: ECREATE, EADD/EEXTEND, EINIT, mappings, the runtime's initialisation. */
	struct sdk_enclave *e;
	if (sdk_enclave_load(backend, img, &sig, NULL, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "hello-host: %s\n", err);
		sdk_image_free(img);
		return 1;
	}

	/* 4. ECALL 0 with an argument, ECALL 1 without. */
	struct hello_args a = {"tutorial"};
	struct sdk_ecall_info info;
	int64_t ret = 0;
	int status = 0;
	if (sdk_enclave_ecall(e, -1, 0, &a, sizeof(a), &ret, &info) == 0) {
		printf("greet returned %lld\n", (long long)ret);
	} else {
		fprintf(stderr, "hello-host: greet: %s\n", info.message);
		status = 1;
	}
	fflush(stdout);
	if (sdk_enclave_ecall(e, -1, 1, NULL, 0, &ret, &info) == 0) {
		printf("answer returned %lld\n", (long long)ret);
	} else {
		fprintf(stderr, "hello-host: answer: %s\n", info.message);
		status = 1;
	}

	sdk_enclave_destroy(e);
	sdk_image_free(img);
	return status;
}
