/*
 * load.h: the internals of bourse-load, the bundled WebSocket load generator.
 *
 * Files: main.c (options, the coordinating main thread, exit status),
 * loop.c (one io_uring event loop per worker thread: connect, handshake, send,
 * receive, close), wsclient.c (client side of RFC 6455: handshake and
 * frames), scenario.c (the scenario table and the request/reply machinery),
 * orders.c (the orders scenario), account.c (JWT minting and the admin
 * deposits the orders scenario needs before a run), subscribe.c (the
 * subscribe scenario), publish.c (its publisher thread), report.c (merging
 * per-thread statistics, the table and the JSON object).
 *
 * Threads: the main thread parses options, starts one worker per --threads,
 * then only coordinates (phase timestamps in load_shared, signals, server RSS)
 * and prints the report after joining the workers. Each worker owns a disjoint
 * set of connections, its own io_uring and its own statistics: nothing is
 * shared between workers but the phase timestamps and a few counters in
 * load_shared, all atomics.
 */
#ifndef BOURSE_TOOLS_LOAD_H
#define BOURSE_TOOLS_LOAD_H

#include "bourse/histogram.h"
#include "bourse/thread.h"

#include <liburing.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define LOAD_NS_PER_SEC UINT64_C(1000000000)

/* ---------------------------------------------------------------- options */

/* A text with placeholders ({id} in --message and --expect, %k in the
 * subscribe scenario's channels and paths), split once at start so that
 * sending does not scan: literal pieces[0], id, pieces[1], id, ...,
 * pieces[ids]. */
#define LOAD_TEMPLATE_MAX_IDS 16
typedef struct load_template {
  const char *text;
  size_t len;
  unsigned ids;        /* number of placeholders */
  unsigned marker_len; /* length of the placeholder ("{id}": 4, "%k": 2) */
  uint32_t piece_off[LOAD_TEMPLATE_MAX_IDS + 1];
  uint32_t piece_len[LOAD_TEMPLATE_MAX_IDS + 1];
} load_template;

struct load_scenario;

/* Most --deposit entries. */
#define LOAD_MAX_DEPOSITS 8

/* One --deposit entry: an asset name and an exact decimal amount, as given. */
typedef struct load_deposit {
  char asset[16];
  char amount[40];
} load_deposit;

/*
 * Options of the orders scenario. Prices are counted in ticks and
 * quantities in lots; a price is written as ticks x tick_units at
 * price_scale decimals, a quantity as lots x lot_units at qty_scale.
 */
typedef struct load_orders_options {
  bool given;             /* any orders-only option was given */
  bool account_given;     /* --jwt-secret, --uid-base, --admin-url or --admin-token */
  const char *jwt_secret; /* HS256 secret the server has as auth.jwt_secret */
  uint64_t uid_base;      /* connection i authenticates as uid_base + i */
  const char *admin_url;  /* http://HOST:PORT of the admin API; NULL = no deposits */
  char admin_host[256];   /* as written in the URL, for the Host header */
  struct sockaddr_storage admin_addr;
  socklen_t admin_addr_len;
  const char *admin_token; /* bearer token, NULL = none */
  load_deposit deposits[LOAD_MAX_DEPOSITS];
  unsigned n_deposits;
  bool deposit_given; /* --deposit was on the command line */
  const char *market;
  const char *mid_text, *tick_text, *lot_text, *qty_text; /* as given */
  unsigned price_scale, qty_scale;
  int64_t tick_units, lot_units; /* tick and lot at those scales */
  int64_t mid_ticks, qty_lots;
  int64_t max_ticks;           /* highest price the walk can reach plus the spread */
  int64_t walk_low, walk_high; /* the mid stays in [walk_low, walk_high] ticks */
  int64_t walk_step;           /* every LOAD_ORDERS_WALK_NS the mid moves by -step..+step */
  uint32_t spread_ticks;       /* orders rest 1..spread ticks from the mid */
  uint32_t cross_pct, cancel_pct, amend_pct;
  uint64_t walk_seed; /* the same walk in every worker */
  char run_tag[10];   /* client_id prefix, unique per run: "L" + 8 hex */
} load_orders_options;

/* Most bytes of the subscribe op built from --channels. */
#define LOAD_SUBSCRIBE_MSG_MAX 2048

/* Options of the subscribe scenario (and its publisher). */
typedef struct load_subscribe_options {
  bool given;           /* any subscribe option was given */
  bool raw;             /* --raw: no welcome, no subscribe op, data messages are the bodies */
  const char *channels; /* --channels, comma list, as given */
  char subscribe_msg[LOAD_SUBSCRIBE_MSG_MAX]; /* {"op":"subscribe",...}, built by the check */
  load_template subscribe_tpl;                /* subscribe_msg split at each %k */
  uint32_t spread; /* --spread K: connection i is in group i % K (default 1) */
  bool same_uid;   /* --uid: every connection logs in as `uid` */
  uint64_t uid;
  double publish_rate;         /* publications/s, 0 = no built-in publisher */
  const char *publish_channel; /* bourse: the "channel" of POST /v1/publish */
  const char *publish_path;    /* path of the publish request */
  char publish_channel_buf[48];
  load_template publish_channel_tpl; /* publish_channel split at each %k */
  load_template publish_path_tpl;    /* publish_path split at each %k */
  uint32_t publish_pipeline;         /* most publish requests outstanding on the connection */
  uint32_t publish_pad;              /* bytes of padding in each published body */
} load_subscribe_options;

typedef struct load_options {
  const struct load_scenario *scenario;
  const char *url;
  struct sockaddr_storage target;
  socklen_t target_len;
  char host_header[300];  /* host[:port] as written in the URL */
  char path[2048];        /* path and query, at least "/" */
  load_template path_tpl; /* path; subscribe: split at each %k (the connection's group) */
  uint32_t connections;
  uint32_t threads;
  uint64_t duration_ns;
  uint64_t warmup_ns;
  uint64_t drain_ns;           /* after the window: wait this long for late replies */
  uint64_t connect_timeout_ns; /* TCP connect + WebSocket handshake, per connection */
  double connect_rate;         /* connections/s in total, 0 = as fast as possible */
  double rate;                 /* messages/s in total, 0 = flat out */
  uint32_t inflight;           /* flat out: outstanding requests per connection */
  uint32_t max_inflight;       /* open loop: most outstanding per connection */
  uint32_t buffer_size;        /* receive and send buffer, each, per connection */
  uint64_t busy_poll_ns;       /* --busy-poll: keep polling this long after a completion */
  const char *message;         /* message scenario: the text sent */
  const char *expect;          /* message scenario: substring a reply contains */
  load_template message_tpl;
  load_template expect_tpl;
  uint32_t source_ip_first; /* host byte order; 0 = let the kernel choose */
  uint32_t source_ip_count;
  int server_pid; /* 0 = none */
  bool json;
  load_orders_options orders;
  load_subscribe_options subscribe;
} load_options;

/* ------------------------------------------------------------- statistics */

/* Why a connection never opened. */
typedef enum load_fail {
  LOAD_FAIL_REFUSED,   /* ECONNREFUSED: nothing listens there */
  LOAD_FAIL_TIMEOUT,   /* no connect, handshake (or set-up) within --connect-timeout */
  LOAD_FAIL_ADDRESS,   /* EADDRNOTAVAIL/EADDRINUSE: out of source ports; use --source-ips */
  LOAD_FAIL_FD_LIMIT,  /* EMFILE/ENFILE/ENOBUFS/ENOMEM creating the socket */
  LOAD_FAIL_RESET,     /* ECONNRESET/EPIPE during connect or handshake */
  LOAD_FAIL_CLOSED,    /* the server closed the connection during the handshake */
  LOAD_FAIL_HANDSHAKE, /* not a 101, or a wrong Sec-WebSocket-Accept */
  LOAD_FAIL_SETUP,     /* the scenario's set-up was refused (e.g. auth); see setup_error */
  LOAD_FAIL_OTHER,     /* any other errno; the last one is kept */
  LOAD_FAIL_COUNT
} load_fail;

/* What went wrong after a connection opened. */
typedef enum load_error {
  LOAD_ERR_CLOSED_BY_SERVER, /* close frame or EOF before the run ended */
  LOAD_ERR_RESET,            /* send/receive error (ECONNRESET, EPIPE, ...) */
  LOAD_ERR_PROTOCOL,         /* malformed frame from the server */
  LOAD_ERR_TOO_BIG,          /* a message larger than --buffer-size */
  LOAD_ERR_REPLY,            /* an error reply ({"code":...}) to a request */
  LOAD_ERR_UNMATCHED,        /* a reply whose id was never sent or already answered */
  LOAD_ERR_INFLIGHT_FULL,    /* open loop: a connection had --max-inflight outstanding */
  LOAD_ERR_SEND_FULL,        /* the connection's send buffer was full */
  LOAD_ERR_UNANSWERED,       /* requests in the window still unanswered after the drain */
  LOAD_ERR_COUNT
} load_error;

/* The request kinds of the orders scenario. */
typedef enum load_order_op {
  LOAD_ORDER_PLACE,
  LOAD_ORDER_CANCEL,
  LOAD_ORDER_AMEND,
  LOAD_ORDER_OPS
} load_order_op;

/* Distinct (op, error code) pairs counted per worker; more go to codes_other. */
#define LOAD_MAX_ERROR_CODES 32

typedef struct load_error_code {
  uint16_t code;
  uint8_t op;    /* load_order_op */
  bool expected; /* a race the scenario cannot avoid (see orders.c) */
  uint64_t count;
} load_error_code;

/* What the orders scenario counts; "window" = intended send time in the window. */
typedef struct load_orders_stats {
  uint64_t sent[LOAD_ORDER_OPS];     /* window */
  uint64_t acked[LOAD_ORDER_OPS];    /* success replies to those */
  uint64_t rejected[LOAD_ORDER_OPS]; /* error replies to those */
  histogram latency[LOAD_ORDER_OPS]; /* ns, success and error replies alike */
  uint64_t crossing;                 /* places and re-priced amends through the mid, window */
  uint64_t forced_cancels;           /* a cancel because the open-order table was full */
  uint64_t fills;                    /* @trade pushes, any phase */
  uint64_t fills_window;             /* @trade pushes that arrived during the window */
  uint64_t fills_maker, fills_taker; /* of `fills`, by liquidity */
  uint64_t fills_untracked;          /* @trade for an order not in the table */
  uint32_t n_codes;
  load_error_code codes[LOAD_MAX_ERROR_CODES]; /* error replies, any phase */
  uint64_t codes_other;                        /* error replies beyond the table */
  uint64_t unexpected;                         /* error replies not expected, any phase */
} load_orders_stats;

/* What the subscribe scenario counts. "Stamped" messages carry the
 * publisher's "t" (ns since the epoch); "window" = stamped in the window. */
typedef struct load_subscribe_stats {
  uint64_t delivered;        /* stamped messages published in the window, received */
  uint64_t delivered_total;  /* stamped messages, any phase */
  uint64_t stamped_late;     /* stamped before the window (warmup) or after it */
  uint64_t server_ts;        /* unstamped pushes with a server "ts" (ms) */
  uint64_t wrong_group;      /* --spread: publications of another group's channel, any phase */
  histogram server_ts_delay; /* ns, receive time - server ts, pushes received in the window */
} load_subscribe_stats;

typedef struct load_stats {
  uint64_t attempts; /* connections started */
  uint64_t opened;   /* handshakes completed */
  uint64_t failed[LOAD_FAIL_COUNT];
  int last_other_errno;
  uint64_t first_connect_ns; /* first connect started (0 = none) */
  uint64_t last_open_ns;     /* last handshake completed */
  uint64_t errors[LOAD_ERR_COUNT];
  int last_close_code;     /* from the last close frame the server sent, 0 = none */
  uint64_t sent;           /* requests sent, any phase */
  uint64_t sent_window;    /* requests whose intended send time is in the window */
  uint64_t replies_window; /* replies to those */
  uint64_t replies_other;  /* replies to requests outside the window */
  uint64_t frames_in;      /* data messages received (after reassembly) */
  uint64_t welcomes;       /* messages with "op":"welcome" */
  uint64_t other_messages; /* messages that were neither a reply nor a welcome */
  uint64_t server_pings;   /* ping frames the server sent (each answered) */
  uint64_t bytes_in;
  uint64_t bytes_out;
  uint64_t iterations;   /* event loop iterations (one io_uring_enter each) */
  uint64_t busy_polls;   /* --busy-poll: extra non-blocking io_uring_enter calls */
  histogram latency;     /* ns, replies to requests in the window */
  histogram send_lag;    /* ns from the intended to the actual queueing of window requests */
  histogram connect_ns;  /* TCP connect start to handshake complete */
  char setup_error[200]; /* why the last LOAD_FAIL_SETUP happened */
  load_orders_stats orders;
  load_subscribe_stats subscribe;
} load_stats;

/* ------------------------------------------------------------ connections */

typedef enum load_conn_state {
  LOAD_CONN_IDLE,       /* not started yet */
  LOAD_CONN_CONNECTING, /* TCP connect in flight */
  LOAD_CONN_HANDSHAKE,  /* upgrade request sent, waiting for the 101 */
  LOAD_CONN_SETUP,      /* WebSocket open, the scenario's set-up (auth...) in progress */
  LOAD_CONN_OPEN,
  LOAD_CONN_CLOSING, /* close frame sent or received, waiting for EOF */
  LOAD_CONN_CLOSED,
} load_conn_state;

/* One outstanding request: its sequence number (0 = free slot), the time
 * it was meant to be sent, which latency is measured from, and what kind of
 * request it was (scenario-defined, e.g. load_order_op). */
typedef struct load_inflight {
  uint64_t seq;
  uint64_t intended_ns;
  uint8_t kind;
} load_inflight;

typedef struct load_conn {
  uint32_t index; /* global connection number, from 0 */
  int fd;
  uint8_t state; /* load_conn_state */
  bool recv_armed, send_armed;
  bool dirty;      /* on the thread's dirty list: has bytes to send */
  bool fragmented; /* a fragmented message is being reassembled */
  uint8_t fragment_opcode;
  uint64_t started_ns;
  /* receive buffer: [0, assembled) reassembled fragments, [assembled, rlen) raw bytes */
  uint8_t *rbuf;
  uint32_t rlen, assembled;
  /* send buffer: [woff, wlen) not yet sent; a send in flight reads from woff on */
  uint8_t *wbuf;
  uint32_t woff, wlen;
  char key[25]; /* Sec-WebSocket-Key, base64 of 16 bytes */
  /* requests: ids 1, 2, 3, ... per connection; slot of id s is s % slot_cap */
  uint64_t next_seq;
  uint32_t outstanding;
  load_inflight *slots;
  void *ext; /* the scenario's per-connection state (conn_state_size bytes, zeroed) */
} load_conn;

/* --------------------------------------------------------------- threads */

/* Timestamps the main thread publishes (CLOCK_MONOTONIC ns; 0 = not yet). */
typedef struct load_shared {
  uint64_t start_ns;             /* connecting starts; set before workers start */
  _Atomic uint64_t traffic_ns;   /* every connection settled: warmup starts */
  _Atomic uint64_t measure_ns;   /* warmup over: the measured window starts */
  _Atomic uint64_t end_ns;       /* the window ends; no new requests */
  _Atomic uint64_t drain_end_ns; /* stop waiting for replies; close */
  _Atomic uint32_t settled;      /* connections opened or failed, all workers */
  _Atomic uint32_t opened;       /* connections opened, all workers */
  _Atomic uint32_t workers_done; /* workers that left their loop */
  int64_t wall_offset_ns;        /* CLOCK_REALTIME - CLOCK_MONOTONIC, taken once at start */
} load_shared;

typedef enum load_phase {
  LOAD_PHASE_CONNECTING,
  LOAD_PHASE_WARMUP,
  LOAD_PHASE_MEASURE,
  LOAD_PHASE_DRAIN,
  LOAD_PHASE_CLOSING,
  LOAD_PHASE_DONE,
} load_phase;

typedef struct load_thread {
  unsigned id;
  const load_options *opt;
  load_shared *shared;
  thread_handle handle;
  struct io_uring ring;
  int fatal; /* errno that stopped this worker before it could run, 0 = none */
  load_conn *conns;
  uint32_t n_conns;
  uint32_t next_start; /* local index of the next connection to start */
  uint32_t scan_from;  /* lowest local index that may still be connecting */
  uint32_t connecting; /* started, not yet opened or failed */
  uint32_t open_count; /* currently open */
  uint32_t *dirty;     /* local indices with bytes to send */
  uint32_t n_dirty;
  uint32_t slot_cap; /* inflight slots per connection, a power of two (0 = none) */
  uint8_t *buffers;  /* all connections' buffers, one mapping */
  size_t buffers_size;
  /* multishot recv lands in these provided buffers (group 0), then is copied
   * to the connection's rbuf, where frames are reassembled */
  struct io_uring_buf_ring *recv_ring;
  uint8_t *recv_bufs;
  uint32_t recv_buf_count, recv_buf_size;
  uint32_t recv_returned; /* buffers given back since the last advance */
  load_inflight *slot_memory;
  size_t slot_memory_size;
  uint8_t *ext_memory; /* every connection's scenario state, one mapping */
  size_t ext_memory_size;
  uint64_t now; /* CLOCK_MONOTONIC ns, read once per loop iteration */
  load_phase phase;
  uint64_t traffic_ns, measure_ns, end_ns, drain_end_ns, close_deadline_ns;
  uint64_t next_tick_ns; /* periodic housekeeping (timeouts), every 10 ms */
  uint64_t next_wake_ns; /* scenario asks to be ticked at this time (0 = none) */
  uint64_t prng;         /* xorshift state: masks and handshake keys */
  uint64_t last_busy_ns; /* the last iteration that handled a completion (--busy-poll) */
  struct __kernel_timespec connect_timeout;
  /* scenario state */
  bool traffic_started;
  uint64_t rate_sent; /* open loop: requests scheduled so far in this thread */
  double rate_interval_ns;
  uint32_t rr_next; /* open loop: round-robin position */
  char *scratch;    /* buffer_size bytes, for expanding --expect */
  /* orders scenario: this worker's copy of the mid's random walk */
  bool walk_started;
  uint64_t walk_steps; /* steps taken since shared->start_ns */
  uint64_t walk_prng;
  int64_t walk_mid; /* ticks */
  load_stats stats;
} load_thread;

/* -------------------------------------------------------------- scenarios */

/*
 * A scenario is one row of load_scenarios: a new scenario (subscribe, ...)
 * is added by adding a row. Every hook may be NULL.
 *  - check: validate and complete the options (usage error: return -1 with a
 *    message in err);
 *  - conn_init: when the worker prepares a connection, before connecting;
 *  - on_open: right after the handshake (the connection may send). With
 *    `setup`, the connection is then in LOAD_CONN_SETUP: it still counts as
 *    connecting (under --connect-timeout) until the scenario calls
 *    load_conn_ready or load_conn_setup_failed, and traffic starts only when
 *    every connection is ready or failed;
 *  - on_message: each complete data message from the server (text or binary);
 *  - on_tick: once per loop iteration of the worker, after the phase is
 *    updated; may set t->next_wake_ns to be called again at that time;
 *  - compose: writes request `seq` (intended at intended_ns) into c's send
 *    buffer and may note its kind in slot->kind; false when it did not fit.
 *    NULL: the request is opt->message_tpl expanded with seq.
 */
typedef struct load_scenario {
  const char *name;
  const char *help;
  bool requests;          /* sends requests and measures replies (needs inflight slots) */
  bool setup;             /* connections go through LOAD_CONN_SETUP after the handshake */
  size_t conn_state_size; /* bytes of c->ext per connection (0 = none) */
  int (*check)(load_options *opt, char *err, size_t errlen);
  void (*conn_init)(load_thread *t, load_conn *c);
  void (*on_open)(load_thread *t, load_conn *c);
  void (*on_message)(load_thread *t, load_conn *c, const uint8_t *msg, size_t len, bool text);
  void (*on_tick)(load_thread *t);
  bool (*compose)(load_thread *t, load_conn *c, uint64_t seq, uint64_t intended_ns,
                  load_inflight *slot);
} load_scenario;

extern const load_scenario load_scenarios[];
extern const size_t load_scenario_count;

/* The scenario called name, or NULL. */
const load_scenario *load_scenario_find(const char *name);

/* Splits text at each "{id}". Returns -1 if it has more than
 * LOAD_TEMPLATE_MAX_IDS of them. */
int load_template_parse(load_template *tpl, const char *text);

/* Splits text at each occurrence of marker (NULL: none, the text is one
 * literal piece). tpl keeps the pointer: text must outlive it. Returns -1 if
 * text has more than LOAD_TEMPLATE_MAX_IDS markers. */
int load_template_parse_marker(load_template *tpl, const char *text, const char *marker);

/* Length of tpl expanded with id. */
size_t load_template_length(const load_template *tpl, uint64_t id);

/* Writes tpl expanded with id into out (load_template_length bytes, no NUL). */
void load_template_expand(const load_template *tpl, uint64_t id, char *out);

/* Slots per connection the scenario needs under these options (0 = none). */
uint32_t load_scenario_slot_cap(const load_options *opt);

/* ------------------------------------------- request machinery (scenario.c) */

/* True if a request intended at intended_ns belongs to the measured window. */
bool load_in_window(const load_thread *t, uint64_t intended_ns);

/*
 * Sends the next request on c (sequence number c->next_seq), intended at
 * intended_ns, through the scenario's compose hook or the message template.
 * Returns false, counting the reason, when c already has its most requests
 * outstanding or the frame does not fit.
 */
bool load_request_send(load_thread *t, load_conn *c, uint64_t intended_ns);

/*
 * Frees the slot of request seq and copies it to *out. Returns false, and
 * counts LOAD_ERR_UNMATCHED, if no such request is outstanding on c.
 */
bool load_request_take(load_thread *t, load_conn *c, uint64_t seq, load_inflight *out);

/*
 * Accounts the reply to a request taken with load_request_take: its latency
 * (from the intended send time to now) when it belongs to the window, and,
 * flat out, sends the next request on c.
 */
void load_request_answered(load_thread *t, load_conn *c, const load_inflight *req);

/* The on_tick of request scenarios: the open-loop schedule or the flat-out start. */
void load_requests_tick(load_thread *t);

/* The conn_init of request scenarios: sequence numbers from 1. */
void load_requests_conn_init(load_thread *t, load_conn *c);

/* Counts a message that is not a reply: a welcome or something else. */
void load_count_other(load_thread *t, const uint8_t *msg, size_t len);

/* --------------------------------------------------- orders scenario (orders.c) */

/* The mid moves once per this many ns (every worker follows the same walk). */
#define LOAD_ORDERS_WALK_NS (10 * UINT64_C(1000000))
/* Open orders each connection tracks; when full, the next request cancels one. */
#define LOAD_ORDERS_TRACK 64

/* An open order of one connection, by the sequence number in its client_id. */
typedef struct load_order_entry {
  uint64_t seq;
  int64_t qty_lots;    /* total quantity as last sent (place or amend) */
  int64_t filled_lots; /* seen on @trade */
  uint8_t side;        /* 0 buy, 1 sell */
} load_order_entry;

/* c->ext of the orders scenario. */
typedef struct load_orders_conn {
  uint8_t setup_pending; /* set-up replies still awaited, one bit each */
  uint32_t n_open;
  load_order_entry open[LOAD_ORDERS_TRACK];
} load_orders_conn;

/* The orders scenario's hooks (its row in load_scenarios). */
int load_orders_check(load_options *opt, char *err, size_t errlen);
void load_orders_on_open(load_thread *t, load_conn *c);
void load_orders_on_message(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                            bool text);
bool load_orders_compose(load_thread *t, load_conn *c, uint64_t seq, uint64_t intended_ns,
                         load_inflight *slot);

/* Name of an order op ("place", "cancel", "amend"). */
const char *load_order_op_name(load_order_op op);

/* ------------------------------------------ subscribe scenario (subscribe.c) */

/* c->ext of the subscribe scenario. */
typedef struct load_subscribe_conn {
  uint8_t setup_pending; /* set-up replies still awaited, one bit each */
  uint32_t group;        /* --spread: the connection's group, index % K */
} load_subscribe_conn;

/* The --spread group of connection `index` (0 for every connection when the
 * scenario is not subscribe or K is 1): what %k is replaced by. */
uint32_t load_subscribe_group(const load_options *opt, uint32_t index);

/* The subscribe scenario's hooks (its row in load_scenarios). */
int load_subscribe_check(load_options *opt, char *err, size_t errlen);
void load_subscribe_conn_init(load_thread *t, load_conn *c);
void load_subscribe_on_open(load_thread *t, load_conn *c);
void load_subscribe_on_message(load_thread *t, load_conn *c, const uint8_t *msg, size_t len,
                               bool text);

/*
 * Finds the publisher stamp "t":<digits> in msg and stores it in *t_ns.
 * Returns false when msg has none (or it overflows 64 bits).
 */
bool load_subscribe_find_stamp(const uint8_t *msg, size_t len, uint64_t *t_ns);

/* ------------------------------------------------ the publisher (publish.c) */

/* What the publisher counted. */
typedef struct load_publish_stats {
  uint64_t sent;          /* publications sent, any phase */
  uint64_t sent_window;   /* with their intended time in the window */
  uint64_t ok;            /* 2xx responses */
  uint64_t failed;        /* other responses */
  uint64_t unanswered;    /* requests without a response at the end */
  uint64_t late;          /* publications that waited for a free pipeline slot */
  uint64_t delivered_sum; /* sum of "delivered":N in bourse's replies */
  bool delivered_seen;    /* some reply carried "delivered" */
  int last_status;        /* of the last non-2xx response, 0 = none */
  char last_error[200];   /* its body, or why the connection failed */
  histogram response;     /* ns, intended time -> response */
} load_publish_stats;

/* The publisher thread: --publish-rate publications/s per channel (times
 * --spread channels) over one keep-alive HTTP/1.1 connection, from warmup
 * start to the end of the window. */
typedef struct load_publisher {
  const load_options *opt;
  load_shared *shared;
  thread_handle handle;
  bool started;
  uint64_t late_k; /* the last publication counted as waiting for the pipeline */
  load_publish_stats stats;
} load_publisher;

/* Publisher thread body (thread_fn, arg: load_publisher *). */
void load_publisher_main(void *arg);

/* ------------------------------------------------------------- account.c */

/*
 * Writes an HS256 JWT for uid, valid until exp_s (seconds since the epoch),
 * signed with secret, into out (NUL-terminated). Returns its length, or 0
 * if it does not fit in cap or OpenSSL fails.
 */
size_t load_jwt_mint(const char *secret, uint64_t uid, int64_t exp_s, char *out, size_t cap);

/*
 * Parses --admin-url (http://HOST[:PORT][/]) into o->admin_addr and
 * o->admin_host. Returns 0, or -1 with a message in err.
 */
int load_admin_parse_url(load_orders_options *o, const char *url, char *err, size_t errlen);

/*
 * Parses --deposit (ASSET=AMOUNT[,ASSET=AMOUNT...]) into o->deposits.
 * Returns 0, or -1 with a message in err.
 */
int load_deposits_parse(load_orders_options *o, const char *text, char *err, size_t errlen);

/*
 * Deposits every --deposit amount for uids uid_base .. uid_base + count - 1
 * through POST /admin/deposit, one blocking HTTP/1.1 request after another
 * (set-up, not the measured path). Returns the number of requests made, or
 * -1 with the reason (connection, HTTP status and body) in err.
 */
long load_admin_deposit_all(const load_orders_options *o, uint32_t count, char *err, size_t errlen);

/* ------------------------------------------------------------- the loop */

/*
 * Prepares worker `id` of opt->threads: its share of the connections (global
 * indices id, id + threads, ...) and every buffer they need, allocated once
 * here so the loop never allocates. Returns 0 or an errno value (ENOMEM).
 */
int load_thread_prepare(load_thread *t, unsigned id, const load_options *opt, load_shared *shared,
                        uint64_t seed);

/* Frees what load_thread_prepare allocated (after the thread has ended). */
void load_thread_release(load_thread *t);

/* Worker thread body (thread_fn): runs the event loop of t until done. */
void load_thread_main(void *arg);

/*
 * Appends one masked text frame holding tpl expanded with id to c's send
 * buffer (sent at the end of the loop iteration). Returns false, and counts
 * LOAD_ERR_SEND_FULL, when it does not fit.
 */
bool load_conn_send_template(load_thread *t, load_conn *c, const load_template *tpl, uint64_t id);

/* Queues a close frame with `code` and moves c to CLOSING. */
void load_conn_close_gracefully(load_thread *t, load_conn *c, uint16_t code);

/* Shuts c's socket down and marks it CLOSED; completions still in flight
 * for it are ignored when they arrive. */
void load_conn_abort(load_thread *t, load_conn *c);

/*
 * Appends one masked text frame holding text[0, len) to c's send buffer.
 * Returns false, and counts LOAD_ERR_SEND_FULL, when it does not fit.
 */
bool load_conn_send_text(load_thread *t, load_conn *c, const char *text, size_t len);

/* A connection in LOAD_CONN_SETUP has finished its set-up: it is open now. */
void load_conn_ready(load_thread *t, load_conn *c);

/* A connection's set-up was refused: counts LOAD_FAIL_SETUP, keeps `why`
 * (shown in the report) and drops the connection. */
void load_conn_setup_failed(load_thread *t, load_conn *c, const char *why, size_t len);

/* ---------------------------------------------------------- wsclient.c */

/* Writes a random Sec-WebSocket-Key (24 base64 characters and a NUL). */
void load_ws_make_key(uint64_t *prng, char key[25]);

/* Writes the upgrade request for a connection of --spread group `group` (the
 * %k of the path) into out; returns its length, 0 if it does not fit. */
size_t load_ws_request(char *out, size_t cap, const load_options *opt, const char *key,
                       uint32_t group);

/* Result of load_ws_response. */
typedef enum load_ws_handshake {
  LOAD_WS_INCOMPLETE, /* no blank line yet */
  LOAD_WS_OK,
  LOAD_WS_BAD, /* not a valid 101 for this key */
} load_ws_handshake;

/*
 * Checks the server's handshake response in buf[0, len) for `key`: status
 * 101, Upgrade: websocket, Connection: upgrade, and Sec-WebSocket-Accept
 * equal to base64(SHA-1(key + RFC 6455 GUID)). On LOAD_WS_OK, *header_len is
 * the length of the response header (frames may follow it).
 */
load_ws_handshake load_ws_response(const uint8_t *buf, size_t len, const char *key,
                                   size_t *header_len);

/* Opcodes of RFC 6455. */
enum {
  LOAD_WS_CONTINUATION = 0x0,
  LOAD_WS_TEXT = 0x1,
  LOAD_WS_BINARY = 0x2,
  LOAD_WS_CLOSE = 0x8,
  LOAD_WS_PING = 0x9,
  LOAD_WS_PONG = 0xA,
};

/* The most bytes a client frame header takes (2 + 8 length + 4 mask). */
#define LOAD_WS_MAX_HEADER 14

/*
 * Writes the header of a final, masked client frame with `opcode` and a
 * payload of `len` bytes into out (at least LOAD_WS_MAX_HEADER bytes) and
 * returns its length; the 4-byte mask is its last 4 bytes.
 */
size_t load_ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len, uint64_t *prng);

/* XORs payload[0, len) with the 4-byte mask. */
void load_ws_mask(uint8_t *payload, size_t len, const uint8_t mask[4]);

/* A parsed server frame header. */
typedef struct load_ws_frame {
  bool fin;
  uint8_t opcode;
  uint8_t header_len;
  uint64_t payload_len;
} load_ws_frame;

/* Result of load_ws_parse_header. */
typedef enum load_ws_parse {
  LOAD_WS_NEED_MORE, /* the header is not complete yet */
  LOAD_WS_FRAME,     /* *frame is filled in */
  LOAD_WS_INVALID,   /* RSV bits, masked server frame, unknown opcode, bad control frame */
} load_ws_parse;

/* Parses a server frame header at buf[0, len). */
load_ws_parse load_ws_parse_header(const uint8_t *buf, size_t len, load_ws_frame *frame);

/* Next value of a xorshift64* generator (never returns the same state twice). */
uint64_t load_prng_next(uint64_t *state);

/* ------------------------------------------------------------ report.c */

/* Everything the report needs besides the merged statistics. */
typedef struct load_run {
  const load_options *opt;
  load_stats total;
  const load_publish_stats *publish; /* subscribe with --publish-rate, else NULL */
  long deposits;                     /* orders: deposit requests made before the run, -1 = none */
  double deposit_s;                  /* how long they took */
  uint64_t measured_ns;              /* window length actually run (shorter when interrupted) */
  bool interrupted;
  long rss_before, rss_after; /* bytes, -1 = unknown */
  const char *fatal;          /* set when workers could not run */
} load_run;

/* Zeroes s and initialises its histograms. */
void load_stats_init(load_stats *s);

/* Adds `from` into `into`. */
void load_stats_merge(load_stats *into, const load_stats *from);

/* Counts one error reply with `code` to an order op in s (a table of
 * (op, code) pairs; codes beyond its size are counted together). */
void load_orders_count_code(load_orders_stats *s, load_order_op op, int code, bool expected,
                            uint64_t n);

/* Writes the human summary table. */
void load_report_table(const load_run *run, FILE *out);

/* Writes one JSON object with every figure, and a newline. */
void load_report_json(const load_run *run, FILE *out);

/* Name of a failure reason or error as used in the report and the JSON. */
const char *load_fail_name(load_fail f);
const char *load_error_name(load_error e);

/* The value of HTTP header `name` (case-insensitive) within head[0, len), or NULL; its length
 * in *vlen. For the tool's admin and publish clients (account.c). */
const char *load_http_header(const char *head, size_t len, const char *name, size_t *vlen);

#endif
