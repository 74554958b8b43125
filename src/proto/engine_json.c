/*
 * engine_json.c: JSON request fields -> engine_cmd, engine integers ->
 * decimal strings; see include/bourse/engine_json.h. Thread-safe.
 */
#include "bourse/engine_json.h"

#include <string.h>

#include "bourse/decimal.h"

/* A member's token, or JSON_NONE when absent or null. */
static uint32_t member(const json_doc *doc, uint32_t obj, const char *key) {
  uint32_t tok = json_object_get(doc, obj, key, strlen(key));
  if (tok != JSON_NONE && doc->tokens[tok].type == JSON_NULL) return JSON_NONE;
  return tok;
}

/* Decodes string token `tok` into buf (cap bytes incl. NUL). False if not a string or too long. */
static bool string_value(const json_doc *doc, uint32_t tok, char *buf, size_t cap, size_t *len) {
  return doc->tokens[tok].type == JSON_STRING &&
         json_string_unescape(doc, tok, buf, cap, len) == JSON_OK;
}

/* Index of the exact string value of `tok` in names[0..n), or -1. */
static int enum_value(const json_doc *doc, uint32_t tok, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (json_string_equals(doc, tok, names[i], strlen(names[i]))) return i;
  return -1;
}

/* Reads an optional enum member into *out; 1003 if present and not one of names. */
static int optional_enum(const json_doc *doc, uint32_t obj, const char *key,
                         const char *const *names, int n, uint8_t *out) {
  uint32_t tok = member(doc, obj, key);
  if (tok == JSON_NONE) return ENGINE_OK;
  int v = enum_value(doc, tok, names, n);
  if (v < 0) return ENGINE_CODE_INVALID_FIELD;
  *out = (uint8_t)v;
  return ENGINE_OK;
}

/*
 * Parses decimal string token `tok` at `scale` and divides it by `step`: *out
 * is the quotient, or 0 when the value is <= 0, not a multiple of step,
 * finer than the scale or beyond int64. 1003 when the token is not a string
 * of the form -?D+(.D+)?.
 */
static int decimal_steps(const json_doc *doc, uint32_t tok, unsigned scale, int64_t step,
                         int64_t *out) {
  char buf[128];
  const char *text = buf;
  size_t len;
  /* Digits need no escapes: read them in place, so no length limit applies. */
  if (!json_string_raw(doc, tok, &text, &len) && !string_value(doc, tok, buf, sizeof buf, &len))
    return ENGINE_CODE_INVALID_FIELD;
  int64_t v = 0;
  decimal_status st = decimal_parse(text, len, scale, DECIMAL_ALLOW_NEGATIVE, &v);
  if (st == DECIMAL_EMPTY || st == DECIMAL_SYNTAX || st == DECIMAL_SIGN || st == DECIMAL_BAD_SCALE)
    return ENGINE_CODE_INVALID_FIELD;
  *out = st == DECIMAL_OK && v > 0 && step > 0 && v % step == 0 ? v / step : 0;
  return ENGINE_OK;
}

/* An optional decimal member: sets flag and *out when present; 1003 if malformed. */
static int optional_decimal(const json_doc *doc, uint32_t obj, const char *key, unsigned scale,
                            int64_t step, uint8_t flag, engine_cmd *cmd, int64_t *out) {
  uint32_t tok = member(doc, obj, key);
  if (tok == JSON_NONE) return ENGINE_OK;
  cmd->flags |= flag;
  return decimal_steps(doc, tok, scale, step, out);
}

/* "market": a configured market name, any case. 1003 if missing or not a string, 4001 if unknown.
 */
static int market_field(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd) {
  uint32_t tok = member(doc, obj, "market");
  char name[CONFIG_MARKET_NAME_MAX + 1];
  size_t len;
  if (tok == JSON_NONE || doc->tokens[tok].type != JSON_STRING) return ENGINE_CODE_INVALID_FIELD;
  if (!string_value(doc, tok, name, sizeof name, &len)) return ENGINE_CODE_UNKNOWN_MARKET;
  int m = config_find_market(cfg, name, len);
  if (m < 0) return ENGINE_CODE_UNKNOWN_MARKET;
  cmd->market = (uint32_t)m;
  return ENGINE_OK;
}

/* "client_id": optional string of 1..36 bytes without NUL; "" counts as absent. */
static int client_id_field(const json_doc *doc, uint32_t obj, engine_cmd *cmd) {
  uint32_t tok = member(doc, obj, "client_id");
  if (tok == JSON_NONE) return ENGINE_OK;
  size_t len;
  if (!string_value(doc, tok, cmd->client_id, sizeof cmd->client_id, &len) ||
      strlen(cmd->client_id) != len) {
    memset(cmd->client_id, 0, sizeof cmd->client_id);
    return ENGINE_CODE_INVALID_FIELD;
  }
  if (len > 0) cmd->flags |= ENGINE_CMD_F_CLIENT_ID;
  return ENGINE_OK;
}

int engine_json_uid(const json_doc *doc, uint32_t obj, uint64_t *uid) {
  uint32_t tok = member(doc, obj, "uid");
  uint64_t v;
  if (tok == JSON_NONE || json_get_uint64(doc, tok, &v) != JSON_OK || v == 0)
    return ENGINE_CODE_INVALID_FIELD;
  *uid = v;
  return ENGINE_OK;
}

static const char *const side_names[] = {"buy", "sell"};
static const char *const type_names[] = {"limit", "market", "stop_limit", "stop_market"};
static const char *const tif_names[] = {"gtc", "ioc", "fok"};
static const char *const stp_names[] = {"none", "cancel_taker", "cancel_maker", "cancel_both"};

/* side, type, tif (limit types only), post_only, stp, client_id. */
static int place_enums(const json_doc *doc, uint32_t obj, engine_cmd *cmd) {
  uint32_t side = member(doc, obj, "side"), type = member(doc, obj, "type");
  int s = side == JSON_NONE ? -1 : enum_value(doc, side, side_names, 2);
  int t = type == JSON_NONE ? -1 : enum_value(doc, type, type_names, 4);
  if (s < 0 || t < 0) return ENGINE_CODE_INVALID_FIELD;
  cmd->side = (uint8_t)s;
  cmd->order_type = (uint8_t)t;
  bool limit = t == ENGINE_TYPE_LIMIT || t == ENGINE_TYPE_STOP_LIMIT;
  cmd->tif = ENGINE_TIF_GTC;
  /* Market orders ignore tif (and price). */
  if (limit && optional_enum(doc, obj, "tif", tif_names, 3, &cmd->tif))
    return ENGINE_CODE_INVALID_FIELD;
  uint32_t post = member(doc, obj, "post_only");
  bool post_only = false;
  if (post != JSON_NONE && json_get_bool(doc, post, &post_only) != JSON_OK)
    return ENGINE_CODE_INVALID_FIELD;
  cmd->post_only = post_only;
  cmd->stp = ENGINE_STP_NONE;
  if (optional_enum(doc, obj, "stp", stp_names, 4, &cmd->stp)) return ENGINE_CODE_INVALID_FIELD;
  return client_id_field(doc, obj, cmd);
}

int engine_json_place(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd) {
  cmd->type = ENGINE_CMD_PLACE;
  int code = market_field(cfg, doc, obj, cmd);
  if (!code) code = place_enums(doc, obj, cmd);
  if (code) return code;
  const config_market *m = &cfg->markets[cmd->market];
  const config_asset *quote = &cfg->assets[m->quote];
  bool limit = cmd->order_type == ENGINE_TYPE_LIMIT || cmd->order_type == ENGINE_TYPE_STOP_LIMIT;
  bool stop =
      cmd->order_type == ENGINE_TYPE_STOP_LIMIT || cmd->order_type == ENGINE_TYPE_STOP_MARKET;
  if (limit && (code = optional_decimal(doc, obj, "price", m->price_scale, m->tick,
                                        ENGINE_CMD_F_PRICE, cmd, &cmd->price)))
    return code;
  if (stop && (code = optional_decimal(doc, obj, "stop", m->price_scale, m->tick, ENGINE_CMD_F_STOP,
                                       cmd, &cmd->stop)))
    return code;
  if ((code = optional_decimal(doc, obj, "qty", m->qty_scale, m->lot, ENGINE_CMD_F_QTY, cmd,
                               &cmd->qty)))
    return code;
  return optional_decimal(doc, obj, "quote_qty", quote->decimals, 1, ENGINE_CMD_F_QUOTE_QTY, cmd,
                          &cmd->quote_qty);
}

/* order_id (JSON integer or a string of digits, >= 1) or client_id. */
static int target_fields(const json_doc *doc, uint32_t obj, engine_cmd *cmd) {
  uint32_t tok = member(doc, obj, "order_id");
  if (tok != JSON_NONE) {
    uint64_t id = 0;
    if (doc->tokens[tok].type == JSON_STRING) {
      char text[24];
      size_t len;
      if (!string_value(doc, tok, text, sizeof text, &len) || len == 0 || len > 19)
        return ENGINE_CODE_INVALID_FIELD;
      for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return ENGINE_CODE_INVALID_FIELD;
        id = id * 10 + (uint64_t)(text[i] - '0');
      }
    } else if (json_get_uint64(doc, tok, &id) != JSON_OK) {
      return ENGINE_CODE_INVALID_FIELD;
    }
    if (id == 0) return ENGINE_CODE_INVALID_FIELD;
    cmd->order_id = id;
    cmd->flags |= ENGINE_CMD_F_ORDER_ID;
  }
  return client_id_field(doc, obj, cmd);
}

int engine_json_cancel(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd) {
  cmd->type = ENGINE_CMD_CANCEL;
  int code = market_field(cfg, doc, obj, cmd);
  return code ? code : target_fields(doc, obj, cmd);
}

int engine_json_amend(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd) {
  cmd->type = ENGINE_CMD_AMEND;
  int code = market_field(cfg, doc, obj, cmd);
  if (!code) code = target_fields(doc, obj, cmd);
  if (code) return code;
  const config_market *m = &cfg->markets[cmd->market];
  if ((code = optional_decimal(doc, obj, "price", m->price_scale, m->tick, ENGINE_CMD_F_PRICE, cmd,
                               &cmd->price)))
    return code;
  return optional_decimal(doc, obj, "qty", m->qty_scale, m->lot, ENGINE_CMD_F_QTY, cmd, &cmd->qty);
}

int engine_json_cancel_all(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd) {
  cmd->type = ENGINE_CMD_CANCEL_ALL;
  cmd->market = ENGINE_MARKET_NONE;
  if (member(doc, obj, "market") == JSON_NONE) return ENGINE_OK;
  cmd->flags |= ENGINE_CMD_F_MARKET;
  return market_field(cfg, doc, obj, cmd);
}

int engine_json_transfer(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd_type type,
                         engine_cmd *cmd) {
  cmd->type = (uint8_t)type;
  uint32_t tok = member(doc, obj, "asset");
  char name[CONFIG_ASSET_NAME_MAX + 1];
  size_t len;
  if (tok == JSON_NONE || !string_value(doc, tok, name, sizeof name, &len))
    return ENGINE_CODE_INVALID_FIELD;
  int asset = config_find_asset(cfg, name, len);
  if (asset < 0) return ENGINE_CODE_INVALID_FIELD;
  cmd->asset = (uint32_t)asset;
  tok = member(doc, obj, "amount");
  if (tok == JSON_NONE) return ENGINE_CODE_INVALID_FIELD;
  return decimal_steps(doc, tok, cfg->assets[asset].decimals, 1, &cmd->amount);
}

/* Writes value / 10^scale (value as a 128-bit product) in shortest form. */
static size_t format_scaled(__int128 value, unsigned scale, char *buf) {
  char digits[48];
  size_t n = 0;
  bool negative = value < 0;
  unsigned __int128 v = negative ? (unsigned __int128)(-value) : (unsigned __int128)value;
  do {
    digits[n++] = (char)('0' + (int)(v % 10));
    v /= 10;
  } while (v);
  while (n <= scale) digits[n++] = '0'; /* at least one digit before the point */
  unsigned trim = 0;                    /* trailing fractional zeros */
  while (trim < scale && digits[trim] == '0') trim++;
  size_t len = 0;
  if (negative) buf[len++] = '-';
  for (size_t i = n; i > scale; i--) buf[len++] = digits[i - 1];
  if (trim < scale) {
    buf[len++] = '.';
    for (size_t i = scale; i > trim; i--) buf[len++] = digits[i - 1];
  }
  buf[len] = '\0';
  return len;
}

size_t engine_json_price(const config_market *m, int64_t ticks, char *buf) {
  return format_scaled((__int128)ticks * m->tick, m->price_scale, buf);
}

size_t engine_json_qty(const config_market *m, int64_t lots, char *buf) {
  return format_scaled((__int128)lots * m->lot, m->qty_scale, buf);
}

size_t engine_json_amount(const config_asset *a, int64_t units, char *buf) {
  return format_scaled(units, a->decimals, buf);
}
