/*
 * loop.c: the event loop of one bourse-load worker thread (and only that
 * thread touches a worker's ring, connections and statistics).
 *
 * Why io_uring rather than epoll: a load generator on a 2-core machine
 * shares the CPU with the server it measures, so every cycle it spends is
 * taken from the server. With epoll each round trip costs at least a recv
 * and a send system call (plus epoll_wait); here every connection keeps one
 * recv posted into its own fixed buffer, sends are queued as SQEs, and one
 * io_uring_submit_and_wait_timeout per loop iteration submits all of them and
 * collects every completion: the syscall count per message tends to zero
 * under load. The code stays simple because each connection has one fixed
 * receive buffer, so plain one-shot recv into it is enough (no provided
 * buffer ring), and at most one send per connection is in flight.
 *
 * One iteration: read the clock once, follow the phase the main thread
 * publishes, start due connections, let the scenario send (on_tick), submit
 * the sends queued since the last iteration, wait for completions or the next
 * timer (with --busy-poll, poll for a while first: see busy_poll), handle
 * every completion. The hot path is handle_cqe -> recv ->
 * parse_frames -> scenario on_message -> load_conn_send_template: no
 * allocation, no lock and no system call per message.
 */
#include "bourse/clock.h"
#include "load.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Completion kinds, in the low byte of user_data (the rest: local index). */
enum { OP_CONNECT = 1, OP_CONNECT_TIMEOUT = 2, OP_RECV = 3, OP_SEND = 4 };

#define LOAD_TICK_NS (10 * UINT64_C(1000000))
/* Connections a worker has in connect or handshake at once: a burst larger
 * than the server's accept backlog would make SYNs drop and retry after 1 s,
 * and the connect rate would measure TCP's retry timer, not the server. */
#define LOAD_CONNECT_WINDOW 256
/* How long open connections get to finish the close handshake at the end. */
#define LOAD_CLOSE_GRACE_NS (300 * UINT64_C(1000000))
#define LOAD_SQ_ENTRIES     2048
#define LOAD_RECV_BUF_SIZE  2048 /* bytes per provided recv buffer */

static uint64_t op_data(const load_thread *t, const load_conn *c, unsigned op) {
  return ((uint64_t)(c - t->conns) << 8) | op;
}

/* An SQE, submitting what is queued first if the queue is full. */
static struct io_uring_sqe *get_sqe(load_thread *t) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
  while (!sqe) {
    io_uring_submit(&t->ring);
    sqe = io_uring_get_sqe(&t->ring);
  }
  return sqe;
}

static void mark_dirty(load_thread *t, load_conn *c) {
  if (c->dirty) return;
  c->dirty = true;
  t->dirty[t->n_dirty++] = (uint32_t)(c - t->conns);
}

/* ------------------------------------------------------------- failures */

static load_fail fail_reason(load_thread *t, int err) {
  switch (err) {
  case ECONNREFUSED:
    return LOAD_FAIL_REFUSED;
  case ECANCELED:
  case ETIMEDOUT:
  case ETIME:
    return LOAD_FAIL_TIMEOUT;
  case EADDRNOTAVAIL:
  case EADDRINUSE:
    return LOAD_FAIL_ADDRESS;
  case EMFILE:
  case ENFILE:
  case ENOBUFS:
  case ENOMEM:
    return LOAD_FAIL_FD_LIMIT;
  case ECONNRESET:
  case ECONNABORTED:
  case EPIPE:
    return LOAD_FAIL_RESET;
  default:
    t->stats.last_other_errno = err;
    return LOAD_FAIL_OTHER;
  }
}

/* Started but neither open nor failed yet: counts as connecting. */
static bool conn_pending(const load_conn *c) {
  return c->state == LOAD_CONN_CONNECTING || c->state == LOAD_CONN_HANDSHAKE ||
         c->state == LOAD_CONN_SETUP;
}

/* The WebSocket is up: frames may be sent and received. */
static bool conn_live(const load_conn *c) {
  return c->state == LOAD_CONN_OPEN || c->state == LOAD_CONN_SETUP;
}

void load_conn_abort(load_thread *t, load_conn *c) {
  if (c->state == LOAD_CONN_CLOSED) return;
  if (c->state == LOAD_CONN_OPEN) t->open_count--;
  if (conn_pending(c)) t->connecting--;
  if (c->fd >= 0) {
    /* shutdown first: a recv still posted holds the socket, and only
     * shutdown makes it complete (close alone would leave it waiting) */
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    c->fd = -1;
  }
  c->state = LOAD_CONN_CLOSED;
}

/* A connection that never opened. */
static void conn_fail(load_thread *t, load_conn *c, load_fail reason) {
  t->stats.failed[reason]++;
  atomic_fetch_add_explicit(&t->shared->settled, 1, memory_order_acq_rel);
  load_conn_abort(t, c);
}

/* An open connection that broke: count it unless we were closing anyway. */
static void conn_error(load_thread *t, load_conn *c, load_error error) {
  if (c->state == LOAD_CONN_OPEN && t->phase < LOAD_PHASE_CLOSING) t->stats.errors[error]++;
  load_conn_abort(t, c);
}

/* ------------------------------------------------------------- sending */

/* Room for n more bytes at the end of c's send buffer, or NULL. */
static uint8_t *send_reserve(load_thread *t, load_conn *c, size_t n) {
  uint32_t cap = t->opt->buffer_size;
  if (c->wlen + n > cap && !c->send_armed && c->woff > 0) {
    memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
    c->wlen -= c->woff;
    c->woff = 0;
  }
  if (c->wlen + n > cap) return NULL;
  uint8_t *p = c->wbuf + c->wlen;
  c->wlen += (uint32_t)n;
  mark_dirty(t, c);
  return p;
}

/* Appends a final masked frame with the given payload. */
static bool send_frame(load_thread *t, load_conn *c, uint8_t opcode, const void *payload,
                       size_t len) {
  uint8_t header[LOAD_WS_MAX_HEADER];
  size_t hlen = load_ws_frame_header(header, opcode, len, &t->prng);
  uint8_t *p = send_reserve(t, c, hlen + len);
  if (!p) return false;
  memcpy(p, header, hlen);
  memcpy(p + hlen, payload, len);
  load_ws_mask(p + hlen, len, p + hlen - 4);
  return true;
}

bool load_conn_send_text(load_thread *t, load_conn *c, const char *text, size_t len) {
  if (!send_frame(t, c, LOAD_WS_TEXT, text, len)) {
    t->stats.errors[LOAD_ERR_SEND_FULL]++;
    return false;
  }
  return true;
}

bool load_conn_send_template(load_thread *t, load_conn *c, const load_template *tpl, uint64_t id) {
  size_t len = load_template_length(tpl, id);
  uint8_t header[LOAD_WS_MAX_HEADER];
  size_t hlen = load_ws_frame_header(header, LOAD_WS_TEXT, len, &t->prng);
  uint8_t *p = send_reserve(t, c, hlen + len);
  if (!p) {
    t->stats.errors[LOAD_ERR_SEND_FULL]++;
    return false;
  }
  memcpy(p, header, hlen);
  load_template_expand(tpl, id, (char *)p + hlen);
  load_ws_mask(p + hlen, len, p + hlen - 4);
  return true;
}

void load_conn_close_gracefully(load_thread *t, load_conn *c, uint16_t code) {
  if (c->state != LOAD_CONN_OPEN) return;
  uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
  send_frame(t, c, LOAD_WS_CLOSE, body, code ? 2 : 0);
  c->state = LOAD_CONN_CLOSING;
  t->open_count--;
}

/* Posts one send per connection that has bytes and none in flight. */
static void flush_sends(load_thread *t) {
  for (uint32_t i = 0; i < t->n_dirty; i++) {
    load_conn *c = &t->conns[t->dirty[i]];
    c->dirty = false;
    if (c->state == LOAD_CONN_CLOSED || c->send_armed || c->woff == c->wlen) continue;
    struct io_uring_sqe *sqe = get_sqe(t);
    io_uring_prep_send(sqe, c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, op_data(t, c, OP_SEND));
    c->send_armed = true;
  }
  t->n_dirty = 0;
}

/* ----------------------------------------------------------- connecting */

/* One multishot recv per connection: armed once, it completes every time
 * data arrives, into a provided buffer, until it ends (no F_MORE). A
 * single-shot recv costs a submission and a poll arm per message, a multishot
 * neither; the server's send then only queues the data and its task work. */
static void arm_recv(load_thread *t, load_conn *c) {
  if (c->recv_armed || c->state == LOAD_CONN_CLOSED) return;
  struct io_uring_sqe *sqe = get_sqe(t);
  io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, op_data(t, c, OP_RECV));
  c->recv_armed = true;
}

static void give_recv_buffer(load_thread *t, unsigned bid) {
  io_uring_buf_ring_add(t->recv_ring, t->recv_bufs + (size_t)bid * t->recv_buf_size,
                        t->recv_buf_size, (unsigned short)bid,
                        io_uring_buf_ring_mask(t->recv_buf_count), (int)t->recv_returned);
  t->recv_returned++;
}

static void conn_start(load_thread *t, load_conn *c) {
  const load_options *o = t->opt;
  t->stats.attempts++;
  if (t->stats.first_connect_ns == 0) t->stats.first_connect_ns = t->now;
  c->started_ns = t->now;
  int fd = socket(o->target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    conn_fail(t, c, fail_reason(t, errno));
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* small frames go out at once */
  if (o->source_ip_count > 0) {
    /* the port is picked at connect time, per (source, destination) pair:
     * each source address then has its own ~28k ephemeral ports */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(o->source_ip_first + c->index % o->source_ip_count);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
      int err = errno;
      close(fd);
      conn_fail(t, c, fail_reason(t, err));
      return;
    }
  }
  c->fd = fd;
  c->state = LOAD_CONN_CONNECTING;
  t->connecting++;
  if (io_uring_sq_space_left(&t->ring) < 2) io_uring_submit(&t->ring); /* keep the link whole */
  struct io_uring_sqe *sqe = get_sqe(t);
  io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&o->target, o->target_len);
  io_uring_sqe_set_data64(sqe, op_data(t, c, OP_CONNECT));
  sqe->flags |= IOSQE_IO_LINK;
  sqe = get_sqe(t);
  io_uring_prep_link_timeout(sqe, &t->connect_timeout, 0);
  io_uring_sqe_set_data64(sqe, op_data(t, c, OP_CONNECT_TIMEOUT));
}

static void wake_at(load_thread *t, uint64_t ns) {
  if (t->next_wake_ns == 0 || ns < t->next_wake_ns) t->next_wake_ns = ns;
}

static void start_connections(load_thread *t) {
  const load_options *o = t->opt;
  while (t->next_start < t->n_conns && t->connecting < LOAD_CONNECT_WINDOW) {
    load_conn *c = &t->conns[t->next_start];
    if (o->connect_rate > 0) {
      uint64_t due = t->shared->start_ns + (uint64_t)((double)c->index * 1e9 / o->connect_rate);
      if (due > t->now) {
        wake_at(t, due);
        return;
      }
    }
    t->next_start++;
    conn_start(t, c);
  }
}

static void check_connect_timeouts(load_thread *t) {
  while (t->scan_from < t->next_start) {
    if (conn_pending(&t->conns[t->scan_from])) break;
    t->scan_from++;
  }
  for (uint32_t i = t->scan_from; i < t->next_start; i++) {
    load_conn *c = &t->conns[i];
    if (conn_pending(c) && t->now - c->started_ns >= t->opt->connect_timeout_ns) {
      if (c->state == LOAD_CONN_SETUP)
        snprintf(t->stats.setup_error, sizeof(t->stats.setup_error),
                 "set-up not answered within --connect-timeout");
      conn_fail(t, c, LOAD_FAIL_TIMEOUT);
    }
  }
}

/* The connection counts as open from here (after its set-up, if any). */
static void conn_mark_open(load_thread *t, load_conn *c) {
  c->state = LOAD_CONN_OPEN;
  t->connecting--;
  t->open_count++;
  t->stats.opened++;
  t->stats.last_open_ns = t->now;
  atomic_fetch_add_explicit(&t->shared->opened, 1, memory_order_acq_rel);
  atomic_fetch_add_explicit(&t->shared->settled, 1, memory_order_acq_rel);
}

static void conn_open(load_thread *t, load_conn *c) {
  histogram_record(&t->stats.connect_ns, t->now - c->started_ns);
  if (t->opt->scenario->setup)
    c->state = LOAD_CONN_SETUP;
  else
    conn_mark_open(t, c);
  if (t->opt->scenario->on_open) t->opt->scenario->on_open(t, c);
}

void load_conn_ready(load_thread *t, load_conn *c) {
  if (c->state == LOAD_CONN_SETUP) conn_mark_open(t, c);
}

void load_conn_setup_failed(load_thread *t, load_conn *c, const char *why, size_t len) {
  if (c->state != LOAD_CONN_SETUP) return;
  if (len >= sizeof(t->stats.setup_error)) len = sizeof(t->stats.setup_error) - 1;
  memcpy(t->stats.setup_error, why, len);
  t->stats.setup_error[len] = 0;
  conn_fail(t, c, LOAD_FAIL_SETUP);
}

static void on_connected(load_thread *t, load_conn *c, int res) {
  if (c->state != LOAD_CONN_CONNECTING) return;
  if (res < 0) {
    conn_fail(t, c, fail_reason(t, -res));
    return;
  }
  c->state = LOAD_CONN_HANDSHAKE;
  size_t n = load_ws_request((char *)c->wbuf, t->opt->buffer_size, t->opt, c->key,
                             load_subscribe_group(t->opt, c->index));
  c->woff = 0;
  c->wlen = (uint32_t)n; /* main checked that the request fits the buffer */
  mark_dirty(t, c);
  arm_recv(t, c);
}

/* ------------------------------------------------------------ receiving */

/* Delivers a complete data message to the scenario. */
static void deliver(load_thread *t, load_conn *c, const uint8_t *msg, size_t len, bool text) {
  t->stats.frames_in++;
  if (t->opt->scenario->on_message) t->opt->scenario->on_message(t, c, msg, len, text);
}

static void protocol_error(load_thread *t, load_conn *c, load_error error, uint16_t code) {
  if (c->state == LOAD_CONN_OPEN && t->phase < LOAD_PHASE_CLOSING) t->stats.errors[error]++;
  uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
  /* best effort: tell the server why, then drop the connection at once */
  if (conn_live(c) && !c->send_armed && send_frame(t, c, LOAD_WS_CLOSE, body, 2))
    send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (c->state == LOAD_CONN_SETUP) {
    static const char why[] = "malformed or oversized frame from the server during set-up";
    load_conn_setup_failed(t, c, why, sizeof(why) - 1);
    return;
  }
  load_conn_abort(t, c);
}

static void on_close_frame(load_thread *t, load_conn *c, const uint8_t *payload, size_t len) {
  uint16_t code = len >= 2 ? (uint16_t)((payload[0] << 8) | payload[1]) : 0;
  if (c->state == LOAD_CONN_CLOSING) { /* the answer to our close: done */
    load_conn_abort(t, c);
    return;
  }
  t->stats.last_close_code = len >= 2 ? code : 1005; /* the server's own close */
  if (c->state == LOAD_CONN_SETUP) {
    conn_fail(t, c, LOAD_FAIL_CLOSED);
    return;
  }
  if (t->phase < LOAD_PHASE_CLOSING) t->stats.errors[LOAD_ERR_CLOSED_BY_SERVER]++;
  load_conn_close_gracefully(t, c, code); /* echo; the server then closes TCP */
}

/* Handles one complete frame; returns false when the connection is gone. */
static bool handle_frame(load_thread *t, load_conn *c, const load_ws_frame *f, uint8_t *payload) {
  size_t len = (size_t)f->payload_len;
  switch (f->opcode) {
  case LOAD_WS_TEXT:
  case LOAD_WS_BINARY:
    if (c->fragmented) break; /* a new message inside a fragmented one */
    if (f->fin) {
      deliver(t, c, payload, len, f->opcode == LOAD_WS_TEXT);
    } else {
      memmove(c->rbuf, payload, len);
      c->assembled = (uint32_t)len;
      c->fragmented = true;
      c->fragment_opcode = f->opcode;
    }
    return c->state != LOAD_CONN_CLOSED;
  case LOAD_WS_CONTINUATION:
    if (!c->fragmented) break;
    memmove(c->rbuf + c->assembled, payload, len);
    c->assembled += (uint32_t)len;
    if (f->fin) {
      uint32_t total = c->assembled;
      c->assembled = 0;
      c->fragmented = false;
      deliver(t, c, c->rbuf, total, c->fragment_opcode == LOAD_WS_TEXT);
    }
    return c->state != LOAD_CONN_CLOSED;
  case LOAD_WS_PING:
    t->stats.server_pings++;
    if (conn_live(c) && !send_frame(t, c, LOAD_WS_PONG, payload, len))
      t->stats.errors[LOAD_ERR_SEND_FULL]++;
    return true;
  case LOAD_WS_PONG:
    return true;
  case LOAD_WS_CLOSE:
    on_close_frame(t, c, payload, len);
    return c->state != LOAD_CONN_CLOSED;
  }
  protocol_error(t, c, LOAD_ERR_PROTOCOL, 1002);
  return false;
}

/*
 * Parses every complete frame in c's receive buffer. Layout: [0, assembled)
 * holds the payload of a fragmented message so far, [assembled, rlen) raw
 * bytes. Fragment payloads are moved down next to what is assembled, so a
 * fragmented message ends up contiguous without a second buffer.
 */
static void parse_frames(load_thread *t, load_conn *c) {
  uint32_t cap = t->opt->buffer_size;
  uint32_t pos = c->assembled;
  while (pos < c->rlen) {
    load_ws_frame f;
    load_ws_parse r = load_ws_parse_header(c->rbuf + pos, c->rlen - pos, &f);
    if (r == LOAD_WS_NEED_MORE) break;
    if (r == LOAD_WS_INVALID) {
      protocol_error(t, c, LOAD_ERR_PROTOCOL, 1002);
      return;
    }
    uint64_t total = f.header_len + f.payload_len;
    if (total > c->rlen - pos) {
      if (c->assembled + total > cap) protocol_error(t, c, LOAD_ERR_TOO_BIG, 1009);
      break;
    }
    uint8_t *payload = c->rbuf + pos + f.header_len;
    pos += (uint32_t)total;
    if (!handle_frame(t, c, &f, payload)) return;
  }
  if (c->state == LOAD_CONN_CLOSED) return;
  if (pos > c->assembled) {
    uint32_t rest = c->rlen - pos;
    memmove(c->rbuf + c->assembled, c->rbuf + pos, rest);
    c->rlen = c->assembled + rest;
  }
  if (c->rlen == cap) protocol_error(t, c, LOAD_ERR_TOO_BIG, 1009);
}

static void on_handshake_bytes(load_thread *t, load_conn *c) {
  size_t header_len = 0;
  load_ws_handshake r = load_ws_response(c->rbuf, c->rlen, c->key, &header_len);
  if (r == LOAD_WS_INCOMPLETE && c->rlen < t->opt->buffer_size) return;
  if (r != LOAD_WS_OK) {
    conn_fail(t, c, LOAD_FAIL_HANDSHAKE);
    return;
  }
  memmove(c->rbuf, c->rbuf + header_len, c->rlen - header_len);
  c->rlen -= (uint32_t)header_len;
  conn_open(t, c);
  if (conn_live(c)) parse_frames(t, c);
}

/* Received bytes are in c->rbuf [rlen - n, rlen): parse what they complete. */
static void on_bytes(load_thread *t, load_conn *c) {
  if (c->state == LOAD_CONN_HANDSHAKE)
    on_handshake_bytes(t, c);
  else
    parse_frames(t, c);
}

/* Copies a received chunk into the connection's buffer, parsing as it fills:
 * a chunk larger than the room left is taken in parts. */
static void take_bytes(load_thread *t, load_conn *c, const uint8_t *p, uint32_t n) {
  t->stats.bytes_in += n;
  while (n > 0 && c->state != LOAD_CONN_CLOSED) {
    uint32_t room = t->opt->buffer_size - c->rlen;
    if (room == 0) { /* parse_frames closes a connection whose frame cannot fit */
      protocol_error(t, c, LOAD_ERR_TOO_BIG, 1009);
      return;
    }
    uint32_t k = n < room ? n : room;
    memcpy(c->rbuf + c->rlen, p, k);
    c->rlen += k;
    p += k;
    n -= k;
    on_bytes(t, c);
  }
}

static void on_recv(load_thread *t, load_conn *c, const struct io_uring_cqe *cqe) {
  int res = cqe->res;
  bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  if (cqe->flags & IORING_CQE_F_BUFFER) {
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    if (res > 0 && c->state != LOAD_CONN_CLOSED)
      take_bytes(t, c, t->recv_bufs + (size_t)bid * t->recv_buf_size, (uint32_t)res);
    give_recv_buffer(t, bid);
  }
  if (!more) c->recv_armed = false;
  if (c->state == LOAD_CONN_CLOSED) return;
  if (res > 0 || res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
    if (!more) arm_recv(t, c); /* ended (buffers ran out, or the kernel's choice) */
  } else if (c->state == LOAD_CONN_HANDSHAKE || c->state == LOAD_CONN_SETUP) {
    conn_fail(t, c, res == 0 ? LOAD_FAIL_CLOSED : fail_reason(t, -res));
  } else {
    conn_error(t, c, res == 0 ? LOAD_ERR_CLOSED_BY_SERVER : LOAD_ERR_RESET);
  }
}

static void on_sent(load_thread *t, load_conn *c, int res) {
  c->send_armed = false;
  if (c->state == LOAD_CONN_CLOSED) return;
  if (res >= 0) {
    t->stats.bytes_out += (uint64_t)res;
    c->woff += (uint32_t)res;
    if (c->woff == c->wlen) {
      c->woff = c->wlen = 0;
    } else {
      /* Nothing is in flight now: move the unsent rest to the front, or a sender that
       * always has a send armed would never get its sent bytes back. */
      memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
      c->wlen -= c->woff;
      c->woff = 0;
      mark_dirty(t, c); /* short send: the rest goes next iteration */
    }
  } else if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
    mark_dirty(t, c);
  } else if (c->state == LOAD_CONN_HANDSHAKE || c->state == LOAD_CONN_SETUP) {
    conn_fail(t, c, fail_reason(t, -res));
  } else {
    conn_error(t, c, LOAD_ERR_RESET);
  }
}

static void handle_cqe(load_thread *t, const struct io_uring_cqe *cqe) {
  uint64_t data = io_uring_cqe_get_data64(cqe);
  if (data == LIBURING_UDATA_TIMEOUT) return;
  load_conn *c = &t->conns[data >> 8];
  switch ((unsigned)(data & 0xFF)) {
  case OP_CONNECT:
    on_connected(t, c, cqe->res);
    break;
  case OP_CONNECT_TIMEOUT: /* fired (connect then fails -ECANCELED) or not needed */
    break;
  case OP_RECV:
    on_recv(t, c, cqe);
    break;
  case OP_SEND:
    on_sent(t, c, cqe->res);
    break;
  }
}

/* ----------------------------------------------------------------- phases */

/* True while a live connection still waits for a reply (drain phase only). */
static bool requests_outstanding(const load_thread *t) {
  for (uint32_t i = 0; i < t->n_conns; i++) {
    const load_conn *c = &t->conns[i];
    if (c->outstanding > 0 && c->state == LOAD_CONN_OPEN) return true;
  }
  return false;
}

static void update_phase(load_thread *t) {
  if (t->phase >= LOAD_PHASE_CLOSING) return;
  load_shared *s = t->shared;
  uint64_t traffic = atomic_load_explicit(&s->traffic_ns, memory_order_acquire);
  if (traffic == 0) {
    t->phase = LOAD_PHASE_CONNECTING;
    return;
  }
  t->traffic_ns = traffic;
  t->measure_ns = atomic_load_explicit(&s->measure_ns, memory_order_acquire);
  t->end_ns = atomic_load_explicit(&s->end_ns, memory_order_acquire);
  t->drain_end_ns = atomic_load_explicit(&s->drain_end_ns, memory_order_acquire);
  if (t->now < t->measure_ns)
    t->phase = LOAD_PHASE_WARMUP;
  else if (t->now < t->end_ns)
    t->phase = LOAD_PHASE_MEASURE;
  else if (t->now < t->drain_end_ns)
    t->phase = LOAD_PHASE_DRAIN;
  else
    t->phase = LOAD_PHASE_CLOSING;
}

/* The end of the run: close every connection gracefully, give up on the
 * ones that never opened. */
static void begin_closing(load_thread *t) {
  for (uint32_t i = 0; i < t->n_conns; i++) {
    load_conn *c = &t->conns[i];
    if (c->state == LOAD_CONN_OPEN)
      load_conn_close_gracefully(t, c, 1000);
    else if (conn_pending(c))
      load_conn_abort(t, c); /* interrupted: neither opened nor failed */
  }
  t->close_deadline_ns = t->now + LOAD_CLOSE_GRACE_NS;
}

static bool all_closed(const load_thread *t) {
  for (uint32_t i = 0; i < t->n_conns; i++)
    if (t->conns[i].state != LOAD_CONN_CLOSED && t->conns[i].state != LOAD_CONN_IDLE) return false;
  return true;
}

/* Requests of the window that never got an answer, then every socket closed. */
static void finish(load_thread *t) {
  for (uint32_t i = 0; i < t->n_conns; i++) {
    load_conn *c = &t->conns[i];
    for (uint32_t k = 0; k < t->slot_cap; k++) {
      const load_inflight *slot = &c->slots[k];
      if (slot->seq != 0 && t->measure_ns != 0 && slot->intended_ns >= t->measure_ns &&
          slot->intended_ns < t->end_ns)
        t->stats.errors[LOAD_ERR_UNANSWERED]++;
    }
    if (c->state != LOAD_CONN_CLOSED && c->state != LOAD_CONN_IDLE) load_conn_abort(t, c);
  }
}

/*
 * --busy-poll: polls the completion queue without blocking until a
 * completion is there (true), the wake time has come (true), or the polling
 * window -- busy_poll_ns after the last iteration that handled a completion --
 * is over (false: the caller blocks). *now is the clock at the end.
 *
 * Why: a worker blocked in io_uring_enter must be woken for each message,
 * and the server's sending thread pays for that wake-up inside its send (an
 * inter-processor interrupt, expensive in a VM). A worker that is busy
 * anyway keeps polling for a while instead and is not woken per message: it
 * spends the load machine's CPU and saves the server's.
 *
 * With DEFER_TASKRUN a completion reaches the ring only when this thread
 * runs the task work the kernel queued for it: io_uring_submit_and_get_events
 * (an io_uring_enter with GETEVENTS and no wait, also submitting what is
 * queued). TASKRUN_FLAG makes the kernel raise IORING_SQ_TASKRUN in the
 * shared ring when it queues such work, so polling reads that word and
 * enters the kernel only when there is something to run or submit; a ring
 * without the flag (older kernels) enters on every round.
 */
static bool busy_poll(load_thread *t, uint64_t wake, uint64_t *now) {
  struct io_uring *ring = &t->ring;
  bool flagged = (ring->flags & IORING_SETUP_TASKRUN_FLAG) != 0;
  uint64_t until = t->last_busy_ns + t->opt->busy_poll_ns;
  if (until > wake) until = wake; /* timers and phases fire on time */
  for (;;) {
    if (!flagged || io_uring_sq_ready(ring) ||
        (IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_TASKRUN)) {
      io_uring_submit_and_get_events(ring);
      t->stats.busy_polls++;
    }
    if (io_uring_cq_ready(ring)) return true;
    *now = clock_mono_ns();
    if (*now >= until) return *now >= wake;
  }
}

/* Submits the queued SQEs and waits for a completion or the next timer. */
static void wait_for_events(load_thread *t) {
  uint64_t wake = t->next_tick_ns;
  if (t->next_wake_ns && t->next_wake_ns < wake) wake = t->next_wake_ns;
  uint64_t boundaries[] = {t->measure_ns, t->end_ns, t->drain_end_ns, t->close_deadline_ns};
  for (size_t i = 0; i < sizeof(boundaries) / sizeof(boundaries[0]); i++)
    if (boundaries[i] > t->now && boundaries[i] < wake) wake = boundaries[i];
  uint64_t now = t->now;
  if (t->opt->busy_poll_ns && t->last_busy_ns && now < t->last_busy_ns + t->opt->busy_poll_ns &&
      now < wake && busy_poll(t, wake, &now))
    return;
  uint64_t wait = wake > now ? wake - now : 0;
  struct __kernel_timespec ts = {.tv_sec = (long long)(wait / LOAD_NS_PER_SEC),
                                 .tv_nsec = (long long)(wait % LOAD_NS_PER_SEC)};
  struct io_uring_cqe *cqe;
  /* -ETIME (timer), -EINTR and -EBUSY (completions pending) all mean: go on */
  io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts, NULL);
}

/* Handles every completion in the ring; returns how many. */
static unsigned reap(load_thread *t) {
  unsigned head, n = 0;
  struct io_uring_cqe *cqe;
  io_uring_for_each_cqe(&t->ring, head, cqe) {
    handle_cqe(t, cqe);
    n++;
  }
  io_uring_cq_advance(&t->ring, n);
  if (t->recv_returned) {
    io_uring_buf_ring_advance(t->recv_ring, (int)t->recv_returned);
    t->recv_returned = 0;
  }
  return n;
}

static int ring_setup(load_thread *t) {
  struct io_uring_params p;
  unsigned cq = 4 * t->n_conns + 64;
  if (cq < 4096) cq = 4096;
  if (cq > 65536) cq = 65536;
  /* DEFER_TASKRUN: completions are processed only when we ask, in batches;
   * SINGLE_ISSUER: this thread is the only submitter. Both need Linux 6.1.
   * TASKRUN_FLAG: the kernel flags queued task work in the ring (busy_poll). */
  const unsigned flag_sets[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
          IORING_SETUP_CQSIZE,
      IORING_SETUP_CQSIZE,
  };
  int rc = -EINVAL;
  for (size_t i = 0; i < 2 && rc == -EINVAL; i++) {
    memset(&p, 0, sizeof(p));
    p.flags = flag_sets[i];
    p.cq_entries = cq;
    rc = io_uring_queue_init_params(LOAD_SQ_ENTRIES, &t->ring, &p);
  }
  if (rc < 0) return -rc;
  /* the provided-buffer ring, registered by hand (liburing 2.3 has no helper) */
  struct io_uring_buf_reg reg = {
      .ring_addr = (unsigned long)t->recv_ring, .ring_entries = t->recv_buf_count, .bgid = 0};
  rc = io_uring_register_buf_ring(&t->ring, &reg, 0);
  if (rc != 0) {
    io_uring_queue_exit(&t->ring);
    return -rc;
  }
  io_uring_buf_ring_init(t->recv_ring);
  for (uint32_t b = 0; b < t->recv_buf_count; b++) give_recv_buffer(t, b);
  io_uring_buf_ring_advance(t->recv_ring, (int)t->recv_returned);
  t->recv_returned = 0;
  return 0;
}

void load_thread_main(void *arg) {
  load_thread *t = arg;
  int rc = ring_setup(t);
  if (rc != 0) {
    t->fatal = rc;
    atomic_fetch_add_explicit(&t->shared->settled, t->n_conns, memory_order_acq_rel);
    atomic_fetch_add_explicit(&t->shared->workers_done, 1, memory_order_acq_rel);
    return;
  }
  /* open loop: wake at the intended send time, not up to 50 us (the default
   * timer slack) later; lateness is counted in the latency, so keep it small */
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  const load_scenario *scenario = t->opt->scenario;
  t->now = clock_mono_ns();
  t->next_tick_ns = t->now;
  while (t->phase != LOAD_PHASE_DONE) {
    t->next_wake_ns = 0;
    update_phase(t);
    if (t->phase == LOAD_PHASE_CONNECTING) start_connections(t);
    if (t->now >= t->next_tick_ns) {
      check_connect_timeouts(t);
      t->next_tick_ns = t->now + LOAD_TICK_NS;
    }
    /* before closing: an open-loop scenario sends what fell due in the window
     * before this (late) wakeup, so the window's schedule is always complete */
    if (scenario->on_tick && t->close_deadline_ns == 0) scenario->on_tick(t);
    if (t->phase == LOAD_PHASE_DRAIN && !requests_outstanding(t)) t->phase = LOAD_PHASE_CLOSING;
    if (t->phase == LOAD_PHASE_CLOSING) {
      if (t->close_deadline_ns == 0) begin_closing(t);
      if (all_closed(t) || t->now >= t->close_deadline_ns) {
        t->phase = LOAD_PHASE_DONE;
        break;
      }
    }
    flush_sends(t);
    wait_for_events(t);
    t->stats.iterations++;
    t->now = clock_mono_ns();
    if (reap(t) > 0) t->last_busy_ns = t->now;
  }
  finish(t);
  io_uring_queue_exit(&t->ring);
  atomic_fetch_add_explicit(&t->shared->workers_done, 1, memory_order_acq_rel);
}

/* ------------------------------------------------------------ preparation */

static void *map_zeroed(size_t size) {
  if (size == 0) return NULL;
  /* pages are only touched when used: idle connections cost what they use */
  void *p =
      mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int load_thread_prepare(load_thread *t, unsigned id, const load_options *opt, load_shared *shared,
                        uint64_t seed) {
  memset(t, 0, sizeof(*t));
  t->id = id;
  t->opt = opt;
  t->shared = shared;
  t->n_conns = opt->connections / opt->threads + (id < opt->connections % opt->threads);
  t->slot_cap = load_scenario_slot_cap(opt);
  t->prng = seed | 1;
  t->connect_timeout.tv_sec = (long long)(opt->connect_timeout_ns / LOAD_NS_PER_SEC);
  t->connect_timeout.tv_nsec = (long long)(opt->connect_timeout_ns % LOAD_NS_PER_SEC);
  load_stats_init(&t->stats);
  t->conns = calloc(t->n_conns ? t->n_conns : 1, sizeof(load_conn));
  t->dirty = calloc(t->n_conns ? t->n_conns : 1, sizeof(uint32_t));
  t->scratch = malloc(opt->buffer_size);
  t->buffers_size = (size_t)t->n_conns * 2 * opt->buffer_size;
  t->buffers = map_zeroed(t->buffers_size);
  /* provided buffers: enough for a burst to every connection, 2 KiB each (a
   * larger message arrives in several) */
  t->recv_buf_size = LOAD_RECV_BUF_SIZE;
  t->recv_buf_count = 1024;
  while (t->recv_buf_count < t->n_conns && t->recv_buf_count < 16384) t->recv_buf_count *= 2;
  t->recv_ring = map_zeroed((size_t)t->recv_buf_count * sizeof(struct io_uring_buf));
  t->recv_bufs = map_zeroed((size_t)t->recv_buf_count * t->recv_buf_size);
  t->slot_memory_size = (size_t)t->n_conns * t->slot_cap * sizeof(load_inflight);
  t->slot_memory = map_zeroed(t->slot_memory_size);
  t->ext_memory_size = (size_t)t->n_conns * opt->scenario->conn_state_size;
  t->ext_memory = map_zeroed(t->ext_memory_size);
  if (!t->conns || !t->dirty || !t->scratch || (t->buffers_size && !t->buffers) || !t->recv_ring ||
      !t->recv_bufs || (t->slot_memory_size && !t->slot_memory) ||
      (t->ext_memory_size && !t->ext_memory)) {
    load_thread_release(t);
    return ENOMEM;
  }
  for (uint32_t i = 0; i < t->n_conns; i++) {
    load_conn *c = &t->conns[i];
    c->index = id + i * opt->threads;
    c->fd = -1;
    c->state = LOAD_CONN_IDLE;
    c->rbuf = t->buffers + (size_t)i * 2 * opt->buffer_size;
    c->wbuf = c->rbuf + opt->buffer_size;
    c->slots = t->slot_cap ? t->slot_memory + (size_t)i * t->slot_cap : NULL;
    c->ext = t->ext_memory ? t->ext_memory + (size_t)i * opt->scenario->conn_state_size : NULL;
    load_ws_make_key(&t->prng, c->key);
    if (opt->scenario->conn_init) opt->scenario->conn_init(t, c);
  }
  return 0;
}

void load_thread_release(load_thread *t) {
  if (t->buffers) munmap(t->buffers, t->buffers_size);
  if (t->recv_ring) munmap(t->recv_ring, (size_t)t->recv_buf_count * sizeof(struct io_uring_buf));
  if (t->recv_bufs) munmap(t->recv_bufs, (size_t)t->recv_buf_count * t->recv_buf_size);
  t->recv_ring = NULL;
  t->recv_bufs = NULL;
  if (t->slot_memory) munmap(t->slot_memory, t->slot_memory_size);
  if (t->ext_memory) munmap(t->ext_memory, t->ext_memory_size);
  free(t->conns);
  free(t->dirty);
  free(t->scratch);
  t->buffers = NULL;
  t->slot_memory = NULL;
  t->ext_memory = NULL;
  t->conns = NULL;
  t->dirty = NULL;
  t->scratch = NULL;
}
