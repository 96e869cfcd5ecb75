/* SPDX-License-Identifier: MIT */
/*
 * The heap: first fit over an explicit free list, boundary tags, immediate
 * coalescing, one spinlock.
 *
 * A block is an 8-byte header (size | flags) followed by its payload; the
 * payload is 16-byte aligned, sizes are multiples of 16.  A free block also
 * holds the list links after its header and its size in its last 8 bytes
 * (the footer), so the block after it can find it (PREV_FREE).  Each
 * region ends with an 8-byte epilogue header: size 0, USED.
 */
#include "rt_int.h"
#include "sgxemu/rt.h"

#define HDR	   8ULL
#define MIN_BLOCK  32ULL
#define USED	   1ULL
#define PREV_FREE  2ULL
#define SIZE_MASK  (~15ULL)
#define MAX_REGION 16

struct block {
	uint64_t hdr;
	struct block *next, *prev; /* free blocks only */
};

struct region {
	uint64_t start, end; /* first header, epilogue header */
};

static struct region regions[MAX_REGION];
static unsigned n_regions;
static struct block *free_list;
static rt_spinlock_t lock;

static uint64_t bsize(const struct block *b)
{
	return b->hdr & SIZE_MASK;
}

static struct block *after(struct block *b)
{
	return (struct block *)((uint8_t *)b + bsize(b));
}

static void set_footer(struct block *b)
{
	*(uint64_t *)((uint8_t *)b + bsize(b) - HDR) = bsize(b);
}

static void list_insert(struct block *b)
{
	b->prev = NULL;
	b->next = free_list;
	if (free_list)
		free_list->prev = b;
	free_list = b;
}

static void list_remove(struct block *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		free_list = b->next;
	if (b->next)
		b->next->prev = b->prev;
}

/* Make [b, b + size) a free block (its predecessor is in use) and list it. */
static void make_free(struct block *b, uint64_t size)
{
	b->hdr = size;
	set_footer(b);
	list_insert(b);
	after(b)->hdr |= PREV_FREE;
}

static uint64_t need_for(size_t n)
{
	uint64_t need = ((uint64_t)n + HDR + 15) & SIZE_MASK;
	return need < MIN_BLOCK ? MIN_BLOCK : need;
}

/* Is p the payload of a block in use?  (Catches double frees and foreign pointers.) */
static struct block *owned(void *p)
{
	uint64_t a = (uintptr_t)p;
	if (a & 15)
		return NULL;
	struct block *b = (struct block *)(a - HDR);
	for (unsigned i = 0; i < n_regions; i++) {
		if ((uint64_t)(uintptr_t)b < regions[i].start || (uint64_t)(uintptr_t)b >= regions[i].end)
			continue;
		uint64_t size = bsize(b);
		if (!(b->hdr & USED) || size < MIN_BLOCK || size > regions[i].end - (uint64_t)(uintptr_t)b)
			return NULL;
		return b;
	}
	return NULL;
}

static void add_region(uint64_t start, uint64_t end)
{
	regions[n_regions++] = (struct region){start, end};
	struct block *b = (struct block *)start;
	((struct block *)end)->hdr = USED;
	make_free(b, end - start);
}

int rt_heap_add(void *p, size_t len)
{
	uint64_t lo = (uintptr_t)p, hi;
	if (__builtin_add_overflow(lo, (uint64_t)len, &hi))
		return -RT_EINVAL;
	uint64_t start = ((lo + HDR + 15) & SIZE_MASK) - HDR;
	uint64_t end = (hi & SIZE_MASK) - HDR;
	if (end < start + MIN_BLOCK || end > hi)
		return -RT_EINVAL;
	int r = 0;
	rt_spin_lock(&lock);
	for (unsigned i = 0; i < n_regions && !r; i++)
		if (lo < regions[i].end + HDR && hi > regions[i].start)
			r = -RT_EINVAL;
	if (!r && n_regions == MAX_REGION)
		r = -RT_ENOSPC;
	if (!r)
		add_region(start, end);
	rt_spin_unlock(&lock);
	return r;
}

void rt_heap_init(void *start, size_t len)
{
	rt_heap_add(start, len);
}

void *malloc(size_t n)
{
	if (n > SIZE_MAX / 2)
		return NULL;
	uint64_t need = need_for(n);
	rt_spin_lock(&lock);
	struct block *b = free_list;
	while (b && bsize(b) < need)
		b = b->next;
	if (!b) {
		rt_spin_unlock(&lock);
		return NULL;
	}
	list_remove(b);
	uint64_t size = bsize(b), pf = b->hdr & PREV_FREE;
	if (size - need >= MIN_BLOCK) {
		b->hdr = need | USED | pf;
		make_free(after(b), size - need);
	} else {
		b->hdr |= USED;
		after(b)->hdr &= ~PREV_FREE;
	}
	rt_spin_unlock(&lock);
	return (uint8_t *)b + HDR;
}

void free(void *p)
{
	if (!p)
		return;
	rt_spin_lock(&lock);
	struct block *b = owned(p);
	if (!b) {
		rt_spin_unlock(&lock);
		rt_abort(SGXEMU_ABORT_ASSERT);
	}
	uint64_t size = bsize(b);
	struct block *next = after(b);
	if (!(next->hdr & USED)) {
		list_remove(next);
		size += bsize(next);
	}
	if (b->hdr & PREV_FREE) {
		uint64_t prev_size = *(uint64_t *)((uint8_t *)b - HDR);
		b = (struct block *)((uint8_t *)b - prev_size);
		list_remove(b);
		size += prev_size;
	}
	make_free(b, size);
	rt_spin_unlock(&lock);
}

void *calloc(size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	void *p = malloc(total);
	if (p)
		memset(p, 0, total);
	return p;
}

void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (n == 0) {
		free(p);
		return NULL;
	}
	if (n > SIZE_MAX / 2)
		return NULL;
	uint64_t need = need_for(n);
	rt_spin_lock(&lock);
	struct block *b = owned(p);
	if (!b) {
		rt_spin_unlock(&lock);
		rt_abort(SGXEMU_ABORT_ASSERT);
	}
	uint64_t size = bsize(b), pf = b->hdr & PREV_FREE;
	struct block *next = after(b);
	uint64_t avail = size + ((next->hdr & USED) ? 0 : bsize(next));
	if (need <= avail) {
		/* In place: shrink, or grow into the free block after it; the rest stays free. */
		if (!(next->hdr & USED))
			list_remove(next);
		else
			avail = size;
		if (avail - need >= MIN_BLOCK) {
			b->hdr = need | USED | pf;
			make_free(after(b), avail - need);
		} else {
			b->hdr = avail | USED | pf;
			after(b)->hdr &= ~PREV_FREE;
		}
		rt_spin_unlock(&lock);
		return p;
	}
	rt_spin_unlock(&lock);
	void *q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, size - HDR);
	free(p);
	return q;
}

void rt_heap_stats(struct rt_heap_stats *s)
{
	memset(s, 0, sizeof(*s));
	rt_spin_lock(&lock);
	for (unsigned i = 0; i < n_regions; i++) {
		s->total += regions[i].end - regions[i].start;
		for (struct block *b = (struct block *)regions[i].start; bsize(b); b = after(b)) {
			if (b->hdr & USED) {
				s->used_blocks++;
				continue;
			}
			s->free_blocks++;
			s->free += bsize(b);
			if (bsize(b) > s->largest_free)
				s->largest_free = bsize(b);
		}
	}
	rt_spin_unlock(&lock);
}
