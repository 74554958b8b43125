/*
 * engine_bench.c: the matching engine in process, one thread, no network, no
 * disk: throughput and per-command latency for
 *   (a) the exchange-core mix on one market: ~9 % GTC limits, 3 % IOC, 6 %
 *       cancels, 82 % amends that move an order's price, ~1000 resting orders
 *       over ~750 price levels, 1000 users, maker/taker fees on;
 *   (b) inserts only, as Liquibook's test/perf/pt_order_book.cpp measures:
 *       alternating buy and sell limits, buys at 1880..1889 and sells at
 *       1884..1893 (about half can cross), 100..1000 lots; the book keeps
 *       what does not trade, so it grows through the run as Liquibook's does.
 *       Liquibook's loop only matches; this one also settles balances and
 *       fees and emits every event.
 *
 * Method. Each command stream is generated once by driving an engine and
 * mirroring its open orders from its events (so cancels and amends name live
 * orders), then replayed into a fresh engine per repetition: the commands are
 * fixed, only the engine's work is timed. Every event goes through a sink
 * that copies it into a 4096-slot array, the cost an engine thread pays to
 * hand events to a ring. Throughput: wall time of the replay loop. Latency:
 * rdtsc (after lfence) around each engine_process call, the TSC calibrated
 * against CLOCK_MONOTONIC, the median cost of an empty timed section
 * subtracted (printed as "timer overhead"). Figures are medians over
 * REPETITIONS runs. Baseline, measured in the same run: the same engine with
 * a 64-tick price window, where nearly every level of (a) lives in the
 * fallback treaps (the shape of a tree-based book such as Liquibook's
 * std::map); on (b) the band fits the small window, so the two should match.
 *
 * Usage: engine_bench [commands_a] [commands_b] [repetitions]
 */
#include "bourse/clock.h"
#include "bourse/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#define USERS     1000
#define MID       100000
#define HALF_BAND 750 /* (a): each side's prices within 750 ticks of the mid */

/* ------------------------------------------------------------------------ */
/* Timing                                                                   */

static inline uint64_t ticks_now(void) {
#ifdef HAVE_TSC
  _mm_lfence();
  uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
#else
  return clock_mono_ns();
#endif
}

static double ns_per_tick = 1.0;
static double timer_overhead_ticks;

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void calibrate(void) {
#ifdef HAVE_TSC
  uint64_t n0 = clock_mono_ns(), t0 = ticks_now();
  while (clock_mono_ns() - n0 < 100000000) {
  }
  uint64_t n1 = clock_mono_ns(), t1 = ticks_now();
  ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
#endif
  static uint64_t empty[100000];
  for (size_t i = 0; i < 100000; i++) {
    uint64_t a = ticks_now();
    uint64_t b = ticks_now();
    empty[i] = b - a;
  }
  qsort(empty, 100000, sizeof *empty, compare_u64);
  timer_overhead_ticks = (double)empty[50000];
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

typedef struct op {
  uint8_t type; /* engine_cmd_type */
  uint8_t side;
  uint8_t tif;
  uint32_t uid;
  int64_t price;
  int64_t qty;
  uint64_t order_id;
} op;

typedef struct stream {
  op *ops;
  size_t count;
  size_t warmup;      /* the first `warmup` ops build the book and are not timed */
  size_t peak_orders; /* most orders open at once: sizes the replaying engine's pools */
} stream;

static config cfg;

static void make_config(void) {
  memset(&cfg, 0, sizeof cfg);
  cfg.asset_count = 2;
  snprintf(cfg.assets[0].name, sizeof cfg.assets[0].name, "BTC");
  snprintf(cfg.assets[1].name, sizeof cfg.assets[1].name, "USDT");
  cfg.assets[0].decimals = cfg.assets[1].decimals = 8;
  cfg.market_count = 1;
  config_market *m = &cfg.markets[0];
  snprintf(m->name, sizeof m->name, "BTCUSDT");
  m->base = 0, m->quote = 1, m->lot_units = 1000, m->notional_unit = 1;
  m->maker_fee = 1000, m->taker_fee = 2000;
  cfg.fees_account_uid = USERS + 1;
  cfg.fees_discount_asset = -1;
}

static inline void op_to_cmd(const op *o, engine_cmd *c) {
  c->type = o->type;
  c->uid = o->uid;
  c->side = o->side;
  c->tif = o->tif;
  c->price = o->price;
  c->qty = o->qty;
  c->order_id = o->order_id;
  c->flags = o->type == ENGINE_CMD_PLACE ? ENGINE_CMD_F_PRICE | ENGINE_CMD_F_QTY
                                         : ENGINE_CMD_F_ORDER_ID | ENGINE_CMD_F_PRICE;
}

/* The event sink: copies each event into a ring-sized array, as a hand-off to a ring would. */
static engine_event sink_ring[4096];
static size_t sink_next;

static void sink(void *ctx, const engine_event *ev) {
  (void)ctx;
  sink_ring[sink_next++ & 4095] = *ev;
}

/* Gives every user enough of both assets for the whole run. */
static void fund_users(engine *e) {
  engine_cmd c = {.type = ENGINE_CMD_DEPOSIT, .amount = (int64_t)1 << 50};
  for (uint32_t u = 1; u <= USERS; u++) {
    c.uid = u;
    for (uint32_t a = 0; a < 2; a++) {
      c.asset = a;
      engine_process(e, &c, sink, NULL);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Generation: a mirror of the generating engine's open orders              */

typedef struct mirror_order {
  uint64_t id;
  int64_t price;
  uint32_t uid;
  uint8_t side;
} mirror_order;

static mirror_order *mirror;  /* open orders, unordered */
static uint32_t *mirror_slot; /* order id -> 1 + index in mirror, 0 = closed */
static size_t mirror_count;

static void mirror_event(void *ctx, const engine_event *ev) {
  (void)ctx;
  if (ev->type != ENGINE_EVENT_ORDER) return;
  uint64_t id = ev->u.order.order_id;
  bool open = ev->u.order.status == ENGINE_STATUS_NEW ||
              ev->u.order.status == ENGINE_STATUS_PARTIALLY_FILLED;
  uint32_t slot = mirror_slot[id];
  if (open && !slot) {
    mirror[mirror_count] =
        (mirror_order){id, ev->u.order.price, (uint32_t)ev->uid, ev->u.order.side};
    mirror_slot[id] = (uint32_t)++mirror_count;
  } else if (open) {
    mirror[slot - 1].price = ev->u.order.price;
  } else if (slot) {
    mirror[slot - 1] = mirror[--mirror_count];
    mirror_slot[mirror[slot - 1].id] = slot;
    mirror_slot[id] = 0;
  }
}

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int64_t passive_price(uint8_t side) {
  int64_t offset = 1 + (int64_t)(rng() % HALF_BAND);
  return side == ENGINE_SIDE_BUY ? MID - offset : MID + offset;
}

/* One op of the exchange-core mix, given the mirror of the book. */
static op next_mix_op(void) {
  op o = {.uid = (uint32_t)(1 + rng() % USERS), .qty = 1 + (int64_t)(rng() % 10)};
  unsigned r = (unsigned)(rng() % 100);
  if (mirror_count < 950) r = 0;           /* refill towards ~1000 resting orders */
  if (mirror_count > 1050) r = 12;         /* or drain */
  if (mirror_count == 0 && r >= 12) r = 0; /* nothing to cancel or move */
  o.side = (uint8_t)(rng() % 2);
  if (r < 9) { /* GTC limit, one in ten crossing the spread */
    o.type = ENGINE_CMD_PLACE;
    o.tif = ENGINE_TIF_GTC;
    o.price = rng() % 10 ? passive_price(o.side) : (o.side == ENGINE_SIDE_BUY ? MID + 2 : MID - 2);
  } else if (r < 12) { /* IOC taking the touch */
    o.type = ENGINE_CMD_PLACE;
    o.tif = ENGINE_TIF_IOC;
    o.price = o.side == ENGINE_SIDE_BUY ? MID + HALF_BAND : MID - HALF_BAND;
  } else {
    const mirror_order *m = &mirror[rng() % mirror_count];
    o.order_id = m->id;
    o.uid = m->uid;
    o.side = m->side;
    if (r < 18) {
      o.type = ENGINE_CMD_CANCEL;
    } else { /* move: a few ticks, staying on its side of the mid */
      o.type = ENGINE_CMD_AMEND;
      int64_t price = m->price + (int64_t)(rng() % 7) - 3;
      if (price == m->price) price += m->side == ENGINE_SIDE_BUY ? -1 : 1;
      if (m->side == ENGINE_SIDE_BUY && (price >= MID || price < MID - HALF_BAND))
        price = passive_price(ENGINE_SIDE_BUY);
      if (m->side == ENGINE_SIDE_SELL && (price <= MID || price > MID + HALF_BAND))
        price = passive_price(ENGINE_SIDE_SELL);
      o.price = price;
    }
  }
  return o;
}

/*
 * One insert of (b), Liquibook's pt_order_book distribution: sides alternate,
 * buys at 1880..1889, sells at 1884..1893 (so about half can cross), quantity
 * 100..1000 in steps of 100.
 */
static size_t insert_serial;

static op next_insert_op(void) {
  op o = {.type = ENGINE_CMD_PLACE, .tif = ENGINE_TIF_GTC, .uid = (uint32_t)(1 + rng() % USERS)};
  o.side = insert_serial++ % 2 ? ENGINE_SIDE_SELL : ENGINE_SIDE_BUY;
  o.price = (o.side == ENGINE_SIDE_BUY ? 1880 : 1884) + (int64_t)(rng() % 10);
  o.qty = (1 + (int64_t)(rng() % 10)) * 100;
  return o;
}

/* The accepted-and-crossing share of a stream, for the printout. */
static size_t generated_trades;

static void count_trades(void *ctx, const engine_event *ev) {
  mirror_event(ctx, ev);
  generated_trades += ev->type == ENGINE_EVENT_TRADE;
}

static engine *bench_engine(uint32_t max_orders, unsigned window_bits, bool prefault) {
  char err[200];
  engine_limits lim = {.max_orders = max_orders,
                       .max_accounts = 4 * USERS,
                       .max_users = 2 * USERS,
                       .price_window_bits = window_bits,
                       .prefault = prefault};
  engine *e = engine_create(&cfg, &lim, err, sizeof err);
  if (!e) {
    fprintf(stderr, "engine_bench: %s\n", err);
    exit(1);
  }
  fund_users(e);
  return e;
}

static stream generate(size_t count, size_t warmup, bool mix) {
  stream s = {.ops = malloc(count * sizeof(op)), .count = count, .warmup = warmup};
  mirror = malloc((count + 1) * sizeof *mirror);
  mirror_slot = calloc(count + 2, sizeof *mirror_slot);
  if (!s.ops || !mirror || !mirror_slot) {
    fprintf(stderr, "engine_bench: out of memory\n");
    exit(1);
  }
  mirror_count = 0;
  generated_trades = 0;
  engine *e = bench_engine((uint32_t)count + 16, 16, false);
  engine_cmd c = {.market = 0};
  for (size_t i = 0; i < count; i++) {
    s.ops[i] = mix ? next_mix_op() : next_insert_op();
    op_to_cmd(&s.ops[i], &c);
    engine_process(e, &c, count_trades, NULL);
    if (engine_open_orders(e) > s.peak_orders) s.peak_orders = engine_open_orders(e);
  }
  engine_level bids[2048], asks[2048];
  size_t nb = engine_depth(e, 0, ENGINE_SIDE_BUY, bids, 2048);
  size_t na = engine_depth(e, 0, ENGINE_SIDE_SELL, asks, 2048);
  printf("  stream: %zu commands (+%zu untimed warm-up), %zu trades, at the end %zu open orders "
         "on %zu levels\n",
         count - warmup, warmup, generated_trades, engine_open_orders(e), nb + na);
  engine_destroy(e);
  free(mirror);
  free(mirror_slot);
  return s;
}

/* ------------------------------------------------------------------------ */
/* Replay                                                                   */

typedef struct result {
  double mops;                /* million commands per second */
  double p50, p99, p999, max; /* ns */
} result;

static void warm(engine *e, const stream *s) {
  engine_cmd c = {.market = 0};
  for (size_t i = 0; i < s->warmup; i++) {
    op_to_cmd(&s->ops[i], &c);
    engine_process(e, &c, sink, NULL);
  }
}

static double run_throughput(const stream *s, unsigned window_bits) {
  engine *e = bench_engine((uint32_t)s->peak_orders + 1024, window_bits, true);
  warm(e, s);
  engine_cmd c = {.market = 0};
  uint64_t t0 = clock_mono_ns();
  for (size_t i = s->warmup; i < s->count; i++) {
    op_to_cmd(&s->ops[i], &c);
    engine_process(e, &c, sink, NULL);
  }
  uint64_t t1 = clock_mono_ns();
  engine_destroy(e);
  return (double)(s->count - s->warmup) / ((double)(t1 - t0) / 1e3);
}

static void run_latency(const stream *s, unsigned window_bits, uint64_t *samples, result *r) {
  engine *e = bench_engine((uint32_t)s->peak_orders + 1024, window_bits, true);
  warm(e, s);
  engine_cmd c = {.market = 0};
  size_t n = 0;
  for (size_t i = s->warmup; i < s->count; i++) {
    op_to_cmd(&s->ops[i], &c);
    uint64_t a = ticks_now();
    engine_process(e, &c, sink, NULL);
    samples[n++] = ticks_now() - a;
  }
  engine_destroy(e);
  qsort(samples, n, sizeof *samples, compare_u64);
  double scale = ns_per_tick;
#define AT(q) (((double)samples[(size_t)((double)(n - 1) * (q))] - timer_overhead_ticks) * scale)
  r->p50 = AT(0.5);
  r->p99 = AT(0.99);
  r->p999 = AT(0.999);
  r->max = AT(1.0);
#undef AT
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, compare_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Medians over `reps` runs of throughput and of each latency percentile. */
static result measure(const stream *s, unsigned window_bits, int reps) {
  double mops[32], p50[32], p99[32], p999[32], max[32];
  uint64_t *samples = malloc(s->count * sizeof *samples);
  for (int i = 0; i < reps; i++) {
    mops[i] = run_throughput(s, window_bits);
    result r;
    run_latency(s, window_bits, samples, &r);
    p50[i] = r.p50, p99[i] = r.p99, p999[i] = r.p999, max[i] = r.max;
  }
  free(samples);
  return (result){median(mops, reps), median(p50, reps), median(p99, reps), median(p999, reps),
                  median(max, reps)};
}

static void report(const char *name, const stream *s, int reps) {
  printf("%s\n", name);
  result fast = measure(s, 16, reps), base = measure(s, 6, reps);
  printf("  %-24s %8s %9s %9s %9s %9s\n", "", "M cmd/s", "p50 ns", "p99 ns", "p99.9 ns", "max ns");
  printf("  %-24s %8.2f %9.0f %9.0f %9.0f %9.0f\n", "window 2^16 (default)", fast.mops, fast.p50,
         fast.p99, fast.p999, fast.max);
  printf("  %-24s %8.2f %9.0f %9.0f %9.0f %9.0f\n", "baseline: window 2^6", base.mops, base.p50,
         base.p99, base.p999, base.max);
  printf("  throughput ratio default / baseline: %.2fx\n", fast.mops / base.mops);
}

int main(int argc, char **argv) {
  size_t count_a = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
  size_t count_b = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000000;
  int reps = argc > 3 ? atoi(argv[3]) : 5;
  if (reps < 1 || reps > 31 || count_a < 10000 || count_b < 1000) {
    fprintf(stderr,
            "usage: engine_bench [commands_a >= 10000] [commands_b >= 1000] [reps 1..31]\n");
    return 2;
  }
  make_config();
  calibrate();
  printf("engine_bench: medians of %d runs; sizeof(engine_cmd) %zu, sizeof(engine_event) %zu\n",
         reps, sizeof(engine_cmd), sizeof(engine_event));
#ifdef HAVE_TSC
  printf("timer: rdtsc at %.3f GHz, overhead %.0f ticks (%.1f ns) subtracted from each sample\n",
         1.0 / ns_per_tick, timer_overhead_ticks, timer_overhead_ticks * ns_per_tick);
#else
  printf("timer: clock_gettime, overhead %.0f ns subtracted from each sample\n",
         timer_overhead_ticks);
#endif
  stream a = generate(count_a + 20000, 20000, true);
  report("(a) exchange-core mix: 9% GTC, 3% IOC, 6% cancel, 82% move; ~1000 orders, 1000 users", &a,
         reps);
  stream b = generate(count_b, 0, false);
  report("(b) inserts only (Liquibook pt_order_book distribution)", &b, reps);
  free(a.ops);
  free(b.ops);
  return 0;
}
