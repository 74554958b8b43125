/*
 * feed_ticker.c: the rolling 24 h ticker of one market from one-minute
 * buckets (see include/bourse/feed.h for the window and the semantics).
 *
 * Thread role: broadcast thread only.
 */
#include "bourse/feed.h"

#include <string.h>

#include "feed_internal.h"

#define MINUTE_MS 60000

/* Minute m lives in buckets[m mod 1440] (mod taken non-negative for times before 1970). */
static size_t slot_of(int64_t minute) {
  int64_t slot = minute % FEED_TICKER_MINUTES;
  return (size_t)(slot < 0 ? slot + FEED_TICKER_MINUTES : slot);
}

static feed_ticker_bucket *bucket_of(feed_ticker *t, int64_t minute) {
  return &t->buckets[slot_of(minute)];
}

static const feed_ticker_bucket *bucket_at(const feed_ticker *t, int64_t minute) {
  return &t->buckets[slot_of(minute)];
}

/* True when minute m has trades in the window. */
static bool minute_has_trades(const feed_ticker *t, int64_t minute) {
  const feed_ticker_bucket *b = bucket_at(t, minute);
  return b->count > 0 && b->minute == minute;
}

void feed_ticker_init(feed_ticker *t) {
  memset(t, 0, sizeof *t);
  t->clock_ms = INT64_MIN;
}

/* High and low over the window's buckets: needed only when an expired minute held one of them. */
static void rescan_high_low(feed_ticker *t) {
  t->high = INT64_MIN;
  t->low = INT64_MAX;
  for (int64_t m = t->first_minute; m <= t->last_minute; m++) {
    if (!minute_has_trades(t, m)) continue;
    const feed_ticker_bucket *b = bucket_at(t, m);
    t->high = feed_max64(t->high, b->high);
    t->low = feed_min64(t->low, b->low);
  }
}

/* Removes the oldest non-empty minute from the window; returns whether it held the high or low. */
static bool expire_first(feed_ticker *t) {
  feed_ticker_bucket *b = bucket_of(t, t->first_minute);
  t->volume -= b->volume;
  t->quote_volume -= b->quote_volume;
  t->count -= b->count;
  bool extreme = b->high == t->high || b->low == t->low;
  b->count = 0;
  if (t->count == 0) return false;
  int64_t m = t->first_minute + 1;
  while (m < t->last_minute && !minute_has_trades(t, m)) m++;
  t->first_minute = m;
  return extreme;
}

void feed_ticker_roll(feed_ticker *t, int64_t now_ms) {
  if (now_ms > t->clock_ms) t->clock_ms = now_ms;
  if (t->count == 0) return;
  int64_t cutoff = feed_floor_div(t->clock_ms, MINUTE_MS) - (FEED_TICKER_MINUTES - 1);
  bool rescan = false;
  while (t->count > 0 && t->first_minute < cutoff) rescan |= expire_first(t);
  if (t->count == 0) {
    t->volume = t->quote_volume = 0;
    t->high = t->low = 0;
  } else if (rescan) {
    rescan_high_low(t);
  }
}

void feed_ticker_trade(feed_ticker *t, int64_t ts_ms, int64_t price, int64_t qty, int64_t quote) {
  feed_ticker_roll(t, ts_ms); /* also makes the trade's time max(ts_ms, clock) */
  int64_t minute = feed_floor_div(t->clock_ms, MINUTE_MS);
  feed_ticker_bucket *b = bucket_of(t, minute);
  /* After the roll, a slot's older minute (at least 1440 back) has expired: count is 0. */
  if (!(b->count > 0 && b->minute == minute)) {
    *b = (feed_ticker_bucket){
        .minute = minute, .open = price, .high = price, .low = price, .close = price};
    if (t->count == 0) t->first_minute = minute;
    t->last_minute = minute;
  }
  b->high = feed_max64(b->high, price);
  b->low = feed_min64(b->low, price);
  b->close = price;
  /* The window adds what the bucket added, so expiring the bucket subtracts exactly that. */
  int64_t volume = feed_add_saturating(b->volume, qty);
  int64_t quote_volume = feed_add_saturating(b->quote_volume, quote);
  t->volume += volume - b->volume;
  t->quote_volume += quote_volume - b->quote_volume;
  b->volume = volume;
  b->quote_volume = quote_volume;
  b->count++;
  if (t->count == 0) {
    t->high = t->low = price;
  } else {
    t->high = feed_max64(t->high, price);
    t->low = feed_min64(t->low, price);
  }
  t->count++;
}

static int64_t clamp_int64(__int128 v) {
  return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : (int64_t)v;
}

/* change x 10000 / open rounded half away from zero: the percentage in hundredths. */
static int64_t change_hundredths(int64_t change, int64_t open) {
  __int128 num = (__int128)change * 10000;
  __int128 q = num / open, r = num % open;
  __int128 twice_r = r < 0 ? -2 * r : 2 * r;
  if (twice_r >= open) q += num < 0 ? -1 : 1;
  return clamp_int64(q);
}

void feed_ticker_get(const feed_ticker *t, feed_ticker_values *out) {
  memset(out, 0, sizeof *out);
  if (t->count == 0) return;
  out->last = bucket_at(t, t->last_minute)->close;
  out->open = bucket_at(t, t->first_minute)->open;
  out->high = t->high;
  out->low = t->low;
  out->change = out->last - out->open; /* both > 0: cannot overflow */
  out->change_pct = change_hundredths(out->change, out->open);
  out->volume = clamp_int64(t->volume);
  out->quote_volume = clamp_int64(t->quote_volume);
  out->count = t->count;
}
