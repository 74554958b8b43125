/*
 * ws.h: RFC 6455 pieces the io thread uses: the handshake's accept key,
 * frame header parsing and writing, unmasking, incremental UTF-8 validation
 * and close-code rules. Connection state lives in the io loop (net/loop.c);
 * these are pure functions over bytes, so they are unit-tested and fuzzed on
 * their own.
 *
 * Thread-safe: pure functions.
 */
#ifndef BOURSE_WS_H
#define BOURSE_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
  WS_OP_CONTINUATION = 0x0,
  WS_OP_TEXT = 0x1,
  WS_OP_BINARY = 0x2,
  WS_OP_CLOSE = 0x8,
  WS_OP_PING = 0x9,
  WS_OP_PONG = 0xA,
};

/* Close codes bourse sends (RFC 6455 section 7.4.1). */
enum {
  WS_CLOSE_NORMAL = 1000,
  WS_CLOSE_GOING_AWAY = 1001,
  WS_CLOSE_PROTOCOL_ERROR = 1002,
  WS_CLOSE_UNSUPPORTED_DATA = 1003,
  WS_CLOSE_INVALID_PAYLOAD = 1007,
  WS_CLOSE_POLICY_VIOLATION = 1008,
  WS_CLOSE_TOO_BIG = 1009,
  WS_CLOSE_INTERNAL_ERROR = 1011,
};

/* Longest header a server frame needs: 2 + 8 length bytes (never masked). */
#define WS_MAX_SERVER_HEADER 10
/* Length of the Sec-WebSocket-Accept value plus its NUL. */
#define WS_ACCEPT_LEN 29

typedef struct ws_frame {
  bool fin;
  uint8_t rsv; /* the three RSV bits, 0..7 */
  uint8_t opcode;
  bool masked;
  uint8_t mask[4];
  uint32_t header_len;  /* bytes before the payload */
  uint64_t payload_len; /* bytes of payload */
} ws_frame;

/*
 * Parses a client frame header from buf[0..len). Returns the header length
 * (> 0) and fills *f; 0 when more bytes are needed; or minus a close code
 * when the header breaks the protocol: -1002 for RSV bits (no extension is
 * negotiated), unknown opcodes, unmasked frames, control frames that are
 * fragmented or longer than 125 bytes, and 64-bit lengths with the top bit
 * set. The payload length is not limited here; the caller compares it with
 * its message limit (1009).
 */
int ws_frame_parse(const uint8_t *buf, size_t len, ws_frame *f);

/*
 * Writes an unmasked FIN frame header for `opcode` and payload_len bytes into
 * out (at least WS_MAX_SERVER_HEADER bytes). Returns the header length.
 */
size_t ws_frame_header_write(uint8_t *out, uint8_t opcode, uint64_t payload_len);

/* Length of the header ws_frame_header_write would write. */
size_t ws_frame_header_len(uint64_t payload_len);

/*
 * XORs data[0..len) with the mask, where data starts `offset` bytes into the
 * frame's payload (so a payload can be unmasked in pieces).
 */
void ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/*
 * Incremental UTF-8 validation across fragments. Start with state
 * WS_UTF8_ACCEPT; feed each piece; false as soon as the bytes so far cannot
 * be the start of valid UTF-8 (overlongs, surrogates, > U+10FFFF, stray
 * continuation bytes). At the end of the message the text is valid iff
 * state == WS_UTF8_ACCEPT (no sequence cut off).
 */
#define WS_UTF8_ACCEPT 0u
bool ws_utf8_feed(uint32_t *state, const uint8_t *s, size_t len);

/*
 * True when `code` may appear in a close frame from a peer: 1000-1003,
 * 1007-1011, 3000-4999. (1004-1006 and 1015 are reserved or must never be
 * sent; other codes below 3000 are unassigned.)
 */
bool ws_close_code_valid(unsigned code);

/*
 * True when `key` is a valid Sec-WebSocket-Key: base64 of exactly 16 bytes
 * (24 characters ending in "==").
 */
bool ws_key_valid(const char *key, size_t len);

/*
 * Computes Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) with OpenSSL
 * into out (WS_ACCEPT_LEN bytes incl. NUL). Returns 0, or -1 if OpenSSL fails.
 */
int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN]);

#endif
