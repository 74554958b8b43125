/*
 * encoding.c: base64url (JWS) and base32 (TOTP secrets), see
 * include/bourse/auth.h.
 *
 * base64url goes through OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock, which
 * speak standard padded base64. What is added here is the translation: the
 * alphabet (-_ for +/), the padding JWS leaves out, and the strictness
 * EVP_DecodeBlock lacks (it skips surrounding whitespace, returns padding
 * bytes as zeros and accepts non-canonical trailing bits).
 *
 * base32 is hand-written: OpenSSL has no base32, and the Debian libraries
 * that do (liboath) would be a dependency for twenty lines.
 *
 * Thread-safe: pure functions.
 */
#include "bourse/auth.h"

#include <openssl/evp.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* base64url                                                                */

/* The 6-bit value of a base64url character, or -1. */
static int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Chunk of input translated and decoded at a time: a multiple of 4. */
#define B64_CHUNK 256

int auth_base64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len) {
  size_t tail = len % 4;
  if (tail == 1) return -1; /* 6 bits cannot make a byte */
  for (size_t i = 0; i < len; i++)
    if (base64url_value(in[i]) < 0) return -1;
  /* Non-canonical: the bits the last character carries beyond the last byte must be 0. */
  if (tail == 2 && (base64url_value(in[len - 1]) & 0x0f) != 0) return -1;
  if (tail == 3 && (base64url_value(in[len - 1]) & 0x03) != 0) return -1;
  size_t need = len / 4 * 3 + (tail == 2 ? 1 : tail == 3 ? 2 : 0);
  if (need > cap) return -1;

  char chunk[B64_CHUNK];
  size_t pos = 0, written = 0;
  while (pos < len) {
    size_t n = len - pos < B64_CHUNK ? len - pos : B64_CHUNK;
    size_t padded = (n + 3) / 4 * 4;
    for (size_t i = 0; i < n; i++) {
      char c = in[pos + i];
      chunk[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (size_t i = n; i < padded; i++) chunk[i] = '=';
    /* EVP_DecodeBlock writes 3 bytes per quad, padding included: decode a
       padded last quad into a scratch buffer so out is never overrun. */
    size_t whole = n == padded ? n : padded - 4;
    if (whole > 0) {
      if (EVP_DecodeBlock(out + written, (const unsigned char *)chunk, (int)whole) !=
          (int)(whole / 4 * 3))
        return -1;
      written += whole / 4 * 3;
    }
    if (whole < padded) {
      unsigned char last[3];
      if (EVP_DecodeBlock(last, (const unsigned char *)chunk + whole, 4) != 3) return -1;
      size_t keep = padded - n == 2 ? 1 : 2;
      memcpy(out + written, last, keep);
      written += keep;
    }
    pos += n;
  }
  *out_len = written;
  return 0;
}

int auth_base64url_encode(const uint8_t *in, size_t len, char *out, size_t cap) {
  size_t full = (len + 2) / 3 * 4; /* padded length */
  size_t pad = len % 3 == 0 ? 0 : 3 - len % 3;
  if (full - pad + 1 > cap) return -1;
  size_t written = 0;
  unsigned char chunk[B64_CHUNK + 1];
  /* Whole groups of 3 bytes per call, so only the last call pads. */
  for (size_t pos = 0; pos < len;) {
    size_t n = len - pos < B64_CHUNK / 4 * 3 ? len - pos : B64_CHUNK / 4 * 3;
    int m = EVP_EncodeBlock(chunk, in + pos, (int)n);
    for (int i = 0; i < m; i++) {
      unsigned char c = chunk[i];
      if (c == '=') break; /* only in the last group */
      out[written++] = c == '+' ? '-' : c == '/' ? '_' : (char)c;
    }
    pos += n;
  }
  out[written] = '\0';
  return (int)written;
}

/* ------------------------------------------------------------------------ */
/* base32                                                                   */

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int auth_base32_encode(const uint8_t *in, size_t len, char *out, size_t cap) {
  size_t need = (len * 8 + 4) / 5;
  if (need + 1 > cap) return -1;
  size_t written = 0;
  uint32_t buffer = 0;
  unsigned bits = 0;
  for (size_t i = 0; i < len; i++) {
    buffer = buffer << 8 | in[i];
    bits += 8;
    while (bits >= 5) {
      out[written++] = base32_alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out[written++] = base32_alphabet[(buffer << (5 - bits)) & 31];
  out[written] = '\0';
  return (int)written;
}

/* The 5-bit value of a base32 character (either case), or -1. */
static int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

int auth_base32_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len) {
  size_t end = len;
  while (end > 0 && (in[end - 1] == '=' || in[end - 1] == ' ')) end--;
  uint32_t buffer = 0;
  unsigned bits = 0;
  size_t chars = 0, written = 0;
  for (size_t i = 0; i < end; i++) {
    if (in[i] == ' ' || in[i] == '-') continue;
    int v = base32_value(in[i]);
    if (v < 0) return -1;
    chars++;
    buffer = (buffer << 5 | (uint32_t)v) & 0xfff; /* at most 12 live bits */
    bits += 5;
    if (bits >= 8) {
      if (written == cap) return -1;
      out[written++] = (uint8_t)(buffer >> (bits - 8));
      bits -= 8;
    }
  }
  /* A last group of 1, 3 or 6 characters cannot come from whole bytes. */
  size_t rem = chars % 8;
  if (rem == 1 || rem == 3 || rem == 6) return -1;
  *out_len = written;
  return 0;
}
