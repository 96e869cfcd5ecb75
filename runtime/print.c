/* SPDX-License-Identifier: MIT */
/* Formatted output: a small printf for enclave code (rt.h lists the formats). */
#include "sgxemu/rt.h"

/* Where formatted text goes, piece by piece. */
struct sink {
	void (*put)(struct sink *s, const char *p, size_t n);
	size_t total;
};

static void emit(struct sink *s, const char *p, size_t n)
{
	s->put(s, p, n);
	s->total += n;
}

static void pad(struct sink *s, char c, size_t n)
{
	while (n--)
		emit(s, &c, 1);
}

/* One field: text of len bytes, with sign/prefix handled by the caller in text. */
static void field(struct sink *s, const char *text, size_t len, size_t width, bool left, bool zero)
{
	size_t fill = width > len ? width - len : 0;
	if (left) {
		emit(s, text, len);
		pad(s, ' ', fill);
		return;
	}
	if (zero && len && (text[0] == '-')) {
		emit(s, text, 1);
		pad(s, '0', fill);
		emit(s, text + 1, len - 1);
		return;
	}
	if (zero && len > 1 && text[0] == '0' && text[1] == 'x') {
		emit(s, text, 2);
		pad(s, '0', fill);
		emit(s, text + 2, len - 2);
		return;
	}
	pad(s, zero ? '0' : ' ', fill);
	emit(s, text, len);
}

/* Digits of v in base (10 or 16) at the end of buf; returns the first digit. */
static char *digits(char *end, uint64_t v, unsigned base, bool upper)
{
	const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;
	do {
		*--p = set[v % base];
		v /= base;
	} while (v);
	return p;
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
	char buf[32];
	char *end = buf + sizeof(buf);
	while (*fmt) {
		if (*fmt != '%') {
			const char *p = fmt;
			while (*p && *p != '%')
				p++;
			emit(s, fmt, (size_t)(p - fmt));
			fmt = p;
			continue;
		}
		fmt++;
		bool left = false, zero = false;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				zero = true;
			else
				break;
		}
		size_t width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (size_t)(*fmt++ - '0');
		unsigned lng = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			lng += *fmt == 'z' ? 2 : 1;
			fmt++;
		}
		char conv = *fmt ? *fmt++ : '\0';
		char *p;
		uint64_t u;
		switch (conv) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			u = v < 0 ? -(uint64_t)v : (uint64_t)v;
			p = digits(end, u, 10, false);
			if (v < 0)
				*--p = '-';
			field(s, p, (size_t)(end - p), width, left, zero);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			p = digits(end, u, conv == 'u' ? 10 : 16, conv == 'X');
			field(s, p, (size_t)(end - p), width, left, zero);
			break;
		case 'p':
			u = (uint64_t)(uintptr_t)va_arg(ap, void *);
			p = digits(end, u, 16, false);
			*--p = 'x';
			*--p = '0';
			field(s, p, (size_t)(end - p), width, left, zero);
			break;
		case 'c':
			buf[0] = (char)va_arg(ap, int);
			field(s, buf, 1, width, left, false);
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			field(s, str, strlen(str), width, left, false);
			break;
		}
		case '%':
			emit(s, "%", 1);
			break;
		default:
			/* Not a conversion this printf knows: show it as written. */
			emit(s, "%", 1);
			if (conv)
				emit(s, &conv, 1);
			break;
		}
	}
}

/* ---- into a buffer ---- */

struct buf_sink {
	struct sink s;
	char *buf;
	size_t n, len;
};

static void buf_put(struct sink *s, const char *p, size_t n)
{
	struct buf_sink *b = (struct buf_sink *)s;
	for (size_t i = 0; i < n; i++, b->len++)
		if (b->len + 1 < b->n)
			b->buf[b->len] = p[i];
}

int rt_vsnprint(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct buf_sink b = {.s = {.put = buf_put}, .buf = buf, .n = n};
	format(&b.s, fmt, ap);
	if (n)
		buf[b.len < n ? b.len : n - 1] = '\0';
	return (int)b.s.total;
}

int rt_snprint(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = rt_vsnprint(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- to the host's stdout, in chunks ---- */

struct out_sink {
	struct sink s;
	char buf[256];
	size_t len;
	int64_t err;
};

static void out_flush(struct out_sink *o)
{
	if (o->len && !o->err) {
		int64_t r = rt_write(1, o->buf, o->len);
		if (r < 0)
			o->err = r;
	}
	o->len = 0;
}

static void out_put(struct sink *s, const char *p, size_t n)
{
	struct out_sink *o = (struct out_sink *)s;
	for (size_t i = 0; i < n; i++) {
		if (o->len == sizeof(o->buf))
			out_flush(o);
		o->buf[o->len++] = p[i];
	}
}

int rt_vprint(const char *fmt, va_list ap)
{
	struct out_sink o = {.s = {.put = out_put}};
	format(&o.s, fmt, ap);
	out_flush(&o);
	return o.err ? (int)o.err : (int)o.s.total;
}

int rt_print(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = rt_vprint(fmt, ap);
	va_end(ap);
	return r;
}
