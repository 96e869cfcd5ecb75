/* SPDX-License-Identifier: MIT */
/*
 * EWB + ELDU per page (EBLOCK and ETRACK included, as the reclaimer issues
 * them), against the baseline of AES-256-GCM sealing and opening 4 KiB with
 * OpenSSL in the same run: the crypto floor of writing a page out and back.
 *
 * Usage: bench_paging [pages] [rounds]   (default 4096 pages, 8 rounds)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "crypto.h"
#include "hw.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(const char *what, struct hw_result r)
{
	if (hw_is_ok(r))
		return;
	char b[96];
	hw_result_format(r, b, sizeof(b));
	fprintf(stderr, "bench_paging: %s failed: %s\n", what, b);
	exit(1);
}

int main(int argc, char **argv)
{
	uint64_t pages = argc > 1 ? strtoull(argv[1], NULL, 0) : 4096;
	int rounds = argc > 2 ? atoi(argv[2]) : 8;
	if (pages < 1 || pages > (1u << 20) || rounds < 1) {
		fprintf(stderr, "usage: bench_paging [pages 1..1048576] [rounds >= 1]\n");
		return 2;
	}
	uint64_t size = 0x2000;
	while (size < pages * 4096)
		size <<= 1;
	struct hw_config c;
	hw_config_default(&c);
	c.epc_size = (pages + 64) * 4096;
	struct hw_machine *m;
	char err[256];
	if (hw_machine_create(&c, &m, err, sizeof(err))) {
		fprintf(stderr, "bench_paging: %s\n", err);
		return 1;
	}
	uint64_t win = hw_epc_window_alloc(m, size), secs_pa = hw_epc_window_alloc(m, 4096);
	uint64_t nva = (pages + 511) / 512, va = hw_epc_window_alloc(m, 0x1000ULL << (64 - __builtin_clzll(nva)));
	static struct sgx_secs secs __attribute__((aligned(4096)));
	static uint8_t page[4096] __attribute__((aligned(4096)));
	static struct sgx_secinfo si;
	static struct sgx_pageinfo pi;
	secs.size = size;
	secs.base = 0x100000000000ULL;
	secs.ssa_frame_size = 1;
	secs.attributes = SGX_ATTR_MODE64BIT;
	secs.xfrm = 3;
	si.flags = SGX_SECINFO_PT(SGX_PT_SECS);
	pi = (struct sgx_pageinfo){.srcpge = (uint64_t)(uintptr_t)&secs, .secinfo = (uint64_t)(uintptr_t)&si};
	check("ECREATE", encls_ecreate(m, NULL, (uint64_t)(uintptr_t)&pi, secs_pa));
	si.flags = SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W;
	for (uint64_t i = 0; i < pages; i++) {
		memset(page, (int)i, sizeof(page));
		pi = (struct sgx_pageinfo){.linaddr = secs.base + i * 4096,
					   .srcpge = (uint64_t)(uintptr_t)page,
					   .secinfo = (uint64_t)(uintptr_t)&si,
					   .secs = secs_pa};
		check("EADD", encls_eadd(m, NULL, (uint64_t)(uintptr_t)&pi, win + i * 4096));
	}
	for (uint64_t v = 0; v < nva; v++)
		check("EPA", encls_epa(m, SGX_PT_VA, va + v * 4096));
	uint8_t *blobs = aligned_alloc(4096, pages * 4096);
	struct sgx_pcmd *pcmd = aligned_alloc(128, pages * sizeof(*pcmd));
	if (!blobs || !pcmd) {
		fprintf(stderr, "bench_paging: out of memory\n");
		return 1;
	}
	double t0 = now();
	for (int r = 0; r < rounds; r++) {
		for (uint64_t i = 0; i < pages; i++)
			check("EBLOCK", encls_eblock(m, win + i * 4096));
		check("ETRACK", encls_etrack(m, secs_pa));
		for (uint64_t i = 0; i < pages; i++) {
			pi = (struct sgx_pageinfo){.srcpge = (uint64_t)(uintptr_t)(blobs + i * 4096),
						   .secinfo = (uint64_t)(uintptr_t)&pcmd[i]};
			check("EWB", encls_ewb(m, NULL, (uint64_t)(uintptr_t)&pi, win + i * 4096, va + i * 8));
		}
		for (uint64_t i = 0; i < pages; i++) {
			pi = (struct sgx_pageinfo){.linaddr = secs.base + i * 4096,
						   .srcpge = (uint64_t)(uintptr_t)(blobs + i * 4096),
						   .secinfo = (uint64_t)(uintptr_t)&pcmd[i],
						   .secs = secs_pa};
			check("ELDU", encls_eldu(m, NULL, (uint64_t)(uintptr_t)&pi, win + i * 4096, va + i * 8));
		}
	}
	double t = now() - t0;
	uint64_t n = pages * (uint64_t)rounds;
	/* Contents survived every round trip. */
	for (uint64_t i = 0; i < pages; i++) {
		const uint8_t *p = (const uint8_t *)(uintptr_t)(win + i * 4096);
		if (p[0] != (uint8_t)i || p[4095] != (uint8_t)i) {
			fprintf(stderr, "bench_paging: page %llu lost its contents\n", (unsigned long long)i);
			return 1;
		}
	}

	uint8_t key[32] = {1}, iv[12] = {2}, tag[16], out[4096];
	double g0 = now();
	for (uint64_t i = 0; i < n; i++) {
		iv[0] = (uint8_t)i;
		crypto_gcm_seal(key, iv, &i, sizeof(i), page, out, sizeof(out), tag);
		if (!crypto_gcm_open(key, iv, &i, sizeof(i), out, page, sizeof(out), tag)) {
			fprintf(stderr, "bench_paging: GCM baseline failed\n");
			return 1;
		}
	}
	double g = now() - g0;
	printf("EWB+ELDU, %llu pages x %d rounds (EBLOCK, ETRACK, EWB, ELDU per page)\n", (unsigned long long)pages,
	       rounds);
	printf("  sgxemu:   %.2f us/page round trip (%.0f pages/s)\n", t / (double)n * 1e6, (double)n / t);
	printf("  baseline: AES-256-GCM seal+open of 4 KiB: %.2f us/page\n", g / (double)n * 1e6);
	printf("  ratio: %.2fx\n", t / g);
	bench_result("paging", t / (double)n * 1e6, g / (double)n * 1e6);
	free(blobs);
	free(pcmd);
	hw_machine_destroy(m);
	return 0;
}
