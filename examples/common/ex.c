/* SPDX-License-Identifier: MIT */
/* Host-side pieces the example programs share (ex.h). */
#include "ex.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "sgxemu/arch.h"
#include "sgxemu/ext.h"

struct ex_trace_settings ex_trace = {.print = false, .offer_augment = true};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ex_counts counts;

static const char *const call_names[EX_CALLS] = {
    [EX_CREATE] = "SGX_IOC_ENCLAVE_CREATE",
    [EX_ADD_PAGES] = "SGX_IOC_ENCLAVE_ADD_PAGES",
    [EX_INIT] = "SGX_IOC_ENCLAVE_INIT",
    [EX_RESTRICT] = "SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS",
    [EX_MODIFY_TYPES] = "SGX_IOC_ENCLAVE_MODIFY_TYPES",
    [EX_REMOVE] = "SGX_IOC_ENCLAVE_REMOVE_PAGES",
    [EX_AUGMENT] = "SGX_IOC_ENCLAVE_AUGMENT_PAGES",
    [EX_MPROTECT] = "mprotect",
    [EX_OTHER] = "ioctl",
};

const char *ex_call_name(enum ex_call k)
{
	return k < EX_CALLS ? call_names[k] : "?";
}

void ex_trace_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(&counts, 0, sizeof(counts));
	pthread_mutex_unlock(&lock);
}

void ex_trace_counts(struct ex_counts *c)
{
	pthread_mutex_lock(&lock);
	*c = counts;
	pthread_mutex_unlock(&lock);
}

const char *ex_errno_name(int e)
{
	static __thread char other[16];
	switch (e) {
	case 0:
		return "0";
	case EPERM:
		return "EPERM";
	case ENOENT:
		return "ENOENT";
	case EINTR:
		return "EINTR";
	case EIO:
		return "EIO";
	case EBADF:
		return "EBADF";
	case EAGAIN:
		return "EAGAIN";
	case ENOMEM:
		return "ENOMEM";
	case EACCES:
		return "EACCES";
	case EFAULT:
		return "EFAULT";
	case EBUSY:
		return "EBUSY";
	case EEXIST:
		return "EEXIST";
	case ENODEV:
		return "ENODEV";
	case EINVAL:
		return "EINVAL";
	case ENOTTY:
		return "ENOTTY";
	case ENOSPC:
		return "ENOSPC";
	case ENOSYS:
		return "ENOSYS";
	case ECANCELED:
		return "ECANCELED";
	case EPROTO:
		return "EPROTO";
	default:
		snprintf(other, sizeof(other), "errno %d", e);
		return other;
	}
}

static const char *perm_name(uint64_t flags)
{
	static const char *const names[8] = {"---", "R--", "-W-", "RW-", "--X", "R-X", "-WX", "RWX"};
	return names[flags & 7];
}

static const char *type_name(uint64_t type)
{
	switch (type) {
	case SGX_PT_SECS:
		return "SECS";
	case SGX_PT_TCS:
		return "TCS";
	case SGX_PT_REG:
		return "REG";
	case SGX_PT_VA:
		return "VA";
	case SGX_PT_TRIM:
		return "TRIM";
	default:
		return "?";
	}
}

static enum ex_call classify(unsigned long cmd)
{
	switch (cmd) {
	case SGX_IOC_ENCLAVE_CREATE:
		return EX_CREATE;
	case SGX_IOC_ENCLAVE_ADD_PAGES:
		return EX_ADD_PAGES;
	case SGX_IOC_ENCLAVE_INIT:
		return EX_INIT;
	case SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS:
		return EX_RESTRICT;
	case SGX_IOC_ENCLAVE_MODIFY_TYPES:
		return EX_MODIFY_TYPES;
	case SGX_IOC_ENCLAVE_REMOVE_PAGES:
		return EX_REMOVE;
	case SGX_IOC_ENCLAVE_AUGMENT_PAGES:
		return EX_AUGMENT;
	default:
		return EX_OTHER;
	}
}

/* "= 0" or "= -1 EPERM" */
static void result_text(char *b, size_t n, int rc, int err)
{
	if (rc < 0)
		snprintf(b, n, "= -1 %s", ex_errno_name(err));
	else
		snprintf(b, n, "= %d", rc);
}

/* One line describing the call and its outcome (the struct as the driver left it). */
static void describe(char *b, size_t n, enum ex_call k, const void *arg, int rc, int err)
{
	char res[48];
	result_text(res, sizeof(res), rc, err);
	switch (k) {
	case EX_ADD_PAGES: {
		const struct sgx_enclave_add_pages *a = arg;
		const struct sgx_secinfo *si = (const void *)(uintptr_t)a->secinfo;
		snprintf(b, n, "ioctl %s {offset %#llx, length %#llx, secinfo %s %s, flags %s} %s, count %#llx",
			 call_names[k], (unsigned long long)a->offset, (unsigned long long)a->length,
			 type_name((si->flags & SGX_SECINFO_PT_MASK) >> SGX_SECINFO_PT_SHIFT), perm_name(si->flags),
			 a->flags & SGX_PAGE_MEASURE ? "MEASURE" : "0", res, (unsigned long long)a->count);
		break;
	}
	case EX_AUGMENT: {
		const struct sgx_enclave_augment_pages *a = arg;
		const struct sgx_secinfo *si = (const void *)(uintptr_t)a->secinfo;
		if (!a->length && !a->secinfo)
			snprintf(b, n, "ioctl %s {empty: does the driver have it?} %s%s", call_names[k], res,
				 rc < 0 && err == EINVAL   ? " (it does)"
				 : rc < 0 && err == ENOTTY ? " (it does not)"
							   : "");
		else
			snprintf(b, n,
				 "ioctl %s {offset %#llx, length %#llx (%llu pages), secinfo %s %s} %s, count %#llx",
				 call_names[k], (unsigned long long)a->offset, (unsigned long long)a->length,
				 (unsigned long long)(a->length / SGXEMU_PAGE),
				 si ? type_name((si->flags & SGX_SECINFO_PT_MASK) >> SGX_SECINFO_PT_SHIFT) : "-",
				 si ? perm_name(si->flags) : "-", res, (unsigned long long)a->count);
		break;
	}
	case EX_RESTRICT: {
		const struct sgx_enclave_restrict_permissions *a = arg;
		snprintf(b, n, "ioctl %s {offset %#llx, length %#llx, permissions %s} %s, result %llu, count %#llx",
			 call_names[k], (unsigned long long)a->offset, (unsigned long long)a->length,
			 perm_name(a->permissions), res, (unsigned long long)a->result, (unsigned long long)a->count);
		break;
	}
	case EX_MODIFY_TYPES: {
		const struct sgx_enclave_modify_types *a = arg;
		snprintf(b, n, "ioctl %s {offset %#llx, length %#llx, page_type %s} %s, result %llu, count %#llx",
			 call_names[k], (unsigned long long)a->offset, (unsigned long long)a->length,
			 type_name(a->page_type), res, (unsigned long long)a->result, (unsigned long long)a->count);
		break;
	}
	case EX_REMOVE: {
		const struct sgx_enclave_remove_pages *a = arg;
		snprintf(b, n, "ioctl %s {offset %#llx, length %#llx} %s, count %#llx", call_names[k],
			 (unsigned long long)a->offset, (unsigned long long)a->length, res,
			 (unsigned long long)a->count);
		break;
	}
	default:
		snprintf(b, n, "ioctl %s %s", call_names[k], res);
		break;
	}
}

/* Bytes a successful call processed. */
static uint64_t done_bytes(enum ex_call k, const void *arg)
{
	switch (k) {
	case EX_ADD_PAGES:
		return ((const struct sgx_enclave_add_pages *)arg)->count;
	case EX_AUGMENT:
		return ((const struct sgx_enclave_augment_pages *)arg)->count;
	case EX_RESTRICT:
		return ((const struct sgx_enclave_restrict_permissions *)arg)->count;
	case EX_MODIFY_TYPES:
		return ((const struct sgx_enclave_modify_types *)arg)->count;
	case EX_REMOVE:
		return ((const struct sgx_enclave_remove_pages *)arg)->count;
	default:
		return 0;
	}
}

static void record(enum ex_call k, const char *line, int rc, uint64_t bytes)
{
	pthread_mutex_lock(&lock);
	counts.calls[k]++;
	if (rc < 0)
		counts.failed++;
	counts.bytes[k] += bytes;
	if ((ex_trace.print || (ex_trace.print_failures && rc < 0)) && line)
		printf("%s%s\n", ex_trace.indent ? ex_trace.indent : "    ", line);
	pthread_mutex_unlock(&lock);
}

static int traced_ioctl(int fd, unsigned long cmd, void *arg)
{
	enum ex_call k = classify(cmd);
	int rc, err;
	if (k == EX_AUGMENT && !ex_trace.offer_augment) {
		/* What Linux answers: it has no such ioctl. */
		rc = -1;
		err = ENOTTY;
	} else {
		rc = sdk_backend_emu.ioctl(fd, cmd, arg);
		err = errno;
	}
	char line[256];
	describe(line, sizeof(line), k, arg, rc, err);
	record(k, line, rc, rc < 0 ? 0 : done_bytes(k, arg));
	errno = err;
	return rc;
}

static int traced_mprotect(void *addr, size_t len, int prot)
{
	int rc = sdk_backend_emu.mprotect(addr, len, prot);
	int err = errno;
	char res[48], where[40], line[160];
	result_text(res, sizeof(res), rc, err);
	uint64_t a = (uint64_t)(uintptr_t)addr;
	if (ex_trace.base && a >= ex_trace.base)
		snprintf(where, sizeof(where), "base+%#llx", (unsigned long long)(a - ex_trace.base));
	else
		snprintf(where, sizeof(where), "%p", addr);
	char p[40] = "";
	if (!prot)
		strcpy(p, "PROT_NONE");
	if (prot & PROT_READ)
		strcat(p, "PROT_READ");
	if (prot & PROT_WRITE)
		strcat(p, *p ? "|PROT_WRITE" : "PROT_WRITE");
	if (prot & PROT_EXEC)
		strcat(p, *p ? "|PROT_EXEC" : "PROT_EXEC");
	snprintf(line, sizeof(line), "mprotect(%s, %#zx, %s) %s", where, len, p, res);
	record(EX_MPROTECT, line, rc, rc < 0 ? 0 : len);
	errno = err;
	return rc;
}

static int traced_open(const char *path, int flags)
{
	return sdk_backend_emu.open(path, flags);
}

static void *traced_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return sdk_backend_emu.mmap(addr, len, prot, flags, fd, off);
}

static int traced_munmap(void *addr, size_t len)
{
	return sdk_backend_emu.munmap(addr, len);
}

static int traced_close(int fd)
{
	return sdk_backend_emu.close(fd);
}

static int traced_enter(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
			unsigned long r8, unsigned long r9, struct sgx_enclave_run *run)
{
	return sdk_backend_emu.enter(rdi, rsi, rdx, function, r8, r9, run);
}

const struct sdk_backend ex_backend = {
    .name = "emu (traced)",
    .device = "/dev/sgx_enclave",
    .open = traced_open,
    .ioctl = traced_ioctl,
    .mmap = traced_mmap,
    .mprotect = traced_mprotect,
    .munmap = traced_munmap,
    .close = traced_close,
    .enter = traced_enter,
};

struct crypto_rsa *ex_key(const char *path, char *err, size_t errlen)
{
	if (!path) {
		struct crypto_rsa *k = crypto_rsa_generate();
		if (!k)
			snprintf(err, errlen, "cannot generate an RSA-3072 key");
		return k;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char pem[16384];
	size_t n = fread(pem, 1, sizeof(pem), f);
	bool big = n == sizeof(pem);
	fclose(f);
	if (big) {
		snprintf(err, errlen, "%s: too large for a PEM private key", path);
		return NULL;
	}
	char why[160] = "";
	struct crypto_rsa *k = crypto_rsa_from_pem(pem, n, why, sizeof(why));
	if (!k)
		snprintf(err, errlen, "%s: %s", path, why);
	return k;
}

const char *ex_enclave_path(const char *given, const char *name, const char *fallback, char *out, size_t len)
{
	if (given) {
		snprintf(out, len, "%s", given);
		return out;
	}
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			slash[1] = '\0';
			snprintf(out, len, "%s%s", exe, name);
			if (access(out, R_OK) == 0)
				return out;
		}
	}
	snprintf(out, len, "%s", fallback);
	return out;
}

double ex_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int64_t ex_write(void *ctx, int fd, const void *buf, size_t len)
{
	const bool *quiet = ctx;
	if (quiet && *quiet)
		return (int64_t)len;
	size_t n = fwrite(buf, 1, len, fd == 2 ? stderr : stdout);
	return n == len ? (int64_t)len : -EIO;
}

bool ex_parse_i64(const char *text, int64_t *out)
{
	if (!text || !*text)
		return false;
	const char *p = text;
	bool neg = *p == '-';
	if (*p == '-' || *p == '+')
		p++;
	int base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!*p)
		return false;
	uint64_t v = 0;
	for (; *p; p++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return false;
		if (d >= (unsigned)base || v > (UINT64_MAX - d) / (unsigned)base)
			return false;
		v = v * (unsigned)base + d;
	}
	/* Decimal: within int64_t.  Hex: any 64-bit pattern, as the language reads it. */
	if (base == 10 && v > (uint64_t)INT64_MAX + neg)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}
