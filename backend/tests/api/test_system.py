"""Stats, health, readiness, metrics, request ids, OpenAPI."""

from __future__ import annotations

import base64
import re
from datetime import datetime

from fastapi.testclient import TestClient

from visearch import __version__
from visearch.api.app import create_app
from visearch.runtime import Runtime


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None when it is not there."""
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}(?:{{(.*)}})? (\S+)", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            return float(match.group(2))
    return None


def test_stats_and_ready(client: TestClient) -> None:
    stats = client.get("/api/v1/stats").json()
    assert stats["count"] == 0
    assert stats["model"]["dim"] == 64 and stats["model"]["fallback"] is False
    assert stats["store"]["backend"] == "edge"
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["checks"]["store"]["reachable"] is True
    schema = client.get("/openapi.json").json()["paths"]["/api/v1/ready"]["get"]["responses"]
    for status in ("200", "503"):
        assert schema[status]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ReadyResponse")


def test_health_reports_components_without_io(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["version"] == __version__
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    assert body["services"] == {"model": "ok", "store": "open", "cache": "ok", "jobs": "running"}


def test_starting_service_is_alive_but_not_ready(runtime: Runtime) -> None:
    """Before start-up finished (no lifespan run here): /health answers, /ready is a 503 with
    its response model."""
    starting = TestClient(create_app(runtime=runtime))
    health = starting.get("/api/v1/health")
    assert health.status_code == 200
    assert set(health.json()["services"].values()) == {"starting"}
    ready = starting.get("/api/v1/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "checks": {"model": "loading"}}


def test_model_and_store_metrics_are_observed(client: TestClient, clothing_images: list) -> None:
    metrics = client.get("/metrics").text
    collection = client.get("/api/v1/stats").json()["store"]["collection"]
    assert _sample(metrics, "visearch_store_points", collection=collection) == 0
    data = base64.b64encode(clothing_images[0].read_bytes()).decode()
    assert client.post("/api/v1/index", json={"image_data": data}).status_code == 200
    assert client.post("/api/v1/index", json={"image_data": data[:400]}).status_code == 422
    client.post("/api/v1/search", json={"text": "a shoe"})
    metrics = client.get("/metrics").text  # the points gauge is current without a /stats call
    assert _sample(metrics, "visearch_store_points", collection=collection) == 1
    assert _sample(metrics, "visearch_index_failures_total", code="corrupt") == 1
    assert _sample(metrics, "visearch_images_indexed_total") == 1
    for modality in ("image", "text"):
        assert _sample(metrics, "visearch_embedding_duration_seconds_count",
                       modality=modality, batch_size="1") == 1
        assert _sample(metrics, "visearch_embedding_batch_size_sum", modality=modality) == 1


def test_metrics_and_request_id(client: TestClient) -> None:
    resp = client.get("/api/v1/health", headers={"X-Request-ID": "abc123"})
    assert resp.headers["X-Request-ID"] == "abc123"
    assert client.get("/api/v1/health").headers["X-Request-ID"]
    client.post("/api/v1/search", json={"text": "a shoe"})
    text = client.get("/metrics").text
    assert "visearch_http_request_duration_seconds_bucket" in text
    assert 'route="/api/v1/search"' in text


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/v1/search", "/api/v1/search/image", "/api/v1/index", "/api/v1/index/upload",
              "/api/v1/images/{image_id}", "/api/v1/stats", "/api/v1/health", "/api/v1/ready"):
        assert p in paths
    assert client.get("/docs").status_code == 200
