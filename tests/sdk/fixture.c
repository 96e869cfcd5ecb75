/* SPDX-License-Identifier: MIT */
/*
 * The sdk tests' enclave image: a freestanding static PIE with code, read-only
 * data, initialised data holding a pointer (a relative relocation) and bss.
 * It is measured and signed, never run.
 */
#include <stdint.h>

const char fixture_message[] = "sgxemu sdk fixture";
static uint64_t counter = 42;
uint64_t *volatile fixture_counter = &counter;
uint8_t fixture_bss[3 * 4096 + 100];

__attribute__((noreturn)) void fixture_entry(void)
{
	fixture_bss[1] = (uint8_t)fixture_message[0];
	*fixture_counter += fixture_bss[2];
	for (;;)
		__asm__ volatile("ud2");
}
