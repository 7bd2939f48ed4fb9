"""Vector-store benchmark: build an embedded edge store, time its HNSW build (in the background
process, with searches timed meanwhile), then open it in a fresh process to measure its
memory, search latency per HNSW beam width and recall@10 against exact search.

The data is synthetic but clustered like embeddings are (unit vectors around random
centres); queries are fresh draws from the same clusters, so recall@10 against the exact
answer (numpy) means something. The store lives on the real disk (fsync after every batch).

    PYTHONPATH=backend:scripts .venv/bin/python scripts/bench/store.py 100000 [--quantization int8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visearch.store.base import Point
from visearch.store.edge import EdgeStore

BATCH = 1000
LABELS = ["dress", "skirt", "shirt", "shoe", "hat", "bag", "coat", "jeans", "scarf", "sock"]
MODEL = "bench/random-clusters"


def _ms(seconds: Sequence[float], prefix: str) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    if not len(ms):
        return {}
    return {f"{prefix}_p50_ms": round(float(np.percentile(ms, 50)), 3),
            f"{prefix}_p99_ms": round(float(np.percentile(ms, 99)), 3),
            f"{prefix}_max_ms": round(float(ms.max()), 3), f"{prefix}_n": len(ms)}


def clustered_vectors(n: int, dim: int, centres: np.ndarray, rng: np.random.Generator,
                      spread: float = 0.6, chunk: int = 100_000) -> np.ndarray:
    """Unit vectors scattered around randomly chosen centres (cosine ~0.85 to their centre),
    made in chunks so 1M vectors need 2 GB, not three times that."""
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        picks = rng.integers(0, len(centres), size=m)
        block = centres[picks] + rng.standard_normal((m, dim), np.float32) * (spread / np.sqrt(dim))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(store: EdgeStore) -> float:
    """CPU time (user + system) of the store's index build process so far."""
    process = store._build_process
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (AttributeError, OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _dir_mb(path: Path) -> float:
    """Space really used on disk (files are sparse and mmapped, so sizes overstate it)."""
    total = sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())
    return round(total / 2**20, 1)


def bench_store(n_points: int, dim: int = 512, n_queries: int = 200, *,
                quantization: str = "int8", vectors_on_disk: bool = True, m: int = 16,
                ef_construct: int = 100, efs: Sequence[int] = (32, 64, 128),
                oversamplings: Sequence[float] = (1.0, 2.0, 4.0),
                data_dir: Path | None = None, seed: int = 0) -> dict[str, Any]:
    """See the module docstring; returns one flat-ish dict of figures."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(10, n_points // 100), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    matrix = clustered_vectors(n_points, dim, centres, rng)
    queries = clustered_vectors(n_queries, dim, centres, rng)
    truth = np.stack([np.argsort(-(matrix @ q))[:10] for q in queries])
    config = {"quantization": quantization, "vectors_on_disk": vectors_on_disk,
              "hnsw_m": m, "hnsw_ef_construct": ef_construct}
    out: dict[str, Any] = {"backend": "edge", "n_points": n_points, "dim": dim,
                           "n_queries": n_queries, **config}
    with tempfile.TemporaryDirectory(prefix="visearch-bench-store-", dir=data_dir) as tmp:
        root = Path(tmp)
        with EdgeStore(root, MODEL, dim, hnsw_m=m, hnsw_ef_construct=ef_construct,
                       quantization=quantization, vectors_on_disk=vectors_on_disk) as store:
            started = time.perf_counter()
            for start in range(0, n_points, BATCH):
                store.upsert([
                    Point(f"img-{i}", matrix[i], {"image_id": f"img-{i}",
                                                  "label": LABELS[i % len(LABELS)],
                                                  "width": 640, "height": 480})
                    for i in range(start, min(start + BATCH, n_points))
                ])
            out["insert_s"] = round(time.perf_counter() - started, 1)
            out["insert_points_per_s"] = round(n_points / (time.perf_counter() - started))
            # The background build: the server keeps searching while it runs.
            during: list[float] = []
            started = time.perf_counter()
            store.build_index_async()
            i, cpu_s = 0, 0.0
            while store.index_building:
                t = time.perf_counter()
                store.search(queries[i % n_queries], limit=10)
                during.append(time.perf_counter() - t)
                i += 1
                cpu_s = max(cpu_s, _cpu_seconds(store))
                time.sleep(0.01)
            out["build_s"] = round(time.perf_counter() - started, 1)
            out["build_cpu_s"] = round(cpu_s, 1)
            out["build_phases"] = store.last_build
            out.update(_ms(during, "search_during_build"))
            stats = store.stats()
            out["indexed_vectors"] = stats["indexed_vectors"]
            out["segments"] = stats["segments"]
        del matrix
        np.save(root / "queries.npy", queries)
        np.save(root / "truth.npy", truth)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(root), "--dim", str(dim),
             "--config", json.dumps(config), "--efs", *map(str, efs),
             "--oversampling", *map(str, oversamplings)],
            capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        if child.returncode != 0:
            raise RuntimeError(f"store measurement failed: {child.stderr[-2000:]}")
        out.update(json.loads(child.stdout))
        out["disk_mb"] = _dir_mb(root / "collections")
    return out


def measure(root: Path, dim: int, config: dict[str, Any], efs: Sequence[int],
            oversamplings: Sequence[float]) -> dict[str, Any]:
    """In a fresh process: memory of the opened store, latency and recall per ``ef`` (and
    per rescoring oversampling, with quantization)."""
    queries = np.load(root / "queries.npy")
    truth = np.load(root / "truth.npy")
    out: dict[str, Any] = {}
    base = _rss_mb()
    if config["quantization"] == "none":
        oversamplings = [1.0]
    for ef, over in ((e, o) for o in oversamplings for e in efs):
        name = f"ef{ef}" if len(oversamplings) == 1 else f"ef{ef}_x{over:g}"
        started = time.perf_counter()
        with EdgeStore(root, MODEL, dim, hnsw_m=config["hnsw_m"],
                       hnsw_ef_construct=config["hnsw_ef_construct"],
                       quantization=config["quantization"], oversampling=over,
                       vectors_on_disk=config["vectors_on_disk"], hnsw_ef=ef) as store:
            out.setdefault("open_s", round(time.perf_counter() - started, 2))
            for q in queries:  # warm-up: page in what searches touch
                store.search(q, limit=10)
            times, recalls = [], []
            for q, t in zip(queries, truth, strict=True):
                started = time.perf_counter()
                hits = store.search(q, limit=10)
                times.append(time.perf_counter() - started)
                recalls.append(len({f"img-{i}" for i in t} & {h.id for h in hits}) / 10)
            out[name] = {**_ms(times, "search"), "recall_at_10": round(float(np.mean(recalls)), 4)}
            out.setdefault("store_rss_mb", round(_rss_mb() - base, 1))
            filtered = []
            for q in queries[:50]:
                started = time.perf_counter()
                store.search(q, limit=10, flt={"label": "dress"})
                filtered.append(time.perf_counter() - started)
            out[name].update(_ms(filtered, "filtered"))
    runs = {k: v for k, v in out.items() if k.startswith("ef")}
    ok = [k for k, v in runs.items() if v["recall_at_10"] >= 0.95]
    chosen = (min(ok, key=lambda k: runs[k]["search_p50_ms"]) if ok
              else max(runs, key=lambda k: runs[k]["recall_at_10"]))
    out["chosen"] = chosen
    out["search_p50_ms"] = runs[chosen]["search_p50_ms"]
    out["recall_at_10"] = runs[chosen]["recall_at_10"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_points", type=int, nargs="*", default=[100_000])
    parser.add_argument("--quantization", default="int8", choices=["int8", "none"])
    parser.add_argument("--in-ram", action="store_true", help="original vectors cached in RAM")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--efs", type=int, nargs="*", default=[32, 64, 128])
    parser.add_argument("--oversampling", type=float, nargs="*", default=[1.0, 2.0, 4.0])
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.dim, json.loads(args.config), args.efs,
                                 args.oversampling)))
        return
    results = [bench_store(n, args.dim, quantization=args.quantization,
                           vectors_on_disk=not args.in_ram, efs=args.efs,
                           oversamplings=args.oversampling) for n in args.n_points]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
