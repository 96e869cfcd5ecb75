/* SPDX-License-Identifier: MIT */
/*
 * libsgxemu-preload.so: unmodified SGX programs on sgxemu (docs/preload.md).
 *
 * The library interposes the libc calls a program makes on a Linux machine
 * with SGX (open/stat of the device nodes, ioctl, the mmap family, close,
 * fork, execve, sigaction, getauxval) and routes those about enclaves to the
 * embedding API (src/emu), which runs the driver model (src/kernel) under
 * native execution (src/exec).  Everything else goes to the real libc
 * functions, found with dlsym(RTLD_NEXT).
 *
 * Calls that the emulator itself makes (the driver model maps enclave
 * pages, exec installs its signal handlers) reach the same interposed
 * symbols; a wrapper recognises them by its return address, which lies in
 * this library, and passes them straight to libc (preload_self_call).
 */
#ifndef SGXEMU_PRELOAD_H
#define SGXEMU_PRELOAD_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <ucontext.h>

#define PRELOAD_HIDDEN __attribute__((visibility("hidden")))

/* Environment settings of the library itself (the emulator's are in include/sgxemu/ext.h). */
#define SGXEMU_ENV_TRACE      "SGXEMU_TRACE"	  /* 1: one line per ioctl, mmap, fault on stderr */
#define SGXEMU_ENV_PRELOAD    "SGXEMU_PRELOAD"	  /* path of this library (kept for children) */
#define SGXEMU_ENV_STALE_FDS  "SGXEMU_STALE_FDS"  /* device fds inherited through execve */
#define SGXEMU_ENV_CPUID_MODE "SGXEMU_CPUID_MODE" /* "header": never enable CPUID faulting */

/* ---- the real libc functions ---------------------------------------------- */

struct stat64;
struct statx;

struct preload_real {
	int (*open)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*close)(int);
	int (*ioctl)(int, unsigned long, ...);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*stat)(const char *, struct stat *);
	int (*lstat)(const char *, struct stat *);
	int (*fstat)(int, struct stat *);
	int (*fstatat)(int, const char *, struct stat *, int);
	int (*statx)(int, const char *, int, unsigned, struct statx *);
	int (*xstat)(int, const char *, struct stat *);
	int (*lxstat)(int, const char *, struct stat *);
	int (*fxstat)(int, int, struct stat *);
	int (*fxstatat)(int, int, const char *, struct stat *, int);
	int (*access)(const char *, int);
	int (*faccessat)(int, const char *, int, int);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*mprotect)(void *, size_t, int);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*madvise)(void *, size_t, int);
	pid_t (*fork)(void);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	unsigned long (*getauxval)(unsigned long);
	ssize_t (*getxattr)(const char *, const char *, void *, size_t);
	ssize_t (*lgetxattr)(const char *, const char *, void *, size_t);
	ssize_t (*fgetxattr)(int, const char *, void *, size_t);
	ssize_t (*listxattr)(const char *, char *, size_t);
	ssize_t (*llistxattr)(const char *, char *, size_t);
	ssize_t (*flistxattr)(int, char *, size_t);
	void *(*fopen)(const char *, const char *);
	ssize_t (*process_vm_readv)(pid_t, const struct iovec *, unsigned long, const struct iovec *, unsigned long,
				    unsigned long);
	ssize_t (*process_vm_writev)(pid_t, const struct iovec *, unsigned long, const struct iovec *, unsigned long,
				     unsigned long);
};

extern PRELOAD_HIDDEN struct preload_real preload_real;

/* Resolve the real function `name` into preload_real.name on first use (dlsym(RTLD_NEXT)). */
#define REAL(name) REAL_AS(name, #name)
/* The same for a field whose libc symbol has another name (__xstat ...). */
#define REAL_AS(name, symbol)                                                                                          \
	(__atomic_load_n(&preload_real.name, __ATOMIC_ACQUIRE)                                                         \
	     ? preload_real.name                                                                                       \
	     : (preload_resolve((void **)&preload_real.name, symbol), preload_real.name))
PRELOAD_HIDDEN void preload_resolve(void **slot, const char *name);

/* Was the caller (a return address) code of this library?  Then a wrapper passes the call to libc. */
PRELOAD_HIDDEN bool preload_self_call(const void *ret);
#define SELF_CALL() preload_self_call(__builtin_return_address(0))

/* ---- state ------------------------------------------------------------------ */

/*
 * A process forked from one that had started the emulator: its enclaves are
 * the parent's (not mapped here, MADV_DONTFORK), the model's memory is a
 * stale copy, so every device call fails with a message (docs/preload.md).
 */
extern PRELOAD_HIDDEN volatile int preload_detached;
extern PRELOAD_HIDDEN bool preload_trace_on;

/*
 * Start the emulator of this process (idempotent): take over the fault
 * signals (signal.c), then sgxemu_start() with the environment's settings.
 * Return: 0, or -1 with errno ENODEV after a message naming the problem.
 */
PRELOAD_HIDDEN int preload_system_up(void);
/* In a child after fork: detach from the parent's emulator (idempotent). */
PRELOAD_HIDDEN void preload_after_fork_child(void);
/* In a child after fork: the library's locks, which another thread of the parent may have held. */
PRELOAD_HIDDEN void preload_mm_after_fork(void);
PRELOAD_HIDDEN void preload_signals_after_fork(void);
/* The machine of the started system (NULL before), captured when the driver model is created. */
PRELOAD_HIDDEN struct hw_machine *preload_machine(void);

/* ---- messages ------------------------------------------------------------- */

/*
 * A line on stderr, formatted without malloc or stdio (usable in signal
 * handlers): %s, %d (int), %u (unsigned), %lu (unsigned long), %lx/%p (hex,
 * 0x-prefixed), %c.
 */
PRELOAD_HIDDEN void preload_msg(const char *fmt, ...);
PRELOAD_HIDDEN void preload_vmsg(const char *fmt, va_list ap);
/* The same, only the first time for this `once` flag (things we do not model). */
PRELOAD_HIDDEN void preload_msg_once(int *once, const char *fmt, ...);
/* A trace line ("sgxemu: [SECONDS.MICROSECONDS TID] ...", CLOCK_MONOTONIC), when SGXEMU_TRACE is set. */
PRELOAD_HIDDEN void preload_trace(const char *fmt, ...);

/* ---- fd.c ------------------------------------------------------------------ */

enum preload_dev {
	PRELOAD_DEV_NONE,
	PRELOAD_DEV_ENCLAVE,
	PRELOAD_DEV_PROVISION,
	PRELOAD_DEV_DIR /* /dev/sgx */
};
/* Which device node does path name (exactly as open(2) would find it)? */
PRELOAD_HIDDEN enum preload_dev preload_dev_of_path(const char *path);
/* Fill st as stat(2) of the node describes it on a machine with SGX. */
PRELOAD_HIDDEN void preload_dev_stat(enum preload_dev dev, struct stat *st);

/*
 * A program fd that stands for a device file: the emulator's fd (the
 * "primary", the key of src/emu's table), the device, and the access mode
 * the program opened it with.  Return: true and *out, or false.
 */
struct preload_fd {
	int primary;
	enum preload_dev dev;
	int accmode; /* O_RDONLY / O_WRONLY / O_RDWR */
	bool stale;  /* inherited through fork or execve: the enclave is not here */
};
PRELOAD_HIDDEN bool preload_fd_get(int fd, struct preload_fd *out);
/* A device fd number the program closed while dups of it stay open (calls on it: EBADF). */
PRELOAD_HIDDEN bool preload_fd_hidden(int fd);
/* After fork, in the child: every device fd becomes stale. */
PRELOAD_HIDDEN void preload_fd_detach(void);
/* For execve: the device fds that survive the exec, as "3,5" (buf empty if none). */
PRELOAD_HIDDEN void preload_fd_inherited(char *buf, size_t len);
/* At start: fds named by SGXEMU_STALE_FDS are device fds of the process before execve. */
PRELOAD_HIDDEN void preload_fd_init_stale(const char *list);

/* ---- mm.c ------------------------------------------------------------------ */

/* Does [addr, addr+len) intersect a range the program mapped from a device fd? */
PRELOAD_HIDDEN bool preload_mm_enclave(uintptr_t addr, size_t len);
PRELOAD_HIDDEN void preload_mm_add(uintptr_t addr, size_t len, bool writable);
PRELOAD_HIDDEN void preload_mm_remove(uintptr_t addr, size_t len);

/* ---- vdso.c ---------------------------------------------------------------- */

/*
 * The vDSO image's address for AT_SYSINFO_EHDR (0 if it could not be built).  The first call, from any
 * thread or library constructor, builds it and points the auxiliary vector on the stack at it.
 */
PRELOAD_HIDDEN unsigned long preload_vdso_base(void);
/* At load: the same, so that a program walking the auxiliary vector itself finds the image. */
PRELOAD_HIDDEN void preload_vdso_init(void);
/* The process's auxv with AT_SYSINFO_EHDR pointing at the image, in a memfd (for /proc/self/auxv). */
PRELOAD_HIDDEN int preload_auxv_fd(int flags);
/* Is path this process's auxv file (/proc/self/auxv, /proc/<pid>/auxv, /proc/thread-self/auxv)? */
PRELOAD_HIDDEN bool preload_is_auxv_path(const char *path);
/* enter.S: the image's __vdso_sgx_enter_enclave (sgxemu_enter_enclave, or the detached child's answer). */
PRELOAD_HIDDEN int preload_vdso_enter(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
				      unsigned long r8, unsigned long r9, void *run);
/* Its size in bytes (enter.S). */
extern PRELOAD_HIDDEN const uint64_t preload_vdso_enter_size;

/* ---- signal.c ---------------------------------------------------------------- */

/* Install the dispatcher for the signals exec takes (idempotent; before sgxemu_start). */
PRELOAD_HIDDEN void preload_signals_take(void);
/* After sgxemu_start: keep only the signals exec really took. */
PRELOAD_HIDDEN void preload_signals_settle(void);
/* CPUID faulting: the dispatcher emulates CPUID (cpuid.c decides). */
PRELOAD_HIDDEN bool preload_cpuid_trap(ucontext_t *uc);

/* ---- cpuid.c ------------------------------------------------------------------ */

/* Try to enable CPUID faulting for the process (at load). */
PRELOAD_HIDDEN void preload_cpuid_init(void);
extern PRELOAD_HIDDEN bool preload_cpuid_faulting;

/* ---- stats.c ------------------------------------------------------------------- */

enum preload_ioc {
	IOC_CREATE,
	IOC_ADD_PAGES,
	IOC_INIT,
	IOC_PROVISION,
	IOC_RESTRICT,
	IOC_MODIFY_TYPES,
	IOC_REMOVE_PAGES,
	IOC_AUGMENT,
	IOC_OTHER,
	IOC_KINDS
};
/* The name of an ioctl number ("SGX_IOC_ENCLAVE_CREATE"), or NULL. */
PRELOAD_HIDDEN const char *preload_ioc_name(unsigned long cmd);
PRELOAD_HIDDEN enum preload_ioc preload_ioc_kind(unsigned long cmd);
/* A mapping of the device, a fork: counted for --summary (obs.h). */
PRELOAD_HIDDEN void preload_count_mmap(void);
PRELOAD_HIDDEN void preload_count_fork(void);

#endif /* SGXEMU_PRELOAD_H */
