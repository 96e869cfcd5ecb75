/* SPDX-License-Identifier: MIT */
/* Host-side pieces the example programs share (ex.h). */
#include "ex.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sgxemu/arch.h"
#include "sgxemu/ext.h"
#include "sgxemu/sgxemu.h"

const char *ex_prog = "example";
bool ex_failed;

void ex_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", ex_prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	ex_failed = true;
}

#define EX_MAX_OPTIONS 32

int ex_parse_args(const char *prog, int argc, char **argv, const struct option *own, ex_option_fn option, void *ctx,
		  void (*usage)(FILE *), struct ex_args *a)
{
	static const struct option common[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {"key", required_argument, NULL, 'k'},
	    {"enclave", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	};
	struct option longopts[EX_MAX_OPTIONS];
	size_t n = 0;
	for (; own && own[n].name; n++) {
		if (n + sizeof(common) / sizeof(common[0]) + 1 > EX_MAX_OPTIONS)
			abort(); /* a program with more options than EX_MAX_OPTIONS holds */
		longopts[n] = own[n];
	}
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		longopts[n++] = common[i];
	longopts[n] = (struct option){0};

	ex_prog = prog;
	*a = (struct ex_args){0};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		int status;
		switch (c) {
		case 'q':
			a->quiet = true;
			break;
		case 'k':
			a->key = optarg;
			break;
		case 'e':
			a->enclave = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case '?':
			fprintf(stderr, "%s: %s: unknown option or missing argument (--help lists the options)\n", prog,
				argv[optind - 1]);
			return 2;
		default:
			status = option(c, optarg, ctx);
			if (status)
				return status;
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (--help lists the options)\n", prog, argv[optind]);
		return 2;
	}
	return -1;
}

int ex_number_arg(const char *name, const char *arg, bool size, uint64_t *out)
{
	const char *why = sdk_parse_number(arg, size, out);
	if (!why)
		return 0;
	fprintf(stderr, "%s: --%s %s: %s\n", ex_prog, name, arg, why);
	return 2;
}

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

static struct sdk_backend traced;
static pthread_once_t traced_once = PTHREAD_ONCE_INIT;

static void traced_init(void)
{
	traced = sdk_backend_emu;
	traced.name = "emu (traced)";
	traced.ioctl = traced_ioctl;
	traced.mprotect = traced_mprotect;
}

const struct sdk_backend *ex_backend(void)
{
	pthread_once(&traced_once, traced_init);
	return &traced;
}

struct crypto_rsa *ex_key(const char *path, char *err, size_t errlen)
{
	return path ? sdk_key_load(path, err, errlen) : sdk_key_generate(err, errlen);
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

int ex_prepare(const struct ex_args *a, const struct sgxemu_options *so, const char *name, const char *fallback,
	       const struct sdk_config *cfg, struct ex_image *x)
{
	char err[512] = "";
	x->key = NULL;
	x->img = NULL;
	if (sgxemu_start(so, err, sizeof(err)) < 0) {
		ex_fail("starting sgxemu: %s", err);
		return -1;
	}
	x->key = ex_key(a->key, err, sizeof(err));
	if (!x->key) {
		ex_fail("signing key: %s", err);
		return -1;
	}
	ex_enclave_path(a->enclave, name, fallback, x->path, sizeof(x->path));
	if (sdk_image_load(x->path, cfg, &x->img, err, sizeof(err)) < 0 ||
	    sdk_image_sign(x->img, x->key, &x->sig, err, sizeof(err)) < 0) {
		ex_fail("%s", err);
		return -1;
	}
	return 0;
}

struct sdk_enclave *ex_load(const struct ex_image *x, bool *quiet)
{
	struct sdk_load_options lo = {.write = ex_write, .write_ctx = quiet};
	struct sdk_enclave *e = NULL;
	char err[512] = "";
	ex_trace.print = false;
	if (sdk_enclave_load(ex_backend(), x->img, &x->sig, &lo, &e, err, sizeof(err)) < 0) {
		ex_fail("loading the enclave: %s", err);
		return NULL;
	}
	ex_trace.base = sdk_enclave_base(e);
	ex_trace.print = !*quiet;
	return e;
}

int ex_ecall(struct sdk_enclave *e, uint32_t index, void *arg, uint64_t len, const char *what)
{
	struct sdk_ecall_info info;
	int64_t ret = 0;
	if (sdk_enclave_ecall(e, 0, index, arg, len, &ret, &info)) {
		ex_fail("%s: the ECALL failed: %s", what, info.message);
		return -1;
	}
	if (ret) {
		ex_fail("%s: the enclave returned -%s", what, ex_errno_name((int)-ret));
		return -1;
	}
	return 0;
}

void ex_finish(struct sdk_enclave *e, struct ex_image *x)
{
	ex_trace.print = false;
	sdk_enclave_destroy(e);
	sdk_image_free(x->img);
	x->img = NULL;
	sdk_key_free(x->key);
	x->key = NULL;
	fflush(stdout);
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
	if (!text)
		return false;
	const char *p = text;
	bool neg = *p == '-';
	if (*p == '-' || *p == '+')
		p++;
	bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
	uint64_t v;
	if (sdk_parse_number(p, false, &v))
		return false;
	/* Decimal: within int64_t.  Hex: any 64-bit pattern, as the language reads it. */
	if (!hex && v > (uint64_t)INT64_MAX + neg)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}
