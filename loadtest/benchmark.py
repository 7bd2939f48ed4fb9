"""The Done-when benchmark of the scaled stack (not part of the test command).

    scripts/stack.sh up --replicas 3 --index ../shared/data/flickr8k/images
    .venv/bin/python loadtest/benchmark.py [--data-dir RUN] [--users 100] [--run-time 60]

1. A query answered by api-1 is a cache hit on api-2 (the `cached` flag and the L2 hit counter).
2. Locust, --users for --run-time seconds, against one replica alone.
3. The same against the balancer while one replica is `kill -9`ed at --kill-at seconds and
   started again: the run must have 0 failed requests.
4. Prometheus: every target's `up`, the cache hits per replica and tier, and every dashboard
   panel and alert rule expression sent to the stack's Prometheus.
Prints a table next to the seed design's figures and writes summary.json/.md under --out.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import httpx
from compare import REPO, flush_redis, run_locust, stack_status, table

HARNESS = [sys.executable, str(REPO / "scripts" / "stack" / "harness.py")]
SEED_FIGURES = ("Seed design, for comparison: 15.81 ops/s and p50 3.8 s at 100 concurrent users "
                "on a mixed index/search load; 94 req/s on a single node, simple queries.")


def l2_hits(replica: str) -> float:
    text = httpx.get(f"{replica}/metrics", timeout=10).text
    m = re.search(r'visearch_cache_requests_total\{kind="result",outcome="hit",tier="l2"\} (\S+)', text)
    return float(m.group(1)) if m else 0.0


def cross_replica_cache(st: dict) -> dict:  # type: ignore[type-arg]
    one, two = st["replicas"][0]["url"], st["replicas"][1]["url"]
    text = f"a dog catching a frisbee {uuid.uuid4().hex[:8]}"
    before = l2_hits(two)
    first = httpx.post(f"{one}/api/v1/search", json={"text": text}, timeout=60).json()["cached"]
    second = httpx.post(f"{two}/api/v1/search", json={"text": text}, timeout=60).json()["cached"]
    return {"query": text, "api-1 cached": first, "api-2 cached": second,
            "api-2 L2 hits gained": l2_hits(two) - before}


def prom_vector(prom: object, expr: str) -> list[dict]:  # type: ignore[type-arg]
    """An instant query as rows of labels plus value."""
    r = prom.http.get("/api/v1/query", params={"query": expr}).json()  # type: ignore[attr-defined]
    return [{**row["metric"], "value": float(row["value"][1])} for row in r["data"]["result"]]


def kill_and_restart(run_dir: Path, name: str, at_s: float, log: dict) -> None:  # type: ignore[type-arg]
    time.sleep(at_s)
    log["killed_at_s"] = at_s
    subprocess.run([*HARNESS, "replica", "kill", name, "--data-dir", str(run_dir)], check=True)
    t0 = time.monotonic()
    subprocess.run([*HARNESS, "replica", "start", name, "--data-dir", str(run_dir)], check=True)
    log["ready_again_after_s"] = round(time.monotonic() - t0, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/visearch-stack"))
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--spawn-rate", type=float, default=20)
    ap.add_argument("--run-time", type=int, default=60, help="seconds per run")
    ap.add_argument("--kill-at", type=float, default=20.0)
    ap.add_argument("--kill", default="api-2", help="the replica to kill -9 mid-run")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "benchmark")
    args = ap.parse_args(argv)
    st = stack_status(args.data_dir)
    if len(st["replicas"]) < 2:
        ap.error("the benchmark needs a stack with at least 2 replicas (3 for the Done-when run)")
    summary: dict = {"replicas": len(st["replicas"]), "users": args.users,  # type: ignore[type-arg]
                     "run_time_s": args.run_time, "balance": st["balance"]}
    summary["cache"] = cross_replica_cache(st)
    print(json.dumps(summary["cache"]), file=sys.stderr)

    common = {"users": args.users, "spawn_rate": args.spawn_rate, "run_time": f"{args.run_time}s",
              "out": args.out}
    flush_redis(st["redis_url"])
    single = run_locust("one replica", st["replicas"][0]["url"], zipf_seed=1, **common)
    flush_redis(st["redis_url"])
    kill_log: dict = {"replica": args.kill}  # type: ignore[type-arg]
    killer = threading.Thread(target=kill_and_restart,
                              args=(args.data_dir, args.kill, args.kill_at, kill_log))
    killer.start()
    balanced = run_locust(f"balancer, {len(st['replicas'])} replicas, kill -9 {args.kill}",
                          st["balancer_url"], zipf_seed=2, **common)
    killer.join()
    summary["kill"] = kill_log
    summary["runs"] = [asdict(single), asdict(balanced)]

    sys.path.insert(0, str(REPO / "scripts" / "stack"))
    import check_queries

    prom = check_queries.Prometheus(st["prometheus_url"])
    deadline = time.monotonic() + 60  # the restarted replica's first scrape
    while prom.count("up == 0") and time.monotonic() < deadline:
        time.sleep(1)
    summary["targets"] = prom_vector(prom, "up")
    summary["cache_hits"] = prom_vector(
        prom, 'sum by (replica, tier, kind) (visearch_cache_requests_total{outcome="hit"})')
    queries = [*check_queries.dashboard_queries("1m"), *check_queries.rule_queries()]
    results = check_queries.check(prom, queries)
    summary["queries"] = {v: sum(r.verdict == v for r in results)
                          for v in ("ok", "event-only", "no-workers", "pending", "FAIL")}
    summary["queries_failed"] = [r.source for r in results if r.verdict == "FAIL"]

    md = table([single, balanced]) + f"\n{SEED_FIGURES}\n\nkill: {kill_log}\ncache: {summary['cache']}\n"
    md += f"queries: {summary['queries']}\ntargets up: {summary['targets']}\n"
    md += f"cache hits: {summary['cache_hits']}\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    (args.out / "summary.md").write_text(md)
    print(md)
    ok = balanced.failures == 0 and not summary["queries_failed"] and summary["cache"]["api-2 cached"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
