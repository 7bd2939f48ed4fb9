"""Helpers of the deployment checks: repository paths, running the real tools, YAML files."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import yaml

if TYPE_CHECKING:
    from visearch.config import Settings

REPO = Path(__file__).resolve().parents[3]
HELM_CHART = REPO / "helm" / "visearch"
UMBRELLA_CHART = REPO / "helm" / "visearch-stack"
KUSTOMIZE = REPO / "kubernetes"
COMPOSE = REPO / "docker-compose.yml"
COMPOSE_SCALE = REPO / "docker-compose.scale.yml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
# The Kubernetes version the manifests are validated for (kubernetes-validate ships its
# schemas; helm and kubectl come from the v1.32 layer, see scripts/deploy_tools.sh).
K8S_VERSION = "1.32.0"
IMAGE_REPOSITORY = "visearch/visearch"

VISEARCH_VAR = re.compile(r"\bVISEARCH_[A-Z0-9_]*[A-Z0-9]\b")
# What a user puts in .env next to the Compose files (README, Deploy).
COMPOSE_ENV = {"RABBITMQ_PASSWORD": "0123abcd", "GRAFANA_ADMIN_PASSWORD": "4567efgh"}
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubectl: Path
    hadolint: Path
    check_jsonschema: Path
    kubernetes_validate: Path
    promtool: Path | None


def venv_tool(name: str) -> Path:
    """A console script installed next to this interpreter (the dev extra of pyproject)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise AssertionError(f"{name} is not installed: run scripts/setup.sh dev")
    return path


def run(cmd: list[str | Path], *, stdin: str | None = None, check: bool = True,
        cwd: Path = REPO, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a tool; with ``check``, a non-zero exit fails the test with the tool's output."""
    proc = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def settings_env_names() -> set[str]:
    """Every environment variable visearch reads (``Settings`` fields, ``VISEARCH_`` prefix)."""
    from visearch.config import Settings

    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def unknown_settings(text: str) -> set[str]:
    """``VISEARCH_*`` names in ``text`` that are not settings (typos, removed settings)."""
    return set(VISEARCH_VAR.findall(text)) - settings_env_names()


def settings_from(env: Mapping[str, str]) -> Settings:
    """The settings a process with exactly ``env`` reads (no .env file, none of this test
    process's own ``VISEARCH_*`` variables); ``ConfigError`` as ``visearch serve`` would give."""
    from visearch.config import load_settings

    clean = {k: v for k, v in os.environ.items() if not k.startswith("VISEARCH_")}
    ours = {k: v for k, v in env.items() if k.startswith("VISEARCH_")}
    with mock.patch.dict(os.environ, {**clean, **ours}, clear=True):
        return load_settings(_env_file=None)


def image_env() -> dict[str, str]:
    """The ``ENV`` of the Dockerfile's last stage: what every container of the image starts with."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    runtime = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    env: dict[str, str] = {}
    for line in lines[runtime:]:
        if line.startswith("ENV "):
            env |= dict(item.split("=", 1) for item in shlex.split(line[4:]))
    return env


def project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def yaml_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str) -> dict[str, Any]:
    found = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} named *{name_suffix}, found {len(found)}"
    return found[0]


def compose_services(path: Path) -> dict[str, dict[str, Any]]:
    """The services of a Compose file, with ``extends`` applied (top-level keys override)."""
    services: dict[str, dict[str, Any]] = load_yaml(path)["services"]
    resolved = {}
    for name, svc in services.items():
        ext = svc.get("extends")
        if ext:
            base_file = path.parent / ext.get("file", path.name)
            base = compose_services(base_file)[ext["service"]]
            svc = {**base, **{k: v for k, v in svc.items() if k != "extends"}}
        resolved[name] = svc
    return resolved


def interpolate(text: str, env: dict[str, str] = COMPOSE_ENV) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def value(m: re.Match[str]) -> str:
        name, op, arg = m[1], m[2], m[3]
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise AssertionError(f"{name} is required: {arg}")
        return arg if op else ""

    return _INTERPOLATION.sub(value, text)


def environment(svc: dict[str, Any]) -> dict[str, str]:
    """A Compose service's environment, interpolated as Compose would with COMPOSE_ENV."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


def container_env_names(deployment: dict[str, Any], configmaps: list[dict[str, Any]],
                        secrets: dict[str, list[str]]) -> set[str]:
    """Names of the variables a Deployment's first container gets (env, envFrom)."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            ref = source["configMapRef"]["name"]
            names |= {k for cm in configmaps if cm["metadata"]["name"] == ref for k in cm["data"]}
        if "secretRef" in source:
            names |= set(secrets.get(source["secretRef"]["name"], []))
    return names


# Value sets the chart is rendered with: the defaults, the production file, and every
# optional feature switched on (KEDA, in-flight autoscaling, plain secrets, ...).
ALL_FEATURES = [
    "--api-versions", "custom.metrics.k8s.io/v1beta1",
    "--set", "api.autoscaling.enabled=true",
    "--set", "worker.keda.enabled=true",
    "--set", "worker.keda.hostSecret.name=visearch-amqp",
    "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.apiKey=m",
    "--set", "metrics.prometheusRule.enabled=true",
    "--set", "metrics.grafanaDashboards.enabled=true",
    "--set", "networkPolicy.enabled=true",
    "--set", "ingress.enabled=true",
    "--set", "persistence.models.enabled=true",
    "--set", "qdrant.apiKey=k", "--set", "redis.password=p", "--set", "broker.password=b",
]
VALUE_SETS: dict[str, list[str]] = {
    "default": [],
    "prod": ["-f", str(HELM_CHART / "values-prod.yaml")],
    "all-features": ALL_FEATURES,
}


def helm_template(tools: Tools, chart: Path, *args: str, release: str = "vs") -> str:
    out = run([tools.helm, "template", release, chart, "--namespace", "search",
               "--kube-version", K8S_VERSION, *args])
    return out.stdout
