"""Cache and bulk-job benchmarks, printed as JSON (issue: jobs + two-tier cache).

- text search latency: uncached (embed + store search), result page from L1, result page from
  Redis (L1 emptied before each query), and text embedding cached but page not; ratios;
- bulk indexing images/s: a job through RabbitMQ and one ``visearch worker`` process (qdrant
  store, local mode) vs the same job on the in-process runner (edge store).

The model is a CLIP built from ../shared/models with random weights (speed only), full-size
ViT-B/32 by default. Redis and RabbitMQ come from ``scripts/redis_rabbitmq.sh start``:

    eval "$(scripts/redis_rabbitmq.sh test-env)"
    PYTHONPATH=backend .venv/bin/python scripts/bench/cache_jobs.py [--model full|tiny]
        [--gallery 500] [--queries 100] [--job-images 500]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "backend"))

FLICKR = ROOT.parent / "shared" / "data" / "flickr8k"


def _ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "mean_ms": round(float(ms.mean()), 3), "n": len(ms)}


def _captions(n: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for line in (FLICKR / "captions.jsonl").read_text().splitlines():
        for cap in json.loads(line)["captions"]:
            if cap.lower() not in seen:
                seen.add(cap.lower())
                out.append(cap)
            if len(out) == n:
                return out
    return out


def _images(start: int, n: int) -> list[Path]:
    return sorted((FLICKR / "images").glob("*.jpg"))[start:start + n]


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_cache(model_dir: Path, redis_url: str | None, gallery: int, queries: int,
                tmp: Path) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from visearch.cache import TwoTierCache, build_cache
    from visearch.config import load_settings
    from visearch.metrics import Metrics
    from visearch.runtime import Runtime
    from visearch.services.search import SearchQuery

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = load_settings(model=str(model_dir), model_fallback="", device="cpu",
                             data_dir=tmp / "cache-data", redis_url=redis_url,
                             redis_prefix=prefix, broker_url=None)
    metrics = Metrics(CollectorRegistry())
    cache = build_cache(settings, metrics.registry)
    assert isinstance(cache, TwoTierCache)
    runtime = Runtime.build(settings, metrics=metrics, cache=cache)
    try:
        runtime.indexer.index_files(_images(0, gallery))
        texts = _captions(queries)
        search = runtime.searcher.search
        for text in texts[:5]:  # warm-up (different parameters: not reused below)
            search(SearchQuery(text=text, top_k=3))
        cache.clear_local()
        uncached, l1, l2, emb_only = [], [], [], []
        for text in texts:  # first time each text is seen: embed + search
            uncached.append(_timed(partial(search, SearchQuery(text=text, top_k=10))))
        for text in texts:  # the same page again: L1
            l1.append(_timed(partial(search, SearchQuery(text=text, top_k=10))))
        for text in texts:  # another page size: embedding from L1, store search again
            emb_only.append(_timed(partial(search, SearchQuery(text=text, top_k=20))))
        if redis_url:
            for text in texts:  # L1 emptied: the page comes from Redis
                cache.clear_local()
                l2.append(_timed(partial(search, SearchQuery(text=text, top_k=10))))
        out: dict[str, Any] = {
            "gallery_images": gallery, "queries": len(texts), "model_id":
            runtime.embedder.model_id, "redis": bool(redis_url),
            "uncached": _ms(uncached), "cached_l1": _ms(l1),
            "embedding_cached_only": _ms(emb_only),
        }
        out["ratio_uncached_over_l1_p50"] = round(
            out["uncached"]["p50_ms"] / out["cached_l1"]["p50_ms"], 1)
        if l2:
            out["cached_l2_redis"] = _ms(l2)
            out["ratio_uncached_over_l2_p50"] = round(
                out["uncached"]["p50_ms"] / out["cached_l2_redis"]["p50_ms"], 1)
        return out
    finally:
        runtime.close()
        if redis_url:
            import redis

            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(f"{prefix}:*"))
            if keys:
                client.delete(*keys)
            client.close()


def _job_result(view: Any, submitted: float, finished: float) -> dict[str, Any]:
    return {
        "images": view.total, "done": view.done, "failed": view.failed, "state": view.state,
        "images_per_s_job": round(view.processed / (view.finished_at - view.started_at), 1),
        "images_per_s_wall": round(view.processed / (finished - submitted), 1),
        "seconds_wall": round(finished - submitted, 2),
    }


def bench_local_job(model_dir: Path, images: list[Path], tmp: Path,
                    store: str = "edge") -> dict[str, Any]:
    from visearch.config import load_settings
    from visearch.jobs.local import LocalJobManager
    from visearch.jobs.spec import JobSpec, ManifestEntry
    from visearch.runtime import Runtime

    settings = load_settings(model=str(model_dir), model_fallback="", device="cpu",
                             data_dir=tmp / f"local-data-{store}", allowed_roots=[FLICKR],
                             redis_url=None, broker_url=None, store=store,
                             qdrant_path=tmp / "local-qdrant" if store == "qdrant" else None)
    runtime = Runtime.build(settings)
    manager = LocalJobManager(settings, runtime.indexer, idle_poll_s=0.05)
    manager.start()
    try:
        warm = manager.submit(JobSpec(
            manifest=[ManifestEntry(path=str(p)) for p in _images(7000 - 2, 2)]))
        while manager.get(warm.job_id).state in ("queued", "running"):
            time.sleep(0.02)
        submitted = time.perf_counter()
        view = manager.submit(JobSpec(
            manifest=[ManifestEntry(path=str(p)) for p in images]))
        while (view := manager.get(view.job_id)).state in ("queued", "running"):
            time.sleep(0.02)
        return {"runner": "in-process", "store": store if store == "edge" else "qdrant (local mode)",
                **_job_result(view, submitted, time.perf_counter())}
    finally:
        manager.stop()
        runtime.close()


def bench_broker_job(model_dir: Path, images: list[Path], tmp: Path, redis_url: str,
                     broker_url: str) -> dict[str, Any]:
    from tests.support.jobs import WorkerProcess
    from visearch.config import load_settings
    from visearch.jobs.celery.manager import CeleryJobManager
    from visearch.jobs.spec import JobSpec, ManifestEntry

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        "VISEARCH_MODEL": str(model_dir), "VISEARCH_MODEL_FALLBACK": "", "VISEARCH_DEVICE": "cpu",
        "VISEARCH_DATA_DIR": str(tmp / "worker-data"), "VISEARCH_STORE": "qdrant",
        "VISEARCH_QDRANT_PATH": str(tmp / "qdrant"), "VISEARCH_REDIS_URL": redis_url,
        "VISEARCH_BROKER_URL": broker_url, "VISEARCH_REDIS_PREFIX": prefix,
        "VISEARCH_JOB_QUEUE": f"{prefix}.index", "VISEARCH_ALLOWED_ROOTS": json.dumps([str(FLICKR)]),
        "VISEARCH_LOG_LEVEL": "WARNING", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
    }
    settings = load_settings(redis_url=redis_url, broker_url=broker_url, redis_prefix=prefix,
                             job_queue=env["VISEARCH_JOB_QUEUE"], allowed_roots=[FLICKR])
    manager = CeleryJobManager(settings)
    worker = WorkerProcess(env, tmp / "worker.log")
    try:
        warm = manager.submit(JobSpec(
            manifest=[ManifestEntry(path=str(p)) for p in _images(7000 - 2, 2)]))
        worker.start()
        deadline = time.monotonic() + 600
        while manager.get(warm.job_id).state in ("queued", "running"):
            if not worker.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"worker failed:\n{worker.log_tail()}")
            time.sleep(0.02)
        submitted = time.perf_counter()
        view = manager.submit(JobSpec(
            manifest=[ManifestEntry(path=str(p)) for p in images]))
        while (view := manager.get(view.job_id)).state in ("queued", "running"):
            if not worker.alive():
                raise RuntimeError(f"worker died:\n{worker.log_tail()}")
            time.sleep(0.02)
        return {"runner": "celery+rabbitmq, 1 worker process", "store": "qdrant (local mode)",
                **_job_result(view, submitted, time.perf_counter())}
    finally:
        worker.stop()
        manager.stop()
        import redis
        from kombu import Connection

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
        with Connection(broker_url) as conn:
            channel = conn.channel()
            for queue in (f"{prefix}.index", f"{prefix}.index.dead"):
                channel.queue_delete(queue)
            channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["full", "tiny"], default="full")
    parser.add_argument("--gallery", type=int, default=500, help="images indexed for search")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--job-images", type=int, default=500)
    parser.add_argument("--redis", default=os.environ.get("VISEARCH_TEST_REDIS_URL"))
    parser.add_argument("--broker", default=os.environ.get("VISEARCH_TEST_BROKER_URL"))
    parser.add_argument("--skip", choices=["cache", "jobs"], action="append", default=[])
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from tests.support.clip import make_clip_dir
    from visearch.logs import configure_logging

    configure_logging("WARNING", "console")  # logs on stderr, the JSON report alone on stdout

    report: dict[str, Any] = {"cpu_count": os.cpu_count(), "torch_threads":
                              torch.get_num_threads(), "model": args.model}
    with tempfile.TemporaryDirectory(prefix="visearch-bench-cj-") as name:
        tmp = Path(name)
        model_dir = make_clip_dir(tmp / f"clip-{args.model}", full_size=args.model == "full")
        if "cache" not in args.skip:
            report["cache"] = bench_cache(model_dir, args.redis, args.gallery, args.queries, tmp)
        if "jobs" not in args.skip:
            images = _images(1000, args.job_images)
            jobs: dict[str, Any] = {
                "in_process": bench_local_job(model_dir, images, tmp),
                # The same store as the worker's, to separate queue cost from store cost.
                "in_process_qdrant_local": bench_local_job(model_dir, images, tmp, "qdrant"),
            }
            if args.redis and args.broker:
                jobs["rabbitmq"] = bench_broker_job(model_dir, images, tmp, args.redis,
                                                    args.broker)
                rate = jobs["rabbitmq"]["images_per_s_job"]
                jobs["ratio_rabbitmq_over_in_process"] = round(
                    rate / jobs["in_process"]["images_per_s_job"], 2)
                jobs["ratio_rabbitmq_over_in_process_same_store"] = round(
                    rate / jobs["in_process_qdrant_local"]["images_per_s_job"], 2)
            else:
                jobs["rabbitmq"] = "skipped: set VISEARCH_TEST_REDIS_URL and _BROKER_URL"
            report["jobs"] = jobs
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
