/*
 * json.h: a zero-copy JSON tokenizer for client messages and a writer for
 * server messages, neither of which allocates.
 *
 * Why hand-written: Debian ships no yyjson, and cJSON and jansson allocate a
 * heap node per value, which the io threads' hot path (every client message is
 * parsed, every reply and push is written) must not do. Here the caller owns
 * every byte: the input, the token array and the output buffer.
 *
 * Thread-safe: no global state. A json_doc or json_writer belongs to whoever
 * owns its memory (in the server, one io or broadcast thread).
 *
 * Tokenizer
 * ---------
 * json_parse checks the input strictly against RFC 8259 (plus UTF-8 validity
 * of every string) and fills a flat array of tokens in document order. A
 * container's children follow it directly:
 *
 *   array:  [A, elem0 subtree, elem1 subtree, ...]
 *   object: [O, key0, value0 subtree, key1, value1 subtree, ...]
 *
 * Every token's `next` is the index just past its own subtree, so walking the
 * children of a container never descends into grandchildren:
 *
 *   for (uint32_t i = arr + 1, n = 0; n < tokens[arr].count; n++, i = tokens[i].next) ...
 *   for (uint32_t k = obj + 1, n = 0; n < tokens[obj].count; n++, k = tokens[k + 1].next)
 *     key k, value k + 1
 */
#ifndef BOURSE_JSON_H
#define BOURSE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum json_status {
  JSON_OK = 0,
  /* json_parse: the input is not JSON. */
  JSON_ERR_EMPTY,        /* no value at all: empty or whitespace only */
  JSON_ERR_EOF,          /* input ends inside a value (unterminated string, missing ']') */
  JSON_ERR_SYNTAX,       /* an unexpected character: comment, single quote, trailing comma... */
  JSON_ERR_TRAILING,     /* something other than whitespace after the top-level value */
  JSON_ERR_NUMBER,       /* malformed number: leading zero, bare '-', "1.", ".5", "+1", "1e" */
  JSON_ERR_CONTROL_CHAR, /* a raw byte < 0x20 inside a string */
  JSON_ERR_ESCAPE,       /* an unknown backslash escape or a \u without 4 hex digits */
  JSON_ERR_SURROGATE,    /* a \u escape with a lone or mismatched UTF-16 surrogate */
  JSON_ERR_UTF8,         /* invalid UTF-8 in a string (overlong, surrogate, > U+10FFFF, cut) */
  /* json_parse: the input is JSON but exceeds a json_limits bound. */
  JSON_ERR_TOO_LARGE,       /* more than max_bytes of input */
  JSON_ERR_TOO_DEEP,        /* arrays/objects nested deeper than max_depth */
  JSON_ERR_TOO_MANY_TOKENS, /* more values and keys than max_tokens */
  /* Accessors. */
  JSON_ERR_TYPE,        /* the token is not of the type the accessor reads */
  JSON_ERR_NOT_INTEGER, /* json_get_int64/uint64: the number has a fraction or an exponent */
  JSON_ERR_RANGE,       /* json_get_int64/uint64: the integer does not fit */
  JSON_ERR_NO_SPACE,    /* the caller's buffer is too small (unescape, writer) */
  /* Writer. */
  JSON_ERR_NESTING, /* writer calls out of order: key outside an object, value where a key
                       is due, unbalanced end, more than JSON_WRITER_MAX_DEPTH levels */
} json_status;

/* A short English description of a status, for logs and error replies. */
const char *json_status_text(json_status status);

typedef enum json_type {
  JSON_NULL = 0,
  JSON_FALSE,
  JSON_TRUE,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT,
} json_type;

/* Token flag: the string contains at least one backslash escape. */
#define JSON_TOKEN_ESCAPED 1u

/* "No such token", returned by json_object_get. */
#define JSON_NONE UINT32_MAX

/* Offsets are 32-bit: no input may be longer than this. */
#define JSON_MAX_INPUT ((size_t)UINT32_MAX - 1)

typedef struct json_token {
  /* Byte offset into the input. Strings: the first byte after the opening
   * quote. Containers: the '[' or '{'. Numbers and literals: the first byte. */
  uint32_t start;
  /* Length in bytes. Strings: the raw bytes between the quotes, escapes not
   * decoded. Containers: up to and including the closing bracket. */
  uint32_t len;
  /* Index of the token after this token's whole subtree. */
  uint32_t next;
  /* Arrays: number of elements. Objects: number of members (key + value
   * pairs). Zero for scalars. */
  uint32_t count;
  uint8_t type;  /* json_type */
  uint8_t flags; /* JSON_TOKEN_ESCAPED */
} json_token;

typedef struct json_limits {
  size_t max_bytes;   /* longest input accepted (JSON_ERR_TOO_LARGE) */
  uint32_t max_depth; /* deepest array/object nesting; 0 allows only a scalar (JSON_ERR_TOO_DEEP) */
  uint32_t max_tokens; /* capacity of the caller's token array (JSON_ERR_TOO_MANY_TOKENS) */
} json_limits;

typedef struct json_error {
  json_status status;
  const char *message; /* static string saying what was wrong, e.g. "trailing comma" */
  size_t offset;       /* byte offset in the input where the problem was found */
} json_error;

/* A parsed document: borrows the input and the token array. */
typedef struct json_doc {
  const char *input;
  size_t len;
  json_token *tokens;
  uint32_t count; /* tokens used; the root is tokens[0] */
  json_error error;
} json_doc;

/*
 * Tokenizes input[0..len) into tokens[0..limits->max_tokens). Nothing is
 * allocated and the input is not modified; the document points into both, so
 * they must outlive it. On success returns JSON_OK and doc->count > 0. On
 * error returns the status (also in doc->error with a message and the byte
 * offset), sets doc->count to 0 and leaves the token array unspecified.
 */
json_status json_parse(const char *input, size_t len, json_token *tokens, const json_limits *limits,
                       json_doc *doc);

/*
 * Looks up `key` (key_len bytes, raw UTF-8, no escapes) among the members of
 * the object token `object` and returns the index of its value token, or
 * JSON_NONE when the token is not an object or has no such key. Keys written
 * with escapes in the input ("\u0070rice") match their decoded form. With
 * duplicate keys the first one wins. Linear in the number of members.
 */
uint32_t json_object_get(const json_doc *doc, uint32_t object, const char *key, size_t key_len);

/*
 * True when token `index` is a string whose decoded value is exactly
 * s[0..len). Escaped strings are compared in decoded form without a buffer.
 */
bool json_string_equals(const json_doc *doc, uint32_t index, const char *s, size_t len);

/*
 * Reads a number token as an int64. JSON_ERR_TYPE when it is not a number,
 * JSON_ERR_NOT_INTEGER when it has a fraction or exponent ("1.0", "1e3"),
 * JSON_ERR_RANGE when it does not fit. *out is untouched on error.
 */
json_status json_get_int64(const json_doc *doc, uint32_t index, int64_t *out);

/* Like json_get_int64 for a uint64; a '-' sign (even "-0") is JSON_ERR_RANGE. */
json_status json_get_uint64(const json_doc *doc, uint32_t index, uint64_t *out);

/* Reads a true/false token. JSON_ERR_TYPE for anything else. */
json_status json_get_bool(const json_doc *doc, uint32_t index, bool *out);

/*
 * Decodes string token `index` into buf[0..cap): every escape is decoded, a
 * \uD83D\uDE00 surrogate pair to one 4-byte UTF-8 sequence. The result is
 * NUL-terminated and its length (without the NUL) stored in *out_len; it may
 * itself contain NUL bytes (from \u0000), so use the length. JSON_ERR_TYPE
 * when the token is not a string, JSON_ERR_NO_SPACE when the decoded value
 * plus the NUL does not fit in cap (buf is then unspecified).
 */
json_status json_string_unescape(const json_doc *doc, uint32_t index, char *buf, size_t cap,
                                 size_t *out_len);

/*
 * The zero-copy path: when string token `index` has no escapes, points *ptr
 * at its bytes in the input (not NUL-terminated), stores the length and
 * returns true. Returns false for escaped strings (use json_string_unescape)
 * and for non-strings.
 */
bool json_string_raw(const json_doc *doc, uint32_t index, const char **ptr, size_t *len);

/*
 * Writer
 * ------
 * Writes compact JSON into a caller buffer; commas and colons are automatic.
 * Functions return nothing: the first error (the buffer is full, or calls in
 * an order that would not be JSON) is sticky, every later call does nothing,
 * and the caller checks once with json_writer_finish. The writer never writes
 * past cap; after an error the buffer holds an unspecified prefix.
 */
#define JSON_WRITER_MAX_DEPTH 32

typedef struct json_writer {
  char *buf;
  size_t cap;
  size_t len;
  json_status status; /* sticky first error */
  uint32_t depth;     /* open containers */
  /* Per level (0 = top): state bits private to json_write.c. */
  uint8_t frame[JSON_WRITER_MAX_DEPTH + 1];
} json_writer;

/* Starts writing into buf[0..cap). The writer borrows buf. */
void json_writer_init(json_writer *w, char *buf, size_t cap);

/*
 * Ends writing: returns JSON_OK and the length in *out_len when exactly one
 * complete top-level value was written; otherwise the sticky error, or
 * JSON_ERR_NESTING when a container is still open or nothing was written.
 * The output is not NUL-terminated.
 */
json_status json_writer_finish(const json_writer *w, size_t *out_len);

void json_write_object_begin(json_writer *w);
void json_write_object_end(json_writer *w);
void json_write_array_begin(json_writer *w);
void json_write_array_end(json_writer *w);

/* A member key inside an object (escaped like json_write_string). */
void json_write_key(json_writer *w, const char *key, size_t len);
/* json_write_key for a string literal. */
#define JSON_WRITE_KEY(w, literal) json_write_key((w), (literal), sizeof(literal) - 1)

/*
 * A string value. '"', '\\' and control characters are escaped (\n \r \t \b
 * \f by name, others as \u00XX); valid UTF-8 passes through unchanged; each
 * byte that is not part of valid UTF-8 is written as U+FFFD, so the output is
 * always valid JSON.
 */
void json_write_string(json_writer *w, const char *s, size_t len);
#define JSON_WRITE_STRING(w, literal) json_write_string((w), (literal), sizeof(literal) - 1)

void json_write_int64(json_writer *w, int64_t value);
void json_write_uint64(json_writer *w, uint64_t value);
void json_write_bool(json_writer *w, bool value);
void json_write_null(json_writer *w);

/*
 * Inserts json[0..len) as one value, unchanged. The caller guarantees it is
 * one valid JSON value (e.g. a message serialised earlier).
 */
void json_write_raw(json_writer *w, const char *json, size_t len);

/*
 * Writes the exact decimal value / 10^scale as a JSON string, shortest form:
 * no trailing fractional zeros, "0" for zero, '-' for negatives
 * (15000 at scale 4 -> "1.5"). scale > 18 is JSON_ERR_RANGE.
 */
void json_write_decimal(json_writer *w, int64_t value, unsigned scale);

#endif
