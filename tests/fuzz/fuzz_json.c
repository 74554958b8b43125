/*
 * fuzz_json.c: libFuzzer target for the JSON tokenizer, accessors and writer.
 *
 * For every input: tokenize with small limits; check the tree invariants;
 * decode every string token (and compare it with json_string_equals and
 * json_string_raw); read every number with the integer accessors; look every
 * object key up again; then re-serialise the token tree with the writer,
 * tokenize that, and require the same shape and the same decoded values.
 * Separately, the raw input written as one string must always give valid JSON.
 * Any disagreement aborts, which libFuzzer reports as a crash.
 *
 * Single-threaded (libFuzzer calls the target from one thread).
 */
#include "bourse/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
  FUZZ_MAX_BYTES = 4096,
  FUZZ_MAX_DEPTH = 16, /* below JSON_WRITER_MAX_DEPTH, so every accepted tree can be rewritten */
  FUZZ_MAX_TOKENS = 512,
  FUZZ_OUT_CAP = 2 * FUZZ_MAX_BYTES + 64,
};

#define FUZZ_ASSERT(cond)                                                                          \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", __FILE__, __LINE__, #cond);            \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static json_token first_tokens[FUZZ_MAX_TOKENS], second_tokens[FUZZ_MAX_TOKENS];
static char rewritten[FUZZ_OUT_CAP];
static char decoded_a[FUZZ_MAX_BYTES + 1], decoded_b[FUZZ_MAX_BYTES + 1];

static const json_limits fuzz_limits = {FUZZ_MAX_BYTES, FUZZ_MAX_DEPTH, FUZZ_MAX_TOKENS};

/* Decodes string token i into buf; a token's decoded form is never longer than its raw form. */
static size_t decode_string(const json_doc *doc, uint32_t i, char *buf) {
  size_t n = 0;
  /* Exactly raw length + NUL must be enough. */
  FUZZ_ASSERT(json_string_unescape(doc, i, buf, doc->tokens[i].len + 1, &n) == JSON_OK);
  FUZZ_ASSERT(n <= doc->tokens[i].len);
  FUZZ_ASSERT(buf[n] == '\0');
  FUZZ_ASSERT(json_string_equals(doc, i, buf, n));
  const char *raw;
  size_t raw_len;
  bool plain = json_string_raw(doc, i, &raw, &raw_len);
  FUZZ_ASSERT(plain == !(doc->tokens[i].flags & JSON_TOKEN_ESCAPED));
  if (plain) FUZZ_ASSERT(raw_len == n && memcmp(raw, buf, n) == 0);
  if (n > 0) FUZZ_ASSERT(!json_string_equals(doc, i, buf, n - 1));
  return n;
}

static void check_number(const json_doc *doc, uint32_t i) {
  int64_t s = 0;
  uint64_t u = 0;
  json_status ss = json_get_int64(doc, i, &s), us = json_get_uint64(doc, i, &u);
  FUZZ_ASSERT(ss == JSON_OK || ss == JSON_ERR_NOT_INTEGER || ss == JSON_ERR_RANGE);
  if (ss == JSON_ERR_NOT_INTEGER) FUZZ_ASSERT(us == JSON_ERR_NOT_INTEGER);
  if (ss == JSON_OK && s > 0) FUZZ_ASSERT(us == JSON_OK && u == (uint64_t)s);
  if (us == JSON_OK && u <= (uint64_t)INT64_MAX) FUZZ_ASSERT(ss == JSON_OK && (uint64_t)s == u);
}

/* Rewrites the subtree at i with the writer (recursion bounded by FUZZ_MAX_DEPTH). */
static uint32_t rewrite(const json_doc *doc, uint32_t i, json_writer *w) {
  const json_token *t = &doc->tokens[i];
  uint32_t j = i + 1;
  size_t n;
  switch ((json_type)t->type) {
  case JSON_NULL:
    json_write_null(w);
    break;
  case JSON_TRUE:
    json_write_bool(w, true);
    break;
  case JSON_FALSE:
    json_write_bool(w, false);
    break;
  case JSON_NUMBER:
    check_number(doc, i);
    json_write_raw(w, doc->input + t->start, t->len);
    break;
  case JSON_STRING:
    n = decode_string(doc, i, decoded_a);
    json_write_string(w, decoded_a, n);
    break;
  case JSON_ARRAY:
    json_write_array_begin(w);
    for (uint32_t k = 0; k < t->count; k++) j = rewrite(doc, j, w);
    json_write_array_end(w);
    break;
  case JSON_OBJECT:
    json_write_object_begin(w);
    for (uint32_t k = 0; k < t->count; k++) {
      FUZZ_ASSERT(doc->tokens[j].type == JSON_STRING);
      n = decode_string(doc, j, decoded_a);
      /* Lookup by the decoded key finds this member or an earlier duplicate. */
      uint32_t found = json_object_get(doc, i, decoded_a, n);
      FUZZ_ASSERT(found != JSON_NONE && found <= j + 1);
      FUZZ_ASSERT(json_string_equals(doc, found - 1, decoded_a, n));
      json_write_key(w, decoded_a, n);
      j = rewrite(doc, j + 1, w);
    }
    json_write_object_end(w);
    break;
  default:
    FUZZ_ASSERT(!"unknown token type");
  }
  FUZZ_ASSERT(t->next == j);
  return j;
}

/* The two documents have the same tree and the same values. */
static void compare_docs(const json_doc *a, const json_doc *b) {
  FUZZ_ASSERT(a->count == b->count);
  for (uint32_t i = 0; i < a->count; i++) {
    const json_token *x = &a->tokens[i], *y = &b->tokens[i];
    FUZZ_ASSERT(x->type == y->type && x->count == y->count && x->next == y->next);
    if (x->type == JSON_NUMBER)
      FUZZ_ASSERT(x->len == y->len &&
                  memcmp(a->input + x->start, b->input + y->start, x->len) == 0);
    if (x->type == JSON_STRING) {
      size_t na = decode_string(a, i, decoded_a), nb = decode_string(b, i, decoded_b);
      FUZZ_ASSERT(na == nb && memcmp(decoded_a, decoded_b, na) == 0);
    }
  }
}

/* Whatever the bytes, the writer's string output is JSON that decodes to at most 3x as much. */
static void fuzz_writer_string(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_BYTES / 8) size = FUZZ_MAX_BYTES / 8; /* escaped: up to 6x, within limits */
  json_writer w;
  json_writer_init(&w, rewritten, sizeof rewritten);
  json_write_string(&w, (const char *)data, size);
  size_t len = 0;
  FUZZ_ASSERT(json_writer_finish(&w, &len) == JSON_OK);
  json_doc doc;
  FUZZ_ASSERT(json_parse(rewritten, len, second_tokens, &fuzz_limits, &doc) == JSON_OK);
  FUZZ_ASSERT(doc.count == 1 && doc.tokens[0].type == JSON_STRING);
  size_t n = decode_string(&doc, 0, decoded_b);
  FUZZ_ASSERT(n <= 3 * size); /* U+FFFD (3 bytes) per invalid byte at most */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_writer_string(data, size);

  json_doc doc;
  json_status st = json_parse((const char *)data, size, first_tokens, &fuzz_limits, &doc);
  if (st != JSON_OK) {
    FUZZ_ASSERT(doc.count == 0 && doc.error.status == st && doc.error.message != NULL);
    FUZZ_ASSERT(doc.error.offset <= size);
    return 0;
  }
  FUZZ_ASSERT(doc.count >= 1 && doc.count <= FUZZ_MAX_TOKENS);
  FUZZ_ASSERT(doc.tokens[0].next == doc.count);

  json_writer w;
  json_writer_init(&w, rewritten, sizeof rewritten);
  rewrite(&doc, 0, &w);
  size_t len = 0;
  FUZZ_ASSERT(json_writer_finish(&w, &len) == JSON_OK);
  FUZZ_ASSERT(len <= size); /* compact and decoded: never longer than the input */

  json_doc again;
  st = json_parse(rewritten, len, second_tokens, &fuzz_limits, &again);
  if (st != JSON_OK)
    fprintf(stderr, "reparse: %s at %zu\n", again.error.message, again.error.offset);
  FUZZ_ASSERT(st == JSON_OK);
  compare_docs(&doc, &again);
  return 0;
}
