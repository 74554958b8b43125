/*
 * scenario.c: the scenario table of bourse-load and the request/reply
 * machinery the request scenarios share. Runs on the worker threads; each
 * call touches only the calling worker's connections and statistics.
 *
 * A request is a text frame carrying a sequence number (per connection,
 * from 1); its slot in the connection's ring of load_inflight holds the time
 * the request was *meant* to be sent. Latency is measured from that intended
 * time, not from when the send actually happened, so a server that stalls
 * cannot hide its stall by slowing down the sender (no coordinated omission):
 * in open-loop mode the intended times are a fixed schedule, in flat-out mode
 * they are the moment the previous reply let the next request go.
 *
 * Hot path starts at load_request_send / request_complete: no allocation, no
 * system call (frames go into the connection's fixed send buffer). The
 * orders scenario (orders.c) uses the same machinery through load.h.
 */
#include "load.h"

#include <string.h>

/* Open loop: most requests one worker sends in one loop iteration; the rest
 * wait for the next iteration (which comes at once) so a late worker catches
 * up without starving its receive side. */
#define LOAD_MAX_BURST 4096

/* ------------------------------------------------------------- templates */

int load_template_parse_marker(load_template *tpl, const char *text, const char *marker) {
  memset(tpl, 0, sizeof(*tpl));
  tpl->text = text;
  tpl->len = strlen(text);
  const char *p = text, *end = text + tpl->len;
  size_t mlen = marker ? strlen(marker) : 0;
  tpl->marker_len = (unsigned)mlen;
  for (; mlen > 0;) {
    const char *q = memmem(p, (size_t)(end - p), marker, mlen);
    if (!q) break;
    if (tpl->ids == LOAD_TEMPLATE_MAX_IDS) return -1;
    tpl->piece_off[tpl->ids] = (uint32_t)(p - text);
    tpl->piece_len[tpl->ids] = (uint32_t)(q - p);
    tpl->ids++;
    p = q + mlen;
  }
  tpl->piece_off[tpl->ids] = (uint32_t)(p - text);
  tpl->piece_len[tpl->ids] = (uint32_t)(end - p);
  return 0;
}

int load_template_parse(load_template *tpl, const char *text) {
  return load_template_parse_marker(tpl, text, "{id}");
}

/* Writes id in decimal into buf (at least 20 bytes), returns the length. */
static size_t format_id(uint64_t id, char *buf) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + id % 10);
    id /= 10;
  } while (id);
  for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  return n;
}

size_t load_template_length(const load_template *tpl, uint64_t id) {
  if (tpl->ids == 0) return tpl->len;
  char digits[20];
  return tpl->len - tpl->marker_len * tpl->ids + tpl->ids * format_id(id, digits);
}

void load_template_expand(const load_template *tpl, uint64_t id, char *out) {
  char digits[20];
  size_t nd = tpl->ids ? format_id(id, digits) : 0;
  for (unsigned i = 0; i <= tpl->ids; i++) {
    memcpy(out, tpl->text + tpl->piece_off[i], tpl->piece_len[i]);
    out += tpl->piece_len[i];
    if (i < tpl->ids) {
      memcpy(out, digits, nd);
      out += nd;
    }
  }
}

/* ------------------------------------------------------- matching helpers */

static bool contains(const uint8_t *msg, size_t len, const char *needle) {
  return memmem(msg, len, needle, strlen(needle)) != NULL;
}

/* Parses the decimal digits at p[0, len); false if none or overflow. */
static bool parse_id(const uint8_t *p, size_t len, uint64_t *id, size_t *used) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(p[i] - '0'), &v))
      return false;
  }
  *id = v;
  *used = i;
  return i > 0;
}

/* The number after the first `key` (e.g. "\"id\":") in msg. */
static bool find_number(const uint8_t *msg, size_t len, const char *key, uint64_t *out) {
  size_t klen = strlen(key);
  const uint8_t *k = memmem(msg, len, key, klen);
  if (!k) return false;
  size_t off = (size_t)(k - msg) + klen, used;
  return parse_id(msg + off, len - off, out, &used);
}

/*
 * --expect with {id}: the id is the number that follows the literal before
 * the first {id}; the reply counts only if it also contains the whole
 * expectation expanded with that id. Every occurrence of the literal is
 * tried, so the loop is bounded by the message length.
 */
static bool match_expect_id(load_thread *t, const uint8_t *msg, size_t len, uint64_t *id) {
  const load_template *tpl = &t->opt->expect_tpl;
  const char *prefix = tpl->text;
  size_t plen = tpl->piece_len[0];
  size_t pos = 0;
  while (pos < len) {
    size_t at;
    if (plen > 0) {
      const uint8_t *p = memmem(msg + pos, len - pos, prefix, plen);
      if (!p) return false;
      at = (size_t)(p - msg) + plen;
      pos = (size_t)(p - msg) + 1;
    } else { /* expectation starts with {id}: try every start of a digit run */
      at = pos++;
      if (at > 0 && msg[at - 1] >= '0' && msg[at - 1] <= '9') continue;
    }
    uint64_t candidate;
    size_t used;
    if (!parse_id(msg + at, len - at, &candidate, &used)) continue;
    size_t elen = load_template_length(tpl, candidate);
    if (elen > t->opt->buffer_size || elen > len) continue;
    load_template_expand(tpl, candidate, t->scratch);
    if (memmem(msg, len, t->scratch, elen)) {
      *id = candidate;
      return true;
    }
  }
  return false;
}

/* ----------------------------------------------------- requests and replies */

bool load_in_window(const load_thread *t, uint64_t intended_ns) {
  return t->measure_ns != 0 && intended_ns >= t->measure_ns && intended_ns < t->end_ns;
}

static uint32_t inflight_limit(const load_thread *t) {
  return t->opt->rate > 0 ? t->opt->max_inflight : t->opt->inflight;
}

static bool sending_allowed(const load_thread *t) {
  return (t->phase == LOAD_PHASE_WARMUP || t->phase == LOAD_PHASE_MEASURE) && t->now < t->end_ns;
}

bool load_request_send(load_thread *t, load_conn *c, uint64_t intended_ns) {
  uint64_t seq = c->next_seq;
  load_inflight *slot = &c->slots[seq & (t->slot_cap - 1)];
  if (slot->seq != 0 || c->outstanding >= inflight_limit(t)) {
    t->stats.errors[LOAD_ERR_INFLIGHT_FULL]++;
    return false;
  }
  const load_scenario *sc = t->opt->scenario;
  slot->kind = 0;
  bool sent = sc->compose ? sc->compose(t, c, seq, intended_ns, slot)
                          : load_conn_send_template(t, c, &t->opt->message_tpl, seq);
  if (!sent) return false;
  slot->seq = seq;
  slot->intended_ns = intended_ns;
  c->next_seq++;
  c->outstanding++;
  t->stats.sent++;
  if (load_in_window(t, intended_ns)) {
    t->stats.sent_window++;
    /* how late the tool itself was: part of every latency measured from intended_ns */
    histogram_record(&t->stats.send_lag, t->now > intended_ns ? t->now - intended_ns : 0);
  }
  return true;
}

/* Frees the slot of request seq; returns false if no such request is out. */
static bool request_take(load_conn *c, uint32_t slot_cap, uint64_t seq, load_inflight *out) {
  if (seq == 0 || seq >= c->next_seq) return false;
  load_inflight *slot = &c->slots[seq & (slot_cap - 1)];
  if (slot->seq != seq) return false;
  *out = *slot;
  slot->seq = 0;
  c->outstanding--;
  return true;
}

bool load_request_take(load_thread *t, load_conn *c, uint64_t seq, load_inflight *out) {
  if (request_take(c, t->slot_cap, seq, out)) return true;
  t->stats.errors[LOAD_ERR_UNMATCHED]++;
  return false;
}

void load_request_answered(load_thread *t, load_conn *c, const load_inflight *req) {
  if (load_in_window(t, req->intended_ns)) {
    histogram_record(&t->stats.latency, t->now > req->intended_ns ? t->now - req->intended_ns : 0);
    t->stats.replies_window++;
  } else {
    t->stats.replies_other++;
  }
  /* flat out: the reply releases the next request on this connection */
  if (t->opt->rate <= 0 && c->state == LOAD_CONN_OPEN && sending_allowed(t))
    load_request_send(t, c, t->now);
}

static void request_complete(load_thread *t, load_conn *c, uint64_t seq) {
  load_inflight req;
  if (load_request_take(t, c, seq, &req)) load_request_answered(t, c, &req);
}

/* Without {id}, replies come back in the order the requests went out. */
static void request_complete_fifo(load_thread *t, load_conn *c) {
  if (c->outstanding == 0) {
    t->stats.errors[LOAD_ERR_UNMATCHED]++;
    return;
  }
  request_complete(t, c, c->next_seq - c->outstanding);
}

/* An error reply: the request is answered, but not successfully. */
static void request_failed(load_thread *t, load_conn *c, const uint8_t *msg, size_t len) {
  t->stats.errors[LOAD_ERR_REPLY]++;
  uint64_t seq;
  load_inflight req;
  if (find_number(msg, len, "\"id\":", &seq)) request_take(c, t->slot_cap, seq, &req);
  if (t->opt->rate <= 0 && c->state == LOAD_CONN_OPEN && sending_allowed(t))
    load_request_send(t, c, t->now);
}

static load_conn *next_open_conn(load_thread *t) {
  for (uint32_t tries = 0; tries < t->n_conns; tries++) {
    load_conn *c = &t->conns[t->rr_next];
    t->rr_next = t->rr_next + 1 == t->n_conns ? 0 : t->rr_next + 1;
    if (c->state == LOAD_CONN_OPEN) return c;
  }
  return NULL;
}

static void wake_at(load_thread *t, uint64_t ns) {
  if (t->next_wake_ns == 0 || ns < t->next_wake_ns) t->next_wake_ns = ns;
}

/* First tick of the traffic phase: fix this worker's share of --rate, or
 * fill every connection's flat-out window. */
static void requests_start(load_thread *t) {
  t->traffic_started = true;
  const load_options *o = t->opt;
  if (o->rate <= 0) {
    if (!sending_allowed(t)) return;
    for (uint32_t i = 0; i < t->n_conns; i++) {
      load_conn *c = &t->conns[i];
      for (uint32_t k = 0; k < o->inflight && c->state == LOAD_CONN_OPEN; k++)
        if (!load_request_send(t, c, t->now)) break;
    }
    return;
  }
  uint32_t total = atomic_load_explicit(&t->shared->opened, memory_order_acquire);
  if (t->open_count == 0 || total == 0) return;
  double share = o->rate * (double)t->open_count / (double)total;
  t->rate_interval_ns = 1e9 / share;
}

void load_requests_tick(load_thread *t) {
  /* DRAIN too: requests that fell due in the window before a late wakeup */
  if (t->phase < LOAD_PHASE_WARMUP || t->phase > LOAD_PHASE_DRAIN) return;
  if (!t->traffic_started) requests_start(t);
  if (t->opt->rate <= 0 || t->rate_interval_ns <= 0) return;
  for (unsigned burst = 0; burst < LOAD_MAX_BURST; burst++) {
    uint64_t due = t->traffic_ns + (uint64_t)((double)t->rate_sent * t->rate_interval_ns);
    if (due >= t->end_ns) return;
    if (due > t->now) {
      wake_at(t, due);
      return;
    }
    load_conn *c = next_open_conn(t);
    if (!c) return;
    load_request_send(t, c, due); /* a refusal is counted; the schedule moves on regardless */
    t->rate_sent++;
  }
  wake_at(t, t->now);
}

void load_requests_conn_init(load_thread *t, load_conn *c) {
  (void)t;
  c->next_seq = 1;
  c->outstanding = 0;
}

void load_count_other(load_thread *t, const uint8_t *msg, size_t len) {
  if (contains(msg, len, "\"op\":\"welcome\""))
    t->stats.welcomes++;
  else
    t->stats.other_messages++;
}

/* ---------------------------------------------------------------- connect */

static int connect_check(load_options *opt, char *err, size_t errlen) {
  (void)opt;
  (void)err;
  (void)errlen;
  return 0;
}

static void connect_on_message(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                               bool text) {
  (void)c;
  (void)text;
  load_count_other(t, msg, len);
}

/* ------------------------------------------------------------------- ping */

static const char ping_template[] = "{\"op\":\"ping\",\"id\":{id}}";

static int ping_check(load_options *opt, char *err, size_t errlen) {
  if (opt->message || opt->expect) {
    snprintf(err, errlen, "--message and --expect belong to the message scenario");
    return -1;
  }
  load_template_parse(&opt->message_tpl, ping_template);
  return 0;
}

/* Pong: {"op":"pong","id":N,"ts":...}; the server writes the fields in that
 * spelling (no spaces), as PROTOCOL.md shows. */
static void ping_on_message(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                            bool text) {
  (void)text;
  uint64_t id;
  if (contains(msg, len, "\"op\":\"pong\"")) {
    if (find_number(msg, len, "\"id\":", &id))
      request_complete(t, c, id);
    else
      t->stats.errors[LOAD_ERR_UNMATCHED]++;
  } else if (contains(msg, len, "\"code\":")) {
    request_failed(t, c, msg, len);
  } else {
    load_count_other(t, msg, len);
  }
}

/* ---------------------------------------------------------------- message */

static int message_check(load_options *opt, char *err, size_t errlen) {
  if (!opt->message || !*opt->message) {
    snprintf(err, errlen, "the message scenario needs --message TEXT");
    return -1;
  }
  if (load_template_parse(&opt->message_tpl, opt->message) != 0 ||
      load_template_parse(&opt->expect_tpl, opt->expect ? opt->expect : "") != 0) {
    snprintf(err, errlen, "at most %d {id} in --message and in --expect", LOAD_TEMPLATE_MAX_IDS);
    return -1;
  }
  if (opt->expect_tpl.ids > 0 && opt->message_tpl.ids == 0) {
    snprintf(err, errlen, "--expect uses {id} but --message does not");
    return -1;
  }
  return 0;
}

static void message_on_message(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                               bool text) {
  (void)text;
  const load_template *expect = &t->opt->expect_tpl;
  if (expect->ids > 0) {
    uint64_t id;
    if (match_expect_id(t, msg, len, &id)) {
      request_complete(t, c, id);
      return;
    }
  } else if (expect->len > 0) {
    if (memmem(msg, len, expect->text, expect->len)) {
      request_complete_fifo(t, c);
      return;
    }
  } else if (c->outstanding > 0) { /* no --expect: every message answers the oldest request */
    request_complete_fifo(t, c);
    return;
  }
  load_count_other(t, msg, len);
}

/* ------------------------------------------------------------------ table */

const load_scenario load_scenarios[] = {
    {
        .name = "connect",
        .help = "open --connections and hold them idle for --duration",
        .requests = false,
        .check = connect_check,
        .conn_init = NULL,
        .on_open = NULL,
        .on_message = connect_on_message,
        .on_tick = NULL,
    },
    {
        .name = "ping",
        .help = "native {\"op\":\"ping\",\"id\":N} round trips",
        .requests = true,
        .check = ping_check,
        .conn_init = load_requests_conn_init,
        .on_open = NULL,
        .on_message = ping_on_message,
        .on_tick = load_requests_tick,
    },
    {
        .name = "message",
        .help = "any text (--message, {id} = sequence number); a reply contains --expect",
        .requests = true,
        .check = message_check,
        .conn_init = load_requests_conn_init,
        .on_open = NULL,
        .on_message = message_on_message,
        .on_tick = load_requests_tick,
    },
    {
        .name = "orders",
        .help = "authenticated order.place / order.cancel / order.amend around a moving mid",
        .requests = true,
        .setup = true,
        .conn_state_size = sizeof(load_orders_conn),
        .check = load_orders_check,
        .conn_init = load_requests_conn_init,
        .on_open = load_orders_on_open,
        .on_message = load_orders_on_message,
        .on_tick = load_requests_tick,
        .compose = load_orders_compose,
    },
    {
        .name = "subscribe",
        .help = "subscribe to --channels and measure what is pushed (rate, latency)",
        .requests = false,
        .setup = true,
        .conn_state_size = sizeof(load_subscribe_conn),
        .check = load_subscribe_check,
        .conn_init = load_subscribe_conn_init,
        .on_open = load_subscribe_on_open,
        .on_message = load_subscribe_on_message,
        .on_tick = NULL,
    },
};
const size_t load_scenario_count = sizeof(load_scenarios) / sizeof(load_scenarios[0]);

const load_scenario *load_scenario_find(const char *name) {
  for (size_t i = 0; i < load_scenario_count; i++)
    if (strcmp(load_scenarios[i].name, name) == 0) return &load_scenarios[i];
  return NULL;
}

uint32_t load_scenario_slot_cap(const load_options *opt) {
  if (!opt->scenario->requests) return 0;
  /* flat out keeps --inflight out; twice that leaves room for replies that
   * come back out of order without two requests sharing a slot */
  uint64_t want = opt->rate > 0 ? opt->max_inflight : (uint64_t)opt->inflight * 2;
  uint32_t cap = 1;
  while (cap < want) cap <<= 1;
  return cap;
}
