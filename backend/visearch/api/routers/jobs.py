"""Bulk indexing jobs: submit (202 at once), follow, list, cancel.

The app keeps its ``JobManager`` in ``app.state.jobs`` (Celery on RabbitMQ, or the runner
inside this process). Submissions that the queue cannot take answer 503 with a message that
says so; indexing single images does not depend on the queue.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from visearch.api.errors import ApiError
from visearch.api.schemas import ErrorBody
from visearch.jobs.manager import JobManager
from visearch.jobs.model import JobNotFoundError, JobsUnavailableError
from visearch.jobs.spec import JobRequest, JobSpecError

router = APIRouter(prefix="/jobs", tags=["jobs"])
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 403, 404, 413, 422, 503)
}


class JobFailure(BaseModel):
    item: int = Field(description="Position of the item in the job.")
    source: str | None = Field(description="The item's URL or path.")
    code: str | None
    message: str | None


class JobStatus(BaseModel):
    job_id: str
    state: str = Field(description="queued | running | completed | completed_with_errors | "
                                   "failed | cancelled")
    runner: str = Field(description="celery (RabbitMQ workers) or local (in-process)")
    source: str = Field(description="urls | folder | manifest")
    description: str
    total: int
    done: int = Field(description="Images indexed by this job.")
    failed: int = Field(description="Items that failed permanently (see failures).")
    skipped: int = Field(description="Images already indexed, or dropped by a cancel.")
    remaining: int
    progress: float
    rate: float | None = Field(description="Items per second since the job started.")
    eta_s: float | None = Field(description="Seconds to go at the current rate.")
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None = Field(description="Why the whole job failed, when it did.")


class JobDetail(JobStatus):
    failures: list[JobFailure] = Field(description="The first failed items, with reasons.")
    failures_truncated: bool = Field(description="More items failed than listed.")


class JobList(BaseModel):
    jobs: list[JobStatus]


class JobAccepted(BaseModel):
    job_id: str
    state: str
    total: int
    runner: str
    url: str


def get_jobs(request: Request) -> JobManager:
    jobs: JobManager | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise ApiError(503, "jobs_unavailable", "the job runner is not running; try again shortly")
    return jobs


JobsDep = Annotated[JobManager, Depends(get_jobs)]


def _job_id(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise ApiError(404, "not_found", f"no job with id {job_id!r}")
    return job_id


async def _call(fn: Any, *args: Any) -> Any:
    """Run a (blocking) manager call off the event loop, mapping its errors to API errors."""
    try:
        return await run_in_threadpool(fn, *args)
    except JobSpecError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    except JobNotFoundError as exc:
        raise ApiError(404, "not_found", f"no job with id {exc.args[0]!r}") from exc
    except JobsUnavailableError as exc:
        raise ApiError(503, "jobs_unavailable", str(exc)) from exc


@router.post("", status_code=202, response_model=JobAccepted, responses=ERRORS)
async def submit_job(body: JobRequest, jobs: JobsDep, request: Request) -> JSONResponse:
    """Queue a bulk job (URLs, a server-side folder, or a manifest); answers at once."""
    view = await _call(jobs.submit, body)
    url = str(request.url_for("get_job", job_id=view.job_id).path)
    return JSONResponse(
        {"job_id": view.job_id, "state": view.state, "total": view.total,
         "runner": view.runner, "url": url},
        status_code=202,
        headers={"Location": url},
    )


@router.get("", response_model=JobList, responses=ERRORS)
async def list_jobs(
    jobs: JobsDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """Recent jobs, newest first (without their failure lists)."""
    views = await _call(jobs.list, limit)
    return {"jobs": [v.to_dict(with_failures=False) for v in views]}


@router.get("/{job_id}", response_model=JobDetail, responses=ERRORS)
async def get_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """State, counts, failures with reasons, rate and ETA of one job."""
    view = await _call(jobs.get, _job_id(job_id))
    return view.to_dict()


@router.delete("/{job_id}", response_model=JobDetail, responses=ERRORS)
async def cancel_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """Cancel a queued or running job (items not yet indexed are skipped)."""
    view = await _call(jobs.cancel, _job_id(job_id))
    return view.to_dict()
