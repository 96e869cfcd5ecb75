/* SPDX-License-Identifier: MIT */
/*
 * A tiny language over 64-bit signed integers, its interpreter and its x86-64
 * code generator (docs/jit-language.md).
 *
 * Freestanding: no allocation and no libc beyond memcpy, memset, memcmp and
 * strlen, so the same code runs inside an enclave.  The caller provides every
 * buffer: the program (struct lang_prog), the error record and the code buffer.
 *
 *   lang_parse    source text -> struct lang_prog (checked bytecode)
 *   lang_interp   runs a program
 *   lang_compile  program -> position-independent machine code of
 *                 int64_t f(int64_t a, int64_t b, int64_t c, int64_t *result)
 *   lang_disasm   one instruction of the generated code as text
 *
 * The interpreter and the compiled code give the same status and result for
 * every program and every input, loop limit included.
 */
#ifndef SGXEMU_JIT_LANG_H
#define SGXEMU_JIT_LANG_H

#include <stddef.h>
#include <stdint.h>

/* Status codes.  The generated code returns only the first three. */
enum lang_status {
	LANG_OK = 0,	  /* the program returned; *result holds its value */
	LANG_EDIV = 1,	  /* division or modulo by zero, or INT64_MIN / -1 (or % -1) */
	LANG_ELIMIT = 2,  /* the program tried to run more loop iterations than its limit */
	LANG_ESYNTAX = 3, /* lang_parse: the source is not a valid program (see struct lang_error) */
	LANG_ENOSPC = 4,  /* lang_compile: the code buffer is too small; lang_disasm: text buffer too small */
	LANG_EINVAL = 5,  /* a NULL argument, or a malformed struct lang_prog (see lang_check) */
};

#define LANG_MAX_VARS	   32	   /* variables, the parameters a, b, c included */
#define LANG_MAX_NAME	   31	   /* characters in a variable name */
#define LANG_MAX_INSNS	   1024	   /* bytecode instructions in one program */
#define LANG_MAX_STACK	   32	   /* operand stack depth while evaluating an expression */
#define LANG_MAX_NESTING   32	   /* nested blocks, parentheses, unary operators, else-if links */
#define LANG_DEFAULT_LIMIT 1000000 /* loop iterations allowed in one run (struct lang_prog.limit) */

/* Bytecode of a stack machine; each instruction's effect on the operand stack in brackets. */
enum lang_op {
	LANG_OP_CONST, /* [-- imm] */
	LANG_OP_LOAD,  /* [-- var] */
	LANG_OP_STORE, /* [x --] var = x */
	LANG_OP_ADD,   /* [x y -- x+y] wrapping; likewise SUB, MUL */
	LANG_OP_SUB,
	LANG_OP_MUL,
	LANG_OP_DIV, /* [x y -- x/y] truncating; stops with LANG_EDIV on y == 0 or x == INT64_MIN, y == -1 */
	LANG_OP_MOD, /* [x y -- x%y] sign of x; same errors as DIV */
	LANG_OP_LT,  /* [x y -- x<y] 1 or 0; likewise LE GT GE EQ NE */
	LANG_OP_LE,
	LANG_OP_GT,
	LANG_OP_GE,
	LANG_OP_EQ,
	LANG_OP_NE,
	LANG_OP_NEG,  /* [x -- -x] wrapping */
	LANG_OP_NOT,  /* [x -- x==0] */
	LANG_OP_BOOL, /* [x -- x!=0] */
	LANG_OP_JMP,  /* [--] go to target, which lies after this instruction */
	LANG_OP_JZ,   /* [x --] go to target (after this instruction) if x == 0 */
	LANG_OP_JNZ,  /* [x --] go to target (after this instruction) if x != 0 */
	LANG_OP_LOOP, /* [--] go back to target (this instruction or one before): one loop iteration,
			 LANG_ELIMIT when the program's limit is used up.  The only backward jump. */
	LANG_OP_RET,  /* [x --] return x */
	LANG_OP_COUNT
};

struct lang_insn {
	uint8_t op;	 /* enum lang_op */
	uint8_t var;	 /* LOAD, STORE: variable index */
	uint16_t target; /* JMP, JZ, JNZ, LOOP: instruction index */
	int64_t imm;	 /* CONST: the value */
};

/* A parsed program.  Variables 0, 1, 2 are the parameters a, b, c; the others start at 0. */
struct lang_prog {
	uint64_t limit;	 /* LOOP instructions allowed per run; lang_parse sets LANG_DEFAULT_LIMIT */
	uint16_t ninsns; /* instructions used in code[] */
	uint8_t nvars;	 /* variables used in names[], at least 3 */
	char names[LANG_MAX_VARS][LANG_MAX_NAME + 1];
	struct lang_insn code[LANG_MAX_INSNS];
};

/* Where and why parsing or compiling failed. */
struct lang_error {
	int line;     /* 1-based; 0 when the error has no place in the source */
	int column;   /* 1-based, in bytes */
	char msg[96]; /* e.g. "expected ')'", "unknown variable 'x'", "program too large" */
};

/*
 * Parse NUL-terminated source text into *prog.
 * Return: LANG_OK; LANG_ESYNTAX with *err filled; LANG_EINVAL if an argument is NULL.
 */
int lang_parse(const char *src, struct lang_prog *prog, struct lang_error *err);

/*
 * Check that *prog is well formed: operations, variable indexes and jump targets
 * in range, a consistent operand stack depth at every instruction within
 * LANG_MAX_STACK, no backward jump but LOOP (so every run ends), no way to run
 * past the last instruction.  Every program from
 * lang_parse passes; lang_interp and lang_compile check before they run or emit.
 * Return: LANG_OK or LANG_EINVAL.
 */
int lang_check(const struct lang_prog *prog);

/*
 * Run *prog with parameters a, b, c.
 * Return: LANG_OK with *result set; LANG_EDIV or LANG_ELIMIT with *result
 * untouched; LANG_EINVAL for a NULL argument or a malformed program.
 */
int lang_interp(const struct lang_prog *prog, int64_t a, int64_t b, int64_t c, int64_t *result);

/* Signature of compiled code (System V AMD64).  Returns LANG_OK, LANG_EDIV or LANG_ELIMIT like lang_interp. */
typedef int64_t (*lang_fn)(int64_t a, int64_t b, int64_t c, int64_t *result);

/*
 * Compile *prog to x86-64 machine code in code[0..cap).  The code is
 * position-independent (relative jumps only, no calls, no absolute addresses),
 * touches only its own stack frame and *result, preserves every callee-saved
 * register and keeps %rsp 16-byte aligned inside its frame.
 * Return: LANG_OK with *len set; LANG_ENOSPC if cap is too small, with *len
 * set to the size needed and nothing written (code NULL with cap 0 asks only
 * the size); LANG_EINVAL for a NULL argument or a malformed program.  err may
 * be NULL.
 */
int lang_compile(const struct lang_prog *prog, uint8_t *code, size_t cap, size_t *len, struct lang_error *err);

/* An upper bound of the machine code size of any program of ninsns instructions. */
size_t lang_code_bound(unsigned ninsns);

/*
 * Describe the machine instruction at code[off] (as produced by lang_compile)
 * in Intel syntax, e.g. "mov rax,QWORD PTR [rsp+0x18]" or "jl 0x4a" (jump
 * targets as offsets from code[0]).  Writes a NUL-terminated string to
 * text[0..cap) and the instruction's length to *ilen.
 * Return: LANG_OK; LANG_EINVAL for bytes lang_compile never emits (or a
 * truncated instruction); LANG_ENOSPC if text is too small.
 */
int lang_disasm(const uint8_t *code, size_t len, size_t off, char *text, size_t cap, size_t *ilen);

/* A summary of generated code, for transcripts. */
struct lang_code_info {
	size_t size;	/* bytes */
	unsigned insns; /* machine instructions */
	unsigned jumps; /* of which jumps (jmp, jcc) */
	unsigned frame; /* bytes of stack frame the prologue reserves */
};

/*
 * Decode code[0..len) from lang_compile and summarize it.
 * Return: LANG_OK; LANG_EINVAL if the bytes are not code lang_compile emits.
 */
int lang_code_describe(const uint8_t *code, size_t len, struct lang_code_info *info);

/* Name of a status code: "LANG_OK", "LANG_EDIV", ... */
const char *lang_status_name(int status);

#endif
