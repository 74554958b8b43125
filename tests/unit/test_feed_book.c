/*
 * test_feed_book.c: the feed's mirror book (feed_book_*): table-driven
 * periods of level events with the exact diff, U/u, top-N and best bid/offer
 * flags each must publish, plus the statuses (stale, gap, invalid, flush,
 * full). The randomised proof that clients rebuild the book from snapshot +
 * diffs is test_feed_property.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bourse/feed.h"
#include "check.h"

/* ------------------------------------------------------------------------ */
/* Table-driven periods                                                     */

#define B 0 /* bid */
#define A 1 /* ask */

typedef struct ev {
  unsigned side;
  int64_t price, qty;
  uint64_t id;
  feed_status want;
} ev;

typedef struct lv {
  unsigned side;
  int64_t price, qty;
} lv;

#define MAX_EVENTS 12
#define MAX_LEVELS 8

typedef struct period {
  ev events[MAX_EVENTS];
  unsigned event_count;
  uint32_t want_bits;
  uint64_t want_U, want_u; /* when FEED_BOOK_DIFF */
  lv want_diff[MAX_LEVELS];
  unsigned want_diff_count;
} period;

typedef struct scenario {
  const char *name;
  period periods[4];
  unsigned period_count;
} scenario;

#define E(s, p, q, i)                                                                              \
  { s, p, q, i, FEED_OK }
#define ES(s, p, q, i, st)                                                                         \
  { s, p, q, i, st }
#define DIFF    FEED_BOOK_DIFF
#define TOP_ALL (FEED_BOOK_DEPTH5 | FEED_BOOK_DEPTH10 | FEED_BOOK_DEPTH20)
#define BBO     FEED_BOOK_BBO

static const scenario scenarios[] = {
    {"first levels: diff sorted bids desc, asks asc",
     {{{E(B, 100, 5, 1), E(A, 105, 2, 2), E(B, 102, 1, 3), E(A, 104, 7, 4), E(B, 101, 3, 5)},
       5,
       DIFF | TOP_ALL | BBO,
       1,
       5,
       {{B, 102, 1}, {B, 101, 3}, {B, 100, 5}, {A, 104, 7}, {A, 105, 2}},
       5}},
     1},
    {"a change then its reversal in one period leaves no level in the diff",
     {{{E(B, 100, 5, 1)}, 1, DIFF | TOP_ALL | BBO, 1, 1, {{B, 100, 5}}, 1},
      {{E(B, 100, 9, 2), E(B, 100, 5, 3)}, 2, DIFF, 2, 3, {{0}}, 0}},
     2},
    {"added and removed in one period: absent at both ends, not in the diff",
     {{{E(B, 100, 5, 1)}, 1, DIFF | TOP_ALL | BBO, 1, 1, {{B, 100, 5}}, 1},
      {{E(B, 99, 4, 2), E(B, 99, 0, 3), E(A, 101, 1, 4)},
       3,
       DIFF | TOP_ALL | BBO,
       2,
       4,
       {{A, 101, 1}},
       1}},
     2},
    {"removed and re-added in one period: one entry with the final qty",
     {{{E(A, 200, 5, 10), E(A, 201, 6, 11)},
       2,
       DIFF | TOP_ALL | BBO,
       10,
       11,
       {{A, 200, 5}, {A, 201, 6}},
       2},
      {{E(A, 200, 0, 12), E(A, 200, 8, 13), E(A, 201, 0, 14)},
       3,
       DIFF | TOP_ALL | BBO,
       12,
       14,
       {{A, 200, 8}, {A, 201, 0}},
       2},
      {{{0}}, 0, 0, 0, 0, {{0}}, 0}},
     3},
    {"removing a level the mirror lacks changes nothing but still moves u",
     {{{E(B, 100, 5, 1)}, 1, DIFF | TOP_ALL | BBO, 1, 1, {{B, 100, 5}}, 1},
      {{E(B, 50, 0, 2)}, 1, DIFF, 2, 2, {{0}}, 0}},
     2},
    {"stale, invalid and gap statuses",
     {{{E(B, 100, 5, 7), ES(B, 100, 6, 7, FEED_ERR_STALE), ES(B, 100, 6, 3, FEED_ERR_STALE),
        ES(2, 100, 6, 8, FEED_ERR_INVALID), ES(B, 0, 6, 8, FEED_ERR_INVALID),
        ES(B, 100, -1, 8, FEED_ERR_INVALID), ES(B, 100, 1, 0, FEED_ERR_INVALID),
        ES(A, 110, 1, 10, FEED_GAP)},
       8,
       DIFF | TOP_ALL | BBO,
       7,
       10,
       {{B, 100, 5}, {A, 110, 1}},
       2}},
     1},
};

static void run_scenario(const scenario *s) {
  feed_book_pool pool;
  feed_book b;
  CHECK(feed_book_pool_init(&pool, 64, 1, MAX_LEVELS) == 0);
  CHECK(feed_book_init(&b, &pool) == 0);
  for (unsigned p = 0; p < s->period_count; p++) {
    const period *per = &s->periods[p];
    for (unsigned i = 0; i < per->event_count; i++) {
      const ev *e = &per->events[i];
      feed_status st = feed_book_apply(&b, e->side, e->price, e->qty, e->id);
      if (st != e->want)
        fprintf(stderr, "%s: period %u event %u: status %d, want %d\n", s->name, p, i, st, e->want);
      CHECK_EQ_INT(st, e->want);
    }
    uint32_t bits = feed_book_end_tick(&b);
    if (bits != per->want_bits) fprintf(stderr, "%s: period %u\n", s->name, p);
    CHECK_EQ_INT(bits, per->want_bits);
    if (!(bits & FEED_BOOK_DIFF)) continue;
    CHECK_EQ_INT(b.diff_first, per->want_U);
    CHECK_EQ_INT(b.diff_last, per->want_u);
    CHECK_EQ_INT(b.diff_bids + b.diff_asks, per->want_diff_count);
    for (unsigned i = 0; i < per->want_diff_count && i < b.diff_bids + b.diff_asks; i++) {
      const lv *w = &per->want_diff[i];
      CHECK_EQ_INT(i < b.diff_bids ? B : A, w->side);
      CHECK_EQ_INT(b.diff[i].price, w->price);
      CHECK_EQ_INT(b.diff[i].qty, w->qty);
    }
  }
  feed_book_free(&b);
  feed_book_pool_free(&pool);
}

/* ------------------------------------------------------------------------ */
/* Top-N and best bid/offer flags                                           */

static void test_top_flags(void) {
  feed_book_pool pool;
  feed_book b;
  CHECK(feed_book_pool_init(&pool, 256, 1, 64) == 0);
  CHECK(feed_book_init(&b, &pool) == 0);
  uint64_t id = 1;
  /* Asks 1001..1030: 30 levels, quantities 1..30. */
  for (int64_t i = 0; i < 30; i++) CHECK(feed_book_apply(&b, A, 1001 + i, i + 1, id++) == FEED_OK);
  CHECK_EQ_INT(feed_book_end_tick(&b), DIFF | TOP_ALL | BBO);
  CHECK_EQ_INT(b.top_count[A], 20);
  CHECK_EQ_INT(b.top_count[B], 0);
  CHECK_EQ_INT(b.top[A][19].price, 1020);
  CHECK_EQ_INT(b.bbo.ask, 1001);
  CHECK_EQ_INT(b.bbo.ask_qty, 1);
  CHECK_EQ_INT(b.bbo.bid, 0);

  struct {
    int64_t price, qty;
    uint32_t bits;
  } cases[] = {
      {1008, 99, FEED_BOOK_DEPTH10 | FEED_BOOK_DEPTH20}, /* 8th level */
      {1003, 99, TOP_ALL},                               /* 3rd */
      {1025, 99, 0},                                     /* 25th: below every top */
      {1015, 99, FEED_BOOK_DEPTH20},                     /* 15th */
      {1001, 2, TOP_ALL | BBO},                          /* the best's qty */
      {1000, 4, TOP_ALL | BBO},                          /* a new best */
      {1000, 0, TOP_ALL | BBO},                          /* gone again */
      {1019, 0, FEED_BOOK_DEPTH20},                      /* 1020 moves up to 19th, 1021 in */
      {1035, 5, 0},                                      /* a new 31st level */
      /* Each boundary from both sides (1019 is gone: 1020 is 19th, 1021 20th, 1022 21st). */
      {1005, 50, TOP_ALL},
      {1006, 60, FEED_BOOK_DEPTH10 | FEED_BOOK_DEPTH20},
      {1010, 100, FEED_BOOK_DEPTH10 | FEED_BOOK_DEPTH20},
      {1011, 110, FEED_BOOK_DEPTH20},
      {1021, 210, FEED_BOOK_DEPTH20},
      {1022, 220, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK(feed_book_apply(&b, A, cases[i].price, cases[i].qty, id++) == FEED_OK);
    uint32_t bits = feed_book_end_tick(&b);
    if (bits != (cases[i].bits | DIFF)) fprintf(stderr, "top case %zu\n", i);
    CHECK_EQ_INT(bits, cases[i].bits | DIFF);
    CHECK_EQ_INT(b.top_id, id - 1);
  }
  /* A period with no event publishes nothing. */
  CHECK_EQ_INT(feed_book_end_tick(&b), 0);
  CHECK_EQ_INT(b.diff_first, 0);

  /* The side shrinking below 5 levels: depth5 changes though the first levels agree. */
  for (int64_t p = 1001; p <= 1035; p++) {
    engine_level l;
    (void)l;
    feed_status st = feed_book_apply(&b, A, p, 0, id++);
    CHECK(st == FEED_OK);
  }
  CHECK_EQ_INT(feed_book_end_tick(&b), DIFF | TOP_ALL | BBO);
  CHECK_EQ_INT(b.levels[A], 0);
  CHECK_EQ_INT(pool.live, 0);
  CHECK_EQ_INT(b.bbo.ask, 0);
  CHECK_EQ_INT(b.bbo.ask_qty, 0);

  /* bbo_take mid-period: taken once, then the end of period sees no change. */
  CHECK(feed_book_apply(&b, B, 500, 3, id++) == FEED_OK);
  CHECK(feed_book_bbo_take(&b));
  CHECK(!feed_book_bbo_take(&b));
  CHECK_EQ_INT(b.bbo.bid, 500);
  CHECK_EQ_INT(b.bbo.update_id, id - 1);
  CHECK_EQ_INT(feed_book_end_tick(&b), DIFF | TOP_ALL);
  feed_book_free(&b);
  feed_book_pool_free(&pool);
}

/* ------------------------------------------------------------------------ */
/* Bounds: FEED_FLUSH at max_diff, FEED_ERR_FULL at max_levels              */

static void test_bounds(void) {
  feed_book_pool pool;
  feed_book b, other;
  CHECK(feed_book_pool_init(&pool, 6, 2, 4) == 0);
  CHECK(feed_book_init(&b, &pool) == 0);
  CHECK(feed_book_init(&other, &pool) == 0);
  feed_book third;
  CHECK(feed_book_init(&third, &pool) == -1); /* max_books */

  uint64_t id = 1;
  for (int64_t p = 1; p <= 4; p++) CHECK(feed_book_apply(&b, B, p, 1, id++) == FEED_OK);
  /* A fifth distinct level would be a fifth diff entry: refused, nothing changed. */
  CHECK_EQ_INT(feed_book_apply(&b, B, 5, 1, id), FEED_FLUSH);
  CHECK_EQ_INT(b.last_id, id - 1);
  CHECK_EQ_INT(b.levels[B], 4);
  /* A level already dirty is still accepted. */
  CHECK_EQ_INT(feed_book_apply(&b, B, 2, 7, id++), FEED_OK);
  /* Removing a level the mirror lacks needs no entry either. */
  CHECK_EQ_INT(feed_book_apply(&b, B, 77, 0, id++), FEED_OK);
  CHECK_EQ_INT(feed_book_end_tick(&b), DIFF | TOP_ALL | BBO);
  CHECK_EQ_INT(b.diff_bids, 4);
  CHECK_EQ_INT(b.diff[2].price, 2);
  CHECK_EQ_INT(b.diff[2].qty, 7);
  CHECK_EQ_INT(feed_book_apply(&b, B, 5, 1, id++), FEED_OK); /* after the flush */

  /* Live levels are counted over the pool: 5 in b, 1 more fits, then full. */
  CHECK_EQ_INT(feed_book_apply(&other, A, 10, 1, 1), FEED_OK);
  CHECK_EQ_INT(feed_book_apply(&other, A, 11, 1, 2), FEED_ERR_FULL);
  CHECK_EQ_INT(other.last_id, 1);
  /* A removal frees a level even within the period (its node stays until the end). */
  CHECK_EQ_INT(feed_book_apply(&b, B, 1, 0, id++), FEED_OK);
  CHECK_EQ_INT(feed_book_apply(&other, A, 11, 1, 2), FEED_OK);
  /* Reviving a removed level counts as live again. */
  CHECK_EQ_INT(feed_book_apply(&b, B, 1, 3, id++), FEED_ERR_FULL);
  CHECK_EQ_INT(pool.live, 6);
  /* Ghosts and dirty entries never exhaust the pool: churn many periods. */
  for (int round = 0; round < 1000; round++) {
    feed_status st = feed_book_apply(&other, A, 11, 0, other.last_id + 1);
    CHECK(st == FEED_OK);
    st = feed_book_apply(&other, A, 12 + round % 3, 2, other.last_id + 1);
    CHECK(st == FEED_OK);
    feed_book_end_tick(&other);
    st = feed_book_apply(&other, A, 12 + round % 3, 0, other.last_id + 1);
    CHECK(st == FEED_OK);
    st = feed_book_apply(&other, A, 11, 1, other.last_id + 1);
    CHECK(st == FEED_OK);
    feed_book_end_tick(&other);
  }
  CHECK_EQ_INT(other.levels[A], 2);
  CHECK_EQ_INT(pool.live, 6);
  CHECK(pool.fresh <= pool.capacity);
  feed_book_free(&b);
  feed_book_free(&other);
  feed_book_pool_free(&pool);

  CHECK(feed_book_pool_init(&pool, 0, 1, 1) == -1);
  CHECK(feed_book_pool_init(&pool, 1, 1, 0) == -1);
  CHECK(feed_book_pool_init(&pool, UINT32_MAX, 2, UINT32_MAX) == -1);
}

/* ------------------------------------------------------------------------ */
/* Depth and iteration over a large book with removals mid-period          */

static void test_depth_walk(void) {
  feed_book_pool pool;
  feed_book b;
  enum { N = 5000 };
  CHECK(feed_book_pool_init(&pool, 2 * N, 1, 2 * N) == 0);
  CHECK(feed_book_init(&b, &pool) == 0);
  uint64_t id = 1;
  /* Insert in a scrambled order: i * 7919 mod N is a permutation (7919 is prime, N is not its
   * multiple). */
  for (int64_t i = 0; i < N; i++) {
    int64_t k = (i * 7919) % N;
    CHECK(feed_book_apply(&b, B, 10000 - k, k + 1, id++) == FEED_OK);
    CHECK(feed_book_apply(&b, A, 20000 + k, k + 1, id++) == FEED_OK);
  }
  /* Remove every third level mid-period: walks must skip them before the end of period. */
  for (int64_t k = 0; k < N; k += 3) {
    CHECK(feed_book_apply(&b, B, 10000 - k, 0, id++) == FEED_OK);
    CHECK(feed_book_apply(&b, A, 20000 + k, 0, id++) == FEED_OK);
  }
  static engine_level out[N];
  for (int pass = 0; pass < 2; pass++) {
    for (unsigned side = 0; side < 2; side++) {
      size_t n = feed_book_depth(&b, side, out, N);
      CHECK_EQ_INT(n, N - (N + 2) / 3);
      CHECK_EQ_INT(b.levels[side], n);
      bool ok = true;
      int64_t k = 1;
      for (size_t i = 0; i < n; i++, k++) {
        if (k % 3 == 0) k++;
        int64_t want = side == B ? 10000 - k : 20000 + k;
        if (out[i].price != want || out[i].qty != k + 1) ok = false;
      }
      CHECK(ok);
    }
    if (pass == 0) {
      uint32_t bits = feed_book_end_tick(&b);
      CHECK_EQ_INT(bits, DIFF | TOP_ALL | BBO);
      /* Levels added and removed within the period are not in the diff. */
      CHECK_EQ_INT(b.diff_bids, N - (N + 2) / 3);
      CHECK_EQ_INT(b.diff_asks, N - (N + 2) / 3);
      CHECK_EQ_INT(b.diff[0].price, 9999);
      CHECK_EQ_INT(b.diff[b.diff_bids].price, 20001);
    }
  }
  CHECK_EQ_INT(feed_book_depth(&b, 2, out, N), 0);
  feed_book_free(&b);
  feed_book_pool_free(&pool);
}

/* ------------------------------------------------------------------------ */
/* Diff order over prices spread across the whole int64 range               */

static void test_wide_prices(void) {
  feed_book_pool pool;
  feed_book b;
  CHECK(feed_book_pool_init(&pool, 1024, 1, 512) == 0);
  CHECK(feed_book_init(&b, &pool) == 0);
  uint64_t id = 1, rng = 12345;
  for (int round = 0; round < 20; round++) {
    /* Spreads from 2^2 to 2^62 ticks: 1 to 8 radix passes, odd and even. */
    int64_t spread = INT64_C(4) << (round * 3 % 61);
    int n = 1 + round * 11;
    for (int i = 0; i < n; i++) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      int64_t price = 1 + (int64_t)(rng % (uint64_t)spread);
      if (round == 19 && i < 2) price = i == 0 ? 1 : INT64_MAX; /* both extremes */
      feed_status st = feed_book_apply(&b, (unsigned)(rng >> 63), price, 1 + round, id++);
      CHECK(st == FEED_OK);
    }
    CHECK(feed_book_end_tick(&b) & DIFF);
    bool ordered = true;
    for (uint32_t i = 1; i < b.diff_bids; i++) ordered &= b.diff[i].price < b.diff[i - 1].price;
    for (uint32_t i = b.diff_bids + 1; i < b.diff_bids + b.diff_asks; i++)
      ordered &= b.diff[i].price > b.diff[i - 1].price;
    CHECK(ordered);
    /* Every diff entry is a live level with that qty, and the diff holds them all. */
    engine_level levels[2][1024];
    size_t nb = feed_book_depth(&b, B, levels[0], 1024),
           na = feed_book_depth(&b, A, levels[1], 1024);
    uint32_t found = 0;
    for (uint32_t i = 0; i < b.diff_bids + b.diff_asks; i++) {
      const engine_level *side = i < b.diff_bids ? levels[0] : levels[1];
      size_t count = i < b.diff_bids ? nb : na;
      for (size_t k = 0; k < count; k++)
        if (side[k].price == b.diff[i].price && side[k].qty == b.diff[i].qty) found++;
    }
    CHECK_EQ_INT(found, b.diff_bids + b.diff_asks);
    /* Clear the book for the next round: every level removed, then gone from the walk. */
    for (size_t k = 0; k < nb; k++) CHECK(feed_book_apply(&b, B, levels[0][k].price, 0, id++) == 0);
    for (size_t k = 0; k < na; k++) CHECK(feed_book_apply(&b, A, levels[1][k].price, 0, id++) == 0);
    feed_book_end_tick(&b);
    CHECK_EQ_INT(b.diff_bids, nb);
    CHECK_EQ_INT(b.diff_asks, na);
    CHECK_EQ_INT(feed_book_depth(&b, B, levels[0], 1) + feed_book_depth(&b, A, levels[0], 1), 0);
  }
  CHECK_EQ_INT(pool.live, 0);
  feed_book_free(&b);
  feed_book_pool_free(&pool);
}

int main(void) {
  for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) run_scenario(&scenarios[i]);
  test_top_flags();
  test_bounds();
  test_depth_walk();
  test_wide_prices();
  return check_report("feed_book");
}
