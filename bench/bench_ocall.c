/* SPDX-License-Identifier: MIT */
/*
 * The cost of an OCALL round trip with enclave code running natively: the
 * loader's test enclave (tests/loader/enclave, built with the runtime)
 * loaded by the SDK loader over the embedding API, per call:
 *
 *  (1) an ECALL that returns at once (EC_ADD): EENTER, the runtime's
 *      dispatch, EEXIT, and the loader's bookkeeping around them;
 *  (2) an ECALL that makes one OCALL (EC_OCALL: OC_TRIPLE, whose host
 *      function triples a number): (1) plus EEXIT to the host, the host
 *      function, and EENTER back to continue the enclave;
 *  (3) the OCALL round trip alone: (2) - (1);
 *  (4) the floor: a bare ENCLU[EEXIT] round trip executed by host code
 *      under a handler that only moves RIP past it, with the trap this host
 *      raises (src/exec/hostprobe.c), as in bench_enter.
 *
 * Each is repeated 5 times; within a repetition the three run in turns of a
 * tenth of the iterations (CHUNKS), so that a slow spell of a shared host
 * weighs on a figure and its floor alike.  Medians of wall-clock and
 * process CPU time per call.  The last line is the target's `result` line
 * (docs/bench.md): `ocall`, (3) against (4).  (bench_enter gives the
 * `ecall` target, on the vDSO-shaped entry without the loader.)
 *
 * Usage: bench_ocall [iterations]   (default 10000)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "crypto.h"
#include "enclave/abi.h"
#include "hostprobe.h"
#include "loader.h"
#include "sgxemu/sgxemu.h"

#define PROG   "bench_ocall"
#define CHUNKS 10

static struct sdk_enclave *encl;

static int64_t oc_triple(struct sdk_enclave *e, void *ctx, void *data, uint64_t len)
{
	(void)e;
	(void)ctx;
	struct oc_triple *t = data;
	if (len != sizeof(*t))
		return -EINVAL;
	t->out = t->in * 3;
	return 77;
}

static int64_t oc_unused(struct sdk_enclave *e, void *ctx, void *data, uint64_t len)
{
	(void)e;
	(void)ctx;
	(void)data;
	(void)len;
	return -ENOSYS;
}

static const sdk_ocall_fn ocalls[OC_COUNT] = {oc_triple, oc_unused, oc_unused};

__attribute__((noreturn)) static void die(const char *what, const char *why)
{
	fprintf(stderr, PROG ": %s: %s\n", what, why);
	exit(1);
}

static void load(void)
{
	char err[256] = "", pem[8192];
	FILE *f = fopen(TEST_KEY_PATH, "r");
	if (!f)
		die(TEST_KEY_PATH, strerror(errno));
	size_t n = fread(pem, 1, sizeof(pem), f);
	fclose(f);
	struct crypto_rsa *key = crypto_rsa_from_pem(pem, n, err, sizeof(err));
	if (!key)
		die(TEST_KEY_PATH, err);
	if (sgxemu_start(NULL, err, sizeof(err)) != 0)
		die("sgxemu_start", err);
	struct sdk_config cfg;
	sdk_config_default(&cfg);
	cfg.n_tcs = 1;
	cfg.heap_size = 256 * 1024;
	cfg.stack_size = 64 * 1024;
	struct sdk_image *img;
	struct sgx_sigstruct sig;
	if (sdk_image_load(TEST_ENCLAVE_PATH, &cfg, &img, err, sizeof(err)) != 0)
		die(TEST_ENCLAVE_PATH, err);
	if (sdk_image_sign(img, key, &sig, err, sizeof(err)) != 0)
		die("signing", err);
	static const struct sdk_load_options opt = {.ocalls = ocalls, .n_ocalls = OC_COUNT};
	if (sdk_enclave_load(&sdk_backend_emu, img, &sig, &opt, &encl, err, sizeof(err)) != 0)
		die("loading", err);
	sdk_image_free(img);
	crypto_rsa_free(key);
}

/* n ECALLs of index with a fresh copy of arg each; every result is checked. */
static struct bench_span run(uint32_t index, uint64_t n)
{
	struct bench_span t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		int64_t ret = 0;
		struct sdk_ecall_info info;
		int rc;
		if (index == EC_ADD) {
			struct ec_add a = {(int64_t)i, 2};
			rc = sdk_enclave_ecall(encl, 0, EC_ADD, &a, sizeof(a), &ret, &info);
			if (rc == 0 && ret != (int64_t)i + 2)
				die("EC_ADD", "wrong sum");
		} else {
			struct ec_ocall o = {.in = i};
			rc = sdk_enclave_ecall(encl, 0, EC_OCALL, &o, sizeof(o), &ret, &info);
			if (rc == 0 && (o.out != 3 * i || o.ret != 77))
				die("EC_OCALL", "the OCALL's result did not come back");
		}
		if (rc != 0)
			die("ECALL", info.message);
	}
	return bench_since(t0);
}

static void add(struct bench_span *sum, struct bench_span s)
{
	sum->wall += s.wall;
	sum->cpu += s.cpu;
}

static void show(const char *what, struct bench_fig f)
{
	printf("  %-58s %7.3f us (%.3f-%.3f), CPU %7.3f us\n", what, f.wall, f.wall_lo, f.wall_hi, f.cpu);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 10000;
	if (n < 1 || n > 10000000) {
		fprintf(stderr, "usage: " PROG " [iterations 1..10000000]\n");
		return 2;
	}
	load();
	run(EC_ADD, 10);
	run(EC_OCALL, 10); /* the thread's exec state and the pages are in before timing */
	struct exec_trap_spec eexit = {.insn = EXEC_TRAP_ENCLU, .leaf = ENCLU_EEXIT, .page = EXEC_TRAP_PAGE_RW};
	struct exec_trap_probe p;
	char kind[96];
	if (exec_trap_probe(&eexit, &p) != 0 || !p.exec_takes)
		die("probing ENCLU[EEXIT]", "the host's trap is not one exec takes as the leaf");
	exec_trap_describe(&p, false, kind, sizeof(kind));

	struct bench_span e[BENCH_REPS] = {0}, o[BENCH_REPS] = {0}, d[BENCH_REPS], fl[BENCH_REPS] = {0};
	for (int r = 0; r < BENCH_REPS; r++) {
		for (uint64_t k = 0; k < CHUNKS; k++) {
			uint64_t m = n / CHUNKS + (k < n % CHUNKS);
			if (!m)
				continue;
			add(&e[r], run(EC_ADD, m));
			add(&o[r], run(EC_OCALL, m));
			struct exec_trap_cost c;
			int rc = exec_trap_time(&eexit, m, &c);
			if (rc != 0)
				die("timing a bare trap", strerror(-rc));
			add(&fl[r], (struct bench_span){c.wall_ns / 1e9, c.cpu_ns / 1e9});
		}
		d[r] = bench_minus(o[r], e[r]);
	}
	struct bench_fig me = bench_median(e, n), mo = bench_median(o, n), md = bench_median(d, n),
			 mf = bench_median(fl, n);
	printf("ECALL and OCALL round trips through the loader, %llu iterations, median of %d repetitions: wall "
	       "(min-max), process CPU, per call\n",
	       (unsigned long long)n, BENCH_REPS);
	show("(1) ECALL returning at once (EC_ADD)", me);
	show("(2) ECALL making one OCALL (EC_OCALL)", mo);
	show("(3) the OCALL round trip: (2) - (1)", md);
	char what[160];
	snprintf(what, sizeof(what), "(4) floor: bare ENCLU[EEXIT], %s", kind);
	show(what, mf);
	printf("  ratios, wall: (1)/(4) %.2fx  (3)/(4) %.2fx; CPU: (1)/(4) %.2fx  (3)/(4) %.2fx\n", me.wall / mf.wall,
	       md.wall / mf.wall, me.cpu / mf.cpu, md.cpu / mf.cpu);
	bench_result("ocall", md.wall, mf.wall);
	sdk_enclave_destroy(encl);
	return 0;
}
