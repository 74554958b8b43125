/*
 * test_auth_totp.c: RFC 6238 TOTP (src/auth/totp.c) against the RFC's own
 * test vectors, the ±1 step window, and base32 (src/auth/encoding.c) against
 * RFC 4648's.
 */
#include "bourse/auth.h"
#include "check.h"

static const uint8_t rfc_secret[] = "12345678901234567890"; /* RFC 6238 appendix B, SHA-1 */
#define RFC_SECRET_LEN 20

/* RFC 6238 appendix B, SHA-1 rows. */
static const struct {
  int64_t time;
  const char *code;
} vectors[] = {
    {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
    {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
};

static void test_rfc_vectors(void) {
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    char text[16];
    int64_t code = auth_totp_code(rfc_secret, RFC_SECRET_LEN, vectors[i].time, 8);
    snprintf(text, sizeof text, "%08lld", (long long)code);
    CHECK_EQ_STR(text, vectors[i].code);
    CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, vectors[i].time, vectors[i].code, 8));
    /* 6 digits: the same truncation modulo 10^6, i.e. the last six digits. */
    code = auth_totp_code(rfc_secret, RFC_SECRET_LEN, vectors[i].time, 6);
    snprintf(text, sizeof text, "%06lld", (long long)code);
    CHECK_EQ_STR(text, vectors[i].code + 2);
    CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, vectors[i].time, vectors[i].code + 2, 6));
    /* 7 digits. */
    code = auth_totp_code(rfc_secret, RFC_SECRET_LEN, vectors[i].time, 7);
    snprintf(text, sizeof text, "%07lld", (long long)code);
    CHECK_EQ_STR(text, vectors[i].code + 1);
  }
  /* Every second of a step gives the same code: 1111111109 and ...080 share step 37037036. */
  CHECK_EQ_INT(auth_totp_code(rfc_secret, RFC_SECRET_LEN, 1111111080, 8), 7081804);
  CHECK(auth_totp_code(rfc_secret, RFC_SECRET_LEN, 1111111110, 8) != 7081804);
  /* Bad arguments. */
  CHECK_EQ_INT(auth_totp_code(rfc_secret, RFC_SECRET_LEN, -1, 6), -1);
  CHECK_EQ_INT(auth_totp_code(rfc_secret, RFC_SECRET_LEN, 59, 5), -1);
  CHECK_EQ_INT(auth_totp_code(rfc_secret, RFC_SECRET_LEN, 59, 9), -1);
  CHECK_EQ_INT(auth_totp_code(rfc_secret, 0, 59, 6), -1);
}

static void test_window(void) {
  const int64_t t = 1111111109; /* the last second of its step */
  const char *code = "07081804";
  /* ±30 s is the neighbouring step: accepted. ±60 s and beyond: refused. */
  CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, code, 8));
  CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t + 30, code, 8));
  CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t - 30, code, 8));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t + 60, code, 8));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t - 60, code, 8));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t + 90, code, 8));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t - 3600, code, 8));
  /* Seen from the step's first second, the window is the previous, this and the next step. */
  CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, 1111111080 + 59, code, 8));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, 1111111080 + 60, code, 8));
  CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, 1111111080 - 30, code, 8));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, 1111111080 - 31, code, 8));
  /* The first step has no step before it. */
  char first[8];
  snprintf(first, sizeof first, "%06lld",
           (long long)auth_totp_code(rfc_secret, RFC_SECRET_LEN, 0, 6));
  CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, 0, first, 6));
  CHECK(auth_totp_verify(rfc_secret, RFC_SECRET_LEN, 45, first, 6));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, 60, first, 6));
}

static void test_verify_rejects(void) {
  const int64_t t = 59;
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, "94287083", 8)); /* wrong */
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, "287083", 6));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, "87082", 5));     /* too short */
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, "094287082", 9)); /* too long */
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, "28708 ", 6));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, "+87082", 6));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, NULL, 6));
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, -1, "287082", 6));
  CHECK(!auth_totp_verify((const uint8_t *)"another secret 1234", 19, t, "287082", 6));
  /* The code's length is its digit count: a 6-digit prefix of the 8-digit code is wrong. */
  CHECK(!auth_totp_verify(rfc_secret, RFC_SECRET_LEN, t, "942870", 6));
}

static void test_base32(void) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const coded[] = {"",        "MY",       "MZXQ",      "MZXW6",
                                      "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};
  char text[64];
  uint8_t bytes[64];
  size_t n;
  for (size_t i = 0; i < 7; i++) {
    CHECK_EQ_INT(auth_base32_encode((const uint8_t *)plain[i], strlen(plain[i]), text, sizeof text),
                 strlen(coded[i]));
    CHECK_EQ_STR(text, coded[i]);
    CHECK_EQ_INT(auth_base32_decode(coded[i], strlen(coded[i]), bytes, sizeof bytes, &n), 0);
    CHECK_EQ_INT(n, strlen(plain[i]));
    CHECK(memcmp(bytes, plain[i], n) == 0);
  }
  /* The RFC 6238 secret as authenticator apps show it. */
  CHECK_EQ_INT(auth_base32_encode(rfc_secret, RFC_SECRET_LEN, text, sizeof text), 32);
  CHECK_EQ_STR(text, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  /* As people type it: lower case, grouped, padded. */
  static const char *const typed[] = {"gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
                                      "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
                                      "gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq"};
  for (size_t i = 0; i < 3; i++) {
    CHECK_EQ_INT(auth_base32_decode(typed[i], strlen(typed[i]), bytes, sizeof bytes, &n), 0);
    CHECK(n == RFC_SECRET_LEN && memcmp(bytes, rfc_secret, n) == 0);
  }
  CHECK_EQ_INT(auth_base32_decode("MZXW6YQ=", 8, bytes, sizeof bytes, &n), 0);
  CHECK(n == 4 && memcmp(bytes, "foob", 4) == 0);
  CHECK_EQ_INT(auth_base32_decode("MY======", 8, bytes, sizeof bytes, &n), 0);
  CHECK(n == 1 && bytes[0] == 'f');
  /* Refused: characters outside the alphabet (0, 1, 8, 9), impossible lengths, no room. */
  static const char *const bad[] = {"MZXW1", "0ZXW6", "MZXW8",  "MZ_W6",
                                    "M",     "MZX",   "MZXW6Y", "MZXW6YTBOIM"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(auth_base32_decode(bad[i], strlen(bad[i]), bytes, sizeof bytes, &n), -1);
  CHECK_EQ_INT(auth_base32_decode("MZXW6YTBOI", 10, bytes, 5, &n), -1);
  CHECK_EQ_INT(auth_base32_decode("MZXW6YTBOI", 10, bytes, 6, &n), 0);
  CHECK_EQ_INT(auth_base32_encode((const uint8_t *)"foobar", 6, text, 10), -1);
  CHECK_EQ_INT(auth_base32_encode((const uint8_t *)"foobar", 6, text, 11), 10);
  /* Round trip of every length up to 40 bytes. */
  uint8_t in[40];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 37 + 11);
  char long_text[72]; /* 40 bytes: 64 characters */
  for (size_t len = 0; len <= sizeof in; len++) {
    int m = auth_base32_encode(in, len, long_text, sizeof long_text);
    CHECK(m >= 0);
    CHECK_EQ_INT(auth_base32_decode(long_text, (size_t)m, bytes, sizeof bytes, &n), 0);
    CHECK(n == len && memcmp(in, bytes, len) == 0);
  }
}

static void test_generate(void) {
  uint8_t a[AUTH_TOTP_SECRET_SIZE], b[AUTH_TOTP_SECRET_SIZE];
  CHECK_EQ_INT(auth_totp_generate_secret(a, sizeof a), 0);
  CHECK_EQ_INT(auth_totp_generate_secret(b, sizeof b), 0);
  CHECK(memcmp(a, b, sizeof a) != 0);
  CHECK_EQ_INT(auth_totp_generate_secret(a, 0), -1);
  /* A generated secret works end to end through its base32 form. */
  char text[64];
  uint8_t back[64];
  size_t n;
  CHECK(auth_base32_encode(a, sizeof a, text, sizeof text) == 32);
  CHECK_EQ_INT(auth_base32_decode(text, strlen(text), back, sizeof back, &n), 0);
  char code[8];
  snprintf(code, sizeof code, "%06lld", (long long)auth_totp_code(back, n, 1700000000, 6));
  CHECK(auth_totp_verify(a, sizeof a, 1700000000, code, 6));
}

int main(void) {
  test_rfc_vectors();
  test_window();
  test_verify_rejects();
  test_base32();
  test_generate();
  return check_report("auth_totp");
}
