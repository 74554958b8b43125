/*
 * thread.h: named threads with optional CPU pinning, and shutdown signals.
 *
 * Every long-lived bourse thread is started with thread_start, which names
 * it (visible in top -H, gdb and every log line), pins it when asked, and
 * registers it with the logger before running its function.
 *
 * Signals: thread_signals_block is called by main before any thread starts,
 * so every thread inherits a mask with SIGINT, SIGTERM and SIGHUP blocked and
 * SIGPIPE ignored; main then sleeps in thread_signals_wait and is the only
 * thread that ever sees them. No async signal handlers exist.
 *
 * Thread-safe.
 */
#ifndef BOURSE_THREAD_H
#define BOURSE_THREAD_H

#include <pthread.h>
#include <stdbool.h>

typedef void (*thread_fn)(void *arg);

typedef struct thread_handle {
  pthread_t id;
  char name[16];
  int cpu; /* -1: not pinned */
  thread_fn fn;
  void *arg;
  bool started;
} thread_handle;

/*
 * Starts fn(arg) on a new thread named `name` (at most 15 characters kept),
 * pinned to `cpu` when cpu >= 0. The handle must stay valid until
 * thread_join. Returns 0, or an errno value (e.g. EINVAL for a cpu this
 * machine does not have).
 */
int thread_start(thread_handle *t, const char *name, int cpu, thread_fn fn, void *arg);

/* Waits for the thread to finish. Returns 0 or an errno value. */
int thread_join(thread_handle *t);

/*
 * The CPU a thread named `name` should be pinned to under `spec`, or -1.
 * spec is a comma-separated list of name:cpu, where a name ending in '*'
 * matches every thread whose name starts with what precedes it:
 * "engine-*:1,io-0:0,log:0". Returns -2 if spec is malformed.
 */
int thread_cpu_for(const char *spec, const char *name);

/* Blocks SIGINT, SIGTERM, SIGHUP in the calling thread (and so in every
 * thread it starts later) and ignores SIGPIPE. Returns 0 or an errno value. */
int thread_signals_block(void);

/* Sleeps until SIGINT, SIGTERM or SIGHUP arrives; returns its number. */
int thread_signals_wait(void);

#endif
