"""visearch benchmark suite: one command, JSON + Markdown, every comparison within one run.

    .venv/bin/python scripts/bench/run.py                  # full suite (~20-40 min on 2 cores)
    .venv/bin/python scripts/bench/run.py --mode smoke     # seconds; what the test suite runs
    .venv/bin/python scripts/bench/run.py --mode store     # 1M vectors (long: run it niced)
    .venv/bin/python scripts/bench/run.py --only model,http --out bench-results/x

Sections: hardware (CPU model, cores, SIMD flags, GPU, load), matmul ceiling per precision,
model throughput per precision and batch size (CLIP ViT-B/32 at full size with random
weights built from ../shared/models, and the built-in offline model) with the minimum cosine
to fp32 on real photos, text query latency, batching gain, preprocessing, the offline model's
retrieval quality per precision, end-to-end indexing vs the raw forward (normal and camera-
sized photos), HTTP (cold start, uncached vs cached, 16 concurrent vs sequential), the store.
Writes ``results.json`` and ``summary.md`` to ``--out`` (default ``bench-results/<time>``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT / "scripts")]
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Threads that wait sleep instead of spinning, so that on a shared machine waiting OpenMP
# threads do not take cores from the threads being measured.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.report import markdown  # noqa: E402

SHARED = ROOT.parent / "shared"
FLICKR = SHARED / "data" / "flickr8k"
SECTIONS = ("hardware", "matmul", "model", "quality", "index", "http", "store")

#: Sizes per mode. Smoke: seconds, numbers meaningless; full: the figures in docs/performance.md.
MODES: dict[str, dict[str, Any]] = {
    "smoke": {"clip": "tiny", "models": ["clip"], "photos": 4, "batches": [1, 2], "min_seconds": 0.05,
              "text_n": 5, "quality_images": 8, "index_photos": 4, "large_photos": 2,
              "http_n": 3, "http_concurrency": 4, "gallery": 6, "uploads": 1,
              "store_points": [2000], "store_queries": 20,
              "sections": tuple(s for s in SECTIONS if s != "quality")},
    "full": {"clip": "full", "models": ["clip", "offline"], "photos": 32, "batches": [1, 8, 32],
             "offline_batches": [1, 2, 4, 8],
             "min_seconds": 3.0,
             "text_n": 100, "quality_images": 500, "index_photos": 256, "large_photos": 32,
             "http_n": 48, "http_concurrency": 16, "gallery": 300, "uploads": 10,
             "store_points": [100_000], "store_queries": 200,
             "sections": SECTIONS},
    "store": {"store_points": [1_000_000], "store_queries": 200,
              "sections": ("hardware", "store")},
    # A CUDA machine (scripts/bench/gpu.sh): large batches, many photos, a few minutes.
    "gpu": {"clip": "full", "models": ["clip", "offline"], "photos": 512,
            "batches": [32, 256, 512], "min_seconds": 2.0, "text_n": 200,
            "quality_images": 1000, "index_photos": 2000, "large_photos": 64, "index_batch": 256,
            "sections": ("hardware", "matmul", "model", "quality", "index")},
}


def flickr(split: str, count: int) -> list[tuple[Path, list[str]]]:
    """``count`` photos of a Flickr8k split with their captions, in file order."""
    rows = [json.loads(line) for line in (FLICKR / "captions.jsonl").read_text().splitlines()]
    rows = sorted((r for r in rows if r["split"] == split), key=lambda r: r["image"])
    return [(FLICKR / r["image"], r["captions"]) for r in rows[:count]]


def load_photos(paths: list[Path]) -> list[Any]:
    from PIL import Image

    photos = []
    for p in paths:
        with Image.open(p) as im:
            photos.append(im.convert("RGB"))
    return photos


class Suite:
    def __init__(self, mode: str, out: Path, only: set[str] | None, device: str) -> None:
        self.mode = mode
        self.cfg = MODES[mode]
        self.out = out
        self.only = only
        self.device = device
        self.results: dict[str, Any] = {"mode": mode, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                        "sections": {}}
        self.tmp = Path(tempfile.mkdtemp(prefix="visearch-bench-"))

    def wanted(self, section: str) -> bool:
        return section in self.cfg["sections"] and (self.only is None or section in self.only)

    def run(self, section: str, fn: Callable[[], Any]) -> None:
        if not self.wanted(section):
            return
        print(f"[bench] {section} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:  # one broken section must not lose the others
            traceback.print_exc()
            value = {"error": f"{type(exc).__name__}: {exc}"}
        self.results["sections"][section] = value
        self.results.setdefault("section_seconds", {})[section] = round(
            time.perf_counter() - started, 1)
        self.save()

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "results.json").write_text(json.dumps(self.results, indent=2) + "\n")
        (self.out / "summary.md").write_text(markdown(self.results))

    # -- sections ---------------------------------------------------------------------------

    def clip_dir(self) -> Path:
        from tests.support.clip import make_clip_dir

        path = self.tmp / f"clip-{self.cfg['clip']}"
        if not (path / "config.json").exists():
            make_clip_dir(path, full_size=self.cfg["clip"] == "full")
        return path

    def precisions(self) -> list[str]:
        return ["fp32", "fp16", "bf16"] if self.device == "cuda" else ["fp32", "bf16", "int8"]

    def model(self) -> dict[str, Any]:
        import torch
        from bench.model import bench_model, bench_preprocessing, load_variants

        from visearch.models.precision import auto_precision

        items = flickr("dev", self.cfg["photos"])
        photos = load_photos([p for p, _ in items])
        captions = [c for _, caps in items for c in caps[:2]]
        ceiling = self.results["sections"].get("matmul", {}).get("best_gflops")
        out: dict[str, Any] = {"auto_precision": auto_precision(self.device)}
        for kind in self.cfg["models"]:
            variants = load_variants(kind, self.clip_dir() if kind == "clip" else None,
                                     self.precisions(), self.device, 32)
            batches = self.cfg.get(f"{kind}_batches", self.cfg["batches"])
            out[kind] = bench_model(kind, variants, photos, captions, batches,
                                    self.cfg["min_seconds"], self.cfg["text_n"], ceiling)
            if kind == "clip":
                out[kind]["preprocessing"] = bench_preprocessing(
                    variants["fp32"], photos, self.cfg["min_seconds"])
            del variants
            if self.device == "cuda":
                torch.cuda.empty_cache()
        return out

    def quality(self) -> dict[str, Any]:
        """Text->image R@10 of the offline model (real weights) per precision on Flickr8k dev."""
        import numpy as np
        from bench.model import load_variants

        items = flickr("dev", self.cfg["quality_images"])
        photos = load_photos([p for p, _ in items])
        captions = [(i, c) for i, (_, caps) in enumerate(items) for c in caps]
        variants = load_variants("offline", None, self.precisions(), self.device, 32)
        out: dict[str, Any] = {"images": len(photos), "captions": len(captions)}
        for name, embedder in variants.items():
            started = time.perf_counter()
            gallery = embedder.embed_images(photos)
            texts = embedder.embed_texts([c for _, c in captions])
            scores = texts @ gallery.T
            own = np.array([i for i, _ in captions])
            rank = (scores > scores[np.arange(len(own)), own][:, None]).sum(axis=1)
            out[name] = {"recall_at_1": round(float(np.mean(rank < 1)), 4),
                         "recall_at_10": round(float(np.mean(rank < 10)), 4),
                         "median_rank": float(np.median(rank) + 1),
                         "seconds": round(time.perf_counter() - started, 1)}
        return out

    def index(self) -> dict[str, Any]:
        from bench.indexing import bench_index, make_large_copies

        from visearch.config import load_settings
        from visearch.models.loader import load_embedder

        paths = [p for p, _ in flickr("train", self.cfg["index_photos"])]
        sets = {"photos": paths}
        for side in (2000, 4000):
            sets[f"{side}px"] = make_large_copies(paths[: self.cfg["large_photos"]],
                                                  self.tmp / f"large-{side}", side)
        out: dict[str, Any] = {}
        for kind in self.cfg["models"]:
            kwargs: dict[str, Any] = {
                "model": str(self.clip_dir()) if kind == "clip" else "builtin:offline",
                "model_fallback": "", "device": self.device, "precision": "auto",
                "batch_size": self.cfg.get("index_batch", 32), "index_build_threshold": 0}
            embedder = load_embedder(load_settings(**kwargs))
            out[kind] = {"precision": embedder.precision,
                         "runtime": embedder.describe().get("runtime", "torch"),
                         **{name: bench_index(embedder, files, kwargs, self.cfg["min_seconds"])
                            for name, files in sets.items()}}
        return out

    def http(self) -> dict[str, Any]:
        from bench.serving import bench_http

        from visearch.config import load_settings
        from visearch.runtime import Runtime

        model = str(self.clip_dir()) if self.mode == "smoke" else "builtin:offline"
        data_dir = self.tmp / "http-data"
        env = {"VISEARCH_MODEL": model, "VISEARCH_MODEL_FALLBACK": "",
               "VISEARCH_DEVICE": self.device, "VISEARCH_DATA_DIR": str(data_dir)}
        gallery = [p for p, _ in flickr("train", self.cfg["gallery"])]
        settings = load_settings(model=model, model_fallback="", device=self.device,
                                 data_dir=data_dir)
        runtime = Runtime.build(settings)
        try:
            results = runtime.indexer.index_files(gallery)
            runtime.store.optimize()
        finally:
            runtime.close()
        ids = [r.image_id for r in results if r.image_id]
        n = self.cfg["http_n"]
        texts = [c for _, caps in flickr("dev", 3 * n + 8) for c in caps[:1]]
        uploads = [p for p, _ in flickr("dev", 3 * n + 8 + self.cfg["uploads"])][-self.cfg[
            "uploads"]:]
        out = bench_http(env, texts, ids, uploads, n, self.cfg["http_concurrency"],
                         self.out / "server.log")
        out["model"] = model if self.mode == "smoke" else "builtin:offline"
        out["gallery"] = len(ids)
        return out

    def store(self) -> list[dict[str, Any]]:
        from bench.store import bench_store

        runs = []
        for n in self.cfg["store_points"]:
            runs.append(bench_store(n, 512 if n >= 10_000 else 32,
                                    self.cfg["store_queries"], quantization="int8",
                                    vectors_on_disk=True))
            if self.mode == "full":  # the same data without quantization, for the ratio
                runs.append(bench_store(n, 512, self.cfg["store_queries"],
                                        quantization="none", vectors_on_disk=False))
        return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="full")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0,
                        help="torch/OpenVINO threads (0: all cores); 1 gives steadier ratios "
                        "on a loaded machine")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the HTTP server process too
    from bench.hardware import hardware, matmul_probe

    from visearch.logs import configure_logging
    from visearch.models.device import select_device

    configure_logging("WARNING", "console")
    device = select_device(args.device)
    out = args.out or ROOT / "bench-results" / time.strftime("%Y%m%d-%H%M%S")
    only = set(args.only.split(",")) if args.only else None
    suite = Suite(args.mode, out, only, device)
    suite.run("hardware", hardware)
    suite.run("matmul", lambda: matmul_probe(device, seconds=0.2 if args.mode == "smoke" else 2))
    suite.run("model", suite.model)
    suite.run("quality", suite.quality)
    suite.run("index", suite.index)
    suite.run("http", suite.http)
    suite.run("store", suite.store)
    suite.results["load_average_end"] = list(os.getloadavg())
    suite.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    suite.save()
    shutil.rmtree(suite.tmp, ignore_errors=True)
    print(markdown(suite.results))
    print(f"[bench] wrote {out}/results.json and summary.md", file=sys.stderr)


if __name__ == "__main__":
    main()
