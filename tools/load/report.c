/*
 * report.c: merges the workers' statistics and prints them, as a table for
 * people and as one JSON object for scripts. Main thread only, after every
 * worker has been joined.
 */
#include "load.h"

#include <string.h>

static const char *const fail_names[LOAD_FAIL_COUNT] = {
    [LOAD_FAIL_REFUSED] = "refused",     [LOAD_FAIL_TIMEOUT] = "timeout",
    [LOAD_FAIL_ADDRESS] = "address",     [LOAD_FAIL_FD_LIMIT] = "fd_limit",
    [LOAD_FAIL_RESET] = "reset",         [LOAD_FAIL_CLOSED] = "closed",
    [LOAD_FAIL_HANDSHAKE] = "handshake", [LOAD_FAIL_SETUP] = "setup",
    [LOAD_FAIL_OTHER] = "other",
};

static const char *const error_names[LOAD_ERR_COUNT] = {
    [LOAD_ERR_CLOSED_BY_SERVER] = "closed_by_server",
    [LOAD_ERR_RESET] = "reset",
    [LOAD_ERR_PROTOCOL] = "protocol",
    [LOAD_ERR_TOO_BIG] = "too_big",
    [LOAD_ERR_REPLY] = "error_reply",
    [LOAD_ERR_UNMATCHED] = "unmatched",
    [LOAD_ERR_INFLIGHT_FULL] = "inflight_full",
    [LOAD_ERR_SEND_FULL] = "send_full",
    [LOAD_ERR_UNANSWERED] = "unanswered",
};

const char *load_fail_name(load_fail f) {
  return fail_names[f];
}

const char *load_error_name(load_error e) {
  return error_names[e];
}

void load_stats_init(load_stats *s) {
  memset(s, 0, sizeof(*s));
  histogram_init(&s->latency);
  histogram_init(&s->connect_ns);
  histogram_init(&s->send_lag);
  for (int i = 0; i < LOAD_ORDER_OPS; i++) histogram_init(&s->orders.latency[i]);
  histogram_init(&s->subscribe.server_ts_delay);
}

static void orders_stats_merge(load_orders_stats *into, const load_orders_stats *from) {
  for (int i = 0; i < LOAD_ORDER_OPS; i++) {
    into->sent[i] += from->sent[i];
    into->acked[i] += from->acked[i];
    into->rejected[i] += from->rejected[i];
    histogram_merge(&into->latency[i], &from->latency[i]);
  }
  into->crossing += from->crossing;
  into->forced_cancels += from->forced_cancels;
  into->fills += from->fills;
  into->fills_window += from->fills_window;
  into->fills_maker += from->fills_maker;
  into->fills_taker += from->fills_taker;
  into->fills_untracked += from->fills_untracked;
  for (uint32_t i = 0; i < from->n_codes; i++) {
    const load_error_code *e = &from->codes[i];
    load_orders_count_code(into, (load_order_op)e->op, e->code, e->expected, e->count);
  }
  into->codes_other += from->codes_other;
  into->unexpected += from->unexpected;
}

void load_stats_merge(load_stats *into, const load_stats *from) {
  into->attempts += from->attempts;
  into->opened += from->opened;
  for (int i = 0; i < LOAD_FAIL_COUNT; i++) into->failed[i] += from->failed[i];
  for (int i = 0; i < LOAD_ERR_COUNT; i++) into->errors[i] += from->errors[i];
  if (from->last_other_errno) into->last_other_errno = from->last_other_errno;
  if (from->last_close_code) into->last_close_code = from->last_close_code;
  if (from->first_connect_ns &&
      (!into->first_connect_ns || from->first_connect_ns < into->first_connect_ns))
    into->first_connect_ns = from->first_connect_ns;
  if (from->last_open_ns > into->last_open_ns) into->last_open_ns = from->last_open_ns;
  into->sent += from->sent;
  into->sent_window += from->sent_window;
  into->replies_window += from->replies_window;
  into->replies_other += from->replies_other;
  into->frames_in += from->frames_in;
  into->welcomes += from->welcomes;
  into->other_messages += from->other_messages;
  into->server_pings += from->server_pings;
  into->bytes_in += from->bytes_in;
  into->bytes_out += from->bytes_out;
  into->iterations += from->iterations;
  into->busy_polls += from->busy_polls;
  histogram_merge(&into->latency, &from->latency);
  histogram_merge(&into->connect_ns, &from->connect_ns);
  histogram_merge(&into->send_lag, &from->send_lag);
  if (from->setup_error[0]) memcpy(into->setup_error, from->setup_error, sizeof(into->setup_error));
  orders_stats_merge(&into->orders, &from->orders);
  into->subscribe.delivered += from->subscribe.delivered;
  into->subscribe.delivered_total += from->subscribe.delivered_total;
  into->subscribe.stamped_late += from->subscribe.stamped_late;
  into->subscribe.server_ts += from->subscribe.server_ts;
  into->subscribe.wrong_group += from->subscribe.wrong_group;
  histogram_merge(&into->subscribe.server_ts_delay, &from->subscribe.server_ts_delay);
}

/* ----------------------------------------------------------- derived figures */

static uint64_t total_failed(const load_stats *s) {
  uint64_t n = 0;
  for (int i = 0; i < LOAD_FAIL_COUNT; i++) n += s->failed[i];
  return n;
}

static uint64_t total_errors(const load_stats *s) {
  uint64_t n = 0;
  for (int i = 0; i < LOAD_ERR_COUNT; i++) n += s->errors[i];
  return n;
}

static double connect_seconds(const load_stats *s) {
  if (!s->first_connect_ns || s->last_open_ns <= s->first_connect_ns) return 0;
  return (double)(s->last_open_ns - s->first_connect_ns) / 1e9;
}

static double per_second(uint64_t n, double seconds) {
  return seconds > 0 ? (double)n / seconds : 0;
}

static double us(uint64_t ns) {
  return (double)ns / 1e3;
}

/* ------------------------------------------------------------------ table */

/* A duration in ns with a unit a person reads at a glance. */
static void print_duration(FILE *out, uint64_t ns) {
  if (ns < 10000)
    fprintf(out, "%.2f us", (double)ns / 1e3);
  else if (ns < 10000000)
    fprintf(out, "%.1f us", (double)ns / 1e3);
  else if (ns < 10000000000ull)
    fprintf(out, "%.2f ms", (double)ns / 1e6);
  else
    fprintf(out, "%.2f s", (double)ns / 1e9);
}

static void print_bytes(FILE *out, double bytes) {
  if (bytes < 0)
    fprintf(out, "-");
  else if (bytes < 10 * 1024)
    fprintf(out, "%.0f B", bytes);
  else if (bytes < 10 * 1024 * 1024)
    fprintf(out, "%.1f KiB", bytes / 1024);
  else
    fprintf(out, "%.1f MiB", bytes / (1024 * 1024));
}

static void print_percentiles(FILE *out, const char *label, const histogram *h) {
  static const struct {
    const char *name;
    double pct;
  } points[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}};
  fprintf(out, "  %-12s", label);
  if (h->count == 0) {
    fprintf(out, "no samples\n");
    return;
  }
  fprintf(out, "min ");
  print_duration(out, h->min);
  for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
    fprintf(out, "  %s ", points[i].name);
    print_duration(out, histogram_percentile(h, points[i].pct));
  }
  fprintf(out, "  max ");
  print_duration(out, h->max);
  fprintf(out, "  mean ");
  print_duration(out, (uint64_t)histogram_mean(h));
  fprintf(out, "\n");
}

/* ------------------------------------------------------------ orders */

/* What an error reply means in the orders scenario, and what to do about it. */
static const char *code_meaning(int code, load_order_op op, bool expected) {
  if (expected && code == 4006)
    return "unknown order: it had just filled (its @trade was on its way), or its placement was "
           "refused";
  if (expected && code == 4003 && op == LOAD_ORDER_AMEND)
    return "the amend's smaller qty was no longer above what had filled (a fill not yet seen)";
  switch (code) {
  case 1003:
    return "missing or invalid field";
  case 2003:
    return "auth required";
  case 4001:
    return "unknown market: check --market";
  case 4002:
    return "bad price: check --tick (and the market's price band)";
  case 4003:
    return "bad qty: check --lot and --qty; price x qty must reach the market's min notional";
  case 4004:
    return "insufficient balance: the deposits are too small for this run (raise --deposit)";
  case 4006:
    return "unknown order: it had just filled, or its placement was refused";
  case 4008:
    return "market halted";
  case 4009:
    return "duplicate client_id";
  case 5001:
    return "limit reached: raise the server's limits.requests_per_s, limits.burst and "
           "limits.max_open_orders";
  case 9001:
    return "engine capacity exhausted";
  case 9002:
    return "server busy: the engine's command queue or the io thread's table of pending "
           "requests was full (the engine fell behind, e.g. descheduled)";
  default:
    return "";
  }
}

static uint64_t orders_sum(const uint64_t v[LOAD_ORDER_OPS]) {
  uint64_t n = 0;
  for (int i = 0; i < LOAD_ORDER_OPS; i++) n += v[i];
  return n;
}

static void print_op_line(FILE *out, const load_orders_stats *st, load_order_op op) {
  const histogram *h = &st->latency[op];
  fprintf(out, "  %-12ssent %llu  ok %llu  errors %llu", load_order_op_name(op),
          (unsigned long long)st->sent[op], (unsigned long long)st->acked[op],
          (unsigned long long)st->rejected[op]);
  if (h->count) {
    fprintf(out, "  p50 ");
    print_duration(out, histogram_percentile(h, 50));
    fprintf(out, "  p99 ");
    print_duration(out, histogram_percentile(h, 99));
    fprintf(out, "  p99.9 ");
    print_duration(out, histogram_percentile(h, 99.9));
    fprintf(out, "  max ");
    print_duration(out, h->max);
  }
  fprintf(out, "\n");
}

static void print_orders(const load_run *run, FILE *out, double window) {
  const load_options *o = run->opt;
  const load_orders_options *oo = &o->orders;
  const load_orders_stats *st = &run->total.orders;
  fprintf(out,
          "  orders      %s around %s (walk within 5 %%), tick %s, spread %u ticks, qty %s; "
          "cross %u %%, cancel %u %%, amend %u %%; uids %llu..%llu\n",
          oo->market, oo->mid_text, oo->tick_text, oo->spread_ticks, oo->qty_text, oo->cross_pct,
          oo->cancel_pct, oo->amend_pct, (unsigned long long)oo->uid_base,
          (unsigned long long)(oo->uid_base + o->connections - 1));
  if (run->deposits >= 0) {
    fprintf(out, "  deposits    %ld requests in %.2f s:", run->deposits, run->deposit_s);
    for (unsigned i = 0; i < oo->n_deposits; i++)
      fprintf(out, " %s=%s", oo->deposits[i].asset, oo->deposits[i].amount);
    fprintf(out, " per uid\n");
  }
  uint64_t ok = orders_sum(st->acked), rejected = orders_sum(st->rejected);
  fprintf(out, "  acks        %llu (%.0f/s): ok %llu, error replies %llu\n",
          (unsigned long long)(ok + rejected), per_second(ok + rejected, window),
          (unsigned long long)ok, (unsigned long long)rejected);
  for (int op = 0; op < LOAD_ORDER_OPS; op++) print_op_line(out, st, (load_order_op)op);
  fprintf(out, "  crossing    %llu priced through the mid; %llu cancels forced by a full table\n",
          (unsigned long long)st->crossing, (unsigned long long)st->forced_cancels);
  fprintf(out,
          "  fills       %llu on @trade (maker %llu, taker %llu; %llu of untracked orders), "
          "%llu in the window (%.0f/s)\n",
          (unsigned long long)st->fills, (unsigned long long)st->fills_maker,
          (unsigned long long)st->fills_taker, (unsigned long long)st->fills_untracked,
          (unsigned long long)st->fills_window, per_second(st->fills_window, window));
  fprintf(out, "  error codes%s\n", st->n_codes == 0 && st->codes_other == 0 ? " none" : "");
  for (uint32_t i = 0; i < st->n_codes; i++) {
    const load_error_code *e = &st->codes[i];
    fprintf(out, "    %d on %-6s %10llu  %s%s\n", e->code, load_order_op_name((load_order_op)e->op),
            (unsigned long long)e->count, e->expected ? "(expected race) " : "UNEXPECTED: ",
            code_meaning(e->code, (load_order_op)e->op, e->expected));
  }
  if (st->codes_other) fprintf(out, "    other codes %llu\n", (unsigned long long)st->codes_other);
  /* the problems that invalidate a run, where nobody can miss them */
  for (uint32_t i = 0; i < st->n_codes; i++) {
    const load_error_code *e = &st->codes[i];
    if (!e->expected && (e->code == 4004 || e->code == 5001))
      fprintf(out, "  !! %llu replies %d to %s: %s\n", (unsigned long long)e->count, e->code,
              load_order_op_name((load_order_op)e->op),
              code_meaning(e->code, (load_order_op)e->op, e->expected));
  }
}

/* ------------------------------------------------------------- subscribe */

static bool is_subscribe(const load_options *o) {
  return o->scenario->on_message == load_subscribe_on_message;
}

/* Publications of the window times the subscribers of each: with --spread K
 * a publication reaches its group, N / K connections. When connections
 * failed, the groups are uneven and this is opened / K on average (the run
 * fails anyway). */
static uint64_t expected_deliveries(const load_run *run) {
  if (!run->publish) return 0;
  uint64_t k = run->opt->subscribe.spread;
  return (run->publish->sent_window * run->total.opened + k / 2) / k;
}

static void print_subscribe(const load_run *run, FILE *out, double window) {
  const load_options *o = run->opt;
  const load_subscribe_options *so = &o->subscribe;
  const load_subscribe_stats *st = &run->total.subscribe;
  if (so->spread > 1)
    fprintf(out,
            "  spread      %u channels, %u subscribers each: %%k = group, connection i in "
            "group i %% %u\n",
            so->spread, o->connections / so->spread, so->spread);
  if (so->raw)
    fprintf(out, "  subscribe   raw (the URL names the channel)\n");
  else
    fprintf(out, "  subscribe   %s%s\n", so->subscribe_msg,
            o->orders.jwt_secret ? (so->same_uid ? "  (all logged in as one uid)"
                                                 : "  (each logged in as its own uid)")
                                 : "");
  const load_publish_stats *p = run->publish;
  if (p) {
    if (so->spread > 1)
      fprintf(out, "  publisher   %u channels, %.0f/s each (%.0f/s in all)", so->spread,
              so->publish_rate, so->publish_rate * so->spread);
    else
      fprintf(out, "  publisher   %.0f/s", so->publish_rate);
    fprintf(out,
            " to %s%s: sent %llu (window %llu), ok %llu, failed %llu, "
            "unanswered %llu, waited for the pipeline %llu\n",
            o->orders.admin_url, so->publish_path, (unsigned long long)p->sent,
            (unsigned long long)p->sent_window, (unsigned long long)p->ok,
            (unsigned long long)p->failed, (unsigned long long)p->unanswered,
            (unsigned long long)p->late);
    if (p->delivered_seen)
      fprintf(out, "  server says delivered %llu (all phases)\n",
              (unsigned long long)p->delivered_sum);
    if (p->last_error[0]) fprintf(out, "  !! publish  HTTP %d %s\n", p->last_status, p->last_error);
    print_percentiles(out, "publish rtt", &p->response);
  }
  fprintf(out, "  delivered   %llu in the window (%.0f msg/s)", (unsigned long long)st->delivered,
          per_second(st->delivered, window));
  if (p) {
    uint64_t want = expected_deliveries(run);
    fprintf(out, " of %llu expected (%llu missing)", (unsigned long long)want,
            (unsigned long long)(want > st->delivered ? want - st->delivered : 0));
  }
  fprintf(out, "; outside the window %llu\n", (unsigned long long)st->stamped_late);
  if (st->wrong_group)
    fprintf(out, "  !! spread   %llu pushes of another group's channel (misrouted)\n",
            (unsigned long long)st->wrong_group);
  print_percentiles(out, "latency", &run->total.latency);
  if (st->server_ts) {
    fprintf(out, "  server ts   %llu unstamped pushes\n", (unsigned long long)st->server_ts);
    print_percentiles(out, "ts delay", &st->server_ts_delay);
  }
}

void load_report_table(const load_run *run, FILE *out) {
  const load_options *o = run->opt;
  const load_stats *s = &run->total;
  double window = (double)run->measured_ns / 1e9;
  fprintf(out, "bourse-load %s  %s  threads %u  connections %u%s\n", o->scenario->name, o->url,
          o->threads, o->connections, run->interrupted ? "  (interrupted)" : "");
  if (run->fatal) fprintf(out, "  fatal       %s\n", run->fatal);
  double cs = connect_seconds(s);
  fprintf(out, "  connections opened %llu of %u in %.3f s (%.0f conn/s)\n",
          (unsigned long long)s->opened, o->connections, cs, per_second(s->opened, cs));
  print_percentiles(out, "connect", &s->connect_ns);
  fprintf(out, "  failures    ");
  if (total_failed(s) == 0) fprintf(out, "none");
  for (int i = 0; i < LOAD_FAIL_COUNT; i++)
    if (s->failed[i]) fprintf(out, "%s %llu  ", fail_names[i], (unsigned long long)s->failed[i]);
  if (s->failed[LOAD_FAIL_OTHER]) fprintf(out, "(last: %s)", strerror(s->last_other_errno));
  fprintf(out, "\n");
  if (s->setup_error[0]) fprintf(out, "  set-up      %s\n", s->setup_error);
  fprintf(out, "  window      %.2f s after %.2f s warmup", window, (double)o->warmup_ns / 1e9);
  if (o->scenario->requests) {
    if (o->rate > 0)
      fprintf(out, "; open loop at %.0f msg/s", o->rate);
    else
      fprintf(out, "; flat out, %u in flight per connection", o->inflight);
  }
  fprintf(out, "\n");
  if (o->scenario->requests) {
    fprintf(out, "  requests    sent %llu (%.0f/s), replies %llu (%.0f round trips/s)\n",
            (unsigned long long)s->sent_window, per_second(s->sent_window, window),
            (unsigned long long)s->replies_window, per_second(s->replies_window, window));
    print_percentiles(out, "latency", &s->latency);
    if (o->rate > 0) print_percentiles(out, "send lag", &s->send_lag);
  }
  if (o->scenario->compose == load_orders_compose) print_orders(run, out, window);
  if (is_subscribe(o)) print_subscribe(run, out, window);
  fprintf(out, "  errors      ");
  if (total_errors(s) == 0) fprintf(out, "none");
  for (int i = 0; i < LOAD_ERR_COUNT; i++)
    if (s->errors[i]) fprintf(out, "%s %llu  ", error_names[i], (unsigned long long)s->errors[i]);
  if (s->last_close_code) fprintf(out, "(server close code %d)", s->last_close_code);
  fprintf(out, "\n");
  fprintf(out, "  messages    received %llu (welcomes %llu, other %llu), server pings %llu\n",
          (unsigned long long)s->frames_in, (unsigned long long)s->welcomes,
          (unsigned long long)s->other_messages, (unsigned long long)s->server_pings);
  fprintf(out, "  bytes       in ");
  print_bytes(out, (double)s->bytes_in);
  fprintf(out, ", out ");
  print_bytes(out, (double)s->bytes_out);
  fprintf(out, "\n");
  if (o->busy_poll_ns)
    fprintf(out,
            "  loop        %llu iterations, %llu polls without sleeping (--busy-poll %llu us)\n",
            (unsigned long long)s->iterations, (unsigned long long)s->busy_polls,
            (unsigned long long)(o->busy_poll_ns / 1000));
  if (o->server_pid) {
    fprintf(out, "  server rss  pid %d: before ", o->server_pid);
    print_bytes(out, (double)run->rss_before);
    fprintf(out, ", after ");
    print_bytes(out, (double)run->rss_after);
    if (run->rss_before >= 0 && run->rss_after >= 0 && s->opened > 0)
      fprintf(out, ", %+.0f B per connection",
              (double)(run->rss_after - run->rss_before) / (double)s->opened);
    fprintf(out, "\n");
  }
}

/* ------------------------------------------------------------------- JSON */

static void json_string(FILE *out, const char *s) {
  if (!s) {
    fputs("null", out);
    return;
  }
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(out, "\\u%04x", *p);
    else
      fputc(*p, out);
  }
  fputc('"', out);
}

static void json_percentiles(FILE *out, const histogram *h) {
  fprintf(out,
          "{\"count\":%llu,\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
          "\"p99_9\":%.3f,\"max\":%.3f}",
          (unsigned long long)h->count, us(h->count ? h->min : 0), histogram_mean(h) / 1e3,
          us(histogram_percentile(h, 50)), us(histogram_percentile(h, 90)),
          us(histogram_percentile(h, 99)), us(histogram_percentile(h, 99.9)), us(h->max));
}

static void json_orders(const load_run *run, FILE *out, double window) {
  const load_options *o = run->opt;
  const load_orders_options *oo = &o->orders;
  const load_orders_stats *st = &run->total.orders;
  fprintf(out, "{\"market\":");
  json_string(out, oo->market);
  fprintf(out, ",\"mid\":");
  json_string(out, oo->mid_text);
  fprintf(out, ",\"tick\":");
  json_string(out, oo->tick_text);
  fprintf(out, ",\"lot\":");
  json_string(out, oo->lot_text);
  fprintf(out, ",\"qty\":");
  json_string(out, oo->qty_text);
  fprintf(out,
          ",\"spread_ticks\":%u,\"cross_pct\":%u,\"cancel_pct\":%u,\"amend_pct\":%u,"
          "\"uid_first\":%llu,\"uid_last\":%llu,\"client_id_prefix\":",
          oo->spread_ticks, oo->cross_pct, oo->cancel_pct, oo->amend_pct,
          (unsigned long long)oo->uid_base,
          (unsigned long long)(oo->uid_base + o->connections - 1));
  json_string(out, oo->run_tag);
  fprintf(out, ",\"deposits\":");
  if (run->deposits >= 0) {
    fprintf(out, "{\"requests\":%ld,\"seconds\":%.3f,\"per_uid\":{", run->deposits, run->deposit_s);
    for (unsigned i = 0; i < oo->n_deposits; i++) {
      fprintf(out, "%s", i ? "," : "");
      json_string(out, oo->deposits[i].asset);
      fputc(':', out);
      json_string(out, oo->deposits[i].amount);
    }
    fprintf(out, "}}");
  } else {
    fprintf(out, "null");
  }
  uint64_t ok = orders_sum(st->acked), rejected = orders_sum(st->rejected);
  fprintf(out,
          ",\"sent\":%llu,\"acks\":%llu,\"acks_per_s\":%.1f,\"acks_ok\":%llu,"
          "\"acks_error\":%llu",
          (unsigned long long)orders_sum(st->sent), (unsigned long long)(ok + rejected),
          per_second(ok + rejected, window), (unsigned long long)ok, (unsigned long long)rejected);
  for (int op = 0; op < LOAD_ORDER_OPS; op++) {
    fprintf(out, ",\"%s\":{\"sent\":%llu,\"acked\":%llu,\"rejected\":%llu,\"latency_us\":",
            load_order_op_name((load_order_op)op), (unsigned long long)st->sent[op],
            (unsigned long long)st->acked[op], (unsigned long long)st->rejected[op]);
    json_percentiles(out, &st->latency[op]);
    fputc('}', out);
  }
  fprintf(out,
          ",\"crossing\":%llu,\"forced_cancels\":%llu,\"fills\":{\"seen\":%llu,"
          "\"maker\":%llu,\"taker\":%llu,\"untracked\":%llu,\"in_window\":%llu,"
          "\"per_s\":%.1f},\"error_codes\":[",
          (unsigned long long)st->crossing, (unsigned long long)st->forced_cancels,
          (unsigned long long)st->fills, (unsigned long long)st->fills_maker,
          (unsigned long long)st->fills_taker, (unsigned long long)st->fills_untracked,
          (unsigned long long)st->fills_window, per_second(st->fills_window, window));
  for (uint32_t i = 0; i < st->n_codes; i++) {
    const load_error_code *e = &st->codes[i];
    fprintf(out, "%s{\"code\":%d,\"op\":\"%s\",\"count\":%llu,\"expected\":%s,\"meaning\":",
            i ? "," : "", e->code, load_order_op_name((load_order_op)e->op),
            (unsigned long long)e->count, e->expected ? "true" : "false");
    json_string(out, code_meaning(e->code, (load_order_op)e->op, e->expected));
    fputc('}', out);
  }
  fprintf(out, "],\"error_codes_other\":%llu,\"unexpected_errors\":%llu}",
          (unsigned long long)st->codes_other, (unsigned long long)st->unexpected);
}

static void json_subscribe(const load_run *run, FILE *out, double window) {
  const load_options *o = run->opt;
  const load_subscribe_options *so = &o->subscribe;
  const load_subscribe_stats *st = &run->total.subscribe;
  fprintf(out, "{\"raw\":%s,\"spread\":%u,\"channels\":", so->raw ? "true" : "false", so->spread);
  json_string(out, so->channels);
  fprintf(out, ",\"wrong_group\":%llu", (unsigned long long)st->wrong_group);
  fprintf(out,
          ",\"delivered\":%llu,\"delivered_per_s\":%.1f,\"delivered_total\":%llu,"
          "\"outside_window\":%llu,\"server_ts_pushes\":%llu,\"server_ts_delay_us\":",
          (unsigned long long)st->delivered, per_second(st->delivered, window),
          (unsigned long long)st->delivered_total, (unsigned long long)st->stamped_late,
          (unsigned long long)st->server_ts);
  json_percentiles(out, &st->server_ts_delay);
  const load_publish_stats *p = run->publish;
  if (!p) {
    fprintf(out, ",\"expected\":null,\"publish\":null}");
    return;
  }
  fprintf(out,
          ",\"expected\":%llu,\"publish\":{\"rate\":%.3f,\"sent\":%llu,\"sent_in_window\":%llu,"
          "\"ok\":%llu,\"failed\":%llu,\"unanswered\":%llu,\"waited\":%llu,"
          "\"server_delivered\":",
          (unsigned long long)expected_deliveries(run), so->publish_rate,
          (unsigned long long)p->sent, (unsigned long long)p->sent_window,
          (unsigned long long)p->ok, (unsigned long long)p->failed,
          (unsigned long long)p->unanswered, (unsigned long long)p->late);
  if (p->delivered_seen)
    fprintf(out, "%llu", (unsigned long long)p->delivered_sum);
  else
    fprintf(out, "null");
  fprintf(out, ",\"last_status\":%d,\"last_error\":", p->last_status);
  json_string(out, p->last_error[0] ? p->last_error : NULL);
  fprintf(out, ",\"rtt_us\":");
  json_percentiles(out, &p->response);
  fprintf(out, "}}");
}

void load_report_json(const load_run *run, FILE *out) {
  const load_options *o = run->opt;
  const load_stats *s = &run->total;
  double window = (double)run->measured_ns / 1e9;
  double cs = connect_seconds(s);
  fprintf(out, "{\"tool\":\"bourse-load\",\"version\":\"%s\",\"scenario\":", BOURSE_VERSION);
  json_string(out, o->scenario->name);
  fprintf(out, ",\"url\":");
  json_string(out, o->url);
  fprintf(out, ",\"threads\":%u,\"interrupted\":%s,\"fatal\":", o->threads,
          run->interrupted ? "true" : "false");
  json_string(out, run->fatal);
  fprintf(out,
          ",\"options\":{\"connections\":%u,\"duration_s\":%.3f,\"warmup_s\":%.3f,"
          "\"drain_s\":%.3f,\"connect_rate\":%.3f,\"connect_timeout_s\":%.3f,\"rate\":%.3f,"
          "\"inflight\":%u,\"max_inflight\":%u,\"buffer_size\":%u,\"source_ips\":%u,"
          "\"busy_poll_us\":%llu,\"message\":",
          o->connections, (double)o->duration_ns / 1e9, (double)o->warmup_ns / 1e9,
          (double)o->drain_ns / 1e9, o->connect_rate, (double)o->connect_timeout_ns / 1e9, o->rate,
          o->inflight, o->max_inflight, o->buffer_size, o->source_ip_count,
          (unsigned long long)(o->busy_poll_ns / 1000));
  json_string(out, o->scenario->requests ? o->message_tpl.text : NULL);
  fprintf(out, ",\"expect\":");
  json_string(out, o->expect);
  fprintf(out, "}");

  fprintf(out,
          ",\"connections\":{\"requested\":%u,\"attempted\":%llu,\"opened\":%llu,"
          "\"failed\":%llu,\"failures\":{",
          o->connections, (unsigned long long)s->attempts, (unsigned long long)s->opened,
          (unsigned long long)total_failed(s));
  for (int i = 0; i < LOAD_FAIL_COUNT; i++)
    fprintf(out, "%s\"%s\":%llu", i ? "," : "", fail_names[i], (unsigned long long)s->failed[i]);
  fprintf(out, "},\"last_errno\":%d,\"connect_s\":%.6f,\"connect_rate\":%.1f,\"connect_us\":",
          s->last_other_errno, cs, per_second(s->opened, cs));
  json_percentiles(out, &s->connect_ns);
  fprintf(out, "}");

  fprintf(out,
          ",\"measured_s\":%.6f,\"requests\":{\"sent\":%llu,\"sent_in_window\":%llu,"
          "\"send_rate\":%.1f,\"replies\":%llu,\"replies_outside_window\":%llu,"
          "\"throughput\":%.1f},\"latency_us\":",
          window, (unsigned long long)s->sent, (unsigned long long)s->sent_window,
          per_second(s->sent_window, window), (unsigned long long)s->replies_window,
          (unsigned long long)s->replies_other, per_second(s->replies_window, window));
  json_percentiles(out, &s->latency);
  fprintf(out, ",\"send_lag_us\":");
  json_percentiles(out, &s->send_lag);

  fprintf(out, ",\"errors\":{");
  for (int i = 0; i < LOAD_ERR_COUNT; i++)
    fprintf(out, "\"%s\":%llu,", error_names[i], (unsigned long long)s->errors[i]);
  fprintf(out, "\"total\":%llu},\"last_close_code\":%d", (unsigned long long)total_errors(s),
          s->last_close_code);
  fprintf(out, ",\"setup_error\":");
  json_string(out, s->setup_error[0] ? s->setup_error : NULL);
  fprintf(out, ",\"orders\":");
  if (o->scenario->compose == load_orders_compose)
    json_orders(run, out, window);
  else
    fprintf(out, "null");
  fprintf(out, ",\"subscribe\":");
  if (is_subscribe(o))
    json_subscribe(run, out, window);
  else
    fprintf(out, "null");
  fprintf(out,
          ",\"messages\":{\"received\":%llu,\"welcomes\":%llu,\"other\":%llu,"
          "\"server_pings\":%llu},\"bytes\":{\"in\":%llu,\"out\":%llu},"
          "\"loop_iterations\":%llu,\"busy_polls\":%llu",
          (unsigned long long)s->frames_in, (unsigned long long)s->welcomes,
          (unsigned long long)s->other_messages, (unsigned long long)s->server_pings,
          (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
          (unsigned long long)s->iterations, (unsigned long long)s->busy_polls);
  if (o->server_pid) {
    fprintf(out, ",\"server_rss\":{\"pid\":%d,\"before_bytes\":%ld,\"after_bytes\":%ld,",
            o->server_pid, run->rss_before, run->rss_after);
    if (run->rss_before >= 0 && run->rss_after >= 0 && s->opened > 0)
      fprintf(out, "\"delta_per_connection_bytes\":%.1f}",
              (double)(run->rss_after - run->rss_before) / (double)s->opened);
    else
      fprintf(out, "\"delta_per_connection_bytes\":null}");
  } else {
    fprintf(out, ",\"server_rss\":null");
  }
  fprintf(out, "}\n");
}
