"""Service status: stats, liveness, readiness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from visearch import __version__, disk
from visearch.api.deps import ACCESS_ERRORS, STATS, RuntimeDep, run_blocking, run_probe
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
    if getattr(request.app.state, "draining", False):  # SIGTERM: out of the balancer first
        response.status_code = 503
        return ReadyResponse(status="draining", checks={})
    if runtime is None:
        response.status_code = 503
        return ReadyResponse(status="not_ready", checks={"model": "loading"})
    # Every check on the probe pool: never queued behind inference or searches.
    store_ok = await run_probe(runtime, runtime.store.ping)
    cache = await run_probe(runtime, runtime.cache.status)
    emb = runtime.embedder
    checks: dict[str, Any] = {
        "model": {"loaded": True, "model_id": public_name(emb.model_id), "device": emb.device,
                  "precision": emb.precision, "warmup_s": runtime.warmup_s,
                  "fallback": emb.is_fallback},
        "store": {"reachable": store_ok, "backend": runtime.store.backend,
                  "mode": "read_only" if runtime.settings.read_only else "read_write"},
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
        status = await run_probe(runtime, jobs.status)
        checks["jobs"] = {k: v for k, v in status.items() if k != "journal"}  # a server path
        jobs_ok = checks["jobs"].get("status") == "ok"
    checks["disk"] = await run_probe(runtime, _disk_state, runtime)
    unreadable = runtime.store.unreadable_points()
    if unreadable:
        checks["store"]["unreadable_points"] = unreadable
    if not store_ok:
        response.status_code = 503
        return ReadyResponse(status="not_ready", checks=checks)
    degraded = (cache.get("degraded", False) or runtime.embedder.is_fallback or not jobs_ok
                or checks["disk"]["status"] != "ok" or unreadable > 0)
    return ReadyResponse(status="degraded" if degraded else "ready", checks=checks)


def _disk_state(runtime: Runtime) -> dict[str, Any]:
    """Whether images can be written now: a full or read-only data dir degrades (searches
    still work; writes answer 507 or 503 until it is fixed, no restart needed)."""
    files, reserve = runtime.files, runtime.settings.min_free_disk_mb * 2**20
    try:
        free = disk.free_bytes(files.root)
    except OSError:
        return {"status": "unavailable", "writable": False}
    writable = files.writable()
    status = "read_only" if not writable else "full" if free <= reserve else "ok"
    return {"status": status, "writable": writable, "free_mb": free // 2**20}
