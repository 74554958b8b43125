"""Shared harness for bourse's integration suites (stdlib only, /usr/bin/python3).

Import it from a test in this directory with:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bourse_harness as h

What it gives:

- `Server`: starts the real `$BOURSE_BIN_DIR/bourse` on a free 127.0.0.1 port with a
  temporary log file and data directory and any `BOURSE_<SECTION>_<KEY>` overrides, waits
  until it accepts TCP connections, and on exit stops it with SIGTERM and requires exit
  status 0 (else kill -9 and fail). The log stays readable after the stop.
- `WSClient`: a raw RFC 6455 client over a plain socket that can also emit invalid frames
  (unmasked, RSV bits, reserved opcodes, fragmented control frames, lying length fields)
  and checks every frame the server sends (unmasked, no RSV, legal opcode, control frame
  rules). It keeps a transcript of what was sent and received for failure messages.
- `HTTPConn`: a raw HTTP/1.1 client (malformed, pipelined, byte-by-byte, huge requests)
  that parses status, headers and body (Content-Length, chunked, or until EOF).
- `Runner`: runs test functions, one server per group, prints `PASS`/`FAIL` per test and
  a final `<suite>: N passed, M failed` line; `finish()` returns the exit status.
- Prometheus text parsing helpers for `/metrics`.

Environment knobs for whoever runs a suite by hand (ctest sets the first three):
  BOURSE_BIN_DIR, BOURSE_SOURCE_DIR, BOURSE_BUILD_TYPE   as in tests/CMakeLists.txt
  BOURSE_TEST_ONLY=a,b    run only the tests whose names contain a or b
  BOURSE_TEST_KEEP=1      keep each server's temp dir (log, stdout, stderr, data)
  BOURSE_TEST_SEED=N      seed of the randomised tests (printed on failure)
A server that fails to start or to stop always keeps its temp dir and says where.

Hand-written rather than a library because the suites must run on a stock Debian
python3 with nothing installed, and because conformance tests need to send what a
well-behaved client library refuses to send.
"""

import atexit
import base64
import collections
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

# ---------------------------------------------------------------------------------------
# Failures


class TestFailure(AssertionError):
    """A test expectation that did not hold; the message says what was sent, what was
    expected and what came."""


class ConnectionClosed(TestFailure):
    """The server closed the TCP connection (EOF or reset) while a frame or response was
    expected."""


def fail(msg):
    raise TestFailure(msg)



def load_report(stdout, stderr, status, what):
    """The JSON report bourse-load printed with --json; fails the test with the tool's output
    when there is none."""
    try:
        return json.loads(stdout)
    except ValueError:
        fail(f"{what}: no JSON report (status {status}): {stdout!r} {stderr!r}")


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(actual, expected, what):
    if actual != expected:
        raise TestFailure(f"{what}: expected {expected!r}, got {actual!r}")


def short(data, limit=120):
    """A printable, bounded rendering of bytes or str for messages."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data)
        try:
            text = data.decode("utf-8")
            r = repr(text)
        except UnicodeDecodeError:
            r = repr(data)
    else:
        r = repr(data)
    if len(r) > limit:
        r = r[: limit - 20] + f"...({len(data)} bytes)"
    return r


# ---------------------------------------------------------------------------------------
# Environment

BIN_DIR = os.environ.get("BOURSE_BIN_DIR", "")
SOURCE_DIR = os.environ.get("BOURSE_SOURCE_DIR", "")
BUILD_TYPE = os.environ.get("BOURSE_BUILD_TYPE", "")
KEEP_TEMP = os.environ.get("BOURSE_TEST_KEEP", "") not in ("", "0")


def slow_build():
    """True for sanitizer or debug builds, where timing margins should be wider."""
    return BUILD_TYPE.lower() in ("asan", "tsan", "ubsan", "debug", "msan")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # Runs in the child between fork and exec: if the test process is killed (ctest
    # timeout), the kernel sends SIGTERM to the server so no orphan keeps the port.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_live_servers = []


def _kill_live_servers():
    for srv in list(_live_servers):
        try:
            srv.proc.kill()
        except Exception:
            pass


atexit.register(_kill_live_servers)

# ---------------------------------------------------------------------------------------
# Server


class Server:
    """The real bourse binary on a free port.

    env: extra environment (BOURSE_<SECTION>_<KEY> overrides) on top of the harness's
    own: BOURSE_NET_BIND=127.0.0.1, BOURSE_NET_PORT=<free>, BOURSE_LOG_FILE=<tmp>/bourse.log,
    BOURSE_SERVER_DATA_DIR=<tmp>/data. Use as a context manager; the server is always
    stopped on exit, and a non-zero exit status (or a hang on SIGTERM) raises TestFailure
    unless another exception is already propagating.
    """

    START_TIMEOUT = 15.0
    STOP_TIMEOUT = 10.0

    def __init__(self, env=None, name="server", config=None, args=None):
        self.name = name
        self.extra_env = dict(env or {})
        self.config = config or os.path.join(SOURCE_DIR, "conf", "bourse.conf")
        self.binary = os.path.join(BIN_DIR, "bourse")
        self.args = list(args or [])
        self.proc = None
        self.port = None
        self.admin_port = None
        self.tmp = None
        self.log_path = None
        self.final_log = None
        self.exit_status = None

    # -- start ---------------------------------------------------------------------
    def start(self):
        check(BIN_DIR, "BOURSE_BIN_DIR is not set (run under ctest)")
        check(os.access(self.binary, os.X_OK), f"server binary {self.binary} is missing")
        self.tmp = tempfile.mkdtemp(prefix=f"bourse-{self.name}-")
        for attempt in range(3):
            self.port = free_port()
            self.admin_port = free_port()
            self._spawn(attempt)
            why = self._wait_ready()
            if why is None:
                _live_servers.append(self)
                return self
            text = self._all_output()
            if "in use" in text.lower() and attempt < 2:
                continue  # another process took the port between our probe and its bind
            self._cleanup_tmp(keep=True)
            fail(f"server '{self.name}' did not start: {why}\n{self.tail()}")
        return self  # not reached

    def _spawn(self, attempt):
        self.log_path = os.path.join(self.tmp, f"bourse-{attempt}.log")
        data_dir = os.path.join(self.tmp, f"data-{attempt}")
        os.makedirs(data_dir, exist_ok=True)
        env = dict(os.environ)
        env.update(
            {
                "BOURSE_NET_BIND": "127.0.0.1",
                "BOURSE_NET_PORT": str(self.port),
                "BOURSE_ADMIN_PORT": str(self.admin_port),
                "BOURSE_LOG_FILE": self.log_path,
                "BOURSE_SERVER_DATA_DIR": data_dir,
            }
        )
        env.update({k: str(v) for k, v in self.extra_env.items()})
        self.env = env
        self.stdout_path = os.path.join(self.tmp, f"stdout-{attempt}.txt")
        self.stderr_path = os.path.join(self.tmp, f"stderr-{attempt}.txt")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [self.binary, "--config", self.config] + self.args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                preexec_fn=_die_with_parent,
            )

    def _wait_ready(self):
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return f"process exited with status {rc} before accepting connections"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return None
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        return f"port {self.port} not accepting connections after {self.START_TIMEOUT:.0f} s"

    # -- stop ----------------------------------------------------------------------
    def stop(self):
        """SIGTERM, wait, require exit status 0. Raises TestFailure otherwise (after
        kill -9). Idempotent."""
        if self.proc is None or self.exit_status is not None:
            return
        problem = None
        if self.proc.poll() is not None:
            problem = f"server '{self.name}' had already exited with status {self.proc.returncode}"
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problem = (
                    f"server '{self.name}' did not exit within {self.STOP_TIMEOUT:.0f} s of "
                    "SIGTERM (killed with SIGKILL)"
                )
        self.exit_status = self.proc.returncode
        if self in _live_servers:
            _live_servers.remove(self)
        if problem is None and self.exit_status != 0:
            problem = f"server '{self.name}' exited with status {self.exit_status} after SIGTERM"
        self.final_log = self._read(self.log_path)
        if problem:
            self._cleanup_tmp(keep=True)
            fail(problem + "\n" + self.tail())
        self._cleanup_tmp(keep=KEEP_TEMP)

    def _cleanup_tmp(self, keep):
        if self.tmp and not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif self.tmp:
            print(f"[harness] kept {self.tmp} for inspection", file=sys.stderr)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
            return False
        try:
            self.stop()
        except TestFailure as e:
            print(f"[harness] also: {e}", file=sys.stderr)
        return False

    # -- state and logs --------------------------------------------------------------
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, context=""):
        if not self.alive():
            fail(
                f"server '{self.name}' is no longer running"
                f"{(' (' + context + ')') if context else ''}: "
                f"exit status {self.proc.returncode}\n{self.tail()}"
            )

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log(self):
        """The server log so far (or the final log after stop)."""
        if self.final_log is not None:
            return self.final_log
        return self._read(self.log_path)

    def _all_output(self):
        return self.log() + self._read(self.stderr_path)

    def tail(self, lines=25):
        log = self.log().splitlines()[-lines:]
        err = self._read(self.stderr_path).splitlines()[-lines:]
        out = [f"--- log tail ({self.log_path}) ---"] + log
        if err:
            out += ["--- stderr tail ---"] + err
        return "\n".join(out)

    def wait_log(self, pattern, timeout=3.0, flags=re.IGNORECASE):
        """Polls the log until `pattern` (a regex) matches a line; returns the line or
        None. The logger thread writes asynchronously, hence the wait."""
        rx = re.compile(pattern, flags)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log().splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------
# Buffered socket reading with deadlines


class SocketReader:
    """Reads from a socket into a buffer with per-call deadlines."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    def fill(self, deadline):
        """Reads more bytes; returns False on timeout. Raises ConnectionClosed on EOF."""
        if self.eof:
            raise ConnectionClosed(
                "connection closed by the server" + (" (reset)" if self.reset else "")
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.eof = self.reset = True
            raise ConnectionClosed("connection reset by the server")
        if not data:
            self.eof = True
            raise ConnectionClosed("connection closed by the server (EOF)")
        self.buf += data
        return True

    def read_exact(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            if not self.fill(deadline):
                raise socket.timeout(
                    f"timed out after {timeout:.1f} s waiting for {n} bytes (have {len(self.buf)})"
                )
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, delim, timeout, limit=1 << 20):
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[: i + len(delim)])
                del self.buf[: i + len(delim)]
                return out
            if len(self.buf) > limit:
                fail(f"no {delim!r} within {limit} bytes: {short(self.buf)}")
            if not self.fill(deadline):
                raise socket.timeout(
                    f"timed out after {timeout:.1f} s waiting for {delim!r}; have {short(self.buf)}"
                )

    def read_to_eof(self, timeout):
        """Everything until the server closes; raises socket.timeout if it does not."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if not self.fill(deadline):
                    raise socket.timeout(
                        f"server did not close the connection within {timeout:.1f} s"
                    )
            except ConnectionClosed:
                out = bytes(self.buf)
                self.buf.clear()
                return out

    def wait_closed(self, timeout):
        """True if the server closes (EOF or reset) within timeout with no further data;
        returns (closed, extra_bytes)."""
        try:
            extra = self.read_to_eof(timeout)
            return True, extra
        except socket.timeout:
            return False, bytes(self.buf)


# ---------------------------------------------------------------------------------------
# WebSocket

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OP_NAMES = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}

Frame = collections.namedtuple("Frame", "fin rsv opcode payload")


def ws_accept(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (str or bytes), per RFC 6455 4.2.2."""
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode("ascii")


def ws_mask(payload, key):
    """XOR payload with the 4-byte masking key (fast for large payloads)."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def encode_frame(
    opcode,
    payload=b"",
    fin=True,
    rsv=0,
    mask=True,
    masking_key=None,
    length_override_format=None,
    declared_length=None,
):
    """One WebSocket frame as bytes, valid or not.

    rsv: the three RSV bits as an int 0..7 (4 = RSV1, 2 = RSV2, 1 = RSV3).
    length_override_format: None for the minimal encoding, else '7', '16' or '64' to force
      the 7-bit, 16-bit (126) or 64-bit (127) length form (non-minimal when too big).
    declared_length: the length written in the header if it must differ from len(payload)
      (only the header and the given payload bytes are produced).
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if declared_length is None else declared_length
    fmt = length_override_format or ("7" if n <= 125 else "16" if n <= 0xFFFF else "64")
    mbit = 0x80 if mask else 0
    if fmt == "7":
        if n > 125:
            raise ValueError("7-bit length form holds at most 125")
        header = bytes([b0, mbit | n])
    elif fmt == "16":
        header = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    elif fmt == "64":
        header = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    else:
        raise ValueError(f"length_override_format {fmt!r}")
    if mask:
        key = masking_key if masking_key is not None else os.urandom(4)
        if len(key) != 4:
            raise ValueError("masking key must be 4 bytes")
        return header + key + ws_mask(payload, key)
    return header + payload


def close_payload(code=None, reason=b""):
    """Close frame payload: 2-byte code plus reason (str or bytes), or empty."""
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


def decode_frame_header(buf):
    """Parses a frame at the start of buf: returns (Frame-without-unmasking, masked,
    mask_key, total_len) or None when buf is incomplete. Used for server frames and by
    the harness self-test."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n = struct.unpack("!H", bytes(buf[2:4]))[0]
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n = struct.unpack("!Q", bytes(buf[2:10]))[0]
        pos = 10
    masked = bool(b1 & 0x80)
    key = None
    if masked:
        if len(buf) < pos + 4:
            return None
        key = bytes(buf[pos : pos + 4])
        pos += 4
    if len(buf) < pos + n:
        return None
    payload = bytes(buf[pos : pos + n])
    if masked:
        payload = ws_mask(payload, key)
    return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload), masked, key, pos + n


def describe_frame(frame):
    name = OP_NAMES.get(frame.opcode, f"op{frame.opcode:#x}")
    extra = ""
    if frame.opcode == OP_CLOSE and len(frame.payload) >= 2:
        code = struct.unpack("!H", frame.payload[:2])[0]
        extra = f" code={code} reason={short(frame.payload[2:], 60)}"
    elif frame.opcode == OP_CLOSE:
        extra = f" payload={short(frame.payload, 60)}"
    else:
        extra = f" {short(frame.payload, 100)}"
    return f"{name} fin={int(frame.fin)} rsv={frame.rsv} len={len(frame.payload)}{extra}"


# Every client opened during a test registers here so the runner can print transcripts
# and close them after the test.
_open_clients = []


class Response:
    def __init__(self, status, reason, version, headers, body=b""):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            fail(f"HTTP {self.status} body is not JSON ({e}): {short(self.body)}")

    def __repr__(self):
        hdrs = ", ".join(f"{k}: {v}" for k, v in self.headers)
        return f"<HTTP {self.status} {self.reason!r} [{hdrs}] body={short(self.body, 80)}>"


def tokens(value):
    """Comma-separated header tokens, lower case, stripped."""
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def default_upgrade_headers(port, key=None):
    """The header list of a valid RFC 6455 upgrade request, as (name, value) pairs."""
    return [
        ("Host", f"127.0.0.1:{port}"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key or base64.b64encode(os.urandom(16)).decode()),
        ("Sec-WebSocket-Version", "13"),
    ]


def edit_headers(headers, changes):
    """Applies changes to a header list: a dict name -> value (replace, case-insensitive,
    appended when absent) or name -> None (remove); keys keep the casing given in changes."""
    out = list(headers)
    for name, value in (changes or {}).items():
        idx = [i for i, (k, _) in enumerate(out) if k.lower() == name.lower()]
        if value is None:
            out = [h for i, h in enumerate(out) if i not in idx]
        elif idx:
            out[idx[0]] = (name, value)
            out = [h for i, h in enumerate(out) if i not in idx[1:]]
        else:
            out.append((name, value))
    return out


def build_request(method, path, headers=(), body=b"", version="HTTP/1.1"):
    lines = [f"{method} {path} {version}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_response_head(head):
    """Parses 'HTTP/1.1 200 OK\\r\\nName: value\\r\\n...\\r\\n\\r\\n'."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    if not m:
        fail(f"malformed status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        if ":" not in line:
            fail(f"malformed response header line {line!r}")
        k, v = line.split(":", 1)
        headers.append((k.strip(), v.strip()))
    return Response(int(m.group(2)), m.group(3) or "", m.group(1), headers)


class WSClient:
    """A raw WebSocket client. Construct, then `connect()` (which the factory
    `WSClient.open()` does for you)."""

    def __init__(self, port, host="127.0.0.1", timeout=2.0, rcvbuf=None, sndbuf=None, name=None):
        self.port = port
        self.host = host
        self.timeout = timeout
        self.name = name or f"ws#{len(_open_clients)}"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # must precede connect to shape the advertised window
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = SocketReader(self.sock)
        self.transcript = collections.deque(maxlen=16)
        self.close_sent = False
        self.close_received = None  # (code or None, reason bytes)
        self.server_pings = []
        self.welcome = None
        self.response = None
        self.closed = False
        _open_clients.append(self)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def open(cls, port, path="/ws", headers=None, read_welcome=True, **kw):
        """Connects, performs a valid handshake (headers: dict of changes to the default
        upgrade headers) and by default reads the welcome frame into .welcome."""
        c = cls(port, **kw)
        c.connect()
        c.handshake(path, headers)
        if read_welcome:
            c.welcome = c.recv_json(what="the welcome frame (first frame after the handshake)")
            if c.welcome.get("op") != "welcome":
                fail(f"first frame after the handshake is not the welcome: {c.welcome!r}")
        return c

    def connect(self):
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))

    def note(self, text):
        self.transcript.append(text)

    def handshake(self, path="/ws", headers=None, key=None, expect_status=101):
        """Sends an upgrade request and validates a 101 (Upgrade, Connection, Accept, no
        extension). headers: dict of changes (see edit_headers). Returns the response."""
        key = key or base64.b64encode(os.urandom(16)).decode()
        hdrs = edit_headers(default_upgrade_headers(self.port, key), headers)
        req = build_request("GET", path, hdrs)
        self.send_raw(req, note=f"handshake GET {path}")
        try:
            head = self.reader.read_until(b"\r\n\r\n", self.timeout, limit=65536)
        except socket.timeout as e:
            fail(f"no handshake response: {e}")
        resp = parse_response_head(head)
        self.response = resp
        self.note(f"recv handshake response {resp.status} {resp.reason}")
        if resp.status != expect_status:
            fail(
                f"handshake GET {path} with headers {hdrs}: "
                f"expected HTTP {expect_status}, got {resp!r}"
            )
        if expect_status == 101:
            check(
                (resp.header("Upgrade") or "").lower() == "websocket",
                f"101 response Upgrade header must be 'websocket': {resp!r}",
            )
            check(
                "upgrade" in tokens(resp.header("Connection")),
                f"101 response Connection header must contain 'upgrade': {resp!r}",
            )
            expected = ws_accept(key.strip())
            check_eq(
                resp.header("Sec-WebSocket-Accept"),
                expected,
                f"Sec-WebSocket-Accept for key {key!r}",
            )
            check(
                resp.header("Sec-WebSocket-Extensions") is None,
                f"server negotiated an extension it does not implement: {resp!r}",
            )
        return resp

    # -- sending --------------------------------------------------------------------------
    def send_raw(self, data, note=None):
        self.note(f"sent raw {note or short(data, 80)}")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def send_frame(
        self,
        opcode,
        payload=b"",
        fin=True,
        rsv=0,
        mask=True,
        masking_key=None,
        length_override_format=None,
        declared_length=None,
    ):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        data = encode_frame(
            opcode, payload, fin, rsv, mask, masking_key, length_override_format, declared_length
        )
        desc = describe_frame(Frame(fin, rsv, opcode, payload))
        flags = []
        if not mask:
            flags.append("UNMASKED")
        if length_override_format:
            flags.append(f"len-form={length_override_format}")
        if declared_length is not None:
            flags.append(f"declared-len={declared_length}")
        self.note("sent " + desc + (" [" + ",".join(flags) + "]" if flags else ""))
        if opcode == OP_CLOSE:
            self.close_sent = True
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text, **kw)

    def send_json(self, obj):
        """Sends obj as compact JSON with raw UTF-8 (not \\u escapes) in strings."""
        self.send_frame(OP_TEXT, json.dumps(obj, separators=(",", ":"), ensure_ascii=False))

    def send_close(self, code=None, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    # -- receiving ------------------------------------------------------------------------
    def recv_frame(self, timeout=None, allow_timeout=False):
        """Next frame from the server as Frame(fin, rsv, opcode, payload), checking the
        server-side framing rules. On timeout returns None if allow_timeout (nothing is
        consumed, so a later call still sees the whole frame), else fails. Raises
        ConnectionClosed on EOF/reset."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            parsed = decode_frame_header(self.reader.buf)
            if parsed is not None:
                break
            try:
                got = self.reader.fill(deadline)
            except ConnectionClosed as e:
                self.note(
                    f"server closed TCP ({e})"
                    + (
                        f" with {len(self.reader.buf)} bytes of a partial frame"
                        if self.reader.buf
                        else ""
                    )
                )
                raise ConnectionClosed(
                    f"{self.name}: {e} while waiting for a frame\n{self.transcript_text()}"
                )
            if not got:
                if allow_timeout:
                    return None
                partial = (
                    f" (a partial frame of {len(self.reader.buf)} bytes arrived)"
                    if self.reader.buf
                    else ""
                )
                self._fail(f"no frame from the server within {timeout:.1f} s{partial}")
        frame, masked, _key, total = parsed
        del self.reader.buf[:total]
        self.note("recv " + describe_frame(frame) + (" [MASKED]" if masked else ""))
        check(
            not masked,
            f"{self.name}: server frames must not be masked (RFC 6455 5.1): "
            f"{describe_frame(frame)}",
        )
        check(
            frame.rsv == 0,
            f"{self.name}: server frame has RSV bits {frame.rsv} set without an extension",
        )
        check(
            frame.opcode in OP_NAMES, f"{self.name}: server sent reserved opcode {frame.opcode:#x}"
        )
        if frame.opcode >= 8:
            check(
                frame.fin,
                f"{self.name}: server sent a fragmented control frame {describe_frame(frame)}",
            )
            check(
                len(frame.payload) <= 125,
                f"{self.name}: server control frame longer than 125 bytes",
            )
        if frame.opcode == OP_PING:
            self.server_pings.append(frame.payload)
        if frame.opcode == OP_CLOSE:
            self.close_received = self._parse_close(frame.payload)
        return frame

    def _parse_close(self, payload):
        if len(payload) == 0:
            return (None, b"")
        check(
            len(payload) >= 2, f"{self.name}: server close frame with a 1-byte payload {payload!r}"
        )
        code = struct.unpack("!H", payload[:2])[0]
        reason = payload[2:]
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            self._fail(f"server close reason is not valid UTF-8: {reason!r}")
        return (code, reason)

    def recv_message(self, timeout=None, what="a text message", skip_pings=True):
        """Next complete data message (server fragments reassembled) as (opcode, bytes).
        Server pings are skipped (recorded in .server_pings). A close frame or a control
        frame other than ping fails with a message saying what was expected."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        parts = []
        first_op = None
        while True:
            left = max(0.05, deadline - time.monotonic())
            try:
                frame = self.recv_frame(left)
            except ConnectionClosed as e:
                fail(f"expected {what}, but {e}")
            if frame.opcode == OP_PING and skip_pings:
                continue
            if frame.opcode == OP_CLOSE:
                code, reason = self.close_received
                self._fail(f"expected {what}, got a close frame code={code} reason={short(reason)}")
            if frame.opcode in (OP_PING, OP_PONG):
                self._fail(f"expected {what}, got {describe_frame(frame)}")
            if first_op is None:
                check(
                    frame.opcode != OP_CONT,
                    f"{self.name}: server sent a continuation frame with no message open",
                )
                first_op = frame.opcode
            else:
                check(
                    frame.opcode == OP_CONT,
                    f"{self.name}: server started a new message inside a fragmented one",
                )
            parts.append(frame.payload)
            if frame.fin:
                return first_op, b"".join(parts)

    def recv_text(self, timeout=None, what="a text message"):
        op, data = self.recv_message(timeout, what)
        check(op == OP_TEXT, f"{self.name}: expected {what} as a text frame, got opcode {op}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self._fail(f"server text message is not valid UTF-8: {short(data)}")

    def recv_json(self, timeout=None, what="a JSON reply"):
        text = self.recv_text(timeout, what)
        try:
            return json.loads(text)
        except ValueError as e:
            fail(f"{self.name}: expected {what}, got text that is not JSON ({e}): {short(text)}")

    def expect_close(self, code, timeout=None, eof_timeout=2.0, allow_data=False, after=""):
        """Reads until a close frame and checks its code; then (replying with a close if
        we had not sent one, as RFC 6455 5.5.1 asks) requires the server to close the TCP
        connection within eof_timeout.

        code: an int, a tuple/set of acceptable ints, or None for 'empty close payload'
        (None may also be inside the tuple). Server pings are skipped; data frames fail
        unless allow_data. Returns (code, reason)."""
        timeout = self.timeout if timeout is None else timeout
        accepted = set(code) if isinstance(code, (tuple, set, list, frozenset)) else {code}
        want = " or ".join(
            "empty close" if c is None else str(c)
            for c in sorted(accepted, key=lambda c: -1 if c is None else c)
        )
        ctx = f" after {after}" if after else ""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"expected close {want}{ctx}; no close frame within {timeout:.1f} s")
            try:
                frame = self.recv_frame(left, allow_timeout=True)
            except ConnectionClosed:
                self._fail(
                    f"expected close {want}{ctx}; the server closed TCP without a close frame"
                )
            if frame is None:
                continue
            if frame.opcode == OP_PING:
                continue
            if frame.opcode == OP_CLOSE:
                break
            if not allow_data:
                self._fail(f"expected close {want}{ctx}; got {describe_frame(frame)} first")
        got_code, reason = self.close_received
        if got_code not in accepted:
            self._fail(
                f"expected close {want}{ctx}; got close "
                f"{'(empty)' if got_code is None else got_code} reason={short(reason)}"
            )
        if not self.close_sent:
            try:
                self.send_close(got_code if got_code is not None else None)
            except OSError:
                pass  # the server may already have closed TCP, which is fine
        self.expect_eof(eof_timeout, "after the close handshake")
        return got_code, reason

    def expect_eof(self, timeout=2.0, when=""):
        """Requires the server to close the TCP connection within timeout, sending no
        further frames."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"server did not close the TCP connection within {timeout:.1f} s {when}")
            try:
                frame = self.recv_frame(left, allow_timeout=True)
            except ConnectionClosed:
                self.closed = True
                return
            if frame is not None and frame.opcode != OP_PING:
                self._fail(f"server sent {describe_frame(frame)} {when}; expected the TCP close")

    # -- conveniences -----------------------------------------------------------------------
    def ping_op(self, ident, timeout=None, extra=None):
        """Sends {"op":"ping","id":ident} and requires {"op":"pong","id":ident,"ts":int}."""
        msg = {"op": "ping", "id": ident}
        msg.update(extra or {})
        self.send_json(msg)
        reply = self.recv_json(timeout, what=f"the pong for ping id {ident!r}")
        check_pong(reply, ident)
        return reply

    def assert_alive(self, context=""):
        ident = int.from_bytes(os.urandom(4), "big")
        try:
            self.ping_op(ident)
        except TestFailure as e:
            fail(f"connection no longer usable {context}: {e}")

    def _fail(self, msg):
        """Fails with the client's name and its recent transcript."""
        fail(f"{self.name}: {msg}\n{self.transcript_text()}")

    def transcript_text(self):
        return f"  transcript of {self.name} (last {len(self.transcript)} events):\n" + "\n".join(
            "    " + t for t in self.transcript
        )

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def now_ms():
    return int(time.time() * 1000)


def check_ts(ts, what):
    check(is_int(ts), f"{what}: ts must be an integer (ms since the epoch), got {ts!r}")
    check(
        abs(ts - now_ms()) < 300_000, f"{what}: ts {ts} is not within 5 minutes of now ({now_ms()})"
    )


def check_pong(reply, ident, absent_id=False):
    """Checks a native pong reply: {"op":"pong","id":ident,"ts":int} (no id when absent_id)."""
    check(isinstance(reply, dict), f"pong reply must be a JSON object, got {reply!r}")
    check_eq(reply.get("op"), "pong", f"op of the reply to ping id {ident!r} ({reply!r})")
    if absent_id:
        check("id" not in reply, f"reply to a ping without id must carry no id: {reply!r}")
    else:
        check("id" in reply, f"pong must echo id {ident!r}: {reply!r}")
        check(
            type(reply["id"]) is type(ident),
            f"pong id type must match the request's ({ident!r}): {reply!r}",
        )
        check_eq(reply["id"], ident, f"pong id ({reply!r})")
    check_ts(reply.get("ts"), f"pong {reply!r}")


def check_error(reply, code, ident=None, absent_id=False):
    """Checks an error reply {"id":…,"code":code,"msg":str}."""
    check(isinstance(reply, dict), f"error reply must be a JSON object, got {reply!r}")
    check_eq(reply.get("code"), code, f"error code in {reply!r}")
    check(is_int(reply.get("code")), f"error code must be an integer: {reply!r}")
    check(
        isinstance(reply.get("msg"), str) and reply["msg"],
        f"error reply needs a non-empty msg string: {reply!r}",
    )
    if absent_id:
        check(
            reply.get("id") is None,
            f"error reply for a request without a usable id must carry no id: {reply!r}",
        )
    elif ident is not None:
        check_eq(reply.get("id"), ident, f"error reply id ({reply!r})")


# ---------------------------------------------------------------------------------------
# HTTP


class HTTPConn:
    """A raw HTTP/1.1 connection: send anything, parse responses."""

    def __init__(self, port, host="127.0.0.1", timeout=2.0):
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = SocketReader(self.sock)
        self.sent = collections.deque(maxlen=8)
        _open_clients.append(self)
        self.name = f"http#{len(_open_clients)}"
        self.transcript = self.sent

    def send(self, data):
        self.sent.append(f"sent {short(data, 100)}")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def send_tolerant(self, data):
        """Sends, ignoring a reset/EPIPE (the server may answer and close before it has
        read everything, e.g. for 413/431). Returns True if everything was sent."""
        try:
            self.send(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.sent.append("(send interrupted: server closed or stopped reading)")
            return False

    def request(self, method, path, headers=None, body=b"", version="HTTP/1.1"):
        hdrs = [("Host", f"127.0.0.1:{self.port}")] if headers is None else list(headers)
        if body and not any(k.lower() == "content-length" for k, _ in hdrs):
            hdrs.append(("Content-Length", str(len(body))))
        self.send(build_request(method, path, hdrs, body, version))

    def read_response(self, timeout=None, method="GET", what="an HTTP response"):
        timeout = self.timeout if timeout is None else timeout
        try:
            head = self.reader.read_until(b"\r\n\r\n", timeout, limit=1 << 20)
            resp = parse_response_head(head)
            resp.body = self._read_body(resp, method, timeout)
        except socket.timeout as e:
            self._fail(f"expected {what}: {e}")
        except ConnectionClosed as e:
            self._fail(f"expected {what}, but {e}")
        self.sent.append(f"recv {resp!r}")
        return resp

    def _read_body(self, resp, method, timeout):
        if method == "HEAD" or resp.status in (101, 204, 304) or 100 <= resp.status < 200:
            return b""
        te = tokens(resp.header("Transfer-Encoding"))
        if "chunked" in te:
            body = bytearray()
            while True:
                line = self.reader.read_until(b"\r\n", timeout).decode("latin-1").strip()
                size = int(line.split(";", 1)[0], 16)
                if size == 0:
                    while self.reader.read_until(b"\r\n", timeout) != b"\r\n":
                        pass  # trailers
                    return bytes(body)
                body += self.reader.read_exact(size, timeout)
                check(self.reader.read_exact(2, timeout) == b"\r\n", "chunk not followed by CRLF")
        cl = resp.header_all("Content-Length")
        if cl:
            check(len(set(cl)) == 1, f"conflicting Content-Length headers {cl}")
            check(cl[0].isdigit(), f"bad Content-Length {cl[0]!r}")
            return self.reader.read_exact(int(cl[0]), timeout)
        return self.reader.read_to_eof(timeout)

    def expect_closed(self, timeout=2.0, when=""):
        closed, extra = self.reader.wait_closed(timeout)
        check(not extra, f"{self.name}: unexpected bytes {short(extra)} {when}")
        check(
            closed,
            f"{self.name}: server did not close the connection within {timeout:.1f} s {when}",
        )

    def _fail(self, msg):
        """Fails with the connection's name and what was sent and received on it."""
        fail(f"{self.name}: {msg}\n{self.transcript_text()}")

    def transcript_text(self):
        return f"  transcript of {self.name}:\n" + "\n".join("    " + t for t in self.sent)

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_request(port, method, path, headers=None, body=b"", version="HTTP/1.1", timeout=2.0):
    """One request on a fresh connection; returns the response."""
    c = HTTPConn(port, timeout=timeout)
    try:
        c.request(method, path, headers, body, version)
        return c.read_response(method=method, what=f"the response to {method} {path}")
    finally:
        c.close_socket()


def check_json_error_body(resp, status):
    """Error responses carry a JSON object body and application/json."""
    check_eq(resp.status, status, f"status of {resp!r}")
    ctype = (resp.header("Content-Type") or "").lower()
    check(
        ctype.startswith("application/json"),
        f"HTTP {status} Content-Type must be application/json: {resp!r}",
    )
    body = resp.json()
    check(isinstance(body, dict), f"HTTP {status} body must be a JSON object: {resp!r}")
    return body


# ---------------------------------------------------------------------------------------
# Prometheus text format

_SAMPLE_RX = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?[ \t]+(\S+)([ \t]+-?\d+)?$")
_LABEL_RX = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')

Sample = collections.namedtuple("Sample", "name labels value")


def parse_prometheus(text):
    """Parses the text exposition format 0.0.4; returns (samples, types, errors) where
    samples is a list of Sample(name, labels dict, float), types maps family -> type and
    errors lists malformed lines."""
    samples, types, errors = [], {}, []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                kind = parts[3].strip() if len(parts) > 3 else ""
                if kind not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    errors.append(f"line {lineno}: bad TYPE {line!r}")
                types[parts[2]] = kind
            continue
        m = _SAMPLE_RX.match(line)
        if not m:
            errors.append(f"line {lineno}: not a sample {line!r}")
            continue
        labels = {}
        if m.group(3):
            rest = m.group(3)
            pos = 0
            while pos < len(rest):
                lm = _LABEL_RX.match(rest, pos)
                if not lm:
                    errors.append(f"line {lineno}: bad labels {m.group(2)!r}")
                    break
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        try:
            value = float(m.group(4))
        except ValueError:
            errors.append(f"line {lineno}: bad value {m.group(4)!r}")
            continue
        samples.append(Sample(m.group(1), labels, value))
    return samples, types, errors


IN_WORDS = {"in", "rx", "received", "recv", "read", "inbound", "input", "incoming"}
OUT_WORDS = {"out", "tx", "sent", "send", "written", "write", "outbound", "output", "outgoing"}


def sample_words(s):
    text = s.name + " " + " ".join(f"{k} {v}" for k, v in s.labels.items())
    return set(w for w in re.split(r"[^a-z0-9]+", text.lower()) if w)


def metric_kind(s):
    """Classifies a sample into the families the issue requires (loosely, by name and
    labels); returns a set of kinds."""
    kinds = set()
    name = s.name.lower()
    words = sample_words(s)
    if not name.startswith("bourse_"):
        return kinds
    if re.search(r"conn", name) and not re.search(r"(_total|_created|_bucket|_sum|_count)$", name):
        kinds.add("connections")
    if "frame" in name or "frames" in name:
        if words & IN_WORDS:
            kinds.add("frames_in")
        if words & OUT_WORDS:
            kinds.add("frames_out")
    if "bytes" in name and not re.search(r"send_?q", name):
        if words & IN_WORDS:
            kinds.add("bytes_in")
        if words & OUT_WORDS:
            kinds.add("bytes_out")
    if re.search(r"send_?q", name) and re.search(r"drop|overflow|exceed|limit|clos|kill", name):
        kinds.add("send_queue_drops")
    if re.search(r"enobufs|nobufs|no_?buf|buf\w*_exhaust|exhaust\w*_buf", name):
        kinds.add("enobufs")
    if (
        "loop" in name
        and "iter" in name
        and any(re.search(r"thread|io|loop|worker|shard", k) for k in s.labels)
    ):
        kinds.add("loop_iterations")
    return kinds


def metrics_sum(samples, kind):
    """Sum of every sample of a kind (e.g. 'frames_in'), or None if there is none."""
    vals = [s.value for s in samples if kind in metric_kind(s)]
    return sum(vals) if vals else None


def fetch_metrics(port):
    resp = http_request(port, "GET", "/metrics")
    check_eq(resp.status, 200, f"GET /metrics status ({resp!r})")
    samples, types, errors = parse_prometheus(resp.body.decode("utf-8", "replace"))
    check(not errors, f"/metrics is not valid Prometheus text: {errors[:5]}")
    return resp, samples, types


# ---------------------------------------------------------------------------------------
# Runner


class Runner:
    """Runs test functions and keeps the score.

    r = Runner("ws_conformance")
    r.group("main", [test_a, test_b], env={...})   # one server for these tests
    sys.exit(r.finish())
    """

    def __init__(self, suite):
        self.suite = suite
        self.passed = 0
        self.failed = []
        self.only = [p for p in os.environ.get("BOURSE_TEST_ONLY", "").split(",") if p]
        self.t0 = time.monotonic()

    def selected(self, fn):
        return not self.only or any(p in fn.__name__ for p in self.only)

    def group(self, name, tests, env=None, **server_kw):
        tests = [t for t in tests if self.selected(t)]
        if not tests:
            return
        print(f"== group {name}: server env {env or {}}", flush=True)
        try:
            srv = Server(env=env, name=name, **server_kw).start()
        except TestFailure as e:
            for t in tests:
                self._record(t.__name__, False, f"(group {name!r}) {e}", 0)
            return
        try:
            for t in tests:
                self.run(t, srv)
        finally:
            try:
                srv.stop()
                print(f"   server '{name}' stopped with status 0", flush=True)
            except TestFailure as e:
                self._record(f"{name}: server stops cleanly on SIGTERM", False, str(e), 0)

    def run(self, fn, *args):
        if not self.selected(fn):
            return
        del _open_clients[:]
        start = time.monotonic()
        ok, msg = True, ""
        try:
            fn(*args)
        except TestFailure as e:
            ok, msg = False, str(e)
        except Exception as e:  # a harness or socket error is a failure too, with its trace
            ok = False
            msg = f"unexpected {type(e).__name__}: {e}\n" + traceback.format_exc()
            trans = [c.transcript_text() for c in _open_clients if getattr(c, "transcript", None)]
            if trans:
                msg += "\n" + "\n".join(trans[-2:])
        finally:
            for c in _open_clients:
                c.close_socket()
            del _open_clients[:]
        if not ok:
            for a in args:
                if isinstance(a, Server) and not a.alive():
                    msg += f"\n  (server '{a.name}' is not running any more)\n{a.tail()}"
        self._record(fn.__name__, ok, msg, time.monotonic() - start)

    def _record(self, name, ok, msg, secs):
        if ok:
            self.passed += 1
            print(f"PASS {name} ({secs:.2f} s)", flush=True)
        else:
            self.failed.append(name)
            print(f"FAIL {name} ({secs:.2f} s): {msg}", flush=True)

    def finish(self):
        total = time.monotonic() - self.t0
        if self.failed:
            print(f"failed tests: {', '.join(self.failed)}")
        print(f"({total:.1f} s)")
        print(f"{self.suite}: {self.passed} passed, {len(self.failed)} failed", flush=True)
        return 1 if self.failed or self.passed == 0 else 0
