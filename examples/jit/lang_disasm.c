/* SPDX-License-Identifier: MIT */
/*
 * A decoder for exactly the instruction forms lang_codegen.c emits, printing
 * them the way GNU objdump -M intel does, so a transcript can show the code
 * and tests can compare against an independent disassembler.  Any other byte
 * sequence is rejected.
 */
#include <string.h>

#include "lang_impl.h"

static const char *const reg64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
				      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
static const char *const reg32[16] = {"eax", "ecx", "edx",  "ebx",  "esp",  "ebp",  "esi",  "edi",
				      "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
static const char *const cc_name[16] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
					"s", "ns", "p", "np", "l", "ge", "le", "g"};

struct dec {
	const uint8_t *code;
	size_t len, pos; /* pos: next byte to read */
	int bad;
	unsigned rex;
	struct lang_str *out;
	int jump; /* the instruction is a jmp or jcc */
};

static uint8_t byte(struct dec *d)
{
	if (d->pos >= d->len) {
		d->bad = 1;
		return 0;
	}
	return d->code[d->pos++];
}

static int64_t sbytes(struct dec *d, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)byte(d) << (8 * i);
	if (n < 8 && (v >> (8 * n - 1) & 1))
		v |= ~0ULL << (8 * n);
	return (int64_t)v;
}

static void add(struct dec *d, const char *s)
{
	lang_str_add(d->out, s);
}

static void hex(struct dec *d, uint64_t v)
{
	lang_str_hex(d->out, v);
}

/* ModRM: the reg field (with REX.R) in *reg; the r/m operand printed as a 64-bit register or memory. */
static void modrm(struct dec *d, unsigned *reg, int *is_mem, char *rm_text, size_t cap)
{
	uint8_t m = byte(d);
	unsigned mod = m >> 6, rm = (m & 7) | (d->rex & 1) << 3;
	struct lang_str s;
	int64_t disp = 0;

	*reg = ((m >> 3) & 7) | (d->rex >> 2 & 1) << 3;
	*is_mem = mod != 3;
	lang_str_init(&s, rm_text, cap);
	if (mod == 3) {
		lang_str_add(&s, reg64[rm]);
		return;
	}
	if ((m & 7) == 4 && byte(d) != 0x24) /* SIB: only base without index */
		d->bad = 1;
	if (mod == 0 && (m & 7) == 5) /* RIP-relative: never emitted */
		d->bad = 1;
	if (mod == 1)
		disp = sbytes(d, 1);
	else if (mod == 2)
		disp = sbytes(d, 4);
	lang_str_add(&s, "QWORD PTR [");
	lang_str_add(&s, reg64[rm]);
	if (disp > 0) {
		lang_str_add(&s, "+");
		lang_str_hex(&s, (uint64_t)disp);
	} else if (disp < 0) {
		lang_str_add(&s, "-");
		lang_str_hex(&s, (uint64_t)-disp);
	} else if (mod != 0) {
		lang_str_add(&s, "+0x0");
	}
	lang_str_add(&s, "]");
}

static void jump_target(struct dec *d, const char *mnemonic, unsigned width)
{
	int64_t rel = sbytes(d, width);

	add(d, mnemonic);
	add(d, " ");
	hex(d, (uint64_t)((int64_t)d->pos + rel));
	d->jump = 1;
}

/* Two-byte opcodes 0f xx. */
static void decode_0f(struct dec *d)
{
	uint8_t op = byte(d);
	char rm[40];
	unsigned reg;
	int mem;

	if (op >= 0x80 && op <= 0x8f && !d->rex) {
		char name[4] = "j";

		memcpy(name + 1, cc_name[op & 15], strlen(cc_name[op & 15]) + 1);
		jump_target(d, name, 4);
	} else if (op >= 0x90 && op <= 0x9f && !d->rex) {
		if (byte(d) != 0xc0)
			d->bad = 1;
		add(d, "set");
		add(d, cc_name[op & 15]);
		add(d, " al");
	} else if (op == 0xb6 && !d->rex) {
		if (byte(d) != 0xc0)
			d->bad = 1;
		add(d, "movzx eax,al");
	} else if (op == 0xaf && (d->rex & 8)) {
		modrm(d, &reg, &mem, rm, sizeof(rm));
		add(d, "imul ");
		add(d, reg64[reg]);
		add(d, ",");
		add(d, rm);
	} else {
		d->bad = 1;
	}
}

static void decode(struct dec *d)
{
	static const struct {
		uint8_t op;
		const char *name;
		int rm_first; /* operand order: r/m then reg */
	} rr[] = {
	    {0x03, "add", 0}, {0x2b, "sub", 0}, {0x3b, "cmp", 0}, {0x8b, "mov", 0}, {0x89, "mov", 1}, {0x85, "test", 1},
	};
	char rm[40];
	unsigned reg;
	int mem, w;
	uint8_t op = byte(d);

	if ((op & 0xf0) == 0x40) {
		d->rex = op;
		op = byte(d);
	}
	w = (d->rex & 8) != 0;
	for (size_t i = 0; i < sizeof(rr) / sizeof(rr[0]); i++) {
		if (rr[i].op != op)
			continue;
		if (!w)
			d->bad = 1;
		modrm(d, &reg, &mem, rm, sizeof(rm));
		add(d, rr[i].name);
		add(d, " ");
		add(d, rr[i].rm_first ? rm : reg64[reg]);
		add(d, ",");
		add(d, rr[i].rm_first ? reg64[reg] : rm);
		return;
	}
	if (op == 0x0f) {
		decode_0f(d);
	} else if (op == 0x31) {
		modrm(d, &reg, &mem, rm, sizeof(rm));
		if (mem || w || d->rex || (d->code[d->pos - 1] & 7) != reg)
			d->bad = 1;
		add(d, "xor ");
		add(d, reg32[reg]);
		add(d, ",");
		add(d, reg32[reg]);
	} else if (op == 0x99 && d->rex == 0x48) {
		add(d, "cqo");
	} else if (op == 0xc3 && !d->rex) {
		add(d, "ret");
	} else if ((op == 0xe9 || op == 0xeb) && !d->rex) {
		jump_target(d, "jmp", op == 0xe9 ? 4 : 1);
	} else if ((op & 0xf0) == 0x70 && !d->rex) {
		char name[4] = "j";

		memcpy(name + 1, cc_name[op & 15], strlen(cc_name[op & 15]) + 1);
		jump_target(d, name, 1);
	} else if ((op & 0xf8) == 0xb8) {
		unsigned r = (op & 7) | (d->rex & 1) << 3;

		if (d->rex & ~9u & 0xf)
			d->bad = 1;
		add(d, w ? "movabs " : "mov ");
		add(d, w ? reg64[r] : reg32[r]);
		add(d, ",");
		hex(d, w ? (uint64_t)sbytes(d, 8) : (uint32_t)sbytes(d, 4));
	} else if ((op == 0x83 || op == 0x81 || op == 0xc7 || op == 0xf7 || op == 0x6b || op == 0x69) && w) {
		static const char *const group1[8] = {"add", NULL, NULL, NULL, NULL, "sub", NULL, "cmp"};
		static const char *const group3[8] = {NULL, NULL, NULL, "neg", NULL, NULL, NULL, "idiv"};
		const char *name;

		modrm(d, &reg, &mem, rm, sizeof(rm));
		if (mem)
			d->bad = 1;
		if (op == 0x6b || op == 0x69) {
			add(d, "imul ");
			add(d, reg64[reg]);
			add(d, ",");
			add(d, rm);
			add(d, ",");
			hex(d, (uint64_t)sbytes(d, op == 0x6b ? 1 : 4));
			return;
		}
		name = op == 0xf7 ? group3[reg & 7] : op == 0xc7 ? (reg & 7) == 0 ? "mov" : NULL : group1[reg & 7];
		if (!name || (reg & 8)) {
			d->bad = 1;
			return;
		}
		add(d, name);
		add(d, " ");
		add(d, rm);
		if (op != 0xf7) {
			add(d, ",");
			hex(d, (uint64_t)sbytes(d, op == 0x83 ? 1 : 4));
		}
	} else {
		d->bad = 1;
	}
}

int lang_disasm(const uint8_t *code, size_t len, size_t off, char *text, size_t cap, size_t *ilen)
{
	struct lang_str s;
	struct dec d = {.code = code, .len = len, .pos = off, .out = &s};

	if (!code || !text || !ilen || off >= len)
		return LANG_EINVAL;
	lang_str_init(&s, text, cap);
	decode(&d);
	if (d.bad) {
		if (cap)
			text[0] = '\0';
		return LANG_EINVAL;
	}
	*ilen = d.pos - off;
	return s.overflow ? LANG_ENOSPC : LANG_OK;
}

int lang_code_describe(const uint8_t *code, size_t len, struct lang_code_info *info)
{
	char text[64];
	struct lang_str s;

	if (!code || !info)
		return LANG_EINVAL;
	*info = (struct lang_code_info){.size = len};
	/* The prologue's first instruction reserves the frame: sub rsp, imm. */
	if (len >= 4 && code[0] == 0x48 && code[1] == 0x83 && code[2] == 0xec)
		info->frame = code[3];
	else if (len >= 7 && code[0] == 0x48 && code[1] == 0x81 && code[2] == 0xec)
		info->frame =
		    (unsigned)code[3] | (unsigned)code[4] << 8 | (unsigned)code[5] << 16 | (unsigned)code[6] << 24;
	else
		return LANG_EINVAL;
	for (size_t off = 0; off < len;) {
		struct dec d = {.code = code, .len = len, .pos = off, .out = &s};

		lang_str_init(&s, text, sizeof(text));
		decode(&d);
		if (d.bad)
			return LANG_EINVAL;
		info->insns++;
		info->jumps += (unsigned)d.jump;
		off = d.pos;
	}
	return LANG_OK;
}
