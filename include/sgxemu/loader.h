/* SPDX-License-Identifier: MIT */
/*
 * The sdk's host side: enclave images, signing keys and the loader
 * (docs/loader.md).
 *
 * An enclave ELF (a static PIE linked with the in-enclave runtime: pkg-config
 * sgxemu-enclave, docs/runtime.md) and a layout (threads, stacks, heap,
 * dynamic areas, attributes: the config file `sgxemu sign` reads too,
 * docs/sign.md and docs/layout.md) become the exact list of pages the loader
 * adds and the signer measures.  One function computes that list, so
 * `sgxemu measure`, `sgxemu sign` and the loader cannot disagree on
 * MRENCLAVE.  The loader turns the image and its SIGSTRUCT into a running
 * enclave through a device backend and runs ECALLs on the vDSO contract,
 * with the OCALL loop and in-enclave exception handling.
 *
 * The same code runs on sgxemu (sdk_backend_emu: sgxemu/sgxemu.h) and on a
 * Linux machine with SGX2 (sdk_backend_linux: /dev/sgx_enclave and
 * __vdso_sgx_enter_enclave).  Failures come back as -1 (or -errno where
 * stated) with a message naming the file or the step, the call and its
 * errno, never a crash.
 *
 * Link with the library: pkg-config --cflags --libs sgxemu (docs/install.md).
 */
#ifndef SGXEMU_LOADER_H
#define SGXEMU_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <asm/sgx.h>

#include "sgxemu/arch.h"
#include "sgxemu/enclave.h"

/* ---- Layouts ---- */

/* What the signer decides beyond the ELF (options or a config file; docs/sign.md lists the keys). */
struct sdk_config {
	uint32_t n_tcs;		  /* static threads, 1..SDK_MAX_THREADS (default 1) */
	uint32_t nssa;		  /* SSA frames per thread, 1..SDK_MAX_NSSA (default 2: one nested exception) */
	uint32_t ssa_frame_pages; /* 0: the smallest that holds the XSAVE area of xfrm, MISC and GPRSGX */
	uint64_t stack_size;	  /* per thread, page multiple, > 0 (default 64 KiB) */
	uint64_t heap_size;	  /* static heap, page multiple (default 256 KiB) */
	uint64_t dyn_size;	  /* dynamic (EDMM) area, page multiple (default 0; requires edmm) */
	uint32_t n_dyn_threads;	  /* room for threads added at run time (default 0; requires edmm) */
	uint64_t enclave_size;	  /* 0: the smallest power of two that holds everything; else a power of two */
	bool edmm;		  /* an SGX2 enclave (layout flag; no SECS bit exists for it) */
	bool debug;		  /* ATTRIBUTES.DEBUG */
	uint64_t attributes;	  /* ATTRIBUTES.FLAGS besides DEBUG and MODE64BIT (always set): only
				     PROVISIONKEY, KSS and AEXNOTIFY may be asked for (default 0) */
	uint64_t xfrm;		  /* a legal XFRM (docs/sign.md; default 3: x87 + SSE) */
	uint64_t attributes_mask; /* SIGSTRUCT.ATTRIBUTEMASK flags (default all ones: every flag as signed) */
	uint64_t xfrm_mask;	  /* SIGSTRUCT.ATTRIBUTEMASK XFRM, used when xfrm_mask_set */
	bool xfrm_mask_set;	  /* false (default): the XFRM mask is xfrm itself */
	uint32_t misc_select;	  /* SECS.MISCSELECT: 0 or SGX_MISC_EXINFO (default EXINFO) */
	uint32_t misc_mask;	  /* SIGSTRUCT.MISCMASK (default all ones) */
	uint16_t isv_prod_id, isv_svn;
	uint32_t date_bcd; /* SIGSTRUCT.DATE as BCD yyyymmdd, 0: today (UTC) */
};

/* Limits of the layout (each keeps the arithmetic far from overflow). */
#define SDK_MAX_THREADS	     65536U	  /* n_tcs, n_dyn_threads */
#define SDK_MAX_NSSA	     256U	  /* nssa */
#define SDK_MAX_SSA_PAGES    256U	  /* ssa_frame_pages */
#define SDK_MAX_AREA	     (1ULL << 40) /* stack_size, heap_size, dyn_size */
#define SDK_ENCLAVE_SIZE_MIN 0x2000ULL	  /* SECS.SIZE minimum */
#define SDK_ENCLAVE_SIZE_MAX (1ULL << 47) /* the user half of the x86-64 address space */
#define SDK_MAX_PAGES	     (1ULL << 20) /* pages added at build time (4 GiB) */
#define SDK_EXTRA_ATTRIBUTES (SGX_ATTR_PROVISIONKEY | SGX_ATTR_KSS | SGX_ATTR_AEXNOTIFY)

void sdk_config_default(struct sdk_config *c);
/*
 * Read a layout config file (key = value lines, '#' comments; keys as in
 * docs/sign.md) over c.  A key may appear once per file.
 * Return: 0, or -1 with "FILE:LINE: problem" (or "FILE: problem" when the
 * file cannot be read) in err.
 */
int sdk_config_load(struct sdk_config *c, const char *path, char *err, size_t errlen);

/*
 * Set one key from its text value, checking its syntax and its own range.
 * Return: 0, or -1 with "KEY: problem" in err (unknown key, bad number,
 * out of range, not a page multiple, ...).
 */
int sdk_config_set(struct sdk_config *c, const char *key, const char *value, char *err, size_t errlen);
/*
 * Parse a decimal or 0x-hex number; with size, a K, M or G suffix (powers of
 * 1024) may follow.  Return: NULL, or the problem ("not a number", "not a
 * size", "out of range").
 */
const char *sdk_parse_number(const char *text, bool size, uint64_t *out);
/*
 * Check what no single key can: ranges, page multiples, dyn_size and
 * n_dyn_threads without edmm, a legal xfrm, the SSA frame big enough.
 * sdk_image_* run it too.  Return: 0, or -1 with "layout: problem" in err.
 */
int sdk_config_check(const struct sdk_config *c, char *err, size_t errlen);

/* ---- Images ---- */

/* One page of the enclave as the loader adds it. */
struct sdk_page {
	uint64_t offset;     /* enclave offset */
	uint64_t flags;	     /* SECINFO.FLAGS: SGX_SECINFO_R/W/X and the page type (REG, or TCS with no permissions) */
	const uint8_t *data; /* 4096 bytes, page-aligned, owned by the image; never NULL.  The data of
				pages[i + 1] follows that of pages[i] in memory, so one ADD_PAGES call can
				cover a run of pages with consecutive offsets and equal flags */
	bool measure;	     /* EEXTEND the whole page (always true for this layout) */
};

/*
 * The loader creates the SECS from size, ssa_frame_size, misc_select,
 * attributes and xfrm (any base aligned to size), then EADDs pages[0..n_pages)
 * in this order, each followed by its 16 EEXTENDs: that is the order
 * mrenclave was computed in.
 */
struct sdk_image {
	struct sdk_config cfg;	     /* as resolved: ssa_frame_pages, enclave_size, xfrm_mask filled in */
	struct sgxemu_layout layout; /* what the layout page holds */
	struct sdk_page *pages;	     /* sorted by offset */
	size_t n_pages;
	/* SECS fields (ECREATE), for an enclave loaded at any base. */
	uint64_t size;
	uint32_t ssa_frame_size;
	uint32_t misc_select;
	uint64_t attributes; /* flags: MODE64BIT, DEBUG if cfg.debug, cfg.attributes */
	uint64_t xfrm;
	uint8_t mrenclave[32]; /* computed in software per spec/measurement.md */
	/* private storage */
	uint8_t *store;
	size_t store_len;
	char *path; /* the ELF's absolute path (sdk_image_load), NULL for an image from memory: what the loader
		       tells debuggers (sdk_debug_state) */
};

/*
 * Build the page list of the ELF at path (or in elf/len) under cfg.
 * The ELF must be ELFCLASS64, little-endian, x86-64, ET_DYN (static PIE:
 * no PT_INTERP, no DT_NEEDED, no DT_TEXTREL, no PT_TLS), with PT_LOAD
 * segments whose p_vaddr and p_offset agree modulo 4096, that do not
 * overlap, lie inside the file and the enclave, with e_entry in an
 * executable one; each violation is its own message, prefixed by the path
 * ("image" for memory input), e.g. "enclave.elf: truncated file (12 bytes;
 * the ELF header needs 64)".
 * Return: 0 and *out, or -1 with err set.
 */
int sdk_image_load(const char *path, const struct sdk_config *cfg, struct sdk_image **out, char *err, size_t errlen);
int sdk_image_from_memory(const void *elf, size_t len, const struct sdk_config *cfg, struct sdk_image **out, char *err,
			  size_t errlen);
void sdk_image_free(struct sdk_image *img);

/* ---- Signing keys ---- */

/*
 * A SIGSTRUCT signing key: RSA-3072 with public exponent 3, the only kind
 * EINIT accepts (`sgxemu keygen` writes one).  Opaque.
 */
struct crypto_rsa;

/* A fresh key.  Return: the key, or NULL with err set. */
struct crypto_rsa *sdk_key_generate(char *err, size_t errlen);
/*
 * The PEM private key in pem[0..len) (PKCS#8 or PKCS#1, as `sgxemu keygen`
 * and `openssl genrsa -3 3072` write them).
 * Return: the key, or NULL with the problem in err (not PEM, not RSA-3072
 * with exponent 3).
 */
struct crypto_rsa *sdk_key_from_pem(const char *pem, size_t len, char *err, size_t errlen);
/*
 * The PEM private key in the file at path (a regular file or a pipe such as
 * /dev/fd/N; at most 16 KiB).  Return: the key, or NULL with "PATH: problem"
 * in err.
 */
struct crypto_rsa *sdk_key_load(const char *path, char *err, size_t errlen);
/* The key as PKCS#8 PEM text, malloc'd and NUL-terminated (free it).  Return: NULL when out of memory. */
char *sdk_key_to_pem(const struct crypto_rsa *key);
/* Free a key (NULL: nothing). */
void sdk_key_free(struct crypto_rsa *key);

/*
 * Fill a SIGSTRUCT for img (ENCLAVEHASH = img->mrenclave, MISCSELECT,
 * ATTRIBUTES and their masks, ISV ids, date; VENDOR 0) and sign it with key.
 * Return: 0, or -1 with err set (the key failed to sign).
 */
int sdk_image_sign(const struct sdk_image *img, const struct crypto_rsa *key, struct sgx_sigstruct *out, char *err,
		   size_t errlen);

/* ---- Backends ---- */

/*
 * The device and the vDSO (a backend): every call behaves like the Linux system call
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

/* ---- Enclaves ---- */

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

/* ---- Debuggers (docs/debugging.md) ---- */

/*
 * Where the loaded enclaves are, for a debugger: the loader keeps a list of
 * every enclave sdk_enclave_load has set up (from the end of its mappings,
 * before the runtime's initialisation ECALL, until sdk_enclave_destroy
 * unmaps it) and calls sdk_debug_event() each time the list changes.  A
 * debugger breaks on that function, reads sdk_debug_state and loads the
 * symbols of each enclave's ELF at its base (the gdb script
 * share/sgxemu/gdb/sgxemu.py does); attaching later, it walks the list.
 * Programs never call or change any of it.  The layout below is fixed for a
 * version: a debugger reads it from memory without the library's debug
 * information.
 */
#define SDK_DEBUG_VERSION 1

/* One loaded enclave: 56 bytes, the offsets asserted in src/sdk/loader.c. */
struct sdk_debug_enclave {
	struct sdk_debug_enclave *next; /* the next one in the list, NULL at its end */
	uint64_t base;			/* ELRANGE base: where the ELF's address 0 is loaded */
	uint64_t size;			/* ELRANGE size */
	uint64_t code_start;		/* [code_start, code_end): enclave offsets from the image's first to */
	uint64_t code_end;		/* its last executable page (0, 0: none) */
	const char *path;		/* the ELF's absolute path; NULL: the image came from memory */
	uint32_t flags;			/* SDK_DEBUG_ENCLAVE_* */
	uint32_t reserved;		/* 0 */
};
#define SDK_DEBUG_ENCLAVE_DEBUG 0x1U /* ATTRIBUTES.DEBUG: a debug enclave */

/* What the list's last change was. */
enum sdk_debug_change {
	SDK_DEBUG_NONE = 0,    /* no change in progress */
	SDK_DEBUG_ADDED = 1,   /* enclave was just added: mapped, initialisation ECALL not run yet */
	SDK_DEBUG_REMOVED = 2, /* enclave was just removed: still mapped, about to be unmapped */
};

/* 24 bytes. */
struct sdk_debug_state {
	uint32_t version;		   /* SDK_DEBUG_VERSION */
	uint32_t change;		   /* enum sdk_debug_change, while sdk_debug_event runs */
	struct sdk_debug_enclave *enclave; /* the enclave added or removed, while sdk_debug_event runs */
	struct sdk_debug_enclave *head;	   /* every loaded enclave, the latest first */
};

/* The list, changed under the loader's lock. */
extern struct sdk_debug_state sdk_debug_state;

/* Called after each change of sdk_debug_state, with the lock held: a debugger's breakpoint.  Does nothing. */
void sdk_debug_event(void);

#endif /* SGXEMU_LOADER_H */
