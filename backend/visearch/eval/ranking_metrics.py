"""Ranking metrics on binary relevance matrices (pure numpy).

Every metric takes ``rel``, a boolean array of shape ``(n_queries, depth)`` where
``rel[q, i]`` says whether the ``i``-th result (0-based) of query ``q`` is relevant, and
``n_relevant``, the number of relevant items each query has in the whole gallery (also the
ones not retrieved). Each returns one value per query; ``mean_metric`` averages them.

Conventions
-----------
- **Order and ties.** The ranking is the order of the result list as the search returned it;
  equal scores keep that order. ``rank_by_scores`` ranks a score matrix by descending score
  and breaks ties by the lower item index (a stable sort), so results are reproducible.
  (``sklearn``'s ``average_precision_score`` and ``ndcg_score`` instead average over tied
  scores, and ``top_k_accuracy_score`` prefers the higher index; on untied scores all agree.)
- **Truncated lists.** A relevant item beyond ``depth`` counts as not retrieved: it adds
  nothing to precision, AP, MRR or nDCG and its rank is ``inf``. With ``depth`` equal to
  the gallery size the full metrics are exact.
- **Queries without relevant items** (``n_relevant == 0``) have no defined recall, AP or
  rank: every metric is ``NaN`` for them and ``mean_metric`` leaves them out; the runner
  reports how many there were.
- ``recall@k`` = relevant items in the top k / ``n_relevant`` (IR definition);
  ``hit@k`` = 1 when at least one relevant item is in the top k (the "R@K" of cross-modal
  retrieval papers; equal to recall@k when each query has one relevant item).
- ``precision@k`` divides by ``k`` even when fewer than ``k`` results came back.
- ``AP@k`` = sum over ranks i <= k of precision@i * rel_i, divided by ``min(n_relevant, k)``
  (so a perfect top k scores 1); full ``AP`` divides by ``n_relevant``.
- ``RR`` = 1 / rank of the first relevant result, 0 when none is in the list.
- ``nDCG@k`` uses binary gains and log2 discounts; the ideal DCG puts ``min(n_relevant, k)``
  relevant items first.
- **Median rank** is the median over queries of the 1-based rank of the first relevant
  result, ``inf`` when it was not retrieved (so a median of ``inf`` means more than half of
  the queries missed within ``depth``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]


def relevance_matrix(
    ranked: Sequence[Sequence[Hashable]],
    relevant: Sequence[Collection[Hashable]],
    depth: int | None = None,
) -> np.ndarray:
    """Boolean (n_queries, depth) matrix from result ids and each query's relevant ids.

    Shorter result lists are padded with ``False``; ``depth`` defaults to the longest list.
    """
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} result lists but {len(relevant)} relevant sets")
    width = depth if depth is not None else max((len(r) for r in ranked), default=0)
    rel = np.zeros((len(ranked), width), dtype=bool)
    for q, (ids, good) in enumerate(zip(ranked, relevant, strict=True)):
        good_set = set(good)
        for i, item in enumerate(ids[:width]):
            rel[q, i] = item in good_set
    return rel


def rank_by_scores(scores: np.ndarray, depth: int | None = None) -> np.ndarray:
    """Item indices per row by descending score, ties broken by lower index (stable)."""
    scores = np.asarray(scores)
    order = np.argsort(-scores, axis=-1, kind="stable")
    return order if depth is None else order[..., :depth]


def _check(rel: np.ndarray, n_relevant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rel = np.asarray(rel, dtype=bool)
    if rel.ndim != 2:
        raise ValueError(f"rel must be 2-D (queries x ranks), got shape {rel.shape}")
    n_rel = np.asarray(n_relevant, dtype=np.float64).reshape(-1)
    if n_rel.shape[0] != rel.shape[0]:
        raise ValueError(f"{rel.shape[0]} queries but {n_rel.shape[0]} relevant counts")
    if np.any(n_rel < 0) or np.any(rel.sum(axis=1) > n_rel):
        raise ValueError("a query has more relevant results than relevant items (n_relevant)")
    return rel, n_rel


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _undefined(values: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """NaN for queries without relevant items (see the module conventions)."""
    out = np.asarray(values, dtype=np.float64)
    out[n_rel == 0] = np.nan
    return out


def recall_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Fraction of a query's relevant items found in its top k."""
    _check_k(k)
    rel, n_rel = _check(rel, n_relevant)
    hits = rel[:, :k].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _undefined(hits / n_rel, n_rel)


def hit_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1.0 when at least one relevant item is in the top k, else 0.0."""
    _check_k(k)
    rel, n_rel = _check(rel, n_relevant)
    return _undefined(np.asarray(rel[:, :k].any(axis=1), dtype=np.float64), n_rel)


def precision_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Relevant results in the top k divided by k."""
    _check_k(k)
    rel, n_rel = _check(rel, n_relevant)
    return _undefined(rel[:, :k].sum(axis=1) / k, n_rel)


def average_precision(rel: np.ndarray, n_relevant: np.ndarray, k: int | None = None) -> np.ndarray:
    """AP@k (normalised by min(n_relevant, k)) or, with ``k=None``, full AP (by n_relevant)."""
    rel, n_rel = _check(rel, n_relevant)
    if k is not None:
        _check_k(k)
        rel = rel[:, :k]
    hits = np.cumsum(rel, axis=1)
    ranks = np.arange(1, rel.shape[1] + 1)
    summed = (rel * hits / ranks).sum(axis=1)
    denom = n_rel if k is None else np.minimum(n_rel, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _undefined(summed / denom, n_rel)


def first_relevant_rank(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """1-based rank of the first relevant result; ``inf`` when none is in the list."""
    rel, n_rel = _check(rel, n_relevant)
    found = rel.any(axis=1)
    ranks = np.where(found, rel.argmax(axis=1) + 1.0, np.inf)
    return _undefined(ranks, n_rel)


def reciprocal_rank(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """1 / rank of the first relevant result (0 when not retrieved); its mean is MRR."""
    return 1.0 / first_relevant_rank(rel, n_relevant)


def ndcg_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Normalised discounted cumulative gain of the top k with binary gains."""
    _check_k(k)
    rel, n_rel = _check(rel, n_relevant)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    top = rel[:, :k]
    dcg = (top * discounts[: top.shape[1]]).sum(axis=1)
    ideal_counts = np.minimum(n_rel, k).astype(np.int64)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_counts]
    with np.errstate(divide="ignore", invalid="ignore"):
        return _undefined(dcg / ideal, n_rel)


def median_rank(ranks: np.ndarray) -> float:
    """Median of first-relevant ranks over queries that have relevant items (may be inf)."""
    values = np.asarray(ranks, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else float("nan")


def mean_metric(values: np.ndarray) -> float:
    """Mean over queries that have relevant items (NaN entries are left out)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def per_query_metrics(
    rel: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int] = (1, 5, 10), ndcg_k: int = 10
) -> dict[str, np.ndarray]:
    """Every metric of the report, one value per query, keyed by name (``recall@5``, ...).

    ``ap`` and ``rank`` are exact only when ``rel`` covers the whole gallery.
    """
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"recall@{k}"] = recall_at_k(rel, n_relevant, k)
    for k in ks:
        out[f"hit@{k}"] = hit_at_k(rel, n_relevant, k)
    for k in ks:
        out[f"precision@{k}"] = precision_at_k(rel, n_relevant, k)
    for k in ks:
        out[f"ap@{k}"] = average_precision(rel, n_relevant, k)
    out["ap"] = average_precision(rel, n_relevant)
    out["rr"] = reciprocal_rank(rel, n_relevant)
    out[f"ndcg@{ndcg_k}"] = ndcg_at_k(rel, n_relevant, ndcg_k)
    out["rank"] = first_relevant_rank(rel, n_relevant)
    return out


def _median_rows(samples: np.ndarray) -> np.ndarray:
    return np.asarray(np.median(samples, axis=1))


def bootstrap_ci(
    values: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    statistic: str = "mean",
    chunk: int = 100,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (or median) over queries.

    Queries are resampled with replacement, ``n_boot`` times, from a generator seeded with
    ``seed``: the same seed and query count give the same resamples for every metric, so
    intervals of different metrics are paired. NaN queries are dropped first.
    """
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)]
    if data.size == 0 or n_boot < 1:
        return float("nan"), float("nan")
    reduce: Statistic = (
        (lambda s: s.mean(axis=1)) if statistic == "mean" else _median_rows
    )
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, data.size, size=(stop - start, data.size))
        stats[start:stop] = reduce(data[idx])
    tail = (1 - confidence) / 2 * 100
    # Median ranks are inf when no relevant item is within the ranked depth; interpolating
    # between two of those gives inf - inf = NaN, so take order statistics instead.
    if np.isfinite(stats).all():
        low, high = np.percentile(stats, [tail, 100 - tail])
    else:
        low, high = np.percentile(stats, [tail, 100 - tail], method="inverted_cdf")
    return float(low), float(high)


def random_rankings(
    n_queries: int, gallery_size: int, seed: int, exclude: Sequence[int | None] | None = None
) -> np.ndarray:
    """Seeded random permutations of gallery indices, one row per query (the baseline).

    ``exclude[q]`` (an index or None) is removed from row ``q``, e.g. the query image
    itself in image->image retrieval; such rows end with ``-1`` padding.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n_queries, gallery_size), dtype=np.int64)
    for q in range(n_queries):
        perm = rng.permutation(gallery_size)
        drop = exclude[q] if exclude is not None else None
        if drop is not None:
            perm = np.concatenate([perm[perm != drop], [-1]])
        out[q] = perm
    return out
