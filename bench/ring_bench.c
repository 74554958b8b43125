/*
 * ring_bench: messages/s through one SPSC ring between two threads, 64-byte
 * slots, at batch sizes 1, 16 and 256 (the producer reserves and commits that
 * many at a time, the consumer peeks and releases up to that many). The
 * baseline, measured in the same run, is the textbook alternative: the same
 * ring guarded by a pthread mutex, one message per lock.
 *
 * Usage: ring_bench [messages_per_run] [runs]   (defaults 20000000, 7)
 */
#include "bourse/clock.h"
#include "bourse/ring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct message {
  uint64_t seq;
  uint64_t payload[7];
};

struct run {
  ring r;
  uint64_t count;
  uint32_t batch;
  uint64_t checksum;
  pthread_mutex_t lock; /* baseline only */
  bool locked;
};

static void *produce(void *arg) {
  struct run *run = arg;
  uint64_t seq = 0;
  while (seq < run->count) {
    uint32_t want = run->batch;
    if (want > run->count - seq) want = (uint32_t)(run->count - seq);
    if (run->locked) pthread_mutex_lock(&run->lock);
    uint32_t n = ring_reserve(&run->r, want);
    for (uint32_t i = 0; i < n; i++) {
      struct message *m = ring_write_slot(&run->r, i);
      m->seq = seq + i;
      m->payload[0] = seq + i;
    }
    ring_commit(&run->r, n);
    if (run->locked) pthread_mutex_unlock(&run->lock);
    seq += n;
  }
  return NULL;
}

static void *consume(void *arg) {
  struct run *run = arg;
  uint64_t seq = 0, sum = 0;
  while (seq < run->count) {
    if (run->locked) pthread_mutex_lock(&run->lock);
    uint32_t n = ring_peek(&run->r, run->batch);
    for (uint32_t i = 0; i < n; i++) {
      const struct message *m = ring_read_slot(&run->r, i);
      sum += m->seq ^ m->payload[0];
    }
    ring_release(&run->r, n);
    if (run->locked) pthread_mutex_unlock(&run->lock);
    seq += n;
  }
  run->checksum = sum;
  return NULL;
}

static double measure(uint64_t count, uint32_t batch, bool locked) {
  struct run run = {.count = count, .batch = batch, .locked = locked};
  if (ring_init(&run.r, 4096, sizeof(struct message)) != 0) {
    perror("ring_init");
    exit(1);
  }
  pthread_mutex_init(&run.lock, NULL);
  pthread_t p, c;
  uint64_t start = clock_mono_ns();
  pthread_create(&c, NULL, consume, &run);
  pthread_create(&p, NULL, produce, &run);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  uint64_t elapsed = clock_mono_ns() - start;
  if (run.checksum != 0) {
    fprintf(stderr, "checksum mismatch: messages corrupted\n");
    exit(1);
  }
  pthread_mutex_destroy(&run.lock);
  ring_destroy(&run.r);
  return (double)count / ((double)elapsed / 1e9);
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *values, int n) {
  qsort(values, (size_t)n, sizeof(double), compare_double);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

int main(int argc, char **argv) {
  uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (runs < 1 || runs > 101) runs = 7;
  const uint32_t batches[] = {1, 16, 256};
  printf("ring_bench: %llu messages of %zu bytes per run, %d runs, ring of 4096 slots\n",
         (unsigned long long)count, sizeof(struct message), runs);
  printf("%-6s %18s %18s %18s %10s\n", "batch", "spsc median M/s", "spsc min..max",
         "mutex median M/s", "ratio");
  for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
    double spsc[101], mutex[101];
    for (int i = 0; i < runs; i++) {
      spsc[i] = measure(count, batches[b], false) / 1e6;
      mutex[i] = measure(count / 4, batches[b], true) / 1e6;
    }
    double spsc_median = median(spsc, runs), mutex_median = median(mutex, runs);
    char range[64];
    snprintf(range, sizeof(range), "%.1f..%.1f", spsc[0], spsc[runs - 1]);
    printf("%-6u %18.1f %18s %18.1f %9.1fx\n", batches[b], spsc_median, range, mutex_median,
           spsc_median / mutex_median);
  }
  return 0;
}
