/*
 * totp.c: time-based one-time passwords (RFC 6238 over RFC 4226 HOTP) with
 * HMAC-SHA1 and 30-second steps, the kind every authenticator app speaks.
 * See include/bourse/auth.h.
 *
 * HMAC-SHA1 and the random secrets come from OpenSSL; the counter encoding
 * and the dynamic truncation are the few lines of RFC 4226 §5.3 that no
 * library on Debian offers without pulling in liboath.
 *
 * Thread-safe: pure functions.
 */
#include "bourse/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static const uint32_t pow10_u32[] = {1,      10,      100,      1000,      10000,
                                     100000, 1000000, 10000000, 100000000, 1000000000};

/* HOTP (RFC 4226 §5.3) of `counter`, modulo 10^digits. -1 if HMAC fails. */
static int64_t hotp(const uint8_t *secret, size_t secret_len, uint64_t counter, unsigned digits) {
  uint8_t message[8];
  for (int i = 7; i >= 0; i--, counter >>= 8) message[i] = (uint8_t)(counter & 0xff);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha1(), secret, (int)secret_len, message, sizeof message, mac, &mac_len) ||
      mac_len != 20)
    return -1;
  unsigned offset = mac[19] & 0x0f;
  uint32_t binary = (uint32_t)(mac[offset] & 0x7f) << 24 | (uint32_t)mac[offset + 1] << 16 |
                    (uint32_t)mac[offset + 2] << 8 | (uint32_t)mac[offset + 3];
  OPENSSL_cleanse(mac, sizeof mac);
  return binary % pow10_u32[digits];
}

int64_t auth_totp_code(const uint8_t *secret, size_t secret_len, int64_t time_s, unsigned digits) {
  if (time_s < 0 || digits < 6 || digits > 8 || secret_len == 0 || secret_len > INT32_MAX)
    return -1;
  return hotp(secret, secret_len, (uint64_t)(time_s / AUTH_TOTP_STEP_S), digits);
}

/* Writes `code` as exactly `digits` decimal digits, zero-padded. */
static void format_code(int64_t code, unsigned digits, char *out) {
  for (unsigned i = digits; i-- > 0; code /= 10) out[i] = (char)('0' + code % 10);
}

bool auth_totp_verify(const uint8_t *secret, size_t secret_len, int64_t time_s, const char *code,
                      size_t code_len) {
  if (!code || code_len < 6 || code_len > 8 || time_s < 0 || secret_len == 0 ||
      secret_len > INT32_MAX)
    return false;
  for (size_t i = 0; i < code_len; i++)
    if (code[i] < '0' || code[i] > '9') return false;
  unsigned digits = (unsigned)code_len;
  uint64_t step = (uint64_t)(time_s / AUTH_TOTP_STEP_S);
  /* Every candidate is computed and compared: no early exit tells which one matched. */
  int matched = 0;
  for (int delta = -1; delta <= 1; delta++) {
    if (delta < 0 && step == 0) continue; /* no step before the epoch */
    uint64_t counter = delta < 0 ? step - 1 : step + (uint64_t)delta;
    int64_t expected = hotp(secret, secret_len, counter, digits);
    if (expected < 0) return false;
    char text[8];
    format_code(expected, digits, text);
    matched |= CRYPTO_memcmp(text, code, digits) == 0;
  }
  return matched != 0;
}

int auth_totp_generate_secret(uint8_t *out, size_t len) {
  if (len == 0 || len > INT32_MAX) return -1;
  return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}
