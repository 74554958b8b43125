/*
 * feed_kline.c: one market's current candle per interval (see
 * include/bourse/feed.h for the semantics).
 *
 * Thread role: broadcast thread only.
 */
#include "bourse/feed.h"

#include <string.h>

#include "feed_internal.h"

#define MINUTE_MS INT64_C(60000)
#define HOUR_MS   (60 * MINUTE_MS)
#define DAY_MS    (24 * HOUR_MS)

static const struct {
  const char *name;
  int64_t ms;
} intervals[FEED_KLINE_COUNT] = {
    [FEED_KLINE_1M] = {"1m", MINUTE_MS},        [FEED_KLINE_5M] = {"5m", 5 * MINUTE_MS},
    [FEED_KLINE_15M] = {"15m", 15 * MINUTE_MS}, [FEED_KLINE_30M] = {"30m", 30 * MINUTE_MS},
    [FEED_KLINE_1H] = {"1h", HOUR_MS},          [FEED_KLINE_4H] = {"4h", 4 * HOUR_MS},
    [FEED_KLINE_1D] = {"1d", DAY_MS},           [FEED_KLINE_1W] = {"1w", 7 * DAY_MS},
};

/* 1970-01-01 was a Thursday: weeks (Monday 00:00 UTC) start 4 days after the epoch, mod 7 days. */
#define WEEK_OFFSET_MS (4 * DAY_MS)

const char *feed_interval_name(feed_interval interval) {
  return (unsigned)interval < FEED_KLINE_COUNT ? intervals[interval].name : "?";
}

int64_t feed_interval_ms(feed_interval interval) {
  return (unsigned)interval < FEED_KLINE_COUNT ? intervals[interval].ms : 0;
}

int64_t feed_interval_start(feed_interval interval, int64_t ms) {
  int64_t len = feed_interval_ms(interval);
  int64_t offset = interval == FEED_KLINE_1W ? WEEK_OFFSET_MS : 0;
  return feed_floor_div(ms - offset, len) * len + offset;
}

void feed_kline_init(feed_kline *k, feed_interval interval) {
  memset(k, 0, sizeof *k);
  k->interval = (uint8_t)interval;
  k->clock_ms = INT64_MIN;
}

static int64_t candle_end(const feed_kline *k) {
  return k->current.open_ms + feed_interval_ms((feed_interval)k->interval);
}

/* Closes the current candle and opens the one containing `ms`, empty at the close. */
static void close_current(feed_kline *k, int64_t ms) {
  k->closed = k->current;
  k->closed_pending = true;
  int64_t close = k->current.close;
  k->current = (feed_candle){.open_ms = feed_interval_start((feed_interval)k->interval, ms),
                             .open = close,
                             .high = close,
                             .low = close,
                             .close = close};
}

bool feed_kline_needs_flush(const feed_kline *k, int64_t ts_ms) {
  if (!k->active || !k->closed_pending) return false;
  return feed_max64(ts_ms, k->clock_ms) >= candle_end(k);
}

bool feed_kline_trade(feed_kline *k, int64_t ts_ms, int64_t price, int64_t qty, int64_t quote) {
  if (feed_kline_needs_flush(k, ts_ms)) return false;
  k->clock_ms = feed_max64(ts_ms, k->clock_ms);
  if (!k->active) {
    k->current =
        (feed_candle){.open_ms = feed_interval_start((feed_interval)k->interval, k->clock_ms)};
    k->active = true;
  } else if (k->clock_ms >= candle_end(k)) {
    close_current(k, k->clock_ms);
  }
  feed_candle *c = &k->current;
  if (c->count == 0) { /* the first trade opens the candle, whatever the previous close was */
    c->open = c->high = c->low = price;
  } else {
    c->high = feed_max64(c->high, price);
    c->low = feed_min64(c->low, price);
  }
  c->close = price;
  c->volume = feed_add_saturating(c->volume, qty);
  c->quote_volume = feed_add_saturating(c->quote_volume, quote);
  c->count++;
  return true;
}

static bool candle_equal(const feed_candle *a, const feed_candle *b) {
  return a->open_ms == b->open_ms && a->open == b->open && a->high == b->high && a->low == b->low &&
         a->close == b->close && a->volume == b->volume && a->quote_volume == b->quote_volume &&
         a->count == b->count;
}

uint32_t feed_kline_end_tick(feed_kline *k, int64_t now_ms) {
  k->clock_ms = feed_max64(now_ms, k->clock_ms);
  /* With a close already pending (a trade crossed the end), a second one waits a period. */
  if (k->active && !k->closed_pending && k->clock_ms >= candle_end(k))
    close_current(k, k->clock_ms);
  uint32_t bits = 0;
  if (k->closed_pending) {
    k->published_closed = k->closed;
    k->closed_pending = false;
    bits |= FEED_KLINE_CLOSED;
  }
  if (k->active && (!k->published_active || !candle_equal(&k->current, &k->published))) {
    k->published = k->current;
    k->published_active = true;
    bits |= FEED_KLINE_CHANGED;
  }
  return bits;
}
