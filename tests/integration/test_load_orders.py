#!/usr/bin/python3
"""bourse-load -s orders against the real server: authenticated users placing, amending
and cancelling limit orders, funded through the admin API by the tool itself.

Checks, from the tool's --json report: every connection logged in (JWT minted by the
tool), acks > 0, no error reply but the expected races (4006 to a cancel or amend of an
order that has just filled; 4003 to an amend lowering the qty of an order an unseen fill
has already taken below it), fills seen on @trade when orders cross, latency percentiles
ordered; open loop and flat out. Then, from the admin API, that money is conserved: per
asset, the balances (available + hold) of every uid the tool used plus the fee account
(uid 1) add up to exactly what was deposited. Also: a wrong JWT secret (every connection
fails its set-up, with the server's 3001 in the report), deposits too small (4004 counted
as unexpected, exit status 1), a wrong admin token, an admin port that refuses, usage
errors, and the asset a deposit reply shows.
"""
import json
import os
import socket
import subprocess
import sys
import threading
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402

SECRET = "load-orders-test-secret-0123456789abcdef"
ADMIN_TOKEN = "admin-token-for-the-load-orders-test-0123456789"
ENV = {
    "BOURSE_AUTH_JWT_SECRET": SECRET,
    "BOURSE_ADMIN_TOKEN": ADMIN_TOKEN,
    "BOURSE_LIMITS_REQUESTS_PER_S": 1000000,
    "BOURSE_LIMITS_BURST": 1000000,
    "BOURSE_LIMITS_MAX_OPEN_ORDERS": 1000000,
}
DEPOSIT = {"USDT": Decimal("10000000"), "BTC": Decimal("1000")}
DEPOSIT_ARG = ",".join(f"{a}={v}" for a, v in DEPOSIT.items())
EXPECTED_CODES = {("cancel", 4006), ("amend", 4006), ("amend", 4003)}
FEE_UID = 1

# uid ranges the runs used, and the deposits made for them: {uid: {asset: Decimal}}
deposited = {}


def load(args, timeout=60):
    binary = os.path.join(h.BIN_DIR, "bourse-load")
    return subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout)


def orders_args(srv, uid_base, connections, extra, deposit=DEPOSIT_ARG):
    args = ["-s", "orders", "-c", str(connections), "-t", "2", "--jwt-secret", SECRET,
            "--uid-base", str(uid_base), "--market", "BTCUSDT", "--mid", "50000",
            "--tick", "0.01", "--lot", "0.00001", "--qty", "0.001", "--spread-ticks", "50",
            "--cross-pct", "20", "--cancel-pct", "30", "--amend-pct", "30", "--json"]
    if deposit is not None:
        args += ["--admin-url", f"http://127.0.0.1:{srv.admin_port}", "--admin-token",
                 ADMIN_TOKEN, "--deposit", deposit]
    return args + extra + [f"ws://127.0.0.1:{srv.port}/ws"]


def run_json(args, what):
    r = load(args)
    j = h.load_report(r.stdout, r.stderr, r.returncode, what)
    o = j["orders"]
    print(f"   {what}: status {r.returncode}, acks {o['acks']} ({o['acks_per_s']:.0f}/s), "
          f"p50 {j['latency_us']['p50']:.0f} us, p99 {j['latency_us']['p99']:.0f} us, "
          f"fills {o['fills']['seen']}, error codes {o['error_codes']}", flush=True)
    return r, j


def note_deposits(uid_base, connections, amounts):
    for uid in range(uid_base, uid_base + connections):
        have = deposited.setdefault(uid, {})
        for asset, amount in amounts.items():
            have[asset] = have.get(asset, Decimal(0)) + amount


def ordered(lat):
    return lat["count"] > 0 and 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] \
        <= lat["p99_9"] <= lat["max"]


def check_run(r, j, what, connections):
    o = j["orders"]
    h.check(j["connections"]["opened"] == connections,
            f"{what}: all {connections} connections logged in: {j['connections']}, "
            f"set-up error {j['setup_error']!r}")
    h.check(o["acks"] > 0 and o["acks"] == j["requests"]["replies"],
            f"{what}: acks > 0 and each reply is an ack: {o['acks']} vs {j['requests']}")
    h.check(o["acks"] == o["acks_ok"] + o["acks_error"], f"{what}: acks = ok + error")
    for op in ("place", "cancel", "amend"):
        h.check(o[op]["sent"] > 0 and o[op]["acked"] > 0, f"{what}: some {op} acked: {o[op]}")
        h.check(ordered(o[op]["latency_us"]), f"{what}: {op} percentiles ordered: {o[op]}")
    unexpected = [e for e in o["error_codes"] if (e["op"], e["code"]) not in EXPECTED_CODES]
    h.check(not unexpected, f"{what}: only expected error replies, got {unexpected}")
    h.check(o["unexpected_errors"] == 0 and o["error_codes_other"] == 0,
            f"{what}: no unexpected error reply: {o['unexpected_errors']}")
    for e in o["error_codes"]:
        h.check(e["expected"], f"{what}: {e} is flagged expected")
    h.check(o["fills"]["seen"] > 0, f"{what}: fills seen on @trade with --cross-pct 20: {o}")
    h.check(o["fills"]["maker"] + o["fills"]["taker"] == o["fills"]["seen"],
            f"{what}: every fill is maker or taker")
    h.check(o["crossing"] > 0, f"{what}: some orders priced through the mid")
    h.check(ordered(j["latency_us"]), f"{what}: percentiles ordered: {j['latency_us']}")
    h.check(j["errors"]["total"] == 0, f"{what}: no errors: {j['errors']}")
    h.check(r.returncode == 0, f"{what}: exit status 0, got {r.returncode}: {r.stderr!r}")
    h.check(o["deposits"]["requests"] == connections * len(DEPOSIT),
            f"{what}: one deposit per uid and asset: {o['deposits']}")


def test_open_loop(srv):
    args = orders_args(srv, 1000, 20, ["-d", "2", "-w", "0.5", "--rate", "3000"])
    r, j = run_json(args, "open loop 3000/s")
    note_deposits(1000, 20, DEPOSIT)
    check_run(r, j, "open loop", 20)
    sent = j["requests"]["sent_in_window"]
    h.check(abs(sent - 6000) <= 600, f"open loop: about 3000/s x 2 s sent: {sent}")


def test_flat_out(srv):
    args = orders_args(srv, 2000, 8, ["-d", "2", "-w", "0.5", "-k", "4"])
    r, j = run_json(args, "flat out, 4 in flight")
    note_deposits(2000, 8, DEPOSIT)
    check_run(r, j, "flat out", 8)
    h.check(j["options"]["rate"] == 0, "flat out: rate 0 in the report")


def test_too_small_deposits(srv):
    # 30 USDT and 0.0001 BTC: less than one 0.001 BTC order at 50000 on either side
    small = {"USDT": Decimal("30"), "BTC": Decimal("0.0001")}
    args = orders_args(srv, 3000, 2, ["-d", "0.5", "-w", "0", "--rate", "200"],
                       deposit="USDT=30,BTC=0.0001")
    r, j = run_json(args, "deposits too small")
    note_deposits(3000, 2, small)
    o = j["orders"]
    codes = {(e["op"], e["code"]): e for e in o["error_codes"]}
    h.check(("place", 4004) in codes and not codes[("place", 4004)]["expected"],
            f"too small deposits: 4004 on place counted as unexpected: {o['error_codes']}")
    h.check(o["unexpected_errors"] > 0 and j["errors"]["error_reply"] > 0,
            "too small deposits: unexpected errors counted")
    h.check(r.returncode == 1, f"too small deposits: exit status 1, got {r.returncode}")
    table = load([a for a in args if a != "--json"])
    h.check("!!" in table.stdout and "4004" in table.stdout and "raise --deposit" in table.stdout,
            f"too small deposits: the table says so prominently:\n{table.stdout}")
    note_deposits(3000, 2, small)  # the table run deposited again


def test_wrong_secret(srv):
    args = orders_args(srv, 4000, 3, ["-d", "0.3", "-w", "0"], deposit=None)
    args[args.index(SECRET)] = "not-the-secret-of-this-server-0123456789"
    r, j = run_json(args, "wrong JWT secret")
    h.check(j["connections"]["opened"] == 0 and j["connections"]["failures"]["setup"] == 3,
            f"wrong secret: 3 set-up failures: {j['connections']}")
    h.check("3001" in (j["setup_error"] or ""), f"wrong secret: 3001 in {j['setup_error']!r}")
    h.check(r.returncode == 1, f"wrong secret: exit status 1, got {r.returncode}")


def test_admin_failures(srv):
    args = orders_args(srv, 5000, 2, ["-d", "0.3", "-w", "0"])
    args[args.index(ADMIN_TOKEN)] = "wrong-admin-token-0123456789abcdef"
    r = load(args)
    h.check(r.returncode == 1 and "deposits failed" in r.stderr and "401" in r.stderr,
            f"wrong admin token: status 1 and HTTP 401 on stderr: {r.returncode} {r.stderr!r}")
    port = h.free_port()
    args = orders_args(srv, 5000, 2, ["-d", "0.3", "-w", "0"])
    args[args.index(f"http://127.0.0.1:{srv.admin_port}")] = f"http://127.0.0.1:{port}"
    r = load(args)
    h.check(r.returncode == 1 and "cannot connect" in r.stderr,
            f"admin port refusing: status 1, says why: {r.returncode} {r.stderr!r}")


def test_deposit_reply_asset(srv):
    body = json.dumps({"uid": 6000, "asset": "USDT", "amount": "12.5"}).encode()
    resp = h.http_request(srv.admin_port, "POST", "/admin/deposit", body=body, headers=[
        ("Host", "x"), ("Authorization", f"Bearer {ADMIN_TOKEN}"),
        ("Content-Type", "application/json")])
    h.check_eq(resp.status, 200, "deposit status")
    h.check_eq(resp.json()["result"], {"asset": "USDT", "available": "12.5", "hold": "0"},
               "deposit reply: the balance of the asset deposited")
    note_deposits(6000, 1, {"USDT": Decimal("12.5")})


def balances(srv, uid):
    resp = h.http_request(srv.admin_port, "GET", f"/admin/balances?uid={uid}", headers=[
        ("Host", "x"), ("Authorization", f"Bearer {ADMIN_TOKEN}")])
    h.check_eq(resp.status, 200, f"GET /admin/balances?uid={uid}")
    return resp.json()["result"]


def test_money_conserved(srv):
    h.check(len(deposited) > 0, "the runs before deposited something")
    totals, expected = {}, {}
    for uid in list(deposited) + [FEE_UID]:
        for asset, b in balances(srv, uid).items():
            totals[asset] = totals.get(asset, Decimal(0)) + Decimal(b["available"]) + \
                Decimal(b["hold"])
    for amounts in deposited.values():
        for asset, amount in amounts.items():
            expected[asset] = expected.get(asset, Decimal(0)) + amount
    fees = balances(srv, FEE_UID)
    print(f"   deposited {expected}, held now {totals}, fee account {fees}", flush=True)
    for asset in set(totals) | set(expected):
        h.check_eq(totals.get(asset, Decimal(0)), expected.get(asset, Decimal(0)),
                   f"{asset}: balances of every uid used + fee account = deposits")
    h.check(any(Decimal(b["available"]) > 0 for b in fees.values()),
            f"trades happened, so the fee account holds fees: {fees}")


def mute_peer(listener):
    """Accepts WebSocket upgrades, then reads and never answers: set-up that never ends."""
    conns = []
    while True:
        try:
            c, _ = listener.accept()
        except OSError:
            break
        head = b""
        while b"\r\n\r\n" not in head:
            data = c.recv(4096)
            if not data:
                break
            head += data
        key = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:")]
        if key:
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                      h.ws_accept(key[0].decode()).encode() + b"\r\n\r\n")
        conns.append(c)  # kept open, never read again


def test_setup_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    threading.Thread(target=mute_peer, args=(listener,), daemon=True).start()
    try:
        r = load(["-s", "orders", "-c", "3", "-t", "1", "--jwt-secret", SECRET,
                  "--connect-timeout", "0.5", "-d", "0.2", "-w", "0", "--json",
                  f"ws://127.0.0.1:{port}/ws"])
        j = json.loads(r.stdout)
    finally:
        listener.close()
    h.check(j["connections"]["failures"]["timeout"] == 3 and j["connections"]["opened"] == 0,
            f"set-up never answered: 3 timeouts: {j['connections']}")
    h.check("set-up not answered" in (j["setup_error"] or ""),
            f"set-up never answered: said so: {j['setup_error']!r}")
    h.check(r.returncode == 1, f"set-up never answered: exit status 1, got {r.returncode}")


def test_usage_errors():
    url = "ws://127.0.0.1:1/ws"
    for args, what in [
        (["-s", "orders", url], "orders without --jwt-secret"),
        (["-s", "orders", "--jwt-secret", SECRET, "--mid", "50000.005", url],
         "--mid off the tick"),
        (["-s", "orders", "--jwt-secret", SECRET, "--qty", "0.000015", url], "--qty off the lot"),
        (["-s", "orders", "--jwt-secret", SECRET, "--deposit", "USDT=1", url],
         "--deposit without --admin-url"),
        (["-s", "orders", "--jwt-secret", SECRET, "--admin-url", "ftp://x", url],
         "bad --admin-url"),
        (["-s", "orders", "--jwt-secret", SECRET, "--admin-url", "http://127.0.0.1:1",
          "--deposit", "USDT", url], "bad --deposit"),
        (["-s", "orders", "--jwt-secret", SECRET, "--cancel-pct", "60", "--amend-pct", "50",
          url], "cancel + amend over 100 %"),
        (["-s", "orders", "--jwt-secret", SECRET, "--mid", "0.4", url], "mid below the spread"),
        (["-s", "ping", "--jwt-secret", SECRET, url], "--jwt-secret with ping"),
        (["-s", "orders", "--jwt-secret", SECRET, "-m", "x", url], "--message with orders"),
    ]:
        r = load(args)
        h.check(r.returncode == 2 and "bourse-load" in r.stderr,
                f"usage error for {what}: status {r.returncode}, {r.stderr!r}")


def main():
    runner = h.Runner("load_orders")
    runner.run(test_usage_errors)
    runner.run(test_setup_timeout)
    runner.group("orders", [test_open_loop, test_flat_out, test_too_small_deposits,
                            test_wrong_secret, test_admin_failures, test_deposit_reply_asset,
                            test_money_conserved], env=ENV)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
