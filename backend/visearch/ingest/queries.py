"""Query images kept for a while, so that a search by a dropped or pasted image has a URL that
can be reloaded and shared (``?qid=``) like a text search.

A query image is stored once under ``<data_dir>/queries/<id[:2]>/<id>``, where the id is the
first 128 bits of the SHA-256 of its bytes: the same image always gets the same id, and an id
says nothing about who sent it. Each store refreshes the file's time; a file older than
``ttl_s`` is expired (gone for ``get``, removed by ``sweep``, which ``put`` runs now and then).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from visearch.config import Settings

#: How long a query image stays: a shared link keeps working for a week.
QUERY_TTL_S = 7 * 24 * 3600.0
_ID = re.compile(r"^[0-9a-f]{32}$")
_TMP_PREFIX = ".tmp-"


def is_query_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


class QueryImages:
    """Image bytes by query id, each kept ``ttl_s`` seconds after it was last stored."""

    def __init__(self, root: Path, ttl_s: float = QUERY_TTL_S,
                 sweep_every_s: float = 600.0) -> None:
        self.root = Path(root)
        self.ttl_s = ttl_s
        self._sweep_every_s = sweep_every_s
        self._last_sweep = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryImages:
        """In Redis when ``VISEARCH_REDIS_URL`` is set, so every replica behind a balancer
        sees every query image (``ingest/queries_redis.py``); else in the data dir."""
        if settings.redis_url:
            from visearch.ingest.queries_redis import RedisQueryImages

            return RedisQueryImages.from_settings(settings)
        return cls(settings.data_dir / "queries")

    def put(self, data: bytes) -> tuple[str, float]:
        """Store ``data`` (already checked to be an image); returns its id and when it expires
        (epoch seconds)."""
        query_id = hashlib.sha256(data).hexdigest()[:32]
        path = self._path(query_id)
        try:
            os.utime(path)  # stored before: keep it longer
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        self._maybe_sweep()
        return query_id, path.stat().st_mtime + self.ttl_s

    def get(self, query_id: str) -> tuple[bytes, float] | None:
        """The bytes and expiry time of a stored query image; None when unknown or expired."""
        if not is_query_id(query_id):
            return None
        path = self._path(query_id)
        try:
            expires = path.stat().st_mtime + self.ttl_s
            if expires <= time.time():
                path.unlink(missing_ok=True)
                return None
            return path.read_bytes(), expires
        except FileNotFoundError:
            return None

    def sweep(self) -> int:
        """Remove expired query images (and temporary files a crash left); returns how many."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - self.ttl_s
        removed = 0
        for path in self.root.glob("*/*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime <= cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._last_sweep and now - self._last_sweep < self._sweep_every_s:
                return
            self._last_sweep = now
        self.sweep()

    def _path(self, query_id: str) -> Path:
        return self.root / query_id[:2] / query_id
