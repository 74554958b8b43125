/*
 * auth.h: who a client is. JWT verification (HS256, RS256, ES256), TOTP
 * one-time passwords (RFC 6238) and API keys kept in their own LMDB
 * environment, with the login signature of the native protocol.
 *
 * Every cryptographic primitive comes from OpenSSL (libcrypto): HMAC, SHA,
 * RSA and ECDSA verification, random bytes, base64, constant-time compare.
 * What is written here is the glue: token splitting, claim checks, record
 * layout, IP allow-lists.
 *
 * Status codes: every function that can fail returns an auth_status. The
 * values that match a native-protocol error code (shared/spec/PROTOCOL.md)
 * are that code, so a caller may send them as they are; AUTH_ERR_NOT_FOUND is
 * the proposed code 3005 (docs/AUTH.md) and AUTH_ERR_INTERNAL is in the 9xxx
 * range. Functions that take `why`/`why_len` write one line a person can act
 * on there (always NUL-terminated when why_len > 0; why may be NULL). No
 * message ever contains a secret, a token or a signature.
 *
 * Threads: the JWT, TOTP, base32/base64url and IP functions are pure and
 * thread-safe (an auth_jwt_config is immutable after init and may be shared
 * by every io thread). The API-key store is shared by all threads; each
 * thread that reads it has its own auth_apikey_reader (see below).
 */
#ifndef BOURSE_AUTH_H
#define BOURSE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evp_pkey_st; /* OpenSSL's EVP_PKEY */
struct sockaddr;

typedef enum auth_status {
  AUTH_OK = 0,
  AUTH_ERR_INVALID = 1003,       /* an argument is malformed or out of range (protocol 1003) */
  AUTH_ERR_BAD_TOKEN = 3001,     /* JWT malformed, bad signature, alg not allowed, bad claims */
  AUTH_ERR_EXPIRED = 3002,       /* JWT past exp, or before nbf (leeway applied) */
  AUTH_ERR_BAD_SIGNATURE = 3003, /* API key unknown, signature wrong, ts outside the window */
  AUTH_ERR_PERMISSION = 3004,    /* IP not allowed, wrong one-time password */
  AUTH_ERR_NOT_FOUND = 3005,     /* no such API key for this user (or no TOTP to clear) */
  AUTH_ERR_INTERNAL = 9001,      /* the store failed (disk, map full); see why */
} auth_status;

/* ======================================================================== */
/* Encodings                                                                */

/*
 * Decodes unpadded base64url (RFC 4648 §5, as JWS uses it) from in[0..len)
 * into out[0..cap) and stores the byte count in *out_len. Rejects '='
 * padding, any character outside A-Z a-z 0-9 - _, a length of 4k+1, and
 * non-canonical encodings (unused trailing bits set), so each byte string has
 * exactly one accepted encoding. Returns 0, or -1 (bad input or cap too
 * small; out is then unspecified).
 */
int auth_base64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/*
 * Encodes in[0..len) as unpadded base64url into out[0..cap), NUL-terminated.
 * Returns the length written (without the NUL), or -1 when cap is too small
 * (needs 4 * ceil(len / 3) + 1 bytes at most).
 */
int auth_base64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/*
 * Encodes in[0..len) in RFC 4648 base32 (A-Z 2-7, upper case, no padding),
 * the form authenticator apps show and accept, into out[0..cap),
 * NUL-terminated. Returns the length, or -1 when cap is too small (needs
 * ceil(len * 8 / 5) + 1).
 */
int auth_base32_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/*
 * Decodes base32 as people type it: case-insensitive, spaces and '-' between
 * groups ignored, trailing '=' padding optional. Rejects other characters and
 * impossible lengths (1, 3 or 6 characters in the last group of 8); unused
 * trailing bits are ignored. Returns 0 with *out_len set, or -1.
 */
int auth_base32_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* ======================================================================== */
/* JWT                                                                      */

#define AUTH_JWT_HS256 (1u << 0)
#define AUTH_JWT_RS256 (1u << 1)
#define AUTH_JWT_ES256 (1u << 2)

#define AUTH_JWT_MAX_TOKEN    8192 /* bytes, after an optional "Bearer " prefix */
#define AUTH_JWT_SECRET_MIN   32   /* RFC 7518 §3.2: an HS256 key at least as long as the hash */
#define AUTH_JWT_SECRET_MAX   255
#define AUTH_JWT_CLAIM_MAX    255 /* longest iss / aud configured */
#define AUTH_JWT_MAX_LEEWAY   3600
#define AUTH_JWT_RSA_MIN_BITS 2048

/*
 * Verification settings: immutable after auth_jwt_config_init, shared by
 * every thread that verifies. Fields are read-only for callers.
 */
typedef struct auth_jwt_config {
  unsigned algs; /* effective allow-list: AUTH_JWT_* bits that have a usable key */
  uint8_t secret[AUTH_JWT_SECRET_MAX];
  size_t secret_len;                     /* 0: no HS256 */
  struct evp_pkey_st *public_key;        /* RSA (RS256) or EC P-256 (ES256) public key, or NULL */
  int64_t leeway_s;                      /* clock skew tolerated on exp and nbf */
  char issuer[AUTH_JWT_CLAIM_MAX + 1];   /* "" = iss not checked */
  char audience[AUTH_JWT_CLAIM_MAX + 1]; /* "" = aud not checked */
} auth_jwt_config;

/*
 * Parses an allow-list "HS256,RS256" (case-insensitive names, spaces around
 * commas allowed, empty = none) into AUTH_JWT_* bits. "none" is refused, as
 * is any name other than HS256, RS256, ES256. Returns 0, or -1 with the
 * reason in err.
 */
int auth_jwt_algs_parse(const char *list, unsigned *mask, char *err, size_t err_len);

/* config key check: NULL when auth_jwt_algs_parse accepts `list`, else a static reason. */
const char *auth_jwt_algs_check(const char *list);

/* config key check: NULL when `secret` is empty or AUTH_JWT_SECRET_MIN..MAX bytes. */
const char *auth_jwt_secret_check(const char *secret);

/*
 * Builds a verification config at start.
 *   secret          HS256 key (the bytes of the string); "" or NULL disables HS256
 *                   even when listed (the default configuration: no JWT at all).
 *   public_key_path PEM file holding a SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"):
 *                   RSA of at least 2048 bits for RS256, EC P-256 for ES256;
 *                   "" or NULL = none.
 *   algs            allow-list as in auth_jwt_algs_parse.
 *   issuer/audience required iss / aud values; "" or NULL = not checked.
 * Refuses, with a reason naming the setting: a bad list; a secret shorter
 * than AUTH_JWT_SECRET_MIN; RS256 or ES256 listed without a public key, or
 * with a key of the other type; both RS256 and ES256 listed (one key cannot
 * serve both); a public key given while neither RS256 nor ES256 is listed; an
 * unreadable or invalid PEM file; leeway above AUTH_JWT_MAX_LEEWAY. Returns 0
 * (free with auth_jwt_config_free) or -1 with nothing to free.
 */
int auth_jwt_config_init(auth_jwt_config *cfg, const char *secret, const char *public_key_path,
                         const char *algs, unsigned leeway_s, const char *issuer,
                         const char *audience, char *err, size_t err_len);

/* Releases the public key and wipes the secret. Safe on a zeroed struct. */
void auth_jwt_config_free(auth_jwt_config *cfg);

/* Whether any algorithm is usable: false means every token is refused. */
bool auth_jwt_enabled(const auth_jwt_config *cfg);

/*
 * Verifies a compact JWS token[0..len), optionally prefixed "Bearer "
 * (case-insensitive, as in an Authorization header), at time now_s (seconds
 * since the epoch). On success stores the user id and returns AUTH_OK.
 *
 * AUTH_ERR_BAD_TOKEN: not three base64url parts; header or payload not a JSON
 * object; a duplicated alg/crit or claim that is read; a "crit" header;
 * alg "none" (always) or an alg not in cfg->algs; a signature that does not
 * verify. HS256 is checked only with the secret, RS256 only with an RSA key,
 * ES256 only with an EC P-256 key (64-byte r||s signature): a token can never
 * choose which key checks it. Then the claims: exp missing or not an integer;
 * nbf present but not an integer; iss or aud configured and not matching
 * (aud may be a string or an array of strings); no user id. The user id is
 * claim "uid" when present, else claim "sub"; either must be a positive
 * integer or a string of decimal digits without leading zeros, in
 * 1..9223372036854775807 (a present but unusable "uid" is an error, never a
 * fall-back to "sub").
 * AUTH_ERR_EXPIRED: now_s >= exp + leeway, or now_s < nbf - leeway; the
 * signature has verified by then.
 *
 * The signature is checked before any claim is read. Allocates nothing
 * itself (OpenSSL's EVP calls allocate their contexts); uses about 16 KB of
 * stack.
 */
auth_status auth_jwt_verify(const auth_jwt_config *cfg, const char *token, size_t len,
                            int64_t now_s, uint64_t *uid, char *why, size_t why_len);

/* ======================================================================== */
/* TOTP (RFC 6238: HMAC-SHA1, 30-second steps)                              */

#define AUTH_TOTP_STEP_S      30
#define AUTH_TOTP_DIGITS      6  /* what the store's TOTP check requires */
#define AUTH_TOTP_SECRET_MIN  16 /* RFC 4226 §4: at least 128 bits */
#define AUTH_TOTP_SECRET_MAX  64
#define AUTH_TOTP_SECRET_SIZE 20 /* what auth_totp_generate_secret callers should use */

/*
 * The code for time_s (seconds since the epoch, >= 0) with `digits` digits
 * (6..8): counter floor(time_s / 30), HMAC-SHA1, dynamic truncation, modulo
 * 10^digits. Returns the code (print it zero-padded to `digits`), or -1 for a
 * negative time, bad digits or an empty secret.
 */
int64_t auth_totp_code(const uint8_t *secret, size_t secret_len, int64_t time_s, unsigned digits);

/*
 * Whether code[0..code_len) (6..8 decimal digits; the length sets the digit
 * count) is the code of the step of time_s or of the step just before or
 * after it (RFC 6238 §5.2: one step of clock drift either way). All three
 * candidates are compared in constant time. A code can be used again within
 * its window: the caller that needs single use must remember it.
 */
bool auth_totp_verify(const uint8_t *secret, size_t secret_len, int64_t time_s, const char *code,
                      size_t code_len);

/* Fills out[0..len) with random bytes from OpenSSL (RAND_bytes). Returns 0 or -1. */
int auth_totp_generate_secret(uint8_t *out, size_t len);

/* ======================================================================== */
/* IP addresses and allow-list rules                                        */

#define AUTH_IP_TEXT_MAX 64 /* any address, "/128" and the NUL fit */

/* A peer address. IPv4-mapped IPv6 (::ffff:a.b.c.d) is stored as IPv4. */
typedef struct auth_ip {
  uint8_t family;   /* 4 or 6 */
  uint8_t addr[16]; /* network order; IPv4 uses the first 4 bytes */
} auth_ip;

/* One allow-list entry: an address and a prefix length (32 / 128 = one host). */
typedef struct auth_ip_rule {
  uint8_t family; /* 4 or 6 */
  uint8_t prefix; /* 0..32 or 0..128 */
  uint8_t addr[16];
} auth_ip_rule;

/* Reads an AF_INET or AF_INET6 socket address. Returns 0, or -1 for another family. */
int auth_ip_from_sockaddr(const struct sockaddr *sa, auth_ip *out);

/* Parses a numeric address ("192.0.2.7", "2001:db8::1"). Returns 0 or -1. */
int auth_ip_parse(const char *s, size_t len, auth_ip *out);

/*
 * Parses "ADDR" or "ADDR/PREFIX" ("10.0.0.0/8", "2001:db8::/32"). Refuses a
 * prefix out of range and host bits set beyond the prefix ("10.0.0.1/8": the
 * reason suggests 10.0.0.0/8). An IPv4-mapped IPv6 rule becomes the IPv4
 * rule. Returns AUTH_OK or AUTH_ERR_INVALID with why.
 */
auth_status auth_ip_rule_parse(const char *s, size_t len, auth_ip_rule *out, char *why,
                               size_t why_len);

/* Writes the canonical text ("10.0.0.0/8", a single host without "/32") into out. */
void auth_ip_rule_format(const auth_ip_rule *rule, char out[AUTH_IP_TEXT_MAX]);

/* Whether `ip` lies inside `rule` (different families never match). */
bool auth_ip_rule_match(const auth_ip_rule *rule, const auth_ip *ip);

/* ======================================================================== */
/* API keys                                                                 */
/*
 * The store is an LMDB environment of its own (e.g. data_dir/auth/): key id
 * -> record, (uid, key id) -> nothing (the per-user index), uid -> TOTP
 * secret. Records hold the key's secret in the clear, because the server
 * must compute the same HMAC as the client: the data file (created 0600 in
 * a 0700 directory) must be protected like a password file, and backups of
 * it too.
 *
 * Key id: 32 lower-case hex characters (16 random bytes). Secret: 64
 * lower-case hex characters (32 random bytes), shown to the user once at
 * creation; the HMAC key is that 64-character string itself, as the user
 * received it (not the bytes it encodes).
 *
 * Threads. Writes (create, update, delete, TOTP set/clear) may come from any
 * thread; each is one LMDB write transaction, serialised by LMDB's writer
 * lock (key management is rare). Reads go through an auth_apikey_reader:
 * each reading thread opens one at start and keeps it. A reader holds one
 * LMDB read transaction (MDB_NOTLS) that is renewed for each lookup and reset
 * right after, so a lookup takes no lock and allocates nothing, and an idle
 * reader pins no old pages. bench/auth_bench.c measured this against a read
 * transaction begun and aborted per lookup (which takes LMDB's reader-table
 * mutex and mallocs each time): see docs/BENCHMARKS.md. A reader must be
 * used by one thread at a time.
 */

#define AUTH_PERM_READ     (1u << 0)
#define AUTH_PERM_TRADE    (1u << 1)
#define AUTH_PERM_WITHDRAW (1u << 2)
#define AUTH_PERM_ALL      (AUTH_PERM_READ | AUTH_PERM_TRADE | AUTH_PERM_WITHDRAW)

#define AUTH_APIKEY_ID_LEN         32 /* hex characters */
#define AUTH_APIKEY_SECRET_HEX_LEN 64 /* hex characters */
#define AUTH_APIKEY_MAX_IPS        8
#define AUTH_APIKEY_LABEL_MAX      64 /* bytes */
#define AUTH_APIKEY_MAX_PER_UID    32
#define AUTH_APIKEY_TS_MAX_LEN     19 /* digits of a ts_ms */

/* The bit of a permission name ("read", "trade", "withdraw"), or 0 when unknown. */
uint32_t auth_perm_from_name(const char *name, size_t len);

/* The name of one permission bit, or NULL when `bit` is not exactly one known bit. */
const char *auth_perm_name(uint32_t bit);

/* What the store knows about a key, without its secret. */
typedef struct auth_apikey_info {
  char key_id[AUTH_APIKEY_ID_LEN + 1];
  uint64_t uid;
  uint32_t permissions; /* AUTH_PERM_* bits, at least one */
  uint32_t ip_count;    /* 0 = any address */
  auth_ip_rule ips[AUTH_APIKEY_MAX_IPS];
  char label[AUTH_APIKEY_LABEL_MAX + 1]; /* NUL-terminated, no control characters */
  int64_t created_ms;
} auth_apikey_info;

/* Fields auth_apikey_update changes. */
#define AUTH_APIKEY_SET_PERMISSIONS (1u << 0)
#define AUTH_APIKEY_SET_IPS         (1u << 1)
#define AUTH_APIKEY_SET_LABEL       (1u << 2)

typedef struct auth_apikey_store auth_apikey_store;
typedef struct auth_apikey_reader auth_apikey_reader;

/*
 * Opens (creating when missing) the store in directory `dir`: missing
 * directories are created 0700, the LMDB files 0600. map_size is the most
 * the data file may grow to (0 = 64 MiB, about 200k keys). Clears reader
 * slots left by dead processes. Returns AUTH_OK with *out set, or
 * AUTH_ERR_INTERNAL with why. Call on one thread, before readers open; open a
 * directory at most once per process (an LMDB rule: share the store instead).
 */
auth_status auth_apikey_store_open(auth_apikey_store **out, const char *dir, size_t map_size,
                                   char *why, size_t why_len);

/* Closes the store. Every reader must be closed first. NULL is a no-op. */
void auth_apikey_store_close(auth_apikey_store *store);

/*
 * Opens a reader for the calling thread (allocates; do it at thread start).
 * Returns AUTH_OK or AUTH_ERR_INTERNAL (e.g. more than 256 readers).
 */
auth_status auth_apikey_reader_open(auth_apikey_store *store, auth_apikey_reader **out, char *why,
                                    size_t why_len);

/* Closes a reader. NULL is a no-op. */
void auth_apikey_reader_close(auth_apikey_reader *reader);

/*
 * Creates a key for key->uid (> 0) with key->permissions (a non-empty subset
 * of AUTH_PERM_ALL), key->ips[0..ip_count) (at most AUTH_APIKEY_MAX_IPS
 * rules from auth_ip_rule_parse), key->label and key->created_ms, all set by
 * the caller. Fills key->key_id with a fresh random id and writes the secret
 * (64 hex characters, NUL-terminated) into secret_hex: the only time it is
 * ever shown. AUTH_ERR_INVALID for a bad field or when the user already has
 * AUTH_APIKEY_MAX_PER_UID keys; AUTH_ERR_INTERNAL when the store fails.
 */
auth_status auth_apikey_create(auth_apikey_store *store, auth_apikey_info *key,
                               char secret_hex[AUTH_APIKEY_SECRET_HEX_LEN + 1], char *why,
                               size_t why_len);

/*
 * Changes the fields named in `fields` (AUTH_APIKEY_SET_*) of key
 * key_id[0..len) to those of `values` (validated as in create), when the key
 * belongs to `uid`. On success fills *updated (may be NULL) with the new
 * record. AUTH_ERR_NOT_FOUND when there is no such key or it belongs to
 * another user (the two are not told apart); AUTH_ERR_INVALID for a bad value
 * or an empty `fields`.
 */
auth_status auth_apikey_update(auth_apikey_store *store, uint64_t uid, const char *key_id,
                               size_t len, unsigned fields, const auth_apikey_info *values,
                               auth_apikey_info *updated, char *why, size_t why_len);

/* Deletes key key_id[0..len) of `uid`. AUTH_ERR_NOT_FOUND as in update. */
auth_status auth_apikey_delete(auth_apikey_store *store, uint64_t uid, const char *key_id,
                               size_t len, char *why, size_t why_len);

/*
 * Looks up key key_id[0..len) (hex, either case). Fills *info and, when
 * secret_hex is not NULL, the HMAC key (64 hex characters + NUL), for a
 * dialect that signs something other than the login message. Never log the
 * secret. AUTH_ERR_NOT_FOUND when unknown.
 */
auth_status auth_apikey_get(auth_apikey_reader *reader, const char *key_id, size_t len,
                            auth_apikey_info *info,
                            char secret_hex[AUTH_APIKEY_SECRET_HEX_LEN + 1]);

/*
 * The keys of `uid`, oldest first: writes up to `cap` records into out and
 * the number the user has into *count (which may exceed cap). Never returns
 * secrets. AUTH_OK (also with none) or AUTH_ERR_INTERNAL.
 */
auth_status auth_apikey_list(auth_apikey_reader *reader, uint64_t uid, auth_apikey_info *out,
                             size_t cap, size_t *count);

/*
 * The login of the native `auth` op with `key`, `ts`, `sig`:
 *   sig == hex(HMAC-SHA256(secret, key + ts))
 * where key and ts are the bytes the client sent (ts is the decimal string of
 * its ts_ms, e.g. "1700000000000", signed byte for byte) and sig is hex in
 * either case. Checks, in order: ts is 1..19 digits and within
 * recv_window_ms of now_ms on either side, the key exists, the signature
 * matches (constant time), then the peer address is in the key's allow-list
 * (when it has one; peer may be NULL only for keys without one). On AUTH_OK
 * stores the key's uid and permissions.
 * AUTH_ERR_BAD_SIGNATURE: bad ts, stale ts, unknown key or wrong signature
 * (why says which, never the expected value). AUTH_ERR_PERMISSION: the
 * address is not allowed. AUTH_ERR_INTERNAL: the store failed. Allocates
 * nothing itself (OpenSSL's HMAC allocates its context).
 */
auth_status auth_apikey_login(auth_apikey_reader *reader, const char *key, size_t key_len,
                              const char *ts, size_t ts_len, const char *sig_hex, size_t sig_len,
                              int64_t now_ms, int64_t recv_window_ms, const auth_ip *peer,
                              uint64_t *uid, uint32_t *permissions, char *why, size_t why_len);

/*
 * Whether sig_hex[0..sig_len) is hex (either case) of HMAC-SHA256(key, msg),
 * compared in constant time. The primitive behind auth_apikey_login, for
 * dialects that sign other messages (Binance signs the query string).
 */
bool auth_hmac_sha256_hex_verify(const void *key, size_t key_len, const void *msg, size_t msg_len,
                                 const char *sig_hex, size_t sig_len);

/*
 * Enables TOTP for `uid` with secret[0..len) (AUTH_TOTP_SECRET_MIN..MAX
 * bytes), replacing any previous one. Once set, key management for that user
 * needs a code (auth_apikey_totp_check). Confirm the user can produce a code
 * (auth_totp_verify) before calling this. AUTH_ERR_INVALID for a bad length.
 */
auth_status auth_apikey_totp_set(auth_apikey_store *store, uint64_t uid, const uint8_t *secret,
                                 size_t len, char *why, size_t why_len);

/* Disables TOTP for `uid`. AUTH_ERR_NOT_FOUND when it was not enabled. */
auth_status auth_apikey_totp_clear(auth_apikey_store *store, uint64_t uid, char *why,
                                   size_t why_len);

/*
 * Whether `uid` has TOTP: AUTH_OK with the secret in out[0..*len) (out has
 * AUTH_TOTP_SECRET_MAX bytes; may be NULL to only ask), AUTH_ERR_NOT_FOUND,
 * or AUTH_ERR_INTERNAL.
 */
auth_status auth_apikey_totp_get(auth_apikey_reader *reader, uint64_t uid, uint8_t *out,
                                 size_t *len);

/*
 * The gate of key management: AUTH_OK when `uid` has no TOTP, or when
 * otp[0..otp_len) is a valid AUTH_TOTP_DIGITS-digit code at now_s (±1 step).
 * AUTH_ERR_INVALID when the user has TOTP and otp is empty or NULL (why:
 * "otp required"); AUTH_ERR_PERMISSION when the code is wrong.
 */
auth_status auth_apikey_totp_check(auth_apikey_reader *reader, uint64_t uid, const char *otp,
                                   size_t otp_len, int64_t now_s, char *why, size_t why_len);

#endif
