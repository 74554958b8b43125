/*
 * conn_http.c: HTTP/1.1 on a connection: one request at a time out of the
 * bytes received (pipelined requests are answered in order), routing to the
 * server's route table, the WebSocket upgrade for dialect paths, and response
 * writing. Runs on the connection's io thread.
 */
#include "net_internal.h"

#include "bourse/json.h"
#include "bourse/log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static void respond_head(net_conn *c, int status, const char *content_type, size_t body_len,
                         const char *extra_headers) {
  char head[512];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nServer: bourse\r\nContent-Type: %s\r\nContent-Length: "
                   "%zu\r\n%s%s\r\n",
                   status, http_status_text(status), content_type, body_len,
                   c->http_keep_alive ? "" : "Connection: close\r\n",
                   extra_headers ? extra_headers : "");
  net_conn_queue(c, head, (size_t)n);
}

static void respond(net_conn *c, int status, const char *content_type, const char *body,
                    size_t body_len, const char *extra_headers) {
  respond_head(c, status, content_type, body_len, extra_headers);
  if (body_len) net_conn_queue(c, body, body_len);
  bool was_deferred = c->http_deferred;
  c->http_deferred = false;
  if (!c->http_keep_alive)
    net_conn_linger(c, 2000);
  else if (was_deferred)
    net_conn_resume(c); /* requests that arrived while this one waited */
}

void net_http_defer(net_conn *c) {
  c->http_deferred = true;
}

void net_http_respond(net_conn *c, int status, const char *content_type, const char *body,
                      size_t body_len) {
  respond(c, status, content_type, body, body_len, NULL);
}

static void respond_error_code(net_conn *c, int status, int code, const char *msg,
                               const char *extra_headers) {
  char body[512];
  json_writer w;
  json_writer_init(&w, body, sizeof(body));
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "code");
  json_write_int64(&w, code);
  JSON_WRITE_KEY(&w, "msg");
  json_write_string(&w, msg, strlen(msg));
  json_write_object_end(&w);
  size_t len = 0;
  if (json_writer_finish(&w, &len) != JSON_OK) len = 0;
  respond(c, status, "application/json", body, len, extra_headers);
}

static void respond_error(net_conn *c, int status, const char *msg, const char *extra_headers) {
  respond_error_code(c, status, status, msg, extra_headers);
}

void net_http_error(net_conn *c, int status, const char *msg) {
  respond_error(c, status, msg, NULL);
}

void net_http_error_code(net_conn *c, int status, int code, const char *msg) {
  respond_error_code(c, status, code, msg, NULL);
}

/* Exact path, or prefix for a route path ending in '*'. */
static bool route_matches(const char *pattern, http_str path) {
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return path.len >= n - 1 && memcmp(path.ptr, pattern, n - 1) == 0;
  return path.len == n && memcmp(path.ptr, pattern, n) == 0;
}

static bool origin_allowed(const config *cfg, const http_str *origin) {
  if (!cfg->ws_origins[0] || !origin) return true; /* no list, or not a browser */
  const char *p = cfg->ws_origins;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len && *p == ' ') p++, len--;
    while (len && p[len - 1] == ' ') len--;
    char entry[256];
    if (len < sizeof(entry)) {
      memcpy(entry, p, len);
      entry[len] = 0;
      if (http_str_equals_nocase(*origin, entry)) return true;
    }
    if (!end) break;
    p = end + 1;
  }
  return false;
}

/* The first subprotocol the client offers that the dialect speaks, or NULL. */
static const char *pick_subprotocol(const net_dialect *d, const http_request *req) {
  const http_str *offered = http_header_get(req, "sec-websocket-protocol");
  if (!offered || !d->subprotocols) return NULL;
  for (const char *const *p = d->subprotocols; *p; p++)
    if (http_header_has_token(offered, *p)) return *p;
  return NULL;
}

static void websocket_upgrade(net_conn *c, const http_request *req, unsigned dialect) {
  const net_dialect *d = net_conn_listener(c)->dialects[dialect];
  if (req->method != HTTP_GET) {
    net_http_error(c, 405, "the WebSocket endpoint takes GET only");
    return;
  }
  if (req->version_minor < 1) {
    net_http_error(c, 400, "WebSocket needs HTTP/1.1 or later (RFC 6455 section 4.1)");
    return;
  }
  if (!req->upgrade_websocket) {
    respond_error(c, 426, "this endpoint speaks WebSocket: send Upgrade: websocket",
                  "Upgrade: websocket\r\n");
    return;
  }
  const http_str *version = http_header_get(req, "sec-websocket-version");
  if (!version || !http_str_equals_nocase(*version, "13")) {
    respond_error(c, 426, "unsupported Sec-WebSocket-Version: use 13",
                  "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  const http_str *key = http_header_get(req, "sec-websocket-key");
  char accept[WS_ACCEPT_LEN];
  if (!key || !ws_key_valid(key->ptr, key->len) || ws_accept_key(key->ptr, key->len, accept)) {
    net_http_error(c, 400, "missing or invalid Sec-WebSocket-Key");
    return;
  }
  if (!origin_allowed(c->thread->server->cfg, http_header_get(req, "origin"))) {
    net_http_error(c, 403, "Origin not allowed");
    return;
  }
  const char *subprotocol = pick_subprotocol(d, req);
  char head[320];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                   "Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                   accept, subprotocol ? "Sec-WebSocket-Protocol: " : "",
                   subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "");
  net_conn_queue(c, head, (size_t)n);
  net_ws_open(c, dialect, req);
}

/* Constant-time check of "Authorization: Bearer <token>". */
static bool bearer_ok(const http_request *req, const char *token) {
  const http_str *auth = http_header_get(req, "authorization");
  size_t token_len = strlen(token);
  if (!auth || auth->len != 7 + token_len) return false;
  if (!http_str_equals_nocase((http_str){auth->ptr, 7}, "bearer ")) return false;
  return CRYPTO_memcmp(auth->ptr + 7, token, token_len) == 0;
}

static void route(net_conn *c, const http_request *req, const char *body) {
  const net_listener_spec *l = net_conn_listener(c);
  if (l->bearer_token && l->bearer_token[0] && !bearer_ok(req, l->bearer_token)) {
    respond_error(c, 401, "missing or wrong bearer token (Authorization: Bearer <admin.token>)",
                  "WWW-Authenticate: Bearer\r\n");
    return;
  }
  for (unsigned i = 0; i < l->dialect_count; i++)
    if (req->path.len == strlen(l->dialects[i]->path) &&
        memcmp(req->path.ptr, l->dialects[i]->path, req->path.len) == 0) {
      websocket_upgrade(c, req, i);
      return;
    }
  bool path_known = false;
  for (unsigned i = 0; i < l->route_count; i++) {
    const net_route *r = &l->routes[i];
    if (!route_matches(r->path, req->path)) continue;
    path_known = true;
    if (r->method == req->method) {
      r->handler(c, req, body, (size_t)req->content_length);
      return;
    }
  }
  char msg[160];
  if (path_known) {
    snprintf(msg, sizeof(msg), "method %.*s not allowed on %.*s", (int)req->method_text.len,
             req->method_text.ptr, req->path.len > 100 ? 100 : (int)req->path.len, req->path.ptr);
    net_http_error(c, 405, msg);
  } else {
    snprintf(msg, sizeof(msg), "no such resource: %.*s",
             req->path.len > 100 ? 100 : (int)req->path.len, req->path.ptr);
    net_http_error(c, 404, msg);
  }
}

size_t net_http_consume(net_conn *c, uint8_t *buf, size_t len) {
  const net_server *s = c->thread->server;
  const char *text = (const char *)buf;
  uint32_t header_bytes = http_find_header_end(text, len, &c->http_scanned);
  if (header_bytes == 0) {
    if (len > s->http_limits.max_header_bytes) {
      c->http_keep_alive = false;
      net_http_error(c, 431, "request header section too large");
      return len;
    }
    return 0;
  }
  http_request req;
  const char *why;
  int status = http_parse_request(text, header_bytes, &s->http_limits, &req, &why);
  net_count(&c->thread->stats.http_requests, 1);
  if (status != 0) {
    c->http_keep_alive = false;
    net_http_error(c, status, why);
    return len;
  }
  if (len - header_bytes < req.content_length) {
    c->http_scanned = 0; /* body still arriving: find the (bounded) header again later */
    return 0;
  }
  c->http_keep_alive = req.keep_alive;
  c->http_scanned = 0;
  route(c, &req, text + header_bytes);
  return header_bytes + (size_t)req.content_length;
}
