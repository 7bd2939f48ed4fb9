"""Service status: stats, liveness, readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from visearch import __version__
from visearch.api.deps import RuntimeDep, run_blocking
from visearch.api.schemas import HealthResponse, ModelInfo, StatsResponse, StoreInfo

router = APIRouter(tags=["system"])


@router.get("/stats", response_model=StatsResponse)
async def stats(runtime: RuntimeDep) -> StatsResponse:
    emb, store = runtime.embedder, runtime.store
    count = await run_blocking(runtime, store.count)
    runtime.metrics.points.set(count)
    return StatsResponse(
        count=count,
        model=ModelInfo(
            model_id=emb.model_id,
            requested_model=runtime.settings.model,
            dim=emb.dim,
            device=emb.device,
            fallback=emb.is_fallback,
        ),
        store=StoreInfo(backend=store.backend, collection=store.name),
        cache=runtime.cache.status(),
        uptime_s=round(time.time() - runtime.started_at, 1),
        version=__version__,
    )


@router.get("/health", response_model=HealthResponse)
async def health() -> HealthResponse:
    """Liveness: the process answers."""
    return HealthResponse(status="ok")


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: model loaded and store reachable; a lost cache only degrades."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"status": "not_ready", "checks": {"model": "loading"}}, 503)
    store_ok = await run_blocking(runtime, runtime.store.ping)
    cache = runtime.cache.status()
    checks = {
        "model": {"loaded": True, **runtime.embedder.describe()},
        "store": {"reachable": store_ok, **runtime.store.describe()},
        "cache": cache,
    }
    if runtime.embedder.is_fallback:
        checks["model"]["warning"] = (
            f"configured model {runtime.settings.model!r} could not be loaded; "
            f"running the fallback {runtime.embedder.model_id!r}"
        )
    jobs = getattr(request.app.state, "jobs", None)
    jobs_ok = True
    if jobs is not None:
        checks["jobs"] = await run_blocking(runtime, jobs.status)
        jobs_ok = checks["jobs"].get("status") == "ok"
    if not store_ok:
        return JSONResponse({"status": "not_ready", "checks": checks}, 503)
    degraded = cache.get("degraded", False) or runtime.embedder.is_fallback or not jobs_ok
    return JSONResponse({"status": "degraded" if degraded else "ready", "checks": checks})
