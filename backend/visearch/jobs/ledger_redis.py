"""Job state in Redis, so every API replica and every worker sees the same jobs.

Per job (``<prefix>:job:<id>``): a hash with the state and counts, a hash of per-item
outcomes (first write wins), a set of items attempted, and a capped list of failures. Each
batch start and each batch record is one Lua script, so counts stay exact when several
workers (or a redelivered batch) touch the same job at once. Keys expire ``job_ttl_s``
after the last change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis

from visearch.cache.link import make_client, redact_url
from visearch.config import Settings
from visearch.jobs.model import (
    MAX_FAILURES_KEPT,
    BatchStart,
    ItemOutcome,
    JobsUnavailableError,
    JobView,
    now,
)
from visearch.jobs.spec import ItemSpec

_BEGIN = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return nil end
if st == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'running')
  st = 'running'
end
if st == 'running' then redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1]) end
local todo, again = {}, {}
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then
    table.insert(todo, ARGV[i])
    if redis.call('SADD', KEYS[3], ARGV[i]) == 0 then table.insert(again, ARGV[i]) end
  end
end
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ARGV[2]) end
return {st, todo, again}
"""

_RECORD = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return nil end
local cap, ttl = tonumber(ARGV[2]), ARGV[3]
for i = 4, #ARGV, 3 do
  local idx, out, fail = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HSETNX', KEYS[2], idx, out) == 1 then
    redis.call('HINCRBY', KEYS[1], out, 1)
    redis.call('HINCRBY', KEYS[4], 'items_' .. out, 1)
    if fail ~= '' and redis.call('LLEN', KEYS[3]) < cap then
      redis.call('RPUSH', KEYS[3], fail)
    end
  end
end
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
local done = tonumber(redis.call('HGET', KEYS[1], 'done') or '0')
local failed = tonumber(redis.call('HGET', KEYS[1], 'failed') or '0')
local skipped = tonumber(redis.call('HGET', KEYS[1], 'skipped') or '0')
if done + failed + skipped >= total then
  if st == 'queued' or st == 'running' then
    if failed == 0 then st = 'completed'
    elseif failed >= total then st = 'failed'
    else st = 'completed_with_errors' end
    redis.call('HSET', KEYS[1], 'state', st)
    redis.call('HINCRBY', KEYS[4], 'jobs_' .. st, 1)
  end
  redis.call('HSETNX', KEYS[1], 'finished_at', ARGV[1])
end
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ttl) end
redis.call('EXPIRE', KEYS[5], ttl)
return st
"""

_CANCEL = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return nil end
if st == 'queued' or st == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[1])
  redis.call('HINCRBY', KEYS[2], 'jobs_cancelled', 1)
  st = 'cancelled'
end
return st
"""

_FAIL = """
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return nil end
if st == 'queued' or st == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'finished_at', ARGV[1], 'error', ARGV[2])
  redis.call('HINCRBY', KEYS[2], 'jobs_failed', 1)
  st = 'failed'
end
return st
"""


class RedisJobLedger:
    """Implements ``JobLedger`` on Redis; every call raises ``JobsUnavailableError`` if Redis
    cannot be reached (jobs need shared state; there is no local fallback)."""

    runner = "celery"

    def __init__(self, url: str, prefix: str = "visearch", ttl_s: int = 7 * 24 * 3600,
                 timeout_s: float = 2.0) -> None:
        self.url = url
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.client: redis.Redis = make_client(url, timeout_s)
        self._begin = self.client.register_script(_BEGIN)
        self._record = self.client.register_script(_RECORD)
        self._cancel = self.client.register_script(_CANCEL)
        self._fail = self.client.register_script(_FAIL)

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisJobLedger:
        if not settings.redis_url:
            raise JobsUnavailableError(
                "jobs on a broker keep their state in Redis: set VISEARCH_REDIS_URL"
            )
        return cls(settings.redis_url, settings.redis_prefix, settings.job_ttl_s,
                   max(2.0, settings.redis_timeout_s))

    # -- keys ---------------------------------------------------------------------------

    def _k(self, job_id: str, part: str = "") -> str:
        return f"{self.prefix}:job:{job_id}{':' + part if part else ''}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}:jobs"

    @property
    def _totals(self) -> str:
        return f"{self.prefix}:jobs:totals"

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError) as exc:
            raise JobsUnavailableError(
                f"job state store (Redis at {redact_url(self.url)}) is unreachable: {exc}"
            ) from exc

    # -- JobLedger -----------------------------------------------------------------------

    def create(self, job_id: str, source: str, description: str,
               items: Sequence[ItemSpec]) -> JobView:
        view = JobView(job_id, "queued", self.runner, source, description, len(items),
                       created_at=now())
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self._k(job_id), mapping={
            "state": view.state, "runner": view.runner, "source": source,
            "description": description[:500], "total": view.total, "done": 0, "failed": 0,
            "skipped": 0, "created_at": view.created_at,
        })
        pipe.expire(self._k(job_id), self.ttl_s)
        pipe.zadd(self._index, {job_id: view.created_at})
        pipe.hincrby(self._totals, "jobs_submitted", 1)
        self._call(pipe.execute)
        return view

    def get(self, job_id: str, failures_limit: int = 100) -> JobView | None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self._k(job_id))
        pipe.lrange(self._k(job_id, "failures"), 0, max(failures_limit, 1) - 1)
        fields, failures = self._call(pipe.execute)
        if not fields:
            return None
        view = _view(job_id, fields)
        view.failures = [json.loads(f) for f in failures][:failures_limit]
        return view

    def list(self, limit: int = 50) -> list[JobView]:
        cutoff = now() - self.ttl_s
        self._call(self.client.zremrangebyscore, self._index, "-inf", cutoff)
        ids = [i.decode() for i in self._call(self.client.zrevrange, self._index, 0, limit - 1)]
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self._k(job_id))
        rows = self._call(pipe.execute)
        return [_view(job_id, fields) for job_id, fields in zip(ids, rows, strict=True) if fields]

    def begin_batch(self, job_id: str, indexes: Sequence[int]) -> BatchStart | None:
        keys = [self._k(job_id), self._k(job_id, "status"), self._k(job_id, "attempted")]
        res = self._call(self._begin, keys=keys,
                         args=[now(), self.ttl_s, *[str(i) for i in indexes]])
        if res is None:
            return None
        state, todo, again = res
        return BatchStart(state.decode(), frozenset(int(i) for i in todo),
                          frozenset(int(i) for i in again))

    def record(self, job_id: str, outcomes: Sequence[ItemOutcome]) -> str | None:
        keys = [self._k(job_id), self._k(job_id, "status"), self._k(job_id, "failures"),
                self._totals, self._k(job_id, "attempted")]
        args: list[Any] = [now(), MAX_FAILURES_KEPT, self.ttl_s]
        for o in outcomes:
            fail = json.dumps(o.failure()) if o.outcome == "failed" else ""
            args += [str(o.index), o.outcome, fail]
        res = self._call(self._record, keys=keys, args=args)
        return res.decode() if res is not None else None

    def cancel(self, job_id: str) -> JobView | None:
        res = self._call(self._cancel, keys=[self._k(job_id), self._totals], args=[now()])
        if res is None:
            return None
        return self.get(job_id)

    def fail(self, job_id: str, error: str) -> None:
        self._call(self._fail, keys=[self._k(job_id), self._totals], args=[now(), error[:2000]])

    def totals(self) -> dict[str, int]:
        raw = self._call(self.client.hgetall, self._totals)
        return {k.decode(): int(v) for k, v in raw.items()}

    def count_delivery(self, task_id: str, attempt: int) -> int:
        """How many times this attempt of a task was started (worker deaths redeliver it)."""
        key = f"{self.prefix}:delivery:{task_id}:{attempt}"
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, self.ttl_s)
        count, _ = self._call(pipe.execute)
        return int(count)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.RedisError, OSError):
            return False

    def close(self) -> None:
        self.client.close()


def _view(job_id: str, raw: dict[bytes, bytes]) -> JobView:
    f = {k.decode(): v.decode() for k, v in raw.items()}

    def num(name: str) -> float | None:
        return float(f[name]) if f.get(name) else None

    return JobView(
        job_id=job_id,
        state=f.get("state", "queued"),
        runner=f.get("runner", "celery"),
        source=f.get("source", ""),
        description=f.get("description", ""),
        total=int(f.get("total", 0)),
        done=int(f.get("done", 0)),
        failed=int(f.get("failed", 0)),
        skipped=int(f.get("skipped", 0)),
        created_at=num("created_at") or 0.0,
        started_at=num("started_at"),
        finished_at=num("finished_at"),
        error=f.get("error") or None,
    )
