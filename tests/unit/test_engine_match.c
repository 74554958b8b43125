/*
 * test_engine_match.c: matching of every order type, table-driven (see
 * engine_script.h for the scenario language). Every expected event and
 * balance below was worked out by hand from shared/spec/RULES.md; the
 * BTCUSDT market has lot_units = notional_unit = 1 and no fees, so a fill of
 * q lots at p ticks moves q BTC units and p x q USDT units.
 */
#include "engine_script.h"

static const char *const limit_rest_and_fill[] = {"> dep 1 USDT 10000",
                                                  "ok",
                                                  "> dep 2 BTC 100",
                                                  "ok",
                                                  "> buy 1 BTCUSDT limit p=100 q=5",
                                                  "ok #1",
                                                  "#1 new 0",
                                                  "= bal 1 USDT 9500 500",
                                                  "= book BTCUSDT bids 100:5 asks -",
                                                  "> sell 2 BTCUSDT limit p=100 q=5",
                                                  "ok #2",
                                                  "T1 100x5 m1 t2 sell",
                                                  "#1 filled 5",
                                                  "#2 filled 5",
                                                  "= bal 1 USDT 9500 0",
                                                  "= bal 1 BTC 5 0",
                                                  "= bal 2 BTC 95 0",
                                                  "= bal 2 USDT 500 0",
                                                  "= book BTCUSDT bids - asks -",
                                                  "= last BTCUSDT 100",
                                                  NULL};

/* A buy sweeps three levels, fills below its limit (the difference is released) and rests. */
static const char *const sweep_levels[] = {"> dep 1 BTC 100",
                                           "ok",
                                           "> dep 2 USDT 100000",
                                           "ok",
                                           "> sell 1 BTCUSDT limit p=101 q=2",
                                           "ok #1",
                                           "#1 new 0",
                                           "> sell 1 BTCUSDT limit p=102 q=3",
                                           "ok #2",
                                           "#2 new 0",
                                           "> sell 1 BTCUSDT limit p=102 q=1",
                                           "ok #3",
                                           "#3 new 0",
                                           "> sell 1 BTCUSDT limit p=105 q=4",
                                           "ok #4",
                                           "#4 new 0",
                                           "= book BTCUSDT bids - asks 101:2,102:4,105:4",
                                           "= orders BTCUSDT bids - asks 1:2,2:3,3:1,4:4",
                                           "> buy 2 BTCUSDT limit p=104 q=7",
                                           "ok #5",
                                           "T1 101x2 m1 t5 buy",
                                           "#1 filled 2",
                                           "T2 102x3 m2 t5 buy",
                                           "#2 filled 3",
                                           "T3 102x1 m3 t5 buy",
                                           "#3 filled 1",
                                           "#5 partially_filled 6",
                                           "= book BTCUSDT bids 104:1 asks 105:4",
                                           "= bal 2 USDT 99286 104",
                                           "= bal 2 BTC 6 0",
                                           "= bal 1 BTC 90 4",
                                           "= bal 1 USDT 610 0",
                                           "= last BTCUSDT 102",
                                           "> sell 1 BTCUSDT limit p=90 q=5",
                                           "ok #6",
                                           "T4 104x1 m5 t6 sell",
                                           "#5 filled 7",
                                           "#6 partially_filled 1",
                                           "= book BTCUSDT bids - asks 90:4,105:4",
                                           "= bal 2 USDT 99286 0",
                                           "= bal 2 BTC 7 0",
                                           "= bal 1 BTC 85 8",
                                           "= bal 1 USDT 714 0",
                                           NULL};

/* Prices far apart: with a 64-tick window most levels live in the fallback trees. */
static const char *const wide_prices[] = {
    "> dep 1 BTC 1000",
    "ok",
    "> dep 2 USDT 100000000",
    "ok",
    "> sell 1 BTCUSDT limit p=7000000 q=1",
    "ok #1",
    "#1 new 0",
    "> sell 1 BTCUSDT limit p=100000 q=2",
    "ok #2",
    "#2 new 0",
    "> sell 1 BTCUSDT limit p=1000 q=3",
    "ok #3",
    "#3 new 0",
    "> buy 2 BTCUSDT limit p=5 q=4",
    "ok #4",
    "#4 new 0",
    "> buy 2 BTCUSDT limit p=900 q=1",
    "ok #5",
    "#5 new 0",
    "> buy 2 BTCUSDT limit p=7 q=1",
    "ok #6",
    "#6 new 0",
    "= book BTCUSDT bids 900:1,7:1,5:4 asks 1000:3,100000:2,7000000:1",
    "> buy 2 BTCUSDT limit p=200000 q=5",
    "ok #7",
    "T1 1000x3 m3 t7 buy",
    "#3 filled 3",
    "T2 100000x2 m2 t7 buy",
    "#2 filled 2",
    "#7 filled 5",
    "= book BTCUSDT bids 900:1,7:1,5:4 asks 7000000:1",
    "> sell 1 BTCUSDT limit p=6 q=6",
    "ok #8",
    "T3 900x1 m5 t8 sell",
    "#5 filled 1",
    "T4 7x1 m6 t8 sell",
    "#6 filled 1",
    "#8 partially_filled 2",
    "= book BTCUSDT bids 5:4 asks 6:4,7000000:1",
    "= bal 2 USDT 99796073 20",
    "= bal 2 BTC 7 0",
    "= bal 1 BTC 988 5",
    "= bal 1 USDT 203907 0",
    NULL};

static const char *const fok_and_ioc[] = {
    "> dep 1 BTC 100", "ok", "> dep 2 USDT 10000", "ok", "> sell 1 BTCUSDT limit p=100 q=2",
    "ok #1", "#1 new 0", "> sell 1 BTCUSDT limit p=101 q=3", "ok #2", "#2 new 0",
    "> buy 2 BTCUSDT limit p=101 q=6 tif=fok", "rej 4007",
    "> buy 2 BTCUSDT limit p=100 q=3 tif=fok", "rej 4007", "= bal 2 USDT 10000 0",
    "= orders BTCUSDT bids - asks 1:2,2:3",
    /* Exactly fillable over two levels. */
    "> buy 2 BTCUSDT limit p=101 q=5 tif=fok", "ok #3", "T1 100x2 m1 t3 buy", "#1 filled 2",
    "T2 101x3 m2 t3 buy", "#2 filled 3", "#3 filled 5", "= bal 2 USDT 9497 0",
    "= book BTCUSDT bids - asks -", "> sell 1 BTCUSDT limit p=100 q=4", "ok #4", "#4 new 0",
    "> buy 2 BTCUSDT limit p=100 q=3 tif=fok", "ok #5", "T3 100x3 m4 t5 buy",
    "#4 partially_filled 3", "#5 filled 3", "> sell 2 BTCUSDT limit p=100 q=1 tif=fok", "rej 4007",
    "> buy 2 BTCUSDT limit p=100 q=5 tif=ioc", "ok #6", "T4 100x1 m4 t6 buy", "#4 filled 4",
    "#6 cancelled 1", "= bal 2 USDT 9097 0", "> buy 2 BTCUSDT limit p=100 q=5 tif=ioc", "ok #7",
    "#7 cancelled 0", "= bal 2 USDT 9097 0", "= bal 2 BTC 9 0", NULL};

static const char *const post_only[] = {"> dep 1 BTC 10",
                                        "ok",
                                        "> dep 1 USDT 1000",
                                        "ok",
                                        "> dep 2 USDT 10000",
                                        "ok",
                                        "> sell 1 BTCUSDT limit p=100 q=1",
                                        "ok #1",
                                        "#1 new 0",
                                        "> buy 2 BTCUSDT limit p=100 q=1 po",
                                        "rej 4005",
                                        "> buy 2 BTCUSDT limit p=101 q=1 po",
                                        "rej 4005",
                                        "> buy 2 BTCUSDT limit p=99 q=1 po",
                                        "ok #2",
                                        "#2 new 0",
                                        "> sell 1 BTCUSDT limit p=99 q=1 po",
                                        "rej 4005",
                                        "> sell 1 BTCUSDT limit p=100 q=1 po",
                                        "ok #3",
                                        "#3 new 0",
                                        "> buy 1 BTCUSDT limit p=100 q=1 po",
                                        "rej 4005", /* the user's own ask counts */
                                        "> buy 2 BTCUSDT limit p=98 q=1 tif=ioc po",
                                        "rej 1003",
                                        "> buy 2 BTCUSDT market q=1 po",
                                        "rej 1003",
                                        "= book BTCUSDT bids 99:1 asks 100:2",
                                        "= bal 2 USDT 9901 99",
                                        "= bal 1 USDT 1000 0",
                                        "= bal 1 BTC 8 2",
                                        NULL};

/* STP: user 1's ask (#1) is ahead of user 3's (#2) at 100; user 1 buys into them. */
#define STP_SETUP                                                                                  \
  "> dep 1 BTC 10", "ok", "> dep 1 USDT 1000", "ok", "> dep 3 BTC 10", "ok",                       \
      "> sell 1 BTCUSDT limit p=100 q=2", "ok #1", "#1 new 0", "> sell 3 BTCUSDT limit p=100 q=2", \
      "ok #2", "#2 new 0"

static const char *const stp_cancel_taker[] = {STP_SETUP,
                                               "> buy 1 BTCUSDT limit p=100 q=3 stp=cancel_taker",
                                               "ok #3",
                                               "#3 cancelled 0",
                                               "= book BTCUSDT bids - asks 100:4",
                                               "= bal 1 USDT 1000 0",
                                               NULL};

static const char *const stp_cancel_maker[] = {STP_SETUP,
                                               "> buy 1 BTCUSDT limit p=100 q=3 stp=cancel_maker",
                                               "ok #3",
                                               "#1 cancelled 0",
                                               "T1 100x2 m2 t3 buy",
                                               "#2 filled 2",
                                               "#3 partially_filled 2",
                                               "= book BTCUSDT bids 100:1 asks -",
                                               "= bal 1 USDT 700 100",
                                               "= bal 1 BTC 12 0",
                                               NULL};

static const char *const stp_cancel_both[] = {STP_SETUP,
                                              "> buy 1 BTCUSDT limit p=100 q=3 stp=cancel_both",
                                              "ok #3",
                                              "#1 cancelled 0",
                                              "#3 cancelled 0",
                                              "= book BTCUSDT bids - asks 100:2",
                                              "= bal 1 USDT 1000 0",
                                              "= bal 1 BTC 10 0",
                                              NULL};

static const char *const stp_none[] = {STP_SETUP,
                                       "> buy 1 BTCUSDT limit p=100 q=3",
                                       "ok #3",
                                       "T1 100x2 m1 t3 buy",
                                       "#1 filled 2",
                                       "T2 100x1 m2 t3 buy",
                                       "#2 partially_filled 1",
                                       "#3 filled 3",
                                       "= book BTCUSDT bids - asks 100:1",
                                       "= bal 1 USDT 900 0",
                                       "= bal 1 BTC 11 0",
                                       NULL};

static const char *const stp_market_by_quote[] = {STP_SETUP,
                                                  "> buy 1 BTCUSDT market qq=500 stp=cancel_both",
                                                  "ok #3",
                                                  "#1 cancelled 0",
                                                  "#3 cancelled 0",
                                                  "= bal 1 USDT 1000 0",
                                                  NULL};

/* The own order is behind another user's: the taker trades first, then stops. */
static const char *const stp_cancel_taker_after_fill[] = {
    "> dep 1 USDT 1000",
    "ok",
    "> dep 1 BTC 10",
    "ok",
    "> dep 3 BTC 10",
    "ok",
    "> sell 3 BTCUSDT limit p=100 q=2",
    "ok #1",
    "#1 new 0",
    "> sell 1 BTCUSDT limit p=100 q=2",
    "ok #2",
    "#2 new 0",
    "> buy 1 BTCUSDT limit p=100 q=3 stp=cancel_taker",
    "ok #3",
    "T1 100x2 m1 t3 buy",
    "#1 filled 2",
    "#3 cancelled 2",
    "= book BTCUSDT bids - asks 100:2",
    "= bal 1 USDT 800 0",
    NULL};

/* cancel_maker on a market sell skips two own bids on two levels. */
static const char *const stp_cancel_maker_levels[] = {
    "> dep 1 USDT 1000",
    "ok",
    "> dep 3 USDT 1000",
    "ok",
    "> dep 1 BTC 10",
    "ok",
    "> buy 1 BTCUSDT limit p=100 q=1",
    "ok #1",
    "#1 new 0",
    "> buy 1 BTCUSDT limit p=99 q=1",
    "ok #2",
    "#2 new 0",
    "> buy 3 BTCUSDT limit p=98 q=5",
    "ok #3",
    "#3 new 0",
    "> sell 1 BTCUSDT market q=3 stp=cancel_maker",
    "ok #4",
    "#1 cancelled 0",
    "#2 cancelled 0",
    "T1 98x3 m3 t4 sell",
    "#3 partially_filled 3",
    "#4 filled 3",
    "= bal 1 USDT 1294 0",
    "= bal 1 BTC 7 0",
    "= bal 3 BTC 3 0",
    "= bal 3 USDT 510 196",
    NULL};

/* A FOK counts only what its STP lets it take; a failed FOK cancels nothing. */
static const char *const stp_fok[] = {STP_SETUP,
                                      "> buy 1 BTCUSDT limit p=100 q=3 tif=fok stp=cancel_maker",
                                      "rej 4007",
                                      "= orders BTCUSDT bids - asks 1:2,2:2",
                                      "> buy 1 BTCUSDT limit p=100 q=1 tif=fok stp=cancel_taker",
                                      "rej 4007",
                                      "> buy 1 BTCUSDT limit p=100 q=1 tif=fok stp=cancel_both",
                                      "rej 4007",
                                      "> buy 1 BTCUSDT limit p=100 q=2 tif=fok stp=cancel_maker",
                                      "ok #3",
                                      "#1 cancelled 0",
                                      "T1 100x2 m2 t3 buy",
                                      "#2 filled 2",
                                      "#3 filled 2",
                                      "= book BTCUSDT bids - asks -",
                                      "= bal 1 USDT 800 0",
                                      "= bal 1 BTC 12 0",
                                      NULL};

static const char *const stp_fok_none[] = {STP_SETUP,     "> buy 1 BTCUSDT limit p=100 q=4 tif=fok",
                                           "ok #3",       "T1 100x2 m1 t3 buy",
                                           "#1 filled 2", "T2 100x2 m2 t3 buy",
                                           "#2 filled 2", "#3 filled 4",
                                           NULL};

static const char *const market_buy_by_quote[] = {
    "> dep 1 BTC 100", "ok", "> dep 2 USDT 1000", "ok", "> sell 1 BTCUSDT limit p=100 q=2", "ok #1",
    "#1 new 0", "> sell 1 BTCUSDT limit p=110 q=5", "ok #2", "#2 new 0",
    /* 455: 2 lots at 100 (200), 2 at 110 (220), 35 left affords none: filled. */
    "> buy 2 BTCUSDT market qq=455", "ok #3", "T1 100x2 m1 t3 buy", "#1 filled 2",
    "T2 110x2 m2 t3 buy", "#2 partially_filled 2", "#3 filled 4", "= bal 2 USDT 580 0",
    "= bal 2 BTC 4 0",
    /* The book runs out: cancelled with what filled. */
    "> buy 2 BTCUSDT market qq=500", "ok #4", "T3 110x3 m2 t4 buy", "#2 filled 5", "#4 cancelled 3",
    "= bal 2 USDT 250 0",
    /* Affords no lot at the first level: nothing traded, cancelled. */
    "> sell 1 BTCUSDT limit p=300 q=1", "ok #5", "#5 new 0", "> buy 2 BTCUSDT market qq=200",
    "ok #6", "#6 cancelled 0", "= bal 2 USDT 250 0",
    /* Budget spent exactly: filled. */
    "> sell 1 BTCUSDT limit p=50 q=5", "ok #7", "#7 new 0", "> buy 2 BTCUSDT market qq=100",
    "ok #8", "T4 50x2 m7 t8 buy", "#7 partially_filled 2", "#8 filled 2", "= bal 2 USDT 150 0",
    "> buy 2 BTCUSDT market qq=151", "rej 4004", "> buy 2 BTCUSDT market qq=0", "rej 4003",
    "> buy 2 BTCUSDT market q=1 qq=10", "rej 1003", "> buy 2 ETHUSDT market qq=100", "ok #9",
    "#9 cancelled 0", "= bal 2 USDT 150 0", NULL};

static const char *const market_buy_by_qty[] = {
    "> dep 1 BTC 100", "ok", "> dep 2 USDT 1000", "ok", "> sell 1 BTCUSDT limit p=100 q=2", "ok #1",
    "#1 new 0", "> sell 1 BTCUSDT limit p=110 q=5", "ok #2", "#2 new 0",
    "> buy 2 BTCUSDT market q=3", "ok #3", "T1 100x2 m1 t3 buy", "#1 filled 2",
    "T2 110x1 m2 t3 buy", "#2 partially_filled 1", "#3 filled 3", "= bal 2 USDT 690 0",
    "> buy 2 BTCUSDT market q=10", "ok #4", "T3 110x4 m2 t4 buy", "#2 filled 5", "#4 cancelled 4",
    "= bal 2 USDT 250 0",
    /* The whole available quote (250) affords 2 lots at 100. */
    "> sell 1 BTCUSDT limit p=100 q=10", "ok #5", "#5 new 0", "> buy 2 BTCUSDT market q=5", "ok #6",
    "T4 100x2 m5 t6 buy", "#5 partially_filled 2", "#6 cancelled 2", "= bal 2 USDT 50 0",
    "> wd 2 USDT 50", "ok", "> buy 2 BTCUSDT market q=1", "rej 4004", "> buy 3 BTCUSDT market q=1",
    "rej 4004", NULL};

static const char *const market_sell[] = {"> dep 1 USDT 1000",
                                          "ok",
                                          "> dep 2 BTC 10",
                                          "ok",
                                          "> buy 1 BTCUSDT limit p=100 q=2",
                                          "ok #1",
                                          "#1 new 0",
                                          "> buy 1 BTCUSDT limit p=90 q=2",
                                          "ok #2",
                                          "#2 new 0",
                                          "> sell 2 BTCUSDT market q=3",
                                          "ok #3",
                                          "T1 100x2 m1 t3 sell",
                                          "#1 filled 2",
                                          "T2 90x1 m2 t3 sell",
                                          "#2 partially_filled 1",
                                          "#3 filled 3",
                                          "> sell 2 BTCUSDT market q=5",
                                          "ok #4",
                                          "T3 90x1 m2 t4 sell",
                                          "#2 filled 2",
                                          "#4 cancelled 1",
                                          "= bal 2 BTC 6 0",
                                          "= bal 2 USDT 380 0",
                                          "= bal 1 USDT 620 0",
                                          "= bal 1 BTC 4 0",
                                          "> sell 2 BTCUSDT market qq=10",
                                          "rej 1003",
                                          "> sell 2 BTCUSDT market q=7",
                                          "rej 4004",
                                          "> sell 2 BTCUSDT market q=6",
                                          "ok #5",
                                          "#5 cancelled 0",
                                          "= bal 2 BTC 6 0",
                                          NULL};

/* ETHUSDT: a lot is 10 ETH units, a tick x lot is 3 USDT units. */
static const char *const units[] = {
    "> dep 1 ETH 1000", "ok", "> dep 2 USDT 1000", "ok", "> sell 1 ETHUSDT limit p=7 q=20", "ok #1",
    "#1 new 0", "= bal 1 ETH 800 200", "> buy 2 ETHUSDT limit p=8 q=30", "ok #2",
    "T1 7x20 m1 t2 buy", "#1 filled 20", "#2 partially_filled 20",
    /* Paid 7 x 20 x 3 = 420; holds 8 x 10 x 3 = 240 for the rest. */
    "= bal 2 USDT 340 240", "= bal 2 ETH 200 0", "= bal 1 USDT 420 0", "= bal 1 ETH 800 0",
    "> buy 2 ETHUSDT limit p=8 q=15", "rej 4004", NULL};

int main(void) {
  CHECK(script_run("limit_rest_and_fill", limit_rest_and_fill) == 0);
  CHECK(script_run("sweep_levels", sweep_levels) == 0);
  CHECK(script_run("wide_prices", wide_prices) == 0);
  CHECK(script_run("fok_and_ioc", fok_and_ioc) == 0);
  CHECK(script_run("post_only", post_only) == 0);
  CHECK(script_run("stp_cancel_taker", stp_cancel_taker) == 0);
  CHECK(script_run("stp_cancel_maker", stp_cancel_maker) == 0);
  CHECK(script_run("stp_cancel_both", stp_cancel_both) == 0);
  CHECK(script_run("stp_none", stp_none) == 0);
  CHECK(script_run("stp_market_by_quote", stp_market_by_quote) == 0);
  CHECK(script_run("stp_cancel_taker_after_fill", stp_cancel_taker_after_fill) == 0);
  CHECK(script_run("stp_cancel_maker_levels", stp_cancel_maker_levels) == 0);
  CHECK(script_run("stp_fok", stp_fok) == 0);
  CHECK(script_run("stp_fok_none", stp_fok_none) == 0);
  CHECK(script_run("market_buy_by_quote", market_buy_by_quote) == 0);
  CHECK(script_run("market_buy_by_qty", market_buy_by_qty) == 0);
  CHECK(script_run("market_sell", market_sell) == 0);
  CHECK(script_run("units", units) == 0);
  return check_report("engine_match");
}
