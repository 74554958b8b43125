/*
 * test_engine_thread.c: the engine loop drains several input rings in order,
 * sleeps when they are empty, wakes on notify, and handles everything
 * committed before stop.
 */
#include "bourse/engine_thread.h"
#include "check.h"

#include <unistd.h>

#define INPUTS    3
#define PER_INPUT 300000

struct sink {
  uint64_t next[INPUTS]; /* next sequence number expected per input */
  uint64_t errors;
  uint64_t flushes;
};

static void handle(void *ctx, unsigned input, ring *in, uint32_t count) {
  struct sink *s = ctx;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t v = *(const uint64_t *)ring_read_slot(in, i);
    if (v != s->next[input]) s->errors++;
    s->next[input] = v + 1;
  }
}

static void flush(void *ctx) {
  ((struct sink *)ctx)->flushes++;
}

struct producer {
  ring *r;
  engine_thread *e;
  bool pause;
};

static void produce(void *arg) {
  struct producer *p = arg;
  for (uint64_t v = 0; v < PER_INPUT;) {
    uint32_t n = ring_reserve(p->r, 32);
    for (uint32_t i = 0; i < n; i++) *(uint64_t *)ring_write_slot(p->r, i) = v + i;
    ring_commit(p->r, n);
    ring_waiter_notify(&p->e->waiter);
    v += n;
    if (p->pause && v % 50000 < 32) usleep(2000); /* let the engine fall asleep */
  }
}

int main(void) {
  struct sink sink = {{0}, 0, 0};
  engine_thread e;
  ring rings[INPUTS];
  engine_thread_init(&e, 0, 0, handle, flush, &sink);
  for (int i = 0; i < INPUTS; i++) {
    CHECK_EQ_INT(ring_init(&rings[i], 1024, 8), 0);
    CHECK_EQ_INT(engine_thread_add_input(&e, &rings[i]), 0);
  }
  CHECK_EQ_INT(engine_thread_start(&e, -1), 0);

  struct producer producers[INPUTS];
  thread_handle threads[INPUTS];
  for (int i = 0; i < INPUTS; i++) {
    producers[i] = (struct producer){.r = &rings[i], .e = &e, .pause = i == 0};
    CHECK_EQ_INT(thread_start(&threads[i], "producer", -1, produce, &producers[i]), 0);
  }
  for (int i = 0; i < INPUTS; i++) thread_join(&threads[i]);
  engine_thread_stop(&e);

  for (int i = 0; i < INPUTS; i++) CHECK_EQ_INT(sink.next[i], PER_INPUT);
  CHECK_EQ_INT(sink.errors, 0);
  CHECK_EQ_INT(atomic_load(&e.commands), (uint64_t)INPUTS * PER_INPUT);
  CHECK(sink.flushes > 0);
  CHECK(atomic_load(&e.sleeps) > 0);
  printf("engine loop: %llu passes, %llu sleeps, %llu flushes\n",
         (unsigned long long)atomic_load(&e.loops), (unsigned long long)atomic_load(&e.sleeps),
         (unsigned long long)sink.flushes);

  /* An idle engine stops promptly: stop wakes the sleeper. */
  engine_thread idle;
  engine_thread_init(&idle, 1, 50, handle, NULL, &sink);
  CHECK_EQ_INT(engine_thread_add_input(&idle, &rings[0]), 0);
  CHECK_EQ_INT(engine_thread_start(&idle, -1), 0);
  usleep(20000);
  engine_thread_stop(&idle);
  CHECK(atomic_load(&idle.sleeps) >= 1);

  for (int i = 0; i < INPUTS; i++) ring_destroy(&rings[i]);
  return check_report("engine_thread");
}
