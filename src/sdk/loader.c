/* SPDX-License-Identifier: MIT */
/*
 * The enclave loader (docs/loader.md): building an enclave through a
 * device backend, and the ECALL loop on the vDSO contract.
 *
 * An ECALL is one call of the backend's vDSO entry with a user handler.
 * Every exit of the enclave comes back to that handler on the untrusted
 * stack below the enclave's exit RSP (where an OCALL's argument lies), and
 * the handler's return value picks the next leaf: EENTER with ORET after
 * an OCALL, EENTER (the enclave's exception handler, CSSA > 0) after an
 * exception, ERESUME after the enclave handled it, 0 to return.  The
 * handler is a small assembly trampoline around loader_exit() because the
 * re-entry needs RDI/RSI (ORET and its value) set when the vDSO executes
 * ENCLU again: the vDSO passes them through untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypto.h"
#include "loader.h"
#include "sgxemu/ext.h"
#include "sigstruct.h"

enum tcs_state { TCS_FREE, TCS_BUSY, TCS_DEAD, TCS_NONE /* a dynamic slot without a TCS */ };

struct tcs_slot {
	uint64_t addr;
	enum tcs_state state;
};

struct sdk_enclave {
	const struct sdk_backend *be;
	int fd;
	uint64_t base, size;
	struct sgxemu_layout layout;
	int dyn_prot;
	bool augment;
	struct sdk_load_options opt;
	pthread_mutex_t lock; /* the TCS pool */
	pthread_cond_t cond;
	unsigned n_tcs;
	struct tcs_slot *tcs;
	unsigned cap_tcs;	      /* slots allocated: the static TCSs and room for every dynamic one */
	struct sdk_debug_enclave dbg; /* its entry in sdk_debug_state's list */
	bool dbg_listed;	      /* dbg is in the list */
};

/* One ECALL in progress on this host thread (they nest through OCALLs). */
struct ecall_ctx {
	struct sdk_enclave *e;
	struct ecall_ctx *prev; /* the enclosing ECALL of this thread */
	int tcs;
	bool nested;	      /* runs on the TCS of an enclosing ECALL's OCALL */
	bool in_ocall;	      /* an OCALL function of this ECALL is running */
	bool done;	      /* result set */
	int result;	      /* 0 or -errno */
	int64_t ret;	      /* the ECALL's return value */
	unsigned pending_aex; /* exceptions reported and not resumed: the TCS's CSSA above the ECALL's */
	unsigned repeats;     /* the same exception in a row */
	uint64_t stack_top;   /* OCALL arguments lie between the exit RSP and here */
	struct sdk_ecall_info *info;
};

static __thread struct ecall_ctx *current;

/* Consecutive identical exceptions that the enclave says it handled before the loader gives up. */
#define EXCEPTION_REPEAT_MAX 1000
/* Retries of an SGX2 ioctl that reports EAGAIN/EBUSY (the driver's page lock or a concurrent ioctl). */
#define IOCTL_RETRY_MAX 10000

static void fmt(char *err, size_t errlen, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *err, size_t errlen, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	if (err && errlen)
		vsnprintf(err, errlen, f, ap);
	va_end(ap);
}

/* ---- debuggers (docs/debugging.md) ---- */

/* What a debugger reads from memory by these offsets (include/sgxemu/loader.h). */
_Static_assert(sizeof(struct sdk_debug_enclave) == 56, "sdk_debug_enclave layout");
_Static_assert(offsetof(struct sdk_debug_enclave, base) == 8, "sdk_debug_enclave layout");
_Static_assert(offsetof(struct sdk_debug_enclave, code_start) == 24, "sdk_debug_enclave layout");
_Static_assert(offsetof(struct sdk_debug_enclave, path) == 40, "sdk_debug_enclave layout");
_Static_assert(offsetof(struct sdk_debug_enclave, flags) == 48, "sdk_debug_enclave layout");
_Static_assert(sizeof(struct sdk_debug_state) == 24, "sdk_debug_state layout");
_Static_assert(offsetof(struct sdk_debug_state, enclave) == 8, "sdk_debug_state layout");
_Static_assert(offsetof(struct sdk_debug_state, head) == 16, "sdk_debug_state layout");

struct sdk_debug_state sdk_debug_state = {.version = SDK_DEBUG_VERSION};
/* Guards sdk_debug_state; held across sdk_debug_event so a debugger sees one change at a time. */
static pthread_mutex_t debug_lock = PTHREAD_MUTEX_INITIALIZER;

/* Never inlined nor folded away: the debugger's breakpoint must be reached at every change. */
__attribute__((noinline)) void sdk_debug_event(void)
{
	__asm__ volatile("" : : "r"(&sdk_debug_state) : "memory");
}

/* Tell the debugger about change (ADDED or REMOVED) of d; the list has already changed. */
static void debug_event(enum sdk_debug_change change, struct sdk_debug_enclave *d)
{
	sdk_debug_state.change = change;
	sdk_debug_state.enclave = d;
	sdk_debug_event();
	sdk_debug_state.change = SDK_DEBUG_NONE;
	sdk_debug_state.enclave = NULL;
}

/* Put e in the list (mapped, before its initialisation ECALL, so a debugger can break in it). */
static void debug_add(struct sdk_enclave *e)
{
	pthread_mutex_lock(&debug_lock);
	e->dbg.next = sdk_debug_state.head;
	sdk_debug_state.head = &e->dbg;
	e->dbg_listed = true;
	debug_event(SDK_DEBUG_ADDED, &e->dbg);
	pthread_mutex_unlock(&debug_lock);
}

/* Take e out of the list before it is unmapped. */
static void debug_remove(struct sdk_enclave *e)
{
	if (!e->dbg_listed)
		return;
	pthread_mutex_lock(&debug_lock);
	for (struct sdk_debug_enclave **p = &sdk_debug_state.head; *p; p = &(*p)->next) {
		if (*p == &e->dbg) {
			*p = e->dbg.next;
			break;
		}
	}
	e->dbg.next = NULL;
	e->dbg_listed = false;
	debug_event(SDK_DEBUG_REMOVED, &e->dbg);
	pthread_mutex_unlock(&debug_lock);
}

/* e's entry for img: base, size, the executable pages' extent, the ELF's path, DEBUG.  Return: 0 or -ENOMEM. */
static int debug_describe(struct sdk_enclave *e, const struct sdk_image *img)
{
	struct sdk_debug_enclave *d = &e->dbg;
	memset(d, 0, sizeof(*d));
	d->base = e->base;
	d->size = e->size;
	for (size_t i = 0; i < img->n_pages; i++) {
		const struct sdk_page *p = &img->pages[i];
		if ((p->flags & SGX_SECINFO_PT_MASK) != SGX_SECINFO_PT(SGX_PT_REG) || !(p->flags & SGX_SECINFO_X))
			continue;
		if (d->code_end == 0)
			d->code_start = p->offset;
		d->code_end = p->offset + SGXEMU_PAGE;
	}
	d->flags = (img->attributes & SGX_ATTR_DEBUG) ? SDK_DEBUG_ENCLAVE_DEBUG : 0;
	if (img->path && !(d->path = strdup(img->path)))
		return -ENOMEM;
	return 0;
}

/* ---- accessors ---- */

uint64_t sdk_enclave_base(const struct sdk_enclave *e)
{
	return e->base;
}

uint64_t sdk_enclave_size(const struct sdk_enclave *e)
{
	return e->size;
}

unsigned sdk_enclave_tcs_count(const struct sdk_enclave *e)
{
	return e->n_tcs;
}

uint64_t sdk_enclave_tcs(const struct sdk_enclave *e, unsigned i)
{
	return i < e->n_tcs ? e->tcs[i].addr : 0;
}

const struct sgxemu_layout *sdk_enclave_layout(const struct sdk_enclave *e)
{
	return &e->layout;
}

int sdk_enclave_fd(const struct sdk_enclave *e)
{
	return e->fd;
}

int sdk_enclave_dyn_prot(const struct sdk_enclave *e)
{
	return e->dyn_prot;
}

bool sdk_enclave_augment(const struct sdk_enclave *e)
{
	return e->augment;
}

/* ---- the TCS pool ---- */

/* Pick the TCS for an ECALL.  Return: 0, -EINVAL, -EBUSY, -EBADF (info->message says which). */
static int tcs_acquire(struct sdk_enclave *e, int want, struct ecall_ctx *c)
{
	/* Inside an OCALL of this enclave on this thread: a nested ECALL on that TCS. */
	for (struct ecall_ctx *p = current; p; p = p->prev) {
		if (p->e == e && p->in_ocall && (want < 0 || want == p->tcs)) {
			c->tcs = p->tcs;
			c->nested = true;
			return 0;
		}
	}
	int r = 0;
	pthread_mutex_lock(&e->lock);
	if (want >= 0 && ((unsigned)want >= e->n_tcs || e->tcs[want].state == TCS_NONE)) {
		unsigned n = e->n_tcs;
		pthread_mutex_unlock(&e->lock);
		fmt(c->info->message, sizeof(c->info->message), "TCS %d: the enclave has %u%s", want, n,
		    (unsigned)want < n ? " and that one was removed" : "");
		return -EINVAL;
	}
	if (want >= 0) {
		if (e->tcs[want].state == TCS_DEAD)
			r = -EBADF;
		else if (e->tcs[want].state == TCS_BUSY)
			r = -EBUSY;
		else
			e->tcs[want].state = TCS_BUSY;
		c->tcs = want;
	} else {
		for (;;) {
			unsigned busy = 0;
			c->tcs = -1;
			for (unsigned i = 0; i < e->n_tcs; i++) {
				if (e->tcs[i].state == TCS_FREE && c->tcs < 0)
					c->tcs = (int)i;
				busy += e->tcs[i].state == TCS_BUSY;
			}
			if (c->tcs >= 0) {
				e->tcs[c->tcs].state = TCS_BUSY;
				break;
			}
			if (!busy) {
				r = -EBADF;
				break;
			}
			pthread_cond_wait(&e->cond, &e->lock);
		}
	}
	pthread_mutex_unlock(&e->lock);
	if (r == -EBADF && want >= 0)
		fmt(c->info->message, sizeof(c->info->message), "TCS %d is unusable after an exception no handler took",
		    want);
	else if (r == -EBADF)
		fmt(c->info->message, sizeof(c->info->message), "every TCS is unusable");
	else if (r == -EBUSY)
		fmt(c->info->message, sizeof(c->info->message), "TCS %d is busy in another thread", want);
	return r;
}

static void tcs_release(struct sdk_enclave *e, struct ecall_ctx *c, bool dead)
{
	pthread_mutex_lock(&e->lock);
	if (dead || e->tcs[c->tcs].state == TCS_DEAD)
		e->tcs[c->tcs].state = TCS_DEAD;
	else if (!c->nested)
		e->tcs[c->tcs].state = TCS_FREE;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/*
 * Did the calling thread's own TCS (BUSY: its ECALL holds it) become DEAD?
 * Only this thread writes a BUSY slot's state (a nested ECALL's
 * tcs_release, on this very thread), and the slots never move: no lock.
 */
static bool tcs_dead(const struct sdk_enclave *e, int tcs)
{
	return e->tcs[tcs].state == TCS_DEAD;
}

/* ---- the memory manager's OCALLs ---- */

/* [addr, addr + len) page-aligned, non-empty, inside ELRANGE? */
static bool enclave_range(const struct sdk_enclave *e, uint64_t addr, uint64_t len)
{
	return !(addr & (SGXEMU_PAGE - 1)) && !(len & (SGXEMU_PAGE - 1)) && len && addr >= e->base &&
	       addr - e->base < e->size && len <= e->size - (addr - e->base);
}

/* One of the SGX2 range ioctls, resumed after partial progress and retried while the driver says EAGAIN/EBUSY. */
enum range_op { OP_RESTRICT, OP_MODIFY_TYPE, OP_REMOVE };

static int64_t range_ioctl(struct sdk_enclave *e, enum range_op op, struct sgxemu_ocall_mm *m)
{
	uint64_t off = m->addr - e->base, done = 0;
	unsigned tries = 0;
	while (done < m->len) {
		uint64_t count = 0;
		int rc;
		if (op == OP_RESTRICT) {
			struct sgx_enclave_restrict_permissions p = {
			    .offset = off + done, .length = m->len - done, .permissions = m->prot};
			rc = e->be->ioctl(e->fd, SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, &p);
			count = p.count;
		} else if (op == OP_MODIFY_TYPE) {
			struct sgx_enclave_modify_types p = {
			    .offset = off + done, .length = m->len - done, .page_type = m->type};
			rc = e->be->ioctl(e->fd, SGX_IOC_ENCLAVE_MODIFY_TYPES, &p);
			count = p.count;
		} else {
			struct sgx_enclave_remove_pages p = {.offset = off + done, .length = m->len - done};
			rc = e->be->ioctl(e->fd, SGX_IOC_ENCLAVE_REMOVE_PAGES, &p);
			count = p.count;
		}
		int err = errno;
		done += count;
		m->count = done;
		if (rc == 0 && count)
			continue;
		if (rc == 0)
			return -EIO; /* success without progress: do not spin */
		if ((err == EAGAIN || err == EBUSY) && ++tries < IOCTL_RETRY_MAX) {
			sched_yield();
			continue;
		}
		return -err;
	}
	return 0;
}

static int64_t mm_augment(struct sdk_enclave *e, struct sgxemu_ocall_mm *m)
{
	if (!e->augment)
		return -ENOTTY;
	if (m->prot & ~SGX_SECINFO_PERM_MASK)
		return -EINVAL;
	struct sgx_secinfo si = {.flags = SGX_SECINFO_PT(SGX_PT_REG) | m->prot};
	struct sgx_enclave_augment_pages a = {
	    .offset = m->addr - e->base, .length = m->len, .secinfo = (uint64_t)(uintptr_t)&si};
	int rc = e->be->ioctl(e->fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &a);
	m->count = a.count;
	return rc < 0 ? -errno : 0;
}

static int64_t mm_write(struct sdk_enclave *e, struct sgxemu_ocall_mm *m)
{
	const void *buf = (const void *)(uintptr_t)m->addr;
	if (m->type != 1 && m->type != 2)
		return -EBADF;
	if (m->len > (1u << 20))
		return -EINVAL;
	/* Never read enclave memory from the host: the text must be in untrusted memory. */
	if (m->len && (m->addr + m->len < m->addr || !(m->addr + m->len <= e->base || m->addr >= e->base + e->size)))
		return -EFAULT;
	if (e->opt.write)
		return e->opt.write(e->opt.write_ctx, (int)m->type, buf, m->len);
	ssize_t n = write((int)m->type, buf, m->len);
	return n < 0 ? -errno : n;
}

static int64_t system_ocall(struct sdk_enclave *e, uint64_t index, void *data, uint64_t len)
{
	struct sgxemu_ocall_mm *m = data;
	int64_t r;
	if (len < sizeof(*m))
		return -EINVAL;
	m->count = 0;
	if (index == SGXEMU_OCALL_WRITE) {
		r = mm_write(e, m);
		m->count = r > 0 ? (uint64_t)r : 0;
	} else if (index == SGXEMU_OCALL_MPROTECT) {
		if (!enclave_range(e, m->addr, m->len) || (m->prot & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC)))
			r = -EINVAL;
		else
			r = e->be->mprotect((void *)(uintptr_t)m->addr, m->len, (int)m->prot) < 0 ? -errno : 0;
		m->count = r ? 0 : m->len;
	} else if (index == SGXEMU_OCALL_AUGMENT || index == SGXEMU_OCALL_RESTRICT ||
		   index == SGXEMU_OCALL_MODIFY_TYPE || index == SGXEMU_OCALL_REMOVE) {
		if (!enclave_range(e, m->addr, m->len))
			r = -EINVAL;
		else if (index == SGXEMU_OCALL_AUGMENT)
			r = mm_augment(e, m);
		else
			r = range_ioctl(e,
					index == SGXEMU_OCALL_RESTRICT	    ? OP_RESTRICT
					: index == SGXEMU_OCALL_MODIFY_TYPE ? OP_MODIFY_TYPE
									    : OP_REMOVE,
					m);
	} else {
		return -ENOSYS;
	}
	m->result = r;
	return r;
}

/* ---- the exit handler ---- */

/* Registers at an exit, as the vDSO hands them to the user handler; what the next ENCLU gets. */
struct exit_regs {
	uint64_t rdi, rsi, rdx, rsp, r8, r9;
};

int loader_exit(struct exit_regs *r, struct sgx_enclave_run *run) __attribute__((visibility("hidden"), used));

/*
 * sdk_user_handler(rdi, rsi, rdx, rsp, r8, r9, run): the vDSO's user
 * handler.  Saves the exit registers in a struct exit_regs on its stack,
 * calls loader_exit(regs, run) and loads RDI, RSI, RDX, R8, R9 from the
 * struct before returning, so that the vDSO's next ENCLU passes them in.
 */
void sdk_user_handler(void) __attribute__((visibility("hidden")));
__asm__(".pushsection .text\n"
	".type sdk_user_handler, @function\n"
	".p2align 4\n"
	"sdk_user_handler:\n"
	"	endbr64\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	sub $48, %rsp\n"
	"	mov %rdi, 0(%rsp)\n"
	"	mov %rsi, 8(%rsp)\n"
	"	mov %rdx, 16(%rsp)\n"
	"	mov %rcx, 24(%rsp)\n"
	"	mov %r8, 32(%rsp)\n"
	"	mov %r9, 40(%rsp)\n"
	"	mov %rsp, %rdi\n"
	"	mov 16(%rbp), %rsi\n"
	"	call loader_exit\n"
	"	mov 0(%rsp), %rdi\n"
	"	mov 8(%rsp), %rsi\n"
	"	mov 16(%rsp), %rdx\n"
	"	mov 32(%rsp), %r8\n"
	"	mov 40(%rsp), %r9\n"
	"	leave\n"
	"	ret\n"
	".size sdk_user_handler, . - sdk_user_handler\n"
	".popsection\n");

static void fail(struct ecall_ctx *c, enum sdk_ecall_error kind, int result, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct ecall_ctx *c, enum sdk_ecall_error kind, int result, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	vsnprintf(c->info->message, sizeof(c->info->message), f, ap);
	va_end(ap);
	c->info->error = kind;
	c->result = result;
	c->done = true;
}

static const char *abort_name(uint64_t reason)
{
	switch (reason) {
	case SGXEMU_ABORT_BAD_ECALL:
		return "bad ECALL index";
	case SGXEMU_ABORT_BAD_LAYOUT:
		return "layout page missing or inconsistent";
	case SGXEMU_ABORT_NOT_INIT:
		return "not initialised";
	case SGXEMU_ABORT_STACK:
		return "no usable stack for the exception handler";
	case SGXEMU_ABORT_ASSERT:
		return "runtime assertion";
	case SGXEMU_ABORT_RELOC:
		return "relocations the runtime cannot apply";
	default:
		return "unknown reason";
	}
}

/* The enclave's OCALL: the host table or a reserved index. */
static int64_t run_ocall(struct ecall_ctx *c, const struct exit_regs *r)
{
	struct sdk_enclave *e = c->e;
	uint64_t index = r->rsi, len = r->r8;
	void *data = (void *)(uintptr_t)r->rdx;
	/* The argument must lie on this thread's stack, between the exit RSP and the ECALL's frame. */
	if (len && (r->rdx < r->rsp || r->rdx + len < r->rdx || r->rdx + len > c->stack_top))
		return -EFAULT;
	c->in_ocall = true;
	int64_t v;
	if (index >= SGXEMU_OCALL_FIRST_SYSTEM)
		v = system_ocall(e, index, data, len);
	else if (index < e->opt.n_ocalls && e->opt.ocalls[index])
		v = e->opt.ocalls[index](e, e->opt.ocall_ctx, data, len);
	else
		v = -ENOSYS;
	c->in_ocall = false;
	return v;
}

int loader_exit(struct exit_regs *r, struct sgx_enclave_run *run)
{
	struct ecall_ctx *c = (struct ecall_ctx *)(uintptr_t)run->user_data;
	struct sdk_ecall_info *info = c->info;
	if (run->function != ENCLU_EEXIT) {
		/* An exception, reported by the vDSO. */
		bool same = info->host_vector == run->exception_vector &&
			    info->host_error_code == run->exception_error_code &&
			    info->host_addr == run->exception_addr;
		info->host_vector = run->exception_vector;
		info->host_error_code = run->exception_error_code;
		info->host_addr = run->exception_addr;
		if (run->function == ENCLU_EENTER) {
			fail(c, SDK_ECALL_ENTER, -EIO, "EENTER faulted: vector %u, error code %#x, address %#llx%s",
			     run->exception_vector, run->exception_error_code, (unsigned long long)run->exception_addr,
			     c->pending_aex ? " (no SSA frame left for the exception handler)" : "");
			return 0;
		}
		c->pending_aex++;
		c->repeats = same ? c->repeats + 1 : 0;
		if (c->repeats >= EXCEPTION_REPEAT_MAX) {
			fail(c, SDK_ECALL_PROTOCOL, -EPROTO,
			     "exception vector %u at %#llx repeats after the enclave handled it %u times",
			     run->exception_vector, (unsigned long long)run->exception_addr, c->repeats);
			return 0;
		}
		/* Enter the enclave's exception handler (CSSA > 0: RDI is not looked at). */
		memset(r, 0, sizeof(*r));
		return ENCLU_EENTER;
	}
	switch (r->rdi) {
	case SGXEMU_EXIT_RETURN:
		c->ret = (int64_t)r->rsi;
		c->result = 0;
		c->done = true;
		return 0;
	case SGXEMU_EXIT_OCALL: {
		c->repeats = 0;
		int64_t v = run_ocall(c, r);
		if (tcs_dead(c->e, c->tcs)) {
			fail(c, SDK_ECALL_TCS, -EBADF,
			     "TCS %d became unusable during OCALL %llu (a nested ECALL's exception)", c->tcs,
			     (unsigned long long)r->rsi);
			return 0;
		}
		memset(r, 0, sizeof(*r));
		r->rdi = SGXEMU_ECALL_ORET;
		r->rsi = (uint64_t)v;
		return ENCLU_EENTER;
	}
	case SGXEMU_EXIT_EXC_HANDLED:
		if (!c->pending_aex) {
			fail(c, SDK_ECALL_PROTOCOL, -EPROTO, "the enclave reported a handled exception nobody raised");
			return 0;
		}
		c->pending_aex--;
		memset(r, 0, sizeof(*r));
		return ENCLU_ERESUME;
	case SGXEMU_EXIT_EXC_UNHANDLED:
		info->vector = (uint32_t)r->rsi;
		info->rip_offset = r->rdx;
		if (r->rsi == SGXEMU_EXC_VECTOR_NONE)
			fail(c, SDK_ECALL_EXCEPTION, -EFAULT,
			     "exception not handled (no valid exit information; the host saw vector %u, error code "
			     "%#x, address %#llx) at enclave offset %#llx",
			     info->host_vector, info->host_error_code, (unsigned long long)info->host_addr,
			     (unsigned long long)r->rdx);
		else
			fail(c, SDK_ECALL_EXCEPTION, -EFAULT,
			     "exception vector %llu not handled at enclave offset %#llx (host: error code %#x, address "
			     "%#llx)",
			     (unsigned long long)r->rsi, (unsigned long long)r->rdx, info->host_error_code,
			     (unsigned long long)info->host_addr);
		return 0;
	case SGXEMU_EXIT_ABORT:
		info->abort_reason = r->rsi;
		fail(c, SDK_ECALL_ABORT, -ECANCELED, "the runtime aborted: %s (%llu)", abort_name(r->rsi),
		     (unsigned long long)r->rsi);
		return 0;
	default:
		fail(c, SDK_ECALL_PROTOCOL, -EPROTO, "unknown exit code %llu", (unsigned long long)r->rdi);
		return 0;
	}
}

int sdk_enclave_ecall(struct sdk_enclave *e, int tcs, uint32_t index, void *arg, uint64_t len, int64_t *ret,
		      struct sdk_ecall_info *info)
{
	struct sdk_ecall_info local;
	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	info->tcs = -1;
	struct ecall_ctx c = {.e = e, .prev = current, .info = info};
	int r = tcs_acquire(e, tcs, &c);
	if (r) {
		info->error = SDK_ECALL_TCS;
		return r;
	}
	info->tcs = c.tcs;
	struct sgx_enclave_run run;
	memset(&run, 0, sizeof(run));
	run.tcs = e->tcs[c.tcs].addr;
	run.user_handler = (uint64_t)(uintptr_t)sdk_user_handler;
	run.user_data = (uint64_t)(uintptr_t)&c;
	c.stack_top = (uint64_t)(uintptr_t)__builtin_frame_address(0);
	current = &c;
	int rc = e->be->enter(index, (uint64_t)(uintptr_t)arg, len, ENCLU_EENTER, 0, 0, &run);
	current = c.prev;
	if (!c.done)
		fail(&c, SDK_ECALL_ENTER, -EIO, "the %s backend's enclave entry failed: %s", e->be->name,
		     rc < 0 ? strerror(-rc) : "returned without an exit");
	/* A TCS whose exception was never resumed keeps CSSA > 0: no later ECALL can use it. */
	tcs_release(e, &c, c.pending_aex > 0);
	if (c.result == 0 && ret)
		*ret = c.ret;
	return c.result;
}

/* ---- loading ---- */

static int prot_of(uint64_t flags)
{
	if ((flags & SGX_SECINFO_PT_MASK) == SGX_SECINFO_PT(SGX_PT_TCS))
		return PROT_READ | PROT_WRITE;
	return ((flags & SGX_SECINFO_R) ? PROT_READ : 0) | ((flags & SGX_SECINFO_W) ? PROT_WRITE : 0) |
	       ((flags & SGX_SECINFO_X) ? PROT_EXEC : 0);
}

static const char *prot_name(int prot)
{
	static const char *const names[8] = {"---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx"};
	return names[prot & 7];
}

/* ADD_PAGES of pages[i..j] (consecutive offsets, equal flags, contiguous data).  Return: 0 or -1 with err. */
static int add_run(struct sdk_enclave *e, const struct sdk_page *p, size_t n, char *err, size_t errlen)
{
	struct sgx_secinfo si = {.flags = p->flags};
	struct sgx_enclave_add_pages a = {
	    .src = (uint64_t)(uintptr_t)p->data,
	    .offset = p->offset,
	    .length = n * SGXEMU_PAGE,
	    .secinfo = (uint64_t)(uintptr_t)&si,
	    .flags = p->measure ? SGX_PAGE_MEASURE : 0,
	};
	uint64_t done = 0;
	while (done < n * SGXEMU_PAGE) {
		a.count = 0;
		int rc = e->be->ioctl(e->fd, SGX_IOC_ENCLAVE_ADD_PAGES, &a);
		if (rc < 0 || !a.count) {
			fmt(err, errlen,
			    "SGX_IOC_ENCLAVE_ADD_PAGES at offset %#llx (%zu pages, SECINFO flags %#llx): %s (count "
			    "%llu)",
			    (unsigned long long)p->offset, n, (unsigned long long)p->flags,
			    rc < 0 ? strerror(errno) : "no progress", (unsigned long long)(done + a.count));
			return -1;
		}
		done += a.count;
		a.src += a.count;
		a.offset += a.count;
		a.length -= a.count;
	}
	return 0;
}

/* Map [off, off + len) of the enclave with prot.  Return: 0 or -errno. */
static int map_area(struct sdk_enclave *e, uint64_t off, uint64_t len, int prot)
{
	void *p = e->be->mmap((void *)(uintptr_t)(e->base + off), len, prot, MAP_SHARED | MAP_FIXED, e->fd, 0);
	return p == MAP_FAILED ? -errno : 0;
}

/* The dynamic area or the dynamic thread areas: RWX if asked and allowed, else RW.  Return: 0 or -1 with err. */
static int map_dynamic(struct sdk_enclave *e, const char *what, uint64_t off, uint64_t len, char *err, size_t errlen)
{
	int rw = PROT_READ | PROT_WRITE, r = -EACCES;
	if (e->opt.dyn_exec) {
		r = map_area(e, off, len, rw | PROT_EXEC);
		if (r == 0) {
			e->dyn_prot = rw | PROT_EXEC;
			return 0;
		}
	}
	if ((r == -EACCES || r == -EPERM) && (r = map_area(e, off, len, rw)) == 0) {
		if (!e->dyn_prot)
			e->dyn_prot = rw;
		return 0;
	}
	fmt(err, errlen, "mmap of the %s at offset %#llx (%llu bytes): %s", what, (unsigned long long)off,
	    (unsigned long long)len, strerror(-r));
	return -1;
}

static void hex32(const uint8_t b[32], char out[65])
{
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/*
 * Why EINIT refused sig for img (the driver only says EPERM): the checks
 * EINIT makes on what the loader knows, in EINIT's order — the signature,
 * the measurement, then the attributes and MISCSELECT the signer pinned.
 * A launch-control refusal (EINITTOKEN_KEY, a launch token) is the rest.
 */
static void init_refusal(const struct sdk_image *img, const struct sgx_sigstruct *sig, char *out, size_t len)
{
	uint8_t msg[256], hash[32];
	sigstruct_signed_bytes(sig, msg);
	crypto_sha256(msg, sizeof(msg), hash);
	if (!crypto_rsa3072_e3_verify(sig->modulus, sig->signature, sig->q1, sig->q2, hash)) {
		snprintf(out, len, " (EINIT refused the SIGSTRUCT: its signature does not verify with its modulus)");
		return;
	}
	if (memcmp(img->mrenclave, sig->enclave_hash, 32)) {
		char have[65], want[65];
		hex32(img->mrenclave, have);
		hex32(sig->enclave_hash, want);
		snprintf(out, len,
			 " (EINIT refused the SIGSTRUCT: MRENCLAVE differs: the enclave measures %s, the SIGSTRUCT's "
			 "ENCLAVEHASH is %s)",
			 have, want);
		return;
	}
	if ((img->attributes & sig->attributes_mask) != (sig->attributes & sig->attributes_mask) ||
	    (img->xfrm & sig->xfrm_mask) != (sig->xfrm & sig->xfrm_mask)) {
		snprintf(out, len,
			 " (EINIT refused the SIGSTRUCT: ATTRIBUTES differ under its mask: the enclave has %#llx/XFRM "
			 "%#llx, the SIGSTRUCT wants %#llx/XFRM %#llx, mask %#llx/%#llx)",
			 (unsigned long long)img->attributes, (unsigned long long)img->xfrm,
			 (unsigned long long)sig->attributes, (unsigned long long)sig->xfrm,
			 (unsigned long long)sig->attributes_mask, (unsigned long long)sig->xfrm_mask);
		return;
	}
	if ((img->misc_select & sig->miscmask) != (sig->miscselect & sig->miscmask)) {
		snprintf(out, len,
			 " (EINIT refused the SIGSTRUCT: MISCSELECT differs under its mask: the enclave has %#x, the "
			 "SIGSTRUCT wants %#x, mask %#x)",
			 img->misc_select, sig->miscselect, sig->miscmask);
		return;
	}
	snprintf(out, len,
		 " (EINIT refused the SIGSTRUCT: signature, measurement and attributes match; launch control "
		 "refused it: EINITTOKEN_KEY without the launch enclave's signer, or a launch token)");
}

static const char *init_hint(int err)
{
	switch (err) {
	case EACCES:
		return " (attributes the driver does not allow, e.g. PROVISIONKEY without /dev/sgx_provision)";
	case EINVAL:
		return " (reserved attribute, MISCSELECT or XFRM bits, or a VENDOR other than 0 / 0x8086)";
	default:
		return "";
	}
}

int sdk_enclave_load(const struct sdk_backend *be, const struct sdk_image *img, const struct sgx_sigstruct *sig,
		     const struct sdk_load_options *opt, struct sdk_enclave **out, char *err, size_t errlen)
{
	static const struct sdk_load_options defaults;
	if (!be || !img || !sig || !out) {
		fmt(err, errlen, "sdk_enclave_load: backend, image, SIGSTRUCT and output are required");
		return -1;
	}
	struct sdk_enclave *e = calloc(1, sizeof(*e));
	struct sgx_secs *secs = aligned_alloc(SGXEMU_PAGE, sizeof(*secs));
	struct sgx_sigstruct *sigcopy = aligned_alloc(SGXEMU_PAGE, SGXEMU_PAGE);
	if (!e || !secs || !sigcopy) {
		fmt(err, errlen, "out of memory");
		goto fail_alloc;
	}
	e->be = be;
	e->fd = -1;
	e->opt = opt ? *opt : defaults;
	e->layout = img->layout;
	e->size = img->size;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	const char *device = e->opt.device ? e->opt.device : be->device;
	void *reserved = MAP_FAILED;

	/* 0. The XSAVE features: name what the platform lacks (ECREATE would only fail with #GP). */
	uint64_t allowed = be->xfrm_allowed ? be->xfrm_allowed() : 0;
	if (allowed && (img->xfrm & ~allowed)) {
		char want[160], have[160];
		sdk_xfrm_names(img->xfrm & ~allowed, want, sizeof(want));
		sdk_xfrm_names(allowed, have, sizeof(have));
		fmt(err, errlen,
		    "XFRM %#llx asks for XSAVE features this platform does not allow: %s (%#llx); it allows %s (%#llx)",
		    (unsigned long long)img->xfrm, want, (unsigned long long)(img->xfrm & ~allowed), have,
		    (unsigned long long)allowed);
		goto fail;
	}

	/* 1. The device. */
	e->fd = be->open(device, O_RDWR | O_CLOEXEC);
	if (e->fd < 0) {
		fmt(err, errlen, "open %s (%s backend): %s", device, be->name, strerror(errno));
		goto fail;
	}

	/* 2. A range aligned to the enclave size: reserve twice the size, keep the aligned half. */
	if (!e->size || (e->size & (e->size - 1)) || e->size > (1ULL << 46)) {
		fmt(err, errlen, "image: enclave size %#llx is not a power of two", (unsigned long long)e->size);
		goto fail;
	}
	reserved = be->mmap(NULL, 2 * e->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reserved == MAP_FAILED) {
		fmt(err, errlen, "reserving %llu bytes of address space: %s", (unsigned long long)(2 * e->size),
		    strerror(errno));
		goto fail;
	}
	uint64_t start = (uint64_t)(uintptr_t)reserved;
	e->base = (start + e->size - 1) & ~(e->size - 1);
	if (e->base > start)
		be->munmap(reserved, e->base - start);
	if (start + 2 * e->size > e->base + e->size)
		be->munmap((void *)(uintptr_t)(e->base + e->size), start + 2 * e->size - (e->base + e->size));
	reserved = MAP_FAILED;

	/* 3. ECREATE. */
	memset(secs, 0, sizeof(*secs));
	secs->size = e->size;
	secs->base = e->base;
	secs->ssa_frame_size = img->ssa_frame_size;
	secs->miscselect = img->misc_select;
	secs->attributes = img->attributes;
	secs->xfrm = img->xfrm;
	struct sgx_enclave_create create = {.src = (uint64_t)(uintptr_t)secs};
	if (be->ioctl(e->fd, SGX_IOC_ENCLAVE_CREATE, &create) < 0) {
		fmt(err, errlen, "SGX_IOC_ENCLAVE_CREATE (base %#llx, size %#llx, SSA frame %u pages): %s",
		    (unsigned long long)e->base, (unsigned long long)e->size, img->ssa_frame_size, strerror(errno));
		goto fail;
	}

	/* 4. EADD + EEXTEND, one ioctl per run of pages with consecutive offsets, equal flags and contiguous data. */
	for (size_t i = 0; i < img->n_pages;) {
		const struct sdk_page *p = &img->pages[i];
		size_t n = 1;
		while (i + n < img->n_pages && p[n].offset == p[n - 1].offset + SGXEMU_PAGE && p[n].flags == p->flags &&
		       p[n].measure == p->measure && p[n].data == p[n - 1].data + SGXEMU_PAGE)
			n++;
		if (add_run(e, p, n, err, errlen) != 0)
			goto fail;
		i += n;
	}

	/* 5. EINIT. */
	memset(sigcopy, 0, SGXEMU_PAGE);
	memcpy(sigcopy, sig, sizeof(*sig));
	struct sgx_enclave_init init = {.sigstruct = (uint64_t)(uintptr_t)sigcopy};
	if (be->ioctl(e->fd, SGX_IOC_ENCLAVE_INIT, &init) < 0) {
		int en = errno;
		char why[320];
		if (en == EPERM)
			init_refusal(img, sig, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", init_hint(en));
		fmt(err, errlen, "SGX_IOC_ENCLAVE_INIT: %s%s", strerror(en), why);
		goto fail;
	}

	/* 6. The mappings: one per run of pages with equal protection, then the dynamic areas. */
	for (size_t i = 0; i < img->n_pages;) {
		const struct sdk_page *p = &img->pages[i];
		int prot = prot_of(p->flags);
		size_t n = 1;
		while (i + n < img->n_pages && p[n].offset == p[n - 1].offset + SGXEMU_PAGE &&
		       prot_of(p[n].flags) == prot)
			n++;
		int r = map_area(e, p->offset, n * SGXEMU_PAGE, prot);
		if (r) {
			fmt(err, errlen, "mmap of offset %#llx (%zu pages, %s): %s", (unsigned long long)p->offset, n,
			    prot_name(prot), strerror(-r));
			goto fail;
		}
		i += n;
	}
	const struct sgxemu_layout *l = &e->layout;
	if (l->dyn_size && map_dynamic(e, "dynamic area", l->dyn_offset, l->dyn_size, err, errlen) != 0)
		goto fail;
	if (l->n_dyn_threads && map_dynamic(e, "dynamic thread areas", l->tcs_dyn_offset,
					    (uint64_t)l->n_dyn_threads * l->thread_stride, err, errlen) != 0)
		goto fail;

	/* 7. The TCS pool, and whether the driver has AUGMENT_PAGES (EINVAL for an empty range; Linux: ENOTTY). */
	e->n_tcs = l->n_tcs;
	e->cap_tcs = l->n_tcs + ((l->flags & SGXEMU_LAYOUT_EDMM) ? l->n_dyn_threads : 0);
	e->tcs = calloc(e->cap_tcs, sizeof(*e->tcs));
	if (!e->tcs) {
		fmt(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < e->n_tcs; i++)
		e->tcs[i].addr = e->base + l->thread_offset + (uint64_t)i * l->thread_stride + SGXEMU_TA_TCS(l);
	if (l->flags & SGXEMU_LAYOUT_EDMM) {
		struct sgx_enclave_augment_pages probe = {0};
		e->augment = be->ioctl(e->fd, SGX_IOC_ENCLAVE_AUGMENT_PAGES, &probe) < 0 && errno == EINVAL;
	}

	/* 8. Tell debuggers: from here on enclave code runs. */
	if (debug_describe(e, img) != 0) {
		fmt(err, errlen, "out of memory");
		goto fail;
	}
	debug_add(e);

	/* 9. The runtime's initialisation. */
	if (!e->opt.no_init) {
		struct sgxemu_init_args args = {.augment = e->augment};
		struct sdk_ecall_info info;
		int64_t ret = 0;
		int r = sdk_enclave_ecall(e, 0, SGXEMU_ECALL_INIT, &args, sizeof(args), &ret, &info);
		if (r) {
			fmt(err, errlen, "SGXEMU_ECALL_INIT: %s", info.message);
			goto fail;
		}
		if (ret) {
			fmt(err, errlen, "SGXEMU_ECALL_INIT returned %lld", (long long)ret);
			goto fail;
		}
	}
	free(secs);
	free(sigcopy);
	*out = e;
	return 0;

fail:
	debug_remove(e);
	free((char *)e->dbg.path);
	if (e->base)
		be->munmap((void *)(uintptr_t)e->base, e->size);
	if (reserved != MAP_FAILED)
		be->munmap(reserved, 2 * e->size);
	if (e->fd >= 0)
		be->close(e->fd);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e->tcs);
fail_alloc:
	free(e);
	free(secs);
	free(sigcopy);
	return -1;
}

/* ---- TCSs created at run time ---- */

int sdk_enclave_add_tcs(struct sdk_enclave *e, uint64_t tcs)
{
	const struct sgxemu_layout *l = &e->layout;
	uint64_t areas = (uint64_t)l->n_dyn_threads * l->thread_stride, off = tcs - e->base - l->tcs_dyn_offset;
	if (!(l->flags & SGXEMU_LAYOUT_EDMM) || !areas || tcs < e->base + l->tcs_dyn_offset || off >= areas ||
	    off % l->thread_stride != SGXEMU_TA_TCS(l))
		return -EINVAL;
	int r = -ENOSPC;
	pthread_mutex_lock(&e->lock);
	unsigned slot = e->cap_tcs;
	for (unsigned i = 0; i < e->n_tcs; i++) {
		if (e->tcs[i].state != TCS_NONE && e->tcs[i].addr == tcs) {
			r = -EEXIST;
			slot = e->cap_tcs;
			break;
		}
		if (e->tcs[i].state == TCS_NONE && slot == e->cap_tcs)
			slot = i;
	}
	if (r != -EEXIST && slot == e->cap_tcs && e->n_tcs < e->cap_tcs)
		slot = e->n_tcs;
	if (slot < e->cap_tcs) {
		e->tcs[slot] = (struct tcs_slot){.addr = tcs, .state = TCS_FREE};
		if (slot == e->n_tcs)
			e->n_tcs++;
		r = (int)slot;
		pthread_cond_broadcast(&e->cond);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

int sdk_enclave_remove_tcs(struct sdk_enclave *e, uint64_t tcs)
{
	int r = -ENOENT;
	pthread_mutex_lock(&e->lock);
	for (unsigned i = 0; i < e->n_tcs; i++) {
		if (e->tcs[i].state == TCS_NONE || e->tcs[i].addr != tcs)
			continue;
		if (i < e->layout.n_tcs)
			r = -EPERM;
		else if (e->tcs[i].state == TCS_BUSY)
			r = -EBUSY;
		else {
			e->tcs[i] = (struct tcs_slot){.addr = 0, .state = TCS_NONE};
			r = 0;
		}
		break;
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

void sdk_enclave_destroy(struct sdk_enclave *e)
{
	if (!e)
		return;
	debug_remove(e);
	free((char *)e->dbg.path);
	e->be->munmap((void *)(uintptr_t)e->base, e->size);
	e->be->close(e->fd);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e->tcs);
	free(e);
}
