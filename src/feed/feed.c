/*
 * feed.c: the broadcast thread's market-data state for every market of a
 * configuration: routes level and trade events to each market's mirror book,
 * trades buffer, ticker and klines, and publishes them at each end of period
 * (see include/bourse/feed.h).
 *
 * Thread role: broadcast thread only.
 */
#include "bourse/feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_internal.h"

/* Times beyond this (year 285 000) are refused, so interval arithmetic cannot overflow. */
#define MAX_TIME_MS (INT64_C(1) << 53)

const char *feed_status_text(feed_status status) {
  switch (status) {
  case FEED_OK:
    return "ok";
  case FEED_GAP:
    return "update id gap: the engine skipped ids";
  case FEED_FLUSH:
    return "period full: end the market's period and apply again";
  case FEED_ERR_STALE:
    return "update id already applied";
  case FEED_ERR_FULL:
    return "more price levels than feed limits.max_levels";
  case FEED_ERR_INVALID:
    return "invalid event or argument";
  case FEED_ERR_NO_SPACE:
    return "output buffer too small";
  }
  return "unknown feed status";
}

static void fill_defaults(feed_limits *l) {
  if (l->max_levels == 0) l->max_levels = 1u << 20;
  if (l->max_diff_levels == 0) l->max_diff_levels = 4096;
  if (l->max_tick_trades == 0) l->max_tick_trades = 1024;
  if (l->snapshot_levels == 0) l->snapshot_levels = 1000;
}

static int market_init(feed *f, unsigned index) {
  feed_market *mk = &f->markets[index];
  mk->cfg = &f->cfg->markets[index];
  mk->quote_asset = &f->cfg->assets[mk->cfg->quote];
  if (feed_book_init(&mk->book, &f->pool) != 0) return -1;
  feed_ticker_init(&mk->ticker);
  for (unsigned i = 0; i < FEED_KLINE_COUNT; i++) feed_kline_init(&mk->klines[i], (feed_interval)i);
  for (unsigned i = 0; i < 2; i++) {
    mk->trades[i] = calloc(f->limits.max_tick_trades, sizeof(feed_trade));
    if (!mk->trades[i]) return -1;
  }
  mk->published_trades = mk->trades[1];
  return 0;
}

feed *feed_create(const config *cfg, const feed_limits *limits, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  feed *f = calloc(1, sizeof *f);
  if (!f) {
    if (err) snprintf(err, errlen, "feed: out of memory");
    return NULL;
  }
  f->cfg = cfg;
  if (limits) f->limits = *limits;
  fill_defaults(&f->limits);
  f->market_count = cfg->market_count;
  for (unsigned i = 0; i < cfg->market_count; i++) {
    if (cfg->markets[i].quote >= cfg->asset_count) {
      if (err)
        snprintf(err, errlen, "feed: market %s names an unknown quote asset", cfg->markets[i].name);
      free(f);
      return NULL;
    }
  }
  unsigned books = f->market_count ? f->market_count : 1;
  f->markets = calloc(books, sizeof *f->markets);
  if (!f->markets ||
      feed_book_pool_init(&f->pool, f->limits.max_levels, books, f->limits.max_diff_levels) != 0) {
    if (err) snprintf(err, errlen, "feed: out of memory for %u markets", f->market_count);
    feed_destroy(f);
    return NULL;
  }
  for (unsigned i = 0; i < f->market_count; i++) {
    if (market_init(f, i) != 0) {
      if (err) snprintf(err, errlen, "feed: out of memory for market %s", cfg->markets[i].name);
      feed_destroy(f);
      return NULL;
    }
  }
  return f;
}

void feed_destroy(feed *f) {
  if (!f) return;
  if (f->markets) {
    for (unsigned i = 0; i < f->market_count; i++) {
      feed_book_free(&f->markets[i].book);
      free(f->markets[i].trades[0]);
      free(f->markets[i].trades[1]);
    }
  }
  free(f->markets);
  feed_book_pool_free(&f->pool);
  free(f);
}

const feed_limits *feed_get_limits(const feed *f) {
  return &f->limits;
}

unsigned feed_market_count(const feed *f) {
  return f->market_count;
}

const feed_market *feed_market_at(const feed *f, unsigned market) {
  return market < f->market_count ? &f->markets[market] : NULL;
}

/* ------------------------------------------------------------------------ */
/* Events (hot path: one call per event from an engine)                     */

feed_status feed_apply_level(feed *f, const feed_level *ev) {
  if (ev->market >= f->market_count) return FEED_ERR_INVALID;
  return feed_book_apply(&f->markets[ev->market].book, ev->side, ev->price, ev->qty, ev->update_id);
}

feed_status feed_apply_trade(feed *f, const feed_trade *ev) {
  if (ev->market >= f->market_count || ev->taker_side > 1 || ev->price <= 0 || ev->qty <= 0 ||
      ev->quote < 0 || ev->ts_ms < 0 || ev->ts_ms > MAX_TIME_MS)
    return FEED_ERR_INVALID;
  feed_market *mk = &f->markets[ev->market];
  /* Refuse before changing anything, so the retry after the flush applies it exactly once. */
  if (mk->trade_count == f->limits.max_tick_trades) return FEED_FLUSH;
  for (unsigned i = 0; i < FEED_KLINE_COUNT; i++)
    if (feed_kline_needs_flush(&mk->klines[i], ev->ts_ms)) return FEED_FLUSH;
  mk->trades[mk->trades_acc][mk->trade_count++] = *ev;
  feed_ticker_trade(&mk->ticker, ev->ts_ms, ev->price, ev->qty, ev->quote);
  for (unsigned i = 0; i < FEED_KLINE_COUNT; i++)
    feed_kline_trade(&mk->klines[i], ev->ts_ms, ev->price, ev->qty, ev->quote);
  return FEED_OK;
}

feed_status feed_apply(feed *f, const feed_event *ev) {
  switch (ev->type) {
  case FEED_EVENT_LEVEL:
    return feed_apply_level(f, &ev->u.level);
  case FEED_EVENT_TRADE:
    return feed_apply_trade(f, &ev->u.trade);
  }
  return FEED_ERR_INVALID;
}

/* ------------------------------------------------------------------------ */
/* End of period                                                            */

static uint32_t publish_trades(feed_market *mk) {
  if (mk->trade_count == 0) {
    mk->published_trade_count = 0;
    return 0;
  }
  mk->published_trades = mk->trades[mk->trades_acc];
  mk->published_trade_count = mk->trade_count;
  mk->trades_acc ^= 1;
  mk->trade_count = 0;
  return FEED_CHANGED(FEED_CHANNEL_TRADES);
}

static bool ticker_equal(const feed_ticker_values *a, const feed_ticker_values *b) {
  return a->last == b->last && a->open == b->open && a->high == b->high && a->low == b->low &&
         a->change == b->change && a->change_pct == b->change_pct && a->volume == b->volume &&
         a->quote_volume == b->quote_volume && a->count == b->count && a->bid == b->bid &&
         a->bid_qty == b->bid_qty && a->ask == b->ask && a->ask_qty == b->ask_qty;
}

static uint32_t publish_ticker(feed_market *mk, int64_t now_ms) {
  feed_ticker_values v;
  feed_ticker_roll(&mk->ticker, now_ms);
  feed_ticker_get(&mk->ticker, &v);
  const feed_bbo *bbo = &mk->book.bbo; /* taken by feed_book_end_tick just before */
  v.bid = bbo->bid;
  v.bid_qty = bbo->bid_qty;
  v.ask = bbo->ask;
  v.ask_qty = bbo->ask_qty;
  if (ticker_equal(&v, &mk->ticker_values)) return 0;
  mk->ticker_values = v;
  mk->tickers_pending = true;
  return FEED_CHANGED(FEED_CHANNEL_TICKER);
}

static uint32_t publish_klines(feed_market *mk, int64_t now_ms) {
  uint32_t bits = 0;
  for (unsigned i = 0; i < FEED_KLINE_COUNT; i++) {
    uint32_t k = feed_kline_end_tick(&mk->klines[i], now_ms);
    if (k & FEED_KLINE_CHANGED) bits |= FEED_CHANGED_KLINE(i);
    if (k & FEED_KLINE_CLOSED) bits |= FEED_CHANGED_KLINE_CLOSED(i);
  }
  return bits;
}

uint32_t feed_end_tick(feed *f, unsigned market, int64_t now_ms) {
  if (market >= f->market_count) return 0;
  if (now_ms < 0) now_ms = 0;
  if (now_ms > MAX_TIME_MS) now_ms = MAX_TIME_MS;
  feed_market *mk = &f->markets[market];
  uint32_t bits = feed_book_end_tick(&mk->book); /* FEED_BOOK_* are the channels' bits */
  bits |= publish_trades(mk);
  bits |= publish_ticker(mk, now_ms);
  bits |= publish_klines(mk, now_ms);
  mk->changed = bits;
  return bits;
}

void feed_tick(feed *f, int64_t now_ms) {
  bool any = false;
  for (unsigned i = 0; i < f->market_count; i++) {
    feed_market *mk = &f->markets[i];
    feed_end_tick(f, i, now_ms);
    mk->in_tickers = mk->tickers_pending;
    mk->tickers_pending = false;
    any |= mk->in_tickers;
  }
  f->tickers_changed = any;
}

uint32_t feed_changed(const feed *f, unsigned market) {
  return market < f->market_count ? f->markets[market].changed : 0;
}

bool feed_tickers_changed(const feed *f) {
  return f->tickers_changed;
}

bool feed_bbo_take(feed *f, unsigned market) {
  return market < f->market_count && feed_book_bbo_take(&f->markets[market].book);
}
