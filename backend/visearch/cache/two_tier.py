"""Two-tier query cache: an in-process TTL/LRU (L1) in front of Redis (L2) shared by replicas.

Correctness rules:

* Result keys contain the collection version (see ``cache/base.py``). With Redis, the version
  lives in Redis and is read on every result lookup, so a write through any replica (which
  bumps it) makes every older page unreachable everywhere. Without Redis configured, a
  process-local counter does the same for the single process.
* The version key starts at a random value when it is missing, so a Redis that lost its data
  never repeats a version that an L1 entry somewhere was computed for.
* While Redis is configured but unreachable, no replica can know about the others' writes, so
  result pages are neither served nor stored; text embeddings (keyed by model and text, never
  stale) keep coming from L1. A bump that cannot reach Redis is retried at once and replayed
  on reconnection, and every replica bumps once when it reconnects.
* No call raises because Redis is gone: the link fails fast and backs off.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import redis
from cachetools import TTLCache
from prometheus_client import CollectorRegistry

from visearch.cache.base import CacheHealth, NullCache
from visearch.cache.link import RedisLink, redact_url
from visearch.cache.metrics import CacheMetrics
from visearch.config import Settings
from visearch.store.base import ScoredPoint

# Atomically read the version, creating it at a random start when missing.
_READ_VERSION = """
local v = redis.call('GET', KEYS[1])
if not v then
  v = ARGV[1]
  redis.call('SET', KEYS[1], v)
end
return v
"""
# Atomically bump the version (from a random start when missing).
_BUMP_VERSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
end
return redis.call('INCR', KEYS[1])
"""


def _random_start() -> int:
    return secrets.randbelow(2**48) + 1


def _dump_page(results: Sequence[ScoredPoint]) -> str:
    """A result page as compact JSON, the form both tiers keep (a hit never shares objects).

    Redis keeps it under ``<prefix>:cache:page:*``; the older ``res`` keys held another shape,
    so replicas of the two versions never read each other's pages.
    """
    rows = [[r.id, r.score, r.payload] for r in results]
    return json.dumps(rows, default=str, separators=(",", ":"))


def _load_page(text: str) -> list[ScoredPoint]:
    return [ScoredPoint(image_id, score, payload) for image_id, score, payload in json.loads(text)]


class _CountingTTLCache(TTLCache[str, Any]):
    """TTLCache that reports entries evicted for lack of room (not plain expiry)."""

    def __init__(self, maxsize: int, ttl: float, on_evict: Any) -> None:
        super().__init__(maxsize=maxsize, ttl=ttl)
        self._on_evict = on_evict

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self._on_evict()
        return item


class TwoTierCache:
    """Implements ``SearchCache``; safe to share between threads."""

    def __init__(
        self,
        *,
        l1_size: int = 10_000,
        ttl_s: float = 600.0,
        redis_url: str | None = None,
        redis_timeout_s: float = 0.25,
        prefix: str = "visearch",
        registry: CollectorRegistry | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.metrics = CacheMetrics(registry, redis=bool(redis_url))
        self._ttl_s = ttl_s
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._prefix = prefix
        self._lock = threading.Lock()
        self._l1 = _CountingTTLCache(
            l1_size, ttl_s, lambda: self.metrics.evictions.labels(tier="l1").inc()
        )
        self._local_version = 0
        self._version_key = f"{prefix}:cache:version"
        self._link: RedisLink | None = None
        if redis_url:
            up = self.metrics.redis_up
            assert up is not None
            self._link = RedisLink(
                redis_url,
                redis_timeout_s,
                on_error=self.metrics.redis_errors.inc,
                on_state=lambda ok: up.set(1 if ok else 0),
                on_recover=self._on_recover,
                backoff_initial_s=backoff_initial_s,
                backoff_max_s=backoff_max_s,
            )
            up.set(1)
            self._read_script = self._link.client.register_script(_READ_VERSION)
            self._bump_script = self._link.client.register_script(_BUMP_VERSION)

    # -- SearchCache --------------------------------------------------------------------

    def get_embedding(self, key: str) -> np.ndarray | None:
        l1_key = "e:" + key
        with self._lock:
            vec = self._l1.get(l1_key)
        self.metrics.lookup("embedding", "l1", vec is not None)
        if vec is not None:
            return np.array(vec, copy=True)
        if self._link is None:
            return None
        ok, raw = self._link.call(lambda r: r.get(self._redis_key("emb", key)))
        if not ok:
            return None
        self.metrics.lookup("embedding", "l2", raw is not None)
        if raw is None:
            return None
        vec = np.frombuffer(raw, dtype=np.float32).copy()  # type: ignore[arg-type]
        with self._lock:
            self._l1[l1_key] = vec
        return np.array(vec, copy=True)

    def set_embedding(self, key: str, vector: np.ndarray) -> None:
        vec = np.asarray(vector, dtype=np.float32).copy()
        with self._lock:
            self._l1["e:" + key] = vec
        if self._link is not None:
            data = vec.tobytes()
            self._link.call(lambda r: r.set(self._redis_key("emb", key), data, px=self._ttl_ms))

    def get_results(self, key: str) -> list[ScoredPoint] | None:
        if self._link is not None and not self._link.up:
            # Other replicas' writes cannot be seen now: a page could be stale.
            self.metrics.lookup("result", "l1", False)
            return None
        l1_key = "r:" + key
        with self._lock:
            value = self._l1.get(l1_key)
        self.metrics.lookup("result", "l1", value is not None)
        if value is not None:
            return _load_page(value)
        if self._link is None:
            return None
        ok, raw = self._link.call(lambda r: r.get(self._redis_key("page", key)))
        if not ok:
            return None
        self.metrics.lookup("result", "l2", raw is not None)
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        with self._lock:
            self._l1[l1_key] = text
        return _load_page(text)

    def set_results(self, key: str, results: Sequence[ScoredPoint]) -> None:
        if self._link is not None and not self._link.up:
            return
        text = _dump_page(results)
        with self._lock:
            self._l1["r:" + key] = text
        if self._link is not None:
            self._link.call(lambda r: r.set(self._redis_key("page", key), text, px=self._ttl_ms))

    def version(self) -> int:
        if self._link is None:
            return self._local_version
        ok, value = self._link.call(
            lambda r: self._read_script(keys=[self._version_key], args=[_random_start()])
        )
        if ok and value is not None:
            return int(value)
        return self._local_version

    def bump_version(self) -> None:
        with self._lock:
            self._local_version += 1
        if self._link is None:
            return
        # Forced: a write must invalidate the other replicas' pages if Redis answers at all.
        # If it fails, the bump every replica makes on reconnection covers this write.
        self._link.call(
            lambda r: self._bump_script(keys=[self._version_key], args=[_random_start()]),
            force=True,
        )

    def status(self) -> dict[str, Any]:
        with self._lock:
            entries = len(self._l1)
        out: dict[str, Any] = {
            "enabled": True,
            "status": "ok",
            "degraded": False,
            "l1": {"entries": entries, "max_entries": self._l1.maxsize, "ttl_s": self._ttl_s},
            "redis": {"configured": self._link is not None},
        }
        if self._link is not None:
            self._link.call(lambda r: r.ping())  # lets /ready notice a recovery
            out["redis"].update(up=self._link.up, url=redact_url(self._link.url))
            if not self._link.up:
                out["status"] = "degraded"
                out["degraded"] = True
                out["redis"]["error"] = self._link.last_error
        return out

    def health(self) -> CacheHealth:
        return "degraded" if self._link is not None and not self._link.up else "ok"

    def close(self) -> None:
        if self._link is not None:
            self._link.close()

    # -- helpers ------------------------------------------------------------------------

    def clear_local(self) -> None:
        """Drop every L1 entry (tests, benchmarks)."""
        with self._lock:
            self._l1.clear()

    def _redis_key(self, kind: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self._prefix}:cache:{kind}:{digest}"

    def _on_recover(self, client: redis.Redis) -> None:
        """Back after an outage: any replica may have written meanwhile, so bump."""
        self._bump_script(keys=[self._version_key], args=[_random_start()], client=client)


def build_cache(
    settings: Settings, registry: CollectorRegistry | None = None
) -> TwoTierCache | NullCache:
    """The cache the service uses: L1 always, L2 when ``VISEARCH_REDIS_URL`` is set;
    a ``NullCache`` when ``VISEARCH_CACHE_ENABLED=false``."""
    if not settings.cache_enabled:
        return NullCache()
    return TwoTierCache(
        l1_size=settings.cache_l1_size,
        ttl_s=settings.cache_ttl_s,
        redis_url=settings.redis_url,
        redis_timeout_s=settings.redis_timeout_s,
        prefix=settings.redis_prefix,
        registry=registry,
    )
