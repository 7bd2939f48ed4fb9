"""The application factory: ``create_app(settings)`` builds a self-contained FastAPI app."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from visearch import __version__
from visearch.api import API_PREFIX
from visearch.api.deps import ADMIN, run_blocking
from visearch.api.docs import install_docs
from visearch.api.errors import install_error_handlers
from visearch.api.guards import RequestGuard, SecurityHeaders
from visearch.api.routers import images, index, jobs, search, system, ui_config
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
            await live.fetcher.aclose()
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
    app.state.access = AccessControl.from_settings(cfg)
    install_error_handlers(app)
    _install_middleware(app, cfg)
    install_docs(app)

    for module in (search, index, images, jobs, system, ui_config):
        app.include_router(module.router, prefix=API_PREFIX)
    if not app.state.access.keys_required:
        _drop_security_from_schema(app)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(ADMIN)])
    async def metrics(request: Request) -> Response:
        live: Runtime | None = request.app.state.runtime
        # Off the event loop: collecting counts the store's points.
        body = await run_blocking(live, generate_latest, live.metrics.registry) if live else b""
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    ui = _ui_dir(cfg)
    if ui is not None:
        app.mount("/", StaticFiles(directory=ui, html=True), name="ui")
    return app


def _route_label(request: Request) -> str:
    """The matched route template (bounded label cardinality), prefix included."""
    route = request.scope.get("route")
    if route is None:
        return "unmatched"
    template: str = getattr(route, "path", "")
    full = request.url.path
    if template.startswith(API_PREFIX) or not full.startswith(API_PREFIX):
        return template
    return API_PREFIX + template


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


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    """Outermost first: security headers, request id and metrics, CORS (when origins are
    allowed), the request guard (Host, Origin, header count, body size and pace)."""
    app.add_middleware(RequestGuard, settings=settings)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"], max_age=600,
        )

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
            elapsed = time.perf_counter() - started
            path = _route_label(request)
            live: Runtime | None = request.app.state.runtime
            if live is not None:
                live.metrics.request_latency.labels(
                    request.method, path, str(response.status_code)
                ).observe(elapsed)
            response.headers["X-Request-ID"] = request_id
            if not path.startswith("/metrics"):
                log.info(
                    "request", method=request.method, path=request.url.path,
                    status=response.status_code, ms=round(elapsed * 1000, 1),
                )
            return response
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    app.add_middleware(SecurityHeaders)
