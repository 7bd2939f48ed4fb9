"""The request context: request id, access log, latency and in-flight metrics, and the last
word on unexpected errors. Plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``).

Plain ASGI because the response passes straight through: the app's ``http.response.start``
and body go out in the same event-loop iteration, as the app sent them, instead of through a
memory stream that lets the headers leave a loop turn (or more) before the body. A replica
killed mid-response then leaves a whole answer or none, which a balancer can retry
(docs/scaling.md); and contextvars and background tasks behave as without middleware.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visearch.api import API_PREFIX
from visearch.api.errors import internal_error

log = structlog.get_logger(__name__)
#: A client's X-Request-ID is kept only when it looks like one (it goes into every log line);
#: HAProxy applies the same rule.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when it is well-formed, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def route_label(scope: Scope) -> str:
    """The matched route template (bounded label cardinality), prefix included."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    template: str = getattr(route, "path", "")
    full: str = scope.get("path", "")
    if template.startswith(API_PREFIX) or not full.startswith(API_PREFIX):
        return template
    return API_PREFIX + template


class RequestContext:
    """Binds the request id to the log context and echoes it; counts requests in flight and
    observes ``visearch_http_request_duration_seconds{method,route,status}`` (time until the
    response is complete); logs one line per request; answers an exception nothing else
    handled with the JSON 500 (with its request id and metrics) while no response has started.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        tokens = structlog.contextvars.bind_contextvars(request_id=rid)
        runtime: Any = getattr(scope["app"].state, "runtime", None) if "app" in scope else None
        metrics = runtime.metrics if runtime is not None else None
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        started = time.perf_counter()
        if metrics is not None:
            metrics.in_flight.inc()
        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if started_response:  # too late for an answer: the server closes the connection
                    log.error("error_after_response_started", error=repr(exc), exc_info=exc)
                    raise
                # Answered here, not by the server: the 500 gets its request id and metrics,
                # and the connection stays usable.
                await internal_error(exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = route_label(scope)
            if metrics is not None:
                metrics.in_flight.dec()
                metrics.request_latency.labels(scope["method"], path, str(status)).observe(elapsed)
            if not path.startswith("/metrics"):
                log.info("request", method=scope["method"], path=scope["path"], status=status,
                         ms=round(elapsed * 1000, 1))
            structlog.contextvars.reset_contextvars(**tokens)
