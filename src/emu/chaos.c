/* SPDX-License-Identifier: MIT */
/* SGXEMU_CHAOS: the seed and kinds of chaos mode (docs/chaos.md). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_int.h"
#include "exec.h"
#include "sgxemu/ext.h"

#define DEFAULT_EVERY	   4U
#define DEFAULT_TIMER_USEC 1000U
#define DEFAULT_STEP_EVERY 1000U
#define DEFAULT_TLB_USEC   1000U

/* Digits only, no sign or blank, within [lo, hi]. Return: 0 and *out, or -1. */
static int parse_u64(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (!n || n > 20)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int emu_parse_chaos(const char *spec, struct exec_chaos *out, struct emu_chaos_kernel *kernel, char *err, size_t errlen)
{
	struct exec_chaos c = {0};
	struct emu_chaos_kernel kc = {0};
	const char *colon = strchr(spec, ':');
	size_t seed_len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (parse_u64(spec, seed_len, 0, UINT64_MAX, &c.seed)) {
		snprintf(err, errlen, "%s=%s: expected SEED[:KIND[=N],...] with a decimal seed", SGXEMU_ENV_CHAOS,
			 spec);
		return -1;
	}
	if (!colon) {
		c.interrupt_every = c.evict_every = DEFAULT_EVERY;
		*out = c;
		*kernel = kc;
		return 0;
	}
	/* Each kind with a value: its name, where the value goes, and its default. */
	const struct {
		const char *name;
		unsigned *slot;
		unsigned dflt;
	} kinds[] = {
	    {"interrupt", &c.interrupt_every, DEFAULT_EVERY}, {"evict", &c.evict_every, DEFAULT_EVERY},
	    {"timer", &c.timer_usec, DEFAULT_TIMER_USEC},     {"step", &c.step_every, DEFAULT_STEP_EVERY},
	    {"ioctl", &kc.ioctl_every, DEFAULT_EVERY},	      {"busy", &kc.busy_every, DEFAULT_EVERY},
	    {"sigbus", &kc.sigbus_every, DEFAULT_EVERY},      {"tlb", &kc.tlb_usec, DEFAULT_TLB_USEC},
	};
	const char *p = colon + 1;
	bool named = false;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t name_len = eq ? (size_t)(eq - p) : len;
		size_t kind = sizeof(kinds) / sizeof(kinds[0]);
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strlen(kinds[i].name) == name_len && !memcmp(p, kinds[i].name, name_len))
				kind = i;
		if (kind < sizeof(kinds) / sizeof(kinds[0])) {
			uint64_t v = kinds[kind].dflt;
			if (eq && parse_u64(eq + 1, len - name_len - 1, 1, 1000000, &v)) {
				snprintf(err, errlen, "%s=%s: %.*s: expected =N, 1 to 1000000", SGXEMU_ENV_CHAOS, spec,
					 (int)name_len, p);
				return -1;
			}
			*kinds[kind].slot = (unsigned)v;
			named = true;
		} else if (name_len == 5 && !memcmp(p, "quiet", 5) && !eq) {
			c.quiet = true;
		} else {
			snprintf(err, errlen,
				 "%s=%s: unknown kind \"%.*s\" (interrupt[=N], evict[=N], timer[=USEC], step[=N], "
				 "ioctl[=N], busy[=N], sigbus[=N], tlb[=USEC], quiet)",
				 SGXEMU_ENV_CHAOS, spec, (int)name_len, p);
			return -1;
		}
		if (!end)
			break;
		p = end + 1;
	}
	/* Only modifiers (quiet): every kind, as with a seed alone. */
	if (!named)
		c.interrupt_every = c.evict_every = DEFAULT_EVERY;
	*out = c;
	*kernel = kc;
	return 0;
}
