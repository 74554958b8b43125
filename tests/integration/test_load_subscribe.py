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
"""
import json
import os
import subprocess
import sys

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
    try:
        j = json.loads(r.stdout)
    except ValueError:
        h.fail(f"{what}: no JSON report (status {r.returncode}): {r.stdout!r} {r.stderr!r}")
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


def main():
    runner = h.Runner("load_subscribe")
    runner.run(test_usage_errors)
    runner.group("subscribe", [test_fanout_no_loss, test_wrong_secret, test_wrong_admin_token],
                 env=ENV)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
