"""Run the standard Locust scenario against several targets, one after the other, and print
a side-by-side table: requests/s, p50/p95/p99, failures.

    .venv/bin/python loadtest/compare.py --stack /tmp/visearch-stack      # api-1 vs the balancer
    .venv/bin/python loadtest/compare.py --target one=http://127.0.0.1:8001 \\
        --target balancer=http://127.0.0.1:8080 --users 100 --run-time 60s

Each run is its own Locust process (headless; CSV and HTML reports under --out). With a
harness (--stack), the shared Redis cache is flushed before each run and each run draws its
popular queries from a different Zipf seed, so no run starts with the previous one's cache.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "loadtest" / "locustfile.py"


@dataclass
class RunResult:
    name: str
    url: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    report: str


def stack_status(run_dir: Path) -> dict:  # type: ignore[type-arg]
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "stack" / "harness.py"), "status",
                          "--json", "--data-dir", str(run_dir)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def flush_redis(url: str | None) -> None:
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


def run_locust(name: str, url: str, *, users: int, spawn_rate: float, run_time: str, out: Path,
               zipf_seed: int = 0, extra: list[str] | None = None) -> RunResult:
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / name.replace(" ", "-")
    cmd = [str(Path(sys.executable).parent / "locust"), "-f", str(LOCUSTFILE), "--headless",
           "-u", str(users), "-r", str(spawn_rate), "-t", run_time, "--stop-timeout", "30",
           "--host", url, "--csv", str(prefix), "--html", f"{prefix}.html", "--only-summary",
           "--zipf-seed", str(zipf_seed), *(extra or [])]
    print(f"locust: {name} -> {url} ({users} users, {run_time})", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=REPO, check=False, stdout=subprocess.DEVNULL,
                   stderr=open(f"{prefix}.log", "w"))  # noqa: SIM115 - closed with the process
    rows = {r["Name"]: r for r in csv.DictReader(open(f"{prefix}_stats.csv"))}  # noqa: SIM115
    agg = rows["Aggregated"]
    return RunResult(name, url, int(agg["Request Count"]), int(agg["Failure Count"]),
                     float(agg["Requests/s"]), float(agg["50%"]), float(agg["95%"]),
                     float(agg["99%"]), f"{prefix}.html")


def table(results: list[RunResult]) -> str:
    head = "| target | requests/s | p50 ms | p95 ms | p99 ms | requests | failed |\n"
    head += "|---|---:|---:|---:|---:|---:|---:|\n"
    return head + "".join(
        f"| {r.name} | {r.rps:.1f} | {r.p50_ms:.0f} | {r.p95_ms:.0f} | {r.p99_ms:.0f} | "
        f"{r.requests} | {r.failures} |\n" for r in results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--target", action="append", default=[], help="NAME=URL (repeatable)")
    ap.add_argument("--stack", type=Path, help="a running harness's run folder")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--spawn-rate", type=float, default=20)
    ap.add_argument("--run-time", default="60s")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "loadtest")
    ap.add_argument("locust_args", nargs="*", help="passed to Locust after --")
    args = ap.parse_args(argv)
    targets = [tuple(t.split("=", 1)) for t in args.target]
    redis_url = None
    if args.stack:
        st = stack_status(args.stack)
        redis_url = st.get("redis_url")
        targets = [("one replica", st["replicas"][0]["url"]),
                   (f"balancer ({len(st['replicas'])} replicas)", st["balancer_url"]), *targets]
    if not targets:
        ap.error("give --target NAME=URL or --stack RUN_DIR")
    results = []
    for seed, (name, url) in enumerate(targets, 1):
        flush_redis(redis_url)
        results.append(run_locust(name, url, users=args.users, spawn_rate=args.spawn_rate,
                                  run_time=args.run_time, out=args.out, zipf_seed=seed,
                                  extra=args.locust_args))
    print(table(results))
    (args.out / "compare.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if all(r.failures == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
