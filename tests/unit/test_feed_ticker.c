/*
 * test_feed_ticker.c: the rolling 24 h ticker. Table-driven cases for the
 * window's edges (a trade leaving exactly at its 1440th minute, an empty
 * window, times going backwards, high/low held by an expiring minute) and
 * change_pct's rounding; then a seeded random trade list through the feed
 * aggregate (feed_apply_trade + feed_tick) whose published ticker must equal,
 * at every tick, values computed here from the whole trade list with plain
 * integer arithmetic (the window filter applied to every trade, no buckets),
 * and whose @trades must be exactly the trades of each period.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bourse/feed.h"
#include "check.h"

#define MIN_MS INT64_C(60000)
#define T0     INT64_C(1700000000000) /* 2023-11-14T22:13:20Z: mid-minute (20 s in) */

static void expect(const feed_ticker *t, int64_t last, int64_t open, int64_t high, int64_t low,
                   int64_t volume, int64_t quote, uint64_t count, int line) {
  feed_ticker_values v;
  feed_ticker_get(t, &v);
  if (v.last != last || v.open != open || v.high != high || v.low != low || v.volume != volume ||
      v.quote_volume != quote || v.count != count)
    fprintf(stderr,
            "line %d: got last %" PRId64 " open %" PRId64 " high %" PRId64 " low %" PRId64
            " vol %" PRId64 " quote %" PRId64 " count %" PRIu64 "\n",
            line, v.last, v.open, v.high, v.low, v.volume, v.quote_volume, v.count);
  CHECK_EQ_INT(v.last, last);
  CHECK_EQ_INT(v.open, open);
  CHECK_EQ_INT(v.high, high);
  CHECK_EQ_INT(v.low, low);
  CHECK_EQ_INT(v.volume, volume);
  CHECK_EQ_INT(v.quote_volume, quote);
  CHECK_EQ_INT(v.count, count);
  CHECK_EQ_INT(v.change, last - open);
}

static void test_window_edges(void) {
  static feed_ticker t;
  feed_ticker_init(&t);
  expect(&t, 0, 0, 0, 0, 0, 0, 0, __LINE__); /* empty: every field 0 */
  int64_t m0 = (T0 / MIN_MS) * MIN_MS;       /* start of T0's minute */
  feed_ticker_trade(&t, T0, 100, 2, 200);
  feed_ticker_trade(&t, T0 + 1000, 90, 1, 90);
  feed_ticker_trade(&t, m0 + 5 * MIN_MS, 120, 3, 360);
  feed_ticker_trade(&t, m0 + 6 * MIN_MS, 110, 1, 110);
  expect(&t, 110, 100, 120, 90, 7, 760, 4, __LINE__);

  /* Minute m0 is in the window while now's minute < m0's + 1440. */
  feed_ticker_roll(&t, m0 + 1440 * MIN_MS - 1);
  expect(&t, 110, 100, 120, 90, 7, 760, 4, __LINE__);
  feed_ticker_roll(&t, m0 + 1440 * MIN_MS); /* m0 leaves: it held the open and the low */
  expect(&t, 110, 120, 120, 110, 4, 470, 2, __LINE__);
  /* Earlier times change nothing (the clock never goes back). */
  feed_ticker_roll(&t, T0);
  expect(&t, 110, 120, 120, 110, 4, 470, 2, __LINE__);
  /* A trade stamped in the past counts now: at minute m0 + 1440. */
  feed_ticker_trade(&t, T0, 80, 5, 400);
  expect(&t, 80, 120, 120, 80, 9, 870, 3, __LINE__);
  feed_ticker_roll(&t, m0 + 1445 * MIN_MS); /* m0+5 leaves: it held the high */
  expect(&t, 80, 110, 110, 80, 6, 510, 2, __LINE__);
  feed_ticker_roll(&t, m0 + (1440 + 1439) * MIN_MS);
  expect(&t, 80, 80, 80, 80, 5, 400, 1, __LINE__);
  feed_ticker_roll(&t, m0 + 2880 * MIN_MS); /* the last one leaves: empty */
  expect(&t, 0, 0, 0, 0, 0, 0, 0, __LINE__);
  /* And it starts again, after a long silence, in a slot used before. */
  feed_ticker_trade(&t, m0 + 100000 * MIN_MS, 7, 1, 7);
  expect(&t, 7, 7, 7, 7, 1, 7, 1, __LINE__);
  feed_ticker_trade(&t, m0 + 100000 * MIN_MS + 1, 9, 1, 9);
  expect(&t, 9, 7, 9, 7, 2, 16, 2, __LINE__);

  /* A minute's volume saturates instead of wrapping; the window follows. */
  feed_ticker_init(&t);
  feed_ticker_trade(&t, T0, 5, INT64_MAX - 1, 1);
  feed_ticker_trade(&t, T0, 5, 10, 1);
  expect(&t, 5, 5, 5, 5, INT64_MAX, 2, 2, __LINE__);
  feed_ticker_trade(&t, T0 + MIN_MS, 5, 10, 1);
  expect(&t, 5, 5, 5, 5, INT64_MAX, 3, 3, __LINE__); /* the window's sum is clamped */
  feed_ticker_roll(&t, T0 + 1440 * MIN_MS);
  expect(&t, 5, 5, 5, 5, 10, 1, 1, __LINE__); /* and exact again once the big minute left */
}

static void test_change_pct(void) {
  static const struct {
    int64_t open, last, want;
  } cases[] = {
      {100, 100, 0},
      {100, 101, 100},
      {100, 99, -100},
      {8, 9, 1250},
      {3, 4, 3333},
      {3, 2, -3333},
      {3, 5, 6667},
      {3, 1, -6667},
      {20000, 20001, 1},
      {20000, 19999, -1}, /* exactly .5: away from zero */
      {40000, 40001, 0},
      {40000, 39999, 0}, /* .25 */
      {40000, 40003, 1},
      {40000, 39997, -1},        /* .75 */
      {1, 1000000, 9999990000},  /* a millionfold rise */
      {INT64_MAX, 1, -10000},    /* -99.99999...% rounds to -100.00 */
      {1, INT64_MAX, INT64_MAX}, /* clamps instead of wrapping */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    static feed_ticker t;
    feed_ticker_init(&t);
    feed_ticker_trade(&t, T0, cases[i].open, 1, 1);
    feed_ticker_trade(&t, T0, cases[i].last, 1, 1);
    feed_ticker_values v;
    feed_ticker_get(&t, &v);
    if (v.change_pct != cases[i].want) fprintf(stderr, "change_pct case %zu\n", i);
    CHECK_EQ_INT(v.change_pct, cases[i].want);
  }
}

/* ------------------------------------------------------------------------ */
/* Random trades through the aggregate, against a recount from the list     */

#define MAX_TRADES 40000

typedef struct model_trade {
  int64_t time; /* effective: max(ts, every earlier time seen) */
  int64_t price, qty, quote;
} model_trade;

static model_trade trades[MAX_TRADES];
static feed_trade pending[MAX_TRADES]; /* trades of the current period, as applied */

static int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The window's values from the trade list; lo: first trade possibly in it (times only grow). */
static void recount(size_t lo, size_t n, int64_t clock, feed_ticker_values *v) {
  memset(v, 0, sizeof *v);
  int64_t first_minute = floor_div(clock, MIN_MS) - 1439;
  for (size_t i = lo; i < n; i++) {
    const model_trade *t = &trades[i];
    if (floor_div(t->time, MIN_MS) < first_minute) continue;
    if (v->count == 0) v->open = v->high = v->low = t->price;
    if (t->price > v->high) v->high = t->price;
    if (t->price < v->low) v->low = t->price;
    v->last = t->price;
    v->volume += t->qty;
    v->quote_volume += t->quote;
    v->count++;
  }
  if (v->count == 0) return;
  v->change = v->last - v->open;
  /* change_pct by long division on magnitudes, rounded half up, then signed. */
  int64_t mag = v->change < 0 ? -v->change : v->change;
  int64_t q = mag * 10000 / v->open, r = mag * 10000 % v->open;
  if (2 * r >= v->open) q++;
  v->change_pct = v->change < 0 ? -q : q;
}

typedef struct run_state {
  feed *f;
  const feed_market *mk;
  uint64_t seed;
  size_t n, lo, npending;
  int64_t clock;
} run_state;

/* After an end of period: @trades and the ticker against the model. */
static void check_period(run_state *rs) {
  const feed_market *mk = rs->mk;
  uint32_t bits = feed_changed(rs->f, 0);
  CHECK_EQ_INT((bits & FEED_CHANGED(FEED_CHANNEL_TRADES)) != 0, rs->npending > 0);
  CHECK_EQ_INT(mk->published_trade_count, rs->npending);
  if (mk->published_trade_count == rs->npending)
    CHECK(memcmp(mk->published_trades, pending, rs->npending * sizeof(feed_trade)) == 0);
  rs->npending = 0;
  int64_t first_minute = floor_div(rs->clock, MIN_MS) - 1439;
  while (rs->lo < rs->n && floor_div(trades[rs->lo].time, MIN_MS) < first_minute) rs->lo++;
  feed_ticker_values want;
  recount(rs->lo, rs->n, rs->clock, &want);
  const feed_ticker_values *got = &mk->ticker_values;
  bool same = got->last == want.last && got->open == want.open && got->high == want.high &&
              got->low == want.low && got->volume == want.volume &&
              got->quote_volume == want.quote_volume && got->count == want.count &&
              got->change == want.change && got->change_pct == want.change_pct && got->bid == 99 &&
              got->bid_qty == 4 && got->ask == 0 && got->ask_qty == 0;
  if (!same)
    fprintf(stderr,
            "seed %" PRIu64 " trade %zu: ticker differs (count %" PRIu64 " vs %" PRIu64
            ", open %" PRId64 " vs %" PRId64 ", high %" PRId64 " vs %" PRId64 ")\n",
            rs->seed, rs->n, got->count, want.count, got->open, want.open, got->high, want.high);
  CHECK(same);
}

static uint64_t rng;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void run(uint64_t seed, size_t count, uint32_t max_tick_trades) {
  rng = seed * 0x9e3779b97f4a7c15ull + 7;
  static config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.asset_count = 2;
  snprintf(cfg.assets[0].name, sizeof cfg.assets[0].name, "BTC");
  snprintf(cfg.assets[1].name, sizeof cfg.assets[1].name, "USDT");
  cfg.assets[1].decimals = 2;
  cfg.market_count = 1;
  snprintf(cfg.markets[0].name, sizeof cfg.markets[0].name, "BTCUSDT");
  cfg.markets[0].base = 0, cfg.markets[0].quote = 1;
  cfg.markets[0].tick = 1, cfg.markets[0].lot = 1, cfg.markets[0].lot_units = 1;
  cfg.markets[0].notional_unit = 1;
  char err[128];
  feed *f = feed_create(&cfg, &(feed_limits){.max_levels = 16, .max_tick_trades = max_tick_trades},
                        err, sizeof err);
  CHECK(f != NULL);
  if (!f) return;
  run_state rs = {.f = f, .mk = feed_market_at(f, 0), .seed = seed, .clock = INT64_MIN};
  int64_t now = T0;
  size_t ticks = 0, flushes = 0;
  uint64_t id = 0;
  /* A ticker with a book: bid/ask must follow it. */
  CHECK_EQ_INT(feed_apply_level(
                   f, &(feed_level){.market = 0, .side = 0, .price = 99, .qty = 4, .update_id = 1}),
               FEED_OK);
  while (rs.n < count) {
    /* Time moves by a few ms mostly, sometimes by minutes, and now and then by over a day. */
    uint64_t r = rnd() % 1000;
    now += r < 900   ? (int64_t)(rnd() % 40)
           : r < 995 ? (int64_t)(rnd() % (20 * MIN_MS))
                     : (int64_t)(rnd() % (3000 * MIN_MS));
    if (rnd() % 4 == 0) { /* a tick publishes the period */
      feed_tick(f, now);
      ticks++;
      if (now > rs.clock) rs.clock = now;
      check_period(&rs);
      continue;
    }
    /* A trade stamped up to 2 s in the past now and then (io threads' clocks differ). */
    int64_t ts = now - (rnd() % 10 == 0 ? (int64_t)(rnd() % 2000) : 0);
    feed_trade t = {.market = 0,
                    .taker_side = (uint8_t)(rnd() % 2),
                    .trade_id = ++id,
                    .price = 1000 + (int64_t)(rnd() % 200) - 100,
                    .qty = 1 + (int64_t)(rnd() % 50),
                    .ts_ms = ts};
    t.quote = t.price * t.qty;
    feed_status st = feed_apply_trade(f, &t);
    if (st == FEED_FLUSH) { /* end the period early (at the latest time seen), then retry */
      flushes++;
      feed_end_tick(f, 0, rs.clock);
      check_period(&rs);
      st = feed_apply_trade(f, &t);
    }
    CHECK_EQ_INT(st, FEED_OK);
    if (ts > rs.clock) rs.clock = ts;
    trades[rs.n++] = (model_trade){rs.clock, t.price, t.qty, t.quote};
    pending[rs.npending++] = t;
  }
  printf("ticker seed %" PRIu64 ": %zu trades, %zu ticks, %zu flushes\n", seed, rs.n, ticks,
         flushes);
  CHECK(ticks > 0);
  if (max_tick_trades < 64) CHECK(flushes > 0);
  feed_destroy(f);
}

int main(void) {
  test_window_edges();
  test_change_pct();
  size_t count = 30000;
  /* Fast enough to run at full size under the sanitizers too. */
  for (uint64_t seed = 1; seed <= 3; seed++) {
    run(seed, count, 0);
    run(seed + 10, count, 5);
  }
  return check_report("feed_ticker");
}
