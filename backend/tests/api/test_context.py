"""The request context middleware (api/context.py): request ids kept only when well-formed,
one latency sample per request under its route template and final status."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from visearch.runtime import Runtime


def test_well_formed_request_ids_are_kept_and_others_replaced(client: TestClient) -> None:
    kept = client.get("/api/v1/health", headers={"X-Request-ID": "lb-1:a.b_c-d"})
    assert kept.headers["X-Request-ID"] == "lb-1:a.b_c-d"
    for bad in ("has space", "x" * 129, "quote\"", "semi;colon"):
        made = client.get("/api/v1/health", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert made != bad and re.fullmatch(r"[0-9a-f]{32}", made), made


def test_each_request_is_timed_under_its_route_and_final_status(client: TestClient) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert client.get("/api/v1/images/nope/info").status_code == 404
    assert client.get("/api/v1/no-such-route").status_code == 404
    scraped = generate_latest(runtime.metrics.registry).decode()
    assert ('visearch_http_request_duration_seconds_count{method="GET",'
            'route="/api/v1/images/{image_id}/info",status="404"} 1.0') in scraped
    assert ('visearch_http_request_duration_seconds_count{method="GET",route="unmatched",'
            'status="404"} 1.0') in scraped
