"""The HTTP server for ``visearch serve``: uvicorn with limits of its own.

uvicorn's h11 protocol, because it bounds the request head (``h11_max_incomplete_event_size``:
request line plus headers, so a 64 MB header is refused at ``max_header_bytes``); httptools
buffers any size. On top of it ``GuardedH11Protocol`` gives a client ``header_timeout_s`` to
send a complete head (uvicorn has no such timer: a connection that sends nothing, or one byte
at a time, was held forever — slowloris), and answers malformed or oversized heads in the
API's JSON error shape. Body size and pace are judged by ``api/guards.py``.

``DrainingServer`` makes SIGTERM a graceful drain for rolling restarts behind a balancer:
``/ready`` turns 503 ``draining`` at once, requests are still served for
``VISEARCH_DRAIN_GRACE_S`` (HAProxy's checks take the replica out meanwhile: fall 3 x inter
2 s), then uvicorn stops accepting and gives requests in flight ``VISEARCH_DRAIN_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import h11
import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from visearch.config import Settings

log = structlog.get_logger(__name__)


def _raw_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """h11 plus a deadline for each request head, and JSON answers to bad heads."""

    header_timeout_s = 10.0  # set per server by ``server_config``

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # a new request head starts (or goes on)
            self._arm_head_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is complete
            self._disarm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_raw_response(
                408, "Request Timeout", "request_timeout",
                f"the request head took over {self.header_timeout_s:g} s"))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A malformed head, or one over the size limit (h11 keeps the bytes it refused)."""
        too_long = len(self.conn.trailing_data[0]) > (self.config.h11_max_incomplete_event_size
                                                       or 0)
        if too_long:
            raw = _raw_response(431, "Request Header Fields Too Large", "headers_too_large",
                                "the request line and headers are over the size limit")
        else:
            raw = _raw_response(400, "Bad Request", "bad_request", "invalid HTTP request")
        self.transport.write(raw)
        self.transport.close()


def server_config(app: Any, settings: Settings, host: str | None = None,
                  port: int | None = None) -> uvicorn.Config:
    """uvicorn's settings for ``app``: the guarded protocol, head size, keep-alive, proxies."""
    protocol = type("ServerH11Protocol", (GuardedH11Protocol,),
                    {"header_timeout_s": settings.header_timeout_s})
    return uvicorn.Config(
        app, host=host or settings.host, port=settings.port if port is None else port,
        http=protocol, h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout_s)),
        forwarded_allow_ips=settings.forwarded_allow_ips, proxy_headers=True,
        log_config=None, access_log=False,
        timeout_graceful_shutdown=math.ceil(settings.drain_timeout_s),
    )


class DrainingServer(uvicorn.Server):
    """uvicorn whose first SIGTERM drains: ``on_drain`` runs at once (``/ready`` turns 503),
    requests are served as usual for ``grace_s``, then uvicorn's graceful shutdown follows
    (stop accepting, let requests in flight finish). SIGINT, a second SIGTERM, or a grace of
    0 stop at once, as plain uvicorn does."""

    def __init__(self, config: uvicorn.Config, grace_s: float,
                 on_drain: Callable[[], None]) -> None:
        super().__init__(config)
        self.grace_s = grace_s
        self.on_drain = on_drain
        self.drain_until: float | None = None
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if (sig == signal.SIGTERM and self.drain_until is None and self.grace_s > 0
                and not self.should_exit):
            self.drain_until = time.monotonic() + self.grace_s
            self.on_drain()  # sets a flag; logging waits for the loop (not in a signal handler)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None:
            if not self._drain_logged:
                self._drain_logged = True
                log.info("draining", grace_s=self.grace_s,
                         timeout_s=self.config.timeout_graceful_shutdown)
            if time.monotonic() >= self.drain_until:
                self.should_exit = True
        return await super().on_tick(counter)


def serve(app: Any, settings: Settings) -> None:
    """Run ``app`` until interrupted: SIGTERM drains first (``DrainingServer``), SIGINT
    finishes requests in flight."""

    def drain() -> None:
        app.state.draining = True

    DrainingServer(server_config(app, settings), settings.drain_grace_s, drain).run()
