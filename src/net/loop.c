/*
 * loop.c: the io thread: one io_uring per thread, multishot accept, multishot
 * recv into a provided buffer ring, batched sends from per-connection chunk
 * queues, timers, and connection slots. HTTP and WebSocket handling are in
 * conn_http.c and conn_ws.c; this file moves bytes.
 *
 * Runs on the io threads ("io-N"); net_server_create/start/stop run on main,
 * net_server_metrics on any io thread.
 *
 * The hot path is net_loop_run's completion loop: no allocation (input
 * buffers are only allocated while a message is incomplete, send chunks come
 * from a per-thread free list), no lock, and no system call beyond
 * io_uring_submit_and_wait once per iteration.
 */
#include "net_internal.h"

#include "bourse/clock.h"
#include "bourse/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum { UD_ACCEPT = 1, UD_RECV, UD_SEND, UD_WAKE, UD_CANCEL };

#define NET_NO_SLOT           UINT32_MAX
#define NET_SHUTDOWN_GRACE_MS 1000
#define NET_ACCEPT_RETRY_MS   100
/* bulk (fan-out) connections flushed per loop iteration: ~1.5 ms of loopback sends here */
#define NET_BULK_FLUSH 256

static uint64_t user_data(unsigned type, uint32_t index, uint32_t generation) {
  return (uint64_t)type << 56 | (uint64_t)(generation & 0xffffff) << 32 | index;
}

static unsigned ud_type(uint64_t ud) {
  return (unsigned)(ud >> 56);
}
static uint32_t ud_index(uint64_t ud) {
  return (uint32_t)ud;
}
static uint32_t ud_generation(uint64_t ud) {
  return (uint32_t)(ud >> 32) & 0xffffff;
}

static struct io_uring_sqe *net_sqe(net_thread *t) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
  if (!sqe) { /* submission queue full: hand it to the kernel and retry */
    io_uring_submit(&t->ring);
    sqe = io_uring_get_sqe(&t->ring);
  }
  return sqe;
}

/* ---- buffers --------------------------------------------------------------- */

static bool net_buf_append(net_buf *b, const uint8_t *data, size_t len, size_t limit) {
  if ((size_t)b->len + len > limit) return false;
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len) cap *= 2;
    if (cap > limit) cap = limit;
    uint8_t *grown = realloc(b->data, cap);
    if (!grown) return false;
    b->data = grown;
    b->cap = (uint32_t)cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += (uint32_t)len;
  return true;
}

static void net_buf_free(net_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Chunk size classes: a reference to a shared frame (no data), small, large. */
enum { CHUNK_REF, CHUNK_SMALL, CHUNK_LARGE };

static net_chunk *chunk_get(net_thread *t, unsigned size_class) {
  net_chunk_pool *pool = &t->chunks[size_class];
  net_chunk *ch = pool->free;
  if (ch) {
    pool->free = ch->next;
    pool->count--;
  } else {
    static const uint32_t sizes[] = {sizeof(net_chunk), NET_CHUNK_SMALL, NET_CHUNK_LARGE};
    ch = malloc(sizes[size_class]);
    if (!ch) return NULL;
    ch->cap = sizes[size_class] - (uint32_t)sizeof(net_chunk);
    ch->large = size_class;
  }
  ch->next = NULL;
  ch->shared = NULL;
  ch->len = ch->sent = 0;
  return ch;
}

static void chunk_put(net_thread *t, net_chunk *ch) {
  if (ch->shared) {
    net_shared_release(ch->shared);
    ch->shared = NULL;
  }
  net_chunk_pool *pool = &t->chunks[ch->large];
  if (pool->count >= pool->keep) {
    free(ch);
    return;
  }
  ch->next = pool->free;
  pool->free = ch;
  pool->count++;
}

/* ---- connections ------------------------------------------------------------ */

/*
 * Two flush lists. Replies, pushes of one's own orders and every state
 * change go on the reply list, flushed whole each iteration, first marked
 * first sent. A connection that has only shared frames (market data,
 * publications) to send goes on the bulk list, flushed NET_BULK_FLUSH
 * connections per iteration after the reply list: one publication to 10,000
 * subscribers costs the kernel ~60 ms of sends on a small machine, and a
 * market maker's order on the same io thread must not wait for all of it.
 * A connection may be on both lists (separate links); it is released only
 * when on neither.
 */
static void list_push(net_conn *c, unsigned list) {
  net_thread *t = c->thread;
  uint32_t index = (uint32_t)(c - t->conns);
  c->listed[list] = true;
  c->list_next[list] = NET_NO_SLOT;
  if (t->lists[list].head == NET_NO_SLOT)
    t->lists[list].head = index;
  else
    t->conns[t->lists[list].tail].list_next[list] = index;
  t->lists[list].tail = index;
}

/* The first connection of a list, taken off it; NULL when the list is empty. */
static net_conn *list_pop(net_thread *t, unsigned list) {
  uint32_t index = t->lists[list].head;
  if (index == NET_NO_SLOT) return NULL;
  net_conn *c = &t->conns[index];
  t->lists[list].head = c->list_next[list];
  if (t->lists[list].head == NET_NO_SLOT) t->lists[list].tail = NET_NO_SLOT;
  c->listed[list] = false;
  return c;
}

static void mark_dirty(net_conn *c) {
  if (!c->listed[NET_LIST_REPLY]) list_push(c, NET_LIST_REPLY);
}

static void mark_bulk(net_conn *c) {
  /* on the reply list, everything queued is sent with it */
  if (!c->listed[NET_LIST_REPLY] && !c->listed[NET_LIST_BULK]) list_push(c, NET_LIST_BULK);
}

void net_conn_queue(net_conn *c, const void *data, size_t len) {
  if (c->state == CONN_FREE || c->write_shut) return;
  const uint8_t *p = data;
  while (len > 0) {
    net_chunk *tail = c->out_tail;
    if (!tail || tail->shared || tail->len == tail->cap) {
      /* Small while the whole queue fits one small chunk; large once it grows. */
      bool large = (tail != NULL && !tail->shared) || len > NET_CHUNK_SMALL - sizeof(net_chunk);
      net_chunk *ch = chunk_get(c->thread, large ? CHUNK_LARGE : CHUNK_SMALL);
      if (!ch) {
        log_error("out of memory for send chunks: closing connection");
        net_conn_close_now(c);
        return;
      }
      if (tail)
        tail->next = ch;
      else
        c->out_head = ch;
      c->out_tail = tail = ch;
    }
    size_t n = tail->cap - tail->len;
    if (n > len) n = len;
    memcpy(tail->data + tail->len, p, n);
    tail->len += (uint32_t)n;
    c->out_bytes += (uint32_t)n;
    p += n;
    len -= n;
  }
  mark_dirty(c);
}

void net_conn_queue_frame(net_conn *c, uint8_t opcode, const void *payload, size_t len) {
  uint8_t header[WS_MAX_SERVER_HEADER];
  size_t header_len = ws_frame_header_write(header, opcode, len);
  net_conn_queue(c, header, header_len);
  if (len) net_conn_queue(c, payload, len);
  net_count(&c->thread->stats.frames_out, 1);
}

bool net_conn_over_limit(net_conn *c) {
  return c->out_bytes > c->thread->server->cfg->net_max_send_queue;
}

/* Nothing more will be read as protocol: discard input until EOF or the deadline. */
void net_conn_linger(net_conn *c, int64_t grace_ms) {
  c->state = CONN_LINGER;
  c->close_after_send = true;
  c->deadline_ms = c->thread->now_ms + grace_ms;
  net_buf_free(&c->in);
  net_buf_free(&c->message);
  mark_dirty(c);
}

static bool conn_idle(const net_conn *c) {
  return !c->recv_armed && !c->send_inflight;
}

static void ip_release(net_thread *t, uint32_t slot) {
  if (slot != NET_NO_IP && t->ip_table[slot].open > 0) t->ip_table[slot].open--;
}

/* Points the connection's registered file slot at nothing: the table holds a
 * reference to the socket, which close() alone would not drop. */
static void unregister_file(net_conn *c) {
  if (!c->fixed) return;
  int none = -1;
  io_uring_register_files_update(&c->thread->ring, (unsigned)(c - c->thread->conns), &none, 1);
  c->fixed = false;
}

static void conn_release(net_conn *c) {
  net_thread *t = c->thread;
  ip_release(t, c->ip_slot);
  c->ip_slot = NET_NO_IP;
  unregister_file(c);
  close(c->fd);
  net_buf_free(&c->in);
  net_buf_free(&c->message);
  for (net_chunk *ch = c->out_head, *next; ch; ch = next) {
    next = ch->next;
    chunk_put(t, ch);
  }
  c->out_head = c->out_tail = NULL;
  c->out_bytes = 0;
  c->state = CONN_FREE;
  c->fd = -1;
  c->generation++;
  t->free_slots[t->free_count++] = (uint32_t)(c - t->conns);
  net_count(&t->stats.connections, (uint64_t)-1);
  net_count(&t->stats.closed, 1);
}

/*
 * Ends the connection at once. Outstanding io_uring operations still hold the
 * socket; shutdown() makes them complete. The slot is released by the flush
 * at the end of the iteration, once no operation is outstanding: never here,
 * because the connection may be on the flush list, and a slot released now
 * could be reused by an accept in this same iteration while still linked.
 */
void net_conn_close_now(net_conn *c) {
  if (c->state == CONN_FREE || c->fd < 0 || c->deadline_ms == -1) return;
  if (c->state == CONN_WS) net_ws_closed(c);
  if (!conn_idle(c) && (!c->write_shut || c->recv_armed)) shutdown(c->fd, SHUT_RDWR);
  c->write_shut = true;
  c->state = CONN_LINGER;
  c->deadline_ms = -1; /* dying: released by the flush once no operation is outstanding */
  mark_dirty(c);
}

static bool conn_dying(const net_conn *c) {
  return c->deadline_ms == -1;
}

static void random_session(char out[37]) {
  uint8_t b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) { /* never expected; fall back to time + counter */
    static _Thread_local uint64_t counter;
    uint64_t x = (uint64_t)clock_wall_ns() ^ (++counter * 0x9e3779b97f4a7c15ull);
    memcpy(b, &x, 8);
    memcpy(b + 8, &counter, 8);
  }
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
}

/* Refills a bucket of `capacity` thousandths at `per_second` tokens per second. */
static uint64_t bucket_refill(uint64_t tokens, int64_t *refill_ms, int64_t now_ms,
                              uint64_t per_second, uint64_t capacity) {
  int64_t elapsed = now_ms - *refill_ms;
  *refill_ms = now_ms;
  if (elapsed <= 0) return tokens;
  uint64_t refilled = tokens + (uint64_t)elapsed * per_second; /* ms x tokens/s = thousandths */
  return refilled > capacity ? capacity : refilled;
}

/*
 * Finds or claims the per-IP entry of addr. Linear probing over at most 64
 * entries; an entry with no open connection and a full bucket is free for
 * reuse. Returns NET_NO_IP when no entry is available (limits then do not
 * apply to this connection: failing open beats refusing everyone).
 */
static uint32_t ip_lookup(net_thread *t, const ipnet_addr *addr, uint64_t bucket_capacity) {
  uint64_t hash = 1469598103934665603ull;
  for (int i = 0; i < 16; i++) hash = (hash ^ addr->bytes[i]) * 1099511628211ull;
  uint32_t mask = t->ip_capacity - 1, reusable = NET_NO_IP;
  for (uint32_t probe = 0; probe < 64 && probe < t->ip_capacity; probe++) {
    uint32_t slot = (uint32_t)(hash + probe) & mask;
    net_ip_entry *e = &t->ip_table[slot];
    if (e->refill_ms != 0 && memcmp(&e->addr, addr, sizeof(*addr)) == 0) return slot;
    bool idle = e->refill_ms == 0 ||
                (e->open == 0 && bucket_refill(e->tokens, &(int64_t){e->refill_ms}, t->now_ms,
                                               t->server->cfg->limits_connect_rate_per_ip,
                                               bucket_capacity) == bucket_capacity);
    if (idle && reusable == NET_NO_IP) reusable = slot;
    if (e->refill_ms == 0) break; /* never used: the key is not further along */
  }
  if (reusable == NET_NO_IP) return NET_NO_IP;
  net_ip_entry *e = &t->ip_table[reusable];
  e->addr = *addr;
  e->open = 0;
  e->tokens = bucket_capacity;
  e->refill_ms = t->now_ms;
  return reusable;
}

/* Applies the per-IP limits to a new connection; returns false if it is refused. */
static bool ip_admit(net_thread *t, const struct sockaddr *peer, uint32_t *slot_out) {
  const config *cfg = t->server->cfg;
  ipnet_addr addr;
  *slot_out = NET_NO_IP;
  if (!ipnet_from_sockaddr(peer, &addr) || ipnet_match_any(t->exempt, t->exempt_count, &addr))
    return true;
  uint64_t capacity = 2000ull * cfg->limits_connect_rate_per_ip;
  uint32_t slot = ip_lookup(t, &addr, capacity);
  if (slot == NET_NO_IP) return true;
  net_ip_entry *e = &t->ip_table[slot];
  e->tokens =
      bucket_refill(e->tokens, &e->refill_ms, t->now_ms, cfg->limits_connect_rate_per_ip, capacity);
  if (e->open >= cfg->limits_connections_per_ip || e->tokens < 1000) return false;
  e->tokens -= 1000;
  e->open++;
  *slot_out = slot;
  return true;
}

static void refuse_connection(net_thread *t, int fd) {
  static const char body[] =
      "{\"code\":429,\"msg\":\"too many connections from this address; retry later\"}";
  char reply[256];
  int n = snprintf(reply, sizeof(reply),
                   "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   sizeof(body) - 1, body);
  /* A fresh socket's send buffer is empty: this never blocks. Rare path. */
  ssize_t sent = send(fd, reply, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)sent;
  close(fd);
  net_count(&t->stats.rejected_per_ip, 1);
}

static void conn_open(net_thread *t, int fd, unsigned listener) {
  if (t->free_count == 0) {
    net_count(&t->stats.rejected_full, 1);
    close(fd);
    return;
  }
  struct sockaddr_storage peer;
  socklen_t peer_len = sizeof(peer);
  if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0) peer.ss_family = AF_UNSPEC;
  uint32_t ip_slot = NET_NO_IP;
  if (t->server->listeners[listener].spec.per_ip_limits &&
      !ip_admit(t, (struct sockaddr *)&peer, &ip_slot)) {
    refuse_connection(t, fd);
    return;
  }
  uint32_t index = t->free_slots[--t->free_count];
  if (index >= t->conn_high_water) t->conn_high_water = index + 1;
  net_conn *c = &t->conns[index];
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  uint32_t generation = c->generation;
  memset(c, 0, sizeof(*c));
  c->thread = t;
  c->generation = generation;
  c->fd = fd;
  /* Registered (fixed) file: sends and receives skip the kernel's per-op
   * descriptor lookup and reference count; a syscall per accept, not per message. */
  c->fixed = t->fixed_files && io_uring_register_files_update(&t->ring, index, &fd, 1) == 1;
  c->listener = (uint8_t)listener;
  c->state = CONN_HTTP;
  c->last_rx_ms = t->now_ms;
  c->ip_slot = ip_slot;
  if (peer.ss_family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, c->peer, sizeof(c->peer));
  else if (peer.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, c->peer, sizeof(c->peer));
  c->rate_tokens = (uint64_t)t->server->cfg->limits_burst * 1000u;
  c->rate_refill_ms = c->abuse_window_ms = t->now_ms;
  random_session(c->session);
  net_count(&t->stats.accepted, 1);
  net_count(&t->stats.connections, 1);
  mark_dirty(c); /* the flush arms its recv */
}

/* Feeds bytes to the protocol of the connection's state; returns bytes used. */
static size_t conn_process(net_conn *c, uint8_t *buf, size_t len) {
  size_t pos = 0;
  while (pos < len && !conn_dying(c)) {
    size_t n;
    if (c->state == CONN_HTTP && c->http_deferred)
      break; /* a response is pending: later requests wait in c->in */
    if (c->state == CONN_HTTP)
      n = net_http_consume(c, buf + pos, len - pos);
    else if (c->state == CONN_WS)
      n = net_ws_consume(c, buf + pos, len - pos);
    else
      n = len - pos; /* LINGER: discard */
    if (n == 0) break;
    pos += n;
  }
  return pos;
}

/* The most input a connection may hold unconsumed in its state. */
static size_t conn_input_limit(const net_conn *c) {
  const net_server *s = c->thread->server;
  if (c->state == CONN_WS) return (size_t)s->cfg->net_max_message + 14 + c->thread->buffer_size;
  return (size_t)s->http_limits.max_header_bytes + s->http_limits.max_body_bytes +
         c->thread->buffer_size;
}

static void conn_input_overflow(net_conn *c) {
  if (c->state == CONN_WS)
    net_ws_send_close(c, WS_CLOSE_TOO_BIG, "message too big", true);
  else if (c->state == CONN_HTTP)
    net_http_error(c, 431, "request too large");
  net_conn_linger(c, 2000);
}

/* Feeds the connection's buffered input to its protocol and keeps what is left. */
static void process_buffered(net_conn *c) {
  size_t used = conn_process(c, c->in.data, c->in.len);
  if (c->in.data == NULL) return; /* the protocol dropped the input (linger) */
  if (used >= c->in.len) {
    net_buf_free(&c->in);
  } else if (used > 0) {
    memmove(c->in.data, c->in.data + used, c->in.len - used);
    c->in.len -= (uint32_t)used;
  }
}

static void conn_input(net_conn *c, uint8_t *data, size_t len) {
  net_thread *t = c->thread;
  c->last_rx_ms = t->now_ms;
  net_count(&t->stats.bytes_in, len);
  if (c->in.len == 0) { /* common case: parse straight out of the kernel's buffer */
    size_t used = conn_process(c, data, len);
    if (used < len && !conn_dying(c) && c->state != CONN_LINGER &&
        !net_buf_append(&c->in, data + used, len - used, conn_input_limit(c)))
      conn_input_overflow(c);
    return;
  }
  if (!net_buf_append(&c->in, data, len, conn_input_limit(c))) {
    conn_input_overflow(c);
    return;
  }
  process_buffered(c);
}

/* ---- io_uring operations ------------------------------------------------------ */

static void arm_accept(net_thread *t, unsigned listener) {
  struct io_uring_sqe *sqe = net_sqe(t);
  io_uring_prep_multishot_accept(sqe, t->listen_fds[listener], NULL, NULL, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, user_data(UD_ACCEPT, listener, 0));
  t->accept_armed[listener] = true;
}

static void arm_accepts(net_thread *t) {
  for (unsigned i = 0; i < t->server->listener_count; i++)
    if (t->listen_fds[i] >= 0 && !t->accept_armed[i]) arm_accept(t, i);
}

static void arm_wake(net_thread *t) {
  struct io_uring_sqe *sqe = net_sqe(t);
  io_uring_prep_read(sqe, t->wake_fd, &t->wake_value, sizeof(t->wake_value), 0);
  io_uring_sqe_set_data64(sqe, user_data(UD_WAKE, 0, 0));
}

/* What an SQE names the connection's socket by: its registered slot or its fd. */
static int conn_file(const net_conn *c) {
  return c->fixed ? (int)(c - c->thread->conns) : c->fd;
}

static uint8_t conn_file_flag(const net_conn *c) {
  return c->fixed ? IOSQE_FIXED_FILE : 0;
}

static void arm_recv(net_conn *c) {
  net_thread *t = c->thread;
  struct io_uring_sqe *sqe = net_sqe(t);
  io_uring_prep_recv_multishot(sqe, conn_file(c), NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT | conn_file_flag(c);
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, user_data(UD_RECV, (uint32_t)(c - t->conns), c->generation));
  c->recv_armed = true;
}

static void submit_send(net_conn *c) {
  net_thread *t = c->thread;
  net_chunk *ch = c->out_head;
  struct io_uring_sqe *sqe = net_sqe(t);
  io_uring_prep_send(sqe, conn_file(c), net_chunk_bytes(ch) + ch->sent, ch->len - ch->sent,
                     MSG_NOSIGNAL);
  sqe->flags |= conn_file_flag(c);
  io_uring_sqe_set_data64(sqe, user_data(UD_SEND, (uint32_t)(c - t->conns), c->generation));
  c->send_inflight = true;
}

static void return_buffer(net_thread *t, unsigned bid) {
  io_uring_buf_ring_add(t->buf_ring, t->buffers + (size_t)bid * t->buffer_size, t->buffer_size,
                        (unsigned short)bid, io_uring_buf_ring_mask(t->buffer_count),
                        (int)t->buffers_returned);
  t->buffers_returned++;
}

static net_conn *conn_of(net_thread *t, uint64_t ud) {
  uint32_t index = ud_index(ud);
  if (index >= t->conn_capacity) return NULL;
  net_conn *c = &t->conns[index];
  if (c->state == CONN_FREE || (c->generation & 0xffffff) != ud_generation(ud)) return NULL;
  return c;
}

static void on_accept(net_thread *t, const struct io_uring_cqe *cqe) {
  unsigned listener = ud_index(cqe->user_data);
  if (!(cqe->flags & IORING_CQE_F_MORE)) t->accept_armed[listener] = false;
  if (cqe->res >= 0) {
    if (atomic_load_explicit(&t->stop, memory_order_relaxed))
      close(cqe->res);
    else
      conn_open(t, cqe->res, listener);
    return;
  }
  if (cqe->res == -ECANCELED) return;
  net_count(&t->stats.accept_errors, 1);
  if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOMEM) {
    /* Out of descriptors: pause accepting instead of spinning on the error. */
    log_warn("accept: %s; pausing accepts for %d ms", strerror(-cqe->res), NET_ACCEPT_RETRY_MS);
    t->accept_retry_ms = t->now_ms + NET_ACCEPT_RETRY_MS;
  }
}

static void on_recv(net_thread *t, const struct io_uring_cqe *cqe) {
  net_conn *c = conn_of(t, cqe->user_data);
  bool has_buffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
  unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
  if (!c) { /* stale completion of a slot since reused: just give the buffer back */
    if (has_buffer) return_buffer(t, bid);
    return;
  }
  if (!(cqe->flags & IORING_CQE_F_MORE)) c->recv_armed = false;
  if (cqe->res > 0 && has_buffer) {
    if (!conn_dying(c)) conn_input(c, t->buffers + (size_t)bid * t->buffer_size, (size_t)cqe->res);
    return_buffer(t, bid);
  } else if (has_buffer) {
    return_buffer(t, bid);
  }
  if (cqe->res == -ENOBUFS) {
    /* Every provided buffer is in use: not a close. Re-armed by the flush,
     * after this batch has returned its buffers. */
    net_count(&t->stats.enobufs, 1);
  } else if (cqe->res == 0) {
    net_conn_close_now(c); /* EOF */
  } else if (cqe->res < 0 && cqe->res != -ECANCELED) {
    net_conn_close_now(c); /* ECONNRESET and friends */
  }
  if (c->state != CONN_FREE) mark_dirty(c);
}

static void on_send(net_thread *t, const struct io_uring_cqe *cqe) {
  net_conn *c = conn_of(t, cqe->user_data);
  if (!c) return;
  c->send_inflight = false;
  if (cqe->res < 0) {
    if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
      mark_dirty(c);
      return;
    }
    net_conn_close_now(c);
    if (c->state != CONN_FREE) mark_dirty(c);
    return;
  }
  net_count(&t->stats.bytes_out, (uint64_t)cqe->res);
  net_chunk *ch = c->out_head;
  if (ch) {
    ch->sent += (uint32_t)cqe->res; /* a short send leaves the rest for the next one */
    c->out_bytes -= (uint32_t)cqe->res;
    if (ch->sent == ch->len) {
      c->out_head = ch->next;
      if (!c->out_head) c->out_tail = NULL;
      chunk_put(t, ch);
    }
  }
  mark_dirty(c);
}

/* One connection at the end of an iteration: arm its recv, start its send, finish its close. */
static void flush_conn(net_thread *t, net_conn *c) {
  if (c->state == CONN_FREE) return;
  if (conn_dying(c)) {
    if (conn_idle(c) && !c->listed[NET_LIST_REPLY] && !c->listed[NET_LIST_BULK]) conn_release(c);
    return;
  }
  if (!c->send_inflight && c->out_head && c->out_head->len > c->out_head->sent) submit_send(c);
  if (!c->send_inflight && !c->out_head && c->close_after_send && !c->write_shut) {
    shutdown(c->fd, SHUT_WR); /* FIN after the last byte; read on until EOF */
    c->write_shut = true;
    if (c->deadline_ms == 0) c->deadline_ms = t->now_ms + 2000;
  }
  if (!c->recv_armed) arm_recv(c);
}

/* End of an iteration: the whole flush list, then up to NET_BULK_FLUSH of the bulk list.
 * True when bulk connections are left for the next iteration (it must not sleep). */
static bool flush_dirty(net_thread *t) {
  net_conn *c;
  while ((c = list_pop(t, NET_LIST_REPLY)) != NULL) flush_conn(t, c);
  for (unsigned n = 0; n < NET_BULK_FLUSH && (c = list_pop(t, NET_LIST_BULK)) != NULL; n++)
    flush_conn(t, c);
  return t->lists[NET_LIST_BULK].head != NET_NO_SLOT;
}

static void tick(net_thread *t) {
  const config *cfg = t->server->cfg;
  for (uint32_t i = 0; i < t->conn_high_water; i++) {
    net_conn *c = &t->conns[i];
    if (c->state == CONN_FREE || conn_dying(c)) continue;
    if (c->deadline_ms > 0 && t->now_ms >= c->deadline_ms) {
      net_conn_close_now(c);
      mark_dirty(c);
    } else if (c->state == CONN_WS) {
      net_ws_tick(c);
    } else if (c->state == CONN_HTTP &&
               t->now_ms - c->last_rx_ms >= (int64_t)cfg->ws_ping_timeout_ms) {
      net_conn_close_now(c); /* idle keep-alive or a request that never completes */
      mark_dirty(c);
    }
  }
  if (t->accept_retry_ms <= t->now_ms && !atomic_load_explicit(&t->stop, memory_order_relaxed))
    arm_accepts(t);
}

static uint32_t tick_interval_ms(const config *cfg) {
  uint32_t ms = cfg->ws_ping_interval_ms < cfg->ws_ping_timeout_ms ? cfg->ws_ping_interval_ms
                                                                   : cfg->ws_ping_timeout_ms;
  /* at most 100 ms: pings due are sent in small groups, not a second's worth at once */
  ms /= 4;
  if (ms < 10) ms = 10;
  if (ms > 100) ms = 100;
  return ms;
}

static void begin_shutdown(net_thread *t) {
  for (unsigned i = 0; i < t->server->listener_count; i++) {
    if (!t->accept_armed[i]) continue;
    struct io_uring_sqe *sqe = net_sqe(t);
    io_uring_prep_cancel64(sqe, user_data(UD_ACCEPT, i, 0), 0);
    io_uring_sqe_set_data64(sqe, user_data(UD_CANCEL, 0, 0));
  }
  for (uint32_t i = 0; i < t->conn_high_water; i++) {
    net_conn *c = &t->conns[i];
    if (c->state == CONN_WS && !c->ws_close_sent)
      net_ws_send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down", false);
    else if (c->state == CONN_HTTP)
      net_conn_close_now(c);
    if (c->state != CONN_FREE) mark_dirty(c);
  }
}

static unsigned process_completions(net_thread *t) {
  struct io_uring_cqe *cqe;
  unsigned head, count = 0;
  io_uring_for_each_cqe(&t->ring, head, cqe) {
    count++;
    switch (ud_type(cqe->user_data)) {
    case UD_ACCEPT:
      on_accept(t, cqe);
      break;
    case UD_RECV:
      on_recv(t, cqe);
      break;
    case UD_SEND:
      on_send(t, cqe);
      break;
    case UD_WAKE: /* engine events or a stop request: poll runs every iteration anyway */
      if (!atomic_load(&t->stop)) arm_wake(t);
      break;
    default:
      break; /* UD_CANCEL: nothing to do */
    }
  }
  io_uring_cq_advance(&t->ring, count);
  if (t->buffers_returned) {
    io_uring_buf_ring_advance(t->buf_ring, (int)t->buffers_returned);
    t->buffers_returned = 0;
  }
  return count;
}

static void net_loop_run(net_thread *t) {
  const config *cfg = t->server->cfg;
  uint32_t tick_ms = tick_interval_ms(cfg);
  int64_t shutdown_deadline = 0;
  t->now_ms = clock_wall_ms();
  t->next_tick_ms = t->now_ms + tick_ms;
  arm_accepts(t);
  arm_wake(t);
  net_thread_hooks *hooks = &t->server->hooks;
  for (;;) {
    /* Announce the sleep before polling: an event committed after the poll's
     * check sees a sleeper and writes the eventfd, whose read wakes the ring. */
    ring_waiter_prepare(&t->waiter);
    bool may_sleep = !(hooks->poll && hooks->poll(t->hooks_ctx) > 0);
    if (flush_dirty(t)) may_sleep = false; /* bulk sends left: go on after the completions */
    int64_t wait_ms = t->next_tick_ms - t->now_ms;
    if (wait_ms < 0) wait_ms = 0;
    struct __kernel_timespec ts = {.tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000};
    struct io_uring_cqe *cqe;
    /* Not sleeping (more work queued): still enter with GETEVENTS. With DEFER_TASKRUN a
     * network completion (a recv) reaches the ring only when this thread runs its task
     * work, which a submit-only enter does not: a busy thread would not see new
     * requests until it next slept. */
    if (may_sleep)
      io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts, NULL);
    else
      io_uring_submit_and_get_events(&t->ring);
    ring_waiter_cancel(&t->waiter);
    t->now_ms = clock_wall_ms();
    net_count(&t->stats.loop_iterations, 1);
    process_completions(t);
    if (t->now_ms >= t->next_tick_ms) {
      tick(t);
      t->next_tick_ms = t->now_ms + tick_ms;
    }
    if (atomic_load_explicit(&t->stop, memory_order_acquire)) {
      if (shutdown_deadline == 0) {
        shutdown_deadline = t->now_ms + NET_SHUTDOWN_GRACE_MS;
        begin_shutdown(t);
      }
      if (atomic_load_explicit(&t->stats.connections.value, memory_order_relaxed) == 0 ||
          t->now_ms >= shutdown_deadline)
        break;
    }
  }
}

/* ---- set-up and tear-down -------------------------------------------------------- */

static int open_listener(const char *bind_address, unsigned port, unsigned *bound_port, char *err,
                         size_t errlen) {
  struct sockaddr_in6 addr6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
  struct sockaddr_in addr4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  struct sockaddr *addr;
  socklen_t addr_len;
  int family;
  if (inet_pton(AF_INET, bind_address, &addr4.sin_addr) == 1) {
    family = AF_INET;
    addr = (struct sockaddr *)&addr4;
    addr_len = sizeof(addr4);
  } else if (inet_pton(AF_INET6, bind_address, &addr6.sin6_addr) == 1) {
    family = AF_INET6;
    addr = (struct sockaddr *)&addr6;
    addr_len = sizeof(addr6);
  } else {
    snprintf(err, errlen, "[net] bind '%s' is not an IPv4 or IPv6 address", bind_address);
    return -1;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, addr, addr_len) != 0 || listen(fd, 4096) != 0) {
    snprintf(err, errlen, "cannot listen on %s:%u: %s", bind_address, port, strerror(errno));
    close(fd);
    return -1;
  }
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof(bound);
  getsockname(fd, (struct sockaddr *)&bound, &bound_len);
  *bound_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                        : ((struct sockaddr_in6 *)&bound)->sin6_port);
  return fd;
}

static int setup_ring(net_thread *t, char *err, size_t errlen) {
  struct io_uring_params params;
  const unsigned attempts[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE, IORING_SETUP_CQSIZE};
  int rc = -EINVAL;
  for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]) && rc == -EINVAL; i++) {
    memset(&params, 0, sizeof(params));
    params.flags = attempts[i];
    params.cq_entries = 16384;
    rc = io_uring_queue_init_params(4096, &t->ring, &params);
  }
  if (rc == -ENOSYS || rc == -EPERM) {
    snprintf(err, errlen,
             "io_uring is unavailable (%s): it is disabled by the kernel.io_uring_disabled "
             "sysctl, by a seccomp profile (containers), or the kernel is too old; bourse "
             "needs io_uring",
             strerror(-rc));
    return -1;
  }
  if (rc < 0) {
    snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-rc));
    return -1;
  }
  /* Provided buffer ring, registered by hand (liburing 2.3 has no helper). */
  t->buf_ring_bytes = (size_t)t->buffer_count * sizeof(struct io_uring_buf);
  void *mapped =
      mmap(NULL, t->buf_ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mapped == MAP_FAILED) {
    snprintf(err, errlen, "mmap buffer ring: %s", strerror(errno));
    return -1;
  }
  t->buf_ring = mapped;
  struct io_uring_buf_reg reg = {
      .ring_addr = (unsigned long)mapped, .ring_entries = t->buffer_count, .bgid = 0};
  rc = io_uring_register_buf_ring(&t->ring, &reg, 0);
  if (rc != 0) {
    snprintf(err, errlen, "io_uring_register_buf_ring: %s (kernel too old?)", strerror(-rc));
    return -1;
  }
  io_uring_buf_ring_init(t->buf_ring);
  for (uint32_t i = 0; i < t->buffer_count; i++) return_buffer(t, i);
  io_uring_buf_ring_advance(t->buf_ring, (int)t->buffers_returned);
  t->buffers_returned = 0;
  /* A registered file table, one slot per connection. Optional: the kernel
   * refuses more slots than RLIMIT_NOFILE, and then sockets go by fd. */
  t->fixed_files = io_uring_register_files_sparse(&t->ring, t->conn_capacity) == 0;
  return 0;
}

struct thread_start_state {
  net_thread *t;
  _Atomic int status; /* 0 pending, 1 ready, -1 failed */
  char err[256];
};

static void io_thread_main(void *arg) {
  struct thread_start_state *st = arg;
  net_thread *t = st->t;
  /* The ring is created here: SINGLE_ISSUER|DEFER_TASKRUN tie it to this thread. */
  if (setup_ring(t, st->err, sizeof(st->err)) != 0) {
    atomic_store(&st->status, -1);
    return;
  }
  atomic_store(&st->status, 1); /* st is not touched after this */
  for (unsigned i = 0; i < t->server->listener_count; i++)
    if (t->listen_fds[i] >= 0)
      log_info("io thread %u: %s listener on %s:%u", t->index, t->server->listeners[i].spec.name,
               t->server->listeners[i].spec.bind, t->server->listeners[i].port);
  log_info("io thread %u: %u connection slots, %u x %u B receive buffers", t->index,
           t->conn_capacity, t->buffer_count, t->buffer_size);
  if (t->server->hooks.init)
    t->hooks_ctx = t->server->hooks.init(t->server->hooks.arg, t, t->index);
  net_loop_run(t);
  if (t->server->hooks.fini) t->server->hooks.fini(t->hooks_ctx);
  for (uint32_t i = 0; i < t->conn_high_water; i++)
    if (t->conns[i].state != CONN_FREE) {
      t->conns[i].recv_armed = t->conns[i].send_inflight = false;
      conn_release(&t->conns[i]);
    }
  io_uring_queue_exit(&t->ring);
  log_info("io thread %u stopped", t->index);
}

static void thread_free(net_thread *t) {
  for (unsigned i = 0; i < NET_MAX_LISTENERS; i++)
    if (t->listen_fds[i] >= 0) close(t->listen_fds[i]);
  if (t->wake_fd >= 0) close(t->wake_fd);
  if (t->buf_ring) munmap(t->buf_ring, t->buf_ring_bytes);
  free(t->buffers);
  free(t->conns);
  free(t->free_slots);
  free(t->ip_table);
  free(t->scratch);
  for (int k = 0; k < 3; k++)
    while (t->chunks[k].free) {
      net_chunk *next = t->chunks[k].free->next;
      free(t->chunks[k].free);
      t->chunks[k].free = next;
    }
}

static int thread_init(net_server *s, net_thread *t, unsigned index, char *err, size_t errlen) {
  const config *cfg = s->cfg;
  memset(t, 0, sizeof(*t));
  t->server = s;
  t->index = index;
  t->wake_fd = -1;
  for (unsigned i = 0; i < NET_MAX_LISTENERS; i++) t->listen_fds[i] = -1;
  for (unsigned l = 0; l < 2; l++) t->lists[l].head = t->lists[l].tail = NET_NO_SLOT;
  t->conn_capacity = cfg->net_max_connections;
  t->buffer_count = cfg->net_recv_buffers;
  t->buffer_size = cfg->net_recv_buffer_size;
  t->conns = calloc(t->conn_capacity, sizeof(net_conn));
  t->free_slots = malloc(sizeof(uint32_t) * t->conn_capacity);
  t->buffers = aligned_alloc(4096, (size_t)t->buffer_count * t->buffer_size);
  t->scratch = malloc(NET_SCRATCH_BYTES);
  if (!t->conns || !t->free_slots || !t->buffers || !t->scratch) {
    snprintf(err, errlen, "out of memory for io thread %u", index);
    return -1;
  }
  for (uint32_t i = 0; i < t->conn_capacity; i++) {
    t->conns[i].fd = -1;
    t->free_slots[i] = t->conn_capacity - 1 - i; /* lowest slots first */
  }
  t->free_count = t->conn_capacity;
  t->chunks[CHUNK_REF].keep = 65536;  /* 3 MiB of references to shared frames */
  t->chunks[CHUNK_SMALL].keep = 4096; /* 4 MiB of small chunks */
  t->chunks[CHUNK_LARGE].keep = 256;  /* 4 MiB of large chunks */
  t->ip_capacity = 64;
  while (t->ip_capacity < 2 * t->conn_capacity) t->ip_capacity *= 2;
  t->ip_table = calloc(t->ip_capacity, sizeof(net_ip_entry));
  int exempt = ipnet_parse_list(cfg->limits_exempt_ips, t->exempt, CONFIG_MAX_EXEMPT_IPS);
  if (!t->ip_table || exempt < 0) {
    snprintf(err, errlen, "io thread %u: out of memory or bad [limits] exempt_ips", index);
    return -1;
  }
  t->exempt_count = (unsigned)exempt;
  t->wake_fd = eventfd(0, EFD_CLOEXEC);
  if (t->wake_fd < 0) {
    snprintf(err, errlen, "eventfd: %s", strerror(errno));
    return -1;
  }
  ring_waiter_init(&t->waiter, t->wake_fd);
  for (unsigned i = 0; i < s->listener_count; i++) {
    net_listener *l = &s->listeners[i];
    if (index > 0 && !l->spec.every_thread) continue;
    unsigned bound;
    t->listen_fds[i] = open_listener(l->spec.bind, l->port, &bound, err, errlen);
    if (t->listen_fds[i] < 0) return -1;
    l->port = bound; /* with port 0, the first thread's ephemeral port is shared */
  }
  return 0;
}

net_server *net_server_create(const config *cfg, const net_listener_spec *listeners,
                              unsigned listener_count, char *err, size_t errlen) {
  if (listener_count == 0 || listener_count > NET_MAX_LISTENERS) {
    snprintf(err, errlen, "between 1 and %d listeners", NET_MAX_LISTENERS);
    return NULL;
  }
  net_server *s = calloc(1, sizeof(*s));
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->cfg = cfg;
  s->listener_count = listener_count;
  for (unsigned i = 0; i < listener_count; i++) {
    s->listeners[i].spec = listeners[i];
    s->listeners[i].port = listeners[i].port;
  }
  s->http_limits = (http_limits){.max_header_bytes = 16384,
                                 .max_headers = HTTP_MAX_HEADERS,
                                 .max_body_bytes = cfg->net_max_message};
  s->thread_count = cfg->net_io_threads;
  s->threads = calloc(s->thread_count, sizeof(net_thread));
  if (!s->threads) {
    free(s);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  for (unsigned i = 0; i < s->thread_count; i++) {
    if (thread_init(s, &s->threads[i], i, err, errlen) != 0) {
      for (unsigned j = 0; j <= i; j++) thread_free(&s->threads[j]);
      free(s->threads);
      free(s);
      return NULL;
    }
  }
  return s;
}

int net_server_start(net_server *s, char *err, size_t errlen) {
  for (unsigned i = 0; i < s->thread_count; i++) {
    net_thread *t = &s->threads[i];
    struct thread_start_state st = {.t = t, .status = 0};
    char name[24];
    snprintf(name, sizeof(name), "io-%u", i);
    int cpu = thread_cpu_for(s->cfg->cpu_pin, name);
    int rc = thread_start(&t->thread, name, cpu < 0 ? -1 : cpu, io_thread_main, &st);
    if (rc != 0) {
      snprintf(err, errlen, "cannot start %s: %s", name, strerror(rc));
      return -1;
    }
    while (atomic_load(&st.status) == 0) usleep(1000);
    if (atomic_load(&st.status) < 0) {
      thread_join(&t->thread);
      snprintf(err, errlen, "%s", st.err);
      return -1;
    }
  }
  return 0;
}

void net_server_stop(net_server *s) {
  for (unsigned i = 0; i < s->thread_count; i++) {
    net_thread *t = &s->threads[i];
    atomic_store_explicit(&t->stop, true, memory_order_release);
    uint64_t one = 1;
    ssize_t written = write(t->wake_fd, &one, sizeof(one));
    (void)written;
  }
  for (unsigned i = 0; i < s->thread_count; i++) thread_join(&s->threads[i].thread);
}

void net_server_destroy(net_server *s) {
  if (!s) return;
  for (unsigned i = 0; i < s->thread_count; i++) thread_free(&s->threads[i]);
  free(s->threads);
  free(s);
}

void net_server_set_hooks(net_server *s, const net_thread_hooks *hooks) {
  s->hooks = *hooks;
}

ring_waiter *net_server_waiter(net_server *s, unsigned io) {
  return &s->threads[io].waiter;
}

unsigned net_server_threads(const net_server *s) {
  return s->thread_count;
}

void *net_conn_thread_ctx(const net_conn *c) {
  return c->thread->hooks_ctx;
}

/* Slot + 1 in the high half, so no connection's id is 0 (callers use 0 for "none"). */
uint64_t net_conn_id(const net_conn *c) {
  return (uint64_t)(c - c->thread->conns + 1) << 32 | c->generation;
}

net_conn *net_thread_conn(net_thread *t, uint64_t id) {
  uint32_t index = (uint32_t)(id >> 32) - 1;
  if (id >> 32 == 0 || index >= t->conn_capacity) return NULL;
  net_conn *c = &t->conns[index];
  if (c->generation != (uint32_t)id || c->state == CONN_FREE || conn_dying(c)) return NULL;
  return c;
}

int64_t net_conn_now_ms(const net_conn *c) {
  return c->thread->now_ms;
}

void *net_conn_state(net_conn *c) {
  return c->dialect_state;
}

const char *net_conn_peer(const net_conn *c) {
  return c->peer;
}

/* Parses input held back while an HTTP response was pending. */
void net_conn_resume(net_conn *c) {
  if (c->in.len == 0 || conn_dying(c)) return;
  process_buffered(c);
}

unsigned net_server_port(const net_server *s, unsigned index) {
  return index < s->listener_count ? s->listeners[index].port : 0;
}

/* ---- the API dialects and routes use ----------------------------------------------- */

net_shared *net_shared_text3(const void *a, size_t a_len, const void *b, size_t b_len,
                             const void *c, size_t c_len) {
  size_t len = a_len + b_len + c_len, header = ws_frame_header_len(len);
  net_shared *s = malloc(sizeof(*s) + header + len);
  if (!s) return NULL;
  atomic_init(&s->refs, 1);
  ws_frame_header_write(s->data, WS_OP_TEXT, len);
  uint8_t *p = s->data + header;
  if (a_len) memcpy(p, a, a_len);
  if (b_len) memcpy(p + a_len, b, b_len);
  if (c_len) memcpy(p + a_len + b_len, c, c_len);
  s->len = (uint32_t)(header + len);
  return s;
}

net_shared *net_shared_text(const void *payload, size_t len) {
  return net_shared_text3(payload, len, NULL, 0, NULL, 0);
}

void net_shared_ref(net_shared *s, uint32_t n) {
  atomic_fetch_add_explicit(&s->refs, n, memory_order_relaxed);
}

void net_shared_release(net_shared *s) {
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) free(s);
}

size_t net_conn_queued(const net_conn *c) {
  return c->out_bytes;
}

/* Closes a connection whose queue passed net.max_send_queue. */
static void send_queue_overflow(net_conn *c) {
  net_count(&c->thread->stats.send_queue_drops, 1);
  log_warn("connection %s: send queue over net.max_send_queue (%u bytes queued); closing with "
           "1008",
           c->session, c->out_bytes);
  net_ws_send_close(c, WS_CLOSE_POLICY_VIOLATION, "send queue full: reading too slowly", true);
}

int net_send_shared(net_conn *c, net_shared *s) {
  if (c->state != CONN_WS || c->ws_close_sent || c->write_shut) {
    net_shared_release(s);
    return -1;
  }
  net_chunk *ch = chunk_get(c->thread, CHUNK_REF);
  if (!ch) {
    net_shared_release(s);
    net_conn_close_now(c);
    return -1;
  }
  ch->shared = s;
  ch->len = s->len;
  if (c->out_tail)
    c->out_tail->next = ch;
  else
    c->out_head = ch;
  c->out_tail = ch;
  c->out_bytes += s->len;
  net_count(&c->thread->stats.frames_out, 1);
  mark_bulk(c);
  if (net_conn_over_limit(c)) {
    send_queue_overflow(c);
    return -1;
  }
  return 0;
}

int net_send_text(net_conn *c, const char *data, size_t len) {
  if (c->state != CONN_WS || c->ws_close_sent) return -1;
  net_conn_queue_frame(c, WS_OP_TEXT, data, len);
  if (net_conn_over_limit(c)) {
    send_queue_overflow(c);
    return -1;
  }
  return 0;
}

int net_conn_rate_take(net_conn *c, unsigned cost) {
  net_thread *t = c->thread;
  const config *cfg = t->server->cfg;
  c->rate_tokens = bucket_refill(c->rate_tokens, &c->rate_refill_ms, t->now_ms,
                                 cfg->limits_requests_per_s, (uint64_t)cfg->limits_burst * 1000);
  if (c->rate_tokens >= (uint64_t)cost * 1000u) {
    c->rate_tokens -= (uint64_t)cost * 1000u;
    return 0;
  }
  net_count(&t->stats.rate_limited, 1);
  if (t->now_ms - c->abuse_window_ms >= 10000) {
    c->abuse_window_ms = t->now_ms;
    c->rate_rejected = 0;
  }
  /* Sending at ten times the limit for ten seconds is refused about 9 x rate x 10 times. */
  if (++c->rate_rejected > 90u * cfg->limits_requests_per_s) {
    net_count(&t->stats.rate_abuse_closes, 1);
    log_warn("connection %s: far over the request limit for 10 s; closing with 1008", c->session);
    net_ws_send_close(c, WS_CLOSE_POLICY_VIOLATION, "request rate far over the limit", true);
    return -2;
  }
  return -1;
}

void net_close(net_conn *c, unsigned code, const char *reason) {
  if (c->state == CONN_WS && !c->ws_close_sent) net_ws_send_close(c, code, reason, false);
}

char *net_scratch(net_conn *c) {
  return c->thread->scratch;
}

const char *net_conn_session(const net_conn *c) {
  return c->session;
}

const config *net_conn_config(const net_conn *c) {
  return c->thread->server->cfg;
}

net_server *net_conn_server(net_conn *c) {
  return c->thread->server;
}

/* ---- metrics ------------------------------------------------------------------------ */

struct metric {
  const char *name;
  const char *type;
  const char *help;
  size_t offset;
};

static const struct metric metrics[] = {
    {"bourse_connections", "gauge", "Open client connections", offsetof(net_stats, connections)},
    {"bourse_connections_accepted_total", "counter", "Connections accepted",
     offsetof(net_stats, accepted)},
    {"bourse_connections_rejected_total", "counter",
     "Connections refused because the connection table was full",
     offsetof(net_stats, rejected_full)},
    {"bourse_connections_closed_total", "counter", "Connections closed",
     offsetof(net_stats, closed)},
    {"bourse_accept_errors_total", "counter", "Failed accepts (e.g. out of file descriptors)",
     offsetof(net_stats, accept_errors)},
    {"bourse_http_requests_total", "counter", "HTTP requests parsed",
     offsetof(net_stats, http_requests)},
    {"bourse_ws_frames_in_total", "counter", "WebSocket frames received",
     offsetof(net_stats, frames_in)},
    {"bourse_ws_frames_out_total", "counter", "WebSocket frames sent",
     offsetof(net_stats, frames_out)},
    {"bourse_ws_messages_in_total", "counter", "Complete WebSocket text messages received",
     offsetof(net_stats, messages_in)},
    {"bourse_ws_protocol_errors_total", "counter",
     "WebSocket connections failed for protocol errors", offsetof(net_stats, ws_protocol_errors)},
    {"bourse_bytes_in_total", "counter", "Bytes received", offsetof(net_stats, bytes_in)},
    {"bourse_bytes_out_total", "counter", "Bytes sent", offsetof(net_stats, bytes_out)},
    {"bourse_connections_refused_per_ip_total", "counter",
     "Connections refused (429) by the per-IP connection or connect-rate limit",
     offsetof(net_stats, rejected_per_ip)},
    {"bourse_requests_rate_limited_total", "counter",
     "Requests refused with 5001 by the per-connection request limit",
     offsetof(net_stats, rate_limited)},
    {"bourse_rate_abuse_closes_total", "counter",
     "Connections closed (1008) for staying far over the request limit",
     offsetof(net_stats, rate_abuse_closes)},
    {"bourse_send_queue_drops_total", "counter",
     "Connections closed because their send queue passed net.max_send_queue",
     offsetof(net_stats, send_queue_drops)},
    {"bourse_recv_enobufs_total", "counter",
     "Receives that found every provided buffer in use (-ENOBUFS)", offsetof(net_stats, enobufs)},
    {"bourse_io_loop_iterations_total", "counter", "io_uring loop iterations per io thread",
     offsetof(net_stats, loop_iterations)},
};

size_t net_server_metrics(net_server *s, char *buf, size_t cap) {
  size_t len = 0;
  for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
    char block[2048];
    int n = snprintf(block, sizeof(block), "# HELP %s %s\n# TYPE %s %s\n", metrics[m].name,
                     metrics[m].help, metrics[m].name, metrics[m].type);
    for (unsigned i = 0; i < s->thread_count && n > 0 && (size_t)n < sizeof(block); i++) {
      const net_counter *counter =
          (const net_counter *)((const char *)&s->threads[i].stats + metrics[m].offset);
      n += snprintf(
          block + n, sizeof(block) - (size_t)n, "%s{thread=\"%u\"} %llu\n", metrics[m].name, i,
          (unsigned long long)atomic_load_explicit(&counter->value, memory_order_relaxed));
    }
    if (n < 0 || (size_t)n >= sizeof(block) || len + (size_t)n > cap) break;
    memcpy(buf + len, block, (size_t)n);
    len += (size_t)n;
  }
  uint64_t dropped = log_dropped();
  int n = snprintf(buf + len, cap - len,
                   "# HELP bourse_log_dropped_total Log lines dropped because a thread's log ring "
                   "was full\n# TYPE bourse_log_dropped_total counter\nbourse_log_dropped_total "
                   "%llu\n",
                   (unsigned long long)dropped);
  if (n > 0 && len + (size_t)n < cap) len += (size_t)n;
  return len;
}
