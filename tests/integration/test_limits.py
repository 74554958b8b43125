#!/usr/bin/python3
"""Abuse limits against the real server: per-connection request rate (error 5001,
then 1008 for sustained abuse), per-IP open connections and connect rate (429),
and the loopback exemption."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402

runner = h.Runner("limits")


def ping(ws, i):
    ws.send_text('{"op":"ping","id":%d}' % i)


def test_request_rate(srv):
    ws = h.WSClient.open(srv.port)
    for i in range(10):
        ping(ws, i)
    replies = [ws.recv_json() for _ in range(10)]
    pongs = [r for r in replies if r.get("op") == "pong"]
    limited = [r for r in replies if r.get("code") == 5001]
    h.check(len(pongs) == 5, f"burst of 5 answered, then limited: {replies}")
    h.check(len(limited) == 5 and all("id" in r for r in limited),
            f"5001 replies echo the id: {limited}")
    time.sleep(0.45)  # 5/s refills about two tokens
    ping(ws, 100)
    r = ws.recv_json()
    h.check(r.get("op") == "pong" and r.get("id") == 100, f"tokens refill over time: {r}")
    ws.close_socket()


def test_huge_limits_do_not_wrap(srv):
    # burst x 1000 thousandths passes 2^32: the bucket must not wrap to a small number.
    ws = h.WSClient.open(srv.port)
    for i in range(2000):
        ping(ws, i)
    for i in range(2000):
        r = ws.recv_json()
        h.check(r.get("op") == "pong" and r.get("id") == i, f"ping {i} under a huge limit: {r}")
    ws.close_socket()


def test_sustained_abuse_closed(srv):
    ws = h.WSClient.open(srv.port)
    # 9 x rate x 10 = 450 refusals close the connection, even within one burst.
    for i in range(600):
        ping(ws, i)
    ws.expect_close(1008, timeout=5, allow_data=True, after="600 pings at a 5/s limit")


def health_ok(sock):
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(2)
    return sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_per_ip_connections(srv):
    time.sleep(0.3)  # let the server see the harness's readiness probe close
    held = []
    for i in range(3):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        h.check(health_ok(s), f"connection {i + 1} of 3 is served")
        held.append(s)
    extra = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
    extra.settimeout(2)
    data = extra.recv(4096)
    h.check(data.startswith(b"HTTP/1.1 429 "), f"the 4th connection gets 429: {data[:60]!r}")
    h.check(b'"code":429' in data, "429 has a JSON body")
    extra.close()
    for s in held:
        s.close()
    time.sleep(0.3)
    again = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
    h.check(health_ok(again), "after closing, the address may connect again")
    again.close()


def test_connect_rate(srv):
    refused = 0
    for _ in range(12):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(2)
        data = s.recv(4096)
        if data.startswith(b"HTTP/1.1 429"):
            refused += 1
        s.close()
    # connect_rate_per_ip=5: a bucket of 10, so about 2 of 12 quick connects are refused.
    h.check(1 <= refused <= 4, f"connect-rate limit refuses the excess: {refused} of 12")


def test_loopback_exempt_by_default(srv):
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=2) for _ in range(8)]
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(2)
    h.check(s.recv(4096).startswith(b"HTTP/1.1 200"), "loopback is exempt from per-IP limits")
    for c in held + [s]:
        c.close()


limited_env = {"BOURSE_LIMITS_REQUESTS_PER_S": "5", "BOURSE_LIMITS_BURST": "5"}
runner.group("rate", [test_request_rate, test_sustained_abuse_closed], env=limited_env)
runner.group("huge", [test_huge_limits_do_not_wrap],
             env={"BOURSE_LIMITS_REQUESTS_PER_S": "10000000", "BOURSE_LIMITS_BURST": "100000000"})
runner.group("per_ip", [test_per_ip_connections],
             env={"BOURSE_LIMITS_EXEMPT_IPS": "", "BOURSE_LIMITS_CONNECTIONS_PER_IP": "3",
                  "BOURSE_NET_IO_THREADS": "1"})
runner.group("connect_rate", [test_connect_rate],
             env={"BOURSE_LIMITS_EXEMPT_IPS": "", "BOURSE_NET_IO_THREADS": "1",
                  "BOURSE_LIMITS_CONNECT_RATE_PER_IP": "5"})
runner.group("exempt", [test_loopback_exempt_by_default],
             env={"BOURSE_LIMITS_CONNECTIONS_PER_IP": "3"})
sys.exit(runner.finish())
