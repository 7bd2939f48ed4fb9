"""Hostile input, class by class: every request gets a clean JSON 4xx ``{"error": {"code",
"message"}}`` with a request id, the server stays healthy, and nothing is written for it
(no image files, no points).

Classes here: payload shape, Unicode, numbers, sizes, bombs, polyglots, traversal, SSRF.
Streaming bodies, header size and count, and slow clients are limits of the HTTP server
itself and are tried against a real ``visearch serve`` over raw sockets in
``tests/api/test_server_limits.py``; disk faults in ``test_disk_faults.py``.
"""

from __future__ import annotations

import base64
import io
import socket
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from visearch.api.app import create_app
from visearch.config import Settings
from visearch.runtime import Runtime

MAX_FILES = 4


def _jpeg(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _png_header(width: int, height: int) -> bytes:
    """A valid PNG announcing width x height pixels with a few real rows (a bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress((b"\x00" + b"\x00" * (width * 3)) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b"\x3b"


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def _raw(text: str) -> dict[str, Any]:
    """A JSON body as text (Python's json writes neither lone surrogates nor NaN this way)."""
    return {"content": text.encode("utf-8", "surrogatepass"),
            "headers": {"content-type": "application/json"}}


IMG = _b64(_jpeg())


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    status: int | None = None  # None: any 4xx
    code: str | None = None


def _index(**fields: Any) -> dict[str, Any]:
    return {"json": {"image_data": IMG, **fields}}


def _index_raw(extra: str) -> dict[str, Any]:
    return _raw('{"image_data": "' + IMG + '", ' + extra + "}")


def _meta_raw(value: object) -> dict[str, Any]:
    """An index request whose metadata ``x`` is ``value`` written as is (NaN, huge numbers)."""
    return _index_raw('"metadata": {"x": ' + str(value) + "}")


def _search_raw(extra: str) -> dict[str, Any]:
    return _raw('{"text": "a dress", ' + extra + "}")


def _filter_raw(condition: object) -> dict[str, Any]:
    return _search_raw('"filter": {"width": ' + str(condition) + "}")


def _upload(n: int = 1, **data: str) -> dict[str, Any]:
    files = [("files", (f"f{i}.jpg", _jpeg(colour=(i, 9, 9)), "image/jpeg")) for i in range(n)]
    return {"files": files, "data": data}


INDEX, SEARCH, JOBS, UPLOAD = "/api/v1/index", "/api/v1/search", "/api/v1/jobs", "/api/v1/index/upload"

CASES: dict[str, list[Case]] = {
    "payload shape": [
        Case("metadata 40 levels deep", "post", INDEX, _index(metadata=_nested(40)), 422),
        Case("metadata over the depth limit", "post", INDEX, _index(metadata=_nested(9)), 422,
             "invalid_metadata"),
        Case("metadata 130 levels (unreadable by the store)", "post", INDEX,
             _index(metadata=_nested(130)), 422),
        Case("metadata a list", "post", INDEX, _index(metadata=[1, 2]), 422),
        Case("body a list", "post", SEARCH, {"json": [{"text": "a"}]}, 422),
        Case("100,000 nested arrays", "post", SEARCH, _raw("[" * 100_000 + "]" * 100_000), 400),
        Case("filter nested lists", "post", SEARCH, {"json": {"text": "a", "filter": {
            "label": [["x"]]}}}, 422),
        Case("image_id an object", "post", SEARCH, {"json": {"image_id": {"$ne": 1}}}, 422),
        Case("upload metadata a list", "post", UPLOAD, _upload(metadata="[1]"), 422),
        Case("upload metadata deep", "post", UPLOAD, _upload(metadata='{"a":' * 20 + "1" +
                                                             "}" * 20), 422),
        Case("job metadata deep", "post", JOBS, {"json": {"urls": ["https://example.org/a.jpg"],
                                                          "metadata": _nested(12)}}, 422),
    ],
    "unicode": [
        Case("metadata value lone surrogate", "post", INDEX, _index_raw('"metadata": {"x": "\\ud800"}'), 422),
        Case("metadata key lone surrogate", "post", INDEX, _index_raw('"metadata": {"\\udfff": 1}'), 422),
        Case("label lone surrogate", "post", INDEX, _index_raw('"label": "a\\ud800"'), 422),
        Case("filename lone surrogate", "post", INDEX, _index_raw('"filename": "\\udc80.jpg"'), 422),
        Case("image_id lone surrogate (index)", "post", INDEX, _index_raw('"image_id": "\\ud800"'), 422),
        Case("image_id lone surrogate (search)", "post", SEARCH, _raw('{"image_id": "\\ud800"}'), 422),
        Case("filter value lone surrogate", "post", SEARCH, _search_raw('"filter": {"label": "\\ud800"}'),
             422),
        Case("filter list lone surrogate", "post", SEARCH,
             _search_raw('"filter": {"metadata.k": ["ok", "\\udbff"]}'), 422),
        Case("text lone surrogate", "post", SEARCH, _raw('{"text": "\\ud800 dog"}'), 422),
        Case("job URL lone surrogate", "post", JOBS, _raw('{"urls": ["https://x.org/\\ud800.jpg"]}'), 422),
        Case("job metadata lone surrogate", "post", JOBS,
             _raw('{"urls": ["https://x.org/a.jpg"], "metadata": {"k": "\\ud800"}}'), 422),
        Case("upload metadata lone surrogate", "post", UPLOAD, _upload(metadata='{"k": "\\ud800"}'), 422),
        Case("search form filter lone surrogate", "post", "/api/v1/search/image",
             {"files": {"file": ("q.jpg", _jpeg(), "image/jpeg")},
              "data": {"filter": '{"label": "\\ud800"}'}}, 422),
        Case("image id path not an id", "get", "/api/v1/images/%ED%A0%80", {}, 422),
    ],
    "numbers": [
        Case("metadata NaN", "post", INDEX, _index_raw('"metadata": {"x": NaN}'), 422),
        Case("metadata Infinity", "post", INDEX, _index_raw('"metadata": {"x": Infinity}'), 422),
        Case("metadata -Infinity in a list", "post", INDEX, _index_raw('"metadata": {"x": [-Infinity]}'),
             422),
        Case("metadata 400-digit integer", "post", INDEX, _meta_raw("9" * 400),
             422),
        Case("metadata 2**63", "post", INDEX, _meta_raw(2**63), 422),
        Case("metadata -2**63-1", "post", INDEX, _meta_raw(-(2**63) - 1), 422),
        Case("metadata 5000-digit integer", "post", INDEX, _meta_raw("9" * 5000),
             400),
        Case("filter integer 2**63", "post", SEARCH, _filter_raw(2**63), 422),
        Case("filter list integer -2**64", "post", SEARCH,
             _filter_raw([-(2**64)]), 422),
        Case("filter range 10**400", "post", SEARCH,
             _filter_raw('{"gt": ' + "9" * 400 + "}"), 422),
        Case("filter range NaN", "post", SEARCH, _search_raw('"filter": {"width": {"gt": NaN}}'), 422),
        Case("text_weight NaN", "post", SEARCH, _search_raw('"text_weight": NaN'), 422),
        Case("top_k 10**30", "post", SEARCH, _search_raw('"top_k": ' + str(10**30)), 422),
        Case("offset -1", "post", SEARCH, _search_raw('"offset": -1'), 422),
        Case("threshold Infinity", "post", SEARCH, _search_raw('"threshold": Infinity'), 422),
        Case("upload metadata NaN", "post", UPLOAD, _upload(metadata='{"x": NaN}'), 422),
        Case("upload metadata 5000 digits", "post", UPLOAD, _upload(metadata='{"x": ' + "9" * 5000 + "}"),
             400),
    ],
    "sizes": [
        Case("metadata string over the limit", "post", INDEX, _index(metadata={"x": "y" * 5000}), 422,
             "invalid_metadata"),
        Case("metadata over the byte limit", "post", INDEX,
             _index(metadata={f"k{i}": "v" * 4000 for i in range(5)}), 413, "metadata_too_large"),
        Case("metadata 10 MB", "post", INDEX, _index(metadata={"x": "y" * 10_000_000}), 413),
        Case("metadata too many keys", "post", INDEX, _index(metadata={f"k{i}": i for i in range(300)}),
             422, "invalid_metadata"),
        Case("label of 300 characters", "post", INDEX, _index(label="x" * 300), 422),
        Case("upload label of 300 characters", "post", UPLOAD, _upload(label="x" * 300), 422),
        Case("top_k over the maximum", "post", SEARCH, {"json": {"text": "a", "top_k": 100_001}}, 422),
        Case("too many files", "post", UPLOAD, _upload(MAX_FILES + 1), 413, "too_many_files"),
        Case("no files", "post", UPLOAD, {"data": {"label": "x"}}, 422),
        Case("image over the byte limit", "post", UPLOAD,
             {"files": {"files": ("big.jpg", _jpeg() + b"\0" * 600_000, "image/jpeg")}}, 413),
        Case("job of too many URLs", "post", JOBS,
             {"json": {"urls": [f"https://x.org/{i}.jpg" for i in range(60)]}}, 413),
    ],
    "bombs": [
        Case("PNG of 20,000 x 20,000", "post", INDEX,
             {"json": {"image_data": _b64(_png_header(20_000, 20_000))}}, 413, "too_many_pixels"),
        Case("PNG of 65,535 x 65,535 (search)", "post", SEARCH,
             {"json": {"image_data": _b64(_png_header(65_535, 65_535))}}, 413),
        Case("GIF of 65,535 x 65,535", "post", UPLOAD,
             {"files": {"files": ("g.gif", _gif_header(65_535, 65_535), "image/gif")}}, None),
        Case("base64 that is not base64", "post", INDEX, {"json": {"image_data": "%%%"}}, 400),
    ],
    "polyglots": [
        Case("HTML named .jpg", "post", UPLOAD,
             {"files": {"files": ("x.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg")}},
             415),
        Case("SVG with a script", "post", UPLOAD,
             {"files": {"files": ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>1</script>'
                                            b"</svg>", "image/svg+xml")}}, 415),
        Case("PDF as a data URL", "post", INDEX,
             {"json": {"image_data": "data:application/pdf;base64," + _b64(b"%PDF-1.4\n")}}, 400),
        Case("JPEG header then HTML", "post", INDEX,
             {"json": {"image_data": _b64(b"\xff\xd8\xff\xe0<html>" + b"A" * 100)}}, 422),
    ],
    "traversal": [
        Case("image_id ../ (index)", "post", INDEX, _index(image_id="../../etc/passwd"), 422),
        Case("image_id ../ (path)", "get", "/api/v1/images/..%2F..%2Fetc%2Fpasswd", {}, None),
        Case("image_id ../ (delete)", "delete", "/api/v1/images/..%2Fx", {}, None),
        Case("job folder escaping the root", "post", JOBS, {"json": {"folder": "{root}/../../etc"}}, 403),
        Case("job folder ~user", "post", JOBS, {"json": {"folder": "~nosuchuser/x"}}, 422, "invalid_path"),
        Case("job folder ~root", "post", JOBS, {"json": {"folder": "~root"}}, 422, "invalid_path"),
        Case("job manifest ~user", "post", JOBS, {"json": {"manifest": "~nosuchuser/m.jsonl"}}, 422),
        Case("job folder with a NUL", "post", JOBS, {"json": {"folder": "{root}/a\u0000b"}}, 422),
        Case("job folder relative", "post", JOBS, {"json": {"folder": "photos"}}, 422),
        Case("job manifest outside the root", "post", JOBS, {"json": {"manifest": "/etc/passwd"}}, 403),
        Case("job folder a symlink out", "post", JOBS, {"json": {"folder": "{root}/escape"}}, 403),
    ],
    "ssrf": [
        Case("index URL on loopback", "post", INDEX, {"json": {"image_url": "http://127.0.0.1:9/a.jpg"}},
             422, "blocked_url"),
        Case("index URL localhost name", "post", INDEX, {"json": {"image_url": "http://localhost/a.jpg"}},
             422),
        Case("index URL cloud metadata", "post", INDEX,
             {"json": {"image_url": "http://169.254.169.254/latest/meta-data/"}}, 422, "blocked_url"),
        Case("index URL IPv6 loopback", "post", INDEX, {"json": {"image_url": "http://[::1]/a.jpg"}}, 422),
        Case("index URL private network", "post", INDEX, {"json": {"image_url": "http://10.0.0.1/a.jpg"}},
             422),
        Case("index URL decimal IP", "post", INDEX, {"json": {"image_url": "http://2130706433/a.jpg"}}, 422),
        Case("search URL file scheme", "post", SEARCH, {"json": {"image_url": "file:///etc/passwd"}}, 400,
             "invalid_url"),
        Case("search URL gopher", "post", SEARCH, {"json": {"image_url": "gopher://127.0.0.1:6379/_"}},
             400, "invalid_url"),
    ],
}
ALL = [pytest.param(kind, case, id=f"{kind}: {case.name}")
       for kind, cases in CASES.items() for case in cases]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, tiny_embedder: Any) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("hostile")
    root = tmp / "allowed"
    (root / "photos").mkdir(parents=True)
    (root / "escape").symlink_to("/etc")
    settings = Settings(
        model="tiny", model_fallback="", device="cpu", data_dir=tmp / "data", batch_size=8,
        allowed_roots=[root], max_batch_files=MAX_FILES, max_upload_bytes=512 * 1024,
        job_max_items=50, fetch_timeout_s=2.0,
    )
    runtime = Runtime.build(settings, embedder=tiny_embedder)
    with TestClient(create_app(runtime=runtime)) as client:
        indexed = client.post(UPLOAD, files=[("files", ("seed.jpg", _jpeg(colour=(1, 2, 3)),
                                                         "image/jpeg"))])
        assert indexed.status_code == 200, indexed.text
        client.root = root  # type: ignore[attr-defined]
        client.runtime = runtime  # type: ignore[attr-defined]
        yield client
    runtime.close()


def _on_disk(runtime: Runtime) -> tuple[list[str], int]:
    files = sorted(str(p.relative_to(runtime.files.root))
                   for p in runtime.files.root.rglob("*") if p.is_file())
    return files, runtime.store.count()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address a socket tried to connect to (SSRF cases must refuse before any)."""
    seen: list[Any] = []
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        seen.append(address)
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def _fill(value: Any, root: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{root}", str(root))
    if isinstance(value, dict):
        return {k: _fill(v, root) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("kind", "case"), ALL)
def test_hostile_input_gets_a_clean_4xx(
    api: TestClient, kind: str, case: Case, connects: list[Any]
) -> None:
    runtime: Runtime = api.runtime  # type: ignore[attr-defined]
    before = _on_disk(runtime)
    kwargs = _fill(case.kwargs, api.root)  # type: ignore[attr-defined]
    resp = api.request(case.method.upper(), case.path, **kwargs)

    assert 400 <= resp.status_code < 500, f"{resp.status_code}: {resp.text[:300]}"
    if case.status is not None:
        assert resp.status_code == case.status, resp.text[:300]
    error = resp.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    if case.code is not None:
        assert error["code"] == case.code, error
    assert resp.headers.get("x-request-id")
    assert _on_disk(runtime) == before  # nothing written for a refused request
    if kind == "ssrf":
        assert connects == []  # refused before any connection was made
    assert api.get("/api/v1/health").status_code == 200
    assert api.post(SEARCH, json={"text": "a red dress"}).status_code == 200


def test_odd_file_names_are_cleaned_not_refused(api: TestClient) -> None:
    """A file name is whatever a file system or multipart header holds: stored cleaned."""
    raw = (b"--b\r\nContent-Disposition: form-data; name=\"files\"; "
           b"filename=\"\xed\xa0\x80\x01\x1b[31m../../evil.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
           + _jpeg(colour=(77, 1, 1)) + b"\r\n--b--\r\n")
    resp = api.post(UPLOAD, content=raw,
                    headers={"content-type": "multipart/form-data; boundary=b"})
    assert resp.status_code == 200, resp.text
    [result] = resp.json()["results"]
    assert result["status"] == "indexed"
    name = result["filename"]
    assert name.endswith("evil.jpg") and name.isprintable() and name.encode("utf-8")
    info = api.get(f"/api/v1/images/{result['image_id']}/info").json()
    assert info["filename"] == name
