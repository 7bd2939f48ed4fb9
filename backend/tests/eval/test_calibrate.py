"""The cutoff's calibration: the F-beta-optimal threshold against brute force, the calibration of
an evaluation run (``visearch eval --calibrate``), merging, and the Searcher finding it stored
with the model; and the measurement helpers of ``eval.features``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.clip import DATA_DIR
from visearch.config import Settings
from visearch.eval import features
from visearch.eval.calibrate import write_calibration
from visearch.eval.runner import evaluate
from visearch.eval.tasks import EvalOptions, prepare_data
from visearch.services.cutoff import (
    MODEL_FILE,
    Calibration,
    CalibrationError,
    Cutoff,
    best_threshold,
    find_calibration,
)


def brute_force(rel: np.ndarray, irr: np.ndarray, total: int, beta: float) -> float:
    best = -1.0
    for t in np.concatenate([rel, irr]):
        tp, fp = int((rel >= t).sum()), int((irr >= t).sum())
        p, r = tp / max(tp + fp, 1), tp / total
        f = (1 + beta**2) * p * r / (beta**2 * p + r) if tp else 0.0
        best = max(best, f)
    return best


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_best_threshold_is_optimal(beta: float) -> None:
    rng = np.random.default_rng(3)
    rel, irr = rng.normal(0.3, 0.05, 40), rng.normal(0.2, 0.05, 400)
    t, f = best_threshold(rel, irr, 50, beta=beta)
    assert f == pytest.approx(brute_force(rel, irr, 50, beta))
    kept_rel, kept_irr = (rel >= t).sum(), (irr >= t).sum()
    p, r = kept_rel / (kept_rel + kept_irr), kept_rel / 50
    assert f == pytest.approx((1 + beta**2) * p * r / (beta**2 * p + r))
    lower, _ = best_threshold(rel, irr, 50, beta=4.0)
    assert lower <= best_threshold(rel, irr, 50, beta=1.0)[0]  # recall-heavy keeps more
    with pytest.raises(CalibrationError):
        best_threshold([], irr)


def test_calibration_of_an_eval_run(settings: Settings, tmp_path: Path) -> None:
    data = prepare_data(DATA_DIR / "flickr8k", split="dev", limit=20, tasks=["text-image"])
    run = evaluate(data, settings, [settings.model], EvalOptions(bootstrap=0, progress=False),
                   work_dir=tmp_path)
    path = tmp_path / "cal" / MODEL_FILE
    cal = write_calibration(run, path)
    res = run.models[0].tasks["text-image"]
    assert res.scores is not None
    valid = res.ranked >= 0
    t, _ = best_threshold(res.scores[res.rel & valid], res.scores[~res.rel & valid],
                          int(res.n_relevant.sum()))
    assert cal.thresholds == {"text": pytest.approx(t, abs=1e-6)}
    assert set(cal.relative) == {"text"} and cal.relative["text"] >= 0
    assert cal.model_id == run.models[0].model_id
    # Another kind merges into the same model's file; another model's file is replaced.
    Calibration(cal.model_id, {"image": 0.5}).save(path)
    merged = write_calibration(run, path)
    assert set(merged.thresholds) == {"text", "image"}
    assert json.loads(path.read_text())["thresholds"]["image"] == 0.5
    # Stored with a model directory, or named by the setting; only for that model.
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / MODEL_FILE).write_text(path.read_text())
    found = find_calibration(settings.model_copy(update={"model": str(model_dir)}), cal.model_id)
    assert found is not None and found.thresholds == merged.thresholds
    assert find_calibration(settings.model_copy(update={"cutoff_calibration": path}),
                            "another/model") is None
    decision = Cutoff(found).decide("text", cosine=True, top_score=0.9)
    assert (decision.method, decision.score) == ("calibrated", merged.thresholds["text"])


def test_feature_measures_run_through_the_searcher(runtime, clothing_images: list[Path]) -> None:  # type: ignore[no-untyped-def]
    """Smoke test of the measurement code on a small labelled corpus (the numbers of the docs
    come from scripts/eval/search_features.py with the built-in model)."""
    paths = [p for cls in ("dress", "hat") for p in
             [q for q in clothing_images if q.parent.name == cls][:6]]
    ids = [f"c-{i}" for i in range(len(paths))]
    labels = [p.parent.name for p in paths]
    statuses, _ = features.index_corpus(runtime, paths, ids, [{}] * len(ids), labels)
    assert statuses == ["indexed"] * len(ids)
    corpus = features.Corpus(runtime, ids, labels=labels)
    by_class = {c: {i for i, lab in zip(ids, labels, strict=True) if lab == c} for c in ("dress", "hat")}
    from visearch.services.search import SearchQuery

    scores = features.feedback_round(corpus, [SearchQuery(text="a photo of a dress")],
                                     [by_class["dress"]], judged=4)
    summary = scores.summary()
    assert summary["queries"] == 1 and set(summary["after"]) == {
        "average_vector", "best_score", "sum_scores", "relevance_feedback"}
    for row in (summary["before"], *summary["after"].values()):
        assert 0 <= row["p@10"] <= 100 and 0 <= row["map"] <= 100
    ens = features.ensembling(corpus, ["dress", "hat"])
    assert set(ens["rows"]) == {"single prompt", "ensemble"}
    with Image.open(paths[0]) as im:
        variants = {k: features.make_variant(im, k) for k in features.VARIANT_KINDS}
    assert all(v[:2] == b"\xff\xd8" for v in variants.values())
    sim = features.nearest_earlier(np.eye(3, dtype=np.float32)[[0, 1, 0]])
    assert sim.tolist() == [-1.0, 0.0, 1.0]
    assert features.false_positive_rates(np.array([0.99, 0.9]), [0.02]) == {"0.02": 50.0}
