/* SPDX-License-Identifier: MIT */
/*
 * Building and measuring a large enclave: ECREATE, then EADD + 16 EEXTEND for
 * every page, then the measurement.  Prints pages/s for 1/4, 1/2 and the
 * whole enclave (per-page cost must stay flat: no quadratic work), and, in
 * the same run, OpenSSL's SHA-256 throughput over the same number of bytes
 * (the measurement itself is SHA-256 over ~1.25x the page bytes, so that is
 * the floor).
 *
 * Usage: bench_build [pages]   (default 262144 = a 1 GiB enclave)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* CPU seconds spent in user and in kernel mode so far. */
static void cpu(double *user, double *sys)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int die(const char *what, struct hw_result r)
{
	char b[96];
	hw_result_format(r, b, sizeof(b));
	fprintf(stderr, "bench_build: %s failed: %s\n", what, b);
	return 1;
}

/* Build an enclave of `pages` measured pages; return seconds, or -1. */
static double build(uint64_t pages)
{
	uint64_t size = 0x2000;
	while (size < pages * 4096)
		size <<= 1;
	struct hw_config c;
	hw_config_default(&c);
	c.epc_size = (pages + 1) * 4096;
	c.space_size = 1ULL << 40;
	struct hw_machine *m;
	char err[256];
	if (hw_machine_create(&c, &m, err, sizeof(err))) {
		fprintf(stderr, "bench_build: %s\n", err);
		return -1;
	}
	uint64_t win = hw_epc_window_alloc(m, size), secs_pa = hw_epc_window_alloc(m, 4096);
	static struct sgx_secs secs __attribute__((aligned(4096)));
	static uint8_t page[4096] __attribute__((aligned(4096)));
	static struct sgx_secinfo si;
	static struct sgx_pageinfo pi;
	memset(&secs, 0, sizeof(secs));
	secs.size = size;
	secs.base = 0x100000000000ULL;
	secs.ssa_frame_size = 1;
	secs.attributes = SGX_ATTR_MODE64BIT;
	secs.xfrm = 3;
	si.flags = SGX_SECINFO_PT(SGX_PT_SECS);
	pi = (struct sgx_pageinfo){.srcpge = (uint64_t)(uintptr_t)&secs, .secinfo = (uint64_t)(uintptr_t)&si};
	double t0 = now();
	struct hw_result r = encls_ecreate(m, NULL, (uint64_t)(uintptr_t)&pi, secs_pa);
	if (!hw_is_ok(r))
		return die("ECREATE", r);
	si.flags = SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W;
	for (uint64_t i = 0; i < pages; i++) {
		memset(page, (int)i, 64);
		pi = (struct sgx_pageinfo){.linaddr = secs.base + i * 4096,
					   .srcpge = (uint64_t)(uintptr_t)page,
					   .secinfo = (uint64_t)(uintptr_t)&si,
					   .secs = secs_pa};
		if (!hw_is_ok(r = encls_eadd(m, NULL, (uint64_t)(uintptr_t)&pi, win + i * 4096)))
			return die("EADD", r);
		for (uint64_t o = 0; o < 4096; o += 256)
			if (!hw_is_ok(r = encls_eextend(m, NULL, secs_pa, win + i * 4096 + o)))
				return die("EEXTEND", r);
	}
	struct hw_secs_view v;
	hw_secs_get(m, secs_pa, &v);
	double t = now() - t0;
	hw_machine_destroy(m);
	return t;
}

static double sha_baseline(uint64_t pages)
{
	/* The same number of bytes the measurement hashes: per page 1 EADD block + 16 x (64 + 256). */
	uint64_t bytes = pages * (64 + 16 * 320);
	size_t chunk = 1 << 20;
	uint8_t *buf = calloc(1, chunk);
	struct hw_sha256 *h = crypto_sha256_new();
	double t0 = now();
	for (uint64_t done = 0; done < bytes; done += chunk)
		crypto_sha256_update(h, buf, bytes - done < chunk ? bytes - done : chunk);
	uint8_t out[32];
	crypto_sha256_final(h, out);
	double t = now() - t0;
	crypto_sha256_free(h);
	free(buf);
	return t;
}

int main(int argc, char **argv)
{
	uint64_t pages = argc > 1 ? strtoull(argv[1], NULL, 0) : 262144;
	if (pages < 4) {
		fprintf(stderr, "bench_build: pages must be >= 4\n");
		return 2;
	}
	printf("enclave build + measurement, %llu pages (%llu MiB)\n", (unsigned long long)pages,
	       (unsigned long long)(pages >> 8));
	double per_page[3], user_pp[3];
	uint64_t sizes[3] = {pages / 4, pages / 2, pages};
	for (int i = 0; i < 3; i++) {
		double u0, s0, u1, s1;
		cpu(&u0, &s0);
		double t = build(sizes[i]);
		cpu(&u1, &s1);
		if (t < 0)
			return 1;
		per_page[i] = t / (double)sizes[i];
		user_pp[i] = (u1 - u0) / (double)sizes[i];
		printf("  %8llu pages: %7.3f s  %9.0f pages/s  %5.2f us/page (CPU/page: user %.2f us, host kernel %.2f "
		       "us)\n",
		       (unsigned long long)sizes[i], t, sizes[i] / t, per_page[i] * 1e6, user_pp[i] * 1e6,
		       (s1 - s0) / (double)sizes[i] * 1e6);
	}
	double s = sha_baseline(pages);
	double hashed = (double)pages * (64 + 16 * 320);
	printf("  baseline: OpenSSL SHA-256 over the same %.0f MiB: %.3f s (%.0f MiB/s, %.0f pages/s)\n",
	       hashed / 1048576, s, hashed / 1048576 / s, pages / s);
	printf("  ratio build/SHA-256 baseline: %.2fx\n", per_page[2] * (double)pages / s);
	printf("  per-page cost full/quarter: wall %.2f, user CPU %.2f (1.00 = linear)\n", per_page[2] / per_page[0],
	       user_pp[2] / user_pp[0]);
	/* The targets name the default size: 1 GiB, against SHA-256 and against its quarter (256 MiB). */
	if (pages == 262144) {
		bench_result("build_1g", per_page[2] * (double)pages, s);
		bench_result("build_linearity", per_page[2] * 1e6, per_page[0] * 1e6);
	}
	return 0;
}
