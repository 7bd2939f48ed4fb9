"""Service status: stats, liveness, readiness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from visearch import __version__
from visearch.api.deps import ACCESS_ERRORS, STATS, RuntimeDep, run_blocking
from visearch.api.schemas import HealthResponse, ReadyResponse, StatsResponse
from visearch.runtime import Runtime
from visearch.security.exposure import public_name

router = APIRouter(tags=["system"])


@router.get("/stats", response_model=StatsResponse, dependencies=[Depends(STATS)],
            responses=ACCESS_ERRORS)
async def stats(runtime: RuntimeDep) -> StatsResponse:
    count = await run_blocking(runtime, runtime.store.count)
    return StatsResponse.of(runtime, count)


@router.get("/health", response_model=HealthResponse)
async def health(request: Request) -> HealthResponse:
    """Liveness: the process answers. ``services`` is each component's last known state,
    found without any I/O (``/ready`` is the probe that checks them)."""
    runtime: Runtime | None = request.app.state.runtime
    if runtime is None:
        services = dict.fromkeys(("model", "store", "cache", "jobs"), "starting")
    else:
        services = {
            "model": "fallback" if runtime.embedder.is_fallback else "ok",
            "store": "open",
            "cache": runtime.cache.health(),
            "jobs": "running" if request.app.state.jobs is not None else "stopped",
        }
    return HealthResponse(
        status="ok", timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__, services=services,
    )


@router.get("/ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}})
async def ready(request: Request, response: Response) -> ReadyResponse:
    """Readiness: model loaded and store reachable (else 503); a lost cache only degrades.
    Public (probes send no key), so it names states only: no paths, addresses or errors."""
    runtime: Runtime | None = request.app.state.runtime
    if runtime is None:
        response.status_code = 503
        return ReadyResponse(status="not_ready", checks={"model": "loading"})
    store_ok = await run_blocking(runtime, runtime.store.ping)
    cache = runtime.cache.status()
    emb = runtime.embedder
    checks: dict[str, Any] = {
        "model": {"loaded": True, "model_id": public_name(emb.model_id), "device": emb.device,
                  "fallback": emb.is_fallback},
        "store": {"reachable": store_ok, "backend": runtime.store.backend},
        "cache": {k: cache[k] for k in ("enabled", "status", "degraded") if k in cache},
    }
    if emb.is_fallback:
        checks["model"]["warning"] = (
            f"the configured model could not be loaded; running the fallback "
            f"{public_name(emb.model_id)!r}"
        )
    jobs = getattr(request.app.state, "jobs", None)
    jobs_ok = True
    if jobs is not None:
        status = await run_blocking(runtime, jobs.status)
        checks["jobs"] = {k: v for k, v in status.items() if k != "journal"}  # a server path
        jobs_ok = checks["jobs"].get("status") == "ok"
    if not store_ok:
        response.status_code = 503
        return ReadyResponse(status="not_ready", checks=checks)
    degraded = cache.get("degraded", False) or runtime.embedder.is_fallback or not jobs_ok
    return ReadyResponse(status="degraded" if degraded else "ready", checks=checks)
