"""The CLI side of jobs against a real HTTP server: submit and follow, list, show, cancel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from tests.support.clip import DATA_DIR
from visearch.cli.backend import CliError
from visearch.cli.jobs import (
    exit_code,
    job_request,
    jobs_command,
    parse_metadata,
    submit_and_follow,
)

FOLDER = DATA_DIR / "clothing10" / "images" / "validation" / "shorts"


def _json(output: str) -> Any:
    """The JSON document the command printed (the in-process server logs to stdout too)."""
    lines = output.splitlines()
    return json.loads("\n".join(lines[lines.index("{"):]))


def test_job_request_from_cli_arguments(tmp_path: Path) -> None:
    assert job_request([FOLDER]) == {"folder": str(FOLDER.resolve())}
    files = sorted(FOLDER.glob("*.jpg"))[:2]
    assert job_request(files, metadata={"a": 1}) == {
        "manifest": [{"path": str(f.resolve())} for f in files], "metadata": {"a": 1}}
    assert job_request(urls=["http://h/a.jpg"]) == {"urls": ["http://h/a.jpg"]}
    with pytest.raises(CliError):
        job_request()
    with pytest.raises(CliError):
        job_request([FOLDER], urls=["http://h/a.jpg"])
    assert parse_metadata('{"k": "v"}') == {"k": "v"}
    with pytest.raises(CliError):
        parse_metadata("[1]")


def test_submit_follow_list_cancel(api_url: str) -> None:
    n = len(list(FOLDER.glob("*.jpg")))
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115 - progress output unused
    try:
        job = submit_and_follow(api_url, paths=[FOLDER], out=console)
    finally:
        console.file.close()
    assert job["state"] == "completed" and job["done"] == n and exit_code(job) == 0

    cli = typer.Typer()
    cli.command()(jobs_command)
    runner = CliRunner()
    listed = runner.invoke(cli, ["--api", api_url, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [j["job_id"] for j in _json(listed.output)["jobs"]] == [job["job_id"]]
    shown = runner.invoke(cli, [job["job_id"], "--api", api_url, "--json"])
    assert _json(shown.output)["done"] == n
    cancelled = runner.invoke(cli, [job["job_id"], "--cancel", "--api", api_url])
    assert cancelled.exit_code == 0 and "completed" in cancelled.output  # already finished
    missing = runner.invoke(cli, ["0" * 32, "--api", api_url])
    assert missing.exit_code == 1 and "404" in missing.output
    with pytest.raises(CliError, match="403"):
        submit_and_follow(api_url, paths=[Path("/etc")], out=Console(quiet=True))
