/*
 * config.c: loads, validates and prints the configuration (see
 * include/bourse/config.h).
 *
 * Thread roles: config_load and config_defaults run once on the main thread
 * before any other thread starts; the lookup, print and key-table functions
 * only read and are thread-safe.
 *
 * Three key tables (the fixed sections, asset.*, market.*) describe every key
 * once: type, field, default, range and one line of documentation. Loading,
 * environment overrides, printing and the docs check all walk these tables.
 * Loading has three steps:
 *   1. collect: libinih reads the file and every value is kept as text in a
 *      slot with its line number; BOURSE_* environment variables then replace
 *      slots. Nothing is interpreted yet, so assets may be defined after the
 *      markets that use them.
 *   2. apply: each slot (or the key's default) is parsed by its type into cfg.
 *   3. check: the rules that span keys (base != quote, lot and tick x lot
 *      against the asset units, engine < engine.threads, fee discount).
 *
 * Why the file goes through our own line reader (ini_parse_stream) instead of
 * ini_parse_file: Debian's libinih is built without INI_HANDLER_LINENO, so
 * its handler is never told the line. The reader counts lines, so every error
 * names its line; it also sees section headers, which libinih does not
 * report (an empty or repeated [section] would otherwise pass unnoticed), and
 * it rejects what libinih would silently reinterpret: over-long lines (split
 * in two) and indented lines after a key (appended to that key's value).
 */
#include "bourse/config.h"

#include "bourse/auth.h"
#include "bourse/decimal.h"
#include "bourse/ipnet.h"
#include "bourse/thread.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Key tables                                                               */

typedef enum key_type {
  KEY_STRING,        /* char[size]; min..max bounds the length */
  KEY_UINT,          /* unsigned */
  KEY_U64,           /* uint64_t */
  KEY_FEE,           /* int32_t, 1e-6 units */
  KEY_LOG_LEVEL,     /* config_log_level */
  KEY_ASSET,         /* unsigned index of a defined asset */
  KEY_ASSET_OR_NONE, /* int index of a defined asset; "" is -1 */
  KEY_STEP,          /* int64_t > 0 at its written scale; the scale goes to scale_offset */
  KEY_AMOUNT,        /* int64_t >= 0 at the decimals of the asset named by key unit_key */
} key_type;

typedef struct key_desc {
  config_key pub; /* what config_key_at shows */
  key_type type;
  size_t offset; /* into config, config_asset or config_market */
  size_t size;
  size_t scale_offset;                     /* KEY_STEP: the unsigned scale field */
  const char *unit_key;                    /* KEY_AMOUNT: sibling key naming the asset */
  uint64_t min, max;                       /* numbers: the range; strings: the length */
  const char *(*check)(const char *value); /* extra validation: NULL or the reason */
  bool secret;                             /* never printed by config_print_redacted */
} key_desc;

#define KEY_STR_(x)        #x
#define KEY_STR(x)         KEY_STR_(x)
#define FIELD(type, field) .offset = offsetof(type, field), .size = sizeof(((type *)0)->field)
#define NUMBER(lo, hi)     .min = (lo), .max = (hi)

static const char *check_bind(const char *value);
static const char *check_cpu_pin(const char *value);
static const char *check_power_of_two(const char *value);
static const char *check_ip_list(const char *value);

/* The fixed sections. Keys of one section are contiguous (config_print relies on it). */
static const key_desc global_keys[] = {
    {{"server", "name", "bourse", "1..63 chars",
      "server name, shown in logs and the welcome frame"},
     KEY_STRING,
     FIELD(config, server_name),
     NUMBER(1, 63)},
    {{"server", "data_dir", "./data", "1..255 chars",
      "directory of the LMDB environments (data_dir/engine-K/)"},
     KEY_STRING,
     FIELD(config, data_dir),
     NUMBER(1, 255)},
    {{"log", "level", "info", "debug, info, warn, error", "least severe message written"},
     KEY_LOG_LEVEL,
     FIELD(config, log_level),
     NUMBER(0, 0)},
    {{"log", "file", "", "0..255 chars", "log file path; empty = standard error"},
     KEY_STRING,
     FIELD(config, log_file),
     NUMBER(0, 255)},
    {{"net", "bind", "0.0.0.0", "IPv4 or IPv6 address",
      "listen address of the WebSocket/HTTP port"},
     KEY_STRING,
     FIELD(config, net_bind),
     NUMBER(1, 63),
     .check = check_bind},
    {{"net", "port", "8080", "1..65535", "WebSocket/HTTP listen port"},
     KEY_UINT,
     FIELD(config, net_port),
     NUMBER(1, 65535)},
    {{"net", "io_threads", "1", "1.." KEY_STR(CONFIG_MAX_IO_THREADS),
      "io threads (connections, protocol codecs)"},
     KEY_UINT,
     FIELD(config, net_io_threads),
     NUMBER(1, CONFIG_MAX_IO_THREADS)},
    {{"net", "max_connections", "16384", "1..1000000",
      "connection slots per io thread; a connection beyond them is closed at accept"},
     KEY_UINT,
     FIELD(config, net_max_connections),
     NUMBER(1, 1000000)},
    {{"net", "max_send_queue", "4194304", "4096..1073741824",
      "bytes queued for one connection before it is closed with 1008"},
     KEY_UINT,
     FIELD(config, net_max_send_queue),
     NUMBER(4096, 1073741824)},
    {{"net", "max_message", "1048576", "1024..67108864",
      "largest WebSocket message (over: close 1009) and HTTP request body (over: 413)"},
     KEY_UINT,
     FIELD(config, net_max_message),
     NUMBER(1024, 67108864)},
    {{"net", "recv_buffers", "2048", "power of two, 16..32768",
      "provided receive buffers per io thread (multishot recv)"},
     KEY_UINT,
     FIELD(config, net_recv_buffers),
     NUMBER(16, 32768),
     .check = check_power_of_two},
    {{"net", "recv_buffer_size", "4096", "512..1048576", "bytes per receive buffer"},
     KEY_UINT,
     FIELD(config, net_recv_buffer_size),
     NUMBER(512, 1048576)},
    {{"ws", "ping_interval_ms", "20000", "10..3600000",
      "the server sends a WebSocket ping this often"},
     KEY_UINT,
     FIELD(config, ws_ping_interval_ms),
     NUMBER(10, 3600000)},
    {{"ws", "ping_timeout_ms", "60000", "10..3600000",
      "a connection silent this long is closed with 1001 (HTTP keep-alive: closed)"},
     KEY_UINT,
     FIELD(config, ws_ping_timeout_ms),
     NUMBER(10, 3600000)},
    {{"ws", "origins", "", "0..1023 chars",
      "comma-separated Origin allow-list for WebSocket upgrades; empty = any origin"},
     KEY_STRING,
     FIELD(config, ws_origins),
     NUMBER(0, 1023)},
    {{"feed", "tick_ms", "50", "1..60000",
      "market data (depth diffs, trades, tickers, klines) is published this often"},
     KEY_UINT,
     FIELD(config, feed_tick_ms),
     NUMBER(1, 60000)},
    {{"feed", "snapshot_levels", "1000", "1..100000", "price levels per side in a depth snapshot"},
     KEY_UINT,
     FIELD(config, feed_snapshot_levels),
     NUMBER(1, 100000)},
    {{"feed", "lag_bytes", "1048576", "4096..1073741824",
      "a depth subscriber with this many bytes queued skips diffs and gets a fresh snapshot once "
      "drained"},
     KEY_UINT,
     FIELD(config, feed_lag_bytes),
     NUMBER(4096, 1073741824)},
    {{"limits", "requests_per_s", "50", "1..10000000",
      "requests per second per connection (token bucket); over it: error 5001"},
     KEY_UINT,
     FIELD(config, limits_requests_per_s),
     NUMBER(1, 10000000)},
    {{"limits", "burst", "100", "1..100000000", "token bucket size: requests allowed at once"},
     KEY_UINT,
     FIELD(config, limits_burst),
     NUMBER(1, 100000000)},
    {{"limits", "max_subscriptions", "1024", "1..1000000", "channels one connection may subscribe"},
     KEY_UINT,
     FIELD(config, limits_max_subscriptions),
     NUMBER(1, 1000000)},
    {{"limits", "max_open_orders", "1000", "1..10000000", "open orders one user may have"},
     KEY_UINT,
     FIELD(config, limits_max_open_orders),
     NUMBER(1, 10000000)},
    {{"limits", "connections_per_ip", "256", "1..1000000",
      "connections one IP address may hold open on one io thread; more are refused with 429"},
     KEY_UINT,
     FIELD(config, limits_connections_per_ip),
     NUMBER(1, 1000000)},
    {{"limits", "connect_rate_per_ip", "50", "1..1000000",
      "new connections per second one IP address may open (bucket of twice that); more: 429"},
     KEY_UINT,
     FIELD(config, limits_connect_rate_per_ip),
     NUMBER(1, 1000000)},
    {{"limits", "exempt_ips", "127.0.0.0/8,::1", "comma-separated IPs or CIDR prefixes",
      "addresses the per-IP limits do not apply to (local tools, a local reverse proxy)"},
     KEY_STRING,
     FIELD(config, limits_exempt_ips),
     NUMBER(0, 511),
     .check = check_ip_list},
    {{"admin", "bind", "127.0.0.1", "IPv4 or IPv6 address",
      "listen address of the admin API (deposits, withdrawals, keys, publish, halts)"},
     KEY_STRING,
     FIELD(config, admin_bind),
     NUMBER(1, 63),
     .check = check_bind},
    {{"admin", "port", "8081", "1..65535", "admin API port"},
     KEY_UINT,
     FIELD(config, admin_port),
     NUMBER(1, 65535)},
    {{"admin", "token", "", "0..255 chars",
      "bearer token the admin API requires; at least 32 characters unless allow_no_token"},
     KEY_STRING,
     FIELD(config, admin_token),
     NUMBER(0, 255),
     .secret = true},
    {{"admin", "allow_no_token", "0", "0..1",
      "development only: 1 lets the admin API run without a token (or with a short one) when "
      "it is bound to a loopback address"},
     KEY_UINT,
     FIELD(config, admin_allow_no_token),
     NUMBER(0, 1)},
    {{"engine", "threads", "1", "1",
      "engine threads; one for now (sharding users and markets over several engines comes "
      "with durable engine-to-engine messaging)"},
     KEY_UINT,
     FIELD(config, engine_threads),
     NUMBER(1, 1)},
    {{"engine", "spin_us", "0", "0..1000000",
      "microseconds an idle engine busy-polls before blocking; 0 = block at once"},
     KEY_UINT,
     FIELD(config, engine_spin_us),
     NUMBER(0, 1000000)},
    {{"cpu", "pin", "", "empty or name:cpu[,name:cpu...]",
      "CPU affinity: a role (io, engine, broadcast, log), a thread name (engine-0) or a "
      "prefix ending in '*', then the cpu; empty = no pinning"},
     KEY_STRING,
     FIELD(config, cpu_pin),
     NUMBER(0, 127),
     .check = check_cpu_pin},
    {{"fees", "account_uid", "1", "1..9223372036854775807", "user id that receives every fee"},
     KEY_U64,
     FIELD(config, fees_account_uid),
     NUMBER(1, 9223372036854775807)},
    {{"fees", "discount_asset", "", "empty or a defined asset",
      "asset whose holders get the fee discount; empty = no discount"},
     KEY_ASSET_OR_NONE,
     FIELD(config, fees_discount_asset),
     NUMBER(0, 0)},
    {{"fees", "discount_min", "0", ">= 0, at the discount asset's decimals",
      "balance of discount_asset a user must hold to get the discount"},
     KEY_AMOUNT,
     FIELD(config, fees_discount_min),
     NUMBER(0, 0),
     .unit_key = "discount_asset"},
    {{"fees", "discount_pct", "0", "0..100",
      "percent taken off the fee of qualifying users; needs discount_asset when > 0"},
     KEY_UINT,
     FIELD(config, fees_discount_pct),
     NUMBER(0, 100)},
    {{"auth", "jwt_secret", "", "empty or 32..255 chars",
      "HS256 key for JWT login; empty = HS256 disabled"},
     KEY_STRING,
     FIELD(config, auth_jwt_secret),
     NUMBER(0, 255),
     .check = auth_jwt_secret_check,
     .secret = true},
    {{"auth", "jwt_public_key", "", "0..255 chars",
      "PEM file with the RSA (RS256) or EC P-256 (ES256) public key; empty = none"},
     KEY_STRING,
     FIELD(config, auth_jwt_public_key),
     NUMBER(0, 255)},
    {{"auth", "jwt_algs", "HS256", "comma list of HS256, RS256, ES256",
      "JWT algorithms accepted; none is never accepted"},
     KEY_STRING,
     FIELD(config, auth_jwt_algs),
     NUMBER(0, 63),
     .check = auth_jwt_algs_check},
    {{"auth", "jwt_leeway_s", "30", "0..3600", "clock skew tolerated on a JWT's exp and nbf"},
     KEY_UINT,
     FIELD(config, auth_jwt_leeway_s),
     NUMBER(0, 3600)},
    {{"auth", "jwt_issuer", "", "0..255 chars", "required JWT iss claim; empty = not checked"},
     KEY_STRING,
     FIELD(config, auth_jwt_issuer),
     NUMBER(0, 255)},
    {{"auth", "jwt_audience", "", "0..255 chars",
      "required JWT aud claim (or one of its entries); empty = not checked"},
     KEY_STRING,
     FIELD(config, auth_jwt_audience),
     NUMBER(0, 255)},
    {{"auth", "recv_window_ms", "5000", "1..600000",
      "API-key login: ts must be within this many ms of server time, either way"},
     KEY_UINT,
     FIELD(config, auth_recv_window_ms),
     NUMBER(1, 600000)},
};

static const key_desc asset_keys[] = {
    {{"asset.*", "decimals", NULL, "0..18",
      "balances are counted in units of 10^-decimals of the asset"},
     KEY_UINT,
     FIELD(config_asset, decimals),
     NUMBER(0, DECIMAL_MAX_SCALE)},
};

static const key_desc market_keys[] = {
    {{"market.*", "base", NULL, "a defined asset", "asset bought and sold"},
     KEY_ASSET,
     FIELD(config_market, base),
     NUMBER(0, 0)},
    {{"market.*", "quote", NULL, "a defined asset other than base", "asset prices are in"},
     KEY_ASSET,
     FIELD(config_market, quote),
     NUMBER(0, 0)},
    {{"market.*", "tick", NULL, "decimal > 0, up to 18 decimals",
      "price step; its written decimals are the market's price scale"},
     KEY_STEP,
     FIELD(config_market, tick),
     .scale_offset = offsetof(config_market, price_scale)},
    {{"market.*", "lot", NULL, "decimal > 0, up to 18 decimals",
      "quantity step; a multiple of the base unit; its written decimals are the quantity scale"},
     KEY_STEP,
     FIELD(config_market, lot),
     .scale_offset = offsetof(config_market, qty_scale)},
    {{"market.*", "min_notional", "0", ">= 0, at the quote asset's decimals",
      "smallest order value (price x quantity) in the quote asset; 0 = none"},
     KEY_AMOUNT,
     FIELD(config_market, min_notional),
     .unit_key = "quote"},
    {{"market.*", "maker_fee", "0", "0.." KEY_STR(CONFIG_FEE_ONE),
      "fee on the maker's proceeds, in 1e-6 (1000 = 0.1 %); no rebates"},
     KEY_FEE,
     FIELD(config_market, maker_fee),
     NUMBER(0, CONFIG_FEE_ONE)},
    {{"market.*", "taker_fee", "0", "0.." KEY_STR(CONFIG_FEE_ONE),
      "fee on the taker's proceeds, in 1e-6 (2000 = 0.2 %)"},
     KEY_FEE,
     FIELD(config_market, taker_fee),
     NUMBER(0, CONFIG_FEE_ONE)},
    {{"market.*", "price_band_pct", "0", "0..100",
      "limit prices must lie within +-pct of the last trade; 0 = no band"},
     KEY_UINT,
     FIELD(config_market, price_band_pct),
     NUMBER(0, 100)},
    {{"market.*", "engine", "0", "0..engine.threads-1", "engine thread that owns this book"},
     KEY_UINT,
     FIELD(config_market, engine),
     NUMBER(0, CONFIG_MAX_ENGINES - 1)},
};

#define GLOBAL_KEY_COUNT ARRAY_LEN(global_keys)
#define ASSET_KEY_COUNT  ARRAY_LEN(asset_keys)
#define MARKET_KEY_COUNT ARRAY_LEN(market_keys)

size_t config_key_count(void) {
  return GLOBAL_KEY_COUNT + ASSET_KEY_COUNT + MARKET_KEY_COUNT;
}

const config_key *config_key_at(size_t index) {
  if (index < GLOBAL_KEY_COUNT) return &global_keys[index].pub;
  index -= GLOBAL_KEY_COUNT;
  if (index < ASSET_KEY_COUNT) return &asset_keys[index].pub;
  index -= ASSET_KEY_COUNT;
  if (index < MARKET_KEY_COUNT) return &market_keys[index].pub;
  return NULL;
}

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

const char *config_log_level_name(config_log_level level) {
  return (unsigned)level < ARRAY_LEN(log_level_names) ? log_level_names[level] : "?";
}

/* ------------------------------------------------------------------------ */
/* Value checks                                                             */

/* The listener binds a numeric address; host names would need a resolver at start. */
static const char *check_bind(const char *value) {
  unsigned char addr[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, value, addr) == 1 || inet_pton(AF_INET6, value, addr) == 1) return NULL;
  return "not an IPv4 or IPv6 address";
}

/* "role:cpu[,role:cpu...]": syntax only; the thread start-up applies it. */
static const char *check_cpu_pin(const char *value) {
  if (thread_cpu_for(value, "") == -2)
    return "expected name:cpu[,name:cpu...]: a role (io, engine, broadcast, log), a thread name "
           "(engine-0) or a prefix ending in '*', and a cpu number";
  return NULL;
}

static const char *check_ip_list(const char *value) {
  ipnet_prefix prefixes[CONFIG_MAX_EXEMPT_IPS];
  if (ipnet_parse_list(value, prefixes, CONFIG_MAX_EXEMPT_IPS) < 0)
    return "expected up to 32 comma-separated IP addresses or CIDR prefixes (host bits zero)";
  return NULL;
}

static const char *check_power_of_two(const char *value) {
  unsigned long long n = strtoull(value, NULL, 10);
  return (n & (n - 1)) == 0 ? NULL : "must be a power of two";
}

/*
 * A whole number: digits only, no sign, no spaces, checked for overflow.
 * Not strtoull: it skips spaces, accepts '+' and wraps "-1" to UINT64_MAX.
 */
static bool parse_u64(const char *text, uint64_t *out) {
  uint64_t v = 0;
  if (*text == '\0') return false;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
      return false;
  }
  *out = v;
  return true;
}

/* Number of digits after the '.', or 0 without one. */
static unsigned written_decimals(const char *text) {
  const char *point = strchr(text, '.');
  size_t n = point ? strlen(point + 1) : 0;
  return n > 99 ? 99 : (unsigned)n;
}

/* ------------------------------------------------------------------------ */
/* Parsing one value by its type                                            */

/* Copies a value of exactly the field's size into base + k->offset. */
static int store_field(void *base, const key_desc *k, const void *value, size_t size, char *why,
                       size_t why_len) {
  if (size != k->size) { /* a key table bug: caught by the first test that loads */
    snprintf(why, why_len, "internal error: key table field size %zu, expected %zu", k->size, size);
    return -1;
  }
  memcpy((char *)base + k->offset, value, size);
  return 0;
}

static const key_desc *find_key(const key_desc *keys, size_t n, const char *section,
                                const char *name) {
  for (size_t i = 0; i < n; i++)
    if ((!section || strcmp(keys[i].pub.section, section) == 0) &&
        strcmp(keys[i].pub.name, name) == 0)
      return &keys[i];
  return NULL;
}

/*
 * Strings must survive a round trip through the INI file: libinih strips
 * surrounding spaces and treats " ;" as the start of a comment, and a control
 * character would end or corrupt the line.
 */
static int parse_string(const key_desc *k, void *base, const char *text, char *why,
                        size_t why_len) {
  size_t len = strlen(text);
  if (len < k->min || len > k->max) {
    snprintf(why, why_len, "length %zu is outside %" PRIu64 "..%" PRIu64 " chars", len, k->min,
             k->max);
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c < 0x20 || c == 0x7f) {
      snprintf(why, why_len, "control character in value");
      return -1;
    }
    if (c == ';' && (i == 0 || isspace((unsigned char)text[i - 1]))) {
      snprintf(why, why_len, "';' first or after a space would start a comment in the file");
      return -1;
    }
  }
  if (len > 0 && (isspace((unsigned char)text[0]) || isspace((unsigned char)text[len - 1]))) {
    snprintf(why, why_len, "leading or trailing space");
    return -1;
  }
  const char *bad = k->check ? k->check(text) : NULL;
  if (bad) {
    snprintf(why, why_len, "%s", bad);
    return -1;
  }
  char *field = (char *)base + k->offset;
  memset(field, 0, k->size);
  memcpy(field, text, len);
  return 0;
}

static int parse_number(const key_desc *k, void *base, const char *text, char *why,
                        size_t why_len) {
  uint64_t v;
  if (!parse_u64(text, &v) || v < k->min || v > k->max) {
    snprintf(why, why_len, "expected a whole number in %" PRIu64 "..%" PRIu64, k->min, k->max);
    return -1;
  }
  if (k->type == KEY_U64) return store_field(base, k, &v, sizeof v, why, why_len);
  if (k->type == KEY_FEE) {
    int32_t fee = (int32_t)v; /* max is CONFIG_FEE_ONE */
    return store_field(base, k, &fee, sizeof fee, why, why_len);
  }
  unsigned u = (unsigned)v; /* every KEY_UINT max fits */
  return store_field(base, k, &u, sizeof u, why, why_len);
}

static int parse_log_level(const key_desc *k, void *base, const char *text, char *why,
                           size_t why_len) {
  for (size_t i = 0; i < ARRAY_LEN(log_level_names); i++) {
    if (strcasecmp(text, log_level_names[i]) == 0) {
      config_log_level level = (config_log_level)i;
      return store_field(base, k, &level, sizeof level, why, why_len);
    }
  }
  snprintf(why, why_len, "expected debug, info, warn or error");
  return -1;
}

static int parse_asset(const config *cfg, const key_desc *k, void *base, const char *text,
                       char *why, size_t why_len) {
  if (k->type == KEY_ASSET_OR_NONE && *text == '\0') {
    int none = -1;
    return store_field(base, k, &none, sizeof none, why, why_len);
  }
  int index = config_find_asset(cfg, text, strlen(text));
  if (index < 0) {
    snprintf(why, why_len, "asset \"%s\" is not defined (no [asset.%s] section)", text, text);
    return -1;
  }
  if (k->type == KEY_ASSET_OR_NONE) return store_field(base, k, &index, sizeof index, why, why_len);
  unsigned u = (unsigned)index;
  return store_field(base, k, &u, sizeof u, why, why_len);
}

static int parse_step(const key_desc *k, void *base, const char *text, char *why, size_t why_len) {
  unsigned scale = written_decimals(text);
  if (scale > DECIMAL_MAX_SCALE) {
    snprintf(why, why_len, "more than %d decimal places", DECIMAL_MAX_SCALE);
    return -1;
  }
  int64_t step = 0;
  decimal_status st = decimal_parse(text, strlen(text), scale, 0, &step);
  if (st != DECIMAL_OK || step <= 0) {
    snprintf(why, why_len, "%s", st != DECIMAL_OK ? decimal_status_text(st) : "must be above 0");
    return -1;
  }
  memcpy((char *)base + k->scale_offset, &scale, sizeof scale);
  return store_field(base, k, &step, sizeof step, why, why_len);
}

/* The asset index held by the sibling key `unit_key` (already parsed), or -1. */
static int sibling_asset(const key_desc *keys, size_t n, const key_desc *k, const void *base) {
  const key_desc *unit = find_key(keys, n, k->pub.section, k->unit_key);
  if (!unit) return -1;
  if (unit->type == KEY_ASSET) {
    unsigned u;
    memcpy(&u, (const char *)base + unit->offset, sizeof u);
    return (int)u;
  }
  int i;
  memcpy(&i, (const char *)base + unit->offset, sizeof i);
  return i;
}

static int parse_amount(const config *cfg, const key_desc *keys, size_t n, const key_desc *k,
                        void *base, const char *text, char *why, size_t why_len) {
  int asset = sibling_asset(keys, n, k, base);
  /* Without an asset only zero makes sense; scale 18 accepts any way of writing it. */
  unsigned scale = asset >= 0 ? cfg->assets[asset].decimals : DECIMAL_MAX_SCALE;
  int64_t amount = 0;
  decimal_status st = decimal_parse(text, strlen(text), scale, 0, &amount);
  bool well_formed = st == DECIMAL_OK || st == DECIMAL_TOO_PRECISE || st == DECIMAL_OVERFLOW;
  if (asset < 0 && well_formed && (st != DECIMAL_OK || amount != 0)) {
    snprintf(why, why_len, "needs %s to be set", k->unit_key);
    return -1;
  }
  if (st == DECIMAL_TOO_PRECISE) {
    snprintf(why, why_len, "more decimal places than %s has (%u)", cfg->assets[asset].name, scale);
    return -1;
  }
  if (st != DECIMAL_OK) {
    snprintf(why, why_len, "%s", decimal_status_text(st));
    return -1;
  }
  if (asset < 0) amount = 0;
  return store_field(base, k, &amount, sizeof amount, why, why_len);
}

/* Parses `text` as key k into base (cfg, an asset or a market); why gets the reason. */
static int parse_value(const config *cfg, const key_desc *keys, size_t n, const key_desc *k,
                       void *base, const char *text, char *why, size_t why_len) {
  switch (k->type) {
  case KEY_STRING:
    return parse_string(k, base, text, why, why_len);
  case KEY_UINT:
  case KEY_U64:
  case KEY_FEE:
    return parse_number(k, base, text, why, why_len);
  case KEY_LOG_LEVEL:
    return parse_log_level(k, base, text, why, why_len);
  case KEY_ASSET:
  case KEY_ASSET_OR_NONE:
    return parse_asset(cfg, k, base, text, why, why_len);
  case KEY_STEP:
    return parse_step(k, base, text, why, why_len);
  case KEY_AMOUNT:
    return parse_amount(cfg, keys, n, k, base, text, why, why_len);
  }
  snprintf(why, why_len, "internal error: unknown key type");
  return -1;
}

void config_defaults(config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  char why[160];
  for (size_t i = 0; i < GLOBAL_KEY_COUNT; i++) {
    /* The defaults are constants in the table above; the unit test loads them. */
    (void)parse_value(cfg, global_keys, GLOBAL_KEY_COUNT, &global_keys[i], cfg,
                      global_keys[i].pub.default_value, why, sizeof why);
  }
}

/* ------------------------------------------------------------------------ */
/* Lookup                                                                   */

static int find_name(const char *names, size_t stride, unsigned count, const char *name,
                     size_t len) {
  for (unsigned i = 0; i < count; i++) {
    const char *candidate = names + (size_t)i * stride;
    if (strlen(candidate) == len && strncasecmp(candidate, name, len) == 0) return (int)i;
  }
  return -1;
}

int config_find_asset(const config *cfg, const char *name, size_t len) {
  return find_name(cfg->assets[0].name, sizeof cfg->assets[0], cfg->asset_count, name, len);
}

int config_find_market(const config *cfg, const char *name, size_t len) {
  return find_name(cfg->markets[0].name, sizeof cfg->markets[0], cfg->market_count, name, len);
}

/* ------------------------------------------------------------------------ */
/* Load state and error reporting                                           */

#define SOURCE_DEFAULT 0    /* the key's default: reported at the section header */
#define SOURCE_ENV     (-1) /* an environment variable; > 0 is a line of the file */

typedef struct slot {
  char *text; /* owned; NULL = not set */
  int source;
} slot;

typedef enum section_kind { SECTION_FIXED, SECTION_ASSET, SECTION_MARKET } section_kind;

typedef struct section_ref {
  section_kind kind;
  unsigned index; /* SECTION_FIXED: index of its first key in global_keys */
} section_ref;

typedef struct load_ctx {
  config *cfg;
  const char *path;
  FILE *file;
  int line;      /* line of the text last handed to libinih */
  bool key_seen; /* a key since the last header: libinih's continuation rule */
  bool in_section;
  section_ref current;
  char current_raw[64]; /* the header as written, to match libinih's section argument */
  bool failed;
  char *err;
  size_t errlen;
  int global_header_line[GLOBAL_KEY_COUNT]; /* by the section's first key */
  int asset_header_line[CONFIG_MAX_ASSETS];
  int market_header_line[CONFIG_MAX_MARKETS];
  slot global_slots[GLOBAL_KEY_COUNT];
  slot asset_slots[CONFIG_MAX_ASSETS][ASSET_KEY_COUNT];
  slot market_slots[CONFIG_MAX_MARKETS][MARKET_KEY_COUNT];
} load_ctx;

/* "net", "asset.BTC", "market.BTCUSDT" */
static void section_display(const config *cfg, const section_ref *sec, char *buf, size_t len) {
  if (sec->kind == SECTION_FIXED)
    snprintf(buf, len, "%s", global_keys[sec->index].pub.section);
  else if (sec->kind == SECTION_ASSET)
    snprintf(buf, len, "asset.%s", cfg->assets[sec->index].name);
  else
    snprintf(buf, len, "market.%s", cfg->markets[sec->index].name);
}

/* BOURSE_<SECTION>_<KEY>, upper case, '.' -> '_'. */
static void env_name(const config *cfg, const section_ref *sec, const char *key, char *buf,
                     size_t len) {
  char display[64];
  section_display(cfg, sec, display, sizeof display);
  snprintf(buf, len, "BOURSE_%s_%s", display, key);
  for (char *p = buf; *p; p++) *p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
}

static int header_line(const load_ctx *ctx, const section_ref *sec) {
  if (sec->kind == SECTION_FIXED) return ctx->global_header_line[sec->index];
  if (sec->kind == SECTION_ASSET) return ctx->asset_header_line[sec->index];
  return ctx->market_header_line[sec->index];
}

/* Records the first error, a whole line as given. Returns -1. */
__attribute__((format(printf, 2, 3))) static int load_fail_text(load_ctx *ctx, const char *fmt,
                                                                ...) {
  if (ctx->failed) return -1;
  ctx->failed = true;
  if (!ctx->err || ctx->errlen == 0) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->err, ctx->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/*
 * Records the first error as one line: "FILE:LINE: [section] key: reason",
 * or "environment BOURSE_X_Y: reason". sec and key may be NULL; source is a
 * line, SOURCE_ENV, or SOURCE_DEFAULT (reported at the section header).
 * Returns -1.
 */
__attribute__((format(printf, 5, 6))) static int load_fail(load_ctx *ctx, const section_ref *sec,
                                                           const char *key, int source,
                                                           const char *fmt, ...) {
  char where[256], reason[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  if (source == SOURCE_ENV && sec && key) {
    char name[160];
    env_name(ctx->cfg, sec, key, name, sizeof name);
    return load_fail_text(ctx, "environment %s: %s", name, reason);
  }
  int line = source > 0 ? source : sec ? header_line(ctx, sec) : 0;
  char display[64] = "";
  if (sec) section_display(ctx->cfg, sec, display, sizeof display);
  if (sec && key)
    snprintf(where, sizeof where, "[%s] %s: ", display, key);
  else if (sec)
    snprintf(where, sizeof where, "[%s]: ", display);
  else if (key)
    snprintf(where, sizeof where, "%s: ", key);
  else
    where[0] = '\0';
  if (ctx->path && line > 0)
    return load_fail_text(ctx, "%s:%d: %s%s", ctx->path, line, where, reason);
  return load_fail_text(ctx, "default: %s%s", where, reason);
}

/* The key table and slots of a section. */
static void section_keys(load_ctx *ctx, const section_ref *sec, const key_desc **keys,
                         size_t *count, slot **slots, void **base) {
  if (sec->kind == SECTION_ASSET) {
    *keys = asset_keys;
    *count = ASSET_KEY_COUNT;
    *slots = ctx->asset_slots[sec->index];
    *base = &ctx->cfg->assets[sec->index];
  } else if (sec->kind == SECTION_MARKET) {
    *keys = market_keys;
    *count = MARKET_KEY_COUNT;
    *slots = ctx->market_slots[sec->index];
    *base = &ctx->cfg->markets[sec->index];
  } else {
    *keys = global_keys;
    *count = GLOBAL_KEY_COUNT;
    *slots = ctx->global_slots;
    *base = ctx->cfg;
  }
}

static void free_slots(slot *slots, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(slots[i].text);
    slots[i].text = NULL;
  }
}

static int set_slot(load_ctx *ctx, const section_ref *sec, const char *key, slot *s,
                    const char *text, int source) {
  char *copy = strdup(text);
  if (!copy) return load_fail(ctx, sec, key, source, "out of memory");
  free(s->text);
  s->text = copy;
  s->source = source;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Step 1: collect the file                                                 */

/* Upper-cases name[0..len) into out (cap bytes incl. NUL) if it is [A-Za-z0-9]{1,cap-1}. */
static bool normalize_name(const char *name, size_t len, char *out, size_t cap) {
  if (len == 0 || len >= cap) return false;
  for (size_t i = 0; i < len; i++) {
    if (!isalnum((unsigned char)name[i])) return false;
    out[i] = (char)toupper((unsigned char)name[i]);
  }
  out[len] = '\0';
  return true;
}

static int begin_fixed_section(load_ctx *ctx, const char *name, size_t len) {
  for (unsigned i = 0; i < GLOBAL_KEY_COUNT; i++) {
    const char *s = global_keys[i].pub.section;
    if (strlen(s) != len || strncmp(s, name, len) != 0) continue;
    while (i > 0 && strcmp(global_keys[i - 1].pub.section, s) == 0) i--;
    section_ref sec = {SECTION_FIXED, i};
    if (ctx->global_header_line[i] > 0)
      return load_fail(ctx, &sec, NULL, ctx->line, "duplicate section (first on line %d)",
                       ctx->global_header_line[i]);
    ctx->global_header_line[i] = ctx->line;
    ctx->current = sec;
    return 0;
  }
  return load_fail(ctx, NULL, NULL, ctx->line,
                   "[%.*s]: unknown section (expected server, log, net, engine, cpu, fees, "
                   "asset.NAME or market.NAME)",
                   (int)len, name);
}

/* [asset.NAME] or [market.NAME]: a new entry, named in upper case. */
static int begin_named_section(load_ctx *ctx, section_kind kind, const char *name, size_t len) {
  config *cfg = ctx->cfg;
  bool asset = kind == SECTION_ASSET;
  const char *what = asset ? "asset" : "market";
  size_t cap = asset ? CONFIG_ASSET_NAME_MAX : CONFIG_MARKET_NAME_MAX;
  char upper[CONFIG_MARKET_NAME_MAX];
  if (!normalize_name(name, len, upper, cap))
    return load_fail(ctx, NULL, NULL, ctx->line,
                     "[%s.%.*s]: %s name must be 1..%zu letters or digits", what, (int)len, name,
                     what, cap - 1);
  int existing = asset ? config_find_asset(cfg, upper, len) : config_find_market(cfg, upper, len);
  if (existing >= 0) {
    int first = asset ? ctx->asset_header_line[existing] : ctx->market_header_line[existing];
    return load_fail(ctx, NULL, NULL, ctx->line, "[%s.%s]: duplicate section (first on line %d)",
                     what, upper, first);
  }
  unsigned *count = asset ? &cfg->asset_count : &cfg->market_count;
  unsigned max = asset ? CONFIG_MAX_ASSETS : CONFIG_MAX_MARKETS;
  if (*count >= max)
    return load_fail(ctx, NULL, NULL, ctx->line, "[%s.%s]: too many %ss (at most %u)", what, upper,
                     what, max);
  unsigned index = (*count)++;
  memcpy(asset ? cfg->assets[index].name : cfg->markets[index].name, upper, len + 1);
  (asset ? ctx->asset_header_line : ctx->market_header_line)[index] = ctx->line;
  ctx->current = (section_ref){kind, index};
  return 0;
}

static int begin_section(load_ctx *ctx, const char *name, size_t len) {
  if (len >= sizeof ctx->current_raw)
    return load_fail(ctx, NULL, NULL, ctx->line, "section name longer than %zu characters",
                     sizeof ctx->current_raw - 1);
  memcpy(ctx->current_raw, name, len);
  ctx->current_raw[len] = '\0';
  ctx->in_section = true;
  ctx->key_seen = false;
  if (len > 6 && strncmp(name, "asset.", 6) == 0)
    return begin_named_section(ctx, SECTION_ASSET, name + 6, len - 6);
  if (len > 7 && strncmp(name, "market.", 7) == 0)
    return begin_named_section(ctx, SECTION_MARKET, name + 7, len - 7);
  return begin_fixed_section(ctx, name, len);
}

/*
 * Where libinih's find_chars_or_comment stops: at one of `chars`, at a ';'
 * after whitespace (an inline comment), or at the end of the string.
 */
static const char *find_chars_or_comment(const char *s, const char *chars) {
  bool was_space = false;
  while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
    was_space = isspace((unsigned char)*s);
    s++;
  }
  return s;
}

/* Looks at a line before libinih does; returns -1 (and records why) to stop. */
static int inspect_line(load_ctx *ctx, const char *line) {
  const char *p = line;
  if (ctx->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
  const char *start = p;
  while (isspace((unsigned char)*start)) start++;
  if (*start == '\0' || *start == ';' || *start == '#') return 0;
  if (start > p && ctx->key_seen)
    return load_fail(ctx, NULL, NULL, ctx->line,
                     "indented line: libinih would append it to the previous value; multi-line "
                     "values are not supported, start the line in column 1");
  if (*start == '[') {
    const char *end = find_chars_or_comment(start + 1, "]");
    if (*end != ']') return load_fail(ctx, NULL, NULL, ctx->line, "section header without ']'");
    const char *rest = end + 1;
    while (isspace((unsigned char)*rest)) rest++;
    if (*rest != '\0' && *rest != ';' && *rest != '#')
      return load_fail(ctx, NULL, NULL, ctx->line, "text after the section header's ']'");
    return begin_section(ctx, start + 1, (size_t)(end - start - 1));
  }
  const char *end = find_chars_or_comment(start, "=:");
  if (*end != '=' && *end != ':')
    return load_fail(ctx, NULL, NULL, ctx->line, "expected key = value, [section] or a comment");
  ctx->key_seen = true;
  return 0;
}

/* libinih's fgets: counts lines and inspects each one (see the file header). */
static char *config_reader(char *str, int num, void *stream) {
  load_ctx *ctx = stream;
  if (ctx->failed || !fgets(str, num, ctx->file)) return NULL;
  ctx->line++;
  size_t len = strlen(str);
  if (len > 0 && str[len - 1] != '\n') {
    int next = getc(ctx->file); /* a full buffer that is not the last line: too long */
    if (next != EOF) {
      load_fail(ctx, NULL, NULL, ctx->line, "line longer than %d characters", num - 2);
      return NULL;
    }
  }
  return inspect_line(ctx, str) == 0 ? str : NULL;
}

static int config_handler(void *user, const char *section, const char *name, const char *value) {
  load_ctx *ctx = user;
  if (ctx->failed) return 0;
  if (!ctx->in_section) {
    load_fail(ctx, NULL, name, ctx->line, "key before the first [section]");
    return 0;
  }
  if (strcmp(section, ctx->current_raw) != 0) {
    load_fail(ctx, &ctx->current, name, ctx->line, "internal error: libinih section \"%s\"",
              section);
    return 0;
  }
  const key_desc *keys;
  size_t count;
  slot *slots;
  void *base;
  section_keys(ctx, &ctx->current, &keys, &count, &slots, &base);
  const char *only =
      ctx->current.kind == SECTION_FIXED ? keys[ctx->current.index].pub.section : NULL;
  const key_desc *k = find_key(keys, count, only, name);
  if (!k) {
    load_fail(ctx, &ctx->current, name, ctx->line, "unknown key");
    return 0;
  }
  slot *s = &slots[k - keys];
  if (s->source > 0) {
    load_fail(ctx, &ctx->current, name, ctx->line, "duplicate key (first on line %d)", s->source);
    return 0;
  }
  return set_slot(ctx, &ctx->current, name, s, value, ctx->line) == 0;
}

static int collect_file(load_ctx *ctx) {
  ctx->file = fopen(ctx->path, "r");
  if (!ctx->file) return load_fail_text(ctx, "%s: cannot open: %s", ctx->path, strerror(errno));
  int rc = ini_parse_stream(config_reader, ctx, config_handler, ctx);
  bool read_error = ferror(ctx->file) != 0;
  fclose(ctx->file);
  ctx->file = NULL;
  if (ctx->failed) return -1;
  if (read_error) return load_fail(ctx, NULL, NULL, ctx->line, "read error");
  if (rc == -2) return load_fail(ctx, NULL, NULL, 0, "out of memory in libinih");
  if (rc != 0) return load_fail(ctx, NULL, NULL, rc, "syntax error");
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Step 1b: collect the environment                                         */

/* Whether `name` (a BOURSE_ variable) is one of the keys of sections we have. */
static bool env_known(load_ctx *ctx, const char *name) {
  char buf[160];
  for (unsigned i = 0; i < GLOBAL_KEY_COUNT; i++) {
    env_name(ctx->cfg, &(section_ref){SECTION_FIXED, i}, global_keys[i].pub.name, buf, sizeof buf);
    if (strcmp(buf, name) == 0) return true;
  }
  for (unsigned a = 0; a < ctx->cfg->asset_count; a++)
    for (size_t i = 0; i < ASSET_KEY_COUNT; i++) {
      env_name(ctx->cfg, &(section_ref){SECTION_ASSET, a}, asset_keys[i].pub.name, buf, sizeof buf);
      if (strcmp(buf, name) == 0) return true;
    }
  for (unsigned m = 0; m < ctx->cfg->market_count; m++)
    for (size_t i = 0; i < MARKET_KEY_COUNT; i++) {
      env_name(ctx->cfg, &(section_ref){SECTION_MARKET, m}, market_keys[i].pub.name, buf,
               sizeof buf);
      if (strcmp(buf, name) == 0) return true;
    }
  return false;
}

/* Whether `name` starts with BOURSE_<a section kind>_, so it is meant for us. */
static bool env_is_config_variable(const char *name) {
  char prefix[64];
  for (size_t i = 0; i < GLOBAL_KEY_COUNT; i++) {
    env_name(NULL, &(section_ref){SECTION_FIXED, (unsigned)i}, "", prefix, sizeof prefix);
    if (strncmp(name, prefix, strlen(prefix)) == 0) return true;
  }
  return strncmp(name, "BOURSE_ASSET_", 13) == 0 || strncmp(name, "BOURSE_MARKET_", 14) == 0;
}

/* A typo in a variable name must not be silently ignored. */
static int env_reject_unknown(load_ctx *ctx) {
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "BOURSE_", 7) != 0) continue;
    char name[160];
    size_t len = strcspn(*e, "=");
    snprintf(name, sizeof name, "%.*s", (int)len, *e);
    if (env_is_config_variable(name) && !env_known(ctx, name))
      return load_fail_text(ctx,
                            "environment %s: no such key (keys of [asset.X] and [market.X] can "
                            "only be overridden for sections the file defines; see "
                            "docs/CONFIG.md)",
                            name);
  }
  return 0;
}

static int env_collect_section(load_ctx *ctx, const section_ref *sec) {
  const key_desc *keys;
  size_t count;
  slot *slots;
  void *base;
  section_keys(ctx, sec, &keys, &count, &slots, &base);
  for (size_t i = 0; i < count; i++) {
    if (sec->kind == SECTION_FIXED && strcmp(keys[i].pub.section, keys[sec->index].pub.section))
      continue;
    char name[160];
    env_name(ctx->cfg, sec, keys[i].pub.name, name, sizeof name);
    const char *value = getenv(name);
    if (value && set_slot(ctx, sec, keys[i].pub.name, &slots[i], value, SOURCE_ENV) != 0) return -1;
  }
  return 0;
}

static int collect_env(load_ctx *ctx) {
  if (env_reject_unknown(ctx) != 0) return -1;
  for (unsigned i = 0; i < GLOBAL_KEY_COUNT; i++) {
    if (i > 0 && strcmp(global_keys[i].pub.section, global_keys[i - 1].pub.section) == 0) continue;
    if (env_collect_section(ctx, &(section_ref){SECTION_FIXED, i}) != 0) return -1;
  }
  for (unsigned a = 0; a < ctx->cfg->asset_count; a++)
    if (env_collect_section(ctx, &(section_ref){SECTION_ASSET, a}) != 0) return -1;
  for (unsigned m = 0; m < ctx->cfg->market_count; m++)
    if (env_collect_section(ctx, &(section_ref){SECTION_MARKET, m}) != 0) return -1;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Step 2: apply every slot                                                 */

/* The section a global key belongs to, as a section_ref (its first key). */
static section_ref global_section_of(size_t key_index) {
  while (key_index > 0 &&
         strcmp(global_keys[key_index - 1].pub.section, global_keys[key_index].pub.section) == 0)
    key_index--;
  return (section_ref){SECTION_FIXED, (unsigned)key_index};
}

static int apply_key(load_ctx *ctx, const section_ref *sec, size_t i) {
  const key_desc *keys;
  size_t count;
  slot *slots;
  void *base;
  section_keys(ctx, sec, &keys, &count, &slots, &base);
  const key_desc *k = &keys[i];
  const char *text = slots[i].text ? slots[i].text : k->pub.default_value;
  int source = slots[i].text ? slots[i].source : SOURCE_DEFAULT;
  if (!text) return load_fail(ctx, sec, k->pub.name, SOURCE_DEFAULT, "missing required key");
  char why[256];
  if (parse_value(ctx->cfg, keys, count, k, base, text, why, sizeof why) != 0)
    return load_fail(ctx, sec, k->pub.name, source, "%s", why);
  return 0;
}

static int apply_all(load_ctx *ctx) {
  /* Assets first: the other sections name them. */
  for (unsigned a = 0; a < ctx->cfg->asset_count; a++)
    for (size_t i = 0; i < ASSET_KEY_COUNT; i++)
      if (apply_key(ctx, &(section_ref){SECTION_ASSET, a}, i) != 0) return -1;
  for (size_t i = 0; i < GLOBAL_KEY_COUNT; i++) {
    section_ref sec = global_section_of(i);
    if (apply_key(ctx, &sec, i) != 0) return -1;
  }
  for (unsigned m = 0; m < ctx->cfg->market_count; m++)
    for (size_t i = 0; i < MARKET_KEY_COUNT; i++)
      if (apply_key(ctx, &(section_ref){SECTION_MARKET, m}, i) != 0) return -1;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Step 3: rules that span keys                                             */

static int key_source(load_ctx *ctx, const section_ref *sec, const char *key) {
  const key_desc *keys;
  size_t count;
  slot *slots;
  void *base;
  section_keys(ctx, sec, &keys, &count, &slots, &base);
  const char *only = sec->kind == SECTION_FIXED ? keys[sec->index].pub.section : NULL;
  const key_desc *k = find_key(keys, count, only, key);
  return k && slots[k - keys].text ? slots[k - keys].source : SOURCE_DEFAULT;
}

static int fail_at_key(load_ctx *ctx, const section_ref *sec, const char *key, const char *why) {
  return load_fail(ctx, sec, key, key_source(ctx, sec, key), "%s", why);
}

/*
 * value at `scale` decimals expressed in units of 10^-decimals: exact or
 * an error. Sets *units; returns 0, or -1 when the value is not a whole
 * number of units, -2 on overflow.
 */
static int rescale_exact(int64_t value, unsigned scale, unsigned decimals, int64_t *units) {
  if (scale <= decimals)
    return __builtin_mul_overflow(value, decimal_pow10(decimals - scale), units) ? -2 : 0;
  unsigned shift = scale - decimals;
  if (shift > DECIMAL_MAX_SCALE) return -1; /* value < 10^19 <= 10^shift and value >= 1 */
  int64_t div = decimal_pow10(shift);
  if (value % div != 0) return -1;
  *units = value / div;
  return 0;
}

static int check_market(load_ctx *ctx, unsigned index) {
  config *cfg = ctx->cfg;
  config_market *m = &cfg->markets[index];
  section_ref sec = {SECTION_MARKET, index};
  char why[384];
  if (m->base == m->quote) return fail_at_key(ctx, &sec, "quote", "same asset as base");
  if (m->engine >= cfg->engine_threads) {
    snprintf(why, sizeof why, "must be below engine.threads (%u)", cfg->engine_threads);
    return fail_at_key(ctx, &sec, "engine", why);
  }
  const config_asset *base = &cfg->assets[m->base], *quote = &cfg->assets[m->quote];
  char lot[DECIMAL_MAX_CHARS], tick[DECIMAL_MAX_CHARS], unit[DECIMAL_MAX_CHARS];
  decimal_format(m->lot, m->qty_scale, lot);
  decimal_format(m->tick, m->price_scale, tick);
  int rc = rescale_exact(m->lot, m->qty_scale, base->decimals, &m->lot_units);
  if (rc != 0) {
    decimal_format(1, base->decimals, unit);
    if (rc == -1)
      snprintf(why, sizeof why, "lot %s is not a multiple of the %s unit %s (%u decimals)", lot,
               base->name, unit, base->decimals);
    else
      snprintf(why, sizeof why, "lot %s in %s units (%u decimals) overflows", lot, base->name,
               base->decimals);
    return fail_at_key(ctx, &sec, "lot", why);
  }
  int64_t product;
  if (__builtin_mul_overflow(m->tick, m->lot, &product))
    rc = -2;
  else
    rc = rescale_exact(product, m->price_scale + m->qty_scale, quote->decimals, &m->notional_unit);
  if (rc == -1) {
    decimal_format(1, quote->decimals, unit);
    snprintf(why, sizeof why,
             "tick x lot (%s x %s) is not a multiple of the %s unit %s (%u decimals): use a "
             "coarser tick or lot, or more decimals for %s",
             tick, lot, quote->name, unit, quote->decimals, quote->name);
    return fail_at_key(ctx, &sec, "tick", why);
  }
  if (rc != 0) {
    snprintf(why, sizeof why, "tick x lot (%s x %s) in %s units (%u decimals) overflows", tick, lot,
             quote->name, quote->decimals);
    return fail_at_key(ctx, &sec, "tick", why);
  }
  return 0;
}

static int check_all(load_ctx *ctx) {
  config *cfg = ctx->cfg;
  if (cfg->fees_discount_pct > 0 && cfg->fees_discount_asset < 0) {
    section_ref fees = global_section_of(
        (size_t)(find_key(global_keys, GLOBAL_KEY_COUNT, "fees", "discount_pct") - global_keys));
    return fail_at_key(ctx, &fees, "discount_pct", "needs discount_asset to be set");
  }
  for (unsigned m = 0; m < cfg->market_count; m++)
    if (check_market(ctx, m) != 0) return -1;
  return 0;
}

int config_load(config *cfg, const char *path, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  config_defaults(cfg);
  load_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    if (err && errlen) snprintf(err, errlen, "config: out of memory");
    return -1;
  }
  ctx->cfg = cfg;
  ctx->path = path;
  ctx->err = err;
  ctx->errlen = errlen;
  int rc = 0;
  if (path) rc = collect_file(ctx);
  if (rc == 0) rc = collect_env(ctx);
  if (rc == 0) rc = apply_all(ctx);
  if (rc == 0) rc = check_all(ctx);
  free_slots(ctx->global_slots, GLOBAL_KEY_COUNT);
  for (size_t a = 0; a < CONFIG_MAX_ASSETS; a++) free_slots(ctx->asset_slots[a], ASSET_KEY_COUNT);
  for (size_t m = 0; m < CONFIG_MAX_MARKETS; m++)
    free_slots(ctx->market_slots[m], MARKET_KEY_COUNT);
  free(ctx);
  return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                 */

static void format_value(const config *cfg, const key_desc *keys, size_t n, const key_desc *k,
                         const void *base, char *buf, size_t len) {
  const char *field = (const char *)base + k->offset;
  unsigned u;
  uint64_t u64;
  int32_t fee;
  int64_t i64;
  int index;
  switch (k->type) {
  case KEY_STRING:
    snprintf(buf, len, "%s", field);
    return;
  case KEY_UINT:
    memcpy(&u, field, sizeof u);
    snprintf(buf, len, "%u", u);
    return;
  case KEY_U64:
    memcpy(&u64, field, sizeof u64);
    snprintf(buf, len, "%" PRIu64, u64);
    return;
  case KEY_FEE:
    memcpy(&fee, field, sizeof fee);
    snprintf(buf, len, "%" PRId32, fee);
    return;
  case KEY_LOG_LEVEL: {
    config_log_level level;
    memcpy(&level, field, sizeof level);
    snprintf(buf, len, "%s", config_log_level_name(level));
    return;
  }
  case KEY_ASSET:
  case KEY_ASSET_OR_NONE:
    if (k->type == KEY_ASSET) {
      memcpy(&u, field, sizeof u);
      index = (int)u;
    } else {
      memcpy(&index, field, sizeof index);
    }
    snprintf(buf, len, "%s", index >= 0 ? cfg->assets[index].name : "");
    return;
  case KEY_STEP:
    memcpy(&i64, field, sizeof i64);
    memcpy(&u, (const char *)base + k->scale_offset, sizeof u);
    decimal_format_fixed(i64, u, u, buf); /* keeps the written decimals: the scale */
    return;
  case KEY_AMOUNT:
    memcpy(&i64, field, sizeof i64);
    index = sibling_asset(keys, n, k, base);
    decimal_format(i64, index >= 0 ? cfg->assets[index].decimals : 0, buf);
    return;
  }
  snprintf(buf, len, "?");
}

/* Prints keys as "key = value"; with_headers adds a [section] line where it changes. */
static void print_keys(const config *cfg, const key_desc *keys, size_t n, const void *base,
                       bool with_headers, bool redact, FILE *out) {
  char value[CONFIG_PATH_MAX + DECIMAL_MAX_CHARS];
  for (size_t i = 0; i < n; i++) {
    if (with_headers && (i == 0 || strcmp(keys[i].pub.section, keys[i - 1].pub.section) != 0))
      fprintf(out, "%s[%s]\n", i == 0 ? "" : "\n", keys[i].pub.section);
    format_value(cfg, keys, n, &keys[i], base, value, sizeof value);
    if (redact && keys[i].secret && value[0]) {
      fprintf(out, "%s = # set (%zu characters), not shown\n", keys[i].pub.name, strlen(value));
      continue;
    }
    fprintf(out, "%s =%s%s\n", keys[i].pub.name, value[0] ? " " : "", value);
  }
}

static void print_config(const config *cfg, bool redact, FILE *out) {
  fprintf(out, "# bourse effective configuration\n");
  print_keys(cfg, global_keys, GLOBAL_KEY_COUNT, cfg, true, redact, out);
  for (unsigned a = 0; a < cfg->asset_count; a++) {
    fprintf(out, "\n[asset.%s]\n", cfg->assets[a].name);
    print_keys(cfg, asset_keys, ASSET_KEY_COUNT, &cfg->assets[a], false, redact, out);
  }
  for (unsigned m = 0; m < cfg->market_count; m++) {
    const config_market *market = &cfg->markets[m];
    fprintf(out, "\n[market.%s]\n", market->name);
    fprintf(out, "# derived: lot_units = %" PRId64 ", notional_unit = %" PRId64 "\n",
            market->lot_units, market->notional_unit);
    print_keys(cfg, market_keys, MARKET_KEY_COUNT, market, false, redact, out);
  }
}

void config_print(const config *cfg, FILE *out) {
  print_config(cfg, false, out);
}

void config_print_redacted(const config *cfg, FILE *out) {
  print_config(cfg, true, out);
}
