"""The application factory: ``create_app(settings)`` builds a self-contained FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.gzip import GZipMiddleware

from visearch import __version__
from visearch.api import API_PREFIX
from visearch.api.context import RequestContext
from visearch.api.deps import ADMIN, run_blocking
from visearch.api.docs import install_docs
from visearch.api.errors import document_errors, install_error_handlers
from visearch.api.guards import RequestGuard, SecurityHeaders
from visearch.api.routers import images, index, jobs, library, queries, search, system, ui_config
from visearch.api.schemas import state_limits
from visearch.api.static import UiFiles
from visearch.config import Settings, load_settings
from visearch.jobs.manager import build_job_manager
from visearch.runtime import Runtime
from visearch.security.access import AccessControl

log = structlog.get_logger(__name__)
_REPO_UI = Path(__file__).resolve().parents[3] / "frontend" / "dist"


def _ui_dir(settings: Settings) -> Path | None:
    candidate = settings.static_dir or _REPO_UI
    return candidate if (candidate / "index.html").is_file() else None


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. The runtime is built at start-up unless given (tests share one model)."""
    cfg: Settings = settings or (runtime.settings if runtime else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        live = runtime if runtime is not None else await asyncio.to_thread(Runtime.build, cfg)
        app.state.runtime = live
        app.state.jobs = build_job_manager(live.settings, live, registry=live.metrics.registry)
        app.state.jobs.start()
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.jobs.stop)
            app.state.jobs = None
            if owned:
                await asyncio.to_thread(live.close)
            app.state.runtime = None
            app.state.access.close()

    app = FastAPI(
        title="visearch",
        version=__version__,
        description="Multimodal image search: text, image and combined queries over CLIP.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by install_docs, not from a CDN
        redoc_url=None,
    )
    app.state.runtime = None
    app.state.jobs = None
    app.state.draining = False  # set by the server on SIGTERM (api/server.py)
    app.state.access = AccessControl.from_settings(cfg)
    install_error_handlers(app)
    _install_middleware(app, cfg)
    install_docs(app)

    for module in (search, queries, index, library, images, jobs, system, ui_config):
        app.include_router(module.router, prefix=API_PREFIX)
    if not app.state.access.keys_required:
        _drop_security_from_schema(app)
    _schema_as_served(app, cfg)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(ADMIN)])
    async def metrics(request: Request) -> Response:
        live: Runtime | None = request.app.state.runtime
        # Off the event loop: collecting counts the store's points.
        body = await run_blocking(live, generate_latest, live.metrics.registry) if live else b""
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    ui = _ui_dir(cfg)
    if ui is not None:
        app.mount("/", UiFiles(ui), name="ui")
    return app


def _drop_security_from_schema(app: FastAPI) -> None:
    """Keys are off: the schema says no route needs one (the dependencies still run)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.get("components", {}).pop("securitySchemes", None)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    if isinstance(operation, dict):
                        operation.pop("security", None)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _schema_as_served(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI schema with the error bodies the server sends and its configured limits,
    so that clients (and the fuzzing test) see the server's real contract."""
    build = app.openapi
    done: list[dict[str, Any]] = []  # the schema is built once and cached; amend it once

    def openapi() -> dict[str, Any]:
        schema = build()
        if not any(schema is d for d in done):
            document_errors(schema)
            state_limits(schema, settings)
            done.append(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    """Outermost first: security headers, request id and metrics, CORS (when origins are
    allowed), the request guard (Host, Origin, header count, body size and pace), gzip."""
    # Innermost: JSON and the UI compressed (images, zips and precompressed files pass).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(RequestGuard, settings=settings)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"], max_age=600,
        )

    app.add_middleware(RequestContext)
    app.add_middleware(SecurityHeaders)
