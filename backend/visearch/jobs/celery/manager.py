"""The job API's Celery backend: jobs split into batch tasks on RabbitMQ, state in Redis.

Every API replica that submits, and every ``visearch worker`` that runs batches, shares the
``RedisJobLedger``, so any replica reports every job. The workers' side is ``tasks``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from visearch.cache.link import redact_url
from visearch.config import Settings
from visearch.jobs.celery.app import TASK_NAME, connect, declare_queues, make_celery, queue_depths
from visearch.jobs.ledger_redis import RedisJobLedger
from visearch.jobs.manager import LedgerReads
from visearch.jobs.metrics import JobMetricsCollector
from visearch.jobs.model import JobsUnavailableError, JobView, new_job_id
from visearch.jobs.spec import ItemSpec, JobSpec, expand_job

log = structlog.get_logger(__name__)


class CeleryJobManager(LedgerReads):
    """Splits jobs into batch tasks on RabbitMQ; job state in Redis (``RedisJobLedger``)."""

    runner = "celery"
    ledger: RedisJobLedger

    def __init__(self, settings: Settings, *, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.app = make_celery(settings)
        self.ledger = RedisJobLedger.from_settings(settings)
        self._registry = registry
        self._collector: JobMetricsCollector | None = None

    def submit(self, spec: JobSpec) -> JobView:
        items = expand_job(spec, self.settings)
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
            source, description = spec.describe()
            view = self.ledger.create(new_job_id(), source, description, items)
            try:
                self._publish(conn, view.job_id, items)
            except Exception as exc:
                message = self._broker_down(exc)
                with contextlib.suppress(JobsUnavailableError):
                    self.ledger.fail(view.job_id, f"could not queue every batch: {message}")
                raise JobsUnavailableError(message) from exc
        finally:
            conn.release()
        log.info("job_submitted", job_id=view.job_id, runner=self.runner, total=view.total)
        return view

    def _publish(self, conn: Any, job_id: str, items: Sequence[ItemSpec]) -> None:
        """One persistent, broker-confirmed message per batch of ``job_batch_size`` items."""
        size = self.settings.job_batch_size
        producer = self.app.amqp.Producer(conn)
        for n, start in enumerate(range(0, len(items), size)):
            chunk = [[i, items[i].to_dict()] for i in range(start, min(start + size, len(items)))]
            self.app.send_task(TASK_NAME, args=[job_id, chunk], queue=self.settings.job_queue,
                               task_id=f"{job_id}-{n}", producer=producer, retry=False)

    def start(self) -> None:
        if self._registry is not None and self._collector is None:
            self._collector = JobMetricsCollector(self, self._registry)

    def stop(self) -> None:
        if self._collector is not None:
            self._collector.unregister()
            self._collector = None
        self.ledger.close()

    def status(self) -> dict[str, Any]:
        broker = True
        try:
            connect(self.app).release()
        except Exception:
            broker = False
        redis_ok = self.ledger.ping()
        return {"runner": self.runner, "status": "ok" if broker and redis_ok else "degraded",
                "broker": "up" if broker else "down", "state_store": "up" if redis_ok else "down"}

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {"queue_depth": None, "dead_letter_depth": None, "totals": {}}
        try:
            out["queue_depth"], out["dead_letter_depth"] = queue_depths(
                self.app, self.settings.job_queue
            )
        except Exception as exc:
            log.debug("queue_depth_unavailable", error=str(exc))
        with contextlib.suppress(JobsUnavailableError):
            out["totals"] = self.ledger.totals()
        return out

    def _broker_down(self, exc: Exception) -> str:
        url = redact_url(self.settings.broker_url or "")
        return (f"the job queue (RabbitMQ at {url}) is unreachable, so jobs cannot be "
                f"submitted right now; single-image indexing still works ({exc})")
