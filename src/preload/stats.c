/* SPDX-License-Identifier: MIT */
/*
 * What the library learns from the emulator for itself: its machine (for
 * CPUID leaf 0x12) and the fault lines of --trace, through `--wrap`
 * wrappers of sgxk_create and sgxk_fault (meson.build); the names of the
 * ioctls for the trace lines.  Counting for --summary and the trace file
 * of --trace=FILE are src/emu's (obs.h), which the library contains.
 */
#include <asm/sgx.h>

#include "hw.h"
#include "kernel.h"
#include "obs.h"
#include "preload.h"
#include "sgxemu/ext.h"

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

enum sgxk_fault __real_sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode);
enum sgxk_fault __wrap_sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode);
enum sgxk_fault __wrap_sgxk_fault(struct sgxk *k, uint64_t addr, uint32_t errcode)
{
	enum sgxk_fault f = __real_sgxk_fault(k, addr, errcode);
	const char *what = "SIGSEGV";
	switch (f) {
	case SGXK_FAULT_FIXED:
		what = "fixed";
		break;
	case SGXK_FAULT_SIGBUS:
		what = "SIGBUS";
		break;
	case SGXK_FAULT_SIGSEGV:
		break;
	}
	/* In a signal handler: preload_trace formats without stdio or malloc. */
	preload_trace("fault(%lx, error %lx) -> %s", (unsigned long)addr, (unsigned long)errcode, what);
	return f;
}

/* ---- ioctl names, counters of fd.c, mm.c, proc.c ---------------------------------------------- */

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

void preload_count_mmap(void)
{
	obs_count_mmap();
}

void preload_count_fork(void)
{
	obs_count_fork();
}
