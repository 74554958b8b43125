/*
 * routes.c: HTTP routes of the client port (and the two the admin port
 * shares). Runs on the io threads.
 */
#include "proto_internal.h"

#include "bourse/engine_json.h"

#include <stdio.h>
#include <string.h>

void proto_route_health(net_conn *c, const http_request *req, const char *body, size_t len);
void proto_route_metrics(net_conn *c, const http_request *req, const char *body, size_t len);

void proto_route_health(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)req;
  (void)body;
  (void)len;
  static const char ok[] = "{\"status\":\"ok\"}";
  net_http_respond(c, 200, "application/json", ok, sizeof(ok) - 1);
}

void proto_route_metrics(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)req;
  (void)body;
  (void)len;
  char *buf = net_scratch(c);
  size_t n = net_server_metrics(net_conn_server(c), buf, NET_SCRATCH_BYTES);
  net_http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, n);
}

/* GET /api/v1/depth?market=BTCUSDT&limit=100: the book as the broadcast thread last
 * published it (no call into the engine), {"u","bids":[["p","q"],…],"asks":[…]}. */
static int query_market(net_conn *c, const http_request *req, const config *cfg);
static unsigned query_limit(net_conn *c, const http_request *req, unsigned fallback, unsigned max);

static void route_depth(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)body;
  (void)len;
  proto_thread *pt = net_conn_thread_ctx(c);
  int market = query_market(c, req, pt->cfg);
  unsigned limit = market < 0 ? 0 : query_limit(c, req, 100, pt->cfg->feed_snapshot_levels);
  if (!limit) return;
  const config_market *m = &pt->cfg->markets[market];
  const broadcast_book *book = broadcast_book_get(pt->shared->broadcast, (unsigned)market);
  json_writer w;
  json_writer_init(&w, net_scratch(c), NET_SCRATCH_BYTES);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "u");
  json_write_uint64(&w, book ? book->u : 0);
  char buf[ENGINE_JSON_DECIMAL_MAX];
  for (unsigned side = 0; side < 2; side++) {
    if (side == 0)
      JSON_WRITE_KEY(&w, "bids");
    else
      JSON_WRITE_KEY(&w, "asks");
    json_write_array_begin(&w);
    uint32_t count = !book ? 0 : side == 0 ? book->bids : book->asks;
    const engine_level *levels = book ? book->levels + (side == 0 ? 0 : book->bids) : NULL;
    for (uint32_t i = 0; i < count && i < limit; i++) {
      json_write_array_begin(&w);
      json_write_string(&w, buf, engine_json_price(m, levels[i].price, buf));
      json_write_string(&w, buf, engine_json_qty(m, levels[i].qty, buf));
      json_write_array_end(&w);
    }
    json_write_array_end(&w);
  }
  json_write_object_end(&w);
  size_t n;
  if (json_writer_finish(&w, &n) != JSON_OK) {
    net_http_error(c, 500, "depth reply too large");
    return;
  }
  net_http_respond(c, 200, "application/json", w.buf, n);
}

/* ?market=… resolved, or an error response and -1. */
static int query_market(net_conn *c, const http_request *req, const config *cfg) {
  http_str name;
  int market = http_query_get(req->query, "market", &name)
                   ? config_find_market(cfg, name.ptr, name.len)
                   : -1;
  if (market < 0) net_http_error_code(c, 400, 4001, "give ?market=<a configured market>");
  return market;
}

/* ?limit=… within 1..max (default `fallback`), or an error response and 0. */
static unsigned query_limit(net_conn *c, const http_request *req, unsigned fallback, unsigned max) {
  http_str text;
  if (!http_query_get(req->query, "limit", &text)) return fallback;
  unsigned limit = 0;
  for (uint32_t i = 0; i < text.len && limit <= max; i++) {
    if (text.ptr[i] < '0' || text.ptr[i] > '9') {
      limit = 0;
      break;
    }
    limit = limit * 10 + (unsigned)(text.ptr[i] - '0');
  }
  if (limit == 0 || limit > max) {
    char msg[64];
    snprintf(msg, sizeof(msg), "limit must be 1..%u", max);
    net_http_error_code(c, 400, 1003, msg);
    return 0;
  }
  return limit;
}

static void respond_json(net_conn *c, json_writer *w) {
  size_t n;
  if (json_writer_finish(w, &n) != JSON_OK)
    net_http_error(c, 500, "reply too large");
  else
    net_http_respond(c, 200, "application/json", w->buf, n);
}

static void write_price(json_writer *w, const config_market *m, int64_t ticks) {
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_write_string(w, buf, engine_json_price(m, ticks, buf));
}

static void write_qty(json_writer *w, const config_market *m, int64_t lots) {
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_write_string(w, buf, engine_json_qty(m, lots, buf));
}

/* GET /api/v1/trades?market=BTCUSDT&limit=100: the latest trades, oldest first. */
static void route_trades(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)body;
  (void)len;
  proto_thread *pt = net_conn_thread_ctx(c);
  int market = query_market(c, req, pt->cfg);
  unsigned limit = market < 0 ? 0 : query_limit(c, req, 100, BROADCAST_RECENT_TRADES);
  if (!limit) return;
  const config_market *m = &pt->cfg->markets[market];
  const broadcast_trades *t = broadcast_trades_get(pt->shared->broadcast, (unsigned)market);
  json_writer w;
  json_writer_init(&w, net_scratch(c), NET_SCRATCH_BYTES);
  json_write_array_begin(&w);
  uint32_t count = t ? t->count : 0, first = count > limit ? count - limit : 0;
  for (uint32_t i = first; i < count; i++) {
    const feed_trade *tr = &t->trades[i];
    json_write_object_begin(&w);
    JSON_WRITE_KEY(&w, "id");
    json_write_uint64(&w, tr->trade_id);
    JSON_WRITE_KEY(&w, "price");
    write_price(&w, m, tr->price);
    JSON_WRITE_KEY(&w, "qty");
    write_qty(&w, m, tr->qty);
    JSON_WRITE_KEY(&w, "side");
    const char *side = engine_side_name((engine_side)tr->taker_side);
    json_write_string(&w, side, strlen(side));
    JSON_WRITE_KEY(&w, "ts");
    json_write_int64(&w, tr->ts_ms);
    json_write_object_end(&w);
  }
  json_write_array_end(&w);
  respond_json(c, &w);
}

static void write_ticker(json_writer *w, const config *cfg, unsigned market,
                         const broadcast_ticker *t, bool with_market) {
  const config_market *m = &cfg->markets[market];
  feed_ticker_values zero = {0};
  feed_json_ticker_values(w, m, &cfg->assets[m->quote], t ? &t->values : &zero, with_market);
}

/* GET /api/v1/ticker?market=BTCUSDT (one object) or without market (every market). */
static void route_ticker(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)body;
  (void)len;
  proto_thread *pt = net_conn_thread_ctx(c);
  json_writer w;
  json_writer_init(&w, net_scratch(c), NET_SCRATCH_BYTES);
  http_str name;
  if (!http_query_get(req->query, "market", &name)) {
    json_write_array_begin(&w);
    for (unsigned m = 0; m < pt->cfg->market_count; m++)
      write_ticker(&w, pt->cfg, m, broadcast_ticker_get(pt->shared->broadcast, m), true);
    json_write_array_end(&w);
  } else {
    int market = query_market(c, req, pt->cfg);
    if (market < 0) return;
    write_ticker(&w, pt->cfg, (unsigned)market,
                 broadcast_ticker_get(pt->shared->broadcast, (unsigned)market), false);
  }
  respond_json(c, &w);
}

/* GET /api/v1/klines?market=BTCUSDT&interval=1m&limit=100: candles, oldest first. */
static void route_klines(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)body;
  (void)len;
  proto_thread *pt = net_conn_thread_ctx(c);
  int market = query_market(c, req, pt->cfg);
  if (market < 0) return;
  http_str iv;
  int interval = -1;
  if (http_query_get(req->query, "interval", &iv))
    for (int k = 0; k < FEED_KLINE_COUNT; k++)
      if (iv.len == strlen(feed_interval_name((feed_interval)k)) &&
          memcmp(iv.ptr, feed_interval_name((feed_interval)k), iv.len) == 0)
        interval = k;
  if (interval < 0) {
    net_http_error_code(c, 400, 1003, "interval must be 1m, 5m, 15m, 30m, 1h, 4h, 1d or 1w");
    return;
  }
  unsigned limit = query_limit(c, req, 100, BROADCAST_KLINE_HISTORY + 1);
  if (!limit) return;
  const config_market *m = &pt->cfg->markets[market];
  const broadcast_klines *k =
      broadcast_klines_get(pt->shared->broadcast, (unsigned)market, (feed_interval)interval);
  json_writer w;
  json_writer_init(&w, net_scratch(c), NET_SCRATCH_BYTES);
  json_write_array_begin(&w);
  uint32_t count = k ? k->count : 0, first = count > limit ? count - limit : 0;
  for (uint32_t i = first; i < count; i++) {
    feed_json_candle(&w, m, &pt->cfg->assets[m->quote], &k->candles[i],
                     !(k->has_current && i == count - 1));
  }
  json_write_array_end(&w);
  respond_json(c, &w);
}

const net_route proto_client_routes[] = {
    {HTTP_GET, "/api/v1/depth", route_depth},   {HTTP_GET, "/api/v1/trades", route_trades},
    {HTTP_GET, "/api/v1/ticker", route_ticker}, {HTTP_GET, "/api/v1/klines", route_klines},
    {HTTP_GET, "/health", proto_route_health},  {HTTP_GET, "/metrics", proto_route_metrics},
};
const unsigned proto_client_route_count =
    sizeof(proto_client_routes) / sizeof(proto_client_routes[0]);
