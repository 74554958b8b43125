/* test_config.c: configuration loading, validation and printing (src/core/config.c). */
#include "bourse/config.h"
#include "check.h"

#include <stdbool.h>
#include <unistd.h>

/* Line number (from 1) of the first line starting with `key` after the line `section`. */
static int line_of(const char *path, const char *section, const char *key) {
  FILE *f = fopen(path, "r");
  char line[512];
  int n = 0, found = 0, in_section = 0;
  while (f && !found && fgets(line, sizeof line, f)) {
    n++;
    if (line[0] == '[')
      in_section = strncmp(line, section, strlen(section)) == 0;
    else if (in_section && strncmp(line, key, strlen(key)) == 0)
      found = n;
  }
  if (f) fclose(f);
  return found;
}

static config cfg, cfg2; /* large: not on the stack */
static char err[1024];

/* Writes text to a new file under /tmp; path gets its name. The caller unlinks it. */
static void write_temp(const char *text, char *path, size_t len) {
  snprintf(path, len, "/tmp/bourse-test-config-XXXXXX");
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  size_t n = strlen(text);
  CHECK_EQ_INT(write(fd, text, n), n);
  close(fd);
}

/* Loads text as a config file; returns config_load's result, err holds the message. */
static int load_text(const char *text, char *path, size_t path_len) {
  write_temp(text, path, path_len);
  int rc = config_load(&cfg, path, err, sizeof err);
  unlink(path);
  return rc;
}

static const char *source_dir(void) {
  const char *dir = getenv("BOURSE_SOURCE_DIR");
  return dir ? dir : ".";
}

/* A developer's shell may export overrides; the expectations here assume none. */
static void clear_config_environment(void) {
  static const char *const prefixes[] = {"BOURSE_SERVER_", "BOURSE_LOG_",   "BOURSE_NET_",
                                         "BOURSE_ENGINE_", "BOURSE_CPU_",   "BOURSE_FEES_",
                                         "BOURSE_ASSET_",  "BOURSE_MARKET_"};
  extern char **environ;
  for (bool again = true; again;) {
    again = false;
    for (char **e = environ; *e && !again; e++) {
      for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (strncmp(*e, prefixes[i], strlen(prefixes[i])) == 0) {
          char name[256];
          snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
          unsetenv(name);
          again = true; /* environ changed: rescan */
          break;
        }
      }
    }
  }
}

static void test_defaults(void) {
  config_defaults(&cfg);
  CHECK_EQ_STR(cfg.server_name, "bourse");
  CHECK_EQ_STR(cfg.data_dir, "./data");
  CHECK_EQ_INT(cfg.log_level, CONFIG_LOG_INFO);
  CHECK_EQ_STR(cfg.log_file, "");
  CHECK_EQ_STR(cfg.net_bind, "0.0.0.0");
  CHECK_EQ_INT(cfg.net_port, 8080);
  CHECK_EQ_INT(cfg.net_io_threads, 1);
  CHECK_EQ_INT(cfg.engine_threads, 1);
  CHECK_EQ_INT(cfg.engine_spin_us, 0);
  CHECK_EQ_STR(cfg.cpu_pin, "");
  CHECK_EQ_INT(cfg.fees_account_uid, 1);
  CHECK_EQ_INT(cfg.fees_discount_asset, -1);
  CHECK_EQ_INT(cfg.fees_discount_min, 0);
  CHECK_EQ_INT(cfg.fees_discount_pct, 0);
  CHECK_EQ_INT(cfg.asset_count, 0);
  CHECK_EQ_INT(cfg.market_count, 0);
  /* No file, no environment: exactly the defaults. */
  CHECK_EQ_INT(config_load(&cfg2, NULL, err, sizeof err), 0);
  CHECK(memcmp(&cfg, &cfg2, sizeof cfg) == 0);
}

static void check_market(const char *name, unsigned base, unsigned quote, unsigned price_scale,
                         int64_t tick, unsigned qty_scale, int64_t lot, int64_t lot_units,
                         int64_t notional_unit, int64_t min_notional) {
  int i = config_find_market(&cfg, name, strlen(name));
  CHECK(i >= 0);
  if (i < 0) return;
  const config_market *m = &cfg.markets[i];
  CHECK_EQ_STR(m->name, name);
  CHECK_EQ_INT(m->base, base);
  CHECK_EQ_INT(m->quote, quote);
  CHECK_EQ_INT(m->price_scale, price_scale);
  CHECK_EQ_INT(m->tick, tick);
  CHECK_EQ_INT(m->qty_scale, qty_scale);
  CHECK_EQ_INT(m->lot, lot);
  CHECK_EQ_INT(m->lot_units, lot_units);
  CHECK_EQ_INT(m->notional_unit, notional_unit);
  CHECK_EQ_INT(m->min_notional, min_notional);
  CHECK_EQ_INT(m->maker_fee, 1000);
  CHECK_EQ_INT(m->taker_fee, 2000);
  CHECK_EQ_INT(m->price_band_pct, 0);
  CHECK_EQ_INT(m->engine, 0);
}

static void bundled_path(char *path, size_t len) {
  snprintf(path, len, "%s/conf/bourse.conf", source_dir());
}

static void test_bundled(void) {
  char path[512];
  bundled_path(path, sizeof path);
  int rc = config_load(&cfg, path, err, sizeof err);
  if (rc != 0) fprintf(stderr, "bundled config: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(cfg.asset_count, 3);
  CHECK_EQ_INT(cfg.market_count, 3);
  int btc = config_find_asset(&cfg, "btc", 3);
  int eth = config_find_asset(&cfg, "ETH", 3);
  int usdt = config_find_asset(&cfg, "Usdt", 4);
  CHECK(btc >= 0 && eth >= 0 && usdt >= 0);
  if (btc < 0 || eth < 0 || usdt < 0) return;
  CHECK_EQ_INT(cfg.assets[btc].decimals, 8);
  CHECK_EQ_INT(cfg.assets[eth].decimals, 8);
  CHECK_EQ_INT(cfg.assets[usdt].decimals, 8);
  CHECK_EQ_INT(config_find_asset(&cfg, "BT", 2), -1);
  CHECK_EQ_INT(config_find_asset(&cfg, "BTCX", 4), -1);
  CHECK_EQ_INT(config_find_asset(&cfg, "BTCUSDT", 3), btc); /* only len bytes count */
  CHECK_EQ_INT(config_find_market(&cfg, "BTC", 3), -1);
  CHECK_EQ_INT(config_find_market(&cfg, "btcusdt", 7), 0);
  /* 0.01 x 0.00001 = 1e-7 USDT = 10 units; 0.00001 BTC = 1000 satoshi; 5 USDT = 5e8 units. */
  check_market("BTCUSDT", (unsigned)btc, (unsigned)usdt, 2, 1, 5, 1, 1000, 10, 500000000);
  check_market("ETHUSDT", (unsigned)eth, (unsigned)usdt, 2, 1, 4, 1, 10000, 100, 500000000);
  /* 0.00001 x 0.001 = 1e-8 BTC = 1 satoshi; 0.0001 BTC = 10000 satoshi. */
  check_market("ETHBTC", (unsigned)eth, (unsigned)btc, 5, 1, 3, 1, 100000, 1, 10000);
}

/* The configuration every error case below starts from (lines 1..12). */
#define BASE_INI                                                                                   \
  "[asset.BTC]\n"       /* 1 */                                                                    \
  "decimals = 8\n"      /* 2 */                                                                    \
  "[asset.USDT]\n"      /* 3 */                                                                    \
  "decimals = 6\n"      /* 4 */                                                                    \
  "[market.BTCUSDT]\n"  /* 5 */                                                                    \
  "base = BTC\n"        /* 6 */                                                                    \
  "quote = USDT\n"      /* 7 */                                                                    \
  "tick = 0.01\n"       /* 8 */                                                                    \
  "lot = 0.0001\n"      /* 9 */                                                                    \
  "min_notional = 10\n" /* 10 */                                                                   \
  "maker_fee = 1000\n"  /* 11 */                                                                   \
  "taker_fee = 2000\n"  /* 12 */

typedef struct error_case {
  const char *ini;
  const char *expect; /* the message after "PATH:" */
} error_case;

static const error_case error_cases[] = {
    /* sections */
    {"[nett]\n", "1: [nett]: unknown section (expected server, log, net, engine, cpu, fees, "
                 "asset.NAME or market.NAME)"},
    {"[net]\nport = 1\n[NET]\n", "3: [NET]: unknown section (expected server, log, net, engine, "
                                 "cpu, fees, asset.NAME or market.NAME)"},
    {"[net]\nport = 1\n[engine]\n[net]\n", "4: [net]: duplicate section (first on line 1)"},
    {"[net]\n[net]\n", "2: [net]: duplicate section (first on line 1)"},
    {BASE_INI "[asset.btc]\n", "13: [asset.BTC]: duplicate section (first on line 1)"},
    {BASE_INI "[market.BtcUsdt]\n", "13: [market.BTCUSDT]: duplicate section (first on line 5)"},
    {"[asset.B-T]\n", "1: [asset.B-T]: asset name must be 1..15 letters or digits"},
    {"[asset.]\n", "1: [asset.]: unknown section (expected server, log, net, engine, cpu, fees, "
                   "asset.NAME or market.NAME)"},
    {"[asset.ABCDEFGHIJKLMNOP]\n",
     "1: [asset.ABCDEFGHIJKLMNOP]: asset name must be 1..15 letters or digits"},
    {"[market.ABCDEFGHIJKLMNOPQRSTUVWXYZ012345]\n",
     "1: [market.ABCDEFGHIJKLMNOPQRSTUVWXYZ012345]: market name must be 1..31 letters or digits"},
    /* lines */
    {"port = 1\n[net]\n", "1: port: key before the first [section]"},
    {"[net\n", "1: section header without ']'"},
    {"[net] port = 1\n", "1: text after the section header's ']'"},
    {"[net]\nport 8080\n", "2: expected key = value, [section] or a comment"},
    {"[net]\nport = 8080\n  bind = 127.0.0.1\n",
     "3: indented line: libinih would append it to the previous value; multi-line values are not "
     "supported, start the line in column 1"},
    /* keys */
    {"[net]\nprot = 1\n", "2: [net] prot: unknown key"},
    {"[net]\nPort = 1\n", "2: [net] Port: unknown key"},
    {"[net]\nthreads = 1\n", "2: [net] threads: unknown key"}, /* engine's key, not net's */
    {"[net]\nport = 1\n; comment\nport = 2\n", "4: [net] port: duplicate key (first on line 2)"},
    {BASE_INI "tick = 0.1\n", "13: [market.BTCUSDT] tick: duplicate key (first on line 8)"},
    /* values */
    {"[net]\nport = 0\n", "2: [net] port: expected a whole number in 1..65535"},
    {"[net]\nport = 65536\n", "2: [net] port: expected a whole number in 1..65535"},
    {"[net]\nport = -1\n", "2: [net] port: expected a whole number in 1..65535"},
    {"[net]\nport = +80\n", "2: [net] port: expected a whole number in 1..65535"},
    {"[net]\nport = 80.0\n", "2: [net] port: expected a whole number in 1..65535"},
    {"[net]\nport = 0x50\n", "2: [net] port: expected a whole number in 1..65535"},
    {"[net]\nport =\n", "2: [net] port: expected a whole number in 1..65535"},
    {"[net]\nport = 99999999999999999999999\n",
     "2: [net] port: expected a whole number in 1..65535"},
    {"[net]\nio_threads = 65\n", "2: [net] io_threads: expected a whole number in 1..64"},
    {"[net]\nbind = localhost\n", "2: [net] bind: not an IPv4 or IPv6 address"},
    {"[engine]\nthreads = 0\n", "2: [engine] threads: expected a whole number in 1..1"},
    {"[engine]\nthreads = 2\n", "2: [engine] threads: expected a whole number in 1..1"},
    {"[engine]\nspin_us = 1000001\n", "2: [engine] spin_us: expected a whole number in 0..1000000"},
    {"[log]\nlevel = verbose\n", "2: [log] level: expected debug, info, warn or error"},
    {"[server]\nname =\n", "2: [server] name: length 0 is outside 1..63 chars"},
    {"[server]\nname = 0123456789012345678901234567890123456789012345678901234567890123\n",
     "2: [server] name: length 64 is outside 1..63 chars"},
    {"[cpu]\npin = io:0,engine:1,\n", "2: [cpu] pin: expected name:cpu[,name:cpu...]: a role "
                                      "(io, engine, broadcast, log), a thread name (engine-0) "
                                      "or a prefix ending in '*', and a cpu number"},
    {"[cpu]\npin = io:x\n", "2: [cpu] pin: expected name:cpu[,name:cpu...]: a role (io, engine, "
                            "broadcast, log), a thread name (engine-0) or a prefix ending in "
                            "'*', and a cpu number"},
    {"[cpu]\npin = engine\n", "2: [cpu] pin: expected name:cpu[,name:cpu...]: a role (io, engine, "
                              "broadcast, log), a thread name (engine-0) or a prefix ending in "
                              "'*', and a cpu number"},
    {"[fees]\naccount_uid = 0\n",
     "2: [fees] account_uid: expected a whole number in 1..9223372036854775807"},
    {"[fees]\naccount_uid = 9223372036854775808\n",
     "2: [fees] account_uid: expected a whole number in 1..9223372036854775807"},
    {"[asset.X]\ndecimals = 19\n", "2: [asset.X] decimals: expected a whole number in 0..18"},
    {BASE_INI "price_band_pct = 101\n",
     "13: [market.BTCUSDT] price_band_pct: expected a whole number in 0..100"},
    {BASE_INI "engine = 64\n", "13: [market.BTCUSDT] engine: expected a whole number in 0..63"},
    /* fees in 1e-6, 0..1000000: no rebates */
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 1\nlot = 1\nmaker_fee = -100\n",
     "18: [market.X] maker_fee: expected a whole number in 0..1000000"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 1\nlot = 1\ntaker_fee = 1000001\n",
     "18: [market.X] taker_fee: expected a whole number in 0..1000000"},
    /* required keys: reported at the section header */
    {"[asset.BTC]\n", "1: [asset.BTC] decimals: missing required key"},
    {"[asset.BTC]\ndecimals = 8\n[asset.ETH]\ndecimals = 8\n[market.ETHBTC]\nbase = ETH\n"
     "quote = BTC\nlot = 1\n",
     "5: [market.ETHBTC] tick: missing required key"},
    {BASE_INI "[market.EMPTY]\n", "13: [market.EMPTY] base: missing required key"},
    /* market values */
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 0\nlot = 1\n",
     "16: [market.X] tick: must be above 0"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 1e-2\nlot = 1\n",
     "16: [market.X] tick: not a plain decimal number (expected [-]digits[.digits])"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 1\nlot = -1\n",
     "17: [market.X] lot: negative value not allowed"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 0.0000000000000000001\nlot = 1\n",
     "16: [market.X] tick: more than 18 decimal places"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 1\nlot = 1\nmin_notional = 0.0000001\n",
     "18: [market.X] min_notional: more decimal places than USDT has (6)"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 1\nlot = 1\nmin_notional = -1\n",
     "18: [market.X] min_notional: negative value not allowed"},
    /* cross-key rules */
    {BASE_INI "[market.X]\nbase = DOGE\nquote = USDT\ntick = 1\nlot = 1\n",
     "14: [market.X] base: asset \"DOGE\" is not defined (no [asset.DOGE] section)"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USD\ntick = 1\nlot = 1\n",
     "15: [market.X] quote: asset \"USD\" is not defined (no [asset.USD] section)"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = btc\ntick = 1\nlot = 1\n",
     "15: [market.X] quote: same asset as base"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 1\nlot = 0.000000001\n",
     "17: [market.X] lot: lot 0.000000001 is not a multiple of the BTC unit 0.00000001 (8 "
     "decimals)"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 0.01\nlot = 0.00001\n",
     "16: [market.X] tick: tick x lot (0.01 x 0.00001) is not a multiple of the USDT unit "
     "0.000001 (6 decimals): use a coarser tick or lot, or more decimals for USDT"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 9223372036854775807\nlot = 2\n",
     "16: [market.X] tick: tick x lot (9223372036854775807 x 2) in USDT units (6 decimals) "
     "overflows"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 10000000000000\nlot = 1\n",
     "16: [market.X] tick: tick x lot (10000000000000 x 1) in USDT units (6 decimals) overflows"},
    {BASE_INI "[market.X]\nbase = BTC\nquote = USDT\ntick = 1\nlot = 100000000000\n",
     "17: [market.X] lot: lot 100000000000 in BTC units (8 decimals) overflows"},
    {BASE_INI "engine = 1\n", "13: [market.BTCUSDT] engine: must be below engine.threads (1)"},
    {BASE_INI "[fees]\ndiscount_asset = BNB\n",
     "14: [fees] discount_asset: asset \"BNB\" is not defined (no [asset.BNB] section)"},
    {BASE_INI "[fees]\ndiscount_asset = BTC\ndiscount_min = 0.000000001\n",
     "15: [fees] discount_min: more decimal places than BTC has (8)"},
    {BASE_INI "[fees]\ndiscount_min = 5\n",
     "14: [fees] discount_min: needs discount_asset to be set"},
    {BASE_INI "[fees]\ndiscount_min = 10\n",
     "14: [fees] discount_min: needs discount_asset to be set"},
    {BASE_INI "[fees]\ndiscount_min = five\n",
     "14: [fees] discount_min: not a plain decimal number (expected [-]digits[.digits])"},
    {BASE_INI "[fees]\ndiscount_pct = 10\n",
     "14: [fees] discount_pct: needs discount_asset to be set"},
    {BASE_INI "[fees]\ndiscount_asset = BTC\ndiscount_pct = 101\n",
     "15: [fees] discount_pct: expected a whole number in 0..100"},
};

static void test_error_cases(void) {
  for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
    char path[64], expect[1200];
    err[0] = '\0';
    int rc = load_text(error_cases[i].ini, path, sizeof path);
    snprintf(expect, sizeof expect, "%s:%s", path, error_cases[i].expect);
    if (rc != -1 || strcmp(err, expect) != 0) fprintf(stderr, "error case %zu:\n", i);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_STR(err, expect);
  }
}

/* Cases built at run time: too many sections, over-long lines, a missing file. */
static void test_generated_errors(void) {
  char path[64], expect[256];
  static char text[CONFIG_MAX_ASSETS * 32 + 64];
  size_t n = 0;
  for (int i = 0; i <= CONFIG_MAX_ASSETS; i++)
    n += (size_t)snprintf(text + n, sizeof text - n, "[asset.A%d]\ndecimals = 2\n", i);
  CHECK_EQ_INT(load_text(text, path, sizeof path), -1);
  snprintf(expect, sizeof expect, "%s:%d: [asset.A%d]: too many assets (at most %d)", path,
           2 * CONFIG_MAX_ASSETS + 1, CONFIG_MAX_ASSETS, CONFIG_MAX_ASSETS);
  CHECK_EQ_STR(err, expect);
  /* Exactly the maximum is fine. */
  text[0] = '\0';
  n = 0;
  for (int i = 0; i < CONFIG_MAX_ASSETS; i++)
    n += (size_t)snprintf(text + n, sizeof text - n, "[asset.A%d]\ndecimals = 2\n", i);
  CHECK_EQ_INT(load_text(text, path, sizeof path), 0);
  CHECK_EQ_INT(cfg.asset_count, CONFIG_MAX_ASSETS);

  /* 198 characters is the longest line; 199 is split by libinih, so it is refused. */
  char line[300];
  memset(line, 'x', sizeof line);
  memcpy(line, "[server]\nname = ", 16);
  size_t fits = 9 + 198; /* "[server]\n" + a 198-char line */
  line[fits] = '\0';
  CHECK_EQ_INT(load_text(line, path, sizeof path), -1); /* loads, but the name is too long */
  snprintf(expect, sizeof expect, "%s:2: [server] name: length 191 is outside 1..63 chars", path);
  CHECK_EQ_STR(err, expect);
  memset(line, 'x', sizeof line);
  memcpy(line, "[server]\nname = ", 16);
  line[fits + 1] = '\n';
  line[fits + 2] = '\0';
  CHECK_EQ_INT(load_text(line, path, sizeof path), -1);
  snprintf(expect, sizeof expect, "%s:2: line longer than 198 characters", path);
  CHECK_EQ_STR(err, expect);

  CHECK_EQ_INT(config_load(&cfg, "/tmp/bourse-test-no-such-file.conf", err, sizeof err), -1);
  CHECK_EQ_STR(err, "/tmp/bourse-test-no-such-file.conf: cannot open: No such file or directory");
  /* A NULL or zero-length error buffer is allowed. */
  CHECK_EQ_INT(config_load(&cfg, "/tmp/bourse-test-no-such-file.conf", NULL, 0), -1);
}

/* Valid files that exercise the accepted syntax. */
static void test_accepted_syntax(void) {
  char path[64];
  const char *ini = "\xEF\xBB\xBF# comment\n"
                    "; another comment\n"
                    "[market.ethbtc] ; markets may come before their assets\n"
                    "base=eth\n"
                    "quote : btc\n"
                    "tick = 0.000010 ; written with 6 decimals: price_scale 6, tick 10\n"
                    "lot = 0.001\n"
                    "   # an indented comment is still a comment\n"
                    "\n"
                    "[asset.eth]\n"
                    "decimals = 18\n"
                    "[asset.btc]\n"
                    "decimals = 8\n"
                    "[net]\n"
                    "  port = 9001\n" /* indented first key: not a continuation */
                    "bind = ::1\n"
                    "[log]\n"
                    "level = WARN\n"
                    "file = /var/log/bourse#1.log\n";
  int rc = load_text(ini, path, sizeof path);
  if (rc != 0) fprintf(stderr, "accepted syntax: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(cfg.net_port, 9001);
  CHECK_EQ_STR(cfg.net_bind, "::1");
  CHECK_EQ_INT(cfg.log_level, CONFIG_LOG_WARN);
  CHECK_EQ_STR(cfg.log_file, "/var/log/bourse#1.log");
  CHECK_EQ_STR(cfg.markets[0].name, "ETHBTC");
  CHECK_EQ_STR(cfg.assets[cfg.markets[0].base].name, "ETH");
  CHECK_EQ_INT(cfg.markets[0].price_scale, 6);
  CHECK_EQ_INT(cfg.markets[0].tick, 10);
  CHECK_EQ_INT(cfg.markets[0].lot_units, 1000000000000000); /* 0.001 ETH at 18 decimals */
  /* 0.00001 x 0.001 BTC = 1e-8 = 1 satoshi */
  CHECK_EQ_INT(cfg.markets[0].notional_unit, 1);
  /* Without a discount asset, discount_min may still be written as any zero. */
  rc = load_text("[fees]\ndiscount_min = 0.00000000000000000000\n", path, sizeof path);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(cfg.fees_discount_min, 0);
}

static void test_env_overrides(void) {
  char path[512], expect[1024];
  bundled_path(path, sizeof path);

  setenv("BOURSE_NET_PORT", "9000", 1);
  setenv("BOURSE_LOG_LEVEL", "debug", 1);
  setenv("BOURSE_ENGINE_SPIN_US", "50", 1);
  setenv("BOURSE_CPU_PIN", "io:0,engine:1", 1); /* absent from no file, set anyway */
  setenv("BOURSE_MARKET_BTCUSDT_TAKER_FEE", "1500", 1);
  setenv("BOURSE_MARKET_ETHBTC_MAKER_FEE", "500", 1);
  setenv("BOURSE_MARKET_ETHUSDT_PRICE_BAND_PCT", "20", 1);
  setenv("BOURSE_FEES_DISCOUNT_ASSET", "eth", 1);
  setenv("BOURSE_FEES_DISCOUNT_MIN", "1.5", 1);
  setenv("BOURSE_FEES_DISCOUNT_PCT", "25", 1);
  setenv("BOURSE_SOURCE_DIR_EXTRA", "ignored: not a configuration prefix", 1);
  int rc = config_load(&cfg, path, err, sizeof err);
  if (rc != 0) fprintf(stderr, "env overrides: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(cfg.net_port, 9000);
  CHECK_EQ_INT(cfg.log_level, CONFIG_LOG_DEBUG);
  CHECK_EQ_INT(cfg.engine_spin_us, 50);
  CHECK_EQ_STR(cfg.cpu_pin, "io:0,engine:1");
  CHECK_EQ_INT(cfg.markets[config_find_market(&cfg, "BTCUSDT", 7)].taker_fee, 1500);
  CHECK_EQ_INT(cfg.markets[config_find_market(&cfg, "BTCUSDT", 7)].maker_fee, 1000);
  CHECK_EQ_INT(cfg.markets[config_find_market(&cfg, "ETHBTC", 6)].maker_fee, 500);
  CHECK_EQ_INT(cfg.markets[config_find_market(&cfg, "ETHUSDT", 7)].price_band_pct, 20);
  CHECK_EQ_INT(cfg.fees_discount_asset, config_find_asset(&cfg, "ETH", 3));
  CHECK_EQ_INT(cfg.fees_discount_min, 150000000);
  CHECK_EQ_INT(cfg.fees_discount_pct, 25);

  /* Print -> load round trip with these non-default values. */
  char tmp[64];
  snprintf(tmp, sizeof tmp, "/tmp/bourse-test-config-XXXXXX");
  int fd = mkstemp(tmp);
  CHECK(fd >= 0);
  FILE *out = fdopen(fd, "w");
  CHECK(out != NULL);
  if (out) {
    config_print(&cfg, out);
    fclose(out);
  }
  /* The environment still holds the same values; clear it so only the file speaks. */
  clear_config_environment();
  rc = config_load(&cfg2, tmp, err, sizeof err);
  if (rc != 0) fprintf(stderr, "printed config: %s\n", err);
  unlink(tmp);
  CHECK_EQ_INT(rc, 0);
  CHECK(memcmp(&cfg, &cfg2, sizeof cfg) == 0);
  CHECK_EQ_INT(cfg2.fees_discount_min, 150000000);
  unsetenv("BOURSE_SOURCE_DIR_EXTRA");

  /* A bad value names the variable. */
  setenv("BOURSE_NET_PORT", "80x", 1);
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  CHECK_EQ_STR(err, "environment BOURSE_NET_PORT: expected a whole number in 1..65535");
  unsetenv("BOURSE_NET_PORT");
  setenv("BOURSE_MARKET_ETHBTC_ENGINE", "1", 1);
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  CHECK_EQ_STR(err, "environment BOURSE_MARKET_ETHBTC_ENGINE: must be below engine.threads (1)");
  unsetenv("BOURSE_MARKET_ETHBTC_ENGINE");
  setenv("BOURSE_ASSET_USDT_DECIMALS", "6", 1); /* the file's tick line is where it breaks */
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  snprintf(expect, sizeof expect,
           "%s:%d: [market.BTCUSDT] tick: tick x lot (0.01 x 0.00001) is not a multiple of the "
           "USDT unit 0.000001 (6 decimals): use a coarser tick or lot, or more decimals for USDT",
           path, line_of(path, "[market.BTCUSDT]", "tick"));
  CHECK_EQ_STR(err, expect);
  unsetenv("BOURSE_ASSET_USDT_DECIMALS");
  setenv("BOURSE_ASSET_USDT_DECIMALS", " 8", 1); /* no trimming of environment values */
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  CHECK_EQ_STR(err, "environment BOURSE_ASSET_USDT_DECIMALS: expected a whole number in 0..18");
  unsetenv("BOURSE_ASSET_USDT_DECIMALS");
  setenv("BOURSE_SERVER_NAME", "a ;b", 1);
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  CHECK_EQ_STR(err, "environment BOURSE_SERVER_NAME: ';' first or after a space would start a "
                    "comment in the file");
  setenv("BOURSE_SERVER_NAME", ";b", 1);
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  CHECK_EQ_STR(err, "environment BOURSE_SERVER_NAME: ';' first or after a space would start a "
                    "comment in the file");
  setenv("BOURSE_SERVER_NAME", "a;b #c", 1); /* both survive a round trip through the file */
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), 0);
  CHECK_EQ_STR(cfg.server_name, "a;b #c");
  setenv("BOURSE_SERVER_NAME", "tab\there", 1);
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  CHECK_EQ_STR(err, "environment BOURSE_SERVER_NAME: control character in value");
  unsetenv("BOURSE_SERVER_NAME");

  /* Misspelt or dangling variables are errors, not silently ignored. */
  setenv("BOURSE_NET_PROT", "9000", 1);
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  CHECK(strncmp(err, "environment BOURSE_NET_PROT: no such key", 40) == 0);
  unsetenv("BOURSE_NET_PROT");
  setenv("BOURSE_MARKET_DOGEUSDT_TICK", "1", 1);
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), -1);
  CHECK(strncmp(err, "environment BOURSE_MARKET_DOGEUSDT_TICK: no such key", 52) == 0);
  unsetenv("BOURSE_MARKET_DOGEUSDT_TICK");

  /* Without a file: fixed keys only. */
  setenv("BOURSE_NET_IO_THREADS", "4", 1);
  CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof err), 0);
  CHECK_EQ_INT(cfg.net_io_threads, 4);
  unsetenv("BOURSE_NET_IO_THREADS");
  setenv("BOURSE_ASSET_BTC_DECIMALS", "8", 1);
  CHECK_EQ_INT(config_load(&cfg, NULL, err, sizeof err), -1);
  CHECK(strncmp(err, "environment BOURSE_ASSET_BTC_DECIMALS: no such key", 50) == 0);
  unsetenv("BOURSE_ASSET_BTC_DECIMALS");

  /* Everything unset again: the bundled file loads as before. */
  CHECK_EQ_INT(config_load(&cfg, path, err, sizeof err), 0);
  CHECK_EQ_INT(cfg.net_port, 8080);
}

/* Loads the bundled file, prints it, loads the print: identical structs and texts. */
static void test_print_round_trip(void) {
  char path[512], tmp[64];
  bundled_path(path, sizeof path);
  CHECK_EQ_INT(config_load(&cfg2, path, err, sizeof err), 0);
  char *first = NULL, *second = NULL;
  size_t first_len = 0, second_len = 0;
  FILE *mem = open_memstream(&first, &first_len);
  config_print(&cfg2, mem);
  fclose(mem);
  int rc = load_text(first, tmp, sizeof tmp); /* into cfg */
  if (rc != 0) fprintf(stderr, "printed config: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  CHECK(memcmp(&cfg, &cfg2, sizeof cfg) == 0);
  mem = open_memstream(&second, &second_len);
  config_print(&cfg, mem);
  fclose(mem);
  CHECK_EQ_STR(second, first);
  CHECK(strstr(first, "[market.ETHBTC]\n") != NULL);
  CHECK(strstr(first, "tick = 0.00001\n") != NULL);
  CHECK(strstr(first, "min_notional = 0.0001\n") != NULL);
  free(first);
  free(second);
}

/* Every key in the key table has a row in docs/CONFIG.md with its default and range. */
static void test_docs_cover_keys(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/docs/CONFIG.md", source_dir());
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return;
  }
  static char doc[1 << 17];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  fclose(f);
  doc[n] = '\0';
  CHECK(n > 0 && n < sizeof doc - 1);
  CHECK(config_key_count() > 0);
  CHECK(config_key_at(config_key_count()) == NULL);
  for (size_t i = 0; i < config_key_count(); i++) {
    const config_key *k = config_key_at(i);
    char qualified[128], cell[160], def[160];
    char section[64];
    snprintf(section, sizeof section, "%s", k->section);
    char *star = strchr(section, '*');
    if (star) snprintf(star, sizeof section - (size_t)(star - section), "NAME");
    snprintf(qualified, sizeof qualified, "%s.%s", section, k->name);
    snprintf(cell, sizeof cell, "| `%s` |", qualified);
    if (!k->default_value)
      snprintf(def, sizeof def, "| **required** |");
    else if (!k->default_value[0])
      snprintf(def, sizeof def, "| `\"\"` |");
    else
      snprintf(def, sizeof def, "| `%s` |", k->default_value);
    const char *row = strstr(doc, cell);
    if (!row) {
      fprintf(stderr, "docs/CONFIG.md: no table row for key %s\n", qualified);
      CHECK(row != NULL);
      continue;
    }
    size_t row_len = strcspn(row, "\n");
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)row_len, row);
    if (!strstr(line, def) || !strstr(line, k->range))
      fprintf(stderr, "docs/CONFIG.md: row of %s lacks the default %s or the range \"%s\"\n",
              qualified, def, k->range);
    CHECK(strstr(line, def) != NULL);
    CHECK(strstr(line, k->range) != NULL);
    CHECK(k->doc && k->doc[0]);
    for (size_t j = 0; j < i; j++) { /* no key twice */
      const config_key *other = config_key_at(j);
      CHECK(strcmp(other->section, k->section) != 0 || strcmp(other->name, k->name) != 0);
    }
  }
}

static void test_log_level_names(void) {
  CHECK_EQ_STR(config_log_level_name(CONFIG_LOG_DEBUG), "debug");
  CHECK_EQ_STR(config_log_level_name(CONFIG_LOG_ERROR), "error");
  CHECK_EQ_STR(config_log_level_name((config_log_level)42), "?");
}

int main(void) {
  clear_config_environment();
  test_defaults();
  test_bundled();
  test_error_cases();
  test_generated_errors();
  test_accepted_syntax();
  test_env_overrides();
  test_print_round_trip();
  test_docs_cover_keys();
  test_log_level_names();
  return check_report("config");
}
