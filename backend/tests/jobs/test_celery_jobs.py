"""Jobs through real RabbitMQ and Redis, with real `visearch worker` processes.

The worker writes to the ``qdrant`` store in qdrant-client's local mode (one process at a
time may open the path): this process only submits and watches the job, and opens the path
after the last worker has exited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection

from tests.support.clip import DATA_DIR
from tests.support.jobs import (
    WorkerProcess,
    broker_url_or_skip,
    closed_port_url,
    redis_url_or_skip,
    unique_prefix,
)
from visearch.config import Settings, load_settings
from visearch.jobs.celery.app import TASK_NAME, dead_queue_name, make_celery
from visearch.jobs.manager import CeleryJobManager, build_job_manager
from visearch.jobs.model import JobsUnavailableError
from visearch.jobs.spec import JobRequest

pytestmark = pytest.mark.external

FLICKR = DATA_DIR / "flickr8k" / "images"


@pytest.fixture
def env(tmp_path: Path, tiny_clip_dir: Path) -> Iterator[dict[str, str]]:
    """Settings shared by this process (submitting) and the workers, as environment."""
    redis_url, broker_url = redis_url_or_skip(), broker_url_or_skip()
    prefix = unique_prefix()
    values = {
        "VISEARCH_MODEL": str(tiny_clip_dir),
        "VISEARCH_MODEL_FALLBACK": "",
        "VISEARCH_DEVICE": "cpu",
        "VISEARCH_DATA_DIR": str(tmp_path / "worker-data"),
        "VISEARCH_STORE": "qdrant",
        "VISEARCH_QDRANT_PATH": str(tmp_path / "qdrant"),
        "VISEARCH_REDIS_URL": redis_url,
        "VISEARCH_BROKER_URL": broker_url,
        "VISEARCH_REDIS_PREFIX": prefix,
        "VISEARCH_JOB_QUEUE": f"{prefix}.index",
        "VISEARCH_ALLOWED_ROOTS": json.dumps([str(DATA_DIR)]),
        "VISEARCH_BATCH_SIZE": "32",
        "VISEARCH_JOB_BATCH_SIZE": "32",
        "VISEARCH_JOB_RETRY_BACKOFF_S": "0.2",
        "VISEARCH_LOG_LEVEL": "INFO",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    yield values
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
    with Connection(broker_url) as conn:
        channel = conn.channel()
        for queue in (values["VISEARCH_JOB_QUEUE"], dead_queue_name(values["VISEARCH_JOB_QUEUE"])):
            channel.queue_delete(queue)
        channel.close()


def _settings(env: dict[str, str], **overrides: object) -> Settings:
    """The submitting side: same broker, Redis and roots; no store opened here."""
    values: dict[str, object] = {
        "redis_url": env["VISEARCH_REDIS_URL"], "broker_url": env["VISEARCH_BROKER_URL"],
        "redis_prefix": env["VISEARCH_REDIS_PREFIX"], "job_queue": env["VISEARCH_JOB_QUEUE"],
        "allowed_roots": [DATA_DIR], "job_batch_size": 32,
    }
    return load_settings(**{**values, **overrides})


def _wait(cond: Callable[[], bool], timeout_s: float, what: str, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        if not worker.alive():
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.log_tail()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n{worker.log_tail()}")


def _points(qdrant_path: Path) -> list[str]:
    """Image ids of every point in the (single) collection at a local-mode path."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(qdrant_path))
    try:
        names = [c.name for c in client.get_collections().collections]
        assert len(names) == 1, names
        ids: list[str] = []
        offset = None
        while True:
            points, offset = client.scroll(names[0], limit=500, offset=offset,
                                           with_payload=["image_id"], with_vectors=False)
            ids.extend(str((p.payload or {})["image_id"]) for p in points)
            if offset is None:
                return ids
    finally:
        client.close()


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    images = sorted(FLICKR.glob("*.jpg"))[:1000]
    assert len(images) == 1000
    manager = build_job_manager(_settings(env))
    assert isinstance(manager, CeleryJobManager)
    manager.start()
    rclient = redis.Redis.from_url(env["VISEARCH_REDIS_URL"])
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        view = manager.submit(JobRequest.model_validate(
            {"manifest": [{"path": str(p)} for p in images]}))
        assert (view.state, view.total) == ("queued", 1000)
        job_id = view.job_id
        attempted_key = f"{env['VISEARCH_REDIS_PREFIX']}:job:{job_id}:attempted"

        def in_flight() -> bool:
            """A batch has started (items attempted) and not been recorded yet."""
            v = manager.get(job_id)
            return v.done >= 300 and int(rclient.scard(attempted_key)) > v.processed

        worker.start()
        killed_mid_batch = False
        for _ in range(5):  # kill until the kill provably lands inside a batch
            _wait(in_flight, 600, "300 images done with a batch in flight", worker)
            worker.kill()
            after = manager.get(job_id)
            assert after.state == "running" and after.processed < 1000
            if int(rclient.scard(attempted_key)) > after.processed:
                killed_mid_batch = True
                break
            worker.start()
        assert killed_mid_batch

        worker.start()  # the replacement: the unacked batch comes back to it
        _wait(lambda: manager.get(job_id).state not in ("queued", "running"), 600,
              "the job to finish", worker)
        final = manager.get(job_id)
        assert final.state == "completed", final.to_dict()
        assert (final.done, final.failed, final.skipped, final.total) == (1000, 0, 0, 1000)
        assert final.failures == []
        redelivered = [int(rclient.get(k) or 0) for k in
                       rclient.scan_iter(f"{env['VISEARCH_REDIS_PREFIX']}:delivery:*")]
        assert max(redelivered) >= 2  # some batch really was delivered twice

        snap = manager.snapshot()
        assert snap["queue_depth"] == 0 and snap["dead_letter_depth"] == 0
        assert snap["totals"]["items_done"] == 1000
    finally:
        worker.stop()
        manager.stop()
        rclient.close()

    ids = _points(Path(env["VISEARCH_QDRANT_PATH"]))
    assert len(ids) == 1000
    assert len(set(ids)) == 1000


def test_poison_messages_go_to_the_dead_letter_queue(env: dict[str, str], tmp_path: Path) -> None:
    settings = _settings(env)
    manager = CeleryJobManager(settings)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    queue = settings.job_queue
    app = make_celery(settings)
    try:
        # One good job first, so we know the worker consumes this queue.
        view = manager.submit(JobRequest.model_validate(
            {"manifest": [{"path": str(p)} for p in sorted(FLICKR.glob("*.jpg"))[:3]]}))
        worker.start()
        _wait(lambda: manager.get(view.job_id).state == "completed", 300, "the good job", worker)

        app.send_task(TASK_NAME, args=[view.job_id, "not a list of items"], queue=queue)
        app.send_task("visearch.no_such_task", args=[], queue=queue)
        with Connection(settings.broker_url) as conn:
            producer = conn.Producer()
            producer.publish(b"\x00not json", routing_key=queue, exchange="visearch",
                             content_type="application/json", content_encoding="utf-8",
                             headers={"task": TASK_NAME, "id": "garbage-1"})

        def dead() -> int:
            return manager.snapshot()["dead_letter_depth"] or 0

        _wait(lambda: dead() >= 3, 120, "three dead letters", worker)
        assert dead() == 3
        assert manager.get(view.job_id).state == "completed"  # the bad message changed nothing
        assert worker.alive()
    finally:
        worker.stop()
        manager.stop()


def test_broker_down_means_503_style_error_and_nothing_recorded(env: dict[str, str]) -> None:
    settings = _settings(env, broker_url=closed_port_url("amqp"))
    manager = CeleryJobManager(settings)
    try:
        with pytest.raises(JobsUnavailableError, match="single-image indexing still works"):
            manager.submit(JobRequest(urls=["http://example.com/a.jpg"]))
        assert manager.list() == []
        assert manager.status()["broker"] == "down"
        assert manager.snapshot()["queue_depth"] is None
    finally:
        manager.stop()


def test_redis_down_refuses_jobs_clearly(env: dict[str, str]) -> None:
    manager = CeleryJobManager(_settings(env, redis_url=closed_port_url("redis")))
    try:
        with pytest.raises(JobsUnavailableError, match="Redis"):
            manager.submit(JobRequest(urls=["http://example.com/a.jpg"]))
        assert manager.status()["state_store"] == "down"
    finally:
        manager.stop()
