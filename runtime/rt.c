/* SPDX-License-Identifier: MIT */
/*
 * The runtime's C core: initialisation (layout check, self-relocation,
 * heap, identity), ECALL dispatch, OCALLs, exception dispatch, abort.
 * entry.S calls rt_dispatch on the entry's own stack; see docs/runtime.md.
 *
 * Until the relocations are applied nothing here may load a pointer from
 * initialised data: the code before relocate() only uses RIP-relative
 * addresses and values it computes.
 */
#include "rt_asm.h"
#include "rt_int.h"
#include "sgxemu/rt.h"
#include "sgxemu/rt_enclu.h"

/* ---- rt_asm.h against the C structures ---- */

_Static_assert(offsetof(struct sgxemu_thread_data, self_offset) == TD_SELF_OFFSET, "TD_SELF_OFFSET");
_Static_assert(offsetof(struct sgxemu_thread_data, tcs_offset) == TD_TCS_OFFSET, "TD_TCS_OFFSET");
_Static_assert(offsetof(struct sgxemu_thread_data, ssa_offset) == TD_SSA_OFFSET, "TD_SSA_OFFSET");
_Static_assert(offsetof(struct sgxemu_thread_data, stack_top_offset) == TD_STACK_TOP_OFFSET, "TD_STACK_TOP_OFFSET");
_Static_assert(offsetof(struct sgxemu_thread_data, stack_limit_offset) == TD_STACK_LIMIT_OFFSET,
	       "TD_STACK_LIMIT_OFFSET");
_Static_assert(offsetof(struct sgxemu_thread_data, runtime) == TD_RUNTIME, "TD_RUNTIME");
_Static_assert(sizeof(struct sgxemu_thread_data) == SGXEMU_PAGE, "thread data is one page");
_Static_assert(sizeof(struct rt_thread) <= sizeof(((struct sgxemu_thread_data *)0)->runtime), "rt_thread fits");
_Static_assert(TD_RUNTIME + offsetof(struct rt_thread, self) == RT_SELF, "RT_SELF");
_Static_assert(TD_RUNTIME + offsetof(struct rt_thread, base) == RT_BASE, "RT_BASE");
_Static_assert(TD_RUNTIME + offsetof(struct rt_thread, ocall) == RT_OCALL, "RT_OCALL");
_Static_assert(TD_RUNTIME + offsetof(struct rt_thread, top) == RT_TOP, "RT_TOP");
_Static_assert(offsetof(struct rt_frame, ursp) == FR_URSP, "FR_URSP");
_Static_assert(offsetof(struct rt_frame, urbp) == FR_URBP, "FR_URBP");
_Static_assert(offsetof(struct rt_frame, exit) == FR_EXIT, "FR_EXIT");
_Static_assert(offsetof(struct rt_frame, cssa) == FR_CSSA, "FR_CSSA");
_Static_assert(offsetof(struct rt_frame, out_rdi) == FR_OUT_RDI, "FR_OUT_RDI");
_Static_assert(offsetof(struct rt_frame, out_rsi) == FR_OUT_RSI, "FR_OUT_RSI");
_Static_assert(offsetof(struct rt_frame, out_rdx) == FR_OUT_RDX, "FR_OUT_RDX");
_Static_assert(offsetof(struct rt_frame, out_r8) == FR_OUT_R8, "FR_OUT_R8");
_Static_assert(offsetof(struct rt_frame, prev) == FR_PREV, "FR_PREV");
_Static_assert(offsetof(struct rt_frame, host_mxcsr) == FR_MXCSR, "FR_MXCSR");
_Static_assert(offsetof(struct rt_frame, host_fcw) == FR_FCW, "FR_FCW");
_Static_assert(sizeof(struct rt_frame) == FR_SIZE && FR_SIZE % 16 == 0, "FR_SIZE");
_Static_assert(offsetof(struct rt_ocall_ctx, rsp) == OC_RSP, "OC_RSP");
_Static_assert(offsetof(struct rt_ocall_ctx, ret) == OC_RET, "OC_RET");
_Static_assert(offsetof(struct rt_ocall_ctx, prev) == OC_PREV, "OC_PREV");
_Static_assert(sizeof(struct sgx_gprsgx) == GPRSGX_SIZE && offsetof(struct sgx_gprsgx, rsp) == GPRSGX_RSP, "GPRSGX");
_Static_assert(SGXEMU_ECALL_ORET == ASM_ECALL_ORET, "ASM_ECALL_ORET");
_Static_assert(SGXEMU_EXIT_OCALL == ASM_EXIT_OCALL, "ASM_EXIT_OCALL");
_Static_assert(SGXEMU_EXIT_ABORT == ASM_EXIT_ABORT, "ASM_EXIT_ABORT");
_Static_assert(SGXEMU_ABORT_BAD_LAYOUT == ASM_ABORT_BAD_LAYOUT, "ASM_ABORT_BAD_LAYOUT");
_Static_assert(SGXEMU_ABORT_NOT_INIT == ASM_ABORT_NOT_INIT, "ASM_ABORT_NOT_INIT");
_Static_assert(SGXEMU_ABORT_STACK == ASM_ABORT_STACK, "ASM_ABORT_STACK");
_Static_assert(ENCLU_EEXIT == ASM_ENCLU_EEXIT, "ASM_ENCLU_EEXIT");

/* ---- the parts of ELF the relocation needs (<elf.h> is not freestanding) ---- */

struct elf_dyn {
	int64_t tag;
	uint64_t val;
};

struct elf_rela {
	uint64_t offset;
	uint64_t info;
	int64_t addend;
};

#define DT_NULL		0
#define DT_NEEDED	1
#define DT_PLTRELSZ	2
#define DT_RELA		7
#define DT_RELASZ	8
#define DT_RELAENT	9
#define DT_REL		17
#define DT_RELSZ	18
#define DT_TEXTREL	22
#define DT_JMPREL	23
#define DT_INIT_ARRAY	25
#define DT_INIT_ARRAYSZ 27

#define R_X86_64_NONE	  0
#define R_X86_64_RELATIVE 8

/* Hidden: reached RIP-relative, never through a GOT entry that is not relocated yet. */
#pragma GCC visibility push(hidden)
extern const struct elf_dyn _DYNAMIC[];
extern const char __rt_image_end[]; /* linker script: end of the last segment */
void rt_entry(void);
#pragma GCC visibility pop

/* ---- shared with entry.S ---- */

uint64_t rt_ssa_frame_bytes; /* 0 until initialised: exceptions are then NOT_INIT */
uint64_t rt_ssa_frames;
uint64_t rt_xfrm_mask = 3; /* XRSTOR's mask at EEXIT: x87 and SSE until EREPORT told the XFRM */

void rt_dispatch(struct rt_frame *f, uint64_t cssa, uint64_t rdi, uint64_t rsi, uint64_t rdx);
void rt_exit_frame(struct rt_frame *f) __attribute__((noreturn));
int64_t rt_ocall_exit(struct rt_ocall_ctx *ctx, uint64_t exit_rsp, uint64_t index, uint64_t data, uint64_t len);

/* ---- state ---- */

enum rt_state { RT_NEW, RT_INITIALIZING, RT_READY, RT_DEAD };

static uint32_t state;	     /* enum rt_state */
static uint64_t dead_reason; /* SGXEMU_ABORT_* once RT_DEAD */
static const struct sgxemu_layout *layout;
static uint64_t enclave_size;
static bool host_augment;
static uint64_t xfrm;
static uint32_t miscselect;

#define XFRM_PKRU (1ULL << 9) /* never reset by the exit: the host's protection keys live there */
#define NO_PTR	  (~0ULL)

static enum rt_state state_get(void)
{
	return (enum rt_state)__atomic_load_n(&state, __ATOMIC_ACQUIRE);
}

static void set_exit(struct rt_frame *f, uint64_t rdi, uint64_t rsi, uint64_t rdx)
{
	f->out_rdi = rdi;
	f->out_rsi = rsi;
	f->out_rdx = rdx;
	f->out_r8 = 0;
}

static void die(uint64_t reason)
{
	dead_reason = reason;
	__atomic_store_n(&state, RT_DEAD, __ATOMIC_RELEASE);
}

/* ---- queries ---- */

uint64_t rt_base(void)
{
	return rt_thread_self()->base;
}

const struct sgxemu_layout *rt_layout(void)
{
	return layout;
}

bool rt_is_within_enclave(const void *p, size_t len)
{
	uint64_t a = (uintptr_t)p, b = rt_base();
	if (len == 0)
		len = 1;
	return a >= b && a - b < enclave_size && len <= enclave_size - (a - b);
}

bool rt_is_outside_enclave(const void *p, size_t len)
{
	uint64_t a = (uintptr_t)p, b = rt_base();
	if (len == 0)
		len = 1;
	uint64_t end = a + len;
	if (end < a)
		return false;
	return end <= b || a >= b + enclave_size;
}

bool rt_host_augment(void)
{
	return host_augment;
}

uint64_t rt_xfrm(void)
{
	return xfrm;
}

uint32_t rt_miscselect(void)
{
	return miscselect;
}

/* ---- initialisation ---- */

static bool page_aligned(uint64_t v)
{
	return (v & (SGXEMU_PAGE - 1)) == 0;
}

/* [off, off + len) inside [lo, hi]?  Overflow-safe. */
static bool area_within(uint64_t off, uint64_t len, uint64_t lo, uint64_t hi)
{
	uint64_t end;
	return !__builtin_add_overflow(off, len, &end) && off >= lo && end <= hi;
}

/* The layout page against itself and this image.  Return: 0 or SGXEMU_ABORT_BAD_LAYOUT. */
static uint64_t check_layout(const struct sgxemu_layout *l, uint64_t base, uint64_t layout_offset)
{
	uint64_t size = l->enclave_size, threads, image_end = (uintptr_t)__rt_image_end - base;
	if (l->magic != SGXEMU_LAYOUT_MAGIC || l->version != SGXEMU_LAYOUT_VERSION)
		return SGXEMU_ABORT_BAD_LAYOUT;
	if (l->flags & ~(uint32_t)(SGXEMU_LAYOUT_EDMM | SGXEMU_LAYOUT_DEBUG | SGXEMU_LAYOUT_AEXNOTIFY))
		return SGXEMU_ABORT_BAD_LAYOUT;
	if (size < 2 * SGXEMU_PAGE || (size & (size - 1)) || (base & (size - 1)))
		return SGXEMU_ABORT_BAD_LAYOUT;
	if (l->entry_offset != (uintptr_t)rt_entry - base || l->layout_offset != layout_offset)
		return SGXEMU_ABORT_BAD_LAYOUT;
	if (!page_aligned(l->image_size) || l->image_size < image_end || l->image_size - image_end >= SGXEMU_PAGE)
		return SGXEMU_ABORT_BAD_LAYOUT;
	if (!page_aligned(l->layout_offset) || !area_within(l->layout_offset, SGXEMU_PAGE, l->image_size, size))
		return SGXEMU_ABORT_BAD_LAYOUT;
	if (!page_aligned(l->heap_offset) || !page_aligned(l->heap_size) ||
	    !area_within(l->heap_offset, l->heap_size, l->layout_offset + SGXEMU_PAGE, size))
		return SGXEMU_ABORT_BAD_LAYOUT;
	if (l->n_tcs < 1 || l->nssa < 1 || l->ssa_frame_pages < 1 || l->stack_size < SGXEMU_PAGE ||
	    !page_aligned(l->stack_size) || !page_aligned(l->thread_stride) || l->thread_stride < SGXEMU_TA_SIZE(l))
		return SGXEMU_ABORT_BAD_LAYOUT;
	if (__builtin_mul_overflow((uint64_t)l->n_tcs, l->thread_stride, &threads) || !page_aligned(l->thread_offset) ||
	    !area_within(l->thread_offset, threads, l->heap_offset + l->heap_size, size))
		return SGXEMU_ABORT_BAD_LAYOUT;
	uint64_t end = l->thread_offset + threads;
	if (l->dyn_size) {
		if (!page_aligned(l->dyn_offset) || !page_aligned(l->dyn_size) ||
		    !area_within(l->dyn_offset, l->dyn_size, end, size))
			return SGXEMU_ABORT_BAD_LAYOUT;
		end = l->dyn_offset + l->dyn_size;
	}
	if (l->n_dyn_threads) {
		if (__builtin_mul_overflow((uint64_t)l->n_dyn_threads, l->thread_stride, &threads) ||
		    !page_aligned(l->tcs_dyn_offset) || !area_within(l->tcs_dyn_offset, threads, end, size))
			return SGXEMU_ABORT_BAD_LAYOUT;
	}
	return 0;
}

/* Apply the image's R_X86_64_RELATIVE relocations, found through _DYNAMIC.  Return: 0 or SGXEMU_ABORT_RELOC. */
static uint64_t relocate(uint64_t base, uint64_t image_size)
{
	uint64_t rela = 0, relasz = 0, relaent = sizeof(struct elf_rela);
	uint64_t dyn = (uintptr_t)_DYNAMIC - base;
	for (uint64_t i = 0;; i++) {
		if (!area_within(dyn + i * sizeof(struct elf_dyn), sizeof(struct elf_dyn), 0, image_size))
			return SGXEMU_ABORT_RELOC;
		const struct elf_dyn *d = &_DYNAMIC[i];
		if (d->tag == DT_NULL)
			break;
		if (d->tag == DT_RELA)
			rela = d->val;
		else if (d->tag == DT_RELASZ)
			relasz = d->val;
		else if (d->tag == DT_RELAENT)
			relaent = d->val;
		else if (d->tag == DT_NEEDED || d->tag == DT_REL || d->tag == DT_TEXTREL ||
			 ((d->tag == DT_RELSZ || d->tag == DT_PLTRELSZ || d->tag == DT_JMPREL) && d->val))
			return SGXEMU_ABORT_RELOC;
	}
	if (!relasz)
		return 0;
	if (relaent != sizeof(struct elf_rela) || relasz % relaent || !area_within(rela, relasz, 0, image_size))
		return SGXEMU_ABORT_RELOC;
	const struct elf_rela *r = (const struct elf_rela *)(base + rela);
	for (uint64_t i = 0; i < relasz / relaent; i++) {
		uint32_t type = (uint32_t)r[i].info;
		if (type == R_X86_64_NONE)
			continue;
		if (type != R_X86_64_RELATIVE || !area_within(r[i].offset, sizeof(uint64_t), 0, image_size))
			return SGXEMU_ABORT_RELOC;
		*(uint64_t *)(base + r[i].offset) = base + (uint64_t)r[i].addend;
	}
	return 0;
}

/* Constructors (DT_INIT_ARRAY), after relocation. */
static void run_init_array(uint64_t base)
{
	uint64_t arr = 0, sz = 0;
	for (const struct elf_dyn *d = _DYNAMIC; d->tag != DT_NULL; d++) {
		if (d->tag == DT_INIT_ARRAY)
			arr = d->val;
		else if (d->tag == DT_INIT_ARRAYSZ)
			sz = d->val;
	}
	void (*const *fn)(void) = (void (*const *)(void))(base + arr);
	for (uint64_t i = 0; arr && i < sz / sizeof(*fn); i++)
		fn[i]();
}

/* The thread data of this thread against the layout (once per thread).  Return: 0 or -1. */
static int thread_setup(struct rt_thread *t)
{
	const struct sgxemu_thread_data *td = rt_thread_data();
	const struct sgxemu_layout *l = layout;
	uint64_t i = td->thread_index, area;
	if (td->layout_offset != l->layout_offset || i >= (uint64_t)l->n_tcs + l->n_dyn_threads)
		return -1;
	if (i < l->n_tcs)
		area = l->thread_offset + i * l->thread_stride;
	else
		area = l->tcs_dyn_offset + (i - l->n_tcs) * l->thread_stride;
	if (td->self_offset != area + SGXEMU_TA_TD(l) || td->tcs_offset != area + SGXEMU_TA_TCS(l) ||
	    td->ssa_offset != area + SGXEMU_TA_SSA(l) || td->stack_limit_offset != area + SGXEMU_TA_STACK(l) ||
	    td->stack_top_offset != area + SGXEMU_TA_STACK(l) + l->stack_size)
		return -1;
	t->stack_top = t->base + td->stack_top_offset;
	t->stack_limit = t->base + td->stack_limit_offset;
	t->ready = 1;
	return 0;
}

/* What EREPORT says about this enclave: XFRM for the exit's XRSTOR, MISCSELECT for EXINFO. */
static void read_identity(void)
{
	struct sgx_targetinfo target RT_ALIGNED(512);
	uint8_t data[64] RT_ALIGNED(128);
	struct sgx_report report RT_ALIGNED(512);
	memset(&target, 0, sizeof(target));
	memset(data, 0, sizeof(data));
	rt_ereport(&target, data, &report);
	xfrm = report.xfrm;
	miscselect = report.miscselect;
	rt_xfrm_mask = xfrm & ~XFRM_PKRU;
}

/* SGXEMU_ECALL_INIT: once per enclave, on any thread. */
static void init(struct rt_thread *t, struct rt_frame *f, uint64_t arg, uint64_t len)
{
	uint32_t expected = RT_NEW;
	if (!__atomic_compare_exchange_n(&state, &expected, RT_INITIALIZING, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_ACQUIRE)) {
		if (expected == RT_READY)
			set_exit(f, SGXEMU_EXIT_RETURN, (uint64_t)-RT_EALREADY, 0);
		else if (expected == RT_INITIALIZING)
			set_exit(f, SGXEMU_EXIT_RETURN, (uint64_t)SGXEMU_ECALL_EBUSY, 0);
		else
			set_exit(f, SGXEMU_EXIT_ABORT, dead_reason, 0);
		return;
	}
	uint64_t base = t->base, layout_offset = rt_thread_data()->layout_offset;
	const struct sgxemu_layout *l = (const struct sgxemu_layout *)(base + layout_offset);
	uint64_t reason = check_layout(l, base, layout_offset);
	if (reason) {
		die(reason);
		set_exit(f, SGXEMU_EXIT_ABORT, reason, 0);
		return;
	}
	enclave_size = l->enclave_size;
	struct sgxemu_init_args args = {0};
	if (arg) {
		if (len < sizeof(args) || !rt_is_outside_enclave((const void *)arg, sizeof(args))) {
			__atomic_store_n(&state, RT_NEW, __ATOMIC_RELEASE);
			set_exit(f, SGXEMU_EXIT_RETURN, (uint64_t)-RT_EFAULT, 0);
			return;
		}
		memcpy(&args, (const void *)arg, sizeof(args));
	}
	reason = relocate(base, l->image_size);
	if (reason) {
		die(reason);
		set_exit(f, SGXEMU_EXIT_ABORT, reason, 0);
		return;
	}
	layout = l;
	if (thread_setup(t) != 0) {
		die(SGXEMU_ABORT_BAD_LAYOUT);
		set_exit(f, SGXEMU_EXIT_ABORT, SGXEMU_ABORT_BAD_LAYOUT, 0);
		return;
	}
	host_augment = args.augment != 0;
	read_identity();
	if (l->heap_size)
		rt_heap_init((void *)(base + l->heap_offset), l->heap_size);
	rt_ssa_frames = l->nssa;
	rt_ssa_frame_bytes = (uint64_t)l->ssa_frame_pages * SGXEMU_PAGE;
	t->depth++;
	run_init_array(base);
	t->depth--;
	__atomic_store_n(&state, RT_READY, __ATOMIC_RELEASE);
	set_exit(f, SGXEMU_EXIT_RETURN, 0, 0);
}

/* ---- ECALLs ---- */

static void dispatch_ecall(struct rt_thread *t, struct rt_frame *f, uint64_t index, uint64_t arg, uint64_t len)
{
	enum rt_state st = state_get();
	if (st == RT_DEAD) {
		set_exit(f, SGXEMU_EXIT_ABORT, dead_reason, 0);
		return;
	}
	if (index == SGXEMU_ECALL_INIT) {
		init(t, f, arg, len);
		return;
	}
	if (st != RT_READY) {
		set_exit(f, SGXEMU_EXIT_ABORT, SGXEMU_ABORT_NOT_INIT, 0);
		return;
	}
	if (!t->ready && thread_setup(t) != 0) {
		set_exit(f, SGXEMU_EXIT_ABORT, SGXEMU_ABORT_BAD_LAYOUT, 0);
		return;
	}
	/* An ECALL already runs on this thread and is not waiting for an OCALL. */
	if (t->depth > 0 && !t->ocall) {
		set_exit(f, SGXEMU_EXIT_RETURN, (uint64_t)SGXEMU_ECALL_EBUSY, 0);
		return;
	}
	if (index >= SGXEMU_ECALL_FIRST_RESERVED || index >= rt_ecall_count) {
		set_exit(f, SGXEMU_EXIT_ABORT, SGXEMU_ABORT_BAD_ECALL, 0);
		return;
	}
	if (len && !rt_is_outside_enclave((const void *)arg, len)) {
		set_exit(f, SGXEMU_EXIT_RETURN, (uint64_t)-RT_EFAULT, 0);
		return;
	}
	t->depth++;
	int64_t r = rt_ecall_table[index]((void *)arg, len);
	t->depth--;
	t->ecalls++;
	set_exit(f, SGXEMU_EXIT_RETURN, (uint64_t)r, 0);
}

/* ---- exceptions ---- */

static rt_exception_handler handlers[RT_EXCEPTION_MAX];
static uint32_t n_handlers;
static rt_spinlock_t handlers_lock;

int rt_exception_register(rt_exception_handler fn)
{
	int r = 0;
	if (!fn)
		return -RT_EINVAL;
	rt_spin_lock(&handlers_lock);
	for (uint32_t i = 0; i < n_handlers; i++)
		if (handlers[i] == fn)
			r = -RT_EINVAL;
	if (!r && n_handlers == RT_EXCEPTION_MAX)
		r = -RT_ENOSPC;
	if (!r)
		handlers[n_handlers++] = fn;
	rt_spin_unlock(&handlers_lock);
	return r;
}

int rt_exception_unregister(rt_exception_handler fn)
{
	int r = -RT_EINVAL;
	rt_spin_lock(&handlers_lock);
	for (uint32_t i = 0; i < n_handlers; i++) {
		if (handlers[i] != fn)
			continue;
		for (uint32_t j = i + 1; j < n_handlers; j++)
			handlers[j - 1] = handlers[j];
		n_handlers--;
		r = 0;
		break;
	}
	rt_spin_unlock(&handlers_lock);
	return r;
}

static void dispatch_exception(struct rt_thread *t, struct rt_frame *f, uint64_t cssa)
{
	enum rt_state st = state_get();
	if (st != RT_READY) {
		set_exit(f, SGXEMU_EXIT_ABORT, st == RT_DEAD ? dead_reason : SGXEMU_ABORT_NOT_INIT, 0);
		return;
	}
	uint64_t bytes = rt_ssa_frame_bytes;
	uint8_t *frame = (uint8_t *)(t->base + rt_thread_data()->ssa_offset + (cssa - 1) * bytes);
	struct sgx_gprsgx *g = (struct sgx_gprsgx *)(frame + bytes - SGX_GPRSGX_SIZE);
	const struct sgx_exinfo *x = (const struct sgx_exinfo *)((uint8_t *)g - SGX_EXINFO_SIZE);
	uint32_t info = g->exitinfo;
	if (!(info & SGX_EXITINFO_VALID)) {
		set_exit(f, SGXEMU_EXIT_EXC_UNHANDLED, SGXEMU_EXC_VECTOR_NONE, g->rip - t->base);
		return;
	}
	struct rt_exception e = {
	    .vector = info & SGX_EXITINFO_VECTOR_MASK,
	    .type = (info >> SGX_EXITINFO_TYPE_SHIFT) & 7,
	    .rip = g->rip,
	    .ssa = (uint32_t)(cssa - 1),
	    .gpr = g,
	    .xsave = frame,
	};
	if ((miscselect & SGX_MISC_EXINFO) && (e.vector == X86_PF || e.vector == X86_GP)) {
		e.exinfo = true;
		e.error_code = x->errcd;
		e.address = x->maddr;
	}
	rt_exception_handler list[RT_EXCEPTION_MAX];
	rt_spin_lock(&handlers_lock);
	uint32_t n = n_handlers;
	for (uint32_t i = 0; i < n; i++)
		list[i] = handlers[i];
	rt_spin_unlock(&handlers_lock);
	for (uint32_t i = 0; i < n; i++) {
		if (list[i](&e) == RT_EXCEPTION_CONTINUE) {
			t->exceptions++;
			set_exit(f, SGXEMU_EXIT_EXC_HANDLED, 0, 0);
			return;
		}
	}
	set_exit(f, SGXEMU_EXIT_EXC_UNHANDLED, e.vector, g->rip - t->base);
}

/* ---- the entry's C half ---- */

void rt_dispatch(struct rt_frame *f, uint64_t cssa, uint64_t rdi, uint64_t rsi, uint64_t rdx)
{
	struct rt_thread *t = rt_thread_self();
	f->prev = t->top;
	t->top = f;
	if (cssa)
		dispatch_exception(t, f, cssa);
	else
		dispatch_ecall(t, f, rdi, rsi, rdx);
	t->top = f->prev;
}

void rt_abort(uint64_t reason)
{
	struct rt_thread *t = rt_thread_self();
	struct rt_frame *f = t->top;
	die(reason);
	set_exit(f, SGXEMU_EXIT_ABORT, reason, 0);
	rt_exit_frame(f);
}

/* ---- OCALLs ---- */

int64_t rt_ocall_ptr(uint32_t index, void *data, uint64_t len, uint64_t ptr_offset)
{
	struct rt_thread *t = rt_thread_self();
	struct rt_frame *f = t->top;
	uint64_t rel = 0;
	if (!f || f->cssa != 0 || t->depth == 0)
		return -RT_EPERM;
	if (len > RT_OCALL_MAX)
		return -RT_E2BIG;
	if (len && !data)
		return -RT_EFAULT;
	if (ptr_offset != NO_PTR) {
		if (len < sizeof(rel) || ptr_offset > len - sizeof(rel))
			return -RT_EINVAL;
		memcpy(&rel, (uint8_t *)data + ptr_offset, sizeof(rel));
		if (rel > len)
			return -RT_EINVAL;
	}
	/* The argument goes right below the untrusted RSP of this ECALL's entry; the exit RSP is its start. */
	uint64_t ursp = f->ursp, size = (len + 15) & ~15ULL;
	if (ursp < size + SGXEMU_PAGE)
		return -RT_EFAULT;
	uint64_t u = (ursp - size) & ~15ULL;
	if (!rt_is_outside_enclave((const void *)u, ursp - u))
		return -RT_EFAULT;
	memcpy((void *)u, data, len);
	if (ptr_offset != NO_PTR) {
		uint64_t abs = u + rel;
		memcpy((void *)(u + ptr_offset), &abs, sizeof(abs));
	}
	struct rt_ocall_ctx ctx = {.prev = t->ocall, .index = index};
	int64_t r = rt_ocall_exit(&ctx, u, index, u, len);
	/* Another thread gave up while this one was outside: this ECALL ends here too. */
	if (state_get() == RT_DEAD) {
		set_exit(f, SGXEMU_EXIT_ABORT, dead_reason, 0);
		rt_exit_frame(f);
	}
	memcpy(data, (const void *)u, len);
	if (ptr_offset != NO_PTR)
		memcpy((uint8_t *)data + ptr_offset, &rel, sizeof(rel));
	t->ocalls++;
	return r;
}

int64_t rt_ocall(uint32_t index, void *data, uint64_t len)
{
	return rt_ocall_ptr(index, data, len, NO_PTR);
}

/* Chunks of console output: the text travels inside the OCALL's argument. */
#define WRITE_CHUNK 1024

int64_t rt_write(int fd, const void *buf, size_t len)
{
	struct {
		struct sgxemu_ocall_mm mm;
		char text[WRITE_CHUNK];
	} msg;
	size_t done = 0;
	while (done < len) {
		size_t n = len - done < WRITE_CHUNK ? len - done : WRITE_CHUNK;
		msg.mm =
		    (struct sgxemu_ocall_mm){.addr = offsetof(__typeof__(msg), text), .len = n, .type = (uint64_t)fd};
		memcpy(msg.text, (const char *)buf + done, n);
		int64_t r =
		    rt_ocall_ptr(SGXEMU_OCALL_WRITE, &msg, sizeof(msg.mm) + n, offsetof(struct sgxemu_ocall_mm, addr));
		if (r < 0)
			return done ? (int64_t)done : r;
		if (r == 0 || (uint64_t)r > n)
			break;
		done += (size_t)r;
	}
	return (int64_t)done;
}
