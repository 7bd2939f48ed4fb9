"""The worker side: the batch task and ``run_worker`` behind ``visearch worker``.

A worker process loads the model and opens the shared store once, then consumes batches one
at a time (solo pool: one model per process; run more processes to scale). Its writes bump
the cache version in Redis like any replica's, so no API replica serves a page older than a
job batch.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import structlog
from celery import Celery, Task
from celery.exceptions import Reject
from prometheus_client import CollectorRegistry, start_http_server

from visearch.cache.two_tier import build_cache
from visearch.config import ConfigError, Settings
from visearch.jobs.celery.app import TASK_NAME, connect, declare_queues, make_celery
from visearch.jobs.ledger_redis import RedisJobLedger
from visearch.jobs.metrics import BatchMetrics
from visearch.jobs.model import JobsUnavailableError
from visearch.jobs.policy import BatchPolicy, GiveUp, Retry, Verdict
from visearch.jobs.spec import ItemSpec

if TYPE_CHECKING:
    from visearch.runtime import Runtime

log = structlog.get_logger(__name__)


class WorkerContext:
    """What the task needs in a worker process: settings, runtime, ledger and batch policy."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.ledger = RedisJobLedger.from_settings(settings)
        self.policy = BatchPolicy.from_settings(settings)
        self.metrics = BatchMetrics(self.registry)
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            from visearch.metrics import Metrics
            from visearch.runtime import Runtime

            metrics = Metrics(self.registry)
            self._runtime = Runtime.build(
                self.settings, cache=build_cache(self.settings, self.registry), metrics=metrics
            )
        return self._runtime

    def run(self, task: Task, job_id: str, raw_items: Any) -> str | None:
        """One delivery of a batch task: the policy's verdict becomes a return, a retry with
        a countdown, or a rejection to the dead-letter queue (see ``app`` for the rules)."""
        started = time.perf_counter()
        try:
            if not isinstance(job_id, str) or not isinstance(raw_items, list):
                raise ValueError("expected (job_id: str, items: list)")
            items = [(int(i), ItemSpec.from_dict(d)) for i, d in raw_items]
        except (TypeError, ValueError) as exc:
            log.error("poison_message", task_id=task.request.id, error=str(exc))
            self.metrics.observe("poison", time.perf_counter() - started)
            raise Reject(f"malformed batch: {exc}", requeue=False) from exc

        retries = int(task.request.retries or 0)
        verdict: Verdict
        try:  # deliveries of this attempt before this one: each ended with its worker's death
            earlier = self.ledger.count_delivery(str(task.request.id), retries) - 1
        except JobsUnavailableError as exc:
            verdict = self.policy.failed(self.ledger, job_id, items, retries, exc)
        else:
            verdict = self.policy.attempt(
                self.runtime.indexer, self.ledger, job_id,
                [(i, spec, earlier) for i, spec in items], self.settings.allowed_roots, retries,
            )
        self.metrics.observe(_outcome(verdict), time.perf_counter() - started)
        if isinstance(verdict, Retry):
            raise task.retry(exc=verdict.error, countdown=verdict.delay_s)
        if isinstance(verdict, GiveUp):
            raise Reject(verdict.message, requeue=False)
        return verdict.state

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
        self.ledger.close()


def _outcome(verdict: Verdict) -> str:
    """The ``outcome`` label of a verdict: done, retried, failed or poison."""
    if isinstance(verdict, Retry):
        return "retried"
    if isinstance(verdict, GiveUp):
        return "poison" if verdict.code == "poison" else "failed"
    return "done"


def register_tasks(app: Celery, ctx: WorkerContext) -> None:
    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
              max_retries=ctx.settings.job_max_retries)
    def index_batch(self: Task, job_id: str, items: list[Any]) -> str | None:
        return ctx.run(self, job_id, items)


def run_worker(settings: Settings, loglevel: str | None = None) -> None:
    """Consume job batches until stopped (``visearch worker``); blocks.

    Needs ``VISEARCH_BROKER_URL``, ``VISEARCH_REDIS_URL`` and a store that several processes
    share (``VISEARCH_STORE=qdrant``).
    """
    if not settings.broker_url:
        raise ConfigError("visearch worker needs VISEARCH_BROKER_URL (amqp://...)")
    if not settings.redis_url:
        raise ConfigError("visearch worker needs VISEARCH_REDIS_URL for the job state")
    if settings.store != "qdrant":
        raise ConfigError(
            "visearch worker needs a store that several processes share: set "
            "VISEARCH_STORE=qdrant and VISEARCH_QDRANT_URL (the embedded edge store belongs "
            "to one process; without a broker, jobs run inside the server)"
        )
    ctx = WorkerContext(settings)
    app = make_celery(settings)
    register_tasks(app, ctx)
    ctx.runtime  # noqa: B018 - load the model and open the store before taking work
    conn = connect(app)
    try:
        declare_queues(conn, settings.job_queue)
    finally:
        conn.release()
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.host, registry=ctx.registry)
    log.info("worker_ready", queue=settings.job_queue, pid=os.getpid())
    try:
        app.worker_main([
            "worker",
            "--pool=solo",
            "--concurrency=1",
            f"--queues={settings.job_queue}",
            f"--hostname=visearch-{os.getpid()}@%h",
            f"--loglevel={(loglevel or settings.log_level)}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ])
    finally:
        ctx.close()
