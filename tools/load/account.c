/*
 * account.c: the set-up the orders scenario of bourse-load needs: an HS256
 * JWT per connection (minted here, so the tool needs nothing but the
 * server's secret) and the deposits that fund every test user through the
 * admin API before the run. Main thread (deposits, option parsing) and
 * worker threads (load_jwt_mint); thread-safe, no shared state.
 *
 * Why a hand-written HTTP/1.1 client rather than libcurl: the deposits are
 * a few hundred blocking requests to one loopback address before anything
 * is measured; a plain socket with Content-Length bodies is all it takes,
 * and the tool keeps to the libraries the server already links. HMAC-SHA256
 * is OpenSSL's, base64url the project's (auth.h).
 */
#include "bourse/auth.h"
#include "load.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ JWT */

size_t load_jwt_mint(const char *secret, uint64_t uid, int64_t exp_s, char *out, size_t cap) {
  static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  char claims[96];
  int n = snprintf(claims, sizeof(claims), "{\"uid\":%llu,\"exp\":%lld}", (unsigned long long)uid,
                   (long long)exp_s);
  if (n < 0 || (size_t)n >= sizeof(claims)) return 0;
  /* header.claims, then '.', then 43 characters of signature and a NUL */
  int h = auth_base64url_encode((const uint8_t *)header, sizeof(header) - 1, out, cap);
  if (h < 0 || (size_t)h + 1 >= cap) return 0;
  out[h] = '.';
  int c =
      auth_base64url_encode((const uint8_t *)claims, (size_t)n, out + h + 1, cap - (size_t)h - 1);
  if (c < 0) return 0;
  size_t signing_len = (size_t)h + 1 + (size_t)c;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)out, signing_len, mac,
            &mac_len))
    return 0;
  if (signing_len + 1 >= cap) return 0;
  out[signing_len] = '.';
  int s = auth_base64url_encode(mac, mac_len, out + signing_len + 1, cap - signing_len - 1);
  if (s < 0 || signing_len + 1 + (size_t)s >= cap) return 0;
  out[signing_len + 1 + (size_t)s] = 0;
  return signing_len + 1 + (size_t)s;
}

/* ---------------------------------------------------------------- options */

int load_admin_parse_url(load_orders_options *o, const char *url, char *err, size_t errlen) {
  if (strncmp(url, "http://", 7) != 0) {
    snprintf(err, errlen, "bad --admin-url '%s': expected http://HOST:PORT", url);
    return -1;
  }
  const char *host = url + 7;
  size_t hlen = strcspn(host, "/");
  if (hlen == 0 || hlen >= sizeof(o->admin_host) || (host[hlen] && strcmp(host + hlen, "/") != 0)) {
    snprintf(err, errlen, "bad --admin-url '%s': expected http://HOST:PORT (no path)", url);
    return -1;
  }
  memcpy(o->admin_host, host, hlen);
  o->admin_host[hlen] = 0;
  char name[256], port[8] = "80";
  const char *colon = strrchr(o->admin_host, ':');
  const char *bracket = strrchr(o->admin_host, ']');
  size_t name_len = hlen;
  if (colon && (!bracket || colon > bracket)) {
    size_t plen = strlen(colon + 1);
    if (plen == 0 || plen >= sizeof(port) || strspn(colon + 1, "0123456789") != plen) {
      snprintf(err, errlen, "bad --admin-url '%s': bad port", url);
      return -1;
    }
    memcpy(port, colon + 1, plen + 1);
    name_len = (size_t)(colon - o->admin_host);
  }
  const char *name_start = o->admin_host;
  if (name_len >= 2 && name_start[0] == '[' && name_start[name_len - 1] == ']') {
    name_start++;
    name_len -= 2;
  }
  snprintf(name, sizeof(name), "%.*s", (int)name_len, name_start);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(name, port, &hints, &res);
  if (rc != 0 || !res) {
    snprintf(err, errlen, "cannot resolve --admin-url host '%s': %s", name, gai_strerror(rc));
    return -1;
  }
  memcpy(&o->admin_addr, res->ai_addr, res->ai_addrlen);
  o->admin_addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  o->admin_url = url;
  return 0;
}

/* An exact, non-negative decimal: digits with at most one point inside. */
static bool is_decimal(const char *s) {
  size_t digits = strspn(s, "0123456789");
  if (digits == 0) return false;
  if (s[digits] == 0) return true;
  if (s[digits] != '.') return false;
  size_t frac = strspn(s + digits + 1, "0123456789");
  return frac > 0 && s[digits + 1 + frac] == 0;
}

int load_deposits_parse(load_orders_options *o, const char *text, char *err, size_t errlen) {
  o->n_deposits = 0;
  const char *p = text;
  while (*p) {
    size_t item = strcspn(p, ",");
    const char *eq = memchr(p, '=', item);
    if (o->n_deposits == LOAD_MAX_DEPOSITS) {
      snprintf(err, errlen, "at most %d assets in --deposit", LOAD_MAX_DEPOSITS);
      return -1;
    }
    load_deposit *d = &o->deposits[o->n_deposits];
    size_t alen = eq ? (size_t)(eq - p) : 0;
    size_t vlen = eq ? item - alen - 1 : 0;
    if (!eq || alen == 0 || alen >= sizeof(d->asset) || vlen == 0 || vlen >= sizeof(d->amount)) {
      snprintf(err, errlen, "bad --deposit '%s': expected ASSET=AMOUNT[,ASSET=AMOUNT...]", text);
      return -1;
    }
    memcpy(d->asset, p, alen);
    d->asset[alen] = 0;
    memcpy(d->amount, eq + 1, vlen);
    d->amount[vlen] = 0;
    bool name_ok = true;
    for (size_t i = 0; i < alen; i++)
      if (!((d->asset[i] >= 'A' && d->asset[i] <= 'Z') ||
            (d->asset[i] >= 'a' && d->asset[i] <= 'z') ||
            (d->asset[i] >= '0' && d->asset[i] <= '9')))
        name_ok = false;
    if (!name_ok || !is_decimal(d->amount)) {
      snprintf(err, errlen, "bad --deposit entry '%.*s': ASSET (letters, digits)=AMOUNT (decimal)",
               (int)item, p);
      return -1;
    }
    o->n_deposits++;
    p += item;
    if (*p == ',') p++;
  }
  if (o->n_deposits == 0) {
    snprintf(err, errlen, "--deposit needs at least one ASSET=AMOUNT");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------- deposits */

/* One keep-alive HTTP connection to the admin port. */
typedef struct admin_conn {
  int fd;
  char buf[8192];
  size_t len; /* bytes received and not yet consumed */
} admin_conn;

static int admin_connect(admin_conn *a, const load_orders_options *o, char *err, size_t errlen) {
  a->len = 0;
  a->fd = socket(o->admin_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (a->fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  struct timeval tv = {.tv_sec = 10};
  setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(a->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(a->fd, (const struct sockaddr *)&o->admin_addr, o->admin_addr_len) != 0) {
    snprintf(err, errlen, "cannot connect to --admin-url %s: %s", o->admin_url, strerror(errno));
    close(a->fd);
    a->fd = -1;
    return -1;
  }
  return 0;
}

static void admin_close(admin_conn *a) {
  if (a->fd >= 0) close(a->fd);
  a->fd = -1;
  a->len = 0;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Receives more bytes into a->buf; -1 on EOF, error, timeout or a full buffer. */
static int recv_more(admin_conn *a) {
  if (a->len == sizeof(a->buf)) return -1;
  for (;;) {
    ssize_t r = recv(a->fd, a->buf + a->len, sizeof(a->buf) - a->len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    a->len += (size_t)r;
    return 0;
  }
}

const char *load_http_header(const char *head, size_t len, const char *name, size_t *vlen) {
  size_t nlen = strlen(name);
  const char *p = memchr(head, '\n', len), *end = head + len;
  while (p && p + 1 < end) {
    p++;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
      const char *v = p + nlen + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    p = eol;
  }
  return NULL;
}

/*
 * Reads one response: its status, and the body into body (NUL-terminated,
 * truncated to cap). *keep is false when the server will close. 0 or -1.
 */
static int read_response(admin_conn *a, int *status, char *body, size_t cap, bool *keep) {
  char *blank;
  while (!(blank = memmem(a->buf, a->len, "\r\n\r\n", 4)))
    if (recv_more(a) != 0) return -1;
  size_t head_len = (size_t)(blank - a->buf) + 4;
  if (a->len < 12 || memcmp(a->buf, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(a->buf + 9);
  size_t vlen;
  const char *v = load_http_header(a->buf, head_len, "content-length", &vlen);
  size_t body_len = v ? (size_t)strtoul(v, NULL, 10) : 0;
  v = load_http_header(a->buf, head_len, "connection", &vlen);
  *keep = !(v && vlen == 5 && strncasecmp(v, "close", 5) == 0);
  if (head_len + body_len > sizeof(a->buf)) return -1;
  while (a->len < head_len + body_len)
    if (recv_more(a) != 0) return -1;
  size_t copy = body_len < cap - 1 ? body_len : cap - 1;
  memcpy(body, a->buf + head_len, copy);
  body[copy] = 0;
  memmove(a->buf, a->buf + head_len + body_len, a->len - head_len - body_len);
  a->len -= head_len + body_len;
  return 0;
}

/* POST /admin/deposit for one (uid, asset); 0, or -1 with the reason in err. */
static int deposit_one(admin_conn *a, const load_orders_options *o, uint64_t uid,
                       const load_deposit *d, char *err, size_t errlen) {
  char body[160], request[1024], reply[512];
  int blen = snprintf(body, sizeof(body), "{\"uid\":%llu,\"asset\":\"%s\",\"amount\":\"%s\"}",
                      (unsigned long long)uid, d->asset, d->amount);
  char auth[300] = "";
  if (o->admin_token) snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", o->admin_token);
  int rlen =
      snprintf(request, sizeof(request),
               "POST /admin/deposit HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
               "%sContent-Length: %d\r\n\r\n%s",
               o->admin_host, auth, blen, body);
  if (rlen < 0 || (size_t)rlen >= sizeof(request)) {
    snprintf(err, errlen, "deposit request too long");
    return -1;
  }
  /* a keep-alive connection the server has meanwhile closed gets one retry */
  for (int attempt = 0;; attempt++) {
    if (a->fd < 0 && admin_connect(a, o, err, errlen) != 0) return -1;
    int status;
    bool keep;
    if (send_all(a->fd, request, (size_t)rlen) == 0 &&
        read_response(a, &status, reply, sizeof(reply), &keep) == 0) {
      if (!keep) admin_close(a);
      if (status == 200 && strstr(reply, "\"result\"")) return 0;
      snprintf(err, errlen, "POST /admin/deposit %s for uid %llu: HTTP %d %s", d->asset,
               (unsigned long long)uid, status, reply);
      return -1;
    }
    admin_close(a);
    if (attempt == 1) {
      snprintf(err, errlen, "POST /admin/deposit to %s: no complete response", o->admin_url);
      return -1;
    }
  }
}

long load_admin_deposit_all(const load_orders_options *o, uint32_t count, char *err,
                            size_t errlen) {
  admin_conn a = {.fd = -1};
  long made = 0;
  for (uint32_t i = 0; i < count; i++) {
    for (unsigned k = 0; k < o->n_deposits; k++) {
      if (deposit_one(&a, o, o->uid_base + i, &o->deposits[k], err, errlen) != 0) {
        admin_close(&a);
        return -1;
      }
      made++;
    }
  }
  admin_close(&a);
  return made;
}
