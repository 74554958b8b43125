/*
 * main.c: bourse-load's main thread: options, the worker threads, the phases
 * of a run (connect, warmup, measured window, drain, close), signals, the
 * server's RSS, and the report. The main thread never touches a connection:
 * it publishes phase timestamps in load_shared and the workers follow them.
 */
#include "bourse/clock.h"
#include "load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#define LOAD_USAGE_STATUS 2
/* file descriptors the process needs besides one per connection */
#define LOAD_FD_RESERVE 32
/* on SIGINT, the most time given to replies still in flight */
#define LOAD_INTERRUPT_DRAIN_NS (500 * UINT64_C(1000000))

static const char usage_text[] =
    "usage: bourse-load [options] ws://HOST[:PORT][/PATH]\n"
    "\n"
    "Opens --connections WebSocket connections and runs a scenario:\n"
    "  connect   hold the connections idle for --duration (connect rate, server RSS)\n"
    "  ping      native {\"op\":\"ping\",\"id\":N} round trips (the default)\n"
    "  message   any text (--message, {id} = sequence number); a reply contains --expect\n"
    "  orders    authenticated users place, amend and cancel limit orders around a moving mid\n"
    "  subscribe subscribe to channels, count pushes and their latency; optional publisher\n"
    "\n"
    "  -s, --scenario NAME        connect, ping, message, orders or subscribe\n"
    "  -c, --connections N        connections to open (default 100)\n"
    "  -t, --threads N            worker threads (default: one per CPU)\n"
    "  -d, --duration SECONDS     measured window (default 10)\n"
    "  -w, --warmup SECONDS       traffic before the window, not counted (default 1)\n"
    "      --drain SECONDS        after the window, wait this long for replies (default 1)\n"
    "      --connect-rate R       connections opened per second, 0 = at once (default 0)\n"
    "      --connect-timeout S    TCP connect + handshake limit per connection (default 10)\n"
    "  -r, --rate R               requests/s over all connections, open loop; 0 = flat out\n"
    "  -k, --inflight K           flat out: requests outstanding per connection (default 1)\n"
    "      --max-inflight K       open loop: most outstanding per connection (default 256)\n"
    "  -m, --message TEXT         message scenario: the text sent\n"
    "  -e, --expect TEXT          message scenario: a reply is a message containing TEXT\n"
    "      --source-ips A[-B]     spread connections over IPv4 source addresses A..B\n"
    "      --server-pid PID       report the server's RSS before and after, per connection\n"
    "      --buffer-size BYTES    receive and send buffer per connection, each (default 16384)\n"
    "      --busy-poll US         after handling completions, poll without sleeping for up to\n"
    "                             US microseconds before blocking (0 .. 1000, default 0): the\n"
    "                             server then need not wake a sleeping load thread per message\n"
    "      --json                 print one JSON object instead of the table\n"
    "\n"
    "orders scenario (docs/LOAD.md):\n"
    "      --jwt-secret S         HS256 secret of the server (auth.jwt_secret); required\n"
    "      --uid-base N           connection i logs in as uid N + i (default 100000)\n"
    "      --admin-url URL        http://HOST:PORT of the admin API: deposit before the run\n"
    "      --admin-token T        bearer token of the admin API (admin.token)\n"
    "      --deposit A=X[,B=Y]    amounts deposited for every uid (default "
    "USDT=1000000,BTC=1000)\n"
    "      --market M             market (default BTCUSDT)\n"
    "      --mid P                starting mid price (default 50000); it then walks, within 5 %\n"
    "      --tick T               the market's tick (default 0.01)\n"
    "      --lot L                the market's lot (default 0.00001)\n"
    "      --qty Q                quantity of each order (default 0.001)\n"
    "      --spread-ticks N       orders rest 1..N ticks from the mid (default 50)\n"
    "      --cross-pct P          % of orders priced through the mid, so they trade (default 10)\n"
    "      --cancel-pct P         % of requests that cancel an open order (default 30)\n"
    "      --amend-pct P          % of requests that amend one (default 30); the rest place\n"
    "\n"
    "subscribe scenario (docs/LOAD.md; also --jwt-secret, --uid-base, --admin-url, "
    "--admin-token):\n"
    "      --channels A[,B...]    channels subscribed to after the welcome (one subscribe op)\n"
    "      --uid U                every connection logs in as uid U (default: --uid-base + i)\n"
    "      --raw                  a raw pub/sub server (nchan): no welcome, no subscribe op\n"
    "      --spread K             K groups, connection i in group i % K (default 1): every %k\n"
    "                             in --channels, the URL path, --publish-channel and\n"
    "                             --publish-path is the group number; needs N % K == 0\n"
    "      --publish-rate R       built-in publisher: R publications/s per channel to\n"
    "                             --admin-url (R x K in all, publication n to group (n-1) % K)\n"
    "      --publish-channel C    channel published to (default <uid>@account with --uid)\n"
    "      --publish-path P       request path (default /v1/publish; --raw: required)\n"
    "      --publish-pipeline K   most publish requests outstanding (default 64)\n"
    "      --publish-pad BYTES    padding added to each published body (default 0)\n"
    "  -V, --version              print the version\n"
    "  -h, --help                 this text\n"
    "\n"
    "Exit status: 0 every connection opened and no error, 1 failures or errors (see the\n"
    "report), 2 usage error. SIGINT ends the run early and prints what was measured.\n";

enum {
  OPT_DRAIN = 256,
  OPT_CONNECT_RATE,
  OPT_CONNECT_TIMEOUT,
  OPT_MAX_INFLIGHT,
  OPT_SOURCE_IPS,
  OPT_SERVER_PID,
  OPT_BUFFER_SIZE,
  OPT_JSON,
  OPT_BUSY_POLL,
  OPT_JWT_SECRET,
  OPT_UID_BASE,
  OPT_ADMIN_URL,
  OPT_ADMIN_TOKEN,
  OPT_DEPOSIT,
  OPT_MARKET,
  OPT_MID,
  OPT_TICK,
  OPT_LOT,
  OPT_QTY,
  OPT_SPREAD_TICKS,
  OPT_CROSS_PCT,
  OPT_CANCEL_PCT,
  OPT_AMEND_PCT,
  OPT_CHANNELS,
  OPT_UID,
  OPT_RAW,
  OPT_SPREAD,
  OPT_PUBLISH_RATE,
  OPT_PUBLISH_CHANNEL,
  OPT_PUBLISH_PATH,
  OPT_PUBLISH_PIPELINE,
  OPT_PUBLISH_PAD,
};

static const struct option long_options[] = {
    {"scenario", required_argument, NULL, 's'},
    {"connections", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 't'},
    {"duration", required_argument, NULL, 'd'},
    {"warmup", required_argument, NULL, 'w'},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"connect-rate", required_argument, NULL, OPT_CONNECT_RATE},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"rate", required_argument, NULL, 'r'},
    {"inflight", required_argument, NULL, 'k'},
    {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
    {"message", required_argument, NULL, 'm'},
    {"expect", required_argument, NULL, 'e'},
    {"source-ips", required_argument, NULL, OPT_SOURCE_IPS},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"buffer-size", required_argument, NULL, OPT_BUFFER_SIZE},
    {"json", no_argument, NULL, OPT_JSON},
    {"busy-poll", required_argument, NULL, OPT_BUSY_POLL},
    {"jwt-secret", required_argument, NULL, OPT_JWT_SECRET},
    {"uid-base", required_argument, NULL, OPT_UID_BASE},
    {"admin-url", required_argument, NULL, OPT_ADMIN_URL},
    {"admin-token", required_argument, NULL, OPT_ADMIN_TOKEN},
    {"deposit", required_argument, NULL, OPT_DEPOSIT},
    {"market", required_argument, NULL, OPT_MARKET},
    {"mid", required_argument, NULL, OPT_MID},
    {"tick", required_argument, NULL, OPT_TICK},
    {"lot", required_argument, NULL, OPT_LOT},
    {"qty", required_argument, NULL, OPT_QTY},
    {"spread-ticks", required_argument, NULL, OPT_SPREAD_TICKS},
    {"cross-pct", required_argument, NULL, OPT_CROSS_PCT},
    {"cancel-pct", required_argument, NULL, OPT_CANCEL_PCT},
    {"amend-pct", required_argument, NULL, OPT_AMEND_PCT},
    {"channels", required_argument, NULL, OPT_CHANNELS},
    {"uid", required_argument, NULL, OPT_UID},
    {"raw", no_argument, NULL, OPT_RAW},
    {"spread", required_argument, NULL, OPT_SPREAD},
    {"publish-rate", required_argument, NULL, OPT_PUBLISH_RATE},
    {"publish-channel", required_argument, NULL, OPT_PUBLISH_CHANNEL},
    {"publish-path", required_argument, NULL, OPT_PUBLISH_PATH},
    {"publish-pipeline", required_argument, NULL, OPT_PUBLISH_PIPELINE},
    {"publish-pad", required_argument, NULL, OPT_PUBLISH_PAD},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* --------------------------------------------------------- option parsing */

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "bourse-load: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(bourse-load --help for usage)\n");
  return LOAD_USAGE_STATUS;
}

static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || *s == '-' || v < min || v > max) return false;
  *out = (uint32_t)v;
  return true;
}

static bool parse_number(const char *s, double max, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < 0 || v > max) return false;
  *out = v;
  return true;
}

static bool parse_seconds(const char *s, uint64_t *ns) {
  double v;
  if (!parse_number(s, 1e6, &v)) return false;
  *ns = (uint64_t)(v * 1e9);
  return true;
}

/* ws://host[:port][/path][?query]; host may be [IPv6]. */
static int parse_url(load_options *o, const char *url) {
  if (strncmp(url, "ws://", 5) != 0)
    return usage_error("bad URL '%s': expected ws://HOST[:PORT][/PATH] (wss is not supported)",
                       url);
  const char *host = url + 5, *host_end, *after;
  if (*host == '[') {
    host_end = strchr(host, ']');
    if (!host_end) return usage_error("bad URL '%s': unclosed [", url);
    after = host_end + 1;
    host++;
  } else {
    host_end = host + strcspn(host, ":/?#");
    after = host_end;
  }
  size_t host_len = (size_t)(host_end - host);
  if (host_len == 0 || host_len > 253) return usage_error("bad URL '%s': no host", url);
  char port[6] = "80";
  const char *rest = after;
  if (*after == ':') {
    size_t n = strcspn(after + 1, "/?#");
    uint32_t p;
    char digits[8] = {0};
    if (n == 0 || n > 5) return usage_error("bad URL '%s': bad port", url);
    memcpy(digits, after + 1, n);
    if (!parse_u32(digits, 1, 65535, &p)) return usage_error("bad URL '%s': bad port", url);
    snprintf(port, sizeof(port), "%u", p);
    rest = after + 1 + n;
  } else if (*after && *after != '/' && *after != '?' && *after != '#') {
    return usage_error("bad URL '%s'", url);
  }
  size_t path_len = strcspn(rest, "#");
  if (path_len + 2 > sizeof(o->path)) return usage_error("bad URL '%s': path too long", url);
  if (*rest == '/')
    snprintf(o->path, sizeof(o->path), "%.*s", (int)path_len, rest);
  else
    snprintf(o->path, sizeof(o->path), "/%.*s", (int)path_len, rest);
  snprintf(o->host_header, sizeof(o->host_header), "%.*s", (int)(rest - (url + 5)), url + 5);

  char name[256];
  snprintf(name, sizeof(name), "%.*s", (int)host_len, host);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(name, port, &hints, &res);
  if (rc != 0 || !res) {
    fprintf(stderr, "bourse-load: cannot resolve '%s': %s\n", name, gai_strerror(rc));
    return LOAD_USAGE_STATUS;
  }
  memcpy(&o->target, res->ai_addr, res->ai_addrlen);
  o->target_len = res->ai_addrlen;
  freeaddrinfo(res);
  o->url = url;
  return 0;
}

static int parse_source_ips(load_options *o, const char *arg) {
  char first[INET_ADDRSTRLEN + 1], last[INET_ADDRSTRLEN + 1];
  const char *dash = strchr(arg, '-');
  size_t n1 = dash ? (size_t)(dash - arg) : strlen(arg);
  const char *second = dash ? dash + 1 : arg;
  if (n1 >= sizeof(first) || strlen(second) >= sizeof(last))
    return usage_error("bad --source-ips '%s'", arg);
  memcpy(first, arg, n1);
  first[n1] = 0;
  strcpy(last, second);
  struct in_addr a, b;
  if (inet_pton(AF_INET, first, &a) != 1 || inet_pton(AF_INET, last, &b) != 1 ||
      ntohl(b.s_addr) < ntohl(a.s_addr))
    return usage_error("bad --source-ips '%s': expected A or A-B, IPv4, A <= B", arg);
  o->source_ip_first = ntohl(a.s_addr);
  o->source_ip_count = ntohl(b.s_addr) - ntohl(a.s_addr) + 1;
  return 0;
}

static void set_defaults(load_options *o) {
  memset(o, 0, sizeof(*o));
  o->scenario = load_scenario_find("ping");
  o->connections = 100;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  o->threads = cpus > 0 ? (uint32_t)cpus : 1;
  o->duration_ns = 10 * LOAD_NS_PER_SEC;
  o->warmup_ns = 1 * LOAD_NS_PER_SEC;
  o->drain_ns = 1 * LOAD_NS_PER_SEC;
  o->connect_timeout_ns = 10 * LOAD_NS_PER_SEC;
  o->inflight = 1;
  o->max_inflight = 256;
  o->buffer_size = 16384;
  load_orders_options *oo = &o->orders;
  oo->uid_base = 100000;
  oo->market = "BTCUSDT";
  oo->mid_text = "50000";
  oo->tick_text = "0.01";
  oo->lot_text = "0.00001";
  oo->qty_text = "0.001";
  oo->spread_ticks = 50;
  oo->cross_pct = 10;
  oo->cancel_pct = 30;
  oo->amend_pct = 30;
  o->subscribe.publish_pipeline = 64;
  o->subscribe.spread = 1;
  char err[64];
  load_deposits_parse(oo, "USDT=1000000,BTC=1000", err, sizeof(err));
}

/* Handles one option of the orders scenario; returns 0 or an exit status. */
static int apply_orders_option(load_options *o, int c, const char *arg) {
  load_orders_options *oo = &o->orders;
  char err[256];
  uint32_t u;
  /* login and admin options serve the subscribe scenario too */
  if (c == OPT_JWT_SECRET || c == OPT_UID_BASE || c == OPT_ADMIN_URL || c == OPT_ADMIN_TOKEN)
    oo->account_given = true;
  else
    oo->given = true;
  switch (c) {
  case OPT_JWT_SECRET:
    oo->jwt_secret = arg;
    return 0;
  case OPT_UID_BASE: {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || *arg == '-' || v < 1 || v > (unsigned long long)INT64_MAX)
      return usage_error("bad --uid-base '%s' (a positive integer)", arg);
    oo->uid_base = v;
    return 0;
  }
  case OPT_ADMIN_URL:
    return load_admin_parse_url(oo, arg, err, sizeof(err)) == 0 ? 0 : usage_error("%s", err);
  case OPT_ADMIN_TOKEN:
    oo->admin_token = arg;
    return 0;
  case OPT_DEPOSIT:
    oo->deposit_given = true;
    return load_deposits_parse(oo, arg, err, sizeof(err)) == 0 ? 0 : usage_error("%s", err);
  case OPT_MARKET:
    oo->market = arg;
    return 0;
  case OPT_MID:
    oo->mid_text = arg;
    return 0;
  case OPT_TICK:
    oo->tick_text = arg;
    return 0;
  case OPT_LOT:
    oo->lot_text = arg;
    return 0;
  case OPT_QTY:
    oo->qty_text = arg;
    return 0;
  case OPT_SPREAD_TICKS:
    if (!parse_u32(arg, 1, 1000000000, &u)) return usage_error("bad --spread-ticks '%s'", arg);
    oo->spread_ticks = u;
    return 0;
  case OPT_CROSS_PCT:
  case OPT_CANCEL_PCT:
  case OPT_AMEND_PCT:
    if (!parse_u32(arg, 0, 100, &u)) return usage_error("bad percentage '%s' (0 .. 100)", arg);
    if (c == OPT_CROSS_PCT) oo->cross_pct = u;
    if (c == OPT_CANCEL_PCT) oo->cancel_pct = u;
    if (c == OPT_AMEND_PCT) oo->amend_pct = u;
    return 0;
  }
  return usage_error("%s", "unknown option");
}

/* Handles one option of the subscribe scenario; returns 0 or an exit status. */
static int apply_subscribe_option(load_options *o, int c, const char *arg) {
  load_subscribe_options *so = &o->subscribe;
  so->given = true;
  switch (c) {
  case OPT_CHANNELS:
    so->channels = arg;
    return 0;
  case OPT_UID: {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || *arg == '-' || v < 1 || v > (unsigned long long)INT64_MAX)
      return usage_error("bad --uid '%s' (a positive integer)", arg);
    so->uid = v;
    so->same_uid = true;
    return 0;
  }
  case OPT_RAW:
    so->raw = true;
    return 0;
  case OPT_SPREAD:
    return parse_u32(arg, 1, 100000, &so->spread)
               ? 0
               : usage_error("bad --spread '%s' (1 .. 100000)", arg);
  case OPT_PUBLISH_RATE:
    if (!parse_number(arg, 1e7, &so->publish_rate) || so->publish_rate <= 0)
      return usage_error("bad --publish-rate '%s' (a positive number)", arg);
    return 0;
  case OPT_PUBLISH_CHANNEL:
    so->publish_channel = arg;
    return 0;
  case OPT_PUBLISH_PATH:
    so->publish_path = arg;
    return 0;
  case OPT_PUBLISH_PIPELINE:
    return parse_u32(arg, 1, 4096, &so->publish_pipeline)
               ? 0
               : usage_error("bad --publish-pipeline '%s' (1 .. 4096)", arg);
  case OPT_PUBLISH_PAD:
    return parse_u32(arg, 0, 1000, &so->publish_pad)
               ? 0
               : usage_error("bad --publish-pad '%s' (0 .. 1000)", arg);
  }
  return usage_error("%s", "unknown option");
}

/* Handles one option; returns 0 or an exit status. */
static int apply_option(load_options *o, int c, const char *arg, bool *threads_given) {
  uint32_t u;
  switch (c) {
  case 's':
    o->scenario = load_scenario_find(arg);
    if (!o->scenario)
      return usage_error("unknown scenario '%s' (connect, ping, message, orders, subscribe)", arg);
    return 0;
  case 'c':
    if (!parse_u32(arg, 1, 10000000, &o->connections))
      return usage_error("bad --connections '%s'", arg);
    return 0;
  case 't':
    if (!parse_u32(arg, 1, 1024, &o->threads)) return usage_error("bad --threads '%s'", arg);
    *threads_given = true;
    return 0;
  case 'd':
    return parse_seconds(arg, &o->duration_ns) ? 0 : usage_error("bad --duration '%s'", arg);
  case 'w':
    return parse_seconds(arg, &o->warmup_ns) ? 0 : usage_error("bad --warmup '%s'", arg);
  case OPT_DRAIN:
    return parse_seconds(arg, &o->drain_ns) ? 0 : usage_error("bad --drain '%s'", arg);
  case OPT_CONNECT_RATE:
    return parse_number(arg, 1e9, &o->connect_rate) ? 0
                                                    : usage_error("bad --connect-rate '%s'", arg);
  case OPT_CONNECT_TIMEOUT:
    if (!parse_seconds(arg, &o->connect_timeout_ns) || o->connect_timeout_ns < 1000000)
      return usage_error("bad --connect-timeout '%s' (at least 0.001)", arg);
    return 0;
  case 'r':
    return parse_number(arg, 1e9, &o->rate) ? 0 : usage_error("bad --rate '%s'", arg);
  case 'k':
    return parse_u32(arg, 1, 65536, &o->inflight) ? 0 : usage_error("bad --inflight '%s'", arg);
  case OPT_MAX_INFLIGHT:
    return parse_u32(arg, 1, 65536, &o->max_inflight) ? 0
                                                      : usage_error("bad --max-inflight '%s'", arg);
  case 'm':
    o->message = arg;
    return 0;
  case 'e':
    o->expect = arg;
    return 0;
  case OPT_SOURCE_IPS:
    return parse_source_ips(o, arg);
  case OPT_SERVER_PID:
    if (!parse_u32(arg, 1, 1u << 30, &u)) return usage_error("bad --server-pid '%s'", arg);
    o->server_pid = (int)u;
    return 0;
  case OPT_BUFFER_SIZE:
    return parse_u32(arg, 1024, 64u << 20, &o->buffer_size)
               ? 0
               : usage_error("bad --buffer-size '%s' (1024 .. 67108864)", arg);
  case OPT_JSON:
    o->json = true;
    return 0;
  case OPT_BUSY_POLL:
    if (!parse_u32(arg, 0, 1000, &u))
      return usage_error("bad --busy-poll '%s' (0 .. 1000 us)", arg);
    o->busy_poll_ns = (uint64_t)u * 1000;
    return 0;
  }
  if (c >= OPT_JWT_SECRET && c <= OPT_AMEND_PCT) return apply_orders_option(o, c, arg);
  if (c >= OPT_CHANNELS && c <= OPT_PUBLISH_PAD) return apply_subscribe_option(o, c, arg);
  return usage_error("%s", "unknown option");
}

/* Checks that the options fit together; returns 0 or an exit status. */
static int check_options(load_options *o, bool threads_given) {
  char err[256];
  load_template_parse_marker(&o->path_tpl, o->path, NULL); /* subscribe's check splits at %k */
  if (o->scenario->check && o->scenario->check(o, err, sizeof(err)) != 0)
    return usage_error("%s", err);
  if (!o->scenario->requests && (o->message || o->expect))
    return usage_error("--message and --expect belong to the %s scenario", "message");
  bool orders = o->scenario->compose == load_orders_compose;
  bool subscribe = o->scenario->on_message == load_subscribe_on_message;
  if (o->orders.given && !orders)
    return usage_error("--deposit, --market, --mid ... belong to the %s scenario", "orders");
  if (o->orders.account_given && !orders && !subscribe)
    return usage_error("%s", "--jwt-secret, --uid-base, --admin-url and --admin-token belong to "
                             "the orders and subscribe scenarios");
  if (o->subscribe.given && !subscribe)
    return usage_error("--channels, --raw, --publish-rate ... belong to the %s scenario",
                       "subscribe");
  if ((o->orders.deposit_given || o->orders.admin_token) && !o->orders.admin_url)
    return usage_error("%s", "--deposit and --admin-token need --admin-url");
  if (o->source_ip_count && o->target.ss_family != AF_INET)
    return usage_error("%s", "--source-ips needs an IPv4 target");
  if (o->threads > o->connections) {
    if (threads_given)
      fprintf(stderr, "bourse-load: %u threads for %u connections: using %u\n", o->threads,
              o->connections, o->connections);
    o->threads = o->connections;
  }
  /* the upgrade request (each %k up to 5 digits) and one request frame (ids up to 20
   * digits) must fit */
  size_t need = strlen(o->path) + 3u * o->path_tpl.ids + strlen(o->host_header) + 256;
  if (o->scenario->requests) {
    size_t frame = o->message_tpl.len + 20u * o->message_tpl.ids + LOAD_WS_MAX_HEADER;
    if (frame > need) need = frame;
  }
  if (need > o->buffer_size) {
    char n[32];
    snprintf(n, sizeof(n), "%zu", need);
    return usage_error("--buffer-size must be at least %s for this URL and message", n);
  }
  return 0;
}

static int parse_options(load_options *o, int argc, char **argv) {
  set_defaults(o);
  bool threads_given = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "s:c:t:d:w:r:k:m:e:Vh", long_options, NULL)) != -1) {
    if (c == 'h') {
      fputs(usage_text, stdout);
      exit(0);
    }
    if (c == 'V') {
      printf("bourse-load %s\n", BOURSE_VERSION);
      exit(0);
    }
    if (c == '?' || c == ':') return usage_error("bad or incomplete option '%s'", argv[optind - 1]);
    int rc = apply_option(o, c, optarg, &threads_given);
    if (rc) return rc;
  }
  if (optind != argc - 1) return usage_error("%s", "expected exactly one ws:// URL");
  int rc = parse_url(o, argv[optind]);
  if (rc) return rc;
  return check_options(o, threads_given);
}

/* ------------------------------------------------------------- the run */

/* The server's resident set in bytes (VmRSS), or -1. */
static long read_rss(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kib = -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib < 0 ? -1 : kib * 1024;
}

/* Raises the open-file limit to the hard limit; checks the connections fit. */
static int raise_fd_limit(const load_options *o) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      (uint64_t)o->connections + 2u * o->threads + LOAD_FD_RESERVE > rl.rlim_cur) {
    fprintf(stderr,
            "bourse-load: %u connections need %u file descriptors, but the limit is %llu "
            "(ulimit -n; raise the hard limit)\n",
            o->connections, o->connections + 2u * o->threads + LOAD_FD_RESERVE,
            (unsigned long long)rl.rlim_cur);
    return LOAD_USAGE_STATUS;
  }
  return 0;
}

static void publish_phases(load_shared *s, uint64_t traffic, uint64_t warmup, uint64_t duration,
                           uint64_t drain) {
  atomic_store_explicit(&s->measure_ns, traffic + warmup, memory_order_release);
  atomic_store_explicit(&s->end_ns, traffic + warmup + duration, memory_order_release);
  atomic_store_explicit(&s->drain_end_ns, traffic + warmup + duration + drain,
                        memory_order_release);
  atomic_store_explicit(&s->traffic_ns, traffic, memory_order_release);
}

/* SIGINT/SIGTERM: end the window now and drain briefly; a second one
 * stops draining at once. */
static void interrupt_run(load_shared *s, uint64_t now, int signals) {
  if (atomic_load(&s->traffic_ns) == 0) {
    publish_phases(s, now, 0, 0, 0);
    return;
  }
  if (atomic_load(&s->measure_ns) > now) atomic_store(&s->measure_ns, now);
  if (atomic_load(&s->end_ns) > now) atomic_store(&s->end_ns, now);
  uint64_t drain_end = signals > 1 ? now : now + LOAD_INTERRUPT_DRAIN_NS;
  if (atomic_load(&s->drain_end_ns) > drain_end) atomic_store(&s->drain_end_ns, drain_end);
}

/* The main thread's part of a run: publish phases, watch signals and RSS. */
static void coordinate(const load_options *o, load_shared *s, load_run *run) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  int signals = 0;
  bool rss_taken = false;
  while (atomic_load(&s->workers_done) < o->threads) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000};
    int sig = sigtimedwait(&set, NULL, &ts);
    uint64_t now = clock_mono_ns();
    if (sig > 0) {
      signals++;
      run->interrupted = true;
      interrupt_run(s, now, signals);
    }
    if (atomic_load(&s->traffic_ns) == 0 && atomic_load(&s->settled) >= o->connections)
      publish_phases(s, now, o->warmup_ns, o->duration_ns, o->drain_ns);
    uint64_t end = atomic_load(&s->end_ns);
    if (!rss_taken && atomic_load(&s->traffic_ns) != 0 && now >= end) {
      /* at the end of the window, before anything closes */
      if (o->server_pid) run->rss_after = read_rss(o->server_pid);
      rss_taken = true;
    }
  }
  uint64_t traffic = atomic_load(&s->traffic_ns);
  uint64_t measure = atomic_load(&s->measure_ns), end = atomic_load(&s->end_ns);
  run->measured_ns = traffic && end > measure ? end - measure : 0;
}

static uint64_t random_seed(void) {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) seed = clock_mono_ns();
  return seed;
}

/* orders: funds every uid through the admin API; 0 or an exit status. */
static int deposit_before_run(const load_options *o, load_run *run) {
  if (o->scenario->compose != load_orders_compose || !o->orders.admin_url) return 0;
  char err[768];
  uint64_t t0 = clock_mono_ns();
  run->deposits = load_admin_deposit_all(&o->orders, o->connections, err, sizeof(err));
  run->deposit_s = (double)(clock_mono_ns() - t0) / 1e9;
  if (run->deposits < 0) {
    fprintf(stderr, "bourse-load: deposits failed: %s\n", err);
    return 1;
  }
  return 0;
}

static int run_load(load_options *o) {
  load_run run = {.opt = o, .rss_before = -1, .rss_after = -1, .deposits = -1};
  load_stats_init(&run.total);
  int deposit_status = deposit_before_run(o, &run);
  if (deposit_status) return deposit_status;
  if (o->server_pid) {
    run.rss_before = read_rss(o->server_pid);
    if (run.rss_before < 0) {
      fprintf(stderr, "bourse-load: cannot read VmRSS of --server-pid %d: %s\n", o->server_pid,
              strerror(errno));
      return LOAD_USAGE_STATUS;
    }
  }
  load_shared *shared = calloc(1, sizeof(*shared));
  load_thread *workers = calloc(o->threads, sizeof(*workers));
  if (!shared || !workers) {
    fprintf(stderr, "bourse-load: out of memory\n");
    return 1;
  }
  uint64_t seed = random_seed();
  for (unsigned i = 0; i < o->threads; i++) {
    int rc = load_thread_prepare(&workers[i], i, o, shared, seed + i * 0x9E3779B97F4A7C15ull);
    if (rc != 0) {
      fprintf(stderr, "bourse-load: cannot allocate buffers for %u connections: %s\n",
              o->connections, strerror(rc));
      return 1;
    }
  }
  thread_signals_block(); /* workers inherit the mask; only main sees the signals */
  shared->start_ns = clock_mono_ns();
  shared->wall_offset_ns = clock_wall_ns() - (int64_t)clock_mono_ns();
  for (unsigned i = 0; i < o->threads; i++) {
    char name[16];
    snprintf(name, sizeof(name), "load-%u", i);
    int rc = thread_start(&workers[i].handle, name, -1, load_thread_main, &workers[i]);
    if (rc != 0) {
      fprintf(stderr, "bourse-load: cannot start thread %s: %s\n", name, strerror(rc));
      atomic_fetch_add(&shared->settled, workers[i].n_conns);
      atomic_fetch_add(&shared->workers_done, 1);
    }
  }
  static load_publisher publisher;
  if (o->subscribe.publish_rate > 0) {
    publisher = (load_publisher){.opt = o, .shared = shared};
    int rc = thread_start(&publisher.handle, "load-publish", -1, load_publisher_main, &publisher);
    if (rc != 0) {
      fprintf(stderr, "bourse-load: cannot start the publisher: %s\n", strerror(rc));
      return 1;
    }
    publisher.started = true;
  }
  coordinate(o, shared, &run);
  if (publisher.started) {
    thread_join(&publisher.handle);
    run.publish = &publisher.stats;
  }
  static char fatal[256];
  for (unsigned i = 0; i < o->threads; i++) {
    thread_join(&workers[i].handle);
    load_stats_merge(&run.total, &workers[i].stats);
    if (workers[i].fatal) {
      snprintf(fatal, sizeof(fatal), "io_uring_queue_init failed: %s (io_uring disabled?)",
               strerror(workers[i].fatal));
      run.fatal = fatal;
    }
  }
  if (o->json)
    load_report_json(&run, stdout);
  else
    load_report_table(&run, stdout);
  fflush(stdout);
  if (run.fatal) fprintf(stderr, "bourse-load: %s\n", run.fatal);

  uint64_t failed = run.total.attempts - run.total.opened, errors = 0;
  for (int i = 0; i < LOAD_ERR_COUNT; i++) errors += run.total.errors[i];
  for (unsigned i = 0; i < o->threads; i++) load_thread_release(&workers[i]);
  free(workers);
  free(shared);
  bool publish_ok = !run.publish || (run.publish->failed == 0 && run.publish->unanswered == 0 &&
                                     run.publish->sent > 0 && !run.publish->last_error[0]);
  bool clean = !run.fatal && failed == 0 && errors == 0 && run.total.opened == o->connections &&
               publish_ok && run.total.subscribe.wrong_group == 0;
  return clean ? 0 : 1;
}

int main(int argc, char **argv) {
  static load_options opt;
  int rc = parse_options(&opt, argc, argv);
  if (rc) return rc;
  rc = raise_fd_limit(&opt);
  if (rc) return rc;
  return run_load(&opt);
}
