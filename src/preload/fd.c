/* SPDX-License-Identifier: MIT */
/*
 * The device nodes: open/openat of /dev/sgx_enclave, /dev/sgx/enclave and
 * /dev/sgx_provision give real fds (src/emu's, a /dev/null description
 * reopened with the program's access mode and flags), the stat family and
 * access describe character devices as on a machine with SGX, and
 * ioctl/close/dup on those fds go to the driver model.
 *
 * src/emu knows a device file by the number of its fd (the "primary").  A
 * dup of it is an alias in the table below; the file is released when the
 * last fd referring to it is closed, as Linux releases it with the last
 * reference.  An fd received some other way (SCM_RIGHTS, a raw dup
 * syscall) is recognised with kcmp(KCMP_FILE) the first time it is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <asm/sgx.h>

#include "preload.h"
#include "sgxemu/ext.h"
#include "sgxemu/sgxemu.h"

/* Misc character devices, as the driver registers them. */
#define SGX_MISC_MAJOR	    10
#define SGX_ENCLAVE_MINOR   125
#define SGX_PROVISION_MINOR 126

struct rec {
	bool used;
	bool stale;
	uint8_t dev;	 /* enum preload_dev */
	uint8_t accmode; /* O_ACCMODE bits of the open */
	int primary;
};

static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rec *recs;	/* indexed by fd */
static int *refs;		/* indexed by primary: program fds referring to its file */
static bool *hidden;		/* indexed by primary: closed by the program, kept for its dups */
static size_t n_recs;		/* entries of all three arrays */
static unsigned open_primaries; /* files with refs > 0: when 0, no fd can be ours */

/* Grow the tables to hold index fd (fd_lock held).  Return: 0, or -1 (ENOMEM). */
static int grow(int fd)
{
	if ((size_t)fd < n_recs)
		return 0;
	size_t n = n_recs ? n_recs : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct rec *r = realloc(recs, n * sizeof(*r));
	if (!r)
		return -1;
	recs = r;
	int *f = realloc(refs, n * sizeof(*f));
	if (!f)
		return -1;
	refs = f;
	bool *h = realloc(hidden, n * sizeof(*h));
	if (!h)
		return -1;
	hidden = h;
	memset(recs + n_recs, 0, (n - n_recs) * sizeof(*recs));
	memset(refs + n_recs, 0, (n - n_recs) * sizeof(*refs));
	memset(hidden + n_recs, 0, (n - n_recs) * sizeof(*hidden));
	n_recs = n;
	return 0;
}

/* Record fd as referring to primary's file (fd_lock held). */
static int rec_add(int fd, int primary, enum preload_dev dev, int accmode, bool stale)
{
	if (grow(fd > primary ? fd : primary) != 0)
		return -1;
	recs[fd] = (struct rec){
	    .used = true, .stale = stale, .dev = (uint8_t)dev, .accmode = (uint8_t)accmode, .primary = primary};
	if (refs[primary]++ == 0)
		open_primaries++;
	return 0;
}

/*
 * Forget fd (fd_lock held).  Return: the primary whose file has no fd left
 * and must be released now, or -1.
 */
static int rec_drop(int fd)
{
	struct rec r = recs[fd];
	recs[fd].used = false;
	if (--refs[r.primary] > 0)
		return -1;
	open_primaries--;
	hidden[r.primary] = false;
	return r.primary;
}

static bool is_hidden(int fd)
{
	return fd >= 0 && (size_t)fd < n_recs && hidden[fd] && !recs[fd].used;
}

/* Release the file of primary (no fd of the program refers to it any more). */
static void release(int primary, bool stale)
{
	preload_trace("close of the last fd of the device file %d: released", primary);
	if (stale || preload_detached)
		REAL(close)(primary);
	else
		sgxemu_close(primary);
}

/* Is fd an fd of /dev/null sharing the open file description of one of our files?  (fd_lock held) */
static bool recognise(int fd)
{
	struct stat st;
	if (REAL(fstat)(fd, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
		return false;
	pid_t pid = getpid();
	for (size_t p = 0; p < n_recs; p++) {
		if (!refs[p] || (int)p == fd)
			continue;
		if (syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd, (int)p) == 0) {
			/* Find a record of that file to copy the device and mode from. */
			for (size_t i = 0; i < n_recs; i++)
				if (recs[i].used && recs[i].primary == (int)p)
					return rec_add(fd, (int)p, recs[i].dev, recs[i].accmode, recs[i].stale) == 0;
			return false;
		}
	}
	return false;
}

bool preload_fd_get(int fd, struct preload_fd *out)
{
	if (fd < 0 || !__atomic_load_n(&open_primaries, __ATOMIC_RELAXED))
		return false;
	bool found = false;
	pthread_mutex_lock(&fd_lock);
	if (((size_t)fd < n_recs && recs[fd].used) || (!is_hidden(fd) && recognise(fd))) {
		struct rec r = recs[fd];
		*out = (struct preload_fd){.primary = r.primary, .dev = r.dev, .accmode = r.accmode, .stale = r.stale};
		found = true;
	}
	pthread_mutex_unlock(&fd_lock);
	return found;
}

/* The program closed fd, or it is the primary it closed earlier: EBADF for it. */
bool preload_fd_hidden(int fd)
{
	if (fd < 0 || !__atomic_load_n(&open_primaries, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&fd_lock);
	bool h = is_hidden(fd);
	pthread_mutex_unlock(&fd_lock);
	return h;
}

void preload_fd_detach(void)
{
	pthread_mutex_init(&fd_lock, NULL);
	for (size_t i = 0; i < n_recs; i++)
		recs[i].stale = true;
}

void preload_fd_inherited(char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	pthread_mutex_lock(&fd_lock);
	for (size_t i = 0; i < n_recs && n + 16 < len; i++) {
		if (!recs[i].used)
			continue;
		int fl = REAL(fcntl)((int)i, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC))
			continue;
		char tmp[16];
		int k = 0;
		unsigned v = (unsigned)i;
		do {
			tmp[k++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		if (n)
			buf[n++] = ',';
		while (k)
			buf[n++] = tmp[--k];
		buf[n++] = ':';
		buf[n++] = recs[i].dev == PRELOAD_DEV_PROVISION ? 'p' : 'e';
	}
	buf[n] = 0;
	pthread_mutex_unlock(&fd_lock);
}

void preload_fd_init_stale(const char *list)
{
	pthread_mutex_lock(&fd_lock);
	for (const char *p = list; *p;) {
		char *end;
		long fd = strtol(p, &end, 10);
		if (end == p || fd < 0 || fd > 1 << 20)
			break;
		enum preload_dev dev = PRELOAD_DEV_ENCLAVE;
		if (*end == ':') {
			dev = end[1] == 'p' ? PRELOAD_DEV_PROVISION : PRELOAD_DEV_ENCLAVE;
			end += end[1] ? 2 : 1;
		}
		if (REAL(fcntl)((int)fd, F_GETFD) >= 0)
			rec_add((int)fd, (int)fd, dev, O_RDWR, true);
		p = *end == ',' ? end + 1 : end;
	}
	pthread_mutex_unlock(&fd_lock);
}

/* ---- paths ------------------------------------------------------------------- */

enum preload_dev preload_dev_of_path(const char *path)
{
	if (!path)
		return PRELOAD_DEV_NONE;
	if (!strcmp(path, "/dev/sgx_enclave") || !strcmp(path, "/dev/sgx/enclave"))
		return PRELOAD_DEV_ENCLAVE;
	if (!strcmp(path, "/dev/sgx_provision") || !strcmp(path, "/dev/sgx/provision"))
		return PRELOAD_DEV_PROVISION;
	return PRELOAD_DEV_NONE;
}

void preload_dev_stat(enum preload_dev dev, struct stat *st)
{
	struct stat d;
	memset(st, 0, sizeof(*st));
	/* The node lives in /dev: its filesystem and times. */
	if (REAL(stat)("/dev", &d) == 0) {
		st->st_dev = d.st_dev;
		st->st_atim = d.st_ctim;
		st->st_mtim = d.st_ctim;
		st->st_ctim = d.st_ctim;
	}
	unsigned minor = dev == PRELOAD_DEV_PROVISION ? SGX_PROVISION_MINOR : SGX_ENCLAVE_MINOR;
	st->st_ino = 0x5347580000ULL + minor;
	st->st_mode = S_IFCHR | 0666;
	st->st_nlink = 1;
	st->st_rdev = makedev(SGX_MISC_MAJOR, minor);
	st->st_blksize = 4096;
}

/* ---- open ---------------------------------------------------------------------- */

static int dev_open(const char *path, int flags, enum preload_dev dev)
{
	if ((flags & O_CREAT) && (flags & O_EXCL)) {
		errno = EEXIST;
		return -1;
	}
	if (flags & O_DIRECTORY) {
		errno = ENOTDIR;
		return -1;
	}
	if (preload_system_up() != 0)
		return -1;
	int fd = sgxemu_open(path, flags);
	if (fd < 0) {
		int e = errno;
		preload_trace("open(%s) = -1 (errno %d)", path, e);
		errno = e;
		return -1;
	}
	/* Give the fd the program's access mode, status flags and close-on-exec. */
	int accmode = flags & O_ACCMODE;
	int tmp = REAL(open)("/dev/null", accmode | (flags & (O_NONBLOCK | O_APPEND)) | O_CLOEXEC);
	if (tmp >= 0) {
		REAL(dup3)(tmp, fd, flags & O_CLOEXEC);
		REAL(close)(tmp);
	} else if (!(flags & O_CLOEXEC)) {
		REAL(fcntl)(fd, F_SETFD, 0);
	}
	pthread_mutex_lock(&fd_lock);
	int r = rec_add(fd, fd, dev, accmode, false);
	pthread_mutex_unlock(&fd_lock);
	if (r != 0) {
		sgxemu_close(fd);
		errno = ENOMEM;
		return -1;
	}
	preload_trace("open(%s) = %d", path, fd);
	return fd;
}

static int open_common(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
	enum preload_dev dev = preload_dev_of_path(path);
	if (dev != PRELOAD_DEV_NONE)
		return dev_open(path, flags, dev);
	if (preload_is_auxv_path(path) && (flags & O_ACCMODE) == O_RDONLY)
		return preload_auxv_fd(flags);
	if (path && !strncmp(path, "/proc/", 6) && strstr(path, "/mem") && sgxemu_started()) {
		static int once;
		preload_msg_once(&once,
				 "%s: access to enclave memory through it is not modelled (Linux reads and "
				 "writes a debug enclave with EDBGRD/EDBGWR); host memory reads as usual",
				 path);
	}
	return at ? REAL(openat)(dirfd, path, flags, mode) : REAL(open)(path, flags, mode);
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	if (SELF_CALL())
		return REAL(open)(path, flags, mode);
	return open_common(AT_FDCWD, path, flags, mode, false);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	if (SELF_CALL())
		return REAL(open)(path, flags | O_LARGEFILE, mode);
	return open_common(AT_FDCWD, path, flags | O_LARGEFILE, mode, false);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	if (SELF_CALL())
		return REAL(openat)(dirfd, path, flags, mode);
	return open_common(dirfd, path, flags, mode, true);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	if (SELF_CALL())
		return REAL(openat)(dirfd, path, flags | O_LARGEFILE, mode);
	return open_common(dirfd, path, flags | O_LARGEFILE, mode, true);
}

/* _FORTIFY_SOURCE's checked variants (no mode: O_CREAT is refused at compile time). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags, 0, false);
}

int __open64_2(const char *path, int flags)
{
	return open_common(AT_FDCWD, path, flags | O_LARGEFILE, 0, false);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags, 0, true);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return open_common(dirfd, path, flags | O_LARGEFILE, 0, true);
}

/* ---- stat and access --------------------------------------------------------------- */

_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat and stat64 share a layout on x86-64");

/* Is fd one of ours (filled *st), hidden (EBADF), or someone else's (0)?  Return 1, -1, 0. */
static int fd_stat(int fd, struct stat *st)
{
	struct preload_fd d;
	if (preload_fd_get(fd, &d)) {
		preload_dev_stat(d.dev, st);
		return 1;
	}
	if (preload_fd_hidden(fd)) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

/* The node named by (dirfd, path, flags) as fstatat resolves it: 1 filled, -1 error, 0 not ours. */
static int at_stat(int dirfd, const char *path, int flags, struct stat *st)
{
	if (path && !path[0] && (flags & AT_EMPTY_PATH))
		return fd_stat(dirfd, st);
	enum preload_dev dev = preload_dev_of_path(path);
	if (dev == PRELOAD_DEV_NONE)
		return 0;
	preload_dev_stat(dev, st);
	return 1;
}

static int stat_path(const char *path, struct stat *st, bool link)
{
	enum preload_dev dev = preload_dev_of_path(path);
	if (dev != PRELOAD_DEV_NONE) {
		preload_dev_stat(dev, st);
		return 0;
	}
	return link ? REAL(lstat)(path, st) : REAL(stat)(path, st);
}

int stat(const char *restrict path, struct stat *restrict st)
{
	if (SELF_CALL())
		return REAL(stat)(path, st);
	return stat_path(path, st, false);
}

int stat64(const char *restrict path, struct stat64 *restrict st)
{
	if (SELF_CALL())
		return REAL(stat)(path, (struct stat *)st);
	return stat_path(path, (struct stat *)st, false);
}

int lstat(const char *restrict path, struct stat *restrict st)
{
	if (SELF_CALL())
		return REAL(lstat)(path, st);
	return stat_path(path, st, true);
}

int lstat64(const char *restrict path, struct stat64 *restrict st)
{
	if (SELF_CALL())
		return REAL(lstat)(path, (struct stat *)st);
	return stat_path(path, (struct stat *)st, true);
}

int fstat(int fd, struct stat *st)
{
	if (!SELF_CALL()) {
		int r = fd_stat(fd, st);
		if (r)
			return r > 0 ? 0 : -1;
	}
	return REAL(fstat)(fd, st);
}

int fstat64(int fd, struct stat64 *st)
{
	if (!SELF_CALL()) {
		int r = fd_stat(fd, (struct stat *)st);
		if (r)
			return r > 0 ? 0 : -1;
	}
	return REAL(fstat)(fd, (struct stat *)st);
}

int fstatat(int dirfd, const char *restrict path, struct stat *restrict st, int flags)
{
	if (!SELF_CALL()) {
		int r = at_stat(dirfd, path, flags, st);
		if (r)
			return r > 0 ? 0 : -1;
	}
	return REAL(fstatat)(dirfd, path, st, flags);
}

int fstatat64(int dirfd, const char *restrict path, struct stat64 *restrict st, int flags)
{
	if (!SELF_CALL()) {
		int r = at_stat(dirfd, path, flags, (struct stat *)st);
		if (r)
			return r > 0 ? 0 : -1;
	}
	return REAL(fstatat)(dirfd, path, (struct stat *)st, flags);
}

/* The glibc < 2.33 entry points that binaries built then still call. */
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);

int __xstat(int ver, const char *path, struct stat *st)
{
	enum preload_dev dev = preload_dev_of_path(path);
	if (dev == PRELOAD_DEV_NONE)
		return REAL_AS(xstat, "__xstat")(ver, path, st);
	preload_dev_stat(dev, st);
	return 0;
}

int __xstat64(int ver, const char *path, struct stat64 *st)
{
	return __xstat(ver, path, (struct stat *)st);
}

int __lxstat(int ver, const char *path, struct stat *st)
{
	enum preload_dev dev = preload_dev_of_path(path);
	if (dev == PRELOAD_DEV_NONE)
		return REAL_AS(lxstat, "__lxstat")(ver, path, st);
	preload_dev_stat(dev, st);
	return 0;
}

int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	return __lxstat(ver, path, (struct stat *)st);
}

int __fxstat(int ver, int fd, struct stat *st)
{
	int r = fd_stat(fd, st);
	if (r)
		return r > 0 ? 0 : -1;
	return REAL_AS(fxstat, "__fxstat")(ver, fd, st);
}

int __fxstat64(int ver, int fd, struct stat64 *st)
{
	return __fxstat(ver, fd, (struct stat *)st);
}

int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	int r = at_stat(dirfd, path, flags, st);
	if (r)
		return r > 0 ? 0 : -1;
	return REAL_AS(fxstatat, "__fxstatat")(ver, dirfd, path, st, flags);
}

int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	return __fxstatat(ver, dirfd, path, (struct stat *)st, flags);
}

static void to_statx(const struct stat *st, unsigned mask, struct statx *sx)
{
	(void)mask;
	memset(sx, 0, sizeof(*sx));
	sx->stx_mask = STATX_BASIC_STATS;
	sx->stx_blksize = (uint32_t)st->st_blksize;
	sx->stx_nlink = (uint32_t)st->st_nlink;
	sx->stx_uid = st->st_uid;
	sx->stx_gid = st->st_gid;
	sx->stx_mode = (uint16_t)st->st_mode;
	sx->stx_ino = st->st_ino;
	sx->stx_size = (uint64_t)st->st_size;
	sx->stx_blocks = (uint64_t)st->st_blocks;
	sx->stx_atime =
	    (struct statx_timestamp){.tv_sec = st->st_atim.tv_sec, .tv_nsec = (uint32_t)st->st_atim.tv_nsec};
	sx->stx_mtime =
	    (struct statx_timestamp){.tv_sec = st->st_mtim.tv_sec, .tv_nsec = (uint32_t)st->st_mtim.tv_nsec};
	sx->stx_ctime =
	    (struct statx_timestamp){.tv_sec = st->st_ctim.tv_sec, .tv_nsec = (uint32_t)st->st_ctim.tv_nsec};
	sx->stx_rdev_major = major(st->st_rdev);
	sx->stx_rdev_minor = minor(st->st_rdev);
	sx->stx_dev_major = major(st->st_dev);
	sx->stx_dev_minor = minor(st->st_dev);
}

int statx(int dirfd, const char *restrict path, int flags, unsigned mask, struct statx *restrict sx)
{
	if (!SELF_CALL()) {
		struct stat st;
		int r = at_stat(dirfd, path, flags, &st);
		if (r < 0)
			return -1;
		if (r > 0) {
			to_statx(&st, mask, sx);
			return 0;
		}
	}
	if (!REAL(statx)) {
		errno = ENOSYS;
		return -1;
	}
	return REAL(statx)(dirfd, path, flags, mask, sx);
}

/* access(2) of a node: readable and writable by everyone (mode 0666), never executable. */
static int dev_access(int mode)
{
	if (mode & X_OK) {
		errno = EACCES;
		return -1;
	}
	return 0;
}

int access(const char *path, int mode)
{
	if (!SELF_CALL() && preload_dev_of_path(path) != PRELOAD_DEV_NONE)
		return dev_access(mode);
	return REAL(access)(path, mode);
}

int faccessat(int dirfd, const char *path, int mode, int flags)
{
	if (!SELF_CALL() && preload_dev_of_path(path) != PRELOAD_DEV_NONE)
		return dev_access(mode);
	return REAL(faccessat)(dirfd, path, mode, flags);
}

int euidaccess(const char *path, int mode)
{
	if (preload_dev_of_path(path) != PRELOAD_DEV_NONE)
		return dev_access(mode);
	return REAL(faccessat)(AT_FDCWD, path, mode, AT_EACCESS);
}

int eaccess(const char *path, int mode)
{
	return euidaccess(path, mode);
}

/* Extended attributes: a device node has none (ls -l asks for its security label). */

ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
{
	if (preload_dev_of_path(path) == PRELOAD_DEV_NONE)
		return REAL(getxattr)(path, name, value, size);
	errno = ENODATA;
	return -1;
}

ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	if (preload_dev_of_path(path) == PRELOAD_DEV_NONE)
		return REAL(lgetxattr)(path, name, value, size);
	errno = ENODATA;
	return -1;
}

ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)
{
	struct preload_fd d;
	if (!preload_fd_get(fd, &d))
		return REAL(fgetxattr)(fd, name, value, size);
	errno = ENODATA;
	return -1;
}

ssize_t listxattr(const char *path, char *list, size_t size)
{
	if (preload_dev_of_path(path) == PRELOAD_DEV_NONE)
		return REAL(listxattr)(path, list, size);
	return 0;
}

ssize_t llistxattr(const char *path, char *list, size_t size)
{
	if (preload_dev_of_path(path) == PRELOAD_DEV_NONE)
		return REAL(llistxattr)(path, list, size);
	return 0;
}

ssize_t flistxattr(int fd, char *list, size_t size)
{
	struct preload_fd d;
	if (!preload_fd_get(fd, &d))
		return REAL(flistxattr)(fd, list, size);
	return 0;
}

/* ---- ioctl ------------------------------------------------------------------------------- */

/* Ioctls the VFS answers for every file before the driver sees them. */
static bool vfs_ioctl(unsigned long cmd)
{
	return cmd == FIOCLEX || cmd == FIONCLEX || cmd == FIONBIO || cmd == FIOASYNC;
}

/*
 * Copy len bytes of the program's memory at src, which may be any pointer
 * it passed: read through the kernel's page-table checks (a bad pointer is
 * EFAULT there, not a crash here).  Return: whether all of it was read.
 */
static bool read_user(void *dst, const void *src, size_t len)
{
	struct iovec local = {.iov_base = dst, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)src, .iov_len = len};
	int saved = errno;
	bool ok = REAL(process_vm_readv)(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len;
	errno = saved;
	return ok;
}

/* Size of the struct of a range ioctl, whose u64 fields the trace line shows (0: no struct shown). */
static size_t range_struct_size(enum preload_ioc kind)
{
	switch (kind) {
	case IOC_ADD_PAGES:
		return sizeof(struct sgx_enclave_add_pages);
	case IOC_RESTRICT:
		return sizeof(struct sgx_enclave_restrict_permissions);
	case IOC_MODIFY_TYPES:
		return sizeof(struct sgx_enclave_modify_types);
	case IOC_REMOVE_PAGES:
		return sizeof(struct sgx_enclave_remove_pages);
	case IOC_AUGMENT:
		return sizeof(struct sgx_enclave_augment_pages);
	default:
		return 0;
	}
}

/* Write " name value" for the u64 fields of a range ioctl's struct (the trace line). */
static void trace_ioctl(int fd, unsigned int cmd, const char *name, void *arg, int ret, int err)
{
	if (!preload_trace_on)
		return;
	uint64_t a[6];
	size_t size = range_struct_size(preload_ioc_kind(cmd));
	_Static_assert(sizeof(struct sgx_enclave_add_pages) == sizeof(a), "the largest range struct");
	if (size && !read_user(a, arg, size)) {
		/* The program's pointer: it may be bad, the call then failed with EFAULT. */
		preload_trace("ioctl(%d, %s, %p: struct not readable) = %d errno %d", fd, name, arg, ret, err);
		return;
	}
	switch (preload_ioc_kind(cmd)) {
	case IOC_ADD_PAGES:
		preload_trace("ioctl(%d, %s, offset %lx length %lx flags %lx) = %d errno %d, count %lx", fd, name,
			      (unsigned long)a[1], (unsigned long)a[2], (unsigned long)a[4], ret, err,
			      (unsigned long)a[5]);
		return;
	case IOC_RESTRICT:
	case IOC_MODIFY_TYPES:
		preload_trace("ioctl(%d, %s, offset %lx length %lx value %lx) = %d errno %d, result %lu count %lx", fd,
			      name, (unsigned long)a[0], (unsigned long)a[1], (unsigned long)a[2], ret, err,
			      (unsigned long)a[3], (unsigned long)a[4]);
		return;
	case IOC_REMOVE_PAGES:
	case IOC_AUGMENT:
		preload_trace("ioctl(%d, %s, offset %lx length %lx) = %d errno %d, count %lx", fd, name,
			      (unsigned long)a[0], (unsigned long)a[1], ret, err,
			      (unsigned long)a[preload_ioc_kind(cmd) == IOC_AUGMENT ? 3 : 2]);
		return;
	default:
		preload_trace("ioctl(%d, %s) = %d errno %d", fd, name, ret, err);
		return;
	}
}

/*
 * PROVISION names the provision file by a descriptor, which may be a dup of
 * a provision fd: the driver model knows it by its primary.  Only the low
 * 32 bits are the descriptor (Linux takes an unsigned int).  A struct that
 * cannot be read goes to the driver as it is: its copy fails there, with
 * EFAULT, where Linux's does.
 */
static void *provision_arg(void *arg, struct sgx_enclave_provision *copy)
{
	if (!read_user(copy, arg, sizeof(*copy)))
		return arg;
	unsigned int n = (unsigned int)copy->fd;
	struct preload_fd p;
	if (n <= INT32_MAX && preload_fd_get((int)n, &p))
		copy->fd = (uint64_t)p.primary;
	else if (n <= INT32_MAX && preload_fd_hidden((int)n))
		copy->fd = UINT32_MAX; /* a number the program closed: no file, as for any closed fd */
	return copy;
}

static int dev_ioctl(int fd, const struct preload_fd *d, unsigned int cmd, void *arg)
{
	const char *name = preload_ioc_name(cmd);
	if (d->stale) {
		static int once;
		preload_msg_once(&once,
				 "ioctl %s on a device fd inherited through fork or execve: the enclave is not in "
				 "this process (not modelled), ENODEV",
				 name ? name : "(unknown)");
		errno = ENODEV;
		return -1;
	}
	if (vfs_ioctl(cmd))
		return REAL(ioctl)(fd, cmd, arg);
	if (!name) {
		static int once;
		preload_msg_once(&once, "ioctl %lx on %s is not an SGX driver ioctl: ENOTTY, as Linux",
				 (unsigned long)cmd,
				 d->dev == PRELOAD_DEV_PROVISION ? "/dev/sgx_provision" : "/dev/sgx_enclave");
	} else if (preload_ioc_kind(cmd) == IOC_OTHER) {
		static int once;
		preload_msg_once(&once, "%s belongs to /dev/sgx_vepc (KVM), which is not modelled: ENOTTY", name);
	}
	struct sgx_enclave_provision prov;
	if (cmd == SGX_IOC_ENCLAVE_PROVISION)
		arg = provision_arg(arg, &prov);
	int ret = sgxemu_ioctl(d->primary, cmd, arg);
	int err = ret < 0 ? errno : 0;
	trace_ioctl(fd, cmd, name ? name : "unknown", arg, ret, err);
	errno = err;
	return ret;
}

int ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (SELF_CALL())
		return REAL(ioctl)(fd, cmd, arg);
	struct preload_fd d;
	/* The system call takes an unsigned int command: the upper half of the caller's is dropped. */
	if (preload_fd_get(fd, &d))
		return dev_ioctl(fd, &d, (unsigned int)cmd, arg);
	if (preload_fd_hidden(fd)) {
		errno = EBADF;
		return -1;
	}
	return REAL(ioctl)(fd, cmd, arg);
}

/* ---- close and dup --------------------------------------------------------------------------- */

int close(int fd)
{
	if (SELF_CALL())
		return REAL(close)(fd);
	if (fd < 0 || !__atomic_load_n(&open_primaries, __ATOMIC_RELAXED))
		return REAL(close)(fd);
	pthread_mutex_lock(&fd_lock);
	if (is_hidden(fd)) {
		pthread_mutex_unlock(&fd_lock);
		errno = EBADF;
		return -1;
	}
	if ((size_t)fd >= n_recs || !recs[fd].used) {
		pthread_mutex_unlock(&fd_lock);
		return REAL(close)(fd);
	}
	struct rec r = recs[fd];
	int rel = rec_drop(fd);
	if (fd == r.primary && rel < 0) {
		/* Dups are still open: the number stays reserved for the file until the last one goes. */
		hidden[fd] = true;
		pthread_mutex_unlock(&fd_lock);
		preload_trace("close(%d): the device file stays open for its dups", fd);
		return 0;
	}
	pthread_mutex_unlock(&fd_lock);
	if (fd != r.primary)
		REAL(close)(fd);
	if (rel >= 0)
		release(rel, r.stale);
	else
		preload_trace("close(%d)", fd);
	return 0;
}

/*
 * newfd now refers to the file of oldfd (after a successful dup); record it
 * if oldfd is ours.
 */
static void dup_done(int oldfd, int newfd)
{
	struct preload_fd d;
	if (newfd < 0 || !preload_fd_get(oldfd, &d))
		return;
	pthread_mutex_lock(&fd_lock);
	if (rec_add(newfd, d.primary, d.dev, d.accmode, d.stale) != 0)
		preload_msg("out of memory recording fd %d as a copy of a device fd", newfd);
	pthread_mutex_unlock(&fd_lock);
	preload_trace("dup(%d) = %d", oldfd, newfd);
}

/*
 * dup2/dup3 are about to replace newfd.  If it is one of ours, forget it
 * first (releasing the file if it was its last fd).  Return: false if the
 * call must fail with EBADF (oldfd is a number the program closed).
 */
static bool dup_target(int oldfd, int newfd)
{
	if (!__atomic_load_n(&open_primaries, __ATOMIC_RELAXED))
		return true;
	if (preload_fd_hidden(oldfd)) {
		errno = EBADF;
		return false;
	}
	if (oldfd == newfd)
		return true;
	pthread_mutex_lock(&fd_lock);
	if (newfd < 0 || (size_t)newfd >= n_recs || !recs[newfd].used) {
		bool h = is_hidden(newfd);
		pthread_mutex_unlock(&fd_lock);
		if (h) {
			static int once;
			preload_msg_once(&once,
					 "dup2 onto fd %d, which the program closed while copies of that device "
					 "fd are open: not modelled, EBUSY",
					 newfd);
			errno = EBUSY;
			return false;
		}
		return true;
	}
	struct rec r = recs[newfd];
	int rel = rec_drop(newfd);
	if (newfd == r.primary && rel < 0) {
		/* Its file lives on in copies, but the number is its key in the driver model. */
		static int once;
		preload_msg_once(&once,
				 "dup2 onto device fd %d while copies of it are open: not modelled, the copies stop "
				 "working",
				 newfd);
		for (size_t i = 0; i < n_recs; i++)
			if (recs[i].used && recs[i].primary == newfd)
				recs[i].stale = true;
		refs[newfd] = 0;
		open_primaries--;
		rel = newfd;
	}
	pthread_mutex_unlock(&fd_lock);
	/* Releasing a primary closes newfd itself; dup2 then finds the number free. */
	if (rel >= 0)
		release(rel, r.stale);
	return true;
}

int dup(int fd)
{
	if (SELF_CALL())
		return REAL(dup)(fd);
	if (preload_fd_hidden(fd)) {
		errno = EBADF;
		return -1;
	}
	int n = REAL(dup)(fd);
	dup_done(fd, n);
	return n;
}

int dup2(int oldfd, int newfd)
{
	if (SELF_CALL())
		return REAL(dup2)(oldfd, newfd);
	if (!dup_target(oldfd, newfd))
		return -1;
	int n = REAL(dup2)(oldfd, newfd);
	if (oldfd != newfd)
		dup_done(oldfd, n);
	return n;
}

int dup3(int oldfd, int newfd, int flags)
{
	if (SELF_CALL())
		return REAL(dup3)(oldfd, newfd, flags);
	if (oldfd != newfd && !dup_target(oldfd, newfd))
		return -1;
	int n = REAL(dup3)(oldfd, newfd, flags);
	dup_done(oldfd, n);
	return n;
}

static int fcntl_common(int fd, int cmd, void *arg, bool self)
{
	if (!self && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
		if (preload_fd_hidden(fd)) {
			errno = EBADF;
			return -1;
		}
		int n = REAL(fcntl)(fd, cmd, arg);
		dup_done(fd, n);
		return n;
	}
	return REAL(fcntl)(fd, cmd, arg);
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(fd, cmd, arg, SELF_CALL());
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(fd, cmd, arg, SELF_CALL());
}
