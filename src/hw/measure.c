/* SPDX-License-Identifier: MIT */
/* MRENCLAVE blocks (spec/measurement.md §1): little-endian, 64 bytes each. */
#include "internal.h"

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

void measure_ecreate(struct hw_sha256 *mr, uint32_t ssaframesize, uint64_t size)
{
	uint8_t b[64] = "ECREATE";
	memcpy(b + 8, &ssaframesize, 4);
	put64(b + 12, size);
	crypto_sha256_update(mr, b, sizeof(b));
}

void measure_eadd(struct hw_sha256 *mr, uint64_t offset, uint64_t secinfo_flags)
{
	/* Bytes 16..63 are SECINFO[0..47]: FLAGS then 40 reserved (zero) bytes. */
	uint8_t b[64] = "EADD";
	put64(b + 8, offset);
	put64(b + 16, secinfo_flags);
	crypto_sha256_update(mr, b, sizeof(b));
}

void measure_eextend(struct hw_sha256 *mr, uint64_t offset, const uint8_t data[256])
{
	uint8_t b[64] = "EEXTEND";
	put64(b + 8, offset);
	crypto_sha256_update(mr, b, sizeof(b));
	crypto_sha256_update(mr, data, 256);
}
