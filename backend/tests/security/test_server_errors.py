"""An unexpected error (a bug, not bad input) answers a JSON 500 that carries its
``X-Request-ID`` (the key to the log line with the details), and the connection stays
usable: over a raw socket on a real uvicorn server, the next request on the same
connection is answered."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.support.server import app_server
from visearch.api.app import create_app
from visearch.runtime import Runtime


def _exchange(sock: socket.socket, path: str, request_id: str) -> tuple[int, dict[str, str], bytes]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: {request_id}\r\n\r\n"
                 .encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        body += chunk
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("failure", [RuntimeError("a bug"), UnicodeEncodeError(
    "utf-8", "\ud800", 0, 1, "surrogates not allowed")])
def test_a_500_has_its_request_id_and_keeps_the_connection(
    runtime: Runtime, failure: Exception
) -> None:
    app = create_app(runtime=runtime)

    async def broken() -> Any:
        raise failure

    app.add_api_route("/api/v1/broken", broken)
    app.router.routes.insert(0, app.router.routes.pop())  # before the web UI's catch-all mount
    with app_server(app) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            status, headers, body = _exchange(sock, "/api/v1/broken", "req-500")
            assert status == 500
            assert headers.get("x-request-id") == "req-500"
            assert headers.get("connection", "").lower() != "close"
            assert json.loads(body)["error"] == {
                "code": "internal_error", "message": "unexpected server error; see the logs"}
            status, headers, _ = _exchange(sock, "/api/v1/health", "req-next")
            assert status == 200 and headers.get("x-request-id") == "req-next"
