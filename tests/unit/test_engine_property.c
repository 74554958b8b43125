/*
 * test_engine_property.c: a seeded random command stream (several users, 3
 * markets, every order type and option, cancels, amends, cancel_all,
 * deposits, withdrawals, halts, malformed commands) run through the engine
 * and through a deliberately simple reference model written here: open
 * orders in one array, the best maker found by a linear scan, balances in a
 * small 2-D array. After every command the two must agree on every event
 * (acks, reject codes, trades with fees, order changes) and every balance;
 * every few commands the books are compared order by order and the engine
 * runs its deep self-check (money audit included).
 *
 * Sizes: BOURSE_PROPERTY_COMMANDS overrides the commands per seed;
 * BOURSE_PROPERTY_SEED runs one seed only (for reproducing a failure).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bourse/engine.h"
#include "check.h"

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */

enum { A_BTC, A_USDT, A_ETH, A_BNB, ASSETS };
enum { M_BTCUSDT, M_ETHUSDT, M_ETHBTC, MARKETS };
#define FEE_UID 999
static const uint64_t uids[] = {1, 2, 3, 4, 5, 6, FEE_UID};
#define USERS 7

static config cfg;

static void make_config(void) {
  memset(&cfg, 0, sizeof cfg);
  const char *assets[] = {"BTC", "USDT", "ETH", "BNB"};
  cfg.asset_count = ASSETS;
  for (unsigned i = 0; i < ASSETS; i++) {
    snprintf(cfg.assets[i].name, sizeof cfg.assets[i].name, "%s", assets[i]);
    cfg.assets[i].decimals = 8;
  }
  cfg.market_count = MARKETS;
  config_market *m = &cfg.markets[M_BTCUSDT];
  snprintf(m->name, sizeof m->name, "BTCUSDT");
  m->base = A_BTC, m->quote = A_USDT, m->lot_units = 1, m->notional_unit = 1;
  m = &cfg.markets[M_ETHUSDT];
  snprintf(m->name, sizeof m->name, "ETHUSDT");
  m->base = A_ETH, m->quote = A_USDT, m->lot_units = 10, m->notional_unit = 3;
  m->maker_fee = 1000, m->taker_fee = 2000, m->min_notional = 300;
  m = &cfg.markets[M_ETHBTC];
  snprintf(m->name, sizeof m->name, "ETHBTC");
  m->base = A_ETH, m->quote = A_BTC, m->lot_units = 1, m->notional_unit = 1;
  m->maker_fee = 5000, m->taker_fee = 7000, m->price_band_pct = 30;
  cfg.fees_account_uid = FEE_UID;
  /* ETH is held by sell orders on two markets, so eligibility counting hold matters. */
  cfg.fees_discount_asset = A_ETH;
  cfg.fees_discount_min = 20000;
  cfg.fees_discount_pct = 40;
}

/* ------------------------------------------------------------------------ */
/* The reference model                                                      */

typedef struct model_order {
  uint64_t id, uid;
  unsigned market;
  uint8_t side, type, tif, stp, post_only, status;
  bool resting, stopped, up, by_quote;
  int64_t price, stop, qty, filled, quote_qty, filled_quote, hold;
  uint64_t seq; /* time priority while resting */
  char cid[ENGINE_CLIENT_ID_MAX + 1];
} model_order;

#define MODEL_MAX_OPEN   4096
#define MODEL_MAX_EVENTS 8192

static struct {
  model_order open[MODEL_MAX_OPEN]; /* open orders in id order (and takers in flight) */
  int open_count;
  int64_t available[USERS][ASSETS], hold[USERS][ASSETS];
  int64_t last[MARKETS];
  bool has_last[MARKETS], halted[MARKETS];
  uint64_t next_id, next_trade, next_seq;
  uint64_t queue[MODEL_MAX_OPEN]; /* triggered stops, FIFO */
  int queue_head, queue_tail;
  engine_event events[MODEL_MAX_EVENTS];
  int event_count;
  const engine_cmd *cmd;
} M;

static int user_index(uint64_t uid) {
  for (int i = 0; i < USERS; i++)
    if (uids[i] == uid) return i;
  fprintf(stderr, "model: unknown uid %" PRIu64 "\n", uid);
  exit(2);
}

static model_order *find_id(uint64_t id) {
  for (int i = 0; i < M.open_count; i++)
    if (M.open[i].id == id) return &M.open[i];
  return NULL;
}

static model_order *find_cid(uint64_t uid, const char *cid) {
  for (int i = 0; i < M.open_count; i++)
    if (M.open[i].uid == uid && strcmp(M.open[i].cid, cid) == 0 && cid[0]) return &M.open[i];
  return NULL;
}

static void emit(engine_event ev) {
  if (M.event_count < MODEL_MAX_EVENTS) M.events[M.event_count++] = ev;
}

static void emit_ack(uint64_t id, int64_t cancelled) {
  engine_event ev = {.type = ENGINE_EVENT_ACCEPTED};
  ev.u.ack.order_id = id;
  ev.u.ack.cancelled = cancelled;
  emit(ev);
}

static void emit_reject(int code) {
  emit((engine_event){.type = ENGINE_EVENT_REJECTED, .code = (uint16_t)code});
}

static void emit_order(const model_order *o, uint8_t prev) {
  engine_event ev = {.type = ENGINE_EVENT_ORDER, .uid = o->uid, .market = o->market};
  ev.u.order.order_id = o->id;
  ev.u.order.status = o->status;
  ev.u.order.prev_status = prev;
  ev.u.order.filled = o->filled;
  ev.u.order.price = o->price;
  ev.u.order.qty = o->qty;
  ev.u.order.filled_quote = o->filled_quote;
  emit(ev);
}

static bool limit_like(uint8_t type) {
  return type == ENGINE_TYPE_LIMIT || type == ENGINE_TYPE_STOP_LIMIT;
}

static unsigned held_asset(const model_order *o) {
  const config_market *m = &cfg.markets[o->market];
  return o->side == ENGINE_SIDE_BUY ? m->quote : m->base;
}

static bool mul3(int64_t a, int64_t b, int64_t c, int64_t *out) {
  __int128 r = (__int128)a * b * c;
  if (r > INT64_MAX || r < INT64_MIN) return false;
  *out = (int64_t)r;
  return true;
}

/* Removes order o (pointer into M.open) from the open array. */
static void drop(model_order *o) {
  int i = (int)(o - M.open);
  memmove(&M.open[i], &M.open[i + 1], (size_t)(M.open_count - i - 1) * sizeof *o);
  M.open_count--;
}

static void release(const model_order *o) {
  int u = user_index(o->uid);
  unsigned a = held_asset(o);
  M.hold[u][a] -= o->hold;
  M.available[u][a] += o->hold;
}

/* Ends an order: releases its hold, emits, removes it. */
static void close_order(model_order *o, uint8_t status) {
  uint8_t prev = o->status;
  release(o);
  o->hold = 0;
  o->status = status;
  emit_order(o, prev);
  drop(o);
}

/* The best resting order on `side` of `market`: best price, then earliest seq. */
static model_order *best_maker(unsigned market, uint8_t side) {
  model_order *best = NULL;
  for (int i = 0; i < M.open_count; i++) {
    model_order *o = &M.open[i];
    if (!o->resting || o->market != market || o->side != side) continue;
    if (!best) {
      best = o;
      continue;
    }
    bool better = side == ENGINE_SIDE_BUY ? o->price > best->price : o->price < best->price;
    if (better || (o->price == best->price && o->seq < best->seq)) best = o;
  }
  return best;
}

static bool crosses(uint8_t taker_side, int64_t limit, int64_t price) {
  return taker_side == ENGINE_SIDE_BUY ? price <= limit : price >= limit;
}

static bool eligible(int u) {
  return M.available[u][A_ETH] + M.hold[u][A_ETH] >= cfg.fees_discount_min;
}

static int64_t fee(int64_t received, int32_t rate, bool discount) {
  __int128 f = (__int128)received * rate;
  if (discount) return (int64_t)(f * (100 - cfg.fees_discount_pct) / (100 * 1000000));
  return (int64_t)(f / 1000000);
}

static void fill(model_order *t, model_order *k, int64_t q) {
  const config_market *m = &cfg.markets[t->market];
  int64_t price = k->price, base = q * m->lot_units, quote = price * q * m->notional_unit;
  model_order *buyer = t->side == ENGINE_SIDE_BUY ? t : k;
  model_order *seller = t->side == ENGINE_SIDE_BUY ? k : t;
  int bu = user_index(buyer->uid), su = user_index(seller->uid), fu = user_index(FEE_UID);
  bool buyer_taker = buyer == t;
  int64_t buyer_fee = fee(base, buyer_taker ? m->taker_fee : m->maker_fee, eligible(bu));
  int64_t seller_fee = fee(quote, buyer_taker ? m->maker_fee : m->taker_fee, eligible(su));
  /* What leaves the buyer's hold: its own limit price for a limit, else the cost. */
  int64_t from_hold = limit_like(buyer->type) ? buyer->price * q * m->notional_unit : quote;
  M.hold[bu][m->quote] -= from_hold;
  M.available[bu][m->quote] += from_hold - quote;
  M.available[bu][m->base] += base - buyer_fee;
  M.hold[su][m->base] -= base;
  M.available[su][m->quote] += quote - seller_fee;
  M.available[fu][m->base] += buyer_fee;
  M.available[fu][m->quote] += seller_fee;
  buyer->hold -= from_hold;
  seller->hold -= base;
  t->filled += q, k->filled += q;
  t->filled_quote += quote, k->filled_quote += quote;
  M.last[t->market] = price;
  M.has_last[t->market] = true;
  engine_event ev = {.type = ENGINE_EVENT_TRADE, .uid = t->uid, .market = t->market};
  ev.u.trade.trade_id = M.next_trade++;
  ev.u.trade.price = price;
  ev.u.trade.qty = q;
  ev.u.trade.quote = quote;
  ev.u.trade.maker_order = k->id;
  ev.u.trade.taker_order = t->id;
  ev.u.trade.maker_uid = k->uid;
  ev.u.trade.taker_side = t->side;
  ev.u.trade.maker_fee = buyer_taker ? seller_fee : buyer_fee;
  ev.u.trade.taker_fee = buyer_taker ? buyer_fee : seller_fee;
  emit(ev);
  uint8_t prev = k->status;
  if (k->filled == k->qty) {
    k->resting = false;
    close_order(k, ENGINE_STATUS_FILLED);
  } else {
    k->status = ENGINE_STATUS_PARTIALLY_FILLED;
    emit_order(k, prev);
  }
}

enum { END_DONE, END_BOOK, END_STP, END_BUDGET };

/* Matches taker id against the book; returns why it stopped. */
static int match(uint64_t taker_id) {
  for (;;) {
    model_order *t = find_id(taker_id);
    const config_market *m = &cfg.markets[t->market];
    bool budgeted = t->side == ENGINE_SIDE_BUY && !limit_like(t->type);
    if (!t->by_quote && t->filled == t->qty) return END_DONE;
    if (budgeted && t->hold == 0) return END_BUDGET;
    model_order *k = best_maker(t->market, t->side == ENGINE_SIDE_BUY ? 1 : 0);
    if (!k) return END_BOOK;
    if (limit_like(t->type) && !crosses(t->side, t->price, k->price)) return END_BOOK;
    int64_t lot_cost = 0;
    if (budgeted && (!mul3(k->price, 1, m->notional_unit, &lot_cost) || t->hold < lot_cost))
      return END_BUDGET;
    if (k->uid == t->uid && t->stp != ENGINE_STP_NONE) {
      uint8_t stp = t->stp;
      if (stp == ENGINE_STP_CANCEL_TAKER) return END_STP;
      k->resting = false;
      close_order(k, ENGINE_STATUS_CANCELLED);
      if (stp == ENGINE_STP_CANCEL_BOTH) return END_STP;
      continue;
    }
    int64_t q = k->qty - k->filled;
    if (!t->by_quote && t->qty - t->filled < q) q = t->qty - t->filled;
    if (budgeted && t->hold / lot_cost < q) q = t->hold / lot_cost;
    fill(t, k, q);
  }
}

static void finish(uint64_t taker_id, uint8_t prev, int end) {
  model_order *t = find_id(taker_id);
  if (limit_like(t->type) && t->tif == ENGINE_TIF_GTC && end == END_BOOK) {
    t->resting = true;
    t->seq = M.next_seq++;
    t->status = t->filled ? ENGINE_STATUS_PARTIALLY_FILLED : ENGINE_STATUS_NEW;
    emit_order(t, prev);
    return;
  }
  bool filled = t->by_quote ? t->filled > 0 && end == END_BUDGET : t->filled == t->qty;
  close_order(t, filled ? ENGINE_STATUS_FILLED : ENGINE_STATUS_CANCELLED);
}

static bool opposite_crosses(unsigned market, uint8_t side, int64_t price) {
  model_order *k = best_maker(market, side == ENGINE_SIDE_BUY ? 1 : 0);
  return k && crosses(side, price, k->price);
}

/* Lots a FOK could take: makers in priority order, as its STP allows. */
static bool fok_ok(unsigned market, uint64_t uid, uint8_t side, int64_t limit, int64_t want,
                   uint8_t stp) {
  static model_order sorted[MODEL_MAX_OPEN];
  int n = 0;
  uint8_t opp = side == ENGINE_SIDE_BUY ? 1 : 0;
  for (int i = 0; i < M.open_count; i++)
    if (M.open[i].resting && M.open[i].market == market && M.open[i].side == opp)
      sorted[n++] = M.open[i];
  /* Selection sort by priority: simple on purpose. */
  for (int i = 0; i < n; i++) {
    int b = i;
    for (int j = i + 1; j < n; j++) {
      bool better = opp == ENGINE_SIDE_BUY ? sorted[j].price > sorted[b].price
                                           : sorted[j].price < sorted[b].price;
      if (better || (sorted[j].price == sorted[b].price && sorted[j].seq < sorted[b].seq)) b = j;
    }
    model_order tmp = sorted[i];
    sorted[i] = sorted[b];
    sorted[b] = tmp;
  }
  for (int i = 0; i < n && want > 0; i++) {
    if (!crosses(side, limit, sorted[i].price)) break;
    if (sorted[i].uid == uid && stp != ENGINE_STP_NONE) {
      if (stp == ENGINE_STP_CANCEL_MAKER) continue;
      return false;
    }
    want -= sorted[i].qty - sorted[i].filled;
  }
  return want <= 0;
}

static void enter_triggered(uint64_t id) {
  model_order *o = find_id(id);
  o->stopped = false;
  const config_market *m = &cfg.markets[o->market];
  if (o->type == ENGINE_TYPE_STOP_MARKET && o->side == ENGINE_SIDE_BUY && !o->by_quote) {
    int u = user_index(o->uid);
    o->hold = M.available[u][m->quote];
    M.hold[u][m->quote] += o->hold;
    M.available[u][m->quote] = 0;
  }
  if (o->type == ENGINE_TYPE_STOP_LIMIT &&
      ((o->post_only && opposite_crosses(o->market, o->side, o->price)) ||
       (o->tif == ENGINE_TIF_FOK &&
        !fok_ok(o->market, o->uid, o->side, o->price, o->qty, o->stp)))) {
    close_order(o, ENGINE_STATUS_CANCELLED);
    return;
  }
  finish(id, ENGINE_STATUS_UNTRIGGERED, match(id));
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void run_stops(unsigned market) {
  for (;;) {
    if (M.has_last[market]) {
      uint64_t ids[MODEL_MAX_OPEN];
      int n = 0;
      for (int i = 0; i < M.open_count; i++) {
        model_order *o = &M.open[i];
        if (!o->stopped || o->market != market) continue;
        bool hit = o->up ? M.last[market] >= o->stop : M.last[market] <= o->stop;
        if (hit) {
          o->stopped = false;
          ids[n++] = o->id;
        }
      }
      qsort(ids, (size_t)n, sizeof *ids, compare_u64);
      for (int i = 0; i < n; i++) M.queue[M.queue_tail++] = ids[i];
    }
    if (M.queue_head == M.queue_tail) {
      M.queue_head = M.queue_tail = 0;
      return;
    }
    enter_triggered(M.queue[M.queue_head++]);
  }
}

static bool cid_ok(const engine_cmd *c) {
  return memchr(c->client_id, 0, sizeof c->client_id) && c->client_id[0];
}

static bool in_band(unsigned market, int64_t price) {
  unsigned pct = cfg.markets[market].price_band_pct;
  if (!pct || !M.has_last[market]) return true;
  __int128 p = (__int128)price * 100, l = M.last[market];
  return p >= l * (100 - pct) && p <= l * (100 + pct);
}

static int place_check(const engine_cmd *c) {
  if (c->uid == 0) return 1003;
  if (c->market >= MARKETS) return 4001;
  if (c->side > 1 || c->order_type > 3 || c->stp > 3 || c->post_only > 1) return 1003;
  bool limit = limit_like(c->order_type);
  bool stop = c->order_type >= ENGINE_TYPE_STOP_LIMIT;
  bool has_q = c->flags & ENGINE_CMD_F_QTY, has_qq = c->flags & ENGINE_CMD_F_QUOTE_QTY;
  if (limit && c->tif > 2) return 1003;
  if (c->post_only && !(limit && c->tif == ENGINE_TIF_GTC)) return 1003;
  if ((c->flags & ENGINE_CMD_F_CLIENT_ID) && !cid_ok(c)) return 1003;
  if (limit && (!(c->flags & ENGINE_CMD_F_PRICE) || !has_q || has_qq)) return 1003;
  if (!limit && c->side == ENGINE_SIDE_BUY && has_q == has_qq) return 1003;
  if (!limit && c->side == ENGINE_SIDE_SELL && (!has_q || has_qq)) return 1003;
  if (stop && !(c->flags & ENGINE_CMD_F_STOP)) return 1003;
  if (M.halted[c->market]) return 4008;
  if (limit && (c->price <= 0 || !in_band(c->market, c->price))) return 4002;
  if (stop && (c->stop <= 0 || !M.has_last[c->market])) return 4002;
  if (has_q ? c->qty <= 0 : c->quote_qty <= 0) return 4003;
  const config_market *m = &cfg.markets[c->market];
  int64_t notional;
  if (limit && mul3(c->price, c->qty, m->notional_unit, &notional) && notional < m->min_notional)
    return 4003;
  if ((c->flags & ENGINE_CMD_F_CLIENT_ID) && find_cid(c->uid, c->client_id)) return 4009;
  return 0;
}

static void model_place(const engine_cmd *c) {
  int code = place_check(c);
  if (code) {
    emit_reject(code);
    return;
  }
  const config_market *m = &cfg.markets[c->market];
  int u = user_index(c->uid);
  bool limit = limit_like(c->order_type), stop = c->order_type >= ENGINE_TYPE_STOP_LIMIT;
  bool by_quote = !limit && c->side == ENGINE_SIDE_BUY && (c->flags & ENGINE_CMD_F_QUOTE_QTY);
  unsigned asset = c->side == ENGINE_SIDE_BUY ? m->quote : m->base;
  int64_t need = 0;
  bool ok = true;
  if (c->side == ENGINE_SIDE_SELL)
    ok = mul3(c->qty, m->lot_units, 1, &need);
  else if (limit)
    ok = mul3(c->price, c->qty, m->notional_unit, &need);
  else if (by_quote)
    need = c->quote_qty;
  else if (c->order_type == ENGINE_TYPE_MARKET) {
    need = M.available[u][asset];
    if (need == 0) ok = false;
  }
  if (!ok || need > M.available[u][asset]) {
    emit_reject(4004);
    return;
  }
  if (c->order_type == ENGINE_TYPE_LIMIT) {
    if (c->post_only && opposite_crosses(c->market, c->side, c->price)) {
      emit_reject(4005);
      return;
    }
    if (c->tif == ENGINE_TIF_FOK && !fok_ok(c->market, c->uid, c->side, c->price, c->qty, c->stp)) {
      emit_reject(4007);
      return;
    }
  }
  M.available[u][asset] -= need;
  M.hold[u][asset] += need;
  model_order *o = &M.open[M.open_count++];
  memset(o, 0, sizeof *o);
  o->id = M.next_id++;
  o->uid = c->uid;
  o->market = c->market;
  o->side = c->side;
  o->type = c->order_type;
  o->tif = limit ? c->tif : ENGINE_TIF_IOC;
  o->stp = c->stp;
  o->post_only = c->post_only;
  o->price = limit ? c->price : 0;
  o->stop = stop ? c->stop : 0;
  o->by_quote = by_quote;
  o->qty = by_quote ? 0 : c->qty;
  o->quote_qty = by_quote ? c->quote_qty : 0;
  o->hold = need;
  o->status = ENGINE_STATUS_NONE;
  if (c->flags & ENGINE_CMD_F_CLIENT_ID) memcpy(o->cid, c->client_id, sizeof o->cid);
  uint64_t id = o->id;
  emit_ack(id, 0);
  if (stop) {
    o->stopped = true;
    o->up = o->stop >= M.last[c->market];
    o->status = ENGINE_STATUS_UNTRIGGERED;
    emit_order(o, ENGINE_STATUS_NONE);
  } else {
    finish(id, ENGINE_STATUS_NONE, match(id));
  }
  run_stops(c->market);
}

static model_order *target(const engine_cmd *c) {
  model_order *o =
      c->flags & ENGINE_CMD_F_ORDER_ID ? find_id(c->order_id) : find_cid(c->uid, c->client_id);
  return o && o->uid == c->uid && o->market == c->market ? o : NULL;
}

static bool target_fields_ok(const engine_cmd *c) {
  return (c->flags & ENGINE_CMD_F_ORDER_ID) || ((c->flags & ENGINE_CMD_F_CLIENT_ID) && cid_ok(c));
}

static void model_cancel(const engine_cmd *c) {
  if (c->uid == 0) return emit_reject(1003);
  if (c->market >= MARKETS) return emit_reject(4001);
  if (!target_fields_ok(c)) return emit_reject(1003);
  model_order *o = target(c);
  if (!o) return emit_reject(4006);
  emit_ack(o->id, 0);
  o->resting = o->stopped = false;
  close_order(o, ENGINE_STATUS_CANCELLED);
}

static void model_cancel_all(const engine_cmd *c) {
  bool one = c->flags & ENGINE_CMD_F_MARKET;
  if (c->uid == 0) return emit_reject(1003);
  if (one && c->market >= MARKETS) return emit_reject(4001);
  int64_t n = 0;
  for (int i = 0; i < M.open_count; i++)
    n += M.open[i].uid == c->uid && (!one || M.open[i].market == c->market);
  emit_ack(0, n);
  for (int i = 0; i < M.open_count;) {
    model_order *o = &M.open[i];
    if (o->uid == c->uid && (!one || o->market == c->market)) {
      o->resting = o->stopped = false;
      close_order(o, ENGINE_STATUS_CANCELLED);
    } else {
      i++;
    }
  }
}

static int amend_check(const engine_cmd *c, model_order **out, int64_t *price, int64_t *qty,
                       int64_t *delta) {
  if (c->uid == 0) return 1003;
  if (c->market >= MARKETS) return 4001;
  if (!target_fields_ok(c)) return 1003;
  bool has_p = c->flags & ENGINE_CMD_F_PRICE, has_q = c->flags & ENGINE_CMD_F_QTY;
  if (!has_p && !has_q) return 1003;
  if (M.halted[c->market]) return 4008;
  if (has_p && (c->price <= 0 || !in_band(c->market, c->price))) return 4002;
  if (has_q && c->qty <= 0) return 4003;
  model_order *o = target(c);
  if (!o || o->stopped) return 4006;
  *price = has_p ? c->price : o->price;
  *qty = has_q ? c->qty : o->qty;
  if (*qty <= o->filled) return 4003;
  const config_market *m = &cfg.markets[c->market];
  int64_t notional, hold;
  if (mul3(*price, *qty, m->notional_unit, &notional) && notional < m->min_notional) return 4003;
  bool ok = o->side == ENGINE_SIDE_BUY ? mul3(*price, *qty - o->filled, m->notional_unit, &hold)
                                       : mul3(*qty - o->filled, m->lot_units, 1, &hold);
  if (!ok || hold - o->hold > M.available[user_index(o->uid)][held_asset(o)]) return 4004;
  *delta = hold - o->hold;
  if (o->post_only && *price != o->price && opposite_crosses(o->market, o->side, *price))
    return 4005;
  *out = o;
  return 0;
}

static void model_amend(const engine_cmd *c) {
  model_order *o;
  int64_t price, qty, delta;
  int code = amend_check(c, &o, &price, &qty, &delta);
  if (code) return emit_reject(code);
  emit_ack(o->id, 0);
  int u = user_index(o->uid);
  unsigned a = held_asset(o);
  bool keeps = price == o->price && qty <= o->qty;
  if (keeps && qty == o->qty) return;
  M.available[u][a] -= delta;
  M.hold[u][a] += delta;
  o->hold += delta;
  o->qty = qty;
  if (keeps) {
    emit_order(o, o->status);
    return;
  }
  uint8_t prev = o->status;
  o->resting = false;
  o->price = price;
  uint64_t id = o->id;
  finish(id, prev, match(id));
  run_stops(c->market);
}

static void model_transfer(const engine_cmd *c) {
  if (c->uid == 0 || c->asset >= ASSETS || c->amount <= 0) return emit_reject(1003);
  int u = user_index(c->uid);
  if (c->type == ENGINE_CMD_WITHDRAW) {
    if (c->amount > M.available[u][c->asset]) return emit_reject(4004);
    M.available[u][c->asset] -= c->amount;
  } else {
    M.available[u][c->asset] += c->amount;
  }
  emit_ack(0, 0);
}

static void model_process(const engine_cmd *c) {
  M.event_count = 0;
  M.cmd = c;
  switch (c->type) {
  case ENGINE_CMD_PLACE:
    model_place(c);
    break;
  case ENGINE_CMD_CANCEL:
    model_cancel(c);
    break;
  case ENGINE_CMD_CANCEL_ALL:
    model_cancel_all(c);
    break;
  case ENGINE_CMD_AMEND:
    model_amend(c);
    break;
  case ENGINE_CMD_DEPOSIT:
  case ENGINE_CMD_WITHDRAW:
    model_transfer(c);
    break;
  case ENGINE_CMD_HALT:
  case ENGINE_CMD_RESUME:
    if (c->market >= MARKETS) return emit_reject(4001);
    M.halted[c->market] = c->type == ENGINE_CMD_HALT;
    emit_ack(0, 0);
    break;
  default:
    emit_reject(1002);
    break;
  }
}

/* ------------------------------------------------------------------------ */
/* Random commands                                                          */

static uint64_t rng_state;

static uint64_t rng(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int64_t range(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

static bool chance(int percent) {
  return (int)(rng() % 100) < percent;
}

static int64_t centre[MARKETS];
static const int64_t spread[MARKETS] = {30, 8, 6};
static const int64_t centre_min[MARKETS] = {500, 100, 30};

/*
 * A price for `side`: mostly passive (its own side of the centre, so books
 * build up), sometimes aggressive (crossing), rarely far away (so the price
 * window re-centres and fallback levels exist; not on the banded market,
 * where a far print would put every later price outside the band).
 */
static int64_t random_price(unsigned market, uint8_t side) {
  if (market != M_ETHBTC && chance(2))
    return chance(50) ? centre[market] * 10 : 1 + centre[market] / 10;
  int64_t offset = chance(75) ? 1 + range(0, spread[market]) : -range(0, spread[market] / 2);
  return side == ENGINE_SIDE_BUY ? centre[market] - offset : centre[market] + offset;
}

static uint64_t random_trader(void) {
  return chance(3) ? FEE_UID : uids[rng() % 6];
}

static void random_cid(engine_cmd *c) {
  snprintf(c->client_id, sizeof c->client_id, "c%d", (int)(rng() % 8));
  c->flags |= ENGINE_CMD_F_CLIENT_ID;
}

static void random_place(engine_cmd *c) {
  c->type = ENGINE_CMD_PLACE;
  c->uid = random_trader();
  c->market = (uint32_t)(rng() % MARKETS);
  c->side = (uint8_t)(rng() % 2);
  int kind = (int)(rng() % 100);
  c->order_type = kind < 62   ? ENGINE_TYPE_LIMIT
                  : kind < 80 ? ENGINE_TYPE_MARKET
                  : kind < 91 ? ENGINE_TYPE_STOP_LIMIT
                              : ENGINE_TYPE_STOP_MARKET;
  bool limit = limit_like(c->order_type);
  c->tif = chance(70) ? ENGINE_TIF_GTC : chance(50) ? ENGINE_TIF_IOC : ENGINE_TIF_FOK;
  c->post_only = c->tif == ENGINE_TIF_GTC && limit && chance(15);
  c->stp = chance(60) ? ENGINE_STP_NONE : (uint8_t)(1 + rng() % 3);
  if (limit) c->price = random_price(c->market, c->side), c->flags |= ENGINE_CMD_F_PRICE;
  if (c->order_type >= ENGINE_TYPE_STOP_LIMIT)
    c->stop = random_price(c->market, (uint8_t)(rng() % 2)), c->flags |= ENGINE_CMD_F_STOP;
  if (!limit && c->side == ENGINE_SIDE_BUY && chance(50)) {
    c->quote_qty = range(1, 3000);
    c->flags |= ENGINE_CMD_F_QUOTE_QTY;
  } else {
    c->qty = range(1, 25);
    c->flags |= ENGINE_CMD_F_QTY;
  }
  if (chance(25)) random_cid(c);
  if (chance(4)) { /* something malformed or invalid */
    switch (rng() % 8) {
    case 0:
      c->qty = 0;
      break;
    case 1:
      c->price = -c->price;
      break;
    case 2:
      c->flags &= (uint8_t)~ENGINE_CMD_F_PRICE;
      break;
    case 3:
      c->flags |= ENGINE_CMD_F_QUOTE_QTY, c->quote_qty = 5;
      break;
    case 4:
      c->post_only = 1;
      break;
    case 5:
      c->uid = 0;
      break;
    case 6:
      c->market = 7;
      break;
    default:
      c->tif = 5;
      break;
    }
  }
}

/* An open order id of the model (any user), or a random recent id. */
static uint64_t random_target_id(void) {
  if (M.open_count && chance(92)) return M.open[rng() % (uint64_t)M.open_count].id;
  return M.next_id > 1 ? (uint64_t)range(1, (int64_t)M.next_id) : 1;
}

static void random_target(engine_cmd *c) {
  uint64_t id = random_target_id();
  model_order *o = find_id(id);
  c->uid = o && chance(90) ? o->uid : random_trader();
  c->market = o && chance(95) ? o->market : (uint32_t)(rng() % MARKETS);
  if (o && o->cid[0] && chance(40)) {
    memcpy(c->client_id, o->cid, sizeof c->client_id);
    c->flags |= ENGINE_CMD_F_CLIENT_ID;
  } else {
    c->order_id = id;
    c->flags |= ENGINE_CMD_F_ORDER_ID;
  }
}

static void random_command(engine_cmd *c) {
  memset(c, 0, sizeof *c);
  for (unsigned m = 0; m < MARKETS; m++) {
    if (chance(10)) centre[m] += range(-2, 2);
    /* Pulled towards the last price, as a real market's quotes are. */
    if (M.has_last[m] && chance(10)) centre[m] = (centre[m] + M.last[m]) / 2;
    if (centre[m] < centre_min[m]) centre[m] = centre_min[m];
  }
  for (unsigned m = 0; m < MARKETS; m++)
    if (M.halted[m] && chance(5)) {
      c->type = ENGINE_CMD_RESUME;
      c->market = m;
      return;
    }
  int kind = (int)(rng() % 1000);
  if (M.open_count > 400) kind = 999; /* keep the books bounded */
  if (kind < 600) {
    random_place(c);
  } else if (kind < 680) {
    c->type = ENGINE_CMD_CANCEL;
    random_target(c);
  } else if (kind < 870) {
    c->type = ENGINE_CMD_AMEND;
    random_target(c);
    model_order *o = find_id(c->order_id);
    if (chance(60))
      c->price = o && chance(70) ? o->price + range(-3, 3)
                                 : random_price(c->market, o ? o->side : ENGINE_SIDE_BUY);
    if (chance(60) || !c->price) c->qty = o && chance(70) ? o->qty + range(-3, 3) : range(1, 25);
    if (c->price) c->flags |= ENGINE_CMD_F_PRICE;
    if (c->qty) c->flags |= ENGINE_CMD_F_QTY;
    if (chance(2)) c->flags &= (uint8_t) ~(ENGINE_CMD_F_PRICE | ENGINE_CMD_F_QTY);
  } else if (kind < 960) {
    c->type = ENGINE_CMD_DEPOSIT;
    c->uid = random_trader();
    c->asset = (uint32_t)(rng() % ASSETS);
    c->amount = range(1, c->asset == A_BNB ? 40 : 50000);
    if (chance(2)) c->amount = 0;
  } else if (kind < 990) {
    c->type = ENGINE_CMD_WITHDRAW;
    c->uid = random_trader();
    c->asset = (uint32_t)(rng() % ASSETS);
    /* A share of what is available keeps balances stationary (so fee-discount eligibility
       keeps flipping); sometimes a little more than available (4004). */
    c->amount = M.available[user_index(c->uid)][c->asset] * range(10, 100) / 100;
    if (c->amount == 0 || chance(10)) c->amount += range(1, 100);
  } else if (kind < 993) {
    c->type = chance(30) ? ENGINE_CMD_HALT : ENGINE_CMD_RESUME;
    c->market = chance(3) ? 9 : (uint32_t)(rng() % MARKETS);
  } else {
    c->type = ENGINE_CMD_CANCEL_ALL;
    c->uid = random_trader();
    if (chance(60)) c->market = (uint32_t)(rng() % MARKETS), c->flags |= ENGINE_CMD_F_MARKET;
  }
}

/* ------------------------------------------------------------------------ */
/* Comparison                                                               */

static engine_event engine_events[MODEL_MAX_EVENTS];
static int engine_count;

static void collect(void *ctx, const engine_event *ev) {
  (void)ctx;
  if (ev->type != ENGINE_EVENT_BALANCE && engine_count < MODEL_MAX_EVENTS)
    engine_events[engine_count++] = *ev;
}

static void describe(const engine_event *ev, char *out, size_t len) {
  switch (ev->type) {
  case ENGINE_EVENT_ACCEPTED:
    snprintf(out, len, "accepted id=%" PRIu64 " n=%" PRId64, ev->u.ack.order_id,
             ev->u.ack.cancelled);
    break;
  case ENGINE_EVENT_REJECTED:
    snprintf(out, len, "rejected %d", ev->code);
    break;
  case ENGINE_EVENT_TRADE:
    snprintf(out, len,
             "trade %" PRIu64 " %" PRId64 "x%" PRId64 " m%" PRIu64 " t%" PRIu64
             " side %d fees %" PRId64 "/%" PRId64 " uids %" PRIu64 "/%" PRIu64,
             ev->u.trade.trade_id, ev->u.trade.price, ev->u.trade.qty, ev->u.trade.maker_order,
             ev->u.trade.taker_order, ev->u.trade.taker_side, ev->u.trade.maker_fee,
             ev->u.trade.taker_fee, ev->u.trade.maker_uid, ev->uid);
    break;
  case ENGINE_EVENT_ORDER:
    snprintf(out, len,
             "order %" PRIu64 " uid %" PRIu64 " %d->%d filled %" PRId64 " price %" PRId64
             " qty %" PRId64 " fq %" PRId64,
             ev->u.order.order_id, ev->uid, ev->u.order.prev_status, ev->u.order.status,
             ev->u.order.filled, ev->u.order.price, ev->u.order.qty, ev->u.order.filled_quote);
    break;
  default:
    snprintf(out, len, "event type %d", ev->type);
    break;
  }
}

static int compare_events(long step) {
  char a[256], b[256];
  int n = engine_count > M.event_count ? engine_count : M.event_count;
  for (int i = 0; i < n; i++) {
    if (i < engine_count)
      describe(&engine_events[i], a, sizeof a);
    else
      snprintf(a, sizeof a, "(none)");
    if (i < M.event_count)
      describe(&M.events[i], b, sizeof b);
    else
      snprintf(b, sizeof b, "(none)");
    if (strcmp(a, b) != 0) {
      fprintf(stderr, "command %ld, event %d:\n  engine: %s\n  model:  %s\n", step, i, a, b);
      return -1;
    }
  }
  return 0;
}

static int compare_balances(const engine *e, long step) {
  for (int u = 0; u < USERS; u++)
    for (unsigned a = 0; a < ASSETS; a++) {
      int64_t available, hold;
      engine_balance(e, uids[u], a, &available, &hold);
      if (available != M.available[u][a] || hold != M.hold[u][a]) {
        fprintf(stderr,
                "command %ld: uid %" PRIu64 " asset %u engine %" PRId64 "/%" PRId64
                ", model %" PRId64 "/%" PRId64 "\n",
                step, uids[u], a, available, hold, M.available[u][a], M.hold[u][a]);
        return -1;
      }
    }
  return 0;
}

static int compare_books(const engine *e, long step) {
  static engine_resting got[MODEL_MAX_OPEN];
  static model_order want[MODEL_MAX_OPEN];
  for (unsigned m = 0; m < MARKETS; m++)
    for (int side = 0; side < 2; side++) {
      size_t n = engine_resting_orders(e, m, (engine_side)side, got, MODEL_MAX_OPEN);
      size_t k = 0;
      /* The model's book for this side by repeated best-maker extraction. */
      for (int i = 0; i < M.open_count; i++)
        if (M.open[i].resting && M.open[i].market == m && M.open[i].side == side)
          want[k++] = M.open[i];
      for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k; j++) {
          bool better = side == ENGINE_SIDE_BUY ? want[j].price > want[i].price
                                                : want[j].price < want[i].price;
          if (better || (want[j].price == want[i].price && want[j].seq < want[i].seq)) {
            model_order t = want[i];
            want[i] = want[j];
            want[j] = t;
          }
        }
      if (n != k) {
        fprintf(stderr, "command %ld: market %u side %d has %zu orders, model %zu\n", step, m, side,
                n, k);
        return -1;
      }
      for (size_t i = 0; i < n; i++)
        if (got[i].order_id != want[i].id || got[i].price != want[i].price ||
            got[i].remaining != want[i].qty - want[i].filled) {
          fprintf(stderr,
                  "command %ld: market %u side %d position %zu: order %" PRIu64 " vs model %" PRIu64
                  "\n",
                  step, m, side, i, got[i].order_id, want[i].id);
          return -1;
        }
    }
  return 0;
}

/* Runs `commands` random commands from `seed` through both; returns 0 if they always agreed. */
static int run_seed(uint64_t seed, long commands, unsigned window_bits) {
  char err[256];
  engine_limits lim = {.max_orders = MODEL_MAX_OPEN,
                       .max_accounts = 256,
                       .max_users = 64,
                       .price_window_bits = window_bits};
  engine *e = engine_create(&cfg, &lim, err, sizeof err);
  if (!e) {
    fprintf(stderr, "engine_create: %s\n", err);
    return -1;
  }
  memset(&M, 0, sizeof M);
  M.next_id = M.next_trade = M.next_seq = 1;
  rng_state = seed;
  centre[M_BTCUSDT] = 1000, centre[M_ETHUSDT] = 200, centre[M_ETHBTC] = 50;
  long trades = 0, rejects = 0, codes[10000] = {0}, max_open = 0;
  int rc = 0;
  for (long step = 0; step < commands && rc == 0; step++) {
    engine_cmd c;
    random_command(&c);
    engine_count = 0;
    engine_process(e, &c, collect, NULL);
    model_process(&c);
    for (int i = 0; i < M.event_count; i++) {
      trades += M.events[i].type == ENGINE_EVENT_TRADE;
      rejects += M.events[i].type == ENGINE_EVENT_REJECTED;
      if (M.events[i].type == ENGINE_EVENT_REJECTED) codes[M.events[i].code % 10000]++;
    }
    if (M.open_count > max_open) max_open = M.open_count;
    if (compare_events(step) || compare_balances(e, step)) rc = -1;
    if (rc == 0 && (step % 64 == 0 || step == commands - 1)) {
      if (compare_books(e, step)) rc = -1;
      if (engine_check(e, err, sizeof err)) {
        fprintf(stderr, "command %ld: self-check: %s\n", step, err);
        rc = -1;
      }
    }
    if (rc)
      fprintf(stderr, "seed %" PRIu64 " window %u failed at command %ld\n", seed, window_bits,
              step);
  }
  printf("seed %" PRIu64 " window 2^%u: %ld commands, %ld trades, %ld rejects, %zu open at end, "
         "%ld at most\n",
         seed, window_bits, commands, trades, rejects, engine_open_orders(e), max_open);
  printf("  rejects by code:");
  for (int code = 0; code < 10000; code++)
    if (codes[code]) printf(" %d:%ld", code, codes[code]);
  printf("\n");
  engine_destroy(e);
  return rc;
}

int main(void) {
  make_config();
  const char *type = getenv("BOURSE_BUILD_TYPE");
  bool sanitized = type && (strcmp(type, "Asan") == 0 || strcmp(type, "Tsan") == 0);
  long commands = sanitized ? 25000 : 100000;
  if (getenv("BOURSE_PROPERTY_COMMANDS")) commands = atol(getenv("BOURSE_PROPERTY_COMMANDS"));
  if (getenv("BOURSE_PROPERTY_SEED")) {
    uint64_t seed = strtoull(getenv("BOURSE_PROPERTY_SEED"), NULL, 10);
    CHECK(run_seed(seed, commands, 6) == 0);
    return check_report("engine_property");
  }
  /* Four seeds, 400k commands in Release: two with a tiny price window. */
  static const uint64_t seeds[] = {1, 2, 3, 4};
  for (int i = 0; i < 4; i++) CHECK(run_seed(seeds[i], commands, i < 2 ? 6 : 16) == 0);
  return check_report("engine_property");
}
