"""The CLI's two worlds: a local data dir (``cli_env``) and a server on a thread of the test
process (``api_url``), both on the tiny random-weight CLIP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clip import DATA_DIR
from tests.support.server import app_server
from visearch.api.app import create_app
from visearch.config import Settings, load_settings
from visearch.runtime import Runtime


def cli_settings(tiny_clip_dir: Path, data_dir: Path) -> Settings:
    """What the CLI and the server of these tests run with (only the data dir differs)."""
    return load_settings(model=str(tiny_clip_dir), model_fallback="", device="cpu",
                         data_dir=data_dir, allowed_roots=[DATA_DIR], broker_url=None,
                         redis_url=None, job_batch_size=8)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_clip_dir: Path) -> Path:
    """The environment of a local CLI run: the tiny model, a data dir under ``tmp_path``."""
    monkeypatch.setenv("VISEARCH_MODEL", str(tiny_clip_dir))
    monkeypatch.setenv("VISEARCH_MODEL_FALLBACK", "")
    monkeypatch.setenv("VISEARCH_DEVICE", "cpu")
    monkeypatch.setenv("VISEARCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VISEARCH_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("VISEARCH_API_URL", raising=False)
    return tmp_path


@pytest.fixture
def settings(tmp_path: Path, tiny_clip_dir: Path) -> Settings:
    """The server's settings (the ``runtime`` fixture builds on them)."""
    return cli_settings(tiny_clip_dir, tmp_path / "server-data")


@pytest.fixture
def api_url(runtime: Runtime) -> Iterator[str]:
    with app_server(create_app(runtime=runtime)) as url:
        yield url
