"""The job API's backend: one interface, two implementations.

``build_job_manager(settings, runtime)`` picks one: with ``VISEARCH_BROKER_URL`` the jobs are
split into batch tasks on RabbitMQ and their state lives in Redis, so every replica reports
every job (``celery.manager.CeleryJobManager``); without it, a background thread of this
process runs them from a durable journal under the data dir, with the same states and counts,
and resumes them after a restart (``local.LocalJobManager``). Both pass one contract suite
(``tests/jobs/test_job_managers.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry

from visearch.config import Settings
from visearch.jobs.model import JobLedger, JobNotFoundError, JobsUnavailableError, JobView
from visearch.jobs.spec import JobSpec

if TYPE_CHECKING:
    from visearch.runtime import Runtime


class JobManager(Protocol):
    runner: str

    def submit(self, spec: JobSpec) -> JobView:
        """Expand and queue a job (``JobSpecError`` when it cannot run, nothing recorded)."""
        ...

    def get(self, job_id: str) -> JobView:
        """The job (``JobNotFoundError`` when unknown or expired)."""
        ...

    def list(self, limit: int = 50) -> list[JobView]:
        """Recent jobs, newest first."""
        ...

    def cancel(self, job_id: str) -> JobView:
        """Stop an active job: its open items are skipped; a finished job stays as it is."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def snapshot(self) -> dict[str, Any]: ...


class LedgerReads:
    """``get``, ``list`` and ``cancel`` of both managers: straight from their ledger."""

    ledger: JobLedger

    def get(self, job_id: str) -> JobView:
        view = self.ledger.get(job_id)
        if view is None:
            raise JobNotFoundError.of(job_id)
        return view

    def list(self, limit: int = 50) -> list[JobView]:
        return self.ledger.list(limit)

    def cancel(self, job_id: str) -> JobView:
        view = self.ledger.cancel(job_id)
        if view is None:
            raise JobNotFoundError.of(job_id)
        return view


def build_job_manager(
    settings: Settings,
    runtime: Runtime | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> JobManager:
    """Celery when ``VISEARCH_BROKER_URL`` is set, else the in-process runner (which needs the
    runtime's indexer). Call ``start()`` after building and ``stop()`` before closing the
    runtime."""
    if settings.broker_url:
        if not settings.redis_url:
            raise JobsUnavailableError(
                "jobs on a broker keep their state in Redis: set VISEARCH_REDIS_URL too"
            )
        from visearch.jobs.celery.manager import CeleryJobManager

        return CeleryJobManager(settings, registry=registry)
    if runtime is None:
        raise ValueError("the in-process job runner needs the runtime (its indexer)")
    from visearch.jobs.local import LocalJobManager

    return LocalJobManager(settings, runtime.indexer, registry=registry)
