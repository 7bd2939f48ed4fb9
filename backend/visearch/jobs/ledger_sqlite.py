"""The in-process runner's durable journal: jobs and their items in SQLite under the data dir.

Every change is one transaction with ``synchronous=FULL`` (fsync before the commit returns),
so a job accepted with 202 survives ``kill -9`` of the serving process, and an item recorded
as done stays done. On restart the runner picks up every job still queued or running and
works through the items that have no outcome yet.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from visearch.jobs.model import (
    MAX_FAILURES_KEPT,
    BatchStart,
    ItemOutcome,
    JobsUnavailableError,
    JobView,
    final_state,
    now,
)
from visearch.jobs.spec import ItemSpec

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    description TEXT NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    spec TEXT NOT NULL,
    attempted INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    code TEXT,
    message TEXT,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_open ON items (job_id, outcome, idx);
CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqliteJobLedger:
    """Implements ``JobLedger`` in one SQLite file; safe to share between threads."""

    runner = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                       timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise JobsUnavailableError(f"cannot open the job journal {path}: {exc}") from exc
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise JobsUnavailableError(f"job journal {self.path}: {exc}") from exc

    def _bump_total(self, db: sqlite3.Connection, name: str, by: int = 1) -> None:
        db.execute(
            "INSERT INTO totals VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, by, by),
        )

    # -- JobLedger -----------------------------------------------------------------------

    def create(self, job_id: str, source: str, description: str,
               items: Sequence[ItemSpec]) -> JobView:
        view = JobView(job_id, "queued", self.runner, source, description, len(items),
                       created_at=now())
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (job_id, state, source, description, total, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, view.state, source, description[:500], view.total, view.created_at),
            )
            db.executemany(
                "INSERT INTO items (job_id, idx, spec) VALUES (?, ?, ?)",
                ((job_id, i, json.dumps(s.to_dict())) for i, s in enumerate(items)),
            )
            self._bump_total(db, "jobs_submitted")
        return view

    def get(self, job_id: str, failures_limit: int = 100) -> JobView | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            fails = self._db.execute(
                "SELECT idx, spec, code, message FROM items WHERE job_id = ? AND "
                "outcome = 'failed' ORDER BY idx LIMIT ?",
                (job_id, min(failures_limit, MAX_FAILURES_KEPT)),
            ).fetchall()
        view = _view(row)
        view.failures = [
            {"item": idx, "source": ItemSpec.from_dict(json.loads(spec)).source, "code": code,
             "message": message}
            for idx, spec, code, message in fails
        ]
        return view

    def list(self, limit: int = 50) -> list[JobView]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_view(r) for r in rows]

    def begin_batch(self, job_id: str, indexes: Sequence[int]) -> BatchStart | None:
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            state = row[0]
            if state == "queued":
                state = "running"
                db.execute("UPDATE jobs SET state = 'running' WHERE job_id = ?", (job_id,))
            if state == "running":
                db.execute("UPDATE jobs SET started_at = COALESCE(started_at, ?) "
                           "WHERE job_id = ?", (now(), job_id))
            marks = ",".join("?" * len(indexes))
            rows = db.execute(
                f"SELECT idx, attempted FROM items WHERE job_id = ? AND idx IN ({marks}) "
                "AND outcome IS NULL", (job_id, *indexes),
            ).fetchall()
            db.execute(
                f"UPDATE items SET attempted = attempted + 1 WHERE job_id = ? AND idx IN ({marks}) "
                "AND outcome IS NULL", (job_id, *indexes),
            )
        return BatchStart(state, frozenset(r[0] for r in rows),
                          frozenset(r[0] for r in rows if r[1]))

    def record(self, job_id: str, outcomes: Sequence[ItemOutcome]) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT state, total FROM jobs WHERE job_id = ?",
                             (job_id,)).fetchone()
            if row is None:
                return None
            state, total = row
            counts = {"done": 0, "failed": 0, "skipped": 0}
            for o in outcomes:
                cur = db.execute(
                    "UPDATE items SET outcome = ?, code = ?, message = ? "
                    "WHERE job_id = ? AND idx = ? AND outcome IS NULL",
                    (o.outcome, o.code, o.message, job_id, o.index),
                )
                if cur.rowcount:
                    counts[o.outcome] += 1
            db.execute(
                "UPDATE jobs SET done = done + ?, failed = failed + ?, skipped = skipped + ? "
                "WHERE job_id = ?",
                (counts["done"], counts["failed"], counts["skipped"], job_id),
            )
            for name, n in counts.items():
                if n:
                    self._bump_total(db, f"items_{name}", n)
            done, failed, skipped = db.execute(
                "SELECT done, failed, skipped FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if done + failed + skipped >= total:
                if state in ("queued", "running"):
                    state = final_state(total, failed)
                    self._bump_total(db, f"jobs_{state}")
                db.execute("UPDATE jobs SET state = ?, finished_at = COALESCE(finished_at, ?) "
                           "WHERE job_id = ?", (state, now(), job_id))
        return str(state)

    def cancel(self, job_id: str) -> JobView | None:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ? "
                "WHERE job_id = ? AND state IN ('queued', 'running')", (now(), job_id),
            )
            if cur.rowcount:
                self._bump_total(db, "jobs_cancelled")
                # The runner never comes back to a cancelled job: its open items are dropped.
                dropped = db.execute(
                    "UPDATE items SET outcome = 'skipped', code = 'cancelled', "
                    "message = 'job cancelled' WHERE job_id = ? AND outcome IS NULL", (job_id,),
                ).rowcount
                db.execute("UPDATE jobs SET skipped = skipped + ? WHERE job_id = ?",
                           (dropped, job_id))
                self._bump_total(db, "items_skipped", dropped)
        return self.get(job_id)

    def fail(self, job_id: str, error: str) -> None:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state = 'failed', finished_at = ?, error = ? "
                "WHERE job_id = ? AND state IN ('queued', 'running')",
                (now(), error[:2000], job_id),
            )
            if cur.rowcount:
                self._bump_total(db, "jobs_failed")

    def totals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT name, value FROM totals").fetchall())

    # -- runner helpers -----------------------------------------------------------------

    def active_jobs(self) -> builtins.list[str]:
        """Jobs with work left, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id FROM jobs WHERE state IN ('queued', 'running') "
                "ORDER BY created_at"
            ).fetchall()
        return [r[0] for r in rows]

    def open_items(self, job_id: str, limit: int) -> builtins.list[tuple[int, ItemSpec, int]]:
        """The next items of a job that have no outcome yet, in order, with the number of
        earlier attempts at each."""
        with self._lock:
            rows = self._db.execute(
                "SELECT idx, spec, attempted FROM items WHERE job_id = ? AND outcome IS NULL "
                "ORDER BY idx LIMIT ?", (job_id, limit),
            ).fetchall()
        return [(idx, ItemSpec.from_dict(json.loads(spec)), n) for idx, spec, n in rows]

    def prune(self, older_than_s: float) -> int:
        """Forget jobs that finished more than ``older_than_s`` ago; how many were removed."""
        cutoff = now() - older_than_s
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT job_id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?",
                (cutoff,)).fetchall()]
            for job_id in ids:
                db.execute("DELETE FROM items WHERE job_id = ?", (job_id,))
                db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
        return len(ids)

    def pending_items(self) -> int:
        """Items without an outcome in active jobs (the in-process queue depth)."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM items JOIN jobs USING (job_id) "
                "WHERE jobs.state IN ('queued', 'running') AND items.outcome IS NULL"
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _view(row: Sequence[Any]) -> JobView:
    (job_id, state, source, description, total, done, failed, skipped, created_at, started_at,
     finished_at, error) = row
    return JobView(job_id, state, "local", source, description, total, done, failed, skipped,
                   created_at, started_at, finished_at, error)
