/*
 * engine_host.c: an engine thread, its rings and the routing of its events
 * (see include/bourse/engine_host.h). create/start/stop/destroy run on main;
 * the handler, the emit callback and the flush run on the engine thread.
 *
 * The hot path starts at host_handle: commands are read in place from the
 * command rings, events are written straight into the event rings; no
 * allocation, lock or system call except the futex/eventfd wake of an io
 * thread that is asleep (once per batch, not per event).
 */
#include "bourse/engine_host.h"

#include "bourse/feed.h"
#include "bourse/log.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* uid -> io threads holding an authenticated session of it. */
typedef struct host_session {
  uint64_t uid; /* 0 = empty */
  uint64_t io_mask;
} host_session;

struct engine_host {
  const config *cfg;
  engine *engine;
  unsigned io_count;
  ring commands[ENGINE_HOST_MAX_IO];
  ring events[ENGINE_HOST_MAX_IO];
  ring_waiter *io_waiters[ENGINE_HOST_MAX_IO];
  uint64_t io_pending; /* io threads given events since the last flush */
  ring *feed;          /* to the broadcast thread, or NULL */
  ring_waiter *feed_waiter;
  bool feed_pending;
  /* The command being processed: did it produce its own order event? */
  uint64_t accepted_order; /* order id of its ACCEPTED event, 0 = none */
  bool reply_order_seen;
  host_session *sessions;
  uint64_t session_mask;
  uint32_t session_count;
  engine_thread thread;
};

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static host_session *session_find(engine_host *h, uint64_t uid) {
  for (uint64_t i = mix(uid) & h->session_mask;; i = (i + 1) & h->session_mask) {
    if (h->sessions[i].uid == uid) return &h->sessions[i];
    if (h->sessions[i].uid == 0) return NULL;
  }
}

static uint64_t session_mask_of(engine_host *h, uint64_t uid) {
  host_session *s = uid ? session_find(h, uid) : NULL;
  return s ? s->io_mask : 0;
}

static void session_open(engine_host *h, uint64_t uid, unsigned io) {
  if (uid == 0) return;
  for (uint64_t i = mix(uid) & h->session_mask;; i = (i + 1) & h->session_mask) {
    host_session *s = &h->sessions[i];
    if (s->uid == uid) {
      s->io_mask |= 1ull << io;
      return;
    }
    if (s->uid == 0) {
      if (h->session_count + 1 > (h->session_mask + 1) / 2) {
        log_error("engine: session table full; uid %llu gets no private pushes on io-%u",
                  (unsigned long long)uid, io);
        return;
      }
      *s = (host_session){.uid = uid, .io_mask = 1ull << io};
      h->session_count++;
      return;
    }
  }
}

/* Removes by backward shift, so lookups never need tombstones. */
static void session_close(engine_host *h, uint64_t uid, unsigned io) {
  host_session *s = uid ? session_find(h, uid) : NULL;
  if (!s) return;
  s->io_mask &= ~(1ull << io);
  if (s->io_mask) return;
  uint64_t hole = (uint64_t)(s - h->sessions);
  for (uint64_t i = (hole + 1) & h->session_mask; h->sessions[i].uid;
       i = (i + 1) & h->session_mask) {
    uint64_t home = mix(h->sessions[i].uid) & h->session_mask;
    /* Move entry i into the hole unless its home lies cyclically in (hole, i]. */
    bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      h->sessions[hole] = h->sessions[i];
      hole = i;
    }
  }
  h->sessions[hole].uid = 0;
  h->session_count--;
}

/* Copies ev into io thread io's event ring, waiting for room if it is full. */
static void push(engine_host *h, unsigned io, const engine_event *ev) {
  ring *r = &h->events[io];
  while (ring_reserve(r, 1) == 0) {
    ring_waiter_notify(h->io_waiters[io]); /* it may be asleep with a full ring to drain */
    sched_yield();
  }
  memcpy(ring_write_slot(r, 0), ev, sizeof(*ev));
  ring_commit(r, 1);
  h->io_pending |= 1ull << io;
}

/* Market data: level changes and trades, in engine order, never dropped. */
static void push_feed(engine_host *h, const engine_event *ev) {
  feed_event fe;
  memset(&fe, 0, sizeof(fe));
  if (ev->type == ENGINE_EVENT_LEVEL) {
    fe.type = FEED_EVENT_LEVEL;
    fe.u.level = (feed_level){.market = ev->market,
                              .side = ev->u.level.side,
                              .price = ev->u.level.price,
                              .qty = ev->u.level.qty,
                              .update_id = ev->u.level.update_id};
  } else {
    fe.type = FEED_EVENT_TRADE;
    fe.u.trade = (feed_trade){.market = ev->market,
                              .taker_side = ev->u.trade.taker_side,
                              .trade_id = ev->u.trade.trade_id,
                              .price = ev->u.trade.price,
                              .qty = ev->u.trade.qty,
                              .quote = ev->u.trade.quote,
                              .ts_ms = ev->ts_ms};
  }
  while (ring_reserve(h->feed, 1) == 0) {
    ring_waiter_notify(h->feed_waiter);
    sched_yield();
  }
  memcpy(ring_write_slot(h->feed, 0), &fe, sizeof(fe));
  ring_commit(h->feed, 1);
  h->feed_pending = true;
}

static void route(void *ctx, const engine_event *ev) {
  engine_host *h = ctx;
  if (h->feed && (ev->type == ENGINE_EVENT_LEVEL || ev->type == ENGINE_EVENT_TRADE))
    push_feed(h, ev);
  if (ev->type == ENGINE_EVENT_LEVEL) return; /* market data only */
  if (ev->type == ENGINE_EVENT_ACCEPTED) h->accepted_order = ev->u.ack.order_id;
  if (ev->type == ENGINE_EVENT_ORDER && (ev->flags & ENGINE_EVENT_F_REPLY))
    h->reply_order_seen = true;
  uint64_t mask = session_mask_of(h, ev->uid);
  if (ev->type == ENGINE_EVENT_TRADE) mask |= session_mask_of(h, ev->u.trade.maker_uid);
  unsigned origin = ENGINE_HOST_TAG_IO(ev->tag);
  if (ev->tag && origin < h->io_count) mask |= 1ull << origin;
  while (mask) {
    unsigned io = (unsigned)__builtin_ctzll(mask);
    mask &= mask - 1;
    if (io < h->io_count) push(h, io, ev);
  }
}

static void event_for(const engine_cmd *cmd, engine_event *ev, uint8_t type) {
  memset(ev, 0, sizeof(*ev));
  ev->type = type;
  ev->cmd_type = cmd->type;
  ev->uid = cmd->uid;
  ev->tag = cmd->tag;
  ev->ts_ms = cmd->ts_ms;
  ev->market = cmd->market;
}

static void answer_orders(engine_host *h, unsigned io, const engine_cmd *cmd) {
  engine_order_info orders[64];
  uint32_t market = (cmd->flags & ENGINE_CMD_F_MARKET) ? cmd->market : ENGINE_MARKET_NONE;
  engine_event ev;
  event_for(cmd, &ev, ENGINE_HOST_EVENT_QUERY_ORDER);
  for (size_t skip = 0;;) {
    uint32_t markets[64];
    size_t n = engine_user_orders(h->engine, cmd->uid, market, skip, orders, markets, 64);
    for (size_t i = 0; i < n; i++) {
      ev.market = markets[i];
      ev.u.order = orders[i];
      push(h, io, &ev);
    }
    if (n < 64) break;
    skip += n;
  }
}

static void answer_balances(engine_host *h, unsigned io, const engine_cmd *cmd) {
  engine_event ev;
  event_for(cmd, &ev, ENGINE_HOST_EVENT_QUERY_BALANCE);
  for (unsigned asset = 0; asset < h->cfg->asset_count; asset++) {
    int64_t available, hold;
    engine_balance(h->engine, cmd->uid, asset, &available, &hold);
    if (available == 0 && hold == 0) continue;
    ev.asset = asset;
    ev.u.balance.available = available;
    ev.u.balance.hold = hold;
    push(h, io, &ev);
  }
}

/*
 * An amend that changes nothing emits no order event (nothing changed), but
 * its reply is the order: answer with the order's current state.
 */
static void answer_unchanged(engine_host *h, unsigned io, const engine_cmd *cmd) {
  engine_order_info orders[64];
  uint32_t markets[64];
  engine_event ev;
  event_for(cmd, &ev, ENGINE_HOST_EVENT_QUERY_ORDER);
  for (size_t skip = 0;;) {
    size_t n = engine_user_orders(h->engine, cmd->uid, cmd->market, skip, orders, markets, 64);
    for (size_t i = 0; i < n; i++)
      if (orders[i].order_id == h->accepted_order) {
        ev.market = markets[i];
        ev.u.order = orders[i];
        push(h, io, &ev);
        return;
      }
    if (n < 64) return;
    skip += n;
  }
}

/* Forwards a publication to the other io threads holding sessions of its user. */
static void forward_publication(engine_host *h, unsigned origin, const engine_cmd *cmd,
                                int64_t *threads) {
  uint64_t mask = session_mask_of(h, cmd->uid) & ~(1ull << origin);
  engine_event ev;
  event_for(cmd, &ev, ENGINE_HOST_EVENT_PUBLISH);
  ev.u.ack.order_id = (uint64_t)cmd->amount;
  *threads = 0;
  while (mask) {
    unsigned io = (unsigned)__builtin_ctzll(mask);
    mask &= mask - 1;
    if (io >= h->io_count) continue;
    push(h, io, &ev);
    ++*threads;
  }
}

static void host_handle(void *ctx, unsigned input, ring *in, uint32_t count) {
  engine_host *h = ctx;
  for (uint32_t i = 0; i < count; i++) {
    const engine_cmd *cmd = ring_read_slot(in, i);
    int64_t threads = 0;
    switch (cmd->type) {
    case ENGINE_HOST_CMD_SESSION_OPEN:
      session_open(h, cmd->uid, input);
      continue;
    case ENGINE_HOST_CMD_SESSION_CLOSE:
      session_close(h, cmd->uid, input);
      continue;
    case ENGINE_HOST_CMD_QUERY_ORDERS:
      answer_orders(h, input, cmd);
      break;
    case ENGINE_HOST_CMD_QUERY_BALANCES:
      answer_balances(h, input, cmd);
      break;
    case ENGINE_HOST_CMD_PUBLISH:
      forward_publication(h, input, cmd, &threads);
      break;
    case ENGINE_HOST_CMD_PUBLISH_ACK: {
      engine_event ack;
      event_for(cmd, &ack, ENGINE_HOST_EVENT_PUBLISH_ACK);
      ack.u.ack.cancelled = cmd->amount;
      if (ENGINE_HOST_TAG_IO(cmd->tag) < h->io_count) push(h, ENGINE_HOST_TAG_IO(cmd->tag), &ack);
      continue; /* not a request of its own: no DONE */
    }
    default:
      h->accepted_order = 0;
      h->reply_order_seen = false;
      engine_process(h->engine, cmd, route, h);
      if (cmd->type == ENGINE_CMD_AMEND && h->accepted_order && !h->reply_order_seen && cmd->tag)
        answer_unchanged(h, ENGINE_HOST_TAG_IO(cmd->tag), cmd);
      break;
    }
    if (cmd->tag) {
      engine_event done;
      event_for(cmd, &done, ENGINE_HOST_EVENT_DONE);
      done.u.ack.cancelled = threads;
      push(h, ENGINE_HOST_TAG_IO(cmd->tag) < h->io_count ? ENGINE_HOST_TAG_IO(cmd->tag) : input,
           &done);
    }
  }
}

static void host_flush(void *ctx) {
  engine_host *h = ctx;
  if (h->feed_pending) {
    h->feed_pending = false;
    ring_waiter_notify(h->feed_waiter);
  }
  while (h->io_pending) {
    unsigned io = (unsigned)__builtin_ctzll(h->io_pending);
    h->io_pending &= h->io_pending - 1;
    ring_waiter_notify(h->io_waiters[io]);
  }
}

engine_host *engine_host_create(const config *cfg, unsigned io_count, uint32_t ring_slots,
                                char *err, size_t errlen) {
  if (io_count == 0 || io_count > ENGINE_HOST_MAX_IO) {
    snprintf(err, errlen, "engine host: 1..%d io threads", ENGINE_HOST_MAX_IO);
    return NULL;
  }
  engine_host *h = calloc(1, sizeof(*h));
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->cfg = cfg;
  h->io_count = io_count;
  engine_limits limits = {.max_open_orders_per_user = cfg->limits_max_open_orders};
  h->engine = engine_create(cfg, &limits, err, errlen);
  uint64_t capacity = 1024;
  while (capacity < 2ull * io_count * cfg->net_max_connections) capacity *= 2;
  h->sessions = calloc(capacity, sizeof(host_session));
  h->session_mask = capacity - 1;
  bool ok = h->engine && h->sessions;
  for (unsigned i = 0; ok && i < io_count; i++)
    ok = ring_init(&h->commands[i], ring_slots, sizeof(engine_cmd)) == 0 &&
         ring_init(&h->events[i], ring_slots, sizeof(engine_event)) == 0;
  if (!ok) {
    if (h->engine) snprintf(err, errlen, "out of memory for the engine's rings and tables");
    engine_host_destroy(h);
    return NULL;
  }
  engine_thread_init(&h->thread, 0, cfg->engine_spin_us, host_handle, host_flush, h);
  for (unsigned i = 0; i < io_count; i++) engine_thread_add_input(&h->thread, &h->commands[i]);
  return h;
}

void engine_host_set_feed(engine_host *h, ring *feed_ring, ring_waiter *w) {
  h->feed = feed_ring;
  h->feed_waiter = w;
  engine_set_level_events(h->engine, true);
}

void engine_host_set_io_waiter(engine_host *h, unsigned io, ring_waiter *w) {
  h->io_waiters[io] = w;
}

ring *engine_host_command_ring(engine_host *h, unsigned io) {
  return &h->commands[io];
}

ring_waiter *engine_host_waiter(engine_host *h) {
  return &h->thread.waiter;
}

ring *engine_host_event_ring(engine_host *h, unsigned io) {
  return &h->events[io];
}

int engine_host_start(engine_host *h, int cpu) {
  return engine_thread_start(&h->thread, cpu);
}

void engine_host_stop(engine_host *h) {
  engine_thread_stop(&h->thread);
}

void engine_host_destroy(engine_host *h) {
  if (!h) return;
  for (unsigned i = 0; i < h->io_count; i++) {
    ring_destroy(&h->commands[i]);
    ring_destroy(&h->events[i]);
  }
  free(h->sessions);
  engine_destroy(h->engine);
  free(h);
}

const engine *engine_host_engine(const engine_host *h) {
  return h->engine;
}
