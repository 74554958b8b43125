/* test_histogram.c: bucket geometry, percentiles against exact answers, merge. */
#include "bourse/histogram.h"
#include "check.h"

#include <stdlib.h>

/* Every bucket touches the next, and is never wider than 1/128 of its low end. */
static void test_buckets_tile_the_range(void) {
  CHECK_EQ_INT(histogram_bucket_low(0), 0);
  for (unsigned b = 0; b + 1 < HISTOGRAM_BUCKETS; b++) {
    uint64_t lo = histogram_bucket_low(b), hi = histogram_bucket_high(b);
    CHECK(hi >= lo);
    CHECK_EQ_INT(histogram_bucket_low(b + 1), hi + 1);
    if (lo < 128)
      CHECK_EQ_INT(hi, lo); /* exact below 128 */
    else
      CHECK((hi - lo + 1) * 128 <= lo);
    CHECK_EQ_INT(histogram_bucket_of(lo), b);
    CHECK_EQ_INT(histogram_bucket_of(hi), b);
  }
  CHECK_EQ_INT(histogram_bucket_high(HISTOGRAM_BUCKETS - 1), HISTOGRAM_MAX_VALUE);
  CHECK_EQ_INT(histogram_bucket_of(HISTOGRAM_MAX_VALUE), HISTOGRAM_BUCKETS - 1);
  CHECK_EQ_INT(histogram_bucket_of(UINT64_MAX), HISTOGRAM_BUCKETS - 1);
  /* 100 s in ns is inside the exact range */
  CHECK(UINT64_C(100000000000) <= HISTOGRAM_MAX_VALUE);
}

static void test_empty_and_single(void) {
  static histogram h;
  histogram_init(&h);
  CHECK_EQ_INT(histogram_percentile(&h, 50), 0);
  CHECK(histogram_mean(&h) == 0.0);
  histogram_record(&h, 123456789);
  CHECK_EQ_INT(histogram_percentile(&h, 0), 123456789);
  CHECK_EQ_INT(histogram_percentile(&h, 50), 123456789); /* clamped to the exact min/max */
  CHECK_EQ_INT(histogram_percentile(&h, 100), 123456789);
  CHECK_EQ_INT(h.count, 1);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Percentiles of a skewed random sample agree with the exact order statistic
 * within the documented 1/256 relative error. */
static void test_percentiles_match_exact(void) {
  enum { N = 100000 };
  static uint64_t values[N];
  static histogram h;
  histogram_init(&h);
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < N; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    /* log-uniform between 1 and ~2^34 */
    unsigned bits = (unsigned)(x % 34) + 1;
    values[i] = (x >> 20) & ((UINT64_C(1) << bits) - 1);
    histogram_record(&h, values[i]);
  }
  qsort(values, N, sizeof(values[0]), cmp_u64);
  const double pcts[] = {1, 10, 50, 90, 99, 99.9, 99.99};
  uint64_t prev = 0;
  for (unsigned i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
    uint64_t rank = (uint64_t)(pcts[i] / 100.0 * N + 0.999999);
    uint64_t exact = values[rank - 1];
    uint64_t got = histogram_percentile(&h, pcts[i]);
    double err = exact ? ((double)got - (double)exact) / (double)exact : (double)got;
    if (err < 0) err = -err;
    CHECK(err <= 1.0 / 256 + 1e-12);
    if (err > 1.0 / 256 + 1e-12)
      fprintf(stderr, "p%g: exact %llu got %llu\n", pcts[i], (unsigned long long)exact,
              (unsigned long long)got);
    CHECK(got >= prev);
    prev = got;
  }
  CHECK_EQ_INT(histogram_percentile(&h, 100), values[N - 1]);
  CHECK_EQ_INT(histogram_percentile(&h, 0), values[0]);
  CHECK_EQ_INT(h.min, values[0]);
  CHECK_EQ_INT(h.max, values[N - 1]);
}

static void test_merge_equals_union(void) {
  static histogram a, b, all;
  histogram_init(&a);
  histogram_init(&b);
  histogram_init(&all);
  for (uint64_t v = 1; v < 5000000; v = v * 3 + 1) {
    histogram_record(v % 2 ? &a : &b, v);
    histogram_record(&all, v);
  }
  histogram_merge(&a, &b);
  CHECK_EQ_INT(a.count, all.count);
  CHECK_EQ_INT(a.sum, all.sum);
  CHECK_EQ_INT(a.min, all.min);
  CHECK_EQ_INT(a.max, all.max);
  CHECK(memcmp(a.counts, all.counts, sizeof(a.counts)) == 0);
  CHECK_EQ_INT(histogram_percentile(&a, 50), histogram_percentile(&all, 50));
}

static void test_clamping_and_saturation(void) {
  static histogram h;
  histogram_init(&h);
  histogram_record(&h, UINT64_MAX);
  histogram_record(&h, UINT64_MAX);
  CHECK_EQ_INT(h.clamped, 2);
  CHECK(h.sum == UINT64_MAX);
  CHECK(h.max == UINT64_MAX);
  CHECK(histogram_percentile(&h, 100) == UINT64_MAX);
  CHECK_EQ_INT(h.counts[HISTOGRAM_BUCKETS - 1], 2);
}

int main(void) {
  test_buckets_tile_the_range();
  test_empty_and_single();
  test_percentiles_match_exact();
  test_merge_equals_union();
  test_clamping_and_saturation();
  return check_report("histogram");
}
