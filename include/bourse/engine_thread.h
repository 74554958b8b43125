/*
 * engine_thread.h: the loop an engine thread runs.
 *
 * An engine thread owns a set of input rings (one per io thread, later one per
 * peer engine), drains them in batches, hands every command to its handler,
 * and when all inputs are empty spins for `spin_us` and then sleeps on its
 * ring_waiter until a producer notifies it or `engine_thread_stop` is called.
 * It never blocks on anything but its own input.
 *
 * The struct is shared between the thread that starts/stops it (main) and the
 * engine thread itself; `stop` and `loops` are atomics, everything else is
 * set before start and read-only afterwards.
 */
#ifndef BOURSE_ENGINE_THREAD_H
#define BOURSE_ENGINE_THREAD_H

#include "bourse/ring.h"
#include "bourse/thread.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define ENGINE_THREAD_MAX_INPUTS 64
#define ENGINE_THREAD_BATCH      256

/*
 * Called on the engine thread for each batch of commands read from one input
 * ring: `slots` consecutive calls of ring_read_slot(input, 0..count-1).
 * After it returns, the slots are released to the producer.
 */
typedef void (*engine_thread_handler)(void *ctx, unsigned input, ring *in, uint32_t count);

/* Called on the engine thread after each pass over the inputs that did work
 * (the place to commit a transaction and publish replies). May be NULL. */
typedef void (*engine_thread_flush)(void *ctx);

typedef struct engine_thread {
  unsigned index;
  unsigned spin_us;
  ring *inputs[ENGINE_THREAD_MAX_INPUTS];
  unsigned input_count;
  engine_thread_handler handle;
  engine_thread_flush flush;
  void *ctx;
  ring_waiter waiter; /* producers of every input notify this */
  _Atomic bool stop;
  _Atomic uint64_t loops;    /* passes over the inputs */
  _Atomic uint64_t commands; /* commands handled */
  _Atomic uint64_t sleeps;   /* times the thread went to sleep */
  thread_handle thread;
} engine_thread;

/*
 * Prepares e (index, spin, handler, context; no inputs yet). Call
 * engine_thread_add_input for each input ring, then engine_thread_start.
 */
void engine_thread_init(engine_thread *e, unsigned index, unsigned spin_us,
                        engine_thread_handler handle, engine_thread_flush flush, void *ctx);

/* Adds an input ring; returns 0, or -1 when ENGINE_THREAD_MAX_INPUTS are in use. */
int engine_thread_add_input(engine_thread *e, ring *in);

/* Starts the thread "engine-<index>", pinned to cpu if cpu >= 0. Returns 0 or an errno. */
int engine_thread_start(engine_thread *e, int cpu);

/* Asks the thread to finish its current pass and exit, and waits for it. */
void engine_thread_stop(engine_thread *e);

#endif
