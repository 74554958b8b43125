#!/usr/bin/python3
"""bourse-load -s subscribe against the real server: a few hundred sessions of one uid
subscribed to @account, the tool's own publisher posting to /v1/publish at a fixed rate.

Checks, from the --json report: every connection logged in and subscribed; no loss
(delivered in the window == subscribers x publications of the window, and the server's
own "delivered" counts add up to subscribers x all publications); latency percentiles
ordered and below the run's length; exit status 0. Also: a wrong JWT secret fails every
set-up (status 1), a wrong admin token makes every publication fail with HTTP 401
(status 1), and usage errors (status 2). nginx/nchan is not needed: the side-by-side
benchmark is bench/fanout_bench.sh, never part of ctest.

--spread, on public channels of extra markets FAN0..FAN2 (a config written here): 300
subscribers in 3 groups on FAN%k@trades, the publisher at 20/s per channel (with
--busy-poll 50, so the polling loop runs too). No loss per group, nothing misrouted, and a
plain WebSocket client of this script on FAN1@trades sees exactly group 1's publications
(n = 2, 5, 8, ...), 1/20 s apart on the schedule. A run whose groups also subscribe to
FAN1 counts the other groups' pushes as wrong_group (status 1).
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402

SECRET = "load-subscribe-test-secret-0123456789abcdef"
ADMIN_TOKEN = "admin-token-for-the-load-subscribe-test-0123456789"
ENV = {
    "BOURSE_AUTH_JWT_SECRET": SECRET,
    "BOURSE_ADMIN_TOKEN": ADMIN_TOKEN,
    "BOURSE_LIMITS_REQUESTS_PER_S": 1000000,
    "BOURSE_LIMITS_BURST": 1000000,
}
SUBSCRIBERS = 300
RATE = 40


def load(args, timeout=90):
    binary = os.path.join(h.BIN_DIR, "bourse-load")
    return subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout)


def subscribe_args(srv, extra, secret=SECRET, token=ADMIN_TOKEN, uid=777):
    return ["-s", "subscribe", "-c", str(SUBSCRIBERS), "-t", "2", "-d", "2", "-w", "0.5",
            "--channels", "@account", "--uid", str(uid), "--jwt-secret", secret,
            "--publish-rate", str(RATE), "--admin-url", f"http://127.0.0.1:{srv.admin_port}",
            "--admin-token", token, "--json"] + extra + [f"ws://127.0.0.1:{srv.port}/ws"]


def run_json(args, what):
    r = load(args)
    j = h.load_report(r.stdout, r.stderr, r.returncode, what)
    s = j["subscribe"]
    print(f"   {what}: status {r.returncode}, delivered {s['delivered']} of {s['expected']} "
          f"({s['delivered_per_s']:.0f}/s), p50 {j['latency_us']['p50']:.0f} us, "
          f"p99 {j['latency_us']['p99']:.0f} us, publish {s['publish']}", flush=True)
    return r, j


def ordered(lat):
    return lat["count"] > 0 and 0 <= lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] \
        <= lat["p99_9"] <= lat["max"]


def test_fanout_no_loss(srv):
    r, j = run_json(subscribe_args(srv, []), f"{SUBSCRIBERS} subscribers, {RATE}/s")
    s, p = j["subscribe"], j["subscribe"]["publish"]
    h.check(j["connections"]["opened"] == SUBSCRIBERS,
            f"every connection logged in and subscribed: {j['connections']}, "
            f"set-up error {j['setup_error']!r}")
    h.check(p["failed"] == 0 and p["unanswered"] == 0 and p["ok"] == p["sent"],
            f"every publication accepted: {p}")
    # 2 s at 40/s: the schedule gives 80 in the window (one more or less at the edges)
    h.check(abs(p["sent_in_window"] - 2 * RATE) <= 1, f"publications in the window: {p}")
    h.check(s["expected"] == SUBSCRIBERS * p["sent_in_window"], f"expected count: {s}")
    h.check(s["delivered"] == s["expected"],
            f"no loss: delivered {s['delivered']} == {SUBSCRIBERS} x {p['sent_in_window']}")
    h.check(s["delivered_total"] == SUBSCRIBERS * p["sent"],
            f"every publication reached every subscriber: {s['delivered_total']} vs "
            f"{SUBSCRIBERS} x {p['sent']}")
    h.check(p["server_delivered"] == SUBSCRIBERS * p["sent"],
            f"the server's replies count every session: {p['server_delivered']}")
    lat = j["latency_us"]
    h.check(ordered(lat) and lat["count"] == s["delivered"], f"latency recorded per delivery: {lat}")
    h.check(lat["max"] < 3e6, f"latency below the run's length: {lat}")
    h.check(ordered(p["rtt_us"]), f"publish round trips ordered: {p['rtt_us']}")
    h.check(j["errors"]["total"] == 0, f"no errors: {j['errors']}")
    h.check(r.returncode == 0, f"exit status 0, got {r.returncode}: {r.stderr!r}")


def test_wrong_secret(srv):
    r, j = run_json(subscribe_args(srv, [], secret="not-the-server-secret-0123456789"),
                    "wrong JWT secret")
    h.check(j["connections"]["failures"]["setup"] == SUBSCRIBERS,
            f"every set-up refused: {j['connections']}")
    h.check("3001" in (j["setup_error"] or ""), f"the server's 3001 shown: {j['setup_error']!r}")
    h.check(r.returncode == 1, f"exit status 1, got {r.returncode}")


def test_wrong_admin_token(srv):
    r, j = run_json(subscribe_args(srv, [], token="wrong-token-0123456789abcdef0123456789",
                                   uid=778), "wrong admin token")
    p = j["subscribe"]["publish"]
    h.check(p["sent"] > 0 and p["failed"] == p["sent"] and p["last_status"] == 401,
            f"every publication refused with 401: {p}")
    h.check(j["subscribe"]["delivered"] == 0, "nothing delivered")
    h.check(r.returncode == 1, f"exit status 1, got {r.returncode}")


def fan_config(markets):
    """conf/bourse.conf plus public markets FAN0..FAN{markets-1} (BTC/USDT, like BTCUSDT)."""
    with open(os.path.join(h.SOURCE_DIR, "conf", "bourse.conf")) as f:
        text = f.read()
    for k in range(markets):
        text += (f"\n[market.FAN{k}]\nbase = BTC\nquote = USDT\ntick = 0.01\nlot = 0.00001\n"
                 "min_notional = 5\nmaker_fee = 1000\ntaker_fee = 2000\nprice_band_pct = 0\n"
                 "engine = 0\n")
    folder = tempfile.mkdtemp(prefix="bourse-load-spread-")
    atexit.register(shutil.rmtree, folder, True)
    path = os.path.join(folder, "bourse.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def spread_args(srv, n, k, channels, extra):
    return ["-s", "subscribe", "-c", str(n), "--spread", str(k), "--channels", channels,
            "--publish-rate", str(RATE_PER_CHANNEL), "--publish-channel", "FAN%k@trades",
            "--admin-url", f"http://127.0.0.1:{srv.admin_port}", "--admin-token", ADMIN_TOKEN,
            "--json"] + extra + [f"ws://127.0.0.1:{srv.port}/ws"]


RATE_PER_CHANNEL = 20


def observe(srv, channel, proc):
    """Subscribes a plain client to channel, then collects the stamped pushes (n, t) until
    proc (the load tool, started afterwards by the caller) has exited."""
    ws = h.WSClient.open(srv.port)
    ws.send_text(json.dumps({"op": "subscribe", "id": 1, "args": [channel]}))
    h.check(ws.recv_json().get("result") is True, f"the observer subscribed to {channel}")
    proc.start()
    got = []
    while True:
        done = proc.poll() is not None
        frame = ws.recv_frame(timeout=0.2, allow_timeout=True)
        if frame is None:
            if done:
                return got
            continue
        if frame.opcode != 1:
            continue
        msg = json.loads(frame.payload)
        h.check(msg.get("event") == channel, f"the observer got only {channel}: {msg}")
        got.append((msg["data"]["n"], msg["data"]["t"]))


class LoadProcess:
    """bourse-load started on demand, its JSON report kept."""

    def __init__(self, args):
        self.args = [os.path.join(h.BIN_DIR, "bourse-load")] + args
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)

    def poll(self):
        return self.proc.poll()

    def report(self, what):
        out, err = self.proc.communicate(timeout=60)
        j = h.load_report(out, err, self.proc.returncode, what)
        s = j["subscribe"]
        print(f"   {what}: status {self.proc.returncode}, delivered {s['delivered']} of "
              f"{s['expected']}, wrong group {s['wrong_group']}, p99 "
              f"{j['latency_us']['p99']:.0f} us, busy polls {j['busy_polls']}", flush=True)
        return self.proc.returncode, err, j


def test_spread_public_channels(srv):
    n, k, dur = 300, 3, 2
    tool = LoadProcess(spread_args(srv, n, k, "FAN%k@trades",
                                   ["-t", "2", "-d", str(dur), "-w", "0.5", "--busy-poll", "50"]))
    seen = observe(srv, "FAN1@trades", tool)
    rc, err, j = tool.report(f"{n} subscribers over {k} channels")
    s, p = j["subscribe"], j["subscribe"]["publish"]
    per_group = n // k
    h.check(j["connections"]["opened"] == n, f"every connection subscribed: {j['connections']}")
    h.check(s["spread"] == k and s["wrong_group"] == 0, f"{k} groups, nothing misrouted: {s}")
    h.check(p["failed"] == 0 and p["unanswered"] == 0 and p["ok"] == p["sent"],
            f"every publication accepted: {p}")
    # R per channel x K channels over the window (one more or less at the edges)
    h.check(abs(p["sent_in_window"] - dur * RATE_PER_CHANNEL * k) <= 1,
            f"{RATE_PER_CHANNEL}/s on each of {k} channels: {p}")
    h.check(s["expected"] == p["sent_in_window"] * per_group, f"expected = sent x N/K: {s}")
    h.check(s["delivered"] == s["expected"], f"no loss: delivered {s['delivered']}")
    h.check(s["delivered_total"] == p["sent"] * per_group,
            f"each publication reached its group: {s['delivered_total']} vs {p['sent']} x "
            f"{per_group}")
    # publication n went to group (n - 1) % K: the observer on FAN1 gets n = 2, 5, 8, ...
    want = [m for m in range(1, p["sent"] + 1) if (m - 1) % k == 1]
    h.check([m for m, _ in seen] == want,
            f"FAN1@trades got exactly group 1's publications, in order: {[m for m, _ in seen]}")
    gaps = {seen[i + 1][1] - seen[i][1] for i in range(len(seen) - 1)}
    h.check(all(abs(g - 1e9 / RATE_PER_CHANNEL) <= 2 for g in gaps),
            f"one channel's publications are 1/{RATE_PER_CHANNEL} s apart: {sorted(gaps)} ns")
    h.check(p["server_delivered"] == p["sent"] * per_group + len(seen),
            f"the server counted {per_group} subscribers per channel (+ the observer): "
            f"{p['server_delivered']}")
    h.check(j["options"]["busy_poll_us"] == 50 and j["busy_polls"] > 0,
            f"--busy-poll polled: {j['busy_polls']}")
    h.check(abs(j["measured_s"] - dur) < 0.05, f"the window ran on time: {j['measured_s']}")
    h.check(ordered(j["latency_us"]), f"latency percentiles ordered: {j['latency_us']}")
    h.check(rc == 0, f"exit status 0, got {rc}: {err!r}")


def test_spread_misrouted(srv):
    # every group also subscribes to FAN1: group 0 gets group 1's publications
    n, k = 30, 2
    r, j = run_json(spread_args(srv, n, k, "FAN%k@trades,FAN1@trades",
                                ["-t", "1", "-d", "1", "-w", "0.2", "--drain", "0.5"]),
                    "groups that also follow FAN1")
    s, p = j["subscribe"], j["subscribe"]["publish"]
    to_fan1 = p["sent"] // 2  # n = 2, 4, ...
    h.check(p["sent"] > 0 and s["wrong_group"] == to_fan1 * (n // k),
            f"group 0 counted every FAN1 push as another group's: {s['wrong_group']} vs "
            f"{to_fan1} x {n // k}")
    h.check(r.returncode == 1, f"exit status 1, got {r.returncode}")


def test_usage_errors():
    url = "ws://127.0.0.1:9/ws"
    admin = ["--admin-url", "http://127.0.0.1:9"]
    for args, what in [
        (["-s", "subscribe", url], "no --channels"),
        (["-s", "subscribe", "--raw", "--channels", "a", url], "--raw with --channels"),
        (["-s", "subscribe", "--channels", "@account", url], "private channel without a JWT"),
        (["-s", "subscribe", "--channels", "x", "--publish-rate", "5", url],
         "--publish-rate without --admin-url"),
        (["-s", "subscribe", "--channels", "x", "--publish-rate", "5"] + admin + [url],
         "no --publish-channel and no --uid"),
        (["-s", "subscribe", "--raw", "--publish-rate", "5"] + admin + [url],
         "--raw publishing without --publish-path"),
        (["-s", "subscribe", "--channels", 'a"b', url], "a quote in --channels"),
        (["-s", "ping", "--channels", "x", url], "--channels with ping"),
        (["-s", "ping", "--jwt-secret", SECRET, url], "--jwt-secret with ping"),
        (["-s", "subscribe", "--channels", "x", "--publish-rate", "0"] + admin + [url],
         "--publish-rate 0"),
    ]:
        r = load(args)
        h.check(r.returncode == 2 and "bourse-load" in r.stderr,
                f"usage error for {what}: status {r.returncode}, {r.stderr!r}")
    # --spread and --busy-poll: the message says what is wrong
    for args, needle in [
        (["-c", "10", "--spread", "3", "--channels", "F%k@trades", url],
         "needs --connections a multiple of 3 (10 connections leave 1 over)"),
        (["-c", "9", "--spread", "3", "--channels", "F@trades", url], "needs %k in --channels"),
        (["-c", "9", "--spread", "3", "--channels", "F%k@trades", "--publish-rate", "5",
          "--publish-channel", "F@trades"] + admin + [url], "needs %k in --publish-channel"),
        (["-c", "9", "--spread", "3", "--raw", url], "needs %k in the URL path"),
        (["-c", "9", "--spread", "3", "--raw", "--publish-rate", "5", "--publish-path",
          "/pub?id=x"] + admin + ["ws://127.0.0.1:9/sub?id=x-%k"], "needs %k in --publish-path"),
        (["--spread", "0", "--channels", "x", url], "bad --spread '0' (1 .. 100000)"),
        (["--busy-poll", "1001", "--channels", "x", url], "bad --busy-poll '1001'"),
    ]:
        r = load(["-s", "subscribe"] + args)
        h.check(r.returncode == 2 and needle in r.stderr,
                f"usage error {needle!r}: status {r.returncode}, {r.stderr!r}")
    r = load(["-s", "ping", "--spread", "2", url])
    h.check(r.returncode == 2 and "belong to the subscribe scenario" in r.stderr,
            f"--spread with ping: status {r.returncode}, {r.stderr!r}")


def main():
    runner = h.Runner("load_subscribe")
    runner.run(test_usage_errors)
    runner.group("subscribe", [test_fanout_no_loss, test_wrong_secret, test_wrong_admin_token],
                 env=ENV)
    runner.group("spread", [test_spread_public_channels, test_spread_misrouted], env=ENV,
                 config=fan_config(3))
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
