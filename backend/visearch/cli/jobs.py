"""Command-line side of jobs: submit and follow with a progress bar, list, show, cancel,
and ``visearch worker``. Everything except ``worker_command`` talks to a running server."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from visearch.ingest.scan import iter_image_files

DEFAULT_API = "http://127.0.0.1:8000"
ACTIVE = ("queued", "running")


class JobClientError(RuntimeError):
    """The API refused or could not be reached; the message is for the user."""


def _client(api_url: str) -> httpx.Client:
    return httpx.Client(base_url=api_url.rstrip("/"), timeout=httpx.Timeout(60.0, connect=5.0))


def _call(client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    try:
        resp = client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        raise JobClientError(f"cannot reach the API at {client.base_url}: {exc}") from exc
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code >= 400:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        raise JobClientError(
            f"{resp.status_code} {err.get('code', '')}: {err.get('message', resp.text[:300])}"
        )
    return body


def job_request(
    paths: Sequence[Path] = (),
    urls: Sequence[str] = (),
    manifest: Path | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``POST /api/v1/jobs`` body for CLI arguments.

    One folder becomes a folder job (the server scans it); files or several folders become an
    inline manifest of absolute paths (the server must see the same paths). Server-side paths
    must lie under the server's ``VISEARCH_ALLOWED_ROOTS``.
    """
    given = sum(bool(x) for x in (paths, urls, manifest))
    if given != 1:
        raise JobClientError("give image paths, --url URLs, or --manifest FILE (one of them)")
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
            raise JobClientError("no image files found in the given paths")
        body["manifest"] = [{"path": f} for f in files]
    if metadata:
        body["metadata"] = metadata
    return body


def submit_job(api_url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit a job; the 202 answer (``job_id``, ``state``, ``total``, ...)."""
    with _client(api_url) as client:
        return _call(client, "POST", "/api/v1/jobs", json=body)


def follow_job(api_url: str, job_id: str, console: Console | None = None,
               poll_s: float = 0.5) -> dict[str, Any]:
    """Show a progress bar until the job ends; its final state."""
    console = console or Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]job {task.fields[short]}[/] {task.fields[state]}"), BarColumn(),
        MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
        console=console,
    )
    with _client(api_url) as client, progress:
        job = _call(client, "GET", f"/api/v1/jobs/{job_id}")
        task = progress.add_task("job", total=job["total"], short=job_id[:8],
                                 state=job["state"], rate="")
        while True:
            processed = job["done"] + job["failed"] + job["skipped"]
            rate = f"{job['rate']:.1f} img/s" if job.get("rate") else ""
            progress.update(task, completed=processed, state=job["state"], rate=rate)
            if job["state"] not in ACTIVE:
                return job
            time.sleep(poll_s)
            job = _call(client, "GET", f"/api/v1/jobs/{job_id}")


def print_job(job: dict[str, Any], console: Console, max_failures: int = 20) -> None:
    console.print(
        f"job {job['job_id']} {job['state']}: {job['done']} indexed, {job['skipped']} skipped, "
        f"{job['failed']} failed of {job['total']}"
        + (f" ({job['rate']:.1f} img/s)" if job.get("rate") else "")
    )
    if job.get("error"):
        console.print(f"  [red]error[/] {job['error']}")
    for f in (job.get("failures") or [])[:max_failures]:
        console.print(f"  [red]failed[/] {f.get('source')}: {f.get('code')}: {f.get('message')}")
    if job.get("failures_truncated"):
        console.print("  ... more failures: GET /api/v1/jobs/<id> lists the first ones")


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
    console: Console | None = None,
) -> dict[str, Any]:
    """``visearch index --async``: submit, then follow with a progress bar (unless not
    ``follow``); returns the last job state seen. Raises ``JobClientError``."""
    console = console or Console(stderr=True)
    accepted = submit_job(api_url, job_request(paths, urls, manifest, metadata))
    console.print(f"job {accepted['job_id']} accepted: {accepted['total']} images "
                  f"({accepted['runner']} runner)")
    if not follow:
        return accepted
    return follow_job(api_url, accepted["job_id"], console)


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
    out = Console()
    err = Console(stderr=True)
    try:
        if job_id is None:
            if cancel or follow:
                raise JobClientError("--cancel and --follow need a job id")
            with _client(api) as client:
                body = _call(client, "GET", "/api/v1/jobs", params={"limit": limit})
            if as_json:
                out.print_json(data=body)
                return
            table = Table(title=f"{len(body['jobs'])} jobs")
            for col in ("job id", "state", "done", "skipped", "failed", "total", "source",
                        "created"):
                table.add_column(col)
            for j in body["jobs"]:
                table.add_row(j["job_id"], j["state"], str(j["done"]), str(j["skipped"]),
                              str(j["failed"]), str(j["total"]), j["description"][:40],
                              j["created_at"] or "")
            out.print(table)
            return
        with _client(api) as client:
            method = "DELETE" if cancel else "GET"
            job = _call(client, method, f"/api/v1/jobs/{job_id}")
        if follow and job["state"] in ACTIVE:
            job = follow_job(api, job_id, err)
    except JobClientError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        out.print_json(data=job)
    else:
        print_job(job, out)


def worker_command() -> None:
    """Run a job worker: consume batches from RabbitMQ (needs VISEARCH_BROKER_URL,
    VISEARCH_REDIS_URL and VISEARCH_STORE=qdrant)."""
    from visearch.config import ConfigError, load_settings
    from visearch.jobs.celery.tasks import run_worker
    from visearch.logs import configure_logging

    err = Console(stderr=True)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        run_worker(settings)
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None


def parse_metadata(text: str | None) -> dict[str, Any]:
    """``--metadata`` JSON object, or a ``JobClientError``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobClientError(f"--metadata is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise JobClientError("--metadata must be a JSON object")
    return value
