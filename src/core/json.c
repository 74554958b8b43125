/*
 * json.c: the zero-copy JSON tokenizer and its accessors (see
 * include/bourse/json.h).
 *
 * Why hand-written: Debian has no yyjson, and cJSON and jansson allocate one
 * heap node per value; this runs on every client message on the io threads'
 * hot path, where nothing may allocate. The caller hands in the input and a
 * token array; one forward pass validates and tokenizes.
 *
 * Thread-safe: no global state. Used by the io threads (client messages),
 * tools and tests.
 *
 * Nesting without a stack: while a container is open its token's `next`
 * field (only meaningful once the container is closed) holds the index of the
 * enclosing container. Closing pops that link and stores the real `next`. So
 * depth is bounded by json_limits.max_depth alone, with no recursion and no
 * side array.
 */
#include "bourse/json.h"

#include "json_scan.h"

#include <string.h>

const char *json_status_text(json_status status) {
  switch (status) {
  case JSON_OK:
    return "ok";
  case JSON_ERR_EMPTY:
    return "empty message";
  case JSON_ERR_EOF:
    return "unexpected end of input";
  case JSON_ERR_SYNTAX:
    return "syntax error";
  case JSON_ERR_TRAILING:
    return "unexpected data after the value";
  case JSON_ERR_NUMBER:
    return "malformed number";
  case JSON_ERR_CONTROL_CHAR:
    return "control character in string";
  case JSON_ERR_ESCAPE:
    return "invalid escape in string";
  case JSON_ERR_SURROGATE:
    return "invalid UTF-16 surrogate escape";
  case JSON_ERR_UTF8:
    return "invalid UTF-8 in string";
  case JSON_ERR_TOO_LARGE:
    return "message too large";
  case JSON_ERR_TOO_DEEP:
    return "nesting too deep";
  case JSON_ERR_TOO_MANY_TOKENS:
    return "too many values";
  case JSON_ERR_TYPE:
    return "wrong type";
  case JSON_ERR_NOT_INTEGER:
    return "not an integer";
  case JSON_ERR_RANGE:
    return "number out of range";
  case JSON_ERR_NO_SPACE:
    return "buffer too small";
  case JSON_ERR_NESTING:
    return "writer calls out of order";
  }
  return "unknown json status";
}

/* ------------------------------------------------------------------------ */
/* Tokenizer. The hot path starts here.                                     */

typedef struct parser {
  const uint8_t *base;
  const uint8_t *end;
  json_error *error;
} parser;

static json_status parse_fail(const parser *ps, json_status status, const char *message,
                              const uint8_t *at) {
  ps->error->status = status;
  ps->error->message = message;
  ps->error->offset = (size_t)(at - ps->base);
  return status;
}

static inline const uint8_t *skip_space(const uint8_t *p, const uint8_t *end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

static inline int is_digit(uint8_t c) {
  return (unsigned)(c - '0') < 10u;
}

static inline int hex_value(uint8_t c) {
  if (is_digit(c)) return c - '0';
  c |= 0x20; /* 'A'..'F' -> 'a'..'f'; nothing else lands there */
  if ((unsigned)(c - 'a') < 6u) return c - 'a' + 10;
  return -1;
}

/* Reads the 4 hex digits of a \u escape at p (just after the 'u'). */
static json_status scan_hex4(const parser *ps, const uint8_t *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    if (p + i >= ps->end) return parse_fail(ps, JSON_ERR_EOF, "unterminated string", p + i);
    int h = hex_value(p[i]);
    if (h < 0) return parse_fail(ps, JSON_ERR_ESCAPE, "\\u needs 4 hex digits", p + i);
    v = v << 4 | (uint32_t)h;
  }
  *out = v;
  return JSON_OK;
}

/* Checks the escape at *pp (the backslash) and moves *pp past it. */
static json_status scan_escape(const parser *ps, const uint8_t **pp) {
  const uint8_t *p = *pp;
  if (ps->end - p < 2) return parse_fail(ps, JSON_ERR_EOF, "unterminated string", ps->end);
  switch (p[1]) {
  case '"':
  case '\\':
  case '/':
  case 'b':
  case 'f':
  case 'n':
  case 'r':
  case 't':
    *pp = p + 2;
    return JSON_OK;
  case 'u':
    break;
  default:
    return parse_fail(ps, JSON_ERR_ESCAPE, "invalid escape", p);
  }
  uint32_t unit;
  json_status st = scan_hex4(ps, p + 2, &unit);
  if (st != JSON_OK) return st;
  if (unit >= 0xDC00 && unit <= 0xDFFF)
    return parse_fail(ps, JSON_ERR_SURROGATE, "low surrogate without a high one", p);
  if (unit < 0xD800 || unit > 0xDBFF) {
    *pp = p + 6;
    return JSON_OK;
  }
  /* A high surrogate must be followed at once by an escaped low one. */
  const uint8_t *q = p + 6;
  if (ps->end - q < 2) return parse_fail(ps, JSON_ERR_EOF, "unterminated string", ps->end);
  if (q[0] != '\\' || q[1] != 'u')
    return parse_fail(ps, JSON_ERR_SURROGATE, "high surrogate without a low one", p);
  st = scan_hex4(ps, q + 2, &unit);
  if (st != JSON_OK) return st;
  if (unit < 0xDC00 || unit > 0xDFFF)
    return parse_fail(ps, JSON_ERR_SURROGATE, "high surrogate without a low one", p);
  *pp = q + 6;
  return JSON_OK;
}

/*
 * Scans a string body from *pp (just after the opening quote) and moves *pp
 * past the closing quote. Plain ASCII is skipped 8 bytes at a time; only
 * escapes, control bytes and non-ASCII bytes take the slow branch.
 */
static inline __attribute__((always_inline)) json_status
scan_string(const parser *ps, const uint8_t **pp, uint8_t *flags) {
  const uint8_t *p = *pp, *end = ps->end;
  for (;;) {
    while (end - p >= 8) {
      unsigned plain = json_scan_plain8(p);
      p += plain;
      if (plain < 8) break;
    }
    if (p == end) return parse_fail(ps, JSON_ERR_EOF, "unterminated string", p);
    uint8_t c = *p;
    if (c == '"') {
      *pp = p + 1;
      return JSON_OK;
    }
    if (c == '\\') {
      json_status st = scan_escape(ps, &p);
      if (st != JSON_OK) return st;
      *flags |= JSON_TOKEN_ESCAPED;
    } else if (c < 0x20) {
      return parse_fail(ps, JSON_ERR_CONTROL_CHAR, "control character in string", p);
    } else if (c >= 0x80) {
      size_t n = json_utf8_sequence(p, end);
      if (n == 0) return parse_fail(ps, JSON_ERR_UTF8, "invalid UTF-8 in string", p);
      p += n;
    } else {
      p++; /* a plain byte in the last 7 */
    }
  }
}

/* Bytes that may not directly follow a number: they would continue it. */
static inline int continues_number(uint8_t c) {
  return is_digit(c) || c == '.' || c == '+' || c == '-' ||
         ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at *pp. */
static json_status scan_number(const parser *ps, const uint8_t **pp) {
  const uint8_t *p = *pp, *end = ps->end;
  if (*p == '-') p++;
  if (p == end || !is_digit(*p))
    return parse_fail(ps, JSON_ERR_NUMBER, "'-' must be followed by a digit", p);
  if (*p == '0') {
    p++;
    if (p < end && is_digit(*p)) return parse_fail(ps, JSON_ERR_NUMBER, "leading zero", p - 1);
  } else {
    while (p < end && is_digit(*p)) p++;
  }
  if (p < end && *p == '.') {
    p++;
    if (p == end || !is_digit(*p))
      return parse_fail(ps, JSON_ERR_NUMBER, "'.' must be followed by a digit", p);
    while (p < end && is_digit(*p)) p++;
  }
  if (p < end && (*p | 0x20) == 'e') {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p == end || !is_digit(*p))
      return parse_fail(ps, JSON_ERR_NUMBER, "exponent needs digits", p);
    while (p < end && is_digit(*p)) p++;
  }
  if (p < end && continues_number(*p)) return parse_fail(ps, JSON_ERR_NUMBER, "invalid number", p);
  *pp = p;
  return JSON_OK;
}

/* Matches true/false/null at *pp. */
static json_status scan_literal(const parser *ps, const uint8_t **pp, json_token *t) {
  const uint8_t *p = *pp;
  size_t avail = (size_t)(ps->end - p);
  if (avail >= 4 && memcmp(p, "true", 4) == 0) {
    t->type = JSON_TRUE;
    t->len = 4;
  } else if (avail >= 5 && memcmp(p, "false", 5) == 0) {
    t->type = JSON_FALSE;
    t->len = 5;
  } else if (avail >= 4 && memcmp(p, "null", 4) == 0) {
    t->type = JSON_NULL;
    t->len = 4;
  } else {
    return parse_fail(ps, JSON_ERR_SYNTAX, "invalid literal", p);
  }
  *pp = p + t->len;
  return JSON_OK;
}

/* The error for a byte that cannot start a value. */
static json_status bad_value_start(const parser *ps, const uint8_t *p) {
  switch (*p) {
  case '/':
    return parse_fail(ps, JSON_ERR_SYNTAX, "comments are not allowed", p);
  case '\'':
    return parse_fail(ps, JSON_ERR_SYNTAX, "strings need double quotes", p);
  case ']':
  case '}':
    return parse_fail(ps, JSON_ERR_SYNTAX, "expected a value", p);
  case 'N':
  case 'I':
    return parse_fail(ps, JSON_ERR_SYNTAX, "NaN and Infinity are not JSON", p);
  case '+':
  case '.':
    return parse_fail(ps, JSON_ERR_NUMBER, "a number starts with '-' or a digit", p);
  default:
    return parse_fail(ps, JSON_ERR_SYNTAX, "unexpected character", p);
  }
}

/*
 * Scans one scalar value at *p into t (type, len; start/flags already set
 * for non-strings). Strings adjust t->start past the quote.
 */
static inline __attribute__((always_inline)) json_status
scan_scalar(const parser *ps, const uint8_t **pp, json_token *t) {
  const uint8_t *p = *pp;
  json_status st;
  if (*p == '"') {
    t->type = JSON_STRING;
    t->start++;
    p++;
    st = scan_string(ps, &p, &t->flags);
    if (st != JSON_OK) return st;
    t->len = (uint32_t)(p - 1 - ps->base) - t->start;
  } else if (*p == '-' || is_digit(*p)) {
    t->type = JSON_NUMBER;
    st = scan_number(ps, &p);
    if (st != JSON_OK) return st;
    t->len = (uint32_t)(p - ps->base) - t->start;
  } else if (*p == 't' || *p == 'f' || *p == 'n') {
    st = scan_literal(ps, &p, t);
    if (st != JSON_OK) return st;
  } else {
    return bad_value_start(ps, p);
  }
  *pp = p;
  return JSON_OK;
}

static inline void token_init(json_token *t, const parser *ps, const uint8_t *p) {
  t->start = (uint32_t)(p - ps->base);
  t->len = 0;
  t->count = 0;
  t->flags = 0;
}

/*
 * The parse loop: a state machine over three states (a value is due, a key
 * is due, a value just ended) with an explicit container stack threaded
 * through the tokens (see the file comment).
 */
static json_status parse_document(const parser *ps, json_token *tokens, const json_limits *limits,
                                  uint32_t *out_count) {
  const uint8_t *p = ps->base, *end = ps->end;
  uint32_t ntok = 0, depth = 0, parent = JSON_NONE;
  const uint32_t cap = limits->max_tokens, max_depth = limits->max_depth;
  int in_object = 0;
  json_status st;
  json_token *t;
  uint8_t closer;

value:
  p = skip_space(p, end);
  if (p == end) {
    if (ntok == 0) return parse_fail(ps, JSON_ERR_EMPTY, "empty message", p);
    return parse_fail(ps, JSON_ERR_EOF, "unexpected end of input", p);
  }
  if (ntok == cap) return parse_fail(ps, JSON_ERR_TOO_MANY_TOKENS, "too many values", p);
  t = &tokens[ntok];
  token_init(t, ps, p);
  if (parent != JSON_NONE && !in_object) tokens[parent].count++;
  if (*p == '[' || *p == '{') {
    if (depth == max_depth) return parse_fail(ps, JSON_ERR_TOO_DEEP, "nesting too deep", p);
    depth++;
    in_object = *p == '{';
    t->type = in_object ? JSON_OBJECT : JSON_ARRAY;
    t->next = parent; /* stack link, replaced when the container closes */
    parent = ntok++;
    p = skip_space(p + 1, end);
    if (p < end && *p == (in_object ? '}' : ']')) goto close;
    if (in_object) goto key;
    goto value;
  }
  st = scan_scalar(ps, &p, t);
  if (st != JSON_OK) return st;
  t->next = ++ntok;
  goto after_value;

key:
  if (p == end) return parse_fail(ps, JSON_ERR_EOF, "unexpected end of input", p);
  if (*p != '"') {
    if (*p == '}') return parse_fail(ps, JSON_ERR_SYNTAX, "trailing comma", p);
    if (*p == '\'') return parse_fail(ps, JSON_ERR_SYNTAX, "strings need double quotes", p);
    return parse_fail(ps, JSON_ERR_SYNTAX, "expected a string key", p);
  }
  if (ntok == cap) return parse_fail(ps, JSON_ERR_TOO_MANY_TOKENS, "too many values", p);
  tokens[parent].count++;
  t = &tokens[ntok];
  token_init(t, ps, p);
  st = scan_scalar(ps, &p, t);
  if (st != JSON_OK) return st;
  t->next = ++ntok;
  p = skip_space(p, end);
  if (p == end) return parse_fail(ps, JSON_ERR_EOF, "unexpected end of input", p);
  if (*p != ':') return parse_fail(ps, JSON_ERR_SYNTAX, "expected ':' after key", p);
  p++;
  goto value;

after_value:
  p = skip_space(p, end);
  if (parent == JSON_NONE) {
    if (p != end) return parse_fail(ps, JSON_ERR_TRAILING, "unexpected data after the value", p);
    *out_count = ntok;
    return JSON_OK;
  }
  if (p == end) return parse_fail(ps, JSON_ERR_EOF, "unexpected end of input", p);
  closer = in_object ? '}' : ']';
  if (*p == ',') {
    p = skip_space(p + 1, end);
    if (in_object) goto key;
    if (p < end && *p == ']') return parse_fail(ps, JSON_ERR_SYNTAX, "trailing comma", p);
    goto value;
  }
  if (*p == closer) goto close;
  return parse_fail(ps, JSON_ERR_SYNTAX, in_object ? "expected ',' or '}'" : "expected ',' or ']'",
                    p);

close: /* p is at the closing bracket of tokens[parent] */
  t = &tokens[parent];
  t->len = (uint32_t)(p + 1 - ps->base) - t->start;
  parent = t->next;
  t->next = ntok;
  depth--;
  in_object = parent != JSON_NONE && tokens[parent].type == JSON_OBJECT;
  p++;
  goto after_value;
}

json_status json_parse(const char *input, size_t len, json_token *tokens, const json_limits *limits,
                       json_doc *doc) {
  doc->input = input;
  doc->len = len;
  doc->tokens = tokens;
  doc->count = 0;
  doc->error = (json_error){JSON_OK, "ok", 0};
  parser ps = {(const uint8_t *)input, (const uint8_t *)input + len, &doc->error};
  if (len > limits->max_bytes || len > JSON_MAX_INPUT) {
    size_t limit = limits->max_bytes < JSON_MAX_INPUT ? limits->max_bytes : JSON_MAX_INPUT;
    return parse_fail(&ps, JSON_ERR_TOO_LARGE, "message too large", ps.base + limit);
  }
  uint32_t count = 0;
  json_status st = parse_document(&ps, tokens, limits, &count);
  if (st == JSON_OK) doc->count = count;
  return st;
}

/* ------------------------------------------------------------------------ */
/* Accessors. The document was validated, so escapes here are well-formed.  */

static const json_token *token_of(const json_doc *doc, uint32_t index, json_type type) {
  if (index >= doc->count || doc->tokens[index].type != type) return NULL;
  return &doc->tokens[index];
}

static uint32_t hex4_value(const uint8_t *p) {
  return (uint32_t)(hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 |
                    hex_value(p[3]));
}

static size_t utf8_encode(uint32_t cp, uint8_t out[4]) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xC0 | cp >> 6);
    out[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | cp >> 12);
    out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | cp >> 18);
  out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes the (validated) escape at *pp, moves *pp past it, returns the byte count. */
static size_t decode_escape(const uint8_t **pp, uint8_t out[4]) {
  const uint8_t *p = *pp;
  *pp = p + 2;
  switch (p[1]) {
  case 'b':
    out[0] = '\b';
    return 1;
  case 'f':
    out[0] = '\f';
    return 1;
  case 'n':
    out[0] = '\n';
    return 1;
  case 'r':
    out[0] = '\r';
    return 1;
  case 't':
    out[0] = '\t';
    return 1;
  case 'u':
    break;
  default:
    out[0] = p[1];
    return 1; /* '"', '\\', '/' */
  }
  uint32_t cp = hex4_value(p + 2);
  *pp = p + 6;
  if (cp >= 0xD800 && cp <= 0xDBFF) { /* the tokenizer checked the low half follows */
    cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4_value(p + 8) - 0xDC00);
    *pp = p + 12;
  }
  return utf8_encode(cp, out);
}

static bool token_string_equals(const json_doc *doc, const json_token *t, const char *s,
                                size_t len) {
  const uint8_t *p = (const uint8_t *)doc->input + t->start, *end = p + t->len;
  if (!(t->flags & JSON_TOKEN_ESCAPED)) return t->len == len && memcmp(p, s, len) == 0;
  if (len > t->len) return false; /* decoding never lengthens */
  const uint8_t *q = (const uint8_t *)s, *qend = q + len;
  while (p < end) {
    if (*p != '\\') {
      if (q == qend || *q != *p) return false;
      p++;
      q++;
      continue;
    }
    uint8_t decoded[4];
    size_t n = decode_escape(&p, decoded);
    if ((size_t)(qend - q) < n || memcmp(q, decoded, n) != 0) return false;
    q += n;
  }
  return q == qend;
}

bool json_string_equals(const json_doc *doc, uint32_t index, const char *s, size_t len) {
  const json_token *t = token_of(doc, index, JSON_STRING);
  return t != NULL && token_string_equals(doc, t, s, len);
}

uint32_t json_object_get(const json_doc *doc, uint32_t object, const char *key, size_t key_len) {
  const json_token *obj = token_of(doc, object, JSON_OBJECT);
  if (obj == NULL) return JSON_NONE;
  const json_token *tokens = doc->tokens;
  uint32_t k = object + 1;
  for (uint32_t n = 0; n < obj->count; n++) {
    if (token_string_equals(doc, &tokens[k], key, key_len)) return k + 1;
    k = tokens[k + 1].next;
  }
  return JSON_NONE;
}

/* Reads a number token's sign and integer magnitude. */
static json_status read_integer(const json_doc *doc, uint32_t index, bool *negative,
                                uint64_t *magnitude) {
  const json_token *t = token_of(doc, index, JSON_NUMBER);
  if (t == NULL) return JSON_ERR_TYPE;
  const uint8_t *p = (const uint8_t *)doc->input + t->start, *end = p + t->len;
  *negative = *p == '-';
  if (*negative) p++;
  uint64_t v = 0;
  bool overflow = false;
  for (; p < end; p++) {
    if (!is_digit(*p)) return JSON_ERR_NOT_INTEGER; /* '.', 'e' or 'E' */
    overflow |= __builtin_mul_overflow(v, 10u, &v);
    overflow |= __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v);
  }
  if (overflow) return JSON_ERR_RANGE;
  *magnitude = v;
  return JSON_OK;
}

json_status json_get_int64(const json_doc *doc, uint32_t index, int64_t *out) {
  bool negative;
  uint64_t magnitude;
  json_status st = read_integer(doc, index, &negative, &magnitude);
  if (st != JSON_OK) return st;
  if (!negative) {
    if (magnitude > (uint64_t)INT64_MAX) return JSON_ERR_RANGE;
    *out = (int64_t)magnitude;
  } else {
    if (magnitude > (uint64_t)INT64_MAX + 1) return JSON_ERR_RANGE;
    *out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
  }
  return JSON_OK;
}

json_status json_get_uint64(const json_doc *doc, uint32_t index, uint64_t *out) {
  bool negative;
  uint64_t magnitude;
  json_status st = read_integer(doc, index, &negative, &magnitude);
  if (st != JSON_OK) return st;
  if (negative) return JSON_ERR_RANGE;
  *out = magnitude;
  return JSON_OK;
}

json_status json_get_bool(const json_doc *doc, uint32_t index, bool *out) {
  if (index >= doc->count) return JSON_ERR_TYPE;
  uint8_t type = doc->tokens[index].type;
  if (type != JSON_TRUE && type != JSON_FALSE) return JSON_ERR_TYPE;
  *out = type == JSON_TRUE;
  return JSON_OK;
}

json_status json_string_unescape(const json_doc *doc, uint32_t index, char *buf, size_t cap,
                                 size_t *out_len) {
  const json_token *t = token_of(doc, index, JSON_STRING);
  if (t == NULL) return JSON_ERR_TYPE;
  const uint8_t *p = (const uint8_t *)doc->input + t->start, *end = p + t->len;
  size_t o = 0;
  if (!(t->flags & JSON_TOKEN_ESCAPED)) { /* the common case: one copy */
    if (t->len >= cap) return JSON_ERR_NO_SPACE;
    memcpy(buf, p, t->len);
    buf[t->len] = '\0';
    *out_len = t->len;
    return JSON_OK;
  }
  for (;;) {
    const uint8_t *backslash = memchr(p, '\\', (size_t)(end - p));
    size_t run = (size_t)((backslash ? backslash : end) - p);
    if (run >= cap - o) return JSON_ERR_NO_SPACE; /* keeps room for the NUL */
    memcpy(buf + o, p, run);
    o += run;
    p += run;
    if (backslash == NULL) break;
    uint8_t decoded[4];
    size_t n = decode_escape(&p, decoded);
    if (n >= cap - o) return JSON_ERR_NO_SPACE;
    memcpy(buf + o, decoded, n);
    o += n;
  }
  buf[o] = '\0';
  *out_len = o;
  return JSON_OK;
}

bool json_string_raw(const json_doc *doc, uint32_t index, const char **ptr, size_t *len) {
  const json_token *t = token_of(doc, index, JSON_STRING);
  if (t == NULL || (t->flags & JSON_TOKEN_ESCAPED)) return false;
  *ptr = doc->input + t->start;
  *len = t->len;
  return true;
}
