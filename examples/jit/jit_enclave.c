/* SPDX-License-Identifier: MIT */
/*
 * The JIT enclave: programs of the language of lang.h come in as source
 * text, are compiled to x86-64 inside the enclave, installed as R|X code
 * in pages of the dynamic area with the EDMM memory manager
 * (rt_mm_commit_data: EACCEPTCOPY), run, checked against the interpreter
 * and freed again (rt_mm_dealloc: TRIM, EACCEPT, REMOVE).  See jit_abi.h
 * for the ECALLs and docs/tutorial.md for how such an enclave is built.
 *
 * Every step prints what the enclave did ("enclave: ..." lines through
 * rt_print); the host prints the ioctls the memory manager's OCALLs turned
 * into, so the two together are the transcript of the flow.
 */
#include "jit_abi.h"
#include "lang.h"
#include "sgxemu/emm.h"
#include "sgxemu/rt.h"

struct slot {
	char name[JIT_NAME_MAX];
	struct lang_prog *prog;
	uint8_t *code; /* the compiled code in the heap (R/W data: never executed from there) */
	size_t code_size;
	uint64_t page; /* the code's offset in the region, page-aligned */
};

static struct slot slots[JIT_MAX_PROGRAMS];
static uint32_t n_slots;
static uint64_t region;	    /* linear address of the reserved region, 0 if none */
static uint64_t region_len; /* bytes */
static bool installed;	    /* the code is committed in the region */

static const char *err_name(int64_t e)
{
	switch (-e) {
	case 0:
		return "0";
	case RT_EPERM:
		return "-EPERM";
	case RT_ENOMEM:
		return "-ENOMEM";
	case RT_EACCES:
		return "-EACCES";
	case RT_EFAULT:
		return "-EFAULT";
	case RT_EBUSY:
		return "-EBUSY";
	case RT_EEXIST:
		return "-EEXIST";
	case RT_EINVAL:
		return "-EINVAL";
	case RT_ENOSPC:
		return "-ENOSPC";
	default:
		return "-errno";
	}
}

static const char *prot_name(uint32_t prot)
{
	static const char *const names[8] = {"---", "R--", "-W-", "RW-", "--X", "R-X", "-WX", "RWX"};
	return names[(prot & RT_MM_PROT_MASK) >> 24];
}

static uint64_t off(uint64_t addr)
{
	return addr - rt_base();
}

static void counts(struct rt_mm *mm, struct jit_mm_counts *c)
{
	struct rt_mm_stats s;
	rt_mm_get_stats(mm, &s);
	*c = (struct jit_mm_counts){
	    .committed_bytes = s.committed_bytes,
	    .eaccepts = s.eaccepts,
	    .eacceptcopies = s.eacceptcopies,
	    .emodpes = s.emodpes,
	    .demand_faults = s.demand_faults,
	    .ocalls_augment = s.ocalls_augment,
	    .ocalls_restrict = s.ocalls_restrict,
	    .ocalls_modify_type = s.ocalls_modify_type,
	    .ocalls_remove = s.ocalls_remove,
	    .ocalls_mprotect = s.ocalls_mprotect,
	};
}

static uint64_t pages_of(size_t bytes)
{
	return (bytes + SGXEMU_PAGE - 1) / SGXEMU_PAGE;
}

/* ---- COMPILE ---- */

static void print_code(const struct slot *s)
{
	char text[64];
	for (size_t o = 0; o < s->code_size;) {
		size_t ilen = 0;
		if (lang_disasm(s->code, s->code_size, o, text, sizeof(text), &ilen) != LANG_OK || !ilen) {
			rt_print("    enclave:   %4zx: (cannot decode)\n", o);
			return;
		}
		rt_print("    enclave:   %4zx: %s\n", o, text);
		o += ilen;
	}
}

static int64_t ec_compile(void *arg, uint64_t len)
{
	struct jit_compile c;
	if (len < sizeof(c))
		return -RT_EINVAL;
	memcpy(&c, arg, sizeof(c));
	if (c.src_len > JIT_MAX_SOURCE || len != sizeof(c) + c.src_len)
		return -RT_EINVAL;
	if (region)
		return -RT_EBUSY; /* the region is laid out: free it before adding programs */
	if (n_slots == JIT_MAX_PROGRAMS)
		return -RT_ENOSPC;
	struct slot *s = &slots[n_slots];
	memset(s, 0, sizeof(*s));
	c.name[JIT_NAME_MAX - 1] = '\0';
	memcpy(s->name, c.name, JIT_NAME_MAX);

	char *src = malloc(c.src_len + 1);
	s->prog = malloc(sizeof(*s->prog));
	if (!src || !s->prog) {
		free(src);
		free(s->prog);
		return -RT_ENOMEM;
	}
	memcpy(src, (const char *)arg + sizeof(c), c.src_len);
	src[c.src_len] = '\0';

	struct lang_error err = {0};
	c.status = lang_parse(src, s->prog, &err);
	free(src);
	if (c.status == LANG_OK) {
		size_t need = 0;
		int r = lang_compile(s->prog, NULL, 0, &need, &err);
		if (r == LANG_ENOSPC) {
			s->code = malloc(need);
			if (s->code)
				r = lang_compile(s->prog, s->code, need, &s->code_size, &err);
			else
				memcpy(err.msg, "out of enclave heap", sizeof("out of enclave heap"));
		}
		c.status = r;
	}
	if (c.status != LANG_OK) {
		c.error_line = err.line;
		c.error_column = err.column;
		memcpy(c.error_msg, err.msg, sizeof(c.error_msg));
		c.error_msg[sizeof(c.error_msg) - 1] = '\0';
		rt_print("    enclave: %s: %s at %d:%d: %s\n", s->name, lang_status_name(c.status), err.line,
			 err.column, c.error_msg);
		free(s->code);
		free(s->prog);
		memcpy(arg, &c, sizeof(c));
		return 0;
	}

	struct lang_code_info info = {0};
	if (lang_code_describe(s->code, s->code_size, &info) != LANG_OK) {
		free(s->code);
		free(s->prog);
		return -RT_EFAULT;
	}
	c.slot = n_slots++;
	c.bytecode = s->prog->ninsns;
	c.code_size = s->code_size;
	c.code_insns = info.insns;
	c.code_jumps = info.jumps;
	c.interp_status = lang_interp(s->prog, c.args[0], c.args[1], c.args[2], &c.interp_result);
	rt_print("    enclave: %s: %u bytecode instructions -> %zu bytes of x86-64 (%u instructions, %u jumps) "
		 "in the enclave heap\n",
		 s->name, c.bytecode, s->code_size, info.insns, info.jumps);
	if (c.disasm)
		print_code(s);
	if (c.interp_status == LANG_OK)
		rt_print("    enclave: %s: interpreter(%lld, %lld, %lld) = %lld\n", s->name, (long long)c.args[0],
			 (long long)c.args[1], (long long)c.args[2], (long long)c.interp_result);
	else
		rt_print("    enclave: %s: interpreter(%lld, %lld, %lld) stops with %s\n", s->name,
			 (long long)c.args[0], (long long)c.args[1], (long long)c.args[2],
			 lang_status_name(c.interp_status));
	memcpy(arg, &c, sizeof(c));
	return 0;
}

/* ---- RESERVE ---- */

static int64_t ec_reserve(void *arg, uint64_t len)
{
	struct jit_region r = {0};
	if (len != sizeof(r))
		return -RT_EINVAL;
	struct rt_mm *mm = rt_mm_default();
	if (!mm)
		return -RT_ENOSYS;
	if (region)
		return -RT_EBUSY;
	if (!n_slots)
		return -RT_EINVAL;
	uint64_t pages = 0;
	for (uint32_t i = 0; i < n_slots; i++) {
		slots[i].page = pages * SGXEMU_PAGE;
		pages += pages_of(slots[i].code_size);
	}
	uint64_t addr = 0;
	int rc = rt_mm_alloc(mm, 0, pages * SGXEMU_PAGE, RT_MM_RESERVE | RT_MM_PROT_READ | RT_MM_PROT_EXEC, NULL, NULL,
			     &addr);
	counts(mm, &r.mm);
	if (rc) {
		rt_print("    enclave: rt_mm_alloc(RESERVE, %llu pages) failed: %s\n", (unsigned long long)pages,
			 err_name(rc));
		memcpy(arg, &r, sizeof(r));
		return rc;
	}
	region = addr;
	region_len = pages * SGXEMU_PAGE;
	installed = false;
	r.offset = off(addr);
	r.pages = pages;
	rt_print("    enclave: rt_mm_alloc(RESERVE, %llu pages) = +0x%llx: address space only (no leaf, no OCALL)\n",
		 (unsigned long long)pages, (unsigned long long)r.offset);
	memcpy(arg, &r, sizeof(r));
	return 0;
}

/* ---- INSTALL ---- */

static int64_t ec_install(void *arg, uint64_t len)
{
	struct jit_region r = {0};
	if (len != sizeof(r))
		return -RT_EINVAL;
	struct rt_mm *mm = rt_mm_default();
	if (!mm || !region)
		return -RT_EINVAL;
	if (installed)
		return -RT_EBUSY;
	r.offset = off(region);
	r.pages = region_len / SGXEMU_PAGE;

	/* The pages' future content, page-aligned (EACCEPTCOPY copies whole pages); gaps are int3. */
	uint8_t *raw = malloc(region_len + SGXEMU_PAGE);
	if (!raw)
		return -RT_ENOMEM;
	uint8_t *staging = (uint8_t *)(((uintptr_t)raw + SGXEMU_PAGE - 1) & ~(uintptr_t)(SGXEMU_PAGE - 1));
	memset(staging, 0xcc, region_len);
	for (uint32_t i = 0; i < n_slots; i++)
		memcpy(staging + slots[i].page, slots[i].code, slots[i].code_size);

	struct jit_mm_counts before;
	counts(mm, &before);
	int rc = rt_mm_commit_data(mm, region, region_len, staging, RT_MM_PROT_READ | RT_MM_PROT_EXEC);
	counts(mm, &r.mm);
	if (rc) {
		rt_print("    enclave: rt_mm_commit_data(+0x%llx, %llu pages, R-X) failed: %s%s\n",
			 (unsigned long long)r.offset, (unsigned long long)r.pages, err_name(rc),
			 rc == -RT_EACCES ? " (the host refused executable pages)" : "");
		if (r.mm.eacceptcopies != before.eacceptcopies)
			rt_print(
			    "    enclave: %llu x EACCEPTCOPY had succeeded; undone with %llu x EACCEPT of TRIM pages\n",
			    (unsigned long long)(r.mm.eacceptcopies - before.eacceptcopies),
			    (unsigned long long)(r.mm.eaccepts - before.eaccepts));
		free(raw);
		memcpy(arg, &r, sizeof(r));
		return rc;
	}
	rt_print("    enclave: rt_mm_commit_data(+0x%llx, %llu pages, R-X): %llu x EACCEPTCOPY\n",
		 (unsigned long long)r.offset, (unsigned long long)r.pages,
		 (unsigned long long)(r.mm.eacceptcopies - before.eacceptcopies));
	for (uint64_t p = 0; p < r.pages; p++) {
		uint64_t addr = region + p * SGXEMU_PAGE;
		uint32_t prot = 0;
		int q = rt_mm_query(mm, addr, &prot);
		const char *what = "";
		for (uint32_t i = 0; i < n_slots; i++)
			if (slots[i].page == p * SGXEMU_PAGE)
				what = slots[i].name;
		rt_print("    enclave: EACCEPTCOPY page +0x%llx %s%s%s%s\n", (unsigned long long)off(addr),
			 q == 1 ? prot_name(prot) : "(not committed!)", *what ? " (code of " : "", what,
			 *what ? ")" : "");
		if (q != 1 || (prot & RT_MM_PROT_MASK) != (RT_MM_PROT_READ | RT_MM_PROT_EXEC))
			rc = -RT_EFAULT;
	}
	if (!rc && memcmp((const void *)(uintptr_t)region, staging, region_len) != 0)
		rc = -RT_EFAULT;
	free(raw);
	if (rc) {
		rt_print("    enclave: the installed pages do not hold the code with R-X\n");
		memcpy(arg, &r, sizeof(r));
		return rc;
	}
	installed = true;
	rt_print("    enclave: the pages hold the code byte for byte\n");
	memcpy(arg, &r, sizeof(r));
	return 0;
}

/* ---- RUN ---- */

static int64_t ec_run(void *arg, uint64_t len)
{
	struct jit_run x;
	if (len != sizeof(x))
		return -RT_EINVAL;
	memcpy(&x, arg, sizeof(x));
	if (x.slot >= n_slots || !installed)
		return -RT_EINVAL;
	const struct slot *s = &slots[x.slot];
	uint64_t addr = region + s->page;
	lang_fn fn = (lang_fn)(uintptr_t)addr;
	x.code_offset = off(addr);
	x.result = 0;
	x.interp_result = 0;
	x.status = (int32_t)fn(x.args[0], x.args[1], x.args[2], &x.result);
	x.interp_status = lang_interp(s->prog, x.args[0], x.args[1], x.args[2], &x.interp_result);
	x.match = x.status == x.interp_status && (x.status != LANG_OK || x.result == x.interp_result);
	if (x.status == LANG_OK)
		rt_print("    enclave: call +0x%llx %s(%lld, %lld, %lld) = %lld", (unsigned long long)x.code_offset,
			 s->name, (long long)x.args[0], (long long)x.args[1], (long long)x.args[2],
			 (long long)x.result);
	else
		rt_print("    enclave: call +0x%llx %s(%lld, %lld, %lld) stops with %s",
			 (unsigned long long)x.code_offset, s->name, (long long)x.args[0], (long long)x.args[1],
			 (long long)x.args[2], lang_status_name(x.status));
	rt_print("; interpreter: %s\n", x.match ? "the same" : "DIFFERENT");
	memcpy(arg, &x, sizeof(x));
	return 0;
}

/* ---- FREE ---- */

static void drop_programs(void)
{
	for (uint32_t i = 0; i < n_slots; i++) {
		free(slots[i].code);
		free(slots[i].prog);
	}
	memset(slots, 0, sizeof(slots));
	n_slots = 0;
}

/* The memory manager's trace during rt_mm_dealloc: its EACCEPTs of the TRIM pages, as they happen. */
static void trace_trim(void *priv, uint32_t leaf, uint64_t page, uint64_t flags, uint64_t rax)
{
	(void)priv;
	if (leaf != ENCLU_EACCEPT)
		return;
	rt_print("    enclave: EACCEPT page +0x%llx (%s) = %s\n", (unsigned long long)off(page),
		 flags == (SGX_SECINFO_PT(SGX_PT_TRIM) | SGX_SECINFO_MODIFIED) ? "PT_TRIM|MODIFIED" : "?",
		 rax ? "failed" : "0");
}

static int64_t ec_free(void *arg, uint64_t len)
{
	struct jit_region r = {0};
	if (len != sizeof(r))
		return -RT_EINVAL;
	struct rt_mm *mm = rt_mm_default();
	if (!mm)
		return -RT_ENOSYS;
	if (!region) {
		drop_programs();
		counts(mm, &r.mm);
		memcpy(arg, &r, sizeof(r));
		return 0;
	}
	r.offset = off(region);
	r.pages = region_len / SGXEMU_PAGE;
	struct jit_mm_counts before;
	counts(mm, &before);
	/* Each EACCEPT is printed as it happens, between the host's MODIFY_TYPES and REMOVE_PAGES. */
	rt_mm_set_trace(mm, trace_trim, NULL);
	int rc = rt_mm_dealloc(mm, region, region_len);
	rt_mm_set_trace(mm, NULL, NULL);
	counts(mm, &r.mm);
	if (rc) {
		rt_print("    enclave: rt_mm_dealloc(+0x%llx, %llu pages) failed: %s\n", (unsigned long long)r.offset,
			 (unsigned long long)r.pages, err_name(rc));
		memcpy(arg, &r, sizeof(r));
		return rc;
	}
	uint64_t accepted = r.mm.eaccepts - before.eaccepts, released = 0;
	for (uint64_t p = 0; p < r.pages; p++) {
		uint32_t prot = 0;
		int q = rt_mm_query(mm, region + p * SGXEMU_PAGE, &prot);
		released += q < 0;
		if (q == 1)
			rc = -RT_EFAULT;
	}
	rt_print("    enclave: rt_mm_dealloc(+0x%llx, %llu pages): %llu x EACCEPT of TRIM pages, %llu pages released\n",
		 (unsigned long long)r.offset, (unsigned long long)r.pages, (unsigned long long)accepted,
		 (unsigned long long)released);
	region = 0;
	region_len = 0;
	installed = false;
	drop_programs();
	memcpy(arg, &r, sizeof(r));
	return rc;
}

RT_ECALLS(ec_compile, ec_reserve, ec_install, ec_run, ec_free);
