"""The web UI's endpoints (issue 15) through the real app: the library (``GET /images``), bulk
delete and download, thumbnails in two sizes, and query images with a short-lived id."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from visearch.ingest.queries import QueryImages


@pytest.fixture
def indexed(client: TestClient, clothing_images: list[Path]) -> list[dict]:
    """Twelve photos of two classes, indexed one request each so their times differ."""
    out = []
    for path in [p for p in clothing_images if p.parent.name in ("dress", "hat")][::3][:12]:
        resp = client.post("/api/v1/index/upload", data={"label": path.parent.name},
                           files=[("files", (path.name, path.read_bytes(), "image/jpeg"))])
        assert resp.status_code == 200, resp.text
        out.append({**resp.json()["results"][0], "label": path.parent.name})
    return out


def _page(client: TestClient, **params: object) -> dict:
    resp = client.get("/api/v1/images", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_library_pages_through_every_image_with_a_cursor(
    client: TestClient, indexed: list[dict]
) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        body = _page(client, limit=5, **({"cursor": cursor} if cursor else {}))
        assert body["total"] == 12
        seen += [item["image_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(r["image_id"] for r in indexed)  # each image exactly once
    item = _page(client, limit=1)["items"][0]
    assert "score" not in item
    assert item["thumbnail_2x_url"] == item["thumbnail_url"] + "?size=512"


def test_library_pages_through_images_added_in_the_same_second(
    client: TestClient, clothing_images: list[Path]
) -> None:
    """One upload of many files: they share `indexed_at`, and the cursor still fits."""
    paths = [p for p in clothing_images if p.parent.name == "shoes"][:14]
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    assert client.post("/api/v1/index/upload", files=files).status_code == 200
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        body = _page(client, limit=4, **({"cursor": cursor} if cursor else {}))
        seen += [item["image_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 14


def test_library_filters_and_refuses_bad_input(client: TestClient, indexed: list[dict]) -> None:
    hats = _page(client, limit=50, filter='{"label": "hat"}')
    expected = sorted(r["image_id"] for r in indexed if r["label"] == "hat")
    assert 0 < len(expected) < 12
    assert hats["total"] == len(expected)
    assert sorted(i["image_id"] for i in hats["items"]) == expected
    assert client.get("/api/v1/images", params={"filter": "[1]"}).status_code == 422
    assert client.get("/api/v1/images", params={"sort": "size"}).status_code == 422
    assert client.get("/api/v1/images", params={"limit": 0}).status_code == 422


def test_bulk_delete_reports_each_id_and_removes_files(
    client: TestClient, indexed: list[dict]
) -> None:
    ids = [indexed[0]["image_id"], indexed[1]["image_id"]]
    thumb = client.get(f"/api/v1/images/{ids[0]}/thumbnail?size=512")
    assert thumb.status_code == 200
    resp = client.post("/api/v1/images/delete", json={"ids": [*ids, "nope", ids[0]]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["deleted"] == 2 and body["not_found"] == 1
    assert [r["status"] for r in body["results"]] == ["deleted", "deleted", "not_found"]
    assert _page(client)["total"] == 10
    for image_id in ids:
        assert client.get(f"/api/v1/images/{image_id}").status_code == 404
        assert client.get(f"/api/v1/images/{image_id}/thumbnail").status_code == 404
        assert client.get(f"/api/v1/images/{image_id}/thumbnail?size=512").status_code == 404
    assert client.post("/api/v1/images/delete", json={"ids": []}).status_code == 422


def test_archive_is_a_zip_of_the_originals(client: TestClient, indexed: list[dict],
                                           clothing_images: list[Path]) -> None:
    ids = [r["image_id"] for r in indexed[:3]]
    resp = client.post("/api/v1/images/archive", json={"ids": [*ids, "missing"]})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/zip"
    assert "content-encoding" not in resp.headers  # a zip of JPEGs is not compressed again
    assert resp.headers["x-image-count"] == "3"
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        names = zf.namelist()
        assert names == [r["filename"] for r in indexed[:3]]
        original = next(p for p in clothing_images if p.name == names[0]).read_bytes()
        assert zf.read(names[0]) == original
    gone = client.post("/api/v1/images/archive", json={"ids": ["missing"]})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_thumbnails_come_in_two_sizes_and_old_images_get_the_large_one(
    client: TestClient, indexed: list[dict], runtime: object
) -> None:
    image_id = indexed[0]["image_id"]
    small = Image.open(io.BytesIO(client.get(f"/api/v1/images/{image_id}/thumbnail").content))
    large = Image.open(io.BytesIO(
        client.get(f"/api/v1/images/{image_id}/thumbnail?size=512").content))
    original = Image.open(io.BytesIO(client.get(f"/api/v1/images/{image_id}").content))
    # never enlarged: the large one is 512 px, or the original's size when that is smaller
    assert max(small.size) == 256 and max(large.size) == min(512, max(original.size))
    assert max(large.size) > 256
    # an image stored before the large thumbnail existed: made on first request
    files = runtime.files  # type: ignore[attr-defined]
    large_path = files.large_thumbnail(image_id)
    large_path.unlink()
    again = client.get(f"/api/v1/images/{image_id}/thumbnail?size=400")
    assert again.status_code == 200
    assert Image.open(io.BytesIO(again.content)).size == large.size
    assert large_path.is_file()


def test_query_images_get_an_id_that_search_and_the_url_use(
    client: TestClient, indexed: list[dict], clothing_images: list[Path]
) -> None:
    path = next(p for p in clothing_images if p.name == indexed[2]["filename"])
    data = path.read_bytes()
    created = client.post("/api/v1/queries", files={"file": (path.name, data, "image/jpeg")})
    assert created.status_code == 201, created.text
    body = created.json()
    query_id = body["query_id"]
    assert len(query_id) == 32
    # the same image, the same id
    again = client.post("/api/v1/queries", files={"file": ("other.jpg", data, "image/jpeg")})
    assert again.json()["query_id"] == query_id
    image = client.get(body["image_url"])
    assert image.status_code == 200 and image.content == data
    assert image.headers["content-type"] == "image/jpeg"
    assert "sandbox" in image.headers["content-security-policy"]

    found = client.post("/api/v1/search", json={"query_id": query_id, "top_k": 3}).json()
    assert found["results"][0]["image_id"] == indexed[2]["image_id"]
    by_bytes = client.post("/api/v1/search/image", files={"file": (path.name, data)},
                           data={"top_k": "3"}).json()
    assert [r["image_id"] for r in found["results"]] == [r["image_id"] for r in by_bytes["results"]]
    both = client.post("/api/v1/search", json={"query_id": query_id, "image_url": "http://x/y"})
    assert both.status_code == 422


def test_query_images_refuse_non_images_and_expire(client: TestClient, settings: object) -> None:
    bad = client.post("/api/v1/queries", files={"file": ("a.txt", b"not an image", "text/plain")})
    assert bad.status_code == 415 and bad.json()["error"]["code"] == "unsupported_format"
    for query_id in ("0" * 32, "../../etc/passwd", "ABC"):
        missing = client.post("/api/v1/search", json={"query_id": query_id})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "query_expired"
        assert client.get(f"/api/v1/queries/{query_id}/image").status_code == 404

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buf, "PNG")
    query_id = client.post("/api/v1/queries", files={"file": ("r.png", buf.getvalue())}).json()[
        "query_id"]
    store = QueryImages.from_settings(settings)  # type: ignore[arg-type]
    path = store.root / query_id[:2] / query_id
    old = time.time() - store.ttl_s - 10
    os.utime(path, (old, old))
    expired = client.post("/api/v1/search", json={"query_id": query_id})
    assert expired.status_code == 404 and expired.json()["error"]["code"] == "query_expired"
    assert not path.exists()
