/*
 * test_engine_fees.c: maker and taker fees on the asset received, rounded
 * down, credited to the fee account; the fee-token discount with one
 * rounding and eligibility (available + hold) looked at before each fill;
 * the fee account trading like anyone. ETHUSDT: a lot is 10 ETH units, a
 * tick x lot 3 USDT units, maker fee 1000 (0.1 %), taker fee 2000 (0.2 %).
 * The engine's self-check (run after every command) includes the money
 * audit, so conservation is checked throughout.
 */
#include "engine_script.h"

static const char *const fees_basic[] = {
    "> dep 1 ETH 10000", "ok", "> dep 2 USDT 1000000", "ok", "> sell 1 ETHUSDT limit p=1000 q=700",
    "ok #1", "#1 new 0", "= bal 1 ETH 3000 7000",
    /* base 3330: taker fee floor(6.66) = 6; quote 999000: maker fee 999. */
    "> buy 2 ETHUSDT limit p=1000 q=333", "ok #2", "T1 1000x333 m1 t2 buy f=999/6",
    "#1 partially_filled 333", "#2 filled 333", "= bal 2 ETH 3324 0", "= bal 2 USDT 1000 0",
    "= bal 1 USDT 998001 0", "= bal 1 ETH 3000 3670", "= bal 999 ETH 6 0", "= bal 999 USDT 999 0",
    /* The taker sells: base 1000 to the maker (fee floor(1.0) = 1), quote 300 to the taker
       (fee floor(0.6) = 0). */
    "> buy 2 ETHUSDT limit p=1 q=100", "ok #3", "#3 new 0", "> sell 1 ETHUSDT limit p=1 q=100",
    "ok #4", "T2 1x100 m3 t4 sell f=1/0", "#3 filled 100", "#4 filled 100", "= bal 999 ETH 7 0",
    "= bal 2 ETH 4323 0", "= bal 1 USDT 998301 0", NULL};

/* Discount: BNB, at least 100, 25 % off. */
static const char *const fees_discount[] = {
    "> dep 1 ETH 10000", "ok", "> dep 2 USDT 10000000", "ok", "> dep 2 BNB 100", "ok",
    "> dep 1 BNB 99", "ok",
    /* Taker eligible: floor(950 x 2000 x 75 / 1e8) = floor(1.425) = 1 (rounding twice would
       give floor(floor(1.9) x 0.75) = 0). Maker not eligible: 285000 x 0.001 = 285. */
    "> sell 1 ETHUSDT limit p=1000 q=95", "ok #1", "#1 new 0", "> buy 2 ETHUSDT limit p=1000 q=95",
    "ok #2", "T1 1000x95 m1 t2 buy f=285/1", "#1 filled 95", "#2 filled 95", "= bal 2 ETH 949 0",
    "= bal 2 USDT 9715000 0", "= bal 1 USDT 284715 0", "= bal 999 ETH 1 0", "= bal 999 USDT 285 0",
    /* Maker now eligible: floor(285000 x 1000 x 75 / 1e8) = floor(213.75) = 213. */
    "> dep 1 BNB 1", "ok", "> sell 1 ETHUSDT limit p=1000 q=95", "ok #3", "#3 new 0",
    "> buy 2 ETHUSDT limit p=1000 q=95", "ok #4", "T2 1000x95 m3 t4 buy f=213/1", "#3 filled 95",
    "#4 filled 95", "= bal 999 USDT 498 0", "= bal 999 ETH 2 0", "= bal 1 USDT 569502 0",
    /* Taker below the minimum again: base 2000 pays floor(4.0) = 4; maker 450. */
    "> wd 2 BNB 1", "ok", "> sell 1 ETHUSDT limit p=1000 q=200", "ok #5", "#5 new 0",
    "> buy 2 ETHUSDT limit p=1000 q=200", "ok #6", "T3 1000x200 m5 t6 buy f=450/4", "#5 filled 200",
    "#6 filled 200", "> dep 2 BNB 1", "ok", "> sell 1 ETHUSDT limit p=1000 q=200", "ok #7",
    "#7 new 0", "> buy 2 ETHUSDT limit p=1000 q=200", "ok #8", "T4 1000x200 m7 t8 buy f=450/3",
    "#7 filled 200", "#8 filled 200", "= bal 999 USDT 1398 0", "= bal 999 ETH 9 0", NULL};

/* Discount asset BTC, at least 50, 50 % off: user 1's BTC is all on hold and still counts. */
static const char *const fees_discount_hold[] = {"> dep 1 BTC 50",
                                                 "ok",
                                                 "> dep 1 ETH 10000",
                                                 "ok",
                                                 "> dep 2 USDT 10000000",
                                                 "ok",
                                                 "> sell 1 BTCUSDT limit p=1000000 q=50",
                                                 "ok #1",
                                                 "#1 new 0",
                                                 "= bal 1 BTC 0 50",
                                                 "> sell 1 ETHUSDT limit p=1000 q=200",
                                                 "ok #2",
                                                 "#2 new 0",
                                                 "> buy 2 ETHUSDT limit p=1000 q=200",
                                                 "ok #3",
                                                 "T1 1000x200 m2 t3 buy f=300/4",
                                                 "#2 filled 200",
                                                 "#3 filled 200",
                                                 NULL};

/*
 * Discount asset ETH, at least 1000, 50 % off. The taker starts with no ETH: the first fill
 * (2000 units) pays floor(4.0) = 4 and leaves it 1996 ETH, so the second fill (1000 units)
 * is discounted: floor(1000 x 2000 x 50 / 1e8) = 1. Eligibility is looked at before each fill.
 */
static const char *const fees_eligibility_per_fill[] = {"> dep 1 ETH 10000",
                                                        "ok",
                                                        "> dep 2 USDT 10000000",
                                                        "ok",
                                                        "> sell 1 ETHUSDT limit p=1000 q=200",
                                                        "ok #1",
                                                        "#1 new 0",
                                                        "> sell 1 ETHUSDT limit p=1000 q=100",
                                                        "ok #2",
                                                        "#2 new 0",
                                                        "> buy 2 ETHUSDT limit p=1000 q=300",
                                                        "ok #3",
                                                        "T1 1000x200 m1 t3 buy f=300/4",
                                                        "#1 filled 200",
                                                        "T2 1000x100 m2 t3 buy f=150/1",
                                                        "#2 filled 100",
                                                        "#3 filled 300",
                                                        "= bal 2 ETH 2995 0",
                                                        "= bal 999 ETH 5 0",
                                                        "= bal 999 USDT 450 0",
                                                        NULL};

/* The fee account pays fees like anyone, to itself. */
static const char *const fee_account_trades[] = {"> dep 999 USDT 1000000",
                                                 "ok",
                                                 "> dep 1 ETH 10000",
                                                 "ok",
                                                 "> sell 1 ETHUSDT limit p=1000 q=100",
                                                 "ok #1",
                                                 "#1 new 0",
                                                 "> buy 999 ETHUSDT limit p=1000 q=100",
                                                 "ok #2",
                                                 "T1 1000x100 m1 t2 buy f=300/2",
                                                 "#1 filled 100",
                                                 "#2 filled 100",
                                                 "= bal 999 ETH 1000 0",
                                                 "= bal 999 USDT 700300 0",
                                                 "= bal 1 USDT 299700 0",
                                                 NULL};

static config fee_config(int discount_asset, int64_t min, unsigned pct) {
  config cfg;
  script_config(&cfg);
  cfg.markets[M_ETHUSDT].maker_fee = 1000;
  cfg.markets[M_ETHUSDT].taker_fee = 2000;
  cfg.fees_discount_asset = discount_asset;
  cfg.fees_discount_min = min;
  cfg.fees_discount_pct = pct;
  return cfg;
}

int main(void) {
  config cfg = fee_config(-1, 0, 0);
  CHECK(script_run_config(&cfg, "fees_basic", fees_basic) == 0);
  CHECK(script_run_config(&cfg, "fee_account_trades", fee_account_trades) == 0);
  cfg = fee_config(A_BNB, 100, 25);
  CHECK(script_run_config(&cfg, "fees_discount", fees_discount) == 0);
  cfg = fee_config(A_BTC, 50, 50);
  CHECK(script_run_config(&cfg, "fees_discount_hold", fees_discount_hold) == 0);
  cfg = fee_config(A_ETH, 1000, 50);
  CHECK(script_run_config(&cfg, "fees_eligibility_per_fill", fees_eligibility_per_fill) == 0);
  return check_report("engine_fees");
}
