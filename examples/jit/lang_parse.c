/* SPDX-License-Identifier: MIT */
/*
 * Lexer and one-pass parser: source text straight to stack-machine bytecode.
 * Recursion is bounded by LANG_MAX_NESTING (blocks, parentheses, unary
 * operators), so the parser's stack use is small and fixed.
 */
#include <string.h>

#include "lang_impl.h"

enum tok {
	T_EOF,
	T_INT,
	T_IDENT,
	T_IF,
	T_ELSE,
	T_WHILE,
	T_RETURN,
	T_LPAREN,
	T_RPAREN,
	T_LBRACE,
	T_RBRACE,
	T_SEMI,
	T_ASSIGN,
	T_OR,
	T_AND,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_PLUS,
	T_MINUS,
	T_STAR,
	T_SLASH,
	T_PERCENT,
	T_NOT,
};

struct parser {
	const char *src;
	size_t pos; /* next byte to scan */
	int line, col;
	/* The current token. */
	enum tok tok;
	int tline, tcol;
	size_t tstart, tlen;
	int64_t tval;
	/* Output and state. */
	struct lang_prog *prog;
	struct lang_error *err;
	int failed;
	unsigned nesting;
	unsigned depth; /* operand stack depth at the end of the code so far */
	int label;	/* the latest instruction index a jump was pointed at */
};

static int fail(struct parser *ps, const char *a, const char *b, const char *c)
{
	if (!ps->failed)
		lang_error_set(ps->err, ps->tline, ps->tcol, a, b, c);
	ps->failed = 1;
	return -1;
}

static int is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static int hex_value(int ch)
{
	if (is_digit(ch))
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void advance(struct parser *ps)
{
	if (ps->src[ps->pos] == '\n') {
		ps->line++;
		ps->col = 1;
	} else {
		ps->col++;
	}
	ps->pos++;
}

static void skip_space(struct parser *ps)
{
	for (;;) {
		char ch = ps->src[ps->pos];

		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			advance(ps);
		} else if (ch == '/' && ps->src[ps->pos + 1] == '/') {
			while (ps->src[ps->pos] && ps->src[ps->pos] != '\n')
				advance(ps);
		} else {
			return;
		}
	}
}

static int lex_number(struct parser *ps)
{
	const char *s = ps->src;
	uint64_t v = 0;

	if (s[ps->pos] == '0' && (s[ps->pos + 1] == 'x' || s[ps->pos + 1] == 'X')) {
		advance(ps);
		advance(ps);
		if (hex_value(s[ps->pos]) < 0)
			return fail(ps, "invalid integer literal", NULL, NULL);
		for (; hex_value(s[ps->pos]) >= 0; advance(ps)) {
			if (v >> 60)
				return fail(ps, "integer literal too large", NULL, NULL);
			v = v << 4 | (uint64_t)hex_value(s[ps->pos]);
		}
	} else {
		for (; is_digit(s[ps->pos]); advance(ps)) {
			uint64_t d = (uint64_t)(s[ps->pos] - '0');

			if (v > ((uint64_t)INT64_MAX - d) / 10)
				return fail(ps, "integer literal too large", NULL, NULL);
			v = v * 10 + d;
		}
	}
	if (is_alpha(s[ps->pos]) || is_digit(s[ps->pos]))
		return fail(ps, "invalid integer literal", NULL, NULL);
	/* Hexadecimal literals give all 64 bits: 0xffffffffffffffff is -1. */
	ps->tval = (int64_t)v;
	ps->tok = T_INT;
	return 0;
}

static const struct {
	const char *word;
	enum tok tok;
} keywords[] = {
    {"if", T_IF},
    {"else", T_ELSE},
    {"while", T_WHILE},
    {"return", T_RETURN},
};

static int lex_word(struct parser *ps)
{
	while (is_alpha(ps->src[ps->pos]) || is_digit(ps->src[ps->pos]))
		advance(ps);
	ps->tlen = ps->pos - ps->tstart;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strlen(keywords[i].word) == ps->tlen && !memcmp(keywords[i].word, ps->src + ps->tstart, ps->tlen)) {
			ps->tok = keywords[i].tok;
			return 0;
		}
	}
	if (ps->tlen > LANG_MAX_NAME)
		return fail(ps, "identifier too long", NULL, NULL);
	ps->tok = T_IDENT;
	return 0;
}

/* Two-character operators first, then one-character ones. */
static const struct {
	char text[3];
	enum tok tok;
} punct[] = {
    {"||", T_OR},    {"&&", T_AND},   {"==", T_EQ},    {"!=", T_NE},	{"<=", T_LE},	{">=", T_GE},	  {"<", T_LT},
    {">", T_GT},     {"+", T_PLUS},   {"-", T_MINUS},  {"*", T_STAR},	{"/", T_SLASH}, {"%", T_PERCENT}, {"!", T_NOT},
    {"(", T_LPAREN}, {")", T_RPAREN}, {"{", T_LBRACE}, {"}", T_RBRACE}, {";", T_SEMI},	{"=", T_ASSIGN},
};

/* Scan the next token into ps->tok. */
static int next(struct parser *ps)
{
	char ch;

	if (ps->failed)
		return -1;
	skip_space(ps);
	ps->tline = ps->line;
	ps->tcol = ps->col;
	ps->tstart = ps->pos;
	ch = ps->src[ps->pos];
	if (ch == '\0') {
		ps->tok = T_EOF;
		return 0;
	}
	if (is_digit(ch))
		return lex_number(ps);
	if (is_alpha(ch))
		return lex_word(ps);
	for (size_t i = 0; i < sizeof(punct) / sizeof(punct[0]); i++) {
		size_t n = strlen(punct[i].text);

		if (!memcmp(ps->src + ps->pos, punct[i].text, n)) {
			for (size_t k = 0; k < n; k++)
				advance(ps);
			ps->tok = punct[i].tok;
			return 0;
		}
	}
	if (ch == '&' || ch == '|')
		return fail(ps,
			    ch == '&' ? "unexpected character '&' (did you mean '&&'?)"
				      : "unexpected character '|' (did you mean '||'?)",
			    NULL, NULL);
	if (ch > ' ' && ch < 0x7f) {
		char text[4] = {'\'', ch, '\'', '\0'};

		return fail(ps, "unexpected character ", text, NULL);
	} else {
		char text[5] = {'0', 'x', "0123456789abcdef"[(uint8_t)ch >> 4], "0123456789abcdef"[ch & 15], '\0'};

		return fail(ps, "unexpected byte ", text, NULL);
	}
}

static int expect(struct parser *ps, enum tok tok, const char *msg)
{
	if (ps->failed)
		return -1;
	if (ps->tok != tok)
		return fail(ps, msg, NULL, NULL);
	return next(ps);
}

/* Append one instruction; its index, or -1. */
static int emit(struct parser *ps, enum lang_op op, unsigned var, int64_t imm)
{
	struct lang_prog *p = ps->prog;
	unsigned pops, pushes;

	if (ps->failed)
		return -1;
	if (p->ninsns >= LANG_MAX_INSNS)
		return fail(ps, "program too large", NULL, NULL);
	lang_op_effect(op, &pops, &pushes);
	if (ps->depth - pops + pushes > LANG_MAX_STACK)
		return fail(ps, "expression too complex", NULL, NULL);
	ps->depth = ps->depth - pops + pushes;
	p->code[p->ninsns] = (struct lang_insn){.op = (uint8_t)op, .var = (uint8_t)var, .imm = imm};
	return p->ninsns++;
}

static int emit_jump(struct parser *ps, enum lang_op op, unsigned target)
{
	int at = emit(ps, op, 0, 0);

	if (at >= 0)
		ps->prog->code[at].target = (uint16_t)target;
	return at;
}

/* Point the jump at index at to the next instruction to be emitted. */
static void patch_here(struct parser *ps, int at)
{
	if (at >= 0 && !ps->failed) {
		ps->prog->code[at].target = ps->prog->ninsns;
		ps->label = ps->prog->ninsns;
	}
}

static int find_var(const struct lang_prog *p, const char *name, size_t len)
{
	for (unsigned i = 0; i < p->nvars; i++)
		if (strlen(p->names[i]) == len && !memcmp(p->names[i], name, len))
			return (int)i;
	return -1;
}

static int enter(struct parser *ps)
{
	if (++ps->nesting > LANG_MAX_NESTING)
		return fail(ps, "nesting too deep", NULL, NULL);
	return 0;
}

static int parse_expr(struct parser *ps, int minprec);

static int parse_primary(struct parser *ps)
{
	if (ps->tok == T_INT) {
		emit(ps, LANG_OP_CONST, 0, ps->tval);
		return next(ps);
	}
	if (ps->tok == T_IDENT) {
		char name[LANG_MAX_NAME + 1];
		int v = find_var(ps->prog, ps->src + ps->tstart, ps->tlen);

		if (v < 0) {
			memcpy(name, ps->src + ps->tstart, ps->tlen);
			name[ps->tlen] = '\0';
			return fail(ps, "unknown variable '", name, "'");
		}
		emit(ps, LANG_OP_LOAD, (unsigned)v, 0);
		return next(ps);
	}
	if (ps->tok == T_LPAREN) {
		if (enter(ps) || next(ps) || parse_expr(ps, 0) || expect(ps, T_RPAREN, "expected ')'"))
			return -1;
		ps->nesting--;
		return 0;
	}
	return fail(ps, "expected expression", NULL, NULL);
}

static int parse_unary(struct parser *ps)
{
	enum tok t = ps->tok;

	if (t != T_MINUS && t != T_NOT)
		return parse_primary(ps);
	if (enter(ps) || next(ps) || parse_unary(ps))
		return -1;
	ps->nesting--;
	emit(ps, t == T_MINUS ? LANG_OP_NEG : LANG_OP_NOT, 0, 0);
	return ps->failed ? -1 : 0;
}

/* Binary operators: precedence (higher binds tighter) and operation; 0 for tokens that are none. */
static int binary_prec(enum tok t, enum lang_op *op)
{
	static const struct {
		enum tok tok;
		int prec;
		enum lang_op op;
	} ops[] = {
	    {T_OR, 1, LANG_OP_JNZ},	 {T_AND, 2, LANG_OP_JZ},    {T_EQ, 3, LANG_OP_EQ},    {T_NE, 3, LANG_OP_NE},
	    {T_LT, 4, LANG_OP_LT},	 {T_LE, 4, LANG_OP_LE},	    {T_GT, 4, LANG_OP_GT},    {T_GE, 4, LANG_OP_GE},
	    {T_PLUS, 5, LANG_OP_ADD},	 {T_MINUS, 5, LANG_OP_SUB}, {T_STAR, 6, LANG_OP_MUL}, {T_SLASH, 6, LANG_OP_DIV},
	    {T_PERCENT, 6, LANG_OP_MOD},
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (ops[i].tok == t) {
			*op = ops[i].op;
			return ops[i].prec;
		}
	}
	return 0;
}

/*
 * Precedence climbing; every binary operator is left-associative.
 *   x && y:  x; JZ f; y; BOOL; JMP end; f: CONST 0; end:
 *   x || y:  x; JNZ t; y; BOOL; JMP end; t: CONST 1; end:
 */
static int parse_expr(struct parser *ps, int minprec)
{
	enum lang_op op;
	int prec;

	if (parse_unary(ps))
		return -1;
	while ((prec = binary_prec(ps->tok, &op)) >= minprec && prec > 0) {
		if (next(ps))
			return -1;
		if (op == LANG_OP_JZ || op == LANG_OP_JNZ) {
			int skip = emit_jump(ps, op, 0), end;

			if (parse_expr(ps, prec + 1))
				return -1;
			emit(ps, LANG_OP_BOOL, 0, 0);
			end = emit_jump(ps, LANG_OP_JMP, 0);
			patch_here(ps, skip);
			ps->depth--; /* the short cut arrives without y's value */
			emit(ps, LANG_OP_CONST, 0, op == LANG_OP_JNZ);
			patch_here(ps, end);
		} else {
			if (parse_expr(ps, prec + 1))
				return -1;
			emit(ps, op, 0, 0);
		}
		if (ps->failed)
			return -1;
	}
	return ps->failed ? -1 : 0;
}

static int parse_stmt(struct parser *ps);

/* '{' stmt* '}' */
static int parse_block(struct parser *ps)
{
	if (ps->tok != T_LBRACE)
		return fail(ps, "expected '{'", NULL, NULL);
	if (enter(ps) || next(ps))
		return -1;
	while (ps->tok != T_RBRACE) {
		if (ps->tok == T_EOF)
			return fail(ps, "expected '}'", NULL, NULL);
		if (parse_stmt(ps))
			return -1;
	}
	ps->nesting--;
	return next(ps);
}

/* '(' expr ')' as a condition; leaves its value on the stack. */
static int parse_cond(struct parser *ps)
{
	if (expect(ps, T_LPAREN, "expected '('") || parse_expr(ps, 0))
		return -1;
	return expect(ps, T_RPAREN, "expected ')'");
}

static int parse_if(struct parser *ps)
{
	int skip, end;

	if (next(ps) || parse_cond(ps))
		return -1;
	skip = emit_jump(ps, LANG_OP_JZ, 0);
	if (parse_block(ps))
		return -1;
	if (ps->tok != T_ELSE) {
		patch_here(ps, skip);
		return 0;
	}
	end = emit_jump(ps, LANG_OP_JMP, 0);
	patch_here(ps, skip);
	if (next(ps))
		return -1;
	if (ps->tok == T_IF) {
		if (enter(ps) || parse_if(ps))
			return -1;
		ps->nesting--;
	} else if (parse_block(ps)) {
		return -1;
	}
	patch_here(ps, end);
	return ps->failed ? -1 : 0;
}

/* head: cond; JZ end; body; LOOP head; end: */
static int parse_while(struct parser *ps)
{
	unsigned head = ps->prog->ninsns;
	int end;

	if (next(ps) || parse_cond(ps))
		return -1;
	end = emit_jump(ps, LANG_OP_JZ, 0);
	if (parse_block(ps))
		return -1;
	emit_jump(ps, LANG_OP_LOOP, head);
	patch_here(ps, end);
	return ps->failed ? -1 : 0;
}

/* name '=' expr ';' -- the first assignment to a name creates the variable, after its expression. */
static int parse_assign(struct parser *ps)
{
	struct lang_prog *p = ps->prog;
	char name[LANG_MAX_NAME + 1];
	int line = ps->tline, col = ps->tcol, v;

	memcpy(name, ps->src + ps->tstart, ps->tlen);
	name[ps->tlen] = '\0';
	if (next(ps) || expect(ps, T_ASSIGN, "expected '='") || parse_expr(ps, 0) || expect(ps, T_SEMI, "expected ';'"))
		return -1;
	v = find_var(p, name, strlen(name));
	if (v < 0) {
		if (p->nvars >= LANG_MAX_VARS) {
			ps->tline = line;
			ps->tcol = col;
			return fail(ps, "too many variables", NULL, NULL);
		}
		v = p->nvars++;
		memcpy(p->names[v], name, sizeof(name));
	}
	emit(ps, LANG_OP_STORE, (unsigned)v, 0);
	return ps->failed ? -1 : 0;
}

static int parse_stmt(struct parser *ps)
{
	switch (ps->tok) {
	case T_IDENT:
		return parse_assign(ps);
	case T_IF:
		return parse_if(ps);
	case T_WHILE:
		return parse_while(ps);
	case T_RETURN:
		if (next(ps) || parse_expr(ps, 0) || expect(ps, T_SEMI, "expected ';'"))
			return -1;
		emit(ps, LANG_OP_RET, 0, 0);
		return ps->failed ? -1 : 0;
	case T_ELSE:
		return fail(ps, "'else' without 'if'", NULL, NULL);
	default:
		return fail(ps, "expected statement", NULL, NULL);
	}
}

int lang_parse(const char *src, struct lang_prog *prog, struct lang_error *err)
{
	struct parser ps = {.src = src, .line = 1, .col = 1, .prog = prog, .err = err, .label = -1};
	static const char *const params[] = {"a", "b", "c"};

	if (!src || !prog)
		return LANG_EINVAL;
	if (err)
		*err = (struct lang_error){0};
	memset(prog, 0, sizeof(*prog));
	prog->limit = LANG_DEFAULT_LIMIT;
	for (unsigned i = 0; i < 3; i++)
		memcpy(prog->names[prog->nvars++], params[i], 2);
	if (next(&ps) == 0) {
		while (ps.tok != T_EOF && parse_stmt(&ps) == 0)
			;
	}
	/* Falling off the end returns 0; no need when the last statement returns and no jump goes past it. */
	if (prog->ninsns == 0 || prog->code[prog->ninsns - 1].op != LANG_OP_RET || ps.label == prog->ninsns) {
		emit(&ps, LANG_OP_CONST, 0, 0);
		emit(&ps, LANG_OP_RET, 0, 0);
	}
	if (ps.failed) {
		memset(prog, 0, sizeof(*prog));
		return LANG_ESYNTAX;
	}
	return LANG_OK;
}
