"""Delivery of the web UI: precompressed assets when accepted, gzip for JSON, cache headers
(hashed assets immutable, index.html revalidated), under the app's security headers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from visearch.api.app import create_app
from visearch.api.static import accepted_encodings

ASSET = "assets/index-AbC123xy.js"
SCRIPT = ("const visearch = 'the web UI';\n" * 400).encode()
BR_MARKER = b"the brotli copy"


@pytest.fixture
def ui_dir(tmp_path: Path) -> Path:
    """A build like Vite's: index.html, a hashed asset with .br/.gz copies, a favicon. (The
    .br copy is a marker: which file is sent is what is tested, not Brotli itself.)"""
    ui = tmp_path / "dist"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text(
        f'<!doctype html><html><head><script type="module" src="/{ASSET}"></script></head>'
        "<body><div id=root></div></body></html>" + " " * 2000
    )
    (ui / ASSET).write_bytes(SCRIPT)
    (ui / f"{ASSET}.gz").write_bytes(gzip.compress(SCRIPT))
    (ui / f"{ASSET}.br").write_bytes(BR_MARKER)
    (ui / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return ui


@pytest.fixture
def ui_client(runtime, ui_dir: Path):  # type: ignore[no-untyped-def]
    runtime.settings.static_dir = ui_dir
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def test_hashed_assets_are_immutable_and_sent_precompressed(ui_client: TestClient) -> None:
    with ui_client.stream("GET", f"/{ASSET}", headers={"Accept-Encoding": "gzip, br"}) as br:
        assert br.status_code == 200
        assert b"".join(br.iter_raw()) == BR_MARKER  # the copy, sent as it is
        assert br.headers["content-encoding"] == "br"
        assert br.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "accept-encoding" in br.headers["vary"].lower()
        assert br.headers["content-type"].startswith("text/javascript")

    gz = ui_client.get(f"/{ASSET}", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.content == SCRIPT
    assert int(gz.headers["content-length"]) < len(SCRIPT) / 10

    plain = ui_client.get(f"/{ASSET}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert int(plain.headers["content-length"]) == len(SCRIPT)
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    # security headers still apply to the UI (the CSP allows only the site's own scripts)
    assert "script-src 'self'" in plain.headers["content-security-policy"]


def test_index_html_is_revalidated_and_compressed(ui_client: TestClient) -> None:
    page = ui_client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["content-encoding"] == "gzip"
    etag = page.headers["etag"]
    again = ui_client.get("/", headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"
    assert ui_client.get("/favicon.svg").headers["cache-control"] == "public, max-age=86400"


def test_json_is_gzipped_when_accepted_and_images_are_not(ui_client: TestClient) -> None:
    schema = ui_client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert schema.headers["content-encoding"] == "gzip"
    stats = ui_client.get("/api/v1/stats", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in stats.headers


def test_accept_encoding_parsing() -> None:
    assert accepted_encodings("gzip, deflate, br") == {"gzip", "deflate", "br"}
    assert accepted_encodings("br;q=0, gzip;q=0.5") == {"gzip"}
    assert accepted_encodings("") == set()
    assert accepted_encodings("gzip;q=x") == set()
