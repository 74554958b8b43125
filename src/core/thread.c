/* thread.c: see include/bourse/thread.h. Thread-safe. */
#include "bourse/thread.h"

#include "bourse/log.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *thread_trampoline(void *arg) {
  thread_handle *t = arg;
  pthread_setname_np(pthread_self(), t->name);
  log_thread_register(t->name, 0);
  t->fn(t->arg);
  log_thread_unregister();
  return NULL;
}

int thread_start(thread_handle *t, const char *name, int cpu, thread_fn fn, void *arg) {
  memset(t, 0, sizeof(*t));
  snprintf(t->name, sizeof(t->name), "%s", name);
  t->cpu = cpu;
  t->fn = fn;
  t->arg = arg;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (cpu >= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    if (cpu >= CPU_SETSIZE || (cpus > 0 && cpu >= cpus)) {
      pthread_attr_destroy(&attr);
      return EINVAL;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
  }
  int rc = pthread_create(&t->id, &attr, thread_trampoline, t);
  pthread_attr_destroy(&attr);
  if (rc == 0) t->started = true;
  return rc;
}

int thread_join(thread_handle *t) {
  if (!t->started) return 0;
  t->started = false;
  return pthread_join(t->id, NULL);
}

/*
 * Parses one "name:cpu" entry of length len; returns cpu, -1 no match, -2 bad.
 * `name` matches the thread's full name ("engine-0"), its role (the part
 * before '-': "engine"), or, ending in '*', any name with that prefix.
 */
static int match_entry(const char *entry, size_t len, const char *name) {
  const char *colon = memchr(entry, ':', len);
  if (!colon || colon == entry || colon + 1 == entry + len) return -2;
  int cpu = 0;
  for (const char *p = colon + 1; p < entry + len; p++) {
    if (*p < '0' || *p > '9' || cpu > 100000) return -2;
    cpu = cpu * 10 + (*p - '0');
  }
  size_t pattern_len = (size_t)(colon - entry);
  if (entry[pattern_len - 1] == '*') return strncmp(name, entry, pattern_len - 1) == 0 ? cpu : -1;
  size_t role_len = strcspn(name, "-");
  if ((strlen(name) == pattern_len || role_len == pattern_len) &&
      memcmp(name, entry, pattern_len) == 0)
    return cpu;
  return -1;
}

int thread_cpu_for(const char *spec, const char *name) {
  int found = -1;
  const char *p = spec;
  while (p && *p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0 || (end && end[1] == '\0')) return -2; /* empty entry or trailing comma */
    int cpu = match_entry(p, len, name);
    if (cpu == -2) return -2;
    if (cpu >= 0 && found < 0) found = cpu;
    p = end ? end + 1 : NULL;
  }
  return found;
}

static void shutdown_signal_set(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
}

int thread_signals_block(void) {
  sigset_t set;
  shutdown_signal_set(&set);
  signal(SIGPIPE, SIG_IGN);
  return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int thread_signals_wait(void) {
  sigset_t set;
  shutdown_signal_set(&set);
  for (;;) {
    int signo = sigwaitinfo(&set, NULL);
    if (signo > 0) return signo;
  }
}
