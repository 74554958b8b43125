/*
 * decimal.c: exact decimal strings <-> scaled int64 (see include/bourse/decimal.h).
 *
 * Thread-safe: pure functions over their arguments and constant tables.
 *
 * Why hand-written: strtod/strtoll round or stop silently at the first bad
 * character, and libmpdec is far too slow and allocates. Parsing runs on the
 * io threads for every price and quantity of every order, so the common case
 * (integer digits plus scale at most 18: the scaled value is below 10^18 and
 * cannot overflow an int64) takes a fast path with no per-digit overflow
 * check; anything longer falls back to a checked path.
 *
 * Decisions beyond the header's grammar:
 *   - leading zeros are accepted ("007.5" is 7.5): they change nothing and
 *     some clients zero-pad;
 *   - "-0" and "-0.00" are 0 when DECIMAL_ALLOW_NEGATIVE is given, and
 *     DECIMAL_SIGN otherwise (the caller did not allow a '-');
 *   - when a string has several faults, the first of EMPTY/SYNTAX, SIGN,
 *     TOO_PRECISE, OVERFLOW in that order is reported.
 */
#include "bourse/decimal.h"

#include <string.h>

static const int64_t decimal_pow10_table[DECIMAL_MAX_SCALE + 1] = {
    1,
    10,
    100,
    1000,
    10000,
    100000,
    1000000,
    10000000,
    100000000,
    1000000000,
    10000000000,
    100000000000,
    1000000000000,
    10000000000000,
    100000000000000,
    1000000000000000,
    10000000000000000,
    100000000000000000,
    1000000000000000000,
};

int64_t decimal_pow10(unsigned exponent) {
  return exponent <= DECIMAL_MAX_SCALE ? decimal_pow10_table[exponent] : 0;
}

static inline unsigned decimal_digit(char c) {
  return (unsigned)(unsigned char)c - (unsigned)'0';
}

/*
 * The checked path, taken only when the integer part has more digits than
 * 18 - scale (so the fast path could overflow). `whole` holds the integer
 * digits [int_begin, int_end); `frac` is already scaled to `scale` digits.
 */
static decimal_status decimal_parse_checked(const char *int_begin, const char *int_end,
                                            unsigned scale, uint64_t frac, bool negative,
                                            int64_t *out) {
  while (int_begin < int_end && *int_begin == '0') int_begin++;
  /* 20 significant integer digits are >= 10^19 > 2^63: no need to look further. */
  if (int_end - int_begin > 19) return DECIMAL_OVERFLOW;
  uint64_t whole = 0; /* at most 19 digits: < 10^19 < 2^64, cannot wrap */
  for (const char *p = int_begin; p < int_end; p++) whole = whole * 10 + decimal_digit(*p);
  uint64_t scaled;
  if (__builtin_mul_overflow(whole, (uint64_t)decimal_pow10_table[scale], &scaled) ||
      __builtin_add_overflow(scaled, frac, &scaled))
    return DECIMAL_OVERFLOW;
  const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  if (scaled > limit) return DECIMAL_OVERFLOW;
  if (negative)
    *out = scaled == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)scaled;
  else
    *out = (int64_t)scaled;
  return DECIMAL_OK;
}

decimal_status decimal_parse(const char *s, size_t len, unsigned scale, unsigned flags,
                             int64_t *out) {
  if (scale > DECIMAL_MAX_SCALE) return DECIMAL_BAD_SCALE;
  const char *p = s;
  const char *end = s + len;
  bool negative = p < end && *p == '-';
  p += negative;

  /* Integer part. The sum wraps harmlessly (unsigned) when it is too long;
   * that case is recomputed by decimal_parse_checked. */
  const char *int_begin = p;
  uint64_t whole = 0;
  unsigned d;
  while (p < end && (d = decimal_digit(*p)) < 10) {
    whole = whole * 10 + d;
    p++;
  }
  const char *int_end = p;

  /* Fractional part: the first `scale` digits count, the rest must be zeros. */
  uint64_t frac = 0;
  bool has_point = p < end && *p == '.';
  size_t frac_digits = 0;
  bool too_precise = false;
  if (has_point) {
    p++;
    const char *frac_begin = p;
    const char *frac_stop = (size_t)(end - p) > scale ? p + scale : end;
    while (p < frac_stop && (d = decimal_digit(*p)) < 10) {
      frac = frac * 10 + d;
      p++;
    }
    frac_digits = (size_t)(p - frac_begin);
    if (p == frac_stop) {
      while (p < end && (d = decimal_digit(*p)) < 10) {
        too_precise |= d != 0;
        p++;
      }
    }
    if (p == frac_begin) { /* "1." or "." or "-." */
      return int_end == int_begin && p == end ? DECIMAL_EMPTY : DECIMAL_SYNTAX;
    }
  }
  if (int_end == int_begin) {
    /* No integer digit: "", "-" are empty; ".5", "x", "+1", " 1" are syntax. */
    return p == end && !has_point ? DECIMAL_EMPTY : DECIMAL_SYNTAX;
  }
  if (p != end) return DECIMAL_SYNTAX;
  if (negative && !(flags & DECIMAL_ALLOW_NEGATIVE)) return DECIMAL_SIGN;
  if (too_precise) return DECIMAL_TOO_PRECISE;

  if (frac_digits < scale) frac *= (uint64_t)decimal_pow10_table[scale - frac_digits];
  /* Fewer than 19 - scale integer digits (zeros included): the value is below
   * 10^18, so neither the sum above nor the result can overflow. */
  if ((size_t)(int_end - int_begin) + scale <= 18) {
    int64_t value = (int64_t)(whole * (uint64_t)decimal_pow10_table[scale] + frac);
    *out = negative ? -value : value;
    return DECIMAL_OK;
  }
  return decimal_parse_checked(int_begin, int_end, scale, frac, negative, out);
}

/* Two-digit pairs "00".."99": halves the divisions when printing. */
static const char decimal_digit_pairs[201] = "00010203040506070809"
                                             "10111213141516171819"
                                             "20212223242526272829"
                                             "30313233343536373839"
                                             "40414243444546474849"
                                             "50515253545556575859"
                                             "60616263646566676869"
                                             "70717273747576777879"
                                             "80818283848586878889"
                                             "90919293949596979899";

/* Writes exactly `width` digits of v (zero-padded on the left) ending at end. */
static void decimal_write_padded(uint64_t v, unsigned width, char *end) {
  char *p = end;
  while (width >= 2) {
    unsigned pair = (unsigned)(v % 100) * 2;
    v /= 100;
    p -= 2;
    p[0] = decimal_digit_pairs[pair];
    p[1] = decimal_digit_pairs[pair + 1];
    width -= 2;
  }
  if (width) *--p = (char)('0' + v % 10);
}

/* Number of decimal digits of v (v = 0 has one). */
static unsigned decimal_count_digits(uint64_t v) {
  unsigned n = 1;
  while (v >= 10000) {
    v /= 10000;
    n += 4;
  }
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

size_t decimal_format_fixed(int64_t value, unsigned scale, unsigned min_digits, char *buf) {
  if (scale > DECIMAL_MAX_SCALE) {
    buf[0] = '\0';
    return 0;
  }
  if (min_digits > scale) min_digits = scale;
  char *p = buf;
  /* 0 - (uint64_t)INT64_MIN is 2^63: the magnitude of every int64 fits. */
  uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
  if (value < 0) *p++ = '-';
  uint64_t unit = (uint64_t)decimal_pow10_table[scale];
  uint64_t whole = magnitude / unit;
  uint64_t frac = magnitude % unit;

  unsigned whole_digits = decimal_count_digits(whole);
  decimal_write_padded(whole, whole_digits, p + whole_digits);
  p += whole_digits;

  /* Drop trailing fractional zeros down to min_digits. */
  unsigned frac_digits = scale;
  while (frac_digits > min_digits && frac % 10 == 0) {
    frac /= 10;
    frac_digits--;
  }
  if (frac_digits > 0) {
    *p++ = '.';
    decimal_write_padded(frac, frac_digits, p + frac_digits);
    p += frac_digits;
  }
  *p = '\0';
  return (size_t)(p - buf);
}

size_t decimal_format(int64_t value, unsigned scale, char *buf) {
  return decimal_format_fixed(value, scale, 0, buf);
}

const char *decimal_status_text(decimal_status status) {
  switch (status) {
  case DECIMAL_OK:
    return "ok";
  case DECIMAL_EMPTY:
    return "no digits";
  case DECIMAL_SYNTAX:
    return "not a plain decimal number (expected [-]digits[.digits])";
  case DECIMAL_SIGN:
    return "negative value not allowed";
  case DECIMAL_TOO_PRECISE:
    return "too many decimal places";
  case DECIMAL_OVERFLOW:
    return "value out of range";
  case DECIMAL_BAD_SCALE:
    return "scale above 18";
  }
  return "unknown decimal status";
}
