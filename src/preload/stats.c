/* SPDX-License-Identifier: MIT */
/*
 * Counters for `sgxemu run --summary` and the fault lines of --trace.
 *
 * The library is linked with `--wrap` for the few emulator functions whose
 * calls mark an event (meson.build): the driver model's creation (to keep
 * its machine, for CPUID leaf 0x12), ECREATE, EADD, EINIT, EAUG, EWB and
 * ELDU as the driver issues them, the #PF handler, and the AEX.  Each
 * wrapper calls the real function and counts its outcome; the layers
 * themselves know nothing of it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <asm/sgx.h>

#include "hw.h"
#include "kernel.h"
#include "preload.h"
#include "sgxemu/ext.h"
#include "sgxemu/sgxemu.h"

static struct {
	atomic_ulong enclaves, initialised, added, augmented, evicted, reloaded;
	atomic_ulong faults, fault_fixed, fault_sigbus, fault_sigsegv, aex;
	atomic_ulong ioctls[IOC_KINDS], ioctl_errors, mmaps, forks;
} st;

static struct hw_machine *machine;

struct hw_machine *preload_machine(void)
{
	return __atomic_load_n(&machine, __ATOMIC_ACQUIRE);
}

/* ---- the wrapped functions ---------------------------------------------------------------- */

int __real_sgxk_create(const struct sgxk_config *c, struct sgxk **out, char *err, size_t errlen);
int __wrap_sgxk_create(const struct sgxk_config *c, struct sgxk **out, char *err, size_t errlen);
int __wrap_sgxk_create(const struct sgxk_config *c, struct sgxk **out, char *err, size_t errlen)
{
	int r = __real_sgxk_create(c, out, err, errlen);
	if (r == 0)
		__atomic_store_n(&machine, sgxk_machine(*out), __ATOMIC_RELEASE);
	return r;
}

#define WRAP_LEAF(name, counter, params, args)                                                                         \
	struct hw_result __real_##name params;                                                                         \
	struct hw_result __wrap_##name params;                                                                         \
	struct hw_result __wrap_##name params {                                                                        \
		struct hw_result r = __real_##name args;                                                               \
		if (hw_is_ok(r))                                                                                       \
			atomic_fetch_add(&st.counter, 1);                                                              \
		return r;                                                                                              \
	}

WRAP_LEAF(encls_ecreate, enclaves, (struct hw_machine * m, const struct hw_mmu *mmu, uint64_t pi, uint64_t epc),
	  (m, mmu, pi, epc))
WRAP_LEAF(encls_eadd, added, (struct hw_machine * m, const struct hw_mmu *mmu, uint64_t pi, uint64_t epc),
	  (m, mmu, pi, epc))
WRAP_LEAF(encls_eaug, augmented, (struct hw_machine * m, const struct hw_mmu *mmu, uint64_t pi, uint64_t epc),
	  (m, mmu, pi, epc))
WRAP_LEAF(encls_einit, initialised,
	  (struct hw_machine * m, const struct hw_mmu *mmu, uint64_t sig, uint64_t secs, uint64_t token),
	  (m, mmu, sig, secs, token))
WRAP_LEAF(encls_ewb, evicted,
	  (struct hw_machine * m, const struct hw_mmu *mmu, uint64_t pi, uint64_t epc, uint64_t slot),
	  (m, mmu, pi, epc, slot))
WRAP_LEAF(encls_eldu, reloaded,
	  (struct hw_machine * m, const struct hw_mmu *mmu, uint64_t pi, uint64_t epc, uint64_t slot),
	  (m, mmu, pi, epc, slot))

enum sgxk_fault __real_sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode);
enum sgxk_fault __wrap_sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode);
enum sgxk_fault __wrap_sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode)
{
	enum sgxk_fault f = __real_sgxk_fault(k, addr, errcode);
	atomic_fetch_add(&st.faults, 1);
	const char *what = "SIGSEGV";
	switch (f) {
	case SGXK_FAULT_FIXED:
		atomic_fetch_add(&st.fault_fixed, 1);
		what = "fixed";
		break;
	case SGXK_FAULT_SIGBUS:
		atomic_fetch_add(&st.fault_sigbus, 1);
		what = "SIGBUS";
		break;
	case SGXK_FAULT_SIGSEGV:
		atomic_fetch_add(&st.fault_sigsegv, 1);
		break;
	}
	/* In a signal handler: preload_trace formats without stdio or malloc. */
	preload_trace("fault(%lx, error %lx) -> %s", (unsigned long)addr, (unsigned long)errcode, what);
	return f;
}

struct hw_event __real_hw_aex(struct hw_thread *t, const struct hw_event *ev);
struct hw_event __wrap_hw_aex(struct hw_thread *t, const struct hw_event *ev);
struct hw_event __wrap_hw_aex(struct hw_thread *t, const struct hw_event *ev)
{
	atomic_fetch_add(&st.aex, 1);
	return __real_hw_aex(t, ev);
}

/* ---- counters kept by the wrappers of fd.c, mm.c, proc.c ----------------------------------------- */

static const struct {
	unsigned long cmd;
	const char *name;
	enum preload_ioc kind;
} ioctls[] = {
    {SGX_IOC_ENCLAVE_CREATE, "SGX_IOC_ENCLAVE_CREATE", IOC_CREATE},
    {SGX_IOC_ENCLAVE_ADD_PAGES, "SGX_IOC_ENCLAVE_ADD_PAGES", IOC_ADD_PAGES},
    {SGX_IOC_ENCLAVE_INIT, "SGX_IOC_ENCLAVE_INIT", IOC_INIT},
    {SGX_IOC_ENCLAVE_PROVISION, "SGX_IOC_ENCLAVE_PROVISION", IOC_PROVISION},
    {SGX_IOC_VEPC_REMOVE_ALL, "SGX_IOC_VEPC_REMOVE_ALL", IOC_OTHER},
    {SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS, "SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS", IOC_RESTRICT},
    {SGX_IOC_ENCLAVE_MODIFY_TYPES, "SGX_IOC_ENCLAVE_MODIFY_TYPES", IOC_MODIFY_TYPES},
    {SGX_IOC_ENCLAVE_REMOVE_PAGES, "SGX_IOC_ENCLAVE_REMOVE_PAGES", IOC_REMOVE_PAGES},
    {SGX_IOC_ENCLAVE_AUGMENT_PAGES, "SGX_IOC_ENCLAVE_AUGMENT_PAGES", IOC_AUGMENT},
};

static const char *const kind_names[IOC_KINDS] = {
    [IOC_CREATE] = "CREATE",
    [IOC_ADD_PAGES] = "ADD_PAGES",
    [IOC_INIT] = "INIT",
    [IOC_PROVISION] = "PROVISION",
    [IOC_RESTRICT] = "RESTRICT_PERMISSIONS",
    [IOC_MODIFY_TYPES] = "MODIFY_TYPES",
    [IOC_REMOVE_PAGES] = "REMOVE_PAGES",
    [IOC_AUGMENT] = "AUGMENT_PAGES",
    [IOC_OTHER] = "other",
};

const char *preload_ioc_name(unsigned long cmd)
{
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
		if (ioctls[i].cmd == cmd)
			return ioctls[i].name;
	return NULL;
}

enum preload_ioc preload_ioc_kind(unsigned long cmd)
{
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
		if (ioctls[i].cmd == cmd)
			return ioctls[i].kind;
	return IOC_OTHER;
}

void preload_count_ioctl(enum preload_ioc kind, bool failed)
{
	atomic_fetch_add(&st.ioctls[kind], 1);
	if (failed)
		atomic_fetch_add(&st.ioctl_errors, 1);
}

void preload_count_mmap(void)
{
	atomic_fetch_add(&st.mmaps, 1);
}

void preload_count_fork(void)
{
	atomic_fetch_add(&st.forks, 1);
}

/* ---- the summary ---------------------------------------------------------------------------------- */

static void summary(void)
{
	/* A forked child's counters are its parent's copy: only the process that ran the emulator reports. */
	if (preload_detached || !sgxemu_started())
		return;
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	const char *pol = getenv(SGXEMU_ENV_DYN_POLICY);
	char io[512];
	size_t n = 0;
	io[0] = 0;
	for (unsigned k = 0; k < IOC_KINDS; k++) {
		unsigned long c = atomic_load(&st.ioctls[k]);
		if (c && n < sizeof(io))
			n += (size_t)snprintf(io + n, sizeof(io) - n, "%s%s %lu", n ? ", " : "", kind_names[k], c);
	}
	dprintf(STDERR_FILENO,
		"sgxemu: summary of process %d (EPC %lu KiB, dynamic page policy %s)\n"
		"  enclaves  created %lu, initialised %lu\n"
		"  pages     added %lu, EAUG'd %lu, evicted %lu, reloaded %lu; at exit %lu resident, %lu evicted\n"
		"  faults    %lu handled by the driver: %lu fixed, %lu SIGBUS, %lu SIGSEGV\n"
		"  AEXs      %lu\n"
		"  ioctls    %s (%lu failed)\n"
		"  mappings  %lu mmaps of the device, %lu forks\n",
		(int)getpid(), (unsigned long)(s.epc_size / 1024), pol && *pol ? pol : "rwx", atomic_load(&st.enclaves),
		atomic_load(&st.initialised), atomic_load(&st.added), atomic_load(&st.augmented),
		atomic_load(&st.evicted), atomic_load(&st.reloaded), (unsigned long)s.pages_resident,
		(unsigned long)s.pages_evicted, atomic_load(&st.faults), atomic_load(&st.fault_fixed),
		atomic_load(&st.fault_sigbus), atomic_load(&st.fault_sigsegv), atomic_load(&st.aex), n ? io : "none",
		atomic_load(&st.ioctl_errors), atomic_load(&st.mmaps), atomic_load(&st.forks));
}

void preload_summary_init(void)
{
	const char *s = getenv(SGXEMU_ENV_SUMMARY);
	if (s && *s && strcmp(s, "0") != 0)
		atexit(summary);
}
