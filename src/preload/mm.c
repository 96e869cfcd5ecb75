/* SPDX-License-Identifier: MIT */
/*
 * The mmap family: mappings of a device fd go to the driver model;
 * mprotect, munmap, mremap and madvise of ranges mapped from a device fd
 * behave as on Linux (spec/linux-driver.md §4, the generic mm rules for a
 * VM_PFNMAP|VM_IO|VM_DONTEXPAND mapping); everything else goes to libc.
 *
 * A set of the ranges the program mapped from device fds is the fast test
 * that keeps ordinary mprotect/munmap calls away from the model's locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload.h"
#include "sgxemu/sgxemu.h"

#define PAGE 4096UL

struct range {
	uintptr_t lo, hi;
	bool writable; /* the fd allowed PROT_WRITE on a shared mapping (opened O_RDWR) */
};

static pthread_mutex_t mm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct range *ranges;
static size_t n_ranges, cap_ranges;

static uintptr_t page_up(size_t len)
{
	return (len + PAGE - 1) & ~(PAGE - 1);
}

void preload_mm_after_fork(void)
{
	pthread_mutex_init(&mm_lock, NULL);
}

bool preload_mm_enclave(uintptr_t addr, size_t len)
{
	if (!__atomic_load_n(&n_ranges, __ATOMIC_RELAXED))
		return false;
	uintptr_t end = addr + page_up(len ? len : 1);
	bool hit = false;
	pthread_mutex_lock(&mm_lock);
	for (size_t i = 0; i < n_ranges && !hit; i++)
		hit = ranges[i].lo < end && addr < ranges[i].hi;
	pthread_mutex_unlock(&mm_lock);
	return hit;
}

/* Does [addr, end) intersect a range whose fd did not allow writing? */
static bool mm_readonly(uintptr_t addr, uintptr_t end)
{
	bool hit = false;
	pthread_mutex_lock(&mm_lock);
	for (size_t i = 0; i < n_ranges && !hit; i++)
		hit = !ranges[i].writable && ranges[i].lo < end && addr < ranges[i].hi;
	pthread_mutex_unlock(&mm_lock);
	return hit;
}

/* Cut [lo, hi) out of the set (mm_lock held). */
static void cut(uintptr_t lo, uintptr_t hi)
{
	for (size_t i = 0; i < n_ranges;) {
		struct range *r = &ranges[i];
		if (r->hi <= lo || hi <= r->lo) {
			i++;
			continue;
		}
		if (r->lo < lo && hi < r->hi) {
			/* Split: the tail becomes a new range (room was made by the caller). */
			ranges[n_ranges++] = (struct range){.lo = hi, .hi = r->hi, .writable = r->writable};
			r->hi = lo;
			i++;
		} else if (r->lo < lo) {
			r->hi = lo;
			i++;
		} else if (hi < r->hi) {
			r->lo = hi;
			i++;
		} else {
			*r = ranges[--n_ranges];
		}
	}
}

/* Room for two more ranges (mm_lock held).  Return: 0, or -1. */
static int reserve(void)
{
	if (n_ranges + 2 <= cap_ranges)
		return 0;
	size_t n = cap_ranges ? cap_ranges * 2 : 16;
	struct range *r = realloc(ranges, n * sizeof(*r));
	if (!r)
		return -1;
	ranges = r;
	cap_ranges = n;
	return 0;
}

void preload_mm_add(uintptr_t addr, size_t len, bool writable)
{
	uintptr_t hi = addr + page_up(len);
	pthread_mutex_lock(&mm_lock);
	if (reserve() == 0) {
		cut(addr, hi);
		ranges[n_ranges] = (struct range){.lo = addr, .hi = hi, .writable = writable};
		__atomic_store_n(&n_ranges, n_ranges + 1, __ATOMIC_RELAXED);
	} else {
		preload_msg("out of memory recording the enclave mapping %p: it is treated as ordinary memory",
			    (void *)addr);
	}
	pthread_mutex_unlock(&mm_lock);
}

void preload_mm_remove(uintptr_t addr, size_t len)
{
	pthread_mutex_lock(&mm_lock);
	if (reserve() == 0)
		cut(addr, addr + page_up(len));
	pthread_mutex_unlock(&mm_lock);
}

/* ---- mmap ------------------------------------------------------------------------- */

static void prot_str(int prot, char out[4])
{
	out[0] = prot & PROT_READ ? 'r' : '-';
	out[1] = prot & PROT_WRITE ? 'w' : '-';
	out[2] = prot & PROT_EXEC ? 'x' : '-';
	out[3] = 0;
}

static void *dev_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, const struct preload_fd *d)
{
	char p[4];
	prot_str(prot, p);
	if (d->stale) {
		static int once;
		preload_msg_once(&once, "mmap of a device fd inherited through fork or execve: the enclave is not in "
					"this process (not modelled), ENODEV");
		errno = ENODEV;
		return MAP_FAILED;
	}
	/* Generic mm rules: a mapping needs a readable file, a writable shared one a writable file. */
	if (d->accmode == O_WRONLY ||
	    ((prot & PROT_WRITE) && (flags & MAP_TYPE) != MAP_PRIVATE && d->accmode != O_RDWR)) {
		preload_trace("mmap(%p, %lx, %s, flags %lx, %d) = -1 EACCES (fd access mode)", addr, (unsigned long)len,
			      p, (unsigned long)flags, fd);
		errno = EACCES;
		return MAP_FAILED;
	}
	void *r = sgxemu_mmap(addr, len, prot, flags, d->primary, off);
	int err = r == MAP_FAILED ? errno : 0;
	if (r != MAP_FAILED) {
		preload_mm_add((uintptr_t)r, len, d->accmode == O_RDWR);
		preload_count_mmap();
	}
	preload_trace("mmap(%p, %lx, %s, flags %lx, %d) = %p errno %d", addr, (unsigned long)len, p,
		      (unsigned long)flags, fd, r, err);
	errno = err;
	return r;
}

static void *mmap_common(void *addr, size_t len, int prot, int flags, int fd, off_t off, bool self)
{
	if (self)
		return REAL(mmap)(addr, len, prot, flags, fd, off);
	struct preload_fd d;
	if (!(flags & MAP_ANONYMOUS) && preload_fd_get(fd, &d))
		return dev_mmap(addr, len, prot, flags, fd, off, &d);
	if (!(flags & MAP_ANONYMOUS) && preload_fd_hidden(fd)) {
		errno = EBADF;
		return MAP_FAILED;
	}
	/*
	 * MAP_FIXED over an enclave mapping: the embedding API has the host make
	 * the mapping, then drops the enclave mappings it replaced, as Linux
	 * replaces VMAs; a call the host refuses changes nothing.
	 */
	if ((flags & MAP_FIXED) && !preload_detached && preload_mm_enclave((uintptr_t)addr, len)) {
		void *r = sgxemu_mmap(addr, len, prot, flags, fd, off);
		int err = r == MAP_FAILED ? errno : 0;
		if (r != MAP_FAILED)
			preload_mm_remove((uintptr_t)r, len);
		preload_trace("mmap(%p, %lx) with MAP_FIXED over an enclave mapping = %p errno %d", addr,
			      (unsigned long)len, r, err);
		errno = err;
		return r;
	}
	return REAL(mmap)(addr, len, prot, flags, fd, off);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_common(addr, len, prot, flags, fd, off, SELF_CALL());
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap_common(addr, len, prot, flags, fd, (off_t)off, SELF_CALL());
}

/* ---- mprotect, munmap ------------------------------------------------------------------- */

int mprotect(void *addr, size_t len, int prot)
{
	if (SELF_CALL() || preload_detached || !preload_mm_enclave((uintptr_t)addr, len))
		return REAL(mprotect)(addr, len, prot);
	char p[4];
	prot_str(prot, p);
	if ((prot & PROT_WRITE) && mm_readonly((uintptr_t)addr, (uintptr_t)addr + page_up(len))) {
		/* A shared mapping of a file opened read-only never gets VM_MAYWRITE. */
		preload_trace("mprotect(%p, %lx, %s) = -1 EACCES (fd opened read-only)", addr, (unsigned long)len, p);
		errno = EACCES;
		return -1;
	}
	int r = sgxemu_mprotect(addr, len, prot);
	int err = r ? errno : 0;
	preload_trace("mprotect(%p, %lx, %s) = %d errno %d", addr, (unsigned long)len, p, r, err);
	errno = err;
	return r;
}

static int enclave_munmap(void *addr, size_t len)
{
	int r = sgxemu_munmap(addr, len);
	int err = r ? errno : 0;
	if (r == 0)
		preload_mm_remove((uintptr_t)addr, len);
	preload_trace("munmap(%p, %lx) = %d errno %d", addr, (unsigned long)len, r, err);
	errno = err;
	return r;
}

int munmap(void *addr, size_t len)
{
	if (SELF_CALL() || preload_detached || !preload_mm_enclave((uintptr_t)addr, len))
		return REAL(munmap)(addr, len);
	return enclave_munmap(addr, len);
}

/* ---- mremap, madvise ----------------------------------------------------------------------- */

/*
 * An enclave mapping is VM_PFNMAP|VM_DONTEXPAND: it cannot grow (EFAULT)
 * nor be kept while moved (MREMAP_DONTUNMAP: EINVAL); shrinking unmaps the
 * tail.  Moving it is not modelled: on Linux the PFN mapping would leave
 * its enclave addresses, where no page could ever be found again.
 */
static void *enclave_mremap(void *old, size_t oldlen, size_t newlen, int flags, void *newaddr)
{
	static int once_grow, once_move;
	uintptr_t o = page_up(oldlen), n = page_up(newlen);
	if ((uintptr_t)old & (PAGE - 1) || !n || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (flags & MREMAP_DONTUNMAP) {
		preload_msg_once(&once_move,
				 "mremap of the enclave mapping %p: EINVAL, as Linux for a VM_PFNMAP "
				 "mapping (MREMAP_DONTUNMAP)",
				 old);
		errno = EINVAL;
		return MAP_FAILED;
	}
	if ((flags & MREMAP_FIXED) && newaddr != old) {
		preload_msg_once(&once_move,
				 "mremap moving the enclave mapping %p to %p is not modelled (Linux would move the "
				 "mapping away from its enclave addresses): EINVAL",
				 old, newaddr);
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (n > o) {
		preload_msg_once(&once_grow,
				 "mremap growing the enclave mapping %p: EFAULT, as Linux for a "
				 "VM_DONTEXPAND mapping",
				 old);
		errno = EFAULT;
		return MAP_FAILED;
	}
	if (n < o) {
		if (enclave_munmap((char *)old + n, o - n) != 0)
			return MAP_FAILED;
	}
	preload_trace("mremap(%p, %lx, %lx) = %p", old, (unsigned long)oldlen, (unsigned long)newlen, old);
	return old;
}

void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	void *newaddr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		newaddr = va_arg(ap, void *);
		va_end(ap);
	}
	if (SELF_CALL() || preload_detached || !preload_mm_enclave((uintptr_t)old, oldlen ? oldlen : 1))
		return REAL(mremap)(old, oldlen, newlen, flags, newaddr);
	return enclave_mremap(old, oldlen, newlen, flags, newaddr);
}

int madvise(void *addr, size_t len, int advice)
{
	if (SELF_CALL() || preload_detached || !preload_mm_enclave((uintptr_t)addr, len))
		return REAL(madvise)(addr, len, advice);
	switch (advice) {
	case MADV_NORMAL:
	case MADV_RANDOM:
	case MADV_SEQUENTIAL:
	case MADV_WILLNEED:
	case MADV_DONTFORK:
	case MADV_DONTDUMP:
		/* Hints Linux accepts on the mapping; the model has nothing to do (it is DONTFORK, DONTDUMP). */
		preload_trace("madvise(%p, %lx, %d) = 0", addr, (unsigned long)len, advice);
		return 0;
	case MADV_DONTNEED:
	case MADV_FREE:
	case MADV_DOFORK:
	case MADV_DODUMP:
		/* Refused for VM_PFNMAP / VM_IO / VM_DONTEXPAND mappings. */
		preload_trace("madvise(%p, %lx, %d) = -1 EINVAL", addr, (unsigned long)len, advice);
		errno = EINVAL;
		return -1;
	default: {
		static int once;
		preload_msg_once(&once, "madvise advice %d on the enclave mapping %p is not modelled: EINVAL", advice,
				 addr);
		errno = EINVAL;
		return -1;
	}
	}
}

/* ---- process_vm_readv / process_vm_writev ---------------------------------------------------- */

static bool iov_enclave(const struct iovec *iov, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		if (iov[i].iov_len && preload_mm_enclave((uintptr_t)iov[i].iov_base, iov[i].iov_len))
			return true;
	return false;
}

static int once_vm;

ssize_t process_vm_readv(pid_t pid, const struct iovec *local, unsigned long nl, const struct iovec *remote,
			 unsigned long nr, unsigned long flags)
{
	if (!SELF_CALL() && !preload_detached && pid == getpid() && iov_enclave(remote, nr)) {
		preload_msg_once(&once_vm, "process_vm_readv/writev of enclave memory is not modelled (Linux reads a "
					   "debug enclave with EDBGRD): EFAULT");
		errno = EFAULT;
		return -1;
	}
	return REAL(process_vm_readv)(pid, local, nl, remote, nr, flags);
}

ssize_t process_vm_writev(pid_t pid, const struct iovec *local, unsigned long nl, const struct iovec *remote,
			  unsigned long nr, unsigned long flags)
{
	if (!SELF_CALL() && !preload_detached && pid == getpid() && iov_enclave(remote, nr)) {
		preload_msg_once(&once_vm, "process_vm_readv/writev of enclave memory is not modelled (Linux writes a "
					   "debug enclave with EDBGWR): EFAULT");
		errno = EFAULT;
		return -1;
	}
	return REAL(process_vm_writev)(pid, local, nl, remote, nr, flags);
}
