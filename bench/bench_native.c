/* SPDX-License-Identifier: MIT */
/*
 * Adding dynamic pages with enclave code running natively, per page: the
 * test enclave (tests/exec/enclave) loaded through the embedding API by the
 * loader of the native tests (tests/native/devos.c), its ENCLU instructions
 * executed by the host CPU (it traps: #UD where the CPU has no SGX or firmware
 * left it off, #GP(0) where firmware enabled it; exec runs the leaf in the
 * model):
 *
 *  (1) EAUG on fault + EACCEPT: one ECALL (OP_EACCEPT_N) EACCEPTs N pages of
 *      the dynamic area, none of them added yet.  Per page: ENCLU traps, the
 *      EACCEPT takes an ordinary #PF on its target, AEX, the driver model
 *      EAUGs the page, ERESUME (in the same handler: the AEP is the vDSO
 *      entry's), and the ENCLU, the enclave's next instruction, runs again
 *      in that handler and succeeds: one signal per page (docs/exec.md,
 *      "One trap per fault"; SGXEMU_EXEC_NO_SHORT_PATH=1 shows the cost of
 *      returning to the enclave and trapping again);
 *  (2) SGX_IOC_ENCLAVE_AUGMENT_PAGES over the range, then one ECALL that
 *      EACCEPTs every page: one signal per page, the ioctl's and the
 *      EACCEPTs' shares printed separately.  The ioctl hands the range's
 *      frames to the machine's populator, which gives them memory on the
 *      other CPU during the EACCEPTs (docs/kernel.md "Frames in batches"):
 *      its CPU time shows in the process CPU column, not in the wall
 *      column; (10) adds the pages' first use;
 *  (3) baseline in the same run: the bare host SIGSEGV + mmap round trip
 *      of bench_augment (bench/common.c);
 *  (4) for scale: EMODPE with no new permission on an accepted page, N
 *      times in one ECALL (OP_EMODPE_N): one native ENCLU, one signal, per
 *      call, with a leaf that changes nothing;
 *  (5) the floor of every native ENCLU: a bare ENCLU[EACCEPT] round trip
 *      executed by host code under a handler that only moves RIP past it
 *      (src/exec/hostprobe.c), with the trap this host raises for it;
 *  (6) and (7): bare ud2 (#UD, SIGILL) and int3 (#BP, SIGTRAP) round
 *      trips, the same way;
 *  (8) (1) by two threads at once, each on its own TCS and half of the
 *      pages (disjoint): per page of the whole, wall and CPU, to show what
 *      the machine lock and the driver's locks serialise (wall 0.5x (1)
 *      would be none, on two free cores).
 *  (9) and (10): (1) and (2), then the first use of every page (the
 *      enclave reads it whole and writes it), all timed together: what
 *      committing memory and using it costs, the whole of what the
 *      baseline (3) does for a page (its zero-fill fault is its use).
 *  (11) releasing the enclave of (2) (munmap and close: EREMOVE of every
 *      page, the memory given back), per page of (2).
 *  (12) after (10), trimming its pages: MODIFY_TYPES to TRIM and an ECALL
 *      EACCEPTing each (not timed), then REMOVE_PAGES over the range (its
 *      EREMOVEs, the memory given back), per page.
 *
 * Each is repeated 5 times, all interleaved, (1) and (2) each on a freshly
 * loaded enclave ((4) in the enclave of (2), after it); loading and the
 * first entry into each enclave are not timed.  The medians of wall-clock
 * and process CPU time per page (per call or round trip for (4) to (7))
 * are printed with the ratios, those against the ENCLU floor first.
 *
 * Usage: bench_native [pages]   (default 2048, at most the 3840 of the dynamic area)
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "devos.h"
#include "elfimg.h"
#include "hostprobe.h"

#define PROG "bench_native"

#define SI_PENDING_RW (SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_PENDING | SGX_SECINFO_R | SGX_SECINFO_W)
#define SI_REG_RW     (SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W)
#define SI_REG_R      (SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R)
#define SI_TRIM	      (SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED)

#define DYN_PAGES ((DEVOS_DYN_END - DEVOS_DYN) / SGX_PAGE_SIZE)

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* One ECALL on TCS tcs with out as its output; dies with a message unless it returned 0 and ended with EEXIT. */
static void ecall_on(unsigned tcs, uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t out[ENCL_OUT_WORDS])
{
	struct sgx_enclave_run run;
	memset(out, 0, ENCL_OUT_WORDS * sizeof(*out));
	int r = devos_call(devos_tcs(tcs), op, a, b, c, out, &run);
	if (r != 0 || run.function != ENCLU_EEXIT) {
		die("operation %llu: return %d, function %u, vector %u, error code %#x, address %#llx; expected EEXIT",
		    (unsigned long long)op, r, run.function, run.exception_vector, run.exception_error_code,
		    (unsigned long long)run.exception_addr);
	}
}

static void ecall(uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t out[ENCL_OUT_WORDS])
{
	ecall_on(0, op, a, b, c, out);
}

/* Load the test enclave and enter it once (not timed: the first entry maps the enclave's own pages in). */
static void load(struct devos *d)
{
	devos_load(d);
	uint64_t out[ENCL_OUT_WORDS];
	ecall(OP_ECHO, 1, 2, 3, out);
	if (out[0] != 3 || out[2] != 3)
		die("OP_ECHO gave %llu and %llu, expected 3 and 3", (unsigned long long)out[0],
		    (unsigned long long)out[2]);
}

/* Release it; every page comes back. */
static void unload(struct devos *d)
{
	devos_unload(d);
	struct sgxemu_stats s = devos_stats();
	if (s.pages_resident || s.pages_evicted)
		die("%llu pages resident, %llu evicted after the release", (unsigned long long)s.pages_resident,
		    (unsigned long long)s.pages_evicted);
}

static uint64_t resident(void)
{
	return devos_stats().pages_resident;
}

/* out of OP_EACCEPT_N: every page accepted, and `added` pages were added meanwhile (by faults). */
static void check_accepted(const uint64_t *out, uint64_t pages, uint64_t added, uint64_t expected)
{
	if (out[0] != pages || out[1] != 0)
		die("EACCEPT accepted %llu pages, then returned %#llx", (unsigned long long)out[0],
		    (unsigned long long)out[1]);
	if (added != expected)
		die("%llu pages added while the enclave accepted them, expected %llu", (unsigned long long)added,
		    (unsigned long long)expected);
}

/* (1): one ECALL EACCEPTing every page, each EAUG'd on the fault its EACCEPT takes. */
static struct bench_span run_fault(uint64_t pages)
{
	struct devos d;
	uint64_t out[ENCL_OUT_WORDS];
	load(&d);
	uint64_t before = resident();
	struct bench_span t0 = bench_now();
	ecall(OP_EACCEPT_N, devos_dyn(0), pages, SI_PENDING_RW, out);
	struct bench_span t = bench_since(t0);
	check_accepted(out, pages, resident() - before, pages);
	unload(&d);
	return t;
}

/* (8): a thread of its own on TCS 1 + idx, EACCEPTing its half of the pages, each EAUG'd on its fault. */
struct half {
	unsigned idx;
	uint64_t first, pages;
	pthread_barrier_t *go;
	uint64_t out[ENCL_OUT_WORDS];
};

static void *half_main(void *arg)
{
	struct half *h = arg;
	uint64_t out[ENCL_OUT_WORDS];
	ecall_on(1 + h->idx, OP_ECHO, 1, 2, 3, out); /* this thread's first entry: not timed */
	pthread_barrier_wait(h->go);
	ecall_on(1 + h->idx, OP_EACCEPT_N, devos_dyn(h->first), h->pages, SI_PENDING_RW, h->out);
	return NULL;
}

static struct bench_span run_fault_two(uint64_t pages)
{
	struct devos d;
	load(&d);
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, 3);
	struct half h[2] = {{.idx = 0, .first = 0, .pages = pages / 2, .go = &go},
			    {.idx = 1, .first = pages / 2, .pages = pages - pages / 2, .go = &go}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, half_main, &h[i]) != 0)
			die("pthread_create failed");
	uint64_t before = resident();
	pthread_barrier_wait(&go);
	struct bench_span t0 = bench_now();
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	struct bench_span t = bench_since(t0);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < 2; i++)
		check_accepted(h[i].out, h[i].pages, h[i].pages, h[i].pages);
	if (resident() - before != pages)
		die("%llu pages added by the two threads, expected %llu", (unsigned long long)(resident() - before),
		    (unsigned long long)pages);
	unload(&d);
	return t;
}

/* AUGMENT_PAGES of `pages` pages, RW, from the first dynamic page. */
static struct sgx_enclave_augment_pages augment_args(uint64_t pages)
{
	static struct sgx_secinfo si __attribute__((aligned(64)));
	memset(&si, 0, sizeof(si));
	si.flags = SI_REG_RW;
	return (struct sgx_enclave_augment_pages){
	    .offset = DEVOS_DYN, .length = pages * SGX_PAGE_SIZE, .secinfo = (uint64_t)(uintptr_t)&si};
}

/*
 * (2) and (4): AUGMENT_PAGES over the range (*ioctl_t), one ECALL EACCEPTing
 * every page (*accept_t); then `pages` EMODPEs without a new permission on
 * the first page in one ECALL (*leaf_t), after which the page is still
 * writable and readable.
 */
static void run_augment(uint64_t pages, struct bench_span *ioctl_t, struct bench_span *accept_t,
			struct bench_span *leaf_t, struct bench_span *release_t)
{
	struct devos d;
	uint64_t out[ENCL_OUT_WORDS];
	load(&d);
	struct sgx_enclave_augment_pages a = augment_args(pages);
	uint64_t before = resident();
	struct bench_span t0 = bench_now();
	int r = sgxemu_ioctl(d.fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a);
	*ioctl_t = bench_since(t0);
	if (r != 0 || a.count != pages * SGX_PAGE_SIZE)
		die("SGX_IOC_ENCLAVE_AUGMENT_PAGES returned %d (%s), count %llu", r, r ? strerror(errno) : "no error",
		    (unsigned long long)a.count);
	uint64_t augmented = resident();
	t0 = bench_now();
	ecall(OP_EACCEPT_N, devos_dyn(0), pages, SI_PENDING_RW, out);
	*accept_t = bench_since(t0);
	check_accepted(out, pages, resident() - augmented, 0);
	if (augmented - before != pages)
		die("AUGMENT_PAGES added %llu pages, expected %llu", (unsigned long long)(augmented - before),
		    (unsigned long long)pages);

	t0 = bench_now();
	ecall(OP_EMODPE_N, devos_dyn(0), SI_REG_R, pages, out);
	*leaf_t = bench_since(t0);
	if (out[0] != pages)
		die("EMODPE ran %llu times, expected %llu", (unsigned long long)out[0], (unsigned long long)pages);
	ecall(OP_WRITE, devos_dyn(0) + 8, 0x5A5A, 0, out);
	ecall(OP_READ, devos_dyn(0) + 8, 0, 0, out);
	if (out[0] != 0x5A5A)
		die("the page EMODPE left alone reads %#llx after 0x5a5a was written", (unsigned long long)out[0]);
	t0 = bench_now();
	unload(&d);
	*release_t = bench_since(t0);
}

/*
 * (9) and (10): (1) or (2), then the first use of every page (read whole,
 * then written, OP_EACCEPT_USE after all EACCEPTs), AUGMENT_PAGES and
 * ECALL timed together.
 */
/* (12): the pages of the dynamic area trimmed, then REMOVE_PAGES over them, timed. */
static struct bench_span run_trim(struct devos *d, uint64_t pages)
{
	uint64_t out[ENCL_OUT_WORDS];
	struct sgx_enclave_modify_types mt = {
	    .offset = DEVOS_DYN, .length = pages * SGX_PAGE_SIZE, .page_type = SGX_PT_TRIM};
	if (sgxemu_ioctl(d->fd, SGX_IOC_ENCLAVE_MODIFY_TYPES, &mt) != 0 || mt.count != mt.length)
		die("SGX_IOC_ENCLAVE_MODIFY_TYPES: %s, count %llu", strerror(errno), (unsigned long long)mt.count);
	ecall(OP_EACCEPT_N, devos_dyn(0), pages, SI_TRIM, out);
	if (out[0] != pages)
		die("EACCEPT of the trimmed pages: %llu accepted, then %#llx", (unsigned long long)out[0],
		    (unsigned long long)out[1]);
	uint64_t before = resident();
	struct sgx_enclave_remove_pages rp = {.offset = DEVOS_DYN, .length = pages * SGX_PAGE_SIZE};
	struct bench_span t0 = bench_now();
	int r = sgxemu_ioctl(d->fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, &rp);
	struct bench_span t = bench_since(t0);
	if (r != 0 || rp.count != rp.length || before - resident() != pages)
		die("SGX_IOC_ENCLAVE_REMOVE_PAGES: %s, count %llu, %llu pages removed",
		    r ? strerror(errno) : "no error", (unsigned long long)rp.count,
		    (unsigned long long)(before - resident()));
	return t;
}

static struct bench_span run_use(uint64_t pages, bool augment, struct bench_span *trim_t)
{
	struct devos d;
	uint64_t out[ENCL_OUT_WORDS];
	load(&d);
	struct sgx_enclave_augment_pages a = augment_args(pages);
	struct bench_span t0 = bench_now();
	if (augment && (sgxemu_ioctl(d.fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a) != 0 || a.count != a.length))
		die("SGX_IOC_ENCLAVE_AUGMENT_PAGES: %s, count %llu", strerror(errno), (unsigned long long)a.count);
	ecall(OP_EACCEPT_USE, devos_dyn(0) | 1, pages, SI_PENDING_RW, out);
	struct bench_span t = bench_since(t0);
	if (out[0] != pages || out[2] != pages * (pages + 1) / 2 || out[3])
		die("EACCEPT and use: %llu pages accepted (code %#llx), sum %llu, %llu pages not zero",
		    (unsigned long long)out[0], (unsigned long long)out[1], (unsigned long long)out[2],
		    (unsigned long long)out[3]);
	if (trim_t)
		*trim_t = run_trim(&d, pages);
	unload(&d);
	return t;
}

/* (5) to (7): n bare round trips of the trap of spec (exec's handlers are put back on return). */
static struct bench_span run_trap(const struct exec_trap_spec *spec, uint64_t n)
{
	struct exec_trap_cost c;
	int rc = exec_trap_time(spec, n, &c);
	if (rc != 0)
		die("timing a bare trap: %s", strerror(-rc));
	return (struct bench_span){c.wall_ns / 1e9, c.cpu_ns / 1e9};
}

static void show(const char *what, struct bench_fig f)
{
	printf("  %-64s %6.2f us (%.2f-%.2f), CPU %6.2f us\n", what, f.wall, f.wall_lo, f.wall_hi, f.cpu);
}

int main(int argc, char **argv)
{
	uint64_t pages = argc > 1 ? strtoull(argv[1], NULL, 0) : 2048;
	if (pages < 1 || pages > DYN_PAGES) {
		fprintf(stderr, "usage: " PROG " [pages 1..%llu]\n", (unsigned long long)DYN_PAGES);
		return 2;
	}
	/* The loader asserts with Criterion, which cannot report outside a test: check the image here first. */
	struct elfimg img;
	char err[256] = "";
	if (elfimg_load(TEST_ENCLAVE_PATH, &img, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": test enclave: %s\n", err);
		return 1;
	}
	elfimg_free(&img);
	/* Explicit settings: an EPC with room to spare (no reclaim) and Linux's dynamic-page behaviour. */
	struct sgxemu_options o = {.epc_size = 64ULL << 20, .policy = "rwx"};
	if (sgxemu_start(&o, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": sgxemu_start: %s\n", err);
		return 1;
	}

	/* The trap the enclave's EACCEPTs and EMODPEs raise here, executed by host code. */
	struct exec_trap_spec eaccept = {.insn = EXEC_TRAP_ENCLU, .leaf = ENCLU_EACCEPT, .page = EXEC_TRAP_PAGE_RW},
			      ud2 = {.insn = EXEC_TRAP_UD2}, int3 = {.insn = EXEC_TRAP_INT3};
	struct exec_trap_probe probe;
	char kind[96];
	int rc = exec_trap_probe(&eaccept, &probe);
	if (rc != 0)
		die("probing ENCLU: %s", strerror(-rc));
	exec_trap_describe(&probe, false, kind, sizeof(kind));
	if (!probe.exec_takes)
		die("ENCLU raises %s here, which exec does not take as the leaf", kind);

	struct bench_span f2[BENCH_REPS], f[BENCH_REPS], a[BENCH_REPS], ai[BENCH_REPS], ae[BENCH_REPS], l[BENCH_REPS],
	    b[BENCH_REPS], t[BENCH_REPS], u[BENCH_REPS], i3[BENCH_REPS], fu[BENCH_REPS], au[BENCH_REPS], rl[BENCH_REPS],
	    tr[BENCH_REPS];
	for (int r = 0; r < BENCH_REPS; r++) {
		f[r] = run_fault(pages);
		f2[r] = run_fault_two(pages);
		run_augment(pages, &ai[r], &ae[r], &l[r], &rl[r]);
		a[r] = (struct bench_span){ai[r].wall + ae[r].wall, ai[r].cpu + ae[r].cpu};
		b[r] = bench_segv_baseline(PROG, pages);
		t[r] = run_trap(&eaccept, pages);
		u[r] = run_trap(&ud2, pages);
		i3[r] = run_trap(&int3, pages);
		fu[r] = run_use(pages, false, NULL);
		au[r] = run_use(pages, true, &tr[r]);
	}

	struct bench_fig mf = bench_median(f, pages), ma = bench_median(a, pages), mi = bench_median(ai, pages),
			 me = bench_median(ae, pages), ml = bench_median(l, pages), mb = bench_median(b, pages),
			 mt = bench_median(t, pages), mu = bench_median(u, pages), m3 = bench_median(i3, pages),
			 m2 = bench_median(f2, pages), mfu = bench_median(fu, pages), mau = bench_median(au, pages),
			 mrl = bench_median(rl, pages), mtr = bench_median(tr, pages);
	printf("dynamic pages, native enclave code, %llu pages, median of %d repetitions: wall (min-max), process CPU,"
	       " per page\n",
	       (unsigned long long)pages, BENCH_REPS);
	show("(1) EAUG on fault: ENCLU, #PF, AEX, EAUG, ERESUME, the leaf again", mf);
	show("(2) AUGMENT_PAGES over the range, then one ECALL EACCEPTing each", ma);
	show("    of which the ioctl", mi);
	show("    of which the EACCEPTs (one ENCLU each)", me);
	show("(3) baseline: host SIGSEGV, mmap in the handler, zero-fill fault", mb);
	show("(4) for scale, per call: ENCLU[EMODPE] with no new permission", ml);
	show("(5) floor: bare ENCLU[EACCEPT] round trip (handler)", mt);
	show("(6) bare SIGILL round trip (ud2, #UD)", mu);
	show("(7) bare SIGTRAP round trip (int3, #BP)", m3);
	show("(8) (1) by two threads on disjoint halves, each its own TCS", m2);
	show("(9) (1), then the first use of each page (read, write)", mfu);
	show("(10) (2), then the first use of each page (read, write)", mau);
	show("(11) releasing the enclave of (2): EREMOVE, memory given back", mrl);
	show("(12) REMOVE_PAGES of (10)'s pages, trimmed and accepted", mtr);
	printf("  ENCLU[EACCEPT] executed by host code raises %s here\n", kind);
	printf(
	    "  ratios to the floor, wall: (1)/(5) %.2fx (floor 1)  (2)/(5) %.2fx  EACCEPTs of (2)/(5) %.2fx  (4)/(5) "
	    "%.2fx (floor 1)\n",
	    mf.wall / mt.wall, ma.wall / mt.wall, me.wall / mt.wall, ml.wall / mt.wall);
	printf(
	    "  ratios to the floor, CPU:  (1)/(5) %.2fx (floor 1)  (2)/(5) %.2fx  EACCEPTs of (2)/(5) %.2fx  (4)/(5) "
	    "%.2fx (floor 1)\n",
	    mf.cpu / mt.cpu, ma.cpu / mt.cpu, me.cpu / mt.cpu, ml.cpu / mt.cpu);
	printf(
	    "  ratios, wall: (1)/(3) %.2fx  (2)/(3) %.2fx  (1)/(2) %.2fx  (1)/(4) %.2fx  (2)/(4) %.2fx  (5)/(6) %.2fx  "
	    "(5)/(7) %.2fx\n",
	    mf.wall / mb.wall, ma.wall / mb.wall, mf.wall / ma.wall, mf.wall / ml.wall, ma.wall / ml.wall,
	    mt.wall / mu.wall, mt.wall / m3.wall);
	printf(
	    "  ratios, CPU:  (1)/(3) %.2fx  (2)/(3) %.2fx  (1)/(2) %.2fx  (1)/(4) %.2fx  (2)/(4) %.2fx  (5)/(6) %.2fx  "
	    "(5)/(7) %.2fx\n",
	    mf.cpu / mb.cpu, ma.cpu / mb.cpu, mf.cpu / ma.cpu, mf.cpu / ml.cpu, ma.cpu / ml.cpu, mt.cpu / mu.cpu,
	    mt.cpu / m3.cpu);
	printf("  CPU per page beyond the bare trap: (1) - (5) = %.2f us, EACCEPTs of (2) - (5) = %.2f us, "
	       "(4) - (5) = %.2f us\n",
	       mf.cpu - mt.cpu, me.cpu - mt.cpu, ml.cpu - mt.cpu);
	printf("  CPU per page beyond the native ENCLU: (1) - (4) = %.2f us, EACCEPTs of (2) - (4) = %.2f us\n",
	       mf.cpu - ml.cpu, me.cpu - ml.cpu);
	printf("  committed and used, against the baseline that uses each page too, wall: (9)/(3) %.2fx  (10)/(3) "
	       "%.2fx; CPU: %.2fx  %.2fx\n",
	       mfu.wall / mb.wall, mau.wall / mb.wall, mfu.cpu / mb.cpu, mau.cpu / mb.cpu);
	printf("  two threads: (8)/(1) wall %.2fx (0.50 if nothing were serialised), CPU %.2fx\n", m2.wall / mf.wall,
	       m2.cpu / mf.cpu);
	/* Targets against the host's own fault-and-map round trip (3), wall time per page in microseconds. */
	bench_result("eaug_fault", mf.wall, mb.wall);
	bench_result("augment", ma.wall, mb.wall);
	return 0;
}
