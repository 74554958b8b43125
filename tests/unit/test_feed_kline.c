/*
 * test_feed_kline.c: klines. Interval alignment (UTC days, Monday weeks,
 * times before 1970), one interval's life step by step (first trade, closes
 * by tick and by trade, an empty candle at the previous close reopened by its
 * first trade, a second close in one period refused, a pause), then seeded
 * random trades and ticks through the feed aggregate for all eight intervals:
 * every published candle, current or closed, must equal the candle computed
 * here from the trade list (integer arithmetic), closed candles come in time
 * order, and no interval that had a trade is ever skipped.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bourse/feed.h"
#include "check.h"

#define SEC    INT64_C(1000)
#define MIN    (60 * SEC)
#define HOUR   (60 * MIN)
#define DAY    (24 * HOUR)
#define MONDAY INT64_C(1704067200000) /* 2024-01-01T00:00:00Z, a Monday */

static void test_alignment(void) {
  static const struct {
    feed_interval interval;
    int64_t ms, start;
  } cases[] = {
      {FEED_KLINE_1M, MONDAY + 59 * SEC + 999, MONDAY},
      {FEED_KLINE_1M, MONDAY + 60 * SEC, MONDAY + MIN},
      {FEED_KLINE_5M, MONDAY + 14 * MIN, MONDAY + 10 * MIN},
      {FEED_KLINE_15M, MONDAY + 44 * MIN, MONDAY + 30 * MIN},
      {FEED_KLINE_30M, MONDAY + 89 * MIN, MONDAY + 60 * MIN},
      {FEED_KLINE_1H, MONDAY + 119 * MIN, MONDAY + HOUR},
      {FEED_KLINE_4H, MONDAY + 5 * HOUR, MONDAY + 4 * HOUR},
      {FEED_KLINE_4H, MONDAY - 1, MONDAY - 4 * HOUR},
      {FEED_KLINE_1D, MONDAY + 2 * DAY + 23 * HOUR, MONDAY + 2 * DAY},
      {FEED_KLINE_1W, MONDAY, MONDAY},
      {FEED_KLINE_1W, MONDAY + 7 * DAY - 1, MONDAY}, /* Sunday 23:59:59.999 */
      {FEED_KLINE_1W, MONDAY + 7 * DAY, MONDAY + 7 * DAY},
      {FEED_KLINE_1W, MONDAY - 1, MONDAY - 7 * DAY},
      {FEED_KLINE_1W, 0, -3 * DAY},      /* 1970-01-01 was a Thursday */
      {FEED_KLINE_1W, 4 * DAY, 4 * DAY}, /* 1970-01-05, the first Monday */
      {FEED_KLINE_1M, -1, -MIN},         /* floor, not truncation */
      {FEED_KLINE_1D, -DAY, -DAY},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t got = feed_interval_start(cases[i].interval, cases[i].ms);
    if (got != cases[i].start) fprintf(stderr, "alignment case %zu\n", i);
    CHECK_EQ_INT(got, cases[i].start);
  }
  static const char *names[] = {"1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"};
  static const int64_t lengths[] = {MIN, 5 * MIN, 15 * MIN, 30 * MIN, HOUR, 4 * HOUR, DAY, 7 * DAY};
  for (int i = 0; i < FEED_KLINE_COUNT; i++) {
    CHECK_EQ_STR(feed_interval_name((feed_interval)i), names[i]);
    CHECK_EQ_INT(feed_interval_ms((feed_interval)i), lengths[i]);
  }
  CHECK_EQ_STR(feed_interval_name(FEED_KLINE_COUNT), "?");
  CHECK_EQ_INT(feed_interval_ms(FEED_KLINE_COUNT), 0);
}

static void expect_candle(const feed_candle *c, int64_t t, int64_t o, int64_t h, int64_t l,
                          int64_t cl, int64_t v, int64_t q, uint64_t n, int line) {
  bool ok = c->open_ms == t && c->open == o && c->high == h && c->low == l && c->close == cl &&
            c->volume == v && c->quote_volume == q && c->count == n;
  if (!ok)
    fprintf(stderr,
            "line %d: candle t %" PRId64 " o %" PRId64 " h %" PRId64 " l %" PRId64 " c %" PRId64
            " v %" PRId64 " q %" PRId64 " n %" PRIu64 "\n",
            line, c->open_ms, c->open, c->high, c->low, c->close, c->volume, c->quote_volume,
            c->count);
  CHECK(ok);
}

#define CHANGED FEED_KLINE_CHANGED
#define CLOSED  FEED_KLINE_CLOSED

static void test_life(void) {
  feed_kline k;
  feed_kline_init(&k, FEED_KLINE_1M);
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY), 0); /* nothing before the first trade */
  CHECK(!k.active);

  CHECK(feed_kline_trade(&k, MONDAY + 10 * SEC, 100, 2, 200));
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 10 * SEC), CHANGED);
  expect_candle(&k.published, MONDAY, 100, 100, 100, 100, 2, 200, 1, __LINE__);
  CHECK(feed_kline_trade(&k, MONDAY + 20 * SEC, 105, 1, 105));
  CHECK(feed_kline_trade(&k, MONDAY + 30 * SEC, 95, 1, 95));
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 30 * SEC), CHANGED);
  expect_candle(&k.published, MONDAY, 100, 105, 95, 95, 4, 400, 3, __LINE__);
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 59 * SEC), 0);

  /* A tick crosses the end: closed, and an empty candle at the close. */
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 60 * SEC), CLOSED | CHANGED);
  expect_candle(&k.published_closed, MONDAY, 100, 105, 95, 95, 4, 400, 3, __LINE__);
  expect_candle(&k.published, MONDAY + MIN, 95, 95, 95, 95, 0, 0, 0, __LINE__);
  /* Its first trade opens it at its own price. */
  CHECK(feed_kline_trade(&k, MONDAY + 61 * SEC, 97, 1, 97));
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 61 * SEC), CHANGED);
  expect_candle(&k.published, MONDAY + MIN, 97, 97, 97, 97, 1, 97, 1, __LINE__);

  /* A trade crosses the end: the close waits for the end of period. */
  CHECK(!feed_kline_needs_flush(&k, MONDAY + 125 * SEC));
  CHECK(feed_kline_trade(&k, MONDAY + 125 * SEC, 98, 3, 294));
  /* A second close in the same period is refused, and changes nothing. */
  CHECK(feed_kline_needs_flush(&k, MONDAY + 185 * SEC));
  CHECK(!feed_kline_trade(&k, MONDAY + 185 * SEC, 1, 1, 1));
  CHECK(!feed_kline_needs_flush(&k, MONDAY + 179 * SEC));
  CHECK(feed_kline_trade(&k, MONDAY + 179 * SEC, 99, 1, 99));
  /* The period ends late (past minute 2 as well): minute 2 closes at the next one. */
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 181 * SEC), CLOSED | CHANGED);
  expect_candle(&k.published_closed, MONDAY + MIN, 97, 97, 97, 97, 1, 97, 1, __LINE__);
  expect_candle(&k.published, MONDAY + 2 * MIN, 98, 99, 98, 99, 4, 393, 2, __LINE__);
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 181 * SEC), CLOSED | CHANGED);
  expect_candle(&k.published_closed, MONDAY + 2 * MIN, 98, 99, 98, 99, 4, 393, 2, __LINE__);
  expect_candle(&k.published, MONDAY + 3 * MIN, 99, 99, 99, 99, 0, 0, 0, __LINE__);

  /* A pause: minutes 4..9 are never published; the candle holding now opens at the close. */
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 10 * MIN + 5 * SEC), CLOSED | CHANGED);
  expect_candle(&k.published_closed, MONDAY + 3 * MIN, 99, 99, 99, 99, 0, 0, 0, __LINE__);
  expect_candle(&k.published, MONDAY + 10 * MIN, 99, 99, 99, 99, 0, 0, 0, __LINE__);
  /* A trade stamped in the past counts at the latest time seen. */
  CHECK(feed_kline_trade(&k, MONDAY, 90, 1, 90));
  CHECK_EQ_INT(feed_kline_end_tick(&k, 0), CHANGED);
  expect_candle(&k.published, MONDAY + 10 * MIN, 90, 90, 90, 90, 1, 90, 1, __LINE__);
  /* Volumes saturate. */
  CHECK(feed_kline_trade(&k, 0, 90, INT64_MAX, INT64_MAX));
  CHECK_EQ_INT(feed_kline_end_tick(&k, 0), CHANGED);
  expect_candle(&k.published, MONDAY + 10 * MIN, 90, 90, 90, 90, INT64_MAX, INT64_MAX, 2, __LINE__);

  /* Weeks: a trade on Sunday night, a tick on Monday 00:00. */
  feed_kline_init(&k, FEED_KLINE_1W);
  CHECK(feed_kline_trade(&k, MONDAY + 7 * DAY - 1, 50, 1, 50));
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 7 * DAY - 1), CHANGED);
  expect_candle(&k.published, MONDAY, 50, 50, 50, 50, 1, 50, 1, __LINE__);
  CHECK_EQ_INT(feed_kline_end_tick(&k, MONDAY + 7 * DAY), CLOSED | CHANGED);
  expect_candle(&k.published, MONDAY + 7 * DAY, 50, 50, 50, 50, 0, 0, 0, __LINE__);
}

/* ------------------------------------------------------------------------ */
/* Random trades through the aggregate, against candles from the list       */

#define MAX_TRADES 40000

typedef struct model_trade {
  int64_t time; /* effective */
  int64_t price, qty, quote;
} model_trade;

static model_trade trades[MAX_TRADES];
static size_t ntrades;

static int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Start of the interval holding ms, computed independently of feed_interval_start. */
static int64_t model_start(int i, int64_t ms) {
  static const int64_t len[] = {MIN, 5 * MIN, 15 * MIN, 30 * MIN, HOUR, 4 * HOUR, DAY, 7 * DAY};
  if (i == FEED_KLINE_1W) return floor_div(ms - 4 * DAY, 7 * DAY) * 7 * DAY + 4 * DAY;
  return floor_div(ms, len[i]) * len[i];
}

/* Index of the first trade at or after time t (times are sorted). */
static size_t first_at(int64_t t) {
  size_t lo = 0, hi = ntrades;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (trades[mid].time < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The candle of [start, start + len) from the trades so far. */
static feed_candle model_candle(int64_t start, int64_t len) {
  feed_candle c = {.open_ms = start};
  size_t i = first_at(start), end = first_at(start + len);
  if (i == end) { /* no trade: at the previous close */
    if (i > 0) c.open = c.high = c.low = c.close = trades[i - 1].price;
    return c;
  }
  c.open = c.high = c.low = trades[i].price;
  for (; i < end; i++) {
    if (trades[i].price > c.high) c.high = trades[i].price;
    if (trades[i].price < c.low) c.low = trades[i].price;
    c.close = trades[i].price;
    c.volume += trades[i].qty;
    c.quote_volume += trades[i].quote;
    c.count++;
  }
  return c;
}

static bool candle_equal(const feed_candle *a, const feed_candle *b) {
  return memcmp(a, b, sizeof *a) == 0; /* all int64: no padding */
}

static uint64_t deferred; /* time closes that waited a period behind a trade's close */

typedef struct interval_state {
  int64_t last_closed; /* open_ms of the last closed candle, INT64_MIN before */
  size_t covered;      /* trades before this index are in published closed candles */
  uint64_t closes;
} interval_state;

static void check_period(const feed *f, interval_state *st, int64_t clock) {
  const feed_market *mk = feed_market_at(f, 0);
  uint32_t bits = feed_changed(f, 0);
  for (int i = 0; i < FEED_KLINE_COUNT; i++) {
    const feed_kline *k = &mk->klines[i];
    int64_t len = feed_interval_ms((feed_interval)i);
    bool closed = (bits & FEED_CHANGED_KLINE_CLOSED(i)) != 0;
    if (closed) {
      const feed_candle *c = &k->published_closed;
      feed_candle want = model_candle(c->open_ms, len);
      CHECK(candle_equal(c, &want));
      CHECK(c->open_ms == model_start(i, c->open_ms));
      CHECK(c->open_ms > st[i].last_closed);
      /* No trade fell into an interval that was never published. */
      CHECK_EQ_INT(first_at(c->open_ms), st[i].covered);
      st[i].covered = first_at(c->open_ms + len);
      st[i].last_closed = c->open_ms;
      st[i].closes++;
    }
    CHECK_EQ_INT(k->published_active, ntrades > 0);
    if (!k->published_active) continue;
    /* The current candle, whether flagged or not, is the model's for its interval. */
    const feed_candle *c = &k->published;
    feed_candle want = model_candle(c->open_ms, len);
    CHECK(candle_equal(c, &want));
    CHECK_EQ_INT(first_at(c->open_ms), st[i].covered);
    /* It holds the clock, unless a trade closed a candle in this period (the time close waits). */
    bool holds = c->open_ms == model_start(i, clock);
    CHECK(holds || (closed && c->open_ms < model_start(i, clock)));
    if (!holds) deferred++;
  }
}

static uint64_t rng;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void run(uint64_t seed, size_t count) {
  rng = seed * 0x9e3779b97f4a7c15ull + 3;
  static config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.asset_count = 2;
  snprintf(cfg.assets[0].name, sizeof cfg.assets[0].name, "ETH");
  snprintf(cfg.assets[1].name, sizeof cfg.assets[1].name, "USDT");
  cfg.market_count = 1;
  snprintf(cfg.markets[0].name, sizeof cfg.markets[0].name, "ETHUSDT");
  cfg.markets[0].base = 0, cfg.markets[0].quote = 1, cfg.markets[0].tick = 1;
  cfg.markets[0].lot = 1, cfg.markets[0].lot_units = 1, cfg.markets[0].notional_unit = 1;
  char err[128];
  feed *f = feed_create(&cfg, &(feed_limits){.max_levels = 4}, err, sizeof err);
  CHECK(f != NULL);
  if (!f) return;
  interval_state st[FEED_KLINE_COUNT];
  for (int i = 0; i < FEED_KLINE_COUNT; i++) st[i] = (interval_state){INT64_MIN, 0, 0};
  ntrades = 0;
  deferred = 0;
  int64_t now = MONDAY - 3 * DAY + 12345, clock = INT64_MIN;
  size_t flushes = 0, ticks = 0;
  while (ntrades < count) {
    uint64_t r = rnd() % 1000;
    now += r < 700   ? (int64_t)(rnd() % (2 * SEC))
           : r < 990 ? (int64_t)(rnd() % (10 * MIN))
                     : (int64_t)(rnd() % (3 * DAY));
    if (rnd() % 3 == 0) {
      feed_tick(f, now);
      ticks++;
      if (now > clock) clock = now;
      check_period(f, st, clock);
      continue;
    }
    int64_t ts = now - (rnd() % 8 == 0 ? (int64_t)(rnd() % (5 * SEC)) : 0);
    feed_trade t = {.market = 0,
                    .trade_id = ntrades + 1,
                    .price = 500 + (int64_t)(rnd() % 100),
                    .qty = 1 + (int64_t)(rnd() % 9),
                    .ts_ms = ts};
    t.quote = t.price * t.qty;
    feed_status s = feed_apply_trade(f, &t);
    if (s == FEED_FLUSH) {
      flushes++;
      feed_end_tick(f, 0, clock);
      check_period(f, st, clock);
      s = feed_apply_trade(f, &t);
    }
    CHECK_EQ_INT(s, FEED_OK);
    if (ts > clock) clock = ts;
    trades[ntrades++] = (model_trade){clock, t.price, t.qty, t.quote};
  }
  printf("kline seed %" PRIu64 ": %zu trades over %.1f days, %zu ticks, %zu flushes, closes", seed,
         ntrades, (double)(clock - trades[0].time) / DAY, ticks, flushes);
  for (int i = 0; i < FEED_KLINE_COUNT; i++) printf(" %" PRIu64, st[i].closes);
  printf(", %" PRIu64 " deferred\n", deferred);
  CHECK(flushes > 0 && st[FEED_KLINE_1W].closes > 1);
  feed_destroy(f);
}

int main(void) {
  test_alignment();
  test_life();
  size_t count = 30000;
  /* Fast enough to run at full size under the sanitizers too. */
  for (uint64_t seed = 1; seed <= 3; seed++) run(seed, count);
  return check_report("feed_kline");
}
