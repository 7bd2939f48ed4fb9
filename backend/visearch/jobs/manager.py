"""The job API's backends: Celery on RabbitMQ, or a runner thread inside the serving process.

``build_job_manager(settings, services)`` picks one: with ``VISEARCH_BROKER_URL`` the jobs are
split into batch tasks on RabbitMQ and their state lives in Redis (every replica reports
every job); without it, a background thread of this process runs them from a durable journal
under the data dir, with the same states and counts, and resumes them after a restart.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from prometheus_client import CollectorRegistry

from visearch.config import Settings
from visearch.jobs.batch import fail_batch, process_batch
from visearch.jobs.ledger_sqlite import SqliteJobLedger
from visearch.jobs.metrics import JobMetricsCollector
from visearch.jobs.model import (
    JobNotFoundError,
    JobsUnavailableError,
    JobView,
    new_job_id,
)
from visearch.jobs.spec import ItemSpec, JobRequest, expand_job

if TYPE_CHECKING:
    from visearch.runtime import Runtime
    from visearch.services.indexing import Indexer

log = structlog.get_logger(__name__)


class JobManager(Protocol):
    runner: str

    def submit(self, request: JobRequest) -> JobView: ...

    def get(self, job_id: str) -> JobView: ...

    def list(self, limit: int = 50) -> list[JobView]: ...

    def cancel(self, job_id: str) -> JobView: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def snapshot(self) -> dict[str, Any]: ...


def journal_path(settings: Settings) -> Path:
    return settings.data_dir / "jobs" / "journal.sqlite3"


class LocalJobManager:
    """Runs jobs on one background thread of this process, from the journal."""

    runner = "local"

    def __init__(
        self,
        settings: Settings,
        indexer: Indexer,
        *,
        journal: Path | None = None,
        registry: CollectorRegistry | None = None,
        idle_poll_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.indexer = indexer
        self.journal = SqliteJobLedger(journal or journal_path(settings))
        self._registry = registry
        self._collector: JobMetricsCollector | None = None
        self._idle_poll_s = idle_poll_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- JobManager ---------------------------------------------------------------------

    def submit(self, request: JobRequest) -> JobView:
        items = expand_job(request, self.settings)
        source, description = request.describe()
        view = self.journal.create(new_job_id(), source, description, items)
        log.info("job_submitted", job_id=view.job_id, runner=self.runner, total=view.total)
        self._wake.set()
        return view

    def get(self, job_id: str) -> JobView:
        view = self.journal.get(job_id)
        if view is None:
            raise JobNotFoundError(job_id)
        return view

    def list(self, limit: int = 50) -> list[JobView]:
        return self.journal.list(limit)

    def cancel(self, job_id: str) -> JobView:
        view = self.journal.cancel(job_id)
        if view is None:
            raise JobNotFoundError(job_id)
        return view

    def start(self) -> None:
        if self._thread is not None:
            return
        if self._registry is not None:
            self._collector = JobMetricsCollector(self, self._registry)
        self.journal.prune(self.settings.job_ttl_s)
        resumed = self.journal.active_jobs()
        if resumed:
            log.info("jobs_resumed", jobs=len(resumed))
        self._thread = threading.Thread(target=self._loop, name="visearch-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Finish the batch in progress (open items stay in the journal), then close."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._collector is not None:
            self._collector.unregister()
            self._collector = None
        self.journal.close()

    def status(self) -> dict[str, Any]:
        alive = self._thread is not None and self._thread.is_alive()
        return {"runner": self.runner, "status": "ok" if alive else "degraded",
                "journal": str(self.journal.path), "worker_alive": alive}

    def snapshot(self) -> dict[str, Any]:
        return {"queue_depth": self.journal.pending_items(), "dead_letter_depth": None,
                "totals": self.journal.totals()}

    # -- runner -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = self._step()
            except Exception as exc:  # the runner must outlive any one failure
                log.exception("job_runner_error", error=repr(exc))
                worked = False
                self._stopping.wait(self._idle_poll_s)
            if not worked:
                self._wake.wait(self._idle_poll_s)
                self._wake.clear()

    def _step(self) -> bool:
        """Run the next batch of the oldest job with work left; False when idle."""
        for job_id in self.journal.active_jobs():
            items = self.journal.open_items(job_id, self.settings.job_batch_size)
            if not items:
                self.journal.record(job_id, [])  # closes a job whose items are all recorded
                continue
            self._run_batch(job_id, items)
            return True
        return False

    def _run_batch(self, job_id: str, items: Sequence[tuple[int, ItemSpec, int]]) -> None:
        limit = self.settings.job_max_deliveries
        poison = [(i, s) for i, s, attempts in items if attempts >= limit]
        if poison:  # earlier attempts never finished (the process died each time)
            fail_batch(self.journal, job_id, poison, "poison",
                       f"attempted {limit} times without finishing: giving up on it")
            return
        batch = [(i, s) for i, s, _ in items]
        retries = self.settings.job_max_retries
        for attempt in range(retries + 1):
            try:
                process_batch(self.indexer, self.journal, job_id, batch,
                              self.settings.allowed_roots)
                return
            except JobsUnavailableError:
                raise
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                if attempt >= retries:
                    log.error("batch_failed", job_id=job_id, error=message)
                    fail_batch(self.journal, job_id, batch, "batch_failed",
                               f"gave up after {attempt + 1} attempts: {message}")
                    return
                delay = self.settings.job_retry_backoff_s * 2**attempt
                log.warning("batch_retry", job_id=job_id, attempt=attempt + 1, in_s=delay,
                            error=message)
                if self._stopping.wait(delay):
                    return  # shutting down: the items stay open for the next start


class CeleryJobManager:
    """Splits jobs into batch tasks on RabbitMQ; job state in Redis (``RedisJobLedger``)."""

    runner = "celery"

    def __init__(self, settings: Settings, *, registry: CollectorRegistry | None = None) -> None:
        from visearch.jobs.celery.app import make_celery
        from visearch.jobs.ledger_redis import RedisJobLedger

        self.settings = settings
        self.app = make_celery(settings)
        self.store = RedisJobLedger.from_settings(settings)
        self._registry = registry
        self._collector: JobMetricsCollector | None = None

    def submit(self, request: JobRequest) -> JobView:
        from visearch.jobs.celery.app import connect, declare_queues

        items = expand_job(request, self.settings)
        # A fresh connection per submission (not the producer pool): after a broker restart a
        # pooled connection is stale and would fail the first job submitted.
        try:  # fail fast, before any state is written, when RabbitMQ is away
            conn = connect(self.app)
        except Exception as exc:
            raise JobsUnavailableError(self._broker_down(exc)) from exc
        try:
            try:
                declare_queues(conn, self.settings.job_queue)
            except Exception as exc:
                raise JobsUnavailableError(self._broker_down(exc)) from exc
            source, description = request.describe()
            view = self.store.create(new_job_id(), source, description, items)
            try:
                self._publish(conn, view.job_id, items)
            except Exception as exc:
                message = self._broker_down(exc)
                with contextlib.suppress(JobsUnavailableError):
                    self.store.fail(view.job_id, f"could not queue every batch: {message}")
                raise JobsUnavailableError(message) from exc
        finally:
            conn.release()
        log.info("job_submitted", job_id=view.job_id, runner=self.runner, total=view.total)
        return view

    def _publish(self, conn: Any, job_id: str, items: Sequence[ItemSpec]) -> None:
        """One persistent, broker-confirmed message per batch of ``job_batch_size`` items."""
        from visearch.jobs.celery.app import TASK_NAME

        size = self.settings.job_batch_size
        producer = self.app.amqp.Producer(conn)
        for n, start in enumerate(range(0, len(items), size)):
            chunk = [[i, items[i].to_dict()] for i in range(start, min(start + size, len(items)))]
            self.app.send_task(TASK_NAME, args=[job_id, chunk], queue=self.settings.job_queue,
                               task_id=f"{job_id}-{n}", producer=producer, retry=False)

    def get(self, job_id: str) -> JobView:
        view = self.store.get(job_id)
        if view is None:
            raise JobNotFoundError(job_id)
        return view

    def list(self, limit: int = 50) -> list[JobView]:
        return self.store.list(limit)

    def cancel(self, job_id: str) -> JobView:
        view = self.store.cancel(job_id)
        if view is None:
            raise JobNotFoundError(job_id)
        return view

    def start(self) -> None:
        if self._registry is not None and self._collector is None:
            self._collector = JobMetricsCollector(self, self._registry)

    def stop(self) -> None:
        if self._collector is not None:
            self._collector.unregister()
            self._collector = None
        self.store.close()

    def status(self) -> dict[str, Any]:
        from visearch.jobs.celery.app import connect

        broker = True
        try:
            connect(self.app).release()
        except Exception:
            broker = False
        redis_ok = self.store.ping()
        return {"runner": self.runner, "status": "ok" if broker and redis_ok else "degraded",
                "broker": "up" if broker else "down", "state_store": "up" if redis_ok else "down"}

    def snapshot(self) -> dict[str, Any]:
        from visearch.jobs.celery.app import queue_depths

        out: dict[str, Any] = {"queue_depth": None, "dead_letter_depth": None, "totals": {}}
        try:
            out["queue_depth"], out["dead_letter_depth"] = queue_depths(
                self.app, self.settings.job_queue
            )
        except Exception as exc:
            log.debug("queue_depth_unavailable", error=str(exc))
        with contextlib.suppress(JobsUnavailableError):
            out["totals"] = self.store.totals()
        return out

    def _broker_down(self, exc: Exception) -> str:
        from visearch.cache.link import redact_url

        url = redact_url(self.settings.broker_url or "")
        return (f"the job queue (RabbitMQ at {url}) is unreachable, so jobs cannot be "
                f"submitted right now; single-image indexing still works ({exc})")


def build_job_manager(
    settings: Settings,
    runtime: Runtime | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> JobManager:
    """Celery when ``VISEARCH_BROKER_URL`` is set, else the in-process runner (which needs the
    services' indexer). Call ``start()`` after building and ``stop()`` before closing the
    services."""
    if settings.broker_url:
        if not settings.redis_url:
            raise JobsUnavailableError(
                "jobs on a broker keep their state in Redis: set VISEARCH_REDIS_URL too"
            )
        return CeleryJobManager(settings, registry=registry)
    if runtime is None:
        raise ValueError("the in-process job runner needs the services (their indexer)")
    return LocalJobManager(settings, runtime.indexer, registry=registry)
