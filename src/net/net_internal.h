/*
 * net_internal.h: the io thread's private structures, shared by the files of
 * src/net/ (loop.c: io_uring and connections; conn_http.c: HTTP requests and
 * the WebSocket upgrade; conn_ws.c: WebSocket frames). Everything here is
 * owned by one io thread, except the counters, which other threads read
 * (relaxed atomics, single writer).
 */
#ifndef BOURSE_NET_INTERNAL_H
#define BOURSE_NET_INTERNAL_H

#include "bourse/ipnet.h"
#include "bourse/net.h"
#include "bourse/thread.h"
#include "bourse/ws.h"

#include <liburing.h>
#include <stdatomic.h>

/*
 * A send chunk: connection output is a list of these, from per-thread pools
 * of two sizes. A reply to an idle connection (the usual case) takes a small
 * chunk, so ten thousand welcomes in one loop iteration cost 10 MB, not 160;
 * a connection with more to send gets large chunks.
 */
#define NET_CHUNK_SMALL 1024
#define NET_CHUNK_LARGE 16384
typedef struct net_chunk {
  struct net_chunk *next;
  net_shared *shared; /* non-NULL: this chunk sends shared->data (a reference), not data */
  uint32_t len;       /* bytes written into data (or shared->len) */
  uint32_t sent;      /* bytes already sent */
  uint32_t cap;       /* bytes data can hold (0 for a shared reference) */
  uint32_t large;     /* size class (loop.c): reference, small or large */
  uint8_t data[];
} net_chunk;

static inline const uint8_t *net_chunk_bytes(const net_chunk *ch) {
  return ch->shared ? ch->shared->data : ch->data;
}

typedef struct net_chunk_pool {
  net_chunk *free;
  uint32_t count;
  uint32_t keep; /* most free chunks kept; more are returned to the allocator */
} net_chunk_pool;

/* A growable byte buffer, allocated only while it holds something. */
typedef struct net_buf {
  uint8_t *data;
  uint32_t len;
  uint32_t cap;
} net_buf;

enum net_conn_state {
  CONN_FREE = 0,
  CONN_HTTP,   /* reading HTTP requests */
  CONN_WS,     /* WebSocket open */
  CONN_LINGER, /* failed or finished: input is discarded until EOF or the deadline */
};

enum { NET_LIST_REPLY = 0, NET_LIST_BULK = 1 };

struct net_conn {
  struct net_thread *thread;
  int fd;
  uint32_t generation; /* bumped on every reuse of the slot; tags io_uring user_data */
  uint8_t state;
  bool recv_armed;       /* a multishot recv is outstanding */
  bool send_inflight;    /* a send is outstanding */
  bool listed[2];        /* on the thread's flush list [NET_LIST_REPLY] / [NET_LIST_BULK] */
  bool close_after_send; /* shut the write side once the output is sent */
  bool write_shut;       /* shutdown(SHUT_WR) done */
  bool fixed;            /* fd is also registered at the ring's file slot = conn index */
  bool ws_close_sent;
  bool ws_close_received;
  bool http_keep_alive;   /* of the request being answered */
  uint8_t message_opcode; /* opcode of the fragmented message in progress, 0 = none */
  uint8_t listener;       /* index into the server's listeners */
  uint16_t dialect;       /* index into the listener's dialects */
  uint32_t utf8_state;
  uint32_t http_scanned;
  uint32_t list_next[2];   /* next index on each flush list */
  uint32_t out_bytes;      /* queued, not yet sent */
  uint32_t ip_slot;        /* entry in the thread's per-IP table, NET_NO_IP if none */
  uint64_t rate_tokens;    /* request bucket, in thousandths of a token (burst x 1000 > 2^32) */
  uint32_t rate_rejected;  /* requests refused in the current abuse window */
  int64_t rate_refill_ms;  /* last refill of the bucket */
  int64_t abuse_window_ms; /* start of the current 10 s abuse window */
  int64_t last_rx_ms;
  int64_t next_ping_ms;
  int64_t deadline_ms; /* LINGER or closing: hard close at this time; 0 = none */
  net_buf in;          /* input not yet consumed (partial frame or request) */
  net_buf message;     /* payload of a fragmented message so far */
  net_chunk *out_head;
  net_chunk *out_tail;
  bool http_deferred; /* a route answers later: hold further requests */
  char session[37];
  char peer[46];
  _Alignas(8) uint8_t dialect_state[NET_CONN_STATE_BYTES];
};

#define NET_NO_IP UINT32_MAX

/* Per-IP accounting for connection limits; entries are reused once idle. */
typedef struct net_ip_entry {
  ipnet_addr addr;
  uint32_t open;     /* connections open from this address on this thread */
  uint64_t tokens;   /* connect bucket, thousandths of a connection */
  int64_t refill_ms; /* last refill; 0 = never used */
} net_ip_entry;

typedef struct net_counter {
  _Atomic uint64_t value;
} net_counter;

/* Single-writer increment: a plain load and store, no locked instruction. */
static inline void net_count(net_counter *c, uint64_t n) {
  atomic_store_explicit(&c->value, atomic_load_explicit(&c->value, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

typedef struct net_stats {
  net_counter connections; /* currently open (a gauge, also single-writer) */
  net_counter accepted;
  net_counter rejected_full;
  net_counter closed;
  net_counter http_requests;
  net_counter frames_in;
  net_counter frames_out;
  net_counter messages_in;
  net_counter bytes_in;
  net_counter bytes_out;
  net_counter send_queue_drops;
  net_counter enobufs;
  net_counter loop_iterations;
  net_counter ws_protocol_errors;
  net_counter accept_errors;
  net_counter rejected_per_ip;
  net_counter rate_limited;
  net_counter rate_abuse_closes;
} net_stats;

struct net_thread {
  struct net_server *server;
  unsigned index;
  struct io_uring ring;
  int listen_fds[NET_MAX_LISTENERS]; /* -1 where this thread does not listen */
  int wake_fd;                       /* eventfd: stop requests (later: engine replies) */
  uint64_t wake_value;               /* target of the eventfd read */
  bool accept_armed[NET_MAX_LISTENERS];
  int64_t accept_retry_ms; /* accept paused after EMFILE until then */
  /* Provided buffers for multishot recv (buffer group 0). */
  struct io_uring_buf_ring *buf_ring;
  size_t buf_ring_bytes;
  uint8_t *buffers;
  uint32_t buffer_count;
  uint32_t buffer_size;
  uint32_t buffers_returned; /* since the last advance */
  bool fixed_files;          /* a registered file table of conn_capacity slots */
  /* Connections. */
  struct net_conn *conns;
  uint32_t conn_capacity;
  uint32_t conn_high_water; /* slots [0, high_water) have been used */
  uint32_t *free_slots;
  uint32_t free_count;
  /* Flush lists (FIFO, loop.c): replies and state changes; connections with only
   * shared frames (fan-out) to send. head UINT32_MAX = empty. */
  struct {
    uint32_t head, tail;
  } lists[2];
  /* Per-IP limits: open addressing over ip_capacity (a power of two) entries. */
  net_ip_entry *ip_table;
  uint32_t ip_capacity;
  ipnet_prefix exempt[CONFIG_MAX_EXEMPT_IPS];
  unsigned exempt_count;
  /* Send chunk pool. */
  net_chunk_pool chunks[3]; /* references to shared frames, small, large (loop.c) */
  int64_t now_ms;
  int64_t next_tick_ms;
  _Atomic bool stop;
  char *scratch;
  thread_handle thread;
  ring_waiter waiter; /* eventfd mode on wake_fd */
  void *hooks_ctx;
  net_stats stats;
};

typedef struct net_listener {
  net_listener_spec spec;
  unsigned port; /* as bound */
} net_listener;

struct net_server {
  const config *cfg;
  net_listener listeners[NET_MAX_LISTENERS];
  unsigned listener_count;
  http_limits http_limits;
  unsigned thread_count;
  net_thread *threads;
  net_thread_hooks hooks;
};

/* The listener a connection came in on. */
static inline const net_listener_spec *net_conn_listener(const net_conn *c) {
  return &c->thread->server->listeners[c->listener].spec;
}

/* loop.c */
void net_conn_queue(net_conn *c, const void *data, size_t len);
void net_conn_queue_frame(net_conn *c, uint8_t opcode, const void *payload, size_t len);
void net_conn_linger(net_conn *c, int64_t grace_ms);
void net_conn_close_now(net_conn *c);
void net_conn_resume(net_conn *c);
bool net_conn_over_limit(net_conn *c);

/* conn_http.c: consumes one request from buf; returns bytes used, 0 = need more. */
size_t net_http_consume(net_conn *c, uint8_t *buf, size_t len);

/* conn_ws.c: consumes one frame from buf; returns bytes used, 0 = need more. */
size_t net_ws_consume(net_conn *c, uint8_t *buf, size_t len);
void net_ws_open(net_conn *c, unsigned dialect, const http_request *req);
void net_ws_send_close(net_conn *c, unsigned code, const char *reason, bool fail);
void net_ws_tick(net_conn *c);
void net_ws_closed(net_conn *c);

#endif
