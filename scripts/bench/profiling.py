"""Where the time goes: py-spy samples of every thread while visearch indexes photos or serves
search requests, summed by what the code was doing (model, decode, files, store, HTTP, ...).

    .venv/bin/python scripts/bench/profiling.py index [--images 256] [--out DIR]
    .venv/bin/python scripts/bench/profiling.py query [--queries 400] [--out DIR]

``index`` runs ``Indexer.index_files`` (what ``visearch index`` runs) on Flickr8k photos with
the configured model (``VISEARCH_MODEL``, default a full-size random-weight CLIP);
``query`` starts ``visearch serve`` with the offline model, sends unique text searches from 16
clients and samples the server process. Writes the raw stacks (``*.stacks``, for
flamegraph.pl or speedscope) and a table of shares (``*.md``); prints the table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY_SPY = Path(sys.executable).with_name("py-spy")

#: (category, substrings of a frame): a sample counts for the category of its innermost frame
#: that matches one (categories in this order within a frame).
INDEX_CATEGORIES = [
    ("model forward", ("openvino.py", "get_image_features", "_forward_images", "pixel_features",
                       "modeling_clip", "efficientnet_lite")),
    ("model input (resize, normalise)", ("to_uint8", "normalise (", "stack (")),
    ("decode (JPEG/PNG)", ("decode_image", "ImageFile.py", "_apply_orientation", "_to_rgb")),
    ("files: thumbnails (resize, encode)", ("render (", "_shrink", "_encode")),
    ("files: write + fsync", ("_write_atomic", "_fsync_dir", "write (")),
    ("store: upsert", ("upsert",)),
    ("store: near-duplicate search", ("find_near_duplicates",)),
    ("store: duplicate check", ("_mark_duplicates",)),
    ("reading files", ("_read (", "read_capped")),
]
QUERY_CATEGORIES = [
    ("model: text forward", ("encode_tokens", "openvino.py", "get_text_features", "modeling_clip",
                             "text_features", "minilm")),
    ("model: tokenise", ("tokenize",)),
    ("store: search", ("edge.py", "qdrant_edge")),
    ("cache", ("cache/",)),
    ("search service", ("services/search.py",)),
    ("logging + metrics", ("structlog", "prometheus", "logs.py", "metrics.py")),
    ("request/response models (pydantic, api/schemas.py, JSON)",
     ("pydantic", "api/schemas.py", "json", "plainjson")),
    ("middleware (api/guards.py, api/context.py, gzip)",
     ("api/guards.py", "api/context.py", "gzip.py", "middleware")),
    ("routing + dependencies (fastapi, starlette, api/deps.py)",
     ("fastapi", "starlette", "api/deps.py", "anyio")),
    ("HTTP server (uvicorn, h11)", ("uvicorn", "h11", "httptools", "api/server.py")),
    ("asyncio loop", ("asyncio",)),
]
#: Frames of a thread that is waiting, not working (not counted as time spent).
IDLE = ("wait (threading.py", "_wait_for_tstate_lock", "select (selectors.py", "result (",
        "_worker (concurrent", "get (queue.py", "_next_batch", "acquire", "epoll", "sleep",
        "run (asyncio/runners.py")  # the uvloop event loop waiting (C code below it)


#: Frames of the indexer's threads (the model loading before is left out).
INDEX_SCOPE = ("index_items", "_prepare (", "_commit (")


def classify(stacks: Counter[str], categories: list[tuple[str, tuple[str, ...]]],
             scope: tuple[str, ...] = ()) -> tuple[Counter[str], int]:
    """Samples per category (busy samples in ``scope``, if given) and the idle samples left
    out."""
    out: Counter[str] = Counter()
    idle = 0
    for stack, n in stacks.items():
        if scope and not any(mark in stack for mark in scope):
            continue
        frames = stack.split(";")
        innermost = frames[-1]
        if any(mark in innermost for mark in IDLE):
            idle += n
            continue
        out[_category(frames, categories)] += n
    return out, idle


def _category(frames: list[str], categories: list[tuple[str, tuple[str, ...]]]) -> str:
    for frame in reversed(frames):
        for name, marks in categories:
            if any(mark in frame for mark in marks):
                return name
    return "other"


def read_stacks(path: Path) -> Counter[str]:
    stacks: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    return stacks


def table(title: str, shares: Counter[str], idle: int, wall_s: float, extra: str) -> str:
    total = sum(shares.values()) or 1
    rows = [f"### {title}", "", extra, "",
            f"{total} busy samples over {wall_s:.1f} s (100 Hz, all threads; {idle} waiting "
            "samples left out)", "", "| where | share of busy time |", "|---|---|"]
    rows += [f"| {name} | {100 * n / total:.1f} % |" for name, n in shares.most_common()]
    return "\n".join(rows) + "\n"


def run_index(images: int) -> None:
    """The workload of ``index`` (run under py-spy)."""
    sys.path[:0] = [str(ROOT / "backend"), str(ROOT / "scripts")]
    from bench.run import flickr

    from tests.support.clip import make_clip_dir
    from visearch.config import load_settings
    from visearch.logs import configure_logging
    from visearch.runtime import Runtime

    configure_logging("WARNING", "console")
    with tempfile.TemporaryDirectory(prefix="visearch-profile-") as tmp:
        model = os.environ.get("VISEARCH_MODEL") or str(
            make_clip_dir(Path(tmp) / "clip", full_size=True))
        settings = load_settings(model=model, model_fallback="", data_dir=Path(tmp) / "data",
                                 index_build_threshold=0)
        runtime = Runtime.build(settings)
        try:
            paths = [p for p, _ in flickr("train", images)]
            started = time.perf_counter()
            results = runtime.indexer.index_files(paths)
            elapsed = time.perf_counter() - started
            # near-duplicates are written too (random-weight models find many)
            written = sum(r.status in ("indexed", "near_duplicate") for r in results)
            print(f"indexed {written} images in "
                  f"{elapsed:.1f} s with {runtime.embedder.describe()}", file=sys.stderr)
        finally:
            runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["index", "query", "_index_workload"])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "profile")
    args = parser.parse_args()
    if args.what == "_index_workload":
        run_index(args.images)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    stacks_path = args.out / f"{args.what}.stacks"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT / "backend")}
    started = time.perf_counter()
    if args.what == "index":
        subprocess.run([str(PY_SPY), "record", "--threads", "--idle", "-r", "100", "--format",
                        "raw", "-o", str(stacks_path), "--", sys.executable, __file__,
                        "_index_workload", "--images", str(args.images)], env=env, check=True)
        categories, extra = INDEX_CATEGORIES, f"`Indexer.index_files` of {args.images} photos"
    else:
        categories, extra = QUERY_CATEGORIES, profile_queries(args.queries, stacks_path, env)
    wall = time.perf_counter() - started
    shares, idle = classify(read_stacks(stacks_path), categories,
                            INDEX_SCOPE if args.what == "index" else ())
    text = table(f"Profile: {args.what}", shares, idle, wall, extra)
    (args.out / f"{args.what}.md").write_text(text)
    print(text)


def profile_queries(n: int, stacks_path: Path, env: dict[str, str]) -> str:
    """Start a server on a small gallery, sample it while 16 clients search."""
    sys.path[:0] = [str(ROOT / "backend"), str(ROOT / "scripts")]
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from bench.run import flickr
    from bench.serving import API, Server

    from visearch.config import load_settings
    from visearch.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="visearch-profile-") as tmp:
        data_dir = Path(tmp) / "data"
        settings = load_settings(model="builtin:offline", model_fallback="", data_dir=data_dir)
        runtime = Runtime.build(settings)
        try:
            runtime.indexer.index_files([p for p, _ in flickr("train", 200)])
        finally:
            runtime.close()
        server = Server({**env, "VISEARCH_MODEL": "builtin:offline", "VISEARCH_MODEL_FALLBACK": "",
                         "VISEARCH_DATA_DIR": str(data_dir)}, Path(tmp) / "server.log")
        texts = [caps[0] for _, caps in flickr("dev", n)]
        spy = subprocess.Popen([str(PY_SPY), "record", "--threads", "--idle", "-r", "100",
                                "--format", "raw", "-o", str(stacks_path), "--pid",
                                str(server.process.pid)])
        time.sleep(1.0)
        try:
            clients = [httpx.Client(base_url=server.url, timeout=120) for _ in range(16)]

            def work(i: int) -> None:
                for q in texts[i::16]:
                    clients[i].post(API + "/search", json={"text": q}).raise_for_status()
                    clients[i].post(API + "/search", json={"text": q}).raise_for_status()

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(work, range(16)))
        finally:
            spy.send_signal(2)
            spy.wait(60)
            server.stop()
    return (f"`visearch serve` (offline model, 200 images), 16 clients, {n} unique text "
            "queries each sent twice (uncached, then cached)")


if __name__ == "__main__":
    main()
