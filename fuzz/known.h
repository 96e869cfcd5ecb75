/* SPDX-License-Identifier: MIT */
/*
 * Known defects the fuzz targets step around until their fixes land.  Each
 * switch is 1 while the defect is open; set it to 0 here (or build with
 * -DFZ_...=0 in c_args) to check the behaviour again: the reproducers in
 * fuzz/regressions/ then fail until the fix is in.  docs/fuzzing.md says
 * how to add one.
 */
#ifndef SGXEMU_FUZZ_KNOWN_H
#define SGXEMU_FUZZ_KNOWN_H

/*
 * Fixed (the host's MAP_FIXED_NOREPLACE answers in sgx_file_mmap); the
 * switch stays to exclude the case again.  It was: MAP_FIXED_NOREPLACE over
 * a host mapping replaced it (sgx_file_mmap only looked for enclave VMAs).
 * While 1, no MAP_FIXED_NOREPLACE is generated
 * whose range meets a host mapping (a canary or an anonymous mapping of the
 * sequence); over enclave VMAs and holes it is still checked (EEXIST).
 */
#ifndef FZ_KNOWN_NOREPLACE_OVER_HOST
#define FZ_KNOWN_NOREPLACE_OVER_HOST 0
#endif

/*
 * Fixed (encl_create refuses 2^63 with EINVAL and sizes beyond the CPU's
 * largest enclave with EIO before allocating); the switch stays to exclude
 * the case again.  It was: CREATE with a SECS.SIZE the emulated physical
 * space cannot hold (the reported case: 2^63): encl_create allocates the page-chunk table before it
 * knows the window failed, a calloc of SIZE/2^18 bytes (beyond ASan's limit
 * from 2^58, beyond libFuzzer's -malloc_limit_mb from about 2^49), and the
 * call then fails with ENOMEM where Linux fails ECREATE (EIO; EINVAL from
 * shmem_file_setup for 2^63).  While 1, no CREATE with SIZE > 2^40 (the
 * default physical space) is generated.
 */
#ifndef FZ_KNOWN_CREATE_HUGE_SIZE
#define FZ_KNOWN_CREATE_HUGE_SIZE 0
#endif

/*
 * A fault loop under a tiny EPC.  Not reachable from these targets: no
 * operation runs enclave code or touches enclave memory from the host, so
 * the driver's fault handler never runs (copies go through
 * process_vm_readv and fail with EFAULT).  If an operation that faults is
 * added, keep the EPC at 256 KiB or more while this is 1.
 */
#ifndef FZ_KNOWN_TINY_EPC_FAULT_LOOP
#define FZ_KNOWN_TINY_EPC_FAULT_LOOP 1
#endif

/* ---- Found by these targets (reproducers in fuzz/regressions/TARGET/) ---- */

/*
 * ioctl(2) takes an unsigned int command: Linux drops the upper 32 bits of
 * the caller's unsigned long, sgxemu_ioctl/sgx_file_ioctl compare all 64
 * (SGX_IOC_* | 1 << 32 gives ENOTTY instead of the ioctl).  While open, no
 * command with upper bits is generated.
 */
#ifndef FZ_FOUND_IOCTL_CMD_UPPER_BITS
#define FZ_FOUND_IOCTL_CMD_UPPER_BITS 1
#endif

/*
 * mprotect refuses (EINVAL) every protection with bits beyond R/W/X, for
 * any address, before looking whether the range is an enclave's:
 * sgxk_mprotect checks prot first and sgxemu_mprotect returns its error.
 * Linux accepts PROT_SEM, strips PROT_GROWSDOWN/UP (EINVAL only without a
 * grows-down VMA), and checks the alignment, a zero length (0) and an
 * overflowing end (ENOMEM) before prot.  While open, mprotect is generated
 * with R/W/X only.
 */
#ifndef FZ_FOUND_MPROTECT_PROT_FIRST
#define FZ_FOUND_MPROTECT_PROT_FIRST 1
#endif

/*
 * The embedding API ignores the access mode of sgxemu_open: a device opened
 * O_RDONLY can be mapped PROT_WRITE, one opened O_WRONLY mapped at all,
 * where Linux's do_mmap refuses both (EACCES: no FMODE_WRITE / FMODE_READ;
 * mprotect adding PROT_WRITE: EACCES, no VM_MAYWRITE).  The preload
 * library honours the mode (docs/preload.md).  While open, fuzz_sequence
 * opens the devices O_RDWR only.
 */
#ifndef FZ_FOUND_EMBED_OPEN_MODE
#define FZ_FOUND_EMBED_OPEN_MODE 1
#endif

/*
 * sgx_file_mmap checks in its own order and skips do_mmap's generic
 * checks, so a call Linux refuses early gets another errno: e.g.
 * MAP_PRIVATE with a length above TASK_SIZE is EINVAL (sgx's
 * get_unmapped_area) where Linux gives ENOMEM (get_unmapped_area's length
 * check comes first).  While open, when Linux refuses an mmap of the device
 * before mmap_region, any errno is accepted; the call must still fail and
 * map nothing.
 */
#ifndef FZ_FOUND_MMAP_CHECK_ORDER
#define FZ_FOUND_MMAP_CHECK_ORDER 1
#endif

/*
 * sgx_file_mmap refuses (EINVAL) protection bits beyond R/W/X (PROT_SEM,
 * PROT_GROWSDOWN, undefined bits); Linux's mmap ignores them (do_mmap has
 * no check; calc_vm_prot_bits drops them).  While open, device mmaps are
 * generated with R/W/X only.
 */
#ifndef FZ_FOUND_MMAP_PROT_BITS
#define FZ_FOUND_MMAP_PROT_BITS 1
#endif

/*
 * sgx_file_mmap does not look at what do_mmap refuses for any file: an
 * offset that is not page aligned (EINVAL) or whose page index overflows
 * (EOVERFLOW), MAP_HUGETLB (EINVAL), MAP_GROWSDOWN (EINVAL), flags outside
 * LEGACY_MAP_MASK with MAP_SHARED_VALIDATE (EOPNOTSUPP); and it drops
 * MAP_32BIT (the mapping may end above 2 GiB).  Such calls succeed.  While
 * open, device mmaps are generated without them.
 */
#ifndef FZ_FOUND_MMAP_FLAGS_IGNORED
#define FZ_FOUND_MMAP_FLAGS_IGNORED 1
#endif

/*
 * munmap whose length Linux refuses (addr + len beyond TASK_SIZE: EINVAL,
 * nothing unmapped) still unmaps the enclave VMAs in [addr, addr + len):
 * sgxemu_munmap lets sgxk_munmap remove them (and their host mappings)
 * before the host's munmap fails with EINVAL.  While open, no such munmap
 * is generated.
 */
#ifndef FZ_FOUND_MUNMAP_EINVAL_UNMAPS
#define FZ_FOUND_MUNMAP_EINVAL_UNMAPS 1
#endif

/*
 * A MAP_FIXED mmap of the device that sgx_mmap refuses (EACCES) leaves the
 * mappings it would have replaced in place; Linux 6.1's mmap_region has
 * unmapped the range before it calls the driver, so they are gone (and an
 * enclave whose last reference they were is released).  While open, no
 * refused MAP_FIXED mmap over an existing mapping is generated.
 */
#ifndef FZ_FOUND_MMAP_FIXED_REFUSED_KEEPS_OLD
#define FZ_FOUND_MMAP_FIXED_REFUSED_KEEPS_OLD 1
#endif

/*
 * Use after free between the reclaimer and enclave teardown (two threads):
 * isolate() (reclaim.c) takes encl_get() on a page's enclave whose last
 * reference another thread has just dropped (refs 0, encl_release running):
 * encl_release skips the isolated pages (lru_del fails) and frees the
 * enclave, then reclaim_pages locks e->lock and calls vma_zap_page on the
 * freed enclave.  Linux takes kref_get_unless_zero here and drops pages of
 * an enclave being freed.  While open, with two threads, no op that drops
 * an enclave's last reference runs before both threads are done.
 */
#ifndef FZ_FOUND_RECLAIM_RELEASE_RACE
#define FZ_FOUND_RECLAIM_RELEASE_RACE 1
#endif

/*
 * SGX_IOC_ENCLAVE_PROVISION: Linux passes the u64 fd to
 * sgx_set_attribute(..., unsigned int attribute_fd), so only its low 32
 * bits name the file; fd_is_provision compares all 64 (a provision fd with
 * upper bits set gives EINVAL instead of 0).  While open, the fd is
 * generated without upper bits.
 */
#ifndef FZ_FOUND_PROVISION_FD_UPPER_BITS
#define FZ_FOUND_PROVISION_FD_UPPER_BITS 1
#endif

/*
 * MODIFY_TYPES with a page type other than TCS or TRIM: Linux refuses it
 * inside sgx_enclave_modify_types and sgx_ioc_enclave_modify_types still
 * copies the struct back, so a read-only struct gives EFAULT; the emulator
 * returns EINVAL before any copy.  While open, such a call is not generated
 * with a struct that cannot be written.
 */
#ifndef FZ_FOUND_MODIFY_TYPES_BAD_TYPE_NO_COPY
#define FZ_FOUND_MODIFY_TYPES_BAD_TYPE_NO_COPY 1
#endif

/*
 * ADD_PAGES copies only `count` back (copy_to_user of 8 bytes at offset
 * 40); Linux copies the whole struct back (48 bytes), so a struct whose
 * first bytes are read-only and whose count is writable gives EFAULT on
 * Linux (pages added) and success here.  While open, ADD_PAGES is not
 * generated with such a struct.
 */
#ifndef FZ_FOUND_ADD_PAGES_COPIES_COUNT_ONLY
#define FZ_FOUND_ADD_PAGES_COPIES_COUNT_ONLY 1
#endif

/*
 * MAP_FIXED mmap of the device does not check that [addr, addr + len) lies
 * in the user address space: Linux refuses addr + len beyond TASK_SIZE
 * (ENOMEM, get_unmapped_area) and addresses below mmap_min_addr without
 * CAP_SYS_RAWIO (EPERM).  sgx_file_mmap goes on: before INIT host_map's
 * mmap fails and host_mmap aborts the process ("mapping enclave range
 * 0x7fffffffe000+0x4000: Cannot allocate memory"); a length that wraps
 * (addr + len < addr) creates a VMA whose end lies below its start and the
 * call succeeds.  While open, no such call is generated.
 */
#ifndef FZ_FOUND_MMAP_FIXED_RANGE_UNCHECKED
#define FZ_FOUND_MMAP_FIXED_RANGE_UNCHECKED 1
#endif

/*
 * sgxemu_mmap of anything but a device fd (MAP_ANONYMOUS, another file)
 * with MAP_FIXED over an enclave mapping replaces the host mapping but the
 * driver keeps its VMA: the enclave stays referenced (its EPC pages stay
 * after the fd is closed) and later mprotect/munmap calls there go to the
 * driver.  Linux replaces the VMA (and drops its reference); the preload
 * library unmaps the enclave mapping first (docs/preload.md).  While open,
 * fuzz_sequence generates no such call over an enclave mapping.
 */
#ifndef FZ_FOUND_EMBED_FOREIGN_MMAP_OVER_ENCLAVE
#define FZ_FOUND_EMBED_FOREIGN_MMAP_OVER_ENCLAVE 1
#endif

/*
 * mprotect whose page-rounded end wraps past 2^64 (len = -0x4000 and the
 * like) gives 0 when an enclave mapping spans the wrapped end and addr:
 * sgxk_mprotect computes end = addr + len without Linux's check (end <=
 * start: ENOMEM).  While open, no mprotect with a wrapping end is
 * generated.
 */
#ifndef FZ_FOUND_MPROTECT_END_WRAPS
#define FZ_FOUND_MPROTECT_END_WRAPS 1
#endif

/*
 * mprotect over a range that meets an enclave mapping is not Linux's
 * VMA-by-VMA walk (do_mprotect_pkey): holes in the range are ignored
 * (Linux: ENOMEM), host mappings in the range are left unchanged
 * (sgxemu_mprotect returns sgxk_mprotect's answer without calling the
 * host), and a refusal (EACCES) at a later VMA leaves the earlier ones
 * unchanged where Linux has already changed them.  While open, mprotect
 * meeting an enclave mapping is generated only over a range made of
 * enclave mappings alone that Linux changes whole or not at all.
 */
#ifndef FZ_FOUND_MPROTECT_NOT_PER_VMA
#define FZ_FOUND_MPROTECT_NOT_PER_VMA 1
#endif

/*
 * emu_parse_size (SGXEMU_EPC_SIZE) accepts what strtoull accepts before the
 * number: leading blanks and a sign.  "+5" and " 5" are 5, and " -1" (a
 * blank, then the minus its '-' check misses) is 2^64 - 1; emu_int.h's
 * grammar has none of them.  While open, fuzz_sigstruct does not give it
 * text that starts with a blank or a sign.
 */
#ifndef FZ_FOUND_PARSE_SIZE_SIGN
#define FZ_FOUND_PARSE_SIZE_SIGN 1
#endif

/*
 * crypto_rsa_from_pem accepts an inconsistent private key: it checks the
 * shape (RSA, 3072 bits, e = 3) but not the key itself (n = p*q, d, the CRT
 * values), so a PEM with one base64 character changed inside p is taken,
 * and what it signs does not verify (`sgxemu sign` then writes a SIGSTRUCT
 * EINIT refuses with SGX_INVALID_SIGNATURE; `openssl pkey -check` says "n
 * does not equal p q").  While open, fuzz_sigstruct does not check that an
 * accepted key's signatures verify.
 */
#ifndef FZ_FOUND_PEM_KEY_NOT_CHECKED
#define FZ_FOUND_PEM_KEY_NOT_CHECKED 1
#endif

/*
 * Preload: mmap(MAP_FIXED) of something else than a device fd over an
 * enclave mapping unmaps the enclave mapping first (docs/preload.md) even
 * when the call then fails before mapping anything: with a closed fd
 * (EBADF), an unaligned offset (EINVAL) or a file without mmap (/dev/null:
 * ENODEV) Linux changes nothing, the library has removed the enclave
 * mapping.  While open, fuzz_preload generates such calls over enclave
 * mappings only as anonymous mappings Linux makes.
 */
#ifndef FZ_FOUND_PRELOAD_FIXED_UNMAPS_FIRST
#define FZ_FOUND_PRELOAD_FIXED_UNMAPS_FIRST 1
#endif

/*
 * Preload: SGX_IOC_ENCLAVE_PROVISION reads the caller's struct with memcpy
 * (dev_ioctl, src/preload/fd.c, to translate a dup'ed provision fd), so a
 * NULL-but-not-NULL, unmapped or non-canonical arg crashes the program
 * (SIGSEGV) where Linux returns EFAULT.  (trace_ioctl does the same for
 * the range ioctls' structs under --trace.)  While open, fuzz_preload
 * gives PROVISION only readable structs.
 */
#ifndef FZ_FOUND_PRELOAD_PROVISION_DEREF
#define FZ_FOUND_PRELOAD_PROVISION_DEREF 1
#endif

#endif /* SGXEMU_FUZZ_KNOWN_H */
