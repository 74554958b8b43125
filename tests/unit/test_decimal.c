/* test_decimal.c: exact decimal parse/format (src/core/decimal.c). */
#include "bourse/decimal.h"
#include "check.h"

#define NEG DECIMAL_ALLOW_NEGATIVE

typedef struct parse_case {
  const char *text;
  unsigned scale;
  unsigned flags;
  decimal_status status;
  int64_t value; /* checked only when status == DECIMAL_OK */
} parse_case;

static const parse_case parse_cases[] = {
    /* plain values */
    {"0", 0, 0, DECIMAL_OK, 0},
    {"0", 18, 0, DECIMAL_OK, 0},
    {"0.000", 2, 0, DECIMAL_OK, 0},
    {"0.000", 0, 0, DECIMAL_OK, 0},
    {"1", 0, 0, DECIMAL_OK, 1},
    {"1", 8, 0, DECIMAL_OK, 100000000},
    {"1.5", 2, 0, DECIMAL_OK, 150},
    {"1.500", 2, 0, DECIMAL_OK, 150},
    {"1.05", 2, 0, DECIMAL_OK, 105},
    {"50000.12345678", 8, 0, DECIMAL_OK, 5000012345678},
    {"0.00000001", 8, 0, DECIMAL_OK, 1},
    {"007.5", 1, 0, DECIMAL_OK, 75},
    {"000", 3, 0, DECIMAL_OK, 0},
    {"123456789012345678", 0, 0, DECIMAL_OK, 123456789012345678},
    {"1.0", 0, 0, DECIMAL_OK, 1},
    {"1.000000000000000000000000", 0, 0, DECIMAL_OK, 1},
    {"1.5", 0, 0, DECIMAL_TOO_PRECISE, 0},
    {"1.001", 2, 0, DECIMAL_TOO_PRECISE, 0},
    {"1.0010", 2, 0, DECIMAL_TOO_PRECISE, 0},
    {"0.000000001", 8, 0, DECIMAL_TOO_PRECISE, 0},
    /* signs */
    {"-1.5", 2, NEG, DECIMAL_OK, -150},
    {"-1.5", 2, 0, DECIMAL_SIGN, 0},
    {"-0", 0, NEG, DECIMAL_OK, 0},
    {"-0.00", 8, NEG, DECIMAL_OK, 0},
    {"-0", 0, 0, DECIMAL_SIGN, 0},
    {"-1.5", 0, NEG, DECIMAL_TOO_PRECISE, 0},
    {"+1", 0, 0, DECIMAL_SYNTAX, 0},
    {"+1", 0, NEG, DECIMAL_SYNTAX, 0},
    {"--1", 0, NEG, DECIMAL_SYNTAX, 0},
    {"-+1", 0, NEG, DECIMAL_SYNTAX, 0},
    {"1-", 0, NEG, DECIMAL_SYNTAX, 0},
    {"-x", 0, 0, DECIMAL_SYNTAX, 0},
    /* empty and malformed */
    {"", 0, 0, DECIMAL_EMPTY, 0},
    {"", 8, NEG, DECIMAL_EMPTY, 0},
    {".", 2, 0, DECIMAL_EMPTY, 0},
    {"-", 2, NEG, DECIMAL_EMPTY, 0},
    {"-", 2, 0, DECIMAL_EMPTY, 0},
    {"-.", 2, NEG, DECIMAL_EMPTY, 0},
    {"1.", 2, 0, DECIMAL_SYNTAX, 0},
    {".5", 2, 0, DECIMAL_SYNTAX, 0},
    {"-.5", 2, NEG, DECIMAL_SYNTAX, 0},
    {"1e5", 0, 0, DECIMAL_SYNTAX, 0},
    {"1E5", 0, 0, DECIMAL_SYNTAX, 0},
    {"1.5e3", 8, 0, DECIMAL_SYNTAX, 0},
    {" 1", 0, 0, DECIMAL_SYNTAX, 0},
    {"1 ", 0, 0, DECIMAL_SYNTAX, 0},
    {"\t1", 0, 0, DECIMAL_SYNTAX, 0},
    {"1..2", 2, 0, DECIMAL_SYNTAX, 0},
    {"1.2.3", 2, 0, DECIMAL_SYNTAX, 0},
    {"0x10", 0, 0, DECIMAL_SYNTAX, 0},
    {"12a", 0, 0, DECIMAL_SYNTAX, 0},
    {"1,5", 2, 0, DECIMAL_SYNTAX, 0},
    {"abc", 2, 0, DECIMAL_SYNTAX, 0},
    {"1.x", 2, 0, DECIMAL_SYNTAX, 0},
    {"1.5x", 2, 0, DECIMAL_SYNTAX, 0},
    {"1.55x", 1, 0, DECIMAL_SYNTAX, 0}, /* syntax is reported before precision */
    {"1.50 ", 1, 0, DECIMAL_SYNTAX, 0},
    {"inf", 0, 0, DECIMAL_SYNTAX, 0},
    {"nan", 0, 0, DECIMAL_SYNTAX, 0},
    /* scale bounds */
    {"1", 19, 0, DECIMAL_BAD_SCALE, 0},
    {"1", 18, 0, DECIMAL_OK, 1000000000000000000},
    {"0.000000000000000001", 18, 0, DECIMAL_OK, 1},
    {"0.0000000000000000010", 18, 0, DECIMAL_OK, 1},
    {"0.0000000000000000001", 18, 0, DECIMAL_TOO_PRECISE, 0},
    /* int64 boundaries at scale 0, 8 and 18: the exact limit fits, one unit over does not */
    {"9223372036854775807", 0, 0, DECIMAL_OK, INT64_MAX},
    {"9223372036854775808", 0, 0, DECIMAL_OVERFLOW, 0},
    {"-9223372036854775808", 0, NEG, DECIMAL_OK, INT64_MIN},
    {"-9223372036854775809", 0, NEG, DECIMAL_OVERFLOW, 0},
    {"-9223372036854775807", 0, NEG, DECIMAL_OK, -INT64_MAX},
    {"9223372036854775807.0", 0, 0, DECIMAL_OK, INT64_MAX},
    {"09223372036854775807", 0, 0, DECIMAL_OK, INT64_MAX},
    {"18446744073709551615", 0, 0, DECIMAL_OVERFLOW, 0},
    {"18446744073709551616", 0, 0, DECIMAL_OVERFLOW, 0},
    {"99999999999999999999", 0, 0, DECIMAL_OVERFLOW, 0},
    {"92233720368.54775807", 8, 0, DECIMAL_OK, INT64_MAX},
    {"92233720368.54775808", 8, 0, DECIMAL_OVERFLOW, 0},
    {"-92233720368.54775808", 8, NEG, DECIMAL_OK, INT64_MIN},
    {"-92233720368.54775809", 8, NEG, DECIMAL_OVERFLOW, 0},
    {"92233720369", 8, 0, DECIMAL_OVERFLOW, 0},
    {"9.223372036854775807", 18, 0, DECIMAL_OK, INT64_MAX},
    {"9.223372036854775808", 18, 0, DECIMAL_OVERFLOW, 0},
    {"-9.223372036854775808", 18, NEG, DECIMAL_OK, INT64_MIN},
    {"-9.223372036854775809", 18, NEG, DECIMAL_OVERFLOW, 0},
    {"10", 18, 0, DECIMAL_OVERFLOW, 0},
    {"9", 18, 0, DECIMAL_OK, 9000000000000000000},
    {"922337203685477580.7", 1, 0, DECIMAL_OK, INT64_MAX},
    {"922337203685477580.8", 1, 0, DECIMAL_OVERFLOW, 0},
    {"999999999999999999", 0, 0, DECIMAL_OK, 999999999999999999},
    {"99999999999999999.9", 1, 0, DECIMAL_OK, 999999999999999999},
    {"999999999999999999.9", 1, 0, DECIMAL_OVERFLOW, 0},
    {"100000000000000000.0", 1, 0, DECIMAL_OK, 1000000000000000000},
    /* 30 digits */
    {"123456789012345678901234567890", 0, 0, DECIMAL_OVERFLOW, 0},
    {"-123456789012345678901234567890", 0, NEG, DECIMAL_OVERFLOW, 0},
    {"000000000000000000000000000001", 0, 0, DECIMAL_OK, 1},
    {"000000000000000000000000000001", 18, 0, DECIMAL_OK, 1000000000000000000},
    {"000000000000000000000000000010", 18, 0, DECIMAL_OVERFLOW, 0},
    {"0.12345678901234567890123456789", 18, 0, DECIMAL_TOO_PRECISE, 0},
    {"1.5000000000000000000000000000", 1, 0, DECIMAL_OK, 15},
    /* several faults: the documented order wins */
    {"99999999999999999999.123", 2, 0, DECIMAL_TOO_PRECISE, 0},
    {"-99999999999999999999.123", 2, 0, DECIMAL_SIGN, 0},
};

static void test_parse_table(void) {
  for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
    const parse_case *c = &parse_cases[i];
    int64_t value = 777;
    decimal_status st = decimal_parse(c->text, strlen(c->text), c->scale, c->flags, &value);
    if (st != c->status || (st == DECIMAL_OK && value != c->value))
      fprintf(stderr, "case %zu: \"%s\" scale %u flags %u\n", i, c->text, c->scale, c->flags);
    CHECK_EQ_INT(st, c->status);
    if (st == DECIMAL_OK)
      CHECK_EQ_INT(value, c->value);
    else
      CHECK_EQ_INT(value, 777); /* untouched on error */
  }
}

/* The length bounds the input: bytes past it are never read. */
static void test_parse_length(void) {
  int64_t v = 0;
  CHECK_EQ_INT(decimal_parse("12345", 3, 0, 0, &v), DECIMAL_OK);
  CHECK_EQ_INT(v, 123);
  CHECK_EQ_INT(decimal_parse("1.25xyz", 4, 2, 0, &v), DECIMAL_OK);
  CHECK_EQ_INT(v, 125);
  CHECK_EQ_INT(decimal_parse("1\0", 2, 0, 0, &v), DECIMAL_SYNTAX);
}

/* Long runs of zeros go through both paths without overflow or misreads. */
static void test_parse_long_zeros(void) {
  char buf[2100];
  int64_t v = -1;
  memset(buf, '0', 1000);
  CHECK_EQ_INT(decimal_parse(buf, 1000, 8, 0, &v), DECIMAL_OK);
  CHECK_EQ_INT(v, 0);
  buf[1000] = '1';
  CHECK_EQ_INT(decimal_parse(buf, 1001, 8, 0, &v), DECIMAL_OK);
  CHECK_EQ_INT(v, 100000000);
  buf[1000] = '.';
  memset(buf + 1001, '0', 1000);
  CHECK_EQ_INT(decimal_parse(buf, 2001, 18, 0, &v), DECIMAL_OK);
  CHECK_EQ_INT(v, 0);
  buf[0] = '7';
  CHECK_EQ_INT(decimal_parse(buf, 2001, 0, 0, &v), DECIMAL_OVERFLOW);
  buf[0] = '0';
  buf[2000] = '5';
  CHECK_EQ_INT(decimal_parse(buf, 2001, 18, 0, &v), DECIMAL_TOO_PRECISE);
  buf[1001] = '5';
  buf[2000] = '0';
  CHECK_EQ_INT(decimal_parse(buf, 2001, 1, 0, &v), DECIMAL_OK);
  CHECK_EQ_INT(v, 5);
}

typedef struct format_case {
  int64_t value;
  unsigned scale;
  unsigned min_digits; /* for decimal_format_fixed; decimal_format uses 0 */
  const char *shortest;
  const char *fixed;
} format_case;

static const format_case format_cases[] = {
    {0, 0, 0, "0", "0"},
    {0, 8, 2, "0", "0.00"},
    {150, 2, 1, "1.5", "1.5"},
    {155, 2, 1, "1.55", "1.55"},
    {100, 2, 2, "1", "1.00"},
    {100, 2, 0, "1", "1"},
    {-100, 2, 2, "-1", "-1.00"},
    {-1, 8, 0, "-0.00000001", "-0.00000001"},
    {5, 0, 0, "5", "5"},
    {5, 0, 3, "5", "5"}, /* min_digits above the scale is clamped */
    {5000012345678, 8, 2, "50000.12345678", "50000.12345678"},
    {5000010000000, 8, 2, "50000.1", "50000.10"},
    {1, 18, 0, "0.000000000000000001", "0.000000000000000001"},
    {INT64_MAX, 0, 0, "9223372036854775807", "9223372036854775807"},
    {INT64_MIN, 0, 0, "-9223372036854775808", "-9223372036854775808"},
    {INT64_MAX, 8, 0, "92233720368.54775807", "92233720368.54775807"},
    {INT64_MIN, 18, 0, "-9.223372036854775808", "-9.223372036854775808"},
    {INT64_MIN + 1, 18, 18, "-9.223372036854775807", "-9.223372036854775807"},
    {-1000000000000000000, 18, 18, "-1", "-1.000000000000000000"},
    {1000000000000000000, 18, 3, "1", "1.000"},
    {10, 1, 0, "1", "1"},
    {12345, 3, 0, "12.345", "12.345"},
};

static void test_format_table(void) {
  for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++) {
    const format_case *c = &format_cases[i];
    char buf[DECIMAL_MAX_CHARS];
    size_t n = decimal_format(c->value, c->scale, buf);
    CHECK_EQ_STR(buf, c->shortest);
    CHECK_EQ_INT(n, strlen(c->shortest));
    n = decimal_format_fixed(c->value, c->scale, c->min_digits, buf);
    CHECK_EQ_STR(buf, c->fixed);
    CHECK_EQ_INT(n, strlen(c->fixed));
  }
  char buf[DECIMAL_MAX_CHARS] = "x";
  CHECK_EQ_INT(decimal_format(1, 19, buf), 0); /* bad scale: empty string */
  CHECK_EQ_STR(buf, "");
}

static void test_pow10_and_text(void) {
  int64_t p = 1;
  for (unsigned e = 0; e <= DECIMAL_MAX_SCALE; e++) {
    CHECK_EQ_INT(decimal_pow10(e), p);
    if (e < DECIMAL_MAX_SCALE) p *= 10;
  }
  CHECK_EQ_INT(decimal_pow10(19), 0);
  const decimal_status all[] = {DECIMAL_OK,       DECIMAL_EMPTY,       DECIMAL_SYNTAX,
                                DECIMAL_SIGN,     DECIMAL_TOO_PRECISE, DECIMAL_OVERFLOW,
                                DECIMAL_BAD_SCALE};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    const char *text = decimal_status_text(all[i]);
    CHECK(text != NULL && text[0] != '\0');
    for (size_t j = 0; j < i; j++) CHECK(strcmp(text, decimal_status_text(all[j])) != 0);
  }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng_next(void) { /* xorshift64*: deterministic, good enough to spread values */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1du;
}

/* Random int64 with a random magnitude, so every digit count is exercised. */
static int64_t rng_int64(void) {
  uint64_t r = rng_next();
  unsigned bits = (unsigned)(rng_next() % 64) + 1;
  uint64_t v = bits == 64 ? r : r & ((UINT64_C(1) << bits) - 1);
  return (int64_t)v; /* 64-bit draws cover the negative half and INT64_MIN's neighbourhood */
}

/* format -> parse gives the value back, at every scale, both formats. */
static void test_round_trip(long iterations) {
  const int64_t edges[] = {0, 1, -1, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
  long failures = 0;
  for (long i = 0; i < iterations; i++) {
    int64_t value = i < 7 ? edges[i] : rng_int64();
    for (unsigned scale = 0; scale <= DECIMAL_MAX_SCALE; scale++) {
      char buf[DECIMAL_MAX_CHARS];
      unsigned min_digits = (unsigned)(rng_next() % (scale + 1));
      size_t n = i & 1 ? decimal_format(value, scale, buf)
                       : decimal_format_fixed(value, scale, min_digits, buf);
      int64_t back = 0;
      decimal_status st = decimal_parse(buf, n, scale, DECIMAL_ALLOW_NEGATIVE, &back);
      if (n >= DECIMAL_MAX_CHARS || n != strlen(buf) || st != DECIMAL_OK || back != value) {
        if (failures++ < 5)
          fprintf(stderr, "round trip: %" PRId64 " scale %u -> \"%s\" -> %d %" PRId64 "\n", value,
                  scale, buf, (int)st, back);
      }
    }
  }
  CHECK_EQ_INT(failures, 0);
}

/*
 * Random digit strings of every length, checked against an independent
 * 128-bit computation of the value, so the fast/checked path split and the
 * overflow limits are tested at and around every boundary.
 */
static void test_against_wide_reference(long iterations) {
  long failures = 0;
  for (long i = 0; i < iterations; i++) {
    char buf[64];
    size_t n = 0;
    bool negative = rng_next() & 1;
    if (negative) buf[n++] = '-';
    unsigned int_digits = (unsigned)(rng_next() % 22) + 1;
    unsigned frac_digits = (unsigned)(rng_next() % 21);
    unsigned scale = (unsigned)(rng_next() % (DECIMAL_MAX_SCALE + 1));
    /* One digit in four a nine, and sometimes leading zeros, so the int64 limits and the
     * fast/checked split are hit often. */
    unsigned leading_zeros = rng_next() % 4 == 0 ? (unsigned)(rng_next() % 5) : 0;
    for (unsigned k = 0; k < int_digits; k++)
      buf[n++] = (char)('0' + (k < leading_zeros ? 0 : rng_next() % 4 == 0 ? 9 : rng_next() % 10));
    if (frac_digits) {
      buf[n++] = '.';
      for (unsigned k = 0; k < frac_digits; k++)
        buf[n++] = (char)('0' + (k >= scale && rng_next() % 2 ? 0 : rng_next() % 10));
    }
    /* The reference value saturates at 10^30: far beyond int64, and no 128-bit overflow. */
    __extension__ const __int128 saturated = (__int128)1000000000000000 * 1000000000000000;
    __extension__ __int128 wide = 0;
    bool precise_ok = true;
    const char *p = buf + negative;
    for (unsigned k = 0; k < int_digits; k++, p++)
      if (wide < saturated) wide = wide * 10 + (*p - '0');
    if (frac_digits) p++;
    for (unsigned k = 0; k < scale; k++) {
      if (wide >= saturated) break;
      wide *= 10;
      if (k < frac_digits) wide += p[k] - '0';
    }
    for (unsigned k = scale; k < frac_digits; k++) precise_ok &= p[k] == '0';
    if (negative) wide = -wide;
    decimal_status expect = DECIMAL_OK;
    if (!precise_ok)
      expect = DECIMAL_TOO_PRECISE;
    else if (wide > INT64_MAX || wide < INT64_MIN)
      expect = DECIMAL_OVERFLOW;
    int64_t got = 0;
    decimal_status st = decimal_parse(buf, n, scale, DECIMAL_ALLOW_NEGATIVE, &got);
    if (st != expect || (st == DECIMAL_OK && got != (int64_t)wide)) {
      if (failures++ < 5)
        fprintf(stderr, "reference: \"%.*s\" scale %u -> %d %" PRId64 ", expected %d\n", (int)n,
                buf, scale, (int)st, got, (int)expect);
    }
  }
  CHECK_EQ_INT(failures, 0);
}

int main(void) {
  const char *build = getenv("BOURSE_BUILD_TYPE");
  bool sanitized = build && (strcmp(build, "Asan") == 0 || strcmp(build, "Tsan") == 0);
  long iterations = sanitized ? 20000 : 200000;
  test_parse_table();
  test_parse_length();
  test_parse_long_zeros();
  test_format_table();
  test_pow10_and_text();
  test_round_trip(iterations);
  test_against_wide_reference(iterations * 5);
  return check_report("decimal");
}
