/*
 * test_auth_apikey.c: the API-key store (src/auth/apikey.c), the login
 * signature, IP allow-lists (src/auth/ip.c), per-user TOTP, and concurrent
 * readers while a writer creates keys (run it under the Tsan build too).
 *
 * Signatures are computed here the way a client does: HMAC-SHA256 with the
 * 64-character secret string as the key over key + ts, written in hex.
 */
#include "bourse/auth.h"
#include "check.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

static char base_dir[64], store_dir[128];
static const int64_t now_ms = 1700000000000;
static const int64_t window_ms = 5000;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[512];
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
      remove_tree(path);
    else
      unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

/* hex(HMAC-SHA256(key, message)) in lower case. */
static void hmac_hex(const char *key, size_t key_len, const char *message, char out[65]) {
  unsigned char mac[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)message, strlen(message), mac, &len);
  CHECK_EQ_INT(len, 32);
  for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* The client's signature for key + ts. */
static void client_sig(const char *secret_hex, const char *key, const char *ts, char out[65]) {
  char message[128];
  snprintf(message, sizeof message, "%s%s", key, ts);
  hmac_hex(secret_hex, strlen(secret_hex), message, out);
}

static auth_status login(auth_apikey_reader *r, const char *key, const char *ts, const char *sig,
                         const auth_ip *peer, uint64_t *uid, uint32_t *perms) {
  char why[256] = "";
  auth_status st = auth_apikey_login(r, key, strlen(key), ts, strlen(ts), sig, strlen(sig), now_ms,
                                     window_ms, peer, uid, perms, why, sizeof why);
  CHECK(st == AUTH_OK || why[0] != '\0');
  return st;
}

static auth_ip ip(const char *text) {
  auth_ip out;
  memset(&out, 0, sizeof out);
  CHECK_EQ_INT(auth_ip_parse(text, strlen(text), &out), 0);
  return out;
}

static auth_ip_rule rule(const char *text) {
  auth_ip_rule out;
  memset(&out, 0, sizeof out);
  char why[128];
  CHECK_EQ_INT(auth_ip_rule_parse(text, strlen(text), &out, why, sizeof why), AUTH_OK);
  return out;
}

static auth_apikey_info new_key(uint64_t uid, uint32_t perms, const char *label, int64_t created) {
  auth_apikey_info k;
  memset(&k, 0, sizeof k);
  k.uid = uid;
  k.permissions = perms;
  snprintf(k.label, sizeof k.label, "%s", label);
  k.created_ms = created;
  return k;
}

static bool is_lower_hex(const char *s, size_t len) {
  if (strlen(s) != len) return false;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

/* ------------------------------------------------------------------------ */
/* IP rules                                                                 */

static void test_ip_rules(void) {
  char why[128], text[AUTH_IP_TEXT_MAX];
  auth_ip_rule r;
  struct {
    const char *in, *canonical;
  } ok[] = {{"10.0.0.0/8", "10.0.0.0/8"},
            {"192.0.2.7", "192.0.2.7"},
            {"192.0.2.7/32", "192.0.2.7"},
            {"0.0.0.0/0", "0.0.0.0/0"},
            {"2001:db8::/32", "2001:db8::/32"},
            {"2001:DB8::1", "2001:db8::1"},
            {"::/0", "::/0"},
            {"::ffff:10.0.0.0/104", "10.0.0.0/8"},
            {"::ffff:192.0.2.7", "192.0.2.7"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    CHECK_EQ_INT(auth_ip_rule_parse(ok[i].in, strlen(ok[i].in), &r, why, sizeof why), AUTH_OK);
    auth_ip_rule_format(&r, text);
    CHECK_EQ_STR(text, ok[i].canonical);
  }
  static const char *const bad[] = {
      "10.0.0.0/33",    "10.0.0.0/",          "10.0.0.0/8x",   "10.0.0.0/-1", "abc", "10.0.0", "",
      "2001:db8::/129", "::ffff:10.0.0.0/95", "10.0.0.0/0008", " 10.0.0.1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(auth_ip_rule_parse(bad[i], strlen(bad[i]), &r, why, sizeof why), AUTH_ERR_INVALID);
  CHECK_EQ_INT(auth_ip_rule_parse("10.0.0.1/8", 10, &r, why, sizeof why), AUTH_ERR_INVALID);
  CHECK(strstr(why, "10.0.0.0/8") != NULL); /* the suggestion */
  CHECK_EQ_INT(auth_ip_rule_parse("2001:db8::1/32", 14, &r, why, sizeof why), AUTH_ERR_INVALID);
  CHECK(strstr(why, "2001:db8::/32") != NULL);

  /* Matching, including prefixes that end inside a byte. */
  auth_ip_rule net = rule("10.0.0.0/8"), host = rule("192.0.2.7"), v6 = rule("2001:db8::/32");
  auth_ip_rule odd = rule("172.16.0.0/12"), all = rule("0.0.0.0/0");
  auth_ip a = ip("10.255.1.2"), b = ip("11.0.0.1"), c = ip("192.0.2.7"), d = ip("192.0.2.8");
  CHECK(auth_ip_rule_match(&net, &a));
  CHECK(!auth_ip_rule_match(&net, &b));
  CHECK(auth_ip_rule_match(&host, &c));
  CHECK(!auth_ip_rule_match(&host, &d));
  auth_ip e = ip("172.31.255.255"), f = ip("172.32.0.0"), g = ip("2001:db8:ffff::1");
  auth_ip h = ip("2001:db9::1"), mapped = ip("::ffff:10.1.1.1");
  CHECK(auth_ip_rule_match(&odd, &e));
  CHECK(!auth_ip_rule_match(&odd, &f));
  CHECK(auth_ip_rule_match(&v6, &g));
  CHECK(!auth_ip_rule_match(&v6, &h));
  CHECK(!auth_ip_rule_match(&net, &h)); /* families never cross */
  CHECK(!auth_ip_rule_match(&v6, &a));
  CHECK_EQ_INT(mapped.family, 4);
  CHECK(auth_ip_rule_match(&net, &mapped));
  CHECK(auth_ip_rule_match(&all, &b));

  /* From socket addresses, as the io thread has them. */
  struct sockaddr_in in4 = {.sin_family = AF_INET};
  inet_pton(AF_INET, "10.9.8.7", &in4.sin_addr);
  struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, "::ffff:10.9.8.7", &in6.sin6_addr);
  auth_ip from4, from6;
  CHECK_EQ_INT(auth_ip_from_sockaddr((struct sockaddr *)&in4, &from4), 0);
  CHECK_EQ_INT(auth_ip_from_sockaddr((struct sockaddr *)&in6, &from6), 0);
  CHECK(from4.family == 4 && from6.family == 4 && memcmp(from4.addr, from6.addr, 4) == 0);
  CHECK(auth_ip_rule_match(&net, &from6));
  struct sockaddr unix_addr = {.sa_family = AF_UNIX};
  CHECK_EQ_INT(auth_ip_from_sockaddr(&unix_addr, &from4), -1);
}

/* ------------------------------------------------------------------------ */
/* Store: create, get, list, update, delete                                 */

static void test_create_get(auth_apikey_store *s, auth_apikey_reader *r) {
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1], why[256];
  auth_apikey_info k = new_key(1001, AUTH_PERM_READ | AUTH_PERM_TRADE, "market maker", 1000);
  k.ips[0] = rule("10.0.0.0/8");
  k.ip_count = 1;
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_OK);
  CHECK(is_lower_hex(k.key_id, AUTH_APIKEY_ID_LEN));
  CHECK(is_lower_hex(secret, AUTH_APIKEY_SECRET_HEX_LEN));

  auth_apikey_info got;
  char got_secret[AUTH_APIKEY_SECRET_HEX_LEN + 1];
  CHECK_EQ_INT(auth_apikey_get(r, k.key_id, strlen(k.key_id), &got, got_secret), AUTH_OK);
  CHECK_EQ_STR(got.key_id, k.key_id);
  CHECK_EQ_INT(got.uid, 1001);
  CHECK_EQ_INT(got.permissions, AUTH_PERM_READ | AUTH_PERM_TRADE);
  CHECK_EQ_INT(got.ip_count, 1);
  CHECK(memcmp(&got.ips[0], &k.ips[0], sizeof got.ips[0]) == 0);
  CHECK_EQ_STR(got.label, "market maker");
  CHECK_EQ_INT(got.created_ms, 1000);
  CHECK_EQ_STR(got_secret, secret);
  /* Key ids are accepted in either case; without a secret buffer nothing else changes. */
  char upper[AUTH_APIKEY_ID_LEN + 1];
  for (int i = 0; i <= AUTH_APIKEY_ID_LEN; i++)
    upper[i] = (char)(k.key_id[i] >= 'a' ? k.key_id[i] - 32 : k.key_id[i]);
  CHECK_EQ_INT(auth_apikey_get(r, upper, AUTH_APIKEY_ID_LEN, &got, NULL), AUTH_OK);
  CHECK_EQ_STR(got.key_id, k.key_id);
  /* Unknown and malformed ids. */
  CHECK_EQ_INT(auth_apikey_get(r, "00000000000000000000000000000000", 32, &got, NULL),
               AUTH_ERR_NOT_FOUND);
  CHECK_EQ_INT(auth_apikey_get(r, k.key_id, 31, &got, NULL), AUTH_ERR_NOT_FOUND);
  CHECK_EQ_INT(auth_apikey_get(r, "zz", 2, &got, NULL), AUTH_ERR_NOT_FOUND);
  /* Two keys never share an id or a secret. */
  auth_apikey_info k2 = new_key(1001, AUTH_PERM_READ, "second", 2000);
  char secret2[AUTH_APIKEY_SECRET_HEX_LEN + 1];
  CHECK_EQ_INT(auth_apikey_create(s, &k2, secret2, why, sizeof why), AUTH_OK);
  CHECK(strcmp(k.key_id, k2.key_id) != 0 && strcmp(secret, secret2) != 0);
}

static void test_create_validation(auth_apikey_store *s) {
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1], why[256];
  auth_apikey_info k = new_key(0, AUTH_PERM_READ, "x", 1);
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_ERR_INVALID); /* uid 0 */
  k = new_key(1, 0, "x", 1);
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_ERR_INVALID);
  k = new_key(1, AUTH_PERM_READ | 8, "x", 1);
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_ERR_INVALID);
  k = new_key(1, AUTH_PERM_READ, "x", 1);
  memset(k.label, 'a', sizeof k.label); /* 65 bytes, no NUL */
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_ERR_INVALID);
  k = new_key(1, AUTH_PERM_READ, "tab\there", 1);
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_ERR_INVALID);
  k = new_key(1, AUTH_PERM_READ, "x", 1);
  k.ip_count = AUTH_APIKEY_MAX_IPS + 1;
  for (int i = 0; i <= AUTH_APIKEY_MAX_IPS; i++) k.ips[i % AUTH_APIKEY_MAX_IPS] = rule("::1");
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_ERR_INVALID);
  k.ip_count = 1;
  k.ips[0].prefix = 33;
  k.ips[0].family = 4;
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_ERR_INVALID);
  /* A label of exactly 64 bytes and 8 rules are fine. */
  k = new_key(1, AUTH_PERM_ALL, "", 1);
  memset(k.label, 'b', AUTH_APIKEY_LABEL_MAX);
  k.ip_count = AUTH_APIKEY_MAX_IPS;
  for (int i = 0; i < AUTH_APIKEY_MAX_IPS; i++) k.ips[i] = rule("192.0.2.0/24");
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_OK);
  /* Permission names. */
  CHECK_EQ_INT(auth_perm_from_name("trade", 5), AUTH_PERM_TRADE);
  CHECK_EQ_INT(auth_perm_from_name("withdraw", 8), AUTH_PERM_WITHDRAW);
  CHECK_EQ_INT(auth_perm_from_name("read", 4), AUTH_PERM_READ);
  CHECK_EQ_INT(auth_perm_from_name("Read", 4), 0);
  CHECK_EQ_INT(auth_perm_from_name("reads", 5), 0);
  CHECK_EQ_STR(auth_perm_name(AUTH_PERM_WITHDRAW), "withdraw");
  CHECK(auth_perm_name(AUTH_PERM_READ | AUTH_PERM_TRADE) == NULL);
}

static void test_list_limit(auth_apikey_store *s, auth_apikey_reader *r) {
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1], why[256];
  const uint64_t uid = 3003;
  auth_apikey_info out[AUTH_APIKEY_MAX_PER_UID + 1];
  size_t count = 99;
  CHECK_EQ_INT(auth_apikey_list(r, uid, out, AUTH_APIKEY_MAX_PER_UID, &count), AUTH_OK);
  CHECK_EQ_INT(count, 0);
  /* Created in a scrambled time order; listed oldest first. */
  for (int i = 0; i < AUTH_APIKEY_MAX_PER_UID; i++) {
    char label[16];
    snprintf(label, sizeof label, "k%d", i);
    auth_apikey_info k = new_key(uid, AUTH_PERM_READ, label, (i * 7919) % 1000);
    CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_OK);
  }
  auth_apikey_info extra = new_key(uid, AUTH_PERM_READ, "one too many", 5000);
  CHECK_EQ_INT(auth_apikey_create(s, &extra, secret, why, sizeof why), AUTH_ERR_INVALID);
  CHECK(strstr(why, "32") != NULL);
  CHECK_EQ_INT(auth_apikey_list(r, uid, out, AUTH_APIKEY_MAX_PER_UID + 1, &count), AUTH_OK);
  CHECK_EQ_INT(count, AUTH_APIKEY_MAX_PER_UID);
  for (size_t i = 1; i < count; i++) CHECK(out[i - 1].created_ms <= out[i].created_ms);
  for (size_t i = 0; i < count; i++) CHECK_EQ_INT(out[i].uid, uid);
  /* A smaller buffer: the first `cap` records, the full count. */
  CHECK_EQ_INT(auth_apikey_list(r, uid, out, 3, &count), AUTH_OK);
  CHECK_EQ_INT(count, AUTH_APIKEY_MAX_PER_UID);
  /* Neighbouring uids do not leak into each other's lists. */
  CHECK_EQ_INT(auth_apikey_list(r, uid - 1, out, 4, &count), AUTH_OK);
  CHECK_EQ_INT(count, 0);
  CHECK_EQ_INT(auth_apikey_list(r, uid + 1, out, 4, &count), AUTH_OK);
  CHECK_EQ_INT(count, 0);
}

static void test_update_delete(auth_apikey_store *s, auth_apikey_reader *r) {
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1], why[256];
  auth_apikey_info k = new_key(4004, AUTH_PERM_READ, "before", 10);
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_OK);
  auth_apikey_info values, updated, got;
  memset(&values, 0, sizeof values);
  values.permissions = AUTH_PERM_READ | AUTH_PERM_WITHDRAW;
  snprintf(values.label, sizeof values.label, "after");
  values.ips[0] = rule("2001:db8::/48");
  values.ip_count = 1;
  /* Another user cannot change it, and cannot tell it exists. */
  CHECK_EQ_INT(auth_apikey_update(s, 5005, k.key_id, 32, AUTH_APIKEY_SET_LABEL, &values, &updated,
                                  why, sizeof why),
               AUTH_ERR_NOT_FOUND);
  CHECK_EQ_INT(auth_apikey_get(r, k.key_id, 32, &got, NULL), AUTH_OK);
  CHECK_EQ_STR(got.label, "before");
  /* The owner changes the label only. */
  CHECK_EQ_INT(auth_apikey_update(s, 4004, k.key_id, 32, AUTH_APIKEY_SET_LABEL, &values, &updated,
                                  why, sizeof why),
               AUTH_OK);
  CHECK_EQ_STR(updated.label, "after");
  CHECK_EQ_INT(updated.permissions, AUTH_PERM_READ);
  CHECK_EQ_INT(updated.ip_count, 0);
  /* Then permissions and ips. */
  CHECK_EQ_INT(auth_apikey_update(s, 4004, k.key_id, 32,
                                  AUTH_APIKEY_SET_PERMISSIONS | AUTH_APIKEY_SET_IPS, &values, NULL,
                                  why, sizeof why),
               AUTH_OK);
  CHECK_EQ_INT(auth_apikey_get(r, k.key_id, 32, &got, NULL), AUTH_OK);
  CHECK_EQ_INT(got.permissions, AUTH_PERM_READ | AUTH_PERM_WITHDRAW);
  CHECK_EQ_INT(got.ip_count, 1);
  CHECK_EQ_STR(got.label, "after");
  CHECK_EQ_INT(got.created_ms, 10);
  /* The secret survives an update. */
  char got_secret[AUTH_APIKEY_SECRET_HEX_LEN + 1];
  CHECK_EQ_INT(auth_apikey_get(r, k.key_id, 32, &got, got_secret), AUTH_OK);
  CHECK_EQ_STR(got_secret, secret);
  /* Clearing the IP list. */
  values.ip_count = 0;
  CHECK_EQ_INT(auth_apikey_update(s, 4004, k.key_id, 32, AUTH_APIKEY_SET_IPS, &values, &updated,
                                  why, sizeof why),
               AUTH_OK);
  CHECK_EQ_INT(updated.ip_count, 0);
  /* Bad updates change nothing. */
  values.permissions = 0;
  CHECK_EQ_INT(auth_apikey_update(s, 4004, k.key_id, 32, AUTH_APIKEY_SET_PERMISSIONS, &values, NULL,
                                  why, sizeof why),
               AUTH_ERR_INVALID);
  CHECK_EQ_INT(auth_apikey_update(s, 4004, k.key_id, 32, 0, &values, NULL, why, sizeof why),
               AUTH_ERR_INVALID);
  CHECK_EQ_INT(auth_apikey_update(s, 4004, "nothex", 6, AUTH_APIKEY_SET_LABEL, &values, NULL, why,
                                  sizeof why),
               AUTH_ERR_NOT_FOUND);
  CHECK_EQ_INT(auth_apikey_get(r, k.key_id, 32, &got, NULL), AUTH_OK);
  CHECK_EQ_INT(got.permissions, AUTH_PERM_READ | AUTH_PERM_WITHDRAW);

  /* Delete: not by another user; by the owner; then it is gone everywhere. */
  CHECK_EQ_INT(auth_apikey_delete(s, 5005, k.key_id, 32, why, sizeof why), AUTH_ERR_NOT_FOUND);
  CHECK_EQ_INT(auth_apikey_get(r, k.key_id, 32, &got, NULL), AUTH_OK);
  size_t count;
  auth_apikey_info out[4];
  CHECK_EQ_INT(auth_apikey_list(r, 4004, out, 4, &count), AUTH_OK);
  CHECK_EQ_INT(count, 1);
  CHECK_EQ_INT(auth_apikey_delete(s, 4004, k.key_id, 32, why, sizeof why), AUTH_OK);
  CHECK_EQ_INT(auth_apikey_get(r, k.key_id, 32, &got, NULL), AUTH_ERR_NOT_FOUND);
  CHECK_EQ_INT(auth_apikey_list(r, 4004, out, 4, &count), AUTH_OK);
  CHECK_EQ_INT(count, 0);
  CHECK_EQ_INT(auth_apikey_delete(s, 4004, k.key_id, 32, why, sizeof why), AUTH_ERR_NOT_FOUND);
  char ts[] = "1700000000000", sig[65];
  client_sig(secret, k.key_id, ts, sig);
  uint64_t uid;
  uint32_t perms;
  CHECK_EQ_INT(login(r, k.key_id, ts, sig, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
}

/* ------------------------------------------------------------------------ */
/* Login                                                                    */

static void test_login(auth_apikey_store *s, auth_apikey_reader *r) {
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1], why[256], sig[65], ts[32];
  auth_apikey_info k = new_key(6006, AUTH_PERM_READ | AUTH_PERM_TRADE, "bot", 1);
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_OK);
  uint64_t uid = 0;
  uint32_t perms = 0;
  snprintf(ts, sizeof ts, "%lld", (long long)now_ms);
  client_sig(secret, k.key_id, ts, sig);
  CHECK_EQ_INT(login(r, k.key_id, ts, sig, NULL, &uid, &perms), AUTH_OK);
  CHECK_EQ_INT(uid, 6006);
  CHECK_EQ_INT(perms, AUTH_PERM_READ | AUTH_PERM_TRADE);
  /* Upper-case hex signature. */
  char upper[65];
  for (int i = 0; i <= 64; i++) upper[i] = (char)(sig[i] >= 'a' ? sig[i] - 32 : sig[i]);
  CHECK_EQ_INT(login(r, k.key_id, ts, upper, NULL, &uid, &perms), AUTH_OK);
  /* Wrong signatures: one digit changed, truncated, not hex, empty, another key's secret,
     the raw secret bytes as the HMAC key, the message in the other order. */
  char bad[80];
  snprintf(bad, sizeof bad, "%s", sig);
  bad[10] = bad[10] == '0' ? '1' : '0';
  CHECK_EQ_INT(login(r, k.key_id, ts, bad, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  snprintf(bad, sizeof bad, "%.62s", sig);
  CHECK_EQ_INT(login(r, k.key_id, ts, bad, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  snprintf(bad, sizeof bad, "%sab", sig);
  CHECK_EQ_INT(login(r, k.key_id, ts, bad, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  snprintf(bad, sizeof bad, "%.63sg", sig);
  CHECK_EQ_INT(login(r, k.key_id, ts, bad, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  CHECK_EQ_INT(login(r, k.key_id, ts, "", NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  client_sig("0000000000000000000000000000000000000000000000000000000000000000", k.key_id, ts, bad);
  CHECK_EQ_INT(login(r, k.key_id, ts, bad, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  uint8_t raw[32];
  for (int i = 0; i < 32; i++) sscanf(secret + 2 * i, "%2hhx", &raw[i]);
  char message[80];
  snprintf(message, sizeof message, "%s%s", k.key_id, ts);
  hmac_hex((const char *)raw, 32, message, bad);
  CHECK_EQ_INT(login(r, k.key_id, ts, bad, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  snprintf(message, sizeof message, "%s%s", ts, k.key_id);
  hmac_hex(secret, 64, message, bad);
  CHECK_EQ_INT(login(r, k.key_id, ts, bad, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  /* Unknown key, well-formed or not. */
  client_sig(secret, "0123456789abcdef0123456789abcdef", ts, bad);
  CHECK_EQ_INT(login(r, "0123456789abcdef0123456789abcdef", ts, bad, NULL, &uid, &perms),
               AUTH_ERR_BAD_SIGNATURE);
  CHECK_EQ_INT(login(r, "bot", ts, sig, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);

  /* The window, both sides: edges accepted, one millisecond beyond refused. */
  struct {
    int64_t offset;
    auth_status want;
  } window[] = {{-window_ms, AUTH_OK},
                {window_ms, AUTH_OK},
                {-window_ms - 1, AUTH_ERR_BAD_SIGNATURE},
                {window_ms + 1, AUTH_ERR_BAD_SIGNATURE},
                {-3600000, AUTH_ERR_BAD_SIGNATURE},
                {3600000, AUTH_ERR_BAD_SIGNATURE}};
  for (size_t i = 0; i < sizeof window / sizeof window[0]; i++) {
    snprintf(ts, sizeof ts, "%lld", (long long)(now_ms + window[i].offset));
    client_sig(secret, k.key_id, ts, sig);
    CHECK_EQ_INT(login(r, k.key_id, ts, sig, NULL, &uid, &perms), window[i].want);
  }
  /* ts is signed byte for byte as sent: a leading zero is part of the message. */
  snprintf(ts, sizeof ts, "0%lld", (long long)now_ms);
  client_sig(secret, k.key_id, ts, sig);
  CHECK_EQ_INT(login(r, k.key_id, ts, sig, NULL, &uid, &perms), AUTH_OK);
  client_sig(secret, k.key_id, ts + 1, sig); /* signed without the zero */
  CHECK_EQ_INT(login(r, k.key_id, ts, sig, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  /* The key is signed as sent too (upper case here). */
  char key_upper[33];
  for (int i = 0; i <= 32; i++)
    key_upper[i] = (char)(k.key_id[i] >= 'a' ? k.key_id[i] - 32 : k.key_id[i]);
  snprintf(ts, sizeof ts, "%lld", (long long)now_ms);
  client_sig(secret, key_upper, ts, sig);
  CHECK_EQ_INT(login(r, key_upper, ts, sig, NULL, &uid, &perms), AUTH_OK);
  /* ts that is not a plain integer. */
  static const char *const bad_ts[] = {"",
                                       "1.7e12",
                                       "+1700000000000",
                                       "-1700000000000",
                                       "1700000000000.0",
                                       " 1700000000000",
                                       "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++) {
    client_sig(secret, k.key_id, bad_ts[i], sig);
    CHECK_EQ_INT(login(r, k.key_id, bad_ts[i], sig, NULL, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  }
  /* The why text never holds the secret or the expected signature. */
  snprintf(ts, sizeof ts, "%lld", (long long)now_ms);
  client_sig(secret, k.key_id, ts, sig);
  auth_apikey_login(r, k.key_id, 32, ts, strlen(ts), "00", 2, now_ms, window_ms, NULL, &uid, &perms,
                    why, sizeof why);
  CHECK(strstr(why, secret) == NULL && strstr(why, sig) == NULL && why[0] != '\0');
}

static void test_login_ip(auth_apikey_store *s, auth_apikey_reader *r) {
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1], why[256], sig[65], ts[32];
  auth_apikey_info k = new_key(7007, AUTH_PERM_READ, "office", 1);
  k.ips[0] = rule("10.0.0.0/8");
  k.ips[1] = rule("2001:db8::/32");
  k.ips[2] = rule("192.0.2.7");
  k.ip_count = 3;
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_OK);
  snprintf(ts, sizeof ts, "%lld", (long long)now_ms);
  client_sig(secret, k.key_id, ts, sig);
  uint64_t uid = 0;
  uint32_t perms = 0;
  struct {
    const char *peer;
    auth_status want;
  } cases[] = {{"10.1.2.3", AUTH_OK},        {"11.0.0.1", AUTH_ERR_PERMISSION},
               {"192.0.2.7", AUTH_OK},       {"192.0.2.8", AUTH_ERR_PERMISSION},
               {"2001:db8:1::5", AUTH_OK},   {"2001:db9::5", AUTH_ERR_PERMISSION},
               {"::ffff:10.0.0.1", AUTH_OK}, {"::1", AUTH_ERR_PERMISSION}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    auth_ip peer = ip(cases[i].peer);
    uid = 0;
    CHECK_EQ_INT(login(r, k.key_id, ts, sig, &peer, &uid, &perms), cases[i].want);
    CHECK_EQ_INT(uid, cases[i].want == AUTH_OK ? 7007 : 0);
  }
  CHECK_EQ_INT(login(r, k.key_id, ts, sig, NULL, &uid, &perms), AUTH_ERR_PERMISSION);
  /* The signature is judged before the address: a wrong one is 3003 from anywhere. */
  auth_ip outside = ip("11.0.0.1");
  sig[0] = sig[0] == '0' ? '1' : '0';
  CHECK_EQ_INT(login(r, k.key_id, ts, sig, &outside, &uid, &perms), AUTH_ERR_BAD_SIGNATURE);
  /* Once the list is cleared, any address is fine. */
  auth_apikey_info values;
  memset(&values, 0, sizeof values);
  CHECK_EQ_INT(auth_apikey_update(s, 7007, k.key_id, 32, AUTH_APIKEY_SET_IPS, &values, NULL, why,
                                  sizeof why),
               AUTH_OK);
  client_sig(secret, k.key_id, ts, sig);
  CHECK_EQ_INT(login(r, k.key_id, ts, sig, &outside, &uid, &perms), AUTH_OK);
}

/* ------------------------------------------------------------------------ */
/* TOTP                                                                     */

static void test_totp(auth_apikey_store *s, auth_apikey_reader *r) {
  char why[256];
  const uint64_t uid = 8008;
  const int64_t t = 1700000000;
  /* No TOTP: management needs no code. */
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid, NULL, 0, t, why, sizeof why), AUTH_OK);
  CHECK_EQ_INT(auth_apikey_totp_get(r, uid, NULL, NULL), AUTH_ERR_NOT_FOUND);
  uint8_t secret[AUTH_TOTP_SECRET_SIZE];
  CHECK_EQ_INT(auth_totp_generate_secret(secret, sizeof secret), 0);
  CHECK_EQ_INT(auth_apikey_totp_set(s, uid, secret, 10, why, sizeof why), AUTH_ERR_INVALID);
  CHECK_EQ_INT(auth_apikey_totp_set(s, 0, secret, sizeof secret, why, sizeof why),
               AUTH_ERR_INVALID);
  CHECK_EQ_INT(auth_apikey_totp_set(s, uid, secret, sizeof secret, why, sizeof why), AUTH_OK);
  uint8_t stored[AUTH_TOTP_SECRET_MAX];
  size_t len = 0;
  CHECK_EQ_INT(auth_apikey_totp_get(r, uid, stored, &len), AUTH_OK);
  CHECK(len == sizeof secret && memcmp(stored, secret, len) == 0);
  /* With TOTP: a code is required and must be right. */
  char code[16];
  snprintf(code, sizeof code, "%06lld", (long long)auth_totp_code(secret, sizeof secret, t, 6));
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid, NULL, 0, t, why, sizeof why), AUTH_ERR_INVALID);
  CHECK(strstr(why, "otp") != NULL);
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid, code, 6, t, why, sizeof why), AUTH_OK);
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid, code, 6, t + 30, why, sizeof why), AUTH_OK);
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid, code, 6, t + 90, why, sizeof why),
               AUTH_ERR_PERMISSION);
  char wrong[8];
  snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 1) % 1000000);
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid, wrong, 6, t, why, sizeof why), AUTH_ERR_PERMISSION);
  /* An 8-digit code of the same secret is not the 6-digit code the store asks for. */
  char code8[16];
  snprintf(code8, sizeof code8, "%08lld", (long long)auth_totp_code(secret, sizeof secret, t, 8));
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid, code8, 8, t, why, sizeof why), AUTH_ERR_PERMISSION);
  /* Other users are unaffected. */
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid + 1, NULL, 0, t, why, sizeof why), AUTH_OK);
  /* Clear. */
  CHECK_EQ_INT(auth_apikey_totp_clear(s, uid, why, sizeof why), AUTH_OK);
  CHECK_EQ_INT(auth_apikey_totp_clear(s, uid, why, sizeof why), AUTH_ERR_NOT_FOUND);
  CHECK_EQ_INT(auth_apikey_totp_check(r, uid, NULL, 0, t, why, sizeof why), AUTH_OK);
}

/* ------------------------------------------------------------------------ */
/* Persistence and files                                                    */

static void test_reopen_and_modes(void) {
  char dir[256], why[256], secret[AUTH_APIKEY_SECRET_HEX_LEN + 1];
  snprintf(dir, sizeof dir, "%s/nested/auth", base_dir);
  auth_apikey_store *s;
  auth_apikey_reader *r;
  CHECK_EQ_INT(auth_apikey_store_open(&s, dir, 0, why, sizeof why), AUTH_OK);
  auth_apikey_info k = new_key(9009, AUTH_PERM_TRADE, "persist", 5);
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_OK);
  auth_apikey_store_close(s);

  struct stat st;
  CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
  char file[300];
  snprintf(file, sizeof file, "%s/data.mdb", dir);
  CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600);

  CHECK_EQ_INT(auth_apikey_store_open(&s, dir, 0, why, sizeof why), AUTH_OK);
  CHECK_EQ_INT(auth_apikey_reader_open(s, &r, why, sizeof why), AUTH_OK);
  char ts[] = "1700000000000", sig[65];
  client_sig(secret, k.key_id, ts, sig);
  uint64_t uid = 0;
  uint32_t perms = 0;
  CHECK_EQ_INT(login(r, k.key_id, ts, sig, NULL, &uid, &perms), AUTH_OK);
  CHECK_EQ_INT(uid, 9009);
  CHECK_EQ_INT(perms, AUTH_PERM_TRADE);
  auth_apikey_reader_close(r);
  auth_apikey_store_close(s);
  /* A directory that cannot be created. */
  CHECK_EQ_INT(auth_apikey_store_open(&s, "/proc/bourse-no/auth", 0, why, sizeof why),
               AUTH_ERR_INTERNAL);
  CHECK(s == NULL && why[0] != '\0');
}

/* ------------------------------------------------------------------------ */
/* Concurrency: two readers log in and list while a writer creates keys.    */

typedef struct reader_args {
  auth_apikey_store *store;
  const char *key_id;
  const char *secret;
  atomic_bool *stop;
  long logins, lists, failures;
} reader_args;

static unsigned writer_keys(void) {
  const char *type = getenv("BOURSE_BUILD_TYPE");
  return type && (strcmp(type, "Asan") == 0 || strcmp(type, "Tsan") == 0) ? 40 : 120;
}

#define WRITER_UID0 100000

static void *reader_main(void *p) {
  reader_args *a = p;
  auth_apikey_reader *r;
  char why[256];
  if (auth_apikey_reader_open(a->store, &r, why, sizeof why) != AUTH_OK) {
    a->failures++;
    return NULL;
  }
  char ts[] = "1700000000000", sig[65], message[64];
  snprintf(message, sizeof message, "%s%s", a->key_id, ts);
  unsigned char mac[32];
  unsigned len;
  HMAC(EVP_sha256(), a->secret, 64, (const unsigned char *)message, strlen(message), mac, &len);
  for (int i = 0; i < 32; i++) snprintf(sig + 2 * i, 3, "%02x", mac[i]);
  unsigned probe = 0;
  /* Run at least a few rounds even if the writer finishes first. */
  for (long round = 0; round < 50 || !atomic_load(a->stop); round++) {
    uint64_t uid;
    uint32_t perms;
    if (auth_apikey_login(r, a->key_id, 32, ts, strlen(ts), sig, 64, now_ms, window_ms, NULL, &uid,
                          &perms, why, sizeof why) != AUTH_OK ||
        uid != 424242)
      a->failures++;
    a->logins++;
    /* Each writer uid gets exactly one key: a list shows 0 or 1, never a torn record. */
    auth_apikey_info out[2];
    size_t count;
    uint64_t target = WRITER_UID0 + probe++ % writer_keys();
    if (auth_apikey_list(r, target, out, 2, &count) != AUTH_OK || count > 1 ||
        (count == 1 && (out[0].uid != target || strcmp(out[0].label, "concurrent") != 0)))
      a->failures++;
    a->lists++;
  }
  auth_apikey_reader_close(r);
  return NULL;
}

typedef struct writer_args {
  auth_apikey_store *store;
  long failures;
} writer_args;

static void *writer_main(void *p) {
  writer_args *a = p;
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1], why[256];
  for (unsigned i = 0; i < writer_keys(); i++) {
    auth_apikey_info k = new_key(WRITER_UID0 + i, AUTH_PERM_READ, "concurrent", i);
    if (auth_apikey_create(a->store, &k, secret, why, sizeof why) != AUTH_OK) a->failures++;
  }
  return NULL;
}

static void test_concurrent(auth_apikey_store *s, auth_apikey_reader *r) {
  char secret[AUTH_APIKEY_SECRET_HEX_LEN + 1], why[256];
  auth_apikey_info k = new_key(424242, AUTH_PERM_READ, "shared", 1);
  CHECK_EQ_INT(auth_apikey_create(s, &k, secret, why, sizeof why), AUTH_OK);
  atomic_bool stop = false;
  reader_args readers[2];
  pthread_t threads[3];
  writer_args writer = {.store = s};
  for (int i = 0; i < 2; i++) {
    readers[i] = (reader_args){.store = s, .key_id = k.key_id, .secret = secret, .stop = &stop};
    CHECK_EQ_INT(pthread_create(&threads[i], NULL, reader_main, &readers[i]), 0);
  }
  CHECK_EQ_INT(pthread_create(&threads[2], NULL, writer_main, &writer), 0);
  pthread_join(threads[2], NULL);
  atomic_store(&stop, true);
  for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
  CHECK_EQ_INT(writer.failures, 0);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_INT(readers[i].failures, 0);
    CHECK(readers[i].logins >= 50);
  }
  printf("concurrent: %u keys written while readers did %ld + %ld logins\n", writer_keys(),
         readers[0].logins, readers[1].logins);
  /* Every key the writer made is there afterwards. */
  size_t count;
  auth_apikey_info out[1];
  for (unsigned i = 0; i < writer_keys(); i++) {
    CHECK_EQ_INT(auth_apikey_list(r, WRITER_UID0 + i, out, 1, &count), AUTH_OK);
    CHECK_EQ_INT(count, 1);
  }
}

int main(void) {
  snprintf(base_dir, sizeof base_dir, "/tmp/bourse-apikey-XXXXXX");
  if (!mkdtemp(base_dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(store_dir, sizeof store_dir, "%s/auth", base_dir);
  test_ip_rules();
  auth_apikey_store *s = NULL;
  auth_apikey_reader *r = NULL;
  char why[256];
  CHECK_EQ_INT(auth_apikey_store_open(&s, store_dir, 0, why, sizeof why), AUTH_OK);
  CHECK_EQ_INT(auth_apikey_reader_open(s, &r, why, sizeof why), AUTH_OK);
  if (s && r) {
    test_create_get(s, r);
    test_create_validation(s);
    test_list_limit(s, r);
    test_update_delete(s, r);
    test_login(s, r);
    test_login_ip(s, r);
    test_totp(s, r);
    test_concurrent(s, r);
  }
  auth_apikey_reader_close(r);
  auth_apikey_store_close(s);
  test_reopen_and_modes();
  remove_tree(base_dir);
  return check_report("auth_apikey");
}
