"""Fixtures of the job tests (helpers live in tests/support/jobs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clip import DATA_DIR
from tests.support.jobs import make_celery_env, purge_celery_state


@pytest.fixture
def celery_env(tmp_path: Path, tiny_clip_dir: Path) -> Iterator[dict[str, str]]:
    """A worker's settings as environment (skips without the test Redis and RabbitMQ); its
    Redis keys and queues are deleted afterwards. Jobs may read under the shared data and
    ``tmp_path / "inbox"``."""
    env = make_celery_env(tmp_path, tiny_clip_dir, roots=[DATA_DIR, tmp_path / "inbox"])
    yield env
    purge_celery_state(env)
