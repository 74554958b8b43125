#!/usr/bin/python3
"""bourse-load against a small WebSocket peer written here (Python stdlib), run
as a child process: it sends the native welcome and one WebSocket ping per
connection, answers {"op":"ping","id":N} with pongs, echoes other text (as
three fragments with a ping in between when the text starts with "frag"),
and has paths that reject the upgrade, send a wrong accept key, never answer
the upgrade, close after a few messages, or echo every message twice (to
overflow the client buffer). Checks the --json output of every scenario,
usage errors (status 2), unreachable ports and SIGINT.

Run by ctest with BOURSE_BIN_DIR = the build directory. `test_load.py --serve`
runs only the peer (prints its port) for trying bourse-load by hand.
"""
import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# ------------------------------------------------------------------ the peer


def frame(opcode, payload, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def unmask(payload, mask):
    n = len(payload)
    if n == 0:
        return b""
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


class Peer(asyncio.Protocol):
    stats = {"connections": 0, "pings_sent": 0, "pongs_ok": 0, "unmasked": 0, "sources": set()}

    def connection_made(self, transport):
        self.t = transport
        self.buf = bytearray()
        self.open = False
        self.path = ""
        self.messages = 0
        self.frag = bytearray()
        Peer.stats["connections"] += 1
        Peer.stats["sources"].add(transport.get_extra_info("peername")[0])

    def handshake(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        self.path = lines[0].split(" ")[1]
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if self.path == "/silent":  # never answers the upgrade
            return False
        if self.path == "/reject" or headers.get("sec-websocket-version") != "13":
            self.t.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            self.t.close()
            return False
        key = headers.get("sec-websocket-key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        if self.path == "/badaccept":
            accept = base64.b64encode(hashlib.sha1(b"wrong" + GUID).digest())
        self.t.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        welcome = {"op": "welcome", "ts": int(time.time() * 1000), "session": "test",
                   "ping_interval": 20000, "ping_timeout": 60000, "version": "test"}
        self.t.write(frame(1, json.dumps(welcome, separators=(",", ":")).encode()) +
                     frame(9, b"hello"))
        if self.path != "/badaccept":  # that client never opens, so never answers
            Peer.stats["pings_sent"] += 1
        self.open = True
        return True

    def data_received(self, data):
        self.buf += data
        if not self.open and not self.handshake():
            return
        out = []
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, pos = b1 & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    break
                n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    break
                n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
            if not b1 & 0x80:
                Peer.stats["unmasked"] += 1
                self.t.close()
                return
            if len(self.buf) < pos + 4 + n:
                break
            mask = bytes(self.buf[pos:pos + 4])
            payload = unmask(bytes(self.buf[pos + 4:pos + 4 + n]), mask)
            del self.buf[:pos + 4 + n]
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode == 8:
                out.append(frame(8, payload[:2]))
                self.t.write(b"".join(out))
                self.t.close()
                return
            if opcode == 10:
                if payload == b"hello":
                    Peer.stats["pongs_ok"] += 1
                continue
            if opcode == 9:
                out.append(frame(10, payload))
                continue
            if opcode in (1, 2) or opcode == 0:
                self.frag += payload
                if not fin:
                    continue
                message, self.frag = bytes(self.frag), bytearray()
                self.on_message(message, out)
        if out:
            self.t.write(b"".join(out))

    def on_message(self, message, out):
        self.messages += 1
        if self.path == "/closeafter" and self.messages > 5:
            out.append(frame(8, struct.pack("!H", 1001) + b"going away"))
            return
        if self.path == "/double":
            message = message + message
        if message.startswith(b'{"op":"ping"'):
            req = json.loads(message)
            pong = {"op": "pong", "id": req["id"], "ts": int(time.time() * 1000)}
            out.append(frame(1, json.dumps(pong, separators=(",", ":")).encode()))
        elif message.startswith(b"frag"):
            third = len(message) // 3
            out.append(frame(1, message[:third], fin=False))
            out.append(frame(9, b"mid"))
            out.append(frame(0, message[third:2 * third], fin=False))
            out.append(frame(0, message[2 * third:]))
        else:
            out.append(frame(1, message))


def serve():
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Peer, "127.0.0.1", 0, backlog=4096, reuse_address=True)
        print(server.sockets[0].getsockname()[1], flush=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()
        s = dict(Peer.stats)
        s["sources"] = sorted(s["sources"])
        print(json.dumps(s), flush=True)

    asyncio.run(main())


# ----------------------------------------------------------------- the tests

failures = []
passed = 0


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


class PeerProcess:
    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"],
                                  stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline())
        return self

    def stats(self):
        """Stops the peer and returns what it counted."""
        self.p.send_signal(signal.SIGTERM)
        out, _ = self.p.communicate(timeout=10)
        return json.loads(out.strip().splitlines()[-1])

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def load(args, timeout=30):
    binary = os.path.join(os.environ["BOURSE_BIN_DIR"], "bourse-load")
    return subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout)


def load_json(args, what):
    r = load(args + ["--json"])
    try:
        j = json.loads(r.stdout)
    except ValueError:
        check(False, f"{what}: JSON output, got status {r.returncode}: {r.stdout!r} {r.stderr!r}")
        return r, None
    print(f"{what}: " + summary(j))
    return r, j


def summary(j):
    lat = j["latency_us"]
    return (f"opened {j['connections']['opened']}, {j['requests']['throughput']:.0f} rt/s, "
            f"p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} us, max {lat['max']:.0f} us, "
            f"errors {j['errors']['total']}, connect {j['connections']['connect_rate']:.0f}/s")


def latency_ordered(j):
    lat = j["latency_us"]
    return lat["count"] > 0 and 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] \
        <= lat["p99_9"] <= lat["max"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_usage_errors():
    for args, what in [
        (["http://127.0.0.1:1/ws"], "http URL"),
        (["ws://"], "URL without host"),
        (["ws://127.0.0.1:99999/ws"], "port out of range"),
        (["ws://127.0.0.1:80x/ws"], "port not a number"),
        (["-s", "nosuch", "ws://127.0.0.1:1/ws"], "unknown scenario"),
        ([], "no URL"),
        (["--connections", "0", "ws://127.0.0.1:1/"], "zero connections"),
        (["-s", "message", "ws://127.0.0.1:1/"], "message without --message"),
        (["-s", "message", "-m", "x", "-e", "{id}", "ws://127.0.0.1:1/"],
         "--expect {id} without {id} in --message"),
        (["--bogus", "ws://127.0.0.1:1/"], "unknown option"),
    ]:
        r = load(args)
        check(r.returncode == 2, f"usage error for {what}: status {r.returncode}, {r.stderr!r}")
        check("bourse-load" in r.stderr and r.stdout == "", f"usage error for {what} on stderr")
    r = load(["--help"])
    check(r.returncode == 0 and "--connections" in r.stdout, "--help prints usage, status 0")


def test_unreachable():
    port = free_port()
    r, j = load_json(["-c", "5", "-t", "2", "-d", "0.2", "-w", "0", f"ws://127.0.0.1:{port}/ws"],
                     "unreachable port")
    check(r.returncode == 1, f"unreachable port: status 1, got {r.returncode}")
    if j:
        check(j["connections"]["failures"]["refused"] == 5 and j["connections"]["opened"] == 0,
              f"unreachable port: 5 refused connections, got {j['connections']}")


def test_ping_flat_out(peer):
    r, j = load_json(["-s", "ping", "-c", "20", "-d", "2", "-w", "0.3", "-k", "2",
                      f"ws://127.0.0.1:{peer.port}/ws"], "ping flat out")
    check(r.returncode == 0, f"ping flat out: status 0, got {r.returncode} {r.stderr!r}")
    if not j:
        return
    check(j["connections"]["opened"] == 20, "ping flat out: 20 connections")
    check(j["requests"]["replies"] > 100, f"ping flat out: replies > 100: {j['requests']}")
    check(j["errors"]["total"] == 0, f"ping flat out: no errors: {j['errors']}")
    check(latency_ordered(j), f"ping flat out: percentiles ordered: {j['latency_us']}")
    check(abs(j["measured_s"] - 2.0) < 0.05, f"ping flat out: window 2 s: {j['measured_s']}")
    check(j["messages"]["welcomes"] == 20, "ping flat out: a welcome per connection")
    check(j["messages"]["server_pings"] == 20, "ping flat out: the server's pings were seen")
    check(j["latency_us"]["count"] == j["requests"]["replies"], "ping: every reply timed")
    check(j["send_lag_us"]["max"] == 0, f"ping flat out: no send lag: {j['send_lag_us']}")
    check(j["orders"] is None and j["setup_error"] is None, "ping: no orders section")


def test_ping_open_loop(peer):
    rate = 2000
    r, j = load_json(["-s", "ping", "-c", "20", "-d", "2", "-w", "0.3", "--rate", str(rate),
                      f"ws://127.0.0.1:{peer.port}/ws"], "ping at 2000/s")
    check(r.returncode == 0, f"ping at a rate: status 0, got {r.returncode} {r.stderr!r}")
    if not j:
        return
    got = j["requests"]["throughput"]
    check(0.8 * rate <= got <= 1.2 * rate, f"ping at a rate: {got:.0f}/s within 20% of {rate}")
    sent = j["requests"]["send_rate"]
    check(0.8 * rate <= sent <= 1.2 * rate, f"ping at a rate: sent {sent:.0f}/s ~ {rate}")
    check(j["errors"]["total"] == 0, f"ping at a rate: no errors: {j['errors']}")
    check(latency_ordered(j), f"ping at a rate: percentiles ordered: {j['latency_us']}")
    lag = j["send_lag_us"]
    check(lag["count"] == j["requests"]["sent_in_window"] and lag["max"] <= j["latency_us"]["max"],
          f"ping at a rate: a send lag per request of the window, below the latency: {lag}")


def test_message(peer):
    url = f"ws://127.0.0.1:{peer.port}/echo"
    r, j = load_json(["-s", "message", "-c", "10", "-d", "1", "-w", "0.2", "-k", "4",
                      "-m", "hello {id} world", "-e", "hello {id} world", url], "message {id}")
    check(r.returncode == 0 and j and j["requests"]["replies"] > 50 and
          j["errors"]["total"] == 0, f"message with {{id}}: replies, no errors: {r.stdout!r}")
    if j:
        check(latency_ordered(j), "message with {id}: percentiles ordered")

    r, j = load_json(["-s", "message", "-c", "10", "-d", "1", "-w", "0.2", "-m", "plain",
                      "-e", "plain", url], "message FIFO")
    check(r.returncode == 0 and j and j["requests"]["replies"] > 50 and
          j["errors"]["total"] == 0, f"message in FIFO order: replies, no errors: {r.stdout!r}")

    # 64-bit lengths both ways, fragmented replies with a ping in between
    big = "frag {id} " + "x" * 70000
    # A 1 MiB buffer holds many 70 kB requests: a slow (sanitizer) build must not fill it.
    r, j = load_json(["-s", "message", "-c", "4", "-d", "1", "-w", "0.2", "-k", "2",
                      "--buffer-size", "1048576", "-m", big, "-e", "frag {id} xxx", url],
                     "message 70 kB fragmented")
    check(r.returncode == 0 and j and j["requests"]["replies"] > 10 and
          j["errors"]["total"] == 0,
          f"large fragmented replies: errors {j and j['errors']} {r.stderr[-500:]!r}")
    if j:
        check(j["messages"]["server_pings"] > j["requests"]["replies"],
              "pings between fragments answered")

    # 64-bit lengths from the server too (one 70 kB frame); --expect starting with {id}
    r, j = load_json(["-s", "message", "-c", "2", "-d", "0.5", "-w", "0.1",
                      "--buffer-size", "131072", "-m", "{id}:" + "z" * 70000, "-e", "{id}:zzz",
                      url], "message 70 kB one frame")
    check(r.returncode == 0 and j and j["requests"]["replies"] > 10 and
          j["errors"]["total"] == 0, f"large unfragmented replies: {r.stdout!r} {r.stderr!r}")

    # a reply larger than the buffer is an error, not a crash
    r, j = load_json(["-s", "message", "-c", "2", "-d", "0.5", "-w", "0", "--buffer-size",
                      "4096", "-m", "y" * 3000, "-e", "yyy", f"ws://127.0.0.1:{peer.port}/double"],
                     "message too big")
    check(r.returncode == 1 and j and j["errors"]["too_big"] == 2,
          f"reply over --buffer-size counted as too_big: {r.stdout!r}")

    # an expectation that never matches: unanswered, not counted as replies
    r, j = load_json(["-s", "message", "-c", "2", "-d", "0.5", "-w", "0", "--drain", "0.2",
                      "-m", "a{id}", "-e", "b{id}", url], "message unmatched")
    check(r.returncode == 1 and j and j["requests"]["replies"] == 0 and
          j["errors"]["unanswered"] >= 2, f"never-matching --expect: unanswered: {r.stdout!r}")


def test_connect(peer):
    n = 300
    r, j = load_json(["-s", "connect", "-c", str(n), "-d", "1", "-w", "0",
                      "--server-pid", str(peer.p.pid), f"ws://127.0.0.1:{peer.port}/ws"],
                     "connect 300")
    check(r.returncode == 0, f"connect: status 0, got {r.returncode} {r.stderr!r}")
    if not j:
        return
    c = j["connections"]
    check(c["opened"] == n and c["failed"] == 0, f"connect: {n} opened: {c}")
    check(c["connect_rate"] > 0 and c["connect_us"]["count"] == n, "connect: rate and latency")
    rss = j["server_rss"]
    check(rss and rss["pid"] == peer.p.pid and rss["before_bytes"] > 0 and
          rss["after_bytes"] > 0 and rss["delta_per_connection_bytes"] is not None,
          f"connect: server RSS reported: {rss}")
    check(j["messages"]["welcomes"] == n, "connect: a welcome per connection")
    print(f"connect 300: {c['connect_rate']:.0f} conn/s, python peer RSS "
          f"{rss['before_bytes']} -> {rss['after_bytes']} B, "
          f"{rss['delta_per_connection_bytes']:.0f} B/connection")

    r = load(["-s", "connect", "-c", "10", "-d", "0.2", "-w", "0", "--connect-rate", "20",
              f"ws://127.0.0.1:{peer.port}/ws", "--json"])
    j = json.loads(r.stdout) if r.returncode in (0, 1) else None
    check(j and j["connections"]["opened"] == 10 and 0.35 <= j["connections"]["connect_s"] <= 0.7,
          f"--connect-rate 20 paces 10 connections over ~0.45 s: {r.stdout!r}")


def test_source_ips(peer):
    r, j = load_json(["-s", "connect", "-c", "40", "-d", "0.2", "-w", "0",
                      "--source-ips", "127.0.0.2-127.0.0.5", f"ws://127.0.0.1:{peer.port}/ws"],
                     "source ips")
    check(r.returncode == 0 and j and j["connections"]["opened"] == 40,
          f"--source-ips: 40 connections: {r.stdout!r} {r.stderr!r}")


def test_failures(peer):
    r, j = load_json(["-c", "3", "-d", "0.2", "-w", "0", f"ws://127.0.0.1:{peer.port}/reject"],
                     "404")
    check(r.returncode == 1 and j and j["connections"]["failures"]["handshake"] == 3,
          f"404 upgrade reply: handshake failures: {r.stdout!r}")
    r, j = load_json(["-c", "3", "-d", "0.2", "-w", "0",
                      f"ws://127.0.0.1:{peer.port}/badaccept"], "bad accept")
    check(r.returncode == 1 and j and j["connections"]["failures"]["handshake"] == 3,
          f"wrong Sec-WebSocket-Accept: handshake failures: {r.stdout!r}")
    start = time.time()
    r, j = load_json(["-c", "3", "-d", "0.2", "-w", "0", "--connect-timeout", "0.5",
                      f"ws://127.0.0.1:{peer.port}/silent"], "no upgrade reply")
    elapsed = time.time() - start
    check(r.returncode == 1 and j and j["connections"]["failures"]["timeout"] == 3 and
          j["connections"]["opened"] == 0 and 0.5 <= elapsed < 3,
          f"handshake never answered: 3 timeouts after 0.5 s ({elapsed:.2f} s): {r.stdout!r}")
    r, j = load_json(["-c", "3", "-d", "0.5", "-w", "0",
                      f"ws://127.0.0.1:{peer.port}/closeafter"], "server closes")
    check(r.returncode == 1 and j and j["errors"]["closed_by_server"] == 3 and
          j["last_close_code"] == 1001, f"server close counted with its code: {r.stdout!r}")


def test_sigint(peer):
    binary = os.path.join(os.environ["BOURSE_BIN_DIR"], "bourse-load")
    p = subprocess.Popen([binary, "-c", "4", "-d", "30", "-w", "0.2", "--json",
                          f"ws://127.0.0.1:{peer.port}/ws"], stdout=subprocess.PIPE, text=True)
    time.sleep(1.2)
    start = time.time()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=10)
    elapsed = time.time() - start
    check(elapsed < 3, f"SIGINT ends the run within 3 s ({elapsed:.1f} s)")
    try:
        j = json.loads(out)
    except ValueError:
        check(False, f"SIGINT: JSON printed: {out!r}")
        return
    check(j["interrupted"] and j["requests"]["replies"] > 0 and 0.5 < j["measured_s"] < 2,
          f"SIGINT: report of what was measured: {j['measured_s']} s")
    check(j["errors"]["total"] == 0, f"SIGINT: no errors: {j['errors']}")


def main():
    start = time.time()
    test_usage_errors()
    test_unreachable()
    with PeerProcess() as peer:
        test_ping_flat_out(peer)
        test_ping_open_loop(peer)
        test_message(peer)
        test_connect(peer)
        test_source_ips(peer)
        test_failures(peer)
        test_sigint(peer)
        stats = peer.stats()
    check(stats["unmasked"] == 0, "every client frame was masked")
    check(stats["pongs_ok"] > 0 and stats["pongs_ok"] == stats["pings_sent"],
          f"the peer's pings were answered: {stats['pongs_ok']} of {stats['pings_sent']}")
    check({"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} <= set(stats["sources"]),
          f"--source-ips used every source address: {stats['sources']}")
    print(f"({time.time() - start:.1f} s)")
    print(f"load: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit(main())
