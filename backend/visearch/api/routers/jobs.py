"""Bulk indexing jobs: submit (202 at once), follow, list, cancel.

The app keeps its ``JobManager`` in ``app.state.jobs`` (Celery on RabbitMQ, or the runner
inside this process); its calls block, so they run on the runtime's executor. Submissions that
the queue cannot take answer 503 with a message that says so; indexing single images does not
depend on the queue. The jobs' errors (``JobSpecError``, ``JobNotFoundError``,
``JobsUnavailableError``) are ``VisearchError``s: the app's one handler answers them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from visearch.api.deps import (
    ACCESS_ERRORS,
    INDEX,
    IndexingCaller,
    RuntimeDep,
    run_blocking,
    writable,
)
from visearch.api.schemas import (
    ErrorBody,
    JobAccepted,
    JobDetail,
    JobList,
    JobRequest,
    JobStatus,
)
from visearch.jobs.manager import JobManager
from visearch.jobs.model import JobNotFoundError, JobsUnavailableError

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Depends(INDEX)],
                   responses=ACCESS_ERRORS)
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 403, 404, 413, 422, 503)
}


def get_jobs(request: Request) -> JobManager:
    jobs: JobManager | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise JobsUnavailableError("the job runner is not running; try again shortly")
    return jobs


JobsDep = Annotated[JobManager, Depends(get_jobs)]


def _job_id(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise JobNotFoundError.of(job_id)
    return job_id


@router.post("", status_code=202, response_model=JobAccepted, responses=ERRORS)
async def submit_job(
    body: JobRequest, jobs: JobsDep, runtime: RuntimeDep, request: Request, response: Response,
    caller: IndexingCaller,
) -> JobAccepted:
    """Queue a bulk job (URLs, a server-side folder, or a manifest); answers at once."""
    access = request.app.state.access  # at most job_max_active jobs per client
    view = await run_blocking(runtime, access.submit_job, caller, jobs, body.to_spec())
    url = str(request.url_for("get_job", job_id=view.job_id).path)
    response.headers["Location"] = url
    return JobAccepted(job_id=view.job_id, state=view.state, total=view.total,
                       runner=view.runner, url=url)


@router.get("", response_model=JobList, responses=ERRORS)
async def list_jobs(
    jobs: JobsDep, runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> JobList:
    """Recent jobs, newest first (without their failure lists)."""
    views = await run_blocking(runtime, jobs.list, limit)
    return JobList(jobs=[JobStatus.from_view(v) for v in views])


@router.get("/{job_id}", response_model=JobDetail, responses=ERRORS)
async def get_job(job_id: str, jobs: JobsDep, runtime: RuntimeDep) -> JobDetail:
    """State, counts, failures with reasons, rate and ETA of one job."""
    return JobDetail.from_view(await run_blocking(runtime, jobs.get, _job_id(job_id)))


@router.delete("/{job_id}", response_model=JobDetail, responses=ERRORS,
               dependencies=[Depends(writable)])
async def cancel_job(job_id: str, jobs: JobsDep, runtime: RuntimeDep) -> JobDetail:
    """Cancel a queued or running job (items not yet indexed are skipped)."""
    return JobDetail.from_view(await run_blocking(runtime, jobs.cancel, _job_id(job_id)))
