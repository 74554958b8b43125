/*
 * feed_json.c: the native protocol's public market-data pushes
 * (shared/spec/PROTOCOL.md, "Server pushes"), written once per tick and
 * shared by every subscriber, and the public channels' names.
 *
 * Thread role: broadcast thread only (reads the feed's published state).
 */
#include "bourse/feed.h"

#include <string.h>
#include <strings.h>

#include "bourse/engine_json.h"
#include "feed_internal.h"

/* ------------------------------------------------------------------------ */
/* Channel names                                                            */

static const char *const channel_suffix[FEED_CHANNEL_COUNT] = {
    [FEED_CHANNEL_DEPTH] = "@depth",
    [FEED_CHANNEL_DEPTH5] = "@depth5",
    [FEED_CHANNEL_DEPTH10] = "@depth10",
    [FEED_CHANNEL_DEPTH20] = "@depth20",
    [FEED_CHANNEL_TRADES] = "@trades",
    [FEED_CHANNEL_TICKER] = "@ticker",
    [FEED_CHANNEL_BBO] = "@bbo",
    [FEED_CHANNEL_KLINE + FEED_KLINE_1M] = "@kline_1m",
    [FEED_CHANNEL_KLINE + FEED_KLINE_5M] = "@kline_5m",
    [FEED_CHANNEL_KLINE + FEED_KLINE_15M] = "@kline_15m",
    [FEED_CHANNEL_KLINE + FEED_KLINE_30M] = "@kline_30m",
    [FEED_CHANNEL_KLINE + FEED_KLINE_1H] = "@kline_1h",
    [FEED_CHANNEL_KLINE + FEED_KLINE_4H] = "@kline_4h",
    [FEED_CHANNEL_KLINE + FEED_KLINE_1D] = "@kline_1d",
    [FEED_CHANNEL_KLINE + FEED_KLINE_1W] = "@kline_1w",
    [FEED_CHANNEL_TICKERS] = "!tickers",
};

size_t feed_channel_name(const config *cfg, unsigned market, feed_channel channel, char *buf) {
  buf[0] = '\0';
  if ((unsigned)channel >= FEED_CHANNEL_COUNT) return 0;
  const char *suffix = channel_suffix[channel];
  size_t slen = strlen(suffix);
  if (channel == FEED_CHANNEL_TICKERS) {
    memcpy(buf, suffix, slen + 1);
    return slen;
  }
  if (market >= cfg->market_count) return 0;
  const char *name = cfg->markets[market].name;
  size_t nlen = strnlen(name, CONFIG_MARKET_NAME_MAX - 1);
  memcpy(buf, name, nlen);
  memcpy(buf + nlen, suffix, slen + 1);
  return nlen + slen;
}

bool feed_channel_parse(const config *cfg, const char *name, size_t len, unsigned *market,
                        feed_channel *channel) {
  const char *tickers = channel_suffix[FEED_CHANNEL_TICKERS];
  if (len == strlen(tickers) && memcmp(name, tickers, len) == 0) {
    *market = 0;
    *channel = FEED_CHANNEL_TICKERS;
    return true;
  }
  const char *at = memchr(name, '@', len);
  if (!at) return false;
  int m = config_find_market(cfg, name, (size_t)(at - name));
  if (m < 0) return false;
  size_t rest = len - (size_t)(at - name);
  for (unsigned c = 0; c < FEED_CHANNEL_TICKERS; c++) {
    if (strlen(channel_suffix[c]) == rest && memcmp(channel_suffix[c], at, rest) == 0) {
      *market = (unsigned)m;
      *channel = (feed_channel)c;
      return true;
    }
  }
  return false;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */

static void write_price(json_writer *w, const config_market *m, int64_t ticks) {
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_write_string(w, buf, engine_json_price(m, ticks, buf));
}

static void write_qty(json_writer *w, const config_market *m, int64_t lots) {
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_write_string(w, buf, engine_json_qty(m, lots, buf));
}

static void write_amount(json_writer *w, const config_asset *a, int64_t units) {
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_write_string(w, buf, engine_json_amount(a, units, buf));
}

size_t feed_format_hundredths(int64_t hundredths, char *buf) {
  /* Through uint64, so INT64_MIN has a magnitude too. */
  uint64_t v = hundredths < 0 ? (uint64_t)0 - (uint64_t)hundredths : (uint64_t)hundredths;
  char digits[24];
  size_t n = 0;
  uint64_t whole = v / 100;
  do {
    digits[n++] = (char)('0' + whole % 10);
    whole /= 10;
  } while (whole);
  size_t len = 0;
  if (hundredths < 0) buf[len++] = '-';
  while (n) buf[len++] = digits[--n];
  buf[len++] = '.';
  buf[len++] = (char)('0' + (v % 100) / 10);
  buf[len++] = (char)('0' + v % 10);
  buf[len] = '\0';
  return len;
}

/* [["price","qty"],...] */
static void write_levels(json_writer *w, const config_market *m, const engine_level *levels,
                         size_t count) {
  json_write_array_begin(w);
  for (size_t i = 0; i < count; i++) {
    json_write_array_begin(w);
    write_price(w, m, levels[i].price);
    write_qty(w, m, levels[i].qty);
    json_write_array_end(w);
  }
  json_write_array_end(w);
}

/* The live levels of a side, best first, at most limit, streamed from the book. */
static void write_book_side(json_writer *w, const config_market *m, const feed_book *b,
                            unsigned side, size_t limit) {
  feed_book_iter it = feed_book_iterate(b, side);
  engine_level level;
  json_write_array_begin(w);
  for (size_t i = 0; i < limit && feed_book_iter_next(&it, &level); i++) {
    json_write_array_begin(w);
    write_price(w, m, level.price);
    write_qty(w, m, level.qty);
    json_write_array_end(w);
  }
  json_write_array_end(w);
}

void feed_json_depth_diff(json_writer *w, const feed *f, unsigned market) {
  const feed_market *mk = feed_market_at(f, market);
  const feed_book *b = &mk->book;
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "U");
  json_write_uint64(w, b->diff_first);
  JSON_WRITE_KEY(w, "u");
  json_write_uint64(w, b->diff_last);
  JSON_WRITE_KEY(w, "bids");
  write_levels(w, mk->cfg, b->diff, b->diff_bids);
  JSON_WRITE_KEY(w, "asks");
  write_levels(w, mk->cfg, b->diff + b->diff_bids, b->diff_asks);
  json_write_object_end(w);
}

void feed_json_book(json_writer *w, const feed *f, unsigned market, size_t limit, bool snapshot) {
  const feed_market *mk = feed_market_at(f, market);
  const feed_book *b = &mk->book;
  json_write_object_begin(w);
  if (snapshot) {
    JSON_WRITE_KEY(w, "snapshot");
    json_write_bool(w, true);
  }
  JSON_WRITE_KEY(w, "u");
  json_write_uint64(w, b->last_id);
  JSON_WRITE_KEY(w, "bids");
  write_book_side(w, mk->cfg, b, ENGINE_SIDE_BUY, limit);
  JSON_WRITE_KEY(w, "asks");
  write_book_side(w, mk->cfg, b, ENGINE_SIDE_SELL, limit);
  json_write_object_end(w);
}

void feed_json_top(json_writer *w, const feed *f, unsigned market, unsigned levels) {
  const feed_market *mk = feed_market_at(f, market);
  const feed_book *b = &mk->book;
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "u");
  json_write_uint64(w, b->top_id);
  JSON_WRITE_KEY(w, "bids");
  uint32_t n = b->top_count[ENGINE_SIDE_BUY];
  write_levels(w, mk->cfg, b->top[ENGINE_SIDE_BUY], n < levels ? n : levels);
  JSON_WRITE_KEY(w, "asks");
  n = b->top_count[ENGINE_SIDE_SELL];
  write_levels(w, mk->cfg, b->top[ENGINE_SIDE_SELL], n < levels ? n : levels);
  json_write_object_end(w);
}

void feed_json_trades(json_writer *w, const feed *f, unsigned market) {
  const feed_market *mk = feed_market_at(f, market);
  json_write_array_begin(w);
  for (uint32_t i = 0; i < mk->published_trade_count; i++) {
    const feed_trade *t = &mk->published_trades[i];
    const char *side = engine_side_name((engine_side)t->taker_side);
    json_write_object_begin(w);
    JSON_WRITE_KEY(w, "id");
    json_write_uint64(w, t->trade_id);
    JSON_WRITE_KEY(w, "price");
    write_price(w, mk->cfg, t->price);
    JSON_WRITE_KEY(w, "qty");
    write_qty(w, mk->cfg, t->qty);
    JSON_WRITE_KEY(w, "side");
    json_write_string(w, side, strlen(side));
    JSON_WRITE_KEY(w, "ts");
    json_write_int64(w, t->ts_ms);
    json_write_object_end(w);
  }
  json_write_array_end(w);
}

void feed_json_ticker_values(json_writer *w, const config_market *m, const config_asset *quote,
                             const feed_ticker_values *v, bool with_market) {
  char pct[24];
  json_write_object_begin(w);
  if (with_market) {
    JSON_WRITE_KEY(w, "market");
    json_write_string(w, m->name, strnlen(m->name, CONFIG_MARKET_NAME_MAX - 1));
  }
  JSON_WRITE_KEY(w, "last");
  write_price(w, m, v->last);
  JSON_WRITE_KEY(w, "open");
  write_price(w, m, v->open);
  JSON_WRITE_KEY(w, "high");
  write_price(w, m, v->high);
  JSON_WRITE_KEY(w, "low");
  write_price(w, m, v->low);
  JSON_WRITE_KEY(w, "volume");
  write_qty(w, m, v->volume);
  JSON_WRITE_KEY(w, "quote_volume");
  write_amount(w, quote, v->quote_volume);
  JSON_WRITE_KEY(w, "change");
  write_price(w, m, v->change);
  JSON_WRITE_KEY(w, "change_pct");
  json_write_string(w, pct, feed_format_hundredths(v->change_pct, pct));
  JSON_WRITE_KEY(w, "bid");
  write_price(w, m, v->bid);
  JSON_WRITE_KEY(w, "bid_qty");
  write_qty(w, m, v->bid_qty);
  JSON_WRITE_KEY(w, "ask");
  write_price(w, m, v->ask);
  JSON_WRITE_KEY(w, "ask_qty");
  write_qty(w, m, v->ask_qty);
  JSON_WRITE_KEY(w, "count");
  json_write_uint64(w, v->count);
  json_write_object_end(w);
}

void feed_json_ticker(json_writer *w, const feed *f, unsigned market, bool with_market) {
  const feed_market *mk = feed_market_at(f, market);
  feed_json_ticker_values(w, mk->cfg, mk->quote_asset, &mk->ticker_values, with_market);
}

void feed_json_candle(json_writer *w, const config_market *m, const config_asset *quote,
                      const feed_candle *c, bool closed) {
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "t");
  json_write_int64(w, c->open_ms);
  JSON_WRITE_KEY(w, "o");
  write_price(w, m, c->open);
  JSON_WRITE_KEY(w, "h");
  write_price(w, m, c->high);
  JSON_WRITE_KEY(w, "l");
  write_price(w, m, c->low);
  JSON_WRITE_KEY(w, "c");
  write_price(w, m, c->close);
  JSON_WRITE_KEY(w, "v");
  write_qty(w, m, c->volume);
  JSON_WRITE_KEY(w, "q");
  write_amount(w, quote, c->quote_volume);
  JSON_WRITE_KEY(w, "n");
  json_write_uint64(w, c->count);
  JSON_WRITE_KEY(w, "closed");
  json_write_bool(w, closed);
  json_write_object_end(w);
}

void feed_json_kline(json_writer *w, const feed *f, unsigned market, feed_interval interval,
                     bool closed) {
  const feed_market *mk = feed_market_at(f, market);
  const feed_kline *k = &mk->klines[interval];
  feed_json_candle(w, mk->cfg, mk->quote_asset, closed ? &k->published_closed : &k->published,
                   closed);
}

void feed_json_bbo(json_writer *w, const feed *f, unsigned market) {
  const feed_market *mk = feed_market_at(f, market);
  const feed_bbo *bbo = &mk->book.bbo;
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "u");
  json_write_uint64(w, bbo->update_id);
  JSON_WRITE_KEY(w, "bid");
  write_price(w, mk->cfg, bbo->bid);
  JSON_WRITE_KEY(w, "bid_qty");
  write_qty(w, mk->cfg, bbo->bid_qty);
  JSON_WRITE_KEY(w, "ask");
  write_price(w, mk->cfg, bbo->ask);
  JSON_WRITE_KEY(w, "ask_qty");
  write_qty(w, mk->cfg, bbo->ask_qty);
  json_write_object_end(w);
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

/* Opens {"event":"<channel>","ts":ts,"data": ... the caller writes data, then finish(). */
static bool begin(json_writer *w, const feed *f, unsigned market, feed_channel channel, int64_t ts,
                  char *buf, size_t cap) {
  char name[FEED_CHANNEL_NAME_MAX];
  size_t len = feed_channel_name(f->cfg, market, channel, name);
  if (len == 0) return false;
  json_writer_init(w, buf, cap);
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "event");
  json_write_string(w, name, len);
  JSON_WRITE_KEY(w, "ts");
  json_write_int64(w, ts);
  JSON_WRITE_KEY(w, "data");
  return true;
}

static feed_status finish(json_writer *w, size_t *len) {
  json_write_object_end(w);
  size_t n;
  json_status s = json_writer_finish(w, &n);
  if (s == JSON_ERR_NO_SPACE) return FEED_ERR_NO_SPACE;
  if (s != JSON_OK) return FEED_ERR_INVALID;
  *len = n;
  return FEED_OK;
}

feed_status feed_write_depth(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                             size_t *len) {
  const feed_market *mk = feed_market_at(f, market);
  if (!mk || mk->book.diff_first == 0) return FEED_ERR_INVALID; /* no diff in the last period */
  json_writer w;
  if (!begin(&w, f, market, FEED_CHANNEL_DEPTH, ts, buf, cap)) return FEED_ERR_INVALID;
  feed_json_depth_diff(&w, f, market);
  return finish(&w, len);
}

feed_status feed_write_snapshot(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                                size_t *len) {
  json_writer w;
  if (!begin(&w, f, market, FEED_CHANNEL_DEPTH, ts, buf, cap)) return FEED_ERR_INVALID;
  feed_json_book(&w, f, market, f->limits.snapshot_levels, true);
  return finish(&w, len);
}

feed_status feed_write_top(const feed *f, unsigned market, feed_channel channel, int64_t ts,
                           char *buf, size_t cap, size_t *len) {
  unsigned levels = channel == FEED_CHANNEL_DEPTH5    ? 5
                    : channel == FEED_CHANNEL_DEPTH10 ? 10
                    : channel == FEED_CHANNEL_DEPTH20 ? 20
                                                      : 0;
  json_writer w;
  if (levels == 0 || !begin(&w, f, market, channel, ts, buf, cap)) return FEED_ERR_INVALID;
  feed_json_top(&w, f, market, levels);
  return finish(&w, len);
}

feed_status feed_write_trades(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                              size_t *len) {
  json_writer w;
  if (!begin(&w, f, market, FEED_CHANNEL_TRADES, ts, buf, cap)) return FEED_ERR_INVALID;
  feed_json_trades(&w, f, market);
  return finish(&w, len);
}

feed_status feed_write_ticker(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                              size_t *len) {
  json_writer w;
  if (!begin(&w, f, market, FEED_CHANNEL_TICKER, ts, buf, cap)) return FEED_ERR_INVALID;
  feed_json_ticker(&w, f, market, false);
  return finish(&w, len);
}

feed_status feed_write_kline(const feed *f, unsigned market, feed_interval interval, bool closed,
                             int64_t ts, char *buf, size_t cap, size_t *len) {
  json_writer w;
  if ((unsigned)interval >= FEED_KLINE_COUNT ||
      !begin(&w, f, market, (feed_channel)(FEED_CHANNEL_KLINE + interval), ts, buf, cap))
    return FEED_ERR_INVALID;
  feed_json_kline(&w, f, market, interval, closed);
  return finish(&w, len);
}

feed_status feed_write_bbo(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                           size_t *len) {
  json_writer w;
  if (!begin(&w, f, market, FEED_CHANNEL_BBO, ts, buf, cap)) return FEED_ERR_INVALID;
  feed_json_bbo(&w, f, market);
  return finish(&w, len);
}

feed_status feed_write_tickers(const feed *f, int64_t ts, char *buf, size_t cap, size_t *len) {
  json_writer w;
  if (!begin(&w, f, 0, FEED_CHANNEL_TICKERS, ts, buf, cap)) return FEED_ERR_INVALID;
  json_write_array_begin(&w);
  for (unsigned i = 0; i < f->market_count; i++)
    if (f->markets[i].in_tickers) feed_json_ticker(&w, f, i, true);
  json_write_array_end(&w);
  return finish(&w, len);
}

/* ------------------------------------------------------------------------ */
/* Size bounds                                                              */
/*
 * Every decimal string is at most ENGINE_JSON_DECIMAL_MAX - 1 bytes and needs
 * no escaping; integers at most 20 digits; a market name at most
 * CONFIG_MARKET_NAME_MAX - 1 bytes, 6 each if every byte had to be escaped.
 */
#define DECIMAL      (ENGINE_JSON_DECIMAL_MAX - 1)
#define INTEGER      20
#define NAME         (6 * (CONFIG_MARKET_NAME_MAX - 1))
#define ENVELOPE     (64 + 6 * FEED_CHANNEL_NAME_MAX + INTEGER) /* {"event":..,"ts":..,"data":} */
#define LEVEL        (2 * DECIMAL + 10)                         /* ["p","q"], */
#define BOOK(levels) (64 + 2 * INTEGER + (size_t)(levels)*LEVEL)
#define TRADE        (64 + 2 * INTEGER + 2 * DECIMAL)            /* {"id",..,"ts"}, */
#define TICKER       (160 + NAME + 12 * (DECIMAL + 3) + INTEGER) /* 13 fields + market */
#define KLINE        (64 + 2 * INTEGER + 7 * (DECIMAL + 3))
#define BBO          (64 + INTEGER + 4 * (DECIMAL + 3))

size_t feed_message_max(const feed *f, feed_channel channel) {
  const feed_limits *l = &f->limits;
  size_t data;
  switch (channel) {
  case FEED_CHANNEL_DEPTH: {
    size_t snapshot = BOOK(2 * (size_t)l->snapshot_levels), diff = BOOK(l->max_diff_levels);
    data = snapshot > diff ? snapshot : diff;
    break;
  }
  case FEED_CHANNEL_DEPTH5:
  case FEED_CHANNEL_DEPTH10:
  case FEED_CHANNEL_DEPTH20:
    data = BOOK(2 * FEED_TOP_MAX);
    break;
  case FEED_CHANNEL_TRADES:
    data = 4 + (size_t)l->max_tick_trades * TRADE;
    break;
  case FEED_CHANNEL_TICKER:
    data = TICKER;
    break;
  case FEED_CHANNEL_BBO:
    data = BBO;
    break;
  case FEED_CHANNEL_TICKERS:
    data = 4 + (size_t)f->market_count * (TICKER + 1);
    break;
  default:
    if ((unsigned)channel >= FEED_CHANNEL_KLINE + FEED_KLINE_COUNT) return 0;
    data = KLINE;
  }
  return ENVELOPE + data;
}
