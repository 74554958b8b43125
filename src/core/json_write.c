/*
 * json_write.c: the JSON writer for server messages (see include/bourse/json.h).
 *
 * Why hand-written: Debian has no yyjson, and cJSON and jansson build a heap
 * tree first and print it second; the io and broadcast threads write every
 * reply and push straight into a preallocated buffer instead, with no
 * allocation and one pass.
 *
 * Thread-safe: no global state; a json_writer belongs to the thread that owns
 * its buffer (io threads for replies, the broadcast thread for market data).
 *
 * Decimal values are formatted here by a small local routine rather than by
 * decimal_format so this file does not depend on decimal.c; both follow the
 * contract in include/bourse/decimal.h (shortest exact form).
 */
#include "bourse/decimal.h"
#include "bourse/json.h"

#include "json_scan.h"

#include <string.h>

/* Per-level state bits in json_writer.frame. */
enum {
  FRAME_NONEMPTY = 1,  /* something was written at this level (so the next item needs a comma) */
  FRAME_OBJECT = 2,    /* this level is an object: keys and values alternate */
  FRAME_AFTER_KEY = 4, /* a key was written, its value is due */
};

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

static const char hex_digits[] = "0123456789abcdef";

void json_writer_init(json_writer *w, char *buf, size_t cap) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->status = JSON_OK;
  w->depth = 0;
  w->frame[0] = 0;
}

json_status json_writer_finish(const json_writer *w, size_t *out_len) {
  if (w->status != JSON_OK) return w->status;
  if (w->depth != 0 || !(w->frame[0] & FRAME_NONEMPTY)) return JSON_ERR_NESTING;
  *out_len = w->len;
  return JSON_OK;
}

static void writer_fail(json_writer *w, json_status status) {
  if (w->status == JSON_OK) w->status = status;
}

/* Appends n bytes, or records JSON_ERR_NO_SPACE and appends nothing. */
static inline void put_bytes(json_writer *w, const void *bytes, size_t n) {
  if (w->status != JSON_OK) return;
  if (w->cap - w->len < n) {
    writer_fail(w, JSON_ERR_NO_SPACE);
    return;
  }
  memcpy(w->buf + w->len, bytes, n);
  w->len += n;
}

static inline void put_char(json_writer *w, char c) {
  put_bytes(w, &c, 1);
}

/*
 * Called before every value: writes the comma if one is due and checks a
 * value may go here (after a key in an object; at most one at the top).
 * Returns false when the writer is (now) in error.
 */
static bool value_begin(json_writer *w) {
  if (w->status != JSON_OK) return false;
  uint8_t *frame = &w->frame[w->depth];
  if (*frame & FRAME_OBJECT) {
    if (!(*frame & FRAME_AFTER_KEY)) {
      writer_fail(w, JSON_ERR_NESTING);
      return false;
    }
    *frame &= (uint8_t)~FRAME_AFTER_KEY;
    return true;
  }
  if (*frame & FRAME_NONEMPTY) {
    if (w->depth == 0) { /* a second top-level value would not be one JSON document */
      writer_fail(w, JSON_ERR_NESTING);
      return false;
    }
    put_char(w, ',');
  }
  *frame |= FRAME_NONEMPTY;
  return w->status == JSON_OK;
}

/* Escapes one byte that is not plain: '"', '\\' or a control character. */
static void put_escape(json_writer *w, uint8_t c) {
  char esc[6] = {'\\', 0, 0, 0, 0, 0};
  switch (c) {
  case '"':
    esc[1] = '"';
    break;
  case '\\':
    esc[1] = '\\';
    break;
  case '\n':
    esc[1] = 'n';
    break;
  case '\r':
    esc[1] = 'r';
    break;
  case '\t':
    esc[1] = 't';
    break;
  case '\b':
    esc[1] = 'b';
    break;
  case '\f':
    esc[1] = 'f';
    break;
  default:
    memcpy(esc + 1, "u00", 3);
    esc[4] = hex_digits[c >> 4];
    esc[5] = hex_digits[c & 0xF];
    put_bytes(w, esc, 6);
    return;
  }
  put_bytes(w, esc, 2);
}

/* Writes s[0..len) between quotes, escaped; plain runs are copied whole. */
static void put_string(json_writer *w, const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s, *end = p + len;
  put_char(w, '"');
  while (p < end) {
    const uint8_t *run = p;
    while (end - p >= 8) {
      unsigned plain = json_scan_plain8(p);
      p += plain;
      if (plain < 8) break;
    }
    if (end - p < 8)
      while (p < end && json_scan_is_plain(*p)) p++;
    put_bytes(w, run, (size_t)(p - run));
    if (p == end) break;
    if (*p < 0x80) {
      put_escape(w, *p);
      p++;
      continue;
    }
    size_t n = json_utf8_sequence(p, end);
    if (n != 0) {
      put_bytes(w, p, n);
      p += n;
    } else {
      put_bytes(w, "\xEF\xBF\xBD", 3); /* U+FFFD: keep the output valid UTF-8 */
      p++;
    }
  }
  put_char(w, '"');
}

void json_write_object_begin(json_writer *w) {
  if (!value_begin(w)) return;
  if (w->depth == JSON_WRITER_MAX_DEPTH) {
    writer_fail(w, JSON_ERR_NESTING);
    return;
  }
  put_char(w, '{');
  w->frame[++w->depth] = FRAME_OBJECT;
}

void json_write_array_begin(json_writer *w) {
  if (!value_begin(w)) return;
  if (w->depth == JSON_WRITER_MAX_DEPTH) {
    writer_fail(w, JSON_ERR_NESTING);
    return;
  }
  put_char(w, '[');
  w->frame[++w->depth] = 0;
}

/* Closes the innermost container if it is of the expected kind. */
static void container_end(json_writer *w, uint8_t object_bit, char closer) {
  if (w->status != JSON_OK) return;
  uint8_t frame = w->frame[w->depth];
  if (w->depth == 0 || (frame & FRAME_OBJECT) != object_bit || (frame & FRAME_AFTER_KEY)) {
    writer_fail(w, JSON_ERR_NESTING);
    return;
  }
  put_char(w, closer);
  w->depth--;
}

void json_write_object_end(json_writer *w) {
  container_end(w, FRAME_OBJECT, '}');
}

void json_write_array_end(json_writer *w) {
  container_end(w, 0, ']');
}

void json_write_key(json_writer *w, const char *key, size_t len) {
  if (w->status != JSON_OK) return;
  uint8_t *frame = &w->frame[w->depth];
  if (!(*frame & FRAME_OBJECT) || (*frame & FRAME_AFTER_KEY)) {
    writer_fail(w, JSON_ERR_NESTING);
    return;
  }
  if (*frame & FRAME_NONEMPTY) put_char(w, ',');
  put_string(w, key, len);
  put_char(w, ':');
  *frame |= FRAME_NONEMPTY | FRAME_AFTER_KEY;
}

void json_write_string(json_writer *w, const char *s, size_t len) {
  if (!value_begin(w)) return;
  put_string(w, s, len);
}

/* Formats v in decimal into the end of tmp[0..20); returns the first digit's index. */
static size_t format_u64(uint64_t v, char tmp[20]) {
  size_t i = 20;
  while (v >= 100) {
    unsigned pair = (unsigned)(v % 100);
    v /= 100;
    i -= 2;
    memcpy(tmp + i, digit_pairs + 2 * pair, 2);
  }
  if (v >= 10) {
    i -= 2;
    memcpy(tmp + i, digit_pairs + 2 * v, 2);
  } else {
    tmp[--i] = (char)('0' + v);
  }
  return i;
}

void json_write_uint64(json_writer *w, uint64_t value) {
  if (!value_begin(w)) return;
  char tmp[20];
  size_t first = format_u64(value, tmp);
  put_bytes(w, tmp + first, 20 - first);
}

void json_write_int64(json_writer *w, int64_t value) {
  if (!value_begin(w)) return;
  char tmp[21];
  /* 0 - (uint64_t)value is the magnitude even for INT64_MIN */
  uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
  size_t first = format_u64(magnitude, tmp + 1) + 1;
  if (value < 0) tmp[--first] = '-';
  put_bytes(w, tmp + first, 21 - first);
}

void json_write_bool(json_writer *w, bool value) {
  if (!value_begin(w)) return;
  if (value)
    put_bytes(w, "true", 4);
  else
    put_bytes(w, "false", 5);
}

void json_write_null(json_writer *w) {
  if (!value_begin(w)) return;
  put_bytes(w, "null", 4);
}

void json_write_raw(json_writer *w, const char *json, size_t len) {
  if (!value_begin(w)) return;
  put_bytes(w, json, len);
}

/*
 * Formats value / 10^scale (scale <= DECIMAL_MAX_SCALE) into out (at least
 * DECIMAL_MAX_CHARS bytes) in shortest exact form; returns the length.
 * Exact by construction: it only moves the decimal digits of |value| around,
 * prefixing zeros when the value is below one and dropping the zeros at the
 * end of the fraction.
 */
static size_t format_decimal(int64_t value, unsigned scale, char *out) {
  char tmp[20];
  uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
  size_t first = format_u64(magnitude, tmp);
  const char *digits = tmp + first;
  size_t ndigits = 20 - first, o = 0;
  if (value < 0) out[o++] = '-';
  /* Integer part: the digits above the scale, or "0". */
  size_t int_digits = ndigits > scale ? ndigits - scale : 0;
  if (int_digits == 0) {
    out[o++] = '0';
  } else {
    memcpy(out + o, digits, int_digits);
    o += int_digits;
  }
  /* Fraction: scale digits (zero-padded on the left), minus trailing zeros. */
  size_t frac_zeros = ndigits < scale ? scale - ndigits : 0;
  const char *frac = digits + int_digits;
  size_t frac_len = ndigits - int_digits;
  while (frac_len > 0 && frac[frac_len - 1] == '0') frac_len--;
  if (frac_len > 0) {
    out[o++] = '.';
    memset(out + o, '0', frac_zeros);
    o += frac_zeros;
    memcpy(out + o, frac, frac_len);
    o += frac_len;
  }
  return o;
}

void json_write_decimal(json_writer *w, int64_t value, unsigned scale) {
  if (!value_begin(w)) return;
  if (scale > DECIMAL_MAX_SCALE) {
    writer_fail(w, JSON_ERR_RANGE);
    return;
  }
  char text[DECIMAL_MAX_CHARS + 2];
  text[0] = '"';
  size_t n = format_decimal(value, scale, text + 1);
  text[n + 1] = '"';
  put_bytes(w, text, n + 2);
}
