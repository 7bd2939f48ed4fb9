"""The API with real Redis and RabbitMQ: replicas sharing the cache, Redis taken away during
searches, and job submission while RabbitMQ is down."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kombu import Connection
from prometheus_client import CollectorRegistry

from tests.support.clip import DATA_DIR
from tests.support.jobs import (
    ManagedRabbitMQ,
    RedisProcess,
    broker_url_or_skip,
    image_b64,
    redis_url_or_skip,
    unique_prefix,
)
from visearch.api.app import create_app
from visearch.cache import build_cache
from visearch.config import Settings, load_settings
from visearch.metrics import Metrics
from visearch.runtime import Runtime
from visearch.services.indexing import Indexer
from visearch.services.search import Searcher

pytestmark = pytest.mark.external

IMAGES = sorted((DATA_DIR / "clothing10" / "images" / "train" / "shoes").glob("*.jpg"))[:12]


def _settings(tmp_path: Path, tiny_clip_dir: Path, **kw: object) -> Settings:
    values: dict[str, object] = {
        "model": str(tiny_clip_dir), "model_fallback": "", "device": "cpu",
        "data_dir": tmp_path / "data", "batch_size": 8, "broker_url": None,
    }
    return load_settings(**{**values, **kw})


def _build(settings: Settings, embedder: Any) -> Runtime:
    metrics = Metrics(CollectorRegistry())
    return Runtime.build(settings, embedder=embedder, metrics=metrics,
                          cache=build_cache(settings, metrics.registry))


def _replica(primary: Runtime) -> Runtime:
    """A second API instance: its own in-process cache, the same Redis and the same store
    (as replicas behind a load balancer share a Qdrant server)."""
    metrics = Metrics(CollectorRegistry())
    cache = build_cache(primary.settings, metrics.registry)
    indexer = Indexer(primary.settings, primary.embedder, primary.store, primary.files, cache,
                      primary.fetcher)
    return dataclasses.replace(
        primary, cache=cache, metrics=metrics, indexer=indexer,
        searcher=Searcher(primary.embedder, primary.store, cache),
        executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="replica"),
    )


def _search(client: TestClient, text: str, top_k: int = 50) -> dict[str, Any]:
    resp = client.post("/api/v1/search", json={"text": text, "top_k": top_k})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _index(client: TestClient, path: Path) -> None:
    resp = client.post("/api/v1/index", json={"image_data": image_b64(path)})
    assert resp.status_code == 200 and resp.json()["indexed"] == 1, resp.text


@pytest.fixture
def shared_redis_settings(tmp_path: Path, tiny_clip_dir: Path) -> Iterator[Settings]:
    url = redis_url_or_skip()
    yield _settings(tmp_path, tiny_clip_dir, redis_url=url, redis_prefix=unique_prefix())


def test_two_replicas_never_serve_a_stale_page(
    shared_redis_settings: Settings, tiny_embedder: Any
) -> None:
    a = _build(shared_redis_settings, tiny_embedder)
    b = _replica(a)
    try:
        with TestClient(create_app(runtime=a)) as api_a, \
                TestClient(create_app(runtime=b)) as api_b:
            for path in IMAGES[:10]:
                _index(api_a, path)
            first = _search(api_b, "a pair of shoes")
            assert len(first["results"]) == 10 and first["cached"] is False
            assert _search(api_b, "a pair of shoes")["cached"] is True  # B's own cache
            assert _search(api_a, "a pair of shoes")["cached"] is True  # shared through Redis

            for round_ in range(2):  # every write through A is seen by B's next search
                _index(api_a, IMAGES[10 + round_])
                after = _search(api_b, "a pair of shoes")
                assert after["cached"] is False
                assert len(after["results"]) == 11 + round_
            # A delete through B is seen by A.
            gone = after["results"][0]["image_id"]
            assert api_b.delete(f"/api/v1/images/{gone}").status_code == 200
            ids = [r["image_id"] for r in _search(api_a, "a pair of shoes")["results"]]
            assert gone not in ids and len(ids) == 11
    finally:
        b.cache.close()
        b.executor.shutdown()
        a.close()


def test_redis_stopped_during_searches_fails_no_request(
    tmp_path: Path, tiny_clip_dir: Path, tiny_embedder: Any
) -> None:
    redis_url_or_skip()
    server = RedisProcess(tmp_path / "redis")
    server.start()
    settings = _settings(tmp_path, tiny_clip_dir, redis_url=server.url)
    svc = _build(settings, tiny_embedder)
    texts = [f"photo number {i % 25} of shoes" for i in range(300)]
    statuses: list[int] = []
    readiness: dict[str, str] = {}
    try:
        with TestClient(create_app(runtime=svc)) as api:
            for path in IMAGES[:6]:
                _index(api, path)
            for i, text in enumerate(texts):
                if i == 100:
                    server.stop()
                if i == 150:
                    readiness["down"] = api.get("/api/v1/ready").json()["status"]
                if i == 200:
                    server.start()
                resp = api.post("/api/v1/search", json={"text": text, "top_k": 5})
                statuses.append(resp.status_code)
                if i in (99, 150, 299):
                    assert len(resp.json()["results"]) == 5
            # It comes back by itself (backoff), and caching works again.
            deadline = time.monotonic() + 60
            while api.get("/api/v1/ready").json()["status"] != "ready":
                assert time.monotonic() < deadline, "cache did not recover"
                time.sleep(0.2)
            _search(api, "after the outage")
            assert _search(api, "after the outage")["cached"] is True
            metrics = api.get("/metrics").text
            assert "visearch_cache_redis_errors_total" in metrics
            assert 'visearch_cache_requests_total{kind="result",outcome="hit",tier="l1"}' in metrics
            assert "visearch_cache_redis_up 1.0" in metrics
    finally:
        svc.close()
        server.stop()
    assert statuses == [200] * len(texts)
    assert readiness["down"] == "degraded"
    reg = svc.metrics.registry
    assert (reg.get_sample_value("visearch_cache_redis_errors_total") or 0) >= 1
    assert reg.get_sample_value("visearch_cache_requests_total",
                                {"kind": "embedding", "tier": "l1", "outcome": "hit"})


def test_rabbitmq_stopped_refuses_jobs_but_indexing_works(
    tmp_path: Path, tiny_clip_dir: Path, tiny_embedder: Any
) -> None:
    """RabbitMQ really stopped (scripts/redis_rabbitmq.sh), then started again."""
    prefix = unique_prefix()
    settings = _settings(tmp_path, tiny_clip_dir, redis_url=redis_url_or_skip(),
                         redis_prefix=prefix, broker_url=broker_url_or_skip(),
                         job_queue=f"{prefix}.index", allowed_roots=[DATA_DIR])
    svc = _build(settings, tiny_embedder)
    rabbit = ManagedRabbitMQ()
    job = {"folder": str(IMAGES[0].parent)}
    try:
        with TestClient(create_app(runtime=svc)) as api:
            assert api.post("/api/v1/jobs", json=job).status_code == 202
            rabbit.stop()
            try:
                resp = api.post("/api/v1/jobs", json=job)
                assert resp.status_code == 503
                err = resp.json()["error"]
                assert err["code"] == "jobs_unavailable"
                assert "RabbitMQ" in err["message"] and "unreachable" in err["message"]
                assert "single-image indexing still works" in err["message"]
                _index(api, IMAGES[0])  # single-image indexing does not need the queue
                assert api.get("/api/v1/stats").json()["count"] == 1
                assert len(_search(api, "shoes")["results"]) == 1
                ready = api.get("/api/v1/ready")
                assert ready.status_code == 200
            finally:
                rabbit.start()
            # Back: the very next submission is accepted (no stale connection).
            assert api.post("/api/v1/jobs", json=job).status_code == 202
            states = [j["state"] for j in api.get("/api/v1/jobs").json()["jobs"]]
            assert states == ["queued", "queued"]  # the refused one left nothing behind
    finally:
        svc.close()
        with Connection(settings.broker_url) as conn:
            channel = conn.channel()
            for queue in (settings.job_queue, f"{settings.job_queue}.dead"):
                channel.queue_delete(queue)
            channel.close()
