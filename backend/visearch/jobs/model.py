"""Job states, counts and views, shared by both ledgers (Redis for Celery, SQLite in-process).

Counting rules (the same for both runners):

* ``done``: images this job indexed; ``skipped``: images already in the index (duplicates)
  and items dropped because the job was cancelled; ``failed``: permanent per-item failures,
  each with a reason. ``done + failed + skipped`` never exceeds ``total``.
* An item's outcome is recorded once (first write wins), so a batch delivered twice (a worker
  killed mid-batch) never counts an item twice.
* Before a batch is processed, its items are marked as attempted. When a redelivered item
  comes back as "duplicate", its earlier attempt wrote it before dying: it counts as done.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from visearch.errors import VisearchError
from visearch.jobs.spec import ItemSpec

JobState = Literal["queued", "running", "completed", "completed_with_errors", "failed",
                   "cancelled"]
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running"})
Outcome = Literal["done", "failed", "skipped"]
#: Failures kept per job (the counts stay exact beyond this).
MAX_FAILURES_KEPT = 1000


class JobsUnavailableError(VisearchError):
    """The job backend (broker, Redis or journal) cannot take or report jobs right now."""

    code = "jobs_unavailable"
    status = 503


class JobNotFoundError(VisearchError):
    """No job with this id (never existed, or expired)."""

    code = "not_found"
    status = 404

    @classmethod
    def of(cls, job_id: str) -> JobNotFoundError:
        return cls(f"no job with id {job_id!r}")


def new_job_id() -> str:
    return uuid.uuid4().hex


def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    """A timestamp as the API shows it (UTC, whole seconds)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ItemOutcome:
    """What happened to one item of a job."""

    index: int
    outcome: Outcome
    code: str | None = None
    message: str | None = None
    source: str | None = None

    def failure(self) -> dict[str, Any]:
        return {"item": self.index, "source": self.source, "code": self.code,
                "message": self.message}


@dataclass(frozen=True)
class BatchStart:
    """The state of a job as a batch starts: which items still need work."""

    state: str
    todo: frozenset[int]
    reattempted: frozenset[int]


@dataclass
class JobView:
    """A job as its ledger reports it; the API's job responses are built from this
    (``api/schemas.py``), so progress, rate and ETA are computed here and only here."""

    job_id: str
    state: str
    runner: str
    source: str
    description: str
    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.done + self.failed + self.skipped

    def rate(self, at: float | None = None) -> float | None:
        """Items per second since the job started (to its end when finished); ``at`` is the
        time to measure up to while it runs (now by default)."""
        if self.started_at is None or self.processed == 0:
            return None
        end = self.finished_at or (at if at is not None else now())
        elapsed = max(end - self.started_at, 1e-3)
        return self.processed / elapsed

    @property
    def remaining(self) -> int:
        return max(self.total - self.processed, 0)

    @property
    def progress(self) -> float:
        """Share of the items processed, 0..1 (an empty job counts as done)."""
        return self.processed / self.total if self.total else 1.0

    def eta_s(self, at: float | None = None) -> float | None:
        """Seconds to go at the current rate; None once the job has ended or before a rate."""
        rate = self.rate(at)
        if self.state not in ACTIVE_STATES or not rate:
            return None
        return self.remaining / rate


def final_state(total: int, failed: int) -> JobState:
    if failed == 0:
        return "completed"
    return "failed" if failed >= total else "completed_with_errors"


class JobLedger(Protocol):
    """Where job state lives: Redis (every replica and worker sees it) or the local journal."""

    def create(self, job_id: str, source: str, description: str,
               items: Sequence[ItemSpec]) -> JobView: ...

    def get(self, job_id: str, failures_limit: int = 100) -> JobView | None: ...

    def list(self, limit: int = 50) -> list[JobView]: ...

    def begin_batch(self, job_id: str, indexes: Sequence[int]) -> BatchStart | None: ...

    def record(self, job_id: str, outcomes: Sequence[ItemOutcome]) -> str | None: ...

    def cancel(self, job_id: str) -> JobView | None: ...

    def fail(self, job_id: str, error: str) -> None: ...

    def totals(self) -> dict[str, int]: ...

    def close(self) -> None: ...
