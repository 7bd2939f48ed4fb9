"""The application factory: ``create_app(settings)`` builds a self-contained FastAPI app."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from visearch import __version__
from visearch.api.errors import error_response, install_error_handlers
from visearch.api.routers import images, index, jobs, search, system
from visearch.config import Settings, load_settings
from visearch.jobs.manager import build_job_manager
from visearch.runtime import Runtime

log = structlog.get_logger(__name__)
API_PREFIX = "/api/v1"
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
        svc = runtime if runtime is not None else await asyncio.to_thread(Runtime.build, cfg)
        app.state.runtime = svc
        app.state.jobs = build_job_manager(svc.settings, svc, registry=svc.metrics.registry)
        app.state.jobs.start()
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.jobs.stop)
            app.state.jobs = None
            await svc.fetcher.aclose()
            if owned:
                await asyncio.to_thread(svc.close)
            app.state.runtime = None

    app = FastAPI(
        title="visearch",
        version=__version__,
        description="Multimodal image search: text, image and combined queries over CLIP.",
        lifespan=lifespan,
    )
    app.state.runtime = None
    app.state.jobs = None
    install_error_handlers(app)
    _install_middleware(app, cfg)

    for module in (search, index, images, jobs, system):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        svc: Runtime | None = request.app.state.runtime
        body = generate_latest(svc.metrics.registry) if svc else b""
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


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    max_body = settings.max_upload_bytes * 2 + 1024 * 1024  # base64 inflates by 4/3

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            length = request.headers.get("content-length")
            is_multi = request.headers.get("content-type", "").startswith("multipart/")
            limit = max_body * settings.max_batch_files if is_multi else max_body
            if length and length.isdigit() and int(length) > limit:
                response: Response = error_response(
                    413, "too_large", f"request body over the {limit}-byte limit"
                )
            else:
                response = await call_next(request)
            elapsed = time.perf_counter() - started
            path = _route_label(request)
            svc: Runtime | None = request.app.state.runtime
            if svc is not None:
                svc.metrics.request_latency.labels(
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
