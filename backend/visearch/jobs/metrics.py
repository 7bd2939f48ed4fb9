"""Prometheus view of the jobs: queue depth, dead letters, and job and item counters.

Values are read from the job backend at scrape time (Redis totals are cluster-wide, so any
replica reports every worker's progress); a backend that cannot answer leaves its gauges out
of that scrape instead of failing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

#: What became of one delivery of a batch (``visearch_job_batches_total{outcome}``).
BATCH_OUTCOMES = ("done", "retried", "failed", "poison")
_BATCH_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
JOB_STATES = ("submitted", "completed", "completed_with_errors", "failed", "cancelled")
ITEM_OUTCOMES = ("done", "failed", "skipped")


class _Snapshots(Protocol):
    runner: str

    def snapshot(self) -> dict[str, Any]: ...


class JobMetricsCollector(Collector):
    def __init__(self, source: _Snapshots, registry: CollectorRegistry) -> None:
        self._source = source
        self._registry: CollectorRegistry | None = None
        try:
            registry.register(self)
            self._registry = registry
        except ValueError:  # another job manager already reports on this registry
            log.warning("job_metrics_already_registered")

    def unregister(self) -> None:
        if self._registry is not None:
            self._registry.unregister(self)
            self._registry = None

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily,
                                 CounterMetricFamily]:
        labels = ["runner"]
        return (
            GaugeMetricFamily("visearch_jobs_queue_depth",
                              "Job work waiting: RabbitMQ messages, or open items in-process",
                              labels=labels),
            GaugeMetricFamily("visearch_jobs_dead_letter_depth",
                              "Messages in the dead-letter queue", labels=labels),
            CounterMetricFamily("visearch_jobs", "Jobs by state reached", labels=["state"]),
            CounterMetricFamily("visearch_job_items", "Job items by outcome",
                                labels=["outcome"]),
        )

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        depth, dead, jobs, items = self._families()
        try:
            snap = self._source.snapshot()
        except Exception as exc:
            log.debug("job_metrics_unavailable", error=str(exc))
            return iter(())
        runner = self._source.runner
        if snap.get("queue_depth") is not None:
            depth.add_metric([runner], float(snap["queue_depth"]))
        if snap.get("dead_letter_depth") is not None:
            dead.add_metric([runner], float(snap["dead_letter_depth"]))
        totals: dict[str, int] = snap.get("totals") or {}
        for state in JOB_STATES:
            jobs.add_metric([state], float(totals.get(f"jobs_{state}", 0)))
        for outcome in ITEM_OUTCOMES:
            items.add_metric([outcome], float(totals.get(f"items_{outcome}", 0)))
        return iter((depth, dead, jobs, items))


class BatchMetrics:
    """Batches a worker ran: how each delivery ended and how long it took (observed by the
    Celery task, on the worker's registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batches = Counter("visearch_job_batches", "Job batch deliveries by outcome: done, "
                               "retried (runs again later), failed (gave up), poison",
                               ["outcome"], registry=registry)
        self.duration = Histogram("visearch_job_batch_duration_seconds",
                                  "Time of one batch delivery, from start to verdict",
                                  buckets=_BATCH_BUCKETS, registry=registry)
        for outcome in BATCH_OUTCOMES:  # every outcome has a series from the start
            self.batches.labels(outcome)

    def observe(self, outcome: str, seconds: float) -> None:
        self.batches.labels(outcome).inc()
        self.duration.observe(seconds)
