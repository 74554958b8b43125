/*
 * native.c: the native dialect (/ws), shared/spec/PROTOCOL.md. For now it
 * greets (welcome) and answers the ping op; every other op is answered with
 * error 1002 until the order-entry ops land. Requests are parsed with the
 * zero-copy tokenizer into a token array on the stack: no allocation.
 *
 * Runs on the io threads.
 */
#include "bourse/clock.h"
#include "bourse/json.h"
#include "bourse/proto.h"

#include <stdio.h>
#include <string.h>

#define NATIVE_MAX_TOKENS 512
#define NATIVE_MAX_DEPTH  16
#define NATIVE_MAX_ID     36

/* A request's "id", echoed in its reply: absent, an int64, or a short string. */
typedef struct native_id {
  enum { ID_NONE, ID_INT, ID_STRING } kind;
  int64_t number;
  char text[NATIVE_MAX_ID + 1];
  size_t text_len;
} native_id;

static void write_id(json_writer *w, const native_id *id) {
  if (id->kind == ID_NONE) return;
  JSON_WRITE_KEY(w, "id");
  if (id->kind == ID_INT)
    json_write_int64(w, id->number);
  else
    json_write_string(w, id->text, id->text_len);
}

static void send_writer(net_conn *c, json_writer *w) {
  size_t len;
  if (json_writer_finish(w, &len) == JSON_OK) net_send_text(c, w->buf, len);
}

static void send_error(net_conn *c, const native_id *id, int code, const char *msg) {
  json_writer w;
  json_writer_init(&w, net_scratch(c), NET_SCRATCH_BYTES);
  json_write_object_begin(&w);
  write_id(&w, id);
  JSON_WRITE_KEY(&w, "code");
  json_write_int64(&w, code);
  JSON_WRITE_KEY(&w, "msg");
  json_write_string(&w, msg, strlen(msg));
  json_write_object_end(&w);
  send_writer(c, &w);
}

static void native_open(net_conn *c) {
  const config *cfg = net_conn_config(c);
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
}

/* Reads "id"; returns false (and replies 1003) when it is present but invalid. */
static bool read_id(net_conn *c, const json_doc *doc, native_id *id) {
  id->kind = ID_NONE;
  uint32_t tok = json_object_get(doc, 0, "id", 2);
  if (tok == JSON_NONE) return true;
  if (json_get_int64(doc, tok, &id->number) == JSON_OK) {
    id->kind = ID_INT;
    return true;
  }
  if (doc->tokens[tok].type == JSON_STRING &&
      json_string_unescape(doc, tok, id->text, sizeof(id->text), &id->text_len) == JSON_OK) {
    id->kind = ID_STRING;
    return true;
  }
  send_error(c, id, PROTO_ERR_BAD_FIELD,
             "id must be an integer (int64) or a string of at most 36 characters");
  return false;
}

static void op_ping(net_conn *c, const native_id *id) {
  json_writer w;
  json_writer_init(&w, net_scratch(c), NET_SCRATCH_BYTES);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "op");
  JSON_WRITE_STRING(&w, "pong");
  write_id(&w, id);
  JSON_WRITE_KEY(&w, "ts");
  json_write_int64(&w, clock_wall_ms());
  json_write_object_end(&w);
  send_writer(c, &w);
}

static void native_text(net_conn *c, const char *data, size_t len) {
  json_token tokens[NATIVE_MAX_TOKENS];
  json_limits limits = {
      .max_bytes = len, .max_depth = NATIVE_MAX_DEPTH, .max_tokens = NATIVE_MAX_TOKENS};
  json_doc doc;
  native_id id = {.kind = ID_NONE};
  if (json_parse(data, len, tokens, &limits, &doc) != JSON_OK) {
    char msg[160];
    snprintf(msg, sizeof(msg), "bad JSON: %s at byte %zu", doc.error.message, doc.error.offset);
    send_error(c, &id, PROTO_ERR_BAD_JSON, msg);
    return;
  }
  if (tokens[0].type != JSON_OBJECT) {
    send_error(c, &id, PROTO_ERR_BAD_FIELD, "a request must be a JSON object with an \"op\"");
    return;
  }
  if (!read_id(c, &doc, &id)) return;
  int limited = net_conn_rate_take(c, 1);
  if (limited == -2) return; /* closing for abuse */
  if (limited == -1) {
    send_error(c, &id, PROTO_ERR_RATE_LIMITED,
               "rate limited: too many requests on this connection; slow down");
    return;
  }
  uint32_t op = json_object_get(&doc, 0, "op", 2);
  const char *name;
  size_t name_len;
  if (op == JSON_NONE || !json_string_raw(&doc, op, &name, &name_len)) {
    send_error(c, &id, PROTO_ERR_BAD_FIELD, "missing or invalid field \"op\" (a string)");
    return;
  }
  if (name_len == 4 && memcmp(name, "ping", 4) == 0) {
    op_ping(c, &id);
    return;
  }
  char msg[96];
  snprintf(msg, sizeof(msg), "unknown op \"%.*s\"", name_len > 40 ? 40 : (int)name_len, name);
  send_error(c, &id, PROTO_ERR_UNKNOWN_OP, msg);
}

const net_dialect proto_native_dialect = {
    .name = "native",
    .path = "/ws",
    .subprotocols = NULL,
    .on_open = native_open,
    .on_text = native_text,
    .on_close = NULL,
};
