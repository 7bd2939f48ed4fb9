"""Render monitoring/prometheus/prometheus.yml.tmpl with the harness's actual ports.

    render_prometheus.py --api api-1=127.0.0.1:8001 --api api-2=127.0.0.1:8002 \\
        --haproxy 127.0.0.1:8404 --redis-exporter 127.0.0.1:9121 \\
        --prometheus 127.0.0.1:9090 --out RUN/prometheus.yml
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from templating import REPO, render

TEMPLATE = REPO / "monitoring" / "prometheus" / "prometheus.yml.tmpl"
RULES_DIR = REPO / "monitoring" / "prometheus" / "rules"


@dataclass(frozen=True)
class Target:
    name: str
    address: str


def render_config(
    *,
    api: list[Target],
    haproxy: str,
    prometheus: str,
    workers: list[Target] | None = None,
    redis_exporter: str | None = None,
    scrape_interval: str = "5s",
    stack_name: str = "visearch-harness",
    rules_dir: Path = RULES_DIR,
) -> str:
    return render(
        TEMPLATE, api_targets=api, worker_targets=workers or [], haproxy_target=haproxy,
        redis_exporter_target=redis_exporter, prometheus_target=prometheus,
        scrape_interval=scrape_interval, stack_name=stack_name, rules_dir=rules_dir,
    )


def _target(text: str) -> Target:
    name, sep, address = text.partition("=")
    if not sep or not name or not address:
        raise argparse.ArgumentTypeError(f"expected NAME=HOST:PORT, got {text!r}")
    return Target(name, address)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--api", type=_target, action="append", default=[], required=True)
    ap.add_argument("--worker", type=_target, action="append", default=[])
    ap.add_argument("--haproxy", required=True, help="HAProxy stats/exporter host:port")
    ap.add_argument("--redis-exporter")
    ap.add_argument("--prometheus", required=True, help="Prometheus's own host:port")
    ap.add_argument("--scrape-interval", default="5s")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    text = render_config(
        api=args.api, workers=args.worker, haproxy=args.haproxy, prometheus=args.prometheus,
        redis_exporter=args.redis_exporter, scrape_interval=args.scrape_interval,
    )
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
