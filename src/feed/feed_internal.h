/*
 * feed_internal.h: the aggregate's layout and small integer helpers shared by
 * the feed's files. Thread role: broadcast thread only.
 */
#ifndef BOURSE_FEED_INTERNAL_H
#define BOURSE_FEED_INTERNAL_H

#include <stdint.h>

#include "bourse/feed.h"

/* The aggregate (feed.c); feed_json.c reads its published state. */
struct feed {
  const config *cfg;
  feed_limits limits;
  feed_book_pool pool;
  unsigned market_count;
  feed_market *markets;
  bool tickers_changed; /* the last feed_tick marked at least one market for !tickers */
};

/* a / b rounded towards minus infinity (b > 0): times before 1970 stay aligned. */
static inline int64_t feed_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && a < 0) q--;
  return q;
}

/* a + b for volumes: saturates at INT64_MAX instead of wrapping (both operands >= 0). */
static inline int64_t feed_add_saturating(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return INT64_MAX;
  return sum;
}

static inline int64_t feed_max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}

static inline int64_t feed_min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

#endif
