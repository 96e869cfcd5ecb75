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
/*
 * SGXEMU_CHAOS's value: SEED[:KIND[=N],...], KIND interrupt, evict (one in
 * N ENCLUs of enclave code, default 4), ioctl (one in N range ioctls,
 * *ioctl_every), timer (an interrupt every N us of a thread's CPU time,
 * default 1000) or quiet; a seed alone, or with quiet only, turns on
 * interrupt and evict.  Return: 0 and *out, or -1 with a message naming
 * the setting.
 */
int emu_parse_chaos(const char *spec, struct exec_chaos *out, unsigned *ioctl_every, char *err, size_t errlen);

#endif /* SGXEMU_EMU_INT_H */
