"""API keys with scopes (401 / 403), budgets per client (429 with Retry-After), active jobs per
client, and the OpenAPI schema saying what a route needs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support.jobs import TestImageServer
from visearch.api.app import create_app
from visearch.config import ConfigError, Settings
from visearch.runtime import Runtime
from visearch.security.keys import KeyFile


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Any]:
    """A keys file with one key per scope, one with two scopes, one revoked."""
    path = tmp_path / "keys.json"
    kf = KeyFile(path)
    made = {name: kf.create(scopes, name)[1] for name, scopes in {
        "search": ["search"], "index": ["index"], "admin": ["admin"],
        "both": ["search", "index"], "old": ["search"]}.items()}
    kf.revoke("old")
    return {"path": path, **made}


def _client(runtime: Runtime, **changes: Any) -> Iterator[TestClient]:
    settings = runtime.settings.model_copy(update=changes)
    with TestClient(create_app(settings, runtime=runtime)) as client:
        yield client


@pytest.fixture
def guarded(runtime: Runtime, keys: dict[str, Any]) -> Iterator[TestClient]:
    yield from _client(runtime, api_keys_file=keys["path"])


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _image_body(path: Path) -> dict[str, str]:
    return {"image_data": base64.b64encode(path.read_bytes()).decode()}


def test_no_key_is_401_with_a_json_error(guarded: TestClient) -> None:
    for resp in (guarded.post("/api/v1/search", json={"text": "a shoe"}),
                 guarded.get("/api/v1/stats"), guarded.get("/api/v1/jobs"),
                 guarded.delete("/api/v1/images/x"), guarded.get("/metrics"),
                 guarded.get("/api/v1/images/x/thumbnail")):
        assert resp.status_code == 401, resp.url
        assert resp.json()["error"]["code"] == "unauthorized"
        assert resp.headers["www-authenticate"].startswith("Bearer")


def test_unknown_and_revoked_keys_are_401(guarded: TestClient, keys: dict[str, Any]) -> None:
    for key in ("vsk_not-a-key", keys["old"]):
        resp = guarded.post("/api/v1/search", json={"text": "x"}, headers=_bearer(key))
        assert resp.status_code == 401 and "not valid" in resp.json()["error"]["message"]


def test_scopes(guarded: TestClient, keys: dict[str, Any], clothing_images: list[Path]) -> None:
    search, index, admin = _bearer(keys["search"]), _bearer(keys["index"]), _bearer(keys["admin"])
    assert guarded.post("/api/v1/search", json={"text": "x"}, headers=search).status_code == 200
    assert guarded.post("/api/v1/search", json={"text": "x"},
                        headers={"X-API-Key": keys["search"]}).status_code == 200
    denied = guarded.post("/api/v1/index", json=_image_body(clothing_images[0]), headers=search)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert "'index'" in denied.json()["error"]["message"]
    made = guarded.post("/api/v1/index", json=_image_body(clothing_images[0]), headers=index)
    assert made.status_code == 200
    image_id = made.json()["results"][0]["image_id"]
    assert guarded.get(f"/api/v1/images/{image_id}", headers=index).status_code == 403
    assert guarded.get(f"/api/v1/images/{image_id}", headers=search).status_code == 200
    assert guarded.get("/api/v1/jobs", headers=search).status_code == 403
    assert guarded.get("/api/v1/jobs", headers=index).status_code == 200
    assert guarded.get("/metrics", headers=search).status_code == 403
    assert guarded.get("/metrics", headers=admin).status_code == 200
    assert guarded.get("/api/v1/stats", headers=admin).json()["count"] == 1
    assert guarded.get("/api/v1/stats", headers=index).status_code == 403
    both = _bearer(keys["both"])
    assert guarded.delete(f"/api/v1/images/{image_id}", headers=search).status_code == 403
    assert guarded.delete(f"/api/v1/images/{image_id}", headers=both).status_code == 200


def test_public_routes_need_no_key(guarded: TestClient) -> None:
    assert guarded.get("/api/v1/health").status_code == 200
    assert guarded.get("/api/v1/ready").status_code == 200
    assert guarded.get("/docs").status_code == 200
    assert guarded.get("/openapi.json").status_code == 200
    assert guarded.get("/api/v1/ui-config").json() == {"keys_required": True, "api_key": None}


def test_revocation_takes_effect_without_a_restart(guarded: TestClient,
                                                   keys: dict[str, Any]) -> None:
    headers = _bearer(keys["search"])
    assert guarded.get("/api/v1/stats", headers=headers).status_code == 200
    KeyFile(keys["path"]).revoke("search")
    access = guarded.app.state.access  # type: ignore[attr-defined]
    access.keys._checked = 0.0  # skip the one-second recheck interval
    assert guarded.get("/api/v1/stats", headers=headers).status_code == 401


def test_openapi_declares_the_schemes_and_scopes(guarded: TestClient) -> None:
    schema = guarded.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerKey"] == {"type": "http", "scheme": "bearer",
                                    "description": schemes["bearerKey"]["description"]}
    assert schemes["apiKeyHeader"]["in"] == "header"
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    paths = schema["paths"]
    assert {"bearerKey": ["search"]} in paths["/api/v1/search"]["post"]["security"]
    assert {"apiKeyHeader": ["index"]} in paths["/api/v1/index"]["post"]["security"]
    assert {"bearerKey": ["index"]} in paths["/api/v1/jobs"]["post"]["security"]
    assert "security" not in paths["/api/v1/health"]["get"]
    for status in ("401", "403", "429"):
        assert status in paths["/api/v1/search"]["post"]["responses"]


def test_without_keys_the_schema_asks_for_none(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert all("security" not in op for p in schema["paths"].values() for op in p.values())


def test_ui_key_is_served_and_must_be_search_only(runtime: Runtime,
                                                  keys: dict[str, Any]) -> None:
    for client in _client(runtime, api_keys_file=keys["path"],
                          ui_api_key=SecretStr(keys["search"])):
        config = client.get("/api/v1/ui-config").json()
        assert config == {"keys_required": True, "api_key": keys["search"]}
        headers = _bearer(config["api_key"])
        assert client.post("/api/v1/search", json={"text": "x"}, headers=headers).status_code == 200
    settings = runtime.settings.model_copy(update={"api_keys_file": keys["path"],
                                                   "ui_api_key": SecretStr(keys["both"])})
    with pytest.raises(ConfigError, match="search scope only"):
        create_app(settings, runtime=runtime)


def test_missing_keys_file_is_a_one_line_config_error(runtime: Runtime, tmp_path: Path) -> None:
    settings = runtime.settings.model_copy(update={"api_keys_file": tmp_path / "none.json"})
    with pytest.raises(ConfigError, match="does not exist") as err:
        create_app(settings, runtime=runtime)
    assert "\n" not in str(err.value)


def test_budgets_answer_429_with_retry_after(runtime: Runtime, keys: dict[str, Any]) -> None:
    for client in _client(runtime, api_keys_file=keys["path"], rate_limit_search="3/minute",
                          rate_limit_index="1/minute"):
        one, two = _bearer(keys["search"]), _bearer(keys["both"])
        codes = [client.post("/api/v1/search", json={"text": "x"}, headers=one).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        over = client.post("/api/v1/search", json={"text": "x"}, headers=one)
        assert over.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(over.headers["retry-after"]) <= 60
        # Budgets are per key, and searching and indexing are counted apart.
        assert client.post("/api/v1/search", json={"text": "x"}, headers=two).status_code == 200
        assert client.delete("/api/v1/images/a", headers=two).status_code == 404
        assert client.delete("/api/v1/images/a", headers=two).status_code == 429
        # Reading stored images and polling jobs cost nothing.
        assert all(client.get("/api/v1/jobs", headers=two).status_code == 200 for _ in range(5))


def test_budgets_per_address_without_keys(runtime: Runtime) -> None:
    """Bound to a non-loopback address without keys (allowed explicitly): limits per client
    address are on by default."""
    for client in _client(runtime, host="0.0.0.0", allow_unauthenticated=True,
                          rate_limit_search="2/minute"):
        codes = [client.post("/api/v1/search", json={"text": "x"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


def test_single_user_mode_has_no_budgets(client: TestClient) -> None:
    assert all(client.post("/api/v1/search", json={"text": "x"}).status_code == 200
               for _ in range(40))


def test_active_jobs_per_key_are_capped(settings: Settings, tiny_embedder: Any,
                                        keys: dict[str, Any], clothing_images: list[Path]) -> None:
    """A job whose only image answers after 6 s stays running while the test submits more."""
    slow = settings.model_copy(update={"fetch_allow_private": True, "fetch_timeout_s": 30.0})
    runtime = Runtime.build(slow, embedder=tiny_embedder)
    with TestImageServer(clothing_images[0].read_bytes(), slow_s=6) as images:
        try:
            _jobs_capped(runtime, keys, {"urls": [f"{images.base}/slow"]})
        finally:
            runtime.close()


def _jobs_capped(runtime: Runtime, keys: dict[str, Any], folder: dict[str, Any]) -> None:
    for client in _client(runtime, api_keys_file=keys["path"], job_max_active=1):
        index, both = _bearer(keys["index"]), _bearer(keys["both"])
        first = client.post("/api/v1/jobs", json=folder, headers=index)
        assert first.status_code == 202, first.text
        second = client.post("/api/v1/jobs", json=folder, headers=index)
        assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_jobs"
        assert client.post("/api/v1/jobs", json=folder, headers=both).status_code == 202
        cancel = client.delete(f"/api/v1/jobs/{first.json()['job_id']}", headers=index)
        assert cancel.status_code == 200
        assert client.post("/api/v1/jobs", json=folder, headers=index).status_code == 202


PUBLIC = {("GET", "/api/v1/health"), ("GET", "/api/v1/ready"), ("GET", "/api/v1/ui-config"),
          ("DELETE", "/api/v1/session")}


def test_every_route_but_the_public_ones_needs_a_key(guarded: TestClient) -> None:
    """Routes added later are covered too: each operation of the schema answers 401 without
    a key, except the public ones."""
    checked = 0
    for template, operations in guarded.get("/openapi.json").json()["paths"].items():
        for method in operations:
            if (method.upper(), template) in PUBLIC:
                continue
            path = template.replace("{", "").replace("}", "")  # /images/image_id/info
            resp = guarded.request(method.upper(), path, json={})
            assert resp.status_code == 401, (method, template, resp.status_code)
            checked += 1
    assert checked >= 12
    for method, path in PUBLIC:
        assert guarded.request(method, path).status_code in (200, 204), path


def test_a_session_cookie_lets_the_browser_load_images(
        guarded: TestClient, keys: dict[str, Any], clothing_images: list[Path]) -> None:
    """<img> tags send no headers: POST /session turns the key into an HttpOnly cookie."""
    made = guarded.post("/api/v1/index", json=_image_body(clothing_images[0]),
                        headers=_bearer(keys["index"]))
    thumb = f"/api/v1/images/{made.json()['results'][0]['image_id']}/thumbnail"
    assert guarded.get(thumb).status_code == 401
    assert guarded.post("/api/v1/session").status_code == 401
    opened = guarded.post("/api/v1/session", headers={"X-API-Key": keys["search"]})
    assert opened.status_code == 204
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/api" in cookie
    assert guarded.get(thumb).status_code == 200  # the client keeps the cookie
    assert guarded.delete("/api/v1/images/x").status_code == 403  # still only its scopes
    assert guarded.delete("/api/v1/session").status_code == 204
    guarded.cookies.clear()
    assert guarded.get(thumb).status_code == 401
