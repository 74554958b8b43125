/*
 * log.h: levelled logging that never blocks the thread that logs.
 *
 * A thread that called log_thread_register (thread_start does it) formats
 * each line into a slot of its own SPSC ring; a logger thread drains every
 * ring and writes the lines out. When a ring is full the line is dropped and
 * counted (log_dropped), never waited for. Threads that did not register
 * (start-up, tools) write synchronously under a mutex: fine off the hot path.
 *
 * Line format, one per record:
 *   2026-11-21T15:40:12.345678Z 1234.567890 INFO  [engine-0] message
 * (wall clock UTC, monotonic seconds, level, thread name, text).
 *
 * Thread-safe.
 */
#ifndef BOURSE_LOG_H
#define BOURSE_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum log_level {
  LOG_DEBUG = 0,
  LOG_INFO = 1,
  LOG_WARN = 2,
  LOG_ERROR = 3,
} log_level;

/* Longest line kept; longer messages are cut and end in "...". */
#define LOG_LINE_MAX 480

/*
 * Opens the output (path NULL or "" = stderr; else appended to) and starts
 * the logger thread. Returns 0, or -1 with errno when the file cannot be
 * opened or the thread cannot start. Call once, before other threads log.
 */
int log_init(log_level level, const char *path);

/* Drains every ring, stops the logger thread and closes the output. */
void log_shutdown(void);

/* Lines below `level` are discarded by the caller, before formatting. */
void log_set_level(log_level level);
log_level log_get_level(void);

/*
 * Gives the calling thread a name (at most 15 characters shown) and its own
 * ring of `slots` lines (a power of two; 0 = 256). Returns 0, or -1 when the
 * table of threads (64) is full or memory is short: the thread then logs
 * synchronously. Not on the hot path: call at thread start.
 */
int log_thread_register(const char *name, uint32_t slots);

/* Hands the calling thread's ring back; its pending lines are still written. */
void log_thread_unregister(void);

/* The calling thread's name ("main" if it never registered). */
const char *log_thread_name(void);

/* Lines dropped so far because a thread's ring was full. */
uint64_t log_dropped(void);

/* Formats and queues one line (printf format). */
void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG_IF(...)                                                                          \
  do {                                                                                             \
    if (log_get_level() <= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__);                           \
  } while (0)
#define log_debug(...) LOG_DEBUG_IF(__VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
