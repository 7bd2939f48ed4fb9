"""Bad input gets a clear 4xx JSON error and the server keeps serving."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from visearch.runtime import Runtime


def _huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG header announcing 20,000 x 20,000 pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * (width * 3)
    idat = zlib.compress(row * 8, 9)  # a few rows are enough to look real
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


CASES = [
    ("invalid base64", "/api/v1/search", {"json": {"image_data": "not base64!!"}}, 400),
    ("truncated jpeg", "/api/v1/search", {"json": {"image_data": _b64(_jpeg()[:300])}}, 422),
    ("text file as jpg", "/api/v1/search/image",
     {"files": {"file": ("notes.jpg", b"hello, I am text\n" * 20, "image/jpeg")}}, 415),
    ("20k x 20k png", "/api/v1/search", {"json": {"image_data": _b64(_huge_png())}}, 413),
    ("empty body", "/api/v1/search", {"content": b"", "headers": {"content-type": "application/json"}}, 400),
    ("not json", "/api/v1/search",
     {"content": b"{oops", "headers": {"content-type": "application/json"}}, 400),
    ("top_k 0", "/api/v1/search", {"json": {"text": "a", "top_k": 0}}, 422),
    ("top_k 100000", "/api/v1/search", {"json": {"text": "a", "top_k": 100000}}, 422),
    ("unknown filter field", "/api/v1/search", {"json": {"text": "a", "filter": {"colour": "red"}}}, 422),
    ("neither text nor image", "/api/v1/search", {"json": {"top_k": 5}}, 400),
    ("unknown field", "/api/v1/search", {"json": {"txt": "a"}}, 422),
    ("index truncated", "/api/v1/index", {"json": {"image_data": _b64(_jpeg()[:200])}}, 422),
    ("index bad id", "/api/v1/index", {"json": {"image_data": _b64(_jpeg()), "image_id": "../x"}}, 422),
    ("index neither", "/api/v1/index", {"json": {"metadata": {}}}, 422),
    ("upload bad metadata", "/api/v1/index/upload",
     {"files": {"files": ("a.jpg", _jpeg(), "image/jpeg")}, "data": {"metadata": "{no"}}, 400),
    ("form filter not an object", "/api/v1/search/image",
     {"files": {"file": ("a.jpg", _jpeg(), "image/jpeg")}, "data": {"filter": "[1]"}}, 422),
    ("upload empty file", "/api/v1/index/upload", {"files": {"files": ("a.jpg", b"", "image/jpeg")}}, 400),
]


@pytest.mark.parametrize(("name", "url", "kwargs", "status"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error(client: TestClient, name: str, url: str, kwargs: dict,
                                    status: int) -> None:
    resp = client.post(url, **kwargs)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] and len(err["message"]) > 10
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_errors_lose_nothing(client: TestClient, clothing_images: list[Path]) -> None:
    good = clothing_images[0]
    files = [("files", (good.name, good.read_bytes(), "image/jpeg")),
             ("files", ("broken.jpg", _jpeg()[:200], "image/jpeg")),
             ("files", ("notes.jpg", b"plain text", "image/jpeg"))]
    body = client.post("/api/v1/index/upload", files=files).json()
    assert [r["status"] for r in body["results"]] == ["indexed", "failed", "failed"]
    assert body["results"][2]["error"]["code"] == "unsupported_format"
    assert client.get("/api/v1/stats").json()["count"] == 1


def test_unknown_image_is_404(client: TestClient) -> None:
    for method, url in (("get", "/api/v1/images/abc"), ("get", "/api/v1/images/abc/thumbnail"),
                        ("get", "/api/v1/images/abc/info"), ("delete", "/api/v1/images/abc")):
        resp = getattr(client, method)(url)
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "not_found"


def test_store_down_is_a_503_and_the_service_stays_alive(client: TestClient, runtime: Runtime) -> None:
    runtime.store.close()  # as a Qdrant server that went away
    resp = client.get("/api/v1/images/abc/info")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "store_unavailable"
    assert client.post("/api/v1/search", json={"text": "a hat"}).status_code == 503
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/ready").status_code == 503
