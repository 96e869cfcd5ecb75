/* SPDX-License-Identifier: MIT */
/*
 * The EPC map (docs/preload.md "--epc-map"): every page of every enclave's
 * ELRANGE as one character, 64 to a line, from the driver's page records
 * and the EPCM.  Identical lines in a row are shown once, with their
 * number.  Written with write(2) from fixed buffers: it may run in a
 * process's _exit, which a signal handler may call.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kernel.h"
#include "obs.h"
#include "trace.h"

#define LINE_PAGES 64

/* The states, in the order a page is classified, with their characters and names. */
enum state { ST_EVICTED, ST_PENDING, ST_MODIFIED, ST_TRIMMED, ST_RESTRICTED, ST_BLOCKED, ST_TCS, ST_PRESENT, ST_N };
static const char state_char[ST_N] = {'e', 'p', 'm', 't', 'r', 'b', 'T', '#'};
static const char *const state_name[ST_N] = {"evicted",	   "pending", "modified", "trimmed",
					     "restricted", "blocked", "TCS",	  "present"};

struct map {
	int fd;
	uint64_t base, size; /* the enclave being drawn (size 0: none yet) */
	uint64_t pos;	     /* pages of it drawn */
	char line[LINE_PAGES], prev[LINE_PAGES];
	uint64_t line_addr;
	bool have_prev;
	uint64_t repeats; /* lines equal to prev not shown yet */
	uint64_t count[ST_N];
	uint64_t resident, evicted;
	unsigned enclaves;
};

static void out(struct map *mp, struct tbuf *b)
{
	if (mp->fd < 0)
		return;
	for (size_t off = 0; off < b->n;) {
		ssize_t w = write(mp->fd, b->p + off, b->n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void out_str(struct map *mp, const char *s)
{
	struct tbuf b = {.p = (char *)s, .n = strlen(s), .cap = strlen(s)};
	out(mp, &b);
}

static void flush_repeats(struct map *mp)
{
	if (!mp->repeats)
		return;
	char mem[96];
	struct tbuf b = {.p = mem, .cap = sizeof(mem)};
	tb_raw(&b, "    *                  ");
	tb_dec(&b, mp->repeats);
	tb_raw(&b, mp->repeats == 1 ? " more line like the one above\n" : " more lines like the one above\n");
	out(mp, &b);
	mp->repeats = 0;
}

static void line_done(struct map *mp)
{
	if (mp->have_prev && !memcmp(mp->line, mp->prev, LINE_PAGES)) {
		mp->repeats++;
	} else {
		flush_repeats(mp);
		char mem[128];
		struct tbuf b = {.p = mem, .cap = sizeof(mem)};
		tb_raw(&b, "    ");
		/* The address, 0x and 16 digits wide, so that the columns line up. */
		char hex[19] = "0x";
		for (int i = 0; i < 16; i++)
			hex[2 + i] = "0123456789abcdef"[(mp->line_addr >> (60 - 4 * i)) & 15];
		hex[18] = 0;
		tb_raw(&b, hex);
		tb_char(&b, ' ');
		for (unsigned i = 0; i < LINE_PAGES; i++)
			tb_char(&b, mp->line[i]);
		tb_char(&b, '\n');
		out(mp, &b);
		memcpy(mp->prev, mp->line, LINE_PAGES);
		mp->have_prev = true;
	}
}

/* The next page of the enclave being drawn is c. */
static void draw(struct map *mp, char c)
{
	unsigned col = (unsigned)(mp->pos % LINE_PAGES);
	if (col == 0)
		mp->line_addr = mp->base + mp->pos * 4096;
	mp->line[col] = c;
	mp->pos++;
	if (col == LINE_PAGES - 1)
		line_done(mp);
}

/* Draw "no page" up to page index idx; whole lines of them are counted, not drawn one by one. */
static void gap_to(struct map *mp, uint64_t idx)
{
	while (mp->pos < idx && mp->pos % LINE_PAGES)
		draw(mp, '.');
	while (idx - mp->pos >= LINE_PAGES) {
		mp->line_addr = mp->base + mp->pos * 4096;
		memset(mp->line, '.', LINE_PAGES);
		if (mp->have_prev && !memcmp(mp->line, mp->prev, LINE_PAGES)) {
			/* A run of empty lines: count them all at once. */
			uint64_t lines = (idx - mp->pos) / LINE_PAGES;
			mp->repeats += lines;
			mp->pos += lines * LINE_PAGES;
		} else {
			line_done(mp);
			mp->pos += LINE_PAGES;
		}
	}
	while (mp->pos < idx)
		draw(mp, '.');
}

static void enclave_end(struct map *mp)
{
	if (!mp->size)
		return;
	uint64_t pages = mp->size / 4096;
	gap_to(mp, pages);
	if (mp->pos % LINE_PAGES) {
		/* ELRANGE is at least two pages and a power of two: a partial line only when smaller than one. */
		for (unsigned i = (unsigned)(mp->pos % LINE_PAGES); i < LINE_PAGES; i++)
			mp->line[i] = ' ';
		line_done(mp);
	}
	flush_repeats(mp);
	char mem[512];
	struct tbuf b = {.p = mem, .cap = sizeof(mem)};
	tb_raw(&b, "    pages:");
	bool any = false;
	for (unsigned s = ST_N; s-- > 0;) {
		if (!mp->count[s])
			continue;
		tb_raw(&b, any ? ", " : " ");
		tb_dec(&b, mp->count[s]);
		tb_char(&b, ' ');
		tb_raw(&b, state_name[s]);
		any = true;
	}
	tb_raw(&b, any ? "\n" : " none\n");
	out(mp, &b);
	memset(mp->count, 0, sizeof(mp->count));
	mp->size = 0;
}

static void on_enclave(void *ctx, uint64_t base, uint64_t size)
{
	struct map *mp = ctx;
	enclave_end(mp);
	mp->enclaves++;
	mp->base = base;
	mp->size = size;
	mp->pos = 0;
	mp->have_prev = false;
	mp->repeats = 0;
	char mem[160];
	struct tbuf b = {.p = mem, .cap = sizeof(mem)};
	tb_raw(&b, "  enclave ");
	tb_hexstr(&b, base);
	tb_raw(&b, " - ");
	tb_hexstr(&b, base + size);
	tb_raw(&b, ", ");
	tb_dec(&b, size / 4096);
	tb_raw(&b, " pages\n");
	/* tb_hexstr quotes: a map reads better without them. */
	size_t j = 0;
	for (size_t i = 0; i < b.n; i++)
		if (b.p[i] != '"')
			b.p[j++] = b.p[i];
	b.n = j;
	out(mp, &b);
}

static enum state classify(const struct sgxk_page_state *s)
{
	if (!s->resident)
		return ST_EVICTED;
	if (s->epcm.pending)
		return ST_PENDING;
	if (s->epcm.modified)
		return ST_MODIFIED;
	if (s->epcm.pt == SGX_PT_TRIM || s->type == SGX_PT_TRIM)
		return ST_TRIMMED;
	if (s->epcm.pr)
		return ST_RESTRICTED;
	if (s->epcm.blocked)
		return ST_BLOCKED;
	if (s->epcm.pt == SGX_PT_TCS || s->type == SGX_PT_TCS)
		return ST_TCS;
	return ST_PRESENT;
}

static void on_page(void *ctx, const struct sgxk_page_state *s)
{
	struct map *mp = ctx;
	if (s->resident)
		mp->resident++;
	else
		mp->evicted++;
	if (mp->fd < 0)
		return;
	enum state st = classify(s);
	mp->count[st]++;
	gap_to(mp, (s->addr - mp->base) / 4096);
	draw(mp, state_char[st]);
}

static void on_enclave_count(void *ctx, uint64_t base, uint64_t size)
{
	(void)ctx;
	(void)base;
	(void)size;
}

int obs_epc_map(struct sgxk *k, int fd, bool wait, const char *title, uint64_t *resident, uint64_t *evicted)
{
	struct map mp = {.fd = fd};
	if (fd >= 0) {
		out_str(&mp, title);
		out_str(&mp, "\n  one character a page, 64 a line: # present, T TCS, p pending (EAUG'd, not accepted), "
			     "m modified (EMODT, not accepted), r restricted (EMODPR, not accepted), t trimmed, "
			     "b blocked, e evicted, . none\n");
	}
	int ret = sgxk_page_walk(k, wait, fd >= 0 ? on_enclave : on_enclave_count, on_page, &mp);
	if (fd >= 0) {
		enclave_end(&mp);
		if (ret)
			out_str(&mp, "  (incomplete: the driver was busy when the process ended)\n");
		else if (!mp.enclaves)
			out_str(&mp, "  no enclave\n");
	}
	*resident = mp.resident;
	*evicted = mp.evicted;
	return ret;
}
