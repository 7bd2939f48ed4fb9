"""Run models through the product's own indexing and search services.

For each model the runner builds a ``Runtime`` on a fresh data directory (so a fresh
collection of the configured store), indexes the gallery with the ``Indexer``, embeds the
queries with the ``Searcher`` and ranks with ``Searcher.search_vectors``, i.e. the same
decode, embedding, storage and vector search that serve users. Only image -> text ranks
in numpy: captions are not indexed images, so there is no product path for them.

What is measured is ``eval.tasks``; how rankings are scored is ``eval.scoring``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from visearch.config import Settings
from visearch.eval import ranking_metrics as m
from visearch.eval.scoring import TaskResult, ann_recall, random_baseline, score_ranking
from visearch.eval.tasks import (
    CAPTION_TASKS,
    EvalData,
    EvalError,
    EvalOptions,
    TaskName,
    TaskSpec,
    task_spec,
)

if TYPE_CHECKING:
    from visearch.runtime import Runtime

log = structlog.get_logger(__name__)

ID_PREFIX = "eval-"


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

    @property
    def name(self) -> str:
        """The label, or the model id before ``evaluate`` gives the run its label."""
        return self.label or self.model_id

    @property
    def file_stem(self) -> str:
        """The name made safe for file and folder names."""
        return re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()[-60:] or "model"


@dataclass
class EvalRun:
    data: EvalData
    options: EvalOptions
    models: list[ModelRun]
    baseline: dict[TaskName, TaskResult]
    specs: dict[TaskName, TaskSpec]
    seconds: float = 0.0


class ProgressBars:
    """Rich progress bars on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.progress: Progress | None = None
        if enabled:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(stderr=True), transient=False,
            )

    def __enter__(self) -> ProgressBars:
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


@dataclass
class EvalContext:
    """What one model's evaluation works with: its ``Runtime`` on a fresh collection, the
    data and options shared by every model, and the progress bars."""

    runtime: Runtime
    data: EvalData
    model: str
    options: EvalOptions
    bars: ProgressBars
    #: Point id of each gallery image, in gallery order, once indexed.
    ids: list[str] = field(default_factory=list)

    def bar(self, what: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
        """A progress bar named after the model."""
        return self.bars.bar(f"{self.model}: {what}", total)


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
    options.check()
    started = time.perf_counter()
    specs = {t: task_spec(data, t, options.prompt) for t in data.tasks}
    runs: list[ModelRun] = []
    with ProgressBars(options.progress) as bars:
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
    bars: ProgressBars,
    work_dir: Path | None,
) -> ModelRun:
    """One model in a Runtime of its own, removed (with its data) whatever happens."""
    from visearch.runtime import Runtime  # heavy imports only when running

    tmp = Path(tempfile.mkdtemp(prefix="visearch-eval-", dir=work_dir))
    ctx: EvalContext | None = None
    try:
        runtime = Runtime.build(_eval_settings(base, model, tmp))
        ctx = EvalContext(runtime, data, model, options, bars)
        return _model_tasks(ctx, specs)
    finally:
        if ctx is not None:
            settings = ctx.runtime.settings
            if settings.store == "qdrant" and settings.qdrant_url and ctx.ids:
                with contextlib.suppress(Exception):
                    ctx.runtime.store.delete(ctx.ids)
            ctx.runtime.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _model_tasks(ctx: EvalContext, specs: dict[TaskName, TaskSpec]) -> ModelRun:
    """Index the gallery, then run every task."""
    runtime, embedder = ctx.runtime, ctx.runtime.embedder
    if embedder.is_fallback:
        log.warning("eval_model_fallback", requested=ctx.model, model_id=embedder.model_id)
    existing = runtime.store.count()
    if existing:
        raise EvalError(
            f"collection {runtime.store.name!r} already holds {existing} points; "
            "evaluation needs an empty collection (use a separate Qdrant server or path)"
        )
    t0 = time.perf_counter()
    ctx.ids = _index_gallery(ctx)
    index_seconds = time.perf_counter() - t0
    # as after any bulk index: build the ANN index where the store defers it (edge)
    optimized = bool(runtime.store.optimize())
    vectors = _stored_vectors(ctx)
    results: dict[TaskName, TaskResult] = {}
    caption_vectors: tuple[np.ndarray, float] | None = None
    for task, spec in specs.items():
        if task in CAPTION_TASKS and caption_vectors is None:
            caption_vectors = _embed_texts(ctx, ctx.data.captions, "captions")
        results[task] = _run_task(ctx, spec, vectors, caption_vectors)
    return ModelRun(
        model=ctx.model, model_id=embedder.model_id, dim=embedder.dim, device=embedder.device,
        fallback=embedder.is_fallback, store=runtime.store.backend,
        collection=runtime.store.name, index_seconds=index_seconds,
        images_indexed=len(ctx.ids), tasks=results, index_built=optimized,
    )


def _index_gallery(ctx: EvalContext) -> list[str]:
    """Index every gallery image under an id of its own (identical files stay distinct)."""
    from visearch.services.indexing import IndexItem

    data = ctx.data
    labels: list[str | None] = [*data.gallery_labels] or [None] * len(data.gallery)
    ids = [f"{ID_PREFIX}{i:07d}" for i in range(len(data.gallery))]
    items = [
        IndexItem(path=p, image_id=ids[i], filename=p.name, source=str(p), label=labels[i],
                  metadata={"eval_path": data.display(p)})
        for i, p in enumerate(data.gallery)
    ]
    with ctx.bar("index", len(items)) as advance:
        results = ctx.runtime.indexer.index_items(items, progress=advance)
    failed = [(data.gallery[i], r) for i, r in enumerate(results) if r.status == "failed"]
    if failed:
        lines = [f"{p}: {r.error.message if r.error else 'failed'}" for p, r in failed[:10]]
        more = f"\n... and {len(failed) - 10} more" if len(failed) > 10 else ""
        raise EvalError(f"{len(failed)} gallery image(s) could not be indexed:\n"
                        + "\n".join(lines) + more)
    return ids


def _stored_vectors(ctx: EvalContext, chunk: int = 512) -> np.ndarray:
    """The gallery's vectors as stored (what by-example search uses)."""
    ids, store = ctx.ids, ctx.runtime.store
    out = np.zeros((len(ids), ctx.runtime.embedder.dim), dtype=np.float32)
    for start in range(0, len(ids), chunk):
        batch = ids[start : start + chunk]
        points = store.get(batch, with_vectors=True)
        got = {p.id: p.vector for p in points if p.vector is not None}
        missing = [i for i in batch if i not in got]
        if missing:
            raise EvalError(f"{len(missing)} indexed image(s) not in the store: {missing[:5]}")
        for j, image_id in enumerate(batch):
            out[start + j] = got[image_id]
    return out


def _embed_texts(
    ctx: EvalContext, texts: Sequence[str], what: str, chunk: int = 256
) -> tuple[np.ndarray, float]:
    """Query vectors through the searcher, and the mean embedding time per text (ms)."""
    parts = []
    started = time.perf_counter()
    with ctx.bar(what, len(texts)) as advance:
        for i in range(0, len(texts), chunk):
            batch = list(texts[i : i + chunk])
            parts.append(np.asarray(ctx.runtime.searcher.embed_texts(batch), dtype=np.float32))
            advance(len(batch))
    elapsed = (time.perf_counter() - started) * 1000
    dim = ctx.runtime.embedder.dim
    vectors = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
    return vectors, elapsed / max(len(texts), 1)


def _embed_images(
    ctx: EvalContext, paths: Sequence[Path], what: str, chunk: int = 64
) -> tuple[np.ndarray, float]:
    """Query images as bytes through the searcher, which decodes them like uploads."""
    parts = []
    started = time.perf_counter()
    with ctx.bar(what, len(paths)) as advance:
        for i in range(0, len(paths), chunk):
            batch = paths[i : i + chunk]
            vectors = ctx.runtime.searcher.image_vectors([p.read_bytes() for p in batch])
            parts.append(np.asarray(vectors, dtype=np.float32))
            advance(len(batch))
    elapsed = (time.perf_counter() - started) * 1000
    return np.concatenate(parts), elapsed / max(len(paths), 1)


def _query_vectors(
    ctx: EvalContext,
    spec: TaskSpec,
    gallery_vectors: np.ndarray,
    caption_vectors: tuple[np.ndarray, float] | None,
) -> tuple[np.ndarray, float | None]:
    """The task's query vectors, and the embedding time per query where they were embedded."""
    if spec.name == "text-image":
        assert caption_vectors is not None
        return caption_vectors
    if spec.name == "class-prompt":
        return _embed_texts(ctx, spec.queries, "prompts")
    if spec.name == "image-text":
        return gallery_vectors, None
    # image-image: stored vectors for gallery members (by-example search), else uploads
    query_in_gallery = ctx.data.query_in_gallery
    if (query_in_gallery >= 0).all():
        return gallery_vectors[query_in_gallery], None
    return _embed_images(ctx, ctx.data.query_images, "query images")


def _run_task(
    ctx: EvalContext,
    spec: TaskSpec,
    gallery_vectors: np.ndarray,
    caption_vectors: tuple[np.ndarray, float] | None,
) -> TaskResult:
    options = ctx.options
    queries, embed_ms = _query_vectors(ctx, spec, gallery_vectors, caption_vectors)
    depth = spec.depth(options)
    if spec.name == "image-text":
        assert caption_vectors is not None
        sims = queries @ caption_vectors[0].T
        ranked = m.rank_by_scores(sims, depth)
        result = score_ranking(spec, ctx.model, ranked, options,
                               np.take_along_axis(sims, ranked, axis=1))
        result.embed_ms_per_query = embed_ms
        return result
    exclude = [[ctx.ids[e]] if e >= 0 else [] for e in spec.exclude]
    ranked, scores = _search(ctx, queries, depth, exclude, exact=False, what=spec.name)
    result = score_ranking(spec, ctx.model, ranked, options, scores)
    result.embed_ms_per_query = embed_ms
    result.latency_ms = _latency(ctx, queries, exclude, exact=False)
    if options.exact:
        exact_ranked, _ = _search(ctx, queries, depth, exclude, exact=True,
                                  what=f"{spec.name} (exact)")
        exact = score_ranking(spec, ctx.model, exact_ranked, options)
        result.exact_metrics = exact.metrics
        result.ann_recall = ann_recall(ranked, exact_ranked, options.top_k)
        result.exact_latency_ms = _latency(ctx, queries, exclude, exact=True)
    return result


def _search(
    ctx: EvalContext,
    vectors: np.ndarray,
    depth: int,
    exclude: list[list[str]],
    *,
    exact: bool,
    what: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Ranked gallery indices and scores from ``Searcher.search_vectors``."""
    index_of = {image_id: i for i, image_id in enumerate(ctx.ids)}
    chunk = ctx.options.chunk
    n = vectors.shape[0]
    ranked = np.full((n, depth), -1, dtype=np.int64)
    scores = np.full((n, depth), np.nan, dtype=np.float32)
    with ctx.bar(what, n) as advance:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            hits = ctx.runtime.searcher.search_vectors(
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
    ctx: EvalContext, vectors: np.ndarray, exclude: list[list[str]], *, exact: bool
) -> dict[str, float]:
    """Per-query search latency at ``top_k``, one query per call (the product's case)."""
    top_k = ctx.options.top_k
    n = min(ctx.options.latency_queries, vectors.shape[0])
    if n == 0:
        return {}
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        ctx.runtime.searcher.search_vectors(vectors[i : i + 1], top_k=top_k, exact=exact,
                                            exclude_ids=[exclude[i]])
        times[i] = (time.perf_counter() - t0) * 1000
    return {
        "queries": float(n),
        "p50": float(np.percentile(times, 50)),
        "p95": float(np.percentile(times, 95)),
        "mean": float(times.mean()),
        "max": float(times.max()),
    }
