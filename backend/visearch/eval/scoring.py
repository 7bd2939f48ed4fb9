"""Score rankings of a task: per-query metrics, their means with bootstrap intervals.

A ranking is a matrix of gallery indices per query (``-1`` pads short lists), whoever
produced it: a model through the product path (``eval.runner``), the random baseline here,
or a test. The metrics themselves are ``eval.ranking_metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from visearch.eval import ranking_metrics as m
from visearch.eval.tasks import EvalOptions, TaskName, TaskSpec

RANDOM_MODEL = "random"


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
    return score_ranking(spec, RANDOM_MODEL, ranked[:, : spec.depth(options)], options)


def ann_recall(ann: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Mean overlap of the top k of approximate and exact search (1.0 = nothing lost)."""
    overlaps = []
    for a, e in zip(ann[:, :k], exact[:, :k], strict=True):
        truth = {int(x) for x in e if x >= 0}
        if truth:
            overlaps.append(len(truth & {int(x) for x in a if x >= 0}) / len(truth))
    return float(np.mean(overlaps)) if overlaps else float("nan")
