/* SPDX-License-Identifier: MIT */
/*
 * mmap, mprotect and munmap through the embedding API as Linux 6.1 answers
 * them: the generic checks of sys_mmap/do_mmap/get_unmapped_area before the
 * driver's, the file's access mode, do_mprotect_pkey's VMA-by-VMA walk over
 * enclave and host mappings, do_mas_munmap's checks, and host mappings that
 * replace enclave mappings.  Each test runs in its own process, so each
 * starts its own system.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sgxemu/arch.h"
#include "sgxemu/sgxemu.h"

#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

#define PG   4096ULL
#define BASE 0x5a0000000000ULL /* enclaves of these tests: BASE + k * SPAN */
#define SIZE 0x10000ULL	       /* 64 KiB: 16 pages */
#define SPAN 0x100000000ULL

#define RW (PROT_READ | PROT_WRITE)

static uint8_t src_page[4096] __attribute__((aligned(4096)));

static void *at(uint64_t a)
{
	return (void *)(uintptr_t)a;
}

static int dev(int flags)
{
	int fd = sgxemu_open("/dev/sgx_enclave", flags);
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	return fd;
}

/* CREATE a 64-bit debug enclave of SIZE at base. Return: the ioctl's. */
static int create(int fd, uint64_t base)
{
	static _Thread_local struct sgx_secs secs __attribute__((aligned(4096)));
	memset(&secs, 0, sizeof(secs));
	secs.base = base;
	secs.size = SIZE;
	secs.ssa_frame_size = 1;
	secs.miscselect = SGX_MISC_EXINFO;
	secs.attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG;
	secs.xfrm = 3;
	struct sgx_enclave_create c = {.src = (uint64_t)(uintptr_t)&secs};
	return sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_CREATE, &c);
}

/* ADD_PAGES of one regular page at off with permissions perm (SGX_SECINFO_R/W/X). Return: the ioctl's. */
static int add(int fd, uint64_t off, uint64_t perm)
{
	static _Thread_local struct sgx_secinfo si;
	memset(&si, 0, sizeof(si));
	si.flags = SGX_SECINFO_PT(SGX_PT_REG) | perm;
	struct sgx_enclave_add_pages a = {.src = (uint64_t)(uintptr_t)src_page,
					  .offset = off,
					  .length = PG,
					  .secinfo = (uint64_t)(uintptr_t)&si,
					  .flags = SGX_PAGE_MEASURE};
	return sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_ADD_PAGES, &a);
}

/* An enclave file with an enclave at base and the given pages (permissions per page from offset 0). */
static int enclave(uint64_t base, const uint64_t *perm, unsigned n)
{
	int fd = dev(O_RDWR);
	cr_assert_eq(create(fd, base), 0, "CREATE: %s", strerror(errno));
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(add(fd, i * PG, perm[i]), 0, "ADD_PAGES: %s", strerror(errno));
	return fd;
}

static void *map(void *addr, uint64_t len, int prot, int flags, int fd)
{
	return sgxemu_mmap(addr, len, prot, flags, fd, 0);
}

/* sgxemu_mmap failed with e. */
#define assert_map_fails(call, e)                                                                                      \
	do {                                                                                                           \
		errno = 0;                                                                                             \
		void *r_ = (call);                                                                                     \
		cr_assert_eq(r_, MAP_FAILED, "%s gave %p", #call, r_);                                                 \
		cr_assert_eq(errno, e, "%s: %s, expected %s", #call, strerror(errno), strerror(e));                    \
	} while (0)

/* A call returning -1 with errno e. */
#define assert_fails(call, e)                                                                                          \
	do {                                                                                                           \
		errno = 0;                                                                                             \
		int r_ = (call);                                                                                       \
		cr_assert_eq(r_, -1, "%s gave %d", #call, r_);                                                         \
		cr_assert_eq(errno, e, "%s: %s, expected %s", #call, strerror(errno), strerror(e));                    \
	} while (0)

/* The permissions column of the /proc/self/maps line holding addr ("rw-p"), or "" where nothing is mapped. */
static const char *perms(uint64_t addr)
{
	static _Thread_local char out[5];
	char line[512];
	out[0] = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return "?";
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		char p[5];
		if (sscanf(line, "%llx-%llx %4s", &a, &b, p) == 3 && a <= addr && addr < b) {
			memcpy(out, p, 5);
			break;
		}
	}
	fclose(f);
	return out;
}

static bool unmapped(uint64_t a, uint64_t len)
{
	for (uint64_t p = a; p < a + len; p += PG) {
		unsigned char v;
		if (mincore(at(p), PG, &v) == 0 || errno != ENOMEM)
			return false;
	}
	return true;
}

static uint64_t resident(void)
{
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	return s.pages_resident;
}

/* TASK_SIZE of this host: 47-bit user addresses, 56-bit where a mapping at 2^47 can exist. */
static uint64_t task_size(void)
{
	void *hi = at(1ULL << 47);
	void *r = mmap(hi, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	bool la57 = r == hi || (r == MAP_FAILED && errno == EEXIST);
	if (r != MAP_FAILED)
		munmap(r, PG);
	return (1ULL << (la57 ? 56 : 47)) - PG;
}

/* ---- open: the access mode ---- */

TestSuite(mm_open, .timeout = 60);

Test(mm_open, access_mode_decides_what_may_be_mapped)
{
	int ro = dev(O_RDONLY), wo = dev(O_WRONLY), rw = dev(O_RDWR);
	cr_assert_eq(fcntl(ro, F_GETFL) & O_ACCMODE, O_RDONLY);
	cr_assert_eq(fcntl(wo, F_GETFL) & O_ACCMODE, O_WRONLY);
	/* A shared writable mapping needs FMODE_WRITE, any mapping FMODE_READ. */
	assert_map_fails(map(NULL, 2 * PG, RW, MAP_SHARED, ro), EACCES);
	assert_map_fails(map(NULL, 2 * PG, PROT_READ, MAP_SHARED, wo), EACCES);
	assert_map_fails(map(NULL, 2 * PG, PROT_NONE, MAP_SHARED, wo), EACCES);
	/* MAP_SHARED_VALIDATE's flags are checked first. */
	assert_map_fails(map(NULL, 2 * PG, RW, MAP_SHARED_VALIDATE | MAP_SYNC, ro), EOPNOTSUPP);
	/* Read-only is fine, and the mapping never gets write permission (no VM_MAYWRITE). */
	void *p = map(NULL, 2 * PG, PROT_READ, MAP_SHARED, ro);
	cr_assert_neq(p, MAP_FAILED, "%s", strerror(errno));
	assert_fails(sgxemu_mprotect(p, 2 * PG, RW), EACCES);
	cr_assert_eq(sgxemu_mprotect(p, 2 * PG, PROT_NONE), 0);
	void *q = map(NULL, 2 * PG, RW, MAP_SHARED, rw);
	cr_assert_neq(q, MAP_FAILED, "%s", strerror(errno));
	cr_assert_eq(sgxemu_mprotect(q, 2 * PG, PROT_READ), 0);
	cr_assert_eq(sgxemu_mprotect(q, 2 * PG, RW), 0);
	cr_assert_eq(sgxemu_munmap(p, 2 * PG), 0);
	cr_assert_eq(sgxemu_munmap(q, 2 * PG), 0);
	sgxemu_close(ro);
	sgxemu_close(wo);
	sgxemu_close(rw);
}

/* ---- mmap: do_mmap's checks, in its order ---- */

TestSuite(mm_mmap, .timeout = 60);

Test(mm_mmap, generic_checks_come_before_the_drivers)
{
	int fd = dev(O_RDWR);
	int pfd = sgxemu_open("/dev/sgx_provision", O_RDWR);
	cr_assert_geq(pfd, 0);
	/* get_unmapped_area's length check comes before sgx_get_unmapped_area's MAP_PRIVATE. */
	assert_map_fails(map(NULL, 1ULL << 47, PROT_READ, MAP_PRIVATE, fd), ENOMEM);
	assert_map_fails(map(NULL, 0 - PG, PROT_READ, MAP_SHARED, fd), ENOMEM);
	assert_map_fails(map(NULL, 0, PROT_READ, MAP_PRIVATE, fd), EINVAL);
	assert_map_fails(map(at(BASE + 1), PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd), EINVAL);
	/* /dev/sgx_provision has no mmap, found only after every generic check. */
	assert_map_fails(map(NULL, 1ULL << 47, PROT_READ, MAP_SHARED, pfd), ENOMEM);
	assert_map_fails(map(NULL, PG, PROT_READ, 0xF, pfd), EINVAL);
	assert_map_fails(map(at(BASE + 1), PG, PROT_READ, MAP_SHARED | MAP_FIXED, pfd), EINVAL);
	assert_map_fails(map(NULL, PG, PROT_READ, MAP_PRIVATE, pfd), ENODEV);
	assert_map_fails(map(NULL, PG, PROT_READ, MAP_SHARED, pfd), ENODEV);
	/* The enclave file: an unknown type is EINVAL after the generic checks. */
	assert_map_fails(map(NULL, PG, PROT_READ, 0xF, fd), EINVAL);
	sgxemu_close(pfd);
	sgxemu_close(fd);
}

Test(mm_mmap, protection_bits_beyond_rwx_are_ignored)
{
	int fd = dev(O_RDWR);
	void *p = map(NULL, 2 * PG, PROT_READ | PROT_SEM | PROT_GROWSDOWN | 0x10, MAP_SHARED, fd);
	cr_assert_neq(p, MAP_FAILED, "%s", strerror(errno));
	void *q = map(NULL, 2 * PG, PROT_READ | PROT_GROWSUP, MAP_SHARED, fd);
	cr_assert_neq(q, MAP_FAILED, "%s", strerror(errno));
	cr_assert_eq(sgxemu_munmap(p, 2 * PG), 0);
	cr_assert_eq(sgxemu_munmap(q, 2 * PG), 0);
	sgxemu_close(fd);
}

Test(mm_mmap, offset_and_flags_do_mmap_refuses_for_any_file)
{
	int fd = dev(O_RDWR);
	assert_map_fails(sgxemu_mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 1), EINVAL);
	assert_map_fails(sgxemu_mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, (off_t)(0 - PG)), EOVERFLOW);
	assert_map_fails(map(NULL, PG, PROT_READ, MAP_SHARED | MAP_HUGETLB, fd), EINVAL);
	assert_map_fails(map(NULL, PG, PROT_READ, MAP_SHARED | MAP_GROWSDOWN, fd), EINVAL);
	assert_map_fails(map(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, fd), EOPNOTSUPP);
	/* MAP_SHARED drops flags it does not know; MAP_SHARED_VALIDATE takes the legacy ones. */
	void *p = map(NULL, PG, PROT_READ, MAP_SHARED | MAP_SYNC, fd);
	cr_assert_neq(p, MAP_FAILED, "%s", strerror(errno));
	void *q = map(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | MAP_NORESERVE, fd);
	cr_assert_neq(q, MAP_FAILED, "%s", strerror(errno));
	/* A page-aligned offset is accepted (the driver finds pages by address). */
	void *o = sgxemu_mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, (off_t)(16 * PG));
	cr_assert_neq(o, MAP_FAILED, "%s", strerror(errno));
	/* MAP_32BIT: below 2 GiB. */
	void *low = map(NULL, 4 * PG, PROT_READ, MAP_SHARED | MAP_32BIT, fd);
	cr_assert_neq(low, MAP_FAILED, "%s", strerror(errno));
	cr_assert_leq((uint64_t)(uintptr_t)low + 4 * PG, 0x80000000ULL, "MAP_32BIT mapping at %p", low);
	cr_assert_eq(sgxemu_munmap(p, PG), 0);
	cr_assert_eq(sgxemu_munmap(q, PG), 0);
	cr_assert_eq(sgxemu_munmap(o, PG), 0);
	cr_assert_eq(sgxemu_munmap(low, 4 * PG), 0);
	sgxemu_close(fd);
}

Test(mm_mmap, fixed_range_outside_user_space_is_refused)
{
	int fd = dev(O_RDWR);
	uint64_t top = task_size();
	/* Beyond TASK_SIZE: ENOMEM, the process goes on. */
	assert_map_fails(map(at(top - 2 * PG), 4 * PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd), ENOMEM);
	assert_map_fails(map(at(top), PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd), ENOMEM);
	/* A length that wraps is no mapping. */
	assert_map_fails(map(at(BASE), 0 - 4 * PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd), ENOMEM);
	cr_assert(unmapped(BASE, 4 * PG));
	/* Below mmap_min_addr the host's own answer for this process (EPERM without CAP_SYS_RAWIO). */
	void *h = mmap(at(PG), PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	int herr = h == MAP_FAILED ? errno : 0;
	if (h != MAP_FAILED)
		munmap(h, PG);
	errno = 0;
	void *p = map(at(PG), PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd);
	if (herr) {
		cr_assert_eq(p, MAP_FAILED);
		cr_assert_eq(errno, herr, "%s, the host says %s", strerror(errno), strerror(herr));
	} else {
		cr_assert_eq(p, at(PG), "%s", strerror(errno));
		cr_assert_eq(sgxemu_munmap(p, PG), 0);
	}
	sgxemu_close(fd);
}

/*
 * A MAP_FIXED mapping the driver refuses has unmapped the range first, as
 * Linux's mmap_region does: enclave mappings, host mappings, and an enclave
 * whose last reference such a mapping was.
 */
Test(mm_mmap, fixed_mapping_the_driver_refuses_leaves_the_range_unmapped)
{
	uint64_t b1 = BASE, b2 = BASE + SIZE;
	int fd1 = enclave(b1, NULL, 0);
	cr_assert_eq(add(fd1, SIZE - PG, SGX_SECINFO_R), 0); /* the last page of enclave 1: read-only */
	int fd2 = enclave(b2, (const uint64_t[]){SGX_SECINFO_R | SGX_SECINFO_W, SGX_SECINFO_R | SGX_SECINFO_W}, 2);
	cr_assert_eq(map(at(b1 + SIZE - PG), PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd1), at(b1 + SIZE - PG));
	cr_assert_eq(map(at(b2), 2 * PG, RW, MAP_SHARED | MAP_FIXED, fd2), at(b2));
	cr_assert_eq(sgxemu_close(fd2), 0);
	uint64_t before = resident();
	/* A host mapping right after. */
	cr_assert_eq(mmap(at(b2 + 2 * PG), PG, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), at(b2 + 2 * PG));
	/* Writable over enclave 1's read-only page: refused, and all of [b1 + SIZE - PG, b2 + 3 pages) is gone. */
	assert_map_fails(map(at(b1 + SIZE - PG), 4 * PG, RW, MAP_SHARED | MAP_FIXED, fd1), EACCES);
	cr_assert(unmapped(b1 + SIZE - PG, 4 * PG), "maps: %s %s %s", perms(b1 + SIZE - PG), perms(b2),
		  perms(b2 + 2 * PG));
	cr_assert_lt(resident(), before, "enclave 2 went with its last mapping (%llu pages, %llu before)",
		     (unsigned long long)resident(), (unsigned long long)before);
	sgxemu_close(fd1);
	cr_assert_eq(resident(), 0);
}

/* A host mapping over an enclave mapping replaces it: the enclave loses that reference. */
Test(mm_mmap, host_mapping_over_an_enclave_mapping_replaces_it)
{
	int fd = enclave(BASE, (const uint64_t[]){SGX_SECINFO_R | SGX_SECINFO_W}, 1);
	cr_assert_eq(map(at(BASE), SIZE, RW, MAP_SHARED | MAP_FIXED, fd), at(BASE));
	uint8_t *a = sgxemu_mmap(at(BASE), 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	cr_assert_eq(a, at(BASE), "%s", strerror(errno));
	/* mprotect and munmap there reach the anonymous mapping now. */
	cr_assert_eq(sgxemu_mprotect(a, 2 * PG, RW), 0, "%s", strerror(errno));
	a[5000] = 7;
	cr_assert_str_eq(perms(BASE), "rw-p");
	/* The rest of the enclave mapping stays the driver's until it goes too. */
	cr_assert_eq(sgxemu_close(fd), 0);
	cr_assert_gt(resident(), 0);
	cr_assert_eq(sgxemu_munmap(at(BASE + 2 * PG), SIZE - 2 * PG), 0);
	cr_assert_eq(resident(), 0, "no mapping refers to the enclave: it is gone");
	cr_assert_eq(a[5000], 7);
	cr_assert_eq(sgxemu_munmap(a, 2 * PG), 0);
}

/* ---- munmap ---- */

TestSuite(mm_munmap, .timeout = 60);

Test(mm_munmap, length_linux_refuses_unmaps_nothing)
{
	int fd = enclave(BASE, (const uint64_t[]){SGX_SECINFO_R | SGX_SECINFO_W}, 1);
	cr_assert_eq(map(at(BASE), SIZE, RW, MAP_SHARED | MAP_FIXED, fd), at(BASE));
	uint64_t top = task_size();
	assert_fails(sgxemu_munmap(at(BASE), top), EINVAL);
	assert_fails(sgxemu_munmap(at(BASE), 0 - PG), EINVAL);
	assert_fails(sgxemu_munmap(at(BASE + 1), PG), EINVAL);
	assert_fails(sgxemu_munmap(at(BASE), 0), EINVAL);
	cr_assert_str_eq(perms(BASE), "---s", "the enclave mapping is still there: %s", perms(BASE));
	cr_assert_str_eq(perms(BASE + SIZE - PG), "---s");
	cr_assert_eq(sgxemu_close(fd), 0);
	cr_assert_gt(resident(), 0);
	cr_assert_eq(sgxemu_munmap(at(BASE), SIZE), 0);
	cr_assert_eq(resident(), 0);
}

/* ---- mprotect: do_mprotect_pkey ---- */

TestSuite(mm_mprotect, .timeout = 60);

Test(mm_mprotect, range_checks_come_before_prot)
{
	int fd = enclave(BASE, (const uint64_t[]){SGX_SECINFO_R}, 1);
	cr_assert_eq(map(at(BASE), SIZE, PROT_READ, MAP_SHARED | MAP_FIXED, fd), at(BASE));
	cr_assert_eq(sgxemu_mprotect(at(BASE), PG, PROT_READ | PROT_SEM), 0, "%s", strerror(errno));
	cr_assert_eq(sgxemu_mprotect(at(BASE), 0, 0x10), 0, "a zero length before prot: %s", strerror(errno));
	assert_fails(sgxemu_mprotect(at(BASE + 1), PG, 0x10), EINVAL);
	assert_fails(sgxemu_mprotect(at(BASE + 8 * PG), 0 - 4 * PG, 0x10), ENOMEM);
	assert_fails(sgxemu_mprotect(at(BASE), PG, 0x10), EINVAL);
	/* PROT_GROWSDOWN/UP: never both; an enclave mapping grows neither way. */
	assert_fails(sgxemu_mprotect(at(BASE), PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP), EINVAL);
	assert_fails(sgxemu_mprotect(at(BASE), PG, PROT_READ | PROT_GROWSDOWN), EINVAL);
	assert_fails(sgxemu_mprotect(at(BASE), PG, PROT_READ | PROT_GROWSUP), EINVAL);
	/* Above the page's ceiling. */
	assert_fails(sgxemu_mprotect(at(BASE), PG, RW), EACCES);
	sgxemu_close(fd);
}

Test(mm_mprotect, end_that_wraps_is_enomem)
{
	int fd = dev(O_RDWR);
	cr_assert_eq(map(at(BASE), SIZE, RW, MAP_SHARED | MAP_FIXED, fd), at(BASE));
	/* The mapping spans both addr and the wrapped end. */
	assert_fails(sgxemu_mprotect(at(BASE + 8 * PG), 0 - 4 * PG, PROT_READ), ENOMEM);
	assert_fails(sgxemu_mprotect(at(BASE + 8 * PG), (size_t)-1, PROT_READ), ENOMEM);
	sgxemu_close(fd);
	cr_assert_eq(sgxemu_munmap(at(BASE), SIZE), 0);
}

Test(mm_mprotect, walk_goes_vma_by_vma_over_enclave_and_host_mappings)
{
	int fd = enclave(BASE, (const uint64_t[]){SGX_SECINFO_R, SGX_SECINFO_R | SGX_SECINFO_W}, 2);
	/* [host R][host R][enclave: R page][enclave: RW page][hole][host R] */
	uint64_t h = BASE - 2 * PG;
	cr_assert_eq(mmap(at(h), 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), at(h));
	cr_assert_eq(map(at(BASE), 2 * PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd), at(BASE));
	cr_assert_eq(mmap(at(BASE + 3 * PG), PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		     at(BASE + 3 * PG));
	/* Allowed everywhere: the host mappings change too. */
	cr_assert_eq(sgxemu_mprotect(at(h), 3 * PG, PROT_NONE), 0, "%s", strerror(errno));
	cr_assert_str_eq(perms(h), "---p");
	cr_assert_eq(sgxemu_mprotect(at(h), 3 * PG, PROT_READ), 0, "%s", strerror(errno));
	cr_assert_str_eq(perms(h + PG), "r--p");
	/* Refused at the enclave's R page: the host mapping before it has changed already. */
	assert_fails(sgxemu_mprotect(at(h), 4 * PG, RW), EACCES);
	cr_assert_str_eq(perms(h), "rw-p", "the VMAs before the refusal keep the change: %s", perms(h));
	/* A hole: ENOMEM, and the host mapping after it is not reached. */
	assert_fails(sgxemu_mprotect(at(BASE + PG), 3 * PG, RW), ENOMEM);
	cr_assert_str_eq(perms(BASE + 3 * PG), "r--p");
	/* A hole first. */
	assert_fails(sgxemu_mprotect(at(BASE + 2 * PG), 2 * PG, RW), ENOMEM);
	cr_assert_str_eq(perms(BASE + 3 * PG), "r--p");
	/* PROT_GROWSDOWN: the first mapping ending above addr must grow down; the enclave's never does. */
	assert_fails(sgxemu_mprotect(at(h), 3 * PG, PROT_READ | PROT_GROWSDOWN), EINVAL);
	cr_assert_str_eq(perms(h), "rw-p");
	munmap(at(h), 2 * PG);
	assert_fails(sgxemu_mprotect(at(h), 3 * PG, PROT_READ | PROT_GROWSDOWN), EINVAL);
	/* A grows-down mapping before it changes from its start, and the walk goes on into the enclave's. */
	cr_assert_eq(mmap(at(h), 2 * PG, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0), at(h));
	cr_assert_eq(sgxemu_mprotect(at(h + PG), 2 * PG, PROT_NONE | PROT_GROWSDOWN), 0, "%s", strerror(errno));
	cr_assert_str_eq(perms(h), "---p");
	cr_assert_eq(sgxemu_mprotect(at(h + PG), 3 * PG, RW | PROT_GROWSDOWN), -1, "the walk reached the R page");
	cr_assert_eq(errno, EACCES);
	cr_assert_str_eq(perms(h), "rw-p");
	sgxemu_close(fd);
	munmap(at(h), 2 * PG);
	munmap(at(BASE + 3 * PG), PG);
	cr_assert_eq(sgxemu_munmap(at(BASE), 2 * PG), 0);
}

/* ---- several threads ---- */

/*
 * Each thread builds an enclave of its own and goes through the cases above
 * over and over, the calls of all threads interleaving on the one VMA list:
 * a refused MAP_FIXED leaves a hole, a refused munmap nothing, mprotect
 * walks enclave, hole and host mappings, a host mapping replaces an enclave
 * one.  At the end no mapping refers to any enclave, so no page is left.
 */
#define THREADS 4
#define ROUNDS	200

static struct {
	atomic_uint failures;
	char msg[256];
} mt;

/* Record the first failure of any thread (Criterion's asserts belong to the test's own thread). */
#define mt_check(cond, ...)                                                                                            \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			if (atomic_fetch_add(&mt.failures, 1) == 0)                                                    \
				snprintf(mt.msg, sizeof(mt.msg), __VA_ARGS__);                                         \
			return NULL;                                                                                   \
		}                                                                                                      \
	} while (0)

static void *round_trip(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	uint64_t b = BASE + (i + 1) * SPAN, top = task_size();
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	mt_check(fd >= 0, "open: %s", strerror(errno));
	mt_check(create(fd, b) == 0 && add(fd, 0, SGX_SECINFO_R) == 0 &&
		     add(fd, PG, SGX_SECINFO_R | SGX_SECINFO_W) == 0,
		 "thread %u: building the enclave: %s", i, strerror(errno));
	for (unsigned r = 0; r < ROUNDS; r++) {
		void *p = map(at(b), SIZE, PROT_READ, MAP_SHARED | MAP_FIXED, fd);
		mt_check(p == at(b), "thread %u round %u: mmap: %s", i, r, strerror(errno));
		p = map(at(b), 2 * PG, RW, MAP_SHARED | MAP_FIXED, fd);
		mt_check(p == MAP_FAILED && errno == EACCES, "thread %u round %u: mmap RW over an R page: %p %s", i, r,
			 p, strerror(errno));
		mt_check(unmapped(b, 2 * PG), "thread %u round %u: the refused range is still mapped", i, r);
		int e = sgxemu_munmap(at(b + 2 * PG), top);
		mt_check(e == -1 && errno == EINVAL, "thread %u round %u: munmap beyond TASK_SIZE: %d %s", i, r, e,
			 strerror(errno));
		mt_check(!strcmp(perms(b + 2 * PG), "---s"), "thread %u round %u: after a refused munmap: %s", i, r,
			 perms(b + 2 * PG));
		/* [hole][hole][enclave...]: ENOMEM at once. */
		e = sgxemu_mprotect(at(b), 3 * PG, PROT_READ);
		mt_check(e == -1 && errno == ENOMEM, "thread %u round %u: mprotect from a hole: %d %s", i, r, e,
			 strerror(errno));
		p = map(at(b + PG), PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd);
		mt_check(p == at(b + PG), "thread %u round %u: mmap: %s", i, r, strerror(errno));
		e = sgxemu_mprotect(at(b + PG), 2 * PG, RW);
		mt_check(e == 0, "thread %u round %u: mprotect over two enclave mappings: %s", i, r, strerror(errno));
		/* An anonymous mapping replaces the enclave's; mprotect then reaches the host. */
		p = sgxemu_mmap(at(b), SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		mt_check(p == at(b), "thread %u round %u: anonymous mmap: %s", i, r, strerror(errno));
		e = sgxemu_mprotect(at(b), SIZE, RW);
		mt_check(e == 0 && !strcmp(perms(b + PG), "rw-p"),
			 "thread %u round %u: mprotect of the anonymous mapping: %s %s", i, r, strerror(errno),
			 perms(b + PG));
	}
	mt_check(sgxemu_close(fd) == 0, "close: %s", strerror(errno));
	mt_check(sgxemu_munmap(at(b), SIZE) == 0, "munmap: %s", strerror(errno));
	return NULL;
}

TestSuite(mm_threads, .timeout = 120);

Test(mm_threads, mapping_calls_from_several_threads)
{
	pthread_t th[THREADS];
	for (unsigned i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, round_trip, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	cr_assert_eq(atomic_load(&mt.failures), 0, "%u failures, the first: %s", atomic_load(&mt.failures), mt.msg);
	cr_assert_eq(resident(), 0, "%llu enclave pages left", (unsigned long long)resident());
}
