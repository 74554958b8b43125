/*
 * net.h: the io threads: io_uring event loops that own client connections,
 * speak HTTP/1.1 and WebSocket, and hand text messages to a dialect.
 *
 * Each of `net.io_threads` threads has its own io_uring
 * (SINGLE_ISSUER|DEFER_TASKRUN when the kernel has them), its own listening
 * socket on net.bind:net.port (SO_REUSEPORT: the kernel spreads new
 * connections over the threads, no accept lock is shared), a fixed table of
 * connection slots, a provided-buffer ring for multishot recv, and pools of
 * send chunks. A connection lives on one thread for its whole life, so
 * nothing about it is ever shared.
 *
 * Functions taking a net_conn run on that connection's io thread only
 * (called from a dialect or route callback).
 */
#ifndef BOURSE_NET_H
#define BOURSE_NET_H

#include "bourse/config.h"
#include "bourse/http.h"
#include "bourse/ring.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct net_conn net_conn;
typedef struct net_server net_server;

/*
 * A WebSocket dialect: the protocol spoken over text messages on one URL
 * path. Callbacks run on the connection's io thread; they must not block.
 */
typedef struct net_dialect {
  const char *name;
  const char *path; /* e.g. "/ws" */
  /* Subprotocols this dialect speaks, NULL-terminated, or NULL for none; the
   * first one the client offers in Sec-WebSocket-Protocol is selected. */
  const char *const *subprotocols;
  /* After the 101 response (req: the upgrade request, valid during the call);
   * typically sends a welcome message. */
  void (*on_open)(net_conn *c, const http_request *req);
  /* One complete, UTF-8 valid text message (data is only valid during the call). */
  void (*on_text)(net_conn *c, const char *data, size_t len);
  /* The connection is going away (any reason); may be NULL. */
  void (*on_close)(net_conn *c);
} net_dialect;

/*
 * An HTTP route: method + exact path. The handler writes exactly one response
 * with net_http_respond. Runs on the io thread.
 */
typedef struct net_route {
  http_method method;
  const char *path; /* exact, or a prefix when it ends in a star: "/admin/markets/" + star */
  void (*handler)(net_conn *c, const http_request *req, const char *body, size_t body_len);
} net_route;

typedef struct net_thread net_thread;

/*
 * Per-io-thread hooks of the layer above (the dialects' shared state:
 * pending engine requests, sessions). init runs on the io thread before its
 * loop and returns the thread's context; poll runs every loop iteration (after
 * the thread announced it may sleep, so anything committed to its rings
 * before poll's check is seen, and anything after wakes the thread) and
 * returns how much it did; fini runs after the loop.
 */
typedef struct net_thread_hooks {
  void *(*init)(void *arg, net_thread *t, unsigned io_index);
  unsigned (*poll)(void *thread_ctx);
  void (*fini)(void *thread_ctx);
  void *arg;
} net_thread_hooks;

/* Installs the hooks; call before net_server_start. */
void net_server_set_hooks(net_server *s, const net_thread_hooks *hooks);

/*
 * The waiter io thread `io` sleeps on (eventfd mode: it wakes the thread's
 * io_uring). Producers into rings that thread polls notify it.
 */
ring_waiter *net_server_waiter(net_server *s, unsigned io);

/* Number of io threads. */
unsigned net_server_threads(const net_server *s);

/* The hooks' context of the connection's io thread. */
void *net_conn_thread_ctx(const net_conn *c);

/*
 * A connection's id: slot and generation, unique on its io thread for the
 * thread's lifetime (a closed connection's id never matches a new one), and
 * never 0.
 */
uint64_t net_conn_id(const net_conn *c);

/* The open connection with this id on thread t, or NULL if it has closed. */
net_conn *net_thread_conn(net_thread *t, uint64_t id);

/* The loop's clock: wall milliseconds read once per loop iteration. */
int64_t net_conn_now_ms(const net_conn *c);

/* Per-connection state reserved for the dialect (NET_CONN_STATE_BYTES, zeroed at open). */
#define NET_CONN_STATE_BYTES 64
void *net_conn_state(net_conn *c);

/* The connection's peer address as text ("" if unknown), for IP allow-lists. */
const char *net_conn_peer(const net_conn *c);

/*
 * HTTP routes that answer later (after an engine round trip): call
 * net_http_defer in the handler; the connection reads no further request
 * until net_http_respond/net_http_error is called for it.
 */
void net_http_defer(net_conn *c);

/* A listening port: its address, what it serves, and who may use it. */
typedef struct net_listener_spec {
  const char *name;  /* "client", "admin": in logs */
  const char *bind;  /* numeric IPv4 or IPv6 address */
  unsigned port;     /* 0: an ephemeral port (see net_server_port) */
  bool every_thread; /* a SO_REUSEPORT listener on every io thread; false: io-0 only */
  const net_dialect *const *dialects;
  unsigned dialect_count;
  const net_route *routes;
  unsigned route_count;
  /* Non-empty: every request must carry "Authorization: Bearer <token>" (else 401). */
  const char *bearer_token;
  bool per_ip_limits; /* apply the [limits] per-IP connection limits */
} net_listener_spec;

#define NET_MAX_LISTENERS 4

/*
 * Creates the server from cfg and the listener specs (all must outlive it):
 * sockets and tables; starts nothing yet. On error returns NULL and writes a
 * reason into err.
 */
net_server *net_server_create(const config *cfg, const net_listener_spec *listeners,
                              unsigned listener_count, char *err, size_t errlen);

/*
 * Starts the io threads ("io-0", ...), each creating its own io_uring.
 * Returns 0, or -1 with a reason in err (e.g. io_uring unavailable).
 */
int net_server_start(net_server *s, char *err, size_t errlen);

/*
 * Stops accepting, closes every WebSocket with 1001 "server shutting down",
 * flushes what can be flushed within a short grace period and joins the io
 * threads. Their waiters and eventfds stay valid (producers such as the engine
 * may still notify them) until net_server_destroy.
 */
void net_server_stop(net_server *s);

/* Frees everything. Call after net_server_stop, once no producer notifies any more. */
void net_server_destroy(net_server *s);

/* The port listener `index` actually listens on (useful when its port was 0). */
unsigned net_server_port(const net_server *s, unsigned index);

/* Sends one text message (framed here). Returns 0, or -1 if the connection is
 * closing or its send queue passed net.max_send_queue (it is then closed with
 * 1008). */
int net_send_text(net_conn *c, const char *data, size_t len);

/*
 * Takes `cost` tokens from the connection's request bucket ([limits]
 * requests_per_s, burst). Returns 0 when the request may proceed, -1 when it
 * is over the limit (answer it with error 5001; the connection stays), -2
 * when the connection kept far over the limit for 10 s and is being closed
 * with 1008 (send nothing more). No system call: it uses the loop's clock.
 */
int net_conn_rate_take(net_conn *c, unsigned cost);

/*
 * A message serialised and framed once and sent to many connections on any
 * io thread (market data): each connection's send queue holds a reference,
 * not a copy. Create with refs = the number of references handed out
 * (net_shared_create sets 1, net_shared_ref adds); the last release frees it.
 * Thread-safe.
 */
typedef struct net_shared {
  _Atomic uint32_t refs;
  uint32_t len;
  uint8_t data[]; /* a complete WebSocket frame */
} net_shared;

/* A shared text frame holding payload[0..len) (refs = 1), or NULL when memory is short. */
net_shared *net_shared_text(const void *payload, size_t len);
void net_shared_ref(net_shared *s, uint32_t n);
void net_shared_release(net_shared *s);

/*
 * Queues a reference to a shared frame (takes one reference; released once
 * sent or when the connection closes). Returns 0, or -1 if the connection is
 * closing (the reference is released). Over net.max_send_queue it closes the
 * connection with 1008 like net_send_text.
 */
int net_send_shared(net_conn *c, net_shared *s);

/* Bytes queued on the connection and not yet sent (for slow-consumer decisions). */
size_t net_conn_queued(const net_conn *c);

/* Starts the WebSocket close handshake with `code` and a short reason. */
void net_close(net_conn *c, unsigned code, const char *reason);

/* A per-thread scratch buffer for composing one message (NET_SCRATCH_BYTES). */
#define NET_SCRATCH_BYTES 65536
char *net_scratch(net_conn *c);

/* The connection's session id, a UUID string (36 characters + NUL). */
const char *net_conn_session(const net_conn *c);

/* The server's configuration. */
const config *net_conn_config(const net_conn *c);

/* Writes a complete HTTP response with a body (Content-Length set here). */
void net_http_respond(net_conn *c, int status, const char *content_type, const char *body,
                      size_t body_len);

/* Writes an error response {"code":status,"msg":msg} with Content-Type JSON. */
void net_http_error(net_conn *c, int status, const char *msg);

/* The same with a protocol error code in the body: {"code":code,"msg":msg}. */
void net_http_error_code(net_conn *c, int status, int code, const char *msg);

/*
 * Writes the server's metrics in Prometheus text format into buf[0..cap);
 * returns the length (truncated output ends at a line boundary).
 */
size_t net_server_metrics(net_server *s, char *buf, size_t cap);

/* The server a connection belongs to. */
net_server *net_conn_server(net_conn *c);

#endif
