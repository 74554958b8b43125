/*
 * test_auth_jwt.c: JWT verification (src/auth/jwt.c) and base64url.
 *
 * Tokens are built here with OpenSSL: RSA 2048 and EC P-256 keys are
 * generated at start, their public keys written as PEM to a temporary
 * directory, and every token is signed the way an identity provider would
 * (HMAC-SHA256, RSASSA-PKCS1-v1_5 SHA-256, ECDSA P-256 with r || s).
 */
#include "bourse/auth.h"
#include "check.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

static const char hs_secret[] = "0123456789abcdef0123456789abcdef-hs256-test";
static const int64_t now = 1700000000;

static EVP_PKEY *rsa_key, *rsa_other, *ec_key;
static char tmp_dir[64], rsa_pem[128], ec_pem[128], rsa_private_pem[128], rsa_small_pem[128];
static char rsa_pem_bytes[2048];
static size_t rsa_pem_len;

/* ------------------------------------------------------------------------ */
/* Token building                                                           */

enum sign_kind { SIGN_NONE, SIGN_HS256, SIGN_RS256, SIGN_ES256 };

static size_t b64(const void *data, size_t len, char *out, size_t cap) {
  int n = auth_base64url_encode(data, len, out, cap);
  CHECK(n >= 0);
  return n < 0 ? 0 : (size_t)n;
}

/* Signs input with the given key into sig; returns the signature length. */
static size_t sign(enum sign_kind kind, const void *hmac_key, size_t hmac_key_len, EVP_PKEY *key,
                   const char *input, size_t input_len, uint8_t *sig) {
  if (kind == SIGN_HS256) {
    unsigned len = 0;
    HMAC(EVP_sha256(), hmac_key, (int)hmac_key_len, (const unsigned char *)input, input_len, sig,
         &len);
    return len;
  }
  if (kind == SIGN_NONE) return 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  uint8_t der[600];
  size_t der_len = sizeof der;
  CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1);
  CHECK(EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)input, input_len) == 1);
  EVP_MD_CTX_free(ctx);
  if (kind == SIGN_RS256) {
    memcpy(sig, der, der_len);
    return der_len;
  }
  /* ES256: DER ECDSA-Sig-Value -> r || s, 32 bytes each. */
  const unsigned char *p = der;
  ECDSA_SIG *ecdsa = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
  CHECK(ecdsa != NULL);
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), sig, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), sig + 32, 32);
  ECDSA_SIG_free(ecdsa);
  return 64;
}

/* header.payload.signature, signed by `kind` with the matching key. */
static void make_token_with(char *out, size_t cap, const char *header, const char *payload,
                            enum sign_kind kind, const void *hmac_key, size_t hmac_key_len,
                            EVP_PKEY *key) {
  size_t n = b64(header, strlen(header), out, cap);
  out[n++] = '.';
  n += b64(payload, strlen(payload), out + n, cap - n);
  uint8_t sig[600];
  size_t sig_len = sign(kind, hmac_key, hmac_key_len, key, out, n, sig);
  out[n++] = '.';
  n += b64(sig, sig_len, out + n, cap - n);
  out[n] = '\0';
}

static void make_token(char *out, size_t cap, const char *header, const char *payload,
                       enum sign_kind kind) {
  EVP_PKEY *key = kind == SIGN_RS256 ? rsa_key : kind == SIGN_ES256 ? ec_key : NULL;
  make_token_with(out, cap, header, payload, kind, hs_secret, strlen(hs_secret), key);
}

#define HS_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define RS_HEADER "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define ES_HEADER "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

static auth_status verify(const auth_jwt_config *cfg, const char *token, uint64_t *uid) {
  char why[256] = "";
  auth_status st = auth_jwt_verify(cfg, token, strlen(token), now, uid, why, sizeof why);
  CHECK(st == AUTH_OK || why[0] != '\0'); /* every refusal says why */
  CHECK(strstr(why, hs_secret) == NULL);
  return st;
}

/* A claims object with the given exp offset and extra members. */
static const char *claims(char *buf, size_t cap, int64_t exp_offset, const char *extra) {
  snprintf(buf, cap, "{\"exp\":%lld%s%s}", (long long)(now + exp_offset), extra[0] ? "," : "",
           extra);
  return buf;
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */

static void write_pem(const char *path, EVP_PKEY *key, bool private_only) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  if (private_only)
    CHECK(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
  else
    CHECK(PEM_write_PUBKEY(f, key) == 1);
  fclose(f);
}

static void setup(void) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/bourse-jwt-XXXXXX");
  CHECK(mkdtemp(tmp_dir) != NULL);
  rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  CHECK(rsa_key && rsa_other && ec_key && rsa_small);
  snprintf(rsa_pem, sizeof rsa_pem, "%s/rsa.pem", tmp_dir);
  snprintf(ec_pem, sizeof ec_pem, "%s/ec.pem", tmp_dir);
  snprintf(rsa_private_pem, sizeof rsa_private_pem, "%s/rsa-private.pem", tmp_dir);
  snprintf(rsa_small_pem, sizeof rsa_small_pem, "%s/rsa-1024.pem", tmp_dir);
  write_pem(rsa_pem, rsa_key, false);
  write_pem(ec_pem, ec_key, false);
  write_pem(rsa_private_pem, rsa_key, true);
  write_pem(rsa_small_pem, rsa_small, false);
  EVP_PKEY_free(rsa_small);
  FILE *f = fopen(rsa_pem, "r");
  CHECK(f != NULL);
  if (f) {
    rsa_pem_len = fread(rsa_pem_bytes, 1, sizeof rsa_pem_bytes, f);
    fclose(f);
  }
  CHECK(rsa_pem_len > 100);
}

static void teardown(void) {
  unlink(rsa_pem);
  unlink(ec_pem);
  unlink(rsa_private_pem);
  unlink(rsa_small_pem);
  rmdir(tmp_dir);
  EVP_PKEY_free(rsa_key);
  EVP_PKEY_free(rsa_other);
  EVP_PKEY_free(ec_key);
}

static int init(auth_jwt_config *cfg, const char *secret, const char *pem, const char *algs,
                unsigned leeway, const char *iss, const char *aud) {
  char err[256] = "";
  int rc = auth_jwt_config_init(cfg, secret, pem, algs, leeway, iss, aud, err, sizeof err);
  if (rc != 0) CHECK(err[0] != '\0');
  return rc;
}

/* ------------------------------------------------------------------------ */
/* base64url                                                                */

static void test_base64url(void) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  char text[64];
  uint8_t bytes[64];
  size_t n;
  for (size_t i = 0; i < 7; i++) {
    CHECK_EQ_INT(
        auth_base64url_encode((const uint8_t *)plain[i], strlen(plain[i]), text, sizeof text),
        strlen(coded[i]));
    CHECK_EQ_STR(text, coded[i]);
    CHECK_EQ_INT(auth_base64url_decode(coded[i], strlen(coded[i]), bytes, sizeof bytes, &n), 0);
    CHECK_EQ_INT(n, strlen(plain[i]));
    CHECK(memcmp(bytes, plain[i], n) == 0);
  }
  const uint8_t url[] = {0xfb, 0xff, 0xbf};
  CHECK_EQ_INT(auth_base64url_encode(url, 3, text, sizeof text), 4);
  CHECK_EQ_STR(text, "-_-_");
  CHECK_EQ_INT(auth_base64url_decode("-_-_", 4, bytes, sizeof bytes, &n), 0);
  CHECK(n == 3 && memcmp(bytes, url, 3) == 0);
  /* Refused: padding, the standard alphabet, whitespace, 4k+1 lengths, non-canonical bits. */
  static const char *const bad[] = {"Zg==",  "Zg=", "Z+8", "Z/8",  "Zm9v YmFy", "Z",
                                    "Zm9vY", "Zh",  "Zm9", "Zm8=", "QU=D",      " Zg"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(auth_base64url_decode(bad[i], strlen(bad[i]), bytes, sizeof bytes, &n), -1);
  /* Output capacity is exact. */
  CHECK_EQ_INT(auth_base64url_decode("Zm9vYmFy", 8, bytes, 6, &n), 0);
  CHECK_EQ_INT(auth_base64url_decode("Zm9vYmFy", 8, bytes, 5, &n), -1);
  CHECK_EQ_INT(auth_base64url_encode((const uint8_t *)"foo", 3, text, 4), -1);
  CHECK_EQ_INT(auth_base64url_encode((const uint8_t *)"foo", 3, text, 5), 4);
  /* Long input crosses the internal chunks: round trip 1000 bytes. */
  uint8_t big[1000], back[1000];
  char big_text[1400];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7 + 3);
  int len = auth_base64url_encode(big, sizeof big, big_text, sizeof big_text);
  CHECK_EQ_INT(len, 1334);
  CHECK_EQ_INT(auth_base64url_decode(big_text, (size_t)len, back, sizeof back, &n), 0);
  CHECK(n == sizeof big && memcmp(big, back, n) == 0);
}

/* ------------------------------------------------------------------------ */
/* Config                                                                   */

static void test_algs_parse(void) {
  unsigned mask = 99;
  char err[128];
  CHECK_EQ_INT(auth_jwt_algs_parse("HS256", &mask, err, sizeof err), 0);
  CHECK_EQ_INT(mask, AUTH_JWT_HS256);
  CHECK_EQ_INT(auth_jwt_algs_parse(" hs256 , RS256 ", &mask, err, sizeof err), 0);
  CHECK_EQ_INT(mask, AUTH_JWT_HS256 | AUTH_JWT_RS256);
  CHECK_EQ_INT(auth_jwt_algs_parse("ES256", &mask, err, sizeof err), 0);
  CHECK_EQ_INT(mask, AUTH_JWT_ES256);
  CHECK_EQ_INT(auth_jwt_algs_parse("", &mask, err, sizeof err), 0);
  CHECK_EQ_INT(mask, 0);
  CHECK_EQ_INT(auth_jwt_algs_parse("none", &mask, err, sizeof err), -1);
  CHECK(strstr(err, "none") != NULL);
  CHECK_EQ_INT(auth_jwt_algs_parse("HS256,None", &mask, err, sizeof err), -1);
  CHECK_EQ_INT(auth_jwt_algs_parse("HS512", &mask, err, sizeof err), -1);
  CHECK_EQ_INT(auth_jwt_algs_parse("HS256,,RS256", &mask, err, sizeof err), -1);
  CHECK(auth_jwt_algs_check("HS256,ES256") == NULL);
  CHECK(auth_jwt_algs_check("none") != NULL);
  CHECK(auth_jwt_secret_check("") == NULL);
  CHECK(auth_jwt_secret_check("short") != NULL);
  CHECK(auth_jwt_secret_check(hs_secret) == NULL);
}

static void test_config_init(void) {
  auth_jwt_config cfg;
  /* The defaults: HS256 listed, no secret -> nothing enabled, every token refused. */
  CHECK_EQ_INT(init(&cfg, "", "", "HS256", 30, "", ""), 0);
  CHECK(!auth_jwt_enabled(&cfg));
  char token[2048];
  uint64_t uid = 0;
  make_token(token, sizeof token, HS_HEADER, "{\"uid\":1,\"exp\":1800000000}", SIGN_HS256);
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_ERR_BAD_TOKEN);
  auth_jwt_config_free(&cfg);

  CHECK_EQ_INT(init(&cfg, "too short", "", "HS256", 30, "", ""), -1);
  CHECK_EQ_INT(init(&cfg, hs_secret, "", "HS256,none", 30, "", ""), -1);
  CHECK_EQ_INT(init(&cfg, "", "", "RS256", 30, "", ""), -1);      /* no key */
  CHECK_EQ_INT(init(&cfg, "", ec_pem, "RS256", 30, "", ""), -1);  /* EC key for RS256 */
  CHECK_EQ_INT(init(&cfg, "", rsa_pem, "ES256", 30, "", ""), -1); /* RSA key for ES256 */
  CHECK_EQ_INT(init(&cfg, "", rsa_pem, "RS256,ES256", 30, "", ""), -1);
  CHECK_EQ_INT(init(&cfg, hs_secret, rsa_pem, "HS256", 30, "", ""), -1); /* key unused */
  CHECK_EQ_INT(init(&cfg, "", "/nonexistent/key.pem", "RS256", 30, "", ""), -1);
  CHECK_EQ_INT(init(&cfg, "", rsa_private_pem, "RS256", 30, "", ""), -1);
  CHECK_EQ_INT(init(&cfg, "", rsa_small_pem, "RS256", 30, "", ""), -1);
  CHECK_EQ_INT(init(&cfg, hs_secret, "", "HS256", 3601, "", ""), -1);
  char err[256];
  CHECK_EQ_INT(auth_jwt_config_init(&cfg, "", ec_pem, "RS256", 30, "", "", err, sizeof err), -1);
  CHECK(strstr(err, "RS256") != NULL && strstr(err, "RSA") != NULL);

  CHECK_EQ_INT(init(&cfg, hs_secret, rsa_pem, "HS256,RS256", 30, "", ""), 0);
  CHECK_EQ_INT(cfg.algs, AUTH_JWT_HS256 | AUTH_JWT_RS256);
  auth_jwt_config_free(&cfg);
  CHECK(cfg.public_key == NULL && cfg.secret_len == 0);
  CHECK_EQ_INT(init(&cfg, "", ec_pem, "es256", 0, "", ""), 0);
  CHECK_EQ_INT(cfg.algs, AUTH_JWT_ES256);
  auth_jwt_config_free(&cfg);
}

/* ------------------------------------------------------------------------ */
/* Valid tokens                                                             */

static void test_valid_tokens(void) {
  auth_jwt_config hs, rs, es;
  CHECK_EQ_INT(init(&hs, hs_secret, "", "HS256", 30, "", ""), 0);
  CHECK_EQ_INT(init(&rs, "", rsa_pem, "RS256", 30, "", ""), 0);
  CHECK_EQ_INT(init(&es, "", ec_pem, "ES256", 30, "", ""), 0);
  char token[2048], payload[256];
  uint64_t uid = 0;
  make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 60, "\"uid\":1001"),
             SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_OK);
  CHECK_EQ_INT(uid, 1001);
  uid = 0;
  make_token(token, sizeof token, RS_HEADER, claims(payload, sizeof payload, 60, "\"uid\":1002"),
             SIGN_RS256);
  CHECK_EQ_INT(verify(&rs, token, &uid), AUTH_OK);
  CHECK_EQ_INT(uid, 1002);
  uid = 0;
  make_token(token, sizeof token, ES_HEADER, claims(payload, sizeof payload, 60, "\"uid\":1003"),
             SIGN_ES256);
  CHECK_EQ_INT(verify(&es, token, &uid), AUTH_OK);
  CHECK_EQ_INT(uid, 1003);
  /* ECDSA signatures are randomised: a second signature verifies too. */
  make_token(token, sizeof token, ES_HEADER, claims(payload, sizeof payload, 60, "\"uid\":1003"),
             SIGN_ES256);
  CHECK_EQ_INT(verify(&es, token, &uid), AUTH_OK);
  /* A token signed by another RSA key does not. */
  make_token_with(token, sizeof token, RS_HEADER,
                  claims(payload, sizeof payload, 60, "\"uid\":1002"), SIGN_RS256, NULL, 0,
                  rsa_other);
  CHECK_EQ_INT(verify(&rs, token, &uid), AUTH_ERR_BAD_TOKEN);
  /* Unknown header parameters (kid, typ, jku) are ignored: the key is never chosen by them. */
  make_token(token, sizeof token,
             "{\"alg\":\"HS256\",\"kid\":\"k1\",\"jku\":\"https://evil.example/jwks\"}",
             claims(payload, sizeof payload, 60, "\"uid\":5"), SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_OK);
  auth_jwt_config_free(&hs);
  auth_jwt_config_free(&rs);
  auth_jwt_config_free(&es);
}

/* ------------------------------------------------------------------------ */
/* Time claims                                                              */

static void test_times(void) {
  auth_jwt_config cfg;
  CHECK_EQ_INT(init(&cfg, hs_secret, "", "HS256", 30, "", ""), 0);
  char token[2048], payload[256];
  uint64_t uid;
  struct {
    int64_t exp_offset;
    const char *extra;
    auth_status want;
  } cases[] = {
      {60, "\"uid\":1", AUTH_OK},
      {-31, "\"uid\":1", AUTH_ERR_EXPIRED}, /* expired beyond the leeway */
      {-30, "\"uid\":1", AUTH_ERR_EXPIRED}, /* now == exp + leeway: expired */
      {-29, "\"uid\":1", AUTH_OK},          /* now == exp + leeway - 1: still valid */
      {-1000000, "\"uid\":1", AUTH_ERR_EXPIRED},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    make_token(token, sizeof token, HS_HEADER,
               claims(payload, sizeof payload, cases[i].exp_offset, cases[i].extra), SIGN_HS256);
    CHECK_EQ_INT(verify(&cfg, token, &uid), cases[i].want);
  }
  /* nbf: valid from nbf - leeway on. */
  char extra[64];
  snprintf(extra, sizeof extra, "\"uid\":1,\"nbf\":%lld", (long long)(now + 30));
  make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 600, extra),
             SIGN_HS256);
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_OK); /* nbf - leeway == now */
  snprintf(extra, sizeof extra, "\"uid\":1,\"nbf\":%lld", (long long)(now + 31));
  make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 600, extra),
             SIGN_HS256);
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_ERR_EXPIRED); /* not yet valid */
  snprintf(extra, sizeof extra, "\"uid\":1,\"nbf\":%lld", (long long)(now - 100));
  make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 600, extra),
             SIGN_HS256);
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_OK);
  /* exp required and an integer; nbf an integer when present. */
  static const char *const bad[] = {
      "{\"uid\":1}",
      "{\"uid\":1,\"exp\":\"1800000000\"}",
      "{\"uid\":1,\"exp\":1800000000.5}",
      "{\"uid\":1,\"exp\":1.8e9}",
      "{\"uid\":1,\"exp\":null}",
      "{\"uid\":1,\"exp\":1800000000,\"nbf\":\"0\"}",
      "{\"uid\":1,\"exp\":99999999999999999999}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    make_token(token, sizeof token, HS_HEADER, bad[i], SIGN_HS256);
    CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_ERR_BAD_TOKEN);
  }
  /* exp + leeway overflowing int64 saturates instead of wrapping into the past. */
  make_token(token, sizeof token, HS_HEADER, "{\"uid\":1,\"exp\":9223372036854775807}", SIGN_HS256);
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_OK);
  auth_jwt_config_free(&cfg);
  /* Leeway 0: valid until exp - 1. */
  CHECK_EQ_INT(init(&cfg, hs_secret, "", "HS256", 0, "", ""), 0);
  make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 0, "\"uid\":1"),
             SIGN_HS256);
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_ERR_EXPIRED);
  make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 1, "\"uid\":1"),
             SIGN_HS256);
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_OK);
  auth_jwt_config_free(&cfg);
}

/* ------------------------------------------------------------------------ */
/* Algorithms                                                               */

static void test_alg_rules(void) {
  auth_jwt_config hs, rs, both;
  CHECK_EQ_INT(init(&hs, hs_secret, "", "HS256", 30, "", ""), 0);
  CHECK_EQ_INT(init(&rs, "", rsa_pem, "RS256", 30, "", ""), 0);
  CHECK_EQ_INT(init(&both, hs_secret, rsa_pem, "HS256,RS256", 30, "", ""), 0);
  char token[2048], payload[256];
  uint64_t uid;
  claims(payload, sizeof payload, 60, "\"uid\":7");
  /* An RS256 token where only HS256 is allowed, and the reverse. */
  make_token(token, sizeof token, RS_HEADER, payload, SIGN_RS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);
  make_token(token, sizeof token, HS_HEADER, payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&rs, token, &uid), AUTH_ERR_BAD_TOKEN);
  /* The allow-list decides on its own: with a secret configured but only RS256 listed, a
     token signed with that very secret is refused. */
  auth_jwt_config rs_with_secret;
  CHECK_EQ_INT(init(&rs_with_secret, hs_secret, rsa_pem, "RS256", 30, "", ""), 0);
  CHECK_EQ_INT(rs_with_secret.algs, AUTH_JWT_RS256);
  CHECK_EQ_INT(verify(&rs_with_secret, token, &uid), AUTH_ERR_BAD_TOKEN);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_OK);
  auth_jwt_config_free(&rs_with_secret);
  /* An ES256 token where RS256 is configured. */
  make_token(token, sizeof token, ES_HEADER, payload, SIGN_ES256);
  CHECK_EQ_INT(verify(&rs, token, &uid), AUTH_ERR_BAD_TOKEN);

  /* alg none: without a signature, with one, in any case. */
  static const char *const none_headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}",
                                             "{\"alg\":\"NONE\",\"typ\":\"JWT\"}"};
  for (size_t i = 0; i < 3; i++) {
    auth_jwt_config *cfgs[] = {&hs, &rs, &both};
    make_token(token, sizeof token, none_headers[i], payload, SIGN_NONE); /* "h.p." */
    CHECK(token[strlen(token) - 1] == '.');
    for (size_t c = 0; c < 3; c++) CHECK_EQ_INT(verify(cfgs[c], token, &uid), AUTH_ERR_BAD_TOKEN);
    make_token(token, sizeof token, none_headers[i], payload, SIGN_HS256);
    for (size_t c = 0; c < 3; c++) CHECK_EQ_INT(verify(cfgs[c], token, &uid), AUTH_ERR_BAD_TOKEN);
  }
  /* Two-part token (no signature part at all). */
  size_t n = b64("{\"alg\":\"none\"}", 14, token, sizeof token);
  token[n++] = '.';
  b64(payload, strlen(payload), token + n, sizeof token - n);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);

  /* Algorithm confusion: an HS256 token whose HMAC key is the RSA public key PEM. */
  make_token_with(token, sizeof token, HS_HEADER, payload, SIGN_HS256, rsa_pem_bytes, rsa_pem_len,
                  NULL);
  CHECK_EQ_INT(verify(&rs, token, &uid), AUTH_ERR_BAD_TOKEN);   /* HS256 not allowed */
  CHECK_EQ_INT(verify(&both, token, &uid), AUTH_ERR_BAD_TOKEN); /* checked with the secret only */
  /* An RS256 header on an HMAC signature, and an HS256 header on an RSA signature. */
  make_token_with(token, sizeof token, RS_HEADER, payload, SIGN_HS256, hs_secret, strlen(hs_secret),
                  NULL);
  CHECK_EQ_INT(verify(&both, token, &uid), AUTH_ERR_BAD_TOKEN);
  make_token_with(token, sizeof token, HS_HEADER, payload, SIGN_RS256, NULL, 0, rsa_key);
  CHECK_EQ_INT(verify(&both, token, &uid), AUTH_ERR_BAD_TOKEN);
  /* Both algorithms work on the mixed config when signed properly. */
  make_token(token, sizeof token, HS_HEADER, payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&both, token, &uid), AUTH_OK);
  make_token(token, sizeof token, RS_HEADER, payload, SIGN_RS256);
  CHECK_EQ_INT(verify(&both, token, &uid), AUTH_OK);
  /* alg names are case-sensitive in a token (RFC 7518), unknown ones refused. */
  make_token(token, sizeof token, "{\"alg\":\"hs256\"}", payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);
  make_token(token, sizeof token, "{\"alg\":\"HS512\"}", payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);
  make_token(token, sizeof token, "{\"typ\":\"JWT\"}", payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);
  make_token(token, sizeof token, "{\"alg\":256}", payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);
  /* Duplicate alg (one parser would read the first, another the last), crit. */
  make_token(token, sizeof token, "{\"alg\":\"HS256\",\"alg\":\"none\"}", payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);
  make_token(token, sizeof token, "{\"alg\":\"HS256\",\"\\u0061lg\":\"RS256\"}", payload,
             SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);
  make_token(token, sizeof token, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&hs, token, &uid), AUTH_ERR_BAD_TOKEN);
  auth_jwt_config_free(&hs);
  auth_jwt_config_free(&rs);
  auth_jwt_config_free(&both);
}

/* ------------------------------------------------------------------------ */
/* Tampering and malformed tokens                                           */

/* Replaces the payload part of token with base64url(payload), keeping the signature. */
static void swap_payload(char *token, size_t cap, const char *payload) {
  char *dot1 = strchr(token, '.'), *dot2 = strchr(dot1 + 1, '.');
  char sig[1024];
  snprintf(sig, sizeof sig, "%s", dot2);
  size_t n = (size_t)(dot1 + 1 - token);
  n += b64(payload, strlen(payload), token + n, cap - n);
  snprintf(token + n, cap - n, "%s", sig);
}

static void test_tampering(void) {
  auth_jwt_config cfgs[3];
  CHECK_EQ_INT(init(&cfgs[0], hs_secret, "", "HS256", 30, "", ""), 0);
  CHECK_EQ_INT(init(&cfgs[1], "", rsa_pem, "RS256", 30, "", ""), 0);
  CHECK_EQ_INT(init(&cfgs[2], "", ec_pem, "ES256", 30, "", ""), 0);
  const char *headers[3] = {HS_HEADER, RS_HEADER, ES_HEADER};
  enum sign_kind kinds[3] = {SIGN_HS256, SIGN_RS256, SIGN_ES256};
  char token[2048], payload[256], evil[256];
  uint64_t uid = 0;
  claims(payload, sizeof payload, 60, "\"uid\":1001");
  claims(evil, sizeof evil, 60, "\"uid\":1");
  for (int i = 0; i < 3; i++) {
    make_token(token, sizeof token, headers[i], payload, kinds[i]);
    CHECK_EQ_INT(verify(&cfgs[i], token, &uid), AUTH_OK);
    char copy[2100]; /* room for a suffix after a token of up to 2047 bytes */
    /* Tampered payload: another uid under the original signature. */
    snprintf(copy, sizeof copy, "%s", token);
    swap_payload(copy, sizeof copy, evil);
    CHECK_EQ_INT(verify(&cfgs[i], copy, &uid), AUTH_ERR_BAD_TOKEN);
    /* Tampered signature: one character of its middle changed. */
    snprintf(copy, sizeof copy, "%s", token);
    char *sig = strrchr(copy, '.') + 1;
    size_t mid = strlen(sig) / 2;
    sig[mid] = sig[mid] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(verify(&cfgs[i], copy, &uid), AUTH_ERR_BAD_TOKEN);
    /* Truncated signature, signature with '=' padding, empty signature. */
    snprintf(copy, sizeof copy, "%s", token);
    copy[strlen(copy) - 4] = '\0';
    CHECK_EQ_INT(verify(&cfgs[i], copy, &uid), AUTH_ERR_BAD_TOKEN);
    snprintf(copy, sizeof copy, "%s=", token);
    CHECK_EQ_INT(verify(&cfgs[i], copy, &uid), AUTH_ERR_BAD_TOKEN);
    snprintf(copy, sizeof copy, "%s", token);
    strrchr(copy, '.')[1] = '\0';
    CHECK_EQ_INT(verify(&cfgs[i], copy, &uid), AUTH_ERR_BAD_TOKEN);
    /* A trailing fourth part (JWE-like) or whitespace. */
    snprintf(copy, sizeof copy, "%s.AAAA", token);
    CHECK_EQ_INT(verify(&cfgs[i], copy, &uid), AUTH_ERR_BAD_TOKEN);
    snprintf(copy, sizeof copy, "%s ", token);
    CHECK_EQ_INT(verify(&cfgs[i], copy, &uid), AUTH_ERR_BAD_TOKEN);
  }
  CHECK_EQ_INT(uid, 1001); /* only the genuine tokens ever set it */

  /* ES256 with a DER signature instead of r || s, and with r = 0. */
  char header_part[256], payload_part[512], input[1024], sig_part[256];
  b64(ES_HEADER, strlen(ES_HEADER), header_part, sizeof header_part);
  b64(payload, strlen(payload), payload_part, sizeof payload_part);
  snprintf(input, sizeof input, "%s.%s", header_part, payload_part);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  uint8_t der[128];
  size_t der_len = sizeof der;
  CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ec_key) == 1);
  CHECK(EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)input, strlen(input)) == 1);
  EVP_MD_CTX_free(ctx);
  b64(der, der_len, sig_part, sizeof sig_part);
  snprintf(token, sizeof token, "%s.%s", input, sig_part);
  CHECK_EQ_INT(verify(&cfgs[2], token, &uid), AUTH_ERR_BAD_TOKEN);
  uint8_t zero_r[64] = {0};
  zero_r[63] = 1;
  b64(zero_r, 64, sig_part, sizeof sig_part);
  snprintf(token, sizeof token, "%s.%s", input, sig_part);
  CHECK_EQ_INT(verify(&cfgs[2], token, &uid), AUTH_ERR_BAD_TOKEN);

  /* Malformed structure and parts. */
  make_token(token, sizeof token, HS_HEADER, payload, SIGN_HS256);
  static const char *const junk[] = {"", ".", "..", "abc", "a.b", "a.b.c", "Bearer ", "...."};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
    CHECK_EQ_INT(verify(&cfgs[0], junk[i], &uid), AUTH_ERR_BAD_TOKEN);
  const char *not_objects[][2] = {{"[1,2]", "{}"},
                                  {"{\"alg\":\"HS256\"", "{}"},
                                  {HS_HEADER, "[\"uid\",1]"},
                                  {HS_HEADER, "{\"uid\":1,\"exp\":1800000000"},
                                  {HS_HEADER, "\"uid\""}};
  for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
    make_token(token, sizeof token, not_objects[i][0], not_objects[i][1], SIGN_HS256);
    CHECK_EQ_INT(verify(&cfgs[0], token, &uid), AUTH_ERR_BAD_TOKEN);
  }
  /* A header with an invalid base64url character, and one with '=' padding. */
  make_token(token, sizeof token, HS_HEADER, payload, SIGN_HS256);
  char copy[2100];
  snprintf(copy, sizeof copy, "%s", token);
  copy[3] = '+';
  CHECK_EQ_INT(verify(&cfgs[0], copy, &uid), AUTH_ERR_BAD_TOKEN);
  const char *odd_header = "{\"alg\":\"HS256\",\"x\":12}"; /* 22 bytes: 30 characters */
  make_token(token, sizeof token, odd_header, payload, SIGN_HS256);
  CHECK_EQ_INT(verify(&cfgs[0], token, &uid), AUTH_OK);
  size_t hn = strcspn(token, ".");
  CHECK_EQ_INT(hn, 30);
  snprintf(copy, sizeof copy, "%.*s==%s", (int)hn, token, token + hn);
  CHECK_EQ_INT(verify(&cfgs[0], copy, &uid), AUTH_ERR_BAD_TOKEN);
  /* Longer than AUTH_JWT_MAX_TOKEN. */
  static char huge[AUTH_JWT_MAX_TOKEN + 64];
  memset(huge, 'A', sizeof huge - 1);
  huge[10] = '.';
  huge[20] = '.';
  CHECK_EQ_INT(verify(&cfgs[0], huge, &uid), AUTH_ERR_BAD_TOKEN);
  for (int i = 0; i < 3; i++) auth_jwt_config_free(&cfgs[i]);
}

/* ------------------------------------------------------------------------ */
/* User id, issuer, audience, Bearer                                        */

static void test_uid_claims(void) {
  auth_jwt_config cfg;
  CHECK_EQ_INT(init(&cfg, hs_secret, "", "HS256", 30, "", ""), 0);
  char token[2048], payload[256];
  struct {
    const char *extra;
    auth_status want;
    uint64_t uid;
  } cases[] = {
      {"\"sub\":\"42\"", AUTH_OK, 42},
      {"\"sub\":43", AUTH_OK, 43},
      {"\"uid\":\"44\"", AUTH_OK, 44},
      {"\"uid\":45,\"sub\":\"46\"", AUTH_OK, 45}, /* uid wins */
      {"\"sub\":\"9223372036854775807\"", AUTH_OK, 9223372036854775807ull},
      {"\"sub\":\"9223372036854775808\"", AUTH_ERR_BAD_TOKEN, 0},
      {"\"sub\":\"abc\"", AUTH_ERR_BAD_TOKEN, 0},
      {"\"sub\":\"0\"", AUTH_ERR_BAD_TOKEN, 0},
      {"\"sub\":\"007\"", AUTH_ERR_BAD_TOKEN, 0},
      {"\"sub\":\"-5\"", AUTH_ERR_BAD_TOKEN, 0},
      {"\"sub\":\"\"", AUTH_ERR_BAD_TOKEN, 0},
      {"\"sub\":4.5", AUTH_ERR_BAD_TOKEN, 0},
      {"\"uid\":0", AUTH_ERR_BAD_TOKEN, 0},
      {"\"uid\":-1", AUTH_ERR_BAD_TOKEN, 0},
      {"\"uid\":true,\"sub\":\"46\"", AUTH_ERR_BAD_TOKEN, 0}, /* no fall-back to sub */
      {"\"uid\":1,\"uid\":2", AUTH_ERR_BAD_TOKEN, 0},         /* duplicate claim */
      {"\"name\":\"alice\"", AUTH_ERR_BAD_TOKEN, 0},          /* no user id */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t uid = 0;
    make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 60, cases[i].extra),
               SIGN_HS256);
    auth_status st = verify(&cfg, token, &uid);
    if (st != cases[i].want) fprintf(stderr, "uid case %zu: %s\n", i, cases[i].extra);
    CHECK_EQ_INT(st, cases[i].want);
    if (cases[i].want == AUTH_OK) CHECK_EQ_INT(uid, cases[i].uid);
  }
  /* A duplicated exp is refused as well. */
  make_token(token, sizeof token, HS_HEADER, "{\"uid\":1,\"exp\":1800000000,\"exp\":1}",
             SIGN_HS256);
  uint64_t uid;
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_ERR_BAD_TOKEN);
  auth_jwt_config_free(&cfg);
}

static void test_issuer_audience(void) {
  auth_jwt_config cfg;
  CHECK_EQ_INT(init(&cfg, hs_secret, "", "HS256", 30, "https://id.example", "bourse"), 0);
  char token[2048], payload[256];
  struct {
    const char *extra;
    auth_status want;
  } cases[] = {
      {"\"uid\":1,\"iss\":\"https://id.example\",\"aud\":\"bourse\"", AUTH_OK},
      {"\"uid\":1,\"iss\":\"https://id.example\",\"aud\":[\"web\",\"bourse\"]", AUTH_OK},
      {"\"uid\":1,\"iss\":\"https:\\/\\/id.example\",\"aud\":\"bourse\"", AUTH_OK}, /* escaped */
      {"\"uid\":1,\"iss\":\"https://id.example\",\"aud\":[\"web\"]", AUTH_ERR_BAD_TOKEN},
      {"\"uid\":1,\"iss\":\"https://id.example\",\"aud\":[]", AUTH_ERR_BAD_TOKEN},
      {"\"uid\":1,\"iss\":\"https://id.example\",\"aud\":\"bourse2\"", AUTH_ERR_BAD_TOKEN},
      {"\"uid\":1,\"iss\":\"https://id.example\",\"aud\":7", AUTH_ERR_BAD_TOKEN},
      {"\"uid\":1,\"iss\":\"https://id.example\"", AUTH_ERR_BAD_TOKEN},
      {"\"uid\":1,\"iss\":\"https://evil.example\",\"aud\":\"bourse\"", AUTH_ERR_BAD_TOKEN},
      {"\"uid\":1,\"aud\":\"bourse\"", AUTH_ERR_BAD_TOKEN},
      {"\"uid\":1,\"iss\":[\"https://id.example\"],\"aud\":\"bourse\"", AUTH_ERR_BAD_TOKEN},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t uid = 0;
    make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 60, cases[i].extra),
               SIGN_HS256);
    auth_status st = verify(&cfg, token, &uid);
    if (st != cases[i].want) fprintf(stderr, "iss/aud case %zu: %s\n", i, cases[i].extra);
    CHECK_EQ_INT(st, cases[i].want);
  }
  auth_jwt_config_free(&cfg);
  /* Without issuer/audience configured, neither claim is looked at. */
  CHECK_EQ_INT(init(&cfg, hs_secret, "", "HS256", 30, "", ""), 0);
  uint64_t uid;
  make_token(token, sizeof token, HS_HEADER,
             claims(payload, sizeof payload, 60, "\"uid\":1,\"iss\":\"x\",\"aud\":7"), SIGN_HS256);
  CHECK_EQ_INT(verify(&cfg, token, &uid), AUTH_OK);
  auth_jwt_config_free(&cfg);
}

static void test_bearer(void) {
  auth_jwt_config cfg;
  CHECK_EQ_INT(init(&cfg, hs_secret, "", "HS256", 30, "", ""), 0);
  char token[2048], payload[256], prefixed[2100];
  uint64_t uid = 0;
  make_token(token, sizeof token, HS_HEADER, claims(payload, sizeof payload, 60, "\"uid\":77"),
             SIGN_HS256);
  static const char *const ok[] = {"Bearer ", "bearer ", "BEARER  ", "BeArEr "};
  for (size_t i = 0; i < 4; i++) {
    snprintf(prefixed, sizeof prefixed, "%s%s", ok[i], token);
    uid = 0;
    CHECK_EQ_INT(verify(&cfg, prefixed, &uid), AUTH_OK);
    CHECK_EQ_INT(uid, 77);
  }
  static const char *const bad[] = {"Bearer", "Bearer\t", "Basic ", " Bearer ", "Bearer: "};
  for (size_t i = 0; i < 5; i++) {
    snprintf(prefixed, sizeof prefixed, "%s%s", bad[i], token);
    CHECK_EQ_INT(verify(&cfg, prefixed, &uid), AUTH_ERR_BAD_TOKEN);
  }
  auth_jwt_config_free(&cfg);
}

int main(void) {
  setup();
  test_base64url();
  test_algs_parse();
  test_config_init();
  test_valid_tokens();
  test_times();
  test_alg_rules();
  test_tampering();
  test_uid_claims();
  test_issuer_audience();
  test_bearer();
  teardown();
  return check_report("auth_jwt");
}
