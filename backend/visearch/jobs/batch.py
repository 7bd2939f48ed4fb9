"""One batch of a job: skip what is already recorded, index the rest, record every outcome.

Shared by the Celery task and the in-process runner, so both count the same way. An
exception from the indexer (store or model trouble) propagates: ``policy.BatchPolicy``
decides whether the batch runs again or its open items are recorded as failed
(``fail_batch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import structlog

from visearch.jobs.model import ACTIVE_STATES, ItemOutcome, JobLedger
from visearch.jobs.spec import ItemSpec, JobSpecError
from visearch.services.indexing import Indexer, IndexItem

log = structlog.get_logger(__name__)


def process_batch(
    indexer: Indexer,
    store: JobLedger,
    job_id: str,
    items: Sequence[tuple[int, ItemSpec]],
    allowed_roots: Sequence[Path],
) -> str | None:
    """Run one batch; the job's state afterwards (None when the job is unknown)."""
    start = store.begin_batch(job_id, [i for i, _ in items])
    if start is None:
        log.warning("job_unknown", job_id=job_id, items=len(items))
        return None
    todo = [(i, spec) for i, spec in items if i in start.todo]
    if not todo:
        return start.state
    if start.state not in ACTIVE_STATES:  # cancelled (or failed) while this batch waited
        return store.record(job_id, [
            ItemOutcome(i, "skipped", "cancelled", f"job {start.state}", spec.source)
            for i, spec in todo
        ])

    outcomes: list[ItemOutcome] = []
    runnable: list[tuple[int, ItemSpec, IndexItem]] = []
    for i, spec in todo:
        item = spec.to_index_item(allowed_roots)
        if isinstance(item, JobSpecError):
            outcomes.append(ItemOutcome(i, "failed", item.code, item.message, spec.source))
        else:
            runnable.append((i, spec, item))
    if runnable:
        results = indexer.index_items([item for _, _, item in runnable])
        for (i, spec, _), res in zip(runnable, results, strict=True):
            if res.status == "indexed" or (
                res.status == "near_duplicate" and indexer.settings.near_duplicate_action != "skip"
            ):
                outcomes.append(ItemOutcome(i, "done", source=spec.source))
            elif res.status == "near_duplicate":
                outcomes.append(ItemOutcome(i, "skipped", "near_duplicate",
                                            f"near-duplicate of {res.duplicate_of}", spec.source))
            elif res.status == "duplicate":
                if i in start.reattempted:  # written by an attempt that died before recording
                    outcomes.append(ItemOutcome(i, "done", source=spec.source))
                else:
                    outcomes.append(ItemOutcome(i, "skipped", "duplicate",
                                                "already indexed", spec.source))
            else:
                err = res.error
                outcomes.append(ItemOutcome(
                    i, "failed", err.code if err else "failed",
                    err.message if err else "indexing failed", spec.source,
                ))
    return store.record(job_id, outcomes)


def fail_batch(
    store: JobLedger, job_id: str, items: Sequence[tuple[int, ItemSpec]], code: str, message: str
) -> str | None:
    """Record every item of a batch that gave up as failed (recorded items stay as they are)."""
    return store.record(job_id, [ItemOutcome(i, "failed", code, message, spec.source)
                                 for i, spec in items])
