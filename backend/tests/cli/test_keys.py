"""``visearch keys``, ``serve`` refusing to expose the collection without keys, and the CLI
sending its key to a server that wants one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.support.server import REPO, app_server, free_port
from visearch.api.app import create_app
from visearch.cli import app
from visearch.runtime import Runtime

runner = CliRunner()


def _said(result: Result) -> str:
    """What a command printed, as one line (rich wraps long lines at the terminal's width)."""
    return " ".join(result.output.split())


def _create(path: Path, *scopes: str, name: str = "") -> str:
    args = ["keys", "create", "--file", str(path), *(a for s in scopes for a in ("--scope", s))]
    result = runner.invoke(app, [*args, *(["--name", name] if name else [])])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]  # alone on the last line
    assert key.startswith("vsk_") and " " not in key
    return key


def test_create_list_revoke(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "keys.json"
    key = _create(path, "search", "index", name="laptop")
    assert key not in path.read_text()  # only its hash is stored
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    listed = runner.invoke(app, ["keys", "list", "--file", str(path), "--json"])
    [entry] = json.loads(listed.stdout)
    assert entry["name"] == "laptop" and entry["scopes"] == ["search", "index"]
    assert entry["revoked_at"] is None and "sha256" not in entry
    assert key not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", "laptop", "--file", str(path)])
    assert revoked.exit_code == 0 and entry["id"] in revoked.output
    table = runner.invoke(app, ["keys", "list"], env={"VISEARCH_API_KEYS_FILE": str(path)})
    assert "revoked" in table.output


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    bad_scope = runner.invoke(app, ["keys", "create", "--file", str(path), "--scope", "root"])
    assert bad_scope.exit_code == 1 and "unknown scope 'root'" in _said(bad_scope)
    assert not path.exists()
    missing = runner.invoke(app, ["keys", "revoke", "nope", "--file", str(path)])
    assert missing.exit_code == 1 and "does not exist" in _said(missing)
    no_file = runner.invoke(app, ["keys", "list"], env={"VISEARCH_API_KEYS_FILE": ""})
    assert no_file.exit_code == 1 and "--file" in _said(no_file)


def _serve(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO / "backend"), "VISEARCH_LOG_LEVEL": "WARNING",
            **env}
    return subprocess.run([sys.executable, "-m", "visearch.cli", "serve", *args], env=full,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path, tiny_clip_dir: Path) -> None:
    """Found 5: `visearch serve --host 0.0.0.0` used to expose the collection to anyone."""
    env = {"VISEARCH_MODEL": str(tiny_clip_dir), "VISEARCH_MODEL_FALLBACK": "",
           "VISEARCH_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "400"}
    try:
        done = _serve(env, "--host", "0.0.0.0", "--port", str(free_port()))
    except subprocess.TimeoutExpired:
        pytest.fail("serve started on 0.0.0.0 without API keys")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: refusing to serve '0.0.0.0' without API keys")
    assert "VISEARCH_ALLOW_UNAUTHENTICATED" in line
    missing = _serve({**env, "VISEARCH_API_KEYS_FILE": str(tmp_path / "none.json")},
                     "--host", "0.0.0.0", "--port", str(free_port()))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


@pytest.fixture
def guarded_api(runtime: Runtime, tmp_path: Path) -> Iterator[tuple[str, str]]:
    path = tmp_path / "keys.json"
    key = _create(path, "search", "admin")
    settings = runtime.settings.model_copy(update={"api_keys_file": path})
    with app_server(create_app(settings, runtime=runtime)) as url:
        yield url, key


def test_the_cli_sends_its_key(guarded_api: tuple[str, str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    url, key = guarded_api
    monkeypatch.delenv("VISEARCH_API_KEY", raising=False)
    refused = runner.invoke(app, ["stats", "--api", url])
    assert refused.exit_code == 1 and "401 unauthorized" in _said(refused)
    by_option = runner.invoke(app, ["--api-key", key, "stats", "--api", url, "--json"])
    assert by_option.exit_code == 0, by_option.output
    stdout = by_option.stdout  # the server thread logs there too
    assert json.loads(stdout[stdout.index("{"):])["count"] == 0
    monkeypatch.setenv("VISEARCH_API_KEY", key)
    assert runner.invoke(app, ["search", "a shoe", "--api", url]).exit_code == 0
