"""Indexing through the API: ids, idempotency, metadata, deletion, stored files, size limit."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from visearch.api.app import create_app
from visearch.config import Settings
from visearch.runtime import Runtime


def test_index_json_is_idempotent(client: TestClient, clothing_images: list[Path]) -> None:
    data = clothing_images[3].read_bytes()
    body = {"image_data": base64.b64encode(data).decode(), "metadata": {"sku": "A-1"},
            "filename": "shirt.jpg"}
    first = client.post("/api/v1/index", json=body).json()
    assert first["indexed"] == 1 and first["results"][0]["processing_time_ms"] > 0
    second = client.post("/api/v1/index", json=body).json()
    assert second["duplicates"] == 1 and second["indexed"] == 0
    assert second["results"][0]["image_id"] == first["results"][0]["image_id"]
    assert client.get("/api/v1/stats").json()["count"] == 1
    info = client.get(f"/api/v1/images/{first['results'][0]['image_id']}/info").json()
    assert info["metadata"] == {"sku": "A-1"} and info["filename"] == "shirt.jpg"


def test_caller_id_and_delete(client: TestClient, clothing_images: list[Path], tmp_path: Path) -> None:
    data = clothing_images[5].read_bytes()
    resp = client.post("/api/v1/index", json={"image_data": base64.b64encode(data).decode(),
                                              "image_id": "product:42"}).json()
    assert resp["results"][0]["image_id"] == "product:42"
    img = client.get("/api/v1/images/product:42")
    assert img.status_code == 200 and img.content == data
    thumb = client.get("/api/v1/images/product:42/thumbnail")
    (tmp_path / "t.jpg").write_bytes(thumb.content)
    assert max(Image.open(tmp_path / "t.jpg").size) <= 256
    assert client.delete("/api/v1/images/product:42").json() == {"deleted": "product:42"}
    assert client.get("/api/v1/images/product:42").status_code == 404
    assert client.get("/api/v1/stats").json()["count"] == 0


def test_upload_many_reports_each(client: TestClient, clothing_images: list[Path]) -> None:
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in clothing_images[:6]]
    files.append(files[0])
    body = client.post("/api/v1/index/upload", files=files).json()
    assert body["indexed"] == 6 and body["duplicates"] == 1 and body["failed"] == 0
    assert len(body["results"]) == 7


@pytest.fixture
def small_limit(settings: Settings, tiny_embedder: Any) -> Iterator[TestClient]:
    """An app whose upload limit (4 KB) is below the clothing photos' size (~10 KB)."""
    runtime = Runtime.build(settings.model_copy(update={"max_upload_bytes": 4096}),
                            embedder=tiny_embedder)
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            yield client
    finally:
        runtime.close()


def test_upload_limit_is_one_rule_on_every_route(small_limit: TestClient,
                                                 clothing_images: list[Path]) -> None:
    big = clothing_images[0].read_bytes()
    small = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(small, "JPEG")
    assert len(big) > 4096 > len(small.getvalue())

    mixed = small_limit.post("/api/v1/index/upload", files=[
        ("files", ("big.jpg", big, "image/jpeg")), ("files", ("small.jpg", small.getvalue()))])
    assert mixed.status_code == 200
    assert [r["status"] for r in mixed.json()["results"]] == ["failed", "indexed"]
    assert mixed.json()["results"][0]["error"]["code"] == "too_large"

    only_big = small_limit.post("/api/v1/index/upload", files={"files": ("big.jpg", big)})
    as_json = small_limit.post("/api/v1/index",
                               json={"image_data": base64.b64encode(big).decode()})
    query = small_limit.post("/api/v1/search/image", files={"file": ("big.jpg", big)})
    for resp in (only_big, as_json, query):
        assert resp.status_code == 413, resp.text
        assert resp.json()["error"]["code"] == "too_large"
        assert "4096-byte limit" in resp.json()["error"]["message"]

    # A body announced as too large is refused before it is read.
    early = small_limit.post("/api/v1/search", content=b"x" * (2 * 4096 + 1024 * 1024 + 1),
                             headers={"content-type": "application/json"})
    assert early.status_code == 413 and early.json()["error"]["code"] == "too_large"
