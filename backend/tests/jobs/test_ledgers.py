"""The two job ledgers (SQLite journal, Redis) obey one contract: exact counts, each item
recorded once, redelivered items recognised, terminal states, cancel, durability."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.jobs import redis_url_or_skip, unique_prefix
from visearch.jobs.ledger_sqlite import SqliteJobLedger
from visearch.jobs.model import ItemOutcome, JobLedger, new_job_id
from visearch.jobs.spec import ItemSpec


def _items(n: int) -> list[ItemSpec]:
    return [ItemSpec(url=f"http://h/{i}.jpg") for i in range(n)]


@pytest.fixture(params=["journal", pytest.param("redis", marks=pytest.mark.external)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobLedger]:
    if request.param == "journal":
        journal = SqliteJobLedger(tmp_path / "jobs" / "journal.sqlite3")
        yield journal
        journal.close()
        return
    from visearch.jobs.ledger_redis import RedisJobLedger

    url = redis_url_or_skip()
    prefix = unique_prefix()
    rstore = RedisJobLedger(url, prefix=prefix, ttl_s=600)
    yield rstore
    rstore.close()
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_counts_each_item_once_and_finishes(ledger: JobLedger) -> None:
    job = new_job_id()
    view = ledger.create(job, "urls", "4 URLs", _items(4))
    assert (view.state, view.total) == ("queued", 4)

    start = ledger.begin_batch(job, [0, 1])
    assert start is not None and start.state == "running"
    assert start.todo == {0, 1} and start.reattempted == frozenset()
    assert ledger.record(job, [ItemOutcome(0, "done"), ItemOutcome(1, "failed", "not_an_image",
                                                                   "it is HTML", "http://h/1.jpg")]
                         ) == "running"
    # The same batch delivered again (a worker died after recording): nothing is counted twice.
    again = ledger.begin_batch(job, [0, 1])
    assert again is not None and again.todo == frozenset()
    ledger.record(job, [ItemOutcome(0, "done"), ItemOutcome(1, "done")])

    start = ledger.begin_batch(job, [2, 3])
    assert start is not None and start.todo == {2, 3}
    # Died mid-batch before recording: the next delivery knows these were attempted.
    retry = ledger.begin_batch(job, [2, 3])
    assert retry is not None and retry.reattempted == {2, 3}
    assert ledger.record(job, [ItemOutcome(2, "done"), ItemOutcome(3, "skipped", "duplicate")]
                         ) == "completed_with_errors"

    got = ledger.get(job)
    assert got is not None
    assert (got.done, got.failed, got.skipped, got.total) == (2, 1, 1, 4)
    assert got.state == "completed_with_errors" and got.finished_at is not None
    assert got.failures == [{"item": 1, "source": "http://h/1.jpg", "code": "not_an_image",
                             "message": "it is HTML"}]
    assert got.remaining == 0 and got.progress == 1.0 and got.eta_s() is None
    totals = ledger.totals()
    assert totals["items_done"] == 2 and totals["items_failed"] == 1
    assert totals["jobs_submitted"] == 1 and totals["jobs_completed_with_errors"] == 1


def test_terminal_states(ledger: JobLedger) -> None:
    ok, bad = new_job_id(), new_job_id()
    ledger.create(ok, "urls", "", _items(1))
    ledger.begin_batch(ok, [0])
    assert ledger.record(ok, [ItemOutcome(0, "done")]) == "completed"
    ledger.create(bad, "urls", "", _items(2))
    ledger.begin_batch(bad, [0, 1])
    assert ledger.record(bad, [ItemOutcome(0, "failed", "x", "y"),
                               ItemOutcome(1, "failed", "x", "y")]) == "failed"
    listed = [v.job_id for v in ledger.list()]
    assert listed == [bad, ok]  # newest first


def test_cancel_and_fail(ledger: JobLedger) -> None:
    job = new_job_id()
    ledger.create(job, "urls", "", _items(3))
    ledger.begin_batch(job, [0])
    ledger.record(job, [ItemOutcome(0, "done")])
    view = ledger.cancel(job)
    assert view is not None and view.state == "cancelled"
    # A batch that was already queued finds the job cancelled and only skips its items.
    start = ledger.begin_batch(job, [1, 2])
    assert start is not None and start.state == "cancelled"
    ledger.record(job, [ItemOutcome(1, "skipped", "cancelled"), ItemOutcome(2, "skipped")])
    got = ledger.get(job)
    assert got is not None and got.state == "cancelled"
    assert (got.done, got.skipped) == (1, 2)
    assert ledger.cancel(new_job_id()) is None
    assert ledger.get(new_job_id()) is None

    failing = new_job_id()
    ledger.create(failing, "urls", "", _items(1))
    ledger.fail(failing, "could not queue every batch")
    got = ledger.get(failing)
    assert got is not None and got.state == "failed" and got.error == "could not queue every batch"


def test_journal_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    first = SqliteJobLedger(path)
    job = new_job_id()
    first.create(job, "folder", "/data", _items(3))
    first.begin_batch(job, [0, 1])
    first.record(job, [ItemOutcome(0, "done")])
    first.close()

    second = SqliteJobLedger(path)
    assert second.active_jobs() == [job]
    open_items = second.open_items(job, 10)
    assert [(i, n) for i, _, n in open_items] == [(1, 1), (2, 0)]  # item 1 was attempted once
    assert second.pending_items() == 2
    view = second.get(job)
    assert view is not None and (view.state, view.done) == ("running", 1)
    second.cancel(job)
    assert second.prune(3600) == 0  # finished just now: kept
    assert second.prune(-1) == 1 and second.get(job) is None
    assert second.open_items(job, 10) == []
    second.close()
