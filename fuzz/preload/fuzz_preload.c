/* SPDX-License-Identifier: MIT */
/*
 * fuzz_preload: the sequence engine (fuzz/sequence) as an ordinary program
 * that calls open/ioctl/mmap/mprotect/munmap/close of the C library on
 * /dev/sgx_enclave, run under `sgxemu run` so that libsgxemu-preload.so
 * interposes every call, as it does for an unmodified SGX program.
 *
 * Not libFuzzer: the preload library is never instrumented and the program
 * must not be either (ASan's runtime and the library both interpose mmap
 * and signals).  It replays every input given, then, for -t SECONDS,
 * mutates them (byte and record mutations) and runs the results.  A
 * violated invariant aborts after writing the input to
 * crash-fuzz_preload-PID in the current directory (or -o DIR); the input
 * being run is also in fuzz_preload-PID.current there until the end, for
 * crashes that give no chance to write it.
 *
 *   sgxemu run [--epc-size=SIZE] -- fuzz_preload [-t SECONDS] [-s SEED] [-o DIR] PATH...
 */
#include "sgxemu/cpuid.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../sequence/engine.h"

#define INPUT_MAX (FZ_HDR + FZ_MAX_OPS * FZ_REC)

static int ioctl_libc(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg);
}

static void *mmap_libc(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

static int open_libc(const char *path, int flags)
{
	return open(path, flags);
}

static void cpuid12(unsigned sub, uint32_t r[4])
{
	unsigned v[4];
	if (!sgxemu_host_cpuid(0x12, sub, v)) {
		fprintf(stderr, "fuzz_preload: not running under `sgxemu run` (no sgxemu_cpuid)\n");
		exit(2);
	}
	memcpy(r, v, sizeof(v));
}

static void xstate(unsigned i, uint32_t *off, uint32_t *size)
{
	unsigned v[4];
	sgxemu_host_cpuid(0xD, i, v);
	*size = v[0];
	*off = v[1];
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	switch (*end) {
	case 'K':
	case 'k':
		return v << 10;
	case 'M':
	case 'm':
		return v << 20;
	case 'G':
	case 'g':
		return v << 30;
	default:
		return v;
	}
}

static struct fz_backend backend = {
    .name = "fuzz_preload",
    .open = open_libc,
    .close = close,
    .ioctl = ioctl_libc,
    .mmap = mmap_libc,
    .mprotect = mprotect,
    .munmap = munmap,
    .stats = NULL, /* the library exports no counters: EPC accounting is fuzz_sequence's */
    .cpuid12 = cpuid12,
    .xstate = xstate,
    .key_pem_path = FUZZ_SRCDIR "/tests/scripts/signing-key.pem",
};

/* ---- the input being run, written out when an invariant aborts ---- */

static uint8_t current[INPUT_MAX];
static size_t current_len;
static char crash_path[4096];

static void on_abort(int sig)
{
	int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, current, current_len);
		(void)w;
		close(fd);
	}
	static const char msg[] = "fuzz_preload: input written to ";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	w = write(2, crash_path, strlen(crash_path));
	w = write(2, "\n", 1);
	(void)w;
	signal(sig, SIG_DFL);
	raise(sig);
}

static char current_path[4096];

static void run(const uint8_t *d, size_t n)
{
	current_len = n < sizeof(current) ? n : sizeof(current);
	memcpy(current, d, current_len);
	/* Also on disk first: a crash (SIGSEGV) leaves the input there (the abort handler names it). */
	int fd = open(current_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, current, current_len);
		(void)w;
		close(fd);
	}
	fz_run(current, current_len);
}

/* ---- the corpus ---- */

struct input {
	uint8_t *d;
	size_t n;
};
static struct input *corpus;
static size_t ncorpus, capcorpus;

static void add_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	uint8_t *d = malloc(INPUT_MAX);
	size_t n = d ? fread(d, 1, INPUT_MAX, f) : 0;
	fclose(f);
	if (!d)
		return;
	if (ncorpus == capcorpus) {
		capcorpus = capcorpus ? 2 * capcorpus : 64;
		corpus = realloc(corpus, capcorpus * sizeof(*corpus));
		if (!corpus)
			exit(2);
	}
	corpus[ncorpus++] = (struct input){d, n};
}

static void add_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		add_file(path);
		return;
	}
	DIR *dir = opendir(path);
	if (!dir)
		return;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		add_file(p);
	}
	closedir(dir);
}

/* ---- mutations: bytes, and whole records (the engine's unit) ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t mutate(uint8_t *d, size_t n)
{
	static const uint8_t interesting[] = {0, 1, 2, 3, 4, 7, 8, 0x10, 0x20, 0x7f, 0x80, 0xfe, 0xff};
	unsigned k = 1 + (unsigned)(rnd() % 4);
	for (unsigned m = 0; m < k; m++) {
		size_t nrec = n > FZ_HDR ? (n - FZ_HDR) / FZ_REC : 0;
		switch (rnd() % 7) {
		case 0:
			if (n)
				d[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1:
			if (n)
				d[rnd() % n] = interesting[rnd() % sizeof(interesting)];
			break;
		case 2:
			if (n)
				d[rnd() % n] = (uint8_t)rnd();
			break;
		case 3: /* another op in a record */
			if (nrec)
				d[FZ_HDR + (rnd() % nrec) * FZ_REC] = (uint8_t)(rnd() % 16);
			break;
		case 4: /* a record of another input */
			if (nrec && ncorpus) {
				const struct input *o = &corpus[rnd() % ncorpus];
				size_t orec = o->n > FZ_HDR ? (o->n - FZ_HDR) / FZ_REC : 0;
				if (orec)
					memcpy(d + FZ_HDR + (rnd() % nrec) * FZ_REC,
					       o->d + FZ_HDR + (rnd() % orec) * FZ_REC, FZ_REC);
			}
			break;
		case 5: /* duplicate a record at the end */
			if (nrec && n + FZ_REC <= INPUT_MAX) {
				memcpy(d + n, d + FZ_HDR + (rnd() % nrec) * FZ_REC, FZ_REC);
				n += FZ_REC;
			}
			break;
		default: /* the header: threads or not, the pool's seed */
			if (n >= FZ_HDR)
				d[rnd() % 3] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	double seconds = 0;
	unsigned long long seed = (unsigned long long)time(NULL);
	const char *outdir = ".";
	int opt;
	while ((opt = getopt(argc, argv, "t:s:o:")) != -1) {
		if (opt == 't')
			seconds = atof(optarg);
		else if (opt == 's')
			seed = strtoull(optarg, NULL, 0);
		else if (opt == 'o')
			outdir = optarg;
		else {
			fprintf(stderr, "usage: sgxemu run -- %s [-t SECONDS] [-s SEED] [-o DIR] PATH...\n", argv[0]);
			return 2;
		}
	}
	const char *epc = getenv("SGXEMU_EPC_SIZE");
	backend.epc_size = epc ? parse_size(epc) : 128ULL << 20;
	char err[256];
	if (fz_init(&backend, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_preload: %s\n", err);
		return 2;
	}
	snprintf(crash_path, sizeof(crash_path), "%s/crash-fuzz_preload-%d", outdir, (int)getpid());
	snprintf(current_path, sizeof(current_path), "%s/fuzz_preload-%d.current", outdir, (int)getpid());
	signal(SIGABRT, on_abort);
	for (int i = optind; i < argc; i++)
		add_path(argv[i]);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned long runs = 0;
	for (size_t i = 0; i < ncorpus; i++, runs++)
		run(corpus[i].d, corpus[i].n);
	unsigned long replayed = runs;
	rng = seed | 1;
	static uint8_t buf[INPUT_MAX];
	double el = 0;
	while (ncorpus) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
		if (el >= seconds)
			break;
		const struct input *in = &corpus[rnd() % ncorpus];
		memcpy(buf, in->d, in->n);
		size_t n = mutate(buf, in->n);
		run(buf, n);
		runs++;
	}
	unlink(current_path);
	printf("fuzz_preload: %lu inputs (%lu replayed, %lu mutated, seed %llu) in %.0f s, %.0f/s\n", runs, replayed,
	       runs - replayed, seed, el, el > 0 ? (double)runs / el : 0.0);
	return 0;
}
