/* SPDX-License-Identifier: MIT */
/*
 * The trace file of one process (trace.h): events written where they are
 * reserved, in a region of spaces kept ahead of them before the closing
 * "]", so that the file is valid JSON whenever the process may stop.
 *
 * Writers reserve with one atomic step (next); only the thread that needs
 * the region to grow takes a lock, with every signal blocked (an event
 * from a signal handler must not wait for the thread it interrupted).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "trace.h"

#define PAGE	    4096ULL
#define TRAILER	    "]\n"
#define TRAILER_LEN 2ULL
#define FROZEN	    UINT64_MAX
/* A descriptor at least this high (or below the limit), out of the way of the program's own numbers. */
#define HIGH_FD 1000

static int fd = -1;
static _Atomic uint64_t next;	/* where the next event goes; FROZEN once closed */
static _Atomic uint64_t filled; /* where "]" is; spaces between the events and it */
static atomic_flag ext_busy = ATOMIC_FLAG_INIT;
static bool closed;
static _Atomic int error;
static char spaces[PAGE];

/* ---- formatting ---- */

void tb_raw(struct tbuf *b, const char *s)
{
	while (*s)
		tb_char(b, *s++);
}

void tb_char(struct tbuf *b, char c)
{
	if (b->n < b->cap)
		b->p[b->n++] = c;
	else
		b->full = true;
}

void tb_str(struct tbuf *b, const char *s)
{
	tb_char(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			tb_char(b, '\\');
			tb_char(b, (char)c);
		} else if (c < 0x20) {
			tb_raw(b, "\\u00");
			tb_char(b, "0123456789abcdef"[c >> 4]);
			tb_char(b, "0123456789abcdef"[c & 15]);
		} else {
			tb_char(b, (char)c);
		}
	}
	tb_char(b, '"');
}

void tb_dec(struct tbuf *b, uint64_t v)
{
	char tmp[24];
	int i = 0;
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		tb_char(b, tmp[--i]);
}

void tb_sdec(struct tbuf *b, int64_t v)
{
	if (v < 0) {
		tb_char(b, '-');
		tb_dec(b, (uint64_t)0 - (uint64_t)v);
	} else {
		tb_dec(b, (uint64_t)v);
	}
}

void tb_hexstr(struct tbuf *b, uint64_t v)
{
	char tmp[16];
	int i = 0;
	do {
		tmp[i++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	tb_raw(b, "\"0x");
	while (i)
		tb_char(b, tmp[--i]);
	tb_char(b, '"');
}

void tb_usec(struct tbuf *b, uint64_t ns)
{
	tb_dec(b, ns / 1000);
	unsigned frac = (unsigned)(ns % 1000);
	tb_char(b, '.');
	tb_char(b, (char)('0' + frac / 100));
	tb_char(b, (char)('0' + frac / 10 % 10));
	tb_char(b, (char)('0' + frac % 10));
}

/* ---- writing ---- */

static bool fail(int e)
{
	int expected = 0;
	atomic_compare_exchange_strong(&error, &expected, e ? e : EIO);
	return false;
}

static bool write_at(const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return fail(w < 0 ? errno : ENOSPC);
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return true;
}

/* Spaces over [from, to). */
static bool spaces_at(uint64_t from, uint64_t to)
{
	struct iovec iov[64];
	while (from < to) {
		unsigned n = 0;
		uint64_t len = 0;
		while (n < 64 && from + len < to) {
			uint64_t k = to - from - len < PAGE ? to - from - len : PAGE;
			iov[n++] = (struct iovec){.iov_base = spaces, .iov_len = k};
			len += k;
		}
		ssize_t w = pwritev(fd, iov, (int)n, (off_t)from);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return fail(w < 0 ? errno : ENOSPC);
		from += (uint64_t)w;
	}
	return true;
}

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE - 1) & ~(PAGE - 1);
}

/* The "]" at a place where its two bytes share a page. */
static uint64_t trailer_place(uint64_t v)
{
	return v % PAGE > PAGE - TRAILER_LEN ? page_up(v) : v;
}

/*
 * Move "]" from filled to at least need (exact: to need), spaces in
 * between (ext_busy held).  Within one page that is one write, which a
 * kill cannot cut; across pages: spaces after the old "]" first (trailing
 * whitespace), then the old "]" blanked, then the new one written.
 */
static bool extend_locked(uint64_t need, bool exact)
{
	uint64_t f = atomic_load(&filled);
	if (need <= f)
		return true;
	uint64_t nf = trailer_place(exact ? need : page_up(need + TRACE_CHUNK));
	if (f / PAGE == (nf + TRAILER_LEN - 1) / PAGE) {
		char buf[PAGE];
		memset(buf, ' ', nf - f);
		memcpy(buf + (nf - f), TRAILER, TRAILER_LEN);
		if (!write_at(buf, nf - f + TRAILER_LEN, f))
			return false;
	} else if (!spaces_at(f + TRAILER_LEN, nf) || !write_at("  ", TRAILER_LEN, f) ||
		   !write_at(TRAILER, TRAILER_LEN, nf)) {
		return false;
	}
	atomic_store(&filled, nf);
	return true;
}

static void lock(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
	while (atomic_flag_test_and_set_explicit(&ext_busy, memory_order_acquire))
		sched_yield();
}

static void unlock(const sigset_t *old)
{
	atomic_flag_clear_explicit(&ext_busy, memory_order_release);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static bool extend(uint64_t need)
{
	sigset_t old;
	lock(&old);
	bool ok = closed ? need <= atomic_load(&filled) : extend_locked(need, false);
	unlock(&old);
	return ok;
}

/* A place for len bytes that does not cross a page. */
static bool reserve(size_t len, uint64_t *off)
{
	uint64_t cur = atomic_load(&next);
	for (;;) {
		if (cur == FROZEN)
			return false;
		uint64_t at = cur % PAGE + len > PAGE ? page_up(cur) : cur;
		if (atomic_compare_exchange_weak(&next, &cur, at + len)) {
			*off = at;
			return true;
		}
	}
}

bool trace_put(const char *ev, size_t len)
{
	if (fd < 0 || atomic_load_explicit(&error, memory_order_relaxed) || len > TRACE_EVENT_MAX)
		return false;
	int saved = errno;
	uint64_t off;
	bool ok =
	    reserve(len, &off) && (off + len <= atomic_load(&filled) || extend(off + len)) && write_at(ev, len, off);
	errno = saved;
	return ok;
}

bool trace_is_open(void)
{
	return fd >= 0;
}

int trace_error(void)
{
	return atomic_load(&error);
}

/* fd moved to a high number, close-on-exec (the program's own numbers stay free). */
static int move_high(int f)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 64)
		return f;
	long at = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > HIGH_FD + 32 ? HIGH_FD : (long)rl.rlim_cur - 32;
	if (at <= f)
		return f;
	int h = fcntl(f, F_DUPFD_CLOEXEC, (int)at);
	if (h < 0)
		return f;
	close(f);
	return h;
}

int trace_open(const char *path, bool exclusive, const char *first, char *used, size_t usedlen)
{
	size_t flen = strlen(first);
	if (flen > TRACE_EVENT_MAX)
		return -EINVAL;
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
	char name[PATH_MAX];
	snprintf(name, sizeof(name), "%s", path);
	int f = open(name, flags, 0666);
	for (unsigned i = 1; f < 0 && errno == EEXIST && exclusive && i < 1000; i++) {
		snprintf(name, sizeof(name), "%s.%u", path, i);
		f = open(name, flags, 0666);
	}
	if (f < 0)
		return -errno;
	snprintf(used, usedlen, "%s", name);
	fd = move_high(f);
	memset(spaces, ' ', sizeof(spaces));
	/* "[", the first event, a space for the next one, "]": all in the first page. */
	char head[TRACE_EVENT_MAX + 8];
	size_t n = 0;
	memcpy(head, "[\n", 2);
	n = 2;
	memcpy(head + n, first, flen);
	n += flen;
	atomic_store(&next, n);
	head[n] = '\n';
	memcpy(head + n + 1, TRAILER, TRAILER_LEN);
	atomic_store(&filled, n + 1);
	closed = false;
	atomic_store(&error, 0);
	if (!write_at(head, n + 1 + TRAILER_LEN, 0)) {
		int e = trace_error();
		close(fd);
		fd = -1;
		unlink(name);
		return -e;
	}
	return 0;
}

void trace_close(void)
{
	if (fd < 0)
		return;
	sigset_t old;
	lock(&old);
	uint64_t n = atomic_exchange(&next, FROZEN);
	if (n != FROZEN && !atomic_load(&error)) {
		uint64_t f = atomic_load(&filled), t = trailer_place(n);
		if (t > f) {
			extend_locked(t, true);
		} else if (t < f) {
			/* Events still being written lie below n: what goes is spaces. */
			if (ftruncate(fd, (off_t)t) == 0 && write_at(TRAILER, TRAILER_LEN, t))
				atomic_store(&filled, t);
			else
				fail(errno);
		}
	}
	closed = true;
	unlock(&old);
}

void trace_forget(void)
{
	if (fd >= 0)
		syscall(SYS_close, fd);
	fd = -1;
	atomic_store(&next, 0);
	atomic_store(&filled, 0);
	atomic_flag_clear(&ext_busy);
	closed = false;
	atomic_store(&error, 0);
}
