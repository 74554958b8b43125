/* test_ring.c: SPSC ring and waiter behaviour, single- and two-threaded. */
#include "bourse/ring.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void test_init_rejects_bad_shapes(void) {
  ring r;
  CHECK_EQ_INT(ring_init(&r, 0, 64), -1);
  CHECK_EQ_INT(errno, EINVAL);
  CHECK_EQ_INT(ring_init(&r, 1, 64), -1);
  CHECK_EQ_INT(ring_init(&r, 12, 64), -1);
  CHECK_EQ_INT(ring_init(&r, 16, 12), -1);
  CHECK_EQ_INT(ring_init(&r, 16, 0), -1);
  CHECK_EQ_INT(ring_init(&r, 16, (1u << 20) + 8), -1);
  CHECK_EQ_INT(ring_init(&r, 16, 64), 0);
  CHECK_EQ_INT((uintptr_t)r.slots % RING_CACHE_LINE, 0);
  ring_destroy(&r);
}

static void test_indices_on_separate_lines(void) {
  CHECK(offsetof(ring, head) - offsetof(ring, tail) >= RING_CACHE_LINE);
  CHECK(offsetof(ring, slots) - offsetof(ring, head) >= RING_CACHE_LINE);
  CHECK_EQ_INT(offsetof(ring, tail) % RING_CACHE_LINE, 0);
  CHECK_EQ_INT(offsetof(ring, head) % RING_CACHE_LINE, 0);
}

static void test_push_pop_fifo_and_full(void) {
  ring r;
  CHECK_EQ_INT(ring_init(&r, 8, 16), 0);
  uint64_t msg[2], out[2];
  CHECK(ring_empty(&r));
  CHECK(!ring_pop(&r, out));
  for (uint64_t i = 0; i < 8; i++) {
    msg[0] = i;
    msg[1] = ~i;
    CHECK(ring_push(&r, msg, sizeof(msg)));
  }
  CHECK(!ring_push(&r, msg, sizeof(msg)));
  CHECK(!ring_push(&r, msg, 24)); /* longer than a slot */
  for (uint64_t i = 0; i < 8; i++) {
    CHECK(ring_pop(&r, out));
    CHECK_EQ_INT(out[0], i);
    CHECK(out[1] == ~i);
  }
  CHECK(!ring_pop(&r, out));
  CHECK(ring_empty(&r));
  ring_destroy(&r);
}

static void test_batches_wrap_around(void) {
  ring r;
  CHECK_EQ_INT(ring_init(&r, 16, 8), 0);
  uint64_t next_write = 0, next_read = 0;
  /* Batches of 5 over a 16-slot ring wrap many times at odd offsets. */
  for (int round = 0; round < 100; round++) {
    uint32_t n = ring_reserve(&r, 5);
    CHECK_EQ_INT(n, 5);
    for (uint32_t i = 0; i < n; i++) *(uint64_t *)ring_write_slot(&r, i) = next_write++;
    ring_commit(&r, n);
    uint32_t got = ring_peek(&r, 3);
    CHECK_EQ_INT(got, 3);
    for (uint32_t i = 0; i < got; i++)
      CHECK_EQ_INT(*(const uint64_t *)ring_read_slot(&r, i), next_read + i);
    ring_release(&r, got);
    next_read += got;
    got = ring_peek(&r, 100);
    CHECK_EQ_INT(got, 2);
    for (uint32_t i = 0; i < got; i++)
      CHECK_EQ_INT(*(const uint64_t *)ring_read_slot(&r, i), next_read + i);
    ring_release(&r, got);
    next_read += got;
  }
  CHECK_EQ_INT(next_read, 500);
  ring_destroy(&r);
}

static void test_reserve_partial_when_nearly_full(void) {
  ring r;
  CHECK_EQ_INT(ring_init(&r, 8, 8), 0);
  CHECK_EQ_INT(ring_reserve(&r, 6), 6);
  ring_commit(&r, 6);
  CHECK_EQ_INT(ring_reserve(&r, 6), 2); /* only two free */
  ring_commit(&r, 1);                   /* commit fewer than reserved */
  CHECK_EQ_INT(ring_peek(&r, 100), 7);
  ring_release(&r, 4);
  CHECK_EQ_INT(ring_reserve(&r, 8), 5); /* sees the consumer's release */
  ring_destroy(&r);
}

struct waiter_case {
  ring r;
  ring_waiter w;
  int received;
};

static void *waiter_consumer(void *arg) {
  struct waiter_case *c = arg;
  uint64_t v;
  while (c->received < 1000) {
    if (ring_pop(&c->r, &v)) {
      CHECK_EQ_INT(v, (uint64_t)c->received);
      c->received++;
      continue;
    }
    uint32_t key = ring_waiter_prepare(&c->w);
    if (!ring_empty(&c->r)) {
      ring_waiter_cancel(&c->w);
      continue;
    }
    ring_waiter_wait(&c->w, key, 5000);
  }
  return NULL;
}

static void test_waiter_futex_wakes_sleeping_consumer(void) {
  struct waiter_case c = {.received = 0};
  CHECK_EQ_INT(ring_init(&c.r, 4, 8), 0);
  ring_waiter_init(&c.w, -1);
  pthread_t t;
  pthread_create(&t, NULL, waiter_consumer, &c);
  for (uint64_t i = 0; i < 1000; i++) {
    while (!ring_push(&c.r, &i, sizeof(i))) {
    }
    ring_waiter_notify(&c.w);
    if (i % 100 == 0) usleep(1000); /* let the consumer fall asleep */
  }
  pthread_join(t, NULL);
  CHECK_EQ_INT(c.received, 1000);
  CHECK_EQ_INT(atomic_load(&c.w.sleepers), 0);
  ring_destroy(&c.r);
}

static void test_waiter_timeout_and_eventfd(void) {
  ring_waiter w;
  ring_waiter_init(&w, -1);
  uint32_t key = ring_waiter_prepare(&w);
  ring_waiter_wait(&w, key, 10); /* nobody notifies: returns on timeout */
  CHECK_EQ_INT(atomic_load(&w.sleepers), 0);

  int fd = eventfd(0, EFD_NONBLOCK);
  CHECK(fd >= 0);
  ring_waiter_init(&w, fd);
  uint64_t count = 0;
  ring_waiter_notify(&w); /* no sleeper: no write */
  CHECK_EQ_INT(read(fd, &count, sizeof(count)), -1);
  key = ring_waiter_prepare(&w);
  ring_waiter_notify(&w);
  CHECK_EQ_INT(read(fd, &count, sizeof(count)), (long long)sizeof(count));
  CHECK_EQ_INT(count, 1);
  CHECK(atomic_load(&w.epoch) != key);
  ring_waiter_cancel(&w);
  CHECK_EQ_INT(atomic_load(&w.sleepers), 0);
  close(fd);
}

int main(void) {
  test_init_rejects_bad_shapes();
  test_indices_on_separate_lines();
  test_push_pop_fifo_and_full();
  test_batches_wrap_around();
  test_reserve_partial_when_nearly_full();
  test_waiter_futex_wakes_sleeping_consumer();
  test_waiter_timeout_and_eventfd();
  return check_report("ring");
}
