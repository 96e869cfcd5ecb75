/* SPDX-License-Identifier: MIT */
/*
 * The runtime's EDMM memory manager (runtime/emm.c, docs/emm.md): the test
 * enclave (tests/emm/enclave) calls every function of <sgxemu/emm.h> as a
 * test asks, through the sdk loader over the emu backend.  Each test runs
 * in its own process, so it starts sgxemu with the policy and EPC size it
 * needs, and some load through a backend that hides or fakes the SGX2
 * ioctls (a host that lies).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "crypto.h"
#include "enclave/abi.h"
#include "loader.h"
#include "sgxemu/emm.h"
#include "sgxemu/ext.h"
#include "sgxemu/sgxemu.h"

#define PAGE  4096ULL
#define RW    (RT_MM_PROT_READ | RT_MM_PROT_WRITE)
#define RX    (RT_MM_PROT_READ | RT_MM_PROT_EXEC)
#define RWX   (RT_MM_PROT_READ | RT_MM_PROT_WRITE | RT_MM_PROT_EXEC)
#define NOW   RT_MM_COMMIT_NOW
#define LAZY  RT_MM_COMMIT_ON_DEMAND
#define RSV   RT_MM_RESERVE
#define N_TCS 4

/* mov $42, %eax; ret (little-endian in the low bytes of a word) */
#define CODE42 0xc30000002ab8ULL

/* ---- the enclave under test ---- */

static struct sdk_image *img;
static struct sgx_sigstruct sig;
static struct sdk_enclave *encl;
static uint64_t dyn;	  /* linear start of the dynamic area */
static char printed[512]; /* what the enclave printed */
static size_t printed_len;

/* Ways the host may misbehave (the lying backend). */
enum {
	HIDE_AUGMENT = 1,  /* no SGX_IOC_ENCLAVE_AUGMENT_PAGES (as on Linux): EAUG on fault only */
	FAKE_AUGMENT = 2,  /* AUGMENT_PAGES says it added the pages and adds nothing */
	FAKE_RESTRICT = 4, /* RESTRICT_PERMISSIONS says done and does nothing */
	FAKE_MODIFY = 8,   /* MODIFY_TYPES says done and does nothing */
	DENY_TCS = 16,	   /* MODIFY_TYPES to TCS fails with EPERM (as for a page whose ceiling lacks RW) */
};
static unsigned lies;

static int lying_ioctl(int fd, unsigned long cmd, void *arg)
{
	if (cmd == SGX_IOC_ENCLAVE_AUGMENT_PAGES && (lies & HIDE_AUGMENT)) {
		errno = ENOTTY;
		return -1;
	}
	if (cmd == SGX_IOC_ENCLAVE_AUGMENT_PAGES && (lies & FAKE_AUGMENT) &&
	    ((struct sgx_enclave_augment_pages *)arg)->length) {
		struct sgx_enclave_augment_pages *a = arg;
		a->count = a->length;
		return 0;
	}
	if (cmd == SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS && (lies & FAKE_RESTRICT)) {
		struct sgx_enclave_restrict_permissions *p = arg;
		p->count = p->length;
		return 0;
	}
	if (cmd == SGX_IOC_ENCLAVE_MODIFY_TYPES && (lies & DENY_TCS) &&
	    ((struct sgx_enclave_modify_types *)arg)->page_type == SGX_PT_TCS) {
		errno = EPERM;
		return -1;
	}
	if (cmd == SGX_IOC_ENCLAVE_MODIFY_TYPES && (lies & FAKE_MODIFY)) {
		struct sgx_enclave_modify_types *p = arg;
		p->count = p->length;
		return 0;
	}
	return sgxemu_ioctl(fd, cmd, arg);
}

static struct crypto_rsa *test_key(void)
{
	static struct crypto_rsa *k;
	if (k)
		return k;
	FILE *f = fopen(TEST_KEY_PATH, "r");
	cr_assert(f, "%s: %s", TEST_KEY_PATH, strerror(errno));
	char pem[4096];
	size_t n = fread(pem, 1, sizeof(pem), f);
	fclose(f);
	char err[128] = "";
	k = crypto_rsa_from_pem(pem, n, err, sizeof(err));
	cr_assert(k, "%s: %s", TEST_KEY_PATH, err);
	return k;
}

static int64_t capture(void *ctx, int fd, const void *buf, size_t len)
{
	(void)ctx;
	(void)fd;
	if (printed_len + len >= sizeof(printed))
		return -ENOSPC;
	memcpy(printed + printed_len, buf, len);
	printed_len += len;
	return (int64_t)len;
}

struct setup {
	const char *policy; /* NULL: the default (rwx) */
	uint64_t epc_size;  /* 0: the default */
	unsigned lies;
	bool no_edmm;
	uint64_t dyn_size; /* 0: 1 MiB */
	uint32_t n_dyn_threads;
	uint32_t nssa; /* 0: 2 */
	bool aexnotify; /* SECS.ATTRIBUTES.AEXNOTIFY */
};

static void boot(struct setup s)
{
	char err[256] = "";
	struct sgxemu_options o = {.epc_size = s.epc_size, .policy = s.policy};
	cr_assert_eq(sgxemu_start(&o, err, sizeof(err)), 0, "%s", err);
	struct sdk_config cfg;
	sdk_config_default(&cfg);
	cfg.n_tcs = N_TCS;
	cfg.nssa = s.nssa ? s.nssa : 2;
	if (s.aexnotify)
		cfg.attributes |= SGX_ATTR_AEXNOTIFY;
	cfg.misc_select = SGX_MISC_EXINFO;
	cfg.heap_size = 256 * 1024;
	cfg.stack_size = 64 * 1024;
	if (!s.no_edmm) {
		cfg.edmm = true;
		cfg.dyn_size = s.dyn_size ? s.dyn_size : 1024 * 1024;
		cfg.n_dyn_threads = s.n_dyn_threads;
	}
	cr_assert_eq(sdk_image_load(TEST_ENCLAVE_PATH, &cfg, &img, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sdk_image_sign(img, test_key(), &sig, err, sizeof(err)), 0, "%s", err);
	static struct sdk_backend lying;
	lying = sdk_backend_emu;
	lying.ioctl = lying_ioctl;
	lies = s.lies;
	struct sdk_load_options opt = {.write = capture};
	cr_assert_eq(sdk_enclave_load(s.lies ? &lying : &sdk_backend_emu, img, &sig, &opt, &encl, err, sizeof(err)), 0,
		     "%s", err);
	dyn = sdk_enclave_base(encl) + sdk_enclave_layout(encl)->dyn_offset;
}

static void teardown(void)
{
	sdk_enclave_destroy(encl);
	encl = NULL;
	sdk_image_free(img);
	img = NULL;
}

/* ---- calling the enclave ---- */

static int64_t ecall(int tcs, uint32_t index, void *arg, uint64_t len)
{
	int64_t ret = 0;
	struct sdk_ecall_info info;
	int rc = sdk_enclave_ecall(encl, tcs, index, arg, len, &ret, &info);
	cr_assert_eq(rc, 0, "ECALL %u on TCS %d: %s (%d)", index, tcs, info.message, rc);
	return ret;
}

/* One call of the API; returns the whole record. */
static struct mm_call mm_call(uint32_t op, uint64_t addr, uint64_t len, uint32_t flags)
{
	struct mm_call c = {.op = op, .addr = addr, .len = len, .flags = flags};
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	return c;
}

static int64_t mm(uint32_t op, uint64_t addr, uint64_t len, uint32_t flags)
{
	return mm_call(op, addr, len, flags).ret;
}

static uint64_t alloc(uint64_t addr, uint64_t len, uint32_t flags)
{
	struct mm_call c = mm_call(OP_ALLOC, addr, len, flags);
	cr_assert_eq(c.ret, 0, "rt_mm_alloc(%#llx, %#llx, %#x): %lld", (unsigned long long)addr,
		     (unsigned long long)len, flags, (long long)c.ret);
	return c.out;
}

/* rt_mm_query: 1, 0 or -EINVAL; *prot (if not NULL) the RT_MM_PROT_* bits. */
static int64_t query(uint64_t addr, uint32_t *prot)
{
	struct mm_call c = mm_call(OP_QUERY, addr, 0, 0);
	if (prot)
		*prot = (uint32_t)c.out;
	return c.ret;
}

static struct mm_stats stats(void)
{
	return mm_call(OP_STATS, 0, 0, 0).stats;
}

static int64_t commit_data(uint64_t addr, uint64_t len, uint32_t source, uint32_t prot, uint64_t word)
{
	struct mm_call c = {.op = OP_COMMIT_DATA, .addr = addr, .len = len, .source = source, .flags = prot};
	memcpy(c.data, &word, sizeof(word));
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	return c.ret;
}

static uint64_t access_ok(uint32_t kind, uint64_t addr, uint64_t value)
{
	struct mm_access a = {.kind = kind, .addr = addr, .value = value};
	cr_assert_eq(ecall(-1, EC_ACCESS, &a, sizeof(a)), 0);
	return a.value;
}

static uint64_t rd(uint64_t addr)
{
	return access_ok(ACC_READ, addr, 0);
}

static void wr(uint64_t addr, uint64_t value)
{
	access_ok(ACC_WRITE, addr, value);
}

/* An access on TCS tcs that no handler takes: the loader reports a #PF with this error code at this page. */
static void expect_fault(int tcs, uint32_t kind, uint64_t addr, uint16_t error_code)
{
	struct mm_access a = {.kind = kind, .addr = addr, .value = 1};
	struct sdk_ecall_info info;
	int64_t ret = 0;
	cr_assert_eq(sdk_enclave_ecall(encl, tcs, EC_ACCESS, &a, sizeof(a), &ret, &info), -EFAULT, "%s", info.message);
	cr_assert_eq(info.error, SDK_ECALL_EXCEPTION);
	cr_assert_eq(info.vector, X86_PF, "vector %u", info.vector);
	cr_assert_eq(info.host_vector, X86_PF);
	cr_assert_eq(info.host_error_code, error_code, "error code %#x, expected %#x", info.host_error_code,
		     error_code);
	cr_assert_eq(info.host_addr, addr & ~(PAGE - 1), "address %#llx", (unsigned long long)info.host_addr);
}

static void fill(uint64_t addr, uint64_t len, uint64_t seed)
{
	struct mm_fill f = {.addr = addr, .len = len, .seed = seed};
	cr_assert_eq(ecall(-1, EC_FILL, &f, sizeof(f)), 0);
}

static int64_t mismatches(uint64_t addr, uint64_t len, uint64_t seed)
{
	struct mm_fill f = {.addr = addr, .len = len, .seed = seed};
	return ecall(-1, EC_CHECK, &f, sizeof(f));
}

TestSuite(emm, .fini = teardown, .timeout = 60);

/* ---- the manager ---- */

Test(emm, default_manager_exists_only_for_edmm_layouts)
{
	boot((struct setup){.no_edmm = true});
	cr_assert_eq(mm(OP_DEFAULT, 0, 0, 0), 0, "no manager without SGXEMU_LAYOUT_EDMM");
	teardown();
	boot((struct setup){0});
	cr_assert_eq(mm(OP_DEFAULT, 0, 0, 0), 1);
}

Test(emm, every_call_rejects_a_null_manager)
{
	boot((struct setup){.n_dyn_threads = 1});
	static const uint32_t ops[] = {OP_ALLOC, OP_COMMIT, OP_COMMIT_DATA, OP_UNCOMMIT,   OP_DEALLOC,
				       OP_PERMS, OP_TYPE,   OP_QUERY,	    OP_THREAD_ADD, OP_THREAD_REMOVE};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct mm_call c = {.op = ops[i], .addr = dyn, .len = PAGE, .flags = NOW | RW, .null_mm = 1};
		if (ops[i] == OP_TYPE)
			c.flags = RT_MM_TYPE_TCS;
		cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
		cr_assert_eq(c.ret, -EINVAL, "op %u: %lld", ops[i], (long long)c.ret);
	}
	struct mm_call c = {.op = OP_STATS, .null_mm = 1};
	memset(&c.stats, 0xff, sizeof(c.stats));
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	struct mm_stats zero = {0};
	cr_assert_eq(memcmp(&c.stats, &zero, sizeof(zero)), 0, "stats of no manager are zero");
}

/* ---- rt_mm_alloc ---- */

Test(emm, commit_now_pages_are_usable_at_once)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 4 * PAGE, NOW | RW);
	cr_assert_eq(a, dyn, "first fit starts at the dynamic area");
	fill(a, 4 * PAGE, 0x5eed);
	cr_assert_eq(mismatches(a, 4 * PAGE, 0x5eed), 0);
	for (int i = 0; i < 4; i++) {
		uint32_t prot = 0;
		cr_assert_eq(query(a + i * PAGE, &prot), 1);
		cr_assert_eq(prot, RW);
	}
	cr_assert_eq(query(a + 4 * PAGE, NULL), -EINVAL, "past the region");
	struct mm_stats s = stats();
	cr_assert_eq(s.reserved_bytes, 4 * PAGE);
	cr_assert_eq(s.committed_bytes, 4 * PAGE);
	cr_assert_eq(s.eaccepts, 4);
	cr_assert_eq(s.ocalls_augment, 1, "one AUGMENT for the whole region");
	cr_assert_eq(s.demand_faults, 0);
	cr_assert_eq(s.ocalls_restrict + s.ocalls_modify_type + s.ocalls_remove + s.ocalls_mprotect, 0);
}

Test(emm, alloc_rejects_bad_arguments)
{
	boot((struct setup){0});
	struct {
		uint64_t addr, len;
		uint32_t flags;
	} bad[] = {
	    {0, 0, NOW | RW},			       /* len 0 */
	    {0, 100, NOW | RW},			       /* len not a page multiple */
	    {dyn + 8, PAGE, NOW | RW},		       /* addr unaligned */
	    {0, PAGE, RW},			       /* no commit mode */
	    {0, PAGE, NOW | LAZY | RW},		       /* two commit modes */
	    {0, PAGE, NOW | RT_MM_TYPE_TCS | RW},      /* TCS type */
	    {0, PAGE, NOW | RT_MM_TYPE_TRIM | RW},     /* TRIM type */
	    {0, PAGE, NOW | RT_MM_PROT_WRITE},	       /* W without R */
	    {0, PAGE, NOW | RT_MM_PROT_EXEC},	       /* X without R */
	    {0, PAGE, NOW},			       /* committed without R */
	    {0, PAGE, LAZY | RT_MM_PROT_READ},	       /* on demand but not RW */
	    {0, 2 * PAGE, NOW | RT_MM_GROWSDOWN | RW}, /* GROWSDOWN not on demand */
	    {0, PAGE, LAZY | RT_MM_GROWSDOWN | RW},    /* GROWSDOWN of one page */
	    {0, 2 * PAGE, LAZY | RT_MM_GROWSDOWN | RT_MM_GROWSUP | RW},
	    {0, PAGE, NOW | RW | 0x00800000u},			     /* unknown bit */
	    {0, PAGE, NOW | RT_MM_FIXED | RW},			     /* FIXED at 0 */
	    {dyn - PAGE, PAGE, NOW | RT_MM_FIXED | RW},		     /* FIXED below the area */
	    {dyn + 1024 * 1024 - PAGE, 2 * PAGE, RSV | RT_MM_FIXED}, /* FIXED past its end */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mm_call c = mm_call(OP_ALLOC, bad[i].addr, bad[i].len, bad[i].flags);
		cr_assert_eq(c.ret, -EINVAL, "case %zu: %lld", i, (long long)c.ret);
	}
	cr_assert_eq(mm(OP_ALLOC, 0, 2 * 1024 * 1024, RSV), -ENOMEM, "larger than the area");
	uint64_t a = alloc(dyn + 8 * PAGE, 4 * PAGE, RSV | RT_MM_FIXED);
	cr_assert_eq(a, dyn + 8 * PAGE);
	cr_assert_eq(mm(OP_ALLOC, dyn + 10 * PAGE, PAGE, RSV | RT_MM_FIXED), -EEXIST);
	cr_assert_eq(mm(OP_ALLOC, dyn + 6 * PAGE, 4 * PAGE, RSV | RT_MM_FIXED), -EEXIST, "overlapping the start");
	struct mm_stats s = stats();
	cr_assert_eq(s.reserved_bytes, 4 * PAGE, "nothing else was allocated");
	cr_assert_eq(s.eaccepts + s.ocalls_augment, 0);
}

Test(emm, alloc_places_regions_at_hints_when_free_and_first_fit_otherwise)
{
	boot((struct setup){0});
	cr_assert_eq(alloc(dyn + 16 * PAGE, 2 * PAGE, RSV), dyn + 16 * PAGE, "a free hint is taken");
	cr_assert_eq(alloc(dyn + 17 * PAGE, 2 * PAGE, RSV), dyn, "a taken hint: first fit");
	cr_assert_eq(alloc(0, 14 * PAGE, RSV), dyn + 2 * PAGE, "the gap before the hinted region fits exactly");
	cr_assert_eq(alloc(0, PAGE, RSV), dyn + 18 * PAGE, "next free page after it");
	cr_assert_eq(mm(OP_DEALLOC, dyn + 4 * PAGE, 2 * PAGE, 0), 0);
	cr_assert_eq(alloc(0, 2 * PAGE, RSV), dyn + 4 * PAGE, "the hole is reused");
	cr_assert_eq(alloc(0, 3 * PAGE, RSV), dyn + 19 * PAGE, "too small a hole is skipped");
}

Test(emm, growsup_region_is_extended_by_a_fixed_alloc_at_its_end)
{
	boot((struct setup){0});
	uint32_t heap = NOW | RW | RT_MM_GROWSUP;
	uint64_t a = alloc(0, 2 * PAGE, heap);
	cr_assert_eq(alloc(a + 2 * PAGE, 2 * PAGE, heap | RT_MM_FIXED), a + 2 * PAGE);
	/* One region now: an uncommit across the old boundary is inside one region. */
	cr_assert_eq(mm(OP_UNCOMMIT, a + PAGE, 2 * PAGE, 0), 0);
	cr_assert_eq(query(a, NULL), 1);
	cr_assert_eq(query(a + PAGE, NULL), 0);
	cr_assert_eq(query(a + 3 * PAGE, NULL), 1);
	/* Without GROWSUP a neighbour is a region of its own. */
	uint64_t b = alloc(a + 8 * PAGE, 2 * PAGE, NOW | RW | RT_MM_FIXED);
	cr_assert_eq(alloc(b + 2 * PAGE, 2 * PAGE, NOW | RW | RT_MM_FIXED), b + 2 * PAGE);
	cr_assert_eq(mm(OP_UNCOMMIT, b + PAGE, 2 * PAGE, 0), -EINVAL);
	cr_assert_eq(stats().reserved_bytes, 8 * PAGE);
}

/* ---- commit on demand ---- */

Test(emm, commit_on_demand_commits_each_page_at_its_first_access)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 8 * PAGE, LAZY | RW);
	struct mm_stats s = stats();
	cr_assert_eq(s.committed_bytes, 0);
	cr_assert_eq(query(a, NULL), 0);
	wr(a + 8, 0x1111);
	wr(a + 3 * PAGE + 16, 0x3333);
	cr_assert_eq(rd(a + 8), 0x1111);
	cr_assert_eq(rd(a + 3 * PAGE + 16), 0x3333);
	cr_assert_eq(rd(a + 3 * PAGE), 0, "fresh pages are zero");
	s = stats();
	cr_assert_eq(s.demand_faults, 2, "one fault per page");
	cr_assert_eq(s.eaccepts, 2);
	cr_assert_eq(s.ocalls_augment, 0, "the handler needs no OCALL: the host added the pages on the access");
	cr_assert_eq(s.committed_bytes, 2 * PAGE);
	cr_assert_eq(query(a, NULL), 1);
	cr_assert_eq(query(a + PAGE, NULL), 0);
	cr_assert_eq(query(a + 3 * PAGE, NULL), 1);
	/* rt_mm_commit of the rest commits what is missing. */
	cr_assert_eq(mm(OP_COMMIT, a, 8 * PAGE, 0), 0);
	s = stats();
	cr_assert_eq(s.eaccepts, 8);
	cr_assert_eq(s.committed_bytes, 8 * PAGE);
	cr_assert_eq(rd(a + 8), 0x1111, "committed pages are left as they are");
}

Test(emm, growsdown_commits_up_to_the_committed_part_and_keeps_a_guard_page)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 6 * PAGE, LAZY | RW | RT_MM_GROWSDOWN);
	wr(a + 5 * PAGE + 8, 5);
	cr_assert_eq(stats().demand_faults, 1);
	/* Two pages below the committed part: both get committed. */
	wr(a + 3 * PAGE, 3);
	cr_assert_eq(stats().demand_faults, 3);
	for (int i = 3; i < 6; i++)
		cr_assert_eq(query(a + i * PAGE, NULL), 1, "page %d", i);
	cr_assert_eq(query(a + 2 * PAGE, NULL), 0);
	wr(a + PAGE, 1);
	cr_assert_eq(query(a + 2 * PAGE, NULL), 1);
	cr_assert_eq(stats().demand_faults, 5);
	/* The lowest page is the guard: an access there is reported. */
	expect_fault(3, ACC_WRITE, a, PF_SGX | PF_U | PF_W | PF_P);
	cr_assert_eq(query(a, NULL), 0);
	cr_assert_eq(rd(a + 5 * PAGE + 8), 5);
}

/* ---- reserved regions, region handlers, rt_mm_commit ---- */

Test(emm, access_to_a_reserved_page_is_reported_as_a_page_fault)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, RSV | RW);
	/* The host EAUGs the page on the access; it stays PENDING: an SGX #PF that no handler takes. */
	expect_fault(3, ACC_READ, a + PAGE + 24, PF_SGX | PF_U | PF_P);
	cr_assert_eq(query(a + PAGE, NULL), 0);
	/* Committing it later takes the page the host added (AUGMENT: busy, EACCEPT succeeds). */
	cr_assert_eq(mm(OP_COMMIT, a, 2 * PAGE, 0), 0);
	wr(a + PAGE, 77);
	cr_assert_eq(rd(a + PAGE), 77);
	cr_assert_eq(stats().eaccepts, 2);
}

Test(emm, region_handler_commits_pages_of_a_reserved_region)
{
	boot((struct setup){0});
	struct mm_call c = {.op = OP_ALLOC_HANDLER, .len = 4 * PAGE, .flags = RSV | RW, .aux = HANDLER_COMMIT};
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	cr_assert_eq(c.ret, 0);
	wr(c.out + 8, 8);
	wr(c.out + 2 * PAGE, 2);
	cr_assert_eq(rd(c.out + 8), 8);
	cr_assert_eq(mm(OP_HANDLED, 0, 0, 0), 2, "the handler ran for each new page");
	cr_assert_eq(query(c.out + 2 * PAGE, NULL), 1);
	cr_assert_eq(query(c.out + PAGE, NULL), 0);
	cr_assert_eq(stats().demand_faults, 0, "the manager itself committed nothing on demand");
}

Test(emm, region_handler_that_declines_leaves_the_fault_reported)
{
	boot((struct setup){0});
	struct mm_call c = {.op = OP_ALLOC_HANDLER, .len = PAGE, .flags = RSV | RW, .aux = HANDLER_DECLINE};
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	cr_assert_eq(c.ret, 0);
	expect_fault(3, ACC_WRITE, c.out, PF_SGX | PF_U | PF_W | PF_P);
	cr_assert_eq(mm(OP_HANDLED, 0, 0, 0), 1);
}

Test(emm, calls_that_need_the_host_fail_with_eperm_in_an_exception_handler)
{
	boot((struct setup){.n_dyn_threads = 1});
	struct mm_call c = {.op = OP_ALLOC_HANDLER, .len = 2 * PAGE, .flags = RSV | RW, .aux = HANDLER_PROBE};
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	cr_assert_eq(c.ret, 0);
	uint64_t a = c.out;
	cr_assert_eq(mm(OP_COMMIT, a + PAGE, PAGE, 0), 0);
	wr(a, 1); /* the handler runs, probes, then commits the page */
	cr_assert_eq(rd(a), 1);
	struct mm_call h = mm_call(OP_HANDLED, 0, 0, 0);
	cr_assert_eq(h.ret, 1);
	cr_assert_eq(h.probe[PROBE_ALLOC_READ_ONLY], -EPERM, "R only needs a RESTRICT");
	cr_assert_eq(h.probe[PROBE_ALLOC_RW], 0, "RW needs only EACCEPT, the host EAUGs on the fault");
	cr_assert_eq(h.probe[PROBE_COMMIT_DATA], -EPERM);
	cr_assert_eq(h.probe[PROBE_UNCOMMIT], -EPERM);
	cr_assert_eq(h.probe[PROBE_PERMS], -EPERM);
	cr_assert_eq(h.probe[PROBE_TYPE], -EPERM);
	cr_assert_eq(h.probe[PROBE_THREAD_ADD], -EPERM);
	uint32_t prot = 0;
	cr_assert_eq(query(a + PAGE, &prot), 1, "the probes changed nothing");
	cr_assert_eq(prot, RW);
	struct mm_stats s = stats();
	cr_assert_eq(s.reserved_bytes, 3 * PAGE, "the region and the RW page allocated in the handler");
	cr_assert_eq(s.committed_bytes, 3 * PAGE);
	cr_assert_eq(s.ocalls_restrict + s.ocalls_modify_type + s.ocalls_remove + s.ocalls_mprotect, 0);
}

Test(emm, commit_rejects_ranges_outside_one_region)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, RSV | RW);
	uint64_t b = alloc(a + 2 * PAGE, 2 * PAGE, RSV | RW | RT_MM_FIXED);
	cr_assert_eq(mm(OP_COMMIT, a + PAGE, 2 * PAGE, 0), -EINVAL, "two regions");
	cr_assert_eq(mm(OP_COMMIT, b + 2 * PAGE, PAGE, 0), -EINVAL, "past the regions");
	cr_assert_eq(mm(OP_COMMIT, a + 8, PAGE, 0), -EINVAL, "unaligned");
	cr_assert_eq(mm(OP_COMMIT, a, 0, 0), -EINVAL, "empty");
	cr_assert_eq(stats().eaccepts, 0);
}

Test(emm, reserve_with_read_only_permissions_commits_read_only_pages)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, RSV | RT_MM_PROT_READ);
	cr_assert_eq(mm(OP_COMMIT, a, 2 * PAGE, 0), 0);
	uint32_t prot = 0;
	cr_assert_eq(query(a + PAGE, &prot), 1);
	cr_assert_eq(prot, RT_MM_PROT_READ);
	cr_assert_eq(rd(a + PAGE), 0);
	struct mm_stats s = stats();
	cr_assert_eq(s.eaccepts, 4, "EACCEPT as RW, then EACCEPT of the restriction");
	cr_assert_eq(s.ocalls_restrict, 1);
	expect_fault(3, ACC_WRITE, a + PAGE, PF_SGX | PF_U | PF_W | PF_P);
}

Test(emm, reserve_without_permissions_commits_read_write_pages)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, PAGE, RSV);
	cr_assert_eq(mm(OP_COMMIT, a, PAGE, 0), 0);
	uint32_t prot = 0;
	cr_assert_eq(query(a, &prot), 1);
	cr_assert_eq(prot, RW);
	wr(a, 9);
	cr_assert_eq(rd(a), 9);
}

/* ---- rt_mm_commit_data ---- */

Test(emm, commit_data_as_read_execute_runs_the_code)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, RSV | RX);
	cr_assert_eq(commit_data(a + PAGE, PAGE, SRC_ALIGNED, RX, CODE42), 0);
	uint32_t prot = 0;
	cr_assert_eq(query(a + PAGE, &prot), 1);
	cr_assert_eq(prot, RX);
	cr_assert_eq(query(a, NULL), 0);
	cr_assert_eq(access_ok(ACC_CALL, a + PAGE, 0), 42);
	cr_assert_eq(rd(a + PAGE), CODE42, "the page holds the copy");
	struct mm_stats s = stats();
	cr_assert_eq(s.eacceptcopies, 1);
	cr_assert_eq(s.eaccepts, 0, "EACCEPTCOPY alone accepts the page");
	cr_assert_eq(s.ocalls_augment, 1);
	cr_assert_eq(s.ocalls_mprotect, 1, "the host maps it R-X");
	/* Not writable: the host maps it R-X (an ordinary #PF), and the EPCM never gave it W either. */
	expect_fault(3, ACC_WRITE, a + PAGE, PF_U | PF_W | PF_P);
}

Test(emm, uncommitted_code_page_is_mapped_read_write_again)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, PAGE, RSV | RW);
	cr_assert_eq(commit_data(a, PAGE, SRC_ALIGNED, RX, CODE42), 0);
	cr_assert_eq(access_ok(ACC_CALL, a, 0), 42);
	cr_assert_eq(mm(OP_UNCOMMIT, a, PAGE, 0), 0);
	cr_assert_eq(stats().ocalls_mprotect, 2, "R-X for the code, RW again after the trim");
	cr_assert_eq(mm(OP_COMMIT, a, PAGE, 0), 0);
	wr(a, 12);
	cr_assert_eq(rd(a), 12, "a writable data page again");
	uint32_t prot = 0;
	cr_assert_eq(query(a, &prot), 1);
	cr_assert_eq(prot, RW);
}

Test(emm, commit_data_copies_from_an_unaligned_source)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, LAZY | RW);
	cr_assert_eq(commit_data(a, 2 * PAGE, SRC_UNALIGNED, RW, 0x0123456789abcdefULL), 0);
	cr_assert_eq(rd(a), 0x0123456789abcdefULL);
	cr_assert_eq(rd(a + PAGE), 0);
	wr(a + PAGE, 4);
	cr_assert_eq(rd(a + PAGE), 4);
	struct mm_stats s = stats();
	cr_assert_eq(s.eacceptcopies, 2);
	cr_assert_eq(s.ocalls_mprotect, 0, "no executable page: the mapping stays RW");
	cr_assert_eq(s.demand_faults, 0);
}

Test(emm, commit_data_rejects_bad_arguments)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, NOW | RW);
	uint64_t b = alloc(0, 2 * PAGE, RSV | RW);
	cr_assert_eq(commit_data(a, PAGE, SRC_ALIGNED, RW, 1), -EBUSY, "committed already");
	cr_assert_eq(commit_data(b, 2 * PAGE, SRC_NULL, RW, 1), -EINVAL, "no data");
	cr_assert_eq(commit_data(b, PAGE, SRC_RANGE, RW, 1), -EINVAL, "data overlapping the range");
	cr_assert_eq(commit_data(b, PAGE, SRC_ARG, RW, 1), -EINVAL, "data outside the enclave");
	cr_assert_eq(commit_data(b, PAGE, SRC_ALIGNED, RT_MM_PROT_EXEC, 1), -EINVAL, "X without R");
	cr_assert_eq(commit_data(b, PAGE, SRC_ALIGNED, RT_MM_PROT_WRITE, 1), -EINVAL, "W without R");
	cr_assert_eq(commit_data(b, PAGE, SRC_ALIGNED, RW | NOW, 1), -EINVAL, "not only permissions");
	cr_assert_eq(commit_data(b + PAGE, 2 * PAGE, SRC_ALIGNED, RW, 1), -EINVAL, "past the region");
	cr_assert_eq(commit_data(b + 8, PAGE, SRC_ALIGNED, RW, 1), -EINVAL, "unaligned");
	struct mm_stats s = stats();
	cr_assert_eq(s.eacceptcopies, 0);
	cr_assert_eq(query(b, NULL), 0);
}

Test(emm, rw_policy_refuses_executable_data_and_commits_nothing)
{
	boot((struct setup){.policy = "rw"});
	uint64_t a = alloc(0, 2 * PAGE, RSV | RX);
	cr_assert_eq(commit_data(a, 2 * PAGE, SRC_ALIGNED, RX, CODE42), -EACCES);
	cr_assert_eq(query(a, NULL), 0);
	cr_assert_eq(query(a + PAGE, NULL), 0);
	struct mm_stats s = stats();
	cr_assert_eq(s.eacceptcopies, 0, "the host refused the executable ceiling before any copy");
	cr_assert_eq(s.committed_bytes, 0);
	/* Data without X is fine under the same policy. */
	cr_assert_eq(commit_data(a, 2 * PAGE, SRC_ALIGNED, RT_MM_PROT_READ, CODE42), 0);
	cr_assert_eq(rd(a), CODE42);
	cr_assert_eq(stats().eacceptcopies, 2);
}

Test(emm, rw_policy_refusal_without_augment_undoes_the_copied_pages)
{
	boot((struct setup){.policy = "rw", .lies = HIDE_AUGMENT});
	cr_assert_not(sdk_enclave_augment(encl));
	uint64_t a = alloc(0, 2 * PAGE, RSV | RX);
	/* EAUG on fault, EACCEPTCOPY as R-X, then the host refuses to map them executable: both trimmed again. */
	cr_assert_eq(commit_data(a, 2 * PAGE, SRC_ALIGNED, RX, CODE42), -EACCES);
	cr_assert_eq(query(a, NULL), 0);
	cr_assert_eq(query(a + PAGE, NULL), 0);
	struct mm_stats s = stats();
	cr_assert_eq(s.eacceptcopies, 2);
	cr_assert_eq(s.ocalls_augment, 0);
	cr_assert_eq(s.ocalls_mprotect, 1);
	cr_assert_eq(s.ocalls_modify_type, 1);
	cr_assert_eq(s.eaccepts, 2, "each page accepted as TRIM");
	cr_assert_eq(s.ocalls_remove, 1);
	cr_assert_eq(s.committed_bytes, 0);
	cr_assert_eq(commit_data(a, PAGE, SRC_ALIGNED, RW, 5), 0, "the pages can be committed again");
	cr_assert_eq(rd(a), 5);
}

Test(emm, rw_policy_makes_commit_now_of_executable_pages_fail_and_release_the_region)
{
	boot((struct setup){.policy = "rw"});
	cr_assert_eq(mm(OP_ALLOC, dyn, 2 * PAGE, NOW | RX | RT_MM_FIXED), -EACCES);
	cr_assert_eq(query(dyn, NULL), -EINVAL, "no region left");
	struct mm_stats s = stats();
	cr_assert_eq(s.reserved_bytes, 0);
	cr_assert_eq(s.eaccepts, 0);
	cr_assert_eq(alloc(dyn, 2 * PAGE, NOW | RW | RT_MM_FIXED), dyn);
	cr_assert_eq(stats().ocalls_augment, 2, "R|W|X refused once; later requests ask for R|W only");
	uint64_t r = alloc(0, PAGE, RSV | RX);
	cr_assert_eq(mm(OP_COMMIT, r, PAGE, 0), -EACCES, "known refused: no request at all");
	cr_assert_eq(query(r, NULL), 0);
	cr_assert_eq(stats().ocalls_augment, 2);
}

/* ---- rt_mm_uncommit, rt_mm_dealloc ---- */

Test(emm, uncommitted_pages_fault_again)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 3 * PAGE, NOW | RW);
	wr(a + PAGE, 1);
	cr_assert_eq(mm(OP_UNCOMMIT, a + PAGE, 2 * PAGE, 0), 0);
	cr_assert_eq(query(a, NULL), 1);
	cr_assert_eq(query(a + PAGE, NULL), 0);
	cr_assert_eq(query(a + 2 * PAGE, NULL), 0);
	struct mm_stats s = stats();
	cr_assert_eq(s.committed_bytes, PAGE);
	cr_assert_eq(s.reserved_bytes, 3 * PAGE, "the range stays allocated");
	cr_assert_eq(s.ocalls_modify_type, 1);
	cr_assert_eq(s.ocalls_remove, 1);
	cr_assert_eq(s.eaccepts, 3 + 2);
	expect_fault(3, ACC_READ, a + PAGE, PF_SGX | PF_U | PF_P);
	/* Committed again, the page is a fresh zero page. */
	cr_assert_eq(mm(OP_COMMIT, a, 3 * PAGE, 0), 0);
	cr_assert_eq(rd(a + PAGE), 0);
	cr_assert_eq(mm(OP_UNCOMMIT, a + 8, PAGE, 0), -EINVAL);
	cr_assert_eq(mm(OP_UNCOMMIT, a + 2 * PAGE, 2 * PAGE, 0), -EINVAL);
	cr_assert_eq(mm(OP_UNCOMMIT, a, 0, 0), -EINVAL);
}

Test(emm, uncommitted_on_demand_page_is_committed_again_at_the_next_access)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, LAZY | RW);
	wr(a, 0xabc);
	cr_assert_eq(mm(OP_UNCOMMIT, a, 2 * PAGE, 0), 0);
	cr_assert_eq(query(a, NULL), 0);
	cr_assert_eq(rd(a), 0, "a new zero page");
	struct mm_stats s = stats();
	cr_assert_eq(s.demand_faults, 2);
	cr_assert_eq(s.ocalls_modify_type, 1, "only the committed page was trimmed");
}

Test(emm, dealloc_releases_whole_and_partial_regions)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 4 * PAGE, NOW | RW);
	cr_assert_eq(mm(OP_DEALLOC, a + PAGE, 2 * PAGE, 0), 0, "the middle: the region splits");
	cr_assert_eq(query(a, NULL), 1);
	cr_assert_eq(query(a + PAGE, NULL), -EINVAL);
	cr_assert_eq(query(a + 2 * PAGE, NULL), -EINVAL);
	cr_assert_eq(query(a + 3 * PAGE, NULL), 1);
	cr_assert_eq(alloc(a + PAGE, 2 * PAGE, RSV | RT_MM_FIXED), a + PAGE);
	cr_assert_eq(mm(OP_DEALLOC, a + 4 * PAGE, PAGE, 0), -EINVAL, "not allocated");
	cr_assert_eq(mm(OP_DEALLOC, a + 3 * PAGE, 2 * PAGE, 0), -EINVAL, "partly not allocated");
	cr_assert_eq(mm(OP_DEALLOC, a, 4 * PAGE, 0), 0, "three adjacent regions at once");
	for (int i = 0; i < 4; i++)
		cr_assert_eq(query(a + i * PAGE, NULL), -EINVAL);
	struct mm_stats s = stats();
	cr_assert_eq(s.reserved_bytes, 0);
	cr_assert_eq(s.committed_bytes, 0);
	cr_assert_eq(alloc(0, 4 * PAGE, NOW | RW), a, "everything is free again");
}

Test(emm, dealloc_of_a_middle_part_needs_a_region_slot)
{
	boot((struct setup){.dyn_size = 4 * 1024 * 1024});
	for (unsigned i = 0; i < RT_MM_MAX_REGIONS; i++)
		alloc(dyn + 2 * i * 3 * PAGE, 3 * PAGE, RSV | RT_MM_FIXED);
	cr_assert_eq(mm(OP_ALLOC, 0, PAGE, RSV), -ENOMEM, "no region slot left");
	cr_assert_eq(mm(OP_DEALLOC, dyn + PAGE, PAGE, 0), -ENOMEM);
	cr_assert_eq(mm(OP_DEALLOC, dyn, PAGE, 0), 0, "a cut at the start needs no slot");
	cr_assert_eq(query(dyn + PAGE, NULL), 0);
}

/* ---- rt_mm_modify_permissions ---- */

Test(emm, narrowed_page_faults_on_write_with_an_sgx_page_fault)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, NOW | RW);
	wr(a, 0x77);
	cr_assert_eq(mm(OP_PERMS, a, 2 * PAGE, RT_MM_PROT_READ), 0);
	uint32_t prot = 0;
	cr_assert_eq(query(a, &prot), 1);
	cr_assert_eq(prot, RT_MM_PROT_READ);
	cr_assert_eq(rd(a), 0x77, "still readable");
	struct mm_stats s = stats();
	cr_assert_eq(s.ocalls_restrict, 1);
	cr_assert_eq(s.eaccepts, 2 + 2);
	cr_assert_eq(s.ocalls_mprotect, 0, "the host mapping stays RW: the EPCM decides");
	/* The EPCM refuses the write: error code 0x8007 (SGX, user, write, present). */
	expect_fault(3, ACC_WRITE, a + PAGE, 0x8007);
	/* Widening back works (EMODPE, no host call). */
	cr_assert_eq(mm(OP_PERMS, a, 2 * PAGE, RW), 0);
	wr(a + PAGE, 5);
	cr_assert_eq(rd(a + PAGE), 5);
	s = stats();
	cr_assert_eq(s.emodpes, 2);
	cr_assert_eq(s.ocalls_restrict, 1);
	cr_assert_eq(s.ocalls_mprotect, 0);
}

Test(emm, no_permissions_then_read_faults_and_widening_restores_access)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, PAGE, NOW | RW);
	wr(a, 3);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RT_MM_PROT_NONE), 0);
	uint32_t prot = 99;
	cr_assert_eq(query(a, &prot), 1);
	cr_assert_eq(prot, RT_MM_PROT_NONE);
	expect_fault(3, ACC_READ, a, PF_SGX | PF_U | PF_P);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RT_MM_PROT_READ), 0);
	cr_assert_eq(rd(a), 3, "the content survived");
}

Test(emm, widening_to_execute_runs_code_written_before)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, PAGE, NOW | RW);
	wr(a, CODE42);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RX), 0);
	cr_assert_eq(access_ok(ACC_CALL, a, 0), 42);
	struct mm_stats s = stats();
	cr_assert_eq(s.ocalls_mprotect, 1, "mapped R-X before the EMODPE");
	cr_assert_eq(s.emodpes, 1);
	cr_assert_eq(s.ocalls_restrict, 1, "W removed");
	/* And back to data: the mapping returns to RW. */
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RW), 0);
	wr(a, 1);
	cr_assert_eq(rd(a), 1);
	cr_assert_eq(stats().ocalls_mprotect, 2);
}

Test(emm, modify_permissions_rejects_bad_arguments)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, LAZY | RW);
	wr(a, 1);
	cr_assert_eq(mm(OP_PERMS, a, 2 * PAGE, RT_MM_PROT_READ), -EINVAL, "a page is not committed");
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RT_MM_PROT_WRITE), -EINVAL);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RT_MM_PROT_EXEC), -EINVAL);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RW | NOW), -EINVAL);
	cr_assert_eq(mm(OP_PERMS, a, 3 * PAGE, RW), -EINVAL, "past the region");
	cr_assert_eq(mm(OP_PERMS, a, 0, RW), -EINVAL);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RW), 0, "nothing to change");
	struct mm_stats s = stats();
	cr_assert_eq(s.emodpes + s.ocalls_restrict + s.ocalls_mprotect, 0);
}

Test(emm, wx_exclusive_policy_refuses_writable_code_and_changes_nothing)
{
	boot((struct setup){.policy = "wx-exclusive"});
	uint64_t a = alloc(0, PAGE, NOW | RW);
	wr(a, CODE42);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RWX), -EACCES);
	uint32_t prot = 0;
	cr_assert_eq(query(a, &prot), 1);
	cr_assert_eq(prot, RW);
	cr_assert_eq(stats().emodpes, 0, "refused before the EPCM changed");
	wr(a + 8, 2);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RX), 0, "W^X is fine");
	cr_assert_eq(access_ok(ACC_CALL, a, 0), 42);
}

/* ---- rt_mm_modify_type ---- */

Test(emm, page_becomes_a_tcs_and_is_trimmed_again)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, NOW | RW);
	struct mm_call c = {.op = OP_WRITE_TCS, .addr = a, .aux = 2};
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	cr_assert_eq(mm(OP_TYPE, a, PAGE, RT_MM_TYPE_TCS), 0);
	uint32_t prot = 99;
	cr_assert_eq(query(a, &prot), 1);
	cr_assert_eq(prot, RT_MM_PROT_NONE, "a TCS has no permissions");
	cr_assert_eq(mm(OP_TYPE, a, PAGE, RT_MM_TYPE_TCS), -EPERM, "a TCS already");
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RW), -EINVAL, "no permissions on a TCS");
	cr_assert_eq(commit_data(a, PAGE, SRC_ALIGNED, RW, 1), -EBUSY);
	struct mm_stats s = stats();
	cr_assert_eq(s.ocalls_modify_type, 1);
	cr_assert_eq(s.eaccepts, 2 + 1);
	/* Enclave code cannot touch a TCS page. */
	expect_fault(3, ACC_READ, a, PF_SGX | PF_U | PF_P);
	cr_assert_eq(mm(OP_TYPE, a, PAGE, RT_MM_TYPE_TRIM), 0, "TRIM = uncommit");
	cr_assert_eq(query(a, NULL), 0);
	cr_assert_eq(stats().ocalls_modify_type, 2);
}

Test(emm, modify_type_rejects_bad_arguments)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, NOW | RT_MM_PROT_READ);
	uint64_t b = alloc(0, 2 * PAGE, RSV | RW);
	cr_assert_eq(mm(OP_TYPE, a, PAGE, RT_MM_TYPE_TCS), -EINVAL, "not RW");
	cr_assert_eq(mm(OP_TYPE, b, PAGE, RT_MM_TYPE_TCS), -EINVAL, "not committed");
	cr_assert_eq(mm(OP_TYPE, a, 2 * PAGE, RT_MM_TYPE_TCS), -EINVAL, "two pages");
	cr_assert_eq(mm(OP_TYPE, a, PAGE, RT_MM_TYPE_REG), -EINVAL);
	cr_assert_eq(mm(OP_TYPE, a, PAGE, RT_MM_TYPE_TCS | RT_MM_TYPE_TRIM), -EINVAL);
	cr_assert_eq(mm(OP_TYPE, dyn + 512 * PAGE, PAGE, RT_MM_TYPE_TCS), -EINVAL, "no region");
	cr_assert_eq(stats().ocalls_modify_type, 0);
}

Test(emm, page_with_invalid_tcs_content_fails_with_efault)
{
	boot((struct setup){0});
	uint64_t a = alloc(0, 2 * PAGE, NOW | RW);
	struct mm_call c = {.op = OP_WRITE_TCS, .addr = a, .aux = 0}; /* NSSA 0: CSSA >= NSSA, EACCEPT raises #GP */
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	cr_assert_eq(mm(OP_TYPE, a, PAGE, RT_MM_TYPE_TCS), -EFAULT, "the #GP of EACCEPT comes back as an error");
	uint32_t prot = 99;
	cr_assert_eq(query(a, &prot), 1, "a TCS nobody can enter");
	cr_assert_eq(prot, RT_MM_PROT_NONE);
	/* SGX has no way back for a TCS never accepted: EMODT refuses a MODIFIED page. */
	cr_assert_eq(mm(OP_UNCOMMIT, a, PAGE, 0), -EFAULT);
	cr_assert_eq(query(a, NULL), 1);
	/* The rest of the region is unaffected. */
	wr(a + PAGE, 8);
	cr_assert_eq(rd(a + PAGE), 8);
}

/* ---- threads ---- */

Test(emm, thread_created_at_run_time_serves_ecalls)
{
	boot((struct setup){.n_dyn_threads = 2});
	const struct sgxemu_layout *l = sdk_enclave_layout(encl);
	uint64_t area0 = sdk_enclave_base(encl) + l->tcs_dyn_offset;
	struct mm_call c = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(c.out, area0 + SGXEMU_TA_TCS(l), "the first dynamic slot");
	int index = sdk_enclave_add_tcs(encl, c.out);
	cr_assert_eq(index, N_TCS);
	cr_assert_eq(sdk_enclave_tcs_count(encl), N_TCS + 1);
	cr_assert_eq(ecall(index, EC_THREAD, NULL, 0), N_TCS, "thread index n_tcs + slot");
	cr_assert_eq(ecall(index, EC_THREAD, NULL, 0), N_TCS, "and again");
	cr_assert(strstr(printed, "thread 4\n"), "%s", printed);
	struct mm_stats s = stats();
	uint64_t pages = (SGXEMU_TA_SIZE(l) - PAGE) / PAGE;
	cr_assert_eq(s.committed_bytes, pages * PAGE);
	cr_assert_eq(s.reserved_bytes, l->thread_stride);
	cr_assert_eq(s.eaccepts, pages + 1, "every page, and the TCS");
	cr_assert_eq(s.ocalls_augment, 1);
	cr_assert_eq(s.ocalls_modify_type, 1);
	/* The second slot. */
	struct mm_call d = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(d.ret, 0);
	cr_assert_eq(d.out, c.out + l->thread_stride);
	cr_assert_eq(sdk_enclave_add_tcs(encl, d.out), N_TCS + 1);
	cr_assert_eq(ecall(N_TCS + 1, EC_THREAD, NULL, 0), N_TCS + 1);
	cr_assert_eq(mm(OP_THREAD_ADD, 0, 0, 0), -ENOSPC, "every slot used");
	/* Removal: the host first, then the enclave trims the area. */
	cr_assert_eq(sdk_enclave_remove_tcs(encl, c.out), 0);
	struct sdk_ecall_info info;
	cr_assert_eq(sdk_enclave_ecall(encl, index, EC_THREAD, NULL, 0, NULL, &info), -EINVAL, "%s", info.message);
	cr_assert_eq(mm(OP_THREAD_REMOVE, c.out, 0, 0), 0);
	cr_assert_eq(stats().committed_bytes, pages * PAGE, "the other thread's pages");
	cr_assert_eq(mm(OP_THREAD_REMOVE, c.out, 0, 0), -EINVAL, "removed already");
	/* The slot is reused, and so is the host's pool index. */
	struct mm_call e = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(e.ret, 0);
	cr_assert_eq(e.out, c.out);
	cr_assert_eq(sdk_enclave_add_tcs(encl, e.out), index);
	cr_assert_eq(ecall(index, EC_THREAD, NULL, 0), N_TCS);
}

/*
 * An enclave with the AEXNOTIFY attribute: EENTER refuses a TCS without the
 * flag, so the image's TCSs and the runtime's run-time ones carry it.
 */
Test(emm, aexnotify_enclave_static_and_run_time_threads_have_the_tcs_flag)
{
	boot((struct setup){.n_dyn_threads = 1, .aexnotify = true});
	const struct sgxemu_layout *l = sdk_enclave_layout(encl);
	cr_assert(l->flags & SGXEMU_LAYOUT_AEXNOTIFY);
	cr_assert_eq(ecall(0, EC_THREAD, NULL, 0), 0, "a static TCS is entered");
	struct mm_call c = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(c.ret, 0);
	int index = sdk_enclave_add_tcs(encl, c.out);
	cr_assert_eq(index, N_TCS);
	cr_assert_eq(ecall(index, EC_THREAD, NULL, 0), N_TCS, "the run-time TCS is entered");
}

Test(emm, thread_remove_refuses_other_addresses_and_a_running_thread)
{
	boot((struct setup){.n_dyn_threads = 1});
	const struct sgxemu_layout *l = sdk_enclave_layout(encl);
	struct mm_call c = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(mm(OP_THREAD_REMOVE, c.out + PAGE, 0, 0), -EINVAL, "not a TCS");
	cr_assert_eq(mm(OP_THREAD_REMOVE, sdk_enclave_tcs(encl, 0), 0, 0), -EINVAL, "a static TCS");
	cr_assert_eq(mm(OP_THREAD_REMOVE, c.out + l->thread_stride, 0, 0), -EINVAL, "past the slots");
	/* On the new thread itself: its own ECALL keeps it busy. */
	int index = sdk_enclave_add_tcs(encl, c.out);
	struct mm_call self = {.op = OP_THREAD_REMOVE, .addr = c.out};
	cr_assert_eq(ecall(index, EC_MM, &self, sizeof(self)), 0);
	cr_assert_eq(self.ret, -EBUSY);
	cr_assert_eq(ecall(index, EC_THREAD, NULL, 0), N_TCS, "still usable");
}

Test(emm, loader_pool_accepts_only_dynamic_tcs_addresses)
{
	boot((struct setup){.n_dyn_threads = 1});
	const struct sgxemu_layout *l = sdk_enclave_layout(encl);
	uint64_t tcs = sdk_enclave_base(encl) + l->tcs_dyn_offset + SGXEMU_TA_TCS(l);
	cr_assert_eq(sdk_enclave_add_tcs(encl, sdk_enclave_tcs(encl, 0)), -EINVAL, "a static TCS");
	cr_assert_eq(sdk_enclave_add_tcs(encl, tcs + PAGE), -EINVAL, "not the TCS of the area");
	cr_assert_eq(sdk_enclave_add_tcs(encl, tcs + l->thread_stride), -EINVAL, "past the areas");
	cr_assert_eq(sdk_enclave_add_tcs(encl, tcs), N_TCS);
	cr_assert_eq(sdk_enclave_add_tcs(encl, tcs), -EEXIST);
	cr_assert_eq(sdk_enclave_remove_tcs(encl, sdk_enclave_tcs(encl, 1)), -EPERM);
	cr_assert_eq(sdk_enclave_remove_tcs(encl, tcs + l->thread_stride), -ENOENT);
	cr_assert_eq(sdk_enclave_remove_tcs(encl, tcs), 0);
	cr_assert_eq(sdk_enclave_remove_tcs(encl, tcs), -ENOENT);
}

/* ---- the host: EPC pressure, no AUGMENT, lies ---- */

Test(emm, committed_memory_larger_than_the_epc_works)
{
	boot((struct setup){.epc_size = 1024 * 1024, .dyn_size = 8 * 1024 * 1024});
	uint64_t big = 4 * 1024 * 1024, lazy = 2 * 1024 * 1024;
	uint64_t a = alloc(0, big, NOW | RW);
	fill(a, big, 0xa);
	cr_assert_eq(mismatches(a, big, 0xa), 0);
	uint64_t b = alloc(0, lazy, LAZY | RW);
	fill(b, lazy, 0xb);
	cr_assert_eq(mismatches(b, lazy, 0xb), 0);
	cr_assert_eq(mismatches(a, big, 0xa), 0, "evicted pages come back intact");
	struct sgxemu_stats es;
	sgxemu_get_stats(&es);
	cr_assert_eq(es.epc_size, 1024 * 1024);
	cr_assert_gt(es.pages_evicted, 0);
	struct mm_stats s = stats();
	cr_assert_eq(s.committed_bytes, big + lazy);
	cr_assert_eq(s.demand_faults, lazy / PAGE);
	cr_assert_eq(mm(OP_DEALLOC, a, big, 0), 0);
	cr_assert_eq(mm(OP_DEALLOC, b, lazy, 0), 0);
	cr_assert_eq(stats().committed_bytes, 0);
}

Test(emm, without_augment_pages_come_from_eaccept_faults)
{
	boot((struct setup){.lies = HIDE_AUGMENT, .n_dyn_threads = 1});
	uint64_t a = alloc(0, 4 * PAGE, NOW | RW);
	fill(a, 4 * PAGE, 4);
	cr_assert_eq(mismatches(a, 4 * PAGE, 4), 0);
	cr_assert_eq(commit_data(alloc(0, PAGE, RSV | RX), PAGE, SRC_ALIGNED, RX, CODE42), 0);
	struct mm_call t = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(t.ret, 0);
	int index = sdk_enclave_add_tcs(encl, t.out);
	cr_assert_eq(ecall(index, EC_THREAD, NULL, 0), N_TCS);
	struct mm_stats s = stats();
	cr_assert_eq(s.ocalls_augment, 0, "the host did not offer AUGMENT");
	cr_assert_eq(s.eacceptcopies, 1);
}

Test(emm, host_that_never_adds_pages_gives_efault)
{
	boot((struct setup){.lies = FAKE_AUGMENT, .n_dyn_threads = 1});
	/* The host claims AUGMENT worked and keeps the area unmapped, so no fault can add a page either. */
	cr_assert_eq(sgxemu_mprotect((void *)(uintptr_t)dyn, 1024 * 1024, PROT_NONE), 0);
	cr_assert_eq(mm(OP_ALLOC, dyn, 2 * PAGE, NOW | RW | RT_MM_FIXED), -EFAULT);
	cr_assert_eq(query(dyn, NULL), -EINVAL, "the region is released");
	uint64_t r = alloc(0, 2 * PAGE, RSV | RW);
	cr_assert_eq(mm(OP_COMMIT, r, 2 * PAGE, 0), -EFAULT);
	cr_assert_eq(commit_data(r, PAGE, SRC_ALIGNED, RT_MM_PROT_READ, 1), -EFAULT);
	cr_assert_eq(query(r, NULL), 0);
	const struct sgxemu_layout *l = sdk_enclave_layout(encl);
	cr_assert_eq(sgxemu_mprotect((void *)(uintptr_t)(sdk_enclave_base(encl) + l->tcs_dyn_offset), l->thread_stride,
				     PROT_NONE),
		     0);
	cr_assert_eq(mm(OP_THREAD_ADD, 0, 0, 0), -EFAULT);
	struct mm_stats s = stats();
	cr_assert_eq(s.ocalls_augment, 4);
	cr_assert_eq(s.eaccepts + s.eacceptcopies, 0);
	cr_assert_eq(s.reserved_bytes, 2 * PAGE, "the reserve only: the thread slot is free again");
	cr_assert_eq(s.committed_bytes, 0);
}

Test(emm, host_that_does_not_restrict_gives_efault)
{
	boot((struct setup){.lies = FAKE_RESTRICT});
	uint64_t a = alloc(0, PAGE, NOW | RW);
	cr_assert_eq(mm(OP_PERMS, a, PAGE, RT_MM_PROT_READ), -EFAULT);
	uint32_t prot = 0;
	cr_assert_eq(query(a, &prot), 1);
	cr_assert_eq(prot, RW, "the EACCEPT proved nothing changed");
	wr(a, 6);
	cr_assert_eq(rd(a), 6);
}

Test(emm, host_that_does_not_trim_gives_efault)
{
	boot((struct setup){.lies = FAKE_MODIFY, .n_dyn_threads = 2});
	uint64_t a = alloc(0, 2 * PAGE, NOW | RW);
	cr_assert_eq(mm(OP_UNCOMMIT, a, 2 * PAGE, 0), -EFAULT);
	cr_assert_eq(query(a, NULL), 1, "still committed");
	cr_assert_eq(stats().ocalls_remove, 0, "nothing to remove");
	wr(a, 1);
	/* A failed dealloc keeps the range allocated. */
	cr_assert_eq(mm(OP_DEALLOC, a, 2 * PAGE, 0), -EFAULT);
	cr_assert_eq(query(a + PAGE, NULL), 1);
	/* A thread added while the host behaves, removed while it lies: the slot is lost. */
	lies = 0;
	struct mm_call t = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(t.ret, 0);
	lies = FAKE_MODIFY;
	cr_assert_eq(mm(OP_THREAD_REMOVE, t.out, 0, 0), -EFAULT);
	cr_assert_eq(mm(OP_THREAD_REMOVE, t.out, 0, 0), -EINVAL, "not a usable thread any more");
	/* A thread whose TCS the host never made: its slot cannot be given back either. */
	cr_assert_eq(mm(OP_THREAD_ADD, 0, 0, 0), -EFAULT);
	cr_assert_eq(mm(OP_THREAD_ADD, 0, 0, 0), -ENOSPC, "both slots are lost");
}

Test(emm, host_that_refuses_a_tcs_gives_eacces)
{
	boot((struct setup){.lies = DENY_TCS, .n_dyn_threads = 1});
	uint64_t a = alloc(0, PAGE, NOW | RW);
	struct mm_call c = {.op = OP_WRITE_TCS, .addr = a, .aux = 2};
	cr_assert_eq(ecall(-1, EC_MM, &c, sizeof(c)), 0);
	cr_assert_eq(mm(OP_TYPE, a, PAGE, RT_MM_TYPE_TCS), -EACCES);
	uint32_t prot = 0;
	cr_assert_eq(query(a, &prot), 1);
	cr_assert_eq(prot, RW, "still a regular page");
	cr_assert_eq(mm(OP_THREAD_ADD, 0, 0, 0), -EACCES);
	struct mm_stats s = stats();
	cr_assert_eq(s.committed_bytes, PAGE, "the thread's pages were trimmed again");
	cr_assert_eq(s.reserved_bytes, PAGE);
	lies = 0;
	struct mm_call t = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(t.ret, 0, "the slot was given back");
	int index = sdk_enclave_add_tcs(encl, t.out);
	cr_assert_eq(ecall(index, EC_THREAD, NULL, 0), N_TCS);
}

/* ---- concurrency ---- */

#define STRESS_ROUNDS 20
#define STRESS_PAGES  3

static void *stress_thread(void *arg)
{
	struct mm_stress s = {.rounds = STRESS_ROUNDS, .pages = STRESS_PAGES};
	int64_t ret = -1;
	struct sdk_ecall_info info;
	int rc = sdk_enclave_ecall(encl, (int)(intptr_t)arg, EC_STRESS, &s, sizeof(s), &ret, &info);
	return (void *)(intptr_t)(rc ? rc - 1000 : ret);
}

Test(emm, threads_allocate_and_free_concurrently)
{
	boot((struct setup){0});
	pthread_t t[2];
	for (intptr_t i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, stress_thread, (void *)i), 0);
	for (int i = 0; i < 2; i++) {
		void *r;
		pthread_join(t[i], &r);
		cr_assert_eq((intptr_t)r, 0, "thread %d: %ld", i, (long)(intptr_t)r);
	}
	struct mm_stats s = stats();
	cr_assert_eq(s.reserved_bytes, 0);
	cr_assert_eq(s.committed_bytes, 0);
	cr_assert_eq(s.demand_faults, 2 * (STRESS_ROUNDS / 2) * STRESS_PAGES, "half the rounds commit on demand");
	cr_assert_eq(s.eaccepts, 2 * STRESS_ROUNDS * STRESS_PAGES * 2, "every page accepted, then accepted as TRIM");
}

Test(emm, thread_add_without_an_output_pointer_is_einval_and_takes_no_slot)
{
	boot((struct setup){.n_dyn_threads = 1});
	cr_assert_eq(mm(OP_THREAD_ADD, 0, 0, 1), -EINVAL);
	cr_assert_eq(stats().committed_bytes, 0, "nothing committed");
	struct mm_call c = mm_call(OP_THREAD_ADD, 0, 0, 0);
	cr_assert_eq(c.ret, 0, "the only slot is still free");
}
