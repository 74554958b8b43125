/*
 * test_broadcast_bbo.c: the broadcast thread sends @bbo for every change of
 * the best bid or offer, including one whose market's period filled up in the
 * middle of a drain.
 *
 * A period holds at most max_tick_trades (1024) trades; the event after that
 * makes the feed end the period early (FEED_FLUSH), and the end of period takes
 * the bbo change along with everything else. The engine ring is filled before
 * the thread starts, so its first drain applies, in order: a bid appearing (a
 * bbo change), 1100 trades (the flush at the 1025th), then nothing more. The
 * @bbo of that bid must still reach the subscriber (it once did not: the end
 * of period took the change and @bbo was only written after the drain, when
 * nothing was left to see). Then a second change, pushed while the thread
 * runs, must be sent too, and nothing else than these two.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bourse/broadcast.h"
#include "bourse/clock.h"
#include "bourse/log.h"
#include "check.h"

static config cfg;

static void make_config(void) {
  memset(&cfg, 0, sizeof cfg);
  cfg.asset_count = 2;
  snprintf(cfg.assets[0].name, sizeof cfg.assets[0].name, "BTC");
  cfg.assets[0].decimals = 8;
  snprintf(cfg.assets[1].name, sizeof cfg.assets[1].name, "USDT");
  cfg.assets[1].decimals = 6;
  cfg.market_count = 1;
  config_market *m = &cfg.markets[0];
  snprintf(m->name, sizeof m->name, "BTCUSDT");
  m->base = 0, m->quote = 1, m->price_scale = 2, m->tick = 1, m->qty_scale = 3, m->lot = 1;
  m->lot_units = 100000, m->notional_unit = 1;
  cfg.feed_tick_ms = 60000; /* no tick during the test: only drains publish @bbo */
  cfg.feed_snapshot_levels = 100;
  cfg.net_io_threads = 1;
}

static void push_event(ring *r, const feed_event *ev) {
  CHECK(ring_push(r, ev, sizeof(*ev)));
}

static feed_event level(uint64_t id, int64_t price, int64_t qty) {
  feed_event ev = {.type = FEED_EVENT_LEVEL};
  ev.u.level = (feed_level){.market = 0, .side = 0, .price = price, .qty = qty, .update_id = id};
  return ev;
}

/* Collects the @bbo frames of the message ring for up to `ms`; returns how many, their
 * payloads (the JSON after the frame header) appended to out, one per line. */
static int collect_bbo(ring *r, int ms, char *out, size_t cap) {
  int found = 0;
  int64_t until = clock_wall_ms() + ms;
  while (clock_wall_ms() < until) {
    broadcast_msg m;
    if (!ring_pop(r, &m)) {
      struct timespec ts = {0, 2000000};
      nanosleep(&ts, NULL);
      continue;
    }
    if (m.channel == FEED_CHANNEL_BBO) {
      found++;
      size_t header = m.frame->data[1] == 126 ? 4 : 2;
      size_t used = strlen(out);
      snprintf(out + used, cap - used, "%.*s\n", (int)(m.frame->len - header),
               (const char *)m.frame->data + header);
    }
    net_shared_release(m.frame);
  }
  return found;
}

int main(void) {
  CHECK(log_init(LOG_ERROR, NULL) == 0);
  make_config();
  char err[256] = "";
  broadcast *b = broadcast_create(&cfg, 1, err, sizeof err);
  CHECK(b != NULL);
  if (!b) {
    fprintf(stderr, "broadcast_create: %s\n", err);
    return check_report("broadcast_bbo");
  }
  ring_waiter io_waiter;
  ring_waiter_init(&io_waiter, -1);
  broadcast_set_io_waiter(b, 0, &io_waiter);

  /* The subscription first: the thread applies interest after engine events in a drain. */
  CHECK(broadcast_start(b, -1) == 0);
  broadcast_interest sub = {.market = 0, .channel = FEED_CHANNEL_BBO, .op = BROADCAST_SUBSCRIBE};
  CHECK(ring_push(broadcast_interest_ring(b, 0), &sub, sizeof(sub)));
  ring_waiter_notify(broadcast_waiter(b));
  struct timespec settle = {0, 200000000};
  nanosleep(&settle, NULL); /* applied; the thread sleeps until notified (no tick for 60 s) */
  /* Then every event without a notify, so that one drain applies them all. */
  ring *to_broadcast = broadcast_engine_ring(b);
  feed_event bid = level(1, 100, 5); /* bid 1 x 0.005 */
  push_event(to_broadcast, &bid);
  int64_t now = clock_wall_ms();
  for (uint64_t i = 0; i < 1100; i++) {
    feed_event ev = {.type = FEED_EVENT_TRADE};
    ev.u.trade = (feed_trade){
        .market = 0, .taker_side = 1, .trade_id = i + 1, .price = 100, .qty = 1, .ts_ms = now};
    ev.u.trade.quote = 1000; /* 1 x 0.001 BTC = 0.001 USDT = 1000 units */
    push_event(to_broadcast, &ev);
  }
  ring_waiter_notify(broadcast_waiter(b));

  char seen[4096] = "";
  ring *messages = broadcast_message_ring(b, 0);
  int first = collect_bbo(messages, 500, seen, sizeof seen);
  CHECK_EQ_INT(first, 1);
  CHECK(strstr(seen, "\"bid\":\"1\"") != NULL && strstr(seen, "\"bid_qty\":\"0.005\"") != NULL);

  /* A later change, while the thread runs: the bid grows. */
  feed_event more = level(2, 100, 7);
  push_event(to_broadcast, &more);
  ring_waiter_notify(broadcast_waiter(b));
  seen[0] = 0;
  int second = collect_bbo(messages, 500, seen, sizeof seen);
  CHECK_EQ_INT(second, 1);
  CHECK(strstr(seen, "\"bid_qty\":\"0.007\"") != NULL);
  if (first != 1 || second != 1) fprintf(stderr, "@bbo frames seen:\n%s", seen);

  broadcast_stop(b);
  broadcast_destroy(b);
  log_shutdown();
  return check_report("broadcast_bbo");
}
