/* test_channel.c: channel names <-> ids. */
#include "bourse/channel.h"
#include "check.h"

int main(void) {
  static config cfg;
  config_defaults(&cfg);
  cfg.market_count = 2;
  snprintf(cfg.markets[0].name, sizeof(cfg.markets[0].name), "BTCUSDT");
  snprintf(cfg.markets[1].name, sizeof(cfg.markets[1].name), "ETHBTC");
  static const char *const names[] = {"BTCUSDT@depth",  "BTCUSDT@depth5",   "ETHBTC@depth10",
                                      "ETHBTC@depth20", "BTCUSDT@trades",   "ETHBTC@ticker",
                                      "BTCUSDT@bbo",    "ETHBTC@kline_1m",  "ETHBTC@kline_1w",
                                      "!tickers",       "BTCUSDT@kline_15m"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    channel_id id = channel_parse(&cfg, names[i], strlen(names[i]));
    CHECK(id != 0);
    char out[64];
    channel_name(&cfg, id, out);
    CHECK_EQ_STR(out, names[i]);
  }
  CHECK(channel_parse(&cfg, "btcusdt@depth", 13) == channel_parse(&cfg, "BTCUSDT@depth", 13));
  static const char *const bad[] = {
      "BTCUSDT@depth1", "XRPUSDT@depth", "@depth", "BTCUSDT@",     "BTCUSDT", "BTCUSDT@kline_2m",
      "BTCUSDT@kline_", "!ticker",       "@order", "1001@account", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    CHECK_EQ_INT(channel_parse(&cfg, bad[i], strlen(bad[i])), 0);
  channel_id k = channel_parse(&cfg, "ETHBTC@kline_4h", 15);
  CHECK_EQ_INT(channel_market(k), 1);
  CHECK_EQ_INT(channel_kind_of(k), CHANNEL_KLINE);
  CHECK_EQ_INT(channel_kline_ms[channel_param(k)], 14400000);
  return check_report("channel");
}
