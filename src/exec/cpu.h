/* SPDX-License-Identifier: MIT */
/* Host CPU and kernel features exec depends on (kept apart from the SGX headers: <elf.h> clashes with PF_*). */
#ifndef SGXEMU_EXEC_CPU_H
#define SGXEMU_EXEC_CPU_H

#include <stdbool.h>

/* May user code use RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE (AT_HWCAP2 HWCAP2_FSGSBASE)? */
bool exec_cpu_fsgsbase(void);

#endif
