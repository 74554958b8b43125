/* ipnet.c: see include/bourse/ipnet.h. Thread-safe. */
#include "bourse/ipnet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void map_v4(const void *v4, ipnet_addr *out) {
  memset(out->bytes, 0, 10);
  out->bytes[10] = out->bytes[11] = 0xff;
  memcpy(out->bytes + 12, v4, 4);
}

bool ipnet_from_sockaddr(const struct sockaddr *sa, ipnet_addr *out) {
  if (sa->sa_family == AF_INET) {
    map_v4(&((const struct sockaddr_in *)sa)->sin_addr, out);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    memcpy(out->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    return true;
  }
  return false;
}

bool ipnet_match(const ipnet_prefix *prefix, const ipnet_addr *addr) {
  unsigned full = prefix->bits / 8, rest = prefix->bits % 8;
  if (memcmp(prefix->addr.bytes, addr->bytes, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (prefix->addr.bytes[full] & mask) == (addr->bytes[full] & mask);
}

bool ipnet_match_any(const ipnet_prefix *prefixes, unsigned count, const ipnet_addr *addr) {
  for (unsigned i = 0; i < count; i++)
    if (ipnet_match(&prefixes[i], addr)) return true;
  return false;
}

bool ipnet_parse_prefix(const char *s, size_t len, ipnet_prefix *out) {
  char text[INET6_ADDRSTRLEN + 8];
  if (len == 0 || len >= sizeof(text)) return false;
  memcpy(text, s, len);
  text[len] = 0;
  char *slash = strchr(text, '/');
  unsigned bits = 0;
  bool has_bits = slash != NULL;
  if (slash) {
    *slash = 0;
    const char *p = slash + 1;
    if (!*p || strlen(p) > 3) return false;
    for (; *p; p++) {
      if (*p < '0' || *p > '9') return false;
      bits = bits * 10 + (unsigned)(*p - '0');
    }
  }
  uint8_t v4[4];
  if (inet_pton(AF_INET, text, v4) == 1) {
    if (has_bits && bits > 32) return false;
    map_v4(v4, &out->addr);
    out->bits = has_bits ? 96 + bits : 128;
  } else if (inet_pton(AF_INET6, text, out->addr.bytes) == 1) {
    if (has_bits && bits > 128) return false;
    out->bits = has_bits ? bits : 128;
  } else {
    return false;
  }
  for (unsigned bit = out->bits; bit < 128; bit++) /* host bits must be zero */
    if (out->addr.bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
  return true;
}

int ipnet_parse_list(const char *list, ipnet_prefix *out, unsigned cap) {
  unsigned count = 0;
  const char *p = list;
  while (*p == ' ') p++;
  if (*p == '\0') return 0;
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len && p[len - 1] == ' ') len--;
    if (len == 0 || count >= cap || !ipnet_parse_prefix(p, len, &out[count])) return -1;
    count++;
    if (!end) return (int)count;
    p = end + 1; /* an item must follow a comma */
    while (*p == ' ') p++;
  }
}
