"""FastAPI dependencies, all in one place (``Annotated`` aliases used by the routers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from visearch.config import Settings
from visearch.runtime import Runtime

T = TypeVar("T")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:  # lifespan not finished or failed
        from visearch.api.errors import ApiError

        raise ApiError(503, "not_ready", "the service is starting; try again shortly")
    return runtime


def get_settings(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Settings:
    return runtime.settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def run_blocking(runtime: Runtime, fn: Callable[..., T], *args: object) -> T:
    """Run model calls, decoding and store I/O on the service's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(runtime.executor, lambda: fn(*args))
