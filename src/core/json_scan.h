/*
 * json_scan.h: byte-level helpers shared by the JSON tokenizer (json.c) and
 * writer (json_write.c); private to src/core. Thread-safe: pure functions.
 */
#ifndef BOURSE_JSON_SCAN_H
#define BOURSE_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Counts the leading "plain" bytes of p[0..8): printable ASCII other than '"'
 * and '\\', the bytes a string scanner can skip without looking at them.
 * Returns 8 when all are plain. SWAR: one 64-bit load and a few ALU ops per
 * 8 bytes instead of a compare-and-branch per byte. The per-byte tests are
 * exact for the lowest flagged byte (borrows only propagate upwards), which is
 * all count-trailing-zeros looks at.
 */
static inline unsigned json_scan_plain8(const uint8_t *p) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t x;
  memcpy(&x, p, sizeof x);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  x = __builtin_bswap64(x); /* make p[0] the least significant byte */
#endif
  uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
  /* high bit per byte: < 0x20, == '"', == '\\', or >= 0x80 */
  uint64_t special = ((x - ones * 0x20) | (quote - ones) | (backslash - ones) | x) & high;
  return special ? (unsigned)__builtin_ctzll(special) >> 3 : 8;
}

/* True for a byte json_scan_plain8 counts as plain. */
static inline int json_scan_is_plain(uint8_t c) {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*
 * Length (2..4) of the well-formed UTF-8 sequence at p[0] (a byte >= 0x80)
 * within p[0..end), or 0 when there is none: a stray continuation byte, an
 * overlong form (C0, C1, E0 80..9F, F0 80..8F), a UTF-16 surrogate (ED A0..BF),
 * a code point above U+10FFFF (F4 90.., F5..FF), or a cut-off sequence.
 * Follows the Unicode "well-formed byte sequences" table (Table 3-7).
 */
static inline size_t json_utf8_sequence(const uint8_t *p, const uint8_t *end) {
  size_t avail = (size_t)(end - p);
  uint8_t c = p[0], lo = 0x80, hi = 0xBF;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (avail < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80) return 0;
    return 3;
  }
  if (c < 0xF5) {
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    if (avail < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    return 4;
  }
  return 0;
}

#endif
