/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sequence: sequences of device operations through the embedding API
 * (include/sgxemu/sgxemu.h), each checked against a model of Linux's SGX
 * driver (engine.h, model.h).
 *
 * The emulator is one per process and starts once, so the EPC size is
 * chosen once per fuzzing process: SGXEMU_FUZZ_EPC (bytes, K/M suffix,
 * 64K..8M), default 128K (32 frames: the reclaimer runs before every page
 * of the SGX2 ioctls, which keep 32 frames free).
 */
#include <cpuid.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "engine.h"
#include "hw.h"
#include "sgxemu/sgxemu.h"

static struct hw_config cfg;
static struct hw_machine *cpu;

static void stats(uint64_t *resident, uint64_t *evicted)
{
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	*resident = s.pages_resident;
	*evicted = s.pages_evicted;
}

/* CPUID leaf 0x12 of a machine configured as sgxemu_start configures its own (exec_cpu_hw_config). */
static void cpuid12(unsigned sub, uint32_t r[4])
{
	struct hw_cpuid c = hw_cpuid12(cpu, sub);
	r[0] = c.eax;
	r[1] = c.ebx;
	r[2] = c.ecx;
	r[3] = c.edx;
}

static void xstate(unsigned i, uint32_t *off, uint32_t *size)
{
	unsigned a, b, c, d;
	*off = *size = 0;
	if (i < 64 && __get_cpuid_count(0xD, i, &a, &b, &c, &d)) {
		*size = a;
		*off = b;
	}
}

static uint64_t parse_epc(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (*end == 'K' || *end == 'k')
		v <<= 10;
	else if (*end == 'M' || *end == 'm')
		v <<= 20;
	return v;
}

/*
 * Every device call the sequences make, counted: long runs quote how many
 * operations they checked (printed at exit, once per fuzzing process).
 */
static _Atomic unsigned long long calls;

static int c_open(const char *path, int flags)
{
	calls++;
	return sgxemu_open(path, flags);
}

static int c_close(int fd)
{
	calls++;
	return sgxemu_close(fd);
}

static int c_ioctl(int fd, unsigned long cmd, void *arg)
{
	calls++;
	return sgxemu_ioctl(fd, cmd, arg);
}

static void *c_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	calls++;
	return sgxemu_mmap(addr, len, prot, flags, fd, off);
}

static int c_mprotect(void *addr, size_t len, int prot)
{
	calls++;
	return sgxemu_mprotect(addr, len, prot);
}

static int c_munmap(void *addr, size_t len)
{
	calls++;
	return sgxemu_munmap(addr, len);
}

static void report_calls(void)
{
	fprintf(stderr, "fuzz_sequence: %llu device operations checked\n", (unsigned long long)calls);
}

static struct fz_backend backend = {
    .name = "fuzz_sequence",
    .open = c_open,
    .close = c_close,
    .ioctl = c_ioctl,
    .mmap = c_mmap,
    .mprotect = c_mprotect,
    .munmap = c_munmap,
    .stats = stats,
    .cpuid12 = cpuid12,
    .xstate = xstate,
    .key_pem_path = FUZZ_SRCDIR "/tests/scripts/signing-key.pem",
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *env = getenv("SGXEMU_FUZZ_EPC");
	uint64_t epc = env ? parse_epc(env) : 128 << 10;
	if (epc < (64 << 10) || epc > (8 << 20) || epc % 4096) {
		fprintf(stderr, "fuzz_sequence: SGXEMU_FUZZ_EPC=%s: expected 64K..8M, a multiple of 4096\n", env);
		exit(1);
	}
	backend.epc_size = epc;
	char err[256];
	hw_config_default(&cfg);
	exec_cpu_hw_config(&cfg);
	cfg.epc_size = 64 << 10;
	cfg.space_size = 1 << 20;
	if (hw_machine_create(&cfg, &cpu, err, sizeof(err)) != 0 ||
	    sgxemu_start(&(struct sgxemu_options){.epc_size = epc}, err, sizeof(err)) != 0 ||
	    fz_init(&backend, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_sequence: %s\n", err);
		exit(1);
	}
	fprintf(stderr, "fuzz_sequence: EPC %llu KiB\n", (unsigned long long)(epc >> 10));
	atexit(report_calls);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(data, size);
	return 0;
}
