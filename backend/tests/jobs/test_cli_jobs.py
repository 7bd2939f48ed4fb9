"""The CLI side of jobs against a real HTTP server: submit and follow, list, show, cancel."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import uvicorn
from rich.console import Console
from typer.testing import CliRunner

from tests.support.clip import DATA_DIR
from tests.support.jobs import free_port, wire_jobs
from visearch.api.app import create_app
from visearch.cli.jobs import (
    JobClientError,
    exit_code,
    job_request,
    jobs_command,
    parse_metadata,
    submit_and_follow,
)
from visearch.config import load_settings
from visearch.runtime import Runtime

FOLDER = DATA_DIR / "clothing10" / "images" / "validation" / "shorts"


@pytest.fixture
def api_url(tmp_path: Path, tiny_clip_dir: Path, tiny_embedder: Any) -> Iterator[str]:
    settings = load_settings(model=str(tiny_clip_dir), model_fallback="", device="cpu",
                             data_dir=tmp_path / "data", allowed_roots=[DATA_DIR],
                             broker_url=None, redis_url=None, job_batch_size=8)
    svc = Runtime.build(settings, embedder=tiny_embedder)
    app = create_app(runtime=svc)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    stop = wire_jobs(app, svc)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        stop()
        svc.close()


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
    with pytest.raises(JobClientError):
        job_request()
    with pytest.raises(JobClientError):
        job_request([FOLDER], urls=["http://h/a.jpg"])
    assert parse_metadata('{"k": "v"}') == {"k": "v"}
    with pytest.raises(JobClientError):
        parse_metadata("[1]")


def test_submit_follow_list_cancel(api_url: str) -> None:
    n = len(list(FOLDER.glob("*.jpg")))
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115 - progress output unused
    try:
        job = submit_and_follow(api_url, paths=[FOLDER], console=console)
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
    with pytest.raises(JobClientError, match="403"):
        submit_and_follow(api_url, paths=[Path("/etc")], console=Console(quiet=True))
