/*
 * admin.c: the admin API on its own port (behind admin.token):
 *   POST /admin/deposit, /admin/withdraw   {"uid","asset","amount"}
 *   GET  /admin/balances?uid=N
 *   POST /admin/apikeys                    {"uid","label","permissions","ips"}
 *   POST /admin/totp                       {"uid","enable":true|false}
 *   POST /admin/markets/<M>/halt, /resume
 *   GET  /health, /metrics
 * Engine operations answer after the engine's round trip (the HTTP response
 * is deferred, see net_http_defer). Runs on io thread 0 (the admin listener
 * is there).
 */
#include "proto_internal.h"

#include "bourse/engine_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_MAX_TOKENS 256

static bool parse_body(net_conn *c, const char *body, size_t len, json_doc *doc,
                       json_token *tokens) {
  json_limits limits = {.max_bytes = len, .max_depth = 8, .max_tokens = ADMIN_MAX_TOKENS};
  if (json_parse(body, len, tokens, &limits, doc) != JSON_OK) {
    char msg[160];
    snprintf(msg, sizeof(msg), "bad JSON body: %s at byte %zu", doc->error.message,
             doc->error.offset);
    net_http_error_code(c, 400, 1001, msg);
    return false;
  }
  if (tokens[0].type != JSON_OBJECT) {
    net_http_error_code(c, 400, 1003, "the body must be a JSON object");
    return false;
  }
  return true;
}

/* Hands cmd to the engine and answers when it is done. */
static void submit(net_conn *c, engine_cmd *cmd, uint8_t op) {
  proto_thread *pt = net_conn_thread_ctx(c);
  proto_id none = {.kind = PROTO_ID_NONE};
  uint64_t tag = proto_pending_start(pt, c, op, &none, cmd->asset);
  if (!tag) {
    net_http_error_code(c, 503, 9002, "server busy: too many requests in flight; retry");
    return;
  }
  cmd->tag = tag;
  cmd->ts_ms = net_conn_now_ms(c);
  if (!proto_submit(pt, cmd)) {
    proto_pending_abort(pt, tag);
    net_http_error_code(c, 503, 9002, "server busy: the engine's queue is full; retry");
    return;
  }
  net_http_defer(c);
}

static void transfer(net_conn *c, const char *body, size_t len, engine_cmd_type type) {
  json_token tokens[ADMIN_MAX_TOKENS];
  json_doc doc;
  if (!parse_body(c, body, len, &doc, tokens)) return;
  engine_cmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  if (engine_json_uid(&doc, 0, &cmd.uid) != 0) {
    net_http_error_code(c, 400, 1003, "\"uid\" must be a positive integer");
    return;
  }
  if (engine_json_transfer(net_conn_config(c), &doc, 0, type, &cmd) != 0) {
    net_http_error_code(
        c, 400, 1003, "\"asset\" must name a configured asset and \"amount\" be a decimal string");
    return;
  }
  submit(c, &cmd, PROTO_OP_ADMIN_TRANSFER);
}

static void route_deposit(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)req;
  transfer(c, body, len, ENGINE_CMD_DEPOSIT);
}

static void route_withdraw(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)req;
  transfer(c, body, len, ENGINE_CMD_WITHDRAW);
}

static bool query_uid(net_conn *c, const http_request *req, uint64_t *uid) {
  http_str v;
  *uid = 0;
  if (http_query_get(req->query, "uid", &v) && v.len > 0 && v.len <= 19) {
    for (uint32_t i = 0; i < v.len; i++) {
      if (v.ptr[i] < '0' || v.ptr[i] > '9') {
        *uid = 0;
        break;
      }
      *uid = *uid * 10 + (uint64_t)(v.ptr[i] - '0');
    }
  }
  if (*uid == 0) net_http_error_code(c, 400, 1003, "give ?uid=<positive integer>");
  return *uid != 0;
}

static void route_balances(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)body;
  (void)len;
  engine_cmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  if (!query_uid(c, req, &cmd.uid)) return;
  cmd.type = ENGINE_HOST_CMD_QUERY_BALANCES;
  submit(c, &cmd, PROTO_OP_ADMIN_BALANCES);
}

static void route_apikeys(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)req;
  json_token tokens[ADMIN_MAX_TOKENS];
  json_doc doc;
  if (!parse_body(c, body, len, &doc, tokens)) return;
  auth_apikey_info key;
  memset(&key, 0, sizeof(key));
  char why[160] = "";
  if (engine_json_uid(&doc, 0, &key.uid) != 0) {
    net_http_error_code(c, 400, 1003, "\"uid\" must be a positive integer");
    return;
  }
  unsigned fields = proto_apikey_parse_fields(&doc, 0, &key, why, sizeof(why));
  if (fields == UINT32_MAX) {
    net_http_error_code(c, 400, 1003, why);
    return;
  }
  if (!(fields & AUTH_APIKEY_SET_PERMISSIONS)) key.permissions = AUTH_PERM_READ;
  key.created_ms = net_conn_now_ms(c);
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1];
  proto_thread *pt = net_conn_thread_ctx(c);
  auth_status st = auth_apikey_create(pt->shared->keys, &key, secret, why, sizeof(why));
  if (st != AUTH_OK) {
    net_http_error_code(c, st == AUTH_ERR_INTERNAL ? 500 : 400, (int)st, why);
    return;
  }
  char out[1024];
  json_writer w;
  json_writer_init(&w, out, sizeof(out));
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "result");
  proto_apikey_write(&w, &key, secret);
  json_write_object_end(&w);
  size_t n;
  if (json_writer_finish(&w, &n) == JSON_OK) net_http_respond(c, 200, "application/json", out, n);
}

/* Enables (returning the secret for the user's authenticator app) or disables TOTP. */
static void route_totp(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)req;
  json_token tokens[ADMIN_MAX_TOKENS];
  json_doc doc;
  if (!parse_body(c, body, len, &doc, tokens)) return;
  uint64_t uid;
  bool enable = true;
  uint32_t tok = json_object_get(&doc, 0, "enable", 6);
  if (engine_json_uid(&doc, 0, &uid) != 0 ||
      (tok != JSON_NONE && json_get_bool(&doc, tok, &enable) != JSON_OK)) {
    net_http_error_code(c, 400, 1003, "give {\"uid\":<positive integer>,\"enable\":true|false}");
    return;
  }
  proto_thread *pt = net_conn_thread_ctx(c);
  char why[160] = "";
  if (!enable) {
    auth_status st = auth_apikey_totp_clear(pt->shared->keys, uid, why, sizeof(why));
    if (st != AUTH_OK && st != AUTH_ERR_NOT_FOUND) {
      net_http_error_code(c, 500, (int)st, why);
      return;
    }
    static const char ok[] = "{\"result\":true}";
    net_http_respond(c, 200, "application/json", ok, sizeof(ok) - 1);
    return;
  }
  uint8_t secret[20];
  char base32[64];
  if (auth_totp_generate_secret(secret, sizeof(secret)) != 0 ||
      auth_base32_encode(secret, sizeof(secret), base32, sizeof(base32)) < 0 ||
      auth_apikey_totp_set(pt->shared->keys, uid, secret, sizeof(secret), why, sizeof(why)) !=
          AUTH_OK) {
    net_http_error_code(c, 500, 9001, why[0] ? why : "could not create a TOTP secret");
    return;
  }
  char out[512];
  int n = snprintf(out, sizeof(out),
                   "{\"result\":{\"secret\":\"%s\",\"uri\":\"otpauth://totp/bourse:%llu?secret=%s"
                   "&issuer=bourse&algorithm=SHA1&digits=6&period=30\"}}",
                   base32, (unsigned long long)uid, base32);
  net_http_respond(c, 200, "application/json", out, (size_t)n);
}

/* POST /admin/markets/<M>/halt or /resume */
static void route_market(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)body;
  (void)len;
  static const char prefix[] = "/admin/markets/";
  const char *name = req->path.ptr + sizeof(prefix) - 1;
  const char *end = req->path.ptr + req->path.len;
  const char *slash = memchr(name, '/', (size_t)(end - name));
  if (!slash) {
    net_http_error(c, 404, "use POST /admin/markets/<MARKET>/halt or /resume");
    return;
  }
  int market = config_find_market(net_conn_config(c), name, (size_t)(slash - name));
  size_t action_len = (size_t)(end - slash - 1);
  bool halt = action_len == 4 && memcmp(slash + 1, "halt", 4) == 0;
  bool resume = action_len == 6 && memcmp(slash + 1, "resume", 6) == 0;
  if (!halt && !resume) {
    net_http_error(c, 404, "use POST /admin/markets/<MARKET>/halt or /resume");
    return;
  }
  if (market < 0) {
    net_http_error_code(c, 404, 4001, "unknown market");
    return;
  }
  engine_cmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  cmd.type = halt ? ENGINE_CMD_HALT : ENGINE_CMD_RESUME;
  cmd.market = (uint32_t)market;
  submit(c, &cmd, PROTO_OP_ADMIN_HALT);
}

/* "<uid>@account" or "<uid>@position": the uid and the subscription bit, or false. */
static bool private_target(const char *ch, size_t len, uint64_t *uid, uint16_t *sub,
                           const char **name, size_t *name_len) {
  size_t i = 0;
  *uid = 0;
  while (i < len && i < 19 && ch[i] >= '0' && ch[i] <= '9')
    *uid = *uid * 10 + (uint64_t)(ch[i++] - '0');
  if (i == 0 || *uid == 0 || i >= len || ch[i] != '@') return false;
  *name = ch + i;
  *name_len = len - i;
  if (*name_len == 8 && memcmp(*name, "@account", 8) == 0)
    *sub = PROTO_SUB_ACCOUNT;
  else if (*name_len == 9 && memcmp(*name, "@position", 9) == 0)
    *sub = PROTO_SUB_POSITION;
  else
    return false;
  return true;
}

/*
 * A publication to a public channel (e.g. "BTCUSDT@trades"): framed here once,
 * fanned out by the broadcast thread like market data. "delivered" counts the
 * channel's subscribers over every io thread at this moment.
 */
static void publish_public(net_conn *c, const json_token *d, const char *body, unsigned market,
                           feed_channel channel) {
  proto_thread *pt = net_conn_thread_ctx(c);
  char name[FEED_CHANNEL_NAME_MAX];
  size_t name_len = feed_channel_name(pt->cfg, market, channel, name);
  size_t raw_len = d->type == JSON_STRING ? d->len + 2 : d->len;
  const char *raw = body + d->start - (d->type == JSON_STRING ? 1 : 0);
  char *text = net_scratch(c);
  int n =
      snprintf(text, NET_SCRATCH_BYTES, "{\"event\":\"%.*s\",\"ts\":%lld,\"data\":", (int)name_len,
               name, (long long)net_conn_now_ms(c));
  if ((size_t)n + raw_len + 1 > NET_SCRATCH_BYTES) {
    net_http_error_code(c, 413, 1003, "publication too large");
    return;
  }
  memcpy(text + n, raw, raw_len);
  text[n + raw_len] = '}';
  net_shared *frame = net_shared_text(text, (size_t)n + raw_len + 1);
  if (!frame) {
    net_http_error_code(c, 503, 9001, "out of memory");
    return;
  }
  uint64_t delivered = proto_market_subscribers(pt->shared, market, channel);
  proto_market_publish(pt, market, channel, frame);
  char out[64];
  int len = snprintf(out, sizeof(out), "{\"result\":{\"delivered\":%llu}}",
                     (unsigned long long)delivered);
  net_http_respond(c, 200, "application/json", out, (size_t)len);
}

/* POST /v1/publish {"channel":"1001@account","data":…} (CONNMIX: {"c":…,"d":…}) */
static void route_publish(net_conn *c, const http_request *req, const char *body, size_t len) {
  (void)req;
  json_token tokens[ADMIN_MAX_TOKENS * 16];
  json_limits limits = {.max_bytes = len, .max_depth = 32, .max_tokens = ADMIN_MAX_TOKENS * 16};
  json_doc doc;
  if (json_parse(body, len, tokens, &limits, &doc) != JSON_OK || tokens[0].type != JSON_OBJECT) {
    net_http_error_code(c, 400, 1001, "the body must be a JSON object {\"channel\",\"data\"}");
    return;
  }
  uint32_t ch = json_object_get(&doc, 0, "channel", 7), data = json_object_get(&doc, 0, "data", 4);
  if (ch == JSON_NONE) ch = json_object_get(&doc, 0, "c", 1);
  if (data == JSON_NONE) data = json_object_get(&doc, 0, "d", 1);
  const char *channel, *name;
  size_t channel_len, name_len;
  uint64_t uid;
  uint16_t sub;
  if (ch == JSON_NONE || data == JSON_NONE || !json_string_raw(&doc, ch, &channel, &channel_len)) {
    net_http_error_code(c, 400, 1003, "give \"channel\" (a string) and \"data\" (any JSON)");
    return;
  }
  unsigned market;
  feed_channel public_channel;
  if (feed_channel_parse(net_conn_config(c), channel, channel_len, &market, &public_channel)) {
    publish_public(c, &tokens[data], body, market, public_channel);
    return;
  }
  if (!private_target(channel, channel_len, &uid, &sub, &name, &name_len)) {
    net_http_error_code(c, 400, 2001,
                        "unknown channel: publish to a public channel (\"BTCUSDT@trades\"…) or to "
                        "\"<uid>@account\" / \"<uid>@position\"");
    return;
  }
  /* Frame it once: {"event":"@account","ts":…,"data":<data as sent>} */
  const json_token *d = &tokens[data];
  size_t raw_len = d->type == JSON_STRING ? d->len + 2 : d->len;
  const char *raw = body + d->start - (d->type == JSON_STRING ? 1 : 0);
  size_t cap = raw_len + name_len + 64;
  proto_publication *pub = malloc(sizeof(*pub) + cap);
  if (!pub) {
    net_http_error_code(c, 503, 9001, "out of memory");
    return;
  }
  pub->uid = uid;
  pub->subscription = sub;
  int n = snprintf(pub->text, cap, "{\"event\":\"%.*s\",\"ts\":%lld,\"data\":", (int)name_len, name,
                   (long long)net_conn_now_ms(c));
  memcpy(pub->text + n, raw, raw_len);
  pub->text[n + raw_len] = '}';
  pub->len = (uint32_t)(n + raw_len + 1);
  proto_thread *pt = net_conn_thread_ctx(c);
  engine_cmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  cmd.type = ENGINE_HOST_CMD_PUBLISH;
  cmd.uid = uid;
  cmd.amount = (int64_t)(uintptr_t)pub;
  unsigned local = proto_publication_deliver(pt, pub);
  proto_id none = {.kind = PROTO_ID_NONE};
  uint64_t tag = proto_pending_start(pt, c, PROTO_OP_ADMIN_PUBLISH, &none, 0);
  if (!tag) {
    free(pub);
    net_http_error_code(c, 503, 9002, "server busy: too many requests in flight; retry");
    return;
  }
  proto_pending_set_publication(pt, tag, pub, local);
  cmd.tag = tag;
  cmd.ts_ms = net_conn_now_ms(c);
  if (!proto_submit(pt, &cmd)) {
    proto_pending_abort(pt, tag); /* frees pub */
    net_http_error_code(c, 503, 9002, "server busy: the engine's queue is full; retry");
    return;
  }
  net_http_defer(c);
}

void proto_route_health(net_conn *c, const http_request *req, const char *body, size_t len);
void proto_route_metrics(net_conn *c, const http_request *req, const char *body, size_t len);

const net_route proto_admin_routes[] = {
    {HTTP_GET, "/health", proto_route_health},     {HTTP_GET, "/metrics", proto_route_metrics},
    {HTTP_POST, "/admin/deposit", route_deposit},  {HTTP_POST, "/admin/withdraw", route_withdraw},
    {HTTP_GET, "/admin/balances", route_balances}, {HTTP_POST, "/admin/apikeys", route_apikeys},
    {HTTP_POST, "/admin/totp", route_totp},        {HTTP_POST, "/admin/markets/*", route_market},
    {HTTP_POST, "/v1/publish", route_publish},
};
const unsigned proto_admin_route_count = sizeof(proto_admin_routes) / sizeof(proto_admin_routes[0]);
