/* SPDX-License-Identifier: MIT */
/*
 * The loader's test enclave, built with the runtime: one ECALL per
 * behaviour the tests check (abi.h).  Every ECALL copies what it reads from
 * untrusted memory before using it, as enclave code must.
 */
#include "abi.h"
#include "sgxemu/rt.h"
#include "sgxemu/rt_enclu.h"

/* Fixed-length faulting instructions (sites.S). */
void encl_ud2_site(void);
void encl_div0_site(void);
void encl_load_site(void);
void encl_ud2(void);
uint64_t encl_div0(void);
uint64_t encl_load(uint64_t addr);

/* ---- plain ECALLs ---- */

static int64_t ec_add(void *arg, uint64_t len)
{
	struct ec_add a;
	if (len != sizeof(a))
		return -RT_EINVAL;
	memcpy(&a, arg, sizeof(a));
	return a.a + a.b;
}

static int64_t ec_reverse(void *arg, uint64_t len)
{
	uint8_t buf[256];
	if (len > sizeof(buf))
		return -RT_E2BIG;
	memcpy(buf, arg, len);
	for (uint64_t i = 0; i < len; i++)
		((uint8_t *)arg)[i] = buf[len - 1 - i];
	return (int64_t)len;
}

/* ---- OCALLs ---- */

static int64_t ec_ocall(void *arg, uint64_t len)
{
	struct ec_ocall in;
	if (len != sizeof(in))
		return -RT_EINVAL;
	memcpy(&in, arg, sizeof(in));
	struct oc_triple t = {.in = in.in};
	memcpy(t.text, "hello", 6);
	int64_t r = rt_ocall(OC_TRIPLE, &t, sizeof(t));
	struct ec_ocall out = {.in = in.in, .out = t.out, .ret = r};
	memcpy(out.text, t.text, sizeof(out.text));
	memcpy(arg, &out, sizeof(out));
	return 0;
}

static int64_t log_text(const char *s)
{
	char buf[64];
	size_t n = strnlen(s, sizeof(buf) - 1);
	memcpy(buf, s, n);
	buf[n] = '\0';
	return rt_ocall(OC_LOG, buf, n + 1);
}

static int64_t ec_depth(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	struct rt_thread *t = rt_thread_self();
	uint32_t depth = t->depth, pending = t->ocall != NULL;
	char text[48];
	rt_snprint(text, sizeof(text), "depth=%u ocall=%u", depth, pending);
	if (log_text(text) < 0)
		return -1;
	return depth * 10 + pending;
}

static int64_t ec_nest(void *arg, uint64_t len)
{
	(void)len;
	if (log_text("nest: before") < 0)
		return -1;
	uint64_t index = arg ? (uint64_t)(uintptr_t)arg : EC_DEPTH;
	int64_t r = rt_ocall(OC_NEST, &index, sizeof(index));
	if (log_text("nest: after") < 0)
		return -1;
	return r;
}

static int64_t ec_print(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	return rt_print("d=%d i=%i u=%u x=%x X=%X lx=%lx lu=%lu zu=%zu s=%s c=%c p=%p pct=%% w=[%5d] l=[%-4d] "
			"z=[%08x] n=[%s]\n",
			-42, 7, 4000000000u, 0xbeef, 0xbeef, 0x123456789abcdefUL, 18446744073709551615UL, (size_t)12,
			"str", 'Q', (void *)0x1000, 42, 7, 0xabc, (const char *)NULL);
}

/* ---- exceptions ---- */

static volatile struct ec_exception last;
static volatile int mode;

static int declining_handler(struct rt_exception *e)
{
	(void)e;
	last.declined++;
	return RT_EXCEPTION_CONTINUE_SEARCH;
}

static int recording_handler(struct rt_exception *e)
{
	last.count++;
	last.vector = e->vector;
	last.type = e->type;
	last.error_code = e->error_code;
	last.exinfo = e->exinfo;
	last.address = e->address;
	last.rip_offset = e->rip - rt_base();
	last.ssa = e->ssa;
	last.ocall_result = rt_print("from a handler\n");
	if (mode == HM_LOOP && e->vector == X86_UD)
		return RT_EXCEPTION_CONTINUE;
	if (mode != HM_SKIP)
		return RT_EXCEPTION_CONTINUE_SEARCH;
	if (e->vector == X86_UD && e->rip == (uint64_t)(uintptr_t)encl_ud2_site) {
		e->gpr->rip += 2;
		return RT_EXCEPTION_CONTINUE;
	}
	if (e->vector == X86_PF && e->rip == (uint64_t)(uintptr_t)encl_load_site) {
		e->gpr->rip += 3;
		e->gpr->rax = 0xfa17;
		return RT_EXCEPTION_CONTINUE;
	}
	return RT_EXCEPTION_CONTINUE_SEARCH;
}

static int64_t ec_handlers(void *arg, uint64_t len)
{
	(void)len;
	rt_exception_unregister(declining_handler);
	rt_exception_unregister(recording_handler);
	mode = (int)(uintptr_t)arg;
	if (mode == HM_NONE)
		return 0;
	if (rt_exception_register(declining_handler) != 0 || rt_exception_register(recording_handler) != 0)
		return -1;
	/* A second registration of the same function is refused. */
	return rt_exception_register(recording_handler) == -RT_EINVAL ? 0 : -2;
}

static int64_t ec_ud2(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	encl_ud2();
	return 1;
}

static int64_t ec_div0(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	return (int64_t)encl_div0();
}

static int64_t ec_load(void *arg, uint64_t len)
{
	(void)len;
	return (int64_t)encl_load(rt_base() + (uint64_t)(uintptr_t)arg);
}

static int64_t ec_last_exc(void *arg, uint64_t len)
{
	struct ec_exception copy;
	if (len != sizeof(copy))
		return -RT_EINVAL;
	memcpy(&copy, (const void *)&last, sizeof(copy));
	memcpy(arg, &copy, sizeof(copy));
	return 0;
}

static int64_t ec_sites(void *arg, uint64_t len)
{
	uint64_t base = rt_base();
	struct ec_sites s = {
	    .ud2 = (uint64_t)(uintptr_t)encl_ud2_site - base,
	    .div0 = (uint64_t)(uintptr_t)encl_div0_site - base,
	    .load = (uint64_t)(uintptr_t)encl_load_site - base,
	    .base = base,
	    .guard = rt_layout()->thread_offset,
	};
	if (len != sizeof(s))
		return -RT_EINVAL;
	memcpy(arg, &s, sizeof(s));
	return 0;
}

/* ---- self-relocation: tables of pointers in initialised data ---- */

static const char *const names[3] = {"alpha", "beta", "gamma"};

static int64_t f_one(int64_t x)
{
	return x + 1;
}

static int64_t f_two(int64_t x)
{
	return x * 2;
}

static int64_t f_three(int64_t x)
{
	return x - 3;
}

static int64_t (*const fns[3])(int64_t) = {f_one, f_two, f_three};
/* Read through volatile pointers so that the compiler cannot fold the tables into RIP-relative addresses. */
static const char *const *volatile name_table = names;
static int64_t (*const *volatile fn_table)(int64_t) = fns;
static uint64_t ctor_runs, ctor_base;

/* Reads the enclave base, so that no compiler can run it at build time. */
__attribute__((constructor)) static void constructor(void)
{
	ctor_runs++;
	ctor_base = rt_base();
}

static int64_t ec_reloc(void *arg, uint64_t len)
{
	struct ec_reloc r = {.ctor_ran = ctor_base == rt_base() ? ctor_runs : 0};
	int64_t bad = 0;
	if (len != sizeof(r))
		return -RT_EINVAL;
	for (int i = 0; i < 3; i++) {
		const char *s = name_table[i];
		int64_t (*fn)(int64_t) = fn_table[i];
		if (!rt_is_within_enclave(s, 1) || !rt_is_within_enclave((const void *)(uintptr_t)fn, 1))
			bad++;
		else {
			memcpy(r.names[i], s, strlen(s) + 1);
			r.fn_results[i] = fn(10);
		}
	}
	memcpy(arg, &r, sizeof(r));
	return bad;
}

/* ---- the heap ---- */

static bool filled(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static int64_t ec_heap(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	struct rt_heap_stats s0, s;
	rt_heap_stats(&s0);
	/* 1. Everything free at start: one block. */
	if (s0.free_blocks != 1 || s0.used_blocks != 0 || s0.free != s0.total || s0.total < 64 * 1024)
		return 1;
	/* 2. Many sizes, aligned, distinct, writable. */
	uint8_t *p[64];
	for (int i = 0; i < 64; i++) {
		p[i] = malloc((size_t)(i * 37 + 1));
		if (!p[i] || ((uintptr_t)p[i] & 15) || !rt_is_within_enclave(p[i], (size_t)(i * 37 + 1)))
			return 2;
		memset(p[i], i, (size_t)(i * 37 + 1));
	}
	for (int i = 0; i < 64; i++)
		if (!filled(p[i], (size_t)(i * 37 + 1), (uint8_t)i))
			return 3;
	/* 3. Free every other one: the holes do not merge. */
	for (int i = 0; i < 64; i += 2)
		free(p[i]);
	rt_heap_stats(&s);
	if (s.used_blocks != 32 || s.free_blocks != 33)
		return 4;
	/* 4. Free the rest: everything merges back into one block. */
	for (int i = 1; i < 64; i += 2)
		free(p[i]);
	rt_heap_stats(&s);
	if (s.free_blocks != 1 || s.used_blocks != 0 || s.free != s0.free)
		return 5;
	/* 5. realloc keeps the contents when growing in place, when moving, and when shrinking. */
	uint8_t *a = malloc(100), *b = malloc(100);
	if (!a || !b)
		return 6;
	memset(a, 0xa5, 100);
	uint8_t *a2 = realloc(a, 50);
	if (a2 != a || !filled(a2, 50, 0xa5))
		return 7;
	free(b);
	uint8_t *a3 = realloc(a2, 180); /* b's block is free right after: grows in place */
	if (a3 != a || !filled(a3, 50, 0xa5))
		return 8;
	uint8_t *c = malloc(16); /* blocks growth after a3 */
	uint8_t *a4 = realloc(a3, 4000);
	if (!a4 || !c || a4 == a3 || !filled(a4, 50, 0xa5))
		return 9;
	free(c);
	free(a4);
	/* 6. calloc zeroes, and refuses an overflowing size. */
	uint8_t *z = calloc(100, 10);
	if (!z || !filled(z, 1000, 0))
		return 10;
	free(z);
	if (calloc(SIZE_MAX / 2, 4) != NULL)
		return 11;
	/* 7. Exhaustion returns NULL; then everything fits again. */
	if (malloc(s0.total) != NULL)
		return 12;
	void *big = malloc(s0.largest_free - 8);
	if (!big)
		return 13;
	if (malloc(64) != NULL)
		return 14;
	free(big);
	/* 8. realloc(NULL) allocates, realloc(p, 0) frees. */
	void *r = realloc(NULL, 32);
	if (!r || realloc(r, 0) != NULL)
		return 15;
	rt_heap_stats(&s);
	if (s.free_blocks != 1 || s.used_blocks != 0 || s.free != s0.free)
		return 16;
	return 0;
}

/* ---- threads ---- */

static int64_t ec_thread(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	uint64_t *p = malloc(64 * sizeof(uint64_t));
	if (!p)
		return -1;
	for (int i = 0; i < 64; i++)
		p[i] = (uint64_t)i;
	uint64_t sum = 0;
	for (int i = 0; i < 64; i++)
		sum += p[i];
	free(p);
	if (sum != 64 * 63 / 2)
		return -2;
	return (int64_t)(rt_thread_data()->thread_index * 1000000 + rt_thread_self()->ecalls);
}

/* ---- attestation leaves ---- */

static int64_t ec_report(void *arg, uint64_t len)
{
	static struct sgx_targetinfo target RT_ALIGNED(512);
	static uint8_t data[64] RT_ALIGNED(128);
	static struct sgx_report report RT_ALIGNED(512);
	struct ec_report *u = arg;
	if (len != sizeof(*u))
		return -RT_EINVAL;
	memcpy(&target, u->target, sizeof(target));
	memcpy(data, u->data, sizeof(data));
	rt_ereport(&target, data, &report);
	memcpy(u->report, &report, sizeof(report));
	return 0;
}

static int64_t ec_getkey(void *arg, uint64_t len)
{
	struct sgx_keyrequest req RT_ALIGNED(512);
	uint8_t key[16] RT_ALIGNED(16);
	struct ec_getkey *u = arg;
	if (len != sizeof(*u))
		return -RT_EINVAL;
	memcpy(&req, u->request, sizeof(req));
	memset(key, 0, sizeof(key));
	uint64_t code = rt_egetkey(&req, key);
	memcpy(u->key, key, sizeof(key));
	u->code = code;
	return (int64_t)code;
}

/* ---- misuse and state ---- */

static int64_t ec_raw_exit(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	const struct rt_frame *f = rt_thread_self()->top;
	__asm__ volatile("mov 16(%%rax), %%rbx\n\t"
			 "mov 8(%%rax), %%rbp\n\t"
			 "mov 0(%%rax), %%rsp\n\t"
			 "mov %1, %%edi\n\t"
			 "mov %2, %%esi\n\t"
			 "xor %%edx, %%edx\n\t"
			 "mov %3, %%eax\n\t"
			 "enclu"
			 :
			 : "a"(f), "i"(SGXEMU_EXIT_RETURN), "i"(EC_RAW_EXIT_VALUE), "i"(ENCLU_EEXIT)
			 : "memory");
	__builtin_unreachable();
}

static int64_t ec_ocall_errors(void *arg, uint64_t len)
{
	static uint8_t big[RT_OCALL_MAX + 1];
	struct ec_ocall_errors r;
	uint64_t word = 0;
	if (len != sizeof(r))
		return -RT_EINVAL;
	r.too_big = rt_ocall(OC_LOG, big, sizeof(big));
	r.bad_ptr = rt_ocall_ptr(OC_LOG, &word, sizeof(word), 4);
	r.null_data = rt_ocall(OC_LOG, NULL, 8);
	r.unknown = rt_ocall(OC_COUNT + 5, &word, sizeof(word));
	r.write_result = rt_write(2, "err\n", 4);
	memcpy(arg, &r, sizeof(r));
	return 0;
}

static int64_t ec_abort(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	rt_abort(SGXEMU_ABORT_ASSERT);
}

static int64_t ec_state(void *arg, uint64_t len)
{
	struct ec_state s;
	uint64_t rsp, base = rt_base();
	if (len != sizeof(s))
		return -RT_EINVAL;
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1\n\tpushfq\n\tpopq %2\n\tmov %%rsp, %3"
			 : "=m"(s.mxcsr), "=m"(s.fcw), "=r"(s.rflags), "=r"(rsp));
	s.rsp_offset = rsp - base;
	s.stack_top = rt_thread_self()->stack_top - base;
	s.stack_limit = rt_thread_self()->stack_limit - base;
	memcpy(arg, &s, sizeof(s));
	return 0;
}

/* ---- the memory manager's OCALLs (an EDMM layout) ---- */

static int64_t mm_ocall(uint32_t index, uint64_t addr, uint64_t len, uint64_t prot, uint64_t type, uint64_t *count)
{
	struct sgxemu_ocall_mm m = {.addr = addr, .len = len, .prot = prot, .type = type};
	int64_t r = rt_ocall(index, &m, sizeof(m));
	if (count)
		*count = m.count;
	return r == m.result ? r : -9999;
}

static uint64_t accept(void *page, uint64_t flags)
{
	struct sgx_secinfo si = {.flags = flags};
	return rt_eaccept(&si, page);
}

static int64_t ec_edmm(void *arg, uint64_t len)
{
	const struct sgxemu_layout *l = rt_layout();
	struct ec_edmm r;
	if (len != sizeof(r) || !l->dyn_size)
		return -RT_EINVAL;
	memset(&r, 0, sizeof(r));
	uint8_t *a = (uint8_t *)(rt_base() + l->dyn_offset), *b = a + SGXEMU_PAGE;
	const uint64_t reg = SGX_SECINFO_PT(SGX_PT_REG);
	r.augment = mm_ocall(SGXEMU_OCALL_AUGMENT, (uint64_t)(uintptr_t)a, 2 * SGXEMU_PAGE,
			     SGX_SECINFO_R | SGX_SECINFO_W, 0, &r.augment_count);
	r.accept[0] = accept(a, reg | SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_PENDING);
	r.accept[1] = accept(b, reg | SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_PENDING);
	if (!r.augment && !r.accept[0] && !r.accept[1]) {
		*(volatile uint64_t *)a = 0x1234;
		*(volatile uint64_t *)b = 0x5678;
		r.readback = *(volatile uint64_t *)a + *(volatile uint64_t *)b;
	}
	r.restrict_ = mm_ocall(SGXEMU_OCALL_RESTRICT, (uint64_t)(uintptr_t)a, SGXEMU_PAGE, SGX_SECINFO_R, 0, NULL);
	r.accept_pr = accept(a, reg | SGX_SECINFO_R | SGX_SECINFO_PR);
	r.mprotect = mm_ocall(SGXEMU_OCALL_MPROTECT, (uint64_t)(uintptr_t)a, SGXEMU_PAGE, 1 /* PROT_READ */, 0, NULL);
	r.modify_type = mm_ocall(SGXEMU_OCALL_MODIFY_TYPE, (uint64_t)(uintptr_t)b, SGXEMU_PAGE, 0, SGX_PT_TRIM, NULL);
	r.accept_trim = accept(b, SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED);
	r.remove = mm_ocall(SGXEMU_OCALL_REMOVE, (uint64_t)(uintptr_t)b, SGXEMU_PAGE, 0, 0, &r.remove_count);
	/* mov $42, %eax; ret  /  mov $7, %eax; ret */
	static const uint8_t code42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3},
			     code7[] = {0xb8, 0x07, 0x00, 0x00, 0x00, 0xc3};
	static uint8_t source[4096] RT_ALIGNED(4096);
	uint8_t *c = b + SGXEMU_PAGE, *d = c + SGXEMU_PAGE;
	r.augment_code = mm_ocall(SGXEMU_OCALL_AUGMENT, (uint64_t)(uintptr_t)c, 2 * SGXEMU_PAGE,
				  SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_X, 0, NULL);
	memcpy(source, code42, sizeof(code42));
	struct sgx_secinfo rx = {.flags = reg | SGX_SECINFO_R | SGX_SECINFO_X};
	r.acceptcopy = rt_eacceptcopy(&rx, c, source);
	r.mprotect_code[0] = mm_ocall(SGXEMU_OCALL_MPROTECT, (uint64_t)(uintptr_t)c, SGXEMU_PAGE, 1 | 4, 0, NULL);
	r.accept_d = accept(d, reg | SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_PENDING);
	memcpy(d, code7, sizeof(code7));
	struct sgx_secinfo x = {.flags = reg | SGX_SECINFO_R | SGX_SECINFO_W | SGX_SECINFO_X};
	rt_emodpe(&x, d);
	r.mprotect_code[1] = mm_ocall(SGXEMU_OCALL_MPROTECT, (uint64_t)(uintptr_t)d, SGXEMU_PAGE, 1 | 2 | 4, 0, NULL);
	if (!r.augment_code && !r.acceptcopy && !r.mprotect_code[0] && !r.accept_d && !r.mprotect_code[1]) {
		r.ran[0] = ((int (*)(void))(uintptr_t)c)();
		r.ran[1] = ((int (*)(void))(uintptr_t)d)();
	}
	r.outside = mm_ocall(SGXEMU_OCALL_AUGMENT, rt_base() - SGXEMU_PAGE, SGXEMU_PAGE, SGX_SECINFO_R, 0, NULL);
	r.unaligned = mm_ocall(SGXEMU_OCALL_RESTRICT, (uint64_t)(uintptr_t)a + 8, SGXEMU_PAGE, SGX_SECINFO_R, 0, NULL);
	memcpy(arg, &r, sizeof(r));
	return 0;
}

static int64_t ec_alt_stack(void *arg, uint64_t len)
{
	static uint8_t other[8192] __attribute__((aligned(16)));
	(void)arg;
	(void)len;
	__asm__ volatile("mov %%rsp, %%rbx\n\t"
			 "mov %0, %%rsp\n\t"
			 "call encl_ud2\n\t"
			 "mov %%rbx, %%rsp"
			 :
			 : "r"(other + sizeof(other))
			 : "rbx", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
	return 1;
}

static int64_t ec_bad_free(void *arg, uint64_t len)
{
	(void)arg;
	(void)len;
	void *p = malloc(32);
	free(p);
	free(p);
	return 1;
}

/* Only a signal's handler (or a thread of the host) can end it: it reads the host's word. */
static int64_t ec_spin(void *arg, uint64_t len)
{
	(void)len;
	struct ec_spin *s = arg;
	int64_t polls = 0;
	s->entered = 1;
	while (!s->stop) {
		__asm__ volatile("pause");
		polls++;
	}
	return polls;
}

RT_ECALLS(ec_add, ec_reverse, ec_ocall, ec_nest, ec_depth, ec_print, ec_handlers, ec_ud2, ec_div0, ec_load, ec_last_exc,
	  ec_sites, ec_reloc, ec_heap, ec_thread, ec_report, ec_getkey, ec_raw_exit, ec_ocall_errors, ec_abort,
	  ec_state, ec_edmm, ec_alt_stack, ec_bad_free, ec_spin);

_Static_assert(EC_COUNT == 25, "one table entry per ECALL of abi.h");
