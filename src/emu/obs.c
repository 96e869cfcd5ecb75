/* SPDX-License-Identifier: MIT */
/*
 * Observation (obs.h): the observer hooks of hw and the kernel, and the
 * ioctls of src/emu, turned into trace events (trace.h) and the counters
 * of the process's record (obs_record.h).
 *
 * The hooks run on the thread the event happened on, often in exec's
 * signal handler: everything here that an event reaches formats into a
 * buffer on the stack and writes it with one system call; counters are
 * atomic; errno is kept.  What the process sees does not change, except
 * time: no signal mask it could observe, one descriptor numbered high and
 * close-on-exec (the trace; the record file is mapped and closed).
 *
 * Events (the Trace Event Format, trace.h): per thread (pid, tid), times
 * in microseconds of CLOCK_MONOTONIC.
 *   - every ENCLS and ENCLU leaf: an instant event ("ph":"i") named after
 *     the leaf, category encls/enclu, args: operands, outcome ("result":
 *     "OK", an SGX code name, "#PF" with the error code's bits), time;
 *   - ECALL: a slice (B at EENTER, E at EEXIT), AEX: a slice (B at the AEX
 *     with vector, error code, address, RIP; E at ERESUME);
 *   - ioctls and the driver's #PFs, reclaim batches: complete events (X);
 *   - EPC pages in use: a counter ("ph":"C");
 *   - process and thread names: metadata ("ph":"M").
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <asm/sgx.h>

#include "kernel.h"
#include "obs.h"
#include "sgxemu/ext.h"
#include "trace.h"

bool obs_on;

static struct {
	pid_t pid;
	struct sgxk *k;
	struct obs_record *rec;
	bool trace;	     /* the trace file is open */
	bool summary;	     /* print the summary at the end (no report directory) */
	bool map;	     /* the EPC map at the end */
	bool in_dir;	     /* rec is a file of SGXEMU_REPORT_DIR */
	char base[PATH_MAX]; /* in_dir: the record's path without ".stats" */
	char trace_path[PATH_MAX];
	atomic_int warned; /* the trace stopped: said once */
} obs;
static struct obs_record local_rec;
static bool forked; /* this process was forked (by a process with this code loaded) */

#define COUNT(field, v) __atomic_fetch_add(&(field), (uint64_t)(v), __ATOMIC_RELAXED)

uint64_t obs_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	return ns ? ns : 1;
}

static int tid_now(void)
{
	return (int)syscall(SYS_gettid);
}

/* ---- one event ---- */

#define EV_MAX 1024

struct ev {
	struct tbuf b;
	char mem[EV_MAX];
	bool args; /* "args" opened */
};

static void ev_begin(struct ev *e, const char *name, const char *cat, char ph, uint64_t ts, int tid)
{
	e->b = (struct tbuf){.p = e->mem, .cap = sizeof(e->mem)};
	e->args = false;
	tb_raw(&e->b, ",\n{\"name\":");
	tb_str(&e->b, name);
	if (cat) {
		tb_raw(&e->b, ",\"cat\":");
		tb_str(&e->b, cat);
	}
	tb_raw(&e->b, ",\"ph\":\"");
	tb_char(&e->b, ph);
	tb_raw(&e->b, "\",\"ts\":");
	tb_usec(&e->b, ts);
	tb_raw(&e->b, ",\"pid\":");
	tb_dec(&e->b, (uint64_t)obs.pid);
	tb_raw(&e->b, ",\"tid\":");
	tb_dec(&e->b, (uint64_t)tid);
	if (ph == 'i')
		tb_raw(&e->b, ",\"s\":\"t\"");
}

static void ev_dur(struct ev *e, uint64_t ns)
{
	tb_raw(&e->b, ",\"dur\":");
	tb_usec(&e->b, ns);
}

static void arg_key(struct ev *e, const char *key)
{
	tb_raw(&e->b, e->args ? "," : ",\"args\":{");
	e->args = true;
	tb_str(&e->b, key);
	tb_char(&e->b, ':');
}

static void arg_str(struct ev *e, const char *key, const char *v)
{
	arg_key(e, key);
	tb_str(&e->b, v);
}

static void arg_hex(struct ev *e, const char *key, uint64_t v)
{
	arg_key(e, key);
	tb_hexstr(&e->b, v);
}

static void arg_dec(struct ev *e, const char *key, uint64_t v)
{
	arg_key(e, key);
	tb_dec(&e->b, v);
}

static void arg_sdec(struct ev *e, const char *key, int64_t v)
{
	arg_key(e, key);
	tb_sdec(&e->b, v);
}

static void arg_usec(struct ev *e, const char *key, uint64_t ns)
{
	arg_key(e, key);
	tb_usec(&e->b, ns);
}

/* Say once that the trace stopped, and why (write(2): this may be a signal handler). */
static void trace_stopped(void)
{
	if (atomic_exchange(&obs.warned, 1))
		return;
	char mem[PATH_MAX + 128];
	struct tbuf b = {.p = mem, .cap = sizeof(mem)};
	tb_raw(&b, "sgxemu: trace ");
	tb_raw(&b, obs.trace_path);
	tb_raw(&b, ": writing failed (errno ");
	tb_dec(&b, (uint64_t)trace_error());
	tb_raw(&b, "): later events are not in it\n");
	ssize_t w = write(STDERR_FILENO, b.p, b.n);
	(void)w;
}

static void ev_put(struct ev *e)
{
	if (e->args)
		tb_char(&e->b, '}');
	tb_char(&e->b, '}');
	if (e->b.full || !trace_put(e->b.p, e->b.n)) {
		COUNT(obs.rec->trace_dropped, 1);
		if (trace_error())
			trace_stopped();
	}
}

/* ---- names of threads ---- */

#define TID_SLOTS 1024
static _Atomic int tid_seen[TID_SLOTS];

/* Is this the first event of thread tid (then it gets its name)?  A full table names no more threads. */
static bool tid_first(int tid)
{
	unsigned h = ((unsigned)tid * 2654435761U) % TID_SLOTS;
	for (unsigned i = 0; i < TID_SLOTS; i++) {
		_Atomic int *s = &tid_seen[(h + i) % TID_SLOTS];
		int v = atomic_load_explicit(s, memory_order_relaxed);
		if (v == tid)
			return false;
		if (v == 0) {
			if (atomic_compare_exchange_strong(s, &v, tid))
				return true;
			if (v == tid)
				return false;
		}
	}
	return false;
}

/* path's first line (a comm file), without its newline; "" if unreadable.  Raw system calls: any context. */
static void read_line(const char *path, char *out, size_t len)
{
	out[0] = 0;
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = syscall(SYS_read, fd, out, len - 1);
	syscall(SYS_close, fd);
	if (n <= 0) {
		out[0] = 0;
		return;
	}
	out[n] = 0;
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = 0;
}

static void name_thread(int tid)
{
	if (!tid_first(tid))
		return;
	char path[64], name[32];
	struct tbuf pb = {.p = path, .cap = sizeof(path) - 1};
	tb_raw(&pb, "/proc/self/task/");
	tb_dec(&pb, (uint64_t)tid);
	tb_raw(&pb, "/comm");
	path[pb.n] = 0;
	read_line(path, name, sizeof(name));
	struct ev e;
	ev_begin(&e, "thread_name", NULL, 'M', obs_now(), tid);
	arg_str(&e, "name", name[0] ? name : "thread");
	ev_put(&e);
}

/* The thread of an event that is about to be written (its name first, once). */
static int ev_thread(void)
{
	int tid = tid_now();
	name_thread(tid);
	return tid;
}

/* ---- decoding ---- */

static const char *vector_name(uint8_t v)
{
	switch (v) {
	case X86_DE:
		return "#DE";
	case X86_DB:
		return "#DB";
	case X86_BP:
		return "#BP";
	case X86_BR:
		return "#BR";
	case X86_UD:
		return "#UD";
	case X86_GP:
		return "#GP";
	case X86_PF:
		return "#PF";
	case X86_MF:
		return "#MF";
	case X86_AC:
		return "#AC";
	case X86_XM:
		return "#XM";
	case X86_CP:
		return "#CP";
	default:
		return "exception";
	}
}

/* A #PF error code as its bits: "P|W|U|SGX" ("0": none). */
static void pf_bits(uint32_t err, char *out, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} bits[] = {{PF_P, "P"}, {PF_W, "W"},	{PF_U, "U"},   {PF_RSVD, "RSVD"},
		    {PF_I, "I"}, {PF_PK, "PK"}, {PF_SS, "SS"}, {PF_SGX, "SGX"}};
	struct tbuf b = {.p = out, .cap = len - 1};
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		if (!(err & bits[i].bit))
			continue;
		if (b.n)
			tb_char(&b, '|');
		tb_raw(&b, bits[i].name);
	}
	if (!b.n)
		tb_char(&b, '0');
	out[b.n] = 0;
}

static void arg_pf(struct ev *e, const char *key, uint32_t err)
{
	char bits[40];
	pf_bits(err, bits, sizeof(bits));
	arg_str(e, key, bits);
}

static void arg_result(struct ev *e, struct hw_result r)
{
	switch (r.kind) {
	case HW_OK:
		arg_str(e, "result", "OK");
		if (r.rax)
			arg_str(e, "warning", hw_error_name(r.rax));
		return;
	case HW_CODE:
		arg_str(e, "result", hw_error_name(r.rax));
		arg_dec(e, "code", r.rax);
		return;
	case HW_FAULT:
		arg_str(e, "result", vector_name(r.vector));
		if (r.vector == X86_PF) {
			arg_pf(e, "error", r.errcode);
			arg_hex(e, "addr", r.addr);
		}
		return;
	}
}

/* SECINFO.FLAGS as "RW- REG" (and PENDING, MODIFIED, PR when set). */
static void arg_secinfo(struct ev *e, uint64_t flags)
{
	static const char *const types[] = {
	    [SGX_PT_SECS] = "SECS", [SGX_PT_TCS] = "TCS",	    [SGX_PT_REG] = "REG",	 [SGX_PT_VA] = "VA",
	    [SGX_PT_TRIM] = "TRIM", [SGX_PT_SS_FIRST] = "SS_FIRST", [SGX_PT_SS_REST] = "SS_REST"};
	char mem[64];
	struct tbuf b = {.p = mem, .cap = sizeof(mem) - 1};
	tb_char(&b, flags & SGX_SECINFO_R ? 'R' : '-');
	tb_char(&b, flags & SGX_SECINFO_W ? 'W' : '-');
	tb_char(&b, flags & SGX_SECINFO_X ? 'X' : '-');
	tb_char(&b, ' ');
	uint64_t pt = (flags & SGX_SECINFO_PT_MASK) >> SGX_SECINFO_PT_SHIFT;
	if (pt < sizeof(types) / sizeof(types[0]) && types[pt])
		tb_raw(&b, types[pt]);
	else
		tb_dec(&b, pt);
	if (flags & SGX_SECINFO_PENDING)
		tb_raw(&b, " PENDING");
	if (flags & SGX_SECINFO_MODIFIED)
		tb_raw(&b, " MODIFIED");
	if (flags & SGX_SECINFO_PR)
		tb_raw(&b, " PR");
	mem[b.n] = 0;
	arg_str(e, "secinfo", mem);
}

/* An EPC operand: its offset in the EPC ("epc"), and the enclave page it holds when the EPCM knows. */
static void arg_epc(struct ev *e, struct hw_machine *m, const char *key, uint64_t pa, bool page)
{
	if (!hw_is_epc(m, pa)) {
		arg_hex(e, key, pa);
		return;
	}
	arg_hex(e, key, hw_epc_offset(m, pa));
	struct hw_epcm_view v;
	if (page && hw_epcm_get(m, pa & ~0xFFFULL, &v) && v.valid && v.pt != SGX_PT_SECS && v.pt != SGX_PT_VA)
		arg_hex(e, "page", v.enclave_address);
}

/*
 * The operands of an ENCLS leaf.  The driver's PAGEINFO and SECINFO are
 * its own memory (mmu NULL: host pointers), read only when the leaf did
 * not fault on them.
 */
static void encls_args(struct ev *e, struct hw_machine *m, const struct hw_mmu *mmu, uint64_t leaf, uint64_t rbx,
		       uint64_t rcx, uint64_t rdx, struct hw_result r)
{
	bool deref = !mmu && r.kind != HW_FAULT;
	const struct sgx_pageinfo *pi = (const struct sgx_pageinfo *)(uintptr_t)rbx;
	switch (leaf) {
	case ENCLS_ECREATE:
		if (deref && pi->srcpge) {
			const struct sgx_secs *s = (const struct sgx_secs *)(uintptr_t)pi->srcpge;
			arg_hex(e, "base", s->base);
			arg_hex(e, "size", s->size);
		}
		arg_epc(e, m, "secs", rcx, false);
		break;
	case ENCLS_EADD:
	case ENCLS_EAUG:
		if (deref) {
			arg_hex(e, "page", pi->linaddr);
			if (pi->secinfo)
				arg_secinfo(e, ((const struct sgx_secinfo *)(uintptr_t)pi->secinfo)->flags);
		}
		arg_epc(e, m, "epc", rcx, false);
		break;
	case ENCLS_EWB:
	case ENCLS_ELDU:
	case ENCLS_ELDB:
		if (deref)
			arg_hex(e, "page", pi->linaddr);
		arg_epc(e, m, "epc", rcx, false);
		arg_epc(e, m, "va_slot", rdx, false);
		break;
	case ENCLS_EMODPR:
	case ENCLS_EMODT:
		if (deref)
			arg_secinfo(e, ((const struct sgx_secinfo *)(uintptr_t)rbx)->flags);
		arg_epc(e, m, "epc", rcx, true);
		break;
	case ENCLS_EEXTEND:
		arg_epc(e, m, "epc", rcx, true);
		break;
	case ENCLS_EINIT:
	case ENCLS_ETRACK:
		arg_epc(e, m, "secs", rcx, false);
		break;
	case ENCLS_EBLOCK:
		arg_epc(e, m, "epc", rcx, true);
		break;
	case ENCLS_EDBGRD:
	case ENCLS_EDBGWR:
		arg_epc(e, m, "epc", rcx, true);
		arg_hex(e, "data", rbx);
		break;
	default: /* EREMOVE, EPA */
		arg_epc(e, m, "epc", rcx, false);
		break;
	}
	arg_result(e, r);
}

static void enclu_args(struct ev *e, uint64_t leaf, const struct hw_regs *in)
{
	switch (leaf) {
	case ENCLU_EENTER:
	case ENCLU_ERESUME:
		arg_hex(e, "tcs", in->rbx);
		arg_hex(e, "aep", in->rcx);
		break;
	case ENCLU_EEXIT:
		arg_hex(e, "target", in->rbx);
		break;
	case ENCLU_EACCEPT:
	case ENCLU_EMODPE:
		arg_hex(e, "secinfo", in->rbx);
		arg_hex(e, "page", in->rcx);
		break;
	case ENCLU_EACCEPTCOPY:
		arg_hex(e, "secinfo", in->rbx);
		arg_hex(e, "page", in->rcx);
		arg_hex(e, "source", in->rdx);
		break;
	case ENCLU_EREPORT:
		arg_hex(e, "targetinfo", in->rbx);
		arg_hex(e, "reportdata", in->rcx);
		arg_hex(e, "report", in->rdx);
		break;
	case ENCLU_EGETKEY:
		arg_hex(e, "keyrequest", in->rbx);
		arg_hex(e, "key", in->rcx);
		break;
	default:
		break;
	}
}

/* ---- the hooks ---- */

static void count_leaf(struct obs_leaf *l, struct hw_result r, uint64_t ns)
{
	COUNT(l->count, 1);
	if (r.kind != HW_OK)
		COUNT(l->failed, 1);
	COUNT(l->ns, ns);
}

static void on_encls(struct hw_machine *m, const struct hw_mmu *mmu, uint64_t leaf, uint64_t rbx, uint64_t rcx,
		     uint64_t rdx, struct hw_result r, uint64_t t0)
{
	int saved = errno;
	uint64_t t1 = obs_now();
	if (leaf < OBS_ENCLS_LEAVES)
		count_leaf(&obs.rec->encls[leaf], r, t1 - t0);
	if (obs.trace) {
		const char *name = hw_encls_name(leaf);
		struct ev e;
		ev_begin(&e, name ? name : "ENCLS", "encls", 'i', t0, ev_thread());
		encls_args(&e, m, mmu, leaf, rbx, rcx, rdx, r);
		arg_usec(&e, "us", t1 - t0);
		ev_put(&e);
	}
	errno = saved;
}

static void on_enclu(struct hw_thread *t, const struct hw_regs *in, struct hw_result r, uint64_t t0)
{
	int saved = errno;
	uint64_t t1 = obs_now(), leaf = in->rax;
	if (leaf < OBS_ENCLU_LEAVES)
		count_leaf(&obs.rec->enclu[leaf], r, t1 - t0);
	if (obs.trace) {
		int tid = ev_thread();
		const char *name = hw_enclu_name(leaf);
		struct ev e;
		/* A slice ends where the leaf that ends it starts. */
		if (hw_is_ok(r) && (leaf == ENCLU_EEXIT || leaf == ENCLU_ERESUME)) {
			ev_begin(&e, leaf == ENCLU_EEXIT ? "ECALL" : "AEX", "enclave", 'E', t0, tid);
			ev_put(&e);
		}
		ev_begin(&e, name ? name : "ENCLU", "enclu", 'i', t0, tid);
		enclu_args(&e, leaf, in);
		arg_result(&e, r);
		arg_usec(&e, "us", t1 - t0);
		ev_put(&e);
		if (hw_is_ok(r) && leaf == ENCLU_EENTER) {
			/* The ECALL starts where EENTER ends. */
			ev_begin(&e, "ECALL", "enclave", 'B', t1, tid);
			arg_hex(&e, "tcs", in->rbx);
			struct hw_secs_view v;
			if (hw_secs_get(t->m, t->secs_pa, &v))
				arg_hex(&e, "enclave", v.secs.base);
			ev_put(&e);
		}
	}
	errno = saved;
}

static void on_aex(struct hw_thread *t, const struct hw_event *ev)
{
	int saved = errno;
	enum obs_aex kind = ev->interrupt ? OBS_AEX_INTERRUPT : ev->vector == X86_PF ? OBS_AEX_PF : OBS_AEX_EXCEPTION;
	COUNT(obs.rec->aex[kind], 1);
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "AEX", "enclave", 'B', obs_now(), ev_thread());
		if (ev->interrupt) {
			arg_str(&e, "cause", "interrupt");
		} else {
			arg_str(&e, "cause", "exception");
			arg_str(&e, "vector", vector_name(ev->vector));
			if (ev->vector == X86_PF) {
				arg_pf(&e, "error", ev->errcode);
				arg_hex(&e, "addr", ev->addr);
			} else if (ev->has_errcode) {
				arg_hex(&e, "error_code", ev->errcode);
			}
		}
		arg_hex(&e, "rip", t->regs.rip);
		ev_put(&e);
	}
	errno = saved;
}

static void on_epc(struct hw_machine *m, uint64_t used, uint64_t total)
{
	(void)m;
	(void)total;
	int saved = errno;
	__atomic_store_n(&obs.rec->epc_used, used, __ATOMIC_RELAXED);
	uint64_t peak = __atomic_load_n(&obs.rec->epc_peak, __ATOMIC_RELAXED);
	while (used > peak &&
	       !__atomic_compare_exchange_n(&obs.rec->epc_peak, &peak, used, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "EPC", NULL, 'C', obs_now(), ev_thread());
		arg_dec(&e, "pages in use", used);
		ev_put(&e);
	}
	errno = saved;
}

static void on_fault(struct sgxk *k, uint64_t addr, uint32_t errcode, enum sgxk_fault f, enum sgxk_fault_how how,
		     uint64_t t0)
{
	(void)k;
	int saved = errno;
	uint64_t t1 = obs_now();
	static const char *const outcome[] = {
	    [SGXK_FAULT_FIXED] = "fixed", [SGXK_FAULT_SIGBUS] = "SIGBUS", [SGXK_FAULT_SIGSEGV] = "SIGSEGV"};
	static const char *const by[] = {[SGXK_FAULT_HOW_NONE] = "nothing (the access faults again)",
					 [SGXK_FAULT_HOW_EAUG] = "EAUG",
					 [SGXK_FAULT_HOW_ELDU] = "ELDU",
					 [SGXK_FAULT_HOW_PTE] = "PTE"};
	static const enum obs_fault kinds[] = {[SGXK_FAULT_FIXED] = OBS_FAULT_FIXED,
					       [SGXK_FAULT_SIGBUS] = OBS_FAULT_SIGBUS,
					       [SGXK_FAULT_SIGSEGV] = OBS_FAULT_SIGSEGV};
	static const enum obs_fix fixes[] = {[SGXK_FAULT_HOW_NONE] = OBS_FIX_RETRY,
					     [SGXK_FAULT_HOW_EAUG] = OBS_FIX_EAUG,
					     [SGXK_FAULT_HOW_ELDU] = OBS_FIX_ELDU,
					     [SGXK_FAULT_HOW_PTE] = OBS_FIX_PTE};
	COUNT(obs.rec->faults[kinds[f]], 1);
	if (f == SGXK_FAULT_FIXED)
		COUNT(obs.rec->fixes[fixes[how]], 1);
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "page fault", "driver", 'X', t0, ev_thread());
		ev_dur(&e, t1 - t0);
		arg_hex(&e, "addr", addr);
		arg_pf(&e, "error", errcode);
		arg_str(&e, "outcome", outcome[f]);
		if (f == SGXK_FAULT_FIXED)
			arg_str(&e, "by", by[how]);
		ev_put(&e);
	}
	errno = saved;
}

static void on_reclaim(struct sgxk *k, unsigned isolated, unsigned evicted, uint64_t t0)
{
	(void)k;
	int saved = errno;
	uint64_t t1 = obs_now();
	COUNT(obs.rec->reclaim_batches, 1);
	COUNT(obs.rec->reclaim_isolated, isolated);
	COUNT(obs.rec->reclaim_evicted, evicted);
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "reclaim batch", "driver", 'X', t0, ev_thread());
		ev_dur(&e, t1 - t0);
		arg_dec(&e, "taken", isolated);
		arg_dec(&e, "written back", evicted);
		ev_put(&e);
	}
	errno = saved;
}

static const struct hw_obs hw_hooks = {
    .now = obs_now, .encls = on_encls, .enclu = on_enclu, .aex = on_aex, .epc = on_epc};
static void on_chaos_ioctl(struct sgxk *k, const char *name, uint64_t addr, uint64_t done, uint64_t pages,
			   const char *answer)
{
	(void)k;
	int saved = errno;
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "chaos", "chaos", 'i', obs_now(), ev_thread());
		arg_str(&e, "kind", "ioctl");
		arg_str(&e, "ioctl", name);
		arg_hex(&e, "addr", addr);
		arg_dec(&e, "pages done", done);
		arg_dec(&e, "pages asked", pages);
		arg_str(&e, "answer", answer);
		ev_put(&e);
	}
	errno = saved;
}

static void on_chaos_busy(struct sgxk *k, const char *name)
{
	(void)k;
	int saved = errno;
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "chaos", "chaos", 'i', obs_now(), ev_thread());
		arg_str(&e, "kind", "busy");
		arg_str(&e, "ioctl", name);
		arg_str(&e, "answer", "EBUSY");
		ev_put(&e);
	}
	errno = saved;
}

static void on_chaos_sigbus(struct sgxk *k, uint64_t addr)
{
	(void)k;
	int saved = errno;
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "chaos", "chaos", 'i', obs_now(), ev_thread());
		arg_str(&e, "kind", "sigbus");
		arg_hex(&e, "addr", addr);
		arg_str(&e, "answer", "SIGBUS");
		ev_put(&e);
	}
	errno = saved;
}

static void on_chaos_tlb(struct sgxk *k, const char *name, uint64_t addr, uint64_t pages, unsigned usec)
{
	(void)k;
	int saved = errno;
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "chaos", "chaos", 'i', obs_now(), ev_thread());
		arg_str(&e, "kind", "tlb");
		arg_str(&e, "ioctl", name);
		arg_hex(&e, "addr", addr);
		arg_dec(&e, "pages", pages);
		arg_dec(&e, "usec", usec);
		ev_put(&e);
	}
	errno = saved;
}

void obs_chaos(const char *what, uint64_t rip, uint64_t page, int result)
{
	int saved = errno;
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "chaos", "chaos", 'i', obs_now(), ev_thread());
		arg_str(&e, "kind", what);
		arg_hex(&e, "rip", rip);
		if (page) {
			arg_hex(&e, "evicted", page);
			arg_str(&e, "eviction", result == 0 ? "done" : result == -EBUSY ? "busy" : "not in the EPC");
		}
		ev_put(&e);
	}
	errno = saved;
}

void obs_check(const char *msg, uint64_t page, uint64_t rip)
{
	int saved = errno;
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, "check", "check", 'i', obs_now(), ev_thread());
		arg_str(&e, "message", msg);
		arg_hex(&e, "page", page);
		arg_hex(&e, "rip", rip);
		ev_put(&e);
	}
	errno = saved;
}

static const struct sgxk_obs kernel_hooks = {.now = obs_now,
					     .fault = on_fault,
					     .reclaim = on_reclaim,
					     .chaos_ioctl = on_chaos_ioctl,
					     .chaos_busy = on_chaos_busy,
					     .chaos_sigbus = on_chaos_sigbus,
					     .chaos_tlb = on_chaos_tlb};

/* ---- ioctls, mmaps, forks ---- */

static const struct {
	unsigned int cmd;
	const char *name;
	enum obs_ioc kind;
} ioctls[] = {
    {SGX_IOC_ENCLAVE_CREATE, "SGX_IOC_ENCLAVE_CREATE", OBS_IOC_CREATE},
    {SGX_IOC_ENCLAVE_ADD_PAGES, "SGX_IOC_ENCLAVE_ADD_PAGES", OBS_IOC_ADD_PAGES},
    {SGX_IOC_ENCLAVE_INIT, "SGX_IOC_ENCLAVE_INIT", OBS_IOC_INIT},
    {SGX_IOC_ENCLAVE_PROVISION, "SGX_IOC_ENCLAVE_PROVISION", OBS_IOC_PROVISION},
    {SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, "SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS", OBS_IOC_RESTRICT},
    {SGX_IOC_ENCLAVE_MODIFY_TYPES, "SGX_IOC_ENCLAVE_MODIFY_TYPES", OBS_IOC_MODIFY_TYPES},
    {SGX_IOC_ENCLAVE_REMOVE_PAGES, "SGX_IOC_ENCLAVE_REMOVE_PAGES", OBS_IOC_REMOVE_PAGES},
    {SGX_IOC_ENCLAVE_AUGMENT_PAGES, "SGX_IOC_ENCLAVE_AUGMENT_PAGES", OBS_IOC_AUGMENT},
};

/* The program's struct, read without trusting the pointer (a bad one is EFAULT for the ioctl, not a crash here). */
static bool read_user(void *dst, const void *src, size_t len)
{
	struct iovec local = {.iov_base = dst, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)src, .iov_len = len};
	return syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL) == (long)len;
}

/* The u64 fields of a range ioctl's struct, after the call (counts and results are outputs). */
static void ioctl_args(struct ev *e, enum obs_ioc kind, const void *arg)
{
	uint64_t a[6];
	switch (kind) {
	case OBS_IOC_ADD_PAGES:
		if (!read_user(a, arg, sizeof(struct sgx_enclave_add_pages)))
			break;
		arg_hex(e, "offset", a[1]);
		arg_hex(e, "length", a[2]);
		arg_hex(e, "flags", a[4]);
		arg_hex(e, "count", a[5]);
		return;
	case OBS_IOC_RESTRICT:
	case OBS_IOC_MODIFY_TYPES:
		if (!read_user(a, arg, 5 * sizeof(uint64_t)))
			break;
		arg_hex(e, "offset", a[0]);
		arg_hex(e, "length", a[1]);
		arg_hex(e, kind == OBS_IOC_RESTRICT ? "permissions" : "page_type", a[2]);
		arg_dec(e, "result", a[3]);
		arg_hex(e, "count", a[4]);
		return;
	case OBS_IOC_REMOVE_PAGES:
		if (!read_user(a, arg, 3 * sizeof(uint64_t)))
			break;
		arg_hex(e, "offset", a[0]);
		arg_hex(e, "length", a[1]);
		arg_hex(e, "count", a[2]);
		return;
	case OBS_IOC_AUGMENT:
		if (!read_user(a, arg, 4 * sizeof(uint64_t)))
			break;
		arg_hex(e, "offset", a[0]);
		arg_hex(e, "length", a[1]);
		arg_hex(e, "count", a[3]);
		return;
	default:
		return;
	}
	arg_str(e, "arg", "not readable");
}

void obs_ioctl(int fd, unsigned int cmd, const void *arg, long ret, uint64_t t0)
{
	if (!obs_on)
		return;
	int saved = errno;
	uint64_t t1 = obs_now();
	const char *name = NULL;
	enum obs_ioc kind = OBS_IOC_OTHER;
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
		if (ioctls[i].cmd == cmd) {
			name = ioctls[i].name;
			kind = ioctls[i].kind;
		}
	}
	COUNT(obs.rec->ioctls[kind], 1);
	if (ret < 0)
		COUNT(obs.rec->ioctl_failed, 1);
	if (obs.trace) {
		struct ev e;
		ev_begin(&e, name ? name : "ioctl", "ioctl", 'X', t0, ev_thread());
		ev_dur(&e, t1 - t0);
		arg_dec(&e, "fd", (uint64_t)fd);
		if (!name)
			arg_hex(&e, "cmd", cmd);
		ioctl_args(&e, kind, arg);
		arg_sdec(&e, "ret", ret < 0 ? -1 : ret);
		if (ret < 0)
			arg_dec(&e, "errno", (uint64_t)-ret);
		ev_put(&e);
	}
	errno = saved;
}

void obs_count_mmap(void)
{
	if (obs_on)
		COUNT(obs.rec->mmaps, 1);
}

void obs_count_fork(void)
{
	if (obs_on)
		COUNT(obs.rec->forks, 1);
}

/* ---- starting ---- */

static bool env_flag(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

/* dir/PID.stats (PID.1.stats ... after an exec kept the pid) mapped shared; base gets dir/PID[.N]. */
static struct obs_record *record_file(const char *dir, char *base, size_t len)
{
	char path[PATH_MAX + 16];
	int fd = -1;
	for (unsigned i = 0; i < 1000 && fd < 0; i++) {
		if (i)
			snprintf(base, len, "%s/%d.%u", dir, (int)obs.pid, i);
		else
			snprintf(base, len, "%s/%d", dir, (int)obs.pid);
		snprintf(path, sizeof(path), "%s.stats", base);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		fprintf(stderr, "sgxemu: %s=%s: cannot create %s: %s; the summary of process %d is printed here\n",
			SGXEMU_ENV_REPORT_DIR, dir, path, strerror(errno), (int)obs.pid);
		return NULL;
	}
	struct obs_record *r = MAP_FAILED;
	if (ftruncate(fd, sizeof(*r)) == 0)
		r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (r == MAP_FAILED) {
		fprintf(stderr, "sgxemu: %s: %s; the summary of process %d is printed here\n", path, strerror(e),
			(int)obs.pid);
		unlink(path);
		return NULL;
	}
	/* A forked child must not count into its parent's record. */
	madvise(r, sizeof(*r), MADV_DONTFORK);
	return r;
}

/* SGXEMU_TRACE_FILE's name for this process: %p the pid, %% a %; see docs/embedding.md. */
static bool trace_name(const char *pat, char *out, size_t len, bool *exclusive)
{
	struct tbuf b = {.p = out, .cap = len - 1};
	bool pid = false;
	for (const char *p = pat; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			tb_dec(&b, (uint64_t)obs.pid);
			pid = true;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			tb_char(&b, '%');
			p++;
		} else {
			tb_char(&b, *p);
		}
	}
	/* Without %p a forked process would replace its parent's file: it writes NAME.PID. */
	if (!pid && forked) {
		tb_char(&b, '.');
		tb_dec(&b, (uint64_t)obs.pid);
		pid = true;
	}
	out[b.n] = 0;
	*exclusive = pid;
	return !b.full;
}

static void open_trace(const char *pat)
{
	char name[PATH_MAX];
	bool exclusive;
	if (!trace_name(pat, name, sizeof(name), &exclusive)) {
		fprintf(stderr, "sgxemu: %s=%s: name too long; no trace\n", SGXEMU_ENV_TRACE_FILE, pat);
		return;
	}
	char comm[32], first[256];
	read_line("/proc/self/comm", comm, sizeof(comm));
	struct ev e;
	ev_begin(&e, "process_name", NULL, 'M', obs_now(), (int)obs.pid);
	arg_str(&e, "name", comm[0] ? comm : "process");
	tb_raw(&e.b, "}}");
	/* Without the ",\n" of a later event: the first of the array. */
	size_t n = e.b.n - 2 < sizeof(first) - 1 ? e.b.n - 2 : sizeof(first) - 1;
	memcpy(first, e.b.p + 2, n);
	first[n] = 0;
	int r = trace_open(name, exclusive, first, obs.trace_path, sizeof(obs.trace_path));
	if (r < 0) {
		fprintf(stderr, "sgxemu: %s=%s: cannot create %s: %s; no trace\n", SGXEMU_ENV_TRACE_FILE, pat, name,
			strerror(-r));
		return;
	}
	obs.trace = true;
}

static void policy_name(const struct sgxk_config *c, char *out, size_t len)
{
	const char *p = c->dyn_policy == SGXK_DYN_RW		 ? "rw"
			: c->dyn_policy == SGXK_DYN_WX_EXCLUSIVE ? "wx-exclusive"
								 : "rwx";
	snprintf(out, len, "%s", p);
}

static void at_exit(int status, void *arg)
{
	(void)arg;
	obs_finish(OBS_EXIT, status);
}

void obs_start(struct sgxk *k, const struct sgxk_config *c)
{
	const char *tf = getenv(SGXEMU_ENV_TRACE_FILE), *dir = getenv(SGXEMU_ENV_REPORT_DIR);
	bool summary = env_flag(SGXEMU_ENV_SUMMARY), map = env_flag(SGXEMU_ENV_EPC_MAP);
	if (!(tf && *tf) && !summary && !map)
		return;
	int saved = errno;
	obs.pid = getpid();
	obs.k = k;
	obs.rec = NULL;
	obs.in_dir = false;
	if (dir && *dir && (summary || map)) {
		obs.rec = record_file(dir, obs.base, sizeof(obs.base));
		obs.in_dir = obs.rec != NULL;
	}
	if (!obs.rec) {
		memset(&local_rec, 0, sizeof(local_rec));
		obs.rec = &local_rec;
	}
	struct obs_record *r = obs.rec;
	r->magic = OBS_RECORD_MAGIC;
	r->size = sizeof(*r);
	r->pid = obs.pid;
	r->ppid = getppid();
	read_line("/proc/self/comm", r->comm, sizeof(r->comm));
	policy_name(c, r->policy, sizeof(r->policy));
	r->epc_size = hw_machine_config(sgxk_machine(k))->epc_size;
	r->epc_frames = hw_epc_frames_total(sgxk_machine(k));
	r->start_ns = obs_now();
	obs.summary = summary && !obs.in_dir;
	obs.map = map;
	obs.trace = false;
	atomic_store(&obs.warned, 0);
	memset(tid_seen, 0, sizeof(tid_seen));
	if (tf && *tf)
		open_trace(tf);
	/* Once per image: the hooks of a later start (after fork) are this one's. */
	static bool registered;
	if (!registered) {
		on_exit(at_exit, NULL);
		registered = true;
	}
	obs_on = true;
	hw_obs_set(&hw_hooks);
	sgxk_obs_set(&kernel_hooks);
	errno = saved;
}

/* ---- the end ---- */

static void map_title(char *out, size_t len, enum obs_end how, int status)
{
	const char *comm = obs.rec->comm[0] ? obs.rec->comm : "?";
	switch (how) {
	case OBS_EXIT:
		snprintf(out, len, "sgxemu: EPC map of process %d (%s) at exit(%d)", (int)obs.pid, comm, status);
		return;
	case OBS__EXIT:
		snprintf(out, len, "sgxemu: EPC map of process %d (%s) at _exit(%d)", (int)obs.pid, comm, status);
		return;
	default:
		snprintf(out, len, "sgxemu: EPC map of process %d (%s) at execve", (int)obs.pid, comm);
		return;
	}
}

void obs_finish(enum obs_end how, int status)
{
	if (!obs_on || (pid_t)syscall(SYS_getpid) != obs.pid)
		return;
	int saved = errno;
	struct obs_record *r = obs.rec;
	r->end_ns = obs_now();
	r->status = status;
	r->end = how;
	int fd = -1;
	if (obs.map && obs.in_dir) {
		char path[PATH_MAX + 16];
		snprintf(path, sizeof(path), "%s.epcmap", obs.base);
		fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	} else if (obs.map) {
		fd = STDERR_FILENO;
	}
	char title[160];
	map_title(title, sizeof(title), how, status);
	uint64_t resident, evicted;
	/* _exit may be called from a signal handler that interrupted the driver: do not wait there. */
	int ret = obs_epc_map(obs.k, fd, how != OBS__EXIT, title, &resident, &evicted);
	if (fd > STDERR_FILENO)
		syscall(SYS_close, fd);
	if (ret == 0) {
		r->resident_end = resident;
		r->evicted_end = evicted;
		r->counted = 1;
	}
	if (obs.summary) {
		obs_report(stderr, r, 1, NULL);
		fflush(stderr);
	}
	errno = saved;
}

void obs_exec_failed(void)
{
	if (obs_on && (pid_t)syscall(SYS_getpid) == obs.pid)
		obs.rec->end = OBS_RUNNING;
}

void obs_close(void)
{
	if (obs_on && obs.trace && (pid_t)syscall(SYS_getpid) == obs.pid)
		trace_close();
}

void obs_after_fork_child(void)
{
	forked = true;
	if (!obs_on)
		return;
	hw_obs_set(NULL);
	sgxk_obs_set(NULL);
	obs_on = false;
	if (obs.trace)
		trace_forget();
	obs.trace = false;
	/* The parent's record is not mapped here (MADV_DONTFORK); the local one is a stale copy. */
	obs.rec = &local_rec;
}

__attribute__((constructor)) static void obs_init(void)
{
	pthread_atfork(NULL, NULL, obs_after_fork_child);
}

__attribute__((destructor)) static void obs_fini(void)
{
	obs_close();
}
