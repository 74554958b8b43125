#!/usr/bin/python3
"""REST market data on the client port: /api/v1/trades, /api/v1/ticker, /api/v1/klines (and
their errors) agree with the trades the test itself makes."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402
from test_protocol import SECRET, admin_ok, token  # noqa: E402

runner = h.Runner("rest_market")


def get(srv, path):
    resp = h.http_request(srv.port, "GET", path)
    return resp.status, json.loads(resp.body or b"null")


def session(srv, uid):
    ws = h.WSClient.open(srv.port)
    ws.send_text(json.dumps({"op": "auth", "id": 1, "token": token(uid)}))
    h.check(ws.recv_json().get("result") == {"uid": uid}, f"uid {uid} logged in")
    return ws


def place(ws, i, **args):
    ws.send_text(json.dumps({"op": "order.place", "id": i, "args": dict(market="ETHBTC", **args)}))
    while True:
        r = ws.recv_json()
        if r.get("id") == i:
            h.check("result" in r, f"order {args}: {r}")
            return r["result"]


def test_rest_values(srv):
    admin_ok(srv, "POST", "/admin/deposit", {"uid": 501, "asset": "ETH", "amount": "10"})
    admin_ok(srv, "POST", "/admin/deposit", {"uid": 502, "asset": "BTC", "amount": "10"})
    seller, buyer = session(srv, 501), session(srv, 502)
    fills = [("0.05", "1.5"), ("0.051", "0.5"), ("0.049", "2")]  # price, qty
    for i, (price, qty) in enumerate(fills):
        place(seller, 10 + i, side="sell", type="limit", price=price, qty=qty)
        r = place(buyer, 20 + i, side="buy", type="limit", price=price, qty=qty)
        h.check(r["status"] == "filled", f"trade {i} filled: {r}")
    time.sleep(0.3)  # a few ticks: the broadcast thread publishes
    status, trades = get(srv, "/api/v1/trades?market=ethbtc&limit=2")
    h.check(status == 200 and [(t["price"], t["qty"], t["side"]) for t in trades] ==
            [("0.051", "0.5", "buy"), ("0.049", "2", "buy")], f"last 2 trades, oldest first: {trades}")
    status, ticker = get(srv, "/api/v1/ticker?market=ETHBTC")
    want = {"last": "0.049", "open": "0.05", "high": "0.051", "low": "0.049", "volume": "4",
            "quote_volume": "0.1985", "change": "-0.001", "change_pct": "-2.00", "count": 3}
    h.check(status == 200 and all(ticker.get(k) == v for k, v in want.items()),
            f"ticker: want {want}, got {ticker}")
    status, all_tickers = get(srv, "/api/v1/ticker")
    h.check(status == 200 and {t["market"] for t in all_tickers} == {"BTCUSDT", "ETHUSDT", "ETHBTC"},
            f"every market's ticker: {all_tickers}")
    status, klines = get(srv, "/api/v1/klines?market=ETHBTC&interval=1w")
    h.check(status == 200 and len(klines) == 1 and klines[0]["o"] == "0.05" and
            klines[0]["c"] == "0.049" and klines[0]["v"] == "4" and klines[0]["n"] == 3 and
            klines[0]["closed"] is False, f"the current weekly candle: {klines}")
    for path, code in (("/api/v1/trades?market=NOPE", 4001), ("/api/v1/trades?market=ETHBTC&limit=0", 1003),
                       ("/api/v1/klines?market=ETHBTC&interval=2m", 1003), ("/api/v1/ticker?market=X", 4001),
                       ("/api/v1/depth?market=ETHBTC&limit=x", 1003)):
        status, body = get(srv, path)
        h.check(status == 400 and body.get("code") == code, f"{path}: 400/{code}, got {status} {body}")


runner.group("rest", [test_rest_values],
             env={"BOURSE_AUTH_JWT_SECRET": SECRET, "BOURSE_LIMITS_REQUESTS_PER_S": "1000000",
                  "BOURSE_LIMITS_BURST": "1000000"})
sys.exit(runner.finish())
