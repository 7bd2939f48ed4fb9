"""The CLI on the local store: index a folder, search by text and image, stats, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from visearch.api.schemas import StatsResponse
from visearch.cli import app

runner = CliRunner()


@pytest.fixture
def photo_dir(cli_env: Path, clothing_images: list[Path]) -> Path:
    root = cli_env / "photos"
    for p in clothing_images[::10][:12]:
        (root / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, root / p.parent.name / p.name)
    (root / "notes.txt").write_text("not an image")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return root


def test_index_search_stats(photo_dir: Path, clothing_images: list[Path]) -> None:
    result = runner.invoke(app, ["index", str(photo_dir), "--label-from-folder", "--json"])
    assert result.exit_code == 2, result.output  # one broken file -> non-zero, rest indexed
    summary = json.loads(result.stdout)
    assert summary["indexed"] == 12 and summary["failed"] == 1 and summary["skipped"] == 1
    assert summary["failures"][0]["file"] == "broken.jpg"

    again = runner.invoke(app, ["index", str(photo_dir), "--json"])
    assert json.loads(again.stdout)["indexed"] == 0
    assert json.loads(again.stdout)["already_indexed"] == 12

    query = next(photo_dir.glob("*/*.jpg"))
    found = runner.invoke(app, ["search", "--image", str(query), "--json", "-k", "3"])
    assert found.exit_code == 0, found.output
    body = json.loads(found.stdout)
    assert body["results"][0]["filename"] == query.name
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert body["results"][0]["label"] == query.parent.name

    text = runner.invoke(app, ["search", "a blue shirt", "-k", "5"])
    assert text.exit_code == 0 and "5 results" in text.stdout

    stats = runner.invoke(app, ["stats", "--json"])
    body = json.loads(stats.stdout)
    assert body["count"] == 12
    assert set(body) == set(StatsResponse.model_fields)  # what `stats --api` prints too


def test_clear_errors(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = runner.invoke(app, ["index", str(cli_env / "nope")])
    assert missing.exit_code == 1 and "no such file or folder" in missing.output
    empty = runner.invoke(app, ["search"])
    assert empty.exit_code == 1 and "give a text query" in empty.output
    monkeypatch.setenv("VISEARCH_BATCH_SIZE", "0")
    bad = runner.invoke(app, ["stats"])
    assert bad.exit_code == 1 and "VISEARCH_BATCH_SIZE" in bad.output
    monkeypatch.setenv("VISEARCH_BATCH_SIZE", "8")
    monkeypatch.setenv("VISEARCH_MODEL", str(cli_env / "no-model-here"))
    nomodel = runner.invoke(app, ["stats"])
    assert nomodel.exit_code == 1 and "no-model-here" in nomodel.output
