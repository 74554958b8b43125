/*
 * test_feed_property.c: the depth channel's proof. Seeded random level
 * events (two markets, interleaved, prices near the top and deep) with
 * random tick boundaries go through the feed and, independently, into a
 * naive model here (an array price -> qty per side). At every end of period
 * the test parses the feed's own JSON messages (json_parse) and checks:
 *  - the diff chain: U == previous u + 1, u == the last id applied;
 *  - the diff is exactly the set of levels whose qty differs from the model
 *    at the previous diff, with the final qty (conflation loses nothing and
 *    adds nothing), bids strictly descending, asks strictly ascending;
 *  - @depth5/10/20 and @bbo are flagged exactly when the model's top N or
 *    best changed, and carry the model's values;
 *  - clients that subscribed at random tick boundaries (snapshot, then
 *    diffs) hold exactly the model's book: all of it when their snapshot was
 *    not capped, and every price at or better than their snapshot's last
 *    level when it was (the snapshot cap is checked too).
 * One configuration uses a small max_diff_levels, so FEED_FLUSH ends periods
 * early mid-tick; one uses a small snapshot cap.
 *
 * Sizes: BOURSE_PROPERTY_EVENTS overrides the events per run;
 * BOURSE_PROPERTY_SEED runs one seed only.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bourse/feed.h"
#include "bourse/json.h"
#include "check.h"

#define MARKETS   2
#define PRICES    400 /* prices 1..PRICES ticks */
#define CLIENTS   6   /* per market */
#define TOKENS    (1 << 16)
#define BUF_BYTES (1 << 20)

static config cfg;

static void make_config(void) {
  memset(&cfg, 0, sizeof cfg);
  cfg.asset_count = 3;
  snprintf(cfg.assets[0].name, sizeof cfg.assets[0].name, "BTC");
  cfg.assets[0].decimals = 8;
  snprintf(cfg.assets[1].name, sizeof cfg.assets[1].name, "USDT");
  cfg.assets[1].decimals = 6;
  snprintf(cfg.assets[2].name, sizeof cfg.assets[2].name, "ETH");
  cfg.assets[2].decimals = 8;
  cfg.market_count = MARKETS;
  config_market *m = &cfg.markets[0];
  snprintf(m->name, sizeof m->name, "BTCUSDT");
  m->base = 0, m->quote = 1, m->price_scale = 2, m->tick = 5, m->qty_scale = 3, m->lot = 1;
  m->lot_units = 100000, m->notional_unit = 1;
  m = &cfg.markets[1];
  snprintf(m->name, sizeof m->name, "ETHBTC");
  m->base = 2, m->quote = 0, m->price_scale = 5, m->tick = 1, m->qty_scale = 2, m->lot = 25;
  m->lot_units = 1, m->notional_unit = 1;
}

static uint64_t rng_state;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
static int64_t rnd_range(int64_t lo, int64_t hi) { /* inclusive */
  return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* ------------------------------------------------------------------------ */
/* Parsing the feed's JSON back into integers (independent of engine_json) */

static json_token tokens[TOKENS];
static char buf[BUF_BYTES];

/* Parses "D+(.D+)?" into value x 10^scale; false when malformed or finer than scale. */
static bool parse_scaled(const json_doc *doc, uint32_t tok, unsigned scale, int64_t *out) {
  const char *s;
  size_t len;
  if (!json_string_raw(doc, tok, &s, &len) || len == 0) return false;
  int64_t v = 0;
  size_t i = 0;
  unsigned frac = 0;
  bool dot = false;
  for (; i < len; i++) {
    if (s[i] == '.' && !dot) {
      dot = true;
      continue;
    }
    if (s[i] < '0' || s[i] > '9') return false;
    if (dot && ++frac > scale) return false;
    v = v * 10 + (s[i] - '0');
  }
  for (; frac < scale; frac++) v *= 10;
  *out = v;
  return true;
}

static bool parse_price(const json_doc *doc, uint32_t tok, const config_market *m, int64_t *ticks) {
  int64_t v;
  if (!parse_scaled(doc, tok, m->price_scale, &v) || v % m->tick != 0) return false;
  *ticks = v / m->tick;
  return true;
}

static bool parse_qty(const json_doc *doc, uint32_t tok, const config_market *m, int64_t *lots) {
  int64_t v;
  if (!parse_scaled(doc, tok, m->qty_scale, &v) || v % m->lot != 0) return false;
  *lots = v / m->lot;
  return true;
}

static uint64_t get_u64(const json_doc *doc, uint32_t obj, const char *key) {
  uint64_t v = 0;
  uint32_t t = json_object_get(doc, obj, key, strlen(key));
  CHECK(t != JSON_NONE && json_get_uint64(doc, t, &v) == JSON_OK);
  return v;
}

/* Reads [["p","q"],...] into out (max entries); returns the count, or -1 when malformed. */
static int parse_levels(const json_doc *doc, uint32_t arr, const config_market *m,
                        engine_level *out, int max) {
  if (arr == JSON_NONE || doc->tokens[arr].type != JSON_ARRAY) return -1;
  int n = 0;
  for (uint32_t i = arr + 1, k = 0; k < doc->tokens[arr].count; k++, i = doc->tokens[i].next) {
    if (doc->tokens[i].type != JSON_ARRAY || doc->tokens[i].count != 2 || n == max) return -1;
    if (!parse_price(doc, i + 1, m, &out[n].price) || !parse_qty(doc, i + 2, m, &out[n].qty))
      return -1;
    n++;
  }
  return n;
}

/* Parses buf[0..len) as a push of `channel` and returns the data token (JSON_NONE on error). */
static uint32_t parse_push(json_doc *doc, size_t len, const char *channel) {
  json_limits lim = {.max_bytes = BUF_BYTES, .max_depth = 8, .max_tokens = TOKENS};
  if (json_parse(buf, len, tokens, &lim, doc) != JSON_OK) return JSON_NONE;
  uint32_t ev = json_object_get(doc, 0, "event", 5);
  if (ev == JSON_NONE || !json_string_equals(doc, ev, channel, strlen(channel))) return JSON_NONE;
  return json_object_get(doc, 0, "data", 4);
}

/* True when levels are strictly in book order (bids descending, asks ascending). */
static bool sorted(const engine_level *l, int n, unsigned side) {
  for (int i = 1; i < n; i++)
    if (side == 0 ? l[i].price >= l[i - 1].price : l[i].price <= l[i - 1].price) return false;
  return true;
}

/* ------------------------------------------------------------------------ */
/* Model and clients                                                        */

typedef struct model {
  int64_t qty[2][PRICES + 1];
  int64_t published[2][PRICES + 1]; /* the book as of the last diff */
  uint64_t id;                      /* last update id */
  uint64_t published_u;
  engine_level top[2][FEED_TOP_MAX];
  int top_count[2];
  int64_t bbo[4];
} model;

typedef struct client {
  bool active;
  uint64_t u;
  int64_t qty[2][PRICES + 1];
  int64_t bound[2]; /* 0: the whole side is known; else the snapshot's last price */
} client;

static model models[MARKETS];
static client clients[MARKETS][CLIENTS];
static feed_limits run_limits;
static uint64_t checked_clients, diffs_seen, flushes, capped_snapshots;

static int model_top(const model *md, unsigned side, engine_level *out, int max) {
  int n = 0;
  for (int i = 0; i < PRICES && n < max; i++) {
    int64_t p = side == 0 ? PRICES - i : 1 + i;
    if (md->qty[side][p] > 0) out[n++] = (engine_level){p, md->qty[side][p]};
  }
  return n;
}

/* Whether the first n levels of a and b (each with its count) differ. */
static bool top_differs(const engine_level *a, int na, const engine_level *b, int nb, int n) {
  int ca = na < n ? na : n, cb = nb < n ? nb : n;
  if (ca != cb) return true;
  for (int i = 0; i < ca; i++)
    if (a[i].price != b[i].price || a[i].qty != b[i].qty) return true;
  return false;
}

static bool client_matches(const client *c, const model *md) {
  for (unsigned side = 0; side < 2; side++)
    for (int64_t p = 1; p <= PRICES; p++) {
      bool known = c->bound[side] == 0 || (side == 0 ? p >= c->bound[side] : p <= c->bound[side]);
      if (known && c->qty[side][p] != md->qty[side][p]) return false;
    }
  return true;
}

static void check_diff(feed *f, unsigned m, int64_t now) {
  const config_market *cm = &cfg.markets[m];
  model *md = &models[m];
  size_t len;
  CHECK_EQ_INT(feed_write_depth(f, m, now, buf, sizeof buf, &len), FEED_OK);
  char channel[FEED_CHANNEL_NAME_MAX];
  feed_channel_name(&cfg, m, FEED_CHANNEL_DEPTH, channel);
  json_doc doc;
  uint32_t data = parse_push(&doc, len, channel);
  CHECK(data != JSON_NONE);
  if (data == JSON_NONE) return;
  uint64_t U = get_u64(&doc, data, "U"), u = get_u64(&doc, data, "u");
  CHECK_EQ_INT(U, md->published_u + 1);
  CHECK_EQ_INT(u, md->id);
  md->published_u = u;
  static engine_level levels[2][PRICES];
  int n[2];
  n[0] = parse_levels(&doc, json_object_get(&doc, data, "bids", 4), cm, levels[0], PRICES);
  n[1] = parse_levels(&doc, json_object_get(&doc, data, "asks", 4), cm, levels[1], PRICES);
  diffs_seen++;
  for (unsigned side = 0; side < 2; side++) {
    CHECK(n[side] >= 0);
    if (n[side] < 0) return;
    CHECK(sorted(levels[side], n[side], side));
    /* Exactly the levels that differ from the book at the previous diff, with their final qty. */
    int changed = 0;
    for (int64_t p = 1; p <= PRICES; p++) changed += md->qty[side][p] != md->published[side][p];
    CHECK_EQ_INT(n[side], changed);
    for (int i = 0; i < n[side]; i++) {
      int64_t p = levels[side][i].price;
      CHECK(p >= 1 && p <= PRICES);
      if (p < 1 || p > PRICES) continue;
      CHECK_EQ_INT(levels[side][i].qty, md->qty[side][p]);
      CHECK(md->qty[side][p] != md->published[side][p]);
    }
  }
  memcpy(md->published, md->qty, sizeof md->qty);
  for (int k = 0; k < CLIENTS; k++) {
    client *c = &clients[m][k];
    if (!c->active) continue;
    CHECK_EQ_INT(U, c->u + 1);
    c->u = u;
    for (unsigned side = 0; side < 2; side++)
      for (int i = 0; i < n[side]; i++) c->qty[side][levels[side][i].price] = levels[side][i].qty;
  }
}

static void check_top(feed *f, unsigned m, uint32_t bits, int64_t now) {
  static const feed_channel channels[3] = {FEED_CHANNEL_DEPTH5, FEED_CHANNEL_DEPTH10,
                                           FEED_CHANNEL_DEPTH20};
  static const int depth[3] = {5, 10, 20};
  const config_market *cm = &cfg.markets[m];
  model *md = &models[m];
  engine_level top[2][FEED_TOP_MAX];
  int count[2];
  for (unsigned side = 0; side < 2; side++) count[side] = model_top(md, side, top[side], 20);
  for (int k = 0; k < 3; k++) {
    bool want = top_differs(top[0], count[0], md->top[0], md->top_count[0], depth[k]) ||
                top_differs(top[1], count[1], md->top[1], md->top_count[1], depth[k]);
    bool got = (bits & FEED_CHANGED(channels[k])) != 0;
    CHECK_EQ_INT(got, want);
    if (!got) continue;
    size_t len;
    CHECK_EQ_INT(feed_write_top(f, m, channels[k], now, buf, sizeof buf, &len), FEED_OK);
    char channel[FEED_CHANNEL_NAME_MAX];
    feed_channel_name(&cfg, m, channels[k], channel);
    json_doc doc;
    uint32_t data = parse_push(&doc, len, channel);
    CHECK(data != JSON_NONE);
    if (data == JSON_NONE) continue;
    CHECK_EQ_INT(get_u64(&doc, data, "u"), md->id);
    engine_level got_levels[FEED_TOP_MAX];
    for (unsigned side = 0; side < 2; side++) {
      int n = parse_levels(&doc, json_object_get(&doc, data, side ? "asks" : "bids", 4), cm,
                           got_levels, FEED_TOP_MAX);
      int want_n = count[side] < depth[k] ? count[side] : depth[k];
      CHECK_EQ_INT(n, want_n);
      CHECK(n == want_n && !top_differs(got_levels, n, top[side], want_n, want_n));
    }
  }
  memcpy(md->top, top, sizeof top);
  memcpy(md->top_count, count, sizeof count);

  int64_t bbo[4] = {count[0] ? top[0][0].price : 0, count[0] ? top[0][0].qty : 0,
                    count[1] ? top[1][0].price : 0, count[1] ? top[1][0].qty : 0};
  bool want = memcmp(bbo, md->bbo, sizeof bbo) != 0;
  CHECK_EQ_INT((bits & FEED_CHANGED(FEED_CHANNEL_BBO)) != 0, want);
  if (want) {
    size_t len;
    CHECK_EQ_INT(feed_write_bbo(f, m, now, buf, sizeof buf, &len), FEED_OK);
    char channel[FEED_CHANNEL_NAME_MAX];
    feed_channel_name(&cfg, m, FEED_CHANNEL_BBO, channel);
    json_doc doc;
    uint32_t data = parse_push(&doc, len, channel);
    CHECK(data != JSON_NONE);
    if (data != JSON_NONE) {
      static const char *keys[4] = {"bid", "bid_qty", "ask", "ask_qty"};
      for (int i = 0; i < 4; i++) {
        uint32_t t = json_object_get(&doc, data, keys[i], strlen(keys[i]));
        int64_t v = -1;
        CHECK(t != JSON_NONE &&
              (i % 2 ? parse_qty(&doc, t, cm, &v) : parse_price(&doc, t, cm, &v)));
        CHECK_EQ_INT(v, bbo[i]);
      }
      CHECK_EQ_INT(get_u64(&doc, data, "u"), md->id);
    }
    memcpy(md->bbo, bbo, sizeof bbo);
  }
}

/* After a market's end of period: every message it published, checked against the model. */
static void check_period(feed *f, unsigned m, uint32_t bits, int64_t now) {
  model *md = &models[m];
  if (bits & FEED_CHANGED(FEED_CHANNEL_DEPTH))
    check_diff(f, m, now);
  else
    CHECK_EQ_INT(md->published_u, md->id); /* no id left unpublished */
  check_top(f, m, bits, now);
  for (int k = 0; k < CLIENTS; k++) {
    client *c = &clients[m][k];
    if (!c->active) continue;
    CHECK(client_matches(c, md));
    checked_clients++;
  }
}

/* A client subscribes at a tick boundary: snapshot, checked, then it follows the diffs. */
static void subscribe(feed *f, unsigned m, client *c, int64_t now) {
  const config_market *cm = &cfg.markets[m];
  model *md = &models[m];
  size_t len;
  CHECK_EQ_INT(feed_write_snapshot(f, m, now, buf, sizeof buf, &len), FEED_OK);
  char channel[FEED_CHANNEL_NAME_MAX];
  feed_channel_name(&cfg, m, FEED_CHANNEL_DEPTH, channel);
  json_doc doc;
  uint32_t data = parse_push(&doc, len, channel);
  CHECK(data != JSON_NONE);
  if (data == JSON_NONE) return;
  uint32_t snap = json_object_get(&doc, data, "snapshot", 8);
  bool is_snapshot = false;
  CHECK(snap != JSON_NONE && json_get_bool(&doc, snap, &is_snapshot) == JSON_OK && is_snapshot);
  memset(c, 0, sizeof *c);
  c->u = get_u64(&doc, data, "u");
  CHECK_EQ_INT(c->u, md->id);
  CHECK_EQ_INT(c->u, md->published_u); /* so the next diff's U is u + 1 */
  static engine_level levels[PRICES + 1];
  int cap = (int)run_limits.snapshot_levels;
  for (unsigned side = 0; side < 2; side++) {
    int n = parse_levels(&doc, json_object_get(&doc, data, side ? "asks" : "bids", 4), cm, levels,
                         PRICES + 1);
    CHECK(n >= 0 && n <= cap);
    if (n < 0) return;
    CHECK(sorted(levels, n, side));
    int want = 0;
    for (int64_t p = 1; p <= PRICES; p++) want += md->qty[side][p] > 0;
    CHECK_EQ_INT(n, want < cap ? want : cap);
    for (int i = 0; i < n; i++) c->qty[side][levels[i].price] = levels[i].qty;
    c->bound[side] = n == cap ? levels[n - 1].price : 0;
    if (n == cap) capped_snapshots++;
  }
  c->active = true;
  CHECK(client_matches(c, md));
}

/* ------------------------------------------------------------------------ */
/* Runs                                                                     */

static void run(uint64_t seed, long events, const feed_limits *limits) {
  rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
  run_limits = *limits;
  char err[128];
  feed *f = feed_create(&cfg, limits, err, sizeof err);
  CHECK(f != NULL);
  if (!f) {
    fprintf(stderr, "feed_create: %s\n", err);
    return;
  }
  run_limits = *feed_get_limits(f);
  memset(models, 0, sizeof models);
  memset(clients, 0, sizeof clients);
  int64_t now = 1700000000000;
  for (long i = 0; i < events; i++) {
    unsigned m = (unsigned)(rnd() % MARKETS);
    model *md = &models[m];
    feed_level ev = {.market = m, .side = (uint8_t)(rnd() % 2)};
    /* Half the events near each side's best region, half anywhere. */
    if (rnd() % 2)
      ev.price = ev.side == 0 ? rnd_range(180, 210) : rnd_range(190, 220);
    else
      ev.price = rnd_range(1, PRICES);
    ev.qty = rnd() % 3 == 0 ? 0 : rnd_range(1, 5000);
    ev.update_id = md->id + 1;
    feed_status st = feed_apply_level(f, &ev);
    if (st == FEED_FLUSH) { /* the period is full: end it early, as the broadcast thread would */
      flushes++;
      check_period(f, m, feed_end_tick(f, m, now), now);
      st = feed_apply_level(f, &ev);
    }
    CHECK_EQ_INT(st, FEED_OK);
    md->id = ev.update_id;
    md->qty[ev.side][ev.price] = ev.qty;
    if (rnd() % 25 == 0) {
      now += 50;
      feed_tick(f, now);
      for (unsigned k = 0; k < MARKETS; k++) check_period(f, k, feed_changed(f, k), now);
      if (rnd() % 8 == 0) {
        unsigned mk = (unsigned)(rnd() % MARKETS);
        subscribe(f, mk, &clients[mk][rnd() % CLIENTS], now);
      }
    }
  }
  feed_destroy(f);
}

int main(void) {
  make_config();
  long events = 60000;
  const char *type = getenv("BOURSE_BUILD_TYPE");
  if (type && (strcmp(type, "Asan") == 0 || strcmp(type, "Debug") == 0)) events = 30000;
  if (getenv("BOURSE_PROPERTY_EVENTS")) events = atol(getenv("BOURSE_PROPERTY_EVENTS"));
  uint64_t first = 1, last = 3;
  if (getenv("BOURSE_PROPERTY_SEED"))
    first = last = strtoull(getenv("BOURSE_PROPERTY_SEED"), 0, 10);
  for (uint64_t seed = first; seed <= last; seed++) {
    /* Defaults: no flush (a period never holds 4096 changes here), full snapshots. */
    run(seed, events, &(feed_limits){0});
    /* Small periods: FEED_FLUSH mid-tick; small snapshots: capped clients. */
    run(seed + 100, events, &(feed_limits){.max_diff_levels = 7, .snapshot_levels = 12});
    /* The live-level bound: exactly what the two books can hold (2 sides x PRICES each). */
    run(seed + 200, events,
        &(feed_limits){.max_levels = 4 * PRICES, .max_diff_levels = 1, .snapshot_levels = 1});
  }
  printf("feed_property: %" PRIu64 " diffs, %" PRIu64 " flushes, %" PRIu64
         " client checks, %" PRIu64 " capped snapshot sides\n",
         diffs_seen, flushes, checked_clients, capped_snapshots);
  CHECK(diffs_seen > 0 && flushes > 0 && checked_clients > 0 && capped_snapshots > 0);
  return check_report("feed_property");
}
