/*
 * broadcast.h: the broadcast thread. It mirrors every book from the engine's
 * level and trade events (feed.h), and once per feed.tick_ms serialises each
 * public channel that has subscribers once, frames it once (net_shared) and
 * hands the same bytes to every io thread with subscribers, which sends them
 * to each subscriber by reference.
 *
 * Rings: engine -> broadcast (feed_event), io -> broadcast (interest: a
 * channel's first subscriber and last unsubscriber on that io thread, and
 * depth snapshot requests), broadcast -> io (broadcast_msg).
 *
 * Depth consistency: a new @depth subscriber (or a lagging one) waits for the
 * snapshot its io thread requested; the broadcast thread writes it right
 * after the tick's diff, so the snapshot's u is that diff's u and the next
 * diff starts at u + 1. Diffs before the snapshot are not sent to it.
 *
 * create/start/stop/destroy run on main; the rest on the broadcast thread.
 */
#ifndef BOURSE_BROADCAST_H
#define BOURSE_BROADCAST_H

#include "bourse/feed.h"
#include "bourse/net.h"
#include "bourse/ring.h"

#define BROADCAST_MAX_IO 64

/* io -> broadcast */
typedef struct broadcast_interest {
  uint32_t market;
  uint16_t channel; /* feed_channel */
  uint8_t op;       /* BROADCAST_SUBSCRIBE, _UNSUBSCRIBE, _SNAPSHOT, _PUBLISH */
  uint8_t reserved;
  net_shared *frame; /* _PUBLISH: a framed message for the channel's subscribers (one ref) */
} broadcast_interest;

enum { BROADCAST_SUBSCRIBE = 1, BROADCAST_UNSUBSCRIBE, BROADCAST_SNAPSHOT, BROADCAST_PUBLISH };

/* broadcast -> io */
typedef struct broadcast_msg {
  uint32_t market;
  uint16_t channel; /* feed_channel */
  uint8_t snapshot; /* 1: a depth snapshot for the channel's waiting subscribers */
  uint8_t reserved;
  net_shared *frame; /* one reference for this io thread */
} broadcast_msg;

/* An immutable published book for REST depth queries (levels: bids then asks). */
typedef struct broadcast_book {
  uint64_t u;
  uint32_t bids, asks;
  engine_level levels[];
} broadcast_book;

/* The latest trades of a market, oldest first (at most BROADCAST_RECENT_TRADES). */
#define BROADCAST_RECENT_TRADES 1000
typedef struct broadcast_trades {
  uint32_t count;
  feed_trade trades[];
} broadcast_trades;

/* A market's ticker as last published. */
typedef struct broadcast_ticker {
  feed_ticker_values values;
} broadcast_ticker;

/* A market's candles of one interval: closed ones oldest first, then the current one. */
#define BROADCAST_KLINE_HISTORY 500
typedef struct broadcast_klines {
  uint32_t count;   /* candles[0..count) */
  bool has_current; /* candles[count - 1] is the open candle */
  feed_candle candles[];
} broadcast_klines;

typedef struct broadcast broadcast;

/* Creates the feed state and rings for io_count io threads. NULL with a reason in err. */
broadcast *broadcast_create(const config *cfg, unsigned io_count, char *err, size_t errlen);

/* The ring the engine produces into, and the waiter it notifies. */
ring *broadcast_engine_ring(broadcast *b);
ring_waiter *broadcast_waiter(broadcast *b);

/* The rings of io thread io: interest it produces, messages it consumes. */
ring *broadcast_interest_ring(broadcast *b, unsigned io);
ring *broadcast_message_ring(broadcast *b, unsigned io);

/* Sets the waiter io thread io sleeps on (notified after messages are pushed). */
void broadcast_set_io_waiter(broadcast *b, unsigned io, ring_waiter *w);

/*
 * What the broadcast thread last published for `market`, or NULL before
 * anything was: the book (up to feed.snapshot_levels per side), the recent
 * trades, the ticker, the candles of an interval. Any thread, no lock; each
 * is immutable and valid for at least one second after the call (replaced
 * ones are freed after a grace period): copy what you need at once.
 */
const broadcast_book *broadcast_book_get(broadcast *b, unsigned market);
const broadcast_trades *broadcast_trades_get(broadcast *b, unsigned market);
const broadcast_ticker *broadcast_ticker_get(broadcast *b, unsigned market);
const broadcast_klines *broadcast_klines_get(broadcast *b, unsigned market, feed_interval interval);

int broadcast_start(broadcast *b, int cpu);
void broadcast_stop(broadcast *b);
void broadcast_destroy(broadcast *b);

#endif
