"""Service status: stats, liveness, readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from visearch import __version__
from visearch.api.deps import ServicesDep, run_blocking
from visearch.api.schemas import HealthResponse, ModelInfo, StatsResponse, StoreInfo

router = APIRouter(tags=["system"])


@router.get("/stats", response_model=StatsResponse)
async def stats(services: ServicesDep) -> StatsResponse:
    emb, store = services.embedder, services.store
    count = await run_blocking(services, store.count)
    services.metrics.points.set(count)
    return StatsResponse(
        count=count,
        model=ModelInfo(
            model_id=emb.model_id,
            requested_model=services.settings.model,
            dim=emb.dim,
            device=emb.device,
            fallback=emb.is_fallback,
        ),
        store=StoreInfo(backend=store.backend, collection=store.name),
        cache=services.cache.status(),
        uptime_s=round(time.time() - services.started_at, 1),
        version=__version__,
    )


@router.get("/health", response_model=HealthResponse)
async def health() -> HealthResponse:
    """Liveness: the process answers."""
    return HealthResponse(status="ok")


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: model loaded and store reachable; a lost cache only degrades."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return JSONResponse({"status": "not_ready", "checks": {"model": "loading"}}, 503)
    store_ok = await run_blocking(services, services.store.ping)
    cache = services.cache.status()
    checks = {
        "model": {"loaded": True, **services.embedder.describe()},
        "store": {"reachable": store_ok, **services.store.describe()},
        "cache": cache,
    }
    if services.embedder.is_fallback:
        checks["model"]["warning"] = (
            f"configured model {services.settings.model!r} could not be loaded; "
            f"running the fallback {services.embedder.model_id!r}"
        )
    jobs = getattr(request.app.state, "jobs", None)
    jobs_ok = True
    if jobs is not None:
        checks["jobs"] = await run_blocking(services, jobs.status)
        jobs_ok = checks["jobs"].get("status") == "ok"
    if not store_ok:
        return JSONResponse({"status": "not_ready", "checks": checks}, 503)
    degraded = cache.get("degraded", False) or services.embedder.is_fallback or not jobs_ok
    return JSONResponse({"status": "degraded" if degraded else "ready", "checks": checks})
