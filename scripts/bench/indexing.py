"""End-to-end indexing against the raw model forward on the same images.

``Indexer.index_files`` is what ``visearch index`` (local mode), the upload route and the job
workers run: read, decode, preprocess, embed, write files, upsert. The raw forward is
``embed_pixels`` on the same photos, decoded and resized beforehand, at the same batch size.
Two more passes use large copies of the photos: 2,000 px (stored as they are, so decoded at a
reduced scale: JPEG draft) and 4,000 px (camera-sized: stored as a bounded 2,048 px copy, so
decoded at that size and re-encoded).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.model import forward_rate
from PIL import Image

from visearch.models.base import Embedder


def make_large_copies(paths: list[Path], dest: Path, side: int) -> list[Path]:
    """JPEG copies of ``paths`` upscaled so the longer side is ``side`` (camera-sized)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        with Image.open(p) as im:
            rgb = im.convert("RGB")
        scale = side / max(rgb.size)
        big = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)),
                         Image.Resampling.BICUBIC)
        target = dest / f"{p.stem}-{side}.jpg"
        big.save(target, "JPEG", quality=90)
        out.append(target)
    return out


def bench_index(embedder: Embedder, paths: list[Path], settings_kwargs: dict[str, Any],
                min_seconds: float) -> dict[str, Any]:
    """images/s of ``index_files`` into a fresh data dir vs ``embed_pixels`` of the same
    photos (decoded beforehand) at the configured batch size; the ratio."""
    from visearch.config import load_settings
    from visearch.runtime import Runtime

    transform = embedder.image_transform
    assert transform is not None
    batch = int(settings_kwargs.get("batch_size", 32))
    decoded = []
    started = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            decoded.append(im.convert("RGB"))
    decode_s = time.perf_counter() - started
    pixels = transform.stack(decoded)
    forward = forward_rate(embedder, pixels, batch, min_seconds, configure=False)
    with tempfile.TemporaryDirectory(prefix="visearch-bench-index-") as tmp:
        settings = load_settings(**settings_kwargs, data_dir=Path(tmp) / "data")
        runtime = Runtime.build(settings, embedder=embedder)
        try:
            started = time.perf_counter()
            results = runtime.indexer.index_files(paths)
            elapsed = time.perf_counter() - started
        finally:
            runtime.close()
    # Near-duplicates are written too (with duplicate_of): random-weight models find many.
    indexed = sum(r.status in ("indexed", "near_duplicate") for r in results)
    rate = indexed / elapsed
    return {"images": len(paths), "indexed": indexed, "batch_size": batch,
            "index_seconds": round(elapsed, 2), "index_images_per_s": round(rate, 2),
            "raw_forward_images_per_s": round(forward, 2),
            "ratio_index_over_forward": round(rate / forward, 3),
            "plain_decode_images_per_s": round(len(paths) / decode_s, 1),
            "max_side": max(max(im.size) for im in decoded)}
