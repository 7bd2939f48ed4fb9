"""Command-line side of bulk jobs: submit and follow with a progress bar (``index --async``),
``visearch jobs`` (list, show, follow, cancel) and ``visearch worker``. Everything except
``worker_command`` talks to a running server."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from visearch.cli.backend import CliError
from visearch.cli.output import console, err_console, print_job, print_jobs, progress_bar, reported
from visearch.ingest.scan import iter_image_files

if TYPE_CHECKING:
    from visearch.cli.http import ApiClient

DEFAULT_API = "http://127.0.0.1:8000"
ACTIVE = ("queued", "running")


def _api(api_url: str) -> ApiClient:
    from visearch.cli.http import ApiClient  # httpx only for commands that call a server

    return ApiClient(api_url)


def job_request(
    paths: Sequence[Path] = (),
    urls: Sequence[str] = (),
    manifest: Path | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``POST /jobs`` body for CLI arguments.

    One folder becomes a folder job (the server scans it); files or several folders become an
    inline manifest of absolute paths (the server must see the same paths). Server-side paths
    must lie under the server's ``VISEARCH_ALLOWED_ROOTS``.
    """
    given = sum(bool(x) for x in (paths, urls, manifest))
    if given != 1:
        raise CliError("give image paths, --url URLs, or --manifest FILE (one of them)")
    body: dict[str, Any] = {}
    if urls:
        body["urls"] = list(urls)
    elif manifest is not None:
        body["manifest"] = str(manifest.expanduser().resolve())
    elif len(paths) == 1 and paths[0].is_dir():
        body["folder"] = str(paths[0].expanduser().resolve())
    else:
        files = [str(p.resolve()) for p in iter_image_files(paths)]
        if not files:
            raise CliError("no image files found in the given paths")
        body["manifest"] = [{"path": f} for f in files]
    if metadata:
        body["metadata"] = metadata
    return body


def parse_metadata(text: str | None) -> dict[str, Any]:
    """``--metadata`` JSON object, or a ``CliError``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--metadata is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CliError("--metadata must be a JSON object")
    return value


def submit_job(api_url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit a job; the 202 answer (``job_id``, ``state``, ``total``, ...)."""
    with _api(api_url) as client:
        accepted: dict[str, Any] = client.call("POST", "/jobs", json=body)
        return accepted


def follow_job(api_url: str, job_id: str, out: Console | None = None,
               poll_s: float = 0.5) -> dict[str, Any]:
    """Show a progress bar until the job ends; its final state."""
    bar = progress_bar("[bold]job {task.fields[short]}[/] {task.fields[state]}", out)
    with _api(api_url) as client, bar:
        job: dict[str, Any] = client.call("GET", f"/jobs/{job_id}")
        task = bar.add_task("job", total=job["total"], short=job_id[:8], state=job["state"],
                            rate="")
        while True:
            processed = job["done"] + job["failed"] + job["skipped"]
            rate = f"{job['rate']:.1f} img/s" if job.get("rate") else ""
            bar.update(task, completed=processed, state=job["state"], rate=rate)
            if job["state"] not in ACTIVE:
                return job
            time.sleep(poll_s)
            job = client.call("GET", f"/jobs/{job_id}")


def exit_code(job: dict[str, Any]) -> int:
    """0 all good, 2 some items failed, 1 the job failed or was cancelled."""
    if job["state"] == "completed":
        return 0
    if job["state"] == "completed_with_errors":
        return 2
    return 1


def submit_and_follow(
    api_url: str,
    paths: Sequence[Path] = (),
    urls: Sequence[str] = (),
    manifest: Path | None = None,
    metadata: dict[str, Any] | None = None,
    follow: bool = True,
    out: Console | None = None,
) -> dict[str, Any]:
    """``visearch index --async``: submit, then follow with a progress bar (unless not
    ``follow``); returns the last job state seen. Raises ``CliError``."""
    out = out or err_console
    accepted = submit_job(api_url, job_request(paths, urls, manifest, metadata))
    out.print(f"job {accepted['job_id']} accepted: {accepted['total']} images "
              f"({accepted['runner']} runner)")
    if not follow:
        return accepted
    return follow_job(api_url, accepted["job_id"], out)


# -- typer commands ----------------------------------------------------------------------

ApiOption = Annotated[
    str, typer.Option("--api", envvar="VISEARCH_API_URL", help="URL of a running server.")
]


def jobs_command(
    job_id: Annotated[str | None, typer.Argument(help="Show (or act on) this job.")] = None,
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancel the job.")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow until it ends.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Jobs to list.")] = 20,
    api: ApiOption = DEFAULT_API,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List bulk indexing jobs, or show, follow or cancel one."""
    with reported():
        if job_id is None:
            if cancel or follow:
                raise CliError("--cancel and --follow need a job id")
            with _api(api) as client:
                print_jobs(client.call("GET", "/jobs", params={"limit": limit}), as_json)
            return
        with _api(api) as client:
            job = client.call("DELETE" if cancel else "GET", f"/jobs/{job_id}")
        if follow and job["state"] in ACTIVE:
            job = follow_job(api, job_id, err_console)
    if as_json:
        console.print_json(data=job)
    else:
        print_job(job, console)


def worker_command() -> None:
    """Run a job worker: consume batches from RabbitMQ (needs VISEARCH_BROKER_URL,
    VISEARCH_REDIS_URL and VISEARCH_STORE=qdrant)."""
    from visearch.cli.local import cli_settings
    from visearch.config import ConfigError
    from visearch.jobs.celery.tasks import run_worker

    with reported():
        settings = cli_settings()
        try:
            run_worker(settings)
        except ConfigError as exc:  # no broker, no Redis, or a store workers cannot share
            raise CliError(str(exc)) from None
