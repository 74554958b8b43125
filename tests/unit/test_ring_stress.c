/*
 * test_ring_stress.c: two threads move tens of millions of 64-byte messages
 * through one ring in random batch sizes, the consumer sleeping on the waiter
 * whenever the ring runs dry. Every message's order and content is checked.
 * Meant for the TSan build, where any missing acquire/release shows up as a
 * data race on the slot contents; it runs in every build.
 */
#include "bourse/ring.h"
#include "check.h"

#include <pthread.h>

struct message {
  uint64_t seq;
  uint64_t words[7];
};

struct stress {
  ring r;
  ring_waiter w;
  uint64_t count;
  uint64_t errors;
  uint64_t sleeps;
};

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

static uint64_t next_random(uint64_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

static void *producer(void *arg) {
  struct stress *s = arg;
  uint64_t rnd = 0x9e3779b97f4a7c15ull, seq = 0;
  while (seq < s->count) {
    uint32_t want = (uint32_t)(next_random(&rnd) % 64) + 1;
    if (want > s->count - seq) want = (uint32_t)(s->count - seq);
    uint32_t n = ring_reserve(&s->r, want);
    for (uint32_t i = 0; i < n; i++) {
      struct message *m = ring_write_slot(&s->r, i);
      m->seq = seq + i;
      for (int k = 0; k < 7; k++) m->words[k] = mix(seq + i + (uint64_t)k);
    }
    ring_commit(&s->r, n);
    ring_waiter_notify(&s->w);
    seq += n;
  }
  return NULL;
}

static void *consumer(void *arg) {
  struct stress *s = arg;
  uint64_t rnd = 0x2545f4914f6cdd1dull, seq = 0;
  while (seq < s->count) {
    uint32_t n = ring_peek(&s->r, (uint32_t)(next_random(&rnd) % 300) + 1);
    if (n == 0) {
      uint32_t key = ring_waiter_prepare(&s->w);
      if (ring_peek(&s->r, 1) != 0) {
        ring_waiter_cancel(&s->w);
        continue;
      }
      s->sleeps++;
      ring_waiter_wait(&s->w, key, 1000);
      continue;
    }
    for (uint32_t i = 0; i < n; i++) {
      const struct message *m = ring_read_slot(&s->r, i);
      if (m->seq != seq + i) s->errors++;
      for (int k = 0; k < 7; k++)
        if (m->words[k] != mix(seq + i + (uint64_t)k)) s->errors++;
    }
    ring_release(&s->r, n);
    seq += n;
  }
  return NULL;
}

int main(void) {
  const char *type = getenv("BOURSE_BUILD_TYPE");
  struct stress s = {.count = 50000000, .errors = 0, .sleeps = 0};
  if (type &&
      (strcmp(type, "Asan") == 0 || strcmp(type, "Tsan") == 0 || strcmp(type, "Debug") == 0))
    s.count = 20000000;
  if (getenv("BOURSE_STRESS_MESSAGES")) s.count = strtoull(getenv("BOURSE_STRESS_MESSAGES"), 0, 10);
  CHECK_EQ_INT(ring_init(&s.r, 1024, sizeof(struct message)), 0);
  ring_waiter_init(&s.w, -1);
  pthread_t p, c;
  pthread_create(&c, NULL, consumer, &s);
  pthread_create(&p, NULL, producer, &s);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  printf("moved %llu messages, consumer slept %llu times\n", (unsigned long long)s.count,
         (unsigned long long)s.sleeps);
  CHECK_EQ_INT(s.errors, 0);
  CHECK(ring_empty(&s.r));
  CHECK_EQ_INT(atomic_load(&s.r.tail), s.count);
  ring_destroy(&s.r);
  return check_report("ring_stress");
}
