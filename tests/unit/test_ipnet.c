/* test_ipnet.c: address and prefix parsing and matching. */
#include "bourse/ipnet.h"
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static ipnet_addr v4(const char *s) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  inet_pton(AF_INET, s, &sa.sin_addr);
  ipnet_addr a;
  ipnet_from_sockaddr((struct sockaddr *)&sa, &a);
  return a;
}

static ipnet_addr v6(const char *s) {
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, s, &sa.sin6_addr);
  ipnet_addr a;
  ipnet_from_sockaddr((struct sockaddr *)&sa, &a);
  return a;
}

static bool in(const char *prefix, ipnet_addr a) {
  ipnet_prefix p;
  return ipnet_parse_prefix(prefix, strlen(prefix), &p) && ipnet_match(&p, &a);
}

int main(void) {
  CHECK(in("127.0.0.0/8", v4("127.5.6.7")));
  CHECK(!in("127.0.0.0/8", v4("128.0.0.1")));
  CHECK(in("10.1.2.3", v4("10.1.2.3")));
  CHECK(!in("10.1.2.3", v4("10.1.2.4")));
  CHECK(in("10.1.2.0/23", v4("10.1.3.200")));
  CHECK(!in("10.1.2.0/24", v4("10.1.3.200")));
  CHECK(in("0.0.0.0/0", v4("8.8.8.8")));
  CHECK(in("::1", v6("::1")));
  CHECK(!in("::1", v4("127.0.0.1")));
  CHECK(in("2001:db8::/32", v6("2001:db8:ffff::1")));
  CHECK(!in("2001:db8::/32", v6("2001:db9::1")));
  CHECK(in("::ffff:0:0/96", v4("1.2.3.4"))); /* every IPv4 address, mapped */
  ipnet_prefix p;
  CHECK(!ipnet_parse_prefix("10.1.2.3/24", 11, &p)); /* host bits set */
  CHECK(!ipnet_parse_prefix("10.1.2.0/33", 11, &p));
  CHECK(!ipnet_parse_prefix("10.1.2.0/", 9, &p));
  CHECK(!ipnet_parse_prefix("host.example", 12, &p));
  CHECK(!ipnet_parse_prefix("::/129", 6, &p));
  ipnet_prefix list[4];
  CHECK_EQ_INT(ipnet_parse_list("127.0.0.0/8, ::1", list, 4), 2);
  ipnet_addr lo = v4("127.0.0.1"), six = v6("::1"), other = v4("192.0.2.1");
  CHECK(ipnet_match_any(list, 2, &lo));
  CHECK(ipnet_match_any(list, 2, &six));
  CHECK(!ipnet_match_any(list, 2, &other));
  CHECK_EQ_INT(ipnet_parse_list("", list, 4), 0);
  CHECK_EQ_INT(ipnet_parse_list("1.2.3.4,", list, 4), -1);
  CHECK_EQ_INT(ipnet_parse_list("1.2.3.4,,5.6.7.8", list, 4), -1);
  CHECK_EQ_INT(ipnet_parse_list("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", list, 4), -1);
  CHECK_EQ_INT(ipnet_parse_list("1.1.1.1,nonsense", list, 4), -1);
  return check_report("ipnet");
}
