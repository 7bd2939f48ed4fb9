"""Budgets per client for searching and for indexing, kept by the ``limits`` library.

Each budget is one or more rates (``20/second;600/minute``): a burst allowance and a sustained
rate, the two knobs of a token bucket. ``limits`` counts them in a moving window (at most N
hits in any window of that length), which answers exactly when the next hit is allowed: the
``Retry-After`` of a 429. With ``VISEARCH_REDIS_URL`` the windows live in Redis, so replicas
share one budget per client; while Redis is unreachable each replica falls back to its own
in-process windows (the limit still holds per replica, and searching never depends on Redis).
"""

from __future__ import annotations

import math
import time
from typing import Literal

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from visearch.config import Settings

log = structlog.get_logger(__name__)
Budget = Literal["search", "index"]
_REDIS_RETRY_S = 5.0


def _redis_storage(settings: Settings) -> Storage | None:
    url = settings.redis_url
    if not url:
        return None
    uri = url.replace("unix://", "redis+unix://", 1) if url.startswith("unix://") else url
    return RedisStorage(
        f"async+{uri}", wrap_exceptions=True, implementation="redispy",
        key_prefix=f"{settings.redis_prefix}:ratelimit",
        socket_timeout=settings.redis_timeout_s, socket_connect_timeout=settings.redis_timeout_s,
    )


class Budgets:
    """``charge(budget, client)``: None when allowed, else the seconds until it will be."""

    def __init__(self, settings: Settings) -> None:
        self.rates: dict[Budget, list[RateLimitItem]] = {
            "search": parse_many(settings.rate_limit_search),
            "index": parse_many(settings.rate_limit_index),
        }
        self._local = MovingWindowRateLimiter(MemoryStorage())
        shared = _redis_storage(settings)
        self._shared = MovingWindowRateLimiter(shared) if shared is not None else None
        self._shared_down_until = 0.0

    @property
    def shared(self) -> bool:
        return self._shared is not None

    async def charge(self, budget: Budget, client: str, cost: int = 1) -> float | None:
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                return await self._charge(self._shared, budget, client, cost)
            except Exception as exc:  # Redis down or misbehaving: never fail the request
                self._shared_down_until = time.monotonic() + _REDIS_RETRY_S
                cause = exc.storage_error if isinstance(exc, StorageError) else exc
                log.warning("rate_limit_redis_down", error=repr(cause))
        return await self._charge(self._local, budget, client, cost)

    async def _charge(self, limiter: MovingWindowRateLimiter, budget: Budget, client: str,
                      cost: int) -> float | None:
        items = self.rates[budget]
        for item in items:
            if not await limiter.test(item, budget, client, cost=cost):
                stats = await limiter.get_window_stats(item, budget, client)
                return max(1.0, math.ceil(stats.reset_time - time.time()))
        for item in items:
            await limiter.hit(item, budget, client, cost=cost)
        return None
