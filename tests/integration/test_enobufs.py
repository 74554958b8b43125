#!/usr/bin/python3
"""Receive-buffer exhaustion: with only 16 provided buffers of 512 bytes, 300 connections
that all send at once exhaust the buffer ring (-ENOBUFS). The server must re-arm and lose
nothing: every ping gets its pong, in order, and the condition is counted in /metrics."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402

runner = h.Runner("enobufs")
CONNECTIONS = 300
PINGS = 20


def test_no_message_lost(srv):
    clients = [h.WSClient.open(srv.port) for _ in range(CONNECTIONS)]
    for round_ in range(3):
        # Every connection writes PINGS pings in one burst, then everyone reads.
        for i, c in enumerate(clients):
            c.send_raw(b"".join(h.encode_frame(1, ('{"op":"ping","id":%d}' % (k + 1000 * i)).encode())
                                for k in range(PINGS)), note=f"{PINGS} pings")
        for i, c in enumerate(clients):
            for k in range(PINGS):
                r = c.recv_json(timeout=5)
                h.check(r.get("op") == "pong" and r.get("id") == k + 1000 * i,
                        f"round {round_}: connection {i} ping {k}: got {r}")
    metrics = h.http_request(srv.port, "GET", "/metrics").body.decode()
    enobufs = sum(int(v) for v in re.findall(r'^bourse_recv_enobufs_total\{[^}]*\} (\d+)$',
                                             metrics, re.M))
    print(f"   -ENOBUFS events counted: {enobufs}")
    h.check(enobufs > 0, "the burst exhausted the 16 buffers at least once (else this tests nothing)")
    for c in clients:
        c.close_socket()


runner.group("small_buffers", [test_no_message_lost],
             env={"BOURSE_NET_RECV_BUFFERS": "16", "BOURSE_NET_RECV_BUFFER_SIZE": "512",
                  "BOURSE_LIMITS_REQUESTS_PER_S": "1000000", "BOURSE_LIMITS_BURST": "1000000",
                  "BOURSE_NET_IO_THREADS": "1"})
sys.exit(runner.finish())
