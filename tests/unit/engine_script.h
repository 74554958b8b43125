/*
 * engine_script.h: a table-driven harness for the engine's unit tests.
 *
 * A scenario is an array of lines:
 *   "> <command>"      applies a command (syntax below)
 *   "<event>"          the next non-balance event the command must emit
 *   "= bal U ASSET A H" user U's available A and hold H of ASSET
 *   "= book M bids P:Q,P:Q asks P:Q"  the aggregated book of market M ("-" = empty side)
 *   "= orders M bids ID:QTY,... asks ..." the resting orders in priority order
 *   "= last M P"       the market's last price ("-" = none)
 * After each command every expected event must have been emitted and no
 * other; and the engine's deep self-check (audit, books, holds) must pass.
 *
 * Commands (prices in ticks, quantities in lots, amounts in units):
 *   dep U ASSET AMOUNT | wd U ASSET AMOUNT
 *   buy|sell U M TYPE [p=P] [s=STOP] [q=Q] [qq=QUOTE] [tif=gtc|ioc|fok] [po] [stp=MODE] [cid=X]
 *   cancel U M (id=N | cid=X) | amend U M (id=N | cid=X) [p=P] [q=Q]
 *   cxall U [M] | halt M | resume M
 * TYPE is limit, market, stop_limit or stop_market; M is a market name; a
 * U of 0 and unknown names pass through so the engine rejects them.
 *
 * Events: "ok", "ok #ID", "ok n=N" (cancel_all), "rej CODE",
 *   "T<trade id> <price>x<qty> m<maker order> t<taker order> <taker side>[ f=<maker fee>/<taker
 * fee>]",
 *   "#<order id> <status> <filled>".
 */
#ifndef BOURSE_TESTS_ENGINE_SCRIPT_H
#define BOURSE_TESTS_ENGINE_SCRIPT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bourse/engine.h"
#include "check.h"

#define SCRIPT_MAX_EVENTS 4096

/* Assets and markets every scenario can use; tests adjust the returned config. */
enum { A_BTC, A_USDT, A_ETH, A_BNB };
enum { M_BTCUSDT, M_ETHUSDT, M_ETHBTC };
#define FEE_UID 999

static inline void script_config(config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  const char *assets[] = {"BTC", "USDT", "ETH", "BNB"};
  cfg->asset_count = 4;
  for (unsigned i = 0; i < 4; i++) {
    snprintf(cfg->assets[i].name, sizeof cfg->assets[i].name, "%s", assets[i]);
    cfg->assets[i].decimals = 8;
  }
  cfg->market_count = 3;
  config_market *m = &cfg->markets[M_BTCUSDT];
  snprintf(m->name, sizeof m->name, "BTCUSDT");
  m->base = A_BTC, m->quote = A_USDT, m->lot_units = 1, m->notional_unit = 1;
  m = &cfg->markets[M_ETHUSDT];
  snprintf(m->name, sizeof m->name, "ETHUSDT");
  m->base = A_ETH, m->quote = A_USDT, m->lot_units = 10, m->notional_unit = 3;
  m = &cfg->markets[M_ETHBTC];
  snprintf(m->name, sizeof m->name, "ETHBTC");
  m->base = A_ETH, m->quote = A_BTC, m->lot_units = 1, m->notional_unit = 1;
  cfg->fees_account_uid = FEE_UID;
  cfg->fees_discount_asset = -1;
}

typedef struct script {
  engine *e;
  const config *cfg;
  engine_event events[SCRIPT_MAX_EVENTS];
  size_t count;
  const char *name;
  int line;
  int failed;
} script;

static void script_collect(void *ctx, const engine_event *ev) {
  script *s = ctx;
  if (s->count < SCRIPT_MAX_EVENTS) s->events[s->count++] = *ev;
}

static int script_find(const char *const *names, int n, const char *word) {
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], word) == 0) return i;
  return -1;
}

static unsigned script_market(const script *s, const char *name) {
  for (unsigned i = 0; i < s->cfg->market_count; i++)
    if (strcmp(s->cfg->markets[i].name, name) == 0) return i;
  return ENGINE_MARKET_NONE;
}

static unsigned script_asset(const script *s, const char *name) {
  for (unsigned i = 0; i < s->cfg->asset_count; i++)
    if (strcmp(s->cfg->assets[i].name, name) == 0) return i;
  return 999;
}

static void script_fail(script *s, const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "%s, line %d: ", s->name, s->line);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  s->failed = 1;
}

/* Parses the key=value options of an order command into c. */
static void script_options(script *s, engine_cmd *c, char *save) {
  static const char *const tifs[] = {"gtc", "ioc", "fok"};
  static const char *const stps[] = {"none", "cancel_taker", "cancel_maker", "cancel_both"};
  for (char *w = strtok_r(NULL, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
    if (strncmp(w, "p=", 2) == 0)
      c->price = atoll(w + 2), c->flags |= ENGINE_CMD_F_PRICE;
    else if (strncmp(w, "s=", 2) == 0)
      c->stop = atoll(w + 2), c->flags |= ENGINE_CMD_F_STOP;
    else if (strncmp(w, "q=", 2) == 0)
      c->qty = atoll(w + 2), c->flags |= ENGINE_CMD_F_QTY;
    else if (strncmp(w, "qq=", 3) == 0)
      c->quote_qty = atoll(w + 3), c->flags |= ENGINE_CMD_F_QUOTE_QTY;
    else if (strncmp(w, "tif=", 4) == 0)
      c->tif = (uint8_t)script_find(tifs, 3, w + 4);
    else if (strcmp(w, "po") == 0)
      c->post_only = 1;
    else if (strncmp(w, "stp=", 4) == 0)
      c->stp = (uint8_t)script_find(stps, 4, w + 4);
    else if (strncmp(w, "id=", 3) == 0)
      c->order_id = strtoull(w + 3, NULL, 10), c->flags |= ENGINE_CMD_F_ORDER_ID;
    else if (strncmp(w, "cid=", 4) == 0) {
      snprintf(c->client_id, sizeof c->client_id, "%s", w + 4);
      c->flags |= ENGINE_CMD_F_CLIENT_ID;
    } else
      script_fail(s, "bad option %s%s", w, "");
  }
}

static void script_parse(script *s, const char *text, engine_cmd *c) {
  static const char *const types[] = {"limit", "market", "stop_limit", "stop_market"};
  char buf[256];
  snprintf(buf, sizeof buf, "%s", text);
  memset(c, 0, sizeof *c);
  c->tag = (uint64_t)s->line;
  char *save = NULL, *op = strtok_r(buf, " ", &save);
  char *uid = strtok_r(NULL, " ", &save);
  if (strcmp(op, "halt") == 0 || strcmp(op, "resume") == 0) {
    c->type = op[0] == 'h' ? ENGINE_CMD_HALT : ENGINE_CMD_RESUME;
    c->market = script_market(s, uid);
    return;
  }
  c->uid = strtoull(uid, NULL, 10);
  if (strcmp(op, "dep") == 0 || strcmp(op, "wd") == 0) {
    c->type = op[0] == 'd' ? ENGINE_CMD_DEPOSIT : ENGINE_CMD_WITHDRAW;
    c->asset = script_asset(s, strtok_r(NULL, " ", &save));
    c->amount = atoll(strtok_r(NULL, " ", &save));
    return;
  }
  char *market = strtok_r(NULL, " ", &save);
  if (strcmp(op, "cxall") == 0) {
    c->type = ENGINE_CMD_CANCEL_ALL;
    if (market) c->market = script_market(s, market), c->flags |= ENGINE_CMD_F_MARKET;
    return;
  }
  c->market = script_market(s, market);
  if (strcmp(op, "cancel") == 0 || strcmp(op, "amend") == 0) {
    c->type = op[0] == 'c' ? ENGINE_CMD_CANCEL : ENGINE_CMD_AMEND;
    script_options(s, c, save);
    return;
  }
  c->type = ENGINE_CMD_PLACE;
  c->side = strcmp(op, "buy") == 0 ? ENGINE_SIDE_BUY : ENGINE_SIDE_SELL;
  c->order_type = (uint8_t)script_find(types, 4, strtok_r(NULL, " ", &save));
  script_options(s, c, save);
}

/* Renders a non-balance event as the scenario language writes it. */
static void script_render(const engine_event *ev, char *out, size_t len) {
  switch (ev->type) {
  case ENGINE_EVENT_ACCEPTED:
    if (ev->cmd_type == ENGINE_CMD_CANCEL_ALL)
      snprintf(out, len, "ok n=%lld", (long long)ev->u.ack.cancelled);
    else if (ev->u.ack.order_id)
      snprintf(out, len, "ok #%llu", (unsigned long long)ev->u.ack.order_id);
    else
      snprintf(out, len, "ok");
    break;
  case ENGINE_EVENT_REJECTED:
    snprintf(out, len, "rej %d", ev->code);
    break;
  case ENGINE_EVENT_TRADE: {
    const engine_trade_info *t = &ev->u.trade;
    int n =
        snprintf(out, len, "T%llu %lldx%lld m%llu t%llu %s", (unsigned long long)t->trade_id,
                 (long long)t->price, (long long)t->qty, (unsigned long long)t->maker_order,
                 (unsigned long long)t->taker_order, engine_side_name((engine_side)t->taker_side));
    if (t->maker_fee || t->taker_fee)
      snprintf(out + n, len - (size_t)n, " f=%lld/%lld", (long long)t->maker_fee,
               (long long)t->taker_fee);
    break;
  }
  case ENGINE_EVENT_ORDER:
    snprintf(out, len, "#%llu %s %lld", (unsigned long long)ev->u.order.order_id,
             engine_status_name((engine_status)ev->u.order.status), (long long)ev->u.order.filled);
    break;
  default:
    snprintf(out, len, "?");
    break;
  }
}

/* Renders levels or orders of one side as "P:Q,P:Q" / "ID:QTY,..." ("-" if none). */
static void script_side(const script *s, unsigned market, engine_side side, bool orders, char *out,
                        size_t len) {
  size_t n = 0;
  out[0] = '\0';
  if (orders) {
    engine_resting r[256];
    size_t count = engine_resting_orders(s->e, market, side, r, 256);
    for (size_t i = 0; i < count && n < len; i++)
      n += (size_t)snprintf(out + n, len - n, "%s%llu:%lld", i ? "," : "",
                            (unsigned long long)r[i].order_id, (long long)r[i].remaining);
  } else {
    engine_level l[256];
    size_t count = engine_depth(s->e, market, side, l, 256);
    for (size_t i = 0; i < count && n < len; i++)
      n += (size_t)snprintf(out + n, len - n, "%s%lld:%lld", i ? "," : "", (long long)l[i].price,
                            (long long)l[i].qty);
  }
  if (!out[0]) snprintf(out, len, "-");
}

static void script_assert(script *s, const char *text) {
  char buf[512], got[1024], a[512], b[256];
  snprintf(buf, sizeof buf, "%s", text);
  char *save = NULL, *what = strtok_r(buf, " ", &save);
  if (strcmp(what, "bal") == 0) {
    uint64_t uid = strtoull(strtok_r(NULL, " ", &save), NULL, 10);
    unsigned asset = script_asset(s, strtok_r(NULL, " ", &save));
    char *want_avail = strtok_r(NULL, " ", &save), *want_hold = strtok_r(NULL, " ", &save);
    int64_t avail, hold;
    engine_balance(s->e, uid, asset, &avail, &hold);
    snprintf(got, sizeof got, "%lld %lld", (long long)avail, (long long)hold);
    snprintf(a, sizeof a, "%s %s", want_avail, want_hold);
    if (strcmp(got, a) != 0) script_fail(s, "balance is %s, expected %s", got, a);
  } else if (strcmp(what, "book") == 0 || strcmp(what, "orders") == 0) {
    bool orders = what[0] == 'o';
    unsigned market = script_market(s, strtok_r(NULL, " ", &save));
    strtok_r(NULL, " ", &save); /* "bids" */
    char *want_bids = strtok_r(NULL, " ", &save);
    strtok_r(NULL, " ", &save); /* "asks" */
    char *want_asks = strtok_r(NULL, " ", &save);
    script_side(s, market, ENGINE_SIDE_BUY, orders, a, sizeof a);
    script_side(s, market, ENGINE_SIDE_SELL, orders, b, sizeof b);
    snprintf(got, sizeof got, "bids %s asks %s", a, b);
    char want[1024];
    snprintf(want, sizeof want, "bids %s asks %s", want_bids, want_asks);
    if (strcmp(got, want) != 0) script_fail(s, "book is %s, expected %s", got, want);
  } else if (strcmp(what, "last") == 0) {
    unsigned market = script_market(s, strtok_r(NULL, " ", &save));
    int64_t price;
    if (engine_last_price(s->e, market, &price))
      snprintf(got, sizeof got, "%lld", (long long)price);
    else
      snprintf(got, sizeof got, "-");
    char *want = strtok_r(NULL, " ", &save);
    if (strcmp(got, want) != 0) script_fail(s, "last price is %s, expected %s", got, want);
  } else {
    script_fail(s, "unknown assertion %s%s", what, "");
  }
}

/* Checks the events of the last command against lines[*i...]; advances *i. */
static void script_expect_events(script *s, const char *const *lines, int *i) {
  char got[256];
  size_t ev = 0;
  for (;; ev++) {
    while (ev < s->count && s->events[ev].type == ENGINE_EVENT_BALANCE) ev++;
    const char *want = lines[*i];
    bool want_event = want && want[0] != '>' && want[0] != '=';
    if (ev >= s->count) {
      if (want_event) {
        s->line = *i + 1;
        script_fail(s, "missing event %s%s", want, "");
        (*i)++;
        continue;
      }
      return;
    }
    script_render(&s->events[ev], got, sizeof got);
    if (!want_event) {
      s->line = *i;
      script_fail(s, "unexpected event %s%s", got, "");
      continue;
    }
    s->line = *i + 1;
    if (strcmp(got, want) != 0) script_fail(s, "event is \"%s\", expected \"%s\"", got, want);
    (*i)++;
  }
}

/* Runs one scenario on a fresh engine for cfg; returns 0 if every expectation held. */
static int script_run_with(const config *cfg, const engine_limits *lim, const char *name,
                           const char *const *lines) {
  char err[256];
  static script s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  s.name = name;
  s.e = engine_create(cfg, lim, err, sizeof err);
  if (!s.e) {
    fprintf(stderr, "%s: engine_create: %s\n", name, err);
    return 1;
  }
  for (int i = 0; lines[i];) {
    s.line = i + 1;
    if (lines[i][0] == '=') {
      script_assert(&s, lines[i] + 2);
      i++;
      continue;
    }
    if (lines[i][0] != '>') {
      script_fail(&s, "expected a command, got %s%s", lines[i], "");
      i++;
      continue;
    }
    engine_cmd c;
    script_parse(&s, lines[i] + 2, &c);
    s.count = 0;
    engine_process(s.e, &c, script_collect, &s);
    i++;
    script_expect_events(&s, lines, &i);
    if (engine_check(s.e, err, sizeof err)) {
      s.line = i;
      script_fail(&s, "self-check: %s%s", err, "");
    }
  }
  engine_destroy(s.e);
  return s.failed;
}

/* Runs a scenario with a tiny price window (fallback trees, re-centring) and a wide one. */
static inline int script_run_config(const config *cfg, const char *name, const char *const *lines) {
  engine_limits narrow = {
      .max_orders = 1024, .max_accounts = 1024, .max_users = 256, .price_window_bits = 6};
  engine_limits wide = narrow;
  wide.price_window_bits = 16;
  return script_run_with(cfg, &narrow, name, lines) | script_run_with(cfg, &wide, name, lines);
}

static inline int script_run(const char *name, const char *const *lines) {
  config cfg;
  script_config(&cfg);
  return script_run_config(&cfg, name, lines);
}

#endif
