/* SPDX-License-Identifier: MIT */
/*
 * The test enclave: a table of operations (abi.h) that exercise what the
 * exec layer must run natively: memory accesses, the SGX2 and attestation
 * leaves through the real ENCLU instruction, exceptions, and an exception
 * handler entered with CSSA = 1.  Freestanding: no libc, no TLS, no stack
 * protector; the thread data is reached through %fs.
 */
#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "sgxemu/arch.h"

uint64_t encl_load(uint64_t addr);
void encl_store(uint64_t addr, uint64_t value);
void encl_ud2(void);
void encl_int3(void);
void encl_div0(void);
uint64_t encl_xmm(uint64_t value);
uint64_t encl_syscall(const uint64_t *args, uint64_t kind, uint64_t *insn);
void encl_ymm(uint64_t value, uint64_t fault);
void encl_ymm_aex(const uint64_t *values, uint64_t *dump);
void encl_zmm_aex(const uint64_t *values, uint64_t *dump);
uint64_t encl_regloop(uint64_t n, uint64_t seed);
uint64_t encl_pushf(void);
uint64_t enclave_main(uint64_t op, uint64_t a, uint64_t b, uint64_t cssa, uint64_t c, uint64_t *out);

struct td {
	uint64_t self;
	uint64_t stack[2], ursp[2], urbp[2], exit[2];
	uint64_t ssa, tcs;
	uint64_t handler_mode, handler_skip, handler_out, handled;
	uint64_t notify_armed, notified;
};
_Static_assert(offsetof(struct td, ssa) == TD_SSA, "TD_SSA");
_Static_assert(offsetof(struct td, handled) == TD_HANDLED, "TD_HANDLED");
_Static_assert(offsetof(struct td, notify_armed) == TD_NOTIFY_ARMED, "TD_NOTIFY_ARMED");
_Static_assert(offsetof(struct td, notified) == TD_NOTIFIED, "TD_NOTIFIED");
_Static_assert(sizeof(struct td) == TD_SIZE, "TD_SIZE");

static struct td *td(void)
{
	struct td *t;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(t));
	return t;
}

/* Byte copies the compiler cannot turn into library calls. */
static void copy(void *dst, const void *src, size_t n)
{
	volatile uint8_t *d = dst;
	const volatile uint8_t *s = src;
	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
}

static void zero(void *dst, size_t n)
{
	volatile uint8_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = 0;
}

struct enclu_out {
	uint64_t rax;
	uint64_t zf;
};

static struct enclu_out enclu(uint64_t leaf, uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
	uint64_t rax = leaf;
	uint8_t zf;
	__asm__ volatile(".byte 0x0f, 0x01, 0xd7\n\tsetz %4"
			 : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "=r"(zf)
			 :
			 : "memory", "cc");
	return (struct enclu_out){rax, zf};
}

/*
 * A leaf with a SECINFO of flags: on the calling thread's stack, as threads
 * use the leaves at once.  Not inlined: the image's code fits one page.
 */
static __attribute__((noinline)) struct enclu_out enclu_si(uint64_t leaf, uint64_t flags, uint64_t rcx, uint64_t rdx)
{
	struct sgx_secinfo si __attribute__((aligned(64)));
	zero(&si, sizeof(si));
	si.flags = flags;
	return enclu(leaf, (uint64_t)&si, rcx, rdx);
}

static struct sgx_targetinfo targetinfo __attribute__((aligned(512)));
static uint8_t reportdata[64] __attribute__((aligned(128)));
static struct sgx_report report __attribute__((aligned(512)));
static struct sgx_keyrequest keyrequest __attribute__((aligned(512)));
static uint8_t key[16] __attribute__((aligned(16)));

/*
 * OP_EACCEPT_USE: 1 if the page just accepted is not all zeros, after which
 * its first quadword = v.  One REPE SCASQ (the image's code fits one page).
 */
static __attribute__((noinline)) uint64_t use_page(uint64_t page, uint64_t v)
{
	uint64_t left = SGX_PAGE_SIZE / 8, zero = 0;
	const void *at = (const void *)page;
	__asm__ volatile("repe scasq" : "+D"(at), "+c"(left) : "a"(zero) : "cc", "memory");
	uint64_t dirty = left != 0 || *(volatile const uint64_t *)((uintptr_t)at - 8) != 0;
	*(volatile uint64_t *)page = v;
	return dirty;
}

static void put(uint64_t *out, unsigned i, uint64_t v)
{
	if (out)
		out[i] = v;
}

/* Entered with CSSA = 1: look at SSA frame 0 and fix the interrupted code up. */
static void handle_exception(struct td *t)
{
	uint8_t *frame = (uint8_t *)t->ssa;
	struct sgx_gprsgx *g = (struct sgx_gprsgx *)(frame + SGX_PAGE_SIZE - SGX_GPRSGX_SIZE);
	struct sgx_exinfo *x = (struct sgx_exinfo *)((uint8_t *)g - SGX_EXINFO_SIZE);
	uint64_t *rec = (uint64_t *)t->handler_out;
	put(rec, HREC_EXITINFO, g->exitinfo);
	put(rec, HREC_RIP, g->rip);
	put(rec, HREC_MADDR, x->maddr);
	put(rec, HREC_ERRCD, x->errcd);
	put(rec, HREC_CSSA, 1);
	if (t->handler_mode == HANDLER_SKIP) {
		g->rip += t->handler_skip;
	} else if (t->handler_mode == HANDLER_ACCEPT) {
		enclu_si(ENCLU_EACCEPT,
			 SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_PENDING,
			 x->maddr & ~0xFFFULL, 0);
	} else if (t->handler_mode == HANDLER_RET) {
		g->rip = *(const uint64_t *)g->rsp;
		g->rsp += 8;
		g->rax = HANDLER_RET_RAX;
	}
	t->handled++;
}

/* OP_YMM_AEX / OP_ZMM_AEX; the values live in this frame only, not in every operation's. */
static __attribute__((noinline)) void vec_aex(uint64_t op, uint64_t a, uint64_t *dump)
{
	uint64_t v[ZMM_AEX_WORDS];
	for (uint64_t i = 0; i < ZMM_AEX_WORDS; i++)
		v[i] = a + i;
	if (op == OP_YMM_AEX)
		encl_ymm_aex(v, dump);
	else
		encl_zmm_aex(v, dump);
}

uint64_t enclave_main(uint64_t op, uint64_t a, uint64_t b, uint64_t cssa, uint64_t c, uint64_t *out)
{
	struct td *t = td();
	struct enclu_out r;
	if (cssa == 1) {
		handle_exception(t);
		return 0;
	}
	switch (op) {
	case OP_ECHO:
		put(out, 0, a + b);
		put(out, 1, cssa);
		put(out, 2, c);
		return a ^ b;
	case OP_READ:
		put(out, 0, encl_load(a));
		return 0;
	case OP_WRITE:
		encl_store(a, b);
		put(out, 0, 1);
		return 0;
	case OP_EXEC:
		put(out, 0, ((uint64_t(*)(uint64_t))a)(b));
		return 0;
	case OP_EACCEPT:
		r = enclu_si(ENCLU_EACCEPT, b, a, 0);
		put(out, 0, r.rax);
		put(out, 1, r.zf);
		return r.rax;
	case OP_EACCEPTCOPY:
		r = enclu_si(ENCLU_EACCEPTCOPY, c, a, b);
		put(out, 0, r.rax);
		put(out, 1, r.zf);
		return r.rax;
	case OP_EMODPE:
		enclu_si(ENCLU_EMODPE, b, a, 0);
		put(out, 0, 1);
		return 0;
	case OP_EREPORT:
		if (a)
			copy(&targetinfo, (const void *)a, sizeof(targetinfo));
		else
			zero(&targetinfo, sizeof(targetinfo));
		copy(reportdata, (const void *)b, sizeof(reportdata));
		enclu(ENCLU_EREPORT, (uint64_t)&targetinfo, (uint64_t)reportdata, (uint64_t)&report);
		copy((void *)c, &report, sizeof(report));
		return 0;
	case OP_EGETKEY:
		copy(&keyrequest, (const void *)a, sizeof(keyrequest));
		r = enclu(ENCLU_EGETKEY, (uint64_t)&keyrequest, (uint64_t)key, 0);
		copy((void *)b, key, sizeof(key));
		put(out, 0, r.rax);
		put(out, 1, r.zf);
		return r.rax;
	case OP_UD2:
		encl_ud2();
		put(out, 0, 1);
		return 0;
	case OP_INT3:
		encl_int3();
		put(out, 0, 1);
		return 0;
	case OP_DIV0:
		encl_div0();
		put(out, 0, 1);
		return 0;
	case OP_SET_HANDLER:
		t->handler_mode = a;
		t->handler_skip = b;
		t->handler_out = c;
		return 0;
	case OP_XMM:
		put(out, 0, encl_xmm(a));
		return 0;
	case OP_HANDLED:
		put(out, 0, t->handled);
		return t->handled;
	case OP_SEGMENTS: {
		uint64_t fs, gs;
		__asm__ volatile("mov %%fs:0, %0\n\tmov %%gs:0, %1" : "=r"(fs), "=r"(gs));
		put(out, 0, fs);
		put(out, 1, gs);
		return 0;
	}
	case OP_COPY:
		copy((void *)a, (const void *)b, SGX_PAGE_SIZE);
		return 0;
	case OP_COPY_OUT:
		copy((void *)b, (const void *)a, SGX_PAGE_SIZE);
		return 0;
	case OP_SPIN: {
		uint64_t polls = 0;
		*(volatile uint64_t *)b = 1;
		while (!*(volatile uint64_t *)a) {
			__asm__ volatile("pause");
			polls++;
		}
		return polls;
	}
	case OP_SYSCALL: {
		uint64_t insn = 0;
		uint64_t rax = encl_syscall((const uint64_t *)a, b, &insn);
		put(out, 0, rax);
		put(out, 1, 1);
		put(out, 2, insn);
		return 0;
	}
	case OP_YMM:
		encl_ymm(a, b);
		put(out, 0, 1);
		return 0;
	case OP_YMM_AEX:
	case OP_ZMM_AEX:
		vec_aex(op, a, (uint64_t *)c);
		put(out, 0, 1);
		return 0;
	case OP_XMM15: {
		uint64_t v;
		__asm__ volatile("movq %%xmm15, %0" : "=r"(v));
		put(out, 0, v);
		return 0;
	}
	case OP_ENTRY_STATE:
		/* entry.S stored the registers already. */
		put(out, 0, 1);
		return 0;
	case OP_PUSHF:
		put(out, 0, encl_pushf());
		return 0;
	case OP_NOTIFY_LOOP: {
		volatile uint8_t *opt_in = (volatile uint8_t *)(t->ssa + SSA_GPR + GPR_AEXNOTIFY);
		t->notified = 0;
		/* Armed before frame 0 opts in, disarmed after it opted out: a CSSA 1 entry in between is ours. */
		*(volatile uint64_t *)&t->notify_armed = 1;
		*opt_in = b ? 1 : 0;
		uint64_t v = encl_regloop(a, c);
		*opt_in = 0;
		*(volatile uint64_t *)&t->notify_armed = 0;
		put(out, 0, v);
		put(out, 1, t->notified);
		return 0;
	}
	case OP_EACCEPT_N:
	case OP_EACCEPT_USE: {
		/* OP_EACCEPT_N: the EACCEPTs alone (a page-aligned). */
		int use = op == OP_EACCEPT_USE;
		uint64_t base = a & ~1ULL, n = 0, sum = 0, dirty = 0;
		for (r.rax = 0; n < b; n++) {
			r = enclu_si(ENCLU_EACCEPT, c, base + n * SGX_PAGE_SIZE, 0);
			if (r.rax)
				break;
			if (use && !(a & 1))
				dirty += use_page(base + n * SGX_PAGE_SIZE, n + 1);
		}
		for (uint64_t i = 0; use && i < n; i++) {
			if (a & 1)
				dirty += use_page(base + i * SGX_PAGE_SIZE, i + 1);
			sum += *(volatile uint64_t *)(base + i * SGX_PAGE_SIZE);
		}
		put(out, 0, n);
		put(out, 1, r.rax);
		put(out, 2, sum);
		put(out, 3, dirty);
		return r.rax;
	}
	case OP_EMODPE_N:
		for (uint64_t i = 0; i < c; i++)
			enclu_si(ENCLU_EMODPE, b, a, 0);
		put(out, 0, c);
		return 0;
	default:
		return (uint64_t)-1;
	}
}
