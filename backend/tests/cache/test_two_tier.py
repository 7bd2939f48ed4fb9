"""The two-tier cache with a real Redis: sharing, version invalidation, outages, metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from tests.support.jobs import (
    RedisProcess,
    closed_port_url,
    redis_url_or_skip,
    unique_prefix,
)
from visearch.cache import NullCache, TwoTierCache, build_cache
from visearch.config import load_settings
from visearch.store.base import ScoredPoint


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _cache(registry: CollectorRegistry | None = None, **kw: object) -> TwoTierCache:
    return TwoTierCache(registry=registry or CollectorRegistry(), **kw)  # type: ignore[arg-type]


def _page(tag: object) -> list[ScoredPoint]:
    """A small result page whose payload says which page it is."""
    return [ScoredPoint("a", 0.5, {"page": tag, "metadata": {"k": [1, 2]}}), ScoredPoint("b", 0.25)]


def test_l1_only_round_trips_and_versions() -> None:
    reg = CollectorRegistry()
    cache = _cache(reg, l1_size=10)
    vec = np.arange(4, dtype=np.float32)
    assert cache.get_embedding("emb:m:a dog") is None
    cache.set_embedding("emb:m:a dog", vec)
    got = cache.get_embedding("emb:m:a dog")
    assert got is not None and np.array_equal(got, vec)
    got[0] = 99  # callers may not corrupt the cached copy
    again = cache.get_embedding("emb:m:a dog")
    assert again is not None and again[0] == 0

    cache.set_results("res:1", _page(1))
    hit = cache.get_results("res:1")
    assert hit == _page(1) and all(isinstance(p, ScoredPoint) for p in hit)
    hit[0].payload["page"] = "changed"  # callers may not corrupt the cached page
    assert cache.get_results("res:1") == _page(1)
    v = cache.version()
    cache.bump_version()
    assert cache.version() == v + 1
    assert cache.status()["status"] == "ok"
    assert cache.status()["redis"] == {"configured": False}
    assert cache.health() == "ok"
    assert _sample(reg, "visearch_cache_requests_total", kind="embedding", tier="l1",
                   outcome="hit") == 2
    assert _sample(reg, "visearch_cache_requests_total", kind="embedding", tier="l1",
                   outcome="miss") == 1


def test_l1_is_bounded_and_counts_evictions() -> None:
    reg = CollectorRegistry()
    cache = _cache(reg, l1_size=3)
    for i in range(5):
        cache.set_results(f"res:{i}", _page(i))
    assert cache.status()["l1"]["entries"] == 3
    assert _sample(reg, "visearch_cache_evictions_total", tier="l1") == 2
    assert cache.get_results("res:0") is None
    assert cache.get_results("res:4") == _page(4)


def test_metrics_on_one_registry_twice_do_not_clash() -> None:
    reg = CollectorRegistry()
    a, b = _cache(reg), _cache(reg)
    a.get_embedding("x")
    b.get_embedding("x")
    assert _sample(reg, "visearch_cache_requests_total", kind="embedding", tier="l1",
                   outcome="miss") == 2


def test_build_cache_follows_settings(tmp_path: Path) -> None:
    off = build_cache(load_settings(data_dir=tmp_path, cache_enabled=False), CollectorRegistry())
    assert isinstance(off, NullCache) and off.health() == "disabled"
    on = build_cache(load_settings(data_dir=tmp_path, cache_l1_size=7), CollectorRegistry())
    assert isinstance(on, TwoTierCache)
    assert on.status()["l1"]["max_entries"] == 7


def test_unreachable_redis_degrades_without_errors() -> None:
    """Redis configured but down: nothing raises, results bypass, embeddings stay in L1,
    and the outage costs one failed call per backoff period, not one per request."""
    reg = CollectorRegistry()
    cache = _cache(reg, redis_url=closed_port_url("redis"), backoff_initial_s=60)
    vec = np.ones(3, dtype=np.float32)
    cache.set_embedding("emb:k", vec)  # fails on Redis, kept in L1
    status = cache.status()
    assert status["status"] == "degraded" and cache.health() == "degraded"
    assert status["redis"]["up"] is False and status["redis"]["error"]
    got = cache.get_embedding("emb:k")
    assert got is not None and np.array_equal(got, vec)
    cache.set_results("res:k", _page(1))
    assert cache.get_results("res:k") is None  # a page could be stale: not served
    for _ in range(20):
        cache.version()
        cache.get_embedding("emb:other")
    errors = _sample(reg, "visearch_cache_redis_errors_total")
    assert errors == 1
    cache.bump_version()  # a write always tries Redis once more
    assert _sample(reg, "visearch_cache_redis_errors_total") == 2
    assert _sample(reg, "visearch_cache_redis_up") == 0


@pytest.mark.external
def test_replicas_share_l2_and_never_serve_older_versions() -> None:
    url = redis_url_or_skip()
    prefix = unique_prefix()
    reg_a, reg_b = CollectorRegistry(), CollectorRegistry()
    a = _cache(reg_a, redis_url=url, prefix=prefix)
    b = _cache(reg_b, redis_url=url, prefix=prefix)
    try:
        a.set_embedding("emb:m:cat", np.full(8, 0.5, np.float32))
        got = b.get_embedding("emb:m:cat")
        assert got is not None and np.allclose(got, 0.5)
        assert _sample(reg_b, "visearch_cache_requests_total", kind="embedding", tier="l2",
                       outcome="hit") == 1

        v = a.version()
        assert b.version() == v
        a.set_results(f"res:q:{v}", _page("old"))
        assert b.get_results(f"res:q:{b.version()}") == _page("old")  # through L2, now in B's L1
        assert _sample(reg_b, "visearch_cache_requests_total", kind="result", tier="l2",
                       outcome="hit") == 1
        a.bump_version()  # a write through replica A
        v2 = b.version()
        assert v2 == v + 1
        assert b.get_results(f"res:q:{v2}") is None
    finally:
        _cleanup(url, prefix)
        a.close()
        b.close()


@pytest.mark.external
def test_lost_redis_data_never_repeats_a_version() -> None:
    """A Redis restarted empty must not hand out a version an L1 entry was computed for."""
    url = redis_url_or_skip()
    prefix = unique_prefix()
    cache = _cache(redis_url=url, prefix=prefix)
    try:
        cache.bump_version()
        before = cache.version()
        _cleanup(url, prefix)  # as if Redis came back without its data
        after = cache.version()
        assert after != before
    finally:
        _cleanup(url, prefix)
        cache.close()


@pytest.mark.external
def test_recovers_by_itself_and_invalidates_after_an_outage(tmp_path: Path) -> None:
    redis_url_or_skip()
    server = RedisProcess(tmp_path / "redis")
    server.start()
    reg = CollectorRegistry()
    cache = _cache(reg, redis_url=server.url, backoff_initial_s=0.05, backoff_max_s=0.2)
    try:
        v = cache.version()
        cache.set_results(f"res:{v}", _page(1))
        server.stop()
        assert cache.get_results(f"res:{cache.version()}") is None  # Redis just went away
        assert cache.status()["status"] == "degraded"
        server.start()
        _wait_until(lambda: cache.status()["status"] == "ok")
        # Some replica may have written while Redis was away: the old page is unreachable.
        assert cache.version() != v
        assert _sample(reg, "visearch_cache_redis_up") == 1
    finally:
        cache.close()
        server.stop()


def test_redis_up_is_not_exported_without_redis() -> None:
    """A deployment without Redis has no Redis to be down (VisearchCacheDegraded would fire)."""
    reg = CollectorRegistry()
    cache = _cache(reg)
    cache.version()
    assert reg.get_sample_value("visearch_cache_redis_up") is None
    assert b"visearch_cache_redis_up" not in generate_latest(reg)


def test_redis_up_follows_a_live_redis(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis")  # skips when redis-server is not installed
    server.start()
    reg = CollectorRegistry()
    cache = _cache(reg, redis_url=server.url, backoff_initial_s=0.05, backoff_max_s=0.2)
    try:
        cache.version()
        assert b"visearch_cache_redis_up 1.0" in generate_latest(reg)
        server.stop()
        cache.version()  # the first call after the outage notices it
        assert b"visearch_cache_redis_up 0.0" in generate_latest(reg)
    finally:
        cache.close()
        server.stop()


def _wait_until(cond: Callable[[], bool], attempts: int = 200) -> None:
    for _ in range(attempts):
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def _cleanup(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
