/* SPDX-License-Identifier: MIT */
/*
 * Embedding sgxemu: one emulated SGX2 system per process (the hw CPU model,
 * the Linux driver model and native execution), used through the calls a
 * program makes on Linux: open the device, ioctl, mmap, mprotect, munmap,
 * close, and __vdso_sgx_enter_enclave.
 *
 * Every call returns what the matching system call returns on a Linux
 * machine with SGX2 (-1 and errno, MAP_FAILED), so code written against
 * <asm/sgx.h> can switch between the real system and sgxemu by swapping
 * these functions in (the sdk's loader does; `sgxemu run` does it for
 * unmodified programs).  See docs/embedding.md.
 */
#ifndef SGXEMU_SGXEMU_H
#define SGXEMU_SGXEMU_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <asm/sgx.h>

/* Settings; zero fields take the environment's SGXEMU_* values, then the defaults (docs/embedding.md). */
struct sgxemu_options {
	uint64_t epc_size;  /* EPC capacity in bytes (SGXEMU_EPC_SIZE, default 128 MiB) */
	const char *policy; /* dynamic page policy: "rw", "wx-exclusive", "rwx" (SGXEMU_DYN_POLICY) */
};

/*
 * Start the system of this process (idempotent: later calls return 0 and
 * change nothing).  Installs the signal handlers of native execution.
 * Return: 0, or -1 with a message in err (bad setting, no memory).
 */
int sgxemu_start(const struct sgxemu_options *opt, char *err, size_t errlen);

/* Is the system started? */
int sgxemu_started(void);

/*
 * open(2) of "/dev/sgx_enclave", "/dev/sgx/enclave" or "/dev/sgx_provision":
 * a real file descriptor (of /dev/null) standing for the device file, with
 * the access mode of flags, which mmap and mprotect check as Linux does.
 * Starts the system with the environment's settings if needed.
 * Return: fd, or -1 with errno ENOENT (another path), ENODEV, ENOMEM.
 */
int sgxemu_open(const char *path, int flags);
/* Is fd one of ours? */
int sgxemu_is_fd(int fd);
/* ioctl(2) on a device fd: -1 and errno as Linux (EBADF / ENOTTY for other fds). */
int sgxemu_ioctl(int fd, unsigned long cmd, void *arg);
/*
 * mmap(2): of a device fd, the mapping or MAP_FAILED with errno as Linux; anything else is the
 * host's, and enclave mappings a MAP_FIXED one replaces are gone.
 */
void *sgxemu_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* mprotect(2) / munmap(2): enclave ranges go to the driver model, others to the host. */
int sgxemu_mprotect(void *addr, size_t len, int prot);
int sgxemu_munmap(void *addr, size_t len);
/* close(2): a device fd is released (the enclave lives on while mapped). */
int sgxemu_close(int fd);

/* __vdso_sgx_enter_enclave, exactly (linux/arch/x86/include/uapi/asm/sgx.h). */
int sgxemu_enter_enclave(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
			 unsigned long r8, unsigned long r9, struct sgx_enclave_run *run);
/* The same entry for C callers: also preserves R12-R15 (an AEX zeroes them). */
int sgxemu_call_enclave(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
			unsigned long r8, unsigned long r9, struct sgx_enclave_run *run);

/*
 * sigaction(2) for programs that embed sgxemu.  A signal that arrives while
 * a thread runs enclave code interrupts it as on Linux: the thread AEXes,
 * the program's handler runs on the host context at the AEP (RIP = the AEP,
 * RAX = ERESUME, RBX = the TCS), and when the handler returns the AEP's
 * ERESUME continues the enclave; SIG_DFL and SIG_IGN act as they do
 * anywhere (e.g. SIGTERM ends the process).  Handlers installed before the
 * system starts are taken care of at the start; install later ones with
 * this call (one installed with plain sigaction() afterwards would run on
 * the enclave's stack).  Before the start it is sigaction().
 * Return: 0, or -1 with errno as sigaction() gives it.
 */
int sgxemu_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* Counters for summaries and tests. */
struct sgxemu_stats {
	uint64_t epc_size;	 /* bytes */
	uint64_t pages_resident; /* enclave pages in the EPC */
	uint64_t pages_evicted;	 /* enclave pages in backing store */
};
void sgxemu_get_stats(struct sgxemu_stats *s);

#endif /* SGXEMU_SGXEMU_H */
