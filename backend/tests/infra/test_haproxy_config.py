"""haproxy/haproxy.cfg.tmpl renders to configs that HAProxy itself accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import render_haproxy

from tests.infra.conftest import require
from visearch.api.guards import json_limit
from visearch.config import Settings


def haproxy_check(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("haproxy"), "-c", "-f", str(cfg)], capture_output=True,
                          text=True, check=False)


def test_harness_config_for_three_replicas_is_valid_without_warnings(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render_haproxy.render_config(
        ["127.0.0.1:18001", "127.0.0.1:18002", "127.0.0.1:18003"], bind="127.0.0.1:18080",
        stats_bind="127.0.0.1:18404", admin_socket=str(tmp_path / "admin.sock"),
    ))
    done = haproxy_check(cfg)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
    text = cfg.read_text()
    assert [line.split()[1] for line in text.splitlines() if line.strip().startswith("server ")] == [
        "api-1", "api-2", "api-3"]


def test_body_limits_are_the_api_own(tmp_path: Path) -> None:
    settings = Settings(max_upload_bytes=1_000_000, max_request_bytes=5_000_000,
                        _env_file=None)  # type: ignore[call-arg]
    cfg = render_haproxy.render_config(["127.0.0.1:18001"], bind="127.0.0.1:18080",
                                       stats_bind="127.0.0.1:18404", settings=settings)
    assert f"gt {json_limit(settings)} }}" in cfg  # the API's RequestGuard rule
    assert "gt 5000000 }" in cfg


def test_committed_compose_flavour_is_up_to_date_and_valid() -> None:
    done = subprocess.run([str(render_haproxy.REPO / ".venv" / "bin" / "python"),
                           str(Path(render_haproxy.__file__)), "--check-compose"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    check = haproxy_check(render_haproxy.COMPOSE_PATH)
    assert check.returncode == 0, check.stdout + check.stderr
    # Only the replica names may be unknown here (Docker's DNS resolves them at run time).
    warnings = [line for line in (check.stdout + check.stderr).splitlines() if "WARNING" in line]
    assert all("could not resolve address 'api-" in w for w in warnings), warnings
