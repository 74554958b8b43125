/*
 * json_bench.c: bourse's JSON tokenizer and writer against cJSON (Debian
 * libcjson-dev), on the messages the io and broadcast threads handle.
 *
 * Parse rows: json_parse on a caller-owned token array vs
 * cJSON_ParseWithLength + cJSON_Delete (what a per-message use of cJSON
 * costs). "extract" rows also pull out every field an order.place needs,
 * copying strings into fixed buffers as the binary command would.
 * Write rows: json_writer into a preallocated buffer vs building the same
 * tree with cJSON and printing it with cJSON_PrintUnformatted (+ free).
 *
 * Each row: iterations calibrated to ~25 ms per run, 7 runs, median printed;
 * ratio = bourse throughput / cJSON throughput. Nothing here asserts a speed.
 * Single-threaded.
 */
#include "bourse/clock.h"
#include "bourse/json.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RUNS = 7, TOKENS = 1024 };
#define RUN_TARGET_NS 25000000ull

static json_token tokens[TOKENS];
static const json_limits limits = {1u << 16, 32, TOKENS};
static volatile uint64_t sink; /* keeps results observable so no loop is optimised away */

/* ------------------------------------------------------------------------ */
/* Inputs.                                                                  */

static char msg_order[512], msg_subscribe[1024], msg_auth[1024], msg_nested[4096];

static void build_inputs(void) {
  snprintf(msg_order, sizeof msg_order, "%s",
           "{\"op\":\"order.place\",\"id\":1234567,\"args\":{\"market\":\"BTCUSDT\",\"side\":"
           "\"buy\",\"type\":\"limit\",\"price\":\"50000.10\",\"qty\":\"0.12345678\",\"tif\":"
           "\"gtc\",\"post_only\":false,\"client_id\":\"mm-bot-7f3a9c2e-0001\",\"stp\":"
           "\"cancel_taker\"}}");

  static const char *const markets[] = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"};
  static const char *const kinds[] = {"depth", "trades", "ticker", "kline_1m"};
  size_t o = (size_t)snprintf(msg_subscribe, sizeof msg_subscribe,
                              "{\"op\":\"subscribe\",\"id\":42,\"args\":[");
  for (int i = 0; i < 20; i++)
    o += (size_t)snprintf(msg_subscribe + o, sizeof msg_subscribe - o, "%s\"%s@%s\"", i ? "," : "",
                          markets[i % 5], kinds[i / 5]);
  snprintf(msg_subscribe + o, sizeof msg_subscribe - o, "]}");

  /* An RS256-sized JWT: header.payload.signature in base64url, ~700 characters. */
  static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char jwt[800];
  size_t j = 0;
  uint32_t x = 12345;
  static const int lens[3] = {36, 180, 342};
  for (int part = 0; part < 3; part++) {
    if (part) jwt[j++] = '.';
    for (int i = 0; i < lens[part]; i++) {
      x = x * 1103515245u + 12345u;
      jwt[j++] = b64url[(x >> 16) & 63];
    }
  }
  jwt[j] = '\0';
  snprintf(msg_auth, sizeof msg_auth, "{\"op\":\"auth\",\"id\":1,\"token\":\"Bearer %s\"}", jwt);

  /* ~2 KB of nested objects and arrays whose strings carry escapes. */
  o = (size_t)snprintf(msg_nested, sizeof msg_nested,
                       "{\"op\":\"publish\",\"id\":99,\"channel\":\"1001@account\",\"data\":{"
                       "\"name\":\"Zo\\u00eb \\\"the trader\\\" M\\u00fcller\",\"notes\":\"line1\\n"
                       "line2\\ttab \\\\ backslash \\/ slash \\ud83d\\ude00\",\"positions\":[");
  for (int i = 0; o < 1900; i++)
    o += (size_t)snprintf(msg_nested + o, sizeof msg_nested - o,
                          "%s{\"asset\":\"A%d\",\"available\":\"%d.5\",\"hold\":\"0.25\","
                          "\"history\":[{\"ts\":17000000%05d,\"delta\":\"-0.1\",\"memo\":\"fill "
                          "\\u2192 order \\\"#%d\\\"\"},{\"ts\":17000001%05d,\"ok\":true}]}",
                          i ? "," : "", i, i * 7, i, i, i);
  snprintf(msg_nested + o, sizeof msg_nested - o, "]}}");
}

/* ------------------------------------------------------------------------ */
/* Measurement.                                                             */

typedef void (*bench_fn)(const void *arg, uint64_t iterations);

static uint64_t run_ns(bench_fn fn, const void *arg, uint64_t iterations) {
  uint64_t t0 = clock_mono_ns();
  fn(arg, iterations);
  return clock_mono_ns() - t0;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median nanoseconds per operation over RUNS runs of ~RUN_TARGET_NS each. */
static double median_ns_per_op(bench_fn fn, const void *arg) {
  uint64_t iterations = 16;
  for (;;) { /* calibrate: double until one run takes a quarter of the target */
    uint64_t ns = run_ns(fn, arg, iterations);
    if (ns >= RUN_TARGET_NS / 4) {
      iterations = iterations * RUN_TARGET_NS / (ns ? ns : 1) + 1;
      break;
    }
    iterations *= 2;
  }
  double per_op[RUNS];
  for (int r = 0; r < RUNS; r++) per_op[r] = (double)run_ns(fn, arg, iterations) / iterations;
  qsort(per_op, RUNS, sizeof per_op[0], compare_double);
  return per_op[RUNS / 2];
}

static void print_row(const char *name, size_t bytes, double bourse_ns, double cjson_ns) {
  double mb = (double)bytes / 1e6;
  printf("%-22s %6zu %10.0f %12.0f %10.0f %12.0f %7.2fx\n", name, bytes, mb / (bourse_ns * 1e-9),
         1e9 / bourse_ns, mb / (cjson_ns * 1e-9), 1e9 / cjson_ns, cjson_ns / bourse_ns);
}

/* ------------------------------------------------------------------------ */
/* Parse.                                                                   */

static void parse_bourse(const void *arg, uint64_t iterations) {
  const char *msg = arg;
  size_t len = strlen(msg);
  uint64_t acc = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    json_doc doc;
    if (json_parse(msg, len, tokens, &limits, &doc) != JSON_OK) abort();
    acc += doc.count;
  }
  sink += acc;
}

static void parse_cjson(const void *arg, uint64_t iterations) {
  const char *msg = arg;
  size_t len = strlen(msg);
  uint64_t acc = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    cJSON *root = cJSON_ParseWithLength(msg, len);
    if (root == NULL) abort();
    acc += (uintptr_t)root->child;
    cJSON_Delete(root);
  }
  sink += acc;
}

/* What an order.place turns into: the fields the binary command carries. */
typedef struct order_fields {
  int64_t id;
  bool post_only;
  char market[16], side[8], type[16], price[40], qty[40], tif[8], client_id[40], stp[16];
} order_fields;

static bool copy_field_bourse(const json_doc *doc, uint32_t obj, const char *key, char *buf,
                              size_t cap) {
  size_t n;
  uint32_t v = json_object_get(doc, obj, key, strlen(key));
  return v != JSON_NONE && json_string_unescape(doc, v, buf, cap, &n) == JSON_OK;
}

static bool extract_bourse(const char *msg, size_t len, order_fields *f) {
  json_doc doc;
  if (json_parse(msg, len, tokens, &limits, &doc) != JSON_OK) return false;
  uint32_t op = json_object_get(&doc, 0, "op", 2);
  uint32_t args = json_object_get(&doc, 0, "args", 4);
  bool ok =
      json_string_equals(&doc, op, "order.place", 11) &&
      json_get_int64(&doc, json_object_get(&doc, 0, "id", 2), &f->id) == JSON_OK &&
      copy_field_bourse(&doc, args, "market", f->market, sizeof f->market) &&
      copy_field_bourse(&doc, args, "side", f->side, sizeof f->side) &&
      copy_field_bourse(&doc, args, "type", f->type, sizeof f->type) &&
      copy_field_bourse(&doc, args, "price", f->price, sizeof f->price) &&
      copy_field_bourse(&doc, args, "qty", f->qty, sizeof f->qty) &&
      copy_field_bourse(&doc, args, "tif", f->tif, sizeof f->tif) &&
      copy_field_bourse(&doc, args, "client_id", f->client_id, sizeof f->client_id) &&
      copy_field_bourse(&doc, args, "stp", f->stp, sizeof f->stp) &&
      json_get_bool(&doc, json_object_get(&doc, args, "post_only", 9), &f->post_only) == JSON_OK;
  return ok;
}

static bool copy_field_cjson(const cJSON *obj, const char *key, char *buf, size_t cap) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsString(item)) return false;
  size_t n = strlen(item->valuestring);
  if (n >= cap) return false;
  memcpy(buf, item->valuestring, n + 1);
  return true;
}

static bool extract_cjson(const char *msg, size_t len, order_fields *f) {
  cJSON *root = cJSON_ParseWithLength(msg, len);
  if (root == NULL) return false;
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "args");
  const cJSON *post_only = cJSON_GetObjectItemCaseSensitive(args, "post_only");
  bool ok = cJSON_IsString(op) && strcmp(op->valuestring, "order.place") == 0 &&
            cJSON_IsNumber(id) && copy_field_cjson(args, "market", f->market, sizeof f->market) &&
            copy_field_cjson(args, "side", f->side, sizeof f->side) &&
            copy_field_cjson(args, "type", f->type, sizeof f->type) &&
            copy_field_cjson(args, "price", f->price, sizeof f->price) &&
            copy_field_cjson(args, "qty", f->qty, sizeof f->qty) &&
            copy_field_cjson(args, "tif", f->tif, sizeof f->tif) &&
            copy_field_cjson(args, "client_id", f->client_id, sizeof f->client_id) &&
            copy_field_cjson(args, "stp", f->stp, sizeof f->stp) && cJSON_IsBool(post_only);
  if (ok) {
    f->id = (int64_t)id->valuedouble; /* cJSON keeps numbers as double: exact only below 2^53 */
    f->post_only = cJSON_IsTrue(post_only);
  }
  cJSON_Delete(root);
  return ok;
}

static void extract_bourse_loop(const void *arg, uint64_t iterations) {
  const char *msg = arg;
  size_t len = strlen(msg);
  order_fields f;
  uint64_t acc = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    if (!extract_bourse(msg, len, &f)) abort();
    acc += (uint64_t)f.id + (unsigned char)f.price[0];
  }
  sink += acc;
}

static void extract_cjson_loop(const void *arg, uint64_t iterations) {
  const char *msg = arg;
  size_t len = strlen(msg);
  order_fields f;
  uint64_t acc = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    if (!extract_cjson(msg, len, &f)) abort();
    acc += (uint64_t)f.id + (unsigned char)f.price[0];
  }
  sink += acc;
}

/* ------------------------------------------------------------------------ */
/* Write.                                                                   */

/*
 * cJSON has no exact decimal type, so its side gets the decimal strings from
 * this formatter (same shortest-form contract as json_write_decimal).
 */
static void bench_decimal(int64_t value, unsigned scale, char *out) {
  uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value, pow = 1;
  for (unsigned i = 0; i < scale; i++) pow *= 10;
  uint64_t frac = magnitude % pow;
  int n = sprintf(out, "%s%" PRIu64, value < 0 ? "-" : "", magnitude / pow);
  if (frac) {
    unsigned digits = scale;
    while (frac % 10 == 0) frac /= 10, digits--;
    sprintf(out + n, ".%0*" PRIu64, (int)digits, frac);
  }
}

typedef struct order_reply {
  int64_t request_id, created, updated;
  uint64_t order_id;
  int64_t price, stop, qty, filled, avg_price; /* price scale 2, qty scale 8 */
  const char *client_id, *market, *side, *type, *status, *tif;
  bool post_only;
} order_reply;

static const order_reply reply = {
    1234567, 1700000000000, 1700000000123,          987654321, 5000010, 0,       12345678,
    5000000, 5000005,       "mm-bot-7f3a9c2e-0001", "BTCUSDT", "buy",   "limit", "partially_filled",
    "gtc",   false};

static char out_buf[8192];

static size_t write_reply_bourse(const order_reply *r) {
  json_writer w;
  json_writer_init(&w, out_buf, sizeof out_buf);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "id");
  json_write_int64(&w, r->request_id);
  JSON_WRITE_KEY(&w, "result");
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "order_id");
  json_write_uint64(&w, r->order_id);
  JSON_WRITE_KEY(&w, "client_id");
  json_write_string(&w, r->client_id, strlen(r->client_id));
  JSON_WRITE_KEY(&w, "market");
  json_write_string(&w, r->market, strlen(r->market));
  JSON_WRITE_KEY(&w, "side");
  json_write_string(&w, r->side, strlen(r->side));
  JSON_WRITE_KEY(&w, "type");
  json_write_string(&w, r->type, strlen(r->type));
  JSON_WRITE_KEY(&w, "price");
  json_write_decimal(&w, r->price, 2);
  JSON_WRITE_KEY(&w, "stop");
  json_write_decimal(&w, r->stop, 2);
  JSON_WRITE_KEY(&w, "qty");
  json_write_decimal(&w, r->qty, 8);
  JSON_WRITE_KEY(&w, "filled");
  json_write_decimal(&w, r->filled, 8);
  JSON_WRITE_KEY(&w, "avg_price");
  json_write_decimal(&w, r->avg_price, 2);
  JSON_WRITE_KEY(&w, "status");
  json_write_string(&w, r->status, strlen(r->status));
  JSON_WRITE_KEY(&w, "tif");
  json_write_string(&w, r->tif, strlen(r->tif));
  JSON_WRITE_KEY(&w, "post_only");
  json_write_bool(&w, r->post_only);
  JSON_WRITE_KEY(&w, "created");
  json_write_int64(&w, r->created);
  JSON_WRITE_KEY(&w, "updated");
  json_write_int64(&w, r->updated);
  json_write_object_end(&w);
  json_write_object_end(&w);
  size_t len = 0;
  if (json_writer_finish(&w, &len) != JSON_OK) abort();
  return len;
}

static void add_decimal_cjson(cJSON *obj, const char *key, int64_t value, unsigned scale) {
  char text[32];
  bench_decimal(value, scale, text);
  cJSON_AddStringToObject(obj, key, text);
}

static char *write_reply_cjson(const order_reply *r) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddNumberToObject(root, "id", (double)r->request_id);
  cJSON *result = cJSON_AddObjectToObject(root, "result");
  cJSON_AddNumberToObject(result, "order_id", (double)r->order_id);
  cJSON_AddStringToObject(result, "client_id", r->client_id);
  cJSON_AddStringToObject(result, "market", r->market);
  cJSON_AddStringToObject(result, "side", r->side);
  cJSON_AddStringToObject(result, "type", r->type);
  add_decimal_cjson(result, "price", r->price, 2);
  add_decimal_cjson(result, "stop", r->stop, 2);
  add_decimal_cjson(result, "qty", r->qty, 8);
  add_decimal_cjson(result, "filled", r->filled, 8);
  add_decimal_cjson(result, "avg_price", r->avg_price, 2);
  cJSON_AddStringToObject(result, "status", r->status);
  cJSON_AddStringToObject(result, "tif", r->tif);
  cJSON_AddBoolToObject(result, "post_only", r->post_only);
  cJSON_AddNumberToObject(result, "created", (double)r->created);
  cJSON_AddNumberToObject(result, "updated", (double)r->updated);
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return text;
}

enum { DEPTH_LEVELS = 10 }; /* per side: 20 levels in all */

typedef struct depth_diff {
  int64_t ts, first_id, last_id;
  int64_t bid_price[DEPTH_LEVELS], bid_qty[DEPTH_LEVELS];
  int64_t ask_price[DEPTH_LEVELS], ask_qty[DEPTH_LEVELS];
} depth_diff;

static depth_diff diff;

static void build_diff(void) {
  diff.ts = 1700000000050;
  diff.first_id = 100001;
  diff.last_id = 100020;
  for (int i = 0; i < DEPTH_LEVELS; i++) {
    diff.bid_price[i] = 5000000 - 10 * i;
    diff.ask_price[i] = 5000010 + 10 * i;
    diff.bid_qty[i] = i == 3 ? 0 : 12345678 * (i + 1);
    diff.ask_qty[i] = 50000000 + 1000 * i;
  }
}

static void write_levels_bourse(json_writer *w, const int64_t *price, const int64_t *qty) {
  json_write_array_begin(w);
  for (int i = 0; i < DEPTH_LEVELS; i++) {
    json_write_array_begin(w);
    json_write_decimal(w, price[i], 2);
    json_write_decimal(w, qty[i], 8);
    json_write_array_end(w);
  }
  json_write_array_end(w);
}

static size_t write_diff_bourse(const depth_diff *d) {
  json_writer w;
  json_writer_init(&w, out_buf, sizeof out_buf);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "event");
  JSON_WRITE_STRING(&w, "BTCUSDT@depth");
  JSON_WRITE_KEY(&w, "ts");
  json_write_int64(&w, d->ts);
  JSON_WRITE_KEY(&w, "data");
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "U");
  json_write_int64(&w, d->first_id);
  JSON_WRITE_KEY(&w, "u");
  json_write_int64(&w, d->last_id);
  JSON_WRITE_KEY(&w, "bids");
  write_levels_bourse(&w, d->bid_price, d->bid_qty);
  JSON_WRITE_KEY(&w, "asks");
  write_levels_bourse(&w, d->ask_price, d->ask_qty);
  json_write_object_end(&w);
  json_write_object_end(&w);
  size_t len = 0;
  if (json_writer_finish(&w, &len) != JSON_OK) abort();
  return len;
}

static cJSON *levels_cjson(const int64_t *price, const int64_t *qty) {
  cJSON *levels = cJSON_CreateArray();
  for (int i = 0; i < DEPTH_LEVELS; i++) {
    char p[32], q[32];
    bench_decimal(price[i], 2, p);
    bench_decimal(qty[i], 8, q);
    cJSON *level = cJSON_CreateArray();
    cJSON_AddItemToArray(level, cJSON_CreateString(p));
    cJSON_AddItemToArray(level, cJSON_CreateString(q));
    cJSON_AddItemToArray(levels, level);
  }
  return levels;
}

static char *write_diff_cjson(const depth_diff *d) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "event", "BTCUSDT@depth");
  cJSON_AddNumberToObject(root, "ts", (double)d->ts);
  cJSON *data = cJSON_AddObjectToObject(root, "data");
  cJSON_AddNumberToObject(data, "U", (double)d->first_id);
  cJSON_AddNumberToObject(data, "u", (double)d->last_id);
  cJSON_AddItemToObject(data, "bids", levels_cjson(d->bid_price, d->bid_qty));
  cJSON_AddItemToObject(data, "asks", levels_cjson(d->ask_price, d->ask_qty));
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return text;
}

static void reply_bourse_loop(const void *arg, uint64_t iterations) {
  uint64_t acc = 0;
  for (uint64_t i = 0; i < iterations; i++) acc += write_reply_bourse(arg);
  sink += acc;
}

static void reply_cjson_loop(const void *arg, uint64_t iterations) {
  uint64_t acc = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    char *text = write_reply_cjson(arg);
    acc += (unsigned char)text[1];
    free(text);
  }
  sink += acc;
}

static void diff_bourse_loop(const void *arg, uint64_t iterations) {
  uint64_t acc = 0;
  for (uint64_t i = 0; i < iterations; i++) acc += write_diff_bourse(arg);
  sink += acc;
}

static void diff_cjson_loop(const void *arg, uint64_t iterations) {
  uint64_t acc = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    char *text = write_diff_cjson(arg);
    acc += (unsigned char)text[1];
    free(text);
  }
  sink += acc;
}

/* Both writers must produce the same bytes, or the comparison would be unfair. */
static bool same_output(size_t bourse_len, char *cjson_text) {
  bool same = strlen(cjson_text) == bourse_len && memcmp(cjson_text, out_buf, bourse_len) == 0;
  if (!same)
    printf("  output differs:\n  bourse %.*s\n  cJSON  %s\n", (int)bourse_len, out_buf, cjson_text);
  free(cjson_text);
  return same;
}

int main(void) {
  uint64_t start = clock_mono_ns();
  build_inputs();
  build_diff();
  printf("json_bench: median of %d runs of ~%llu ms each; ratio = bourse / cJSON throughput\n",
         RUNS, RUN_TARGET_NS / 1000000);
  printf("%-22s %6s %10s %12s %10s %12s %8s\n", "", "bytes", "bourse", "bourse", "cJSON", "cJSON",
         "ratio");
  printf("%-22s %6s %10s %12s %10s %12s %8s\n", "", "", "MB/s", "msg/s", "MB/s", "msg/s", "");

  static const struct {
    const char *name;
    const char *msg;
  } parse_rows[] = {
      {"parse order.place", msg_order},
      {"parse subscribe x20", msg_subscribe},
      {"parse auth (JWT)", msg_auth},
      {"parse 2KB nested", msg_nested},
  };
  for (size_t i = 0; i < sizeof parse_rows / sizeof parse_rows[0]; i++) {
    const char *msg = parse_rows[i].msg;
    print_row(parse_rows[i].name, strlen(msg), median_ns_per_op(parse_bourse, msg),
              median_ns_per_op(parse_cjson, msg));
  }

  order_fields a, b;
  if (!extract_bourse(msg_order, strlen(msg_order), &a) ||
      !extract_cjson(msg_order, strlen(msg_order), &b) || a.id != b.id ||
      strcmp(a.price, b.price) != 0 || strcmp(a.client_id, b.client_id) != 0) {
    fprintf(stderr, "json_bench: the two extractions disagree\n");
    return 1;
  }
  print_row("parse+extract order", strlen(msg_order),
            median_ns_per_op(extract_bourse_loop, msg_order),
            median_ns_per_op(extract_cjson_loop, msg_order));

  size_t reply_len = write_reply_bourse(&reply);
  bool reply_same = same_output(reply_len, write_reply_cjson(&reply));
  print_row("write order reply", reply_len, median_ns_per_op(reply_bourse_loop, &reply),
            median_ns_per_op(reply_cjson_loop, &reply));
  size_t diff_len = write_diff_bourse(&diff);
  bool diff_same = same_output(diff_len, write_diff_cjson(&diff));
  print_row("write depth diff x20", diff_len, median_ns_per_op(diff_bourse_loop, &diff),
            median_ns_per_op(diff_cjson_loop, &diff));

  printf("writer outputs identical to cJSON's: order reply %s, depth diff %s\n",
         reply_same ? "yes" : "no", diff_same ? "yes" : "no");
  printf("total %.1f s\n", (double)(clock_mono_ns() - start) / 1e9);
  return 0;
}
