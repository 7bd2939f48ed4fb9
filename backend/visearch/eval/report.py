"""Write an evaluation run out: results.json, report.md, per-query JSONL and plots."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visearch.eval.scoring import RANDOM_MODEL

if TYPE_CHECKING:
    from visearch.eval.runner import EvalRun, ModelRun
    from visearch.eval.scoring import TaskResult
    from visearch.eval.tasks import TaskName

#: Metrics shown as percentages (everything but ranks).
RANK_METRICS = frozenset({"median_rank"})
NA = "n/a"
TASK_TITLES: dict[str, str] = {
    "text-image": "text → image",
    "image-text": "image → text",
    "image-image": "image → image",
    "class-prompt": "text → image by class prompt",
}


def table_columns(top_k: int) -> list[tuple[str, str]]:
    """(metric key, column title) of the summary tables."""
    return [
        ("recall@1", "R@1"),
        ("recall@5", "R@5"),
        ("recall@10", "R@10"),
        (f"precision@{top_k}", f"P@{top_k}"),
        (f"map@{top_k}", f"mAP@{top_k}"),
        ("map", "mAP"),
        ("mrr", "MRR"),
        ("ndcg@10", "nDCG@10"),
        ("median_rank", "MedR"),
    ]


def hit_columns() -> list[tuple[str, str]]:
    return [("hit@1", "Hit@1"), ("hit@5", "Hit@5"), ("hit@10", "Hit@10")]


def columns_for(run: EvalRun, task: TaskName) -> list[tuple[str, str]]:
    """Summary columns of ``task``; hit@k too when queries have several relevant items."""
    cols = table_columns(run.options.top_k)
    first = run.baseline[task]
    if int(first.n_relevant.max(initial=0)) > 1:
        cols = cols[:3] + hit_columns() + cols[3:]
    return cols


def format_value(key: str, value: float) -> str:
    if value is None or math.isnan(value):
        return NA
    if math.isinf(value):
        return "∞"
    if key in RANK_METRICS:
        return f"{round(value, 1):g}"
    return f"{100 * value:.1f}"


def format_cell(key: str, result: TaskResult, with_ci: bool = True) -> str:
    value = format_value(key, result.metrics.get(key, float("nan")))
    low, high = result.ci.get(key, (float("nan"), float("nan")))
    if not with_ci or math.isnan(low):
        return value
    return f"{value} [{format_value(key, low)}, {format_value(key, high)}]"


def model_label(run: ModelRun) -> str:
    return run.name + (" [fallback]" if run.fallback else "")


def _ann_index(mr: ModelRun) -> str:
    if mr.index_built:
        return "built after indexing"
    return "managed by the server" if mr.store == "qdrant" else "none (exact scan)"


def rows_for(run: EvalRun, task: TaskName) -> list[tuple[str, TaskResult]]:
    """(row label, result) for every model on ``task``, then the random baseline."""
    rows = [(model_label(mr), mr.tasks[task]) for mr in run.models if task in mr.tasks]
    rows.append((RANDOM_MODEL, run.baseline[task]))
    return rows


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _task_json(result: TaskResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n_queries": result.n_queries,
        "n_without_relevant": result.n_without_relevant,
        "gallery_size": result.gallery_size,
        "depth": result.depth,
        "metrics": result.metrics,
        "ci95": {k: list(v) for k, v in result.ci.items()},
    }
    if result.latency_ms:
        out["latency_ms"] = result.latency_ms
    if result.embed_ms_per_query is not None:
        out["embed_ms_per_query"] = result.embed_ms_per_query
    if result.ann_recall is not None:
        out["ann_recall"] = result.ann_recall
        out["exact_metrics"] = result.exact_metrics
        out["exact_latency_ms"] = result.exact_latency_ms
    return out


def results_dict(run: EvalRun) -> dict[str, Any]:
    """Everything measured, JSON-ready (fractions in [0, 1]; median rank is a rank)."""
    data, opts = run.data, run.options
    return _clean({
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": run.seconds,
        "dataset": {
            "path": str(data.path),
            "kind": data.kind,
            "split": data.split,
            "gallery_split": data.gallery_split,
            "gallery_size": len(data.gallery),
            "captions": len(data.captions),
            "classes": len(data.classes()) if data.gallery_labels else None,
            "tasks": list(data.tasks),
        },
        "options": {
            "top_k": opts.top_k,
            "ks": list(opts.ks),
            "seed": opts.seed,
            "bootstrap": opts.bootstrap,
            "exact": opts.exact,
            "depth": opts.depth,
            "prompt": opts.prompt,
        },
        "models": [
            {
                "label": mr.label,
                "model": mr.model,
                "model_id": mr.model_id,
                "dim": mr.dim,
                "device": mr.device,
                "fallback": mr.fallback,
                "store": mr.store,
                "collection": mr.collection,
                "images_indexed": mr.images_indexed,
                "index_seconds": mr.index_seconds,
                "ann_index_built": mr.index_built,
                "tasks": {t: _task_json(r) for t, r in mr.tasks.items()},
            }
            for mr in run.models
        ],
        "baseline": {
            "model": RANDOM_MODEL,
            "tasks": {t: _task_json(r) for t, r in run.baseline.items()},
        },
    })


def write_per_query(run: EvalRun, out: Path) -> list[Path]:
    """One JSONL line per query and task: its relevant count, rank, metrics and top k."""
    data, top_k = run.data, run.options.top_k
    written = []
    for mr in run.models:
        folder = out / "per_query" / mr.file_stem
        folder.mkdir(parents=True, exist_ok=True)
        for task, res in mr.tasks.items():
            path = folder / f"{task}.jsonl"
            result_kind = "caption" if task == "image-text" else "image"
            with path.open("w", encoding="utf-8") as fh:
                for q in range(res.n_queries):
                    items = []
                    for col in range(min(top_k, res.depth)):
                        idx = int(res.ranked[q, col])
                        if idx < 0:
                            break
                        name = (data.captions[idx] if result_kind == "caption"
                                else data.display(data.gallery[idx]))
                        score = None if res.scores is None else float(res.scores[q, col])
                        items.append({"rank": col + 1, "item": name, "score": score,
                                      "relevant": bool(res.rel[q, col])})
                    record = {
                        "query_index": q,
                        "query": run.specs[task].queries[q],
                        "n_relevant": int(res.n_relevant[q]),
                        "metrics": {k: v[q] for k, v in res.per_query.items()},
                        "results": items,
                    }
                    fh.write(json.dumps(_clean(record), ensure_ascii=False) + "\n")
            written.append(path)
    return written


def markdown_report(run: EvalRun, images: dict[str, Path], out: Path) -> str:
    """The Markdown report: context, one table per task, latency, plots, conventions."""
    data, opts = run.data, run.options
    lines = [f"# visearch eval: {data.path.parent.name if data.path.is_file() else data.path.name}",
             ""]
    split = data.split or "all"
    if data.gallery_split:
        split = f"queries {data.split}, gallery {data.gallery_split}"
    lines += [
        f"- Dataset: `{data.path}` ({data.kind}, split: {split})",
        f"- Gallery: {len(data.gallery)} images"
        + (f", {len(data.captions)} captions" if data.captions else "")
        + (f", {len(data.classes())} classes" if data.gallery_labels else ""),
        f"- Options: top-k {opts.top_k}, depth {opts.depth or 'whole gallery'}, seed {opts.seed}, "
        f"bootstrap {opts.bootstrap} resamples, exact search {'on' if opts.exact else 'off'}",
        f"- Run time: {run.seconds:.1f} s",
        "",
        "| model | requested as | dim | device | store | ANN index | images indexed | index s "
        "| images/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mr in run.models:
        rate = mr.images_indexed / mr.index_seconds if mr.index_seconds > 0 else float("nan")
        lines.append(
            f"| `{model_label(mr)}` | `{mr.model}` | {mr.dim} | {mr.device} | {mr.store} | "
            f"{_ann_index(mr)} | {mr.images_indexed} | "
            f"{mr.index_seconds:.1f} | "
            f"{rate:.1f} |"
        )
    lines += ["", "Values are percentages with bootstrap 95% intervals over queries; "
              "MedR is the median rank of the first relevant result.", ""]
    for task in data.tasks:
        rows = rows_for(run, task)
        first = rows[0][1]
        lines += [f"## {TASK_TITLES[task]}", "",
                  f"{first.n_queries} queries, gallery {first.gallery_size}, ranked to depth "
                  f"{first.depth}"
                  + (f"; {first.n_without_relevant} queries without relevant items left out"
                     if first.n_without_relevant else ""), ""]
        cols = columns_for(run, task)
        lines.append("| model | " + " | ".join(title for _, title in cols) + " |")
        lines.append("|---" * (len(cols) + 1) + "|")
        for label, res in rows:
            lines.append(f"| {label} | " + " | ".join(format_cell(k, res) for k, _ in cols) + " |")
        lines.append("")
    lat_rows = [(mr, t, r) for mr in run.models for t, r in mr.tasks.items() if r.latency_ms]
    if lat_rows:
        lines += ["## Query latency", "",
                  f"One query per call, top-{opts.top_k}, through `Searcher.search_vectors`; "
                  "embedding time is per query in batches.", "",
                  "| model | task | queries timed | p50 ms | p95 ms | embed ms/query |"
                  + (f" ANN recall@{opts.top_k} | exact p50 ms |" if opts.exact else ""),
                  "|---|---|---|---|---|---|" + ("---|---|" if opts.exact else "")]
        for mr, task, r in lat_rows:
            embed = NA if r.embed_ms_per_query is None else f"{r.embed_ms_per_query:.2f}"
            row = (f"| {model_label(mr)} | {task} | {r.latency_ms['queries']:.0f} | "
                   f"{r.latency_ms['p50']:.2f} | {r.latency_ms['p95']:.2f} | {embed} |")
            if opts.exact:
                ann = NA if r.ann_recall is None else f"{100 * r.ann_recall:.1f}"
                ex = r.exact_latency_ms.get("p50")
                row += f" {ann} | {NA if ex is None else f'{ex:.2f}'} |"
            lines.append(row)
        lines.append("")
    if opts.exact:
        lines += ["Exact (brute-force) search metrics, for comparison with the tables above:", "",
                  "| model | task | R@1 | R@10 | mAP |", "|---|---|---|---|---|"]
        for mr, task, r in lat_rows:
            em = r.exact_metrics
            lines.append(f"| {model_label(mr)} | {task} | "
                         f"{format_value('recall@1', em['recall@1'])} | "
                         f"{format_value('recall@10', em['recall@10'])} | "
                         f"{format_value('map', em['map'])} |")
        lines.append("")
    if images:
        lines += ["## Plots", ""]
        for title, path in images.items():
            lines += [f"### {title}", "", f"![{title}]({path.relative_to(out).as_posix()})", ""]
    lines += [
        "## Conventions", "",
        "- recall@k: share of a query's relevant items in its top k; hit@k: at least one "
        "(the two agree when a query has one relevant item).",
        f"- mAP@{opts.top_k}: AP over the top {opts.top_k} divided by min(relevant, "
        f"{opts.top_k}); mAP: full average precision over the ranked depth.",
        "- Rankings follow the search's order; equal scores keep it. A relevant item beyond "
        "the depth counts as not retrieved (rank ∞).",
        "- Queries without relevant items are left out of every mean and counted above.",
        "- random: a seeded random permutation of the gallery per query, scored the same way.",
        "",
    ]
    return "\n".join(lines)


def write_all(run: EvalRun, out: Path) -> dict[str, Path]:
    """Write every output file under ``out``; returns them by role."""
    out.mkdir(parents=True, exist_ok=True)
    from visearch.eval.plots import write_plots  # matplotlib only when writing

    images = write_plots(run, out)
    files: dict[str, Path] = {}
    results = out / "results.json"
    results.write_text(json.dumps(results_dict(run), indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    files["results"] = results
    report = out / "report.md"
    report.write_text(markdown_report(run, images, out), encoding="utf-8")
    files["report"] = report
    for i, path in enumerate(write_per_query(run, out)):
        files[f"per_query_{i}"] = path
    for title, path in images.items():
        files[f"plot:{title}"] = path
    return files
