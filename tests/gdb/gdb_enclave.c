/* SPDX-License-Identifier: MIT */
/*
 * The enclave of tests/gdb (docs/debugging.md): gdb breaks in scale(),
 * prints its arguments and locals, steps, and finishes back into compute().
 * Built with -O0 -g; gdb-host signs it DEBUG, or not with --non-debug.
 */
#include "sgxemu/rt.h"

struct gdb_point {
	int64_t x, y;
};

/* A frame of its own below compute(): the test's breakpoint. */
static int64_t scale(int64_t v, int64_t factor)
{
	int64_t scaled = v * factor;
	return scaled + 1;
}

/* ECALL 0: scale(x, 3) + scale(y, 5) of the host's point, printed through an OCALL too. */
static int64_t compute(void *untrusted, uint64_t len)
{
	struct gdb_point p;
	if (len != sizeof(p))
		return -RT_EINVAL;
	memcpy(&p, untrusted, sizeof(p));
	int64_t total = scale(p.x, 3) + scale(p.y, 5);
	rt_print("compute: %lld\n", (long long)total);
	return total;
}

RT_ECALLS(compute);
