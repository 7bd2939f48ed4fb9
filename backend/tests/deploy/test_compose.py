"""docker-compose.yml and docker-compose.scale.yml: the Compose specification's schema
(check-jsonschema), and cross-checks with HAProxy, Prometheus, Grafana and the image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy.support import (
    COMPOSE,
    COMPOSE_SCALE,
    IMAGE_REPOSITORY,
    REPO,
    Tools,
    compose_services,
    environment,
    load_yaml,
    project_version,
    run,
)

HAPROXY_CFG = REPO / "haproxy" / "haproxy.compose.cfg"
GRAFANA = REPO / "monitoring" / "grafana" / "provisioning"
PROMETHEUS = {COMPOSE: REPO / "monitoring" / "prometheus" / "compose.yml",
              COMPOSE_SCALE: REPO / "monitoring" / "prometheus" / "compose.scale.yml"}
FILES = [COMPOSE, COMPOSE_SCALE]
API_PORT = 8000


def validate(tools: Tools, *files: Path) -> None:
    run([tools.check_jsonschema, "--builtin-schema", "vendor.compose-spec", *files])


def test_compose_files_match_the_compose_spec(tools: Tools) -> None:
    validate(tools, *FILES)


@pytest.mark.parametrize("mistake", [
    ("    healthcheck:\n", "    healthchek:\n"),  # unknown key
    ("    restart: unless-stopped\n", "    restart: [unless-stopped]\n"),  # wrong type
])
def test_schema_check_fails_on_a_planted_mistake(tools: Tools, tmp_path: Path,
                                                 mistake: tuple[str, str]) -> None:
    text = COMPOSE.read_text()
    assert mistake[0] in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(mistake[0], mistake[1], 1))
    with pytest.raises(AssertionError, match="Schema validation errors"):
        validate(tools, broken)


def ours(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The visearch services that `up` starts (not the `keys` tool, which has a profile)."""
    return {n: s for n, s in services.items()
            if s["image"].startswith(IMAGE_REPOSITORY + ":") and not s.get("profiles")}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_services_wire_up(path: Path) -> None:
    services = compose_services(path)
    dockerfile_has_healthcheck = "HEALTHCHECK" in (REPO / "docker" / "Dockerfile").read_text()
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on undefined {dep}"
            if cond["condition"] == "service_healthy":
                target = services[dep]
                assert "healthcheck" in target or (dep in ours(services) and dockerfile_has_healthcheck)
        # Every file mounted from the repository exists.
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and "${" not in source:
                assert (path.parent / source).exists(), f"{name}: {source} is missing"
    assert ours(services), "no visearch service"
    for name, svc in ours(services).items():
        assert svc["image"] == f"{IMAGE_REPOSITORY}:{project_version()}", name
        assert svc["build"]["dockerfile"] == "docker/Dockerfile"
        env = environment(svc)
        assert env["VISEARCH_STORE"] == "qdrant"
        # Every URL names a service of this file, on the port that service listens on.
        for var, port in (("VISEARCH_QDRANT_URL", 6333), ("VISEARCH_REDIS_URL", 6379),
                          ("VISEARCH_BROKER_URL", 5672)):
            url = urlsplit(env[var])
            assert url.hostname in services and url.port == port, (name, var)
        broker = urlsplit(env["VISEARCH_BROKER_URL"])
        rabbit = environment(services[broker.hostname or ""])
        assert broker.username == rabbit["RABBITMQ_DEFAULT_USER"]
        assert broker.password == rabbit["RABBITMQ_DEFAULT_PASS"]


def scrape_targets(path: Path) -> dict[str, set[str]]:
    config = load_yaml(PROMETHEUS[path])
    return {job["job_name"]: {t for sc in job["static_configs"] for t in sc["targets"]}
            for job in config["scrape_configs"]}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_prometheus_scrapes_every_replica_worker_and_peer(tools: Tools, path: Path) -> None:
    services = compose_services(path)
    targets = scrape_targets(path)
    apis = {n for n, s in ours(services).items() if s["command"] == ["serve"]}
    workers = {n: s for n, s in ours(services).items() if s["command"] == ["worker"]}
    assert targets["visearch-api"] == {f"{n}:{API_PORT}" for n in apis}
    assert targets["visearch-worker"] == {
        f"{n}:{environment(s)['VISEARCH_WORKER_METRICS_PORT']}" for n, s in workers.items()}
    assert targets["qdrant"] == {f"{n}:6333" for n in services if n.startswith("qdrant")}
    prometheus = services["prometheus"]
    mounts = dict(v.split(":")[:2] for v in prometheus["volumes"] if v.startswith("./"))
    assert mounts[f"./{PROMETHEUS[path].relative_to(REPO)}"] == "/etc/prometheus/prometheus.yml"
    # The job names are those of the harness's config, which the rules and dashboards use.
    harness = (REPO / "monitoring" / "prometheus" / "prometheus.yml.tmpl").read_text()
    assert set(re.findall(r"job_name: ([\w-]+)", harness)) >= set(targets) - {"qdrant"}
    if tools.promtool is None:
        pytest.skip("promtool not installed (apt package prometheus)")
    run([tools.promtool, "check", "config", "--syntax-only", PROMETHEUS[path]])


def haproxy_cfg() -> str:
    if not HAPROXY_CFG.exists():
        pytest.skip(f"{HAPROXY_CFG.relative_to(REPO)} not generated yet (issue 11)")
    return HAPROXY_CFG.read_text()


def test_haproxy_balances_the_scaled_replicas() -> None:
    cfg = haproxy_cfg()
    services = compose_services(COMPOSE_SCALE)
    apis = {n for n, s in ours(services).items() if s["command"] == ["serve"]}
    servers = set(re.findall(r"^\s*server\s+\S+\s+(\S+)", cfg, re.M))
    assert servers == {f"{n}:{API_PORT}" for n in apis} and len(apis) == 3
    assert "/api/v1/ready" in cfg
    binds = {int(p) for p in re.findall(r"^\s*bind\s+\S*:(\d+)", cfg, re.M)}
    haproxy = services["haproxy"]
    assert haproxy["volumes"] == ["./haproxy/haproxy.compose.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    published = {int(p.rsplit(":", 1)[-1]) for p in haproxy["ports"]}
    assert published == binds
    # Prometheus reads HAProxy's exporter on the port whose frontend serves /metrics.
    exporter = re.search(r"bind\s+\S*:(\d+)(?:(?!\nfrontend|\nbackend).)*prometheus-exporter", cfg, re.S)
    assert exporter, "no prometheus-exporter frontend"
    assert scrape_targets(COMPOSE_SCALE)["haproxy"] == {f"haproxy:{exporter[1]}"}


def test_qdrant_cluster_is_bootstrapped() -> None:
    services = compose_services(COMPOSE_SCALE)
    nodes = sorted(n for n in services if n.startswith("qdrant-"))
    assert len(nodes) == 3
    first = f"http://{nodes[0]}:6335"
    for node in nodes:
        svc = services[node]
        assert environment(svc)["QDRANT__CLUSTER__ENABLED"] == "true"
        args = svc["command"]
        assert args[args.index("--uri") + 1] == f"http://{node}:6335"
        if node != nodes[0]:
            assert args[args.index("--bootstrap") + 1] == first
            assert nodes[0] in svc["depends_on"]
    # The app creates the collection with 3 shards, 2 copies of each (fits on 3 nodes).
    for name, svc in ours(services).items():
        env = environment(svc)
        assert (env["VISEARCH_SHARD_NUMBER"], env["VISEARCH_REPLICATION_FACTOR"]) == ("3", "2"), name
        assert set(nodes) <= set(svc["depends_on"])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_grafana_is_provisioned_from_monitoring(path: Path) -> None:
    datasources = sorted((GRAFANA / "datasources").glob("*.yml"))
    providers = sorted((GRAFANA / "dashboards").glob("*.yml"))
    if not datasources or not providers:
        pytest.skip("monitoring/grafana/provisioning not written yet (issue 11)")
    services = compose_services(path)
    grafana = services["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("./"))
    assert mounts["./monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    url = urlsplit(load_yaml(datasources[0])["datasources"][0]["url"])
    assert url.hostname in services and url.port == 9090
    dashboards_path = load_yaml(providers[0])["providers"][0]["options"]["path"]
    assert mounts["./monitoring/grafana/dashboards"] == dashboards_path
