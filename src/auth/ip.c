/*
 * ip.c: peer addresses and the CIDR rules of API-key IP allow-lists, see
 * include/bourse/auth.h. Address text goes through libc's inet_pton and
 * inet_ntop; only the prefix arithmetic is ours.
 *
 * Thread-safe: pure functions.
 */
#include "bourse/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Stores an IPv6 address, turning ::ffff:a.b.c.d into IPv4 a.b.c.d. */
static void set_v6(auth_ip *out, const uint8_t addr[16]) {
  memset(out, 0, sizeof *out);
  if (memcmp(addr, v4_mapped_prefix, 12) == 0) {
    out->family = 4;
    memcpy(out->addr, addr + 12, 4);
  } else {
    out->family = 6;
    memcpy(out->addr, addr, 16);
  }
}

int auth_ip_from_sockaddr(const struct sockaddr *sa, auth_ip *out) {
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in in4;
    memcpy(&in4, sa, sizeof in4);
    memset(out, 0, sizeof *out);
    out->family = 4;
    memcpy(out->addr, &in4.sin_addr, 4);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 in6;
    memcpy(&in6, sa, sizeof in6);
    set_v6(out, in6.sin6_addr.s6_addr);
    return 0;
  }
  return -1;
}

int auth_ip_parse(const char *s, size_t len, auth_ip *out) {
  char text[INET6_ADDRSTRLEN];
  uint8_t addr[16];
  if (len == 0 || len >= sizeof text || memchr(s, '\0', len)) return -1;
  memcpy(text, s, len);
  text[len] = '\0';
  if (inet_pton(AF_INET, text, addr) == 1) {
    memset(out, 0, sizeof *out);
    out->family = 4;
    memcpy(out->addr, addr, 4);
    return 0;
  }
  if (inet_pton(AF_INET6, text, addr) == 1) {
    set_v6(out, addr);
    return 0;
  }
  return -1;
}

static auth_status invalid(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static auth_status invalid(char *why, size_t why_len, const char *fmt, ...) {
  if (why && why_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
  }
  return AUTH_ERR_INVALID;
}

/* Zeroes every bit of addr[0..bytes) beyond the first `prefix` bits. */
static void clear_host_bits(uint8_t *addr, unsigned bytes, unsigned prefix) {
  for (unsigned i = 0; i < bytes; i++) {
    unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
    addr[i] &= (uint8_t)(0xff << (8 - keep)); /* keep 0: 0xff00 truncates to 0 */
  }
}

auth_status auth_ip_rule_parse(const char *s, size_t len, auth_ip_rule *out, char *why,
                               size_t why_len) {
  const char *slash = memchr(s, '/', len);
  size_t addr_len = slash ? (size_t)(slash - s) : len;
  auth_ip ip;
  if (auth_ip_parse(s, addr_len, &ip) != 0)
    return invalid(why, why_len, "\"%.*s\" is not an IPv4 or IPv6 address",
                   (int)(addr_len < 64 ? addr_len : 64), s);
  /* A mapped rule "::ffff:10.0.0.0/104" means 10.0.0.0/8. */
  bool mapped = ip.family == 4 && memchr(s, ':', addr_len) != NULL;
  unsigned max = ip.family == 4 ? 32 : 128, prefix = max;
  if (slash) {
    const char *p = slash + 1, *end = s + len;
    if (p == end || end - p > 3) return invalid(why, why_len, "bad prefix length after '/'");
    prefix = 0;
    for (; p < end; p++) {
      if (*p < '0' || *p > '9') return invalid(why, why_len, "bad prefix length after '/'");
      prefix = prefix * 10 + (unsigned)(*p - '0');
    }
    if (mapped) {
      if (prefix < 96 || prefix > 128)
        return invalid(why, why_len, "prefix of an IPv4-mapped rule must be 96..128");
      prefix -= 96;
    }
    if (prefix > max) return invalid(why, why_len, "prefix /%u exceeds /%u", prefix, max);
  }
  auth_ip_rule rule = {.family = ip.family, .prefix = (uint8_t)prefix};
  memcpy(rule.addr, ip.addr, 16);
  clear_host_bits(rule.addr, ip.family == 4 ? 4 : 16, prefix);
  if (memcmp(rule.addr, ip.addr, 16) != 0) {
    char text[AUTH_IP_TEXT_MAX];
    auth_ip_rule_format(&rule, text);
    return invalid(why, why_len, "\"%.*s\" has bits set beyond the prefix: did you mean %s?",
                   (int)(len < 64 ? len : 64), s, text);
  }
  *out = rule;
  return AUTH_OK;
}

void auth_ip_rule_format(const auth_ip_rule *rule, char out[AUTH_IP_TEXT_MAX]) {
  char text[INET6_ADDRSTRLEN];
  int af = rule->family == 4 ? AF_INET : AF_INET6;
  if (!inet_ntop(af, rule->addr, text, sizeof text)) snprintf(text, sizeof text, "?");
  unsigned max = rule->family == 4 ? 32 : 128;
  if (rule->prefix == max)
    snprintf(out, AUTH_IP_TEXT_MAX, "%s", text);
  else
    snprintf(out, AUTH_IP_TEXT_MAX, "%s/%u", text, rule->prefix);
}

bool auth_ip_rule_match(const auth_ip_rule *rule, const auth_ip *ip) {
  if (rule->family != ip->family) return false;
  unsigned full = rule->prefix / 8, rest = rule->prefix % 8;
  if (memcmp(rule->addr, ip->addr, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (rule->addr[full] & mask) == (ip->addr[full] & mask);
}
