"""A Redis connection that may be down: calls fail fast, the outage is logged once, and the
link retries by itself with exponential backoff.

While the link is backing off, calls are not even attempted (no request pays a timeout);
once the backoff has passed, the next call tries again and, on success, ``on_recover`` runs
before the result is returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: What counts as "Redis is unavailable" (not a bug in our call).
REDIS_DOWN_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.ReadOnlyError,
    OSError,
)


def redact_url(url: str) -> str:
    """The URL without its password, for logs and status."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def make_client(url: str, timeout_s: float) -> redis.Redis:
    """A client that never retries on its own: the link decides when to try again."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=30,
    )


class RedisLink:
    def __init__(
        self,
        url: str,
        timeout_s: float,
        *,
        on_error: Callable[[], None] | None = None,
        on_state: Callable[[bool], None] | None = None,
        on_recover: Callable[[redis.Redis], None] | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.client = make_client(url, timeout_s)
        self._on_error = on_error
        self._on_state = on_state
        self._on_recover = on_recover
        self._initial = backoff_initial_s
        self._max = backoff_max_s
        self._clock = clock
        self._lock = threading.Lock()
        self._up = True
        self._backoff = 0.0
        self._retry_at = 0.0
        self._last_error = ""

    @property
    def up(self) -> bool:
        return self._up

    @property
    def last_error(self) -> str:
        return self._last_error

    def usable(self) -> bool:
        """False while backing off after a failure."""
        return self._up or self._clock() >= self._retry_at

    def call(self, op: Callable[[redis.Redis], T], *, force: bool = False) -> tuple[bool, T | None]:
        """Run ``op`` on the client: ``(True, value)``, or ``(False, None)`` if Redis is down.

        ``force`` tries even while backing off (for writes that must reach Redis if at all
        possible, such as a version bump).
        """
        if not force and not self.usable():
            return False, None
        was_up = self._up
        try:
            value = op(self.client)
            if not was_up and self._on_recover is not None:
                self._on_recover(self.client)
        except REDIS_DOWN_ERRORS as exc:
            self._failed(exc)
            return False, None
        if not was_up:
            self._recovered()
        return True, value

    def _failed(self, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error()
        with self._lock:
            first = self._up
            self._up = False
            self._backoff = self._initial if first else min(self._backoff * 2, self._max)
            self._retry_at = self._clock() + self._backoff
            self._last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.warning("redis_down", url=redact_url(self.url), error=self._last_error,
                        retry_in_s=self._backoff)
            if self._on_state is not None:
                self._on_state(False)

    def _recovered(self) -> None:
        with self._lock:
            if self._up:
                return
            self._up = True
            self._backoff = 0.0
            self._last_error = ""
        log.info("redis_recovered", url=redact_url(self.url))
        if self._on_state is not None:
            self._on_state(True)

    def close(self) -> None:
        self.client.close()
