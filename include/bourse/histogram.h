/*
 * histogram.h: a log-linear histogram of non-negative integers (latencies in
 * nanoseconds, sizes), in the manner of HdrHistogram.
 *
 * Values below 128 have a bucket each; above, every power of two [2^e, 2^e+1)
 * is split into 128 equal buckets, so a bucket is never wider than 1/128 of
 * its lower bound. Percentiles return the bucket's midpoint (clamped to the
 * exact minimum and maximum seen), so their relative error is at most 1/256
 * (0.4 %). The range is 0 .. 2^37 - 1 (137 s in nanoseconds); larger values
 * are counted in the top bucket and in `clamped`, and still set the exact max.
 *
 * Fixed memory (about 31 KiB), no allocation: record is a few instructions,
 * for hot paths. Not thread-safe: keep one per thread and merge at the end.
 *
 * Why hand-written: Debian packages HdrHistogram only for Java and Go, and
 * the part we need (record, merge, percentile) is a page of code.
 */
#ifndef BOURSE_HISTOGRAM_H
#define BOURSE_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS  7
#define HISTOGRAM_SUB_COUNT (1u << HISTOGRAM_SUB_BITS)
/* Highest power of two covered: values up to 2^(HISTOGRAM_MAX_EXP+1) - 1. */
#define HISTOGRAM_MAX_EXP   36
#define HISTOGRAM_BUCKETS   ((HISTOGRAM_MAX_EXP - HISTOGRAM_SUB_BITS + 2) * HISTOGRAM_SUB_COUNT)
#define HISTOGRAM_MAX_VALUE ((UINT64_C(1) << (HISTOGRAM_MAX_EXP + 1)) - 1)

typedef struct histogram {
  uint64_t count;   /* values recorded */
  uint64_t sum;     /* sum of values, saturating at UINT64_MAX */
  uint64_t min;     /* exact; UINT64_MAX while empty */
  uint64_t max;     /* exact; 0 while empty */
  uint64_t clamped; /* values above HISTOGRAM_MAX_VALUE */
  uint64_t counts[HISTOGRAM_BUCKETS];
} histogram;

/* Empties h. */
void histogram_init(histogram *h);

/* Adds one value. */
void histogram_record(histogram *h, uint64_t value);

/* Adds every value of `from` into `into` (as if each had been recorded there). */
void histogram_merge(histogram *into, const histogram *from);

/*
 * The value at percentile `pct` (0..100): the smallest recorded value v such
 * that at least pct % of the values are <= v, within the relative error
 * above. pct >= 100 gives the exact max, pct <= 0 the exact min. 0 when empty.
 */
uint64_t histogram_percentile(const histogram *h, double pct);

/* Arithmetic mean of the values, 0 when empty. */
double histogram_mean(const histogram *h);

/* The bucket a value falls in, and a bucket's bounds [lo, hi] (inclusive);
 * exposed for tests and for callers that export the raw buckets. */
unsigned histogram_bucket_of(uint64_t value);
uint64_t histogram_bucket_low(unsigned bucket);
uint64_t histogram_bucket_high(unsigned bucket);

#endif
