/*
 * native.c: the native dialect on /ws (shared/spec/PROTOCOL.md): welcome,
 * ping, auth (JWT or API key), private subscriptions, order entry, queries
 * and API-key management. Requests are parsed with the zero-copy tokenizer
 * into a token array on the stack; order ops become binary engine commands
 * (engine_json.c), and their replies come back through session.c.
 *
 * Runs on the io threads.
 */
#include "proto_internal.h"

#include "bourse/clock.h"
#include "bourse/engine_json.h"

#include <stdio.h>
#include <string.h>

#define NATIVE_MAX_TOKENS 512
#define NATIVE_MAX_DEPTH  16

static void send_writer(net_conn *c, json_writer *w) {
  size_t len;
  if (json_writer_finish(w, &len) == JSON_OK) net_send_text(c, w->buf, len);
}

void proto_reply_begin(json_writer *w, const request *r) {
  json_writer_init(w, net_scratch(r->c), NET_SCRATCH_BYTES);
  json_write_object_begin(w);
  proto_write_id(w, &r->id);
  JSON_WRITE_KEY(w, "result");
}

void proto_reply_end(json_writer *w, const request *r) {
  json_write_object_end(w);
  send_writer(r->c, w);
}

static void reply_true(const request *r) {
  json_writer w;
  proto_reply_begin(&w, r);
  json_write_bool(&w, true);
  proto_reply_end(&w, r);
}

void proto_fail(const request *r, int code, const char *msg) {
  proto_send_error(r->c, &r->id, code, msg);
}

/* The string member `key` of `obj` without escapes, or false. */
bool proto_member_string(const json_doc *doc, uint32_t obj, const char *key, const char **s,
                         size_t *len) {
  uint32_t tok = json_object_get(doc, obj, key, strlen(key));
  return tok != JSON_NONE && json_string_raw(doc, tok, s, len);
}

/* ---- welcome and auth on the upgrade --------------------------------------------- */

static bool authenticate(const request *r, uint64_t uid, uint32_t permissions, bool by_key);

static bool subscribe_name(const request *r, const char *name, size_t len, bool on);

static void native_open(net_conn *c, const http_request *req) {
  const config *cfg = net_conn_config(c);
  ((proto_conn *)net_conn_state(c))->market_subs = UINT32_MAX;
  json_writer w;
  json_writer_init(&w, net_scratch(c), NET_SCRATCH_BYTES);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "op");
  JSON_WRITE_STRING(&w, "welcome");
  JSON_WRITE_KEY(&w, "ts");
  json_write_int64(&w, clock_wall_ms());
  JSON_WRITE_KEY(&w, "session");
  json_write_string(&w, net_conn_session(c), strlen(net_conn_session(c)));
  JSON_WRITE_KEY(&w, "ping_interval");
  json_write_uint64(&w, cfg->ws_ping_interval_ms);
  JSON_WRITE_KEY(&w, "ping_timeout");
  json_write_uint64(&w, cfg->ws_ping_timeout_ms);
  JSON_WRITE_KEY(&w, "version");
  JSON_WRITE_STRING(&w, BOURSE_VERSION);
  json_write_object_end(&w);
  send_writer(c, &w);
  /* Peatio style: /ws?stream=BTCUSDT@depth&stream=BTCUSDT@trades subscribes at once. */
  proto_thread *streams_pt = net_conn_thread_ctx(c);
  for (http_str rest = req->query, v; streams_pt && http_query_get(rest, "stream", &v);) {
    request r = {.c = c, .pt = streams_pt, .pc = net_conn_state(c)};
    subscribe_name(&r, v.ptr, v.len, true);
    rest.len -= (uint32_t)(v.ptr + v.len - rest.ptr);
    rest.ptr = v.ptr + v.len;
  }
  /* Peatio clients send their JWT as a bearer header on the upgrade. */
  const http_str *bearer = http_header_get(req, "authorization");
  proto_thread *pt = net_conn_thread_ctx(c);
  if (bearer && pt) {
    uint64_t uid;
    char why[160];
    request r = {.c = c, .pt = pt, .pc = net_conn_state(c)};
    auth_status st = auth_jwt_verify(&pt->shared->jwt, bearer->ptr, bearer->len,
                                     clock_wall_ms() / 1000, &uid, why, sizeof(why));
    if (st == AUTH_OK)
      authenticate(&r, uid, AUTH_PERM_ALL, false);
    else
      proto_fail(&r, (int)st, why);
  }
}

static void native_close(net_conn *c) {
  proto_thread *pt = net_conn_thread_ctx(c);
  if (!pt) return;
  proto_session_remove(pt, c);
  proto_market_close(pt, c);
}

/* ---- requests that need no user ---------------------------------------------------- */

static void op_ping(const request *r) {
  json_writer w;
  json_writer_init(&w, net_scratch(r->c), NET_SCRATCH_BYTES);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "op");
  JSON_WRITE_STRING(&w, "pong");
  proto_write_id(&w, &r->id);
  JSON_WRITE_KEY(&w, "ts");
  json_write_int64(&w, net_conn_now_ms(r->c));
  json_write_object_end(&w);
  send_writer(r->c, &w);
}

static bool authenticate(const request *r, uint64_t uid, uint32_t permissions, bool by_key) {
  if (r->pc->uid && r->pc->uid != uid) {
    proto_fail(r, 3004, "this connection is already authenticated as another user");
    return false;
  }
  if (!r->pc->uid) proto_session_add(r->pt, r->c, uid);
  r->pc->permissions = permissions;
  r->pc->by_api_key = by_key;
  json_writer w;
  proto_reply_begin(&w, r);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "uid");
  json_write_uint64(&w, uid);
  json_write_object_end(&w);
  proto_reply_end(&w, r);
  return true;
}

static void op_auth(const request *r) {
  const json_doc *doc = r->doc;
  const char *token, *key, *ts, *sig;
  size_t token_len, key_len, ts_len, sig_len;
  char why[160];
  uint64_t uid;
  if (proto_member_string(doc, 0, "token", &token, &token_len)) {
    auth_status st = auth_jwt_verify(&r->pt->shared->jwt, token, token_len,
                                     net_conn_now_ms(r->c) / 1000, &uid, why, sizeof(why));
    if (st != AUTH_OK) {
      proto_fail(r, (int)st, why);
      return;
    }
    authenticate(r, uid, AUTH_PERM_ALL, false);
    return;
  }
  uint32_t ts_tok = json_object_get(doc, 0, "ts", 2);
  if (!proto_member_string(doc, 0, "key", &key, &key_len) || ts_tok == JSON_NONE ||
      !proto_member_string(doc, 0, "sig", &sig, &sig_len)) {
    proto_fail(r, 1003,
               "auth needs \"token\" (a JWT), or \"key\", \"ts\" and \"sig\" (an API key)");
    return;
  }
  int64_t ts_value;
  if (json_get_int64(doc, ts_tok, &ts_value) != JSON_OK) {
    proto_fail(r, 3003, "\"ts\" must be an integer: milliseconds since the epoch");
    return;
  }
  ts = doc->input + doc->tokens[ts_tok].start; /* the signed bytes are its text */
  ts_len = doc->tokens[ts_tok].len;
  auth_ip peer;
  const char *peer_text = net_conn_peer(r->c);
  bool has_peer = auth_ip_parse(peer_text, strlen(peer_text), &peer) == 0;
  uint32_t permissions;
  auth_status st = auth_apikey_login(r->pt->keys, key, key_len, ts, ts_len, sig, sig_len,
                                     net_conn_now_ms(r->c), r->pt->cfg->auth_recv_window_ms,
                                     has_peer ? &peer : NULL, &uid, &permissions, why, sizeof(why));
  if (st != AUTH_OK) {
    proto_fail(r, (int)st, why);
    return;
  }
  authenticate(r, uid, permissions, true);
}

/* ---- subscriptions ----------------------------------------------------------------- */

static uint16_t private_channel(const char *name, size_t len) {
  static const struct {
    const char *name;
    uint16_t bit;
  } channels[] = {{"@order", PROTO_SUB_ORDER},
                  {"@trade", PROTO_SUB_TRADE},
                  {"@balance", PROTO_SUB_BALANCE},
                  {"@account", PROTO_SUB_ACCOUNT},
                  {"@position", PROTO_SUB_POSITION}};
  for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++)
    if (len == strlen(channels[i].name) && memcmp(name, channels[i].name, len) == 0)
      return channels[i].bit;
  return 0;
}

/* A public market-data channel; false after replying with an error. */
static bool subscribe_market(const request *r, const char *name, size_t len, bool on) {
  unsigned market;
  feed_channel channel;
  if (!feed_channel_parse(r->pt->cfg, name, len, &market, &channel)) return false;
  if (!on) {
    if (proto_market_unsubscribe(r->pt, r->c, market, channel)) r->pc->subscription_count--;
    return true;
  }
  if (r->pc->subscription_count >= r->pt->cfg->limits_max_subscriptions) {
    proto_fail(r, 2002, "too many subscriptions on this connection (limits.max_subscriptions)");
    return false;
  }
  int added = proto_market_subscribe(r->pt, r->c, market, channel);
  if (added < 0) {
    proto_fail(r, 9001, "out of memory for subscriptions");
    return false;
  }
  r->pc->subscription_count += (uint32_t)added; /* a repeated subscribe counts once */
  return true;
}

/* Applies one channel by name; false after replying with an error. */
static bool subscribe_name(const request *r, const char *name, size_t len, bool on) {
  unsigned market;
  feed_channel channel;
  if (feed_channel_parse(r->pt->cfg, name, len, &market, &channel))
    return subscribe_market(r, name, len, on);
  uint16_t bit = private_channel(name, len);
  if (!bit) {
    char msg[128];
    snprintf(msg, sizeof(msg), "unknown channel \"%.*s\"", len > 64 ? 64 : (int)len, name);
    proto_fail(r, 2001, msg);
    return false;
  }
  if (on && !r->pc->uid) {
    proto_fail(r, 2003, "private channels need auth first");
    return false;
  }
  if (on && !(r->pc->permissions & AUTH_PERM_READ)) {
    proto_fail(r, 3004, "private channels need the read permission (this API key lacks it)");
    return false;
  }
  bool had = (r->pc->subscriptions & bit) != 0;
  if (on && !had) {
    if (r->pc->subscription_count >= r->pt->cfg->limits_max_subscriptions) {
      proto_fail(r, 2002, "too many subscriptions on this connection (limits.max_subscriptions)");
      return false;
    }
    r->pc->subscriptions |= bit;
    r->pc->subscription_count++;
  } else if (!on && had) {
    r->pc->subscriptions &= (uint16_t)~bit;
    r->pc->subscription_count--;
  }
  return true;
}

/* Applies one channel given as a JSON token; false after replying with an error. */
static bool subscribe_one(const request *r, uint32_t tok, bool on) {
  const char *name;
  size_t len;
  if (!json_string_raw(r->doc, tok, &name, &len)) {
    proto_fail(r, 1003, "channels are strings such as \"BTCUSDT@depth\" or \"@order\"");
    return false;
  }
  return subscribe_name(r, name, len, on);
}

static void op_subscribe(const request *r, bool on) {
  const json_doc *doc = r->doc;
  uint32_t args = json_object_get(doc, 0, "args", 4);
  uint32_t channel = json_object_get(doc, 0, "channel", 7);
  if (args != JSON_NONE && doc->tokens[args].type == JSON_ARRAY) {
    uint32_t tok = args + 1;
    for (uint32_t i = 0; i < doc->tokens[args].count; i++, tok = doc->tokens[tok].next)
      if (!subscribe_one(r, tok, on)) return;
  } else if (channel != JSON_NONE) {
    if (!subscribe_one(r, channel, on)) return;
  } else {
    proto_fail(r, 1003, "subscribe needs \"args\": [channels] or \"channel\": \"name\"");
    return;
  }
  reply_true(r);
}

static void op_list(const request *r) {
  static const char *const names[] = {"@order", "@trade", "@balance", "@account", "@position"};
  json_writer w;
  proto_reply_begin(&w, r);
  json_write_array_begin(&w);
  for (unsigned i = 0; i < 5; i++)
    if (r->pc->subscriptions & (1u << i)) json_write_string(&w, names[i], strlen(names[i]));
  proto_market_list(r->pt, r->pc, &w);
  json_write_array_end(&w);
  proto_reply_end(&w, r);
}

/* ---- order entry and queries ----------------------------------------------------- */

bool proto_need_user(const request *r, uint32_t permission) {
  if (!r->pc->uid) {
    proto_fail(r, 2003, "auth required: send the auth op first");
    return false;
  }
  if (!(r->pc->permissions & permission)) {
    proto_fail(r, 3004,
               permission == AUTH_PERM_TRADE ? "this API key lacks the trade permission"
                                             : "this API key lacks the read permission");
    return false;
  }
  return true;
}

/* Sends cmd to the engine; the reply comes back through session.c. */
static void submit(const request *r, engine_cmd *cmd, uint8_t op) {
  uint64_t tag = proto_pending_start(r->pt, r->c, op, &r->id, 0);
  if (!tag) {
    proto_fail(r, 9002, "server busy: too many requests in flight; retry");
    return;
  }
  cmd->uid = r->pc->uid;
  cmd->tag = tag;
  cmd->ts_ms = net_conn_now_ms(r->c);
  if (!proto_submit(r->pt, cmd)) {
    proto_pending_abort(r->pt, tag);
    proto_fail(r, 9002, "server busy: the engine's queue is full; retry");
  }
}

typedef int (*decode_fn)(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd);

static void order_op(const request *r, decode_fn decode, uint8_t op) {
  if (!proto_need_user(r, AUTH_PERM_TRADE)) return;
  engine_cmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  int code = decode(r->pt->cfg, r->doc, r->args, &cmd);
  if (code) {
    proto_fail(r, code, code == 4001 ? "unknown market" : "missing or invalid field in args");
    return;
  }
  submit(r, &cmd, op);
}

static void query_op(const request *r, uint8_t type, uint8_t op) {
  if (!proto_need_user(r, AUTH_PERM_READ)) return;
  engine_cmd cmd;
  memset(&cmd, 0, sizeof(cmd));
  cmd.type = type;
  const char *market;
  size_t len;
  if (type == ENGINE_HOST_CMD_QUERY_ORDERS &&
      proto_member_string(r->doc, r->args, "market", &market, &len)) {
    int m = config_find_market(r->pt->cfg, market, len);
    if (m < 0) {
      proto_fail(r, 4001, "unknown market");
      return;
    }
    cmd.market = (uint32_t)m;
    cmd.flags = ENGINE_CMD_F_MARKET;
  }
  submit(r, &cmd, op);
}

/* ---- dispatch -------------------------------------------------------------------- */

/* Reads "id"; returns false (and replies 1003) when it is present but invalid. */
static bool read_id(net_conn *c, const json_doc *doc, proto_id *id) {
  id->kind = PROTO_ID_NONE;
  uint32_t tok = json_object_get(doc, 0, "id", 2);
  if (tok == JSON_NONE) return true;
  if (json_get_int64(doc, tok, &id->number) == JSON_OK) {
    id->kind = PROTO_ID_INT;
    return true;
  }
  size_t len;
  if (doc->tokens[tok].type == JSON_STRING &&
      json_string_unescape(doc, tok, id->text, sizeof(id->text), &len) == JSON_OK) {
    id->kind = PROTO_ID_STRING;
    id->len = (uint8_t)len;
    return true;
  }
  proto_send_error(c, id, PROTO_ERR_BAD_FIELD,
                   "id must be an integer (int64) or a string of at most 36 characters");
  return false;
}

static void dispatch(const request *r, const char *op, size_t len) {
#define OP_IS(s) (len == sizeof(s) - 1 && memcmp(op, s, len) == 0)
  if (OP_IS("ping"))
    op_ping(r);
  else if (OP_IS("auth"))
    op_auth(r);
  else if (OP_IS("subscribe"))
    op_subscribe(r, true);
  else if (OP_IS("unsubscribe"))
    op_subscribe(r, false);
  else if (OP_IS("list"))
    op_list(r);
  else if (OP_IS("order.place"))
    order_op(r, engine_json_place, PROTO_OP_PLACE);
  else if (OP_IS("order.cancel"))
    order_op(r, engine_json_cancel, PROTO_OP_CANCEL);
  else if (OP_IS("order.cancel_all"))
    order_op(r, engine_json_cancel_all, PROTO_OP_CANCEL_ALL);
  else if (OP_IS("order.amend"))
    order_op(r, engine_json_amend, PROTO_OP_AMEND);
  else if (OP_IS("orders"))
    query_op(r, ENGINE_HOST_CMD_QUERY_ORDERS, PROTO_OP_ORDERS);
  else if (OP_IS("balances"))
    query_op(r, ENGINE_HOST_CMD_QUERY_BALANCES, PROTO_OP_BALANCES);
  else if (len > 7 && memcmp(op, "apikey.", 7) == 0)
    proto_apikey_op(r, op + 7, len - 7);
  else {
    char msg[96];
    snprintf(msg, sizeof(msg), "unknown op \"%.*s\"", len > 40 ? 40 : (int)len, op);
    proto_fail(r, PROTO_ERR_UNKNOWN_OP, msg);
  }
#undef OP_IS
}

static void native_text(net_conn *c, const char *data, size_t len) {
  json_token tokens[NATIVE_MAX_TOKENS];
  json_limits limits = {
      .max_bytes = len, .max_depth = NATIVE_MAX_DEPTH, .max_tokens = NATIVE_MAX_TOKENS};
  json_doc doc;
  request r = {.c = c, .pt = net_conn_thread_ctx(c), .pc = net_conn_state(c), .doc = &doc};
  if (json_parse(data, len, tokens, &limits, &doc) != JSON_OK) {
    char msg[160];
    snprintf(msg, sizeof(msg), "bad JSON: %s at byte %zu", doc.error.message, doc.error.offset);
    proto_send_error(c, &r.id, PROTO_ERR_BAD_JSON, msg);
    return;
  }
  if (tokens[0].type != JSON_OBJECT) {
    proto_send_error(c, &r.id, PROTO_ERR_BAD_FIELD,
                     "a request must be a JSON object with an \"op\"");
    return;
  }
  if (!read_id(c, &doc, &r.id)) return;
  int limited = net_conn_rate_take(c, 1);
  if (limited == -2) return; /* closing for abuse */
  if (limited == -1) {
    proto_fail(&r, PROTO_ERR_RATE_LIMITED,
               "rate limited: too many requests on this connection; slow down");
    return;
  }
  const char *name;
  size_t name_len;
  uint32_t op = json_object_get(&doc, 0, "op", 2);
  if (op == JSON_NONE || !json_string_raw(&doc, op, &name, &name_len)) {
    proto_fail(&r, PROTO_ERR_BAD_FIELD, "missing or invalid field \"op\" (a string)");
    return;
  }
  uint32_t args = json_object_get(&doc, 0, "args", 4);
  r.args = args != JSON_NONE && tokens[args].type == JSON_OBJECT ? args : 0;
  dispatch(&r, name, name_len);
}

const net_dialect proto_native_dialect = {
    .name = "native",
    .path = "/ws",
    .subprotocols = NULL,
    .on_open = native_open,
    .on_text = native_text,
    .on_close = native_close,
};
