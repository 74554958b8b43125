/*
 * apikey.c: the API-key store (an LMDB environment of its own), the login
 * signature of the native protocol, and per-user TOTP secrets. See
 * include/bourse/auth.h for the contract.
 *
 * Threads: write functions may run on any thread (LMDB serialises write
 * transactions with its own writer lock); read functions run on the thread
 * that owns the auth_apikey_reader they are given (io threads, the admin
 * thread). A reader keeps one MDB_NOTLS read transaction and one cursor,
 * renewed for each lookup and reset after it, so a lookup takes no lock,
 * allocates nothing and pins no snapshot between lookups.
 *
 * Tables (named databases):
 *   keys    16-byte key id                 -> record (below)
 *   by_uid  uid (8 bytes BE) + 16-byte id  -> empty   (lists a user's keys in id order)
 *   totp    uid (8 bytes BE)               -> TOTP secret bytes
 *
 * Record, version 1, 264 bytes, integers little-endian:
 *   0 version  1 ip_count  2 label_len  3 zero  4 permissions(4)  8 uid(8)
 *   16 created_ms(8)  24 secret(32)  56 ips: 8 x (family, prefix, addr[16])
 *   200 label(64)
 *
 * Hex is encoded and decoded here by hand: lower case for display, both cases
 * on input, and no NUL-terminated copies, which OpenSSL's
 * OPENSSL_buf2hexstr_ex / OPENSSL_hexstr2buf_ex would need. Every
 * cryptographic step (random bytes, HMAC, constant-time compare) is OpenSSL.
 */
#include "bourse/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ID_BYTES         16
#define SECRET_BYTES     32
#define RECORD_VERSION   1
#define RECORD_SIZE      264
#define RECORD_IPS       56
#define RECORD_LABEL     200
#define UID_KEY_BYTES    (8 + ID_BYTES)
#define DEFAULT_MAP_SIZE ((size_t)64 << 20)
#define MAX_READERS      256

struct auth_apikey_store {
  MDB_env *env;
  MDB_dbi keys, by_uid, totp;
};

struct auth_apikey_reader {
  auth_apikey_store *store;
  MDB_txn *txn;       /* reset between lookups */
  MDB_cursor *by_uid; /* renewed with txn */
};

static void say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...) {
  if (!why || why_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_len, fmt, ap);
  va_end(ap);
}

static auth_status fail(auth_status st, char *why, size_t why_len, const char *msg) {
  say(why, why_len, "%s", msg);
  return st;
}

/* What read_record and friends return for a record this code did not write. */
#define RECORD_CORRUPT (-1)

static auth_status store_fail(int rc, const char *what, char *why, size_t why_len) {
  say(why, why_len, "API key store: %s: %s", what,
      rc == RECORD_CORRUPT ? "corrupt record" : mdb_strerror(rc));
  return AUTH_ERR_INTERNAL;
}

/* ------------------------------------------------------------------------ */
/* Hex and byte layout                                                      */

static void hex_encode(const uint8_t *in, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes exactly 2 * len hex characters (either case). */
static bool hex_decode(const char *in, size_t in_len, uint8_t *out, size_t len) {
  if (in_len != 2 * len) return false;
  for (size_t i = 0; i < len; i++) {
    int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_le(const uint8_t *p, unsigned bytes) {
  uint64_t v = 0;
  for (unsigned i = bytes; i-- > 0;) v = v << 8 | p[i];
  return v;
}

static void uid_be(uint64_t uid, uint8_t out[8]) {
  for (int i = 7; i >= 0; i--, uid >>= 8) out[i] = (uint8_t)uid;
}

static void uid_key(uint64_t uid, const uint8_t id[ID_BYTES], uint8_t out[UID_KEY_BYTES]) {
  uid_be(uid, out);
  memcpy(out + 8, id, ID_BYTES);
}

static void record_encode(const auth_apikey_info *info, const uint8_t secret[SECRET_BYTES],
                          uint8_t out[RECORD_SIZE]) {
  memset(out, 0, RECORD_SIZE);
  size_t label_len = strlen(info->label);
  out[0] = RECORD_VERSION;
  out[1] = (uint8_t)info->ip_count;
  out[2] = (uint8_t)label_len;
  put_le(out + 4, info->permissions, 4);
  put_le(out + 8, info->uid, 8);
  put_le(out + 16, (uint64_t)info->created_ms, 8);
  memcpy(out + 24, secret, SECRET_BYTES);
  for (uint32_t i = 0; i < info->ip_count; i++) {
    uint8_t *p = out + RECORD_IPS + 18 * i;
    p[0] = info->ips[i].family;
    p[1] = info->ips[i].prefix;
    memcpy(p + 2, info->ips[i].addr, 16);
  }
  memcpy(out + RECORD_LABEL, info->label, label_len);
}

/* Copies a stored record out of the map; false when it is not one we wrote. */
static bool record_decode(const uint8_t id[ID_BYTES], const MDB_val *v, auth_apikey_info *info,
                          uint8_t secret[SECRET_BYTES]) {
  const uint8_t *p = v->mv_data;
  if (v->mv_size != RECORD_SIZE || p[0] != RECORD_VERSION || p[1] > AUTH_APIKEY_MAX_IPS ||
      p[2] > AUTH_APIKEY_LABEL_MAX)
    return false;
  memset(info, 0, sizeof *info);
  hex_encode(id, ID_BYTES, info->key_id);
  info->ip_count = p[1];
  info->permissions = (uint32_t)get_le(p + 4, 4);
  info->uid = get_le(p + 8, 8);
  info->created_ms = (int64_t)get_le(p + 16, 8);
  if (secret) memcpy(secret, p + 24, SECRET_BYTES);
  for (uint32_t i = 0; i < info->ip_count; i++) {
    const uint8_t *q = p + RECORD_IPS + 18 * i;
    info->ips[i].family = q[0];
    info->ips[i].prefix = q[1];
    memcpy(info->ips[i].addr, q + 2, 16);
  }
  memcpy(info->label, p + RECORD_LABEL, p[2]);
  return true;
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */

uint32_t auth_perm_from_name(const char *name, size_t len) {
  static const struct {
    const char *name;
    uint32_t bit;
  } perms[] = {
      {"read", AUTH_PERM_READ}, {"trade", AUTH_PERM_TRADE}, {"withdraw", AUTH_PERM_WITHDRAW}};
  for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++)
    if (strlen(perms[i].name) == len && memcmp(perms[i].name, name, len) == 0) return perms[i].bit;
  return 0;
}

const char *auth_perm_name(uint32_t bit) {
  switch (bit) {
  case AUTH_PERM_READ:
    return "read";
  case AUTH_PERM_TRADE:
    return "trade";
  case AUTH_PERM_WITHDRAW:
    return "withdraw";
  default:
    return NULL;
  }
}

static auth_status check_permissions(uint32_t permissions, char *why, size_t why_len) {
  if (permissions == 0 || (permissions & ~AUTH_PERM_ALL))
    return fail(AUTH_ERR_INVALID, why, why_len,
                "permissions must be a non-empty list of read, trade, withdraw");
  return AUTH_OK;
}

static auth_status check_ips(const auth_ip_rule *ips, uint32_t count, char *why, size_t why_len) {
  if (count > AUTH_APIKEY_MAX_IPS) {
    say(why, why_len, "at most %d IP addresses or prefixes per key", AUTH_APIKEY_MAX_IPS);
    return AUTH_ERR_INVALID;
  }
  for (uint32_t i = 0; i < count; i++)
    if (!((ips[i].family == 4 && ips[i].prefix <= 32) ||
          (ips[i].family == 6 && ips[i].prefix <= 128)))
      return fail(AUTH_ERR_INVALID, why, why_len, "bad IP rule (use auth_ip_rule_parse)");
  return AUTH_OK;
}

static auth_status check_label(const char *label, char *why, size_t why_len) {
  size_t len = strnlen(label, AUTH_APIKEY_LABEL_MAX + 1);
  if (len > AUTH_APIKEY_LABEL_MAX) {
    say(why, why_len, "label longer than %d bytes", AUTH_APIKEY_LABEL_MAX);
    return AUTH_ERR_INVALID;
  }
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
      return fail(AUTH_ERR_INVALID, why, why_len, "label contains a control character");
  return AUTH_OK;
}

/* Parses a key id as sent by a client: 32 hex characters, either case. */
static bool parse_key_id(const char *s, size_t len, uint8_t id[ID_BYTES]) {
  return s && hex_decode(s, len, id, ID_BYTES);
}

/* ------------------------------------------------------------------------ */
/* Store and readers                                                        */

/* mkdir -p with mode 0700 for every directory it creates. */
static int make_dirs(const char *dir, char *why, size_t why_len) {
  char path[4096];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof path) {
    say(why, why_len, "API key store: bad directory name");
    return -1;
  }
  memcpy(path, dir, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    char saved = path[i];
    path[i] = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
      say(why, why_len, "API key store: cannot create %s: %s", path, strerror(errno));
      return -1;
    }
    path[i] = saved;
  }
  return 0;
}

static auth_status open_tables(auth_apikey_store *s, char *why, size_t why_len) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc != 0) return store_fail(rc, "begin", why, why_len);
  if ((rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &s->keys)) != 0 ||
      (rc = mdb_dbi_open(txn, "by_uid", MDB_CREATE, &s->by_uid)) != 0 ||
      (rc = mdb_dbi_open(txn, "totp", MDB_CREATE, &s->totp)) != 0) {
    mdb_txn_abort(txn);
    return store_fail(rc, "open tables", why, why_len);
  }
  rc = mdb_txn_commit(txn);
  return rc == 0 ? AUTH_OK : store_fail(rc, "commit", why, why_len);
}

auth_status auth_apikey_store_open(auth_apikey_store **out, const char *dir, size_t map_size,
                                   char *why, size_t why_len) {
  *out = NULL;
  if (make_dirs(dir, why, why_len) != 0) return AUTH_ERR_INTERNAL;
  auth_apikey_store *s = calloc(1, sizeof *s);
  if (!s) return fail(AUTH_ERR_INTERNAL, why, why_len, "API key store: out of memory");
  int rc = mdb_env_create(&s->env);
  if (rc == 0) rc = mdb_env_set_maxdbs(s->env, 3);
  if (rc == 0) rc = mdb_env_set_maxreaders(s->env, MAX_READERS);
  if (rc == 0) rc = mdb_env_set_mapsize(s->env, map_size ? map_size : DEFAULT_MAP_SIZE);
  /* MDB_NOTLS: a read transaction belongs to its auth_apikey_reader, not to a thread. */
  if (rc == 0) rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
  int dead = 0;
  if (rc == 0) rc = mdb_reader_check(s->env, &dead);
  auth_status st = rc == 0 ? open_tables(s, why, why_len) : store_fail(rc, dir, why, why_len);
  if (st != AUTH_OK) {
    if (s->env) mdb_env_close(s->env);
    free(s);
    return st;
  }
  *out = s;
  return AUTH_OK;
}

void auth_apikey_store_close(auth_apikey_store *store) {
  if (!store) return;
  mdb_env_close(store->env);
  free(store);
}

auth_status auth_apikey_reader_open(auth_apikey_store *store, auth_apikey_reader **out, char *why,
                                    size_t why_len) {
  *out = NULL;
  auth_apikey_reader *r = calloc(1, sizeof *r);
  if (!r) return fail(AUTH_ERR_INTERNAL, why, why_len, "API key store: out of memory");
  r->store = store;
  int rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &r->txn);
  if (rc == 0) rc = mdb_cursor_open(r->txn, store->by_uid, &r->by_uid);
  if (rc != 0) {
    if (r->txn) mdb_txn_abort(r->txn);
    free(r);
    return store_fail(rc, "open reader", why, why_len);
  }
  mdb_txn_reset(r->txn);
  *out = r;
  return AUTH_OK;
}

void auth_apikey_reader_close(auth_apikey_reader *reader) {
  if (!reader) return;
  mdb_cursor_close(reader->by_uid);
  mdb_txn_abort(reader->txn);
  free(reader);
}

/* Starts a lookup: takes a fresh snapshot. No lock, no allocation. */
static int reader_begin(auth_apikey_reader *r) {
  int rc = mdb_txn_renew(r->txn);
  if (rc != 0) return rc;
  rc = mdb_cursor_renew(r->txn, r->by_uid);
  if (rc != 0) mdb_txn_reset(r->txn);
  return rc;
}

/* Ends a lookup: releases the snapshot so writers can reuse its pages. */
static void reader_end(auth_apikey_reader *r) {
  mdb_txn_reset(r->txn);
}

/* Reads key `id` in a fresh snapshot: 0, MDB_NOTFOUND, RECORD_CORRUPT or an LMDB error. */
static int read_record(auth_apikey_reader *r, const uint8_t id[ID_BYTES], auth_apikey_info *info,
                       uint8_t secret[SECRET_BYTES]) {
  int rc = reader_begin(r);
  if (rc != 0) return rc;
  MDB_val k = {ID_BYTES, (void *)id}, v;
  rc = mdb_get(r->txn, r->store->keys, &k, &v);
  if (rc == 0 && !record_decode(id, &v, info, secret)) rc = RECORD_CORRUPT;
  reader_end(r);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */

static auth_status write_begin(auth_apikey_store *s, MDB_txn **txn, char *why, size_t why_len) {
  int rc = mdb_txn_begin(s->env, NULL, 0, txn);
  return rc == 0 ? AUTH_OK : store_fail(rc, "begin write", why, why_len);
}

static auth_status write_commit(MDB_txn *txn, char *why, size_t why_len) {
  int rc = mdb_txn_commit(txn);
  return rc == 0 ? AUTH_OK : store_fail(rc, "commit", why, why_len);
}

/* Aborts txn and passes st through. */
static auth_status write_abort(MDB_txn *txn, auth_status st) {
  mdb_txn_abort(txn);
  return st;
}

/* Number of keys `uid` has, in write transaction txn (stops counting at the limit). */
static int count_keys(auth_apikey_store *s, MDB_txn *txn, uint64_t uid, size_t *count) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(txn, s->by_uid, &c);
  if (rc != 0) return rc;
  uint8_t start[UID_KEY_BYTES] = {0};
  uid_be(uid, start);
  MDB_val k = {sizeof start, start}, v;
  *count = 0;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
       rc == 0 && k.mv_size == UID_KEY_BYTES && memcmp(k.mv_data, start, 8) == 0 &&
       *count <= AUTH_APIKEY_MAX_PER_UID;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    (*count)++;
  mdb_cursor_close(c);
  return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

static auth_status check_new_key(const auth_apikey_info *key, char *why, size_t why_len) {
  if (key->uid == 0 || key->uid > INT64_MAX)
    return fail(AUTH_ERR_INVALID, why, why_len, "uid must be in 1..9223372036854775807");
  auth_status st = check_permissions(key->permissions, why, why_len);
  if (st == AUTH_OK) st = check_ips(key->ips, key->ip_count, why, why_len);
  if (st == AUTH_OK) st = check_label(key->label, why, why_len);
  return st;
}

/* Stores a new record under a fresh random id (written into id). */
static auth_status insert_key(auth_apikey_store *s, MDB_txn *txn, const auth_apikey_info *key,
                              const uint8_t secret[SECRET_BYTES], uint8_t id[ID_BYTES], char *why,
                              size_t why_len) {
  uint8_t record[RECORD_SIZE];
  record_encode(key, secret, record);
  int rc = MDB_KEYEXIST;
  /* 128 random bits do not collide in practice; the loop makes it certain. */
  for (int attempt = 0; attempt < 4 && rc == MDB_KEYEXIST; attempt++) {
    if (RAND_bytes(id, ID_BYTES) != 1) {
      OPENSSL_cleanse(record, sizeof record);
      return fail(AUTH_ERR_INTERNAL, why, why_len, "API key store: no random bytes");
    }
    MDB_val k = {ID_BYTES, id}, v = {RECORD_SIZE, record};
    rc = mdb_put(txn, s->keys, &k, &v, MDB_NOOVERWRITE);
  }
  OPENSSL_cleanse(record, sizeof record);
  if (rc != 0) return store_fail(rc, "write key", why, why_len);
  uint8_t index[UID_KEY_BYTES];
  uid_key(key->uid, id, index);
  MDB_val k = {sizeof index, index}, v = {0, NULL};
  rc = mdb_put(txn, s->by_uid, &k, &v, 0);
  return rc == 0 ? AUTH_OK : store_fail(rc, "write index", why, why_len);
}

auth_status auth_apikey_create(auth_apikey_store *store, auth_apikey_info *key,
                               char secret_hex[AUTH_APIKEY_SECRET_HEX_LEN + 1], char *why,
                               size_t why_len) {
  auth_status st = check_new_key(key, why, why_len);
  if (st != AUTH_OK) return st;
  uint8_t secret[SECRET_BYTES], id[ID_BYTES];
  if (RAND_bytes(secret, sizeof secret) != 1)
    return fail(AUTH_ERR_INTERNAL, why, why_len, "API key store: no random bytes");
  MDB_txn *txn;
  if ((st = write_begin(store, &txn, why, why_len)) != AUTH_OK) goto out;
  size_t count;
  int rc = count_keys(store, txn, key->uid, &count);
  if (rc != 0) {
    st = write_abort(txn, store_fail(rc, "count keys", why, why_len));
    goto out;
  }
  if (count >= AUTH_APIKEY_MAX_PER_UID) {
    say(why, why_len, "user %llu already has %d API keys: delete one first",
        (unsigned long long)key->uid, AUTH_APIKEY_MAX_PER_UID);
    st = write_abort(txn, AUTH_ERR_INVALID);
    goto out;
  }
  st = insert_key(store, txn, key, secret, id, why, why_len);
  st = st == AUTH_OK ? write_commit(txn, why, why_len) : write_abort(txn, st);
  if (st == AUTH_OK) {
    hex_encode(id, ID_BYTES, key->key_id);
    hex_encode(secret, SECRET_BYTES, secret_hex);
  }
out:
  OPENSSL_cleanse(secret, sizeof secret);
  return st;
}

/*
 * Reads key_id[0..len) in write transaction txn when it belongs to uid.
 * AUTH_ERR_NOT_FOUND for unknown, malformed or someone else's.
 */
static auth_status owned_record(auth_apikey_store *s, MDB_txn *txn, uint64_t uid,
                                const char *key_id, size_t len, uint8_t id[ID_BYTES],
                                auth_apikey_info *info, uint8_t secret[SECRET_BYTES], char *why,
                                size_t why_len) {
  if (!parse_key_id(key_id, len, id))
    return fail(AUTH_ERR_NOT_FOUND, why, why_len, "no such API key for this user");
  MDB_val k = {ID_BYTES, id}, v;
  int rc = mdb_get(txn, s->keys, &k, &v);
  if (rc == MDB_NOTFOUND)
    return fail(AUTH_ERR_NOT_FOUND, why, why_len, "no such API key for this user");
  if (rc != 0) return store_fail(rc, "read key", why, why_len);
  if (!record_decode(id, &v, info, secret))
    return fail(AUTH_ERR_INTERNAL, why, why_len, "API key store: corrupt record");
  if (info->uid != uid)
    return fail(AUTH_ERR_NOT_FOUND, why, why_len, "no such API key for this user");
  return AUTH_OK;
}

/* Applies the fields of `values` named in `fields` to info, validating them. */
static auth_status apply_change(auth_apikey_info *info, unsigned fields,
                                const auth_apikey_info *values, char *why, size_t why_len) {
  const unsigned known = AUTH_APIKEY_SET_PERMISSIONS | AUTH_APIKEY_SET_IPS | AUTH_APIKEY_SET_LABEL;
  if (fields == 0 || (fields & ~known))
    return fail(AUTH_ERR_INVALID, why, why_len,
                "nothing to update: give permissions, ips or label");
  auth_status st = AUTH_OK;
  if (fields & AUTH_APIKEY_SET_PERMISSIONS) {
    if ((st = check_permissions(values->permissions, why, why_len)) != AUTH_OK) return st;
    info->permissions = values->permissions;
  }
  if (fields & AUTH_APIKEY_SET_IPS) {
    if ((st = check_ips(values->ips, values->ip_count, why, why_len)) != AUTH_OK) return st;
    info->ip_count = values->ip_count;
    memset(info->ips, 0, sizeof info->ips);
    memcpy(info->ips, values->ips, values->ip_count * sizeof values->ips[0]);
  }
  if (fields & AUTH_APIKEY_SET_LABEL) {
    if ((st = check_label(values->label, why, why_len)) != AUTH_OK) return st;
    memcpy(info->label, values->label, sizeof info->label);
  }
  return AUTH_OK;
}

auth_status auth_apikey_update(auth_apikey_store *store, uint64_t uid, const char *key_id,
                               size_t len, unsigned fields, const auth_apikey_info *values,
                               auth_apikey_info *updated, char *why, size_t why_len) {
  MDB_txn *txn;
  auth_status st = write_begin(store, &txn, why, why_len);
  if (st != AUTH_OK) return st;
  uint8_t id[ID_BYTES], secret[SECRET_BYTES], record[RECORD_SIZE];
  auth_apikey_info info;
  st = owned_record(store, txn, uid, key_id, len, id, &info, secret, why, why_len);
  if (st == AUTH_OK) st = apply_change(&info, fields, values, why, why_len);
  if (st == AUTH_OK) {
    record_encode(&info, secret, record);
    MDB_val k = {ID_BYTES, id}, v = {RECORD_SIZE, record};
    int rc = mdb_put(txn, store->keys, &k, &v, 0);
    if (rc != 0) st = store_fail(rc, "write key", why, why_len);
    OPENSSL_cleanse(record, sizeof record);
  }
  OPENSSL_cleanse(secret, sizeof secret);
  st = st == AUTH_OK ? write_commit(txn, why, why_len) : write_abort(txn, st);
  if (st == AUTH_OK && updated) *updated = info;
  return st;
}

auth_status auth_apikey_delete(auth_apikey_store *store, uint64_t uid, const char *key_id,
                               size_t len, char *why, size_t why_len) {
  MDB_txn *txn;
  auth_status st = write_begin(store, &txn, why, why_len);
  if (st != AUTH_OK) return st;
  uint8_t id[ID_BYTES], index[UID_KEY_BYTES];
  auth_apikey_info info;
  st = owned_record(store, txn, uid, key_id, len, id, &info, NULL, why, why_len);
  if (st == AUTH_OK) {
    MDB_val k = {ID_BYTES, id};
    uid_key(uid, id, index);
    MDB_val ik = {sizeof index, index};
    int rc = mdb_del(txn, store->keys, &k, NULL);
    if (rc == 0) rc = mdb_del(txn, store->by_uid, &ik, NULL);
    if (rc != 0) st = store_fail(rc, "delete key", why, why_len);
  }
  return st == AUTH_OK ? write_commit(txn, why, why_len) : write_abort(txn, st);
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */

auth_status auth_apikey_get(auth_apikey_reader *reader, const char *key_id, size_t len,
                            auth_apikey_info *info,
                            char secret_hex[AUTH_APIKEY_SECRET_HEX_LEN + 1]) {
  uint8_t id[ID_BYTES], secret[SECRET_BYTES];
  if (!parse_key_id(key_id, len, id)) return AUTH_ERR_NOT_FOUND;
  int rc = read_record(reader, id, info, secret);
  if (rc == 0 && secret_hex) hex_encode(secret, SECRET_BYTES, secret_hex);
  OPENSSL_cleanse(secret, sizeof secret);
  return rc == 0 ? AUTH_OK : rc == MDB_NOTFOUND ? AUTH_ERR_NOT_FOUND : AUTH_ERR_INTERNAL;
}

auth_status auth_apikey_list(auth_apikey_reader *reader, uint64_t uid, auth_apikey_info *out,
                             size_t cap, size_t *count) {
  *count = 0;
  int rc = reader_begin(reader);
  if (rc != 0) return AUTH_ERR_INTERNAL;
  uint8_t start[UID_KEY_BYTES] = {0};
  uid_be(uid, start);
  MDB_val k = {sizeof start, start}, v;
  size_t n = 0;
  for (rc = mdb_cursor_get(reader->by_uid, &k, &v, MDB_SET_RANGE);
       rc == 0 && k.mv_size == UID_KEY_BYTES && memcmp(k.mv_data, start, 8) == 0;
       rc = mdb_cursor_get(reader->by_uid, &k, &v, MDB_NEXT), n++) {
    if (n >= cap) continue;
    uint8_t id[ID_BYTES];
    memcpy(id, (const uint8_t *)k.mv_data + 8, ID_BYTES);
    MDB_val rk = {ID_BYTES, id}, rv;
    rc = mdb_get(reader->txn, reader->store->keys, &rk, &rv);
    if (rc == MDB_NOTFOUND || (rc == 0 && !record_decode(id, &rv, &out[n], NULL)))
      rc = RECORD_CORRUPT; /* the index and the keys are written in one transaction */
    if (rc != 0) break;
  }
  reader_end(reader);
  /* The index lists ids in random order; show keys oldest first. */
  size_t shown = n < cap ? n : cap;
  for (size_t i = 1; i < shown; i++)
    for (size_t j = i; j > 0 && out[j - 1].created_ms > out[j].created_ms; j--) {
      auth_apikey_info tmp = out[j - 1];
      out[j - 1] = out[j];
      out[j] = tmp;
    }
  *count = n;
  return rc == MDB_NOTFOUND || rc == 0 ? AUTH_OK : AUTH_ERR_INTERNAL;
}

/* ------------------------------------------------------------------------ */
/* Login                                                                    */

bool auth_hmac_sha256_hex_verify(const void *key, size_t key_len, const void *msg, size_t msg_len,
                                 const char *sig_hex, size_t sig_len) {
  uint8_t sig[32];
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!sig_hex || key_len > INT32_MAX || !hex_decode(sig_hex, sig_len, sig, sizeof sig))
    return false;
  if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, mac, &mac_len) || mac_len != 32)
    return false;
  bool ok = CRYPTO_memcmp(mac, sig, 32) == 0;
  OPENSSL_cleanse(mac, sizeof mac);
  return ok;
}

/* A ts_ms as sent: 1..19 decimal digits fitting an int64. */
static bool parse_ts(const char *s, size_t len, int64_t *out) {
  int64_t v = 0;
  if (!s || len == 0 || len > AUTH_APIKEY_TS_MAX_LEN) return false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
      return false;
  }
  *out = v;
  return true;
}

static bool within_window(int64_t ts, int64_t now_ms, int64_t window_ms) {
  int64_t diff;
  if (__builtin_sub_overflow(now_ms, ts, &diff)) return false;
  return diff <= window_ms && diff >= -window_ms;
}

static auth_status check_peer(const auth_apikey_info *info, const auth_ip *peer, char *why,
                              size_t why_len) {
  if (info->ip_count == 0) return AUTH_OK;
  for (uint32_t i = 0; peer && i < info->ip_count; i++)
    if (auth_ip_rule_match(&info->ips[i], peer)) return AUTH_OK;
  return fail(AUTH_ERR_PERMISSION, why, why_len,
              "this API key is not allowed from your IP address (see its IP allow-list)");
}

auth_status auth_apikey_login(auth_apikey_reader *reader, const char *key, size_t key_len,
                              const char *ts, size_t ts_len, const char *sig_hex, size_t sig_len,
                              int64_t now_ms, int64_t recv_window_ms, const auth_ip *peer,
                              uint64_t *uid, uint32_t *permissions, char *why, size_t why_len) {
  int64_t ts_ms;
  if (!parse_ts(ts, ts_len, &ts_ms))
    return fail(AUTH_ERR_BAD_SIGNATURE, why, why_len,
                "ts must be the integer milliseconds since the epoch that was signed");
  if (!within_window(ts_ms, now_ms, recv_window_ms)) {
    say(why, why_len,
        "ts %" PRId64 " is more than %" PRId64 " ms from server time %" PRId64 ": check the clock",
        ts_ms, recv_window_ms, now_ms);
    return AUTH_ERR_BAD_SIGNATURE;
  }
  uint8_t id[ID_BYTES], secret[SECRET_BYTES];
  auth_apikey_info info;
  int rc = parse_key_id(key, key_len, id) ? read_record(reader, id, &info, secret) : MDB_NOTFOUND;
  if (rc == MDB_NOTFOUND) return fail(AUTH_ERR_BAD_SIGNATURE, why, why_len, "unknown API key");
  if (rc != 0) return store_fail(rc, "read key", why, why_len);
  char hmac_key[AUTH_APIKEY_SECRET_HEX_LEN + 1];
  hex_encode(secret, SECRET_BYTES, hmac_key);
  OPENSSL_cleanse(secret, sizeof secret);
  char message[AUTH_APIKEY_ID_LEN + AUTH_APIKEY_TS_MAX_LEN];
  memcpy(message, key, key_len);
  memcpy(message + key_len, ts, ts_len);
  bool ok = auth_hmac_sha256_hex_verify(hmac_key, AUTH_APIKEY_SECRET_HEX_LEN, message,
                                        key_len + ts_len, sig_hex, sig_len);
  OPENSSL_cleanse(hmac_key, sizeof hmac_key);
  if (!ok)
    return fail(AUTH_ERR_BAD_SIGNATURE, why, why_len,
                "signature does not match: sig = hex(HMAC-SHA256(secret, key + ts))");
  auth_status st = check_peer(&info, peer, why, why_len);
  if (st != AUTH_OK) return st;
  *uid = info.uid;
  *permissions = info.permissions;
  return AUTH_OK;
}

/* ------------------------------------------------------------------------ */
/* TOTP secrets                                                             */

auth_status auth_apikey_totp_set(auth_apikey_store *store, uint64_t uid, const uint8_t *secret,
                                 size_t len, char *why, size_t why_len) {
  if (uid == 0 || len < AUTH_TOTP_SECRET_MIN || len > AUTH_TOTP_SECRET_MAX) {
    say(why, why_len, "a TOTP secret has %d..%d bytes and needs a uid", AUTH_TOTP_SECRET_MIN,
        AUTH_TOTP_SECRET_MAX);
    return AUTH_ERR_INVALID;
  }
  MDB_txn *txn;
  auth_status st = write_begin(store, &txn, why, why_len);
  if (st != AUTH_OK) return st;
  uint8_t k_bytes[8];
  uid_be(uid, k_bytes);
  MDB_val k = {sizeof k_bytes, k_bytes}, v = {len, (void *)secret};
  int rc = mdb_put(txn, store->totp, &k, &v, 0);
  if (rc != 0) return write_abort(txn, store_fail(rc, "write TOTP", why, why_len));
  return write_commit(txn, why, why_len);
}

auth_status auth_apikey_totp_clear(auth_apikey_store *store, uint64_t uid, char *why,
                                   size_t why_len) {
  MDB_txn *txn;
  auth_status st = write_begin(store, &txn, why, why_len);
  if (st != AUTH_OK) return st;
  uint8_t k_bytes[8];
  uid_be(uid, k_bytes);
  MDB_val k = {sizeof k_bytes, k_bytes};
  int rc = mdb_del(txn, store->totp, &k, NULL);
  if (rc == MDB_NOTFOUND)
    return write_abort(txn, fail(AUTH_ERR_NOT_FOUND, why, why_len, "TOTP is not enabled"));
  if (rc != 0) return write_abort(txn, store_fail(rc, "delete TOTP", why, why_len));
  return write_commit(txn, why, why_len);
}

auth_status auth_apikey_totp_get(auth_apikey_reader *reader, uint64_t uid, uint8_t *out,
                                 size_t *len) {
  int rc = reader_begin(reader);
  if (rc != 0) return AUTH_ERR_INTERNAL;
  uint8_t k_bytes[8];
  uid_be(uid, k_bytes);
  MDB_val k = {sizeof k_bytes, k_bytes}, v;
  rc = mdb_get(reader->txn, reader->store->totp, &k, &v);
  if (rc == 0 && v.mv_size > AUTH_TOTP_SECRET_MAX) rc = RECORD_CORRUPT;
  if (rc == 0) {
    if (out) memcpy(out, v.mv_data, v.mv_size);
    if (len) *len = v.mv_size;
  }
  reader_end(reader);
  return rc == 0 ? AUTH_OK : rc == MDB_NOTFOUND ? AUTH_ERR_NOT_FOUND : AUTH_ERR_INTERNAL;
}

auth_status auth_apikey_totp_check(auth_apikey_reader *reader, uint64_t uid, const char *otp,
                                   size_t otp_len, int64_t now_s, char *why, size_t why_len) {
  uint8_t secret[AUTH_TOTP_SECRET_MAX];
  size_t len = 0;
  auth_status st = auth_apikey_totp_get(reader, uid, secret, &len);
  if (st == AUTH_ERR_NOT_FOUND) return AUTH_OK;
  if (st != AUTH_OK) return fail(st, why, why_len, "API key store: cannot read TOTP");
  if (!otp || otp_len == 0)
    st = fail(AUTH_ERR_INVALID, why, why_len,
              "otp required: this user has two-factor authentication enabled");
  else if (otp_len != AUTH_TOTP_DIGITS || !auth_totp_verify(secret, len, now_s, otp, otp_len))
    st = fail(AUTH_ERR_PERMISSION, why, why_len, "wrong or expired one-time password (otp)");
  OPENSSL_cleanse(secret, sizeof secret);
  return st;
}
