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


def test_costly_ops_weigh_more(srv):
    # With a bucket of 5: "orders" takes 5 tokens (answered 2003: not authenticated), so the
    # ping right after it is over the limit, where five pings would not be.
    time.sleep(1.2)  # a full bucket
    ws = h.WSClient.open(srv.port)
    ws.send_text('{"op":"orders","id":1}')
    r = ws.recv_json()
    h.check(r.get("code") == 2003, f"orders without auth: 2003, got {r}")
    ping(ws, 2)
    r = ws.recv_json()
    h.check(r.get("code") == 5001 and r.get("id") == 2, f"a ping after a 5-token op: 5001, got {r}")
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


def test_open_file_limit_raised():
    """Started with a soft open-file limit of 256 (Debian's default is 1024), the server
    raises it to io_threads x max_connections + 256 (here 2 x 700 + 256; liburing's own
    raise when registering a thread's file table would give only 256 + 700), and holds
    1100 WebSockets."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * 700 + 256
    if hard != resource.RLIM_INFINITY and hard < want + 1200:
        h.check(False, f"this test needs a hard open-file limit of {want + 1200}: {hard}")
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        srv = h.Server(env={"BOURSE_NET_IO_THREADS": "2", "BOURSE_NET_MAX_CONNECTIONS": "700"},
                       name="nofile")
        srv.start()
    finally:  # the test's own 1100 clients need more than 256 too
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    try:
        with open(f"/proc/{srv.proc.pid}/limits") as f:
            line = next(x for x in f if x.startswith("Max open files"))
        server_soft = int(line.split()[3])
        h.check(server_soft >= want, f"soft limit raised to >= {want}: {line.strip()}")
        clients = [h.WSClient.open(srv.port) for _ in range(1100)]
        for c in (clients[0], clients[-1]):
            c.send_text('{"op":"ping","id":1}')
            r = c.recv_json()
            h.check(r.get("op") == "pong", f"the first and the 1100th connection are served: {r}")
        for c in clients:
            c.close_socket()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        srv.stop()


limited_env = {"BOURSE_LIMITS_REQUESTS_PER_S": "5", "BOURSE_LIMITS_BURST": "5"}
runner.group("rate", [test_request_rate, test_costly_ops_weigh_more, test_sustained_abuse_closed],
             env=limited_env)
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
runner.run(test_open_file_limit_raised)
sys.exit(runner.finish())
