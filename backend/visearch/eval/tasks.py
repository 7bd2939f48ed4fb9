"""What an evaluation measures: the tasks, their queries, their gallery and relevance.

A dataset (``eval.datasets``) becomes an ``EvalData`` once: the gallery images and the
queries of every task that applies. ``task_spec`` turns it into one ``TaskSpec`` per task.
Relevance is expressed with keys: a gallery item is relevant to a query when their keys are
equal (the image index for captions, the class for labels), except the query's own item
when it is excluded. Nothing here touches a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from visearch.eval.datasets import (
    CaptionItem,
    DatasetKind,
    LabelItem,
    detect_dataset,
    load_captions,
    load_class_folders,
    load_labels,
)

TaskName = Literal["text-image", "image-text", "image-image", "class-prompt"]
TASKS: tuple[TaskName, ...] = ("text-image", "image-text", "image-image", "class-prompt")
CAPTION_TASKS: tuple[TaskName, ...] = ("text-image", "image-text")
LABEL_TASKS: tuple[TaskName, ...] = ("image-image", "class-prompt")
CLASS_PROMPT = "a photo of a {label}"


class EvalError(RuntimeError):
    """The evaluation cannot run as asked; the message says why."""


@dataclass(frozen=True)
class EvalOptions:
    """How to evaluate (the same for every model)."""

    top_k: int = 10
    seed: int = 0
    bootstrap: int = 1000
    exact: bool = False
    #: Results retrieved per query; None = the whole gallery (exact full mAP and ranks).
    depth: int | None = None
    #: Queries timed one at a time for the latency summary.
    latency_queries: int = 200
    prompt: str = CLASS_PROMPT
    progress: bool = True
    #: Queries embedded / searched per call (progress granularity).
    chunk: int = 256

    @property
    def ks(self) -> tuple[int, ...]:
        return tuple(sorted({1, 5, 10, self.top_k}))

    def check(self) -> None:
        """Raise ``EvalError`` for values no run can use."""
        if self.top_k < 1:
            raise EvalError(f"--top-k must be at least 1, got {self.top_k}")
        if self.depth is not None and self.depth < 1:
            raise EvalError(f"--depth must be at least 1, got {self.depth}")


@dataclass
class EvalData:
    """The dataset, turned into a gallery and queries once and shared by all models."""

    kind: DatasetKind
    path: Path
    root: Path
    split: str | None
    gallery_split: str | None
    gallery: list[Path]
    tasks: list[TaskName]
    #: Captions datasets: the flattened captions and the gallery index of each.
    captions: list[str] = field(default_factory=list)
    caption_image: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: Label datasets: class of each gallery item, and the image -> image queries.
    gallery_labels: list[str] = field(default_factory=list)
    query_images: list[Path] = field(default_factory=list)
    query_labels: list[str] = field(default_factory=list)
    #: Gallery index of each query image, or -1 when queries come from another split.
    query_in_gallery: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def display(self, path: Path) -> str:
        """A path relative to the dataset root when possible."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def classes(self) -> list[str]:
        """Gallery classes in order of first appearance."""
        return list(dict.fromkeys(self.gallery_labels))


@dataclass
class TaskSpec:
    """Queries of one task and how relevance is decided."""

    name: TaskName
    queries: list[str]
    query_keys: np.ndarray
    gallery_keys: np.ndarray
    #: Gallery index to leave out of each query's results (the query itself), or -1.
    exclude: np.ndarray
    #: "image" when results are gallery images, "caption" when they are captions.
    result_kind: Literal["image", "caption"] = "image"
    #: Query images (image queries), for contact sheets.
    query_paths: list[Path | None] = field(default_factory=list)

    @property
    def n_queries(self) -> int:
        return len(self.queries)

    @property
    def gallery_size(self) -> int:
        return int(self.gallery_keys.shape[0])

    def n_relevant(self) -> np.ndarray:
        same = self.query_keys[:, None] == self.gallery_keys[None, :]
        counts = same.sum(axis=1)
        excluded = self.exclude >= 0
        rows = np.nonzero(excluded)[0]
        counts[rows] -= same[rows, self.exclude[rows]]
        return counts.astype(np.int64)

    def relevance(self, ranked: np.ndarray) -> np.ndarray:
        """Boolean relevance of ranked gallery indices (padding and the query are never)."""
        valid = (ranked >= 0) & (ranked != self.exclude[:, None])
        keys = self.gallery_keys[np.where(ranked >= 0, ranked, 0)]
        return valid & (keys == self.query_keys[:, None])

    def depth(self, options: EvalOptions) -> int:
        """Results ranked per query: ``options.depth`` within what the gallery holds."""
        available = self.gallery_size - (1 if (self.exclude >= 0).any() else 0)
        wanted = options.depth if options.depth is not None else available
        return max(1, min(wanted, available))


def prepare_data(
    dataset: Path,
    split: str | None = None,
    limit: int | None = None,
    tasks: Sequence[str] | None = None,
    gallery_split: str | None = None,
) -> EvalData:
    """Load the dataset and decide gallery, queries and tasks.

    Captions: the gallery is the selected images, queries are their captions. Labels and
    class folders: the gallery is the selected images; image -> image queries are the same
    images (each excluded from its own results) or, with ``gallery_split``, the images of
    ``split`` searched against the gallery of ``gallery_split``.
    """
    found = detect_dataset(dataset)
    root = found.path.parent if found.path.is_file() else found.path
    allowed = CAPTION_TASKS if found.kind == "captions" else LABEL_TASKS
    chosen = _choose_tasks(tasks, allowed, found.kind)
    if found.kind == "captions":
        if gallery_split is not None:
            raise EvalError("--gallery-split applies to labelled datasets only")
        items = load_captions(found.path, split, limit)
        return _caption_data(found.path, root, split, items, chosen)
    if found.kind == "folders":
        if split is not None or gallery_split is not None:
            raise EvalError(f"{found.path}: class folders have no splits; drop --split")
        labels = load_class_folders(found.path, limit)
        return _label_data("folders", found.path, root, None, None, labels, labels, chosen)
    queries = load_labels(found.path, split, limit)
    if gallery_split is None or gallery_split == split:
        return _label_data("labels", found.path, root, split, None, queries, queries, chosen)
    gallery = load_labels(found.path, gallery_split, limit)
    return _label_data("labels", found.path, root, split, gallery_split, gallery, queries, chosen)


def _choose_tasks(
    tasks: Sequence[str] | None, allowed: tuple[TaskName, ...], kind: str
) -> list[TaskName]:
    if not tasks:
        return list(allowed)
    chosen: list[TaskName] = []
    for t in tasks:
        if t not in allowed:
            raise EvalError(
                f"task {t!r} does not apply to a {kind} dataset; use one of {', '.join(allowed)}"
            )
        chosen.append(t)
    return list(dict.fromkeys(chosen))


def _caption_data(
    path: Path, root: Path, split: str | None, items: list[CaptionItem], tasks: list[TaskName]
) -> EvalData:
    captions = [c for it in items for c in it.captions]
    owner = np.repeat(np.arange(len(items)), [len(it.captions) for it in items])
    return EvalData(
        "captions", path, root, split, None, [it.image for it in items], tasks,
        captions=captions, caption_image=owner.astype(np.int64),
    )


def _label_data(
    kind: DatasetKind,
    path: Path,
    root: Path,
    split: str | None,
    gallery_split: str | None,
    gallery: list[LabelItem],
    queries: list[LabelItem],
    tasks: list[TaskName],
) -> EvalData:
    same = queries is gallery
    return EvalData(
        kind, path, root, split, gallery_split, [it.image for it in gallery], tasks,
        gallery_labels=[it.label for it in gallery],
        query_images=[it.image for it in queries],
        query_labels=[it.label for it in queries],
        query_in_gallery=np.arange(len(queries)) if same else np.full(len(queries), -1),
    )


def task_spec(data: EvalData, task: TaskName, prompt: str = CLASS_PROMPT) -> TaskSpec:
    """Queries and relevance keys of ``task`` on ``data``."""
    n_gallery = len(data.gallery)
    if task == "text-image":
        n = len(data.captions)
        return TaskSpec(task, list(data.captions), data.caption_image, np.arange(n_gallery),
                        np.full(n, -1), query_paths=[None] * n)
    if task == "image-text":
        return TaskSpec(task, [data.display(p) for p in data.gallery], np.arange(n_gallery),
                        data.caption_image, np.full(n_gallery, -1), result_kind="caption",
                        query_paths=list(data.gallery))
    classes = data.classes()
    class_id = {c: i for i, c in enumerate(classes)}
    gallery_keys = np.array([class_id[c] for c in data.gallery_labels], dtype=np.int64)
    if task == "class-prompt":
        texts = [prompt.format(label=c) for c in classes]
        return TaskSpec(task, texts, np.arange(len(classes)), gallery_keys,
                        np.full(len(classes), -1), query_paths=[None] * len(classes))
    # image-image; a query class missing from the gallery gets a key that matches nothing
    keys = np.array([class_id.get(c, -1) for c in data.query_labels], dtype=np.int64)
    return TaskSpec(task, [data.display(p) for p in data.query_images], keys, gallery_keys,
                    data.query_in_gallery.astype(np.int64), query_paths=list(data.query_images))
