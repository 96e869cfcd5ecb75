/* SPDX-License-Identifier: MIT */
/*
 * Enclave images, internals: what the sgxemu CLI uses beyond the public
 * API of include/sgxemu/loader.h (layouts, images, keys, signing), which
 * this header includes.
 *
 * Host-side library code: errors are returned as -1 with a message naming
 * the file (or "image" for memory input) and the problem, never a crash.
 */
#ifndef SGXEMU_SDK_IMAGE_H
#define SGXEMU_SDK_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "sgxemu/loader.h"

enum sdk_key_kind {
	SDK_KEY_UNKNOWN = 0,
	SDK_KEY_VALUE = 1, /* a number, size, date or list of names */
	SDK_KEY_BOOL = 2,  /* true/false, yes/no, on/off, 1/0 */
};
/* What kind of value key takes ('-' and '_' are the same in keys: n-tcs = n_tcs). */
enum sdk_key_kind sdk_config_key_kind(const char *key);

/*
 * The XSAVE components of xfrm by their SDM names, space-separated
 * ("x87 SSE AVX", "opmask ZMM_Hi256 Hi16_ZMM", "bit 19" for one the model
 * does not know; "-" for none), truncated to len.
 */
void sdk_xfrm_names(uint64_t xfrm, char *out, size_t len);

/*
 * The whole regular file at path, malloc'd with a NUL after its len bytes
 * (sdk_image_load reads the ELF with it).  Return: the data, or NULL with
 * "PATH: problem" in err (cannot open or read it, a directory, not a
 * regular file, out of memory).
 */
char *sdk_read_file(const char *path, size_t *len, char *err, size_t errlen);

#endif /* SGXEMU_SDK_IMAGE_H */
