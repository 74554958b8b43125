/*
 * engine.h: the matching engine's contract: the fixed-size binary commands it
 * consumes, the fixed-size binary events it emits, and the single-threaded
 * entry point that turns one into the other.
 *
 * Thread role: an engine is owned by exactly one thread (the engine thread,
 * or a test / bourse-replay main). Nothing here is thread-safe; the engine
 * never allocates, locks or makes a system call after engine_create.
 *
 * Units. Inside the engine a price is a count of the market's ticks, a
 * quantity a count of its lots, and an amount a count of the asset's smallest
 * units (see config.h: base units = lots x lot_units, quote units =
 * ticks x lots x notional_unit). The edge (io thread, bourse-replay) parses
 * decimal strings into these units; a value it cannot represent exactly (off
 * tick, off lot, finer than the asset unit, beyond int64) is passed as 0,
 * which the engine rejects with that field's code (4002 price/stop, 4003
 * qty/quote_qty, 1003 amount), so the validation order of RULES.md is kept.
 * Field presence is passed separately in engine_cmd.flags: a missing
 * required field is 1003, an invalid present one is 4002/4003.
 *
 * Validation order of a place (first failing check wins), RULES.md plus
 * the engine-only checks in brackets:
 *   1003 uid (0) -> 4001 market -> 1003 enums, post_only combination,
 *   client_id, required fields -> [4008 market halted] -> 4002 price (<= 0,
 *   price band) -> 4002 stop -> 4002 stop without last price -> 4003 qty /
 *   quote_qty -> 4003 min_notional -> 4009 duplicate client_id -> [5001 the
 *   user has engine_limits.max_open_orders_per_user open orders] -> 4004
 *   insufficient balance -> [9001 engine capacity] -> 4005 post-only would
 *   cross -> 4007 FOK not fillable.
 * Notional overflow (price x qty x notional_unit beyond int64) cannot be held
 * by anyone, so it is 4004 for a buy; lots x lot_units beyond int64 is 4004
 * for a sell.
 */
#ifndef BOURSE_ENGINE_H
#define BOURSE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bourse/config.h"

/* Longest client order id, excluding the NUL. */
#define ENGINE_CLIENT_ID_MAX 36

/* Result codes: 0 or a protocol error code (shared/spec/PROTOCOL.md). */
typedef enum engine_code {
  ENGINE_OK = 0,
  ENGINE_CODE_BAD_JSON = 1001,
  ENGINE_CODE_UNKNOWN_OP = 1002,
  ENGINE_CODE_INVALID_FIELD = 1003,
  ENGINE_CODE_UNKNOWN_MARKET = 4001,
  ENGINE_CODE_BAD_PRICE = 4002,
  ENGINE_CODE_BAD_QTY = 4003,
  ENGINE_CODE_INSUFFICIENT_BALANCE = 4004,
  ENGINE_CODE_POST_ONLY_WOULD_CROSS = 4005,
  ENGINE_CODE_UNKNOWN_ORDER = 4006,
  ENGINE_CODE_FOK_NOT_FILLABLE = 4007,
  ENGINE_CODE_MARKET_HALTED = 4008,
  ENGINE_CODE_DUPLICATE_CLIENT_ID = 4009,
  ENGINE_CODE_LIMIT = 5001,    /* limits.max_open_orders reached */
  ENGINE_CODE_CAPACITY = 9001, /* a preallocated pool or table is full */
} engine_code;

typedef enum engine_cmd_type {
  ENGINE_CMD_PLACE = 1,
  ENGINE_CMD_CANCEL,
  ENGINE_CMD_CANCEL_ALL,
  ENGINE_CMD_AMEND,
  ENGINE_CMD_DEPOSIT,
  ENGINE_CMD_WITHDRAW,
  ENGINE_CMD_HALT,   /* admin: stop accepting places and amends on a market */
  ENGINE_CMD_RESUME, /* admin: lift a halt */
} engine_cmd_type;

typedef enum engine_side {
  ENGINE_SIDE_BUY = 0,
  ENGINE_SIDE_SELL = 1,
} engine_side;

typedef enum engine_order_type {
  ENGINE_TYPE_LIMIT = 0,
  ENGINE_TYPE_MARKET,
  ENGINE_TYPE_STOP_LIMIT,
  ENGINE_TYPE_STOP_MARKET,
} engine_order_type;

typedef enum engine_tif {
  ENGINE_TIF_GTC = 0,
  ENGINE_TIF_IOC,
  ENGINE_TIF_FOK,
} engine_tif;

typedef enum engine_stp {
  ENGINE_STP_NONE = 0,
  ENGINE_STP_CANCEL_TAKER,
  ENGINE_STP_CANCEL_MAKER,
  ENGINE_STP_CANCEL_BOTH,
} engine_stp;

typedef enum engine_status {
  ENGINE_STATUS_NONE = 0, /* before the order existed (prev_status of a new order) */
  ENGINE_STATUS_NEW,
  ENGINE_STATUS_PARTIALLY_FILLED,
  ENGINE_STATUS_FILLED,
  ENGINE_STATUS_CANCELLED,
  ENGINE_STATUS_UNTRIGGERED,
} engine_status;

/* engine_cmd.flags: which optional fields the request carried. */
#define ENGINE_CMD_F_PRICE     0x01u
#define ENGINE_CMD_F_STOP      0x02u
#define ENGINE_CMD_F_QTY       0x04u
#define ENGINE_CMD_F_QUOTE_QTY 0x08u
#define ENGINE_CMD_F_ORDER_ID  0x10u /* cancel/amend by order_id (wins over client_id) */
#define ENGINE_CMD_F_CLIENT_ID                                                                     \
  0x20u                           /* client_id carried (place: optional; cancel/amend: target)     \
                                   */
#define ENGINE_CMD_F_MARKET 0x40u /* cancel_all: restricted to `market` */

/* Market index meaning "no such market" (the edge could not resolve the name). */
#define ENGINE_MARKET_NONE UINT32_MAX

/*
 * One command. Fixed size, no pointers: it travels through SPSC rings as is.
 * Which fields matter depends on `type`; the rest are ignored.
 */
typedef struct engine_cmd {
  uint8_t type;       /* engine_cmd_type */
  uint8_t side;       /* engine_side (place) */
  uint8_t order_type; /* engine_order_type (place) */
  uint8_t tif;        /* engine_tif (place; ignored by market orders) */
  uint8_t stp;        /* engine_stp (place) */
  uint8_t post_only;  /* 0 or 1 (place) */
  uint8_t flags;      /* ENGINE_CMD_F_* */
  uint8_t reserved;
  uint32_t market;   /* index into config.markets, or ENGINE_MARKET_NONE */
  uint32_t asset;    /* deposit / withdraw: index into config.assets */
  uint64_t uid;      /* the user acting; 0 is invalid (1003) */
  uint64_t tag;      /* opaque to the engine: copied into every event this command causes */
  int64_t ts_ms;     /* time the edge received it; copied into orders and events */
  int64_t price;     /* ticks (limit, stop_limit; amend) */
  int64_t stop;      /* ticks (stop_limit, stop_market) */
  int64_t qty;       /* lots: order size, or an amend's new total quantity */
  int64_t quote_qty; /* quote units: market / stop_market buy budget */
  int64_t amount;    /* asset units: deposit / withdraw */
  uint64_t order_id; /* cancel / amend target */
  char client_id[ENGINE_CLIENT_ID_MAX + 1]; /* NUL-terminated; "" = none */
} engine_cmd;

typedef enum engine_event_type {
  ENGINE_EVENT_ACCEPTED = 1, /* the command was accepted (first event of every command) */
  ENGINE_EVENT_REJECTED,     /* the command was rejected, `code` says why; nothing changed */
  ENGINE_EVENT_ORDER,        /* an order changed (status, filled, price or qty) */
  ENGINE_EVENT_TRADE,        /* a fill between a resting maker and an incoming taker */
  ENGINE_EVENT_BALANCE,      /* a (uid, asset) balance changed during the command */
  ENGINE_EVENT_LEVEL,        /* a price level's aggregated quantity changed (market data;
                                only when enabled with engine_set_level_events) */
} engine_event_type;

/* engine_event.flags */
#define ENGINE_EVENT_F_REPLY 0x01u /* the order event that is the command's own result */

/* An order's full state, as the @order push and the place/amend reply show it. */
typedef struct engine_order_info {
  uint64_t order_id;
  int64_t price;        /* ticks; 0 for market orders */
  int64_t stop;         /* ticks; 0 unless a stop order */
  int64_t qty;          /* lots; 0 for a market buy by quote_qty */
  int64_t quote_qty;    /* quote units; market buy budget, else 0 */
  int64_t filled;       /* lots */
  int64_t filled_quote; /* quote units traded: avg price = filled_quote / (filled x notional) */
  int64_t created_ms;
  uint8_t side, order_type, tif, stp, post_only;
  uint8_t status;      /* engine_status after the change */
  uint8_t prev_status; /* engine_status before it (NONE for a new order) */
  char client_id[ENGINE_CLIENT_ID_MAX + 1];
} engine_order_info;

/* A fill. The maker traded at its own price; fees are in the asset each side received. */
typedef struct engine_trade_info {
  uint64_t trade_id;
  int64_t price; /* ticks */
  int64_t qty;   /* lots */
  int64_t quote; /* quote units exchanged: price x qty x notional_unit */
  uint64_t maker_order, taker_order;
  uint64_t maker_uid; /* the taker's uid is engine_event.uid */
  int64_t maker_fee;  /* in the asset the maker received */
  int64_t taker_fee;  /* in the asset the taker received */
  uint8_t taker_side; /* engine_side */
  char maker_client_id[ENGINE_CLIENT_ID_MAX + 1];
  char taker_client_id[ENGINE_CLIENT_ID_MAX + 1];
} engine_trade_info;

/*
 * One event. Fixed size, no pointers. `uid` is the user it concerns (the
 * order's owner, the taker of a trade, the balance's owner); `tag` and
 * `ts_ms` are those of the command that caused it, so an io thread can route
 * the reply by tag and the pushes by uid.
 */
typedef struct engine_event {
  uint8_t type;     /* engine_event_type */
  uint8_t cmd_type; /* engine_cmd_type of the causing command */
  uint8_t flags;    /* ENGINE_EVENT_F_* */
  uint8_t reserved;
  uint16_t code; /* REJECTED: the protocol error code */
  uint16_t reserved2;
  uint32_t market; /* ORDER, TRADE; ACCEPTED/REJECTED of order commands */
  uint32_t asset;  /* BALANCE */
  uint64_t uid;
  uint64_t tag;
  int64_t ts_ms;
  union {
    struct {
      uint64_t order_id;     /* place (the new id), cancel, amend; 0 otherwise */
      int64_t cancelled;     /* cancel_all: how many orders it cancelled */
    } ack;                   /* ACCEPTED */
    engine_order_info order; /* ORDER */
    engine_trade_info trade; /* TRADE */
    struct {
      uint64_t update_id; /* per market, +1 for every level change: contiguous */
      int64_t price;      /* ticks */
      int64_t qty;        /* lots now at that price; 0 = level gone */
      uint8_t side;       /* engine_side */
    } level;              /* LEVEL */
    struct {
      int64_t available;
      int64_t hold;
    } balance; /* BALANCE */
  } u;
} engine_event;

_Static_assert(sizeof(engine_cmd) == 128, "engine_cmd is a ring slot: change its size on purpose");
_Static_assert(sizeof(engine_event) == 192,
               "engine_event is a ring slot: change its size on purpose");

/*
 * The event sink: called once per event, in causal order, synchronously from
 * engine_process. `ev` is valid only during the call (copy it). Must not call
 * back into the engine.
 */
typedef void engine_emit_fn(void *ctx, const engine_event *ev);

/* Capacity of the preallocated pools; 0 picks the default noted. */
typedef struct engine_limits {
  uint32_t max_orders;               /* open orders (incl. untriggered stops) + 1 taker; 1<<20 */
  uint32_t max_accounts;             /* (uid, asset) balances; 1<<20 */
  uint32_t max_users;                /* users with orders; 1<<18 */
  unsigned price_window_bits;        /* per-book direct price window of 2^bits ticks, 6..18; 16 */
  uint32_t max_open_orders_per_user; /* a place beyond it is rejected with 5001; 0 = no limit */
  bool prefault; /* touch every page of the pools at creation, so the hot path never takes a
                    page fault (a server wants this; tests and tools save the memory) */
} engine_limits;

typedef struct engine engine;

/*
 * Creates an engine for the markets and assets of `cfg` (read at this call
 * and kept by pointer: `cfg` must outlive the engine and not change) with
 * pools sized by `limits` (NULL = defaults). Every allocation the engine will
 * ever make happens here. Returns NULL and writes a reason into err (errlen
 * bytes) when the configuration is unusable (fee rates outside 0..1e6, a
 * market naming an unknown asset, non-positive lot_units / notional_unit) or
 * memory is short.
 */
engine *engine_create(const config *cfg, const engine_limits *limits, char *err, size_t errlen);

/* Frees everything engine_create allocated. NULL is allowed. */
void engine_destroy(engine *e);

/*
 * Applies one command and emits, through `emit`, first exactly one ACCEPTED
 * or REJECTED event, then everything the command caused in causal order
 * (trades, order changes, triggered stops and their trades), and last one
 * BALANCE event per (uid, asset) whose value the command changed. Hot path:
 * no allocation, lock or system call. `emit` may be NULL (events dropped).
 */
void engine_process(engine *e, const engine_cmd *cmd, engine_emit_fn *emit, void *ctx);

/*
 * Turns ENGINE_EVENT_LEVEL events on or off (off after engine_create: the
 * replay and the tests see the order-entry events only). With them on, every
 * change of a level's aggregated quantity is emitted in causal order among the
 * command's other events, with a per-market update id counting every change.
 */
void engine_set_level_events(engine *e, bool on);

/* The last level update id of `market` (0 before any change). */
uint64_t engine_level_update_id(const engine *e, unsigned market);

/* Available and hold of (uid, asset); both 0 for an unknown pair. */
void engine_balance(const engine *e, uint64_t uid, unsigned asset, int64_t *available,
                    int64_t *hold);

/* Calls fn for every (uid, asset) the engine has a balance entry for, in no particular order. */
typedef void engine_balance_fn(void *ctx, uint64_t uid, unsigned asset, int64_t available,
                               int64_t hold);
void engine_each_balance(const engine *e, engine_balance_fn *fn, void *ctx);

/* One aggregated price level. */
typedef struct engine_level {
  int64_t price; /* ticks */
  int64_t qty;   /* lots */
} engine_level;

/*
 * Writes up to `max` aggregated levels of one side of `market`'s book into
 * out, best first; returns how many it wrote.
 */
size_t engine_depth(const engine *e, unsigned market, engine_side side, engine_level *out,
                    size_t max);

/* One resting order, for tests and snapshots. */
typedef struct engine_resting {
  uint64_t order_id;
  uint64_t uid;
  int64_t price;
  int64_t remaining; /* lots still open */
} engine_resting;

/*
 * Writes up to `max` resting orders of one side of `market`'s book into out
 * in priority order (best price first, then time); returns how many it wrote.
 */
size_t engine_resting_orders(const engine *e, unsigned market, engine_side side,
                             engine_resting *out, size_t max);

/*
 * The open orders (resting and untriggered stops) of uid, in id order, in
 * market `market` or every market (ENGINE_MARKET_NONE): skips the first
 * `skip`, writes up to `max` into out (and their market indexes into
 * markets), and returns how many it wrote.
 */
size_t engine_user_orders(const engine *e, uint64_t uid, uint32_t market, size_t skip,
                          engine_order_info *out, uint32_t *markets, size_t max);

/* Last trade price of `market` in ticks; false if it never traded. */
bool engine_last_price(const engine *e, unsigned market, int64_t *price);

/* Number of open orders (resting and untriggered stops) over all markets. */
size_t engine_open_orders(const engine *e);

/*
 * The money audit: for every asset, sum(available + hold) over all users
 * equals net deposits (deposits - withdrawals). Returns 0, or -1 with the
 * first asset that differs described in err.
 */
int engine_audit(const engine *e, char *err, size_t errlen);

/*
 * A deep self-check for tests (linear in the engine's size): the audit, every
 * book's levels, totals, best prices and window bitmaps, every open order's
 * hold against its user's hold balance, the id and client_id indexes. Returns
 * 0, or -1 with the first inconsistency described in err.
 */
int engine_check(const engine *e, char *err, size_t errlen);

/* Protocol names ("buy", "limit", "gtc", "cancel_taker", "partially_filled"). */
const char *engine_side_name(engine_side side);
const char *engine_type_name(engine_order_type type);
const char *engine_tif_name(engine_tif tif);
const char *engine_stp_name(engine_stp stp);
const char *engine_status_name(engine_status status);

#endif
