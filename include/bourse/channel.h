/*
 * channel.h: public market-data channel names and their compact ids, shared by
 * the io threads (subscriptions) and the broadcast thread (production).
 *
 *   <M>@depth  <M>@depth5  <M>@depth10  <M>@depth20  <M>@trades  <M>@ticker
 *   <M>@kline_<1m|5m|15m|30m|1h|4h|1d|1w>  <M>@bbo  !tickers
 *
 * Market names are case-insensitive on input, upper case on output. Thread-safe.
 */
#ifndef BOURSE_CHANNEL_H
#define BOURSE_CHANNEL_H

#include "bourse/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum channel_kind {
  CHANNEL_DEPTH = 1,
  CHANNEL_DEPTH5,
  CHANNEL_DEPTH10,
  CHANNEL_DEPTH20,
  CHANNEL_TRADES,
  CHANNEL_TICKER,
  CHANNEL_KLINE, /* param: interval index, see channel_kline_names */
  CHANNEL_BBO,
  CHANNEL_TICKERS, /* !tickers: market unused */
} channel_kind;

#define CHANNEL_KLINE_INTERVALS 8

/* "1m", "5m", … "1w", and their lengths in milliseconds (1w: 7 days). */
extern const char *const channel_kline_names[CHANNEL_KLINE_INTERVALS];
extern const int64_t channel_kline_ms[CHANNEL_KLINE_INTERVALS];

/* A channel id: market (16 bits) | kind (8) | param (8). Never 0. */
typedef uint32_t channel_id;

static inline channel_id channel_make(unsigned market, channel_kind kind, unsigned param) {
  return (channel_id)(market << 16 | (unsigned)kind << 8 | param);
}
static inline unsigned channel_market(channel_id id) {
  return id >> 16;
}
static inline channel_kind channel_kind_of(channel_id id) {
  return (channel_kind)((id >> 8) & 0xff);
}
static inline unsigned channel_param(channel_id id) {
  return id & 0xff;
}

/* Parses a channel name; returns its id, or 0 when it names no public channel. */
channel_id channel_parse(const config *cfg, const char *name, size_t len);

/* Writes the channel's canonical name (NUL-terminated) into out (64 bytes); returns its length. */
size_t channel_name(const config *cfg, channel_id id, char out[64]);

#endif
