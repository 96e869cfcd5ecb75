/* SPDX-License-Identifier: MIT */
/*
 * The enclave of docs/tutorial.md: one ECALL that greets, and one that
 * puts new code into the enclave at run time with EDMM and calls it.
 */
#include "sgxemu/emm.h"
#include "sgxemu/rt.h"

struct hello_args {
	char name[32];
};

/* ECALL 0: print a greeting through the host; return the name's length. */
static int64_t greet(void *untrusted, uint64_t len)
{
	struct hello_args a;
	if (len != sizeof(a))
		return -RT_EINVAL;
	memcpy(&a, untrusted, sizeof(a)); /* copy first: the host can change its memory at any time */
	a.name[sizeof(a.name) - 1] = '\0';
	rt_print("hello, %s, from inside the enclave\n", a.name);
	return (int64_t)strlen(a.name);
}

/* The code ECALL 1 installs: mov eax, 42; ret (the rest of the page is int3). */
static uint8_t code[4096] __attribute__((aligned(4096)));

/* ECALL 1: reserve a page, commit it with the code as R-X (EACCEPTCOPY), call it, free the page. */
static int64_t answer(void *untrusted, uint64_t len)
{
	(void)untrusted;
	(void)len;
	struct rt_mm *mm = rt_mm_default();
	if (!mm)
		return -RT_ENOSYS; /* not signed with edmm = yes and a dynamic area */
	static const uint8_t insns[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};
	memset(code, 0xcc, sizeof(code));
	memcpy(code, insns, sizeof(insns));

	uint64_t page = 0;
	int rc = rt_mm_alloc(mm, 0, 4096, RT_MM_RESERVE | RT_MM_PROT_READ | RT_MM_PROT_EXEC, NULL, NULL, &page);
	if (rc)
		return rc;
	rc = rt_mm_commit_data(mm, page, 4096, code, RT_MM_PROT_READ | RT_MM_PROT_EXEC);
	if (rc == 0) {
		int (*fn)(void) = (int (*)(void))(uintptr_t)page;
		rc = fn();
		rt_print("the new code at enclave offset 0x%llx returned %d\n", (unsigned long long)(page - rt_base()),
			 rc);
	}
	int freed = rt_mm_dealloc(mm, page, 4096);
	return rc < 0 ? rc : freed < 0 ? freed : rc;
}

RT_ECALLS(greet, answer);
