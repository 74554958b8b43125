/*
 * http.c: HTTP/1.1 request parser (see include/bourse/http.h).
 *
 * Hand-written because the packaged parsers do not fit the io thread: Debian's
 * llhttp/http-parser are callback-driven and keep their own state per
 * connection, while bourse wants one pure pass over bytes it already holds,
 * with its own limits and error statuses. RFC 9112 grammar, strictly.
 *
 * Thread-safe: pure functions.
 */
#include "bourse/http.h"

#include <string.h>

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

uint32_t http_find_header_end(const char *buf, size_t len, uint32_t *scanned) {
  /* Resume 3 bytes back: the terminator may straddle the previous end. */
  size_t i = *scanned > 3 ? *scanned - 3 : 0;
  while (i + 4 <= len) {
    const char *p = memchr(buf + i, '\r', len - 3 - i);
    if (!p) break;
    i = (size_t)(p - buf);
    if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n') return (uint32_t)(i + 4);
    i++;
  }
  *scanned = (uint32_t)len;
  return 0;
}

bool http_str_equals_nocase(http_str s, const char *literal) {
  size_t n = strlen(literal);
  if (s.len != n) return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)literal[i])) return false;
  return true;
}

const http_str *http_header_get(const http_request *req, const char *name) {
  for (unsigned i = 0; i < req->header_count; i++)
    if (http_str_equals_nocase(req->headers[i].name, name)) return &req->headers[i].value;
  return NULL;
}

bool http_header_has_token(const http_str *value, const char *token) {
  if (!value) return false;
  const char *p = value->ptr, *end = value->ptr + value->len;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
    const char *start = p;
    while (p < end && *p != ',') p++;
    const char *stop = p;
    while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t')) stop--;
    if (http_str_equals_nocase((http_str){start, (uint32_t)(stop - start)}, token)) return true;
  }
  return false;
}

static http_method method_from(http_str m) {
  static const struct {
    const char *name;
    http_method method;
  } methods[] = {{"GET", HTTP_GET},    {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
                 {"PUT", HTTP_PUT},    {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS},
                 {"PATCH", HTTP_PATCH}};
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    if (m.len == strlen(methods[i].name) && memcmp(m.ptr, methods[i].name, m.len) == 0)
      return methods[i].method;
  return HTTP_OTHER;
}

/* Parses "METHOD SP target SP HTTP/1.x" in line[0..len). */
static int parse_request_line(const char *line, uint32_t len, http_request *req, const char **why) {
  uint32_t i = 0;
  while (i < len && is_tchar((unsigned char)line[i])) i++;
  if (i == 0 || i >= len || line[i] != ' ') {
    *why = "malformed request line: bad method";
    return 400;
  }
  req->method_text = (http_str){line, i};
  req->method = method_from(req->method_text);
  uint32_t target_start = ++i;
  while (i < len && line[i] != ' ') {
    unsigned char c = (unsigned char)line[i];
    if (c <= 0x20 || c == 0x7f) {
      *why = "malformed request line: bad character in target";
      return 400;
    }
    i++;
  }
  if (i == target_start || i >= len) {
    *why = "malformed request line: missing target or version";
    return 400;
  }
  req->target = (http_str){line + target_start, i - target_start};
  if (req->target.ptr[0] != '/' &&
      !(req->method == HTTP_OPTIONS && req->target.len == 1 && req->target.ptr[0] == '*')) {
    *why = "request target must be an absolute path";
    return 400;
  }
  const char *q = memchr(req->target.ptr, '?', req->target.len);
  if (q) {
    req->path = (http_str){req->target.ptr, (uint32_t)(q - req->target.ptr)};
    req->query = (http_str){q + 1, (uint32_t)(req->target.ptr + req->target.len - q - 1)};
  } else {
    req->path = req->target;
    req->query = (http_str){q, 0};
    req->query.ptr = req->target.ptr + req->target.len;
  }
  i++;
  if (len - i != 8 || memcmp(line + i, "HTTP/", 5) != 0 || line[i + 5] < '0' || line[i + 5] > '9' ||
      line[i + 6] != '.' || line[i + 7] < '0' || line[i + 7] > '9') {
    *why = "malformed request line: bad HTTP version";
    return 400;
  }
  if (line[i + 5] != '1') {
    *why = "only HTTP/1.x is supported";
    return 505;
  }
  req->version_minor = (unsigned)(line[i + 7] - '0');
  return 0;
}

/* Parses one "name: value" line into req->headers. */
static int parse_header_line(const char *line, uint32_t len, const http_limits *limits,
                             http_request *req, const char **why) {
  uint32_t i = 0;
  while (i < len && is_tchar((unsigned char)line[i])) i++;
  if (i == 0 || i >= len || line[i] != ':') {
    *why = "malformed header line";
    return 400;
  }
  if (req->header_count >= limits->max_headers || req->header_count >= HTTP_MAX_HEADERS) {
    *why = "too many header fields";
    return 431;
  }
  http_header *h = &req->headers[req->header_count++];
  h->name = (http_str){line, i};
  i++;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  uint32_t end = len;
  while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t')) end--;
  for (uint32_t k = i; k < end; k++) {
    unsigned char c = (unsigned char)line[k];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      *why = "control character in header value";
      return 400;
    }
  }
  h->value = (http_str){line + i, end - i};
  return 0;
}

static int parse_content_length(const http_str *v, uint64_t *out, const char **why) {
  uint64_t n = 0;
  if (v->len == 0) {
    *why = "empty Content-Length";
    return 400;
  }
  for (uint32_t i = 0; i < v->len; i++) {
    unsigned char c = (unsigned char)v->ptr[i];
    if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10) {
      *why = "malformed Content-Length";
      return 400;
    }
    n = n * 10 + (c - '0');
  }
  *out = n;
  return 0;
}

/* Applies the headers that shape the exchange: length, connection, upgrade. */
static int interpret_headers(const http_limits *limits, http_request *req, const char **why) {
  bool seen_length = false;
  for (unsigned i = 0; i < req->header_count; i++) {
    http_header *h = &req->headers[i];
    if (http_str_equals_nocase(h->name, "content-length")) {
      uint64_t n;
      int rc = parse_content_length(&h->value, &n, why);
      if (rc) return rc;
      if (seen_length && n != req->content_length) {
        *why = "conflicting Content-Length headers";
        return 400;
      }
      seen_length = true;
      req->content_length = n;
    } else if (http_str_equals_nocase(h->name, "transfer-encoding")) {
      *why = "Transfer-Encoding request bodies are not supported; send Content-Length";
      return 501;
    }
  }
  if (req->content_length > limits->max_body_bytes) {
    *why = "request body too large";
    return 413;
  }
  const http_str *connection = http_header_get(req, "connection");
  if (req->version_minor >= 1)
    req->keep_alive = !http_header_has_token(connection, "close");
  else
    req->keep_alive = http_header_has_token(connection, "keep-alive");
  const http_str *upgrade = http_header_get(req, "upgrade");
  req->upgrade_websocket =
      http_header_has_token(connection, "upgrade") && http_header_has_token(upgrade, "websocket");
  if (!http_header_get(req, "host") && req->version_minor >= 1) {
    *why = "missing Host header";
    return 400;
  }
  return 0;
}

int http_parse_request(const char *buf, uint32_t header_bytes, const http_limits *limits,
                       http_request *req, const char **why) {
  memset(req, 0, offsetof(http_request, headers));
  *why = "";
  if (header_bytes > limits->max_header_bytes) {
    *why = "request header section too large";
    return 431;
  }
  req->header_bytes = header_bytes;
  const char *p = buf, *end = buf + header_bytes - 2; /* before the final CRLF */
  bool first = true;
  while (p < end) {
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (!eol || eol[1] != '\n') {
      *why = "bare CR or LF in header section";
      return 400;
    }
    uint32_t line_len = (uint32_t)(eol - p);
    if (memchr(p, '\n', line_len)) {
      *why = "bare LF in header section";
      return 400;
    }
    int rc = first ? parse_request_line(p, line_len, req, why)
                   : parse_header_line(p, line_len, limits, req, why);
    if (rc) return rc;
    first = false;
    p = eol + 2;
  }
  if (first) {
    *why = "empty request";
    return 400;
  }
  return interpret_headers(limits, req, why);
}

const char *http_status_text(int status) {
  switch (status) {
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 204:
    return "No Content";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 411:
    return "Length Required";
  case 413:
    return "Content Too Large";
  case 426:
    return "Upgrade Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Unknown";
  }
}

bool http_query_get(http_str query, const char *name, http_str *value) {
  size_t name_len = strlen(name);
  const char *p = query.ptr, *end = query.ptr + query.len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    const char *key_end = eq ? eq : stop;
    if ((size_t)(key_end - p) == name_len && memcmp(p, name, name_len) == 0) {
      value->ptr = eq ? eq + 1 : stop;
      value->len = (uint32_t)(stop - value->ptr);
      return true;
    }
    p = amp ? amp + 1 : end;
  }
  return false;
}
