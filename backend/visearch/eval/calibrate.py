"""The relevance cutoff's calibration from an evaluation's score distributions.

Each task ranks the gallery for every query with scores; the pairs (query, result) split into
relevant and irrelevant ones. The calibrated cutoff of a query kind is the score that
maximises the F2 of the pairs it keeps (``services.cutoff.best_threshold``); the relative
one is the distance below each query's top score that does the same. Text queries are
calibrated on ``text-image`` or ``class-prompt``, image queries on ``image-image``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visearch.eval.runner import EvalRun, ModelRun
from visearch.eval.scoring import TaskResult
from visearch.services.cutoff import (
    CALIBRATION_BETA,
    Calibration,
    CalibrationError,
    best_threshold,
)

#: Which query kind each task calibrates (first one present wins).
KIND_TASKS: dict[str, tuple[str, ...]] = {
    "text": ("text-image", "class-prompt"),
    "image": ("image-image",),
}


def score_pairs(res: TaskResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Scores of the relevant and of the irrelevant pairs, the same as distances below their
    query's top score, and how many relevant pairs there are in all (retrieved or not)."""
    if res.scores is None:
        raise CalibrationError(f"{res.task}: no scores to calibrate on")
    valid = (res.ranked >= 0) & np.isfinite(res.scores)
    below = res.scores - res.scores[:, :1]
    rel, irr = res.rel & valid, ~res.rel & valid
    return res.scores[rel], res.scores[irr], below[rel], below[irr], int(res.n_relevant.sum())


def calibrate_model(mr: ModelRun, source: str) -> Calibration:
    thresholds: dict[str, float] = {}
    relative: dict[str, float] = {}
    notes = []
    for kind, tasks in KIND_TASKS.items():
        task = next((t for t in tasks if t in mr.tasks), None)
        if task is None:
            continue
        good, bad, good_below, bad_below, total = score_pairs(mr.tasks[task])
        t, f1 = best_threshold(good, bad, total)
        d, f1_rel = best_threshold(good_below, bad_below, total)
        thresholds[kind], relative[kind] = round(t, 6), round(max(0.0, -d), 6)
        notes.append(f"{kind}: {task} F{CALIBRATION_BETA:g} {f1:.3f} (relative {f1_rel:.3f})")
    if not thresholds:
        raise CalibrationError("no task to calibrate on: run text-image, class-prompt or "
                               "image-image")
    return Calibration(mr.model_id, thresholds, relative, f"{source}; " + "; ".join(notes))


def write_calibration(run: EvalRun, path: Path) -> Calibration:
    """Calibrate the first model of ``run`` and write it to ``path``, merged with what the
    file already holds for the same model (so two datasets can fill text and image)."""
    mr = run.models[0]
    split = f" split {run.data.split}" if run.data.split else ""
    source = f"visearch eval {run.data.path.name}{split}, {mr.images_indexed} images"
    new = calibrate_model(mr, source)
    if path.is_file():
        try:
            old = Calibration.load(path)
        except CalibrationError:
            old = None
        if old is not None and old.model_id == new.model_id:
            new = Calibration(new.model_id, {**old.thresholds, **new.thresholds},
                              {**old.relative, **new.relative},
                              f"{old.source} | {new.source}")
    path.parent.mkdir(parents=True, exist_ok=True)
    new.save(path)
    return new
