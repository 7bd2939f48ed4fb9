"""Access control for one app: who the caller is (an API key's entry, or nobody in particular
when keys are off), whether its scopes allow a route, and its budgets and job quota.

Built once by ``create_app`` from the settings; the API's dependencies (``api/deps.py``) call
``identify`` and ``charge`` for every protected route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from visearch.config import ConfigError, Settings
from visearch.errors import VisearchError
from visearch.jobs.manager import JobManager
from visearch.jobs.model import JobView
from visearch.jobs.spec import JobSpec
from visearch.security.exposure import limits_enabled
from visearch.security.keys import ApiKey, KeyFileError, KeyRing
from visearch.security.quotas import JobOwners
from visearch.security.ratelimit import Budget, Budgets


class AccessError(VisearchError):
    """401 (no or unknown key), 403 (scope missing) or 429 (over budget), with the headers
    that go with them (``WWW-Authenticate``, ``Retry-After``)."""

    def __init__(self, message: str, *, code: str, status: int,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, code=code, status=status)
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's entry (None when keys are off) and the client address."""

    key: ApiKey | None
    address: str

    @property
    def client_id(self) -> str:
        """What budgets and quotas are kept by: the key, else the address."""
        return f"key:{self.key.id}" if self.key is not None else f"addr:{self.address}"


@dataclass
class AccessControl:
    keys: KeyRing | None
    budgets: Budgets | None
    jobs: JobOwners | None
    ui_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessControl:
        """``ConfigError`` (one line) when the keys file or the UI key is not usable."""
        keys = None
        if settings.api_keys_file is not None:
            try:
                keys = KeyRing(settings.api_keys_file)
            except KeyFileError as exc:
                raise ConfigError(f"VISEARCH_API_KEYS_FILE: {exc}") from None
        ui_key = settings.ui_api_key.get_secret_value() if settings.ui_api_key else None
        if keys is not None and ui_key is not None:
            entry = keys.lookup(ui_key)
            if entry is None or entry.scopes != ("search",):
                raise ConfigError("VISEARCH_UI_API_KEY must be an active key of the keys file "
                                  "with the search scope only (every browser gets it)")
        on = limits_enabled(settings)
        return cls(keys=keys, budgets=Budgets(settings) if on else None,
                   jobs=JobOwners(settings) if on else None, ui_key=ui_key)

    @property
    def keys_required(self) -> bool:
        return self.keys is not None

    def identify(self, presented: str | None, address: str, scopes: tuple[str, ...]) -> Caller:
        """The caller of a route that needs one of ``scopes``; ``AccessError`` 401 or 403."""
        if self.keys is None:
            return Caller(key=None, address=address)
        if not presented:
            raise AccessError(
                "this API needs a key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                code="unauthorized", status=401, headers={"WWW-Authenticate": "Bearer"})
        entry = self.keys.lookup(presented)
        if entry is None:
            raise AccessError("the API key is not valid (unknown or revoked)",
                              code="unauthorized", status=401,
                              headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if not set(scopes) & set(entry.scopes):
            need = " or ".join(repr(s) for s in scopes)
            raise AccessError(f"this key lacks the {need} scope", code="forbidden", status=403)
        return Caller(key=entry, address=address)

    async def charge(self, budget: Budget, caller: Caller, cost: int = 1) -> None:
        """Take from the caller's budget; ``AccessError`` 429 with ``Retry-After`` when spent."""
        if self.budgets is None:
            return
        wait = await self.budgets.charge(budget, caller.client_id, cost)
        if wait is not None:
            raise AccessError(
                f"too many {budget} requests; retry in {wait:.0f} s",
                code="rate_limited", status=429, headers={"Retry-After": f"{wait:.0f}"})

    def submit_job(self, caller: Caller, jobs: JobManager, spec: JobSpec) -> JobView:
        """Submit unless the caller has ``job_max_active`` jobs queued or running (blocking)."""
        if self.jobs is None:
            return jobs.submit(spec)
        return self.jobs.submit(caller.client_id, jobs.get, lambda: jobs.submit(spec))

    def close(self) -> None:
        if self.jobs is not None:
            self.jobs.close()
