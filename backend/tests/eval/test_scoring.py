"""Tasks (queries, gallery, relevance) and scoring of rankings, without any model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visearch.eval.scoring import RANDOM_MODEL, random_baseline, score_ranking
from visearch.eval.tasks import EvalError, EvalOptions, prepare_data, task_spec


def _labels_dataset(root: Path, labels: list[str]) -> Path:
    lines = []
    for i, label in enumerate(labels):
        path = root / f"{i}.png"
        Image.new("RGB", (8, 8), (i * 20 % 256, 0, 0)).save(path)
        lines.append(json.dumps({"image": path.name, "label": label}))
    out = root / "labels.jsonl"
    out.write_text("\n".join(lines) + "\n")
    return out


def test_relevance_exclusion_and_perfect_ranking(tmp_path: Path) -> None:
    data = prepare_data(_labels_dataset(tmp_path, ["a", "a", "a", "b", "b", "c"]))
    assert data.tasks == ["image-image", "class-prompt"]
    spec = task_spec(data, "image-image")
    # the query itself is excluded: "c" has no other image, so no relevant item
    assert spec.n_relevant().tolist() == [2, 2, 2, 1, 1, 0]
    options = EvalOptions(bootstrap=50)
    # a perfect ranking: same-class images first, the query itself never listed
    keys = spec.gallery_keys
    ranked = np.array([
        [g for g in np.argsort(keys != keys[q], kind="stable") if g != q] for q in range(6)
    ])
    result = score_ranking(spec, "oracle", ranked, options)
    assert result.n_without_relevant == 1
    assert result.metrics["map"] == 1.0 and result.metrics["recall@5"] == 1.0
    assert result.metrics["median_rank"] == 1.0
    prompts = task_spec(data, "class-prompt")
    assert prompts.queries == ["a photo of a a", "a photo of a b", "a photo of a c"]
    assert prompts.n_relevant().tolist() == [3, 2, 1]
    baseline = random_baseline(spec, options)
    assert baseline.model == RANDOM_MODEL and baseline.depth == 5
    assert not (baseline.ranked == np.arange(6)[:, None]).any()  # never the query itself
    with pytest.raises(EvalError, match="does not apply"):
        prepare_data(tmp_path / "labels.jsonl", tasks=["text-image"])
