"""Send every dashboard panel's and alert rule's PromQL to a real Prometheus; empty is a failure.

    check_queries.py --prometheus http://127.0.0.1:9090 [--json]

Dashboards (monitoring/grafana/dashboards/*.json): each panel query, with Grafana's variables
filled in ($__rate_interval, $instance = every replica), must return at least one series.
Alert rules (monitoring/prometheus/rules/*.yml): an alert is silent while all is well, so its
threshold comparisons are taken off and every remaining operand must return data
(`rate(x) / rate(y) > 0.05` -> `rate(x) / rate(y)`; `a > 1 and b > 0` -> `a`, `b`).

An empty answer is accepted, and reported, only when the panel says it is event-only, when the
query is about workers and none runs (the edge harness), or when it needs a metric the app does
not export yet (PENDING_APP_METRICS: remove each one as the app starts exporting it; a listed
metric that has data is a failure, so the list cannot go stale). Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import promql_parser as pp
import yaml
from templating import REPO

DASHBOARDS = REPO / "monitoring" / "grafana" / "dashboards"
RULES = REPO / "monitoring" / "prometheus" / "rules"
EVENT_ONLY = "Event-only"
COMPARISONS = {">", "<", ">=", "<=", "==", "!="}
SET_OPS = {"and", "or", "unless"}
# Metrics the dashboards and alerts are designed for that the app does not export yet (none
# now: issue 11 phase 2 exported the last ones). Delete a name once the app exports it.
PENDING_APP_METRICS: set[str] = set()
WORKER_MARKERS = ('job="visearch-worker"', 'runner="celery"')


@dataclass
class Query:
    source: str  # "dashboard overview: <panel>" or "rule VisearchX"
    expr: str
    event_only: bool = False


@dataclass
class Result:
    source: str
    expr: str
    series: int
    verdict: str  # ok | event-only | no-workers | pending | FAIL
    note: str = ""


def dashboard_queries(rate_interval: str) -> Iterator[Query]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                expr = (target["expr"].replace("$__rate_interval", rate_interval)
                        .replace("$instance", ".*"))
                yield Query(f"dashboard {path.stem}: {panel['title']}", expr,
                            panel.get("description", "").startswith(EVENT_ONLY))


def _signals(node: Any) -> Iterator[Any]:
    """The parts of an alert expression that must have data while all is well."""
    if isinstance(node, pp.ParenExpr):
        yield from _signals(node.expr)
    elif isinstance(node, pp.BinaryExpr) and str(node.op) in SET_OPS:
        yield from _signals(node.lhs)
        yield from _signals(node.rhs)
    elif (isinstance(node, pp.BinaryExpr) and str(node.op) in COMPARISONS
          and not (node.modifier and node.modifier.return_bool)):
        for side in (node.lhs, node.rhs):
            if not isinstance(side, pp.NumberLiteral):
                yield from _signals(side)
    else:
        yield node


def rule_queries() -> Iterator[Query]:
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                for signal in _signals(pp.parse(rule["expr"])):
                    yield Query(f"rule {name}", str(signal))


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, pp.VectorSelector):
            if node.name:
                names.add(node.name)
            return
        if isinstance(node, pp.MatrixSelector):
            walk(node.vector_selector)
        for attr in ("expr", "lhs", "rhs", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, str | int | float):
                walk(child)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(pp.parse(expr))
    return names


class Prometheus:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=30)

    def count(self, expr: str) -> int:
        r = self.http.get("/api/v1/query", params={"query": expr})
        body = r.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{expr}: {body.get('error', r.text[:200])}")
        return len(body["data"]["result"])

    def has(self, metric: str) -> bool:
        return self.count(f"count({metric})") > 0


def check(prom: Prometheus, queries: list[Query]) -> list[Result]:
    workers = prom.count('up{job="visearch-worker"}') > 0
    present = {m: prom.has(m) for m in PENDING_APP_METRICS}
    results = [Result("PENDING_APP_METRICS", m, 1, "FAIL",
                      "exported now: remove it from PENDING_APP_METRICS")
               for m, has in sorted(present.items()) if has]
    for q in queries:
        n = prom.count(q.expr)
        verdict, note = "ok", ""
        if n == 0:
            pending = sorted(metric_names(q.expr) & {m for m, has in present.items() if not has})
            if pending:
                verdict, note = "pending", "app does not export " + ", ".join(pending)
            elif q.event_only:
                verdict = "event-only"
            elif not workers and any(m in q.expr for m in WORKER_MARKERS):
                verdict, note = "no-workers", "no `visearch worker` in this stack"
            else:
                verdict = "FAIL"
        results.append(Result(q.source, q.expr, n, verdict, note))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--prometheus", required=True, help="base URL of a Prometheus that scraped the stack")
    ap.add_argument("--rate-interval", default="1m", help="what $__rate_interval stands for")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    queries = [*dashboard_queries(args.rate_interval), *rule_queries()]
    results = check(Prometheus(args.prometheus), queries)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        for r in results:
            print(f"{r.verdict:<10} {r.series:>3}  {r.source}  {r.note}")
    failed = [r for r in results if r.verdict == "FAIL"]
    counts = {v: sum(r.verdict == v for r in results)
              for v in ("ok", "event-only", "no-workers", "pending", "FAIL")}
    print("queries: " + ", ".join(f"{n} {v}" for v, n in counts.items()), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
