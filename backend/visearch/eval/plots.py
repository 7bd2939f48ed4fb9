"""PNG plots of an evaluation run (matplotlib's Agg canvas; no pyplot global state)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from visearch.eval.runner import EvalRun, ModelRun
    from visearch.eval.scoring import TaskResult
    from visearch.eval.tasks import TaskName

#: Irrelevant pairs sampled per histogram (the relevant ones are all kept).
MAX_IRRELEVANT = 100_000
CONTACT_QUERIES = 4
CONTACT_RESULTS = 5
_THUMB = 160


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100)
    return path


def recall_curve(result: TaskResult) -> np.ndarray:
    """Mean recall@k for k = 1..depth over queries with relevant items."""
    valid = result.n_relevant > 0
    if not valid.any() or result.depth == 0:
        return np.zeros(0)
    hits = np.cumsum(result.rel[valid], axis=1, dtype=np.float64)
    return np.asarray((hits / result.n_relevant[valid, None]).mean(axis=0))


def plot_recall_curves(run: EvalRun, path: Path) -> Path:
    """One panel per task: recall@k against k (log scale), every model and the baseline."""
    tasks = list(run.data.tasks)
    fig = Figure(figsize=(5 * len(tasks), 4), layout="constrained")
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=True):
        results = [(mr.name, mr.tasks[task]) for mr in run.models if task in mr.tasks]
        results.append(("random", run.baseline[task]))
        for label, res in results:
            curve = recall_curve(res)
            ks = np.arange(1, curve.size + 1)
            style = "--" if label == "random" else "-"
            ax.plot(ks, curve, style, label=label, color="grey" if label == "random" else None)
        ax.set_xscale("log")
        ax.set_xlabel("k")
        ax.set_ylabel("recall@k")
        ax.set_ylim(0, 1.02)
        ax.set_title(task)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return _save(fig, path)


def plot_score_distributions(run: EvalRun, path: Path) -> Path | None:
    """Histograms of similarity for relevant vs irrelevant (query, result) pairs."""
    panels = [
        (mr.label, task, res)
        for mr in run.models
        for task, res in mr.tasks.items()
        if res.scores is not None
    ]
    if not panels:
        return None
    cols = len(run.data.tasks)
    rows = len(run.models)
    fig = Figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    rng = np.random.default_rng(run.options.seed)
    for ax in axes.flat:
        ax.set_visible(False)
    for r, mr in enumerate(run.models):
        for c, task in enumerate(run.data.tasks):
            res = mr.tasks.get(task)
            if res is None or res.scores is None:
                continue
            ax = axes[r][c]
            ax.set_visible(True)
            valid = res.ranked >= 0
            good = res.scores[res.rel & valid]
            bad = res.scores[~res.rel & valid]
            if bad.size > MAX_IRRELEVANT:
                bad = rng.choice(bad, MAX_IRRELEVANT, replace=False)
            values = np.concatenate([good, bad])
            bins = np.linspace(float(values.min()), float(values.max()) + 1e-6, 50)
            ax.hist(bad, bins=bins, density=True, alpha=0.6, label=f"irrelevant ({bad.size})")
            ax.hist(good, bins=bins, density=True, alpha=0.6, label=f"relevant ({good.size})")
            ax.set_title(f"{mr.name}: {task}", fontsize="small")
            ax.set_xlabel("cosine similarity")
            ax.legend(fontsize="x-small")
    return _save(fig, path)


def _thumbnail(path: Path) -> np.ndarray:
    with Image.open(path) as src:
        img = src.convert("RGB")
    img.thumbnail((_THUMB, _THUMB))
    return np.asarray(img)


def _frame(ax: Axes, color: str | None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(color is not None)
        if color is not None:
            spine.set_color(color)
            spine.set_linewidth(4)


def contact_sheet(
    run: EvalRun, model_run: ModelRun, task: TaskName, path: Path
) -> Path | None:
    """Top results of a few seeded-random queries; green frame = relevant, red = not."""
    res = model_run.tasks.get(task)
    spec = run.specs.get(task)
    if res is None or spec is None or spec.result_kind != "image" or res.n_queries == 0:
        return None
    rng = np.random.default_rng(run.options.seed)
    n = min(CONTACT_QUERIES, res.n_queries)
    chosen = sorted(rng.choice(res.n_queries, n, replace=False).tolist())
    width = min(CONTACT_RESULTS, res.depth)
    fig = Figure(figsize=(2.2 * (width + 1), 2.5 * n), layout="constrained")
    axes = fig.subplots(n, width + 1, squeeze=False)
    for row, q in enumerate(chosen):
        ax = axes[row][0]
        query_path = spec.query_paths[q] if q < len(spec.query_paths) else None
        if query_path is not None:
            ax.imshow(_thumbnail(query_path))
            ax.set_title("query", fontsize="small")
            name = query_path.name if len(query_path.name) <= 28 else "…" + query_path.name[-27:]
            if task == "image-image":
                name = f"{run.data.query_labels[q]}: {name}"
            ax.set_xlabel(name, fontsize="x-small")
        else:
            ax.text(0.5, 0.5, textwrap.fill(spec.queries[q], 24), ha="center", va="center",
                    fontsize="small", wrap=True)
        _frame(ax, None)
        for col in range(width):
            ax = axes[row][col + 1]
            idx = int(res.ranked[q, col])
            _frame(ax, None)
            if idx < 0:
                continue
            ax.imshow(_thumbnail(run.data.gallery[idx]))
            relevant = bool(res.rel[q, col])
            _frame(ax, "#2ca02c" if relevant else "#d62728")
            score = "" if res.scores is None else f" {float(res.scores[q, col]):.3f}"
            ax.set_title(f"#{col + 1}{score}", fontsize="small")
    fig.suptitle(f"{model_run.name}: {task}", fontsize="medium")
    return _save(fig, path)


def write_plots(run: EvalRun, out: Path) -> dict[str, Path]:
    """Every plot of the run under ``out``, keyed by a title for the report."""
    out.mkdir(parents=True, exist_ok=True)
    written = {"Recall@k": plot_recall_curves(run, out / "recall_at_k.png")}
    scores = plot_score_distributions(run, out / "score_distributions.png")
    if scores is not None:
        written["Score distributions"] = scores
    for mr in run.models:
        for task in mr.tasks:
            name = f"contact_{mr.file_stem}_{task}.png"
            sheet = contact_sheet(run, mr, task, out / name)
            if sheet is not None:
                written[f"Top {CONTACT_RESULTS}: {mr.name}, {task}"] = sheet
    return written
