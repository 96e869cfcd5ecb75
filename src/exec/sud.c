/* SPDX-License-Identifier: MIT */
/*
 * Instructions that enter the kernel.  Inside an enclave SYSCALL, SYSENTER
 * and INT n raise #UD; on the host they are system calls.  Syscall User
 * Dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH, Linux >= 5.11) makes the
 * kernel refuse them: with the thread's selector byte at
 * SYSCALL_DISPATCH_FILTER_BLOCK a system call is not executed (RAX gets its
 * number back) and SIGSYS is raised instead, at the instruction after it.
 *
 * The selector is in the thread's block (exec_int.h).  The signal
 * trampoline sets it to ALLOW before any C code runs (handlers run with the
 * selector as it is, and exec's handler makes system calls) and to BLOCK
 * right before it returns into enclave code, issuing that rt_sigreturn
 * itself from the one region whose system calls are always allowed
 * (glibc's restorer is outside it).  Host code therefore always runs with
 * ALLOW, enclave code with BLOCK.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "exec_int.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#ifndef PR_SYS_DISPATCH_OFF
#define PR_SYS_DISPATCH_OFF 0
#endif
#ifndef PR_SYS_DISPATCH_ON
#define PR_SYS_DISPATCH_ON 1
#endif

static pthread_mutex_t sud_lock = PTHREAD_MUTEX_INITIALIZER;
static int kernel_state = -1; /* the kernel's answer, probed once: 1 usable, 0 not */
static char kernel_why[160];
static bool enabled; /* chosen at install: threads turn it on at their first entry */

static long sud_on(volatile uint8_t *selector)
{
	uintptr_t start = (uintptr_t)exec_sud_allow_start;
	return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, start, (uintptr_t)exec_sud_allow_end - start,
		     selector);
}

/* Can this thread use Syscall User Dispatch?  Turned on and off again (the kernel checks everything at ON). */
static void kernel_probe(void)
{
	static volatile uint8_t selector = EXEC_SUD_ALLOW;
	if (sud_on(&selector) != 0) {
		int e = errno;
		if (e == EINVAL)
			snprintf(kernel_why, sizeof(kernel_why),
				 "the kernel has no Syscall User Dispatch (Linux >= 5.11): prctl: %s", strerror(e));
		else
			snprintf(kernel_why, sizeof(kernel_why), "prctl(PR_SET_SYSCALL_USER_DISPATCH) refused: %s",
				 strerror(e));
		kernel_state = 0;
		return;
	}
	prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0UL, 0UL, 0UL);
	/* The probing thread may be one that uses it already (a later install): turn it on again. */
	struct exec_thread *self = exec_thread_lookup();
	if (self && self->sud_on)
		sud_on(&self->sud_selector);
	snprintf(kernel_why, sizeof(kernel_why), "Syscall User Dispatch available");
	kernel_state = 1;
}

bool exec_sud_probe(char *why, size_t len)
{
	if (getenv("SGXEMU_EXEC_NO_SUD")) {
		snprintf(why, len, "Syscall User Dispatch disabled by SGXEMU_EXEC_NO_SUD");
		return false;
	}
	if (exec_under_valgrind()) {
		/* Valgrind's own system calls come from its code, outside the allowed region: SIGSYS would kill it. */
		snprintf(why, len, "Syscall User Dispatch disabled under valgrind");
		return false;
	}
	pthread_mutex_lock(&sud_lock);
	if (kernel_state < 0)
		kernel_probe();
	bool ok = kernel_state == 1;
	snprintf(why, len, "%s", kernel_why);
	pthread_mutex_unlock(&sud_lock);
	return ok;
}

bool exec_sud_setup(char *why, size_t len)
{
	enabled = exec_sud_probe(why, len);
	return enabled;
}

void exec_sud_thread_start(struct exec_thread *self)
{
	self->sud_selector = EXEC_SUD_ALLOW;
	self->sud_on = enabled && sud_on(&self->sud_selector) == 0;
}

void exec_sud_thread_stop(struct exec_thread *self)
{
	/* Before the block goes: the kernel reads the selector at every system call. */
	if (self->sud_on)
		prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0UL, 0UL, 0UL);
	self->sud_on = false;
}

/* Enclave code's bytes at [a, a + n), read through the page tables as fetched. */
static bool fetch(struct hw_thread *t, uint64_t a, uint8_t *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t pa;
		if (!hw_is_ok(hw_access_check(t, a + i, HW_ACC_X, &pa)))
			return false;
		b[i] = *(const volatile uint8_t *)(uintptr_t)pa;
	}
	return true;
}

struct hw_event exec_sud_event(struct exec_thread *self, const siginfo_t *si)
{
	(void)si;
	struct hw_thread *t = &self->t;
	/*
	 * The context is after the instruction (SYSCALL 0F 05, SYSENTER 0F 34
	 * and INT 0x80 CD 80 are two bytes); the #UD is at the instruction.
	 * SYSENTER's return address is not known to the kernel (RIP is its
	 * landing pad then): the event keeps the context's RIP.
	 */
	uint8_t b[2];
	if (t->regs.rip >= 2 && fetch(t, t->regs.rip - 2, b, 2) &&
	    ((b[0] == 0x0F && (b[1] == 0x05 || b[1] == 0x34)) || (b[0] == 0xCD && b[1] == 0x80)))
		t->regs.rip -= 2;
	return (struct hw_event){.vector = X86_UD};
}

/* Legacy prefixes an instruction may carry (segment overrides, operand and address size, REP): LOCK makes it #UD. */
static bool legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0x26:
	case 0x2E:
	case 0x36:
	case 0x3E:
	case 0x64:
	case 0x65:
	case 0x66:
	case 0x67:
	case 0xF2:
	case 0xF3:
		return true;
	default:
		return false;
	}
}

#define INSN_MAX 15 /* the longest x86 instruction */

/* The ModRM byte's reg field and whether it names a register (mod = 3) rather than memory. */
#define MODRM_REG(m)	(((m) >> 3) & 7)
#define MODRM_IS_REG(m) (((m) >> 6) == 3)

bool exec_enclave_ud_at(struct hw_thread *t, uint64_t rip)
{
	uint8_t b[INSN_MAX];
	unsigned len = 0;
	while (len < INSN_MAX && fetch(t, rip + len, &b[len], 1))
		len++;
	/* Prefixes: legacy ones and REX (which only counts right before the opcode, but never ends the prefixes). */
	unsigned i = 0;
	while (i < len && (legacy_prefix(b[i]) || (b[i] & 0xF0) == 0x40))
		i++;
	if (i + 1 > len)
		return false;
	uint8_t op = b[i];
	bool more = i + 2 <= len, modrm2 = i + 3 <= len;
	switch (op) {
	case 0xE4: /* IN AL, imm8 */
	case 0xE5: /* IN eAX, imm8 */
	case 0xE6: /* OUT imm8, AL */
	case 0xE7: /* OUT imm8, eAX */
	case 0xEC: /* IN AL, DX */
	case 0xED: /* IN eAX, DX */
	case 0xEE: /* OUT DX, AL */
	case 0xEF: /* OUT DX, eAX */
	case 0x6C: /* INSB */
	case 0x6D: /* INSW/INSD */
	case 0x6E: /* OUTSB */
	case 0x6F: /* OUTSW/OUTSD */
	case 0xCA: /* far RET imm16 */
	case 0xCB: /* far RET */
	case 0xCF: /* IRET */
		return true;
	case 0xCD: /* INT n; INT 3 (CD 03) raises #BP as INT3 does */
		return more && b[i + 1] != 3;
	case 0x8E: /* MOV Sreg, r/m16 */
		return more;
	case 0xFF: /* far CALL (/3) and far JMP (/5) through memory */
		return more && !MODRM_IS_REG(b[i + 1]) && (MODRM_REG(b[i + 1]) == 3 || MODRM_REG(b[i + 1]) == 5);
	case 0x0F:
		if (!more)
			return false;
		switch (b[i + 1]) {
		case 0xA2: /* CPUID (#GP only with CPUID faulting) */
		case 0x33: /* RDPMC */
		case 0xA1: /* POP FS */
		case 0xA9: /* POP GS */
		case 0xB2: /* LSS */
		case 0xB4: /* LFS */
		case 0xB5: /* LGS */
			return true;
		case 0x00: /* SLDT (/0), STR (/1) */
			return modrm2 && MODRM_REG(b[i + 2]) <= 1;
		case 0x01: /* SGDT (/0), SIDT (/1): memory forms only (mod = 3 encodes other instructions) */
			return modrm2 && !MODRM_IS_REG(b[i + 2]) && MODRM_REG(b[i + 2]) <= 1;
		default:
			return false;
		}
	default:
		return false;
	}
}
