"""Vector-store benchmark: build an embedded edge store, then time searches and check recall.

Imported by ``scripts/bench_core.py`` (``from bench.store import bench_store``). Run directly
for 10k and 100k points (prints JSON):

    PYTHONPATH=backend .venv/bin/python scripts/bench/store.py [n_points ...]

The data is synthetic but clustered like embeddings are (unit vectors around random
centres); queries are fresh draws from the same clusters, so recall@10 of HNSW against the
exact answer means something. The store lives in a temporary directory on the real disk,
so insert times include the fsync after every batch.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from visearch.store.base import Filter, Point, ScoredPoint
from visearch.store.edge import EdgeStore

BATCH = 1000
LABELS = ["dress", "skirt", "shirt", "shoe", "hat", "bag", "coat", "jeans", "scarf", "sock"]


def _ms_stats(seconds: Sequence[float], prefix: str) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {
        f"{prefix}_p50_ms": round(float(np.percentile(ms, 50)), 3),
        f"{prefix}_p95_ms": round(float(np.percentile(ms, 95)), 3),
        f"{prefix}_mean_ms": round(float(ms.mean()), 3),
    }


def clustered_vectors(
    n: int, dim: int, centres: np.ndarray, rng: np.random.Generator, spread: float = 0.6
) -> np.ndarray:
    """Unit vectors scattered around randomly chosen centres (cosine ~0.85 to their centre)."""
    picks = rng.integers(0, len(centres), size=n)
    noise = rng.standard_normal((n, dim)).astype(np.float32) * (spread / np.sqrt(dim))
    out = centres[picks] + noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def _dir_mb(path: Path) -> float:
    """Space really used on disk (files are sparse and mmapped, so sizes overstate it)."""
    total = sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())
    return round(total / 2**20, 1)


def bench_store(
    n_points: int, dim: int = 512, n_queries: int = 200, *, recall_queries: int = 50,
    seed: int = 0,
) -> dict[str, float | int | str]:
    """Build an edge store of ``n_points`` vectors and measure it; returns a flat dict.

    Keys: build (``insert_s``, ``optimize_s``, ``build_s``, ``insert_points_per_s``),
    HNSW search latency over ``n_queries`` (``search_p50_ms``/``p95``/``mean``), exact scan
    latency for comparison (``exact_*``), latency with a 10% label filter (``filtered_*``),
    ``recall_at_10`` of HNSW vs exact on ``recall_queries`` queries, and store facts.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(10, n_points // 100), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    matrix = clustered_vectors(n_points, dim, centres, rng)
    queries = clustered_vectors(n_queries, dim, centres, rng)

    with tempfile.TemporaryDirectory(prefix="visearch-bench-store-") as tmp, \
            EdgeStore(Path(tmp), "bench/random-clusters", dim) as store:
        t0 = time.perf_counter()
        for start in range(0, n_points, BATCH):
            store.upsert([
                Point(f"img-{i}", matrix[i], {"label": LABELS[i % len(LABELS)], "width": 640,
                                              "height": 480, "format": "jpeg"})
                for i in range(start, min(start + BATCH, n_points))
            ])
        insert_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        store.optimize()
        optimize_s = time.perf_counter() - t0
        stats = store.stats()

        def timed(
            exact: bool, flt: Filter | None = None
        ) -> tuple[list[float], list[list[ScoredPoint]]]:
            times: list[float] = []
            results: list[list[ScoredPoint]] = []
            for q in queries:
                t = time.perf_counter()
                results.append(store.search(q, limit=10, exact=exact, flt=flt))
                times.append(time.perf_counter() - t)
            return times, results

        store.search(queries[0], limit=10)  # warm up caches
        hnsw_times, hnsw_results = timed(exact=False)
        exact_times, exact_results = timed(exact=True)
        filtered_times, _ = timed(exact=False, flt={"label": "dress"})

        recalls = []
        for q, got in zip(queries[:recall_queries], hnsw_results[:recall_queries], strict=True):
            truth = {f"img-{i}" for i in np.argsort(-(matrix @ q))[:10]}
            recalls.append(len(truth & {r.id for r in got}) / 10)
        exact_agrees = all(
            [r.id for r in e] == [f"img-{i}" for i in np.argsort(-(matrix @ q))[:10]]
            for q, e in zip(queries[:10], exact_results[:10], strict=True)
        )
        disk_mb = _dir_mb(store.path)

    return {
        "backend": "edge",
        "n_points": n_points,
        "dim": dim,
        "n_queries": n_queries,
        "cpu_count": os.cpu_count() or 0,
        "insert_s": round(insert_s, 2),
        "insert_points_per_s": round(n_points / insert_s),
        "optimize_s": round(optimize_s, 2),
        "build_s": round(insert_s + optimize_s, 2),
        **_ms_stats(hnsw_times, "search"),
        **_ms_stats(exact_times, "exact"),
        **_ms_stats(filtered_times, "filtered"),
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "exact_matches_numpy": int(exact_agrees),
        "indexed_vectors": stats["indexed_vectors"],
        "segments": stats["segments"],
        "disk_mb": disk_mb,
    }


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    print(json.dumps([bench_store(n) for n in sizes], indent=2))
