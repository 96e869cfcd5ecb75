/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: key derivation lands with EREPORT/EGETKEY. */
#include "internal.h"
