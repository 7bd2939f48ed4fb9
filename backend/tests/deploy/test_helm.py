"""The Helm chart helm/visearch: helm lint, helm template | kubernetes-validate, the values
schema, and cross-checks against the code and monitoring/."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import (
    HELM_CHART,
    IMAGE_REPOSITORY,
    REPO,
    VALUE_SETS,
    Tools,
    by_kind,
    load_yaml,
    one,
    project_version,
    run,
    settings_env_names,
    yaml_docs,
)

RULES_DIR = REPO / "monitoring" / "prometheus" / "rules"
DASHBOARDS_DIR = REPO / "monitoring" / "grafana" / "dashboards"


def copy_chart(dest: Path) -> Path:
    """A copy of the chart for planting mistakes (files/monitoring copied, not linked)."""
    return Path(shutil.copytree(HELM_CHART, dest / "visearch", symlinks=False))


@pytest.mark.parametrize("values", ["default", "prod"])
def test_helm_lint_strict(tools: Tools, values: str) -> None:
    args = ["-f", str(HELM_CHART / "values-prod.yaml")] if values == "prod" else []
    out = run([tools.helm, "lint", "--strict", HELM_CHART, *args])
    assert "0 chart(s) failed" in out.stdout


def test_helm_lint_fails_on_a_planted_mistake(tools: Tools, tmp_path: Path) -> None:
    chart = copy_chart(tmp_path)
    service = chart / "templates" / "api-service.yaml"
    service.write_text(service.read_text() + "  bogus: [unclosed\n")
    out = run([tools.helm, "lint", "--strict", chart], check=False)
    assert out.returncode != 0
    assert "api-service.yaml" in out.stdout + out.stderr


@pytest.mark.parametrize("values", list(VALUE_SETS))
def test_manifests_pass_kubernetes_validate(
    rendered: dict[str, str], kube_validate: Callable[[str], None], values: str
) -> None:
    kube_validate(rendered[values])


def test_kubernetes_validate_fails_on_planted_mistakes(
    rendered: dict[str, str], kube_validate: Callable[[str], None]
) -> None:
    good = rendered["default"]
    for wrong in (good.replace("containerPort:", "contanerPort:", 1),  # unknown field
                  good.replace("replicas: 2", "replicas: two", 1)):  # wrong type
        assert wrong != good
        with pytest.raises(AssertionError, match="ERROR"):
            kube_validate(wrong)


def test_each_value_set_renders_what_it_switches_on(rendered: dict[str, str]) -> None:
    def kinds(name: str) -> list[str]:
        return sorted(d["kind"] for d in yaml_docs(rendered[name]))

    default = kinds("default")
    assert default.count("Deployment") == 2 and default.count("Service") == 2
    assert {"ConfigMap", "PodDisruptionBudget", "PersistentVolumeClaim", "Pod"} <= set(default)
    assert "HorizontalPodAutoscaler" not in default
    # The only Secret by default: the API keys file (empty: keys on, none issued yet).
    assert [s["metadata"]["name"] for s in by_kind(yaml_docs(rendered["default"]), "Secret")] == [
        "vs-visearch-api-keys"]
    everything = set(kinds("all-features"))
    assert {"HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication", "NetworkPolicy",
            "ServiceMonitor", "PrometheusRule", "Ingress", "Secret"} <= everything
    hpa = one(yaml_docs(rendered["all-features"]), "HorizontalPodAutoscaler", "-api")
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource", "Pods"]
    assert len(one(yaml_docs(rendered["prod"]), "HorizontalPodAutoscaler", "-api")["spec"]["metrics"]) == 1


@pytest.mark.parametrize("bad", [
    ["--set", "api.replicaCont=3"],
    ["--set", "replicaCount=3"],
    ["--set", "persistence.data.sise=1Gi"],
    ["--set", "worker.keda.enabeld=true"],
    ["--set-string", "settings.visearch_model=x"],
])
def test_values_schema_rejects_unknown_keys(tools: Tools, bad: list[str]) -> None:
    out = run([tools.helm, "template", "vs", HELM_CHART, *bad], check=False)
    assert out.returncode != 0
    assert "values don't meet the specifications of the schema" in out.stderr
    key = bad[1].split("=")[0].rsplit(".", 1)[-1]
    assert key in out.stderr


def test_values_schema_rejects_unknown_keys_at_every_level() -> None:
    """Every object of values.schema.json that lists properties also closes them."""
    schema = json.loads((HELM_CHART / "values.schema.json").read_text())
    open_objects = []

    def walk(node: dict[str, Any], where: str) -> None:
        if "properties" in node and node.get("additionalProperties") is not False:
            open_objects.append(where)
        for key, child in node.get("properties", {}).items():
            walk(child, f"{where}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")

    walk(schema, "values")
    assert not open_objects
    assert set(schema["properties"]) >= set(load_yaml(HELM_CHART / "values.yaml"))


def test_chart_refuses_settings_it_manages(tools: Tools) -> None:
    out = run([tools.helm, "template", "vs", HELM_CHART, "--set-string",
               "settings.VISEARCH_QDRANT_URL=http://x:6333"], check=False)
    assert out.returncode != 0 and "use qdrant.url" in out.stderr
    out = run([tools.helm, "template", "vs", HELM_CHART, "--set", "broker.passwordSecret.name="],
              check=False)
    assert out.returncode != 0 and "$(BROKER_PASSWORD)" in out.stderr


def test_image_is_the_projects_version(rendered: dict[str, str]) -> None:
    chart = load_yaml(HELM_CHART / "Chart.yaml")
    assert chart["appVersion"] == project_version()
    for values in VALUE_SETS:
        docs = yaml_docs(rendered[values])
        images = {c["image"] for d in by_kind(docs, "Deployment")
                  for c in d["spec"]["template"]["spec"]["containers"]}
        assert images == {f"{IMAGE_REPOSITORY}:{project_version()}"}


def test_configured_settings_exist(rendered: dict[str, str]) -> None:
    known = settings_env_names()
    for values in VALUE_SETS:
        docs = yaml_docs(rendered[values])
        names = {k for cm in by_kind(docs, "ConfigMap") if "dashboard" not in cm["metadata"]["name"]
                 for k in cm["data"]}
        names |= {e["name"] for d in by_kind(docs, "Deployment")
                  for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
                  if e["name"].startswith("VISEARCH_")}
        assert names and names <= known, sorted(names - known)


def test_probes_use_the_apis_routes(rendered: dict[str, str]) -> None:
    from visearch.api import API_PREFIX
    from visearch.api.routers import system

    routes = {API_PREFIX + getattr(r, "path", "") for r in system.router.routes}
    api = one(yaml_docs(rendered["default"]), "Deployment", "-api")
    container = api["spec"]["template"]["spec"]["containers"][0]
    probes = {kind: container[kind]["httpGet"]["path"]
              for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes == {"startupProbe": f"{API_PREFIX}/health", "readinessProbe": f"{API_PREFIX}/ready",
                      "livenessProbe": f"{API_PREFIX}/health"}
    assert set(probes.values()) <= routes
    config = one(yaml_docs(rendered["default"]), "ConfigMap", "vs-visearch")["data"]
    assert int(config["VISEARCH_PORT"]) == container["ports"][0]["containerPort"]


def test_pods_run_locked_down(rendered: dict[str, str]) -> None:
    for d in by_kind(yaml_docs(rendered["prod"]), "Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
            assert sc["capabilities"]["drop"] == ["ALL"]
            writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
            assert writable == {"/data", "/models", "/tmp"}
            # The API also reads its keys file, read-only; nothing else is mounted.
            extra = {m["mountPath"] for m in c["volumeMounts"]} - writable
            assert extra == ({"/keys"} if c["name"] == "api" else set())
            assert c["resources"]["requests"] and c["resources"]["limits"]


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.rules.yml")):
        groups += (yaml.safe_load(path.read_text()) or {}).get("groups") or []
    return groups


def test_prometheus_rule_carries_the_alert_rules(rendered: dict[str, str], tools: Tools,
                                                 tmp_path: Path) -> None:
    groups = rule_groups()
    if not groups:
        pytest.skip(f"no rule groups in {RULES_DIR.relative_to(REPO)}/*.rules.yml yet (issue 11)")
    rule = one(yaml_docs(rendered["all-features"]), "PrometheusRule", "vs-visearch")
    assert rule["spec"]["groups"] == groups
    if tools.promtool is None:
        pytest.skip("promtool not installed (apt package prometheus)")
    spec = tmp_path / "rule.yml"
    spec.write_text(yaml.safe_dump(rule["spec"]))
    run([tools.promtool, "check", "rules", spec])


def test_dashboards_ship_as_configmaps(rendered: dict[str, str]) -> None:
    dashboards = sorted(DASHBOARDS_DIR.glob("*.json"))
    if not dashboards:
        pytest.skip(f"no dashboards in {DASHBOARDS_DIR.relative_to(REPO)} yet (issue 11)")
    shipped = {k: v for cm in by_kind(yaml_docs(rendered["prod"]), "ConfigMap")
               if cm["metadata"]["labels"].get("grafana_dashboard") == "1"
               for k, v in cm["data"].items()}
    assert shipped == {p.name: p.read_text().rstrip("\n") for p in dashboards}


def test_service_monitors_select_the_services_and_jobs(rendered: dict[str, str]) -> None:
    docs = yaml_docs(rendered["all-features"])
    services = by_kind(docs, "Service")
    jobs = set()
    for monitor in by_kind(docs, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        assert len(matched) == 1, monitor["metadata"]["name"]
        port_names = {p["name"] for p in matched[0]["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
        jobs.add(matched[0]["metadata"]["labels"][monitor["spec"]["jobLabel"]])
    assert jobs == {"visearch-api", "visearch-worker"}
    # The rules and dashboards select these job names.
    used = set()
    for path in [*RULES_DIR.glob("*.rules.yml"), *DASHBOARDS_DIR.glob("*.json")]:
        text = path.read_text().replace('\\"', '"')
        used |= {j for j in jobs | {"visearch-api", "visearch-worker"} if f'job="{j}"' in text}
    assert used <= jobs


def test_keda_scales_the_worker_on_the_job_queue(rendered: dict[str, str]) -> None:
    from visearch.config import Settings

    docs = yaml_docs(rendered["all-features"])
    scaled = one(docs, "ScaledObject", "-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == one(docs, "Deployment", "-worker")["metadata"]["name"]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == Settings.model_fields["job_queue"].default
    assert "replicas" not in one(docs, "Deployment", "-worker")["spec"]


def test_in_flight_metric_is_the_one_the_api_exports() -> None:
    """The HPA's custom metric (through a metrics adapter) names the API's in-flight gauge."""
    declared = set()
    for path in (REPO / "backend" / "visearch").rglob("*.py"):
        declared |= set(re.findall(r"[\"'](visearch_\w*in_flight\w*)[\"']", path.read_text()))
    assert declared, "the API declares no in-flight gauge (metrics.py)"
    for values in (HELM_CHART / "values.yaml", HELM_CHART / "values-prod.yaml"):
        name = load_yaml(values)["api"]["autoscaling"]["inFlightRequests"]["metricName"]
        assert name in declared, f"{values.name}: {name} not in {sorted(declared)}"
