/* SPDX-License-Identifier: MIT */
/*
 * The trace file of one process (docs/preload.md "--trace=FILE"): Chrome's
 * Trace Event Format, written as the process runs, and the formatting of
 * its events.  Everything here is async-signal-safe (no malloc, no stdio,
 * errno kept): events come from exec's signal handler too.
 *
 * The file is the format's JSON Array Format, "[" then one event object
 * per line, each after a ",", then "]".  It is valid JSON at every moment:
 * events go into a region of spaces reserved ahead of them (whitespace is
 * valid between JSON tokens), the "]" stays after that region, and no
 * event crosses a 4 KiB page, so that a process killed in the middle of a
 * write (a fatal signal cuts writes between pages, never inside one) never
 * leaves half an event.  Only while the "]" moves to a new region (every
 * TRACE_CHUNK bytes of events) is there a moment, between two small
 * writes, when a kill leaves the array without its "]": the format's
 * definition allows that ("the ] at the end of the JSON Array Format is
 * optional"), strict JSON parsers do not.  At a normal exit the spaces
 * after the last event are cut off.
 */
#ifndef SGXEMU_TRACE_H
#define SGXEMU_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes reserved at a time; also the most trailing spaces a killed process leaves. */
#define TRACE_CHUNK (256 * 1024)
/* The longest event (no event crosses a page). */
#define TRACE_EVENT_MAX 2048

/* ---- formatting ---- */

/* A fixed buffer; what does not fit is dropped and marks it full. */
struct tbuf {
	char *p;
	size_t n, cap;
	bool full;
};

void tb_raw(struct tbuf *b, const char *s);
void tb_char(struct tbuf *b, char c);
/* s as a JSON string: quotes, escapes. */
void tb_str(struct tbuf *b, const char *s);
void tb_dec(struct tbuf *b, uint64_t v);
void tb_sdec(struct tbuf *b, int64_t v);
/* "0x..." as a JSON string (addresses do not fit a JSON number exactly). */
void tb_hexstr(struct tbuf *b, uint64_t v);
/* ns as microseconds with three decimals (the format's unit). */
void tb_usec(struct tbuf *b, uint64_t ns);

/* ---- the file ---- */

/*
 * Create path (replacing it; exclusive: never replacing, path.1, path.2 ...
 * instead) as an empty trace whose first event is first (an object, no
 * comma), on a close-on-exec descriptor numbered high.
 * Return: 0, or -errno (nothing created).  The name taken is in used.
 */
int trace_open(const char *path, bool exclusive, const char *first, char *used, size_t usedlen);
bool trace_is_open(void);
/*
 * Append one event: ev is ",\n{...}" (at most TRACE_EVENT_MAX bytes).
 * Return: false if it could not be written (closed, a write failed).
 */
bool trace_put(const char *ev, size_t len);
/*
 * The last event is written: cut the reserved spaces off, end with "]".
 * Later events are dropped.
 */
void trace_close(void);
/* In a child after fork: let go of the parent's file without touching it. */
void trace_forget(void);
/* The error that stopped the trace (0: none), for a message. */
int trace_error(void);

#endif /* SGXEMU_TRACE_H */
