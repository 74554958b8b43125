/*
 * wsclient.c: the client side of RFC 6455 that bourse-load needs: the upgrade
 * request, checking the 101 response, masked frame headers and parsing the
 * server's frame headers. Pure functions over buffers; used by the worker
 * threads, thread-safe (no shared state).
 *
 * Why hand-written rather than a library (libwebsockets, wslay): a load tool
 * must own its buffers and its event loop to send without allocating or
 * copying per message, and the client half of RFC 6455 is small. SHA-1 and
 * base64 come from OpenSSL's libcrypto.
 */
#include "load.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

uint64_t load_prng_next(uint64_t *state) {
  /* xorshift64*: fast and good enough for masks and keys (see load_ws_frame_header) */
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * UINT64_C(2685821657736338717);
}

void load_ws_make_key(uint64_t *prng, char key[25]) {
  uint8_t raw[16];
  uint64_t a = load_prng_next(prng), b = load_prng_next(prng);
  memcpy(raw, &a, 8);
  memcpy(raw + 8, &b, 8);
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw)); /* 24 characters and a NUL */
}

size_t load_ws_request(char *out, size_t cap, const load_options *opt, const char *key,
                       uint32_t group) {
  /* the path with every %k replaced by the group (subscribe --spread) */
  char path[sizeof(opt->path) + LOAD_TEMPLATE_MAX_IDS * 10];
  const load_template *tpl = &opt->path_tpl;
  if (load_template_length(tpl, group) >= sizeof(path)) return 0;
  load_template_expand(tpl, group, path);
  path[load_template_length(tpl, group)] = 0;
  int n = snprintf(out, cap,
                   "GET %s HTTP/1.1\r\n"
                   "Host: %s\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "User-Agent: bourse-load/" BOURSE_VERSION "\r\n"
                   "\r\n",
                   path, opt->host_header, key);
  if (n < 0 || (size_t)n >= cap) return 0;
  return (size_t)n;
}

/* The value of header `name` in the header block [p, end), trimmed; NULL if absent. */
static const char *header_value(const char *p, const char *end, const char *name, size_t *len) {
  size_t name_len = strlen(name);
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if ((size_t)(eol - p) > name_len && strncasecmp(p, name, name_len) == 0 && p[name_len] == ':') {
      const char *v = p + name_len + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      *len = (size_t)(ve - v);
      return v;
    }
    p = eol + 1;
  }
  return NULL;
}

/* True if the comma-separated list [v, v+len) holds `token`, ignoring case. */
static bool has_token(const char *v, size_t len, const char *token) {
  size_t tlen = strlen(token);
  const char *end = v + len;
  while (v < end) {
    while (v < end && (*v == ' ' || *v == ',' || *v == '\t')) v++;
    const char *e = v;
    while (e < end && *e != ',') e++;
    const char *te = e;
    while (te > v && (te[-1] == ' ' || te[-1] == '\t')) te--;
    if ((size_t)(te - v) == tlen && strncasecmp(v, token, tlen) == 0) return true;
    v = e;
  }
  return false;
}

load_ws_handshake load_ws_response(const uint8_t *buf, size_t len, const char *key,
                                   size_t *header_len) {
  const char *text = (const char *)buf;
  const char *blank = memmem(text, len, "\r\n\r\n", 4);
  if (!blank) return LOAD_WS_INCOMPLETE;
  *header_len = (size_t)(blank - text) + 4;
  const char *end = blank + 2;
  if (len < 12 || memcmp(text, "HTTP/1.1 101", 12) != 0) return LOAD_WS_BAD;
  const char *p = memchr(text, '\n', (size_t)(end - text));
  if (!p) return LOAD_WS_BAD;
  p++;

  size_t vlen;
  const char *v = header_value(p, end, "Upgrade", &vlen);
  if (!v || !has_token(v, vlen, "websocket")) return LOAD_WS_BAD;
  v = header_value(p, end, "Connection", &vlen);
  if (!v || !has_token(v, vlen, "upgrade")) return LOAD_WS_BAD;
  v = header_value(p, end, "Sec-WebSocket-Accept", &vlen);
  if (!v) return LOAD_WS_BAD;

  char joined[24 + sizeof(ws_guid)];
  memcpy(joined, key, 24);
  memcpy(joined + 24, ws_guid, sizeof(ws_guid) - 1);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)joined, 24 + sizeof(ws_guid) - 1, digest);
  char expected[29];
  EVP_EncodeBlock((unsigned char *)expected, digest, SHA_DIGEST_LENGTH); /* 28 + NUL */
  if (vlen != 28 || memcmp(v, expected, 28) != 0) return LOAD_WS_BAD;
  return LOAD_WS_OK;
}

size_t load_ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len, uint64_t *prng) {
  size_t n;
  out[0] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    out[1] = (uint8_t)(0x80 | len);
    n = 2;
  } else if (len <= 0xFFFF) {
    out[1] = 0x80 | 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    n = 4;
  } else {
    out[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    n = 10;
  }
  /* The mask only keeps a browser's script from steering bytes on the wire
   * (cache poisoning of proxies); a load tool has no attacker to defend
   * against, so a fast non-cryptographic generator is enough. */
  uint32_t mask = (uint32_t)(load_prng_next(prng) >> 32);
  memcpy(out + n, &mask, 4);
  return n + 4;
}

void load_ws_mask(uint8_t *payload, size_t len, const uint8_t mask[4]) {
  uint32_t m32;
  memcpy(&m32, mask, 4);
  uint64_t m64 = ((uint64_t)m32 << 32) | m32;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, payload + i, 8);
    w ^= m64;
    memcpy(payload + i, &w, 8);
  }
  for (; i < len; i++) payload[i] ^= mask[i & 3];
}

load_ws_parse load_ws_parse_header(const uint8_t *buf, size_t len, load_ws_frame *frame) {
  if (len < 2) return LOAD_WS_NEED_MORE;
  uint8_t b0 = buf[0], b1 = buf[1];
  if (b0 & 0x70) return LOAD_WS_INVALID; /* RSV bits: we negotiate no extension */
  if (b1 & 0x80) return LOAD_WS_INVALID; /* servers must not mask */
  frame->fin = (b0 & 0x80) != 0;
  frame->opcode = b0 & 0x0F;
  switch (frame->opcode) {
  case LOAD_WS_CONTINUATION:
  case LOAD_WS_TEXT:
  case LOAD_WS_BINARY:
  case LOAD_WS_CLOSE:
  case LOAD_WS_PING:
  case LOAD_WS_PONG:
    break;
  default:
    return LOAD_WS_INVALID;
  }
  uint64_t plen = b1 & 0x7F;
  size_t hlen = 2;
  if (plen == 126) {
    if (len < 4) return LOAD_WS_NEED_MORE;
    plen = ((uint64_t)buf[2] << 8) | buf[3];
    hlen = 4;
  } else if (plen == 127) {
    if (len < 10) return LOAD_WS_NEED_MORE;
    plen = 0;
    for (int i = 0; i < 8; i++) plen = (plen << 8) | buf[2 + i];
    if (plen >> 63) return LOAD_WS_INVALID; /* the most significant bit must be 0 */
    hlen = 10;
  }
  if (frame->opcode >= LOAD_WS_CLOSE && (!frame->fin || plen > 125)) return LOAD_WS_INVALID;
  frame->header_len = (uint8_t)hlen;
  frame->payload_len = plen;
  return LOAD_WS_FRAME;
}
