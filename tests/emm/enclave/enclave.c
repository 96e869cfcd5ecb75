/* SPDX-License-Identifier: MIT */
/*
 * The memory manager's test enclave: ECALLs that call the API of
 * <sgxemu/emm.h> as the host asks (abi.h) and touch the memory it manages.
 * Every ECALL copies what it reads from untrusted memory before using it.
 */
#include "abi.h"
#include "sgxemu/emm.h"
#include "sgxemu/rt.h"

_Static_assert(sizeof(struct mm_stats) == sizeof(struct rt_mm_stats), "struct mm_stats mirrors rt_mm_stats");

static uint8_t source[(MM_SRC_PAGES + 1) * 4096] __attribute__((aligned(4096)));
static uint64_t handled;
static int64_t probe[PROBE_COUNT];
static const uint64_t modes[] = {HANDLER_DECLINE, HANDLER_COMMIT, HANDLER_PROBE};

/* From an exception handler, the calls that need the host (HANDLER_PROBE). */
static void probe_calls(struct rt_mm *mm, uint64_t page)
{
	uint64_t out = 0, tcs = 0;
	probe[PROBE_ALLOC_READ_ONLY] =
	    rt_mm_alloc(mm, 0, SGXEMU_PAGE, RT_MM_COMMIT_NOW | RT_MM_PROT_READ, NULL, NULL, &out);
	probe[PROBE_ALLOC_RW] =
	    rt_mm_alloc(mm, 0, SGXEMU_PAGE, RT_MM_COMMIT_NOW | RT_MM_PROT_READ | RT_MM_PROT_WRITE, NULL, NULL, &out);
	probe[PROBE_COMMIT_DATA] = rt_mm_commit_data(mm, page, SGXEMU_PAGE, source, RT_MM_PROT_READ);
	probe[PROBE_UNCOMMIT] = rt_mm_uncommit(mm, page + SGXEMU_PAGE, SGXEMU_PAGE);
	probe[PROBE_PERMS] = rt_mm_modify_permissions(mm, page + SGXEMU_PAGE, SGXEMU_PAGE, RT_MM_PROT_READ);
	probe[PROBE_TYPE] = rt_mm_modify_type(mm, page + SGXEMU_PAGE, SGXEMU_PAGE, RT_MM_TYPE_TCS);
	probe[PROBE_THREAD_ADD] = rt_mm_thread_add(mm, &tcs);
}

/* A region's fault handler: counts, and does what priv (one of modes[]) says. */
static int counting_handler(struct rt_mm *mm, uint64_t addr, uint32_t error_code, void *priv)
{
	uint64_t page = addr & ~(SGXEMU_PAGE - 1), mode = *(const uint64_t *)priv;
	(void)error_code;
	__atomic_add_fetch(&handled, 1, __ATOMIC_RELAXED);
	if (mode == HANDLER_DECLINE)
		return RT_EXCEPTION_CONTINUE_SEARCH;
	if (mode == HANDLER_PROBE)
		probe_calls(mm, page);
	return rt_mm_commit(mm, page, SGXEMU_PAGE) == 0 ? RT_EXCEPTION_CONTINUE : RT_EXCEPTION_CONTINUE_SEARCH;
}

static const void *commit_source(const struct mm_call *c, void *arg)
{
	switch (c->source) {
	case SRC_ALIGNED:
		return source;
	case SRC_UNALIGNED:
		return source + 8;
	case SRC_RANGE:
		return (const void *)(uintptr_t)c->addr;
	case SRC_ARG:
		return arg;
	default:
		return NULL;
	}
}

static int64_t ec_mm(void *arg, uint64_t len)
{
	struct mm_call c;
	if (len != sizeof(c))
		return -RT_EINVAL;
	memcpy(&c, arg, sizeof(c));
	struct rt_mm *mm = c.null_mm ? NULL : rt_mm_default();
	uint32_t prot = 0;
	switch (c.op) {
	case OP_DEFAULT:
		c.ret = rt_mm_default() != NULL;
		break;
	case OP_ALLOC:
		c.ret = rt_mm_alloc(mm, c.addr, c.len, c.flags, NULL, NULL, &c.out);
		break;
	case OP_ALLOC_HANDLER:
		if (c.aux >= sizeof(modes) / sizeof(modes[0]))
			return -RT_EINVAL;
		c.ret = rt_mm_alloc(mm, c.addr, c.len, c.flags, counting_handler, (void *)&modes[c.aux], &c.out);
		break;
	case OP_COMMIT:
		c.ret = rt_mm_commit(mm, c.addr, c.len);
		break;
	case OP_COMMIT_DATA:
		if (c.len > MM_SRC_PAGES * SGXEMU_PAGE)
			return -RT_E2BIG;
		memset(source, 0, sizeof(source));
		memcpy(c.source == SRC_UNALIGNED ? source + 8 : source, c.data, sizeof(c.data));
		c.ret = rt_mm_commit_data(mm, c.addr, c.len, commit_source(&c, arg), c.flags);
		break;
	case OP_UNCOMMIT:
		c.ret = rt_mm_uncommit(mm, c.addr, c.len);
		break;
	case OP_DEALLOC:
		c.ret = rt_mm_dealloc(mm, c.addr, c.len);
		break;
	case OP_PERMS:
		c.ret = rt_mm_modify_permissions(mm, c.addr, c.len, c.flags);
		break;
	case OP_TYPE:
		c.ret = rt_mm_modify_type(mm, c.addr, c.len, c.flags);
		break;
	case OP_QUERY:
		c.ret = rt_mm_query(mm, c.addr, &prot);
		c.out = prot;
		break;
	case OP_THREAD_ADD:
		c.ret = rt_mm_thread_add(mm, c.flags ? NULL : &c.out);
		break;
	case OP_THREAD_REMOVE:
		c.ret = rt_mm_thread_remove(mm, c.addr);
		break;
	case OP_STATS: {
		struct rt_mm_stats s;
		rt_mm_get_stats(mm, &s);
		memcpy(&c.stats, &s, sizeof(s));
		c.ret = 0;
		break;
	}
	case OP_WRITE_TCS: {
		const struct sgxemu_layout *l = rt_layout();
		struct sgx_tcs *t = (struct sgx_tcs *)(uintptr_t)c.addr;
		memset(t, 0, sizeof(*t));
		t->nssa = (uint32_t)c.aux;
		t->ossa = l->thread_offset + SGXEMU_TA_SSA(l);
		t->oentry = l->entry_offset;
		t->ofsbase = t->ogsbase = l->thread_offset + SGXEMU_TA_TD(l);
		t->fslimit = t->gslimit = 0xfff;
		c.ret = 0;
		break;
	}
	case OP_HANDLED:
		c.ret = (int64_t)__atomic_load_n(&handled, __ATOMIC_RELAXED);
		memcpy(c.probe, probe, sizeof(probe));
		break;
	default:
		return -RT_EINVAL;
	}
	memcpy(arg, &c, sizeof(c));
	return 0;
}

static int64_t ec_access(void *arg, uint64_t len)
{
	struct mm_access a;
	if (len != sizeof(a))
		return -RT_EINVAL;
	memcpy(&a, arg, sizeof(a));
	switch (a.kind) {
	case ACC_READ:
		a.value = *(volatile uint64_t *)(uintptr_t)a.addr;
		break;
	case ACC_WRITE:
		*(volatile uint64_t *)(uintptr_t)a.addr = a.value;
		break;
	case ACC_CALL:
		a.value = (uint64_t)((uint64_t(*)(void))(uintptr_t)a.addr)();
		break;
	default:
		return -RT_EINVAL;
	}
	memcpy(arg, &a, sizeof(a));
	return 0;
}

static int64_t ec_fill(void *arg, uint64_t len)
{
	struct mm_fill f;
	if (len != sizeof(f))
		return -RT_EINVAL;
	memcpy(&f, arg, sizeof(f));
	for (uint64_t a = f.addr; a < f.addr + f.len; a += 8)
		*(volatile uint64_t *)(uintptr_t)a = a ^ f.seed;
	return 0;
}

static int64_t ec_check(void *arg, uint64_t len)
{
	struct mm_fill f;
	int64_t bad = 0;
	if (len != sizeof(f))
		return -RT_EINVAL;
	memcpy(&f, arg, sizeof(f));
	for (uint64_t a = f.addr; a < f.addr + f.len; a += 8)
		bad += *(volatile uint64_t *)(uintptr_t)a != (a ^ f.seed);
	return bad;
}

static int64_t ec_thread(void *arg, uint64_t len)
{
	volatile uint8_t deep[16 * 1024];
	(void)arg;
	(void)len;
	for (size_t i = 0; i < sizeof(deep); i += 512)
		deep[i] = (uint8_t)i;
	uint64_t index = rt_thread_data()->thread_index;
	if (rt_print("thread %lu\n", (unsigned long)index) <= 0)
		return -1;
	return deep[512] == 0 ? (int64_t)index : -2;
}

/* Allocate, fill, check and free in a loop (two host threads run it at once). */
static int64_t ec_stress(void *arg, uint64_t len)
{
	struct mm_stress s;
	if (len != sizeof(s))
		return -RT_EINVAL;
	memcpy(&s, arg, sizeof(s));
	struct rt_mm *mm = rt_mm_default();
	uint64_t bytes = (uint64_t)s.pages * SGXEMU_PAGE;
	for (uint32_t i = 0; i < s.rounds; i++) {
		uint64_t at = 0, seed = (uint64_t)rt_thread_data()->thread_index << 32 | i;
		uint32_t flags =
		    (i & 1 ? RT_MM_COMMIT_ON_DEMAND : RT_MM_COMMIT_NOW) | RT_MM_PROT_READ | RT_MM_PROT_WRITE;
		if (rt_mm_alloc(mm, 0, bytes, flags, NULL, NULL, &at) != 0)
			return 1;
		for (uint64_t a = at; a < at + bytes; a += 8)
			*(volatile uint64_t *)(uintptr_t)a = a ^ seed;
		for (uint64_t a = at; a < at + bytes; a += 8)
			if (*(volatile uint64_t *)(uintptr_t)a != (a ^ seed))
				return 2;
		if (rt_mm_dealloc(mm, at, bytes) != 0)
			return 3;
	}
	return 0;
}

RT_ECALLS(ec_mm, ec_access, ec_fill, ec_check, ec_thread, ec_stress);
