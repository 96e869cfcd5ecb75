/* SPDX-License-Identifier: MIT */
/*
 * The enclave loader (docs/loader.md).  Its whole interface is public:
 * include/sgxemu/loader.h (backends, loading, ECALLs, the TCS pool).  This
 * header stays for the sdk's own files and the CLI, which include the
 * internals of image.h with it.
 */
#ifndef SGXEMU_SDK_LOADER_H
#define SGXEMU_SDK_LOADER_H

#include "image.h"
#include "sgxemu/loader.h"

#endif /* SGXEMU_SDK_LOADER_H */
