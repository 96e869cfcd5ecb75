/* SPDX-License-Identifier: MIT */
#include "harness.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>

void (*th_machine_hook)(struct hw_config *c);
uint64_t th_secs_xfrm;

struct hw_machine *th_machine(void)
{
	struct hw_config c;
	hw_config_default(&c);
	c.epc_size = 1 << 20;
	c.space_size = 1ULL << 36;
	c.root_secret_set = true;
	memset(c.root_secret, 0x5A, sizeof(c.root_secret));
	if (th_machine_hook)
		th_machine_hook(&c);
	struct hw_machine *m = NULL;
	char err[256];
	cr_assert_eq(hw_machine_create(&c, &m, err, sizeof(err)), 0, "machine: %s", err);
	return m;
}

void th_secs_default(struct sgx_secs *s, uint64_t base, uint64_t size)
{
	memset(s, 0, sizeof(*s));
	s->size = size;
	s->base = base;
	s->ssa_frame_size = 1;
	s->miscselect = SGX_MISC_EXINFO;
	s->attributes = SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG;
	s->xfrm = th_secs_xfrm ? th_secs_xfrm : 3;
}

struct hw_result th_ecreate(struct th *t)
{
	if (!t->window) {
		t->window = hw_epc_window_alloc(t->m, t->secs.size);
		t->secs_pa = hw_epc_window_alloc(t->m, SGX_PAGE_SIZE);
		cr_assert(t->window && t->secs_pa, "physical space exhausted");
	}
	static struct sgx_secinfo si;
	static struct sgx_pageinfo pi;
	static struct sgx_secs src __attribute__((aligned(4096)));
	src = t->secs;
	memset(&si, 0, sizeof(si));
	si.flags = SGX_SECINFO_PT(SGX_PT_SECS);
	pi = (struct sgx_pageinfo){.srcpge = (uint64_t)(uintptr_t)&src, .secinfo = (uint64_t)(uintptr_t)&si};
	return encls_ecreate(t->m, NULL, (uint64_t)(uintptr_t)&pi, t->secs_pa);
}

void th_setup(struct th *t, uint64_t size)
{
	memset(t, 0, sizeof(*t));
	t->m = th_machine();
	cr_assert_eq(pagetable_init(&t->pt, true), 0);
	t->base = 0x7f0000000000ULL;
	while (t->base & (size - 1))
		t->base += 0x1000000000ULL;
	t->size = size;
	th_secs_default(&t->secs, t->base, size);
	struct hw_result r = th_ecreate(t);
	th_assert_ok(r);
}

void th_teardown(struct th *t)
{
	pagetable_fini(&t->pt);
	hw_machine_destroy(t->m);
	t->m = NULL;
}

struct hw_result th_eadd(struct th *t, uint64_t off, uint64_t flags, const void *content)
{
	static uint8_t page[4096] __attribute__((aligned(4096)));
	static struct sgx_secinfo si;
	static struct sgx_pageinfo pi;
	if (content)
		memcpy(page, content, sizeof(page));
	else
		memset(page, 0, sizeof(page));
	memset(&si, 0, sizeof(si));
	si.flags = flags;
	pi = (struct sgx_pageinfo){.linaddr = t->base + off,
				   .srcpge = (uint64_t)(uintptr_t)page,
				   .secinfo = (uint64_t)(uintptr_t)&si,
				   .secs = t->secs_pa};
	return encls_eadd(t->m, NULL, (uint64_t)(uintptr_t)&pi, th_pa(t, off));
}

struct hw_result th_eextend_page(struct th *t, uint64_t off)
{
	for (uint64_t c = 0; c < 4096; c += 256) {
		struct hw_result r = encls_eextend(t->m, NULL, t->secs_pa, th_pa(t, off) + c);
		if (!hw_is_ok(r))
			return r;
	}
	return hw_ok();
}

void th_map(struct th *t, uint64_t off, unsigned prot)
{
	cr_assert_eq(pagetable_map(&t->pt, t->base + off, th_pa(t, off), prot), 0);
}

void th_hex32(const uint8_t *d, char out[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

const char *th_fmt(struct hw_result r)
{
	static char bufs[4][96];
	static int i;
	char *b = bufs[i++ & 3];
	hw_result_format(r, b, 96);
	return b;
}

void th_force_init(struct th *t)
{
	hw_mutex_lock(&t->m->lock);
	secs_of(t->m, t->secs_pa)->attributes |= SGX_ATTR_INIT;
	hw_mutex_unlock(&t->m->lock);
}
