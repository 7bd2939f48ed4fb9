"""Clients written for the seed design's published API work unchanged.

Its README documents ``POST /api/v1/index`` (JSON, one image) answering ``{"image_id",
"success", "message", "processing_time_ms"}`` and ``GET /api/v1/health`` answering
``{"status", "timestamp", "version", "services"}``; its Python example reads
``result['processing_time_ms']``. These are those calls, made over HTTP as a user would.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import app_server
from visearch.api.app import create_app
from visearch.runtime import Runtime


@pytest.fixture
def base_url(runtime: Runtime) -> Iterator[str]:
    with app_server(create_app(runtime=runtime)) as url:
        yield url


def test_seed_index_example(base_url: str, clothing_images: list[Path]) -> None:
    with open(clothing_images[0], "rb") as f:
        image_data = base64.b64encode(f.read()).decode()
    response = httpx.post(f"{base_url}/api/v1/index",
                          json={"image_data": image_data, "metadata": {"category": "dress"}})
    result = response.json()
    assert response.status_code == 200
    assert result["success"] is True and result["message"]
    assert isinstance(result["image_id"], str) and result["image_id"]
    assert result["processing_time_ms"] > 0
    # The visearch fields stay beside them.
    assert result["indexed"] == 1 and result["results"][0]["image_id"] == result["image_id"]

    again = httpx.post(f"{base_url}/api/v1/index", json={"image_data": image_data}).json()
    assert again["success"] is True and again["image_id"] == result["image_id"]
    assert again["duplicates"] == 1 and "already" in again["message"]


def test_seed_index_failure_keeps_status_and_error(base_url: str) -> None:
    broken = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 200).decode()
    response = httpx.post(f"{base_url}/api/v1/index", json={"image_data": broken})
    result = response.json()
    assert response.status_code == 422
    assert result["success"] is False and result["error"]["code"] == "corrupt"
    assert result["message"] == result["error"]["message"]
    assert result["image_id"] is None and result["failed"] == 1


def test_seed_health_example(base_url: str) -> None:
    health = httpx.get(f"{base_url}/api/v1/health").json()
    assert {"status", "timestamp", "version", "services"} <= set(health)
    assert health["status"] == "ok"
    assert isinstance(health["services"], dict) and health["services"]
