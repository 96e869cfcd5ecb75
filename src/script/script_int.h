/* SPDX-License-Identifier: MIT */
/*
 * Private to src/script: the interpreter's state, statements and the
 * helpers the statement files share.  Errors in a script (syntax, unknown
 * labels, bad operands) are reported with sc_fail(), which prints
 * "FILE:LINE: message" and unwinds to the statement loop with longjmp; no
 * statement has allocated anything at that point that is not owned by the
 * interpreter state.
 */
#ifndef SGXEMU_SCRIPT_INT_H
#define SGXEMU_SCRIPT_INT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "crypto.h"
#include "hw.h"
#include "pagetable.h"

#define SC_NAME_MAX    32
#define SC_ARGS_MAX    48
#define SC_LINE_MAX    1024
#define SC_OUTCOME_MAX 256

/* Host addresses of the simulated user process (ENCLU). */
#define SC_HOST_RIP    0x400000ULL /* where the thread's ENCLU instruction is */
#define SC_DEFAULT_AEP 0x400100ULL
#define SC_HOST_RSP    0x7ffffff000ULL

/* Offsets of ENCLU operand structures inside a thread's buffer page. */
#define SC_BUF_SECINFO	  0x0
#define SC_BUF_TARGETINFO 0x0
#define SC_BUF_REPORTDATA 0x200
#define SC_BUF_REPORT	  0x400
#define SC_BUF_KEYREQUEST 0x0
#define SC_BUF_KEY	  0x200

/* One operand: `key=value`, or a bare word (key NULL, the word in val). */
struct sc_arg {
	char *key;
	char *val;
	bool used;
};

struct sc_stmt {
	char *thread; /* "T" of "T: leaf ...", or NULL */
	char *verb;
	struct sc_arg args[SC_ARGS_MAX];
	int nargs;
	char echo[SC_LINE_MAX]; /* the statement normalised: words joined by one space */
};

enum sc_label_kind { L_ENCLAVE, L_PAGE, L_FRAME, L_BLOB, L_THREAD, L_KEY };

struct sc_enclave {
	uint64_t base, size; /* ELRANGE */
	uint64_t window;     /* frames: enclave offset o is frame window + o */
	uint64_t secs_pa;    /* the SECS frame */
	uint32_t ssaframesize, miscselect;
	uint64_t attributes, xfrm;
};

struct sc_page {
	int enclave; /* label index */
	uint64_t off;
};

struct sc_frame {
	uint64_t pa;
	bool va; /* declared with `va`: addresses print as V[n] */
};

struct sc_blob {
	uint8_t *page, *pcmd;	/* host pages: the encrypted page, the PCMD */
	uint64_t linaddr, secs; /* from the EWB: PAGEINFO.LINADDR written back, owner SECS */
	uint64_t from;		/* the frame it was evicted from */
	uint64_t slot;		/* the VA slot its version went to */
	bool full;
};

struct sc_thread {
	struct hw_thread t;
	bool has_buf;
	uint64_t buf; /* linear address of the operand page */
	bool entered; /* entered an enclave at least once */
	uint64_t ret; /* RCX after the last EENTER: EEXIT's default target */
	bool has_fault;
	struct hw_result fault; /* the last fault of an ENCLU or access (for `aex last`) */
};

struct sc_label {
	char name[SC_NAME_MAX];
	enum sc_label_kind kind;
	union {
		struct sc_enclave e;
		struct sc_page p;
		struct sc_frame f;
		struct sc_blob b;
		struct sc_thread th;
		struct crypto_rsa *key;
	} u;
};

/* A host page (ordinary memory) the OS's page tables map one to one. */
struct sc_host {
	uint8_t *p;
	char name[SC_NAME_MAX + 8];
};

struct sc {
	FILE *out, *err;
	const char *file;
	char dir[4096]; /* directory of the script, for file= operands */
	int line;
	char *linebuf; /* the current line (getline's buffer) */
	size_t linecap;
	jmp_buf fail;

	struct hw_config cfg;
	struct hw_machine *m;
	struct pagetable kpt; /* the kernel's page tables: ENCLS operands (host pages only) */
	struct pagetable upt; /* the process's page tables: what `map` sets up, for ENCLU */

	struct sc_label **labels;
	int nlabels, caplabels;
	struct sc_host *hosts;
	int nhosts, caphosts;

	/* Scratch host pages for ENCLS operands. */
	uint8_t *pageinfo, *secinfo, *src, *sig, *token, *nonepc;

	uint64_t next_base;
	char outcome[SC_OUTCOME_MAX];
	bool has_outcome;
	int failures;
};

/* ---- errors ---- */
__attribute__((noreturn, format(printf, 2, 3))) void sc_fail(struct sc *sc, const char *fmt, ...);

/* ---- statements and operands (lex.c) ---- */
/* Split a line into *st; false for an empty line. */
bool sc_parse_line(struct sc *sc, char *line, struct sc_stmt *st);
/* The next unused bare word, or NULL. */
const char *sc_pos(struct sc_stmt *st);
/* The next bare word; error naming `what` if there is none. */
const char *sc_pos_req(struct sc *sc, struct sc_stmt *st, const char *what);
/* Is the bare word `word` present (consumes it)? */
bool sc_flag(struct sc_stmt *st, const char *word);
/* The value of key=..., consumed, or NULL. */
const char *sc_opt(struct sc_stmt *st, const char *key);
/* Error if any operand was not consumed by the statement. */
void sc_check_used(struct sc *sc, struct sc_stmt *st);

/* ---- values ---- */
enum sc_addr_kind { AK_NUM, AK_ENCL, AK_SECS, AK_FRAME, AK_HOST };
struct sc_addr {
	enum sc_addr_kind kind;
	int label;    /* AK_ENCL/AK_SECS/AK_FRAME: label index; AK_HOST: host page index */
	uint64_t off; /* AK_NUM: the value */
	bool bare;    /* an enclave label alone, no offset */
};

struct sc_name {
	const char *name;
	uint64_t value;
};
extern const struct sc_name sc_secinfo_names[], sc_attr_names[], sc_misc_names[], sc_tcsflag_names[], sc_policy_names[],
    sc_keyname_names[], sc_xfrm_names[], sc_vector_names[];

bool sc_parse_u64(const char *s, uint64_t *v);
uint64_t sc_num(struct sc *sc, const char *s);
uint64_t sc_flags(struct sc *sc, const char *s, const struct sc_name *names);
struct sc_addr sc_addr(struct sc *sc, const char *s);
uint64_t sc_phys(struct sc *sc, struct sc_addr a, const char *text);
uint64_t sc_lin(struct sc *sc, struct sc_addr a, const char *text);

enum sc_vkind { V_NUM, V_PHYS, V_LIN, V_FLAGS, V_BYTES };
/* Evaluate s as a value of kind k ("+N"/"-N": relative to def). */
uint64_t sc_value(struct sc *sc, const char *s, enum sc_vkind k, const struct sc_name *names, uint64_t def);

/* Labels. */
struct sc_label *sc_find(struct sc *sc, const char *name);
int sc_label_index(struct sc *sc, const char *name);
struct sc_label *sc_get(struct sc *sc, const char *name, enum sc_label_kind kind);
struct sc_label *sc_new_label(struct sc *sc, const char *name, enum sc_label_kind kind);
/* The enclave an address expression is relative to, or NULL. */
struct sc_enclave *sc_addr_enclave(struct sc *sc, struct sc_addr a);

/* ---- structures and overrides (fields.c) ---- */
struct sc_field {
	const char *name;
	uint16_t off, size;
	enum sc_vkind kind;
	const struct sc_name *names;
};
struct sc_struct {
	const char *name;
	const struct sc_field *fields;
	size_t size;
};
extern const struct sc_struct sc_s_secs, sc_s_secinfo, sc_s_pageinfo, sc_s_tcs, sc_s_sig, sc_s_token, sc_s_targetinfo,
    sc_s_keyrequest, sc_s_pcmd, sc_s_src;
/*
 * Apply every `NAME.FIELD=v` and `NAME@OFF[:W]=v` operand of st for
 * structure s to buf.  `only` (bytes of the structure, may be NULL) limits
 * it to operands whose bytes lie entirely inside [lo, hi) pairs; other
 * operands are left for a later call.  `shorthand` (may be NULL) is the
 * field that a bare `NAME=v` sets.
 */
void sc_apply(struct sc *sc, struct sc_stmt *st, const struct sc_struct *s, void *buf, const char *shorthand,
	      bool (*only)(size_t off, size_t len));
/* Register operand `reg=v` of st, relative to def; returns def when absent. */
uint64_t sc_reg(struct sc *sc, struct sc_stmt *st, const char *reg, enum sc_vkind k, uint64_t def);

/* ---- machine and memory (script.c) ---- */
struct hw_machine *sc_machine(struct sc *sc);
uint8_t *sc_host_page(struct sc *sc, const char *name);
/* Physical address behind linear lin in the process page tables, or 0. */
uint64_t sc_user_pa(struct sc *sc, uint64_t lin);
/* Copy into/out of the memory behind lin, bypassing every check (the runner's own view). */
bool sc_user_write(struct sc *sc, uint64_t lin, const void *buf, size_t len);
bool sc_user_read(struct sc *sc, uint64_t lin, void *buf, size_t len);
/* Fill a page of source data: zero, pattern, tcs, or a fill byte. tcs_off = the page's enclave offset. */
void sc_fill_data(struct sc *sc, uint8_t *page, const char *how, uint64_t tcs_off);

/* ---- output (format.c) ---- */
/* Symbolic name of a physical (or host) address, or of a linear address. */
void sc_sym_phys(struct sc *sc, uint64_t a, char *buf, size_t len);
void sc_sym_lin(struct sc *sc, uint64_t a, char *buf, size_t len);
/* Format an outcome; #PF addresses symbolic (linear first when lin). */
void sc_format(struct sc *sc, struct hw_result r, bool lin, char *buf, size_t len);
/* Print "echo -> outcome" and remember the outcome for `expect`. */
void sc_emit(struct sc *sc, struct sc_stmt *st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sc_emit_result(struct sc *sc, struct sc_stmt *st, struct hw_result r, bool lin, const char *extra);
const char *sc_name_of(const struct sc_name *names, uint64_t v);
void sc_flags_str(uint64_t v, const struct sc_name *names, char *buf, size_t len);
void sc_hex(const uint8_t *p, size_t n, char *buf);

/* ---- statements ---- */
typedef void (*sc_handler)(struct sc *sc, struct sc_stmt *st);
/* ENCLS (encls.c) */
void sc_ecreate(struct sc *sc, struct sc_stmt *st);
void sc_eadd(struct sc *sc, struct sc_stmt *st);
void sc_eextend(struct sc *sc, struct sc_stmt *st);
void sc_einit(struct sc *sc, struct sc_stmt *st);
void sc_eremove(struct sc *sc, struct sc_stmt *st);
void sc_epa(struct sc *sc, struct sc_stmt *st);
void sc_eblock(struct sc *sc, struct sc_stmt *st);
void sc_etrack(struct sc *sc, struct sc_stmt *st);
void sc_ewb(struct sc *sc, struct sc_stmt *st);
void sc_eldu(struct sc *sc, struct sc_stmt *st);
void sc_eldb(struct sc *sc, struct sc_stmt *st);
void sc_eaug(struct sc *sc, struct sc_stmt *st);
void sc_emodpr(struct sc *sc, struct sc_stmt *st);
void sc_emodt(struct sc *sc, struct sc_stmt *st);
void sc_edbgrd(struct sc *sc, struct sc_stmt *st);
void sc_edbgwr(struct sc *sc, struct sc_stmt *st);
void sc_encls_raw(struct sc *sc, struct sc_stmt *st);
void sc_lehash(struct sc *sc, struct sc_stmt *st);
/* ENCLU and enclave-mode accesses (enclu.c) */
void sc_eenter(struct sc *sc, struct sc_stmt *st);
void sc_eresume(struct sc *sc, struct sc_stmt *st);
void sc_eexit(struct sc *sc, struct sc_stmt *st);
void sc_edeccssa(struct sc *sc, struct sc_stmt *st);
void sc_eaccept(struct sc *sc, struct sc_stmt *st);
void sc_eacceptcopy(struct sc *sc, struct sc_stmt *st);
void sc_emodpe(struct sc *sc, struct sc_stmt *st);
void sc_ereport(struct sc *sc, struct sc_stmt *st);
void sc_egetkey(struct sc *sc, struct sc_stmt *st);
void sc_enclu_raw(struct sc *sc, struct sc_stmt *st);
void sc_aex(struct sc *sc, struct sc_stmt *st);
void sc_set(struct sc *sc, struct sc_stmt *st);
void sc_read(struct sc *sc, struct sc_stmt *st);
void sc_write(struct sc *sc, struct sc_stmt *st);
void sc_exec(struct sc *sc, struct sc_stmt *st);
/* Queries (show.c) */
void sc_show(struct sc *sc, struct sc_stmt *st);

#endif /* SGXEMU_SCRIPT_INT_H */
