#!/usr/bin/python3
"""The real server binary: starts on the bundled config, prints its effective
configuration, stops cleanly (exit 0) on SIGTERM and SIGINT, and refuses bad
configuration with the file, line and key."""
import os
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.path.join(os.environ["BOURSE_BIN_DIR"], "bourse")
SRC = os.environ["BOURSE_SOURCE_DIR"]
CONF = os.path.join(SRC, "conf", "bourse.conf")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN] + args, capture_output=True, text=True, env=e, timeout=timeout)


def start_and_stop(sig):
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "bourse.log")
        env = dict(os.environ, BOURSE_LOG_FILE=log, BOURSE_NET_IO_THREADS="2",
                   BOURSE_NET_BIND="127.0.0.1", BOURSE_NET_PORT=str(free_port()),
                   BOURSE_ADMIN_PORT=str(free_port()))
        p = subprocess.Popen([BIN, "--config", CONF], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.time() + 15
        ready = False
        while time.time() < deadline and not ready:
            time.sleep(0.05)
            if os.path.exists(log):
                with open(log) as f:
                    ready = "waiting for SIGINT or SIGTERM" in f.read()
            if p.poll() is not None:
                break
        check(ready, f"server became ready before {sig.name}")
        p.send_signal(sig)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            check(False, f"server exits within 10 s of {sig.name}")
        check(p.returncode == 0, f"exit status 0 after {sig.name}, got {p.returncode}: {err}")
        check("[market.BTCUSDT]" in out, "effective config printed on start")
        check("io_threads = 2" in out, "environment override shows in printed config")
        with open(log) as f:
            text = f.read()
        check("[engine-0] engine 0 running" in text and "[io-1] io thread 1" in text,
              "the engine and both io threads started and logged under their names")
        check("stopped cleanly" in text, f"clean-stop line logged after {sig.name}")


def test_bad_configs():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bad.conf")
        with open(CONF) as f:
            good = f.read()
        lines = good.split("\n")
        net_line = lines.index("[net]")
        lines.insert(net_line + 1, "no_such_key = 1")
        with open(path, "w") as f:
            f.write("\n".join(lines))
        line = net_line + 2
        r = run(["--config", path])
        check(r.returncode == 2, f"unknown key rejected with status 2, got {r.returncode}")
        check(f"{path}:{line}" in r.stderr and "no_such_key" in r.stderr,
              f"error names file:line and key: {r.stderr!r}")

        r = run(["--config", CONF], env={"BOURSE_NET_PORT": "70000"})
        check(r.returncode == 2 and "BOURSE_NET_PORT" in r.stderr,
              f"bad environment value rejected naming the variable: {r.stderr!r}")

        r = run(["--config", os.path.join(tmp, "missing.conf")])
        check(r.returncode == 2 and "missing.conf" in r.stderr, "missing file reported")


def test_check_and_print():
    r = run(["--config", CONF, "--check-config"])
    check(r.returncode == 0 and "valid" in r.stdout, f"--check-config: {r.stdout!r} {r.stderr!r}")
    r = run(["--config", CONF, "--print-config"])
    check(r.returncode == 0, "--print-config exits 0")
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(r.stdout)
        printed = f.name
    try:
        again = run(["--config", printed, "--print-config"])
        check(again.returncode == 0 and again.stdout == r.stdout,
              "printed config loads back to the same effective config")
    finally:
        os.unlink(printed)
    r = run(["--version"])
    check(r.returncode == 0 and r.stdout.startswith("bourse "), "--version")
    r = run(["--no-such-flag"])
    check(r.returncode == 2 and "usage" in r.stderr, "unknown flag gives usage and status 2")


def test_admin_token_rules():
    r = run(["--config", CONF], env={"BOURSE_ADMIN_ALLOW_NO_TOKEN": "0"})
    check(r.returncode == 2 and "[admin] token must be at least 32" in r.stderr,
          f"empty admin token refused without the dev flag: {r.stderr!r}")
    r = run(["--config", CONF], env={"BOURSE_ADMIN_BIND": "0.0.0.0"})
    check(r.returncode == 2 and "loopback" in r.stderr,
          f"dev flag refused on a non-loopback admin bind: {r.stderr!r}")
    r = run(["--config", CONF], env={"BOURSE_ADMIN_ALLOW_NO_TOKEN": "0",
                                      "BOURSE_ADMIN_TOKEN": "short-token"})
    check(r.returncode == 2, "a short admin token is refused")


def test_admin_bearer():
    import http.client
    token = "t" * 40
    port, admin = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, BOURSE_NET_BIND="127.0.0.1", BOURSE_NET_PORT=str(port),
                   BOURSE_ADMIN_PORT=str(admin), BOURSE_ADMIN_TOKEN=token,
                   BOURSE_ADMIN_ALLOW_NO_TOKEN="0", BOURSE_LOG_FILE=os.path.join(tmp, "log"))
        p = subprocess.Popen([BIN, "--config", CONF], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
        try:
            deadline = time.time() + 15
            while time.time() < deadline:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=2)
                    conn.request("GET", "/health")
                    resp = conn.getresponse()
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                check(False, "admin port answers")
                return
            check(resp.status == 401, f"admin without token: 401, got {resp.status}")
            check(b'"code":401' in resp.read(), "401 body is a JSON error")
            for header, status in ((f"Bearer {token}", 200), (f"bearer {token}", 200),
                                   (f"Bearer {token}x", 401), ("Basic abc", 401)):
                conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=2)
                conn.request("GET", "/health", headers={"Authorization": header})
                resp = conn.getresponse()
                check(resp.status == status, f"admin with {header[:12]}...: {resp.status}")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            check(conn.getresponse().status == 200, "client port needs no token")
        finally:
            p.terminate()
            check(p.wait(timeout=10) == 0, "server with admin token exits 0")


start_and_stop(signal.SIGTERM)
start_and_stop(signal.SIGINT)
test_bad_configs()
test_check_and_print()
test_admin_token_rules()
test_admin_bearer()
print(f"server_lifecycle: {len(failures)} failed")
sys.exit(1 if failures else 0)
