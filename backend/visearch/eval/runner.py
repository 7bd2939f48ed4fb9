"""Run retrieval tasks through the product's own indexing and search services.

For each model the runner builds a ``Runtime`` on a fresh data directory (so a fresh
collection of the configured store), indexes the gallery with the ``Indexer``, embeds the
queries with the ``Searcher`` and ranks with ``Searcher.search_vectors``, i.e. the same
decode, embedding, storage and vector search that serve users. Only image -> text ranks
in numpy: captions are not indexed images, so there is no product path for them.

Relevance is expressed with keys: a gallery item is relevant to a query when their keys are
equal (the image index for captions, the class for labels), except the query's own item
when it is excluded. Ranked lists are kept as gallery indices (``-1`` pads short lists).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from visearch.config import Settings
from visearch.eval import ranking_metrics as m
from visearch.eval.datasets import (
    CaptionItem,
    DatasetKind,
    LabelItem,
    detect_dataset,
    load_captions,
    load_class_folders,
    load_labels,
)

log = structlog.get_logger(__name__)

TaskName = Literal["text-image", "image-text", "image-image", "class-prompt"]
TASKS: tuple[TaskName, ...] = ("text-image", "image-text", "image-image", "class-prompt")
CAPTION_TASKS: tuple[TaskName, ...] = ("text-image", "image-text")
LABEL_TASKS: tuple[TaskName, ...] = ("image-image", "class-prompt")
CLASS_PROMPT = "a photo of a {label}"
RANDOM_MODEL = "random"
ID_PREFIX = "eval-"


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


@dataclass
class TaskResult:
    """Metrics and rankings of one task for one model (or the random baseline)."""

    task: TaskName
    model: str
    n_queries: int
    gallery_size: int
    depth: int
    n_without_relevant: int
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]]
    per_query: dict[str, np.ndarray]
    ranked: np.ndarray
    rel: np.ndarray
    n_relevant: np.ndarray
    scores: np.ndarray | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    embed_ms_per_query: float | None = None
    ann_recall: float | None = None
    exact_metrics: dict[str, float] = field(default_factory=dict)
    exact_latency_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class ModelRun:
    """One model's results over every task."""

    model: str
    model_id: str
    dim: int
    device: str
    fallback: bool
    store: str
    collection: str
    index_seconds: float
    images_indexed: int
    tasks: dict[TaskName, TaskResult]
    #: True when ``store.optimize()`` built an ANN index after indexing (else exact scan).
    index_built: bool = False
    #: Short unique name for tables, plots and file names (the model id).
    label: str = ""


@dataclass
class EvalRun:
    data: EvalData
    options: EvalOptions
    models: list[ModelRun]
    baseline: dict[TaskName, TaskResult]
    specs: dict[TaskName, TaskSpec]
    seconds: float = 0.0


# -- data -----------------------------------------------------------------------------------


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


# -- metrics ---------------------------------------------------------------------------------


def aggregate(
    per_query: dict[str, np.ndarray], n_boot: int, seed: int
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Means (median for ranks) over queries and their bootstrap intervals."""
    metrics: dict[str, float] = {}
    ci: dict[str, tuple[float, float]] = {}
    for key, values in per_query.items():
        name, statistic = _aggregate_name(key)
        if statistic == "median":
            metrics[name] = m.median_rank(values)
        else:
            metrics[name] = m.mean_metric(values)
        ci[name] = m.bootstrap_ci(values, n_boot=n_boot, seed=seed, statistic=statistic)
    return metrics, ci


def _aggregate_name(key: str) -> tuple[str, str]:
    if key == "rank":
        return "median_rank", "median"
    if key == "rr":
        return "mrr", "mean"
    if key == "ap":
        return "map", "mean"
    if key.startswith("ap@"):
        return "m" + key, "mean"
    return key, "mean"


def score_ranking(
    spec: TaskSpec,
    model: str,
    ranked: np.ndarray,
    options: EvalOptions,
    scores: np.ndarray | None = None,
) -> TaskResult:
    """Metrics of a ranking (gallery indices per query) for ``spec``."""
    n_rel = spec.n_relevant()
    rel = spec.relevance(ranked)
    per_query = m.per_query_metrics(rel, n_rel, ks=options.ks, ndcg_k=10)
    metrics, ci = aggregate(per_query, options.bootstrap, options.seed)
    return TaskResult(
        task=spec.name, model=model, n_queries=spec.n_queries, gallery_size=spec.gallery_size,
        depth=int(ranked.shape[1]), n_without_relevant=int((n_rel == 0).sum()),
        metrics=metrics, ci=ci, per_query=per_query, ranked=ranked, rel=rel, n_relevant=n_rel,
        scores=scores,
    )


def random_baseline(spec: TaskSpec, options: EvalOptions) -> TaskResult:
    """Seeded random permutations of the gallery, scored like any model."""
    exclude = [int(e) if e >= 0 else None for e in spec.exclude]
    ranked = m.random_rankings(spec.n_queries, spec.gallery_size, options.seed, exclude)
    depth = _depth(spec, options)
    return score_ranking(spec, RANDOM_MODEL, ranked[:, :depth], options)


def _depth(spec: TaskSpec, options: EvalOptions) -> int:
    available = spec.gallery_size - (1 if (spec.exclude >= 0).any() else 0)
    wanted = options.depth if options.depth is not None else available
    return max(1, min(wanted, available))


# -- running ---------------------------------------------------------------------------------


class _Bars:
    """Rich progress bars on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.progress: Progress | None = None
        if enabled:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(stderr=True), transient=False,
            )

    def __enter__(self) -> _Bars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    @contextlib.contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if self.progress is None:
            yield lambda n: None
            return
        task_id = self.progress.add_task(description, total=total)
        try:
            yield lambda n: self.progress.advance(task_id, n) if self.progress else None
        finally:
            self.progress.update(task_id, completed=total)


def evaluate(
    data: EvalData,
    settings: Settings,
    models: Sequence[str],
    options: EvalOptions,
    work_dir: Path | None = None,
) -> EvalRun:
    """Evaluate every model on ``data`` (each in a fresh collection) plus the random baseline.

    ``work_dir`` holds the temporary data directories; it defaults to the system temp dir.
    """
    if not models:
        raise EvalError("no model to evaluate")
    if options.top_k < 1:
        raise EvalError(f"--top-k must be at least 1, got {options.top_k}")
    if options.depth is not None and options.depth < 1:
        raise EvalError(f"--depth must be at least 1, got {options.depth}")
    started = time.perf_counter()
    specs = {t: task_spec(data, t, options.prompt) for t in data.tasks}
    runs: list[ModelRun] = []
    with _Bars(options.progress) as bars:
        for model in dict.fromkeys(models):
            model_run = _run_model(data, specs, settings, model, options, bars, work_dir)
            taken = {r.label for r in runs}
            model_run.label = model_run.model_id
            while model_run.label in taken:
                model_run.label += "'"
            runs.append(model_run)
    baseline = {t: random_baseline(spec, options) for t, spec in specs.items()}
    return EvalRun(data, options, runs, baseline, specs, seconds=time.perf_counter() - started)


def _eval_settings(base: Settings, model: str, data_dir: Path) -> Settings:
    """The configured settings with this model and a fresh data dir (so a fresh collection)."""
    update: dict[str, Any] = {"model": model, "data_dir": data_dir}
    if base.store == "qdrant" and base.qdrant_url is None:
        update["qdrant_path"] = data_dir / "qdrant"
    return base.model_copy(update=update)


def _run_model(
    data: EvalData,
    specs: dict[TaskName, TaskSpec],
    base: Settings,
    model: str,
    options: EvalOptions,
    bars: _Bars,
    work_dir: Path | None,
) -> ModelRun:
    from visearch.runtime import Runtime  # heavy imports only when running

    tmp = Path(tempfile.mkdtemp(prefix="visearch-eval-", dir=work_dir))
    runtime = None
    ids: list[str] = []
    try:
        settings = _eval_settings(base, model, tmp)
        runtime = Runtime.build(settings)
        embedder = runtime.embedder
        if embedder.is_fallback:
            log.warning("eval_model_fallback", requested=model, model_id=embedder.model_id)
        existing = runtime.store.count()
        if existing:
            raise EvalError(
                f"collection {runtime.store.name!r} already holds {existing} points; "
                "evaluation needs an empty collection (use a separate Qdrant server or path)"
            )
        t0 = time.perf_counter()
        ids = _index_gallery(runtime, data, model, bars)
        index_seconds = time.perf_counter() - t0
        # as after any bulk index: build the ANN index where the store defers it (edge)
        optimized = bool(runtime.store.optimize())
        vectors = _stored_vectors(runtime, ids)
        results: dict[TaskName, TaskResult] = {}
        caption_vectors: tuple[np.ndarray, float] | None = None
        for task, spec in specs.items():
            if task in CAPTION_TASKS and caption_vectors is None:
                caption_vectors = _embed_texts(runtime, data.captions, f"{model}: captions", bars)
            results[task] = _run_task(runtime, data, spec, model, options, bars, ids, vectors,
                                      caption_vectors)
        return ModelRun(
            model=model, model_id=embedder.model_id, dim=embedder.dim, device=embedder.device,
            fallback=embedder.is_fallback, store=runtime.store.backend,
            collection=runtime.store.name, index_seconds=index_seconds,
            images_indexed=len(ids), tasks=results, index_built=optimized,
        )
    finally:
        if runtime is not None:
            if base.store == "qdrant" and base.qdrant_url and ids:
                with contextlib.suppress(Exception):
                    runtime.store.delete(ids)
            runtime.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _index_gallery(runtime: Any, data: EvalData, model: str, bars: _Bars) -> list[str]:
    """Index every gallery image under an id of its own (identical files stay distinct)."""
    from visearch.services.indexing import IndexItem

    labels: list[str | None] = [*data.gallery_labels] or [None] * len(data.gallery)
    ids = [f"{ID_PREFIX}{i:07d}" for i in range(len(data.gallery))]
    items = [
        IndexItem(path=p, image_id=ids[i], filename=p.name, source=str(p), label=labels[i],
                  metadata={"eval_path": data.display(p)})
        for i, p in enumerate(data.gallery)
    ]
    with bars.bar(f"{model}: index", len(items)) as advance:
        results = runtime.indexer.index_items(items, progress=advance)
    failed = [(data.gallery[i], r) for i, r in enumerate(results) if r.status == "failed"]
    if failed:
        lines = [f"{p}: {r.error.message if r.error else 'failed'}" for p, r in failed[:10]]
        more = f"\n... and {len(failed) - 10} more" if len(failed) > 10 else ""
        raise EvalError(f"{len(failed)} gallery image(s) could not be indexed:\n"
                        + "\n".join(lines) + more)
    return ids


def _stored_vectors(runtime: Any, ids: list[str], chunk: int = 512) -> np.ndarray:
    """The gallery's vectors as stored (what by-example search uses)."""
    out = np.zeros((len(ids), runtime.embedder.dim), dtype=np.float32)
    for start in range(0, len(ids), chunk):
        batch = ids[start : start + chunk]
        points = runtime.store.get(batch, with_vectors=True)
        got = {p.id: p.vector for p in points if p.vector is not None}
        missing = [i for i in batch if i not in got]
        if missing:
            raise EvalError(f"{len(missing)} indexed image(s) not in the store: {missing[:5]}")
        for j, image_id in enumerate(batch):
            out[start + j] = got[image_id]
    return out


def _embed_texts(
    runtime: Any, texts: Sequence[str], description: str, bars: _Bars, chunk: int = 256
) -> tuple[np.ndarray, float]:
    """Query vectors through the searcher, and the mean embedding time per text (ms)."""
    parts = []
    started = time.perf_counter()
    with bars.bar(description, len(texts)) as advance:
        for i in range(0, len(texts), chunk):
            batch = list(texts[i : i + chunk])
            parts.append(np.asarray(runtime.searcher.embed_texts(batch), dtype=np.float32))
            advance(len(batch))
    elapsed = (time.perf_counter() - started) * 1000
    dim = runtime.embedder.dim
    vectors = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
    return vectors, elapsed / max(len(texts), 1)


def _embed_images(
    runtime: Any, paths: Sequence[Path], description: str, bars: _Bars, chunk: int = 64
) -> tuple[np.ndarray, float]:
    """Query images decoded like uploads and embedded through the searcher."""
    from visearch.ingest.decode import decode_image

    settings = runtime.settings
    parts = []
    started = time.perf_counter()
    with bars.bar(description, len(paths)) as advance:
        for i in range(0, len(paths), chunk):
            batch = paths[i : i + chunk]
            images = [
                decode_image(p.read_bytes(), max_bytes=settings.max_upload_bytes,
                             max_pixels=settings.max_pixels).image
                for p in batch
            ]
            parts.append(np.asarray(runtime.searcher.embed_images(images), dtype=np.float32))
            advance(len(batch))
    elapsed = (time.perf_counter() - started) * 1000
    return np.concatenate(parts), elapsed / max(len(paths), 1)


def _query_vectors(
    runtime: Any,
    data: EvalData,
    spec: TaskSpec,
    model: str,
    bars: _Bars,
    gallery_vectors: np.ndarray,
    caption_vectors: tuple[np.ndarray, float] | None,
) -> tuple[np.ndarray, float | None]:
    if spec.name == "text-image":
        assert caption_vectors is not None
        return caption_vectors
    if spec.name == "class-prompt":
        return _embed_texts(runtime, spec.queries, f"{model}: prompts", bars)
    if spec.name == "image-text":
        return gallery_vectors, None
    # image-image: stored vectors for gallery members (by-example search), else uploads
    if (data.query_in_gallery >= 0).all():
        return gallery_vectors[data.query_in_gallery], None
    return _embed_images(runtime, data.query_images, f"{model}: query images", bars)


def _run_task(
    runtime: Any,
    data: EvalData,
    spec: TaskSpec,
    model: str,
    options: EvalOptions,
    bars: _Bars,
    ids: list[str],
    gallery_vectors: np.ndarray,
    caption_vectors: tuple[np.ndarray, float] | None,
) -> TaskResult:
    queries, embed_ms = _query_vectors(runtime, data, spec, model, bars, gallery_vectors,
                                       caption_vectors)
    depth = _depth(spec, options)
    if spec.name == "image-text":
        assert caption_vectors is not None
        sims = queries @ caption_vectors[0].T
        ranked = m.rank_by_scores(sims, depth)
        result = score_ranking(spec, model, ranked, options,
                               np.take_along_axis(sims, ranked, axis=1))
        result.embed_ms_per_query = embed_ms
        return result
    index_of = {image_id: i for i, image_id in enumerate(ids)}
    exclude = [[ids[e]] if e >= 0 else [] for e in spec.exclude]
    ranked, scores = _search(runtime, queries, depth, exclude, index_of, False,
                             f"{model}: {spec.name}", bars, options.chunk)
    result = score_ranking(spec, model, ranked, options, scores)
    result.embed_ms_per_query = embed_ms
    result.latency_ms = _latency(runtime, queries, exclude, options, exact=False)
    if options.exact:
        exact_ranked, _ = _search(runtime, queries, depth, exclude, index_of, True,
                                  f"{model}: {spec.name} (exact)", bars, options.chunk)
        exact = score_ranking(spec, model, exact_ranked, options)
        result.exact_metrics = exact.metrics
        result.ann_recall = ann_recall(ranked, exact_ranked, options.top_k)
        result.exact_latency_ms = _latency(runtime, queries, exclude, options, exact=True)
    return result


def _search(
    runtime: Any,
    vectors: np.ndarray,
    depth: int,
    exclude: list[list[str]],
    index_of: dict[str, int],
    exact: bool,
    description: str,
    bars: _Bars,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Ranked gallery indices and scores from ``Searcher.search_vectors``."""
    n = vectors.shape[0]
    ranked = np.full((n, depth), -1, dtype=np.int64)
    scores = np.full((n, depth), np.nan, dtype=np.float32)
    with bars.bar(description, n) as advance:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            hits = runtime.searcher.search_vectors(
                vectors[start:stop], top_k=depth, exact=exact, exclude_ids=exclude[start:stop]
            )
            for row, points in enumerate(hits, start=start):
                for col, point in enumerate(points[:depth]):
                    idx = index_of.get(point.id)
                    if idx is None:
                        raise EvalError(f"search returned an id that was not indexed: {point.id}")
                    ranked[row, col] = idx
                    scores[row, col] = point.score
            advance(stop - start)
    return ranked, scores


def _latency(
    runtime: Any, vectors: np.ndarray, exclude: list[list[str]], options: EvalOptions,
    exact: bool,
) -> dict[str, float]:
    """Per-query search latency at ``top_k``, one query per call (the product's case)."""
    n = min(options.latency_queries, vectors.shape[0])
    if n == 0:
        return {}
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        runtime.searcher.search_vectors(vectors[i : i + 1], top_k=options.top_k, exact=exact,
                                         exclude_ids=[exclude[i]])
        times[i] = (time.perf_counter() - t0) * 1000
    return {
        "queries": float(n),
        "p50": float(np.percentile(times, 50)),
        "p95": float(np.percentile(times, 95)),
        "mean": float(times.mean()),
        "max": float(times.max()),
    }


def ann_recall(ann: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Mean overlap of the top k of approximate and exact search (1.0 = nothing lost)."""
    overlaps = []
    for a, e in zip(ann[:, :k], exact[:, :k], strict=True):
        truth = {int(x) for x in e if x >= 0}
        if truth:
            overlaps.append(len(truth & {int(x) for x in a if x >= 0}) / len(truth))
    return float(np.mean(overlaps)) if overlaps else float("nan")
