/*
 * ring.c: SPSC ring set-up and the futex/eventfd waiter (see ring.h).
 *
 * Hand-written because no Debian-packaged library offers a single-producer
 * single-consumer ring with batch reserve/commit over in-place fixed slots
 * together with a sleep primitive that composes with io_uring (liblfds and
 * concurrencykit are not packaged for this use with an eventfd wake).
 *
 * Thread-safe in the SPSC sense: one producer thread, one consumer thread.
 */
#include "bourse/ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int ring_init(ring *r, uint32_t slot_count, uint32_t slot_size) {
  memset(r, 0, sizeof(*r));
  if (slot_count < 2 || (slot_count & (slot_count - 1)) != 0 || slot_size == 0 ||
      slot_size % 8 != 0 || slot_size > (1u << 20)) {
    errno = EINVAL;
    return -1;
  }
  size_t bytes = (size_t)slot_count * slot_size;
  bytes = (bytes + RING_CACHE_LINE - 1) & ~(size_t)(RING_CACHE_LINE - 1);
  r->slots = aligned_alloc(RING_CACHE_LINE, bytes);
  if (r->slots == NULL) {
    errno = ENOMEM;
    return -1;
  }
  memset(r->slots, 0, bytes);
  r->slot_count = slot_count;
  r->slot_size = slot_size;
  r->mask = slot_count - 1;
  atomic_init(&r->tail, 0);
  atomic_init(&r->head, 0);
  return 0;
}

void ring_destroy(ring *r) {
  free(r->slots);
  r->slots = NULL;
}

bool ring_empty(ring *r) {
  uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  return atomic_load_explicit(&r->tail, memory_order_acquire) == head;
}

bool ring_push(ring *r, const void *msg, uint32_t len) {
  if (len > r->slot_size || ring_reserve(r, 1) == 0) return false;
  memcpy(ring_write_slot(r, 0), msg, len);
  ring_commit(r, 1);
  return true;
}

bool ring_pop(ring *r, void *out) {
  if (ring_peek(r, 1) == 0) return false;
  memcpy(out, ring_read_slot(r, 0), r->slot_size);
  ring_release(r, 1);
  return true;
}

void ring_waiter_init(ring_waiter *w, int eventfd) {
  atomic_init(&w->epoch, 0);
  atomic_init(&w->sleepers, 0);
  w->eventfd = eventfd;
}

/*
 * The waiter is an eventcount. The consumer increments `sleepers` (seq_cst)
 * before it rechecks its rings; a producer stores its tail (release), issues
 * a seq_cst fence, then reads `sleepers`. Either the producer sees the
 * sleeper and bumps `epoch` + wakes, or the consumer's recheck sees the
 * producer's tail. The futex wait compares `epoch` with the key read at
 * prepare, so a bump between recheck and sleep makes the wait return at once.
 */
uint32_t ring_waiter_prepare(ring_waiter *w) {
  atomic_fetch_add_explicit(&w->sleepers, 1, memory_order_seq_cst);
  /* Orders the increment before the caller's recheck of its rings. */
  atomic_thread_fence(memory_order_seq_cst);
  return atomic_load_explicit(&w->epoch, memory_order_seq_cst);
}

void ring_waiter_cancel(ring_waiter *w) {
  atomic_fetch_sub_explicit(&w->sleepers, 1, memory_order_relaxed);
}

void ring_waiter_wait(ring_waiter *w, uint32_t key, int timeout_ms) {
  struct timespec timeout, *timeout_ptr = NULL;
  if (timeout_ms >= 0) {
    timeout.tv_sec = timeout_ms / 1000;
    timeout.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    timeout_ptr = &timeout;
  }
  if (atomic_load_explicit(&w->epoch, memory_order_acquire) == key)
    syscall(SYS_futex, &w->epoch, FUTEX_WAIT_PRIVATE, key, timeout_ptr, NULL, 0);
  atomic_fetch_sub_explicit(&w->sleepers, 1, memory_order_relaxed);
}

void ring_waiter_notify(ring_waiter *w) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&w->sleepers, memory_order_relaxed) == 0) return;
  atomic_fetch_add_explicit(&w->epoch, 1, memory_order_seq_cst);
  if (w->eventfd >= 0) {
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the reader will wake. */
    ssize_t written = write(w->eventfd, &one, sizeof(one));
    (void)written;
  } else {
    syscall(SYS_futex, &w->epoch, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
  }
}
