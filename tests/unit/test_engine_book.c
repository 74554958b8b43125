/*
 * test_engine_book.c: the order book data structure against a naive model.
 * Random inserts, erases and fills at prices that jump far outside the
 * direct window (so the fallback trees and re-centring are exercised), with
 * book_check after every operation and the full depth and FIFO order
 * compared with sorted arrays. Also direct checks of stop-set triggering.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bourse/book.h"
#include "check.h"

#define MAX_ORDERS 400

typedef struct model_order {
  uint32_t index; /* in the pool, 0 = slot unused */
  engine_side side;
  int64_t price;
  int64_t remaining;
  uint64_t seq; /* time priority */
} model_order;

static model_order model[MAX_ORDERS];
static uint64_t rng_state;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* A price for a new order of `side` that keeps the book uncrossed, or 0. */
static int64_t pick_price(const book *b, engine_side side, int64_t centre, int64_t spread) {
  int64_t price = centre + (int64_t)(rng() % (uint64_t)(2 * spread + 1)) - spread;
  if (price < 1) price = 1;
  uint32_t opp = book_best(b, side == ENGINE_SIDE_BUY ? ENGINE_SIDE_SELL : ENGINE_SIDE_BUY);
  if (opp) {
    int64_t other = book_level_at(b->pool, opp)->price;
    if (side == ENGINE_SIDE_BUY && price >= other) price = other - 1 - (int64_t)(rng() % 5);
    if (side == ENGINE_SIDE_SELL && price <= other) price = other + 1 + (int64_t)(rng() % 5);
  }
  return price >= 1 ? price : 0;
}

static int compare_model(const void *a, const void *b) {
  const model_order *x = a, *y = b;
  if (x->side != y->side) return x->side < y->side ? -1 : 1;
  if (x->price != y->price) {
    bool first = x->side == ENGINE_SIDE_BUY ? x->price > y->price : x->price < y->price;
    return first ? -1 : 1;
  }
  return x->seq < y->seq ? -1 : 1;
}

/* Compares the book's levels and FIFOs with the model, sorted by priority. */
static int compare_book(const book *b) {
  static model_order sorted[MAX_ORDERS];
  size_t n = 0;
  for (size_t i = 0; i < MAX_ORDERS; i++)
    if (model[i].index) sorted[n++] = model[i];
  qsort(sorted, n, sizeof *sorted, compare_model);
  size_t k = 0;
  for (int side = 0; side < 2; side++) {
    for (uint32_t li = book_best(b, (engine_side)side); li; li = book_next_level(b, li)) {
      const book_level *l = book_level_at(b->pool, li);
      int64_t total = 0;
      for (uint32_t oi = l->head; oi; oi = book_order_at(b->pool, oi)->next) {
        if (k >= n || sorted[k].index != oi || sorted[k].price != l->price) return -1;
        total += sorted[k].remaining;
        k++;
      }
      if (total != l->total) return -1;
    }
  }
  return k == n ? 0 : -1;
}

static void run_random(unsigned window_bits, int64_t spread, int steps, uint64_t seed) {
  book_pool pool;
  book b;
  char err[200];
  rng_state = seed;
  memset(model, 0, sizeof model);
  CHECK(book_pool_init(&pool, MAX_ORDERS) == 0);
  CHECK(book_init(&b, &pool, window_bits) == 0);
  uint64_t seq = 0;
  int64_t centre = 1000000;
  for (int step = 0; step < steps; step++) {
    size_t slot = rng() % MAX_ORDERS;
    model_order *m = &model[slot];
    if (rng() % 50 == 0) centre += (int64_t)(rng() % (uint64_t)(spread * 8)) - spread * 4;
    if (centre < spread) centre = spread;
    if (!m->index) {
      engine_side side = rng() & 1 ? ENGINE_SIDE_SELL : ENGINE_SIDE_BUY;
      int64_t price = pick_price(&b, side, centre, spread);
      if (!price) continue;
      uint32_t oi = book_order_alloc(&pool);
      CHECK(oi != 0);
      book_order *o = book_order_at(&pool, oi);
      o->side = (uint8_t)side;
      o->price = price;
      o->qty = 1 + (int64_t)(rng() % 100);
      *m = (model_order){oi, side, price, o->qty, ++seq};
      book_insert(&b, oi);
    } else if (rng() % 3 == 0) {
      /* A partial fill. */
      book_order *o = book_order_at(&pool, m->index);
      if (m->remaining > 1) {
        int64_t q = 1 + (int64_t)(rng() % (uint64_t)(m->remaining - 1));
        o->filled += q;
        book_reduce(&b, m->index, q);
        m->remaining -= q;
      }
    } else {
      book_erase(&b, m->index);
      book_order_free(&pool, m->index);
      m->index = 0;
    }
    if (book_check(&b, err, sizeof err) != 0) {
      fprintf(stderr, "step %d: %s\n", step, err);
      CHECK(0);
      break;
    }
    if (compare_book(&b) != 0) {
      fprintf(stderr, "step %d: book differs from the model\n", step);
      CHECK(0);
      break;
    }
  }
  printf("window 2^%u spread %lld: %llu re-centres\n", window_bits, (long long)spread,
         (unsigned long long)b.recentres);
  book_free(&b);
  book_pool_free(&pool);
}

static uint32_t add_stop(book_pool *pool, book *b, uint64_t id, int64_t stop, bool up) {
  uint32_t oi = book_order_alloc(pool);
  book_order *o = book_order_at(pool, oi);
  o->id = id;
  o->stop = stop;
  o->flags = up ? BOOK_ORDER_STOP_UP : 0;
  book_stop_insert(b, oi);
  return oi;
}

static void test_stops(void) {
  book_pool pool;
  book b;
  uint32_t out[16];
  CHECK(book_pool_init(&pool, 64) == 0);
  CHECK(book_init(&b, &pool, 6) == 0);
  /* Last price 100: up stops at 105, 103, 103; down stops at 95, 97. */
  uint32_t u1 = add_stop(&pool, &b, 1, 105, true), u2 = add_stop(&pool, &b, 2, 103, true);
  uint32_t u3 = add_stop(&pool, &b, 3, 103, true), d1 = add_stop(&pool, &b, 4, 95, false);
  uint32_t d2 = add_stop(&pool, &b, 5, 97, false);
  CHECK(!book_stop_any_triggered(&b, 100));
  CHECK(book_stop_take_triggered(&b, 100, out) == 0);
  CHECK(book_stop_any_triggered(&b, 103));
  size_t n = book_stop_take_triggered(&b, 104, out);
  CHECK_EQ_INT(n, 2);
  CHECK(out[0] == u2 && out[1] == u3);
  book_stop_erase(&b, d2);
  n = book_stop_take_triggered(&b, 90, out);
  CHECK_EQ_INT(n, 1);
  CHECK(out[0] == d1);
  CHECK(b.stop_count == 1);
  /* Both directions in one check come out in id order. */
  uint32_t d3 = add_stop(&pool, &b, 6, 200, false);
  uint32_t u4 = add_stop(&pool, &b, 7, 140, true);
  n = book_stop_take_triggered(&b, 150, out);
  CHECK_EQ_INT(n, 3);
  CHECK(out[0] == u1 && out[1] == d3 && out[2] == u4);
  CHECK(b.stop_count == 0);
  CHECK(b.stop_up_min == INT64_MAX && b.stop_down_max == INT64_MIN);
  book_free(&b);
  book_pool_free(&pool);
}

/* Many fallback levels in sorted order (the worst case for an unbalanced tree), then removal. */
static void test_many_fallback_levels(int count) {
  book_pool pool;
  book b;
  char err[200];
  CHECK(book_pool_init(&pool, (uint32_t)count + 2) == 0);
  CHECK(book_init(&b, &pool, 6) == 0);
  uint32_t ask = book_order_alloc(&pool);
  book_order_at(&pool, ask)->side = ENGINE_SIDE_SELL;
  book_order_at(&pool, ask)->price = 10000000;
  book_order_at(&pool, ask)->qty = 1;
  book_insert(&b, ask);
  for (int i = 0; i < count; i++) {
    uint32_t oi = book_order_alloc(&pool);
    book_order *o = book_order_at(&pool, oi);
    o->side = ENGINE_SIDE_BUY;
    o->price = 1 + 7 * (int64_t)i; /* ascending: each bid becomes the new best */
    o->qty = 1;
    book_insert(&b, oi);
  }
  CHECK(book_check(&b, err, sizeof err) == 0);
  CHECK_EQ_INT(b.sides[ENGINE_SIDE_BUY].levels, count);
  CHECK_EQ_INT(book_level_at(&pool, book_best(&b, ENGINE_SIDE_BUY))->price, 1 + 7 * (count - 1));
  for (uint32_t oi = 2; oi < (uint32_t)count + 2; oi += 2) book_erase(&b, oi);
  CHECK(book_check(&b, err, sizeof err) == 0);
  CHECK_EQ_INT(b.sides[ENGINE_SIDE_BUY].levels, count / 2);
  book_free(&b);
  book_pool_free(&pool);
}

int main(void) {
  const char *type = getenv("BOURSE_BUILD_TYPE");
  int steps = type && (strcmp(type, "Asan") == 0 || strcmp(type, "Tsan") == 0) ? 6000 : 25000;
  test_stops();
  test_many_fallback_levels(steps * 2);
  run_random(6, 20, steps, 1);      /* window 64, book ~40 wide: recentres often */
  run_random(6, 200, steps, 2);     /* most levels in the fallback trees */
  run_random(8, 100, steps, 3);     /* mixed */
  run_random(16, 3000, steps, 4);   /* everything in the window */
  run_random(10, 100000, steps, 5); /* sparse, far apart */
  return check_report("engine_book");
}
