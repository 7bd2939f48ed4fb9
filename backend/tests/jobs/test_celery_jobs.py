"""What only the Celery runner has, through real RabbitMQ and Redis and real `visearch worker`
processes: a worker killed mid-batch, batches that kill their worker every time, dead
letters, the broker or Redis away. (What both runners share is tests/jobs/test_job_managers.py.)

The worker writes to the ``qdrant`` store in qdrant-client's local mode (one process at a
time may open the path): this process only submits and watches the job, and opens the path
after the last worker has exited.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from kombu import Connection

from tests.support.clip import DATA_DIR
from tests.support.jobs import (
    WorkerProcess,
    celery_settings,
    closed_port_url,
    kill_mid_batch,
    qdrant_point_ids,
    wait_for_job,
    wait_until,
)
from visearch.jobs.celery.app import TASK_NAME, make_celery
from visearch.jobs.celery.manager import CeleryJobManager
from visearch.jobs.model import JobsUnavailableError
from visearch.jobs.spec import JobSpec, ManifestEntry

pytestmark = pytest.mark.external

FLICKR = DATA_DIR / "flickr8k" / "images"


def _manifest(paths: list[Path]) -> JobSpec:
    return JobSpec(manifest=[ManifestEntry(path=str(p)) for p in paths])


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(
    celery_env: dict[str, str], tmp_path: Path
) -> None:
    images = sorted(FLICKR.glob("*.jpg"))[:1000]
    assert len(images) == 1000
    manager = CeleryJobManager(celery_settings(celery_env))
    manager.start()
    worker = WorkerProcess(celery_env, tmp_path / "worker.log")
    rclient = redis.Redis.from_url(celery_env["VISEARCH_REDIS_URL"])
    try:
        view = manager.submit(_manifest(images))
        assert (view.state, view.total) == ("queued", 1000)
        worker.start()
        kill_mid_batch(manager, view.job_id, worker, celery_env, min_done=300)

        worker.start()  # the replacement: the unacked batch comes back to it
        final = wait_for_job(manager, view.job_id, 600, worker)
        assert final.state == "completed", final
        assert (final.done, final.failed, final.skipped, final.total) == (1000, 0, 0, 1000)
        assert final.failures == []
        redelivered = [int(rclient.get(k) or 0) for k in
                       rclient.scan_iter(f"{celery_env['VISEARCH_REDIS_PREFIX']}:delivery:*")]
        assert max(redelivered) >= 2  # some batch really was delivered twice

        snap = manager.snapshot()
        assert snap["queue_depth"] == 0 and snap["dead_letter_depth"] == 0
        assert snap["totals"]["items_done"] == 1000
    finally:
        worker.stop()
        manager.stop()
        rclient.close()

    ids = qdrant_point_ids(Path(celery_env["VISEARCH_QDRANT_PATH"]))
    assert len(ids) == 1000
    assert len(set(ids)) == 1000


def test_a_batch_whose_worker_dies_every_time_is_poison_and_dead_lettered(
    celery_env: dict[str, str], tmp_path: Path
) -> None:
    """With ``job_max_deliveries=1`` one death is enough: the redelivered batch is not run
    again, its items fail with code ``poison``, and the rest of the job goes on."""
    celery_env["VISEARCH_JOB_MAX_DELIVERIES"] = "1"
    images = sorted(FLICKR.glob("*.jpg"))[1000:1160]
    manager = CeleryJobManager(celery_settings(celery_env))
    worker = WorkerProcess(celery_env, tmp_path / "worker.log")
    try:
        view = manager.submit(_manifest(images))
        worker.start()
        in_flight = kill_mid_batch(manager, view.job_id, worker, celery_env, min_done=32)
        worker.start()
        final = wait_for_job(manager, view.job_id, 600, worker)
        assert final.state == "completed_with_errors", final
        assert (final.failed, final.done + final.failed) == (in_flight, len(images))
        assert {f["code"] for f in final.failures} == {"poison"}
        assert "without finishing" in (final.failures[0]["message"] or "")
        wait_until(lambda: manager.snapshot()["dead_letter_depth"] == 1, 60,
                   "the poison batch in the dead-letter queue", worker)
    finally:
        worker.stop()
        manager.stop()


def test_malformed_messages_go_to_the_dead_letter_queue(
    celery_env: dict[str, str], tmp_path: Path
) -> None:
    settings = celery_settings(celery_env)
    manager = CeleryJobManager(settings)
    worker = WorkerProcess(celery_env, tmp_path / "worker.log")
    queue = settings.job_queue
    app = make_celery(settings)
    try:
        # One good job first, so we know the worker consumes this queue.
        view = manager.submit(_manifest(sorted(FLICKR.glob("*.jpg"))[:3]))
        worker.start()
        assert wait_for_job(manager, view.job_id, 300, worker).state == "completed"

        app.send_task(TASK_NAME, args=[view.job_id, "not a list of items"], queue=queue)
        app.send_task("visearch.no_such_task", args=[], queue=queue)
        with Connection(settings.broker_url) as conn:
            producer = conn.Producer()
            producer.publish(b"\x00not json", routing_key=queue, exchange="visearch",
                             content_type="application/json", content_encoding="utf-8",
                             headers={"task": TASK_NAME, "id": "garbage-1"})

        def dead() -> int:
            return manager.snapshot()["dead_letter_depth"] or 0

        wait_until(lambda: dead() >= 3, 120, "three dead letters", worker)
        assert dead() == 3
        assert manager.get(view.job_id).state == "completed"  # the bad message changed nothing
        assert worker.alive()
    finally:
        worker.stop()
        manager.stop()


def test_broker_down_means_503_style_error_and_nothing_recorded(
    celery_env: dict[str, str],
) -> None:
    manager = CeleryJobManager(celery_settings(celery_env, broker_url=closed_port_url("amqp")))
    try:
        with pytest.raises(JobsUnavailableError, match="single-image indexing still works"):
            manager.submit(JobSpec(urls=["http://example.com/a.jpg"]))
        assert manager.list() == []
        assert manager.status()["broker"] == "down"
        assert manager.snapshot()["queue_depth"] is None
    finally:
        manager.stop()


def test_redis_down_refuses_jobs_clearly(celery_env: dict[str, str]) -> None:
    manager = CeleryJobManager(celery_settings(celery_env, redis_url=closed_port_url("redis")))
    try:
        with pytest.raises(JobsUnavailableError, match="Redis"):
            manager.submit(JobSpec(urls=["http://example.com/a.jpg"]))
        assert manager.status()["state_store"] == "down"
    finally:
        manager.stop()
