"""What becomes of a batch that does not finish: run it again later, give up, or call it poison.

Written once for both runners (the in-process thread and the Celery task):

* poison: items whose earlier attempts never finished ``job_max_deliveries`` times (the
  process running them died each time) are recorded as failed, code ``poison``, and not run
  again, so one image that kills its process cannot stall a job forever;
* retry: a batch that raises (store, model or ledger trouble) runs again after
  ``job_retry_backoff_s * 2**attempt`` seconds, at most ``job_max_retries`` times;
* give up: after that, its open items are recorded as failed, code ``batch_failed``.

The runners differ only in how they carry out the verdict: the local runner waits on its
thread; the Celery task retries with a countdown, or rejects the message to the dead-letter
queue when the policy gives up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from visearch.config import Settings
from visearch.jobs.batch import fail_batch, process_batch
from visearch.jobs.model import JobLedger, JobsUnavailableError
from visearch.jobs.spec import ItemSpec
from visearch.services.indexing import Indexer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Finished:
    """The batch ran and its outcomes are recorded; ``state`` is the job's state afterwards."""

    state: str | None


@dataclass(frozen=True)
class Retry:
    """Run the batch again after ``delay_s`` seconds."""

    delay_s: float
    error: Exception


@dataclass(frozen=True)
class GiveUp:
    """Not again: its open items are recorded as failed with ``code`` and ``message``."""

    code: str
    message: str


Verdict = Finished | Retry | GiveUp


@dataclass(frozen=True)
class BatchPolicy:
    max_retries: int
    backoff_s: float
    max_deliveries: int

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchPolicy:
        return cls(settings.job_max_retries, settings.job_retry_backoff_s,
                   settings.job_max_deliveries)

    def attempt(
        self,
        indexer: Indexer,
        ledger: JobLedger,
        job_id: str,
        items: Sequence[tuple[int, ItemSpec, int]],
        allowed_roots: Sequence[Path],
        retries: int,
    ) -> Verdict:
        """One attempt at a batch. ``items``: (index, spec, earlier attempts that never
        finished); ``retries``: how many times this batch already raised and was retried."""
        poison = [(i, spec) for i, spec, earlier in items if earlier >= self.max_deliveries]
        if poison:
            worst = max(earlier for _, _, earlier in items)
            message = (f"attempted {worst} times without finishing (the process running it "
                       "died each time): giving up on it")
            log.error("poison_batch", job_id=job_id, items=len(poison), attempts=worst)
            verdict = self._give_up(ledger, job_id, poison, "poison", message)
            if len(poison) == len(items):
                return verdict
        runnable = [(i, spec) for i, spec, earlier in items if earlier < self.max_deliveries]
        try:
            return Finished(process_batch(indexer, ledger, job_id, runnable, allowed_roots))
        except Exception as exc:
            return self.failed(ledger, job_id, runnable, retries, exc)

    def failed(
        self,
        ledger: JobLedger,
        job_id: str,
        items: Sequence[tuple[int, ItemSpec]],
        retries: int,
        exc: Exception,
    ) -> Retry | GiveUp:
        """The verdict on a batch whose attempt raised ``exc``."""
        error = f"{type(exc).__name__}: {exc}"
        if retries >= self.max_retries:
            log.error("batch_failed", job_id=job_id, error=error)
            return self._give_up(ledger, job_id, items, "batch_failed",
                                 f"gave up after {retries + 1} attempts: {error}")
        delay = self.backoff_s * 2**retries
        log.warning("batch_retry", job_id=job_id, attempt=retries + 1, in_s=delay, error=error)
        return Retry(delay, exc)

    @staticmethod
    def _give_up(ledger: JobLedger, job_id: str, items: Sequence[tuple[int, ItemSpec]],
                 code: str, message: str) -> GiveUp:
        try:
            fail_batch(ledger, job_id, items, code, message)
        except JobsUnavailableError:  # the items stay open; the job cannot finish this way
            log.error("batch_failure_unrecorded", job_id=job_id, code=code)
        return GiveUp(code, message)
