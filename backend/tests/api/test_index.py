"""Indexing through the API: ids, idempotency, metadata, deletion, stored files."""

from __future__ import annotations

import base64
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image


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
