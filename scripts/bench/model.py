"""Model benchmarks: image throughput per precision and batch size, agreement with fp32 on real
photos, text query latency, what batching saves, preprocessing speed, share of the matmul
ceiling. Used by ``scripts/bench/run.py``; every comparison is made within one run.

The throughput figures time ``embed_pixels`` on uint8 batches made beforehand: the model's
forward plus normalisation (on the device), without decoding or resizing (the raw forward).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from visearch.models.base import Embedder

QUERIES = [
    "dress",
    "a photo of a hat",
    "red shoes",
    "a black leather jacket with a zip",
    "blue denim shorts for the summer",
    "a white long-sleeve shirt with buttons and a collar, folded on a table",
    "t-shirt",
    "a pleated skirt",
    "a dog running on the beach",
    "two children playing football in a park",
    "a man riding a bicycle down a city street",
    "a woman in a red coat",
    "snow on the mountains",
    "a black and white cat sleeping on a sofa",
    "people waiting at a bus stop in the rain",
    "a boat on a lake at sunset",
]


#: Interleaved measuring rounds per configuration (the best one counts).
ROUNDS = 3


def ms_stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "mean_ms": round(float(ms.mean()), 3), "n": len(ms)}


def load_variants(kind: str, model_dir: Path | None, precisions: Sequence[str], device: str,
                  batch_size: int) -> dict[str, Embedder]:
    """The model in each precision, converted from one fp32 load (no quality guard: the
    benchmark measures the agreement itself), and on OpenVINO where it runs
    (``<precision>+openvino``)."""
    from visearch.models.clip import ClipEmbedder
    from visearch.models.offline import OfflineEmbedder, load_offline_model

    exact: ClipEmbedder | OfflineEmbedder
    if kind == "clip":
        assert model_dir is not None
        exact = ClipEmbedder.from_dir(model_dir, device=device, batch_size=batch_size,
                                      precision="fp32")
    else:
        exact = load_offline_model(device, batch_size, "fp32")
    variants: dict[str, Embedder] = {}
    for p in precisions:
        variants[p] = exact if p == "fp32" else exact.with_precision(p)  # type: ignore[arg-type]
    from visearch.models import openvino

    for p in precisions:
        if openvino.supports(device, p):  # the optional runtime, same precision
            variants[f"{p}+openvino"] = exact.with_precision(p, runtime="openvino")
    return variants


def set_forward_batch(embedder: Embedder, batch: int) -> None:
    """Images per forward: CLIP's ``batch_size``, the offline model's ``forward_images``."""
    if hasattr(embedder, "forward_images"):
        embedder.forward_images = batch
    else:
        embedder.batch_size = batch  # type: ignore[attr-defined]


def forward_rate(embedder: Embedder, pixels: np.ndarray, batch: int, min_seconds: float,
                 *, configure: bool = True) -> float:
    """Images/s of ``embed_pixels`` over ``pixels`` in calls of ``batch`` images (one
    warm-up); ``configure`` also sets the model's own forward batch to ``batch``."""
    if configure:
        set_forward_batch(embedder, batch)
    chunks = [pixels[i : i + batch] for i in range(0, len(pixels), batch)]
    embedder.embed_pixels(chunks[0])
    done, started = 0, time.perf_counter()
    while True:
        for chunk in chunks:
            embedder.embed_pixels(chunk)
            done += len(chunk)
            elapsed = time.perf_counter() - started
            if elapsed >= min_seconds:
                return done / elapsed


def flops_per_image(variants: dict[str, Embedder], pixels: np.ndarray) -> float:
    """Floating-point operations of one image's forward (torch's FLOP counter), from the
    first variant it can see into (not a TorchScript trace such as the offline fp32 tower;
    every precision does the same operations)."""
    from torch.utils.flop_counter import FlopCounterMode

    for embedder in variants.values():
        set_forward_batch(embedder, 1)
        counter = FlopCounterMode(display=False)
        try:
            with counter:
                embedder.embed_pixels(pixels[:1])
        except RuntimeError:
            continue
        return float(counter.get_total_flops())
    return float("nan")


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1))) if len(a) else 1.0


def bench_model(
    kind: str,
    variants: dict[str, Embedder],
    photos: list[Image.Image],
    captions: list[str],
    batches: Sequence[int],
    min_seconds: float,
    text_n: int,
    ceiling_gflops: float | None,
) -> dict[str, Any]:
    """Throughput per precision and batch, ratios to fp32, min cosine to fp32 on real
    photos and captions, single-query text latency, batching gain, share of the ceiling."""
    exact = variants["fp32"]
    transform = exact.image_transform
    assert transform is not None
    pixels = transform.stack(photos)
    out: dict[str, Any] = {"kind": kind, "model_id": exact.model_id, "device": exact.device,
                           "photos": len(photos), "batches": list(batches)}
    flops = flops_per_image(variants, pixels)
    out["gflops_per_image"] = round(flops / 1e9, 3)
    reference_images = exact.embed_images(photos)
    reference_texts = exact.embed_texts(captions)
    # Interleaved rounds, best of each: load from other processes hits every variant alike.
    rates: dict[str, dict[int, float]] = {name: dict.fromkeys(batches, 0.0) for name in variants}
    for _ in range(ROUNDS):
        for name, embedder in variants.items():
            for b in batches:
                rate = forward_rate(embedder, pixels, b, min_seconds / ROUNDS)
                rates[name][b] = max(rates[name][b], rate)
    per_precision: dict[str, Any] = {}
    for name, embedder in variants.items():
        entry: dict[str, Any] = {
            "images_per_s": {str(b): round(r, 2) for b, r in rates[name].items()},
            "min_cosine_images": round(min_cosine(embedder.embed_images(photos),
                                                  reference_images), 5),
            "min_cosine_texts": round(min_cosine(embedder.embed_texts(captions),
                                                 reference_texts), 5),
        }
        best_batch = max(rates[name], key=lambda b: rates[name][b])
        entry["best_batch"] = best_batch
        entry["best_images_per_s"] = round(rates[name][best_batch], 2)
        entry["model_gflops"] = round(rates[name][best_batch] * flops / 1e9, 1)
        if ceiling_gflops:
            entry["share_of_best_matmul_ceiling"] = round(entry["model_gflops"] / ceiling_gflops,
                                                          3)
        entry["text"] = text_latency(embedder, QUERIES, text_n)
        per_precision[name] = entry
    for name, entry in per_precision.items():
        entry["vs_fp32"] = {str(b): round(rates[name][b] / rates["fp32"][b], 2) for b in batches}
        entry["best_vs_fp32_best"] = round(entry["best_images_per_s"]
                                           / per_precision["fp32"]["best_images_per_s"], 2)
    out["precisions"] = per_precision
    ok = {n: e for n, e in per_precision.items()
          if min(e["min_cosine_images"], e["min_cosine_texts"]) >= 0.99}
    best = max(ok, key=lambda n: ok[n]["best_images_per_s"])
    out["best_precision"] = best
    out["best_vs_fp32"] = per_precision[best]["best_vs_fp32_best"]
    out["text_batching"] = text_batch_gain(variants[best], QUERIES[:16])
    return out


def text_latency(embedder: Embedder, queries: Sequence[str], n: int) -> dict[str, Any]:
    """One short query per call (what a search does): p50/p95 of ``embed_texts``."""
    for q in queries[:4]:
        embedder.embed_texts([q])
    times = []
    for i in range(n):
        started = time.perf_counter()
        embedder.embed_texts([queries[i % len(queries)]])
        times.append(time.perf_counter() - started)
    return ms_stats(times)


def text_batch_gain(embedder: Embedder, queries: Sequence[str], rounds: int = 3) -> dict[str, Any]:
    """16 single calls against one call of 16: the cost per query of each."""
    embedder.embed_texts(list(queries))

    def timed(fn: Callable[[], object]) -> float:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - started)
        return best

    single = timed(lambda: [embedder.embed_texts([q]) for q in queries])
    batched = timed(lambda: embedder.embed_texts(list(queries)))
    return {"queries": len(queries), "single_calls_ms": round(single * 1000, 2),
            "one_batch_ms": round(batched * 1000, 2),
            "cost_ratio_single_over_batch": round(single / batched, 2)}


def bench_preprocessing(embedder: Embedder, photos: list[Image.Image], min_seconds: float
                        ) -> dict[str, Any]:
    """Images/s of the checkpoint's own image processor vs ``image_transform`` (uint8, then
    normalised in torch), and the largest difference between their outputs."""
    import torch

    processor = getattr(embedder, "image_processor", None)
    transform = embedder.image_transform
    if processor is None or transform is None:
        return {"skipped": "no processor/transform pair"}

    def rate(fn: Callable[[], object]) -> float:
        fn()
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < min_seconds / ROUNDS:
            fn()
            done += len(photos)
        return done / (time.perf_counter() - started)

    slow = fast = 0.0
    for _ in range(ROUNDS):  # interleaved, best of each
        slow = max(slow, rate(lambda: processor(images=photos, return_tensors="pt")))
        fast = max(fast, rate(lambda: transform.normalise(transform.stack(photos), "cpu")))
    ref = processor(images=photos, return_tensors="pt")["pixel_values"]
    ours = transform.normalise(transform.stack(photos), "cpu")
    return {"processor_images_per_s": round(slow, 1), "transform_images_per_s": round(fast, 1),
            "speedup": round(fast / slow, 2),
            "max_abs_difference": float(torch.max(torch.abs(ref - ours)))}
