/*
 * test_engine_rules.c: validation order and reject codes, cancel,
 * cancel_all, client ids, halts, deposits and withdrawals, amend, min
 * notional and the price band (table-driven, see engine_script.h), plus the
 * checks a script cannot express (malformed binary commands, event routing
 * fields, engine_create errors).
 */
#include "engine_script.h"

/* Each place is rejected by the first failing check of RULES.md's order. */
static const char *const validation_order[] = {
    "> dep 1 USDT 1000", "ok", "> dep 1 BTC 10", "ok", "> buy 0 BTCUSDT limit p=100 q=1",
    "rej 1003", "> buy 0 NOPE limit p=100 q=1", "rej 1003", "> buy 1 NOPE limit p=100 q=1",
    "rej 4001", "> buy 1 NOPE bogus p=0 q=0", "rej 4001", "> buy 1 BTCUSDT bogus p=100 q=1",
    "rej 1003", "> buy 1 BTCUSDT limit q=1", "rej 1003", "> buy 1 BTCUSDT limit p=100", "rej 1003",
    "> buy 1 BTCUSDT limit p=100 q=1 qq=100", "rej 1003",
    "> buy 1 BTCUSDT limit p=100 q=1 tif=bogus", "rej 1003",
    "> buy 1 BTCUSDT limit p=100 q=1 stp=bogus", "rej 1003", "> buy 1 BTCUSDT stop_limit p=100 q=1",
    "rej 1003", "> buy 1 BTCUSDT stop_market q=1", "rej 1003", "> buy 1 BTCUSDT market", "rej 1003",
    "> buy 1 BTCUSDT limit p=0 q=0", "rej 4002", "> buy 1 BTCUSDT limit p=-5 q=1", "rej 4002",
    "> buy 1 BTCUSDT stop_limit p=100 s=0 q=1", "rej 4002",
    "> buy 1 BTCUSDT stop_limit p=100 s=100 q=0", "rej 4002", /* no last price yet */
    "> buy 1 BTCUSDT stop_market s=100 q=1", "rej 4002", "> buy 1 BTCUSDT limit p=100 q=0",
    "rej 4003", "> buy 1 BTCUSDT limit p=100 q=-1", "rej 4003", "> buy 1 BTCUSDT limit p=100 q=11",
    "rej 4004",
    /* Notional or base amount beyond int64: nobody can hold it. */
    "> buy 1 BTCUSDT limit p=4611686018427387904 q=2", "rej 4004",
    "> sell 1 ETHUSDT limit p=1 q=922337203685477581", "rej 4004",
    "> buy 1 BTCUSDT limit p=100 q=10 cid=a", "ok #1", "#1 new 0",
    "> sell 1 BTCUSDT limit p=200 q=1 cid=a", "rej 4009", "> sell 1 ETHUSDT limit p=200 q=1 cid=a",
    "rej 4009", "> sell 1 BTCUSDT limit p=200 q=100 cid=a", "rej 4009",
    "> sell 1 BTCUSDT limit p=100 q=100 po", "rej 4004", "> sell 1 BTCUSDT limit p=100 q=1 po",
    "rej 4005", "> sell 1 BTCUSDT limit p=101 q=1 cid=b", "ok #2", "#2 new 0",
    "> cancel 1 BTCUSDT cid=a", "ok #1", "#1 cancelled 0", "> sell 1 BTCUSDT limit p=102 q=1 cid=a",
    "ok #3", "#3 new 0", "= bal 1 USDT 1000 0", "= bal 1 BTC 8 2", NULL};

static const char *const cancel[] = {"> dep 1 USDT 1000",
                                     "ok",
                                     "> dep 2 USDT 1000",
                                     "ok",
                                     "> buy 1 BTCUSDT limit p=100 q=2 cid=x",
                                     "ok #1",
                                     "#1 new 0",
                                     "> buy 2 BTCUSDT limit p=100 q=2",
                                     "ok #2",
                                     "#2 new 0",
                                     "> cancel 2 BTCUSDT id=1",
                                     "rej 4006",
                                     "> cancel 1 ETHUSDT id=1",
                                     "rej 4006",
                                     "> cancel 1 ETHUSDT cid=x",
                                     "rej 4006",
                                     "> cancel 1 BTCUSDT",
                                     "rej 1003",
                                     "> cancel 0 BTCUSDT id=1",
                                     "rej 1003",
                                     "> cancel 1 NOPE id=1",
                                     "rej 4001",
                                     "> cancel 1 BTCUSDT id=1 cid=nope",
                                     "ok #1",
                                     "#1 cancelled 0",
                                     "> cancel 1 BTCUSDT id=1",
                                     "rej 4006",
                                     "> cancel 1 BTCUSDT cid=x",
                                     "rej 4006",
                                     "= bal 1 USDT 1000 0",
                                     "> halt BTCUSDT",
                                     "ok",
                                     "> cancel 2 BTCUSDT id=2",
                                     "ok #2",
                                     "#2 cancelled 0",
                                     "> buy 2 BTCUSDT limit p=100 q=2",
                                     "rej 4008",
                                     "> buy 2 BTCUSDT limit p=0 q=2",
                                     "rej 4008",
                                     "> buy 2 BTCUSDT limit q=2",
                                     "rej 1003",
                                     "> buy 2 ETHUSDT limit p=100 q=2",
                                     "ok #3",
                                     "#3 new 0",
                                     "> amend 2 ETHUSDT id=3 q=1",
                                     "ok #3",
                                     "#3 new 0",
                                     "> halt NOPE",
                                     "rej 4001",
                                     "> resume BTCUSDT",
                                     "ok",
                                     "> buy 2 BTCUSDT limit p=100 q=2",
                                     "ok #4",
                                     "#4 new 0",
                                     NULL};

static const char *const cancel_all[] = {"> dep 1 USDT 10000",
                                         "ok",
                                         "> dep 1 ETH 1000",
                                         "ok",
                                         "> dep 1 BTC 100",
                                         "ok",
                                         "> buy 1 BTCUSDT limit p=100 q=1",
                                         "ok #1",
                                         "#1 new 0",
                                         "> sell 1 ETHUSDT limit p=100 q=1",
                                         "ok #2",
                                         "#2 new 0",
                                         "> sell 1 BTCUSDT limit p=200 q=1",
                                         "ok #3",
                                         "#3 new 0",
                                         "> sell 1 ETHBTC limit p=5 q=1",
                                         "ok #4",
                                         "#4 new 0",
                                         "> buy 1 BTCUSDT limit p=99 q=1",
                                         "ok #5",
                                         "#5 new 0",
                                         "> amend 1 BTCUSDT id=1 p=98",
                                         "ok #1",
                                         "#1 new 0",
                                         "> cxall 1 BTCUSDT",
                                         "ok n=3",
                                         "#1 cancelled 0",
                                         "#3 cancelled 0",
                                         "#5 cancelled 0",
                                         "> cxall 2",
                                         "ok n=0",
                                         "> cxall 1 NOPE",
                                         "rej 4001",
                                         "> cxall 0",
                                         "rej 1003",
                                         "> cxall 1",
                                         "ok n=2",
                                         "#2 cancelled 0",
                                         "#4 cancelled 0",
                                         "> cxall 1",
                                         "ok n=0",
                                         "= bal 1 USDT 10000 0",
                                         "= bal 1 ETH 1000 0",
                                         "= bal 1 BTC 100 0",
                                         NULL};

static const char *const deposit_withdraw[] = {"> dep 1 USDT 0",
                                               "rej 1003",
                                               "> dep 1 USDT -5",
                                               "rej 1003",
                                               "> dep 1 XYZ 5",
                                               "rej 1003",
                                               "> dep 0 USDT 5",
                                               "rej 1003",
                                               "> dep 1 USDT 100",
                                               "ok",
                                               "> buy 1 BTCUSDT limit p=10 q=6",
                                               "ok #1",
                                               "#1 new 0",
                                               "> wd 1 USDT 41",
                                               "rej 4004", /* hold is not available */
                                               "> wd 1 USDT 40",
                                               "ok",
                                               "= bal 1 USDT 0 60",
                                               "> wd 1 USDT 1",
                                               "rej 4004",
                                               "> wd 2 USDT 1",
                                               "rej 4004",
                                               "> wd 1 USDT 0",
                                               "rej 1003",
                                               "> dep 1 BTC 9223372036854775807",
                                               "ok",
                                               "> dep 2 BTC 1",
                                               "rej 1003", /* net deposits would pass int64 */
                                               "> wd 1 BTC 9223372036854775807",
                                               "ok",
                                               "> dep 2 BTC 1",
                                               "ok",
                                               "= bal 2 BTC 1 0",
                                               "= bal 1 BTC 0 0",
                                               NULL};

/* Amend: priority kept or lost, holds adjusted, trading as a taker, every reject. */
static const char *const amend[] = {
    "> dep 1 USDT 10000", "ok", "> dep 2 USDT 10000", "ok", "> dep 3 BTC 100", "ok",
    "> buy 1 BTCUSDT limit p=100 q=5", "ok #1", "#1 new 0", "> buy 2 BTCUSDT limit p=100 q=5",
    "ok #2", "#2 new 0", "> amend 1 BTCUSDT id=1 q=3", "ok #1", "#1 new 0",
    "= orders BTCUSDT bids 1:3,2:5 asks -", "= bal 1 USDT 9700 300", "> amend 1 BTCUSDT id=1 q=3",
    "ok #1", /* unchanged: nothing happens */
    "> amend 1 BTCUSDT id=1 p=100", "ok #1", "= orders BTCUSDT bids 1:3,2:5 asks -",
    "> amend 1 BTCUSDT id=1 q=6", "ok #1", "#1 new 0", "= orders BTCUSDT bids 2:5,1:6 asks -",
    "= bal 1 USDT 9400 600", "> amend 2 BTCUSDT id=2 p=101", "ok #2", "#2 new 0",
    "= orders BTCUSDT bids 2:5,1:6 asks -", "= book BTCUSDT bids 101:5,100:6 asks -",
    "= bal 2 USDT 9495 505", "> amend 2 BTCUSDT id=2 p=100", "ok #2", "#2 new 0",
    "= orders BTCUSDT bids 1:6,2:5 asks -", "= bal 2 USDT 9500 500",
    "> sell 3 BTCUSDT limit p=100 q=7", "ok #3", "T1 100x6 m1 t3 sell", "#1 filled 6",
    "T2 100x1 m2 t3 sell", "#2 partially_filled 1", "#3 filled 7", "> amend 2 BTCUSDT id=2 q=1",
    "rej 4003", "> amend 2 BTCUSDT id=2 q=2", "ok #2", "#2 partially_filled 1",
    "= bal 2 USDT 9800 100", "> amend 2 BTCUSDT id=2 q=5", "ok #2", "#2 partially_filled 1",
    "= bal 2 USDT 9500 400", "> sell 3 BTCUSDT limit p=105 q=2", "ok #4", "#4 new 0",
    /* The new price crosses: trades at once as a taker, keeping its id. */
    "> amend 2 BTCUSDT id=2 p=105", "ok #2", "T3 105x2 m4 t2 buy", "#4 filled 2",
    "#2 partially_filled 3", "= book BTCUSDT bids 105:2 asks -", "= bal 2 USDT 9480 210",
    "> amend 2 BTCUSDT id=99 p=100", "rej 4006", "> amend 1 BTCUSDT id=2 p=100", "rej 4006",
    "> amend 2 BTCUSDT id=2", "rej 1003", "> amend 2 BTCUSDT p=100", "rej 1003",
    "> amend 2 BTCUSDT id=99 p=0", "rej 4002", "> amend 2 BTCUSDT id=99 q=0", "rej 4003",
    "> amend 2 BTCUSDT id=2 q=100000", "rej 4004", "> amend 2 ETHUSDT id=2 p=100", "rej 4006",
    "> amend 2 BTCUSDT id=1 p=100", "rej 4006", /* filled: closed */
    "= bal 2 USDT 9480 210", "= book BTCUSDT bids 105:2 asks -",
    /* A sell's qty up holds more base. */
    "> sell 3 BTCUSDT limit p=200 q=2 cid=s", "ok #5", "#5 new 0", "= bal 3 BTC 89 2",
    "> amend 3 BTCUSDT cid=s q=4", "ok #5", "#5 new 0", "= bal 3 BTC 87 4",
    "> amend 3 BTCUSDT cid=s q=91", "ok #5", "#5 new 0", "> amend 3 BTCUSDT cid=s q=92", "rej 4004",
    "> amend 3 BTCUSDT cid=nope q=3", "rej 4006", NULL};

static const char *const amend_post_only_and_stp[] = {
    "> dep 4 USDT 1000", "ok", "> dep 5 BTC 10", "ok", "> dep 4 BTC 10", "ok",
    "> buy 4 BTCUSDT limit p=90 q=1 po", "ok #1", "#1 new 0", "> sell 5 BTCUSDT limit p=95 q=1",
    "ok #2", "#2 new 0", "> amend 4 BTCUSDT id=1 p=95", "rej 4005", "> amend 4 BTCUSDT id=1 p=96",
    "rej 4005", "> amend 4 BTCUSDT id=1 p=94 q=2", "ok #1", "#1 new 0",
    "= book BTCUSDT bids 94:2 asks 95:1", "= bal 4 USDT 812 188",
    /* An amend re-enters with its own stp. */
    "> sell 4 BTCUSDT limit p=99 q=1", "ok #3", "#3 new 0",
    "> buy 4 BTCUSDT limit p=80 q=2 stp=cancel_taker", "ok #4", "#4 new 0",
    "> amend 4 BTCUSDT id=4 p=99", "ok #4", "T1 95x1 m2 t4 buy", "#2 filled 1", "#4 cancelled 1",
    "= book BTCUSDT bids 94:2 asks 99:1", "= bal 4 USDT 717 188", NULL};

static const char *const min_notional_and_band[] = {
    "> dep 1 USDT 100000", "ok", "> dep 2 BTC 100", "ok", "> buy 1 BTCUSDT limit p=100 q=4",
    "rej 4003", "> buy 1 BTCUSDT limit p=100 q=5", "ok #1", "#1 new 0",
    "> amend 1 BTCUSDT id=1 q=4", "rej 4003", "> amend 1 BTCUSDT id=1 p=99", "rej 4003",
    /* No last price yet: no band. */
    "> buy 1 BTCUSDT limit p=10 q=100", "ok #2", "#2 new 0", "> sell 2 BTCUSDT market q=1", "ok #3",
    "T1 100x1 m1 t3 sell", "#1 partially_filled 1", "#3 filled 1", "> sell 2 BTCUSDT market q=1",
    "ok #4", "T2 100x1 m1 t4 sell", "#1 partially_filled 2", "#4 filled 1", "= last BTCUSDT 100",
    "> buy 1 BTCUSDT limit p=111 q=5", "rej 4002", "> buy 1 BTCUSDT limit p=89 q=10", "rej 4002",
    "> buy 1 BTCUSDT limit p=90 q=10", "ok #5", "#5 new 0", "> sell 2 BTCUSDT limit p=110 q=5",
    "ok #6", "#6 new 0", "> amend 2 BTCUSDT id=6 p=111", "rej 4002", "> amend 2 BTCUSDT id=6 p=109",
    "ok #6", "#6 new 0",
    /* Stop prices are not banded; their limit price is. */
    "> buy 1 BTCUSDT stop_limit s=500 p=110 q=5", "ok #7", "#7 untriggered 0",
    "> buy 1 BTCUSDT stop_limit s=500 p=120 q=5", "rej 4002", "> buy 1 BTCUSDT market qq=50",
    "ok #8", "#8 cancelled 0", NULL};

static void test_min_notional_and_band(void) {
  config cfg;
  script_config(&cfg);
  cfg.markets[M_BTCUSDT].min_notional = 500;
  cfg.markets[M_BTCUSDT].price_band_pct = 10;
  CHECK(script_run_config(&cfg, "min_notional_and_band", min_notional_and_band) == 0);
}

/* --- Checks outside the scenario language ------------------------------- */

static engine_event last_events[64];
static size_t last_count;

static void collect(void *ctx, const engine_event *ev) {
  (void)ctx;
  if (last_count < 64) last_events[last_count++] = *ev;
}

static int run(engine *e, engine_cmd c) {
  last_count = 0;
  engine_process(e, &c, collect, NULL);
  return last_events[0].type == ENGINE_EVENT_REJECTED ? last_events[0].code : 0;
}

static engine_cmd limit_cmd(uint64_t uid, uint8_t side, int64_t price, int64_t qty) {
  return (engine_cmd){.type = ENGINE_CMD_PLACE,
                      .uid = uid,
                      .market = M_BTCUSDT,
                      .side = side,
                      .order_type = ENGINE_TYPE_LIMIT,
                      .price = price,
                      .qty = qty,
                      .flags = ENGINE_CMD_F_PRICE | ENGINE_CMD_F_QTY};
}

static void test_malformed_commands(void) {
  config cfg;
  script_config(&cfg);
  engine_limits lim = {.max_orders = 64, .max_accounts = 64, .max_users = 16};
  char err[200];
  engine *e = engine_create(&cfg, &lim, err, sizeof err);
  CHECK(e != NULL);
  CHECK_EQ_INT(
      run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 1, .asset = A_USDT, .amount = 1000}),
      0);
  engine_cmd c = limit_cmd(1, 7, 100, 1);
  CHECK_EQ_INT(run(e, c), 1003);
  c = limit_cmd(1, ENGINE_SIDE_BUY, 100, 1);
  c.post_only = 2;
  CHECK_EQ_INT(run(e, c), 1003);
  c.post_only = 0;
  c.flags |= ENGINE_CMD_F_CLIENT_ID;
  memset(c.client_id, 'x', sizeof c.client_id); /* 37 chars, no terminator */
  CHECK_EQ_INT(run(e, c), 1003);
  c.client_id[0] = '\0'; /* flagged but empty */
  CHECK_EQ_INT(run(e, c), 1003);
  memset(c.client_id, 'y', ENGINE_CLIENT_ID_MAX);
  c.client_id[ENGINE_CLIENT_ID_MAX] = '\0'; /* exactly 36 chars */
  CHECK_EQ_INT(run(e, c), 0);
  CHECK_EQ_INT(run(e, (engine_cmd){.type = 99, .uid = 1}), 1002);
  c = limit_cmd(1, ENGINE_SIDE_BUY, 100, 1);
  c.tif = 9;
  CHECK_EQ_INT(run(e, c), 1003);
  /* Market orders ignore tif and price. */
  c = (engine_cmd){.type = ENGINE_CMD_PLACE,
                   .uid = 1,
                   .market = M_BTCUSDT,
                   .order_type = ENGINE_TYPE_MARKET,
                   .tif = 9,
                   .price = -4,
                   .qty = 1,
                   .flags = ENGINE_CMD_F_QTY | ENGINE_CMD_F_PRICE};
  CHECK_EQ_INT(run(e, c), 0);
  char msg[200];
  CHECK(engine_check(e, msg, sizeof msg) == 0);
  engine_destroy(e);
}

/* Routing fields: tags, uids, reply flags; balance events last, one per changed pair. */
static void test_event_fields(void) {
  config cfg;
  script_config(&cfg);
  engine_limits lim = {.max_orders = 64, .max_accounts = 64, .max_users = 16};
  char err[200];
  engine *e = engine_create(&cfg, &lim, err, sizeof err);
  run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 1, .asset = A_BTC, .amount = 10});
  run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 2, .asset = A_USDT, .amount = 1000});
  engine_cmd sell = limit_cmd(1, ENGINE_SIDE_SELL, 100, 2);
  sell.tag = 77;
  sell.ts_ms = 1234;
  CHECK_EQ_INT(run(e, sell), 0);
  /* accepted, order(new), balance(1 BTC) */
  CHECK_EQ_INT(last_count, 3);
  CHECK(last_events[0].type == ENGINE_EVENT_ACCEPTED && last_events[0].tag == 77);
  CHECK(last_events[1].type == ENGINE_EVENT_ORDER && last_events[1].flags == ENGINE_EVENT_F_REPLY);
  CHECK(last_events[1].u.order.prev_status == ENGINE_STATUS_NONE);
  CHECK(last_events[1].u.order.created_ms == 1234);
  CHECK(last_events[2].type == ENGINE_EVENT_BALANCE && last_events[2].uid == 1);
  CHECK(last_events[2].u.balance.available == 8 && last_events[2].u.balance.hold == 2);
  engine_cmd buy = limit_cmd(2, ENGINE_SIDE_BUY, 100, 1);
  buy.tag = 78;
  snprintf(buy.client_id, sizeof buy.client_id, "mine");
  buy.flags |= ENGINE_CMD_F_CLIENT_ID;
  CHECK_EQ_INT(run(e, buy), 0);
  /* accepted, trade, maker order, taker order, balances: 2 USDT, 2 BTC, 1 BTC, 1 USDT */
  CHECK_EQ_INT(last_count, 8);
  CHECK(last_events[1].type == ENGINE_EVENT_TRADE && last_events[1].uid == 2);
  CHECK(last_events[1].u.trade.maker_uid == 1 && last_events[1].u.trade.quote == 100);
  CHECK_EQ_STR(last_events[1].u.trade.taker_client_id, "mine");
  CHECK(last_events[2].type == ENGINE_EVENT_ORDER && last_events[2].uid == 1);
  CHECK(last_events[2].flags == 0 && last_events[2].tag == 78);
  CHECK(last_events[3].type == ENGINE_EVENT_ORDER && last_events[3].uid == 2);
  CHECK(last_events[3].flags == ENGINE_EVENT_F_REPLY);
  CHECK(last_events[3].u.order.filled_quote == 100);
  for (size_t i = 4; i < 8; i++) CHECK(last_events[i].type == ENGINE_EVENT_BALANCE);
  /* A rejected place changes nothing: no balance event even though funds were held and freed. */
  engine_cmd fok = limit_cmd(2, ENGINE_SIDE_BUY, 100, 5);
  fok.tif = ENGINE_TIF_FOK;
  CHECK_EQ_INT(run(e, fok), 4007);
  CHECK_EQ_INT(last_count, 1);
  engine_destroy(e);
}

static void test_create_errors(void) {
  config cfg;
  char err[200];
  script_config(&cfg);
  cfg.markets[M_ETHUSDT].taker_fee = 1000001;
  CHECK(engine_create(&cfg, NULL, err, sizeof err) == NULL);
  CHECK(strstr(err, "ETHUSDT") != NULL);
  script_config(&cfg);
  cfg.markets[M_ETHUSDT].notional_unit = 0;
  CHECK(engine_create(&cfg, NULL, err, sizeof err) == NULL);
  script_config(&cfg);
  cfg.markets[M_ETHBTC].quote = 40;
  CHECK(engine_create(&cfg, NULL, err, sizeof err) == NULL);
  script_config(&cfg);
  engine_limits lim = {.price_window_bits = 19};
  CHECK(engine_create(&cfg, &lim, err, sizeof err) == NULL);
}

/* Capacity: a full order pool rejects with 9001 and gives the funds back. */
static void test_capacity(void) {
  config cfg;
  script_config(&cfg);
  engine_limits lim = {.max_orders = 3, .max_accounts = 16, .max_users = 2};
  char err[200];
  engine *e = engine_create(&cfg, &lim, err, sizeof err);
  run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 1, .asset = A_USDT, .amount = 1000});
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(run(e, limit_cmd(1, ENGINE_SIDE_BUY, 10 + i, 1)), 0);
  CHECK_EQ_INT(run(e, limit_cmd(1, ENGINE_SIDE_BUY, 20, 1)), 9001);
  int64_t available, hold;
  engine_balance(e, 1, A_USDT, &available, &hold);
  CHECK_EQ_INT(available, 1000 - 33);
  CHECK_EQ_INT(hold, 33);
  run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 2, .asset = A_USDT, .amount = 1000});
  run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 3, .asset = A_USDT, .amount = 1000});
  run(e, (engine_cmd){.type = ENGINE_CMD_CANCEL_ALL, .uid = 1});
  CHECK_EQ_INT(run(e, limit_cmd(2, ENGINE_SIDE_BUY, 10, 1)), 0);
  CHECK_EQ_INT(run(e, limit_cmd(3, ENGINE_SIDE_BUY, 10, 1)), 9001); /* user table full */
  CHECK(engine_check(e, err, sizeof err) == 0);
  engine_destroy(e);
}

/* engine_user_orders (the host's open-orders query) and the per-user open-order limit (5001). */
static void test_user_orders_and_limit(void) {
  config cfg;
  script_config(&cfg);
  engine_limits lim = {
      .max_orders = 64, .max_accounts = 64, .max_users = 16, .max_open_orders_per_user = 3};
  char err[200];
  engine *e = engine_create(&cfg, &lim, err, sizeof err);
  run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 1, .asset = A_USDT, .amount = 1000});
  run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 1, .asset = A_BTC, .amount = 10});
  run(e, (engine_cmd){.type = ENGINE_CMD_DEPOSIT, .uid = 2, .asset = A_USDT, .amount = 5});
  CHECK_EQ_INT(run(e, limit_cmd(1, ENGINE_SIDE_BUY, 10, 1)), 0); /* #1 */
  engine_cmd eth = limit_cmd(1, ENGINE_SIDE_BUY, 10, 1);
  eth.market = M_ETHUSDT;
  CHECK_EQ_INT(run(e, eth), 0);                                   /* #2 */
  CHECK_EQ_INT(run(e, limit_cmd(1, ENGINE_SIDE_SELL, 20, 2)), 0); /* #3 */
  CHECK_EQ_INT(run(e, limit_cmd(1, ENGINE_SIDE_BUY, 11, 1)), 5001);
  engine_cmd ioc = limit_cmd(1, ENGINE_SIDE_BUY, 25, 1);
  ioc.tif = ENGINE_TIF_IOC;
  CHECK_EQ_INT(run(e, ioc), 5001);                              /* even one that would not rest */
  CHECK_EQ_INT(run(e, limit_cmd(2, ENGINE_SIDE_BUY, 1, 1)), 0); /* others are not limited */

  engine_order_info orders[8];
  uint32_t markets[8];
  size_t n = engine_user_orders(e, 1, ENGINE_MARKET_NONE, 0, orders, markets, 8);
  CHECK_EQ_INT(n, 3);
  for (size_t i = 0; i < n; i++) CHECK_EQ_INT(orders[i].order_id, i + 1);
  CHECK(markets[1] == M_ETHUSDT && orders[2].side == ENGINE_SIDE_SELL);
  n = engine_user_orders(e, 1, ENGINE_MARKET_NONE, 1, orders, markets, 1); /* paging */
  CHECK(n == 1 && orders[0].order_id == 2);
  n = engine_user_orders(e, 1, M_BTCUSDT, 0, orders, markets, 8);
  CHECK(n == 2 && orders[0].order_id == 1 && orders[1].order_id == 3);
  CHECK_EQ_INT(engine_user_orders(e, 3, ENGINE_MARKET_NONE, 0, orders, markets, 8), 0);

  CHECK_EQ_INT(run(e, (engine_cmd){.type = ENGINE_CMD_CANCEL,
                                   .uid = 1,
                                   .market = M_BTCUSDT,
                                   .order_id = 1,
                                   .flags = ENGINE_CMD_F_ORDER_ID}),
               0);
  CHECK_EQ_INT(run(e, limit_cmd(1, ENGINE_SIDE_BUY, 11, 1)), 0);
  CHECK(engine_check(e, err, sizeof err) == 0);
  engine_destroy(e);
}

int main(void) {
  CHECK(script_run("validation_order", validation_order) == 0);
  CHECK(script_run("cancel", cancel) == 0);
  CHECK(script_run("cancel_all", cancel_all) == 0);
  CHECK(script_run("deposit_withdraw", deposit_withdraw) == 0);
  CHECK(script_run("amend", amend) == 0);
  CHECK(script_run("amend_post_only_and_stp", amend_post_only_and_stp) == 0);
  test_min_notional_and_band();
  test_malformed_commands();
  test_event_fields();
  test_create_errors();
  test_capacity();
  test_user_orders_and_limit();
  return check_report("engine_rules");
}
