/* SPDX-License-Identifier: MIT */
/*
 * The embedding API (include/sgxemu/sgxemu.h): one emulated SGX2 system per
 * process, the kernel layer (src/kernel) under native execution
 * (src/exec), reached through calls that behave like the system calls of
 * a Linux machine with SGX2: -1 and errno, MAP_FAILED.
 *
 * This file is where the two layers meet: exec's OS is the kernel model
 * (page tables, #PF handler, host protection refresh), and the kernel's
 * "IPI" for tracking and reclaim is exec_kick.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu.h"
#include "emu_int.h"
#include "exec.h"
#include "kernel.h"
#include "obs.h"
#include "sgxemu/ext.h"
#include "sgxemu/sgxemu.h"

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sgxk *kern;

/* fd -> device file; fds are small integers, the table grows on demand (files_lock). */
static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sgx_file **files;
static size_t n_files;

/* ---- exec's OS: the kernel model ---- */

static enum exec_fault os_fault(void *ctx, uint64_t addr, uint32_t errcode)
{
	switch (sgxk_fault(ctx, addr, errcode)) {
	case SGXK_FAULT_FIXED:
		return EXEC_FAULT_FIXED;
	case SGXK_FAULT_SIGBUS:
		return EXEC_FAULT_SIGBUS;
	case SGXK_FAULT_SIGSEGV:
		break;
	}
	return EXEC_FAULT_SIGSEGV;
}

static int os_refresh(void *ctx, uint64_t addr, size_t len)
{
	return sgxk_refresh_try(ctx, addr, len);
}

static void os_thread_start(void *ctx, struct hw_thread *t)
{
	sgxk_thread_register(ctx, t);
}

static void os_thread_stop(void *ctx, struct hw_thread *t)
{
	sgxk_thread_unregister(ctx, t);
}

/* The kernel's IPI: make a thread inside the enclave leave it. */
static void os_kick(struct sgxk *k, struct hw_thread *t, void *arg)
{
	(void)k;
	(void)arg;
	/* exec_kick would wait forever for the calling thread itself (an enclave released under its own refresh). */
	if (t != exec_thread_self())
		exec_kick(t);
}

/* Protection keys: exec switches PKRU at entry and exit, the driver maps the enclave's pages with its key. */
static int os_pkey_alloc(void *ctx, uint64_t secs_pa)
{
	(void)ctx;
	return exec_pkey_alloc(secs_pa);
}

static void os_pkey_free(void *ctx, uint64_t secs_pa)
{
	(void)ctx;
	exec_pkey_free(secs_pa);
}

/* ---- settings ---- */

int emu_parse_size(const char *s, uint64_t *out)
{
	/* A digit first: strtoull alone would also take leading blanks and a sign. */
	if (*s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno)
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (*end || (shift && v > (~0ULL >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int os_evict(void *ctx, uint64_t addr)
{
	return sgxk_evict(ctx, addr);
}

static int os_check(void *ctx, uint64_t addr, uint32_t errcode, char *msg, size_t len)
{
	return sgxk_check_access(ctx, addr, errcode, msg, len);
}

static int os_check_accept(void *ctx, uint64_t addr, int tid, char *msg, size_t len)
{
	return sgxk_check_accept(ctx, addr, tid, msg, len);
}

static int os_check_exit(void *ctx, uint64_t tcs, int tid, char *msg, size_t len, uint64_t *page)
{
	return sgxk_check_exit(ctx, tcs, tid, msg, len, page);
}

static struct exec_chaos chaos;

static int configure(struct sgxk_config *c, const struct sgxemu_options *opt, char *err, size_t errlen)
{
	memset(&chaos, 0, sizeof(chaos));
	struct emu_chaos_kernel kc = {0};
	const char *cs = getenv(SGXEMU_ENV_CHAOS);
	if (cs && *cs && emu_parse_chaos(cs, &chaos, &kc, err, errlen) != 0)
		return -1;
	sgxk_config_default(c);
	/* Enclaves run natively: they may have the XSAVE features and layout this host gives its processes. */
	exec_cpu_hw_config(&c->hw);
	if (sgxk_config_from_env(c, err, errlen) != 0)
		return -1;
	c->chaos_seed = chaos.seed;
	c->chaos_ioctl_every = kc.ioctl_every;
	c->chaos_busy_every = kc.busy_every;
	c->chaos_sigbus_every = kc.sigbus_every;
	c->chaos_tlb_usec = kc.tlb_usec;
	c->chaos_quiet = chaos.quiet;
	const char *epc = getenv(SGXEMU_ENV_EPC_SIZE);
	if (epc && emu_parse_size(epc, &c->hw.epc_size) != 0) {
		snprintf(err, errlen, "%s=%s: expected a size in bytes (suffix K, M or G)", SGXEMU_ENV_EPC_SIZE, epc);
		return -1;
	}
	if (opt && opt->epc_size)
		c->hw.epc_size = opt->epc_size;
	/* Too small to run any enclave thread: refused now, naming the setting, not found out as a SIGBUS later. */
	char why[256];
	if (sgxk_epc_size_check(c->hw.epc_size, why, sizeof(why)) != 0) {
		if (opt && opt->epc_size)
			snprintf(err, errlen, "epc_size %llu: %s", (unsigned long long)opt->epc_size, why);
		else if (epc)
			snprintf(err, errlen, "%s=%s: %s", SGXEMU_ENV_EPC_SIZE, epc, why);
		else
			snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (opt && opt->policy) {
		if (!strcmp(opt->policy, "rw")) {
			c->dyn_policy = SGXK_DYN_RW;
		} else if (!strcmp(opt->policy, "wx-exclusive")) {
			c->dyn_policy = SGXK_DYN_WX_EXCLUSIVE;
		} else if (!strcmp(opt->policy, "rwx")) {
			c->dyn_policy = SGXK_DYN_RWX;
		} else {
			snprintf(err, errlen, "policy %s: expected rw, wx-exclusive or rwx", opt->policy);
			return -1;
		}
	}
	return 0;
}

int sgxemu_start(const struct sgxemu_options *opt, char *err, size_t errlen)
{
	pthread_mutex_lock(&start_lock);
	if (kern) {
		pthread_mutex_unlock(&start_lock);
		return 0;
	}
	struct sgxk_config c;
	struct sgxk *k = NULL;
	if (configure(&c, opt, err, errlen) != 0 || sgxk_create(&c, &k, err, errlen) != 0)
		goto fail;
	struct exec_os os = {
	    .m = sgxk_machine(k),
	    .mmu = sgxk_mmu(k),
	    .ctx = k,
	    .fault = os_fault,
	    .refresh = os_refresh,
	    .thread_start = os_thread_start,
	    .thread_stop = os_thread_stop,
	    .evict = os_evict,
	    .check = os_check,
	    .check_accept = os_check_accept,
	    .check_exit = os_check_exit,
	};
	int r = exec_install(&os);
	if (r != 0) {
		snprintf(err, errlen, "installing the signal handlers: %s", strerror(-r));
		goto fail_kernel;
	}
	sgxk_set_kick(k, os_kick, NULL);
	exec_check_set(c.check, obs_check);
	chaos.note = obs_chaos;
	if (chaos.interrupt_every || chaos.evict_every || chaos.timer_usec || chaos.step_every || c.chaos_ioctl_every ||
	    c.chaos_busy_every || c.chaos_sigbus_every || c.chaos_tlb_usec) {
		exec_chaos_set(&chaos);
		/* Each part's text is bounded, so the sum fits: snprintf's return never passes end. */
		char kinds[512] = "", *p = kinds, *end = kinds + sizeof(kinds);
		if (chaos.interrupt_every)
			p += snprintf(p, (size_t)(end - p), ", interrupt 1 in %u ENCLUs", chaos.interrupt_every);
		if (chaos.evict_every)
			p += snprintf(p, (size_t)(end - p), ", evict 1 in %u ENCLUs", chaos.evict_every);
		if (chaos.timer_usec)
			p += snprintf(p, (size_t)(end - p), ", a timer interrupt every %u us of CPU time",
				      chaos.timer_usec);
		if (chaos.step_every)
			p += snprintf(p, (size_t)(end - p), ", single-step, interrupt 1 in %u instructions",
				      chaos.step_every);
		if (c.chaos_ioctl_every)
			p += snprintf(p, (size_t)(end - p), ", stop 1 in %u range ioctls", c.chaos_ioctl_every);
		if (c.chaos_busy_every)
			p += snprintf(p, (size_t)(end - p), ", EBUSY for 1 in %u enclave ioctls", c.chaos_busy_every);
		if (c.chaos_sigbus_every)
			p += snprintf(p, (size_t)(end - p), ", SIGBUS for 1 in %u EAUGs on a fault",
				      c.chaos_sigbus_every);
		if (c.chaos_tlb_usec)
			snprintf(p, (size_t)(end - p), ", a stale-TLB window of %u us after EMODPR/EMODT",
				 c.chaos_tlb_usec);
		fprintf(stderr, "sgxemu: chaos: seed %llu%s%s\n", (unsigned long long)chaos.seed, kinds,
			chaos.quiet ? " (quiet)" : "");
	}
	char why[160];
	if (exec_pkey_probe(why, sizeof(why))) {
		struct sgxk_pkey_ops keys = {.alloc = os_pkey_alloc, .free = os_pkey_free};
		sgxk_set_pkeys(k, &keys);
	}
	/* Tracing, summary, EPC map: as the environment asks (docs/embedding.md), before any enclave exists. */
	obs_start(k, &c);
	__atomic_store_n(&kern, k, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&start_lock);
	return 0;

fail_kernel:
	sgxk_destroy(k);
fail:
	pthread_mutex_unlock(&start_lock);
	return -1;
}

int sgxemu_started(void)
{
	return __atomic_load_n(&kern, __ATOMIC_ACQUIRE) != NULL;
}

/* The system, started with the environment's settings on first use.  NULL (errno ENODEV) if it cannot start. */
static struct sgxk *system_get(void)
{
	struct sgxk *k = __atomic_load_n(&kern, __ATOMIC_ACQUIRE);
	if (k)
		return k;
	char err[256];
	if (sgxemu_start(NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "sgxemu: %s\n", err);
		errno = ENODEV;
		return NULL;
	}
	return __atomic_load_n(&kern, __ATOMIC_ACQUIRE);
}

/* ---- the fd table ---- */

static struct sgx_file *file_of(int fd)
{
	struct sgx_file *f = NULL;
	pthread_mutex_lock(&files_lock);
	if (fd >= 0 && (size_t)fd < n_files)
		f = files[fd];
	pthread_mutex_unlock(&files_lock);
	return f;
}

static int file_insert(int fd, struct sgx_file *f)
{
	int ret = 0;
	pthread_mutex_lock(&files_lock);
	if ((size_t)fd >= n_files) {
		size_t n = n_files ? n_files : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct sgx_file **t = realloc(files, n * sizeof(*t));
		if (!t) {
			ret = -1;
			goto out;
		}
		memset(t + n_files, 0, (n - n_files) * sizeof(*t));
		files = t;
		n_files = n;
	}
	files[fd] = f;
out:
	pthread_mutex_unlock(&files_lock);
	return ret;
}

static struct sgx_file *file_remove(int fd)
{
	struct sgx_file *f = NULL;
	pthread_mutex_lock(&files_lock);
	if (fd >= 0 && (size_t)fd < n_files) {
		f = files[fd];
		files[fd] = NULL;
	}
	pthread_mutex_unlock(&files_lock);
	return f;
}

/* ---- the system calls ---- */

int sgxemu_open(const char *path, int flags)
{
	enum sgx_dev dev;
	if (!path) {
		errno = EFAULT;
		return -1;
	}
	if (!strcmp(path, "/dev/sgx_enclave") || !strcmp(path, "/dev/sgx/enclave")) {
		dev = SGX_DEV_ENCLAVE;
	} else if (!strcmp(path, "/dev/sgx_provision") || !strcmp(path, "/dev/sgx/provision")) {
		dev = SGX_DEV_PROVISION;
	} else {
		errno = ENOENT;
		return -1;
	}
	struct sgxk *k = system_get();
	if (!k)
		return -1;
	struct sgx_file *f;
	int r = sgxk_open_flags(k, dev, flags, &f);
	if (r) {
		errno = -r;
		return -1;
	}
	int fd = sgx_file_fd(f);
	if (file_insert(fd, f) != 0) {
		sgx_file_close(f);
		errno = ENOMEM;
		return -1;
	}
	return fd;
}

int sgxemu_is_fd(int fd)
{
	return file_of(fd) != NULL;
}

int sgxemu_ioctl(int fd, unsigned long cmd, void *arg)
{
	struct sgx_file *f = file_of(fd);
	if (!f) {
		errno = fcntl(fd, F_GETFD) != -1 ? ENOTTY : EBADF;
		return -1;
	}
	/* ioctl(2) takes an unsigned int command: the upper half of cmd is dropped, as Linux drops it. */
	uint64_t t0 = obs_begin();
	long r = sgx_file_ioctl(f, (unsigned int)cmd, (unsigned long)(uintptr_t)arg);
	if (__builtin_expect(t0 != 0, 0))
		obs_ioctl(fd, (unsigned int)cmd, arg, r, t0);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

void *sgxemu_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct sgx_file *f = file_of(fd);
	struct sgxk *k = __atomic_load_n(&kern, __ATOMIC_ACQUIRE);
	long r;
	if (f && !(flags & MAP_ANONYMOUS))
		r = sgx_file_mmap(f, (uint64_t)(uintptr_t)addr, len, prot, flags, off);
	else if (k)
		r = sgxk_mmap_other(k, (uint64_t)(uintptr_t)addr, len, prot, flags, fd, off);
	else
		return mmap(addr, len, prot, flags, fd, off);
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	return (void *)(uintptr_t)r;
}

int sgxemu_mprotect(void *addr, size_t len, int prot)
{
	struct sgxk *k = __atomic_load_n(&kern, __ATOMIC_ACQUIRE);
	if (k) {
		int r = sgxk_mprotect(k, (uint64_t)(uintptr_t)addr, len, prot);
		if (r != -ENOENT) {
			if (r < 0) {
				errno = -r;
				return -1;
			}
			return 0;
		}
	}
	return mprotect(addr, len, prot);
}

int sgxemu_munmap(void *addr, size_t len)
{
	struct sgxk *k = __atomic_load_n(&kern, __ATOMIC_ACQUIRE);
	if (k) {
		int r = sgxk_munmap(k, (uint64_t)(uintptr_t)addr, len);
		if (r < 0 && r != -ENOENT) {
			errno = -r;
			return -1;
		}
	}
	/* The enclave VMAs in the range are gone; whatever host mappings share it go too. */
	return munmap(addr, len);
}

int sgxemu_close(int fd)
{
	struct sgx_file *f = file_remove(fd);
	if (!f)
		return close(fd);
	sgx_file_close(f);
	return 0;
}

int sgxemu_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int r = exec_sigaction(sig, act, old);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

void sgxemu_get_stats(struct sgxemu_stats *s)
{
	memset(s, 0, sizeof(*s));
	struct sgxk *k = __atomic_load_n(&kern, __ATOMIC_ACQUIRE);
	if (!k)
		return;
	s->epc_size = hw_machine_config(sgxk_machine(k))->epc_size;
	sgxk_page_counts(k, &s->pages_resident, &s->pages_evicted);
}
