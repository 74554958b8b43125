/*
 * match.c: the match stage: order lifecycle, price-time matching of every
 * order type, self-trade prevention, stop triggering, cancel, cancel_all
 * and amend (the rules are shared/spec/RULES.md). Thread role: engine thread
 * only.
 *
 * The hot path starts at engine_match_place / engine_match_amend: from there
 * on nothing allocates; orders and levels come from the book pool.
 */
#include <string.h>

#include "engine_internal.h"

static inline engine_side opposite(uint8_t side) {
  return side == ENGINE_SIDE_BUY ? ENGINE_SIDE_SELL : ENGINE_SIDE_BUY;
}

/* True if a taker on `side` with limit `limit` trades against a maker at `price`. */
static inline bool crosses(uint8_t side, int64_t limit, int64_t price) {
  return side == ENGINE_SIDE_BUY ? price <= limit : price >= limit;
}

static inline bool is_limit_type(uint8_t type) {
  return type == ENGINE_TYPE_LIMIT || type == ENGINE_TYPE_STOP_LIMIT;
}

/* The balance handle of what the order holds: quote for a buy, base for a sell. */
static inline uint32_t held_account(const book_order *o) {
  return o->side == ENGINE_SIDE_BUY ? o->acct_quote : o->acct_base;
}

static inline uint8_t open_status(const book_order *o) {
  return o->filled > 0 ? ENGINE_STATUS_PARTIALLY_FILLED : ENGINE_STATUS_NEW;
}

/* ------------------------------------------------------------------------ */
/* Users and client ids                                                     */

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint32_t engine_user_find(const engine *e, uint64_t uid) {
  for (uint64_t i = mix64(uid) & e->user_mask;; i = (i + 1) & e->user_mask) {
    if (e->users[i].uid == uid) return (uint32_t)i;
    if (e->users[i].uid == 0) return UINT32_MAX;
  }
}

/* The user's record, created if missing; UINT32_MAX when the table is full. */
static uint32_t user_get(engine *e, uint64_t uid) {
  for (uint64_t i = mix64(uid) & e->user_mask;; i = (i + 1) & e->user_mask) {
    engine_user *u = &e->users[i];
    if (u->uid == uid) return (uint32_t)i;
    if (u->uid == 0) {
      if (e->user_count >= e->user_capacity) return UINT32_MAX;
      e->user_count++;
      *u = (engine_user){.uid = uid};
      return (uint32_t)i;
    }
  }
}

/* A fresh chunk appended to u's list. The pool has room for one per order plus one per user. */
static uint32_t chunk_append(engine *e, engine_user *u) {
  uint32_t c = e->chunk_free;
  if (c)
    e->chunk_free = e->chunks[c].next;
  else
    c = e->chunk_fresh++;
  engine_user_chunk *k = &e->chunks[c];
  k->next = 0;
  k->prev = u->tail;
  k->used = k->live = 0;
  if (u->tail)
    e->chunks[u->tail].next = c;
  else
    u->head = c;
  u->tail = c;
  return c;
}

static void chunk_remove(engine *e, engine_user *u, uint32_t c) {
  engine_user_chunk *k = &e->chunks[c];
  if (k->prev)
    e->chunks[k->prev].next = k->next;
  else
    u->head = k->next;
  if (k->next)
    e->chunks[k->next].prev = k->prev;
  else
    u->tail = k->prev;
  k->next = e->chunk_free;
  e->chunk_free = c;
}

/* Appends a new order (the highest id so far) to its user's list. */
static void user_link(engine *e, uint32_t oi) {
  book_order *o = book_order_at(&e->pool, oi);
  engine_user *u = &e->users[o->user];
  uint32_t c = u->tail;
  if (!c || e->chunks[c].used == ENGINE_USER_CHUNK_SLOTS) c = chunk_append(e, u);
  engine_user_chunk *k = &e->chunks[c];
  o->user_chunk = c;
  o->user_slot = (uint8_t)k->used;
  k->orders[k->used++] = oi;
  k->live++;
  u->open++;
}

static void user_unlink(engine *e, uint32_t oi) {
  book_order *o = book_order_at(&e->pool, oi);
  engine_user *u = &e->users[o->user];
  uint32_t c = o->user_chunk;
  engine_user_chunk *k = &e->chunks[c];
  k->orders[o->user_slot] = 0;
  u->open--;
  if (--k->live > 0) return;
  if (c == u->tail)
    k->used = 0; /* the last chunk stays, empty, to be appended to */
  else
    chunk_remove(e, u, c);
}

/*
 * Copies the open orders of `user`, in id order, that are in `market` (or
 * every market when market == ENGINE_MARKET_NONE) into out; returns how many.
 * Only the chunks are read, and the orders when a market is given.
 */
static size_t user_orders(const engine *e, uint32_t user, uint32_t market, uint32_t *out) {
  size_t n = 0;
  for (uint32_t c = e->users[user].head; c; c = e->chunks[c].next) {
    const engine_user_chunk *k = &e->chunks[c];
    for (unsigned s = 0; s < k->used; s++) {
      uint32_t oi = k->orders[s];
      if (oi && (market == ENGINE_MARKET_NONE || book_order_at(&e->pool, oi)->market == market))
        out[n++] = oi;
    }
  }
  return n;
}

static uint64_t cid_hash(uint64_t uid, const char *client_id) {
  uint64_t h = 0xcbf29ce484222325ull ^ mix64(uid);
  for (const unsigned char *p = (const unsigned char *)client_id; *p; p++)
    h = (h ^ *p) * 0x100000001b3ull;
  return mix64(h);
}

uint32_t engine_cid_find(const engine *e, uint64_t uid, const char *client_id) {
  uint64_t h = cid_hash(uid, client_id);
  for (uint32_t oi = e->cid_buckets[h & e->cid_mask]; oi;) {
    const book_order *o = book_order_at(&e->pool, oi);
    if (o->cid_hash == h && o->uid == uid && strcmp(o->client_id, client_id) == 0) return oi;
    oi = o->cid_next;
  }
  return 0;
}

static void cid_insert(engine *e, uint32_t oi) {
  book_order *o = book_order_at(&e->pool, oi);
  o->cid_hash = cid_hash(o->uid, o->client_id);
  uint32_t *bucket = &e->cid_buckets[o->cid_hash & e->cid_mask];
  o->cid_next = *bucket;
  *bucket = oi;
  o->flags |= BOOK_ORDER_HAS_CID;
}

static void cid_remove(engine *e, uint32_t oi) {
  book_order *o = book_order_at(&e->pool, oi);
  uint32_t *link = &e->cid_buckets[o->cid_hash & e->cid_mask];
  while (*link != oi) link = &book_order_at(&e->pool, *link)->cid_next;
  *link = o->cid_next;
  o->flags &= (uint8_t)~BOOK_ORDER_HAS_CID;
}

/* ------------------------------------------------------------------------ */
/* Order lifecycle                                                          */

/* Releases what the order still holds. */
static void release_hold(engine *e, book_order *o) {
  if (o->hold == 0) return;
  engine_release_msg r = {.account = held_account(o), .amount = o->hold};
  o->hold = 0;
  engine_settle_release(e, &r);
}

/*
 * Ends an order that is out of the book and the stop set: releases its
 * funds, emits its final state, drops it from every index, frees it.
 */
static void order_close(engine *e, uint32_t oi, uint8_t status, uint8_t flags) {
  book_order *o = book_order_at(&e->pool, oi);
  uint8_t prev = o->status;
  release_hold(e, o);
  o->status = status;
  engine_emit_order(e, o, prev, flags);
  book_id_remove(&e->pool, oi);
  if (o->flags & BOOK_ORDER_HAS_CID) cid_remove(e, oi);
  user_unlink(e, oi);
  book_order_free(&e->pool, oi);
}

/* Cancels an open order wherever it is (book or stop set). */
static void order_cancel(engine *e, uint32_t oi, uint8_t flags) {
  book_order *o = book_order_at(&e->pool, oi);
  book *b = &e->markets[o->market].book;
  if (o->flags & BOOK_ORDER_RESTING) book_erase(b, oi);
  if (o->flags & BOOK_ORDER_STOPPED) book_stop_erase(b, oi);
  order_close(e, oi, ENGINE_STATUS_CANCELLED, flags);
}

static int64_t saturating_add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* ------------------------------------------------------------------------ */
/* Matching                                                                 */

typedef enum match_end {
  MATCH_DONE,   /* the taker's quantity is filled */
  MATCH_BOOK,   /* no more liquidity at an acceptable price */
  MATCH_STP,    /* self-trade prevention cancelled the taker */
  MATCH_BUDGET, /* a market buy's remaining funds afford no lot at the next price */
} match_end;

/* One fill of q lots between taker ti and the maker at the head of the best level. */
static void fill(engine *e, engine_market *m, uint32_t ti, uint32_t mi, int64_t price, int64_t q) {
  book_order *t = book_order_at(&e->pool, ti), *k = book_order_at(&e->pool, mi);
  engine_fill_msg f;
  if (__builtin_mul_overflow(q, m->lot_units, &f.base) || !engine_notional(m, price, q, &f.quote))
    engine_fatal("match: fill overflows (hold checks missed it)");
  f.buyer_release = 0;
  if (t->side == ENGINE_SIDE_BUY) {
    int64_t spent = f.quote;
    if (is_limit_type(t->type)) {
      if (!engine_notional(m, t->price, q, &spent)) engine_fatal("match: limit notional overflow");
      f.buyer_release = spent - f.quote;
    }
    t->hold -= spent;
    k->hold -= f.base;
  } else {
    t->hold -= f.base;
    k->hold -= f.quote;
  }
  if (t->hold < 0 || k->hold < 0) engine_fatal("match: order hold went negative");
  t->filled += q;
  k->filled += q;
  t->filled_quote = saturating_add(t->filled_quote, f.quote);
  k->filled_quote = saturating_add(k->filled_quote, f.quote);
  book_reduce(&m->book, mi, q);
  m->last_price = price;
  m->has_last = true;

  f.market = t->market;
  f.taker_side = t->side;
  f.price = price;
  f.qty = q;
  f.trade_id = e->next_trade_id++;
  f.maker_uid = k->uid;
  f.taker_uid = t->uid;
  f.maker_order = k->id;
  f.taker_order = t->id;
  f.maker_base = k->acct_base;
  f.maker_quote = k->acct_quote;
  f.taker_base = t->acct_base;
  f.taker_quote = t->acct_quote;
  memcpy(f.maker_client_id, k->client_id, sizeof f.maker_client_id);
  memcpy(f.taker_client_id, t->client_id, sizeof f.taker_client_id);
  engine_settle_fill(e, &f);

  if (k->filled == k->qty) {
    book_erase(&m->book, mi);
    order_close(e, mi, ENGINE_STATUS_FILLED, 0);
  } else {
    uint8_t prev = k->status;
    k->status = ENGINE_STATUS_PARTIALLY_FILLED;
    engine_emit_order(e, k, prev, 0);
  }
}

/*
 * Trades taker ti against the opposite side, best price first, then time,
 * applying self-trade prevention. A market buy spends from its hold (its
 * budget); the others are bounded by qty and, for limits, by price.
 */
static match_end match_taker(engine *e, engine_market *m, uint32_t ti) {
  book *b = &m->book;
  book_order *t = book_order_at(&e->pool, ti);
  engine_side opp = opposite(t->side);
  bool limited = is_limit_type(t->type);
  bool budgeted = t->side == ENGINE_SIDE_BUY && !limited;
  bool by_quote = t->flags & BOOK_ORDER_BY_QUOTE;
  for (;;) {
    if (!by_quote && t->filled == t->qty) return MATCH_DONE;
    if (budgeted && t->hold == 0) return MATCH_BUDGET;
    uint32_t li = book_best(b, opp);
    if (!li) return MATCH_BOOK;
    const book_level *l = book_level_at(&e->pool, li);
    int64_t price = l->price, lot_cost = 0;
    if (limited && !crosses(t->side, t->price, price)) return MATCH_BOOK;
    /* A lot price beyond int64 is beyond any budget. */
    if (budgeted && (!engine_notional(m, price, 1, &lot_cost) || t->hold < lot_cost))
      return MATCH_BUDGET;
    uint32_t mi = l->head;
    const book_order *k = book_order_at(&e->pool, mi);
    /* The next maker is most likely next to trade, and long out of cache. */
    if (k->next) __builtin_prefetch(book_order_at(&e->pool, k->next));
    if (k->uid == t->uid && t->stp != ENGINE_STP_NONE) {
      if (t->stp == ENGINE_STP_CANCEL_TAKER) return MATCH_STP;
      order_cancel(e, mi, 0);
      if (t->stp == ENGINE_STP_CANCEL_BOTH) return MATCH_STP;
      continue;
    }
    int64_t q = k->qty - k->filled;
    if (!by_quote && t->qty - t->filled < q) q = t->qty - t->filled;
    if (budgeted && t->hold / lot_cost < q) q = t->hold / lot_cost;
    fill(e, m, ti, mi, price, q);
  }
}

/*
 * After matching: a GTC limit rests what is left; anything else ends,
 * filled or cancelled as RULES.md "Final statuses" says.
 */
static void finish_taker(engine *e, engine_market *m, uint32_t ti, uint8_t prev, uint8_t flags,
                         match_end end) {
  book_order *t = book_order_at(&e->pool, ti);
  if (is_limit_type(t->type) && t->tif == ENGINE_TIF_GTC && end == MATCH_BOOK) {
    book_insert(&m->book, ti);
    t->status = open_status(t);
    engine_emit_order(e, t, prev, flags);
    return;
  }
  bool filled =
      t->flags & BOOK_ORDER_BY_QUOTE ? t->filled > 0 && end == MATCH_BUDGET : t->filled == t->qty;
  order_close(e, ti, filled ? ENGINE_STATUS_FILLED : ENGINE_STATUS_CANCELLED, flags);
}

/* True if the opposite best is at or through `price` (own orders included). */
static bool would_cross(const engine *e, const engine_market *m, uint8_t side, int64_t price) {
  uint32_t li = book_best(&m->book, opposite(side));
  return li && crosses(side, price, book_level_at(&e->pool, li)->price);
}

/*
 * True if a FOK for `want` lots at `limit` would fill completely, counting
 * only the liquidity its self-trade prevention lets it take.
 */
static bool fok_fillable(const engine *e, const engine_market *m, uint64_t uid, uint8_t side,
                         int64_t limit, int64_t want, uint8_t stp) {
  const book *b = &m->book;
  for (uint32_t li = book_best(b, opposite(side)); li; li = book_next_level(b, li)) {
    const book_level *l = book_level_at(&e->pool, li);
    if (!crosses(side, limit, l->price)) return false;
    if (stp == ENGINE_STP_NONE) {
      want -= l->total;
    } else {
      for (uint32_t oi = l->head; oi && want > 0; oi = book_order_at(&e->pool, oi)->next) {
        const book_order *k = book_order_at(&e->pool, oi);
        if (k->uid == uid) {
          if (stp == ENGINE_STP_CANCEL_MAKER) continue;
          return false;
        }
        want -= k->qty - k->filled;
      }
    }
    if (want <= 0) return true;
  }
  return false;
}

/* ------------------------------------------------------------------------ */
/* Stops                                                                    */

static void trigger_push(engine *e, uint32_t oi) {
  book_order_at(&e->pool, oi)->next = 0;
  if (e->trigger_tail)
    book_order_at(&e->pool, e->trigger_tail)->next = oi;
  else
    e->trigger_head = oi;
  e->trigger_tail = oi;
}

static uint32_t trigger_pop(engine *e) {
  uint32_t oi = e->trigger_head;
  if (oi) {
    e->trigger_head = book_order_at(&e->pool, oi)->next;
    if (!e->trigger_head) e->trigger_tail = 0;
    book_order_at(&e->pool, oi)->next = 0;
  }
  return oi;
}

/* A triggered stop enters the market as a new taker, keeping its id. */
static void enter_triggered(engine *e, engine_market *m, uint32_t oi) {
  book_order *o = book_order_at(&e->pool, oi);
  uint8_t prev = o->status;
  if (o->type == ENGINE_TYPE_STOP_MARKET && o->side == ENGINE_SIDE_BUY &&
      !(o->flags & BOOK_ORDER_BY_QUOTE))
    o->hold = engine_hold_all(e, o->acct_quote);
  if (o->type == ENGINE_TYPE_STOP_LIMIT &&
      ((o->post_only && would_cross(e, m, o->side, o->price)) ||
       (o->tif == ENGINE_TIF_FOK &&
        !fok_fillable(e, m, o->uid, o->side, o->price, o->qty, o->stp)))) {
    order_close(e, oi, ENGINE_STATUS_CANCELLED, 0);
    return;
  }
  match_end end = match_taker(e, m, oi);
  finish_taker(e, m, oi, prev, 0, end);
}

/*
 * Checks the market's stops against its last price after a taker finished,
 * and runs the triggered ones first in, first out, re-checking after each.
 */
static void run_stops(engine *e, engine_market *m) {
  for (;;) {
    if (m->has_last && book_stop_any_triggered(&m->book, m->last_price)) {
      size_t n = book_stop_take_triggered(&m->book, m->last_price, e->triggered);
      for (size_t i = 0; i < n; i++) trigger_push(e, e->triggered[i]);
    }
    uint32_t oi = trigger_pop(e);
    if (!oi) return;
    enter_triggered(e, m, oi);
  }
}

/* ------------------------------------------------------------------------ */
/* Place                                                                    */

/* Fills a fresh order from a validated place. */
static void order_init(engine *e, book_order *o, const engine_hold_msg *h, uint32_t user) {
  const engine_cmd *c = &h->cmd;
  o->id = e->next_order_id++;
  o->uid = c->uid;
  o->market = c->market;
  o->side = c->side;
  o->type = c->order_type;
  o->stp = c->stp;
  o->post_only = c->post_only;
  o->status = ENGINE_STATUS_NONE;
  o->created_ms = c->ts_ms;
  o->user = user;
  o->hold = h->hold;
  o->acct_base = h->acct_base;
  o->acct_quote = h->acct_quote;
  bool limit = is_limit_type(c->order_type);
  o->tif = limit ? c->tif : ENGINE_TIF_IOC;
  o->price = limit ? c->price : 0;
  if (c->order_type == ENGINE_TYPE_STOP_LIMIT || c->order_type == ENGINE_TYPE_STOP_MARKET)
    o->stop = c->stop;
  if (!limit && c->side == ENGINE_SIDE_BUY && (c->flags & ENGINE_CMD_F_QUOTE_QTY)) {
    o->flags |= BOOK_ORDER_BY_QUOTE;
    o->quote_qty = c->quote_qty;
  } else {
    o->qty = c->qty;
  }
  if (c->flags & ENGINE_CMD_F_CLIENT_ID) memcpy(o->client_id, c->client_id, sizeof o->client_id);
}

/* Rejects a held place: gives the funds back. */
static void reject_held(engine *e, const engine_hold_msg *h, int code) {
  engine_release_msg r = {
      .account = h->hold_asset == e->markets[h->cmd.market].base ? h->acct_base : h->acct_quote,
      .amount = h->hold};
  engine_settle_release(e, &r);
  engine_emit_rejected(e, h->cmd.market, code);
}

void engine_match_place(engine *e, const engine_hold_msg *h) {
  const engine_cmd *c = &h->cmd;
  engine_market *m = &e->markets[c->market];
  uint32_t user = h->user != UINT32_MAX ? h->user : user_get(e, c->uid);
  uint32_t oi = user == UINT32_MAX ? 0 : book_order_alloc(&e->pool);
  if (!oi) {
    reject_held(e, h, ENGINE_CODE_CAPACITY);
    return;
  }
  if (c->order_type == ENGINE_TYPE_LIMIT) {
    int code = 0;
    if (c->post_only && would_cross(e, m, c->side, c->price))
      code = ENGINE_CODE_POST_ONLY_WOULD_CROSS;
    else if (c->tif == ENGINE_TIF_FOK &&
             !fok_fillable(e, m, c->uid, c->side, c->price, c->qty, c->stp))
      code = ENGINE_CODE_FOK_NOT_FILLABLE;
    if (code) {
      book_order_free(&e->pool, oi);
      reject_held(e, h, code);
      return;
    }
  }
  book_order *o = book_order_at(&e->pool, oi);
  order_init(e, o, h, user);
  book_id_insert(&e->pool, oi);
  if (o->client_id[0]) cid_insert(e, oi);
  user_link(e, oi);
  engine_emit_accepted(e, c->market, o->id, 0);
  if (o->type == ENGINE_TYPE_STOP_LIMIT || o->type == ENGINE_TYPE_STOP_MARKET) {
    if (o->stop >= m->last_price) o->flags |= BOOK_ORDER_STOP_UP;
    book_stop_insert(&m->book, oi);
    o->status = ENGINE_STATUS_UNTRIGGERED;
    engine_emit_order(e, o, ENGINE_STATUS_NONE, ENGINE_EVENT_F_REPLY);
  } else {
    match_end end = match_taker(e, m, oi);
    finish_taker(e, m, oi, ENGINE_STATUS_NONE, ENGINE_EVENT_F_REPLY, end);
  }
  run_stops(e, m);
}

/* ------------------------------------------------------------------------ */
/* Cancel, cancel_all                                                       */

/* 1003 checks of a command naming an existing order, then the lookup (4006). */
static int check_target_fields(const engine_cmd *c) {
  if (c->flags & ENGINE_CMD_F_ORDER_ID) return ENGINE_OK;
  if (!(c->flags & ENGINE_CMD_F_CLIENT_ID) || !engine_cid_valid(c))
    return ENGINE_CODE_INVALID_FIELD;
  return ENGINE_OK;
}

static uint32_t find_target(const engine *e, const engine_cmd *c) {
  uint32_t oi = c->flags & ENGINE_CMD_F_ORDER_ID ? book_id_find(&e->pool, c->order_id)
                                                 : engine_cid_find(e, c->uid, c->client_id);
  if (!oi) return 0;
  const book_order *o = book_order_at(&e->pool, oi);
  return o->uid == c->uid && o->market == c->market ? oi : 0;
}

void engine_match_cancel(engine *e, const engine_cmd *c) {
  int code = ENGINE_OK;
  uint32_t oi = 0;
  if (c->uid == 0)
    code = ENGINE_CODE_INVALID_FIELD;
  else if (c->market >= e->market_count)
    code = ENGINE_CODE_UNKNOWN_MARKET;
  else if ((code = check_target_fields(c)) == ENGINE_OK && !(oi = find_target(e, c)))
    code = ENGINE_CODE_UNKNOWN_ORDER;
  if (code) {
    engine_emit_rejected(e, c->market, code);
    return;
  }
  engine_emit_accepted(e, c->market, book_order_at(&e->pool, oi)->id, 0);
  order_cancel(e, oi, ENGINE_EVENT_F_REPLY);
}

void engine_match_cancel_all(engine *e, const engine_cmd *c) {
  bool one_market = c->flags & ENGINE_CMD_F_MARKET;
  if (c->uid == 0 || (one_market && c->market >= e->market_count)) {
    engine_emit_rejected(e, c->market,
                         c->uid == 0 ? ENGINE_CODE_INVALID_FIELD : ENGINE_CODE_UNKNOWN_MARKET);
    return;
  }
  uint32_t user = engine_user_find(e, c->uid);
  /* Listed first (the ack carries the count), then cancelled in id order. */
  size_t count =
      user == UINT32_MAX
          ? 0
          : user_orders(e, user, one_market ? c->market : ENGINE_MARKET_NONE, e->triggered);
  engine_emit_accepted(e, one_market ? c->market : ENGINE_MARKET_NONE, 0, (int64_t)count);
  for (size_t i = 0; i < count; i++) order_cancel(e, e->triggered[i], 0);
}

/* ------------------------------------------------------------------------ */
/* Amend                                                                    */

typedef struct amend_plan {
  uint32_t order;
  int64_t price, qty;
  int64_t hold_delta; /* new hold - current hold */
} amend_plan;

/* The amend checks, in RULES.md order; fills *p on success. */
static int amend_check(engine *e, const engine_cmd *c, amend_plan *p) {
  if (c->uid == 0) return ENGINE_CODE_INVALID_FIELD;
  if (c->market >= e->market_count) return ENGINE_CODE_UNKNOWN_MARKET;
  const engine_market *m = &e->markets[c->market];
  int code = check_target_fields(c);
  if (code) return code;
  bool has_price = c->flags & ENGINE_CMD_F_PRICE, has_qty = c->flags & ENGINE_CMD_F_QTY;
  if (!has_price && !has_qty) return ENGINE_CODE_INVALID_FIELD;
  if (m->halted) return ENGINE_CODE_MARKET_HALTED;
  if (has_price && (c->price <= 0 || !engine_price_in_band(m, c->price)))
    return ENGINE_CODE_BAD_PRICE;
  if (has_qty && c->qty <= 0) return ENGINE_CODE_BAD_QTY;
  p->order = find_target(e, c);
  if (!p->order) return ENGINE_CODE_UNKNOWN_ORDER;
  const book_order *o = book_order_at(&e->pool, p->order);
  if (!(o->flags & BOOK_ORDER_RESTING)) return ENGINE_CODE_UNKNOWN_ORDER; /* untriggered stop */
  p->price = has_price ? c->price : o->price;
  p->qty = has_qty ? c->qty : o->qty;
  if (p->qty <= o->filled) return ENGINE_CODE_BAD_QTY;
  int64_t notional;
  if (m->min_notional > 0 && engine_notional(m, p->price, p->qty, &notional) &&
      notional < m->min_notional)
    return ENGINE_CODE_BAD_QTY;
  int64_t new_hold = 0; /* set below; gcc -O1 (TSan build) cannot tell */
  bool ok = o->side == ENGINE_SIDE_BUY
                ? engine_notional(m, p->price, p->qty - o->filled, &new_hold)
                : !__builtin_mul_overflow(p->qty - o->filled, m->lot_units, &new_hold);
  if (!ok) return ENGINE_CODE_INSUFFICIENT_BALANCE;
  p->hold_delta = new_hold - o->hold;
  if (p->hold_delta > accounts_at(&e->accounts, held_account(o))->available)
    return ENGINE_CODE_INSUFFICIENT_BALANCE;
  if (o->post_only && p->price != o->price && would_cross(e, m, o->side, p->price))
    return ENGINE_CODE_POST_ONLY_WOULD_CROSS;
  return ENGINE_OK;
}

void engine_match_amend(engine *e, const engine_cmd *c) {
  amend_plan p;
  int code = amend_check(e, c, &p);
  if (code) {
    engine_emit_rejected(e, c->market, code);
    return;
  }
  engine_market *m = &e->markets[c->market];
  book_order *o = book_order_at(&e->pool, p.order);
  engine_emit_accepted(e, c->market, o->id, 0);
  if (p.price == o->price && p.qty <= o->qty) {
    /* Same price, not larger: keeps its place in the queue. */
    if (p.qty == o->qty) return;
    book_reduce(&m->book, p.order, o->qty - p.qty);
    o->qty = p.qty;
    if (engine_hold_adjust(e, held_account(o), p.hold_delta))
      engine_fatal("amend: release refused");
    o->hold += p.hold_delta;
    engine_emit_order(e, o, o->status, ENGINE_EVENT_F_REPLY);
    return;
  }
  uint8_t prev = o->status;
  book_erase(&m->book, p.order);
  if (engine_hold_adjust(e, held_account(o), p.hold_delta))
    engine_fatal("amend: checked hold refused");
  o->hold += p.hold_delta;
  o->price = p.price;
  o->qty = p.qty;
  match_end end = match_taker(e, m, p.order);
  finish_taker(e, m, p.order, prev, ENGINE_EVENT_F_REPLY, end);
  run_stops(e, m);
}
