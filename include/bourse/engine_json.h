/*
 * engine_json.h: the edge of the engine: request fields in JSON (the native
 * protocol's conventions, shared/spec/PROTOCOL.md) to binary engine_cmd, and
 * engine integers (ticks, lots, asset units) back to exact decimal strings.
 * Used by bourse-replay and meant for the io threads' native dialect, so both
 * validate a request the same way.
 *
 * Thread-safe: pure functions over a loaded config and a parsed json_doc.
 *
 * Decoders check, in RULES.md order, what only the edge can check: field
 * types and spellings (1003), the market name (4001 for an unknown one), and
 * decimal strings (1003 unless they match -?D+(.D+)?). A value that is well
 * formed but not representable (off tick, off lot, finer than the asset
 * unit, out of int64 range, <= 0) is passed to the engine as 0 with its
 * presence flag set, so the engine rejects it with the field's code in the
 * right place of the order. Everything the engine checks (required fields
 * per order type, combinations, halts, balances...) is left to it. A JSON
 * null counts as an absent field.
 *
 * Each decoder fills the command fields it owns and sets cmd->type; the
 * caller sets uid, tag and ts_ms (bourse-replay reads uid with
 * engine_json_uid first, as RULES.md checks the uid before anything else).
 */
#ifndef BOURSE_ENGINE_JSON_H
#define BOURSE_ENGINE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "bourse/config.h"
#include "bourse/engine.h"
#include "bourse/json.h"

/* Longest string engine_json_price & co. write, with the NUL. */
#define ENGINE_JSON_DECIMAL_MAX 48

/*
 * Reads member "uid" of object `obj`: a JSON integer >= 1. Returns 0 with
 * *uid set, or 1003 (missing, not an integer, < 1).
 */
int engine_json_uid(const json_doc *doc, uint32_t obj, uint64_t *uid);

/*
 * Decodes an order.place argument object: market, side, type, tif,
 * post_only, stp, client_id, price, stop, qty, quote_qty. Returns 0, 4001 or
 * 1003. On 0 the command is ready for engine_process (after uid, tag, ts_ms).
 */
int engine_json_place(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd);

/* order.cancel: market and order_id (integer or digit string) or client_id. 0, 4001 or 1003. */
int engine_json_cancel(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd);

/* order.amend: as cancel, plus price and/or qty. 0, 4001 or 1003. */
int engine_json_amend(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd);

/* order.cancel_all: optional market. 0, 4001 or 1003. */
int engine_json_cancel_all(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd *cmd);

/*
 * deposit / withdraw (type ENGINE_CMD_DEPOSIT or ENGINE_CMD_WITHDRAW): asset
 * (case-insensitive name) and amount. Returns 0 or 1003 (unknown asset,
 * malformed amount; an amount <= 0 or finer than the asset's unit is passed
 * as 0 for the engine to reject with 1003).
 */
int engine_json_transfer(const config *cfg, const json_doc *doc, uint32_t obj, engine_cmd_type type,
                         engine_cmd *cmd);

/*
 * Exact decimal strings of engine integers, shortest form ("100.5", "2",
 * "0"), written NUL-terminated into buf (ENGINE_JSON_DECIMAL_MAX bytes);
 * each returns the length. The product (ticks x tick, lots x lot) is formed
 * in 128 bits, so no value can wrap.
 */
size_t engine_json_price(const config_market *m, int64_t ticks, char *buf);
size_t engine_json_qty(const config_market *m, int64_t lots, char *buf);
size_t engine_json_amount(const config_asset *a, int64_t units, char *buf);

#endif
