"""ASGI middleware that guards every request before (and while) the app reads it, and every
response on its way out. Plain ASGI, so nothing is buffered and the body is judged as it
streams (chunked bodies included), whatever balancer is or is not in front.

- ``RequestGuard``: the ``Host`` must be one the server answers to (DNS rebinding); a request
  that changes something (POST, PUT, PATCH, DELETE) from a foreign ``Origin`` is refused (a
  multipart form from another site needs no CORS preflight); at most ``max_headers`` header
  fields; the body at most its limit, counted as it arrives, and never idle for longer than
  ``body_timeout_s``.
- ``SecurityHeaders``: CSP, ``nosniff``, framing and referrer rules on every response.

Header size and the time to send the head are the HTTP server's part (``api/server.py``).
"""

from __future__ import annotations

import asyncio
import json
import math
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visearch.config import Settings
from visearch.security.exposure import host_allowed, host_patterns

#: The web UI and Swagger UI load only their own scripts and styles; images may be data: or
#: blob: URLs (query previews); nothing may frame the pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Stored originals: never a document, whatever bytes they hold.
FILE_CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def json_limit(settings: Settings) -> int:
    """A JSON body: one image as base64 (4/3 of its bytes) plus room for the other fields."""
    return math.ceil(settings.max_upload_bytes / 3) * 4 + 1024 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the {limit}-byte limit",
                         headers={"Connection": "close"})


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body stalled for over {seconds:g} s",
                         headers={"Connection": "close"})


async def _reply(send: Send, status: int, code: str, message: str, close: bool = False) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _same_origin(origin: str, host: str) -> bool:
    """Whether ``Origin`` names the host (and port, when the ``Host`` has one) asked for."""
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return False
    try:
        origin_port = parts.port or _DEFAULT_PORTS[parts.scheme]
        target = urlsplit(f"//{host}")
        target_name, target_port = target.hostname, target.port
    except ValueError:
        return False
    if target_name != parts.hostname:
        return False
    return target_port is None or target_port == origin_port


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = host_patterns(settings)
        self.origins = frozenset(settings.allowed_origins)
        self.max_headers = settings.max_headers
        self.json_limit = json_limit(settings)
        self.multipart_limit = settings.max_request_bytes
        self.body_timeout_s = settings.body_timeout_s

    def _foreign(self, headers: dict[bytes, bytes]) -> bool:
        origin = headers.get(b"origin")
        if origin is None:  # not a browser, or an old one: Sec-Fetch-Site still tells
            return headers.get(b"sec-fetch-site", b"") in (b"cross-site", b"same-site")
        text = origin.decode("latin-1")
        if text in self.origins or "*" in self.origins:
            return False
        return not _same_origin(text, headers.get(b"host", b"").decode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope["headers"]
        if len(raw) > self.max_headers:
            await _reply(send, 431, "too_many_headers",
                         f"over {self.max_headers} header fields", close=True)
            return
        headers = dict(raw)
        host = headers.get(b"host")
        if host is not None and not host_allowed(host.decode("latin-1"), self.hosts):
            await _reply(send, 400, "invalid_host",
                         "this server does not answer to that Host (see VISEARCH_ALLOWED_HOSTS)")
            return
        if scope["method"] in STATE_CHANGING and self._foreign(headers):
            await _reply(send, 403, "cross_origin", "requests that change data must come from "
                         "this site (see VISEARCH_ALLOWED_ORIGINS)")
            return
        is_multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.multipart_limit if is_multipart else self.json_limit
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await _reply(send, 413, "too_large", f"request body over the {limit}-byte limit",
                         close=True)
            return
        await self.app(scope, self._guarded(receive, limit), send)

    def _guarded(self, receive: Receive, limit: int) -> Receive:
        """``receive`` that counts the body and times out between its parts; once the body is
        complete it passes messages through untouched (disconnect listeners wait freely)."""
        received = 0
        complete = False

        async def guarded() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                raise BodyTimeout(self.body_timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return guarded


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
