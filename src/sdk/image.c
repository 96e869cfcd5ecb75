/* SPDX-License-Identifier: MIT */
/*
 * Enclave images (image.h): ELF static PIE + layout config -> the pages the
 * loader adds, MRENCLAVE computed as the hardware will (spec/measurement.md),
 * and the SIGSTRUCT.  The ELF is read field by field from its bytes, every
 * field checked before use, so no input can make it read outside the file.
 */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "hw.h"
#include "sigstruct.h"

#define PAGE	     SGXEMU_PAGE
#define PAGE_OFF(x)  ((x) & (PAGE - 1))
#define PAGE_DOWN(x) ((x) & ~(PAGE - 1))
#define PAGE_UP(x)   (((x) + PAGE - 1) & ~(PAGE - 1))

/* ---- ELF64 (System V gABI, x86-64 psABI): the fields we read -------------------------------- */

#define ELF_EHDR_SIZE 64
#define ELF_PHDR_SIZE 56
#define ELF_DYN_SIZE  16

#define ELF_IDENT_CLASS	  4
#define ELF_IDENT_DATA	  5
#define ELF_IDENT_VERSION 6
#define ELF_CLASS64	  2
#define ELF_DATA_LSB	  1

#define ELF_E_TYPE	0x10
#define ELF_E_MACHINE	0x12
#define ELF_E_VERSION	0x14
#define ELF_E_ENTRY	0x18
#define ELF_E_PHOFF	0x20
#define ELF_E_PHENTSIZE 0x36
#define ELF_E_PHNUM	0x38

#define ELF_P_TYPE   0x00
#define ELF_P_FLAGS  0x04
#define ELF_P_OFFSET 0x08
#define ELF_P_VADDR  0x10
#define ELF_P_FILESZ 0x20
#define ELF_P_MEMSZ  0x28

#define ELF_ET_DYN    3
#define ELF_EM_X86_64 62
#define ELF_PN_XNUM   0xffff

#define ELF_PT_LOAD    1
#define ELF_PT_DYNAMIC 2
#define ELF_PT_INTERP  3
#define ELF_PT_TLS     7

#define ELF_PF_X 1U
#define ELF_PF_W 2U
#define ELF_PF_R 4U

#define ELF_DT_NULL    0
#define ELF_DT_NEEDED  1
#define ELF_DT_STRTAB  5
#define ELF_DT_STRSZ   10
#define ELF_DT_TEXTREL 22
#define ELF_DT_FLAGS   30
#define ELF_DF_TEXTREL 0x4

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

#define HX(v) ((unsigned long long)(v))

/* ---- configuration --------------------------------------------------------------------------- */

void sdk_config_default(struct sdk_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n_tcs = 1;
	c->nssa = 2;
	c->stack_size = 64 * 1024;
	c->heap_size = 256 * 1024;
	c->xfrm = 3;
	c->attributes_mask = ~0ULL;
	c->misc_select = SGX_MISC_EXINFO;
	c->misc_mask = ~0U;
}

enum vtype { V_U16, V_U32, V_U64, V_SIZE, V_BOOL, V_ATTR, V_XFRM, V_DATE };

struct key {
	const char *name;
	enum vtype type;
	size_t off;
};

#define CFG(f) offsetof(struct sdk_config, f)
static const struct key keys[] = {
    {"n_tcs", V_U32, CFG(n_tcs)},
    {"nssa", V_U32, CFG(nssa)},
    {"ssa_frame_pages", V_U32, CFG(ssa_frame_pages)},
    {"stack_size", V_SIZE, CFG(stack_size)},
    {"heap_size", V_SIZE, CFG(heap_size)},
    {"dyn_size", V_SIZE, CFG(dyn_size)},
    {"n_dyn_threads", V_U32, CFG(n_dyn_threads)},
    {"enclave_size", V_SIZE, CFG(enclave_size)},
    {"edmm", V_BOOL, CFG(edmm)},
    {"debug", V_BOOL, CFG(debug)},
    {"attributes", V_ATTR, CFG(attributes)},
    {"xfrm", V_XFRM, CFG(xfrm)},
    {"attributes_mask", V_U64, CFG(attributes_mask)},
    {"xfrm_mask", V_U64, CFG(xfrm_mask)},
    {"misc_select", V_U32, CFG(misc_select)},
    {"misc_mask", V_U32, CFG(misc_mask)},
    {"isv_prod_id", V_U16, CFG(isv_prod_id)},
    {"isv_svn", V_U16, CFG(isv_svn)},
    {"date", V_DATE, CFG(date_bcd)},
};
#undef CFG
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Index of key (with '-' read as '_'), or -1. */
static int key_index(const char *key)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const char *a = keys[i].name, *b = key;
		while (*a && (*a == *b || (*a == '_' && *b == '-'))) {
			a++;
			b++;
		}
		if (!*a && !*b)
			return (int)i;
	}
	return -1;
}

enum sdk_key_kind sdk_config_key_kind(const char *key)
{
	int i = key_index(key);
	if (i < 0)
		return SDK_KEY_UNKNOWN;
	return keys[i].type == V_BOOL ? SDK_KEY_BOOL : SDK_KEY_VALUE;
}

const char *sdk_parse_number(const char *s, bool size, uint64_t *out)
{
	const char *p = s;
	unsigned base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	uint64_t v = 0;
	const char *digits = p;
	for (;; p++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return "out of range";
		v = v * base + d;
	}
	if (p == digits)
		return size ? "not a size" : "not a number";
	if (size && *p) {
		unsigned shift = 0;
		switch (*p) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		default:
			return "not a size";
		}
		p++;
		if (v > (UINT64_MAX >> shift))
			return "out of range";
		v <<= shift;
	}
	if (*p)
		return size ? "not a size" : "not a number";
	*out = v;
	return NULL;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static const struct {
	const char *name;
	uint64_t bit;
} attr_names[] = {
    {"provisionkey", SGX_ATTR_PROVISIONKEY},
    {"kss", SGX_ATTR_KSS},
    {"aexnotify", SGX_ATTR_AEXNOTIFY},
};

/* A number, or names from attr_names joined by '|' or ','. */
static int parse_attributes(const char *key, const char *s, uint64_t *out, char *err, size_t errlen)
{
	if ((*s >= '0' && *s <= '9')) {
		const char *why = sdk_parse_number(s, false, out);
		return why ? fail(err, errlen, "%s: '%s' is %s", key, s, why) : 0;
	}
	uint64_t v = 0;
	const char *p = s;
	while (*p) {
		size_t n = strcspn(p, "|,");
		size_t i;
		for (i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++)
			if (strlen(attr_names[i].name) == n && strncasecmp(p, attr_names[i].name, n) == 0)
				break;
		if (i == sizeof(attr_names) / sizeof(attr_names[0]))
			return fail(err, errlen,
				    "%s: unknown attribute '%.*s' (provisionkey, kss, aexnotify or a number)", key,
				    (int)n, p);
		v |= attr_names[i].bit;
		p += n;
		if (*p)
			p++;
	}
	*out = v;
	return 0;
}

/* XSAVE feature groups an XFRM may name; each is whole, as XSETBV needs it. */
static const struct {
	const char *name;
	uint64_t bits;
} xfrm_groups[] = {
    {"x87", 0x1}, {"sse", 0x2}, {"avx", 0x4}, {"mpx", 0x18}, {"avx512", 0xE4}, {"pkru", 0x200}, {"amx", 0x60000},
};

/* A number, or feature groups from xfrm_groups joined by '|' or ',' (x87 and SSE are always in). */
static int parse_xfrm(const char *key, const char *s, uint64_t *out, char *err, size_t errlen)
{
	if ((*s >= '0' && *s <= '9')) {
		const char *why = sdk_parse_number(s, false, out);
		return why ? fail(err, errlen, "%s: '%s' is %s", key, s, why) : 0;
	}
	uint64_t v = 0x3;
	const char *p = s;
	while (*p) {
		size_t n = strcspn(p, "|,");
		size_t i;
		for (i = 0; i < sizeof(xfrm_groups) / sizeof(xfrm_groups[0]); i++)
			if (strlen(xfrm_groups[i].name) == n && strncasecmp(p, xfrm_groups[i].name, n) == 0)
				break;
		if (i == sizeof(xfrm_groups) / sizeof(xfrm_groups[0]))
			return fail(err, errlen,
				    "%s: unknown XSAVE feature '%.*s' (avx, avx512, pkru, amx, mpx or a number)", key,
				    (int)n, p);
		v |= xfrm_groups[i].bits;
		p += n;
		if (*p)
			p++;
	}
	*out = v;
	return 0;
}

void sdk_xfrm_names(uint64_t xfrm, char *out, size_t len)
{
	static const char *const names[] = {"x87",	"SSE", "AVX",  "BNDREGS", "BNDCSR",  "opmask", "ZMM_Hi256",
					    "Hi16_ZMM", NULL,  "PKRU", NULL,	  NULL,	     NULL,     NULL,
					    NULL,	NULL,  NULL,   "TILECFG", "TILEDATA"};
	size_t pos = 0;
	if (!len)
		return;
	out[0] = 0;
	for (unsigned i = 0; i < 64 && pos < len; i++) {
		if (!(xfrm & (1ULL << i)))
			continue;
		const char *n = i < sizeof(names) / sizeof(names[0]) ? names[i] : NULL;
		int w = n ? snprintf(out + pos, len - pos, "%s%s", pos ? " " : "", n)
			  : snprintf(out + pos, len - pos, "%sbit %u", pos ? " " : "", i);
		if (w < 0)
			break;
		pos += (size_t)w;
	}
	if (!xfrm)
		snprintf(out, len, "-");
}

static unsigned bcd_digit(uint32_t v, unsigned i)
{
	return (v >> (4 * i)) & 0xF;
}

/* Is v a BCD yyyymmdd of a real calendar day (years 1900..9999)? */
static bool bcd_date_ok(uint32_t v)
{
	for (unsigned i = 0; i < 8; i++)
		if (bcd_digit(v, i) > 9)
			return false;
	unsigned y = bcd_digit(v, 7) * 1000 + bcd_digit(v, 6) * 100 + bcd_digit(v, 5) * 10 + bcd_digit(v, 4);
	unsigned m = bcd_digit(v, 3) * 10 + bcd_digit(v, 2), d = bcd_digit(v, 1) * 10 + bcd_digit(v, 0);
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return !(m == 2 && d == 29 && !leap);
}

/* "yyyy-mm-dd" or "yyyymmdd" -> BCD. */
static bool parse_date(const char *s, uint32_t *out)
{
	size_t len = strlen(s);
	bool dashes = len == 10 && s[4] == '-' && s[7] == '-';
	if (len != 8 && !dashes)
		return false;
	uint32_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (dashes && (i == 4 || i == 7))
			continue;
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v << 4 | (uint32_t)(s[i] - '0');
	}
	if (!bcd_date_ok(v))
		return false;
	*out = v;
	return true;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The range and form rules of one key on the value now in c. */
static int check_key(const struct sdk_config *c, const struct key *k, char *err, size_t errlen)
{
	const char *n = k->name;
	switch (k->off) {
	case offsetof(struct sdk_config, n_tcs):
		if (c->n_tcs < 1 || c->n_tcs > SDK_MAX_THREADS)
			return fail(err, errlen, "%s: %u is out of range (1..%u)", n, c->n_tcs, SDK_MAX_THREADS);
		break;
	case offsetof(struct sdk_config, n_dyn_threads):
		if (c->n_dyn_threads > SDK_MAX_THREADS)
			return fail(err, errlen, "%s: %u is out of range (0..%u)", n, c->n_dyn_threads,
				    SDK_MAX_THREADS);
		break;
	case offsetof(struct sdk_config, nssa):
		if (c->nssa < 1 || c->nssa > SDK_MAX_NSSA)
			return fail(err, errlen, "%s: %u is out of range (1..%u)", n, c->nssa, SDK_MAX_NSSA);
		break;
	case offsetof(struct sdk_config, ssa_frame_pages):
		if (c->ssa_frame_pages > SDK_MAX_SSA_PAGES)
			return fail(err, errlen, "%s: %u is out of range (0..%u)", n, c->ssa_frame_pages,
				    SDK_MAX_SSA_PAGES);
		break;
	case offsetof(struct sdk_config, stack_size):
	case offsetof(struct sdk_config, heap_size):
	case offsetof(struct sdk_config, dyn_size): {
		uint64_t v;
		memcpy(&v, (const uint8_t *)c + k->off, sizeof(v));
		if (PAGE_OFF(v))
			return fail(err, errlen, "%s: %#llx is not a multiple of 4096", n, HX(v));
		if (v > SDK_MAX_AREA)
			return fail(err, errlen, "%s: %#llx is larger than %#llx", n, HX(v), HX(SDK_MAX_AREA));
		if (k->off == offsetof(struct sdk_config, stack_size) && v == 0)
			return fail(err, errlen, "%s: a thread needs a stack (at least 4096 bytes)", n);
		break;
	}
	case offsetof(struct sdk_config, enclave_size):
		if (c->enclave_size && (!is_pow2(c->enclave_size) || c->enclave_size < SDK_ENCLAVE_SIZE_MIN ||
					c->enclave_size > SDK_ENCLAVE_SIZE_MAX))
			return fail(err, errlen,
				    "%s: %#llx is not a power of two from %#llx to %#llx (or 0: automatic)", n,
				    HX(c->enclave_size), HX(SDK_ENCLAVE_SIZE_MIN), HX(SDK_ENCLAVE_SIZE_MAX));
		break;
	case offsetof(struct sdk_config, attributes):
		if (c->attributes & ~SDK_EXTRA_ATTRIBUTES)
			return fail(err, errlen,
				    "%s: %#llx has bits other than PROVISIONKEY, KSS and AEXNOTIFY "
				    "(DEBUG comes from 'debug', MODE64BIT is always set)",
				    n, HX(c->attributes));
		break;
	case offsetof(struct sdk_config, xfrm):
		if (!hw_xfrm_legal(c->xfrm))
			return fail(err, errlen,
				    "%s: %#llx is not a legal XCR0 value (x87 and SSE set, components whole)", n,
				    HX(c->xfrm));
		break;
	case offsetof(struct sdk_config, misc_select):
		if (c->misc_select & ~SGX_MISC_EXINFO)
			return fail(err, errlen, "%s: %#x has bits other than EXINFO (bit 0)", n, c->misc_select);
		break;
	case offsetof(struct sdk_config, date_bcd):
		if (c->date_bcd && !bcd_date_ok(c->date_bcd))
			return fail(err, errlen, "%s: %#x is not a BCD date yyyymmdd", n, c->date_bcd);
		break;
	default:
		break;
	}
	return 0;
}

int sdk_config_set(struct sdk_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	int i = key_index(key);
	if (i < 0)
		return fail(err, errlen, "unknown key '%s'", key);
	const struct key *k = &keys[i];
	if (!*value)
		return fail(err, errlen, "%s: missing value", k->name);
	struct sdk_config t = *c;
	uint8_t *field = (uint8_t *)&t + k->off;
	uint64_t v = 0;
	const char *why = NULL;
	switch (k->type) {
	case V_BOOL: {
		bool b;
		if (!parse_bool(value, &b))
			return fail(err, errlen, "%s: '%s' is not a boolean (true/false, yes/no, on/off, 1/0)", k->name,
				    value);
		memcpy(field, &b, sizeof(b));
		break;
	}
	case V_DATE: {
		uint32_t d;
		if (!parse_date(value, &d))
			return fail(err, errlen, "%s: '%s' is not a date (yyyy-mm-dd or yyyymmdd)", k->name, value);
		memcpy(field, &d, sizeof(d));
		break;
	}
	case V_ATTR:
		if (parse_attributes(k->name, value, &v, err, errlen))
			return -1;
		memcpy(field, &v, sizeof(v));
		break;
	case V_XFRM:
		if (parse_xfrm(k->name, value, &v, err, errlen))
			return -1;
		memcpy(field, &v, sizeof(v));
		break;
	case V_U16:
	case V_U32:
	case V_U64:
	case V_SIZE: {
		why = sdk_parse_number(value, k->type == V_SIZE, &v);
		uint64_t max = k->type == V_U16 ? UINT16_MAX : k->type == V_U32 ? UINT32_MAX : UINT64_MAX;
		if (!why && v > max)
			why = "out of range";
		if (why)
			return fail(err, errlen, "%s: '%s' is %s", k->name, value, why);
		if (k->type == V_U16) {
			uint16_t x = (uint16_t)v;
			memcpy(field, &x, sizeof(x));
		} else if (k->type == V_U32) {
			uint32_t x = (uint32_t)v;
			memcpy(field, &x, sizeof(x));
		} else {
			memcpy(field, &v, sizeof(v));
		}
		if (k->off == offsetof(struct sdk_config, xfrm_mask))
			t.xfrm_mask_set = true;
		break;
	}
	}
	if (check_key(&t, k, err, errlen))
		return -1;
	*c = t;
	return 0;
}

/* Bytes one SSA frame needs: the XSAVE image of xfrm, the MISC region, GPRSGX. */
static uint64_t ssa_frame_need(const struct sdk_config *c)
{
	uint32_t misc = (c->misc_select & SGX_MISC_EXINFO) ? SGX_EXINFO_SIZE : 0;
	return (uint64_t)hw_xsave_size(c->xfrm) + misc + SGX_GPRSGX_SIZE;
}

int sdk_config_check(const struct sdk_config *c, char *err, size_t errlen)
{
	char why[256];
	for (size_t i = 0; i < NKEYS; i++)
		if (check_key(c, &keys[i], why, sizeof(why)))
			return fail(err, errlen, "layout: %s", why);
	if (c->dyn_size && !c->edmm)
		return fail(err, errlen, "layout: dyn_size needs edmm = true (the area is committed with EDMM)");
	if (c->n_dyn_threads && !c->edmm)
		return fail(err, errlen, "layout: n_dyn_threads needs edmm = true (threads are added with EDMM)");
	uint64_t need = ssa_frame_need(c);
	if (c->ssa_frame_pages && c->ssa_frame_pages * PAGE < need)
		return fail(err, errlen,
			    "layout: ssa_frame_pages %u is too small: xfrm %#llx and misc_select %#x need %llu bytes",
			    c->ssa_frame_pages, HX(c->xfrm), c->misc_select, HX(need));
	return 0;
}

/* Strip leading and trailing blanks in place. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int sdk_config_load(struct sdk_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	struct sdk_config t = *c;
	unsigned set_on[NKEYS] = {0};
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;
	char why[256];
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = fail(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
			break;
		}
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		int i = key_index(key);
		if (i >= 0 && set_on[i]) {
			rc = fail(err, errlen, "%s:%u: %s already set on line %u", path, lineno, keys[i].name,
				  set_on[i]);
			break;
		}
		if (sdk_config_set(&t, key, value, why, sizeof(why))) {
			rc = fail(err, errlen, "%s:%u: %s", path, lineno, why);
			break;
		}
		set_on[i] = lineno;
	}
	if (!rc && ferror(f))
		rc = fail(err, errlen, "%s: %s", path, strerror(errno));
	free(line);
	fclose(f);
	if (!rc)
		*c = t;
	return rc;
}

/* ---- ELF parsing ------------------------------------------------------------------------------ */

struct seg {
	unsigned ph;		 /* program header index */
	uint64_t vaddr, memsz;	 /* memory range */
	uint64_t offset, filesz; /* file range */
	uint64_t flags;		 /* SECINFO R/W/X */
};

struct elf {
	const char *name;
	const uint8_t *b;
	size_t len;
	uint64_t entry;
	struct seg *segs; /* PT_LOAD with p_memsz > 0, sorted by vaddr */
	unsigned nseg;
	uint64_t end; /* page-aligned end of the last segment */
};

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* File offset of [vaddr, vaddr+len) when a PT_LOAD holds it in its file part; false otherwise. */
static bool vaddr_to_file(const struct elf *e, uint64_t vaddr, uint64_t len, uint64_t *off)
{
	for (unsigned i = 0; i < e->nseg; i++) {
		const struct seg *s = &e->segs[i];
		if (vaddr >= s->vaddr && vaddr - s->vaddr <= s->filesz && len <= s->filesz - (vaddr - s->vaddr)) {
			*off = s->offset + (vaddr - s->vaddr);
			return true;
		}
	}
	return false;
}

/* The dynamic section: no DT_NEEDED, no text relocations. */
static int check_dynamic(const struct elf *e, unsigned ph, uint64_t off, uint64_t filesz, char *err, size_t errlen)
{
	if (off > e->len || filesz > e->len - off)
		return fail(
		    err, errlen,
		    "%s: program header %u (PT_DYNAMIC): file range [%#llx, %#llx) is outside the file (%zu bytes)",
		    e->name, ph, HX(off), HX(off + filesz), e->len);
	uint64_t strtab = 0, strsz = 0, needed = UINT64_MAX;
	bool has_strtab = false;
	for (uint64_t p = off; p + ELF_DYN_SIZE <= off + filesz; p += ELF_DYN_SIZE) {
		uint64_t tag = get64(e->b + p), val = get64(e->b + p + 8);
		if (tag == ELF_DT_NULL)
			break;
		if (tag == ELF_DT_NEEDED && needed == UINT64_MAX)
			needed = val;
		else if (tag == ELF_DT_STRTAB) {
			strtab = val;
			has_strtab = true;
		} else if (tag == ELF_DT_STRSZ)
			strsz = val;
		else if (tag == ELF_DT_TEXTREL || (tag == ELF_DT_FLAGS && (val & ELF_DF_TEXTREL)))
			return fail(err, errlen,
				    "%s: has text relocations (DT_TEXTREL): code pages would have to be writable",
				    e->name);
	}
	if (needed == UINT64_MAX)
		return 0;
	uint64_t so;
	if (has_strtab && needed < strsz && vaddr_to_file(e, strtab, strsz, &so)) {
		const char *name = (const char *)e->b + so + needed;
		size_t n = strnlen(name, strsz - needed);
		if (n < strsz - needed)
			return fail(err, errlen,
				    "%s: needs the shared library '%.*s' (DT_NEEDED); link with -static-pie", e->name,
				    (int)(n > 200 ? 200 : n), name);
	}
	return fail(err, errlen, "%s: needs a shared library (DT_NEEDED); link with -static-pie", e->name);
}

static const char *etype_name(uint16_t t)
{
	static const char *const names[] = {"ET_NONE", "ET_REL", "ET_EXEC", "ET_DYN", "ET_CORE"};
	return t < 5 ? names[t] : "unknown";
}

static int elf_parse(struct elf *e, char *err, size_t errlen)
{
	const uint8_t *b = e->b;
	const char *n = e->name;
	if (e->len < ELF_EHDR_SIZE)
		return fail(err, errlen, "%s: truncated file (%zu bytes; the ELF header needs %d)", n, e->len,
			    ELF_EHDR_SIZE);
	if (memcmp(b, "\177ELF", 4) != 0)
		return fail(err, errlen, "%s: not an ELF file (bad magic)", n);
	if (b[ELF_IDENT_CLASS] != ELF_CLASS64)
		return fail(err, errlen, "%s: ELF class %u; expected ELFCLASS64 (2)", n, b[ELF_IDENT_CLASS]);
	if (b[ELF_IDENT_DATA] != ELF_DATA_LSB)
		return fail(err, errlen, "%s: ELF data encoding %u; expected little-endian (1)", n, b[ELF_IDENT_DATA]);
	if (b[ELF_IDENT_VERSION] != 1 || get32(b + ELF_E_VERSION) != 1)
		return fail(err, errlen, "%s: ELF version %u/%u; expected 1", n, b[ELF_IDENT_VERSION],
			    get32(b + ELF_E_VERSION));
	uint16_t type = get16(b + ELF_E_TYPE);
	if (type != ELF_ET_DYN)
		return fail(err, errlen, "%s: e_type %u (%s); expected ET_DYN (a static PIE)", n, type,
			    etype_name(type));
	uint16_t machine = get16(b + ELF_E_MACHINE);
	if (machine != ELF_EM_X86_64)
		return fail(err, errlen, "%s: e_machine %u; expected EM_X86_64 (62)", n, machine);
	uint16_t phentsize = get16(b + ELF_E_PHENTSIZE), phnum = get16(b + ELF_E_PHNUM);
	uint64_t phoff = get64(b + ELF_E_PHOFF);
	if (phnum == 0)
		return fail(err, errlen, "%s: no program headers", n);
	if (phnum == ELF_PN_XNUM)
		return fail(err, errlen, "%s: too many program headers (e_phnum is PN_XNUM)", n);
	if (phentsize != ELF_PHDR_SIZE)
		return fail(err, errlen, "%s: e_phentsize %u; expected %d", n, phentsize, ELF_PHDR_SIZE);
	if (phoff > e->len || (uint64_t)phnum * ELF_PHDR_SIZE > e->len - phoff)
		return fail(err, errlen, "%s: truncated file (%zu bytes; the program headers end at %#llx)", n, e->len,
			    HX(phoff + (uint64_t)phnum * ELF_PHDR_SIZE));
	e->entry = get64(b + ELF_E_ENTRY);

	e->segs = calloc(phnum, sizeof(*e->segs));
	if (!e->segs)
		return fail(err, errlen, "%s: out of memory", n);
	int dyn = -1;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = b + phoff + (uint64_t)i * ELF_PHDR_SIZE;
		uint32_t pt = get32(ph + ELF_P_TYPE), pf = get32(ph + ELF_P_FLAGS);
		uint64_t off = get64(ph + ELF_P_OFFSET), vaddr = get64(ph + ELF_P_VADDR);
		uint64_t filesz = get64(ph + ELF_P_FILESZ), memsz = get64(ph + ELF_P_MEMSZ);
		if (pt == ELF_PT_INTERP)
			return fail(err, errlen,
				    "%s: has PT_INTERP (a dynamically linked program); link with -static-pie", n);
		if (pt == ELF_PT_TLS)
			return fail(err, errlen,
				    "%s: has PT_TLS (thread-local storage), which the enclave layout does not support",
				    n);
		if (pt == ELF_PT_DYNAMIC) {
			dyn = (int)i;
			continue;
		}
		if (pt != ELF_PT_LOAD)
			continue;
		if (filesz > memsz)
			return fail(err, errlen, "%s: program header %u: p_filesz %#llx is larger than p_memsz %#llx",
				    n, i, HX(filesz), HX(memsz));
		if (off > e->len || filesz > e->len - off)
			return fail(err, errlen,
				    "%s: program header %u: file range [%#llx, %#llx) is outside the file (%zu bytes)",
				    n, i, HX(off), HX(off + filesz), e->len);
		if (PAGE_OFF(vaddr) != PAGE_OFF(off))
			return fail(err, errlen,
				    "%s: program header %u: p_vaddr %#llx and p_offset %#llx differ modulo 4096", n, i,
				    HX(vaddr), HX(off));
		if (vaddr >= SDK_ENCLAVE_SIZE_MAX || memsz > SDK_ENCLAVE_SIZE_MAX - vaddr)
			return fail(
			    err, errlen,
			    "%s: program header %u: [%#llx, +%#llx) is beyond the largest enclave (%#llx bytes)", n, i,
			    HX(vaddr), HX(memsz), HX(SDK_ENCLAVE_SIZE_MAX));
		if ((pf & ELF_PF_W) && !(pf & ELF_PF_R))
			return fail(err, errlen,
				    "%s: program header %u: writable but not readable (SGX needs R with W)", n, i);
		if (memsz == 0)
			continue;
		e->segs[e->nseg++] = (struct seg){.ph = i,
						  .vaddr = vaddr,
						  .memsz = memsz,
						  .offset = off,
						  .filesz = filesz,
						  .flags = ((pf & ELF_PF_R) ? SGX_SECINFO_R : 0) |
							   ((pf & ELF_PF_W) ? SGX_SECINFO_W : 0) |
							   ((pf & ELF_PF_X) ? SGX_SECINFO_X : 0)};
	}
	if (e->nseg == 0)
		return fail(err, errlen, "%s: no PT_LOAD segment", n);
	qsort(e->segs, e->nseg, sizeof(*e->segs), seg_cmp);
	for (unsigned i = 1; i < e->nseg; i++) {
		const struct seg *a = &e->segs[i - 1], *s = &e->segs[i];
		if (s->vaddr < a->vaddr + a->memsz)
			return fail(err, errlen,
				    "%s: program headers %u and %u overlap ([%#llx, %#llx) and [%#llx, %#llx))", n,
				    a->ph < s->ph ? a->ph : s->ph, a->ph < s->ph ? s->ph : a->ph, HX(a->vaddr),
				    HX(a->vaddr + a->memsz), HX(s->vaddr), HX(s->vaddr + s->memsz));
	}
	const struct seg *last = &e->segs[e->nseg - 1];
	e->end = PAGE_UP(last->vaddr + last->memsz);
	bool entry_ok = false;
	for (unsigned i = 0; i < e->nseg; i++) {
		const struct seg *s = &e->segs[i];
		if ((s->flags & SGX_SECINFO_X) && e->entry >= s->vaddr && e->entry - s->vaddr < s->memsz)
			entry_ok = true;
	}
	if (!entry_ok)
		return fail(err, errlen, "%s: e_entry %#llx is not inside an executable PT_LOAD segment", n,
			    HX(e->entry));
	if (dyn >= 0) {
		const uint8_t *ph = b + phoff + (uint64_t)dyn * ELF_PHDR_SIZE;
		if (check_dynamic(e, (unsigned)dyn, get64(ph + ELF_P_OFFSET), get64(ph + ELF_P_FILESZ), err, errlen))
			return -1;
	}
	return 0;
}

/* ---- layout and pages --------------------------------------------------------------------------- */

/* Pages the segments cover (a page shared by two segments counts once). */
static uint64_t image_pages(const struct elf *e)
{
	uint64_t n = 0, covered_to = 0;
	for (unsigned i = 0; i < e->nseg; i++) {
		uint64_t lo = PAGE_DOWN(e->segs[i].vaddr), hi = PAGE_UP(e->segs[i].vaddr + e->segs[i].memsz);
		if (lo < covered_to)
			lo = covered_to;
		n += (hi - lo) / PAGE;
		covered_to = hi;
	}
	return n;
}

static uint64_t thread_pages(const struct sgxemu_layout *l)
{
	return l->stack_size / PAGE + 1 + (uint64_t)l->nssa * l->ssa_frame_pages + 1;
}

/* Append a page; its data is the next page of the store. */
static uint8_t *add_page(struct sdk_image *img, uint64_t offset, uint64_t flags)
{
	struct sdk_page *p = &img->pages[img->n_pages];
	uint8_t *data = img->store + img->n_pages * PAGE;
	*p = (struct sdk_page){.offset = offset, .flags = flags, .data = data, .measure = true};
	img->n_pages++;
	return data;
}

static void add_thread(struct sdk_image *img, uint64_t area, uint64_t index)
{
	const struct sgxemu_layout *l = &img->layout;
	const uint64_t rw = SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W;
	uint64_t tcs_off = area + SGXEMU_TA_TCS(l), ssa_off = area + SGXEMU_TA_SSA(l), td_off = area + SGXEMU_TA_TD(l);
	for (uint64_t o = SGXEMU_TA_STACK(l); o < SGXEMU_TA_TCS(l); o += PAGE)
		add_page(img, area + o, rw);
	struct sgx_tcs tcs;
	memset(&tcs, 0, sizeof(tcs));
	tcs.ossa = ssa_off;
	tcs.nssa = l->nssa;
	tcs.oentry = l->entry_offset;
	if (l->flags & SGXEMU_LAYOUT_AEXNOTIFY)
		tcs.flags = SGX_TCS_AEXNOTIFY;
	tcs.ofsbase = td_off;
	tcs.ogsbase = td_off;
	tcs.fslimit = 0xfff;
	tcs.gslimit = 0xfff;
	memcpy(add_page(img, tcs_off, SGX_SECINFO_PT(SGX_PT_TCS)), &tcs, sizeof(tcs));
	for (uint64_t o = ssa_off; o < td_off; o += PAGE)
		add_page(img, o, rw);
	struct sgxemu_thread_data td;
	memset(&td, 0, sizeof(td));
	td.self_offset = td_off;
	td.layout_offset = l->layout_offset;
	td.tcs_offset = tcs_off;
	td.ssa_offset = ssa_off;
	td.stack_top_offset = tcs_off;
	td.stack_limit_offset = area + SGXEMU_TA_STACK(l);
	td.thread_index = index;
	memcpy(add_page(img, td_off, rw), &td, sizeof(td));
}

static void measure(struct sdk_image *img)
{
	struct hw_sha256 *h = crypto_sha256_new();
	uint8_t blk[64];
	memset(blk, 0, sizeof(blk));
	memcpy(blk, "ECREATE", 8);
	put32(blk + 8, img->ssa_frame_size);
	put64(blk + 12, img->size);
	crypto_sha256_update(h, blk, sizeof(blk));
	for (size_t i = 0; i < img->n_pages; i++) {
		const struct sdk_page *p = &img->pages[i];
		memset(blk, 0, sizeof(blk));
		memcpy(blk, "EADD\0\0\0", 8);
		put64(blk + 8, p->offset);
		put64(blk + 16, p->flags);
		crypto_sha256_update(h, blk, sizeof(blk));
		if (!p->measure)
			continue;
		for (uint64_t c = 0; c < PAGE; c += 256) {
			memset(blk, 0, sizeof(blk));
			memcpy(blk, "EEXTEND", 8);
			put64(blk + 8, p->offset + c);
			crypto_sha256_update(h, blk, sizeof(blk));
			crypto_sha256_update(h, p->data + c, 256);
		}
	}
	crypto_sha256_final(h, img->mrenclave);
	crypto_sha256_free(h);
}

static int build(struct elf *e, const struct sdk_config *cfg_in, struct sdk_image **out, char *err, size_t errlen)
{
	const char *n = e->name;
	if (sdk_config_check(cfg_in, err, errlen))
		return -1;
	if (elf_parse(e, err, errlen))
		return -1;

	struct sdk_config cfg = *cfg_in;
	if (!cfg.ssa_frame_pages)
		cfg.ssa_frame_pages = (uint32_t)(PAGE_UP(ssa_frame_need(&cfg)) / PAGE);
	if (!cfg.xfrm_mask_set) {
		cfg.xfrm_mask = cfg.xfrm;
		cfg.xfrm_mask_set = true;
	}

	struct sgxemu_layout l;
	memset(&l, 0, sizeof(l));
	l.magic = SGXEMU_LAYOUT_MAGIC;
	l.version = SGXEMU_LAYOUT_VERSION;
	l.flags = (cfg.edmm ? SGXEMU_LAYOUT_EDMM : 0) | (cfg.debug ? SGXEMU_LAYOUT_DEBUG : 0) |
		  ((cfg.attributes & SGX_ATTR_AEXNOTIFY) ? SGXEMU_LAYOUT_AEXNOTIFY : 0);
	l.image_size = e->end;
	l.entry_offset = e->entry;
	l.layout_offset = e->end;
	l.heap_offset = l.layout_offset + PAGE;
	l.heap_size = cfg.heap_size;
	l.thread_offset = l.heap_offset + l.heap_size;
	l.n_tcs = cfg.n_tcs;
	l.nssa = cfg.nssa;
	l.ssa_frame_pages = cfg.ssa_frame_pages;
	l.n_dyn_threads = cfg.n_dyn_threads;
	l.stack_size = cfg.stack_size;
	l.thread_stride = SGXEMU_TA_SIZE(&l);
	l.dyn_offset = l.thread_offset + (uint64_t)l.n_tcs * l.thread_stride;
	l.dyn_size = cfg.dyn_size;
	l.tcs_dyn_offset = l.dyn_offset + l.dyn_size;
	/* Each term is bounded by the config limits: no overflow below 2^63. */
	uint64_t end = l.tcs_dyn_offset + (uint64_t)l.n_dyn_threads * l.thread_stride;

	if (cfg.enclave_size) {
		for (unsigned i = 0; i < e->nseg; i++) {
			const struct seg *s = &e->segs[i];
			if (s->vaddr + s->memsz > cfg.enclave_size)
				return fail(err, errlen,
					    "%s: program header %u: [%#llx, %#llx) lies beyond enclave_size %#llx", n,
					    s->ph, HX(s->vaddr), HX(s->vaddr + s->memsz), HX(cfg.enclave_size));
		}
		if (end > cfg.enclave_size)
			return fail(err, errlen, "%s: the layout needs %#llx bytes, more than enclave_size %#llx", n,
				    HX(end), HX(cfg.enclave_size));
		l.enclave_size = cfg.enclave_size;
	} else {
		if (end > SDK_ENCLAVE_SIZE_MAX)
			return fail(err, errlen,
				    "%s: the layout needs %#llx bytes, more than the largest enclave (%#llx)", n,
				    HX(end), HX(SDK_ENCLAVE_SIZE_MAX));
		l.enclave_size = SDK_ENCLAVE_SIZE_MIN;
		while (l.enclave_size < end)
			l.enclave_size <<= 1;
	}
	cfg.enclave_size = l.enclave_size;

	uint64_t npages = image_pages(e) + 1 + l.heap_size / PAGE + (uint64_t)l.n_tcs * thread_pages(&l);
	if (npages > SDK_MAX_PAGES)
		return fail(err, errlen,
			    "%s: too many pages: the enclave would start with %llu pages, at most %llu are supported",
			    n, HX(npages), HX(SDK_MAX_PAGES));

	struct sdk_image *img = calloc(1, sizeof(*img));
	if (!img)
		return fail(err, errlen, "%s: out of memory", n);
	img->pages = calloc(npages, sizeof(*img->pages));
	img->store_len = npages * PAGE;
	/* Anonymous memory: the many zero pages (stacks, heap, bss) cost nothing until written. */
	void *store =
	    mmap(NULL, img->store_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	img->store = store == MAP_FAILED ? NULL : store;
	if (!img->pages || !img->store) {
		sdk_image_free(img);
		return fail(err, errlen, "%s: out of memory for %llu pages", n, HX(npages));
	}
	img->cfg = cfg;
	img->layout = l;
	img->size = l.enclave_size;
	img->ssa_frame_size = cfg.ssa_frame_pages;
	img->misc_select = cfg.misc_select;
	img->attributes = SGX_ATTR_MODE64BIT | (cfg.debug ? SGX_ATTR_DEBUG : 0) | cfg.attributes;
	img->xfrm = cfg.xfrm;

	/* The ELF image: segments in address order, a page shared by two of them gets both permissions. */
	for (unsigned i = 0; i < e->nseg; i++) {
		const struct seg *s = &e->segs[i];
		uint64_t lo = PAGE_DOWN(s->vaddr), hi = PAGE_UP(s->vaddr + s->memsz);
		size_t first = img->n_pages;
		if (first && img->pages[first - 1].offset == lo) {
			first--;
			img->pages[first].flags |= s->flags;
			lo += PAGE;
		}
		for (uint64_t o = lo; o < hi; o += PAGE)
			add_page(img, o, SGX_SECINFO_PT(SGX_PT_REG) | s->flags);
		memcpy(img->store + first * PAGE + PAGE_OFF(s->vaddr), e->b + s->offset, s->filesz);
	}
	memcpy(add_page(img, l.layout_offset, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R), &l, sizeof(l));
	for (uint64_t o = 0; o < l.heap_size; o += PAGE)
		add_page(img, l.heap_offset + o, SGX_SECINFO_PT(SGX_PT_REG) | SGX_SECINFO_R | SGX_SECINFO_W);
	for (uint32_t t = 0; t < l.n_tcs; t++)
		add_thread(img, l.thread_offset + (uint64_t)t * l.thread_stride, t);
	if (img->n_pages != npages)
		abort(); /* the count above and the pages added must agree */
	measure(img);
	*out = img;
	return 0;
}

_Static_assert(sizeof(struct sgxemu_layout) <= SGXEMU_PAGE, "the layout fits its page");
_Static_assert(sizeof(struct sgxemu_thread_data) == SGXEMU_PAGE, "thread data is one page");

int sdk_image_from_memory(const void *elf, size_t len, const struct sdk_config *cfg, struct sdk_image **out, char *err,
			  size_t errlen)
{
	struct elf e = {.name = "image", .b = elf, .len = len};
	int rc = build(&e, cfg, out, err, errlen);
	free(e.segs);
	return rc;
}

char *sdk_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = strerror(EISDIR);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	if (why) {
		fail(err, errlen, "%s: %s", path, why);
		close(fd);
		return NULL;
	}
	/* st_size bytes, then more if the file has grown meanwhile. */
	size_t cap = (size_t)st.st_size, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		if (n == cap) {
			char *nb = realloc(buf, 2 * cap + 4096 + 1);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap = 2 * cap + 4096;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fail(err, errlen, "%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf) {
		fail(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int sdk_image_load(const char *path, const struct sdk_config *cfg, struct sdk_image **out, char *err, size_t errlen)
{
	size_t len;
	char *buf = sdk_read_file(path, &len, err, errlen);
	if (!buf)
		return -1;
	struct elf e = {.name = path, .b = (const uint8_t *)buf, .len = len};
	int rc = build(&e, cfg, out, err, errlen);
	free(e.segs);
	free(buf);
	if (rc == 0) {
		/* For debuggers (sdk_debug_state): absolute, since theirs is not the program's working directory. */
		char *abs = realpath(path, NULL);
		(*out)->path = abs ? abs : strdup(path);
		if (!(*out)->path) {
			sdk_image_free(*out);
			*out = NULL;
			return fail(err, errlen, "%s: out of memory", path);
		}
	}
	return rc;
}

void sdk_image_free(struct sdk_image *img)
{
	if (!img)
		return;
	if (img->store)
		munmap(img->store, img->store_len);
	free(img->pages);
	free(img->path);
	free(img);
}

/* ---- SIGSTRUCT ------------------------------------------------------------------------------------- */

static uint32_t today_bcd(void)
{
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm))
		return 0x20000101;
	unsigned y = (unsigned)tm.tm_year + 1900, m = (unsigned)tm.tm_mon + 1, d = (unsigned)tm.tm_mday;
	uint32_t v = 0;
	unsigned digits[8] = {y / 1000 % 10, y / 100 % 10, y / 10 % 10, y % 10, m / 10, m % 10, d / 10, d % 10};
	for (unsigned i = 0; i < 8; i++)
		v = v << 4 | digits[i];
	return v;
}

int sdk_image_sign(const struct sdk_image *img, const struct crypto_rsa *key, struct sgx_sigstruct *out, char *err,
		   size_t errlen)
{
	const struct sdk_config *c = &img->cfg;
	sigstruct_init(out, c->date_bcd ? c->date_bcd : today_bcd());
	out->miscselect = img->misc_select;
	out->miscmask = c->misc_mask;
	out->attributes = img->attributes;
	out->attributes_mask = c->attributes_mask;
	out->xfrm = img->xfrm;
	out->xfrm_mask = c->xfrm_mask_set ? c->xfrm_mask : img->xfrm;
	memcpy(out->enclave_hash, img->mrenclave, sizeof(out->enclave_hash));
	out->isv_prod_id = c->isv_prod_id;
	out->isv_svn = c->isv_svn;
	if (!sigstruct_sign(out, key))
		return fail(err, errlen, "signing the SIGSTRUCT failed");
	return 0;
}
