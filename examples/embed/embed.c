/* SPDX-License-Identifier: MIT */
/*
 * The example of docs/embedding.md: sgxemu inside a program, with the
 * program's own settings.  It creates an enclave with the ioctls of
 * <asm/sgx.h> through sgxemu_ioctl and maps it through sgxemu_mmap; every
 * answer is the one Linux gives on a machine with SGX2.
 *
 *   cc $(pkg-config --cflags sgxemu) -o embed embed.c $(pkg-config --libs sgxemu)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "sgxemu/arch.h"
#include "sgxemu/sgxemu.h"

#define SIZE 0x2000 /* ELRANGE: two pages, the smallest enclave */

static struct sgx_secs secs __attribute__((aligned(4096)));
static uint8_t code[4096] __attribute__((aligned(4096)));
static struct sgx_sigstruct blank;

static void report(const char *what, int rc)
{
	printf("%-30s %s\n", what, rc < 0 ? strerror(errno) : "ok");
}

static void pages_in_use(const char *when)
{
	struct sgxemu_stats st;
	sgxemu_get_stats(&st);
	printf("%-30s %llu of %llu\n", when, (unsigned long long)st.pages_resident,
	       (unsigned long long)(st.epc_size / 4096));
}

int main(void)
{
	/* The settings: a 1 MiB EPC, and dynamic pages never executable. */
	struct sgxemu_options opt = {.epc_size = 1 << 20, .policy = "rw"};
	char err[256];
	if (sgxemu_start(&opt, err, sizeof(err)) < 0) {
		fprintf(stderr, "embed: %s\n", err);
		return 1;
	}
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	if (fd < 0) {
		perror("embed: /dev/sgx_enclave");
		return 1;
	}

	/* Address space for ELRANGE, aligned to its size. */
	uint8_t *area = mmap(NULL, 2 * SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED) {
		perror("embed: mmap");
		return 1;
	}
	uint64_t base = ((uintptr_t)area + SIZE - 1) & ~(uint64_t)(SIZE - 1);

	/* ECREATE. */
	secs.size = SIZE;
	secs.base = base;
	secs.ssa_frame_size = 1;
	secs.attributes = SGX_ATTR_MODE64BIT;
	secs.xfrm = 3; /* x87, SSE */
	struct sgx_enclave_create create = {.src = (uintptr_t)&secs};
	report("SGX_IOC_ENCLAVE_CREATE", sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_CREATE, &create));

	/* EADD and EEXTEND one page of code (int3s), read-execute. */
	memset(code, 0xcc, sizeof(code));
	struct sgx_secinfo secinfo = {.flags = SGX_SECINFO_R | SGX_SECINFO_X | SGX_SECINFO_PT(SGX_PT_REG)};
	struct sgx_enclave_add_pages add = {
	    .src = (uintptr_t)code,
	    .offset = 0,
	    .length = sizeof(code),
	    .secinfo = (uintptr_t)&secinfo,
	    .flags = SGX_PAGE_MEASURE,
	};
	report("SGX_IOC_ENCLAVE_ADD_PAGES", sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_ADD_PAGES, &add));

	/* The driver maps a page with at most the permissions SECINFO gave it. */
	void *want = (void *)(uintptr_t)base;
	void *p = sgxemu_mmap(want, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED | MAP_FIXED, fd, 0);
	report("mmap rwx", p == MAP_FAILED ? -1 : 0);
	p = sgxemu_mmap(want, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, fd, 0);
	report("mmap r-x", p == MAP_FAILED ? -1 : 0);

	/* EINIT checks the SIGSTRUCT's signature and MRENCLAVE: a blank one is refused. */
	struct sgx_enclave_init init = {.sigstruct = (uintptr_t)&blank};
	report("SGX_IOC_ENCLAVE_INIT (blank)", sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_INIT, &init));
	pages_in_use("enclave pages in the EPC");

	/* The enclave lives while it is mapped or open. */
	sgxemu_munmap(want, 4096);
	sgxemu_close(fd);
	munmap(area, 2 * SIZE);
	pages_in_use("after munmap and close");
	return 0;
}
