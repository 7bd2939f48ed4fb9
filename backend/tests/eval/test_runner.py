"""End-to-end evaluation through the real services with a tiny random-weight CLIP."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from tests.support.clip import DATA_DIR
from visearch.cli.eval import eval_command
from visearch.config import Settings
from visearch.eval.report import write_all
from visearch.eval.runner import evaluate
from visearch.eval.scoring import RANDOM_MODEL
from visearch.eval.tasks import EvalOptions, prepare_data

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_outputs(out: Path, tasks: list[str], n_models: int = 1) -> dict:
    results = json.loads((out / "results.json").read_text())
    assert len(results["models"]) == n_models
    rows = [*(m["tasks"] for m in results["models"]), results["baseline"]["tasks"]]
    assert results["baseline"]["model"] == RANDOM_MODEL
    for tasks_json in rows:
        assert sorted(tasks_json) == sorted(tasks)
        for task in tasks_json.values():
            for name, value in task["metrics"].items():
                if name == "median_rank":
                    assert value >= 1
                else:
                    assert 0.0 <= value <= 1.0, (name, value)
                low, high = task["ci95"][name]
                assert low <= high
    report = (out / "report.md").read_text()
    assert f"| {RANDOM_MODEL} |" in report
    pngs = sorted(out.glob("*.png"))
    assert {p.name for p in pngs} >= {"recall_at_k.png", "score_distributions.png"}
    assert any(p.name.startswith("contact_") for p in pngs)
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC
        with Image.open(png) as img:
            img.verify()
        assert f"]({png.name})" in report
    return results


def test_flickr8k_subset_end_to_end(settings: Settings, tmp_path: Path) -> None:
    data = prepare_data(DATA_DIR / "flickr8k", split="dev", limit=40)
    assert len(data.gallery) == 40 and len(data.captions) == 200
    options = EvalOptions(bootstrap=100, exact=True, latency_queries=20, progress=False)
    run = evaluate(data, settings, [settings.model], options, work_dir=tmp_path)
    out = tmp_path / "out"
    write_all(run, out)
    results = _check_outputs(out, ["text-image", "image-text"])
    model = results["models"][0]
    assert model["store"] == "edge" and model["images_indexed"] == 40 and not model["fallback"]
    t2i = model["tasks"]["text-image"]
    assert t2i["n_queries"] == 200 and t2i["gallery_size"] == 40 and t2i["depth"] == 40
    assert 0.0 <= t2i["ann_recall"] <= 1.0
    assert t2i["latency_ms"]["queries"] == 20 and t2i["latency_ms"]["p95"] > 0
    # one relevant image per caption: recall@k and hit@k are the same number
    assert t2i["metrics"]["recall@10"] == t2i["metrics"]["hit@10"]
    i2t = model["tasks"]["image-text"]
    assert i2t["n_queries"] == 40 and i2t["gallery_size"] == 200
    lines = (out / "per_query" / run.models[0].label.replace("@", "-") / "text-image.jsonl")
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(records) == 200
    assert records[0]["query"] == data.captions[0] and len(records[0]["results"]) == 10
    assert all(r["n_relevant"] == 1 for r in records)
    # the evaluation left no temporary data directory behind
    assert not list(tmp_path.glob("visearch-eval-*"))


def test_clothing10_cli_with_gallery_split(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for key, value in {"MODEL": settings.model, "MODEL_FALLBACK": "", "DEVICE": "cpu",
                       "DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(f"VISEARCH_{key}", value)
    app = typer.Typer()
    app.command()(eval_command)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        str(DATA_DIR / "clothing10"), "--split", "validation", "--gallery-split", "train",
        "--limit", "40", "--out", str(out), "--bootstrap", "50", "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    assert "image-image: 40 queries, gallery 40" in result.output
    assert RANDOM_MODEL in result.output
    results = _check_outputs(out, ["image-image", "class-prompt"])
    prompts = results["models"][0]["tasks"]["class-prompt"]
    assert prompts["n_queries"] == 10
    assert not math.isnan(prompts["metrics"]["map"])


def test_cli_reports_bad_dataset(tmp_path: Path) -> None:
    bad = tmp_path / "captions.jsonl"
    bad.write_text('{"image": "a.jpg", "captions": ["x"]}\n{oops\n')
    app = typer.Typer()
    app.command()(eval_command)
    result = CliRunner().invoke(app, [str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "captions.jsonl:2: invalid JSON" in result.output
    assert not (tmp_path / "out").exists()
