#!/usr/bin/python3
"""POST /v1/publish across io threads: with two io threads, a user's sessions land on both
(SO_REUSEPORT spreads connections); a publication reaches every subscribed session exactly
once, whichever thread holds it, and the reply counts them all."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402
from test_protocol import SECRET, admin_ok, token  # noqa: E402

runner = h.Runner("publish")


def test_publish_reaches_every_thread(srv):
    uid = 4242
    sessions = []
    for i in range(12):
        ws = h.WSClient.open(srv.port)
        ws.send_text(json.dumps({"op": "auth", "id": 1, "token": token(uid)}))
        h.check(ws.recv_json().get("result") == {"uid": uid}, f"session {i} authenticated")
        ws.send_text(json.dumps({"op": "subscribe", "id": 2, "args": ["@account"]}))
        h.check(ws.recv_json().get("result") is True, f"session {i} subscribed")
        sessions.append(ws)
    other = h.WSClient.open(srv.port)  # another user, subscribed: must get nothing
    other.send_text(json.dumps({"op": "auth", "id": 1, "token": token(uid + 1)}))
    other.recv_json()
    other.send_text(json.dumps({"op": "subscribe", "id": 2, "args": ["@account"]}))
    other.recv_json()
    metrics = h.http_request(srv.port, "GET", "/metrics").body.decode()
    per_thread = [line for line in metrics.splitlines()
                  if line.startswith("bourse_connections{")]
    print("   " + "; ".join(per_thread))
    h.check(all(not line.endswith(" 0") for line in per_thread),
            f"connections landed on both io threads (else this tests one thread): {per_thread}")
    for n in range(3):
        result = admin_ok(srv, "POST", "/v1/publish",
                          {"channel": f"{uid}@account", "data": {"n": n, "equity": "1.5"}})
        got = []
        for i, ws in enumerate(sessions):
            msg = ws.recv_json()
            got.append(i)
            h.check(msg.get("event") == "@account" and msg.get("data") == {"n": n, "equity": "1.5"},
                    f"session {i} got publication {n}: {msg}")
        h.check(result == {"delivered": 12}, f"publication {n}: every session counted: {result}")
    frame = other.recv_frame(timeout=0.3, allow_timeout=True)
    h.check(frame is None, f"another user's session got nothing: {frame}")


def test_publish_public_channel(srv):
    subs = []
    for i in range(6):
        ws = h.WSClient.open(srv.port)
        ws.send_text(json.dumps({"op": "subscribe", "id": 1, "args": ["ETHBTC@trades"]}))
        h.check(ws.recv_json().get("result") is True, f"subscriber {i} subscribed")
        subs.append(ws)
    result = admin_ok(srv, "POST", "/v1/publish", {"c": "ETHBTC@trades", "d": [{"note": "hi"}]})
    h.check(result == {"delivered": 6}, f"public publication counted per subscriber: {result}")
    for i, ws in enumerate(subs):
        msg = ws.recv_json()
        h.check(msg.get("event") == "ETHBTC@trades" and msg.get("data") == [{"note": "hi"}],
                f"subscriber {i} got the public publication: {msg}")
    result = admin_ok(srv, "POST", "/v1/publish", {"channel": "BTCUSDT@ticker", "data": 1})
    h.check(result == {"delivered": 0}, f"a channel nobody follows: {result}")


runner.group("two_threads", [test_publish_reaches_every_thread, test_publish_public_channel],
             env={"BOURSE_NET_IO_THREADS": "2", "BOURSE_AUTH_JWT_SECRET": SECRET,
                  "BOURSE_LIMITS_REQUESTS_PER_S": "1000000", "BOURSE_LIMITS_BURST": "1000000"})
sys.exit(runner.finish())
