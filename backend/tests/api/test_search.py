"""Search through the real app: text, image upload, base64, more-like-this, paging, filters."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def indexed(client: TestClient, clothing_images: list[Path]) -> list[dict]:
    """Index 30 photos from three classes, labelled by class."""
    out = []
    for cls in ("dress", "hat", "shoes"):
        paths = [p for p in clothing_images if p.parent.name == cls][:10]
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
        resp = client.post("/api/v1/index/upload", files=files,
                           data={"label": cls, "metadata": '{"collection": "test"}'})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["indexed"] == 10 and body["failed"] == 0
        out.extend(body["results"])
    return out


def test_image_upload_finds_itself_first(client: TestClient, indexed: list[dict],
                                         clothing_images: list[Path]) -> None:
    path = next(p for p in clothing_images if p.name == indexed[4]["filename"])
    resp = client.post("/api/v1/search/image", files={"file": (path.name, path.read_bytes())},
                       data={"top_k": "5"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["results"][0]["image_id"] == indexed[4]["image_id"]
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-3)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    first = body["results"][0]
    assert first["thumbnail_url"].endswith("/thumbnail")
    assert client.get(first["thumbnail_url"]).headers["content-type"] == "image/jpeg"
    assert client.get(first["image_url"]).status_code == 200


def test_base64_search_and_text_search(client: TestClient, indexed: list[dict],
                                       clothing_images: list[Path]) -> None:
    path = next(p for p in clothing_images if p.name == indexed[0]["filename"])
    b64 = base64.b64encode(path.read_bytes()).decode()
    body = client.post("/api/v1/search", json={"image_data": b64, "top_k": 3}).json()
    assert body["results"][0]["image_id"] == indexed[0]["image_id"]
    data_url = client.post("/api/v1/search",
                           json={"image_data": f"data:image/jpeg;base64,{b64}"}).json()
    assert data_url["results"][0]["image_id"] == indexed[0]["image_id"]

    text = client.post("/api/v1/search", json={"text": "a red dress", "top_k": 7}).json()
    assert len(text["results"]) == 7 and text["has_more"] is True
    assert text["results"][0]["metadata"] == {"collection": "test"}
    assert text["results"][0]["label"] in {"dress", "hat", "shoes"}


def test_combined_and_more_like_this(client: TestClient, indexed: list[dict]) -> None:
    target = indexed[12]["image_id"]
    body = client.post("/api/v1/search", json={"image_id": target, "top_k": 29}).json()
    ids = [r["image_id"] for r in body["results"]]
    assert target not in ids and len(ids) == 29
    combo = client.post("/api/v1/search",
                        json={"image_id": target, "text": "a hat", "text_weight": 0.3}).json()
    assert combo["results"]
    missing = client.post("/api/v1/search", json={"image_id": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_paging_threshold_and_filters(client: TestClient, indexed: list[dict]) -> None:
    full = client.post("/api/v1/search", json={"text": "clothes", "top_k": 30}).json()["results"]
    p1 = client.post("/api/v1/search", json={"text": "clothes", "top_k": 10}).json()["results"]
    p2 = client.post("/api/v1/search",
                     json={"text": "clothes", "top_k": 10, "offset": 10}).json()["results"]
    assert [r["image_id"] for r in p1 + p2] == [r["image_id"] for r in full[:20]]

    cut = full[5]["score"]
    above = client.post("/api/v1/search",
                        json={"text": "clothes", "top_k": 30, "threshold": cut}).json()
    assert all(r["score"] >= cut - 1e-6 for r in above["results"])
    assert len(above["results"]) < 30

    hats = client.post("/api/v1/search",
                       json={"text": "clothes", "top_k": 30, "filter": {"label": "hat"}}).json()
    assert len(hats["results"]) == 10 and {r["label"] for r in hats["results"]} == {"hat"}
    two = client.post("/api/v1/search", json={"text": "x", "top_k": 30,
                                               "filter": {"label": ["hat", "dress"]}}).json()
    assert len(two["results"]) == 20
    meta = client.post("/api/v1/search", json={"text": "x", "top_k": 30,
                                                "filter": {"metadata.collection": "test"}}).json()
    assert len(meta["results"]) == 30


def test_search_results_are_cached_and_invalidated(client: TestClient, indexed: list[dict],
                                                   clothing_images: list[Path]) -> None:
    first = client.post("/api/v1/search", json={"text": "a hat", "top_k": 5}).json()
    again = client.post("/api/v1/search", json={"text": "a hat", "top_k": 5}).json()
    assert first["cached"] is False and again["cached"] is True
    assert again["results"] == first["results"]  # the cached page is the same page
    # A delete must never leave the deleted image in a (cached) answer.
    gone = first["results"][0]["image_id"]
    assert client.delete(f"/api/v1/images/{gone}").status_code == 200
    after = client.post("/api/v1/search", json={"text": "a hat", "top_k": 5}).json()
    assert after["cached"] is False
    assert gone not in [r["image_id"] for r in after["results"]]
