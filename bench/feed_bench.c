/*
 * feed_bench: the broadcast thread's per-event and per-tick costs.
 *
 * (a) Level events applied per second by the mirror book (feed_book_apply,
 *     with an end of period every 1000 events, so diff sorting and the
 *     removal of conflated levels are included), on books of L levels per side
 *     (prices in a band of 2L ticks per side, half of them occupied), for two
 *     flows: "top" (the distance from the inside price exponential with mean
 *     20 ticks: where real order flow lands) and "uniform" (anywhere in the
 *     band). Events are generated before timing; a third of them remove a
 *     level. Baseline in the same run: a sorted array per side (best last,
 *     binary search, memmove on insert and remove), with no conflation or
 *     diff at all, i.e. strictly less work than the mirror does.
 *
 * (b) Serialising the depth channel each tick for a 1000-level book: K level
 *     events per tick ("top" flow), then the end of period and the @depth diff
 *     message (feed_write_depth), against the baseline of sending the whole
 *     book every tick (end of period + feed_write_snapshot, 1000 levels a
 *     side). Prints ns per tick and bytes per tick for both.
 *
 * Figures are medians over the repetitions. Usage: feed_bench [events] [repetitions]
 * (defaults 2000000, 7).
 */
#include "bourse/clock.h"
#include "bourse/feed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), compare_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MID INT64_C(1000000)

typedef struct event {
  uint8_t side;
  int64_t price, qty;
} event;

/* A price `distance` ticks from the inside of `side` (bids below MID, asks above). */
static int64_t price_at(unsigned side, int64_t distance) {
  return side == 0 ? MID - 1 - distance : MID + 1 + distance;
}

static void generate(event *ev, size_t n, int64_t band, bool top) {
  for (size_t i = 0; i < n; i++) {
    unsigned side = (unsigned)(rnd() & 1);
    int64_t d;
    if (top) {
      double u = ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
      d = (int64_t)(-log(u) * 20.0);
      if (d >= band) d = band - 1;
    } else {
      d = (int64_t)(rnd() % (uint64_t)band);
    }
    ev[i] =
        (event){(uint8_t)side, price_at(side, d), rnd() % 3 == 0 ? 0 : 1 + (int64_t)(rnd() % 1000)};
  }
}

/* ------------------------------------------------------------------------ */
/* Baseline: a sorted array per side, best price last                       */

typedef struct sorted_side {
  engine_level *v; /* ascending by rank (bids: price; asks: -price), so the best is last */
  size_t n;
} sorted_side;

static int64_t rank_of(unsigned side, int64_t price) {
  return side == 0 ? price : -price;
}

static void sorted_apply(sorted_side *s, unsigned side, int64_t price, int64_t qty) {
  int64_t key = rank_of(side, price);
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (rank_of(side, s->v[mid].price) < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  bool found = lo < s->n && s->v[lo].price == price;
  if (found && qty > 0) {
    s->v[lo].qty = qty;
  } else if (found) {
    memmove(&s->v[lo], &s->v[lo + 1], (s->n - lo - 1) * sizeof(engine_level));
    s->n--;
  } else if (qty > 0) {
    memmove(&s->v[lo + 1], &s->v[lo], (s->n - lo) * sizeof(engine_level));
    s->v[lo] = (engine_level){price, qty};
    s->n++;
  }
}

/* ------------------------------------------------------------------------ */
/* (a) events applied                                                       */

static double apply_mirror(const event *ev, size_t n, int64_t levels) {
  feed_book_pool pool;
  feed_book b;
  if (feed_book_pool_init(&pool, (uint32_t)(8 * levels), 1, 4096) != 0 ||
      feed_book_init(&b, &pool) != 0) {
    fprintf(stderr, "feed_bench: out of memory\n");
    exit(1);
  }
  uint64_t id = 0;
  for (unsigned side = 0; side < 2; side++) /* half the band occupied */
    for (int64_t d = 0; d < 2 * levels; d += 2) {
      if (feed_book_apply(&b, side, price_at(side, d), 100, ++id) == FEED_FLUSH) {
        feed_book_end_tick(&b);
        feed_book_apply(&b, side, price_at(side, d), 100, id);
      }
    }
  feed_book_end_tick(&b);
  uint64_t start = clock_mono_ns();
  for (size_t i = 0; i < n; i++) {
    feed_book_apply(&b, ev[i].side, ev[i].price, ev[i].qty, ++id);
    if (i % 1000 == 999) feed_book_end_tick(&b);
  }
  feed_book_end_tick(&b);
  double seconds = (double)(clock_mono_ns() - start) / 1e9;
  feed_book_free(&b);
  feed_book_pool_free(&pool);
  return (double)n / seconds;
}

static double apply_sorted(const event *ev, size_t n, int64_t levels) {
  sorted_side s[2];
  for (unsigned side = 0; side < 2; side++) {
    s[side].v = malloc((size_t)(2 * levels + 1) * sizeof(engine_level));
    s[side].n = 0;
    if (!s[side].v) exit(1);
    for (int64_t d = 0; d < 2 * levels; d += 2)
      sorted_apply(&s[side], side, price_at(side, d), 100);
  }
  uint64_t start = clock_mono_ns();
  for (size_t i = 0; i < n; i++) sorted_apply(&s[ev[i].side], ev[i].side, ev[i].price, ev[i].qty);
  double seconds = (double)(clock_mono_ns() - start) / 1e9;
  free(s[0].v);
  free(s[1].v);
  return (double)n / seconds;
}

static void bench_apply(size_t n, int reps) {
  event *ev = malloc(n * sizeof *ev);
  if (!ev) exit(1);
  printf("(a) level events applied, M events/s (median of %d runs)\n", reps);
  printf("%-12s %-8s %10s %12s %14s %8s\n", "levels/side", "flow", "events", "mirror",
         "sorted array", "ratio");
  static const int64_t sizes[] = {1000, 100000};
  for (size_t si = 0; si < 2; si++) {
    for (int top = 1; top >= 0; top--) {
      /* The large book's uniform flow is slow for the baseline: fewer events, same rate. */
      size_t count = si == 0 ? n : top ? n / 4 : n / 40;
      generate(ev, count, 2 * sizes[si], top);
      double m[64], s[64];
      for (int r = 0; r < reps; r++) {
        m[r] = apply_mirror(ev, count, sizes[si]) / 1e6;
        s[r] = apply_sorted(ev, count, sizes[si]) / 1e6;
      }
      double mm = median(m, reps), sm = median(s, reps);
      printf("%-12lld %-8s %10zu %12.2f %14.2f %7.2fx\n", (long long)sizes[si],
             top ? "top" : "uniform", count, mm, sm, mm / sm);
    }
  }
  free(ev);
}

/* ------------------------------------------------------------------------ */
/* (b) per-tick serialisation                                               */

static char out[1 << 20];

static void bench_tick(int reps) {
  static config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.asset_count = 2;
  snprintf(cfg.assets[0].name, sizeof cfg.assets[0].name, "BTC");
  cfg.assets[0].decimals = 8;
  snprintf(cfg.assets[1].name, sizeof cfg.assets[1].name, "USDT");
  cfg.assets[1].decimals = 6;
  cfg.market_count = 1;
  config_market *m = &cfg.markets[0];
  snprintf(m->name, sizeof m->name, "BTCUSDT");
  m->base = 0, m->quote = 1, m->price_scale = 2, m->tick = 1, m->qty_scale = 5, m->lot = 1;
  m->lot_units = 1000, m->notional_unit = 10;

  enum { TICKS = 2000, LEVELS = 1000 };
  static const int per_tick[] = {10, 100, 1000};
  printf("(b) depth channel per tick, %d-level book per side (median of %d; %d ticks per run)\n",
         LEVELS, reps, TICKS);
  printf("%-10s %14s %12s %16s %12s %8s\n", "events/tick", "diff ns/tick", "diff B/tick",
         "full book ns/tick", "full B/tick", "ratio");
  event *ev = malloc((size_t)TICKS * 1000 * sizeof *ev);
  if (!ev) exit(1);
  for (size_t k = 0; k < sizeof per_tick / sizeof per_tick[0]; k++) {
    size_t n = (size_t)TICKS * (size_t)per_tick[k];
    generate(ev, n, 2 * LEVELS, true);
    double diff_ns[64], full_ns[64], diff_bytes = 0, full_bytes = 0;
    for (int r = 0; r < reps; r++) {
      for (int full = 0; full < 2; full++) {
        char err[128];
        feed *f = feed_create(&cfg, &(feed_limits){.max_levels = 16 * LEVELS}, err, sizeof err);
        if (!f) {
          fprintf(stderr, "feed_bench: %s\n", err);
          exit(1);
        }
        uint64_t id = 0;
        for (unsigned side = 0; side < 2; side++)
          for (int64_t d = 0; d < 2 * LEVELS; d += 2)
            feed_apply_level(f, &(feed_level){.market = 0,
                                              .side = (uint8_t)side,
                                              .price = price_at(side, d),
                                              .qty = 12345,
                                              .update_id = ++id});
        feed_end_tick(f, 0, 0);
        uint64_t spent = 0;
        size_t bytes = 0;
        for (size_t t = 0, e = 0; t < TICKS; t++) {
          for (int j = 0; j < per_tick[k]; j++, e++)
            feed_apply_level(f, &(feed_level){.market = 0,
                                              .side = ev[e].side,
                                              .price = ev[e].price,
                                              .qty = ev[e].qty,
                                              .update_id = ++id});
          uint64_t start = clock_mono_ns();
          uint32_t bits = feed_end_tick(f, 0, 1000);
          size_t len = 0;
          feed_status st = FEED_OK;
          if (full)
            st = feed_write_snapshot(f, 0, 1000, out, sizeof out, &len);
          else if (bits & FEED_CHANGED(FEED_CHANNEL_DEPTH))
            st = feed_write_depth(f, 0, 1000, out, sizeof out, &len);
          spent += clock_mono_ns() - start;
          if (st != FEED_OK) {
            fprintf(stderr, "feed_bench: %s\n", feed_status_text(st));
            exit(1);
          }
          bytes += len;
        }
        (full ? full_ns : diff_ns)[r] = (double)spent / TICKS;
        *(full ? &full_bytes : &diff_bytes) = (double)bytes / TICKS;
        feed_destroy(f);
      }
    }
    double d = median(diff_ns, reps), fb = median(full_ns, reps);
    printf("%-10d %14.0f %12.0f %16.0f %12.0f %7.1fx\n", per_tick[k], d, diff_bytes, fb, full_bytes,
           fb / d);
  }
  free(ev);
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
  int reps = argc > 2 ? atoi(argv[2]) : 7;
  if (reps < 1 || reps > 63) reps = 7;
  if (n < 1000) n = 1000;
  bench_apply(n, reps);
  bench_tick(reps);
  return 0;
}
