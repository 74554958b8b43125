/* channel.c: see include/bourse/channel.h. Thread-safe. */
#include "bourse/channel.h"

#include <stdio.h>
#include <string.h>

const char *const channel_kline_names[CHANNEL_KLINE_INTERVALS] = {"1m", "5m", "15m", "30m",
                                                                  "1h", "4h", "1d",  "1w"};
const int64_t channel_kline_ms[CHANNEL_KLINE_INTERVALS] = {60000,   300000,   900000,   1800000,
                                                           3600000, 14400000, 86400000, 604800000};

static const struct {
  const char *suffix;
  channel_kind kind;
} kinds[] = {{"depth", CHANNEL_DEPTH},     {"depth5", CHANNEL_DEPTH5}, {"depth10", CHANNEL_DEPTH10},
             {"depth20", CHANNEL_DEPTH20}, {"trades", CHANNEL_TRADES}, {"ticker", CHANNEL_TICKER},
             {"bbo", CHANNEL_BBO}};

channel_id channel_parse(const config *cfg, const char *name, size_t len) {
  if (len == 8 && memcmp(name, "!tickers", 8) == 0) return channel_make(0, CHANNEL_TICKERS, 0);
  const char *at = memchr(name, '@', len);
  if (!at || at == name) return 0;
  int market = config_find_market(cfg, name, (size_t)(at - name));
  if (market < 0) return 0;
  const char *suffix = at + 1;
  size_t suffix_len = len - (size_t)(suffix - name);
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    if (suffix_len == strlen(kinds[i].suffix) && memcmp(suffix, kinds[i].suffix, suffix_len) == 0)
      return channel_make((unsigned)market, kinds[i].kind, 0);
  if (suffix_len > 6 && memcmp(suffix, "kline_", 6) == 0)
    for (unsigned i = 0; i < CHANNEL_KLINE_INTERVALS; i++)
      if (suffix_len - 6 == strlen(channel_kline_names[i]) &&
          memcmp(suffix + 6, channel_kline_names[i], suffix_len - 6) == 0)
        return channel_make((unsigned)market, CHANNEL_KLINE, i);
  return 0;
}

size_t channel_name(const config *cfg, channel_id id, char out[64]) {
  channel_kind kind = channel_kind_of(id);
  if (kind == CHANNEL_TICKERS) return (size_t)snprintf(out, 64, "!tickers");
  const char *market = cfg->markets[channel_market(id)].name;
  if (kind == CHANNEL_KLINE)
    return (size_t)snprintf(out, 64, "%s@kline_%s", market, channel_kline_names[channel_param(id)]);
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    if (kinds[i].kind == kind) return (size_t)snprintf(out, 64, "%s@%s", market, kinds[i].suffix);
  out[0] = 0;
  return 0;
}
