/* SPDX-License-Identifier: MIT */
/*
 * The interpreter: the statement loop, declarations (machine, key, enclave,
 * page, va, frame, blob, thread, map, unmap), `expect`, and the memory the
 * runner plays with (host pages for ENCLS operands, the process page table
 * for ENCLU).  Leaves are in encls.c and enclu.c, queries in show.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "script.h"
#include "script_int.h"

/* ---- machine and memory ---- */

struct hw_machine *sc_machine(struct sc *sc)
{
	if (sc->m)
		return sc->m;
	char err[256];
	if (hw_machine_create(&sc->cfg, &sc->m, err, sizeof(err)) < 0)
		sc_fail(sc, "cannot create the machine: %s", err);
	return sc->m;
}

uint8_t *sc_host_page(struct sc *sc, const char *name)
{
	if (sc->nhosts == sc->caphosts) {
		int cap = sc->caphosts ? 2 * sc->caphosts : 16;
		struct sc_host *n = realloc(sc->hosts, (size_t)cap * sizeof(*n));
		if (!n)
			sc_fail(sc, "out of memory");
		sc->hosts = n;
		sc->caphosts = cap;
	}
	uint8_t *p = aligned_alloc(SGX_PAGE_SIZE, SGX_PAGE_SIZE);
	if (!p)
		sc_fail(sc, "out of memory");
	memset(p, 0, SGX_PAGE_SIZE);
	struct sc_host *h = &sc->hosts[sc->nhosts++];
	h->p = p;
	snprintf(h->name, sizeof(h->name), "%s", name);
	/* The kernel's page tables map host memory one to one; nothing else is mapped there. */
	if (pagetable_map(&sc->kpt, (uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p, HW_ACC_R | HW_ACC_W) < 0)
		sc_fail(sc, "out of memory");
	return p;
}

static bool is_host(struct sc *sc, uint64_t pa)
{
	for (int i = 0; i < sc->nhosts; i++)
		if ((pa & ~0xFFFULL) == (uint64_t)(uintptr_t)sc->hosts[i].p)
			return true;
	return false;
}

uint64_t sc_user_pa(struct sc *sc, uint64_t lin)
{
	const struct pt_entry *e = pagetable_lookup(&sc->upt, lin);
	return e ? e->pa | (lin & 0xFFF) : 0;
}

/* Copy to/from the memory behind lin page by page; only EPC frames and the runner's host pages. */
static bool user_copy(struct sc *sc, uint64_t lin, void *buf, size_t len, bool write)
{
	uint8_t *b = buf;
	while (len) {
		size_t n = SGX_PAGE_SIZE - (lin & 0xFFF);
		if (n > len)
			n = len;
		uint64_t pa = sc_user_pa(sc, lin);
		if (!pa || !(hw_is_epc(sc_machine(sc), pa) || is_host(sc, pa)))
			return false;
		if (write)
			memcpy((void *)(uintptr_t)pa, b, n);
		else
			memcpy(b, (const void *)(uintptr_t)pa, n);
		b += n;
		lin += n;
		len -= n;
	}
	return true;
}

bool sc_user_write(struct sc *sc, uint64_t lin, const void *buf, size_t len)
{
	return user_copy(sc, lin, (void *)buf, len, true);
}

bool sc_user_read(struct sc *sc, uint64_t lin, void *buf, size_t len)
{
	return user_copy(sc, lin, buf, len, false);
}

void sc_fill_data(struct sc *sc, uint8_t *page, const char *how, uint64_t tcs_off)
{
	if (strcmp(how, "zero") == 0) {
		memset(page, 0, SGX_PAGE_SIZE);
	} else if (strcmp(how, "pattern") == 0) {
		for (unsigned i = 0; i < SGX_PAGE_SIZE; i++)
			page[i] = (uint8_t)i;
	} else if (strcmp(how, "tcs") == 0) {
		/* A TCS whose one SSA frame is the next page; entry at the enclave base. */
		struct sgx_tcs *t = (struct sgx_tcs *)page;
		memset(page, 0, SGX_PAGE_SIZE);
		t->ossa = tcs_off + SGX_PAGE_SIZE;
		t->nssa = 1;
		t->fslimit = 0xFFF;
		t->gslimit = 0xFFF;
	} else {
		uint64_t b;
		if (!sc_parse_u64(how, &b) || b > 0xFF)
			sc_fail(sc, "data=%s: expected zero, pattern, tcs or a byte value", how);
		memset(page, (int)b, SGX_PAGE_SIZE);
	}
}

/* ---- declarations ---- */

static void decl_echo(struct sc *sc, struct sc_stmt *st)
{
	fprintf(sc->out, "%s\n", st->echo);
}

static void st_machine(struct sc *sc, struct sc_stmt *st)
{
	if (sc->m)
		sc_fail(sc, "machine must come before any statement that uses the machine");
	struct hw_config *c = &sc->cfg;
	const char *v;
	if (sc_flag(st, "sgx1"))
		c->sgx1_only = true;
	if (sc_flag(st, "lelocked"))
		c->lehash_locked = true;
	if (sc_flag(st, "random"))
		c->root_secret_set = false;
	if ((v = sc_opt(st, "epc")))
		c->epc_size = sc_num(sc, v);
	if ((v = sc_opt(st, "miscselect")))
		c->misc_supported = (uint32_t)sc_flags(sc, v, sc_misc_names);
	if ((v = sc_opt(st, "attributes")))
		c->attr_allowed = sc_flags(sc, v, sc_attr_names);
	if ((v = sc_opt(st, "xfrm")))
		c->xfrm_allowed = sc_flags(sc, v, sc_xfrm_names);
	if ((v = sc_opt(st, "xcr0")))
		c->xcr0 = sc_flags(sc, v, sc_xfrm_names);
	if ((v = sc_opt(st, "cpusvn"))) {
		uint64_t x = sc_num(sc, v);
		memset(c->cpusvn, 0, sizeof(c->cpusvn));
		memcpy(c->cpusvn, &x, sizeof(x));
	}
	sc_check_used(sc, st);
	sc_machine(sc);
	decl_echo(sc, st);
}

static void st_key(struct sc *sc, struct sc_stmt *st)
{
	const char *name = sc_pos_req(sc, st, "key name");
	const char *file = sc_opt(st, "file");
	sc_check_used(sc, st);
	/* The label first: a name already in use fails before any key exists to leak. */
	struct sc_label *l = sc_new_label(sc, name, L_KEY);
	struct crypto_rsa *k;
	if (file) {
		char path[8192];
		if (file[0] == '/' || !sc->dir[0])
			snprintf(path, sizeof(path), "%s", file);
		else
			snprintf(path, sizeof(path), "%s/%s", sc->dir, file);
		FILE *f = fopen(path, "r");
		if (!f)
			sc_fail(sc, "key %s: cannot open %s: %s", name, path, strerror(errno));
		char pem[16384];
		size_t n = fread(pem, 1, sizeof(pem) - 1, f);
		fclose(f);
		pem[n] = '\0';
		char err[256] = "";
		k = crypto_rsa_from_pem(pem, n, err, sizeof(err));
		if (!k)
			sc_fail(sc, "key %s: %s: %s", name, path, err);
	} else {
		k = crypto_rsa_generate();
		if (!k)
			sc_fail(sc, "key %s: key generation failed", name);
	}
	l->u.key = k;
	decl_echo(sc, st);
}

static void st_enclave(struct sc *sc, struct sc_stmt *st)
{
	const char *name = sc_pos_req(sc, st, "enclave name");
	struct hw_machine *m = sc_machine(sc);
	const char *v;
	uint64_t size = 0x10000;
	if ((v = sc_opt(st, "size")))
		size = sc_num(sc, v);
	if (size < SGX_PAGE_SIZE || (size & (size - 1)))
		sc_fail(sc,
			"enclave %s: size %s must be a power of two >= 0x1000 (use ecreate secs.size= for other "
			"values)",
			name, v);
	uint64_t base = (sc->next_base + size - 1) & ~(size - 1);
	if ((v = sc_opt(st, "base")))
		base = sc_num(sc, v);
	struct sc_enclave e = {.base = base,
			       .size = size,
			       .ssaframesize = 1,
			       .miscselect = SGX_MISC_EXINFO,
			       .attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG,
			       .xfrm = 3};
	if ((v = sc_opt(st, "ssaframesize")))
		e.ssaframesize = (uint32_t)sc_num(sc, v);
	if ((v = sc_opt(st, "miscselect")))
		e.miscselect = (uint32_t)sc_flags(sc, v, sc_misc_names);
	if ((v = sc_opt(st, "attributes")))
		e.attributes = sc_flags(sc, v, sc_attr_names);
	if ((v = sc_opt(st, "xfrm")))
		e.xfrm = sc_flags(sc, v, sc_xfrm_names);
	sc_check_used(sc, st);
	e.window = hw_epc_window_alloc(m, size);
	e.secs_pa = hw_epc_window_alloc(m, SGX_PAGE_SIZE);
	if (!e.window || !e.secs_pa)
		sc_fail(sc, "enclave %s: the physical space is exhausted", name);
	struct sc_label *l = sc_new_label(sc, name, L_ENCLAVE);
	l->u.e = e;
	/* The next default base: past this ELRANGE, on a 64 GiB boundary. */
	sc->next_base = (base + size + 0xFFFFFFFFFULL) & ~0xFFFFFFFFFULL;
	decl_echo(sc, st);
}

static void st_page(struct sc *sc, struct sc_stmt *st)
{
	const char *name = NULL, *expr = NULL;
	if (st->nargs >= 1 && st->args[0].key) {
		/* page P=E+0x1000 */
		name = st->args[0].key;
		expr = st->args[0].val;
		st->args[0].used = true;
	} else {
		name = sc_pos_req(sc, st, "page name");
		if (sc_flag(st, "="))
			expr = sc_pos_req(sc, st, "address");
		else
			expr = sc_pos_req(sc, st, "'= ADDRESS'");
	}
	sc_check_used(sc, st);
	struct sc_addr a = sc_addr(sc, expr);
	if (a.kind != AK_ENCL)
		sc_fail(sc, "page %s: '%s' is not an enclave address (E+OFFSET)", name, expr);
	struct sc_label *l = sc_new_label(sc, name, L_PAGE);
	l->u.p = (struct sc_page){.enclave = a.label, .off = a.off};
	decl_echo(sc, st);
}

static void st_frame(struct sc *sc, struct sc_stmt *st)
{
	const char *name = sc_pos_req(sc, st, "name");
	sc_check_used(sc, st);
	uint64_t pa = hw_epc_window_alloc(sc_machine(sc), SGX_PAGE_SIZE);
	if (!pa)
		sc_fail(sc, "%s %s: the physical space is exhausted", st->verb, name);
	struct sc_label *l = sc_new_label(sc, name, L_FRAME);
	l->u.f = (struct sc_frame){.pa = pa, .va = strcmp(st->verb, "va") == 0};
	decl_echo(sc, st);
}

static void st_blob(struct sc *sc, struct sc_stmt *st)
{
	const char *name = sc_pos_req(sc, st, "blob name");
	sc_check_used(sc, st);
	struct sc_label *l = sc_new_label(sc, name, L_BLOB);
	char n[SC_NAME_MAX + 8];
	snprintf(n, sizeof(n), "%s.page", name);
	l->u.b.page = sc_host_page(sc, n);
	snprintf(n, sizeof(n), "%s.pcmd", name);
	l->u.b.pcmd = sc_host_page(sc, n);
	decl_echo(sc, st);
}

static void st_thread(struct sc *sc, struct sc_stmt *st)
{
	const char *name = sc_pos_req(sc, st, "thread name");
	const char *buf = sc_opt(st, "buf");
	sc_check_used(sc, st);
	uint64_t lin = 0;
	if (buf) {
		lin = sc_lin(sc, sc_addr(sc, buf), buf);
		if (lin & 0xFFF)
			sc_fail(sc, "thread %s: buf=%s must be page aligned", name, buf);
	}
	struct sc_label *l = sc_new_label(sc, name, L_THREAD);
	struct sc_thread *th = &l->u.th;
	if (hw_thread_init(&th->t, sc_machine(sc), &sc->upt.mmu) < 0)
		sc_fail(sc, "out of memory");
	th->t.regs.rip = SC_HOST_RIP;
	th->t.regs.rsp = SC_HOST_RSP;
	th->t.regs.rbp = SC_HOST_RSP;
	th->has_buf = buf != NULL;
	th->buf = lin;
	decl_echo(sc, st);
}

static unsigned parse_prot(struct sc *sc, const char *s)
{
	if (strcmp(s, "none") == 0)
		return 0;
	unsigned p = 0;
	for (const char *c = s; *c; c++) {
		if (*c == 'r')
			p |= HW_ACC_R;
		else if (*c == 'w')
			p |= HW_ACC_W;
		else if (*c == 'x')
			p |= HW_ACC_X;
		else
			sc_fail(sc, "bad protection '%s' (letters r, w, x, or none)", s);
	}
	return p;
}

/* The pages a map/unmap statement covers: ADDR [pages=N]; a bare enclave label means its whole ELRANGE. */
static uint64_t map_range(struct sc *sc, struct sc_stmt *st, struct sc_addr *a, const char **text, uint64_t *pages)
{
	*text = sc_pos_req(sc, st, "address");
	*a = sc_addr(sc, *text);
	uint64_t lin = sc_lin(sc, *a, *text);
	if (lin & 0xFFF)
		sc_fail(sc, "%s: %s is not page aligned", st->verb, *text);
	*pages = a->bare ? sc->labels[a->label]->u.e.size / SGX_PAGE_SIZE : 1;
	const char *v = sc_opt(st, "pages");
	if (v)
		*pages = sc_num(sc, v);
	return lin;
}

static void st_map(struct sc *sc, struct sc_stmt *st)
{
	struct sc_addr a;
	const char *text;
	uint64_t pages;
	uint64_t lin = map_range(sc, st, &a, &text, &pages);
	const char *to = sc_opt(st, "to");
	const char *prot_s = sc_pos(st);
	unsigned prot = parse_prot(sc, prot_s ? prot_s : "rw");
	sc_check_used(sc, st);
	uint64_t pa;
	if (to)
		pa = sc_phys(sc, sc_addr(sc, to), to);
	else if (a.kind == AK_ENCL)
		pa = sc_phys(sc, a, text);
	else
		sc_fail(sc, "map %s: a numeric address needs to=FRAME", text);
	if (pa & 0xFFF)
		sc_fail(sc, "map: the target is not page aligned");
	/* Only memory the runner owns: EPC frames and its own host pages (accesses read and write it). */
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t p = pa + i * SGX_PAGE_SIZE;
		if (!hw_is_epc(sc_machine(sc), p) && !is_host(sc, p))
			sc_fail(sc,
				"map: the target of page %llu is neither EPC nor a page of the runner (nonepc, a blob)",
				(unsigned long long)i);
	}
	for (uint64_t i = 0; i < pages; i++)
		if (pagetable_map(&sc->upt, lin + i * SGX_PAGE_SIZE, pa + i * SGX_PAGE_SIZE, prot) < 0)
			sc_fail(sc, "out of memory");
	decl_echo(sc, st);
}

static void st_unmap(struct sc *sc, struct sc_stmt *st)
{
	struct sc_addr a;
	const char *text;
	uint64_t pages;
	uint64_t lin = map_range(sc, st, &a, &text, &pages);
	sc_check_used(sc, st);
	for (uint64_t i = 0; i < pages; i++)
		pagetable_unmap(&sc->upt, lin + i * SGX_PAGE_SIZE);
	decl_echo(sc, st);
}

/* ---- expect ---- */

/* `want` matches `got` if it is got itself or a prefix ending at a word or '(' boundary; '#' optional. */
static bool outcome_matches(const char *got, const char *want)
{
	if (got[0] == '#' && want[0] != '#')
		got++;
	size_t n = strlen(want);
	if (strncmp(got, want, n) != 0)
		return false;
	return got[n] == '\0' || got[n] == ' ' || got[n] == '(';
}

static void st_expect(struct sc *sc, struct sc_stmt *st)
{
	const char *want = st->echo + strlen("expect");
	while (*want == ' ')
		want++;
	if (!*want)
		sc_fail(sc, "expect: missing the outcome (e.g. OK, #GP, SGX_NOT_TRACKED, #PF(E+0x1000, err=0x8003))");
	if (!sc->has_outcome)
		sc_fail(sc, "expect: no leaf before it");
	for (int i = 0; i < st->nargs; i++)
		st->args[i].used = true;
	if (!outcome_matches(sc->outcome, want)) {
		fprintf(sc->err, "%s:%d: expected %s, got %s\n", sc->file, sc->line, want, sc->outcome);
		sc->failures++;
	}
}

/* `say TEXT`: print TEXT as a heading, so a scenario reads as a transcript. */
static void st_say(struct sc *sc, struct sc_stmt *st)
{
	const char *text = st->echo + strlen("say");
	while (*text == ' ')
		text++;
	for (int i = 0; i < st->nargs; i++)
		st->args[i].used = true;
	fprintf(sc->out, "\n== %s\n", text);
}

/* ---- dispatch ---- */

enum who { W_OS, W_THREAD, W_DECL };

static const struct verb {
	const char *name;
	sc_handler fn;
	enum who who;
} verbs[] = {
    {"machine", st_machine, W_DECL},
    {"key", st_key, W_DECL},
    {"enclave", st_enclave, W_DECL},
    {"page", st_page, W_DECL},
    {"va", st_frame, W_DECL},
    {"frame", st_frame, W_DECL},
    {"blob", st_blob, W_DECL},
    {"thread", st_thread, W_DECL},
    {"map", st_map, W_DECL},
    {"unmap", st_unmap, W_DECL},
    {"expect", st_expect, W_DECL},
    {"say", st_say, W_DECL},
    {"show", sc_show, W_DECL},
    {"lehash", sc_lehash, W_OS},
    {"ecreate", sc_ecreate, W_OS},
    {"eadd", sc_eadd, W_OS},
    {"eextend", sc_eextend, W_OS},
    {"einit", sc_einit, W_OS},
    {"eremove", sc_eremove, W_OS},
    {"epa", sc_epa, W_OS},
    {"eblock", sc_eblock, W_OS},
    {"etrack", sc_etrack, W_OS},
    {"ewb", sc_ewb, W_OS},
    {"eldu", sc_eldu, W_OS},
    {"eldb", sc_eldb, W_OS},
    {"eaug", sc_eaug, W_OS},
    {"emodpr", sc_emodpr, W_OS},
    {"emodt", sc_emodt, W_OS},
    {"edbgrd", sc_edbgrd, W_OS},
    {"edbgwr", sc_edbgwr, W_OS},
    {"encls", sc_encls_raw, W_OS},
    {"eenter", sc_eenter, W_THREAD},
    {"eresume", sc_eresume, W_THREAD},
    {"eexit", sc_eexit, W_THREAD},
    {"edeccssa", sc_edeccssa, W_THREAD},
    {"eaccept", sc_eaccept, W_THREAD},
    {"eacceptcopy", sc_eacceptcopy, W_THREAD},
    {"emodpe", sc_emodpe, W_THREAD},
    {"ereport", sc_ereport, W_THREAD},
    {"egetkey", sc_egetkey, W_THREAD},
    {"enclu", sc_enclu_raw, W_THREAD},
    {"aex", sc_aex, W_THREAD},
    {"read", sc_read, W_THREAD},
    {"write", sc_write, W_THREAD},
    {"exec", sc_exec, W_THREAD},
    {"set", sc_set, W_THREAD},
};

static void run_stmt(struct sc *sc, struct sc_stmt *st)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const struct verb *v = &verbs[i];
		if (strcmp(v->name, st->verb) != 0)
			continue;
		if (v->who == W_THREAD && !st->thread)
			sc_fail(sc, "%s runs on an enclave thread: write 'T: %s ...'", st->verb, st->verb);
		if (v->who != W_THREAD && st->thread)
			sc_fail(sc, "%s is not a thread's instruction: drop '%s:'", st->verb, st->thread);
		v->fn(sc, st);
		return;
	}
	sc_fail(sc, "unknown statement '%s'", st->verb);
}

static void sc_init(struct sc *sc, const char *name, FILE *out, FILE *err)
{
	sc->out = out;
	sc->err = err;
	sc->file = name && *name ? name : "-";
	if (name && strcmp(name, "-") != 0) {
		const char *slash = strrchr(name, '/');
		if (slash && (size_t)(slash - name) < sizeof(sc->dir))
			memcpy(sc->dir, name, (size_t)(slash - name) + (slash == name));
	}
	hw_config_default(&sc->cfg);
	sc->cfg.epc_size = 32ULL << 20;
	sc->cfg.space_size = 1ULL << 36;
	/* A fixed root secret: keys, blobs and report MACs are the same in every run. */
	sc->cfg.root_secret_set = true;
	memset(sc->cfg.root_secret, 0x5C, sizeof(sc->cfg.root_secret));
	sc->next_base = 0x7f0000000000ULL;
}

static void sc_free(struct sc *sc)
{
	for (int i = 0; i < sc->nlabels; i++) {
		struct sc_label *l = sc->labels[i];
		if (l->kind == L_THREAD)
			hw_thread_fini(&l->u.th.t);
		else if (l->kind == L_KEY)
			crypto_rsa_free(l->u.key);
		free(l);
	}
	free(sc->labels);
	for (int i = 0; i < sc->nhosts; i++)
		free(sc->hosts[i].p);
	free(sc->hosts);
	if (sc->kpt.slots)
		pagetable_fini(&sc->kpt);
	if (sc->upt.slots)
		pagetable_fini(&sc->upt);
	hw_machine_destroy(sc->m);
}

int script_run(FILE *in, const char *name, FILE *out, FILE *err)
{
	/* On the heap: sc_fail() longjmps back here, and the state must survive that intact. */
	struct sc *sc = calloc(1, sizeof(*sc));
	if (!sc) {
		fprintf(err, "%s: out of memory\n", name ? name : "-");
		return 2;
	}
	sc_init(sc, name, out, err);
	int rc;
	if (setjmp(sc->fail)) {
		rc = 2;
		goto done;
	}
	if (pagetable_init(&sc->kpt, false) < 0 || pagetable_init(&sc->upt, false) < 0)
		sc_fail(sc, "out of memory");
	sc->pageinfo = sc_host_page(sc, "pageinfo");
	sc->secinfo = sc_host_page(sc, "secinfo");
	sc->src = sc_host_page(sc, "src");
	sc->sig = sc_host_page(sc, "sigstruct");
	sc->token = sc_host_page(sc, "token");
	sc->nonepc = sc_host_page(sc, "nonepc");
	while (getline(&sc->linebuf, &sc->linecap, in) >= 0) {
		struct sc_stmt st;
		sc->line++;
		if (sc_parse_line(sc, sc->linebuf, &st))
			run_stmt(sc, &st);
		fflush(out);
	}
	rc = sc->failures ? 1 : 0;
done:
	free(sc->linebuf);
	sc_free(sc);
	free(sc);
	return rc;
}
