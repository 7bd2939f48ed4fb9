"""Model benchmarks: raw image forward throughput and single-query text latency.

Imported by ``scripts/bench_core.py`` (``from bench.model import ...``). Run directly to
measure a full-size ViT-B/32 built from the shared config with random weights (speed only;
random weights say nothing about quality):

    PYTHONPATH=backend .venv/bin/python scripts/bench/model.py [--device auto] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

QUERIES = [
    "dress",
    "a photo of a hat",
    "red shoes",
    "a black leather jacket with a zip",
    "blue denim shorts for the summer",
    "a white long-sleeve shirt with buttons and a collar, folded on a table",
    "t-shirt",
    "a pleated skirt",
]


def _ms_stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "mean_ms": round(float(ms.mean()), 3),
    }


def _model_info(embedder: Any) -> dict[str, Any]:
    return {
        "model_id": embedder.model_id,
        "device": embedder.device,
        "dtype": str(getattr(embedder, "dtype", "n/a")).removeprefix("torch."),
    }


def bench_model_forward(
    embedder: Any, images: list[Image.Image], batch_size: int, min_seconds: float = 3.0
) -> dict[str, Any]:
    """Images/s of the model forward alone, on tensors preprocessed beforehand.

    Needs ``preprocess_images``/``encode_pixels`` (``ClipEmbedder``); for another embedder it
    times ``embed_images`` and says that preprocessing is included. Passes over ``images``
    repeat until ``min_seconds`` have been measured, after one warm-up batch.
    """
    if not images:
        raise ValueError("bench_model_forward needs at least one image")
    chunks = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    raw = hasattr(embedder, "preprocess_images") and hasattr(embedder, "encode_pixels")
    result: dict[str, Any] = {**_model_info(embedder), "images": len(images),
                              "batch_size": batch_size, "includes_preprocessing": not raw}
    run: Callable[[Any], np.ndarray]
    if raw:
        started = time.perf_counter()
        batches: list[Any] = [embedder.preprocess_images(chunk) for chunk in chunks]
        prep_s = time.perf_counter() - started
        result["preprocess_images_per_s"] = round(len(images) / prep_s, 1)
        run = embedder.encode_pixels
    else:
        batches = chunks
        run = embedder.embed_images
    run(batches[0])  # warm-up: kernels, allocator, lazy initialisation
    passes, elapsed, per_batch = 0, 0.0, []
    while elapsed < min_seconds or passes == 0:
        for batch in batches:
            started = time.perf_counter()
            run(batch)  # returns numpy, so GPU work has finished when it returns
            per_batch.append(time.perf_counter() - started)
        elapsed = sum(per_batch)
        passes += 1
    result.update(
        passes=passes,
        images_per_s=round(passes * len(images) / elapsed, 1),
        batch_ms=_ms_stats(per_batch),
    )
    return result


def bench_text_latency(embedder: Any, queries: list[str], n: int = 200) -> dict[str, Any]:
    """Single-query ``embed_texts`` latency (tokenise + forward), padded to the model's
    context length versus padded to the query itself.

    The two modes alternate query by query so that load on a shared machine hits both alike.
    An embedder without a ``padding`` option is timed as it is ("default").
    """
    if not queries:
        raise ValueError("bench_text_latency needs at least one query")
    if hasattr(embedder, "tokenize"):
        modes: dict[str, Any] = {"max_length": "max_length", "longest": "longest"}
        tokens = {m: float(np.mean([embedder.tokenize([q], m)["input_ids"].shape[1]
                                    for q in queries])) for m in modes}
    else:
        modes, tokens = {"default": None}, {}

    def call(query: str, mode: Any) -> None:
        if mode is None:
            embedder.embed_texts([query])
        else:
            embedder.embed_texts([query], padding=mode)

    for query in queries[:10]:
        for mode in modes.values():
            call(query, mode)
    timings: dict[str, list[float]] = {name: [] for name in modes}
    for i in range(n):
        query = queries[i % len(queries)]
        order = list(modes.items()) if i % 2 == 0 else list(reversed(modes.items()))
        for name, mode in order:
            started = time.perf_counter()
            call(query, mode)
            timings[name].append(time.perf_counter() - started)
    result: dict[str, Any] = {**_model_info(embedder), "n": n, "queries": len(queries),
                              "default_padding": getattr(embedder, "text_padding", None)}
    for name, seconds in timings.items():
        result[name] = {**_ms_stats(seconds), **({"mean_tokens": tokens[name]} if tokens else {})}
    if "longest" in result:
        fixed, dynamic = result["max_length"]["p50_ms"], result["longest"]["p50_ms"]
        result["p50_speedup"] = round(fixed / dynamic, 2)
    return result


def _clothing_images(count: int) -> list[Image.Image]:
    """``count`` validation photos, round-robin over the ten classes."""
    data = ROOT.parent / "shared" / "data" / "clothing10"
    rows = [json.loads(line) for line in (data / "labels.jsonl").read_text().splitlines()]
    by_class: dict[str, list[str]] = {}
    for row in rows:
        if row["split"] == "validation":
            by_class.setdefault(row["label"], []).append(row["image"])
    ordered = [sorted(paths) for _, paths in sorted(by_class.items())]
    picked = [p for group in zip(*ordered, strict=False) for p in group][:count]
    images = []
    for rel in picked:
        with Image.open(data / rel) as im:
            images.append(im.convert("RGB"))
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n", type=int, default=200, help="single queries per padding mode")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # oversubscribed cores make extra threads spin
    sys.path.insert(0, str(ROOT / "backend"))
    from tests.support.clip import make_clip_dir
    from visearch.config import load_settings
    from visearch.models.loader import load_embedder

    with tempfile.TemporaryDirectory(prefix="visearch-bench-") as tmp:
        model_dir = make_clip_dir(Path(tmp) / "clip-vit-base-patch32-random", full_size=True)
        settings = load_settings(model=str(model_dir), model_fallback="", device=args.device,
                                 batch_size=args.batch_size)
        embedder = load_embedder(settings)
        images = _clothing_images(args.images)
        report = {
            "torch_threads": torch.get_num_threads(),
            "forward": bench_model_forward(embedder, images, args.batch_size),
            "text_latency": bench_text_latency(embedder, QUERIES, n=args.n),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
