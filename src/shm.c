/* SPDX-License-Identifier: MIT */
/*
 * The shared region and its arena: one mmap(MAP_SHARED | MAP_ANONYMOUS),
 * no name, nothing under /dev/shm; or, for a pool whose supervisor comes
 * from the fork server, a memfd mapped at the same address in both
 * (hpool__shm_create_fd, hpool__shm_attach). Every process forked after
 * hpool__shm_create() sees it at the same address and allocates from the
 * same arena, at the same time as the threads of every such process. No
 * lock: every shared word changes by one atomic instruction, so a process
 * that dies at any instruction leaves every word in a state that the others
 * read as "used" or "free", never as "wait for me".
 *
 * Layout (offsets from the first byte; every part starts on a cache line,
 * the arena on a page). The region holds offsets and integers only, never
 * a pointer: the header is at the base, so the base is the header's address.
 *
 *   0          struct hpool__shm: geometry (read-only after create), the
 *              next-fit hint, one free-list head per small class (own lines)
 *   meta_off   meta[npages]: one word per arena page, what the page holds
 *                0                  nothing starts here: a free page, or an
 *                                   inner page of a large run
 *                META_SMALL | c     a page of a run carved into class-c blocks
 *                META_LARGE | n     first page of a live large block of n pages
 *   live_off   live bits: one per 16-byte granule of the arena; set while a
 *              small block starting there is handed out
 *   used_off   used bits: one per arena page, set while the page belongs to
 *              a large block or to a small run, or was leaked; the bits past
 *              npages in the last word are set forever
 *   arena_off  the arena: npages pages
 *
 * Small blocks (1..2048 bytes): classes 16, 32, ..., 2048. A class is a
 * Treiber stack of free blocks; its head is one word {tag, granule index of
 * the top block from the base (0: empty)}: the low `off_bits` bits are the
 * index, the rest a tag bumped by every successful CAS so that a head seen
 * again after pops and pushes (ABA) no longer matches (the tag has 27 bits
 * at least, 39 for the default 256 MiB). A free block's first 8 bytes hold
 * the granule index of the next one. An empty class claims a run of
 * RUN_PAGES pages (1 page when that fails), labels its pages, chains its
 * blocks and pushes the chain with one CAS. Runs stay with their class for
 * good: their blocks are recycled, their pages are not given back (below).
 *
 * Large blocks (> 2048 bytes): whole pages, page-aligned. Alloc finds n
 * clear used bits (next fit from the hint), claims them word by word with
 * CAS (on a conflict it clears the words it set and searches on after the
 * conflict), then labels the first page META_LARGE | n. Free takes the
 * label away with one CAS (so of two frees only one wins), gives the pages
 * back to the system, then clears the used bits.
 *
 * Giving pages back: for MAP_SHARED | MAP_ANONYMOUS (shmem) MADV_DONTNEED
 * only unmaps the pages from this process: they stay in the shmem file
 * with their contents (checked on Linux 6.18 with a 64 MiB range: after
 * DONTNEED, mincore() still shows every page, Shmem in /proc/meminfo does
 * not drop and the old bytes read back; only RssShmem in /proc/self/status
 * drops, which misleads). MADV_REMOVE punches a hole in the shmem file:
 * mincore() shows no page and Shmem drops by the full 64 MiB. So free uses
 * MADV_REMOVE. Freed small blocks are reused by their class but not given
 * back: a run could only go back after taking its free blocks out of the
 * middle of the class stack, which a Treiber stack cannot do without a
 * lock. So the pages of small runs are bounded by the peak of small-block
 * use, per class.
 *
 * Memory ordering (C11). Who pairs with whom:
 *  (P) push: store next (relaxed) in the block(s), then CAS the class head
 *      with release. The freeing thread's last accesses to the block, and
 *      for a new run the page labels and the chain, come before it.
 *  (Q) pop: load-acquire the head, pairs with (P), so the top block's next
 *      is the one its pusher stored; CAS the head with acquire, pairs with
 *      (P) through the release sequence of the head (every later write of
 *      it is a CAS), so the new owner sees the block as its freer left it.
 *      The next read may race with the owner of a block that was popped
 *      meanwhile: it reads a stale word (the region is always mapped, and
 *      small runs are never unmapped or given back) and the CAS then fails
 *      on the tag. That read is load_next(), hidden from TSan.
 *  (C) claim pages: CAS each used word with acquire, pairs with (F), so
 *      the previous owner's accesses and the hole punched by its free come
 *      before the new owner's stores.
 *  (F) free pages: madvise(MADV_REMOVE), then clear the used bits with
 *      release (also the rollback of a failed claim, which wrote nothing).
 *  (L) label: store meta with release after the claim; readers (free,
 *      is_block) load it with acquire, pairing with it, so a label is seen
 *      only after the claim it describes. Large free takes the label with
 *      an acq_rel CAS: of two frees of one block, one wins.
 *  (B) live bits: fetch_or on alloc, fetch_and on free, both relaxed: they
 *      decide which one of two frees of a block may push it (coherence of
 *      the one word is enough); they publish no data. The hint is relaxed:
 *      a wrong hint only costs a longer search.
 *
 * A process that dies (SIGKILL) at any instruction in here. Nothing waits on
 * another process, so nothing can wedge; the arena stays consistent and at
 * most what that call was handling is lost (fault point in brackets):
 *  small alloc: before its pop CAS (POP_READ): nothing. After it, before
 *      the live bit (POPPED), or after it (MARKED): that one block.
 *  refill: after claiming the run, before labelling (RUN_CLAIMED), or while
 *      labelling and chaining (RUN_CARVED): the run (RUN_PAGES pages).
 *  small free: after clearing the live bit, before the push (UNMARKED):
 *      that block.
 *  large alloc: after claiming some words of the run (BITS_PARTIAL): those
 *      pages; after claiming all, before the label (CLAIMED): n pages.
 *  large free: after taking the label, before madvise (UNLABELLED): n pages;
 *      after madvise, before clearing the bits (RETURNED): n pages of address
 *      space only, their memory went back to the system.
 * Blocks that the dead process held and had not freed are lost too; no one
 * else can know they are unused.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE ((size_t)1 << PAGE_SHIFT)
#define GRAIN_SHIFT 4 /* 16-byte granules: the small alignment */
#define GRAINS_PER_PAGE (PAGE_SIZE >> GRAIN_SHIFT) /* 256 live bits */
#define NCLASS 8 /* 16 << 0 .. 16 << 7 = 2048 */
#define SMALL_MAX ((size_t)16 << (NCLASS - 1))
#define RUN_PAGES 16 /* 64 KiB: 4096 blocks of 16 bytes, 32 of 2048 */
#define SHM_MAGIC 0x6870736d61726e61ull /* "hpsmarna" */

#define META_SMALL ((uint64_t)1 << 63)
#define META_LARGE ((uint64_t)1 << 62)
#define META_ARG(m) ((m) & (META_LARGE - 1)) /* class or page count */

/* One free list per class, alone on its cache line. */
struct shm_class {
	_Atomic uint64_t head HPOOL__ALIGNED; /* {tag, granule index} */
};

/* At the region's first byte. Integers and offsets only. */
struct hpool__shm {
	/* read-only after hpool__shm_create */
	uint64_t magic;
	size_t map_size;   /* bytes of the whole mapping */
	size_t npages;     /* arena pages */
	size_t nwords;     /* words of used bits */
	size_t meta_off;   /* offsets from the base */
	size_t live_off;
	size_t used_off;
	size_t arena_off;
	unsigned off_bits; /* index bits of a class head */
	uint64_t off_mask;
	/* written by everyone */
	_Atomic size_t hint HPOOL__ALIGNED; /* next-fit start page (relaxed) */
	_Atomic uint64_t dropped; /* free lists dropped as wild (class_drop) */
	struct shm_class cls[NCLASS];
};


static inline char *base_of(const struct hpool__shm *shm)
{
	return (char *)shm;
}

static inline _Atomic uint64_t *meta_of(const struct hpool__shm *shm)
{
	return (_Atomic uint64_t *)(base_of(shm) + shm->meta_off);
}

static inline _Atomic uint64_t *live_of(const struct hpool__shm *shm)
{
	return (_Atomic uint64_t *)(base_of(shm) + shm->live_off);
}

static inline _Atomic uint64_t *used_of(const struct hpool__shm *shm)
{
	return (_Atomic uint64_t *)(base_of(shm) + shm->used_off);
}

static inline char *arena_of(const struct hpool__shm *shm)
{
	return base_of(shm) + shm->arena_off;
}

static inline size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) & ~(to - 1);
}

/* Bits [lo, hi) of a word, 0 <= lo < hi <= 64. */
static inline uint64_t bit_range(unsigned lo, unsigned hi)
{
	uint64_t m = hi - lo == 64 ? ~(uint64_t)0
				   : (((uint64_t)1 << (hi - lo)) - 1);
	return m << lo;
}

static inline unsigned class_of(size_t size)
{
	if (size <= 16)
		return 0;
	return (unsigned)(64 - __builtin_clzll((uint64_t)size - 1)) -
	       GRAIN_SHIFT;
}

static inline size_t class_size(unsigned c)
{
	return (size_t)16 << c;
}

/* Granule index from the base <-> address. Index 0 is the header: never a
 * block, so it stands for "none". */
static inline uint64_t grain_idx(const struct hpool__shm *shm, const void *p)
{
	return (uint64_t)((const char *)p - base_of(shm)) >> GRAIN_SHIFT;
}

static inline char *grain_ptr(const struct hpool__shm *shm, uint64_t idx)
{
	return base_of(shm) + (idx << GRAIN_SHIFT);
}

/* ---- pages: used bits ---------------------------------------------------- */

/* First page of n clear used bits in [from, npages), by a relaxed snapshot
 * (the claim decides), or SIZE_MAX. */
static size_t find_free(const struct hpool__shm *shm, size_t from, size_t n)
{
	_Atomic uint64_t *used = used_of(shm);
	size_t start = 0, run = 0;

	for (size_t wi = from / 64; wi < shm->nwords; wi++) {
		uint64_t w = atomic_load_explicit(&used[wi],
						  memory_order_relaxed);
		unsigned b = 0;

		if (wi == from / 64) /* pages before `from` count as used */
			w |= ((uint64_t)1 << (from % 64)) - 1;
		while (b < 64) {
			uint64_t rest = w >> b;

			if (rest & 1) {
				/* ~rest has bits above 63 - b set when b > 0 */
				uint64_t inv = ~rest;

				b += inv ? (unsigned)__builtin_ctzll(inv) : 64;
				run = 0;
			} else {
				unsigned z = 64 - b; /* rest == 0: all of it */

				if (rest)
					z = (unsigned)__builtin_ctzll(rest);
				if (!run)
					start = wi * 64 + b;
				run += z;
				b += z;
				if (run >= n)
					return start;
			}
		}
	}
	return SIZE_MAX;
}

/* Clear the used bits of pages [start, end) (F). */
static void pages_release(struct hpool__shm *shm, size_t start, size_t end)
{
	_Atomic uint64_t *used = used_of(shm);

	for (size_t wi = start / 64; wi * 64 < end; wi++) {
		size_t lo = start > wi * 64 ? start : wi * 64;
		size_t hi = end < wi * 64 + 64 ? end : wi * 64 + 64;
		uint64_t mask = bit_range(lo - wi * 64, hi - wi * 64);

		/* Release: the madvise and the owner's accesses come first;
		 * pairs with the acquire of the next claim (C). */
		atomic_fetch_and_explicit(&used[wi], ~mask,
					  memory_order_release);
	}
}

/* Claim pages [start, start + n) word by word. Return: true, or false with
 * no bit left set and *conflict = a page found used. */
static bool pages_claim(struct hpool__shm *shm, size_t start, size_t n,
			size_t *conflict)
{
	_Atomic uint64_t *used = used_of(shm);
	size_t end = start + n;

	for (size_t wi = start / 64; wi * 64 < end; wi++) {
		size_t lo = start > wi * 64 ? start : wi * 64;
		size_t hi = end < wi * 64 + 64 ? end : wi * 64 + 64;
		uint64_t mask = bit_range(lo - wi * 64, hi - wi * 64);
		uint64_t old = atomic_load_explicit(&used[wi],
						    memory_order_relaxed);

		do {
			if (old & mask) {
				*conflict = wi * 64 +
					    (size_t)__builtin_ctzll(old & mask);
				if (lo > start) /* undo the words we set */
					pages_release(shm, start, lo);
				return false;
			}
			/* Acquire on success (C): pairs with the release in
			 * pages_release() of the pages' previous owner. */
		} while (!atomic_compare_exchange_weak_explicit(
			&used[wi], &old, old | mask, memory_order_acquire,
			memory_order_relaxed));
		if (hi < end)
			HPOOL__FAULT(HPOOL__F_SHM_BITS_PARTIAL);
	}
	return true;
}

/* Claim n contiguous pages: next fit from the hint, then from page 0.
 * Return: the first page, or SIZE_MAX when no run of n pages is free. */
static size_t pages_alloc(struct hpool__shm *shm, size_t n)
{
	size_t hint = atomic_load_explicit(&shm->hint, memory_order_relaxed);

	if (n > shm->npages)
		return SIZE_MAX;
	if (hint >= shm->npages)
		hint = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t from = pass ? 0 : hint;

		/* `from` only moves forward, so each pass ends. */
		for (;;) {
			size_t s = find_free(shm, from, n), conflict;

			if (s == SIZE_MAX)
				break;
			if (pages_claim(shm, s, n, &conflict)) {
				atomic_store_explicit(&shm->hint, s + n,
						      memory_order_relaxed);
				return s;
			}
			from = conflict + 1;
		}
	}
	return SIZE_MAX;
}

/* ---- small blocks: class stacks ------------------------------------------ */

/* Read the next index stored in a free block. It may race with the owner
 * of a block popped since the head was read (see (Q) above): the value is
 * then stale and the pop's CAS fails. A plain volatile 8-byte aligned load
 * cannot tear; TSan is not shown this benign race. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
__attribute__((no_sanitize("thread")))
#endif
#endif
static uint64_t load_next(const char *block)
{
	return *(const volatile uint64_t *)block;
}

static inline void store_next(char *block, uint64_t idx)
{
	atomic_store_explicit((_Atomic uint64_t *)block, idx,
			      memory_order_relaxed);
}

static inline uint64_t head_next(const struct hpool__shm *shm, uint64_t h,
				 uint64_t idx)
{
	/* the tag lives above off_bits and wraps by itself */
	return ((h & ~shm->off_mask) + (shm->off_mask + 1)) | idx;
}

/* Push the chain first..last (linked through their next words) (P). */
static void class_push(struct hpool__shm *shm, unsigned c, char *first,
		       char *last)
{
	_Atomic uint64_t *head = &shm->cls[c].head;
	uint64_t h = atomic_load_explicit(head, memory_order_relaxed);
	uint64_t idx = grain_idx(shm, first);

	do {
		store_next(last, h & shm->off_mask);
		/* Release: the chain's next words and everything the freer
		 * did to the blocks come first; pairs with (Q). */
	} while (!atomic_compare_exchange_weak_explicit(
		head, &h, head_next(shm, h, idx), memory_order_release,
		memory_order_relaxed));
}

/* Could idx be a block of class c: in the arena, on a page of c's runs,
 * on a block boundary? (Runs start on pages and a class size divides the
 * page, so blocks are aligned to their size.) */
static bool block_plausible(const struct hpool__shm *shm, unsigned c,
			    uint64_t idx)
{
	uint64_t lo = grain_idx(shm, arena_of(shm));
	uint64_t g = idx - lo;

	if (idx < lo || g >= shm->npages * GRAINS_PER_PAGE ||
	    (g & ((class_size(c) >> GRAIN_SHIFT) - 1)))
		return false;
	return atomic_load_explicit(&meta_of(shm)[g / GRAINS_PER_PAGE],
				    memory_order_relaxed) == (META_SMALL | c);
}

/* A free list that leads to something that is not a free block of its
 * class: a task wrote over a free block's link (past its out item, or
 * after a free). The list is dropped from the head it was read at: its
 * blocks leak, but nothing follows the wild link and no process aborts.
 * Return: true when the drop (or someone else's change of the head)
 * happened and the caller reads the head again. */
static bool class_drop(struct hpool__shm *shm, unsigned c, uint64_t *h)
{
	_Atomic uint64_t *head = &shm->cls[c].head;

	if (atomic_compare_exchange_strong_explicit(
		    head, h, head_next(shm, *h, 0), memory_order_acq_rel,
		    memory_order_acquire))
		atomic_fetch_add_explicit(&shm->dropped, 1,
					  memory_order_relaxed);
	return true;
}

/* Pop a block of class c, or NULL when the class is empty (Q). */
static char *class_pop(struct hpool__shm *shm, unsigned c)
{
	_Atomic uint64_t *head = &shm->cls[c].head;
	/* Acquire: pairs with the release CAS of class_push (P). */
	uint64_t h = atomic_load_explicit(head, memory_order_acquire);

	for (;;) {
		uint64_t idx = h & shm->off_mask, nh;

		if (!idx)
			return NULL;
		/* Only a wild write can put such an index on a list. */
		if (!block_plausible(shm, c, idx)) {
			class_drop(shm, c, &h);
			h = atomic_load_explicit(head, memory_order_acquire);
			continue;
		}
		/* May be stale if idx was popped meanwhile: the tag in h
		 * then fails the CAS. */
		nh = head_next(shm, h, load_next(grain_ptr(shm, idx)));
		HPOOL__FAULT(HPOOL__F_SHM_POP_READ);
		/* Acquire on success: pairs with (P) through the head's
		 * release sequence; on failure: with the push that stored
		 * the new h, before its next word is read. */
		if (atomic_compare_exchange_weak_explicit(
			    head, &h, nh, memory_order_acquire,
			    memory_order_acquire)) {
			HPOOL__FAULT(HPOOL__F_SHM_POPPED);
			return grain_ptr(shm, idx);
		}
	}
}

/* Give class c a fresh run of pages. Return: 0, -ENOMEM. */
static int class_refill(struct hpool__shm *shm, unsigned c)
{
	_Atomic uint64_t *meta = meta_of(shm);
	size_t n = RUN_PAGES, pg = pages_alloc(shm, n);
	size_t bs = class_size(c);
	char *run, *end;

	if (pg == SIZE_MAX) {
		n = 1;
		pg = pages_alloc(shm, n);
		if (pg == SIZE_MAX)
			return -ENOMEM;
	}
	HPOOL__FAULT(HPOOL__F_SHM_RUN_CLAIMED);
	/* Labels before the push: a block's page says its class before
	 * anyone can get the block (release: (L), and the push (P)). */
	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&meta[pg + i], META_SMALL | c,
				      memory_order_release);
	run = arena_of(shm) + (pg << PAGE_SHIFT);
	end = run + (n << PAGE_SHIFT);
	for (char *b = run; b + bs < end; b += bs)
		store_next(b, grain_idx(shm, b + bs));
	HPOOL__FAULT(HPOOL__F_SHM_RUN_CARVED);
	class_push(shm, c, run, end - bs);
	return 0;
}

/* The live bit of the small block at p: its word and mask. */
static inline _Atomic uint64_t *live_bit(const struct hpool__shm *shm,
					 const void *p, uint64_t *mask)
{
	size_t g = (size_t)((const char *)p - arena_of(shm)) >> GRAIN_SHIFT;

	*mask = (uint64_t)1 << (g % 64);
	return &live_of(shm)[g / 64];
}

static void *small_alloc(struct hpool__shm *shm, size_t size)
{
	unsigned c = class_of(size);

	for (;;) {
		char *b = class_pop(shm, c);
		uint64_t mask;
		_Atomic uint64_t *w;

		if (!b) {
			/* Others may take the new run's blocks first; each
			 * refill uses pages, so this loop ends. */
			if (class_refill(shm, c))
				return NULL;
			continue;
		}
		w = live_bit(shm, b, &mask);
		/* Relaxed (B): the pop's acquire already orders the block. */
		if (atomic_fetch_or_explicit(w, mask, memory_order_relaxed) &
		    mask) {
			/* A live block on a free list: a wild link (see
			 * class_drop). Its owner keeps it; the list goes. */
			uint64_t h = atomic_load_explicit(
				&shm->cls[c].head, memory_order_acquire);

			class_drop(shm, c, &h);
			continue;
		}
		HPOOL__FAULT(HPOOL__F_SHM_MARKED);
		return b;
	}
}

static void *large_alloc(struct hpool__shm *shm, size_t size)
{
	size_t n = (size >> PAGE_SHIFT) + !!(size & (PAGE_SIZE - 1));
	size_t pg = pages_alloc(shm, n);

	if (pg == SIZE_MAX)
		return NULL;
	HPOOL__FAULT(HPOOL__F_SHM_CLAIMED);
	/* Release (L): readers that see the label see the claim. */
	atomic_store_explicit(&meta_of(shm)[pg], META_LARGE | n,
			      memory_order_release);
	return arena_of(shm) + (pg << PAGE_SHIFT);
}

/* ---- the calls ----------------------------------------------------------- */

static int shm_make(size_t size, struct hpool__shm **out, int *fdp);

int hpool__shm_create(size_t size, struct hpool__shm **out)
{
	return shm_make(size, out, NULL);
}

/* The fork server's variant: the same region, backed by a memfd (it has no
 * name in any file system; only a process given the descriptor can map
 * it), because a supervisor forked from the server cannot inherit an
 * anonymous mapping made after the server was forked. */
int hpool__shm_create_fd(size_t size, struct hpool__shm **out, int *fd)
{
	if (!fd)
		return -EINVAL;
	return shm_make(size, out, fd);
}

size_t hpool__shm_map_size(const struct hpool__shm *shm)
{
	return shm->map_size;
}

int hpool__shm_attach(int fd, void *addr, size_t len)
{
	void *base = mmap(addr, len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_FIXED_NOREPLACE | MAP_NORESERVE, fd,
			  0);

	if (base == MAP_FAILED)
		return -errno;
	if (base != addr) { /* kernels before 4.17 treat the flag as a hint */
		munmap(base, len);
		return -EEXIST;
	}
	return 0;
}

static int shm_make(size_t size, struct hpool__shm **out, int *fdp)
{
	struct hpool__shm *shm;
	size_t npages, meta_off, live_off, used_off, arena_off, map_size;
	size_t nwords;
	void *base;
	int fd = -1;

	if (!out || size == 0 || size > HPOOL__SHM_MAX)
		return -EINVAL;
	npages = round_up(size, PAGE_SIZE) >> PAGE_SHIFT;
	nwords = (npages + 63) / 64;
	meta_off = round_up(sizeof(struct hpool__shm), HPOOL__CACHELINE);
	live_off = round_up(meta_off + npages * sizeof(uint64_t),
			    HPOOL__CACHELINE);
	used_off = round_up(live_off + npages * (GRAINS_PER_PAGE / 8),
			    HPOOL__CACHELINE);
	arena_off = round_up(used_off + nwords * sizeof(uint64_t), PAGE_SIZE);
	map_size = arena_off + (npages << PAGE_SHIFT);

	if (fdp) {
		fd = memfd_create("hpool", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)map_size) < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
	}
	/* NORESERVE: the size is address space; pages count when touched. */
	base = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE | (fdp ? 0 : MAP_ANONYMOUS), fd,
		    0);
	if (base == MAP_FAILED) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	if (fdp)
		*fdp = fd;
	/* Plain stores: no other thread or process knows the region yet;
	 * whoever learns of it later does so through a barrier (fork,
	 * pthread_create or the caller's own publication). mmap zeroed the
	 * rest: every page free, every class empty. */
	shm = base;
	shm->magic = SHM_MAGIC;
	shm->map_size = map_size;
	shm->npages = npages;
	shm->nwords = nwords;
	shm->meta_off = meta_off;
	shm->live_off = live_off;
	shm->used_off = used_off;
	shm->arena_off = arena_off;
	shm->off_bits = 64 - (unsigned)__builtin_clzll(map_size >> GRAIN_SHIFT);
	shm->off_mask = ((uint64_t)1 << shm->off_bits) - 1;
	if (npages % 64) /* pages past the end: used forever */
		atomic_store_explicit(&used_of(shm)[nwords - 1],
				      ~(uint64_t)0 << (npages % 64),
				      memory_order_relaxed);
	*out = shm;
	return 0;
}

void hpool__shm_destroy(struct hpool__shm *shm)
{
	if (shm)
		munmap(shm, shm->map_size);
}

void *hpool__shm_alloc(struct hpool__shm *shm, size_t size)
{
	if (!shm || size == 0 || size > (shm->npages << PAGE_SHIFT))
		return NULL;
	HPOOL__ASSERT(shm->magic == SHM_MAGIC);
	return size <= SMALL_MAX ? small_alloc(shm, size)
				 : large_alloc(shm, size);
}

/* Free. Return: 0, or -EINVAL when p is not the start of a live block
 * (then nothing changed). */
int hpool__shm_release(struct hpool__shm *shm, void *p)
{
	_Atomic uint64_t *meta;
	size_t off, pg;
	uint64_t m;

	if (!shm || !p || (char *)p < arena_of(shm) ||
	    !hpool__shm_contains(shm, p, 1))
		return -EINVAL;
	meta = meta_of(shm);
	off = (size_t)((char *)p - arena_of(shm));
	pg = off >> PAGE_SHIFT;
	/* Acquire: pairs with the label's release store (L). */
	m = atomic_load_explicit(&meta[pg], memory_order_acquire);
	if (m & META_LARGE) {
		size_t n = META_ARG(m);

		if (off & (PAGE_SIZE - 1))
			return -EINVAL;
		/* One free wins the label; acq_rel: pairs with (L) and keeps
		 * the owner's accesses before the madvise below. */
		if (!atomic_compare_exchange_strong_explicit(
			    &meta[pg], &m, 0, memory_order_acq_rel,
			    memory_order_relaxed))
			return -EINVAL;
		HPOOL__FAULT(HPOOL__F_SHM_UNLABELLED);
		/* Punch the pages out of the shmem file (see the top). Still
		 * ours: no one claims them before the bits clear. A failure
		 * only keeps the memory; the pages are reused all the same. */
		(void)madvise(p, n << PAGE_SHIFT, MADV_REMOVE);
		HPOOL__FAULT(HPOOL__F_SHM_RETURNED);
		pages_release(shm, pg, pg + n);
		return 0;
	}
	if (m & META_SMALL) {
		unsigned c = (unsigned)META_ARG(m);
		uint64_t mask;
		_Atomic uint64_t *w;

		if (c >= NCLASS) /* a wild write into the labels */
			return -EINVAL;
		if (off & (class_size(c) - 1))
			return -EINVAL;
		w = live_bit(shm, p, &mask);
		/* Relaxed (B): only the free that clears the bit pushes. */
		if (!(atomic_fetch_and_explicit(w, ~mask,
						memory_order_relaxed) &
		      mask))
			return -EINVAL;
		HPOOL__FAULT(HPOOL__F_SHM_UNMARKED);
		class_push(shm, c, p, p);
		return 0;
	}
	return -EINVAL;
}

void hpool__shm_free(struct hpool__shm *shm, void *p)
{
	(void)hpool__shm_release(shm, p);
}

bool hpool__shm_contains(const struct hpool__shm *shm, const void *p,
			 size_t len)
{
	uintptr_t b, q = (uintptr_t)p;

	if (!shm)
		return false;
	b = (uintptr_t)shm;
	return q >= b && q - b < shm->map_size &&
	       len <= shm->map_size - (q - b);
}

bool hpool__shm_is_block(const struct hpool__shm *shm, const void *p)
{
	size_t off, pg;
	uint64_t m, mask;

	if (!shm || !p || (const char *)p < arena_of(shm) ||
	    !hpool__shm_contains(shm, p, 1))
		return false;
	off = (size_t)((const char *)p - arena_of(shm));
	pg = off >> PAGE_SHIFT;
	/* Acquire: pairs with the label's release store (L). */
	m = atomic_load_explicit(&meta_of(shm)[pg], memory_order_acquire);
	if (m & META_LARGE)
		return !(off & (PAGE_SIZE - 1));
	if (!(m & META_SMALL) || META_ARG(m) >= NCLASS ||
	    (off & (class_size((unsigned)META_ARG(m)) - 1)))
		return false;
	/* Relaxed (B): a snapshot. */
	return atomic_load_explicit(live_bit(shm, p, &mask),
				    memory_order_relaxed) &
	       mask;
}

uint64_t hpool__shm_dropped(const struct hpool__shm *shm)
{
	return atomic_load_explicit(&((struct hpool__shm *)shm)->dropped,
				    memory_order_relaxed);
}
