/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: the signer lands with EINIT. */
#include "sigstruct.h"
