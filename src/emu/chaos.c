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

int emu_parse_chaos(const char *spec, struct exec_chaos *out, unsigned *ioctl_every, char *err, size_t errlen)
{
	struct exec_chaos c = {0};
	unsigned ioctls = 0;
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
		*ioctl_every = 0;
		return 0;
	}
	const char *p = colon + 1;
	bool named = false;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t name_len = eq ? (size_t)(eq - p) : len;
		uint64_t every = DEFAULT_EVERY;
		unsigned *slot = NULL;
		if (name_len == 9 && !memcmp(p, "interrupt", 9))
			slot = &c.interrupt_every;
		else if (name_len == 5 && !memcmp(p, "evict", 5))
			slot = &c.evict_every;
		else if (name_len == 5 && !memcmp(p, "ioctl", 5))
			slot = &ioctls;
		else if (name_len == 5 && !memcmp(p, "timer", 5)) {
			slot = &c.timer_usec;
			every = DEFAULT_TIMER_USEC;
		} else if (name_len == 5 && !memcmp(p, "quiet", 5) && !eq)
			c.quiet = true;
		else {
			snprintf(
			    err, errlen,
			    "%s=%s: unknown kind \"%.*s\" (interrupt[=N], evict[=N], ioctl[=N], timer[=USEC], quiet)",
			    SGXEMU_ENV_CHAOS, spec, (int)name_len, p);
			return -1;
		}
		if (slot) {
			if (eq && parse_u64(eq + 1, len - name_len - 1, 1, 1000000, &every)) {
				snprintf(err, errlen, "%s=%s: %.*s: expected =N, 1 to 1000000", SGXEMU_ENV_CHAOS, spec,
					 (int)name_len, p);
				return -1;
			}
			*slot = (unsigned)every;
			named = true;
		}
		if (!end)
			break;
		p = end + 1;
	}
	/* Only modifiers (quiet): every kind, as with a seed alone. */
	if (!named)
		c.interrupt_every = c.evict_every = DEFAULT_EVERY;
	*out = c;
	*ioctl_every = ioctls;
	return 0;
}
