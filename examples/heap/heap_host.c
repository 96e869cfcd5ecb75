/* SPDX-License-Identifier: MIT */
/*
 * heap-demo: a heap that grows and shrinks at run time inside an enclave
 * (heap_enclave.c), in an EPC smaller than the heap's peak.
 *
 * Steps: reserve a region (COMMIT_ON_DEMAND), grow it by a quarter of the
 * peak with pages committed now, by three quarters on demand (the EPC
 * overflows: the driver evicts pages), check every word, shrink it
 * (uncommit), grow it again on demand (the new pages must read zero), check
 * again, release it.  Each step prints the ioctls, what the enclave did, the
 * heap's size and peak, the memory manager's committed bytes and the EPC's
 * resident and evicted pages.
 *
 * Exit status: 0 when every check passed (data intact, fresh pages zero,
 * committed bytes as expected, reclaim seen when the peak exceeds the EPC);
 * 1 otherwise; 2 for a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ex.h"
#include "heap_abi.h"
#include "sgxemu/loader.h"
#include "sgxemu/sgxemu.h"

static bool quiet;
static uint64_t peak_size; /* largest heap size reached */

static void epc_line(const struct heap_step *s)
{
	struct sgxemu_stats st;
	sgxemu_get_stats(&st);
	if (s->size > peak_size)
		peak_size = s->size;
	printf("  heap %llu KiB (peak %llu KiB), committed %llu KiB; EPC %llu KiB: %llu pages resident, %llu evicted\n",
	       (unsigned long long)(s->size >> 10), (unsigned long long)(peak_size >> 10),
	       (unsigned long long)(s->committed_bytes >> 10), (unsigned long long)(st.epc_size >> 10),
	       (unsigned long long)st.pages_resident, (unsigned long long)st.pages_evicted);
}

/* One step: an ECALL with its transcript.  Return: the step's outputs are valid. */
static bool step(struct sdk_enclave *e, uint32_t index, uint64_t bytes, uint32_t mode, struct heap_step *s,
		 const char *title)
{
	if (!quiet)
		printf("[%s]\n", title);
	else
		printf("%s\n", title);
	fflush(stdout);
	memset(s, 0, sizeof(*s));
	s->bytes = bytes;
	s->mode = mode;
	double t0 = ex_now_ms();
	if (ex_ecall(e, index, s, sizeof(*s), title) < 0)
		return false;
	double ms = ex_now_ms() - t0;
	epc_line(s);
	if (s->committed_bytes != s->size)
		ex_fail("%s: the memory manager has %llu bytes committed, the heap uses %llu", title,
			(unsigned long long)s->committed_bytes, (unsigned long long)s->size);
	if (s->fresh_nonzero)
		ex_fail("%s: %llu words of newly committed pages were not zero", title,
			(unsigned long long)s->fresh_nonzero);
	if (s->bad_words)
		ex_fail("%s: %llu words lost their pattern, the first at heap offset %#llx", title,
			(unsigned long long)s->bad_words, (unsigned long long)s->first_bad);
	if (!quiet)
		printf("  time: %.3f ms\n", ms);
	return !ex_failed;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: heap-demo [--quiet] [--epc SIZE] [--peak SIZE] [--key KEY.pem] [--enclave ELF]\n"
		   "\n"
		   "Grows and shrinks a heap inside an enclave with the EDMM memory manager (commit now,\n"
		   "commit on demand, uncommit) in an EPC smaller than the heap's peak, checking the data.\n"
		   "\n"
		   "  --quiet         steps and their numbers only\n"
		   "  --epc SIZE      EPC capacity (default 2M; suffix K, M, G)\n"
		   "  --peak SIZE     the heap's largest size (default 4M, a multiple of 16K)\n"
		   "  --key KEY.pem   sign with this RSA-3072 e=3 key (default: a fresh key)\n"
		   "  --enclave ELF   the enclave (default: heap_enclave.elf next to this program)\n"
		   "\n"
		   "Exit status: 0 every check passed, 1 error or failed check, 2 usage.\n");
}

/* --epc SIZE, --peak SIZE. */
struct sizes {
	uint64_t epc, peak;
};

static int size_option(int c, const char *arg, void *ctx)
{
	struct sizes *z = ctx;
	return c == 'E' ? ex_number_arg("epc", arg, true, &z->epc) : ex_number_arg("peak", arg, true, &z->peak);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"epc", required_argument, NULL, 'E'},
	    {"peak", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	struct sizes z = {.epc = 2 << 20, .peak = 4 << 20};
	struct ex_args args;
	int status = ex_parse_args("heap-demo", argc, argv, longopts, size_option, &z, usage, &args);
	if (status >= 0)
		return status;
	quiet = args.quiet;
	uint64_t peak = z.peak;
	if (!peak || peak % (16 * 1024) || peak > (1ULL << 30)) {
		fprintf(stderr, "heap-demo: --peak: %llu is not a multiple of 16K between 16K and 1G\n",
			(unsigned long long)peak);
		return 2;
	}

	struct sgxemu_options so = {.epc_size = z.epc};
	struct sdk_config cfg;
	sdk_config_default(&cfg);
	cfg.edmm = true;
	cfg.dyn_size = 2 * peak;
	struct ex_image x;
	struct sdk_enclave *e = NULL;
	if (ex_prepare(&args, &so, "heap_enclave.elf", HEAP_ENCLAVE_PATH, &cfg, &x) < 0 || !(e = ex_load(&x, &quiet)))
		goto out;
	struct sgxemu_stats st;
	sgxemu_get_stats(&st);
	printf("heap-demo: heap peak %llu KiB in an EPC of %llu KiB (%s); the enclave uses %llu pages to start\n",
	       (unsigned long long)(peak >> 10), (unsigned long long)(st.epc_size >> 10),
	       peak > st.epc_size ? "smaller than the peak: the driver must reclaim" : "no reclaim needed",
	       (unsigned long long)st.pages_resident);

	uint64_t quarter = peak / 4, rest = peak - quarter, half = peak / 2;
	char title[160];
	struct heap_step s;
	uint64_t evicted_max = 0;
	bool ok = step(e, HEAP_EC_RESERVE, 2 * peak, 0, &s, "reserve: rt_mm_alloc(COMMIT_ON_DEMAND) of twice the peak");
	snprintf(title, sizeof(title), "grow +%llu KiB, committed now (rt_mm_commit)",
		 (unsigned long long)(quarter >> 10));
	ok = ok && step(e, HEAP_EC_GROW, quarter, HEAP_COMMIT_NOW, &s, title);
	snprintf(title, sizeof(title), "grow +%llu KiB, committed on demand (first write)",
		 (unsigned long long)(rest >> 10));
	ok = ok && step(e, HEAP_EC_GROW, rest, HEAP_COMMIT_ON_DEMAND, &s, title);
	sgxemu_get_stats(&st);
	evicted_max = st.pages_evicted;
	ok = ok && step(e, HEAP_EC_CHECK, 0, 0, &s, "check every word (evicted pages come back with ELDU)");
	snprintf(title, sizeof(title), "shrink -%llu KiB (rt_mm_uncommit: TRIM, EACCEPT, REMOVE)",
		 (unsigned long long)(rest >> 10));
	ok = ok && step(e, HEAP_EC_SHRINK, rest, 0, &s, title);
	snprintf(title, sizeof(title), "grow +%llu KiB again, on demand: the pages must be new",
		 (unsigned long long)(half >> 10));
	ok = ok && step(e, HEAP_EC_GROW, half, HEAP_COMMIT_ON_DEMAND, &s, title);
	sgxemu_get_stats(&st);
	if (st.pages_evicted > evicted_max)
		evicted_max = st.pages_evicted;
	ok = ok && step(e, HEAP_EC_CHECK, 0, 0, &s, "check every word again");
	ok = ok && step(e, HEAP_EC_RELEASE, 0, 0, &s, "release the region (rt_mm_dealloc)");
	if (ok && peak > st.epc_size && evicted_max == 0)
		ex_fail("the peak exceeds the EPC, yet no page was evicted");
	if (ok && !ex_failed)
		printf("heap-demo: peak %llu KiB, EPC %llu KiB, up to %llu pages evicted at once; all data intact\n",
		       (unsigned long long)(peak_size >> 10), (unsigned long long)(st.epc_size >> 10),
		       (unsigned long long)evicted_max);
	if (!ok)
		ex_failed = true;
out:
	ex_finish(e, &x);
	return ex_failed || !e ? 1 : 0;
}
