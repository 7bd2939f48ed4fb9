"""The Markdown summary of a benchmark run: hardware, key figures, each target met or not."""

from __future__ import annotations

from typing import Any


def _get(data: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)  # type: ignore[call-overload]
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _verdict(value: Any, ok: bool | None) -> str:
    if value is None:
        return "not measured"
    return "met" if ok else "not met"


def targets(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows."""
    s = r.get("sections", {})
    flags = _get(s, "hardware", "simd_flags") or {}
    wide = bool(flags.get("avx512_bf16") or flags.get("avx512_vnni") or flags.get("amx_bf16"))
    need = 1.8 if wide else 1.5
    rows: list[tuple[str, str, str]] = []
    for kind in ("clip", "offline"):
        best = _get(s, "model", kind, "best_precision")
        ratio = _get(s, "model", kind, "best_vs_fp32")
        cos = _get(s, "model", kind, "precisions", best or "", "min_cosine_images")
        rows.append((f"{kind}: best CPU precision >= {need}x fp32 image throughput, cosine >= 0.99",
                     f"{best}: {ratio}x, min cosine {cos}" if ratio else "-",
                     _verdict(ratio, ratio is not None and ratio >= need)))
        share = _get(s, "model", kind, "precisions", best or "", "share_of_best_matmul_ceiling")
        rows.append((f"{kind}: model >= 60 % of the best matmul ceiling",
                     f"{round(share * 100, 1)} %" if share is not None else "-",
                     _verdict(share, share is not None and share >= 0.6)))
        idx = _get(s, "index", kind, "photos", "ratio_index_over_forward")
        rows.append((f"{kind}: `visearch index` >= 0.9x raw forward (CPU)", str(idx),
                     _verdict(idx, idx is not None and idx >= 0.9)))
    text = _get(s, "model", "clip", "precisions", _get(s, "model", "clip", "best_precision") or "",
                "text", "p50_ms")
    rows.append(("CLIP B/32 single text query p50 <= 10 ms", f"{text} ms" if text else "-",
                 _verdict(text, text is not None and text <= 10)))
    conc = _get(s, "http", "concurrent_over_sequential")
    rows.append(("16 concurrent unique text queries >= 2x sequential throughput", f"{conc}x",
                 _verdict(conc, conc is not None and conc >= 2)))
    cached = _get(s, "http", "cached_over_uncached_p50")
    rows.append(("cached search <= 1/20 of uncached latency",
                 f"1/{round(1 / cached, 1)}" if cached else "-",
                 _verdict(cached, cached is not None and cached <= 0.05)))
    for run in _get(s, "store") or []:
        if not isinstance(run, dict) or run.get("quantization") != "int8":
            continue
        p50, rec, rss = run.get("search_p50_ms"), run.get("recall_at_10"), run.get("store_rss_mb")
        rows.append((f"store {run['n_points']:,} vectors: p50 <= 5 ms at recall@10 >= 0.95, "
                     "RSS <= 1.5 GB (int8)",
                     f"p50 {p50} ms, recall {rec}, RSS {rss} MB, build {run.get('build_s')} s",
                     _verdict(p50, p50 is not None and p50 <= 5 and rec >= 0.95
                              and (rss <= 1536 or run["n_points"] < 1_000_000))))
    return rows


def markdown(r: dict[str, Any]) -> str:
    s = r.get("sections", {})
    hw = s.get("hardware") or {}
    flags = ", ".join(f for f, on in (hw.get("simd_flags") or {}).items() if on) or "none"
    lines = [f"# visearch benchmark ({r.get('mode')}, {r.get('started')})", "",
             f"- CPU: {hw.get('cpu_model')}, {hw.get('cpu_count')} cores; flags: {flags}",
             f"- GPU: {hw.get('gpu') or 'none'}; torch {hw.get('torch')}, "
             f"{hw.get('torch_threads')} threads",
             f"- load average at start {hw.get('load_average')}, at end "
             f"{r.get('load_average_end')}", ""]
    mm = s.get("matmul") or {}
    if "fp32_gflops" in mm:
        lines += ["## Matmul ceiling", "", "| precision | GFLOP/s | vs fp32 |", "|---|---|---|"]
        for p in ("fp32", "bf16", "fp16", "int8"):
            if f"{p}_gflops" in mm:
                lines.append(f"| {p} | {mm[f'{p}_gflops']} | {mm[f'{p}_vs_fp32']} |")
        lines.append("")
    for kind in ("clip", "offline"):
        model = _get(s, "model", kind)
        if not isinstance(model, dict) or "precisions" not in model:
            continue
        batches = model["batches"]
        lines += [f"## Model: {kind} ({model['gflops_per_image']} GFLOP/image)", "",
                  "| precision | " + " | ".join(f"img/s b{b}" for b in batches)
                  + " | best vs fp32 | min cos img | min cos text | text p50 ms | % ceiling |",
                  "|---" * (len(batches) + 6) + "|"]
        for name, e in model["precisions"].items():
            share = e.get("share_of_best_matmul_ceiling")
            lines.append(
                f"| {name} | " + " | ".join(str(e["images_per_s"][str(b)]) for b in batches)
                + f" | {e['best_vs_fp32_best']} | {e['min_cosine_images']} | "
                f"{e['min_cosine_texts']} | {e['text']['p50_ms']} | "
                f"{round(share * 100, 1) if share is not None else '-'} |")
        tb = model.get("text_batching") or {}
        lines += ["", f"Best: {model['best_precision']} ({model['best_vs_fp32']}x fp32). "
                  f"16 texts: one batch costs {tb.get('cost_ratio_single_over_batch')}x less "
                  "than 16 single calls.", ""]
        pre = model.get("preprocessing")
        if isinstance(pre, dict) and "speedup" in pre:
            lines += [f"Preprocessing: processor {pre['processor_images_per_s']} img/s, uint8 "
                      f"transform {pre['transform_images_per_s']} img/s ({pre['speedup']}x, "
                      f"max difference {pre['max_abs_difference']:.1e}).", ""]
    quality = s.get("quality")
    if isinstance(quality, dict) and "fp32" in quality:
        lines += ["## Offline model quality per precision (Flickr8k dev text->image)", "",
                  "| precision | R@1 | R@10 | median rank |", "|---|---|---|---|"]
        for name, q in quality.items():
            if isinstance(q, dict):
                lines.append(f"| {name} | {q['recall_at_1']} | {q['recall_at_10']} | "
                             f"{q['median_rank']} |")
        lines.append("")
    index = s.get("index")
    if isinstance(index, dict):
        lines += ["## Indexing vs raw forward", "",
                  "| model | precision | photos | index img/s | forward img/s | ratio |",
                  "|---|---|---|---|---|---|"]
        for kind, v in index.items():
            if not isinstance(v, dict) or "photos" not in v:
                continue
            for what in ("photos", "2000px", "4000px"):
                e = v.get(what)
                if not isinstance(e, dict):
                    continue
                lines.append(f"| {kind} | {v['precision']} {v.get('runtime', '')} | "
                             f"{e['images']} {what} (max side "
                             f"{e['max_side']}) | {e['index_images_per_s']} | "
                             f"{e['raw_forward_images_per_s']} | {e['ratio_index_over_forward']} |")
        lines.append("")
    http = s.get("http")
    if isinstance(http, dict) and "text_uncached" in http:
        lines += ["## HTTP (one node)", "",
                  f"- model {http.get('model')}, gallery {http.get('gallery')} images; cold start "
                  f"to ready {http['cold_start_to_ready_s']} s",
                  f"- text search p50: uncached {http['text_uncached']['p50_ms']} ms, cached "
                  f"{http['text_cached']['p50_ms']} ms; more-like-this "
                  f"{http['more_like_this']['p50_ms']} ms; upload "
                  f"{(http.get('image_upload') or {}).get('p50_ms')} ms",
                  f"- unique text queries: sequential {http['sequential_unique_text_req_per_s']} "
                  f"req/s, {http['concurrency']} concurrent "
                  f"{http['concurrent_unique_text_req_per_s']} req/s "
                  f"({http['concurrent_over_sequential']}x); texts per model call "
                  f"{http['mean_texts_per_model_call']}", ""]
    store = s.get("store")
    if isinstance(store, list) and store:
        lines += ["## Store", "", "| points | quantization | build s | p50 ms (setting) | recall@10 "
                  "| RSS MB | disk MB | search during build p50/max ms |",
                  "|---|---|---|---|---|---|---|---|"]
        for run in store:
            if isinstance(run, dict) and "n_points" in run:
                lines.append(
                    f"| {run['n_points']:,} | {run['quantization']} | {run.get('build_s')} | "
                    f"{run.get('search_p50_ms')} ({run.get('chosen')}) | "
                    f"{run.get('recall_at_10')} | {run.get('store_rss_mb')} | {run.get('disk_mb')}"
                    f" | {run.get('search_during_build_p50_ms')}/"
                    f"{run.get('search_during_build_max_ms')} |")
        lines.append("")
    errors = {k: v["error"] for k, v in s.items() if isinstance(v, dict) and "error" in v}
    lines += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in targets(r)]
    if errors:
        lines += ["", "## Sections that failed", ""] + [f"- {k}: {v}" for k, v in errors.items()]
    return "\n".join(lines) + "\n"
