/* SPDX-License-Identifier: MIT */
/*
 * The in-enclave runtime: what enclave code calls (docs/runtime.md).
 *
 * An enclave is a freestanding static PIE linked with the runtime
 * (runtime/meson.build: rt_enclave_cmd, rt_objects) and runtime/enclave.ld.
 * It defines its ECALL table with RT_ECALLS(...) and may use OCALLs,
 * rt_print, the heap (malloc & co), exception handlers and the ENCLU
 * wrappers of <sgxemu/rt_enclu.h>.
 *
 * Errors are negative errno values (RT_E*, the Linux numbers), never a
 * crash; the few "cannot continue" cases end the enclave with rt_abort().
 */
#ifndef SGXEMU_RT_H
#define SGXEMU_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sgxemu/arch.h"
#include "sgxemu/enclave.h"

/* Everything the runtime and an enclave share is hidden: one static PIE, no GOT indirection. */
#pragma GCC visibility push(hidden)

/* errno values (Linux numbers) returned negated by the runtime. */
#define RT_EPERM    1
#define RT_E2BIG    7
#define RT_ENOMEM   12
#define RT_EFAULT   14
#define RT_EBUSY    16
#define RT_EINVAL   22
#define RT_ENOSPC   28
#define RT_ENOSYS   38
#define RT_EALREADY 114

/* ---- ECALLs ------------------------------------------------------------------ */

/*
 * An ECALL: untrusted_arg and len are what the host passed (RSI, RDX).
 * The runtime has checked that [untrusted_arg, untrusted_arg + len) lies
 * wholly outside the enclave (else the ECALL returns -RT_EFAULT without
 * running); the function must still copy what it reads before trusting it.
 */
typedef int64_t (*rt_ecall_fn)(void *untrusted_arg, uint64_t len);

extern const rt_ecall_fn rt_ecall_table[];
extern const uint32_t rt_ecall_count;

/* The enclave's ECALL table: RT_ECALLS(fn0, fn1, ...); index i calls fn_i. */
#define RT_ECALLS(...)                                                                                                 \
	const rt_ecall_fn rt_ecall_table[] = {__VA_ARGS__};                                                            \
	const uint32_t rt_ecall_count = sizeof(rt_ecall_table) / sizeof(rt_ecall_table[0])

/* ---- OCALLs ------------------------------------------------------------------ */

/* Largest OCALL argument (bytes copied to the untrusted stack). */
#define RT_OCALL_MAX (64 * 1024)

/*
 * Call host function index (the loader's OCALL table, or a reserved
 * SGXEMU_OCALL_* index) with a copy of data[0, len) on the untrusted stack,
 * and copy the host's version of those bytes back into data when it
 * returns.  Nested ECALLs made by the host meanwhile run on this thread.
 * Return: the host function's result, or -RT_EPERM (not inside an ECALL,
 * e.g. in an exception handler), -RT_E2BIG (len > RT_OCALL_MAX),
 * -RT_EFAULT (data NULL, or the untrusted stack overlaps the enclave).
 */
int64_t rt_ocall(uint32_t index, void *data, uint64_t len);

/*
 * rt_ocall, where the uint64_t at data + ptr_offset holds an offset into
 * data: the host sees it as the untrusted address of that byte (a buffer
 * inside the argument).  It is an offset again when rt_ocall_ptr returns.
 * Return: as rt_ocall; -RT_EINVAL if the field or the offset it holds is
 * outside data.
 */
int64_t rt_ocall_ptr(uint32_t index, void *data, uint64_t len, uint64_t ptr_offset);

/* write(fd, buf, len) on the host through SGXEMU_OCALL_WRITE.  Return: bytes written or -errno. */
int64_t rt_write(int fd, const void *buf, size_t len);

/*
 * Formatted output to the host's stdout (SGXEMU_OCALL_WRITE, fd 1).
 * Conversions: %d %i %u %x %X %s %p %c %%, with the flags '-' and '0', a
 * field width, and the length modifiers l, ll, z.
 * Return: bytes written, or a negative rt_ocall error.
 */
int rt_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vprint(const char *fmt, va_list ap);
/* The same formats into buf (always NUL-terminated when n > 0).  Return: the length the whole output has. */
int rt_snprint(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int rt_vsnprint(char *buf, size_t n, const char *fmt, va_list ap);

/* ---- exceptions -------------------------------------------------------------- */

/* What a handler is told about an exception (SSA frame CSSA-1 of this thread). */
struct rt_exception {
	uint32_t vector;	/* EXITINFO.VECTOR (enum x86_vector) */
	uint32_t type;		/* EXITINFO.TYPE: SGX_EXITINFO_TYPE_HW or _SW */
	bool exinfo;		/* error_code and address are valid (#PF/#GP with MISCSELECT.EXINFO) */
	uint32_t error_code;	/* EXINFO.ERRCD */
	uint64_t address;	/* EXINFO.MADDR: the faulting linear address (#PF) */
	uint64_t rip;		/* linear address of the interrupted instruction */
	uint32_t ssa;		/* index of the SSA frame holding the interrupted state */
	struct sgx_gprsgx *gpr; /* the saved registers: ERESUME restores what the handler leaves here */
	void *xsave;		/* the frame's XSAVE area (standard format, the enclave's XFRM) */
};

#define RT_EXCEPTION_CONTINUE_SEARCH 0 /* not mine: ask the next handler */
#define RT_EXCEPTION_CONTINUE	     1 /* handled: resume the interrupted code as the frame now says */

typedef int (*rt_exception_handler)(struct rt_exception *e);

#define RT_EXCEPTION_MAX 16

/*
 * Add fn after the handlers already registered; handlers are asked in
 * registration order, the first that returns RT_EXCEPTION_CONTINUE ends the
 * search.  They run on the interrupted thread's stack below the red zone of
 * the interrupted code, may use rt_enclu.h but no OCALL (rt_ocall returns
 * -RT_EPERM) and no heap (the interrupted code may hold its lock).
 * Return: 0, -RT_EINVAL (NULL or already registered), -RT_ENOSPC (RT_EXCEPTION_MAX reached).
 */
int rt_exception_register(rt_exception_handler fn);
/* Return: 0, or -RT_EINVAL if fn is not registered. */
int rt_exception_unregister(rt_exception_handler fn);

/* ---- the heap ----------------------------------------------------------------- */

/*
 * First-fit allocator with boundary tags and immediate coalescing over the
 * static heap of the layout (and regions given to rt_heap_add), 16-byte
 * aligned, one spinlock.  free() of a pointer that is not a live
 * allocation ends the enclave (rt_abort(SGXEMU_ABORT_ASSERT)).
 */
void *malloc(size_t size);
void free(void *p);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);

struct rt_heap_stats {
	size_t total;	     /* bytes managed (payload and tags) */
	size_t free;	     /* bytes in free blocks */
	size_t largest_free; /* largest free block (what one malloc can get, minus 8) */
	size_t free_blocks;
	size_t used_blocks;
};
void rt_heap_stats(struct rt_heap_stats *s);

/* More memory for the heap (e.g. committed EDMM pages).  Return: 0, -RT_EINVAL (too small, overlaps), -RT_ENOSPC. */
int rt_heap_add(void *start, size_t len);

/* ---- the enclave and its threads ------------------------------------------------ */

/* Linear address of enclave offset 0. */
uint64_t rt_base(void);
/* The layout page (valid once SGXEMU_ECALL_INIT succeeded). */
const struct sgxemu_layout *rt_layout(void);
/* Does [p, p + len) lie wholly inside / wholly outside ELRANGE?  (len 0: the address alone.) */
bool rt_is_within_enclave(const void *p, size_t len);
bool rt_is_outside_enclave(const void *p, size_t len);
/* The host offers SGXEMU_OCALL_AUGMENT (SGXEMU_ECALL_INIT's argument). */
bool rt_host_augment(void);
/* SECS.ATTRIBUTES.XFRM and MISCSELECT, read with EREPORT at initialisation. */
uint64_t rt_xfrm(void);
uint32_t rt_miscselect(void);

/* One entry into the enclave (an ECALL, an ORET-resumed ECALL or an exception), at the top of its stack. */
struct rt_frame {
	uint64_t ursp, urbp;			    /* untrusted RSP/RBP at EENTER: restored at EEXIT */
	uint64_t exit;				    /* RCX at EENTER: where EEXIT goes */
	uint64_t cssa;				    /* CSSA at EENTER */
	uint64_t out_rdi, out_rsi, out_rdx, out_r8; /* the EEXIT's values */
	struct rt_frame *prev;			    /* the entry this one is nested in */
	uint32_t host_mxcsr;			    /* the host's MXCSR and x87 control word at EENTER: */
	uint16_t host_fcw;			    /* given back at every EEXIT of this entry */
	uint16_t reserved;
};

/* An OCALL in progress (on the stack of the ECALL that made it). */
struct rt_ocall_ctx {
	uint64_t rsp;		   /* enclave RSP with the saved registers */
	int64_t ret;		   /* the host's result (ORET's RSI) */
	struct rt_ocall_ctx *prev; /* the OCALL of an enclosing ECALL */
	uint64_t index;
};

/*
 * Per-thread state, in the thread data page at offset 128 (FS base + 128).
 * The loader-written words of the page are struct sgxemu_thread_data.
 */
struct rt_thread {
	struct rt_thread *self;	    /* linear address of this struct */
	uint64_t base;		    /* enclave base (set at every entry) */
	struct rt_ocall_ctx *ocall; /* innermost pending OCALL, or NULL */
	struct rt_frame *top;	    /* innermost active entry */
	uint64_t stack_top;	    /* linear: exclusive end of the stack */
	uint64_t stack_limit;	    /* linear: lowest stack byte */
	uint32_t depth;		    /* ECALLs running on this thread (nested ones included) */
	uint32_t ready;		    /* the thread data was checked against the layout */
	uint64_t ecalls;	    /* ECALLs completed */
	uint64_t ocalls;	    /* OCALLs completed */
	uint64_t exceptions;	    /* exceptions handled */
	uint64_t user[8];	    /* free for runtime extensions (e.g. the EDMM memory manager) */
};

/* The calling thread's state. */
static inline struct rt_thread *rt_thread_self(void)
{
	struct rt_thread *t;
	__asm__("mov %%fs:128, %0" : "=r"(t));
	return t;
}

/* The thread data page the loader filled (FS base). */
static inline const struct sgxemu_thread_data *rt_thread_data(void)
{
	return (const struct sgxemu_thread_data *)((uintptr_t)rt_thread_self() - 128);
}

/*
 * Give up: every later entry of any thread exits with SGXEMU_EXIT_ABORT and
 * this reason (SGXEMU_ABORT_*); this thread exits now.
 */
void rt_abort(uint64_t reason) __attribute__((noreturn));

/* ---- freestanding C library pieces ------------------------------------------------ */

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#pragma GCC visibility pop

#endif /* SGXEMU_RT_H */
