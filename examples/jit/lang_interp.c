/* SPDX-License-Identifier: MIT */
/* Program checking and the interpreter: the reference semantics the compiled code must match. */
#include <string.h>

#include "lang_impl.h"

void lang_op_effect(unsigned op, unsigned *pops, unsigned *pushes)
{
	switch (op) {
	case LANG_OP_CONST:
	case LANG_OP_LOAD:
		*pops = 0;
		*pushes = 1;
		break;
	case LANG_OP_STORE:
	case LANG_OP_JZ:
	case LANG_OP_JNZ:
	case LANG_OP_RET:
		*pops = 1;
		*pushes = 0;
		break;
	case LANG_OP_NEG:
	case LANG_OP_NOT:
	case LANG_OP_BOOL:
		*pops = 1;
		*pushes = 1;
		break;
	case LANG_OP_JMP:
	case LANG_OP_LOOP:
		*pops = 0;
		*pushes = 0;
		break;
	default: /* binary operators */
		*pops = 2;
		*pushes = 1;
		break;
	}
}

static int is_jump(unsigned op)
{
	return op == LANG_OP_JMP || op == LANG_OP_JZ || op == LANG_OP_JNZ || op == LANG_OP_LOOP;
}

/*
 * One pass in program order.  The depth flowing into an instruction comes from
 * its predecessor when that one falls through, else from the first jump seen
 * to it (0 for code no jump reaches); every other way in must agree.
 */
int lang_flow(const struct lang_prog *p, struct lang_flow *f)
{
	unsigned n = p->ninsns, cur = 0, falls = 1;

	if (n == 0 || n > LANG_MAX_INSNS || p->nvars < 3 || p->nvars > LANG_MAX_VARS)
		return LANG_EINVAL;
	memset(f->depth, LANG_DEPTH_UNKNOWN, n);
	memset(f->target, 0, n);
	f->maxdepth = 0;
	f->loops = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct lang_insn *in = &p->code[i];
		unsigned pops, pushes;

		if (in->op >= LANG_OP_COUNT)
			return LANG_EINVAL;
		if (!falls)
			cur = f->depth[i] == LANG_DEPTH_UNKNOWN ? 0 : f->depth[i];
		else if (f->depth[i] != LANG_DEPTH_UNKNOWN && f->depth[i] != cur)
			return LANG_EINVAL;
		f->depth[i] = (uint8_t)cur;
		if ((in->op == LANG_OP_LOAD || in->op == LANG_OP_STORE) && in->var >= p->nvars)
			return LANG_EINVAL;
		lang_op_effect(in->op, &pops, &pushes);
		if (cur < pops)
			return LANG_EINVAL;
		cur -= pops;
		if (is_jump(in->op)) {
			unsigned t = in->target;

			/* Only LOOP goes backward: every cycle then passes a LOOP and so uses up the limit. */
			if (t >= n || (in->op == LANG_OP_LOOP) != (t <= i))
				return LANG_EINVAL;
			if (f->depth[t] == LANG_DEPTH_UNKNOWN)
				f->depth[t] = (uint8_t)cur;
			else if (f->depth[t] != cur)
				return LANG_EINVAL;
			f->target[t] = 1;
		}
		cur += pushes;
		if (cur > LANG_MAX_STACK)
			return LANG_EINVAL;
		if (cur > f->maxdepth)
			f->maxdepth = cur;
		if (in->op == LANG_OP_LOOP)
			f->loops++;
		falls = in->op != LANG_OP_JMP && in->op != LANG_OP_LOOP && in->op != LANG_OP_RET;
	}
	return falls ? LANG_EINVAL : LANG_OK;
}

int lang_check(const struct lang_prog *p)
{
	struct lang_flow f;

	if (!p)
		return LANG_EINVAL;
	return lang_flow(p, &f);
}

/* Arithmetic wraps: done on uint64_t, converted back (GCC and Clang define that conversion as modulo 2^64). */
static int64_t wrap_add(int64_t x, int64_t y)
{
	return (int64_t)((uint64_t)x + (uint64_t)y);
}

static int64_t wrap_sub(int64_t x, int64_t y)
{
	return (int64_t)((uint64_t)x - (uint64_t)y);
}

static int64_t wrap_mul(int64_t x, int64_t y)
{
	return (int64_t)((uint64_t)x * (uint64_t)y);
}

int lang_interp(const struct lang_prog *p, int64_t a, int64_t b, int64_t c, int64_t *result)
{
	int64_t vars[LANG_MAX_VARS], st[LANG_MAX_STACK];
	uint64_t fuel;
	unsigned pc = 0, sp = 0;

	if (!p || !result || lang_check(p) != LANG_OK)
		return LANG_EINVAL;
	memset(vars, 0, sizeof(vars));
	vars[0] = a;
	vars[1] = b;
	vars[2] = c;
	fuel = p->limit;
	/* lang_check proved every stack access and jump below in bounds. */
	for (;;) {
		const struct lang_insn *in = &p->code[pc++];
		int64_t x, y;

		switch (in->op) {
		case LANG_OP_CONST:
			st[sp++] = in->imm;
			continue;
		case LANG_OP_LOAD:
			st[sp++] = vars[in->var];
			continue;
		case LANG_OP_STORE:
			vars[in->var] = st[--sp];
			continue;
		case LANG_OP_NEG:
			st[sp - 1] = wrap_sub(0, st[sp - 1]);
			continue;
		case LANG_OP_NOT:
			st[sp - 1] = st[sp - 1] == 0;
			continue;
		case LANG_OP_BOOL:
			st[sp - 1] = st[sp - 1] != 0;
			continue;
		case LANG_OP_JMP:
			pc = in->target;
			continue;
		case LANG_OP_JZ:
			if (st[--sp] == 0)
				pc = in->target;
			continue;
		case LANG_OP_JNZ:
			if (st[--sp] != 0)
				pc = in->target;
			continue;
		case LANG_OP_LOOP:
			if (fuel == 0)
				return LANG_ELIMIT;
			fuel--;
			pc = in->target;
			continue;
		case LANG_OP_RET:
			*result = st[--sp];
			return LANG_OK;
		default:
			break;
		}
		y = st[--sp];
		x = st[sp - 1];
		switch (in->op) {
		case LANG_OP_ADD:
			x = wrap_add(x, y);
			break;
		case LANG_OP_SUB:
			x = wrap_sub(x, y);
			break;
		case LANG_OP_MUL:
			x = wrap_mul(x, y);
			break;
		case LANG_OP_DIV:
		case LANG_OP_MOD:
			if (y == 0 || (x == INT64_MIN && y == -1))
				return LANG_EDIV;
			x = in->op == LANG_OP_DIV ? x / y : x % y;
			break;
		case LANG_OP_LT:
			x = x < y;
			break;
		case LANG_OP_LE:
			x = x <= y;
			break;
		case LANG_OP_GT:
			x = x > y;
			break;
		case LANG_OP_GE:
			x = x >= y;
			break;
		case LANG_OP_EQ:
			x = x == y;
			break;
		default: /* LANG_OP_NE: lang_check admits no other operation */
			x = x != y;
			break;
		}
		st[sp - 1] = x;
	}
}

const char *lang_status_name(int status)
{
	static const char *const names[] = {
	    [LANG_OK] = "LANG_OK",	     [LANG_EDIV] = "LANG_EDIV",	    [LANG_ELIMIT] = "LANG_ELIMIT",
	    [LANG_ESYNTAX] = "LANG_ESYNTAX", [LANG_ENOSPC] = "LANG_ENOSPC", [LANG_EINVAL] = "LANG_EINVAL",
	};

	if (status < 0 || status >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown status";
	return names[status];
}

void lang_str_init(struct lang_str *s, char *buf, size_t cap)
{
	s->buf = buf;
	s->cap = cap;
	s->len = 0;
	s->overflow = 0;
	if (cap)
		buf[0] = '\0';
	else
		s->overflow = 1;
}

static void str_putc(struct lang_str *s, char ch)
{
	if (s->len + 1 < s->cap) {
		s->buf[s->len++] = ch;
		s->buf[s->len] = '\0';
	} else {
		s->overflow = 1;
	}
}

void lang_str_add(struct lang_str *s, const char *text)
{
	while (*text)
		str_putc(s, *text++);
}

static void str_digits(struct lang_str *s, uint64_t v, unsigned base)
{
	char tmp[24];
	unsigned n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		str_putc(s, tmp[--n]);
}

void lang_str_hex(struct lang_str *s, uint64_t v)
{
	lang_str_add(s, "0x");
	str_digits(s, v, 16);
}

void lang_str_dec(struct lang_str *s, uint64_t v)
{
	str_digits(s, v, 10);
}

void lang_error_set(struct lang_error *err, int line, int column, const char *a, const char *b, const char *c)
{
	struct lang_str s;

	if (!err)
		return;
	err->line = line;
	err->column = column;
	lang_str_init(&s, err->msg, sizeof(err->msg));
	lang_str_add(&s, a);
	if (b)
		lang_str_add(&s, b);
	if (c)
		lang_str_add(&s, c);
}
