"""Stats, health, readiness, metrics, request ids, OpenAPI."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_stats_and_ready(client: TestClient) -> None:
    stats = client.get("/api/v1/stats").json()
    assert stats["count"] == 0
    assert stats["model"]["dim"] == 64 and stats["model"]["fallback"] is False
    assert stats["store"]["backend"] == "edge"
    ready = client.get("/api/v1/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["checks"]["store"]["reachable"] is True


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
