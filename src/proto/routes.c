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
static void route_depth(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)body;
  (void)len;
  proto_thread *pt = net_conn_thread_ctx(c);
  http_str market_name, limit_text;
  int market = http_query_get(req->query, "market", &market_name)
                   ? config_find_market(pt->cfg, market_name.ptr, market_name.len)
                   : -1;
  if (market < 0) {
    net_http_error_code(c, 400, 4001, "give ?market=<a configured market>");
    return;
  }
  unsigned limit = 100;
  if (http_query_get(req->query, "limit", &limit_text)) {
    limit = 0;
    for (uint32_t i = 0; i < limit_text.len && limit <= 100000; i++) {
      if (limit_text.ptr[i] < '0' || limit_text.ptr[i] > '9') {
        limit = 0;
        break;
      }
      limit = limit * 10 + (unsigned)(limit_text.ptr[i] - '0');
    }
    if (limit == 0 || limit > pt->cfg->feed_snapshot_levels) {
      net_http_error_code(c, 400, 1003, "limit must be 1..feed.snapshot_levels");
      return;
    }
  }
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

const net_route proto_client_routes[] = {
    {HTTP_GET, "/api/v1/depth", route_depth},
    {HTTP_GET, "/health", proto_route_health},
    {HTTP_GET, "/metrics", proto_route_metrics},
};
const unsigned proto_client_route_count =
    sizeof(proto_client_routes) / sizeof(proto_client_routes[0]);
