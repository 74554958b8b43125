/*
 * test_feed_json.c: the public channels' messages, byte for byte, from a
 * small scripted market (exact decimals with a non-unit tick and lot, a
 * negative change, a closed candle, !tickers after an early end of period),
 * plus channel names, the aggregate's argument checks and buffer limits.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bourse/feed.h"
#include "check.h"

#define MONDAY INT64_C(1704067200000) /* 2024-01-01T00:00:00Z */

static config cfg;

static void make_config(void) {
  memset(&cfg, 0, sizeof cfg);
  cfg.asset_count = 3;
  snprintf(cfg.assets[0].name, sizeof cfg.assets[0].name, "BTC");
  cfg.assets[0].decimals = 8;
  snprintf(cfg.assets[1].name, sizeof cfg.assets[1].name, "USDT");
  cfg.assets[1].decimals = 6;
  snprintf(cfg.assets[2].name, sizeof cfg.assets[2].name, "ETH");
  cfg.assets[2].decimals = 8;
  cfg.market_count = 2;
  /* BTCUSDT: tick 0.05, lot 0.001 BTC; one tick x one lot = 0.00005 USDT = 50 units. */
  config_market *m = &cfg.markets[0];
  snprintf(m->name, sizeof m->name, "BTCUSDT");
  m->base = 0, m->quote = 1, m->price_scale = 2, m->tick = 5, m->qty_scale = 4, m->lot = 10;
  m->lot_units = 100000, m->notional_unit = 50;
  m = &cfg.markets[1];
  snprintf(m->name, sizeof m->name, "ETHBTC");
  m->base = 2, m->quote = 0, m->price_scale = 5, m->tick = 1, m->qty_scale = 3, m->lot = 1;
  m->lot_units = 100000, m->notional_unit = 1;
}

static char buf[65536];

/* Writes with fn's result into buf and compares with want. */
#define EXPECT_MSG(call, want)                                                                     \
  do {                                                                                             \
    size_t len_ = 0;                                                                               \
    feed_status st_ = (call);                                                                      \
    CHECK_EQ_INT(st_, FEED_OK);                                                                    \
    buf[st_ == FEED_OK ? len_ : 0] = '\0';                                                         \
    CHECK_EQ_STR(buf, want);                                                                       \
  } while (0)

#define LEN (&len_)

static feed_status trade(feed *f, unsigned market, uint64_t id, int64_t price, int64_t qty,
                         uint8_t side, int64_t ts) {
  int64_t unit = cfg.markets[market].notional_unit;
  return feed_apply_trade(f, &(feed_trade){.market = market,
                                           .taker_side = side,
                                           .trade_id = id,
                                           .price = price,
                                           .qty = qty,
                                           .quote = price * qty * unit,
                                           .ts_ms = ts});
}

static feed_status level(feed *f, unsigned market, uint8_t side, int64_t price, int64_t qty,
                         uint64_t id) {
  return feed_apply_level(
      f,
      &(feed_level){.market = market, .side = side, .price = price, .qty = qty, .update_id = id});
}

static void test_messages(void) {
  char err[128];
  feed *f = feed_create(&cfg, NULL, err, sizeof err);
  CHECK(f != NULL);
  if (!f) return;
  CHECK_EQ_INT(feed_get_limits(f)->snapshot_levels, 1000);
  CHECK_EQ_INT(feed_get_limits(f)->max_diff_levels, 4096);
  CHECK_EQ_INT(feed_market_count(f), 2);
  CHECK(feed_market_at(f, 2) == NULL);

  /* Before anything happened: nothing to publish. */
  feed_tick(f, MONDAY);
  CHECK_EQ_INT(feed_changed(f, 0), 0);
  CHECK(!feed_tickers_changed(f));
  size_t len;
  CHECK_EQ_INT(feed_write_depth(f, 0, MONDAY, buf, sizeof buf, &len), FEED_ERR_INVALID);
  EXPECT_MSG(feed_write_snapshot(f, 0, MONDAY, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@depth\",\"ts\":1704067200000,\"data\":{\"snapshot\":true,"
             "\"u\":0,\"bids\":[],\"asks\":[]}}");

  CHECK_EQ_INT(level(f, 0, 0, 1999990, 25, 1), FEED_OK);  /* 99999.5 x 0.025 */
  CHECK_EQ_INT(level(f, 0, 0, 1999980, 100, 2), FEED_OK); /* 99999 x 0.1 */
  CHECK_EQ_INT(level(f, 0, 1, 2000010, 5, 3), FEED_OK);   /* 100000.5 x 0.005 */
  CHECK_EQ_INT(trade(f, 0, 7, 2000010, 2, 0, MONDAY + 123), FEED_OK);
  CHECK_EQ_INT(level(f, 0, 1, 2000010, 3, 4), FEED_OK); /* the trade took 0.002 */
  int64_t ts = MONDAY + 200;
  feed_tick(f, ts);
  uint32_t all_klines = 0;
  for (int i = 0; i < FEED_KLINE_COUNT; i++) all_klines |= FEED_CHANGED_KLINE(i);
  CHECK_EQ_INT(feed_changed(f, 0),
               FEED_CHANGED(FEED_CHANNEL_DEPTH) | FEED_CHANGED(FEED_CHANNEL_DEPTH5) |
                   FEED_CHANGED(FEED_CHANNEL_DEPTH10) | FEED_CHANGED(FEED_CHANNEL_DEPTH20) |
                   FEED_CHANGED(FEED_CHANNEL_BBO) | FEED_CHANGED(FEED_CHANNEL_TRADES) |
                   FEED_CHANGED(FEED_CHANNEL_TICKER) | all_klines);
  CHECK_EQ_INT(feed_changed(f, 1), 0);
  CHECK_EQ_INT(feed_changed(f, 2), 0);
  CHECK(feed_tickers_changed(f));

  EXPECT_MSG(feed_write_depth(f, 0, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@depth\",\"ts\":1704067200200,\"data\":{\"U\":1,\"u\":4,"
             "\"bids\":[[\"99999.5\",\"0.025\"],[\"99999\",\"0.1\"]],"
             "\"asks\":[[\"100000.5\",\"0.003\"]]}}");
  EXPECT_MSG(feed_write_snapshot(f, 0, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@depth\",\"ts\":1704067200200,\"data\":{\"snapshot\":true,"
             "\"u\":4,\"bids\":[[\"99999.5\",\"0.025\"],[\"99999\",\"0.1\"]],"
             "\"asks\":[[\"100000.5\",\"0.003\"]]}}");
  EXPECT_MSG(feed_write_top(f, 0, FEED_CHANNEL_DEPTH5, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@depth5\",\"ts\":1704067200200,\"data\":{\"u\":4,"
             "\"bids\":[[\"99999.5\",\"0.025\"],[\"99999\",\"0.1\"]],"
             "\"asks\":[[\"100000.5\",\"0.003\"]]}}");
  EXPECT_MSG(feed_write_top(f, 0, FEED_CHANNEL_DEPTH20, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@depth20\",\"ts\":1704067200200,\"data\":{\"u\":4,"
             "\"bids\":[[\"99999.5\",\"0.025\"],[\"99999\",\"0.1\"]],"
             "\"asks\":[[\"100000.5\",\"0.003\"]]}}");
  EXPECT_MSG(feed_write_trades(f, 0, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@trades\",\"ts\":1704067200200,\"data\":[{\"id\":7,"
             "\"price\":\"100000.5\",\"qty\":\"0.002\",\"side\":\"buy\",\"ts\":1704067200123}]}");
  EXPECT_MSG(feed_write_ticker(f, 0, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@ticker\",\"ts\":1704067200200,\"data\":{\"last\":\"100000.5\","
             "\"open\":\"100000.5\",\"high\":\"100000.5\",\"low\":\"100000.5\",\"volume\":"
             "\"0.002\",\"quote_volume\":\"200.001\",\"change\":\"0\",\"change_pct\":\"0.00\","
             "\"bid\":\"99999.5\",\"bid_qty\":\"0.025\",\"ask\":\"100000.5\",\"ask_qty\":"
             "\"0.003\",\"count\":1}}");
  EXPECT_MSG(feed_write_kline(f, 0, FEED_KLINE_1W, false, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@kline_1w\",\"ts\":1704067200200,\"data\":{\"t\":1704067200000,"
             "\"o\":\"100000.5\",\"h\":\"100000.5\",\"l\":\"100000.5\",\"c\":\"100000.5\","
             "\"v\":\"0.002\",\"q\":\"200.001\",\"n\":1,\"closed\":false}}");
  EXPECT_MSG(feed_write_bbo(f, 0, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@bbo\",\"ts\":1704067200200,\"data\":{\"u\":4,\"bid\":"
             "\"99999.5\",\"bid_qty\":\"0.025\",\"ask\":\"100000.5\",\"ask_qty\":\"0.003\"}}");
  EXPECT_MSG(feed_write_tickers(f, ts, buf, sizeof buf, LEN),
             "{\"event\":\"!tickers\",\"ts\":1704067200200,\"data\":[{\"market\":\"BTCUSDT\","
             "\"last\":\"100000.5\",\"open\":\"100000.5\",\"high\":\"100000.5\",\"low\":"
             "\"100000.5\",\"volume\":\"0.002\",\"quote_volume\":\"200.001\",\"change\":\"0\","
             "\"change_pct\":\"0.00\",\"bid\":\"99999.5\",\"bid_qty\":\"0.025\",\"ask\":"
             "\"100000.5\",\"ask_qty\":\"0.003\",\"count\":1}]}");

  /* A sell sweeps the bids at 95000 a minute later: negative change, the 1m candle closes. */
  CHECK_EQ_INT(level(f, 0, 0, 1999990, 0, 5), FEED_OK);
  CHECK_EQ_INT(level(f, 0, 0, 1999980, 0, 6), FEED_OK);
  CHECK_EQ_INT(trade(f, 0, 8, 1900000, 1000, 1, MONDAY + 60500), FEED_OK);
  ts = MONDAY + 60600;
  feed_tick(f, ts);
  uint32_t bits = feed_changed(f, 0);
  CHECK(bits & FEED_CHANGED_KLINE_CLOSED(FEED_KLINE_1M));
  CHECK(!(bits & FEED_CHANGED_KLINE_CLOSED(FEED_KLINE_5M)));
  CHECK(bits & FEED_CHANGED(FEED_CHANNEL_BBO));
  EXPECT_MSG(feed_write_depth(f, 0, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@depth\",\"ts\":1704067260600,\"data\":{\"U\":5,\"u\":6,"
             "\"bids\":[[\"99999.5\",\"0\"],[\"99999\",\"0\"]],\"asks\":[]}}");
  EXPECT_MSG(feed_write_kline(f, 0, FEED_KLINE_1M, true, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@kline_1m\",\"ts\":1704067260600,\"data\":{\"t\":1704067200000,"
             "\"o\":\"100000.5\",\"h\":\"100000.5\",\"l\":\"100000.5\",\"c\":\"100000.5\","
             "\"v\":\"0.002\",\"q\":\"200.001\",\"n\":1,\"closed\":true}}");
  EXPECT_MSG(feed_write_kline(f, 0, FEED_KLINE_1M, false, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@kline_1m\",\"ts\":1704067260600,\"data\":{\"t\":1704067260000,"
             "\"o\":\"95000\",\"h\":\"95000\",\"l\":\"95000\",\"c\":\"95000\","
             "\"v\":\"1\",\"q\":\"95000\",\"n\":1,\"closed\":false}}");
  /* change = 95000 - 100000.5; change_pct = -5000.5 / 100000.5 = -4.99997...% -> -5.00. */
  EXPECT_MSG(feed_write_ticker(f, 0, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@ticker\",\"ts\":1704067260600,\"data\":{\"last\":\"95000\","
             "\"open\":\"100000.5\",\"high\":\"100000.5\",\"low\":\"95000\",\"volume\":"
             "\"1.002\",\"quote_volume\":\"95200.001\",\"change\":\"-5000.5\",\"change_pct\":"
             "\"-5.00\",\"bid\":\"0\",\"bid_qty\":\"0\",\"ask\":\"100000.5\",\"ask_qty\":"
             "\"0.003\",\"count\":2}}");
  EXPECT_MSG(feed_write_bbo(f, 0, ts, buf, sizeof buf, LEN),
             "{\"event\":\"BTCUSDT@bbo\",\"ts\":1704067260600,\"data\":{\"u\":6,\"bid\":\"0\","
             "\"bid_qty\":\"0\",\"ask\":\"100000.5\",\"ask_qty\":\"0.003\"}}");

  /* Only ETHBTC changes: !tickers holds it alone; BTCUSDT publishes nothing. */
  CHECK_EQ_INT(level(f, 1, 1, 5432, 1500, 1), FEED_OK);
  feed_tick(f, ts + 50);
  CHECK_EQ_INT(feed_changed(f, 0), 0);
  CHECK(feed_tickers_changed(f));
  EXPECT_MSG(feed_write_tickers(f, ts + 50, buf, sizeof buf, LEN),
             "{\"event\":\"!tickers\",\"ts\":1704067260650,\"data\":[{\"market\":\"ETHBTC\","
             "\"last\":\"0\",\"open\":\"0\",\"high\":\"0\",\"low\":\"0\",\"volume\":\"0\","
             "\"quote_volume\":\"0\",\"change\":\"0\",\"change_pct\":\"0.00\",\"bid\":\"0\","
             "\"bid_qty\":\"0\",\"ask\":\"0.05432\",\"ask_qty\":\"1.5\",\"count\":0}]}");
  EXPECT_MSG(feed_write_top(f, 1, FEED_CHANNEL_DEPTH10, ts + 50, buf, sizeof buf, LEN),
             "{\"event\":\"ETHBTC@depth10\",\"ts\":1704067260650,\"data\":{\"u\":1,"
             "\"bids\":[],\"asks\":[[\"0.05432\",\"1.5\"]]}}");
  feed_tick(f, ts + 100);
  CHECK(!feed_tickers_changed(f));

  /* Buffers: exactly the length fits, one byte less does not. */
  CHECK_EQ_INT(feed_write_snapshot(f, 1, ts, buf, sizeof buf, &len), FEED_OK);
  size_t need = len;
  CHECK_EQ_INT(feed_write_snapshot(f, 1, ts, buf, need, &len), FEED_OK);
  CHECK_EQ_INT(len, need);
  CHECK_EQ_INT(feed_write_snapshot(f, 1, ts, buf, need - 1, &len), FEED_ERR_NO_SPACE);
  CHECK_EQ_INT(feed_write_ticker(f, 0, ts, buf, 10, &len), FEED_ERR_NO_SPACE);

  /* Arguments out of range. */
  CHECK_EQ_INT(feed_write_ticker(f, 2, ts, buf, sizeof buf, &len), FEED_ERR_INVALID);
  CHECK_EQ_INT(feed_write_top(f, 0, FEED_CHANNEL_TRADES, ts, buf, sizeof buf, &len),
               FEED_ERR_INVALID);
  CHECK_EQ_INT(feed_write_kline(f, 0, FEED_KLINE_COUNT, false, ts, buf, sizeof buf, &len),
               FEED_ERR_INVALID);
  CHECK_EQ_INT(feed_end_tick(f, 2, ts), 0);
  CHECK(!feed_bbo_take(f, 2));
  feed_destroy(f);
}

static void test_statuses(void) {
  char err[128];
  feed *f = feed_create(&cfg, &(feed_limits){.max_tick_trades = 1}, err, sizeof err);
  CHECK(f != NULL);
  if (!f) return;
  /* Trades: every invalid field, and the event type switch. */
  CHECK_EQ_INT(trade(f, 2, 1, 100, 1, 0, MONDAY), FEED_ERR_INVALID);
  CHECK_EQ_INT(trade(f, 0, 1, 0, 1, 0, MONDAY), FEED_ERR_INVALID);
  CHECK_EQ_INT(trade(f, 0, 1, 100, 0, 0, MONDAY), FEED_ERR_INVALID);
  CHECK_EQ_INT(trade(f, 0, 1, 100, 1, 2, MONDAY), FEED_ERR_INVALID);
  CHECK_EQ_INT(trade(f, 0, 1, 100, 1, 0, -1), FEED_ERR_INVALID);
  CHECK_EQ_INT(feed_apply_trade(f, &(feed_trade){.market = 0, .price = 1, .qty = 1, .quote = -1}),
               FEED_ERR_INVALID);
  CHECK_EQ_INT(level(f, 2, 0, 100, 1, 1), FEED_ERR_INVALID);
  feed_event ev = {.type = 9};
  CHECK_EQ_INT(feed_apply(f, &ev), FEED_ERR_INVALID);
  ev = (feed_event){.type = FEED_EVENT_LEVEL,
                    .u.level = {.market = 1, .side = 0, .price = 10, .qty = 1, .update_id = 1}};
  CHECK_EQ_INT(feed_apply(f, &ev), FEED_OK);
  CHECK_EQ_INT(feed_apply(f, &ev), FEED_ERR_STALE);
  ev = (feed_event){.type = FEED_EVENT_TRADE,
                    .u.trade = {.market = 0, .price = 10, .qty = 1, .quote = 10, .ts_ms = MONDAY}};
  CHECK_EQ_INT(feed_apply(f, &ev), FEED_OK);

  /* One trade per period: the second asks for an early end; the ticker it publishes then goes
   * into the next !tickers although the tick itself changes nothing. */
  ev.u.trade.trade_id = 2;
  CHECK_EQ_INT(feed_apply(f, &ev), FEED_FLUSH);
  uint32_t bits = feed_end_tick(f, 0, MONDAY);
  CHECK(bits & FEED_CHANGED(FEED_CHANNEL_TICKER));
  CHECK(bits & FEED_CHANGED(FEED_CHANNEL_TRADES));
  feed_tick(f, MONDAY + 1);
  CHECK_EQ_INT(feed_changed(f, 0), 0);
  CHECK(feed_tickers_changed(f));
  size_t len;
  CHECK_EQ_INT(feed_write_tickers(f, MONDAY, buf, sizeof buf, &len), FEED_OK);
  buf[len] = '\0';
  CHECK(strstr(buf, "\"market\":\"BTCUSDT\"") != NULL);
  CHECK(strstr(buf, "ETHBTC") != NULL); /* its book changed in the same tick */
  feed_tick(f, MONDAY + 2);
  CHECK(!feed_tickers_changed(f));
  CHECK_EQ_INT(feed_write_tickers(f, MONDAY, buf, sizeof buf, &len), FEED_OK);
  buf[len] = '\0';
  CHECK_EQ_STR(buf, "{\"event\":\"!tickers\",\"ts\":1704067200000,\"data\":[]}");
  CHECK_EQ_INT(feed_apply(f, &ev), FEED_OK); /* the retry */
  feed_destroy(f);
  feed_destroy(NULL);

  for (int s = FEED_OK; s <= FEED_ERR_NO_SPACE; s++)
    CHECK(strlen(feed_status_text((feed_status)s)) > 0);
  CHECK_EQ_STR(feed_status_text((feed_status)99), "unknown feed status");

  config bad = cfg;
  bad.markets[1].quote = 7;
  CHECK(feed_create(&bad, NULL, err, sizeof err) == NULL);
  CHECK(strstr(err, "ETHBTC") != NULL);
}

static void test_channel_names(void) {
  static const struct {
    unsigned market;
    feed_channel channel;
    const char *name;
  } names[] = {
      {0, FEED_CHANNEL_DEPTH, "BTCUSDT@depth"},
      {0, FEED_CHANNEL_DEPTH5, "BTCUSDT@depth5"},
      {0, FEED_CHANNEL_DEPTH10, "BTCUSDT@depth10"},
      {1, FEED_CHANNEL_DEPTH20, "ETHBTC@depth20"},
      {1, FEED_CHANNEL_TRADES, "ETHBTC@trades"},
      {1, FEED_CHANNEL_TICKER, "ETHBTC@ticker"},
      {0, FEED_CHANNEL_BBO, "BTCUSDT@bbo"},
      {0, FEED_CHANNEL_KLINE + FEED_KLINE_1M, "BTCUSDT@kline_1m"},
      {0, FEED_CHANNEL_KLINE + FEED_KLINE_15M, "BTCUSDT@kline_15m"},
      {1, FEED_CHANNEL_KLINE + FEED_KLINE_4H, "ETHBTC@kline_4h"},
      {1, FEED_CHANNEL_KLINE + FEED_KLINE_1W, "ETHBTC@kline_1w"},
      {0, FEED_CHANNEL_TICKERS, "!tickers"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char name[FEED_CHANNEL_NAME_MAX];
    size_t len = feed_channel_name(&cfg, names[i].market, names[i].channel, name);
    CHECK_EQ_STR(name, names[i].name);
    CHECK_EQ_INT(len, strlen(names[i].name));
    unsigned market = 99;
    feed_channel channel = FEED_CHANNEL_COUNT;
    CHECK(feed_channel_parse(&cfg, names[i].name, len, &market, &channel));
    CHECK_EQ_INT(market, names[i].market);
    CHECK_EQ_INT(channel, names[i].channel);
  }
  char name[FEED_CHANNEL_NAME_MAX];
  CHECK_EQ_INT(feed_channel_name(&cfg, 2, FEED_CHANNEL_DEPTH, name), 0);
  CHECK_EQ_INT(feed_channel_name(&cfg, 0, FEED_CHANNEL_COUNT, name), 0);
  /* The longest market name fits FEED_CHANNEL_NAME_MAX with the longest suffix. */
  config wide = cfg;
  memset(wide.markets[0].name, 'X', CONFIG_MARKET_NAME_MAX - 1);
  wide.markets[0].name[CONFIG_MARKET_NAME_MAX - 1] = '\0';
  CHECK_EQ_INT(feed_channel_name(&wide, 0, FEED_CHANNEL_KLINE + FEED_KLINE_15M, name),
               CONFIG_MARKET_NAME_MAX - 1 + strlen("@kline_15m"));

  unsigned market;
  feed_channel channel;
  CHECK(feed_channel_parse(&cfg, "btcusdt@trades", 14, &market, &channel));
  CHECK_EQ_INT(channel, FEED_CHANNEL_TRADES);
  static const char *bad[] = {"BTCUSDT@depth3", "BTCUSDT",  "XYZ@depth",        "@depth",
                              "BTCUSDT@",       "!ticker",  "BTCUSDT@kline_2m", "BTCUSDT@DEPTH",
                              "BTCUSDT@depth ", "!tickers!"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    bool ok = feed_channel_parse(&cfg, bad[i], strlen(bad[i]), &market, &channel);
    if (ok) fprintf(stderr, "parsed: %s\n", bad[i]);
    CHECK(!ok);
  }
  /* A length shorter than the string: only that prefix counts. */
  CHECK(feed_channel_parse(&cfg, "BTCUSDT@depth50", 14, &market, &channel));
  CHECK_EQ_INT(channel, FEED_CHANNEL_DEPTH5);
}

static void test_hundredths(void) {
  static const struct {
    int64_t v;
    const char *s;
  } cases[] = {
      {0, "0.00"},
      {5, "0.05"},
      {-5, "-0.05"},
      {10, "0.10"},
      {1234, "12.34"},
      {-100, "-1.00"},
      {-99, "-0.99"},
      {INT64_MAX, "92233720368547758.07"},
      {INT64_MIN, "-92233720368547758.08"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[24];
    size_t len = feed_format_hundredths(cases[i].v, out);
    CHECK_EQ_STR(out, cases[i].s);
    CHECK_EQ_INT(len, strlen(cases[i].s));
  }
}

/* The largest values every field can take: each message must fit feed_message_max. */
static void test_message_max(void) {
  static config big;
  big = cfg;
  for (int m = 0; m < 2; m++) {
    config_market *cm = &big.markets[m];
    memset(cm->name, 1, CONFIG_MARKET_NAME_MAX - 1); /* \u0001: 6 bytes each once escaped */
    cm->name[CONFIG_MARKET_NAME_MAX - 1] = '\0';
    cm->name[0] = (char)('A' + m);
    cm->price_scale = cm->qty_scale = 18;
    cm->tick = cm->lot = INT64_MAX;
  }
  big.assets[0].decimals = big.assets[1].decimals = 18;
  char err[128];
  feed *f = feed_create(
      &big, &(feed_limits){.max_diff_levels = 30, .max_tick_trades = 8, .snapshot_levels = 12}, err,
      sizeof err);
  CHECK(f != NULL);
  if (!f) return;
  int64_t ts = INT64_C(1) << 53, top = INT64_MAX;
  for (unsigned m = 0; m < 2; m++) {
    uint64_t id = 0;
    for (int64_t k = 0; k < 30; k++) {
      CHECK_EQ_INT(level(f, m, (uint8_t)(k % 2), top - k, top - k, ++id), FEED_OK);
    }
    for (int k = 0; k < 8; k++) {
      feed_trade t = {.market = m,
                      .taker_side = 1,
                      .trade_id = UINT64_MAX,
                      .price = k ? top : 1,
                      .qty = top,
                      .quote = top,
                      .ts_ms = ts};
      CHECK_EQ_INT(feed_apply_trade(f, &t), FEED_OK);
    }
  }
  feed_tick(f, ts);
  static char big_buf[1 << 20];
  for (unsigned m = 0; m < 2; m++) {
    for (int c = 0; c < FEED_CHANNEL_COUNT; c++) {
      feed_channel ch = (feed_channel)c;
      size_t max = feed_message_max(f, ch), len = 0;
      CHECK(max > 0 && max < sizeof big_buf);
      feed_status st;
      if (ch == FEED_CHANNEL_DEPTH) {
        CHECK_EQ_INT(feed_write_depth(f, m, ts, big_buf, max, &len), FEED_OK);
        CHECK(len <= max && len > 30 * 80);
        st = feed_write_snapshot(f, m, ts, big_buf, max, &len);
      } else if (ch <= FEED_CHANNEL_DEPTH20) {
        st = feed_write_top(f, m, ch, ts, big_buf, max, &len);
      } else if (ch == FEED_CHANNEL_TRADES) {
        st = feed_write_trades(f, m, ts, big_buf, max, &len);
      } else if (ch == FEED_CHANNEL_TICKER) {
        st = feed_write_ticker(f, m, ts, big_buf, max, &len);
      } else if (ch == FEED_CHANNEL_BBO) {
        st = feed_write_bbo(f, m, ts, big_buf, max, &len);
      } else if (ch == FEED_CHANNEL_TICKERS) {
        CHECK(feed_tickers_changed(f));
        st = feed_write_tickers(f, ts, big_buf, max, &len);
      } else {
        feed_interval i = (feed_interval)(ch - FEED_CHANNEL_KLINE);
        st = feed_write_kline(f, m, i, false, ts, big_buf, max, &len);
      }
      if (st != FEED_OK) fprintf(stderr, "channel %d does not fit %zu bytes\n", c, max);
      CHECK_EQ_INT(st, FEED_OK);
      CHECK(len <= max);
    }
  }
  CHECK_EQ_INT(feed_message_max(f, FEED_CHANNEL_COUNT), 0);
  feed_destroy(f);
}

int main(void) {
  make_config();
  test_messages();
  test_statuses();
  test_channel_names();
  test_hundredths();
  test_message_max();
  return check_report("feed_json");
}
