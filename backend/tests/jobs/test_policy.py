"""The batch policy both runners use (retry with backoff, give up, poison), on the real SQLite
ledger and the real indexer (tiny random CLIP, embedded edge store); the failing store is a
really closed one. Then the in-process runner carrying out its verdicts end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clip import DATA_DIR
from tests.support.jobs import wait_for_job
from visearch.config import Settings, load_settings
from visearch.jobs.ledger_sqlite import SqliteJobLedger
from visearch.jobs.local import LocalJobManager
from visearch.jobs.model import new_job_id
from visearch.jobs.policy import BatchPolicy, Finished, GiveUp, Retry
from visearch.jobs.spec import ItemSpec, JobSpec, ManifestEntry
from visearch.runtime import Runtime

IMAGES = sorted((DATA_DIR / "clothing10" / "images" / "train" / "skirt").glob("*.jpg"))[:4]


@pytest.fixture
def job_settings(tmp_path: Path, tiny_clip_dir: Path) -> Settings:
    return load_settings(
        model=str(tiny_clip_dir), model_fallback="", device="cpu", data_dir=tmp_path / "data",
        batch_size=8, job_batch_size=8, allowed_roots=[DATA_DIR], job_max_retries=2,
        job_retry_backoff_s=0.05, broker_url=None, redis_url=None,
    )


@pytest.fixture
def runtime(job_settings: Settings, tiny_embedder: object) -> Iterator[Runtime]:
    built = Runtime.build(job_settings, embedder=tiny_embedder)  # type: ignore[arg-type]
    yield built
    built.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteJobLedger]:
    journal = SqliteJobLedger(tmp_path / "journal.sqlite3")
    yield journal
    journal.close()


def _job(ledger: SqliteJobLedger) -> tuple[str, list[tuple[int, ItemSpec]]]:
    specs = [ItemSpec(path=str(p)) for p in IMAGES]
    job_id = new_job_id()
    ledger.create(job_id, "manifest", "test", specs)
    return job_id, list(enumerate(specs))


def test_a_batch_that_keeps_raising_is_retried_with_backoff_then_given_up(
    runtime: Runtime, ledger: SqliteJobLedger
) -> None:
    policy = BatchPolicy(max_retries=2, backoff_s=0.5, max_deliveries=5)
    job_id, items = _job(ledger)
    runtime.store.close()  # every attempt now raises StoreUnavailableError
    verdicts = [policy.attempt(runtime.indexer, ledger, job_id,
                               [(i, spec, 0) for i, spec in items], [DATA_DIR], retries)
                for retries in range(3)]

    retries = verdicts[:2]
    assert all(isinstance(v, Retry) for v in retries), verdicts
    assert [v.delay_s for v in retries if isinstance(v, Retry)] == [0.5, 1.0]
    gave_up = verdicts[2]
    assert isinstance(gave_up, GiveUp) and gave_up.code == "batch_failed"
    assert gave_up.message.startswith("gave up after 3 attempts: StoreUnavailableError")
    view = ledger.get(job_id)
    assert view is not None
    assert (view.state, view.failed, view.done) == ("failed", len(IMAGES), 0)
    assert {f["code"] for f in view.failures} == {"batch_failed"}


def test_items_whose_attempts_never_finished_are_poison_and_the_rest_still_run(
    runtime: Runtime, ledger: SqliteJobLedger
) -> None:
    policy = BatchPolicy(max_retries=2, backoff_s=0.5, max_deliveries=2)
    job_id, _ = _job(ledger)
    for _ in range(2):  # two attempts at items 0 and 1 that died before recording anything
        ledger.begin_batch(job_id, [0, 1])
    open_items = ledger.open_items(job_id, 10)
    assert [n for _, _, n in open_items] == [2, 2, 0, 0]

    verdict = policy.attempt(runtime.indexer, ledger, job_id, open_items, [DATA_DIR], 0)
    assert verdict == Finished("completed_with_errors")
    view = ledger.get(job_id)
    assert view is not None and (view.done, view.failed) == (2, 2)
    assert {f["item"]: f["code"] for f in view.failures} == {0: "poison", 1: "poison"}
    assert "attempted 2 times without finishing" in view.failures[0]["message"]
    assert runtime.store.count() == 2

    # A batch that is all poison is given up on without running.
    other, _ = _job(ledger)
    all_poison = [(i, spec, 2) for i, spec, _ in open_items]
    assert isinstance(policy.attempt(runtime.indexer, ledger, other, all_poison, [DATA_DIR], 0),
                      GiveUp)
    failed = ledger.get(other)
    assert failed is not None and (failed.state, failed.failed) == ("failed", len(IMAGES))


def test_the_local_runner_gives_a_failing_batch_up_after_its_retries(
    job_settings: Settings, runtime: Runtime
) -> None:
    manager = LocalJobManager(job_settings, runtime.indexer, idle_poll_s=0.05)
    runtime.store.close()
    manager.start()
    try:
        view = manager.submit(JobSpec(manifest=[ManifestEntry(path=str(p)) for p in IMAGES]))
        done = wait_for_job(manager, view.job_id, timeout_s=60)
    finally:
        manager.stop()
    assert (done.state, done.failed) == ("failed", len(IMAGES))
    assert {f["code"] for f in done.failures} == {"batch_failed"}
    assert all("gave up after 3 attempts" in (f["message"] or "") for f in done.failures)
