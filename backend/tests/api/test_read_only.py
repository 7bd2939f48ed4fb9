"""A read-only replica (VISEARCH_READ_ONLY): the harness's copies of one embedded index behind
HAProxy. Searches and image reads work; every write answers 503 ``read_only`` and writes
nothing; /stats, /ready and the metrics say which mode the replica is in."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from visearch.api.app import create_app
from visearch.config import Settings
from visearch.runtime import Runtime


@pytest.fixture
def seeded(settings: Settings, tiny_embedder: object, clothing_images: list[Path]) -> str:
    """The index the copies are made of: one image, indexed by a writable runtime."""
    with TestClient(create_app(runtime=Runtime.build(settings, embedder=tiny_embedder))) as c:  # type: ignore[arg-type]
        data = base64.b64encode(clothing_images[0].read_bytes()).decode()
        body = c.post("/api/v1/index", json={"image_data": data, "image_id": "seed-1"}).json()
        assert body["success"] and body["image_id"] == "seed-1", body
        c.app.state.runtime.close()  # type: ignore[attr-defined]
    return "seed-1"


@pytest.fixture
def replica(settings: Settings, tiny_embedder: object, seeded: str) -> Iterator[TestClient]:
    ro = settings.model_copy(update={"read_only": True})
    runtime = Runtime.build(ro, embedder=tiny_embedder)  # type: ignore[arg-type]
    try:
        with TestClient(create_app(runtime=runtime)) as c:
            yield c
    finally:
        runtime.close()


def _refused(response: object) -> None:
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "read_only" and "read-only copy" in error["message"]


def test_every_write_route_answers_503_read_only_and_writes_nothing(
    replica: TestClient, clothing_images: list[Path], seeded: str,
) -> None:
    photo = clothing_images[1].read_bytes()
    data = base64.b64encode(photo).decode()
    _refused(replica.post("/api/v1/index", json={"image_data": data}))
    _refused(replica.post("/api/v1/index/upload", files={"files": ("a.jpg", photo, "image/jpeg")}))
    _refused(replica.delete(f"/api/v1/images/{seeded}"))
    _refused(replica.post("/api/v1/images/delete", json={"ids": [seeded]}))
    _refused(replica.post("/api/v1/jobs", json={"urls": ["https://example.com/a.jpg"]}))
    _refused(replica.delete(f"/api/v1/jobs/{'0' * 32}"))
    # Every route that changes the index or jobs is one of those (a new one must be added).
    paths = replica.get("/openapi.json").json()["paths"]
    writes = sorted(
        (method.upper(), path) for path, operations in paths.items() for method in operations
        if method not in ("get", "head") and not path.startswith(
            ("/api/v1/search", "/api/v1/session", "/api/v1/queries", "/api/v1/images/archive")))
    assert writes == [("DELETE", "/api/v1/images/{image_id}"), ("DELETE", "/api/v1/jobs/{job_id}"),
                      ("POST", "/api/v1/images/delete"), ("POST", "/api/v1/index"),
                      ("POST", "/api/v1/index/upload"), ("POST", "/api/v1/jobs")]
    assert replica.get("/api/v1/stats").json()["count"] == 1
    assert replica.get(f"/api/v1/images/{seeded}").status_code == 200


def test_searches_work_and_the_mode_is_reported(replica: TestClient, seeded: str) -> None:
    found = replica.post("/api/v1/search", json={"text": "a shirt"})
    assert found.status_code == 200
    assert [r["image_id"] for r in found.json()["results"]] == [seeded]
    assert replica.post("/api/v1/search", json={"image_id": seeded}).status_code == 200
    assert replica.get("/api/v1/stats").json()["store"]["mode"] == "read_only"
    ready = replica.get("/api/v1/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["store"]["mode"] == "read_only"
    runtime: Runtime = replica.app.state.runtime  # type: ignore[attr-defined]
    scraped = generate_latest(runtime.metrics.registry).decode()
    assert (f'visearch_store_info{{backend="edge",collection="{runtime.store.name}",'
            f'mode="read_only"}} 1.0') in scraped


def test_a_writable_replica_says_read_write(client: TestClient) -> None:
    assert client.get("/api/v1/stats").json()["store"]["mode"] == "read_write"
    assert client.get("/api/v1/ready").json()["checks"]["store"]["mode"] == "read_write"
