"""The ``visearch`` command line: the Typer app and its commands.

``index``, ``search`` and ``stats`` are written once against ``cli.backend.Backend``: the local
data dir by default, or a running server with ``--api URL`` (needed while ``visearch serve``
holds the embedded store). Heavy modules (torch, transformers, matplotlib, Celery, the server)
are imported inside the commands that use them, so ``--help`` and ``--api`` calls start fast.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from visearch.cli.backend import CliError, IndexedFile, Labeller, Query, open_backend
from visearch.cli.eval import eval_command
from visearch.cli.jobs import (
    exit_code,
    jobs_command,
    parse_metadata,
    submit_and_follow,
    worker_command,
)
from visearch.cli.keys import keys_app
from visearch.cli.output import (
    console,
    err_console,
    fail,
    print_duplicate_groups,
    print_hits,
    print_index_summary,
    print_job,
    print_stats,
    progress_bar,
    reported,
)
from visearch.cli.train import train_adapter_command
from visearch.ingest.scan import iter_image_files

#: The weight of a ``--not`` term: measured on Flickr8k, -0.5 halves the share of results
#: showing the unwanted concept and keeps the wanted one; -1 cuts more but loses some of the
#: wanted (docs/search-quality.md).
NOT_WEIGHT = 0.5


class Strategy(StrEnum):
    average_vector = "average_vector"
    best_score = "best_score"
    sum_scores = "sum_scores"
    relevance_feedback = "relevance_feedback"


class CutoffMode(StrEnum):
    off = "off"
    auto = "auto"


class SortField(StrEnum):
    relevance = "relevance"
    taken_at = "taken_at"
    indexed_at = "indexed_at"


class Order(StrEnum):
    desc = "desc"
    asc = "asc"


app = typer.Typer(help="visearch: multimodal image search.", no_args_is_help=True,
                  pretty_exceptions_enable=False)

ApiOpt = Annotated[
    str | None,
    typer.Option("--api", envvar="VISEARCH_API_URL",
                 help="Talk to a running server (e.g. http://127.0.0.1:8000) instead of the local store."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (VISEARCH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (VISEARCH_PORT).")] = None,
) -> None:
    """Start the API server (and the web UI at / when it is built)."""
    from visearch.api.app import create_app
    from visearch.api.server import serve as run_server
    from visearch.cli.local import cli_settings, open_runtime
    from visearch.config import ConfigError
    from visearch.security.access import AccessControl
    from visearch.security.exposure import check_bind

    with reported():
        settings = cli_settings(host=host, port=port)
        try:  # before the model loads: exposure, keys file, UI key
            check_bind(settings)
            AccessControl.from_settings(settings).close()
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        runtime = open_runtime(settings)
    try:
        if runtime.embedder.is_fallback:
            err_console.print(
                f"[yellow]warning:[/] {settings.model!r} could not be loaded; "
                f"serving with the offline fallback model {runtime.embedder.model_id!r}"
            )
        application = create_app(settings, runtime=runtime)
        console.print(f"visearch on http://{settings.host}:{settings.port}  (docs: /docs)")
        run_server(application, settings)
    finally:
        runtime.close()


def _count_skipped(paths: list[Path], images: list[Path]) -> int:
    total = 0
    for p in paths:
        if p.is_dir():
            total += sum(1 for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            total += 1
    return max(0, total - len(images))


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Image files and folders (recursive).")],
    api: ApiOpt = None,
    label_from_folder: Annotated[
        bool, typer.Option(help="Use each image's folder name as its label.")
    ] = False,
    metadata: Annotated[str | None, typer.Option(help="JSON object stored with every image.")] = None,
    async_: Annotated[
        bool, typer.Option("--async", help="Run as a server-side job and follow it (needs --api).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Index images; prints a summary of indexed / already indexed / skipped / failed."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    with reported():
        meta = parse_metadata(metadata)
    if async_:
        _index_as_job(api, paths, meta)
    images = list(iter_image_files(paths))
    label: Labeller | None = (lambda p: p.parent.name) if label_from_folder else None
    done: list[IndexedFile] = []
    with reported(), progress_bar("[bold]{task.description}") as bar, open_backend(api) as backend:
        task = bar.add_task("indexing", total=len(images), rate="")
        for start in range(0, len(images), backend.index_chunk):
            chunk = images[start : start + backend.index_chunk]
            done += backend.index(chunk, meta, label, lambda n: bar.advance(task, n))
            elapsed = bar.tasks[0].elapsed or 0
            if elapsed:
                bar.update(task, rate=f"{bar.tasks[0].completed / elapsed:.1f} img/s")
        if any(f.status in ("indexed", "near_duplicate") for f in done):
            backend.finish_index(lambda step: bar.update(task, description=step))
    failures = [f for f in done if f.status == "failed"]
    print_index_summary({
        "indexed": sum(f.status == "indexed" for f in done),
        "already_indexed": sum(f.status == "duplicate" for f in done),
        "near_duplicates": sum(f.status == "near_duplicate" for f in done),
        "skipped": _count_skipped(paths, images), "failed": len(failures),
        "failures": [{"file": f.filename or "?", "reason": f.message or ""} for f in failures],
    }, as_json)
    if failures:
        raise typer.Exit(2)


def _index_as_job(api: str | None, paths: list[Path], meta: dict[str, Any]) -> NoReturn:
    """Submit the paths as one server-side job (the server must see the same folders)."""
    if not api:
        fail("--async needs --api URL (the job runs on the server)")
    with reported():
        job = submit_and_follow(api, paths=[p.resolve() for p in paths], metadata=meta)
    print_job(job, console)
    raise typer.Exit(exit_code(job))


def _weighted(value: str, flag: str) -> tuple[str, float]:
    """``TEXT`` or ``TEXT@WEIGHT`` (e.g. ``"in red@0.5"``)."""
    text, sep, weight = value.rpartition("@")
    if sep:
        try:
            return text, float(weight)
        except ValueError:
            pass
    if not value.strip():
        fail(f"{flag} needs a text")
    return value, 1.0


@app.command("search")
def search_cmd(
    text: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    image: Annotated[Path | None, typer.Option("--image", "-i", help="Search by this image.")] = None,
    term: Annotated[list[str] | None, typer.Option(
        "--term", help="Another text term, TEXT or TEXT@WEIGHT (repeat).")] = None,
    not_: Annotated[list[str] | None, typer.Option(
        "--not", help=f"Push results away from this text (a term of weight -{NOT_WEIGHT:g}; "
        "repeat; --term TEXT@-1 pushes harder).")] = None,
    like: Annotated[list[str] | None, typer.Option(
        "--like", help="An indexed image id you like (relevance feedback; repeat).")] = None,
    dislike: Annotated[list[str] | None, typer.Option(
        "--dislike", help="An indexed image id you dislike (repeat).")] = None,
    strategy: Annotated[Strategy, typer.Option(
        help="How likes and dislikes refine the query.")] = Strategy.average_vector,
    diversity: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="0 off; up to 1: fewer near-identical results (MMR).")] = 0.0,
    cutoff: Annotated[CutoffMode, typer.Option(
        help="auto: stop where results stop being relevant.")] = CutoffMode.off,
    sort: Annotated[SortField, typer.Option(
        help="relevance, or a date (of the results above the cutoff).")] = SortField.relevance,
    order: Annotated[Order, typer.Option(help="Direction of a date sort.")] = Order.desc,
    collapse: Annotated[bool, typer.Option(
        "--collapse", help="One result per near-duplicate group.")] = False,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1)] = 10,
    threshold: Annotated[float | None, typer.Option(help="Minimum score.")] = None,
    filter_: Annotated[str | None, typer.Option("--filter", help='JSON, e.g. {"label": "dress"}')] = None,
    api: ApiOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search by text, an example image, weighted terms and liked/disliked images, e.g.
    visearch search "beach" --not people --like ID --dislike ID --diversity 0.3 --sort indexed_at"""
    terms = [_weighted(t, "--term") for t in term or []]
    terms += [(t, -NOT_WEIGHT) for t in not_ or []]
    if not (text or image or terms or like or dislike):
        fail("give a text query, --image PATH, --term, or --like / --dislike image ids")
    flt = None
    if filter_:
        try:
            flt = json.loads(filter_)
        except json.JSONDecodeError as exc:
            fail(f"--filter is not valid JSON: {exc}")
    if image and not image.is_file():
        fail(f"no such image: {image}")
    query = Query(text=text, image=image.read_bytes() if image else None,
                  image_name=image.name if image else "query", top_k=top_k,
                  threshold=threshold, filter=flt, terms=tuple(terms), like=tuple(like or ()),
                  dislike=tuple(dislike or ()), strategy=strategy.value, diversity=diversity,
                  cutoff=cutoff.value, sort=sort.value, order=order.value, collapse=collapse)
    with reported(), open_backend(api) as backend:
        hits = backend.search(query)
    print_hits(hits, as_json)


@app.command()
def dedup(
    distance: Annotated[float | None, typer.Option(
        min=0.0, max=0.5, help="Cosine distance of near-duplicates (default "
        "VISEARCH_NEAR_DUPLICATE_DISTANCE).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the groups as JSON here.")] = None,
    sheet: Annotated[Path | None, typer.Option(
        help="Draw a contact sheet PNG of the groups here.")] = None,
    api: ApiOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Report the groups of near-duplicate images in the index (JSON and a contact sheet)."""
    from visearch.services.dedup import DuplicateGroup, contact_sheet

    with reported(), open_backend(api) as backend:
        body = backend.duplicate_groups(distance or None)
        if sheet is not None:
            groups = [DuplicateGroup(g["original"], g["members"]) for g in body["groups"]]
            contact_sheet(groups, backend.thumbnail, sheet)
    if out is not None:
        out.write_text(json.dumps(body, indent=2) + "\n")
    print_duplicate_groups(body, as_json)
    if sheet is not None and not as_json:
        console.print(f"contact sheet: {sheet}")


@app.command()
def stats(api: ApiOpt = None, as_json: JsonOpt = False) -> None:
    """Number of images, model, store and cache (what GET /api/v1/stats answers)."""
    with reported(), open_backend(api) as backend:
        body = backend.stats()
    print_stats(body, as_json)


app.command("eval", help="Measure retrieval quality on a captions or labels dataset.")(eval_command)
app.command(
    "train-adapter", help="Train projection heads / a residual adapter on captioned images."
)(train_adapter_command)
app.command("jobs", help="List bulk indexing jobs, or show / cancel one.")(jobs_command)
app.command("worker", help="Run a Celery worker for bulk jobs (needs a broker).")(worker_command)
app.add_typer(keys_app, name="keys")


@app.callback()
def _options(
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="VISEARCH_API_KEY", show_envvar=True,
        help="API key for --api calls (prefer the variable: arguments show in ps).")] = None,
) -> None:
    """visearch: multimodal image search."""
    if api_key:  # read by cli/http.ApiClient, however deep the command builds it
        os.environ["VISEARCH_API_KEY"] = api_key


def main() -> None:  # pragma: no cover - console entry point alias
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
