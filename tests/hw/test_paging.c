/* SPDX-License-Identifier: MIT */
/* UNDER CONSTRUCTION: tests for this area land with its leaves. */
#include <criterion/criterion.h>
