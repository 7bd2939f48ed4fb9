"""One node under Locust: the standard scenario (loadtest/locustfile.py) against one
``visearch serve`` with the offline model on a Flickr8k gallery, and the latency of each kind
of request under that load (requests that need no model should answer in a few ms).

    .venv/bin/python scripts/bench/load.py [--gallery 2000] [--users 100] [--run-time 60s] \\
        [--out bench-results/load] [-- LOCUST OPTIONS, e.g. --wait-min 0.05 --wait-max 0.5]

Locust's users wait ``--wait-min``..``--wait-max`` seconds between tasks (default 0.1-1.0 s),
so 100 users cannot send more than about 180 req/s with the default think time: to measure
what the node can serve, shorten it. Not part of the test command.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT / "scripts"), str(ROOT / "loadtest")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=2000, help="Flickr8k photos indexed first")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--run-time", default="60s")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "load")
    parser.add_argument("locust_args", nargs="*", help="passed to Locust after --")
    args = parser.parse_args()

    from bench.hardware import hardware
    from bench.run import flickr
    from bench.serving import Server
    from compare import run_locust

    from visearch.config import load_settings
    from visearch.logs import configure_logging
    from visearch.runtime import Runtime

    configure_logging("WARNING", "console")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="visearch-load-") as tmp:
        data_dir = Path(tmp) / "data"
        runtime = Runtime.build(load_settings(model="builtin:offline", model_fallback="",
                                              data_dir=data_dir))
        try:
            started = time.perf_counter()
            runtime.indexer.index_files([p for p, _ in flickr("train", args.gallery)])
            runtime.store.optimize()
            index_s = time.perf_counter() - started
        finally:
            runtime.close()
        server = Server({"VISEARCH_MODEL": "builtin:offline", "VISEARCH_MODEL_FALLBACK": "",
                         "VISEARCH_DATA_DIR": str(data_dir)}, args.out / "server.log")
        try:
            result = run_locust("one-node", server.url, users=args.users,
                                spawn_rate=args.spawn_rate, run_time=args.run_time,
                                out=args.out, extra=["--writes", *args.locust_args])
        finally:
            server.stop()
    with (args.out / "one-node_stats.csv").open() as f:
        per_task = {r["Name"]: {"requests": int(r["Request Count"]),
                                "failures": int(r["Failure Count"]),
                                "p50_ms": float(r["50%"]), "p95_ms": float(r["95%"]),
                                "p99_ms": float(r["99%"])} for r in csv.DictReader(f)}
    out = {"hardware": hardware(), "gallery": args.gallery, "index_s": round(index_s, 1),
           "cold_start_s": round(server.cold_start_s, 2), "users": args.users,
           "run_time": args.run_time, "locust_args": args.locust_args,
           "requests_per_s": round(result.rps, 1), "failures": result.failures,
           "p50_ms": result.p50_ms, "p95_ms": result.p95_ms, "p99_ms": result.p99_ms,
           "per_task": per_task}
    (args.out / "load.json").write_text(json.dumps(out, indent=2))
    lines = [f"{args.users} users, {args.run_time}, gallery {args.gallery}, "
             f"locust options {args.locust_args or 'default'}: {result.rps:.1f} req/s, "
             f"p50/p95/p99 {result.p50_ms:.0f}/{result.p95_ms:.0f}/{result.p99_ms:.0f} ms, "
             f"{result.failures} failed", "", "| request | n | failed | p50 ms | p95 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {r['requests']} | {r['failures']} | {r['p50_ms']:.0f} | "
              f"{r['p95_ms']:.0f} | {r['p99_ms']:.0f} |" for name, r in per_task.items()]
    (args.out / "load.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
