/*
 * routes.c: HTTP routes of the client port (and the two the admin port
 * shares). Runs on the io threads.
 */
#include "bourse/proto.h"

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

const net_route proto_client_routes[] = {
    {HTTP_GET, "/health", proto_route_health},
    {HTTP_GET, "/metrics", proto_route_metrics},
};
const unsigned proto_client_route_count =
    sizeof(proto_client_routes) / sizeof(proto_client_routes[0]);
