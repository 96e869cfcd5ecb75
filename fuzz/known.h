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
 * Fixed (sgx_file_ioctl and sgx_ioctl take an unsigned int command;
 * sgxemu_ioctl and the preload library's ioctl drop the upper half); the
 * switch stays to exclude the case again.  It was: ioctl(2) takes an
 * unsigned int command: Linux drops the upper 32 bits of the caller's
 * unsigned long, sgxemu_ioctl/sgx_file_ioctl compared all 64 (SGX_IOC_* |
 * 1 << 32 gave ENOTTY instead of the ioctl).  While 1, no command with
 * upper bits is generated.
 */
#ifndef FZ_FOUND_IOCTL_CMD_UPPER_BITS
#define FZ_FOUND_IOCTL_CMD_UPPER_BITS 0
#endif

/*
 * Fixed (sgxk_mprotect checks in do_mprotect_pkey's order:
 * PROT_GROWSDOWN/UP, the alignment, a zero length, the end, then prot,
 * PROT_SEM allowed); the switch stays to exclude the case again.  It was:
 * mprotect refused (EINVAL) every protection with bits beyond R/W/X, for
 * any address, before looking whether the range was an enclave's:
 * sgxk_mprotect checked prot first and sgxemu_mprotect returned its error.
 * Linux accepts PROT_SEM, strips PROT_GROWSDOWN/UP (EINVAL only without a
 * grows-down VMA), and checks the alignment, a zero length (0) and an
 * overflowing end (ENOMEM) before prot.  While 1, mprotect is generated
 * with R/W/X only.
 */
#ifndef FZ_FOUND_MPROTECT_PROT_FIRST
#define FZ_FOUND_MPROTECT_PROT_FIRST 0
#endif

/*
 * Fixed (sgxemu_open keeps the access mode; sgx_file_mmap checks
 * FMODE_WRITE and FMODE_READ where do_mmap does, and a shared mapping of a
 * file not open for writing has no VM_MAYWRITE, which sgxk_mprotect
 * checks); the switch stays to exclude the case again.  It was: the
 * embedding API ignored the access mode of sgxemu_open: a device opened
 * O_RDONLY could be mapped PROT_WRITE, one opened O_WRONLY mapped at all,
 * where Linux's do_mmap refuses both (EACCES: no FMODE_WRITE / FMODE_READ;
 * mprotect adding PROT_WRITE: EACCES, no VM_MAYWRITE).  The preload library
 * honours the mode (docs/preload.md).  While 1, fuzz_sequence opens the
 * devices O_RDWR only.
 */
#ifndef FZ_FOUND_EMBED_OPEN_MODE
#define FZ_FOUND_EMBED_OPEN_MODE 0
#endif

/*
 * Fixed (sgx_file_mmap makes the checks of sys_mmap, ksys_mmap_pgoff,
 * do_mmap and get_unmapped_area in their order before the driver's); the
 * switch stays to exclude the case again.  It was: sgx_file_mmap checked in
 * its own order and skipped do_mmap's generic checks, so a call Linux
 * refuses early got another errno: e.g. MAP_PRIVATE with a length above
 * TASK_SIZE was EINVAL (sgx's get_unmapped_area) where Linux gives ENOMEM
 * (get_unmapped_area's length check comes first).  While 1, when Linux
 * refuses an mmap of the device before mmap_region, any errno is accepted;
 * the call must still fail and map nothing.
 */
#ifndef FZ_FOUND_MMAP_CHECK_ORDER
#define FZ_FOUND_MMAP_CHECK_ORDER 0
#endif

/*
 * Fixed (sgx_file_mmap ignores protection bits beyond R/W/X); the switch
 * stays to exclude the case again.  It was: sgx_file_mmap refused (EINVAL)
 * protection bits beyond R/W/X (PROT_SEM, PROT_GROWSDOWN, undefined bits);
 * Linux's mmap ignores them (do_mmap has no check; calc_vm_prot_bits drops
 * them).  While 1, device mmaps are generated with R/W/X only.
 */
#ifndef FZ_FOUND_MMAP_PROT_BITS
#define FZ_FOUND_MMAP_PROT_BITS 0
#endif

/*
 * Fixed (sgx_file_mmap checks the offset, MAP_HUGETLB, MAP_GROWSDOWN and
 * MAP_SHARED_VALIDATE's flags where Linux does, and places a mapping
 * without MAP_FIXED with the host's MAP_32BIT); the switch stays to exclude
 * the case again.  It was: sgx_file_mmap did not look at what do_mmap
 * refuses for any file: an offset that is not page aligned (EINVAL) or
 * whose page index overflows (EOVERFLOW), MAP_HUGETLB (EINVAL),
 * MAP_GROWSDOWN (EINVAL), flags outside LEGACY_MAP_MASK with
 * MAP_SHARED_VALIDATE (EOPNOTSUPP); and it dropped MAP_32BIT (the mapping
 * could end above 2 GiB).  Such calls succeeded.  While 1, device mmaps are
 * generated without them.
 */
#ifndef FZ_FOUND_MMAP_FLAGS_IGNORED
#define FZ_FOUND_MMAP_FLAGS_IGNORED 0
#endif

/*
 * Fixed (sgxk_munmap makes do_mas_munmap's checks before it removes
 * anything); the switch stays to exclude the case again.  It was: munmap
 * whose length Linux refuses (addr + len beyond TASK_SIZE: EINVAL, nothing
 * unmapped) still unmapped the enclave VMAs in [addr, addr + len):
 * sgxemu_munmap let sgxk_munmap remove them (and their host mappings)
 * before the host's munmap failed with EINVAL.  While 1, no such munmap is
 * generated.
 */
#ifndef FZ_FOUND_MUNMAP_EINVAL_UNMAPS
#define FZ_FOUND_MUNMAP_EINVAL_UNMAPS 0
#endif

/*
 * Fixed (for MAP_FIXED, sgx_file_mmap unmaps the range, enclave and host
 * mappings alike, before it returns sgx_encl_may_map's EACCES); the switch
 * stays to exclude the case again.  It was: a MAP_FIXED mmap of the device
 * that sgx_mmap refuses (EACCES) left the mappings it would have replaced
 * in place; Linux 6.1's mmap_region has unmapped the range before it calls
 * the driver, so they are gone (and an enclave whose last reference they
 * were is released).  While 1, no refused MAP_FIXED mmap over an existing
 * mapping is generated.
 */
#ifndef FZ_FOUND_MMAP_FIXED_REFUSED_KEEPS_OLD
#define FZ_FOUND_MMAP_FIXED_REFUSED_KEEPS_OLD 0
#endif

/*
 * Fixed (isolate() takes encl_get_unless_zero and drops the pages of an
 * enclave whose count reached zero from the LRU; encl_release then frees
 * every page); the switch stays to exclude the case again.  It was: use
 * after free between the reclaimer and enclave teardown (two threads):
 * isolate() (reclaim.c) took encl_get() on a page's enclave whose last
 * reference another thread had just dropped (refs 0, encl_release
 * running): encl_release skipped the isolated pages (lru_del failed) and
 * freed the enclave, then reclaim_pages locked e->lock and called
 * vma_zap_page on the freed enclave.  Linux takes kref_get_unless_zero
 * here and drops pages of an enclave being freed.  While 1, with two
 * threads, no op that drops an enclave's last reference runs before both
 * threads are done.
 */
#ifndef FZ_FOUND_RECLAIM_RELEASE_RACE
#define FZ_FOUND_RECLAIM_RELEASE_RACE 0
#endif

/*
 * Fixed (PROVISION, now in ioctl.c, looks up the low 32 bits; so does the
 * preload library when it translates a dup'ed descriptor); the switch
 * stays to exclude the case again.  It was: SGX_IOC_ENCLAVE_PROVISION:
 * Linux passes the u64 fd to sgx_set_attribute(..., unsigned int
 * attribute_fd), so only its low 32 bits name the file; fd_is_provision
 * compared all 64 (a provision fd with upper bits set gave EINVAL instead
 * of 0).  While 1, the fd is generated without upper bits.
 */
#ifndef FZ_FOUND_PROVISION_FD_UPPER_BITS
#define FZ_FOUND_PROVISION_FD_UPPER_BITS 0
#endif

/*
 * Fixed (the type is checked in encl_modify_types, after which the ioctl
 * copies the struct back whatever it returned); the switch stays to
 * exclude the case again.  It was: MODIFY_TYPES with a page type other
 * than TCS or TRIM: Linux refuses it inside sgx_enclave_modify_types and
 * sgx_ioc_enclave_modify_types still copies the struct back, so a
 * read-only struct gives EFAULT; the emulator returned EINVAL before any
 * copy.  While 1, such a call is not generated with a struct that cannot
 * be written.
 */
#ifndef FZ_FOUND_MODIFY_TYPES_BAD_TYPE_NO_COPY
#define FZ_FOUND_MODIFY_TYPES_BAD_TYPE_NO_COPY 0
#endif

/*
 * Fixed (ADD_PAGES copies the whole struct back); the switch stays to
 * exclude the case again.  It was: ADD_PAGES copied only `count` back
 * (copy_to_user of 8 bytes at offset 40); Linux copies the whole struct
 * back (48 bytes), so a struct whose first bytes are read-only and whose
 * count is writable gives EFAULT on Linux (pages added) and gave success
 * here.  While 1, ADD_PAGES is not generated with such a struct.
 */
#ifndef FZ_FOUND_ADD_PAGES_COPIES_COUNT_ONLY
#define FZ_FOUND_ADD_PAGES_COPIES_COUNT_ONLY 0
#endif

/*
 * Fixed (sgx_file_mmap refuses a range beyond TASK_SIZE with ENOMEM and one
 * below mmap_min_addr with EPERM, as get_unmapped_area, before it maps
 * anything); the switch stays to exclude the case again.  It was: MAP_FIXED
 * mmap of the device did not check that [addr, addr + len) lies in the user
 * address space: Linux refuses addr + len beyond TASK_SIZE (ENOMEM,
 * get_unmapped_area) and addresses below mmap_min_addr without
 * CAP_SYS_RAWIO (EPERM).  sgx_file_mmap went on: before INIT host_map's
 * mmap failed and host_mmap aborted the process ("mapping enclave range
 * 0x7fffffffe000+0x4000: Cannot allocate memory"); a length that wraps
 * (addr + len < addr) created a VMA whose end lay below its start and the
 * call succeeded.  While 1, no such call is generated.
 */
#ifndef FZ_FOUND_MMAP_FIXED_RANGE_UNCHECKED
#define FZ_FOUND_MMAP_FIXED_RANGE_UNCHECKED 0
#endif

/*
 * Fixed (sgxemu_mmap gives a mapping of anything else to sgxk_mmap_other,
 * which drops the enclave VMAs a MAP_FIXED host mapping replaced); the
 * switch stays to exclude the case again.  It was: sgxemu_mmap of anything
 * but a device fd (MAP_ANONYMOUS, another file) with MAP_FIXED over an
 * enclave mapping replaced the host mapping but the driver kept its VMA:
 * the enclave stayed referenced (its EPC pages stayed after the fd was
 * closed) and later mprotect/munmap calls there went to the driver.  Linux
 * replaces the VMA (and drops its reference); the preload library unmaps
 * the enclave mapping first (docs/preload.md).  While 1, fuzz_sequence
 * generates no such call over an enclave mapping.
 */
#ifndef FZ_FOUND_EMBED_FOREIGN_MMAP_OVER_ENCLAVE
#define FZ_FOUND_EMBED_FOREIGN_MMAP_OVER_ENCLAVE 0
#endif

/*
 * Fixed (sgxk_mprotect refuses a page-rounded end at or below addr with
 * ENOMEM before it looks at any VMA); the switch stays to exclude the case
 * again.  It was: mprotect whose page-rounded end wraps past 2^64 (len =
 * -0x4000 and the like) gave 0 when an enclave mapping spanned the wrapped
 * end and addr: sgxk_mprotect computed end = addr + len without Linux's
 * check (end <= start: ENOMEM).  While 1, no mprotect with a wrapping end
 * is generated.
 */
#ifndef FZ_FOUND_MPROTECT_END_WRAPS
#define FZ_FOUND_MPROTECT_END_WRAPS 0
#endif

/*
 * Fixed (sgxk_mprotect walks the range VMA by VMA as do_mprotect_pkey:
 * enclave VMAs itself, the parts between them through the host's mprotect,
 * a hole ENOMEM, the VMAs before a refusal left changed); the switch stays
 * to exclude the case again.  It was: mprotect over a range that meets an
 * enclave mapping was not Linux's VMA-by-VMA walk (do_mprotect_pkey): holes
 * in the range were ignored (Linux: ENOMEM), host mappings in the range
 * were left unchanged (sgxemu_mprotect returned sgxk_mprotect's answer
 * without calling the host), and a refusal (EACCES) at a later VMA left the
 * earlier ones unchanged where Linux has already changed them.  While 1,
 * mprotect meeting an enclave mapping is generated only over a range made
 * of enclave mappings alone that Linux changes whole or not at all.
 */
#ifndef FZ_FOUND_MPROTECT_NOT_PER_VMA
#define FZ_FOUND_MPROTECT_NOT_PER_VMA 0
#endif

/*
 * Fixed (emu_parse_size wants a digit first); the switch stays to exclude
 * the case again.  It was: emu_parse_size (SGXEMU_EPC_SIZE) accepted what
 * strtoull accepts before the number: leading blanks and a sign.  "+5" and
 * " 5" were 5, and " -1" (a blank, then the minus its '-' check missed)
 * was 2^64 - 1; emu_int.h's grammar has none of them.  While 1,
 * fuzz_sigstruct does not give it text that starts with a blank or a sign.
 */
#ifndef FZ_FOUND_PARSE_SIZE_SIGN
#define FZ_FOUND_PARSE_SIZE_SIGN 0
#endif

/*
 * Fixed (crypto_rsa_from_pem runs OpenSSL's private key check and a
 * sign-and-verify with the key, and refuses with "RSA private key is
 * inconsistent: REASON"); the switch
 * stays to exclude the case again.  It was: crypto_rsa_from_pem accepted
 * an inconsistent private key: it checked the shape (RSA, 3072 bits, e =
 * 3) but not the key itself (n = p*q, d, the CRT values), so a PEM with
 * one base64 character changed inside p was taken, and what it signed did
 * not verify (`sgxemu sign` then wrote a SIGSTRUCT EINIT refuses with
 * SGX_INVALID_SIGNATURE; `openssl pkey -check` says "n does not equal p
 * q").  While 1, fuzz_sigstruct does not check that an accepted key's
 * signatures verify.
 */
#ifndef FZ_FOUND_PEM_KEY_NOT_CHECKED
#define FZ_FOUND_PEM_KEY_NOT_CHECKED 0
#endif

/*
 * Fixed (the library makes such a call through sgxemu_mmap, where the host
 * maps first and the enclave mappings it replaced go after); the switch
 * stays to exclude the case again.  It was: preload: mmap(MAP_FIXED)
 * of something else than a device fd over an enclave mapping unmapped the
 * enclave mapping first (docs/preload.md) even when the call then failed
 * before mapping anything: with a closed fd (EBADF), an unaligned offset
 * (EINVAL) or a file without mmap (/dev/null: ENODEV) Linux changes
 * nothing, the library had removed the enclave mapping.  While 1,
 * fuzz_preload generates such calls over enclave mappings only as
 * anonymous mappings Linux makes.
 */
#ifndef FZ_FOUND_PRELOAD_FIXED_UNMAPS_FIRST
#define FZ_FOUND_PRELOAD_FIXED_UNMAPS_FIRST 0
#endif

/*
 * Fixed (src/preload/fd.c reads the struct with process_vm_readv, for
 * PROVISION and for the trace line; an unreadable one goes to the driver,
 * which answers EFAULT); the switch stays to exclude the case again.  It
 * was: preload: SGX_IOC_ENCLAVE_PROVISION read the caller's struct with
 * memcpy (dev_ioctl, to translate a dup'ed provision fd), so a
 * NULL-but-not-NULL, unmapped or non-canonical arg crashed the program
 * (SIGSEGV) where Linux returns EFAULT.  (trace_ioctl did the same for the
 * range ioctls' structs under --trace.)  While 1, fuzz_preload gives
 * PROVISION only readable structs.
 */
#ifndef FZ_FOUND_PRELOAD_PROVISION_DEREF
#define FZ_FOUND_PRELOAD_PROVISION_DEREF 0
#endif

#endif /* SGXEMU_FUZZ_KNOWN_H */
