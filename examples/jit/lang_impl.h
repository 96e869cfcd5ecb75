/* SPDX-License-Identifier: MIT */
/* Shared between the parts of the language implementation; not part of the API (lang.h). */
#ifndef SGXEMU_JIT_LANG_IMPL_H
#define SGXEMU_JIT_LANG_IMPL_H

#include "lang.h"

#define LANG_DEPTH_UNKNOWN 0xff

/* The operand stack seen statically: what lang_check proves about a program. */
struct lang_flow {
	uint8_t depth[LANG_MAX_INSNS];	/* operand stack depth before each instruction */
	uint8_t target[LANG_MAX_INSNS]; /* 1 where some jump lands */
	unsigned maxdepth;		/* deepest the stack gets */
	unsigned loops;			/* LANG_OP_LOOP instructions */
};

/* lang_check that also reports what it found.  Return: LANG_OK or LANG_EINVAL. */
int lang_flow(const struct lang_prog *prog, struct lang_flow *flow);

/* Operand stack effect of an operation: how many it pops, how many it pushes. */
void lang_op_effect(unsigned op, unsigned *pops, unsigned *pushes);

/* A bounded string being built; overflow is remembered, the text stays NUL-terminated. */
struct lang_str {
	char *buf;
	size_t cap;
	size_t len;
	int overflow;
};

void lang_str_init(struct lang_str *s, char *buf, size_t cap);
void lang_str_add(struct lang_str *s, const char *text);
void lang_str_hex(struct lang_str *s, uint64_t value); /* "0x1f" */
void lang_str_dec(struct lang_str *s, uint64_t value);

/* Fill *err (which may be NULL) with a place and a message made of up to three parts. */
void lang_error_set(struct lang_error *err, int line, int column, const char *a, const char *b, const char *c);

#endif
