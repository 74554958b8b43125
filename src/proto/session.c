/*
 * session.c: what the dialects of one io thread share: requests waiting for
 * the engine (proto_pending, keyed by the command's tag), each user's
 * authenticated sessions on this thread, and the drain of the engine's event
 * ring: replies to requests, and @order/@trade/@balance pushes to every
 * subscribed session of the user an event concerns.
 *
 * Runs on the io threads; proto_shared_init/free on main.
 */
#include "proto_internal.h"

#include "bourse/decimal.h"
#include "bourse/engine_json.h"
#include "bourse/log.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROTO_PENDING_PER_THREAD 65536

/* ---- rendering ----------------------------------------------------------------- */

void proto_write_id(json_writer *w, const proto_id *id) {
  if (id->kind == PROTO_ID_NONE) return;
  JSON_WRITE_KEY(w, "id");
  if (id->kind == PROTO_ID_INT)
    json_write_int64(w, id->number);
  else
    json_write_string(w, id->text, id->len);
}

static void write_decimal_text(json_writer *w, const char *text, size_t len) {
  json_write_string(w, text, len);
}

/* Average fill price, rounded down to the quote asset's decimals. */
static void write_avg_price(json_writer *w, const config *cfg, const config_market *m,
                            const engine_order_info *o) {
  const config_asset *base = &cfg->assets[m->base], *quote = &cfg->assets[m->quote];
  /* quote units per whole base = filled_quote x 10^base_decimals / (filled x lot_units) */
  __int128 numerator = (__int128)o->filled_quote * decimal_pow10(base->decimals);
  __int128 denominator = (__int128)o->filled * m->lot_units;
  int64_t units = denominator > 0 ? (int64_t)(numerator / denominator) : 0;
  char buf[ENGINE_JSON_DECIMAL_MAX];
  write_decimal_text(w, buf, engine_json_amount(quote, units, buf));
}

void proto_write_order(json_writer *w, const config *cfg, uint32_t market,
                       const engine_order_info *o, int64_t updated_ms) {
  const config_market *m = &cfg->markets[market];
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "order_id");
  int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->order_id);
  json_write_string(w, buf, (size_t)n);
  if (o->client_id[0]) {
    JSON_WRITE_KEY(w, "client_id");
    json_write_string(w, o->client_id, strlen(o->client_id));
  }
  JSON_WRITE_KEY(w, "market");
  json_write_string(w, m->name, strlen(m->name));
  JSON_WRITE_KEY(w, "side");
  json_write_string(w, engine_side_name(o->side), strlen(engine_side_name(o->side)));
  JSON_WRITE_KEY(w, "type");
  json_write_string(w, engine_type_name(o->order_type), strlen(engine_type_name(o->order_type)));
  if (o->price) {
    JSON_WRITE_KEY(w, "price");
    write_decimal_text(w, buf, engine_json_price(m, o->price, buf));
  }
  if (o->stop) {
    JSON_WRITE_KEY(w, "stop");
    write_decimal_text(w, buf, engine_json_price(m, o->stop, buf));
  }
  if (o->qty) {
    JSON_WRITE_KEY(w, "qty");
    write_decimal_text(w, buf, engine_json_qty(m, o->qty, buf));
  }
  if (o->quote_qty) {
    JSON_WRITE_KEY(w, "quote_qty");
    write_decimal_text(w, buf, engine_json_amount(&cfg->assets[m->quote], o->quote_qty, buf));
  }
  JSON_WRITE_KEY(w, "filled");
  write_decimal_text(w, buf, engine_json_qty(m, o->filled, buf));
  if (o->filled > 0) {
    JSON_WRITE_KEY(w, "avg_price");
    write_avg_price(w, cfg, m, o);
  }
  JSON_WRITE_KEY(w, "status");
  json_write_string(w, engine_status_name(o->status), strlen(engine_status_name(o->status)));
  JSON_WRITE_KEY(w, "tif");
  json_write_string(w, engine_tif_name(o->tif), strlen(engine_tif_name(o->tif)));
  JSON_WRITE_KEY(w, "post_only");
  json_write_bool(w, o->post_only);
  JSON_WRITE_KEY(w, "stp");
  json_write_string(w, engine_stp_name(o->stp), strlen(engine_stp_name(o->stp)));
  JSON_WRITE_KEY(w, "created");
  json_write_int64(w, o->created_ms);
  JSON_WRITE_KEY(w, "updated");
  json_write_int64(w, updated_ms);
  json_write_object_end(w);
}

static void write_balance(json_writer *w, const config_asset *a, int64_t available, int64_t hold) {
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "available");
  write_decimal_text(w, buf, engine_json_amount(a, available, buf));
  JSON_WRITE_KEY(w, "hold");
  write_decimal_text(w, buf, engine_json_amount(a, hold, buf));
  json_write_object_end(w);
}

const char *proto_code_text(int code) {
  switch (code) {
  case 1003:
    return "missing or invalid field";
  case 4001:
    return "unknown market";
  case 4002:
    return "bad price: must be a positive multiple of the market's tick (or a stop "
           "needs a last trade price, or the price is outside the band)";
  case 4003:
    return "bad quantity: must be a positive multiple of the market's lot, and price x "
           "qty at least the market's min_notional";
  case 4004:
    return "insufficient balance";
  case 4005:
    return "post-only order would cross the book";
  case 4006:
    return "unknown order (not open, not yours, or another market)";
  case 4007:
    return "fill-or-kill order cannot be filled completely";
  case 4008:
    return "market halted";
  case 4009:
    return "duplicate client_id among your open orders";
  case 5001:
    return "limit reached: too many open orders";
  case 9001:
    return "engine capacity exhausted; try again later";
  default:
    return "request failed";
  }
}

void proto_send_error(net_conn *c, const proto_id *id, int code, const char *msg) {
  json_writer w;
  json_writer_init(&w, net_scratch(c), NET_SCRATCH_BYTES);
  json_write_object_begin(&w);
  proto_write_id(&w, id);
  JSON_WRITE_KEY(&w, "code");
  json_write_int64(&w, code);
  JSON_WRITE_KEY(&w, "msg");
  json_write_string(&w, msg, strlen(msg));
  json_write_object_end(&w);
  size_t len;
  if (json_writer_finish(&w, &len) == JSON_OK) net_send_text(c, w.buf, len);
}

/* ---- pending requests ---------------------------------------------------------- */

uint64_t proto_pending_start(proto_thread *pt, net_conn *c, uint8_t op, const proto_id *id,
                             uint32_t asset) {
  if (pt->free_pending == UINT32_MAX) return 0;
  uint32_t slot = pt->free_pending;
  proto_pending *p = &pt->pending[slot];
  pt->free_pending = p->next_free;
  uint32_t sequence = (p->sequence + 1) & 0xffffff;
  memset(p, 0, sizeof(*p));
  p->sequence = sequence;
  p->op = op;
  p->conn_id = net_conn_id(c);
  p->id = *id;
  p->asset = asset;
  return ENGINE_HOST_TAG(pt->io, (uint64_t)sequence << 32 | slot);
}

static proto_pending *pending_of(proto_thread *pt, uint64_t tag) {
  uint32_t slot = (uint32_t)tag;
  if (ENGINE_HOST_TAG_IO(tag) != pt->io || slot >= pt->pending_capacity) return NULL;
  proto_pending *p = &pt->pending[slot];
  return p->op && p->sequence == ((tag >> 32) & 0xffffff) ? p : NULL;
}

void proto_pending_set_publication(proto_thread *pt, uint64_t tag, proto_publication *pub,
                                   unsigned delivered) {
  proto_pending *p = pending_of(pt, tag);
  if (!p) return;
  p->publication = pub;
  p->delivered = delivered;
}

static void pending_free(proto_thread *pt, proto_pending *p) {
  free(p->publication); /* publish: every io thread has acknowledged */
  p->publication = NULL;
  p->op = 0;
  p->next_free = pt->free_pending;
  pt->free_pending = (uint32_t)(p - pt->pending);
}

void proto_pending_abort(proto_thread *pt, uint64_t tag) {
  proto_pending *p = pending_of(pt, tag);
  if (p) pending_free(pt, p);
}

/*
 * Hands a command to the engine. False when its ring is full (the caller
 * answers 9002 busy): an io thread never blocks on the engine.
 */
bool proto_submit(proto_thread *pt, const engine_cmd *cmd) {
  if (ring_reserve(pt->commands, 1) == 0) return false;
  memcpy(ring_write_slot(pt->commands, 0), cmd, sizeof(*cmd));
  ring_commit(pt->commands, 1);
  ring_waiter_notify(pt->engine_waiter);
  return true;
}

/* Session announcements must not be lost: wait for room (the engine drains fast). */
static void submit_control(proto_thread *pt, uint8_t type, uint64_t uid) {
  engine_cmd cmd = {.type = type, .uid = uid};
  while (!proto_submit(pt, &cmd)) sched_yield();
}

/* ---- sessions ------------------------------------------------------------------ */

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static proto_user *user_slot(proto_thread *pt, uint64_t uid, bool create) {
  for (uint64_t i = mix(uid) & pt->user_mask;; i = (i + 1) & pt->user_mask) {
    proto_user *u = &pt->users[i];
    if (u->uid == uid) return u;
    if (u->uid == 0) {
      if (!create || pt->user_count + 1 > (pt->user_mask + 1) / 2) return NULL;
      *u = (proto_user){.uid = uid};
      pt->user_count++;
      return u;
    }
  }
}

static void user_remove(proto_thread *pt, proto_user *u) {
  uint64_t hole = (uint64_t)(u - pt->users);
  for (uint64_t i = (hole + 1) & pt->user_mask; pt->users[i].uid; i = (i + 1) & pt->user_mask) {
    uint64_t home = mix(pt->users[i].uid) & pt->user_mask;
    bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      pt->users[hole] = pt->users[i];
      hole = i;
    }
  }
  pt->users[hole].uid = 0;
  pt->user_count--;
}

void proto_session_add(proto_thread *pt, net_conn *c, uint64_t uid) {
  proto_conn *pc = net_conn_state(c);
  proto_user *u = user_slot(pt, uid, true);
  pc->uid = uid;
  if (!u) {
    log_error("io-%u: session table full; uid %llu gets no private pushes", pt->io,
              (unsigned long long)uid);
    return;
  }
  pc->prev_conn = 0;
  pc->next_conn = u->head_conn;
  if (u->head_conn) {
    net_conn *head = net_thread_conn(pt->net, u->head_conn);
    if (head) ((proto_conn *)net_conn_state(head))->prev_conn = net_conn_id(c);
  }
  u->head_conn = net_conn_id(c);
  if (u->count++ == 0) submit_control(pt, ENGINE_HOST_CMD_SESSION_OPEN, uid);
}

void proto_session_remove(proto_thread *pt, net_conn *c) {
  proto_conn *pc = net_conn_state(c);
  if (pc->uid == 0) return;
  proto_user *u = user_slot(pt, pc->uid, false);
  if (u) {
    net_conn *prev = pc->prev_conn ? net_thread_conn(pt->net, pc->prev_conn) : NULL;
    net_conn *next = pc->next_conn ? net_thread_conn(pt->net, pc->next_conn) : NULL;
    if (prev)
      ((proto_conn *)net_conn_state(prev))->next_conn = pc->next_conn;
    else
      u->head_conn = pc->next_conn;
    if (next) ((proto_conn *)net_conn_state(next))->prev_conn = pc->prev_conn;
    if (--u->count == 0) {
      uint64_t uid = u->uid;
      user_remove(pt, u);
      submit_control(pt, ENGINE_HOST_CMD_SESSION_CLOSE, uid);
    }
  }
  pc->uid = 0;
}

/* ---- pushes -------------------------------------------------------------------- */

/* Sends text to every session of uid on this thread subscribed to `sub`; returns how many. */
static unsigned push_to_user(proto_thread *pt, uint64_t uid, uint16_t sub, const char *text,
                             size_t len) {
  unsigned sent = 0;
  proto_user *u = user_slot(pt, uid, false);
  if (!u) return 0;
  for (uint64_t id = u->head_conn; id;) {
    net_conn *c = net_thread_conn(pt->net, id);
    if (!c) break;
    proto_conn *pc = net_conn_state(c);
    if ((pc->subscriptions & sub) && net_send_text(c, text, len) == 0) sent++;
    id = pc->next_conn;
  }
  return sent;
}

unsigned proto_publication_deliver(proto_thread *pt, const proto_publication *pub) {
  return push_to_user(pt, pub->uid, pub->subscription, pub->text, pub->len);
}

/* A publication forwarded by the engine from another io thread. */
static void deliver_forwarded(proto_thread *pt, const engine_event *ev) {
  proto_publication *pub = (proto_publication *)(uintptr_t)ev->u.ack.order_id;
  engine_cmd ack = {.type = ENGINE_HOST_CMD_PUBLISH_ACK, .uid = pub->uid, .tag = ev->tag};
  ack.amount = proto_publication_deliver(pt, pub); /* pub may be freed once acked */
  while (!proto_submit(pt, &ack)) sched_yield();   /* the origin waits for every ack */
}

static bool user_wants(proto_thread *pt, uint64_t uid, uint16_t sub) {
  proto_user *u = user_slot(pt, uid, false);
  if (!u) return false;
  for (uint64_t id = u->head_conn; id;) {
    net_conn *c = net_thread_conn(pt->net, id);
    if (!c) return false;
    proto_conn *pc = net_conn_state(c);
    if (pc->subscriptions & sub) return true;
    id = pc->next_conn;
  }
  return false;
}

static void push_begin(json_writer *w, proto_thread *pt, const char *channel, int64_t ts) {
  json_writer_init(w, pt->render, PROTO_RENDER_BYTES);
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "event");
  json_write_string(w, channel, strlen(channel));
  JSON_WRITE_KEY(w, "ts");
  json_write_int64(w, ts);
  JSON_WRITE_KEY(w, "data");
}

static void push_end(proto_thread *pt, json_writer *w, uint64_t uid, uint16_t sub) {
  json_write_object_end(w);
  size_t len;
  if (json_writer_finish(w, &len) == JSON_OK) push_to_user(pt, uid, sub, w->buf, len);
}

static void push_order(proto_thread *pt, const engine_event *ev) {
  if (!user_wants(pt, ev->uid, PROTO_SUB_ORDER)) return;
  json_writer w;
  push_begin(&w, pt, "@order", ev->ts_ms);
  proto_write_order(&w, pt->cfg, ev->market, &ev->u.order, ev->ts_ms);
  push_end(pt, &w, ev->uid, PROTO_SUB_ORDER);
}

/* One side's view of a fill: its order, side, fee and liquidity. */
static void push_trade_side(proto_thread *pt, const engine_event *ev, bool maker) {
  const engine_trade_info *t = &ev->u.trade;
  uint64_t uid = maker ? t->maker_uid : ev->uid;
  if (!user_wants(pt, uid, PROTO_SUB_TRADE)) return;
  const config_market *m = &pt->cfg->markets[ev->market];
  bool buy = maker ? t->taker_side == ENGINE_SIDE_SELL : t->taker_side == ENGINE_SIDE_BUY;
  const config_asset *fee_asset = &pt->cfg->assets[buy ? m->base : m->quote];
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_writer w;
  push_begin(&w, pt, "@trade", ev->ts_ms);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "id");
  json_write_uint64(&w, t->trade_id);
  JSON_WRITE_KEY(&w, "order_id");
  int n = snprintf(buf, sizeof(buf), "%llu",
                   (unsigned long long)(maker ? t->maker_order : t->taker_order));
  json_write_string(&w, buf, (size_t)n);
  const char *client_id = maker ? t->maker_client_id : t->taker_client_id;
  if (client_id[0]) {
    JSON_WRITE_KEY(&w, "client_id");
    json_write_string(&w, client_id, strlen(client_id));
  }
  JSON_WRITE_KEY(&w, "market");
  json_write_string(&w, m->name, strlen(m->name));
  JSON_WRITE_KEY(&w, "side");
  json_write_string(&w, buy ? "buy" : "sell", buy ? 3 : 4);
  JSON_WRITE_KEY(&w, "price");
  json_write_string(&w, buf, engine_json_price(m, t->price, buf));
  JSON_WRITE_KEY(&w, "qty");
  json_write_string(&w, buf, engine_json_qty(m, t->qty, buf));
  JSON_WRITE_KEY(&w, "fee");
  json_write_string(&w, buf,
                    engine_json_amount(fee_asset, maker ? t->maker_fee : t->taker_fee, buf));
  JSON_WRITE_KEY(&w, "fee_asset");
  json_write_string(&w, fee_asset->name, strlen(fee_asset->name));
  JSON_WRITE_KEY(&w, "liquidity");
  json_write_string(&w, maker ? "maker" : "taker", 5);
  JSON_WRITE_KEY(&w, "ts");
  json_write_int64(&w, ev->ts_ms);
  json_write_object_end(&w);
  push_end(pt, &w, uid, PROTO_SUB_TRADE);
}

static void push_balance(proto_thread *pt, const engine_event *ev) {
  if (!user_wants(pt, ev->uid, PROTO_SUB_BALANCE)) return;
  const config_asset *a = &pt->cfg->assets[ev->asset];
  char buf[ENGINE_JSON_DECIMAL_MAX];
  json_writer w;
  push_begin(&w, pt, "@balance", ev->ts_ms);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "asset");
  json_write_string(&w, a->name, strlen(a->name));
  JSON_WRITE_KEY(&w, "available");
  json_write_string(&w, buf, engine_json_amount(a, ev->u.balance.available, buf));
  JSON_WRITE_KEY(&w, "hold");
  json_write_string(&w, buf, engine_json_amount(a, ev->u.balance.hold, buf));
  json_write_object_end(&w);
  push_end(pt, &w, ev->uid, PROTO_SUB_BALANCE);
}

/* ---- replies ------------------------------------------------------------------- */

/* Starts the reply to a query: {"id":…,"result":[ or {. */
static void query_begin(proto_thread *pt, proto_pending *p, uint64_t tag) {
  if (pt->query_open && pt->query_tag == tag) return;
  json_writer_init(&pt->query, pt->query_buf, PROTO_QUERY_BYTES);
  json_write_object_begin(&pt->query);
  proto_write_id(&pt->query, &p->id);
  JSON_WRITE_KEY(&pt->query, "result");
  if (p->op == PROTO_OP_ORDERS)
    json_write_array_begin(&pt->query);
  else
    json_write_object_begin(&pt->query);
  pt->query_open = true;
  pt->query_tag = tag;
}

static void query_add(proto_thread *pt, proto_pending *p, const engine_event *ev) {
  query_begin(pt, p, ev->tag);
  if (ev->type == ENGINE_HOST_EVENT_QUERY_ORDER) {
    proto_write_order(&pt->query, pt->cfg, ev->market, &ev->u.order, ev->ts_ms);
  } else {
    const config_asset *a = &pt->cfg->assets[ev->asset];
    json_write_key(&pt->query, a->name, strlen(a->name));
    write_balance(&pt->query, a, ev->u.balance.available, ev->u.balance.hold);
  }
}

/* The reply text of a finished request into w (NULL query: not a query). */
static void render_reply(proto_thread *pt, proto_pending *p, json_writer *w) {
  json_write_object_begin(w);
  proto_write_id(w, &p->id);
  JSON_WRITE_KEY(w, "result");
  switch (p->op) {
  case PROTO_OP_CANCEL_ALL:
    json_write_object_begin(w);
    JSON_WRITE_KEY(w, "cancelled");
    json_write_int64(w, p->cancelled);
    json_write_object_end(w);
    break;
  case PROTO_OP_ADMIN_TRANSFER: {
    const config_asset *a = &pt->cfg->assets[p->asset];
    char buf[ENGINE_JSON_DECIMAL_MAX];
    json_write_object_begin(w);
    JSON_WRITE_KEY(w, "asset");
    json_write_string(w, a->name, strlen(a->name));
    JSON_WRITE_KEY(w, "available");
    json_write_string(w, buf, engine_json_amount(a, p->available, buf));
    JSON_WRITE_KEY(w, "hold");
    json_write_string(w, buf, engine_json_amount(a, p->hold, buf));
    json_write_object_end(w);
    break;
  }
  case PROTO_OP_ADMIN_HALT:
    json_write_bool(w, true);
    break;
  case PROTO_OP_ADMIN_PUBLISH:
    json_write_object_begin(w);
    JSON_WRITE_KEY(w, "delivered");
    json_write_int64(w, p->delivered);
    json_write_object_end(w);
    break;
  default:
    if (p->has_order)
      proto_write_order(w, pt->cfg, p->market, &p->order, p->updated_ms);
    else
      json_write_null(w);
  }
  json_write_object_end(w);
}

static bool is_http_op(uint8_t op) {
  return op >= PROTO_OP_ADMIN_TRANSFER;
}

static int http_status_of(int code) {
  return code >= 9000 ? 503 : 400;
}

static void finish(proto_thread *pt, proto_pending *p, uint64_t tag) {
  net_conn *c = net_thread_conn(pt->net, p->conn_id);
  bool query =
      p->op == PROTO_OP_ORDERS || p->op == PROTO_OP_BALANCES || p->op == PROTO_OP_ADMIN_BALANCES;
  if (query && !p->rejected) query_begin(pt, p, tag);
  if (c && p->rejected) {
    if (is_http_op(p->op))
      net_http_error_code(c, http_status_of(p->code), p->code, proto_code_text(p->code));
    else
      proto_send_error(c, &p->id, p->code, proto_code_text(p->code));
  } else if (c) {
    json_writer *w = &pt->query, local;
    if (query) {
      if (p->op == PROTO_OP_ORDERS)
        json_write_array_end(w);
      else
        json_write_object_end(w);
      json_write_object_end(w);
    } else {
      json_writer_init(&local, net_scratch(c), NET_SCRATCH_BYTES);
      w = &local;
      render_reply(pt, p, w);
    }
    size_t len;
    json_status st = json_writer_finish(w, &len);
    if (st != JSON_OK) {
      if (is_http_op(p->op))
        net_http_error(c, 500, "reply too large");
      else
        proto_send_error(c, &p->id, 9003, "reply too large: narrow the query (e.g. by market)");
    } else if (is_http_op(p->op)) {
      net_http_respond(c, 200, "application/json", w->buf, len);
    } else {
      net_send_text(c, w->buf, len);
    }
  }
  if (query) pt->query_open = false;
  pending_free(pt, p);
}

static void on_reply_event(proto_thread *pt, const engine_event *ev) {
  proto_pending *p = pending_of(pt, ev->tag);
  if (!p) return;
  switch (ev->type) {
  case ENGINE_EVENT_ACCEPTED:
    p->cancelled = ev->u.ack.cancelled;
    break;
  case ENGINE_EVENT_REJECTED:
    p->rejected = 1;
    p->code = ev->code;
    break;
  case ENGINE_EVENT_ORDER:
    if (ev->flags & ENGINE_EVENT_F_REPLY) {
      p->order = ev->u.order;
      p->market = ev->market;
      p->updated_ms = ev->ts_ms;
      p->has_order = 1;
    }
    break;
  case ENGINE_EVENT_BALANCE:
    if (p->op == PROTO_OP_ADMIN_TRANSFER && ev->asset == p->asset) {
      p->available = ev->u.balance.available;
      p->hold = ev->u.balance.hold;
      p->has_balance = 1;
    }
    break;
  case ENGINE_HOST_EVENT_QUERY_ORDER:
    if (p->op == PROTO_OP_AMEND) { /* an unchanged amend: the order as it stands */
      p->order = ev->u.order;
      p->market = ev->market;
      p->updated_ms = ev->ts_ms;
      p->has_order = 1;
      break;
    }
    query_add(pt, p, ev);
    break;
  case ENGINE_HOST_EVENT_QUERY_BALANCE:
    query_add(pt, p, ev);
    break;
  case ENGINE_HOST_EVENT_PUBLISH_ACK:
    p->delivered += ev->u.ack.cancelled;
    if (++p->acks == p->acks_expected && p->done) finish(pt, p, ev->tag);
    break;
  case ENGINE_HOST_EVENT_DONE:
    if (p->op == PROTO_OP_ADMIN_PUBLISH) {
      p->done = 1;
      p->acks_expected = (uint32_t)ev->u.ack.cancelled;
      if (p->acks < p->acks_expected) break; /* wait for the other threads' counts */
    }
    finish(pt, p, ev->tag);
    break;
  default:
    break;
  }
}

static void on_event(proto_thread *pt, const engine_event *ev) {
  if (ev->tag && ENGINE_HOST_TAG_IO(ev->tag) == pt->io) on_reply_event(pt, ev);
  switch (ev->type) {
  case ENGINE_HOST_EVENT_PUBLISH:
    deliver_forwarded(pt, ev);
    break;
  case ENGINE_EVENT_ORDER:
    push_order(pt, ev);
    break;
  case ENGINE_EVENT_TRADE:
    push_trade_side(pt, ev, false);
    push_trade_side(pt, ev, true);
    break;
  case ENGINE_EVENT_BALANCE:
    push_balance(pt, ev);
    break;
  default:
    break;
  }
}

/* ---- the io thread hooks --------------------------------------------------------- */

static unsigned thread_poll(void *ctx) {
  proto_thread *pt = ctx;
  unsigned total = 0;
  uint32_t n;
  while ((n = ring_peek(pt->events, 256)) > 0) {
    for (uint32_t i = 0; i < n; i++) on_event(pt, ring_read_slot(pt->events, i));
    ring_release(pt->events, n);
    total += n;
  }
  total += proto_market_poll(pt);
  return total;
}

static void *thread_init(void *arg, net_thread *net, unsigned io) {
  proto_shared *s = arg;
  proto_thread *pt = calloc(1, sizeof(*pt));
  if (!pt) return NULL;
  pt->shared = s;
  pt->cfg = s->cfg;
  pt->net = net;
  pt->io = io;
  pt->commands = engine_host_command_ring(s->engine, io);
  pt->events = engine_host_event_ring(s->engine, io);
  pt->engine_waiter = engine_host_waiter(s->engine);
  pt->to_broadcast = broadcast_interest_ring(s->broadcast, io);
  pt->from_broadcast = broadcast_message_ring(s->broadcast, io);
  pt->broadcast_waiter = broadcast_waiter(s->broadcast);
  pt->pending_capacity = PROTO_PENDING_PER_THREAD;
  pt->pending = calloc(pt->pending_capacity, sizeof(proto_pending));
  uint64_t users = 1024;
  while (users < 2ull * s->cfg->net_max_connections) users *= 2;
  pt->users = calloc(users, sizeof(proto_user));
  pt->user_mask = users - 1;
  pt->query_buf = malloc(PROTO_QUERY_BYTES);
  pt->render = malloc(PROTO_RENDER_BYTES);
  char why[160];
  if (!pt->pending || !pt->users || !pt->query_buf || !pt->render || proto_market_init(pt) != 0 ||
      auth_apikey_reader_open(s->keys, &pt->keys, why, sizeof(why)) != AUTH_OK) {
    log_error("io-%u: cannot set up the dialect state (out of memory or API-key store)", io);
    abort(); /* at start-up only: nothing is running yet that could be lost */
  }
  atomic_store_explicit(&s->threads[io], pt, memory_order_release); /* read by market.c */
  for (uint32_t i = 0; i < pt->pending_capacity; i++)
    pt->pending[i].next_free = i + 1 < pt->pending_capacity ? i + 1 : UINT32_MAX;
  pt->free_pending = 0;
  return pt;
}

static void thread_fini(void *ctx) {
  proto_thread *pt = ctx;
  if (!pt) return;
  auth_apikey_reader_close(pt->keys);
  proto_market_free(pt);
  free(pt->pending);
  free(pt->users);
  free(pt->query_buf);
  free(pt->render);
  free(pt);
}

net_thread_hooks proto_thread_hooks(proto_shared *s) {
  return (net_thread_hooks){
      .init = thread_init, .poll = thread_poll, .fini = thread_fini, .arg = s};
}

int proto_shared_init(proto_shared *s, const config *cfg, engine_host *host,
                      struct broadcast *market_data, char *err, size_t errlen) {
  memset(s, 0, sizeof(*s));
  s->cfg = cfg;
  s->engine = host;
  s->broadcast = market_data;
  if (auth_jwt_config_init(&s->jwt, cfg->auth_jwt_secret, cfg->auth_jwt_public_key,
                           cfg->auth_jwt_algs, cfg->auth_jwt_leeway_s, cfg->auth_jwt_issuer,
                           cfg->auth_jwt_audience, err, errlen) != 0)
    return -1;
  char dir[CONFIG_PATH_MAX + 8];
  snprintf(dir, sizeof(dir), "%s/auth", cfg->data_dir);
  if (auth_apikey_store_open(&s->keys, dir, 0, err, errlen) != AUTH_OK) {
    auth_jwt_config_free(&s->jwt);
    return -1;
  }
  return 0;
}

void proto_shared_free(proto_shared *s) {
  auth_apikey_store_close(s->keys);
  auth_jwt_config_free(&s->jwt);
}
