/* SPDX-License-Identifier: MIT */
/*
 * Per-thread state: one block per thread that entered an enclave (the
 * thread model and its sigaltstack, exec_int.h), created lazily at the
 * thread's first ENCLU and released by a thread-specific-data destructor
 * when the thread exits.  Blocks come from one region reserved at install
 * time, so the signal trampoline can find a block from RSP alone.
 *
 * Also the extended state the host and the enclave see across entries and
 * exits (exec_state_enter / exec_state_leave): PKRU and the XSAVE
 * components outside the enclave's XFRM.
 */
#include <asm/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "exec_int.h"

#define EXEC_SLOTS (EXEC_REGION_SIZE / EXEC_BLOCK_SIZE)

static __thread struct exec_thread *self_tls __attribute__((tls_model("initial-exec")));
static pthread_key_t thread_key;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t slot_used[EXEC_SLOTS];
/* The slot's block is usable and its counts not yet in counts_gone (under slots_lock). */
static uint8_t slot_live[EXEC_SLOTS];
/* Counts of threads that ended, and of events on no thread's block. */
static _Atomic uint64_t counts_gone[EXEC_COUNTS];
static bool no_pad;

static struct exec_thread *slot_block(uint64_t slot)
{
	return (struct exec_thread *)(uintptr_t)(exec_region_base + slot * EXEC_BLOCK_SIZE);
}

void exec_count_slow(unsigned i)
{
	atomic_fetch_add_explicit(&counts_gone[i], 1, memory_order_relaxed);
}

void exec_counts_sum(uint64_t sum[EXEC_COUNTS])
{
	pthread_mutex_lock(&slots_lock);
	for (unsigned i = 0; i < EXEC_COUNTS; i++)
		sum[i] = atomic_load_explicit(&counts_gone[i], memory_order_relaxed);
	for (uint64_t slot = 0; slot < EXEC_SLOTS; slot++)
		if (slot_live[slot])
			for (unsigned i = 0; i < EXEC_COUNTS; i++)
				sum[i] += __atomic_load_n(&slot_block(slot)->counts[i], __ATOMIC_RELAXED);
	pthread_mutex_unlock(&slots_lock);
}

unsigned exec_threads_inside(void)
{
	unsigned n = 0;
	pthread_mutex_lock(&slots_lock);
	for (uint64_t slot = 0; slot < EXEC_SLOTS; slot++)
		if (slot_live[slot] && __atomic_load_n(&slot_block(slot)->t.in_enclave, __ATOMIC_ACQUIRE))
			n++;
	pthread_mutex_unlock(&slots_lock);
	return n;
}

uint64_t exec_get_fs(void)
{
	uint64_t v;
	if (exec_have_fsgsbase)
		__asm__ volatile("rdfsbase %0" : "=r"(v));
	else
		syscall(SYS_arch_prctl, ARCH_GET_FS, &v);
	return v;
}

uint64_t exec_get_gs(void)
{
	uint64_t v;
	if (exec_have_fsgsbase)
		__asm__ volatile("rdgsbase %0" : "=r"(v));
	else
		syscall(SYS_arch_prctl, ARCH_GET_GS, &v);
	return v;
}

static void thread_destroy(void *p)
{
	struct exec_thread *self = p;
	if (exec_os_cur.thread_stop)
		exec_os_cur.thread_stop(exec_os_cur.ctx, &self->t);
	exec_sud_thread_stop(self);
	uint64_t slot = ((uint64_t)(uintptr_t)self - exec_region_base) / EXEC_BLOCK_SIZE;
	pthread_mutex_lock(&slots_lock);
	exec_chaos_thread_stop(self);
	for (unsigned i = 0; i < EXEC_COUNTS; i++)
		atomic_fetch_add_explicit(&counts_gone[i], self->counts[i], memory_order_relaxed);
	slot_live[slot] = 0;
	pthread_mutex_unlock(&slots_lock);
	stack_t ss = {.ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	hw_thread_fini(&self->t);
	self_tls = NULL;
	/* Give the memory back but keep the range reserved for the next thread. */
	if (mmap(self, EXEC_BLOCK_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) ==
	    MAP_FAILED)
		exec_die("sgxemu: cannot release a thread's signal stack\n");
	pthread_mutex_lock(&slots_lock);
	slot_used[slot] = 0;
	pthread_mutex_unlock(&slots_lock);
}

int exec_threads_init(void)
{
	if (!exec_region_base) {
		void *r = mmap(NULL, EXEC_REGION_SIZE + EXEC_BLOCK_SIZE, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (r == MAP_FAILED)
			return -ENOMEM;
		uint64_t base = ((uint64_t)(uintptr_t)r + EXEC_BLOCK_SIZE - 1) & ~((uint64_t)EXEC_BLOCK_SIZE - 1);
		if (pthread_key_create(&thread_key, thread_destroy) != 0) {
			munmap(r, EXEC_REGION_SIZE + EXEC_BLOCK_SIZE);
			return -ENOMEM;
		}
		exec_region_size = EXEC_REGION_SIZE;
		exec_region_base = base;
	}
	/* SGXEMU_EXEC_NO_FSGSBASE forces the arch_prctl path (tests, hosts that misreport the feature). */
	/* Valgrind does not emulate the FSGSBASE instructions (its CPU raises #UD): arch_prctl then. */
	exec_have_fsgsbase = exec_cpu_fsgsbase() && !getenv("SGXEMU_EXEC_NO_FSGSBASE") && !exec_under_valgrind();
	no_pad = getenv("SGXEMU_EXEC_NO_JUMP_PAD") != NULL;
	exec_cpu_init();
	return 0;
}

void exec_chaos_timers_stop(void)
{
	pthread_mutex_lock(&slots_lock);
	for (uint64_t slot = 0; slot < EXEC_SLOTS; slot++)
		if (slot_live[slot])
			exec_chaos_thread_stop(slot_block(slot));
	pthread_mutex_unlock(&slots_lock);
	/* A signal a timer queued before it was deleted is still delivered: take this thread's now. */
	sigset_t kick, old;
	sigemptyset(&kick);
	sigaddset(&kick, EXEC_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, &old);
	struct timespec now = {0, 0};
	while (sigtimedwait(&kick, NULL, &now) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

EXEC_GENERAL_REGS struct exec_thread *exec_thread_lookup(void)
{
	return self_tls;
}

struct hw_thread *exec_thread_self(void)
{
	return self_tls ? &self_tls->t : NULL;
}

/*
 * The block's jump pad (direct.S, exec_direct_pad): written, then made
 * read-and-execute.  Where the system refuses executable memory made
 * writable before (W^X policies), the page stays PROT_NONE and loads use
 * IRETQ.  SGXEMU_EXEC_NO_JUMP_PAD leaves it out (tests of the IRETQ path).
 */
static void pad_make(struct exec_thread *self)
{
	uint8_t *page = (uint8_t *)self + EXEC_BLOCK_PAD;
	size_t n = (size_t)(exec_direct_pad_end - exec_direct_pad);
	self->jump_pad = 0;
	if (no_pad || mprotect(page, EXEC_BLOCK_STACK - EXEC_BLOCK_PAD, PROT_READ | PROT_WRITE) != 0)
		return;
	memcpy(page, exec_direct_pad, n);
	if (mprotect(page, EXEC_BLOCK_STACK - EXEC_BLOCK_PAD, PROT_READ | PROT_EXEC) != 0) {
		mprotect(page, EXEC_BLOCK_STACK - EXEC_BLOCK_PAD, PROT_NONE);
		return;
	}
	self->jump_pad = 1;
}

struct exec_thread *exec_thread_create(void)
{
	pthread_mutex_lock(&slots_lock);
	uint64_t slot = 0;
	while (slot < EXEC_SLOTS && slot_used[slot])
		slot++;
	if (slot == EXEC_SLOTS) {
		pthread_mutex_unlock(&slots_lock);
		return NULL;
	}
	slot_used[slot] = 1;
	pthread_mutex_unlock(&slots_lock);

	struct exec_thread *self = slot_block(slot);
	uint8_t *block = (uint8_t *)self;
	if (mprotect(block, EXEC_BLOCK_HEADER, PROT_READ | PROT_WRITE) != 0 ||
	    mprotect(block + EXEC_BLOCK_STACK, EXEC_BLOCK_SIZE - EXEC_BLOCK_STACK, PROT_READ | PROT_WRITE) != 0)
		goto err_slot;
	if (hw_thread_init(&self->t, exec_os_cur.m, exec_os_cur.mmu) != 0)
		goto err_slot;
	pad_make(self);
	/*
	 * The caller is the handler of the thread's first ENCLU, possibly on
	 * another alternate stack (sigaltstack() would then fail with EPERM):
	 * it installs ours through the context it returns with.
	 */
	if (pthread_setspecific(thread_key, self) != 0)
		goto err_thread;
	/* From here on the block is what exec_counts_sum and exec_chaos_timers_stop may look at. */
	pthread_mutex_lock(&slots_lock);
	slot_live[slot] = 1;
	pthread_mutex_unlock(&slots_lock);
	self->tid = (int)syscall(SYS_gettid);
	exec_chaos_thread_start(self);
	self->host_fs = exec_get_fs();
	self->host_gs = exec_get_gs();
	exec_sud_thread_start(self);
	self_tls = self;
	if (exec_os_cur.thread_start)
		exec_os_cur.thread_start(exec_os_cur.ctx, &self->t);
	return self;

err_thread:
	hw_thread_fini(&self->t);
err_slot:
	mmap(block, EXEC_BLOCK_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	pthread_mutex_lock(&slots_lock);
	slot_used[slot] = 0;
	pthread_mutex_unlock(&slots_lock);
	return NULL;
}

/* ---- extended state across entries and exits ------------------------------ */

/* Kernel software bytes in the legacy region of a signal frame's FPU state (struct _fpx_sw_bytes). */
#define FX_SW_MAGIC1	  464
#define FX_SW_XFEATURES	  472
#define FX_SW_XSTATE_SIZE 480
#define FP_XSTATE_MAGIC1  0x46505853U

uint8_t *exec_frame_xsave(const ucontext_t *uc, uint32_t *size, uint64_t *present)
{
	uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t magic;
	memcpy(&magic, fp + FX_SW_MAGIC1, sizeof(magic));
	if (magic != FP_XSTATE_MAGIC1) {
		*size = EXEC_XSAVE_LEGACY;
		*present = 3;
		return fp;
	}
	memcpy(size, fp + FX_SW_XSTATE_SIZE, sizeof(*size));
	memcpy(present, fp + FX_SW_XFEATURES, sizeof(*present));
	return fp;
}

void exec_state_leave(struct exec_thread *self, ucontext_t *uc)
{
	/*
	 * On hardware XCR0 = XFRM while enclave code runs, so the enclave
	 * cannot touch the other components.  Here it can (the host's XCR0
	 * stays): the host must not find the enclave's values in them.
	 * PKRU is the host's own (below), never the enclave's.
	 */
	uint64_t keep = self->elr_xfrm | (1ULL << EXEC_XFEATURE_PKRU);
	uint32_t size;
	uint64_t present;
	uint8_t *fp = exec_frame_xsave(uc, &size, &present);
	exec_xstate_init_except(&exec_xlayout, self->t.xsave, self->t.xsave_size, keep);
	exec_xstate_init_except(&exec_xlayout, fp, size, keep);
	if (self->pkru_saved) {
		exec_xstate_set_pkru(&exec_xlayout, fp, size, present,
				     exec_pkru_host(self->host_pkru, exec_pkey_mask()));
		self->pkru_saved = false;
	}
}

void exec_state_enter(struct exec_thread *self, ucontext_t *uc)
{
	uint32_t mask = exec_pkey_mask(), size, pkru;
	uint64_t present;
	self->pkru_saved = false;
	if (!mask)
		return;
	uint8_t *fp = exec_frame_xsave(uc, &size, &present);
	if (!exec_xstate_get_pkru(&exec_xlayout, fp, size, present, &pkru))
		return;
	self->host_pkru = pkru;
	self->pkru_saved = exec_xstate_set_pkru(&exec_xlayout, fp, size, present,
						exec_pkru_enclave(pkru, mask, exec_pkey_of(self->t.secs_pa)));
}

/* <asm/prctl.h> of Linux 6.6 and later. */
#define ARCH_SHSTK_STATUS_NR 0x5005
#define ARCH_SHSTK_SHSTK_BIT (1ULL << 0)

bool exec_shadow_stack_on(void)
{
	/* SGXEMU_EXEC_SHADOW_STACK=1: as if it had one (tests of hosts without CET). */
	if (getenv("SGXEMU_EXEC_SHADOW_STACK"))
		return true;
	/* EINVAL before Linux 6.6 (no user shadow stacks at all), or on a CPU without CET. */
	unsigned long features = 0;
	if (syscall(SYS_arch_prctl, ARCH_SHSTK_STATUS_NR, &features) != 0)
		return false;
	return features & ARCH_SHSTK_SHSTK_BIT;
}

bool exec_under_valgrind(void)
{
	/* Valgrind runs every program with its core library preloaded (vgpreload_core-<arch>.so). */
	const char *p = getenv("LD_PRELOAD");
	return p && strstr(p, "/vgpreload_core-");
}
