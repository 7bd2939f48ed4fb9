"""Active jobs per client: who submitted which job, so that one key (or address) cannot queue
an unbounded number of jobs. Kept in Redis when configured (replicas agree), in this process
otherwise. The count is checked before a submission, so two submissions racing each other may
end one over the limit; the limit is a guard against floods, not an exact quota."""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis

from visearch.config import Settings
from visearch.errors import VisearchError
from visearch.jobs.model import ACTIVE_STATES, JobNotFoundError, JobView


class TooManyJobsError(VisearchError, code="too_many_jobs", status=429):
    """The client already has its limit of queued or running jobs."""


class JobOwners:
    """Job ids by client (blocking calls: run them off the event loop)."""

    def __init__(self, settings: Settings) -> None:
        self.limit = settings.job_max_active
        self._ttl_s = settings.job_ttl_s
        self._prefix = f"{settings.redis_prefix}:jobowner"
        self._redis = (redis.Redis.from_url(settings.redis_url,
                                            socket_timeout=settings.redis_timeout_s,
                                            socket_connect_timeout=settings.redis_timeout_s)
                       if settings.redis_url else None)
        self._mem: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def _ids(self, client: str) -> set[str]:
        if self._redis is None:
            with self._lock:
                return set(self._mem.get(client, ()))
        try:
            members = self._redis.smembers(f"{self._prefix}:{client}")
            return {m.decode() if isinstance(m, bytes) else str(m) for m in members}
        except redis.RedisError:
            return set(self._mem.get(client, ()))

    def _change(self, client: str, add: set[str], drop: set[str]) -> None:
        with self._lock:
            mine = self._mem.setdefault(client, set())
            mine |= add
            mine -= drop
        if self._redis is None:
            return
        key = f"{self._prefix}:{client}"
        try:
            pipe = self._redis.pipeline()
            if add:
                pipe.sadd(key, *add)
            if drop:
                pipe.srem(key, *drop)
            pipe.expire(key, self._ttl_s)
            pipe.execute()
        except redis.RedisError:
            pass  # the in-process copy above still counts for this replica

    def submit(self, client: str, get: Callable[[str], JobView],
               submit: Callable[[], JobView]) -> JobView:
        """Submit through ``submit`` unless ``client`` has ``limit`` jobs queued or running."""
        active: set[str] = set()
        done: set[str] = set()
        for job_id in self._ids(client):
            try:
                (active if get(job_id).state in ACTIVE_STATES else done).add(job_id)
            except JobNotFoundError:
                done.add(job_id)
        if len(active) >= self.limit:
            self._change(client, set(), done)
            raise TooManyJobsError(
                f"{len(active)} of your jobs are queued or running (at most {self.limit}); "
                "wait for one to finish or cancel one"
            )
        view = submit()
        self._change(client, {view.job_id}, done)
        return view

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
