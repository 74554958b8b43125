#!/usr/bin/python3
"""The native protocol against the real server (issue 5): auth (JWT, API keys), order entry,
private streams, API-key management, the admin API, and the per-user limits.

Contract: shared/spec/PROTOCOL.md and RULES.md, docs/AUTH.md, docs/CONFIG.md. Expected money
is computed here, independently, with Python integers in asset units (a small ledger model:
deposits, fills with maker/taker fees floor(received x rate / 1e6) in the received asset,
holds = what open orders still need); never floats.

Servers (one per group, see the bottom of the file); every group but `limits` lifts the
request-rate limit, and every group accepts HS256 JWTs signed with SECRET:

  auth         HS256 JWTs, API keys (admin- and WS-created), permissions, IP lists
  rs256        auth.jwt_algs=RS256 with a generated RSA public key (HS/RS confusion)
  orders       order.place / cancel / cancel_all / amend / orders / balances, subscriptions
  limits       limits.max_open_orders=3, limits.max_subscriptions=2
  isolation    user A never sees user B's data, whatever channel it names
  session      a full session checked field by field against the ledger model; BTCUSDT's
               taker fee is overridden to 1500 so that a fee in the base asset rounds
               (with the bundled 1000/2000 every base-asset fee is exact, as lots are
               whole multiples of 1000 units)
  halt         admin halt / resume
  admin        deposit, withdraw, balances, errors; not reachable on the public port
  admin_token  admin.token set, allow_no_token=0: bearer required
  (no server)  the server refuses to start with a short or empty admin token

Choices where the spec leaves room (the lead's, or this suite's guesses; keep in step
with docs/PROTOCOL.md):
  - order_id in replies and pushes is a string; requests send it back as that string.
  - `avg_price` is the exact average or that average rounded down to the quote asset's
    8 decimals; it is only required when filled > 0.
  - @order may push intermediate states during one placement; only the last push for an
    order in a step must equal the order's state. @balance likewise: the last push per
    asset equals the balance. @trade is exact: one push per fill, in fill order.
  - a trade id is the same in the maker's and the taker's @trade push.
  - an upgrade request with a bad `Authorization: Bearer` token either is refused (4xx)
    or gives an anonymous connection.
  - a channel name that tries to reach another user (`7002@order`, `@order:7002`, ...)
    is answered with 2001 or accepted and silent; never another user's data.
  - a trade-only API key cannot subscribe private channels (3004): docs/AUTH.md gives
    the private channels to `read`.
  - `ts` that is not an integer in an API-key login is 3003 (docs/AUTH.md).
  - admin: a body that is not JSON -> HTTP 400 code 1001; halt of an unknown market ->
    HTTP 4xx code 4001; GET /admin/balances without uid -> 400 1003; an amount beyond
    int64 units -> 1003; the public port does not serve /admin/*.
  - halt: cancel and cancel_all still work on a halted market.
  - order.cancel with both order_id and client_id uses order_id (RULES says so for amend).
  - an anonymous upgrade with `?stream=<private channel>` may be refused (4xx), answered
    with errors or closed; it must never deliver anything.
  - an amend that re-enters (price change) but does not cross rests without trading; an
    amend that crosses trades as a taker and its reply shows the result.
  - a missing `market` in order.place is 1003 or 4001 (RULES lists 4001 before the
    required-field check).
TOTP is turned on and off with POST /admin/totp {"uid","enable"} (docs/PROTOCOL.md), which
returns the base32 secret; codes are computed here (RFC 6238, self-tested at import).
"""

import atexit
import base64
import collections
import hashlib
import hmac
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

sys.dont_write_bytecode = True  # keep the source tree clean when ctest runs from it
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402
from bourse_harness import OP_CLOSE, OP_PING, OP_PONG, check, check_eq, fail  # noqa: E402

SLOW = h.slow_build()
T = 6.0 if SLOW else 2.5  # reply timeout
QUIET = 0.4 if SLOW else 0.25  # how long "nothing more arrives" is watched

SECRET = "bourse-protocol-test-secret-0123456789abcdef"  # HS256 key, >= 32 bytes
FEE_UID = 1
ADMIN_TOKEN = "adm1n-t0ken-for-the-protocol-suite-0042ab"  # 41 characters

BASE_ENV = {
    "BOURSE_LIMITS_REQUESTS_PER_S": "1000000",
    "BOURSE_LIMITS_BURST": "1000000",
    "BOURSE_AUTH_JWT_SECRET": SECRET,
    "BOURSE_AUTH_JWT_ALGS": "HS256",
}

# ---------------------------------------------------------------------------------------
# Decimals and the bundled markets (conf/bourse.conf)

ASSET_DEC = {"BTC": 8, "ETH": 8, "USDT": 8}

Market = collections.namedtuple("Market", "name base quote price_dec qty_dec maker taker")
MARKETS = {
    "BTCUSDT": Market("BTCUSDT", "BTC", "USDT", 2, 5, 1000, 2000),
    "ETHUSDT": Market("ETHUSDT", "ETH", "USDT", 2, 4, 1000, 2000),
    "ETHBTC": Market("ETHBTC", "ETH", "BTC", 5, 3, 1000, 2000),
}

_DEC_RX = re.compile(r"^(-?)(\d+)(?:\.(\d+))?$")


def dec_units(s, dec):
    """An exact decimal string as an integer count of 10^-dec; ValueError when it is not
    a decimal or has more than dec decimals."""
    m = _DEC_RX.match(s) if isinstance(s, str) else None
    if not m:
        raise ValueError(f"not a decimal string: {s!r}")
    frac = (m.group(3) or "").rstrip("0")
    if len(frac) > dec:
        raise ValueError(f"{s!r} has more than {dec} decimals")
    n = int(m.group(2)) * 10**dec + (int(frac.ljust(dec, "0")) if frac else 0)
    return -n if m.group(1) else n


def fmt_units(n, dec):
    """Shortest exact decimal form of n x 10^-dec: "50000.1", "0.5", "0"."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    ip, fp = divmod(n, 10**dec)
    frac = str(fp).rjust(dec, "0").rstrip("0") if dec else ""
    return sign + str(ip) + ("." + frac if frac else "")


def norm(s):
    """Shortest exact form of a decimal string ("50050.00" -> "50050")."""
    return fmt_units(dec_units(s, 18), 18)


def amt(units, asset):
    return fmt_units(units, ASSET_DEC[asset])


def base_units(market, qty):
    return dec_units(qty, ASSET_DEC[MARKETS[market].base])


def notional(market, price, qty_u):
    """Quote units of qty_u base units at price (a decimal string); exact by config."""
    m = MARKETS[market]
    p = dec_units(price, ASSET_DEC[m.quote])
    n, r = divmod(p * qty_u, 10 ** ASSET_DEC[m.base])
    assert r == 0, (market, price, qty_u)
    return n


def fee(received, rate):
    return received * rate // 1_000_000


def avg_ok(got, fills):
    """True if got (a decimal string) is the exact volume-weighted average of fills
    [(price, qty)] or that average rounded down to 8 decimals."""
    if not isinstance(got, str) or not _DEC_RX.match(got):
        return False
    num = sum(Fraction(p) * Fraction(q) for p, q in fills)
    den = sum(Fraction(q) for _, q in fills)
    exact = num / den
    floor8 = Fraction(math.floor(exact * 10**8), 10**8)
    return Fraction(got) in (exact, floor8)


class Ledger:
    """An independent model of the exchange's money: total (available + hold) per
    (uid, asset), and the open orders that make up each user's hold."""

    def __init__(self, fees=None):
        """fees: {market: (maker, taker)} for markets whose fees the server's env overrides."""
        self.fees = dict(fees or {})
        self.total = collections.Counter()
        self.deposits = collections.Counter()
        self.orders = {}

    def deposit(self, uid, asset, amount):
        u = dec_units(amount, ASSET_DEC[asset])
        self.total[(uid, asset)] += u
        self.deposits[asset] += u

    def order(self, key, uid, market, side, price, qty, cid=None, oid=None):
        """A new order (limit: price is its limit; market: price None), open."""
        self.orders[key] = {
            "uid": uid, "market": market, "side": side, "price": price,
            "qty": base_units(market, qty), "filled": 0, "open": True, "cid": cid,
            "oid": oid, "fills": [],
        }
        return self.orders[key]

    def fill(self, maker_key, taker_key, qty):
        """One fill at the maker's price; returns {key: the @trade fields expected for
        that side}."""
        mk, tk = self.orders[maker_key], self.orders[taker_key]
        mkt = MARKETS[mk["market"]]
        price = mk["price"]
        qb = base_units(mkt.name, qty)
        qq = notional(mkt.name, price, qb)
        for o in (mk, tk):
            assert o["open"] and o["filled"] + qb <= o["qty"], (o, qty)
        maker_rate, taker_rate = self.fees.get(mkt.name, (mkt.maker, mkt.taker))
        rates = {maker_key: maker_rate, taker_key: taker_rate}
        buy_key, sell_key = (maker_key, taker_key) if mk["side"] == "buy" else (taker_key, maker_key)
        buyer, seller = self.orders[buy_key], self.orders[sell_key]
        bfee, sfee = fee(qb, rates[buy_key]), fee(qq, rates[sell_key])
        self.total[(buyer["uid"], mkt.base)] += qb - bfee
        self.total[(buyer["uid"], mkt.quote)] -= qq
        self.total[(seller["uid"], mkt.base)] -= qb
        self.total[(seller["uid"], mkt.quote)] += qq - sfee
        self.total[(FEE_UID, mkt.base)] += bfee
        self.total[(FEE_UID, mkt.quote)] += sfee
        out = {}
        for key, o in ((maker_key, mk), (taker_key, tk)):
            o["filled"] += qb
            o["fills"].append((price, qty))
            if o["filled"] == o["qty"]:
                o["open"] = False
            f, fa = (bfee, mkt.base) if key == buy_key else (sfee, mkt.quote)
            out[key] = {
                "order_id": o["oid"], "market": mkt.name,
                "side": o["side"], "price": norm(price), "qty": norm(qty),
                "fee": amt(f, fa), "fee_asset": fa,
                "liquidity": "maker" if key == maker_key else "taker",
            }
            if o["cid"] is not None:
                out[key]["client_id"] = o["cid"]
        return out

    def close(self, key):
        self.orders[key]["open"] = False

    def amend(self, key, price=None, qty=None):
        o = self.orders[key]
        if price is not None:
            o["price"] = price
        if qty is not None:
            o["qty"] = base_units(o["market"], qty)

    def hold(self, uid, asset):
        n = 0
        for o in self.orders.values():
            if not o["open"] or o["uid"] != uid:
                continue
            m = MARKETS[o["market"]]
            rem = o["qty"] - o["filled"]
            if o["side"] == "buy" and m.quote == asset:
                n += notional(m.name, o["price"], rem)
            elif o["side"] == "sell" and m.base == asset:
                n += rem
        return n

    def balance(self, uid, asset):
        hd = self.hold(uid, asset)
        return self.total[(uid, asset)] - hd, hd

    def balances(self, uid):
        out = {}
        for asset in ASSET_DEC:
            av, hd = self.balance(uid, asset)
            if av or hd:
                out[asset] = (av, hd)
        return out

    def expected_order(self, key, status=None):
        o = self.orders[key]
        m = MARKETS[o["market"]]
        e = {
            "market": m.name, "side": o["side"],
            "qty": amt(o["qty"], m.base), "filled": amt(o["filled"], m.base),
        }
        if o["cid"] is not None:
            e["client_id"] = o["cid"]
        if o["oid"] is not None:
            e["order_id"] = o["oid"]
        if o["price"] is not None:
            e["type"] = "limit"
            e["price"] = norm(o["price"])
            e["tif"] = "gtc"
            e["post_only"] = False
        if status is None:
            if o["open"]:
                status = "partially_filled" if o["filled"] else "new"
            else:
                status = "filled" if o["filled"] == o["qty"] else "cancelled"
        e["status"] = status
        return e


# ---------------------------------------------------------------------------------------
# JWT and API-key signatures


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


_HS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def hs_sign(signing_input, key, alg="HS256"):
    if isinstance(key, str):
        key = key.encode()
    return hmac.new(key, signing_input.encode("ascii"), _HS[alg]).digest()


def jwt(claims, alg="HS256", key=SECRET, header=None, raw_header=None, raw_claims=None):
    """A compact JWS. header/claims are dicts (or raw JSON text via raw_*); alg picks the
    signature: HS256/384/512 with key (str or bytes), RS256 with key = a private key
    PEM path, or "none" for an empty signature."""
    hdr = raw_header if raw_header is not None else json.dumps(
        header if header is not None else {"alg": alg, "typ": "JWT"}, separators=(",", ":"))
    body = raw_claims if raw_claims is not None else json.dumps(claims, separators=(",", ":"))
    si = b64url(hdr.encode()) + "." + b64url(body.encode())
    if alg in _HS:
        sig = hs_sign(si, key, alg)
    elif alg == "RS256":
        sig = rs256_sign(key, si.encode())
    else:
        sig = b""
    return si + "." + b64url(sig)


def claims(uid, ttl=300, **extra):
    now = int(time.time())
    c = {"uid": uid, "iat": now, "exp": now + ttl}
    c.update(extra)
    return c


def token(uid, **kw):
    return jwt(claims(uid, **kw))


def api_sig(key, secret, ts):
    """docs/AUTH.md: hex(HMAC-SHA256(secret string as given, key + decimal ts))."""
    return hmac.new(secret.encode(), (key + str(ts)).encode(), hashlib.sha256).hexdigest()


def totp(secret, t, digits=6):
    """RFC 6238 code (HMAC-SHA1, 30-second steps) of secret (bytes) at unix time t."""
    mac = hmac.new(secret, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return str(n % 10**digits).rjust(digits, "0")


def b32decode(text):
    text = text.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


_RSA = {}


def rsa_keys():
    """Two RSA-2048 key pairs generated once per run with openssl: {name: (priv, pub)}."""
    if not _RSA:
        d = tempfile.mkdtemp(prefix="bourse-proto-rsa-")
        atexit.register(shutil.rmtree, d, True)
        for name in ("a", "b"):
            priv, pub = os.path.join(d, f"{name}.key"), os.path.join(d, f"{name}.pub.pem")
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                            "rsa_keygen_bits:2048", "-out", priv], check=True,
                           capture_output=True)
            subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub],
                           check=True, capture_output=True)
            _RSA[name] = (priv, pub)
        # Self-test of the signing helper: openssl must verify what rs256_sign produced.
        priv, pub = _RSA["a"]
        sig = rs256_sign(priv, b"self-test")
        assert len(sig) == 256, len(sig)
        sigf = os.path.join(d, "sig")
        with open(sigf, "wb") as f:
            f.write(sig)
        v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sigf],
                           input=b"self-test", capture_output=True)
        assert v.returncode == 0 and b"Verified OK" in v.stdout, v
    return _RSA


def rs256_sign(priv_path, data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", priv_path], input=data,
                          check=True, capture_output=True).stdout


def pub_der(pub_path):
    return subprocess.run(["openssl", "pkey", "-pubin", "-in", pub_path, "-outform", "DER"],
                          check=True, capture_output=True).stdout


def _self_test():
    # Decimals.
    assert dec_units("50000.13", 8) == 5000013000000
    assert dec_units("0.00001", 8) == 1000 and dec_units("-1.5", 2) == -150
    assert dec_units("1.10", 1) == 11
    for bad in ("1e3", "1.", ".5", "", " 1", "1.000000001", 5):
        try:
            dec_units(bad, 8)
            raise AssertionError(f"dec_units accepted {bad!r}")
        except ValueError:
            pass
    assert fmt_units(5000010000000, 8) == "50000.1" and fmt_units(50000000, 8) == "0.5"
    assert fmt_units(0, 8) == "0" and fmt_units(-150, 2) == "-1.5" and fmt_units(7, 0) == "7"
    assert norm("50050.00") == "50050" and norm("0.12345") == "0.12345"
    # Money: 0.12345 BTC at 50000.13 = 6172.5160485 USDT; the maker fee rounds down.
    q = base_units("BTCUSDT", "0.12345")
    assert q == 12345000 and notional("BTCUSDT", "50000.13", q) == 617251604850
    assert fee(617251604850, 1000) == 617251604 and fee(q, 2000) == 24690
    assert notional("ETHBTC", "0.05", base_units("ETHBTC", "0.001")) == 5000
    assert avg_ok("50000.1", [("50000.1", "1")]) and not avg_ok("50000.11", [("50000.1", "1")])
    assert avg_ok("50049.09090909", [("50050", "0.1"), ("50040", "0.01")])
    assert not avg_ok("50049.0909091", [("50050", "0.1"), ("50040", "0.01")])
    # The ledger conserves money and models holds.
    lg = Ledger()
    lg.deposit(10, "USDT", "1000")
    lg.deposit(11, "BTC", "1")
    lg.order("s", 11, "BTCUSDT", "sell", "100.5", "0.5", oid="1")
    lg.order("b", 10, "BTCUSDT", "buy", "101", "0.7", oid="2")
    t = lg.fill("s", "b", "0.5")
    assert t["s"]["fee"] == "0.05025" and t["b"]["fee"] == "0.001" and t["b"]["fee_asset"] == "BTC"
    assert lg.balance(10, "USDT") == (1000 * 10**8 - 5025000000 - 2020000000, 2020000000)
    assert lg.balance(11, "BTC") == (50000000, 0)
    for asset in ASSET_DEC:
        assert sum(v for (u, a), v in lg.total.items() if a == asset) == lg.deposits[asset]
    lg2 = Ledger(fees={"BTCUSDT": (1000, 1500)})
    lg2.order("s", 11, "BTCUSDT", "sell", "50000.13", "0.12345")
    lg2.order("b", 10, "BTCUSDT", "buy", "50050", "0.5")
    assert lg2.fill("s", "b", "0.12345")["b"]["fee"] == amt(18517, "BTC")  # 18517.5 rounded down
    # API-key login signature: the worked example of docs/AUTH.md.
    assert api_sig("3f0c5a1e9b7d4c2a8e6f1b0d9c7a5e3f",
                   "8b1f6e2d4c9a7b3e5f0d1c2a9e8b7f6d4c3b2a1908f7e6d5c4b3a29180f7e6d5",
                   1700000000000) == "08e28c3d99aedefcf7930c1fbfb68d12d6e724681711527674e2de4346906dc3"
    # TOTP: RFC 6238 appendix B (SHA-1 seed), last 6 of the 8 digits.
    seed = b"12345678901234567890"
    for t, code in ((59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"),
                    (2000000000, "69279037")):
        assert totp(seed, t, 8) == code and totp(seed, t) == code[2:], (t, totp(seed, t, 8))
    assert b32decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") == seed
    # HS256: RFC 7515 appendix A.1.
    k = base64.urlsafe_b64decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow==")
    si = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkz"
          "ODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ")
    assert b64url(hs_sign(si, k)) == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    tok = jwt({"uid": 5, "exp": 1})
    hdr, body, sig = tok.split(".")
    assert json.loads(base64.urlsafe_b64decode(body + "==")) == {"uid": 5, "exp": 1}
    assert "=" not in tok and b64url(hs_sign(hdr + "." + body, SECRET)) == sig


_self_test()

# ---------------------------------------------------------------------------------------
# WebSocket sessions


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"))


def summary(events, limit=12):
    out = [jdump(e)[:220] for e in events[-limit:]]
    more = f" (+{len(events) - limit} earlier)" if len(events) > limit else ""
    return "[" + ", ".join(out) + "]" + more


class Session:
    """One WebSocket connection speaking the native protocol: requests with ids, replies
    matched by id, pushes ({"event":…}) collected on the side."""

    def __init__(self, srv, name, headers=None, path="/ws", ws=None, tolerate_close=False):
        self.srv = srv
        self.name = name
        self.ws = ws or h.WSClient.open(srv.port, path=path, headers=headers, timeout=T, name=name)
        self.tolerate_close = tolerate_close  # a close ends reading instead of failing
        self.closed = False
        self.events = []  # pushes since the last take()
        self.all_events = []
        self.unsolicited = []  # messages without an id that are not pushes
        self.seq = 0
        self.uid = None
        self.last = None

    # -- transport ----------------------------------------------------------------------
    def poll(self, timeout):
        """The next JSON message within timeout (pushes are also recorded), or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            try:
                frame = self.ws.recv_frame(left, allow_timeout=True)
            except h.ConnectionClosed:
                if not self.tolerate_close:
                    raise
                self.closed = True
                return None
            if frame is None:
                return None
            if frame.opcode in (OP_PING, OP_PONG):
                continue
            if frame.opcode == OP_CLOSE and self.tolerate_close:
                self.closed = True
                return None
            if frame.opcode == OP_CLOSE:
                fail(f"{self.name}: the server closed the connection "
                     f"{self.ws.close_received}; last request {jdump(self.last)}")
            payload = frame.payload
            while not frame.fin:
                frame = self.ws.recv_frame(T)
                payload += frame.payload
            try:
                msg = json.loads(payload.decode("utf-8"))
            except ValueError as e:
                fail(f"{self.name}: server sent text that is not JSON ({e}): {h.short(payload)}")
            if isinstance(msg, dict) and "event" in msg:
                check(h.is_int(msg.get("ts")), f"{self.name}: push without an integer ts: {msg}")
                self.events.append(msg)
                self.all_events.append(msg)
            return msg

    def send(self, op, **fields):
        self.seq += 1
        msg = {"op": op, "id": self.seq}
        msg.update(fields)
        self.last = msg
        self.ws.send_json(msg)
        return self.seq

    def request(self, op, **fields):
        ident = self.send(op, **fields)
        sent = self.last
        deadline = time.monotonic() + T
        while True:
            msg = self.poll(max(0.0, deadline - time.monotonic()))
            if msg is None:
                fail(f"{self.name}: sent {jdump(sent)}: no reply within {T:.1f} s "
                     f"(pushes meanwhile: {summary(self.events)})")
            if isinstance(msg, dict) and "event" in msg:
                continue
            if isinstance(msg, dict) and msg.get("id") == ident:
                return msg
            if isinstance(msg, dict) and "id" not in msg:
                # Not a reply to this session's requests (they all carry ids), e.g. the
                # server announcing an upgrade-time authentication.
                self.unsolicited.append(msg)
                continue
            fail(f"{self.name}: sent {jdump(sent)}: expected the reply with id {ident}, "
                 f"got {jdump(msg)}")

    def ok(self, op, **fields):
        """Sends a request; requires a success reply and returns its result."""
        reply = self.request(op, **fields)
        if "result" not in reply or "code" in reply:
            fail(f"{self.name}: sent {jdump(self.last)}: expected a result, got {jdump(reply)}")
        return reply["result"]

    def err(self, op, code, **fields):
        """Sends a request; requires an error reply with code (an int or a tuple of
        acceptable ints), an integer code, a non-empty msg and the echoed id."""
        reply = self.request(op, **fields)
        codes = code if isinstance(code, tuple) else (code,)
        if reply.get("code") not in codes or "result" in reply:
            want = " or ".join(map(str, codes))
            fail(f"{self.name}: sent {jdump(self.last)}: expected error {want}, got {jdump(reply)}")
        h.check_error(reply, reply["code"], ident=self.seq)
        return reply

    # -- pushes -------------------------------------------------------------------------
    def take(self):
        ev, self.events = self.events, []
        return ev

    def drain(self, timeout=0.02):
        while self.poll(timeout) is not None:
            pass

    def wait_event(self, pred, what, timeout=None):
        """The first push since the last take() that satisfies pred, waiting for it."""
        timeout = T if timeout is None else timeout
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"{self.name}: no push {what} within {timeout:.1f} s; "
                     f"pushes since the step began: {summary(self.events)}")
            self.poll(left)

    def of(self, channel):
        return [e for e in self.events if e.get("event") == channel]

    # -- protocol conveniences ----------------------------------------------------------
    def auth_jwt(self, uid, **kw):
        r = self.ok("auth", token=token(uid, **kw))
        check(isinstance(r, dict) and r.get("uid") == uid,
              f"{self.name}: auth with a JWT for uid {uid}: expected result uid {uid}, got {r!r}")
        self.uid = uid
        return self

    def auth_key(self, key, secret, uid=None, ts=None):
        ts = h.now_ms() if ts is None else ts
        r = self.ok("auth", key=key, ts=ts, sig=api_sig(key, secret, ts))
        if uid is not None:
            check(isinstance(r, dict) and r.get("uid") == uid,
                  f"{self.name}: auth with API key {key}: expected uid {uid}, got {r!r}")
            self.uid = uid
        return self

    def subscribe(self, *channels):
        r = self.ok("subscribe", args=list(channels))
        check(r is True, f"{self.name}: subscribe {list(channels)}: expected result true, got {r!r}")

    def place(self, **args):
        return self.ok("order.place", args=args)


def user(srv, uid, name=None, channels=()):
    s = Session(srv, name or f"u{uid}").auth_jwt(uid)
    if channels:
        s.subscribe(*channels)
    return s


PRIVATE = ("@order", "@trade", "@balance")


def settle(*sessions):
    """Lets in-flight pushes arrive, then reads everything that came."""
    time.sleep(QUIET)
    for s in sessions:
        s.drain()


def take_all(*sessions):
    for s in sessions:
        s.take()


# ---------------------------------------------------------------------------------------
# Expectation helpers

ORDER_STATUSES = {"new", "partially_filled", "filled", "cancelled", "untriggered"}


def check_order(o, exp, what):
    """Checks an {order} object: each field of exp exactly, plus the shape every order
    has (string order_id, integer created/updated, a known status, avg_price when
    something filled)."""
    check(isinstance(o, dict), f"{what}: expected an order object, got {o!r}")
    bad = [f"{k}: expected {v!r}, got {o.get(k)!r}" for k, v in exp.items() if o.get(k) != v]
    if bad:
        fail(f"{what}: " + "; ".join(bad) + f"\n  order: {jdump(o)}")
    check(isinstance(o.get("order_id"), str) and o["order_id"],
          f"{what}: order_id must be a non-empty string: {jdump(o)}")
    check(o.get("status") in ORDER_STATUSES, f"{what}: unknown status in {jdump(o)}")
    for k in ("created", "updated"):
        check(h.is_int(o.get(k)), f"{what}: {k} must be an integer ms timestamp: {jdump(o)}")
    check(o["updated"] >= o["created"], f"{what}: updated before created: {jdump(o)}")
    if o.get("filled") not in (None, "0"):
        check("avg_price" in o, f"{what}: avg_price missing although filled > 0: {jdump(o)}")


def check_model_order(o, lg, key, what, status=None):
    exp = lg.expected_order(key, status)
    check_order(o, exp, what)
    fills = lg.orders[key]["fills"]
    if fills:
        check(avg_ok(o.get("avg_price"), fills),
              f"{what}: avg_price {o.get('avg_price')!r} is neither the exact average of the "
              f"fills {fills} nor that average rounded down to 8 decimals")
    if lg.orders[key]["oid"] is None:
        lg.orders[key]["oid"] = o["order_id"]


def check_balance_map(result, expected, what):
    """result: a balances map asset -> {available, hold}; expected: asset -> (avail,
    hold) units. Assets missing from result count as zero."""
    check(isinstance(result, dict), f"{what}: expected a map asset -> balance, got {result!r}")
    bad = []
    for asset in sorted(set(result) | set(expected)):
        av, hd = expected.get(asset, (0, 0))
        want = {"available": amt(av, asset), "hold": amt(hd, asset)}
        got = result.get(asset, {"available": "0", "hold": "0"})
        if not isinstance(got, dict) or {k: got.get(k) for k in want} != want:
            bad.append(f"{asset}: expected {want}, got {got}")
    if bad:
        fail(f"{what}: " + "; ".join(bad) + f"\n  reply: {jdump(result)}")


def check_balances(sess, lg, uid, what):
    check_balance_map(sess.ok("balances"), lg.balances(uid), f"{what}: balances of uid {uid}")


def wait_balance(sess, lg, uid, asset, what):
    """Waits for the @balance push that matches the model, then (after settle) requires
    the last @balance push of that asset to match too."""
    av, hd = lg.balance(uid, asset)
    want = {"asset": asset, "available": amt(av, asset), "hold": amt(hd, asset)}
    sess.wait_event(lambda e: e.get("event") == "@balance" and e.get("data") == want,
                    f"@balance {want} ({what})")
    return want


def check_last_balance(sess, want, what):
    pushes = [e["data"] for e in sess.of("@balance") if e["data"].get("asset") == want["asset"]]
    check(pushes and pushes[-1] == want,
          f"{sess.name}: {what}: the last @balance push of {want['asset']} must be {want}; "
          f"pushes: {pushes}")


def wait_order(sess, lg, key, what, status=None):
    """Waits for an @order push with the order's modelled state; after settle use
    check_last_order."""
    exp = lg.expected_order(key, status)
    sess.wait_event(lambda e: e.get("event") == "@order" and isinstance(e.get("data"), dict)
                    and all(e["data"].get(k) == v for k, v in exp.items()),
                    f"@order {exp} ({what})")


def check_last_order(sess, lg, key, what, status=None):
    oid = lg.orders[key]["oid"]
    pushes = [e["data"] for e in sess.of("@order") if e["data"].get("order_id") == oid]
    check(pushes, f"{sess.name}: {what}: no @order push for order {oid}")
    check_model_order(pushes[-1], lg, key, f"{sess.name}: {what}: last @order push", status)


def check_trades(sess, expected, what):
    """The @trade pushes of the step, exactly: expected is a list of field dicts in fill
    order. Returns the pushes."""
    deadline = time.monotonic() + T
    while len(sess.of("@trade")) < len(expected) and time.monotonic() < deadline:
        sess.poll(deadline - time.monotonic())
    got = [e["data"] for e in sess.of("@trade")]
    check(len(got) == len(expected),
          f"{sess.name}: {what}: expected {len(expected)} @trade pushes, got {len(got)}: {got}")
    for i, (g, e) in enumerate(zip(got, expected)):
        bad = [f"{k}: expected {v!r}, got {g.get(k)!r}" for k, v in e.items() if g.get(k) != v]
        check(not bad, f"{sess.name}: {what}: @trade #{i + 1}: " + "; ".join(bad) + f"\n  push: {g}")
        check("id" in g and h.is_int(g.get("ts")), f"{sess.name}: {what}: @trade needs id and ts: {g}")
    return got


# ---------------------------------------------------------------------------------------
# Admin API


def admin(srv, method, path, body=None, token=None, raw=None):
    """One admin request; returns the harness Response."""
    headers = [("Host", f"127.0.0.1:{srv.admin_port}")]
    if token is not None:
        headers.append(("Authorization", token))
    data = b""
    if raw is not None:
        data = raw
    elif body is not None:
        data = jdump(body).encode()
    if data:
        headers.append(("Content-Type", "application/json"))
    elif method == "POST":
        headers.append(("Content-Length", "0"))
    return h.http_request(srv.admin_port, method, path, headers, data, timeout=T)


def admin_ok(srv, method, path, body=None, token=None):
    resp = admin(srv, method, path, body, token)
    what = f"admin {method} {path} {jdump(body) if body is not None else ''}"
    check(resp.status == 200, f"{what}: expected HTTP 200, got {resp!r}")
    j = resp.json()
    check(isinstance(j, dict) and "result" in j, f"{what}: expected {{\"result\":…}}, got {j!r}")
    return j["result"]


def admin_err(srv, method, path, body, status, code, raw=None, token=None):
    resp = admin(srv, method, path, body, token, raw)
    what = f"admin {method} {path} {jdump(body) if body is not None else raw!r}"
    ok_status = status(resp.status) if callable(status) else resp.status == status
    want = status.__doc__ if callable(status) else status
    check(ok_status, f"{what}: expected HTTP {want}, got {resp!r}")
    j = h.check_json_error_body(resp, resp.status)
    check_eq(j.get("code"), code, f"{what}: error code in {j}")
    check(isinstance(j.get("msg"), str) and j["msg"], f"{what}: error needs a msg: {j}")
    return j


def is_4xx(status):
    """4xx"""
    return 400 <= status < 500


def deposit(srv, uid, asset, amount, lg=None):
    """An admin deposit that must succeed; the reply's body is checked by
    test_admin_deposit_withdraw_balances only, so that one bug fails one test (the money
    itself is checked everywhere through balances and @balance)."""
    r = admin_ok(srv, "POST", "/admin/deposit", {"uid": uid, "asset": asset, "amount": amount})
    if lg is not None:
        lg.deposit(uid, asset, amount)
    return r


def admin_balances(srv, uid):
    return admin_ok(srv, "GET", f"/admin/balances?uid={uid}")


def new_key(srv, uid, perms=("read", "trade"), ips=None, label="bot"):
    body = {"uid": uid, "label": label, "permissions": list(perms)}
    if ips is not None:
        body["ips"] = list(ips)
    r = admin_ok(srv, "POST", "/admin/apikeys", body)
    check(isinstance(r, dict) and re.fullmatch(r"[0-9a-f]{32}", str(r.get("key")))
          and re.fullmatch(r"[0-9a-f]{64}", str(r.get("secret"))),
          f"POST /admin/apikeys {body}: expected a 32-hex key and a 64-hex secret, got {r!r}")
    return r["key"], r["secret"]


# =======================================================================================
# Group auth: JWT (HS256) and API keys

NEEDS_USER = [
    ("subscribe", {"args": ["@order"]}),
    ("subscribe", {"channel": "@trade"}),
    ("subscribe", {"args": ["@balance"]}),
    ("subscribe", {"args": ["@account"]}),
    ("subscribe", {"args": ["@position"]}),
    ("order.place", {"args": {"market": "BTCUSDT", "side": "buy", "type": "limit",
                              "price": "100", "qty": "0.1"}}),
    ("order.cancel", {"args": {"market": "BTCUSDT", "order_id": "1"}}),
    ("order.cancel_all", {"args": {}}),
    ("order.amend", {"args": {"market": "BTCUSDT", "order_id": "1", "qty": "0.05"}}),
    ("orders", {"args": {}}),
    ("balances", {}),
    ("apikey.list", {}),
    ("apikey.create", {"args": {"label": "x", "permissions": ["read"]}}),
    ("apikey.update", {"args": {"key": "0" * 32, "label": "y"}}),
    ("apikey.delete", {"args": {"key": "0" * 32}}),
]


def test_unauthenticated_ops_need_auth(srv):
    s = Session(srv, "anon")
    for op, fields in NEEDS_USER:
        s.err(op, 2003, **fields)
    s.ws.ping_op(77)
    check_eq(s.ok("list"), [], "list on an anonymous connection after refused subscriptions")
    s.err("order.plac", 1002)


def anon_still(s, what):
    """After a refused auth the connection is still open and still anonymous."""
    s.ws.ping_op(4242)
    s.err("balances", 2003)
    check(s.uid is None, f"{what}: internal: session marked authenticated")


def test_jwt_valid(srv):
    s = Session(srv, "jwt")
    r = s.ok("auth", token=token(7001))
    check_eq(r, {"uid": 7001}, "auth with a valid HS256 JWT for uid 7001")
    check_balance_map(s.ok("balances"), {}, "balances of a new user")
    check_eq(s.ok("orders", args={}), [], "orders of a new user")
    # "Bearer " prefix, any case; kid/jku are ignored (the token never picks its key).
    for i, tok in enumerate(["Bearer " + token(7002), "bearer " + token(7002),
                             jwt(claims(7002), header={"alg": "HS256", "typ": "JWT",
                                                       "kid": "other", "jku": "http://x/"})]):
        s2 = Session(srv, f"jwt-bearer{i}")
        check_eq(s2.ok("auth", token=tok), {"uid": 7002}, f"auth with token form #{i}")
    # uid from a numeric sub, as a number or a string of digits.
    now = int(time.time())
    for sub in (7003, "7003"):
        s3 = Session(srv, "jwt-sub")
        check_eq(s3.ok("auth", token=jwt({"sub": sub, "exp": now + 300})), {"uid": 7003},
                 f"auth with sub {sub!r} and no uid")
    # within the 30 s leeway: exp 10 s ago, nbf 10 s ahead.
    for c in (claims(7004, ttl=-10), claims(7004, nbf=now + 10)):
        s4 = Session(srv, "jwt-leeway")
        check_eq(s4.ok("auth", token=jwt(c)), {"uid": 7004}, f"auth within the leeway {c}")


def test_jwt_expired(srv):
    now = int(time.time())
    s = Session(srv, "jwt-exp")
    s.err("auth", 3002, token=jwt(claims(7010, ttl=-120)))  # expired beyond the 30 s leeway
    anon_still(s, "expired JWT")
    s.err("auth", 3002, token=jwt(claims(7010, nbf=now + 120)))  # not valid yet
    anon_still(s, "JWT before nbf")
    s.err("auth", 3001, token=jwt({"uid": 7010, "iat": now}))  # no exp at all
    s.err("auth", 3001, token=jwt({"uid": 7010, "exp": str(now + 300)}))  # exp not an integer
    anon_still(s, "JWT without a usable exp")


def test_jwt_wrong_alg(srv):
    c = claims(7020)
    s = Session(srv, "jwt-alg")
    s.err("auth", 3001, token=jwt(c, alg="HS512"))  # signed right, alg not on the list
    s.err("auth", 3001, token=jwt(c, alg="HS384"))
    priv, _pub = rsa_keys()["a"]
    s.err("auth", 3001, token=jwt(c, alg="RS256", key=priv))  # RS256 not allowed here
    # A header that claims RS256/ES256 over an HMAC signature.
    for alg in ("RS256", "ES256"):
        hdr = jdump({"alg": alg, "typ": "JWT"})
        si = b64url(hdr.encode()) + "." + b64url_json(c)
        s.err("auth", 3001, token=si + "." + b64url(hs_sign(si, SECRET)))
    # Duplicated alg, a crit header, a JWE-shaped token: refused.
    s.err("auth", 3001, token=jwt(c, raw_header='{"alg":"HS256","alg":"HS256","typ":"JWT"}'))
    s.err("auth", 3001, token=jwt(c, raw_header='{"alg":"none","alg":"HS256"}'))
    s.err("auth", 3001, token=jwt(c, header={"alg": "HS256", "crit": ["exp"], "exp": 1}))
    s.err("auth", 3001, token="eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d")
    anon_still(s, "wrong alg")


def test_jwt_alg_none(srv):
    c = claims(7030)
    s = Session(srv, "jwt-none")
    for spelling in ("none", "None", "NONE", "nOnE"):
        hdr = {"alg": spelling, "typ": "JWT"}
        si = b64url_json(hdr) + "." + b64url_json(c)
        s.err("auth", 3001, token=si + ".")  # unsigned
        s.err("auth", 3001, token=si)  # two segments
        s.err("auth", 3001, token=si + "." + b64url(hs_sign(si, SECRET)))  # with an HMAC
    s.err("auth", 3001, token=jwt(c, header={"typ": "JWT"}))  # no alg at all
    anon_still(s, "alg none")


def test_jwt_tampered(srv):
    good = token(7040)
    hdr, body, sig = good.split(".")
    s = Session(srv, "jwt-tamper")
    c = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    c["uid"] = 7041  # someone else
    s.err("auth", 3001, token=f"{hdr}.{b64url_json(c)}.{sig}")
    c2 = dict(c, uid=7040, exp=c["exp"] + 3600)  # a longer life
    s.err("auth", 3001, token=f"{hdr}.{b64url_json(c2)}.{sig}")
    flip = "A" if sig[10] != "A" else "B"
    s.err("auth", 3001, token=f"{hdr}.{body}.{sig[:10]}{flip}{sig[11:]}")  # signature edited
    s.err("auth", 3001, token=f"{hdr}.{body}.")  # signature dropped
    s.err("auth", 3001, token=jwt(claims(7040), key="another-secret-of-at-least-32-bytes!!"))
    # Malformed: garbage, empty, stray characters, '=' padding (re-signed so only the
    # padding is wrong), payload that is not JSON.
    for bad in ("abc", "", "a.b", "a.b.c", good + "x.y", good.replace(".", ".!", 1)):
        s.err("auth", (3001, 1003), token=bad)
    padded = claims(7040)
    while len(jdump(padded)) % 3 == 0:
        padded["pad"] = padded.get("pad", "") + "x"
    hp = b64url_json({"alg": "HS256", "typ": "JWT"})
    bp = base64.urlsafe_b64encode(jdump(padded).encode()).decode()
    assert bp.endswith("=")
    si = hp + "." + bp
    s.err("auth", 3001, token=si + "." + b64url(hs_sign(si, SECRET)))
    si = b64url_json({"alg": "HS256", "typ": "JWT"}) + "." + b64url(b"not json")
    s.err("auth", 3001, token=si + "." + b64url(hs_sign(si, SECRET)))
    anon_still(s, "tampered JWT")
    # The genuine token still works afterwards on the same connection.
    check_eq(s.ok("auth", token=good), {"uid": 7040}, "the untampered token")


def test_jwt_bad_uid(srv):
    now = int(time.time())
    s = Session(srv, "jwt-uid")
    for c in ({"exp": now + 300}, {"sub": "alice", "exp": now + 300},
              {"uid": 0, "exp": now + 300}, {"uid": -5, "exp": now + 300},
              {"uid": "abc", "exp": now + 300}, {"uid": 9223372036854775808, "exp": now + 300},
              {"uid": "x", "sub": "7050", "exp": now + 300}):  # no fall-back to sub
        s.err("auth", 3001, token=jwt(c))
    anon_still(s, "JWT without a usable uid")
    s.err("auth", 1003)  # neither token nor key
    s.err("auth", (1003, 3001), token=12345)


def raw_upgrade(srv, headers, path="/ws"):
    """An upgrade request that may be refused: returns (status, WSClient); after a 101
    the welcome is still unread."""
    c = h.WSClient(srv.port, timeout=T, name="upgrade")
    c.connect()
    key = base64.b64encode(os.urandom(16)).decode()
    hdrs = h.edit_headers(h.default_upgrade_headers(srv.port, key), headers)
    c.send_raw(h.build_request("GET", path, hdrs))
    head = c.reader.read_until(b"\r\n\r\n", T)
    resp = h.parse_response_head(head)
    return resp.status, c


def test_jwt_upgrade_header(srv):
    s = Session(srv, "hdr", headers={"Authorization": "Bearer " + token(7060)})
    check_balance_map(s.ok("balances"), {}, "balances on a connection authenticated at upgrade")
    check_eq(s.ok("orders", args={}), [], "orders on a connection authenticated at upgrade")
    s.subscribe("@order")
    check(all(m.get("result", {}).get("uid") in (None, 7060) for m in s.unsolicited
              if isinstance(m.get("result"), dict)),
          f"unsolicited messages after an upgrade authenticated as 7060: {s.unsolicited}")
    # A bad token in the header: refused, or an anonymous connection. An unsolicited error
    # telling why carries the code the auth op would give (3002 expired, else 3001).
    wrong_codes = []
    for bad, code in ((token(7061, ttl=-120), 3002), (jwt(claims(7061), alg="none"), 3001),
                      (jwt(claims(7061), key="another-secret-of-at-least-32-bytes!!"), 3001)):
        status, c = raw_upgrade(srv, {"Authorization": "Bearer " + bad})
        if status == 101:
            welcome = json.loads(c.recv_text(T, "the welcome"))
            check_eq(welcome.get("op"), "welcome", "first frame after an upgrade with a bad token")
            c.send_json({"op": "balances", "id": 1})
            while True:
                reply = c.recv_json(T, "the reply to balances")
                if isinstance(reply, dict) and "id" not in reply and "code" in reply:
                    if reply["code"] != code:
                        wrong_codes.append(f"expected {code}, got {reply}")
                    continue
                break
            check(reply.get("id") == 1 and reply.get("code") == 2003,
                  f"an upgrade with a bad bearer token must not authenticate: balances -> {reply}")
        else:
            check(400 <= status < 500, f"upgrade with a bad bearer token: expected 101 "
                  f"(anonymous) or a 4xx, got HTTP {status}")
        c.close_socket()
    check(not wrong_codes, "the unsolicited error after an upgrade with a bad bearer token "
          "carries the code the auth op gives (3002 expired, else 3001): " + "; ".join(wrong_codes))


def test_apikey_login(srv):
    key, secret = new_key(srv, 7100)
    s = Session(srv, "key")
    s.auth_key(key, secret, uid=7100)
    check_balance_map(s.ok("balances"), {}, "balances on a key session")
    ts = h.now_ms()
    s2 = Session(srv, "key-upper")
    r = s2.ok("auth", key=key, ts=ts, sig=api_sig(key, secret, ts).upper())
    check_eq(r, {"uid": 7100}, "auth with the signature in upper-case hex")
    # Inside the 5000 ms window, either way.
    for skew in (-2500, 2500):
        s3 = Session(srv, f"key-skew{skew}")
        s3.auth_key(key, secret, uid=7100, ts=h.now_ms() + skew)


def test_apikey_bad_signature(srv):
    key, secret = new_key(srv, 7110)
    other_key, other_secret = new_key(srv, 7111)
    s = Session(srv, "badsig")
    ts = h.now_ms()
    s.err("auth", 3003, key=key, ts=ts, sig="0" * 64)
    s.err("auth", 3003, key=key, ts=ts, sig=api_sig(key, other_secret, ts))  # someone's secret
    s.err("auth", 3003, key=key, ts=ts, sig=api_sig(key, secret, ts - 1))  # other ts
    s.err("auth", 3003, key=key, ts=ts, sig=api_sig(key, secret, ts)[:-2])  # truncated
    s.err("auth", 3003, key="f" * 32, ts=ts, sig=api_sig("f" * 32, secret, ts))  # unknown key
    s.err("auth", 3003, key=other_key, ts=ts, sig=api_sig(key, secret, ts))  # wrong key id
    # The HMAC key is the secret string as given, not the bytes it spells in hex.
    hexsig = hmac.new(bytes.fromhex(secret), (key + str(ts)).encode(), hashlib.sha256).hexdigest()
    s.err("auth", 3003, key=key, ts=ts, sig=hexsig)
    s.err("auth", (1003, 3003), key=key, ts=ts)  # no sig
    anon_still(s, "bad API-key signature")
    # docs/AUTH.md: ts is a JSON integer; anything else is 3003.
    for bad_ts in (str(ts), float(ts), None):
        s.err("auth", 3003, key=key, ts=bad_ts, sig=api_sig(key, secret, ts))
    anon_still(s, "API-key login with a ts that is not an integer")
    s.auth_key(key, secret, uid=7110)  # and the right one still works


def test_apikey_stale_ts(srv):
    key, secret = new_key(srv, 7120)
    s = Session(srv, "stale")
    for skew in (-8000, 8000, -60000, 3600 * 1000):
        ts = h.now_ms() + skew
        s.err("auth", 3003, key=key, ts=ts, sig=api_sig(key, secret, ts))
    anon_still(s, "stale ts")
    for skew in (-2500, 2500):
        Session(srv, f"fresh{skew}").auth_key(key, secret, uid=7120, ts=h.now_ms() + skew)


def test_apikey_permissions(srv):
    uid = 7130
    deposit(srv, uid, "USDT", "10000")
    rkey, rsecret = new_key(srv, uid, perms=["read"])
    tkey, tsecret = new_key(srv, uid, perms=["trade"])
    r = Session(srv, "read-key").auth_key(rkey, rsecret, uid=uid)
    w = Session(srv, "trade-key").auth_key(tkey, tsecret, uid=uid)
    # read: queries and private channels, no order entry.
    check_eq(r.ok("orders", args={}), [], "orders on a read key")
    check_balance_map(r.ok("balances"), {"USDT": (dec_units("10000", 8), 0)}, "balances on a read key")
    r.subscribe("@order", "@balance")
    place = {"market": "BTCUSDT", "side": "buy", "type": "limit", "price": "100", "qty": "0.1"}
    r.err("order.place", 3004, args=place)
    r.err("order.cancel", 3004, args={"market": "BTCUSDT", "order_id": "1"})
    r.err("order.cancel_all", 3004, args={})
    r.err("order.amend", 3004, args={"market": "BTCUSDT", "order_id": "1", "qty": "0.05"})
    check_eq(r.ok("orders", args={}), [], "a refused place leaves no order")
    # trade: order entry, no queries, no private channels.
    o = w.place(**place, client_id="perm-1")
    check_order(o, {"status": "new", "client_id": "perm-1", "price": "100", "qty": "0.1"},
                "order.place on a trade key")
    w.err("orders", 3004, args={})
    w.err("balances", 3004)
    # The read session of the same user sees the trade session's order.
    r.wait_event(lambda e: e.get("event") == "@order" and e["data"].get("order_id") == o["order_id"],
                 "@order for the order placed on the user's other (trade-key) connection")
    hold = dec_units("10", 8)
    r.wait_event(lambda e: e.get("event") == "@balance" and e["data"] == {
        "asset": "USDT", "available": amt(dec_units("10000", 8) - hold, "USDT"),
        "hold": amt(hold, "USDT")}, "@balance after the hold of the trade-key order")
    orders = r.ok("orders", args={})
    check(len(orders) == 1 and orders[0].get("order_id") == o["order_id"],
          f"orders on the read key lists the order placed with the trade key: {orders}")
    c = w.ok("order.cancel", args={"market": "BTCUSDT", "order_id": o["order_id"]})
    check_order(c, {"status": "cancelled", "order_id": o["order_id"]}, "cancel on a trade key")
    # A JWT session of the same user has every permission.
    j = user(srv, uid, "jwt-all")
    check_eq(j.ok("orders", args={}), [], "orders on a JWT session")
    o2 = j.place(**place)
    j.ok("order.cancel", args={"market": "BTCUSDT", "order_id": o2["order_id"]})
    # docs/AUTH.md gives the private channels to `read`: a trade-only key has none.
    w.err("subscribe", 3004, args=["@order"])


def test_apikey_ip_allow_list(srv):
    key, secret = new_key(srv, 7140, ips=["10.0.0.0/8"])
    s = Session(srv, "ip")
    ts = h.now_ms()
    s.err("auth", 3004, key=key, ts=ts, sig=api_sig(key, secret, ts))
    s.err("auth", 3003, key=key, ts=ts, sig="1" * 64)  # the signature is checked first
    anon_still(s, "address not on the allow-list")
    for ips in (["127.0.0.1"], ["10.0.0.0/8", "127.0.0.0/8"], []):
        k, sec = new_key(srv, 7141, ips=ips)
        Session(srv, f"ip-ok{len(ips)}").auth_key(k, sec, uid=7141)
    admin_err(srv, "POST", "/admin/apikeys",
              {"uid": 7142, "label": "x", "permissions": ["read"], "ips": ["10.0.0.1/8"]},
              400, 1003)
    admin_err(srv, "POST", "/admin/apikeys",
              {"uid": 7142, "label": "x", "permissions": ["read"], "ips": ["10.0.0.300"]}, 400, 1003)


def test_apikey_ws_management(srv):
    uid = 7150
    me = user(srv, uid, "keys")
    before = me.ok("apikey.list")
    check(isinstance(before, list), f"apikey.list must be a list, got {before!r}")
    c1 = me.ok("apikey.create", args={"label": "bot", "permissions": ["read", "trade"]})
    check(isinstance(c1, dict) and re.fullmatch(r"[0-9a-f]{32}", str(c1.get("key")))
          and re.fullmatch(r"[0-9a-f]{64}", str(c1.get("secret"))),
          f"apikey.create: expected a 32-hex key and a 64-hex secret, got {c1!r}")
    check(c1.get("label") == "bot" and sorted(c1.get("permissions") or []) == ["read", "trade"]
          and c1.get("ips") in ([], None) and h.is_int(c1.get("created")),
          f"apikey.create reply fields: {c1!r}")
    c2 = me.ok("apikey.create", args={"label": "ro", "permissions": ["read"], "ips": ["10.0.0.0/8"]})
    check(c2.get("ips") == ["10.0.0.0/8"], f"apikey.create with ips: {c2!r}")
    listed = me.ok("apikey.list")
    check(len(listed) == len(before) + 2, f"apikey.list after two creates: {listed}")
    check(all("secret" not in k for k in listed), f"apikey.list must never show secrets: {listed}")
    keys = {k.get("key"): k for k in listed}
    check(c1["key"] in keys and c2["key"] in keys, f"apikey.list lists the new keys: {listed}")
    check_eq(keys[c1["key"]].get("label"), "bot", "label in apikey.list")
    # The created key logs in; updating it to read-only takes effect on the next login.
    Session(srv, "k1").auth_key(c1["key"], c1["secret"], uid=uid)
    u = me.ok("apikey.update", args={"key": c1["key"], "permissions": ["read"]})
    check(u.get("key") == c1["key"] and u.get("permissions") == ["read"] and "secret" not in u
          and u.get("label") == "bot", f"apikey.update reply: {u!r}")
    u = me.ok("apikey.update", args={"key": c1["key"], "label": "renamed"})
    check_eq(u.get("label"), "renamed", "label after apikey.update")
    k1 = Session(srv, "k1-ro").auth_key(c1["key"], c1["secret"], uid=uid)
    k1.err("order.place", 3004, args={"market": "BTCUSDT", "side": "buy", "type": "limit",
                                      "price": "100", "qty": "0.1"})
    # delete
    check_eq(me.ok("apikey.delete", args={"key": c2["key"]}), True, "apikey.delete reply")
    listed = me.ok("apikey.list")
    check(c2["key"] not in {k.get("key") for k in listed}, f"deleted key still listed: {listed}")
    ts = h.now_ms()
    Session(srv, "k2-gone").err("auth", 3003, key=c2["key"], ts=ts,
                                sig=api_sig(c2["key"], c2["secret"], ts))
    me.err("apikey.delete", 3005, args={"key": c2["key"]})
    # Someone else's key and an unknown key: the same 3005.
    other = user(srv, 7151, "other")
    other.err("apikey.update", 3005, args={"key": c1["key"], "permissions": ["read", "trade"]})
    other.err("apikey.delete", 3005, args={"key": c1["key"]})
    other.err("apikey.update", 3005, args={"key": "0" * 32, "label": "x"})
    check(c1["key"] not in {k.get("key") for k in other.ok("apikey.list")},
          "another user's apikey.list shows this user's key")
    check(c1["key"] in {k.get("key") for k in me.ok("apikey.list")},
          "a refused update/delete by another user removed the key")
    # Bad input: 1003.
    for args in ({"label": "x", "permissions": ["admin"]}, {"label": "x", "permissions": []},
                 {"label": "x" * 65, "permissions": ["read"]},
                 {"label": "a\nb", "permissions": ["read"]},
                 {"label": "x", "permissions": ["read"], "ips": [f"10.0.0.{i}" for i in range(9)]},
                 {"label": "x", "permissions": ["read"], "ips": ["10.0.0.1/8"]}):
        me.err("apikey.create", 1003, args=args)
    me.err("apikey.update", 1003, args={"key": c1["key"], "permissions": ["fly"]})


def test_apikey_totp(srv):
    uid = 7170
    me = user(srv, uid, "totp")
    r = admin_ok(srv, "POST", "/admin/totp", {"uid": uid, "enable": True})
    check(isinstance(r, dict) and isinstance(r.get("secret"), str)
          and str(r.get("uri", "")).startswith("otpauth://totp/"),
          f"POST /admin/totp enable: expected a base32 secret and an otpauth:// uri, got {r!r}")
    secret = b32decode(r["secret"])
    check(len(secret) >= 16, f"TOTP secret of {len(secret)} bytes (RFC 4226: at least 16)")
    check(f"secret={r['secret'].strip('=')}" in r["uri"] or f"secret={r['secret']}" in r["uri"],
          f"the uri carries the secret: {r!r}")
    now = time.time()
    valid = {totp(secret, now + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "000001", "000002", "000003") if c not in valid)
    stale = totp(secret, now - 150)  # five steps ago
    create = {"label": "2fa", "permissions": ["read"]}
    check(isinstance(me.ok("apikey.list"), list), "apikey.list needs no otp")
    me.err("apikey.create", 1003, args=create)  # otp required
    me.err("apikey.create", 3004, args=dict(create, otp=wrong))
    if stale not in valid:
        me.err("apikey.create", 3004, args=dict(create, otp=stale))
    k = me.ok("apikey.create", args=dict(create, otp=totp(secret, time.time())))
    check(re.fullmatch(r"[0-9a-f]{32}", str(k.get("key"))), f"apikey.create with otp: {k!r}")
    prev = totp(secret, time.time() - 30)  # one step back is still accepted
    u = me.ok("apikey.update", args={"key": k["key"], "label": "2fa-b", "otp": prev})
    check_eq(u.get("label"), "2fa-b", "apikey.update with the previous step's code")
    me.err("apikey.update", 1003, args={"key": k["key"], "label": "x"})
    me.err("apikey.update", 3004, args={"key": k["key"], "label": "x", "otp": wrong})
    me.err("apikey.delete", 1003, args={"key": k["key"]})
    me.err("apikey.delete", 3004, args={"key": k["key"], "otp": wrong})
    check_eq([x.get("label") for x in me.ok("apikey.list") if x.get("key") == k["key"]], ["2fa-b"],
             "the key after refused update/delete")
    # TOTP guards key management, not login with a key.
    Session(srv, "totp-login").auth_key(k["key"], k["secret"], uid=uid)
    check_eq(me.ok("apikey.delete", args={"key": k["key"], "otp": totp(secret, time.time())}), True,
             "apikey.delete with otp")
    # Another user is not affected; turning TOTP off lifts the requirement.
    other = user(srv, uid + 1, "no-totp")
    other.ok("apikey.create", args=create)
    admin_ok(srv, "POST", "/admin/totp", {"uid": uid, "enable": False})
    k2 = me.ok("apikey.create", args=create)
    me.ok("apikey.delete", args={"key": k2["key"]})


def test_admin_apikeys_errors(srv):
    for body in ({"uid": 7160, "label": "x", "permissions": ["root"]},
                 {"label": "x", "permissions": ["read"]},
                 {"uid": 0, "label": "x", "permissions": ["read"]},
                 {"uid": 7160, "label": "x", "permissions": "read"}):
        admin_err(srv, "POST", "/admin/apikeys", body, 400, 1003)
    k, sec = new_key(srv, 7160, perms=["read", "trade", "withdraw"], label="all")
    Session(srv, "all-perms").auth_key(k, sec, uid=7160)


# =======================================================================================
# Group rs256: HS/RS confusion


def test_rs256_valid(srv):
    priv, _pub = rsa_keys()["a"]
    s = Session(srv, "rs")
    check_eq(s.ok("auth", token=jwt(claims(7200), alg="RS256", key=priv)), {"uid": 7200},
             "auth with an RS256 JWT signed by the configured key")
    check_balance_map(s.ok("balances"), {}, "balances after RS256 auth")
    s2 = Session(srv, "rs-exp")
    s2.err("auth", 3002, token=jwt(claims(7200, ttl=-120), alg="RS256", key=priv))


def test_hs_rs_confusion(srv):
    priv, pub = rsa_keys()["a"]
    other_priv, _ = rsa_keys()["b"]
    with open(pub, "rb") as f:
        pem = f.read()
    c = claims(7210)
    s = Session(srv, "confusion")
    # The classic attack: an HS256 token whose HMAC key is the server's public key.
    for keybytes in (pem, pem.strip(), pub_der(pub)):
        s.err("auth", 3001, token=jwt(c, alg="HS256", key=keybytes))
    s.err("auth", 3001, token=jwt(c, alg="HS256", key=SECRET))  # HS256 is off here
    s.err("auth", 3001, token=jwt(c, alg="RS256", key=other_priv))  # another RSA key
    good = jwt(c, alg="RS256", key=priv)
    hdr, _body, sig = good.split(".")
    s.err("auth", 3001, token=f"{hdr}.{b64url_json(dict(c, uid=7211))}.{sig}")  # tampered
    s.err("auth", 3001, token=jwt(c, alg="none"))
    # An RS256 signature presented as ES256 / PS256.
    for alg in ("ES256", "PS256"):
        si = b64url_json({"alg": alg, "typ": "JWT"}) + "." + b64url_json(c)
        s.err("auth", 3001, token=si + "." + b64url(rs256_sign(priv, si.encode())))
    anon_still(s, "HS/RS confusion")
    check_eq(s.ok("auth", token=good), {"uid": 7210}, "the genuine RS256 token")


# =======================================================================================
# Group orders


def test_subscribe_ops(srv):
    anon = Session(srv, "sub-anon")
    anon.err("subscribe", 2003, args=["@order"])
    anon.err("subscribe", 2003, channel="@balance")
    s = user(srv, 8001, "sub")
    check_eq(s.ok("list"), [], "list before any subscription")
    check_eq(s.ok("subscribe", channel="@order"), True, "subscribe channel=@order")
    check_eq(s.ok("subscribe", args=["@trade", "@balance"]), True, "subscribe args=[@trade,@balance]")
    got = s.ok("list")
    check(isinstance(got, list) and sorted(got) == ["@balance", "@order", "@trade"],
          f"list after subscribing three channels: {got!r}")
    check_eq(s.ok("unsubscribe", channel="@trade"), True, "unsubscribe channel=@trade")
    check_eq(sorted(s.ok("list")), ["@balance", "@order"], "list after unsubscribing @trade")
    check_eq(s.ok("unsubscribe", args=["@order", "@balance"]), True, "unsubscribe args")
    check_eq(s.ok("list"), [], "list after unsubscribing everything")
    for ch in ("@nope", "nonsense", "@order@order", "XXXUSDT@order", "@orders"):
        s.err("subscribe", 2001, args=[ch])
    s.err("subscribe", (2001, 1003), args=[""])
    s.err("subscribe", 1003)  # neither args nor channel
    s.err("subscribe", 1003, args="@order")  # args not a list
    s.err("subscribe", (1003, 2001), args=[42])
    check_eq(s.ok("subscribe", args=["@account", "@position"]), True, "@account and @position")
    check_eq(sorted(s.ok("list")), ["@account", "@position"], "list with @account, @position")
    # Unsubscribed channels get no pushes: a deposit pushes nothing on @balance now.
    s.take()
    deposit(srv, 8001, "USDT", "1")
    settle(s)
    check(not s.of("@balance"), f"@balance push after unsubscribing: {s.of('@balance')}")


def lim(market, side, price, qty, **kw):
    a = {"market": market, "side": side, "type": "limit", "price": price, "qty": qty}
    a.update(kw)
    return a


def test_place_resting_and_holds(srv):
    uid = 8010
    lg = Ledger()
    deposit(srv, uid, "USDT", "100000", lg)
    deposit(srv, uid, "BTC", "2", lg)
    s = user(srv, uid, "rest", channels=PRIVATE)
    try:
        take_all(s)
        o = s.place(**lim("btcusdt", "buy", "30000.50", "0.1", client_id="rest-b"))  # lower case
        lg.order("b", uid, "BTCUSDT", "buy", "30000.50", "0.1", cid="rest-b")
        check_model_order(o, lg, "b", "order.place resting buy (market in lower case)")
        wait_order(s, lg, "b", "resting buy")
        wait_balance(s, lg, uid, "USDT", "hold of the resting buy")
        o2 = s.place(**lim("BTCUSDT", "sell", "90000", "0.25", client_id="rest-s"))
        lg.order("s", uid, "BTCUSDT", "sell", "90000", "0.25", cid="rest-s")
        check_model_order(o2, lg, "s", "order.place resting sell")
        check(o2["order_id"] != o["order_id"], f"order ids must be unique: {o} {o2}")
        o3 = s.place(**lim("ETHUSDT", "buy", "2000", "0.5"))
        lg.order("e", uid, "ETHUSDT", "buy", "2000", "0.5", oid=o3["order_id"])
        check_order(o3, {"market": "ETHUSDT", "status": "new", "price": "2000", "qty": "0.5",
                         "filled": "0"}, "order.place ETHUSDT without client_id")
        wait_balance(s, lg, uid, "BTC", "hold of the resting sell")
        settle(s)
        check_last_balance(s, wait_balance(s, lg, uid, "USDT", "two buys"), "two resting buys")
        check_balances(s, lg, uid, "three resting orders")
        ords = s.ok("orders", args={})
        check(isinstance(ords, list), f"orders must be a list: {ords!r}")
        byid = {x.get("order_id"): x for x in ords}
        check_eq(sorted(byid), sorted([o["order_id"], o2["order_id"], o3["order_id"]]),
                 "order ids listed by orders")
        for key in ("b", "s", "e"):
            check_model_order(byid[lg.orders[key]["oid"]], lg, key, f"orders entry {key}")
        eth = s.ok("orders", args={"market": "ethusdt"})
        check_eq([x.get("order_id") for x in eth], [o3["order_id"]], "orders filtered by market")
        check_eq(s.ok("orders", args={"market": "ETHBTC"}), [], "orders of a market with none")
        s.err("orders", 4001, args={"market": "NOPE"})
        check_eq(len(s.ok("orders")), 3, "orders without args lists every market")
    finally:
        s.ok("order.cancel_all", args={})
    for key in ("b", "s", "e"):
        lg.close(key)
    check_balances(s, lg, uid, "after cancel_all")


def test_place_validation_errors(srv):
    uid = 8020
    lg = Ledger()
    deposit(srv, uid, "USDT", "100000", lg)
    deposit(srv, uid, "BTC", "10", lg)
    s = user(srv, uid, "valid")
    good = lim("BTCUSDT", "buy", "50000", "0.1")

    def bad(code, what, **changes):
        a = dict(good)
        for k, v in changes.items():
            if v is None:
                a.pop(k, None)
            else:
                a[k] = v
        s.err("order.place", code, args=a)

    bad(4001, "unknown market", market="NOPE")
    bad((1003, 4001), "no market", market=None)
    for side in ("BUY", "long", "", None, 1):
        bad(1003, "side", side=side)
    for typ in ("limitt", "LIMIT", None, "stop"):
        bad(1003, "type", type=typ)
    bad(1003, "tif", tif="day")
    bad(1003, "tif upper case", tif="GTC")
    bad(1003, "stp", stp="bogus")
    bad(1003, "post_only not a bool", post_only="yes")
    bad(1003, "client_id of 37 characters", client_id="c" * 37)
    bad(1003, "client_id not a string", client_id=17)
    for price in (None, 50000, "5e4", "50000.", ".5", "", " 1", "1,5", "0x10"):
        bad(1003, "malformed price", price=price)
    for qty in (None, 0.1, "1e-1", "abc"):
        bad(1003, "malformed qty", qty=qty)
    for price in ("0", "-100", "50000.001", "0.001"):
        bad(4002, "price off tick or not positive", price=price)
    for qty in ("0", "-1", "0.000001", "0.100001"):
        bad(4003, "qty off lot or not positive", qty=qty)
    bad(4003, "below min_notional (0.01 USDT)", price="100", qty="0.0001")
    bad(4003, "just below min_notional (4.9999 USDT)", price="499.99", qty="0.01")
    bad(4004, "buy above the available USDT", qty="2.00001")
    bad(4004, "sell above the available BTC", side="sell", price="90000", qty="10.00001")
    # First failing check wins (RULES.md).
    bad(4001, "unknown market beats a bad side", market="NOPE", side="up")
    bad(1003, "bad side beats a bad price", side="up", price="1.001")
    bad(4002, "bad price beats a bad qty", price="1.001", qty="0.000001")
    bad(4003, "bad qty beats insufficient balance", qty="1000.000001")
    s.err("order.place", 1003)  # no args
    s.err("order.place", 1003, args="BTCUSDT buy")
    s.err("order.place", 1003, args=[good])
    # post_only only with a limit gtc order.
    bad(1003, "post_only with ioc", tif="ioc", post_only=True)
    # Market orders: exactly one of qty / quote_qty on a buy, qty only on a sell.
    s.err("order.place", 1003, args={"market": "BTCUSDT", "side": "buy", "type": "market",
                                     "qty": "0.1", "quote_qty": "100"})
    s.err("order.place", 1003, args={"market": "BTCUSDT", "side": "buy", "type": "market"})
    s.err("order.place", 1003, args={"market": "BTCUSDT", "side": "sell", "type": "market",
                                     "quote_qty": "100"})
    # At the edges: exactly min_notional, and exactly the whole balance, are accepted.
    o = s.place(**lim("BTCUSDT", "buy", "500", "0.01", client_id="c" * 36))
    check_order(o, {"status": "new", "client_id": "c" * 36, "price": "500", "qty": "0.01"},
                "a buy of exactly min_notional with a 36-character client_id")
    s.ok("order.cancel", args={"market": "BTCUSDT", "order_id": o["order_id"]})
    o = s.place(**lim("BTCUSDT", "buy", "50000", "2"))  # 100000 USDT: all of it
    check_order(o, {"status": "new"}, "a buy that holds the whole balance")
    s.ok("order.cancel", args={"market": "BTCUSDT", "order_id": o["order_id"]})
    # Nothing leaked: no open order, no hold.
    check_eq(s.ok("orders", args={}), [], "open orders after refused places")
    check_balances(s, lg, uid, "after refused places")
    s.ws.assert_alive("after many refused orders")


def test_place_tif_and_market(srv):
    lg = Ledger()
    M, U = 8030, 8031
    deposit(srv, M, "BTC", "5", lg)
    deposit(srv, M, "USDT", "100000", lg)
    deposit(srv, U, "USDT", "100000", lg)
    deposit(srv, U, "BTC", "1", lg)
    deposit(srv, U, "ETH", "1", lg)
    m = user(srv, M, "maker", channels=PRIVATE)
    u = user(srv, U, "taker", channels=PRIVATE)
    try:
        # IOC: trades what it can, the rest is cancelled; filled kept.
        mo = m.place(**lim("BTCUSDT", "sell", "40000", "0.1", client_id="m1"))
        lg.order("m1", M, "BTCUSDT", "sell", "40000", "0.1", cid="m1", oid=mo["order_id"])
        o = u.place(**lim("BTCUSDT", "buy", "40000", "0.3", tif="ioc", client_id="ioc"))
        lg.order("ioc", U, "BTCUSDT", "buy", "40000", "0.3", cid="ioc")
        lg.fill("m1", "ioc", "0.1")
        lg.close("ioc")
        exp = lg.expected_order("ioc", "cancelled")
        exp["tif"] = "ioc"
        check_order(o, exp, "IOC buy 0.3 against 0.1")
        check(avg_ok(o.get("avg_price"), [("40000", "0.1")]), f"IOC avg_price: {o}")
        check_balances(u, lg, U, "after the IOC")
        check_balances(m, lg, M, "maker after the IOC")
        # FOK: not fillable -> 4007 and nothing traded; fillable -> filled.
        mo = m.place(**lim("BTCUSDT", "sell", "40000", "0.2", client_id="m2"))
        lg.order("m2", M, "BTCUSDT", "sell", "40000", "0.2", cid="m2", oid=mo["order_id"])
        u.err("order.place", 4007, args=lim("BTCUSDT", "buy", "40000", "0.3", tif="fok"))
        u.err("order.place", 4007, args=lim("BTCUSDT", "buy", "39999.99", "0.1", tif="fok"))
        ords = m.ok("orders", args={"market": "BTCUSDT"})
        check(len(ords) == 1 and ords[0].get("filled") == "0" and ords[0].get("qty") == "0.2",
              f"a refused FOK leaves the maker untouched: {ords}")
        check_balances(u, lg, U, "after refused FOKs")
        o = u.place(**lim("BTCUSDT", "buy", "40000", "0.2", tif="fok", client_id="fok"))
        lg.order("fok", U, "BTCUSDT", "buy", "40000", "0.2", cid="fok")
        lg.fill("m2", "fok", "0.2")
        exp = lg.expected_order("fok")
        exp["tif"] = "fok"
        check_order(o, exp, "FOK buy 0.2 against 0.2")
        # Market orders on an empty side: accepted, cancelled, nothing filled.
        check_eq(u.ok("orders", args={"market": "ETHUSDT"}), [], "ETHUSDT is empty")
        for args in ({"market": "ETHUSDT", "side": "buy", "type": "market", "qty": "0.1"},
                     {"market": "ETHUSDT", "side": "buy", "type": "market", "quote_qty": "100"},
                     {"market": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.1"}):
            o = u.place(**args)
            check_order(o, {"status": "cancelled", "filled": "0", "type": "market",
                            "side": args["side"]}, f"market order on an empty side {args}")
        check_balances(u, lg, U, "after market orders on an empty book")
        # Market buy by quote_qty: whole lots per level, stops where the budget affords none.
        a = m.place(**lim("BTCUSDT", "sell", "40000", "0.1", client_id="m3"))
        b = m.place(**lim("BTCUSDT", "sell", "40010", "0.1", client_id="m4"))
        lg.order("m3", M, "BTCUSDT", "sell", "40000", "0.1", cid="m3", oid=a["order_id"])
        lg.order("m4", M, "BTCUSDT", "sell", "40010", "0.1", cid="m4", oid=b["order_id"])
        budget = dec_units("6000", 8)
        lot = base_units("BTCUSDT", "0.00001")
        spent1 = notional("BTCUSDT", "40000", base_units("BTCUSDT", "0.1"))
        lots2 = (budget - spent1) // notional("BTCUSDT", "40010", lot)
        q2 = fmt_units(lots2 * lot, 8)
        check(lots2 < 10000, "internal: the budget must stop inside the second level")
        o = u.place(market="BTCUSDT", side="buy", type="market", quote_qty="6000", client_id="mq")
        lg.order("mq", U, "BTCUSDT", "buy", None, "0.2", cid="mq")
        lg.fill("m3", "mq", "0.1")
        lg.fill("m4", "mq", q2)
        lg.close("mq")
        filled = amt(base_units("BTCUSDT", "0.1") + lots2 * lot, "BTC")
        check_order(o, {"status": "filled", "filled": filled, "type": "market", "side": "buy"},
                    f"market buy quote_qty 6000 over 0.1@40000 + 0.1@40010 (expected {filled})")
        check(avg_ok(o.get("avg_price"), [("40000", "0.1"), ("40010", q2)]),
              f"market buy avg_price: {o}")
        settle(m, u)
        check_balances(u, lg, U, "after the market buy by quote_qty")
        check_balances(m, lg, M, "maker after the market buy by quote_qty")
        # post_only: would cross (own orders included) -> 4005; otherwise rests.
        u.err("order.place", 4005, args=lim("BTCUSDT", "buy", "40010", "0.01", post_only=True))
        u.err("order.place", 4005, args=lim("BTCUSDT", "buy", "41000", "0.01", post_only=True))
        own = u.place(**lim("ETHUSDT", "sell", "3000", "0.01"))
        u.err("order.place", 4005, args=lim("ETHUSDT", "buy", "3000", "0.01", post_only=True))
        u.ok("order.cancel", args={"market": "ETHUSDT", "order_id": own["order_id"]})
        o = u.place(**lim("BTCUSDT", "buy", "40009.99", "0.01", post_only=True))
        check_order(o, {"status": "new", "post_only": True, "price": "40009.99"},
                    "post-only buy below the best ask")
        u.ok("order.cancel", args={"market": "BTCUSDT", "order_id": o["order_id"]})
        check_balances(u, lg, U, "final")
        check_balances(m, lg, M, "maker final")
    finally:
        m.ok("order.cancel_all", args={})
        u.ok("order.cancel_all", args={})


def test_cancel_paths(srv):
    uid = 8040
    lg = Ledger()
    deposit(srv, uid, "USDT", "10000", lg)
    s = user(srv, uid, "cancel", channels=("@order",))
    o1 = s.place(**lim("BTCUSDT", "buy", "30000", "0.01", client_id="c-1"))
    o2 = s.place(**lim("BTCUSDT", "buy", "30000.01", "0.01", client_id="c-2"))
    o3 = s.place(**lim("ETHUSDT", "buy", "1000", "0.01", client_id="c-3"))
    for k, o, p, m in (("1", o1, "30000", "BTCUSDT"), ("2", o2, "30000.01", "BTCUSDT"),
                       ("3", o3, "1000", "ETHUSDT")):
        lg.order(k, uid, m, "buy", p, "0.01", cid=f"c-{k}", oid=o["order_id"])
    c = s.ok("order.cancel", args={"market": "BTCUSDT", "order_id": o1["order_id"]})
    lg.close("1")
    check_model_order(c, lg, "1", "cancel by order_id", status="cancelled")
    wait_order(s, lg, "1", "the cancel by order_id", status="cancelled")
    check_balances(s, lg, uid, "after one cancel")
    s.err("order.cancel", 4006, args={"market": "BTCUSDT", "order_id": o1["order_id"]})  # again
    c = s.ok("order.cancel", args={"market": "BTCUSDT", "client_id": "c-2"})
    lg.close("2")
    check_model_order(c, lg, "2", "cancel by client_id", status="cancelled")
    s.err("order.cancel", 4006, args={"market": "BTCUSDT", "client_id": "c-2"})
    # The ETHUSDT order is not found through another market, by id or client_id.
    s.err("order.cancel", 4006, args={"market": "BTCUSDT", "order_id": o3["order_id"]})
    s.err("order.cancel", 4006, args={"market": "BTCUSDT", "client_id": "c-3"})
    s.err("order.cancel", 4006, args={"market": "BTCUSDT", "order_id": "999999999"})
    s.err("order.cancel", 4006, args={"market": "BTCUSDT", "client_id": "never-used"})
    s.err("order.cancel", 4001, args={"market": "NOPE", "order_id": o3["order_id"]})
    s.err("order.cancel", 1003, args={"market": "ETHUSDT"})  # neither order_id nor client_id
    s.err("order.cancel", 1003)
    # order_id wins over client_id.
    c = s.ok("order.cancel", args={"market": "ethusdt", "order_id": o3["order_id"],
                                   "client_id": "c-1"})
    lg.close("3")
    check_model_order(c, lg, "3", "cancel by order_id (and a stale client_id)", status="cancelled")
    check_eq(s.ok("orders", args={}), [], "orders after cancelling everything")
    check_balances(s, lg, uid, "after cancelling everything")


def test_cancel_all_paths(srv):
    uid = 8050
    deposit(srv, uid, "USDT", "10000")
    deposit(srv, uid, "BTC", "1")
    s = user(srv, uid, "cxall", channels=("@order",))
    check_eq(s.ok("order.cancel_all", args={}), {"cancelled": 0}, "cancel_all with nothing open")
    check_eq(s.ok("order.cancel_all"), {"cancelled": 0}, "cancel_all without args")
    ids = [s.place(**lim("BTCUSDT", "buy", "20000", "0.01"))["order_id"],
           s.place(**lim("BTCUSDT", "sell", "90000", "0.01"))["order_id"],
           s.place(**lim("ETHUSDT", "buy", "1000", "0.01"))["order_id"]]
    s.take()
    check_eq(s.ok("order.cancel_all", args={"market": "btcusdt"}), {"cancelled": 2},
             "cancel_all BTCUSDT with two open there")
    for oid in ids[:2]:
        s.wait_event(lambda e, oid=oid: e.get("event") == "@order" and e["data"].get("order_id") == oid
                     and e["data"].get("status") == "cancelled", f"@order cancelled for {oid}")
    left = s.ok("orders", args={})
    check_eq([o.get("order_id") for o in left], [ids[2]], "orders after cancel_all BTCUSDT")
    s.err("order.cancel_all", 4001, args={"market": "NOPE"})
    check_eq(s.ok("order.cancel_all", args={}), {"cancelled": 1}, "cancel_all of every market")
    check_eq(s.ok("orders", args={}), [], "orders after cancel_all")
    check_balance_map(s.ok("balances"), {"USDT": (dec_units("10000", 8), 0),
                                         "BTC": (dec_units("1", 8), 0)}, "holds released")


def test_amend_paths(srv):
    U, M = 8060, 8061
    lg = Ledger()
    deposit(srv, U, "USDT", "10000", lg)
    deposit(srv, M, "BTC", "1", lg)
    u = user(srv, U, "amend", channels=PRIVATE)
    m = user(srv, M, "amend-maker", channels=PRIVATE)
    try:
        o = u.place(**lim("BTCUSDT", "buy", "30000", "0.1", client_id="am-1"))
        lg.order("a", U, "BTCUSDT", "buy", "30000", "0.1", cid="am-1", oid=o["order_id"])

        def amend(what, **args):
            r = u.ok("order.amend", args=dict({"market": "BTCUSDT", "order_id": o["order_id"]}, **args))
            lg.amend("a", args.get("price"), args.get("qty"))
            check_model_order(r, lg, "a", what)
            check_balances(u, lg, U, what)
            return r

        amend("amend qty down", qty="0.05")
        amend("amend price", price="30010")
        amend("amend qty up", qty="0.08")
        r = u.ok("order.amend", args={"market": "BTCUSDT", "client_id": "am-1", "price": "30005"})
        lg.amend("a", price="30005")
        check_model_order(r, lg, "a", "amend by client_id")
        # Errors; the order stays as it was.
        base = {"market": "BTCUSDT", "order_id": o["order_id"]}
        u.err("order.amend", 1003, args=base)  # neither price nor qty
        u.err("order.amend", 4002, args=dict(base, price="30005.001"))
        u.err("order.amend", 4002, args=dict(base, price="0"))
        u.err("order.amend", 4003, args=dict(base, qty="0.000001"))
        u.err("order.amend", 4003, args=dict(base, qty="0"))
        u.err("order.amend", 4003, args=dict(base, qty="0.0001"))  # 3.0005 USDT < min_notional
        u.err("order.amend", 4004, args=dict(base, qty="1"))  # 30005 USDT > 10000
        u.err("order.amend", 4006, args={"market": "BTCUSDT", "order_id": "999999999", "qty": "0.01"})
        u.err("order.amend", 4006, args={"market": "ETHUSDT", "order_id": o["order_id"], "qty": "0.01"})
        u.err("order.amend", 4006, args={"market": "BTCUSDT", "client_id": "nope", "qty": "0.01"})
        u.err("order.amend", 4001, args={"market": "NOPE", "order_id": o["order_id"], "qty": "0.01"})
        u.err("order.amend", 1003, args={"market": "BTCUSDT", "qty": "0.01"})
        u.err("order.amend", 1003, args=dict(base, qty=0.01))
        ords = u.ok("orders", args={})
        check(len(ords) == 1, f"one open order after refused amends: {ords}")
        check_model_order(ords[0], lg, "a", "the order after refused amends")
        check_balances(u, lg, U, "after refused amends")
        # A partial fill, then qty at or below filled is refused.
        mo = m.place(**lim("BTCUSDT", "sell", "30005", "0.02", client_id="mk-1"))
        lg.order("m", M, "BTCUSDT", "sell", "30005", "0.02", cid="mk-1")
        lg.fill("a", "m", "0.02")
        check_model_order(mo, lg, "m", "maker sells into the amended order")
        u.err("order.amend", 4003, args=dict(base, qty="0.02"))
        u.err("order.amend", 4003, args=dict(base, qty="0.01"))
        amend("amend qty to filled + 0.01", qty="0.03")
        # An amend whose new price crosses trades at once, as a taker, keeping its id.
        mo = m.place(**lim("BTCUSDT", "sell", "30100", "0.05", client_id="mk-2"))
        lg.order("m2", M, "BTCUSDT", "sell", "30100", "0.05", cid="mk-2", oid=mo["order_id"])
        r = u.ok("order.amend", args=dict(base, price="30100"))
        lg.amend("a", price="30100")
        lg.fill("m2", "a", "0.01")
        check_model_order(r, lg, "a", "amend that crosses: filled as a taker")
        u.take()
        check_eq(r.get("status"), "filled", "status of the crossing amend")
        u.err("order.amend", 4006, args=dict(base, qty="0.05"))  # closed
        settle(u, m)
        check_balances(u, lg, U, "after the crossing amend (taker fee in BTC)")
        check_balances(m, lg, M, "maker after both fills")
        # post-only: an amend that would cross is refused and changes nothing.
        po = u.place(**lim("BTCUSDT", "buy", "30000", "0.01", post_only=True))
        u.err("order.amend", 4005, args={"market": "BTCUSDT", "order_id": po["order_id"],
                                         "price": "30100"})
        ords = u.ok("orders", args={})
        check(len(ords) == 1 and ords[0].get("price") == "30000" and ords[0].get("status") == "new",
              f"a refused post-only amend leaves the order: {ords}")
        # An unchanged amend is accepted, changes nothing and answers with the order.
        r = u.ok("order.amend", args={"market": "BTCUSDT", "order_id": po["order_id"],
                                      "price": "30000", "qty": "0.01"})
        check_order(r, {"order_id": po["order_id"], "price": "30000", "qty": "0.01",
                        "status": "new", "post_only": True}, "unchanged amend (same price and qty)")
    finally:
        u.ok("order.cancel_all", args={})
        m.ok("order.cancel_all", args={})


def test_duplicate_client_id(srv):
    uid = 8070
    deposit(srv, uid, "USDT", "1000")
    s = user(srv, uid, "dup")
    o = s.place(**lim("BTCUSDT", "buy", "100", "0.1", client_id="dup"))
    s.err("order.place", 4009, args=lim("BTCUSDT", "buy", "100", "0.1", client_id="dup"))
    s.err("order.place", 4009, args=lim("ETHUSDT", "buy", "100", "0.1", client_id="dup"))
    # 4009 is checked before 4004.
    s.err("order.place", 4009, args=lim("BTCUSDT", "buy", "100", "100", client_id="dup"))
    other = user(srv, uid + 1, "dup-other")
    deposit(srv, uid + 1, "USDT", "1000")
    o2 = other.place(**lim("BTCUSDT", "buy", "100", "0.1", client_id="dup"))
    check_order(o2, {"client_id": "dup", "status": "new"}, "another user's order with the same client_id")
    s.ok("order.cancel", args={"market": "BTCUSDT", "client_id": "dup"})
    o3 = s.place(**lim("ETHUSDT", "buy", "100", "0.1", client_id="dup"))
    check(o3["order_id"] != o["order_id"], f"a new order after the cancel: {o3}")
    check_order(o3, {"client_id": "dup", "status": "new"}, "client_id reused after a cancel")
    s.ok("order.cancel_all", args={})
    other.ok("order.cancel_all", args={})


# =======================================================================================
# Group limits


def test_max_open_orders(srv):
    uid = 9001
    deposit(srv, uid, "USDT", "10000")
    s = user(srv, uid, "maxord")
    ids = [s.place(**lim("BTCUSDT", "buy", "100", "0.1"))["order_id"],
           s.place(**lim("BTCUSDT", "buy", "101", "0.1"))["order_id"],
           s.place(**lim("ETHUSDT", "buy", "100", "0.1"))["order_id"]]
    s.err("order.place", 5001, args=lim("ETHUSDT", "buy", "102", "0.1"))
    s.err("order.place", 5001, args=lim("BTCUSDT", "buy", "103", "0.1"))
    check_eq(len(s.ok("orders", args={})), 3, "open orders at the limit")
    # The limit is per user, not per connection.
    s2 = user(srv, uid, "maxord-2nd-conn")
    s2.err("order.place", 5001, args=lim("BTCUSDT", "buy", "104", "0.1"))
    other = user(srv, uid + 1, "maxord-other")
    deposit(srv, uid + 1, "USDT", "1000")
    other.place(**lim("BTCUSDT", "buy", "100", "0.1"))
    s.ok("order.cancel", args={"market": "BTCUSDT", "order_id": ids[0]})
    s.place(**lim("BTCUSDT", "buy", "105", "0.1"))
    s.ws.assert_alive("after 5001 replies")
    s.ok("order.cancel_all", args={})
    other.ok("order.cancel_all", args={})


def test_max_subscriptions(srv):
    s = user(srv, 9010, "maxsub")
    s.subscribe("@order")
    s.subscribe("@trade")
    s.err("subscribe", 2002, args=["@balance"])
    check_eq(sorted(s.ok("list")), ["@order", "@trade"], "list after a refused subscription")
    s.ok("unsubscribe", channel="@trade")
    s.subscribe("@balance")
    check_eq(sorted(s.ok("list")), ["@balance", "@order"], "list after swapping a channel")
    s.ws.assert_alive("after 2002")


# =======================================================================================
# Group isolation

PROBE_CHANNELS = ["7002@order", "@order:7002", "../@order", "BTCUSDT@order", "7002@balance",
                  "@balance:7002", "@trade@7002", "7002@trade", "7002@account", "@account:7002",
                  "7002@position", "@order/7002", "@order?uid=7002", "*", "@*", "#", "@ORDER",
                  "@order ", "@order\u00007002"]


def test_private_isolation(srv):
    A, B, C = 7001, 7002, 7003
    a = user(srv, A, "A")
    a.subscribe(*PRIVATE, "@account", "@position")
    accepted = []
    for ch in PROBE_CHANNELS:
        reply = a.request("subscribe", args=[ch])
        if reply.get("result") is True:
            accepted.append(ch)
        else:
            codes = (2001, 1003) if any(ord(ch_) < 33 for ch_ in ch) else (2001,)
            check(reply.get("code") in codes,
                  f"A: subscribe [{ch!r}]: expected {codes} or result true, got {reply}")
    a2 = user(srv, A, "A-2nd")
    a2.request("subscribe", args=PROBE_CHANNELS[:4])  # several at once: any reply, no data
    a2.subscribe(*PRIVATE)
    # Anonymous connections, one asking for private streams at connect time (the server may
    # refuse that upgrade, or close, or send errors: anything but B's data).
    y = Session(srv, "anon")
    status, xws = raw_upgrade(srv, {}, "/ws?stream=7002@order&stream=@order&stream=@balance")
    check(status == 101 or 400 <= status < 500,
          f"upgrade asking for private streams anonymously: expected 101 or 4xx, got {status}")
    x = Session(srv, "anon-url", ws=xws, tolerate_close=True) if status == 101 else y
    for ch in ("@order", "7002@order", "@balance"):
        y.request("subscribe", args=[ch])
    b = user(srv, B, "B", channels=PRIVATE + ("@account",))
    c = user(srv, C, "C", channels=PRIVATE)
    for s in (a, a2, x, y):
        s.drain()
        s.take()
    # B's life: deposits, orders, trades with C, cancels, amends.
    lg = Ledger()
    deposit(srv, B, "BTC", "1", lg)
    deposit(srv, C, "USDT", "100000", lg)
    bo = b.place(**lim("BTCUSDT", "sell", "50000", "0.2", client_id="b-secret"))
    lg.order("b", B, "BTCUSDT", "sell", "50000", "0.2", cid="b-secret", oid=bo["order_id"])
    co = c.place(**lim("BTCUSDT", "buy", "50000", "0.05", client_id="c-1"))
    lg.order("c", C, "BTCUSDT", "buy", "50000", "0.05", cid="c-1")
    lg.fill("b", "c", "0.05")
    check_model_order(co, lg, "c", "C's buy against B's sell")
    b.ok("order.amend", args={"market": "BTCUSDT", "order_id": bo["order_id"], "qty": "0.15"})
    b2 = b.place(**lim("ETHBTC", "buy", "0.05", "0.1", client_id="b-2"))
    b.ok("order.cancel", args={"market": "ETHBTC", "order_id": b2["order_id"]})
    # B and C did get their own events (so silence at A means something).
    b.wait_event(lambda e: e.get("event") == "@trade" and e["data"].get("order_id") == bo["order_id"],
                 "B's own @trade")
    b.wait_event(lambda e: e.get("event") == "@order" and e["data"].get("order_id") == b2["order_id"]
                 and e["data"].get("status") == "cancelled", "B's own @order cancelled")
    c.wait_event(lambda e: e.get("event") == "@trade", "C's own @trade")
    # A tries to act on B's order.
    a.err("order.cancel", 4006, args={"market": "BTCUSDT", "order_id": bo["order_id"]})
    a.err("order.cancel", 4006, args={"market": "BTCUSDT", "client_id": "b-secret"})
    a.err("order.amend", 4006, args={"market": "BTCUSDT", "order_id": bo["order_id"], "qty": "0.1"})
    a.err("order.amend", 4006, args={"market": "BTCUSDT", "client_id": "b-secret", "price": "50001"})
    check_eq(a.ok("order.cancel_all", args={}), {"cancelled": 0}, "A's cancel_all")
    check_eq(a.ok("orders", args={}), [], "A's orders")
    check_eq(a.ok("orders", args={"market": "BTCUSDT"}), [], "A's orders in BTCUSDT")
    check_balance_map(a.ok("balances"), {}, "A's balances")
    bl = b.ok("orders", args={})
    check(len(bl) == 1 and bl[0].get("order_id") == bo["order_id"] and bl[0].get("qty") == "0.15",
          f"B's order survives A's attempts unchanged: {bl}")
    settle(a, a2, x, y)
    for s in (a, a2, x, y):
        check(not s.events, f"{s.name} received pushes about other users: {summary(s.events)}"
              f" (channels accepted for A: {accepted})")
    # Positive control: A's own activity does reach A, and only A's.
    deposit(srv, A, "USDT", "1000")
    ao = a.place(**lim("BTCUSDT", "buy", "100", "0.1"))
    a.wait_event(lambda e: e.get("event") == "@order" and e["data"].get("order_id") == ao["order_id"],
                 "A's own @order")
    a.wait_event(lambda e: e.get("event") == "@balance" and e["data"].get("asset") == "USDT",
                 "A's own @balance")
    settle(a, a2, x, y)
    usdt = dec_units("1000", 8)
    for e in a.events + a2.events:
        d = e.get("data") or {}
        if e.get("event") == "@balance":
            # A owns 1000 USDT and nothing else: any other figure is someone else's.
            if d.get("asset") == "USDT":
                ok = dec_units(d.get("available", "x"), 8) + dec_units(d.get("hold", "x"), 8) == usdt
            else:
                ok = d.get("available") == "0" and d.get("hold") == "0"
            check(ok, f"A received a @balance that is not its own: {e}")
        else:
            check(e.get("event") == "@order" and d.get("order_id") == ao["order_id"],
                  f"A received a push that is not about its own order: {e}")
    check(not x.events and not y.events, f"anonymous connections got pushes: "
          f"{summary(x.events)} {summary(y.events)}")
    a.ok("order.cancel_all", args={})
    b.ok("order.cancel_all", args={})


def test_publish_account_routing(srv):
    A, B = 7011, 7012
    a = user(srv, A, "pubA", channels=("@account", "@position"))
    for ch in ("7012@account", "@account:7012"):
        a.request("subscribe", args=[ch])
    b = user(srv, B, "pubB", channels=("@account", "@position"))
    b_off = user(srv, B, "pubB-unsubscribed")
    a.take()
    data = {"equity": "123.45", "note": "only for 7012"}
    probe = admin(srv, "POST", "/v1/publish", {"channel": "7999@account", "data": {}})
    if probe.status == 404:
        # docs/PROTOCOL.md: "Not yet: POST /v1/publish (with the market-data fan-out)".
        print("   NOTE: POST /v1/publish answers 404 (not served yet): publish routing untested",
              flush=True)
        return
    r = admin_ok(srv, "POST", "/v1/publish", {"channel": f"{B}@account", "data": data})
    check_eq(r, {"delivered": 1}, "publish to 7012@account with one subscribed connection")
    e = b.wait_event(lambda e: e.get("event") == "@account", "the published @account")
    check_eq(e.get("data"), data, "data of the @account push")
    r = admin_ok(srv, "POST", "/v1/publish", {"c": f"{B}@position", "d": {"qty": "1"}})
    check_eq(r, {"delivered": 1}, "CONNMIX-style publish to 7012@position")
    e = b.wait_event(lambda e: e.get("event") == "@position", "the published @position")
    check_eq(e.get("data"), {"qty": "1"}, "data of the @position push")
    r = admin_ok(srv, "POST", "/v1/publish", {"channel": "7999@account", "data": {"x": 1}})
    check_eq(r, {"delivered": 0}, "publish to a uid with no session")
    settle(a, b_off)
    check(not a.events, f"A received B's published data: {summary(a.events)}")
    check(not b_off.events, f"B's unsubscribed connection received pushes: {summary(b_off.events)}")


# =======================================================================================
# Group session: the whole life of a few orders, field by field


SESSION_TAKER_FEE = 1500  # BTCUSDT override in this group: the taker's BTC fee then rounds


def test_full_session(srv):
    A, B, C = 5001, 5002, 5003
    lg = Ledger(fees={"BTCUSDT": (1000, SESSION_TAKER_FEE)})
    a = user(srv, A, "A", channels=PRIVATE)
    b = user(srv, B, "B", channels=PRIVATE)
    c = user(srv, C, "C", channels=PRIVATE)
    for s in (a, b, c):
        check_eq(sorted(s.ok("list")), sorted(PRIVATE), f"{s.name}: list")
    everyone = (a, b, c)

    def begin():
        settle(*everyone)
        take_all(*everyone)

    def balances_all(what):
        for s in everyone:
            check_balances(s, lg, s.uid, what)

    # 1. Deposits, each pushed on @balance.
    deposit(srv, A, "USDT", "100000", lg)
    deposit(srv, B, "BTC", "2", lg)
    deposit(srv, C, "USDT", "20000", lg)
    for s, asset in ((a, "USDT"), (b, "BTC"), (c, "USDT")):
        wait_balance(s, lg, s.uid, asset, "deposit")
    balances_all("after the deposits")
    begin()

    # 2. B rests three sells.
    for key, price, qty in (("s1", "50000.13", "0.12345"), ("s2", "50020.00", "0.2"),
                            ("s3", "50100", "0.1")):
        o = b.place(**lim("BTCUSDT", "sell", price, qty, client_id=key))
        lg.order(key, B, "BTCUSDT", "sell", price, qty, cid=key)
        check_model_order(o, lg, key, f"B places {key}")
        wait_order(b, lg, key, f"B's {key} rests")
    ids = [lg.orders[k]["oid"] for k in ("s1", "s2", "s3")]
    check(len(set(ids)) == 3, f"order ids must be unique: {ids}")
    if all(i.isdigit() for i in ids):
        check([int(i) for i in ids] == sorted(int(i) for i in ids),
              f"order ids increase per market: {ids}")
    want = wait_balance(b, lg, B, "BTC", "three sells held")
    settle(*everyone)
    check_last_balance(b, want, "three sells held")
    check(not a.events and not c.events, f"A/C got pushes for B's orders: {a.events} {c.events}")
    balances_all("after B's sells")
    begin()

    # 3. A's buy crosses two levels, the rest rests: partially filled.
    o = a.place(**lim("BTCUSDT", "buy", "50050.00", "0.5", client_id="a1"))
    lg.order("a1", A, "BTCUSDT", "buy", "50050.00", "0.5", cid="a1", oid=o.get("order_id"))
    t1 = lg.fill("s1", "a1", "0.12345")
    t2 = lg.fill("s2", "a1", "0.2")
    check_model_order(o, lg, "a1", "A's crossing buy 0.5 @ 50050 (reply)")
    check_eq(o.get("status"), "partially_filled", "status of A's buy after matching")
    at = check_trades(a, [t1["a1"], t2["a1"]], "A's fills as taker")
    bt = check_trades(b, [t1["s1"], t2["s2"]], "B's fills as maker")
    check([x["id"] for x in at] == [x["id"] for x in bt] and at[0]["id"] != at[1]["id"],
          f"trade ids: maker and taker see the same ids, one per fill: A {at} B {bt}")
    wait_order(a, lg, "a1", "A's order after matching")
    for k in ("s1", "s2"):
        wait_order(b, lg, k, f"B's {k} filled")
    wants = [(a, wait_balance(a, lg, A, "USDT", "A paid and holds")),
             (a, wait_balance(a, lg, A, "BTC", "A received BTC minus the taker fee")),
             (b, wait_balance(b, lg, B, "USDT", "B received USDT minus the maker fee")),
             (b, wait_balance(b, lg, B, "BTC", "B's held BTC went"))]
    settle(*everyone)
    for s, w in wants:
        check_last_balance(s, w, "after A's crossing buy")
    check_last_order(a, lg, "a1", "after A's crossing buy")
    for k in ("s1", "s2"):
        check_last_order(b, lg, k, "after A's crossing buy")
    check_trades(a, [t1["a1"], t2["a1"]], "no extra @trade for A")
    check_trades(b, [t1["s1"], t2["s2"]], "no extra @trade for B")
    check(not c.events, f"C got pushes about A's and B's trade: {summary(c.events)}")
    balances_all("after A's crossing buy")
    ao = a.ok("orders", args={})
    check(len(ao) == 1, f"A's open orders: {ao}")
    check_model_order(ao[0], lg, "a1", "A's open order in orders")
    bo = b.ok("orders", args={"market": "BTCUSDT"})
    check(len(bo) == 1, f"B's open orders: {bo}")
    check_model_order(bo[0], lg, "s3", "B's remaining sell in orders")
    begin()

    # 4. C queues two buys: behind A at 50050, and at 50040.
    for key, price in (("c1", "50050"), ("c2", "50040")):
        o = c.place(**lim("BTCUSDT", "buy", price, "0.1", client_id=key))
        lg.order(key, C, "BTCUSDT", "buy", price, "0.1", cid=key)
        check_model_order(o, lg, key, f"C places {key}")
    w = wait_balance(c, lg, C, "USDT", "C's two holds")
    settle(*everyone)
    check_last_balance(c, w, "C's two holds")
    begin()

    # 5. A lowers its quantity: keeps its place ahead of C at 50050.
    r = a.ok("order.amend", args={"market": "BTCUSDT", "order_id": lg.orders["a1"]["oid"], "qty": "0.4"})
    lg.amend("a1", qty="0.4")
    check_model_order(r, lg, "a1", "A amends qty 0.5 -> 0.4")
    wait_order(a, lg, "a1", "A's amend")
    w = wait_balance(a, lg, A, "USDT", "the smaller hold")
    settle(*everyone)
    check_last_balance(a, w, "A's qty amend")
    check_last_order(a, lg, "a1", "A's qty amend")
    begin()

    # 6. B sells 0.01 at 50050: A's order, still first, takes it.
    o = b.place(**lim("BTCUSDT", "sell", "50050", "0.01", client_id="s4"))
    lg.order("s4", B, "BTCUSDT", "sell", "50050", "0.01", cid="s4", oid=o.get("order_id"))
    t = lg.fill("a1", "s4", "0.01")
    check_model_order(o, lg, "s4", "B's sell 0.01 @ 50050 (taker)")
    at = check_trades(a, [t["a1"]], "A's fill as maker (priority kept)")
    bt = check_trades(b, [t["s4"]], "B's fill as taker")
    check_eq(at[0]["id"], bt[0]["id"], "trade id seen by maker and taker")
    wait_order(a, lg, "a1", "A's order after the maker fill")
    wants = [(a, wait_balance(a, lg, A, "BTC", "A's maker fee in BTC")),
             (b, wait_balance(b, lg, B, "USDT", "B's taker fee in USDT"))]
    settle(*everyone)
    for s, w in wants:
        check_last_balance(s, w, "after B's small sell")
    check(not c.events, f"C must not trade: A was first at 50050 ({summary(c.events)})")
    balances_all("after B's small sell")
    begin()

    # 7. A moves its price to 50040: it re-queues behind C's c2.
    r = a.ok("order.amend", args={"market": "BTCUSDT", "client_id": "a1", "price": "50040"})
    lg.amend("a1", price="50040")
    check_model_order(r, lg, "a1", "A amends price 50050 -> 50040")
    w = wait_balance(a, lg, A, "USDT", "the hold at the lower price")
    wait_order(a, lg, "a1", "A's price amend")
    settle(*everyone)
    check_last_balance(a, w, "A's price amend")
    check(not a.of("@trade"), f"a non-crossing amend must not trade: {a.of('@trade')}")
    begin()

    # 8. B sells 0.11 at 50040: C's c1 (50050) then C's c2 (ahead of A at 50040).
    o = b.place(**lim("BTCUSDT", "sell", "50040", "0.11", client_id="s5"))
    lg.order("s5", B, "BTCUSDT", "sell", "50040", "0.11", cid="s5", oid=o.get("order_id"))
    ta = lg.fill("c1", "s5", "0.1")
    tb = lg.fill("c2", "s5", "0.01")
    check_model_order(o, lg, "s5", "B's sell 0.11 @ 50040 (taker over two levels)")
    check_trades(c, [ta["c1"], tb["c2"]], "C's fills as maker")
    check_trades(b, [ta["s5"], tb["s5"]], "B's fills as taker")
    wants = [(c, wait_balance(c, lg, C, "USDT", "C paid")),
             (c, wait_balance(c, lg, C, "BTC", "C received BTC")),
             (b, wait_balance(b, lg, B, "USDT", "B received USDT"))]
    settle(*everyone)
    for s, w in wants:
        check_last_balance(s, w, "after B's sell at 50040")
    check(not a.events, f"A re-queued behind C at 50040 and must not trade: {summary(a.events)}")
    for k in ("c1", "c2"):
        check_last_order(c, lg, k, "after B's sell at 50040")
    balances_all("after B's sell at 50040")
    begin()

    # 9. A cancels; C cancels everything; B cancels by client_id.
    r = a.ok("order.cancel", args={"market": "BTCUSDT", "order_id": lg.orders["a1"]["oid"]})
    lg.close("a1")
    check_model_order(r, lg, "a1", "A cancels its partially filled order", status="cancelled")
    check_eq(c.ok("order.cancel_all", args={}), {"cancelled": 1}, "C's cancel_all")
    lg.close("c2")
    r = b.ok("order.cancel", args={"market": "BTCUSDT", "client_id": "s3"})
    lg.close("s3")
    check_model_order(r, lg, "s3", "B cancels s3 by client_id", status="cancelled")
    wait_order(a, lg, "a1", "A's cancel", status="cancelled")
    wait_order(c, lg, "c2", "C's cancel_all", status="cancelled")
    wait_order(b, lg, "s3", "B's cancel", status="cancelled")
    wants = [(a, wait_balance(a, lg, A, "USDT", "A's hold released")),
             (c, wait_balance(c, lg, C, "USDT", "C's hold released")),
             (b, wait_balance(b, lg, B, "BTC", "B's hold released"))]
    settle(*everyone)
    for s, w in wants:
        check_last_balance(s, w, "after the cancels")
    check(not any(s.of("@trade") for s in everyone), "cancels must not trade")

    # 10. Final state: no open orders, balances as modelled, fees on uid 1, conservation.
    for s in everyone:
        check_eq(s.ok("orders", args={}), [], f"{s.name}: open orders at the end")
    balances_all("final")
    fees = admin_balances(srv, FEE_UID)
    check_balance_map(fees, lg.balances(FEE_UID), "fee account (uid 1) via /admin/balances")
    for s in everyone:
        check_balance_map(admin_balances(srv, s.uid), lg.balances(s.uid),
                          f"/admin/balances of uid {s.uid}")
    totals = collections.Counter()
    for uid in (A, B, C, FEE_UID):
        for asset, bal in admin_balances(srv, uid).items():
            totals[asset] += dec_units(bal["available"], 8) + dec_units(bal["hold"], 8)
    check_eq({k: v for k, v in totals.items() if v}, {k: v for k, v in lg.deposits.items() if v},
             "conservation: the sum over users and the fee account equals the deposits")


# =======================================================================================
# Group halt


def test_halt_resume(srv):
    uid = 9101
    deposit(srv, uid, "USDT", "10000")
    s = user(srv, uid, "halt", channels=("@order",))
    o1 = s.place(**lim("BTCUSDT", "buy", "100", "0.1"))
    o2 = s.place(**lim("BTCUSDT", "buy", "101", "0.1"))
    check_eq(admin_ok(srv, "POST", "/admin/markets/BTCUSDT/halt"), True, "halt BTCUSDT")
    s.err("order.place", 4008, args=lim("BTCUSDT", "buy", "100", "0.1"))
    s.err("order.place", 4008, args={"market": "btcusdt", "side": "sell", "type": "market",
                                     "qty": "0.1"})
    s.err("order.amend", 4008, args={"market": "BTCUSDT", "order_id": o1["order_id"], "qty": "0.05"})
    eo = s.place(**lim("ETHUSDT", "buy", "100", "0.1"))  # another market trades on
    check_order(eo, {"status": "new", "market": "ETHUSDT"}, "ETHUSDT place while BTCUSDT is halted")
    c = s.ok("order.cancel", args={"market": "BTCUSDT", "order_id": o1["order_id"]})
    check_order(c, {"status": "cancelled", "order_id": o1["order_id"]}, "cancel on a halted market")
    check_eq(s.ok("order.cancel_all", args={"market": "BTCUSDT"}), {"cancelled": 1},
             "cancel_all on a halted market")
    ords = s.ok("orders", args={})
    check_eq([x.get("order_id") for x in ords], [eo["order_id"]], "open orders after the cancels")
    admin_err(srv, "POST", "/admin/markets/NOPE/halt", None, is_4xx, 4001)
    check_eq(admin_ok(srv, "POST", "/admin/markets/BTCUSDT/resume"), True, "resume BTCUSDT")
    o3 = s.place(**lim("BTCUSDT", "buy", "100", "0.1"))
    check_order(o3, {"status": "new"}, "place after resume")
    r = s.ok("order.amend", args={"market": "BTCUSDT", "order_id": o3["order_id"], "qty": "0.05"})
    check_order(r, {"qty": "0.05"}, "amend after resume")
    check(o2["order_id"] not in [x.get("order_id") for x in s.ok("orders", args={})],
          "cancel_all during the halt stuck")
    s.ok("order.cancel_all", args={})


# =======================================================================================
# Group admin


def test_admin_deposit_withdraw_balances(srv):
    uid = 9201
    r = admin_ok(srv, "POST", "/admin/deposit", {"uid": uid, "asset": "USDT", "amount": "1000"})
    check_eq(r, {"asset": "USDT", "available": "1000", "hold": "0"}, "first deposit")
    r = admin_ok(srv, "POST", "/admin/deposit", {"uid": uid, "asset": "usdt", "amount": "0.50"})
    check_eq(r, {"asset": "USDT", "available": "1000.5", "hold": "0"}, "second deposit, lower-case asset")
    r = admin_ok(srv, "POST", "/admin/deposit", {"uid": uid, "asset": "BTC", "amount": "0.00000001"})
    check_eq(r, {"asset": "BTC", "available": "0.00000001", "hold": "0"}, "one satoshi")
    r = admin_ok(srv, "POST", "/admin/withdraw", {"uid": uid, "asset": "USDT", "amount": "0.25"})
    check_eq(r, {"asset": "USDT", "available": "1000.25", "hold": "0"}, "withdraw")
    j = admin_err(srv, "POST", "/admin/withdraw", {"uid": uid, "asset": "USDT", "amount": "1000.26"},
                  400, 4004)
    check("result" not in j, f"an error body has no result: {j}")
    admin_err(srv, "POST", "/admin/withdraw", {"uid": uid + 50, "asset": "USDT", "amount": "1"},
              400, 4004)
    check_balance_map(admin_balances(srv, uid), {"USDT": (dec_units("1000.25", 8), 0),
                                                 "BTC": (1, 0)}, "balances after the refusals")
    # Bad input: 1003; bad JSON: 1001.
    for body in ({"uid": uid, "asset": "DOGE", "amount": "1"},
                 {"uid": uid, "asset": "USDT", "amount": "0"},
                 {"uid": uid, "asset": "USDT", "amount": "-1"},
                 {"uid": uid, "asset": "USDT", "amount": "1.000000001"},
                 {"uid": uid, "asset": "USDT", "amount": "abc"},
                 {"uid": uid, "asset": "USDT", "amount": ""},
                 {"uid": uid, "asset": "USDT", "amount": 100},
                 {"uid": uid, "asset": "USDT", "amount": "100000000000"},  # beyond int64 units
                 {"uid": uid, "asset": "USDT"},
                 {"asset": "USDT", "amount": "1"},
                 {"uid": 0, "asset": "USDT", "amount": "1"},
                 {"uid": "x", "asset": "USDT", "amount": "1"}):
        for path in ("/admin/deposit", "/admin/withdraw"):
            admin_err(srv, "POST", path, body, 400, 1003)
    admin_err(srv, "POST", "/admin/deposit", None, 400, 1001, raw=b'{"uid":1,')
    check_balance_map(admin_balances(srv, uid), {"USDT": (dec_units("1000.25", 8), 0),
                                                 "BTC": (1, 0)}, "balances after bad requests")
    check_balance_map(admin_balances(srv, uid + 1), {}, "balances of a user with nothing")
    admin_err(srv, "GET", "/admin/balances", None, 400, 1003)
    admin_err(srv, "GET", "/admin/balances?uid=abc", None, 400, 1003)
    check_eq(admin(srv, "GET", "/admin/nope").status, 404, "unknown admin path")
    # Withdraw counts the available balance only, not what orders hold.
    s = user(srv, uid, "held", channels=("@balance",))
    o = s.place(**lim("BTCUSDT", "buy", "50000", "0.01"))  # holds 500 USDT
    admin_err(srv, "POST", "/admin/withdraw", {"uid": uid, "asset": "USDT", "amount": "600"}, 400, 4004)
    r = admin_ok(srv, "POST", "/admin/withdraw", {"uid": uid, "asset": "USDT", "amount": "500.25"})
    want = {"asset": "USDT", "available": "0", "hold": "500"}
    s.wait_event(lambda e: e.get("event") == "@balance" and e["data"] == want,
                 f"@balance {want} after the withdrawal")
    check_eq(r, want, "withdraw all that is available")
    s.ok("order.cancel", args={"market": "BTCUSDT", "order_id": o["order_id"]})
    check_balance_map(s.ok("balances"), {"USDT": (dec_units("500", 8), 0), "BTC": (1, 0)},
                      "balances after the cancel")


def test_admin_not_on_public_port(srv):
    uid = 9210
    body = jdump({"uid": uid, "asset": "USDT", "amount": "1000"}).encode()
    for path in ("/admin/deposit", "/admin/markets/BTCUSDT/halt", "/admin/apikeys"):
        resp = h.http_request(srv.port, "POST", path,
                              [("Host", "x"), ("Content-Type", "application/json")], body)
        check(resp.status >= 400, f"POST {path} on the public port must not be served: {resp!r}")
    resp = h.http_request(srv.port, "GET", f"/admin/balances?uid={uid}")
    check(resp.status >= 400, f"GET /admin/balances on the public port: {resp!r}")
    check_balance_map(admin_balances(srv, uid), {}, "no deposit went through the public port")
    s = user(srv, uid, "pub")
    deposit(srv, uid, "USDT", "100")
    s.place(**lim("BTCUSDT", "buy", "100", "0.1"))  # BTCUSDT was not halted
    s.ok("order.cancel_all", args={})


# =======================================================================================
# Group admin_token


def test_admin_token_required(srv):
    body = {"uid": 9301, "asset": "USDT", "amount": "10"}
    for tok in (None, "Bearer wrong-token-wrong-token-wrong-token-xx", "Bearer " + ADMIN_TOKEN[:-1],
                "Bearer " + ADMIN_TOKEN + "x", ADMIN_TOKEN, "Basic " + ADMIN_TOKEN, "Bearer ",
                "Bearer " + ADMIN_TOKEN.upper()):
        for method, path, b in (("POST", "/admin/deposit", body), ("GET", "/admin/balances?uid=9301", None),
                                ("POST", "/admin/apikeys", {"uid": 9301, "label": "x",
                                                            "permissions": ["read"]}),
                                ("POST", "/admin/markets/BTCUSDT/halt", None),
                                ("POST", "/v1/publish", {"channel": "9301@account", "data": {}})):
            resp = admin(srv, method, path, b, token=tok)
            check(resp.status == 401, f"admin {method} {path} with Authorization {tok!r}: "
                  f"expected 401, got {resp!r}")
            h.check_json_error_body(resp, 401)
    good = "Bearer " + ADMIN_TOKEN
    admin_ok(srv, "POST", "/admin/deposit", body, token=good)
    r = admin_ok(srv, "GET", "/admin/balances?uid=9301", token=good)
    check_balance_map(r, {"USDT": (dec_units("10", 8), 0)}, "balances with the token (one deposit)")
    s = user(srv, 9301, "tok")
    s.place(**lim("BTCUSDT", "buy", "100", "0.05"))  # the refused halt did not halt
    s.ok("order.cancel_all", args={})


def test_admin_refuses_short_token():
    """No server group: bourse must refuse to start with an admin token under 32
    characters (or none) unless allow_no_token on a loopback bind."""
    check(h.BIN_DIR, "BOURSE_BIN_DIR is not set (run under ctest)")
    conf = os.path.join(h.SOURCE_DIR, "conf", "bourse.conf")
    cases = [
        {"BOURSE_ADMIN_TOKEN": "short-token", "BOURSE_ADMIN_ALLOW_NO_TOKEN": "0"},
        {"BOURSE_ADMIN_TOKEN": "", "BOURSE_ADMIN_ALLOW_NO_TOKEN": "0"},
        {"BOURSE_ADMIN_TOKEN": "", "BOURSE_ADMIN_ALLOW_NO_TOKEN": "1", "BOURSE_ADMIN_BIND": "0.0.0.0"},
    ]
    tmp = tempfile.mkdtemp(prefix="bourse-proto-admin-")
    try:
        for i, extra in enumerate(cases):
            env = dict(os.environ)
            env.update({"BOURSE_NET_BIND": "127.0.0.1", "BOURSE_NET_PORT": str(h.free_port()),
                        "BOURSE_ADMIN_PORT": str(h.free_port()),
                        "BOURSE_LOG_FILE": os.path.join(tmp, f"log{i}"),
                        "BOURSE_SERVER_DATA_DIR": os.path.join(tmp, f"data{i}")})
            env.update(extra)
            p = subprocess.Popen([os.path.join(h.BIN_DIR, "bourse"), "--config", conf],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, env=env)
            try:
                _, err = p.communicate(timeout=8)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                fail(f"bourse started (ran 8 s) with {extra}; it must refuse")
            check(p.returncode != 0, f"bourse with {extra} exited with status 0; it must refuse")
            log = ""
            try:
                with open(os.path.join(tmp, f"log{i}"), encoding="utf-8", errors="replace") as f:
                    log = f.read()
            except OSError:
                pass
            text = (err.decode("utf-8", "replace") + log).lower()
            check("token" in text or "admin" in text,
                  f"bourse with {extra} refused without naming the admin token: {text[-400:]!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# =======================================================================================


def main():
    r = h.Runner("protocol")
    env = dict(BASE_ENV)
    r.group("auth", [
        test_unauthenticated_ops_need_auth, test_jwt_valid, test_jwt_expired, test_jwt_wrong_alg,
        test_jwt_alg_none, test_jwt_tampered, test_jwt_bad_uid, test_jwt_upgrade_header,
        test_apikey_login, test_apikey_bad_signature, test_apikey_stale_ts,
        test_apikey_permissions, test_apikey_ip_allow_list, test_apikey_ws_management,
        test_apikey_totp, test_admin_apikeys_errors,
    ], env=env)
    rs_tests = [test_rs256_valid, test_hs_rs_confusion]
    if any(r.selected(t) for t in rs_tests):
        _priv, pub = rsa_keys()["a"]
        r.group("rs256", rs_tests, env={
            "BOURSE_LIMITS_REQUESTS_PER_S": "1000000", "BOURSE_LIMITS_BURST": "1000000",
            "BOURSE_AUTH_JWT_ALGS": "RS256", "BOURSE_AUTH_JWT_PUBLIC_KEY": pub})
    r.group("orders", [
        test_subscribe_ops, test_place_resting_and_holds, test_place_validation_errors,
        test_place_tif_and_market, test_cancel_paths, test_cancel_all_paths, test_amend_paths,
        test_duplicate_client_id,
    ], env=env)
    r.group("limits", [test_max_open_orders, test_max_subscriptions],
            env=dict(env, BOURSE_LIMITS_MAX_OPEN_ORDERS="3", BOURSE_LIMITS_MAX_SUBSCRIPTIONS="2"))
    r.group("isolation", [test_private_isolation, test_publish_account_routing], env=env)
    r.group("session", [test_full_session],
            env=dict(env, BOURSE_MARKET_BTCUSDT_TAKER_FEE=str(SESSION_TAKER_FEE)))
    r.group("halt", [test_halt_resume], env=env)
    r.group("admin", [test_admin_deposit_withdraw_balances, test_admin_not_on_public_port], env=env)
    r.group("admin_token", [test_admin_token_required],
            env=dict(env, BOURSE_ADMIN_TOKEN=ADMIN_TOKEN, BOURSE_ADMIN_ALLOW_NO_TOKEN="0"))
    r.run(test_admin_refuses_short_token)
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
