"""FastAPI dependencies, all in one place (``Annotated`` aliases used by the routers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from visearch.config import Settings
from visearch.services.container import Services

T = TypeVar("T")


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:  # lifespan not finished or failed
        from visearch.api.errors import ApiError

        raise ApiError(503, "not_ready", "the service is starting; try again shortly")
    return services


def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def run_blocking(services: Services, fn: Callable[..., T], *args: object) -> T:
    """Run model calls, decoding and store I/O on the service's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(services.executor, lambda: fn(*args))
