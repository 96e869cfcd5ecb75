/* SPDX-License-Identifier: MIT */
/*
 * Loading the library: the real libc functions, the library's own code
 * range (calls from the emulator pass straight to libc), messages, and
 * starting the emulator.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "obs.h"
#include "preload.h"
#include "sgxemu/sgxemu.h"

PRELOAD_HIDDEN struct preload_real preload_real;
PRELOAD_HIDDEN volatile int preload_detached;
PRELOAD_HIDDEN bool preload_trace_on;

void preload_resolve(void **slot, const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (!f) {
		preload_msg("the C library has no %s: calls to it fail with ENOSYS", name);
		return;
	}
	__atomic_store_n(slot, f, __ATOMIC_RELEASE);
}

/* ---- the library's code range ----------------------------------------------- */

extern const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

#define SELF_RANGES 4
static struct {
	uintptr_t lo, hi;
} self_range[SELF_RANGES];
static unsigned n_self_range;

/* The executable PT_LOAD segments of this library, from its own ELF header. */
static void self_range_init(void)
{
	const ElfW(Ehdr) *eh = &__ehdr_start;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	uintptr_t bias = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			bias = (uintptr_t)eh - ph[i].p_vaddr;
	unsigned n = 0;
	for (unsigned i = 0; i < eh->e_phnum && n < SELF_RANGES; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		self_range[n].lo = bias + ph[i].p_vaddr;
		self_range[n].hi = bias + ph[i].p_vaddr + ph[i].p_memsz;
		n++;
	}
	__atomic_store_n(&n_self_range, n, __ATOMIC_RELEASE);
}

bool preload_self_call(const void *ret)
{
	unsigned n = __atomic_load_n(&n_self_range, __ATOMIC_ACQUIRE);
	if (!n) {
		/* A wrapper called before the constructor ran (another library's constructor). */
		self_range_init();
		n = __atomic_load_n(&n_self_range, __ATOMIC_ACQUIRE);
	}
	uintptr_t a = (uintptr_t)ret;
	for (unsigned i = 0; i < n; i++)
		if (a >= self_range[i].lo && a < self_range[i].hi)
			return true;
	return false;
}

/* ---- messages ------------------------------------------------------------------ */

struct out {
	char buf[512];
	size_t n;
};

static void put_c(struct out *o, char c)
{
	if (o->n < sizeof(o->buf) - 1)
		o->buf[o->n++] = c;
}

static void put_s(struct out *o, const char *s)
{
	if (!s)
		s = "(null)";
	while (*s)
		put_c(o, *s++);
}

static void put_u(struct out *o, unsigned long v, unsigned base)
{
	char tmp[24];
	int i = 0;
	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (base == 16)
		put_s(o, "0x");
	while (i)
		put_c(o, tmp[--i]);
}

/* The message, "sgxemu: " first; stamp: then "[seconds.microseconds tid] " of CLOCK_MONOTONIC (trace lines). */
static void vmsg(bool stamp, const char *fmt, va_list ap)
{
	struct out o = {.n = 0};
	put_s(&o, "sgxemu: ");
	if (stamp) {
		/* The clock of the trace file's "ts" (microseconds there), so that the two can be matched. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		char us[7];
		unsigned long v = (unsigned long)ts.tv_nsec / 1000;
		for (int i = 5; i >= 0; i--, v /= 10)
			us[i] = (char)('0' + v % 10);
		us[6] = 0;
		put_c(&o, '[');
		put_u(&o, (unsigned long)ts.tv_sec, 10);
		put_c(&o, '.');
		put_s(&o, us);
		put_c(&o, ' ');
		put_u(&o, (unsigned long)syscall(SYS_gettid), 10);
		put_s(&o, "] ");
	}
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			put_c(&o, *p);
			continue;
		}
		switch (*++p) {
		case 's':
			put_s(&o, va_arg(ap, const char *));
			break;
		case 'c':
			put_c(&o, (char)va_arg(ap, int));
			break;
		case 'd': {
			int v = va_arg(ap, int);
			if (v < 0) {
				put_c(&o, '-');
				put_u(&o, (unsigned long)-(long)v, 10);
			} else {
				put_u(&o, (unsigned long)v, 10);
			}
			break;
		}
		case 'u':
			put_u(&o, va_arg(ap, unsigned), 10);
			break;
		case 'p':
			put_u(&o, (unsigned long)(uintptr_t)va_arg(ap, void *), 16);
			break;
		case 'l':
			if (p[1] == 'u') {
				put_u(&o, va_arg(ap, unsigned long), 10);
				p++;
			} else if (p[1] == 'x') {
				put_u(&o, va_arg(ap, unsigned long), 16);
				p++;
			}
			break;
		case '%':
			put_c(&o, '%');
			break;
		default:
			p--;
			break;
		}
	}
	put_c(&o, '\n');
	o.buf[o.n] = 0;
	int saved = errno;
	for (size_t off = 0; off < o.n;) {
		ssize_t w = write(STDERR_FILENO, o.buf + off, o.n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	errno = saved;
}

void preload_vmsg(const char *fmt, va_list ap)
{
	vmsg(false, fmt, ap);
}

void preload_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	preload_vmsg(fmt, ap);
	va_end(ap);
}

void preload_msg_once(int *once, const char *fmt, ...)
{
	if (__atomic_exchange_n(once, 1, __ATOMIC_ACQ_REL))
		return;
	va_list ap;
	va_start(ap, fmt);
	preload_vmsg(fmt, ap);
	va_end(ap);
}

void preload_trace(const char *fmt, ...)
{
	if (!preload_trace_on)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(true, fmt, ap);
	va_end(ap);
}

/* ---- starting the emulator --------------------------------------------------------- */

static pthread_mutex_t up_lock = PTHREAD_MUTEX_INITIALIZER;

int preload_system_up(void)
{
	if (preload_detached) {
		static int once;
		preload_msg_once(&once, "this process was forked from one that used SGX: its enclaves stay with the "
					"parent and a new one cannot be created here (not modelled); the device is "
					"reported absent");
		errno = ENODEV;
		return -1;
	}
	if (sgxemu_started())
		return 0;
	pthread_mutex_lock(&up_lock);
	int ret = 0;
	if (!sgxemu_started()) {
		preload_signals_take();
		char err[256] = "";
		if (sgxemu_start(NULL, err, sizeof(err)) != 0) {
			preload_msg("cannot start the emulated SGX system: %s", err);
			ret = -1;
		}
		preload_signals_settle();
	}
	pthread_mutex_unlock(&up_lock);
	if (ret)
		errno = ENODEV;
	return ret;
}

/* ---- fork ---------------------------------------------------------------------------- */

void preload_after_fork_child(void)
{
	obs_after_fork_child();
	pthread_mutex_init(&up_lock, NULL);
	preload_mm_after_fork();
	preload_signals_after_fork();
	if (!sgxemu_started())
		return;
	preload_detached = 1;
	preload_fd_detach();
}

__attribute__((constructor)) static void preload_init(void)
{
	self_range_init();
	const char *t = getenv(SGXEMU_ENV_TRACE);
	preload_trace_on = t && *t && strcmp(t, "0") != 0;
	const char *stale = getenv(SGXEMU_ENV_STALE_FDS);
	if (stale) {
		preload_fd_init_stale(stale);
		unsetenv(SGXEMU_ENV_STALE_FDS);
	}
	preload_vdso_init();
	preload_cpuid_init();
	pthread_atfork(NULL, NULL, preload_after_fork_child);
}
