"""Limits the server enforces itself, against a real `visearch serve` over raw sockets: bodies
counted as they stream (chunked included), head size and field count, and deadlines for a
slow head (slowloris) and a stalled body. Limits are set small through the environment."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import running_server

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
MAX_UPLOAD = 1024 * 1024  # JSON bodies: 4/3 of this plus 1 MiB, about 2.4 MB
PATIENCE_S = 8.0  # how long a test waits for the server to act before calling it a failure


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path) -> Iterator[tuple[str, int]]:
    tmp = tmp_path_factory.mktemp("limits")
    env = {"VISEARCH_MODEL": str(tiny_clip_dir), "VISEARCH_MODEL_FALLBACK": "",
           "VISEARCH_DEVICE": "cpu", "VISEARCH_DATA_DIR": str(tmp / "data"),
           "VISEARCH_LOG_LEVEL": "WARNING", "VISEARCH_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
           "VISEARCH_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
           "VISEARCH_MAX_UPLOAD_BYTES": str(MAX_UPLOAD), "VISEARCH_MAX_HEADER_BYTES": "16384",
           "VISEARCH_MAX_HEADERS": "50"}
    with running_server(env, tmp / "server.log") as (base, _):
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def _connect(server: tuple[str, int]) -> socket.socket:
    return socket.create_connection(server, timeout=PATIENCE_S)


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response (read until the server closes, or the body
    is complete)."""
    data = b""
    deadline = time.monotonic() + PATIENCE_S
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), data[:200]
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection (reading past any response), or None."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def _error_code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


def test_chunked_body_over_the_limit_is_cut_off_while_streaming(server: tuple[str, int]) -> None:
    """Found 4: a chunked body (no Content-Length) used to be read whole. Now the server
    answers 413 once the count passes the limit, and stops reading."""
    sock = _connect(server)
    sock.sendall(b"POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    sent, total = 0, 64 * 1024 * 1024
    try:
        while sent < total:
            sock.sendall(chunk)
            sent += 65536
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, headers, body = _response(sock)
    assert status == 413 and _error_code(body) == "too_large"
    assert headers.get("connection") == "close"
    assert sent < 16 * 1024 * 1024, f"the server took {sent} bytes before answering"
    sock.close()


def test_declared_length_over_the_limit_is_refused_before_reading(server: tuple[str, int]) -> None:
    sock = _connect(server)
    sock.sendall(b"POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 300000000\r\n\r\n")
    status, _, body = _response(sock)
    assert status == 413 and _error_code(body) == "too_large"
    sock.close()


def test_oversized_head_is_refused_with_431(server: tuple[str, int]) -> None:
    """Found 4: a 64 MB header used to be buffered whole; the head is bounded now."""
    sock = _connect(server)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                     + b"a" * (1024 * 1024) + b"\r\n\r\n")
    status, _, body = _response(sock)
    assert status == 431 and _error_code(body) == "headers_too_large"
    sock.close()


def test_too_many_header_fields_are_refused(server: tuple[str, int]) -> None:
    sock = _connect(server)
    fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(80))
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields + b"\r\n")
    status, _, body = _response(sock)
    assert status == 431 and _error_code(body) == "too_many_headers"
    sock.close()


def test_slow_head_is_timed_out(server: tuple[str, int]) -> None:
    """Found 4 (slowloris): a head sent a byte at a time used to hold the connection for as
    long as the client liked; now it gets ``header_timeout_s`` in all."""
    sock = _connect(server)
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    closed = False
    try:
        while time.monotonic() - started < PATIENCE_S:
            sock.sendall(b"X")
            if select.select([sock], [], [], 0.25)[0]:
                closed = True
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    held = time.monotonic() - started
    assert closed, f"connection still open after {held:.1f} s of a trickled head"
    assert held < HEADER_TIMEOUT_S + 3
    sock.close()


def test_silent_connection_is_closed(server: tuple[str, int]) -> None:
    sock = _connect(server)
    held = _closed_within(sock, PATIENCE_S)
    assert held is not None and held < HEADER_TIMEOUT_S + 3
    sock.close()


def test_stalled_body_is_timed_out(server: tuple[str, int]) -> None:
    sock = _connect(server)
    sock.sendall(b"POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"te")
    started = time.monotonic()
    status, _, body = _response(sock)
    assert status == 408 and _error_code(body) == "request_timeout"
    assert time.monotonic() - started < BODY_TIMEOUT_S + 3
    sock.close()


def test_server_still_answers_after_the_abuse(server: tuple[str, int]) -> None:
    sock = _connect(server)
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    status, headers, body = _response(sock)
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert headers["x-content-type-options"] == "nosniff"
    sock.close()
