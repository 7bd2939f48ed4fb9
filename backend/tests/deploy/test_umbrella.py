"""The umbrella chart helm/visearch-stack. Its Qdrant, Redis and RabbitMQ dependencies
cannot be downloaded here (and `helm template` refuses a chart whose dependencies are
missing), so these tests check its own files: Chart.yaml, its values, and the values it
passes down, rendered through the visearch chart it bundles."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.support import (
    COMPOSE,
    COMPOSE_SCALE,
    HELM_CHART,
    UMBRELLA_CHART,
    Tools,
    compose_services,
    environment,
    helm_template,
    load_yaml,
    one,
    run,
    yaml_docs,
)

CHART = load_yaml(UMBRELLA_CHART / "Chart.yaml")
VALUES = load_yaml(UMBRELLA_CHART / "values.yaml")
REMOTE = [d for d in CHART["dependencies"] if not d["repository"].startswith("file://")]


def test_dependencies_are_declared_completely() -> None:
    names = {d["name"] for d in CHART["dependencies"]}
    assert names == {"visearch", "qdrant", "redis", "rabbitmq"}
    for dep in CHART["dependencies"]:
        assert dep["version"] and dep["repository"], dep
        if dep["repository"].startswith("file://"):
            local = load_yaml(UMBRELLA_CHART / dep["repository"].removeprefix("file://") / "Chart.yaml")
            assert (local["name"], local["version"]) == (dep["name"], dep["version"])
        else:
            assert dep["repository"].startswith(("https://", "oci://")), dep
            # Each can be switched off (an external service instead), and its values exist.
            section, flag = dep["condition"].split(".")
            assert VALUES[section][flag] is True
    assert CHART["appVersion"] == load_yaml(HELM_CHART / "Chart.yaml")["appVersion"]


@pytest.fixture(scope="module")
def offline_umbrella(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The umbrella with only its local dependency (bundled under charts/)."""
    chart = Path(shutil.copytree(UMBRELLA_CHART, tmp_path_factory.mktemp("stack") / "stack"))
    meta = dict(CHART, dependencies=[d for d in CHART["dependencies"] if d not in REMOTE])
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    shutil.copytree(HELM_CHART, chart / "charts" / "visearch", symlinks=False)
    return chart


def test_umbrella_lints_and_its_manifests_validate(
    tools: Tools, offline_umbrella: Path, kube_validate: Callable[[str], None]
) -> None:
    run([tools.helm, "lint", "--strict", offline_umbrella])
    manifests = helm_template(tools, offline_umbrella, release="anything")
    kube_validate(manifests)
    docs = yaml_docs(manifests)
    # The values passed down reach the visearch chart (names fixed, whatever the release).
    config = one(docs, "ConfigMap", "-visearch")["data"]
    assert config["VISEARCH_QDRANT_URL"] == VALUES["visearch"]["qdrant"]["url"]
    assert config["VISEARCH_SHARD_NUMBER"] == "3" and config["VISEARCH_REPLICATION_FACTOR"] == "2"


def test_umbrella_rejects_misspelt_visearch_values(tools: Tools, offline_umbrella: Path) -> None:
    out = run([tools.helm, "template", "x", offline_umbrella, "--set", "visearch.api.replicaCont=3"],
              check=False)
    assert out.returncode != 0 and "replicaCont" in out.stderr


def test_passed_down_names_match_the_subcharts() -> None:
    """visearch's URLs and secret names are the ones the dependencies create."""
    v = VALUES["visearch"]
    qdrant, redis, rabbit = VALUES["qdrant"], VALUES["redis"], VALUES["rabbitmq"]
    q = urlsplit(v["qdrant"]["url"])
    assert (q.hostname, q.port) == (qdrant["fullnameOverride"], 6333)
    # The official Qdrant chart keeps a generated key in <fullname>-apikey, key api-key.
    assert qdrant["apiKey"] is True
    assert v["qdrant"]["apiKeySecret"] == {"name": f"{qdrant['fullnameOverride']}-apikey", "key": "api-key"}
    # Bitnami: standalone Redis is served by <fullname>-master; passwords in Secret <fullname>.
    r = urlsplit(v["redis"]["url"])
    assert redis["architecture"] == "standalone" and redis["auth"]["enabled"] is True
    assert (r.hostname, r.port) == (f"{redis['fullnameOverride']}-master", 6379)
    assert v["redis"]["passwordSecret"] == {"name": redis["fullnameOverride"], "key": "redis-password"}
    b = urlsplit(v["broker"]["url"])
    assert (b.hostname, b.port, b.username) == (rabbit["fullnameOverride"], 5672, rabbit["auth"]["username"])
    assert v["broker"]["passwordSecret"] == {"name": rabbit["fullnameOverride"], "key": "rabbitmq-password"}
    # The collection's replicas fit on the cluster's nodes.
    collection = v["qdrant"]["collection"]
    assert qdrant["config"]["cluster"]["enabled"] is True
    assert collection["replicationFactor"] <= qdrant["replicaCount"]
    assert collection["writeConsistencyFactor"] <= collection["replicationFactor"]


def test_visearch_chart_defaults_point_at_the_umbrella() -> None:
    """As values.yaml says: installed by the umbrella, visearch needs no overrides."""
    defaults = load_yaml(HELM_CHART / "values.yaml")

    def pick(values: dict[str, Any]) -> dict[str, Any]:
        return {k: {f: values[k][f] for f in ("url", "apiKeySecret", "passwordSecret", "collection")
                    if f in values[k]} for k in ("qdrant", "redis", "broker")}

    assert pick(defaults) == pick(VALUES["visearch"])


def test_qdrant_version_and_layout_match_compose() -> None:
    tags = {svc["image"] for path in (COMPOSE, COMPOSE_SCALE) for name, svc in
            compose_services(path).items() if name.startswith("qdrant")}
    assert tags == {f"qdrant/qdrant:{VALUES['qdrant']['image']['tag']}"}
    scaled = environment(compose_services(COMPOSE_SCALE)["api-1"])
    collection = VALUES["visearch"]["qdrant"]["collection"]
    assert int(scaled["VISEARCH_SHARD_NUMBER"]) == collection["shardNumber"]
    assert int(scaled["VISEARCH_REPLICATION_FACTOR"]) == collection["replicationFactor"]
    nodes = [n for n in compose_services(COMPOSE_SCALE) if n.startswith("qdrant-")]
    assert len(nodes) == VALUES["qdrant"]["replicaCount"]
