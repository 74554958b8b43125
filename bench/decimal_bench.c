/*
 * decimal_bench.c: decimal_parse and decimal_format throughput on a realistic
 * mix of order prices and quantities at scale 8, with strtod and snprintf of
 * the same values as speed references measured in the same run. Those are
 * only reference points: they are inexact (binary floating point), which is
 * exactly why bourse does not use them.
 *
 * Single-threaded. Prints medians of REPETITIONS runs.
 */
#include "bourse/clock.h"
#include "bourse/decimal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRING_COUNT 4096
#define REPETITIONS  7
#define MIN_RUN_NS   80000000ull /* each timed run lasts at least this long */
#define SCALE        8

typedef struct sample {
  char text[DECIMAL_MAX_CHARS];
  size_t len;
  int64_t value;
  double approx;
} sample;

static sample mix_samples[STRING_COUNT];
static sample long_samples[STRING_COUNT];
static sample *samples = mix_samples; /* the set being measured */

static uint64_t bench_rng_state = 0x2545f4914f6cdd1du;
static uint64_t bench_rng(void) {
  bench_rng_state ^= bench_rng_state >> 12;
  bench_rng_state ^= bench_rng_state << 25;
  bench_rng_state ^= bench_rng_state >> 27;
  return bench_rng_state * 0x9e3779b97f4a7c15u;
}

/*
 * Half prices, half quantities, as clients send them: BTC around 50000 with
 * 2 decimals, ETH around 3000 with 2, ETHBTC around 0.05 with 6; quantities
 * from 0.00001 to a few thousand with 0..8 decimals.
 */
static void make_samples(void) {
  static const int64_t price_base[] = {5000000000000, 300000000000, 5000000};
  static const int64_t price_step[] = {1000000, 1000000, 100};
  for (size_t i = 0; i < STRING_COUNT; i++) {
    int64_t v;
    if (i % 2 == 0) {
      size_t m = bench_rng() % 3;
      int64_t ticks = (int64_t)(bench_rng() % 200000) - 100000;
      v = price_base[m] + ticks * price_step[m] / 10;
      v -= v % price_step[m];
    } else {
      static const int64_t qty_step[] = {1, 1000, 100000, 1000000, 100000000};
      int64_t step = qty_step[bench_rng() % 5];
      v = (int64_t)(bench_rng() % 500000 + 1) * step;
    }
    mix_samples[i].value = v;
  }
  /* The long set: every value like "50000.12345678", 14 characters. */
  for (size_t i = 0; i < STRING_COUNT; i++)
    long_samples[i].value = (int64_t)(bench_rng() % 90000 + 10000) * 100000000 +
                            (int64_t)(bench_rng() % 9000000) * 10 + 10000001;
  for (size_t i = 0; i < STRING_COUNT; i++) {
    sample *sets[] = {&mix_samples[i], &long_samples[i]};
    for (size_t k = 0; k < 2; k++) {
      sets[k]->len = decimal_format(sets[k]->value, SCALE, sets[k]->text);
      sets[k]->approx = strtod(sets[k]->text, NULL);
    }
  }
}

static volatile int64_t sink; /* keeps the measured work from being optimised away */

static double run_parse(void) {
  uint64_t start = clock_mono_ns(), now, ops = 0;
  int64_t sum = 0;
  do {
    for (size_t i = 0; i < STRING_COUNT; i++) {
      int64_t v = 0;
      decimal_parse(samples[i].text, samples[i].len, SCALE, 0, &v);
      sum += v;
    }
    ops += STRING_COUNT;
    now = clock_mono_ns();
  } while (now - start < MIN_RUN_NS);
  sink = sum;
  return (double)ops * 1e9 / (double)(now - start);
}

static double run_strtod(void) {
  uint64_t start = clock_mono_ns(), now, ops = 0;
  double sum = 0;
  do {
    for (size_t i = 0; i < STRING_COUNT; i++) sum += strtod(samples[i].text, NULL);
    ops += STRING_COUNT;
    now = clock_mono_ns();
  } while (now - start < MIN_RUN_NS);
  sink = (int64_t)sum;
  return (double)ops * 1e9 / (double)(now - start);
}

static double run_format(void) {
  uint64_t start = clock_mono_ns(), now, ops = 0;
  size_t total = 0;
  char buf[DECIMAL_MAX_CHARS];
  do {
    for (size_t i = 0; i < STRING_COUNT; i++) total += decimal_format(samples[i].value, SCALE, buf);
    ops += STRING_COUNT;
    now = clock_mono_ns();
  } while (now - start < MIN_RUN_NS);
  sink = (int64_t)total;
  return (double)ops * 1e9 / (double)(now - start);
}

static double run_snprintf(void) {
  uint64_t start = clock_mono_ns(), now, ops = 0;
  size_t total = 0;
  char buf[64];
  do {
    for (size_t i = 0; i < STRING_COUNT; i++)
      total += (size_t)snprintf(buf, sizeof buf, "%.8f", samples[i].approx);
    ops += STRING_COUNT;
    now = clock_mono_ns();
  } while (now - start < MIN_RUN_NS);
  sink = (int64_t)total;
  return (double)ops * 1e9 / (double)(now - start);
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median_of(double (*run)(void)) {
  double r[REPETITIONS];
  for (int i = 0; i < REPETITIONS; i++) r[i] = run();
  qsort(r, REPETITIONS, sizeof r[0], compare_double);
  return r[REPETITIONS / 2];
}

/* Every sample must parse back exactly: a bench of a broken parser is worthless. */
static int verify_samples(const sample *set) {
  for (size_t i = 0; i < STRING_COUNT; i++) {
    int64_t v = 0;
    if (decimal_parse(set[i].text, set[i].len, SCALE, 0, &v) != DECIMAL_OK || v != set[i].value) {
      fprintf(stderr, "sample %zu (\"%s\") does not round-trip\n", i, set[i].text);
      return -1;
    }
  }
  return 0;
}

/* Measures the current `samples` set and prints one block of figures. */
static void measure_set(const char *title) {
  size_t chars = 0;
  for (size_t i = 0; i < STRING_COUNT; i++) chars += samples[i].len;
  printf("%s: %d strings at scale %d (e.g. \"%s\", \"%s\"), mean %.1f chars\n", title, STRING_COUNT,
         SCALE, samples[0].text, samples[1].text, (double)chars / STRING_COUNT);
  double parse = median_of(run_parse);
  double strtod_rate = median_of(run_strtod);
  double format = median_of(run_format);
  double snprintf_rate = median_of(run_snprintf);
  printf("  decimal_parse    %8.1f M/s\n", parse / 1e6);
  printf("  strtod           %8.1f M/s  (speed reference only: inexact)\n", strtod_rate / 1e6);
  printf("  parse ratio      %8.2f x strtod\n", parse / strtod_rate);
  printf("  decimal_format   %8.1f M/s\n", format / 1e6);
  printf("  snprintf %%.8f    %8.1f M/s  (speed reference only: inexact)\n", snprintf_rate / 1e6);
  printf("  format ratio     %8.2f x snprintf\n", format / snprintf_rate);
}

int main(void) {
  make_samples();
  if (verify_samples(mix_samples) != 0 || verify_samples(long_samples) != 0) return 1;
  printf("decimal_bench: medians of %d runs of >= %llu ms each\n", REPETITIONS,
         MIN_RUN_NS / 1000000);
  samples = mix_samples;
  measure_set("order mix (prices and quantities)");
  samples = long_samples;
  measure_set("long prices");
  return 0;
}
