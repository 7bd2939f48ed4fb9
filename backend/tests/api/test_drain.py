"""SIGTERM drains a real `visearch serve`: /ready turns 503 draining at once, requests are
still served through the grace period, a request in flight when it ends is finished, then the
process exits by itself (a rolling restart behind HAProxy loses nothing: tests/infra)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx

from tests.support.server import running_server

GRACE_S = 3.0


def test_sigterm_drains_then_finishes_in_flight_requests(tmp_path: Path, tiny_clip_dir: Path) -> None:
    env = {"VISEARCH_MODEL": str(tiny_clip_dir), "VISEARCH_MODEL_FALLBACK": "",
           "VISEARCH_DEVICE": "cpu", "VISEARCH_DATA_DIR": str(tmp_path / "data"),
           "VISEARCH_DRAIN_GRACE_S": str(GRACE_S), "VISEARCH_DRAIN_TIMEOUT_S": "20",
           "VISEARCH_BODY_TIMEOUT_S": "10"}
    with running_server(env, tmp_path / "server.log") as (base, proc):
        assert httpx.get(f"{base}/api/v1/ready", timeout=10).status_code == 200
        host, port = base.removeprefix("http://").split(":")
        body = json.dumps({"text": "a red dress", "top_k": 3}).encode()
        slow = socket.create_connection((host, int(port)), timeout=30)
        # A request in flight across the end of the grace period: its head now, its body later.
        slow.sendall(b"POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body[:5])
        os.killpg(proc.pid, signal.SIGTERM)
        signalled = time.monotonic()
        ready = httpx.get(f"{base}/api/v1/ready", timeout=10)
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        searched = httpx.post(f"{base}/api/v1/search", json={"text": "a hat"}, timeout=10)
        assert searched.status_code == 200  # still serving while the balancer takes it out
        assert time.monotonic() - signalled < GRACE_S
        time.sleep(GRACE_S + 0.5)  # the grace is over: the server stops accepting...
        assert proc.poll() is None  # ...but waits for the request in flight
        slow.sendall(body[5:])
        answer = b""
        while not answer.endswith(b"}"):
            chunk = slow.recv(65536)
            assert chunk, answer
            answer += chunk
        slow.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - signalled >= GRACE_S

