"""FastAPI dependencies, all in one place (``Annotated`` aliases used by the routers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from visearch.api.schemas import ErrorBody
from visearch.errors import VisearchError
from visearch.runtime import Runtime
from visearch.security.access import AccessControl, Caller
from visearch.security.ratelimit import Budget

T = TypeVar("T")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:  # lifespan not finished or failed
        raise VisearchError(
            "the service is starting; try again shortly", code="not_ready", status=503
        )
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class ReadOnlyError(VisearchError, code="read_only", status=503):
    """A write reached a replica that serves a read-only copy of the index."""


def writable(request: Request) -> None:
    """Refuse changes on a read-only replica (``VISEARCH_READ_ONLY``): the one check every
    write route has, through ``INDEXING`` or ``Depends(writable)``."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is not None and runtime.settings.read_only:
        raise ReadOnlyError(
            "this replica serves a read-only copy of the index (VISEARCH_READ_ONLY): searches "
            "work here; index, delete and run jobs where the index is built, then give the "
            "replicas the new copy"
        )


async def run_blocking(runtime: Runtime, fn: Callable[..., T], *args: object) -> T:
    """Run model calls, decoding and store I/O on the service's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(runtime.executor, lambda: fn(*args))


async def run_fast(runtime: Runtime, fn: Callable[..., T], *args: object) -> T:
    """Run short blocking work that never waits for the model (cache lookups, searches by a
    stored id) on its own small pool, so it is never queued behind inference."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(runtime.fast_executor, lambda: fn(*args))


async def run_probe(runtime: Runtime, fn: Callable[..., T], *args: object) -> T:
    """Run a readiness check on the probe pool, which nothing else uses: a busy replica
    still answers its health check in time (HAProxy marks it down after 3 missed ones)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(runtime.probe_executor, lambda: fn(*args))


# -- access: API keys with scopes, budgets per client ------------------------------------

_BEARER = HTTPBearer(auto_error=False, scheme_name="bearerKey",
                     description="An API key: `Authorization: Bearer KEY`.")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKeyHeader",
                        description="An API key: `X-API-Key: KEY`.")
#: Set by ``POST /session``: lets a browser's <img> tags (which cannot send headers) and its
#: other requests carry the key. HttpOnly and SameSite=Strict.
SESSION_COOKIE = "visearch_key"
_COOKIE = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="sessionCookie",
                       description="An API key in the cookie that `POST /api/v1/session` sets.")


def access(*scopes: str, budget: Budget | None = None,
           write: bool = False) -> Callable[..., Awaitable[Caller]]:
    """A dependency that admits callers whose key has one of ``scopes`` (anyone while keys
    are off), charging ``budget`` when given; with ``write``, a read-only replica refuses
    the caller it admitted (before charging). The security schemes (any one will do: the
    header, ``X-API-Key`` or the session cookie) put the scopes into the OpenAPI schema."""
    needed = list(scopes)

    async def caller(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Security(_BEARER, scopes=needed),
        api_key: str | None = Security(_API_KEY, scopes=needed),
        cookie: str | None = Security(_COOKIE, scopes=needed),
    ) -> Caller:
        control: AccessControl = request.app.state.access
        address = request.client.host if request.client else "unknown"
        presented = bearer.credentials if bearer is not None else api_key or cookie
        who = control.identify(presented, address, tuple(scopes))
        if write:
            writable(request)
        if budget is not None:
            await control.charge(budget, who)
        return who

    return caller


#: Read: search, stored images and their payloads.
SEARCH = access("search")
#: Write: indexing and deleting images, jobs.
INDEX = access("index")
#: Searches, charged to the search budget.
SEARCHING = access("search", budget="search")
#: Changes, charged to the indexing budget (refused by a read-only replica).
INDEXING = access("index", budget="index", write=True)
#: /stats: read by the web UI (search keys) and by operators (admin keys).
STATS = access("search", "admin")
#: /metrics.
ADMIN = access("admin")
#: Any valid key (``POST /session``).
ANY_KEY = access("search", "index", "admin")
AnyCaller = Annotated[Caller, Depends(ANY_KEY)]
IndexCaller = Annotated[Caller, Depends(INDEX)]
#: The answers of a route behind ``access`` (for the OpenAPI schema).
ACCESS_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (401, 403, 429)
}
IndexingCaller = Annotated[Caller, Depends(INDEXING)]
