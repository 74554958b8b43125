/*
 * broadcast.c: the broadcast thread (see include/bourse/broadcast.h). The
 * feed state machines are in feed*.c; this file moves events in and frames
 * out. create/start/stop/destroy run on main; everything else on the
 * broadcast thread, except broadcast_book_get (any thread, lock-free).
 *
 * Hot path: broadcast_run's drain and publish. Each message is written once
 * into a scratch buffer and copied once into its shared frame (one malloc per
 * message per tick, not per subscriber); no lock; one futex/eventfd wake per
 * io thread per tick at most.
 */
#include "bourse/broadcast.h"

#include "bourse/clock.h"
#include "bourse/log.h"
#include "bourse/thread.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BROADCAST_SCRATCH  (8u << 20)
#define BROADCAST_RETIRED  4096
#define BROADCAST_GRACE_MS 1000

struct retired {
  void *blob;
  int64_t free_after_ms;
};

/* What is published per market, for REST. */
enum { PUB_BOOK, PUB_TRADES, PUB_TICKER, PUB_KLINES, PUB_KINDS = PUB_KLINES + FEED_KLINE_COUNT };

/* Per market: history the feed itself does not keep. */
struct history {
  feed_trade trades[BROADCAST_RECENT_TRADES]; /* ring */
  uint32_t trade_head, trade_count;
  feed_candle closed[FEED_KLINE_COUNT][BROADCAST_KLINE_HISTORY]; /* rings */
  uint32_t closed_head[FEED_KLINE_COUNT], closed_count[FEED_KLINE_COUNT];
};

struct broadcast {
  const config *cfg;
  feed *feed;
  unsigned io_count;
  ring from_engine;
  ring_waiter waiter;
  ring interest[BROADCAST_MAX_IO];
  ring messages[BROADCAST_MAX_IO];
  ring_waiter *io_waiters[BROADCAST_MAX_IO];
  uint64_t io_pending;
  uint64_t *masks;            /* per (market, channel): io threads with subscribers */
  uint64_t *snapshot_wants;   /* per market: io threads waiting for a depth snapshot */
  _Atomic(void *) *published; /* per (market, PUB_*) */
  struct history *history;    /* per market */
  struct retired retired[BROADCAST_RETIRED];
  uint32_t retired_head, retired_count;
  char *scratch;
  _Atomic bool stop;
  thread_handle thread;
};

static uint64_t *mask_of(broadcast *b, unsigned market, unsigned channel) {
  return &b->masks[(size_t)market * FEED_CHANNEL_COUNT + channel];
}

/* ---- out: frames to io threads ------------------------------------------------------- */

static void push(broadcast *b, unsigned io, const broadcast_msg *m) {
  ring *r = &b->messages[io];
  while (ring_reserve(r, 1) == 0) { /* an io thread behind: wait for it, never drop */
    ring_waiter_notify(b->io_waiters[io]);
    sched_yield();
  }
  memcpy(ring_write_slot(r, 0), m, sizeof(*m));
  ring_commit(r, 1);
  b->io_pending |= 1ull << io;
}

/* Frames scratch[0..len) once and hands it to every io thread in mask. */
static void send_frame(broadcast *b, uint64_t mask, unsigned market, unsigned channel,
                       bool snapshot, size_t len) {
  unsigned count = (unsigned)__builtin_popcountll(mask);
  if (count == 0) return;
  net_shared *frame = net_shared_text(b->scratch, len);
  if (!frame) {
    log_error("broadcast: out of memory for a %zu-byte frame; message lost", len);
    return;
  }
  if (count > 1) net_shared_ref(frame, count - 1);
  broadcast_msg m = {
      .market = market, .channel = (uint16_t)channel, .snapshot = snapshot, .frame = frame};
  while (mask) {
    unsigned io = (unsigned)__builtin_ctzll(mask);
    mask &= mask - 1;
    push(b, io, &m);
  }
}

/* Swaps in a new immutable blob; the old one is freed after the grace period. */
static void publish(broadcast *b, unsigned market, unsigned kind, void *blob, int64_t now) {
  void *old = atomic_exchange_explicit(&b->published[(size_t)market * PUB_KINDS + kind], blob,
                                       memory_order_acq_rel);
  if (!old) return;
  if (b->retired_count == BROADCAST_RETIRED) {
    struct retired *oldest = &b->retired[b->retired_head];
    free(oldest->blob); /* 4096 blobs retired within one second: the oldest is long unread */
    b->retired_head = (b->retired_head + 1) % BROADCAST_RETIRED;
    b->retired_count--;
  }
  uint32_t slot = (b->retired_head + b->retired_count++) % BROADCAST_RETIRED;
  b->retired[slot] = (struct retired){old, now + BROADCAST_GRACE_MS};
}

static void *published(broadcast *b, unsigned market, unsigned kind) {
  return atomic_load_explicit(&b->published[(size_t)market * PUB_KINDS + kind],
                              memory_order_acquire);
}

static void publish_book(broadcast *b, unsigned market, int64_t now) {
  const feed_market *fm = feed_market_at(b->feed, market);
  unsigned cap = b->cfg->feed_snapshot_levels;
  broadcast_book *book = malloc(sizeof(*book) + 2 * cap * sizeof(engine_level));
  if (!book) return;
  book->u = fm->book.last_id;
  book->bids = (uint32_t)feed_book_depth(&fm->book, ENGINE_SIDE_BUY, book->levels, cap);
  book->asks =
      (uint32_t)feed_book_depth(&fm->book, ENGINE_SIDE_SELL, book->levels + book->bids, cap);
  publish(b, market, PUB_BOOK, book, now);
}

static void publish_trades(broadcast *b, unsigned market, int64_t now) {
  const feed_market *fm = feed_market_at(b->feed, market);
  struct history *h = &b->history[market];
  for (uint32_t i = 0; i < fm->published_trade_count; i++) {
    h->trades[(h->trade_head + h->trade_count) % BROADCAST_RECENT_TRADES] = fm->published_trades[i];
    if (h->trade_count < BROADCAST_RECENT_TRADES)
      h->trade_count++;
    else
      h->trade_head = (h->trade_head + 1) % BROADCAST_RECENT_TRADES;
  }
  broadcast_trades *t = malloc(sizeof(*t) + h->trade_count * sizeof(feed_trade));
  if (!t) return;
  t->count = h->trade_count;
  for (uint32_t i = 0; i < h->trade_count; i++)
    t->trades[i] = h->trades[(h->trade_head + i) % BROADCAST_RECENT_TRADES];
  publish(b, market, PUB_TRADES, t, now);
}

static void publish_ticker(broadcast *b, unsigned market, int64_t now) {
  const feed_market *fm = feed_market_at(b->feed, market);
  broadcast_ticker *t = malloc(sizeof(*t));
  if (!t) return;
  t->values = fm->ticker_values;
  publish(b, market, PUB_TICKER, t, now);
}

static void publish_klines(broadcast *b, unsigned market, unsigned k, bool closed, int64_t now) {
  const feed_kline *kl = &feed_market_at(b->feed, market)->klines[k];
  struct history *h = &b->history[market];
  if (closed) {
    h->closed[k][(h->closed_head[k] + h->closed_count[k]) % BROADCAST_KLINE_HISTORY] =
        kl->published_closed;
    if (h->closed_count[k] < BROADCAST_KLINE_HISTORY)
      h->closed_count[k]++;
    else
      h->closed_head[k] = (h->closed_head[k] + 1) % BROADCAST_KLINE_HISTORY;
  }
  uint32_t n = h->closed_count[k];
  broadcast_klines *out = malloc(sizeof(*out) + (n + 1) * sizeof(feed_candle));
  if (!out) return;
  for (uint32_t i = 0; i < n; i++)
    out->candles[i] = h->closed[k][(h->closed_head[k] + i) % BROADCAST_KLINE_HISTORY];
  out->has_current = kl->published_active;
  if (out->has_current) out->candles[n++] = kl->published;
  out->count = n;
  publish(b, market, PUB_KLINES + k, out, now);
}

static void reap_retired(broadcast *b, int64_t now) {
  while (b->retired_count && b->retired[b->retired_head].free_after_ms <= now) {
    free(b->retired[b->retired_head].blob);
    b->retired_head = (b->retired_head + 1) % BROADCAST_RETIRED;
    b->retired_count--;
  }
}

typedef feed_status (*writer_fn)(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                                 size_t *len);

/* Sends what a feed writer produced. Call the writer first: st and len are its results. */
static void send_written(broadcast *b, uint64_t mask, unsigned market, unsigned channel,
                         bool snapshot, feed_status st, size_t len) {
  if (st == FEED_OK)
    send_frame(b, mask, market, channel, snapshot, len);
  else
    log_error("broadcast: cannot write channel %u of market %u: %s", channel, market,
              feed_status_text(st));
}

/* Everything market `market` publishes after an end of period with `changed` bits. */
static void publish_market(broadcast *b, unsigned market, uint32_t changed, int64_t ts) {
  size_t len = 0;
  uint64_t mask;
  if ((changed & FEED_CHANGED(FEED_CHANNEL_DEPTH)) &&
      (mask = *mask_of(b, market, FEED_CHANNEL_DEPTH))) {
    feed_status st = feed_write_depth(b->feed, market, ts, b->scratch, BROADCAST_SCRATCH, &len);
    send_written(b, mask, market, FEED_CHANNEL_DEPTH, false, st, len);
  }
  if (b->snapshot_wants[market]) { /* right after the diff: its u is the diff's u */
    {
      feed_status st =
          feed_write_snapshot(b->feed, market, ts, b->scratch, BROADCAST_SCRATCH, &len);
      send_written(b, b->snapshot_wants[market], market, FEED_CHANNEL_DEPTH, true, st, len);
    }
    b->snapshot_wants[market] = 0;
  }
  for (unsigned ch = FEED_CHANNEL_DEPTH5; ch <= FEED_CHANNEL_DEPTH20; ch++)
    if ((changed & FEED_CHANGED(ch)) && (mask = *mask_of(b, market, ch))) {
      feed_status st = feed_write_top(b->feed, market, (feed_channel)ch, ts, b->scratch,
                                      BROADCAST_SCRATCH, &len);
      send_written(b, mask, market, ch, false, st, len);
    }
  static const struct {
    feed_channel channel;
    writer_fn write;
  } simple[] = {{FEED_CHANNEL_TRADES, feed_write_trades},
                {FEED_CHANNEL_TICKER, feed_write_ticker},
                /* usually sent by publish_bbo already; here when the end of period took the
                 * change first (a period filled up in the middle of a drain) */
                {FEED_CHANNEL_BBO, feed_write_bbo}};
  for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
    if ((changed & FEED_CHANGED(simple[i].channel)) &&
        (mask = *mask_of(b, market, simple[i].channel))) {
      feed_status st = simple[i].write(b->feed, market, ts, b->scratch, BROADCAST_SCRATCH, &len);
      send_written(b, mask, market, simple[i].channel, false, st, len);
    }
  for (unsigned k = 0; k < FEED_KLINE_COUNT; k++) {
    unsigned ch = FEED_CHANNEL_KLINE + k;
    if (!(mask = *mask_of(b, market, ch))) continue;
    if (changed & FEED_CHANGED_KLINE_CLOSED(k)) {
      feed_status st = feed_write_kline(b->feed, market, (feed_interval)k, true, ts, b->scratch,
                                        BROADCAST_SCRATCH, &len);
      send_written(b, mask, market, ch, false, st, len);
    }
    if (changed & FEED_CHANGED_KLINE(k)) {
      feed_status st = feed_write_kline(b->feed, market, (feed_interval)k, false, ts, b->scratch,
                                        BROADCAST_SCRATCH, &len);
      send_written(b, mask, market, ch, false, st, len);
    }
  }
  if ((changed & FEED_CHANGED(FEED_CHANNEL_DEPTH)) || !published(b, market, PUB_BOOK))
    publish_book(b, market, ts);
  if ((changed & FEED_CHANGED(FEED_CHANNEL_TRADES)) || !published(b, market, PUB_TRADES))
    publish_trades(b, market, ts);
  if ((changed & FEED_CHANGED(FEED_CHANNEL_TICKER)) || !published(b, market, PUB_TICKER))
    publish_ticker(b, market, ts);
  for (unsigned k = 0; k < FEED_KLINE_COUNT; k++)
    if ((changed & (FEED_CHANGED_KLINE(k) | FEED_CHANGED_KLINE_CLOSED(k))) ||
        !published(b, market, PUB_KLINES + k))
      publish_klines(b, market, k, (changed & FEED_CHANGED_KLINE_CLOSED(k)) != 0, ts);
}

static void tick(broadcast *b, int64_t now) {
  feed_tick(b->feed, now);
  for (unsigned m = 0; m < b->cfg->market_count; m++)
    publish_market(b, m, feed_changed(b->feed, m), now);
  uint64_t mask = *mask_of(b, 0, FEED_CHANNEL_TICKERS);
  size_t len = 0;
  if (mask && feed_tickers_changed(b->feed)) {
    feed_status st = feed_write_tickers(b->feed, now, b->scratch, BROADCAST_SCRATCH, &len);
    send_written(b, mask, 0, FEED_CHANNEL_TICKERS, false, st, len);
  }
  reap_retired(b, now);
}

/* ---- in: engine events and interest ---------------------------------------------------- */

static void apply_event(broadcast *b, const feed_event *ev) {
  for (int attempt = 0; attempt < 2; attempt++) {
    feed_status st = feed_apply(b->feed, ev);
    if (st == FEED_OK) return;
    if (st == FEED_GAP) {
      log_error("broadcast: level update ids skipped (events lost); subscribers will resync");
      return;
    }
    if (st != FEED_FLUSH) {
      log_error("broadcast: event refused: %s", feed_status_text(st));
      return;
    }
    /* The market's period is full: end it early, publish, then apply. */
    unsigned market = ev->type == FEED_EVENT_LEVEL ? ev->u.level.market : ev->u.trade.market;
    int64_t now = clock_wall_ms();
    publish_market(b, market, feed_end_tick(b->feed, market, now), now);
  }
}

static void apply_interest(broadcast *b, unsigned io, const broadcast_interest *in) {
  if (in->market >= b->cfg->market_count || in->channel >= FEED_CHANNEL_COUNT) {
    if (in->op == BROADCAST_PUBLISH) net_shared_release(in->frame);
    return;
  }
  uint64_t *mask = mask_of(b, in->market, in->channel);
  switch (in->op) {
  case BROADCAST_SUBSCRIBE:
    *mask |= 1ull << io;
    break;
  case BROADCAST_UNSUBSCRIBE:
    *mask &= ~(1ull << io);
    break;
  case BROADCAST_SNAPSHOT:
    b->snapshot_wants[in->market] |= 1ull << io;
    break;
  case BROADCAST_PUBLISH: { /* POST /v1/publish to a public channel: the same fan-out path */
    uint64_t targets = *mask;
    unsigned count = (unsigned)__builtin_popcountll(targets);
    if (count == 0) {
      net_shared_release(in->frame);
      break;
    }
    if (count > 1) net_shared_ref(in->frame, count - 1);
    broadcast_msg m = {.market = in->market, .channel = in->channel, .frame = in->frame};
    while (targets) {
      unsigned target = (unsigned)__builtin_ctzll(targets);
      targets &= targets - 1;
      push(b, target, &m);
    }
    break;
  }
  default:
    break;
  }
}

static uint32_t drain(broadcast *b) {
  uint32_t total = 0, n;
  while ((n = ring_peek(&b->from_engine, 256)) > 0) {
    for (uint32_t i = 0; i < n; i++) apply_event(b, ring_read_slot(&b->from_engine, i));
    ring_release(&b->from_engine, n);
    total += n;
  }
  for (unsigned io = 0; io < b->io_count; io++)
    while ((n = ring_peek(&b->interest[io], 256)) > 0) {
      for (uint32_t i = 0; i < n; i++) apply_interest(b, io, ring_read_slot(&b->interest[io], i));
      ring_release(&b->interest[io], n);
      total += n;
    }
  return total;
}

/* @bbo goes out on every change: after each batch of engine events, not once per tick. */
static void publish_bbo(broadcast *b, int64_t now) {
  for (unsigned m = 0; m < b->cfg->market_count; m++) {
    uint64_t mask = *mask_of(b, m, FEED_CHANNEL_BBO);
    size_t len = 0;
    if (mask && feed_bbo_take(b->feed, m)) {
      feed_status st = feed_write_bbo(b->feed, m, now, b->scratch, BROADCAST_SCRATCH, &len);
      send_written(b, mask, m, FEED_CHANNEL_BBO, false, st, len);
    }
  }
}

static void notify_io(broadcast *b) {
  while (b->io_pending) {
    unsigned io = (unsigned)__builtin_ctzll(b->io_pending);
    b->io_pending &= b->io_pending - 1;
    ring_waiter_notify(b->io_waiters[io]);
  }
}

static void broadcast_main(void *arg) {
  broadcast *b = arg;
  int64_t next_tick = clock_wall_ms() + b->cfg->feed_tick_ms;
  log_info("broadcast thread running: %u markets, tick %u ms", b->cfg->market_count,
           b->cfg->feed_tick_ms);
  while (!atomic_load_explicit(&b->stop, memory_order_acquire)) {
    drain(b);
    int64_t now = clock_wall_ms();
    /* Every iteration, not only after a drain that found input: the check before
     * sleeping below may apply events too, and their bbo change must go out now.
     * Only markets with @bbo subscribers are looked at: two best-level reads each. */
    publish_bbo(b, now);
    if (now >= next_tick) {
      tick(b, now);
      next_tick += b->cfg->feed_tick_ms;
      if (next_tick <= now) next_tick = now + b->cfg->feed_tick_ms; /* fell behind: skip */
    }
    notify_io(b);
    uint32_t key = ring_waiter_prepare(&b->waiter);
    if (drain(b) > 0 || atomic_load(&b->stop)) {
      ring_waiter_cancel(&b->waiter);
      continue;
    }
    now = clock_wall_ms();
    ring_waiter_wait(&b->waiter, key, next_tick > now ? (int)(next_tick - now) : 0);
  }
  log_info("broadcast thread stopped");
}

/* ---- set-up ------------------------------------------------------------------------ */

broadcast *broadcast_create(const config *cfg, unsigned io_count, char *err, size_t errlen) {
  if (io_count == 0 || io_count > BROADCAST_MAX_IO) {
    snprintf(err, errlen, "broadcast: 1..%d io threads", BROADCAST_MAX_IO);
    return NULL;
  }
  broadcast *b = calloc(1, sizeof(*b));
  if (!b) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  b->cfg = cfg;
  b->io_count = io_count;
  feed_limits limits = {.snapshot_levels = cfg->feed_snapshot_levels};
  b->feed = feed_create(cfg, &limits, err, errlen);
  b->masks = calloc((size_t)cfg->market_count * FEED_CHANNEL_COUNT + 1, sizeof(uint64_t));
  b->snapshot_wants = calloc(cfg->market_count + 1, sizeof(uint64_t));
  b->published = calloc((size_t)(cfg->market_count + 1) * PUB_KINDS, sizeof(*b->published));
  b->history = calloc(cfg->market_count + 1, sizeof(struct history));
  b->scratch = malloc(BROADCAST_SCRATCH);
  bool ok = b->feed && b->masks && b->snapshot_wants && b->published && b->history && b->scratch &&
            ring_init(&b->from_engine, 65536, sizeof(feed_event)) == 0;
  for (unsigned i = 0; ok && i < io_count; i++)
    ok = ring_init(&b->interest[i], 4096, sizeof(broadcast_interest)) == 0 &&
         ring_init(&b->messages[i], 16384, sizeof(broadcast_msg)) == 0;
  if (!ok) {
    if (b->feed) snprintf(err, errlen, "out of memory for the broadcast thread");
    broadcast_destroy(b);
    return NULL;
  }
  ring_waiter_init(&b->waiter, -1);
  return b;
}

ring *broadcast_engine_ring(broadcast *b) {
  return &b->from_engine;
}

ring_waiter *broadcast_waiter(broadcast *b) {
  return &b->waiter;
}

ring *broadcast_interest_ring(broadcast *b, unsigned io) {
  return &b->interest[io];
}

ring *broadcast_message_ring(broadcast *b, unsigned io) {
  return &b->messages[io];
}

void broadcast_set_io_waiter(broadcast *b, unsigned io, ring_waiter *w) {
  b->io_waiters[io] = w;
}

const broadcast_book *broadcast_book_get(broadcast *b, unsigned market) {
  return market < b->cfg->market_count ? published(b, market, PUB_BOOK) : NULL;
}

const broadcast_trades *broadcast_trades_get(broadcast *b, unsigned market) {
  return market < b->cfg->market_count ? published(b, market, PUB_TRADES) : NULL;
}

const broadcast_ticker *broadcast_ticker_get(broadcast *b, unsigned market) {
  return market < b->cfg->market_count ? published(b, market, PUB_TICKER) : NULL;
}

const broadcast_klines *broadcast_klines_get(broadcast *b, unsigned market,
                                             feed_interval interval) {
  if (market >= b->cfg->market_count || (unsigned)interval >= FEED_KLINE_COUNT) return NULL;
  return published(b, market, PUB_KLINES + (unsigned)interval);
}

int broadcast_start(broadcast *b, int cpu) {
  return thread_start(&b->thread, "broadcast", cpu, broadcast_main, b);
}

void broadcast_stop(broadcast *b) {
  atomic_store_explicit(&b->stop, true, memory_order_release);
  ring_waiter_notify(&b->waiter);
  thread_join(&b->thread);
}

void broadcast_destroy(broadcast *b) {
  if (!b) return;
  /* Frames still queued for io threads: release their references. */
  for (unsigned io = 0; io < b->io_count; io++) {
    if (!b->messages[io].slots) continue;
    uint32_t n;
    while ((n = ring_peek(&b->messages[io], 256)) > 0) {
      for (uint32_t i = 0; i < n; i++)
        net_shared_release(((const broadcast_msg *)ring_read_slot(&b->messages[io], i))->frame);
      ring_release(&b->messages[io], n);
    }
    ring_destroy(&b->messages[io]);
    ring_destroy(&b->interest[io]);
  }
  ring_destroy(&b->from_engine);
  while (b->retired_count) {
    free(b->retired[b->retired_head].blob);
    b->retired_head = (b->retired_head + 1) % BROADCAST_RETIRED;
    b->retired_count--;
  }
  for (size_t i = 0; b->published && i < (size_t)b->cfg->market_count * PUB_KINDS; i++)
    free(atomic_load(&b->published[i]));
  free(b->published);
  free(b->history);
  free(b->masks);
  free(b->snapshot_wants);
  free(b->scratch);
  feed_destroy(b->feed);
  free(b);
}
