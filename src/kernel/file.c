/* SPDX-License-Identifier: MIT */
/* The kernel object, the device files (/dev/sgx_enclave, /dev/sgx_provision) and user-memory access. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* Architectural reserved ATTRIBUTES bits as Linux counts them (bit 3, CET's bit 6, 9:8, 63:11). */
#define LINUX_ATTR_RESERVED (0x8ULL | 0x40ULL | 0x300ULL | ~0x7FFULL)

/*
 * copy_from_user/copy_to_user: the caller's memory is this process's, so a
 * bad pointer must give EFAULT instead of a crash.  process_vm_readv on
 * ourselves reads through the page tables with the kernel's checks.
 */
int copy_from_user(void *dst, uint64_t src, size_t len)
{
	if (!len)
		return 0;
	struct iovec local = {.iov_base = dst, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)src, .iov_len = len};
	ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

int copy_to_user(uint64_t dst, const void *src, size_t len)
{
	if (!len)
		return 0;
	struct iovec local = {.iov_base = (void *)src, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)dst, .iov_len = len};
	ssize_t n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

void sgxk_config_default(struct sgxk_config *c)
{
	memset(c, 0, sizeof(*c));
	hw_config_default(&c->hw);
	c->dyn_policy = SGXK_DYN_RWX;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int sgxk_epc_size_check(uint64_t bytes, char *err, size_t errlen)
{
	if (bytes >= SGXK_EPC_MIN_PAGES * KPAGE)
		return 0;
	char size[32];
	if (bytes % 1024 == 0)
		snprintf(size, sizeof(size), "%llu KiB", (unsigned long long)(bytes / 1024));
	else
		snprintf(size, sizeof(size), "%llu bytes", (unsigned long long)bytes);
	return fail(err, errlen,
		    "an EPC of %s is too small: the minimum is %llu KiB (%d pages), what one enclave thread needs "
		    "in the EPC at once (SECS, VA page, TCS, SSA frame, code page and up to 3 ENCLU operand pages)",
		    size, SGXK_EPC_MIN_PAGES * KPAGE / 1024, SGXK_EPC_MIN_PAGES);
}

static bool translate(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, uint32_t *err);

/*
 * The limits Linux's mmap checks a range against, as this host sets them: TASK_SIZE (47-bit user
 * addresses, 56-bit with 5-level paging, where only then a mapping at 2^47 can exist), and
 * mmap_min_addr with whether this process may map below it (CAP_SYS_RAWIO).
 */
static void host_limits(struct sgxk *k)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE;
	void *hi = (void *)(uintptr_t)(1ULL << 47);
	void *r = mmap(hi, KPAGE, PROT_NONE, flags, -1, 0);
	bool la57 = r == hi || (r == MAP_FAILED && errno == EEXIST);
	if (r != MAP_FAILED)
		munmap(r, KPAGE);
	k->task_size = (1ULL << (la57 ? 56 : 47)) - KPAGE;

	k->mmap_min_addr = 65536;
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");
	if (f) {
		unsigned long long v;
		if (fscanf(f, "%llu", &v) == 1)
			k->mmap_min_addr = v;
		fclose(f);
	}
	void *low = (void *)(uintptr_t)KPAGE;
	r = mmap(low, KPAGE, PROT_NONE, flags, -1, 0);
	k->low_mmap_ok = r == low || (r == MAP_FAILED && errno == EEXIST);
	if (r != MAP_FAILED)
		munmap(r, KPAGE);
}

int sgxk_create(const struct sgxk_config *c, struct sgxk **out, char *err, size_t errlen)
{
	if (c->n_exec_allow_mrsigner > SGXK_ALLOW_MAX || c->n_exec_allow_mrenclave > SGXK_ALLOW_MAX)
		return fail(err, errlen, "at most %d allowlist entries", SGXK_ALLOW_MAX);
	/* Refused here rather than found out later as a fault that can never be satisfied. */
	if (sgxk_epc_size_check(c->hw.epc_size, err, errlen) != 0)
		return -1;
	struct sgxk *k = calloc(1, sizeof(*k));
	if (!k)
		return fail(err, errlen, "out of memory");
	/* SGXEMU_EPC_POPULATE=0: no frame gets memory ahead of its first write, in batches or by readahead. */
	struct hw_config hc = c->hw;
	hc.no_readahead = hc.no_readahead || c->no_populate;
	if (hw_machine_create(&hc, &k->m, err, errlen) < 0) {
		free(k);
		return -1;
	}
	k->mmu.translate = translate;
	k->mmu.gen = &k->pt_gen;
	k->cfg = *c;
	hw_lock_init(&k->chaos_lock);
	k->chaos_rng = c->chaos_seed ^ 0x10C71A05ULL;
	k->sgx2 = !c->hw.sgx1_only;
	struct hw_cpuid l0 = hw_cpuid12(k->m, 0), l1 = hw_cpuid12(k->m, 1);
	k->misc_reserved = ~(uint64_t)l0.ebx | ~1ULL;
	k->attr_reserved = ~((uint64_t)l1.eax | (uint64_t)l1.ebx << 32) | LINUX_ATTR_RESERVED;
	k->xfrm_reserved = ~((uint64_t)l1.ecx | (uint64_t)l1.edx << 32);
	host_limits(k);
	hw_lock_init(&k->mm_lock);
	hw_lock_init(&k->pt_lock);
	hw_lock_init(&k->lru_lock);
	hw_lock_init(&k->files_lock);
	hw_lock_init(&k->threads_lock);
	hw_lock_init(&k->ws_lock);
	*out = k;
	return 0;
}

void sgxk_destroy(struct sgxk *k)
{
	if (!k)
		return;
	/* Process exit: every mapping and file goes, and with them the enclaves. */
	while (k->vmas)
		sgxk_munmap(k, k->vmas->start, k->vmas->end - k->vmas->start);
	while (k->files)
		sgx_file_close(k->files);
	while (k->threads) {
		struct sgxk_thread *t = k->threads;
		k->threads = t->next;
		free(t);
	}
	hw_machine_destroy(k->m);
	pthread_mutex_destroy(&k->mm_lock);
	pthread_mutex_destroy(&k->pt_lock);
	pthread_mutex_destroy(&k->lru_lock);
	pthread_mutex_destroy(&k->files_lock);
	pthread_mutex_destroy(&k->threads_lock);
	pthread_mutex_destroy(&k->ws_lock);
	free(k);
}

struct hw_machine *sgxk_machine(struct sgxk *k)
{
	return k->m;
}

const struct hw_mmu *sgxk_mmu(struct sgxk *k)
{
	return &k->mmu;
}

int sgxk_open(struct sgxk *k, enum sgx_dev dev, struct sgx_file **out)
{
	return sgxk_open_flags(k, dev, O_RDWR, out);
}

int sgxk_open_flags(struct sgxk *k, enum sgx_dev dev, int flags, struct sgx_file **out)
{
	/* The driver registers its nodes only with flexible launch control. */
	if (k->cfg.hw.lehash_locked)
		return -ENODEV;
	if (dev != SGX_DEV_ENCLAVE && dev != SGX_DEV_PROVISION)
		return -ENODEV;
	struct sgx_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->k = k;
	f->dev = dev;
	f->accmode = flags & O_ACCMODE;
	/* The stand-in descriptor has the file's access mode (fcntl F_GETFL shows it). */
	f->fd = open("/dev/null", f->accmode | O_CLOEXEC);
	if (f->fd < 0) {
		int e = errno;
		free(f);
		return -e;
	}
	if (dev == SGX_DEV_ENCLAVE) {
		f->encl = encl_new(k);
		if (!f->encl) {
			close(f->fd);
			free(f);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&k->files_lock);
	f->next = k->files;
	k->files = f;
	pthread_mutex_unlock(&k->files_lock);
	*out = f;
	return 0;
}

void sgx_file_close(struct sgx_file *f)
{
	struct sgxk *k = f->k;
	pthread_mutex_lock(&k->files_lock);
	for (struct sgx_file **pf = &k->files; *pf; pf = &(*pf)->next) {
		if (*pf == f) {
			*pf = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&k->files_lock);
	close(f->fd);
	if (f->encl)
		encl_put(f->encl);
	free(f);
}

int sgx_file_fd(const struct sgx_file *f)
{
	return f->fd;
}

uint64_t sgx_file_secs_pa(const struct sgx_file *f)
{
	return f->encl && (f->encl->flags & ENCL_CREATED) ? f->encl->secs_pa : 0;
}

uint64_t sgx_file_frame(const struct sgx_file *f, uint64_t addr)
{
	if (!f->encl || !encl_in_range(f->encl, addr))
		return 0;
	return encl_frame(f->encl, addr & ~(KPAGE - 1));
}

struct ioctl_call {
	struct sgx_file *f;
	unsigned int cmd;
	unsigned long arg;
};

static long file_ioctl(void *ctx)
{
	struct ioctl_call *c = ctx;
	struct sgx_encl *e = c->f->encl;
	/* Chaos mode's EBUSY (docs/chaos.md "busy"): as if another thread's ioctl had the bit. */
	if (chaos_busy(e, c->cmd))
		return -EBUSY;
	bool busy = false;
	if (!atomic_compare_exchange_strong(&e->ioctl_busy, &busy, true))
		return -EBUSY;
	long ret = sgx_ioctl(e, c->cmd, c->arg);
	atomic_store(&e->ioctl_busy, false);
	return ret;
}

long sgx_file_ioctl(struct sgx_file *f, unsigned int cmd, unsigned long arg)
{
	/* /dev/sgx_provision has no ioctls. */
	if (f->dev != SGX_DEV_ENCLAVE)
		return -ENOTTY;
	/* Signals arriving meanwhile are held and delivered on return, as after a system call. */
	return sys_call(file_ioctl, &(struct ioctl_call){.f = f, .cmd = cmd, .arg = arg});
}

void sgxk_set_pkeys(struct sgxk *k, const struct sgxk_pkey_ops *ops)
{
	k->pkeys = *ops;
}

void sgxk_set_kick(struct sgxk *k, sgxk_kick_fn kick, void *arg)
{
	pthread_mutex_lock(&k->threads_lock);
	k->kick = kick;
	k->kick_arg = arg;
	pthread_mutex_unlock(&k->threads_lock);
}

void sgxk_thread_register(struct sgxk *k, struct hw_thread *t)
{
	struct sgxk_thread *n = malloc(sizeof(*n));
	if (!n) {
		fprintf(stderr, "sgxemu: out of memory registering a thread\n");
		abort();
	}
	n->t = t;
	pthread_mutex_lock(&k->threads_lock);
	n->next = k->threads;
	k->threads = n;
	pthread_mutex_unlock(&k->threads_lock);
}

void sgxk_thread_unregister(struct sgxk *k, struct hw_thread *t)
{
	/* Called by the thread itself as it stops (exec's thread exit): its fault working set goes too. */
	fault_ws_drop(k);
	pthread_mutex_lock(&k->threads_lock);
	for (struct sgxk_thread **pp = &k->threads; *pp; pp = &(*pp)->next) {
		if ((*pp)->t == t) {
			struct sgxk_thread *d = *pp;
			*pp = d->next;
			free(d);
			break;
		}
	}
	pthread_mutex_unlock(&k->threads_lock);
}

/*
 * The process page tables as the CPU walks them: an enclave VMA covers lin,
 * the page has a PTE, and the VMA's protection allows the access.  Only
 * enclave VMAs are modelled: an address in an ELRANGE without a VMA is not
 * present, any other address is ordinary process memory and translates to
 * itself where the host maps it (not present where it maps nothing).
 */
static bool translate(const struct hw_mmu *mmu, uint64_t lin, unsigned acc, uint64_t *pa, uint32_t *err)
{
	struct sgxk *k = (struct sgxk *)mmu;
	pthread_mutex_lock(&k->pt_lock);
	struct sgx_vma *v = vma_find(k, lin);
	if (!v) {
		bool elrange = false;
		for (struct sgx_encl *e = k->pt_encls; e && !elrange; e = e->next_pt)
			elrange = lin >= e->base && lin - e->base < e->size;
		pthread_mutex_unlock(&k->pt_lock);
		/* Host memory has a present entry only where the host maps something (mincore: ENOMEM if not). */
		unsigned char vec;
		int saved_errno = errno;
		void *page = (void *)(uintptr_t)(lin & ~0xFFFULL);
		bool unmapped = !elrange && mincore(page, KPAGE, &vec) != 0 && errno == ENOMEM;
		errno = saved_errno;
		if (elrange || unmapped) {
			*err = 0;
			return false;
		}
		*pa = lin;
		return true;
	}
	struct sgx_encl *e = v->encl;
	struct encl_page *p = encl_in_range(e, lin) ? encl_page_at(e, lin) : NULL;
	bool ok = false;
	if (!p || !p->pte || v->prot == PROT_NONE) {
		/* x86 Linux writes PROT_NONE PTEs as PAGE_NONE, which the CPU sees as not present. */
		*err = 0;
	} else if (((acc & HW_ACC_W) && !(v->prot & PROT_WRITE)) || ((acc & HW_ACC_X) && !(v->prot & PROT_EXEC))) {
		*err = PF_P;
	} else {
		*pa = encl_frame(e, lin & ~0xFFFULL) | (lin & 0xFFF);
		ok = true;
	}
	pthread_mutex_unlock(&k->pt_lock);
	return ok;
}
