"""Render haproxy/haproxy.cfg.tmpl for N API replicas, or the Docker Compose flavour.

    render_haproxy.py --server 127.0.0.1:8001 --server 127.0.0.1:8002 \\
        --bind 127.0.0.1:8080 --stats-bind 127.0.0.1:8404 --out RUN/haproxy.cfg
    render_haproxy.py --compose        # rewrites haproxy/haproxy.compose.cfg
    render_haproxy.py --check-compose  # exit 1 when the committed compose file is stale

Replicas are named api-1..api-N in the order given. The body limits are the API's own, computed
by the API's code from its settings (VISEARCH_MAX_UPLOAD_BYTES, VISEARCH_MAX_REQUEST_BYTES) in
the environment, so the balancer never refuses what the replicas accept; the compose flavour
uses their defaults.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from templating import REPO, render

if TYPE_CHECKING:
    from visearch.config import Settings

TEMPLATE = REPO / "haproxy" / "haproxy.cfg.tmpl"
COMPOSE_PATH = REPO / "haproxy" / "haproxy.compose.cfg"
COMPOSE_REPLICAS = 3
COMPOSE_API_PORT = 8000
BALANCE = "leastconn"  # measured against roundrobin: docs/scaling.md


@dataclass(frozen=True)
class Server:
    name: str
    address: str


def api_settings(from_env: bool = True) -> Settings:
    """The replicas' settings: from the VISEARCH_* environment, or the defaults."""
    from visearch.config import Settings, load_settings

    return load_settings() if from_env else Settings.model_construct()


def body_limits(settings: Settings) -> tuple[int, int]:
    """(JSON, multipart) request-body limits, by the API's own code (``api/guards.py``):
    a JSON body carries one base64 image, a multipart one up to VISEARCH_MAX_REQUEST_BYTES."""
    from visearch.api.guards import json_limit

    return json_limit(settings), settings.max_request_bytes


def render_config(
    addresses: list[str],
    *,
    bind: str,
    stats_bind: str,
    balance: str = BALANCE,
    server_maxconn: int = 16,
    maxconn: int = 4096,
    admin_socket: str | None = None,
    resolvers: str | None = None,
    settings: Settings | None = None,
) -> str:
    """``settings``: the replicas' (for the body limits); default: the API's defaults."""
    if not addresses:
        raise ValueError("at least one server address is needed")
    settings = settings or api_settings(from_env=False)
    json_limit, multipart_limit = body_limits(settings)
    servers = [Server(f"api-{i}", a) for i, a in enumerate(addresses, 1)]
    return render(
        TEMPLATE, servers=servers, bind=bind, stats_bind=stats_bind, balance=balance,
        server_maxconn=server_maxconn, maxconn=maxconn, admin_socket=admin_socket,
        resolvers=resolvers, max_upload_bytes=settings.max_upload_bytes,
        max_json_body=json_limit, max_multipart_body=multipart_limit,
    )


def compose_config() -> str:
    """The Docker Compose flavour: api-1..api-3 resolved by Docker's DNS, settings' defaults."""
    addresses = [f"api-{i}:{COMPOSE_API_PORT}" for i in range(1, COMPOSE_REPLICAS + 1)]
    return render_config(addresses, bind=":8080", stats_bind=":8404", resolvers="127.0.0.11:53")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--server", action="append", default=[], help="host:port of a replica")
    ap.add_argument("--bind", default="127.0.0.1:8080")
    ap.add_argument("--stats-bind", default="127.0.0.1:8404")
    ap.add_argument("--balance", default=BALANCE, choices=["leastconn", "roundrobin"])
    ap.add_argument("--server-maxconn", type=int, default=16)
    ap.add_argument("--admin-socket", default=None)
    ap.add_argument("--out", type=Path, help="write here instead of stdout")
    ap.add_argument("--compose", action="store_true", help=f"rewrite {COMPOSE_PATH.name}")
    ap.add_argument("--check-compose", action="store_true", help="exit 1 when it is stale")
    args = ap.parse_args(argv)

    if args.compose or args.check_compose:
        text = compose_config()
        if args.check_compose:
            if COMPOSE_PATH.read_text() != text:
                print(f"{COMPOSE_PATH} is stale: run {Path(__file__).name} --compose", file=sys.stderr)
                return 1
            return 0
        COMPOSE_PATH.write_text(text)
        return 0
    text = render_config(
        args.server, bind=args.bind, stats_bind=args.stats_bind, balance=args.balance,
        server_maxconn=args.server_maxconn, admin_socket=args.admin_socket,
        settings=api_settings(),
    )
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
