"""Dataset formats: captions and labels JSONL, class folders, detection and errors."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from tests.support.clip import DATA_DIR
from visearch.eval.datasets import (
    DatasetError,
    LabelItem,
    detect_dataset,
    load_captions,
    load_class_folders,
    load_dataset,
    load_labels,
    stratified_subset,
)


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)
    return path


def _jsonl(path: Path, records: Sequence[object]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def captions_file(tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        _image(tmp_path / "images" / f"{name}.jpg")
    return _jsonl(tmp_path / "captions.jsonl", [
        {"image": "images/a.jpg", "captions": ["a red square", " two "], "split": "train"},
        "",
        {"image": "images/b.jpg", "captions": ["b"], "split": "dev"},
        {"image": "images/c.jpg", "captions": ["c"], "split": "dev"},
    ])


def test_captions_good(captions_file: Path) -> None:
    items = load_captions(captions_file)
    assert [it.image.name for it in items] == ["a.jpg", "b.jpg", "c.jpg"]
    assert items[0].image == captions_file.parent / "images" / "a.jpg"
    assert items[0].captions == ["a red square", "two"]
    assert items[0].split == "train"
    dev = load_captions(captions_file, split="dev")
    assert [it.image.name for it in dev] == ["b.jpg", "c.jpg"]
    assert [it.image.name for it in load_captions(captions_file, split="dev", limit=1)] == ["b.jpg"]
    assert detect_dataset(captions_file).kind == "captions"
    assert detect_dataset(captions_file.parent).path == captions_file


def test_unknown_split_lists_the_known_ones(captions_file: Path) -> None:
    with pytest.raises(DatasetError, match="splits present: dev, train"):
        load_captions(captions_file, split="test")


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"captions": ["x"]}), "'image' must be a non-empty string"),
        (json.dumps({"image": "images/a.jpg", "captions": "x"}), "'captions' must be"),
        (json.dumps({"image": "images/a.jpg", "captions": []}), "'captions' must be"),
        (json.dumps({"image": "images/a.jpg", "captions": ["x"], "split": 3}), "'split' must"),
    ],
)
def test_malformed_captions_line_names_the_line(tmp_path: Path, bad_line: str, reason: str) -> None:
    _image(tmp_path / "images" / "a.jpg")
    good = json.dumps({"image": "images/a.jpg", "captions": ["fine"]})
    path = _jsonl(tmp_path / "captions.jsonl", [good, bad_line])
    with pytest.raises(DatasetError, match=rf"captions.jsonl:2: .*{reason}"):
        load_captions(path)


def test_duplicate_image_is_an_error(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg")
    rec = {"image": "a.jpg", "label": "x"}
    with pytest.raises(DatasetError, match=r":2: duplicate image, first on line 1"):
        load_labels(_jsonl(tmp_path / "labels.jsonl", [rec, rec]))


def test_missing_image_files_are_reported(tmp_path: Path) -> None:
    _image(tmp_path / "there.jpg")
    path = _jsonl(tmp_path / "labels.jsonl", [
        {"image": "there.jpg", "label": "x"},
        {"image": "gone.jpg", "label": "x"},
    ])
    with pytest.raises(DatasetError, match=r"1 image file\(s\) missing:\n.*gone\.jpg"):
        load_labels(path)
    assert len(load_labels(path, check_files=False)) == 2


def test_labels_and_stratified_limit(tmp_path: Path) -> None:
    records = []
    for i in range(10):
        label = "big" if i < 6 else "mid" if i < 9 else "small"
        records.append({"image": str(_image(tmp_path / f"{i}.jpg")), "label": label})
    path = _jsonl(tmp_path / "labels.jsonl", records)
    assert detect_dataset(path).kind == "labels"
    items = load_labels(path, limit=5)
    assert Counter(it.label for it in items) == {"big": 3, "mid": 1, "small": 1}
    assert [it.image.name for it in items] == ["0.jpg", "1.jpg", "2.jpg", "6.jpg", "9.jpg"]
    assert items == load_labels(path, limit=5)  # deterministic
    assert len(load_labels(path, limit=100)) == 10
    with pytest.raises(DatasetError, match="'label' must be a non-empty string"):
        load_labels(_jsonl(tmp_path / "bad.jsonl", [{"image": "0.jpg", "label": 3}]))


def test_stratified_subset_with_fewer_slots_than_classes() -> None:
    items = [LabelItem(Path(f"{i}"), c) for i, c in enumerate("aaabbc")]
    assert [it.label for it in stratified_subset(items, 2)] == ["a", "b"]


def test_class_folders(tmp_path: Path) -> None:
    root = tmp_path / "set"
    _image(root / "cat" / "1.jpg")
    _image(root / "cat" / "nested" / "2.png")
    _image(root / "dog" / "3.jpg")
    _image(root / "dog" / ".hidden.jpg")
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".git").mkdir()
    items = load_class_folders(root)
    assert [(it.image.name, it.label) for it in items] == [
        ("1.jpg", "cat"), ("2.png", "cat"), ("3.jpg", "dog"),
    ]
    found, loaded = load_dataset(root)
    assert found.kind == "folders" and loaded == items
    with pytest.raises(DatasetError, match="no splits"):
        load_dataset(root, split="train")


def test_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        detect_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a dataset"):
        detect_dataset(tmp_path / "empty")
    odd = _jsonl(tmp_path / "odd.jsonl", [{"image": "x.jpg", "tags": ["a"]}])
    with pytest.raises(DatasetError, match=r"odd.jsonl:1: cannot tell the format"):
        detect_dataset(odd)


def test_shared_datasets_load() -> None:
    dev = load_captions(DATA_DIR / "flickr8k" / "captions.jsonl", split="dev")
    assert len(dev) == 1000 and all(len(it.captions) == 5 for it in dev)
    val = load_labels(DATA_DIR / "clothing10" / "labels.jsonl", split="validation")
    assert len(val) == 341 and len({it.label for it in val}) == 10
    subset = load_labels(DATA_DIR / "clothing10" / "labels.jsonl", split="validation", limit=40)
    assert len(subset) == 40 and len({it.label for it in subset}) == 10
