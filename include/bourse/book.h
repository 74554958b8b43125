/*
 * book.h: order books: the price levels of one market with their FIFO
 * queues of orders, the market's untriggered stop orders, and the pool every
 * book of an engine takes its orders and levels from.
 *
 * Thread role: engine thread only (owned by one engine; not thread-safe).
 *
 * Structure, and why. Orders and levels live in two arrays allocated once
 * (book_pool); they refer to each other by 32-bit index (0 = none), so a
 * pool never moves and no order costs a malloc. An order id maps to its index
 * through a chained hash whose bucket is `id & mask`: ids are issued in
 * sequence, so consecutive ids land in distinct buckets and a lookup is one
 * probe.
 *
 * A level is a FIFO (intrusive doubly-linked list) of orders at one price, with
 * its aggregated quantity. Each book indexes its levels by price in two ways:
 *  - a direct window: an array of 2^bits level indexes covering prices
 *    [base, base + 2^bits), shared by both sides (a bid and an ask never rest
 *    at the same price), plus per side a three-level bitmap (64-ary) of
 *    occupied slots. Finding a level, adding one and removing one are O(1);
 *    the best price after removing the best is three count-leading-zero
 *    instructions.
 *  - a fallback treap (randomised balanced tree keyed by price, each level's
 *    priority drawn at random when it is created, so no choice of prices by
 *    a user can unbalance it) per side for prices outside the window, O(log n).
 * Invariant: every fallback bid is below the window and every fallback ask
 * above it, so any windowed level beats every fallback level of its side.
 * A level that would break it (a bid above the window, an ask below it), or a
 * new best while the window is empty, re-centres the window on the spread
 * (O(window/64 + levels moved)); a book that drifts by more than a window
 * pays that once per drift, not per order.
 *
 * Untriggered stop orders of a market sit in two more treaps of levels keyed
 * by stop price (one per trigger direction), each level a FIFO in id order.
 */
#ifndef BOURSE_BOOK_H
#define BOURSE_BOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bourse/engine.h"

/* book_order.flags */
#define BOOK_ORDER_BY_QUOTE 0x01u /* market buy sized by quote_qty, not qty */
#define BOOK_ORDER_STOP_UP  0x02u /* stop triggers when last >= stop (else last <= stop) */
#define BOOK_ORDER_RESTING  0x04u /* on a price level of its book */
#define BOOK_ORDER_STOPPED  0x08u /* untriggered, in its book's stop set */
#define BOOK_ORDER_HAS_CID  0x10u /* client_id is set and indexed */

/*
 * An order. The first 64 bytes are what matching touches; the rest is
 * bookkeeping for events, cancels and client ids.
 */
typedef struct book_order {
  uint32_t next, prev; /* FIFO links in its level (or the trigger queue: next) */
  uint32_t level;      /* level index while resting or stopped */
  uint32_t id_next;    /* id hash chain */
  uint64_t id;
  uint64_t uid;
  int64_t price;  /* limit price in ticks; 0 for market orders */
  int64_t qty;    /* total lots (amend changes it); 0 for a market buy by quote */
  int64_t filled; /* lots filled so far */
  int64_t hold;   /* units of the held asset still locked for this order */
  /* -- */
  uint8_t side, type, tif, stp, post_only;
  uint8_t status;    /* engine_status */
  uint8_t flags;     /* BOOK_ORDER_* */
  uint8_t user_slot; /* position in user_chunk */
  uint32_t market;
  int64_t stop;         /* stop price in ticks */
  int64_t quote_qty;    /* market buy budget in quote units */
  int64_t filled_quote; /* quote units traded */
  int64_t created_ms;
  uint32_t user;                  /* index of the owner's record in the engine's user table */
  uint32_t user_chunk;            /* the chunk of the owner's order list holding this order */
  uint32_t cid_next;              /* client_id hash chain */
  uint32_t acct_base, acct_quote; /* the owner's balance handles (engine_internal.h) */
  uint64_t cid_hash;
  char client_id[ENGINE_CLIENT_ID_MAX + 1];
} book_order;

/* A price level (or a stop level: same shape, keyed by stop price). */
typedef struct book_level {
  int64_t price;
  int64_t total;        /* lots open over its orders */
  uint32_t head, tail;  /* FIFO of orders */
  uint32_t count;       /* orders in the FIFO */
  uint32_t left, right; /* fallback / stop treap children; left = free-list link when free */
  uint8_t side;         /* engine_side */
  uint8_t in_window;    /* 1 while indexed by the direct window */
  uint16_t reserved;
  uint32_t priority; /* treap heap key: random, so no choice of prices can unbalance a tree */
} book_level;

typedef struct book_pool {
  book_order *orders; /* [0] unused: index 0 means none */
  book_level *levels;
  uint32_t order_capacity;
  uint32_t order_free;  /* head of the free list, through book_order.next */
  uint32_t order_fresh; /* next never-used order; the free list is empty until it passes the end */
  uint32_t orders_used;
  uint32_t level_free;  /* head of the free list, through book_level.left */
  uint32_t level_fresh; /* next never-used level */
  uint64_t random;      /* xorshift state for level priorities, seeded from the clock */
  uint32_t *id_buckets;
  uint64_t id_mask;
} book_pool;

/* One side of a book. */
typedef struct book_side {
  uint32_t best; /* best level, 0 = side empty */
  uint32_t window_levels;
  uint32_t fallback; /* treap root of levels outside the window */
  uint32_t levels;   /* all levels on this side */
  uint64_t *bits0;   /* one bit per window slot */
  uint64_t *bits1;   /* one bit per non-zero word of bits0 */
  uint64_t bits2;    /* one bit per non-zero word of bits1 */
} book_side;

/* Called after a price level's aggregated quantity changed (total 0: the level is gone). */
typedef void book_level_fn(void *ctx, uint8_t side, int64_t price, int64_t total);

typedef struct book {
  book_pool *pool;
  book_level_fn *on_level; /* NULL: no notifications */
  void *on_level_ctx;
  int64_t base;    /* first price of the window */
  uint32_t window; /* 2^bits slots */
  unsigned window_bits;
  uint32_t *slots;     /* window slot -> level index, 0 = none */
  book_side sides[2];  /* [ENGINE_SIDE_BUY], [ENGINE_SIDE_SELL] */
  uint32_t stops_up;   /* treap of stop levels triggering when last >= stop */
  uint32_t stops_down; /* treap of stop levels triggering when last <= stop */
  uint32_t stop_count;
  int64_t stop_up_min;   /* lowest stop of stops_up, INT64_MAX if none */
  int64_t stop_down_max; /* highest stop of stops_down, INT64_MIN if none */
  uint64_t recentres;    /* how many times the window moved (for tests and benches) */
} book;

/*
 * Allocates a pool of max_orders orders and as many levels (a level never
 * exists without an order). The arrays are zeroed and handed out from the
 * start, so memory is only touched as the pool is used. Returns 0, or -1
 * when memory is short.
 */
int book_pool_init(book_pool *pool, uint32_t max_orders);

/* Frees what book_pool_init allocated. */
void book_pool_free(book_pool *pool);

/* Takes a zeroed order from the pool; returns its index, or 0 when the pool is exhausted. */
uint32_t book_order_alloc(book_pool *pool);

/* Returns an order to the pool. It must be out of every book, index and list. */
void book_order_free(book_pool *pool, uint32_t index);

/* The order at `index` (index != 0). */
static inline book_order *book_order_at(const book_pool *pool, uint32_t index) {
  return &pool->orders[index];
}

/* The level at `index` (index != 0). */
static inline book_level *book_level_at(const book_pool *pool, uint32_t index) {
  return &pool->levels[index];
}

/* Indexes order `index` by its id (which must be set and not indexed yet). */
void book_id_insert(book_pool *pool, uint32_t index);

/* Removes order `index` from the id index. */
void book_id_remove(book_pool *pool, uint32_t index);

/* Index of the open order with this id, or 0. */
uint32_t book_id_find(const book_pool *pool, uint64_t id);

/*
 * Prepares an empty book drawing from `pool`, with a direct window of
 * 2^window_bits prices (6 <= window_bits <= 18). Returns 0, or -1 when
 * memory is short.
 */
int book_init(book *b, book_pool *pool, unsigned window_bits);

/* Frees the book's window (its orders belong to the pool). */
void book_free(book *b);

/*
 * Appends order `index` (side, price, qty - filled set) at the back of its
 * price level, creating the level if needed. Sets BOOK_ORDER_RESTING.
 */
void book_insert(book *b, uint32_t index);

/* Unlinks a resting order from its level, dropping the level when it empties. */
void book_erase(book *b, uint32_t index);

/* A resting order's open quantity went down by `lots` (a fill or an amend): keeps the level total.
 */
static inline void book_reduce(book *b, uint32_t index, int64_t lots) {
  const book_order *o = book_order_at(b->pool, index);
  book_level *l = book_level_at(b->pool, o->level);
  l->total -= lots;
  if (b->on_level) b->on_level(b->on_level_ctx, o->side, l->price, l->total);
}

/* Best level of a side (0 = empty). */
static inline uint32_t book_best(const book *b, engine_side side) {
  return b->sides[side].best;
}

/* The level after `level` on its side, worse by price (0 = none). */
uint32_t book_next_level(const book *b, uint32_t level);

/* Aggregated levels of a side, best first; returns how many were written. */
size_t book_depth(const book *b, engine_side side, engine_level *out, size_t max);

/*
 * Adds an untriggered stop order (stop, id, BOOK_ORDER_STOP_UP set) to the
 * stop set; sets BOOK_ORDER_STOPPED. Orders must be added in increasing id.
 */
void book_stop_insert(book *b, uint32_t index);

/* Removes an untriggered stop order (a cancel). */
void book_stop_erase(book *b, uint32_t index);

/*
 * Removes every stop whose condition holds at last price `last` and writes
 * their indexes into out (room for every stop of the book), in id order.
 * Returns how many.
 */
size_t book_stop_take_triggered(book *b, int64_t last, uint32_t *out);

/* True if some stop of the book would trigger at last price `last`. O(1). */
static inline bool book_stop_any_triggered(const book *b, int64_t last) {
  return last >= b->stop_up_min || last <= b->stop_down_max;
}

/*
 * Consistency check for tests: level totals and counts, best levels, window
 * bitmaps and slots, fallback ordering and the window invariant. Returns 0 or
 * -1 with a description in err.
 */
int book_check(const book *b, char *err, size_t errlen);

#endif
