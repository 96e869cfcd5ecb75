/* SPDX-License-Identifier: MIT */
/*
 * Protection keys (docs/exec.md, "Isolation").  PKU needs the CPU feature
 * (CPUID.(7,0).ECX[3]), the kernel enabling it (OSPKE, ECX[4], and PKRU in
 * XCR0, which puts PKRU in every signal frame) and a free key.
 *
 * The kernel layer maps the pages of an enclave with the key exec gives it
 * (exec_pkey_alloc, pkey_mprotect).  Host code runs with every enclave key
 * access-disabled; at EENTER/ERESUME the context's PKRU (the PKRU component
 * of the signal frame's XSAVE image) opens the enclave's own key, and at
 * EEXIT/AEX the host's PKRU comes back (thread.c).  Signal handlers start
 * with the kernel's initial PKRU, which opens key 0 only: exec reaches EPC
 * frames through the alias mapping (key 0), never through enclave addresses.
 *
 * Keys: one per enclave while pkey_alloc finds a free one, then enclaves
 * share the exec key with the fewest users.  The table from SECS to key is
 * read without a lock by the signal handler (exec_pkey_of at every entry):
 * open addressing, entries published with release stores, writers
 * serialised by a mutex.
 */
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"
#include "exec_int.h"

#define CPUID7_ECX_PKU	 (1U << 3)
#define CPUID7_ECX_OSPKE (1U << 4)

#define PKEY_COUNT	     16	  /* PKRU has two bits for each of 16 keys */
#define PKEY_DISABLE_ACCESS_ 0x1U /* pkey_alloc's init value: <sys/mman.h> PKEY_DISABLE_ACCESS */
#define PKRU_AD(k)	     (1U << (2 * (k)))
#define PKRU_WD(k)	     (1U << (2 * (k) + 1))

#define TABLE_SIZE 4096 /* enclaves with a key at once (power of two) */
#define SLOT_FREE  0ULL
#define SLOT_DEAD  1ULL /* a deleted entry (a SECS address is page-aligned: never 1) */

struct slot {
	_Atomic uint64_t secs;
	_Atomic int key;
};

static struct slot table[TABLE_SIZE];
static unsigned key_users[PKEY_COUNT];
static _Atomic uint32_t key_mask;
static pthread_mutex_t pkey_lock = PTHREAD_MUTEX_INITIALIZER;

bool exec_pkey_probe(char *why, size_t len)
{
	unsigned a, b, c, d;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		snprintf(why, len, "CPUID leaf 7 is not available");
		return false;
	}
	if (!(c & CPUID7_ECX_PKU)) {
		snprintf(why, len, "the CPU has no protection keys (CPUID.(7,0).ECX[3] PKU clear)");
		return false;
	}
	if (!(c & CPUID7_ECX_OSPKE)) {
		snprintf(why, len, "the kernel did not enable protection keys (CPUID.(7,0).ECX[4] OSPKE clear)");
		return false;
	}
	exec_cpu_init();
	if (!(exec_xlayout.xcr0 & (1ULL << EXEC_XFEATURE_PKRU)) || exec_xlayout.size[EXEC_XFEATURE_PKRU] < 4) {
		snprintf(why, len,
			 "PKRU is not an XSAVE component of this kernel (XCR0[9] clear): signal frames lack it");
		return false;
	}
	long key = syscall(SYS_pkey_alloc, 0UL, 0UL);
	if (key < 0) {
		snprintf(why, len, "pkey_alloc failed: %s", strerror(errno));
		return false;
	}
	syscall(SYS_pkey_free, (unsigned long)key);
	snprintf(why, len, "protection keys available");
	return true;
}

EXEC_GENERAL_REGS uint32_t exec_pkey_mask(void)
{
	return atomic_load_explicit(&key_mask, memory_order_acquire);
}

uint32_t exec_pkru_host(uint32_t pkru, uint32_t mask)
{
	for (unsigned k = 1; k < PKEY_COUNT; k++)
		if (mask & (1U << k))
			pkru |= PKRU_AD(k) | PKRU_WD(k);
	return pkru;
}

uint32_t exec_pkru_enclave(uint32_t pkru, uint32_t mask, int key)
{
	pkru = exec_pkru_host(pkru, mask);
	if (key > 0 && key < PKEY_COUNT)
		pkru &= ~(PKRU_AD(key) | PKRU_WD(key));
	return pkru;
}

static uint64_t hash(uint64_t secs_pa)
{
	return ((secs_pa >> 12) * 0x9E3779B97F4A7C15ULL) >> 52; /* 12 bits: TABLE_SIZE */
}

/* The slot of secs_pa, or NULL (lock-free). */
static struct slot *lookup(uint64_t secs_pa)
{
	uint64_t h = hash(secs_pa);
	for (unsigned i = 0; i < TABLE_SIZE; i++) {
		struct slot *s = &table[(h + i) & (TABLE_SIZE - 1)];
		uint64_t v = atomic_load_explicit(&s->secs, memory_order_acquire);
		if (v == secs_pa)
			return s;
		if (v == SLOT_FREE)
			return NULL;
	}
	return NULL;
}

int exec_pkey_of(uint64_t secs_pa)
{
	if (!secs_pa || (secs_pa & 0xFFF))
		return -ENOENT;
	struct slot *s = lookup(secs_pa);
	return s ? atomic_load_explicit(&s->key, memory_order_relaxed) : -ENOENT;
}

/* A key for one more enclave (pkey_lock held): a new one, else the exec key with the fewest users. */
static int key_get(void)
{
	long k = syscall(SYS_pkey_alloc, 0UL, (unsigned long)PKEY_DISABLE_ACCESS_);
	if (k > 0 && k < PKEY_COUNT) {
		key_users[k] = 1;
		atomic_fetch_or_explicit(&key_mask, 1U << k, memory_order_release);
		return (int)k;
	}
	if (k >= 0) {
		/* Not a key PKRU can describe: give it back. */
		syscall(SYS_pkey_free, (unsigned long)k);
		return -ENOSPC;
	}
	if (errno != ENOSPC)
		return -errno;
	int best = -ENOSPC;
	for (int i = 1; i < PKEY_COUNT; i++)
		if (key_users[i] && (best < 0 || key_users[i] < key_users[best]))
			best = i;
	if (best > 0)
		key_users[best]++;
	return best;
}

/* Drop one user of key k (pkey_lock held); the last one frees it. */
static void key_put(int k)
{
	if (--key_users[k])
		return;
	atomic_fetch_and_explicit(&key_mask, ~(1U << k), memory_order_release);
	syscall(SYS_pkey_free, (unsigned long)k);
}

int exec_pkey_alloc(uint64_t secs_pa)
{
	if (!secs_pa || (secs_pa & 0xFFF))
		return -EINVAL;
	static int usable = -1; /* probed once: 1 yes, 0 no */
	pthread_mutex_lock(&pkey_lock);
	if (usable < 0) {
		char why[160];
		usable = exec_pkey_probe(why, sizeof(why));
	}
	int r;
	struct slot *s = lookup(secs_pa);
	if (!usable) {
		r = -EOPNOTSUPP;
	} else if (s) {
		r = atomic_load_explicit(&s->key, memory_order_relaxed);
	} else {
		/* Find a place first (a free or deleted slot), so a key is never taken for nothing. */
		uint64_t h = hash(secs_pa);
		s = NULL;
		for (unsigned i = 0; i < TABLE_SIZE && !s; i++) {
			struct slot *c = &table[(h + i) & (TABLE_SIZE - 1)];
			uint64_t v = atomic_load_explicit(&c->secs, memory_order_relaxed);
			if (v == SLOT_FREE || v == SLOT_DEAD)
				s = c;
		}
		r = s ? key_get() : -ENOMEM;
		if (r > 0) {
			atomic_store_explicit(&s->key, r, memory_order_relaxed);
			atomic_store_explicit(&s->secs, secs_pa, memory_order_release);
		}
	}
	pthread_mutex_unlock(&pkey_lock);
	return r;
}

void exec_pkey_free(uint64_t secs_pa)
{
	if (!secs_pa || (secs_pa & 0xFFF))
		return;
	pthread_mutex_lock(&pkey_lock);
	struct slot *s = lookup(secs_pa);
	if (s) {
		int k = atomic_load_explicit(&s->key, memory_order_relaxed);
		atomic_store_explicit(&s->secs, SLOT_DEAD, memory_order_release);
		key_put(k);
	}
	pthread_mutex_unlock(&pkey_lock);
}
