/*
 * load.h: the internals of bourse-load, the bundled WebSocket load generator.
 *
 * Files: main.c (options, the coordinating main thread, exit status),
 * loop.c (one io_uring event loop per worker thread: connect, handshake, send,
 * receive, close), wsclient.c (client side of RFC 6455: handshake and
 * frames), scenario.c (the scenario table and the request/reply machinery),
 * report.c (merging per-thread statistics, the table and the JSON object).
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

/* A text with {id} placeholders, split once at start so that sending does
 * not scan: literal pieces[0], id, pieces[1], id, ..., pieces[ids]. */
#define LOAD_TEMPLATE_MAX_IDS 16
typedef struct load_template {
  const char *text;
  size_t len;
  unsigned ids; /* number of {id} */
  uint32_t piece_off[LOAD_TEMPLATE_MAX_IDS + 1];
  uint32_t piece_len[LOAD_TEMPLATE_MAX_IDS + 1];
} load_template;

struct load_scenario;

typedef struct load_options {
  const struct load_scenario *scenario;
  const char *url;
  struct sockaddr_storage target;
  socklen_t target_len;
  char host_header[300]; /* host[:port] as written in the URL */
  char path[2048];       /* path and query, at least "/" */
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
  const char *message;         /* message scenario: the text sent */
  const char *expect;          /* message scenario: substring a reply contains */
  load_template message_tpl;
  load_template expect_tpl;
  uint32_t source_ip_first; /* host byte order; 0 = let the kernel choose */
  uint32_t source_ip_count;
  int server_pid; /* 0 = none */
  bool json;
} load_options;

/* ------------------------------------------------------------- statistics */

/* Why a connection never opened. */
typedef enum load_fail {
  LOAD_FAIL_REFUSED,   /* ECONNREFUSED: nothing listens there */
  LOAD_FAIL_TIMEOUT,   /* no connect or handshake within --connect-timeout */
  LOAD_FAIL_ADDRESS,   /* EADDRNOTAVAIL/EADDRINUSE: out of source ports; use --source-ips */
  LOAD_FAIL_FD_LIMIT,  /* EMFILE/ENFILE/ENOBUFS/ENOMEM creating the socket */
  LOAD_FAIL_RESET,     /* ECONNRESET/EPIPE during connect or handshake */
  LOAD_FAIL_CLOSED,    /* the server closed the connection during the handshake */
  LOAD_FAIL_HANDSHAKE, /* not a 101, or a wrong Sec-WebSocket-Accept */
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
  uint64_t iterations;  /* event loop iterations (one io_uring_enter each) */
  histogram latency;    /* ns, replies to requests in the window */
  histogram connect_ns; /* TCP connect start to handshake complete */
} load_stats;

/* ------------------------------------------------------------ connections */

typedef enum load_conn_state {
  LOAD_CONN_IDLE,       /* not started yet */
  LOAD_CONN_CONNECTING, /* TCP connect in flight */
  LOAD_CONN_HANDSHAKE,  /* upgrade request sent, waiting for the 101 */
  LOAD_CONN_OPEN,
  LOAD_CONN_CLOSING, /* close frame sent or received, waiting for EOF */
  LOAD_CONN_CLOSED,
} load_conn_state;

/* One outstanding request: its sequence number (0 = free slot) and the time
 * it was meant to be sent, which latency is measured from. */
typedef struct load_inflight {
  uint64_t seq;
  uint64_t intended_ns;
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
  load_inflight *slot_memory;
  size_t slot_memory_size;
  uint64_t now; /* CLOCK_MONOTONIC ns, read once per loop iteration */
  load_phase phase;
  uint64_t traffic_ns, measure_ns, end_ns, drain_end_ns, close_deadline_ns;
  uint64_t next_tick_ns; /* periodic housekeeping (timeouts), every 10 ms */
  uint64_t next_wake_ns; /* scenario asks to be ticked at this time (0 = none) */
  uint64_t prng;         /* xorshift state: masks and handshake keys */
  struct __kernel_timespec connect_timeout;
  /* scenario state */
  bool traffic_started;
  uint64_t rate_sent; /* open loop: requests scheduled so far in this thread */
  double rate_interval_ns;
  uint32_t rr_next; /* open loop: round-robin position */
  char *scratch;    /* buffer_size bytes, for expanding --expect */
  load_stats stats;
} load_thread;

/* -------------------------------------------------------------- scenarios */

/*
 * A scenario is one row of load_scenarios: later scenarios (subscribe,
 * orders) are added by adding a row. Every hook may be NULL.
 *  - check: validate and complete the options (usage error: return -1 with a
 *    message in err);
 *  - conn_init: when the worker prepares a connection, before connecting;
 *  - on_open: right after the handshake (the connection may send);
 *  - on_message: each complete data message from the server (text or binary);
 *  - on_tick: once per loop iteration of the worker, after the phase is
 *    updated; may set t->next_wake_ns to be called again at that time.
 */
typedef struct load_scenario {
  const char *name;
  const char *help;
  bool requests; /* sends requests and measures replies (needs inflight slots) */
  int (*check)(load_options *opt, char *err, size_t errlen);
  void (*conn_init)(load_thread *t, load_conn *c);
  void (*on_open)(load_thread *t, load_conn *c);
  void (*on_message)(load_thread *t, load_conn *c, const uint8_t *msg, size_t len, bool text);
  void (*on_tick)(load_thread *t);
} load_scenario;

extern const load_scenario load_scenarios[];
extern const size_t load_scenario_count;

/* The scenario called name, or NULL. */
const load_scenario *load_scenario_find(const char *name);

/* Splits text at each "{id}". Returns -1 if it has more than
 * LOAD_TEMPLATE_MAX_IDS of them. */
int load_template_parse(load_template *tpl, const char *text);

/* Length of tpl expanded with id. */
size_t load_template_length(const load_template *tpl, uint64_t id);

/* Writes tpl expanded with id into out (load_template_length bytes, no NUL). */
void load_template_expand(const load_template *tpl, uint64_t id, char *out);

/* Slots per connection the scenario needs under these options (0 = none). */
uint32_t load_scenario_slot_cap(const load_options *opt);

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

/* ---------------------------------------------------------- wsclient.c */

/* Writes a random Sec-WebSocket-Key (24 base64 characters and a NUL). */
void load_ws_make_key(uint64_t *prng, char key[25]);

/* Writes the upgrade request into out; returns its length, 0 if it does not fit. */
size_t load_ws_request(char *out, size_t cap, const load_options *opt, const char *key);

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
  uint64_t measured_ns; /* window length actually run (shorter when interrupted) */
  bool interrupted;
  long rss_before, rss_after; /* bytes, -1 = unknown */
  const char *fatal;          /* set when workers could not run */
} load_run;

/* Adds `from` into `into`. */
void load_stats_merge(load_stats *into, const load_stats *from);

/* Writes the human summary table. */
void load_report_table(const load_run *run, FILE *out);

/* Writes one JSON object with every figure, and a newline. */
void load_report_json(const load_run *run, FILE *out);

/* Name of a failure reason or error as used in the report and the JSON. */
const char *load_fail_name(load_fail f);
const char *load_error_name(load_error e);

#endif
