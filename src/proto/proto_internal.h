/*
 * proto_internal.h: state the dialects of one io thread share: requests
 * waiting for the engine, the authenticated sessions of each user on this
 * thread, and the connection state of the native dialect. Everything here
 * belongs to one io thread (created by its init hook, see proto_thread_hooks).
 */
#ifndef BOURSE_PROTO_INTERNAL_H
#define BOURSE_PROTO_INTERNAL_H

#include "bourse/auth.h"
#include "bourse/broadcast.h"
#include "bourse/engine_host.h"
#include "bourse/json.h"
#include "bourse/proto.h"

/* A request's "id", echoed in its reply: absent, an int64, or a short string. */
typedef struct proto_id {
  uint8_t kind; /* PROTO_ID_* */
  uint8_t len;
  int64_t number;
  char text[37];
} proto_id;

enum { PROTO_ID_NONE = 0, PROTO_ID_INT, PROTO_ID_STRING };

/* What a pending engine request answers. */
enum proto_op {
  PROTO_OP_PLACE = 1,
  PROTO_OP_CANCEL,
  PROTO_OP_CANCEL_ALL,
  PROTO_OP_AMEND,
  PROTO_OP_ORDERS,
  PROTO_OP_BALANCES,
  PROTO_OP_ADMIN_TRANSFER, /* HTTP: deposit / withdraw */
  PROTO_OP_ADMIN_BALANCES, /* HTTP */
  PROTO_OP_ADMIN_HALT,     /* HTTP: halt / resume */
  PROTO_OP_ADMIN_PUBLISH,  /* HTTP: /v1/publish */
};

typedef struct proto_pending {
  uint64_t conn_id;
  uint32_t next_free;
  uint32_t sequence; /* bumped on reuse: a stale tag never matches */
  uint8_t op;        /* proto_op, 0 = free */
  uint8_t has_order;
  uint8_t rejected;
  uint8_t has_balance;
  uint16_t code;
  uint32_t market;
  uint32_t asset;
  int64_t cancelled;
  int64_t available, hold;
  int64_t updated_ms;
  int64_t delivered;      /* publish: deliveries counted so far */
  uint32_t acks_expected; /* publish: io threads it was forwarded to (known at DONE) */
  uint32_t acks;          /* publish: PUBLISH_ACKs received */
  uint8_t done;           /* publish: DONE seen */
  struct proto_publication *publication;
  proto_id id;
  engine_order_info order;
} proto_pending;

/*
 * A message published to one user's private channel (POST /v1/publish), framed
 * once and shared by the io threads that deliver it. The io thread that took
 * the request owns it: the others only read it before they acknowledge, and
 * the owner frees it once every acknowledgement is in.
 */
typedef struct proto_publication {
  uint64_t uid;
  uint16_t subscription; /* PROTO_SUB_* */
  uint32_t len;
  char text[];
} proto_publication;

/* The native dialect's per-connection state (in net_conn_state, zeroed at open). */
typedef struct proto_conn {
  uint64_t uid;                  /* 0 = not authenticated */
  uint64_t prev_conn, next_conn; /* the uid's sessions on this thread (net_conn ids), 0 = none */
  uint32_t permissions;          /* AUTH_PERM_* */
  uint16_t subscriptions;        /* PROTO_SUB_* */
  uint32_t subscription_count;   /* private and market-data channels */
  uint8_t by_api_key;
  uint32_t market_subs; /* this connection's market-data entries (market.c), UINT32_MAX = none */
} proto_conn;

enum {
  PROTO_SUB_ORDER = 1 << 0,
  PROTO_SUB_TRADE = 1 << 1,
  PROTO_SUB_BALANCE = 1 << 2,
  PROTO_SUB_ACCOUNT = 1 << 3,
  PROTO_SUB_POSITION = 1 << 4,
};

/* A user with sessions on this thread: the head of their connection list. */
typedef struct proto_user {
  uint64_t uid; /* 0 = empty slot */
  uint64_t head_conn;
  uint32_t count;
} proto_user;

typedef struct proto_thread {
  const proto_shared *shared;
  const config *cfg;
  net_thread *net;
  unsigned io;
  ring *commands;
  ring *events;
  ring_waiter *engine_waiter;
  proto_pending *pending;
  uint32_t pending_capacity;
  uint32_t free_pending;
  proto_user *users;
  uint64_t user_mask;
  uint32_t user_count;
  auth_apikey_reader *keys;
  /* The query answer being assembled (its events arrive contiguously). */
  char *query_buf;
  json_writer query;
  uint64_t query_tag;
  bool query_open;
  char *render; /* scratch for pushes */
  /* Market data (market.c). */
  ring *to_broadcast;
  ring *from_broadcast;
  ring_waiter *broadcast_waiter;
  struct proto_market_sub *subs;
  uint32_t sub_capacity, sub_free;
  struct proto_lagging *lagging; /* depth subscribers skipping diffs until they drain */
  uint32_t lagging_count, lagging_capacity;
  uint32_t *channel_heads;          /* per channel index: first entry, UINT32_MAX = none */
  _Atomic uint32_t *channel_counts; /* per channel index: subscribers on this thread (read by
                                       the admin thread to count a publication's deliveries) */
} proto_thread;

#define PROTO_QUERY_BYTES  (4u << 20)
#define PROTO_RENDER_BYTES 65536

/* A parsed request, passed to every op. */
typedef struct request {
  net_conn *c;
  proto_thread *pt;
  proto_conn *pc;
  const json_doc *doc;
  proto_id id;
  uint32_t args; /* the "args" object, or the request itself when absent */
} request;

/* native.c: helpers the op files share */
void proto_reply_begin(json_writer *w, const request *r);
void proto_reply_end(json_writer *w, const request *r);
void proto_fail(const request *r, int code, const char *msg);
bool proto_member_string(const json_doc *doc, uint32_t obj, const char *key, const char **s,
                         size_t *len);
bool proto_need_user(const request *r, uint32_t permission);

/* apikey_ops.c: apikey.list/create/update/delete (name after "apikey.") */
void proto_apikey_op(const request *r, const char *name, size_t len);
unsigned proto_apikey_parse_fields(const json_doc *doc, uint32_t obj, auth_apikey_info *key,
                                   char *why, size_t why_len);
void proto_apikey_write(json_writer *w, const auth_apikey_info *key, const char *secret);

/* market.c */
typedef struct proto_market_sub proto_market_sub;
int proto_market_init(proto_thread *pt);
void proto_market_free(proto_thread *pt);
/* 1 subscribed, 0 already was, -1 out of memory. */
int proto_market_subscribe(proto_thread *pt, net_conn *c, unsigned market, unsigned channel);
bool proto_market_unsubscribe(proto_thread *pt, net_conn *c, unsigned market, unsigned channel);
void proto_market_close(proto_thread *pt, net_conn *c);
void proto_market_list(proto_thread *pt, const proto_conn *pc, json_writer *w);
unsigned proto_market_poll(proto_thread *pt);
/* Hands a framed publication for a public channel to the broadcast thread (takes its ref). */
void proto_market_publish(proto_thread *pt, unsigned market, unsigned channel, net_shared *frame);
/* Subscribers of a public channel over every io thread (a snapshot). */
uint64_t proto_market_subscribers(const proto_shared *s, unsigned market, unsigned channel);

/* session.c */
unsigned proto_publication_deliver(proto_thread *pt, const proto_publication *pub);
void proto_pending_set_publication(proto_thread *pt, uint64_t tag, proto_publication *pub,
                                   unsigned delivered);
void proto_write_id(json_writer *w, const proto_id *id);
void proto_write_order(json_writer *w, const config *cfg, uint32_t market,
                       const engine_order_info *o, int64_t updated_ms);
const char *proto_code_text(int code);
/* asset: the asset a deposit/withdraw reply reports (else 0). Returns the tag, 0 if full. */
uint64_t proto_pending_start(proto_thread *pt, net_conn *c, uint8_t op, const proto_id *id,
                             uint32_t asset);
void proto_pending_abort(proto_thread *pt, uint64_t tag);
bool proto_submit(proto_thread *pt, const engine_cmd *cmd);
void proto_session_add(proto_thread *pt, net_conn *c, uint64_t uid);
void proto_session_remove(proto_thread *pt, net_conn *c);
void proto_send_error(net_conn *c, const proto_id *id, int code, const char *msg);

#endif
