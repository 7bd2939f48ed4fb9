"""The deployments under the API's access rules (README "Security"), checked with the app's own
code on every API container of every shape: Compose (one server, scaled), the Helm chart (each
value set) and Kustomize (each overlay).

- It would start: bound to 0.0.0.0, `visearch serve` refuses to run without API keys unless
  VISEARCH_ALLOW_UNAUTHENTICATED=true (``check_bind``), and its keys file sits on a mounted
  volume or Secret.
- Every health check (the image's HEALTHCHECK, HAProxy's, the kubelet's probes, `helm test`) gets an answer
  from a public route with the Host header it sends (no 400, 401, 403 or 404).
- Prometheus gets 200 from /metrics with what it sends: an admin key wherever keys are on.
- Replicas behind a proxy see the client it names in X-Forwarded-For (uvicorn, as
  ``server_config`` sets it up), so rate limits and logs tell clients apart.
- The stop grace period covers the drain (VISEARCH_DRAIN_GRACE_S + VISEARCH_DRAIN_TIMEOUT_S).

``test_each_check_fails_on_a_planted_mistake`` plants one mistake for each.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.deploy.support import (
    COMPOSE,
    COMPOSE_SCALE,
    HELM_CHART,
    KUSTOMIZE,
    REPO,
    VALUE_SETS,
    Tools,
    by_kind,
    compose_services,
    environment,
    helm_template,
    image_env,
    interpolate,
    load_yaml,
    one,
    run,
    settings_from,
    yaml_docs,
)
from visearch.config import ConfigError, Settings
from visearch.security.keys import KeyFile

HAPROXY_CFG = REPO / "haproxy" / "haproxy.compose.cfg"
PROMETHEUS = {COMPOSE: REPO / "monitoring" / "prometheus" / "compose.yml",
              COMPOSE_SCALE: REPO / "monitoring" / "prometheus" / "compose.scale.yml"}
#: What the kubelet and Prometheus find a pod at: an address of a usual pod network
#: (10.244.0.0/16, kubeadm and flannel's default); they send it as the Host header.
POD_IP = "10.244.1.7"
CLIENT = "203.0.113.7"  # a client out on the internet (TEST-NET-3)
DOCKER_STOP_GRACE_S = 10.0  # Docker's default between SIGTERM and SIGKILL


@dataclass(frozen=True)
class Call:
    """A request something makes to the API on its own: a health check or a scrape."""

    who: str
    path: str
    host: str
    admin_key: bool = False


@dataclass
class Api:
    """One API container as deployed: what it reads and who calls it."""

    where: str
    env: dict[str, str]
    mounts: dict[str, str]  # mount path -> source: "volume:NAME", "secret:NAME", "bind:PATH", ...
    checks: list[Call]
    scrapes: list[Call]
    stop_grace_s: float  # from SIGTERM to SIGKILL, less any preStop hook
    proxies: list[str] = field(default_factory=list)  # addresses of the proxies in front


# -- Compose ---------------------------------------------------------------------------------

def _duration_s(text: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _compose_mounts(svc: dict[str, Any], volumes: set[str]) -> dict[str, str]:
    mounts = {}
    for spec in svc.get("volumes", []):
        source, target = interpolate(spec).split(":")[:2]
        mounts[target] = f"volume:{source}" if source in volumes else f"bind:{source}"
    for secret in svc.get("secrets", []):
        name = secret if isinstance(secret, str) else secret["source"]
        target = name if isinstance(secret, str) else secret.get("target", name)
        mounts[target if target.startswith("/") else f"/run/secrets/{target}"] = f"secret:{name}"
    return mounts


def _healthcheck_call() -> Call:
    """The image's HEALTHCHECK: docker/healthcheck.py's default URL (urllib sends its Host)."""
    script = (REPO / "docker" / "healthcheck.py").read_text()
    path = re.search(r"/api/v1/\w+", script)
    assert path, "docker/healthcheck.py names no API route"
    return Call("Docker HEALTHCHECK", path[0], f"127.0.0.1:{image_env()['VISEARCH_PORT']}")


def _haproxy_call(cfg: str) -> Call:
    check = re.search(r"^\s*http-check send meth GET uri (\S+).*?hdr Host (\S+)", cfg, re.M)
    assert check, "HAProxy sends no health check with a Host header"
    return Call("HAProxy health check", check[1], check[2])


def _prometheus_calls(cfg: dict[str, Any], prometheus: dict[str, Any],
                      volumes: set[str]) -> dict[str, list[Call]]:
    """What Prometheus sends to each target of every job, by the target's service name."""
    mounted = _compose_mounts(prometheus, volumes)
    calls: dict[str, list[Call]] = {}
    for job in cfg["scrape_configs"]:
        auth = job.get("authorization") or {}
        credentials = auth.get("credentials_file") or job.get("bearer_token_file")
        # Only a file Prometheus can read counts: one mounted into its container.
        sends_key = credentials is not None and any(
            credentials == m or credentials.startswith(m.rstrip("/") + "/") for m in mounted)
        for target in (t for sc in job["static_configs"] for t in sc["targets"]):
            calls.setdefault(target.split(":")[0], []).append(Call(
                f"Prometheus job {job['job_name']}", job.get("metrics_path", "/metrics"), target,
                admin_key=sends_key))
    return calls


def compose_apis(path: Path, services: dict[str, dict[str, Any]] | None = None,
                 prometheus_cfg: dict[str, Any] | None = None,
                 haproxy_cfg: str | None = None) -> list[Api]:
    """The API services of a Compose file (``serve`` containers that ``up`` starts)."""
    services = services if services is not None else compose_services(path)
    volumes = set(load_yaml(path).get("volumes") or {})
    scrapes = _prometheus_calls(prometheus_cfg or load_yaml(PROMETHEUS[path]),
                                services["prometheus"], volumes)
    haproxy = services.get("haproxy")
    proxies = [interpolate(a["ipv4_address"]) for a in (haproxy or {}).get("networks", {}).values()
               if a and "ipv4_address" in a]
    apis = []
    for name, svc in services.items():
        if svc.get("command") != ["serve"] or svc.get("profiles"):
            continue
        checks = [_healthcheck_call()]
        if haproxy is not None:
            checks.append(_haproxy_call(haproxy_cfg or HAPROXY_CFG.read_text()))
        apis.append(Api(
            where=f"{path.name}: {name}", env={**image_env(), **environment(svc)},
            mounts=_compose_mounts(svc, volumes), checks=checks,
            scrapes=scrapes.get(name, []),
            stop_grace_s=_duration_s(svc.get("stop_grace_period", f"{DOCKER_STOP_GRACE_S}s")),
            proxies=proxies if haproxy is not None else []))
    return apis


# -- Kubernetes ------------------------------------------------------------------------------

def _k8s_env(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """The container's environment: the image's, then envFrom, then env; values kept in
    Secrets that are not rendered here read as "secret"."""
    env = image_env()
    maps = {d["metadata"]["name"]: d.get("data") or {} for d in by_kind(docs, "ConfigMap")}
    secrets = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= maps[source["configMapRef"]["name"]]
        elif source["secretRef"]["name"] in secrets:
            secret = secrets[source["secretRef"]["name"]]
            env |= {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            env |= secret.get("stringData") or {}
    for item in container.get("env", []):
        env[item["name"]] = str(item.get("value", "secret"))
    return env


def _probe_calls(container: dict[str, Any]) -> list[Call]:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    calls = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = (container.get(kind) or {}).get("httpGet")
        if get:
            headers = {h["name"].lower(): h["value"] for h in get.get("httpHeaders", [])}
            port = ports.get(get["port"], get["port"])
            calls.append(Call(f"kubelet {kind}", get["path"], headers.get("host", f"{POD_IP}:{port}")))
    return calls


def _hook_calls(docs: list[dict[str, Any]]) -> list[Call]:
    """`helm test`: pods that ask the API through its Service (docker/healthcheck.py URL)."""
    calls = []
    for pod in by_kind(docs, "Pod"):
        for arg in pod["spec"]["containers"][0].get("command", []):
            url = urlsplit(arg)
            if url.scheme == "http":
                calls.append(Call(f"helm test {pod['metadata']['name']}", url.path, url.netloc))
    return calls


def _monitor_calls(docs: list[dict[str, Any]], api: dict[str, Any]) -> list[Call]:
    """What Prometheus (ServiceMonitor) sends to the API's pods."""
    labels = api["spec"]["template"]["metadata"]["labels"]
    services = [s for s in by_kind(docs, "Service")
                if s["spec"].get("selector", {}).items() <= labels.items()]
    ports = {p["name"]: p for s in services for p in s["spec"]["ports"]}
    secrets = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    calls = []
    for monitor in by_kind(docs, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        if not any(selector.items() <= s["metadata"]["labels"].items() for s in services):
            continue
        for endpoint in monitor["spec"]["endpoints"]:
            ref = (endpoint.get("authorization") or {}).get("credentials") or {}
            # A Secret of this release must hold the key; one made outside it is taken on trust.
            secret = secrets.get(ref.get("name", ""))
            held = secret is None or ref.get("key") in {**(secret.get("data") or {}),
                                                        **(secret.get("stringData") or {})}
            port = ports[endpoint["port"]]["port"]
            calls.append(Call("Prometheus (ServiceMonitor)", endpoint.get("path", "/metrics"),
                              f"{POD_IP}:{port}", admin_key=bool(ref) and held))
    return calls


def k8s_api(where: str, docs: list[dict[str, Any]]) -> Api:
    deployment = one(docs, "Deployment", "-api")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    volumes = {}
    for v in pod["volumes"]:
        kind = next(k for k in v if k != "name")
        detail = v[kind].get("secretName") or v[kind].get("claimName") or ""
        volumes[v["name"]] = f"{kind}:{detail}".replace("persistentVolumeClaim", "pvc")
    pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec", {})
    sleep = pre_stop.get("command", ["sleep", "0"])
    assert sleep[0] == "sleep", f"{where}: preStop is not a sleep"
    ingress = bool(by_kind(docs, "Ingress"))
    return Api(
        where=where, env=_k8s_env(container, docs),
        mounts={m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]},
        checks=_probe_calls(container) + _hook_calls(docs), scrapes=_monitor_calls(docs, deployment),
        stop_grace_s=pod.get("terminationGracePeriodSeconds", 30) - float(sleep[1]),
        proxies=[POD_IP] if ingress else [])


def kustomize(tools: Tools, overlay: str, tree: Path = KUSTOMIZE) -> list[dict[str, Any]]:
    return yaml_docs(run([tools.kubectl, "kustomize", tree / "overlays" / overlay]).stdout)


@pytest.fixture(scope="module")
def k8s_docs(tools: Tools, rendered: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    docs = {f"helm {name}": yaml_docs(text) for name, text in rendered.items()}
    docs |= {f"kustomize {name}": kustomize(tools, name) for name in ("dev", "prod")}
    return docs


@pytest.fixture(scope="module")
def apis(k8s_docs: dict[str, list[dict[str, Any]]]) -> list[Api]:
    found = [*compose_apis(COMPOSE), *compose_apis(COMPOSE_SCALE)]
    found += [k8s_api(where, docs) for where, docs in k8s_docs.items()]
    return found


# -- The checks ------------------------------------------------------------------------------

class Answers:
    """The app built from a container's settings (no model, no store: just what answers
    before them), with a real keys file holding one admin key."""

    def __init__(self, keys_file: Path, admin_key: str) -> None:
        self.keys_file = keys_file
        self.admin_key = admin_key
        self._clients: dict[str, TestClient] = {}

    def status(self, settings: Settings, call: Call) -> int:
        from visearch.api.app import create_app

        if settings.api_keys_file is not None:
            settings = settings.model_copy(update={"api_keys_file": self.keys_file})
        key = settings.model_dump_json()
        if key not in self._clients:
            self._clients[key] = TestClient(create_app(settings))
        headers = {"Host": call.host}
        if call.admin_key:
            headers["Authorization"] = f"Bearer {self.admin_key}"
        return self._clients[key].get(call.path, headers=headers).status_code


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Answers:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    _, key = KeyFile(path).create(["admin"], name="prometheus")
    return Answers(path, key)


def check_starts(api: Api) -> Settings:
    """`visearch serve` would start: valid settings, the bind rule, a mounted keys file."""
    from visearch.security.exposure import check_bind

    try:
        settings = settings_from(api.env)
        check_bind(settings)
    except ConfigError as exc:
        raise AssertionError(f"{api.where}: visearch serve would refuse to start: {exc}") from None
    if settings.api_keys_file is not None:
        source = api.mounts.get(str(settings.api_keys_file.parent), "")
        assert source.startswith(("volume:", "secret:")), (
            f"{api.where}: the keys file {settings.api_keys_file} is not on a mounted volume "
            f"or Secret (mounts: {api.mounts})")
    return settings


def check_health_checks(api: Api, answers: Answers) -> None:
    settings = check_starts(api)
    assert api.checks, f"{api.where}: no health check"
    for call in api.checks:
        status = answers.status(settings, call)
        assert status not in (400, 401, 403, 404), (
            f"{api.where}: {call.who} GET {call.path} (Host {call.host}) answers {status}")


def check_scrapes(api: Api, answers: Answers) -> None:
    settings = check_starts(api)
    for call in api.scrapes:
        status = answers.status(settings, call)
        assert status == 200, (f"{api.where}: {call.who} GET {call.path} "
                               f"({'with' if call.admin_key else 'without'} a key) answers {status}")


def client_seen(settings: Settings, peer: str, forwarded_for: str) -> str:
    """The client address the app is given for a connection from ``peer`` that names
    ``forwarded_for``, through uvicorn as ``visearch serve`` configures it."""
    from visearch.api.server import server_config

    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    config = server_config(app, settings)
    config.load()
    scope = {"type": "http", "client": (peer, 50000), "scheme": "http",
             "headers": [(b"x-forwarded-for", forwarded_for.encode())]}
    asyncio.run(config.loaded_app(scope, None, None))
    return seen[0]


def check_proxies(api: Api) -> None:
    settings = check_starts(api)
    for proxy in api.proxies:
        seen = client_seen(settings, proxy, CLIENT)
        assert seen == CLIENT, (
            f"{api.where}: behind the proxy at {proxy} the API sees client {seen}, not {CLIENT}: "
            f"VISEARCH_FORWARDED_ALLOW_IPS ({settings.forwarded_allow_ips}) must name the proxy")


def check_drain(api: Api) -> None:
    settings = check_starts(api)
    needed = settings.drain_grace_s + settings.drain_timeout_s
    assert api.stop_grace_s >= needed, (
        f"{api.where}: {api.stop_grace_s:g} s from SIGTERM to SIGKILL, but draining takes up to "
        f"{needed:g} s (VISEARCH_DRAIN_GRACE_S + VISEARCH_DRAIN_TIMEOUT_S)")


# -- Tests -----------------------------------------------------------------------------------

def test_every_shape_is_covered(apis: list[Api]) -> None:
    wheres = [a.where for a in apis]
    assert len([w for w in wheres if w.startswith("docker-compose.scale.yml")]) == 3
    assert {w.split(":")[0] for w in wheres} >= {"docker-compose.yml", "docker-compose.scale.yml"}
    assert {f"helm {v}" for v in VALUE_SETS} | {"kustomize dev", "kustomize prod"} <= set(wheres)


def test_every_api_would_start_with_keys(apis: list[Api]) -> None:
    """Keys are on in every shape (none relies on the opt-out), and each would start."""
    for api in apis:
        assert check_starts(api).api_keys_file is not None, f"{api.where}: API keys are off"


def test_health_checks_reach_public_routes(apis: list[Api], answers: Answers) -> None:
    for api in apis:
        check_health_checks(api, answers)


def test_prometheus_sends_an_admin_key(apis: list[Api], answers: Answers) -> None:
    scraped = [a for a in apis if a.scrapes]
    # Compose (both files) and the value sets with a ServiceMonitor.
    assert {a.where.split(":")[0] for a in scraped} >= {"docker-compose.yml", "docker-compose.scale.yml",
                                                        "helm prod", "helm all-features"}
    for api in scraped:
        check_scrapes(api, answers)


def test_replicas_see_the_client_behind_the_proxy(apis: list[Api]) -> None:
    behind = [a for a in apis if a.proxies]
    assert {a.where.split(":")[0] for a in behind} >= {"docker-compose.scale.yml", "helm prod",
                                                       "kustomize prod"}
    for api in behind:
        check_proxies(api)
    # HAProxy's fixed address lies in the network Compose makes, outside the range Docker
    # hands out to the other containers (one of them could take it first otherwise).
    ipam = load_yaml(COMPOSE_SCALE)["networks"]["default"]["ipam"]["config"][0]
    subnet, dynamic = (ipaddress.ip_network(interpolate(ipam[k])) for k in ("subnet", "ip_range"))
    gateway = ipaddress.ip_address(interpolate(ipam["gateway"]))
    for proxy in {p for a in behind if "compose" in a.where for p in a.proxies}:
        address = ipaddress.ip_address(proxy)
        assert address in subnet and address not in dynamic and address != gateway, proxy


def test_stop_grace_covers_the_drain(apis: list[Api]) -> None:
    for api in apis:
        check_drain(api)


def test_compose_keys_tool_writes_the_file_the_api_reads() -> None:
    """`docker compose run --rm keys create ...` (README, Deploy) edits the API's keys file."""
    for path in (COMPOSE, COMPOSE_SCALE):
        services = compose_services(path)
        tool = services["keys"]
        assert tool["profiles"] and tool["entrypoint"] == ["visearch", "keys"], path.name
        volumes = set(load_yaml(path).get("volumes") or {})
        tool_mounts = _compose_mounts(tool, volumes)
        for api in compose_apis(path, services):
            keys_file = settings_from(api.env).api_keys_file
            assert keys_file is not None
            assert environment(tool)["VISEARCH_API_KEYS_FILE"] == str(keys_file), api.where
            assert tool_mounts[str(keys_file.parent)] == api.mounts[str(keys_file.parent)], api.where
        # The secret Prometheus reads is the file the README's step writes.
        secrets = load_yaml(path)["secrets"]
        assert secrets["prometheus_api_key"]["file"] == "./secrets/prometheus.key", path.name


def test_kustomize_dev_key_opens_the_dev_keys_file(k8s_docs: dict[str, list[dict[str, Any]]],
                                                   tmp_path: Path) -> None:
    """The development key written in overlays/dev is the one its keys file holds."""
    from visearch.security.keys import KeyRing

    text = (KUSTOMIZE / "overlays" / "dev" / "kustomization.yaml").read_text()
    key = re.search(r"Bearer (vsk_\S+?)'", text)
    assert key, "overlays/dev names no development key"
    secret = next(s for s in by_kind(k8s_docs["kustomize dev"], "Secret")
                  if s["metadata"]["name"].startswith("visearch-api-keys"))
    keys = tmp_path / "keys.json"
    keys.write_bytes(base64.b64decode(secret["data"]["keys.json"]))
    entry = KeyRing(keys).lookup(key[1])
    assert entry is not None and set(entry.scopes) == {"search", "index", "admin"}


# -- Planted mistakes ------------------------------------------------------------------------

K8sDocs = dict[str, list[dict[str, Any]]]


def _compose_plant(path: Path, change: Callable[[dict[str, dict[str, Any]]], object]) -> list[Api]:
    services = copy.deepcopy(compose_services(path))
    change(services)
    return compose_apis(path, services)


def _drop_env(name: str) -> Callable[[dict[str, dict[str, Any]]], None]:
    def drop(services: dict[str, dict[str, Any]]) -> None:
        for svc in services.values():
            (svc.get("environment") or {}).pop(name, None)
    return drop


def _k8s_plant(where: str, change: Callable[[list[dict[str, Any]]], object]
               ) -> Callable[[K8sDocs], list[Api]]:
    def plant(k8s_docs: K8sDocs) -> list[Api]:
        docs = copy.deepcopy(k8s_docs[where])
        change(docs)
        return [k8s_api(where, docs)]
    return plant


def _api_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]


def _config(docs: list[dict[str, Any]]) -> dict[str, str]:
    return next(d for d in by_kind(docs, "ConfigMap") if "VISEARCH_PORT" in (d.get("data") or {}))["data"]


def _unauthorized(docs: list[dict[str, Any]]) -> None:
    for monitor in by_kind(docs, "ServiceMonitor"):
        for endpoint in monitor["spec"]["endpoints"]:
            endpoint.pop("authorization", None)


def _prometheus_without_authorization(_: K8sDocs) -> list[Api]:
    cfg = load_yaml(PROMETHEUS[COMPOSE])
    for job in cfg["scrape_configs"]:
        job.pop("authorization", None)
    return compose_apis(COMPOSE, prometheus_cfg=cfg)


#: name: (the check it trips, what its failure says, the APIs with the mistake planted)
PLANTS: dict[str, tuple[str, str, Callable[[K8sDocs], list[Api]]]] = {
    "compose api without VISEARCH_API_KEYS_FILE": (
        "starts", "refuse to start",
        lambda _: _compose_plant(COMPOSE, _drop_env("VISEARCH_API_KEYS_FILE"))),
    "compose api without the keys volume": (
        "starts", "not on a mounted volume",
        lambda _: [replace(a, mounts={p: s for p, s in a.mounts.items() if p != "/keys"})
                   for a in compose_apis(COMPOSE)]),
    "kustomize api without VISEARCH_API_KEYS_FILE": (
        "starts", "refuse to start",
        _k8s_plant("kustomize prod", lambda d: _api_container(d).pop("env"))),
    "compose Prometheus without authorization": (
        "scrapes", "without a key) answers 401", _prometheus_without_authorization),
    "compose Prometheus without the key's secret": (
        "scrapes", "without a key) answers 401",
        lambda _: _compose_plant(COMPOSE, lambda s: s["prometheus"].pop("secrets"))),
    "helm ServiceMonitor without authorization": (
        "scrapes", "without a key) answers 401", _k8s_plant("helm all-features", _unauthorized)),
    "HAProxy checks a route that needs a key": (
        "health", "answers 401",
        lambda _: compose_apis(COMPOSE_SCALE, haproxy_cfg=HAPROXY_CFG.read_text().replace(
            "uri /api/v1/ready", "uri /api/v1/stats"))),
    "VISEARCH_ALLOWED_HOSTS without the pod address": (
        "health", "answers 400",
        _k8s_plant("helm all-features",
                   lambda d: _config(d).update(VISEARCH_ALLOWED_HOSTS="search.example.com"))),
    "scaled replicas without VISEARCH_FORWARDED_ALLOW_IPS": (
        "proxies", "must name the proxy",
        lambda _: _compose_plant(COMPOSE_SCALE, _drop_env("VISEARCH_FORWARDED_ALLOW_IPS"))),
    "helm without trusted proxies": (
        "proxies", "must name the proxy",
        _k8s_plant("helm all-features", lambda d: _config(d).pop("VISEARCH_FORWARDED_ALLOW_IPS"))),
    "compose api with Docker's 10 s stop grace": (
        "drain", "draining takes up to",
        lambda _: _compose_plant(COMPOSE, lambda s: s["api"].pop("stop_grace_period"))),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_each_check_fails_on_a_planted_mistake(plant: str, k8s_docs: K8sDocs,
                                               answers: Answers) -> None:
    check, message, make = PLANTS[plant]
    run_check: dict[str, Callable[[Api], object]] = {
        "starts": check_starts, "health": lambda a: check_health_checks(a, answers),
        "scrapes": lambda a: check_scrapes(a, answers), "proxies": check_proxies,
        "drain": check_drain,
    }
    planted = make(k8s_docs)
    assert planted
    with pytest.raises(AssertionError, match=re.escape(message)):
        for api in planted:
            run_check[check](api)


# -- The chart refuses what would not start --------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--set", "apiKeys.enabled=false"], "the API would refuse to start"),
    (["--set", "metrics.serviceMonitor.enabled=true"], "Prometheus gets 401 from /metrics"),
    (["--set-string", "settings.VISEARCH_API_KEYS_FILE=/x"], "use apiKeys"),
    (["--set-string", "settings.VISEARCH_FORWARDED_ALLOW_IPS=*"], "use api.trustedProxies"),
])
def test_chart_refuses_a_config_that_would_not_work(tools: Tools, args: list[str],
                                                    message: str) -> None:
    out = run([tools.helm, "template", "vs", HELM_CHART, *args], check=False)
    assert out.returncode != 0 and message in out.stderr, out.stderr


def test_chart_runs_open_only_when_told_to(tools: Tools) -> None:
    """The opt-out: no keys, and VISEARCH_ALLOW_UNAUTHENTICATED=true; the API then starts."""
    docs = yaml_docs(helm_template(tools, HELM_CHART, "--set", "apiKeys.enabled=false",
                                   "--set-string", "settings.VISEARCH_ALLOW_UNAUTHENTICATED=true"))
    api = k8s_api("helm open", docs)
    settings = check_starts(api)
    assert settings.api_keys_file is None and settings.allow_unauthenticated
    assert "/keys" not in api.mounts


def test_chart_ships_the_keys_file_it_is_given(tools: Tools, tmp_path: Path) -> None:
    """`--set-file apiKeys.keysFile=keys.json` (a file of `visearch keys create`) reaches the
    API's Secret as is; a file that is not a keys file fails the install."""
    from visearch.security.keys import read_keys

    made = tmp_path / "keys.json"
    KeyFile(made).create(["search", "index"], name="me")
    docs = yaml_docs(helm_template(tools, HELM_CHART, "--set-file", f"apiKeys.keysFile={made}"))
    api = k8s_api("helm keys", docs)
    secret_name = api.mounts["/keys"].removeprefix("secret:")
    shipped = tmp_path / "shipped.json"
    shipped.write_text(one(docs, "Secret", secret_name)["stringData"]["keys.json"])
    assert read_keys(shipped) == read_keys(made)
    # Without a file: keys on, none issued (an empty keys file the API can open).
    empty = yaml_docs(helm_template(tools, HELM_CHART))
    shipped.write_text(one(empty, "Secret", "-api-keys")["stringData"]["keys.json"])
    assert read_keys(shipped) == []
    bad = tmp_path / "notes.txt"
    bad.write_text("not json")
    out = run([tools.helm, "template", "vs", HELM_CHART, "--set-file", f"apiKeys.keysFile={bad}"],
              check=False)
    assert out.returncode != 0 and "apiKeys.keysFile is not a keys file" in out.stderr
    # An existing Secret instead: mounted under the key it names, nothing rendered for it.
    docs = yaml_docs(helm_template(tools, HELM_CHART, "--set", "apiKeys.existingSecret=mine",
                                   "--set", "apiKeys.existingSecretKey=file"))
    pod = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "api-keys")
    assert volume["secret"]["secretName"] == "mine"
    assert volume["secret"]["items"] == [{"key": "file", "path": "keys.json"}]
    assert not [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("-api-keys")]
