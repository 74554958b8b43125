/*
 * auth_bench: what authentication costs, and the measurement behind the
 * API-key store's read design.
 *
 * 1. JWT verification (auth_jwt_verify) for HS256, RS256 (2048-bit) and
 *    ES256 tokens; baseline: the bare OpenSSL primitive on the same signing
 *    input (HMAC, EVP_DigestVerify), so the ratio is the share of the work
 *    that is OpenSSL's.
 * 2. LMDB lookups of a 264-byte record among 10000, 1 and 2 threads, in an
 *    MDB_NOTLS environment: a read transaction kept per thread and
 *    renewed/reset per lookup (what auth_apikey_reader does) against one begun
 *    and aborted per lookup (malloc + LMDB's reader-table mutex each time).
 * 3. auth_apikey_login end to end (lookup + HMAC-SHA256 + compare).
 *
 * Usage: auth_bench [runs]   (default 5; every figure is a median of runs)
 */
#include "bourse/auth.h"
#include "bourse/clock.h"

#include <lmdb.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RUNS 31

static int runs = 5;
static char tmp_dir[64];

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *values, int n) {
  qsort(values, (size_t)n, sizeof(double), compare_double);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static void die(const char *what) {
  fprintf(stderr, "auth_bench: %s\n", what);
  exit(1);
}

/* ------------------------------------------------------------------------ */
/* 1. JWT                                                                   */

typedef struct jwt_case {
  const char *name;
  auth_jwt_config cfg;
  char token[2048];
  size_t input_len; /* header.payload */
  uint8_t sig[600]; /* raw signature as OpenSSL wants it (DER for ECDSA) */
  size_t sig_len;
  EVP_PKEY *key;
  int iterations;
} jwt_case;

static const char hs_secret[] = "bench-secret-bench-secret-bench-secret!";

static void build_token(jwt_case *c, const char *alg, EVP_PKEY *key) {
  char header[64], payload[] = "{\"uid\":1001,\"exp\":4000000000,\"iat\":1700000000}";
  snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
  int n = auth_base64url_encode((const uint8_t *)header, strlen(header), c->token, 2048);
  c->token[n++] = '.';
  n += auth_base64url_encode((const uint8_t *)payload, strlen(payload), c->token + n,
                             2048 - (size_t)n);
  c->input_len = (size_t)n;
  uint8_t raw[600];
  size_t raw_len;
  if (!key) {
    unsigned len = 0;
    HMAC(EVP_sha256(), hs_secret, (int)strlen(hs_secret), (const unsigned char *)c->token,
         c->input_len, c->sig, &len);
    c->sig_len = len;
    memcpy(raw, c->sig, len);
    raw_len = len;
  } else {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    c->sig_len = sizeof c->sig;
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, c->sig, &c->sig_len, (const unsigned char *)c->token, c->input_len) !=
            1)
      die("sign");
    EVP_MD_CTX_free(ctx);
    memcpy(raw, c->sig, c->sig_len);
    raw_len = c->sig_len;
    if (EVP_PKEY_is_a(key, "EC")) { /* JWS wants r || s */
      const unsigned char *p = c->sig;
      ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &p, (long)c->sig_len);
      BN_bn2binpad(ECDSA_SIG_get0_r(e), raw, 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(e), raw + 32, 32);
      ECDSA_SIG_free(e);
      raw_len = 64;
    }
  }
  c->token[n++] = '.';
  auth_base64url_encode(raw, raw_len, c->token + n, 2048 - (size_t)n);
}

static double jwt_verify_rate(jwt_case *c) {
  uint64_t uid = 0;
  size_t len = strlen(c->token);
  uint64_t start = clock_mono_ns();
  for (int i = 0; i < c->iterations; i++)
    if (auth_jwt_verify(&c->cfg, c->token, len, 1700000000, &uid, NULL, 0) != AUTH_OK ||
        uid != 1001)
      die("verify failed");
  return c->iterations / ((double)(clock_mono_ns() - start) / 1e9);
}

static double primitive_rate(jwt_case *c) {
  uint64_t start = clock_mono_ns();
  for (int i = 0; i < c->iterations; i++) {
    bool ok;
    if (!c->key) {
      unsigned char mac[32];
      unsigned len;
      HMAC(EVP_sha256(), hs_secret, (int)strlen(hs_secret), (const unsigned char *)c->token,
           c->input_len, mac, &len);
      ok = memcmp(mac, c->sig, 32) == 0;
    } else {
      EVP_MD_CTX *ctx = EVP_MD_CTX_new();
      ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, c->key) == 1 &&
           EVP_DigestVerify(ctx, c->sig, c->sig_len, (const unsigned char *)c->token,
                            c->input_len) == 1;
      EVP_MD_CTX_free(ctx);
    }
    if (!ok) die("primitive failed");
  }
  return c->iterations / ((double)(clock_mono_ns() - start) / 1e9);
}

static void bench_jwt(void) {
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  char rsa_pem[128], ec_pem[128];
  snprintf(rsa_pem, sizeof rsa_pem, "%s/rsa.pem", tmp_dir);
  snprintf(ec_pem, sizeof ec_pem, "%s/ec.pem", tmp_dir);
  FILE *f = fopen(rsa_pem, "w");
  if (!f || !rsa || !ec || PEM_write_PUBKEY(f, rsa) != 1) die("rsa key");
  fclose(f);
  f = fopen(ec_pem, "w");
  if (!f || PEM_write_PUBKEY(f, ec) != 1) die("ec key");
  fclose(f);
  static jwt_case cases[3] = {{.name = "HS256", .iterations = 100000},
                              {.name = "RS256", .iterations = 10000},
                              {.name = "ES256", .iterations = 5000}};
  char err[256];
  if (auth_jwt_config_init(&cases[0].cfg, hs_secret, "", "HS256", 0, "", "", err, sizeof err) ||
      auth_jwt_config_init(&cases[1].cfg, "", rsa_pem, "RS256", 0, "", "", err, sizeof err) ||
      auth_jwt_config_init(&cases[2].cfg, "", ec_pem, "ES256", 0, "", "", err, sizeof err))
    die(err);
  cases[1].key = rsa;
  cases[2].key = ec;
  for (int i = 0; i < 3; i++) build_token(&cases[i], cases[i].name, cases[i].key);

  printf("\nJWT verification (token %zu..%zu bytes), median of %d runs\n", strlen(cases[0].token),
         strlen(cases[1].token), runs);
  printf("%-6s %16s %20s %12s %10s\n", "alg", "verify k/s", "OpenSSL only k/s", "us/verify",
         "ratio");
  for (int c = 0; c < 3; c++) {
    double full[MAX_RUNS], bare[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
      full[r] = jwt_verify_rate(&cases[c]) / 1e3;
      bare[r] = primitive_rate(&cases[c]) / 1e3;
    }
    double fm = median(full, runs), bm = median(bare, runs);
    printf("%-6s %16.1f %20.1f %12.2f %9.2fx\n", cases[c].name, fm, bm, 1e3 / fm, fm / bm);
    auth_jwt_config_free(&cases[c].cfg);
  }
  unlink(rsa_pem);
  unlink(ec_pem);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);
}

/* ------------------------------------------------------------------------ */
/* 2. LMDB read patterns                                                    */

#define LMDB_KEYS 10000

typedef struct lmdb_run {
  MDB_env *env;
  MDB_dbi dbi;
  bool renew; /* true: keep a txn and renew/reset it; false: begin/abort per lookup */
  long lookups;
  unsigned seed;
  uint64_t checksum;
} lmdb_run;

static void lmdb_open(MDB_env **env, MDB_dbi *dbi) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/lmdb", tmp_dir);
  mkdir(dir, 0700);
  MDB_txn *txn;
  if (mdb_env_create(env) || mdb_env_set_maxdbs(*env, 1) ||
      mdb_env_set_mapsize(*env, (size_t)64 << 20) || mdb_env_open(*env, dir, MDB_NOTLS, 0600) ||
      mdb_txn_begin(*env, NULL, 0, &txn) || mdb_dbi_open(txn, "keys", MDB_CREATE, dbi))
    die("lmdb open");
  uint8_t record[264] = {1};
  for (uint32_t i = 0; i < LMDB_KEYS; i++) {
    uint8_t id[16] = {0};
    memcpy(id, &i, sizeof i);
    MDB_val k = {16, id}, v = {sizeof record, record};
    if (mdb_put(txn, *dbi, &k, &v, 0)) die("lmdb put");
  }
  if (mdb_txn_commit(txn)) die("lmdb commit");
}

static void *lmdb_worker(void *p) {
  lmdb_run *run = p;
  MDB_txn *txn = NULL;
  if (run->renew) {
    if (mdb_txn_begin(run->env, NULL, MDB_RDONLY, &txn)) die("begin");
    mdb_txn_reset(txn);
  }
  unsigned x = run->seed;
  uint64_t sum = 0;
  for (long i = 0; i < run->lookups; i++) {
    x = x * 1103515245u + 12345u;
    uint32_t key = (x >> 8) % LMDB_KEYS;
    uint8_t id[16] = {0};
    memcpy(id, &key, sizeof key);
    if (run->renew) {
      if (mdb_txn_renew(txn)) die("renew");
    } else if (mdb_txn_begin(run->env, NULL, MDB_RDONLY, &txn)) {
      die("begin");
    }
    MDB_val k = {16, id}, v;
    if (mdb_get(txn, run->dbi, &k, &v)) die("get");
    uint8_t copy[264];
    memcpy(copy, v.mv_data, sizeof copy); /* what auth_apikey_get does before letting go */
    sum += copy[0];
    if (run->renew)
      mdb_txn_reset(txn);
    else
      mdb_txn_abort(txn);
  }
  if (run->renew) mdb_txn_abort(txn);
  run->checksum = sum;
  return NULL;
}

static double lmdb_rate(MDB_env *env, MDB_dbi dbi, bool renew, int threads, long lookups) {
  lmdb_run work[2];
  pthread_t tid[2];
  uint64_t start = clock_mono_ns();
  for (int t = 0; t < threads; t++) {
    work[t] = (lmdb_run){env, dbi, renew, lookups, 7u + (unsigned)t, 0};
    pthread_create(&tid[t], NULL, lmdb_worker, &work[t]);
  }
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  double seconds = (double)(clock_mono_ns() - start) / 1e9;
  for (int t = 0; t < threads; t++)
    if (work[t].checksum != (uint64_t)lookups) die("lmdb checksum");
  return (double)lookups * threads / seconds;
}

static void bench_lmdb(void) {
  MDB_env *env;
  MDB_dbi dbi;
  lmdb_open(&env, &dbi);
  const long lookups = 1000000;
  printf("\nLMDB lookup of a 264-byte record among %d (MDB_NOTLS), %ld per thread, median of "
         "%d runs\n",
         LMDB_KEYS, lookups, runs);
  printf("%-8s %22s %22s %10s\n", "threads", "renew/reset M/s", "begin/abort M/s", "ratio");
  for (int threads = 1; threads <= 2; threads++) {
    double renew[MAX_RUNS], begin[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
      renew[r] = lmdb_rate(env, dbi, true, threads, lookups) / 1e6;
      begin[r] = lmdb_rate(env, dbi, false, threads, lookups) / 1e6;
    }
    double rm = median(renew, runs), bm = median(begin, runs);
    printf("%-8d %22.2f %22.2f %9.2fx\n", threads, rm, bm, rm / bm);
  }
  mdb_env_close(env);
}

/* ------------------------------------------------------------------------ */
/* 3. API-key login                                                         */

static void bench_login(void) {
  char dir[128], why[256], secret[AUTH_APIKEY_SECRET_HEX_LEN + 1];
  snprintf(dir, sizeof dir, "%s/auth", tmp_dir);
  auth_apikey_store *store;
  auth_apikey_reader *reader;
  if (auth_apikey_store_open(&store, dir, 0, why, sizeof why) != AUTH_OK ||
      auth_apikey_reader_open(store, &reader, why, sizeof why) != AUTH_OK)
    die(why);
  auth_apikey_info key = {.uid = 1001, .permissions = AUTH_PERM_READ, .created_ms = 1};
  if (auth_apikey_create(store, &key, secret, why, sizeof why) != AUTH_OK) die(why);
  const char ts[] = "1700000000000";
  char message[64], sig[65];
  snprintf(message, sizeof message, "%s%s", key.key_id, ts);
  unsigned char mac[32];
  unsigned len;
  HMAC(EVP_sha256(), secret, 64, (const unsigned char *)message, strlen(message), mac, &len);
  for (int i = 0; i < 32; i++) snprintf(sig + 2 * i, 3, "%02x", mac[i]);
  const int iterations = 100000;
  double login[MAX_RUNS], hmac[MAX_RUNS];
  for (int r = 0; r < runs; r++) {
    uint64_t start = clock_mono_ns();
    for (int i = 0; i < iterations; i++) {
      uint64_t uid;
      uint32_t perms;
      if (auth_apikey_login(reader, key.key_id, 32, ts, strlen(ts), sig, 64, 1700000000000, 5000,
                            NULL, &uid, &perms, NULL, 0) != AUTH_OK)
        die("login failed");
    }
    login[r] = iterations / ((double)(clock_mono_ns() - start) / 1e9) / 1e3;
    start = clock_mono_ns();
    for (int i = 0; i < iterations; i++)
      HMAC(EVP_sha256(), secret, 64, (const unsigned char *)message, strlen(message), mac, &len);
    hmac[r] = iterations / ((double)(clock_mono_ns() - start) / 1e9) / 1e3;
  }
  double lm = median(login, runs), hm = median(hmac, runs);
  printf("\nAPI-key login, median of %d runs of %d\n", runs, iterations);
  printf("%-28s %12s %12s\n", "", "k/s", "us each");
  printf("%-28s %12.1f %12.2f\n", "auth_apikey_login", lm, 1e3 / lm);
  printf("%-28s %12.1f %12.2f\n", "HMAC-SHA256 alone (baseline)", hm, 1e3 / hm);
  printf("login / HMAC throughput ratio: %.2fx\n", lm / hm);
  auth_apikey_reader_close(reader);
  auth_apikey_store_close(store);
  char file[160];
  snprintf(file, sizeof file, "%s/data.mdb", dir);
  unlink(file);
  snprintf(file, sizeof file, "%s/lock.mdb", dir);
  unlink(file);
  rmdir(dir);
}

int main(int argc, char **argv) {
  if (argc > 1) runs = atoi(argv[1]);
  if (runs < 1 || runs > MAX_RUNS) runs = 5;
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/bourse-auth-bench-XXXXXX");
  if (!mkdtemp(tmp_dir)) die("mkdtemp");
  printf("auth_bench: %d runs per figure\n", runs);
  bench_jwt();
  bench_lmdb();
  bench_login();
  char path[160];
  snprintf(path, sizeof path, "%s/lmdb/data.mdb", tmp_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/lmdb/lock.mdb", tmp_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/lmdb", tmp_dir);
  rmdir(path);
  rmdir(tmp_dir);
  return 0;
}
