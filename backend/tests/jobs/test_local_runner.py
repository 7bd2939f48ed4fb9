"""The in-process job runner with the real indexer (tiny random CLIP, embedded edge store)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.support.clip import DATA_DIR
from visearch.config import Settings, load_settings
from visearch.jobs.manager import LocalJobManager, build_job_manager
from visearch.jobs.model import JobNotFoundError, JobView
from visearch.jobs.spec import JobRequest, JobSpecError
from visearch.runtime import Runtime

CLOTHING = DATA_DIR / "clothing10"


@pytest.fixture
def job_settings(tmp_path: Path, tiny_clip_dir: Path) -> Settings:
    return load_settings(
        model=str(tiny_clip_dir), model_fallback="", device="cpu", data_dir=tmp_path / "data",
        batch_size=8, job_batch_size=8, allowed_roots=[CLOTHING, tmp_path / "inbox"],
        job_retry_backoff_s=0.05, broker_url=None, redis_url=None,
    )


@pytest.fixture
def job_services(job_settings: Settings, tiny_embedder: object) -> Iterator[Runtime]:
    svc = Runtime.build(job_settings, embedder=tiny_embedder)  # type: ignore[arg-type]
    yield svc
    svc.close()


def _wait(manager: LocalJobManager, job_id: str, timeout_s: float = 120) -> JobView:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = manager.get(job_id)
        if view.state not in ("queued", "running"):
            return view
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {manager.get(job_id).to_dict()}")


def _clothing(n: int) -> list[Path]:
    return sorted((CLOTHING / "images" / "train" / "dress").glob("*.jpg"))[:n]


def test_manifest_job_indexes_and_reports_failures(
    job_settings: Settings, job_services: Runtime, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken.jpg").write_text("this is not a JPEG")
    entries = [{"path": str(p), "metadata": {"n": i}} for i, p in enumerate(_clothing(20))]
    entries += [{"path": str(inbox / "broken.jpg")}, {"path": str(inbox / "missing.jpg")},
                {"path": "/etc/hostname"}]
    registry = CollectorRegistry()
    manager = build_job_manager(job_settings, job_services, registry=registry)
    assert isinstance(manager, LocalJobManager)
    manager.start()
    try:
        view = manager.submit(JobRequest.model_validate({"manifest": entries}))
        assert view.total == 23
        done = _wait(manager, view.job_id)
        assert done.state == "completed_with_errors"
        assert (done.done, done.failed, done.skipped) == (20, 3, 0)
        assert job_services.store.count() == 20
        reasons = {f["source"]: f["code"] for f in done.failures}
        assert reasons[str(inbox / "broken.jpg")] == "unsupported_format"
        assert reasons[str(inbox / "missing.jpg")] == "unreadable"
        assert reasons["/etc/hostname"] == "path_not_allowed"
        assert all(f["message"] for f in done.failures)
        body = done.to_dict()
        assert body["rate"] is not None and body["progress"] == 1.0

        # The same images again: already indexed, so skipped, and the index does not grow.
        again = _wait(manager, manager.submit(JobRequest.model_validate(
            {"manifest": entries[:20]})).job_id)
        assert (again.state, again.done, again.skipped) == ("completed", 0, 20)
        assert job_services.store.count() == 20

        assert [v.job_id for v in manager.list()] == [again.job_id, view.job_id]
        assert registry.get_sample_value("visearch_job_items_total", {"outcome": "done"}) == 20
        assert registry.get_sample_value("visearch_jobs_queue_depth", {"runner": "local"}) == 0
    finally:
        manager.stop()


def test_cancel_skips_the_rest(job_settings: Settings, job_services: Runtime) -> None:
    manager = LocalJobManager(job_settings, job_services.indexer)
    # Not started yet: the job waits in the journal, so the cancel happens before any work.
    view = manager.submit(JobRequest(folder=str(CLOTHING / "images" / "train" / "hat")))
    cancelled = manager.cancel(view.job_id)
    assert cancelled.state == "cancelled"
    assert cancelled.skipped == cancelled.total and cancelled.done == 0
    manager.start()
    try:
        time.sleep(0.3)
        assert manager.get(view.job_id).done == 0
        assert job_services.store.count() == 0
        with pytest.raises(JobNotFoundError):
            manager.get("0" * 32)
        with pytest.raises(JobSpecError):
            manager.submit(JobRequest(folder="/etc"))
    finally:
        manager.stop()


def test_jobs_survive_a_restart_of_the_manager(
    job_settings: Settings, job_services: Runtime
) -> None:
    """Submitted but never run (the process stopped): the next start resumes it."""
    first = LocalJobManager(job_settings, job_services.indexer)
    view = first.submit(JobRequest.model_validate(
        {"manifest": [{"path": str(p)} for p in _clothing(12)]}))
    first.stop()
    second = LocalJobManager(job_settings, job_services.indexer)
    second.start()
    try:
        done = _wait(second, view.job_id)
        assert (done.state, done.done) == ("completed", 12)
        assert job_services.store.count() == 12
    finally:
        second.stop()
