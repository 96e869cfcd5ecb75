/* SPDX-License-Identifier: MIT */
/*
 * ENCLU statements and enclave-mode accesses: the runner acts as a thread
 * of the process ("T: leaf ...").  Operand structures (SECINFO,
 * TARGETINFO, REPORTDATA, KEYREQUEST) are placed in the thread's buffer
 * page (thread T buf=E+OFFSET) directly, as if the enclave had written
 * them there; the leaf then reads them through the process page tables
 * and the EPCM like hardware does.
 */
#include <string.h>

#include "script_int.h"

static const char *const gprs[] = {"rsi", "rdi", "rsp", "rbp", "r8",  "r9",	"r10",	  "r11",
				   "r12", "r13", "r14", "r15", "rip", "rflags", "fsbase", "gsbase"};

static uint64_t *gpr(struct hw_regs *r, const char *name)
{
	uint64_t *const regs[] = {&r->rsi, &r->rdi, &r->rsp, &r->rbp, &r->r8,  &r->r9,	   &r->r10,    &r->r11,
				  &r->r12, &r->r13, &r->r14, &r->r15, &r->rip, &r->rflags, &r->fsbase, &r->gsbase};
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		if (strcmp(gprs[i], name) == 0)
			return regs[i];
	return NULL;
}

static struct sc_thread *thread_of(struct sc *sc, struct sc_stmt *st)
{
	return &sc_get(sc, st->thread, L_THREAD)->u.th;
}

static uint64_t need_buf(struct sc *sc, struct sc_stmt *st, struct sc_thread *th)
{
	if (!th->has_buf)
		sc_fail(sc, "%s: thread %s has no operand page: declare it with 'thread %s buf=E+OFFSET'", st->verb,
			st->thread, st->thread);
	return th->buf;
}

static void note_fault(struct sc_thread *th, struct hw_result r)
{
	if (r.kind == HW_FAULT) {
		th->has_fault = true;
		th->fault = r;
	}
}

/*
 * Load RAX and the operand registers (defaults, then rax=/rbx=/rcx=/rdx=
 * overrides; any other register may be set too) and execute ENCLU.
 */
static struct hw_result enclu(struct sc *sc, struct sc_stmt *st, struct sc_thread *th, uint64_t leaf,
			      const uint64_t *rbx, const uint64_t *rcx, const uint64_t *rdx)
{
	struct hw_regs *r = &th->t.regs;
	struct hw_regs n = *r;
	n.rax = sc_reg(sc, st, "rax", V_NUM, leaf);
	n.rbx = sc_reg(sc, st, "rbx", V_LIN, rbx ? *rbx : r->rbx);
	n.rcx = sc_reg(sc, st, "rcx", V_LIN, rcx ? *rcx : r->rcx);
	n.rdx = sc_reg(sc, st, "rdx", V_LIN, rdx ? *rdx : r->rdx);
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		*gpr(&n, gprs[i]) = sc_reg(sc, st, gprs[i], V_LIN, *gpr(&n, gprs[i]));
	sc_check_used(sc, st);
	*r = n;
	struct hw_result res = hw_enclu(&th->t);
	note_fault(th, res);
	return res;
}

static void emit(struct sc *sc, struct sc_stmt *st, struct hw_result r)
{
	sc_emit_result(sc, st, r, true, NULL);
}

static uint64_t pos_lin(struct sc *sc, struct sc_stmt *st, const char *what)
{
	const char *text = sc_pos_req(sc, st, what);
	return sc_lin(sc, sc_addr(sc, text), text);
}

static void enter(struct sc *sc, struct sc_stmt *st, uint64_t leaf)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t tcs = pos_lin(sc, st, "TCS address");
	const char *aep_s = sc_opt(st, "aep");
	uint64_t aep = aep_s ? sc_value(sc, aep_s, V_LIN, NULL, SC_DEFAULT_AEP) : SC_DEFAULT_AEP;
	struct hw_result r = enclu(sc, st, th, leaf, &tcs, &aep, NULL);
	if (hw_is_ok(r)) {
		th->entered = true;
		if (leaf == ENCLU_EENTER)
			th->ret = th->t.regs.rcx;
	}
	emit(sc, st, r);
}

void sc_eenter(struct sc *sc, struct sc_stmt *st)
{
	enter(sc, st, ENCLU_EENTER);
}

void sc_eresume(struct sc *sc, struct sc_stmt *st)
{
	enter(sc, st, ENCLU_ERESUME);
}

void sc_eexit(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t target = th->entered ? th->ret : SC_HOST_RIP + 3;
	const char *t = sc_opt(st, "target");
	if (t)
		target = sc_value(sc, t, V_LIN, NULL, target);
	emit(sc, st, enclu(sc, st, th, ENCLU_EEXIT, &target, NULL, NULL));
}

/* EDECCSSA (AEX-Notify): no operands; RAX = 9 and the other registers as they are. */
void sc_edeccssa(struct sc *sc, struct sc_stmt *st)
{
	emit(sc, st, enclu(sc, st, thread_of(sc, st), ENCLU_EDECCSSA, NULL, NULL, NULL));
}

/* Put the SECINFO (flags, then overrides) at the thread's buffer; returns its linear address. */
static uint64_t put_secinfo(struct sc *sc, struct sc_stmt *st, struct sc_thread *th, uint64_t def)
{
	uint64_t buf = need_buf(sc, st, th) + SC_BUF_SECINFO;
	struct sgx_secinfo si;
	memset(&si, 0, sizeof(si));
	si.flags = def;
	sc_apply(sc, st, &sc_s_secinfo, &si, "flags", NULL);
	sc_user_write(sc, buf, &si, sizeof(si));
	return buf;
}

void sc_eaccept(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t page = pos_lin(sc, st, "page address");
	uint64_t si =
	    put_secinfo(sc, st, th, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_PENDING | SGX_SECINFO_R | SGX_SECINFO_W);
	emit(sc, st, enclu(sc, st, th, ENCLU_EACCEPT, &si, &page, NULL));
}

void sc_eacceptcopy(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t page = pos_lin(sc, st, "destination address");
	const char *src_s = sc_opt(st, "src");
	if (!src_s)
		sc_fail(sc, "eacceptcopy: missing src=ADDRESS (the source page)");
	uint64_t src = sc_lin(sc, sc_addr(sc, src_s), src_s);
	uint64_t si = put_secinfo(sc, st, th, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_X);
	emit(sc, st, enclu(sc, st, th, ENCLU_EACCEPTCOPY, &si, &page, &src));
}

void sc_emodpe(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t page = pos_lin(sc, st, "page address");
	uint64_t si = put_secinfo(sc, st, th, SGX_SECINFO_X);
	emit(sc, st, enclu(sc, st, th, ENCLU_EMODPE, &si, &page, NULL));
}

static const struct sc_field reportdata_fields[] = {
    {"data", 0, 64, V_BYTES, NULL},
    {NULL, 0, 0, V_NUM, NULL},
};
static const struct sc_struct s_reportdata = {"reportdata", reportdata_fields, 64};

void sc_ereport(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t buf = need_buf(sc, st, th);
	const char *target = sc_opt(st, "target");
	uint64_t tsecs = th->t.secs_pa;
	if (target && strcmp(target, "self") != 0)
		tsecs = sc_get(sc, target, L_ENCLAVE)->u.e.secs_pa;
	struct sgx_targetinfo ti;
	memset(&ti, 0, sizeof(ti));
	struct hw_secs_view v;
	if (tsecs && hw_secs_get(sc_machine(sc), tsecs, &v)) {
		memcpy(ti.mrenclave, v.secs.mrenclave, 32);
		ti.attributes = v.secs.attributes;
		ti.xfrm = v.secs.xfrm;
		ti.miscselect = v.secs.miscselect;
		ti.config_svn = v.secs.config_svn;
		memcpy(ti.config_id, v.secs.config_id, 64);
	}
	sc_apply(sc, st, &sc_s_targetinfo, &ti, NULL, NULL);
	uint8_t rd[64] = {0};
	sc_apply(sc, st, &s_reportdata, rd, "data", NULL);
	sc_user_write(sc, buf + SC_BUF_TARGETINFO, &ti, sizeof(ti));
	sc_user_write(sc, buf + SC_BUF_REPORTDATA, rd, sizeof(rd));
	uint64_t rbx = buf + SC_BUF_TARGETINFO, rcx = buf + SC_BUF_REPORTDATA, rdx = buf + SC_BUF_REPORT;
	emit(sc, st, enclu(sc, st, th, ENCLU_EREPORT, &rbx, &rcx, &rdx));
}

void sc_egetkey(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t buf = need_buf(sc, st, th);
	struct sgx_keyrequest kr;
	memset(&kr, 0, sizeof(kr));
	const char *v;
	kr.keyname = SGX_KEY_SEAL;
	kr.keypolicy = SGX_KEYPOLICY_MRSIGNER;
	if ((v = sc_opt(st, "name")))
		kr.keyname = (uint16_t)sc_value(sc, v, V_NUM, sc_keyname_names, 0);
	if ((v = sc_opt(st, "policy")))
		kr.keypolicy = (uint16_t)sc_flags(sc, v, sc_policy_names);
	sc_apply(sc, st, &sc_s_keyrequest, &kr, NULL, NULL);
	sc_user_write(sc, buf + SC_BUF_KEYREQUEST, &kr, sizeof(kr));
	uint64_t rbx = buf + SC_BUF_KEYREQUEST, rcx = buf + SC_BUF_KEY;
	emit(sc, st, enclu(sc, st, th, ENCLU_EGETKEY, &rbx, &rcx, NULL));
}

void sc_enclu_raw(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	bool has_rax = false;
	for (int i = 0; i < st->nargs; i++)
		if (st->args[i].key && strcmp(st->args[i].key, "rax") == 0)
			has_rax = true;
	if (!has_rax)
		sc_fail(sc, "enclu: give the leaf number with rax=");
	emit(sc, st, enclu(sc, st, th, 0, NULL, NULL, NULL));
}

/* Set registers of the thread (any of rax..r15, rip, rflags, fsbase, gsbase); no instruction runs. */
void sc_set(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	struct hw_regs *r = &th->t.regs;
	r->rax = sc_reg(sc, st, "rax", V_LIN, r->rax);
	r->rbx = sc_reg(sc, st, "rbx", V_LIN, r->rbx);
	r->rcx = sc_reg(sc, st, "rcx", V_LIN, r->rcx);
	r->rdx = sc_reg(sc, st, "rdx", V_LIN, r->rdx);
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		*gpr(r, gprs[i]) = sc_reg(sc, st, gprs[i], V_LIN, *gpr(r, gprs[i]));
	sc_check_used(sc, st);
	fprintf(sc->out, "%s\n", st->echo);
}

/* ---- AEX ---- */

static void format_event(struct sc *sc, const struct hw_event *ev, char *buf, size_t len)
{
	if (ev->interrupt) {
		snprintf(buf, len, "interrupt(%#x)", ev->vector);
		return;
	}
	const char *name = sc_name_of(sc_vector_names, ev->vector);
	char a[96];
	if (ev->vector == X86_PF) {
		sc_sym_lin(sc, ev->addr, a, sizeof(a));
		snprintf(buf, len, "#PF(%s, err=%#x)", a, ev->errcode);
	} else if (name && ev->has_errcode) {
		snprintf(buf, len, "#%s(%#x)", name, ev->errcode);
	} else if (name) {
		snprintf(buf, len, "#%s", name);
	} else {
		snprintf(buf, len, "#%u", ev->vector);
	}
	if (ev->vector == X86_GP && ev->errcode == 0)
		snprintf(buf, len, "#GP(0)");
}

void sc_aex(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	struct hw_event ev = {.vector = 0x20, .interrupt = true};
	const char *v;
	if (sc_flag(st, "last")) {
		if (!th->has_fault)
			sc_fail(sc, "aex last: thread %s has no fault to deliver", st->thread);
		ev = (struct hw_event){.vector = th->fault.vector,
				       .has_errcode = th->fault.vector == X86_PF || th->fault.vector == X86_GP,
				       .errcode = th->fault.errcode,
				       .addr = th->fault.addr};
	}
	if ((v = sc_opt(st, "vector"))) {
		ev.vector = (uint8_t)sc_value(sc, v, V_NUM, sc_vector_names, 0);
		ev.interrupt = false;
		ev.has_errcode = ev.vector == X86_PF || ev.vector == X86_GP || ev.vector == X86_AC;
	}
	if ((v = sc_opt(st, "err")))
		ev.errcode = (uint32_t)sc_num(sc, v);
	if ((v = sc_opt(st, "addr")))
		ev.addr = sc_lin(sc, sc_addr(sc, v), v);
	if (sc_flag(st, "software"))
		ev.software = true;
	if (sc_flag(st, "interrupt"))
		ev.interrupt = true;
	sc_check_used(sc, st);
	bool inside = th->t.in_enclave;
	struct hw_event os = hw_aex(&th->t, &ev);
	th->has_fault = false;
	char b[160];
	format_event(sc, &os, b, sizeof(b));
	sc_emit(sc, st, "%s%s", inside ? "AEX, delivered " : "delivered ", b);
}

/* ---- ordinary accesses of enclave code ---- */

/*
 * Is the access at lin (pa) an abort-page access: EPC reached outside enclave
 * mode, or from enclave mode outside ELRANGE?  Reads give all-ones, writes
 * are dropped.
 */
static bool abort_page(struct sc *sc, struct sc_thread *th, uint64_t lin, uint64_t pa)
{
	if (!hw_is_epc(sc_machine(sc), pa))
		return false;
	if (!th->t.in_enclave)
		return true;
	struct hw_secs_view v;
	if (!hw_secs_get(sc->m, th->t.secs_pa, &v))
		return true;
	return lin < v.secs.base || lin - v.secs.base >= v.secs.size;
}

static struct hw_result access(struct sc *sc, struct sc_stmt *st, struct sc_thread *th, uint64_t lin, unsigned acc,
			       uint64_t *pa)
{
	sc_check_used(sc, st);
	struct hw_result r = hw_access_check(&th->t, lin, acc, pa);
	note_fault(th, r);
	return r;
}

static size_t access_size(struct sc *sc, struct sc_stmt *st, uint64_t lin)
{
	const char *v = sc_opt(st, "size");
	uint64_t size = v ? sc_num(sc, v) : 8;
	if (size != 1 && size != 2 && size != 4 && size != 8)
		sc_fail(sc, "%s: size must be 1, 2, 4 or 8", st->verb);
	if ((lin & 0xFFF) + size > SGX_PAGE_SIZE)
		sc_fail(sc, "%s: the access crosses a page boundary", st->verb);
	return (size_t)size;
}

void sc_read(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t lin = pos_lin(sc, st, "address");
	size_t size = access_size(sc, st, lin);
	uint64_t pa;
	struct hw_result r = access(sc, st, th, lin, HW_ACC_R, &pa);
	if (!hw_is_ok(r)) {
		emit(sc, st, r);
		return;
	}
	uint64_t val = 0;
	if (abort_page(sc, th, lin, pa))
		val = size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
	else
		memcpy(&val, (const void *)(uintptr_t)pa, size);
	sc_emit(sc, st, "OK %#llx", (unsigned long long)val);
}

void sc_write(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t lin = pos_lin(sc, st, "address");
	const char *data = sc_opt(st, "data");
	uint8_t page[SGX_PAGE_SIZE];
	size_t len;
	if (data) {
		if (lin & 0xFFF)
			sc_fail(sc, "write data=: the address must be page aligned");
		sc_fill_data(sc, page, data, lin & 0xFFF);
		/* A TCS image written by enclave code names its SSA frame by enclave offset: the next page. */
		if (strcmp(data, "tcs") == 0) {
			struct hw_secs_view v;
			uint64_t off =
			    th->t.in_enclave && hw_secs_get(sc_machine(sc), th->t.secs_pa, &v) ? lin - v.secs.base : 0;
			((struct sgx_tcs *)page)->ossa = off + SGX_PAGE_SIZE;
		}
		sc_apply(sc, st, &sc_s_tcs, page, NULL, NULL);
		len = SGX_PAGE_SIZE;
	} else {
		const char *v = sc_opt(st, "value");
		if (!v)
			sc_fail(sc, "write: give value=N (with size=1|2|4|8) or data=zero|pattern|tcs|BYTE");
		len = access_size(sc, st, lin);
		uint64_t x = sc_value(sc, v, V_LIN, NULL, 0);
		memcpy(page, &x, len);
	}
	uint64_t pa;
	struct hw_result r = access(sc, st, th, lin, HW_ACC_W, &pa);
	if (hw_is_ok(r) && !abort_page(sc, th, lin, pa))
		memcpy((void *)(uintptr_t)pa, page, len);
	emit(sc, st, r);
}

void sc_exec(struct sc *sc, struct sc_stmt *st)
{
	struct sc_thread *th = thread_of(sc, st);
	uint64_t lin = pos_lin(sc, st, "address");
	uint64_t pa;
	emit(sc, st, access(sc, st, th, lin, HW_ACC_X, &pa));
}
