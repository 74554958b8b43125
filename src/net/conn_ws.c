/*
 * conn_ws.c: RFC 6455 on an upgraded connection: frame by frame out of the
 * received bytes, unmasking in place, reassembling fragmented text messages,
 * validating UTF-8 incrementally, answering pings, the close handshake, the
 * server's keep-alive pings and the idle timeout. Complete text messages go
 * to the connection's dialect. Runs on the connection's io thread.
 */
#include "net_internal.h"

#include "bourse/log.h"

#include <stdlib.h>
#include <string.h>

void net_ws_open(net_conn *c, unsigned dialect, const http_request *req) {
  const config *cfg = c->thread->server->cfg;
  c->state = CONN_WS;
  c->dialect = (uint16_t)dialect;
  c->utf8_state = WS_UTF8_ACCEPT;
  /* The first ping comes after half to one whole interval, spread by slot:
   * connections opened together (a reconnect storm, a restart) then do not
   * all ping in the same tick, which would queue a send per connection at once. */
  uint32_t half = cfg->ws_ping_interval_ms / 2;
  uint32_t slot = (uint32_t)(c - c->thread->conns);
  uint32_t spread = half ? (uint32_t)(((uint64_t)slot * 2654435761u) % (half + 1u)) : 0;
  c->next_ping_ms = c->thread->now_ms + (cfg->ws_ping_interval_ms - half) + spread;
  const net_dialect *d = net_conn_listener(c)->dialects[dialect];
  if (d->on_open) d->on_open(c, req);
}

void net_ws_closed(net_conn *c) {
  const net_dialect *d = net_conn_listener(c)->dialects[c->dialect];
  if (d->on_close) d->on_close(c);
}

/*
 * Sends a close frame. `fail` (a protocol error, RFC 6455 "fail the
 * connection"): input is discarded from now on. Otherwise frames are still
 * parsed, waiting for the peer's close.
 */
void net_ws_send_close(net_conn *c, unsigned code, const char *reason, bool fail) {
  if (c->ws_close_sent || c->state != CONN_WS) {
    if (fail && c->state == CONN_WS) net_conn_linger(c, 2000);
    return;
  }
  uint8_t payload[125];
  size_t reason_len = reason ? strlen(reason) : 0;
  if (reason_len > sizeof(payload) - 2) reason_len = sizeof(payload) - 2;
  payload[0] = (uint8_t)(code >> 8);
  payload[1] = (uint8_t)code;
  if (reason_len) memcpy(payload + 2, reason, reason_len);
  net_conn_queue_frame(c, WS_OP_CLOSE, payload, 2 + reason_len);
  c->ws_close_sent = true;
  if (fail) {
    net_count(&c->thread->stats.ws_protocol_errors, 1);
    net_ws_closed(c);
    net_conn_linger(c, 2000);
  } else {
    c->deadline_ms = c->thread->now_ms + 2000; /* the peer has 2 s to answer */
  }
}

static void fail(net_conn *c, unsigned code, const char *reason) {
  log_debug("connection %s: closing with %u: %s", c->session, code, reason);
  net_ws_send_close(c, code, reason, true);
}

static void deliver(net_conn *c, const uint8_t *data, size_t len) {
  net_count(&c->thread->stats.messages_in, 1);
  if (c->ws_close_sent) return; /* closing: data is no longer acted on */
  const net_dialect *d = net_conn_listener(c)->dialects[c->dialect];
  d->on_text(c, (const char *)data, len);
}

static void on_close_frame(net_conn *c, const uint8_t *payload, size_t len) {
  c->ws_close_received = true;
  if (len == 1) {
    fail(c, WS_CLOSE_PROTOCOL_ERROR, "close payload of one byte");
    return;
  }
  unsigned code = 0;
  if (len >= 2) {
    code = (unsigned)payload[0] << 8 | payload[1];
    if (!ws_close_code_valid(code)) {
      fail(c, WS_CLOSE_PROTOCOL_ERROR, "invalid close code");
      return;
    }
    uint32_t utf8 = WS_UTF8_ACCEPT;
    if (!ws_utf8_feed(&utf8, payload + 2, len - 2) || utf8 != WS_UTF8_ACCEPT) {
      fail(c, WS_CLOSE_INVALID_PAYLOAD, "close reason is not valid UTF-8");
      return;
    }
  }
  if (!c->ws_close_sent) { /* the peer started: echo its code */
    if (len >= 2)
      net_conn_queue_frame(c, WS_OP_CLOSE, payload, 2);
    else
      net_conn_queue_frame(c, WS_OP_CLOSE, NULL, 0);
    c->ws_close_sent = true;
  }
  net_ws_closed(c);
  net_conn_linger(c, 2000); /* both closes exchanged: FIN once flushed */
}

static void on_data_frame(net_conn *c, const ws_frame *f, const uint8_t *payload) {
  size_t max = c->thread->server->cfg->net_max_message;
  if (f->opcode == WS_OP_BINARY && c->message_opcode == 0) {
    fail(c, WS_CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted: send text");
    return;
  }
  if (f->opcode != WS_OP_CONTINUATION && c->message_opcode != 0) {
    fail(c, WS_CLOSE_PROTOCOL_ERROR, "new message before the fragmented one ended");
    return;
  }
  if (f->opcode == WS_OP_CONTINUATION && c->message_opcode == 0) {
    fail(c, WS_CLOSE_PROTOCOL_ERROR, "continuation frame without a message");
    return;
  }
  if (!ws_utf8_feed(&c->utf8_state, payload, f->payload_len)) {
    fail(c, WS_CLOSE_INVALID_PAYLOAD, "text is not valid UTF-8");
    return;
  }
  if (f->fin && c->message_opcode == 0) { /* whole message in one frame: no copy */
    if (c->utf8_state != WS_UTF8_ACCEPT) {
      fail(c, WS_CLOSE_INVALID_PAYLOAD, "text ends inside a UTF-8 sequence");
      return;
    }
    deliver(c, payload, f->payload_len);
    return;
  }
  if (c->message.len + f->payload_len > max) {
    fail(c, WS_CLOSE_TOO_BIG, "message too big");
    return;
  }
  c->message_opcode = WS_OP_TEXT;
  if (f->payload_len) {
    net_buf *m = &c->message;
    if (m->len + f->payload_len > m->cap) {
      size_t cap = m->cap ? m->cap : 4096;
      while (cap < m->len + f->payload_len) cap *= 2;
      uint8_t *grown = realloc(m->data, cap);
      if (!grown) {
        fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
        return;
      }
      m->data = grown;
      m->cap = (uint32_t)cap;
    }
    memcpy(m->data + m->len, payload, f->payload_len);
    m->len += (uint32_t)f->payload_len;
  }
  if (!f->fin) return;
  if (c->utf8_state != WS_UTF8_ACCEPT) {
    fail(c, WS_CLOSE_INVALID_PAYLOAD, "text ends inside a UTF-8 sequence");
    return;
  }
  deliver(c, c->message.data, c->message.len);
  free(c->message.data);
  c->message = (net_buf){0};
  c->message_opcode = 0;
  c->utf8_state = WS_UTF8_ACCEPT;
}

size_t net_ws_consume(net_conn *c, uint8_t *buf, size_t len) {
  ws_frame f;
  int rc = ws_frame_parse(buf, len, &f);
  if (rc < 0) {
    fail(c, (unsigned)-rc, "protocol error in frame header");
    return len;
  }
  if (rc == 0) return 0;
  uint64_t max = c->thread->server->cfg->net_max_message;
  if (f.opcode < WS_OP_CLOSE && (f.payload_len > max || c->message.len + f.payload_len > max)) {
    fail(c, WS_CLOSE_TOO_BIG, "message too big");
    return len;
  }
  if (len - (size_t)rc < f.payload_len) return 0; /* the rest of the frame is on its way */
  uint8_t *payload = buf + rc;
  ws_unmask(payload, f.payload_len, f.mask, 0);
  net_count(&c->thread->stats.frames_in, 1);
  switch (f.opcode) {
  case WS_OP_PING:
    if (!c->ws_close_sent) net_conn_queue_frame(c, WS_OP_PONG, payload, f.payload_len);
    break;
  case WS_OP_PONG:
    break; /* any frame is a sign of life; nothing else to do */
  case WS_OP_CLOSE:
    on_close_frame(c, payload, f.payload_len);
    break;
  default:
    on_data_frame(c, &f, payload);
    break;
  }
  return (size_t)rc + f.payload_len;
}

void net_ws_tick(net_conn *c) {
  net_thread *t = c->thread;
  const config *cfg = t->server->cfg;
  if (t->now_ms - c->last_rx_ms >= (int64_t)cfg->ws_ping_timeout_ms) {
    log_debug("connection %s: no sign of life for %u ms; closing", c->session,
              cfg->ws_ping_timeout_ms);
    net_ws_send_close(c, WS_CLOSE_GOING_AWAY, "ping timeout", true);
    return;
  }
  if (t->now_ms >= c->next_ping_ms && !c->ws_close_sent) {
    net_conn_queue_frame(c, WS_OP_PING, NULL, 0);
    c->next_ping_ms = t->now_ms + cfg->ws_ping_interval_ms;
  }
}
