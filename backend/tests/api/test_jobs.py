"""The jobs API on the in-process runner: submit (202), follow, list, cancel, errors, and a URL
job whose items hit every kind of bad URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.clip import DATA_DIR
from tests.support.jobs import TestImageServer, free_port
from visearch.api.app import create_app
from visearch.config import Settings, load_settings
from visearch.runtime import Runtime

CLOTHING = DATA_DIR / "clothing10"


def _settings(tmp_path: Path, tiny_clip_dir: Path, **kw: object) -> Settings:
    values: dict[str, object] = {
        "model": str(tiny_clip_dir), "model_fallback": "", "device": "cpu",
        "data_dir": tmp_path / "data", "batch_size": 8, "job_batch_size": 8,
        "allowed_roots": [CLOTHING], "broker_url": None, "redis_url": None,
    }
    return load_settings(**{**values, **kw})


@pytest.fixture
def api(tmp_path: Path, tiny_clip_dir: Path, tiny_embedder: Any) -> Iterator[TestClient]:
    svc = Runtime.build(_settings(tmp_path, tiny_clip_dir), embedder=tiny_embedder)
    try:
        with TestClient(create_app(runtime=svc)) as client:
            yield client
    finally:
        svc.close()


def _follow(client: TestClient, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


def test_folder_job_end_to_end(api: TestClient) -> None:
    folder = CLOTHING / "images" / "validation" / "hat"
    n = len(list(folder.glob("*.jpg")))
    resp = api.post("/api/v1/jobs", json={"folder": str(folder), "metadata": {"batch": "hats"}})
    assert resp.status_code == 202
    accepted = resp.json()
    assert accepted["state"] == "queued" and accepted["total"] == n
    assert accepted["runner"] == "local"
    assert resp.headers["location"] == f"/api/v1/jobs/{accepted['job_id']}"

    job = _follow(api, accepted["job_id"])
    assert job["state"] == "completed"
    assert (job["done"], job["failed"], job["skipped"], job["remaining"]) == (n, 0, 0, 0)
    assert job["failures"] == [] and job["rate"] > 0 and job["finished_at"]
    assert api.get("/api/v1/stats").json()["count"] == n
    hit = api.post("/api/v1/search", json={"text": "a hat", "top_k": 1}).json()["results"][0]
    assert hit["metadata"] == {"batch": "hats"}

    metrics = api.get("/metrics").text
    assert f'visearch_job_items_total{{outcome="done"}} {float(n)}' in metrics
    assert 'visearch_jobs_total{state="completed"} 1.0' in metrics
    assert 'visearch_jobs_queue_depth{runner="local"} 0.0' in metrics

    listed = api.get("/api/v1/jobs").json()["jobs"]
    assert [j["job_id"] for j in listed] == [accepted["job_id"]]
    assert "failures" not in listed[0]
    # Cancelling a finished job changes nothing; unknown ids are 404.
    assert api.delete(f"/api/v1/jobs/{accepted['job_id']}").json()["state"] == "completed"
    assert api.get("/api/v1/jobs/" + "0" * 32).status_code == 404
    bad = api.delete("/api/v1/jobs/not-an-id")
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "not_found"


def test_bad_job_requests_get_clear_errors(api: TestClient, tmp_path: Path) -> None:
    cases = [
        ({}, 422, "invalid_request"),
        ({"urls": ["http://x/a.jpg"], "folder": "/x"}, 422, "invalid_request"),
        ({"folder": "/etc"}, 403, "path_not_allowed"),
        ({"folder": str(CLOTHING / "nope")}, 422, "not_a_folder"),
        ({"manifest": "/etc/passwd"}, 403, "path_not_allowed"),
        ({"urls": []}, 422, "empty_job"),
        ({"manifest": [{"url": "http://x/a.jpg", "path": "/a.jpg"}]}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        resp = api.post("/api/v1/jobs", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["error"]["code"] == code, (body, resp.text)
        assert resp.json()["error"]["message"]
    raw = api.post("/api/v1/jobs", content=b"{not json", headers={"content-type":
                                                                   "application/json"})
    assert raw.status_code == 400
    assert api.get("/api/v1/jobs").json()["jobs"] == []  # nothing was created


def test_url_job_records_each_bad_url_and_finishes(
    tmp_path: Path, tiny_clip_dir: Path, tiny_embedder: Any
) -> None:
    image = sorted((CLOTHING / "images" / "train" / "shirt").glob("*.jpg"))[0].read_bytes()
    with TestImageServer(image, slow_s=6.0) as good, TestImageServer(image) as other:
        settings = _settings(
            tmp_path, tiny_clip_dir, fetch_allow_hosts=[f"127.0.0.1:{good.port}"],
            fetch_timeout_s=1.0,
        )
        svc = Runtime.build(settings, embedder=tiny_embedder)
        urls = {
            "good": f"{good.base}/shirt.jpg",
            "loopback": f"{other.base}/shirt.jpg",  # a real image, but loopback and not allowed
            "metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "redirect": f"{good.base}/redirect?to=http://10.20.30.40/inside.jpg",
            "redirect_loopback": f"{good.base}/redirect?to={other.base}/shirt.jpg",
            "big": f"{good.base}/big",
            "html": f"{good.base}/page.html",
            "slow": f"{good.base}/slow",
            "closed": f"http://127.0.0.1:{free_port()}/x.jpg",
        }
        try:
            with TestClient(create_app(runtime=svc)) as api:
                resp = api.post("/api/v1/jobs", json={"urls": list(urls.values())})
                assert resp.status_code == 202
                job = _follow(api, resp.json()["job_id"])
        finally:
            svc.close()
    assert job["state"] == "completed_with_errors"
    assert (job["total"], job["done"], job["failed"]) == (len(urls), 1, len(urls) - 1)
    by_source = {f["source"]: f for f in job["failures"]}
    codes = {name: by_source[url]["code"] for name, url in urls.items() if name != "good"}
    assert codes == {
        "loopback": "blocked_url",
        "metadata": "blocked_url",
        "redirect": "blocked_url",
        "redirect_loopback": "blocked_url",
        "big": "too_large",
        "html": "not_an_image",
        "slow": "fetch_timeout",
        "closed": "blocked_url",
    }
    for f in job["failures"]:
        assert len(f["message"]) > 10, f
