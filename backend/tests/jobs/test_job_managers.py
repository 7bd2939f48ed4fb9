"""One suite, both job managers: the in-process runner (SQLite journal, a thread of this
process) and Celery (RabbitMQ, Redis and a real `visearch worker` process) must report the
same states, counts and reasons for the same jobs, as the store congruence suite does for the
two vector stores. What only one runner has (kill -9 of a worker, dead letters, the journal
surviving kill -9 of the server) is tested beside it, per runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.support.clip import DATA_DIR
from tests.support.jobs import CeleryRunner, JobRunner, LocalRunner
from visearch.config import load_settings
from visearch.jobs.model import JobNotFoundError
from visearch.jobs.spec import JobSpec, JobSpecError, ManifestEntry
from visearch.runtime import Runtime

CLOTHING = DATA_DIR / "clothing10" / "images" / "train"


@pytest.fixture(params=["local", pytest.param("celery", marks=pytest.mark.external)])
def runner(
    request: pytest.FixtureRequest, tmp_path: Path, tiny_clip_dir: Path, tiny_embedder: object
) -> Iterator[JobRunner]:
    """A job manager of each kind, batches of 8, reading under the shared data and
    ``tmp_path / "inbox"``; nothing runs the jobs until ``start_runner()``."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    registry = CollectorRegistry()
    if request.param == "celery":
        env = request.getfixturevalue("celery_env")
        env["VISEARCH_JOB_BATCH_SIZE"] = "8"
        celery = CeleryRunner(env, registry, tmp_path / "worker.log")
        try:
            yield celery
        finally:
            celery.close()
        return
    settings = load_settings(
        model=str(tiny_clip_dir), model_fallback="", device="cpu", data_dir=tmp_path / "data",
        batch_size=8, job_batch_size=8, allowed_roots=[DATA_DIR, inbox],
        job_retry_backoff_s=0.05, broker_url=None, redis_url=None,
    )
    runtime = Runtime.build(settings, embedder=tiny_embedder)  # type: ignore[arg-type]
    local = LocalRunner(settings, runtime, registry)
    try:
        yield local
    finally:
        local.close()
        runtime.close()


def _images(label: str, n: int) -> list[Path]:
    return sorted((CLOTHING / label).glob("*.jpg"))[:n]


def _manifest(paths: list[Path]) -> JobSpec:
    return JobSpec(manifest=[ManifestEntry(path=str(p)) for p in paths])


def test_a_job_reports_counts_and_each_failure_with_its_reason(
    runner: JobRunner, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "broken.jpg").write_text("this is not a JPEG")
    bad = {str(inbox / "broken.jpg"): "unsupported_format",
           str(inbox / "missing.jpg"): "unreadable", "/etc/hostname": "path_not_allowed"}
    images = _images("dress", 12)
    entries = [ManifestEntry(path=str(p), metadata={"n": i}) for i, p in enumerate(images)]
    entries += [ManifestEntry(path=source) for source in bad]
    runner.start_runner()

    view = runner.manager.submit(JobSpec(manifest=entries))
    assert (view.state, view.total, view.runner) == ("queued", 15, runner.name)
    assert (view.source, view.description) == ("manifest", "15 entries")
    done = runner.wait(view.job_id)
    assert done.state == "completed_with_errors"
    assert (done.done, done.failed, done.skipped, done.remaining) == (12, 3, 0, 0)
    assert {f["source"]: f["code"] for f in done.failures} == bad
    assert sorted(f["item"] for f in done.failures) == [12, 13, 14]
    assert all(f["message"] for f in done.failures)
    assert done.progress == 1.0 and done.eta_s() is None and (done.rate() or 0) > 0
    assert done.started_at is not None and done.finished_at is not None
    assert done.created_at <= done.started_at <= done.finished_at
    assert runner.manager.status()["status"] == "ok"
    assert runner.indexed() == 12


def test_images_already_indexed_are_skipped_and_every_count_is_kept_once(
    runner: JobRunner,
) -> None:
    images = _images("hat", 8)
    runner.start_runner()
    first = runner.wait(runner.manager.submit(_manifest(images[:6])).job_id)
    assert (first.state, first.done, first.skipped) == ("completed", 6, 0)

    again = runner.wait(runner.manager.submit(_manifest(images)).job_id)
    assert (again.state, again.done, again.skipped, again.failed) == ("completed", 2, 6, 0)
    assert again.failures == []  # a duplicate is not a failure
    assert [v.job_id for v in runner.manager.list()] == [again.job_id, first.job_id]
    assert [v.job_id for v in runner.manager.list(limit=1)] == [again.job_id]

    totals = runner.manager.snapshot()["totals"]
    assert {k: totals.get(k) for k in ("jobs_submitted", "jobs_completed", "items_done",
                                       "items_skipped")} == {
        "jobs_submitted": 2, "jobs_completed": 2, "items_done": 8, "items_skipped": 6}
    sample = runner.registry.get_sample_value
    assert sample("visearch_job_items_total", {"outcome": "done"}) == 8
    assert sample("visearch_jobs_total", {"state": "completed"}) == 2
    assert sample("visearch_jobs_queue_depth", {"runner": runner.name}) == 0
    assert runner.indexed() == 8


def test_cancel_skips_what_is_not_done_and_a_finished_job_stays_as_it_is(
    runner: JobRunner,
) -> None:
    view = runner.manager.submit(JobSpec(folder=str(CLOTHING / "hat")))  # nothing runs it yet
    assert view.state == "queued" and view.total > 8  # several batches
    cancelled = runner.manager.cancel(view.job_id)
    assert (cancelled.state, cancelled.done, cancelled.failed) == ("cancelled", 0, 0)
    assert cancelled.finished_at is not None

    runner.start_runner()
    # Queued behind the cancelled job's batches: once it is done, they have been passed over.
    later = runner.wait(runner.manager.submit(_manifest(_images("shirt", 3))).job_id)
    assert (later.state, later.done) == ("completed", 3)
    after = runner.manager.get(view.job_id)
    assert (after.state, after.done, after.failed, after.skipped) == (
        "cancelled", 0, 0, view.total)
    assert runner.manager.cancel(view.job_id).skipped == view.total  # again: no change
    finished = runner.manager.cancel(later.job_id)
    assert (finished.state, finished.done, finished.skipped) == ("completed", 3, 0)
    assert runner.indexed() == 3


def test_unknown_jobs_and_jobs_that_cannot_run_leave_nothing_behind(runner: JobRunner) -> None:
    for call in (runner.manager.get, runner.manager.cancel):
        with pytest.raises(JobNotFoundError):
            call("0" * 32)
    refused = [
        (JobSpec(folder="/etc"), 403, "path_not_allowed"),
        (JobSpec(folder=str(CLOTHING / "no-such-label")), 422, "not_a_folder"),
        (JobSpec(manifest="/etc/passwd"), 403, "path_not_allowed"),
        (JobSpec(urls=[]), 422, "empty_job"),
    ]
    for spec, status, code in refused:
        with pytest.raises(JobSpecError) as err:
            runner.manager.submit(spec)
        assert (err.value.status, err.value.code) == (status, code), spec
    assert runner.manager.list() == []
    assert runner.manager.snapshot()["totals"].get("jobs_submitted", 0) == 0


def test_a_queued_job_survives_reopening_the_manager(runner: JobRunner) -> None:
    view = runner.manager.submit(_manifest(_images("shorts", 5)))
    runner.reopen()
    reopened = runner.manager.get(view.job_id)
    assert (reopened.state, reopened.total, reopened.done) == ("queued", 5, 0)
    assert [v.job_id for v in runner.manager.list()] == [view.job_id]

    runner.start_runner()
    done = runner.wait(view.job_id)
    assert (done.state, done.done, done.failed) == ("completed", 5, 0)
    assert runner.indexed() == 5
