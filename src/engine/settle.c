/*
 * settle.c: the settle stage: moving the funds of each fill between the two
 * users, charging fees to the fee account, and releasing funds orders no
 * longer need. Thread role: engine thread only.
 */
#include <string.h>

#include "engine_internal.h"

/* True if uid holds enough of the discount asset for the fee discount, right now. */
static bool discounted(const engine *e, uint64_t uid) {
  if (e->discount_asset < 0 || e->discount_pct == 0) return false;
  uint32_t index = accounts_find(&e->accounts, uid, (unsigned)e->discount_asset);
  if (index == ACCOUNTS_NONE) return e->discount_min <= 0;
  const account *a = accounts_at(&e->accounts, index);
  return (__int128)a->available + a->hold >= e->discount_min;
}

/* floor(received x rate / 1e6), or with the discount floor(received x rate x (100 - pct) / 1e8). */
static int64_t fee_for(const engine *e, int64_t received, int32_t rate, bool discount) {
  if (rate <= 0 || received <= 0) return 0;
  int64_t scaled;
  if (discount)
    return (int64_t)(((__int128)received * rate * (100 - (int)e->discount_pct)) / 100000000);
  /* The 128-bit division is a library call; most products fit in 64 bits. */
  if (!__builtin_mul_overflow(received, (int64_t)rate, &scaled)) return scaled / 1000000;
  return (int64_t)(((__int128)received * rate) / 1000000);
}

static void must(int rc, const char *what) {
  if (rc) engine_fatal(what);
}

static void emit_trade(engine *e, const engine_fill_msg *f, int64_t maker_fee, int64_t taker_fee) {
  const engine_cmd *c = e->cmd;
  engine_event ev;
  ev.type = ENGINE_EVENT_TRADE;
  ev.cmd_type = c->type;
  ev.flags = 0;
  ev.code = 0;
  ev.market = f->market;
  ev.asset = 0;
  ev.uid = f->taker_uid;
  ev.tag = c->tag;
  ev.ts_ms = c->ts_ms;
  engine_trade_info *t = &ev.u.trade;
  t->trade_id = f->trade_id;
  t->price = f->price;
  t->qty = f->qty;
  t->quote = f->quote;
  t->maker_order = f->maker_order;
  t->taker_order = f->taker_order;
  t->maker_uid = f->maker_uid;
  t->maker_fee = maker_fee;
  t->taker_fee = taker_fee;
  t->taker_side = f->taker_side;
  memcpy(t->maker_client_id, f->maker_client_id, sizeof t->maker_client_id);
  memcpy(t->taker_client_id, f->taker_client_id, sizeof t->taker_client_id);
  e->emit(e->emit_ctx, &ev);
}

void engine_settle_fill(engine *e, const engine_fill_msg *f) {
  const engine_market *m = &e->markets[f->market];
  accounts *a = &e->accounts;
  bool taker_buys = f->taker_side == ENGINE_SIDE_BUY;
  uint64_t buyer = taker_buys ? f->taker_uid : f->maker_uid;
  uint64_t seller = taker_buys ? f->maker_uid : f->taker_uid;
  /* Eligibility is looked at just before the fill moves anything. */
  bool buyer_discount = discounted(e, buyer), seller_discount = discounted(e, seller);
  int32_t buyer_rate = taker_buys ? m->taker_fee : m->maker_fee;
  int32_t seller_rate = taker_buys ? m->maker_fee : m->taker_fee;
  int64_t buyer_fee = fee_for(e, f->base, buyer_rate, buyer_discount);
  int64_t seller_fee = fee_for(e, f->quote, seller_rate, seller_discount);

  uint32_t buyer_quote = taker_buys ? f->taker_quote : f->maker_quote;
  uint32_t buyer_base = taker_buys ? f->taker_base : f->maker_base;
  uint32_t seller_base = taker_buys ? f->maker_base : f->taker_base;
  uint32_t seller_quote = taker_buys ? f->maker_quote : f->taker_quote;
  int64_t buyer_paid;
  must(__builtin_add_overflow(f->quote, f->buyer_release, &buyer_paid), "settle: buyer overflow");
  must(accounts_take_hold(a, buyer_quote, buyer_paid), "settle: buyer hold short");
  must(accounts_credit(a, buyer_quote, f->buyer_release), "settle: buyer refund overflow");
  must(accounts_take_hold(a, seller_base, f->base), "settle: seller hold short");
  must(accounts_credit(a, buyer_base, f->base - buyer_fee), "settle: buyer credit overflow");
  must(accounts_credit(a, seller_quote, f->quote - seller_fee), "settle: seller credit overflow");
  if (buyer_fee) must(accounts_credit(a, e->fee_accounts[m->base], buyer_fee), "settle: fee");
  if (seller_fee) must(accounts_credit(a, e->fee_accounts[m->quote], seller_fee), "settle: fee");
  emit_trade(e, f, taker_buys ? seller_fee : buyer_fee, taker_buys ? buyer_fee : seller_fee);
}

void engine_settle_release(engine *e, const engine_release_msg *r) {
  if (r->amount == 0) return;
  must(accounts_release(&e->accounts, r->account, r->amount), "settle: release above hold");
}
