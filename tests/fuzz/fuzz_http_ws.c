/*
 * fuzz_http_ws.c: libFuzzer target for the HTTP request parser and the
 * WebSocket frame parser, unmasking and UTF-8 validator. The first input byte
 * picks the mode; the rest is the data. Besides "no crash, no sanitizer
 * report", it checks properties that must hold for any input:
 *   HTTP: finding the header end incrementally (at a split point taken from
 *         the input) gives the same answer as in one go; every parsed string
 *         lies inside the header section.
 *   WS:   a header parse on any shorter prefix asks for more bytes; unmasking
 *         in two pieces equals unmasking at once; UTF-8 validation fed in two
 *         pieces equals a simple reference decoder.
 */
#include "bourse/http.h"
#include "bourse/ws.h"

#include <stdlib.h>
#include <string.h>

static void check_str_inside(http_str s, const char *buf, uint32_t len) {
  if (s.len == 0) return;
  if (s.ptr < buf || s.ptr + s.len > buf + len) abort();
}

static void fuzz_http(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  uint32_t scanned = 0;
  uint32_t whole = http_find_header_end(buf, size, &scanned);
  size_t split = size ? data[0] % (size + 1) : 0;
  scanned = 0;
  uint32_t first = http_find_header_end(buf, split, &scanned);
  uint32_t incremental = first ? first : http_find_header_end(buf, size, &scanned);
  if (first != 0 && whole != first) abort();
  if (incremental != whole) abort();
  if (whole == 0) return;
  http_limits limits = {.max_header_bytes = 4096, .max_headers = 16, .max_body_bytes = 1 << 20};
  http_request req;
  const char *why;
  if (http_parse_request(buf, whole, &limits, &req, &why) != 0) return;
  check_str_inside(req.target, buf, whole);
  check_str_inside(req.path, buf, whole);
  check_str_inside(req.query, buf, whole);
  for (unsigned i = 0; i < req.header_count; i++) {
    check_str_inside(req.headers[i].name, buf, whole);
    check_str_inside(req.headers[i].value, buf, whole);
  }
  const http_str *key = http_header_get(&req, "sec-websocket-key");
  char accept[WS_ACCEPT_LEN];
  if (key && ws_key_valid(key->ptr, key->len) && ws_accept_key(key->ptr, key->len, accept) != 0)
    abort();
  http_str value;
  if (http_query_get(req.query, "stream", &value)) check_str_inside(value, buf, whole);
}

/* Reference UTF-8 check: decode code points the slow, obvious way. */
static bool utf8_reference(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t c = s[i];
    size_t extra;
    uint32_t min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, min = 0x10000, c &= 0x07;
    } else {
      return false;
    }
    if (i + extra >= n) return false; /* cut off at the end */
    for (size_t k = 1; k <= extra; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      c = c << 6 | (s[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

static void fuzz_ws(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size + 1);
  memcpy(copy, data, size);
  size_t pos = 0;
  while (pos < size) {
    ws_frame f;
    int rc = ws_frame_parse(copy + pos, size - pos, &f);
    if (rc <= 0) break;
    for (size_t prefix = 0; prefix < (size_t)rc; prefix++) {
      ws_frame g;
      int partial = ws_frame_parse(copy + pos, prefix, &g);
      if (partial > 0) abort(); /* a shorter prefix can never hold a whole header */
    }
    if (f.payload_len > size - pos - (size_t)rc) break;
    uint8_t *payload = copy + pos + rc;
    size_t n = (size_t)f.payload_len, cut = n ? payload[0] % (n + 1) : 0;
    uint8_t *twice = malloc(n + 1);
    memcpy(twice, payload, n);
    ws_unmask(payload, n, f.mask, 0);
    ws_unmask(twice, cut, f.mask, 0);
    ws_unmask(twice + cut, n - cut, f.mask, cut);
    if (memcmp(payload, twice, n) != 0) abort();
    free(twice);
    uint32_t state = WS_UTF8_ACCEPT;
    bool ok = ws_utf8_feed(&state, payload, cut) && ws_utf8_feed(&state, payload + cut, n - cut) &&
              state == WS_UTF8_ACCEPT;
    if (ok != utf8_reference(payload, n)) abort();
    pos += (size_t)rc + n;
  }
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1)
    fuzz_ws(data + 1, size - 1);
  else
    fuzz_http(data + 1, size - 1);
  return 0;
}
