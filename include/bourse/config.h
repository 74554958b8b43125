/*
 * config.h: the server configuration, loaded once at start.
 *
 * Source: an INI file (conf/bourse.conf), parsed with Debian's libinih. Every
 * key of the fixed sections may be overridden by an environment variable
 * named BOURSE_<SECTION>_<KEY> (upper case, '.' -> '_'), e.g.
 * BOURSE_NET_PORT=9000, even when the file does not set it; keys of the
 * per-name sections ([asset.X], [market.X]) may be overridden for sections
 * the file defines, e.g. BOURSE_MARKET_BTCUSDT_TAKER_FEE=1500. Unknown
 * sections, keys or BOURSE_<SECTION>_ variables, bad values and inconsistent
 * markets are rejected with the file name and line number (or the variable's
 * name). Every key, its default, range and meaning is in docs/CONFIG.md; the
 * key table behind config_key_at is the single source of keys, defaults,
 * ranges and the docs check.
 *
 * Thread safety: config_load and config_defaults run once on the main thread
 * before other threads start (they read the environment, which setenv may
 * change concurrently). After config_load returns, the struct is immutable
 * and every other function here only reads it: any thread may call them
 * without synchronisation.
 */
#ifndef BOURSE_CONFIG_H
#define BOURSE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_ASSETS      64
#define CONFIG_MAX_MARKETS     256
#define CONFIG_ASSET_NAME_MAX  16 /* bytes incl. NUL: names up to 15 chars */
#define CONFIG_MARKET_NAME_MAX 32 /* bytes incl. NUL: names up to 31 chars */
#define CONFIG_PATH_MAX        256
#define CONFIG_MAX_EXEMPT_IPS  32
#define CONFIG_MAX_ENGINES     64
#define CONFIG_MAX_IO_THREADS  64
#define CONFIG_FEE_ONE         1000000 /* fee rates are in 1e-6 units: 100 % */

/* An asset ([asset.BTC]): balances are int64 counts of 10^-decimals units. */
typedef struct config_asset {
  char name[CONFIG_ASSET_NAME_MAX]; /* upper case */
  unsigned decimals;                /* 0..18 */
} config_asset;

/*
 * A market ([market.BTCUSDT]). Inside the engine a price is a count of ticks
 * and a quantity a count of lots, so:
 *   base units of q lots          = q * lot_units
 *   quote units of p ticks x q lots = p * q * notional_unit   (exact, by the
 *     start-up check that tick x lot is a multiple of the quote unit)
 */
typedef struct config_market {
  char name[CONFIG_MARKET_NAME_MAX]; /* upper case, e.g. "BTCUSDT" */
  unsigned base;                     /* index into config.assets */
  unsigned quote;                    /* index into config.assets */
  unsigned price_scale;              /* fractional digits of `tick` as written */
  int64_t tick;                      /* price step, at price_scale (0.01 -> 1 at scale 2) */
  unsigned qty_scale;                /* fractional digits of `lot` as written */
  int64_t lot;                       /* quantity step, at qty_scale */
  int64_t lot_units;                 /* base asset units in one lot (>= 1) */
  int64_t notional_unit;             /* quote asset units in one tick x one lot (>= 1) */
  int64_t min_notional;              /* quote asset units; 0 = none */
  int32_t maker_fee;                 /* 1e-6 units: 1000 = 0.1 %; 0..CONFIG_FEE_ONE, no rebates */
  int32_t taker_fee;                 /* 1e-6 units; 0..CONFIG_FEE_ONE */
  unsigned price_band_pct;           /* limit price within +-pct of last; 0 = no band; 0..100 */
  unsigned engine;                   /* engine thread that owns the book, < engine.threads */
} config_market;

typedef enum config_log_level {
  CONFIG_LOG_DEBUG,
  CONFIG_LOG_INFO,
  CONFIG_LOG_WARN,
  CONFIG_LOG_ERROR,
} config_log_level;

typedef struct config {
  /* [server] */
  char server_name[64];           /* name: shown in logs and the welcome frame */
  char data_dir[CONFIG_PATH_MAX]; /* data_dir: LMDB environments live below it */
  /* [log] */
  config_log_level log_level;     /* level: debug|info|warn|error */
  char log_file[CONFIG_PATH_MAX]; /* file: empty = stderr */
  /* [net] */
  char net_bind[64];             /* bind: listen address */
  unsigned net_port;             /* port */
  unsigned net_io_threads;       /* io_threads */
  unsigned net_max_connections;  /* max_connections: connection slots per io thread */
  unsigned net_max_send_queue;   /* max_send_queue: bytes queued per connection before 1008 */
  unsigned net_max_message;      /* max_message: largest WebSocket message / HTTP body */
  unsigned net_recv_buffers;     /* recv_buffers: provided receive buffers per io thread */
  unsigned net_recv_buffer_size; /* recv_buffer_size: bytes per receive buffer */
  /* [ws] */
  unsigned ws_ping_interval_ms; /* ping_interval_ms: server pings this often */
  unsigned ws_ping_timeout_ms;  /* ping_timeout_ms: close (1001) after this long silent */
  char ws_origins[1024];        /* origins: comma-separated Origin allow-list; empty = any */
  /* [feed] */
  unsigned feed_tick_ms;         /* tick_ms: market data is published this often */
  unsigned feed_snapshot_levels; /* snapshot_levels: levels per side in a depth snapshot */
  unsigned feed_lag_bytes;       /* lag_bytes: a subscriber this far behind skips diffs */
  /* [limits] */
  unsigned limits_requests_per_s;      /* requests_per_s: per connection, token bucket rate */
  unsigned limits_burst;               /* burst: token bucket size */
  unsigned limits_max_subscriptions;   /* max_subscriptions: per connection */
  unsigned limits_max_open_orders;     /* max_open_orders: per user */
  unsigned limits_connections_per_ip;  /* connections_per_ip: open at once, per io thread */
  unsigned limits_connect_rate_per_ip; /* connect_rate_per_ip: new connections/s, burst 2x */
  char limits_exempt_ips[512];         /* exempt_ips: prefixes without per-IP limits */
  /* [admin] */
  char admin_bind[64];           /* bind: admin API listen address */
  unsigned admin_port;           /* port: admin API port */
  char admin_token[256];         /* token: bearer token for the admin API */
  unsigned admin_allow_no_token; /* allow_no_token: 1 = dev mode, loopback only */
  /* [engine] */
  unsigned engine_threads; /* threads */
  unsigned engine_spin_us; /* spin_us: busy-poll before blocking */
  /* [cpu] */
  char cpu_pin[128]; /* pin: "" or a list "io:0,engine:1,broadcast:1" */
  /* [fees] */
  uint64_t fees_account_uid;  /* account_uid: receives every fee */
  int fees_discount_asset;    /* discount_asset: index into assets, -1 = none */
  int64_t fees_discount_min;  /* discount_min: in discount-asset units */
  unsigned fees_discount_pct; /* discount_pct: 0..100 */
  /* [auth] */
  char auth_jwt_secret[256];                 /* jwt_secret: HS256 key; empty = HS256 off */
  char auth_jwt_public_key[CONFIG_PATH_MAX]; /* jwt_public_key: PEM path for RS256/ES256 */
  char auth_jwt_algs[64];                    /* jwt_algs: allow-list, e.g. "HS256,RS256" */
  unsigned auth_jwt_leeway_s;                /* jwt_leeway_s: clock skew on exp/nbf */
  char auth_jwt_issuer[256];                 /* jwt_issuer: required iss; empty = any */
  char auth_jwt_audience[256];               /* jwt_audience: required aud; empty = any */
  unsigned auth_recv_window_ms;              /* recv_window_ms: API-key login ts window */

  unsigned asset_count;
  config_asset assets[CONFIG_MAX_ASSETS];
  unsigned market_count;
  config_market markets[CONFIG_MAX_MARKETS];
} config;

/*
 * Fills *cfg with every default, then the file at `path` (may be NULL: no
 * file), then the environment, and validates the whole. On error returns -1
 * and writes one line into err (errlen bytes, always NUL-terminated when
 * errlen > 0; err may be NULL), *cfg is then unspecified. The line reads
 *   FILE:LINE: [section] key: reason        (a value or key from the file)
 *   environment BOURSE_NET_PORT: reason     (a value from the environment)
 * Returns 0 on success. Allocates only while it runs (freed before return).
 */
int config_load(config *cfg, const char *path, char *err, size_t errlen);

/* Sets every default (no assets, no markets). Zeroes the whole struct first. */
void config_defaults(config *cfg);

/* Index of the asset named name[0..len) (case-insensitive), or -1. */
int config_find_asset(const config *cfg, const char *name, size_t len);

/* Index of the market named name[0..len) (case-insensitive), or -1. */
int config_find_market(const config *cfg, const char *name, size_t len);

/*
 * Writes the effective configuration as INI text to `out`: every key of every
 * section, so config_load of the output yields an identical struct.
 */
void config_print(const config *cfg, FILE *out);

/* config_print with secrets (admin.token, auth.jwt_secret) replaced by a note: for logs. */
void config_print_redacted(const config *cfg, FILE *out);

/* The level's name as written in the file ("info"), or "?" when out of range. */
const char *config_log_level_name(config_log_level level);

/*
 * One key of the key table, for documentation and tools. `section` is the
 * section name ("net"), or "asset.*" / "market.*" for keys that every
 * [asset.NAME] / [market.NAME] section has.
 */
typedef struct config_key {
  const char *section;
  const char *name;          /* as written in the file: "port" */
  const char *default_value; /* as written in the file; NULL when the key is required */
  const char *range;         /* allowed values in words: "1..65535", "debug, info, warn, error" */
  const char *doc;           /* one line: what the key means */
} config_key;

/* Number of keys in the key table. */
size_t config_key_count(void);

/* Key `index` (0 <= index < config_key_count()), or NULL beyond the end. */
const config_key *config_key_at(size_t index);

#endif
