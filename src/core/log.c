/*
 * log.c: see include/bourse/log.h.
 *
 * Hand-written because the packaged C loggers (syslog, zlog, log4c) either
 * make a system call per line or take a lock shared by every thread; the
 * engine threads may neither block nor contend, so each thread gets its own
 * SPSC ring (core/ring.c) and one logger thread does the writing.
 *
 * Thread-safe. The logger thread runs log_thread_main.
 */
#include "bourse/log.h"

#include "bourse/clock.h"
#include "bourse/ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_MAX_THREADS 64

struct log_record {
  int64_t wall_ns;
  uint64_t mono_ns;
  uint32_t level;
  uint32_t length;
  char thread[16];
  char text[LOG_LINE_MAX];
};

struct log_source {
  ring r;
  _Atomic bool in_use;    /* set by the owner, cleared by the logger once drained */
  _Atomic bool releasing; /* owner is gone: free the ring after the last drain */
  _Atomic uint64_t dropped;
};

static struct {
  _Atomic int level;
  FILE *out;
  bool own_file;
  pthread_t thread;
  bool running;
  _Atomic bool stop;
  ring_waiter waiter;
  pthread_mutex_t sync_lock; /* for threads without a ring, and registration */
  struct log_source sources[LOG_MAX_THREADS];
  _Atomic uint64_t dropped_total;
} logger = {.level = LOG_INFO, .sync_lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local struct log_source *thread_source;
static _Thread_local char thread_name[16] = "main";

static const char *level_name(uint32_t level) {
  static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
  return level < 4 ? names[level] : "?    ";
}

static void write_record(const struct log_record *rec) {
  FILE *out = logger.out ? logger.out : stderr;
  struct timespec wall = {.tv_sec = rec->wall_ns / 1000000000,
                          .tv_nsec = rec->wall_ns % 1000000000};
  struct tm utc;
  gmtime_r(&wall.tv_sec, &utc);
  fprintf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %llu.%06llu %s [%s] %.*s\n",
          utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
          wall.tv_nsec / 1000, (unsigned long long)(rec->mono_ns / 1000000000),
          (unsigned long long)(rec->mono_ns / 1000 % 1000000), level_name(rec->level), rec->thread,
          (int)rec->length, rec->text);
}

static void format_record(struct log_record *rec, log_level level, const char *fmt, va_list ap) {
  rec->wall_ns = clock_wall_ns();
  rec->mono_ns = clock_mono_ns();
  rec->level = (uint32_t)level;
  memcpy(rec->thread, thread_name, sizeof(rec->thread));
  int n = vsnprintf(rec->text, sizeof(rec->text), fmt, ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof(rec->text)) {
    memcpy(rec->text + sizeof(rec->text) - 4, "...", 3);
    n = (int)sizeof(rec->text) - 1;
  }
  rec->length = (uint32_t)n;
}

/* Writes what one source holds; returns the number of lines written. */
static uint32_t drain_source(struct log_source *src) {
  uint32_t total = 0, n;
  while ((n = ring_peek(&src->r, 64)) > 0) {
    for (uint32_t i = 0; i < n; i++) write_record(ring_read_slot(&src->r, i));
    ring_release(&src->r, n);
    total += n;
  }
  return total;
}

static uint32_t drain_all(void) {
  uint32_t total = 0;
  for (int i = 0; i < LOG_MAX_THREADS; i++) {
    struct log_source *src = &logger.sources[i];
    if (!atomic_load_explicit(&src->in_use, memory_order_acquire)) continue;
    bool releasing = atomic_load_explicit(&src->releasing, memory_order_acquire);
    total += drain_source(src);
    if (releasing) {
      ring_destroy(&src->r);
      atomic_store_explicit(&src->releasing, false, memory_order_relaxed);
      atomic_store_explicit(&src->in_use, false, memory_order_release);
    }
  }
  return total;
}

static void *log_thread_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "log");
  while (!atomic_load(&logger.stop)) {
    if (drain_all() > 0) {
      fflush(logger.out);
      continue;
    }
    uint32_t key = ring_waiter_prepare(&logger.waiter);
    /* Rechecking every ring is cheap: the logger is the only reader. */
    if (drain_all() > 0 || atomic_load(&logger.stop)) {
      ring_waiter_cancel(&logger.waiter);
      fflush(logger.out);
      continue;
    }
    ring_waiter_wait(&logger.waiter, key, 200);
  }
  drain_all();
  fflush(logger.out);
  return NULL;
}

int log_init(log_level level, const char *path) {
  atomic_store(&logger.level, (int)level);
  logger.out = stderr;
  logger.own_file = false;
  if (path && path[0]) {
    FILE *f = fopen(path, "a");
    if (!f) return -1;
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    logger.out = f;
    logger.own_file = true;
  }
  ring_waiter_init(&logger.waiter, -1);
  atomic_store(&logger.stop, false);
  int rc = pthread_create(&logger.thread, NULL, log_thread_main, NULL);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  logger.running = true;
  return 0;
}

void log_shutdown(void) {
  if (!logger.running) return;
  atomic_store(&logger.stop, true);
  ring_waiter_notify(&logger.waiter);
  pthread_join(logger.thread, NULL);
  logger.running = false;
  if (logger.own_file) fclose(logger.out);
  logger.out = stderr;
  logger.own_file = false;
}

void log_set_level(log_level level) {
  atomic_store_explicit(&logger.level, (int)level, memory_order_relaxed);
}

log_level log_get_level(void) {
  return (log_level)atomic_load_explicit(&logger.level, memory_order_relaxed);
}

int log_thread_register(const char *name, uint32_t slots) {
  snprintf(thread_name, sizeof(thread_name), "%s", name);
  if (slots == 0) slots = 256;
  pthread_mutex_lock(&logger.sync_lock);
  int rc = -1;
  for (int i = 0; i < LOG_MAX_THREADS && rc != 0; i++) {
    struct log_source *src = &logger.sources[i];
    if (atomic_load_explicit(&src->in_use, memory_order_acquire)) continue;
    if (ring_init(&src->r, slots, sizeof(struct log_record)) != 0) break;
    atomic_store(&src->dropped, 0);
    atomic_store(&src->releasing, false);
    atomic_store_explicit(&src->in_use, true, memory_order_release);
    thread_source = src;
    rc = 0;
  }
  pthread_mutex_unlock(&logger.sync_lock);
  return rc;
}

void log_thread_unregister(void) {
  struct log_source *src = thread_source;
  if (!src) return;
  thread_source = NULL;
  if (!logger.running) { /* nobody will drain it: release it here */
    ring_destroy(&src->r);
    atomic_store_explicit(&src->in_use, false, memory_order_release);
    return;
  }
  atomic_store_explicit(&src->releasing, true, memory_order_release);
  ring_waiter_notify(&logger.waiter);
}

const char *log_thread_name(void) {
  return thread_name;
}

uint64_t log_dropped(void) {
  return atomic_load_explicit(&logger.dropped_total, memory_order_relaxed);
}

void log_write(log_level level, const char *fmt, ...) {
  if ((int)level < atomic_load_explicit(&logger.level, memory_order_relaxed)) return;
  va_list ap;
  va_start(ap, fmt);
  struct log_source *src = thread_source;
  if (src && logger.running) {
    if (ring_reserve(&src->r, 1) == 0) {
      atomic_fetch_add_explicit(&src->dropped, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&logger.dropped_total, 1, memory_order_relaxed);
    } else {
      format_record(ring_write_slot(&src->r, 0), level, fmt, ap);
      ring_commit(&src->r, 1);
      ring_waiter_notify(&logger.waiter);
    }
  } else {
    struct log_record rec;
    format_record(&rec, level, fmt, ap);
    pthread_mutex_lock(&logger.sync_lock);
    write_record(&rec);
    fflush(logger.out ? logger.out : stderr);
    pthread_mutex_unlock(&logger.sync_lock);
  }
  va_end(ap);
}
