/* SPDX-License-Identifier: MIT */
/*
 * A small OS for the exec tests: it loads the test enclave (tests/exec/
 * enclave) with EADD/EEXTEND, signs it and runs EINIT, maps every page into
 * the process at its enclave address (MAP_SHARED|MAP_FIXED of the EPC memfd,
 * host protection = page-table protection ∩ EPCM permissions, none while the
 * page is not an accessible regular page), and gives exec the page tables,
 * a #PF handler (EAUG on demand in the dynamic area, if enabled) and the
 * refresh of host protections.
 */
#ifndef SGXEMU_TEST_TESTOS_H
#define SGXEMU_TEST_TESTOS_H

#include <pthread.h>
#include <stdatomic.h>

#include "enclave/abi.h"
#include "exec.h"
#include "harness.h"

struct tos {
	struct th th;	      /* machine, ELRANGE, window, SECS; th.pt without identity fallback */
	pthread_mutex_t lock; /* th.pt: faults map pages while other threads translate */
	struct hw_mmu mmu;    /* ELRANGE through th.pt; anything else is host memory (identity) */
	struct exec_os os;
	uint64_t entry;
	bool aexnotify;	   /* SECS.ATTRIBUTES.AEXNOTIFY, TCS.FLAGS.AEXNOTIFY */
	bool aug_on_fault; /* a not-present #PF in [ENCL_DYN, ENCL_DYN_END): EAUG the page */
	unsigned aug_prot; /* page-table protection of pages added on a fault (HW_ACC_*) */
	_Atomic unsigned faults, augs, refreshes;
	_Atomic uint64_t last_fault_addr;
	_Atomic uint32_t last_fault_err;
	uint8_t mrenclave[32], mrsigner[32];
	void (*on_translate)(
	    void); /* if set: called at each translation of an ELRANGE address (tos_hook_translations) */
};

/* The one test OS of the process; tos_setup builds it and installs exec. */
extern struct tos tos;

/*
 * Call fn at each walk of the test OS's page tables for an ELRANGE address
 * (NULL: none).  With a hook, threads' TLBs are off, so that each access
 * of a leaf is a walk the hook sees; without, they are on (hw_mmu.gen).
 */
void tos_hook_translations(void (*fn)(void));

void tos_setup(void);
/* tos_setup with options: TOS_AEXNOTIFY signs the enclave with AEXNOTIFY and gives its TCSs the flag. */
#define TOS_AEXNOTIFY 1u
void tos_setup_with(unsigned opts);
void tos_teardown(void);
/* The program's SA_SIGINFO handler h for sig, nothing blocked while it runs (asserts it took). */
void tos_sigaction(int sig, void (*h)(int, siginfo_t *, void *));

static inline uint64_t tos_lin(uint64_t off)
{
	return ENCL_BASE + off;
}

static inline uint64_t tos_tcs(unsigned i)
{
	return tos_lin(ENCL_SLOT(i) + ENCL_SLOT_TCS);
}

/* Physical address (EPC alias) of enclave address lin. */
static inline uint64_t tos_pa(uint64_t lin)
{
	return tos.th.window + (lin - ENCL_BASE);
}

/* Map one enclave page in the page tables with prot (HW_ACC_*) and into the host. Return: false on failure. */
bool tos_map(uint64_t lin, unsigned prot);
/* EAUG the page at lin and map it with prot. Return: false if EAUG failed. */
bool tos_eaug(uint64_t lin, unsigned prot);
/* The host protection (PROT_*) the page at lin should have now. */
int tos_host_prot(uint64_t lin);
/* The TCS's CSSA, read with EDBGRD (the enclave is a debug enclave). */
uint32_t tos_cssa(unsigned i);

/* EXITINFO of a hardware exception with vector v, as the SSA records it. */
#define TOS_EXITINFO(v) (SGX_EXITINFO_VALID | (SGX_EXITINFO_TYPE_HW << SGX_EXITINFO_TYPE_SHIFT) | (v))

/* One EENTER on TCS i: RDI = op, RSI = a, RDX = b, R8 = c, R9 = out. */
int tos_ecall(unsigned i, uint64_t op, uint64_t a, uint64_t b, uint64_t c, uint64_t *out, struct sgx_enclave_run *run);

/* The in-enclave handler flow (AEX -> EENTER with CSSA 1 -> EEXIT -> ERESUME), as an SDK drives it. */
struct tos_flow {
	unsigned exceptions, handler_entries, resumes, calls;
	uint16_t vector;
};
/* The user_handler of that flow; run->user_data points at the struct tos_flow. */
int tos_flow_handler(long rdi, long rsi, long rdx, long rsp, long r8, long r9, struct sgx_enclave_run *run);
/* Call op on TCS i with that flow as user_handler; asserts the call ends with EEXIT.  Return: the entry's value. */
int tos_flow_call(unsigned i, uint64_t op, uint64_t a, uint64_t b, uint64_t *out, struct tos_flow *f);
/* OP_SET_HANDLER on TCS i: the enclave's handler mode, skip length and record buffer. */
void tos_set_handler(unsigned i, uint64_t mode, uint64_t skip, uint64_t *rec);
/*
 * Make the dynamic page at lin (not yet added) a page of code: EAUG with
 * page tables RWX, EACCEPT as RW and EMODPE X by enclave code (ECALLs on
 * TCS 1), then n bytes of code written at its start through the EPC alias,
 * int3 after them.  Later writes through tos_pa(lin) change the code.
 */
void tos_code_page(uint64_t lin, const void *code, size_t n);

#endif
