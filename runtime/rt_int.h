/* SPDX-License-Identifier: MIT */
/* The runtime's internal pieces shared between its files (not for enclave code). */
#ifndef SGXEMU_RT_INT_H
#define SGXEMU_RT_INT_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* A test-and-set spinlock; enclave threads never sleep. */
typedef uint8_t rt_spinlock_t;

static inline void rt_spin_lock(rt_spinlock_t *l)
{
	while (__atomic_test_and_set(l, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
			__asm__ volatile("pause");
}

static inline void rt_spin_unlock(rt_spinlock_t *l)
{
	__atomic_clear(l, __ATOMIC_RELEASE);
}

/* The static heap of the layout (SGXEMU_ECALL_INIT). */
void rt_heap_init(void *start, size_t len);

#pragma GCC visibility pop

#endif /* SGXEMU_RT_INT_H */
