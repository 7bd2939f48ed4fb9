"""What a browser may do to the server: cross-site writes, DNS rebinding, framing and sniffing,
server paths in public answers, and the docs page working offline under the CSP."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from visearch.api.app import create_app
from visearch.config import Settings
from visearch.runtime import Runtime

EVIL = "https://evil.example"


def _app_client(runtime: Runtime, base_url: str = "http://testserver",
                **changes: Any) -> Iterator[TestClient]:
    settings: Settings = runtime.settings.model_copy(update=changes)
    with TestClient(create_app(settings, runtime=runtime), base_url=base_url) as client:
        yield client


@pytest.fixture
def local(runtime: Runtime) -> Iterator[TestClient]:
    """The single-user server as a browser on this machine reaches it."""
    yield from _app_client(runtime, base_url="http://127.0.0.1:8000", allowed_hosts=[])


def _upload(client: TestClient, image: Path, **headers: str) -> Any:
    return client.post("/api/v1/index/upload", headers=headers,
                       files=[("files", (image.name, image.read_bytes(), "image/jpeg"))])


def test_cross_site_upload_is_refused_and_writes_nothing(
        local: TestClient, clothing_images: list[Path]) -> None:
    """Found 1/5: a multipart form posted by another site needs no CORS preflight; the server
    itself must refuse it (Origin, or Sec-Fetch-Site where a browser sends no Origin)."""
    refused = _upload(local, clothing_images[0], Origin=EVIL)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_origin"
    sneaky = _upload(local, clothing_images[0], **{"Sec-Fetch-Site": "cross-site"})
    assert sneaky.status_code == 403
    null_origin = local.delete("/api/v1/images/x", headers={"Origin": "null"})
    assert null_origin.status_code == 403
    assert local.get("/api/v1/stats").json()["count"] == 0
    files = list((Path(local.app.state.runtime.settings.data_dir) / "images").rglob("*.*"))
    assert files == []


def test_same_origin_and_non_browser_writes_pass(
        local: TestClient, clothing_images: list[Path]) -> None:
    assert _upload(local, clothing_images[0], Origin="http://127.0.0.1:8000").status_code == 200
    assert _upload(local, clothing_images[1]).status_code == 200  # curl, the CLI: no Origin
    assert _upload(local, clothing_images[2], Origin="http://127.0.0.1:9999").status_code == 403
    # Reading is not a write: a foreign page may send it but cannot read the answer (no CORS).
    search = local.post("/api/v1/search", json={"text": "shoe"}, headers={"Origin": EVIL})
    assert search.status_code == 403
    get = local.get("/api/v1/stats", headers={"Origin": EVIL})
    assert get.status_code == 200 and "access-control-allow-origin" not in get.headers


def test_allowed_origin_gets_cors_and_may_write(runtime: Runtime,
                                                clothing_images: list[Path]) -> None:
    app = "https://app.example.com"
    for client in _app_client(runtime, allowed_origins=[app]):
        pre = client.options("/api/v1/index/upload", headers={
            "Origin": app, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == app
        resp = _upload(client, clothing_images[0], Origin=app)
        assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == app
        assert _upload(client, clothing_images[1], Origin=EVIL).status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "192.168.1.20",
                                  "localhost.evil.example"])
def test_dns_rebinding_is_blocked_by_the_host_check(runtime: Runtime, host: str) -> None:
    """Found 5: a page at attacker.example whose name re-resolves to 127.0.0.1 reaches the
    local server with its own Host; the server answers loopback names only (by default)."""
    for client in _app_client(runtime, base_url=f"http://{host}", allowed_hosts=[]):
        resp = client.get("/api/v1/stats")
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_host"


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000",
                                  "search.example.com"])
def test_loopback_and_configured_hosts_are_answered(runtime: Runtime, host: str) -> None:
    for client in _app_client(runtime, base_url=f"http://{host}",
                              allowed_hosts=["*.example.com"]):
        assert client.get("/api/v1/stats").status_code == 200


def test_security_headers_on_every_response(local: TestClient) -> None:
    """Found 5: CSP, nosniff, framing and referrer rules on API answers, errors and pages."""
    answers = [local.get("/api/v1/health"), local.get("/api/v1/nope"),
               local.post("/api/v1/search", json={}), local.get("/docs"),
               local.get("/openapi.json")]
    for resp in answers:
        csp = resp.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, resp.url
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["referrer-policy"] == "no-referrer"


def test_stored_original_with_a_page_appended_is_never_a_document(
        local: TestClient, clothing_images: list[Path]) -> None:
    """Found 5: a JPEG with an HTML page appended is stored and served as is; it goes out as
    image/jpeg with nosniff, a sandboxing CSP and an inline file name, so a browser never
    renders the page."""
    polyglot = clothing_images[0].read_bytes() + b"<html><script>alert(1)</script></html>"
    body = {"image_data": base64.b64encode(polyglot).decode(), "image_id": "poly"}
    assert local.post("/api/v1/index", json=body).status_code == 200
    resp = local.get("/api/v1/images/poly")
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert re.fullmatch(r'inline; filename="poly\.jpe?g"', resp.headers["content-disposition"])


def test_public_answers_reveal_no_server_paths(local: TestClient,
                                                clothing_images: list[Path]) -> None:
    """Found 5: /ready (public: probes send no key) and /images/{id}/info named the data dir,
    the model directory and the source file on the server."""
    runtime: Runtime = local.app.state.runtime  # type: ignore[attr-defined]
    secrets = [str(runtime.settings.data_dir.resolve()), str(runtime.settings.model),
               str(clothing_images[0].parent)]
    ids = runtime.indexer.index_files(clothing_images[:1])
    ready = local.get("/api/v1/ready")
    info = local.get(f"/api/v1/images/{ids[0].image_id}/info")
    assert ready.status_code == 200 and info.status_code == 200
    assert info.json()["source"] == clothing_images[0].name
    for text in (ready.text, info.text):
        for secret in secrets:
            assert secret not in text, (secret, text)


def test_docs_work_offline_under_the_csp(local: TestClient) -> None:
    """Found 7: /docs loaded Swagger UI from a CDN (blank offline, and against the CSP)."""
    page = local.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assert "<script>" not in page.text.replace(" ", "")  # no inline script under script-src 'self'
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        asset = local.get(src)
        assert asset.status_code == 200 and len(asset.content) > 100, src
    bundle = local.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text
    assert local.get("/redoc").status_code == 404  # ReDoc loads from a CDN: not served
