/*
 * ws.c: RFC 6455 framing primitives (see include/bourse/ws.h). SHA-1 and
 * base64 come from OpenSSL; the framing and UTF-8 checks are hand-written
 * because they run on every message in the io thread's own buffers, and the
 * packaged WebSocket libraries (libwebsockets, wslay) bring their own event
 * loop or callbacks and per-connection allocations.
 *
 * Thread-safe: pure functions.
 */
#include "bourse/ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

static bool ws_opcode_known(uint8_t opcode) {
  return opcode <= WS_OP_BINARY || (opcode >= WS_OP_CLOSE && opcode <= WS_OP_PONG);
}

int ws_frame_parse(const uint8_t *buf, size_t len, ws_frame *f) {
  if (len < 2) return 0;
  f->fin = (buf[0] & 0x80) != 0;
  f->rsv = (uint8_t)((buf[0] >> 4) & 0x7);
  f->opcode = buf[0] & 0x0f;
  f->masked = (buf[1] & 0x80) != 0;
  uint64_t length = buf[1] & 0x7f;
  if (f->rsv != 0 || !ws_opcode_known(f->opcode) || !f->masked) return -WS_CLOSE_PROTOCOL_ERROR;
  bool control = f->opcode >= WS_OP_CLOSE;
  if (control && (!f->fin || length > 125)) return -WS_CLOSE_PROTOCOL_ERROR;
  size_t pos = 2;
  if (length == 126) {
    if (len < 4) return 0;
    length = (uint64_t)buf[2] << 8 | buf[3];
    pos = 4;
  } else if (length == 127) {
    if (len < 10) return 0;
    length = 0;
    for (int i = 0; i < 8; i++) length = length << 8 | buf[2 + i];
    if (length >> 63) return -WS_CLOSE_PROTOCOL_ERROR;
    pos = 10;
  }
  if (len < pos + 4) return 0;
  memcpy(f->mask, buf + pos, 4);
  f->header_len = (uint32_t)(pos + 4);
  f->payload_len = length;
  return (int)f->header_len;
}

size_t ws_frame_header_len(uint64_t payload_len) {
  return payload_len < 126 ? 2 : payload_len <= 0xffff ? 4 : 10;
}

size_t ws_frame_header_write(uint8_t *out, uint8_t opcode, uint64_t payload_len) {
  out[0] = (uint8_t)(0x80 | opcode);
  if (payload_len < 126) {
    out[1] = (uint8_t)payload_len;
    return 2;
  }
  if (payload_len <= 0xffff) {
    out[1] = 126;
    out[2] = (uint8_t)(payload_len >> 8);
    out[3] = (uint8_t)payload_len;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
  return 10;
}

void ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset) {
  uint8_t rotated[8];
  for (int i = 0; i < 8; i++) rotated[i] = mask[(offset + (uint64_t)i) & 3];
  uint64_t word_mask;
  memcpy(&word_mask, rotated, 8);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t word;
    memcpy(&word, data + i, 8);
    word ^= word_mask;
    memcpy(data + i, &word, 8);
  }
  for (; i < len; i++) data[i] ^= rotated[i & 7];
}

/*
 * States: 0 accept; 1..3 need that many continuation bytes (80..BF);
 * 4 after E0 (next A0..BF), 5 after ED (next 80..9F), 6 after F0 (next
 * 90..BF), 7 after F4 (next 80..8F); 8 reject (sticky).
 */
enum { UTF8_REJECT = 8 };

static uint32_t utf8_step(uint32_t state, uint8_t b) {
  switch (state) {
  case 0:
    if (b < 0x80) return 0;
    if (b >= 0xC2 && b <= 0xDF) return 1;
    if (b == 0xE0) return 4;
    if (b == 0xED) return 5;
    if (b >= 0xE1 && b <= 0xEF) return 2;
    if (b == 0xF0) return 6;
    if (b >= 0xF1 && b <= 0xF3) return 3;
    if (b == 0xF4) return 7;
    return UTF8_REJECT;
  case 1:
  case 2:
  case 3:
    return (b >= 0x80 && b <= 0xBF) ? state - 1 : UTF8_REJECT;
  case 4:
    return (b >= 0xA0 && b <= 0xBF) ? 1 : UTF8_REJECT;
  case 5:
    return (b >= 0x80 && b <= 0x9F) ? 1 : UTF8_REJECT;
  case 6:
    return (b >= 0x90 && b <= 0xBF) ? 2 : UTF8_REJECT;
  case 7:
    return (b >= 0x80 && b <= 0x8F) ? 2 : UTF8_REJECT;
  default:
    return UTF8_REJECT;
  }
}

bool ws_utf8_feed(uint32_t *state, const uint8_t *s, size_t len) {
  uint32_t st = *state;
  size_t i = 0;
  while (i < len) {
    if (st == 0) { /* ASCII fast path, 8 bytes at a time */
      while (i + 8 <= len) {
        uint64_t word;
        memcpy(&word, s + i, 8);
        if (word & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i >= len) break;
    }
    st = utf8_step(st, s[i++]);
    if (st == UTF8_REJECT) break;
  }
  *state = st;
  return st != UTF8_REJECT;
}

bool ws_close_code_valid(unsigned code) {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1011) return true;
  return code >= 3000 && code <= 4999;
}

static bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

bool ws_key_valid(const char *key, size_t len) {
  if (len != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; i++)
    if (!is_base64_char(key[i])) return false;
  /* The last character before "==" carries 2 bits of data: the rest are 0. */
  return strchr("AQgw", key[21]) != NULL;
}

int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return -1;
  int ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, key, len) &&
           EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1) && EVP_DigestFinal_ex(ctx, digest, NULL);
  EVP_MD_CTX_free(ctx);
  if (!ok) return -1;
  EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
  return 0;
}
