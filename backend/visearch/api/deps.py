"""FastAPI dependencies, all in one place (``Annotated`` aliases used by the routers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

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


async def run_blocking(runtime: Runtime, fn: Callable[..., T], *args: object) -> T:
    """Run model calls, decoding and store I/O on the service's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(runtime.executor, lambda: fn(*args))


# -- access: API keys with scopes, budgets per client ------------------------------------

_BEARER = HTTPBearer(auto_error=False, scheme_name="bearerKey",
                     description="An API key: `Authorization: Bearer KEY`.")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKeyHeader",
                        description="An API key: `X-API-Key: KEY`.")


def access(*scopes: str, budget: Budget | None = None) -> Callable[..., Awaitable[Caller]]:
    """A dependency that admits callers whose key has one of ``scopes`` (anyone while keys
    are off), charging ``budget`` when given. The two security schemes (either one will do)
    put the scopes into the OpenAPI schema."""
    needed = list(scopes)

    async def caller(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Security(_BEARER, scopes=needed),
        api_key: str | None = Security(_API_KEY, scopes=needed),
    ) -> Caller:
        control: AccessControl = request.app.state.access
        address = request.client.host if request.client else "unknown"
        presented = bearer.credentials if bearer is not None else api_key
        who = control.identify(presented, address, tuple(scopes))
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
#: Changes, charged to the indexing budget.
INDEXING = access("index", budget="index")
#: /stats: read by the web UI (search keys) and by operators (admin keys).
STATS = access("search", "admin")
#: /metrics.
ADMIN = access("admin")
IndexCaller = Annotated[Caller, Depends(INDEX)]
#: The answers of a route behind ``access`` (for the OpenAPI schema).
ACCESS_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (401, 403, 429)
}
IndexingCaller = Annotated[Caller, Depends(INDEXING)]
