"""What the commands print: results on stdout (a table, or JSON with ``--json``), progress and
errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from visearch.api import API_PREFIX
from visearch.cli.backend import CliError, Hits

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """``error: message`` on stderr, exit status 1."""
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


@contextmanager
def reported() -> Iterator[None]:
    """Turn a ``CliError`` raised inside into ``fail``."""
    try:
        yield
    except CliError as exc:
        fail(str(exc))


def progress_bar(label: str, out: Console | None = None) -> Progress:
    """A bar with done/total, a ``rate`` field and the time left; ``label`` is its first
    column (a rich format string over the task)."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(), console=out or err_console,
    )


def print_index_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(data=summary)
        return
    console.print(
        f"indexed {summary['indexed']}, already indexed {summary['already_indexed']}, "
        + (f"near-duplicates {summary['near_duplicates']}, "
           if summary.get("near_duplicates") else "")
        + f"skipped {summary['skipped']} non-image files, failed {summary['failed']}"
    )
    for failure in summary["failures"][:20]:
        err_console.print(f"  [red]failed[/] {failure['file']}: {failure['reason']}")


def print_hits(hits: Hits, as_json: bool) -> None:
    cutoff = hits.cutoff or {}
    if as_json:
        console.print_json(data={"results": [
            {"image_id": h.image_id, "score": h.score, "filename": h.filename, "label": h.label,
             "taken_at": h.taken_at, "duplicate_of": h.duplicate_of}
            for h in hits.results], "search_time_ms": hits.search_time_ms, "cutoff": cutoff})
        return
    title = f"{len(hits.results)} results in {hits.search_time_ms:.1f} ms"
    if cutoff.get("method") not in (None, "off"):
        title += f" ({cutoff['cut']} cut below {cutoff['method']} cutoff {cutoff['score']})" \
            if cutoff.get("score") is not None else f" (cutoff {cutoff['method']})"
    table = Table(title=title)
    dated = any(h.taken_at for h in hits.results)
    for col in ("#", "score", "file", "label", *(["taken"] if dated else []), "image id"):
        table.add_column(col)
    for n, h in enumerate(hits.results, 1):
        taken = [(h.taken_at or "")[:19]] if dated else []
        table.add_row(str(n), f"{h.score:.4f}", h.filename or "", h.label or "", *taken,
                      h.image_id[:16])
    console.print(table)


def print_duplicate_groups(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(data=body)
        return
    groups = body["groups"]
    table = Table(title=f"{len(groups)} groups of near-duplicates among {body['images']} images "
                        f"(distance {body['distance']})")
    for col in ("group", "original", "copies"):
        table.add_column(col)
    for n, g in enumerate(groups, 1):
        first = g["members"][0]
        copies = ", ".join(f"{m.get('filename') or m['image_id'][:16]} ({m['similarity']:.3f})"
                           for m in g["members"][1:])
        table.add_row(str(n), first.get("filename") or first["image_id"][:16], copies)
    console.print(table)


def print_stats(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(data=body)
        return
    table = Table(show_header=False)
    for key, value in body.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


def print_job(job: dict[str, Any], out: Console, max_failures: int = 20) -> None:
    out.print(
        f"job {job['job_id']} {job['state']}: {job['done']} indexed, {job['skipped']} skipped, "
        f"{job['failed']} failed of {job['total']}"
        + (f" ({job['rate']:.1f} img/s)" if job.get("rate") else "")
    )
    if job.get("error"):
        out.print(f"  [red]error[/] {job['error']}")
    for f in (job.get("failures") or [])[:max_failures]:
        out.print(f"  [red]failed[/] {f.get('source')}: {f.get('code')}: {f.get('message')}")
    if job.get("failures_truncated"):
        out.print(f"  ... more failures: GET {API_PREFIX}/jobs/<id> lists the first ones")


def print_jobs(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(data=body)
        return
    table = Table(title=f"{len(body['jobs'])} jobs")
    for col in ("job id", "state", "done", "skipped", "failed", "total", "source", "created"):
        table.add_column(col)
    for j in body["jobs"]:
        table.add_row(j["job_id"], j["state"], str(j["done"]), str(j["skipped"]),
                      str(j["failed"]), str(j["total"]), j["description"][:40],
                      j["created_at"] or "")
    console.print(table)
