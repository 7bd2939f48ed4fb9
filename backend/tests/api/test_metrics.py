"""The metrics the dashboards and alerts of the scaled stack use (monitoring/), scraped from
the app's registry after the action that sets them."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from visearch.config import Settings
from visearch.metrics import Metrics
from visearch.models.loader import load_embedder
from visearch.runtime import Runtime
from visearch.store.edge import EdgeStore


def _scrape(runtime: Runtime) -> str:
    return generate_latest(runtime.metrics.registry).decode()


def test_requests_in_flight_are_counted_while_handled(client: TestClient) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    # The scrape through the app is itself a request in flight.
    assert "visearch_http_requests_in_flight 1.0" in client.get("/metrics").text
    assert client.post("/api/v1/search", json={"text": "a shoe"}).status_code == 200
    assert client.post("/api/v1/search", json={"text": 5}).status_code == 422
    assert "visearch_http_requests_in_flight 0.0" in _scrape(runtime)  # all done


def test_model_info_names_the_serving_model(runtime: Runtime) -> None:
    emb = runtime.embedder
    line = (f'visearch_model_info{{device="cpu",dim="{emb.dim}",fallback="false",'
            f'model_id="{emb.model_id}",requested_model="{emb.model_id}"}} 1.0')
    assert line in _scrape(runtime)


def test_model_info_says_when_the_fallback_serves(tiny_clip_dir: Path, tmp_path: Path) -> None:
    fallback = load_embedder(Settings(model=str(tmp_path / "no-such-model"),
                                      model_fallback=str(tiny_clip_dir), device="cpu",
                                      _env_file=None))  # type: ignore[call-arg]
    metrics = Metrics()
    metrics.set_model(fallback)
    scraped = generate_latest(metrics.registry).decode()
    assert re.search(r'visearch_model_info\{[^}]*fallback="true"[^}]*'
                     rf'requested_model="{re.escape(str(tmp_path / "no-such-model"))}"\}} 1\.0',
                     scraped), scraped


def test_store_points_vectors_under_hnsw_and_info_at_scrape_time(
    client: TestClient, clothing_images: list[Path],
) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    name = runtime.store.name
    for photo in clothing_images[:3]:
        files = {"files": (photo.name, photo.read_bytes(), "image/jpeg")}
        assert client.post("/api/v1/index/upload", files=files).status_code == 200
    scraped = _scrape(runtime)
    assert f'visearch_store_points{{collection="{name}"}} 3.0' in scraped
    assert f'visearch_store_indexed_vectors{{collection="{name}"}} 0.0' in scraped  # no HNSW yet
    assert (f'visearch_store_info{{backend="edge",collection="{name}",mode="read_write"}} 1.0'
            in scraped)


def test_vectors_under_hnsw_are_reported_once_built(tmp_path: Path) -> None:
    from tests.store.conftest import make_points

    data = make_points(300)
    with EdgeStore(tmp_path, "test/model", 32, indexing_threshold_kb=1) as store:
        store.upsert(data.points)
        metrics = Metrics()
        metrics.track_store(store, read_only=True)
        before = generate_latest(metrics.registry).decode()
        assert f'visearch_store_indexed_vectors{{collection="{store.name}"}} 0.0' in before
        assert store.optimize()  # what `visearch index` runs after a bulk load
        built = store.stats()["indexed_vectors"]
        assert built >= 300
        after = generate_latest(metrics.registry).decode()
        assert f'visearch_store_indexed_vectors{{collection="{store.name}"}} {built:.1f}' in after
        assert 'mode="read_only"} 1.0' in after
