#!/usr/bin/python3
"""RFC 6455 conformance of bourse's /ws endpoint, plus the native welcome and ping op
(shared/spec/PROTOCOL.md), run against the real server binary.

Categories follow the Autobahn testsuite: handshake, framing, ping/pong, reserved bits,
opcodes, fragmentation, UTF-8, close codes, limits; plus the server's own pings and idle
timeout, robustness and the per-connection send-queue limit. Every test asserts the exact
close code or reply. Servers (one per group, see main()):

  main        io_threads=2, ping 15000/45000 ms, defaults otherwise (max_message 1 MiB)
  restricted  ws.origins=https://good.example,http://127.0.0.1:8000, max_message=65536
  pings       ws.ping_interval_ms=200, ws.ping_timeout_ms=600
  sendq       net.max_send_queue=65536, io_threads=1

Choices where the spec leaves room (documented so the server can match):
  - bad JSON -> error 1001; valid JSON that is not an object (array, number, string,
    null, bool) -> 1003 (it has no "op" field); missing or non-string op -> 1003;
    an id that is neither an int64 nor a string of <= 36 characters -> 1003.
  - error replies to requests whose id could not be read carry no id (or id null).
  - a 64-bit length with the most significant bit set -> 1002 or 1009 (both are right:
    the frame is illegal and too big).
  - invalid UTF-8 in the first fragment: the close (1007) may come at once or when the
    message ends; invalid UTF-8 in a close reason -> 1007.
  - a wrong Sec-WebSocket-Version -> 400 or 426, with Sec-WebSocket-Version: 13 either
    way (RFC 6455 4.2.2 makes the header a MUST); a missing one -> 400, or 426 with it.
  - the send-queue victim may see the 1008 close frame or just the TCP close.
"""

import json
import os
import re
import select
import struct
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True  # keep the source tree clean when ctest runs from it
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bourse_harness as h  # noqa: E402
from bourse_harness import (  # noqa: E402
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WSClient,
    check,
    check_eq,
    fail,
)

SLOW = h.slow_build()
GOOD_ORIGIN = "https://good.example"
RESTRICTED_ORIGINS = f"{GOOD_ORIGIN},http://127.0.0.1:8000"


def open_ws(srv, **kw):
    """A connected client past the welcome; adds the allowed Origin on servers that
    restrict origins."""
    headers = dict(kw.pop("headers", None) or {})
    if srv.extra_env.get("BOURSE_WS_ORIGINS") and "Origin" not in headers:
        headers["Origin"] = GOOD_ORIGIN
    return WSClient.open(srv.port, headers=headers, **kw)


def ping_msg(ident, total_len=None, pad=b""):
    """A native ping op as bytes: {"op":"ping","id":ident,"pad":"<pad>"}; with total_len,
    the pad is 'x' * whatever makes the message exactly total_len bytes long."""
    prefix = b'{"op":"ping","id":%d,"pad":"' % ident
    suffix = b'"}'
    if total_len is not None:
        n = total_len - len(prefix) - len(suffix)
        assert n >= 0, total_len
        pad = b"x" * n
    return prefix + pad + suffix


def expect_pong_frame(ws, payload, after):
    """The next frame other than a server ping must be a PONG carrying `payload`."""
    while True:
        f = ws.recv_frame()
        if f.opcode == OP_PING:
            continue
        if f.opcode != OP_PONG or f.payload != payload:
            fail(
                f"after {after}: expected PONG with payload {h.short(payload)}, "
                f"got {h.describe_frame(f)}\n"
                f"{ws.transcript_text()}"
            )
        return


def send_ignoring_reset(ws, fn):
    """Runs a send; the server may legitimately close before reading everything."""
    try:
        fn()
    except (BrokenPipeError, ConnectionResetError):
        ws.note("(send interrupted: server already closed)")


def upgrade(srv, changes=None, method="GET", path="/ws", version="HTTP/1.1"):
    """A raw upgrade request (default valid headers edited by `changes`); returns the
    HTTP response (for a 101 only the head)."""
    c = h.HTTPConn(srv.port)
    hdrs = h.edit_headers(h.default_upgrade_headers(srv.port), changes)
    if method != "GET":
        hdrs.append(("Content-Length", "0"))
    c.send(h.build_request(method, path, hdrs, version=version))
    resp = c.read_response(what=f"the response to {method} {path} {version} with {changes}")
    resp.request = f"{method} {path} {version} headers={hdrs}"
    return resp


# ---------------------------------------------------------------------------------------
# Handshake


def test_handshake_valid(srv):
    check_eq(
        h.ws_accept("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "harness accept (RFC 6455 example)",
    )
    ws = open_ws(srv)  # validates 101, Upgrade, Connection, Sec-WebSocket-Accept
    ws.assert_alive("after a valid handshake")


def check_version_rejected(resp, header_required):
    if resp.status not in (400, 426):
        fail(f"{resp.request}: expected HTTP 426 (or 400), got {resp!r}")
    if resp.status == 426 or header_required:
        versions = h.tokens(resp.header("Sec-WebSocket-Version"))
        check(
            "13" in versions,
            f"{resp.request}: HTTP {resp.status} must carry Sec-WebSocket-Version: 13, "
            f"got {resp!r}",
        )


def test_handshake_version_missing(srv):
    check_version_rejected(upgrade(srv, {"Sec-WebSocket-Version": None}), header_required=False)


def test_handshake_version_wrong(srv):
    for v in ("8", "12", "14"):
        check_version_rejected(upgrade(srv, {"Sec-WebSocket-Version": v}), header_required=True)


def test_handshake_key_missing(srv):
    resp = upgrade(srv, {"Sec-WebSocket-Key": None})
    check(resp.status == 400, f"{resp.request}: expected 400 for a missing key, got {resp!r}")
    h.check_json_error_body(resp, 400)


def test_handshake_key_invalid(srv):
    import base64

    bad_keys = {
        "15 bytes": base64.b64encode(b"x" * 15).decode(),
        "17 bytes": base64.b64encode(b"x" * 17).decode(),
        "not base64": "!!!!!!!!!!!!!!!!!!!!!!==",
        "no padding": base64.b64encode(b"x" * 16).decode().rstrip("="),
        "empty": "",
    }
    for what, key in bad_keys.items():
        resp = upgrade(srv, {"Sec-WebSocket-Key": key})
        check(resp.status == 400, f"key {what} ({key!r}): expected 400, got {resp!r}")
        h.check_json_error_body(resp, 400)


def test_handshake_post_405(srv):
    for method in ("POST", "PUT"):
        resp = upgrade(srv, method=method)
        check(resp.status == 405, f"{resp.request}: expected 405, got {resp!r}")
        h.check_json_error_body(resp, 405)


def test_handshake_header_tokens_case_insensitive(srv):
    import base64

    variants = [
        {"Upgrade": "WebSocket"},
        {"Upgrade": "WEBSOCKET"},
        {"Connection": "keep-alive, Upgrade"},
        {"Connection": "Upgrade, keep-alive"},
        {"Connection": "keep-alive,upgrade"},
        {"Connection": "UPGRADE"},
        {"upgrade": "websocket", "connection": "upgrade", "sec-websocket-version": "13"},
        {
            "UPGRADE": "websocket",
            "CONNECTION": "Keep-Alive, Upgrade",
            "SEC-WEBSOCKET-VERSION": "13",
        },
    ]
    for changes in variants:
        try:
            ws = open_ws(srv, headers=changes)
        except h.TestFailure as e:
            fail(f"upgrade with {changes} must succeed: {e}")
        ws.assert_alive(f"after upgrade with {changes}")
        ws.close_socket()
    # Optional whitespace around a header value is not part of it (RFC 9110 5.5).
    key = base64.b64encode(os.urandom(16)).decode()
    ws = WSClient(srv.port, name="ows-key")
    ws.connect()
    ws.handshake(
        "/ws",
        {"Origin": GOOD_ORIGIN} if srv.extra_env.get("BOURSE_WS_ORIGINS") else None,
        key="  " + key + "  ",
    )
    ws.recv_json(what="the welcome after a key with surrounding whitespace")
    # A query string does not change the route (PROTOCOL.md: /ws?stream=...).
    ws = open_ws(srv, path="/ws?x=1")
    ws.assert_alive("after upgrade on /ws?x=1")


def test_handshake_connection_without_upgrade_token(srv):
    variants = [
        {"Connection": "keep-alive"},
        {"Connection": "keep-alive, upgraded"},
        {"Connection": "notupgrade"},
        {"Connection": None},
        {"Upgrade": "websocketx"},
        {"Upgrade": "h2c"},
        {"Upgrade": None},
    ]
    for changes in variants:
        resp = upgrade(srv, changes)
        check(
            resp.status in (400, 426),
            f"{resp.request}: not a valid upgrade, expected 400 or 426, got {resp!r}",
        )


def test_handshake_http10_rejected(srv):
    resp = upgrade(srv, version="HTTP/1.0")
    check(
        400 <= resp.status < 600,
        f"{resp.request}: WebSocket needs HTTP/1.1 (RFC 6455 4.1), expected 4xx/5xx, got {resp!r}",
    )


def test_handshake_wrong_path_404(srv):
    for path in ("/nope", "/wsx", "/", "/ws/extra"):
        resp = upgrade(srv, path=path)
        check(resp.status == 404, f"{resp.request}: expected 404, got {resp!r}")
        h.check_json_error_body(resp, 404)


def test_handshake_extension_not_negotiated(srv):
    # The server implements no extension, so it must not accept permessage-deflate
    # (WSClient.handshake fails on a Sec-WebSocket-Extensions response header).
    ws = open_ws(
        srv, headers={"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    )
    ws.assert_alive("after declining permessage-deflate")


def test_handshake_subprotocol_not_invented(srv):
    offered = ["chat.example", "superchat"]
    resp = upgrade(srv, {"Sec-WebSocket-Protocol": ", ".join(offered)})
    if resp.status == 101:
        chosen = resp.header_all("Sec-WebSocket-Protocol")
        check(
            not chosen or (len(chosen) == 1 and chosen[0] in offered),
            f"{resp.request}: the server may select one offered subprotocol or none, got {chosen}",
        )
    else:
        check(
            resp.status == 400,
            f"{resp.request}: expected 101 (no subprotocol) or 400, got {resp!r}",
        )


def test_origin_any_when_list_empty(srv):
    ws = open_ws(srv, headers={"Origin": "https://anything.example"})
    ws.assert_alive("with an arbitrary Origin and an empty allow-list")


def test_origin_rejected(srv):
    for origin in (
        "https://evil.example",
        "https://good.example.evil",
        "http://good.example",
        "null",
        "https://good.exampl",
    ):
        resp = upgrade(srv, {"Origin": origin})
        check(
            resp.status == 403,
            f"Origin {origin!r} with allow-list {RESTRICTED_ORIGINS!r}: expected 403, got {resp!r}",
        )


def test_origin_allowed(srv):
    for origin in (GOOD_ORIGIN, "http://127.0.0.1:8000"):
        ws = WSClient.open(srv.port, headers={"Origin": origin})
        ws.assert_alive(f"with allowed Origin {origin}")


# ---------------------------------------------------------------------------------------
# Welcome

UUID_RX = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
SEMVER_RX = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")


def test_welcome_frame(srv):
    ws = WSClient(srv.port)
    ws.connect()
    ws.handshake("/ws", {"Origin": GOOD_ORIGIN} if srv.extra_env.get("BOURSE_WS_ORIGINS") else None)
    f = ws.recv_frame()
    check(
        f.opcode == OP_TEXT and f.fin,
        f"the first frame must be one complete text frame, got {h.describe_frame(f)}",
    )
    try:
        w = json.loads(f.payload.decode("utf-8"))
    except ValueError as e:
        fail(f"welcome is not JSON ({e}): {h.short(f.payload)}")
    check(isinstance(w, dict), f"welcome must be an object: {w!r}")
    check_eq(w.get("op"), "welcome", f"welcome op ({w!r})")
    h.check_ts(w.get("ts"), f"welcome {w!r}")
    s = w.get("session")
    check(isinstance(s, str) and UUID_RX.match(s), f"welcome session must be a UUID string: {w!r}")
    uuid.UUID(s)
    want_interval = int(srv.extra_env.get("BOURSE_WS_PING_INTERVAL_MS", 20000))
    want_timeout = int(srv.extra_env.get("BOURSE_WS_PING_TIMEOUT_MS", 60000))
    check(h.is_int(w.get("ping_interval")), f"welcome ping_interval must be an integer: {w!r}")
    check(h.is_int(w.get("ping_timeout")), f"welcome ping_timeout must be an integer: {w!r}")
    check_eq(
        w["ping_interval"], want_interval, "welcome ping_interval (configured ws.ping_interval_ms)"
    )
    check_eq(
        w["ping_timeout"], want_timeout, "welcome ping_timeout (configured ws.ping_timeout_ms)"
    )
    v = w.get("version")
    check(
        isinstance(v, str) and SEMVER_RX.match(v), f"welcome version must be a semver string: {w!r}"
    )


def test_welcome_sessions_unique(srv):
    sessions = [open_ws(srv).welcome.get("session") for _ in range(5)]
    check(len(set(sessions)) == 5, f"five connections must get five different sessions: {sessions}")


# ---------------------------------------------------------------------------------------
# Native ping op and error replies


def test_op_ping_int_ids(srv):
    ws = open_ws(srv)
    for ident in (7, 0, -1, 9223372036854775807, -9223372036854775808):
        ws.ping_op(ident)


def test_op_ping_string_ids(srv):
    ws = open_ws(srv)
    for ident in ("abc", "7", "", "x" * 36, "é€𝄞", 'q"\\/\n\t\u0001e'):
        ws.ping_op(ident)  # raw UTF-8 in the request
    ws.send_text(
        '{"op":"ping","id":"\\u00e9\\u20ac\\ud834\\udd1e\\/"}'
    )  # escaped, incl. a surrogate pair
    h.check_pong(ws.recv_json(what="the pong for an id written with \\u escapes"), "é€𝄞/")


def test_op_ping_without_id(srv):
    ws = open_ws(srv)
    ws.send_text('{"op":"ping"}')
    h.check_pong(ws.recv_json(what="the pong for a ping without id"), None, absent_id=True)


def test_op_ping_unknown_fields_ignored(srv):
    ws = open_ws(srv)
    ws.send_text('{"extra":{"a":[1,2,{"b":null}]},"op":"ping","z":1.5e10,"id":8,"t":true}')
    h.check_pong(ws.recv_json(what="the pong for a ping with unknown fields"), 8)


def test_op_ping_invalid_id(srv):
    ws = open_ws(srv)
    bad = [
        '{"op":"ping","id":"%s"}' % ("x" * 37),
        '{"op":"ping","id":{}}',
        '{"op":"ping","id":[1]}',
        '{"op":"ping","id":1.5}',
        '{"op":"ping","id":true}',
        '{"op":"ping","id":9223372036854775808}',
    ]
    for text in bad:
        ws.send_text(text)
        reply = ws.recv_json(what=f"the error reply to {text}")
        check(
            isinstance(reply, dict) and reply.get("code") == 1003,
            f"sent {text}: expected error code 1003 (invalid id), got {reply!r}",
        )
        h.check_error(reply, 1003)
        ws.assert_alive(f"after {text}")


def test_op_unknown(srv):
    ws = open_ws(srv)
    ws.send_text('{"op":"nope","id":3}')
    h.check_error(ws.recv_json(what="the error reply to an unknown op"), 1002, ident=3)
    ws.send_text('{"op":"nope","id":"s-1"}')
    h.check_error(ws.recv_json(what="the error reply to an unknown op"), 1002, ident="s-1")
    ws.send_text('{"op":"nope"}')
    h.check_error(
        ws.recv_json(what="the error reply to an unknown op without id"), 1002, absent_id=True
    )
    ws.assert_alive("after unknown ops")


def test_bad_json(srv):
    ws = open_ws(srv)
    for text in (
        '{"op":',
        "not json",
        '{"op":"ping","id":1,}',
        "",
        '{"op":"ping"}}',
        "{'op':'ping'}",
    ):
        ws.send_text(text)
        reply = ws.recv_json(what=f"the error reply to bad JSON {text!r}")
        check(
            isinstance(reply, dict) and reply.get("code") == 1001,
            f"sent {text!r}: expected error 1001 (bad JSON), got {reply!r}",
        )
        h.check_error(reply, 1001, absent_id=True)
        ws.assert_alive(f"after bad JSON {text!r}")


def test_json_not_an_object(srv):
    # Valid JSON without an "op" field: 1003 (missing field), not 1001 (bad JSON).
    ws = open_ws(srv)
    for text in ("[1,2]", '[{"op":"ping"}]', "42", '"ping"', "null", "true"):
        ws.send_text(text)
        reply = ws.recv_json(what=f"the error reply to {text!r}")
        check(
            isinstance(reply, dict) and reply.get("code") == 1003,
            f"sent {text!r}: expected error 1003, got {reply!r}",
        )
        h.check_error(reply, 1003, absent_id=True)
        ws.assert_alive(f"after {text!r}")


def test_missing_or_invalid_op(srv):
    ws = open_ws(srv)
    for text, ident in (
        ('{"id":5}', 5),
        ('{"id":6,"op":null}', 6),
        ('{"op":5,"id":7}', 7),
        ('{"op":["ping"],"id":"a"}', "a"),
        ("{}", None),
    ):
        ws.send_text(text)
        reply = ws.recv_json(what=f"the error reply to {text}")
        check(
            isinstance(reply, dict) and reply.get("code") == 1003,
            f"sent {text}: expected error 1003, got {reply!r}",
        )
        h.check_error(reply, 1003, ident=ident, absent_id=ident is None)
        ws.assert_alive(f"after {text}")


# ---------------------------------------------------------------------------------------
# Framing


def test_frame_lengths(srv):
    ws = open_ws(srv)
    # 7-bit (<= 125), 16-bit (126..65535) and 64-bit (>= 65536) length forms, at the edges.
    for i, n in enumerate((30, 125, 126, 200, 65535, 65536, 70000)):
        ws.send_text(ping_msg(i, n))
        reply = ws.recv_json(timeout=5, what=f"the pong for a {n}-byte message")
        h.check_pong(reply, i)


def test_frame_split_byte_by_byte(srv):
    ws = open_ws(srv)
    for i, n in enumerate((40, 300)):
        data = h.encode_frame(OP_TEXT, ping_msg(i, n))
        ws.note(f"sending a {n}-byte ping op one byte per write")
        for b in data:
            ws.sock.sendall(bytes([b]))
            time.sleep(0.0005)
        h.check_pong(ws.recv_json(what=f"the pong for a frame sent byte by byte ({n} bytes)"), i)


def test_frames_coalesced(srv):
    ws = open_ws(srv)
    data = b"".join(h.encode_frame(OP_TEXT, ping_msg(i)) for i in range(20))
    data += h.encode_frame(OP_PING, b"tail")
    ws.send_raw(data, note="20 ping ops and a ping frame in one write")
    for i in range(20):
        h.check_pong(ws.recv_json(what=f"pong {i} of 20 coalesced pings"), i)
    expect_pong_frame(ws, b"tail", "a ping frame after 20 coalesced ping ops")


def test_frame_nonminimal_length(srv):
    # RFC 6455 5.2 asks senders for the minimal length form but names no reaction; a
    # receiver must either accept the frame or fail with 1002, never misparse or hang.
    for fmt in ("16", "64"):
        ws = open_ws(srv)
        ws.send_frame(OP_TEXT, ping_msg(31, 40), length_override_format=fmt)
        f = ws.recv_frame()
        while f.opcode == OP_PING:
            f = ws.recv_frame()
        if f.opcode == OP_CLOSE:
            check_eq(
                ws.close_received[0],
                1002,
                f"close code for a 40-byte frame with a {fmt}-bit length",
            )
            continue
        check(
            f.opcode == OP_TEXT,
            f"expected a pong or close 1002 for a {fmt}-bit length, got {h.describe_frame(f)}",
        )
        h.check_pong(json.loads(f.payload), 31)
        ws.assert_alive(f"after a non-minimal {fmt}-bit length")


def test_masking_key_zero(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_TEXT, ping_msg(32), masking_key=b"\0\0\0\0")
    h.check_pong(ws.recv_json(what="the pong for a frame masked with key 00000000"), 32)


def test_frame_length_msb_set(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_TEXT, b"", declared_length=1 << 63)
    ws.expect_close((1002, 1009), after="a 64-bit length with the most significant bit set")


def test_frame_declared_length_huge(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_TEXT, b'{"op":"ping"', declared_length=1 << 40)
    ws.expect_close(1009, after="a text frame header declaring 2^40 bytes (over net.max_message)")


def test_unmasked_frame(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_TEXT, ping_msg(1), mask=False)
    ws.expect_close(1002, after="an unmasked text frame")
    ws = open_ws(srv)
    ws.send_frame(OP_PING, b"x", mask=False)
    ws.expect_close(1002, after="an unmasked ping frame")


def test_rsv_bits(srv):
    for rsv, name in ((4, "RSV1"), (2, "RSV2"), (1, "RSV3"), (7, "RSV1+2+3")):
        ws = open_ws(srv)
        ws.send_frame(OP_TEXT, ping_msg(1), rsv=rsv)
        ws.expect_close(1002, after=f"a text frame with {name} set")
    ws = open_ws(srv)
    ws.send_frame(OP_PING, b"x", rsv=4)
    ws.expect_close(1002, after="a ping frame with RSV1 set")


def test_reserved_opcodes(srv):
    for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        ws = open_ws(srv)
        ws.send_frame(op, b"hello" if op < 8 else b"")
        ws.expect_close(1002, after=f"a frame with reserved opcode {op:#x}")


def test_reserved_opcode_after_valid_traffic(srv):
    ws = open_ws(srv)
    ws.assert_alive("before the reserved opcode")
    ws.send_frame(5, b"")
    ws.expect_close(1002, after="reserved opcode 0x5 on a used connection")


def test_binary_frame(srv):
    for payload, fin, what in (
        (b'{"op":"ping","id":1}', True, "a binary frame"),
        (b"", True, "an empty binary frame"),
        (b'{"op":"ping",', False, "the first fragment of a binary message"),
    ):
        ws = open_ws(srv)
        ws.send_frame(OP_BINARY, payload, fin=fin)
        ws.expect_close(1003, after=what)


# ---------------------------------------------------------------------------------------
# Ping / pong


def test_ping_pong_payload(srv):
    ws = open_ws(srv)
    for payload in (b"", b"hello", os.urandom(125), bytes(range(125))):
        ws.send_frame(OP_PING, payload)
        expect_pong_frame(ws, payload, f"a ping with {len(payload)} bytes")
    ws.assert_alive("after pings")


def test_ping_payload_126(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_PING, b"p" * 126)
    ws.expect_close(1002, after="a ping with a 126-byte payload")


def test_ping_fragmented(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_PING, b"ab", fin=False)
    ws.expect_close(1002, after="a ping frame with FIN=0")


def test_pong_unsolicited_ignored(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_PONG, b"")
    ws.send_frame(OP_PONG, os.urandom(125))
    # recv_json fails on any frame other than the text reply (e.g. a pong echo).
    ws.assert_alive("after unsolicited pongs")


# ---------------------------------------------------------------------------------------
# Fragmentation


def test_fragmented_two_parts(srv):
    ws = open_ws(srv)
    msg = ping_msg(21, 300)
    ws.send_frame(OP_TEXT, msg[:150], fin=False)
    ws.send_frame(OP_CONT, msg[150:], fin=True)
    h.check_pong(ws.recv_json(what="the pong for a message in 2 fragments"), 21)


def test_fragmented_many_parts(srv):
    ws = open_ws(srv)
    msg = ping_msg(22, 60)
    ws.send_frame(OP_TEXT, b"", fin=False)
    for i, b in enumerate(msg):
        ws.send_frame(OP_CONT, bytes([b]), fin=False)
        if i % 7 == 0:
            ws.send_frame(OP_CONT, b"", fin=False)
    ws.send_frame(OP_CONT, b"", fin=True)
    h.check_pong(ws.recv_json(what="the pong for a message in ~70 fragments incl. empty ones"), 22)
    # The same, all frames in one write.
    msg = ping_msg(23, 90)
    data = h.encode_frame(OP_TEXT, msg[:1], fin=False)
    data += b"".join(h.encode_frame(OP_CONT, msg[i : i + 1], fin=False) for i in range(1, len(msg)))
    data += h.encode_frame(OP_CONT, b"", fin=True)
    ws.send_raw(data, note="a 90-byte message as 91 fragments in one write")
    h.check_pong(ws.recv_json(what="the pong for 91 fragments sent in one write"), 23)


def test_fragmented_interleaved_control(srv):
    ws = open_ws(srv)
    msg = ping_msg(24, 200)
    ws.send_frame(OP_TEXT, msg[:80], fin=False)
    ws.send_frame(OP_PING, b"mid-1")
    expect_pong_frame(
        ws, b"mid-1", "a ping between the first and second fragment (must not wait for the message)"
    )
    ws.send_frame(OP_CONT, msg[80:150], fin=False)
    ws.send_frame(OP_PONG, b"unsolicited")
    ws.send_frame(OP_PING, b"mid-2")
    expect_pong_frame(ws, b"mid-2", "a ping between the second and last fragment")
    ws.send_frame(OP_CONT, msg[150:], fin=True)
    h.check_pong(
        ws.recv_json(what="the pong for the fragmented message with interleaved control frames"), 24
    )


def test_continuation_without_start(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_CONT, ping_msg(1), fin=True)
    ws.expect_close(1002, after="a continuation frame with no message started")
    ws = open_ws(srv)
    ws.assert_alive("before the stray continuation")
    ws.send_frame(OP_CONT, b"x", fin=False)
    ws.expect_close(1002, after="a continuation frame after a complete message")


def test_new_message_inside_fragmented(srv):
    ws = open_ws(srv)
    msg = ping_msg(25, 100)
    ws.send_frame(OP_TEXT, msg[:50], fin=False)
    ws.send_frame(OP_TEXT, msg, fin=True)
    ws.expect_close(1002, after="a new text frame while a fragmented message is open")


def test_close_inside_fragmented(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_TEXT, ping_msg(26, 100)[:50], fin=False)
    ws.send_close(1000, "bye")
    ws.expect_close(1000, after="a close frame in the middle of a fragmented message")


# ---------------------------------------------------------------------------------------
# UTF-8


def test_utf8_valid(srv):
    ws = open_ws(srv)
    samples = [
        "é",
        "€",
        "𝄞",
        "\u0080",
        "\u07ff",
        "\u0800",
        "\ud7ff",
        "\ue000",
        "\uffff",
        "\U00010000",
        "\U0010ffff",
        "κόσμε",
    ]
    for i, s in enumerate(samples):
        ws.send_text(ping_msg(100 + i, pad=s.encode("utf-8")))
        h.check_pong(
            ws.recv_json(what=f"the pong for text containing {s!r} ({s.encode('utf-8').hex()})"),
            100 + i,
        )


INVALID_UTF8 = {
    "overlong NUL C0 80": b"\xc0\x80",
    "overlong C1 BF": b"\xc1\xbf",
    "overlong 3-byte E0 80 80": b"\xe0\x80\x80",
    "overlong 4-byte F0 80 80 80": b"\xf0\x80\x80\x80",
    "surrogate ED A0 80": b"\xed\xa0\x80",
    "surrogate ED BF BF": b"\xed\xbf\xbf",
    "above U+10FFFF F4 90 80 80": b"\xf4\x90\x80\x80",
    "F5 lead byte": b"\xf5\x80\x80\x80",
    "lone continuation 80": b"\x80",
    "lone continuation BF": b"\xbf",
    "FE": b"\xfe",
    "FF": b"\xff",
    "lead byte followed by ASCII": b"\xe2\x82A",
}


def test_utf8_invalid(srv):
    for name, seq in INVALID_UTF8.items():
        ws = open_ws(srv)
        ws.send_text(ping_msg(1, pad=b"ab" + seq + b"cd"))
        ws.expect_close(1007, after=f"a text message with invalid UTF-8 ({name})")
    for name, tail in (("E2 82", b"\xe2\x82"), ("F0 9D 84", b"\xf0\x9d\x84"), ("C3", b"\xc3")):
        ws = open_ws(srv)
        ws.send_text(b'{"op":"ping","id":1,"pad":"ab' + tail)
        ws.expect_close(1007, after=f"a text message ending in a truncated sequence {name}")


def test_utf8_code_point_split_across_fragments(srv):
    ws = open_ws(srv)
    cases = [
        ("€ split 1|2", [b"\xe2", b"\x82\xac"]),
        ("€ split 2|1", [b"\xe2\x82", b"\xac"]),
        ("𝄞 split 1|3", [b"\xf0", b"\x9d\x84\x9e"]),
        ("𝄞 split 2|2", [b"\xf0\x9d", b"\x84\x9e"]),
        ("𝄞 split 3|1", [b"\xf0\x9d\x84", b"\x9e"]),
        ("𝄞 split 1|1|1|1", [b"\xf0", b"\x9d", b"\x84", b"\x9e"]),
        ("é split 1|1", [b"\xc3", b"\xa9"]),
    ]
    for i, (name, pieces) in enumerate(cases):
        ident = 200 + i
        head = b'{"op":"ping","id":%d,"pad":"a' % ident
        frags = [head + pieces[0]] + pieces[1:-1] + [pieces[-1] + b'b"}']
        for j, frag in enumerate(frags):
            ws.send_frame(OP_TEXT if j == 0 else OP_CONT, frag, fin=j == len(frags) - 1)
        h.check_pong(
            ws.recv_json(what=f"the pong for a message with {name} across fragments"), ident
        )


def test_utf8_invalid_in_first_fragment(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_TEXT, b'{"op":"ping","id":1,"pad":"\xc0\x80', fin=False)
    # Fail-fast closes now; a server that validates at message end closes after the last
    # fragment. Either way the code must be 1007.
    frame = ws.recv_frame(timeout=1.0, allow_timeout=True)
    while frame is not None and frame.opcode == OP_PING:
        frame = ws.recv_frame(timeout=1.0, allow_timeout=True)
    if frame is None:
        send_ignoring_reset(ws, lambda: ws.send_frame(OP_CONT, b'"}', fin=True))
        ws.expect_close(
            1007, after="invalid UTF-8 (C0 80) in the first fragment, then the final fragment"
        )
        return
    check(
        frame.opcode == OP_CLOSE,
        "expected a close 1007 after invalid UTF-8 in the first fragment, "
        f"got {h.describe_frame(frame)}",
    )
    code, _ = ws.close_received
    check_eq(code, 1007, "close code after invalid UTF-8 in the first fragment")
    send_ignoring_reset(ws, lambda: ws.send_close(1007))
    ws.expect_eof(2.0, "after the 1007 close")


def test_utf8_invalid_across_fragments(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_TEXT, b'{"op":"ping","id":1,"pad":"ab\xe2\x82', fin=False)
    send_ignoring_reset(ws, lambda: ws.send_frame(OP_CONT, b'A"}', fin=True))
    ws.expect_close(1007, after="a 3-byte sequence E2 82 completed by 'A' in the next fragment")
    ws = open_ws(srv)
    ws.send_frame(OP_TEXT, b'{"op":"ping","id":1,"pad":"ab\xf0\x9d', fin=False)
    send_ignoring_reset(ws, lambda: ws.send_frame(OP_CONT, b"", fin=True))
    ws.expect_close(1007, after="a message whose last fragment leaves F0 9D incomplete")


# ---------------------------------------------------------------------------------------
# Close handshake


def test_close_normal_with_reason(srv):
    ws = open_ws(srv)
    ws.send_close(1000, "bye")
    code, reason = ws.expect_close(1000, after="close 1000 'bye'")


def test_close_empty_payload(srv):
    ws = open_ws(srv)
    ws.send_close(None)
    ws.expect_close((None, 1000), after="a close frame with no payload")


def test_close_valid_codes_echoed(srv):
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
        ws = open_ws(srv)
        ws.send_close(code, "r")
        ws.expect_close(code, after=f"a close with valid code {code} (must be echoed)")


def test_close_invalid_codes(srv):
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        ws = open_ws(srv)
        ws.send_close(code)
        ws.expect_close(1002, after=f"a close with invalid code {code}")


def test_close_one_byte_payload(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_CLOSE, b"\x03")
    ws.expect_close(1002, after="a close frame with a 1-byte payload")


def test_close_reason_max_length(srv):
    ws = open_ws(srv)
    ws.send_close(1000, "r" * 123)
    ws.expect_close(1000, after="a close with a 123-byte reason (125-byte payload)")


def test_close_payload_too_long(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_CLOSE, struct.pack("!H", 1000) + b"r" * 124)
    ws.expect_close(1002, after="a close frame with a 126-byte payload")


def test_close_reason_invalid_utf8(srv):
    ws = open_ws(srv)
    ws.send_close(1000, b"ok\xff\xfe")
    ws.expect_close(1007, after="a close whose reason is invalid UTF-8")
    ws = open_ws(srv)
    ws.send_close(1000, b"\xed\xa0\x80")
    ws.expect_close(1007, after="a close whose reason is a UTF-16 surrogate")


def test_close_fragmented(srv):
    ws = open_ws(srv)
    ws.send_frame(OP_CLOSE, struct.pack("!H", 1000), fin=False)
    ws.expect_close(1002, after="a close frame with FIN=0")


def test_frames_after_close_ignored(srv):
    ws = open_ws(srv)
    data = h.encode_frame(OP_CLOSE, h.close_payload(1000, "bye"))
    data += h.encode_frame(OP_TEXT, ping_msg(1)) + h.encode_frame(OP_PING, b"late")
    data += h.encode_frame(OP_TEXT, b"\xff")  # would be a 1007 if it were read
    ws.close_sent = True
    ws.send_raw(
        data, note="close 1000, then a ping op, a ping frame and invalid UTF-8 in one write"
    )
    # expect_close fails on any pong/text before the close and on any frame after it.
    ws.expect_close(1000, after="close 1000 followed by more frames (which must be ignored)")


# ---------------------------------------------------------------------------------------
# Limits: net.max_message (restricted server: 65536)

MAX_MESSAGE = 65536


def test_max_message_at_limit(srv):
    ws = open_ws(srv)
    ws.send_text(ping_msg(300, MAX_MESSAGE))
    h.check_pong(
        ws.recv_json(
            timeout=5, what=f"the pong for a message of exactly net.max_message={MAX_MESSAGE} bytes"
        ),
        300,
    )
    msg = ping_msg(301, MAX_MESSAGE)
    ws.send_frame(OP_TEXT, msg[:40000], fin=False)
    ws.send_frame(OP_CONT, msg[40000:], fin=True)
    h.check_pong(
        ws.recv_json(
            timeout=5, what="the pong for a fragmented message of exactly net.max_message bytes"
        ),
        301,
    )


def test_max_message_single_frame_over(srv):
    for n in (MAX_MESSAGE + 1, 70000):
        ws = open_ws(srv)
        send_ignoring_reset(ws, lambda: ws.send_text(ping_msg(1, n)))
        ws.expect_close(
            1009, timeout=5, after=f"a {n}-byte text frame over net.max_message={MAX_MESSAGE}"
        )


def test_max_message_fragments_over(srv):
    ws = open_ws(srv)
    msg = ping_msg(1, 70000)

    def send_two():
        ws.send_frame(OP_TEXT, msg[:40000], fin=False)
        ws.send_frame(OP_CONT, msg[40000:], fin=True)

    send_ignoring_reset(ws, send_two)
    ws.expect_close(
        1009,
        timeout=5,
        after="fragments of 40000 + 30000 bytes (each under the limit, together over it)",
    )
    ws = open_ws(srv)
    msg = ping_msg(2, 80000)

    def send_many():
        ws.send_frame(OP_TEXT, msg[:4000], fin=False)
        for i in range(4000, 80000, 4000):
            ws.send_frame(OP_CONT, msg[i : i + 4000], fin=i + 4000 >= 80000)

    send_ignoring_reset(ws, send_many)
    ws.expect_close(1009, timeout=5, after="20 fragments of 4000 bytes (80000 in all)")


# ---------------------------------------------------------------------------------------
# Server pings and idle timeout (pings server: interval 200 ms, timeout 600 ms)


def test_server_sends_pings(srv):
    ws = open_ws(srv)
    deadline = time.monotonic() + 1.3
    while time.monotonic() < deadline:
        f = ws.recv_frame(timeout=max(0.05, deadline - time.monotonic()), allow_timeout=True)
        if f is None:
            continue
        if f.opcode == OP_PING:
            ws.send_frame(OP_PONG, f.payload)
        else:
            fail(f"expected only server pings while idle, got {h.describe_frame(f)}")
    n = len(ws.server_pings)
    check(n >= 3, f"ws.ping_interval_ms=200: expected >= 3 server pings in 1.3 s, got {n}")
    check(n <= 12, f"ws.ping_interval_ms=200: expected about 6 server pings in 1.3 s, got {n}")


def test_idle_peer_closed_1001(srv):
    t0 = time.monotonic()
    ws = open_ws(srv)
    code, _ = ws.expect_close(
        1001,
        timeout=2.5,
        after="staying silent (never answering pings) with ws.ping_timeout_ms=600",
    )
    elapsed = time.monotonic() - t0
    check(elapsed >= 0.45, f"idle close came after {elapsed:.2f} s, before ws.ping_timeout_ms=600")
    check(
        elapsed <= 2.0 * (2 if SLOW else 1),
        f"idle close came after {elapsed:.2f} s; expected within ~2 s of a 600 ms timeout",
    )
    check(
        len(ws.server_pings) >= 1, "the server should have pinged the idle peer before closing it"
    )


def test_peer_answering_pings_stays(srv):
    ws = open_ws(srv)
    end = time.monotonic() + 1.8
    while time.monotonic() < end:
        f = ws.recv_frame(timeout=max(0.05, end - time.monotonic()), allow_timeout=True)
        if f is None:
            continue
        if f.opcode == OP_PING:
            ws.send_frame(OP_PONG, f.payload)
        else:
            fail(
                f"a peer answering every ping must stay connected; got {h.describe_frame(f)} "
                f"after {len(ws.server_pings)} pings"
            )
    ws.assert_alive("after 1.8 s (3x ws.ping_timeout_ms) of answering pings")


def test_peer_sending_data_stays(srv):
    ws = open_ws(srv)
    end = time.monotonic() + 1.8
    i = 0
    while time.monotonic() < end:
        ws.send_json({"op": "ping", "id": i})
        h.check_pong(
            ws.recv_json(
                what=f"pong {i} from a peer that never answers server pings but sends data"
            ),
            i,
        )
        i += 1
        time.sleep(0.15)
    ws.assert_alive("after 1.8 s of sending data every 150 ms")


# ---------------------------------------------------------------------------------------
# Robustness (main server, after everything else)


def test_still_serving_after_all(srv):
    srv.check_alive("after the conformance tests")
    ws = open_ws(srv)
    ws.assert_alive("on a fresh connection after all the conformance tests")


def test_ping_flood_in_order(srv):
    ws = open_ws(srv)
    count = 10000
    data = b"".join(h.encode_frame(OP_TEXT, b'{"op":"ping","id":%d}' % i) for i in range(count))
    errors = []

    def writer():
        s = ws.sock.dup()
        s.settimeout(20)
        try:
            s.sendall(data)
        except OSError as e:
            errors.append(e)
        finally:
            s.close()

    t = threading.Thread(target=writer)
    ws.note(f"sending {count} pipelined ping ops ({len(data)} bytes) from a thread")
    t.start()
    try:
        for i in range(count):
            reply = ws.recv_json(timeout=10, what=f"pong {i} of {count}")
            if not (isinstance(reply, dict) and reply.get("op") == "pong" and reply.get("id") == i):
                fail(
                    f"flood of {count} pings: reply {i} should be the pong for id {i}, "
                    f"got {reply!r}"
                )
    finally:
        t.join(30)
    check(not errors, f"sending the flood failed: {errors}")


# ---------------------------------------------------------------------------------------
# Send-queue limit (sendq server: net.max_send_queue=65536)


def test_send_queue_limit(srv):
    healthy = open_ws(srv, name="healthy")
    victim = open_ws(srv, rcvbuf=4096, name="victim")
    req = h.encode_frame(
        OP_TEXT, b'{"op":"ping","id":"%s"}' % (b"q" * 36), masking_key=b"\x01\x02\x03\x04"
    )
    batch = req * 512
    victim.sock.setblocking(False)
    cap = 32 << 20
    flood_start = time.monotonic()
    deadline = flood_start + (30 if SLOW else 12)
    sent = 0
    pending = memoryview(batch)
    closed_while_flooding = None
    worst = 0.0
    checks = 0
    next_check = time.monotonic()
    while sent < cap and time.monotonic() < deadline:
        if not pending:
            pending = memoryview(batch)
        try:
            n = victim.sock.send(pending)
            pending = pending[n:]
            sent += n
        except BlockingIOError:
            select.select([], [victim.sock], [], 0.05)
        except (BrokenPipeError, ConnectionResetError) as e:
            closed_while_flooding = type(e).__name__
            break
        if time.monotonic() >= next_check:
            t = time.monotonic()
            healthy.ping_op(checks, timeout=2.0)
            worst = max(worst, time.monotonic() - t)
            checks += 1
            next_check = time.monotonic() + 0.1
    flood_secs = time.monotonic() - flood_start
    victim.note(
        f"flooded {sent} bytes of ping ops in {flood_secs:.2f} s without reading; "
        f"stop reason: {closed_while_flooding or 'cap/deadline'}"
    )

    # Drain what the server did send: a close must be 1008, and the TCP connection must end.
    victim.sock.setblocking(True)
    pongs = 0
    close_code = "none"
    drain_end = time.monotonic() + 10
    ended = False
    while time.monotonic() < drain_end:
        try:
            f = victim.recv_frame(timeout=3.0, allow_timeout=True)
        except h.ConnectionClosed:
            ended = True
            break
        if f is None:
            break  # open and silent
        if f.opcode == OP_TEXT:
            pongs += 1
        elif f.opcode == OP_CLOSE:
            close_code = victim.close_received[0]
            check_eq(
                close_code,
                1008,
                f"close code for a peer over net.max_send_queue (after {pongs} pongs read)",
            )
            try:
                victim.sock.sendall(h.encode_frame(OP_CLOSE, h.close_payload(1008)))
            except OSError:
                pass
            closed, _ = victim.reader.wait_closed(3.0)
            ended = closed
            break
    check(
        ended,
        f"a peer that sent {sent} bytes of ping ops without reading must be closed "
        "(net.max_send_queue=65536); "
        f"the connection is still open after reading {pongs} pongs (close frame: {close_code})",
    )
    check(checks > 0, "the healthy connection was never checked during the flood")
    check(
        worst < 1.0,
        f"the healthy connection's ping round trip reached {worst:.2f} s during the flood",
    )
    healthy.assert_alive("after the other connection was closed for its send queue")
    line = srv.wait_log(r"send.?queue", timeout=3.0)
    check(
        line is not None,
        f"the server log must say a connection crossed the send-queue limit\n{srv.tail(10)}",
    )
    _, samples, _ = h.fetch_metrics(srv.port)
    drops = h.metrics_sum(samples, "send_queue_drops")
    check(drops is not None, "/metrics has no send-queue drop counter (bourse_*send_queue*drop*)")
    check(drops >= 1, f"/metrics send-queue drops must be >= 1 after a drop, got {drops}")


# ---------------------------------------------------------------------------------------


# Protocol rules, not request limits, are under test here (test_limits.py covers those):
# floods of pipelined pings must all be answered.
UNLIMITED = {"BOURSE_LIMITS_REQUESTS_PER_S": "10000000", "BOURSE_LIMITS_BURST": "10000000"}


def main():
    r = h.Runner("ws_conformance")
    main_env = {
        **UNLIMITED,
        "BOURSE_NET_IO_THREADS": "2",
        "BOURSE_WS_PING_INTERVAL_MS": "15000",
        "BOURSE_WS_PING_TIMEOUT_MS": "45000",
    }
    r.group(
        "main",
        [
            test_handshake_valid,
            test_handshake_version_missing,
            test_handshake_version_wrong,
            test_handshake_key_missing,
            test_handshake_key_invalid,
            test_handshake_post_405,
            test_handshake_header_tokens_case_insensitive,
            test_handshake_connection_without_upgrade_token,
            test_handshake_http10_rejected,
            test_handshake_wrong_path_404,
            test_handshake_extension_not_negotiated,
            test_handshake_subprotocol_not_invented,
            test_origin_any_when_list_empty,
            test_welcome_frame,
            test_welcome_sessions_unique,
            test_op_ping_int_ids,
            test_op_ping_string_ids,
            test_op_ping_without_id,
            test_op_ping_unknown_fields_ignored,
            test_op_ping_invalid_id,
            test_op_unknown,
            test_bad_json,
            test_json_not_an_object,
            test_missing_or_invalid_op,
            test_frame_lengths,
            test_frame_split_byte_by_byte,
            test_frames_coalesced,
            test_frame_nonminimal_length,
            test_masking_key_zero,
            test_frame_length_msb_set,
            test_frame_declared_length_huge,
            test_unmasked_frame,
            test_rsv_bits,
            test_reserved_opcodes,
            test_reserved_opcode_after_valid_traffic,
            test_binary_frame,
            test_ping_pong_payload,
            test_ping_payload_126,
            test_ping_fragmented,
            test_pong_unsolicited_ignored,
            test_fragmented_two_parts,
            test_fragmented_many_parts,
            test_fragmented_interleaved_control,
            test_continuation_without_start,
            test_new_message_inside_fragmented,
            test_close_inside_fragmented,
            test_utf8_valid,
            test_utf8_invalid,
            test_utf8_code_point_split_across_fragments,
            test_utf8_invalid_in_first_fragment,
            test_utf8_invalid_across_fragments,
            test_close_normal_with_reason,
            test_close_empty_payload,
            test_close_valid_codes_echoed,
            test_close_invalid_codes,
            test_close_one_byte_payload,
            test_close_reason_max_length,
            test_close_payload_too_long,
            test_close_reason_invalid_utf8,
            test_close_fragmented,
            test_frames_after_close_ignored,
            test_still_serving_after_all,
            test_ping_flood_in_order,
        ],
        env=main_env,
    )
    r.group(
        "restricted",
        [
            test_origin_rejected,
            test_origin_allowed,
            test_welcome_frame,
            test_max_message_at_limit,
            test_max_message_single_frame_over,
            test_max_message_fragments_over,
            test_still_serving_after_all,
        ],
        env={
            **UNLIMITED,
            "BOURSE_WS_ORIGINS": RESTRICTED_ORIGINS,
            "BOURSE_NET_MAX_MESSAGE": str(MAX_MESSAGE),
        },
    )
    r.group(
        "pings",
        [
            test_welcome_frame,
            test_server_sends_pings,
            test_idle_peer_closed_1001,
            test_peer_answering_pings_stays,
            test_peer_sending_data_stays,
        ],
        env={**UNLIMITED, "BOURSE_WS_PING_INTERVAL_MS": "200", "BOURSE_WS_PING_TIMEOUT_MS": "600"},
    )
    r.group(
        "sendq",
        [test_send_queue_limit, test_still_serving_after_all],
        env={**UNLIMITED, "BOURSE_NET_MAX_SEND_QUEUE": "65536", "BOURSE_NET_IO_THREADS": "1"},
    )
    sys.exit(r.finish())


if __name__ == "__main__":
    main()
