"""The relevance cutoff: where results stop being relevant, per query.

Absolute cosine scores drift from query to query and differ between text and image queries,
so one fixed ``threshold`` cuts too much for some queries and nothing for others. The cutoff
works per query, in one of two ways:

* **calibrated**: a score per query kind (``text``, ``image``) measured for the model on
  labelled data: the threshold that maximises the F2 of the results it keeps (recall
  weighs four times as much as precision: a cutoff should rarely hide a relevant result), from the
  score distributions of relevant and irrelevant pairs that ``visearch eval`` computes
  (``visearch eval --calibrate FILE``). It is stored with the model (a ``cutoff.json`` next to
  the built-in model's weights, or ``visearch-cutoff.json`` in a model directory) or named by
  ``VISEARCH_CUTOFF_CALIBRATION``, and applies only to the model it was measured for.
* **relative**: results scoring more than ``delta`` below the best hit are cut
  (``VISEARCH_CUTOFF_RELATIVE``, or the calibration's own ``relative``), for query kinds
  without a calibrated score (mixed, negative terms, other models).

Both are cosine-similarity rules: scores of ``best_score``, ``sum_scores`` and relevance
feedback are on other scales, so those searches are not cut (method ``not_applicable``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog

from visearch.config import Settings

log = structlog.get_logger(__name__)

QueryKind = Literal["text", "image", "mixed"]
CutoffMethod = Literal["off", "calibrated", "relative", "not_applicable"]
#: The file name of a calibration stored with a model.
MODEL_FILE = "visearch-cutoff.json"
#: The built-in offline model's calibration (measured: docs/search-quality.md).
BUILTIN_FILE = Path(__file__).resolve().parents[1] / "models" / "weights" / "offline" / MODEL_FILE
FORMAT = 1
#: The F-beta the calibration maximises: recall counts four times as much as precision.
CALIBRATION_BETA = 2.0


class CalibrationError(ValueError):
    """A calibration file cannot be used."""


@dataclass(frozen=True)
class Calibration:
    """Cutoff scores for one model, by query kind."""

    model_id: str
    thresholds: dict[str, float] = field(default_factory=dict)
    relative: dict[str, float] = field(default_factory=dict)
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "model_id": self.model_id, "thresholds": self.thresholds,
                "relative": self.relative, "source": self.source}

    @classmethod
    def from_json(cls, data: Any, where: str) -> Calibration:
        try:
            if data.get("format") != FORMAT:
                raise CalibrationError(f"{where}: unknown format {data.get('format')!r}")
            thresholds = {str(k): float(v) for k, v in (data.get("thresholds") or {}).items()}
            relative = {str(k): float(v) for k, v in (data.get("relative") or {}).items()}
            return cls(str(data["model_id"]), thresholds, relative, str(data.get("source", "")))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"{where}: not a cutoff calibration ({exc})") from None

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CalibrationError(f"cannot read {path}: {exc}") from None
        return cls.from_json(data, str(path))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def find_calibration(settings: Settings, model_id: str) -> Calibration | None:
    """The calibration for ``model_id``: the configured file, else the one stored with the
    model; None when there is none (the relative cutoff then applies)."""
    candidates: list[Path] = []
    if settings.cutoff_calibration is not None:
        candidates.append(settings.cutoff_calibration)
    model_dir = Path(settings.model).expanduser()
    if model_dir.is_dir():
        candidates.append(model_dir / MODEL_FILE)
    candidates.append(BUILTIN_FILE)
    for path in candidates:
        if not path.is_file():
            if path == settings.cutoff_calibration:
                log.warning("cutoff_calibration_missing", path=str(path))
            continue
        try:
            calibration = Calibration.load(path)
        except CalibrationError as exc:
            log.warning("cutoff_calibration_unusable", error=str(exc))
            continue
        if calibration.model_id == model_id:
            return calibration
        if path == settings.cutoff_calibration:
            log.warning("cutoff_calibration_other_model", path=str(path),
                        calibrated_for=calibration.model_id, model_id=model_id)
    return None


@dataclass(frozen=True)
class CutoffDecision:
    method: CutoffMethod
    score: float | None = None


@dataclass(frozen=True)
class Cutoff:
    """Decides the cutoff score of a query (see the module docstring)."""

    calibration: Calibration | None = None
    relative_delta: float = 0.1

    @classmethod
    def from_settings(cls, settings: Settings, model_id: str) -> Cutoff:
        return cls(find_calibration(settings, model_id), settings.cutoff_relative)

    def decide(self, kind: QueryKind, cosine: bool, top_score: float | None) -> CutoffDecision:
        if not cosine:
            return CutoffDecision("not_applicable")
        cal = self.calibration
        if cal is not None and kind in cal.thresholds:
            return CutoffDecision("calibrated", cal.thresholds[kind])
        if top_score is None:
            return CutoffDecision("relative")
        delta = cal.relative.get(kind, self.relative_delta) if cal else self.relative_delta
        return CutoffDecision("relative", top_score - delta)

    def describe(self) -> dict[str, Any]:
        cal = self.calibration
        return {"calibrated": cal.to_json() if cal else None, "relative": self.relative_delta}


def best_threshold(relevant: Iterable[float], irrelevant: Iterable[float],
                   n_relevant_total: int | None = None, beta: float = CALIBRATION_BETA
                   ) -> tuple[float, float]:
    """The score threshold that maximises the F-beta of the pairs it keeps, over scored pairs
    of known relevance (``beta`` > 1 weighs recall more: a cutoff should rarely hide a
    relevant result); ``n_relevant_total`` counts relevant pairs that were never scored (not
    retrieved) for recall. Returns (threshold, F-beta)."""
    import numpy as np

    rel = np.sort(np.asarray(list(relevant), np.float64))[::-1]
    irr = np.sort(np.asarray(list(irrelevant), np.float64))[::-1]
    total = n_relevant_total if n_relevant_total is not None else rel.size
    if rel.size == 0 or total == 0:
        raise CalibrationError("no relevant pairs to calibrate on")
    candidates = np.unique(np.concatenate([rel, irr]))[::-1]
    # kept(t) = pairs with score >= t
    tp = np.searchsorted(-rel, -candidates, side="right")
    fp = np.searchsorted(-irr, -candidates, side="right")
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / total
    b2 = beta * beta
    score = np.where(tp > 0, (1 + b2) * precision * recall
                     / np.maximum(b2 * precision + recall, 1e-12), 0.0)
    best = int(np.argmax(score))
    return float(candidates[best]), float(score[best])
