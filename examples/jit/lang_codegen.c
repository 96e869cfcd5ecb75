/* SPDX-License-Identifier: MIT */
/*
 * x86-64 code generator.
 *
 * The operand stack of the bytecode is mapped statically: lang_flow gives its
 * depth d before every instruction, so the top of the stack lives in %rax and
 * element k (k < d-1) in the frame slot SLOT(k).  Frame at %rsp:
 *
 *   [rsp+0]              result pointer (the 4th argument, %rcx)
 *   [rsp+8 .. 8*nvars]   variables: a, b, c, then the program's own
 *   [then]               operand slots
 *
 * %r8 counts the loop iterations left, %r11 holds a right operand, %rdx and
 * %r11 are clobbered by idiv.  Callee-saved registers are never touched.
 *
 * Two passes over the same emitter: the first only measures (all jumps
 * between instructions are rel32, so sizes do not depend on distances), the
 * second writes with every offset known.
 */
#include <string.h>

#include "lang_impl.h"

enum reg { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11 };

/* Condition codes (the low nibble of jcc and setcc). */
enum cc {
	CC_O = 0x0,
	CC_B = 0x2,
	CC_AE = 0x3,
	CC_E = 0x4,
	CC_NE = 0x5,
	CC_L = 0xc,
	CC_GE = 0xd,
	CC_LE = 0xe,
	CC_G = 0xf
};

/* Label numbers beyond the bytecode indexes. */
enum { L_RET = LANG_MAX_INSNS, L_EDIV, L_ELIMIT, L_COUNT };

struct gen {
	uint8_t *buf; /* NULL in the measuring pass */
	size_t len;
	const struct lang_prog *prog;
	const struct lang_flow *flow;
	uint32_t label[L_COUNT]; /* code offset of every bytecode instruction and exit */
	unsigned frame;		 /* bytes reserved below the return address */
};

static void put(struct gen *g, uint8_t b)
{
	if (g->buf)
		g->buf[g->len] = b;
	g->len++;
}

static void put32(struct gen *g, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		put(g, (uint8_t)(v >> (8 * i)));
}

static void put64(struct gen *g, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		put(g, (uint8_t)(v >> (8 * i)));
}

static int fits8(int64_t v)
{
	return v >= -128 && v <= 127;
}

static int fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static unsigned var_disp(unsigned v)
{
	return 8 + 8 * v;
}

static unsigned slot_disp(const struct gen *g, unsigned k)
{
	return 8 + 8 * g->prog->nvars + 8 * k;
}

/* REX.W with the high bits of the ModRM reg and rm fields. */
static void rex_w(struct gen *g, unsigned reg, unsigned rm)
{
	put(g, (uint8_t)(0x48 | (reg >> 3) << 2 | (rm >> 3)));
}

static void modrm_reg(struct gen *g, unsigned reg, unsigned rm)
{
	put(g, (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7)));
}

/* ModRM (+SIB, +displacement) for [rsp+disp]. */
static void modrm_rsp(struct gen *g, unsigned reg, unsigned disp)
{
	if (disp == 0) {
		put(g, (uint8_t)(0x04 | (reg & 7) << 3));
		put(g, 0x24);
	} else if (disp <= 127) {
		put(g, (uint8_t)(0x44 | (reg & 7) << 3));
		put(g, 0x24);
		put(g, (uint8_t)disp);
	} else {
		put(g, (uint8_t)(0x84 | (reg & 7) << 3));
		put(g, 0x24);
		put32(g, disp);
	}
}

/* op reg, r/m64 with a one-byte opcode (or 0x0f-prefixed when op > 0xff). */
static void op_rr(struct gen *g, unsigned op, unsigned reg, unsigned rm)
{
	rex_w(g, reg, rm);
	if (op > 0xff)
		put(g, (uint8_t)(op >> 8));
	put(g, (uint8_t)op);
	modrm_reg(g, reg, rm);
}

static void op_rm(struct gen *g, unsigned op, unsigned reg, unsigned disp)
{
	rex_w(g, reg, RSP);
	if (op > 0xff)
		put(g, (uint8_t)(op >> 8));
	put(g, (uint8_t)op);
	modrm_rsp(g, reg, disp);
}

enum {
	OP_ADD = 0x03,
	OP_SUB = 0x2b,
	OP_CMP = 0x3b,
	OP_MOV_LOAD = 0x8b,
	OP_MOV_STORE = 0x89,
	OP_TEST = 0x85,
	OP_IMUL = 0x0faf,
};

static void mov_load(struct gen *g, unsigned reg, unsigned disp)
{
	op_rm(g, OP_MOV_LOAD, reg, disp);
}

static void mov_store(struct gen *g, unsigned disp, unsigned reg)
{
	op_rm(g, OP_MOV_STORE, reg, disp);
}

/* add/sub/cmp r64, imm: group 1 (0x83 ib or 0x81 id) with digit 0, 5 or 7. */
static void alu_imm(struct gen *g, unsigned digit, unsigned reg, int32_t imm)
{
	rex_w(g, 0, reg);
	put(g, fits8(imm) ? 0x83 : 0x81);
	modrm_reg(g, digit, reg);
	if (fits8(imm))
		put(g, (uint8_t)imm);
	else
		put32(g, (uint32_t)imm);
}

/* The shortest move of a 64-bit constant into reg. */
static void mov_imm(struct gen *g, unsigned reg, uint64_t v)
{
	if (v == 0 && reg < R8) {
		put(g, 0x31); /* xor r32, r32 */
		modrm_reg(g, reg, reg);
	} else if (v <= UINT32_MAX) {
		if (reg >= R8)
			put(g, 0x41);
		put(g, (uint8_t)(0xb8 + (reg & 7))); /* mov r32, imm32 (zero-extends) */
		put32(g, (uint32_t)v);
	} else if (fits32((int64_t)v)) {
		rex_w(g, 0, reg);
		put(g, 0xc7); /* mov r/m64, imm32 (sign-extends) */
		modrm_reg(g, 0, reg);
		put32(g, (uint32_t)v);
	} else {
		rex_w(g, 0, reg);
		put(g, (uint8_t)(0xb8 + (reg & 7))); /* movabs */
		put64(g, v);
	}
}

static void mov_rr(struct gen *g, unsigned dst, unsigned src)
{
	op_rr(g, OP_MOV_LOAD, dst, src);
}

/* neg (digit 3) or idiv (digit 7) of a 64-bit register. */
static void group3(struct gen *g, unsigned digit, unsigned reg)
{
	rex_w(g, 0, reg);
	put(g, 0xf7);
	modrm_reg(g, digit, reg);
}

static void cqo(struct gen *g)
{
	put(g, 0x48);
	put(g, 0x99);
}

/* setcc al; movzx eax, al */
static void set_bool(struct gen *g, enum cc cc)
{
	put(g, 0x0f);
	put(g, (uint8_t)(0x90 | cc));
	put(g, 0xc0);
	put(g, 0x0f);
	put(g, 0xb6);
	put(g, 0xc0);
}

static void ret(struct gen *g)
{
	put(g, 0xc3);
}

/* jcc or jmp (cc < 0) rel32 to a label. */
static void jump(struct gen *g, int cc, unsigned label)
{
	if (cc < 0) {
		put(g, 0xe9);
	} else {
		put(g, 0x0f);
		put(g, (uint8_t)(0x80 | cc));
	}
	put32(g, g->buf ? g->label[label] - (uint32_t)(g->len + 4) : 0);
}

/* jcc or jmp (cc < 0) rel8 over the next skip bytes. */
static void jump_short(struct gen *g, int cc, uint8_t skip)
{
	put(g, cc < 0 ? 0xeb : (uint8_t)(0x70 | cc));
	put(g, skip);
}

/* A right operand: a register, a frame slot or a constant. */
struct operand {
	enum { OPND_REG, OPND_MEM, OPND_IMM } kind;
	unsigned where; /* register or displacement */
	int64_t imm;
};

/* rax = rax OP operand for add, sub, cmp and imul. */
static void alu(struct gen *g, unsigned op, struct operand x)
{
	if (x.kind == OPND_IMM && fits32(x.imm)) {
		if (op == OP_IMUL) {
			rex_w(g, RAX, RAX);
			put(g, fits8(x.imm) ? 0x6b : 0x69);
			modrm_reg(g, RAX, RAX);
			if (fits8(x.imm))
				put(g, (uint8_t)x.imm);
			else
				put32(g, (uint32_t)x.imm);
		} else {
			alu_imm(g, op == OP_ADD ? 0 : op == OP_SUB ? 5 : 7, RAX, (int32_t)x.imm);
		}
		return;
	}
	if (x.kind == OPND_IMM) {
		mov_imm(g, R11, (uint64_t)x.imm);
		x = (struct operand){.kind = OPND_REG, .where = R11};
	}
	if (x.kind == OPND_REG)
		op_rr(g, op, RAX, x.where);
	else
		op_rm(g, op, RAX, x.where);
}

/*
 * rax = rax / r11 or rax % r11.  A zero divisor stops with LANG_EDIV; so does
 * -1 when rax is INT64_MIN (neg sets OF exactly then), the case where idiv
 * itself would fault.
 *
 *     test r11, r11 ; jz EDIV ; cmp r11, -1 ; jne do
 *     neg rax ; jo EDIV ; [xor eax, eax] ; jmp done
 * do: cqo ; idiv r11 ; [mov rax, rdx]
 * done:
 */
static void divide_by_r11(struct gen *g, int mod)
{
	op_rr(g, OP_TEST, R11, R11);
	jump(g, CC_E, L_EDIV);
	alu_imm(g, 7, R11, -1);
	jump_short(g, CC_NE, mod ? 13 : 11);
	group3(g, 3, RAX);
	jump(g, CC_O, L_EDIV);
	if (mod)
		mov_imm(g, RAX, 0);
	jump_short(g, -1, mod ? 8 : 5);
	cqo(g);
	group3(g, 7, R11);
	if (mod)
		mov_rr(g, RAX, RDX);
}

static void divide(struct gen *g, int mod, struct operand x)
{
	if (x.kind == OPND_IMM) {
		if (x.imm == 0) {
			jump(g, -1, L_EDIV);
			return;
		}
		if (x.imm == -1) {
			group3(g, 3, RAX);
			jump(g, CC_O, L_EDIV);
			if (mod)
				mov_imm(g, RAX, 0);
			return;
		}
		mov_imm(g, R11, (uint64_t)x.imm);
		cqo(g);
		group3(g, 7, R11);
		if (mod)
			mov_rr(g, RAX, RDX);
		return;
	}
	if (x.kind == OPND_MEM)
		mov_load(g, R11, x.where);
	divide_by_r11(g, mod);
}

static int is_binary(unsigned op)
{
	return op >= LANG_OP_ADD && op <= LANG_OP_NE;
}

static enum cc compare_cc(unsigned op)
{
	static const enum cc ccs[] = {
	    [LANG_OP_LT - LANG_OP_LT] = CC_L,  [LANG_OP_LE - LANG_OP_LT] = CC_LE, [LANG_OP_GT - LANG_OP_LT] = CC_G,
	    [LANG_OP_GE - LANG_OP_LT] = CC_GE, [LANG_OP_EQ - LANG_OP_LT] = CC_E,  [LANG_OP_NE - LANG_OP_LT] = CC_NE,
	};

	return ccs[op - LANG_OP_LT];
}

/* After popping down to depth d, bring the new top into rax (mov leaves the flags alone). */
static void reload(struct gen *g, unsigned d)
{
	if (d >= 1)
		mov_load(g, RAX, slot_disp(g, d - 1));
}

/* Before pushing onto depth d, move the old top out of rax. */
static void spill(struct gen *g, unsigned d)
{
	if (d >= 1)
		mov_store(g, slot_disp(g, d - 1), RAX);
}

/* Can instruction i be folded into the code of i-1 (no jump lands on it)? */
static int foldable(const struct gen *g, unsigned i)
{
	return i < g->prog->ninsns && !g->flow->target[i];
}

/*
 * Binary operator at index i, left operand in rax, right one in x, stack depth
 * d before it.  Returns how many instructions after i it folded in too.
 */
static unsigned binary(struct gen *g, unsigned i, unsigned d, struct operand x)
{
	unsigned op = g->prog->code[i].op;

	switch (op) {
	case LANG_OP_ADD:
		alu(g, OP_ADD, x);
		return 0;
	case LANG_OP_SUB:
		alu(g, OP_SUB, x);
		return 0;
	case LANG_OP_MUL:
		alu(g, OP_IMUL, x);
		return 0;
	case LANG_OP_DIV:
	case LANG_OP_MOD:
		divide(g, op == LANG_OP_MOD, x);
		return 0;
	default:
		break;
	}
	alu(g, OP_CMP, x);
	if (foldable(g, i + 1)) {
		const struct lang_insn *next = &g->prog->code[i + 1];

		if (next->op == LANG_OP_JZ || next->op == LANG_OP_JNZ) {
			enum cc cc = compare_cc(op);

			reload(g, d - 2);
			jump(g, next->op == LANG_OP_JZ ? (int)(cc ^ 1) : (int)cc, next->target);
			return 1;
		}
	}
	set_bool(g, compare_cc(op));
	return 0;
}

/* Code of instruction i; returns how many instructions it covered. */
static unsigned insn(struct gen *g, unsigned i)
{
	const struct lang_insn *in = &g->prog->code[i];
	unsigned d = g->flow->depth[i];
	struct operand x;

	switch (in->op) {
	case LANG_OP_CONST:
	case LANG_OP_LOAD:
		if (in->op == LANG_OP_CONST)
			x = (struct operand){.kind = OPND_IMM, .imm = in->imm};
		else
			x = (struct operand){.kind = OPND_MEM, .where = var_disp(in->var)};
		/* Push then operate: use the value as the operator's right operand directly. */
		if (d >= 1 && foldable(g, i + 1) && is_binary(g->prog->code[i + 1].op))
			return 2 + binary(g, i + 1, d + 1, x);
		spill(g, d);
		if (x.kind == OPND_IMM)
			mov_imm(g, RAX, (uint64_t)x.imm);
		else
			mov_load(g, RAX, x.where);
		return 1;
	case LANG_OP_STORE:
		mov_store(g, var_disp(in->var), RAX);
		reload(g, d - 1);
		return 1;
	case LANG_OP_NEG:
		group3(g, 3, RAX);
		return 1;
	case LANG_OP_NOT:
	case LANG_OP_BOOL:
		op_rr(g, OP_TEST, RAX, RAX);
		set_bool(g, in->op == LANG_OP_NOT ? CC_E : CC_NE);
		return 1;
	case LANG_OP_JMP:
		jump(g, -1, in->target);
		return 1;
	case LANG_OP_JZ:
	case LANG_OP_JNZ:
		op_rr(g, OP_TEST, RAX, RAX);
		reload(g, d - 1);
		jump(g, in->op == LANG_OP_JZ ? CC_E : CC_NE, in->target);
		return 1;
	case LANG_OP_LOOP:
		/* sub r8, 1 borrows exactly when no iteration is left. */
		alu_imm(g, 5, R8, 1);
		jump(g, CC_AE, in->target);
		jump(g, -1, L_ELIMIT);
		return 1;
	case LANG_OP_RET:
		/* The last instruction falls through into the exit path. */
		if (i + 1 < g->prog->ninsns)
			jump(g, -1, L_RET);
		return 1;
	default: /* binary operator: right operand on top (rax), left one in its slot */
		mov_rr(g, R11, RAX);
		mov_load(g, RAX, slot_disp(g, d - 2));
		return 1 + binary(g, i, d, (struct operand){.kind = OPND_REG, .where = R11});
	}
}

static void exit_status(struct gen *g, unsigned label, unsigned status)
{
	g->label[label] = (uint32_t)g->len;
	mov_imm(g, RAX, status);
	alu_imm(g, 0, RSP, (int32_t)g->frame);
	ret(g);
}

static void generate(struct gen *g)
{
	const struct lang_prog *p = g->prog;

	/* Prologue: frame, result pointer, parameters, zeroed variables, iteration budget. */
	alu_imm(g, 5, RSP, (int32_t)g->frame);
	mov_store(g, 0, RCX);
	mov_store(g, var_disp(0), RDI);
	mov_store(g, var_disp(1), RSI);
	mov_store(g, var_disp(2), RDX);
	if (p->nvars > 3) {
		mov_imm(g, RAX, 0);
		for (unsigned v = 3; v < p->nvars; v++)
			mov_store(g, var_disp(v), RAX);
	}
	if (g->flow->loops)
		mov_imm(g, R8, p->limit);

	for (unsigned i = 0; i < p->ninsns;) {
		unsigned n;

		g->label[i] = (uint32_t)g->len;
		n = insn(g, i);
		/* Instructions folded into i are never jump targets; their labels are unused. */
		for (unsigned k = 1; k < n; k++)
			g->label[i + k] = (uint32_t)g->len;
		i += n;
	}

	/* Exits: store the value (rax) through the result pointer and return LANG_OK, or return an error. */
	g->label[L_RET] = (uint32_t)g->len;
	mov_load(g, RCX, 0);
	rex_w(g, RAX, RCX);
	put(g, OP_MOV_STORE);
	put(g, 0x01); /* [rcx], rax */
	mov_imm(g, RAX, LANG_OK);
	alu_imm(g, 0, RSP, (int32_t)g->frame);
	ret(g);
	exit_status(g, L_EDIV, LANG_EDIV);
	exit_status(g, L_ELIMIT, LANG_ELIMIT);
}

size_t lang_code_bound(unsigned ninsns)
{
	/*
	 * Prologue at most 7 + 4 + 3 * 5 + 2 + 29 * 8 + 10 = 270 bytes, exits 17 + 2 * 13;
	 * one instruction at most 47 (a MOD with both operands on the stack), two
	 * folded into one piece of code at most 49.
	 */
	return 512 + (size_t)ninsns * 48;
}

int lang_compile(const struct lang_prog *prog, uint8_t *code, size_t cap, size_t *len, struct lang_error *err)
{
	struct lang_flow flow;
	struct gen g;
	struct lang_str s;

	if (err)
		*err = (struct lang_error){0};
	if (!prog || !len || (!code && cap)) {
		lang_error_set(err, 0, 0, "invalid argument", NULL, NULL);
		return LANG_EINVAL;
	}
	if (lang_flow(prog, &flow) != LANG_OK) {
		lang_error_set(err, 0, 0, "malformed program", NULL, NULL);
		return LANG_EINVAL;
	}
	memset(&g, 0, sizeof(g));
	g.prog = prog;
	g.flow = &flow;
	/* Result pointer, variables, operand slots below the top; with the return address a multiple of 16. */
	g.frame = 8 + 8 * prog->nvars + 8 * (flow.maxdepth ? flow.maxdepth - 1 : 0);
	if (g.frame % 16 != 8)
		g.frame += 8;

	generate(&g);
	if (g.len > cap) {
		if (err) {
			err->line = 0;
			err->column = 0;
			lang_str_init(&s, err->msg, sizeof(err->msg));
			lang_str_add(&s, "code buffer too small: ");
			lang_str_dec(&s, g.len);
			lang_str_add(&s, " bytes needed");
		}
		*len = g.len;
		return LANG_ENOSPC;
	}
	g.buf = code;
	g.len = 0;
	generate(&g);
	*len = g.len;
	return LANG_OK;
}
