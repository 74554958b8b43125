/*
 * hold.c: the hold stage: validating commands against the rules and the
 * user's funds, and locking what an order needs (see engine_internal.h).
 * Thread role: engine thread only.
 */
#include <string.h>

#include "engine_internal.h"

bool engine_cid_valid(const engine_cmd *cmd) {
  const char *end = memchr(cmd->client_id, '\0', sizeof cmd->client_id);
  return end != NULL && end != cmd->client_id;
}

bool engine_price_in_band(const engine_market *m, int64_t price) {
  if (m->band_pct == 0 || !m->has_last) return true;
  __int128 scaled = (__int128)price * 100;
  __int128 low = (__int128)m->last_price * (100 - (__int128)m->band_pct);
  __int128 high = (__int128)m->last_price * (100 + (__int128)m->band_pct);
  return scaled >= low && scaled <= high;
}

static bool is_limit_type(uint8_t type) {
  return type == ENGINE_TYPE_LIMIT || type == ENGINE_TYPE_STOP_LIMIT;
}

static bool is_stop_type(uint8_t type) {
  return type == ENGINE_TYPE_STOP_LIMIT || type == ENGINE_TYPE_STOP_MARKET;
}

/* The 1003 checks of a place after the market: enums, combinations, required fields. */
static int check_place_fields(const engine_cmd *c) {
  if (c->side > ENGINE_SIDE_SELL || c->order_type > ENGINE_TYPE_STOP_MARKET ||
      c->stp > ENGINE_STP_CANCEL_BOTH || c->post_only > 1)
    return ENGINE_CODE_INVALID_FIELD;
  bool limit = is_limit_type(c->order_type);
  if (limit && c->tif > ENGINE_TIF_FOK) return ENGINE_CODE_INVALID_FIELD;
  if (c->post_only && (!limit || c->tif != ENGINE_TIF_GTC)) return ENGINE_CODE_INVALID_FIELD;
  if ((c->flags & ENGINE_CMD_F_CLIENT_ID) && !engine_cid_valid(c)) return ENGINE_CODE_INVALID_FIELD;
  bool has_qty = c->flags & ENGINE_CMD_F_QTY, has_quote = c->flags & ENGINE_CMD_F_QUOTE_QTY;
  if (limit) {
    if (!(c->flags & ENGINE_CMD_F_PRICE) || !has_qty || has_quote) return ENGINE_CODE_INVALID_FIELD;
  } else if (c->side == ENGINE_SIDE_BUY) {
    if (has_qty == has_quote) return ENGINE_CODE_INVALID_FIELD;
  } else if (!has_qty || has_quote) {
    return ENGINE_CODE_INVALID_FIELD;
  }
  if (is_stop_type(c->order_type) && !(c->flags & ENGINE_CMD_F_STOP))
    return ENGINE_CODE_INVALID_FIELD;
  return ENGINE_OK;
}

/* 4002 / 4003 checks of a place, in RULES.md order. */
static int check_place_values(const engine_market *m, const engine_cmd *c) {
  bool limit = is_limit_type(c->order_type);
  if (limit && (c->price <= 0 || !engine_price_in_band(m, c->price))) return ENGINE_CODE_BAD_PRICE;
  if (is_stop_type(c->order_type) && (c->stop <= 0 || !m->has_last)) return ENGINE_CODE_BAD_PRICE;
  if (c->flags & ENGINE_CMD_F_QTY ? c->qty <= 0 : c->quote_qty <= 0) return ENGINE_CODE_BAD_QTY;
  int64_t notional;
  /* An overflowing notional is certainly above min_notional; 4004 catches it below. */
  if (limit && m->min_notional > 0 && engine_notional(m, c->price, c->qty, &notional) &&
      notional < m->min_notional)
    return ENGINE_CODE_BAD_QTY;
  return ENGINE_OK;
}

/*
 * What a place locks: *asset and *amount, or 4004 when the amount cannot be
 * represented (no one can hold it). A market buy by qty locks all available
 * quote (decided here, *all set); a stop_market buy by qty locks nothing yet.
 */
static int hold_needed(const engine_market *m, const engine_cmd *c, unsigned *asset,
                       int64_t *amount, bool *all) {
  *all = false;
  if (c->side == ENGINE_SIDE_SELL) {
    *asset = m->base;
    return __builtin_mul_overflow(c->qty, m->lot_units, amount) ? ENGINE_CODE_INSUFFICIENT_BALANCE
                                                                : ENGINE_OK;
  }
  *asset = m->quote;
  if (is_limit_type(c->order_type))
    return engine_notional(m, c->price, c->qty, amount) ? ENGINE_OK
                                                        : ENGINE_CODE_INSUFFICIENT_BALANCE;
  if (c->flags & ENGINE_CMD_F_QUOTE_QTY) {
    *amount = c->quote_qty;
    return ENGINE_OK;
  }
  *amount = 0;
  *all = c->order_type == ENGINE_TYPE_MARKET;
  return ENGINE_OK;
}

int engine_hold_place(engine *e, const engine_cmd *c, engine_hold_msg *out) {
  if (c->uid == 0) return ENGINE_CODE_INVALID_FIELD;
  if (c->market >= e->market_count) return ENGINE_CODE_UNKNOWN_MARKET;
  const engine_market *m = &e->markets[c->market];
  int code = check_place_fields(c);
  if (code) return code;
  if (m->halted) return ENGINE_CODE_MARKET_HALTED;
  code = check_place_values(m, c);
  if (code) return code;
  if ((c->flags & ENGINE_CMD_F_CLIENT_ID) && engine_cid_find(e, c->uid, c->client_id))
    return ENGINE_CODE_DUPLICATE_CLIENT_ID;
  uint32_t user = engine_user_find(e, c->uid);
  engine_user *u = user == UINT32_MAX ? NULL : &e->users[user];
  if (e->max_open_per_user && u && u->open >= e->max_open_per_user) return ENGINE_CODE_LIMIT;

  unsigned asset;
  int64_t amount;
  bool all;
  code = hold_needed(m, c, &asset, &amount, &all);
  if (code) return code;
  bool cached = u && u->cached_market == c->market + 1;
  uint32_t other = ACCOUNTS_NONE;
  /* Look before creating: a rejected order leaves no empty entries behind. */
  uint32_t held = cached ? (asset == m->base ? u->acct_base : u->acct_quote)
                         : accounts_find(&e->accounts, c->uid, asset);
  int64_t available = held == ACCOUNTS_NONE ? 0 : accounts_at(&e->accounts, held)->available;
  if (all) {
    if (available == 0) return ENGINE_CODE_INSUFFICIENT_BALANCE;
    amount = available;
  }
  if (amount > available) return ENGINE_CODE_INSUFFICIENT_BALANCE;
  if (cached) {
    other = asset == m->base ? u->acct_quote : u->acct_base;
  } else {
    /* Both entries exist from here on, so settling a fill never needs a new one. */
    if (held == ACCOUNTS_NONE) held = accounts_get(&e->accounts, c->uid, asset);
    other = accounts_get(&e->accounts, c->uid, asset == m->base ? m->quote : m->base);
    if (held == ACCOUNTS_NONE || other == ACCOUNTS_NONE) return ENGINE_CODE_CAPACITY;
  }
  if (accounts_hold(&e->accounts, held, amount)) engine_fatal("hold: checked amount refused");
  out->cmd = *c;
  out->hold_asset = asset;
  out->acct_base = asset == m->base ? held : other;
  out->acct_quote = asset == m->base ? other : held;
  out->user = user;
  out->hold = amount;
  if (u) {
    u->cached_market = c->market + 1;
    u->acct_base = out->acct_base;
    u->acct_quote = out->acct_quote;
  }
  return ENGINE_OK;
}

int engine_hold_adjust(engine *e, uint32_t index, int64_t delta) {
  if (delta == 0) return ENGINE_OK;
  if (delta > 0)
    return accounts_hold(&e->accounts, index, delta) ? ENGINE_CODE_INSUFFICIENT_BALANCE : ENGINE_OK;
  if (accounts_release(&e->accounts, index, -delta)) engine_fatal("hold: release above hold");
  return ENGINE_OK;
}

int64_t engine_hold_all(engine *e, uint32_t index) {
  int64_t amount = accounts_at(&e->accounts, index)->available;
  if (accounts_hold(&e->accounts, index, amount)) engine_fatal("hold: available refused");
  return amount;
}

/* The checks deposit and withdraw share; returns the entry index through *index. */
static int check_transfer(engine *e, const engine_cmd *c, bool create, uint32_t *index) {
  if (c->uid == 0 || c->asset >= e->asset_count || c->amount <= 0) return ENGINE_CODE_INVALID_FIELD;
  *index = create ? accounts_get(&e->accounts, c->uid, c->asset)
                  : accounts_find(&e->accounts, c->uid, c->asset);
  if (*index == ACCOUNTS_NONE)
    return create ? ENGINE_CODE_CAPACITY : ENGINE_CODE_INSUFFICIENT_BALANCE;
  return ENGINE_OK;
}

void engine_hold_deposit(engine *e, const engine_cmd *c) {
  uint32_t index;
  int code = check_transfer(e, c, true, &index);
  /* Net deposits past INT64_MAX would make balances unrepresentable: the amount is invalid. */
  if (!code && accounts_deposit(&e->accounts, index, c->amount)) code = ENGINE_CODE_INVALID_FIELD;
  if (code) {
    engine_emit_rejected(e, ENGINE_MARKET_NONE, code);
    return;
  }
  engine_emit_accepted(e, ENGINE_MARKET_NONE, 0, 0);
}

void engine_hold_withdraw(engine *e, const engine_cmd *c) {
  uint32_t index;
  int code = check_transfer(e, c, false, &index);
  if (!code && accounts_withdraw(&e->accounts, index, c->amount))
    code = ENGINE_CODE_INSUFFICIENT_BALANCE;
  if (code) {
    engine_emit_rejected(e, ENGINE_MARKET_NONE, code);
    return;
  }
  engine_emit_accepted(e, ENGINE_MARKET_NONE, 0, 0);
}
