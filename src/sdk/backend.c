/* SPDX-License-Identifier: MIT */
/*
 * The loader's two device backends: sgxemu in this process, and the real
 * Linux driver with the vDSO's __vdso_sgx_enter_enclave, found by reading
 * the vDSO image the kernel maps (getauxval(AT_SYSINFO_EHDR), src/elf/dynsym.h).
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dynsym.h"
/* <elf.h>'s segment flags share names with arch.h's page-fault bits; nothing here uses them. */
#undef PF_R
#undef PF_W
#undef PF_X

#include "cpu.h"
#include "hw.h"
#include "loader.h"
#include "sgxemu/sgxemu.h"

/* ---- emu ---- */

/* What the emulator's machine offers: this host's XSAVE features (src/emu configures it so). */
static uint64_t emu_xfrm_allowed(void)
{
	return hw_xfrm_allowed_for(exec_cpu_xfeatures());
}

const struct sdk_backend sdk_backend_emu = {
    .name = "emu",
    .device = "/dev/sgx_enclave",
    .open = sgxemu_open,
    .ioctl = sgxemu_ioctl,
    .mmap = sgxemu_mmap,
    .mprotect = sgxemu_mprotect,
    .munmap = sgxemu_munmap,
    .close = sgxemu_close,
    .enter = sgxemu_call_enclave,
    .xfrm_allowed = emu_xfrm_allowed,
};

/* ---- linux ---- */

static int linux_open(const char *path, int flags)
{
	return open(path, flags);
}

static int linux_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg);
}

/* sdk_vdso_call (loader.h): RBX and RBP are the vDSO's to keep, R12-R15 this wrapper's. */
__asm__(".pushsection .text\n"
	".globl sdk_vdso_call\n"
	".type sdk_vdso_call, @function\n"
	".p2align 4\n"
	"sdk_vdso_call:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	push %rbx\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8d, %ecx\n"
	"	mov %r9, %r8\n"
	"	mov 16(%rbp), %r9\n"
	/* RSP = RBP - 40 is 8 mod 16: pushing run (the 7th argument) aligns the call. */
	"	push 24(%rbp)\n"
	"	call *%rax\n"
	"	lea -40(%rbp), %rsp\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbx\n"
	"	pop %rbp\n"
	"	ret\n"
	".size sdk_vdso_call, . - sdk_vdso_call\n"
	".popsection\n");

static pthread_once_t vdso_once = PTHREAD_ONCE_INIT;
static sdk_vdso_enter_fn vdso_enter;

static void vdso_find(void)
{
	vdso_enter = (sdk_vdso_enter_fn)sdk_vdso_lookup("__vdso_sgx_enter_enclave", "LINUX_2.6");
}

static int linux_enter(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function, unsigned long r8,
		       unsigned long r9, struct sgx_enclave_run *run)
{
	pthread_once(&vdso_once, vdso_find);
	if (!vdso_enter)
		return -ENOSYS;
	return sdk_vdso_call(vdso_enter, rdi, rsi, rdx, function, r8, r9, run);
}

#define CPUID7_EBX_SGX	 (1U << 2)
#define CPUID12_EAX_SGX1 (1U << 0)

/* CPUID.(0x12,1).ECX/EDX of the CPU, when it reports SGX. */
static uint64_t linux_xfrm_allowed(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid_max(0, NULL) < 0x12)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	if (!(b & CPUID7_EBX_SGX))
		return 0;
	__cpuid_count(0x12, 0, a, b, c, d);
	if (!(a & CPUID12_EAX_SGX1))
		return 0;
	__cpuid_count(0x12, 1, a, b, c, d);
	return (uint64_t)d << 32 | c;
}

const struct sdk_backend sdk_backend_linux = {
    .name = "linux",
    .device = "/dev/sgx_enclave",
    .open = linux_open,
    .ioctl = linux_ioctl,
    .mmap = mmap,
    .mprotect = mprotect,
    .munmap = munmap,
    .close = close,
    .enter = linux_enter,
    .xfrm_allowed = linux_xfrm_allowed,
};

/* ---- the vDSO's symbol table ---- */

void *sdk_vdso_lookup(const char *name, const char *version)
{
	struct dynsym d;
	if (!dynsym_parse(getauxval(AT_SYSINFO_EHDR), &d))
		return NULL;
	return dynsym_lookup(&d, name, version);
}
