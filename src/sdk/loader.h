/* SPDX-License-Identifier: MIT */
/*
 * The enclave loader: an image (image.h) and its SIGSTRUCT become a running
 * enclave through a device backend, and ECALLs run on the vDSO contract
 * with the OCALL loop (docs/loader.md).
 *
 * The same code runs on sgxemu (backend "emu": include/sgxemu/sgxemu.h)
 * and on a Linux machine with SGX2 (backend "linux": /dev/sgx_enclave and
 * __vdso_sgx_enter_enclave).  Host-side library code: errors come back as
 * messages naming the step, the call and its errno, never a crash.
 */
#ifndef SGXEMU_SDK_LOADER_H
#define SGXEMU_SDK_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <asm/sgx.h>

#include "image.h"

/*
 * The device and the vDSO: every call behaves like the Linux system call
 * (-1 and errno, MAP_FAILED).
 */
struct sdk_backend {
	const char *name;   /* "emu", "linux" */
	const char *device; /* the enclave device's path */
	int (*open)(const char *path, int flags);
	int (*ioctl)(int fd, unsigned long cmd, void *arg);
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int (*mprotect)(void *addr, size_t len, int prot);
	int (*munmap)(void *addr, size_t len);
	int (*close)(int fd);
	/*
	 * __vdso_sgx_enter_enclave's contract, callable from C (the callee-saved
	 * registers survive even though the enclave clears them).
	 * Return: as the vDSO; -ENOSYS when there is no entry function.
	 */
	int (*enter)(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function, unsigned long r8,
		     unsigned long r9, struct sgx_enclave_run *run);
	/*
	 * The XFRM bits the platform allows (CPUID.(0x12,1).ECX/EDX), or 0 when
	 * it cannot tell; NULL: never known.  The loader names the features an
	 * enclave asks for beyond them instead of a bare ECREATE failure.
	 */
	uint64_t (*xfrm_allowed)(void);
};

/* sgxemu in this process (sgxemu_start first, or the environment's settings on first use). */
extern const struct sdk_backend sdk_backend_emu;
/* The real driver: open("/dev/sgx_enclave"), ioctl, mmap, and the vDSO's __vdso_sgx_enter_enclave. */
extern const struct sdk_backend sdk_backend_linux;

/* The signature of __vdso_sgx_enter_enclave (and of sgxemu_enter_enclave). */
typedef int (*sdk_vdso_enter_fn)(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
				 unsigned long r8, unsigned long r9, struct sgx_enclave_run *run);

/*
 * Call fn, an entry with the vDSO's contract, from C: fn keeps only RBX,
 * RBP and RSP, and an enclave exits with the other registers cleared, so
 * this wrapper saves and restores R12-R15 around it.  Return: fn's result.
 */
int sdk_vdso_call(sdk_vdso_enter_fn fn, unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
		  unsigned long r8, unsigned long r9, struct sgx_enclave_run *run);

/*
 * Find a function exported by the process's vDSO (getauxval(AT_SYSINFO_EHDR)),
 * e.g. ("__vdso_sgx_enter_enclave", "LINUX_2.6").  version NULL: any.
 * Return: its address, or NULL (no vDSO, no such symbol or version).
 */
void *sdk_vdso_lookup(const char *name, const char *version);

struct sdk_enclave;

/*
 * A host function an enclave calls with rt_ocall(index, data, len): data
 * points at the enclave's copy on the untrusted stack (len bytes, copied
 * back into the enclave when the function returns).  It may make nested
 * ECALLs (sdk_enclave_ecall with tcs -1 runs them on the calling TCS).
 * Return: the value rt_ocall returns in the enclave.
 */
typedef int64_t (*sdk_ocall_fn)(struct sdk_enclave *e, void *ctx, void *data, uint64_t len);
/* SGXEMU_OCALL_WRITE's output.  Return: bytes written or -errno. */
typedef int64_t (*sdk_write_fn)(void *ctx, int fd, const void *buf, size_t len);

struct sdk_load_options {
	const char *device;	    /* NULL: the backend's device */
	const sdk_ocall_fn *ocalls; /* the OCALL table: index i calls ocalls[i] (NULL entries: -ENOSYS) */
	size_t n_ocalls;
	void *ocall_ctx;    /* ctx of every OCALL function */
	sdk_write_fn write; /* NULL: write(2) to fd 1 or 2 */
	void *write_ctx;
	bool dyn_exec; /* map the dynamic areas RWX when the driver accepts it (default RW) */
	bool no_init;  /* leave out SGXEMU_ECALL_INIT */
};

/*
 * Load img with sig through be: reserve an aligned range, CREATE, ADD_PAGES
 * (measured, in runs of equal flags), INIT with sig, map every run with its
 * permissions and the dynamic areas (EDMM layouts), then SGXEMU_ECALL_INIT
 * on TCS 0 unless opt->no_init.  opt may be NULL.  The device fd stays
 * open for the OCALLs of the memory manager.
 * Return: 0 and *out; or -1 with err naming the step, the call, errno and
 * the partial count where there is one, and nothing left behind (no
 * mapping, no open fd, no enclave).
 */
int sdk_enclave_load(const struct sdk_backend *be, const struct sdk_image *img, const struct sgx_sigstruct *sig,
		     const struct sdk_load_options *opt, struct sdk_enclave **out, char *err, size_t errlen);

/* Why an ECALL did not complete. */
enum sdk_ecall_error {
	SDK_ECALL_OK = 0,
	SDK_ECALL_TCS,	     /* no such TCS, or it is unusable after an exception nobody handled */
	SDK_ECALL_ENTER,     /* the vDSO refused the call, or EENTER/ERESUME itself faulted */
	SDK_ECALL_ABORT,     /* the runtime exited with SGXEMU_EXIT_ABORT: abort_reason */
	SDK_ECALL_EXCEPTION, /* an exception no enclave handler took: vector, rip_offset */
	SDK_ECALL_PROTOCOL,  /* an exit the loader does not know, or an exception that repeats without end */
};

struct sdk_ecall_info {
	enum sdk_ecall_error error;
	int tcs;	       /* the TCS the ECALL ran on (-1: none) */
	uint64_t abort_reason; /* SGXEMU_ABORT_* */
	uint32_t vector;       /* the enclave's report: EXITINFO vector or SGXEMU_EXC_VECTOR_NONE */
	uint64_t rip_offset;   /* enclave offset of the faulting instruction */
	uint16_t host_vector;  /* struct sgx_enclave_run's view of the last exception */
	uint16_t host_error_code;
	uint64_t host_addr;
	char message[256];
};

/*
 * Run ECALL index on TCS tcs (-1: the TCS of an OCALL this thread is in
 * for this enclave, i.e. a nested ECALL, else any free one, waiting while
 * all are busy), with RSI = arg, RDX = len, the OCALL loop and in-enclave
 * exception handling (EENTER for the handler, ERESUME when it handled it).
 * Several host threads may call concurrently on different TCSs.
 * info may be NULL.
 * Return: 0 with the ECALL's result in *ret (may be NULL); or
 *   -EINVAL  tcs out of range
 *   -EBUSY   tcs given and busy in another thread
 *   -EBADF   the TCS (or every TCS, for -1) is unusable
 *   -EIO     the entry itself failed (info->message)
 *   -ECANCELED  the runtime aborted (info->abort_reason)
 *   -EFAULT  an exception was not handled (info->vector, ->rip_offset); the TCS is unusable from then on
 *   -EPROTO  an exit the loader does not understand
 */
int sdk_enclave_ecall(struct sdk_enclave *e, int tcs, uint32_t index, void *arg, uint64_t len, int64_t *ret,
		      struct sdk_ecall_info *info);

/* Unmap everything, close the device (the driver then removes the enclave).  No ECALL may be running. */
void sdk_enclave_destroy(struct sdk_enclave *e);

uint64_t sdk_enclave_base(const struct sdk_enclave *e);
uint64_t sdk_enclave_size(const struct sdk_enclave *e);
unsigned sdk_enclave_tcs_count(const struct sdk_enclave *e);
/* Linear address of static TCS i. */
uint64_t sdk_enclave_tcs(const struct sdk_enclave *e, unsigned i);
const struct sgxemu_layout *sdk_enclave_layout(const struct sdk_enclave *e);
/* The device fd (kept open). */
int sdk_enclave_fd(const struct sdk_enclave *e);
/* The protection the dynamic areas were mapped with (PROT_*), 0 for a layout without them. */
int sdk_enclave_dyn_prot(const struct sdk_enclave *e);
/* The driver has SGX_IOC_ENCLAVE_AUGMENT_PAGES (told to the runtime at SGXEMU_ECALL_INIT). */
bool sdk_enclave_augment(const struct sdk_enclave *e);

/*
 * Add a TCS the enclave created at run time (the runtime's
 * rt_mm_thread_add: a TCS in one of the layout's dynamic thread areas) to
 * the pool, so ECALLs can run on it (sdk_enclave_ecall with the index, or
 * -1).  sdk_enclave_tcs_count() grows by one unless a removed slot is
 * reused.
 * Return: its TCS index (>= the static count); -EINVAL (not the TCS of a
 * dynamic thread area, or the layout has none), -EEXIST (in the pool
 * already), -ENOSPC (no slot: more than n_dyn_threads).
 */
int sdk_enclave_add_tcs(struct sdk_enclave *e, uint64_t tcs);
/*
 * Take a TCS added by sdk_enclave_add_tcs out of the pool before the
 * enclave removes it (rt_mm_thread_remove); its index is then unused
 * (ECALLs on it: -EINVAL) until a later add reuses it.
 * Return: 0; -ENOENT (not in the pool), -EPERM (a static TCS), -EBUSY (an ECALL runs on it).
 */
int sdk_enclave_remove_tcs(struct sdk_enclave *e, uint64_t tcs);

#endif /* SGXEMU_SDK_LOADER_H */
