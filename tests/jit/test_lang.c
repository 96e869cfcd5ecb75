/* SPDX-License-Identifier: MIT */
/*
 * The language of examples/jit: parser errors, interpreter semantics, and the
 * x86-64 code generator checked against the interpreter.  Generated code runs
 * from an mmap'd page made PROT_READ|PROT_EXEC, through a trampoline that
 * checks the callee-saved registers survive.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lang.h"

/* ---------------------------------------------------------------- helpers */

#define JIT_MAP	 (128 * 1024)
#define SENTINEL ((int64_t)0x5eed5eed5eed5eed)

static struct lang_prog prog;
static uint8_t code[64 * 1024];
static uint8_t *jit_page;

/*
 * int64_t jit_call_checked(lang_fn f, int64_t a, int64_t b, int64_t c, int64_t *result, uint64_t *broken)
 * Calls f(a, b, c, result) with known values in rbx, rbp, r12-r15 and
 * %rsp 16-byte aligned at the call; *broken gets the XOR of every changed one.
 */
int64_t jit_call_checked(lang_fn f, int64_t a, int64_t b, int64_t c, int64_t *result, uint64_t *broken);
__asm__(".text\n"
	".globl jit_call_checked\n"
	".type jit_call_checked, @function\n"
	"jit_call_checked:\n"
	"	push %rbx\n"
	"	push %rbp\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	push %r9\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8, %rcx\n"
	"	movabs $0x1111111111111111, %rbx\n"
	"	movabs $0x2222222222222222, %rbp\n"
	"	movabs $0x3333333333333333, %r12\n"
	"	movabs $0x4444444444444444, %r13\n"
	"	movabs $0x5555555555555555, %r14\n"
	"	movabs $0x6666666666666666, %r15\n"
	"	call *%rax\n"
	"	pop %r9\n"
	"	xor %ecx, %ecx\n"
	"	movabs $0x1111111111111111, %rdx\n"
	"	xor %rbx, %rdx\n"
	"	or %rdx, %rcx\n"
	"	movabs $0x2222222222222222, %rdx\n"
	"	xor %rbp, %rdx\n"
	"	or %rdx, %rcx\n"
	"	movabs $0x3333333333333333, %rdx\n"
	"	xor %r12, %rdx\n"
	"	or %rdx, %rcx\n"
	"	movabs $0x4444444444444444, %rdx\n"
	"	xor %r13, %rdx\n"
	"	or %rdx, %rcx\n"
	"	movabs $0x5555555555555555, %rdx\n"
	"	xor %r14, %rdx\n"
	"	or %rdx, %rcx\n"
	"	movabs $0x6666666666666666, %rdx\n"
	"	xor %r15, %rdx\n"
	"	or %rdx, %rcx\n"
	"	mov %rcx, (%r9)\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	pop %rbx\n"
	"	ret\n"
	".size jit_call_checked, .-jit_call_checked\n");

static void parse_ok(const char *src)
{
	struct lang_error err;
	int st = lang_parse(src, &prog, &err);

	cr_assert_eq(st, LANG_OK, "parse of \"%s\": %s at %d:%d: %s", src, lang_status_name(st), err.line, err.column,
		     err.msg);
}

static size_t compile_ok(const struct lang_prog *p, uint8_t *buf, size_t cap)
{
	struct lang_error err;
	size_t len = 0;
	int st = lang_compile(p, buf, cap, &len, &err);

	cr_assert_eq(st, LANG_OK, "compile: %s: %s", lang_status_name(st), err.msg);
	cr_assert(len > 0 && len <= cap);
	return len;
}

/* Copy code to jit_page + off, make the mapping R|X, call it through the checking trampoline. */
static int jit_run_at(const uint8_t *bytes, size_t len, size_t off, int64_t a, int64_t b, int64_t c, int64_t *res)
{
	uint64_t broken = ~0ULL;
	int64_t st;

	if (!jit_page) {
		jit_page = mmap(NULL, JIT_MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		cr_assert_neq(jit_page, MAP_FAILED);
	}
	cr_assert(off + len <= JIT_MAP);
	cr_assert_eq(mprotect(jit_page, JIT_MAP, PROT_READ | PROT_WRITE), 0);
	memset(jit_page, 0xcc, JIT_MAP); /* int3 everywhere outside the code */
	memcpy(jit_page + off, bytes, len);
	cr_assert_eq(mprotect(jit_page, JIT_MAP, PROT_READ | PROT_EXEC), 0);
	st = jit_call_checked((lang_fn)(void *)(jit_page + off), a, b, c, res, &broken);
	cr_assert_eq(broken, 0, "callee-saved registers changed (xor %#" PRIx64 ")", broken);
	return (int)st;
}

/*
 * Run p in the interpreter and as compiled code; both must give the same
 * status and the same result (left untouched on an error).
 */
static int run_both(const struct lang_prog *p, int64_t a, int64_t b, int64_t c, int64_t *value)
{
	int64_t ri = SENTINEL, rj = SENTINEL;
	size_t len = compile_ok(p, code, sizeof(code));
	int si = lang_interp(p, a, b, c, &ri);
	int sj = jit_run_at(code, len, 0, a, b, c, &rj);

	cr_assert(si == LANG_OK || si == LANG_EDIV || si == LANG_ELIMIT, "interp: %s", lang_status_name(si));
	cr_assert_eq(sj, si, "a=%" PRId64 " b=%" PRId64 " c=%" PRId64 ": compiled %s, interpreted %s", a, b, c,
		     lang_status_name(sj), lang_status_name(si));
	cr_assert_eq(rj, ri, "a=%" PRId64 " b=%" PRId64 " c=%" PRId64 ": compiled %" PRId64 ", interpreted %" PRId64, a,
		     b, c, rj, ri);
	if (si != LANG_OK)
		cr_assert_eq(ri, SENTINEL, "result written on %s", lang_status_name(si));
	*value = ri;
	return si;
}

/* Parse src and expect status and (when LANG_OK) value from both engines. */
static void expect_run(const char *src, int64_t a, int64_t b, int64_t c, int status, int64_t value)
{
	int64_t got;
	int st;

	parse_ok(src);
	st = run_both(&prog, a, b, c, &got);
	cr_assert_eq(st, status, "\"%s\": %s, expected %s", src, lang_status_name(st), lang_status_name(status));
	if (status == LANG_OK)
		cr_assert_eq(got, value, "\"%s\" = %" PRId64 ", expected %" PRId64, src, got, value);
}

static void expect_parse_error(const char *src, int line, int column, const char *msg)
{
	struct lang_error err;
	int st = lang_parse(src, &prog, &err);

	cr_assert_eq(st, LANG_ESYNTAX, "\"%s\" parsed (%s)", src, lang_status_name(st));
	cr_assert_str_eq(err.msg, msg, "\"%s\"", src);
	cr_assert_eq(err.line, line, "\"%s\": line %d, expected %d (%s)", src, err.line, line, msg);
	cr_assert_eq(err.column, column, "\"%s\": column %d, expected %d (%s)", src, err.column, column, msg);
	cr_assert_eq(prog.ninsns, 0, "a failed parse leaves no program");
}

/* ---------------------------------------------------------------- parser */

TestSuite(parse, .timeout = 60);

Test(parse, each_error_message_with_its_place)
{
	expect_parse_error("return (a + 1;", 1, 14, "expected ')'");
	expect_parse_error("if a) { }", 1, 4, "expected '('");
	expect_parse_error("while (a) x = 1;", 1, 11, "expected '{'");
	expect_parse_error("if (a) { x = 1;", 1, 16, "expected '}'");
	expect_parse_error("x = 1\ny = 2;", 2, 1, "expected ';'");
	expect_parse_error("x + 1;", 1, 3, "expected '='");
	expect_parse_error("x = ;", 1, 5, "expected expression");
	expect_parse_error("return a * ;", 1, 12, "expected expression");
	expect_parse_error("return\n", 2, 1, "expected expression");
	expect_parse_error("5;", 1, 1, "expected statement");
	expect_parse_error("{ }", 1, 1, "expected statement");
	expect_parse_error("x = 1; } ", 1, 8, "expected statement");
	expect_parse_error("else { }", 1, 1, "'else' without 'if'");
	expect_parse_error("return a + y;", 1, 12, "unknown variable 'y'");
	expect_parse_error("return 9223372036854775808;", 1, 8, "integer literal too large");
	expect_parse_error("return 0x10000000000000000;", 1, 8, "integer literal too large");
	expect_parse_error("return 12ab;", 1, 8, "invalid integer literal");
	expect_parse_error("return 0x;", 1, 8, "invalid integer literal");
	expect_parse_error("return a @ b;", 1, 10, "unexpected character '@'");
	expect_parse_error("return a & b;", 1, 10, "unexpected character '&' (did you mean '&&'?)");
	expect_parse_error("return a | b;", 1, 10, "unexpected character '|' (did you mean '||'?)");
	expect_parse_error("return \xc3\xa9;", 1, 8, "unexpected byte 0xc3");
}

Test(parse, place_counts_lines_tabs_and_comments)
{
	expect_parse_error("// first line\n\tx = 1; // comment\n\n   return x +;\n", 4, 14, "expected expression");
	expect_parse_error("x = 1;\r\ny = $;", 2, 5, "unexpected character '$'");
	expect_parse_error("x = 1;\n\tif (x) {\n\t\tx = 2\n\t}\n", 4, 2, "expected ';'");
}

Test(parse, variable_exists_from_its_first_assignment_on)
{
	expect_parse_error("x = x + 1;", 1, 5, "unknown variable 'x'");
	expect_parse_error("while (a) { y = 1; } return y + z;", 1, 33, "unknown variable 'z'");
	expect_parse_error("if = 1;", 1, 4, "expected '('");
	parse_ok("x = 1; x = x + 1; return x;");
	cr_assert_eq(prog.nvars, 4);
	cr_assert_str_eq(prog.names[3], "x");
}

Test(parse, at_most_32_variables_including_parameters)
{
	char src[2048];
	size_t n = 0;

	for (int i = 3; i < LANG_MAX_VARS; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "v%d = %d;\n", i, i);
	parse_ok(src);
	cr_assert_eq(prog.nvars, LANG_MAX_VARS);
	snprintf(src + n, sizeof(src) - n, "a = 2; extra = 1;\n");
	expect_parse_error(src, LANG_MAX_VARS - 2, 8, "too many variables");
}

Test(parse, at_most_1024_instructions)
{
	char src[8192];
	size_t n = 0;

	/* Each statement is CONST, STORE; the end adds CONST 0, RET. */
	for (int i = 0; i < 511; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "x = 1;\n");
	parse_ok(src);
	cr_assert_eq(prog.ninsns, LANG_MAX_INSNS);
	for (int i = 511; i < 600; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "x = 1;\n");
	expect_parse_error(src, 513, 5, "program too large");
}

Test(parse, names_up_to_31_characters)
{
	char src[128];

	snprintf(src, sizeof(src), "%s = 1;", "abcdefghijklmnopqrstuvwxyz01234");
	parse_ok(src);
	cr_assert_str_eq(prog.names[3], "abcdefghijklmnopqrstuvwxyz01234");
	snprintf(src, sizeof(src), "x = 1; %s = 1;", "abcdefghijklmnopqrstuvwxyz012345");
	expect_parse_error(src, 1, 8, "identifier too long");
}

static void nested(char *src, size_t cap, const char *open, int n, const char *middle, const char *close)
{
	size_t len = 0;

	len += (size_t)snprintf(src + len, cap - len, "return ");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(src + len, cap - len, "%s", open);
	len += (size_t)snprintf(src + len, cap - len, "%s", middle);
	for (int i = 0; i < n && close[0]; i++)
		len += (size_t)snprintf(src + len, cap - len, "%s", close);
	snprintf(src + len, cap - len, ";");
}

Test(parse, nesting_is_bounded)
{
	char src[1024];
	size_t len = 0;

	nested(src, sizeof(src), "(", LANG_MAX_NESTING, "a", ")");
	parse_ok(src);
	nested(src, sizeof(src), "(", LANG_MAX_NESTING + 1, "a", ")");
	expect_parse_error(src, 1, 8 + LANG_MAX_NESTING, "nesting too deep");
	nested(src, sizeof(src), "-", LANG_MAX_NESTING + 1, "a", "");
	expect_parse_error(src, 1, 8 + LANG_MAX_NESTING, "nesting too deep");
	for (int i = 0; i <= LANG_MAX_NESTING; i++)
		len += (size_t)snprintf(src + len, sizeof(src) - len, "if(a){");
	expect_parse_error(src, 1, 6 * LANG_MAX_NESTING + 6, "nesting too deep");
}

/* a+(a+(a+ ... (a+a))): each parenthesis keeps one more value on the operand stack. */
static int deep_sum(char *src, size_t cap, int levels)
{
	size_t len = (size_t)snprintf(src, cap, "return ");
	int col;

	for (int i = 0; i < levels; i++)
		len += (size_t)snprintf(src + len, cap - len, "a+(");
	col = (int)len + 3;
	len += (size_t)snprintf(src + len, cap - len, "a+a");
	for (int i = 0; i < levels; i++)
		len += (size_t)snprintf(src + len, cap - len, ")");
	snprintf(src + len, cap - len, ";");
	return col;
}

Test(parse, operand_stack_is_bounded)
{
	char src[512];
	int64_t v;
	int col;

	deep_sum(src, sizeof(src), LANG_MAX_STACK - 2);
	parse_ok(src);
	cr_assert_eq(run_both(&prog, 3, 0, 0, &v), LANG_OK);
	cr_assert_eq(v, 3 * LANG_MAX_STACK);
	col = deep_sum(src, sizeof(src), LANG_MAX_STACK - 1);
	expect_parse_error(src, 1, col, "expression too complex");
}

Test(parse, integer_literals)
{
	expect_run("return 9223372036854775807;", 0, 0, 0, LANG_OK, INT64_MAX);
	expect_run("return 0x7fffffffffffffff;", 0, 0, 0, LANG_OK, INT64_MAX);
	expect_run("return 0x8000000000000000;", 0, 0, 0, LANG_OK, INT64_MIN);
	expect_run("return 0xffffffffffffffff;", 0, 0, 0, LANG_OK, -1);
	expect_run("return 0X1f + 0xA;", 0, 0, 0, LANG_OK, 41);
	expect_run("return 007;", 0, 0, 0, LANG_OK, 7);
	expect_run("return -9223372036854775807 - 1;", 0, 0, 0, LANG_OK, INT64_MIN);
}

Test(parse, bad_arguments)
{
	struct lang_error err;

	cr_assert_eq(lang_parse(NULL, &prog, &err), LANG_EINVAL);
	cr_assert_eq(lang_parse("return 1;", NULL, &err), LANG_EINVAL);
	cr_assert_eq(lang_parse("return 1;", &prog, NULL), LANG_OK);
	cr_assert_eq(lang_parse("return (1;", &prog, NULL), LANG_ESYNTAX);
}

static void expect_code(const struct lang_insn *want, unsigned n)
{
	cr_assert_eq(prog.ninsns, n, "%u instructions, expected %u", prog.ninsns, n);
	for (unsigned i = 0; i < n; i++) {
		const struct lang_insn *g = &prog.code[i];

		cr_assert_eq(g->op, want[i].op, "insn %u: op %u, expected %u", i, g->op, want[i].op);
		cr_assert_eq(g->var, want[i].var, "insn %u", i);
		cr_assert_eq(g->target, want[i].target, "insn %u", i);
		cr_assert_eq(g->imm, want[i].imm, "insn %u", i);
	}
}

Test(parse, bytecode_of_statements)
{
	/* A final return needs no implicit "return 0". */
	parse_ok("x = a + 1; return x;");
	expect_code((struct lang_insn[]){{LANG_OP_LOAD, 0, 0, 0},
					 {LANG_OP_CONST, 0, 0, 1},
					 {LANG_OP_ADD, 0, 0, 0},
					 {LANG_OP_STORE, 3, 0, 0},
					 {LANG_OP_LOAD, 3, 0, 0},
					 {LANG_OP_RET, 0, 0, 0}},
		    6);
	/* The if jumps past the end: the implicit return 0 is its landing place. */
	parse_ok("if (a) { return 1; }");
	expect_code((struct lang_insn[]){{LANG_OP_LOAD, 0, 0, 0},
					 {LANG_OP_JZ, 0, 4, 0},
					 {LANG_OP_CONST, 0, 0, 1},
					 {LANG_OP_RET, 0, 0, 0},
					 {LANG_OP_CONST, 0, 0, 0},
					 {LANG_OP_RET, 0, 0, 0}},
		    6);
	/* head: cond; JZ end; body; LOOP head */
	parse_ok("while (b) { b = b - 1; }");
	expect_code((struct lang_insn[]){{LANG_OP_LOAD, 1, 0, 0},
					 {LANG_OP_JZ, 0, 7, 0},
					 {LANG_OP_LOAD, 1, 0, 0},
					 {LANG_OP_CONST, 0, 0, 1},
					 {LANG_OP_SUB, 0, 0, 0},
					 {LANG_OP_STORE, 1, 0, 0},
					 {LANG_OP_LOOP, 0, 0, 0},
					 {LANG_OP_CONST, 0, 0, 0},
					 {LANG_OP_RET, 0, 0, 0}},
		    9);
	/* x && y: x; JZ f; y; BOOL; JMP end; f: CONST 0; end: */
	parse_ok("return a && b;");
	expect_code((struct lang_insn[]){{LANG_OP_LOAD, 0, 0, 0},
					 {LANG_OP_JZ, 0, 5, 0},
					 {LANG_OP_LOAD, 1, 0, 0},
					 {LANG_OP_BOOL, 0, 0, 0},
					 {LANG_OP_JMP, 0, 6, 0},
					 {LANG_OP_CONST, 0, 0, 0},
					 {LANG_OP_RET, 0, 0, 0}},
		    7);
	cr_assert_eq(prog.limit, LANG_DEFAULT_LIMIT);
}

/* ---------------------------------------------------------------- semantics */

struct case_ {
	const char *expr;
	int status;
	int64_t value;
};

static void expect_cases(const struct case_ *cases, size_t n, int64_t a, int64_t b, int64_t c)
{
	char src[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(src, sizeof(src), "return %s;", cases[i].expr);
		expect_run(src, a, b, c, cases[i].status, cases[i].value);
	}
}

#define N(x) (sizeof(x) / sizeof((x)[0]))

TestSuite(semantics, .timeout = 60);

Test(semantics, precedence_and_associativity)
{
	static const struct case_ cases[] = {
	    {"1 + 2 * 3", LANG_OK, 7},
	    {"(1 + 2) * 3", LANG_OK, 9},
	    {"10 - 3 - 2", LANG_OK, 5},
	    {"100 / 10 / 5", LANG_OK, 2},
	    {"100 % 7 % 4", LANG_OK, 2},
	    {"2 * 3 % 4", LANG_OK, 2},
	    {"-2 * 3", LANG_OK, -6},
	    {"- -5", LANG_OK, 5},
	    {"--5", LANG_OK, 5},
	    {"!0 + 1", LANG_OK, 2},
	    {"1 < 2 == 1", LANG_OK, 1},
	    {"3 > 2 > 1", LANG_OK, 0},
	    {"1 + 1 == 2 && 2 * 2 == 4", LANG_OK, 1},
	    {"0 || 1 && 0", LANG_OK, 0},
	    {"1 || 0 && 0", LANG_OK, 1},
	    {"!(a == b) == (a != b)", LANG_OK, 1},
	    {"a - b - c", LANG_OK, 5 - 3 - 1},
	    {"a - (b - c)", LANG_OK, 3},
	};

	expect_cases(cases, N(cases), 5, 3, 1);
}

Test(semantics, every_operator)
{
	static const struct case_ cases[] = {
	    {"a + b", LANG_OK, 10},  {"a - b", LANG_OK, 24}, {"a * b", LANG_OK, -119}, {"a / b", LANG_OK, -2},
	    {"a % b", LANG_OK, 3},   {"b / a", LANG_OK, 0},  {"b % a", LANG_OK, -7},   {"-a / 2", LANG_OK, -8},
	    {"-a % 2", LANG_OK, -1}, {"a < b", LANG_OK, 0},  {"b < a", LANG_OK, 1},    {"a <= 17", LANG_OK, 1},
	    {"a <= 16", LANG_OK, 0}, {"a > b", LANG_OK, 1},  {"a >= 17", LANG_OK, 1},  {"a >= 18", LANG_OK, 0},
	    {"a == 17", LANG_OK, 1}, {"a == b", LANG_OK, 0}, {"a != b", LANG_OK, 1},   {"a != 17", LANG_OK, 0},
	    {"a && b", LANG_OK, 1},  {"a && c", LANG_OK, 0}, {"c && a", LANG_OK, 0},   {"a || c", LANG_OK, 1},
	    {"c || c", LANG_OK, 0},  {"c || b", LANG_OK, 1}, {"!a", LANG_OK, 0},       {"!c", LANG_OK, 1},
	    {"-b", LANG_OK, 7},	     {"-(a)", LANG_OK, -17}, {"(a)", LANG_OK, 17},     {"c", LANG_OK, 0},
	};

	expect_cases(cases, N(cases), 17, -7, 0);
}

Test(semantics, signed_comparisons_and_truth)
{
	static const struct case_ cases[] = {
	    {"-1 < 1", LANG_OK, 1},
	    {"0xffffffffffffffff < 0", LANG_OK, 1},
	    {"0x8000000000000000 < 0x7fffffffffffffff", LANG_OK, 1},
	    {"a > 0", LANG_OK, 0},
	    {"a && 1", LANG_OK, 1},
	    {"7 && 9", LANG_OK, 1},
	    {"0 || -3", LANG_OK, 1},
	    {"!-3", LANG_OK, 0},
	};

	expect_cases(cases, N(cases), INT64_MIN, 0, 0);
}

Test(semantics, arithmetic_wraps_around)
{
	static const struct case_ cases[] = {
	    {"a + 1", LANG_OK, INT64_MIN},
	    {"b - 1", LANG_OK, INT64_MAX},
	    {"-b", LANG_OK, INT64_MIN},
	    {"b * -1", LANG_OK, INT64_MIN},
	    {"a * 2", LANG_OK, -2},
	    {"a * a", LANG_OK, 1},
	    {"0x100000000 * 0x100000000", LANG_OK, 0},
	    {"b + b", LANG_OK, 0},
	    {"a - b", LANG_OK, -1},
	    {"c * 3", LANG_OK, 0x2fffffffd},
	    {"c * 0x7fffffff", LANG_OK, 0x7ffffffe80000001},
	};

	expect_cases(cases, N(cases), INT64_MAX, INT64_MIN, 0xffffffff);
}

Test(semantics, division_truncates_toward_zero)
{
	static const struct case_ cases[] = {
	    {"7 / 2", LANG_OK, 3},
	    {"-7 / 2", LANG_OK, -3},
	    {"7 / -2", LANG_OK, -3},
	    {"-7 / -2", LANG_OK, 3},
	    {"7 % 2", LANG_OK, 1},
	    {"-7 % 2", LANG_OK, -1},
	    {"7 % -2", LANG_OK, 1},
	    {"-7 % -2", LANG_OK, -1},
	    {"a / 1", LANG_OK, INT64_MIN},
	    {"a % 1", LANG_OK, 0},
	    {"a / b", LANG_OK, -4611686018427387904},
	    {"c / -1", LANG_OK, -5},
	    {"c % -1", LANG_OK, 0},
	    {"-c / b", LANG_OK, -2},
	    {"-c % b", LANG_OK, -1},
	    {"a / 0x100000000", LANG_OK, -2147483648},
	};

	expect_cases(cases, N(cases), INT64_MIN, 2, 5);
	expect_run("return a / b;", 5, -1, 0, LANG_OK, -5);
	expect_run("return a % b;", 5, -1, 0, LANG_OK, 0);
}

Test(semantics, division_errors_stop_the_program)
{
	/* Divisor as a constant, a variable and a computed value: the code differs, the outcome not. */
	static const struct case_ cases[] = {
	    {"a / 0", LANG_EDIV, 0},	   {"a % 0", LANG_EDIV, 0},	      {"a / c", LANG_EDIV, 0},
	    {"a % c", LANG_EDIV, 0},	   {"a / (c + 0)", LANG_EDIV, 0},     {"a % (c * 1)", LANG_EDIV, 0},
	    {"b / -1", LANG_EDIV, 0},	   {"b % -1", LANG_EDIV, 0},	      {"b / (c - 1)", LANG_EDIV, 0},
	    {"b % (c - 1)", LANG_EDIV, 0}, {"1 + b / (0 - 1)", LANG_EDIV, 0}, {"0 && a / 0", LANG_OK, 0},
	    {"1 || a / 0", LANG_OK, 1},	   {"1 && a / 0", LANG_EDIV, 0},      {"0 || a % 0", LANG_EDIV, 0},
	};
	int64_t v;

	expect_cases(cases, N(cases), 42, INT64_MIN, 0);
	/* The error stops the program: the assignment after it never runs. */
	expect_run("x = 1; x = a / b; return 7;", 1, 0, 0, LANG_EDIV, 0);
	parse_ok("while (1) { a = a - 1; b = 10 / a; }");
	cr_assert_eq(run_both(&prog, 5, 0, 0, &v), LANG_EDIV);
}

Test(semantics, variables_start_at_zero_and_parameters_are_assignable)
{
	expect_run("if (a) { x = 5; } return x;", 0, 0, 0, LANG_OK, 0);
	expect_run("if (a) { x = 5; } return x;", 1, 0, 0, LANG_OK, 5);
	expect_run("a = a + b; b = a * c; return b;", 2, 3, 4, LANG_OK, 20);
	expect_run("x = 1;", 9, 9, 9, LANG_OK, 0);
	expect_run("", 9, 9, 9, LANG_OK, 0);
	expect_run("// only a comment", 9, 9, 9, LANG_OK, 0);
	expect_run("return c; return a;", 1, 2, 3, LANG_OK, 3);
}

Test(semantics, loop_limit_counts_returns_to_the_condition)
{
	static const uint64_t limits[] = {0, 1, 2, 1000, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, UINT64_MAX};
	int64_t v;

	parse_ok("i = 0; while (i < b) { i = i + 1; } return i;");
	for (size_t k = 0; k < N(limits); k++) {
		uint64_t l = limits[k];
		int64_t n = l > 1000 ? 1000 : (int64_t)l;

		prog.limit = l;
		/* n iterations go back to the condition n times: allowed up to the limit. */
		cr_assert_eq(run_both(&prog, 0, n, 0, &v), LANG_OK, "limit %" PRIu64, l);
		cr_assert_eq(v, n);
		if (l <= 1000)
			cr_assert_eq(run_both(&prog, 0, n + 1, 0, &v), LANG_ELIMIT, "limit %" PRIu64, l);
	}
	/* A loop left by return never goes back. */
	parse_ok("while (1) { return 4; }");
	prog.limit = 0;
	cr_assert_eq(run_both(&prog, 0, 0, 0, &v), LANG_OK);
	cr_assert_eq(v, 4);
	/* The limit is per run and shared by all loops. */
	parse_ok("i = 0; while (i < 3) { i = i + 1; } j = 0; while (j < 3) { j = j + 1; } return i + j;");
	prog.limit = 6;
	cr_assert_eq(run_both(&prog, 0, 0, 0, &v), LANG_OK);
	cr_assert_eq(v, 6);
	prog.limit = 5;
	cr_assert_eq(run_both(&prog, 0, 0, 0, &v), LANG_ELIMIT);
}

Test(semantics, endless_loop_stops_at_the_default_limit)
{
	int64_t v;

	parse_ok("while (1) { a = a + 1; }");
	cr_assert_eq(run_both(&prog, 0, 0, 0, &v), LANG_ELIMIT);
	parse_ok("i = 0; while (1) { i = i + 1; if (i > c) { return i; } }");
	cr_assert_eq(run_both(&prog, 0, 0, LANG_DEFAULT_LIMIT, &v), LANG_OK);
	cr_assert_eq(v, LANG_DEFAULT_LIMIT + 1);
	cr_assert_eq(run_both(&prog, 0, 0, LANG_DEFAULT_LIMIT + 1, &v), LANG_ELIMIT);
}

/* ---------------------------------------------------------------- programs */

static int64_t ref_fact(int64_t n)
{
	uint64_t r = 1;

	for (int64_t i = 2; i <= n; i++)
		r *= (uint64_t)i;
	return (int64_t)r;
}

static int64_t ref_gcd(int64_t x, int64_t y)
{
	x = x < 0 ? -x : x;
	y = y < 0 ? -y : y;
	while (y) {
		int64_t t = x % y;

		x = y;
		y = t;
	}
	return x;
}

static int64_t ref_fib(int64_t n)
{
	uint64_t x = 0, y = 1;

	for (int64_t i = 0; i < n; i++) {
		uint64_t t = x + y;

		x = y;
		y = t;
	}
	return (int64_t)x;
}

static int64_t ref_collatz(int64_t n)
{
	int64_t s = 0;

	while (n != 1) {
		n = n % 2 == 0 ? n / 2 : 3 * n + 1;
		s++;
	}
	return s;
}

static int64_t ref_primes(int64_t n)
{
	int64_t count = 0;

	for (int64_t i = 2; i < n; i++) {
		int p = 1;

		for (int64_t d = 2; d * d <= i && p; d++)
			if (i % d == 0)
				p = 0;
		count += p;
	}
	return count;
}

static const char factorial[] = "r = 1; i = 2;\n"
				"while (i <= a) { r = r * i; i = i + 1; }\n"
				"return r;\n";
static const char gcd[] = "x = a; y = b;\n"
			  "if (x < 0) { x = -x; }\n"
			  "if (y < 0) { y = -y; }\n"
			  "while (y != 0) { t = x % y; x = y; y = t; }\n"
			  "return x;\n";
static const char fibonacci[] = "x = 0; y = 1; i = 0;\n"
				"while (i < a) { t = x + y; x = y; y = t; i = i + 1; }\n"
				"return x;\n";
static const char collatz[] = "n = a; s = 0;\n"
			      "while (n != 1) {\n"
			      "\tif (n % 2 == 0) { n = n / 2; } else { n = 3 * n + 1; }\n"
			      "\ts = s + 1;\n"
			      "}\n"
			      "return s;\n";
static const char primes[] = "n = 0; i = 2;\n"
			     "while (i < a) {\n"
			     "\td = 2; p = 1;\n"
			     "\twhile (d * d <= i && p) { if (i % d == 0) { p = 0; } d = d + 1; }\n"
			     "\tn = n + p; i = i + 1;\n"
			     "}\n"
			     "return n;\n";
static const char minimum[] = "m = a; if (b < m) { m = b; } if (c < m) { m = c; } return m;";
static const char maximum[] = "m = a; if (b > m) { m = b; } if (c > m) { m = c; } return m;";
static const char quadrant[] = "if (a > 0) {\n"
			       "\tif (b > 0) { return 1; } else { return 4; }\n"
			       "} else {\n"
			       "\tif (b > 0) { return 2; } else if (b == 0) { return 5; } else { return 3; }\n"
			       "}\n";

TestSuite(programs, .timeout = 60);

Test(programs, factorial)
{
	for (int64_t n = 0; n <= 25; n++)
		expect_run(factorial, n, 0, 0, LANG_OK, ref_fact(n));
	expect_run(factorial, -5, 0, 0, LANG_OK, 1);
}

Test(programs, gcd)
{
	static const int64_t pairs[][2] = {{12, 18}, {17, 5}, {0, 9}, {9, 0}, {-24, 36}, {1071, 462}, {INT64_MAX, 3}};

	for (size_t i = 0; i < N(pairs); i++)
		expect_run(gcd, pairs[i][0], pairs[i][1], 0, LANG_OK, ref_gcd(pairs[i][0], pairs[i][1]));
}

Test(programs, fibonacci)
{
	for (int64_t n = 0; n <= 100; n += 7)
		expect_run(fibonacci, n, 0, 0, LANG_OK, ref_fib(n));
	expect_run(fibonacci, 90, 0, 0, LANG_OK, 2880067194370816120);
}

Test(programs, collatz_steps)
{
	for (int64_t n = 1; n <= 30; n++)
		expect_run(collatz, n, 0, 0, LANG_OK, ref_collatz(n));
	expect_run(collatz, 27, 0, 0, LANG_OK, 111);
	/* Never reaches 1 from 0: the loop limit stops it. */
	expect_run(collatz, 0, 0, 0, LANG_ELIMIT, 0);
}

Test(programs, primes_count)
{
	expect_run(primes, 100, 0, 0, LANG_OK, 25);
	expect_run(primes, 1000, 0, 0, LANG_OK, 168);
	for (int64_t n = 0; n < 40; n += 3)
		expect_run(primes, n, 0, 0, LANG_OK, ref_primes(n));
}

Test(programs, min_max)
{
	static const int64_t t[][3] = {{1, 2, 3}, {3, 2, 1}, {2, 3, 1}, {-5, 5, 0}, {INT64_MIN, INT64_MAX, 0},
				       {7, 7, 7}};

	for (size_t i = 0; i < N(t); i++) {
		int64_t lo = t[i][0], hi = t[i][0];

		for (int k = 1; k < 3; k++) {
			lo = t[i][k] < lo ? t[i][k] : lo;
			hi = t[i][k] > hi ? t[i][k] : hi;
		}
		expect_run(minimum, t[i][0], t[i][1], t[i][2], LANG_OK, lo);
		expect_run(maximum, t[i][0], t[i][1], t[i][2], LANG_OK, hi);
	}
}

Test(programs, nested_ifs)
{
	expect_run(quadrant, 1, 1, 0, LANG_OK, 1);
	expect_run(quadrant, -1, 1, 0, LANG_OK, 2);
	expect_run(quadrant, -1, -1, 0, LANG_OK, 3);
	expect_run(quadrant, 1, -1, 0, LANG_OK, 4);
	expect_run(quadrant, 0, 0, 0, LANG_OK, 5);
}

Test(programs, all_32_variables_and_a_deep_stack)
{
	char src[4096];
	size_t n = 0;
	int64_t v, want = 0;

	/* Frame offsets past 127 need 32-bit displacements. */
	for (int i = 3; i < LANG_MAX_VARS; i++) {
		n += (size_t)snprintf(src + n, sizeof(src) - n, "v%d = a * %d + b;\n", i, i);
		want += 7 * i + 2;
	}
	n += (size_t)snprintf(src + n, sizeof(src) - n, "return v3");
	for (int i = 4; i < LANG_MAX_VARS; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, " + (v%d", i);
	for (int i = 4; i < LANG_MAX_VARS; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, ")");
	snprintf(src + n, sizeof(src) - n, ";");
	parse_ok(src);
	cr_assert_eq(run_both(&prog, 7, 2, 0, &v), LANG_OK);
	cr_assert_eq(v, want);
}

/* ---------------------------------------------------------------- lang_check */

static void expect_malformed(const char *what)
{
	int64_t r = SENTINEL;
	size_t len = 0;
	struct lang_error err;

	cr_assert_eq(lang_check(&prog), LANG_EINVAL, "%s passes lang_check", what);
	cr_assert_eq(lang_interp(&prog, 1, 2, 3, &r), LANG_EINVAL, "%s runs", what);
	cr_assert_eq(r, SENTINEL);
	cr_assert_eq(lang_compile(&prog, code, sizeof(code), &len, &err), LANG_EINVAL, "%s compiles", what);
	cr_assert_str_eq(err.msg, "malformed program");
}

TestSuite(check, .timeout = 60);

Test(check, malformed_programs_neither_run_nor_compile)
{
	parse_ok("x = 1; while (x < a) { x = x + 1; } return x;");
	cr_assert_eq(lang_check(&prog), LANG_OK);
	cr_assert_eq(lang_check(NULL), LANG_EINVAL);

	/* Code: LOAD a; RET */
	parse_ok("return a;");
	prog.code[0].var = 3;
	expect_malformed("variable beyond nvars");
	parse_ok("return a;");
	prog.code[0].op = LANG_OP_COUNT;
	expect_malformed("unknown operation");
	parse_ok("return a;");
	prog.code[0].op = LANG_OP_ADD;
	expect_malformed("stack underflow");
	parse_ok("return a;");
	prog.code[1].op = LANG_OP_BOOL;
	expect_malformed("running past the end");
	parse_ok("return a;");
	prog.code[1] = (struct lang_insn){.op = LANG_OP_JMP, .target = 1};
	expect_malformed("a jump to itself (endless without LOOP)");
	parse_ok("return a;");
	prog.code[1] = (struct lang_insn){.op = LANG_OP_JMP, .target = 0};
	expect_malformed("a backward JMP");
	parse_ok("return a;");
	prog.code[1] = (struct lang_insn){.op = LANG_OP_JZ, .target = 2};
	expect_malformed("a jump beyond the code");
	parse_ok("return a;");
	prog.ninsns = 0;
	expect_malformed("no code");
	prog.ninsns = LANG_MAX_INSNS + 1;
	expect_malformed("too much code");
	parse_ok("return a;");
	prog.nvars = 2;
	expect_malformed("fewer than 3 variables");
	prog.nvars = LANG_MAX_VARS + 1;
	expect_malformed("too many variables");

	/* LOAD a; JZ 3; JMP 4; LOAD b; RET: the two ways into 4 have different depths. */
	parse_ok("return a;");
	prog.code[1] = (struct lang_insn){.op = LANG_OP_JZ, .target = 3};
	prog.code[2] = (struct lang_insn){.op = LANG_OP_JMP, .target = 4};
	prog.code[3] = (struct lang_insn){.op = LANG_OP_LOAD, .var = 1};
	prog.code[4] = (struct lang_insn){.op = LANG_OP_RET};
	prog.ninsns = 5;
	expect_malformed("depths disagree where paths join");

	/* LOOP forward */
	parse_ok("while (a) { a = 0; }");
	for (unsigned i = 0; i < prog.ninsns; i++)
		if (prog.code[i].op == LANG_OP_LOOP)
			prog.code[i].target = (uint16_t)(i + 1);
	expect_malformed("a forward LOOP");

	/* 33 pushes */
	memset(&prog, 0, sizeof(prog));
	prog.nvars = 3;
	for (unsigned i = 0; i <= LANG_MAX_STACK; i++)
		prog.code[i] = (struct lang_insn){.op = LANG_OP_CONST, .imm = i};
	prog.code[LANG_MAX_STACK + 1] = (struct lang_insn){.op = LANG_OP_RET};
	prog.ninsns = LANG_MAX_STACK + 2;
	expect_malformed("stack overflow");
	prog.code[LANG_MAX_STACK] = (struct lang_insn){.op = LANG_OP_RET};
	prog.ninsns = LANG_MAX_STACK + 1;
	cr_assert_eq(lang_check(&prog), LANG_OK, "a full stack is allowed");
}

Test(check, bytecode_built_by_hand_runs_in_both_engines)
{
	int64_t v;

	/* LOAD a; LOOP 1: a LOOP to itself spins until the limit. */
	memset(&prog, 0, sizeof(prog));
	prog.nvars = 3;
	prog.limit = 10;
	prog.code[0] = (struct lang_insn){.op = LANG_OP_LOAD, .var = 0};
	prog.code[1] = (struct lang_insn){.op = LANG_OP_LOOP, .target = 1};
	prog.ninsns = 2;
	cr_assert_eq(lang_check(&prog), LANG_OK);
	cr_assert_eq(run_both(&prog, 3, 0, 0, &v), LANG_ELIMIT);

	/* Dead code after RET is compiled too and must not disturb anything. */
	prog.code[0] = (struct lang_insn){.op = LANG_OP_LOAD, .var = 2};
	prog.code[1] = (struct lang_insn){.op = LANG_OP_RET};
	prog.code[2] = (struct lang_insn){.op = LANG_OP_CONST, .imm = 1};
	prog.code[3] = (struct lang_insn){.op = LANG_OP_CONST, .imm = 0};
	prog.code[4] = (struct lang_insn){.op = LANG_OP_DIV};
	prog.code[5] = (struct lang_insn){.op = LANG_OP_RET};
	prog.ninsns = 6;
	cr_assert_eq(run_both(&prog, 0, 0, 77, &v), LANG_OK);
	cr_assert_eq(v, 77);
}

/* ---------------------------------------------------------------- generated code */

TestSuite(compile, .timeout = 60);

Test(compile, needs_a_large_enough_buffer)
{
	struct lang_error err;
	size_t len, len2 = 0;
	char msg[96];

	parse_ok(primes);
	len = compile_ok(&prog, code, sizeof(code));
	memset(code, 0xab, sizeof(code));
	cr_assert_eq(lang_compile(&prog, code, len - 1, &len2, &err), LANG_ENOSPC);
	cr_assert_eq(len2, len, "*len tells the size needed");
	snprintf(msg, sizeof(msg), "code buffer too small: %zu bytes needed", len);
	cr_assert_str_eq(err.msg, msg);
	for (size_t i = 0; i < sizeof(code); i++)
		cr_assert_eq(code[i], 0xab, "byte %zu written on ENOSPC", i);
	cr_assert_eq(lang_compile(&prog, NULL, 0, &len2, &err), LANG_ENOSPC);
	cr_assert_eq(lang_compile(&prog, code, len, &len2, &err), LANG_OK);
	cr_assert_eq(len2, len);
	cr_assert_eq(lang_compile(NULL, code, len, &len2, &err), LANG_EINVAL);
	cr_assert_eq(lang_compile(&prog, code, len, NULL, &err), LANG_EINVAL);
	cr_assert_eq(lang_compile(&prog, NULL, len, &len2, &err), LANG_EINVAL);
	cr_assert_eq(lang_compile(&prog, code, len, &len2, NULL), LANG_OK);
}

Test(compile, same_code_runs_at_any_address)
{
	static const int64_t inputs[] = {0, 1, 10, 27, 97};
	const char *const srcs[] = {factorial, gcd, fibonacci, collatz, primes, quadrant};
	static const size_t offsets[] = {0, 1, 4093, 65536 + 7};

	for (size_t s = 0; s < N(srcs); s++) {
		size_t len;

		parse_ok(srcs[s]);
		len = compile_ok(&prog, code, sizeof(code));
		for (size_t i = 0; i < N(inputs); i++) {
			int64_t want = SENTINEL;
			int st = lang_interp(&prog, inputs[i] + 1, inputs[i], 0, &want);

			for (size_t o = 0; o < N(offsets); o++) {
				int64_t got = SENTINEL;

				cr_assert_eq(jit_run_at(code, len, offsets[o], inputs[i] + 1, inputs[i], 0, &got), st);
				cr_assert_eq(got, want, "program %zu at offset %zu", s, offsets[o]);
			}
		}
	}
}

/* Parse "0x..." at p. */
static uint64_t hexval(const char *p)
{
	return strtoull(p, NULL, 16);
}

/*
 * Decode all of code[0..len) and prove its safety properties: every
 * instruction decodes, jumps land on instruction starts inside the code, the
 * only memory touched is [rsp+d] with d inside the frame and [rcx] (the result
 * store), callee-saved registers never appear, %rsp changes only in the
 * prologue and before ret, the frame keeps %rsp 16-byte aligned.
 */
static void verify_code(const uint8_t *bytes, size_t len)
{
	static uint8_t start[sizeof(code) + 1];
	static const char *const forbidden[] = {"rbx", "rbp", "r12", "r13", "r14", "r15", "ebx", "ebp"};
	struct lang_code_info info;
	size_t targets[4096], ntargets = 0;
	unsigned insns = 0, jumps = 0;
	char text[80];

	cr_assert_eq(lang_code_describe(bytes, len, &info), LANG_OK);
	cr_assert_eq(info.size, len);
	cr_assert_eq(info.frame % 16, 8, "frame %u leaves rsp unaligned", info.frame);
	memset(start, 0, len + 1);
	for (size_t off = 0; off < len;) {
		size_t ilen;
		const char *m;
		int st = lang_disasm(bytes, len, off, text, sizeof(text), &ilen);

		cr_assert_eq(st, LANG_OK, "undecodable byte at %#zx", off);
		start[off] = 1;
		insns++;
		for (size_t f = 0; f < N(forbidden); f++)
			cr_assert_null(strstr(text, forbidden[f]), "%#zx: %s", off, text);
		if (text[0] == 'j') {
			cr_assert(ntargets < N(targets));
			targets[ntargets++] = hexval(strchr(text, ' ') + 1);
			jumps++;
		}
		if ((m = strchr(text, '['))) {
			if (!strncmp(m, "[rcx]", 5)) {
				cr_assert_str_eq(text, "mov QWORD PTR [rcx],rax");
			} else {
				uint64_t d = !strncmp(m, "[rsp]", 5) ? 0 : hexval(m + 5);

				cr_assert(!strncmp(m, "[rsp", 4), "%#zx: %s", off, text);
				cr_assert(m[4] == ']' || m[4] == '+', "%#zx: %s", off, text);
				cr_assert(d % 8 == 0 && d + 8 <= info.frame, "%#zx: %s outside frame %u", off, text,
					  info.frame);
			}
		} else if (strstr(text, "rsp")) {
			char want[40];

			snprintf(want, sizeof(want), "%s rsp,%#x", off == 0 ? "sub" : "add", info.frame);
			cr_assert_str_eq(text, want, "%#zx", off);
			if (off)
				cr_assert_eq(bytes[off + ilen], 0xc3, "add rsp not followed by ret at %#zx", off);
		}
		off += ilen;
	}
	cr_assert_eq(bytes[len - 1], 0xc3, "code ends with ret");
	cr_assert_eq(info.insns, insns);
	cr_assert_eq(info.jumps, jumps);
	for (size_t t = 0; t < ntargets; t++)
		cr_assert(targets[t] < len && start[targets[t]], "jump to %#zx: not an instruction", targets[t]);
}

Test(compile, code_touches_only_its_frame_and_the_result)
{
	const char *const srcs[] = {
	    factorial, gcd,	fibonacci, collatz,
	    primes,    minimum, quadrant,  "return a / b + a % b + a / -1 + a % 7 + (a + 1) / (b - 1) + a / 0;"};

	for (size_t s = 0; s < N(srcs); s++) {
		size_t len;

		parse_ok(srcs[s]);
		len = compile_ok(&prog, code, sizeof(code));
		verify_code(code, len);
	}
}

Test(compile, describe_summarizes_the_code)
{
	struct lang_code_info info;
	size_t len;

	parse_ok("return a;");
	len = compile_ok(&prog, code, sizeof(code));
	cr_assert_eq(lang_code_describe(code, len, &info), LANG_OK);
	/* sub rsp; 4 stores; load a; 5-instruction return path; two 3-instruction error exits */
	cr_assert_eq(info.size, len);
	cr_assert_eq(info.insns, 1 + 4 + 1 + 5 + 6);
	cr_assert_eq(info.jumps, 0);
	cr_assert_eq(info.frame, 40);
	cr_assert_eq(lang_code_describe(code, len - 2, &info), LANG_EINVAL, "a cut instruction");
	cr_assert_eq(lang_code_describe((const uint8_t *)"\x90\xc3", 2, &info), LANG_EINVAL);
	cr_assert_eq(lang_code_describe(NULL, len, &info), LANG_EINVAL);
}

Test(compile, disassembler_rejects_what_the_compiler_never_emits)
{
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
	    {"\x90", 1},		 /* nop */
	    {"\x0f\x05", 2},		 /* syscall */
	    {"\x0f\x01\xd7", 3},	 /* enclu */
	    {"\xff\xd0", 2},		 /* call rax */
	    {"\x48\x8b\x05\0\0\0\0", 7}, /* mov rax, [rip+0]: RIP-relative */
	    {"\x48\x8b\x04\x88", 4},	 /* mov rax, [rax+rcx*4]: indexed */
	    {"\x8b\xc0", 2},		 /* mov eax, eax: 32-bit */
	    {"\x48\xb8\1\2\3", 5},	 /* movabs cut short */
	    {"\x48\xf7\xe0", 3},	 /* mul rax */
	    {"\x48\x83\xc8\x01", 4},	 /* or rax, 1 */
	    {"\x48\x89\x44\x24", 4},	 /* store missing its displacement */
	};
	char text[64];
	size_t ilen;

	for (size_t i = 0; i < N(bad); i++)
		cr_assert_eq(lang_disasm((const uint8_t *)bad[i].bytes, bad[i].len, 0, text, sizeof(text), &ilen),
			     LANG_EINVAL, "case %zu decoded as \"%s\"", i, text);
	cr_assert_eq(lang_disasm((const uint8_t *)"\x48\x99", 2, 0, text, sizeof(text), &ilen), LANG_OK);
	cr_assert_str_eq(text, "cqo");
	cr_assert_eq(ilen, 2);
	cr_assert_eq(lang_disasm((const uint8_t *)"\x48\x99", 2, 0, text, 3, &ilen), LANG_ENOSPC);
	cr_assert_str_eq(text, "cq");
	cr_assert_eq(lang_disasm((const uint8_t *)"\x48\x99", 2, 2, text, sizeof(text), &ilen), LANG_EINVAL);
}

/* ---------------------------------------------------------------- random programs */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(struct rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

static const int64_t interesting[] = {
    0,
    1,
    -1,
    2,
    -2,
    3,
    7,
    10,
    -10,
    100,
    255,
    256,
    65535,
    INT32_MAX,
    INT32_MIN,
    0x80000000,
    0xffffffff,
    0x100000000,
    INT64_MAX,
    INT64_MIN,
    INT64_MIN + 1,
    INT64_MAX - 1,
    1000003,
};

static int64_t random_value(struct rng *r)
{
	switch (below(r, 4)) {
	case 0:
		return (int64_t)rnd(r);
	case 1:
		return (int64_t)below(r, 41) - 20;
	default:
		return interesting[below(r, N(interesting))];
	}
}

struct val {
	int err; /* LANG_EDIV happened */
	int64_t v;
};

struct node {
	char *text;
	int prec; /* of the outermost operator: 100 atom, 7 unary, 1..6 binary */
	struct val val;
};

static char *cat(const char *a, const char *b, const char *c, const char *d, const char *e)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(e) + 1;
	char *s = malloc(n);

	cr_assert_not_null(s);
	snprintf(s, n, "%s%s%s%s%s", a, b, c, d, e);
	return s;
}

/* Wrap n's text in parentheses when its operator binds less tightly than the context needs. */
static char *operand(struct rng *r, struct node n, int need)
{
	char *t = n.prec < need || below(r, 10) == 0 ? cat("(", n.text, ")", "", "") : cat(n.text, "", "", "", "");

	free(n.text);
	return t;
}

static const struct {
	const char *text;
	int prec;
} binops[] = {
    {"||", 1}, {"&&", 2}, {"==", 3}, {"!=", 3}, {"<", 4}, {"<=", 4}, {">", 4},
    {">=", 4}, {"+", 5},  {"-", 5},  {"*", 6},	{"/", 6}, {"%", 6},
};

static struct val apply(const char *op, struct val x, struct val y)
{
	uint64_t a = (uint64_t)x.v, b = (uint64_t)y.v;
	struct val r = {0, 0};

	if (!strcmp(op, "&&")) {
		if (x.err || x.v == 0)
			return x.err ? x : r;
		return y.err ? y : (struct val){0, y.v != 0};
	}
	if (!strcmp(op, "||")) {
		if (x.err || x.v != 0)
			return x.err ? x : (struct val){0, 1};
		return y.err ? y : (struct val){0, y.v != 0};
	}
	if (x.err || y.err)
		return (struct val){1, 0};
	if (!strcmp(op, "/") || !strcmp(op, "%")) {
		if (y.v == 0 || (x.v == INT64_MIN && y.v == -1))
			return (struct val){1, 0};
		return (struct val){0, op[0] == '/' ? x.v / y.v : x.v % y.v};
	}
	r.v = !strcmp(op, "+")	  ? (int64_t)(a + b)
	      : !strcmp(op, "-")  ? (int64_t)(a - b)
	      : !strcmp(op, "*")  ? (int64_t)(a * b)
	      : !strcmp(op, "<")  ? x.v < y.v
	      : !strcmp(op, "<=") ? x.v <= y.v
	      : !strcmp(op, ">")  ? x.v > y.v
	      : !strcmp(op, ">=") ? x.v >= y.v
	      : !strcmp(op, "==") ? x.v == y.v
				  : x.v != y.v;
	return r;
}

static char *literal(struct rng *r, int64_t v, int *prec)
{
	char buf[32];

	*prec = 100;
	if (v == INT64_MIN || below(r, 4) == 0) {
		snprintf(buf, sizeof(buf), "0x%" PRIx64, (uint64_t)v);
	} else if (v < 0) {
		snprintf(buf, sizeof(buf), "-%" PRId64, -v);
		*prec = 7;
	} else {
		snprintf(buf, sizeof(buf), "%" PRId64, v);
	}
	return cat(buf, "", "", "", "");
}

/* A random expression over the variables names[0..nv) with values vals[], and its value computed here. */
static struct node gen_expr(struct rng *r, int depth, const char *const *names, const int64_t *vals, unsigned nv)
{
	struct node n;
	unsigned k = below(r, 100);

	if (depth == 0 || k < 25) {
		if (below(r, 2)) {
			unsigned i = below(r, nv);

			n = (struct node){cat(names[i], "", "", "", ""), 100, {0, vals[i]}};
		} else {
			int64_t v = random_value(r);

			n.val = (struct val){0, v};
			n.text = literal(r, v, &n.prec);
		}
	} else if (k < 40) {
		struct node x = gen_expr(r, depth - 1, names, vals, nv);
		int neg = below(r, 2);
		struct val v = x.val;
		char *t;

		if (!v.err)
			v.v = neg ? (int64_t)(0 - (uint64_t)v.v) : v.v == 0;
		t = operand(r, x, 7);
		n = (struct node){cat(neg ? "-" : "!", t[0] == '-' ? " " : "", t, "", ""), 7, v};
		free(t);
	} else {
		unsigned o = below(r, N(binops));
		int p = binops[o].prec;
		struct node x = gen_expr(r, depth - 1, names, vals, nv);
		struct node y = gen_expr(r, depth - 1, names, vals, nv);
		struct val v = apply(binops[o].text, x.val, y.val);
		char *lt = operand(r, x, p), *rt = operand(r, y, p + 1);

		n = (struct node){cat(lt, " ", binops[o].text, " ", rt), p, v};
		free(lt);
		free(rt);
	}
	return n;
}

TestSuite(random, .timeout = 60);

Test(random, expressions_agree_with_a_reference_evaluator)
{
	static const char *const names[] = {"a", "b", "c"};
	struct rng r = {20240601};
	unsigned errors = 0;

	for (int i = 0; i < 3000; i++) {
		int64_t vals[3] = {random_value(&r), random_value(&r), random_value(&r)};
		struct node e = gen_expr(&r, 1 + (int)below(&r, 5), names, vals, 3);
		char *src = cat("return ", e.text, ";", "", "");
		int64_t got;
		int st;

		parse_ok(src);
		st = run_both(&prog, vals[0], vals[1], vals[2], &got);
		cr_assert_eq(st, e.val.err ? LANG_EDIV : LANG_OK, "%s with a=%" PRId64 " b=%" PRId64 " c=%" PRId64, src,
			     vals[0], vals[1], vals[2]);
		if (!e.val.err)
			cr_assert_eq(got, e.val.v,
				     "%s with a=%" PRId64 " b=%" PRId64 " c=%" PRId64 ": %" PRId64
				     ", expected %" PRId64,
				     src, vals[0], vals[1], vals[2], got, e.val.v);
		errors += e.val.err;
		free(src);
		free(e.text);
	}
	/* Both outcomes are exercised. */
	cr_assert(errors > 100 && errors < 2000, "%u of 3000 expressions divide by zero", errors);
}

struct gen {
	struct rng *r;
	char *src;
	size_t len, cap;
	const char *names[3 + 8];
	unsigned nnames;
	int budget;
};

static void emit_text(struct gen *g, const char *s)
{
	size_t n = strlen(s);

	if (g->len + n + 1 > g->cap) {
		g->cap = (g->len + n + 1) * 2;
		g->src = realloc(g->src, g->cap);
		cr_assert_not_null(g->src);
	}
	memcpy(g->src + g->len, s, n + 1);
	g->len += n;
}

static void emit_expr(struct gen *g, int depth)
{
	static const int64_t zeros[3 + 8];
	struct node e = gen_expr(g->r, depth, g->names, zeros, g->nnames);

	emit_text(g, e.text);
	free(e.text);
}

static const char *const locals[] = {"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"};

/* A variable to assign: an existing one, or the next new local. */
static const char *target(struct gen *g, int *fresh)
{
	unsigned nlocal = g->nnames - 3;

	*fresh = nlocal < N(locals) && below(g->r, 3) == 0;
	return *fresh ? locals[nlocal] : g->names[below(g->r, g->nnames)];
}

static void gen_block(struct gen *g, int depth, const char *tail);

static void gen_if(struct gen *g, int depth)
{
	emit_text(g, "if (");
	emit_expr(g, 1 + (int)below(g->r, 2));
	emit_text(g, ") ");
	gen_block(g, depth - 1, NULL);
	if (below(g->r, 2)) {
		emit_text(g, " else ");
		if (below(g->r, 3) == 0)
			gen_if(g, depth - 1 > 0 ? depth - 1 : 1);
		else
			gen_block(g, depth - 1, NULL);
	}
}

static void gen_stmt(struct gen *g, int depth)
{
	unsigned k = below(g->r, 100);
	int fresh;

	if (k < 55 || depth == 0) {
		const char *v = target(g, &fresh);

		emit_text(g, v);
		emit_text(g, " = ");
		emit_expr(g, 1 + (int)below(g->r, 3));
		emit_text(g, ";\n");
		if (fresh)
			g->names[g->nnames++] = v;
	} else if (k < 75) {
		gen_if(g, depth);
		emit_text(g, "\n");
	} else if (k < 92) {
		if (below(g->r, 2)) {
			/* A counted loop: the body may still change the counter. */
			const char *v = target(g, &fresh);
			char bound[16], *tail;

			emit_text(g, v);
			emit_text(g, " = 0;\n");
			if (fresh)
				g->names[g->nnames++] = v;
			snprintf(bound, sizeof(bound), "%u", below(g->r, 8));
			emit_text(g, "while (");
			emit_text(g, v);
			emit_text(g, " < ");
			emit_text(g, bound);
			emit_text(g, ") ");
			tail = cat(v, " = ", v, " + 1;\n", "");
			gen_block(g, depth - 1, tail);
			free(tail);
		} else {
			emit_text(g, "while (");
			emit_expr(g, 1 + (int)below(g->r, 2));
			emit_text(g, ") ");
			gen_block(g, depth - 1, NULL);
		}
		emit_text(g, "\n");
	} else {
		emit_text(g, "return ");
		emit_expr(g, 1 + (int)below(g->r, 3));
		emit_text(g, ";\n");
	}
}

static void gen_block(struct gen *g, int depth, const char *tail)
{
	unsigned n = 1 + below(g->r, 3);

	emit_text(g, "{\n");
	for (unsigned i = 0; i < n && g->budget > 0; i++, g->budget--)
		gen_stmt(g, depth);
	if (tail)
		emit_text(g, tail);
	emit_text(g, "}");
}

/* A random program of a few dozen statements, nested up to three deep. */
static char *gen_program(struct rng *r)
{
	struct gen g = {.r = r, .names = {"a", "b", "c"}, .nnames = 3, .budget = 24};
	unsigned n = 2 + below(r, 6);

	emit_text(&g, "// generated\n");
	for (unsigned i = 0; i < n && g.budget > 0; i++, g.budget--)
		gen_stmt(&g, 3);
	if (below(r, 2)) {
		emit_text(&g, "return ");
		emit_expr(&g, 2);
		emit_text(&g, ";\n");
	}
	return g.src;
}

Test(random, programs_compiled_and_interpreted_agree)
{
	static const uint64_t limits[] = {0, 1, 3, 17, 100};
	struct rng r = {77};
	unsigned outcome[3] = {0, 0, 0};
	size_t biggest = 0;

	for (int i = 0; i < 3000; i++) {
		char *src = gen_program(&r);
		size_t len;

		parse_ok(src);
		prog.limit = limits[below(&r, N(limits))];
		len = compile_ok(&prog, code, sizeof(code));
		cr_assert(len <= lang_code_bound(prog.ninsns), "%zu bytes > bound for %u instructions", len,
			  prog.ninsns);
		if (i % 10 == 0)
			verify_code(code, len);
		biggest = prog.ninsns > biggest ? prog.ninsns : biggest;
		for (int k = 0; k < 4; k++) {
			int64_t v;
			int st = run_both(&prog, random_value(&r), random_value(&r), random_value(&r), &v);

			outcome[st]++;
		}
		free(src);
	}
	/* Every outcome shows up often, and the programs are not trivial. */
	cr_assert(outcome[LANG_OK] > 1000 && outcome[LANG_EDIV] > 300 && outcome[LANG_ELIMIT] > 300,
		  "ok %u, ediv %u, elimit %u", outcome[LANG_OK], outcome[LANG_EDIV], outcome[LANG_ELIMIT]);
	cr_assert(biggest > 150, "largest program %zu instructions", biggest);
}

Test(compile, code_size_stays_within_the_bound)
{
	char src[16384];
	size_t n = 0, len;

	/* The costliest pattern: % of two computed values kept in far stack slots, 29 locals. */
	for (int i = 3; i < LANG_MAX_VARS; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "v%d = %d;\n", i, i);
	while (n < sizeof(src) - 200)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "v31 = (v30 + 0x123456789) %% (v29 - 0x123456789);\n");
	cr_assert_eq(lang_parse(src, &prog, NULL), LANG_ESYNTAX, "the source is larger than a program may be");
	/* Cut it to what fits. */
	while (lang_parse(src, &prog, NULL) != LANG_OK) {
		char *last = strrchr(src, 'v');

		while (last > src && last[-1] != '\n')
			last--;
		*last = '\0';
	}
	cr_assert(prog.ninsns > LANG_MAX_INSNS - 16);
	len = compile_ok(&prog, code, sizeof(code));
	cr_assert(len <= lang_code_bound(prog.ninsns), "%zu > %zu", len, lang_code_bound(prog.ninsns));
	cr_assert(lang_code_bound(LANG_MAX_INSNS) <= sizeof(code));
	verify_code(code, len);
}

/* ---------------------------------------------------------------- objdump */

/* Collapse runs of blanks into one space and drop trailing blanks. */
static void squeeze(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		if (*p == ' ' || *p == '\t') {
			if (w > s && w[-1] != ' ')
				*w++ = ' ';
		} else if (*p != '\n') {
			*w++ = *p;
		}
	}
	while (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
}

/* Disassemble code with GNU objdump and compare every instruction with lang_disasm. */
static unsigned compare_with_objdump(const uint8_t *bytes, size_t len)
{
	char path[64], cmd[256], line[512], text[80];
	unsigned checked = 0;
	int fd;
	FILE *out;

	snprintf(path, sizeof(path), "/tmp/jitlang-objdump-%d.bin", (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, bytes, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "objdump -D -b binary -m i386:x86-64 -M intel --insn-width=16 %s", path);
	out = popen(cmd, "r");
	cr_assert_not_null(out);
	while (fgets(line, sizeof(line), out)) {
		char *tab1 = strchr(line, '\t'), *tab2;
		size_t off, ilen;

		if (!tab1 || !(tab2 = strchr(tab1 + 1, '\t')) || sscanf(line, " %zx:", &off) != 1)
			continue;
		squeeze(tab2 + 1);
		cr_assert_eq(lang_disasm(bytes, len, off, text, sizeof(text), &ilen), LANG_OK, "%#zx: %s", off,
			     tab2 + 1);
		cr_assert_str_eq(text, tab2 + 1, "at %#zx", off);
		checked++;
	}
	pclose(out);
	unlink(path);
	return checked;
}

Test(compile, disassembly_matches_objdump)
{
	const char *const srcs[] = {factorial,
				    gcd,
				    collatz,
				    primes,
				    quadrant,
				    "x = 0x123456789abc; y = -5; z = 0xffffffff; w = 0x80000000; v = -2147483648;"
				    "return a * 3 + a * 1000 + a * x + (a < b) + (a >= 0x123456789) + a / y + a % 0x7"
				    "+ !a + -b + (a && b) + (a || c) + x / (y + 1) + w % (z - 1) + v;"};
	struct rng r = {5};
	unsigned checked = 0;

	if (system("objdump --version > /dev/null 2>&1") != 0)
		cr_skip_test("GNU objdump is not installed");
	for (size_t s = 0; s < N(srcs); s++) {
		parse_ok(srcs[s]);
		checked += compare_with_objdump(code, compile_ok(&prog, code, sizeof(code)));
	}
	for (int i = 0; i < 40; i++) {
		char *src = gen_program(&r);

		parse_ok(src);
		prog.limit = rnd(&r) >> below(&r, 64);
		checked += compare_with_objdump(code, compile_ok(&prog, code, sizeof(code)));
		free(src);
	}
	cr_assert(checked > 2000, "only %u instructions compared", checked);
}
