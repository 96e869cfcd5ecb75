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

#endif /* SGXEMU_EMU_INT_H */
