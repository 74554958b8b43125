/*
 * engine_thread.c: the engine thread's loop (see engine_thread.h).
 * Runs on an engine thread; start/stop run on main.
 *
 * The hot path starts at engine_thread_pass: a batch read from each input in
 * turn, no allocation, no lock, no system call.
 */
#include "bourse/engine_thread.h"

#include "bourse/clock.h"
#include "bourse/log.h"

#include <stdio.h>
#include <string.h>

void engine_thread_init(engine_thread *e, unsigned index, unsigned spin_us,
                        engine_thread_handler handle, engine_thread_flush flush, void *ctx) {
  memset(e, 0, sizeof(*e));
  e->index = index;
  e->spin_us = spin_us;
  e->handle = handle;
  e->flush = flush;
  e->ctx = ctx;
  ring_waiter_init(&e->waiter, -1);
  atomic_init(&e->stop, false);
  atomic_init(&e->loops, 0);
  atomic_init(&e->commands, 0);
  atomic_init(&e->sleeps, 0);
}

int engine_thread_add_input(engine_thread *e, ring *in) {
  if (e->input_count >= ENGINE_THREAD_MAX_INPUTS) return -1;
  e->inputs[e->input_count++] = in;
  return 0;
}

/* One pass over every input; returns the number of commands handled. */
static uint32_t engine_thread_pass(engine_thread *e) {
  uint32_t handled = 0;
  for (unsigned i = 0; i < e->input_count; i++) {
    ring *in = e->inputs[i];
    uint32_t n = ring_peek(in, ENGINE_THREAD_BATCH);
    if (n == 0) continue;
    e->handle(e->ctx, i, in, n);
    ring_release(in, n);
    handled += n;
  }
  return handled;
}

static bool engine_thread_inputs_empty(engine_thread *e) {
  for (unsigned i = 0; i < e->input_count; i++)
    if (ring_peek(e->inputs[i], 1) != 0) return false;
  return true;
}

static void engine_thread_idle(engine_thread *e) {
  if (e->spin_us > 0) {
    uint64_t until = clock_mono_ns() + (uint64_t)e->spin_us * 1000;
    while (clock_mono_ns() < until)
      if (!engine_thread_inputs_empty(e) || atomic_load_explicit(&e->stop, memory_order_relaxed))
        return;
  }
  uint32_t key = ring_waiter_prepare(&e->waiter);
  if (!engine_thread_inputs_empty(e) || atomic_load(&e->stop)) {
    ring_waiter_cancel(&e->waiter);
    return;
  }
  atomic_fetch_add_explicit(&e->sleeps, 1, memory_order_relaxed);
  ring_waiter_wait(&e->waiter, key, -1);
}

static void engine_thread_main(void *arg) {
  engine_thread *e = arg;
  log_info("engine %u running: %u input ring(s), spin %u us", e->index, e->input_count, e->spin_us);
  while (!atomic_load_explicit(&e->stop, memory_order_acquire)) {
    uint32_t handled = engine_thread_pass(e);
    atomic_fetch_add_explicit(&e->loops, 1, memory_order_relaxed);
    if (handled > 0) {
      atomic_fetch_add_explicit(&e->commands, handled, memory_order_relaxed);
      if (e->flush) e->flush(e->ctx);
      continue;
    }
    engine_thread_idle(e);
  }
  /* Finish what producers committed before stop: nothing accepted is dropped. */
  uint32_t handled;
  while ((handled = engine_thread_pass(e)) > 0) {
    atomic_fetch_add_explicit(&e->commands, handled, memory_order_relaxed);
    if (e->flush) e->flush(e->ctx);
  }
  log_info("engine %u stopped after %llu commands", e->index,
           (unsigned long long)atomic_load(&e->commands));
}

int engine_thread_start(engine_thread *e, int cpu) {
  char name[24];
  snprintf(name, sizeof(name), "engine-%u", e->index);
  return thread_start(&e->thread, name, cpu, engine_thread_main, e);
}

void engine_thread_stop(engine_thread *e) {
  atomic_store_explicit(&e->stop, true, memory_order_release);
  ring_waiter_notify(&e->waiter);
  thread_join(&e->thread);
}
