"""Prometheus metrics of the two-tier cache.

Metrics go on the registry the caller passes (one per application, so several apps can live
in one test process), or on the default registry; registering twice on one registry reuses
the collectors already there instead of failing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

C = TypeVar("C", Counter, Gauge)


def get_or_create(
    cls: type[C], name: str, doc: str, labels: tuple[str, ...], registry: CollectorRegistry
) -> C:
    """The collector called ``name`` on ``registry``, created on first use."""
    try:
        return cls(name, doc, labels, registry=registry)
    except ValueError:  # already registered on this registry
        # prometheus_client keeps no public lookup; this mapping has been stable for years.
        names: dict[str, Any] = registry._names_to_collectors
        existing = names.get(name) or names.get(f"{name}_total")
        if not isinstance(existing, cls):
            raise
        return existing


class CacheMetrics:
    """Hits and misses per tier and kind, L1 evictions, Redis errors and, where Redis is
    configured, its health (a deployment without Redis has no ``redis_up`` to alert on)."""

    def __init__(self, registry: CollectorRegistry | None = None, redis: bool = False) -> None:
        reg = registry if registry is not None else REGISTRY
        self.requests = get_or_create(
            Counter, "visearch_cache_requests", "Cache lookups by kind, tier and outcome",
            ("kind", "tier", "outcome"), reg,
        )
        self.evictions = get_or_create(
            Counter, "visearch_cache_evictions", "Entries evicted from a tier because it was full",
            ("tier",), reg,
        )
        self.redis_errors = get_or_create(
            Counter, "visearch_cache_redis_errors", "Failed Redis calls of the cache", (), reg
        )
        self.redis_up = get_or_create(
            Gauge, "visearch_cache_redis_up", "1 when the shared cache tier (Redis) answers",
            (), reg,
        ) if redis else None

    def lookup(self, kind: str, tier: str, hit: bool) -> None:
        self.requests.labels(kind=kind, tier=tier, outcome="hit" if hit else "miss").inc()
