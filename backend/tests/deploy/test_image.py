"""docker/Dockerfile and .dockerignore: hadolint with no findings, and the image's contract
(non-root, volumes, health check, ports) as the other deployment files use it."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from tests.deploy.support import DOCKERFILE, REPO, Tools, project_version, run

SKIP_DIRS = {".git", ".venv", ".tools", "node_modules", "artifacts"}


def dockerfiles() -> list[Path]:
    found = []
    for path in REPO.rglob("*Dockerfile*"):
        if not SKIP_DIRS & set(path.relative_to(REPO).parts) and path.is_file():
            found.append(path)
    return sorted(found)


def hadolint(tools: Tools, path: Path) -> None:
    run([tools.hadolint, "--no-color", "--failure-threshold", "style", path])


def test_every_dockerfile_passes_hadolint(tools: Tools) -> None:
    files = dockerfiles()
    assert DOCKERFILE in files
    for path in files:
        hadolint(tools, path)


def test_hadolint_fails_on_a_planted_mistake(tools: Tools, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text().replace(
        "FROM python:3.11.13-slim-bookworm AS runtime",
        "FROM python:latest AS runtime\nRUN apt-get update && apt-get install -y curl", 1))
    with pytest.raises(AssertionError) as failed:
        hadolint(tools, bad)
    assert "DL3007" in str(failed.value) and "DL3008" in str(failed.value)


def instructions(name: str) -> list[str]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_image_contract() -> None:
    stages = instructions("FROM")
    # Every base image has an exact version (no latest, no bare major).
    for base in stages:
        image = base.split()[0]
        assert re.search(r":\d+\.\d+\.\d+", image) or "@sha256:" in image, image
    assert instructions("USER")[-1] == "10001:10001"
    assert instructions("VOLUME") == ['["/data", "/models"]']
    assert instructions("ENTRYPOINT") == ['["visearch"]'] and instructions("CMD")[-1] == '["serve"]'
    health = instructions("HEALTHCHECK")
    assert len(health) == 1 and "/app/healthcheck.py" in health[0]
    assert {"8000", "9100"} <= set(instructions("EXPOSE")[0].split())
    assert f"VERSION={project_version()}" in instructions("ARG")
    healthcheck = (REPO / "docker" / "healthcheck.py").read_text()
    assert "/api/v1/health" in healthcheck and "VISEARCH_PORT" in healthcheck


def test_dockerignore_lets_in_what_the_build_copies_and_keeps_secrets_out() -> None:
    """Docker's rule: the last matching pattern wins; "!" lets a path back in."""
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]

    def excluded(path: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            parts = path.split("/")
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            if any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", ""))
                   for p in prefixes):
                result = not negate
        return result

    copied = [src for line in instructions("COPY") if "--from=" not in line
              for src in line.split()[:-1]]
    assert copied
    for src in copied:
        assert not excluded(src.rstrip("/")), f"{src} is copied but .dockerignore leaves it out"
    for secret in (".env", "backend/.env", ".venv/bin/python", "frontend/node_modules/x",
                   "data/images/a.jpg", ".git/config", "backend/tests/conftest.py",
                   "secrets/prometheus.key"):
        assert excluded(secret), secret
