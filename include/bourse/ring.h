/*
 * ring.h: single-producer single-consumer rings of fixed-size slots, and the
 * waiter a consumer sleeps on when all of its rings are empty.
 *
 * Every pair of threads that talks has its own ring (io -> engine, engine ->
 * io, engine -> broadcast, ...). Exactly one thread produces and exactly one
 * consumes; no locks. Indices are free-running uint64 counters, published with
 * C11 release stores and read with acquire loads; the producer's and the
 * consumer's indices sit on separate cache lines, and each side caches the
 * other's index so the shared line is read only when the cached value says the
 * ring is full (producer) or empty (consumer).
 *
 * Batching: the producer reserves up to N slots, fills them in place and
 * publishes them with one commit; the consumer peeks up to N filled slots,
 * reads them in place and releases them with one store.
 *
 *   producer                         consumer
 *   n = ring_reserve(r, 16);         n = ring_peek(r, 256);
 *   for i < n: fill ring_write_slot  for i < n: read ring_read_slot(r, i)
 *   ring_commit(r, n);               ring_release(r, n);
 *   ring_waiter_notify(w);
 *
 * Sleeping: a consumer with several input rings shares one ring_waiter among
 * them. It spins for a while (optional), then ring_waiter_prepare, rechecks
 * its rings, and ring_waiter_wait if they are still empty. Producers call
 * ring_waiter_notify after committing; it costs one fence and one load unless
 * the consumer is asleep, and only then a futex wake or an eventfd write (for
 * consumers that sleep inside io_uring). No wake-up is ever lost.
 */
#ifndef BOURSE_RING_H
#define BOURSE_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_CACHE_LINE 64

typedef struct ring {
  /* Producer's line: written only by the producer thread. */
  alignas(RING_CACHE_LINE) _Atomic uint64_t tail; /* published: slots [0, tail) written */
  uint64_t producer_tail;                         /* producer's own copy of tail */
  uint64_t producer_head_cache;                   /* last head the producer saw */
  /* Consumer's line: written only by the consumer thread. */
  alignas(RING_CACHE_LINE) _Atomic uint64_t head; /* published: slots [0, head) consumed */
  uint64_t consumer_head;                         /* consumer's own copy of head */
  uint64_t consumer_tail_cache;                   /* last tail the consumer saw */
  /* Read-only after ring_init. */
  alignas(RING_CACHE_LINE) uint8_t *slots;
  uint64_t mask;      /* slot_count - 1 */
  uint32_t slot_size; /* bytes, a multiple of 8 */
  uint32_t slot_count;
} ring;

/*
 * Allocates slot_count slots of slot_size bytes (slot_count a power of two
 * >= 2; slot_size a multiple of 8, at most 1 MiB) on cache-line-aligned
 * memory. Returns 0, or -1 with errno EINVAL or ENOMEM. Not on the hot path.
 */
int ring_init(ring *r, uint32_t slot_count, uint32_t slot_size);

/* Frees the slots. Neither thread may use the ring afterwards. */
void ring_destroy(ring *r);

/* Producer: reserves up to `want` free slots; returns how many (0 = full). */
static inline uint32_t ring_reserve(ring *r, uint32_t want) {
  uint64_t free_slots = r->slot_count - (r->producer_tail - r->producer_head_cache);
  if (free_slots < want) {
    r->producer_head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
    free_slots = r->slot_count - (r->producer_tail - r->producer_head_cache);
  }
  return free_slots < want ? (uint32_t)free_slots : want;
}

/* Producer: slot i (0-based) of the reserved batch. */
static inline void *ring_write_slot(ring *r, uint32_t i) {
  return r->slots + ((r->producer_tail + i) & r->mask) * r->slot_size;
}

/* Producer: publishes the first n reserved slots (n <= what was reserved). */
static inline void ring_commit(ring *r, uint32_t n) {
  r->producer_tail += n;
  atomic_store_explicit(&r->tail, r->producer_tail, memory_order_release);
}

/* Consumer: how many filled slots can be read, at most `max` (0 = empty). */
static inline uint32_t ring_peek(ring *r, uint32_t max) {
  uint64_t filled = r->consumer_tail_cache - r->consumer_head;
  if (filled < max) {
    r->consumer_tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
    filled = r->consumer_tail_cache - r->consumer_head;
  }
  return filled < max ? (uint32_t)filled : max;
}

/* Consumer: filled slot i (0-based) of what ring_peek returned. */
static inline const void *ring_read_slot(const ring *r, uint32_t i) {
  return r->slots + ((r->consumer_head + i) & r->mask) * r->slot_size;
}

/* Consumer: gives the first n peeked slots back to the producer. */
static inline void ring_release(ring *r, uint32_t n) {
  r->consumer_head += n;
  atomic_store_explicit(&r->head, r->consumer_head, memory_order_release);
}

/* Either side: true when nothing is published and unread (a snapshot). */
bool ring_empty(ring *r);

/* Producer: copies one message of len <= slot_size bytes; false if full. */
bool ring_push(ring *r, const void *msg, uint32_t len);

/* Consumer: copies one slot (slot_size bytes) into out; false if empty. */
bool ring_pop(ring *r, void *out);

/*
 * The consumer-side sleep/wake object shared by the rings one thread reads.
 * Wakes through a futex on `epoch`, or, when eventfd >= 0, by writing 1 to
 * that eventfd (an io thread keeps a read on it in its io_uring).
 */
typedef struct ring_waiter {
  alignas(RING_CACHE_LINE) _Atomic uint32_t epoch;
  _Atomic uint32_t sleepers;
  int eventfd;
} ring_waiter;

/* Futex mode when eventfd < 0. Never fails. */
void ring_waiter_init(ring_waiter *w, int eventfd);

/*
 * Consumer: announces the intent to sleep; returns the key for
 * ring_waiter_wait or ring_waiter_cancel. Recheck every input ring after this
 * call: anything committed before it is visible then.
 */
uint32_t ring_waiter_prepare(ring_waiter *w);

/*
 * Consumer: undoes prepare, when the rings were not empty after all, or in
 * eventfd mode after the eventfd read completed (the wait happened in
 * io_uring).
 */
void ring_waiter_cancel(ring_waiter *w);

/*
 * Consumer (futex mode): sleeps until a notify after prepare, a signal, or
 * timeout_ms (< 0: no timeout). Returns at once if a notify came since
 * prepare. Undoes prepare before returning.
 */
void ring_waiter_wait(ring_waiter *w, uint32_t key, int timeout_ms);

/*
 * Producer: wakes the consumer if it is (about to be) asleep. Call after
 * ring_commit; one notify may cover several commits.
 */
void ring_waiter_notify(ring_waiter *w);

#endif
