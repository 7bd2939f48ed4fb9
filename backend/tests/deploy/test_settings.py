"""Every VISEARCH_* variable the deployment files set is a setting of visearch.config.Settings
(read from the code, so new settings need no change here)."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.support import (
    COMPOSE,
    COMPOSE_SCALE,
    DOCKERFILE,
    HELM_CHART,
    KUSTOMIZE,
    REPO,
    UMBRELLA_CHART,
    settings_env_names,
    unknown_settings,
)


def deployment_files() -> list[Path]:
    files = [COMPOSE, COMPOSE_SCALE, DOCKERFILE, REPO / "docker" / "healthcheck.py",
             *sorted((REPO / "monitoring" / "prometheus").glob("compose*.yml"))]
    for root in (HELM_CHART, UMBRELLA_CHART, KUSTOMIZE):
        # files/ links to monitoring/, which is not a deployment file.
        files += sorted(p for p in root.rglob("*")
                        if p.is_file() and "files" not in p.relative_to(root).parts)
    return files


def test_every_visearch_variable_is_a_setting() -> None:
    files = deployment_files()
    assert len(files) > 20
    unknown = {str(p.relative_to(REPO)): sorted(unknown_settings(p.read_text())) for p in files}
    assert {f: names for f, names in unknown.items() if names} == {}


def test_the_check_reads_the_settings() -> None:
    names = settings_env_names()
    assert {"VISEARCH_QDRANT_URL", "VISEARCH_SHARD_NUMBER", "VISEARCH_WORKER_METRICS_PORT"} <= names
    text = "VISEARCH_QDRANT_URL: x\nVISEARCH_SHARD_NUMBERS: 3  # misspelt\n  - VISEARCH_QDRANT_URI=y"
    assert unknown_settings(text) == {"VISEARCH_SHARD_NUMBERS", "VISEARCH_QDRANT_URI"}
