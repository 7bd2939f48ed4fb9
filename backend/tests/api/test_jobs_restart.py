"""Without a broker, jobs run inside the serving process and survive its death: kill -9 in
the middle of a 1,000-image job, start it again, and the job ends with exactly 1,000 points."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.clip import DATA_DIR
from tests.support.jobs import ServerProcess

FLICKR = DATA_DIR / "flickr8k" / "images"


def _job(server: ServerProcess, job_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{server.url}/api/v1/jobs/{job_id}", timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _open_attempts(journal: Path) -> int:
    """Items a batch has started on but not recorded (read next to the live server)."""
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT COUNT(*) FROM items WHERE attempted > 0 AND outcome IS NULL"
                         ).fetchone()
        return int(row[0])
    finally:
        db.close()


def test_serving_process_killed_mid_job_resumes_exactly(
    tmp_path: Path, tiny_clip_dir: Path
) -> None:
    images = sorted(FLICKR.glob("*.jpg"))[:1000]
    assert len(images) == 1000
    data_dir = tmp_path / "data"
    env = {
        "VISEARCH_MODEL": str(tiny_clip_dir), "VISEARCH_MODEL_FALLBACK": "",
        "VISEARCH_DEVICE": "cpu", "VISEARCH_DATA_DIR": str(data_dir),
        "VISEARCH_STORE": "edge", "VISEARCH_ALLOWED_ROOTS": json.dumps([str(DATA_DIR)]),
        "VISEARCH_BATCH_SIZE": "32", "VISEARCH_JOB_BATCH_SIZE": "32",
        "VISEARCH_BROKER_URL": "", "VISEARCH_REDIS_URL": "",
        "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
    }
    journal = data_dir / "jobs" / "journal.sqlite3"
    server = ServerProcess(env, tmp_path / "server.log")
    server.start()
    try:
        resp = httpx.post(f"{server.url}/api/v1/jobs", timeout=60,
                          json={"manifest": [{"path": str(p)} for p in images]})
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]

        killed_mid_batch = False
        for _ in range(5):  # kill until the kill provably lands inside a batch
            deadline = time.monotonic() + 600
            while True:
                job = _job(server, job_id)
                if job["done"] >= 300 and _open_attempts(journal) > 0:
                    break
                assert job["state"] == "running" or job["state"] == "queued", job
                assert time.monotonic() < deadline, server.log_tail()
                time.sleep(0.05)
            server.kill()
            if _open_attempts(journal) > 0:
                killed_mid_batch = True
                break
            server.start()
        assert killed_mid_batch

        server.start()  # the restart resumes the job from the journal
        deadline = time.monotonic() + 600
        while (job := _job(server, job_id))["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.2)
        assert job["state"] == "completed", job
        assert (job["done"], job["failed"], job["skipped"], job["total"]) == (1000, 0, 0, 1000)
        stats = httpx.get(f"{server.url}/api/v1/stats", timeout=30).json()
        assert stats["count"] == 1000
    finally:
        server.stop()
    assert _open_attempts(journal) == 0
