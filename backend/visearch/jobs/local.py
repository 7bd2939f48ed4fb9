"""The in-process job runner: one background thread of the serving process works through the
jobs in a durable SQLite journal under the data dir (used when no broker is configured).

A job accepted with 202 is in the journal before the answer; after a restart (even ``kill
-9``) the runner resumes every job still queued or running from its first open item.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry

from visearch.config import Settings
from visearch.jobs.ledger_sqlite import SqliteJobLedger
from visearch.jobs.manager import LedgerReads
from visearch.jobs.metrics import JobMetricsCollector
from visearch.jobs.model import JobView, new_job_id
from visearch.jobs.policy import BatchPolicy, Retry
from visearch.jobs.spec import ItemSpec, JobSpec, expand_job

if TYPE_CHECKING:
    from visearch.services.indexing import Indexer

log = structlog.get_logger(__name__)


def journal_path(settings: Settings) -> Path:
    return settings.data_dir / "jobs" / "journal.sqlite3"


class LocalJobManager(LedgerReads):
    """Runs jobs on one background thread of this process, from the journal."""

    runner = "local"
    ledger: SqliteJobLedger

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
        self.ledger = SqliteJobLedger(journal or journal_path(settings))
        self.policy = BatchPolicy.from_settings(settings)
        self._registry = registry
        self._collector: JobMetricsCollector | None = None
        self._idle_poll_s = idle_poll_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- JobManager (get, list and cancel: LedgerReads) ---------------------------------

    def submit(self, spec: JobSpec) -> JobView:
        items = expand_job(spec, self.settings)
        source, description = spec.describe()
        view = self.ledger.create(new_job_id(), source, description, items)
        log.info("job_submitted", job_id=view.job_id, runner=self.runner, total=view.total)
        self._wake.set()
        return view

    def start(self) -> None:
        if self._thread is not None:
            return
        if self._registry is not None:
            self._collector = JobMetricsCollector(self, self._registry)
        self.ledger.prune(self.settings.job_ttl_s)
        resumed = self.ledger.active_jobs()
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
        self.ledger.close()

    def status(self) -> dict[str, Any]:
        alive = self._thread is not None and self._thread.is_alive()
        return {"runner": self.runner, "status": "ok" if alive else "degraded",
                "journal": str(self.ledger.path), "worker_alive": alive}

    def snapshot(self) -> dict[str, Any]:
        return {"queue_depth": self.ledger.pending_items(), "dead_letter_depth": None,
                "totals": self.ledger.totals()}

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
        for job_id in self.ledger.active_jobs():
            items = self.ledger.open_items(job_id, self.settings.job_batch_size)
            if not items:
                self.ledger.record(job_id, [])  # closes a job whose items are all recorded
                continue
            self._run_batch(job_id, items)
            return True
        return False

    def _run_batch(self, job_id: str, items: Sequence[tuple[int, ItemSpec, int]]) -> None:
        """Attempt the batch until the policy says it is finished or given up (a retry waits
        on this thread; shutting down leaves the items open for the next start)."""
        for retries in itertools.count():
            verdict = self.policy.attempt(self.indexer, self.ledger, job_id, items,
                                          self.settings.allowed_roots, retries)
            if not isinstance(verdict, Retry) or self._stopping.wait(verdict.delay_s):
                return
