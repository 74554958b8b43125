/*
 * engine.c: engine creation, the command dispatcher, event building,
 * read-only queries and the deep self-check. Thread role: engine thread only
 * (engine_create / engine_destroy on whichever thread owns the engine).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

_Noreturn void engine_fatal(const char *what) {
  fprintf(stderr, "bourse engine: internal invariant broken: %s\n", what);
  abort();
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */

static int fail(char *err, size_t errlen, const char *what, const char *name) {
  snprintf(err, errlen, "engine: %s%s%s", what, name ? ": " : "", name ? name : "");
  return -1;
}

static int check_config(const config *cfg, char *err, size_t errlen) {
  if (cfg->asset_count == 0 || cfg->asset_count > CONFIG_MAX_ASSETS)
    return fail(err, errlen, "no assets configured", NULL);
  if (cfg->market_count > CONFIG_MAX_MARKETS) return fail(err, errlen, "too many markets", NULL);
  if (cfg->fees_discount_asset >= (int)cfg->asset_count)
    return fail(err, errlen, "fees.discount_asset is not an asset", NULL);
  if (cfg->fees_discount_pct > 100) return fail(err, errlen, "fees.discount_pct above 100", NULL);
  if (cfg->fees_account_uid == 0) return fail(err, errlen, "fees.account_uid must be >= 1", NULL);
  for (unsigned i = 0; i < cfg->market_count; i++) {
    const config_market *m = &cfg->markets[i];
    if (m->base >= cfg->asset_count || m->quote >= cfg->asset_count || m->base == m->quote)
      return fail(err, errlen, "market assets invalid", m->name);
    if (m->lot_units < 1 || m->notional_unit < 1)
      return fail(err, errlen, "lot_units and notional_unit must be >= 1", m->name);
    if (m->maker_fee < 0 || m->maker_fee > 1000000 || m->taker_fee < 0 || m->taker_fee > 1000000)
      return fail(err, errlen, "fee rates must be within 0..1000000", m->name);
    if (m->min_notional < 0) return fail(err, errlen, "min_notional is negative", m->name);
  }
  return 0;
}

static uint64_t pow2_at_least(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

static int create_tables(engine *e, const engine_limits *lim) {
  if (book_pool_init(&e->pool, lim->max_orders)) return -1;
  if (accounts_init(&e->accounts, lim->max_accounts + e->asset_count, e->asset_count)) return -1;
  uint64_t user_slots = pow2_at_least((uint64_t)lim->max_users * 2);
  e->users = calloc(user_slots, sizeof *e->users);
  e->user_mask = user_slots - 1;
  e->user_capacity = lim->max_users;
  uint64_t cid_slots = pow2_at_least((uint64_t)lim->max_orders * 2);
  e->cid_buckets = calloc(cid_slots, sizeof *e->cid_buckets);
  e->cid_mask = cid_slots - 1;
  e->triggered = calloc(lim->max_orders, sizeof *e->triggered);
  e->chunk_capacity = lim->max_orders + lim->max_users;
  e->chunks = calloc((size_t)e->chunk_capacity + 1, sizeof *e->chunks);
  e->chunk_fresh = 1;
  e->fee_accounts = calloc(e->asset_count, sizeof *e->fee_accounts);
  e->markets = calloc(e->market_count ? e->market_count : 1, sizeof *e->markets);
  if (!e->users || !e->cid_buckets || !e->triggered || !e->chunks || !e->fee_accounts ||
      !e->markets)
    return -1;
  for (unsigned a = 0; a < e->asset_count; a++) {
    e->fee_accounts[a] = accounts_get(&e->accounts, e->fee_uid, a);
    if (e->fee_accounts[a] == ACCOUNTS_NONE) return -1;
  }
  return 0;
}

/* Writes one byte per page so the kernel maps every page now, not on the hot path. */
static void prefault(void *memory, size_t bytes) {
  volatile char *p = memory;
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 0;
}

static void prefault_all(engine *e) {
  prefault(e->pool.orders, ((size_t)e->pool.order_capacity + 1) * sizeof *e->pool.orders);
  prefault(e->pool.levels, ((size_t)e->pool.order_capacity + 1) * sizeof *e->pool.levels);
  prefault(e->pool.id_buckets, (e->pool.id_mask + 1) * sizeof *e->pool.id_buckets);
  prefault(e->accounts.slots, (e->accounts.mask + 1) * sizeof *e->accounts.slots);
  prefault(e->accounts.dirty, (size_t)e->accounts.capacity * sizeof *e->accounts.dirty);
  prefault(e->users, (e->user_mask + 1) * sizeof *e->users);
  prefault(e->chunks, ((size_t)e->chunk_capacity + 1) * sizeof *e->chunks);
  prefault(e->cid_buckets, (e->cid_mask + 1) * sizeof *e->cid_buckets);
  prefault(e->triggered, (size_t)e->pool.order_capacity * sizeof *e->triggered);
  for (unsigned i = 0; i < e->market_count; i++) {
    book *b = &e->markets[i].book;
    prefault(b->slots, (size_t)b->window * sizeof *b->slots);
    for (int s = 0; s < 2; s++) prefault(b->sides[s].bits0, b->window / 8);
  }
}

static int create_markets(engine *e, const engine_limits *lim) {
  for (unsigned i = 0; i < e->market_count; i++) {
    const config_market *cm = &e->cfg->markets[i];
    engine_market *m = &e->markets[i];
    if (book_init(&m->book, &e->pool, lim->price_window_bits)) return -1;
    m->base = cm->base;
    m->quote = cm->quote;
    m->lot_units = cm->lot_units;
    m->notional_unit = cm->notional_unit;
    m->min_notional = cm->min_notional;
    m->maker_fee = cm->maker_fee;
    m->taker_fee = cm->taker_fee;
    m->band_pct = cm->price_band_pct;
    m->owner = e;
    m->index = i;
  }
  return 0;
}

engine *engine_create(const config *cfg, const engine_limits *limits, char *err, size_t errlen) {
  engine_limits lim = limits ? *limits : (engine_limits){0};
  if (!lim.max_orders) lim.max_orders = 1u << 20;
  if (!lim.max_accounts) lim.max_accounts = 1u << 20;
  if (!lim.max_users) lim.max_users = 1u << 18;
  if (!lim.price_window_bits) lim.price_window_bits = 16;
  if (lim.price_window_bits < 6 || lim.price_window_bits > 18) {
    fail(err, errlen, "price_window_bits must be within 6..18", NULL);
    return NULL;
  }
  if (check_config(cfg, err, errlen)) return NULL;
  engine *e = calloc(1, sizeof *e);
  if (!e) {
    fail(err, errlen, "out of memory", NULL);
    return NULL;
  }
  e->max_open_per_user = lim.max_open_orders_per_user;
  e->cfg = cfg;
  e->market_count = cfg->market_count;
  e->asset_count = cfg->asset_count;
  e->fee_uid = cfg->fees_account_uid;
  e->discount_asset = cfg->fees_discount_asset;
  e->discount_min = cfg->fees_discount_min;
  e->discount_pct = cfg->fees_discount_pct;
  e->next_order_id = 1;
  e->next_trade_id = 1;
  if (create_tables(e, &lim) || create_markets(e, &lim)) {
    engine_destroy(e);
    fail(err, errlen, "out of memory for the configured limits", NULL);
    return NULL;
  }
  if (lim.prefault) prefault_all(e);
  return e;
}

void engine_destroy(engine *e) {
  if (!e) return;
  if (e->markets)
    for (unsigned i = 0; i < e->market_count; i++) book_free(&e->markets[i].book);
  free(e->markets);
  book_pool_free(&e->pool);
  accounts_free(&e->accounts);
  free(e->users);
  free(e->chunks);
  free(e->cid_buckets);
  free(e->triggered);
  free(e->fee_accounts);
  free(e);
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */

static void event_header(const engine *e, engine_event *ev, uint8_t type, uint32_t market,
                         uint64_t uid) {
  ev->type = type;
  ev->cmd_type = e->cmd->type;
  ev->flags = 0;
  ev->reserved = 0;
  ev->code = 0;
  ev->reserved2 = 0;
  ev->market = market;
  ev->asset = 0;
  ev->uid = uid;
  ev->tag = e->cmd->tag;
  ev->ts_ms = e->cmd->ts_ms;
}

/* The book's level hook: counts the change and emits it (market data). */
static void level_changed(void *ctx, uint8_t side, int64_t price, int64_t total) {
  engine_market *m = ctx;
  engine *e = m->owner;
  m->update_id++;
  if (!e->cmd) return;
  engine_event ev;
  event_header(e, &ev, ENGINE_EVENT_LEVEL, m->index, 0);
  ev.u.level.update_id = m->update_id;
  ev.u.level.price = price;
  ev.u.level.qty = total;
  ev.u.level.side = side;
  e->emit(e->emit_ctx, &ev);
}

void engine_set_level_events(engine *e, bool on) {
  for (unsigned i = 0; i < e->market_count; i++) {
    e->markets[i].book.on_level = on ? level_changed : NULL;
    e->markets[i].book.on_level_ctx = &e->markets[i];
  }
}

uint64_t engine_level_update_id(const engine *e, unsigned market) {
  return market < e->market_count ? e->markets[market].update_id : 0;
}

void engine_emit_accepted(engine *e, uint32_t market, uint64_t order_id, int64_t cancelled) {
  engine_event ev;
  event_header(e, &ev, ENGINE_EVENT_ACCEPTED, market, e->cmd->uid);
  ev.flags = ENGINE_EVENT_F_REPLY;
  ev.u.ack.order_id = order_id;
  ev.u.ack.cancelled = cancelled;
  e->emit(e->emit_ctx, &ev);
}

void engine_emit_rejected(engine *e, uint32_t market, int code) {
  engine_event ev;
  event_header(e, &ev, ENGINE_EVENT_REJECTED,
               market < e->market_count ? market : ENGINE_MARKET_NONE, e->cmd->uid);
  ev.flags = ENGINE_EVENT_F_REPLY;
  ev.code = (uint16_t)code;
  ev.u.ack.order_id = 0;
  ev.u.ack.cancelled = 0;
  e->emit(e->emit_ctx, &ev);
}

void engine_order_info_of(const book_order *o, uint8_t prev_status, engine_order_info *i) {
  i->order_id = o->id;
  i->price = o->price;
  i->stop = o->stop;
  i->qty = o->qty;
  i->quote_qty = o->quote_qty;
  i->filled = o->filled;
  i->filled_quote = o->filled_quote;
  i->created_ms = o->created_ms;
  i->side = o->side;
  i->order_type = o->type;
  i->tif = o->tif;
  i->stp = o->stp;
  i->post_only = o->post_only;
  i->status = o->status;
  i->prev_status = prev_status;
  memcpy(i->client_id, o->client_id, sizeof i->client_id);
}

void engine_emit_order(engine *e, const book_order *o, uint8_t prev_status, uint8_t flags) {
  engine_event ev;
  event_header(e, &ev, ENGINE_EVENT_ORDER, o->market, o->uid);
  ev.flags = flags;
  engine_order_info_of(o, prev_status, &ev.u.order);
  e->emit(e->emit_ctx, &ev);
}

size_t engine_user_orders(const engine *e, uint64_t uid, uint32_t market, size_t skip,
                          engine_order_info *out, uint32_t *markets, size_t max) {
  uint32_t user = engine_user_find(e, uid);
  if (user == UINT32_MAX) return 0;
  size_t n = 0;
  for (uint32_t ci = e->users[user].head; ci && n < max; ci = e->chunks[ci].next) {
    const engine_user_chunk *chunk = &e->chunks[ci];
    for (unsigned k = 0; k < chunk->used && n < max; k++) {
      if (!chunk->orders[k]) continue;
      const book_order *o = book_order_at(&e->pool, chunk->orders[k]);
      if (market != ENGINE_MARKET_NONE && o->market != market) continue;
      if (skip) {
        skip--;
        continue;
      }
      engine_order_info_of(o, o->status, &out[n]);
      markets[n++] = o->market;
    }
  }
  return n;
}

static void emit_balance(void *ctx, const account *a) {
  engine *e = ctx;
  engine_event ev;
  event_header(e, &ev, ENGINE_EVENT_BALANCE, ENGINE_MARKET_NONE, a->uid);
  ev.asset = a->asset;
  ev.u.balance.available = a->available;
  ev.u.balance.hold = a->hold;
  e->emit(e->emit_ctx, &ev);
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */

static void set_halt(engine *e, const engine_cmd *c, bool halted) {
  if (c->market >= e->market_count) {
    engine_emit_rejected(e, c->market, ENGINE_CODE_UNKNOWN_MARKET);
    return;
  }
  e->markets[c->market].halted = halted;
  engine_emit_accepted(e, c->market, 0, 0);
}

static void discard_event(void *ctx, const engine_event *ev) {
  (void)ctx;
  (void)ev;
}

void engine_process(engine *e, const engine_cmd *c, engine_emit_fn *emit, void *ctx) {
  e->cmd = c;
  e->emit = emit ? emit : discard_event;
  e->emit_ctx = ctx;
  switch (c->type) {
  case ENGINE_CMD_PLACE: {
    engine_hold_msg h;
    int code = engine_hold_place(e, c, &h);
    if (code)
      engine_emit_rejected(e, c->market, code);
    else
      engine_match_place(e, &h);
    break;
  }
  case ENGINE_CMD_CANCEL:
    engine_match_cancel(e, c);
    break;
  case ENGINE_CMD_CANCEL_ALL:
    engine_match_cancel_all(e, c);
    break;
  case ENGINE_CMD_AMEND:
    engine_match_amend(e, c);
    break;
  case ENGINE_CMD_DEPOSIT:
    engine_hold_deposit(e, c);
    break;
  case ENGINE_CMD_WITHDRAW:
    engine_hold_withdraw(e, c);
    break;
  case ENGINE_CMD_HALT:
    set_halt(e, c, true);
    break;
  case ENGINE_CMD_RESUME:
    set_halt(e, c, false);
    break;
  default:
    engine_emit_rejected(e, ENGINE_MARKET_NONE, ENGINE_CODE_UNKNOWN_OP);
    break;
  }
  accounts_flush(&e->accounts, emit_balance, e);
  e->cmd = NULL;
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */

void engine_balance(const engine *e, uint64_t uid, unsigned asset, int64_t *available,
                    int64_t *hold) {
  uint32_t index = accounts_find(&e->accounts, uid, asset);
  *available = index == ACCOUNTS_NONE ? 0 : accounts_at(&e->accounts, index)->available;
  *hold = index == ACCOUNTS_NONE ? 0 : accounts_at(&e->accounts, index)->hold;
}

void engine_each_balance(const engine *e, engine_balance_fn *fn, void *ctx) {
  for (uint64_t i = 0; i <= e->accounts.mask; i++) {
    const account *a = &e->accounts.slots[i];
    if (a->uid != 0) fn(ctx, a->uid, a->asset, a->available, a->hold);
  }
}

size_t engine_depth(const engine *e, unsigned market, engine_side side, engine_level *out,
                    size_t max) {
  if (market >= e->market_count) return 0;
  return book_depth(&e->markets[market].book, side, out, max);
}

size_t engine_resting_orders(const engine *e, unsigned market, engine_side side,
                             engine_resting *out, size_t max) {
  if (market >= e->market_count) return 0;
  const book *b = &e->markets[market].book;
  size_t n = 0;
  for (uint32_t li = book_best(b, side); li && n < max; li = book_next_level(b, li)) {
    for (uint32_t oi = book_level_at(b->pool, li)->head; oi && n < max;
         oi = book_order_at(b->pool, oi)->next) {
      const book_order *o = book_order_at(b->pool, oi);
      out[n++] = (engine_resting){o->id, o->uid, o->price, o->qty - o->filled};
    }
  }
  return n;
}

bool engine_last_price(const engine *e, unsigned market, int64_t *price) {
  if (market >= e->market_count || !e->markets[market].has_last) return false;
  *price = e->markets[market].last_price;
  return true;
}

size_t engine_open_orders(const engine *e) {
  return e->pool.orders_used;
}

int engine_audit(const engine *e, char *err, size_t errlen) {
  return accounts_audit(&e->accounts, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Self-check                                                               */

static int check_fail(char *err, size_t errlen, const char *what, uint64_t id) {
  snprintf(err, errlen, "engine: %s (order %llu)", what, (unsigned long long)id);
  return -1;
}

/* What an open order should hold, by its kind and what is left of it. */
static int check_order_hold(const engine *e, const book_order *o, char *err, size_t errlen) {
  const engine_market *m = &e->markets[o->market];
  int64_t want = 0;
  if (o->side == ENGINE_SIDE_SELL)
    want = (o->qty - o->filled) * m->lot_units;
  else if (o->type == ENGINE_TYPE_LIMIT || o->type == ENGINE_TYPE_STOP_LIMIT)
    want = o->price * (o->qty - o->filled) * m->notional_unit;
  else if (o->flags & BOOK_ORDER_BY_QUOTE)
    want = o->quote_qty;
  if (o->hold != want) return check_fail(err, errlen, "order hold", o->id);
  return 0;
}

static uint8_t open_status_of(const book_order *o) {
  return o->filled > 0 ? ENGINE_STATUS_PARTIALLY_FILLED : ENGINE_STATUS_NEW;
}

/* Orders on the price levels of every book. */
static size_t count_resting(const engine *e) {
  size_t n = 0;
  for (unsigned i = 0; i < e->market_count; i++) {
    const book *b = &e->markets[i].book;
    for (int side = 0; side < 2; side++)
      for (uint32_t li = book_best(b, (engine_side)side); li; li = book_next_level(b, li))
        n += book_level_at(b->pool, li)->count;
  }
  return n;
}

static int check_order(const engine *e, uint32_t oi, __int128 *holds, char *err, size_t errlen) {
  const book_order *o = book_order_at(&e->pool, oi);
  if (!(o->flags & (BOOK_ORDER_RESTING | BOOK_ORDER_STOPPED)))
    return check_fail(err, errlen, "open order neither resting nor stopped", o->id);
  if (book_id_find(&e->pool, o->id) != oi) return check_fail(err, errlen, "id index", o->id);
  if (o->client_id[0] && engine_cid_find(e, o->uid, o->client_id) != oi)
    return check_fail(err, errlen, "client_id index", o->id);
  bool stopped = (o->flags & BOOK_ORDER_STOPPED) != 0;
  if (stopped != (o->status == ENGINE_STATUS_UNTRIGGERED))
    return check_fail(err, errlen, "status", o->id);
  if (!stopped && o->status != open_status_of(o)) return check_fail(err, errlen, "status", o->id);
  if (check_order_hold(e, o, err, errlen)) return -1;
  const engine_market *m = &e->markets[o->market];
  unsigned asset = o->side == ENGINE_SIDE_BUY ? m->quote : m->base;
  uint32_t index = accounts_find(&e->accounts, o->uid, asset);
  if (index == ACCOUNTS_NONE) return check_fail(err, errlen, "no balance entry", o->id);
  if (o->acct_base != accounts_find(&e->accounts, o->uid, m->base) ||
      o->acct_quote != accounts_find(&e->accounts, o->uid, m->quote))
    return check_fail(err, errlen, "balance handles", o->id);
  holds[index] += o->hold;
  return 0;
}

int engine_check(const engine *e, char *err, size_t errlen) {
  if (engine_audit(e, err, errlen)) return -1;
  for (unsigned i = 0; i < e->market_count; i++)
    if (book_check(&e->markets[i].book, err, errlen)) return -1;
  if (e->trigger_head) return check_fail(err, errlen, "trigger queue not empty", 0);
  __int128 *holds = calloc(e->accounts.mask + 1, sizeof *holds);
  if (!holds) return check_fail(err, errlen, "out of memory", 0);
  int rc = 0;
  size_t open = 0, listed = 0, resting = 0, stopped = 0;
  for (uint32_t oi = 1; oi < e->pool.order_fresh && rc == 0; oi++) {
    const book_order *o = book_order_at(&e->pool, oi);
    if (o->id == 0) continue;
    open++;
    resting += (o->flags & BOOK_ORDER_RESTING) != 0;
    stopped += (o->flags & BOOK_ORDER_STOPPED) != 0;
    rc = check_order(e, oi, holds, err, errlen);
  }
  for (uint64_t i = 0; i <= e->accounts.mask && rc == 0; i++) {
    const account *a = &e->accounts.slots[i];
    if (a->uid != 0 && a->hold != holds[i]) {
      snprintf(err, errlen, "engine: uid %llu asset %u holds %lld, its open orders %lld",
               (unsigned long long)a->uid, a->asset, (long long)a->hold, (long long)holds[i]);
      rc = -1;
    }
  }
  for (uint64_t u = 0; u <= e->user_mask; u++) {
    if (!e->users[u].uid) continue;
    uint32_t n = 0;
    uint64_t last_id = 0;
    for (uint32_t c = e->users[u].head; c; c = e->chunks[c].next) {
      const engine_user_chunk *k = &e->chunks[c];
      uint32_t live = 0;
      for (unsigned s = 0; s < k->used; s++) {
        if (!k->orders[s]) continue;
        const book_order *o = book_order_at(&e->pool, k->orders[s]);
        if (o->uid != e->users[u].uid || o->user != u || o->user_chunk != c || o->user_slot != s ||
            o->id <= last_id)
          rc = check_fail(err, errlen, "user list", o->id);
        last_id = o->id;
        live++;
      }
      if (live != k->live || (live == 0 && c != e->users[u].tail))
        rc = check_fail(err, errlen, "user chunk", c);
      n += live;
    }
    if (n != e->users[u].open) rc = check_fail(err, errlen, "user open count", 0);
    uint32_t cached = e->users[u].cached_market;
    if (cached) {
      const engine_market *m = &e->markets[cached - 1];
      if (e->users[u].acct_base != accounts_find(&e->accounts, e->users[u].uid, m->base) ||
          e->users[u].acct_quote != accounts_find(&e->accounts, e->users[u].uid, m->quote))
        rc = check_fail(err, errlen, "user balance handle cache", 0);
    }
    listed += n;
  }
  free(holds);
  if (rc == 0 && (open != e->pool.orders_used || open != listed))
    return check_fail(err, errlen, "open order count", open);
  size_t stop_total = 0;
  for (unsigned i = 0; i < e->market_count; i++) stop_total += e->markets[i].book.stop_count;
  if (rc == 0 && (resting != count_resting(e) || stopped != stop_total))
    return check_fail(err, errlen, "resting or stopped count", resting);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */

const char *engine_side_name(engine_side side) {
  return side == ENGINE_SIDE_BUY ? "buy" : "sell";
}

const char *engine_type_name(engine_order_type type) {
  static const char *const names[] = {"limit", "market", "stop_limit", "stop_market"};
  return (unsigned)type < 4 ? names[type] : "?";
}

const char *engine_tif_name(engine_tif tif) {
  static const char *const names[] = {"gtc", "ioc", "fok"};
  return (unsigned)tif < 3 ? names[tif] : "?";
}

const char *engine_stp_name(engine_stp stp) {
  static const char *const names[] = {"none", "cancel_taker", "cancel_maker", "cancel_both"};
  return (unsigned)stp < 4 ? names[stp] : "?";
}

const char *engine_status_name(engine_status status) {
  static const char *const names[] = {"none",   "new",       "partially_filled",
                                      "filled", "cancelled", "untriggered"};
  return (unsigned)status < 6 ? names[status] : "?";
}
