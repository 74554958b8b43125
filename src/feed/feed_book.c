/*
 * feed_book.c: the broadcast thread's mirror of each order book, built from
 * the engines' level events, with the per-period conflated diff, the top-N
 * levels and the best bid/offer (see include/bourse/feed.h for the structure
 * and why a skip list).
 *
 * Thread role: broadcast thread only.
 *
 * Why hand-written: libc has no ordered container but tsearch (a malloc per
 * node, no in-order walk from a given node); the mirror must not allocate
 * after start and must walk the best N levels cheaply every tick.
 */
#include "bourse/feed.h"

#include "bourse/clock.h"

#include <stdlib.h>
#include <string.h>

/* Heights 1..12 with p = 1/4 per level: balanced up to 4^12 (16 M) levels a side. */
#define SKIP_HEIGHT 12

struct feed_node {
  int64_t price;
  int64_t qty;       /* 0 = removed in the current period (kept, dirty, until its end) */
  int64_t start_qty; /* while dirty: qty when the period began (0 = the level was absent) */
  uint32_t next[SKIP_HEIGHT];
  uint8_t height;
  uint8_t side;
  uint8_t dirty;
};

/* One dirty level being sorted into the diff: rank ascending = best first. */
typedef struct sort_entry {
  int64_t rank; /* -price for bids, price for asks */
  uint32_t node;
} sort_entry;

static inline feed_node *node_at(const feed_book_pool *pool, uint32_t index) {
  return &pool->nodes[index];
}

/* True when price a comes before price b on `side` (bids descending, asks ascending). */
static inline bool before(unsigned side, int64_t a, int64_t b) {
  return side == ENGINE_SIDE_BUY ? a > b : a < b;
}

/* ------------------------------------------------------------------------ */
/* Pool                                                                     */

int feed_book_pool_init(feed_book_pool *pool, uint32_t max_levels, uint32_t max_books,
                        uint32_t max_diff) {
  memset(pool, 0, sizeof *pool);
  if (max_levels == 0 || max_books == 0 || max_diff == 0) return -1;
  /* Nodes: every live level, each book's removed-but-dirty levels (at most max_diff) and its two
   * heads, plus index 0. Sized so that allocation can only fail past max_levels. */
  uint64_t per_book = (uint64_t)max_diff + 2;
  uint64_t capacity = (uint64_t)max_levels + per_book * max_books + 1;
  if (capacity > UINT32_MAX) return -1;
  pool->nodes = calloc((size_t)capacity, sizeof *pool->nodes);
  pool->sort_scratch = calloc(max_diff, sizeof(sort_entry));
  if (!pool->nodes || !pool->sort_scratch) {
    feed_book_pool_free(pool);
    return -1;
  }
  pool->capacity = (uint32_t)capacity;
  pool->fresh = 1;
  pool->max_live = max_levels;
  pool->max_diff = max_diff;
  pool->max_books = max_books;
  /* Heights never show in any result, so a varying seed costs no determinism. */
  pool->random = (clock_mono_ns() ^ (uint64_t)(uintptr_t)pool) | 1;
  return 0;
}

void feed_book_pool_free(feed_book_pool *pool) {
  free(pool->nodes);
  free(pool->sort_scratch);
  memset(pool, 0, sizeof *pool);
}

static uint32_t node_alloc(feed_book_pool *pool, unsigned height) {
  uint32_t index = pool->free_list;
  if (index) {
    pool->free_list = pool->nodes[index].next[0];
  } else if (pool->fresh < pool->capacity) {
    index = pool->fresh++;
  } else {
    return 0;
  }
  feed_node *n = node_at(pool, index);
  memset(n, 0, sizeof *n);
  n->height = (uint8_t)height;
  return index;
}

static void node_free(feed_book_pool *pool, uint32_t index) {
  feed_node *n = node_at(pool, index);
  n->next[0] = pool->free_list;
  pool->free_list = index;
}

/* 1 + the number of trailing pairs of zero bits: height h with probability (3/4)(1/4)^(h-1). */
static unsigned random_height(feed_book_pool *pool) {
  pool->random ^= pool->random >> 12;
  pool->random ^= pool->random << 25;
  pool->random ^= pool->random >> 27;
  uint64_t r = pool->random * 0x2545f4914f6cdd1dull;
  unsigned height = 1;
  while (height < SKIP_HEIGHT && (r & 3) == 0) {
    height++;
    r >>= 2;
  }
  return height;
}

/* ------------------------------------------------------------------------ */
/* Book                                                                     */

int feed_book_init(feed_book *b, feed_book_pool *pool) {
  memset(b, 0, sizeof *b);
  if (pool->books == pool->max_books) return -1;
  b->pool = pool;
  b->dirty = calloc(pool->max_diff, sizeof *b->dirty);
  b->diff = calloc(pool->max_diff, sizeof *b->diff);
  if (!b->dirty || !b->diff) {
    feed_book_free(b);
    return -1;
  }
  for (unsigned side = 0; side < 2; side++) {
    b->head[side] = node_alloc(pool, SKIP_HEIGHT);
    if (!b->head[side]) {
      feed_book_free(b);
      return -1;
    }
    b->height[side] = 1;
  }
  pool->books++;
  return 0;
}

void feed_book_free(feed_book *b) {
  free(b->dirty);
  free(b->diff);
  b->dirty = NULL;
  b->diff = NULL;
}

/*
 * Finds the first node of `side` whose price is not before `price`, filling
 * update[level] with the last node before it at each level. Returns that
 * node's index (0 at the end of the list).
 */
static uint32_t search(const feed_book *b, unsigned side, int64_t price,
                       uint32_t update[SKIP_HEIGHT]) {
  const feed_book_pool *pool = b->pool;
  uint32_t x = b->head[side];
  for (int level = b->height[side] - 1; level >= 0; level--) {
    uint32_t n;
    while ((n = node_at(pool, x)->next[level]) != 0 && before(side, node_at(pool, n)->price, price))
      x = n;
    update[level] = x;
  }
  return node_at(pool, x)->next[0];
}

/* Links node `index` (price set) after update[] on `side`. */
static void link_node(feed_book *b, unsigned side, uint32_t index, uint32_t update[SKIP_HEIGHT]) {
  feed_book_pool *pool = b->pool;
  feed_node *n = node_at(pool, index);
  for (unsigned level = b->height[side]; level < n->height; level++) update[level] = b->head[side];
  if (n->height > b->height[side]) b->height[side] = n->height;
  for (unsigned level = 0; level < n->height; level++) {
    feed_node *prev = node_at(pool, update[level]);
    n->next[level] = prev->next[level];
    prev->next[level] = index;
  }
}

/* Unlinks and frees the node at `price` on `side` (it must be there). */
static void unlink_node(feed_book *b, unsigned side, int64_t price) {
  feed_book_pool *pool = b->pool;
  uint32_t update[SKIP_HEIGHT];
  uint32_t index = search(b, side, price, update);
  feed_node *n = node_at(pool, index);
  for (unsigned level = 0; level < n->height; level++)
    node_at(pool, update[level])->next[level] = n->next[level];
  const feed_node *head = node_at(pool, b->head[side]);
  while (b->height[side] > 1 && head->next[b->height[side] - 1] == 0) b->height[side]--;
  node_free(pool, index);
}

static void mark_dirty(feed_book *b, uint32_t index) {
  feed_node *n = node_at(b->pool, index);
  n->dirty = 1;
  n->start_qty = n->qty;
  b->dirty[b->dirty_count++] = index;
}

/* Hot path: one call per level event from an engine. */
feed_status feed_book_apply(feed_book *b, unsigned side, int64_t price, int64_t qty,
                            uint64_t update_id) {
  if (side > 1 || price <= 0 || qty < 0 || update_id == 0) return FEED_ERR_INVALID;
  if (b->last_id != 0 && update_id <= b->last_id) return FEED_ERR_STALE;
  feed_book_pool *pool = b->pool;
  uint32_t update[SKIP_HEIGHT];
  uint32_t index = search(b, side, price, update);
  feed_node *n = index ? node_at(pool, index) : NULL;
  if (n && n->price != price) n = NULL;

  /* Every check comes before the first change, so a refused event leaves no trace. */
  bool becomes_live = qty > 0 && (!n || n->qty == 0);
  bool needs_dirty = (n && !n->dirty) || (!n && qty > 0);
  if (needs_dirty && b->dirty_count == pool->max_diff) return FEED_FLUSH;
  if (becomes_live && pool->live >= pool->max_live) return FEED_ERR_FULL;

  if (!n && qty > 0) {
    index = node_alloc(pool, random_height(pool));
    if (!index) return FEED_ERR_FULL; /* cannot happen: the pool is sized for max_live */
    n = node_at(pool, index);
    n->price = price;
    n->side = (uint8_t)side;
    link_node(b, side, index, update);
  }
  if (n) {
    if (!n->dirty) mark_dirty(b, index);
    if (becomes_live) {
      pool->live++;
      b->levels[side]++;
    } else if (n->qty > 0 && qty == 0) {
      pool->live--;
      b->levels[side]--;
    }
    n->qty = qty;
    b->top_stale = true;
  }

  feed_status status = FEED_OK;
  if (b->last_id != 0 && update_id != b->last_id + 1) {
    b->gaps++;
    status = FEED_GAP;
  }
  if (b->first_id == 0) b->first_id = update_id;
  b->last_id = update_id;
  return status;
}

/* ------------------------------------------------------------------------ */
/* End of period                                                            */

static bool rank_less(const sort_entry *a, const sort_entry *b) {
  return a->rank < b->rank;
}

static void sift_down(sort_entry *v, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && rank_less(&v[child], &v[child + 1])) child++;
    if (!rank_less(&v[root], &v[child])) return;
    sort_entry t = v[root];
    v[root] = v[child];
    v[child] = t;
    root = child;
  }
}

/* In-place heapsort by rank. Why not qsort: glibc's qsort may call malloc for its merge buffer. */
static void sort_entries(sort_entry *v, size_t n) {
  for (size_t i = n / 2; i-- > 0;) sift_down(v, i, n);
  for (size_t end = n; end-- > 1;) {
    sort_entry t = v[0];
    v[0] = v[end];
    v[end] = t;
    sift_down(v, 0, end);
  }
}

/* Copies sorted dirty levels whose quantity differs from the period's start into out. */
static uint32_t copy_changed(const feed_book_pool *pool, const sort_entry *v, size_t n,
                             engine_level *out) {
  uint32_t count = 0;
  for (size_t i = 0; i < n; i++) {
    const feed_node *node = node_at(pool, v[i].node);
    if (node->qty != node->start_qty)
      out[count++] = (engine_level){.price = node->price, .qty = node->qty};
  }
  return count;
}

static void publish_diff(feed_book *b) {
  feed_book_pool *pool = b->pool;
  sort_entry *v = pool->sort_scratch;
  uint32_t total = b->dirty_count, bids = 0, asks = 0;
  /* Bids fill the scratch from the front, asks from the back. */
  for (uint32_t i = 0; i < total; i++) {
    const feed_node *n = node_at(pool, b->dirty[i]);
    if (n->side == ENGINE_SIDE_BUY)
      v[bids++] = (sort_entry){.rank = -n->price, .node = b->dirty[i]};
    else
      v[total - ++asks] = (sort_entry){.rank = n->price, .node = b->dirty[i]};
  }
  sort_entries(v, bids);
  sort_entries(v + bids, asks);
  b->diff_bids = copy_changed(pool, v, bids, b->diff);
  b->diff_asks = copy_changed(pool, v + bids, asks, b->diff + b->diff_bids);
  b->diff_first = b->first_id;
  b->diff_last = b->last_id;

  /* Removed levels leave the lists now that the diff has reported them. */
  for (uint32_t i = 0; i < total; i++) {
    feed_node *n = node_at(pool, b->dirty[i]);
    n->dirty = 0;
    if (n->qty == 0) unlink_node(b, n->side, n->price);
  }
  b->dirty_count = 0;
  b->first_id = 0;
}

/* Collects the best FEED_TOP_MAX levels of a side; returns the FEED_BOOK_DEPTH* bits that changed.
 */
static uint32_t publish_top_side(feed_book *b, unsigned side) {
  engine_level now[FEED_TOP_MAX];
  uint32_t count = (uint32_t)feed_book_depth(b, side, now, FEED_TOP_MAX);
  uint32_t old = b->top_count[side], same = 0;
  while (same < count && same < old && now[same].price == b->top[side][same].price &&
         now[same].qty == b->top[side][same].qty)
    same++;
  /* The first `same` levels agree; top-N changed when they disagree within N or one side of the
   * comparison ends within N while the other goes on. */
  bool differs = same < count || same < old;
  uint32_t bits = 0;
  if (differs && same < 5) bits |= FEED_BOOK_DEPTH5;
  if (differs && same < 10) bits |= FEED_BOOK_DEPTH10;
  if (differs && same < 20) bits |= FEED_BOOK_DEPTH20;
  memcpy(b->top[side], now, sizeof(engine_level) * count);
  b->top_count[side] = count;
  return bits;
}

uint32_t feed_book_end_tick(feed_book *b) {
  uint32_t bits = 0;
  if (b->first_id != 0) {
    publish_diff(b);
    bits |= FEED_BOOK_DIFF;
  } else {
    b->diff_bids = b->diff_asks = 0;
    b->diff_first = b->diff_last = 0;
  }
  if (b->top_stale) {
    bits |= publish_top_side(b, ENGINE_SIDE_BUY) | publish_top_side(b, ENGINE_SIDE_SELL);
    b->top_stale = false;
  }
  b->top_id = b->last_id;
  if (feed_book_bbo_take(b)) bits |= FEED_BOOK_BBO;
  return bits;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

feed_book_iter feed_book_iterate(const feed_book *b, unsigned side) {
  feed_book_iter it = {.book = b, .node = 0};
  if (side <= 1) it.node = node_at(b->pool, b->head[side])->next[0];
  return it;
}

bool feed_book_iter_next(feed_book_iter *it, engine_level *level) {
  const feed_book_pool *pool = it->book->pool;
  while (it->node) {
    const feed_node *n = node_at(pool, it->node);
    it->node = n->next[0];
    if (n->qty > 0) { /* qty 0: removed in this period, still listed for the diff */
      *level = (engine_level){.price = n->price, .qty = n->qty};
      return true;
    }
  }
  return false;
}

size_t feed_book_depth(const feed_book *b, unsigned side, engine_level *out, size_t max) {
  feed_book_iter it = feed_book_iterate(b, side);
  size_t count = 0;
  while (count < max && feed_book_iter_next(&it, &out[count])) count++;
  return count;
}

bool feed_book_bbo_take(feed_book *b) {
  engine_level bid = {0, 0}, ask = {0, 0};
  feed_book_depth(b, ENGINE_SIDE_BUY, &bid, 1);
  feed_book_depth(b, ENGINE_SIDE_SELL, &ask, 1);
  feed_bbo *o = &b->bbo;
  if (bid.price == o->bid && bid.qty == o->bid_qty && ask.price == o->ask && ask.qty == o->ask_qty)
    return false;
  *o = (feed_bbo){.update_id = b->last_id,
                  .bid = bid.price,
                  .bid_qty = bid.qty,
                  .ask = ask.price,
                  .ask_qty = ask.qty};
  return true;
}
