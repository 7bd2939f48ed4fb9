"""The worker's batch metrics (``visearch_job_batches_total{outcome}``,
``visearch_job_batch_duration_seconds``), observed by the real task run eagerly in this
process against a private Redis (job state) and a qdrant-client local-mode store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from tests.support.clip import DATA_DIR
from tests.support.jobs import RedisProcess
from visearch.config import load_settings
from visearch.jobs.celery.app import TASK_NAME, make_celery
from visearch.jobs.celery.tasks import WorkerContext, register_tasks
from visearch.jobs.model import new_job_id
from visearch.jobs.spec import ItemSpec

IMAGES = sorted((DATA_DIR / "clothing10" / "images" / "train" / "skirt").glob("*.jpg"))[:2]


@pytest.fixture
def worker(tmp_path: Path, tiny_clip_dir: Path) -> Iterator[WorkerContext]:
    redis = RedisProcess(tmp_path / "redis")
    redis.start()
    settings = load_settings(
        model=str(tiny_clip_dir), model_fallback="", device="cpu", data_dir=tmp_path / "data",
        store="qdrant", qdrant_path=tmp_path / "qdrant", redis_url=redis.url,
        broker_url="memory://", allowed_roots=[DATA_DIR], job_max_retries=1,
        job_retry_backoff_s=0.01, redis_prefix="t-worker",
    )
    ctx = WorkerContext(settings)
    try:
        yield ctx
    finally:
        ctx.close()
        redis.stop()


def _sample(text: str, name: str, outcome: str | None = None) -> float:
    label = f'{{outcome="{outcome}"}}' if outcome else ""
    match = re.search(rf"^{name}{re.escape(label)} (\S+)$", text, re.M)
    assert match, f"{name}{label} not exported"
    return float(match.group(1))


def test_batches_are_counted_by_outcome_and_timed(worker: WorkerContext) -> None:
    app = make_celery(worker.settings)
    register_tasks(app, worker)
    task = app.tasks[TASK_NAME]
    before = generate_latest(worker.registry).decode()
    for outcome in ("done", "retried", "failed", "poison"):
        assert _sample(before, "visearch_job_batches_total", outcome) == 0

    specs = [ItemSpec(path=str(p)) for p in IMAGES]
    job_id = new_job_id()
    worker.ledger.create(job_id, "manifest", "test", specs)
    task.apply(args=(job_id, [[0, specs[0].to_dict()]]))  # indexes the image: done
    task.apply(args=(job_id, "not a list of items"))  # malformed message: poison
    worker.runtime.store.close()  # every attempt now raises: retried once, then failed
    task.apply(args=(job_id, [[1, specs[1].to_dict()]]))

    after = generate_latest(worker.registry).decode()
    assert _sample(after, "visearch_job_batches_total", "done") == 1
    assert _sample(after, "visearch_job_batches_total", "poison") == 1
    assert _sample(after, "visearch_job_batches_total", "retried") == 1
    assert _sample(after, "visearch_job_batches_total", "failed") == 1
    assert _sample(after, "visearch_job_batch_duration_seconds_count") == 4
    assert _sample(after, "visearch_job_batch_duration_seconds_sum") > 0
