/* SPDX-License-Identifier: MIT */
/* Words, numbers, flag sets, address expressions and labels of the script language. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "script_int.h"

const struct sc_name sc_secinfo_names[] = {
    {"R", SGX_SECINFO_R},
    {"W", SGX_SECINFO_W},
    {"X", SGX_SECINFO_X},
    {"PENDING", SGX_SECINFO_PENDING},
    {"MODIFIED", SGX_SECINFO_MODIFIED},
    {"PR", SGX_SECINFO_PR},
    {"SECS", SGX_SECINFO_PT(SGX_PT_SECS)},
    {"TCS", SGX_SECINFO_PT(SGX_PT_TCS)},
    {"REG", SGX_SECINFO_PT(SGX_PT_REG)},
    {"VA", SGX_SECINFO_PT(SGX_PT_VA)},
    {"TRIM", SGX_SECINFO_PT(SGX_PT_TRIM)},
    {"SS_FIRST", SGX_SECINFO_PT(SGX_PT_SS_FIRST)},
    {"SS_REST", SGX_SECINFO_PT(SGX_PT_SS_REST)},
    {NULL, 0},
};

const struct sc_name sc_attr_names[] = {
    {"INIT", SGX_ATTR_INIT},
    {"DEBUG", SGX_ATTR_DEBUG},
    {"MODE64BIT", SGX_ATTR_MODE64BIT},
    {"PROVISIONKEY", SGX_ATTR_PROVISIONKEY},
    {"EINITTOKEN_KEY", SGX_ATTR_EINITTOKENKEY},
    {"CET", SGX_ATTR_CET},
    {"KSS", SGX_ATTR_KSS},
    {"AEXNOTIFY", SGX_ATTR_AEXNOTIFY},
    {NULL, 0},
};

const struct sc_name sc_misc_names[] = {
    {"EXINFO", SGX_MISC_EXINFO},
    {NULL, 0},
};

const struct sc_name sc_tcsflag_names[] = {
    {"DBGOPTIN", SGX_TCS_DBGOPTIN},
    {"AEXNOTIFY", SGX_TCS_AEXNOTIFY},
    {NULL, 0},
};

const struct sc_name sc_policy_names[] = {
    {"MRENCLAVE", SGX_KEYPOLICY_MRENCLAVE},
    {"MRSIGNER", SGX_KEYPOLICY_MRSIGNER},
    {"NOISVPRODID", SGX_KEYPOLICY_NOISVPRODID},
    {"CONFIGID", SGX_KEYPOLICY_CONFIGID},
    {"ISVFAMILYID", SGX_KEYPOLICY_ISVFAMILYID},
    {"ISVEXTPRODID", SGX_KEYPOLICY_ISVEXTPRODID},
    {NULL, 0},
};

const struct sc_name sc_keyname_names[] = {
    {"EINITTOKEN", SGX_KEY_EINITTOKEN}, {"PROVISION", SGX_KEY_PROVISION}, {"PROVISION_SEAL", SGX_KEY_PROVISION_SEAL},
    {"REPORT", SGX_KEY_REPORT},		{"SEAL", SGX_KEY_SEAL},		  {NULL, 0},
};

const struct sc_name sc_xfrm_names[] = {
    {"X87", 1 << 0},
    {"SSE", 1 << 1},
    {"AVX", 1 << 2},
    {NULL, 0},
};

const struct sc_name sc_vector_names[] = {
    {"DE", X86_DE}, {"DB", X86_DB}, {"BP", X86_BP}, {"BR", X86_BR}, {"UD", X86_UD}, {"GP", X86_GP},
    {"PF", X86_PF}, {"MF", X86_MF}, {"AC", X86_AC}, {"XM", X86_XM}, {"CP", X86_CP}, {NULL, 0},
};

void sc_fail(struct sc *sc, const char *fmt, ...)
{
	va_list ap;
	fprintf(sc->err, "%s:%d: ", sc->file, sc->line);
	va_start(ap, fmt);
	vfprintf(sc->err, fmt, ap);
	va_end(ap);
	fputc('\n', sc->err);
	longjmp(sc->fail, 1);
}

/*
 * A '#' starts a comment at the start of a line or when it stands alone as
 * a word ("# ..."); "#GP" and "#PF(...)" in `expect` lines are outcomes.
 */
static void strip_comment(char *line)
{
	char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '#') {
		*p = '\0';
		return;
	}
	for (; *p; p++) {
		if (*p == '#' && (p[-1] == ' ' || p[-1] == '\t') && (p[1] == '\0' || p[1] == ' ' || p[1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

bool sc_parse_line(struct sc *sc, char *line, struct sc_stmt *st)
{
	memset(st, 0, sizeof(*st));
	line[strcspn(line, "\r\n")] = '\0';
	strip_comment(line);
	char *words[SC_ARGS_MAX + 2];
	int n = 0;
	for (char *save = NULL, *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == SC_ARGS_MAX + 2)
			sc_fail(sc, "too many words (at most %d)", SC_ARGS_MAX + 2);
		words[n++] = w;
	}
	if (n == 0)
		return false;
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		size_t wl = strlen(words[i]);
		if (len + wl + 2 > sizeof(st->echo))
			sc_fail(sc, "line too long");
		if (i)
			st->echo[len++] = ' ';
		memcpy(st->echo + len, words[i], wl);
		len += wl;
		st->echo[len] = '\0';
	}
	int i = 0;
	size_t l0 = strlen(words[0]);
	if (l0 > 1 && words[0][l0 - 1] == ':') {
		words[0][l0 - 1] = '\0';
		st->thread = words[0];
		i = 1;
		if (n == 1)
			sc_fail(sc, "'%s:' must be followed by a leaf", st->thread);
	}
	st->verb = words[i++];
	if (strchr(st->verb, '='))
		sc_fail(sc, "a statement starts with its name, not with '%s'", st->verb);
	for (; i < n; i++) {
		struct sc_arg *a = &st->args[st->nargs++];
		char *eq = strchr(words[i], '=');
		if (eq && eq != words[i]) {
			*eq = '\0';
			a->key = words[i];
			a->val = eq + 1;
			if (!*a->val)
				sc_fail(sc, "operand '%s=' has no value", a->key);
		} else {
			a->val = words[i];
		}
	}
	return true;
}

const char *sc_pos(struct sc_stmt *st)
{
	for (int i = 0; i < st->nargs; i++) {
		if (!st->args[i].key && !st->args[i].used) {
			st->args[i].used = true;
			return st->args[i].val;
		}
	}
	return NULL;
}

const char *sc_pos_req(struct sc *sc, struct sc_stmt *st, const char *what)
{
	const char *p = sc_pos(st);
	if (!p)
		sc_fail(sc, "%s: missing %s", st->verb, what);
	return p;
}

bool sc_flag(struct sc_stmt *st, const char *word)
{
	for (int i = 0; i < st->nargs; i++) {
		if (!st->args[i].key && !st->args[i].used && strcmp(st->args[i].val, word) == 0) {
			st->args[i].used = true;
			return true;
		}
	}
	return false;
}

const char *sc_opt(struct sc_stmt *st, const char *key)
{
	const char *v = NULL;
	for (int i = 0; i < st->nargs; i++) {
		if (st->args[i].key && !st->args[i].used && strcmp(st->args[i].key, key) == 0) {
			st->args[i].used = true;
			v = st->args[i].val;
		}
	}
	return v;
}

void sc_check_used(struct sc *sc, struct sc_stmt *st)
{
	for (int i = 0; i < st->nargs; i++) {
		struct sc_arg *a = &st->args[i];
		if (a->used)
			continue;
		if (a->key)
			sc_fail(sc, "%s: unknown operand '%s='", st->verb, a->key);
		sc_fail(sc, "%s: unexpected word '%s'", st->verb, a->val);
	}
}

/* ---- numbers ---- */

bool sc_parse_u64(const char *s, uint64_t *v)
{
	if (!isdigit((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	/* strtoull takes "0" alone as octal prefix; refuse other octal forms as surprising. */
	if (s[0] == '0' && isdigit((unsigned char)s[1]))
		return false;
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1ULL << 10;
	else if (*end == 'M' || *end == 'm')
		mul = 1ULL << 20;
	else if (*end == 'G' || *end == 'g')
		mul = 1ULL << 30;
	if (mul > 1)
		end++;
	if (*end)
		return false;
	if (x > UINT64_MAX / mul)
		return false;
	*v = x * mul;
	return true;
}

uint64_t sc_num(struct sc *sc, const char *s)
{
	uint64_t v;
	if (!sc_parse_u64(s, &v))
		sc_fail(sc, "'%s' is not a number", s);
	return v;
}

static bool name_value(const struct sc_name *names, const char *s, size_t len, uint64_t *v)
{
	for (; names && names->name; names++) {
		if (strlen(names->name) == len && strncasecmp(names->name, s, len) == 0) {
			*v = names->value;
			return true;
		}
	}
	return false;
}

uint64_t sc_flags(struct sc *sc, const char *s, const struct sc_name *names)
{
	uint64_t v = 0;
	const char *p = s;
	for (;;) {
		size_t len = strcspn(p, "|");
		char term[64];
		if (len == 0 || len >= sizeof(term))
			sc_fail(sc, "bad flag set '%s'", s);
		memcpy(term, p, len);
		term[len] = '\0';
		uint64_t x;
		if (!name_value(names, term, len, &x) && !sc_parse_u64(term, &x)) {
			char known[512] = "";
			for (const struct sc_name *n = names; n && n->name; n++) {
				strncat(known, " ", sizeof(known) - strlen(known) - 1);
				strncat(known, n->name, sizeof(known) - strlen(known) - 1);
			}
			sc_fail(sc, "unknown flag '%s' in '%s' (known:%s, or a number)", term, s, known);
		}
		v |= x;
		p += len;
		if (!*p)
			break;
		p++;
	}
	return v;
}

/* ---- labels ---- */

struct sc_label *sc_find(struct sc *sc, const char *name)
{
	int i = sc_label_index(sc, name);
	return i < 0 ? NULL : sc->labels[i];
}

int sc_label_index(struct sc *sc, const char *name)
{
	for (int i = 0; i < sc->nlabels; i++)
		if (strcmp(sc->labels[i]->name, name) == 0)
			return i;
	return -1;
}

static const char *kind_name(enum sc_label_kind k)
{
	static const char *const names[] = {[L_ENCLAVE] = "an enclave", [L_PAGE] = "a page",	 [L_FRAME] = "a frame",
					    [L_BLOB] = "a blob",	[L_THREAD] = "a thread", [L_KEY] = "a key"};
	return names[k];
}

struct sc_label *sc_get(struct sc *sc, const char *name, enum sc_label_kind kind)
{
	struct sc_label *l = sc_find(sc, name);
	if (!l)
		sc_fail(sc, "undefined label '%s' (expected %s)", name, kind_name(kind));
	if (l->kind != kind)
		sc_fail(sc, "'%s' is %s, not %s", name, kind_name(l->kind), kind_name(kind));
	return l;
}

static const char *const reserved_words[] = {"nonepc", "self", "to", "into", "none", NULL};

struct sc_label *sc_new_label(struct sc *sc, const char *name, enum sc_label_kind kind)
{
	size_t len = strlen(name);
	if (len == 0 || len >= SC_NAME_MAX || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
		sc_fail(sc, "bad label name '%s' (a letter, then letters, digits or '_', at most %d)", name,
			SC_NAME_MAX - 1);
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			sc_fail(sc, "bad label name '%s' (a letter, then letters, digits or '_')", name);
	for (const char *const *r = reserved_words; *r; r++)
		if (strcmp(*r, name) == 0)
			sc_fail(sc, "'%s' is a reserved word", name);
	if (sc_find(sc, name))
		sc_fail(sc, "label '%s' is already defined", name);
	if (sc->nlabels == sc->caplabels) {
		int cap = sc->caplabels ? 2 * sc->caplabels : 16;
		struct sc_label **n = realloc(sc->labels, (size_t)cap * sizeof(*n));
		if (!n)
			sc_fail(sc, "out of memory");
		sc->labels = n;
		sc->caplabels = cap;
	}
	/* Labels never move: a thread's hw_thread is linked into the model's lists. */
	struct sc_label *l = calloc(1, sizeof(*l));
	if (!l)
		sc_fail(sc, "out of memory");
	memcpy(l->name, name, len + 1);
	l->kind = kind;
	sc->labels[sc->nlabels++] = l;
	return l;
}

/* ---- address expressions ---- */

/* TERM [(+|-) NUMBER]... where TERM is a number, LABEL, LABEL.secs, V[n], B.page, B.pcmd or nonepc. */
struct sc_addr sc_addr(struct sc *sc, const char *s)
{
	struct sc_addr a = {0};
	char term[128];
	size_t len = strcspn(s, "+-");
	if (len == 0 || len >= sizeof(term))
		sc_fail(sc, "bad address '%s'", s);
	memcpy(term, s, len);
	term[len] = '\0';
	const char *rest = s + len;

	if (isdigit((unsigned char)term[0])) {
		a.kind = AK_NUM;
		a.off = sc_num(sc, term);
	} else if (strcmp(term, "nonepc") == 0) {
		a.kind = AK_HOST;
		for (int i = 0; i < sc->nhosts; i++)
			if (sc->hosts[i].p == sc->nonepc)
				a.label = i;
	} else {
		char *dot = strchr(term, '.');
		char *br = strchr(term, '[');
		char *suffix = dot ? dot : br;
		char name[SC_NAME_MAX];
		size_t nl = suffix ? (size_t)(suffix - term) : strlen(term);
		if (nl == 0 || nl >= sizeof(name))
			sc_fail(sc, "bad address '%s'", s);
		memcpy(name, term, nl);
		name[nl] = '\0';
		struct sc_label *l = sc_find(sc, name);
		if (!l)
			sc_fail(sc, "undefined label '%s' in '%s'", name, s);
		a.label = sc_label_index(sc, name);
		switch (l->kind) {
		case L_ENCLAVE:
			if (dot && strcmp(dot, ".secs") == 0) {
				a.kind = AK_SECS;
			} else if (!suffix) {
				a.kind = AK_ENCL;
				a.bare = !*rest;
			} else {
				sc_fail(sc, "bad address '%s' (an enclave is E, E+OFFSET or E.secs)", s);
			}
			break;
		case L_PAGE:
			if (suffix)
				sc_fail(sc, "bad address '%s'", s);
			a.kind = AK_ENCL;
			a.label = l->u.p.enclave;
			a.off = l->u.p.off;
			break;
		case L_FRAME:
			a.kind = AK_FRAME;
			if (br) {
				size_t bl = strlen(br);
				if (bl < 3 || br[bl - 1] != ']')
					sc_fail(sc, "bad slot '%s' (V[n])", s);
				br[bl - 1] = '\0';
				uint64_t slot = sc_num(sc, br + 1);
				if (slot >= SGX_VA_SLOTS)
					sc_fail(sc, "slot %s out of range (0..%u)", br + 1, SGX_VA_SLOTS - 1);
				a.off = slot * 8;
			} else if (dot) {
				sc_fail(sc, "bad address '%s'", s);
			}
			break;
		case L_BLOB: {
			uint8_t *p;
			if (dot && strcmp(dot, ".page") == 0)
				p = l->u.b.page;
			else if (dot && strcmp(dot, ".pcmd") == 0)
				p = l->u.b.pcmd;
			else
				sc_fail(sc, "bad address '%s' (a blob's addresses are B.page and B.pcmd)", s);
			a.kind = AK_HOST;
			for (int i = 0; i < sc->nhosts; i++)
				if (sc->hosts[i].p == p)
					a.label = i;
			break;
		}
		default:
			sc_fail(sc, "'%s' is %s: it has no address", name, kind_name(l->kind));
		}
	}
	while (*rest) {
		char sign = *rest++;
		size_t nl = strcspn(rest, "+-");
		char num[64];
		if (nl == 0 || nl >= sizeof(num))
			sc_fail(sc, "bad address '%s'", s);
		memcpy(num, rest, nl);
		num[nl] = '\0';
		uint64_t v = sc_num(sc, num);
		a.off = sign == '+' ? a.off + v : a.off - v;
		rest += nl;
	}
	return a;
}

struct sc_enclave *sc_addr_enclave(struct sc *sc, struct sc_addr a)
{
	if (a.kind == AK_ENCL || a.kind == AK_SECS)
		return &sc->labels[a.label]->u.e;
	return NULL;
}

uint64_t sc_phys(struct sc *sc, struct sc_addr a, const char *text)
{
	(void)text;
	switch (a.kind) {
	case AK_NUM:
		return a.off;
	case AK_ENCL:
		return sc->labels[a.label]->u.e.window + a.off;
	case AK_SECS:
		return sc->labels[a.label]->u.e.secs_pa + a.off;
	case AK_FRAME:
		return sc->labels[a.label]->u.f.pa + a.off;
	case AK_HOST:
		return (uint64_t)(uintptr_t)sc->hosts[a.label].p + a.off;
	}
	return 0;
}

uint64_t sc_lin(struct sc *sc, struct sc_addr a, const char *text)
{
	switch (a.kind) {
	case AK_NUM:
		return a.off;
	case AK_ENCL:
		return sc->labels[a.label]->u.e.base + a.off;
	default:
		sc_fail(sc, "'%s' is not a linear address (use an enclave address E+OFFSET or a number)", text);
	}
}

uint64_t sc_value(struct sc *sc, const char *s, enum sc_vkind k, const struct sc_name *names, uint64_t def)
{
	if ((s[0] == '+' || s[0] == '-') && k != V_FLAGS) {
		uint64_t d = sc_num(sc, s + 1);
		return s[0] == '+' ? def + d : def - d;
	}
	switch (k) {
	case V_NUM:
		if (names) {
			uint64_t v;
			if (name_value(names, s, strlen(s), &v))
				return v;
		}
		return sc_num(sc, s);
	case V_FLAGS:
		return sc_flags(sc, s, names);
	case V_PHYS:
		return sc_phys(sc, sc_addr(sc, s), s);
	case V_LIN:
		return sc_lin(sc, sc_addr(sc, s), s);
	case V_BYTES:
		break;
	}
	return sc_num(sc, s);
}
