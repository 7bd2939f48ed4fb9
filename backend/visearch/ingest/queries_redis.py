"""Query images in Redis, for replicas behind a balancer: ``POST /queries`` may land on one
replica and the search by that id on another, so with ``VISEARCH_REDIS_URL`` set every replica
keeps them in the shared Redis instead of its own data dir (``QueryImages.from_settings``).

One key per image, ``<prefix>:query:<id>``, holding the bytes, expiring ``ttl_s`` after it was
last stored (Redis drops it by itself). Images over ``max_bytes`` are refused; size Redis for
the query images of a week (or run it with ``maxmemory`` and ``maxmemory-policy volatile-lru``:
only keys with a lifetime are evicted, never the cache version).
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from visearch.cache.link import REDIS_DOWN_ERRORS, make_client, redact_url
from visearch.errors import VisearchError
from visearch.ingest.queries import QUERY_TTL_S, QueryImages, is_query_id

if TYPE_CHECKING:
    from visearch.config import Settings

#: Socket timeout for query images: a whole image goes over the wire, not a cache entry.
MIN_TIMEOUT_S = 5.0


class QueryStoreUnavailableError(VisearchError, code="query_store_unavailable", status=503):
    """Redis, where the query images live, cannot be reached."""


class RedisQueryImages(QueryImages):
    """``QueryImages`` in Redis, shared by every replica (same ids, same expiry rule)."""

    def __init__(self, url: str, *, prefix: str = "visearch", ttl_s: float = QUERY_TTL_S,
                 timeout_s: float = MIN_TIMEOUT_S, max_bytes: int = 25 * 1024 * 1024) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._prefix = f"{prefix}:query:"
        self._client = make_client(url, max(timeout_s, MIN_TIMEOUT_S))

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryImages:
        assert settings.redis_url
        return cls(settings.redis_url, prefix=settings.redis_prefix,
                   timeout_s=settings.redis_timeout_s, max_bytes=settings.max_upload_bytes)

    def put(self, data: bytes) -> tuple[str, float]:
        if len(data) > self.max_bytes:
            raise VisearchError(f"query image over {self.max_bytes} bytes", code="too_large",
                                status=413)
        query_id = hashlib.sha256(data).hexdigest()[:32]
        try:
            self._client.set(self._prefix + query_id, data, px=int(self.ttl_s * 1000))
        except REDIS_DOWN_ERRORS as exc:
            raise self._down(exc) from None
        return query_id, time.time() + self.ttl_s

    def get(self, query_id: str) -> tuple[bytes, float] | None:
        if not is_query_id(query_id):
            return None
        try:
            key = self._prefix + query_id
            with self._client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                data, left_ms = pipe.execute()
        except REDIS_DOWN_ERRORS as exc:
            raise self._down(exc) from None
        if data is None:
            return None
        return bytes(data), time.time() + max(int(left_ms), 0) / 1000

    def sweep(self) -> int:
        return 0  # Redis expires the keys itself

    def close(self) -> None:
        self._client.close()

    def _down(self, exc: Exception) -> QueryStoreUnavailableError:
        return QueryStoreUnavailableError(
            f"query images are kept in Redis ({redact_url(self.url)}), which cannot be reached "
            f"right now ({type(exc).__name__}); search by the image itself, or retry shortly"
        )
