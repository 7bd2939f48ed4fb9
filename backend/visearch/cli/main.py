"""The ``visearch`` command line.

``index``, ``search`` and ``stats`` work on the local data dir by default, or against a running
server with ``--api URL`` (needed while ``visearch serve`` holds the embedded store).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from visearch.config import ConfigError, Settings, load_settings
from visearch.ingest.decode import ImageError, decode_image
from visearch.ingest.scan import iter_image_files
from visearch.logs import configure_logging
from visearch.models.base import ModelLoadError
from visearch.runtime import Runtime
from visearch.services.search import QueryError, SearchQuery
from visearch.store.base import FilterError, StoreError

app = typer.Typer(help="visearch: multimodal image search.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)

ApiOpt = Annotated[
    str | None,
    typer.Option("--api", envvar="VISEARCH_API_URL",
                 help="Talk to a running server (e.g. http://127.0.0.1:8000) instead of the local store."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        fail(str(exc))
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def local_runtime(settings: Settings) -> Iterator[Runtime]:
    """Open the local model and store, turning start-up failures into one clear line."""
    try:
        runtime = Runtime.build(settings)
    except ModelLoadError as exc:
        fail(str(exc))
    except StoreError as exc:
        hint = ""
        if "in use" in str(exc) or "lock" in str(exc):
            hint = " (is `visearch serve` running? then pass --api http://127.0.0.1:8000)"
        fail(f"{exc}{hint}")
    try:
        yield runtime
    finally:
        runtime.close()


def _api_client(api: str) -> httpx.Client:
    return httpx.Client(base_url=api.rstrip("/"), timeout=httpx.Timeout(60.0, connect=5.0))


def _api_call(fn: Callable[[], httpx.Response]) -> Any:
    try:
        resp = fn()
    except httpx.HTTPError as exc:
        fail(f"cannot reach the API: {exc}")
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code >= 400 and "results" not in body:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        fail(f"{resp.status_code} {err.get('code', '')}: {err.get('message', resp.text[:200])}")
    return body


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err_console,
    )


# -- serve ---------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (VISEARCH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (VISEARCH_PORT).")] = None,
) -> None:
    """Start the API server (and the web UI at / when it is built)."""
    import uvicorn

    from visearch.api.app import create_app

    settings = _settings(host=host, port=port)
    with local_runtime(settings) as runtime:
        if runtime.embedder.is_fallback:
            err_console.print(
                f"[yellow]warning:[/] {settings.model!r} could not be loaded; "
                f"serving with the offline fallback model {runtime.embedder.model_id!r}"
            )
        application = create_app(settings, runtime=runtime)
        console.print(f"visearch on http://{settings.host}:{settings.port}  (docs: /docs)")
        uvicorn.run(application, host=settings.host, port=settings.port, log_config=None,
                    access_log=False)


# -- index ---------------------------------------------------------------------------------


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
    meta: dict[str, Any] = {}
    if metadata:
        try:
            meta = json.loads(metadata)
        except json.JSONDecodeError as exc:
            fail(f"--metadata is not valid JSON: {exc}")
    if async_:
        _index_as_job(api, paths, meta)
    images = list(iter_image_files(paths))
    skipped = _count_skipped(paths, images)
    label: Callable[[Path], str | None] | None = (lambda p: p.parent.name) if label_from_folder else None
    counts = {"indexed": 0, "duplicate": 0, "failed": 0}
    failures: list[tuple[str, str]] = []

    def record(statuses: list[tuple[str, str | None, str | None]]) -> None:
        for status, name, message in statuses:
            counts[status] += 1
            if status == "failed":
                failures.append((name or "?", message or ""))

    with _progress() as bar:
        task = bar.add_task("indexing", total=len(images), rate="")
        if api:
            _index_via_api(api, images, meta, label, record, lambda n: bar.advance(task, n))
        else:
            settings = _settings()
            with local_runtime(settings) as runtime:
                for start in range(0, len(images), settings.batch_size * 4):
                    chunk = images[start : start + settings.batch_size * 4]
                    results = runtime.indexer.index_files(
                        chunk, metadata=lambda _: meta, label=label,
                        progress=lambda n: bar.advance(task, n),
                    )
                    record([(r.status, r.filename, r.error.message if r.error else None)
                            for r in results])
                    elapsed = bar.tasks[0].elapsed or 0
                    if elapsed:
                        bar.update(task, rate=f"{bar.tasks[0].completed / elapsed:.1f} img/s")
                if counts["indexed"]:
                    # Builds the HNSW graph once, after the bulk load; it blocks the process,
                    # which is fine here and the reason the server never does it mid-traffic.
                    bar.update(task, description="building index")
                    runtime.store.optimize()
    summary = {"indexed": counts["indexed"], "already_indexed": counts["duplicate"],
               "skipped": skipped, "failed": counts["failed"],
               "failures": [{"file": f, "reason": r} for f, r in failures]}
    if as_json:
        console.print_json(data=summary)
    else:
        console.print(
            f"indexed {summary['indexed']}, already indexed {summary['already_indexed']}, "
            f"skipped {skipped} non-image files, failed {summary['failed']}"
        )
        for name, reason in failures[:20]:
            err_console.print(f"  [red]failed[/] {name}: {reason}")
    if counts["failed"]:
        raise typer.Exit(2)


def _index_as_job(api: str | None, paths: list[Path], meta: dict[str, Any]) -> NoReturn:
    """Submit the paths as one server-side job (the server must see the same folders)."""
    from visearch.cli.jobs import JobClientError, exit_code, print_job, submit_and_follow

    if not api:
        fail("--async needs --api URL (the job runs on the server)")
    try:
        job = submit_and_follow(api, paths=[p.resolve() for p in paths], metadata=meta)
    except JobClientError as exc:
        fail(str(exc))
    print_job(job, console)
    raise typer.Exit(exit_code(job))


def _index_via_api(
    api: str,
    images: list[Path],
    meta: dict[str, Any],
    label: Callable[[Path], str | None] | None,
    record: Callable[[list[tuple[str, str | None, str | None]]], None],
    advance: Callable[[int], None],
) -> None:
    with _api_client(api) as client:
        for start in range(0, len(images), 16):
            chunk = images[start : start + 16]
            groups: dict[str | None, list[Path]] = {}
            for p in chunk:
                groups.setdefault(label(p) if label else None, []).append(p)
            for lab, group in groups.items():
                files = [("files", (p.name, p.read_bytes())) for p in group]
                data = {"metadata": json.dumps(meta)}
                if lab:
                    data["label"] = lab
                body = _api_call(partial(client.post, "/api/v1/index/upload", files=files, data=data))
                record([(r["status"], r.get("filename"),
                         (r.get("error") or {}).get("message")) for r in body["results"]])
            advance(len(chunk))


# -- search --------------------------------------------------------------------------------


@app.command("search")
def search_cmd(
    text: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    image: Annotated[Path | None, typer.Option("--image", "-i", help="Search by this image.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1)] = 10,
    threshold: Annotated[float | None, typer.Option(help="Minimum score.")] = None,
    filter_: Annotated[str | None, typer.Option("--filter", help='JSON, e.g. {"label": "dress"}')] = None,
    api: ApiOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search by text, by an example image, or both."""
    if not text and not image:
        fail("give a text query, --image PATH, or both")
    flt = None
    if filter_:
        try:
            flt = json.loads(filter_)
        except json.JSONDecodeError as exc:
            fail(f"--filter is not valid JSON: {exc}")
    data = None
    if image:
        if not image.is_file():
            fail(f"no such image: {image}")
        data = image.read_bytes()
    if api:
        with _api_client(api) as client:
            if data is not None:
                form = {"top_k": str(top_k), "text": text or "", "filter": json.dumps(flt) if flt else ""}
                if threshold is not None:
                    form["threshold"] = str(threshold)
                form = {k: v for k, v in form.items() if v}
                body = _api_call(lambda: client.post(
                    "/api/v1/search/image", files={"file": (image.name, data)}, data=form))  # type: ignore[union-attr]
            else:
                body = _api_call(lambda: client.post("/api/v1/search", json={
                    "text": text, "top_k": top_k, "threshold": threshold, "filter": flt}))
        rows = [(r["image_id"], r["score"], r.get("filename"), r.get("label"))
                for r in body["results"]]
        took = body["search_time_ms"]
    else:
        settings = _settings()
        with local_runtime(settings) as runtime:
            try:
                pil = None
                if data is not None:
                    pil = decode_image(data, max_bytes=settings.max_upload_bytes,
                                       max_pixels=settings.max_pixels).image
                outcome = runtime.searcher.search(SearchQuery(
                    text=text, image=pil, top_k=top_k, threshold=threshold, flt=flt))
            except (ImageError, QueryError) as exc:
                fail(exc.message)
            except FilterError as exc:
                fail(str(exc))
            rows = [(p.id, p.score, p.payload.get("filename"), p.payload.get("label"))
                    for p in outcome.results]
            took = outcome.search_time_ms
    if as_json:
        console.print_json(data={"results": [
            {"image_id": i, "score": s, "filename": f, "label": lab} for i, s, f, lab in rows],
            "search_time_ms": took})
        return
    table = Table(title=f"{len(rows)} results in {took:.1f} ms")
    for col in ("#", "score", "file", "label", "image id"):
        table.add_column(col)
    for n, (i, s, f, lab) in enumerate(rows, 1):
        table.add_row(str(n), f"{s:.4f}", f or "", lab or "", i[:16])
    console.print(table)


# -- stats ---------------------------------------------------------------------------------


@app.command()
def stats(api: ApiOpt = None, as_json: JsonOpt = False) -> None:
    """Number of images, model, store."""
    if api:
        with _api_client(api) as client:
            body = _api_call(lambda: client.get("/api/v1/stats"))
    else:
        settings = _settings()
        with local_runtime(settings) as runtime:
            body = {"count": runtime.store.count(), "model": runtime.embedder.describe(),
                    "store": runtime.store.describe(), "data_dir": str(settings.data_dir)}
    if as_json:
        console.print_json(data=body)
        return
    table = Table(show_header=False)
    for key, value in body.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


def _register_subcommands() -> None:
    """Commands that live with their own packages."""
    from visearch.cli.jobs import jobs_command, worker_command
    from visearch.eval.cli import eval_command
    from visearch.training.cli import train_adapter_command

    app.command("eval", help="Measure retrieval quality on a captions or labels dataset.")(
        eval_command
    )
    app.command(
        "train-adapter", help="Train projection heads / a residual adapter on captioned images."
    )(train_adapter_command)
    app.command("jobs", help="List bulk indexing jobs, or show / cancel one.")(jobs_command)
    app.command("worker", help="Run a Celery worker for bulk jobs (needs a broker).")(
        worker_command
    )


_register_subcommands()


def main() -> None:  # pragma: no cover - console entry point alias
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
