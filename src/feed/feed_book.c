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

/* Heights 1..10 with p = 1/4 per level: balanced up to 4^10 (1 M) levels a side; beyond that
 * only the top level lengthens, by one node per 4^9 levels. Keeps a node at 80 bytes. */
#define SKIP_HEIGHT 10

struct feed_node {
  int64_t price;
  int64_t qty;       /* 0 = removed in the current period (kept, dirty, until its end) */
  int64_t start_qty; /* while dirty: qty when the period began (0 = the level was absent) */
  uint32_t next[SKIP_HEIGHT];
  uint32_t hash_next; /* price index chain */
  uint32_t book;      /* feed_book.number: the index is shared by every book of the pool */
  uint8_t height;
  uint8_t side;
  uint8_t dirty;
};

_Static_assert(sizeof(feed_node) == 80, "a node's size is part of the bench's figures");

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
  uint64_t buckets = 1;
  while (buckets < capacity) buckets <<= 1;
  pool->nodes = calloc((size_t)capacity, sizeof *pool->nodes);
  pool->sort_scratch =
      calloc((size_t)max_diff * 2, sizeof(sort_entry)); /* entries + radix buffer */
  pool->buckets = calloc((size_t)buckets, sizeof *pool->buckets);
  if (!pool->nodes || !pool->sort_scratch || !pool->buckets) {
    feed_book_pool_free(pool);
    return -1;
  }
  pool->capacity = (uint32_t)capacity;
  pool->bucket_bits = (unsigned)__builtin_ctzll(buckets);
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
  free(pool->buckets);
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
/* Price index: (book, side, price) -> node, chained through hash_next      */
/*
 * Why: most level events change the quantity of a level that exists (or was
 * removed earlier in the same period); the index finds it in O(1) where the
 * skip list would search. Only new levels and the end-of-period unlinking of
 * removed ones search the list. Fibonacci hashing (multiply, keep the top
 * bits) spreads consecutive prices evenly over the buckets; a price above 2^40
 * ticks mixes with the book and side bits, which costs spread, not
 * correctness (a chain compares the whole key).
 */

static uint32_t *bucket_of(const feed_book_pool *pool, uint32_t book, unsigned side,
                           int64_t price) {
  uint64_t key = (uint64_t)price ^ ((uint64_t)(book * 2 + side) << 40);
  uint64_t slot = pool->bucket_bits ? (key * 0x9e3779b97f4a7c15ull) >> (64 - pool->bucket_bits) : 0;
  return &pool->buckets[slot];
}

static uint32_t index_find(const feed_book_pool *pool, uint32_t book, unsigned side,
                           int64_t price) {
  uint32_t index = *bucket_of(pool, book, side, price);
  while (index) {
    const feed_node *n = node_at(pool, index);
    if (n->price == price && n->side == side && n->book == book) return index;
    index = n->hash_next;
  }
  return 0;
}

static void index_insert(feed_book_pool *pool, uint32_t index) {
  feed_node *n = node_at(pool, index);
  uint32_t *bucket = bucket_of(pool, n->book, n->side, n->price);
  n->hash_next = *bucket;
  *bucket = index;
}

static void index_remove(feed_book_pool *pool, uint32_t index) {
  const feed_node *n = node_at(pool, index);
  uint32_t *link = bucket_of(pool, n->book, n->side, n->price);
  while (*link != index) link = &node_at(pool, *link)->hash_next;
  *link = n->hash_next;
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
  b->number = ++pool->books;
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
  uint32_t index = index_find(pool, b->number, side, price);
  feed_node *n = index ? node_at(pool, index) : NULL;

  /* Every check comes before the first change, so a refused event leaves no trace. */
  bool becomes_live = qty > 0 && (!n || n->qty == 0);
  bool needs_dirty = (n && !n->dirty) || (!n && qty > 0);
  if (needs_dirty && b->dirty_count == pool->max_diff) return FEED_FLUSH;
  if (becomes_live && pool->live >= pool->max_live) return FEED_ERR_FULL;

  if (!n && qty > 0) { /* a new level: the only case that searches the list */
    index = node_alloc(pool, random_height(pool));
    if (!index) return FEED_ERR_FULL; /* cannot happen: the pool is sized for max_live */
    n = node_at(pool, index);
    n->price = price;
    n->side = (uint8_t)side;
    n->book = b->number;
    uint32_t update[SKIP_HEIGHT];
    search(b, side, price, update);
    link_node(b, side, index, update);
    index_insert(pool, index);
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

/*
 * Sorts v[0..n) by rank, using tmp[0..n) as the other buffer: an LSD radix
 * sort on rank - min over as many 8-bit digits as the ranks' spread needs
 * (two for a period's changes within 65536 ticks). Why not qsort: glibc's
 * may call malloc; and a period's prices are clustered, so this is O(n) with
 * one or two passes where a comparison sort pays log n branchy compares.
 */
static void sort_entries(sort_entry *v, sort_entry *tmp, size_t n) {
  if (n < 2) return;
  int64_t min = v[0].rank, max = v[0].rank;
  for (size_t i = 1; i < n; i++) {
    if (v[i].rank < min) min = v[i].rank;
    if (v[i].rank > max) max = v[i].rank;
  }
  uint64_t spread = (uint64_t)max - (uint64_t)min;
  sort_entry *src = v, *dst = tmp;
  for (unsigned shift = 0; shift < 64 && (spread >> shift) != 0; shift += 8) {
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++)
      count[(((uint64_t)src[i].rank - (uint64_t)min) >> shift & 255) + 1]++;
    for (size_t d = 1; d < 257; d++) count[d] += count[d - 1];
    for (size_t i = 0; i < n; i++)
      dst[count[((uint64_t)src[i].rank - (uint64_t)min) >> shift & 255]++] = src[i];
    sort_entry *t = src;
    src = dst;
    dst = t;
  }
  if (src != v) memcpy(v, src, n * sizeof *v);
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

/* True when node x lies further along the list than node y (the head lies before every node). */
static bool further(const feed_book *b, unsigned side, uint32_t x, uint32_t y) {
  if (x == b->head[side]) return false;
  if (y == b->head[side]) return true;
  return before(side, node_at(b->pool, y)->price, node_at(b->pool, x)->price);
}

/*
 * Unlinks and frees the removed levels (qty 0) among v[0..n), one side's
 * dirty levels in list order. Each search resumes from the previous one's
 * predecessors (still linked: they precede every later level), so k removals
 * cost O(k log(n / k)) node visits rather than O(k log n).
 */
static void unlink_removed(feed_book *b, unsigned side, const sort_entry *v, size_t n) {
  feed_book_pool *pool = b->pool;
  uint32_t update[SKIP_HEIGHT];
  for (unsigned level = 0; level < SKIP_HEIGHT; level++) update[level] = b->head[side];
  for (size_t i = 0; i < n; i++) {
    feed_node *target = node_at(pool, v[i].node);
    if (target->qty != 0) continue;
    uint32_t x = b->head[side];
    for (int level = b->height[side] - 1; level >= 0; level--) {
      if (further(b, side, update[level], x)) x = update[level];
      uint32_t next;
      while ((next = node_at(pool, x)->next[level]) != 0 &&
             before(side, node_at(pool, next)->price, target->price))
        x = next;
      update[level] = x;
    }
    for (unsigned level = 0; level < target->height; level++)
      node_at(pool, update[level])->next[level] = target->next[level];
    index_remove(pool, v[i].node);
    node_free(pool, v[i].node);
  }
  const feed_node *head = node_at(pool, b->head[side]);
  while (b->height[side] > 1 && head->next[b->height[side] - 1] == 0) b->height[side]--;
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
  sort_entry *tmp = v + pool->max_diff;
  sort_entries(v, tmp, bids);
  sort_entries(v + bids, tmp, asks);
  b->diff_bids = copy_changed(pool, v, bids, b->diff);
  b->diff_asks = copy_changed(pool, v + bids, asks, b->diff + b->diff_bids);
  b->diff_first = b->first_id;
  b->diff_last = b->last_id;

  for (uint32_t i = 0; i < total; i++) node_at(pool, b->dirty[i])->dirty = 0;
  /* Removed levels leave the lists now that the diff has reported them. */
  unlink_removed(b, ENGINE_SIDE_BUY, v, bids);
  unlink_removed(b, ENGINE_SIDE_SELL, v + bids, asks);
  b->dirty_count = 0;
  b->first_id = 0;
}

/* Publishes a side's best FEED_TOP_MAX levels; returns the FEED_BOOK_DEPTH* bits that changed. */
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
