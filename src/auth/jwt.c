/*
 * jwt.c: JWT (RFC 7519) verification for HS256, RS256 and ES256 (RFC 7518),
 * see include/bourse/auth.h.
 *
 * Thread-safe: auth_jwt_config_init / _free run once at start; an initialised
 * config is only read, and OpenSSL allows one EVP_PKEY to verify on several
 * threads at once. auth_jwt_verify runs on the io threads, once per `auth`
 * request or upgrade with an Authorization header: not per message.
 *
 * Why not a JWT library: Debian's libjwt allocates a JSON tree (jansson) per
 * token and decides the key from the token's own header; the checks that
 * matter here (the allow-list, the key type bound to each alg, strict
 * base64url, duplicate claims) are easier to see in one short file. Every
 * primitive is OpenSSL's.
 */
#include "bourse/auth.h"
#include "bourse/json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Decoded sizes the verifier accepts. A JWT header is a few dozen bytes;
   8192-bit RSA signatures are 1024 bytes. */
#define JWT_HEADER_MAX    1024
#define JWT_PAYLOAD_MAX   6144
#define JWT_SIGNATURE_MAX 1024
#define JWT_HEADER_TOKENS 64
#define JWT_CLAIM_TOKENS  256

static void say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...) {
  if (!why || why_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_len, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Allow-list                                                               */

static const struct {
  const char *name;
  unsigned bit;
} jwt_algs[] = {{"HS256", AUTH_JWT_HS256}, {"RS256", AUTH_JWT_RS256}, {"ES256", AUTH_JWT_ES256}};

#define JWT_ALG_COUNT (sizeof jwt_algs / sizeof jwt_algs[0])

/* Trims spaces from both ends of s[0..*len), returning the new start. */
static const char *trim(const char *s, size_t *len) {
  while (*len > 0 && isspace((unsigned char)s[0])) s++, (*len)--;
  while (*len > 0 && isspace((unsigned char)s[*len - 1])) (*len)--;
  return s;
}

int auth_jwt_algs_parse(const char *list, unsigned *mask, char *err, size_t err_len) {
  unsigned bits = 0;
  const char *p = list ? list : "";
  size_t total = strlen(p);
  trim(p, &total);
  if (total == 0) { /* an empty list: JWT disabled */
    *mask = 0;
    return 0;
  }
  for (;;) {
    size_t n = strcspn(p, ",");
    size_t len = n;
    const char *name = trim(p, &len);
    unsigned bit = 0;
    for (size_t i = 0; i < JWT_ALG_COUNT; i++)
      if (len == 5 && strncasecmp(name, jwt_algs[i].name, 5) == 0) bit = jwt_algs[i].bit;
    if (len == 4 && strncasecmp(name, "none", 4) == 0) {
      say(err, err_len, "alg none is never accepted: remove it from the list");
      return -1;
    }
    if (!bit) {
      say(err, err_len, "unknown alg \"%.*s\": expected HS256, RS256 or ES256",
          (int)(len < 32 ? len : 32), name);
      return -1;
    }
    bits |= bit;
    if (p[n] == '\0') break;
    p += n + 1;
  }
  *mask = bits;
  return 0;
}

const char *auth_jwt_algs_check(const char *list) {
  unsigned mask;
  char err[128];
  if (auth_jwt_algs_parse(list, &mask, err, sizeof err) == 0) return NULL;
  if (strstr(err, "none")) return "alg none is never accepted: remove it from the list";
  return "expected a comma list of HS256, RS256, ES256";
}

const char *auth_jwt_secret_check(const char *secret) {
  size_t len = strlen(secret);
  if (len == 0 || (len >= AUTH_JWT_SECRET_MIN && len <= AUTH_JWT_SECRET_MAX)) return NULL;
  return "an HS256 secret needs at least 32 bytes (RFC 7518 3.2); empty disables HS256";
}

/* ------------------------------------------------------------------------ */
/* Config                                                                   */

static bool key_is_rsa(const EVP_PKEY *key) {
  return key && EVP_PKEY_is_a(key, "RSA");
}

static bool key_is_p256(const EVP_PKEY *key) {
  char group[64];
  size_t len = 0;
  return key && EVP_PKEY_is_a(key, "EC") &&
         EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1 &&
         strcmp(group, "prime256v1") == 0;
}

static int load_public_key(auth_jwt_config *cfg, const char *path, char *err, size_t err_len) {
  FILE *f = fopen(path, "r");
  if (!f) {
    say(err, err_len, "jwt_public_key %s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  cfg->public_key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
  fclose(f);
  ERR_clear_error();
  if (!cfg->public_key) {
    say(err, err_len,
        "jwt_public_key %s: no valid PEM \"PUBLIC KEY\" block (a certificate or private key "
        "does not do: extract the key with `openssl pkey -pubout`)",
        path);
    return -1;
  }
  if (key_is_rsa(cfg->public_key) && EVP_PKEY_get_bits(cfg->public_key) < AUTH_JWT_RSA_MIN_BITS) {
    say(err, err_len, "jwt_public_key %s: RSA key of %d bits; at least %d are required", path,
        EVP_PKEY_get_bits(cfg->public_key), AUTH_JWT_RSA_MIN_BITS);
    return -1;
  }
  if (!key_is_rsa(cfg->public_key) && !key_is_p256(cfg->public_key)) {
    say(err, err_len, "jwt_public_key %s: neither an RSA nor an EC P-256 key", path);
    return -1;
  }
  return 0;
}

/* Checks that every listed alg has a key of its kind. */
static int check_keys(auth_jwt_config *cfg, unsigned listed, char *err, size_t err_len) {
  if ((listed & AUTH_JWT_RS256) && (listed & AUTH_JWT_ES256)) {
    say(err, err_len,
        "jwt_algs lists RS256 and ES256, but jwt_public_key holds one key: "
        "keep the one that matches it");
    return -1;
  }
  unsigned asym = listed & (AUTH_JWT_RS256 | AUTH_JWT_ES256);
  if (asym && !cfg->public_key) {
    say(err, err_len, "jwt_algs lists %s but jwt_public_key is not set",
        asym == AUTH_JWT_RS256 ? "RS256" : "ES256");
    return -1;
  }
  if (!asym && cfg->public_key) {
    say(err, err_len, "jwt_public_key is set but jwt_algs lists neither RS256 nor ES256");
    return -1;
  }
  if (asym == AUTH_JWT_RS256 && !key_is_rsa(cfg->public_key)) {
    say(err, err_len, "jwt_algs lists RS256 but jwt_public_key is not an RSA key");
    return -1;
  }
  if (asym == AUTH_JWT_ES256 && !key_is_p256(cfg->public_key)) {
    say(err, err_len, "jwt_algs lists ES256 but jwt_public_key is not an EC P-256 key");
    return -1;
  }
  return 0;
}

int auth_jwt_config_init(auth_jwt_config *cfg, const char *secret, const char *public_key_path,
                         const char *algs, unsigned leeway_s, const char *issuer,
                         const char *audience, char *err, size_t err_len) {
  memset(cfg, 0, sizeof *cfg);
  unsigned listed;
  char reason[160];
  if (auth_jwt_algs_parse(algs, &listed, reason, sizeof reason) != 0) {
    say(err, err_len, "jwt_algs: %s", reason);
    return -1;
  }
  size_t secret_len = secret ? strlen(secret) : 0;
  if (secret_len > 0 && auth_jwt_secret_check(secret)) {
    say(err, err_len, "jwt_secret: %s", auth_jwt_secret_check(secret));
    return -1;
  }
  if (leeway_s > AUTH_JWT_MAX_LEEWAY) {
    say(err, err_len, "jwt_leeway_s %u exceeds %d", leeway_s, AUTH_JWT_MAX_LEEWAY);
    return -1;
  }
  if ((issuer && strlen(issuer) > AUTH_JWT_CLAIM_MAX) ||
      (audience && strlen(audience) > AUTH_JWT_CLAIM_MAX)) {
    say(err, err_len, "jwt_issuer / jwt_audience longer than %d bytes", AUTH_JWT_CLAIM_MAX);
    return -1;
  }
  if (public_key_path && public_key_path[0] &&
      load_public_key(cfg, public_key_path, err, err_len) != 0) {
    auth_jwt_config_free(cfg);
    return -1;
  }
  if (check_keys(cfg, listed, err, err_len) != 0) {
    auth_jwt_config_free(cfg);
    return -1;
  }
  memcpy(cfg->secret, secret ? secret : "", secret_len);
  cfg->secret_len = secret_len;
  /* HS256 without a secret is the default configuration: no JWT, not an error. */
  cfg->algs = listed & ~(secret_len == 0 ? AUTH_JWT_HS256 : 0u);
  cfg->leeway_s = leeway_s;
  snprintf(cfg->issuer, sizeof cfg->issuer, "%s", issuer ? issuer : "");
  snprintf(cfg->audience, sizeof cfg->audience, "%s", audience ? audience : "");
  return 0;
}

void auth_jwt_config_free(auth_jwt_config *cfg) {
  EVP_PKEY_free(cfg->public_key);
  cfg->public_key = NULL;
  OPENSSL_cleanse(cfg->secret, sizeof cfg->secret);
  cfg->secret_len = 0;
  cfg->algs = 0;
}

bool auth_jwt_enabled(const auth_jwt_config *cfg) {
  return cfg->algs != 0;
}

/* ------------------------------------------------------------------------ */
/* Signatures                                                               */

static bool verify_hs256(const auth_jwt_config *cfg, const char *input, size_t input_len,
                         const uint8_t *sig, size_t sig_len) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (sig_len != 32) return false;
  if (!HMAC(EVP_sha256(), cfg->secret, (int)cfg->secret_len, (const unsigned char *)input,
            input_len, mac, &mac_len) ||
      mac_len != 32)
    return false;
  return CRYPTO_memcmp(mac, sig, 32) == 0;
}

/* EVP_DigestVerify with SHA-256: PKCS #1 v1.5 for an RSA key, ECDSA (DER signature) for EC. */
static bool verify_digest(EVP_PKEY *key, const char *input, size_t input_len, const uint8_t *sig,
                          size_t sig_len) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
            EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

static bool verify_rs256(const auth_jwt_config *cfg, const char *input, size_t input_len,
                         const uint8_t *sig, size_t sig_len) {
  if (!key_is_rsa(cfg->public_key)) return false;
  if (sig_len != (size_t)EVP_PKEY_get_size(cfg->public_key)) return false;
  return verify_digest(cfg->public_key, input, input_len, sig, sig_len);
}

/* JWS carries an ECDSA signature as r || s (32 bytes each); OpenSSL wants DER. */
static bool verify_es256(const auth_jwt_config *cfg, const char *input, size_t input_len,
                         const uint8_t *sig, size_t sig_len) {
  if (!key_is_p256(cfg->public_key) || sig_len != 64) return false;
  ECDSA_SIG *ecdsa = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
  unsigned char der[80];
  int der_len = -1;
  if (ecdsa && r && s && ECDSA_SIG_set0(ecdsa, r, s) == 1) {
    r = s = NULL; /* owned by ecdsa now */
    int need = i2d_ECDSA_SIG(ecdsa, NULL);
    unsigned char *p = der;
    if (need > 0 && (size_t)need <= sizeof der) der_len = i2d_ECDSA_SIG(ecdsa, &p);
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(ecdsa);
  return der_len > 0 && verify_digest(cfg->public_key, input, input_len, der, (size_t)der_len);
}

/* ------------------------------------------------------------------------ */
/* JSON helpers                                                             */

/* Number of members of object `obj` whose key is `key` (escapes decoded). */
static unsigned key_count(const json_doc *doc, uint32_t obj, const char *key) {
  unsigned found = 0;
  size_t len = strlen(key);
  for (uint32_t k = obj + 1, n = 0; n < doc->tokens[obj].count; n++, k = doc->tokens[k + 1].next)
    if (json_string_equals(doc, k, key, len)) found++;
  return found;
}

/* The keys whose value is read, none of which may appear twice (RFC 7515 §5.2). */
static bool any_duplicate(const json_doc *doc, uint32_t obj, const char *const *keys,
                          size_t count) {
  for (size_t i = 0; i < count; i++)
    if (key_count(doc, obj, keys[i]) > 1) return true;
  return false;
}

/* Decodes part[0..len) and parses it as a JSON object. */
static bool decode_object(const char *part, size_t len, uint8_t *buf, size_t cap,
                          json_token *tokens, uint32_t max_tokens, json_doc *doc) {
  size_t n;
  if (auth_base64url_decode(part, len, buf, cap, &n) != 0) return false;
  json_limits limits = {.max_bytes = cap, .max_depth = 16, .max_tokens = max_tokens};
  return json_parse((const char *)buf, n, tokens, &limits, doc) == JSON_OK &&
         doc->tokens[0].type == JSON_OBJECT;
}

/* Claim `name` as an integer: 1 found, 0 absent, -1 present but not an integer. */
static int claim_int(const json_doc *doc, const char *name, int64_t *out) {
  uint32_t v = json_object_get(doc, 0, name, strlen(name));
  if (v == JSON_NONE) return 0;
  return json_get_int64(doc, v, out) == JSON_OK ? 1 : -1;
}

/* A positive uid from a string of 1..19 digits, no sign, no leading zero. */
static bool uid_from_digits(const char *s, size_t len, uint64_t *uid) {
  uint64_t v = 0;
  if (len == 0 || len > 19 || s[0] == '0') return false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits < 2^64 */
  }
  if (v == 0 || v > INT64_MAX) return false;
  *uid = v;
  return true;
}

static bool uid_from_claim(const json_doc *doc, uint32_t v, uint64_t *uid) {
  if (doc->tokens[v].type == JSON_NUMBER) {
    int64_t n;
    if (json_get_int64(doc, v, &n) != JSON_OK || n <= 0) return false;
    *uid = (uint64_t)n;
    return true;
  }
  const char *s;
  size_t len;
  return json_string_raw(doc, v, &s, &len) && uid_from_digits(s, len, uid);
}

static bool string_claim_is(const json_doc *doc, uint32_t v, const char *want) {
  return doc->tokens[v].type == JSON_STRING && json_string_equals(doc, v, want, strlen(want));
}

/* aud: a string or an array of strings, one of which must be `want`. */
static bool audience_matches(const json_doc *doc, uint32_t v, const char *want) {
  if (doc->tokens[v].type == JSON_STRING) return string_claim_is(doc, v, want);
  if (doc->tokens[v].type != JSON_ARRAY) return false;
  for (uint32_t i = v + 1, n = 0; n < doc->tokens[v].count; n++, i = doc->tokens[i].next)
    if (string_claim_is(doc, i, want)) return true;
  return false;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */

/* Reads and checks the header; on success *alg is one AUTH_JWT_* bit in cfg->algs. */
static auth_status check_header(const auth_jwt_config *cfg, const char *part, size_t len,
                                unsigned *alg, char *why, size_t why_len) {
  uint8_t buf[JWT_HEADER_MAX];
  json_token tokens[JWT_HEADER_TOKENS];
  json_doc doc;
  static const char *const read_keys[] = {"alg", "crit"};
  if (!decode_object(part, len, buf, sizeof buf, tokens, JWT_HEADER_TOKENS, &doc)) {
    say(why, why_len, "malformed token: the header is not base64url of a JSON object");
    return AUTH_ERR_BAD_TOKEN;
  }
  if (any_duplicate(&doc, 0, read_keys, 2)) {
    say(why, why_len, "malformed token: duplicate header parameter");
    return AUTH_ERR_BAD_TOKEN;
  }
  if (json_object_get(&doc, 0, "crit", 4) != JSON_NONE) {
    say(why, why_len, "token header has \"crit\" extensions, which are not supported");
    return AUTH_ERR_BAD_TOKEN;
  }
  uint32_t v = json_object_get(&doc, 0, "alg", 3);
  const char *name;
  size_t name_len;
  if (v == JSON_NONE || !json_string_raw(&doc, v, &name, &name_len)) {
    say(why, why_len, "token header has no \"alg\" string");
    return AUTH_ERR_BAD_TOKEN;
  }
  if (name_len == 4 && strncasecmp(name, "none", 4) == 0) {
    say(why, why_len, "unsigned tokens (alg none) are never accepted");
    return AUTH_ERR_BAD_TOKEN;
  }
  *alg = 0;
  for (size_t i = 0; i < JWT_ALG_COUNT; i++)
    if (name_len == 5 && memcmp(name, jwt_algs[i].name, 5) == 0) *alg = jwt_algs[i].bit;
  if (!(*alg & cfg->algs)) {
    say(why, why_len, "token alg \"%.*s\" is not allowed by this server",
        (int)(name_len < 32 ? name_len : 32), name);
    return AUTH_ERR_BAD_TOKEN;
  }
  return AUTH_OK;
}

static auth_status check_signature(const auth_jwt_config *cfg, unsigned alg, const char *input,
                                   size_t input_len, const char *part, size_t len, char *why,
                                   size_t why_len) {
  uint8_t sig[JWT_SIGNATURE_MAX];
  size_t sig_len;
  if (auth_base64url_decode(part, len, sig, sizeof sig, &sig_len) != 0 || sig_len == 0) {
    say(why, why_len, "malformed token: the signature is not base64url");
    return AUTH_ERR_BAD_TOKEN;
  }
  bool ok = alg == AUTH_JWT_HS256   ? verify_hs256(cfg, input, input_len, sig, sig_len)
            : alg == AUTH_JWT_RS256 ? verify_rs256(cfg, input, input_len, sig, sig_len)
                                    : verify_es256(cfg, input, input_len, sig, sig_len);
  ERR_clear_error(); /* a failed verification leaves entries on this thread's queue */
  if (!ok) {
    say(why, why_len, "token signature does not verify");
    return AUTH_ERR_BAD_TOKEN;
  }
  return AUTH_OK;
}

static auth_status check_times(const auth_jwt_config *cfg, const json_doc *doc, int64_t now_s,
                               char *why, size_t why_len) {
  int64_t exp, nbf, limit;
  int has = claim_int(doc, "exp", &exp);
  if (has <= 0) {
    say(why, why_len, has == 0 ? "token has no \"exp\" claim" : "token \"exp\" is not an integer");
    return AUTH_ERR_BAD_TOKEN;
  }
  if (__builtin_add_overflow(exp, cfg->leeway_s, &limit)) limit = INT64_MAX;
  if (now_s >= limit) {
    say(why, why_len, "token expired at %" PRId64 " (now %" PRId64 ")", exp, now_s);
    return AUTH_ERR_EXPIRED;
  }
  has = claim_int(doc, "nbf", &nbf);
  if (has < 0) {
    say(why, why_len, "token \"nbf\" is not an integer");
    return AUTH_ERR_BAD_TOKEN;
  }
  if (__builtin_sub_overflow(nbf, cfg->leeway_s, &limit)) limit = INT64_MIN;
  if (has > 0 && now_s < limit) {
    say(why, why_len, "token not valid before %" PRId64 " (now %" PRId64 ")", nbf, now_s);
    return AUTH_ERR_EXPIRED;
  }
  return AUTH_OK;
}

static auth_status check_claims(const auth_jwt_config *cfg, const char *part, size_t len,
                                int64_t now_s, uint64_t *uid, char *why, size_t why_len) {
  uint8_t buf[JWT_PAYLOAD_MAX];
  json_token tokens[JWT_CLAIM_TOKENS];
  json_doc doc;
  static const char *const read_keys[] = {"exp", "nbf", "iss", "aud", "uid", "sub"};
  if (!decode_object(part, len, buf, sizeof buf, tokens, JWT_CLAIM_TOKENS, &doc)) {
    say(why, why_len, "malformed token: the payload is not base64url of a JSON object");
    return AUTH_ERR_BAD_TOKEN;
  }
  if (any_duplicate(&doc, 0, read_keys, sizeof read_keys / sizeof read_keys[0])) {
    say(why, why_len, "malformed token: duplicate claim");
    return AUTH_ERR_BAD_TOKEN;
  }
  auth_status st = check_times(cfg, &doc, now_s, why, why_len);
  if (st != AUTH_OK) return st;
  uint32_t v = json_object_get(&doc, 0, "iss", 3);
  if (cfg->issuer[0] && (v == JSON_NONE || !string_claim_is(&doc, v, cfg->issuer))) {
    say(why, why_len, "token issuer (iss) is not the one this server trusts");
    return AUTH_ERR_BAD_TOKEN;
  }
  v = json_object_get(&doc, 0, "aud", 3);
  if (cfg->audience[0] && (v == JSON_NONE || !audience_matches(&doc, v, cfg->audience))) {
    say(why, why_len, "token audience (aud) does not include this server");
    return AUTH_ERR_BAD_TOKEN;
  }
  v = json_object_get(&doc, 0, "uid", 3);
  bool from_uid = v != JSON_NONE;
  if (!from_uid) v = json_object_get(&doc, 0, "sub", 3);
  if (v == JSON_NONE || !uid_from_claim(&doc, v, uid)) {
    say(why, why_len,
        from_uid ? "token \"uid\" is not a positive integer"
                 : "token has no user id: a \"uid\" claim or a numeric \"sub\" is required");
    return AUTH_ERR_BAD_TOKEN;
  }
  return AUTH_OK;
}

/* Skips an optional "Bearer " prefix (any case, one or more spaces). */
static const char *strip_bearer(const char *token, size_t *len) {
  if (*len > 7 && strncasecmp(token, "bearer", 6) == 0 && token[6] == ' ') {
    token += 7, *len -= 7;
    while (*len > 0 && token[0] == ' ') token++, (*len)--;
  }
  return token;
}

auth_status auth_jwt_verify(const auth_jwt_config *cfg, const char *token, size_t len,
                            int64_t now_s, uint64_t *uid, char *why, size_t why_len) {
  if (why && why_len) why[0] = '\0';
  token = strip_bearer(token, &len);
  if (!auth_jwt_enabled(cfg)) {
    say(why, why_len, "JWT login is not enabled on this server");
    return AUTH_ERR_BAD_TOKEN;
  }
  if (len == 0 || len > AUTH_JWT_MAX_TOKEN) {
    say(why, why_len, "malformed token: empty or longer than %d bytes", AUTH_JWT_MAX_TOKEN);
    return AUTH_ERR_BAD_TOKEN;
  }
  const char *dot1 = memchr(token, '.', len);
  const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
  const char *end = token + len;
  if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) {
    say(why, why_len, "malformed token: expected three dot-separated parts (a signed JWS)");
    return AUTH_ERR_BAD_TOKEN;
  }
  unsigned alg;
  auth_status st = check_header(cfg, token, (size_t)(dot1 - token), &alg, why, why_len);
  if (st == AUTH_OK)
    st = check_signature(cfg, alg, token, (size_t)(dot2 - token), dot2 + 1,
                         (size_t)(end - dot2 - 1), why, why_len);
  if (st == AUTH_OK)
    st = check_claims(cfg, dot1 + 1, (size_t)(dot2 - dot1 - 1), now_s, uid, why, why_len);
  return st;
}
