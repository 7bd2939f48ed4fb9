"""Core benchmarks, printed as JSON (issue: core service).

- raw model forward images/s vs end-to-end ``index`` images/s on the same images (and ratio);
- text query latency p50/p95, padded to 77 tokens vs dynamic padding;
- store search latency at 10k and 100k points.

The model is full-size ViT-B/32 built from ../shared/models (random weights: speed only).

    .venv/bin/python scripts/bench_core.py [--images 256] [--device auto] [--points 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT / "scripts")]

from bench.model import QUERIES, bench_model_forward, bench_text_latency  # noqa: E402
from bench.store import bench_store  # noqa: E402
from PIL import Image  # noqa: E402


def _clothing_paths(count: int) -> list[Path]:
    data = ROOT.parent / "shared" / "data" / "clothing10"
    rows = [json.loads(line) for line in (data / "labels.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["split"] == "train"]
    step = max(1, len(rows) // count)
    return [data / r["image"] for r in rows[::step][:count]]


def bench_index(settings_kwargs: dict[str, object], embedder: object, paths: list[Path]) -> dict:
    """End-to-end ``Indexer.index_files``: read, decode, embed, store files, upsert."""
    from visearch.config import load_settings
    from visearch.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="visearch-bench-index-") as tmp:
        settings = load_settings(**settings_kwargs, data_dir=tmp)
        runtime = Runtime.build(settings, embedder=embedder)  # type: ignore[arg-type]
        try:
            started = time.perf_counter()
            results = runtime.indexer.index_files(paths)
            elapsed = time.perf_counter() - started
        finally:
            runtime.close()
    indexed = sum(r.status == "indexed" for r in results)
    return {"images": len(paths), "indexed": indexed, "seconds": round(elapsed, 2),
            "images_per_s": round(indexed / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description="visearch core benchmarks (JSON)")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--points", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--text-n", type=int, default=200)
    args = parser.parse_args()

    from tests.support.clip import make_clip_dir
    from visearch.config import load_settings
    from visearch.logs import configure_logging
    from visearch.models.loader import load_embedder

    configure_logging("WARNING")  # stdout carries only the JSON report
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="visearch-bench-") as tmp:
        model_dir = make_clip_dir(Path(tmp) / "clip-vit-base-patch32-random", full_size=True)
        kwargs: dict[str, object] = {"model": str(model_dir), "model_fallback": "",
                                     "device": args.device, "batch_size": args.batch_size}
        embedder = load_embedder(load_settings(**kwargs))
        paths = _clothing_paths(args.images)
        images = []
        for p in paths:
            with Image.open(p) as im:
                images.append(im.convert("RGB"))
        forward = bench_model_forward(embedder, images, args.batch_size)
        index = bench_index(kwargs, embedder, paths)
        report["index_vs_forward"] = {
            "model_forward_images_per_s": forward["images_per_s"],
            "index_images_per_s": index["images_per_s"],
            "ratio_index_over_forward": round(index["images_per_s"] / forward["images_per_s"], 3),
            "forward": forward,
            "index": index,
        }
        report["text_latency"] = bench_text_latency(embedder, QUERIES, n=args.text_n)
    report["store"] = {str(n): bench_store(n) for n in args.points}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
