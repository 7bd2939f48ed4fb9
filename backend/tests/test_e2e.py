"""End to end through real processes: CLI indexing, HTTP search, crash recovery."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.clip import DATA_DIR, make_clip_dir
from tests.support.server import kill_hard, running_server
from visearch.cli import app


def _clothing(n: int) -> list[Path]:
    labels = DATA_DIR / "clothing10" / "labels.jsonl"
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    rows = [r for r in rows if r["split"] == "train"]
    step = max(1, len(rows) // n)
    return [DATA_DIR / "clothing10" / r["image"] for r in rows[::step][:n]]


@pytest.mark.slow
def test_full_size_clip_index_200_and_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full ViT-B/32 (random weights): 200 photos indexed by the CLI, one found first by HTTP."""
    model = make_clip_dir(tmp_path / "clip-vit-b32", full_size=True)
    env = {"VISEARCH_MODEL": str(model), "VISEARCH_MODEL_FALLBACK": "", "VISEARCH_DEVICE": "cpu",
           "VISEARCH_DATA_DIR": str(tmp_path / "data"), "VISEARCH_LOG_LEVEL": "WARNING"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    images = _clothing(200)
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in images:
        (folder / p.name).symlink_to(p)
    result = CliRunner().invoke(app, ["index", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["indexed"] == 200

    with running_server(env, tmp_path / "server.log") as (base, _):
        stats = httpx.get(f"{base}/api/v1/stats").json()
        assert stats["count"] == 200 and stats["model"]["dim"] == 512
        query = images[137]
        resp = httpx.post(f"{base}/api/v1/search/image",
                          files={"file": (query.name, query.read_bytes())}, timeout=60)
        best = resp.json()["results"][0]
        assert best["filename"] == query.name
        assert best["score"] == pytest.approx(1.0, abs=1e-3)


def test_kill_9_during_indexing_loses_nothing_reported(tmp_path: Path, tiny_clip_dir: Path) -> None:
    """Every image the API reported as indexed survives a SIGKILL of the server."""
    env = {"VISEARCH_MODEL": str(tiny_clip_dir), "VISEARCH_MODEL_FALLBACK": "",
           "VISEARCH_DEVICE": "cpu", "VISEARCH_DATA_DIR": str(tmp_path / "data"),
           "VISEARCH_LOG_LEVEL": "WARNING"}
    images = _clothing(400)
    reported: list[tuple[str, Path]] = []
    stop = threading.Event()

    def feed(base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            for p in images:
                if stop.is_set():
                    return
                try:
                    r = c.post("/api/v1/index/upload", files={"files": (p.name, p.read_bytes())})
                except httpx.HTTPError:
                    return
                if r.status_code == 200 and r.json()["results"][0]["status"] == "indexed":
                    reported.append((r.json()["results"][0]["image_id"], p))

    with running_server(env, tmp_path / "server.log") as (base, proc):
        feeder = threading.Thread(target=feed, args=(base,))
        feeder.start()
        while len(reported) < 60 and feeder.is_alive():
            feeder.join(0.05)
        kill_hard(proc)
        stop.set()
        feeder.join(30)
    assert len(reported) >= 60

    with (
        running_server(env, tmp_path / "server2.log") as (base, _),
        httpx.Client(base_url=base, timeout=30) as c,
    ):
        for image_id, _path in reported:
            assert c.get(f"/api/v1/images/{image_id}/info").status_code == 200
        count = c.get("/api/v1/stats").json()["count"]
        assert count >= len(reported)
        image_id, path = reported[-1]
        hit = c.post("/api/v1/search/image", files={"file": (path.name, path.read_bytes())})
        assert hit.json()["results"][0]["image_id"] == image_id
