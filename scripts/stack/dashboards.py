"""Grafana dashboards of the scaled stack, built with grafana-foundation-sdk.

    dashboards.py            # rewrites monitoring/grafana/dashboards/*.json
    dashboards.py --check    # exit 1 when a committed JSON file differs from what this builds

Every panel queries the Prometheus datasource chosen by the `datasource` variable. A panel
whose description starts with "Event-only" may legitimately show nothing until that event
happens (an eviction, a failed index request); scripts/stack/check_queries.py treats every
other panel's empty answer as a failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from templating import REPO

OUT_DIR = REPO / "monitoring" / "grafana" / "dashboards"
DS = dashboard.DataSourceRef(type_val="prometheus", uid="${datasource}")
EVENT_ONLY = "Event-only"
RATE = "$__rate_interval"

# Selectors reused by many panels.
HTTP = "visearch_http_request_duration_seconds"
API = 'instance=~"$instance"'
NOT_SCRAPES = 'route!~"/metrics|/api/v1/(ready|health)"'
SEARCH_ROUTES = 'route=~"/api/v1/search.*"'


@dataclass(frozen=True)
class Q:
    expr: str
    legend: str = ""
    table: bool = False


@dataclass
class P:
    """One panel: kind is timeseries, stat or table."""

    title: str
    queries: list[Q]
    unit: str = "short"
    description: str = ""
    kind: str = "timeseries"
    span: int = 12
    height: int = 8
    extra: list[Callable[[object], None]] = field(default_factory=list)


def ratio(metric: str, good: str, all_: str, by: str) -> str:
    """sum(rate(metric{good})) / sum(rate(metric{all})) by `by`, answering 0 (not nothing)
    while the numerator has no series yet (no error happened)."""
    num = f"sum by ({by}) (rate({metric}{{{good}}}[{RATE}]))"
    den = f"sum by ({by}) (rate({metric}{{{all_}}}[{RATE}]))"
    return f"({num} or {den} * 0) / {den}"


def quantile(q: float, metric: str, sel: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}[{RATE}])))"


def _target(q: Q, ref: str) -> prom_b.Dataquery:
    t = prom_b.Dataquery().expr(q.expr).ref_id(ref).datasource(DS)
    if q.legend:
        t = t.legend_format(q.legend)
    if q.table:
        t = t.format(PromQueryFormat.TABLE).instant()
    return t


def _panel(p: P) -> object:
    builder: object
    if p.kind == "stat":
        builder = (stat_b.Panel().graph_mode(common.BigValueGraphMode.AREA)
                   .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"])))
    elif p.kind == "table":
        builder = table_b.Panel().show_header(True)
    else:
        builder = (ts_b.Panel().fill_opacity(10).line_width(1)
                   .legend(common_b.VizLegendOptions().show_legend(True)
                           .display_mode(common.LegendDisplayMode.LIST)
                           .placement(common.LegendPlacement.BOTTOM)))
    b = builder.title(p.title).datasource(DS).span(p.span).height(p.height)  # type: ignore[attr-defined]
    if p.kind != "table":
        b = b.unit(p.unit)
    if p.description:
        b = b.description(p.description)
    for i, q in enumerate(p.queries):
        b = b.with_target(_target(q, chr(ord("A") + i)))
    return b


def _dashboard(uid: str, title: str, description: str, rows: list[tuple[str, list[P]]]) -> object:
    d = (
        dash_b.Dashboard(title).uid(uid).description(description)
        .tags(["visearch"]).refresh("10s").time("now-30m", "now").timezone("browser")
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR).editable()
        .with_variable(dash_b.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            dash_b.QueryVariable("instance").label("API replica").datasource(DS)
            .query('label_values(up{job="visearch-api"}, instance)')
            .multi(True).include_all(True).all_value(".*")
            .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        )
        .link(dash_b.DashboardLink("visearch").type(dashboard.DashboardLinkType.DASHBOARDS)
              .tags(["visearch"]).as_dropdown(True).include_vars(True).keep_time(True))
    )
    for row_title, panels in rows:
        d = d.with_row(dash_b.Row(row_title))
        for p in panels:
            d = d.with_panel(_panel(p))  # type: ignore[arg-type]
    return d


def overview() -> object:
    cnt = f"{HTTP}_count"
    return _dashboard(
        "visearch-overview", "visearch / Overview",
        "Rate, errors and duration per route and per replica, and the balancer's view.",
        [
            ("Balancer (HAProxy)", [
                P("Replicas in rotation", [Q('haproxy_backend_active_servers{proxy="be_api"}')],
                  kind="stat", span=6, height=5),
                P("Replicas scraped", [Q('sum(up{job="visearch-api"})')], kind="stat", span=6,
                  height=5),
                P("Client 5xx ratio", [Q(ratio("haproxy_frontend_http_responses_total",
                                               'proxy="fe_api",code="5xx"', 'proxy="fe_api"',
                                               "proxy"))],
                  unit="percentunit", kind="stat", span=6, height=5),
                P("Queued at the balancer", [Q('sum(haproxy_backend_current_queue{proxy="be_api"})')],
                  kind="stat", span=6, height=5),
                P("Answers/s by status class", [Q(
                    f'sum by (code) (rate(haproxy_frontend_http_responses_total{{proxy="fe_api"}}[{RATE}]))',
                    "{{code}}")], unit="reqps", span=8),
                P("Answers/s per replica", [Q(
                    f'sum by (server) (rate(haproxy_server_http_responses_total{{proxy="be_api"}}[{RATE}]))',
                    "{{server}}")], unit="reqps", span=8),
                P("Retries, redispatches, connection errors", [
                    Q(f'sum(rate(haproxy_backend_retry_warnings_total{{proxy="be_api"}}[{RATE}]))',
                      "retries"),
                    Q(f'sum(rate(haproxy_backend_redispatch_warnings_total{{proxy="be_api"}}[{RATE}]))',
                      "redispatches"),
                    Q(f'sum(rate(haproxy_backend_connection_errors_total{{proxy="be_api"}}[{RATE}]))',
                      "connection errors"),
                ], unit="ops", span=8),
                P("Replica in rotation (1 = UP)", [Q('haproxy_server_status{proxy="be_api",state="UP"}',
                                                     "{{server}}")], span=12),
                P("Open sessions per replica", [Q('haproxy_server_current_sessions{proxy="be_api"}',
                                                  "{{server}}")], span=12),
            ]),
            ("Per route", [
                P("Requests/s by route", [Q(
                    f"sum by (route) (rate({cnt}{{{API},{NOT_SCRAPES}}}[{RATE}]))", "{{route}}")],
                  unit="reqps"),
                P("5xx ratio by route", [Q(ratio(cnt, f'{API},{NOT_SCRAPES},status=~"5.."',
                                                 f"{API},{NOT_SCRAPES}", "route"), "{{route}}")],
                  unit="percentunit"),
                P("p95 latency by route", [Q(quantile(0.95, HTTP, f"{API},{NOT_SCRAPES}", "route"),
                                             "{{route}}")], unit="s"),
                P("Search latency p50 / p95 / p99", [
                    Q(quantile(q, HTTP, f"{API},{SEARCH_ROUTES}", "route"), f"p{int(q * 100)} {{{{route}}}}")
                    for q in (0.5, 0.95, 0.99)
                ], unit="s"),
            ]),
            ("Per replica", [
                P("Requests/s per replica", [Q(
                    f"sum by (instance) (rate({cnt}{{{API},{NOT_SCRAPES}}}[{RATE}]))", "{{instance}}")],
                  unit="reqps", span=6),
                P("5xx ratio per replica", [Q(ratio(cnt, f'{API},{NOT_SCRAPES},status=~"5.."',
                                                    f"{API},{NOT_SCRAPES}", "instance"), "{{instance}}")],
                  unit="percentunit", span=6),
                P("Search p95 per replica", [Q(quantile(0.95, HTTP, f"{API},{SEARCH_ROUTES}", "instance"),
                                               "{{instance}}")], unit="s", span=6),
                P("In-flight requests per replica", [Q(
                    f"sum by (instance) (visearch_http_requests_in_flight{{{API}}})", "{{instance}}")],
                  span=6),
            ]),
        ],
    )


def model() -> object:
    emb = "visearch_embedding_duration_seconds"
    size = "visearch_embedding_batch_size"
    return _dashboard(
        "visearch-model", "visearch / Model and inference",
        "Which model each replica runs, embedding time per modality and batch size, search time.",
        [
            ("Model", [
                P("Replicas on the fallback model", [Q(
                    'sum(visearch_model_info{fallback="true"}) or sum(visearch_model_info) * 0')],
                  kind="stat", span=6, height=6),
                P("Model per replica", [Q(
                    "max by (instance, model_id, requested_model, device, dim, fallback) "
                    "(visearch_model_info)", table=True)], kind="table", span=18, height=6),
            ]),
            ("Embedding", [
                P("Embedding time p50 / p95 by modality", [
                    Q(quantile(q, emb, API, "modality"), f"p{int(q * 100)} {{{{modality}}}}")
                    for q in (0.5, 0.95)
                ], unit="s", span=8),
                P("Items embedded/s by modality", [Q(
                    f"sum by (modality) (rate({size}_sum{{{API}}}[{RATE}]))", "{{modality}}")],
                  unit="ops", span=8),
                P("Mean batch size by modality", [Q(
                    f"sum by (modality) (rate({size}_sum{{{API}}}[{RATE}])) / "
                    f"sum by (modality) (rate({size}_count{{{API}}}[{RATE}]))", "{{modality}}")],
                  span=8),
            ]),
            ("Search", [
                P("Search time p95, cached vs computed", [Q(
                    quantile(0.95, "visearch_search_duration_seconds", API, "cached"),
                    "cached={{cached}}")], unit="s"),
                P("Search time p50 per replica", [Q(
                    quantile(0.5, "visearch_search_duration_seconds", API, "instance"),
                    "{{instance}}")], unit="s"),
            ]),
        ],
    )


def cache() -> object:
    req = "visearch_cache_requests_total"
    return _dashboard(
        "visearch-cache", "visearch / Cache",
        "Two-tier cache: in-process L1 and shared Redis L2; hits per tier, Redis health.",
        [
            ("Hits", [
                P("Hit ratio by kind and tier", [Q(
                    ratio(req, f'{API},outcome="hit"', API, "kind, tier"), "{{kind}} {{tier}}")],
                  unit="percentunit", span=8),
                P("Lookups/s by tier and outcome", [Q(
                    f"sum by (tier, outcome) (rate({req}{{{API}}}[{RATE}]))", "{{tier}} {{outcome}}")],
                  unit="ops", span=8),
                P("Searches answered from the cache", [Q(
                    ratio("visearch_search_duration_seconds_count", f'{API},cached="true"', API, "job"),
                    "cached share")], unit="percentunit", span=8),
            ]),
            ("Health", [
                P("Redis reachable per replica (1 = yes)", [Q(
                    f"visearch_cache_redis_up{{{API}}}", "{{instance}}")], span=8),
                P("Failed Redis calls/s per replica", [Q(
                    f"rate(visearch_cache_redis_errors_total{{{API}}}[{RATE}])", "{{instance}}")],
                  unit="ops", span=8),
                P("L1 evictions/s", [Q(
                    f"sum by (instance, tier) (rate(visearch_cache_evictions_total{{{API}}}[{RATE}]))",
                    "{{instance}} {{tier}}")], unit="ops", span=8,
                  description=f"{EVENT_ONLY}: empty until an in-process cache is full and evicts."),
            ]),
            ("Redis (exporter)", [
                P("Redis up", [Q("redis_up", "{{instance}}")], kind="stat", span=6),
                P("Memory used", [Q("redis_memory_used_bytes", "{{instance}}")], unit="bytes", span=6),
                P("Keys", [Q("sum by (instance) (redis_db_keys)", "{{instance}}")], span=6),
                P("Commands/s", [Q(f"rate(redis_commands_processed_total[{RATE}])", "{{instance}}")],
                  unit="ops", span=6),
            ]),
        ],
    )


def jobs() -> object:
    return _dashboard(
        "visearch-jobs", "visearch / Jobs and queue",
        "Bulk indexing jobs: queue depth, throughput, failures, workers. Job counters are "
        "cluster-wide (every replica reports them), hence max() rather than sum().",
        [
            ("Queue", [
                P("Queue depth", [Q("max by (runner) (visearch_jobs_queue_depth)", "{{runner}}")],
                  span=8),
                P("Dead-letter queue (RabbitMQ)", [Q(
                    'max by (runner) (visearch_jobs_dead_letter_depth{runner="celery"})', "{{runner}}")],
                  span=8),
                P("Workers up", [Q('sum(up{job="visearch-worker"})')], kind="stat", span=8),
            ]),
            ("Throughput", [
                P("Jobs reaching each state (per 5 min)", [Q(
                    "max by (state) (increase(visearch_jobs_total[5m]))", "{{state}}")], span=8),
                P("Job items/s by outcome", [Q(
                    f"max by (outcome) (rate(visearch_job_items_total[{RATE}]))", "{{outcome}}")],
                  unit="ops", span=8),
                P("Images indexed/s by workers", [Q(
                    "sum by (instance) "
                    f'(rate(visearch_images_indexed_total{{job="visearch-worker"}}[{RATE}]))',
                    "{{instance}}")], unit="ops", span=8),
            ]),
            ("Workers", [
                P("Batches/s by outcome", [Q(
                    f'sum by (outcome) (rate(visearch_job_batches_total{{job="visearch-worker"}}[{RATE}]))',
                    "{{outcome}}")], unit="ops"),
                P("Batch time p95", [Q(
                    quantile(0.95, "visearch_job_batch_duration_seconds", 'job="visearch-worker"', "job"),
                    "p95")], unit="s"),
            ]),
        ],
    )


def store() -> object:
    return _dashboard(
        "visearch-store", "visearch / Store",
        "Collections: size, HNSW coverage, writes and their failures, store-bound latency.",
        [
            ("Collections", [
                P("Points per collection", [Q("max by (collection) (visearch_store_points)",
                                              "{{collection}}")], span=8),
                P("Share of vectors in the HNSW graph", [Q(
                    "max by (collection) (visearch_store_indexed_vectors) / "
                    "clamp_min(max by (collection) (visearch_store_points), 1)", "{{collection}}")],
                  unit="percentunit", span=8),
                P("Store per replica", [Q(
                    "max by (instance, backend, collection, mode) (visearch_store_info)", table=True)],
                  kind="table", span=8),
            ]),
            ("Writes", [
                P("Images indexed/s", [Q(
                    f"sum by (job) (rate(visearch_images_indexed_total[{RATE}]))", "{{job}}")],
                  unit="ops", span=8),
                P("Index failures/s by code", [Q(
                    f"sum by (code) (rate(visearch_index_failures_total[{RATE}]))", "{{code}}")],
                  unit="ops", span=8,
                  description=f"{EVENT_ONLY}: empty until an image is rejected at indexing."),
                P("Index request p95", [Q(
                    quantile(0.95, HTTP, f'{API},route=~"/api/v1/index.*"', "route"), "{{route}}")],
                  unit="s", span=8,
                  description=f"{EVENT_ONLY}: empty until images are indexed through the API "
                              "(never on read-only replicas)."),
            ]),
            ("Reads", [
                P("Computed (uncached) search p95 per replica", [Q(
                    quantile(0.95, "visearch_search_duration_seconds", f'{API},cached="false"',
                             "instance"), "{{instance}}")], unit="s", span=24),
            ]),
        ],
    )


DASHBOARDS: dict[str, Callable[[], object]] = {
    "overview": overview, "model": model, "cache": cache, "jobs": jobs, "store": store,
}


def render(name: str) -> str:
    built = DASHBOARDS[name]().build()  # type: ignore[attr-defined]
    return json.dumps(built, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 when a JSON file is stale")
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    stale = []
    for name in DASHBOARDS:
        path = args.out_dir / f"{name}.json"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale dashboards (run scripts/stack/dashboards.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
