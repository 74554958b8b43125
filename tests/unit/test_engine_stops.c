/*
 * test_engine_stops.c: stop_limit and stop_market orders: holds at placement,
 * trigger direction decided at placement, checks after each taker (only its
 * final last price counts), FIFO of triggered orders in id order, cascades,
 * triggering at once, and the ways a triggered order can end (table-driven,
 * see engine_script.h; expectations worked out by hand from RULES.md).
 */
#include "engine_script.h"

/*
 * One buy lifts the ask at 101; the last price 101 triggers #7, whose fill
 * at 102 triggers #8, whose fill at 103 triggers #9: a three-step cascade.
 */
static const char *const cascade_up[] = {
    "> dep 1 BTC 100", "ok", "> dep 2 USDT 100000", "ok", "> dep 3 USDT 100000", "ok",
    "> dep 4 USDT 100000", "ok", "> buy 3 BTCUSDT stop_market s=101 q=1", "rej 4002",
    "> sell 1 BTCUSDT limit p=100 q=1", "ok #1", "#1 new 0", "> buy 2 BTCUSDT limit p=100 q=1",
    "ok #2", "T1 100x1 m1 t2 buy", "#1 filled 1", "#2 filled 1", "= last BTCUSDT 100",
    "> sell 1 BTCUSDT limit p=101 q=1", "ok #3", "#3 new 0", "> sell 1 BTCUSDT limit p=102 q=1",
    "ok #4", "#4 new 0", "> sell 1 BTCUSDT limit p=103 q=1", "ok #5", "#5 new 0",
    "> sell 1 BTCUSDT limit p=110 q=5", "ok #6", "#6 new 0",
    "> buy 3 BTCUSDT stop_market s=101 q=1", "ok #7", "#7 untriggered 0",
    "> buy 4 BTCUSDT stop_market s=102 q=1", "ok #8", "#8 untriggered 0",
    "> buy 3 BTCUSDT stop_limit s=103 p=110 q=2", "ok #9", "#9 untriggered 0",
    /* A stop_market buy by qty holds nothing until it triggers; stop_limit holds at once. */
    "= bal 3 USDT 99780 220", "= bal 4 USDT 100000 0", "> amend 3 BTCUSDT id=9 p=111", "rej 4006",
    "> buy 2 BTCUSDT limit p=101 q=1", "ok #10", "T2 101x1 m3 t10 buy", "#3 filled 1",
    "#10 filled 1", "T3 102x1 m4 t7 buy", "#4 filled 1", "#7 filled 1", "T4 103x1 m5 t8 buy",
    "#5 filled 1", "#8 filled 1", "T5 110x2 m6 t9 buy", "#6 partially_filled 2", "#9 filled 2",
    "= last BTCUSDT 110", "= bal 3 USDT 99678 0", "= bal 3 BTC 3 0", "= bal 4 USDT 99897 0",
    "= bal 4 BTC 1 0", "= book BTCUSDT bids - asks 110:3",
    /* Down stops: #13 triggers first (last 104 <= 105); its fill at 97 triggers #11 and #12
       in one check, which enter in id order although #12's stop is nearer. */
    "> dep 5 BTC 100", "ok", "> sell 5 BTCUSDT stop_market s=98 q=1", "ok #11", "#11 untriggered 0",
    "> sell 5 BTCUSDT stop_limit s=99 p=95 q=1", "ok #12", "#12 untriggered 0",
    "> sell 5 BTCUSDT stop_market s=105 q=1", "ok #13", "#13 untriggered 0", "= bal 5 BTC 97 3",
    "> buy 2 BTCUSDT limit p=104 q=1", "ok #14", "#14 new 0", "> buy 2 BTCUSDT limit p=97 q=3",
    "ok #15", "#15 new 0", "> sell 1 BTCUSDT limit p=104 q=1", "ok #16", "T6 104x1 m14 t16 sell",
    "#14 filled 1", "#16 filled 1", "T7 97x1 m15 t13 sell", "#15 partially_filled 1",
    "#13 filled 1", "T8 97x1 m15 t11 sell", "#15 partially_filled 2", "#11 filled 1",
    "T9 97x1 m15 t12 sell", "#15 filled 3", "#12 filled 1", "= last BTCUSDT 97", "= bal 5 BTC 97 0",
    "= bal 5 USDT 291 0",
    /* A sweep printing 96 then 98 leaves last = 98: the down stop at 96 stays, the up stop
       at 98 triggers. */
    "> sell 5 BTCUSDT stop_market s=96 q=1", "ok #17", "#17 untriggered 0",
    "> sell 1 BTCUSDT limit p=96 q=1", "ok #18", "#18 new 0", "> sell 1 BTCUSDT limit p=98 q=1",
    "ok #19", "#19 new 0", "> buy 4 BTCUSDT stop_limit s=98 p=200 q=1", "ok #20",
    "#20 untriggered 0", "> buy 2 BTCUSDT limit p=98 q=2", "ok #21", "T10 96x1 m18 t21 buy",
    "#18 filled 1", "T11 98x1 m19 t21 buy", "#19 filled 1", "#21 filled 2", "T12 110x1 m6 t20 buy",
    "#6 partially_filled 3", "#20 filled 1", "= orders BTCUSDT bids - asks 6:2",
    /* Placed at the last price: triggers at once, then rests as a limit. */
    "> buy 4 BTCUSDT stop_limit s=110 p=100 q=1", "ok #22", "#22 untriggered 0", "#22 new 0",
    "= book BTCUSDT bids 100:1 asks 110:2",
    /* Untriggered stops are open orders: cancel, cancel_all and client ids see them. */
    "> cancel 5 BTCUSDT id=17", "ok #17", "#17 cancelled 0",
    "> sell 5 BTCUSDT stop_limit s=50 p=40 q=2 cid=s1", "ok #23", "#23 untriggered 0",
    "> sell 5 ETHUSDT limit p=10 q=1 cid=s1", "rej 4009", "= bal 5 BTC 95 2", "> cxall 5", "ok n=1",
    "#23 cancelled 0", "= bal 5 BTC 97 0", NULL};

/* How a triggered order can end without trading. */
static const char *const triggered_endings[] = {
    "> dep 1 BTC 100",
    "ok",
    "> dep 2 USDT 1000",
    "ok",
    "> dep 3 USDT 100",
    "ok",
    "> sell 1 BTCUSDT limit p=100 q=1",
    "ok #1",
    "#1 new 0",
    "> buy 2 BTCUSDT limit p=100 q=1",
    "ok #2",
    "T1 100x1 m1 t2 buy",
    "#1 filled 1",
    "#2 filled 1",
    "> buy 3 BTCUSDT stop_market s=105 q=1",
    "ok #3",
    "#3 untriggered 0",
    "> buy 3 BTCUSDT stop_limit s=105 p=110 q=5 tif=fok",
    "rej 4004",
    "> wd 3 USDT 100",
    "ok", /* the stop_market buy by qty holds nothing yet */
    "> dep 2 USDT 10000",
    "ok",
    "> buy 2 BTCUSDT stop_limit s=105 p=110 q=5 tif=fok",
    "ok #4",
    "#4 untriggered 0",
    "> buy 2 BTCUSDT stop_limit s=105 p=120 q=1 po",
    "ok #5",
    "#5 untriggered 0",
    "> buy 2 BTCUSDT stop_market s=105 qq=50",
    "ok #6",
    "#6 untriggered 0",
    "= bal 2 USDT 10180 720",
    "> sell 1 BTCUSDT limit p=105 q=1",
    "ok #7",
    "#7 new 0",
    "> sell 1 BTCUSDT limit p=106 q=2",
    "ok #8",
    "#8 new 0",
    "> buy 2 BTCUSDT limit p=105 q=1",
    "ok #9",
    "T2 105x1 m7 t9 buy",
    "#7 filled 1",
    "#9 filled 1",
    "#3 cancelled 0", /* no quote at trigger time */
    "#4 cancelled 0", /* FOK not fillable at trigger time */
    "#5 cancelled 0", /* post-only would cross at trigger time */
    "#6 cancelled 0", /* by quote_qty: 50 affords no lot at 106 */
    "= bal 2 USDT 10795 0",
    "= bal 3 USDT 0 0",
    "= book BTCUSDT bids - asks 106:2",
    NULL};

/* Sell stops hold base at placement; a stop_market buy by quote_qty holds its budget. */
static const char *const stop_holds[] = {
    "> dep 1 BTC 10", "ok", "> dep 2 USDT 1000", "ok", "> sell 1 BTCUSDT limit p=50 q=1", "ok #1",
    "#1 new 0", "> buy 2 BTCUSDT market qq=50", "ok #2", "T1 50x1 m1 t2 buy", "#1 filled 1",
    "#2 filled 1", "> sell 1 BTCUSDT stop_market s=40 q=3", "ok #3", "#3 untriggered 0",
    "> sell 1 BTCUSDT stop_limit s=45 p=44 q=2", "ok #4", "#4 untriggered 0", "= bal 1 BTC 4 5",
    "> sell 1 BTCUSDT stop_market s=30 q=5", "rej 4004", "> buy 2 BTCUSDT stop_market s=60 qq=300",
    "ok #5", "#5 untriggered 0", "= bal 2 USDT 650 300", "> buy 2 BTCUSDT limit p=45 q=4", "ok #6",
    "#6 new 0", "> sell 1 BTCUSDT limit p=45 q=1", "ok #7", "T2 45x1 m6 t7 sell",
    "#6 partially_filled 1", "#7 filled 1",
    /* last 45 <= 45 triggers #4: sells 2 at 45 into #6. */
    "T3 45x2 m6 t4 sell", "#6 partially_filled 3", "#4 filled 2", "= bal 1 BTC 3 3",
    "= bal 1 USDT 185 0", "> cancel 2 BTCUSDT id=5", "ok #5", "#5 cancelled 0",
    "= bal 2 USDT 770 45", NULL};

int main(void) {
  CHECK(script_run("cascade_up", cascade_up) == 0);
  CHECK(script_run("triggered_endings", triggered_endings) == 0);
  CHECK(script_run("stop_holds", stop_holds) == 0);
  return check_report("engine_stops");
}
