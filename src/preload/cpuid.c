/* SPDX-License-Identifier: MIT */
/*
 * CPUID as an SGX2 machine answers it: leaf 0x12 from the emulated CPU
 * (hw_cpuid12), leaf 7 with SGX (EBX[2]) and SGX_LC (ECX[30]) set, and the
 * highest basic leaf at least 0x12; everything else is the host CPU's.
 *
 * Two ways reach it (docs/preload.md):
 * - CPUID faulting (arch_prctl(ARCH_SET_CPUID, 0)), where the CPU and
 *   kernel offer it: every CPUID instruction of the process raises SIGSEGV
 *   and the dispatcher (signal.c) emulates it, so unmodified binaries see
 *   the emulated leaves;
 * - sgxemu_cpuid(), which include/sgxemu/cpuid.h calls instead of the CPUID
 *   instruction when a program is built with `-include sgxemu/cpuid.h`.
 */
#include <asm/prctl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"
#include "emu_int.h"
#include "hw.h"
#include "preload.h"
#include "sgxemu/ext.h"

PRELOAD_HIDDEN bool preload_cpuid_faulting;

#define SGX_LEAF	 0x12
#define LEAF7_EBX_SGX	 (1u << 2)
#define LEAF7_ECX_SGX_LC (1u << 30)

static void cpuid_insn(unsigned leaf, unsigned sub, unsigned r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

/* This thread is emulating a trapped CPUID: faulting is off for it already. */
static __thread bool in_trap;

/* CPUID on the host CPU, with faulting off around it (the setting is per thread). */
static void cpuid_host(unsigned leaf, unsigned sub, unsigned r[4])
{
	bool toggle = preload_cpuid_faulting && !in_trap;
	if (toggle)
		syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
	cpuid_insn(leaf, sub, r);
	if (toggle)
		syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}

#define LEAF12_SUBLEAVES 10 /* 0, 1, and EPC sections 2..9 */
static pthread_mutex_t leaf12_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hw_cpuid leaf12_cache[LEAF12_SUBLEAVES];
static bool leaf12_cached;

/*
 * CPUID.(0x12, sub): the running machine's, or, before the emulator starts,
 * that of a machine made for the question with the same settings and
 * thrown away (asking CPUID must not start the emulator: a process that
 * forks after asking would leave its children without SGX).
 */
static struct hw_cpuid leaf12(unsigned sub)
{
	struct hw_machine *m = preload_machine();
	if (m)
		return hw_cpuid12(m, sub);
	struct hw_cpuid r = {0};
	pthread_mutex_lock(&leaf12_lock);
	if (!leaf12_cached) {
		struct hw_config c;
		hw_config_default(&c);
		/* The XSAVE features the started machine will allow: the host's (src/emu does the same). */
		exec_cpu_hw_config(&c);
		const char *epc = getenv(SGXEMU_ENV_EPC_SIZE);
		char err[256];
		if (epc && emu_parse_size(epc, &c.epc_size) != 0) {
			preload_msg("%s=%s: expected a size in bytes (suffix K, M or G): CPUID leaf 0x12 reads as zero",
				    SGXEMU_ENV_EPC_SIZE, epc);
		} else if (hw_machine_create(&c, &m, err, sizeof(err)) != 0) {
			preload_msg("CPUID leaf 0x12: %s", err);
		} else {
			for (unsigned i = 0; i < LEAF12_SUBLEAVES; i++)
				leaf12_cache[i] = hw_cpuid12(m, i);
			hw_machine_destroy(m);
		}
		leaf12_cached = true;
	}
	if (sub < LEAF12_SUBLEAVES)
		r = leaf12_cache[sub];
	pthread_mutex_unlock(&leaf12_lock);
	return r;
}

static void emulate(unsigned leaf, unsigned sub, unsigned r[4])
{
	unsigned max[4];
	cpuid_host(0, 0, max);
	if (leaf < 0x80000000u && leaf > max[0] && leaf != SGX_LEAF) {
		memset(r, 0, 4 * sizeof(unsigned));
		return;
	}
	if (leaf == SGX_LEAF) {
		struct hw_cpuid c = leaf12(sub);
		r[0] = c.eax;
		r[1] = c.ebx;
		r[2] = c.ecx;
		r[3] = c.edx;
		return;
	}
	cpuid_host(leaf, sub, r);
	if (leaf == 0 && r[0] < SGX_LEAF)
		r[0] = SGX_LEAF;
	if (leaf == 7 && sub == 0) {
		r[1] |= LEAF7_EBX_SGX;
		r[2] |= LEAF7_ECX_SGX_LC;
	}
}

/* Exported (include/sgxemu/cpuid.h finds it with dlsym): CPUID.(leaf, subleaf) of the emulated machine. */
__attribute__((visibility("default"))) int sgxemu_cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4]);
int sgxemu_cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4])
{
	emulate(leaf, subleaf, regs);
	return 1;
}

bool preload_cpuid_trap(ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	const volatile uint8_t *ip = (const volatile uint8_t *)(uintptr_t)g[REG_RIP];
	if (ip[0] != 0x0F || ip[1] != 0xA2)
		return false;
	/* Faulting stays off while emulating: starting the emulator runs CPUID itself. */
	syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
	in_trap = true;
	unsigned r[4];
	emulate((unsigned)g[REG_RAX], (unsigned)g[REG_RCX], r);
	in_trap = false;
	syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
	g[REG_RAX] = r[0];
	g[REG_RBX] = r[1];
	g[REG_RCX] = r[2];
	g[REG_RDX] = r[3];
	g[REG_RIP] += 2;
	return true;
}

void preload_cpuid_init(void)
{
	const char *mode = getenv(SGXEMU_ENV_CPUID_MODE);
	if (mode && !strcmp(mode, "header"))
		return;
	/* ENODEV: the CPU or the kernel offers no CPUID faulting (no cpuid_fault in /proc/cpuinfo). */
	if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0)
		return;
	preload_cpuid_faulting = true;
	preload_signals_take();
}
