/*
 * test_json.c: the JSON tokenizer, its accessors and the writer.
 *
 * Inputs are copied into exact-size heap buffers and token arrays are
 * allocated with exactly max_tokens entries, so under ASan any read past the
 * input or write past the token capacity is caught.
 */
#include "bourse/json.h"
#include "check.h"

#include <stdbool.h>
#include <stdint.h>

/* A string literal as (pointer, length), embedded NUL bytes included. */
#define S(literal) literal, sizeof(literal) - 1

typedef struct parsed {
  char *input;
  json_token *tokens;
  json_doc doc;
  json_status status;
} parsed;

static parsed parse_limited(const char *s, size_t len, uint32_t max_depth, uint32_t max_tokens,
                            size_t max_bytes) {
  parsed p;
  p.input = malloc(len ? len : 1);
  memcpy(p.input, s, len);
  p.tokens = malloc(sizeof(json_token) * (max_tokens ? max_tokens : 1));
  json_limits limits = {max_bytes, max_depth, max_tokens};
  p.status = json_parse(p.input, len, p.tokens, &limits, &p.doc);
  return p;
}

static parsed parse_len(const char *s, size_t len) {
  return parse_limited(s, len, 64, 4096, 1u << 20);
}

static parsed parse_str(const char *s) {
  return parse_len(s, strlen(s));
}

static void parsed_free(parsed *p) {
  free(p->input);
  free(p->tokens);
}

/* ------------------------------------------------------------------------ */
/* Tree shape.                                                              */

/* One letter per token (n f t d s a o), containers followed by their count. */
static void shape_of(const json_doc *doc, char *out, size_t cap) {
  static const char letters[] = "nftdsao";
  size_t o = 0;
  out[0] = '\0';
  for (uint32_t i = 0; i < doc->count && o + 16 < cap; i++) {
    const json_token *t = &doc->tokens[i];
    o += (size_t)snprintf(out + o, cap - o, i ? " %c" : "%c", letters[t->type]);
    if (t->type == JSON_ARRAY || t->type == JSON_OBJECT)
      o += (size_t)snprintf(out + o, cap - o, "%u", t->count);
  }
}

/* Checks the token spans point at what their type says. */
static bool span_ok(const json_doc *doc, const json_token *t) {
  const char *s = doc->input + t->start;
  if ((size_t)t->start + t->len > doc->len || (t->len == 0 && t->type != JSON_STRING)) return false;
  switch (t->type) {
  case JSON_NULL:
    return t->len == 4 && memcmp(s, "null", 4) == 0;
  case JSON_TRUE:
    return t->len == 4 && memcmp(s, "true", 4) == 0;
  case JSON_FALSE:
    return t->len == 5 && memcmp(s, "false", 5) == 0;
  case JSON_NUMBER:
    return *s == '-' || (*s >= '0' && *s <= '9');
  case JSON_STRING:
    return t->start >= 1 && s[-1] == '"' && t->start + t->len < doc->len && s[t->len] == '"';
  case JSON_ARRAY:
    return s[0] == '[' && s[t->len - 1] == ']';
  case JSON_OBJECT:
    return s[0] == '{' && s[t->len - 1] == '}';
  }
  return false;
}

/* Walks the subtree at i the slow way, checking every token; returns its end. */
static uint32_t walk_subtree(const json_doc *doc, uint32_t i, bool *ok) {
  if (i >= doc->count) {
    *ok = false;
    return doc->count;
  }
  const json_token *t = &doc->tokens[i];
  uint32_t j = i + 1;
  if (!span_ok(doc, t)) *ok = false;
  if (t->type == JSON_ARRAY) {
    for (uint32_t n = 0; n < t->count && *ok; n++) j = walk_subtree(doc, j, ok);
  } else if (t->type == JSON_OBJECT) {
    for (uint32_t n = 0; n < t->count && *ok; n++) {
      if (j >= doc->count || doc->tokens[j].type != JSON_STRING) *ok = false;
      j = walk_subtree(doc, j, ok);
      j = walk_subtree(doc, j, ok);
    }
  } else if (t->count != 0) {
    *ok = false;
  }
  if (t->next != j) *ok = false;
  return j;
}

static bool tree_ok(const json_doc *doc) {
  bool ok = doc->count > 0;
  if (ok && walk_subtree(doc, 0, &ok) != doc->count) ok = false;
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Valid documents (JSONTestSuite y_ cases and more).                       */

static const struct {
  const char *json;
  size_t len;
  const char *shape;
} valid_cases[] = {
    {S("[]"), "a0"},
    {S("{}"), "o0"},
    {S("[[]   ]"), "a1 a0"},
    {S("[\"\"]"), "a1 s"},
    {S("[false]"), "a1 f"},
    {S("[null, 1, \"1\", {}]"), "a4 n d s o0"},
    {S("[1\n]"), "a1 d"},
    {S(" [1]"), "a1 d"},
    {S("[1,null,null,null,2]"), "a5 d n n n d"},
    {S("[2] "), "a1 d"},
    {S(" [] "), "a0"},
    {S("\t\r\n [\t\r\n 1 \t\r\n , \t\r\n 2 \t\r\n ] \t\r\n "), "a2 d d"},
    {S("[123e65]"), "a1 d"},
    {S("[0e+1]"), "a1 d"},
    {S("[0e1]"), "a1 d"},
    {S("[ 4]"), "a1 d"},
    {S("[-0.000000000000000000000000000000000000000000000000000000000001]"), "a1 d"},
    {S("[20e1]"), "a1 d"},
    {S("[-0]"), "a1 d"},
    {S("[-123]"), "a1 d"},
    {S("[1E22]"), "a1 d"},
    {S("[1E-2]"), "a1 d"},
    {S("[1E+2]"), "a1 d"},
    {S("[123.456e78]"), "a1 d"},
    {S("[1e-2]"), "a1 d"},
    {S("[123.456789]"), "a1 d"},
    {S("[0.4e006699999999999999999999999999999999999999999999999999999999999999]"), "a1 d"},
    {S("{\"asd\":\"sdf\", \"dfg\":\"fgh\"}"), "o2 s s s s"},
    {S("{\"a\":\"b\",\"a\":\"c\"}"), "o2 s s s s"},
    {S("{\"\":0}"), "o1 s d"},
    {S("{\"foo\\u0000bar\": 42}"), "o1 s d"},
    {S("{ \"min\": -1.0e+28, \"max\": 1.0e+28 }"), "o2 s d s d"},
    {S("{\"a\":[]}"), "o1 s a0"},
    {S("{\n\"a\": \"b\"\n}"), "o1 s s"},
    {S("{\"a\":{\"b\":{\"c\":[1,[2,{\"d\":null}],3]}},\"e\":true}"),
     "o2 s o1 s o1 s a3 d a2 d o1 s n d s t"},
    {S("[[[],[[]]],[],{}]"), "a3 a2 a0 a1 a0 a0 o0"},
    {S("[\"\\u0060\\u012a\\u12AB\"]"), "a1 s"},
    {S("[\"\\uD801\\udc37\"]"), "a1 s"},
    {S("[\"\\ud83d\\ude39\\ud83d\\udc8d\"]"), "a1 s"},
    {S("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"), "a1 s"},
    {S("[\"\\\\u0000\"]"), "a1 s"},
    {S("[\"a/*b*/c/*d//e\"]"), "a1 s"},
    {S("[\"\\u0012\"]"), "a1 s"},
    {S("[\"\\uFFFF\"]"), "a1 s"},
    {S("[\"\\uDBFF\\uDFFF\"]"), "a1 s"},
    {S("[\"\xf4\x8f\xbf\xbf\"]"), "a1 s"},
    {S("[\"\xef\xbf\xbf\"]"), "a1 s"},
    {S("[\"\xcf\x80\"]"), "a1 s"},
    {S("[\"\xe2\x80\xa8\"]"), "a1 s"},
    {S("[\"\xe2\x82\xac\xf0\x9d\x84\x9e\"]"), "a1 s"},
    {S("[\"a\x7f"
       "a\"]"),
     "a1 s"},
    {S("false"), "f"},
    {S("true"), "t"},
    {S("null"), "n"},
    {S("42"), "d"},
    {S("-0.1"), "d"},
    {S("\"asd\""), "s"},
    {S("\"\""), "s"},
    {S(" \" \" "), "s"},
    {S("[\"a\"]\n"), "a1 s"},
    {S("{\"op\":\"order.place\",\"id\":7,\"args\":{\"market\":\"BTCUSDT\",\"side\":\"buy\","
       "\"type\":\"limit\",\"price\":\"50000.1\",\"qty\":\"0.25\",\"tif\":\"gtc\","
       "\"post_only\":false,\"client_id\":\"bot-1\",\"stp\":\"none\"}}"),
     "o3 s s s d s o9 s s s s s s s s s s s s s f s s s s"},
};

static void test_valid_documents(void) {
  for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
    parsed p = parse_len(valid_cases[i].json, valid_cases[i].len);
    char shape[512];
    shape_of(&p.doc, shape, sizeof shape);
    if (p.status != JSON_OK)
      fprintf(stderr, "valid case %zu rejected: %s at %zu\n", i, p.doc.error.message,
              p.doc.error.offset);
    CHECK_EQ_INT(p.status, JSON_OK);
    CHECK_EQ_STR(shape, valid_cases[i].shape);
    CHECK(tree_ok(&p.doc));
    parsed_free(&p);
  }
}

/* ------------------------------------------------------------------------ */
/* Invalid documents: JSONTestSuite n_ cases and the i_ cases we reject.    */

static const struct {
  const char *json;
  size_t len;
  json_status expect;
} invalid_cases[] = {
    /* empty */
    {S(""), JSON_ERR_EMPTY},
    {S(" "), JSON_ERR_EMPTY},
    {S("\n\t\r "), JSON_ERR_EMPTY},
    /* structure */
    {S("[1 true]"), JSON_ERR_SYNTAX},
    {S("[a\xe5]"), JSON_ERR_SYNTAX},
    {S("[\"\": 1]"), JSON_ERR_SYNTAX},
    {S("[,1]"), JSON_ERR_SYNTAX},
    {S("[1,,2]"), JSON_ERR_SYNTAX},
    {S("[\"x\",,]"), JSON_ERR_SYNTAX},
    {S("[x"), JSON_ERR_SYNTAX},
    {S("[3[4]]"), JSON_ERR_SYNTAX},
    {S("[\xff]"), JSON_ERR_SYNTAX},
    {S("[1:2]"), JSON_ERR_SYNTAX},
    {S("[,]"), JSON_ERR_SYNTAX},
    {S("[   , \"\"]"), JSON_ERR_SYNTAX},
    {S("[*]"), JSON_ERR_SYNTAX},
    {S("[fals]"), JSON_ERR_SYNTAX},
    {S("[nul]"), JSON_ERR_SYNTAX},
    {S("[tru]"), JSON_ERR_SYNTAX},
    {S("[1 000.0]"), JSON_ERR_SYNTAX},
    {S("[\xef\xbc\x91]"), JSON_ERR_SYNTAX},
    {S("[\"x\", truth]"), JSON_ERR_SYNTAX},
    {S("{[: \"x\"}"), JSON_ERR_SYNTAX},
    {S("{\"x\", null}"), JSON_ERR_SYNTAX},
    {S("{\"x\"::\"b\"}"), JSON_ERR_SYNTAX},
    {S("{\xf0\x9f\x87\xa8\xf0\x9f\x87\xad}"), JSON_ERR_SYNTAX},
    {S("{\"a\":\"a\" 123}"), JSON_ERR_SYNTAX},
    {S("{key: 'value'}"), JSON_ERR_SYNTAX},
    {S("{\"a\" b}"), JSON_ERR_SYNTAX},
    {S("{:\"b\"}"), JSON_ERR_SYNTAX},
    {S("{\"a\" \"b\"}"), JSON_ERR_SYNTAX},
    {S("{1:1}"), JSON_ERR_SYNTAX},
    {S("{null:null,null:null}"), JSON_ERR_SYNTAX},
    {S("{\"a\":\"b\",,\"c\":\"d\"}"), JSON_ERR_SYNTAX},
    {S("{a: \"b\"}"), JSON_ERR_SYNTAX},
    {S("[\\u0020\"asd\"]"), JSON_ERR_SYNTAX},
    {S("[\\n]"), JSON_ERR_SYNTAX},
    {S("abc"), JSON_ERR_SYNTAX},
    {S("<.>"), JSON_ERR_SYNTAX},
    {S("]"), JSON_ERR_SYNTAX},
    {S("}"), JSON_ERR_SYNTAX},
    {S("[\0]"), JSON_ERR_SYNTAX},
    {S("*"), JSON_ERR_SYNTAX},
    {S("\xc3\xa5"), JSON_ERR_SYNTAX},
    {S("\xef\xbb\xbf"), JSON_ERR_SYNTAX},
    {S("\xef\xbb\xbf{}"), JSON_ERR_SYNTAX},
    {S("[\f]"), JSON_ERR_SYNTAX},
    {S("[\v]"), JSON_ERR_SYNTAX},
    {S("[\xe2\x81\xa0]"), JSON_ERR_SYNTAX},
    {S("[\xc2\xa0]"), JSON_ERR_SYNTAX},
    {S("{\"a\":}"), JSON_ERR_SYNTAX},
    /* trailing commas */
    {S("[1,]"), JSON_ERR_SYNTAX},
    {S("[\"\",]"), JSON_ERR_SYNTAX},
    {S("[1,,]"), JSON_ERR_SYNTAX},
    {S("{\"id\":0,}"), JSON_ERR_SYNTAX},
    {S("{\"id\":0,,,,,}"), JSON_ERR_SYNTAX},
    {S("{\"a\":[1,],\"b\":2}"), JSON_ERR_SYNTAX},
    /* comments */
    {S("/* c */ 1"), JSON_ERR_SYNTAX},
    {S("[1 /* c */]"), JSON_ERR_SYNTAX},
    {S("[// c\n1]"), JSON_ERR_SYNTAX},
    {S("{\"a\":1 # c\n}"), JSON_ERR_SYNTAX},
    /* single quotes */
    {S("['single quote']"), JSON_ERR_SYNTAX},
    {S("{'a':0}"), JSON_ERR_SYNTAX},
    {S("['"), JSON_ERR_SYNTAX},
    {S("'x'"), JSON_ERR_SYNTAX},
    /* NaN, Infinity */
    {S("[NaN]"), JSON_ERR_SYNTAX},
    {S("[Inf]"), JSON_ERR_SYNTAX},
    {S("[Infinity]"), JSON_ERR_SYNTAX},
    {S("NaN"), JSON_ERR_SYNTAX},
    {S("[-Infinity]"), JSON_ERR_NUMBER},
    {S("[-NaN]"), JSON_ERR_NUMBER},
    {S("[+Inf]"), JSON_ERR_NUMBER},
    /* trailing garbage */
    {S("[\"\"],"), JSON_ERR_TRAILING},
    {S("[\"x\"]]"), JSON_ERR_TRAILING},
    {S("123\0"), JSON_ERR_TRAILING},
    {S("{\"a\":\"b\"}/**/"), JSON_ERR_TRAILING},
    {S("{\"a\":\"b\"}//"), JSON_ERR_TRAILING},
    {S("{\"a\":\"b\"}#"), JSON_ERR_TRAILING},
    {S("{\"a\":\"b\"}#{}"), JSON_ERR_TRAILING},
    {S("\"\"x"), JSON_ERR_TRAILING},
    {S("[1]x"), JSON_ERR_TRAILING},
    {S("[1]]"), JSON_ERR_TRAILING},
    {S("1]"), JSON_ERR_TRAILING},
    {S("[][]"), JSON_ERR_TRAILING},
    {S("2@"), JSON_ERR_TRAILING},
    {S("{}}"), JSON_ERR_TRAILING},
    {S("truex"), JSON_ERR_TRAILING},
    {S("1 2"), JSON_ERR_TRAILING},
    {S("{} \0"), JSON_ERR_TRAILING},
    /* truncated */
    {S("[\"x\""), JSON_ERR_EOF},
    {S("[\"a\",\n4\n,1,"), JSON_ERR_EOF},
    {S("[\"\""), JSON_ERR_EOF},
    {S("[1,"), JSON_ERR_EOF},
    {S("[1,\n1\n,1"), JSON_ERR_EOF},
    {S("[{}"), JSON_ERR_EOF},
    {S("{\"a\":"), JSON_ERR_EOF},
    {S("{\"a\""), JSON_ERR_EOF},
    {S("{\"a\":\"a"), JSON_ERR_EOF},
    {S("{\"\":"), JSON_ERR_EOF},
    {S("{"), JSON_ERR_EOF},
    {S("["), JSON_ERR_EOF},
    {S("[1"), JSON_ERR_EOF},
    {S("\""), JSON_ERR_EOF},
    {S("\"abc"), JSON_ERR_EOF},
    {S("[\"\\"), JSON_ERR_EOF},
    {S("[\"\\\"]"), JSON_ERR_EOF},
    {S("[\"\\\\\\\"]"), JSON_ERR_EOF},
    {S("\"\\u12"), JSON_ERR_EOF},
    {S("\"\\uD800"), JSON_ERR_EOF},
    {S("\"\\uD800\\"), JSON_ERR_EOF},
    {S("\"abcdefghijklmnopqrstuvwxyz"), JSON_ERR_EOF},
    /* numbers */
    {S("[-]"), JSON_ERR_NUMBER},
    {S("-"), JSON_ERR_NUMBER},
    {S("[++1234]"), JSON_ERR_NUMBER},
    {S("[+1]"), JSON_ERR_NUMBER},
    {S("+1"), JSON_ERR_NUMBER},
    {S("[-01]"), JSON_ERR_NUMBER},
    {S("[-1.0.]"), JSON_ERR_NUMBER},
    {S("[-2.]"), JSON_ERR_NUMBER},
    {S("[.-1]"), JSON_ERR_NUMBER},
    {S("[.2e-3]"), JSON_ERR_NUMBER},
    {S(".5"), JSON_ERR_NUMBER},
    {S("[0.1.2]"), JSON_ERR_NUMBER},
    {S("[0.3e+]"), JSON_ERR_NUMBER},
    {S("[0.3e]"), JSON_ERR_NUMBER},
    {S("[0.e1]"), JSON_ERR_NUMBER},
    {S("[0E+]"), JSON_ERR_NUMBER},
    {S("[0E]"), JSON_ERR_NUMBER},
    {S("[0e+]"), JSON_ERR_NUMBER},
    {S("[0e]"), JSON_ERR_NUMBER},
    {S("[1.0e+]"), JSON_ERR_NUMBER},
    {S("[1.0e-]"), JSON_ERR_NUMBER},
    {S("[1.0e]"), JSON_ERR_NUMBER},
    {S("[1eE2]"), JSON_ERR_NUMBER},
    {S("[2.e+3]"), JSON_ERR_NUMBER},
    {S("[2.e3]"), JSON_ERR_NUMBER},
    {S("[9.e+]"), JSON_ERR_NUMBER},
    {S("[1+2]"), JSON_ERR_NUMBER},
    {S("[0x1]"), JSON_ERR_NUMBER},
    {S("[0x42]"), JSON_ERR_NUMBER},
    {S("[0e+-1]"), JSON_ERR_NUMBER},
    {S("[-123.123foo]"), JSON_ERR_NUMBER},
    {S("[-foo]"), JSON_ERR_NUMBER},
    {S("[- 1]"), JSON_ERR_NUMBER},
    {S("[-012]"), JSON_ERR_NUMBER},
    {S("[-.123]"), JSON_ERR_NUMBER},
    {S("[-1x]"), JSON_ERR_NUMBER},
    {S("[1ea]"), JSON_ERR_NUMBER},
    {S("[1.]"), JSON_ERR_NUMBER},
    {S("1."), JSON_ERR_NUMBER},
    {S("[.123]"), JSON_ERR_NUMBER},
    {S("[1.2a-3]"), JSON_ERR_NUMBER},
    {S("[012]"), JSON_ERR_NUMBER},
    {S("00"), JSON_ERR_NUMBER},
    {S("1e"), JSON_ERR_NUMBER},
    {S("1e+"), JSON_ERR_NUMBER},
    {S("1E-"), JSON_ERR_NUMBER},
    /* control characters in strings */
    {S("[\"\va\"\f]"), JSON_ERR_CONTROL_CHAR},
    {S("[\"a\0a\"]"), JSON_ERR_CONTROL_CHAR},
    {S("[\"new\nline\"]"), JSON_ERR_CONTROL_CHAR},
    {S("[\"\t\"]"), JSON_ERR_CONTROL_CHAR},
    {S("\"\x1f\""), JSON_ERR_CONTROL_CHAR},
    {S("{\"k\x01\":1}"), JSON_ERR_CONTROL_CHAR},
    /* escapes */
    {S("[\"\\\0\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\x00\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\\t\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\\xf0\x9f\x8c\x80\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\u00A\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\uD834\\uDd\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\a\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\uqqqq\"]"), JSON_ERR_ESCAPE},
    {S("\"\\UA66D\""), JSON_ERR_ESCAPE},
    {S("[\"\\'\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\uD800\\u\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\uD800\\u1\"]"), JSON_ERR_ESCAPE},
    {S("[\"\\u-123\"]"), JSON_ERR_ESCAPE},
    /* surrogates in \u escapes */
    {S("[\"\\uDFAA\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uDADA\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uDd1ea\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\ud800\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\ud800abc\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uDd1e\\uD834\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uD834\\u0041\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uD834\\uD834\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uD800\\n\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uD800\\\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uDBFF\\uE000\"]"), JSON_ERR_SURROGATE},
    {S("[\"\\uDC00\\uDC00\"]"), JSON_ERR_SURROGATE},
    /* invalid UTF-8 in strings */
    {S("[\"\xc0\xaf\"]"), JSON_ERR_UTF8},
    {S("[\"\xc0\x80\"]"), JSON_ERR_UTF8},
    {S("[\"\xc1\xbf\"]"), JSON_ERR_UTF8},
    {S("[\"\xe0\x80\x80\"]"), JSON_ERR_UTF8},
    {S("[\"\xe0\x9f\xbf\"]"), JSON_ERR_UTF8},
    {S("[\"\xed\xa0\x80\"]"), JSON_ERR_UTF8},
    {S("[\"\xed\xbf\xbf\"]"), JSON_ERR_UTF8},
    {S("[\"\xed\xa0\xbd\xed\xb8\x80\"]"), JSON_ERR_UTF8},
    {S("[\"\xf0\x80\x80\x80\"]"), JSON_ERR_UTF8},
    {S("[\"\xf0\x8f\xbf\xbf\"]"), JSON_ERR_UTF8},
    {S("[\"\xf4\x90\x80\x80\"]"), JSON_ERR_UTF8},
    {S("[\"\xf4\xbf\xbf\xbf\"]"), JSON_ERR_UTF8},
    {S("[\"\xf5\x80\x80\x80\"]"), JSON_ERR_UTF8},
    {S("[\"\xf8\x88\x80\x80\x80\"]"), JSON_ERR_UTF8},
    {S("[\"\xfe\"]"), JSON_ERR_UTF8},
    {S("[\"\xff\"]"), JSON_ERR_UTF8},
    {S("[\"\x81\"]"), JSON_ERR_UTF8},
    {S("[\"\xbf\"]"), JSON_ERR_UTF8},
    {S("[\"\xe2\x82\"]"), JSON_ERR_UTF8},
    {S("[\"\xe0\xff\"]"), JSON_ERR_UTF8},
    {S("[\"\xf0\x9f\x98\"]"), JSON_ERR_UTF8},
    {S("[\"\xf0\x9f\"]"), JSON_ERR_UTF8},
    {S("[\"\xc3\"]"), JSON_ERR_UTF8},
    {S("[\"\xc3\xc3\xa9\"]"), JSON_ERR_UTF8},
    {S("[\"\xe9\"]"), JSON_ERR_UTF8},
    {S("\"\xe2\x82"), JSON_ERR_UTF8},
    {S("\"\xf4\x8f\xbf"), JSON_ERR_UTF8},
    {S("{\"\xc0\x80\":1}"), JSON_ERR_UTF8},
};

static void test_invalid_documents(void) {
  for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
    parsed p = parse_len(invalid_cases[i].json, invalid_cases[i].len);
    if (p.status != invalid_cases[i].expect)
      fprintf(stderr, "invalid case %zu: got %s (%s at %zu), expected %s\n", i,
              json_status_text(p.status), p.doc.error.message, p.doc.error.offset,
              json_status_text(invalid_cases[i].expect));
    CHECK_EQ_INT(p.status, invalid_cases[i].expect);
    CHECK_EQ_INT(p.doc.error.status, invalid_cases[i].expect);
    CHECK(p.doc.error.message != NULL && p.doc.error.message[0] != '\0');
    CHECK(p.doc.error.offset <= invalid_cases[i].len);
    CHECK_EQ_INT(p.doc.count, 0);
    parsed_free(&p);
  }
}

/* The byte offset and message of a few errors, where a client would look. */
static void test_error_offsets(void) {
  static const struct {
    const char *json;
    size_t offset;
    const char *message;
  } cases[] = {
      {"[1,]", 3, "trailing comma"},
      {"{\"a\":1,}", 7, "trailing comma"},
      {"\"abc", 4, "unterminated string"},
      {"[01]", 1, "leading zero"},
      {"[\"ab\x01\"]", 4, "control character in string"},
      {"[\"x\\ud800\"]", 3, "high surrogate without a low one"},
      {"[\"\\udc00\"]", 2, "low surrogate without a high one"},
      {"[1] x", 4, "unexpected data after the value"},
      {"{\"a\" 1}", 5, "expected ':' after key"},
      {"[1 2]", 3, "expected ',' or ']'"},
      {"{\"a\":1 2}", 7, "expected ',' or '}'"},
      {"// x\n1", 0, "comments are not allowed"},
      {"['a']", 1, "strings need double quotes"},
      {"[\"\\q\"]", 2, "invalid escape"},
      {"[\"12345678\xc0\x80\"]", 10, "invalid UTF-8 in string"},
      {"[1.]", 3, "'.' must be followed by a digit"},
      {"", 0, "empty message"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    parsed p = parse_str(cases[i].json);
    CHECK(p.status != JSON_OK);
    CHECK_EQ_INT(p.doc.error.offset, cases[i].offset);
    CHECK_EQ_STR(p.doc.error.message, cases[i].message);
    parsed_free(&p);
  }
}

/*
 * Every byte value at every position of a string of 0..40 bytes: exercises
 * the 8-byte scan in the string loop at each alignment, and the byte-by-byte
 * tail, against the expected verdict and offset.
 */
static void test_string_bytes_everywhere(void) {
  char buf[64];
  int mismatches = 0;
  for (size_t len = 1; len <= 40; len++) {
    for (size_t pos = 0; pos < len; pos++) {
      for (int b = 0; b < 256; b++) {
        buf[0] = '"';
        memset(buf + 1, 'a', len);
        buf[1 + pos] = (char)b;
        buf[1 + len] = '"';
        parsed p = parse_len(buf, len + 2);
        json_status expect = JSON_OK;
        size_t offset = 0;
        if (b < 0x20) {
          expect = JSON_ERR_CONTROL_CHAR, offset = 1 + pos;
        } else if (b == '"') {
          expect = JSON_ERR_TRAILING, offset = 2 + pos;
        } else if (b == '\\') {
          /* "\a" is an invalid escape; a backslash before the closing quote escapes it */
          expect = pos + 1 < len ? JSON_ERR_ESCAPE : JSON_ERR_EOF;
          offset = pos + 1 < len ? 1 + pos : len + 2;
        } else if (b >= 0x80) {
          expect = JSON_ERR_UTF8, offset = 1 + pos; /* a lone byte is never valid */
        }
        bool ok = p.status == expect && (expect == JSON_OK || p.doc.error.offset == offset);
        if (expect == JSON_OK) ok = ok && p.doc.count == 1 && p.tokens[0].len == len;
        if (!ok && mismatches++ < 5)
          fprintf(stderr, "len %zu pos %zu byte 0x%02x: got %s at %zu\n", len, pos, b,
                  json_status_text(p.status), p.doc.error.offset);
        parsed_free(&p);
      }
    }
  }
  CHECK_EQ_INT(mismatches, 0);
}

/* Code points at the UTF-8 length boundaries pass; their neighbours' overlong forms do not. */
static void test_utf8_boundaries(void) {
  static const struct {
    const char *bytes;
    json_status expect;
  } cases[] = {
      {"\x7f", JSON_OK},                           /* U+007F */
      {"\xc2\x80", JSON_OK},                       /* U+0080 */
      {"\xdf\xbf", JSON_OK},                       /* U+07FF */
      {"\xe0\xa0\x80", JSON_OK},                   /* U+0800 */
      {"\xed\x9f\xbf", JSON_OK},                   /* U+D7FF */
      {"\xee\x80\x80", JSON_OK},                   /* U+E000 */
      {"\xef\xbf\xbf", JSON_OK},                   /* U+FFFF */
      {"\xf0\x90\x80\x80", JSON_OK},               /* U+10000 */
      {"\xf4\x8f\xbf\xbf", JSON_OK},               /* U+10FFFF */
      {"\xc0\x80", JSON_ERR_UTF8},                 /* overlong U+0000 */
      {"\xc1\xbf", JSON_ERR_UTF8},                 /* overlong U+007F */
      {"\xe0\x9f\xbf", JSON_ERR_UTF8},             /* overlong U+07FF */
      {"\xf0\x8f\xbf\xbf", JSON_ERR_UTF8},         /* overlong U+FFFF */
      {"\xed\xa0\x80", JSON_ERR_UTF8},             /* U+D800 */
      {"\xed\xbf\xbf", JSON_ERR_UTF8},             /* U+DFFF */
      {"\xf4\x90\x80\x80", JSON_ERR_UTF8},         /* U+110000 */
      {"\xf7\xbf\xbf\xbf", JSON_ERR_UTF8},         /* U+1FFFFF */
      {"\xc2", JSON_ERR_UTF8},                     /* cut */
      {"\xe0\xa0", JSON_ERR_UTF8},                 /* cut */
      {"\xf0\x90\x80", JSON_ERR_UTF8},             /* cut */
      {"\xc2\x80\x80", JSON_ERR_UTF8},             /* one continuation too many */
      {"\xe0\xa0\x80\xf0\x90\x80", JSON_ERR_UTF8}, /* valid then cut */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    /* Inside a longer string too, so both the 8-byte scan and the tail see it. */
    for (int padded = 0; padded < 2; padded++) {
      char buf[64];
      int n =
          snprintf(buf, sizeof buf, "[\"%s%s\"]", padded ? "0123456789abcdef" : "", cases[i].bytes);
      parsed p = parse_len(buf, (size_t)n);
      CHECK_EQ_INT(p.status, cases[i].expect);
      if (p.status == JSON_OK) {
        const char *raw;
        size_t raw_len;
        CHECK(json_string_raw(&p.doc, 1, &raw, &raw_len));
        CHECK_EQ_INT(raw_len, strlen(cases[i].bytes) + (padded ? 16 : 0));
        CHECK(memcmp(raw + raw_len - strlen(cases[i].bytes), cases[i].bytes,
                     strlen(cases[i].bytes)) == 0);
      }
      parsed_free(&p);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Limits.                                                                  */

static void nested(char *buf, size_t levels, const char *open, const char *inner,
                   const char *close) {
  buf[0] = '\0';
  for (size_t i = 0; i < levels; i++) strcat(buf, open);
  strcat(buf, inner);
  for (size_t i = 0; i < levels; i++) strcat(buf, close);
}

static void test_depth_limit(void) {
  char buf[512];
  for (uint32_t limit = 0; limit <= 20; limit++) {
    nested(buf, limit, "[", "1", "]");
    parsed at = parse_limited(buf, strlen(buf), limit, 64, 4096);
    CHECK_EQ_INT(at.status, JSON_OK);
    CHECK_EQ_INT(at.doc.count, limit + 1);
    CHECK(tree_ok(&at.doc));
    parsed_free(&at);

    nested(buf, limit + 1, "[", "1", "]");
    parsed over = parse_limited(buf, strlen(buf), limit, 64, 4096);
    CHECK_EQ_INT(over.status, JSON_ERR_TOO_DEEP);
    CHECK_EQ_INT(over.doc.error.offset, limit); /* the bracket one too deep */
    parsed_free(&over);

    nested(buf, limit, "{\"k\":", "[]", "}"); /* objects, plus one array inside */
    parsed mixed_over = parse_limited(buf, strlen(buf), limit, 64, 4096);
    CHECK_EQ_INT(mixed_over.status, JSON_ERR_TOO_DEEP);
    parsed_free(&mixed_over);
    nested(buf, limit, "{\"k\":", "0", "}");
    parsed mixed_at = parse_limited(buf, strlen(buf), limit, 64, 4096);
    CHECK_EQ_INT(mixed_at.status, JSON_OK);
    CHECK(tree_ok(&mixed_at.doc));
    parsed_free(&mixed_at);
  }
  /* JSONTestSuite n_structure_100000_opening_arrays: refused quickly, no recursion. */
  size_t n = 100000;
  char *deep = malloc(n);
  memset(deep, '[', n);
  parsed p = parse_limited(deep, n, 64, 4096, n);
  CHECK_EQ_INT(p.status, JSON_ERR_TOO_DEEP);
  CHECK_EQ_INT(p.doc.error.offset, 64);
  parsed_free(&p);
  /* The same within limits is merely unterminated. */
  p = parse_limited(deep, n, 100000, 100000, n);
  CHECK_EQ_INT(p.status, JSON_ERR_EOF);
  parsed_free(&p);
  /* 100000 levels, closed: the explicit stack handles any depth the limit allows. */
  char *closed = malloc(2 * n);
  memset(closed, '[', n);
  memset(closed + n, ']', n);
  p = parse_limited(closed, 2 * n, 100000, 100000, 2 * n);
  CHECK_EQ_INT(p.status, JSON_OK);
  CHECK_EQ_INT(p.doc.count, 100000);
  CHECK_EQ_INT(p.tokens[0].next, 100000);
  CHECK_EQ_INT(p.tokens[99999].next, 100000);
  CHECK_EQ_INT(p.tokens[0].len, 2 * n);
  parsed_free(&p);
  free(closed);
  free(deep);
}

static void test_token_limit(void) {
  static const struct {
    const char *json;
    uint32_t tokens;
  } cases[] = {
      {"1", 1}, {"[]", 1}, {"[1,2,3]", 4}, {"{\"a\":1}", 3}, {"{\"a\":[true,false],\"b\":{}}", 7},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len = strlen(cases[i].json);
    parsed exact = parse_limited(cases[i].json, len, 8, cases[i].tokens, len);
    CHECK_EQ_INT(exact.status, JSON_OK);
    CHECK_EQ_INT(exact.doc.count, cases[i].tokens);
    parsed_free(&exact);
    parsed short_by_one = parse_limited(cases[i].json, len, 8, cases[i].tokens - 1, len);
    CHECK_EQ_INT(short_by_one.status, JSON_ERR_TOO_MANY_TOKENS);
    parsed_free(&short_by_one);
  }
}

static void test_size_limit(void) {
  const char *json = "{\"op\":\"ping\"}";
  size_t len = strlen(json);
  parsed at = parse_limited(json, len, 8, 16, len);
  CHECK_EQ_INT(at.status, JSON_OK);
  parsed_free(&at);
  parsed over = parse_limited(json, len, 8, 16, len - 1);
  CHECK_EQ_INT(over.status, JSON_ERR_TOO_LARGE);
  CHECK_EQ_INT(over.doc.error.offset, len - 1);
  parsed_free(&over);
  parsed empty = parse_limited("", 0, 8, 16, 0);
  CHECK_EQ_INT(empty.status, JSON_ERR_EMPTY);
  parsed_free(&empty);
}

/* ------------------------------------------------------------------------ */
/* Accessors.                                                               */

static void test_object_get(void) {
  parsed p = parse_str("{\"op\":\"order.place\",\"args\":{\"pr\\u0069ce\":\"1.5\",\"qty\":\"2\","
                       "\"a\\\\b\":1,\"\\ud83d\\ude00\":2,\"dup\":1,\"dup\":2,\"\":3,"
                       "\"nested\":{\"price\":\"9\"}},\"id\":7}");
  CHECK_EQ_INT(p.status, JSON_OK);
  uint32_t args = json_object_get(&p.doc, 0, S("args"));
  CHECK(args != JSON_NONE && p.tokens[args].type == JSON_OBJECT);
  uint32_t price = json_object_get(&p.doc, args, S("price"));
  CHECK(json_string_equals(&p.doc, price, S("1.5")));
  CHECK(json_string_equals(&p.doc, json_object_get(&p.doc, args, S("qty")), S("2")));
  int64_t v = 0;
  CHECK_EQ_INT(json_get_int64(&p.doc, json_object_get(&p.doc, args, S("a\\b")), &v), JSON_OK);
  CHECK_EQ_INT(v, 1);
  CHECK_EQ_INT(json_get_int64(&p.doc, json_object_get(&p.doc, args, S("\xf0\x9f\x98\x80")), &v),
               JSON_OK);
  CHECK_EQ_INT(v, 2);
  CHECK_EQ_INT(json_get_int64(&p.doc, json_object_get(&p.doc, args, S("dup")), &v), JSON_OK);
  CHECK_EQ_INT(v, 1); /* first wins */
  CHECK_EQ_INT(json_get_int64(&p.doc, json_object_get(&p.doc, args, S("")), &v), JSON_OK);
  CHECK_EQ_INT(v, 3);
  CHECK_EQ_INT(json_get_int64(&p.doc, json_object_get(&p.doc, 0, S("id")), &v), JSON_OK);
  CHECK_EQ_INT(v, 7);
  /* Not found: prefixes, the escaped spelling itself, members of children, non-objects. */
  CHECK_EQ_INT(json_object_get(&p.doc, args, S("pric")), JSON_NONE);
  CHECK_EQ_INT(json_object_get(&p.doc, args, S("prices")), JSON_NONE);
  CHECK_EQ_INT(json_object_get(&p.doc, args, S("pr\\u0069ce")), JSON_NONE);
  CHECK_EQ_INT(json_object_get(&p.doc, 0, S("price")), JSON_NONE);
  CHECK_EQ_INT(json_object_get(&p.doc, price, S("price")), JSON_NONE);
  CHECK_EQ_INT(json_object_get(&p.doc, 9999, S("price")), JSON_NONE);
  CHECK_EQ_INT(json_object_get(&p.doc, JSON_NONE, S("price")), JSON_NONE);
  parsed_free(&p);
}

static void test_string_equals(void) {
  parsed p = parse_str("[\"\\u00e9t\\u00E9\",\"\\ud83d\\ude00\",\"a\\\"b\\\\c\\/d\","
                       "\"plain\",\"\\u0000x\",1]");
  CHECK_EQ_INT(p.status, JSON_OK);
  CHECK(json_string_equals(&p.doc, 1, S("\xc3\xa9t\xc3\xa9")));
  CHECK(!json_string_equals(&p.doc, 1, S("\xc3\xa9t\xc3")));
  CHECK(!json_string_equals(&p.doc, 1, S("\xc3\xa9t\xc3\xa9x")));
  CHECK(!json_string_equals(&p.doc, 1, S("\\u00e9t\\u00E9")));
  CHECK(json_string_equals(&p.doc, 2, S("\xf0\x9f\x98\x80")));
  CHECK(!json_string_equals(&p.doc, 2, S("\xf0\x9f\x98\x81")));
  CHECK(json_string_equals(&p.doc, 3, S("a\"b\\c/d")));
  CHECK(json_string_equals(&p.doc, 4, S("plain")));
  CHECK(!json_string_equals(&p.doc, 4, S("plai")));
  CHECK(!json_string_equals(&p.doc, 4, S("plain!")));
  CHECK(json_string_equals(&p.doc, 5, S("\0x")));
  CHECK(!json_string_equals(&p.doc, 5, S("x")));
  CHECK(!json_string_equals(&p.doc, 6, S("1"))); /* a number, not a string */
  CHECK(!json_string_equals(&p.doc, 0, S("")));  /* an array */
  parsed_free(&p);
}

static void test_get_integers(void) {
  static const struct {
    const char *json;
    json_status expect;
    int64_t value;
  } int_cases[] = {
      {"0", JSON_OK, 0},
      {"-0", JSON_OK, 0},
      {"42", JSON_OK, 42},
      {"-42", JSON_OK, -42},
      {"9223372036854775807", JSON_OK, INT64_MAX},
      {"-9223372036854775808", JSON_OK, INT64_MIN},
      {"9223372036854775808", JSON_ERR_RANGE, 0},
      {"-9223372036854775809", JSON_ERR_RANGE, 0},
      {"18446744073709551616", JSON_ERR_RANGE, 0},
      {"99999999999999999999999999", JSON_ERR_RANGE, 0},
      {"1.0", JSON_ERR_NOT_INTEGER, 0},
      {"1e3", JSON_ERR_NOT_INTEGER, 0},
      {"1E3", JSON_ERR_NOT_INTEGER, 0},
      {"-0.5", JSON_ERR_NOT_INTEGER, 0},
      {"99999999999999999999999999.5", JSON_ERR_NOT_INTEGER, 0},
      {"\"1\"", JSON_ERR_TYPE, 0},
      {"true", JSON_ERR_TYPE, 0},
      {"null", JSON_ERR_TYPE, 0},
      {"[1]", JSON_ERR_TYPE, 0},
  };
  for (size_t i = 0; i < sizeof int_cases / sizeof int_cases[0]; i++) {
    parsed p = parse_str(int_cases[i].json);
    CHECK_EQ_INT(p.status, JSON_OK);
    int64_t v = 12345;
    CHECK_EQ_INT(json_get_int64(&p.doc, 0, &v), int_cases[i].expect);
    CHECK_EQ_INT(v, int_cases[i].expect == JSON_OK ? int_cases[i].value : 12345);
    parsed_free(&p);
  }
  static const struct {
    const char *json;
    json_status expect;
    uint64_t value;
  } uint_cases[] = {
      {"0", JSON_OK, 0},
      {"18446744073709551615", JSON_OK, UINT64_MAX},
      {"18446744073709551616", JSON_ERR_RANGE, 0},
      {"-1", JSON_ERR_RANGE, 0},
      {"-0", JSON_ERR_RANGE, 0},
      {"2.5", JSON_ERR_NOT_INTEGER, 0},
      {"false", JSON_ERR_TYPE, 0},
  };
  for (size_t i = 0; i < sizeof uint_cases / sizeof uint_cases[0]; i++) {
    parsed p = parse_str(uint_cases[i].json);
    uint64_t v = 12345;
    CHECK_EQ_INT(json_get_uint64(&p.doc, 0, &v), uint_cases[i].expect);
    CHECK(v == (uint_cases[i].expect == JSON_OK ? uint_cases[i].value : 12345));
    parsed_free(&p);
  }
  parsed p = parse_str("[1]");
  int64_t v;
  CHECK_EQ_INT(json_get_int64(&p.doc, 2, &v), JSON_ERR_TYPE); /* out of range index */
  parsed_free(&p);
}

static void test_get_bool(void) {
  parsed p = parse_str("[true,false,null,0,\"true\"]");
  bool b = false;
  CHECK_EQ_INT(json_get_bool(&p.doc, 1, &b), JSON_OK);
  CHECK(b);
  CHECK_EQ_INT(json_get_bool(&p.doc, 2, &b), JSON_OK);
  CHECK(!b);
  CHECK_EQ_INT(json_get_bool(&p.doc, 3, &b), JSON_ERR_TYPE);
  CHECK_EQ_INT(json_get_bool(&p.doc, 4, &b), JSON_ERR_TYPE);
  CHECK_EQ_INT(json_get_bool(&p.doc, 5, &b), JSON_ERR_TYPE);
  CHECK_EQ_INT(json_get_bool(&p.doc, 0, &b), JSON_ERR_TYPE);
  CHECK_EQ_INT(json_get_bool(&p.doc, 6, &b), JSON_ERR_TYPE);
  parsed_free(&p);
}

static void test_unescape(void) {
  const char *json = "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\\u0041\\u00e9\\u20AC\\uD834\\uDD1E\","
                     "\"\\u0000\",\"plain text\",\"\",7,\"a\\u0062c\"]";
  parsed p = parse_str(json);
  CHECK_EQ_INT(p.status, JSON_OK);
  char buf[64];
  size_t n = 99;
  CHECK_EQ_INT(json_string_unescape(&p.doc, 1, buf, sizeof buf, &n), JSON_OK);
  CHECK_EQ_INT(n, 8);
  CHECK(memcmp(buf, "\"\\/\b\f\n\r\t", 9) == 0); /* includes the NUL */
  CHECK_EQ_INT(json_string_unescape(&p.doc, 2, buf, sizeof buf, &n), JSON_OK);
  CHECK_EQ_STR(buf, "A\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e"); /* 1 + 2 + 3 + 4 bytes */
  CHECK_EQ_INT(n, 10);
  CHECK_EQ_INT(json_string_unescape(&p.doc, 3, buf, sizeof buf, &n), JSON_OK);
  CHECK_EQ_INT(n, 1);
  CHECK(buf[0] == '\0' && buf[1] == '\0');
  CHECK_EQ_INT(json_string_unescape(&p.doc, 4, buf, sizeof buf, &n), JSON_OK);
  CHECK_EQ_STR(buf, "plain text");
  CHECK_EQ_INT(json_string_unescape(&p.doc, 5, buf, sizeof buf, &n), JSON_OK);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_STR(buf, "");
  CHECK_EQ_INT(json_string_unescape(&p.doc, 6, buf, sizeof buf, &n), JSON_ERR_TYPE);
  /* Exact fit: the value plus its NUL; one byte less does not fit. */
  CHECK_EQ_INT(json_string_unescape(&p.doc, 2, buf, 11, &n), JSON_OK);
  CHECK_EQ_INT(json_string_unescape(&p.doc, 2, buf, 10, &n), JSON_ERR_NO_SPACE);
  CHECK_EQ_INT(json_string_unescape(&p.doc, 2, buf, 7, &n), JSON_ERR_NO_SPACE); /* mid-pair */
  CHECK_EQ_INT(json_string_unescape(&p.doc, 4, buf, 11, &n), JSON_OK);
  CHECK_EQ_INT(json_string_unescape(&p.doc, 4, buf, 10, &n), JSON_ERR_NO_SPACE);
  CHECK_EQ_INT(json_string_unescape(&p.doc, 5, buf, 1, &n), JSON_OK);
  CHECK_EQ_INT(json_string_unescape(&p.doc, 5, buf, 0, &n), JSON_ERR_NO_SPACE);
  CHECK_EQ_INT(json_string_unescape(&p.doc, 7, buf, 4, &n), JSON_OK);
  CHECK_EQ_STR(buf, "abc");
  CHECK_EQ_INT(json_string_unescape(&p.doc, 7, buf, 3, &n), JSON_ERR_NO_SPACE);
  /* A buffer written only within cap: a canary after it survives. */
  memset(buf, 0x5a, sizeof buf);
  CHECK_EQ_INT(json_string_unescape(&p.doc, 4, buf, 5, &n), JSON_ERR_NO_SPACE);
  for (size_t i = 5; i < sizeof buf; i++) CHECK(buf[i] == 0x5a);

  const char *raw = NULL;
  size_t raw_len = 0;
  CHECK(json_string_raw(&p.doc, 4, &raw, &raw_len));
  CHECK_EQ_INT(raw_len, 10);
  CHECK(memcmp(raw, "plain text", 10) == 0);
  CHECK(raw == p.input + (strstr(json, "plain text") - json)); /* zero-copy: into the input */
  CHECK(!json_string_raw(&p.doc, 1, &raw, &raw_len));          /* escaped */
  CHECK(!json_string_raw(&p.doc, 6, &raw, &raw_len));          /* a number */
  CHECK(p.tokens[1].flags & JSON_TOKEN_ESCAPED);
  CHECK(!(p.tokens[4].flags & JSON_TOKEN_ESCAPED));
  parsed_free(&p);
}

/* All surrogate pairs decode to the code point they name. */
static void test_surrogate_pairs(void) {
  static const uint32_t highs[] = {0xD800, 0xD801, 0xD83D, 0xDB7F, 0xDBFF};
  static const uint32_t lows[] = {0xDC00, 0xDC37, 0xDE00, 0xDFFF};
  for (size_t h = 0; h < sizeof highs / sizeof highs[0]; h++) {
    for (size_t l = 0; l < sizeof lows / sizeof lows[0]; l++) {
      char json[32];
      snprintf(json, sizeof json, "\"\\u%04X\\u%04x\"", (unsigned)highs[h], (unsigned)lows[l]);
      parsed p = parse_str(json);
      CHECK_EQ_INT(p.status, JSON_OK);
      uint32_t cp = 0x10000 + ((highs[h] - 0xD800) << 10) + (lows[l] - 0xDC00);
      unsigned char expect[4] = {
          (unsigned char)(0xF0 | cp >> 18), (unsigned char)(0x80 | (cp >> 12 & 0x3F)),
          (unsigned char)(0x80 | (cp >> 6 & 0x3F)), (unsigned char)(0x80 | (cp & 0x3F))};
      char buf[8];
      size_t n = 0;
      CHECK_EQ_INT(json_string_unescape(&p.doc, 0, buf, sizeof buf, &n), JSON_OK);
      CHECK_EQ_INT(n, 4);
      CHECK(memcmp(buf, expect, 4) == 0);
      CHECK(json_string_equals(&p.doc, 0, (const char *)expect, 4));
      parsed_free(&p);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Writer.                                                                  */

static const char *written(json_writer *w, char *buf) {
  size_t n = 0;
  json_status st = json_writer_finish(w, &n);
  CHECK_EQ_INT(st, JSON_OK);
  buf[st == JSON_OK ? n : 0] = '\0';
  return buf;
}

static void test_writer_structure(void) {
  char buf[512];
  json_writer w;
  json_writer_init(&w, buf, sizeof buf - 1);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "event");
  JSON_WRITE_STRING(&w, "BTCUSDT@depth");
  JSON_WRITE_KEY(&w, "ts");
  json_write_int64(&w, 1700000000000);
  JSON_WRITE_KEY(&w, "data");
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "bids");
  json_write_array_begin(&w);
  json_write_array_begin(&w);
  json_write_decimal(&w, 5000010, 2);
  json_write_decimal(&w, 0, 8);
  json_write_array_end(&w);
  json_write_array_begin(&w);
  json_write_array_end(&w);
  json_write_array_end(&w);
  JSON_WRITE_KEY(&w, "empty");
  json_write_object_begin(&w);
  json_write_object_end(&w);
  JSON_WRITE_KEY(&w, "flags");
  json_write_array_begin(&w);
  json_write_bool(&w, true);
  json_write_bool(&w, false);
  json_write_null(&w);
  json_write_uint64(&w, UINT64_MAX);
  json_write_int64(&w, INT64_MIN);
  json_write_int64(&w, 0);
  json_write_raw(&w, S("{\"x\":[1,2]}"));
  json_write_array_end(&w);
  json_write_object_end(&w);
  json_write_object_end(&w);
  CHECK_EQ_STR(written(&w, buf),
               "{\"event\":\"BTCUSDT@depth\",\"ts\":1700000000000,\"data\":{\"bids\":[[\"50000.1\","
               "\"0\"],[]],\"empty\":{},\"flags\":[true,false,null,18446744073709551615,"
               "-9223372036854775808,0,{\"x\":[1,2]}]}}");

  /* Scalars at the top level. */
  json_writer_init(&w, buf, sizeof buf - 1);
  json_write_int64(&w, -7);
  CHECK_EQ_STR(written(&w, buf), "-7");
  json_writer_init(&w, buf, sizeof buf - 1);
  JSON_WRITE_STRING(&w, "");
  CHECK_EQ_STR(written(&w, buf), "\"\"");
}

static void test_writer_integers(void) {
  static const int64_t values[] = {0,
                                   1,
                                   -1,
                                   9,
                                   10,
                                   -10,
                                   99,
                                   100,
                                   12345,
                                   -99999,
                                   1000000007,
                                   INT32_MAX,
                                   INT32_MIN,
                                   INT64_MAX,
                                   INT64_MIN,
                                   INT64_MAX - 1,
                                   INT64_MIN + 1,
                                   1000000000000000000};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char buf[64], expect[64];
    json_writer w;
    json_writer_init(&w, buf, sizeof buf - 1);
    json_write_int64(&w, values[i]);
    snprintf(expect, sizeof expect, "%" PRId64, values[i]);
    CHECK_EQ_STR(written(&w, buf), expect);
    if (values[i] >= 0) {
      json_writer_init(&w, buf, sizeof buf - 1);
      json_write_uint64(&w, (uint64_t)values[i] * 2 + 1);
      snprintf(expect, sizeof expect, "%" PRIu64, (uint64_t)values[i] * 2 + 1);
      CHECK_EQ_STR(written(&w, buf), expect);
    }
  }
}

static void test_writer_escaping(void) {
  static const struct {
    const char *in;
    size_t len;
    const char *out;
  } cases[] = {
      {S("plain"), "\"plain\""},
      {S("a\"b\\c"), "\"a\\\"b\\\\c\""},
      {S("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\""},
      {S("\x01\x1f\x0b"), "\"\\u0001\\u001f\\u000b\""},
      {S("\0"), "\"\\u0000\""},
      {S("/\x7f"), "\"/\x7f\""},
      {S("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
      {S("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"),
       "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""},
      /* invalid UTF-8: one U+FFFD per offending byte */
      {S("a\xff"
         "b"),
       "\"a\xef\xbf\xbd"
       "b\""},
      {S("\xc0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\""},
      {S("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
      {S("\xe2\x82"), "\"\xef\xbf\xbd\xef\xbf\xbd\""},
      {S("\xf4\x90\x80\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
      /* long enough for the 8-byte scan, specials at various offsets */
      {S("0123456789abcdef\"0123456\\789\n"), "\"0123456789abcdef\\\"0123456\\\\789\\n\""},
      {S("0123456789abcdef0123456789abcdef"), "\"0123456789abcdef0123456789abcdef\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[256];
    json_writer w;
    json_writer_init(&w, buf, sizeof buf - 1);
    json_write_string(&w, cases[i].in, cases[i].len);
    CHECK_EQ_STR(written(&w, buf), cases[i].out);
    /* Keys escape the same way. */
    json_writer_init(&w, buf, sizeof buf - 1);
    json_write_object_begin(&w);
    json_write_key(&w, cases[i].in, cases[i].len);
    json_write_null(&w);
    json_write_object_end(&w);
    char expect[300];
    snprintf(expect, sizeof expect, "{%s:null}", cases[i].out);
    CHECK_EQ_STR(written(&w, buf), expect);
  }
  /* Every control character: \u00XX unless it has a short form. */
  for (int c = 0; c < 0x20; c++) {
    char in = (char)c, buf[16], expect[16];
    json_writer w;
    json_writer_init(&w, buf, sizeof buf - 1);
    json_write_string(&w, &in, 1);
    const char *short_form = c == '\n'   ? "\\n"
                             : c == '\r' ? "\\r"
                             : c == '\t' ? "\\t"
                             : c == '\b' ? "\\b"
                             : c == '\f' ? "\\f"
                                         : NULL;
    if (short_form)
      snprintf(expect, sizeof expect, "\"%s\"", short_form);
    else
      snprintf(expect, sizeof expect, "\"\\u%04x\"", (unsigned)c);
    CHECK_EQ_STR(written(&w, buf), expect);
  }
}

/* An independent reference: integer division and printf. */
static void reference_decimal(int64_t value, unsigned scale, char *out, size_t cap) {
  uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value, pow = 1;
  for (unsigned i = 0; i < scale; i++) pow *= 10;
  uint64_t int_part = magnitude / pow, frac = magnitude % pow;
  int n = snprintf(out, cap, "\"%s%" PRIu64, value < 0 ? "-" : "", int_part);
  if (frac != 0) {
    char digits[32];
    snprintf(digits, sizeof digits, "%0*" PRIu64, (int)scale, frac);
    size_t len = strlen(digits);
    while (digits[len - 1] == '0') digits[--len] = '\0';
    n += snprintf(out + n, cap - (size_t)n, ".%s", digits);
  }
  snprintf(out + n, cap - (size_t)n, "\"");
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void test_writer_decimal(void) {
  static const struct {
    int64_t value;
    unsigned scale;
    const char *out;
  } cases[] = {
      {0, 0, "\"0\""},
      {0, 8, "\"0\""},
      {15000, 4, "\"1.5\""},
      {100, 2, "\"1\""},
      {5, 3, "\"0.005\""},
      {-5, 3, "\"-0.005\""},
      {-150, 2, "\"-1.5\""},
      {10, 1, "\"1\""},
      {123456789, 0, "\"123456789\""},
      {-123456789, 0, "\"-123456789\""},
      {123456789, 4, "\"12345.6789\""},
      {123456780, 4, "\"12345.678\""},
      {1, 18, "\"0.000000000000000001\""},
      {1000000000000000000, 18, "\"1\""},
      {INT64_MAX, 18, "\"9.223372036854775807\""},
      {INT64_MIN, 18, "\"-9.223372036854775808\""},
      {INT64_MIN, 0, "\"-9223372036854775808\""},
      {INT64_MAX, 0, "\"9223372036854775807\""},
      {5000010, 2, "\"50000.1\""},
  };
  char buf[64], expect[64];
  json_writer w;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_writer_init(&w, buf, sizeof buf - 1);
    json_write_decimal(&w, cases[i].value, cases[i].scale);
    CHECK_EQ_STR(written(&w, buf), cases[i].out);
  }
  json_writer_init(&w, buf, sizeof buf - 1);
  json_write_decimal(&w, 1, 19);
  size_t n;
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_RANGE);

  int mismatches = 0;
  for (int i = 0; i < 200000; i++) {
    uint64_t r = rng_next();
    int64_t value = (int64_t)rng_next();
    switch (r % 4) { /* small values and round numbers hit the padding and stripping cases */
    case 0:
      value %= 1000;
      break;
    case 1:
      value %= 100000000;
      break;
    case 2:
      value = (value % 100000) * 1000000;
      break;
    default:
      break;
    }
    unsigned scale = (unsigned)(r >> 8) % 19;
    json_writer_init(&w, buf, sizeof buf - 1);
    json_write_decimal(&w, value, scale);
    size_t len = 0;
    bool ok = json_writer_finish(&w, &len) == JSON_OK;
    buf[ok ? len : 0] = '\0';
    reference_decimal(value, scale, expect, sizeof expect);
    if ((!ok || strcmp(buf, expect) != 0) && mismatches++ < 5)
      fprintf(stderr, "decimal %" PRId64 " scale %u: %s, expected %s\n", value, scale, buf, expect);
  }
  CHECK_EQ_INT(mismatches, 0);
}

static void test_writer_misuse(void) {
  char buf[256];
  json_writer w;
  size_t n;
  /* A key in an array. */
  json_writer_init(&w, buf, sizeof buf);
  json_write_array_begin(&w);
  JSON_WRITE_KEY(&w, "k");
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  /* A value in an object without a key. */
  json_writer_init(&w, buf, sizeof buf);
  json_write_object_begin(&w);
  json_write_int64(&w, 1);
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  /* Two keys in a row. */
  json_writer_init(&w, buf, sizeof buf);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "a");
  JSON_WRITE_KEY(&w, "b");
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  /* Closing an object after a key. */
  json_writer_init(&w, buf, sizeof buf);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "a");
  json_write_object_end(&w);
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  /* Mismatched and unbalanced ends. */
  json_writer_init(&w, buf, sizeof buf);
  json_write_array_begin(&w);
  json_write_object_end(&w);
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  json_writer_init(&w, buf, sizeof buf);
  json_write_array_end(&w);
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  json_writer_init(&w, buf, sizeof buf);
  json_write_array_begin(&w);
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  /* Nothing written, and two top-level values. */
  json_writer_init(&w, buf, sizeof buf);
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  json_writer_init(&w, buf, sizeof buf);
  json_write_int64(&w, 1);
  json_write_int64(&w, 2);
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NESTING);
  /* The nesting stack: exactly JSON_WRITER_MAX_DEPTH levels, then one more. */
  for (int extra = 0; extra < 2; extra++) {
    json_writer_init(&w, buf, sizeof buf);
    int levels = JSON_WRITER_MAX_DEPTH + extra;
    for (int i = 0; i < levels; i++) json_write_array_begin(&w);
    for (int i = 0; i < levels; i++) json_write_array_end(&w);
    CHECK_EQ_INT(json_writer_finish(&w, &n), extra ? JSON_ERR_NESTING : JSON_OK);
    if (!extra) CHECK_EQ_INT(n, 2 * JSON_WRITER_MAX_DEPTH);
  }
}

/* A server message using every writer call; returns nothing, errors are sticky. */
static void write_sample(json_writer *w) {
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "id");
  json_write_int64(w, -42);
  JSON_WRITE_KEY(w, "result");
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "order_id");
  json_write_uint64(w, 18446744073709551615u);
  JSON_WRITE_KEY(w, "client_id");
  JSON_WRITE_STRING(w, "a\"b\\c\n\x01\xc3\xa9\xf0\x9f\x98\x80 and more text");
  JSON_WRITE_KEY(w, "price");
  json_write_decimal(w, 5000010, 2);
  JSON_WRITE_KEY(w, "qty");
  json_write_decimal(w, -1, 8);
  JSON_WRITE_KEY(w, "flags");
  json_write_array_begin(w);
  json_write_bool(w, true);
  json_write_bool(w, false);
  json_write_null(w);
  json_write_array_end(w);
  JSON_WRITE_KEY(w, "raw");
  json_write_raw(w, S("{\"x\":[1,2.5e3]}"));
  JSON_WRITE_KEY(w, "empty");
  json_write_object_begin(w);
  json_write_object_end(w);
  json_write_object_end(w);
  json_write_object_end(w);
}

static void test_writer_overflow(void) {
  char reference[512];
  json_writer w;
  json_writer_init(&w, reference, sizeof reference);
  write_sample(&w);
  size_t full = 0;
  CHECK_EQ_INT(json_writer_finish(&w, &full), JSON_OK);
  int bad = 0;
  for (size_t cap = 0; cap <= full; cap++) {
    char buf[600];
    memset(buf, 0xA5, sizeof buf);
    json_writer_init(&w, buf, cap);
    write_sample(&w);
    size_t n = 0;
    json_status st = json_writer_finish(&w, &n);
    bool ok = cap == full ? st == JSON_OK && n == full && memcmp(buf, reference, full) == 0
                          : st == JSON_ERR_NO_SPACE && w.len <= cap;
    /* What was written is a prefix of the real message, and nothing lands past cap. */
    ok = ok && memcmp(buf, reference, w.len) == 0;
    for (size_t i = cap; i < sizeof buf; i++) ok = ok && (unsigned char)buf[i] == 0xA5;
    if (!ok && bad++ < 3) fprintf(stderr, "overflow at cap %zu: status %d len %zu\n", cap, st, n);
  }
  CHECK_EQ_INT(bad, 0);
  /* Sticky: once full, later calls change nothing, even ones that would fit. */
  char small[4];
  json_writer_init(&w, small, sizeof small);
  json_write_array_begin(&w);
  JSON_WRITE_STRING(&w, "too long");
  size_t len_after_error = w.len;
  json_write_int64(&w, 1);
  json_write_array_end(&w);
  CHECK_EQ_INT(w.len, len_after_error);
  size_t n;
  CHECK_EQ_INT(json_writer_finish(&w, &n), JSON_ERR_NO_SPACE);
}

/* Writer output parses back to the same values. */
static void test_writer_round_trip(void) {
  char out[512];
  json_writer w;
  json_writer_init(&w, out, sizeof out);
  write_sample(&w);
  size_t len = 0;
  CHECK_EQ_INT(json_writer_finish(&w, &len), JSON_OK);
  parsed p = parse_len(out, len);
  CHECK_EQ_INT(p.status, JSON_OK);
  char shape[256];
  shape_of(&p.doc, shape, sizeof shape);
  CHECK_EQ_STR(shape, "o2 s d s o7 s d s s s s s s s a3 t f n s o1 s a2 d d s o0");
  CHECK(tree_ok(&p.doc));
  uint32_t result = json_object_get(&p.doc, 0, S("result"));
  int64_t id = 0;
  uint64_t order_id = 0;
  CHECK_EQ_INT(json_get_int64(&p.doc, json_object_get(&p.doc, 0, S("id")), &id), JSON_OK);
  CHECK_EQ_INT(id, -42);
  CHECK_EQ_INT(json_get_uint64(&p.doc, json_object_get(&p.doc, result, S("order_id")), &order_id),
               JSON_OK);
  CHECK(order_id == UINT64_MAX);
  char buf[128];
  size_t n = 0;
  CHECK_EQ_INT(json_string_unescape(&p.doc, json_object_get(&p.doc, result, S("client_id")), buf,
                                    sizeof buf, &n),
               JSON_OK);
  const char client_id[] = "a\"b\\c\n\x01\xc3\xa9\xf0\x9f\x98\x80 and more text";
  CHECK_EQ_INT(n, sizeof client_id - 1);
  CHECK(memcmp(buf, client_id, n) == 0);
  CHECK(json_string_equals(&p.doc, json_object_get(&p.doc, result, S("price")), S("50000.1")));
  CHECK(json_string_equals(&p.doc, json_object_get(&p.doc, result, S("qty")), S("-0.00000001")));
  parsed_free(&p);

  /* Random valid UTF-8 strings (controls, quotes, backslashes, all lengths) round-trip exactly. */
  int bad = 0;
  for (int iter = 0; iter < 20000; iter++) {
    char in[200], json[1400], back[200];
    size_t in_len = 0, pieces = rng_next() % 40;
    for (size_t k = 0; k < pieces && in_len + 4 < sizeof in; k++) {
      uint64_t r = rng_next();
      uint32_t cp;
      switch (r % 5) {
      case 0:
        cp = (uint32_t)(r >> 8) % 0x20;
        break; /* control */
      case 1:
        cp = "\"\\/a"[(r >> 8) % 4];
        break; /* specials */
      case 2:
        cp = 0x20 + (uint32_t)(r >> 8) % 0x60;
        break; /* ASCII */
      case 3:
        cp = 0x80 + (uint32_t)(r >> 8) % (0xD800 - 0x80);
        break;
      default:
        cp = 0xE000 + (uint32_t)(r >> 8) % (0x110000 - 0xE000);
        break;
      }
      unsigned char *o = (unsigned char *)in + in_len;
      if (cp < 0x80) {
        o[0] = (unsigned char)cp, in_len += 1;
      } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        in_len += 2;
      } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12), o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F)), in_len += 3;
      } else {
        o[0] = (unsigned char)(0xF0 | cp >> 18), o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        in_len += 4;
      }
    }
    json_writer_init(&w, json, sizeof json);
    json_write_array_begin(&w);
    json_write_string(&w, in, in_len);
    json_write_array_end(&w);
    size_t json_len = 0;
    bool ok = json_writer_finish(&w, &json_len) == JSON_OK;
    parsed q = parse_len(json, ok ? json_len : 0);
    ok = ok && q.status == JSON_OK &&
         json_string_unescape(&q.doc, 1, back, sizeof back, &n) == JSON_OK && n == in_len &&
         memcmp(back, in, n) == 0 && json_string_equals(&q.doc, 1, in, in_len);
    if (!ok && bad++ < 3) fprintf(stderr, "round trip failed for a %zu-byte string\n", in_len);
    parsed_free(&q);
  }
  CHECK_EQ_INT(bad, 0);

  /* Random bytes, valid UTF-8 or not: the writer's output is always valid JSON. */
  bad = 0;
  for (int iter = 0; iter < 20000; iter++) {
    char in[64], json[512];
    size_t in_len = rng_next() % sizeof in;
    for (size_t k = 0; k < in_len; k++) in[k] = (char)rng_next();
    json_writer_init(&w, json, sizeof json);
    json_write_string(&w, in, in_len);
    size_t json_len = 0;
    bool ok = json_writer_finish(&w, &json_len) == JSON_OK;
    parsed q = parse_len(json, ok ? json_len : 0);
    if ((!ok || q.status != JSON_OK) && bad++ < 3)
      fprintf(stderr, "writer produced invalid JSON: %s\n", json_status_text(q.status));
    parsed_free(&q);
  }
  CHECK_EQ_INT(bad, 0);
}

static void test_status_text(void) {
  for (int s = JSON_OK; s <= JSON_ERR_NESTING; s++) {
    const char *text = json_status_text((json_status)s);
    CHECK(text != NULL && strcmp(text, "unknown json status") != 0);
  }
  CHECK_EQ_STR(json_status_text((json_status)999), "unknown json status");
}

int main(void) {
  test_valid_documents();
  test_invalid_documents();
  test_error_offsets();
  test_string_bytes_everywhere();
  test_utf8_boundaries();
  test_depth_limit();
  test_token_limit();
  test_size_limit();
  test_object_get();
  test_string_equals();
  test_get_integers();
  test_get_bool();
  test_unescape();
  test_surrogate_pairs();
  test_writer_structure();
  test_writer_integers();
  test_writer_escaping();
  test_writer_decimal();
  test_writer_misuse();
  test_writer_overflow();
  test_writer_round_trip();
  test_status_text();
  return check_report("json");
}
