/* test_http_parse.c: the HTTP/1.1 request parser, table-driven. */
#include "bourse/http.h"
#include "check.h"

static const http_limits limits = {
    .max_header_bytes = 1024, .max_headers = 8, .max_body_bytes = 1000};

static int parse(const char *text, http_request *req, const char **why) {
  uint32_t scanned = 0;
  uint32_t end = http_find_header_end(text, strlen(text), &scanned);
  if (end == 0) return -1;
  return http_parse_request(text, end, &limits, req, why);
}

static void test_statuses(void) {
  static const struct {
    const char *text;
    int status;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
      {"GET /a?b=c HTTP/1.0\r\n\r\n", 0}, /* Host optional in 1.0 */
      {"GET / HTTP/1.1\r\n\r\n", 400},    /* Host required in 1.1 */
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
      {"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Name: a\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400}, /* bare LF */
      {"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\n\r\n",
       0},
      {"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH: "
       "1\r\n\r\n",
       431},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    http_request req;
    const char *why;
    int status = parse(cases[i].text, &req, &why);
    if (status != cases[i].status) fprintf(stderr, "case %zu: %s\n", i, why);
    CHECK_EQ_INT(status, cases[i].status);
  }
}

static void test_fields(void) {
  http_request req;
  const char *why;
  CHECK_EQ_INT(parse("GET /ws?stream=A&stream=B&x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, "
                     "Upgrade\r\nupgrade:  WebSocket  \r\nContent-Length: 0\r\n\r\n",
                     &req, &why),
               0);
  CHECK(req.method == HTTP_GET);
  CHECK(req.path.len == 3 && memcmp(req.path.ptr, "/ws", 3) == 0);
  CHECK(req.query.len == 19);
  CHECK(req.upgrade_websocket);
  CHECK(req.keep_alive);
  CHECK_EQ_INT(req.header_count, 4);
  const http_str *up = http_header_get(&req, "UPGRADE");
  CHECK(up && up->len == 9 && memcmp(up->ptr, "WebSocket", 9) == 0); /* blanks trimmed */
  http_str v;
  CHECK(http_query_get(req.query, "stream", &v) && v.len == 1 && v.ptr[0] == 'A');
  CHECK(http_query_get(req.query, "x", &v) && v.len == 0);
  CHECK(!http_query_get(req.query, "str", &v));

  CHECK_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &req, &why), 0);
  CHECK(!req.keep_alive);
  CHECK_EQ_INT(parse("GET / HTTP/1.0\r\n\r\n", &req, &why), 0);
  CHECK(!req.keep_alive);
  CHECK_EQ_INT(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req, &why), 0);
  CHECK(req.keep_alive);
  CHECK(req.method == HTTP_GET);
  CHECK_EQ_INT(parse("BREW / HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why), 0);
  CHECK(req.method == HTTP_OTHER);
}

static void test_incremental_end(void) {
  const char *text = "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next";
  size_t whole = strlen("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  uint32_t scanned = 0, end = 0;
  /* Byte by byte: the terminator is found exactly when its last byte arrives. */
  for (size_t len = 0; len <= strlen(text) && end == 0; len++) {
    end = http_find_header_end(text, len, &scanned);
    if (end) CHECK_EQ_INT(len, whole);
  }
  CHECK_EQ_INT(end, whole);
  scanned = 0;
  CHECK_EQ_INT(http_find_header_end("abc\r\n\r", 6, &scanned), 0);
  CHECK_EQ_INT(http_find_header_end("abc\r\n\r\n", 7, &scanned), 7);
}

static void test_tokens(void) {
  http_str v = {"keep-alive , Upgrade,x", 22};
  CHECK(http_header_has_token(&v, "upgrade"));
  CHECK(http_header_has_token(&v, "KEEP-ALIVE"));
  CHECK(http_header_has_token(&v, "x"));
  CHECK(!http_header_has_token(&v, "upgrad"));
  CHECK(!http_header_has_token(NULL, "x"));
  CHECK_EQ_STR(http_status_text(431), "Request Header Fields Too Large");
}

int main(void) {
  test_statuses();
  test_fields();
  test_incremental_end();
  test_tokens();
  return check_report("http_parse");
}
