"""kubernetes/: `kubectl kustomize` of each overlay piped to kubernetes-validate, and the
same workloads as the Helm chart."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import (
    IMAGE_REPOSITORY,
    KUSTOMIZE,
    Tools,
    by_kind,
    container_env_names,
    one,
    project_version,
    run,
    settings_env_names,
    yaml_docs,
)

OVERLAYS = ["dev", "prod"]


def kustomize(tools: Tools, path: Path) -> str:
    return run([tools.kubectl, "kustomize", path]).stdout


@pytest.fixture(scope="module")
def overlays(tools: Tools) -> dict[str, str]:
    return {name: kustomize(tools, KUSTOMIZE / "overlays" / name) for name in OVERLAYS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_kubernetes_validate(
    overlays: dict[str, str], kube_validate: Callable[[str], None], overlay: str
) -> None:
    kube_validate(overlays[overlay])


def test_planted_mistakes_fail(tools: Tools, tmp_path: Path,
                               kube_validate: Callable[[str], None]) -> None:
    tree = Path(shutil.copytree(KUSTOMIZE, tmp_path / "kubernetes"))
    api = tree / "base" / "api.yaml"
    good = api.read_text()
    # A field of the wrong type renders, and kubernetes-validate refuses it.
    api.write_text(good.replace("failureThreshold: 120", "failureThreshold: many", 1))
    with pytest.raises(AssertionError, match="ERROR"):
        kube_validate(kustomize(tools, tree / "overlays" / "prod"))
    # A missing resource stops kustomize itself.
    api.write_text(good)
    (tree / "base" / "worker.yaml").unlink()
    out = run([tools.kubectl, "kustomize", tree / "overlays" / "dev"], check=False)
    assert out.returncode != 0 and "worker.yaml" in out.stderr


def test_overlays_shape(overlays: dict[str, str]) -> None:
    dev, prod = (yaml_docs(overlays[n]) for n in OVERLAYS)
    assert one(dev, "Deployment", "visearch-api")["spec"]["replicas"] == 1
    assert {d["metadata"]["name"] for d in by_kind(dev, "Deployment")} >= {"qdrant", "redis", "rabbitmq"}
    assert one(prod, "Deployment", "visearch-api")["spec"]["replicas"] == 3
    assert one(prod, "PodDisruptionBudget", "visearch-api")["spec"]["minAvailable"] == 2
    assert {"HorizontalPodAutoscaler", "Ingress", "NetworkPolicy"} <= {d["kind"] for d in prod}
    for docs in (dev, prod):
        ours = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].startswith("visearch")]
        images = {c["image"] for d in ours for c in d["spec"]["template"]["spec"]["containers"]}
        assert images == {f"{IMAGE_REPOSITORY}:{project_version()}"}
    config = one(prod, "ConfigMap", "")["data"]
    assert (config["VISEARCH_SHARD_NUMBER"], config["VISEARCH_REPLICATION_FACTOR"]) == ("3", "2")


def test_dev_services_match_the_settings(overlays: dict[str, str]) -> None:
    docs = yaml_docs(overlays["dev"])
    config = one(docs, "ConfigMap", "")["data"]
    services = {s["metadata"]["name"]: s["spec"]["ports"][0]["port"] for s in by_kind(docs, "Service")}
    assert config["VISEARCH_QDRANT_URL"] == f"http://qdrant:{services['qdrant']}"
    assert one(docs, "Deployment", "qdrant")["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "qdrant/qdrant:")


def workload(deployment: dict[str, Any]) -> dict[str, Any]:
    """What must be the same however the Deployment was rendered."""
    pod = deployment["spec"]["template"]["spec"]
    c = pod["containers"][0]

    def probe(p: dict[str, Any] | None) -> tuple[str, ...] | None:
        if p is None:
            return None
        kind = "httpGet" if "httpGet" in p else "tcpSocket"
        return (kind, str(p[kind]["port"]), p[kind].get("path", ""), str(p["periodSeconds"]),
                str(p["failureThreshold"]))

    return {
        "args": c["args"],
        "ports": sorted((p["name"], p["containerPort"]) for p in c["ports"]),
        "probes": {k: probe(c.get(k)) for k in ("startupProbe", "readinessProbe", "livenessProbe")},
        "securityContext": c["securityContext"],
        "podSecurityContext": pod["securityContext"],
        "mounts": sorted((m["name"], m["mountPath"]) for m in c["volumeMounts"]),
        "grace": pod["terminationGracePeriodSeconds"],
        "automount": pod["automountServiceAccountToken"],
        "lifecycle": c.get("lifecycle"),
        "strategy": deployment["spec"].get("strategy"),
        # The API keys file: which key of which kind of Secret, how it is mounted.
        "secrets": sorted((v["name"], str(v["secret"].get("items")), v["secret"].get("defaultMode"))
                          for v in pod["volumes"] if "secret" in v),
        # Plain settings (the URLs differ: Helm builds them, Kustomize takes them from a Secret).
        "env": sorted((e["name"], e["value"]) for e in c.get("env", [])
                      if e["name"].startswith("VISEARCH_") and not e["name"].endswith("_URL")
                      and "value" in e),
    }


def test_same_workloads_as_the_helm_chart(
    tools: Tools, rendered: dict[str, str], overlays: dict[str, str]
) -> None:
    helm = yaml_docs(rendered["default"])
    base = yaml_docs(kustomize(tools, KUSTOMIZE / "base"))
    dev = yaml_docs(overlays["dev"])
    dev_secrets = {s["metadata"]["name"]: list(s["data"]) for s in by_kind(dev, "Secret")}
    for component in ("api", "worker"):
        h = one(helm, "Deployment", f"-{component}")
        k = one(base, "Deployment", f"visearch-{component}")
        assert workload(k) == workload(h), component
        # The same settings reach the containers (Helm: ConfigMap + env; Kustomize:
        # ConfigMap + the Secret the overlay provides).
        helm_vars = {n for n in container_env_names(h, by_kind(helm, "ConfigMap"), {})
                     if n.startswith("VISEARCH_")}
        kube_vars = container_env_names(one(dev, "Deployment", f"visearch-{component}"),
                                        by_kind(dev, "ConfigMap"), dev_secrets)
        assert helm_vars - {"VISEARCH_QDRANT_API_KEY"} == {n for n in kube_vars if n.startswith("VISEARCH_")}
        assert helm_vars <= settings_env_names()
    # Settings about exposure have the same values (the proxies the API trusts).
    helm_config = one(helm, "ConfigMap", "vs-visearch")["data"]
    kube_config = one(base, "ConfigMap", "")["data"]
    for name in ("VISEARCH_FORWARDED_ALLOW_IPS", "VISEARCH_PORT"):
        assert helm_config[name] == kube_config[name], name
