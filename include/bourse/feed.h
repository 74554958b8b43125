/*
 * feed.h: the market-data state machines of the broadcast thread: a mirror of
 * every book built from the engines' level events, the per-tick depth diff
 * with its update-id chain, top-N depth and best bid/offer, the trades of a
 * tick, the rolling 24 h ticker, the klines, and the native protocol's push
 * messages for each public channel (shared/spec/PROTOCOL.md).
 *
 * Thread role: broadcast thread only. Nothing here is thread-safe; nothing
 * allocates after feed_create (or the *_init functions), takes a lock or
 * makes a system call.
 *
 * How the broadcast thread drives it
 * ----------------------------------
 *   feed *f = feed_create(cfg, &limits, err, sizeof err);
 *   every event from the engines:        feed_apply(f, &ev)   (FEED_FLUSH: see below)
 *   every feed.tick_ms:                  feed_tick(f, now_ms);
 *     for each market m:  bits = feed_changed(f, m);
 *       for each set bit with subscribers: feed_write_<channel>(f, m, ..., now_ms, buf, cap, &len)
 *     if feed_tickers_changed(f):       feed_write_tickers(f, now_ms, buf, cap, &len)
 *   a new @depth subscriber, right after feed_tick: feed_write_snapshot(...)
 *   output buffers, allocated once:      feed_message_max(f, channel) bytes
 *
 * Between two ticks every market accumulates; feed_tick (or feed_end_tick for
 * one market) publishes what accumulated and starts the next period. The
 * write and get functions read only the published state, which stays valid
 * and unchanged until that market's next end of tick, whatever is applied
 * meanwhile.
 *
 * Bounded buffers and FEED_FLUSH. A period can hold at most
 * limits.max_diff_levels changed price levels and limits.max_tick_trades
 * trades per market, and at most one closed candle per kline interval. When
 * an event would exceed one of these, feed_apply returns FEED_FLUSH without
 * applying it: the caller ends that market's period early (feed_end_tick),
 * publishes its messages, and applies the event again (which then succeeds).
 * Publishing a diff mid-tick is harmless: diffs chain by update id, not by
 * tick. So a burst bounds the size of every message, never the correctness.
 *
 * Update ids and the depth chain. The engine numbers its level changes per
 * market, +1 for each. A diff carries U (first id applied in its period) and
 * u (last), with each changed level's final quantity (changes within the
 * period are conflated per side and price), so consecutive diffs satisfy
 * U == previous u + 1. A snapshot written right after an end of tick carries
 * u == that tick's diff u, so the next diff's U is snapshot u + 1: no gap, no
 * overlap. The mirror starts empty and takes the first id it sees as the
 * start of the chain, so an engine that starts with resting orders (a
 * restart) must first emit a level event for each of its levels.
 *
 * Times. Trades carry the engine's ts_ms; ticks carry the broadcast thread's
 * now_ms. Per market, time never goes backwards: a trade stamped earlier than
 * the latest time already seen (trade or tick) counts at that latest time, so
 * a candle or ticker minute once closed never changes.
 */
#ifndef BOURSE_FEED_H
#define BOURSE_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bourse/config.h"
#include "bourse/engine.h"
#include "bourse/json.h"

/* ------------------------------------------------------------------------ */
/* Input events (fixed size, no pointers: ring slots from the engines)      */

/* A price level's new aggregated quantity. */
typedef struct feed_level {
  uint32_t market; /* index into config.markets */
  uint8_t side;    /* engine_side: 0 buy (bid), 1 sell (ask) */
  uint8_t reserved[3];
  int64_t price;      /* ticks, > 0 */
  int64_t qty;        /* lots: the new total at that price; 0 = the level is gone */
  uint64_t update_id; /* per market, +1 for every level change the engine makes */
} feed_level;

/* A trade (public: no uids, no fees). */
typedef struct feed_trade {
  uint32_t market;
  uint8_t taker_side; /* engine_side */
  uint8_t reserved[3];
  uint64_t trade_id;
  int64_t price; /* ticks, > 0 */
  int64_t qty;   /* lots, > 0 */
  int64_t quote; /* quote asset units exchanged, >= 0 */
  int64_t ts_ms; /* engine time, ms since the Unix epoch */
} feed_trade;

typedef enum feed_event_type {
  FEED_EVENT_LEVEL = 1,
  FEED_EVENT_TRADE = 2,
} feed_event_type;

/* Either event, for a ring that carries both in causal order. */
typedef struct feed_event {
  uint8_t type; /* feed_event_type */
  uint8_t reserved[7];
  union {
    feed_level level;
    feed_trade trade;
  } u;
} feed_event;

_Static_assert(sizeof(feed_level) == 32, "feed_level is a ring slot: change its size on purpose");
_Static_assert(sizeof(feed_trade) == 48, "feed_trade is a ring slot: change its size on purpose");
_Static_assert(sizeof(feed_event) == 56, "feed_event is a ring slot: change its size on purpose");

typedef enum feed_status {
  FEED_OK = 0,
  FEED_GAP,         /* applied, but update_id skipped ids: the engine lost events (log it) */
  FEED_FLUSH,       /* not applied: end this market's period (feed_end_tick), then apply again */
  FEED_ERR_STALE,   /* not applied: update_id <= the last one applied (a duplicate) */
  FEED_ERR_FULL,    /* not applied: more live price levels than limits.max_levels */
  FEED_ERR_INVALID, /* not applied: unknown market, side or event type, price <= 0, qty < 0... */
  FEED_ERR_NO_SPACE /* a writer's buffer is too small; nothing usable was written */
} feed_status;

/* A short English description of a status, for logs. */
const char *feed_status_text(feed_status status);

/* ------------------------------------------------------------------------ */
/* Mirror book                                                              */
/*
 * Each side is a skip list of price levels, best first (bids descending, asks
 * ascending), its nodes drawn from a pool shared by every book. Why a skip
 * list: O(log n) expected insert and remove whatever prices arrive (heights
 * are random, so no choice of prices unbalances it), a search starting from
 * the best level costs O(log distance from the best), which is where order
 * flow concentrates, and walking the top N levels is a linked-list walk. A
 * hash index (book, side, price) -> node, shared by the pool's books, finds
 * an existing level in O(1), so only a new level searches the list.
 * bench/feed_bench.c measures it against a sorted array.
 *
 * Conflation: a level changed in the current period is marked dirty once
 * (its quantity at the start of the period remembered); a level removed
 * stays in the list with qty 0 until the end of the period, so a price
 * removed and re-added in one period is one entry of the diff. At the end of
 * the period the dirty levels are sorted into the published diff, levels
 * whose final quantity equals their starting one are left out, and removed
 * levels return to the pool.
 */

#define FEED_TOP_MAX 20 /* deepest top-N channel (@depth20) */

typedef struct feed_node feed_node; /* private to feed_book.c */

/* The nodes every book's levels come from, plus the sort scratch of an end of period. */
typedef struct feed_book_pool {
  feed_node *nodes; /* [0] unused: index 0 means none */
  uint32_t capacity;
  uint32_t fresh;       /* next never-used node */
  uint32_t free_list;   /* recycled nodes, linked through next[0] */
  uint32_t live;        /* levels with qty > 0, over every book */
  uint32_t max_live;    /* limits.max_levels */
  uint32_t max_diff;    /* per book: dirty levels one period may hold */
  uint32_t max_books;   /* books that may draw from the pool */
  uint32_t books;       /* books initialised */
  uint64_t random;      /* xorshift state for node heights */
  void *sort_scratch;   /* 2 x max_diff entries: the sort and its radix buffer */
  uint32_t *buckets;    /* price index: (book, side, price) -> node chains */
  unsigned bucket_bits; /* 2^bucket_bits buckets, >= capacity */
} feed_book_pool;

/* Best bid and offer; a price and quantity of 0 stand for an empty side. */
typedef struct feed_bbo {
  uint64_t update_id; /* last update id applied when it was taken */
  int64_t bid, bid_qty, ask, ask_qty;
} feed_bbo;

typedef struct feed_book {
  feed_book_pool *pool;
  uint32_t number;    /* 1.. within the pool: part of the price index's key */
  uint32_t head[2];   /* per side: the skip list's head node */
  uint8_t height[2];  /* per side: levels of the skip list in use */
  uint32_t levels[2]; /* per side: live levels (qty > 0) */
  uint64_t last_id;   /* last update id applied; 0 = none yet */
  uint64_t first_id;  /* first update id applied in the current period; 0 = none */
  uint64_t gaps;      /* events whose update_id skipped ids (FEED_GAP) */
  uint32_t *dirty;    /* nodes changed in the current period */
  uint32_t dirty_count;
  bool top_stale; /* levels changed since the top-N was last published */
  /* Published by feed_book_end_tick; read-only for callers. */
  engine_level *diff; /* changed levels: diff_bids bids (descending), then diff_asks asks */
  uint32_t diff_bids, diff_asks;
  uint64_t diff_first, diff_last;    /* U and u of the published diff */
  engine_level top[2][FEED_TOP_MAX]; /* per side, best first */
  uint32_t top_count[2];
  uint64_t top_id; /* last update id applied at that end of period (the "u" of @depthN) */
  feed_bbo bbo;    /* last taken (feed_book_bbo_take) */
} feed_book;

/* What feed_book_end_tick published (bits; FEED_CHANGED_* of the aggregate use the same values) */
#define FEED_BOOK_DIFF    (1u << 0) /* a diff (update ids were applied in the period) */
#define FEED_BOOK_DEPTH5  (1u << 1) /* the top 5 levels of a side changed */
#define FEED_BOOK_DEPTH10 (1u << 2)
#define FEED_BOOK_DEPTH20 (1u << 3)
#define FEED_BOOK_BBO     (1u << 6) /* the best bid or offer (price or qty) changed */

/*
 * Allocates a pool for up to max_books books holding together at most
 * max_levels live levels, each book's period at most max_diff changed levels
 * (1 <= max_diff). Node memory is zeroed by the allocator and touched only as
 * it is used, so a generous max_levels costs address space, not memory.
 * Returns 0, or -1 when memory is short or a size overflows.
 */
int feed_book_pool_init(feed_book_pool *pool, uint32_t max_levels, uint32_t max_books,
                        uint32_t max_diff);

/* Frees what feed_book_pool_init allocated (the books' own arrays: feed_book_free). */
void feed_book_pool_free(feed_book_pool *pool);

/* Prepares an empty book drawing from pool. Returns 0, or -1 (memory, or pool->max_books reached).
 */
int feed_book_init(feed_book *b, feed_book_pool *pool);

/* Frees the book's arrays. Its nodes stay in the pool (freed with it). */
void feed_book_free(feed_book *b);

/*
 * Applies one level event: side 0/1, price > 0, qty >= 0 (0 removes the
 * level; removing a level the mirror does not have changes nothing but still
 * consumes the id). Returns FEED_OK; FEED_GAP (applied; update_id skipped
 * ids, counted in b->gaps); FEED_FLUSH (not applied: the period already
 * holds max_diff changed levels); FEED_ERR_STALE; FEED_ERR_FULL;
 * FEED_ERR_INVALID. The first event a book sees may carry any id >= 1.
 * Hot path: O(log n) expected, no allocation.
 */
feed_status feed_book_apply(feed_book *b, unsigned side, int64_t price, int64_t qty,
                            uint64_t update_id);

/*
 * Ends the period: publishes the diff (when any id was applied, even if every
 * change cancelled out, so the U/u chain has no hole), the top FEED_TOP_MAX
 * levels per side and the best bid/offer, then starts a new period. Returns
 * FEED_BOOK_* bits for what changed since the previous end of period.
 */
uint32_t feed_book_end_tick(feed_book *b);

/*
 * Takes the live best bid/offer into b->bbo when it differs (price or
 * quantity) from the one last taken; returns whether it did. For channels
 * pushed more often than once per tick; feed_book_end_tick calls it too.
 */
bool feed_book_bbo_take(feed_book *b);

/*
 * Writes up to max live levels of a side, best first, into out; returns how
 * many. Reflects every event applied so far (mid-period too).
 */
size_t feed_book_depth(const feed_book *b, unsigned side, engine_level *out, size_t max);

/* A walk over a side's live levels, best first (for writers that stream a snapshot). */
typedef struct feed_book_iter {
  const feed_book *book;
  uint32_t node;
} feed_book_iter;

/*
 * Starts a walk over `side` (an empty walk for a side > 1). The walk is
 * valid until the next feed_book_apply or end of period on the book.
 */
feed_book_iter feed_book_iterate(const feed_book *b, unsigned side);

/* Stores the next live level in *level and returns true, or returns false at the end. */
bool feed_book_iter_next(feed_book_iter *it, engine_level *level);

/* ------------------------------------------------------------------------ */
/* Rolling 24 h ticker                                                      */
/*
 * 1440 one-minute buckets (open/high/low/close, volume, quote volume, count).
 * A trade at time t is in the window at time `now` while
 * floor(t / 60 s) > floor(now / 60 s) - 1440: the window is the current
 * minute and the 1439 before it (between 23 h 59 min and 24 h long).
 * Running sums are updated per trade and per expired minute; high and low are
 * rescanned only when an expiring minute held them, and the first trade of
 * the window is found by scanning forward to the next non-empty minute: at
 * most 1440 steps once per expiring minute.
 *
 * Semantics of feed_ticker_values: last = price of the latest trade in the
 * window; open = price of the first; high/low over the window; change =
 * last - open; change_pct = change x 100 / open in hundredths of a percent,
 * rounded half away from zero (integers only). An empty window (no trade in
 * 24 h) reports every field 0: count == 0 is how a client tells. Volumes
 * saturate at INT64_MAX (they would need 9.2e18 units a day).
 */
#define FEED_TICKER_MINUTES 1440

typedef struct feed_ticker_bucket {
  int64_t minute; /* floor(ms / 60000) of its trades; meaningful while count > 0 */
  int64_t open, high, low, close;
  int64_t volume, quote_volume; /* saturating */
  uint64_t count;
} feed_ticker_bucket;

typedef struct feed_ticker {
  feed_ticker_bucket buckets[FEED_TICKER_MINUTES]; /* minute m lives in [m mod 1440] */
  int64_t clock_ms;                  /* latest time seen (trade or roll); INT64_MIN = none */
  int64_t first_minute, last_minute; /* oldest and newest non-empty minute; valid while count > 0 */
  int64_t high, low;
  __int128 volume, quote_volume; /* sums of the window's buckets (cannot overflow) */
  uint64_t count;
} feed_ticker;

typedef struct feed_ticker_values {
  int64_t last, open, high, low;      /* ticks */
  int64_t change;                     /* ticks: last - open */
  int64_t change_pct;                 /* hundredths of a percent: 1234 = 12.34 % */
  int64_t volume;                     /* lots */
  int64_t quote_volume;               /* quote asset units */
  uint64_t count;                     /* trades in the window */
  int64_t bid, bid_qty, ask, ask_qty; /* from the book; 0 for an empty side */
} feed_ticker_values;

/* An empty ticker. */
void feed_ticker_init(feed_ticker *t);

/* Adds a trade at max(ts_ms, latest time seen); rolls the window to that time first. */
void feed_ticker_trade(feed_ticker *t, int64_t ts_ms, int64_t price, int64_t qty, int64_t quote);

/* Expires the minutes that left the window at max(now_ms, latest time seen). */
void feed_ticker_roll(feed_ticker *t, int64_t now_ms);

/* The window's values (bid/ask fields left 0: the aggregate fills them from the book). */
void feed_ticker_get(const feed_ticker *t, feed_ticker_values *out);

/* ------------------------------------------------------------------------ */
/* Klines                                                                   */
/*
 * One current candle per interval. Intervals are aligned to 00:00 UTC; weeks
 * start on Monday 00:00 UTC (as Binance's). A candle's values depend only on
 * its trades and the previous candle's close, never on when ticks ran:
 *   - with trades: o = first trade's price, h/l over its trades, c = last;
 *   - without (yet): o = h = l = c = previous close, v = q = n = 0.
 * The first candle opens on the market's first trade. When a trade or a tick
 * crosses the interval's end, the candle is published once more with
 * closed: true and the next one starts (on the trade, or empty at the
 * previous close). After a pause longer than an interval with no tick (the
 * thread stalled), the empty candles of the intervals inside the pause are
 * not published. Volumes saturate at INT64_MAX.
 */
typedef enum feed_interval {
  FEED_KLINE_1M,
  FEED_KLINE_5M,
  FEED_KLINE_15M,
  FEED_KLINE_30M,
  FEED_KLINE_1H,
  FEED_KLINE_4H,
  FEED_KLINE_1D,
  FEED_KLINE_1W,
  FEED_KLINE_COUNT
} feed_interval;

typedef struct feed_candle {
  int64_t open_ms;                /* start of its interval */
  int64_t open, high, low, close; /* ticks */
  int64_t volume;                 /* lots */
  int64_t quote_volume;           /* quote asset units */
  uint64_t count;                 /* trades */
} feed_candle;

typedef struct feed_kline {
  uint8_t interval; /* feed_interval */
  bool active;      /* a candle exists (the market has traded) */
  bool closed_pending;
  bool published_active;
  int64_t clock_ms; /* latest time seen */
  feed_candle current;
  feed_candle closed; /* closed in the current period (closed_pending) */
  /* Published by feed_kline_end_tick; read-only for callers. */
  feed_candle published;        /* the current candle (valid when published_active) */
  feed_candle published_closed; /* valid when the last end of period returned FEED_KLINE_CLOSED */
} feed_kline;

#define FEED_KLINE_CHANGED (1u << 0) /* the current candle differs from the last published one */
#define FEED_KLINE_CLOSED  (1u << 1) /* a candle closed in the period: published_closed */

/* The protocol's name of an interval ("1m", ..., "1w"), or "?" out of range. */
const char *feed_interval_name(feed_interval interval);

/* Length of an interval in ms (a week is 7 days). */
int64_t feed_interval_ms(feed_interval interval);

/* Start of the interval containing ms (floor, also for negative times). */
int64_t feed_interval_start(feed_interval interval, int64_t ms);

/* An inactive kline of the interval. */
void feed_kline_init(feed_kline *k, feed_interval interval);

/* True when a trade at ts_ms would close a second candle before the next end of period. */
bool feed_kline_needs_flush(const feed_kline *k, int64_t ts_ms);

/*
 * Adds a trade at max(ts_ms, latest time seen), closing the current candle
 * first when the trade is past its end, and returns true. Returns false
 * without applying anything when that would be a second close in one period
 * (feed_kline_needs_flush): end the period first.
 */
bool feed_kline_trade(feed_kline *k, int64_t ts_ms, int64_t price, int64_t qty, int64_t quote);

/*
 * Ends the period at max(now_ms, latest time seen): closes the current
 * candle when the time is past its end (unless a trade closed one in this
 * period already: then at the next end of period), publishes, and returns
 * FEED_KLINE_* bits.
 */
uint32_t feed_kline_end_tick(feed_kline *k, int64_t now_ms);

/* ------------------------------------------------------------------------ */
/* Channels                                                                 */

typedef enum feed_channel {
  FEED_CHANNEL_DEPTH,   /* <M>@depth: snapshot, then diffs */
  FEED_CHANNEL_DEPTH5,  /* <M>@depth5 */
  FEED_CHANNEL_DEPTH10, /* <M>@depth10 */
  FEED_CHANNEL_DEPTH20, /* <M>@depth20 */
  FEED_CHANNEL_TRADES,  /* <M>@trades */
  FEED_CHANNEL_TICKER,  /* <M>@ticker */
  FEED_CHANNEL_BBO,     /* <M>@bbo */
  FEED_CHANNEL_KLINE,   /* <M>@kline_<i>: FEED_CHANNEL_KLINE + feed_interval */
  FEED_CHANNEL_TICKERS = FEED_CHANNEL_KLINE + FEED_KLINE_COUNT, /* !tickers (no market) */
  FEED_CHANNEL_COUNT
} feed_channel;

/* Longest channel name, with the NUL: "<31-char market>@kline_15m". */
#define FEED_CHANNEL_NAME_MAX (CONFIG_MARKET_NAME_MAX + 16)

/*
 * Writes the channel's name ("BTCUSDT@kline_1h", "!tickers") NUL-terminated
 * into buf (FEED_CHANNEL_NAME_MAX bytes); returns its length, or 0 for an
 * unknown market or channel.
 */
size_t feed_channel_name(const config *cfg, unsigned market, feed_channel channel, char *buf);

/*
 * Parses a public channel name name[0..len) (the market part
 * case-insensitively). Returns true with *market (0 for !tickers) and
 * *channel set, or false for anything that is not a public channel.
 */
bool feed_channel_parse(const config *cfg, const char *name, size_t len, unsigned *market,
                        feed_channel *channel);

/* ------------------------------------------------------------------------ */
/* The aggregate: every market of a configuration                           */

/* Bits of feed_changed: bit FEED_CHANNEL_X set = that channel has a message this tick. */
#define FEED_CHANGED(channel)        (1u << (channel))
#define FEED_CHANGED_KLINE(interval) (1u << (FEED_CHANNEL_KLINE + (interval)))
/* A candle of the interval closed: its closed:true message goes out before the current one. */
#define FEED_CHANGED_KLINE_CLOSED(interval) (1u << (FEED_CHANNEL_COUNT + (interval)))

_Static_assert(FEED_CHANNEL_COUNT + FEED_KLINE_COUNT <= 32, "feed_changed bits fit 32 bits");
_Static_assert(FEED_BOOK_DIFF == (1u << FEED_CHANNEL_DEPTH) &&
                   FEED_BOOK_DEPTH5 == (1u << FEED_CHANNEL_DEPTH5) &&
                   FEED_BOOK_DEPTH10 == (1u << FEED_CHANNEL_DEPTH10) &&
                   FEED_BOOK_DEPTH20 == (1u << FEED_CHANNEL_DEPTH20) &&
                   FEED_BOOK_BBO == (1u << FEED_CHANNEL_BBO),
               "feed_book bits are the channels' bits");

typedef struct feed_limits {
  uint32_t max_levels;      /* live price levels over all books; size it to the engines' order
                               capacity (a level needs an order). 0 = 1 << 20 */
  uint32_t max_diff_levels; /* changed levels in one market's period (one diff). 0 = 4096 */
  uint32_t max_tick_trades; /* trades in one market's period (one @trades). 0 = 1024 */
  uint32_t snapshot_levels; /* feed.snapshot_levels: levels per side in a snapshot. 0 = 1000 */
} feed_limits;

/* One market's state; read-only for callers (feed_market_at). */
typedef struct feed_market {
  const config_market *cfg;
  const config_asset *quote_asset;
  feed_book book;
  feed_ticker ticker;
  feed_kline klines[FEED_KLINE_COUNT];
  feed_trade *trades[2]; /* double buffer: one accumulates, the other is published */
  uint32_t trade_count;  /* in the accumulating buffer */
  uint8_t trades_acc;    /* index of the accumulating buffer */
  /* Published by the end of period. */
  const feed_trade *published_trades;
  uint32_t published_trade_count;
  feed_ticker_values ticker_values; /* with bid/ask */
  bool tickers_pending;             /* ticker changed since the last feed_tick (for !tickers) */
  bool in_tickers;                  /* part of the !tickers published by the last feed_tick */
  uint32_t changed;                 /* FEED_CHANGED bits of the last end of period */
} feed_market;

typedef struct feed feed;

/*
 * Creates the state for every market of cfg (kept by pointer: it must
 * outlive the feed and not change), sized by limits (NULL = defaults). Every
 * allocation happens here. Returns NULL with a reason in err (errlen bytes)
 * when memory is short.
 */
feed *feed_create(const config *cfg, const feed_limits *limits, char *err, size_t errlen);

/* Frees everything. NULL is allowed. */
void feed_destroy(feed *f);

/* The limits in effect (defaults filled in). */
const feed_limits *feed_get_limits(const feed *f);

/* Number of markets (cfg->market_count). */
unsigned feed_market_count(const feed *f);

/* A market's state, or NULL out of range. Valid until feed_destroy. */
const feed_market *feed_market_at(const feed *f, unsigned market);

/* Applies a level event to its market's book (see feed_book_apply for the statuses). */
feed_status feed_apply_level(feed *f, const feed_level *ev);

/*
 * Applies a trade: the market's @trades buffer, ticker and klines. Returns
 * FEED_OK, FEED_FLUSH (not applied: the trades buffer is full or a kline
 * would close a second candle in this period) or FEED_ERR_INVALID (unknown
 * market or side, price <= 0, qty <= 0, quote < 0).
 */
feed_status feed_apply_trade(feed *f, const feed_trade *ev);

/* feed_apply_level or feed_apply_trade by ev->type (FEED_ERR_INVALID for another type). */
feed_status feed_apply(feed *f, const feed_event *ev);

/*
 * Ends one market's period at now_ms: publishes its diff, top-N, best
 * bid/offer, trades, ticker (rolled to now_ms) and klines, and returns the
 * FEED_CHANGED bits (also kept for feed_changed). The ticker counts as
 * changed when any of its values (bid and ask included) differ from the last
 * published ones. Used by feed_tick, and alone after FEED_FLUSH.
 */
uint32_t feed_end_tick(feed *f, unsigned market, int64_t now_ms);

/*
 * Ends every market's period at now_ms and publishes !tickers: the markets
 * whose ticker changed in this tick or in an early end of period since the
 * previous feed_tick.
 */
void feed_tick(feed *f, int64_t now_ms);

/* FEED_CHANGED bits of the market's last end of period (0 out of range). */
uint32_t feed_changed(const feed *f, unsigned market);

/* True when the last feed_tick published a non-empty !tickers. */
bool feed_tickers_changed(const feed *f);

/*
 * feed_book_bbo_take for a market: for a @bbo pushed more often than once
 * per tick (after each batch from an engine, say). Returns whether the best
 * bid/offer changed since it was last taken; feed_write_bbo writes it.
 */
bool feed_bbo_take(feed *f, unsigned market);

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */
/*
 * Each writes one complete push {"event":"<channel>","ts":ts,"data":...}
 * into buf[0..cap) (not NUL-terminated), stores its length in *len and
 * returns FEED_OK, FEED_ERR_NO_SPACE (buf too small) or FEED_ERR_INVALID
 * (market, interval or limit out of range). Prices and quantities are exact
 * decimal strings (engine_json_price/qty/amount). The data parts are also
 * available alone (feed_json_*) for REST replies and other envelopes.
 */

/*
 * <M>@depth diff: {"U","u","bids":[["p","q"],...],"asks":[...]}; qty "0" =
 * removed. FEED_ERR_INVALID when the market's last end of period published
 * no diff (no FEED_CHANGED(FEED_CHANNEL_DEPTH)).
 */
feed_status feed_write_depth(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                             size_t *len);

/*
 * <M>@depth snapshot: {"snapshot":true,"u","bids","asks"} of the live book,
 * at most limits.snapshot_levels per side. Write it right after an end of
 * period so that the next diff's U is its u + 1.
 */
feed_status feed_write_snapshot(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                                size_t *len);

/* <M>@depth5/10/20 (channel FEED_CHANNEL_DEPTH5/10/20): {"u","bids","asks"}, published top. */
feed_status feed_write_top(const feed *f, unsigned market, feed_channel channel, int64_t ts,
                           char *buf, size_t cap, size_t *len);

/* <M>@trades: [{"id","price","qty","side":"buy|sell" (taker),"ts"},...] of the period. */
feed_status feed_write_trades(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                              size_t *len);

/* <M>@ticker: the published ticker (see feed_ticker for the semantics). */
feed_status feed_write_ticker(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                              size_t *len);

/*
 * <M>@kline_<i>: {"t","o","h","l","c","v","q","n","closed"}: the candle that
 * closed in the period (closed true; FEED_CHANGED_KLINE_CLOSED) or the
 * current one (closed false).
 */
feed_status feed_write_kline(const feed *f, unsigned market, feed_interval interval, bool closed,
                             int64_t ts, char *buf, size_t cap, size_t *len);

/* <M>@bbo: {"u","bid","bid_qty","ask","ask_qty"} as last taken ("0" for an empty side). */
feed_status feed_write_bbo(const feed *f, unsigned market, int64_t ts, char *buf, size_t cap,
                           size_t *len);

/* !tickers: [{"market",ticker fields},...] of the markets the last feed_tick marked. */
feed_status feed_write_tickers(const feed *f, int64_t ts, char *buf, size_t cap, size_t *len);

/*
 * An upper bound on the length of any message feed_write_* writes for the
 * channel under this feed's limits (for FEED_CHANNEL_DEPTH, the larger of a
 * snapshot and a diff), whatever the prices, scales and names: a buffer this
 * large never gets FEED_ERR_NO_SPACE, so the broadcast thread can allocate
 * its buffers once. 0 for an unknown channel.
 */
size_t feed_message_max(const feed *f, feed_channel channel);

/*
 * The data values alone, written into an open json_writer (errors are the
 * writer's, sticky); `market` must be < feed_market_count (and `interval` a
 * feed_interval). feed_json_book writes up to `limit` live levels per side:
 * {"snapshot":true,"u",...} when snapshot, else {"u",...} (REST depth).
 */
void feed_json_depth_diff(json_writer *w, const feed *f, unsigned market);
void feed_json_book(json_writer *w, const feed *f, unsigned market, size_t limit, bool snapshot);
void feed_json_top(json_writer *w, const feed *f, unsigned market, unsigned levels);
void feed_json_trades(json_writer *w, const feed *f, unsigned market);
/* The same from values (REST replies built from published copies on io threads). */
void feed_json_ticker_values(json_writer *w, const config_market *m, const config_asset *quote,
                             const feed_ticker_values *v, bool with_market);
void feed_json_candle(json_writer *w, const config_market *m, const config_asset *quote,
                      const feed_candle *c, bool closed);
void feed_json_ticker(json_writer *w, const feed *f, unsigned market, bool with_market);
void feed_json_kline(json_writer *w, const feed *f, unsigned market, feed_interval interval,
                     bool closed);
void feed_json_bbo(json_writer *w, const feed *f, unsigned market);

/*
 * Writes hundredths as an exact decimal with exactly two decimals ("-1.50",
 * "0.07", "12.00") NUL-terminated into buf (24 bytes); returns the length.
 * The ticker's change_pct.
 */
size_t feed_format_hundredths(int64_t hundredths, char *buf);

#endif
