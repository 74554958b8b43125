/*
 * book.c: order books (see include/bourse/book.h for the structure and why).
 * Thread role: engine thread only.
 *
 * Why hand-written: the book is the hot path of the exchange; generic
 * containers (a libc tsearch tree, a hash map library) allocate per node and
 * chase pointers, where this keeps every order and level in one array and
 * indexes prices directly.
 */
#include "bourse/book.h"

#include "bourse/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Pool                                                                     */

int book_pool_init(book_pool *pool, uint32_t max_orders) {
  memset(pool, 0, sizeof *pool);
  if (max_orders == 0 || max_orders > (UINT32_MAX >> 2)) return -1;
  uint64_t buckets = 1;
  while (buckets < (uint64_t)max_orders * 2) buckets <<= 1;
  pool->orders = calloc((size_t)max_orders + 1, sizeof *pool->orders);
  pool->levels = calloc((size_t)max_orders + 1, sizeof *pool->levels);
  pool->id_buckets = calloc(buckets, sizeof *pool->id_buckets);
  if (!pool->orders || !pool->levels || !pool->id_buckets) {
    book_pool_free(pool);
    return -1;
  }
  pool->order_capacity = max_orders;
  pool->id_mask = buckets - 1;
  pool->order_fresh = 1;
  pool->level_fresh = 1;
  /* The tree shapes never show in any result, so a varying seed costs no determinism. */
  pool->random = (clock_mono_ns() ^ (uint64_t)(uintptr_t)pool) | 1;
  return 0;
}

void book_pool_free(book_pool *pool) {
  free(pool->orders);
  free(pool->levels);
  free(pool->id_buckets);
  memset(pool, 0, sizeof *pool);
}

uint32_t book_order_alloc(book_pool *pool) {
  uint32_t index = pool->order_free;
  if (index) {
    pool->order_free = pool->orders[index].next;
  } else if (pool->order_fresh <= pool->order_capacity) {
    index = pool->order_fresh++;
  } else {
    return 0;
  }
  book_order *o = &pool->orders[index];
  memset(o, 0, sizeof *o);
  pool->orders_used++;
  return index;
}

void book_order_free(book_pool *pool, uint32_t index) {
  book_order *o = &pool->orders[index];
  o->flags = 0;
  o->id = 0;
  o->next = pool->order_free;
  pool->order_free = index;
  pool->orders_used--;
}

/* Levels come from the pool too; book_pool_init sized it so this cannot run dry. */
static uint32_t level_alloc(book_pool *pool, engine_side side, int64_t price) {
  uint32_t index = pool->level_free;
  if (index)
    pool->level_free = pool->levels[index].left;
  else
    index = pool->level_fresh++;
  book_level *l = &pool->levels[index];
  memset(l, 0, sizeof *l);
  l->side = (uint8_t)side;
  l->price = price;
  pool->random ^= pool->random >> 12;
  pool->random ^= pool->random << 25;
  pool->random ^= pool->random >> 27;
  l->priority = (uint32_t)((pool->random * 0x2545f4914f6cdd1dull) >> 32);
  return index;
}

static void level_free(book_pool *pool, uint32_t index) {
  pool->levels[index].left = pool->level_free;
  pool->level_free = index;
}

/* ------------------------------------------------------------------------ */
/* Id index                                                                 */

void book_id_insert(book_pool *pool, uint32_t index) {
  book_order *o = &pool->orders[index];
  uint32_t *bucket = &pool->id_buckets[o->id & pool->id_mask];
  o->id_next = *bucket;
  *bucket = index;
}

void book_id_remove(book_pool *pool, uint32_t index) {
  uint32_t *link = &pool->id_buckets[pool->orders[index].id & pool->id_mask];
  while (*link != index) link = &pool->orders[*link].id_next;
  *link = pool->orders[index].id_next;
}

uint32_t book_id_find(const book_pool *pool, uint64_t id) {
  uint32_t index = pool->id_buckets[id & pool->id_mask];
  while (index && pool->orders[index].id != id) index = pool->orders[index].id_next;
  return index;
}

/* ------------------------------------------------------------------------ */
/* Treap of levels keyed by price (unique within one treap)                 */

/* Splits t into lo (price < key) and hi (price >= key). */
static void treap_split_lt(book_level *lv, uint32_t t, int64_t key, uint32_t *lo, uint32_t *hi) {
  if (!t) {
    *lo = *hi = 0;
  } else if (lv[t].price < key) {
    treap_split_lt(lv, lv[t].right, key, &lv[t].right, hi);
    *lo = t;
  } else {
    treap_split_lt(lv, lv[t].left, key, lo, &lv[t].left);
    *hi = t;
  }
}

/* Splits t into lo (price <= key) and hi (price > key). */
static void treap_split_le(book_level *lv, uint32_t t, int64_t key, uint32_t *lo, uint32_t *hi) {
  if (!t) {
    *lo = *hi = 0;
  } else if (lv[t].price <= key) {
    treap_split_le(lv, lv[t].right, key, &lv[t].right, hi);
    *lo = t;
  } else {
    treap_split_le(lv, lv[t].left, key, lo, &lv[t].left);
    *hi = t;
  }
}

/* Joins a and b where every price of a is below every price of b. */
static uint32_t treap_merge(book_level *lv, uint32_t a, uint32_t b) {
  if (!a) return b;
  if (!b) return a;
  if (lv[a].priority > lv[b].priority) {
    lv[a].right = treap_merge(lv, lv[a].right, b);
    return a;
  }
  lv[b].left = treap_merge(lv, a, lv[b].left);
  return b;
}

static uint32_t treap_insert(book_level *lv, uint32_t root, uint32_t node) {
  uint32_t lo, hi;
  treap_split_lt(lv, root, lv[node].price, &lo, &hi);
  lv[node].left = lv[node].right = 0;
  return treap_merge(lv, treap_merge(lv, lo, node), hi);
}

static uint32_t treap_erase(book_level *lv, uint32_t root, int64_t price) {
  uint32_t lo, mid, hi;
  treap_split_lt(lv, root, price, &lo, &mid);
  treap_split_le(lv, mid, price, &mid, &hi);
  return treap_merge(lv, lo, hi);
}

static uint32_t treap_find(const book_level *lv, uint32_t t, int64_t price) {
  while (t && lv[t].price != price) t = price < lv[t].price ? lv[t].left : lv[t].right;
  return t;
}

static uint32_t treap_min(const book_level *lv, uint32_t t) {
  if (t)
    while (lv[t].left) t = lv[t].left;
  return t;
}

static uint32_t treap_max(const book_level *lv, uint32_t t) {
  if (t)
    while (lv[t].right) t = lv[t].right;
  return t;
}

/* Lowest level with price > key, or 0. */
static uint32_t treap_above(const book_level *lv, uint32_t t, int64_t key) {
  uint32_t best = 0;
  while (t) {
    if (lv[t].price > key) {
      best = t;
      t = lv[t].left;
    } else {
      t = lv[t].right;
    }
  }
  return best;
}

/* Highest level with price < key, or 0. */
static uint32_t treap_below(const book_level *lv, uint32_t t, int64_t key) {
  uint32_t best = 0;
  while (t) {
    if (lv[t].price < key) {
      best = t;
      t = lv[t].right;
    } else {
      t = lv[t].left;
    }
  }
  return best;
}

/* ------------------------------------------------------------------------ */
/* Direct window bitmaps                                                    */

static inline int msb(uint64_t x) {
  return 63 - __builtin_clzll(x);
}

static inline int lsb(uint64_t x) {
  return __builtin_ctzll(x);
}

static inline bool window_contains(const book *b, int64_t price) {
  return price >= b->base && (uint64_t)(price - b->base) < b->window;
}

static void bits_set(book_side *s, uint32_t slot) {
  uint32_t w0 = slot >> 6, w1 = w0 >> 6;
  if (!s->bits0[w0]) {
    if (!s->bits1[w1]) s->bits2 |= 1ull << w1;
    s->bits1[w1] |= 1ull << (w0 & 63);
  }
  s->bits0[w0] |= 1ull << (slot & 63);
}

static void bits_clear(book_side *s, uint32_t slot) {
  uint32_t w0 = slot >> 6, w1 = w0 >> 6;
  s->bits0[w0] &= ~(1ull << (slot & 63));
  if (!s->bits0[w0]) {
    s->bits1[w1] &= ~(1ull << (w0 & 63));
    if (!s->bits1[w1]) s->bits2 &= ~(1ull << w1);
  }
}

/* Highest set slot, or -1. */
static int64_t bits_max(const book_side *s) {
  if (!s->bits2) return -1;
  int w1 = msb(s->bits2);
  int64_t w0 = (int64_t)w1 * 64 + msb(s->bits1[w1]);
  return w0 * 64 + msb(s->bits0[w0]);
}

/* Lowest set slot, or -1. */
static int64_t bits_min(const book_side *s) {
  if (!s->bits2) return -1;
  int w1 = lsb(s->bits2);
  int64_t w0 = (int64_t)w1 * 64 + lsb(s->bits1[w1]);
  return w0 * 64 + lsb(s->bits0[w0]);
}

/* Highest set slot below `slot`, or -1. */
static int64_t bits_below(const book_side *s, uint32_t slot) {
  if (slot == 0) return -1;
  uint32_t p = slot - 1, w0 = p >> 6, w1 = w0 >> 6;
  uint64_t m = s->bits0[w0] & (~0ull >> (63 - (p & 63)));
  if (m) return (int64_t)w0 * 64 + msb(m);
  m = s->bits1[w1] & ((1ull << (w0 & 63)) - 1);
  if (m) {
    uint32_t w = w1 * 64 + (uint32_t)msb(m);
    return (int64_t)w * 64 + msb(s->bits0[w]);
  }
  m = s->bits2 & ((1ull << w1) - 1);
  if (!m) return -1;
  uint32_t v1 = (uint32_t)msb(m);
  uint32_t w = v1 * 64 + (uint32_t)msb(s->bits1[v1]);
  return (int64_t)w * 64 + msb(s->bits0[w]);
}

/* Lowest set slot above `slot`, or -1. */
static int64_t bits_above(const book_side *s, uint32_t slot, uint32_t window) {
  uint32_t p = slot + 1;
  if (p >= window) return -1;
  uint32_t w0 = p >> 6, w1 = w0 >> 6;
  uint64_t m = s->bits0[w0] & (~0ull << (p & 63));
  if (m) return (int64_t)w0 * 64 + lsb(m);
  m = (w0 & 63) == 63 ? 0 : s->bits1[w1] & (~0ull << ((w0 & 63) + 1));
  if (m) {
    uint32_t w = w1 * 64 + (uint32_t)lsb(m);
    return (int64_t)w * 64 + lsb(s->bits0[w]);
  }
  m = w1 == 63 ? 0 : s->bits2 & (~0ull << (w1 + 1));
  if (!m) return -1;
  uint32_t v1 = (uint32_t)lsb(m);
  uint32_t w = v1 * 64 + (uint32_t)lsb(s->bits1[v1]);
  return (int64_t)w * 64 + lsb(s->bits0[w]);
}

/* ------------------------------------------------------------------------ */
/* Book                                                                     */

int book_init(book *b, book_pool *pool, unsigned window_bits) {
  memset(b, 0, sizeof *b);
  if (window_bits < 6 || window_bits > 18) return -1;
  b->pool = pool;
  b->window_bits = window_bits;
  b->window = 1u << window_bits;
  size_t words0 = b->window / 64, words1 = (words0 + 63) / 64;
  b->slots = calloc(b->window, sizeof *b->slots);
  for (int s = 0; s < 2; s++) {
    b->sides[s].bits0 = calloc(words0, sizeof(uint64_t));
    b->sides[s].bits1 = calloc(words1, sizeof(uint64_t));
  }
  if (!b->slots || !b->sides[0].bits0 || !b->sides[0].bits1 || !b->sides[1].bits0 ||
      !b->sides[1].bits1) {
    book_free(b);
    return -1;
  }
  b->stop_up_min = INT64_MAX;
  b->stop_down_max = INT64_MIN;
  return 0;
}

void book_free(book *b) {
  free(b->slots);
  for (int s = 0; s < 2; s++) {
    free(b->sides[s].bits0);
    free(b->sides[s].bits1);
  }
  memset(b, 0, sizeof *b);
}

/* True if price a is better than price b for `side`. */
static inline bool better(engine_side side, int64_t a, int64_t b) {
  return side == ENGINE_SIDE_BUY ? a > b : a < b;
}

/* Best windowed level of a side, or 0. */
static uint32_t window_best(const book *b, engine_side side) {
  const book_side *s = &b->sides[side];
  int64_t slot = side == ENGINE_SIDE_BUY ? bits_max(s) : bits_min(s);
  return slot < 0 ? 0 : b->slots[slot];
}

/* Best fallback level of a side (the one nearest the window), or 0. */
static uint32_t fallback_best(const book *b, engine_side side) {
  const book_level *lv = b->pool->levels;
  uint32_t root = b->sides[side].fallback;
  return side == ENGINE_SIDE_BUY ? treap_max(lv, root) : treap_min(lv, root);
}

static void window_put(book *b, uint32_t index) {
  book_level *l = &b->pool->levels[index];
  uint32_t slot = (uint32_t)(l->price - b->base);
  b->slots[slot] = index;
  bits_set(&b->sides[l->side], slot);
  l->in_window = 1;
  b->sides[l->side].window_levels++;
}

static void window_take(book *b, uint32_t index) {
  book_level *l = &b->pool->levels[index];
  uint32_t slot = (uint32_t)(l->price - b->base);
  b->slots[slot] = 0;
  bits_clear(&b->sides[l->side], slot);
  l->in_window = 0;
  b->sides[l->side].window_levels--;
}

/* Moves the windowed levels of one side back to its fallback tree. */
static void window_drain(book *b, engine_side side) {
  book_side *s = &b->sides[side];
  book_level *lv = b->pool->levels;
  for (int64_t slot = bits_min(s); slot >= 0; slot = bits_min(s)) {
    uint32_t index = b->slots[slot];
    window_take(b, index);
    s->fallback = treap_insert(lv, s->fallback, index);
  }
}

/* Puts every node of treap t into the window (all are in range). */
static void window_fill(book *b, uint32_t t) {
  if (!t) return;
  book_level *lv = b->pool->levels;
  uint32_t left = lv[t].left, right = lv[t].right;
  lv[t].left = lv[t].right = 0;
  window_put(b, t);
  window_fill(b, left);
  window_fill(b, right);
}

/*
 * Moves the window so that `price`, about to become the best level of `side`,
 * falls inside it, keeping the invariant (fallback bids below, asks above).
 */
static void recentre(book *b, engine_side side, int64_t price) {
  const book_level *lv = b->pool->levels;
  int64_t w = b->window;
  uint32_t bid = b->sides[ENGINE_SIDE_BUY].best, ask = b->sides[ENGINE_SIDE_SELL].best;
  bool has_bid = side == ENGINE_SIDE_BUY || bid;
  bool has_ask = side == ENGINE_SIDE_SELL || ask;
  int64_t best_bid = side == ENGINE_SIDE_BUY ? price : (bid ? lv[bid].price : 0);
  int64_t best_ask = side == ENGINE_SIDE_SELL ? price : (ask ? lv[ask].price : 0);
  int64_t centre = has_bid && has_ask ? best_bid + (best_ask - best_bid) / 2 : price;
  int64_t lo = price - w + 1, hi = price;
  if (has_bid && best_bid - w + 1 > lo) lo = best_bid - w + 1;
  if (has_ask && best_ask < hi) hi = best_ask;
  if (lo < 0) lo = 0;
  if (hi > INT64_MAX - w + 1) hi = INT64_MAX - w + 1;
  int64_t base = centre - w / 2;
  if (base < lo) base = lo;
  if (base > hi) base = hi;

  window_drain(b, ENGINE_SIDE_BUY);
  window_drain(b, ENGINE_SIDE_SELL);
  b->base = base;
  for (int s = 0; s < 2; s++) {
    uint32_t below, inside, above;
    treap_split_lt(b->pool->levels, b->sides[s].fallback, base, &below, &inside);
    treap_split_le(b->pool->levels, inside, base + (w - 1), &inside, &above);
    b->sides[s].fallback = treap_merge(b->pool->levels, below, above);
    window_fill(b, inside);
  }
  b->recentres++;
}

/* Creates the level for (side, price) and indexes it. */
static uint32_t level_create(book *b, engine_side side, int64_t price) {
  book_side *s = &b->sides[side];
  book_level *lv = b->pool->levels;
  bool new_best = !s->best || better(side, price, lv[s->best].price);
  if (!window_contains(b, price)) {
    bool breaks_invariant = side == ENGINE_SIDE_BUY ? price >= b->base : price < b->base;
    bool window_empty =
        b->sides[ENGINE_SIDE_BUY].window_levels + b->sides[ENGINE_SIDE_SELL].window_levels == 0;
    if (breaks_invariant || (window_empty && new_best)) recentre(b, side, price);
  }
  uint32_t index = level_alloc(b->pool, side, price);
  if (window_contains(b, price))
    window_put(b, index);
  else
    s->fallback = treap_insert(lv, s->fallback, index);
  if (new_best) s->best = index;
  s->levels++;
  return index;
}

/* Drops an empty level and finds the side's new best if it was the best. */
static void level_destroy(book *b, uint32_t index) {
  book_level *l = &b->pool->levels[index];
  engine_side side = (engine_side)l->side;
  book_side *s = &b->sides[side];
  if (l->in_window)
    window_take(b, index);
  else
    s->fallback = treap_erase(b->pool->levels, s->fallback, l->price);
  if (s->best == index) s->best = s->window_levels ? window_best(b, side) : fallback_best(b, side);
  s->levels--;
  level_free(b->pool, index);
}

static uint32_t level_find(const book *b, engine_side side, int64_t price) {
  if (window_contains(b, price)) {
    uint32_t index = b->slots[price - b->base];
    return index && b->pool->levels[index].side == side ? index : 0;
  }
  return treap_find(b->pool->levels, b->sides[side].fallback, price);
}

/* Appends order `index` to level `li`'s FIFO. */
static void fifo_push(book_pool *pool, uint32_t li, uint32_t index) {
  book_level *l = &pool->levels[li];
  book_order *o = &pool->orders[index];
  o->level = li;
  o->next = 0;
  o->prev = l->tail;
  if (l->tail)
    pool->orders[l->tail].next = index;
  else
    l->head = index;
  l->tail = index;
  l->count++;
}

/* Unlinks order `index` from level `li`'s FIFO. */
static void fifo_unlink(book_pool *pool, uint32_t li, uint32_t index) {
  book_level *l = &pool->levels[li];
  book_order *o = &pool->orders[index];
  if (o->prev)
    pool->orders[o->prev].next = o->next;
  else
    l->head = o->next;
  if (o->next)
    pool->orders[o->next].prev = o->prev;
  else
    l->tail = o->prev;
  o->next = o->prev = 0;
  o->level = 0;
  l->count--;
}

void book_insert(book *b, uint32_t index) {
  book_order *o = &b->pool->orders[index];
  engine_side side = (engine_side)o->side;
  uint32_t li = level_find(b, side, o->price);
  if (!li) li = level_create(b, side, o->price);
  fifo_push(b->pool, li, index);
  b->pool->levels[li].total += o->qty - o->filled;
  o->flags |= BOOK_ORDER_RESTING;
  if (b->on_level) b->on_level(b->on_level_ctx, o->side, o->price, b->pool->levels[li].total);
}

void book_erase(book *b, uint32_t index) {
  book_order *o = &b->pool->orders[index];
  uint32_t li = o->level;
  book_level *l = &b->pool->levels[li];
  l->total -= o->qty - o->filled;
  int64_t price = l->price, total = l->total;
  fifo_unlink(b->pool, li, index);
  o->flags &= (uint8_t)~BOOK_ORDER_RESTING;
  if (l->count == 0) level_destroy(b, li);
  if (b->on_level) b->on_level(b->on_level_ctx, o->side, price, total);
}

uint32_t book_next_level(const book *b, uint32_t level) {
  const book_level *lv = b->pool->levels;
  const book_level *l = &lv[level];
  engine_side side = (engine_side)l->side;
  const book_side *s = &b->sides[side];
  if (l->in_window) {
    uint32_t slot = (uint32_t)(l->price - b->base);
    int64_t next = side == ENGINE_SIDE_BUY ? bits_below(s, slot) : bits_above(s, slot, b->window);
    if (next >= 0) return b->slots[next];
    return fallback_best(b, side);
  }
  return side == ENGINE_SIDE_BUY ? treap_below(lv, s->fallback, l->price)
                                 : treap_above(lv, s->fallback, l->price);
}

size_t book_depth(const book *b, engine_side side, engine_level *out, size_t max) {
  size_t n = 0;
  for (uint32_t li = b->sides[side].best; li && n < max; li = book_next_level(b, li)) {
    out[n].price = b->pool->levels[li].price;
    out[n].qty = b->pool->levels[li].total;
    n++;
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* Stops                                                                    */

static void stops_refresh(book *b) {
  const book_level *lv = b->pool->levels;
  uint32_t up = treap_min(lv, b->stops_up), down = treap_max(lv, b->stops_down);
  b->stop_up_min = up ? lv[up].price : INT64_MAX;
  b->stop_down_max = down ? lv[down].price : INT64_MIN;
}

void book_stop_insert(book *b, uint32_t index) {
  book_order *o = &b->pool->orders[index];
  bool up = (o->flags & BOOK_ORDER_STOP_UP) != 0;
  uint32_t *root = up ? &b->stops_up : &b->stops_down;
  uint32_t li = treap_find(b->pool->levels, *root, o->stop);
  if (!li) {
    li = level_alloc(b->pool, (engine_side)o->side, o->stop);
    *root = treap_insert(b->pool->levels, *root, li);
  }
  fifo_push(b->pool, li, index);
  o->flags |= BOOK_ORDER_STOPPED;
  b->stop_count++;
  stops_refresh(b);
}

void book_stop_erase(book *b, uint32_t index) {
  book_order *o = &b->pool->orders[index];
  uint32_t *root = (o->flags & BOOK_ORDER_STOP_UP) ? &b->stops_up : &b->stops_down;
  uint32_t li = o->level;
  fifo_unlink(b->pool, li, index);
  o->flags &= (uint8_t)~BOOK_ORDER_STOPPED;
  if (b->pool->levels[li].count == 0) {
    *root = treap_erase(b->pool->levels, *root, b->pool->levels[li].price);
    level_free(b->pool, li);
  }
  b->stop_count--;
  stops_refresh(b);
}

/* Moves every order of stop level li to out[n...]; frees the level. Returns the new n. */
static size_t stop_level_take(book *b, uint32_t *root, uint32_t li, uint32_t *out, size_t n) {
  book_pool *pool = b->pool;
  while (pool->levels[li].head) {
    uint32_t index = pool->levels[li].head;
    fifo_unlink(pool, li, index);
    pool->orders[index].flags &= (uint8_t)~BOOK_ORDER_STOPPED;
    out[n++] = index;
    b->stop_count--;
  }
  *root = treap_erase(pool->levels, *root, pool->levels[li].price);
  level_free(pool, li);
  return n;
}

/* Moves out[i] down the max-heap out[0..n) ordered by order id. */
static void sift_down(const book_pool *pool, uint32_t *out, size_t i, size_t n) {
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) return;
    if (child + 1 < n && pool->orders[out[child + 1]].id > pool->orders[out[child]].id) child++;
    if (pool->orders[out[i]].id >= pool->orders[out[child]].id) return;
    uint32_t t = out[i];
    out[i] = out[child];
    out[child] = t;
    i = child;
  }
}

/* Sorts order indexes by id in place. Heapsort: libc's qsort may allocate. */
static void sort_by_id(const book_pool *pool, uint32_t *out, size_t n) {
  for (size_t i = n / 2; i-- > 0;) sift_down(pool, out, i, n);
  for (size_t end = n; end-- > 1;) {
    uint32_t t = out[0];
    out[0] = out[end];
    out[end] = t;
    sift_down(pool, out, 0, end);
  }
}

size_t book_stop_take_triggered(book *b, int64_t last, uint32_t *out) {
  size_t n = 0;
  book_level *lv = b->pool->levels;
  for (uint32_t li = treap_min(lv, b->stops_up); li && lv[li].price <= last;
       li = treap_min(lv, b->stops_up))
    n = stop_level_take(b, &b->stops_up, li, out, n);
  for (uint32_t li = treap_max(lv, b->stops_down); li && lv[li].price >= last;
       li = treap_max(lv, b->stops_down))
    n = stop_level_take(b, &b->stops_down, li, out, n);
  if (n > 1) sort_by_id(b->pool, out, n);
  stops_refresh(b);
  return n;
}

/* ------------------------------------------------------------------------ */
/* Self-check                                                               */

static int check_fail(char *err, size_t errlen, const char *what, int64_t a, int64_t b2) {
  snprintf(err, errlen, "book: %s (%lld vs %lld)", what, (long long)a, (long long)b2);
  return -1;
}

static int check_level(const book *b, uint32_t li, char *err, size_t errlen) {
  const book_pool *pool = b->pool;
  const book_level *l = &pool->levels[li];
  int64_t total = 0;
  uint32_t count = 0, prev = 0;
  for (uint32_t oi = l->head; oi; oi = pool->orders[oi].next) {
    const book_order *o = &pool->orders[oi];
    if (o->prev != prev) return check_fail(err, errlen, "fifo prev link", o->prev, prev);
    if (o->level != li) return check_fail(err, errlen, "order level", o->level, li);
    if (!(o->flags & BOOK_ORDER_RESTING)) return check_fail(err, errlen, "not resting", oi, 0);
    if (o->price != l->price) return check_fail(err, errlen, "order price", o->price, l->price);
    if (o->side != l->side) return check_fail(err, errlen, "order side", o->side, l->side);
    if (o->qty - o->filled <= 0) return check_fail(err, errlen, "empty order", oi, 0);
    total += o->qty - o->filled;
    count++;
    prev = oi;
  }
  if (prev != l->tail) return check_fail(err, errlen, "fifo tail", l->tail, prev);
  if (count != l->count || count == 0)
    return check_fail(err, errlen, "level count", l->count, count);
  if (total != l->total) return check_fail(err, errlen, "level total", l->total, total);
  return 0;
}

static int check_side(const book *b, engine_side side, char *err, size_t errlen) {
  const book_side *s = &b->sides[side];
  const book_level *lv = b->pool->levels;
  uint32_t levels = 0, windowed = 0;
  int64_t prev_price = 0;
  for (uint32_t li = s->best; li; li = book_next_level(b, li)) {
    const book_level *l = &lv[li];
    if (l->side != side) return check_fail(err, errlen, "level side", l->side, side);
    if (levels && !better(side, prev_price, l->price))
      return check_fail(err, errlen, "level order", prev_price, l->price);
    if (level_find(b, side, l->price) != li) return check_fail(err, errlen, "level index", li, 0);
    if (l->in_window != window_contains(b, l->price))
      return check_fail(err, errlen, "window flag", l->price, b->base);
    if (!l->in_window && (side == ENGINE_SIDE_BUY ? l->price >= b->base : l->price < b->base))
      return check_fail(err, errlen, "fallback invariant", l->price, b->base);
    windowed += l->in_window;
    if (check_level(b, li, err, errlen)) return -1;
    prev_price = l->price;
    levels++;
  }
  if (levels != s->levels) return check_fail(err, errlen, "side level count", s->levels, levels);
  if (windowed != s->window_levels)
    return check_fail(err, errlen, "window level count", s->window_levels, windowed);
  uint32_t bits = 0, words0 = b->window / 64;
  for (uint32_t w = 0; w < words0; w++) {
    bits += (uint32_t)__builtin_popcountll(s->bits0[w]);
    bool set1 = (s->bits1[w >> 6] >> (w & 63)) & 1;
    if (set1 != (s->bits0[w] != 0)) return check_fail(err, errlen, "bits1", w, set1);
  }
  for (uint32_t w = 0; w < (words0 + 63) / 64; w++) {
    bool set2 = (s->bits2 >> w) & 1;
    if (set2 != (s->bits1[w] != 0)) return check_fail(err, errlen, "bits2", w, set2);
  }
  if (bits != windowed) return check_fail(err, errlen, "bitmap population", bits, windowed);
  return 0;
}

int book_check(const book *b, char *err, size_t errlen) {
  if (check_side(b, ENGINE_SIDE_BUY, err, errlen) || check_side(b, ENGINE_SIDE_SELL, err, errlen))
    return -1;
  uint32_t bid = b->sides[ENGINE_SIDE_BUY].best, ask = b->sides[ENGINE_SIDE_SELL].best;
  const book_level *lv = b->pool->levels;
  if (bid && ask && lv[bid].price >= lv[ask].price)
    return check_fail(err, errlen, "crossed book", lv[bid].price, lv[ask].price);
  int64_t up = treap_min(lv, b->stops_up) ? lv[treap_min(lv, b->stops_up)].price : INT64_MAX;
  int64_t down = treap_max(lv, b->stops_down) ? lv[treap_max(lv, b->stops_down)].price : INT64_MIN;
  if (up != b->stop_up_min || down != b->stop_down_max)
    return check_fail(err, errlen, "stop cache", b->stop_up_min, up);
  return 0;
}
