/*
 * engine_internal.h: the engine's state and its three stages, shared by the
 * files of src/engine/ and by nothing else (the contract with the rest of
 * the server is include/bourse/engine.h).
 *
 * Thread role: engine thread only.
 *
 * Stages (ARCHITECTURE.md section 2). An order goes
 *   hold   (owner of the user):   validate, lock funds      -> engine_hold_msg
 *   match  (owner of the market): book, fills, stops        -> engine_fill_msg,
 *                                                              engine_release_msg
 *   settle (owner of each user):  move held funds, fees     -> balance events
 * With one engine the stages run inline, one after the other, in one pass;
 * they talk only through the fixed-size messages below, so a later change
 * can put a ring between them. Two reads cross stages today and will need a
 * message when they run apart: the hold stage reads the market's last price
 * (4002 checks) and the match stage asks the hold stage for the whole
 * available quote when a stop_market buy by qty triggers.
 *
 * Balance handles: the hold stage looks a user's (uid, asset) entries up
 * once per order and hands their indexes (`acct_*`, into the accounts table
 * of the user's owner) down the pipeline with the order; the settle stage,
 * which runs on that same owner, uses them instead of hashing (uid, asset)
 * again on every fill. Entries never move, so a handle stays valid.
 */
#ifndef BOURSE_ENGINE_INTERNAL_H
#define BOURSE_ENGINE_INTERNAL_H

#include "bourse/accounts.h"
#include "bourse/book.h"
#include "bourse/engine.h"

typedef struct engine_market {
  book book;
  unsigned base, quote;  /* asset indexes */
  int64_t lot_units;     /* base units per lot */
  int64_t notional_unit; /* quote units per tick x lot */
  int64_t min_notional;  /* quote units, 0 = none */
  int32_t maker_fee, taker_fee;
  unsigned band_pct;
  bool has_last;
  bool halted;
  int64_t last_price;
  struct engine *owner; /* for level events */
  uint32_t index;
  uint64_t update_id; /* level changes so far */
} engine_market;

/*
 * A user's open orders, in id order, are a doubly-linked list of chunks of
 * order indexes (why not a list through the orders themselves: linking a new
 * order would write to the user's previous order and unlinking one to both
 * neighbours, cold cache lines on a busy book; a chunk is appended to while
 * warm, and closing an order clears one slot). A chunk is freed when its
 * last live slot is cleared, unless it is the user's last chunk.
 */
#define ENGINE_USER_CHUNK_SLOTS 13

typedef struct engine_user_chunk {
  uint32_t next, prev;                      /* chunk list; next = free-list link when free */
  uint16_t used;                            /* slots appended to (the next free slot) */
  uint16_t live;                            /* slots still naming an open order */
  uint32_t orders[ENGINE_USER_CHUNK_SLOTS]; /* order index, 0 = closed */
} engine_user_chunk;

/* A user with open orders. uid 0 marks a free slot of the user table. */
typedef struct engine_user {
  uint64_t uid;
  uint32_t head, tail; /* chunks, oldest first; 0 = none */
  uint32_t open;       /* open orders */
  /* The balance handles of the market this user last placed in (hold stage's cache:
     a market maker places on one market again and again). */
  uint32_t cached_market; /* market index + 1, 0 = none */
  uint32_t acct_base, acct_quote;
} engine_user;

struct engine {
  const config *cfg;
  engine_market *markets;
  unsigned market_count;
  unsigned asset_count;
  book_pool pool;
  accounts accounts;
  engine_user *users;
  uint64_t user_mask;
  uint32_t user_count, user_capacity;
  engine_user_chunk *chunks; /* [0] unused */
  uint32_t chunk_capacity, chunk_free, chunk_fresh;
  uint32_t *cid_buckets; /* client_id index: chains through book_order.cid_next */
  uint64_t cid_mask;
  uint64_t next_order_id, next_trade_id;
  uint32_t max_open_per_user; /* 0 = no limit */
  uint64_t fee_uid;
  uint32_t *fee_accounts; /* per asset: the fee account's entry */
  int discount_asset;     /* -1 = no discount */
  int64_t discount_min;
  unsigned discount_pct;
  uint32_t *triggered;                 /* scratch for book_stop_take_triggered */
  uint32_t trigger_head, trigger_tail; /* FIFO of triggered stops, through book_order.next */
  /* The command being processed and where its events go. */
  const engine_cmd *cmd;
  engine_emit_fn *emit;
  void *emit_ctx;
};

/* hold -> match: a validated place whose funds are locked. */
typedef struct engine_hold_msg {
  engine_cmd cmd;
  unsigned hold_asset;
  uint32_t acct_base, acct_quote; /* the user's balance entries of the market's assets */
  uint32_t user;                  /* the user's record, UINT32_MAX if it has none yet */
  int64_t hold;                   /* units locked (0 for a stop_market buy by qty) */
} engine_hold_msg;

/* match -> settle: one fill. */
typedef struct engine_fill_msg {
  uint32_t market;
  uint8_t taker_side;
  int64_t price, qty;
  int64_t base;          /* base units: qty x lot_units */
  int64_t quote;         /* quote units: price x qty x notional_unit */
  int64_t buyer_release; /* quote the buyer gets back on top of paying `quote`: a limit buy
                            taker filled below its limit */
  uint64_t trade_id;
  uint64_t maker_uid, taker_uid;
  uint64_t maker_order, taker_order;
  uint32_t maker_base, maker_quote; /* balance handles */
  uint32_t taker_base, taker_quote;
  char maker_client_id[ENGINE_CLIENT_ID_MAX + 1];
  char taker_client_id[ENGINE_CLIENT_ID_MAX + 1];
} engine_fill_msg;

/* match -> settle: an order ended (or shrank) with funds still locked. */
typedef struct engine_release_msg {
  uint32_t account; /* balance handle */
  int64_t amount;
} engine_release_msg;

/* --- hold stage (hold.c) --- */

/*
 * Validates a place in RULES.md order up to 4004 and locks its funds.
 * Returns 0 with *out filled, or the reject code (nothing changed).
 */
int engine_hold_place(engine *e, const engine_cmd *cmd, engine_hold_msg *out);

/*
 * Changes the hold of balance handle `account` by `delta` (> 0 locks more,
 * < 0 releases). Returns 0, or ENGINE_CODE_INSUFFICIENT_BALANCE (nothing
 * changed).
 */
int engine_hold_adjust(engine *e, uint32_t account, int64_t delta);

/* Locks all that is available of balance handle `account`; returns the amount. */
int64_t engine_hold_all(engine *e, uint32_t account);

/* Deposit and withdraw commands (they touch only the hold stage's accounts). */
void engine_hold_deposit(engine *e, const engine_cmd *cmd);
void engine_hold_withdraw(engine *e, const engine_cmd *cmd);

/* True if price is within the market's band around its last price (or no band applies). */
bool engine_price_in_band(const engine_market *m, int64_t price);

/* price x lots x notional_unit into *out; false on overflow. */
static inline bool engine_notional(const engine_market *m, int64_t price, int64_t lots,
                                   int64_t *out) {
  int64_t t;
  return !__builtin_mul_overflow(price, lots, &t) &&
         !__builtin_mul_overflow(t, m->notional_unit, out);
}

/* --- match stage (match.c) --- */

/* Books a held order: post-only / FOK checks, id, matching, resting, stops. */
void engine_match_place(engine *e, const engine_hold_msg *msg);
void engine_match_cancel(engine *e, const engine_cmd *cmd);
void engine_match_cancel_all(engine *e, const engine_cmd *cmd);
void engine_match_amend(engine *e, const engine_cmd *cmd);

/* --- settle stage (settle.c) --- */

/* Moves the funds of one fill, charges fees, emits the trade event. */
void engine_settle_fill(engine *e, const engine_fill_msg *msg);

/* Unlocks funds an order no longer needs. */
void engine_settle_release(engine *e, const engine_release_msg *msg);

/* --- shared helpers (engine.c) --- */

void engine_emit_accepted(engine *e, uint32_t market, uint64_t order_id, int64_t cancelled);
void engine_emit_rejected(engine *e, uint32_t market, int code);
void engine_emit_order(engine *e, const book_order *o, uint8_t prev_status, uint8_t flags);
void engine_order_info_of(const book_order *o, uint8_t prev_status, engine_order_info *i);

/* Index of uid's record in the user table, or UINT32_MAX when uid has no open orders. */
uint32_t engine_user_find(const engine *e, uint64_t uid);

/* Index of the open order of uid with this client_id, or 0. */
uint32_t engine_cid_find(const engine *e, uint64_t uid, const char *client_id);

/* True if the command's client_id field is a NUL-terminated string of 1..36 chars. */
bool engine_cid_valid(const engine_cmd *cmd);

/*
 * An invariant the engine relies on was broken (a bug, never user input):
 * prints what and aborts, because continuing could lose or create money.
 */
_Noreturn void engine_fatal(const char *what);

#endif
