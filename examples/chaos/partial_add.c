/* SPDX-License-Identifier: MIT */
/*
 * A loader bug chaos mode finds (docs/chaos.md, "What it found").
 *
 * SGX_IOC_ENCLAVE_ADD_PAGES may add fewer pages than it was asked to: Linux
 * stops the loop when a signal arrives, returns 0 and says in `count` how
 * many bytes it added.  A loader that takes the return value alone as "the
 * range is in" goes on with pages missing, and EINIT then refuses an
 * enclave whose measurement is not the signed one.  On a quiet machine the
 * signal never comes at the wrong moment, so the bug hides; Linux's own SGX
 * selftests have it.  With chaos mode's ioctl kind the stop comes where a
 * seed says, every time:
 *
 *   partial-add ENCLAVE.elf naive               EINIT: ok
 *   partial-add ENCLAVE.elf naive 7:ioctl=2     EINIT: Operation not permitted (EINIT found ...)
 *   partial-add ENCLAVE.elf careful 7:ioctl=2   EINIT: ok (the fix: resume from count)
 *
 * The third argument is SGXEMU_CHAOS (docs/chaos.md), set before the
 * emulator starts.  Exit status: 0 when EINIT succeeded, 1 when it did not,
 * 2 on a usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sgxemu/arch.h"
#include "sgxemu/ext.h"
#include "sgxemu/loader.h"
#include "sgxemu/sgxemu.h"

/* ADD_PAGES of one run of pages.  Return: 0, or -1 after a message. */
static int add_run(int fd, const struct sdk_page *first, size_t n, bool careful, unsigned *calls, unsigned *short_adds)
{
	struct sgx_secinfo si __attribute__((aligned(64))) = {.flags = first->flags};
	uint64_t length = n * 4096, done = 0;
	do {
		struct sgx_enclave_add_pages a = {.src = (uint64_t)(uintptr_t)first->data + done,
						  .offset = first->offset + done,
						  .length = length - done,
						  .secinfo = (uint64_t)(uintptr_t)&si,
						  .flags = first->measure ? SGX_PAGE_MEASURE : 0};
		(*calls)++;
		if (sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_ADD_PAGES, &a) < 0 && errno != EINTR) {
			fprintf(stderr, "partial-add: ADD_PAGES at offset %#llx: %s\n", (unsigned long long)a.offset,
				strerror(errno));
			return -1;
		}
		if (a.count < length - done)
			(*short_adds)++;
		/* The bug: a naive loader stops here, whatever count says. */
		if (!careful)
			return 0;
		done += a.count;
	} while (done < length);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (strcmp(argv[2], "naive") && strcmp(argv[2], "careful"))) {
		fprintf(stderr, "usage: partial-add ENCLAVE.elf naive|careful [SGXEMU_CHAOS value]\n");
		return 2;
	}
	bool careful = !strcmp(argv[2], "careful");
	if (argc == 4)
		setenv(SGXEMU_ENV_CHAOS, argv[3], 1);
	char err[512];
	if (sgxemu_start(NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "partial-add: %s\n", err);
		return 2;
	}

	/* The image, and a signature over its pages with a fresh key. */
	struct sdk_config cfg;
	sdk_config_default(&cfg);
	struct sdk_image *img;
	if (sdk_image_load(argv[1], &cfg, &img, err, sizeof(err)) < 0) {
		fprintf(stderr, "partial-add: %s\n", err);
		return 2;
	}
	struct crypto_rsa *key = sdk_key_generate(err, sizeof(err));
	static struct sgx_sigstruct sig;
	if (!key || sdk_image_sign(img, key, &sig, err, sizeof(err)) < 0) {
		fprintf(stderr, "partial-add: signing: %s\n", err);
		return 2;
	}

	/* ECREATE at a base aligned to the size. */
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	uint8_t *area = mmap(NULL, 2 * img->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (fd < 0 || area == MAP_FAILED) {
		perror("partial-add: /dev/sgx_enclave or address space");
		return 2;
	}
	static struct sgx_secs secs __attribute__((aligned(4096)));
	secs.base = ((uintptr_t)area + img->size - 1) & ~(img->size - 1);
	secs.size = img->size;
	secs.ssa_frame_size = img->ssa_frame_size;
	secs.miscselect = img->misc_select;
	secs.attributes = img->attributes;
	secs.xfrm = img->xfrm;
	struct sgx_enclave_create c = {.src = (uint64_t)(uintptr_t)&secs};
	if (sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_CREATE, &c) < 0) {
		perror("partial-add: CREATE");
		return 2;
	}

	/* ADD_PAGES per run of consecutive pages with equal flags, in the measured order. */
	unsigned calls = 0, short_adds = 0;
	for (size_t i = 0; i < img->n_pages;) {
		size_t j = i + 1;
		while (j < img->n_pages && img->pages[j].offset == img->pages[j - 1].offset + 4096 &&
		       img->pages[j].flags == img->pages[i].flags && img->pages[j].measure == img->pages[i].measure)
			j++;
		if (add_run(fd, &img->pages[i], j - i, careful, &calls, &short_adds) < 0)
			return 2;
		i = j;
	}
	printf("%s loader: %zu pages in %u ADD_PAGES calls, %u of them added fewer pages than asked\n",
	       careful ? "careful" : "naive", img->n_pages, calls, short_adds);

	struct sgx_enclave_init in = {.sigstruct = (uint64_t)(uintptr_t)&sig};
	long r = sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_INIT, &in);
	if (r == 0)
		printf("EINIT: ok\n");
	else if (errno == EPERM) /* Linux's answer to every SGX error code of EINIT */
		printf("EINIT: %s (EINIT found a measurement other than the signed one: pages are missing)\n",
		       strerror(errno));
	else
		printf("EINIT: %s\n", strerror(errno));
	sdk_key_free(key);
	sdk_image_free(img);
	return r == 0 ? 0 : 1;
}
