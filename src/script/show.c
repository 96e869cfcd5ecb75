/* SPDX-License-Identifier: MIT */
/*
 * Queries: `show epcm|secs|tcs|ssa|regs|report|key|mem ...`.  They read the
 * model's state the way a debugger or a hardware probe would (the EPCM
 * through hw_epcm_get, the SECS through hw_secs_get, other pages directly)
 * and never change it.
 */
#include <string.h>

#include "script_int.h"

static const char *pt_name(uint8_t pt)
{
	static const char *const names[] = {"SECS", "TCS", "REG", "VA", "TRIM", "SS_FIRST", "SS_REST"};
	return pt < sizeof(names) / sizeof(names[0]) ? names[pt] : NULL;
}

static void num(char *buf, size_t len, uint64_t v)
{
	if (v < 10)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%#llx", (unsigned long long)v);
}

/* One EPCM entry on one line. */
static void epcm_line(struct sc *sc, uint64_t pa, char *buf, size_t len)
{
	struct hw_epcm_view v;
	if (!hw_epcm_get(sc_machine(sc), pa, &v)) {
		snprintf(buf, len, "not EPC");
		return;
	}
	if (!v.valid) {
		snprintf(buf, len, "valid=0");
		return;
	}
	char pt[16], addr[96], secs[96];
	const char *n = pt_name(v.pt);
	if (n)
		snprintf(pt, sizeof(pt), "%s", n);
	else
		snprintf(pt, sizeof(pt), "%u", v.pt);
	sc_sym_lin(sc, v.enclave_address, addr, sizeof(addr));
	sc_sym_phys(sc, v.enclave_secs, secs, sizeof(secs));
	if (v.pt == SGX_PT_SECS || v.pt == SGX_PT_VA)
		snprintf(buf, len, "valid=1 pt=%s r=%d w=%d x=%d", pt, v.r, v.w, v.x);
	else
		snprintf(buf, len,
			 "valid=1 pt=%s r=%d w=%d x=%d pending=%d modified=%d pr=%d blocked=%d addr=%s secs=%s", pt,
			 v.r, v.w, v.x, v.pending, v.modified, v.pr, v.blocked, addr, secs);
}

static void show_epcm(struct sc *sc, struct sc_stmt *st)
{
	const char *text = sc_pos_req(sc, st, "address");
	struct sc_addr a = sc_addr(sc, text);
	sc_check_used(sc, st);
	char line[512];
	if (a.kind == AK_ENCL && a.bare) {
		/* The whole enclave: its SECS, then every valid page of its window. */
		const struct sc_enclave *e = &sc->labels[a.label]->u.e;
		fprintf(sc->out, "%s\n", st->echo);
		epcm_line(sc, e->secs_pa, line, sizeof(line));
		fprintf(sc->out, "  %s.secs: %s\n", sc->labels[a.label]->name, line);
		for (uint64_t off = 0; off < e->size; off += SGX_PAGE_SIZE) {
			struct hw_epcm_view v;
			if (!hw_epcm_get(sc->m, e->window + off, &v) || !v.valid)
				continue;
			epcm_line(sc, e->window + off, line, sizeof(line));
			fprintf(sc->out, "  %s+0x%llx: %s\n", sc->labels[a.label]->name, (unsigned long long)off, line);
		}
		return;
	}
	epcm_line(sc, sc_phys(sc, a, text) & ~0xFFFULL, line, sizeof(line));
	fprintf(sc->out, "%s -> %s\n", st->echo, line);
}

static void show_secs(struct sc *sc, struct sc_stmt *st)
{
	const char *text = sc_pos_req(sc, st, "enclave");
	sc_check_used(sc, st);
	struct sc_label *l = sc_find(sc, text);
	uint64_t pa = l && l->kind == L_ENCLAVE ? l->u.e.secs_pa : sc_phys(sc, sc_addr(sc, text), text);
	struct hw_secs_view v;
	if (!hw_secs_get(sc_machine(sc), pa, &v)) {
		fprintf(sc->out, "%s -> not a valid SECS\n", st->echo);
		return;
	}
	const struct sgx_secs *s = &v.secs;
	char attrs[128], misc[64], mr[65], ms[65], base[96];
	sc_flags_str(s->attributes, sc_attr_names, attrs, sizeof(attrs));
	sc_flags_str(s->miscselect, sc_misc_names, misc, sizeof(misc));
	sc_hex(v.mrenclave_now, 32, mr);
	sc_hex(s->mrsigner, 32, ms);
	snprintf(base, sizeof(base), "%#llx", (unsigned long long)s->base);
	fprintf(sc->out, "%s\n", st->echo);
	fprintf(sc->out, "  size=%#llx base=%s ssaframesize=%u miscselect=%s attributes=%s xfrm=%#llx\n",
		(unsigned long long)s->size, base, s->ssa_frame_size, misc, attrs, (unsigned long long)s->xfrm);
	fprintf(sc->out, "  mrenclave=%s%s\n", mr, v.initialized ? "" : " (not final)");
	fprintf(sc->out, "  mrsigner=%s\n", ms);
	fprintf(sc->out, "  isvprodid=%u isvsvn=%u configsvn=%u init=%d children=%llu epoch=%llu threads=%u\n",
		s->isv_prod_id, s->isv_svn, s->config_svn, v.initialized, (unsigned long long)v.child_count,
		(unsigned long long)v.epoch, v.threads_inside);
}

static void show_tcs(struct sc *sc, struct sc_stmt *st)
{
	const char *text = sc_pos_req(sc, st, "TCS address");
	struct sc_addr a = sc_addr(sc, text);
	sc_check_used(sc, st);
	uint64_t pa = sc_phys(sc, a, text);
	if (!hw_is_epc(sc_machine(sc), pa) || (pa & 0xFFF)) {
		fprintf(sc->out, "%s -> not an EPC page\n", st->echo);
		return;
	}
	struct sgx_tcs t;
	memcpy(&t, (const void *)(uintptr_t)pa, sizeof(t));
	char flags[64];
	sc_flags_str(t.flags, sc_tcsflag_names, flags, sizeof(flags));
	char f[10][24];
	num(f[0], 24, t.ossa);
	num(f[1], 24, t.oentry);
	num(f[2], 24, t.ofsbase);
	num(f[3], 24, t.ogsbase);
	num(f[4], 24, t.fslimit);
	num(f[5], 24, t.gslimit);
	char aep[96];
	sc_sym_lin(sc, t.aep, aep, sizeof(aep));
	fprintf(sc->out, "%s\n", st->echo);
	fprintf(sc->out, "  state=%llu flags=%s ossa=%s cssa=%u nssa=%u oentry=%s aep=%s\n",
		(unsigned long long)t.state, flags, f[0], t.cssa, t.nssa, f[1], aep);
	fprintf(sc->out, "  ofsbase=%s ogsbase=%s fslimit=%s gslimit=%s\n", f[2], f[3], f[4], f[5]);
}

/* "name=value" with address-like values printed symbolically. */
static void reg_item(struct sc *sc, FILE *out, const char *name, uint64_t v)
{
	char b[96];
	sc_sym_lin(sc, v, b, sizeof(b));
	fprintf(out, " %s=%s", name, b);
}

/* Registers, per_line to a line, each line indented by two spaces. */
static void regs_lines(struct sc *sc, const char *const *names, const uint64_t *vals, size_t n, size_t per_line)
{
	for (size_t i = 0; i < n; i++) {
		if (i % per_line == 0)
			fprintf(sc->out, "%s ", i ? "\n" : "");
		reg_item(sc, sc->out, names[i], vals[i]);
	}
	fprintf(sc->out, "\n");
}

static struct sc_thread *thread_arg(struct sc *sc, struct sc_stmt *st)
{
	const char *name = sc_pos_req(sc, st, "thread");
	return &sc_get(sc, name, L_THREAD)->u.th;
}

static const char *const gpr_names[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

static void show_regs(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_arg(sc, st);
	sc_check_used(sc, st);
	const struct hw_regs *r = &th->t.regs;
	uint64_t vals[20] = {r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
			     r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15};
	fprintf(sc->out, "%s\n", st->echo);
	fprintf(sc->out, "  in_enclave=%d", th->t.in_enclave);
	reg_item(sc, sc->out, "rip", r->rip);
	fprintf(sc->out, " rflags=%#llx", (unsigned long long)r->rflags);
	reg_item(sc, sc->out, "fsbase", r->fsbase);
	reg_item(sc, sc->out, "gsbase", r->gsbase);
	fprintf(sc->out, "\n");
	regs_lines(sc, gpr_names, vals, 16, 8);
}

static void show_ssa(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_arg(sc, st);
	const char *fv = sc_opt(st, "frame");
	sc_check_used(sc, st);
	if (!th->entered)
		sc_fail(sc, "show ssa: the thread has not entered an enclave yet");
	struct hw_secs_view v;
	if (!hw_secs_get(sc_machine(sc), th->t.secs_pa, &v) || v.secs.ssa_frame_size == 0) {
		fprintf(sc->out, "%s -> the thread's enclave has no valid SECS\n", st->echo);
		return;
	}
	struct sgx_tcs tcs;
	memcpy(&tcs, (const void *)(uintptr_t)th->t.tcs_pa, sizeof(tcs));
	uint64_t frame = fv ? sc_num(sc, fv) : (tcs.cssa ? tcs.cssa - 1 : 0);
	uint64_t fsize = (uint64_t)v.secs.ssa_frame_size * SGX_PAGE_SIZE;
	uint64_t lin = v.secs.base + tcs.ossa + frame * fsize;
	struct sgx_gprsgx g;
	struct sgx_exinfo x;
	if (!sc_user_read(sc, lin + fsize - SGX_GPRSGX_SIZE, &g, sizeof(g)) ||
	    !sc_user_read(sc, lin + fsize - SGX_GPRSGX_SIZE - SGX_EXINFO_SIZE, &x, sizeof(x))) {
		fprintf(sc->out, "%s -> SSA frame %llu is not mapped\n", st->echo, (unsigned long long)frame);
		return;
	}
	uint64_t vals[16] = {g.rax, g.rcx, g.rdx, g.rbx, g.rsp, g.rbp, g.rsi, g.rdi,
			     g.r8,  g.r9,  g.r10, g.r11, g.r12, g.r13, g.r14, g.r15};
	char at[96];
	sc_sym_lin(sc, lin, at, sizeof(at));
	fprintf(sc->out, "%s\n", st->echo);
	fprintf(sc->out, "  frame %llu at %s:", (unsigned long long)frame, at);
	reg_item(sc, sc->out, "rip", g.rip);
	fprintf(sc->out, " rflags=%#llx", (unsigned long long)g.rflags);
	reg_item(sc, sc->out, "ursp", g.ursp);
	reg_item(sc, sc->out, "urbp", g.urbp);
	reg_item(sc, sc->out, "fsbase", g.fsbase);
	reg_item(sc, sc->out, "gsbase", g.gsbase);
	fprintf(sc->out, "\n");
	regs_lines(sc, gpr_names, vals, 16, 8);
	fprintf(sc->out, "  exitinfo=%#x", g.exitinfo);
	if (g.exitinfo & SGX_EXITINFO_VALID)
		fprintf(sc->out, " (valid vector=%u type=%u)", g.exitinfo & SGX_EXITINFO_VECTOR_MASK,
			(g.exitinfo >> SGX_EXITINFO_TYPE_SHIFT) & 7);
	fprintf(sc->out, " aexnotify=%u", g.aexnotify & 1);
	if (v.secs.miscselect & SGX_MISC_EXINFO) {
		char m[96];
		sc_sym_lin(sc, x.maddr, m, sizeof(m));
		fprintf(sc->out, " exinfo.maddr=%s exinfo.errcd=%#x", m, x.errcd);
	}
	fprintf(sc->out, "\n");
}

static void show_report(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_arg(sc, st);
	sc_check_used(sc, st);
	if (!th->has_buf)
		sc_fail(sc, "show report: the thread has no operand page (buf=)");
	struct sgx_report r;
	if (!sc_user_read(sc, th->buf + SC_BUF_REPORT, &r, sizeof(r))) {
		fprintf(sc->out, "%s -> the report page is not mapped\n", st->echo);
		return;
	}
	char attrs[128], mr[65], ms[65], cpusvn[33], rd[129];
	sc_flags_str(r.attributes, sc_attr_names, attrs, sizeof(attrs));
	sc_hex(r.mrenclave, 32, mr);
	sc_hex(r.mrsigner, 32, ms);
	sc_hex(r.cpusvn, 16, cpusvn);
	sc_hex(r.report_data, 64, rd);
	fprintf(sc->out, "%s\n", st->echo);
	fprintf(sc->out, "  cpusvn=%s miscselect=%#x attributes=%s xfrm=%#llx\n", cpusvn, r.miscselect, attrs,
		(unsigned long long)r.xfrm);
	fprintf(sc->out, "  mrenclave=%s\n  mrsigner=%s\n", mr, ms);
	fprintf(sc->out, "  isvprodid=%u isvsvn=%u configsvn=%u\n  reportdata=%s\n", r.isv_prod_id, r.isv_svn,
		r.config_svn, rd);
}

static void show_key(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_arg(sc, st);
	sc_check_used(sc, st);
	if (!th->has_buf)
		sc_fail(sc, "show key: the thread has no operand page (buf=)");
	uint8_t k[16];
	char hex[33];
	if (!sc_user_read(sc, th->buf + SC_BUF_KEY, k, sizeof(k))) {
		fprintf(sc->out, "%s -> the key page is not mapped\n", st->echo);
		return;
	}
	sc_hex(k, sizeof(k), hex);
	fprintf(sc->out, "%s -> %s\n", st->echo, hex);
}

static void show_mem(struct sc *sc, struct sc_stmt *st)
{
	const char *text = sc_pos_req(sc, st, "address");
	struct sc_addr a = sc_addr(sc, text);
	const char *lv = sc_opt(st, "len");
	sc_check_used(sc, st);
	uint64_t len = lv ? sc_num(sc, lv) : 16;
	uint64_t pa = sc_phys(sc, a, text);
	bool host = false;
	for (int i = 0; i < sc->nhosts; i++)
		if ((pa & ~0xFFFULL) == (uint64_t)(uintptr_t)sc->hosts[i].p)
			host = true;
	if (len == 0 || len > SGX_PAGE_SIZE - (pa & 0xFFF))
		sc_fail(sc, "show mem: len must be 1..%llu (to the end of the page)",
			(unsigned long long)(SGX_PAGE_SIZE - (pa & 0xFFF)));
	if (!host && !hw_is_epc(sc_machine(sc), pa)) {
		fprintf(sc->out, "%s -> neither EPC nor a page of the runner\n", st->echo);
		return;
	}
	const uint8_t *p = (const uint8_t *)(uintptr_t)pa;
	fprintf(sc->out, "%s ->", st->echo);
	for (uint64_t i = 0; i < len; i++) {
		if (i && i % 32 == 0)
			fprintf(sc->out, "\n  ");
		fprintf(sc->out, " %02x", p[i]);
	}
	fprintf(sc->out, "\n");
}

static void show_va(struct sc *sc, struct sc_stmt *st)
{
	const char *text = sc_pos_req(sc, st, "slot");
	struct sc_addr a = sc_addr(sc, text);
	sc_check_used(sc, st);
	uint64_t pa = sc_phys(sc, a, text);
	if (!hw_is_epc(sc_machine(sc), pa) || (pa & 7)) {
		fprintf(sc->out, "%s -> not an EPC slot\n", st->echo);
		return;
	}
	uint64_t v;
	memcpy(&v, (const void *)(uintptr_t)pa, sizeof(v));
	fprintf(sc->out, "%s -> %s\n", st->echo, v ? "occupied" : "empty");
}

void sc_show(struct sc *sc, struct sc_stmt *st)
{
	static const struct {
		const char *what;
		sc_handler fn;
	} shows[] = {
	    {"epcm", show_epcm},     {"secs", show_secs}, {"tcs", show_tcs}, {"ssa", show_ssa}, {"regs", show_regs},
	    {"report", show_report}, {"key", show_key},	  {"mem", show_mem}, {"va", show_va},
	};
	const char *what = sc_pos_req(sc, st, "what to show (epcm, secs, tcs, ssa, regs, report, key, mem, va)");
	for (size_t i = 0; i < sizeof(shows) / sizeof(shows[0]); i++) {
		if (strcmp(shows[i].what, what) == 0) {
			shows[i].fn(sc, st);
			return;
		}
	}
	sc_fail(sc, "show %s: unknown (epcm, secs, tcs, ssa, regs, report, key, mem, va)", what);
}
