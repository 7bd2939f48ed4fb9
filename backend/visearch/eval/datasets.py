"""Evaluation datasets: captions JSONL, labels JSONL, or one folder per class.

Formats (image paths are relative to the JSONL file's folder, or absolute):

- captions: ``{"image": "images/a.jpg", "captions": ["...", ...], "split": "dev"}``
- labels:   ``{"image": "images/b.jpg", "label": "dress", "split": "train"}``
- folders:  ``root/<class>/**/<image>``; the class is the top-level folder name.

``split`` is optional on every line. Every loader checks each line and each selected image
file and raises ``DatasetError`` naming the file, the line and the reason, so a bad dataset
fails before any model work starts. ``visearch train-adapter`` reads its captions here too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

DatasetKind = Literal["captions", "labels", "folders"]

#: File names looked up when a directory is given instead of a JSONL file.
CAPTIONS_FILE = "captions.jsonl"
LABELS_FILE = "labels.jsonl"
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
)
_MAX_REPORTED = 10


class DatasetError(ValueError):
    """The dataset is malformed or incomplete; the message says where and why."""


@dataclass(frozen=True)
class CaptionItem:
    """One image and its reference captions."""

    image: Path
    captions: list[str]
    split: str | None = None


@dataclass(frozen=True)
class LabelItem:
    """One image and its class label."""

    image: Path
    label: str
    split: str | None = None


@dataclass(frozen=True)
class DetectedDataset:
    """What ``detect_dataset`` found: the kind and the file or folder to load."""

    kind: DatasetKind
    path: Path


_Item = TypeVar("_Item", CaptionItem, LabelItem)


def detect_dataset(path: Path) -> DetectedDataset:
    """Guess the format of ``path``.

    A JSONL file is captions or labels by the keys of its first record; a directory holding
    ``captions.jsonl`` or ``labels.jsonl`` is that file; any other directory with class
    subfolders is a class-folder dataset.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if path.is_dir():
        names = (CAPTIONS_FILE, LABELS_FILE)
        candidates = [path / name for name in names if (path / name).is_file()]
        if len(candidates) > 1:
            raise DatasetError(
                f"{path}: holds both {CAPTIONS_FILE} and {LABELS_FILE}; pass the one to use"
            )
        if candidates:
            return detect_dataset(candidates[0])
        if not any(_class_dirs(path)):
            raise DatasetError(
                f"{path}: not a dataset: expected {CAPTIONS_FILE}, {LABELS_FILE} "
                "or one subfolder of images per class"
            )
        return DetectedDataset("folders", path)
    for lineno, record in _iter_records(path):
        if "captions" in record:
            return DetectedDataset("captions", path)
        if "label" in record:
            return DetectedDataset("labels", path)
        raise DatasetError(
            f"{path}:{lineno}: cannot tell the format: a record needs 'captions' (a list of "
            "strings) or 'label' (a string) next to 'image'"
        )
    raise DatasetError(f"{path}: empty dataset file")


def load_captions(
    path: Path, split: str | None = None, limit: int | None = None, check_files: bool = True
) -> list[CaptionItem]:
    """Read a captions JSONL; ``limit`` keeps the first N matching lines in file order."""

    def parse(image: Path, record: dict[str, Any]) -> CaptionItem:
        captions = record.get("captions")
        if (
            not isinstance(captions, list)
            or not captions
            or not all(isinstance(c, str) and c.strip() for c in captions)
        ):
            raise DatasetError("'captions' must be a non-empty list of non-empty strings")
        return CaptionItem(image, [c.strip() for c in captions], _split_of(record))

    path = Path(path).expanduser()
    selected = _select_split(path, _read_items(path, parse), split)
    _check_limit(limit)
    if limit is not None:
        selected = selected[:limit]
    if check_files:
        _check_files(path, [it.image for it in selected])
    return selected


def load_labels(
    path: Path, split: str | None = None, limit: int | None = None, check_files: bool = True
) -> list[LabelItem]:
    """Read a labels JSONL; ``limit`` keeps a stratified subset (see ``stratified_subset``)."""

    def parse(image: Path, record: dict[str, Any]) -> LabelItem:
        label = record.get("label")
        if not isinstance(label, str) or not label.strip():
            raise DatasetError("'label' must be a non-empty string")
        return LabelItem(image, label.strip(), _split_of(record))

    path = Path(path).expanduser()
    selected = _select_split(path, _read_items(path, parse), split)
    _check_limit(limit)
    if limit is not None:
        selected = stratified_subset(selected, limit)
    if check_files:
        _check_files(path, [it.image for it in selected])
    return selected


def _read_items(
    path: Path, parse: Callable[[Path, dict[str, Any]], _Item]
) -> list[_Item]:
    """Every line parsed into an item; all bad lines and duplicate images raise together."""
    items: list[_Item] = []
    seen: dict[Path, int] = {}
    errors: list[str] = []
    for lineno, record in _iter_records(path):
        try:
            image = _image_path(path, record)
            item = parse(image, record)
        except DatasetError as exc:
            errors.append(f"{path}:{lineno}: {exc}")
            continue
        if image in seen:
            errors.append(f"{path}:{lineno}: duplicate image, first on line {seen[image]}")
            continue
        seen[image] = lineno
        items.append(item)
    _raise_errors(path, errors)
    return items


def load_class_folders(root: Path, limit: int | None = None) -> list[LabelItem]:
    """Images under ``root/<class>/`` (recursively, hidden files skipped), sorted by path."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    items: list[LabelItem] = []
    for class_dir in _class_dirs(root):
        files = sorted(
            p
            for p in class_dir.rglob("*")
            if p.is_file()
            and p.suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        items.extend(LabelItem(p, class_dir.name) for p in files)
    if not items:
        raise DatasetError(f"{root}: no images in class subfolders (root/<class>/<image>)")
    _check_limit(limit)
    return stratified_subset(items, limit) if limit is not None else items


def load_dataset(
    path: Path, split: str | None = None, limit: int | None = None
) -> tuple[DetectedDataset, list[CaptionItem] | list[LabelItem]]:
    """Detect the format of ``path`` and load it."""
    found = detect_dataset(path)
    if found.kind == "captions":
        return found, load_captions(found.path, split, limit)
    if found.kind == "labels":
        return found, load_labels(found.path, split, limit)
    if split is not None:
        raise DatasetError(f"{found.path}: class folders have no splits; drop --split")
    return found, load_class_folders(found.path, limit)


def stratified_subset(items: Sequence[LabelItem], limit: int) -> list[LabelItem]:
    """Deterministic subset of ``limit`` items with class proportions kept.

    Every class first gets one slot (while ``limit`` allows); each further slot goes to the
    class furthest below its proportional share ``limit * count / total`` (ties: first
    class seen). Each class contributes its first items; the result keeps input order.
    """
    if limit >= len(items):
        return list(items)
    counts = Counter(it.label for it in items)
    order = list(counts)  # classes by first appearance
    if limit < len(order):
        biggest = sorted(order, key=lambda c: (-counts[c], order.index(c)))[:limit]
        quota = {c: int(c in biggest) for c in order}
    else:
        share = {c: limit * counts[c] / len(items) for c in order}
        quota = dict.fromkeys(order, 1)
        for _ in range(limit - len(order)):
            neediest = max(order, key=lambda c: (share[c] - quota[c], -order.index(c)))
            quota[neediest] += 1
    taken: Counter[str] = Counter()
    out: list[LabelItem] = []
    for it in items:
        if taken[it.label] < quota[it.label]:
            taken[it.label] += 1
            out.append(it)
    return out


def _iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for each non-blank line; a malformed line raises."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path}:{lineno}: expected a JSON object per line")
            yield lineno, record


def _image_path(path: Path, record: dict[str, Any]) -> Path:
    image = record.get("image")
    if not isinstance(image, str) or not image.strip():
        raise DatasetError("'image' must be a non-empty string (a path relative to the file)")
    p = Path(image).expanduser()
    return p if p.is_absolute() else path.parent / p


def _split_of(record: dict[str, Any]) -> str | None:
    split = record.get("split")
    if split is not None and not isinstance(split, str):
        raise DatasetError("'split' must be a string when present")
    return split


def _listing(header: str, lines: Sequence[str]) -> str:
    """A header and the first few lines, then how many more were left out."""
    shown = "\n".join(lines[:_MAX_REPORTED])
    extra = len(lines) - _MAX_REPORTED
    return f"{header}\n{shown}" + (f"\n... and {extra} more" if extra > 0 else "")


def _raise_errors(path: Path, errors: list[str]) -> None:
    if errors:
        raise DatasetError(_listing(f"{path}: {len(errors)} malformed line(s):", errors))


def _select_split(path: Path, items: list[_Item], split: str | None) -> list[_Item]:
    if not items:
        raise DatasetError(f"{path}: no records")
    if split is None:
        return items
    selected = [it for it in items if it.split == split]
    if not selected:
        known = sorted({str(it.split) for it in items if it.split is not None})
        raise DatasetError(
            f"{path}: no records with split {split!r}; splits present: {', '.join(known) or 'none'}"
        )
    return selected


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be at least 1, got {limit}")


def _check_files(path: Path, images: Sequence[Path]) -> None:
    missing = [p for p in images if not p.is_file()]
    if missing:
        header = f"{path}: {len(missing)} image file(s) missing:"
        raise DatasetError(_listing(header, [str(p) for p in missing]))


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
