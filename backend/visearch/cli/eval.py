"""``visearch eval``: retrieval quality of one or more models on a captions or labels dataset.

The evaluation (numpy, the model, matplotlib for the plots) is imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table

    from visearch.eval.runner import EvalRun

#: ``visearch.eval.tasks.TASKS``, spelt out so that ``--help`` need not import the evaluation
#: (a test keeps the two equal).
TASK_NAMES = ("text-image", "image-text", "image-image", "class-prompt")


def _split_models(values: list[str] | None) -> list[str]:
    """``--compare a --compare b`` and ``--compare a,b`` both name two models."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def summary_tables(run: EvalRun) -> list[Table]:
    """One rich table per task: every model and the random baseline."""
    from rich import box
    from rich.table import Table

    from visearch.eval.report import columns_for, format_value, rows_for

    tables = []
    for task in run.data.tasks:
        cols = columns_for(run, task)
        rows = rows_for(run, task)
        first = rows[0][1]
        table = Table(title=f"{task}: {first.n_queries} queries, gallery {first.gallery_size}",
                      box=box.SIMPLE_HEAD)
        table.add_column("model", no_wrap=True)
        for _, title in cols:
            table.add_column(title, justify="right")
        for label, res in rows:
            table.add_row(label, *(format_value(k, res.metrics.get(k, float("nan")))
                                   for k, _ in cols))
        tables.append(table)
    return tables


def eval_command(
    dataset: Annotated[Path, typer.Argument(
        help="captions.jsonl, labels.jsonl, a folder holding one of them, or a folder with "
        "one subfolder of images per class.")],
    split: Annotated[str | None, typer.Option(
        help="Only records of this split (e.g. dev, validation).")] = None,
    gallery_split: Annotated[str | None, typer.Option(
        help="Labelled data: search --split queries against this split's images "
        "(e.g. --split validation --gallery-split train).")] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Deterministic subset: first N captioned images; stratified by class "
        "for labels.")] = None,
    task: Annotated[list[str] | None, typer.Option(
        "--task", help=f"Task(s) to run: {', '.join(TASK_NAMES)}; default: all that apply.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder for the report and plots.")] = Path(
        "eval-results"),
    model: Annotated[str | None, typer.Option(
        help="Model to evaluate (hub name, directory, builtin:offline); default "
        "VISEARCH_MODEL.")] = None,
    compare: Annotated[list[str] | None, typer.Option(
        help="More models side by side in one report (repeat, or comma-separated).")] = None,
    exact: Annotated[bool, typer.Option(
        help="Also run brute-force search and report ANN recall.")] = False,
    top_k: Annotated[int, typer.Option(min=1, help="k of P@k and mAP@k, and results kept "
                                       "per query.")] = 10,
    depth: Annotated[int | None, typer.Option(
        min=1, help="Results ranked per query; default the whole gallery (exact mAP and "
        "median rank).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap, baseline and plots.")] = 0,
    bootstrap: Annotated[int, typer.Option(
        min=0, help="Bootstrap resamples for 95% intervals (0 = none).")] = 1000,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    calibrate: Annotated[Path | None, typer.Option(
        help="Write the relevance cutoff's calibration of the (first) model here, from the "
        "score distributions of relevant and irrelevant pairs; merged into an existing file "
        "of the same model.")] = None,
) -> None:
    """Measure retrieval quality on a captions or labels dataset through the real services."""
    from visearch.config import ConfigError, load_settings
    from visearch.eval.datasets import DatasetError
    from visearch.eval.report import model_label, write_all
    from visearch.eval.runner import evaluate
    from visearch.eval.tasks import EvalError, EvalOptions, prepare_data
    from visearch.models.base import ModelLoadError
    from visearch.services.cutoff import CalibrationError
    from visearch.store.base import StoreError

    console = Console()
    if not console.is_terminal:  # a pipe or file has no width: keep table rows whole
        console = Console(width=160)
    err = Console(stderr=True)
    try:
        settings = load_settings()
        data = prepare_data(dataset, split, limit, task, gallery_split)
        models = [model or settings.model, *_split_models(compare)]
        options = EvalOptions(top_k=top_k, seed=seed, bootstrap=bootstrap, exact=exact,
                              depth=depth, progress=progress)
        run = evaluate(data, settings, models, options)
        files = write_all(run, out)
        if calibrate is not None:
            from visearch.eval.calibrate import write_calibration

            calibration = write_calibration(run, calibrate)
    except (ConfigError, DatasetError, EvalError, ModelLoadError, StoreError,
            CalibrationError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for mr in run.models:
        if mr.fallback:
            err.print(f"[yellow]warning:[/] {mr.model!r} could not be loaded; evaluated the "
                      f"fallback {model_label(mr)}")
    for table in summary_tables(run):
        console.print(table)
    console.print(f"Report: {files['report']}  results: {files['results']}", soft_wrap=True)
    if calibrate is not None:
        console.print(f"Cutoff calibration ({calibration.model_id}): thresholds "
                      f"{calibration.thresholds}, relative {calibration.relative} -> {calibrate}",
                      soft_wrap=True)
