/* SPDX-License-Identifier: MIT */
/*
 * The raw test enclave: the operations of ../abi.h, with the SGX2 leaves
 * issued by the real ENCLU instruction.  Freestanding and position
 * independent (linked at 0, run at any base): no libc, no runtime, no
 * absolute addresses in data.  Host memory (struct call) is read and
 * written directly, as enclaves may.
 */
#pragma GCC visibility push(hidden)

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../abi.h"

extern char __enclave_base[];
void enclave_entry(void);
void encl_ud2(void);
uint32_t encl_cpuid(uint32_t leaf, uint32_t subleaf);
void encl_store(uint64_t addr, uint64_t value);
uint64_t enclave_main(uint64_t op, struct call *c, uint64_t rdx, uint64_t cssa);

#define EACCEPT	    5
#define EMODPE	    6
#define EACCEPTCOPY 7

struct secinfo {
	uint64_t flags;
	uint64_t reserved[7];
} __attribute__((aligned(64)));

struct tcs {
	uint64_t state, flags, ossa;
	uint32_t cssa, nssa;
	uint64_t oentry, aep, ofsbase, ogsbase;
	uint32_t fslimit, gslimit;
	uint8_t reserved[4024];
};
_Static_assert(sizeof(struct tcs) == 4096, "TCS is a page");

static uint64_t counter;

static uint64_t enclu(uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	uint64_t rax = leaf;
	__asm__ volatile(".byte 0x0f, 0x01, 0xd7" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx) : : "memory", "cc");
	return rax;
}

static uint64_t leaf_on(uint64_t leaf, uint64_t flags, uint64_t page, uint64_t src)
{
	struct secinfo si;
	volatile uint64_t *p = (volatile uint64_t *)&si;
	for (int i = 0; i < 8; i++)
		p[i] = 0;
	si.flags = flags;
	return enclu(leaf, (uint64_t)&si, page, src);
}

static uint64_t td(unsigned off)
{
	uint64_t v;
	__asm__ volatile("mov %%fs:(%1), %0" : "=r"(v) : "r"((uint64_t)off));
	return v;
}

/* The exception handler: SSA frame 0 of this thread. */
static uint64_t handler(uint64_t op, struct call *c)
{
	uint8_t *ssa = (uint8_t *)__enclave_base + td(TD_SSA);
	uint8_t *gpr = ssa + 4096 - 184;
	volatile uint32_t *exitinfo = (volatile uint32_t *)(gpr + 160);
	volatile uint64_t *rip = (volatile uint64_t *)(gpr + 136);
	volatile uint64_t *maddr = (volatile uint64_t *)(ssa + 4096 - 200);
	volatile uint32_t *errcd = (volatile uint32_t *)(ssa + 4096 - 200 + 8);
	switch (op) {
	case H_ACCEPT:
		c->out[0] = leaf_on(EACCEPT, SI_REG | SI_PENDING | SI_R | SI_W, *maddr & ~0xFFFULL, 0);
		c->out[1] = *maddr;
		c->out[2] = *exitinfo;
		return ENCL_OK;
	case H_SKIP:
		*rip += c->a;
		c->out[0] = *exitinfo;
		c->out[1] = *maddr;
		c->out[2] = *errcd;
		return ENCL_OK;
	default:
		return ENCL_BAD;
	}
}

static uint64_t op_fill(struct call *c, bool check)
{
	uint64_t bad = 0, first = ~0ULL;
	for (uint64_t i = 0; i < c->b; i++) {
		uint64_t page = c->a + i * 4096;
		volatile uint64_t *w = (volatile uint64_t *)page;
		if (!check && (c->c & 1)) {
			uint64_t r = leaf_on(EACCEPT, SI_REG | SI_PENDING | SI_R | SI_W, page, 0);
			if (r) {
				c->out[0] = r;
				c->out[1] = i;
				return ENCL_BAD;
			}
		}
		bool ok = true;
		for (uint64_t k = 0; k < 512; k++) {
			if (check)
				ok = ok && w[k] == PATTERN(c->c >> 8, i, k);
			else
				w[k] = PATTERN(c->c >> 8, i, k);
		}
		if (!ok) {
			bad++;
			if (first == ~0ULL)
				first = i;
		}
	}
	c->out[0] = bad;
	c->out[1] = first;
	return ENCL_OK;
}

uint64_t enclave_main(uint64_t op, struct call *c, uint64_t rdx, uint64_t cssa)
{
	(void)rdx;
	if (cssa == 1)
		return handler(op, c);
	switch (op) {
	case OP_ECHO:
		c->out[0] = c->a + c->b;
		c->out[1] = (uint64_t)__enclave_base;
		return ENCL_OK;
	case OP_LOAD:
		c->out[0] = *(volatile uint64_t *)c->a;
		return ENCL_OK;
	case OP_STORE:
		encl_store(c->a, c->b);
		return ENCL_OK;
	case OP_UD2:
		encl_ud2();
		c->out[0] = 1;
		return ENCL_OK;
	case OP_EACCEPT:
		c->out[0] = leaf_on(EACCEPT, c->b, c->a, 0);
		return ENCL_OK;
	case OP_EACCEPTCOPY:
		c->out[0] = leaf_on(EACCEPTCOPY, c->b, c->a, c->c);
		return ENCL_OK;
	case OP_EMODPE:
		c->out[0] = leaf_on(EMODPE, c->b, c->a, 0);
		return ENCL_OK;
	case OP_CALL:
		c->out[0] = ((uint64_t(*)(void))c->a)();
		return ENCL_OK;
	case OP_FILL:
		return op_fill(c, false);
	case OP_CHECK:
		return op_fill(c, true);
	case OP_CPUID:
		c->out[0] = encl_cpuid((uint32_t)c->a, (uint32_t)c->b);
		c->out[1] = 1;
		return ENCL_OK;
	case OP_SPIN:
		*(volatile unsigned long long *)&c->out[0] = 1;
		while (!*(volatile unsigned long long *)&c->a)
			__asm__ volatile("pause");
		return ENCL_OK;
	case OP_INC:
		for (uint64_t i = 0; i < c->b; i++)
			__atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
		c->out[0] = __atomic_load_n(&counter, __ATOMIC_SEQ_CST);
		return ENCL_OK;
	case OP_TCS_INIT: {
		volatile struct tcs *t = (volatile struct tcs *)c->a;
		volatile uint8_t *b = (volatile uint8_t *)c->a;
		for (int i = 0; i < 4096; i++)
			b[i] = 0;
		t->ossa = c->b;
		t->nssa = NSSA;
		t->oentry = (uint64_t)enclave_entry - (uint64_t)__enclave_base;
		t->ofsbase = c->c;
		t->ogsbase = c->c;
		t->fslimit = 0xFFF;
		t->gslimit = 0xFFF;
		return ENCL_OK;
	}
	case OP_ACCEPT_RANGE:
		c->out[0] = 0;
		c->out[1] = 0;
		for (uint64_t i = 0; i < c->c; i++) {
			uint64_t r = leaf_on(EACCEPT, c->b, c->a + i * 4096, 0);
			if (r) {
				c->out[0] = r;
				return ENCL_OK;
			}
			c->out[1]++;
		}
		return ENCL_OK;
	case OP_WRITE_CODE: {
		volatile uint8_t *p = (volatile uint8_t *)c->a;
		p[0] = 0xB8; /* mov $imm32, %eax */
		p[1] = (uint8_t)c->b;
		p[2] = (uint8_t)(c->b >> 8);
		p[3] = (uint8_t)(c->b >> 16);
		p[4] = (uint8_t)(c->b >> 24);
		p[5] = 0xC3; /* ret */
		return ENCL_OK;
	}
	default:
		return ENCL_BAD;
	}
}
