#!/usr/bin/python3
"""Market data against the real server (issue 6): the public channels' contents checked
against what the test itself caused, computed independently here.

  book        book-keeping proof: clients subscribed to <M>@depth before, during (at random
              times) and after a seeded random order flow on two markets rebuild the book
              from snapshot + diffs (U == previous u + 1 for every diff, no gap, no
              overlap); at quiescence each equals GET /api/v1/depth exactly and equals the
              book summed from every user's open orders (`orders` op: independent of the
              feed). @depth5/10/20 and @bbo equal the top of that book.
  trades      a fresh server: known crossing orders; @trades lists exactly those trades
              (ids from the taker's private @trade pushes), @ticker, !tickers and
              @kline_1m equal values computed here with Decimal arithmetic.
  slow        feed.lag_bytes=8192, a huge net.max_send_queue: a subscriber with a tiny
              SO_RCVBUF that does not read while heavy flow runs; a normal subscriber keeps
              getting diffs on time; the slow one, once it reads, gets a fresh snapshot and
              a valid chain ending equal to REST depth; the server's RSS stays bounded.
  slow_close  net.max_send_queue=65536: the slow subscriber is closed (1008 or EOF), the
              others are unaffected.
  subs        subscription edge cases: unknown market 2001, list, unsubscribe, ?stream=,
              a repeated subscribe counts once against limits.max_subscriptions.

Seed: BOURSE_TEST_SEED (printed). Stdlib only.
"""

import json
import os
import random
import select
import socket
import sys
import time
from decimal import ROUND_HALF_UP, Decimal

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402
from bourse_harness import OP_CLOSE, OP_PING, OP_PONG, check, check_eq, fail  # noqa: E402
from test_protocol import BASE_ENV, QUIET, SLOW, T, Session, admin_ok, deposit, token, user  # noqa: E402

SEED = int(os.environ.get("BOURSE_TEST_SEED", str(int(time.time()) % 100000)))
print(f"seed {SEED} (BOURSE_TEST_SEED={SEED} to replay)", flush=True)

TICK_S = 0.05  # feed.tick_ms default
ENV = dict(BASE_ENV, BOURSE_LIMITS_MAX_OPEN_ORDERS="100000")

# name -> (mid price in ticks, tick size, lot size, min lots, max lots)
FLOW_MARKETS = {
    "BTCUSDT": (3000000, Decimal("0.01"), Decimal("0.00001"), 100, 5000),  # 0.001..0.05 BTC
    "ETHUSDT": (200000, Decimal("0.01"), Decimal("0.0001"), 100, 10000),  # 0.01..1 ETH
}


def D(s):
    return Decimal(s)


def wait_ticks(n=6):
    time.sleep(n * TICK_S * (3 if SLOW else 1))


# ---------------------------------------------------------------------------------------
# A depth book kept from snapshot + diffs


class Book:
    def __init__(self):
        self.sides = {"bids": {}, "asks": {}}

    def set_from(self, data, what):
        self.sides = {"bids": {}, "asks": {}}
        for side in ("bids", "asks"):
            levels = data.get(side)
            check(isinstance(levels, list), f"{what}: {side} must be a list: {data}")
            prices = []
            for lv in levels:
                check(isinstance(lv, list) and len(lv) == 2 and all(isinstance(x, str) for x in lv),
                      f"{what}: a level must be [\"price\",\"qty\"]: {lv!r}")
                p, q = D(lv[0]), D(lv[1])
                check(q > 0, f"{what}: a snapshot level with qty {lv[1]!r}: {lv}")
                check(p not in self.sides[side], f"{what}: price {lv[0]} twice in {side}")
                self.sides[side][p] = q
                prices.append(p)
            order = sorted(prices, reverse=(side == "bids"))
            check(prices == order, f"{what}: {side} not sorted best first: {levels}")

    def apply(self, data, what):
        for side in ("bids", "asks"):
            levels = data.get(side)
            check(isinstance(levels, list), f"{what}: {side} must be a list: {data}")
            for lv in levels:
                check(isinstance(lv, list) and len(lv) == 2 and all(isinstance(x, str) for x in lv),
                      f"{what}: a level must be [\"price\",\"qty\"]: {lv!r}")
                p, q = D(lv[0]), D(lv[1])
                check(p > 0 and q >= 0, f"{what}: bad level {lv}")
                if q == 0:
                    self.sides[side].pop(p, None)
                else:
                    self.sides[side][p] = q

    def levels(self, side, n=None):
        items = sorted(self.sides[side].items(), reverse=(side == "bids"))
        return items if n is None else items[:n]

    def as_lists(self, n=None):
        return {s: [(str(p), str(q)) for p, q in self.levels(s, n)] for s in ("bids", "asks")}

    def crossed(self):
        b, a = self.levels("bids", 1), self.levels("asks", 1)
        return bool(b and a and b[0][0] >= a[0][0])


def levels_of(data, side):
    return [(D(p), D(q)) for p, q in data[side]]


def diff_books(want, got, limit=8):
    out = []
    for side in ("bids", "asks"):
        a, b = want.sides[side], got.sides[side]
        for p in sorted(set(a) | set(b)):
            if a.get(p) != b.get(p):
                out.append(f"{side} {p}: expected {a.get(p)}, got {b.get(p)}")
    return "; ".join(out[:limit]) + (f" (+{len(out) - limit} more)" if len(out) > limit else "")


class DepthClient:
    """A WebSocket subscribed to <market>@depth (and maybe more channels), keeping a book.

    Every diff must chain (U == previous u + 1). A snapshot is allowed first, and later
    only when resync=True (a slow consumer's resync after it lagged)."""

    def __init__(self, srv, market, name, extra=(), via_stream=False, rcvbuf=None, resync=False,
                 uid=None):
        self.market = market
        self.name = name
        self.resync = resync
        channels = [f"{market}@depth"] + list(extra)
        path = "/ws?" + "&".join(f"stream={c}" for c in channels) if via_stream else "/ws"
        self.ws = h.WSClient.open(srv.port, path=path, timeout=T, name=name, rcvbuf=rcvbuf)
        self.book = Book()
        self.u = None
        self.snapshots = []  # (time, u)
        self.diffs = 0
        self.arrivals = []  # monotonic time of every depth message
        self.last = {}  # channel -> last data
        self.counts = {}
        self.closed = None  # (code, reason) or "EOF"
        self.replies = []
        if uid is not None:
            self.ws.send_json({"op": "auth", "id": 0, "token": token(uid)})
            channels.append("@account")
        if not via_stream:
            self.ws.send_json({"op": "subscribe", "id": 1, "args": channels})

    def handle(self, msg):
        if not isinstance(msg, dict):
            fail(f"{self.name}: a message that is not an object: {msg!r}")
        if "event" not in msg:
            if msg.get("id") == 0:
                check(isinstance(msg.get("result"), dict), f"{self.name}: auth reply: {msg}")
            else:
                check(msg.get("result") is True, f"{self.name}: subscribe reply: {msg}")
            self.replies.append(msg)
            return
        ev, data = msg["event"], msg.get("data")
        check(h.is_int(msg.get("ts")), f"{self.name}: push without an integer ts: {msg}")
        self.counts[ev] = self.counts.get(ev, 0) + 1
        if ev != f"{self.market}@depth":
            self.last[ev] = data
            return
        what = f"{self.name}: {ev} message #{self.counts[ev]}"
        check(isinstance(data, dict) and h.is_int(data.get("u")), f"{what}: no integer u: {msg}")
        self.arrivals.append(time.monotonic())
        if data.get("snapshot") is True:
            check("U" not in data, f"{what}: a snapshot carries no U: {msg}")
            if self.u is not None and not self.resync:
                fail(f"{what}: a second snapshot (u {data['u']}) on a client that never "
                     f"lagged; chain was at u {self.u}")
            if self.u is not None:
                check(data["u"] >= self.u, f"{what}: resync snapshot u {data['u']} < {self.u}")
            self.book.set_from(data, what)
            self.u = data["u"]
            self.snapshots.append((time.monotonic(), data["u"]))
            return
        check(self.u is not None, f"{what}: a diff before any snapshot: {msg}")
        check(h.is_int(data.get("U")), f"{what}: a diff without integer U: {msg}")
        if data["U"] != self.u + 1:
            fail(f"{what}: diff U {data['U']} but previous u {self.u} "
                 f"({'gap' if data['U'] > self.u + 1 else 'overlap'}): {h.short(json.dumps(msg), 300)}")
        check(data["u"] >= data["U"], f"{what}: u < U: {msg}")
        self.book.apply(data, what)
        self.u = data["u"]
        self.diffs += 1

    def pump(self, timeout=0.0):
        """Reads every message that arrives within timeout (0: only what is buffered)."""
        deadline = time.monotonic() + timeout
        n = 0
        if timeout == 0 and not self.ws.reader.buf and self.closed is None:
            if not select.select([self.ws.sock], [], [], 0)[0]:
                return 0
        while self.closed is None:
            left = max(0.0, deadline - time.monotonic())
            try:
                frame = self.ws.recv_frame(left if left > 0 else 0.0005, allow_timeout=True)
            except h.ConnectionClosed:
                self.closed = "EOF"
                break
            if frame is None:
                if time.monotonic() >= deadline or timeout == 0:
                    break
                continue
            if frame.opcode in (OP_PING, OP_PONG):
                continue
            if frame.opcode == OP_CLOSE:
                self.closed = self.ws.close_received
                break
            payload = frame.payload
            while not frame.fin:
                frame = self.ws.recv_frame(T)
                payload += frame.payload
            self.handle(json.loads(payload.decode("utf-8")))
            n += 1
        return n

    def settle(self, quiet=None):
        """Reads until nothing arrives for `quiet` seconds."""
        quiet = quiet if quiet is not None else max(QUIET, 6 * TICK_S)
        while self.pump(quiet):
            pass


def rest_depth(srv, market, limit=1000):
    resp = h.http_request(srv.port, "GET", f"/api/v1/depth?market={market}&limit={limit}", timeout=T)
    check_eq(resp.status, 200, f"GET /api/v1/depth?market={market} status ({resp!r})")
    data = resp.json()
    check(isinstance(data, dict) and h.is_int(data.get("u")), f"REST depth: {data}")
    b = Book()
    b.set_from(data, f"GET /api/v1/depth?market={market}")
    return data["u"], b


def orders_book(sessions, market):
    """The book summed from every user's open orders (orders op): remaining qty per price."""
    b = Book()
    for s in sessions:
        orders = s.ok("orders", args={"market": market})
        check(isinstance(orders, list), f"{s.name}: orders reply: {orders!r}")
        for o in orders:
            check(o.get("market") == market, f"{s.name}: orders for {market} gave {o}")
            rem = D(o["qty"]) - D(o.get("filled", "0"))
            check(rem > 0, f"{s.name}: an open order with nothing remaining: {o}")
            side = "bids" if o["side"] == "buy" else "asks"
            p = D(o["price"])
            b.sides[side][p] = b.sides[side].get(p, Decimal(0)) + rem
    return b


# ---------------------------------------------------------------------------------------
# A seeded random order flow


class Flow:
    def __init__(self, srv, uids, rng, markets=tuple(FLOW_MARKETS), spread=40):
        self.srv = srv
        self.rng = rng
        self.markets = markets
        self.spread = spread
        self.users = []
        for uid in uids:
            deposit(srv, uid, "USDT", "100000000")
            deposit(srv, uid, "BTC", "10000")
            deposit(srv, uid, "ETH", "100000")
            self.users.append(user(srv, uid, f"flow{uid}"))
        self.open = {s.name: [] for s in self.users}  # (market, order_id)
        self.ops = 0
        self.errors = {}

    def price(self, market, side, cross):
        mid, tick, _, _, _ = FLOW_MARKETS[market]
        off = self.rng.randint(1, self.spread)
        if cross:
            off = -self.rng.randint(0, self.spread // 3)
        ticks = mid - off if side == "buy" else mid + off
        return format(Decimal(ticks) * tick, "f")

    def qty(self, market):
        _, _, lot, lo, hi = FLOW_MARKETS[market]
        return format(Decimal(self.rng.randint(lo, hi)) * lot, "f")

    def step(self):
        rng = self.rng
        s = rng.choice(self.users)
        market = rng.choice(self.markets)
        mine = self.open[s.name]
        r = rng.random()
        self.ops += 1
        if r < 0.6 or not mine:
            side = rng.choice(("buy", "sell"))
            args = {"market": market, "side": side, "type": "limit",
                    "price": self.price(market, side, rng.random() < 0.2), "qty": self.qty(market)}
            o = s.ok("order.place", args=args)
            if o.get("status") in ("new", "partially_filled"):
                mine.append((market, o["order_id"]))
            return
        i = rng.randrange(len(mine))
        m, oid = mine[i]
        if r < 0.8:
            reply = s.request("order.cancel", args={"market": m, "order_id": oid})
            mine.pop(i)
        else:
            args = {"market": m, "order_id": oid}
            if rng.random() < 0.5:
                args["qty"] = self.qty(m)
            else:
                # a new price on either side of the mid: a sell moved below it crosses
                args["price"] = self.price(m, rng.choice(("buy", "sell")), False)
            reply = s.request("order.amend", args=args)
            res = reply.get("result")
            if isinstance(res, dict) and res.get("status") not in ("new", "partially_filled"):
                mine.pop(i)
        if "code" in reply:
            # filled meanwhile (4006), qty at or below filled (4003), a hold it cannot afford
            self.errors[reply["code"]] = self.errors.get(reply["code"], 0) + 1
            check(reply["code"] in (4003, 4004, 4006), f"flow: unexpected error {reply}")
            if reply["code"] == 4006 and (m, oid) in mine:
                mine.remove((m, oid))

    def run(self, seconds, pump=(), on_step=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(4):
                self.step()
            for c in pump:
                c.pump(0)
            if on_step:
                on_step()


def settle_all(clients, quiet=None):
    """Reads every client until none got anything for `quiet` seconds."""
    quiet = quiet if quiet is not None else max(QUIET, 6 * TICK_S)
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        socks = [c.ws.sock for c in clients if c.closed is None]
        if socks:
            select.select(socks, [], [], 0.02)
        if sum(c.pump(0) for c in clients):
            last = time.monotonic()


def check_quiescent(srv, clients, flow, market):
    """Every client's book == REST depth (u too) == the book summed from open orders."""
    wait_ticks()
    settle_all(clients)
    u, rest = rest_depth(srv, market)
    check(not rest.crossed(), f"REST depth of {market} is crossed: {rest.as_lists(3)}")
    model = orders_book(flow.users, market)
    d = diff_books(model, rest)
    check(not d, f"{market}: GET /api/v1/depth differs from the open orders' book: {d}")
    for c in clients:
        check(c.u is not None, f"{c.name}: never got a snapshot")
        check_eq(c.u, u, f"{c.name}: last u of the @depth chain vs REST depth u")
        d = diff_books(rest, c.book)
        check(not d, f"{c.name}: book rebuilt from @depth differs from REST depth: {d}")
    return u, rest


# ---------------------------------------------------------------------------------------
# 1 + 2. Book-keeping proof, top-N, bbo


def test_book_keeping_proof(srv):
    rng = random.Random(SEED)
    flow = Flow(srv, [5001, 5002, 5003, 5004], rng)
    clients = []
    for m in flow.markets:
        clients.append(DepthClient(srv, m, f"before-{m}"))
        clients.append(DepthClient(srv, m, f"before-stream-{m}", via_stream=True))
    top = {m: DepthClient(srv, m, f"top-{m}", extra=[f"{m}@depth5", f"{m}@depth10",
                                                     f"{m}@depth20", f"{m}@bbo"])
           for m in flow.markets}
    clients += list(top.values())
    settle_all(clients)
    seconds = 6.0 if SLOW else 4.0
    joins = sorted(rng.uniform(0.3, seconds - 0.3) for _ in range(6))
    t0 = time.monotonic()

    def join():
        while joins and time.monotonic() - t0 >= joins[0]:
            joins.pop(0)
            m = rng.choice(flow.markets)
            c = DepthClient(srv, m, f"during{len(clients)}-{m}")
            clients.append(c)

    flow.run(seconds, pump=clients, on_step=join)
    print(f"   flow: {flow.ops} operations, errors {flow.errors}; "
          + ", ".join(f"{c.name}: {c.diffs} diffs" for c in clients), flush=True)
    for m in flow.markets:
        clients.append(DepthClient(srv, m, f"after-{m}"))
    for m in flow.markets:
        mine = [c for c in clients if c.market == m]
        u, rest = check_quiescent(srv, mine, flow, m)
        check(len(rest.sides["bids"]) > 5 and len(rest.sides["asks"]) > 5,
              f"{m}: the flow should leave a book of some depth: {rest.as_lists(3)}")
        during = [c for c in mine if c.name.startswith("during")]
        for c in during:
            check(c.diffs > 0, f"{c.name}: joined during the flow but got no diff")
        # Top-N and bbo at quiescence.
        t = top[m]
        for n in (5, 10, 20):
            data = t.last.get(f"{m}@depth{n}")
            check(data is not None, f"{t.name}: no {m}@depth{n} message")
            for side in ("bids", "asks"):
                check_eq(levels_of(data, side), rest.levels(side, n),
                         f"{t.name}: last {m}@depth{n} {side} vs the top of the book")
        bbo = t.last.get(f"{m}@bbo")
        check(bbo is not None, f"{t.name}: no {m}@bbo message")
        bb, ba = rest.levels("bids", 1), rest.levels("asks", 1)
        want = (bb[0] if bb else (Decimal(0), Decimal(0))) + (ba[0] if ba else (Decimal(0), Decimal(0)))
        got = tuple(D(bbo[k]) for k in ("bid", "bid_qty", "ask", "ask_qty"))
        check_eq(got, want, f"{t.name}: last {m}@bbo (bid, bid_qty, ask, ask_qty) vs the book")
        check(h.is_int(bbo.get("u")) and bbo["u"] <= u, f"{t.name}: @bbo u {bbo.get('u')} vs {u}")
    # One more short burst: every chain continues and still ends equal to REST.
    flow.run(0.5, pump=clients)
    for m in flow.markets:
        check_quiescent(srv, [c for c in clients if c.market == m], flow, m)


# ---------------------------------------------------------------------------------------
# 3. Trades, ticker, klines


def test_trades_ticker_kline(srv):
    M = "BTCUSDT"
    deposit(srv, 6001, "BTC", "10")
    deposit(srv, 6001, "USDT", "1000000")
    deposit(srv, 6002, "BTC", "10")
    deposit(srv, 6002, "USDT", "1000000")
    # Keep every trade in one minute, so the current 1m candle holds them all.
    into = (time.time() * 1000) % 60000
    if into > 50000:
        time.sleep((60000 - into) / 1000 + 0.2)
    chans = [f"{M}@trades", f"{M}@ticker", f"{M}@kline_1m", "!tickers", f"{M}@bbo"]
    sub = Session(srv, "md-sub")
    check_eq(sub.ok("subscribe", args=chans), True, f"subscribe {chans}")
    maker = user(srv, 6001, "maker")
    taker = user(srv, 6002, "taker", channels=("@trade",))
    for p, q in (("30000", "0.1"), ("30010.5", "0.2"), ("30020", "0.3")):
        maker.place(market=M, side="sell", type="limit", price=p, qty=q)
    maker.place(market=M, side="buy", type="limit", price="29990", qty="0.5")
    maker.place(market=M, side="buy", type="limit", price="29000.01", qty="0.01")
    # Taker steps: buy 0.25 @30015 -> 0.1@30000, 0.15@30010.5; sell 0.2 @29980 -> 0.2@29990;
    # buy 0.05 @30020 -> 0.05@30010.5; sell 0.00007 @29990 -> 0.00007@29990.
    steps = [("buy", "30015", "0.25"), ("sell", "29980", "0.2"), ("buy", "30020", "0.05"),
             ("sell", "29990", "0.00017")]
    expected = [("30000", "0.1", "buy"), ("30010.5", "0.15", "buy"), ("29990", "0.2", "sell"),
                ("30010.5", "0.05", "buy"), ("29990", "0.00017", "sell")]
    for side, p, q in steps:
        taker.place(market=M, side=side, type="limit", price=p, qty=q, tif="ioc")
    deadline = time.monotonic() + T
    while len(taker.of("@trade")) < len(expected) and time.monotonic() < deadline:
        taker.poll(0.1)
    mine = [e["data"] for e in taker.of("@trade")]
    check_eq(len(mine), len(expected), f"taker's @trade pushes: {mine}")
    ids = [t["id"] for t in mine]
    for t, (p, q, _) in zip(mine, expected):
        check_eq((D(t["price"]), D(t["qty"])), (D(p), D(q)), f"taker @trade {t}")
    # Public @trades: exactly these, in order.
    wait_ticks()
    sub.drain(max(QUIET, 6 * TICK_S))
    pub = [t for e in sub.of(f"{M}@trades") for t in e["data"]]
    got = [(t.get("id"), D(t["price"]), D(t["qty"]), t.get("side")) for t in pub]
    want = [(i, D(p), D(q), s) for i, (p, q, s) in zip(ids, expected)]
    check_eq(got, want, f"{M}@trades pushes (id, price, qty, taker side)")
    for t in pub:
        check(h.is_int(t.get("ts")), f"@trades entry needs an integer ts: {t}")
    # Ticker, computed here.
    prices = [D(p) for p, _, _ in expected]
    qtys = [D(q) for _, q, _ in expected]
    quote = sum(p * q for p, q in zip(prices, qtys))
    first, last = prices[0], prices[-1]
    change = last - first
    pct = (change * 100 / first).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    book_u, book = rest_depth(srv, M)
    (bid, bid_q), (ask, ask_q) = book.levels("bids", 1)[0], book.levels("asks", 1)[0]
    want_t = {"last": last, "open": first, "high": max(prices), "low": min(prices),
              "volume": sum(qtys), "quote_volume": quote, "change": change, "count": 5,
              "bid": bid, "bid_qty": bid_q, "ask": ask, "ask_qty": ask_q}
    tick = sub.of(f"{M}@ticker")
    check(tick, f"no {M}@ticker push")
    tk = tick[-1]["data"]
    got_t = {k: (tk.get(k) if k == "count" else D(tk[k])) for k in want_t}
    check_eq(got_t, want_t, f"last {M}@ticker")
    check_eq(tk.get("change_pct"), format(pct, "f"), f"{M}@ticker change_pct ({tk})")
    alls = [x for e in sub.of("!tickers") for x in e["data"] if x.get("market") == M]
    check(alls, f"no !tickers entry for {M}")
    check_eq(alls[-1], dict(tk, market=M), f"last !tickers entry for {M} vs last @ticker")
    # The current 1m candle.
    ts = [t["ts"] for t in pub]
    minute = ts[0] // 60000 * 60000
    check(all(t // 60000 * 60000 == minute for t in ts), f"trades span a minute: {ts}")
    kl = sub.of(f"{M}@kline_1m")
    check(kl, f"no {M}@kline_1m push")
    k = kl[-1]["data"]
    want_k = {"t": minute, "o": first, "h": max(prices), "l": min(prices), "c": last,
              "v": sum(qtys), "q": quote, "n": 5, "closed": False}
    got_k = {x: (k.get(x) if x in ("t", "n", "closed") else D(k[x])) for x in want_k}
    check_eq(got_k, want_k, f"last {M}@kline_1m")
    # quote volume is exact: 8 decimals of USDT, no rounding needed for these trades.
    check_eq(quote, Decimal("15005.1983"), "the test's own quote volume sum")
    bbo = sub.of(f"{M}@bbo")[-1]["data"]
    check_eq(tuple(D(bbo[x]) for x in ("bid", "bid_qty", "ask", "ask_qty")),
             (bid, bid_q, ask, ask_q), "last @bbo vs REST depth")


# ---------------------------------------------------------------------------------------
# 4. Slow consumers


def rss_kib(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stuff(srv, uid, size):
    """Publishes a big message on <uid>@account through the fan-out path (fills the
    send queue of that user's subscribed sessions: the slow consumer)."""
    return admin_ok(srv, "POST", "/v1/publish",
                    {"channel": f"{uid}@account", "data": {"pad": "x" * size}})


def max_gap(times, start, end):
    pts = [start] + [t for t in times if start <= t <= end] + [end]
    return max(b - a for a, b in zip(pts, pts[1:]))


def test_slow_consumer_resynced(srv):
    M = "BTCUSDT"
    rng = random.Random(SEED + 1)
    flow = Flow(srv, [7001, 7002, 7003], rng, markets=(M,), spread=200)
    rss0 = rss_kib(srv)
    normal = DepthClient(srv, M, "normal")
    normal.settle(0.3)
    slow = DepthClient(srv, M, "slow", extra=[f"{M}@trades", f"{M}@depth20"], rcvbuf=4096,
                       resync=True, uid=7999)
    slow.settle(0.3)  # its replies and snapshot; from here it does not read
    t0 = time.monotonic()
    rss_max = [rss0]

    def side():
        if flow.ops % 200 == 0:
            stuff(srv, 7999, 30000)
            rss_max[0] = max(rss_max[0], rss_kib(srv))

    # Past what the kernel buffers hold (tcp_wmem autotunes the server's send buffer up
    # to 4 MiB): 8 MiB up front, so the slow one's queue in the server stays far above
    # lag_bytes while the flow runs.
    for _ in range(80):
        stuff(srv, 7999, 100000)
    flow.run(4.0 if SLOW else 3.0, pump=[normal], on_step=side)
    t1 = time.monotonic()
    gap = max_gap(normal.arrivals, t0, t1)
    print(f"   flow {flow.ops} ops; normal: {normal.diffs} diffs, longest wait {gap * 1000:.0f} ms;"
          f" RSS {rss0} -> max {rss_max[0]} KiB", flush=True)
    check(gap < 1.0, f"the normal subscriber waited {gap:.2f} s for a depth message "
          "while a slow one did not read")
    check(rss_max[0] - rss0 < 200 * 1024, f"server RSS grew from {rss0} to {rss_max[0]} KiB")
    # Now the slow one reads everything it was sent; the flow is over.
    check(srv.alive(), "server alive")
    slow.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    deadline = time.monotonic() + (20 if SLOW else 10)
    while time.monotonic() < deadline:  # read everything queued, then 1 s of silence
        if not slow.pump(1.0):
            break
    lagged_u = slow.u
    snaps_quiet = len(slow.snapshots)
    print(f"   slow after draining: {slow.diffs} diffs, snapshots at u "
          f"{[u for _, u in slow.snapshots]}, chain at u {slow.u}, {slow.counts}", flush=True)
    check(slow.closed is None, f"slow subscriber closed ({slow.closed}) with a 64 MiB queue limit")
    rest_u, _ = rest_depth(srv, M)
    check(slow.u != rest_u or snaps_quiet >= 2,
          "the slow subscriber never fell behind: the test did not create the condition")
    # A little more flow: the resync must happen now at the latest, and the chain go on.
    flow.run(0.3, pump=[normal, slow])
    check_quiescent(srv, [normal, slow], flow, M)
    check(len(slow.snapshots) >= 2,
          f"the slow subscriber fell behind (lag_bytes 8192) but got no fresh snapshot: "
          f"snapshots {slow.snapshots}, {slow.diffs} diffs, last u {slow.u}")
    check(snaps_quiet >= 2,
          f"the slow subscriber drained its queue after the flow stopped (chain at u "
          f"{lagged_u}, the book at u {rest_u}) but got no fresh snapshot within 1 s; it came "
          "only once new order flow produced a diff, so a lagged client of a quiet market "
          "keeps a stale book")
    rss1 = rss_kib(srv)
    check(rss1 - rss0 < 200 * 1024, f"server RSS grew from {rss0} to {rss1} KiB")


def test_slow_consumer_closed(srv):
    M = "BTCUSDT"
    rng = random.Random(SEED + 2)
    flow = Flow(srv, [7101, 7102], rng, markets=(M,), spread=100)
    normal = DepthClient(srv, M, "normal", extra=[f"{M}@trades"])
    normal.settle(0.3)
    slow = DepthClient(srv, M, "slow", extra=[f"{M}@trades"], rcvbuf=4096, resync=True, uid=7998)
    slow.settle(0.3)
    t0 = time.monotonic()

    def side():
        if flow.ops % 20 == 0:
            stuff(srv, 7998, 20000)

    flow.run(2.0, pump=[normal], on_step=side)
    # Keep the pressure on until the server drops the session (delivered: 0), at most 5 s.
    deadline = time.monotonic() + 5
    while stuff(srv, 7998, 20000) != {"delivered": 0} and time.monotonic() < deadline:
        flow.run(0.05, pump=[normal])
    gap = max_gap(normal.arrivals, t0, time.monotonic())
    check(gap < 1.0, f"the normal subscriber waited {gap:.2f} s for a depth message")
    check(normal.closed is None, f"the normal subscriber was closed: {normal.closed}")
    # The slow one: whatever it was sent, then a 1008 close or EOF.
    slow.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    deadline = time.monotonic() + 10
    while slow.closed is None and time.monotonic() < deadline:
        slow.pump(0.5)
    print(f"   slow: {slow.counts}, closed {slow.closed}", flush=True)
    check(slow.closed is not None, "the slow subscriber is still open past net.max_send_queue "
          f"(65536 bytes); it received {slow.counts}; server log: "
          f"{srv.wait_log('send queue over', 0.1)}")
    if slow.closed != "EOF":
        check_eq(slow.closed[0], 1008, f"close code for the slow subscriber ({slow.closed})")
    check_quiescent(srv, [normal], flow, M)
    normal.ws.ping_op(5)


# ---------------------------------------------------------------------------------------
# 5. Subscriptions


def test_subscription_edges(srv):
    s = Session(srv, "subs")
    for ch in ("NOPE@depth", "BTCUSDT@depth7", "BTCUSDT@kline_2m", "BTCUSDT@", "@depth"):
        s.err("subscribe", 2001, args=[ch])
    check_eq(s.ok("list"), [], "list after refused subscriptions")
    check_eq(s.ok("subscribe", args=["BTCUSDT@trades", "ETHUSDT@depth"]), True, "subscribe two")
    check_eq(sorted(s.ok("list")), ["BTCUSDT@trades", "ETHUSDT@depth"], "list")
    check_eq(s.ok("subscribe", args=["BTCUSDT@trades"]), True, "repeated subscribe")
    check_eq(s.ok("subscribe", channel="BTCUSDT@trades"), True, "repeated subscribe (channel)")
    check_eq(sorted(s.ok("list")), ["BTCUSDT@trades", "ETHUSDT@depth"], "list after repeats")
    # limits.max_subscriptions = 3: the repeats did not count, a third fits, a fourth not.
    check_eq(s.ok("subscribe", args=["!tickers"]), True, "third subscription")
    s.err("subscribe", 2002, args=["ETHUSDT@bbo"])
    check_eq(sorted(s.ok("list")), ["!tickers", "BTCUSDT@trades", "ETHUSDT@depth"], "list at max")
    # Unsubscribe stops the pushes; another subscriber still gets them.
    other = Session(srv, "subs-other")
    other.ok("subscribe", args=["BTCUSDT@trades"])
    check_eq(s.ok("unsubscribe", args=["BTCUSDT@trades"]), True, "unsubscribe")
    check_eq(sorted(s.ok("list")), ["!tickers", "ETHUSDT@depth"], "list after unsubscribe")
    check_eq(s.ok("subscribe", args=["ETHUSDT@bbo"]), True, "a slot is free again")
    s.drain(QUIET)
    s.take()
    deposit(srv, 6101, "BTC", "1")
    deposit(srv, 6102, "USDT", "100000")
    a, b = user(srv, 6101, "subs-a"), user(srv, 6102, "subs-b")
    a.place(market="BTCUSDT", side="sell", type="limit", price="30000", qty="0.01")
    b.place(market="BTCUSDT", side="buy", type="limit", price="30000", qty="0.01")
    other.wait_event(lambda e: e.get("event") == "BTCUSDT@trades", "BTCUSDT@trades")
    wait_ticks()
    s.drain(QUIET)
    check(not [e for e in s.events if e.get("event") == "BTCUSDT@trades"],
          f"BTCUSDT@trades pushed after unsubscribe: {s.events}")
    # ?stream= at connect: subscribed without any op, snapshot first.
    c = DepthClient(srv, "BTCUSDT", "stream", extra=["BTCUSDT@trades"], via_stream=True)
    c.settle(0.4)
    check(c.u is not None, "?stream=BTCUSDT@depth: no snapshot")
    sess = Session(srv, "stream-list", path="/ws?stream=BTCUSDT@depth&stream=ETHUSDT@ticker")
    check_eq(sorted(sess.ok("list")), ["BTCUSDT@depth", "ETHUSDT@ticker"], "list after ?stream=")
    u, rest = rest_depth(srv, "BTCUSDT")
    check_eq(c.u, u, "?stream= client u vs REST")
    check(not diff_books(rest, c.book), "?stream= client book vs REST")
    # REST argument errors.
    for q in ("market=NOPE", "", "market=BTCUSDT&limit=0", "market=BTCUSDT&limit=x"):
        r = h.http_request(srv.port, "GET", f"/api/v1/depth?{q}")
        check(400 <= r.status < 500, f"GET /api/v1/depth?{q}: expected 4xx, got {r!r}")


def main():
    r = h.Runner("market_data")
    r.group("book", [test_book_keeping_proof], env=ENV)
    r.group("trades", [test_trades_ticker_kline], env=ENV)
    r.group("slow", [test_slow_consumer_resynced],
            env=dict(ENV, BOURSE_FEED_LAG_BYTES="8192", BOURSE_NET_MAX_SEND_QUEUE=str(64 << 20)))
    r.group("slow_close", [test_slow_consumer_closed],
            env=dict(ENV, BOURSE_NET_MAX_SEND_QUEUE="65536"))
    r.group("subs", [test_subscription_edges], env=dict(ENV, BOURSE_LIMITS_MAX_SUBSCRIPTIONS="3"))
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
