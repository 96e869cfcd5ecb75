/* SPDX-License-Identifier: MIT */
/*
 * The sequence engine (engine.h): decode, predict with the model, execute
 * through the backend, compare.  Every op is checked exactly against the
 * model (model.h) unless a comment at the place says why the model cannot
 * know and what weaker property is checked instead.
 *
 * Addresses: each thread's world owns a 1 TiB zone (and a small zone below
 * 4 GiB for 32-bit enclaves), with a canary page of host memory just below
 * and just above each zone.  MAP_FIXED, mprotect and munmap only act inside
 * a zone (or inside a mapping the sequence made itself); hostile addresses
 * elsewhere are generated only where Linux refuses them before acting.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <asm/sgx.h>

#include "known.h"
#include "model.h"
#include "sgxemu/ext.h"
#include "sigstruct.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED 0x4000000
#endif

/* include/linux/mman.h (6.1): the flags MAP_SHARED_VALIDATE accepts from a file without mmap_supported_flags. */
#define LEGACY_MAP_MASK                                                                                                \
	(MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_UNINITIALIZED |   \
	 MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB |          \
	 MAP_32BIT | (21U << 26) | (30U << 26))

#define PG	M_PAGE
#define ZONE0	0x300000000000ULL
#define ZONE1	0x320000000000ULL
#define ZONE_SZ (1ULL << 40)
#define LOW0	0x10000000ULL
#define LOW1	0x20000000ULL
#define LOW_SZ	0x8000000ULL
#define KADDR	0xffff888000000000ULL
#define NCADDR	0x0000800000001000ULL
/* A descriptor number kept closed: calls on closed slots use it, never a stale number another open may reuse. */
#define CLOSED_FD 997
/* The longest page loop an op may run (ops predicted to loop longer are skipped). */
#define LOOP_CAP    512
#define CANARY_BYTE 0xC3

static const struct fz_backend *B;
static struct m_platform P;
static struct crypto_rsa *KEY;
static int HOSTFD = -1;
static bool TRACE; /* SGXEMU_FUZZ_TRACE=1: print every call (reproducing a finding) */

/*
 * Signals that may arrive during a call: libFuzzer's SIGALRM timer (once a
 * second, for -timeout).  Linux stops ADD_PAGES (partial count, EINTR) and
 * an allocation that would reclaim (EINTR) when one is pending; the model
 * allows that only when one arrived during the call, which this counts.
 */
static volatile unsigned long SIGNALS;
static struct sigaction old_alrm;

static void count_signal(int sig, siginfo_t *si, void *uc)
{
	__atomic_add_fetch(&SIGNALS, 1, __ATOMIC_RELAXED);
	if (old_alrm.sa_flags & SA_SIGINFO) {
		if (old_alrm.sa_sigaction)
			old_alrm.sa_sigaction(sig, si, uc);
	} else if (old_alrm.sa_handler != SIG_DFL && old_alrm.sa_handler != SIG_IGN && old_alrm.sa_handler) {
		old_alrm.sa_handler(sig);
	}
}

/* Put the counter in front of whatever handles SIGALRM now (libFuzzer installs its own after initialising). */
static void count_signals(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	struct sigaction sa = {.sa_sigaction = count_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigaction(SIGALRM, NULL, &old_alrm);
	if (old_alrm.sa_handler == SIG_DFL || old_alrm.sa_handler == SIG_IGN)
		return;
	sa.sa_flags = old_alrm.sa_flags | SA_SIGINFO;
	sa.sa_mask = old_alrm.sa_mask;
	sigaction(SIGALRM, &sa, NULL);
}

static unsigned long signals_now(void)
{
	return __atomic_load_n(&SIGNALS, __ATOMIC_RELAXED);
}

/* ---- scratch memory: operands in every kind of memory ---- */

/* Per purpose four pages: RW, RO, RW2, NONE; then the ADD_PAGES source pool. */
enum pur { PUR_ARG, PUR_SECINFO, PUR_SECS, PUR_SIG, NPUR };
#define POOL_FIRST 16
#define POOL_N	   16
#define POOL_NONE  32
#define POOL_RO	   33
#define SCRATCH_N  36 /* 34, 35: PROT_NONE, so that a source run past the pool stays known */

/* Where an operand lives (one byte of the record; values >= NCLS are C_GOOD). */
enum cls { C_GOOD, C_NULL, C_NONE, C_RO, C_STR_NONE, C_STR_RO, C_KERNEL, C_NONCANON, C_MISALIGN, NCLS };
static const char *const cls_name[NCLS] = {
    "good",   "NULL",	       "PROT_NONE", "read-only", "straddling into PROT_NONE", "straddling read-only into RW",
    "kernel", "non-canonical", "misaligned"};

static bool cls_readable(enum cls c)
{
	return c == C_GOOD || c == C_RO || c == C_STR_RO || c == C_MISALIGN;
}

static bool cls_writable(enum cls c)
{
	return c == C_GOOD || c == C_MISALIGN;
}

static enum cls cls_of(uint8_t b)
{
	return b < NCLS ? (enum cls)b : C_GOOD;
}

/* ---- a thread's context ---- */

struct ctx {
	struct m_world w;
	int tid;
	bool weak; /* two threads: the EPC is shared, so EPC-dependent errors are always allowed */
	int opi;
	const char *opname;
	char desc[768];
	uint8_t *scratch;
	uint64_t canary[2];
	uint64_t low_canary[2];
};

static const char *en(int e)
{
	if (!e)
		return "success";
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

static __attribute__((noreturn, format(printf, 2, 3))) void fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "\n==== %s: invariant violated (thread %d, op %d %s)\n  ", B ? B->name : "fuzz", c->tid, c->opi,
		c->opname ? c->opname : "-");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n  call: %s\n", c->desc);
	va_end(ap);
	fflush(stderr);
	abort();
}

static void descf(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void descf(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->desc, sizeof(c->desc), fmt, ap);
	va_end(ap);
	if (TRACE)
		fprintf(stderr, "[%d] op %d %s: %s\n", c->tid, c->opi, c->opname, c->desc);
}

/* ---- record parameters ---- */

static uint16_t u16(const uint8_t *p, int i)
{
	uint16_t v;
	memcpy(&v, p + i, 2);
	return v;
}

static uint32_t u32(const uint8_t *p, int i)
{
	uint32_t v;
	memcpy(&v, p + i, 4);
	return v;
}

static uint64_t u64(const uint8_t *p, int i)
{
	uint64_t v;
	memcpy(&v, p + i, 8);
	return v;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ---- scratch ---- */

static uint8_t *pur_page(struct ctx *c, enum pur p, unsigned k)
{
	return c->scratch + ((size_t)p * 4 + k) * PG;
}

static void ro_write(uint8_t *page, size_t off, const void *data, size_t len)
{
	mprotect(page, PG, PROT_READ | PROT_WRITE);
	memcpy(page + off, data, len);
	mprotect(page, PG, PROT_READ);
}

/*
 * Put size bytes of data where class cl says and return the user pointer.
 * Bytes that land in accessible pages are written (the read-only page
 * briefly made writable); the rest is the hostile part of the pointer.
 */
static uint64_t place(struct ctx *c, enum pur p, enum cls cl, const void *data, size_t size)
{
	uint8_t *rw = pur_page(c, p, 0), *ro = pur_page(c, p, 1), *rw2 = pur_page(c, p, 2), *none = pur_page(c, p, 3);
	switch (cl) {
	case C_GOOD:
		memcpy(rw, data, size);
		return (uint64_t)(uintptr_t)rw;
	case C_NULL:
		return 0;
	case C_NONE:
		return (uint64_t)(uintptr_t)none;
	case C_RO:
		ro_write(ro, 0, data, size);
		return (uint64_t)(uintptr_t)ro;
	case C_STR_NONE:
		memcpy(none - size / 2, data, size / 2);
		return (uint64_t)(uintptr_t)(none - size / 2);
	case C_STR_RO: {
		/* All but the last 8 bytes in the read-only page, those in the next (writable) one. */
		uint8_t *start = rw2 - (size - 8);
		ro_write(ro, PG - (size - 8), data, size - 8);
		memcpy(rw2, (const uint8_t *)data + size - 8, 8);
		return (uint64_t)(uintptr_t)start;
	}
	case C_KERNEL:
		return KADDR;
	case C_NONCANON:
		return NCADDR;
	case C_MISALIGN: {
		/* A whole page (SECS) runs one byte into the read-only page. */
		size_t head = size < PG - 1 ? size : PG - 1;
		memcpy(rw + 1, data, head);
		if (head < size)
			ro_write(ro, 0, (const uint8_t *)data + head, size - head);
		return (uint64_t)(uintptr_t)(rw + 1);
	}
	case NCLS:
		break;
	}
	abort();
}

/* The source pool: page i's content is a function of i and the input's seed. */
static void pool_fill(struct ctx *c, uint64_t seed)
{
	for (unsigned i = 0; i < POOL_N; i++) {
		uint8_t *pg = c->scratch + (size_t)(POOL_FIRST + i) * PG;
		memset(pg, 0, PG);
		struct sgx_tcs *t = (struct sgx_tcs *)pg;
		switch (i) {
		case 0:
			break;
		case 1: /* a valid TCS (64-bit): OSSA the next page, one SSA frame */
		case 2: /* a TCS with a reserved byte set: EADD #GP */
			t->ossa = PG;
			t->nssa = 1;
			t->fslimit = t->gslimit = 0xFFF;
			if (i == 2)
				pg[100] = 1;
			break;
		case 3:
			for (unsigned b = 0; b < PG; b++)
				pg[b] = (uint8_t)b;
			break;
		default: {
			uint64_t s = seed * 131 + i;
			for (unsigned b = 0; b < PG; b += 8) {
				uint64_t v = xorshift(&s);
				memcpy(pg + b, &v, 8);
			}
			break;
		}
		}
	}
	uint8_t *ro = c->scratch + (size_t)POOL_RO * PG;
	mprotect(ro, PG, PROT_READ | PROT_WRITE);
	memset(ro, 0, PG);
	((struct sgx_tcs *)ro)->fslimit = 0xFFF;
	((struct sgx_tcs *)ro)->gslimit = 0xFFF;
	mprotect(ro, PG, PROT_READ);
}

static int scratch_init(struct ctx *c)
{
	c->scratch = mmap(NULL, SCRATCH_N * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->scratch == MAP_FAILED)
		return -1;
	for (unsigned p = 0; p < NPUR; p++) {
		mprotect(pur_page(c, p, 1), PG, PROT_READ);
		mprotect(pur_page(c, p, 3), PG, PROT_NONE);
	}
	mprotect(c->scratch + (size_t)POOL_NONE * PG, PG, PROT_NONE);
	mprotect(c->scratch + (size_t)POOL_RO * PG, PG, PROT_READ);
	mprotect(c->scratch + (size_t)(POOL_RO + 1) * PG, 2 * PG, PROT_NONE);
	return 0;
}

/* ---- what a page of user memory is to the model ---- */

enum umem { U_FAULT, U_READ, U_RW };

/* Can the kernel read the page at a (GUP: a VMA with VM_READ, not VM_IO/VM_PFNMAP)?  *data: its content if so. */
static enum umem user_page(struct ctx *c, uint64_t a, const uint8_t **data)
{
	static const uint8_t zeros[PG];
	uint64_t s = (uint64_t)(uintptr_t)c->scratch;
	*data = NULL;
	if (a >= s && a < s + SCRATCH_N * PG) {
		unsigned i = (unsigned)((a - s) / PG);
		*data = c->scratch + (size_t)i * PG;
		if (i >= POOL_FIRST && i < POOL_FIRST + POOL_N)
			return U_RW;
		if (i == POOL_RO)
			return U_READ;
		return U_FAULT; /* the operand pages are not used as sources */
	}
	int v = m_vma_at(&c->w, a);
	if (v < 0)
		return U_FAULT;
	const struct m_vma *m = &c->w.vmas[v];
	if (m->kind == M_VMA_ENCL || !(m->prot & PROT_READ))
		return U_FAULT;
	/* Canaries hold their pattern; the sequence's anonymous mappings are never written. */
	if (m->encl == M_CANARY) {
		static _Thread_local uint8_t canary[PG];
		memset(canary, CANARY_BYTE, PG);
		*data = canary;
		return U_RW;
	}
	*data = zeros;
	return (m->prot & PROT_WRITE) ? U_RW : U_READ;
}

/* ---- the world: zones, canaries, files ---- */

static _Thread_local char *maps_buf;
static _Thread_local size_t maps_cap;

/* Host mappings intersecting [a, b), merged, clipped to [a, b); from /proc/self/maps. Return: count. */

/* [s, e) clipped to [a, b), appended to out (n ranges, at most max), merged with the last one it touches. */
static void clip_append(uint64_t (*out)[2], size_t *n, size_t max, uint64_t s, uint64_t e, uint64_t a, uint64_t b)
{
	if (!(s < b && a < e))
		return;
	if (s < a)
		s = a;
	if (e > b)
		e = b;
	if (*n && out[*n - 1][1] == s) {
		out[*n - 1][1] = e;
	} else if (*n < max) {
		out[*n][0] = s;
		out[*n][1] = e;
		(*n)++;
	}
}

static size_t host_maps(uint64_t a, uint64_t b, uint64_t (*out)[2], size_t max)
{
	char *buf = maps_buf;
	size_t cap = maps_cap;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		abort();
	size_t len = 0;
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? 2 * cap : 1 << 16;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	maps_buf = buf;
	maps_cap = cap;
	buf[len] = 0;
	size_t n = 0;
	for (char *l = buf; *l;) {
		char *nl = strchr(l, '\n');
		unsigned long long s, e;
		if (sscanf(l, "%llx-%llx", &s, &e) == 2)
			clip_append(out, &n, max, s, e, a, b);
		if (!nl)
			break;
		l = nl + 1;
	}
	return n;
}

/* The model's VMAs intersecting [a, b), merged and clipped as host_maps gives them. */
static size_t model_maps(const struct m_world *w, uint64_t a, uint64_t b, uint64_t (*out)[2], size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < w->nvmas; i++) {
		clip_append(out, &n, max, w->vmas[i].start, w->vmas[i].end, a, b);
	}
	return n;
}

/* Does [a, b) lie inside this world's zones (the 1 TiB one or the one below 4 GiB)? */
static bool in_own_zones(const struct ctx *c, uint64_t a, uint64_t b)
{
	if (a >= c->w.zone && b <= c->w.zone + c->w.zone_size && a < b)
		return true;
	return c->w.low && a >= c->w.low && b <= c->w.low + c->w.low_size && a < b;
}

/* Invariant: the host maps exactly what the model says in this world's zones (canaries included). */
static void check_coverage(struct ctx *c)
{
	uint64_t zones[2][2] = {{c->w.zone - PG, c->w.zone + c->w.zone_size + PG}, {0, 0}};
	if (c->w.low)
		zones[1][0] = c->w.low - PG, zones[1][1] = c->w.low + c->w.low_size + PG;
	for (int z = 0; z < 2; z++) {
		if (!zones[z][1])
			continue;
		static _Thread_local uint64_t h[2][M_VMAS * 2][2];
		size_t nh = host_maps(zones[z][0], zones[z][1], h[0], M_VMAS * 2);
		size_t nm = model_maps(&c->w, zones[z][0], zones[z][1], h[1], M_VMAS * 2);
		bool same = nh == nm;
		for (size_t i = 0; same && i < nh; i++)
			same = h[0][i][0] == h[1][i][0] && h[0][i][1] == h[1][i][1];
		if (same)
			continue;
		char s[2][512];
		for (int k = 0; k < 2; k++) {
			size_t n = k ? nm : nh, o = 0;
			s[k][0] = 0;
			for (size_t i = 0; i < n && o + 40 < sizeof(s[k]); i++)
				o += (size_t)snprintf(s[k] + o, sizeof(s[k]) - o, " [%#llx,%#llx)",
						      (unsigned long long)h[k][i][0], (unsigned long long)h[k][i][1]);
		}
		fail(c, "host mappings in [%#llx, %#llx) differ from the model's VMAs\n  host: %s\n  model:%s",
		     (unsigned long long)zones[z][0], (unsigned long long)zones[z][1], s[0], s[1]);
	}
}

/* Invariant: every canary page is still mapped read-write and holds its pattern. */
static void check_canaries(struct ctx *c)
{
	uint64_t addrs[4] = {c->canary[0], c->canary[1], c->low_canary[0], c->low_canary[1]};
	for (int i = 0; i < 4; i++) {
		if (!addrs[i])
			continue;
		static _Thread_local uint8_t buf[PG];
		struct iovec l = {buf, PG}, r = {(void *)(uintptr_t)addrs[i], PG};
		if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != (ssize_t)PG)
			fail(c, "canary page %#llx (host memory next to the zone) is no longer readable: %s",
			     (unsigned long long)addrs[i], strerror(errno));
		for (size_t b = 0; b < PG; b++)
			if (buf[b] != CANARY_BYTE)
				fail(c, "canary page %#llx changed at byte %zu (%#x)", (unsigned long long)addrs[i], b,
				     buf[b]);
		if (process_vm_writev(getpid(), &l, 1, &r, 1, 0) != (ssize_t)PG)
			fail(c, "canary page %#llx is no longer writable: %s", (unsigned long long)addrs[i],
			     strerror(errno));
	}
}

/* Invariant: the EPC holds exactly the enclave pages the model has (single thread only). */
static void check_stats(struct ctx *c)
{
	if (!B->stats || c->weak)
		return;
	uint64_t res, ev;
	B->stats(&res, &ev);
	uint64_t want = m_pages_total(&c->w);
	if (res + ev != want)
		fail(c, "sgxemu_get_stats: %llu resident + %llu evicted enclave pages, the model has %llu",
		     (unsigned long long)res, (unsigned long long)ev, (unsigned long long)want);
}

/* Enclaves die when no file and no VMA refers to them (spec/linux-driver.md §8). */
static void gc(struct ctx *c)
{
	for (int i = 0; i < M_ENCLS; i++) {
		if (!c->w.encls[i].live)
			continue;
		bool used = false;
		for (int s = 0; s < M_SLOTS && !used; s++)
			used = c->w.slots[s].open && c->w.slots[s].dev == M_DEV_ENCL && c->w.slots[s].encl == i;
		for (size_t v = 0; v < c->w.nvmas && !used; v++)
			used = c->w.vmas[v].kind == M_VMA_ENCL && c->w.vmas[v].encl == i;
		if (!used)
			m_encl_put(&c->w, i);
	}
}

/*
 * Would closing slot `slot` (or -1) and unmapping [a, b) drop the last
 * reference of an enclave?  (known.h: FZ_FOUND_RECLAIM_RELEASE_RACE.)
 */
static bool releases_enclave(struct ctx *c, int slot, uint64_t a, uint64_t b)
{
	for (int i = 0; i < M_ENCLS; i++) {
		if (!c->w.encls[i].live)
			continue;
		bool before = false, after = false;
		for (int s = 0; s < M_SLOTS; s++) {
			bool ref = c->w.slots[s].open && c->w.slots[s].dev == M_DEV_ENCL && c->w.slots[s].encl == i;
			before |= ref;
			after |= ref && s != slot;
		}
		for (size_t v = 0; v < c->w.nvmas; v++) {
			const struct m_vma *m = &c->w.vmas[v];
			if (m->kind != M_VMA_ENCL || m->encl != i)
				continue;
			before = true;
			after |= m->start < a || m->end > b;
		}
		if (before && !after)
			return true;
	}
	return false;
}

static void canary_map(struct ctx *c, uint64_t a)
{
	void *r = mmap((void *)(uintptr_t)a, PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (r != (void *)(uintptr_t)a) {
		fprintf(stderr, "fuzz: cannot map the canary page at %#llx\n", (unsigned long long)a);
		abort();
	}
	memset(r, CANARY_BYTE, PG);
	struct m_vma v = {.start = a,
			  .end = a + PG,
			  .prot = PROT_READ | PROT_WRITE,
			  .kind = M_VMA_HOST,
			  .encl = M_CANARY,
			  .maywrite = true};
	m_vma_insert(&c->w, &v);
}

static int world_init(struct ctx *c, int tid, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->tid = tid;
	c->w.plat = &P;
	c->w.zone = tid == 1 ? ZONE0 : ZONE1;
	c->w.zone_size = ZONE_SZ;
	c->w.low = tid == 1 ? LOW0 : LOW1;
	c->w.low_size = LOW_SZ;
	uint64_t h[1][2];
	if (host_maps(c->w.zone - PG, c->w.zone + ZONE_SZ + PG, h, 1)) {
		snprintf(err, errlen, "the zone at %#llx is not free", (unsigned long long)c->w.zone);
		return -1;
	}
	if (host_maps(c->w.low - PG, c->w.low + LOW_SZ + PG, h, 1))
		c->w.low = 0; /* no 32-bit zone here: 32-bit enclaves get bases elsewhere (ECREATE refuses them) */
	if (scratch_init(c)) {
		snprintf(err, errlen, "scratch memory: %s", strerror(errno));
		return -1;
	}
	c->canary[0] = c->w.zone - PG;
	c->canary[1] = c->w.zone + ZONE_SZ;
	canary_map(c, c->canary[0]);
	canary_map(c, c->canary[1]);
	if (c->w.low) {
		c->low_canary[0] = c->w.low - PG;
		c->low_canary[1] = c->w.low + LOW_SZ;
		canary_map(c, c->low_canary[0]);
		canary_map(c, c->low_canary[1]);
	}
	for (int s = 0; s < M_SLOTS; s++)
		c->w.slots[s].fd = -1;
	return 0;
}

/* ---- descriptors ---- */

enum fdk { FD_SLOT, FD_HOST, FD_CLOSED };

struct fdsel {
	enum fdk k;
	int slot;
	int fd;
};

/* Byte b picks a descriptor: slots 0..3 (7 too), the host's /dev/null, a closed number, -1. */
static struct fdsel fd_pick(struct ctx *c, uint8_t b)
{
	struct fdsel f = {.k = FD_CLOSED, .slot = -1, .fd = CLOSED_FD};
	switch (b % 8) {
	case 4:
		f.k = FD_HOST;
		f.fd = HOSTFD;
		return f;
	case 5:
		return f;
	case 6:
		f.fd = -1;
		return f;
	default:
		f.slot = b % 8 == 7 ? 3 : b % 8;
		if (c->w.slots[f.slot].open) {
			f.k = FD_SLOT;
			f.fd = c->w.slots[f.slot].fd;
		}
		return f;
	}
}

/* The enclave a slot's file refers to, or NULL. */
static struct m_encl *fd_encl(struct ctx *c, const struct fdsel *f)
{
	if (f->k != FD_SLOT || c->w.slots[f->slot].dev != M_DEV_ENCL)
		return NULL;
	return &c->w.encls[c->w.slots[f->slot].encl];
}

/* What ioctl(2) decides before the driver's switch: EBADF, ENOTTY (not an enclave file), or 0. */
static int ioctl_prefix(struct ctx *c, const struct fdsel *f)
{
	if (f->k == FD_CLOSED)
		return EBADF;
	if (f->k == FD_HOST || c->w.slots[f->slot].dev != M_DEV_ENCL)
		return ENOTTY;
	return 0;
}

/* ioctl(2) takes an unsigned int command: upper bits of the caller's unsigned long are dropped. */
static unsigned long cmd_hi(unsigned long cmd, uint8_t hi)
{
	if (FZ_FOUND_IOCTL_CMD_UPPER_BITS)
		return cmd; /* known.h */
	return cmd | ((unsigned long)hi << 32);
}

static int call_ioctl(int fd, unsigned long cmd, uint64_t arg, int *err)
{
	errno = 0;
	int r = B->ioctl(fd, cmd, (void *)(uintptr_t)arg);
	*err = r < 0 ? errno : 0;
	return r;
}

/* Check a plain result: expect 0 (success, r >= 0) or an errno. */
static void want(struct ctx *c, int r, int e, int expect)
{
	if (TRACE)
		fprintf(stderr, "[%d]   -> %d %s (model: %s)\n", c->tid, r, r < 0 ? en(e) : "", en(expect));
	if (expect == 0 ? r >= 0 : (r == -1 && e == expect))
		return;
	fail(c, "returned %d (%s); the model says %s", r, r < 0 ? en(e) : "success", en(expect));
}

/* Is the EPC so full that an allocation may fail (ENOMEM, or EAGAIN for a reload)? */
static bool epc_tight(struct ctx *c)
{
	/* Linux's answer depends on what the reclaimer finds; the model only knows what can never be
	 * reclaimed (SECS, VA pages, pinned TCS).  With two threads the EPC is shared: always allowed. */
	return c->weak || m_unreclaimable(&c->w) + 4 > P.epc_frames;
}

/* ---- page loops of the range ioctls ---- */

struct rpred {
	int early;     /* errno before the page loop; 0: the loop runs */
	bool early_wb; /* the early error is followed by the write-back (MODIFY_TYPES' page type) */
	uint64_t n;    /* pages in the range */
	uint64_t stop; /* first page that fails (n: none) */
	int stop_err;
	uint64_t result;
	bool allocp[LOOP_CAP + 1]; /* page i allocates (or reloads) an EPC page before its outcome */
	int alloc_err;		   /* what that allocation gives when nothing can be freed */
	int alloc_err2;		   /* or this (0: none) */
	bool interruptible;	   /* ADD_PAGES: a pending signal stops the loop (0 after a page, EINTR) */
	bool signalled;		   /* a signal arrived during the call */
};

/* The offset/length check of ADD_PAGES and the SGX2 ioctls (sgx_validate_offset_length). */
static bool range_ok(const struct m_encl *e, uint64_t off, uint64_t len)
{
	if ((off & (PG - 1)) || !len || (len & (PG - 1)))
		return false;
	if (off + len < off)
		return false;
	return off + len - PG < e->size;
}

/*
 * Compare a range ioctl's outcome with the prediction.  count/result: what
 * the struct holds after the call (when readable).  Return: pages done.
 */
static uint64_t check_range(struct ctx *c, const struct rpred *p, int r, int e, bool wb_ok, bool readable,
			    uint64_t count, uint64_t result, uint64_t in_count, uint64_t in_result, uint64_t length,
			    bool has_result)
{
	if (TRACE)
		fprintf(stderr, "[%d]   -> %d %s count %#llx result %llu (model: %s, else %s at page %llu of %llu)\n",
			c->tid, r, r < 0 ? en(e) : "", (unsigned long long)count, (unsigned long long)result,
			en(p->early), en(p->stop_err), (unsigned long long)p->stop, (unsigned long long)p->n);
	if (p->early) {
		int want_e = p->early_wb && !wb_ok ? EFAULT : p->early;
		want(c, r, e, want_e);
		if (readable && (count != in_count || (has_result && result != in_result)))
			fail(c, "an early %s changed the struct: count %#llx result %llu", en(want_e),
			     (unsigned long long)count, (unsigned long long)result);
		return 0;
	}
	if (!wb_ok) {
		/* copy_to_user of the whole struct fails: EFAULT, the struct unchanged (the engine runs such
		 * calls only where no allocation can fail, so the pages done are the prediction's). */
		want(c, r, e, EFAULT);
		if (readable && (count != in_count || (has_result && result != in_result)))
			fail(c, "the write-back failed but the struct changed: count %#llx", (unsigned long long)count);
		return p->stop;
	}
	/* Whatever the outcome: count is the bytes done, result only comes with an SGX error (EFAULT). */
	if (readable) {
		if (count % PG || count > length)
			fail(c, "count %#llx is not a multiple of 4096 no larger than the length %#llx",
			     (unsigned long long)count, (unsigned long long)length);
		if (has_result && result != in_result && !(r == -1 && e == EFAULT))
			fail(c, "result %llu written without an SGX error (returned %d %s)", (unsigned long long)result,
			     r, en(e));
	}
	if (r >= 0 && p->interruptible && p->signalled && count % PG == 0 && count / PG > 0 && count / PG <= p->stop &&
	    count != p->n * PG)
		return count / PG;
	if (r >= 0) {
		if (p->stop != p->n)
			fail(c, "succeeded; the model says %s at page %llu (count %#llx)", en(p->stop_err),
			     (unsigned long long)p->stop, (unsigned long long)(p->stop * PG));
		if (count != p->n * PG || (has_result && result != in_result))
			fail(c, "succeeded with count %#llx result %llu; the model says count %#llx",
			     (unsigned long long)count, (unsigned long long)result, (unsigned long long)(p->n * PG));
		return p->n;
	}
	if (p->stop < p->n && e == p->stop_err && count == p->stop * PG &&
	    (!has_result || result == (p->result ? p->result : in_result)))
		return p->stop;
	uint64_t k = count / PG;
	/* A signal arrived: ADD_PAGES stopped before page k (EINTR, or 0 once a page was added). */
	if (p->interruptible && p->signalled && k <= p->stop && e == EINTR)
		return k;
	if (p->alloc_err && (e == p->alloc_err || e == p->alloc_err2 || (c->weak && (e == ENOMEM || e == EAGAIN))) &&
	    epc_tight(c) && k <= p->stop && k <= LOOP_CAP && p->allocp[k] && (!has_result || result == in_result))
		return k;
	if (p->stop == p->n)
		fail(c, "returned %s with count %#llx result %llu; the model says success (count %#llx)%s", en(e),
		     (unsigned long long)count, (unsigned long long)result, (unsigned long long)(p->n * PG),
		     p->alloc_err ? (epc_tight(c) ? "" : " (EPC not full: no allocation can fail)") : "");
	fail(c, "returned %s with count %#llx result %llu; the model says %s at count %#llx result %llu%s", en(e),
	     (unsigned long long)count, (unsigned long long)result, en(p->stop_err), (unsigned long long)(p->stop * PG),
	     (unsigned long long)p->result,
	     p->alloc_err ? (epc_tight(c) ? "" : " (EPC not full: no allocation can fail)") : "");
}

/* ---- ops: files ---- */

/* Record layouts: byte offsets of each op's parameters in its record. */
enum { OPEN_SLOT, OPEN_PATH, OPEN_MODE };
enum { CLOSE_WHICH };

static void op_open(struct ctx *c, const uint8_t *p)
{
	static const char *const paths[] = {"/dev/sgx_enclave",	  "/dev/sgx/enclave",  "/dev/sgx_provision",
					    "/dev/sgx/provision", "/dev/sgx_enclave2", "/dev/sgx_enclav"};
	static const int modes[] = {O_RDWR, O_RDONLY, O_WRONLY, O_RDWR | O_CLOEXEC};
	int s = p[OPEN_SLOT] % M_SLOTS;
	const char *path = paths[p[OPEN_PATH] % 6];
	int mode = modes[p[OPEN_MODE] % 4];
	if (FZ_FOUND_EMBED_OPEN_MODE && !strcmp(B->name, "fuzz_sequence"))
		mode = (mode & ~O_ACCMODE) | O_RDWR; /* known.h */
	descf(c, "open(%s, %#x) into slot %d", path, mode, s);
	struct m_slot *sl = &c->w.slots[s];
	if (sl->open)
		return; /* the slot's file stays; a second one would be untracked */
	enum m_dev dev = p[OPEN_PATH] % 6 < 2 ? M_DEV_ENCL : p[OPEN_PATH] % 6 < 4 ? M_DEV_PROV : M_DEV_NONE;
	int ei = -1;
	if (dev == M_DEV_ENCL && (ei = m_encl_new(&c->w)) < 0)
		return; /* the model's table is full */
	errno = 0;
	int fd = B->open(path, mode);
	int e = fd < 0 ? errno : 0;
	if (dev == M_DEV_NONE) {
		want(c, fd, e, ENOENT);
		return;
	}
	if (fd < 0) {
		m_encl_put(&c->w, ei);
		want(c, fd, e, 0);
	}
	if (fd == CLOSED_FD)
		fail(c, "open returned descriptor %d, the one the engine keeps closed", fd);
	*sl = (struct m_slot){.open = true, .fd = fd, .dev = dev, .accmode = mode & O_ACCMODE, .encl = ei};
}

static void op_close(struct ctx *c, const uint8_t *p)
{
	unsigned w = p[CLOSE_WHICH] % 6;
	int fd = w < 4 ? (c->w.slots[w].open ? c->w.slots[w].fd : CLOSED_FD) : w == 4 ? CLOSED_FD : -1;
	if (FZ_FOUND_RECLAIM_RELEASE_RACE && c->weak && w < 4 && c->w.slots[w].open &&
	    releases_enclave(c, (int)w, 0, 0))
		return; /* known.h */
	descf(c, "close(%d)%s", fd, w < 4 ? " of a slot" : "");
	errno = 0;
	int r = B->close(fd);
	int e = r < 0 ? errno : 0;
	if (w < 4 && c->w.slots[w].open) {
		want(c, r, e, 0);
		c->w.slots[w].open = false;
		c->w.slots[w].fd = -1;
		return;
	}
	want(c, r, e, EBADF);
}

/* ---- ops: CREATE ---- */

enum {
	CR_FD,
	CR_ARG,
	CR_SRC,
	CR_SIZE,
	CR_BASE,
	CR_K,
	CR_SSA,
	CR_MISC,
	CR_ATTR,
	CR_XFRM,
	CR_POKE_OFF, /* 2 bytes */
	CR_POKE_VAL = 12,
	CR_POKE_EN,
	CR_RND,	      /* 8 bytes */
	CR_RND2 = 22, /* 8 bytes */
	CR_HI = 30,
};

static uint64_t pick_size(uint8_t b, uint64_t rnd)
{
	static const uint64_t sizes[16] = {0x2000,     0x1000,	   0x10000,    0x4000,	   0x100000,   0x8000,
					   0x1000000,  1ULL << 30, 1ULL << 35, 1ULL << 36, 1ULL << 40, 1ULL << 47,
					   1ULL << 63, 0x3000,	   0,	       0};
	return b % 16 == 15 ? rnd : sizes[b % 16];
}

/* A base for SECS.SIZE size: in the zone (aligned or not), below 4 GiB, inside an existing mapping, or hostile. */
static uint64_t pick_base(struct ctx *c, uint8_t sel, uint8_t k, uint64_t size, uint64_t rnd)
{
	uint64_t z = c->w.zone, slot = size && size <= ZONE_SZ / 4 ? (uint64_t)(k % 4) * size : 0;
	switch (sel % 8) {
	case 1:
		return c->w.low ? c->w.low : 0x10000000;
	case 2:
		return z + slot + PG;
	case 3:
		return rnd;
	case 4:
		return 0;
	case 5: {
		/* Inside a mapping made before CREATE (a runtime's aligned reservation). */
		for (size_t i = 0; i < c->w.nvmas; i++) {
			const struct m_vma *v = &c->w.vmas[(i + k) % c->w.nvmas];
			if (v->encl == M_CANARY || !size || (size & (size - 1)))
				continue;
			uint64_t b = (v->start + size - 1) & ~(size - 1);
			if (b >= v->start && b < v->end)
				return b;
		}
		return z + slot;
	}
	case 7:
		return 0x800000000000ULL;
	default:
		return z + slot;
	}
}

static void secs_build(struct ctx *c, const uint8_t *p, struct sgx_secs *s)
{
	static const uint64_t attrs[13] = {SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG,
					   SGX_ATTR_MODE64BIT,
					   0,
					   SGX_ATTR_DEBUG,
					   SGX_ATTR_MODE64BIT | SGX_ATTR_DEBUG | SGX_ATTR_KSS,
					   SGX_ATTR_MODE64BIT | SGX_ATTR_PROVISIONKEY,
					   SGX_ATTR_MODE64BIT | SGX_ATTR_EINITTOKENKEY,
					   SGX_ATTR_MODE64BIT | SGX_ATTR_INIT,
					   SGX_ATTR_MODE64BIT | SGX_ATTR_AEXNOTIFY,
					   SGX_ATTR_MODE64BIT | SGX_ATTR_CET,
					   SGX_ATTR_MODE64BIT | 0x8,
					   SGX_ATTR_MODE64BIT | 0x100,
					   SGX_ATTR_MODE64BIT | (1ULL << 63)};
	static const uint64_t xfrms[9] = {3, 0, 1, 7, 0xe7, 0x207, 0x1b, 0x60003, 0};
	uint64_t rnd = u64(p, CR_RND), rnd2 = u64(p, CR_RND2);
	memset(s, 0, sizeof(*s));
	s->size = pick_size(p[CR_SIZE], rnd);
	s->base = pick_base(c, p[CR_BASE], p[CR_K], s->size, rnd2);
	switch (p[CR_SSA] % 5) {
	case 1:
		s->ssa_frame_size = 0;
		break;
	case 2:
		s->ssa_frame_size = 2;
		break;
	case 3:
		s->ssa_frame_size = (uint32_t)rnd;
		break;
	default:
		s->ssa_frame_size = 1;
		break;
	}
	uint32_t miscs[4] = {SGX_MISC_EXINFO, 0, 2, (uint32_t)(rnd >> 32)};
	s->miscselect = miscs[p[CR_MISC] % 4];
	s->attributes = p[CR_ATTR] % 16 < 13 ? attrs[p[CR_ATTR] % 16] : rnd2;
	s->xfrm = p[CR_XFRM] % 10 == 8 ? P.xfrm_allowed : p[CR_XFRM] % 10 == 9 ? rnd : xfrms[p[CR_XFRM] % 10];
	if (p[CR_POKE_EN] & 1)
		((uint8_t *)s)[u16(p, CR_POKE_OFF) % PG] = p[CR_POKE_VAL];
}

/*
 * The emulated machine's physical space (1 TiB, docs/hw.md) holds a size-aligned window as large as
 * each live enclave's ELRANGE (docs/kernel.md "Mapping model"), so CREATE may find no room where
 * Linux has no such limit.  The model does not follow the window allocator: ENOMEM is allowed when
 * the windows of the live enclaves, each rounded up to the new size by alignment, could fill it.
 */
static bool window_tight(struct ctx *c, uint64_t size)
{
	uint64_t used = size;
	for (int i = 0; i < M_ENCLS; i++)
		if (c->w.encls[i].live && c->w.encls[i].created)
			used += (c->w.encls[i].size > size ? c->w.encls[i].size : size) + PG;
	return c->weak || used > (1ULL << 40) / 2;
}

static void op_create(struct ctx *c, const uint8_t *p)
{
	struct fdsel f = fd_pick(c, p[CR_FD]);
	enum cls ac = cls_of(p[CR_ARG]), sc = cls_of(p[CR_SRC]);
	static _Thread_local struct sgx_secs secs;
	secs_build(c, p, &secs);
	bool pow2 = secs.size && !(secs.size & (secs.size - 1));
	if (FZ_KNOWN_CREATE_HUGE_SIZE && pow2 && secs.size > (1ULL << 40))
		return; /* known.h: FZ_KNOWN_CREATE_HUGE_SIZE */
	uint64_t src = place(c, PUR_SECS, sc, &secs, sizeof(secs));
	struct sgx_enclave_create a = {.src = src};
	uint64_t arg = place(c, PUR_ARG, ac, &a, sizeof(a));
	descf(c,
	      "ioctl(%d, CREATE, arg %s) SECS %s: size %#llx base %#llx ssaframesize %u misc %#x attributes %#llx "
	      "xfrm %#llx",
	      f.fd, cls_name[ac], cls_name[sc], (unsigned long long)secs.size, (unsigned long long)secs.base,
	      secs.ssa_frame_size, secs.miscselect, (unsigned long long)secs.attributes, (unsigned long long)secs.xfrm);

	/* Linux's order: sgx_ioc_enclave_create, sgx_encl_create. */
	struct m_encl *e = fd_encl(c, &f);
	int expect = ioctl_prefix(c, &f);
	enum m_leaf leaf = M_LEAF_OK;
	const char *why = NULL;
	bool may_enomem = false;
	if (!expect && e->created)
		expect = EINVAL;
	else if (!expect && !cls_readable(ac))
		expect = EFAULT;
	else if (!expect && !cls_readable(sc))
		expect = EFAULT;
	else if (!expect && !pow2)
		expect = EINVAL;
	else if (!expect && (secs.size + PG) + ((secs.size + PG) >> 5) > (uint64_t)INT64_MAX) {
		/* shmem_file_setup of SIZE + a page + 1/32 for PCMDs refuses a size past LLONG_MAX (2^63). */
		may_enomem = epc_tight(c); /* the VA page comes first */
		expect = EINVAL;
	} else if (!expect) {
		/* The VA page and the SECS page may find no free EPC page (ENOMEM). */
		may_enomem = epc_tight(c);
		leaf = m_ecreate_check(&P, &secs, &why);
		expect = leaf == M_LEAF_FAIL ? EIO : 0;
	}
	int err;
	unsigned long sig0 = signals_now();
	int r = call_ioctl(f.fd, cmd_hi(SGX_IOC_ENCLAVE_CREATE, p[CR_HI]), arg, &err);
	bool signalled = signals_now() != sig0;
	if (TRACE)
		fprintf(stderr, "[%d]   -> %d %s (model: %s%s%s%s)\n", c->tid, r, r < 0 ? en(err) : "", en(expect),
			leaf == M_LEAF_UNKNOWN ? " or EIO" : "", why ? ": " : "", why ? why : "");
	bool ok = expect == 0 ? r == 0 : (r == -1 && err == expect);
	if (!ok && leaf == M_LEAF_UNKNOWN && (r == 0 || err == EIO))
		ok = true; /* spec/leaves.md leaves this check unverified: either outcome */
	if (!ok && may_enomem && r == -1 && err == ENOMEM)
		ok = true;
	if (!ok && may_enomem && signalled && r == -1 && err == EINTR)
		ok = true; /* a signal while the allocation reclaimed */
	if (!ok && FZ_KNOWN_CREATE_HUGE_SIZE && r == -1 && err == ENOMEM && leaf == M_LEAF_FAIL && why &&
	    !strcmp(why, "SIZE too large"))
		ok = true; /* known.h: FZ_KNOWN_CREATE_HUGE_SIZE (the window is allocated before ECREATE checks SIZE) */
	if (!ok && r == -1 && err == ENOMEM && leaf != M_LEAF_FAIL && window_tight(c, secs.size))
		ok = true;
	if (!ok)
		fail(c, "returned %d (%s); the model says %s%s%s", r, r < 0 ? en(err) : "success", en(expect),
		     why ? ": ECREATE fails: " : "", why ? why : "");
	if (r != 0)
		return;
	e->created = true;
	e->base = secs.base;
	e->size = secs.size;
	e->attributes = secs.attributes;
	e->xfrm = secs.xfrm;
	e->misc = secs.miscselect;
	e->ssaframesize = secs.ssa_frame_size;
	m_encl_grow(e);
	m_mr_ecreate(e);
}

/* ---- ops: ADD_PAGES ---- */

enum {
	AD_FD,
	AD_ARG,
	AD_SRC,
	AD_OFFSEL,
	AD_OFFPG, /* 2 bytes */
	AD_LENPG = 6,
	AD_SICLS,
	AD_SIFLAGS,
	AD_SIPOKE,
	AD_FLAGS,
	AD_MIS,
	AD_RND, /* 8 bytes */
	AD_LENSEL = 20,
	AD_HI = 30,
};

static const uint64_t secinfo_flags_tab[15] = {0x203, 0x201, 0x205, 0x207, 0x100,   0x200,  0x202, 0x101,
					       0x300, 0x400, 0x000, 0x20b, 0x10203, 0x8203, 0x603};

static void secinfo_build(struct sgx_secinfo *si, uint8_t sel, uint8_t poke, uint64_t rnd)
{
	memset(si, 0, sizeof(*si));
	si->flags = sel % 16 < 15 ? secinfo_flags_tab[sel % 16] : rnd;
	if (poke)
		((uint8_t *)si)[8 + poke % 56] = poke;
}

/* sgx_validate_secinfo (ADD_PAGES). */
static bool secinfo_valid_add(const struct sgx_secinfo *si)
{
	uint64_t perm = si->flags & 7, pt = (si->flags >> 8) & 0xFF;
	if (pt != SGX_PT_REG && pt != SGX_PT_TCS)
		return false;
	if ((perm & SGX_SECINFO_W) && !(perm & SGX_SECINFO_R))
		return false;
	if (pt == SGX_PT_TCS && perm)
		return false;
	if (si->flags & (0xF8ULL | ~0xFFFFULL))
		return false;
	for (unsigned i = 8; i < 64; i++)
		if (((const uint8_t *)si)[i])
			return false;
	return true;
}

/* An offset into an enclave of size bytes (pages: the enclave's, for picking existing ones). */
static uint64_t pick_offset(const struct m_encl *e, uint8_t sel, uint16_t pg, uint8_t mis, uint64_t rnd)
{
	uint64_t size = e && e->created ? e->size : 0x10000, npg = size / PG ? size / PG : 1;
	switch (sel % 6) {
	case 1:
		return (pg % npg) * PG + (mis | 1);
	case 2:
		return rnd;
	case 3:
		return size - PG * (1 + pg % 4);
	case 4:
		return size;
	case 5:
		if (e && e->npages)
			return e->pages[pg % e->npages].off;
		return 0;
	default:
		return (pg % npg) * PG;
	}
}

static uint64_t pick_length(const struct m_encl *e, uint8_t sel, uint8_t npg, uint64_t rnd)
{
	uint64_t size = e && e->created ? e->size : 0x10000;
	switch (sel % 6) {
	case 1:
		return 0;
	case 2:
		return (uint64_t)(npg % 16 + 1) * PG + 1;
	case 3:
		return 0ULL - PG;
	case 4:
		return size;
	case 5:
		return rnd;
	default:
		return (uint64_t)(npg % 16 + 1) * PG;
	}
}

static uint64_t pick_src(struct ctx *c, const struct m_encl *e, uint8_t sel, uint16_t pg, uint8_t mis)
{
	uint8_t *pool = c->scratch + (size_t)POOL_FIRST * PG;
	switch (sel % 24) {
	case 16:
		return (uint64_t)(uintptr_t)(c->scratch + (size_t)POOL_RO * PG);
	case 17:
		return (uint64_t)(uintptr_t)(c->scratch + (size_t)POOL_NONE * PG);
	case 18:
		return 0;
	case 19:
		return (uint64_t)(uintptr_t)(pool + (size_t)(sel % 16) * PG) + (mis | 1);
	case 20:
		return KADDR;
	case 21:
		return c->w.zone + (uint64_t)pg * PG;
	case 22:
		return e && e->created ? e->base + (pg % (e->size / PG)) * PG : c->w.zone;
	case 23:
		return NCADDR;
	default:
		return (uint64_t)(uintptr_t)(pool + (size_t)(sel % 24) * PG);
	}
}

static void op_add(struct ctx *c, const uint8_t *p)
{
	struct fdsel f = fd_pick(c, p[AD_FD]);
	struct m_encl *e = fd_encl(c, &f);
	enum cls ac = cls_of(p[AD_ARG]), sic = cls_of(p[AD_SICLS]);
	uint64_t rnd = u64(p, AD_RND);
	if (FZ_FOUND_ADD_PAGES_COPIES_COUNT_ONLY && ac == C_STR_RO)
		return; /* known.h */
	struct sgx_secinfo si;
	secinfo_build(&si, p[AD_SIFLAGS], p[AD_SIPOKE], rnd);
	uint64_t sip = place(c, PUR_SECINFO, sic, &si, sizeof(si));
	struct sgx_enclave_add_pages a = {
	    .src = pick_src(c, e, p[AD_SRC], u16(p, AD_OFFPG), p[AD_MIS]),
	    .offset = pick_offset(e, p[AD_OFFSEL], u16(p, AD_OFFPG), p[AD_MIS], rnd),
	    .length = pick_length(e, p[AD_LENSEL], p[AD_LENPG], rnd >> 7),
	    .secinfo = sip,
	    .flags = p[AD_FLAGS],
	    .count = 0x1111,
	};
	descf(c, "ioctl(%d, ADD_PAGES, arg %s) src %#llx offset %#llx length %#llx secinfo %s flags %#llx flags %#llx",
	      f.fd, cls_name[ac], (unsigned long long)a.src, (unsigned long long)a.offset, (unsigned long long)a.length,
	      cls_name[sic], (unsigned long long)si.flags, (unsigned long long)a.flags);

	/* Linux's order: sgx_ioc_enclave_add_pages, then per page sgx_encl_add_page. */
	static _Thread_local struct rpred pr;
	memset(&pr, 0, sizeof(pr));
	pr.early = ioctl_prefix(c, &f);
	if (!pr.early && (!e->created || e->initialized))
		pr.early = EINVAL;
	else if (!pr.early && !cls_readable(ac))
		pr.early = EFAULT;
	else if (!pr.early && (a.src & (PG - 1)))
		pr.early = EINVAL;
	else if (!pr.early && !range_ok(e, a.offset, a.length))
		pr.early = EINVAL;
	else if (!pr.early && !cls_readable(sic))
		pr.early = EFAULT;
	else if (!pr.early && !secinfo_valid_add(&si))
		pr.early = EINVAL;
	if (!pr.early) {
		pr.n = a.length / PG;
		pr.stop = pr.n;
		pr.alloc_err = ENOMEM;
		for (uint64_t i = 0; i < pr.n; i++) {
			if (i > LOOP_CAP)
				return; /* too long to run */
			/* The EPC page (and maybe a VA page) is allocated before anything is looked at. */
			pr.allocp[i] = true;
			const uint8_t *data;
			if (m_page_find(e, a.offset + i * PG))
				pr.stop_err = EBUSY;
			else if (user_page(c, a.src + i * PG, &data) == U_FAULT)
				pr.stop_err = EFAULT;
			else if (m_eadd_check(e, si.flags, data) == M_LEAF_FAIL)
				pr.stop_err = EIO;
			if (pr.stop_err) {
				pr.stop = i;
				break;
			}
		}
		if (!cls_writable(ac) && epc_tight(c))
			return; /* the count cannot be read back to learn how far an allocation failure let it go */
	}
	uint64_t arg = place(c, PUR_ARG, ac, &a, sizeof(a));
	int err;
	unsigned long sig0 = signals_now();
	int r = call_ioctl(f.fd, cmd_hi(SGX_IOC_ENCLAVE_ADD_PAGES, p[AD_HI]), arg, &err);
	pr.interruptible = true;
	pr.signalled = signals_now() != sig0;
	struct sgx_enclave_add_pages out = a;
	if (cls_readable(ac))
		memcpy(&out, (const void *)(uintptr_t)arg, sizeof(out));
	uint64_t k =
	    check_range(c, &pr, r, err, cls_writable(ac), cls_readable(ac), out.count, 0, a.count, 0, a.length, false);
	for (uint64_t i = 0; i < k; i++) {
		uint64_t off = a.offset + i * PG;
		const uint8_t *data;
		user_page(c, a.src + i * PG, &data);
		struct m_page *pg = m_page_add(e, off);
		uint8_t pt = (uint8_t)((si.flags >> 8) & 0xFF), perm = (uint8_t)(si.flags & 7);
		pg->type = pg->epcm_type = pt;
		pg->maxprot = pt == SGX_PT_TCS ? (PROT_READ | PROT_WRITE) : perm;
		pg->epcm_perm = pt == SGX_PT_TCS ? 0 : perm;
		m_encl_grow(e);
		m_mr_eadd(e, off, si.flags);
		if (a.flags & SGX_PAGE_MEASURE)
			m_mr_eextend_page(e, off, data);
	}
}

/* ---- ops: INIT ---- */

enum {
	IN_FD,
	IN_ARG,
	IN_SIG,
	IN_MODE,
	IN_FIELD,
	IN_VAL,	      /* 8 bytes */
	IN_FLIP = 13, /* 2 bytes */
	IN_AMASK = 15,
	IN_XMASK,
	IN_MMASK,
	IN_RND, /* 8 bytes */
	IN_HI = 30,
};

static bool bytes_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/*
 * Build the SIGSTRUCT of an INIT and say what EINIT does with it
 * (spec/leaves.md EINIT, spec/measurement.md §3): OK, FAIL (an SGX code:
 * EPERM) or UNKNOWN where the spec leaves a check unverified.
 */
static enum m_leaf sig_build(const uint8_t *p, const struct m_encl *e, struct sgx_sigstruct *s)
{
	uint64_t v = u64(p, IN_VAL), rnd = u64(p, IN_RND);
	uint8_t mr[32] = {0};
	if (e && e->created && e->mr_known)
		m_mr_peek(e, mr);
	sigstruct_init(s, 0x20240101);
	if (e) {
		s->miscselect = e->misc;
		s->attributes = e->attributes;
		s->xfrm = e->xfrm;
	}
	static const uint64_t amasks[3] = {~0ULL, SGX_ATTR_DEBUG | SGX_ATTR_MODE64BIT, 0};
	s->attributes_mask = p[IN_AMASK] % 4 < 3 ? amasks[p[IN_AMASK] % 4] : rnd;
	uint64_t xmasks[4] = {~0ULL, 3, 0, e ? e->xfrm : 3};
	s->xfrm_mask = xmasks[p[IN_XMASK] % 4];
	uint32_t mmasks[3] = {~0U, 0, 1};
	s->miscmask = mmasks[p[IN_MMASK] % 3];
	memcpy(s->enclave_hash, mr, 32);
	uint8_t *b = (uint8_t *)s;
	unsigned mode = p[IN_MODE] % 6;
	bool hdr_unknown = false, res_unknown = false;
	if (mode == 1) {
		switch (p[IN_FIELD] % 17) {
		case 0:
			s->vendor = SGX_SIGSTRUCT_VENDOR_INTEL;
			break;
		case 1:
			s->vendor = (uint32_t)v;
			break;
		case 2:
			s->attributes ^= v;
			break;
		case 3:
			s->xfrm ^= v;
			break;
		case 4:
			s->attributes_mask = v;
			break;
		case 5:
			s->xfrm_mask = v;
			break;
		case 6:
			s->miscselect ^= (uint32_t)v;
			break;
		case 7:
			s->miscmask = (uint32_t)v;
			break;
		case 8:
			s->enclave_hash[v % 32] ^= 1;
			break;
		case 9:
			s->isv_family_id[v % 16] = 1;
			break;
		case 10:
			s->isv_ext_prod_id[v % 16] = 1;
			break;
		case 11:
			s->header[v % 16] ^= 0x80;
			break;
		case 12:
			s->header2[v % 16] ^= 1;
			break;
		case 13:
			b[44 + v % 84] = 1;
			break;
		case 14:
			b[908 + v % 4] = 1;
			break;
		case 15:
			b[992 + v % 16] = 1;
			break;
		default:
			s->isv_prod_id = (uint16_t)v;
			s->isv_svn = (uint16_t)(v >> 16);
			s->swdefined = (uint32_t)(v >> 32);
			break;
		}
	}
	if (mode <= 1 && !sigstruct_sign(s, KEY))
		abort();
	if (mode == 2)
		b[u16(p, IN_FLIP) % sizeof(*s)] ^= (uint8_t)(v | 1);
	else if (mode == 3)
		memset(s, 0, sizeof(*s));
	else if (mode == 4) {
		uint64_t x = v;
		for (size_t i = 0; i + 8 <= sizeof(*s); i += 8) {
			uint64_t r = xorshift(&x);
			memcpy(b + i, &r, 8);
		}
	} else if (mode == 5)
		s->exponent = (uint32_t)v == 3 ? 65537 : (uint32_t)v;
	if (mode >= 2)
		return M_LEAF_FAIL; /* the signature no longer verifies, or the header is wrong */

	/* EINIT's checks on a SIGSTRUCT the key signed after the change (spec/leaves.md EINIT). */
	struct sgx_sigstruct ref;
	sigstruct_init(&ref, 0x20240101);
	bool fail_ = false;
	if (memcmp(s->header, ref.header, 12) || memcmp(s->header2, ref.header2, 16))
		fail_ = true;
	if (memcmp(s->header + 12, ref.header + 12, 4))
		hdr_unknown = true; /* structures.md: unverified whether hardware checks HEADER bytes 12..15 */
	if (!bytes_zero(b + 44, 84) || !bytes_zero(b + 992, 16) || !bytes_zero(b + 1028, 12))
		fail_ = true;
	if (!bytes_zero(b + 908, 4))
		res_unknown = true; /* structures.md: CET_ATTRIBUTES on later SDMs */
	bool kss = e && (e->attributes & SGX_ATTR_KSS);
	if (!kss && !bytes_zero(s->isv_family_id, 16))
		fail_ = true;
	if (!kss && !bytes_zero(s->isv_ext_prod_id, 16))
		res_unknown = true; /* leaves.md: unverified whether ISVEXTPRODID is checked too */
	if (!e || !e->mr_known || memcmp(s->enclave_hash, mr, 32))
		fail_ = true;
	if (e && ((e->attributes & s->attributes_mask) != (s->attributes & s->attributes_mask) ||
		  (e->xfrm & s->xfrm_mask) != (s->xfrm & s->xfrm_mask) ||
		  (e->misc & s->miscmask) != (s->miscselect & s->miscmask)))
		fail_ = true;
	if (fail_)
		return M_LEAF_FAIL;
	return hdr_unknown || res_unknown ? M_LEAF_UNKNOWN : M_LEAF_OK;
}

static void op_init(struct ctx *c, const uint8_t *p)
{
	struct fdsel f = fd_pick(c, p[IN_FD]);
	struct m_encl *e = fd_encl(c, &f);
	enum cls ac = cls_of(p[IN_ARG]), sc = cls_of(p[IN_SIG]);
	static _Thread_local struct sgx_sigstruct sig;
	enum m_leaf leaf = sig_build(p, e, &sig);
	uint64_t sp = place(c, PUR_SIG, sc, &sig, sizeof(sig));
	struct sgx_enclave_init a = {.sigstruct = sp};
	uint64_t arg = place(c, PUR_ARG, ac, &a, sizeof(a));
	descf(
	    c,
	    "ioctl(%d, INIT, arg %s) SIGSTRUCT %s mode %u field %u: vendor %#x attributes %#llx/%#llx xfrm %#llx/%#llx "
	    "misc %#x/%#x",
	    f.fd, cls_name[ac], cls_name[sc], p[IN_MODE] % 6, p[IN_FIELD] % 17, sig.vendor,
	    (unsigned long long)sig.attributes, (unsigned long long)sig.attributes_mask, (unsigned long long)sig.xfrm,
	    (unsigned long long)sig.xfrm_mask, sig.miscselect, sig.miscmask);

	/* Linux's order: sgx_ioc_enclave_init, sgx_encl_init. */
	int expect = ioctl_prefix(c, &f);
	if (!expect && (!e->created || e->initialized))
		expect = EINVAL;
	else if (!expect && !cls_readable(ac))
		expect = EFAULT;
	else if (!expect && !cls_readable(sc))
		expect = EFAULT;
	else if (!expect && sig.vendor != 0 && sig.vendor != SGX_SIGSTRUCT_VENDOR_INTEL)
		expect = EINVAL;
	else if (!expect && (e->attributes & ~e->attr_mask))
		expect = EACCES;
	else if (!expect &&
		 ((sig.attributes & sig.attributes_mask & P.attr_reserved) ||
		  (sig.miscselect & sig.miscmask & P.misc_reserved) || (sig.xfrm & sig.xfrm_mask & P.xfrm_reserved)))
		expect = EINVAL;
	else if (!expect)
		expect = leaf == M_LEAF_FAIL ? EPERM : 0;
	int err;
	int r = call_ioctl(f.fd, cmd_hi(SGX_IOC_ENCLAVE_INIT, p[IN_HI]), arg, &err);
	bool reached_leaf = expect == EPERM || expect == 0;
	if (!(reached_leaf && leaf == M_LEAF_UNKNOWN && (r == 0 || err == EPERM)))
		want(c, r, err, expect);
	if (r == 0)
		e->initialized = true;
}

/* ---- ops: PROVISION ---- */

enum { PV_FD, PV_ARG, PV_TARGET, PV_HI, PV_CMDHI };

static void op_provision(struct ctx *c, const uint8_t *p)
{
	struct fdsel f = fd_pick(c, p[PV_FD]);
	struct m_encl *e = fd_encl(c, &f);
	enum cls ac = cls_of(p[PV_ARG]);
	if (FZ_FOUND_PRELOAD_PROVISION_DEREF && !cls_readable(ac) && !strcmp(B->name, "fuzz_preload"))
		return; /* known.h */
	unsigned t = p[PV_TARGET] % 8;
	uint64_t fd = t < 4    ? (c->w.slots[t].open ? (uint64_t)c->w.slots[t].fd : CLOSED_FD)
		      : t == 4 ? (uint64_t)HOSTFD
		      : t == 5 ? CLOSED_FD
		      : t == 6 ? ~0ULL
			       : 0x7fffffff;
	if (p[PV_HI] && !FZ_FOUND_PROVISION_FD_UPPER_BITS) /* known.h */
		fd |= (uint64_t)p[PV_HI] << 32;
	struct sgx_enclave_provision a = {.fd = fd};
	uint64_t arg = place(c, PUR_ARG, ac, &a, sizeof(a));
	descf(c, "ioctl(%d, PROVISION, arg %s) fd %#llx", f.fd, cls_name[ac], (unsigned long long)fd);
	/* sgx_set_attribute takes an unsigned int descriptor: the upper half of the u64 is dropped. */
	bool prov = false;
	for (int s = 0; s < M_SLOTS; s++)
		prov |=
		    c->w.slots[s].open && c->w.slots[s].dev == M_DEV_PROV && (uint32_t)fd == (uint32_t)c->w.slots[s].fd;
	int expect = ioctl_prefix(c, &f);
	if (!expect && !cls_readable(ac))
		expect = EFAULT;
	else if (!expect && !prov)
		expect = EINVAL;
	int err;
	int r = call_ioctl(f.fd, cmd_hi(SGX_IOC_ENCLAVE_PROVISION, p[PV_CMDHI]), arg, &err);
	want(c, r, err, expect);
	if (r == 0)
		e->attr_mask |= SGX_ATTR_PROVISIONKEY;
}

/* ---- ops: the SGX2 ioctls ---- */

enum {
	SG_FD,
	SG_ARG,
	SG_OFFSEL,
	SG_OFFPG, /* 2 bytes */
	SG_LENPG = 5,
	SG_LENSEL,
	SG_INJ,
	SG_VAL,
	SG_RND, /* 8 bytes */
	SG_SICLS = 17,
	SG_SIFLAGS,
	SG_SIPOKE,
	SG_MIS,
	SG_HI = 30,
};

enum sg_kind { SG_RESTRICT, SG_MODIFY, SG_REMOVE, SG_AUGMENT };
static const char *const sg_name[] = {"RESTRICT_PERMISSIONS", "MODIFY_TYPES", "REMOVE_PAGES", "AUGMENT_PAGES"};

#define SGX_PAGE_NOT_MODIFIABLE 20

/* One page of RESTRICT_PERMISSIONS / MODIFY_TYPES / REMOVE_PAGES / AUGMENT_PAGES as Linux (or ext.h) does it. */
static int sg_page(struct m_encl *e, enum sg_kind k, uint64_t off, uint64_t val, uint64_t *result, bool *allocp)
{
	struct m_page *pg = m_page_find(e, off);
	*result = 0;
	if (k == SG_AUGMENT) {
		*allocp = !pg; /* EAUG needs a free EPC page; an existing page is EBUSY before that */
		return pg ? EBUSY : 0;
	}
	/* sgx_encl_load_page: no page -> EFAULT; an evicted one is reloaded (may find no EPC page: EAGAIN). */
	*allocp = pg != NULL;
	if (!pg)
		return EFAULT;
	switch (k) {
	case SG_RESTRICT:
		if (pg->type != SGX_PT_REG)
			return EINVAL;
		if (pg->pending || pg->modified) { /* EMODPR: SGX_PAGE_NOT_MODIFIABLE */
			*result = SGX_PAGE_NOT_MODIFIABLE;
			return EFAULT;
		}
		return 0;
	case SG_MODIFY:
		if (!(pg->type == SGX_PT_REG || (pg->type == SGX_PT_TCS && val == SGX_PT_TRIM)))
			return EINVAL;
		if (pg->type == SGX_PT_REG && val == SGX_PT_TCS &&
		    (pg->maxprot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE))
			return EPERM;
		if (pg->pending || pg->modified) { /* EMODT: SGX_PAGE_NOT_MODIFIABLE */
			*result = SGX_PAGE_NOT_MODIFIABLE;
			return EFAULT;
		}
		return 0;
	case SG_REMOVE:
		/* Not TRIM: EPERM.  TRIM: EMODPR's probe faults only after the enclave's EACCEPT, and no
		 * enclave code runs here, so it reports SGX_PAGE_NOT_MODIFIABLE: EPERM as well. */
		return EPERM;
	case SG_AUGMENT:
		break;
	}
	abort();
}

static void sg_apply(struct m_encl *e, enum sg_kind k, uint64_t off, uint64_t val)
{
	struct m_page *pg = m_page_find(e, off);
	switch (k) {
	case SG_RESTRICT:
		pg->epcm_perm &= (uint8_t)val;
		pg->pr = true;
		break;
	case SG_MODIFY:
		if (val == SGX_PT_TCS) {
			pg->maxprot = PROT_READ | PROT_WRITE;
			pg->pinned = true;
		}
		pg->type = pg->epcm_type = (uint8_t)val;
		pg->modified = true;
		pg->pr = false;
		pg->epcm_perm = 0;
		break;
	case SG_REMOVE:
		m_page_remove(e, off);
		e->page_cnt--;
		break;
	case SG_AUGMENT:
		pg = m_page_add(e, off);
		pg->type = pg->epcm_type = SGX_PT_REG;
		pg->maxprot = (uint8_t)val;
		pg->epcm_perm = SGX_SECINFO_R | SGX_SECINFO_W;
		pg->pending = true;
		m_encl_grow(e);
		break;
	}
}

static void op_sgx2(struct ctx *c, const uint8_t *p, enum sg_kind k)
{
	struct fdsel f = fd_pick(c, p[SG_FD]);
	struct m_encl *e = fd_encl(c, &f);
	enum cls ac = cls_of(p[SG_ARG]);
	uint64_t rnd = u64(p, SG_RND);
	uint64_t off = pick_offset(e, p[SG_OFFSEL], u16(p, SG_OFFPG), p[SG_MIS], rnd);
	uint64_t len = pick_length(e, p[SG_LENSEL], p[SG_LENPG], rnd >> 9);
	uint64_t in_result = (p[SG_INJ] & 1) ? 7 : 0, in_count = (p[SG_INJ] & 2) ? PG : 0;
	static const uint64_t types[7] = {SGX_PT_TCS, SGX_PT_TRIM, SGX_PT_REG, SGX_PT_SECS, SGX_PT_VA, 0x104, 5};
	uint64_t val = 0;
	union {
		struct sgx_enclave_restrict_permissions rp;
		struct sgx_enclave_modify_types mt;
		struct sgx_enclave_remove_pages rm;
		struct sgx_enclave_augment_pages au;
	} a;
	memset(&a, 0, sizeof(a));
	size_t asize = 0, count_off = 0, result_off = 0;
	unsigned long cmd = 0;
	struct sgx_secinfo si;
	enum cls sic = cls_of(p[SG_SICLS]);
	switch (k) {
	case SG_RESTRICT:
		val = p[SG_VAL] < 240 ? p[SG_VAL] % 16 : rnd;
		a.rp = (struct sgx_enclave_restrict_permissions){off, len, val, in_result, in_count};
		asize = sizeof(a.rp);
		count_off = offsetof(struct sgx_enclave_restrict_permissions, count);
		result_off = offsetof(struct sgx_enclave_restrict_permissions, result);
		cmd = SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS;
		break;
	case SG_MODIFY:
		val = p[SG_VAL] % 8 < 7 ? types[p[SG_VAL] % 8] : rnd;
		a.mt = (struct sgx_enclave_modify_types){off, len, val, in_result, in_count};
		asize = sizeof(a.mt);
		count_off = offsetof(struct sgx_enclave_modify_types, count);
		result_off = offsetof(struct sgx_enclave_modify_types, result);
		cmd = SGX_IOC_ENCLAVE_MODIFY_TYPES;
		break;
	case SG_REMOVE:
		a.rm = (struct sgx_enclave_remove_pages){off, len, in_count};
		asize = sizeof(a.rm);
		count_off = offsetof(struct sgx_enclave_remove_pages, count);
		cmd = SGX_IOC_ENCLAVE_REMOVE_PAGES;
		break;
	case SG_AUGMENT:
		secinfo_build(&si, p[SG_SIFLAGS], p[SG_SIPOKE], rnd);
		val = si.flags & 7;
		a.au =
		    (struct sgx_enclave_augment_pages){off, len, place(c, PUR_SECINFO, sic, &si, sizeof(si)), in_count};
		asize = sizeof(a.au);
		count_off = offsetof(struct sgx_enclave_augment_pages, count);
		cmd = SGX_IOC_ENCLAVE_AUGMENT_PAGES;
		break;
	}
	descf(c, "ioctl(%d, %s, arg %s) offset %#llx length %#llx value %#llx result %llu count %#llx%s%s", f.fd,
	      sg_name[k], cls_name[ac], (unsigned long long)off, (unsigned long long)len, (unsigned long long)val,
	      (unsigned long long)in_result, (unsigned long long)in_count, k == SG_AUGMENT ? " secinfo " : "",
	      k == SG_AUGMENT ? cls_name[sic] : "");

	/* Linux's order: sgx_ioc_sgx2_ready, copy, offset/length, the ioctl's own fields, then the pages. */
	static _Thread_local struct rpred pr;
	memset(&pr, 0, sizeof(pr));
	pr.early = ioctl_prefix(c, &f);
	if (!pr.early && !e->initialized)
		pr.early = EINVAL;
	else if (!pr.early && !cls_readable(ac))
		pr.early = EFAULT;
	else if (!pr.early && !range_ok(e, off, len))
		pr.early = EINVAL;
	else if (!pr.early && k == SG_RESTRICT &&
		 ((val & ~7ULL) || ((val & SGX_SECINFO_W) && !(val & SGX_SECINFO_R)) || in_result || in_count))
		pr.early = EINVAL;
	else if (!pr.early && k == SG_MODIFY && ((val & ~0xFFULL) || in_result || in_count))
		pr.early = EINVAL;
	else if (!pr.early && k == SG_MODIFY && val != SGX_PT_TCS && val != SGX_PT_TRIM) {
		/* Refused inside sgx_enclave_modify_types: the ioctl still copies the struct back. */
		pr.early = EINVAL;
		pr.early_wb = true;
	} else if (!pr.early && (k == SG_REMOVE || k == SG_AUGMENT) && in_count)
		pr.early = EINVAL;
	else if (!pr.early && k == SG_AUGMENT && !cls_readable(sic))
		pr.early = EFAULT;
	else if (!pr.early && k == SG_AUGMENT &&
		 (((si.flags >> 8) & 0xFF) != SGX_PT_REG || (si.flags & ~0xFF07ULL) ||
		  !bytes_zero((uint8_t *)&si + 8, 56) || ((val & SGX_SECINFO_W) && !(val & SGX_SECINFO_R))))
		pr.early = EINVAL;
	else if (!pr.early && k == SG_AUGMENT && (val & ~(uint64_t)e->dyn_max))
		pr.early = EPERM;
	if (!pr.early) {
		pr.n = len / PG;
		pr.stop = pr.n;
		/* A reload (ELDU) that finds no free EPC page: EBUSY -> EAGAIN; ENOMEM (nothing on the
		 * reclaimer's list) -> EFAULT, as sgx_encl_load_page's errors map in the SGX2 ioctls. */
		pr.alloc_err = k == SG_AUGMENT ? ENOMEM : EAGAIN;
		pr.alloc_err2 = k == SG_AUGMENT ? 0 : EFAULT;
		for (uint64_t i = 0; i < pr.n; i++) {
			if (i > LOOP_CAP || (k == SG_AUGMENT && i >= 64))
				return; /* too long to run (AUGMENT's pages stay: at most 64 per call) */
			pr.stop_err = sg_page(e, k, off + i * PG, val, &pr.result, &pr.allocp[i]);
			if (pr.stop_err) {
				pr.stop = i;
				break;
			}
		}
	}
	/* Linux writes the whole struct back; AUGMENT_PAGES (ext.h) writes count only. */
	bool wb_ok = k == SG_AUGMENT ? (cls_writable(ac) || ac == C_STR_RO) : cls_writable(ac);
	if (FZ_FOUND_MODIFY_TYPES_BAD_TYPE_NO_COPY && pr.early_wb && !wb_ok)
		return; /* known.h */
	if (!pr.early && !wb_ok && epc_tight(c))
		return; /* how far an allocation failure let it go could not be read back */
	uint64_t arg = place(c, PUR_ARG, ac, &a, asize);
	int err;
	int r = call_ioctl(f.fd, cmd_hi(cmd, p[SG_HI]), arg, &err);
	uint64_t count = in_count, result = in_result;
	bool readable = cls_readable(ac);
	if (readable) {
		memcpy(&count, (const uint8_t *)(uintptr_t)arg + count_off, 8);
		if (result_off)
			memcpy(&result, (const uint8_t *)(uintptr_t)arg + result_off, 8);
	}
	uint64_t done =
	    check_range(c, &pr, r, err, wb_ok, readable, count, result, in_count, in_result, len, result_off != 0);
	for (uint64_t i = 0; i < done; i++)
		sg_apply(e, k, off + i * PG, val);
}

/* ---- ops: commands the driver does not have ---- */

enum { BC_FD, BC_ARG, BC_VARIANT, BC_CMD, BC_HI = 7 };

/* The driver's commands (and ours), which an unknown command must not be. */
static const unsigned long sgx_cmds[] = {SGX_IOC_ENCLAVE_CREATE,
					 SGX_IOC_ENCLAVE_ADD_PAGES,
					 SGX_IOC_ENCLAVE_INIT,
					 SGX_IOC_ENCLAVE_PROVISION,
					 SGX_IOC_ENCLAVE_RESTRICT_PERMISSIONS,
					 SGX_IOC_ENCLAVE_MODIFY_TYPES,
					 SGX_IOC_ENCLAVE_REMOVE_PAGES,
					 SGX_IOC_ENCLAVE_AUGMENT_PAGES};

/* do_vfs_ioctl's own commands (fs/ioctl.c), answered before any driver: never generated as unknown. */
static const unsigned long vfs_cmds[] = {FIOCLEX,
					 FIONCLEX,
					 FIONBIO,
					 FIOASYNC,
					 FIOQSIZE,
					 0xC0045877 /* FIFREEZE */,
					 0xC0045878 /* FITHAW */,
					 0xC020660B /* FS_IOC_FIEMAP */,
					 2 /* FIGETBSZ */,
					 0x40049409 /* FICLONE */,
					 0x4020940D /* FICLONERANGE */,
					 0xC0189436 /* FIDEDUPERANGE */,
					 FIONREAD,
					 0x80086601,
					 0x40086602,
					 0x801C581F,
					 0x401C5820};

static bool known_cmd(uint32_t cmd)
{
	for (size_t i = 0; i < sizeof(sgx_cmds) / sizeof(sgx_cmds[0]); i++)
		if (cmd == (uint32_t)sgx_cmds[i])
			return true;
	for (size_t i = 0; i < sizeof(vfs_cmds) / sizeof(vfs_cmds[0]); i++)
		if (cmd == (uint32_t)vfs_cmds[i])
			return true;
	return false;
}

static void op_badcmd(struct ctx *c, const uint8_t *p)
{
	struct fdsel f = fd_pick(c, p[BC_FD]);
	enum cls ac = cls_of(p[BC_ARG]);
	uint32_t cmd = u32(p, BC_CMD);
	switch (p[BC_VARIANT] % 4) {
	case 1:
		cmd = _IO(0xA4, 0x04); /* SGX_IOC_VEPC_REMOVE_ALL: /dev/sgx_vepc's */
		break;
	case 2: /* one of the driver's numbers with another size or direction */
		cmd = (uint32_t)sgx_cmds[cmd % 8] ^ (((cmd >> 8) % 3 + 1) << (cmd & 1 ? 16 : 30));
		break;
	case 3:
		cmd = _IOC(cmd & 3, 0xA4, 0x08 + (cmd >> 8) % 0x18, (cmd >> 16) & 0x3FFF);
		break;
	default:
		break;
	}
	while (known_cmd(cmd))
		cmd++;
	uint64_t buf[8] = {0};
	uint64_t arg = place(c, PUR_ARG, ac, buf, sizeof(buf));
	unsigned long full = cmd_hi(cmd, p[BC_HI]);
	descf(c, "ioctl(%d, %#lx, arg %s)", f.fd, full, cls_name[ac]);
	int expect = ioctl_prefix(c, &f);
	if (!expect)
		expect = ENOTTY;
	int err;
	int r = call_ioctl(f.fd, full, arg, &err);
	want(c, r, err, expect);
}

/* The VFS's own commands on a device fd (fs/ioctl.c), for backends that promise them (preload). */
enum { VF_FD, VF_ARG, VF_WHICH, VF_VAL };

static void op_vfs(struct ctx *c, const uint8_t *p)
{
	if (strcmp(B->name, "fuzz_preload"))
		return; /* the embedding API documents the driver's commands only (docs/embedding.md) */
	struct fdsel f = fd_pick(c, p[VF_FD]);
	enum cls ac = cls_of(p[VF_ARG]);
	static const unsigned long cmds[] = {FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC};
	unsigned w = p[VF_WHICH] % 4;
	int val = p[VF_VAL] & 1;
	uint64_t arg = place(c, PUR_ARG, ac, &val, sizeof(val));
	descf(c, "ioctl(%d, %#lx, arg %s -> %d)", f.fd, cmds[w], cls_name[ac], val);
	int expect = f.k == FD_CLOSED ? EBADF : 0;
	if (!expect && w >= 2 && !cls_readable(ac))
		expect = EFAULT; /* get_user of the int */
	else if (!expect && w == 3 && val)
		expect = ENOTTY; /* FASYNC on a file without ->fasync */
	int err;
	int r = call_ioctl(f.fd, cmds[w], arg, &err);
	want(c, r, err, expect);
}

/* ---- ops: mappings ---- */

enum {
	MM_FD,
	MM_ADDRSEL,
	MM_PG, /* 4 bytes */
	MM_DELTA = 6,
	MM_LENSEL,
	MM_LENPG, /* 2 bytes */
	MM_PROT = 10,
	MM_TYPE,
	MM_FA,
	MM_FB,
	MM_OFF,
	MM_RND, /* 8 bytes */
	MM_ENC = 23,
};

/* The enclave of slot s if it is created, else NULL (addresses are then zone-relative). */
static const struct m_encl *slot_encl(struct ctx *c, uint8_t s)
{
	const struct m_slot *sl = &c->w.slots[s % M_SLOTS];
	if (!sl->open || sl->dev != M_DEV_ENCL || !c->w.encls[sl->encl].created)
		return NULL;
	return &c->w.encls[sl->encl];
}

static uint64_t pick_addr(struct ctx *c, const uint8_t *p, const struct m_encl *e)
{
	uint32_t pg = u32(p, MM_PG);
	uint64_t base = e ? e->base : c->w.zone, size = e ? e->size : 16 * PG, z = c->w.zone;
	switch (p[MM_ADDRSEL] % 12) {
	case 1:
		return z + (pg % (ZONE_SZ / PG)) * PG;
	case 2:
		return base - (pg % 8 + 1) * PG;
	case 3:
		for (size_t i = 0; i < c->w.nvmas; i++) {
			const struct m_vma *v = &c->w.vmas[(i + pg) % c->w.nvmas];
			if (v->encl != M_CANARY)
				return v->start + (pg % 4) * PG;
		}
		return z;
	case 4:
		return c->w.low ? c->w.low + (pg % (LOW_SZ / PG)) * PG : z;
	case 5:
		return z + (pg % 4096) * PG + (p[MM_DELTA] | 1);
	case 6:
		return 0;
	case 7:
		return PG * (1 + pg % 15);
	case 8:
		return M_TASK_SIZE - (pg % 4) * PG;
	case 9:
		return KADDR + (pg % 16) * PG;
	case 10:
		return 0x800000000000ULL;
	case 11:
		return c->canary[pg & 1];
	default:
		return base + (pg % (size / PG + 8)) * PG;
	}
}

static uint64_t pick_len(const uint8_t *p, const struct m_encl *e)
{
	uint16_t lpg = u16(p, MM_LENPG);
	uint64_t size = e ? e->size : 16 * PG;
	switch (p[MM_LENSEL] % 10) {
	case 1:
		return size;
	case 2:
		return 0;
	case 3:
		return (uint64_t)(lpg % 64 + 1) * PG - 100;
	case 4:
		return 0 - (uint64_t)(lpg % 4 + 1) * PG;
	case 5:
		return M_TASK_SIZE;
	case 6:
		return 1ULL << 47;
	case 7:
		return 2 * size;
	case 8:
		return u64(p, MM_RND);
	case 9:
		return 1;
	default:
		return (uint64_t)(lpg % 64 + 1) * PG;
	}
}

/* May the sequence change [a, b): inside one of its zones, or inside one mapping of its own elsewhere? */
static bool safe_range(struct ctx *c, uint64_t a, uint64_t b)
{
	if (b <= a)
		return false;
	if (a >= c->w.zone && b <= c->w.zone + c->w.zone_size)
		return true;
	if (c->w.low && a >= c->w.low && b <= c->w.low + c->w.low_size)
		return true;
	int v = m_vma_at(&c->w, a);
	return v >= 0 && c->w.vmas[v].encl != M_CANARY && b <= c->w.vmas[v].end &&
	       (c->w.vmas[v].start >= c->w.zone + c->w.zone_size || c->w.vmas[v].end <= c->w.zone - PG);
}

/* Does [a, b) meet a host mapping the model knows (a canary or an anonymous mapping)? */
static bool meets_host(struct ctx *c, uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < c->w.nvmas; i++)
		if (c->w.vmas[i].kind == M_VMA_HOST && c->w.vmas[i].start < b && a < c->w.vmas[i].end)
			return true;
	return false;
}

static void op_mmap(struct ctx *c, const uint8_t *p)
{
	static const int types[8] = {MAP_SHARED, MAP_SHARED_VALIDATE, MAP_PRIVATE, 0, 4, 0xF, MAP_SHARED, MAP_SHARED};
	static const int fa[8] = {MAP_FIXED,	MAP_FIXED_NOREPLACE, MAP_ANONYMOUS, MAP_NORESERVE,
				  MAP_POPULATE, MAP_32BIT,	     MAP_STACK,	    MAP_GROWSDOWN};
	static const int fb[8] = {MAP_HUGETLB,	MAP_SYNC,	   MAP_DENYWRITE,    MAP_EXECUTABLE,
				  MAP_NONBLOCK, MAP_UNINITIALIZED, (int)0x80000000U, 0x200};
	struct fdsel f = fd_pick(c, p[MM_FD]);
	const struct m_encl *re = slot_encl(c, p[MM_ENC]);
	uint64_t addr = pick_addr(c, p, re), len = pick_len(p, re);
	int prot = (p[MM_PROT] & 7) | ((p[MM_PROT] & 8) ? PROT_SEM : 0) | ((p[MM_PROT] & 16) ? 0x10 : 0) |
		   ((p[MM_PROT] & 32) ? PROT_GROWSDOWN : 0) | ((p[MM_PROT] & 64) ? PROT_GROWSUP : 0);
	int flags = types[p[MM_TYPE] % 8];
	for (int i = 0; i < 8; i++) {
		if (p[MM_FA] & (1 << i))
			flags |= fa[i];
		if (p[MM_FB] & (1 << i))
			flags |= fb[i];
	}
	uint64_t offs[6] = {0, PG, 1, u64(p, MM_RND) & ~(PG - 1), 0 - PG, u64(p, MM_RND)};
	uint64_t off = offs[p[MM_OFF] % 6];
	bool anon = flags & MAP_ANONYMOUS;
	if (FZ_FOUND_MMAP_PROT_BITS && !anon && f.k != FD_HOST)
		prot &= 7; /* known.h */
	if (FZ_FOUND_MMAP_FLAGS_IGNORED && !anon && f.k != FD_HOST) {
		/* known.h */
		off &= (1ULL << 40) - PG;
		flags &= ~(MAP_HUGETLB | MAP_GROWSDOWN | MAP_32BIT);
		if ((flags & MAP_TYPE) == MAP_SHARED_VALIDATE)
			flags &= (int)LEGACY_MAP_MASK;
	}
	if (anon || f.k == FD_HOST)
		flags &= ~(MAP_GROWSDOWN | MAP_HUGETLB); /* grows-down VMAs and huge page lengths are not modelled */
	bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	uint64_t rlen = (len + PG - 1) & ~(PG - 1);
	if (rlen < len)
		rlen = 0;
	descf(c, "mmap(%#llx, %#llx, %#x, %#x, %d, %#llx)", (unsigned long long)addr, (unsigned long long)len, prot,
	      flags, f.fd, (unsigned long long)off);

	if (anon || f.k == FD_HOST) {
		/* Not the driver: the host kernel answers (it is Linux); the model only follows its mappings. */
		if (FZ_FOUND_PRELOAD_FIXED_UNMAPS_FIRST && fixed && !strcmp(B->name, "fuzz_preload") &&
		    (!anon || (off & (PG - 1)) ||
		     ((flags & MAP_TYPE) != MAP_SHARED && (flags & MAP_TYPE) != MAP_PRIVATE))) {
			for (size_t i = 0; i < c->w.nvmas; i++)
				if (c->w.vmas[i].kind == M_VMA_ENCL && c->w.vmas[i].start < addr + rlen &&
				    addr < c->w.vmas[i].end)
					return; /* known.h */
		}
		if (fixed && !((addr & (PG - 1)) == 0 && rlen && safe_range(c, addr, addr + rlen)))
			return;
		if (FZ_KNOWN_NOREPLACE_OVER_HOST && (flags & MAP_FIXED_NOREPLACE))
			return; /* known.h: the emulator's NOREPLACE; over host mappings the host answers anyway */
		if (FZ_FOUND_RECLAIM_RELEASE_RACE && c->weak && fixed && releases_enclave(c, -1, addr, addr + rlen))
			return; /* known.h */
		if (FZ_FOUND_EMBED_FOREIGN_MMAP_OVER_ENCLAVE && fixed && !strcmp(B->name, "fuzz_sequence")) {
			for (size_t i = 0; i < c->w.nvmas; i++)
				if (c->w.vmas[i].kind == M_VMA_ENCL && c->w.vmas[i].start < addr + rlen &&
				    addr < c->w.vmas[i].end)
					return; /* known.h */
		}
		errno = 0;
		void *r = B->mmap((void *)(uintptr_t)addr, len, prot, flags, f.fd, (off_t)off);
		if (r == MAP_FAILED)
			return;
		uint64_t a = (uint64_t)(uintptr_t)r;
		if ((a & (PG - 1)) || (fixed && a != addr))
			fail(c, "mapped at %#llx", (unsigned long long)a);
		if (!fixed && m_vma_intersects(&c->w, a, a + rlen))
			fail(c, "a mapping without MAP_FIXED at %#llx overlaps an existing one", (unsigned long long)a);
		m_vma_unmap(&c->w, a, a + rlen);
		struct m_vma v = {
		    .start = a, .end = a + rlen, .prot = prot & 7, .kind = M_VMA_HOST, .encl = -1, .maywrite = true};
		m_vma_insert(&c->w, &v);
		return;
	}

	if (FZ_FOUND_PRELOAD_FIXED_UNMAPS_FIRST && fixed && !strcmp(B->name, "fuzz_preload") &&
	    (f.k == FD_CLOSED || (off & (PG - 1)))) {
		for (size_t i = 0; i < c->w.nvmas; i++)
			if (c->w.vmas[i].kind == M_VMA_ENCL && c->w.vmas[i].start < addr + rlen &&
			    addr < c->w.vmas[i].end)
				return; /* known.h */
	}

	/* Linux's order: sys_mmap, ksys_mmap_pgoff, do_mmap, get_unmapped_area, mmap_region, sgx_mmap. */
	const struct m_slot *sl = f.k == FD_SLOT ? &c->w.slots[f.slot] : NULL;
	bool enclave = sl && sl->dev == M_DEV_ENCL;
	bool fmode_r = sl && sl->accmode != O_WRONLY, fmode_w = sl && sl->accmode != O_RDONLY;
	int type = flags & MAP_TYPE;
	uint64_t pgoff = off >> 12;
	int expect = 0;
	bool reaches_region = false; /* got past every check before mmap_region (and sgx_mmap) */
	if (off & (PG - 1))
		expect = EINVAL;
	else if (f.k == FD_CLOSED)
		expect = EBADF;
	else if (flags & MAP_HUGETLB)
		expect = EINVAL;
	else if (!len)
		expect = EINVAL;
	else if (!rlen)
		expect = ENOMEM;
	else if (pgoff + (rlen >> 12) < pgoff)
		expect = EOVERFLOW;
	else if (rlen > M_TASK_SIZE)
		expect = ENOMEM;
	else if (enclave && type == MAP_PRIVATE)
		expect = EINVAL; /* sgx_get_unmapped_area */
	/*
	 * Without MAP_FIXED, get_unmapped_area has placed the mapping by now: where the model cannot
	 * know that a free range exists (see below), ENOMEM may come before the later checks.
	 */
	bool place_may_fail = !expect && !fixed && (rlen >= (1ULL << 40) || (flags & MAP_32BIT));
	if (!expect) {
		if (fixed && addr > M_TASK_SIZE - rlen)
			expect = ENOMEM;
		else if (fixed && (addr & (PG - 1)))
			expect = EINVAL;
		else if (fixed && addr < P.mmap_min_addr && !P.low_mmap_allowed)
			expect = EPERM;
		else if ((flags & MAP_FIXED_NOREPLACE) && m_vma_intersects(&c->w, addr, addr + rlen))
			expect = EEXIST;
		else if (pgoff > (~0ULL - rlen) >> 12)
			expect = EOVERFLOW; /* file_mmap_ok */
		else if (type == MAP_SHARED_VALIDATE && (flags & ~LEGACY_MAP_MASK))
			expect = EOPNOTSUPP;
		else if ((type == MAP_SHARED || type == MAP_SHARED_VALIDATE) && (prot & PROT_WRITE) && !fmode_w)
			expect = EACCES;
		else if ((type == MAP_SHARED || type == MAP_SHARED_VALIDATE || type == MAP_PRIVATE) && !fmode_r)
			expect = EACCES;
		else if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE && type != MAP_PRIVATE)
			expect = EINVAL;
		else if (!enclave)
			expect = ENODEV; /* /dev/sgx_provision has no mmap */
		else if (flags & MAP_GROWSDOWN)
			expect = EINVAL;
		else
			reaches_region = true;
	}
	if (fixed && reaches_region && !safe_range(c, addr, addr + rlen))
		return;
	if (FZ_FOUND_MMAP_FIXED_RANGE_UNCHECKED && fixed && !anon &&
	    (addr + rlen < addr || addr + rlen > M_TASK_SIZE || addr < P.mmap_min_addr))
		return; /* known.h */
	if (FZ_KNOWN_NOREPLACE_OVER_HOST && (flags & MAP_FIXED_NOREPLACE) && reaches_region &&
	    meets_host(c, addr, addr + rlen))
		return; /* known.h */
	if (fixed && addr < P.mmap_min_addr && reaches_region)
		return; /* not below mmap_min_addr, even where this host would allow it */
	int ei = enclave ? sl->encl : -1;
	if (reaches_region && fixed)
		expect = m_may_map(&c->w, ei, addr, addr + rlen, prot) ? EACCES : 0;
	if (FZ_FOUND_RECLAIM_RELEASE_RACE && c->weak && reaches_region && fixed &&
	    releases_enclave(c, -1, addr, addr + rlen))
		return; /* known.h */
	if (FZ_FOUND_MMAP_FIXED_REFUSED_KEEPS_OLD && reaches_region && fixed && expect &&
	    m_vma_intersects(&c->w, addr, addr + rlen))
		return; /* known.h */

	errno = 0;
	void *rp = B->mmap((void *)(uintptr_t)addr, len, prot, flags, f.fd, (off_t)off);
	int err = rp == MAP_FAILED ? errno : 0;
	uint64_t r = (uint64_t)(uintptr_t)rp;
	if (TRACE)
		fprintf(stderr, "[%d]   -> %#llx %s (model: %s%s)\n", c->tid, (unsigned long long)r,
			rp == MAP_FAILED ? en(err) : "", en(expect), reaches_region && !fixed ? ", any address" : "");
	if (reaches_region && !fixed) {
		/*
		 * The kernel picks the address (the hint if it is free): the model cannot know where, so
		 * it checks the result instead: a free, aligned range below TASK_SIZE (below 2 GiB with
		 * MAP_32BIT) that sgx_encl_may_map allows; or EACCES only where some placement is refused.
		 */
		if (rp == MAP_FAILED) {
			bool restrict_page = false;
			const struct m_encl *e = &c->w.encls[ei];
			for (size_t i = 0; i < e->npages; i++)
				restrict_page |= (prot & 7 & ~e->pages[i].maxprot) != 0;
			if (err == EACCES && (e->initialized || restrict_page))
				return;
			if (err == ENOMEM && (rlen >= (1ULL << 40) || (flags & MAP_32BIT)))
				return;
			fail(c, "failed with %s; the model says any free range would be allowed", en(err));
		}
		if ((r & (PG - 1)) || r + rlen > M_TASK_SIZE || r + rlen < r)
			fail(c, "mapped at %#llx", (unsigned long long)r);
		if ((flags & MAP_32BIT) && r + rlen > 0x80000000ULL)
			fail(c, "MAP_32BIT mapping at %#llx ends above 2 GiB", (unsigned long long)r);
		if (m_vma_intersects(&c->w, r, r + rlen))
			fail(c, "a mapping without MAP_FIXED at %#llx overlaps an existing one", (unsigned long long)r);
		if (m_may_map(&c->w, ei, r, r + rlen, prot))
			fail(c, "mapped at %#llx although sgx_encl_may_map refuses that range", (unsigned long long)r);
	} else if (FZ_FOUND_MMAP_CHECK_ORDER && !reaches_region && rp == MAP_FAILED) {
		/* known.h: any errno, as long as it fails. */
	} else if (place_may_fail && expect && rp == MAP_FAILED && err == ENOMEM) {
		/* No free range for it (the placement comes before the check that refuses it). */
	} else if (c->weak && (flags & MAP_FIXED_NOREPLACE) && expect && rp == MAP_FAILED && err == EEXIST &&
		   !in_own_zones(c, addr, addr + rlen)) {
		/*
		 * Two threads: outside this world's zones the range may hold a mapping the other
		 * thread's sequence made without MAP_FIXED (the kernel placed it), which this model
		 * does not hold; MAP_FIXED_NOREPLACE's EEXIST comes before the checks that refuse
		 * the call otherwise.
		 */
	} else {
		if (expect == 0 ? rp == MAP_FAILED || r != addr : !(rp == MAP_FAILED && err == expect))
			fail(c, "returned %#llx (%s); the model says %s", (unsigned long long)r,
			     rp == MAP_FAILED ? en(err) : "success", expect ? en(expect) : "success at addr");
	}
	/* MAP_FIXED: mmap_region unmaps the old range before sgx_mmap may refuse (EACCES). */
	if (reaches_region && fixed)
		m_vma_unmap(&c->w, addr, addr + rlen);
	if (rp != MAP_FAILED) {
		struct m_vma v = {
		    .start = r, .end = r + rlen, .prot = prot & 7, .kind = M_VMA_ENCL, .encl = ei, .maywrite = fmode_w};
		m_vma_insert(&c->w, &v);
	}
}

static int pick_prot(uint8_t b, uint64_t rnd)
{
	if (b >= 0xF0)
		return (int)rnd;
	return (b & 7) | ((b & 8) ? PROT_SEM : 0) | ((b & 16) ? 0x10 : 0) | ((b & 32) ? PROT_GROWSDOWN : 0) |
	       ((b & 64) ? PROT_GROWSUP : 0);
}

static void op_mprotect(struct ctx *c, const uint8_t *p)
{
	const struct m_encl *re = slot_encl(c, p[MM_ENC]);
	uint64_t addr = pick_addr(c, p, re), len = pick_len(p, re);
	int prot = pick_prot(p[MM_PROT], u64(p, MM_RND));
	if (FZ_FOUND_MPROTECT_PROT_FIRST && (prot & ~7))
		return; /* known.h */
	if (FZ_FOUND_MPROTECT_END_WRAPS && len && addr + ((len + PG - 1) & ~(PG - 1)) <= addr)
		return; /* known.h */
	descf(c, "mprotect(%#llx, %#llx, %#x)", (unsigned long long)addr, (unsigned long long)len, prot);

	/* Linux's do_mprotect_pkey, VMA by VMA: a failure leaves the VMAs before it changed. */
	unsigned grows = (unsigned)prot & (PROT_GROWSDOWN | PROT_GROWSUP);
	int pr = prot & ~(int)grows;
	uint64_t end = addr + ((len + PG - 1) & ~(PG - 1));
	int expect = 0;
	uint64_t applied[M_VMAS][2];
	size_t napplied = 0;
	bool touches_canary = false;
	if (grows == (PROT_GROWSDOWN | PROT_GROWSUP))
		expect = EINVAL;
	else if (addr & (PG - 1))
		expect = EINVAL;
	else if (!len)
		expect = 0;
	else if (end <= addr)
		expect = ENOMEM;
	else if (pr & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM))
		expect = EINVAL;
	else {
		int vi = m_vma_after(&c->w, addr);
		if (vi < 0)
			expect = ENOMEM;
		else if (grows & PROT_GROWSDOWN)
			expect = c->w.vmas[vi].start >= end ? ENOMEM : EINVAL; /* no VM_GROWSDOWN VMA here */
		else if (c->w.vmas[vi].start > addr)
			expect = ENOMEM;
		else if (grows & PROT_GROWSUP)
			expect = EINVAL;
		else {
			uint64_t nstart = addr;
			for (;;) {
				const struct m_vma *v = &c->w.vmas[vi];
				touches_canary |= v->encl == M_CANARY;
				uint64_t tmp = v->end < end ? v->end : end;
				if ((pr & PROT_WRITE) && !v->maywrite) {
					expect = EACCES; /* no VM_MAYWRITE: a read-only file */
					break;
				}
				if (v->kind == M_VMA_ENCL && m_may_map(&c->w, v->encl, nstart, tmp, pr)) {
					expect = EACCES; /* sgx_vma_mprotect */
					break;
				}
				applied[napplied][0] = nstart;
				applied[napplied][1] = tmp;
				napplied++;
				nstart = tmp;
				if (nstart >= end)
					break;
				vi = m_vma_at(&c->w, nstart);
				if (vi < 0) {
					expect = ENOMEM;
					break;
				}
			}
		}
	}
	if (touches_canary)
		return;
	/* Outside its zones the model does not know every mapping: a call that gets past the early checks
	 * may act there only inside what the sequence mapped itself. */
	if (grows != (PROT_GROWSDOWN | PROT_GROWSUP) && !(addr & (PG - 1)) && len && end > addr &&
	    !(pr & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) && !safe_range(c, addr, end))
		return;
	if (FZ_FOUND_MPROTECT_NOT_PER_VMA && len && !(addr & (PG - 1)) && end > addr &&
	    m_vma_intersects(&c->w, addr, end) && !grows) {
		/* known.h: only ranges made of enclave VMAs alone, changed whole or not at all. */
		bool encl = false, other = false;
		for (uint64_t a = addr; a < end;) {
			int v = m_vma_at(&c->w, a);
			if (v < 0 || c->w.vmas[v].kind != M_VMA_ENCL) {
				other = true;
				break;
			}
			encl = true;
			a = c->w.vmas[v].end;
		}
		if (encl && (other || (expect && napplied)))
			return;
		if (!encl && other) {
			for (size_t i = 0; i < c->w.nvmas; i++)
				if (c->w.vmas[i].kind == M_VMA_ENCL && c->w.vmas[i].start < end &&
				    addr < c->w.vmas[i].end)
					return;
		}
	}
	for (size_t i = 0; i < napplied; i++)
		if (!safe_range(c, applied[i][0], applied[i][1]))
			return;
	errno = 0;
	int r = B->mprotect((void *)(uintptr_t)addr, len, prot);
	want(c, r, r < 0 ? errno : 0, expect);
	for (size_t i = 0; i < napplied; i++)
		m_vma_protect(&c->w, applied[i][0], applied[i][1], pr & 7);
}

static void op_munmap(struct ctx *c, const uint8_t *p)
{
	const struct m_encl *re = slot_encl(c, p[MM_ENC]);
	uint64_t addr = pick_addr(c, p, re), len = pick_len(p, re);
	if (FZ_FOUND_MUNMAP_EINVAL_UNMAPS && !(addr & (PG - 1)) && addr <= M_TASK_SIZE && len > M_TASK_SIZE - addr)
		return; /* known.h */
	descf(c, "munmap(%#llx, %#llx)", (unsigned long long)addr, (unsigned long long)len);
	/* Linux's do_mas_munmap. */
	int expect = 0;
	uint64_t end = 0;
	if ((addr & (PG - 1)) || addr > M_TASK_SIZE || len > M_TASK_SIZE - addr)
		expect = EINVAL;
	else if ((end = addr + ((len + PG - 1) & ~(PG - 1))) == addr)
		expect = EINVAL;
	if (!expect && !safe_range(c, addr, end))
		return;
	if (FZ_FOUND_RECLAIM_RELEASE_RACE && c->weak && !expect && releases_enclave(c, -1, addr, end))
		return; /* known.h */
	errno = 0;
	int r = B->munmap((void *)(uintptr_t)addr, len);
	want(c, r, r < 0 ? errno : 0, expect);
	if (!expect)
		m_vma_unmap(&c->w, addr, end);
}

/* ---- ops: a whole enclave in one record ---- */

enum { BD_SLOT, BD_SIZE, BD_K, BD_NREG, BD_PERM, BD_MAP, BD_ATTR, BD_MEASURE, BD_NTCS, BD_DATA };

static void op_create(struct ctx *c, const uint8_t *p);
static void op_add(struct ctx *c, const uint8_t *p);
static void op_init(struct ctx *c, const uint8_t *p);
static void op_mmap(struct ctx *c, const uint8_t *p);

/*
 * open (if the slot is closed), CREATE, ADD_PAGES of TCSs and regular
 * pages, INIT with a correctly signed SIGSTRUCT, and a MAP_FIXED mapping of
 * the ELRANGE: the same ops as their own records, with good operands, so
 * that short inputs reach an initialised enclave.
 */
static void op_build(struct ctx *c, const uint8_t *p)
{
	static const uint8_t size_sel[6] = {0, 3, 5, 2, 4, 6}; /* 8K, 16K, 32K, 64K, 1M, 16M (pick_size) */
	static const uint8_t attr_sel[4] = {0, 1, 4, 8};       /* M64|DEBUG, M64, +KSS, +AEXNOTIFY */
	static const uint8_t perm_sel[5] = {0, 1, 2, 3, 5};    /* RW, R, RX, RWX, none */
	uint8_t slot = p[BD_SLOT] % M_SLOTS, r[FZ_REC - 1];
	const char *name = c->opname;
	if (!c->w.slots[slot].open) {
		memset(r, 0, sizeof(r));
		r[OPEN_SLOT] = slot;
		c->opname = "build: open";
		op_open(c, r);
	}
	memset(r, 0, sizeof(r));
	r[CR_FD] = slot;
	r[CR_ARG] = r[CR_SRC] = 0xFF;
	r[CR_SIZE] = size_sel[p[BD_SIZE] % 6];
	r[CR_K] = p[BD_K];
	r[CR_ATTR] = attr_sel[p[BD_ATTR] % 4];
	c->opname = "build: CREATE";
	op_create(c, r);
	unsigned ntcs = p[BD_NTCS] % 3, nreg = p[BD_NREG] % 16 + 1;
	for (unsigned i = 0; i < ntcs; i++) {
		memset(r, 0, sizeof(r));
		r[AD_FD] = slot;
		r[AD_ARG] = r[AD_SICLS] = 0xFF;
		r[AD_SRC] = 1; /* the valid TCS of the pool */
		r[AD_OFFPG] = (uint8_t)i;
		r[AD_SIFLAGS] = 4; /* TCS */
		r[AD_FLAGS] = SGX_PAGE_MEASURE;
		c->opname = "build: ADD_PAGES (TCS)";
		op_add(c, r);
	}
	memset(r, 0, sizeof(r));
	r[AD_FD] = slot;
	r[AD_ARG] = r[AD_SICLS] = 0xFF;
	unsigned src = p[BD_DATA] % 16;
	r[AD_SRC] = (uint8_t)(src + nreg > 16 ? 16 - nreg : src);
	r[AD_OFFPG] = (uint8_t)ntcs;
	r[AD_LENPG] = (uint8_t)(nreg - 1);
	r[AD_SIFLAGS] = perm_sel[p[BD_PERM] % 5];
	r[AD_FLAGS] = (p[BD_MEASURE] & 1) ? 0 : SGX_PAGE_MEASURE;
	c->opname = "build: ADD_PAGES";
	op_add(c, r);
	memset(r, 0, sizeof(r));
	r[IN_FD] = slot;
	r[IN_ARG] = r[IN_SIG] = 0xFF;
	c->opname = "build: INIT";
	op_init(c, r);
	if (p[BD_MAP] & 8) {
		memset(r, 0, sizeof(r));
		r[MM_FD] = slot;
		r[MM_ENC] = slot;
		r[MM_LENSEL] = 1; /* the ELRANGE */
		r[MM_PROT] = p[BD_MAP] & 7;
		r[MM_FA] = 1; /* MAP_FIXED */
		c->opname = "build: mmap";
		op_mmap(c, r);
	}
	c->opname = name;
}

/* ---- running a sequence ---- */

static const char *const op_names[16] = {
    "open",	    "close",	    "CREATE",	     "ADD_PAGES",   "INIT", "PROVISION", "RESTRICT_PERMISSIONS",
    "MODIFY_TYPES", "REMOVE_PAGES", "AUGMENT_PAGES", "bad command", "mmap", "mprotect",	 "munmap",
    "build",	    "VFS ioctl"};

static void run_op(struct ctx *c, uint8_t opc, const uint8_t *p)
{
	unsigned op = opc % 16;
	c->opname = op_names[op];
	c->desc[0] = 0;
	switch (op) {
	case 0:
		op_open(c, p);
		break;
	case 1:
		op_close(c, p);
		break;
	case 2:
		op_create(c, p);
		break;
	case 3:
		op_add(c, p);
		break;
	case 4:
		op_init(c, p);
		break;
	case 5:
		op_provision(c, p);
		break;
	case 6:
		op_sgx2(c, p, SG_RESTRICT);
		break;
	case 7:
		op_sgx2(c, p, SG_MODIFY);
		break;
	case 8:
		op_sgx2(c, p, SG_REMOVE);
		break;
	case 9:
		op_sgx2(c, p, SG_AUGMENT);
		break;
	case 10:
		op_badcmd(c, p);
		break;
	case 11:
		op_mmap(c, p);
		break;
	case 12:
		op_mprotect(c, p);
		break;
	case 13:
		op_munmap(c, p);
		break;
	case 14:
		op_build(c, p);
		break;
	default:
		op_vfs(c, p);
		break;
	}
	gc(c);
	check_canaries(c);
	check_stats(c);
	if (op == 1 || op >= 11)
		check_coverage(c);
}

/* Close every file and unmap every mapping of the world; then nothing of it may remain. */
static void cleanup(struct ctx *c)
{
	c->opname = "cleanup";
	c->opi = -1;
	for (int s = 0; s < M_SLOTS; s++) {
		struct m_slot *sl = &c->w.slots[s];
		if (!sl->open)
			continue;
		descf(c, "close(%d)", sl->fd);
		errno = 0;
		int r = B->close(sl->fd);
		want(c, r, r < 0 ? errno : 0, 0);
		sl->open = false;
		sl->fd = -1;
	}
	for (size_t i = 0; i < c->w.nvmas;) {
		struct m_vma v = c->w.vmas[i];
		if (v.encl == M_CANARY) {
			i++;
			continue;
		}
		descf(c, "munmap(%#llx, %#llx)", (unsigned long long)v.start, (unsigned long long)(v.end - v.start));
		errno = 0;
		int r = B->munmap((void *)(uintptr_t)v.start, v.end - v.start);
		want(c, r, r < 0 ? errno : 0, 0);
		m_vma_unmap(&c->w, v.start, v.end);
	}
	gc(c);
	for (int i = 0; i < M_ENCLS; i++)
		if (c->w.encls[i].live)
			fail(c, "enclave %d still referenced after cleanup", i);
	check_canaries(c);
	check_coverage(c);
}

static struct ctx W[2];

struct thread_arg {
	struct ctx *c;
	const uint8_t *data;
	size_t n;
};

static void run_ops(struct ctx *c, const uint8_t *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t rec[FZ_REC];
		memset(rec, 0, sizeof(rec));
		memcpy(rec, data + i * FZ_REC, FZ_REC);
		c->opi = (int)i;
		run_op(c, rec[0], rec + 1);
	}
}

static void *thread_main(void *arg)
{
	struct thread_arg *t = arg;
	run_ops(t->c, t->data, t->n);
	free(maps_buf);
	maps_buf = NULL;
	maps_cap = 0;
	return NULL;
}

void fz_run(const uint8_t *data, size_t size)
{
	uint8_t hdr[FZ_HDR] = {0};
	memcpy(hdr, data, size < FZ_HDR ? size : FZ_HDR);
	size_t body = size > FZ_HDR ? size - FZ_HDR : 0;
	size_t n = (body + FZ_REC - 1) / FZ_REC;
	if (n > FZ_MAX_OPS)
		n = FZ_MAX_OPS;
	/* Zero-pad the last record. */
	static uint8_t buf[FZ_MAX_OPS * FZ_REC];
	memset(buf, 0, sizeof(buf));
	memcpy(buf, data + (size > FZ_HDR ? FZ_HDR : size), body < sizeof(buf) ? body : sizeof(buf));
	bool threads = hdr[0] & FZ_HDR_THREADS;
	count_signals();
	for (int i = 0; i < 2; i++) {
		W[i].weak = threads;
		pool_fill(&W[i], hdr[1]);
	}
	if (threads) {
		/* The second thread replays the first hdr[2] % n + 1 ops in its own zone, on its own files. */
		struct thread_arg t = {.c = &W[1], .data = buf, .n = n ? hdr[2] % n + 1 : 0};
		pthread_t th;
		if (pthread_create(&th, NULL, thread_main, &t) != 0)
			abort();
		run_ops(&W[0], buf, n);
		pthread_join(th, NULL);
		cleanup(&W[1]);
	} else {
		run_ops(&W[0], buf, n);
	}
	cleanup(&W[0]);
	/* Invariant: with every file closed and every mapping gone, the EPC holds no enclave page. */
	if (B->stats) {
		uint64_t res, ev;
		B->stats(&res, &ev);
		if (res || ev)
			fail(&W[0],
			     "after closing and unmapping everything: %llu resident + %llu evicted enclave pages",
			     (unsigned long long)res, (unsigned long long)ev);
	}
}

int fz_init(const struct fz_backend *b, char *err, size_t errlen)
{
	B = b;
	TRACE = getenv("SGXEMU_FUZZ_TRACE") != NULL;
	uint32_t r0[4], r1[4];
	b->cpuid12(0, r0);
	b->cpuid12(1, r1);
	P.misc_supported = r0[1];
	P.max_log2_32 = (uint8_t)(r0[3] & 0xFF);
	P.max_log2_64 = (uint8_t)((r0[3] >> 8) & 0xFF);
	P.attr_allowed = r1[0] | (uint64_t)r1[1] << 32;
	P.xfrm_allowed = r1[2] | (uint64_t)r1[3] << 32;
	for (unsigned i = 2; i < 64; i++)
		b->xstate(i, &P.xoff[i], &P.xsize[i]);
	P.epc_frames = b->epc_size / PG;
	m_platform_masks(&P);
	if (!(r0[0] & 2)) {
		snprintf(err, errlen, "the emulated CPU has no SGX2");
		return -1;
	}

	/* Hosts with 5-level paging have another TASK_SIZE: refused rather than modelled. */
	void *hi = mmap((void *)(1ULL << 48), PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (hi != MAP_FAILED) {
		munmap(hi, PG);
		snprintf(err, errlen, "this host has 5-level paging (LA57): the model assumes 47-bit user addresses");
		return -1;
	}
	P.mmap_min_addr = 65536;
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");
	if (f) {
		unsigned long long v;
		if (fscanf(f, "%llu", &v) == 1)
			P.mmap_min_addr = v;
		fclose(f);
	}
	/* Below mmap_min_addr only CAP_SYS_RAWIO may map (cap_mmap_addr): what does this process get? */
	void *low = mmap((void *)PG, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	P.low_mmap_allowed = low == (void *)PG;
	if (low != MAP_FAILED)
		munmap(low, PG);

	size_t len;
	char *pem = NULL;
	f = fopen(b->key_pem_path, "r");
	if (f) {
		pem = malloc(1 << 16);
		len = pem ? fread(pem, 1, (1 << 16) - 1, f) : 0;
		fclose(f);
	}
	if (!pem || !(KEY = crypto_rsa_from_pem(pem, len, err, errlen))) {
		if (!pem)
			snprintf(err, errlen, "%s: cannot read the signing key", b->key_pem_path);
		free(pem);
		return -1;
	}
	free(pem);
	HOSTFD = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (HOSTFD < 0 || fcntl(CLOSED_FD, F_GETFD) != -1) {
		snprintf(err, errlen, "descriptors: /dev/null %d, %d must be closed", HOSTFD, CLOSED_FD);
		return -1;
	}
	for (int i = 0; i < 2; i++)
		if (world_init(&W[i], i + 1, err, errlen))
			return -1;
	return 0;
}
