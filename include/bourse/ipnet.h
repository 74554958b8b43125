/*
 * ipnet.h: IP addresses and CIDR prefixes, IPv4 held as IPv4-mapped IPv6 so
 * one 16-byte form covers both. Used for per-IP connection limits and their
 * exemption list. Thread-safe: pure functions.
 */
#ifndef BOURSE_IPNET_H
#define BOURSE_IPNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct ipnet_addr {
  uint8_t bytes[16]; /* IPv6, or ::ffff:a.b.c.d for IPv4 */
} ipnet_addr;

typedef struct ipnet_prefix {
  ipnet_addr addr;
  unsigned bits; /* 0..128, counted on the 16-byte form (IPv4 /8 is 104) */
} ipnet_prefix;

/* The address of a socket address (AF_INET or AF_INET6); false for other families. */
bool ipnet_from_sockaddr(const struct sockaddr *sa, ipnet_addr *out);

/*
 * Parses "a.b.c.d", "a.b.c.d/n", "v6" or "v6/n" (len bytes, no spaces).
 * Host bits beyond the prefix must be zero. Returns true on success.
 */
bool ipnet_parse_prefix(const char *s, size_t len, ipnet_prefix *out);

/*
 * Parses a comma-separated list of prefixes (spaces around items allowed)
 * into out[0..cap). Returns the count, or -1 if an item is malformed or there
 * are more than cap.
 */
int ipnet_parse_list(const char *list, ipnet_prefix *out, unsigned cap);

/* True when addr lies inside prefix. */
bool ipnet_match(const ipnet_prefix *prefix, const ipnet_addr *addr);

/* True when addr lies inside any of prefixes[0..count). */
bool ipnet_match_any(const ipnet_prefix *prefixes, unsigned count, const ipnet_addr *addr);

#endif
