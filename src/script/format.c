/* SPDX-License-Identifier: MIT */
/*
 * Printing outcomes and addresses.  Physical addresses and host pointers
 * change from run to run, so every address the runner knows is printed as
 * a label expression (E+0x1000, E.secs, V[3], B.page, nonepc); only
 * addresses it does not know print as numbers.
 */
#include <stdarg.h>
#include <string.h>

#include "script_int.h"

static void with_off(char *buf, size_t len, const char *name, uint64_t off)
{
	if (off)
		snprintf(buf, len, "%s+%#llx", name, (unsigned long long)off);
	else
		snprintf(buf, len, "%s", name);
}

/* Enclave pages always carry their offset ("E+0x0"): a bare "E" would read as the enclave. */
static void encl_off(char *buf, size_t len, const char *name, uint64_t off)
{
	snprintf(buf, len, "%s+0x%llx", name, (unsigned long long)off);
}

static bool sym_phys_only(struct sc *sc, uint64_t a, char *buf, size_t len)
{
	for (int i = 0; i < sc->nlabels; i++) {
		struct sc_label *l = sc->labels[i];
		if (l->kind == L_ENCLAVE) {
			const struct sc_enclave *e = &l->u.e;
			if (a >= e->window && a - e->window < e->size) {
				encl_off(buf, len, l->name, a - e->window);
				return true;
			}
			if (a >= e->secs_pa && a - e->secs_pa < SGX_PAGE_SIZE) {
				char n[SC_NAME_MAX + 8];
				snprintf(n, sizeof(n), "%s.secs", l->name);
				with_off(buf, len, n, a - e->secs_pa);
				return true;
			}
		} else if (l->kind == L_FRAME) {
			const struct sc_frame *f = &l->u.f;
			if (a >= f->pa && a - f->pa < SGX_PAGE_SIZE) {
				uint64_t off = a - f->pa;
				if (f->va && off % 8 == 0)
					snprintf(buf, len, "%s[%llu]", l->name, (unsigned long long)(off / 8));
				else
					with_off(buf, len, l->name, off);
				return true;
			}
		}
	}
	for (int i = 0; i < sc->nhosts; i++) {
		uint64_t p = (uint64_t)(uintptr_t)sc->hosts[i].p;
		if (a >= p && a - p < SGX_PAGE_SIZE) {
			with_off(buf, len, sc->hosts[i].name, a - p);
			return true;
		}
	}
	return false;
}

static bool sym_lin_only(struct sc *sc, uint64_t a, char *buf, size_t len)
{
	for (int i = 0; i < sc->nlabels; i++) {
		struct sc_label *l = sc->labels[i];
		if (l->kind != L_ENCLAVE)
			continue;
		const struct sc_enclave *e = &l->u.e;
		if (a >= e->base && a - e->base < e->size) {
			encl_off(buf, len, l->name, a - e->base);
			return true;
		}
	}
	return false;
}

static void hexnum(uint64_t a, char *buf, size_t len)
{
	if (a)
		snprintf(buf, len, "%#llx", (unsigned long long)a);
	else
		snprintf(buf, len, "0");
}

void sc_sym_phys(struct sc *sc, uint64_t a, char *buf, size_t len)
{
	if (!sym_phys_only(sc, a, buf, len) && !sym_lin_only(sc, a, buf, len))
		hexnum(a, buf, len);
}

void sc_sym_lin(struct sc *sc, uint64_t a, char *buf, size_t len)
{
	if (!sym_lin_only(sc, a, buf, len) && !sym_phys_only(sc, a, buf, len))
		hexnum(a, buf, len);
}

void sc_format(struct sc *sc, struct hw_result r, bool lin, char *buf, size_t len)
{
	if (r.kind == HW_FAULT && r.vector == X86_PF) {
		char a[96];
		if (lin)
			sc_sym_lin(sc, r.addr, a, sizeof(a));
		else
			sc_sym_phys(sc, r.addr, a, sizeof(a));
		snprintf(buf, len, "#PF(%s, err=%#x)", a, r.errcode);
		return;
	}
	hw_result_format(r, buf, len);
}

void sc_emit(struct sc *sc, struct sc_stmt *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sc->outcome, sizeof(sc->outcome), fmt, ap);
	va_end(ap);
	sc->has_outcome = true;
	fprintf(sc->out, "%s -> %s\n", st->echo, sc->outcome);
}

void sc_emit_result(struct sc *sc, struct sc_stmt *st, struct hw_result r, bool lin, const char *extra)
{
	char b[SC_OUTCOME_MAX - 64];
	sc_format(sc, r, lin, b, sizeof(b));
	sc_emit(sc, st, "%s%s", b, extra ? extra : "");
}

const char *sc_name_of(const struct sc_name *names, uint64_t v)
{
	for (; names->name; names++)
		if (names->value == v)
			return names->name;
	return NULL;
}

void sc_flags_str(uint64_t v, const struct sc_name *names, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	uint64_t rest = v;
	for (; names->name; names++) {
		if (names->value && (rest & names->value) == names->value) {
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "|" : "", names->name);
			rest &= ~names->value;
		}
	}
	if (rest || n == 0)
		snprintf(buf + n, n < len ? len - n : 0, "%s%#llx", n ? "|" : "", (unsigned long long)rest);
}

void sc_hex(const uint8_t *p, size_t n, char *buf)
{
	for (size_t i = 0; i < n; i++)
		sprintf(buf + 2 * i, "%02x", p[i]);
	buf[2 * n] = '\0';
}
