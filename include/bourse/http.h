/*
 * http.h: HTTP/1.1 request parsing and response writing for the io threads.
 *
 * The parser is a pure function over the bytes received so far: it finds the
 * end of the header section, checks the request line and every header, and
 * fills an http_request whose strings point into the caller's buffer (no
 * copies, no allocation). The io loop calls it again when more bytes arrive;
 * `http_find_header_end` lets it skip re-scanning bytes it has seen, so a
 * request trickling in byte by byte costs linear time.
 *
 * Thread-safe: no state beyond the caller's structs.
 */
#ifndef BOURSE_HTTP_H
#define BOURSE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 64

typedef enum http_method {
  HTTP_GET,
  HTTP_HEAD,
  HTTP_POST,
  HTTP_PUT,
  HTTP_DELETE,
  HTTP_OPTIONS,
  HTTP_PATCH,
  HTTP_OTHER, /* any other token: routes answer 405 */
} http_method;

typedef struct http_str {
  const char *ptr;
  uint32_t len;
} http_str;

typedef struct http_header {
  http_str name;
  http_str value; /* leading and trailing blanks removed */
} http_header;

typedef struct http_request {
  http_method method;
  http_str method_text;
  http_str target;        /* as sent: path plus optional ?query */
  http_str path;          /* target up to '?' */
  http_str query;         /* after '?', without it; empty when absent */
  unsigned version_minor; /* HTTP/1.x */
  uint32_t header_bytes;  /* request line + headers + the blank line */
  uint64_t content_length;
  bool keep_alive;        /* after this request, per version and Connection */
  bool upgrade_websocket; /* Upgrade: websocket and Connection: upgrade */
  unsigned header_count;
  http_header headers[HTTP_MAX_HEADERS];
} http_request;

typedef struct http_limits {
  uint32_t max_header_bytes; /* request line + headers; over: 431 */
  unsigned max_headers;      /* at most HTTP_MAX_HEADERS; over: 431 */
  uint64_t max_body_bytes;   /* Content-Length above it: 413 */
} http_limits;

/*
 * Looks for the blank line ending the header section in buf[0..len), starting
 * the search at *scanned (0 on a new request) and storing where a later call
 * may resume. Returns the header section's length including the blank line,
 * or 0 if it is not complete yet.
 */
uint32_t http_find_header_end(const char *buf, size_t len, uint32_t *scanned);

/*
 * Parses a complete header section buf[0..header_bytes) (as found by
 * http_find_header_end). Returns 0 and fills req, or an HTTP status for the
 * error reply: 400 malformed, 405 never (routing decides), 413 body too
 * large, 431 headers too large or too many, 501 Transfer-Encoding, 505 not
 * HTTP/1.x. *why gets a static text saying what was wrong.
 */
int http_parse_request(const char *buf, uint32_t header_bytes, const http_limits *limits,
                       http_request *req, const char **why);

/* The value of header `name` (case-insensitive), or NULL. */
const http_str *http_header_get(const http_request *req, const char *name);

/* True when the comma-separated header value contains `token` (case-insensitive). */
bool http_header_has_token(const http_str *value, const char *token);

/* Case-insensitive comparison of s with a NUL-terminated literal. */
bool http_str_equals_nocase(http_str s, const char *literal);

/* The reason phrase of a status code ("Not Found"), "Unknown" if none. */
const char *http_status_text(int status);

/*
 * Finds `name` in a query string "a=1&b=2" and stores its raw value (not
 * percent-decoded). Returns true when present. Repeated names: the first.
 */
bool http_query_get(http_str query, const char *name, http_str *value);

#endif
