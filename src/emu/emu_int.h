/* SPDX-License-Identifier: MIT */
/* What src/emu shares with the preload library beyond include/sgxemu/sgxemu.h. */
#ifndef SGXEMU_EMU_INT_H
#define SGXEMU_EMU_INT_H

#include <stdint.h>

/*
 * A size as SGXEMU_EPC_SIZE gives it: "128M", "1g", "4096" (decimal, 0x hex
 * or 0 octal, then an optional K, M or G for powers of 1024).
 * Return: 0 and *out, or -1 for anything else (out untouched).
 */
int emu_parse_size(const char *s, uint64_t *out);

struct exec_chaos;
/* The kinds of chaos mode the kernel layer injects (struct sgxk_config's chaos_*); 0: off. */
struct emu_chaos_kernel {
	unsigned ioctl_every;  /* ioctl: one range ioctl in N stops early */
	unsigned busy_every;   /* busy: one enclave ioctl in N answers EBUSY */
	unsigned sigbus_every; /* sigbus: one EAUG on a fault in N finds no EPC (SIGBUS) */
	unsigned tlb_usec;     /* tlb: the stale-TLB window of RESTRICT_PERMISSIONS and MODIFY_TYPES, in us */
};
/*
 * SGXEMU_CHAOS's value: SEED[:KIND[=N],...], KIND interrupt, evict (one in
 * N ENCLUs of enclave code, default 4), timer (an interrupt every N us of a
 * thread's CPU time, default 1000), step (enclave code single-stepped, one
 * instruction in N interrupted, default 1000) into *out; ioctl, busy,
 * sigbus (one in N, default 4) and tlb (a window of N us, default 1000)
 * into *kernel; or quiet.  A seed alone, or with quiet only, turns on
 * interrupt and evict.  Return: 0 and *out, *kernel, or -1 with a message
 * naming the setting.
 */
int emu_parse_chaos(const char *spec, struct exec_chaos *out, struct emu_chaos_kernel *kernel, char *err,
		    size_t errlen);

#endif /* SGXEMU_EMU_INT_H */
