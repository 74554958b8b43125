/*
 * decimal.h: exact decimal strings <-> scaled integers.
 *
 * Every price, quantity and balance inside bourse is an int64 holding the
 * value times 10^scale. Strings are parsed and printed only at the edges, and
 * never rounded: a string with more fractional digits than the scale allows,
 * a sign where none is allowed, an exponent, or a value beyond int64 is an
 * error, not an approximation.
 *
 * Thread-safe: pure functions, no state.
 */
#ifndef BOURSE_DECIMAL_H
#define BOURSE_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest scale supported: 10^18 still fits in an int64. */
#define DECIMAL_MAX_SCALE 18
/* Buffer size that holds any formatted value: sign, 19 digits, point, NUL. */
#define DECIMAL_MAX_CHARS 24

typedef enum decimal_status {
  DECIMAL_OK = 0,
  DECIMAL_EMPTY,       /* no digits at all ("", ".", "-") */
  DECIMAL_SYNTAX,      /* anything but [-]digits[.digits]: spaces, exponents, "+", "1.", ".5" */
  DECIMAL_SIGN,        /* a '-' where the caller did not allow one */
  DECIMAL_TOO_PRECISE, /* more fractional digits than the scale, other than trailing zeros */
  DECIMAL_OVERFLOW,    /* the scaled value does not fit in an int64 */
  DECIMAL_BAD_SCALE,   /* scale > DECIMAL_MAX_SCALE */
} decimal_status;

/* Flags for decimal_parse. */
#define DECIMAL_ALLOW_NEGATIVE 1u

/*
 * Parses s[0..len) as an exact decimal and stores value * 10^scale in *out.
 * Grammar: -?[0-9]+(\.[0-9]+)? ; '-' only with DECIMAL_ALLOW_NEGATIVE.
 * Fractional digits beyond `scale` are accepted only when they are zeros
 * ("1.500" at scale 2 is 150). *out is untouched on error.
 * Leading zeros are accepted ("007.5" is 7.5, any number of them); "-0" is 0
 * when negatives are allowed (DECIMAL_SIGN otherwise). When a string has
 * several faults, the first of EMPTY/SYNTAX, SIGN, TOO_PRECISE, OVERFLOW in
 * that order is returned. Reads only s[0..len): s need not be NUL-terminated.
 */
decimal_status decimal_parse(const char *s, size_t len, unsigned scale, unsigned flags,
                             int64_t *out);

/*
 * Writes value / 10^scale into buf (at least DECIMAL_MAX_CHARS bytes) in its
 * shortest exact form: no trailing fractional zeros, no trailing point
 * ("150" at scale 2 -> "1.5", "100" at scale 2 -> "1", 0 -> "0").
 * Returns the length written, excluding the NUL terminator. Every int64 at
 * every scale is exact: decimal_parse with DECIMAL_ALLOW_NEGATIVE at the same
 * scale gives value back. A scale above DECIMAL_MAX_SCALE writes "" and
 * returns 0.
 */
size_t decimal_format(int64_t value, unsigned scale, char *buf);

/*
 * Like decimal_format but pads with zeros to at least `min_digits` fractional
 * digits (min_digits <= scale). It never rounds: a value that needs more
 * digits gets them ("155" at scale 2, min_digits 1 -> "1.55"; "150" -> "1.5";
 * "100", min_digits 2 -> "1.00"). Returns the length written, excluding NUL.
 * A min_digits above scale is treated as scale.
 */
size_t decimal_format_fixed(int64_t value, unsigned scale, unsigned min_digits, char *buf);

/* A short English description of a status, for error messages. */
const char *decimal_status_text(decimal_status status);

/* 10^exponent for exponent <= DECIMAL_MAX_SCALE; 0 for a larger exponent. */
int64_t decimal_pow10(unsigned exponent);

#endif
