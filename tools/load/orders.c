/*
 * orders.c: the orders scenario of bourse-load: every connection logs in as
 * its own user (an HS256 JWT minted here), subscribes to @trade, cancels
 * whatever that user left open, and then places, amends and cancels limit
 * orders around a mid that follows a random walk, some of them priced
 * through the mid so that they trade. It measures order -> ack latency (an
 * ack is the reply with the request's id, success or error), counts error
 * replies by code and fills seen on @trade. Runs on the worker threads; each
 * call touches only the calling worker's connections and statistics.
 *
 * Each connection keeps a small table of the orders it believes open, keyed
 * by the sequence number in their client_id ("<run tag>-<seq>"), so it can
 * cancel or amend an order before the reply to its placement has arrived
 * (the server handles one connection's requests in order). An entry leaves
 * the table when a cancel is sent for it, when @trade shows it completely
 * filled, or when the reply to its placement says it is done or rejected.
 *
 * Some error replies are races the tool cannot avoid and are counted but
 * not treated as errors (expected_error): 4006 to a cancel or amend of an
 * order that has just filled completely (the @trade push is still on its
 * way) or whose placement was refused; 4003 to an amend that lowers the
 * quantity while an unseen fill has already taken it to or below the new
 * quantity. Every other error reply (4004 insufficient balance above all:
 * the deposits were too small) is an error of the run.
 *
 * Hot path starts at load_orders_compose / load_orders_on_message: no
 * allocation, no system call; messages are built on the stack and copied
 * into the connection's send buffer.
 */
#include "bourse/clock.h"
#include "bourse/decimal.h"
#include "load.h"

#include <string.h>
#include <sys/random.h>

enum { SIDE_BUY = 0, SIDE_SELL = 1 };

/* Set-up steps, one bit each in load_orders_conn.setup_pending. */
enum { SETUP_AUTH = 1, SETUP_SUBSCRIBE = 2, SETUP_CANCEL_ALL = 4 };

/* Longest market name accepted: keeps every message well inside TEXT_CAP. */
#define MARKET_MAX 32
#define TEXT_CAP   512

static const char *const op_names[LOAD_ORDER_OPS] = {"place", "cancel", "amend"};

const char *load_order_op_name(load_order_op op) {
  return op < LOAD_ORDER_OPS ? op_names[op] : "?";
}

/* ----------------------------------------------------------------- options */

/* Parses a non-negative decimal at the smallest scale that holds it exactly. */
static bool parse_exact(const char *s, unsigned *scale, int64_t *units) {
  const char *dot = strchr(s, '.');
  size_t frac = dot ? strlen(dot + 1) : 0;
  while (frac > 0 && dot[frac] == '0') frac--; /* trailing zeros add no precision */
  if (frac > DECIMAL_MAX_SCALE) return false;
  *scale = (unsigned)frac;
  return decimal_parse(s, strlen(s), *scale, 0, units) == DECIMAL_OK;
}

/* Parses value and step at a common scale: *count = value / step, exact. */
static int parse_multiple(const char *value, const char *step, unsigned *scale, int64_t *step_units,
                          int64_t *count, char *err, size_t errlen, const char *vname,
                          const char *sname) {
  unsigned vs, ss;
  int64_t v, st;
  if (!parse_exact(value, &vs, &v) || !parse_exact(step, &ss, &st)) {
    snprintf(err, errlen, "%s '%s' and %s '%s' must be exact positive decimals", vname, value,
             sname, step);
    return -1;
  }
  *scale = vs > ss ? vs : ss;
  if (decimal_parse(value, strlen(value), *scale, 0, &v) != DECIMAL_OK ||
      decimal_parse(step, strlen(step), *scale, 0, &st) != DECIMAL_OK || st <= 0 || v <= 0) {
    snprintf(err, errlen, "%s '%s' and %s '%s' must be positive and fit in 64 bits", vname, value,
             sname, step);
    return -1;
  }
  if (v % st != 0) {
    snprintf(err, errlen, "%s '%s' must be a multiple of %s '%s'", vname, value, sname, step);
    return -1;
  }
  *step_units = st;
  *count = v / st;
  return 0;
}

static int fail_usage(char *err, size_t errlen, const char *msg) {
  snprintf(err, errlen, "%s", msg);
  return -1;
}

/* The random walk's bounds: 5 % either side of the start, prices stay >= 1 tick. */
static int setup_walk(load_orders_options *o, char *err, size_t errlen) {
  int64_t spread = o->spread_ticks;
  if (o->mid_ticks <= spread + 1)
    return fail_usage(err, errlen, "--mid must be more than --spread-ticks + 1 ticks");
  int64_t band = o->mid_ticks / 20;
  o->walk_low = o->mid_ticks - band;
  if (o->walk_low < spread + 1) o->walk_low = spread + 1;
  o->walk_high = o->mid_ticks + band;
  o->walk_step = spread / 10 > 1 ? spread / 10 : 1;
  int64_t units;
  if (__builtin_add_overflow(o->walk_high, spread, &o->max_ticks) ||
      __builtin_mul_overflow(o->max_ticks, o->tick_units, &units) ||
      __builtin_mul_overflow(o->qty_lots, o->lot_units, &units))
    return fail_usage(err, errlen, "--mid or --qty too large for 64-bit integers");
  return 0;
}

int load_orders_check(load_options *opt, char *err, size_t errlen) {
  load_orders_options *o = &opt->orders;
  if (opt->message || opt->expect)
    return fail_usage(err, errlen, "--message and --expect belong to the message scenario");
  if (!o->jwt_secret || !*o->jwt_secret)
    return fail_usage(err, errlen,
                      "the orders scenario needs --jwt-secret S (the server's auth.jwt_secret)");
  size_t mlen = strlen(o->market);
  if (mlen == 0 || mlen > MARKET_MAX ||
      strspn(o->market, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "abcdefghijklmnopqrstuvwxyz0123456789_-") != mlen)
    return fail_usage(err, errlen, "--market must be a market name (letters, digits)");
  if (parse_multiple(o->mid_text, o->tick_text, &o->price_scale, &o->tick_units, &o->mid_ticks, err,
                     errlen, "--mid", "--tick") != 0 ||
      parse_multiple(o->qty_text, o->lot_text, &o->qty_scale, &o->lot_units, &o->qty_lots, err,
                     errlen, "--qty", "--lot") != 0)
    return -1;
  if (o->spread_ticks < 1) return fail_usage(err, errlen, "--spread-ticks must be at least 1");
  if (o->cross_pct > 100 || o->cancel_pct + o->amend_pct > 100)
    return fail_usage(err, errlen,
                      "--cross-pct at most 100, --cancel-pct + --amend-pct at most 100");
  if (o->uid_base < 1 || o->uid_base > (uint64_t)INT64_MAX - opt->connections)
    return fail_usage(err, errlen, "--uid-base must be a positive integer (uid = base + index)");
  if (setup_walk(o, err, errlen) != 0) return -1;
  uint64_t r[2] = {0, 0};
  if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
    r[0] = clock_mono_ns();
    r[1] = (uint64_t)clock_wall_ns();
  }
  o->walk_seed = r[0] | 1;
  snprintf(o->run_tag, sizeof(o->run_tag), "L%08x", (unsigned)(r[1] & 0xffffffffu));
  return 0;
}

/* -------------------------------------------------------------- messages */

/* A message being built on the stack; `full` once anything did not fit. */
typedef struct text_buf {
  char data[TEXT_CAP];
  size_t len;
  bool full;
} text_buf;

static void put(text_buf *b, const char *s, size_t n) {
  if (b->full || n > TEXT_CAP - b->len) {
    b->full = true;
    return;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

#define PUT_LIT(b, s) put((b), (s), sizeof(s) - 1)

static void put_str(text_buf *b, const char *s) {
  put(b, s, strlen(s));
}

static void put_u64(text_buf *b, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(b, tmp + sizeof(tmp) - n, n);
}

/* count x unit at `scale` decimals, as a JSON string; the product was
 * bounded when the options were checked (setup_walk). */
static void put_decimal(text_buf *b, int64_t count, int64_t unit, unsigned scale) {
  char tmp[DECIMAL_MAX_CHARS];
  size_t n = decimal_format(count * unit, scale, tmp);
  PUT_LIT(b, "\"");
  put(b, tmp, n);
  PUT_LIT(b, "\"");
}

static void put_client_id(text_buf *b, const load_orders_options *o, uint64_t seq) {
  PUT_LIT(b, "\"client_id\":\"");
  put_str(b, o->run_tag);
  PUT_LIT(b, "-");
  put_u64(b, seq);
  PUT_LIT(b, "\"");
}

/* {"op":"<op>","id":<seq>,"args":{"market":"<M>", */
static void put_head(text_buf *b, const load_orders_options *o, const char *op, uint64_t seq) {
  PUT_LIT(b, "{\"op\":\"");
  put_str(b, op);
  PUT_LIT(b, "\",\"id\":");
  put_u64(b, seq);
  PUT_LIT(b, ",\"args\":{\"market\":\"");
  put_str(b, o->market);
  PUT_LIT(b, "\",");
}

/* ------------------------------------------------------- the moving mid */

/* The mid now, in ticks: every worker replays the same walk (one seed) up
 * to the current step, so all connections quote around the same price. */
static int64_t walk_mid(load_thread *t) {
  const load_orders_options *o = &t->opt->orders;
  if (!t->walk_started) {
    t->walk_started = true;
    t->walk_mid = o->mid_ticks;
    t->walk_prng = o->walk_seed;
    t->walk_steps = 0;
  }
  uint64_t start = t->shared->start_ns;
  uint64_t target = t->now > start ? (t->now - start) / LOAD_ORDERS_WALK_NS : 0;
  uint64_t width = 2 * (uint64_t)o->walk_step + 1;
  for (; t->walk_steps < target; t->walk_steps++) {
    int64_t move = (int64_t)(load_prng_next(&t->walk_prng) % width) - o->walk_step;
    int64_t mid = t->walk_mid + move;
    if (mid > o->walk_high) mid = 2 * o->walk_high - mid; /* reflect at the bounds */
    if (mid < o->walk_low) mid = 2 * o->walk_low - mid;
    t->walk_mid = mid;
  }
  return t->walk_mid;
}

/* A limit price for `side`: 1..spread ticks below the mid for a buy, above
 * for a sell; a crossing order is priced as far on the other side. */
static int64_t order_price(load_thread *t, int64_t mid, uint8_t side, bool cross) {
  int64_t offset = 1 + (int64_t)(load_prng_next(&t->prng) % t->opt->orders.spread_ticks);
  bool below = (side == SIDE_BUY) != cross;
  return below ? mid - offset : mid + offset;
}

static bool roll_pct(load_thread *t, uint32_t pct) {
  return load_prng_next(&t->prng) % 100 < pct;
}

/* ------------------------------------------------------ open-order table */

static load_order_entry *table_find(load_orders_conn *oc, uint64_t seq) {
  for (uint32_t i = 0; i < oc->n_open; i++)
    if (oc->open[i].seq == seq) return &oc->open[i];
  return NULL;
}

static void table_remove(load_orders_conn *oc, load_order_entry *e) {
  *e = oc->open[--oc->n_open];
}

static void table_remove_seq(load_orders_conn *oc, uint64_t seq) {
  load_order_entry *e = table_find(oc, seq);
  if (e) table_remove(oc, e);
}

/* ----------------------------------------------------------------- set-up */

void load_orders_on_open(load_thread *t, load_conn *c) {
  const load_orders_options *o = &t->opt->orders;
  load_orders_conn *oc = c->ext;
  memset(oc, 0, sizeof(*oc));
  char token[512];
  uint64_t uid = o->uid_base + c->index;
  size_t tlen =
      load_jwt_mint(o->jwt_secret, uid, clock_wall_ms() / 1000 + 3600, token, sizeof(token));
  if (tlen == 0) {
    static const char why[] = "cannot mint the JWT (OpenSSL HMAC failed)";
    load_conn_setup_failed(t, c, why, sizeof(why) - 1);
    return;
  }
  /* The three go out together: the server answers one connection's
   * requests in order, so subscribe and cancel_all already see the login. */
  text_buf b = {.len = 0};
  PUT_LIT(&b, "{\"op\":\"auth\",\"id\":\"setup-auth\",\"token\":\"");
  put(&b, token, tlen);
  PUT_LIT(&b, "\"}");
  bool ok = !b.full && load_conn_send_text(t, c, b.data, b.len);
  static const char subscribe[] = "{\"op\":\"subscribe\",\"id\":\"setup-subscribe\","
                                  "\"args\":[\"@trade\"]}";
  ok = ok && load_conn_send_text(t, c, subscribe, sizeof(subscribe) - 1);
  b = (text_buf){.len = 0};
  PUT_LIT(&b, "{\"op\":\"order.cancel_all\",\"id\":\"setup-cancel_all\",\"args\":{\"market\":\"");
  put_str(&b, o->market);
  PUT_LIT(&b, "\"}}");
  ok = ok && !b.full && load_conn_send_text(t, c, b.data, b.len);
  if (!ok) {
    static const char why[] = "set-up messages do not fit --buffer-size";
    load_conn_setup_failed(t, c, why, sizeof(why) - 1);
    return;
  }
  oc->setup_pending = SETUP_AUTH | SETUP_SUBSCRIBE | SETUP_CANCEL_ALL;
}

static bool has_prefix(const uint8_t *p, const uint8_t *end, const char *lit) {
  size_t n = strlen(lit);
  return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* Parses the decimal digits at p; false if none or overflow. */
static bool parse_u64(const uint8_t *p, const uint8_t *end, uint64_t *out, const uint8_t **after) {
  uint64_t v = 0;
  const uint8_t *q = p;
  for (; q < end && *q >= '0' && *q <= '9'; q++)
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*q - '0'), &v))
      return false;
  *out = v;
  if (after) *after = q;
  return q > p;
}

/* The string value after `key` (e.g. "\"status\":\""), up to its closing quote. */
static bool find_string(const uint8_t *msg, size_t len, const char *key, const uint8_t **s,
                        size_t *slen) {
  size_t klen = strlen(key);
  const uint8_t *k = memmem(msg, len, key, klen);
  if (!k) return false;
  const uint8_t *v = k + klen, *end = msg + len;
  const uint8_t *q = memchr(v, '"', (size_t)(end - v));
  if (!q) return false;
  *s = v;
  *slen = (size_t)(q - v);
  return true;
}

/* A reply to one of the set-up requests; v points after {"id":" */
static void on_setup_reply(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                           const uint8_t *v) {
  load_orders_conn *oc = c->ext;
  const uint8_t *end = msg + len;
  uint8_t step = has_prefix(v, end, "setup-auth\"")         ? SETUP_AUTH
                 : has_prefix(v, end, "setup-subscribe\"")  ? SETUP_SUBSCRIBE
                 : has_prefix(v, end, "setup-cancel_all\"") ? SETUP_CANCEL_ALL
                                                            : 0;
  if (!step || c->state != LOAD_CONN_SETUP || !(oc->setup_pending & step)) {
    load_count_other(t, msg, len);
    return;
  }
  char why[sizeof(t->stats.setup_error)];
  if (memmem(msg, len, "\"code\":", 7)) {
    int n = snprintf(why, sizeof(why), "refused: %.*s", (int)(len > 180 ? 180 : len), msg);
    load_conn_setup_failed(t, c, why, (size_t)n < sizeof(why) ? (size_t)n : sizeof(why) - 1);
    return;
  }
  if (step == SETUP_AUTH) {
    uint64_t uid = 0;
    const uint8_t *u = memmem(msg, len, "\"uid\":", 6);
    uint64_t want = t->opt->orders.uid_base + c->index;
    if (!u || !parse_u64(u + 6, end, &uid, NULL) || uid != want) {
      int n = snprintf(why, sizeof(why), "auth answered with another uid than %llu: %.*s",
                       (unsigned long long)want, (int)(len > 120 ? 120 : len), msg);
      load_conn_setup_failed(t, c, why, (size_t)n < sizeof(why) ? (size_t)n : sizeof(why) - 1);
      return;
    }
  }
  oc->setup_pending &= (uint8_t)~step;
  if (oc->setup_pending == 0) load_conn_ready(t, c);
}

/* --------------------------------------------------------------- requests */

static void put_place(text_buf *b, const load_orders_options *o, uint64_t seq, uint8_t side,
                      int64_t price) {
  put_head(b, o, "order.place", seq);
  if (side == SIDE_BUY)
    PUT_LIT(b, "\"side\":\"buy\",\"type\":\"limit\",\"price\":");
  else
    PUT_LIT(b, "\"side\":\"sell\",\"type\":\"limit\",\"price\":");
  put_decimal(b, price, o->tick_units, o->price_scale);
  PUT_LIT(b, ",\"qty\":");
  put_decimal(b, o->qty_lots, o->lot_units, o->qty_scale);
  PUT_LIT(b, ",");
  put_client_id(b, o, seq);
  PUT_LIT(b, "}}");
}

static void put_cancel(text_buf *b, const load_orders_options *o, uint64_t seq,
                       const load_order_entry *e) {
  put_head(b, o, "order.cancel", seq);
  put_client_id(b, o, e->seq);
  PUT_LIT(b, "}}");
}

/* An amend either lowers the quantity (keeps priority) or moves the price. */
typedef struct amend_plan {
  bool lower_qty;
  bool cross;
  int64_t value; /* new total qty in lots, or new price in ticks */
} amend_plan;

static amend_plan plan_amend(load_thread *t, const load_order_entry *e, int64_t mid) {
  const load_orders_options *o = &t->opt->orders;
  int64_t step = o->qty_lots / 20 > 1 ? o->qty_lots / 20 : 1;
  int64_t floor = (o->qty_lots + 1) / 2; /* never below half of --qty: stays above min notional */
  amend_plan p = {.lower_qty = false};
  /* only unfilled orders get a smaller qty: the new qty must exceed what has filled */
  if ((load_prng_next(&t->prng) & 1) && e->filled_lots == 0 && e->qty_lots - step >= floor) {
    p.lower_qty = true;
    p.value = e->qty_lots - step;
  } else {
    p.cross = roll_pct(t, o->cross_pct);
    p.value = order_price(t, mid, e->side, p.cross);
  }
  return p;
}

static void put_amend(text_buf *b, const load_orders_options *o, uint64_t seq,
                      const load_order_entry *e, const amend_plan *p) {
  put_head(b, o, "order.amend", seq);
  put_client_id(b, o, e->seq);
  if (p->lower_qty) {
    PUT_LIT(b, ",\"qty\":");
    put_decimal(b, p->value, o->lot_units, o->qty_scale);
  } else {
    PUT_LIT(b, ",\"price\":");
    put_decimal(b, p->value, o->tick_units, o->price_scale);
  }
  PUT_LIT(b, "}}");
}

static load_order_op choose_op(load_thread *t, const load_orders_conn *oc) {
  const load_orders_options *o = &t->opt->orders;
  if (oc->n_open == 0) return LOAD_ORDER_PLACE;
  if (oc->n_open >= LOAD_ORDERS_TRACK) return LOAD_ORDER_CANCEL;
  uint32_t r = (uint32_t)(load_prng_next(&t->prng) % 100);
  if (r < o->cancel_pct) return LOAD_ORDER_CANCEL;
  if (r < o->cancel_pct + o->amend_pct) return LOAD_ORDER_AMEND;
  return LOAD_ORDER_PLACE;
}

bool load_orders_compose(load_thread *t, load_conn *c, uint64_t seq, uint64_t intended_ns,
                         load_inflight *slot) {
  const load_orders_options *o = &t->opt->orders;
  load_orders_conn *oc = c->ext;
  load_orders_stats *st = &t->stats.orders;
  int64_t mid = walk_mid(t);
  load_order_op op = choose_op(t, oc);
  bool window = load_in_window(t, intended_ns), crossing = false;
  text_buf b = {.len = 0};
  load_order_entry *e = NULL;
  if (op == LOAD_ORDER_PLACE) {
    uint8_t side = load_prng_next(&t->prng) & 1 ? SIDE_SELL : SIDE_BUY;
    crossing = roll_pct(t, o->cross_pct);
    put_place(&b, o, seq, side, order_price(t, mid, side, crossing));
    if (b.full || !load_conn_send_text(t, c, b.data, b.len)) return false;
    oc->open[oc->n_open++] =
        (load_order_entry){.seq = seq, .qty_lots = o->qty_lots, .filled_lots = 0, .side = side};
  } else if (op == LOAD_ORDER_CANCEL) {
    e = &oc->open[load_prng_next(&t->prng) % oc->n_open];
    put_cancel(&b, o, seq, e);
    if (b.full || !load_conn_send_text(t, c, b.data, b.len)) return false;
    if (oc->n_open >= LOAD_ORDERS_TRACK) st->forced_cancels++;
    table_remove(oc, e); /* cancelled, or filled meanwhile (then 4006): gone either way */
  } else {
    e = &oc->open[load_prng_next(&t->prng) % oc->n_open];
    amend_plan p = plan_amend(t, e, mid);
    put_amend(&b, o, seq, e, &p);
    if (b.full || !load_conn_send_text(t, c, b.data, b.len)) return false;
    if (p.lower_qty) e->qty_lots = p.value;
    crossing = p.cross;
  }
  slot->kind = (uint8_t)op;
  if (window) {
    st->sent[op]++;
    if (crossing) st->crossing++;
  }
  return true;
}

/* ------------------------------------------------------------ replies */

/* Races the scenario cannot avoid (see the file header). */
static bool expected_error(load_order_op op, int code) {
  if (op == LOAD_ORDER_CANCEL) return code == 4006;
  if (op == LOAD_ORDER_AMEND) return code == 4006 || code == 4003;
  return false;
}

void load_orders_count_code(load_orders_stats *s, load_order_op op, int code, bool expected,
                            uint64_t n) {
  for (uint32_t i = 0; i < s->n_codes; i++) {
    if (s->codes[i].code == code && s->codes[i].op == op) {
      s->codes[i].count += n;
      return;
    }
  }
  if (s->n_codes == LOAD_MAX_ERROR_CODES) {
    s->codes_other += n;
    return;
  }
  s->codes[s->n_codes++] = (load_error_code){
      .code = (uint16_t)code, .op = (uint8_t)op, .expected = expected, .count = n};
}

/* The placement of entry seq is over when its reply says filled, cancelled or rejected. */
static bool placement_done(const uint8_t *msg, size_t len) {
  const uint8_t *s;
  size_t n;
  if (!find_string(msg, len, "\"status\":\"", &s, &n)) return false;
  return !((n == 3 && memcmp(s, "new", 3) == 0) ||
           (n == 16 && memcmp(s, "partially_filled", 16) == 0));
}

static void on_order_reply(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                           uint64_t seq) {
  load_inflight req;
  if (!load_request_take(t, c, seq, &req)) return;
  load_orders_conn *oc = c->ext;
  load_orders_stats *st = &t->stats.orders;
  load_order_op op = req.kind < LOAD_ORDER_OPS ? (load_order_op)req.kind : LOAD_ORDER_PLACE;
  bool window = load_in_window(t, req.intended_ns);
  const uint8_t *k = memmem(msg, len, "\"code\":", 7);
  uint64_t code;
  if (k && parse_u64(k + 7, msg + len, &code, NULL)) {
    bool expected = expected_error(op, (int)code);
    load_orders_count_code(st, op, (int)code, expected, 1);
    if (!expected) {
      st->unexpected++;
      t->stats.errors[LOAD_ERR_REPLY]++;
    }
    if (op == LOAD_ORDER_PLACE) table_remove_seq(oc, seq);
    if (window) st->rejected[op]++;
  } else {
    if (op == LOAD_ORDER_PLACE && placement_done(msg, len)) table_remove_seq(oc, seq);
    if (window) st->acked[op]++;
  }
  if (window)
    histogram_record(&st->latency[op], t->now > req.intended_ns ? t->now - req.intended_ns : 0);
  load_request_answered(t, c, &req);
}

/* A @trade push: one fill of one of this user's orders. */
static void on_fill(load_thread *t, load_conn *c, const uint8_t *msg, size_t len) {
  const load_orders_options *o = &t->opt->orders;
  load_orders_conn *oc = c->ext;
  load_orders_stats *st = &t->stats.orders;
  st->fills++;
  if (t->measure_ns && t->now >= t->measure_ns && t->now < t->end_ns) st->fills_window++;
  if (memmem(msg, len, "\"liquidity\":\"maker\"", 19))
    st->fills_maker++;
  else
    st->fills_taker++;
  const uint8_t *id, *qty;
  size_t id_len, qty_len;
  size_t tag_len = strlen(o->run_tag);
  uint64_t seq;
  int64_t units;
  load_order_entry *e = NULL;
  if (find_string(msg, len, "\"client_id\":\"", &id, &id_len) && id_len > tag_len + 1 &&
      memcmp(id, o->run_tag, tag_len) == 0 && id[tag_len] == '-' &&
      parse_u64(id + tag_len + 1, id + id_len, &seq, NULL))
    e = table_find(oc, seq);
  if (!e) { /* cancelled meanwhile, or done per its placement reply */
    st->fills_untracked++;
    return;
  }
  if (find_string(msg, len, "\"qty\":\"", &qty, &qty_len) &&
      decimal_parse((const char *)qty, qty_len, o->qty_scale, 0, &units) == DECIMAL_OK)
    e->filled_lots += units / o->lot_units;
  if (e->filled_lots >= e->qty_lots) table_remove(oc, e);
}

void load_orders_on_message(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                            bool text) {
  (void)text;
  const uint8_t *end = msg + len;
  if (has_prefix(msg, end, "{\"event\":")) {
    if (has_prefix(msg, end, "{\"event\":\"@trade\"") && c->ext)
      on_fill(t, c, msg, len);
    else
      load_count_other(t, msg, len);
    return;
  }
  const uint8_t *k = memmem(msg, len, "\"id\":", 5);
  uint64_t seq;
  if (k && k + 5 < end && k[5] == '"') {
    on_setup_reply(t, c, msg, len, k + 6);
  } else if (k && parse_u64(k + 5, end, &seq, NULL)) {
    on_order_reply(t, c, msg, len, seq);
  } else if (memmem(msg, len, "\"code\":", 7)) {
    t->stats.errors[LOAD_ERR_REPLY]++; /* an error without an id: the tool sent something bad */
    t->stats.orders.unexpected++;
  } else {
    load_count_other(t, msg, len);
  }
}
