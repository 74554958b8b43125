/* histogram.c: see include/bourse/histogram.h. Not thread-safe (one per thread). */
#include "bourse/histogram.h"

#include <string.h>

void histogram_init(histogram *h) {
  memset(h, 0, sizeof(*h));
  h->min = UINT64_MAX;
}

unsigned histogram_bucket_of(uint64_t value) {
  if (value < HISTOGRAM_SUB_COUNT) return (unsigned)value;
  if (value > HISTOGRAM_MAX_VALUE) return HISTOGRAM_BUCKETS - 1;
  unsigned exp = 63u - (unsigned)__builtin_clzll(value); /* >= HISTOGRAM_SUB_BITS */
  unsigned shift = exp - HISTOGRAM_SUB_BITS;
  unsigned sub = (unsigned)(value >> shift) & (HISTOGRAM_SUB_COUNT - 1);
  return (shift + 1) * HISTOGRAM_SUB_COUNT + sub;
}

uint64_t histogram_bucket_low(unsigned bucket) {
  if (bucket < HISTOGRAM_SUB_COUNT) return bucket;
  unsigned shift = bucket / HISTOGRAM_SUB_COUNT - 1;
  uint64_t sub = bucket % HISTOGRAM_SUB_COUNT;
  return (HISTOGRAM_SUB_COUNT + sub) << shift;
}

uint64_t histogram_bucket_high(unsigned bucket) {
  if (bucket < HISTOGRAM_SUB_COUNT) return bucket;
  unsigned shift = bucket / HISTOGRAM_SUB_COUNT - 1;
  return histogram_bucket_low(bucket) + (UINT64_C(1) << shift) - 1;
}

void histogram_record(histogram *h, uint64_t value) {
  h->counts[histogram_bucket_of(value)]++;
  h->count++;
  if (__builtin_add_overflow(h->sum, value, &h->sum)) h->sum = UINT64_MAX;
  if (value < h->min) h->min = value;
  if (value > h->max) h->max = value;
  if (value > HISTOGRAM_MAX_VALUE) h->clamped++;
}

void histogram_merge(histogram *into, const histogram *from) {
  for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) into->counts[i] += from->counts[i];
  into->count += from->count;
  if (__builtin_add_overflow(into->sum, from->sum, &into->sum)) into->sum = UINT64_MAX;
  if (from->min < into->min) into->min = from->min;
  if (from->max > into->max) into->max = from->max;
  into->clamped += from->clamped;
}

uint64_t histogram_percentile(const histogram *h, double pct) {
  if (h->count == 0) return 0;
  if (pct <= 0) return h->min;
  if (pct >= 100) return h->max;
  /* rank: the smallest r with r >= pct% of count, at least 1 */
  double want = pct / 100.0 * (double)h->count;
  uint64_t rank = (uint64_t)want;
  if ((double)rank < want) rank++;
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t lo = histogram_bucket_low(i), hi = histogram_bucket_high(i);
      uint64_t mid = lo + (hi - lo + 1) / 2;
      if (hi == lo) mid = lo;
      if (mid < h->min) mid = h->min;
      if (mid > h->max) mid = h->max;
      return mid;
    }
  }
  return h->max;
}

double histogram_mean(const histogram *h) {
  return h->count ? (double)h->sum / (double)h->count : 0.0;
}
