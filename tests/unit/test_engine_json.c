/*
 * test_engine_json.c: JSON request fields -> engine_cmd (field types,
 * spellings, decimal strings -> ticks/lots/units, the 0 convention for
 * unrepresentable values) and engine integers -> decimal strings.
 */
#include <string.h>

#include "bourse/engine_json.h"
#include "check.h"

static config cfg;

static void make_config(void) {
  memset(&cfg, 0, sizeof cfg);
  cfg.asset_count = 2;
  snprintf(cfg.assets[0].name, sizeof cfg.assets[0].name, "BTC");
  snprintf(cfg.assets[1].name, sizeof cfg.assets[1].name, "USDT");
  cfg.assets[0].decimals = 8;
  cfg.assets[1].decimals = 6;
  cfg.market_count = 1;
  config_market *m = &cfg.markets[0];
  snprintf(m->name, sizeof m->name, "BTCUSDT");
  m->base = 0, m->quote = 1;
  m->price_scale = 1, m->tick = 5; /* 0.5 */
  m->qty_scale = 3, m->lot = 1;    /* 0.001 */
  m->lot_units = 100000, m->notional_unit = 500;
}

static json_token tokens[256];
static json_doc doc;

static int decode(const char *op, const char *text, engine_cmd *cmd) {
  json_limits lim = {.max_bytes = 4096, .max_depth = 8, .max_tokens = 256};
  memset(cmd, 0, sizeof *cmd);
  if (json_parse(text, strlen(text), tokens, &lim, &doc) != JSON_OK) return -1;
  if (strcmp(op, "place") == 0) return engine_json_place(&cfg, &doc, 0, cmd);
  if (strcmp(op, "cancel") == 0) return engine_json_cancel(&cfg, &doc, 0, cmd);
  if (strcmp(op, "amend") == 0) return engine_json_amend(&cfg, &doc, 0, cmd);
  if (strcmp(op, "cancel_all") == 0) return engine_json_cancel_all(&cfg, &doc, 0, cmd);
  return engine_json_transfer(&cfg, &doc, 0, ENGINE_CMD_DEPOSIT, cmd);
}

static void test_place(void) {
  engine_cmd c;
  CHECK_EQ_INT(decode("place",
                      "{\"market\":\"btcUSDT\",\"side\":\"sell\",\"type\":\"stop_limit\","
                      "\"price\":\"100.50\",\"stop\":\"99\",\"qty\":\"1.25\",\"tif\":\"ioc\","
                      "\"stp\":\"cancel_both\",\"client_id\":\"a\\u0062c\",\"post_only\":false}",
                      &c),
               0);
  CHECK_EQ_INT(c.type, ENGINE_CMD_PLACE);
  CHECK_EQ_INT(c.market, 0);
  CHECK_EQ_INT(c.side, ENGINE_SIDE_SELL);
  CHECK_EQ_INT(c.order_type, ENGINE_TYPE_STOP_LIMIT);
  CHECK_EQ_INT(c.price, 201);
  CHECK_EQ_INT(c.stop, 198);
  CHECK_EQ_INT(c.qty, 1250);
  CHECK_EQ_INT(c.tif, ENGINE_TIF_IOC);
  CHECK_EQ_INT(c.stp, ENGINE_STP_CANCEL_BOTH);
  CHECK_EQ_STR(c.client_id, "abc");
  CHECK(c.flags ==
        (ENGINE_CMD_F_PRICE | ENGINE_CMD_F_STOP | ENGINE_CMD_F_QTY | ENGINE_CMD_F_CLIENT_ID));
  /* Unrepresentable values pass as 0 with their flag: the engine rejects them in order. */
  const char *zeros[] = {
      "{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"100.25\","
      "\"qty\":\"1\"}",
      "{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"-5\","
      "\"qty\":\"1\"}",
      "{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":"
      "\"99999999999999999999\",\"qty\":\"1\"}",
      "{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"0\",\"qty\":\"1\"}",
  };
  for (int i = 0; i < 4; i++) {
    CHECK_EQ_INT(decode("place", zeros[i], &c), 0);
    CHECK_EQ_INT(c.price, 0);
    CHECK(c.flags & ENGINE_CMD_F_PRICE);
  }
  CHECK_EQ_INT(decode("place",
                      "{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"market\","
                      "\"quote_qty\":\"10.0000001\"}",
                      &c),
               0);
  CHECK_EQ_INT(c.quote_qty, 0); /* finer than the quote asset's unit */
  CHECK_EQ_INT(decode("place",
                      "{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"market\","
                      "\"quote_qty\":\"10.000001\",\"price\":\"junk\",\"tif\":7}",
                      &c),
               0); /* market orders ignore price and tif */
  CHECK_EQ_INT(c.quote_qty, 10000001);
  CHECK(!(c.flags & ENGINE_CMD_F_PRICE));
  /* Decoder-level errors, in order: 1003 before the market is 1003, unknown market 4001. */
  const struct {
    const char *json;
    int code;
  } bad[] = {
      {"{\"side\":\"buy\",\"type\":\"limit\",\"price\":\"1\",\"qty\":\"1\"}", 1003},
      {"{\"market\":5,\"side\":\"buy\"}", 1003},
      {"{\"market\":\"ETHUSDT\",\"side\":\"nope\"}", 4001},
      {"{\"market\":\"BTCUSDT\",\"side\":\"Buy\",\"type\":\"limit\"}", 1003},
      {"{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":1,\"qty\":\"1\"}",
       1003},
      {"{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"1e2\","
       "\"qty\":\"1\"}",
       1003},
      {"{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"1.\","
       "\"qty\":\"1\"}",
       1003},
      {"{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"1\","
       "\"qty\":\"+1\"}",
       1003},
      {"{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"1\","
       "\"qty\":\"1\",\"tif\":\"GTC\"}",
       1003},
      {"{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"1\","
       "\"qty\":\"1\",\"post_only\":1}",
       1003},
      {"{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"1\","
       "\"qty\":\"1\",\"client_id\":\"0123456789012345678901234567890123456\"}",
       1003},
      {"{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":\"1\","
       "\"qty\":\"1\",\"client_id\":\"a\\u0000b\"}",
       1003},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int code = decode("place", bad[i].json, &c);
    if (code != bad[i].code) fprintf(stderr, "case %zu: %s\n", i, bad[i].json);
    CHECK_EQ_INT(code, bad[i].code);
  }
  /* null counts as absent; an empty client_id is no client_id. */
  CHECK_EQ_INT(decode("place",
                      "{\"market\":\"BTCUSDT\",\"side\":\"buy\",\"type\":\"limit\",\"price\":"
                      "\"1\",\"qty\":\"1\",\"stp\":null,\"client_id\":\"\"}",
                      &c),
               0);
  CHECK(!(c.flags & ENGINE_CMD_F_CLIENT_ID));
}

static void test_targets(void) {
  engine_cmd c;
  CHECK_EQ_INT(decode("cancel", "{\"market\":\"BTCUSDT\",\"order_id\":\"42\"}", &c), 0);
  CHECK(c.order_id == 42 && (c.flags & ENGINE_CMD_F_ORDER_ID));
  CHECK_EQ_INT(decode("cancel", "{\"market\":\"BTCUSDT\",\"order_id\":42}", &c), 0);
  CHECK(c.order_id == 42);
  CHECK_EQ_INT(decode("cancel", "{\"market\":\"BTCUSDT\",\"order_id\":0}", &c), 1003);
  CHECK_EQ_INT(decode("cancel", "{\"market\":\"BTCUSDT\",\"order_id\":\"4x\"}", &c), 1003);
  CHECK_EQ_INT(decode("cancel", "{\"market\":\"BTCUSDT\",\"order_id\":1.5}", &c), 1003);
  CHECK_EQ_INT(
      decode("amend", "{\"market\":\"BTCUSDT\",\"client_id\":\"k\",\"qty\":\"0.002\"}", &c), 0);
  CHECK(c.qty == 2 && (c.flags & ENGINE_CMD_F_CLIENT_ID) && !(c.flags & ENGINE_CMD_F_PRICE));
  CHECK_EQ_INT(decode("cancel_all", "{}", &c), 0);
  CHECK(!(c.flags & ENGINE_CMD_F_MARKET));
  CHECK_EQ_INT(decode("cancel_all", "{\"market\":\"nope\"}", &c), 4001);
  CHECK_EQ_INT(decode("deposit", "{\"asset\":\"usdt\",\"amount\":\"1.5\"}", &c), 0);
  CHECK(c.asset == 1 && c.amount == 1500000);
  CHECK_EQ_INT(decode("deposit", "{\"asset\":\"DOGE\",\"amount\":\"1\"}", &c), 1003);
  CHECK_EQ_INT(decode("deposit", "{\"asset\":\"BTC\",\"amount\":1}", &c), 1003);
  CHECK_EQ_INT(decode("deposit", "{\"asset\":\"BTC\",\"amount\":\"0.000000001\"}", &c), 0);
  CHECK_EQ_INT(c.amount, 0);
  uint64_t uid;
  json_limits lim = {.max_bytes = 100, .max_depth = 2, .max_tokens = 16};
  const char *uids[] = {"{\"uid\":7}", "{\"uid\":0}", "{\"uid\":-1}", "{\"uid\":\"7\"}", "{}"};
  for (int i = 0; i < 5; i++) {
    json_parse(uids[i], strlen(uids[i]), tokens, &lim, &doc);
    CHECK_EQ_INT(engine_json_uid(&doc, 0, &uid), i == 0 ? 0 : 1003);
  }
  CHECK(uid == 7);
}

static void test_format(void) {
  char buf[ENGINE_JSON_DECIMAL_MAX];
  const config_market *m = &cfg.markets[0];
  engine_json_price(m, 201, buf);
  CHECK_EQ_STR(buf, "100.5");
  engine_json_price(m, 200, buf);
  CHECK_EQ_STR(buf, "100");
  engine_json_qty(m, 1250, buf);
  CHECK_EQ_STR(buf, "1.25");
  engine_json_qty(m, 0, buf);
  CHECK_EQ_STR(buf, "0");
  engine_json_qty(m, 5, buf);
  CHECK_EQ_STR(buf, "0.005");
  engine_json_amount(&cfg.assets[1], 1, buf);
  CHECK_EQ_STR(buf, "0.000001");
  engine_json_amount(&cfg.assets[1], -2500000, buf);
  CHECK_EQ_STR(buf, "-2.5");
  /* ticks x tick beyond int64 is formed in 128 bits, not wrapped. */
  engine_json_price(m, INT64_MAX, buf);
  CHECK_EQ_STR(buf, "4611686018427387903.5");
}

int main(void) {
  make_config();
  test_place();
  test_targets();
  test_format();
  return check_report("engine_json");
}
