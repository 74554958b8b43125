/*
 * subscribe.c: the subscribe scenario of bourse-load: N connections
 * subscribe to --channels (after logging in with a JWT when the channels are
 * private) and count what is pushed to them: messages/s delivered and the
 * delivery latency. Runs on the worker threads; each call touches only the
 * calling worker's connections and statistics.
 *
 * Latency is measured from the publisher's stamp "t" (ns since the epoch on
 * CLOCK_REALTIME) embedded in each published body, so it is the same figure
 * against any server: bourse wraps the data in {"event":...,"data":{"t":..}}
 * and a raw pub/sub server (nchan, --raw) pushes the body as published. The
 * stamp is the publication's *intended* time on the publisher's fixed
 * schedule, so a publisher (or server) that falls behind shows as latency
 * (no coordinated omission). The receive time is the worker's clock read
 * once per loop iteration, converted to the wall clock with one offset taken
 * at start (load_shared.wall_offset_ns): no clock read per message.
 * Unstamped pushes with a server "ts" (market channels) are measured from
 * that instead, at the millisecond resolution the server gives.
 *
 * A publication counts as delivered in the window when its stamp lies in the
 * window, wherever it arrives until the drain ends, so with no loss
 * delivered == subscribers x publications of the window.
 *
 * --spread K splits the connections into K groups (connection i in group
 * i % K), each with its own channel: every %k in --channels and in the URL's
 * path becomes the group number. The subscribe op and the upgrade request
 * are expanded from templates once per connection, when it opens; a push
 * costs nothing more. With the built-in publisher, publication n (from 1)
 * goes to group (n - 1) % K, so a push whose "n" belongs to another group
 * is counted as wrong_group (the server routed it to the wrong channel).
 *
 * Hot path starts at load_subscribe_on_message: no allocation, no syscall.
 */
#include "bourse/clock.h"
#include "load.h"

#include <string.h>

/* Set-up steps, one bit each in load_subscribe_conn.setup_pending. */
enum { SETUP_AUTH = 1, SETUP_SUBSCRIBE = 2 };

/* -------------------------------------------------------------- options */

static int fail_usage(char *err, size_t errlen, const char *msg) {
  snprintf(err, errlen, "%s", msg);
  return -1;
}

/* Builds {"op":"subscribe","id":"sub-subscribe","args":["a","b"]} from the
 * comma list; channel names must need no JSON escaping. */
static int build_subscribe(load_subscribe_options *s, char *err, size_t errlen) {
  static const char head[] = "{\"op\":\"subscribe\",\"id\":\"sub-subscribe\",\"args\":[";
  char *out = s->subscribe_msg;
  size_t cap = sizeof(s->subscribe_msg), n = sizeof(head) - 1;
  memcpy(out, head, n);
  const char *p = s->channels;
  unsigned count = 0;
  while (*p) {
    size_t len = strcspn(p, ",");
    if (len == 0 || len > 100 || strcspn(p, "\"\\ ") < len)
      return fail_usage(err, errlen, "bad --channels: names separated by commas, no quotes");
    if (n + len + 4 + 2 >= cap) return fail_usage(err, errlen, "--channels too long");
    if (count++) out[n++] = ',';
    out[n++] = '"';
    memcpy(out + n, p, len);
    n += len;
    out[n++] = '"';
    p += len;
    if (*p == ',') p++;
  }
  if (count == 0) return fail_usage(err, errlen, "--channels needs at least one channel");
  out[n++] = ']';
  out[n++] = '}';
  out[n] = 0;
  return 0;
}

/* Splits text at each %k into tpl; -1 with a message when there are too many. */
static int parse_spread_template(load_template *tpl, const char *text, const char *what, char *err,
                                 size_t errlen) {
  if (load_template_parse_marker(tpl, text, "%k") == 0) return 0;
  snprintf(err, errlen, "%s has more than %d %%k", what, LOAD_TEMPLATE_MAX_IDS);
  return -1;
}

/* --spread K > 1: the groups divide the connections evenly and each group's
 * channel is named by %k, on the subscribing and on the publishing side. */
static int check_spread(load_options *opt, char *err, size_t errlen) {
  const load_subscribe_options *s = &opt->subscribe;
  uint32_t k = s->spread;
  if (k <= 1) return 0;
  if (opt->connections % k != 0) {
    snprintf(err, errlen,
             "--spread %u needs --connections a multiple of %u (%u connections leave %u over)", k,
             k, opt->connections, opt->connections % k);
    return -1;
  }
  if (s->raw && opt->path_tpl.ids == 0)
    return fail_usage(err, errlen,
                      "--spread with --raw needs %k in the URL path (e.g. "
                      "ws://HOST/sub?id=bench-%k): each group has its own channel");
  if (!s->raw && s->subscribe_tpl.ids == 0)
    return fail_usage(err, errlen,
                      "--spread needs %k in --channels (e.g. FAN%k@trades): each group "
                      "subscribes to its own channel");
  if (s->publish_rate <= 0) return 0;
  if (s->publish_rate * k > 1e7)
    return fail_usage(err, errlen,
                      "--publish-rate x --spread must stay within 10,000,000 publications/s");
  if (s->raw && s->publish_path_tpl.ids == 0)
    return fail_usage(err, errlen,
                      "--spread with --raw needs %k in --publish-path (e.g. /pub?id=bench-%k): "
                      "publication n goes to group (n - 1) % K");
  if (!s->raw && s->publish_channel_tpl.ids == 0)
    return fail_usage(err, errlen,
                      "--spread needs %k in --publish-channel (e.g. FAN%k@trades): "
                      "publication n goes to group (n - 1) % K");
  return 0;
}

/* The publisher's options: where it posts and which channel. */
static int check_publisher(load_options *opt, char *err, size_t errlen) {
  load_subscribe_options *s = &opt->subscribe;
  if (s->publish_rate <= 0) {
    if (s->publish_channel || s->publish_path)
      return fail_usage(err, errlen, "--publish-channel and --publish-path need --publish-rate");
    return 0;
  }
  if (!opt->orders.admin_url)
    return fail_usage(err, errlen, "--publish-rate needs --admin-url (where to publish)");
  if (s->publish_path && strlen(s->publish_path) > 2000)
    return fail_usage(err, errlen, "--publish-path too long (at most 2000 bytes)");
  if (s->raw) {
    if (!s->publish_path || s->publish_path[0] != '/')
      return fail_usage(err, errlen,
                        "--raw publishing needs --publish-path /PATH (e.g. /pub?id=bench)");
    return 0;
  }
  if (!s->publish_path) s->publish_path = "/v1/publish";
  if (!s->publish_channel) {
    if (!s->same_uid)
      return fail_usage(err, errlen, "--publish-rate needs --publish-channel (or --uid U)");
    snprintf(s->publish_channel_buf, sizeof(s->publish_channel_buf), "%llu@account",
             (unsigned long long)s->uid);
    s->publish_channel = s->publish_channel_buf;
  }
  if (strcspn(s->publish_channel, "\"\\") != strlen(s->publish_channel) ||
      strlen(s->publish_channel) > 100)
    return fail_usage(err, errlen, "bad --publish-channel: at most 100 bytes, no quotes");
  return 0;
}

/* The %k templates of everything named per group. */
static int parse_templates(load_options *opt, char *err, size_t errlen) {
  load_subscribe_options *s = &opt->subscribe;
  if (parse_spread_template(&opt->path_tpl, opt->path, "the URL path", err, errlen) != 0) return -1;
  if (!s->raw &&
      parse_spread_template(&s->subscribe_tpl, s->subscribe_msg, "--channels", err, errlen) != 0)
    return -1;
  if (s->publish_rate <= 0) return 0;
  if (parse_spread_template(&s->publish_path_tpl, s->publish_path, "--publish-path", err, errlen) !=
      0)
    return -1;
  return s->raw ? 0
                : parse_spread_template(&s->publish_channel_tpl, s->publish_channel,
                                        "--publish-channel", err, errlen);
}

int load_subscribe_check(load_options *opt, char *err, size_t errlen) {
  load_subscribe_options *s = &opt->subscribe;
  if (opt->message || opt->expect)
    return fail_usage(err, errlen, "--message and --expect belong to the message scenario");
  if (s->raw) {
    if (s->channels || opt->orders.jwt_secret)
      return fail_usage(err, errlen, "--raw sends nothing: no --channels, no --jwt-secret");
  } else {
    if (!s->channels)
      return fail_usage(err, errlen, "the subscribe scenario needs --channels (or --raw)");
    if (build_subscribe(s, err, errlen) != 0) return -1;
    bool has_private =
        strchr(s->channels, '@') && (s->channels[0] == '@' || strstr(s->channels, ",@") != NULL);
    if (has_private && !opt->orders.jwt_secret)
      return fail_usage(err, errlen, "private channels (@...) need --jwt-secret to log in");
    if (s->same_uid && s->uid < 1) return fail_usage(err, errlen, "--uid must be positive");
    if (!s->same_uid && opt->orders.uid_base > (uint64_t)INT64_MAX - opt->connections)
      return fail_usage(err, errlen, "--uid-base too large");
  }
  if (check_publisher(opt, err, errlen) != 0 || parse_templates(opt, err, errlen) != 0) return -1;
  return check_spread(opt, err, errlen);
}

uint32_t load_subscribe_group(const load_options *opt, uint32_t index) {
  return opt->subscribe.spread > 1 ? index % opt->subscribe.spread : 0;
}

/* --------------------------------------------------------------- set-up */

void load_subscribe_conn_init(load_thread *t, load_conn *c) {
  load_subscribe_conn *sc = c->ext;
  sc->group = load_subscribe_group(t->opt, c->index);
}

void load_subscribe_on_open(load_thread *t, load_conn *c) {
  const load_subscribe_options *s = &t->opt->subscribe;
  load_subscribe_conn *sc = c->ext;
  sc->setup_pending = 0;
  if (s->raw) { /* nothing to ask: the URL names the channel */
    load_conn_ready(t, c);
    return;
  }
  const char *secret = t->opt->orders.jwt_secret;
  if (secret) {
    char token[512], msg[640];
    uint64_t uid = s->same_uid ? s->uid : t->opt->orders.uid_base + c->index;
    size_t tlen = load_jwt_mint(secret, uid, clock_wall_ms() / 1000 + 3600, token, sizeof(token));
    int n =
        snprintf(msg, sizeof(msg), "{\"op\":\"auth\",\"id\":\"sub-auth\",\"token\":\"%s\"}", token);
    if (tlen == 0 || n < 0 || (size_t)n >= sizeof(msg) ||
        !load_conn_send_text(t, c, msg, (size_t)n)) {
      static const char why[] = "cannot mint or send the JWT login";
      load_conn_setup_failed(t, c, why, sizeof(why) - 1);
      return;
    }
    sc->setup_pending |= SETUP_AUTH;
  }
  /* sent together with the login: the server answers a connection's
   * requests in order, so the subscription already sees the uid; %k is
   * the connection's group */
  if (!load_conn_send_template(t, c, &s->subscribe_tpl, sc->group)) {
    static const char why[] = "the subscribe op does not fit --buffer-size";
    load_conn_setup_failed(t, c, why, sizeof(why) - 1);
    return;
  }
  sc->setup_pending |= SETUP_SUBSCRIBE;
}

/* A reply to a set-up request (its "id" is sub-auth or sub-subscribe). */
static bool on_setup_reply(load_thread *t, load_conn *c, const uint8_t *msg, size_t len) {
  load_subscribe_conn *sc = c->ext;
  uint8_t step = memmem(msg, len, "\"id\":\"sub-auth\"", 15)        ? SETUP_AUTH
                 : memmem(msg, len, "\"id\":\"sub-subscribe\"", 20) ? SETUP_SUBSCRIBE
                                                                    : 0;
  if (!step) return false;
  if (c->state != LOAD_CONN_SETUP || !(sc->setup_pending & step)) {
    load_count_other(t, msg, len);
    return true;
  }
  if (memmem(msg, len, "\"code\":", 7)) {
    char why[sizeof(t->stats.setup_error)];
    int n = snprintf(why, sizeof(why), "refused: %.*s", (int)(len > 180 ? 180 : len), msg);
    load_conn_setup_failed(t, c, why, (size_t)n < sizeof(why) ? (size_t)n : sizeof(why) - 1);
    return true;
  }
  sc->setup_pending &= (uint8_t)~step;
  if (sc->setup_pending == 0) load_conn_ready(t, c);
  return true;
}

/* ------------------------------------------------------------- pushes */

/* The number after the first occurrence of key in msg. */
static bool number_after(const uint8_t *msg, size_t len, const char *key, size_t klen,
                         uint64_t *out) {
  const uint8_t *k = memmem(msg, len, key, klen);
  if (!k) return false;
  const uint8_t *p = k + klen, *end = msg + len;
  uint64_t v = 0;
  const uint8_t *q = p;
  for (; q < end && *q >= '0' && *q <= '9'; q++)
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*q - '0'), &v))
      return false;
  *out = v;
  return q > p;
}

bool load_subscribe_find_stamp(const uint8_t *msg, size_t len, uint64_t *t_ns) {
  return number_after(msg, len, "\"t\":", 4, t_ns);
}

/* The worker's receive time on the wall clock, ns. */
static uint64_t wall_now(const load_thread *t) {
  return (uint64_t)((int64_t)t->now + t->shared->wall_offset_ns);
}

static void count_stamped(load_thread *t, uint64_t stamp_ns) {
  load_subscribe_stats *st = &t->stats.subscribe;
  st->delivered_total++;
  /* the stamp on the monotonic clock decides which phase it was published in */
  int64_t stamp_mono = (int64_t)stamp_ns - t->shared->wall_offset_ns;
  if (t->measure_ns == 0 || stamp_mono < (int64_t)t->measure_ns ||
      stamp_mono >= (int64_t)t->end_ns) {
    st->stamped_late++;
    return;
  }
  st->delivered++;
  uint64_t now = wall_now(t);
  histogram_record(&t->stats.latency, now > stamp_ns ? now - stamp_ns : 0);
}

static void count_server_ts(load_thread *t, uint64_t ts_ms) {
  load_subscribe_stats *st = &t->stats.subscribe;
  st->server_ts++;
  if (t->phase != LOAD_PHASE_MEASURE) return;
  uint64_t now = wall_now(t), ts_ns = ts_ms * UINT64_C(1000000);
  histogram_record(&st->server_ts_delay, now > ts_ns ? now - ts_ns : 0);
}

/* --spread with the built-in publisher: publication n went to group (n - 1) % K. */
static void check_group(load_thread *t, const load_conn *c, const uint8_t *msg, size_t len) {
  const load_subscribe_conn *sc = c->ext;
  uint64_t n;
  if (number_after(msg, len, "\"n\":", 4, &n) && n > 0 &&
      (n - 1) % t->opt->subscribe.spread != sc->group)
    t->stats.subscribe.wrong_group++;
}

void load_subscribe_on_message(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                               bool text) {
  (void)text;
  uint64_t v;
  if (load_subscribe_find_stamp(msg, len, &v)) {
    count_stamped(t, v);
    if (t->opt->subscribe.spread > 1 && t->opt->subscribe.publish_rate > 0)
      check_group(t, c, msg, len);
    return;
  }
  if (!t->opt->subscribe.raw) {
    if (memmem(msg, len, "\"id\":\"sub-", 10) && on_setup_reply(t, c, msg, len)) return;
    if (memmem(msg, len, "\"event\":", 8) && number_after(msg, len, "\"ts\":", 5, &v)) {
      count_server_ts(t, v);
      return;
    }
  }
  load_count_other(t, msg, len);
}
