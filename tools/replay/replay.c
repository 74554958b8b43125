/*
 * replay.c: bourse-replay, the offline deterministic runner of the matching
 * and account logic (shared/spec/PROTOCOL.md "Offline replay").
 *
 *   bourse-replay --config FILE < commands.jsonl > events.jsonl
 *
 * One JSON command per input line; for every non-blank line exactly one
 * accepted or rejected line (with ref = the input line number, from 1), then
 * the trades and order status changes it caused, in causal order; after the
 * last line, one book line per configured market (sorted by name) and one
 * balance line per non-zero (uid, asset) (sorted by uid, then asset name).
 * No clock, no network, no disk: the same input gives the same output.
 *
 * Single-threaded: it owns one engine and feeds it inline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bourse/config.h"
#include "bourse/engine.h"
#include "bourse/engine_json.h"
#include "bourse/json.h"

#define REPLAY_MAX_TOKENS 65536
#define REPLAY_MAX_DEPTH  32
#define REPLAY_LINE_MAX   (64 * 1024)

typedef struct replay {
  const config *cfg;
  engine *e;
  long ref; /* the input line being processed */
  char line[REPLAY_LINE_MAX + 64];
} replay;

/* Writes one finished JSON line to stdout; a line that does not fit is a bug worth stopping for. */
static void put_line(json_writer *w) {
  size_t len;
  if (json_writer_finish(w, &len) != JSON_OK) {
    fprintf(stderr, "bourse-replay: output line too long\n");
    exit(3);
  }
  w->buf[len] = '\n';
  fwrite(w->buf, 1, len + 1, stdout);
}

static void write_ack_head(json_writer *w, replay *r, const char *type) {
  json_write_object_begin(w);
  JSON_WRITE_KEY(w, "type");
  json_write_string(w, type, strlen(type));
  JSON_WRITE_KEY(w, "ref");
  json_write_int64(w, r->ref);
}

static void print_rejected(replay *r, int code) {
  json_writer w;
  json_writer_init(&w, r->line, sizeof r->line - 1);
  write_ack_head(&w, r, "rejected");
  JSON_WRITE_KEY(&w, "code");
  json_write_int64(&w, code);
  json_write_object_end(&w);
  put_line(&w);
}

static void print_accepted(replay *r, const engine_event *ev) {
  json_writer w;
  json_writer_init(&w, r->line, sizeof r->line - 1);
  write_ack_head(&w, r, "accepted");
  if (ev->cmd_type == ENGINE_CMD_CANCEL_ALL) {
    JSON_WRITE_KEY(&w, "cancelled");
    json_write_int64(&w, ev->u.ack.cancelled);
  } else if (ev->cmd_type == ENGINE_CMD_PLACE || ev->cmd_type == ENGINE_CMD_CANCEL ||
             ev->cmd_type == ENGINE_CMD_AMEND) {
    JSON_WRITE_KEY(&w, "order_id");
    json_write_uint64(&w, ev->u.ack.order_id);
  }
  json_write_object_end(&w);
  put_line(&w);
}

static void write_decimal_member(json_writer *w, const char *key, const char *text) {
  json_write_key(w, key, strlen(key));
  json_write_string(w, text, strlen(text));
}

static void print_trade(replay *r, const engine_event *ev) {
  const config_market *m = &r->cfg->markets[ev->market];
  char text[ENGINE_JSON_DECIMAL_MAX];
  json_writer w;
  json_writer_init(&w, r->line, sizeof r->line - 1);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "type");
  JSON_WRITE_STRING(&w, "trade");
  JSON_WRITE_KEY(&w, "id");
  json_write_uint64(&w, ev->u.trade.trade_id);
  JSON_WRITE_KEY(&w, "market");
  json_write_string(&w, m->name, strlen(m->name));
  engine_json_price(m, ev->u.trade.price, text);
  write_decimal_member(&w, "price", text);
  engine_json_qty(m, ev->u.trade.qty, text);
  write_decimal_member(&w, "qty", text);
  JSON_WRITE_KEY(&w, "maker_order");
  json_write_uint64(&w, ev->u.trade.maker_order);
  JSON_WRITE_KEY(&w, "taker_order");
  json_write_uint64(&w, ev->u.trade.taker_order);
  JSON_WRITE_KEY(&w, "taker_side");
  const char *side = engine_side_name((engine_side)ev->u.trade.taker_side);
  json_write_string(&w, side, strlen(side));
  json_write_object_end(&w);
  put_line(&w);
}

/* Order lines are printed on status changes only (a second partial fill is not one). */
static void print_order(replay *r, const engine_event *ev) {
  if (ev->u.order.status == ev->u.order.prev_status) return;
  const config_market *m = &r->cfg->markets[ev->market];
  char text[ENGINE_JSON_DECIMAL_MAX];
  json_writer w;
  json_writer_init(&w, r->line, sizeof r->line - 1);
  json_write_object_begin(&w);
  JSON_WRITE_KEY(&w, "type");
  JSON_WRITE_STRING(&w, "order");
  JSON_WRITE_KEY(&w, "order_id");
  json_write_uint64(&w, ev->u.order.order_id);
  JSON_WRITE_KEY(&w, "status");
  const char *status = engine_status_name((engine_status)ev->u.order.status);
  json_write_string(&w, status, strlen(status));
  engine_json_qty(m, ev->u.order.filled, text);
  write_decimal_member(&w, "filled", text);
  json_write_object_end(&w);
  put_line(&w);
}

static void on_event(void *ctx, const engine_event *ev) {
  replay *r = ctx;
  switch (ev->type) {
  case ENGINE_EVENT_ACCEPTED:
    print_accepted(r, ev);
    break;
  case ENGINE_EVENT_REJECTED:
    print_rejected(r, ev->code);
    break;
  case ENGINE_EVENT_TRADE:
    print_trade(r, ev);
    break;
  case ENGINE_EVENT_ORDER:
    print_order(r, ev);
    break;
  default:
    break; /* balances: only the final state is printed */
  }
}

/* Decodes one command object into cmd; returns 0 or the reject code. */
static int decode(replay *r, const json_doc *doc, engine_cmd *cmd) {
  static const char *const ops[] = {"deposit", "withdraw", "place",
                                    "cancel",  "amend",    "cancel_all"};
  uint32_t op = json_object_get(doc, 0, "op", 2);
  int which = -1;
  for (int i = 0; op != JSON_NONE && i < 6; i++)
    if (json_string_equals(doc, op, ops[i], strlen(ops[i]))) which = i;
  if (which < 0) return ENGINE_CODE_UNKNOWN_OP;
  memset(cmd, 0, sizeof *cmd);
  cmd->tag = (uint64_t)r->ref;
  int code = engine_json_uid(doc, 0, &cmd->uid);
  if (code) return code;
  switch (which) {
  case 0:
    return engine_json_transfer(r->cfg, doc, 0, ENGINE_CMD_DEPOSIT, cmd);
  case 1:
    return engine_json_transfer(r->cfg, doc, 0, ENGINE_CMD_WITHDRAW, cmd);
  case 2:
    return engine_json_place(r->cfg, doc, 0, cmd);
  case 3:
    return engine_json_cancel(r->cfg, doc, 0, cmd);
  case 4:
    return engine_json_amend(r->cfg, doc, 0, cmd);
  default:
    return engine_json_cancel_all(r->cfg, doc, 0, cmd);
  }
}

static bool blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
  return true;
}

static void run_line(replay *r, const char *text, size_t len) {
  static json_token tokens[REPLAY_MAX_TOKENS];
  json_limits limits = {
      .max_bytes = len + 1, .max_depth = REPLAY_MAX_DEPTH, .max_tokens = REPLAY_MAX_TOKENS};
  json_doc doc;
  if (json_parse(text, len, tokens, &limits, &doc) != JSON_OK || tokens[0].type != JSON_OBJECT) {
    print_rejected(r, ENGINE_CODE_BAD_JSON);
    return;
  }
  engine_cmd cmd;
  int code = decode(r, &doc, &cmd);
  if (code) {
    print_rejected(r, code);
    return;
  }
  engine_process(r->e, &cmd, on_event, r);
}

/* ------------------------------------------------------------------------ */
/* Final state                                                              */

static void print_levels(json_writer *w, const config_market *m, const engine_level *levels,
                         size_t n) {
  char text[ENGINE_JSON_DECIMAL_MAX];
  json_write_array_begin(w);
  for (size_t i = 0; i < n; i++) {
    json_write_array_begin(w);
    json_write_string(w, text, engine_json_price(m, levels[i].price, text));
    json_write_string(w, text, engine_json_qty(m, levels[i].qty, text));
    json_write_array_end(w);
  }
  json_write_array_end(w);
}

static const config *sort_cfg;

static int compare_markets(const void *a, const void *b) {
  return strcmp(sort_cfg->markets[*(const unsigned *)a].name,
                sort_cfg->markets[*(const unsigned *)b].name);
}

static void print_books(replay *r, size_t max_levels) {
  unsigned order[CONFIG_MAX_MARKETS];
  for (unsigned i = 0; i < r->cfg->market_count; i++) order[i] = i;
  sort_cfg = r->cfg;
  qsort(order, r->cfg->market_count, sizeof *order, compare_markets);
  engine_level *levels = malloc(max_levels * sizeof *levels);
  /* A book line holds every level: size its buffer for the deepest side. */
  size_t cap = 256 + 2 * max_levels * (2 * ENGINE_JSON_DECIMAL_MAX + 8);
  char *buf = malloc(cap);
  if (!levels || !buf) {
    fprintf(stderr, "bourse-replay: out of memory\n");
    exit(3);
  }
  for (unsigned k = 0; k < r->cfg->market_count; k++) {
    unsigned i = order[k];
    const config_market *m = &r->cfg->markets[i];
    json_writer w;
    json_writer_init(&w, buf, cap - 1);
    json_write_object_begin(&w);
    JSON_WRITE_KEY(&w, "type");
    JSON_WRITE_STRING(&w, "book");
    JSON_WRITE_KEY(&w, "market");
    json_write_string(&w, m->name, strlen(m->name));
    JSON_WRITE_KEY(&w, "bids");
    print_levels(&w, m, levels, engine_depth(r->e, i, ENGINE_SIDE_BUY, levels, max_levels));
    JSON_WRITE_KEY(&w, "asks");
    print_levels(&w, m, levels, engine_depth(r->e, i, ENGINE_SIDE_SELL, levels, max_levels));
    json_write_object_end(&w);
    put_line(&w);
  }
  free(levels);
  free(buf);
}

typedef struct balance_row {
  uint64_t uid;
  unsigned asset;
  int64_t available, hold;
} balance_row;

typedef struct balance_list {
  balance_row *rows;
  size_t count, cap;
} balance_list;

static void collect_balance(void *ctx, uint64_t uid, unsigned asset, int64_t available,
                            int64_t hold) {
  balance_list *l = ctx;
  if (available == 0 && hold == 0) return;
  if (l->count == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 1024;
    l->rows = realloc(l->rows, l->cap * sizeof *l->rows);
    if (!l->rows) {
      fprintf(stderr, "bourse-replay: out of memory\n");
      exit(3);
    }
  }
  l->rows[l->count++] = (balance_row){uid, asset, available, hold};
}

static int compare_balances(const void *a, const void *b) {
  const balance_row *x = a, *y = b;
  if (x->uid != y->uid) return x->uid < y->uid ? -1 : 1;
  return strcmp(sort_cfg->assets[x->asset].name, sort_cfg->assets[y->asset].name);
}

static void print_balances(replay *r) {
  balance_list list = {0};
  engine_each_balance(r->e, collect_balance, &list);
  sort_cfg = r->cfg;
  if (list.count) qsort(list.rows, list.count, sizeof *list.rows, compare_balances);
  char text[ENGINE_JSON_DECIMAL_MAX];
  for (size_t i = 0; i < list.count; i++) {
    const balance_row *b = &list.rows[i];
    const config_asset *a = &r->cfg->assets[b->asset];
    json_writer w;
    json_writer_init(&w, r->line, sizeof r->line - 1);
    json_write_object_begin(&w);
    JSON_WRITE_KEY(&w, "type");
    JSON_WRITE_STRING(&w, "balance");
    JSON_WRITE_KEY(&w, "uid");
    json_write_uint64(&w, b->uid);
    JSON_WRITE_KEY(&w, "asset");
    json_write_string(&w, a->name, strlen(a->name));
    JSON_WRITE_KEY(&w, "available");
    json_write_string(&w, text, engine_json_amount(a, b->available, text));
    JSON_WRITE_KEY(&w, "hold");
    json_write_string(&w, text, engine_json_amount(a, b->hold, text));
    json_write_object_end(&w);
    put_line(&w);
  }
  free(list.rows);
}

/* ------------------------------------------------------------------------ */

/* Reads all of f; *lines = how many lines (a last line without a newline counts). */
static char *read_all(FILE *f, size_t *size, size_t *lines) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  if (!buf || ferror(f)) {
    fprintf(stderr, "bourse-replay: cannot read the input\n");
    exit(2);
  }
  *size = n;
  *lines = 0;
  for (size_t i = 0; i < n; i++) *lines += buf[i] == '\n';
  if (n && buf[n - 1] != '\n') ++*lines;
  return buf;
}

/*
 * An engine sized by the input: no input of `lines` commands can open more
 * orders, bring more users or create more balance entries than this, so a
 * replay never fails for capacity, and memory follows the input's size.
 */
static engine *create_engine(const config *cfg, size_t lines, char *err, size_t errlen) {
  size_t orders = lines + 2, entries = 2 * lines + 2;
  if (entries > (1u << 30)) {
    snprintf(err, errlen, "input of %zu lines is too large", lines);
    return NULL;
  }
  engine_limits limits = {.max_orders = (uint32_t)orders,
                          .max_accounts = (uint32_t)entries,
                          .max_users = (uint32_t)orders};
  return engine_create(cfg, &limits, err, errlen);
}

static int usage(void) {
  fprintf(stderr, "usage: bourse-replay --config FILE < commands.jsonl > events.jsonl\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
      path = argv[++i];
    else if (strncmp(argv[i], "--config=", 9) == 0)
      path = argv[i] + 9;
    else
      return usage();
  }
  if (!path) return usage();
  static config cfg;
  char err[512];
  if (config_load(&cfg, path, err, sizeof err) != 0) {
    fprintf(stderr, "bourse-replay: %s\n", err);
    return 2;
  }
  size_t size = 0, lines = 0;
  char *input = read_all(stdin, &size, &lines);
  static replay r;
  r.cfg = &cfg;
  r.e = create_engine(&cfg, lines, err, sizeof err);
  if (!r.e) {
    fprintf(stderr, "bourse-replay: %s\n", err);
    return 2;
  }
  static char out[1 << 16];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  for (char *line = input, *end = input + size; line < end;) {
    char *newline = memchr(line, '\n', (size_t)(end - line));
    size_t len = (size_t)((newline ? newline : end) - line);
    r.ref++;
    if (!blank(line, len)) {
      while (len > 0 && line[len - 1] == '\r') len--;
      run_line(&r, line, len);
    }
    line = newline ? newline + 1 : end;
  }
  free(input);
  print_books(&r, engine_open_orders(r.e) + 1);
  print_balances(&r);
  engine_destroy(r.e);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "bourse-replay: write error\n");
    return 1;
  }
  return 0;
}
